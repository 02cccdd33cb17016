/* Dead-letter entries in the state environment's dlq table (row format in
 * proto/tables.h), trimmed to a bound, oldest first. */
#include "dlq.h"
#include "../common/clock.h"
#include "../common/rperr.h"
#include "../proto/tables.h"

#include <stdlib.h>
#include <string.h>

struct dlq_t {
    store_t *store;
    MDB_dbi dbi, meta;
    uint64_t max_entries;
    uint64_t next_id, p_next_id, added, p_added;
    msgpack_sbuffer sb;
};

dlq_t *dlq_new(store_t *store, uint64_t max_entries, int *err)
{
    dlq_t *self = calloc(1, sizeof *self);
    int rc = RP_ENOMEM;
    if (!self) goto fail;
    self->store = store;
    self->dbi = store_dbi(store, SDB_DLQ);
    self->meta = store_dbi(store, SDB_META);
    self->max_entries = max_entries;
    msgpack_sbuffer_init(&self->sb);
    store_meta_u64_t load = {TABLES_META_NEXT_DLQ, &self->next_id, 1}; /* ids start at 1 */
    if ((rc = store_meta_load(store, self->meta, &load, 1))) goto fail;
    self->p_next_id = self->next_id;
    return self;
fail:
    dlq_destroy(&self); /* accepts NULL and a half-made one */
    if (err) *err = rc;
    return NULL;
}

void dlq_destroy(dlq_t **self_p)
{
    if (!self_p || !*self_p) return;
    msgpack_sbuffer_destroy(&(*self_p)->sb);
    free(*self_p);
    *self_p = NULL;
}

/* Drops the oldest entries beyond the bound. */
static int s_trim(dlq_t *self, MDB_txn *txn)
{
    MDB_stat st;
    int rc = store_rc(mdb_stat(txn, self->dbi, &st));
    if (rc || st.ms_entries <= self->max_entries) return rc;
    MDB_cursor *cur;
    if ((rc = store_rc(mdb_cursor_open(txn, self->dbi, &cur)))) return rc;
    MDB_val k, v;
    size_t extra = st.ms_entries - self->max_entries;
    int r = 0;
    while (extra-- && (r = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0)
        if ((r = mdb_cursor_del(cur, 0))) break;
    mdb_cursor_close(cur);
    return r && r != MDB_NOTFOUND ? store_rc(r) : 0;
}

int dlq_add(dlq_t *self, MDB_txn *txn, const void *raw, size_t len, uint64_t index,
            const char *reason, const char *source)
{
    dlq_row_t row = {.id = self->p_next_id,
                     .time_ms = clock_wall_ms(),
                     .source = source,
                     .source_len = strlen(source),
                     .index = index,
                     .reason = reason,
                     .reason_len = strlen(reason),
                     .raw = raw,
                     .raw_len = len > TABLES_DLQ_RAW_MAX ? TABLES_DLQ_RAW_MAX : len,
                     .raw_size = len};
    msgpack_sbuffer_clear(&self->sb);
    tables_dlq_encode(&self->sb, &row);
    uint8_t key[8];
    store_u64_put(key, self->p_next_id);
    MDB_val k = {8, key}, v = {self->sb.size, self->sb.data};
    int rc = store_rc(mdb_put(txn, self->dbi, &k, &v, MDB_APPEND));
    if (rc) return rc;
    self->p_next_id++;
    self->p_added++;
    if ((rc = store_meta_put(txn, self->meta, TABLES_META_NEXT_DLQ, self->p_next_id))) return rc;
    return s_trim(self, txn);
}

void dlq_committed(dlq_t *self)
{
    self->next_id = self->p_next_id;
    self->added = self->p_added;
}

void dlq_aborted(dlq_t *self)
{
    self->p_next_id = self->next_id;
    self->p_added = self->added;
}

uint64_t dlq_added(const dlq_t *self)
{
    return self->added;
}
