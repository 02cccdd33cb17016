/* Change log and batch boundaries in LMDB. Keys are 8-byte big-endian
 * integers so cursors walk them in numeric order.
 *
 * A `log` row holds a run of consecutive change records, keyed by the
 * sequence number of its first: records are gathered in memory and written
 * as rows of at most LOG_ROW_MAX bytes, never across a batch boundary. One
 * put per ~30 records instead of one per record, and a batch pruned with a
 * few deletes: measured on the 1M UUID file (bench-ceiling, 8 commits), the
 * per-record rows cost 15 % of the writer's time. A row of one record (what
 * riskpipe wrote before) is a run of one, so older logs read the same. */
#include "changelog.h"
#include "../proto/mp.h"
#include "../proto/tables.h"
#include "../common/clock.h"
#include "../common/log.h"
#include "../common/rperr.h"

#include <stdlib.h>
#include <string.h>

/* Rows up to this size stay inside a 4 KiB B-tree page (LMDB moves larger
 * values to overflow pages of their own). */
#define LOG_ROW_MAX 1900

struct changelog_t {
    store_t *store;
    uint32_t batch_max;
    /* committed values, and provisional ones inside the open transaction */
    uint64_t next_seq, next_batch, cut_seq;
    uint64_t p_next_seq, p_next_batch, p_cut_seq;
    frame_id_t instance; /* names this change log's stream in every WORK frame */
    uint32_t shard, shards; /* which state shard of the pipeline this is */
    /* records appended since the last write, the first of them seq run_seq */
    char *run;
    size_t run_len, run_cap;
    size_t *run_off; /* where record i of the run starts in run */
    uint32_t run_n;
    uint64_t run_seq;
};

changelog_t *changelog_new(store_t *store, uint32_t batch_max, uint32_t shard, uint32_t shards,
                           int *err)
{
    char why[300];
    changelog_t *self = calloc(1, sizeof *self);
    int rc = RP_ENOMEM;
    if (!self) goto fail;
    self->store = store;
    self->batch_max = batch_max ? batch_max : 1;
    if (!(self->run_off = calloc(self->batch_max + 1, sizeof *self->run_off))) goto fail;
    /* Sequence numbers and batch ids start at 1. */
    store_meta_u64_t load[] = {{TABLES_META_NEXT_SEQ, &self->next_seq, 1},
                               {TABLES_META_NEXT_BATCH, &self->next_batch, 1},
                               {TABLES_META_CUT_SEQ, &self->cut_seq, 0}};
    if ((rc = store_meta_load(store, store_dbi(store, SDB_META), load, 3)) ||
        (rc = store_meta_instance(store, store_dbi(store, SDB_META), TABLES_META_INSTANCE,
                                  self->instance.b)))
        goto fail;
    if ((rc = tables_meta_shards(store, store_dbi(store, SDB_META), self->next_seq > 1, shard,
                                 shards, why, sizeof why))) {
        log_error("%s", why);
        goto fail;
    }
    self->shard = shard;
    self->shards = shards;
    changelog_aborted(self);
    /* Every commit cuts what it appended; records left uncut by an older
     * riskpipe are cut now, so that the rows written from here on start
     * where a batch starts. */
    if (self->cut_seq + 1 < self->next_seq) {
        MDB_txn *txn = NULL;
        if ((rc = store_begin(store, 0, &txn)) == 0 && (rc = changelog_cut(self, txn)) == 0)
            rc = store_commit(&txn);
        store_abort(&txn);
        if (rc) goto fail;
        changelog_committed(self);
    }
    return self;
fail:
    changelog_destroy(&self); /* accepts NULL and a half-made one */
    if (err) *err = rc;
    return NULL;
}

void changelog_destroy(changelog_t **self_p)
{
    if (!self_p || !*self_p) return;
    free((*self_p)->run);
    free((*self_p)->run_off);
    free(*self_p);
    *self_p = NULL;
}

/* Opens a cursor on dbi at the first key >= the big-endian id, filling *k and
 * *v. Returns 0 with *cur open (the caller closes it), RP_ENOTFOUND when no
 * key is that high (nothing left open), or a wrapped LMDB code. */
static int s_seek(MDB_txn *txn, MDB_dbi dbi, uint64_t id, MDB_cursor **cur, MDB_val *k,
                  MDB_val *v)
{
    int rc = store_rc(mdb_cursor_open(txn, dbi, cur));
    if (rc) return rc;
    uint8_t key[8];
    store_u64_put(key, id);
    k->mv_size = 8;
    k->mv_data = key;
    if ((rc = store_rc(mdb_cursor_get(*cur, k, v, MDB_SET_RANGE)))) {
        mdb_cursor_close(*cur);
        *cur = NULL;
    }
    return rc;
}

/* Writes the records gathered in memory as log rows of at most LOG_ROW_MAX
 * bytes each (a larger record alone). Returns 0 or an RP_* store code. */
static int s_write_run(changelog_t *self, MDB_txn *txn)
{
    MDB_dbi dbi = store_dbi(self->store, SDB_LOG);
    self->run_off[self->run_n] = self->run_len;
    for (uint32_t i = 0; i < self->run_n;) {
        uint32_t j = i + 1;
        while (j < self->run_n && self->run_off[j + 1] - self->run_off[i] <= LOG_ROW_MAX) j++;
        uint8_t key[8];
        store_u64_put(key, self->run_seq + i);
        MDB_val k = {8, key};
        MDB_val v = {self->run_off[j] - self->run_off[i], self->run + self->run_off[i]};
        /* Sequence numbers only grow, so MDB_APPEND is valid and fast. */
        int rc = store_rc(mdb_put(txn, dbi, &k, &v, MDB_APPEND));
        if (rc) return rc;
        i = j;
    }
    self->run_seq += self->run_n;
    self->run_n = 0;
    self->run_len = 0;
    return 0;
}

int changelog_append(changelog_t *self, MDB_txn *txn, const change_t *c)
{
    size_t need = self->run_len + FRAME_CHANGE_MAX(c->old_len, c->new_len);
    if (need > self->run_cap) {
        size_t cap = self->run_cap ? self->run_cap : 1 << 16;
        while (cap < need) cap *= 2;
        char *run = realloc(self->run, cap);
        if (!run) return RP_ENOMEM;
        self->run = run;
        self->run_cap = cap;
    }
    if (self->run_n == 0) self->run_seq = self->p_next_seq;
    self->run_off[self->run_n++] = self->run_len;
    self->run_len += frame_change_encode(c, self->run + self->run_len);
    self->p_next_seq++;
    /* A full batch is written at once: rows never span two batches, and
     * memory stays one batch however large the group commit. */
    if (self->run_n == self->batch_max) return s_write_run(self, txn);
    return 0;
}

int changelog_cut(changelog_t *self, MDB_txn *txn)
{
    int rc = s_write_run(self, txn);
    if (rc) return rc;
    uint64_t last = self->p_next_seq - 1;
    MDB_dbi bdb = store_dbi(self->store, SDB_BATCHES);
    /* The time of this commit, taken just before it: the start of the
     * batch's ingest-to-aggregate latency. */
    uint64_t now_us = (uint64_t)clock_wall_us();
    while (self->p_cut_seq < last) {
        uint64_t first = self->p_cut_seq + 1;
        uint64_t end = last - first + 1 > self->batch_max ? first + self->batch_max - 1 : last;
        uint8_t key[8], val[TABLES_BATCH_SIZE];
        store_u64_put(key, self->p_next_batch);
        tables_batch_encode(val, &(batch_row_t){first, end, now_us});
        MDB_val k = {8, key}, v = {sizeof val, val};
        if ((rc = store_rc(mdb_put(txn, bdb, &k, &v, MDB_APPEND)))) return rc;
        self->p_next_batch++;
        self->p_cut_seq = end;
    }
    MDB_dbi meta = store_dbi(self->store, SDB_META);
    if ((rc = store_meta_put(txn, meta, TABLES_META_NEXT_SEQ, self->p_next_seq)) ||
        (rc = store_meta_put(txn, meta, TABLES_META_NEXT_BATCH, self->p_next_batch)) ||
        (rc = store_meta_put(txn, meta, TABLES_META_CUT_SEQ, self->p_cut_seq)))
        return rc;
    return 0;
}

int changelog_ack(changelog_t *self, MDB_txn *txn, uint64_t id, int *pruned)
{
    uint8_t key[8];
    store_u64_put(key, id);
    MDB_val k = {8, key}, v;
    MDB_dbi bdb = store_dbi(self->store, SDB_BATCHES);
    batch_row_t row;
    *pruned = 0;
    int rc = store_rc(mdb_get(txn, bdb, &k, &v));
    if (rc == RP_ENOTFOUND) return 0;
    if (rc) return rc;
    if (tables_batch_decode(v.mv_data, v.mv_size, &row)) return RP_EPROTO;
    uint64_t first = row.first, last = row.last;
    if ((rc = store_rc(mdb_del(txn, bdb, &k, NULL)))) return rc;

    MDB_cursor *cur;
    MDB_val ck, cv;
    rc = s_seek(txn, store_dbi(self->store, SDB_LOG), first, &cur, &ck, &cv);
    if (rc == RP_ENOTFOUND) { /* its records were already gone */
        *pruned = 1;
        return 0;
    }
    if (rc) return rc;
    int r = 0;
    while (r == 0 && ck.mv_size == 8 && store_u64_get(ck.mv_data) <= last) {
        if ((r = mdb_cursor_del(cur, 0))) break;
        /* Re-seek rather than rely on cursor position semantics after a delete. */
        uint8_t sk[8];
        store_u64_put(sk, first);
        ck.mv_size = 8;
        ck.mv_data = sk;
        r = mdb_cursor_get(cur, &ck, &cv, MDB_SET_RANGE);
    }
    mdb_cursor_close(cur);
    if (r != 0 && r != MDB_NOTFOUND) return store_rc(r);
    *pruned = 1;
    return 0;
}

void changelog_committed(changelog_t *self)
{
    self->next_seq = self->p_next_seq;
    self->next_batch = self->p_next_batch;
    self->cut_seq = self->p_cut_seq;
}

void changelog_aborted(changelog_t *self)
{
    self->run_n = 0; /* records of the aborted transaction */
    self->run_len = 0;
    self->p_next_seq = self->next_seq;
    self->p_next_batch = self->next_batch;
    self->p_cut_seq = self->cut_seq;
}

int changelog_batch_next(changelog_t *self, MDB_txn *txn, uint64_t from, uint64_t *id,
                         batch_row_t *row)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = s_seek(txn, store_dbi(self->store, SDB_BATCHES), from, &cur, &k, &v);
    if (rc) return rc;
    mdb_cursor_close(cur);
    if (k.mv_size != 8 || tables_batch_decode(v.mv_data, v.mv_size, row))
        return RP_EPROTO;
    *id = store_u64_get(k.mv_data);
    return 0;
}

int changelog_work_frame(changelog_t *self, MDB_txn *txn, uint64_t id, const batch_row_t *row,
                         uint64_t watermark, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    uint64_t first = row->first, n = row->last - row->first + 1;
    frame_pos_t pos = {row->last, self->next_seq - 1, row->commit_us, self->shard, self->shards};
    if (pos.head_seq < pos.last_seq) pos.head_seq = pos.last_seq; /* inside the cutting txn */
    frame_work_head(&pk, &self->instance, id, watermark, &pos, (uint32_t)n);
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = s_seek(txn, store_dbi(self->store, SDB_LOG), first, &cur, &k, &v);
    if (rc == RP_ENOTFOUND) return RP_ENOTFOUND; /* acknowledged and pruned meanwhile */
    if (rc) return rc;
    /* The batch's rows, each keyed by the number of its first record: every
     * sequence number from first to last is accounted for, as the records
     * are counted (they are skipped, not decoded). */
    uint64_t expect = first, at = 0;
    int r = 0;
    char why[160];
    while (r == 0 && k.mv_size == 8 && (at = store_u64_get(k.mv_data)) == expect &&
           expect <= row->last) {
        size_t off = 0;
        while (off < v.mv_size && mp_skip(v.mv_data, v.mv_size, &off, why, sizeof why) == 0)
            expect++;
        if (off < v.mv_size) {
            log_error("change log row %llu of batch %llu is malformed: %s",
                      (unsigned long long)at, (unsigned long long)id, why);
            mdb_cursor_close(cur);
            return RP_EPROTO;
        }
        msgpack_sbuffer_write(sb, v.mv_data, v.mv_size);
        r = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    if (r != 0 && r != MDB_NOTFOUND) return store_rc(r);
    if (expect == row->last + 1) return 0;
    if (expect == first && at > row->last) return RP_ENOTFOUND; /* pruned meanwhile */
    log_error("change log is missing records of batch %llu (%llu of %llu present)",
              (unsigned long long)id, (unsigned long long)(expect - first),
              (unsigned long long)n);
    return RP_EPROTO;
}

uint64_t changelog_last_seq(const changelog_t *self)
{
    return self->next_seq - 1;
}

uint32_t changelog_shard(const changelog_t *self, uint32_t *shards)
{
    *shards = self->shards;
    return self->shard;
}

const frame_id_t *changelog_instance(const changelog_t *self)
{
    return &self->instance;
}

int changelog_progress(changelog_t *self, MDB_txn *txn, changelog_progress_t *out)
{
    MDB_stat st;
    uint64_t id;
    batch_row_t row;
    out->committed = self->next_seq - 1;
    out->next_batch = self->next_batch;
    int rc = changelog_batch_next(self, txn, 0, &id, &row);
    if (rc == RP_ENOTFOUND) {
        out->applied = out->committed;
        out->watermark = self->next_batch;
    } else if (rc) {
        return rc;
    } else {
        out->applied = row.first - 1;
        out->watermark = id;
    }
    if ((rc = store_rc(mdb_stat(txn, store_dbi(self->store, SDB_BATCHES), &st))))
        return rc;
    out->unacked_batches = st.ms_entries;
    return 0;
}
