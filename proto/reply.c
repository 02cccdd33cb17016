/* Encoding and decoding of acknowledged-ingest replies. */
#include "reply.h"
#include "mp.h"
#include "../common/rperr.h"

#include <stdio.h>
#include <string.h>

void reply_init(reply_t *r)
{
    memset(r, 0, sizeof *r);
    msgpack_sbuffer_init(&r->errors);
}

void reply_destroy(reply_t *r)
{
    msgpack_sbuffer_destroy(&r->errors);
    memset(r, 0, sizeof *r);
}

/* Counts a rejection and packs its entry; shard < 0: none named. */
static void s_reject(reply_t *r, uint64_t index, const char *reason, int64_t shard)
{
    r->rejected++;
    if (r->nerrors >= REPLY_MAX_ERRORS) return;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &r->errors, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, shard < 0 ? 2 : 3);
    mp_pack_cstr(&pk, "index");
    msgpack_pack_uint64(&pk, index);
    mp_pack_cstr(&pk, "reason");
    mp_pack_cstr(&pk, reason);
    if (shard >= 0) {
        mp_pack_cstr(&pk, "shard");
        msgpack_pack_uint64(&pk, (uint64_t)shard);
    }
    r->nerrors++;
}

void reply_reject(reply_t *r, uint64_t index, const char *reason)
{
    s_reject(r, index, reason, -1);
}

void reply_reject_shard(reply_t *r, uint64_t index, const char *reason, uint32_t shard)
{
    s_reject(r, index, reason, shard);
}

void reply_retry(reply_t *r, const char *error)
{
    msgpack_sbuffer_clear(&r->errors);
    r->nerrors = 0;
    r->accepted = r->duplicates = r->conflicts = r->rejected = 0;
    r->retry = 1;
    snprintf(r->error, sizeof r->error, "%s", error);
}

void reply_encode(const reply_t *r, msgpack_sbuffer *sb)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    int with_seq = !r->retry && r->seq > 0;
    msgpack_pack_map(&pk, (r->retry ? 7 : 5) + with_seq);
    mp_pack_cstr(&pk, "accepted");
    msgpack_pack_uint64(&pk, r->accepted);
    mp_pack_cstr(&pk, "duplicates");
    msgpack_pack_uint64(&pk, r->duplicates);
    mp_pack_cstr(&pk, "conflicts");
    msgpack_pack_uint64(&pk, r->conflicts);
    mp_pack_cstr(&pk, "rejected");
    msgpack_pack_uint64(&pk, r->rejected);
    mp_pack_cstr(&pk, "errors");
    msgpack_pack_array(&pk, r->nerrors);
    msgpack_sbuffer_write(sb, r->errors.data, r->errors.size);
    if (with_seq) {
        mp_pack_cstr(&pk, "seq");
        msgpack_pack_uint64(&pk, r->seq);
    }
    if (r->retry) {
        mp_pack_cstr(&pk, "retry");
        msgpack_pack_true(&pk);
        mp_pack_cstr(&pk, "error");
        mp_pack_cstr(&pk, r->error);
    }
}

static uint64_t s_count(const msgpack_object *map, const char *key, int *bad)
{
    const msgpack_object *o = mp_map_get(map, key);
    if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        *bad = 1;
        return 0;
    }
    return o->via.u64;
}

int reply_decode(const char *buf, size_t len, reply_view_t *out)
{
    char why[160];
    msgpack_unpacked unp;
    int bad = 0, rc = mp_unpack(buf, len, 4, 100000, &unp, why, sizeof why);
    memset(out, 0, sizeof *out);
    out->first_index = -1;
    out->first_shard = -1;
    const msgpack_object *m = &unp.data;
    if (rc || m->type != MSGPACK_OBJECT_MAP) {
        msgpack_unpacked_destroy(&unp);
        return RP_EPROTO;
    }
    out->accepted = s_count(m, "accepted", &bad);
    out->duplicates = s_count(m, "duplicates", &bad);
    const msgpack_object *conf = mp_map_get(m, "conflicts"); /* optional */
    out->conflicts = conf ? s_count(m, "conflicts", &bad) : 0;
    out->rejected = s_count(m, "rejected", &bad);
    const msgpack_object *seq = mp_map_get(m, "seq"); /* optional */
    out->seq = seq ? s_count(m, "seq", &bad) : 0;
    const msgpack_object *retry = mp_map_get(m, "retry");
    out->retry = retry && retry->type == MSGPACK_OBJECT_BOOLEAN && retry->via.boolean;
    const msgpack_object *err = mp_map_get(m, "error");
    if (err && err->type == MSGPACK_OBJECT_STR)
        snprintf(out->error, sizeof out->error, "%.*s", (int)err->via.str.size, err->via.str.ptr);
    const msgpack_object *errs = mp_map_get(m, "errors");
    if (errs && errs->type == MSGPACK_OBJECT_ARRAY) {
        out->nerrors = errs->via.array.size;
        if (errs->via.array.size > 0) {
            const msgpack_object *e0 = &errs->via.array.ptr[0];
            const msgpack_object *idx = mp_map_get(e0, "index"), *rs = mp_map_get(e0, "reason");
            int has_idx = idx && idx->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
                          idx->via.u64 <= (uint64_t)INT64_MAX;
            if (rs && rs->type == MSGPACK_OBJECT_STR) {
                snprintf(out->first_reason, sizeof out->first_reason, "message %llu: %.*s",
                         has_idx ? (unsigned long long)idx->via.u64 : 0ULL,
                         (int)rs->via.str.size, rs->via.str.ptr);
                snprintf(out->first_error, sizeof out->first_error, "%.*s",
                         (int)rs->via.str.size, rs->via.str.ptr);
                if (has_idx) out->first_index = (int64_t)idx->via.u64;
                const msgpack_object *sh = mp_map_get(e0, "shard");
                if (sh && sh->type == MSGPACK_OBJECT_POSITIVE_INTEGER && sh->via.u64 < 65536)
                    out->first_shard = (int64_t)sh->via.u64;
            }
        }
    }
    msgpack_unpacked_destroy(&unp);
    return bad ? RP_EPROTO : 0;
}
