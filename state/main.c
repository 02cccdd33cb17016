/* riskpipe-state: accepts risk messages, keeps the latest version of every
 * trade in LMDB, appends each accepted change to a durable change log cut
 * into batches, sends batches to the mappers and re-sends unacknowledged ones.
 * One poll loop; one write transaction (one fsync) per loop iteration. */
#include "changelog.h"
#include "dispatch.h"
#include "dlq.h"
#include "ingest.h"
#include "../common/chaos.h"
#include "../common/clock.h"
#include "../common/config.h"
#include "../common/daemon.h"
#include "../common/log.h"
#include "../common/rperr.h"
#include "../proto/frame.h"
#include "../proto/reply.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARTS 8 /* routing envelope + payload */

static config_opt_t s_opts[] = {
    {"data", "./data/state", "LMDB environment directory", NULL},
    {"ingest", "tcp://*:5555", "acknowledged ingest endpoint (ROUTER, bind)", NULL},
    {"ingest-pull", "tcp://*:5556", "fire-and-forget ingest endpoint (PULL, bind)", NULL},
    {"work", "tcp://*:5557", "batches to mappers (PUSH, bind)", NULL},
    {"acks", "tcp://*:5559", "acknowledgements from the reducer (PULL, bind)", NULL},
    {"control", "tcp://*:5560", "stats endpoint for riskctl (REP, bind)", NULL},
    {"hierarchy", HIER_DEFAULT, "comma-separated hierarchy levels", NULL},
    {"batch-size", "1024", "most changes per batch sent to a mapper", NULL},
    {"window", "64", "most batches in flight (sent, not yet acknowledged)", NULL},
    {"redeliver-ms", "3000", "re-send a batch not acknowledged within this time", NULL},
    {"max-frame", "16777216", "largest ingest frame in bytes", NULL},
    {"max-batch", "10000", "most messages in one ingest frame", NULL},
    {"group-max", "256", "most ingest frames in one commit (group commit)", NULL},
    {"max-lag", "2000000", "changes committed but not yet aggregated before ingest answers busy",
     NULL},
    {"dlq-max", "100000", "dead-letter entries kept (oldest dropped first)", NULL},
    {"map-size", "256", "initial LMDB map size in MiB (grows on demand)", NULL},
    {"map-max", "65536", "largest LMDB map size in MiB", NULL},
    {"log-level", "info", "error, warn, info or debug", NULL},
    {NULL, NULL, NULL, NULL}};

typedef struct {
    zmq_msg_t parts[MAX_PARTS];
    int nparts;
    int acked; /* came in on the ROUTER socket: needs a reply */
    char source[64];
    reply_t reply;
} pending_t;

typedef struct {
    store_t *store;
    changelog_t *log;
    ingest_t *ingest;
    dlq_t *dlq;
    dispatch_t *dispatch;
    zsock_t *router, *pull, *work, *acks, *control;
    int64_t max_frame, group_max, max_lag;
    size_t map_max;
    pending_t *pend;
    int npend;
    uint64_t ack_ids[FRAME_MAX_ACKS * 4];
    int nacks;
    changelog_progress_t progress;
    /* counters since start */
    long long frames, accepted, duplicates, conflicts, rejected, commits, commit_failures,
        acks_received, bad_ack_frames, batches_pruned, busy_replies;
} state_t;

static void s_pending_clear(state_t *s)
{
    for (int i = 0; i < s->npend; i++) {
        for (int j = 0; j < s->pend[i].nparts; j++) zmq_msg_close(&s->pend[i].parts[j]);
        reply_destroy(&s->pend[i].reply);
    }
    s->npend = 0;
}

/* Collects waiting frames from one ingest socket into s->pend. */
static void s_collect(state_t *s, zsock_t *sock, int acked)
{
    while (s->npend < s->group_max) {
        pending_t *p = &s->pend[s->npend];
        int truncated;
        int n = daemon_recv_parts(zsock_resolve(sock), p->parts, MAX_PARTS, &truncated);
        if (n <= 0) return;
        if (truncated || (acked && n < 2)) {
            log_warn("dropping ingest message with %s parts", truncated ? "too many" : "too few");
            for (int j = 0; j < n; j++) zmq_msg_close(&p->parts[j]);
            continue;
        }
        p->nparts = n;
        p->acked = acked;
        const char *peer = zmq_msg_gets(&p->parts[n - 1], "Peer-Address");
        snprintf(p->source, sizeof p->source, "%s %s", acked ? "ingest" : "ingest-pull",
                 peer ? peer : "local");
        reply_init(&p->reply);
        s->npend++;
    }
}

/* Collects acknowledgements from the reducer. */
static void s_collect_acks(state_t *s)
{
    int cap = (int)(sizeof s->ack_ids / sizeof s->ack_ids[0]);
    while (s->nacks + FRAME_MAX_ACKS <= cap) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, zsock_resolve(s->acks), ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        char why[160];
        msgpack_unpacked unp;
        const msgpack_object *ids;
        uint32_t n;
        if (frame_ack_decode(zmq_msg_data(&m), zmq_msg_size(&m), &unp, &ids, &n, why,
                             sizeof why)) {
            s->bad_ack_frames++;
            log_warn("dropping bad ACK frame: %s", why);
        } else {
            for (uint32_t i = 0; i < n; i++) s->ack_ids[s->nacks++] = ids[i].via.u64;
            s->acks_received += n;
        }
        msgpack_unpacked_destroy(&unp);
        zmq_msg_close(&m);
    }
}

/* Applies every collected frame and ack in one transaction. */
static int s_apply_group(state_t *s)
{
    MDB_txn *txn = NULL;
    int rc = store_begin(s->store, 0, &txn);
    for (int i = 0; rc == 0 && i < s->npend; i++) {
        pending_t *p = &s->pend[i];
        zmq_msg_t *payload = &p->parts[p->nparts - 1];
        reply_destroy(&p->reply);
        reply_init(&p->reply);
        if ((int64_t)zmq_msg_size(payload) > s->max_frame) {
            char why[128];
            snprintf(why, sizeof why, "frame of %zu bytes exceeds the limit of %lld bytes",
                     zmq_msg_size(payload), (long long)s->max_frame);
            reply_reject(&p->reply, 0, why);
            rc = dlq_add(s->dlq, txn, zmq_msg_data(payload), zmq_msg_size(payload), 0, why,
                         p->source);
            continue;
        }
        rc = ingest_frame(s->ingest, txn, zmq_msg_data(payload), zmq_msg_size(payload),
                          p->source, &p->reply);
    }
    for (int i = 0; rc == 0 && i < s->nacks; i++) {
        int pruned;
        rc = changelog_ack(s->log, txn, s->ack_ids[i], &pruned);
        s->batches_pruned += pruned;
    }
    if (rc == 0) rc = changelog_cut(s->log, txn);
    chaos_point(0, "before commit");
    if (rc == 0) rc = store_commit(&txn);
    store_abort(&txn);
    if (rc) {
        changelog_aborted(s->log);
        dlq_aborted(s->dlq);
    } else {
        changelog_committed(s->log);
        dlq_committed(s->dlq);
    }
    return rc;
}

static void s_send_replies(state_t *s)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (int i = 0; i < s->npend; i++) {
        pending_t *p = &s->pend[i];
        s->frames++;
        s->accepted += (long long)p->reply.accepted;
        s->duplicates += (long long)p->reply.duplicates;
        s->conflicts += (long long)p->reply.conflicts;
        s->rejected += (long long)p->reply.rejected;
        if (p->reply.rejected && !p->reply.retry)
            log_debug("frame with %llu rejected message(s)",
                      (unsigned long long)p->reply.rejected);
        if (!p->acked) continue;
        msgpack_sbuffer_clear(&sb);
        reply_encode(&p->reply, &sb);
        void *r = zsock_resolve(s->router);
        int ok = 1;
        for (int j = 0; j < p->nparts - 1 && ok; j++) /* echo the routing envelope */
            ok = zmq_send(r, zmq_msg_data(&p->parts[j]), zmq_msg_size(&p->parts[j]),
                          ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0;
        if (ok) ok = zmq_send(r, sb.data, sb.size, ZMQ_DONTWAIT) >= 0;
        if (!ok) log_warn("ingest reply not delivered: %s", zmq_strerror(errno));
    }
    msgpack_sbuffer_destroy(&sb);
}

static int s_refresh_progress(state_t *s)
{
    MDB_txn *txn = NULL;
    int rc = store_begin(s->store, 1, &txn);
    if (rc == 0) rc = changelog_progress(s->log, txn, &s->progress);
    store_abort(&txn);
    return rc;
}

/* Over the lag limit, acknowledged frames are answered "busy, retry" without
 * being read further, and fire-and-forget frames wait in their socket (whose
 * high-water mark then pushes back on the producers): memory stays bounded
 * while the mappers or the reducer are away. */
static void s_refuse_busy(state_t *s)
{
    char why[160];
    snprintf(why, sizeof why, "busy, retry: %llu changes wait for the mappers and reducer",
             (unsigned long long)(s->progress.committed - s->progress.applied));
    s_collect(s, s->router, 1);
    for (int i = 0; i < s->npend; i++) reply_fail(&s->pend[i].reply, 0, why);
    s->busy_replies += s->npend;
    s_send_replies(s);
    s_pending_clear(s);
}

/* One group commit: ingest frames + acks, then replies and dispatch. */
static void s_cycle(state_t *s)
{
    int busy = s->progress.committed - s->progress.applied >= (uint64_t)s->max_lag;
    if (busy) {
        s_refuse_busy(s);
    } else {
        s_collect(s, s->router, 1);
        s_collect(s, s->pull, 0);
    }
    s_collect_acks(s);
    if (s->npend || s->nacks) {
        chaos_roll(3);
        int rc = s_apply_group(s);
        while (rc == RP_EFULL && store_grow(s->store, s->map_max) == 0)
            rc = s_apply_group(s);
        if (rc) {
            s->commit_failures++;
            log_error("commit failed (%s); %d frame(s) answered with retry", rp_strerror(rc),
                      s->npend);
            /* A full disk shows up as ENOSPC, or as EIO from a short write. */
            char why[256];
            snprintf(why, sizeof why, "storage %s (%s), retry later",
                     rc == RP_EFULL ? "full" : "failing", store_last_error());
            for (int i = 0; i < s->npend; i++)
                reply_fail(&s->pend[i].reply,
                           s->pend[i].reply.accepted + s->pend[i].reply.duplicates +
                               s->pend[i].reply.rejected,
                           why);
        } else {
            s->commits++;
            for (int i = 0; i < s->nacks; i++) dispatch_acked(s->dispatch, s->ack_ids[i]);
        }
        chaos_point(1, "after commit, before acknowledging the producers");
        s_send_replies(s);
        s_pending_clear(s);
        s->nacks = 0;
        if (s_refresh_progress(s)) log_error("cannot read progress");
    }
    chaos_point(2, "before sending batches");
    int rc = dispatch_run(s->dispatch, s->progress.watermark, clock_mono_ms());
    if (rc) log_error("dispatch: %s", rp_strerror(rc));
}

static int s_stats(void *arg, const char **names, long long *values, int cap)
{
    state_t *s = arg;
    const dispatch_stats_t *d = dispatch_stats(s->dispatch);
    const char *n[] = {"frames", "accepted", "duplicates", "conflicts", "rejected", "commits",
                       "commit_failures", "committed_seq", "applied_seq", "lag",
                       "batches_next_id", "watermark", "batches_unacked", "batches_inflight",
                       "batches_dispatched", "batches_redelivered", "batches_acked",
                       "acks_stale", "acks_received", "bad_ack_frames", "busy_replies",
                       "dlq_added"};
    long long v[] = {s->frames, s->accepted, s->duplicates, s->conflicts, s->rejected, s->commits,
                     s->commit_failures, (long long)s->progress.committed,
                     (long long)s->progress.applied,
                     (long long)(s->progress.committed - s->progress.applied),
                     (long long)s->progress.next_batch, (long long)s->progress.watermark,
                     (long long)s->progress.unacked_batches, dispatch_inflight(s->dispatch),
                     (long long)d->dispatched, (long long)d->redelivered, (long long)d->acked,
                     (long long)d->stale_acks, s->acks_received, s->bad_ack_frames,
                     s->busy_replies, (long long)dlq_added(s->dlq)};
    int k = (int)(sizeof n / sizeof n[0]);
    for (int i = 0; i < k && i < cap; i++) names[i] = n[i], values[i] = v[i];
    return k < cap ? k : cap;
}

/* The hierarchy is fixed for the life of a data directory: stored paths and
 * aggregates depend on it. */
static int s_check_hierarchy(store_t *store, const hier_levels_t *h)
{
    char want[HIER_PATH_MAX];
    size_t wlen = hier_levels_format(h, want, sizeof want);
    MDB_txn *txn = NULL;
    int rc = store_begin(store, 0, &txn);
    if (rc) return rc;
    MDB_val k = {9, "hierarchy"}, v;
    int r = mdb_get(txn, store_dbi(store, SDB_META), &k, &v);
    if (r == 0) {
        if (v.mv_size != wlen || memcmp(v.mv_data, want, wlen) != 0) {
            log_error("--hierarchy '%s' differs from '%.*s' stored in this data directory; "
                      "use the stored levels or a new --data directory",
                      want, (int)v.mv_size, (char *)v.mv_data);
            store_abort(&txn);
            return RP_EINVAL;
        }
        store_abort(&txn);
        return 0;
    }
    v.mv_size = wlen;
    v.mv_data = want;
    if ((rc = store_rc(mdb_put(txn, store_dbi(store, SDB_META), &k, &v, 0), "meta put"))) {
        store_abort(&txn);
        return rc;
    }
    return store_commit(&txn);
}

int main(int argc, char **argv)
{
    int rc = daemon_args(s_opts, argc, argv,
                         "usage: riskpipe-state [options]\n\n"
                         "Persists risk messages (latest version per TradeID wins) and feeds "
                         "the change log to the mappers.",
                         "state");
    if (rc >= 0) return rc;
    int64_t batch_size, window, redeliver, max_frame, max_batch, group_max, map_mb, map_max,
        max_lag, dlq_max;
    if (config_int(s_opts, "batch-size", 1, FRAME_MAX_CHANGES, &batch_size) ||
        config_int(s_opts, "window", 1, 100000, &window) ||
        config_int(s_opts, "redeliver-ms", 10, 3600000, &redeliver) ||
        config_int(s_opts, "max-frame", 1024, 1 << 30, &max_frame) ||
        config_int(s_opts, "max-batch", 1, 1000000, &max_batch) ||
        config_int(s_opts, "group-max", 1, 100000, &group_max) ||
        config_int(s_opts, "map-size", 1, 1 << 24, &map_mb) ||
        config_int(s_opts, "map-max", 1, 1 << 24, &map_max) ||
        config_int(s_opts, "max-lag", 1, INT64_MAX, &max_lag) ||
        config_int(s_opts, "dlq-max", 1, INT64_MAX, &dlq_max))
        return 2;
    hier_levels_t levels;
    char why[160];
    if (hier_levels_parse(config_get(s_opts, "hierarchy"), &levels, why, sizeof why)) {
        fprintf(stderr, "--hierarchy: %s\n", why);
        return 2;
    }

    state_t s;
    memset(&s, 0, sizeof s);
    s.max_frame = max_frame;
    s.group_max = group_max;
    s.max_lag = max_lag;
    s.map_max = (size_t)(map_max < map_mb ? map_mb : map_max) << 20;
    int exit_code = 1;
    daemon_signals();
    const char *dir = config_get(s_opts, "data");
    s.store = store_open(dir, changelog_dbnames, (size_t)map_mb << 20, 0, &rc);
    if (!s.store || s_check_hierarchy(s.store, &levels)) goto out;
    s.log = changelog_new(s.store, (uint32_t)batch_size, &rc);
    s.dlq = s.log ? dlq_new(s.store, store_dbi(s.store, SDB_DLQ), store_dbi(s.store, SDB_META),
                            (uint64_t)dlq_max, &rc)
                  : NULL;
    s.ingest = s.dlq ? ingest_new(s.store, s.log, s.dlq, &levels, (uint32_t)max_batch) : NULL;
    s.pend = calloc((size_t)group_max, sizeof *s.pend);
    if (!s.ingest || !s.pend) goto out;
    /* The hard cap on messages protects memory; frames between --max-frame
     * and the cap are still read so that the producer gets a clear answer. */
    int64_t hard_cap = max_frame * 2 + (1 << 20);
    /* Small receive queues bound memory: producers wait instead. */
    s.router = daemon_socket(ZMQ_ROUTER, config_get(s_opts, "ingest"), 1, 256, 1000, "ingest");
    s.pull = daemon_socket(ZMQ_PULL, config_get(s_opts, "ingest-pull"), 1, 64, 0, "ingest-pull");
    s.work = daemon_socket(ZMQ_PUSH, config_get(s_opts, "work"), 1, 4, 0, "work");
    s.acks = daemon_socket(ZMQ_PULL, config_get(s_opts, "acks"), 1, 10000, 0, "acks");
    s.control = daemon_socket(ZMQ_REP, config_get(s_opts, "control"), 1, 100, 0, "control");
    if (!s.router || !s.pull || !s.work || !s.acks || !s.control) goto out;
    zsock_set_maxmsgsize(s.router, hard_cap);
    zsock_set_maxmsgsize(s.pull, hard_cap);
    s.dispatch = dispatch_new(s.log, s.store, zsock_resolve(s.work), (uint32_t)window, redeliver);
    if (!s.dispatch || s_refresh_progress(&s)) goto out;
    log_info("ready: data %s, hierarchy %s, committed seq %llu, %llu unacknowledged batch(es)",
             dir, config_get(s_opts, "hierarchy"), (unsigned long long)s.progress.committed,
             (unsigned long long)s.progress.unacked_batches);

    zmq_pollitem_t items[] = {{zsock_resolve(s.router), 0, ZMQ_POLLIN, 0},
                              {zsock_resolve(s.pull), 0, ZMQ_POLLIN, 0},
                              {zsock_resolve(s.acks), 0, ZMQ_POLLIN, 0},
                              {zsock_resolve(s.control), 0, ZMQ_POLLIN, 0},
                              {zsock_resolve(s.work), 0, 0, 0}};
    while (!daemon_stopping()) {
        /* Wait for POLLOUT on work only when batches are waiting to go out. */
        items[4].events = dispatch_has_unsent(s.dispatch, s.progress.next_batch) ? ZMQ_POLLOUT : 0;
        long timeout = (long)dispatch_next_due(s.dispatch, clock_mono_ms(), 200);
        if (zmq_poll(items, 5, timeout) < 0 && errno != EINTR) {
            log_error("poll: %s", zmq_strerror(errno));
            break;
        }
        if (items[3].revents & ZMQ_POLLIN) daemon_serve_control(zsock_resolve(s.control), s_stats, &s);
        s_cycle(&s);
    }
    /* Drain: answer what already arrived, so acknowledged producers are not
     * left waiting, then exit. */
    s_cycle(&s);
    log_info("stopping: %lld accepted, %lld duplicates, %lld rejected since start", s.accepted,
             s.duplicates, s.rejected);
    exit_code = 0;
out:
    if (exit_code && rc) log_error("start-up failed: %s", rp_strerror(rc));
    dispatch_destroy(&s.dispatch);
    zsock_destroy(&s.control);
    zsock_destroy(&s.acks);
    zsock_destroy(&s.work);
    zsock_destroy(&s.pull);
    zsock_destroy(&s.router);
    free(s.pend);
    ingest_destroy(&s.ingest);
    dlq_destroy(&s.dlq);
    changelog_destroy(&s.log);
    store_destroy(&s.store);
    return exit_code;
}
