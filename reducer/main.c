/* riskpipe-reducer: the single writer of the aggregate table. Pulls RESULT
 * frames from the mappers, applies each batch exactly once and in batch id
 * order, then acknowledges the batch ids to the state process. Flags -> open
 * -> one poll loop -> tear down; the in-order group commit is in order.c,
 * the exactly-once apply in apply.c. */
#include "apply.h"
#include "feed.h"
#include "order.h"
#include "pathset.h"
#include "query.h"
#include "../common/clock.h"
#include "../common/log.h"
#include "../common/rperr.h"
#include "../proto/ctl.h"
#include "../proto/shard.h"
#include "../proto/tables.h"
#include "../svc/control.h"
#include "../svc/daemon.h"
#include "../svc/http.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

static config_opt_t s_opts[] = {
    DAEMON_STORE_OPTS("./data/reducer"),
    {"results", "tcp://127.0.0.1:5558", "results from the mappers (PULL, bind)", NULL},
    {"acks", "tcp://127.0.0.1:5559",
     "acknowledgements to the state process (PUSH, connect); with state shards, every "
     "shard's acks endpoint, comma-separated, in shard order", NULL},
    {"shards", "1", "state shards in the pipeline, fixed when it is created: as many --acks "
     "endpoints", NULL},
    {"control", "tcp://127.0.0.1:5561", "stats endpoint for riskctl (REP, bind)", NULL},
    {"group-max", "256", "most result frames applied in one commit", NULL},
    {"max-frame", "67108864", "largest result frame in bytes (a larger one is dropped)", NULL},
    HTTP_OPTS("127.0.0.1:9556"),
    DAEMON_KEYS_OPT,
    DAEMON_INSECURE_OPT,
    DAEMON_LOG_OPT,
    {NULL, NULL, NULL, NULL}};

typedef struct {
    store_t *store;
    apply_t *apply;
    order_t *order;
    zsock_t *results, *control;
    zsock_t *acks[SHARD_MAX]; /* one per state shard */
    void *ack_socks[SHARD_MAX];
    int nacks;
    pathset_t *changed; /* aggregate paths each commit changed, for feed */
    feed_t *feed;       /* the event streams of /v1/stream */
    query_t *query;     /* the HTTP routes of /v1/aggregates, /v1/stream, / */
    http_t *http;       /* NULL when --http is empty */
    int lock_fd; /* the data directory's lock, held until exit */
} reducer_t;

/* Poll slots of the loop. */
enum { POLL_RESULTS, POLL_CONTROL, POLL_AUTH, POLL_HTTP, POLL_COUNT };

/* Opens the store, the engines and the sockets. Returns 0 or an RP code
 * (the reason is logged). */
static int s_open(reducer_t *r, size_t map_size, size_t map_max, int group_max,
                  int64_t max_frame, int shards)
{
    int rc = RP_ENOMEM;
    char list[1024], *eps[SHARD_MAX];
    snprintf(list, sizeof list, "%s", config_get(s_opts, "acks"));
    int n = shard_split(list, eps, SHARD_MAX);
    if (n != shards) {
        log_error("--acks names %d endpoint(s) but --shards is %d: give each state shard's acks "
                  "endpoint, comma-separated, in shard order", n < 0 ? 0 : n, shards);
        return RP_EINVAL;
    }
    r->store = store_open(config_get(s_opts, "data"), tables_reducer_dbs, map_size, 0, &rc);
    if (!r->store) return rc;
    if ((r->lock_fd = daemon_lock_dir(config_get(s_opts, "data"))) < 0) return r->lock_fd;
    if (!(r->apply = apply_new(r->store, (uint32_t)shards, &rc))) return rc;
    if (!(r->order = order_new(r->store, r->apply, group_max, map_max))) return RP_ENOMEM;
    r->results = daemon_socket(ZMQ_PULL, config_get(s_opts, "results"), DAEMON_BIND,
                               &(daemon_sockopt_t){.hwm = 1000, .max_msg = max_frame,
                                                   .curve_domain = KEYS_DOMAIN_MAPPER},
                               "results");
    for (int i = 0; i < shards; i++) {
        char what[32];
        snprintf(what, sizeof what, shards > 1 ? "acks (shard %d)" : "acks", i);
        r->acks[i] = daemon_socket(ZMQ_PUSH, eps[i], DAEMON_CONNECT,
                                   &(daemon_sockopt_t){.hwm = 10000, .linger_ms = 1000,
                                                       .curve_server = 1 + KEYS_STATE},
                                   what);
        if (!r->acks[i]) return RP_EZMQ;
        r->ack_socks[i] = zsock_resolve(r->acks[i]);
        r->nacks = i + 1;
    }
    r->control = daemon_socket(ZMQ_REP, config_get(s_opts, "control"), DAEMON_BIND,
                               &(daemon_sockopt_t){.hwm = 100, .max_msg = CTL_REQ_MAX_BYTES,
                                                   .curve_domain = KEYS_DOMAIN_CONTROL},
                               "control");
    if (!r->results || !r->control) return RP_EZMQ;
    if (!(r->changed = pathset_new(FEED_DIRTY_MAX)) ||
        !(r->feed = feed_new(r->store, r->changed)) || !(r->query = query_new(r->store, r->feed)))
        return RP_ENOMEM;
    http_source_t src = {.role = CTL_ROLE_REDUCER,
                         .fill = order_stats_fill,
                         .arg = r->order,
                         .commit = &order_stats(r->order)->duration,
                         .store = r->store,
                         .latency = &order_stats(r->order)->latency,
                         .route = query_route,
                         .assets = query_assets,
                         .route_arg = r->query};
    if ((rc = http_start(s_opts, &src, &r->http))) return rc;
    /* the paths each commit changes, for the event streams: only when served */
    if (r->http) apply_watch(r->apply, r->changed);
    return 0;
}

static void s_close(reducer_t *r)
{
    http_destroy(&r->http); /* ends the streams while feed still knows them */
    query_destroy(&r->query);
    feed_destroy(&r->feed);
    zsock_destroy(&r->control);
    for (int i = 0; i < r->nacks; i++) zsock_destroy(&r->acks[i]);
    zsock_destroy(&r->results);
    order_destroy(&r->order);
    apply_destroy(&r->apply);
    pathset_destroy(&r->changed);
    store_destroy(&r->store);
    if (r->lock_fd >= 0) close(r->lock_fd);
}

int main(int argc, char **argv)
{
    int exit_code;
    if (!daemon_args(s_opts, argc, argv,
                     "usage: riskpipe-reducer [options]\n\n"
                     "Applies mapper results exactly once to the aggregate table.",
                     "reducer", &exit_code))
        return exit_code;
    int64_t group_max, max_frame, shards;
    size_t map_size, map_max;
    if (config_int(s_opts, "group-max", 1, 100000, &group_max) ||
        config_int(s_opts, "shards", 1, SHARD_MAX, &shards) ||
        config_int(s_opts, "max-frame", 1024, 1 << 30, &max_frame) ||
        daemon_map_flags(s_opts, &map_size, &map_max))
        return 2;
    reducer_t r = {.lock_fd = -1};
    daemon_signals();
    int rc = s_open(&r, map_size, map_max, (int)group_max, max_frame, (int)shards);
    if (rc) {
        log_error("start-up failed: %s", rp_strerror(rc));
        s_close(&r);
        daemon_shutdown();
        return 1;
    }
    log_info("ready: data %s, %lld state shard(s), shard 0's batches below %llu already applied",
             config_get(s_opts, "data"), (long long)shards,
             (unsigned long long)apply_floor(r.apply, 0));
    zmq_pollitem_t items[POLL_COUNT] = {
        [POLL_RESULTS] = {zsock_resolve(r.results), 0, ZMQ_POLLIN, 0},
        [POLL_CONTROL] = {zsock_resolve(r.control), 0, ZMQ_POLLIN, 0},
        [POLL_AUTH] = {daemon_auth_socket(), -1, ZMQ_POLLIN, 0},
        [POLL_HTTP] = {NULL, http_fd(r.http), ZMQ_POLLIN, 0}};
    while (!daemon_stopping()) {
        long timeout = feed_timeout(r.feed, http_timeout(r.http, 1000), clock_mono_ms());
        if (zmq_poll(items, POLL_COUNT, timeout) < 0 && errno != EINTR) {
            log_error("poll: %s", zmq_strerror(errno));
            exit_code = 1;
            break;
        }
        daemon_auth_serve(); /* ZAP requests, and refused handshakes */
        if (items[POLL_CONTROL].revents & ZMQ_POLLIN)
            control_serve(zsock_resolve(r.control), CTL_ROLE_REDUCER, order_stats_fill, r.order);
        http_serve(r.http, items[POLL_HTTP].revents & ZMQ_POLLIN);
        order_cycle(r.order, zsock_resolve(r.results), r.ack_socks);
        feed_tick(r.feed, clock_mono_ms()); /* what the commit changed, to the streams */
    }
    order_cycle(r.order, zsock_resolve(r.results), r.ack_socks); /* what arrived */
    const order_stats_t *st = order_stats(r.order);
    log_info("stopping: %lld batches applied, %lld duplicates skipped", st->applied,
             st->duplicates);
    s_close(&r);
    daemon_shutdown();
    return exit_code;
}
