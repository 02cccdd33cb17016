/* riskpipe-state: accepts risk messages, keeps the latest version of every
 * trade in LMDB, appends each accepted change to a durable change log cut
 * into batches, sends batches to the mappers and re-sends unacknowledged
 * ones. Flags -> open -> one poll loop -> tear down; the group commit is in
 * commit.c, the batch window in dispatch.c. */
#include "changelog.h"
#include "commit.h"
#include "dispatch.h"
#include "dlq.h"
#include "ingest.h"
#include "trades.h"
#include "../common/chaos.h"
#include "../common/clock.h"
#include "../common/log.h"
#include "../common/rperr.h"
#include "../proto/ctl.h"
#include "../proto/frame.h"
#include "../proto/reply.h"
#include "../proto/shard.h"
#include "../proto/tables.h"
#include "../svc/control.h"
#include "../svc/daemon.h"
#include "../svc/http.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static config_opt_t s_opts[] = {
    DAEMON_STORE_OPTS("./data/state"),
    {"ingest", "tcp://127.0.0.1:5555", "acknowledged ingest endpoint (ROUTER, bind)", NULL},
    {"ingest-pull", "tcp://127.0.0.1:5556", "fire-and-forget ingest endpoint (PULL, bind)", NULL},
    {"work", "tcp://127.0.0.1:5557", "batches to mappers (PUSH, bind)", NULL},
    {"acks", "tcp://127.0.0.1:5559", "acknowledgements from the reducer (PULL, bind)", NULL},
    {"control", "tcp://127.0.0.1:5560", "stats endpoint for riskctl (REP, bind)", NULL},
    {"hierarchy", HIER_DEFAULT, "comma-separated hierarchy levels", NULL},
    {"shards", "1", "state shards in the pipeline, fixed when it is created (proto/shard.h)",
     NULL},
    {"shard", "0", "which shard this state process is, 0 to --shards minus 1: it takes the "
     "TradeIDs whose hash modulo --shards is this number", NULL},
    {"batch-size", "1024", "most changes per batch sent to a mapper", NULL},
    {"window", "64", "most batches in flight (sent, not yet acknowledged)", NULL},
    {"redeliver-ms", "3000", "re-send a batch not acknowledged within this time", NULL},
    {"max-frame", "16777216", "largest ingest frame in bytes", NULL},
    {"max-batch", "10000", "most messages in one ingest frame", NULL},
    {"group-max", "256", "most ingest frames in one commit (group commit)", NULL},
    {"decode-ahead", "8", "ingest frames checked and decoded on a second thread ahead of the "
     "LMDB writer (0: the writer decodes them itself)", NULL},
    {"max-lag", "2000000", "changes committed but not yet aggregated before ingest answers busy",
     NULL},
    {"dlq-max", "100000", "dead-letter entries kept per source (its oldest evicted first)", NULL},
    {"dlq-max-bytes", "268435456", "dead-letter bytes kept per source (its oldest evicted first)",
     NULL},
    HTTP_OPTS("127.0.0.1:9555"),
    DAEMON_KEYS_OPT,
    DAEMON_INSECURE_OPT,
    DAEMON_LOG_OPT,
    {NULL, NULL, NULL, NULL}};

typedef struct {
    int64_t batch_size, window, redeliver_ms, max_batch, dlq_max, dlq_max_bytes, shard, shards;
    size_t map_size;
    hier_levels_t levels;
    commit_opts_t commit;
} flags_t;

typedef struct {
    store_t *store;
    changelog_t *log;
    dlq_t *dlq;
    ingest_t *ingest;
    dispatch_t *dispatch;
    commit_t *commit;
    trades_t *trades; /* the HTTP routes of /v1/trades */
    zsock_t *router, *pull, *work, *acks, *control;
    http_t *http; /* NULL when --http is empty */
    int lock_fd; /* the data directory's lock, held until exit */
} state_t;

/* Poll slots of the loop. */
enum {
    POLL_INGEST, POLL_INGEST_PULL, POLL_ACKS, POLL_CONTROL, POLL_WORK, POLL_AUTH, POLL_HTTP,
    POLL_COUNT
};

/* Reads and checks every flag. Returns 0 or RP_EINVAL (printed). */
static int s_flags(flags_t *f)
{
    int64_t group_max, max_lag, max_frame, decode_ahead;
    char why[160];
    if (config_int(s_opts, "batch-size", 1, FRAME_MAX_CHANGES, &f->batch_size) ||
        config_int(s_opts, "window", 1, 100000, &f->window) ||
        config_int(s_opts, "redeliver-ms", 10, 3600000, &f->redeliver_ms) ||
        config_int(s_opts, "max-frame", 1024, 1 << 30, &max_frame) ||
        config_int(s_opts, "max-batch", 1, 1000000, &f->max_batch) ||
        config_int(s_opts, "group-max", 1, 100000, &group_max) ||
        config_int(s_opts, "decode-ahead", 0, 1024, &decode_ahead) ||
        config_int(s_opts, "max-lag", 1, INT64_MAX, &max_lag) ||
        config_int(s_opts, "dlq-max", 1, INT64_MAX, &f->dlq_max) ||
        config_int(s_opts, "dlq-max-bytes", 1, INT64_MAX, &f->dlq_max_bytes) ||
        config_int(s_opts, "shards", 1, SHARD_MAX, &f->shards) ||
        config_int(s_opts, "shard", 0, SHARD_MAX - 1, &f->shard) ||
        daemon_map_flags(s_opts, &f->map_size, &f->commit.map_max))
        return RP_EINVAL;
    if (f->shard >= f->shards) {
        fprintf(stderr, "--shard %lld: a pipeline of --shards %lld has shards 0 to %lld\n",
                (long long)f->shard, (long long)f->shards, (long long)f->shards - 1);
        return RP_EINVAL;
    }
    if (hier_levels_parse(config_get(s_opts, "hierarchy"), &f->levels, why, sizeof why)) {
        fprintf(stderr, "--hierarchy: %s\n", why);
        return RP_EINVAL;
    }
    f->commit.max_frame = max_frame;
    f->commit.group_max = (int)group_max;
    f->commit.decode_ahead = (int)decode_ahead;
    f->commit.serve_ms = 2; /* a frame of 1,000 messages takes about as long */
    f->commit.max_lag = (uint64_t)max_lag;
    return 0;
}

/* Opens the store, the modules and the sockets. Returns 0 or an RP code
 * (the reason is logged). */
static int s_open(state_t *s, const flags_t *f)
{
    int rc = RP_ENOMEM;
    s->store = store_open(config_get(s_opts, "data"), tables_state_dbs, f->map_size, STORE_WRITEMAP,
                          &rc);
    if (!s->store) return rc;
    if ((s->lock_fd = daemon_lock_dir(config_get(s_opts, "data"))) < 0) return s->lock_fd;
    if ((rc = ingest_check_store(s->store, &f->levels))) return rc;
    if (!(s->log = changelog_new(s->store, (uint32_t)f->batch_size, (uint32_t)f->shard,
                                 (uint32_t)f->shards, &rc))) return rc;
    if (!(s->dlq = dlq_new(s->store, (uint64_t)f->dlq_max, (uint64_t)f->dlq_max_bytes, &rc)))
        return rc;
    if (!(s->ingest = ingest_new(s->store, s->log, s->dlq, &f->levels, (uint32_t)f->max_batch)))
        return RP_ENOMEM;
    /* Frames between --max-frame and the hard cap are still read, so that the
     * producer gets a clear answer; the cap protects memory. Small receive
     * queues bound memory too: producers wait instead. */
    int64_t hard_cap = f->commit.max_frame * 2 + (1 << 20);
    /* Replies go out in bursts of up to a whole group commit, while the
     * producer may be busy reading its input: their queue must hold every
     * frame a producer can have in flight (a ROUTER drops what does not fit,
     * and the producer then waits out its timeout and re-sends). */
    s->router = daemon_socket(ZMQ_ROUTER, config_get(s_opts, "ingest"), DAEMON_BIND,
                              &(daemon_sockopt_t){.hwm = 256, .sndhwm = REPLY_QUEUE_MAX,
                                                  .linger_ms = 1000,
                                                  .max_msg = hard_cap,
                                                  .curve_domain = KEYS_DOMAIN_INGEST},
                              "ingest");
    s->pull = daemon_socket(ZMQ_PULL, config_get(s_opts, "ingest-pull"), DAEMON_BIND,
                            &(daemon_sockopt_t){.hwm = 64, .max_msg = hard_cap,
                                                .curve_domain = KEYS_DOMAIN_INGEST},
                            "ingest-pull");
    s->work = daemon_socket(ZMQ_PUSH, config_get(s_opts, "work"), DAEMON_BIND,
                            &(daemon_sockopt_t){.hwm = 4, .curve_domain = KEYS_DOMAIN_MAPPER},
                            "work");
    s->acks = daemon_socket(ZMQ_PULL, config_get(s_opts, "acks"), DAEMON_BIND,
                            &(daemon_sockopt_t){.hwm = 10000, .max_msg = FRAME_ACK_MAX_BYTES,
                                                .curve_domain = KEYS_DOMAIN_REDUCER},
                            "acks");
    s->control = daemon_socket(ZMQ_REP, config_get(s_opts, "control"), DAEMON_BIND,
                               &(daemon_sockopt_t){.hwm = 100, .max_msg = CTL_REQ_MAX_BYTES,
                                                   .curve_domain = KEYS_DOMAIN_CONTROL},
                               "control");
    if (!s->router || !s->pull || !s->work || !s->acks || !s->control) return RP_EZMQ;
    /* A reply that cannot be queued (a producer gone, or one that never
     * reads its answers) is an error the commit logs, not a silent drop. */
    zsock_set_router_mandatory(s->router, 1);
    s->dispatch = dispatch_new(s->log, s->store, zsock_resolve(s->work), (uint32_t)f->window,
                               f->redeliver_ms);
    if (!s->dispatch) return RP_ENOMEM;
    s->commit = commit_new(s->store, s->log, s->ingest, s->dlq, s->dispatch, &f->commit, &rc);
    if (!s->commit) return rc;
    if (!(s->trades = trades_new(s->store, &f->levels))) return RP_ENOMEM;
    http_source_t src = {.role = CTL_ROLE_STATE,
                         .fill = commit_stats_fill,
                         .arg = s->commit,
                         .commit = &commit_stats(s->commit)->duration,
                         .store = s->store,
                         .route = trades_route,
                         .route_arg = s->trades};
    return http_start(s_opts, &src, &s->http);
}

static void s_close(state_t *s)
{
    http_destroy(&s->http);
    trades_destroy(&s->trades);
    commit_destroy(&s->commit);
    dispatch_destroy(&s->dispatch);
    zsock_destroy(&s->control);
    zsock_destroy(&s->acks);
    zsock_destroy(&s->work);
    zsock_destroy(&s->pull);
    zsock_destroy(&s->router);
    ingest_destroy(&s->ingest);
    dlq_destroy(&s->dlq);
    changelog_destroy(&s->log);
    store_destroy(&s->store);
    if (s->lock_fd >= 0) close(s->lock_fd);
}

/* One turn of the loop: a group commit, then batches out to the mappers. */
static void s_cycle(state_t *s)
{
    commit_cycle(s->commit, zsock_resolve(s->router), zsock_resolve(s->pull),
                 zsock_resolve(s->acks));
    chaos_point(2, "before sending batches");
    int rc = dispatch_run(s->dispatch, commit_progress(s->commit)->watermark, clock_mono_ms());
    if (rc) log_error("dispatch: %s", rp_strerror(rc));
}

int main(int argc, char **argv)
{
    int exit_code;
    if (!daemon_args(s_opts, argc, argv,
                     "usage: riskpipe-state [options]\n\n"
                     "Persists risk messages (latest version per TradeID wins) and feeds the "
                     "change log to the mappers.",
                     "state", &exit_code))
        return exit_code;
    flags_t f;
    if (s_flags(&f)) return 2;
    state_t s = {.lock_fd = -1};
    daemon_signals();
    int rc = s_open(&s, &f);
    if (rc) {
        log_error("start-up failed: %s", rp_strerror(rc));
        s_close(&s);
        daemon_shutdown();
        return 1;
    }
    const changelog_progress_t *p = commit_progress(s.commit);
    log_info("ready: data %s, shard %s of %s, hierarchy %s, committed seq %llu, %llu "
             "unacknowledged batch(es)", config_get(s_opts, "data"), config_get(s_opts, "shard"),
             config_get(s_opts, "shards"), config_get(s_opts, "hierarchy"),
             (unsigned long long)p->committed, (unsigned long long)p->unacked_batches);
    zmq_pollitem_t items[POLL_COUNT] = {
        [POLL_INGEST] = {zsock_resolve(s.router), 0, ZMQ_POLLIN, 0},
        [POLL_INGEST_PULL] = {zsock_resolve(s.pull), 0, ZMQ_POLLIN, 0},
        [POLL_ACKS] = {zsock_resolve(s.acks), 0, ZMQ_POLLIN, 0},
        [POLL_CONTROL] = {zsock_resolve(s.control), 0, ZMQ_POLLIN, 0},
        [POLL_WORK] = {zsock_resolve(s.work), 0, 0, 0},
        [POLL_AUTH] = {daemon_auth_socket(), -1, ZMQ_POLLIN, 0},
        [POLL_HTTP] = {NULL, http_fd(s.http), ZMQ_POLLIN, 0}};
    while (!daemon_stopping()) {
        /* Wait for POLLOUT on work only when batches are waiting to go out. */
        int unsent = dispatch_has_unsent(s.dispatch, commit_progress(s.commit)->next_batch);
        items[POLL_WORK].events = unsent ? ZMQ_POLLOUT : 0;
        long timeout =
            http_timeout(s.http, (long)dispatch_next_due(s.dispatch, clock_mono_ms(), 200));
        if (zmq_poll(items, POLL_COUNT, timeout) < 0 && errno != EINTR) {
            log_error("poll: %s", zmq_strerror(errno));
            exit_code = 1;
            break;
        }
        daemon_auth_serve(); /* ZAP requests, and refused handshakes */
        if (items[POLL_CONTROL].revents & ZMQ_POLLIN)
            control_serve(zsock_resolve(s.control), CTL_ROLE_STATE, commit_stats_fill, s.commit);
        http_serve(s.http, items[POLL_HTTP].revents & ZMQ_POLLIN);
        s_cycle(&s);
    }
    /* Drain: answer what already arrived, so acknowledged producers are not
     * left waiting, then exit. */
    s_cycle(&s);
    const commit_stats_t *c = commit_stats(s.commit);
    log_info("stopping: %lld accepted, %lld duplicates, %lld rejected since start", c->accepted,
             c->duplicates, c->rejected);
    s_close(&s);
    daemon_shutdown();
    return exit_code;
}
