/* Dead-letter entries with a quota per source; see dlq.h. Rows: dlq (the
 * entries), dlq_index (each source's entries in id order, with their sizes)
 * and dlq_sources (each source's entries and bytes), all in proto/tables.h. */
#include "dlq.h"
#include "../common/clock.h"
#include "../common/log.h"
#include "../common/rperr.h"
#include "../proto/tables.h"

#include <stdlib.h>
#include <string.h>

#define DLQ_SOURCE_MAX 256 /* bytes of a source name kept in the index */

struct dlq_t {
    store_t *store;
    MDB_dbi dbi, index, sources, meta;
    uint64_t max_entries, max_bytes;
    uint64_t next_id, p_next_id, added, p_added, evicted, p_evicted;
    char last_evicted[DLQ_SOURCE_MAX]; /* for the log line of the commit */
    msgpack_sbuffer sb;
};

dlq_t *dlq_new(store_t *store, uint64_t max_entries, uint64_t max_bytes, int *err)
{
    dlq_t *self = calloc(1, sizeof *self);
    int rc = RP_ENOMEM;
    if (!self) goto fail;
    self->store = store;
    self->dbi = store_dbi(store, SDB_DLQ);
    self->index = store_dbi(store, SDB_DLQ_INDEX);
    self->sources = store_dbi(store, SDB_DLQ_SOURCES);
    self->meta = store_dbi(store, SDB_META);
    self->max_entries = max_entries;
    self->max_bytes = max_bytes;
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

/* The index key of entry id of source: the source's name, a NUL, the id. */
static size_t s_index_key(uint8_t *key, const char *source, size_t slen, uint64_t id)
{
    memcpy(key, source, slen);
    key[slen] = 0;
    store_u64_put(key + slen + 1, id);
    return slen + 9;
}

/* Reads (absent: zero) and writes a source's usage. */
static int s_usage_get(dlq_t *self, MDB_txn *txn, const char *source, size_t slen,
                       uint64_t *entries, uint64_t *bytes)
{
    MDB_val k = {slen, (void *)source}, v;
    int rc = store_rc(mdb_get(txn, self->sources, &k, &v));
    *entries = *bytes = 0;
    if (rc == RP_ENOTFOUND) return 0;
    if (rc) return rc;
    return tables_dlq_usage_decode(v.mv_data, v.mv_size, entries, bytes);
}

static int s_usage_put(dlq_t *self, MDB_txn *txn, const char *source, size_t slen,
                       uint64_t entries, uint64_t bytes)
{
    MDB_val k = {slen, (void *)source};
    if (entries == 0) {
        int rc = store_rc(mdb_del(txn, self->sources, &k, NULL));
        return rc == RP_ENOTFOUND ? 0 : rc;
    }
    uint8_t val[TABLES_DLQ_USAGE_SIZE];
    tables_dlq_usage_encode(val, entries, bytes);
    MDB_val v = {sizeof val, val};
    return store_rc(mdb_put(txn, self->sources, &k, &v, 0));
}

/* Evicts the oldest entry of source (its first index row), lowering its
 * usage by what the index recorded. An entry riskctl dlq already removed
 * leaves only its index row, which goes the same way. */
static int s_evict_oldest(dlq_t *self, MDB_txn *txn, const char *source, size_t slen,
                          uint64_t *entries, uint64_t *bytes)
{
    uint8_t key[DLQ_SOURCE_MAX + 9];
    size_t klen = s_index_key(key, source, slen, 0);
    MDB_val k = {klen, key}, v;
    MDB_cursor *cur;
    int rc = store_rc(mdb_cursor_open(txn, self->index, &cur));
    if (rc) return rc;
    rc = store_rc(mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE));
    if (rc == 0 && (k.mv_size != slen + 9 || memcmp(k.mv_data, source, slen) != 0 ||
                    ((uint8_t *)k.mv_data)[slen] != 0 || v.mv_size != 8))
        rc = RP_ENOTFOUND; /* usage says entries remain, the index has none */
    if (rc) {
        mdb_cursor_close(cur);
        if (rc != RP_ENOTFOUND) return rc;
        *entries = *bytes = 0; /* repair: nothing of this source is left */
        return 0;
    }
    uint64_t size = store_u64_get(v.mv_data);
    uint8_t id[8];
    memcpy(id, (uint8_t *)k.mv_data + slen + 1, 8);
    rc = store_rc(mdb_cursor_del(cur, 0));
    mdb_cursor_close(cur);
    if (rc) return rc;
    MDB_val ek = {8, id};
    if ((rc = store_rc(mdb_del(txn, self->dbi, &ek, NULL))) && rc != RP_ENOTFOUND) return rc;
    if (rc == 0) self->p_evicted++;
    *entries -= *entries ? 1 : 0;
    *bytes -= size < *bytes ? size : *bytes;
    snprintf(self->last_evicted, sizeof self->last_evicted, "%.*s", (int)slen, source);
    return 0;
}

int dlq_add(dlq_t *self, MDB_txn *txn, const void *raw, size_t len, uint64_t index,
            const char *reason, const char *source)
{
    size_t slen = strnlen(source, DLQ_SOURCE_MAX - 1);
    dlq_row_t row = {.id = self->p_next_id,
                     .time_ms = clock_wall_ms(),
                     .source = source,
                     .source_len = slen,
                     .index = index,
                     .reason = reason,
                     .reason_len = strlen(reason),
                     .raw = raw,
                     .raw_len = len,
                     .raw_size = len};
    msgpack_sbuffer_clear(&self->sb);
    tables_dlq_encode(&self->sb, &row);
    uint8_t key[8], ikey[DLQ_SOURCE_MAX + 9], size[8];
    store_u64_put(key, self->p_next_id);
    store_u64_put(size, self->sb.size);
    MDB_val k = {8, key}, v = {self->sb.size, self->sb.data};
    MDB_val ik = {s_index_key(ikey, source, slen, self->p_next_id), ikey}, iv = {8, size};
    uint64_t entries, bytes;
    int rc;
    if ((rc = store_rc(mdb_put(txn, self->dbi, &k, &v, MDB_APPEND))) ||
        (rc = store_rc(mdb_put(txn, self->index, &ik, &iv, 0))) ||
        (rc = s_usage_get(self, txn, source, slen, &entries, &bytes)))
        return rc;
    entries++;
    bytes += self->sb.size;
    /* Over its quota, a source loses its own oldest entries, never another's;
     * the newest one stays whatever its size, so every rejection is kept. */
    while (rc == 0 && entries > 1 && (entries > self->max_entries || bytes > self->max_bytes))
        rc = s_evict_oldest(self, txn, source, slen, &entries, &bytes);
    if (rc || (rc = s_usage_put(self, txn, source, slen, entries, bytes))) return rc;
    self->p_next_id++;
    self->p_added++;
    return store_meta_put(txn, self->meta, TABLES_META_NEXT_DLQ, self->p_next_id);
}

void dlq_committed(dlq_t *self)
{
    if (self->p_evicted > self->evicted)
        log_warn("dead letters: evicted the %llu oldest entr%s of %s (over its quota of "
                 "--dlq-max entries or --dlq-max-bytes)",
                 (unsigned long long)(self->p_evicted - self->evicted),
                 self->p_evicted - self->evicted == 1 ? "y" : "ies", self->last_evicted);
    self->next_id = self->p_next_id;
    self->added = self->p_added;
    self->evicted = self->p_evicted;
}

void dlq_aborted(dlq_t *self)
{
    self->p_next_id = self->next_id;
    self->p_added = self->added;
    self->p_evicted = self->evicted;
}

uint64_t dlq_added(const dlq_t *self)
{
    return self->added;
}

uint64_t dlq_evicted(const dlq_t *self)
{
    return self->evicted;
}
