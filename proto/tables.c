/* Encoding and decoding of every table row; see tables.h for the layout. */
#include "tables.h"
#include "mp.h"
#include "../common/rperr.h"
#include "../common/store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const tables_state_dbs[] = {"state", "log",       "batches",     "meta",
                                        "dlq",   "dlq_index", "dlq_sources", NULL};
const char *const tables_reducer_dbs[] = {"reduce", "aggregate", "meta", NULL};


static int s_keycmp(const void *a, const void *b)
{
    const msgpack_object_kv *x = *(const msgpack_object_kv *const *)a;
    const msgpack_object_kv *y = *(const msgpack_object_kv *const *)b;
    uint32_t n = x->key.via.str.size < y->key.via.str.size ? x->key.via.str.size
                                                           : y->key.via.str.size;
    int c = memcmp(x->key.via.str.ptr, y->key.via.str.ptr, n);
    if (c) return c;
    uint32_t xs = x->key.via.str.size, ys = y->key.via.str.size;
    return xs < ys ? -1 : xs > ys;
}

/* 1 when key is the name of one of the configured levels. */
static int s_is_level(const hier_levels_t *h, const char *key, size_t len)
{
    for (int l = 0; l < h->n; l++)
        if (strlen(h->name[l]) == len && memcmp(h->name[l], key, len) == 0) return 1;
    return 0;
}

int tables_state_encode(const risk_msg_t *m, const hier_levels_t *h, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    int rc = msgpack_pack_array(&pk, TABLES_STATE_FIELDS);
    msgpack_pack_int64(&pk, m->version);
    msgpack_pack_int64(&pk, m->value);
    if (!m->timestamp) msgpack_pack_nil(&pk);
    else if (m->timestamp->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        msgpack_pack_uint64(&pk, m->timestamp->via.u64);
    else if (m->timestamp->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        msgpack_pack_int64(&pk, m->timestamp->via.i64);
    else
        msgpack_pack_double(&pk, m->timestamp->via.f64);
    msgpack_pack_array(&pk, (size_t)h->n);
    for (int l = 0; l < h->n; l++) mp_pack_str(&pk, m->level[l], m->level_len[l]);
    /* The Hierarchy's other keys, sorted: the same payload, the same bytes. */
    const msgpack_object *hv = m->hierarchy;
    const msgpack_object_kv *kv[RISK_HIER_KEYS_MAX];
    uint32_t n = 0;
    for (uint32_t i = 0; i < hv->via.map.size && n < RISK_HIER_KEYS_MAX; i++)
        if (!s_is_level(h, hv->via.map.ptr[i].key.via.str.ptr,
                        hv->via.map.ptr[i].key.via.str.size))
            kv[n++] = &hv->via.map.ptr[i];
    qsort(kv, n, sizeof kv[0], s_keycmp);
    msgpack_pack_map(&pk, n);
    for (uint32_t i = 0; i < n; i++) {
        mp_pack_str(&pk, kv[i]->key.via.str.ptr, kv[i]->key.via.str.size);
        mp_pack_str(&pk, kv[i]->val.via.str.ptr, kv[i]->val.via.str.size);
    }
    /* msgpack_sbuffer_write only fails on allocation failure; the packer
     * returns its status from every call, the first is representative. */
    return rc ? RP_ENOMEM : 0;
}

/* Unpacks a state row into *unp (initialised here; the caller destroys it)
 * and decodes it into *out. Returns 0 or RP_EPROTO. */
static int s_state_unpack(const char *buf, size_t len, const hier_levels_t *h,
                          msgpack_unpacked *unp, state_row_t *out)
{
    char why[RISK_WHY_MAX];
    if (mp_unpack(buf, len, 2, RISK_HIER_KEYS_MAX, unp, why, sizeof why)) return RP_EPROTO;
    const msgpack_object *o = &unp->data;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != TABLES_STATE_FIELDS)
        return RP_EPROTO;
    const msgpack_object *f = o->via.array.ptr, *lv = &f[TABLES_STATE_LEVELS];
    if (mp_get_i64(&f[TABLES_STATE_VERSION], &out->version) ||
        mp_get_i64(&f[TABLES_STATE_VALUE], &out->value) || out->value > MONEY_MAX ||
        out->value < -MONEY_MAX || lv->type != MSGPACK_OBJECT_ARRAY ||
        lv->via.array.size != (uint32_t)h->n)
        return RP_EPROTO;
    const char *v[HIER_MAX_LEVELS];
    size_t vl[HIER_MAX_LEVELS];
    for (int l = 0; l < h->n; l++) {
        const msgpack_object *x = &lv->via.array.ptr[l];
        if (x->type != MSGPACK_OBJECT_STR || x->via.str.size > HIER_MAX_VALUE) return RP_EPROTO;
        v[l] = x->via.str.ptr;
        vl[l] = x->via.str.size;
    }
    out->path_len = hier_join(v, vl, h->n, out->path);
    return 0;
}

int tables_state_decode(const char *buf, size_t len, const hier_levels_t *h, state_row_t *out)
{
    msgpack_unpacked unp;
    int rc = s_state_unpack(buf, len, h, &unp, out);
    msgpack_unpacked_destroy(&unp);
    return rc;
}

int tables_state_detail(const char *buf, size_t len, const hier_levels_t *h,
                        msgpack_unpacked *unp, state_row_t *row, state_detail_t *out)
{
    int rc = s_state_unpack(buf, len, h, unp, row);
    if (rc) return rc;
    const msgpack_object *f = unp->data.via.array.ptr;
    const msgpack_object *ts = &f[TABLES_STATE_TIMESTAMP], *ex = &f[TABLES_STATE_EXTRA];
    if (ts->type != MSGPACK_OBJECT_NIL && ts->type != MSGPACK_OBJECT_POSITIVE_INTEGER &&
        ts->type != MSGPACK_OBJECT_NEGATIVE_INTEGER && ts->type != MSGPACK_OBJECT_FLOAT64 &&
        ts->type != MSGPACK_OBJECT_FLOAT32)
        return RP_EPROTO;
    if (ex->type != MSGPACK_OBJECT_MAP) return RP_EPROTO;
    for (uint32_t i = 0; i < ex->via.map.size; i++)
        if (ex->via.map.ptr[i].key.type != MSGPACK_OBJECT_STR ||
            ex->via.map.ptr[i].val.type != MSGPACK_OBJECT_STR)
            return RP_EPROTO;
    out->timestamp = ts->type == MSGPACK_OBJECT_NIL ? NULL : ts;
    out->levels = &f[TABLES_STATE_LEVELS];
    out->extra = ex;
    return 0;
}

void tables_batch_encode(uint8_t out[TABLES_BATCH_SIZE], const batch_row_t *row)
{
    store_u64_put(out, row->first);
    store_u64_put(out + 8, row->last);
    store_u64_put(out + 16, row->commit_us);
}

int tables_batch_decode(const void *buf, size_t len, batch_row_t *out)
{
    if (len != TABLES_BATCH_SIZE && len != TABLES_BATCH_SIZE_OLD) return RP_EPROTO;
    const char *p = buf;
    out->first = store_u64_get(p);
    out->last = store_u64_get(p + 8);
    out->commit_us = len == TABLES_BATCH_SIZE ? store_u64_get(p + 16) : 0;
    return out->first <= out->last ? 0 : RP_EPROTO;
}

void tables_dlq_encode(msgpack_sbuffer *sb, const dlq_row_t *row)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 8);
    mp_pack_cstr(&pk, "id");
    msgpack_pack_uint64(&pk, row->id);
    mp_pack_cstr(&pk, "time_ms");
    msgpack_pack_int64(&pk, row->time_ms);
    mp_pack_cstr(&pk, "source");
    mp_pack_str(&pk, row->source, row->source_len);
    mp_pack_cstr(&pk, "index");
    msgpack_pack_uint64(&pk, row->index);
    mp_pack_cstr(&pk, "reason");
    mp_pack_str(&pk, row->reason, row->reason_len);
    mp_pack_cstr(&pk, "raw");
    msgpack_pack_bin(&pk, row->raw_len);
    msgpack_pack_bin_body(&pk, row->raw, row->raw_len);
    mp_pack_cstr(&pk, "raw_size");
    msgpack_pack_uint64(&pk, row->raw_size);
    mp_pack_cstr(&pk, "truncated");
    if (row->raw_len < row->raw_size) msgpack_pack_true(&pk);
    else msgpack_pack_false(&pk);
}

/* Reads a non-negative integer field of a dead-letter row. */
static int s_get_u64(const msgpack_object *m, const char *key, uint64_t *out)
{
    const msgpack_object *o = mp_map_get(m, key);
    if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) return RP_EPROTO;
    *out = o->via.u64;
    return 0;
}

static int s_get_str(const msgpack_object *m, const char *key, const char **s, size_t *len)
{
    const msgpack_object *o = mp_map_get(m, key);
    if (!o || o->type != MSGPACK_OBJECT_STR) return RP_EPROTO;
    *s = o->via.str.ptr;
    *len = o->via.str.size;
    return 0;
}

int tables_dlq_decode(const char *buf, size_t len, msgpack_unpacked *unp, dlq_row_t *out)
{
    char why[128];
    memset(out, 0, sizeof *out);
    if (mp_unpack(buf, len, 2, 64, unp, why, sizeof why)) return RP_EPROTO;
    const msgpack_object *m = &unp->data, *o;
    if (s_get_u64(m, "id", &out->id) || s_get_u64(m, "index", &out->index) ||
        s_get_u64(m, "raw_size", &out->raw_size) ||
        s_get_str(m, "source", &out->source, &out->source_len) ||
        s_get_str(m, "reason", &out->reason, &out->reason_len))
        return RP_EPROTO;
    if (!(o = mp_map_get(m, "time_ms")) || mp_get_i64(o, &out->time_ms)) return RP_EPROTO;
    if (!(o = mp_map_get(m, "truncated")) || o->type != MSGPACK_OBJECT_BOOLEAN) return RP_EPROTO;
    out->truncated = o->via.boolean;
    if (!(o = mp_map_get(m, "raw")) || o->type != MSGPACK_OBJECT_BIN ||
        o->via.bin.size > out->raw_size ||
        out->truncated != (o->via.bin.size < out->raw_size))
        return RP_EPROTO;
    out->raw = o->via.bin.ptr;
    out->raw_len = o->via.bin.size;
    return 0;
}

void tables_dlq_usage_encode(uint8_t out[TABLES_DLQ_USAGE_SIZE], uint64_t entries,
                             uint64_t bytes)
{
    store_u64_put(out, entries);
    store_u64_put(out + 8, bytes);
}

int tables_dlq_usage_decode(const void *buf, size_t len, uint64_t *entries, uint64_t *bytes)
{
    if (len != TABLES_DLQ_USAGE_SIZE) return RP_EPROTO;
    *entries = store_u64_get(buf);
    *bytes = store_u64_get((const char *)buf + 8);
    return 0;
}

void tables_agg_encode(msgpack_sbuffer *sb, money_sum_t value, int64_t count)
{
    char buf[MONEY_FMT_MAX];
    size_t n = money_format(value, buf, sizeof buf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    mp_pack_cstr(&pk, "value");
    mp_pack_str(&pk, buf, n);
    mp_pack_cstr(&pk, "count");
    msgpack_pack_int64(&pk, count);
}

int tables_agg_decode(const char *buf, size_t len, money_sum_t *value, int64_t *count)
{
    char why[128];
    msgpack_unpacked unp;
    int rc = mp_unpack(buf, len, 2, 16, &unp, why, sizeof why);
    if (rc == 0) {
        const msgpack_object *v = mp_map_get(&unp.data, "value");
        const msgpack_object *c = mp_map_get(&unp.data, "count");
        rc = RP_EPROTO;
        if (v && c && v->type == MSGPACK_OBJECT_STR && mp_get_i64(c, count) == 0 &&
            money_sum_parse(v->via.str.ptr, v->via.str.size, value) == 0)
            rc = 0;
    }
    msgpack_unpacked_destroy(&unp);
    return rc;
}

void tables_reduce_encode(msgpack_sbuffer *sb, uint64_t batch, const char *mapper,
                          size_t mapper_len, uint64_t changes, uint64_t deltas,
                          int64_t applied_ms)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5);
    mp_pack_cstr(&pk, "batch");
    msgpack_pack_uint64(&pk, batch);
    mp_pack_cstr(&pk, "mapper");
    mp_pack_str(&pk, mapper, mapper_len);
    mp_pack_cstr(&pk, "changes");
    msgpack_pack_uint64(&pk, changes);
    mp_pack_cstr(&pk, "deltas");
    msgpack_pack_uint64(&pk, deltas);
    mp_pack_cstr(&pk, "applied_ms");
    msgpack_pack_int64(&pk, applied_ms);
}

void tables_shard_key(char out[TABLES_SHARD_KEY_MAX], const char *base, uint32_t shard)
{
    if (shard == 0) snprintf(out, TABLES_SHARD_KEY_MAX, "%s", base);
    else snprintf(out, TABLES_SHARD_KEY_MAX, "%s.%u", base, shard);
}

int tables_meta_shards(store_t *store, MDB_dbi meta, int has_data, uint32_t shard,
                       uint32_t shards, char *why, size_t whylen)
{
    MDB_txn *txn = NULL;
    uint64_t have_k = 0, have_s = 0;
    int own = shard != TABLES_NO_SHARD, dirty = 0;
    int rc = store_begin(store, 0, &txn);
    if (rc == 0) rc = store_meta_get(txn, meta, TABLES_META_SHARDS, &have_k);
    if (rc == 0 && own) rc = store_meta_get(txn, meta, TABLES_META_SHARD, &have_s);
    if (rc == RP_ENOTFOUND && has_data && !have_k) {
        have_k = 1; /* data from before shards existed: an unsharded pipeline */
        rc = 0;
        dirty = 1;
    } else if (rc == RP_ENOTFOUND) {
        have_k = shards;
        have_s = own ? shard : 0;
        rc = 0;
        dirty = 1;
    }
    if (rc == 0 && (have_k != shards || (own && have_s != shard))) {
        if (own)
            snprintf(why, whylen, "this data directory is shard %llu of a pipeline of %llu "
                     "shard(s), not shard %u of %u: a pipeline's shards are fixed when it is "
                     "created (use the recorded --shard and --shards, or a new --data)",
                     (unsigned long long)have_s, (unsigned long long)have_k, shard, shards);
        else
            snprintf(why, whylen, "this data directory belongs to a pipeline of %llu state "
                     "shard(s), not %u: a pipeline's shards are fixed when it is created (use "
                     "--shards %llu, or a new --data)",
                     (unsigned long long)have_k, shards, (unsigned long long)have_k);
        store_abort(&txn);
        return RP_EINVAL;
    }
    if (rc == 0 && dirty) rc = store_meta_put(txn, meta, TABLES_META_SHARDS, have_k);
    if (rc == 0 && dirty && own) rc = store_meta_put(txn, meta, TABLES_META_SHARD, have_s);
    if (rc == 0 && dirty) rc = store_commit(&txn);
    store_abort(&txn);
    if (rc) snprintf(why, whylen, "cannot read or record the shard count: %s", rp_strerror(rc));
    return rc;
}
