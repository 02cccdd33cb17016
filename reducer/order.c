/* Sorting, holding and applying RESULT frames in batch id order; see
 * order.h. */
#include "order.h"
#include "../common/chaos.h"
#include "../common/clock.h"
#include "../common/log.h"
#include "../common/rperr.h"
#include "../proto/frame.h"
#include "../svc/daemon.h"

#include <czmq.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Per-mapper counters, from the mapper id carried by every RESULT frame:
 * mappers have no control endpoint of their own. */
typedef struct {
    char name[FRAME_MAPPER_ID_MAX + 24];
    char idle_name[FRAME_MAPPER_ID_MAX + 24];
    long long batches;
    int64_t last_ms;
} mapper_seen_t;

enum { ST_BAD, ST_ACK, ST_HOLD, ST_FOREIGN };

/* A frame's place in the sorted group. */
typedef struct {
    uint64_t id;
    uint32_t shard;
    int idx, status;
} slot_t;

struct order_t {
    store_t *store;
    apply_t *apply;
    int group_max;
    size_t map_max;
    zmq_msg_t *msgs;  /* held frames first (nheld), then newly received ones */
    zmq_msg_t *spare; /* same capacity, for compacting msgs */
    int nmsgs, nheld;
    slot_t *slots;
    uint64_t *ids; /* batch ids to acknowledge after the commit */
    uint32_t *id_shard; /* per id: its shard (ids are grouped by shard) */
    uint64_t *commit_us; /* per id: the state's commit time when applied now, else 0 */
    uint64_t *g_head_seq, *g_watermark; /* per shard, in the group being applied */
    uint32_t nids;
    /* outcome of the last s_apply_group, counted once it committed */
    long long g_applied, g_dups, g_deltas, g_changes, g_foreign, g_refused;
    uint64_t g_pruned;
    mapper_seen_t mappers[ORDER_MAPPERS_SEEN];
    char shard_names[ORDER_SHARD_STATS][3][32]; /* "shard S applied_seq", next_batch, lag */
    order_stats_t st;
};

order_t *order_new(store_t *store, apply_t *apply, int group_max, size_t map_max)
{
    order_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    size_t cap = (size_t)group_max + ORDER_HOLD_MAX;
    self->store = store;
    self->apply = apply;
    self->group_max = group_max;
    self->map_max = map_max;
    for (int sh = 0; sh < ORDER_SHARD_STATS; sh++) {
        snprintf(self->shard_names[sh][0], 32, "shard %d applied_seq", sh);
        snprintf(self->shard_names[sh][1], 32, "shard %d next_batch", sh);
        snprintf(self->shard_names[sh][2], 32, "shard %d lag", sh);
    }
    self->msgs = calloc(cap, sizeof *self->msgs);
    self->spare = calloc(cap, sizeof *self->spare);
    self->slots = calloc(cap, sizeof *self->slots);
    self->ids = calloc(cap, sizeof *self->ids);
    self->id_shard = calloc(cap, sizeof *self->id_shard);
    self->commit_us = calloc(cap, sizeof *self->commit_us);
    self->g_head_seq = calloc(apply_shards(apply), sizeof *self->g_head_seq);
    self->g_watermark = calloc(apply_shards(apply), sizeof *self->g_watermark);
    if (!self->msgs || !self->spare || !self->slots || !self->ids || !self->id_shard ||
        !self->commit_us || !self->g_head_seq || !self->g_watermark)
        order_destroy(&self);
    return self;
}

void order_destroy(order_t **self_p)
{
    if (!self_p || !*self_p) return;
    order_t *self = *self_p;
    for (int i = 0; self->msgs && i < self->nmsgs; i++) zmq_msg_close(&self->msgs[i]);
    free(self->msgs);
    free(self->spare);
    free(self->slots);
    free(self->ids);
    free(self->id_shard);
    free(self->commit_us);
    free(self->g_head_seq);
    free(self->g_watermark);
    free(self);
    *self_p = NULL;
}

static void s_collect(order_t *self, void *results)
{
    while (self->nmsgs < self->nheld + self->group_max) {
        zmq_msg_t *m = &self->msgs[self->nmsgs];
        zmq_msg_init(m);
        if (zmq_msg_recv(m, results, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(m);
            return;
        }
        self->nmsgs++;
    }
}

static void s_count_mapper(order_t *self, const char *id, size_t len)
{
    char name[sizeof self->mappers[0].name];
    snprintf(name, sizeof name, "mapper %.*s batches", (int)len, id);
    int slot = 0;
    for (int i = 0; i < ORDER_MAPPERS_SEEN; i++) {
        if (strcmp(self->mappers[i].name, name) == 0) {
            slot = i;
            break;
        }
        if (self->mappers[i].last_ms < self->mappers[slot].last_ms) slot = i; /* least recent */
    }
    mapper_seen_t *m = &self->mappers[slot];
    if (strcmp(m->name, name) != 0) {
        snprintf(m->name, sizeof m->name, "%s", name);
        snprintf(m->idle_name, sizeof m->idle_name, "mapper %.*s idle_ms", (int)len, id);
        m->batches = 0;
    }
    m->batches++;
    m->last_ms = clock_mono_ms();
}

static int s_slot_cmp(const void *a, const void *b)
{
    const slot_t *x = a, *y = b;
    if (x->shard != y->shard) return x->shard < y->shard ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id ? 1 : x->idx - y->idx;
}

/* Sorts the frames by shard and batch id; undecodable ones are marked bad
 * and counted. */
static void s_sort(order_t *self)
{
    for (int i = 0; i < self->nmsgs; i++) {
        char why[160];
        msgpack_unpacked unp;
        result_t res;
        slot_t *o = &self->slots[i];
        o->idx = i;
        o->status = ST_BAD;
        o->id = UINT64_MAX;
        o->shard = UINT32_MAX;
        zmq_msg_t *m = &self->msgs[i];
        if (frame_result_decode(zmq_msg_data(m), zmq_msg_size(m), &unp, &res, why,
                                sizeof why) == 0) {
            o->id = res.batch_id;
            o->shard = res.pos.shard;
            o->status = ST_ACK;
        } else {
            self->st.bad_frames++;
            log_warn("dropping bad RESULT frame (%zu bytes): %s", zmq_msg_size(m), why);
        }
        msgpack_unpacked_destroy(&unp);
    }
    qsort(self->slots, (size_t)self->nmsgs, sizeof *self->slots, s_slot_cmp);
}

/* Applies the sorted frames in batch id order in one transaction; a frame
 * beyond the next expected id is marked ST_HOLD. Fills ids with the batch
 * ids to acknowledge. The argument of store_commit_or_grow: it starts over
 * from the frames each time and leaves nothing behind when it fails. */
static int s_apply_group(void *arg)
{
    order_t *self = arg;
    MDB_txn *txn = NULL;
    uint32_t shards = apply_shards(self->apply);
    int rc = store_begin(self->store, 0, &txn);
    self->nids = 0;
    self->g_applied = self->g_dups = self->g_deltas = self->g_changes = 0;
    self->g_foreign = self->g_refused = 0;
    char first_refusal[512] = "";
    self->g_pruned = 0;
    memset(self->g_head_seq, 0, shards * sizeof *self->g_head_seq);
    memset(self->g_watermark, 0, shards * sizeof *self->g_watermark);
    for (int i = 0; rc == 0 && i < self->nmsgs; i++) {
        slot_t *o = &self->slots[i];
        if (o->status == ST_BAD) continue;
        zmq_msg_t *m = &self->msgs[o->idx];
        char why[160];
        msgpack_unpacked unp;
        result_t res;
        /* decoded once already by s_sort: it cannot fail now */
        frame_result_decode(zmq_msg_data(m), zmq_msg_size(m), &unp, &res, why, sizeof why);
        char refusal[512];
        int chk = apply_check(self->apply, &res, refusal, sizeof refusal);
        if (chk) {
            /* never applied, held or acknowledged: not this reducer's stream */
            o->status = ST_FOREIGN;
            *(chk == RP_EINVAL ? &self->g_refused : &self->g_foreign) += 1;
            if (!first_refusal[0]) snprintf(first_refusal, sizeof first_refusal, "%s", refusal);
        } else if (res.batch_id > apply_next(self->apply, res.pos.shard)) {
            o->status = ST_HOLD;
        } else {
            int dup;
            o->status = ST_ACK;
            /* Only a frame applied now may move the pruning floor, and its
             * watermark is at most its id (frame_result_decode), so the floor
             * never passes a batch this reducer has not applied. */
            uint32_t sh = res.pos.shard; /* < shards: apply_check */
            if (res.watermark > self->g_watermark[sh]) self->g_watermark[sh] = res.watermark;
            rc = apply_result(self->apply, txn, &res, &dup);
            if (rc == 0) {
                self->commit_us[self->nids] = dup ? 0 : res.pos.commit_us;
                self->id_shard[self->nids] = sh;
                self->ids[self->nids++] = res.batch_id;
                if (res.pos.head_seq > self->g_head_seq[sh])
                    self->g_head_seq[sh] = res.pos.head_seq;
                s_count_mapper(self, res.mapper_id, res.mapper_id_len);
                if (dup) {
                    self->g_dups++;
                } else {
                    self->g_applied++;
                    self->g_deltas += res.n;
                    self->g_changes += (long long)res.nchanges;
                }
            }
        }
        msgpack_unpacked_destroy(&unp);
    }
    if (first_refusal[0]) {
        long long n = self->g_foreign + self->g_refused;
        if (self->g_refused) log_error("refusing %lld RESULT frame(s): %s", n, first_refusal);
        else log_warn("dropping %lld RESULT frame(s) of another stream: %s", n, first_refusal);
    }
    for (uint32_t sh = 0; rc == 0 && sh < shards; sh++) {
        uint64_t pruned = 0;
        if (self->g_watermark[sh])
            rc = apply_prune(self->apply, txn, sh, self->g_watermark[sh], &pruned);
        self->g_pruned += pruned;
    }
    chaos_point(0, "mid-apply, before commit");
    if (rc == 0) rc = store_commit(&txn);
    store_abort(&txn);
    if (rc) apply_aborted(self->apply);
    else apply_committed(self->apply);
    return rc;
}

/* Keeps the held frames (one per shard and batch id, at most ORDER_HOLD_MAX frames and
 * ORDER_HOLD_BYTES bytes, lowest ids first) at the front of msgs, in id
 * order, and releases the others (all of them after a failed commit: the
 * state process re-sends what was not acknowledged). */
static void s_keep_held(order_t *self, int ok)
{
    int kept = 0;
    size_t bytes = 0;
    for (int i = 0; i < self->nmsgs; i++) {
        slot_t *o = &self->slots[i];
        zmq_msg_t *m = &self->msgs[o->idx];
        if (ok && o->status == ST_HOLD && kept < ORDER_HOLD_MAX &&
            bytes + zmq_msg_size(m) <= ORDER_HOLD_BYTES &&
            (kept == 0 || o->id != self->slots[i - 1].id ||
             o->shard != self->slots[i - 1].shard)) {
            bytes += zmq_msg_size(m);
            zmq_msg_init(&self->spare[kept]);
            zmq_msg_move(&self->spare[kept++], m);
        }
        zmq_msg_close(m);
    }
    zmq_msg_t *t = self->msgs;
    self->msgs = self->spare;
    self->spare = t;
    self->nheld = self->nmsgs = kept;
}

/* Sends the acknowledgements, each shard's to its own state process: ids
 * are grouped by shard, since the frames were applied in shard order. */
static void s_send_acks(order_t *self, void *const *acks)
{
    for (uint32_t off = 0; off < self->nids;) {
        uint32_t sh = self->id_shard[off], n = 0;
        while (off + n < self->nids && n < FRAME_MAX_ACKS && self->id_shard[off + n] == sh) n++;
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        frame_ack_encode(&sb, apply_peer(self->apply, sh), apply_instance(self->apply),
                         self->ids + off, n);
        /* Never block: a lost ack only causes a re-send that is de-duplicated. */
        if (zmq_send(acks[sh], sb.data, sb.size, ZMQ_DONTWAIT) < 0)
            log_warn("ack send to shard %u: %s (the batches will be re-sent and skipped)", sh,
                     zmq_strerror(errno));
        else
            self->st.acks_sent += n;
        msgpack_sbuffer_destroy(&sb);
        off += n;
    }
}

int order_cycle(order_t *self, void *results, void *const *acks)
{
    s_collect(self, results);
    if (self->nmsgs == self->nheld) return 0; /* nothing new: held frames still wait */
    self->st.frames += self->nmsgs - self->nheld;
    chaos_roll(3);
    s_sort(self);
    double t0 = clock_mono_s();
    int rc = store_commit_or_grow(self->store, self->map_max, s_apply_group, self);
    metrics_hist_observe(&self->st.duration, clock_mono_s() - t0);
    if (rc) {
        self->st.commit_failures++;
        log_error("commit failed: %s; %d result frame(s) dropped for redelivery",
                  rp_strerror(rc), self->nmsgs);
    } else {
        self->st.commits++;
        self->st.applied += self->g_applied;
        self->st.duplicates += self->g_dups;
        self->st.deltas += self->g_deltas;
        self->st.changes += self->g_changes;
        self->st.pruned += (long long)self->g_pruned;
        self->st.foreign += self->g_foreign;
        self->st.refused += self->g_refused;
        for (uint32_t sh = 0; sh < apply_shards(self->apply); sh++)
            if (self->g_head_seq[sh] > self->st.head_seq[sh])
                self->st.head_seq[sh] = self->g_head_seq[sh];
        uint64_t now_us = (uint64_t)clock_wall_us();
        for (uint32_t i = 0; i < self->nids; i++)
            if (self->commit_us[i])
                metrics_hist_observe(&self->st.latency,
                                     (double)(int64_t)(now_us - self->commit_us[i]) / 1e6);
        chaos_point(1, "after commit, before acknowledging");
        s_send_acks(self, acks);
        chaos_point(2, "after acknowledging");
    }
    int before = self->nheld;
    s_keep_held(self, rc == 0);
    if (self->nheld > before) self->st.deferred += self->nheld - before;
    return rc;
}

int order_held(const order_t *self)
{
    return self->nheld;
}

const order_stats_t *order_stats(const order_t *self)
{
    return &self->st;
}

int order_stats_fill(void *arg, ctl_stat_t *out, int cap)
{
    order_t *self = arg;
    const order_stats_t *s = &self->st;
    uint32_t shards = apply_shards(self->apply);
    long long head = 0, lag = 0;
    for (uint32_t sh = 0; sh < shards; sh++) {
        uint64_t applied = apply_seq(self->apply, sh);
        head += (long long)s->head_seq[sh];
        if (s->head_seq[sh] > applied) lag += (long long)(s->head_seq[sh] - applied);
    }
    long long v[CTL_R_COUNT] = {
        [CTL_R_RESULT_FRAMES] = s->frames,
        [CTL_R_BATCHES_APPLIED] = s->applied,
        [CTL_R_BATCHES_DUPLICATE] = s->duplicates,
        [CTL_R_BAD_FRAMES] = s->bad_frames,
        [CTL_R_DELTAS_APPLIED] = s->deltas,
        [CTL_R_CHANGES_APPLIED] = s->changes,
        [CTL_R_COMMITS] = s->commits,
        [CTL_R_COMMIT_FAILURES] = s->commit_failures,
        [CTL_R_REDUCE_ROWS_PRUNED] = s->pruned,
        [CTL_R_ACKS_SENT] = s->acks_sent,
        [CTL_R_FLOOR] = (long long)apply_floor(self->apply, 0),
        [CTL_R_NEXT_BATCH] = (long long)apply_next(self->apply, 0),
        [CTL_R_FRAMES_HELD] = self->nheld,
        [CTL_R_FRAMES_DEFERRED] = s->deferred,
        [CTL_R_FOREIGN_FRAMES] = s->foreign,
        [CTL_R_REFUSED_FRAMES] = s->refused,
        [CTL_R_REFUSED_PEERS] = daemon_refused_peers(),
        [CTL_R_APPLIED_SEQ] = (long long)apply_seq_total(self->apply),
        [CTL_R_STATE_SEQ] = head,
        [CTL_R_LAG] = lag,
        [CTL_R_SHARDS] = shards,
    };
    int k = CTL_R_COUNT < cap ? CTL_R_COUNT : cap;
    for (int i = 0; i < k; i++) out[i] = (ctl_stat_t){ctl_reducer_names[i], v[i]};
    /* with shards, each shard's own: "shard S applied_seq", ... */
    for (uint32_t sh = 0; shards > 1 && sh < shards && sh < ORDER_SHARD_STATS && k + 3 <= cap;
         sh++) {
        uint64_t applied = apply_seq(self->apply, sh);
        out[k++] = (ctl_stat_t){self->shard_names[sh][0], (long long)applied};
        out[k++] = (ctl_stat_t){self->shard_names[sh][1], (long long)apply_next(self->apply, sh)};
        out[k++] = (ctl_stat_t){self->shard_names[sh][2],
                                s->head_seq[sh] > applied ? (long long)(s->head_seq[sh] - applied)
                                                          : 0};
    }
    int64_t now = clock_mono_ms();
    for (int i = 0; i < ORDER_MAPPERS_SEEN && k + 2 <= cap; i++) {
        const mapper_seen_t *m = &self->mappers[i];
        if (!m->name[0]) continue;
        out[k++] = (ctl_stat_t){m->name, m->batches};
        out[k++] = (ctl_stat_t){m->idle_name, now - m->last_ms};
    }
    return k;
}
