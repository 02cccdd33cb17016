/* Aggregate updates. Rows whose count and value both reach zero are deleted,
 * so the table holds only paths with live trades. */
#include "apply.h"
#include "../common/clock.h"
#include "../common/log.h"
#include "../common/rperr.h"
#include "../proto/tables.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One shard's stream: committed values, and provisional ones (p_) inside
 * the open transaction. */
typedef struct {
    uint64_t floor, p_floor;
    uint64_t next, p_next;   /* lowest id >= floor not applied */
    frame_id_t peer, p_peer; /* the state instance whose stream this is */
    int bound, p_bound;
    uint64_t seq, p_seq;     /* the change sequence the aggregate reflects */
} lane_t;

struct apply_t {
    store_t *store;
    uint32_t shards;
    lane_t *lane;          /* one per shard */
    frame_id_t instance;   /* this environment's id, in every ACK */
    msgpack_sbuffer sb;
    pathset_t *changed; /* paths written, for the event streams; or NULL */
};

void apply_reduce_key(uint8_t key[APPLY_KEY_SIZE], uint32_t shard, uint64_t batch)
{
    for (int i = 0; i < 4; i++) key[i] = (uint8_t)(shard >> (24 - 8 * i));
    store_u64_put(key + 4, batch);
}

/* Moves *next past every batch id of shard recorded in the reduce table. */
static int s_skip_applied(apply_t *self, MDB_txn *txn, uint32_t shard, uint64_t *next)
{
    for (;; (*next)++) {
        uint8_t key[APPLY_KEY_SIZE];
        apply_reduce_key(key, shard, *next);
        MDB_val k = {sizeof key, key}, v;
        int rc = store_rc(mdb_get(txn, store_dbi(self->store, RDB_REDUCE), &k, &v));
        if (rc == RP_ENOTFOUND) return 0;
        if (rc) return rc;
    }
}

/* Rows of riskpipe before shards were keyed by the 8-byte batch id alone:
 * they become shard 0's. Returns 0 or a store error. */
static int s_migrate_keys(store_t *store)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    int moved = 0, r;
    int rc = store_begin(store, 0, &txn);
    if (rc == 0) rc = store_rc(mdb_cursor_open(txn, store_dbi(store, RDB_REDUCE), &cur));
    while (rc == 0 && (r = mdb_cursor_get(cur, &k, &v, moved ? MDB_NEXT : MDB_FIRST)) == 0) {
        moved = 1;
        if (k.mv_size != 8) continue;
        uint8_t key[APPLY_KEY_SIZE];
        apply_reduce_key(key, 0, store_u64_get(k.mv_data));
        MDB_val nk = {sizeof key, key};
        /* the value is copied before the row it lives in is deleted */
        void *copy = malloc(v.mv_size ? v.mv_size : 1);
        if (!copy) {
            rc = RP_ENOMEM;
            break;
        }
        memcpy(copy, v.mv_data, v.mv_size);
        MDB_val nv = {v.mv_size, copy};
        rc = store_rc(mdb_cursor_del(cur, 0));
        if (rc == 0) rc = store_rc(mdb_put(txn, store_dbi(store, RDB_REDUCE), &nk, &nv, 0));
        free(copy);
        /* the cursor moved: start over (keys of 12 bytes are skipped) */
        moved = 0;
    }
    if (cur) mdb_cursor_close(cur);
    if (rc == 0) rc = store_commit(&txn);
    store_abort(&txn);
    return rc;
}

apply_t *apply_new(store_t *store, uint32_t shards, int *err)
{
    apply_t *self = calloc(1, sizeof *self);
    MDB_txn *txn = NULL;
    int rc = RP_ENOMEM;
    if (!self || !(self->lane = calloc(shards ? shards : 1, sizeof *self->lane))) goto fail;
    self->store = store;
    self->shards = shards ? shards : 1;
    msgpack_sbuffer_init(&self->sb);
    MDB_dbi meta = store_dbi(store, RDB_META);
    if ((rc = store_meta_instance(store, meta, TABLES_META_INSTANCE, self->instance.b)) ||
        (rc = s_migrate_keys(store)))
        goto fail;
    int has_data = 0;
    for (uint32_t s = 0; s < self->shards; s++) {
        lane_t *l = &self->lane[s];
        char kf[TABLES_SHARD_KEY_MAX], ks[TABLES_SHARD_KEY_MAX], kp[TABLES_SHARD_KEY_MAX];
        tables_shard_key(kf, TABLES_META_FLOOR, s);
        tables_shard_key(ks, TABLES_META_APPLIED_SEQ, s);
        tables_shard_key(kp, TABLES_META_PEER, s);
        store_meta_u64_t load[] = {{kf, &l->floor, 0}, {ks, &l->seq, 0}};
        if ((rc = store_meta_load(store, meta, load, 2))) goto fail;
        l->p_floor = l->floor;
        l->p_seq = l->seq;
        /* Batch ids start at 1; skip over rows already applied above the floor. */
        l->next = l->floor ? l->floor : 1;
        if ((rc = store_begin(store, 1, &txn)) || (rc = s_skip_applied(self, txn, s, &l->next)))
            goto fail;
        rc = store_meta_get_raw(txn, meta, kp, l->peer.b, FRAME_ID_SIZE);
        if (rc && rc != RP_ENOTFOUND) goto fail;
        l->bound = rc == 0;
        l->p_peer = l->peer;
        l->p_bound = l->bound;
        l->p_next = l->next;
        store_abort(&txn);
        if (l->bound || l->floor || l->seq) has_data = 1;
    }
    char why[300];
    if ((rc = tables_meta_shards(store, meta, has_data, TABLES_NO_SHARD, self->shards, why,
                                 sizeof why))) {
        log_error("%s", why);
        goto fail;
    }
    return self;
fail:
    store_abort(&txn);
    apply_destroy(&self); /* accepts NULL and a half-made one */
    if (err) *err = rc;
    return NULL;
}

void apply_destroy(apply_t **self_p)
{
    if (!self_p || !*self_p) return;
    msgpack_sbuffer_destroy(&(*self_p)->sb);
    free((*self_p)->lane);
    free(*self_p);
    *self_p = NULL;
}

static int s_delta(apply_t *self, MDB_txn *txn, const delta_t *d)
{
    MDB_dbi adb = store_dbi(self->store, RDB_AGGREGATE);
    MDB_val k = {d->path_len, (void *)d->path}, v;
    money_sum_t value = 0;
    int64_t count = 0;
    int rc = mdb_get(txn, adb, &k, &v);
    if (rc == 0) {
        if (tables_agg_decode(v.mv_data, v.mv_size, &value, &count)) {
            log_error("aggregate row '%.*s' is unreadable", (int)d->path_len, d->path);
            return RP_EPROTO;
        }
    } else if (rc != MDB_NOTFOUND) {
        return store_rc(rc);
    }
    if (__builtin_add_overflow(value, d->delta, &value) ||
        __builtin_add_overflow(count, d->count, &count)) {
        log_error("aggregate row '%.*s' would overflow; batch refused", (int)d->path_len,
                  d->path);
        return RP_ERANGE;
    }
    /* a failed add marks the set overflowed: the streams then re-read all */
    if (self->changed) (void)pathset_add(self->changed, d->path, d->path_len);
    if (value == 0 && count == 0)
        return rc == 0 ? store_rc(mdb_del(txn, adb, &k, NULL)) : 0;
    msgpack_sbuffer_clear(&self->sb);
    tables_agg_encode(&self->sb, value, count);
    v.mv_size = self->sb.size;
    v.mv_data = self->sb.data;
    return store_rc(mdb_put(txn, adb, &k, &v, 0));
}

int apply_check(const apply_t *self, const result_t *r, char *why, size_t whylen)
{
    char got[2 * FRAME_ID_SIZE + 1], want[2 * FRAME_ID_SIZE + 1];
    frame_id_format(&r->state, got);
    if (r->pos.shards != self->shards) {
        snprintf(why, whylen,
                 "RESULT of batch %llu comes from shard %u of a pipeline of %u state shard(s), "
                 "but this reducer's pipeline has %u (--shards): a state of another pipeline",
                 (unsigned long long)r->batch_id, r->pos.shard, r->pos.shards, self->shards);
        return RP_EPROTO;
    }
    const lane_t *l = &self->lane[r->pos.shard];
    if (l->p_bound) {
        if (frame_id_eq(&r->state, &l->p_peer)) return 0;
        frame_id_format(&l->p_peer, want);
        snprintf(why, whylen,
                 "RESULT of batch %llu of shard %u belongs to state instance %s, but this "
                 "reducer applies %s for that shard: a mapper of another pipeline, or a state "
                 "whose data was replaced (then rebuild this reducer from it: riskctl rebuild)",
                 (unsigned long long)r->batch_id, r->pos.shard, got, want);
        return RP_EPROTO;
    }
    if (l->p_floor > 0 || l->p_next > 1 || r->watermark <= 1) return 0;
    snprintf(why, whylen,
             "this reducer has applied nothing of shard %u, but state instance %s has batches "
             "below %llu applied by another reducer: this reducer's data was lost or is new. "
             "Stop it and rebuild it from the state's tables: riskctl rebuild --state-data DIR "
             "--reducer-data DIR",
             r->pos.shard, got, (unsigned long long)r->watermark);
    return RP_EINVAL;
}

const frame_id_t *apply_instance(const apply_t *self)
{
    return &self->instance;
}

const frame_id_t *apply_peer(const apply_t *self, uint32_t shard)
{
    return &self->lane[shard < self->shards ? shard : 0].p_peer;
}

uint32_t apply_shards(const apply_t *self)
{
    return self->shards;
}

int apply_result(apply_t *self, MDB_txn *txn, const result_t *r, int *duplicate)
{
    MDB_dbi rdb = store_dbi(self->store, RDB_REDUCE);
    MDB_dbi meta = store_dbi(self->store, RDB_META);
    uint32_t shard = r->pos.shard;
    lane_t *l = &self->lane[shard]; /* apply_check checked it */
    uint8_t key[APPLY_KEY_SIZE];
    char mk[TABLES_SHARD_KEY_MAX];
    apply_reduce_key(key, shard, r->batch_id);
    MDB_val k = {sizeof key, key}, v;
    *duplicate = 1;
    if (r->batch_id < l->p_floor) return 0;
    int rc = mdb_get(txn, rdb, &k, &v);
    if (rc == 0) return 0;
    if (rc != MDB_NOTFOUND) return store_rc(rc);
    *duplicate = 0;
    if (!l->p_bound) { /* the first batch applied binds this shard's stream to its state */
        tables_shard_key(mk, TABLES_META_PEER, shard);
        if ((rc = store_meta_put_raw(txn, meta, mk, r->state.b, FRAME_ID_SIZE))) return rc;
        l->p_peer = r->state;
        l->p_bound = 1;
    }
    for (uint32_t i = 0; i < r->n; i++) {
        delta_t d;
        frame_delta_at(r, i, &d);
        if ((rc = s_delta(self, txn, &d))) return rc;
    }
    msgpack_sbuffer_clear(&self->sb);
    tables_reduce_encode(&self->sb, r->batch_id, r->mapper_id, r->mapper_id_len, r->nchanges,
                         r->n, clock_wall_ms());
    v.mv_size = self->sb.size;
    v.mv_data = self->sb.data;
    if ((rc = store_rc(mdb_put(txn, rdb, &k, &v, 0)))) return rc;
    /* Batches are applied in id order and cover contiguous sequence ranges,
     * so the last one applied says which prefix of the log the aggregate is. */
    if (r->pos.last_seq > l->p_seq) {
        tables_shard_key(mk, TABLES_META_APPLIED_SEQ, shard);
        if ((rc = store_meta_put(txn, meta, mk, r->pos.last_seq))) return rc;
        l->p_seq = r->pos.last_seq;
    }
    /* advance past this batch and any applied ahead of it */
    if (r->batch_id == l->p_next) return s_skip_applied(self, txn, shard, &l->p_next);
    return 0;
}

int apply_prune(apply_t *self, MDB_txn *txn, uint32_t shard, uint64_t watermark,
                uint64_t *pruned)
{
    *pruned = 0;
    if (shard >= self->shards) return RP_EINVAL;
    lane_t *l = &self->lane[shard];
    if (watermark <= l->p_floor) return 0;
    MDB_cursor *cur;
    int rc = store_rc(mdb_cursor_open(txn, store_dbi(self->store, RDB_REDUCE), &cur));
    if (rc) return rc;
    uint8_t key[APPLY_KEY_SIZE];
    apply_reduce_key(key, shard, 0);
    MDB_val k = {sizeof key, key}, v;
    int r;
    /* this shard's rows are contiguous, in id order */
    while ((r = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE)) == 0 &&
           k.mv_size == APPLY_KEY_SIZE && memcmp(k.mv_data, key, 4) == 0 &&
           store_u64_get((const uint8_t *)k.mv_data + 4) < watermark) {
        if ((r = mdb_cursor_del(cur, 0))) break;
        (*pruned)++;
        k = (MDB_val){sizeof key, key};
    }
    mdb_cursor_close(cur);
    if (r != 0 && r != MDB_NOTFOUND) return store_rc(r);
    l->p_floor = watermark;
    if (l->p_next < watermark) l->p_next = watermark;
    char mk[TABLES_SHARD_KEY_MAX];
    tables_shard_key(mk, TABLES_META_FLOOR, shard);
    return store_meta_put(txn, store_dbi(self->store, RDB_META), mk, watermark);
}

void apply_watch(apply_t *self, pathset_t *changed)
{
    self->changed = changed;
}

void apply_committed(apply_t *self)
{
    if (self->changed) pathset_mark(self->changed);
    for (uint32_t s = 0; s < self->shards; s++) {
        lane_t *l = &self->lane[s];
        l->floor = l->p_floor;
        l->next = l->p_next;
        l->peer = l->p_peer;
        l->bound = l->p_bound;
        l->seq = l->p_seq;
    }
}

void apply_aborted(apply_t *self)
{
    if (self->changed) pathset_rollback(self->changed);
    for (uint32_t s = 0; s < self->shards; s++) {
        lane_t *l = &self->lane[s];
        l->p_floor = l->floor;
        l->p_next = l->next;
        l->p_peer = l->peer;
        l->p_bound = l->bound;
        l->p_seq = l->seq;
    }
}

uint64_t apply_next(const apply_t *self, uint32_t shard)
{
    return shard < self->shards ? self->lane[shard].p_next : 0;
}

uint64_t apply_seq(const apply_t *self, uint32_t shard)
{
    return shard < self->shards ? self->lane[shard].seq : 0;
}

uint64_t apply_seq_total(const apply_t *self)
{
    uint64_t t = 0;
    for (uint32_t s = 0; s < self->shards; s++) t += self->lane[s].seq;
    return t;
}

uint64_t apply_floor(const apply_t *self, uint32_t shard)
{
    return shard < self->shards ? self->lane[shard].floor : 0;
}
