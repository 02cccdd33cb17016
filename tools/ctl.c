/* riskctl wait, stats and ping: clients of the daemons' control endpoints
 * (protocol and counter names in proto/ctl.h). An answer from a process of
 * the wrong role, or without a counter the command needs, is an error: it
 * is never read as a zero. */
#include "riskctl.h"
#include "cli.h"
#include "../common/clock.h"
#include "../common/rperr.h"
#include "../proto/ctl.h"
#include "../proto/mp.h"

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

int cmd_wait(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"state-control", "tcp://localhost:5560", "state process control endpoint", NULL},
        {"timeout", "60", "give up after this many seconds", NULL},
        CLI_SECURITY_OPTS,
        {NULL, NULL, NULL, NULL}};
    int npos, code;
    if (!cli_parse(opts, argc, argv,
                   "usage: riskctl wait [options]\n\nReturns 0 once every change committed at "
                   "the state process when it was called is\nreflected in the aggregates; 1 on "
                   "timeout, or when the endpoint is not the state\nprocess's.",
                   &npos, &code))
        return code;
    int64_t timeout;
    if (config_int(opts, "timeout", 0, 86400 * 365, &timeout)) return CLI_USAGE;
    long long applied;
    int rc = ctl_wait_applied("wait", config_get(opts, "state-control"), -1,
                              clock_mono_ms() + timeout * 1000, &applied);
    if (rc == CLI_OK) printf("applied through change %lld\n", applied);
    return rc;
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
