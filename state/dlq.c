/* Dead-letter rows: key 8-byte big-endian id, value msgpack map
 * {"id", "time_ms", "source", "index", "reason", "raw" (bin), "raw_size",
 *  "truncated"}. */
#include "dlq.h"
#include "../common/clock.h"
#include "../common/rperr.h"
#include "../proto/mp.h"

#include <stdlib.h>

struct dlq_t {
    store_t *store;
    MDB_dbi dbi, meta;
    uint64_t max_entries;
    uint64_t next_id, p_next_id, added, p_added;
    msgpack_sbuffer sb, raw;
};

dlq_t *dlq_new(store_t *store, MDB_dbi dbi, MDB_dbi meta, uint64_t max_entries, int *err)
{
    dlq_t *self = calloc(1, sizeof *self);
    MDB_txn *txn = NULL;
    int rc = RP_ENOMEM;
    if (!self) goto fail;
    self->store = store;
    self->dbi = dbi;
    self->meta = meta;
    self->max_entries = max_entries;
    msgpack_sbuffer_init(&self->sb);
    msgpack_sbuffer_init(&self->raw);
    if ((rc = store_begin(store, 1, &txn))) goto fail;
    rc = store_meta_get(txn, meta, "next_dlq", &self->next_id);
    if (rc == RP_ENOTFOUND) self->next_id = 1;
    else if (rc) goto fail;
    store_abort(&txn);
    self->p_next_id = self->next_id;
    return self;
fail:
    store_abort(&txn);
    if (self) {
        msgpack_sbuffer_destroy(&self->sb);
        msgpack_sbuffer_destroy(&self->raw);
    }
    free(self);
    if (err) *err = rc;
    return NULL;
}

void dlq_destroy(dlq_t **self_p)
{
    if (!self_p || !*self_p) return;
    msgpack_sbuffer_destroy(&(*self_p)->sb);
    msgpack_sbuffer_destroy(&(*self_p)->raw);
    free(*self_p);
    *self_p = NULL;
}

/* Drops the oldest entries beyond the bound. */
static int s_trim(dlq_t *self, MDB_txn *txn)
{
    MDB_stat st;
    int rc = store_rc(mdb_stat(txn, self->dbi, &st), "dlq stat");
    if (rc || st.ms_entries <= self->max_entries) return rc;
    MDB_cursor *cur;
    if ((rc = store_rc(mdb_cursor_open(txn, self->dbi, &cur), "cursor"))) return rc;
    MDB_val k, v;
    size_t extra = st.ms_entries - self->max_entries;
    int r = 0;
    while (extra-- && (r = mdb_cursor_get(cur, &k, &v, MDB_FIRST)) == 0)
        if ((r = mdb_cursor_del(cur, 0))) break;
    mdb_cursor_close(cur);
    return r && r != MDB_NOTFOUND ? store_rc(r, "dlq trim") : 0;
}

int dlq_add(dlq_t *self, MDB_txn *txn, const void *raw, size_t len, uint64_t index,
            const char *reason, const char *source)
{
    size_t keep = len > DLQ_RAW_MAX ? DLQ_RAW_MAX : len;
    msgpack_packer pk;
    msgpack_sbuffer_clear(&self->sb);
    msgpack_packer_init(&pk, &self->sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 8);
    mp_pack_cstr(&pk, "id");
    msgpack_pack_uint64(&pk, self->p_next_id);
    mp_pack_cstr(&pk, "time_ms");
    msgpack_pack_int64(&pk, clock_wall_ms());
    mp_pack_cstr(&pk, "source");
    mp_pack_cstr(&pk, source);
    mp_pack_cstr(&pk, "index");
    msgpack_pack_uint64(&pk, index);
    mp_pack_cstr(&pk, "reason");
    mp_pack_cstr(&pk, reason);
    mp_pack_cstr(&pk, "raw");
    msgpack_pack_bin(&pk, keep);
    msgpack_pack_bin_body(&pk, raw, keep);
    mp_pack_cstr(&pk, "raw_size");
    msgpack_pack_uint64(&pk, len);
    mp_pack_cstr(&pk, "truncated");
    if (keep < len) msgpack_pack_true(&pk);
    else msgpack_pack_false(&pk);
    uint8_t key[8];
    store_u64_put(key, self->p_next_id);
    MDB_val k = {8, key}, v = {self->sb.size, self->sb.data};
    int rc = store_rc(mdb_put(txn, self->dbi, &k, &v, MDB_APPEND), "dlq put");
    if (rc) return rc;
    self->p_next_id++;
    self->p_added++;
    if ((rc = store_meta_put(txn, self->meta, "next_dlq", self->p_next_id))) return rc;
    return s_trim(self, txn);
}

int dlq_add_object(dlq_t *self, MDB_txn *txn, const msgpack_object *o, uint64_t index,
                   const char *reason, const char *source)
{
    msgpack_packer pk;
    msgpack_sbuffer_clear(&self->raw);
    msgpack_packer_init(&pk, &self->raw, msgpack_sbuffer_write);
    msgpack_pack_object(&pk, *o);
    return dlq_add(self, txn, self->raw.data, self->raw.size, index, reason, source);
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
