/* Aggregate updates. Rows whose count and value both reach zero are deleted,
 * so the table holds only paths with live trades. */
#include "apply.h"
#include "../common/clock.h"
#include "../common/log.h"
#include "../common/rperr.h"
#include "../proto/tables.h"

#include <stdio.h>
#include <stdlib.h>

struct apply_t {
    store_t *store;
    uint64_t floor, p_floor;
    uint64_t next, p_next; /* lowest id >= floor not applied */
    frame_id_t instance;   /* this environment's id, in every ACK */
    frame_id_t peer, p_peer; /* the state instance whose stream this is */
    int bound, p_bound;
    uint64_t seq, p_seq; /* the change sequence the aggregate reflects */
    msgpack_sbuffer sb;
    pathset_t *changed; /* paths written, for the event streams; or NULL */
};

/* Moves *next past every batch id recorded in the reduce table. */
static int s_skip_applied(apply_t *self, MDB_txn *txn, uint64_t *next)
{
    for (;; (*next)++) {
        uint8_t key[8];
        store_u64_put(key, *next);
        MDB_val k = {8, key}, v;
        int rc = store_rc(mdb_get(txn, store_dbi(self->store, RDB_REDUCE), &k, &v));
        if (rc == RP_ENOTFOUND) return 0;
        if (rc) return rc;
    }
}

apply_t *apply_new(store_t *store, int *err)
{
    apply_t *self = calloc(1, sizeof *self);
    MDB_txn *txn = NULL;
    int rc = RP_ENOMEM;
    if (!self) goto fail;
    self->store = store;
    msgpack_sbuffer_init(&self->sb);
    MDB_dbi meta = store_dbi(store, RDB_META);
    store_meta_u64_t load[] = {{TABLES_META_FLOOR, &self->floor, 0},
                               {TABLES_META_APPLIED_SEQ, &self->seq, 0}};
    if ((rc = store_meta_load(store, meta, load, 2)) ||
        (rc = store_meta_instance(store, meta, TABLES_META_INSTANCE, self->instance.b)))
        goto fail;
    self->p_floor = self->floor;
    self->p_seq = self->seq;
    /* Batch ids start at 1; skip over rows already applied above the floor. */
    self->next = self->floor ? self->floor : 1;
    if ((rc = store_begin(store, 1, &txn)) || (rc = s_skip_applied(self, txn, &self->next)))
        goto fail;
    rc = store_meta_get_raw(txn, meta, TABLES_META_PEER, self->peer.b, FRAME_ID_SIZE);
    if (rc && rc != RP_ENOTFOUND) goto fail;
    self->bound = rc == 0;
    self->p_peer = self->peer;
    self->p_bound = self->bound;
    self->p_next = self->next;
    store_abort(&txn);
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
    if (self->p_bound) {
        if (frame_id_eq(&r->state, &self->p_peer)) return 0;
        frame_id_format(&self->p_peer, want);
        snprintf(why, whylen,
                 "RESULT of batch %llu belongs to state instance %s, but this reducer applies "
                 "%s: a mapper of another pipeline, or a state whose data was replaced (then "
                 "rebuild this reducer from it: riskctl rebuild)",
                 (unsigned long long)r->batch_id, got, want);
        return RP_EPROTO;
    }
    if (self->p_floor > 0 || self->p_next > 1 || r->watermark <= 1) return 0;
    snprintf(why, whylen,
             "this reducer has applied nothing, but state instance %s has batches below %llu "
             "applied by another reducer: this reducer's data was lost or is new. Stop it and "
             "rebuild it from the state's tables: riskctl rebuild --state-data DIR "
             "--reducer-data DIR",
             got, (unsigned long long)r->watermark);
    return RP_EINVAL;
}

const frame_id_t *apply_instance(const apply_t *self)
{
    return &self->instance;
}

const frame_id_t *apply_peer(const apply_t *self)
{
    return &self->p_peer;
}

int apply_result(apply_t *self, MDB_txn *txn, const result_t *r, int *duplicate)
{
    MDB_dbi rdb = store_dbi(self->store, RDB_REDUCE);
    uint8_t key[8];
    store_u64_put(key, r->batch_id);
    MDB_val k = {8, key}, v;
    *duplicate = 1;
    if (r->batch_id < self->p_floor) return 0;
    int rc = mdb_get(txn, rdb, &k, &v);
    if (rc == 0) return 0;
    if (rc != MDB_NOTFOUND) return store_rc(rc);
    *duplicate = 0;
    if (!self->p_bound) { /* the first batch applied binds this reducer to its state */
        if ((rc = store_meta_put_raw(txn, store_dbi(self->store, RDB_META), TABLES_META_PEER,
                                     r->state.b, FRAME_ID_SIZE)))
            return rc;
        self->p_peer = r->state;
        self->p_bound = 1;
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
    if (r->pos.last_seq > self->p_seq) {
        if ((rc = store_meta_put(txn, store_dbi(self->store, RDB_META), TABLES_META_APPLIED_SEQ,
                                 r->pos.last_seq)))
            return rc;
        self->p_seq = r->pos.last_seq;
    }
    /* advance past this batch and any applied ahead of it */
    if (r->batch_id == self->p_next) return s_skip_applied(self, txn, &self->p_next);
    return 0;
}

int apply_prune(apply_t *self, MDB_txn *txn, uint64_t watermark, uint64_t *pruned)
{
    *pruned = 0;
    if (watermark <= self->p_floor) return 0;
    MDB_cursor *cur;
    int rc = store_rc(mdb_cursor_open(txn, store_dbi(self->store, RDB_REDUCE), &cur));
    if (rc) return rc;
    MDB_val k, v;
    int r;
    while ((r = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0 && k.mv_size == 8 &&
           store_u64_get(k.mv_data) < watermark) {
        if ((r = mdb_cursor_del(cur, 0))) break;
        (*pruned)++;
    }
    mdb_cursor_close(cur);
    if (r != 0 && r != MDB_NOTFOUND) return store_rc(r);
    self->p_floor = watermark;
    if (self->p_next < watermark) self->p_next = watermark;
    return store_meta_put(txn, store_dbi(self->store, RDB_META), TABLES_META_FLOOR, watermark);
}

void apply_watch(apply_t *self, pathset_t *changed)
{
    self->changed = changed;
}

void apply_committed(apply_t *self)
{
    if (self->changed) pathset_mark(self->changed);
    self->floor = self->p_floor;
    self->next = self->p_next;
    self->peer = self->p_peer;
    self->bound = self->p_bound;
    self->seq = self->p_seq;
}

void apply_aborted(apply_t *self)
{
    if (self->changed) pathset_rollback(self->changed);
    self->p_floor = self->floor;
    self->p_next = self->next;
    self->p_peer = self->peer;
    self->p_bound = self->bound;
    self->p_seq = self->seq;
}

uint64_t apply_next(const apply_t *self)
{
    return self->p_next;
}

uint64_t apply_seq(const apply_t *self)
{
    return self->seq;
}

uint64_t apply_floor(const apply_t *self)
{
    return self->floor;
}
