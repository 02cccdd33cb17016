/* Group commit of ingest frames and ACKs; see commit.h. */
#include "commit.h"
#include "../common/chaos.h"
#include "../common/clock.h"
#include "../common/log.h"
#include "../common/rperr.h"
#include "../proto/frame.h"
#include "../proto/reply.h"
#include "../proto/tables.h"
#include "../svc/daemon.h"

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PARTS 8 /* routing envelope + payload */

/* One ingest frame waiting for the commit, with its reply. */
typedef struct {
    zmq_msg_t parts[MAX_PARTS];
    int nparts;
    int acked; /* came in on the ROUTER socket: needs a reply */
    char source[64];
    reply_t reply;
} pending_t;

struct commit_t {
    store_t *store;
    changelog_t *log;
    ingest_t *ingest;
    dlq_t *dlq;
    dispatch_t *dispatch;
    commit_opts_t opts;
    pending_t *pend;
    prep_input_t *in; /* the payloads of pend[], for prep */
    int npend;
    prep_t *prep;
    uint64_t ack_ids[FRAME_MAX_ACKS * 4];
    int nacks;
    changelog_progress_t progress;
    uint64_t dlq_entries; /* rows of the dead-letter table, as of the last commit */
    frame_id_t peer; /* the reducer instance whose ACKs count, once bound */
    int bound;
    void *acks_sock;  /* the cycle's ACK socket, read between frames too */
    uint64_t used;    /* bytes of the map in use after the last commit */
    double served_s;  /* when s_serve_between_frames last ran */
    commit_stats_t st;
};

/* Reads the bound reducer instance from the meta table (riskctl rebuild may
 * have bound a new one since). Returns 0, RP_ENOTFOUND or a store error. */
static int s_load_peer(commit_t *self)
{
    MDB_txn *txn = NULL;
    int rc = store_begin(self->store, 1, &txn);
    if (rc == 0)
        rc = store_meta_get_raw(txn, store_dbi(self->store, SDB_META), TABLES_META_PEER,
                                self->peer.b, FRAME_ID_SIZE);
    store_abort(&txn);
    self->bound = rc == 0;
    return rc;
}

/* Binds the state to the first reducer that acknowledges its batches. */
static int s_bind_peer(commit_t *self, const frame_id_t *reducer)
{
    MDB_txn *txn = NULL;
    int rc = store_begin(self->store, 0, &txn);
    if (rc == 0)
        rc = store_meta_put_raw(txn, store_dbi(self->store, SDB_META), TABLES_META_PEER,
                                reducer->b, FRAME_ID_SIZE);
    if (rc == 0) rc = store_commit(&txn);
    store_abort(&txn);
    if (rc) return rc;
    self->peer = *reducer;
    self->bound = 1;
    char hex[2 * FRAME_ID_SIZE + 1];
    frame_id_format(reducer, hex);
    log_info("bound to reducer instance %s: ACKs of any other are refused", hex);
    return 0;
}

/* 1 when an ACK belongs to this state's stream and comes from its reducer;
 * otherwise counts and logs it. */
static int s_ack_is_ours(commit_t *self, const ack_t *a)
{
    char got[2 * FRAME_ID_SIZE + 1], want[2 * FRAME_ID_SIZE + 1];
    if (!frame_id_eq(&a->state, changelog_instance(self->log))) {
        frame_id_format(&a->state, got);
        frame_id_format(changelog_instance(self->log), want);
        log_warn("dropping an ACK of %u batch(es) for state instance %s: this is %s (a reducer "
                 "of another pipeline, of this data directory before it was replaced, or one "
                 "whose --acks lists the state shards out of order)",
                 a->n, got, want);
        self->st.foreign_acks++;
        return 0;
    }
    if (!self->bound || !frame_id_eq(&a->reducer, &self->peer)) s_load_peer(self);
    if (!self->bound) return s_bind_peer(self, &a->reducer) == 0;
    if (frame_id_eq(&a->reducer, &self->peer)) return 1;
    frame_id_format(&a->reducer, got);
    frame_id_format(&self->peer, want);
    log_warn("dropping an ACK of %u batch(es) from reducer instance %s: this state is bound to "
             "%s (a second reducer, or one whose data was replaced: see riskctl rebuild)",
             a->n, got, want);
    self->st.foreign_acks++;
    return 0;
}

static int s_refresh_progress(commit_t *self)
{
    MDB_txn *txn = NULL;
    int rc = store_begin(self->store, 1, &txn);
    if (rc == 0) rc = changelog_progress(self->log, txn, &self->progress);
    MDB_stat st; /* riskctl dlq purge may delete entries: count them, do not track */
    if (rc == 0 && (rc = store_rc(mdb_stat(txn, store_dbi(self->store, SDB_DLQ), &st))) == 0)
        self->dlq_entries = st.ms_entries;
    store_abort(&txn);
    return rc;
}

commit_t *commit_new(store_t *store, changelog_t *log, ingest_t *ingest, dlq_t *dlq,
                     dispatch_t *dispatch, const commit_opts_t *opts, int *err)
{
    commit_t *self = calloc(1, sizeof *self);
    int rc = RP_ENOMEM;
    if (!self || !(self->pend = calloc((size_t)opts->group_max, sizeof *self->pend)) ||
        !(self->in = calloc((size_t)opts->group_max, sizeof *self->in)))
        goto fail;
    if (!(self->prep = prep_new(ingest_rules(ingest), opts->decode_ahead, &rc))) goto fail;
    self->store = store;
    self->log = log;
    self->ingest = ingest;
    self->dlq = dlq;
    self->dispatch = dispatch;
    self->opts = *opts;
    uint64_t map;
    if ((rc = s_load_peer(self)) == RP_ENOTFOUND) rc = 0;
    if (rc == 0) rc = store_usage(store, &map, &self->used);
    if (rc == 0 && (rc = s_refresh_progress(self)) == 0) return self;
fail:
    if (self) {
        prep_destroy(&self->prep);
        free(self->pend);
        free(self->in);
    }
    free(self);
    if (err) *err = rc;
    return NULL;
}

static void s_pending_clear(commit_t *self)
{
    for (int i = 0; i < self->npend; i++) {
        for (int j = 0; j < self->pend[i].nparts; j++) zmq_msg_close(&self->pend[i].parts[j]);
        reply_destroy(&self->pend[i].reply);
    }
    self->npend = 0;
}

void commit_destroy(commit_t **self_p)
{
    if (!self_p || !*self_p) return;
    s_pending_clear(*self_p);
    prep_destroy(&(*self_p)->prep);
    free((*self_p)->pend);
    free((*self_p)->in);
    free(*self_p);
    *self_p = NULL;
}

/* Collects waiting frames from one ingest socket. */
static void s_collect(commit_t *self, void *sock, int acked)
{
    while (self->npend < self->opts.group_max) {
        pending_t *p = &self->pend[self->npend];
        int truncated;
        int n = daemon_recv_parts(sock, p->parts, MAX_PARTS, &truncated);
        if (n <= 0) return;
        if (truncated || (acked && n < 2)) {
            log_warn("dropping ingest message with %s parts", truncated ? "too many" : "too few");
            for (int j = 0; j < n; j++) zmq_msg_close(&p->parts[j]);
            continue;
        }
        p->nparts = n;
        p->acked = acked;
        /* Who sent it: the producer's key when keyed (the ZAP handler's user
         * id), else its address. Dead letters keep a quota per source. */
        const char *peer = zmq_msg_gets(&p->parts[n - 1], "Peer-Address");
        const char *key = zmq_msg_gets(&p->parts[n - 1], "User-Id");
        if (key && *key)
            snprintf(p->source, sizeof p->source, "%s key %s", acked ? "ingest" : "ingest-pull",
                     key);
        else
            snprintf(p->source, sizeof p->source, "%s %s", acked ? "ingest" : "ingest-pull",
                     peer ? peer : "local");
        reply_init(&p->reply);
        self->npend++;
    }
}

/* Collects acknowledgements from the reducer. */
static void s_collect_acks(commit_t *self, void *sock)
{
    if (!sock) return;
    int cap = (int)(sizeof self->ack_ids / sizeof self->ack_ids[0]);
    while (self->nacks + FRAME_MAX_ACKS <= cap) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return;
        }
        char why[160];
        msgpack_unpacked unp;
        ack_t a;
        if (frame_ack_decode(zmq_msg_data(&m), zmq_msg_size(&m), &unp, &a, why, sizeof why)) {
            self->st.bad_ack_frames++;
            log_warn("dropping bad ACK frame: %s", why);
        } else if (s_ack_is_ours(self, &a)) {
            /* The window slot is free on receipt: the reducer holds the
             * batch. Its prune commits with the next group; should that
             * commit fail or the process stop first, the batch is sent
             * again and the reducer, which de-duplicates, acknowledges it
             * again. */
            for (uint32_t i = 0; i < a.n; i++) {
                self->ack_ids[self->nacks++] = a.ids[i].via.u64;
                dispatch_acked(self->dispatch, a.ids[i].via.u64);
            }
            self->st.acks_received += a.n;
        }
        msgpack_unpacked_destroy(&unp);
        zmq_msg_close(&m);
    }
}

/* Every module that keeps counters of its own beside the tables it writes
 * (provisional while the transaction is open) keeps or rolls them back here,
 * the one place a write transaction of the state process ends. */
static void s_txn_end(commit_t *self, int committed)
{
    if (committed) {
        changelog_committed(self->log);
        dlq_committed(self->dlq);
    } else {
        changelog_aborted(self->log);
        dlq_aborted(self->dlq);
    }
}

/* Between two frames of a long group: the batches committed before it go
 * out to the mappers and the reducer's ACKs come in, so that aggregation
 * keeps pace with ingest instead of waiting for the commit (measured: with
 * the work socket served only between commits, a third of the batches of a
 * 1M-message run were still to aggregate when ingest ended). The write
 * transaction is open: dispatch reads the committed batches in a read
 * transaction of its own (MDB_NOTLS), and no ACK may bind a reducer now
 * (that is a write). */
static void s_serve_between_frames(commit_t *self)
{
    double now = clock_mono_s();
    if (now - self->served_s < self->opts.serve_ms / 1000.0) return;
    self->served_s = now;
    if (self->bound) s_collect_acks(self, self->acks_sock);
    int rc = dispatch_run(self->dispatch, self->progress.watermark, clock_mono_ms());
    if (rc) log_error("dispatch: %s", rp_strerror(rc));
}

/* Applies every collected frame and ack in one transaction: the argument of
 * store_commit_or_grow, so it leaves nothing behind when it fails. */
static int s_apply_group(void *arg)
{
    commit_t *self = arg;
    MDB_txn *txn = NULL;
    /* The second thread decodes frame i+1.. while this one applies frame i:
     * what LMDB costs and what checking the messages costs overlap. */
    for (int i = 0; i < self->npend; i++) {
        zmq_msg_t *payload = &self->pend[i].parts[self->pend[i].nparts - 1];
        int fits = (int64_t)zmq_msg_size(payload) <= self->opts.max_frame;
        self->in[i] = (prep_input_t){fits ? zmq_msg_data(payload) : NULL, zmq_msg_size(payload)};
    }
    prep_start(self->prep, self->in, self->npend);
    int rc = store_begin(self->store, 0, &txn);
    for (int i = 0; rc == 0 && i < self->npend; i++) {
        pending_t *p = &self->pend[i];
        zmq_msg_t *payload = &p->parts[p->nparts - 1];
        reply_destroy(&p->reply);
        reply_init(&p->reply);
        if (!self->in[i].buf) {
            char why[128];
            snprintf(why, sizeof why, "frame of %zu bytes exceeds the limit of %lld bytes",
                     zmq_msg_size(payload), (long long)self->opts.max_frame);
            reply_reject(&p->reply, 0, why);
            rc = dlq_add(self->dlq, txn, zmq_msg_data(payload), zmq_msg_size(payload), 0, why,
                         p->source);
            continue;
        }
        const prep_frame_t *f;
        if ((rc = prep_take(self->prep, i, &f)) == 0)
            rc = ingest_apply(self->ingest, txn, f, zmq_msg_data(payload), zmq_msg_size(payload),
                              p->source, &p->reply);
        s_serve_between_frames(self);
    }
    prep_finish(self->prep);
    for (int i = 0; rc == 0 && i < self->nacks; i++) {
        int pruned;
        rc = changelog_ack(self->log, txn, self->ack_ids[i], &pruned);
        self->st.batches_pruned += pruned;
    }
    if (rc == 0) rc = changelog_cut(self->log, txn);
    chaos_point(0, "before commit");
    if (rc == 0) rc = store_commit(&txn);
    store_abort(&txn);
    s_txn_end(self, rc == 0);
    return rc;
}

static void s_send_replies(commit_t *self, void *router)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (int i = 0; i < self->npend; i++) {
        pending_t *p = &self->pend[i];
        self->st.frames++;
        self->st.accepted += (long long)p->reply.accepted;
        self->st.duplicates += (long long)p->reply.duplicates;
        self->st.conflicts += (long long)p->reply.conflicts;
        self->st.rejected += (long long)p->reply.rejected;
        if (!p->acked) continue;
        msgpack_sbuffer_clear(&sb);
        reply_encode(&p->reply, &sb);
        int ok = 1;
        for (int j = 0; j < p->nparts - 1 && ok; j++) /* echo the routing envelope */
            ok = zmq_send(router, zmq_msg_data(&p->parts[j]), zmq_msg_size(&p->parts[j]),
                          ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0;
        if (ok) ok = zmq_send(router, sb.data, sb.size, ZMQ_DONTWAIT) >= 0;
        if (!ok) log_warn("ingest reply not delivered: %s", zmq_strerror(errno));
    }
    msgpack_sbuffer_destroy(&sb);
}

/* Over the lag limit, acknowledged frames are answered "busy, retry" without
 * being read further, and fire-and-forget frames wait in their socket (whose
 * high-water mark then pushes back on the producers): memory stays bounded
 * while the mappers or the reducer are away. */
static void s_refuse_busy(commit_t *self, void *router)
{
    char why[160];
    snprintf(why, sizeof why, "busy, retry: %llu changes wait for the mappers and reducer",
             (unsigned long long)(self->progress.committed - self->progress.applied));
    s_collect(self, router, 1);
    for (int i = 0; i < self->npend; i++) reply_retry(&self->pend[i].reply, why);
    self->st.busy_replies += self->npend;
    s_send_replies(self, router);
    s_pending_clear(self);
}

/* Grows the map between commits when the next group might not fit (room
 * for twice what the last one added): a group that finds the map full is
 * aborted and applied again after growing, which cost 0.35 s of a 3.3 s run
 * of 1M messages the one time the 256 MB map filled. */
static void s_grow_ahead(commit_t *self)
{
    uint64_t map, used;
    if (store_usage(self->store, &map, &used)) return;
    uint64_t added = used > self->used ? used - self->used : 0;
    self->used = used;
    while (used + 2 * added > map && map < self->opts.map_max) {
        int rc = store_grow(self->store, self->opts.map_max);
        if (rc) {
            log_warn("cannot grow the LMDB map ahead of the next commit: %s", rp_strerror(rc));
            return;
        }
        map = store_map_size(self->store);
    }
}

int commit_cycle(commit_t *self, void *router, void *pull, void *acks)
{
    if (self->progress.committed - self->progress.applied >= self->opts.max_lag) {
        s_refuse_busy(self, router);
    } else {
        s_collect(self, router, 1);
        s_collect(self, pull, 0);
    }
    self->acks_sock = acks;
    s_collect_acks(self, acks);
    if (!self->npend && !self->nacks) return 0;
    chaos_roll(3);
    double t0 = clock_mono_s();
    int rc = store_commit_or_grow(self->store, self->opts.map_max, s_apply_group, self);
    metrics_hist_observe(&self->st.duration, clock_mono_s() - t0);
    if (rc) {
        self->st.commit_failures++;
        log_error("commit failed: %s; %d frame(s) answered with retry", rp_strerror(rc),
                  self->npend);
        /* A full disk shows up as ENOSPC ("storage full"), or as EIO from a
         * short write ("database error (LMDB: Input/output error)"). */
        char why[256];
        snprintf(why, sizeof why, "%s, retry later", rp_strerror(rc));
        for (int i = 0; i < self->npend; i++) reply_retry(&self->pend[i].reply, why);
    } else {
        self->st.commits++;
        self->nacks = 0;
        s_grow_ahead(self);
        /* what a producer waits for to see its messages in the aggregates */
        uint64_t seq = changelog_last_seq(self->log);
        for (int i = 0; i < self->npend; i++) self->pend[i].reply.seq = seq;
    }
    chaos_point(1, "after commit, before acknowledging the producers");
    s_send_replies(self, router);
    s_pending_clear(self);
    int prc = s_refresh_progress(self);
    if (prc) log_error("cannot read progress: %s", rp_strerror(prc));
    return rc;
}

const changelog_progress_t *commit_progress(const commit_t *self)
{
    return &self->progress;
}

const commit_stats_t *commit_stats(const commit_t *self)
{
    return &self->st;
}

int commit_stats_fill(void *arg, ctl_stat_t *out, int cap)
{
    const commit_t *self = arg;
    const commit_stats_t *c = &self->st;
    const changelog_progress_t *p = &self->progress;
    const dispatch_stats_t *d = dispatch_stats(self->dispatch);
    long long v[CTL_S_COUNT] = {
        [CTL_S_FRAMES] = c->frames,
        [CTL_S_ACCEPTED] = c->accepted,
        [CTL_S_DUPLICATES] = c->duplicates,
        [CTL_S_CONFLICTS] = c->conflicts,
        [CTL_S_REJECTED] = c->rejected,
        [CTL_S_COMMITS] = c->commits,
        [CTL_S_COMMIT_FAILURES] = c->commit_failures,
        [CTL_S_COMMITTED_SEQ] = (long long)p->committed,
        [CTL_S_APPLIED_SEQ] = (long long)p->applied,
        [CTL_S_LAG] = (long long)(p->committed - p->applied),
        [CTL_S_BATCHES_NEXT_ID] = (long long)p->next_batch,
        [CTL_S_WATERMARK] = (long long)p->watermark,
        [CTL_S_BATCHES_UNACKED] = (long long)p->unacked_batches,
        [CTL_S_BATCHES_INFLIGHT] = dispatch_inflight(self->dispatch),
        [CTL_S_BATCHES_DISPATCHED] = (long long)d->dispatched,
        [CTL_S_BATCHES_REDELIVERED] = (long long)d->redelivered,
        [CTL_S_BATCHES_ACKED] = (long long)d->acked,
        [CTL_S_ACKS_STALE] = (long long)d->stale_acks,
        [CTL_S_ACKS_RECEIVED] = c->acks_received,
        [CTL_S_BAD_ACK_FRAMES] = c->bad_ack_frames,
        [CTL_S_BUSY_REPLIES] = c->busy_replies,
        [CTL_S_DLQ_ADDED] = (long long)dlq_added(self->dlq),
        [CTL_S_FOREIGN_ACKS] = c->foreign_acks,
        [CTL_S_REFUSED_PEERS] = daemon_refused_peers(),
        [CTL_S_DLQ_EVICTED] = (long long)dlq_evicted(self->dlq),
        [CTL_S_DLQ_ENTRIES] = (long long)self->dlq_entries,
    };
    int n = CTL_S_COUNT < cap ? CTL_S_COUNT : cap;
    for (int i = 0; i < n; i++) out[i] = (ctl_stat_t){ctl_state_names[i], v[i]};
    return n;
}
