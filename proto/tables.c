/* Encoding of aggregate and reduce rows. */
#include "tables.h"
#include "mp.h"
#include "../common/rperr.h"

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
