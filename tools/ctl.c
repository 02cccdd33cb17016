/* riskctl wait, stats and ping: clients of the daemons' control endpoints. */
#include "riskctl.h"
#include "../common/clock.h"
#include "../common/config.h"
#include "../proto/ctl.h"

#include <czmq.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* Asks endpoint for its stats. Returns a JSON object (caller owns) or NULL
 * when there is no valid answer within timeout_ms. */
static json_t *s_stats(const char *endpoint, int timeout_ms)
{
    zsys_handler_set(NULL);
    zsock_t *req = zsock_new(ZMQ_REQ);
    if (!req) return NULL;
    zsock_set_linger(req, 0);
    zsock_set_rcvtimeo(req, timeout_ms);
    zsock_set_sndtimeo(req, timeout_ms);
    json_t *out = NULL;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    ctl_req_encode(&sb, "stats");
    if (zsock_connect(req, "%s", endpoint) == 0 &&
        zmq_send(zsock_resolve(req), sb.data, sb.size, 0) >= 0) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, zsock_resolve(req), 0) >= 0) {
            msgpack_unpacked unp;
            const msgpack_object *map;
            char why[160];
            if (ctl_rep_decode(zmq_msg_data(&m), zmq_msg_size(&m), &unp, &map, why,
                                     sizeof why) == 0) {
                out = json_object();
                for (uint32_t i = 0; i < map->via.map.size; i++) {
                    const msgpack_object *k = &map->via.map.ptr[i].key, *v = &map->via.map.ptr[i].val;
                    if (k->type != MSGPACK_OBJECT_STR) continue;
                    char key[128];
                    snprintf(key, sizeof key, "%.*s", (int)k->via.str.size, k->via.str.ptr);
                    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                        json_object_set_new(out, key, json_integer((json_int_t)v->via.u64));
                    else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
                        json_object_set_new(out, key, json_integer(v->via.i64));
                    else if (v->type == MSGPACK_OBJECT_STR)
                        json_object_set_new(out, key, json_stringn(v->via.str.ptr, v->via.str.size));
                }
            }
            msgpack_unpacked_destroy(&unp);
        }
        zmq_msg_close(&m);
    }
    msgpack_sbuffer_destroy(&sb);
    zsock_destroy(&req);
    return out;
}

static long long s_get(json_t *o, const char *k)
{
    return (long long)json_integer_value(json_object_get(o, k));
}

int cmd_wait(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"state-control", "tcp://localhost:5560", "state process control endpoint", NULL},
        {"timeout", "60", "give up after this many seconds", NULL},
        {NULL, NULL, NULL, NULL}};
    int npos;
    int rc = config_parse(opts, argc, argv, 1, &npos,
                          "usage: riskctl wait [options]\n\nReturns 0 once every change "
                          "committed at the state process when it was called is\nreflected in "
                          "the aggregates; 1 on timeout.");
    if (rc) return rc > 0 ? 0 : 2;
    int64_t timeout;
    if (config_int(opts, "timeout", 0, 86400 * 365, &timeout)) return 2;
    const char *ep = config_get(opts, "state-control");
    int64_t deadline = clock_mono_ms() + timeout * 1000;
    long long target = -1, applied = -1;
    while (clock_mono_ms() <= deadline) {
        json_t *st = s_stats(ep, 1000);
        if (st) {
            if (target < 0) target = s_get(st, "committed_seq");
            applied = s_get(st, "applied_seq");
            json_decref(st);
            if (applied >= target) {
                printf("applied through change %lld\n", applied);
                return 0;
            }
        }
        zclock_sleep(20);
    }
    if (target < 0) fprintf(stderr, "riskctl wait: no answer from %s\n", ep);
    else fprintf(stderr, "riskctl wait: timed out: applied %lld of %lld changes\n", applied, target);
    return 1;
}

int cmd_stats(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"state-control", "tcp://localhost:5560", "state process control endpoint", NULL},
        {"reducer-control", "tcp://localhost:5561", "reducer control endpoint", NULL},
        {"timeout-ms", "2000", "how long to wait for each answer", NULL},
        {NULL, NULL, NULL, NULL}};
    int npos;
    int rc = config_parse(opts, argc, argv, 1, &npos,
                          "usage: riskctl stats [options]\n\nPrints the counters of the state "
                          "process and the reducer as JSON.");
    if (rc) return rc > 0 ? 0 : 2;
    int64_t t;
    if (config_int(opts, "timeout-ms", 1, 600000, &t)) return 2;
    json_t *all = json_object();
    const char *names[] = {"state", "reducer"};
    const char *eps[] = {config_get(opts, "state-control"), config_get(opts, "reducer-control")};
    int missing = 0;
    for (int i = 0; i < 2; i++) {
        json_t *s = s_stats(eps[i], (int)t);
        if (!s) {
            missing++;
            s = json_pack("{s:s}", "error", "no answer");
        }
        json_object_set_new(all, names[i], s);
    }
    char *out = json_dumps(all, JSON_INDENT(2));
    printf("%s\n", out);
    free(out);
    json_decref(all);
    return missing ? 1 : 0;
}

int cmd_ping(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"state-control", "tcp://localhost:5560", "state process control endpoint", NULL},
        {"reducer-control", "tcp://localhost:5561", "reducer control endpoint", NULL},
        {"timeout-ms", "1000", "how long to wait for the answer", NULL},
        {NULL, NULL, NULL, NULL}};
    int npos;
    int rc = config_parse(opts, argc, argv, 1, &npos,
                          "usage: riskctl ping state|reducer [options]\n\nExits 0 when the "
                          "process answers on its control endpoint (a health check).");
    if (rc) return rc > 0 ? 0 : 2;
    int64_t t;
    if (config_int(opts, "timeout-ms", 1, 600000, &t)) return 2;
    if (npos != 1 || (strcmp(argv[1], "state") && strcmp(argv[1], "reducer"))) {
        fprintf(stderr, "usage: riskctl ping state|reducer\n");
        return 2;
    }
    const char *ep = config_get(opts, strcmp(argv[1], "state") ? "reducer-control" : "state-control");
    json_t *s = s_stats(ep, (int)t);
    if (!s) {
        fprintf(stderr, "riskctl ping: no answer from %s at %s\n", argv[1], ep);
        return 1;
    }
    json_decref(s);
    printf("%s ok\n", argv[1]);
    return 0;
}
