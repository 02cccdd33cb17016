/* riskctl wait, stats and ping: clients of the daemons' control endpoints
 * (protocol and counter names in proto/ctl.h), and wait --url of their HTTP
 * API (/v1/status, through api.c). An answer from a process of
 * the wrong role, or without a counter the command needs, is an error: it
 * is never read as a zero. */
#include "riskctl.h"
#include "api.h"
#include "cli.h"
#include "http_client.h"
#include "../common/clock.h"
#include "../common/rperr.h"
#include "../proto/ctl.h"
#include "../proto/mp.h"
#include "../proto/shard.h"

#include <czmq.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* A decoded counters reply: map borrows from unp, which borrows from msg. */
typedef struct {
    zmq_msg_t msg;
    msgpack_unpacked unp;
    const msgpack_object *map;
} answer_t;

static void s_answer_free(answer_t *a)
{
    msgpack_unpacked_destroy(&a->unp);
    zmq_msg_close(&a->msg);
}

/* Decodes a received reply into a->map. Returns 0, or RP_EPROTO with why
 * when it is undecodable or the daemon answered {"error": ...}. */
static int s_decode(answer_t *a, char *why, size_t whylen)
{
    char reason[160];
    if (ctl_rep_decode(zmq_msg_data(&a->msg), zmq_msg_size(&a->msg), &a->unp, &a->map, reason,
                       sizeof reason)) {
        snprintf(why, whylen, "undecodable answer (%s)", reason);
        return RP_EPROTO;
    }
    const msgpack_object *e = mp_map_get(a->map, "error");
    if (e && e->type == MSGPACK_OBJECT_STR) {
        snprintf(why, whylen, "it answered with an error: %.*s", (int)e->via.str.size,
                 e->via.str.ptr);
        return RP_EPROTO;
    }
    return 0;
}

/* Asks endpoint for its counters within timeout_ms. Returns 0 with *a
 * filled (the caller calls s_answer_free), or with why set: RP_ETIMEDOUT
 * when nothing answered, RP_EINVAL when endpoint is unusable, a code of
 * class RP_EZMQ (keeping errno) on another socket error, RP_EPROTO when the
 * answer is not a counters reply. */
static int s_ask(const char *endpoint, keys_role_t server, int timeout_ms, answer_t *a, char *why,
                 size_t whylen)
{
    zmq_msg_init(&a->msg);
    msgpack_unpacked_init(&a->unp);
    zsys_handler_set(NULL); /* riskctl handles no signals; Ctrl-C must stop it */
    zsock_t *req = zsock_new(ZMQ_REQ);
    if (!req) {
        int rc = rp_wrap_errno(RP_EZMQ, errno);
        snprintf(why, whylen, "cannot create a socket: %s", rp_strerror(rc));
        return rc;
    }
    zsock_set_linger(req, 0);
    zsock_set_rcvtimeo(req, timeout_ms);
    zsock_set_sndtimeo(req, timeout_ms);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    ctl_req_encode(&sb, "stats");
    int rc;
    if (cli_connect(req, endpoint, server, why, whylen) < 0) {
        rc = RP_EINVAL;
    } else if (zmq_send(zsock_resolve(req), sb.data, sb.size, 0) < 0 ||
               zmq_msg_recv(&a->msg, zsock_resolve(req), 0) < 0) {
        rc = errno == EAGAIN ? RP_ETIMEDOUT : rp_wrap_errno(RP_EZMQ, errno);
        snprintf(why, whylen, "%s", rc == RP_ETIMEDOUT ? "no answer" : rp_strerror(rc));
    } else {
        rc = s_decode(a, why, whylen);
    }
    msgpack_sbuffer_destroy(&sb);
    zsock_destroy(&req);
    if (rc) s_answer_free(a);
    return rc;
}

/* Checks that the answer came from a process of role. Returns 0, or
 * RP_EPROTO after printing which role answered instead. */
static int s_check_role(const char *cmd, const char *endpoint, const answer_t *a,
                        const char *role)
{
    if (ctl_rep_is(a->map, role)) return 0;
    const msgpack_object *r = mp_map_get(a->map, "role");
    if (r && r->type == MSGPACK_OBJECT_STR)
        fprintf(stderr, "riskctl %s: %s is not a %s control endpoint: it answered as \"%.*s\"\n",
                cmd, endpoint, role, (int)r->via.str.size, r->via.str.ptr);
    else
        fprintf(stderr, "riskctl %s: %s is not a %s control endpoint: it answered without a "
                "role\n", cmd, endpoint, role);
    return RP_EPROTO;
}

/* Reads counter index i of the state process. Returns 0, or RP_ENOTFOUND
 * after printing that the answer lacks it. */
static int s_state_counter(const char *cmd, const char *endpoint, const answer_t *a, int i,
                           long long *out)
{
    int rc = ctl_rep_get(a->map, ctl_state_names[i], out);
    if (rc)
        fprintf(stderr, "riskctl %s: the answer from %s has no counter \"%s\"\n", cmd, endpoint,
                ctl_state_names[i]);
    return rc;
}

int ctl_wait_applied(const char *cmd, const char *ep, long long target, int64_t deadline_ms,
                     long long *applied)
{
    *applied = -1;
    int answered = 0;
    while (clock_mono_ms() <= deadline_ms) {
        answer_t a;
        char why[200];
        int rc = s_ask(ep, KEYS_STATE, 1000, &a, why, sizeof why);
        if (rc == RP_ETIMEDOUT || rp_class(rc) == RP_EZMQ) { /* not up, or restarting: again */
            zclock_sleep(20);
            continue;
        }
        if (rc) {
            fprintf(stderr, "riskctl %s: %s: %s\n", cmd, ep, why);
            return CLI_FAIL;
        }
        answered = 1;
        /* the target is what was committed when we were called; later
         * commits do not move it */
        if ((rc = s_check_role(cmd, ep, &a, CTL_ROLE_STATE)) == 0 && target < 0)
            rc = s_state_counter(cmd, ep, &a, CTL_S_COMMITTED_SEQ, &target);
        if (rc == 0) rc = s_state_counter(cmd, ep, &a, CTL_S_APPLIED_SEQ, applied);
        s_answer_free(&a);
        if (rc) return CLI_FAIL;
        if (*applied >= target) return CLI_OK;
        zclock_sleep(10);
    }
    if (!answered) fprintf(stderr, "riskctl %s: no answer from %s\n", cmd, ep);
    else
        fprintf(stderr, "riskctl %s: timed out: applied %lld of %lld changes\n", cmd, *applied,
                target);
    return CLI_FAIL;
}

/* Reads integer name of the status of the daemon of role at c, retrying
 * while it cannot be reached, until deadline. Returns 0; RP_ETIMEDOUT with
 * why (the last failure) at the deadline; RP_EPROTO with why at once when
 * something else answers (another role, a non-200 status, no such number):
 * waiting would not change it. */
static int s_http_seq(http_client_t *c, const char *role, const char *name, int64_t deadline,
                      long long *out, char *why, size_t whylen)
{
    for (;;) {
        /* each request gets up to a second, and at least 200 ms even at the
         * deadline, so that --timeout 0 still asks once */
        int64_t left = deadline - clock_mono_ms();
        http_client_set_timeout(c, left < 200 ? 200 : left < 1000 ? left : 1000);
        json_t *st = NULL;
        int rc = api_status(c, role, &st, why, whylen);
        if (rc == 0 && (rc = api_status_int(st, name, out)))
            snprintf(why, whylen, "the %s's /v1/status at %s has no \"%s\"", role,
                     http_client_url(c), name);
        json_decref(st);
        if (rc == 0 || (rc != RP_ETIMEDOUT && rp_class(rc) != RP_EIO)) return rc;
        if (clock_mono_ms() >= deadline) return RP_ETIMEDOUT;
        zclock_sleep(10); /* not up, or restarting: again */
    }
}

/* wait --url: the states' committed_seq once (summed over the k shards'
 * URLs), then the reducer's applied_seq (its sum over the shards) until it
 * reaches it: each shard's applied is at most its committed, so the sums meet
 * only when every shard is caught up. */
static int s_wait_http(const char *url, char **state_urls, int k, const char *token_file,
                       int64_t timeout_s)
{
    char why[HTTP_CLIENT_WHY_MAX] = "";
    int64_t t0 = clock_mono_ms(), deadline = t0 + timeout_s * 1000;
    http_client_t *r = http_client_new(url, token_file, 1000, why, sizeof why);
    long long target = -1, applied = -1, one;
    int rc = r ? 0 : RP_EINVAL;
    for (int i = 0; rc == 0 && i < k; i++) {
        http_client_t *s = http_client_new(state_urls[i], token_file, 1000, why, sizeof why);
        rc = s ? s_http_seq(s, CTL_ROLE_STATE, "committed_seq", deadline, &one, why, sizeof why)
               : RP_EINVAL;
        if (rc == 0) target = (target < 0 ? 0 : target) + one;
        http_client_destroy(&s);
    }
    /* the target is what was committed when we were called; later commits
     * do not move it */
    while (rc == 0 &&
           (rc = s_http_seq(r, CTL_ROLE_REDUCER, "applied_seq", deadline, &applied, why,
                            sizeof why)) == 0 &&
           applied < target) {
        if (clock_mono_ms() >= deadline) {
            rc = RP_ETIMEDOUT;
            why[0] = 0;
            break;
        }
        zclock_sleep(10); /* a poll every 10 ms plus the request's own time */
    }
    http_client_destroy(&r);
    double took = (double)(clock_mono_ms() - t0) / 1000.0;
    if (rc == 0) {
        printf("applied through change %lld (waited %.3f s)\n", applied, took);
        return CLI_OK;
    }
    if (rc == RP_ETIMEDOUT && target < 0)
        fprintf(stderr,
                "riskctl wait: timed out after %lld s: no committed_seq from the state "
                "(%s)\n",
                (long long)timeout_s, *why ? why : "no answer");
    else if (rc == RP_ETIMEDOUT && applied < 0)
        fprintf(stderr,
                "riskctl wait: timed out after %lld s: no applied_seq from the reducer "
                "(%s)\n",
                (long long)timeout_s, *why ? why : "no answer");
    else if (rc == RP_ETIMEDOUT)
        fprintf(stderr, "riskctl wait: timed out after %lld s: applied %lld of %lld changes%s%s\n",
                (long long)timeout_s, applied, target, *why ? "; last: " : "", why);
    else
        fprintf(stderr, "riskctl wait: %s\n", why);
    return CLI_FAIL;
}

int cmd_wait(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"state-control", "tcp://localhost:5560", "state process control endpoint; with state "
         "shards, every shard's, comma-separated: waits for each", NULL},
        {"timeout", "60", "give up after this many seconds", NULL},
        {"url", "",
         "wait over HTTP: the reducer's HTTP API URL (http://HOST:PORT); needs "
         "--state-url",
         NULL},
        {"state-url", "", "with --url: the state's HTTP API URL instead of --state-control; with "
         "shards, every shard's, comma-separated", NULL},
        {"token-file", "", "with --url: file holding the bearer token the daemons require", NULL},
        CLI_SECURITY_OPTS,
        {NULL, NULL, NULL, NULL}};
    int npos, code;
    if (!cli_parse(opts, argc, argv,
                   "usage: riskctl wait [options]\n\nReturns 0 once every change committed at "
                   "the state process when it was called is\nreflected in the aggregates; 1 on "
                   "timeout, or when the endpoint is not the state\nprocess's. With --url and "
                   "--state-url it reads the state's committed_seq and\npolls the reducer's "
                   "applied_seq over their HTTP API, and prints how long it took.",
                   &npos, &code))
        return code;
    int64_t timeout;
    if (config_int(opts, "timeout", 0, 86400 * 365, &timeout)) return CLI_USAGE;
    const char *url = config_get(opts, "url");
    char urls[4096], *state_urls[SHARD_MAX];
    snprintf(urls, sizeof urls, "%s", config_get(opts, "state-url"));
    int nurls, http = cli_http_url_list("wait", url, urls, state_urls, &nurls);
    if (http < 0) return CLI_USAGE;
    if (http)
        return s_wait_http(url, state_urls, nurls, config_get(opts, "token-file"), timeout);
    char list[4096], *eps[SHARD_MAX];
    snprintf(list, sizeof list, "%s", config_get(opts, "state-control"));
    int k = shard_split(list, eps, SHARD_MAX);
    if (k < 1) {
        fprintf(stderr, "riskctl wait: --state-control: expected an endpoint, or one per state "
                "shard comma-separated\n");
        return CLI_USAGE;
    }
    int64_t deadline = clock_mono_ms() + timeout * 1000;
    for (int i = 0; i < k; i++) {
        long long applied;
        int rc = ctl_wait_applied("wait", eps[i], -1, deadline, &applied);
        if (rc != CLI_OK) return rc;
        if (k > 1) printf("%s: ", eps[i]);
        printf("applied through change %lld\n", applied);
    }
    return CLI_OK;
}

/* The counters of a reply as a JSON object (role included). */
static json_t *s_to_json(const msgpack_object *map)
{
    json_t *out = json_object();
    for (uint32_t i = 0; out && i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key, *v = &map->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR) continue;
        json_t *j = NULL;
        if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            j = json_integer((json_int_t)v->via.u64);
        else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            j = json_integer(v->via.i64);
        else if (v->type == MSGPACK_OBJECT_STR)
            j = json_stringn(v->via.str.ptr, v->via.str.size);
        if (j) json_object_setn_new(out, k->via.str.ptr, k->via.str.size, j);
    }
    return out;
}

/* One section of `stats`: the counters of the process of role at endpoint,
 * or {"error": why} (why also printed) when it does not answer as that role;
 * counts a failed section in *failed. */
static json_t *s_section(const char *endpoint, const char *role, int timeout_ms, int *failed)
{
    answer_t a;
    char why[200];
    json_t *out = NULL;
    keys_role_t server = strcmp(role, CTL_ROLE_STATE) ? KEYS_REDUCER : KEYS_STATE;
    int rc = s_ask(endpoint, server, timeout_ms, &a, why, sizeof why);
    if (rc)
        fprintf(stderr, "riskctl stats: %s at %s: %s\n", role, endpoint, why);
    else if (s_check_role("stats", endpoint, &a, role))
        snprintf(why, sizeof why, "not a %s control endpoint", role);
    else if (!(out = s_to_json(a.map)))
        snprintf(why, sizeof why, "out of memory");
    if (rc == 0) s_answer_free(&a);
    if (out) return out;
    (*failed)++;
    return json_pack("{s:s}", "error", why);
}

int cmd_stats(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"state-control", "tcp://localhost:5560", "state process control endpoint", NULL},
        {"reducer-control", "tcp://localhost:5561", "reducer control endpoint", NULL},
        {"timeout-ms", "2000", "how long to wait for each answer", NULL},
        CLI_SECURITY_OPTS,
        {NULL, NULL, NULL, NULL}};
    int npos, code;
    if (!cli_parse(opts, argc, argv,
                   "usage: riskctl stats [options]\n\nPrints the counters of the state process "
                   "and the reducer as JSON; a process that\ndoes not answer as its role has "
                   "{\"error\": ...} instead, and the exit code is 1.",
                   &npos, &code))
        return code;
    int64_t t;
    if (config_int(opts, "timeout-ms", 1, 600000, &t)) return CLI_USAGE;
    /* json_object_set_new takes each section, even when it fails */
    int failed = 0;
    json_t *all = json_object();
    int bad = json_object_set_new(
        all, CTL_ROLE_STATE,
        s_section(config_get(opts, "state-control"), CTL_ROLE_STATE, (int)t, &failed));
    bad |= json_object_set_new(
        all, CTL_ROLE_REDUCER,
        s_section(config_get(opts, "reducer-control"), CTL_ROLE_REDUCER, (int)t, &failed));
    char *out = bad ? NULL : json_dumps(all, JSON_INDENT(2));
    json_decref(all);
    if (!out) return cli_fail("stats", RP_ENOMEM, "cannot print the counters");
    printf("%s\n", out);
    free(out);
    return failed ? CLI_FAIL : CLI_OK;
}

int cmd_ping(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"state-control", "tcp://localhost:5560", "state process control endpoint", NULL},
        {"reducer-control", "tcp://localhost:5561", "reducer control endpoint", NULL},
        {"timeout-ms", "1000", "how long to wait for the answer", NULL},
        CLI_SECURITY_OPTS,
        {NULL, NULL, NULL, NULL}};
    int npos, code;
    if (!cli_parse(opts, argc, argv,
                   "usage: riskctl ping state|reducer [options]\n\nExits 0 when the process "
                   "answers on its control endpoint as that role (a health\ncheck); 1 when "
                   "nothing answers or another role does.",
                   &npos, &code))
        return code;
    int64_t t;
    if (config_int(opts, "timeout-ms", 1, 600000, &t)) return CLI_USAGE;
    if (npos != 1 || (strcmp(argv[1], CTL_ROLE_STATE) && strcmp(argv[1], CTL_ROLE_REDUCER))) {
        fprintf(stderr, "usage: riskctl ping state|reducer\n");
        return CLI_USAGE;
    }
    const char *role = argv[1];
    const char *ep = config_get(opts, strcmp(role, CTL_ROLE_STATE) ? "reducer-control"
                                                                   : "state-control");
    answer_t a;
    char why[200];
    keys_role_t server = strcmp(role, CTL_ROLE_STATE) ? KEYS_REDUCER : KEYS_STATE;
    int rc = s_ask(ep, server, (int)t, &a, why, sizeof why);
    if (rc) {
        fprintf(stderr, "riskctl ping: %s at %s: %s\n", role, ep, why);
        return CLI_FAIL;
    }
    rc = s_check_role("ping", ep, &a, role);
    s_answer_free(&a);
    if (rc) return CLI_FAIL;
    printf("%s ok\n", role);
    return CLI_OK;
}
