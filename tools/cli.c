/* The shared parse prologue and error line of riskctl's subcommands; see cli.h. */
#include "cli.h"
#include "http_client.h"
#include "../common/rperr.h"
#include "../svc/daemon.h"

#include <errno.h>
#include <string.h>

#include <stdarg.h>
#include <stdio.h>

static keys_t *s_keys; /* --keys: riskctl's key pair and the servers' public keys */
static int s_insecure;

/* Reads --keys and --insecure, if the subcommand has them. */
static int s_security(const config_opt_t *opts, const char *cmd, int *exit_code)
{
    const char *dir = config_get(opts, "keys");
    s_insecure = config_get(opts, "insecure") != NULL;
    if (!dir || !*dir) return 1;
    int rc = 0;
    if ((s_keys = keys_load(dir, KEYS_RISKCTL, &rc))) return 1;
    cli_fail(cmd, rc, "cannot load the key set in %s", dir);
    *exit_code = CLI_FAIL;
    return 0;
}

int cli_endpoint_ok(const char *endpoint, char *why, size_t whylen)
{
    if (s_keys || s_insecure || daemon_endpoint_is_local(endpoint)) return 0;
    snprintf(why, whylen, "%s is not on this machine and no --keys were given (peers would "
             "not be authenticated); use --keys, or --insecure", endpoint);
    return -1;
}

void cli_curve(keys_role_t server, const char **server_key, const char **public_key,
               const char **secret_key)
{
    *server_key = *public_key = *secret_key = NULL;
    if (s_keys) keys_client_z85(s_keys, server, server_key, public_key, secret_key);
}

int cli_connect(zsock_t *s, const char *endpoint, keys_role_t server, char *why, size_t whylen)
{
    if (cli_endpoint_ok(endpoint, why, whylen)) return -1;
    if (s_keys) keys_apply_client(s_keys, s, server);
    if (zsock_connect(s, "%s", endpoint) == 0) return 0;
    snprintf(why, whylen, "cannot connect to %s: %s", endpoint, zmq_strerror(errno));
    return -1;
}

int cli_parse(config_opt_t *opts, int argc, char **argv, const char *usage, int *npos,
              int *exit_code)
{
    int rc = config_parse(opts, argc, argv, 1, npos, usage);
    if (rc == 0) {
        *exit_code = CLI_OK;
        return s_security(opts, argv[0], exit_code);
    }
    /* config_parse returns 1 after printing --help, RP_EINVAL after a usage error */
    *exit_code = rc > 0 ? CLI_OK : CLI_USAGE;
    return 0;
}

int cli_http_urls(const char *cmd, const char *url, const char *state_url)
{
    char why[256];
    int has_url = url && *url, has_state = state_url && *state_url;
    if (!has_url && !has_state) return 0;
    if (state_url && (!has_url || !has_state)) {
        fprintf(stderr,
                "riskctl %s: --url and --state-url go together (the reducer's and the "
                "state's HTTP API)\n",
                cmd);
        return -1;
    }
    if (http_client_check_url(url, why, sizeof why) ||
        (has_state && http_client_check_url(state_url, why, sizeof why))) {
        fprintf(stderr, "riskctl %s: %s\n", cmd, why);
        return -1;
    }
    return 1;
}

int cli_http_url_list(const char *cmd, const char *url, char *state_urls, char **out, int *k)
{
    *k = state_urls[0] ? shard_split(state_urls, out, SHARD_MAX) : 0;
    if (*k < 0) {
        fprintf(stderr, "riskctl %s: --state-url: expected a URL, or one per state shard "
                "comma-separated\n", cmd);
        return -1;
    }
    int http = 0;
    for (int i = 0; i < (*k ? *k : 1); i++) /* each URL checked, and --url with each */
        if ((http = cli_http_urls(cmd, url, *k ? out[i] : "")) < 0) return -1;
    return http;
}

int cli_fail(const char *cmd, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "riskctl %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s\n", rp_strerror(rc));
    return CLI_FAIL;
}
