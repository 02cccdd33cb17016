/* What every riskctl subcommand shares: the parse prologue and the process
 * exit codes, documented here once, and the "riskctl CMD: ..." error line.
 *
 * Exit codes of every subcommand:
 *   0  success
 *   1  failure: an error, a mismatch (verify), a timeout, or input that was
 *      lost or refused (an entry not found, not replayed, not deleted)
 *   2  usage error: an unknown flag, a bad value, wrong arguments */
#ifndef RP_CLI_H
#define RP_CLI_H

#include "../common/config.h"
#include "../proto/shard.h"
#include "../svc/keys.h"

#include <czmq.h>
#include <stddef.h>

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Parses a subcommand's arguments (argv[0] is the subcommand) against opts,
 * compacting the positional ones into argv[1..1+*npos), and loads the key
 * set named by --keys when opts has that flag. Returns 1 to go on; 0 when the
 * subcommand must return *exit_code now (CLI_OK after --help was printed,
 * CLI_USAGE after a usage error, which config_parse printed, CLI_FAIL when
 * the key set cannot be loaded). */
int cli_parse(config_opt_t *opts, int argc, char **argv, const char *usage, int *npos,
              int *exit_code);

/* The flag rows of every subcommand that connects to a daemon. */
#define CLI_SECURITY_OPTS                                                                          \
    {"keys", "", "directory of the pipeline's CURVE key set (riskctl keygen): connect as riskctl", \
     NULL},                                                                                        \
        {"insecure", NULL, "allow endpoints beyond loopback without --keys (unauthenticated)", NULL}

/* Connects s to endpoint. With --keys (read by cli_parse from a table with
 * CLI_SECURITY_OPTS) as a CURVE client with the riskctl key pair that accepts
 * only server's public key; without, only to an endpoint on this machine
 * unless --insecure. Returns 0, or -1 with the reason in why. */
int cli_connect(zsock_t *s, const char *endpoint, keys_role_t server, char *why, size_t whylen);

/* For a connection riskctl does not make through cli_connect (rp_client's):
 * whether endpoint may be used (0, or -1 with the reason in why, as
 * cli_connect decides), and the CURVE keys to use with server (Z85, borrowed;
 * NULL without --keys). */
int cli_endpoint_ok(const char *endpoint, char *why, size_t whylen);
void cli_curve(keys_role_t server, const char **server_key, const char **public_key,
               const char **secret_key);

/* Checks the HTTP URL flags of a command that reads the HTTP API: when
 * either of url and state_url (may be NULL: the command has none) is
 * given, both must be (when state_url is not NULL) and be http:// or
 * https:// URLs. Returns 1 when they are given and usable, 0 when neither
 * is given (the command uses its local mode), or -1 after printing the
 * usage error. */
int cli_http_urls(const char *cmd, const char *url, const char *state_url);

/* cli_http_urls for a --state-url that may list every state shard's URL,
 * comma-separated: splits state_urls in place into out[0..SHARD_MAX)
 * and sets *k to how many (0 when none). Returns as cli_http_urls does. */
int cli_http_url_list(const char *cmd, const char *url, char *state_urls, char **out, int *k);

/* Prints "riskctl CMD: <message>: <rp_strerror(rc)>" to stderr and returns
 * CLI_FAIL, so a failure reads `return cli_fail(...)`. */
int cli_fail(const char *cmd, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
