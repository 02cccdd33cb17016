/* Encoding and validating decoding of the inter-process frames. */
#include "frame.h"
#include "mp.h"
#include "shard.h"
#include "../common/hier.h"
#include "../common/rperr.h"

#include <stdio.h>
#include <string.h>

int frame_open(const char *buf, size_t len, int type, uint32_t nfields, uint32_t max_items,
                  msgpack_unpacked *unp, const msgpack_object **f, char *why, size_t whylen)
{
    int rc = mp_unpack(buf, len, 4, max_items, unp, why, whylen);
    if (rc) return rc;
    const msgpack_object *o = &unp->data;
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 2) {
        snprintf(why, whylen, "frame is not a [version, type, ...] array");
        return RP_EPROTO;
    }
    f[0] = o->via.array.ptr;
    int64_t ver, ty;
    if (mp_get_i64(&f[0][0], &ver) || ver != FRAME_VERSION) {
        snprintf(why, whylen, "unsupported frame version (expected %d)", FRAME_VERSION);
        return RP_EPROTO;
    }
    if (mp_get_i64(&f[0][1], &ty) || ty != type) {
        snprintf(why, whylen, "unexpected frame type (expected %d)", type);
        return RP_EPROTO;
    }
    if (o->via.array.size != nfields) {
        snprintf(why, whylen, "frame type %d has %u fields, expected %u", type,
                 o->via.array.size, nfields);
        return RP_EPROTO;
    }
    return 0;
}

static int s_u64(const msgpack_object *o, uint64_t *out)
{
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) return RP_EPROTO;
    *out = o->via.u64;
    return 0;
}

void frame_head(msgpack_packer *pk, int type, uint32_t nfields)
{
    msgpack_pack_array(pk, nfields);
    msgpack_pack_int(pk, FRAME_VERSION);
    msgpack_pack_int(pk, type);
}

/* msgpack's smallest encoding of v, as msgpack_pack_int64 writes it. */
static char *s_put_int(char *o, int64_t v)
{
    int n;
    if (v < -(1LL << 5)) {
        if (v < -(1LL << 31)) *o++ = (char)0xd3, n = 8;
        else if (v < -(1LL << 15)) *o++ = (char)0xd2, n = 4;
        else if (v < -(1LL << 7)) *o++ = (char)0xd1, n = 2;
        else *o++ = (char)0xd0, n = 1;
    } else if (v < (1LL << 7)) {
        *o++ = (char)(uint8_t)v;
        return o;
    } else if (v < (1LL << 8)) {
        *o++ = (char)0xcc, n = 1;
    } else if (v < (1LL << 16)) {
        *o++ = (char)0xcd, n = 2;
    } else if (v < (1LL << 32)) {
        *o++ = (char)0xce, n = 4;
    } else {
        *o++ = (char)0xcf, n = 8;
    }
    for (int i = n - 1; i >= 0; i--) *o++ = (char)(uint8_t)((uint64_t)v >> (8 * i));
    return o;
}

/* A str header and body, as msgpack_pack_str writes them. */
static char *s_put_str(char *o, const char *s, size_t len)
{
    if (len < 32) {
        *o++ = (char)(0xa0 | len);
    } else if (len < 256) {
        *o++ = (char)0xd9;
        *o++ = (char)len;
    } else if (len < 65536) {
        *o++ = (char)0xda;
        *o++ = (char)(len >> 8);
        *o++ = (char)len;
    } else {
        *o++ = (char)0xdb;
        for (int i = 3; i >= 0; i--) *o++ = (char)(len >> (8 * i));
    }
    memcpy(o, s, len);
    return o + len;
}

size_t frame_change_encode(const change_t *c, char *out)
{
    char *o = out;
    *o++ = (char)0x94; /* array of 4 */
    if (c->has_old) {
        o = s_put_int(o, c->old_value);
        o = s_put_str(o, c->old_path, c->old_len);
    } else {
        *o++ = (char)0xc0;
        *o++ = (char)0xc0;
    }
    if (c->has_new) {
        o = s_put_int(o, c->new_value);
        o = s_put_str(o, c->new_path, c->new_len);
    } else {
        *o++ = (char)0xc0;
        *o++ = (char)0xc0;
    }
    return (size_t)(o - out);
}

void frame_change_pack(msgpack_packer *pk, const change_t *c)
{
    char buf[FRAME_CHANGE_MAX(HIER_PATH_MAX, HIER_PATH_MAX)];
    if (c->old_len > HIER_PATH_MAX || c->new_len > HIER_PATH_MAX) return; /* never a path */
    pk->callback(pk->data, buf, frame_change_encode(c, buf));
}

/* One side of a change: (value, path) both present and valid, or both nil. */
static int s_side(const msgpack_object *v, const msgpack_object *p, int *has, money_t *val,
                  const char **path, size_t *len)
{
    if (v->type == MSGPACK_OBJECT_NIL && p->type == MSGPACK_OBJECT_NIL) {
        *has = 0;
        return 0;
    }
    int64_t x;
    if (mp_get_i64(v, &x) || x > MONEY_MAX || x < -MONEY_MAX) return RP_EPROTO;
    if (p->type != MSGPACK_OBJECT_STR || p->via.str.size == 0 ||
        p->via.str.size > HIER_PATH_MAX)
        return RP_EPROTO;
    *has = 1;
    *val = x;
    *path = p->via.str.ptr;
    *len = p->via.str.size;
    return 0;
}

int frame_change_get(const msgpack_object *o, change_t *out)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4) return RP_EPROTO;
    const msgpack_object *a = o->via.array.ptr;
    if (s_side(&a[0], &a[1], &out->has_old, &out->old_value, &out->old_path, &out->old_len) ||
        s_side(&a[2], &a[3], &out->has_new, &out->new_value, &out->new_path, &out->new_len))
        return RP_EPROTO;
    return 0;
}

/* A watermark says every batch below it is applied; the batch that carries
 * it is not yet acknowledged, so it can never lie above that batch's id. A
 * larger one would make the reducer skip batches it never saw. */
static int s_watermark_ok(uint64_t batch_id, uint64_t watermark, const char *what, char *why,
                          size_t whylen)
{
    if (watermark <= batch_id) return 0;
    snprintf(why, whylen, "%s frame for batch %llu carries watermark %llu above it", what,
             (unsigned long long)batch_id, (unsigned long long)watermark);
    return RP_EPROTO;
}

static void s_id_pack(msgpack_packer *pk, const frame_id_t *id)
{
    msgpack_pack_bin(pk, FRAME_ID_SIZE);
    msgpack_pack_bin_body(pk, id->b, FRAME_ID_SIZE);
}

static int s_id_get(const msgpack_object *o, frame_id_t *out)
{
    if (o->type != MSGPACK_OBJECT_BIN || o->via.bin.size != FRAME_ID_SIZE) return RP_EPROTO;
    memcpy(out->b, o->via.bin.ptr, FRAME_ID_SIZE);
    return 0;
}

/* Reads the state id, batch id and watermark that WORK and RESULT frames
 * share (f[1..3], f already past the envelope's first field). */
static int s_stream_head(const msgpack_object *f, frame_id_t *state, uint64_t *batch_id,
                         uint64_t *watermark)
{
    return s_id_get(&f[1], state) || s_u64(&f[2], batch_id) || s_u64(&f[3], watermark)
               ? RP_EPROTO
               : 0;
}

int frame_id_eq(const frame_id_t *a, const frame_id_t *b)
{
    return memcmp(a->b, b->b, FRAME_ID_SIZE) == 0;
}

void frame_id_format(const frame_id_t *id, char out[2 * FRAME_ID_SIZE + 1])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < FRAME_ID_SIZE; i++) {
        out[2 * i] = hex[id->b[i] >> 4];
        out[2 * i + 1] = hex[id->b[i] & 15];
    }
    out[2 * FRAME_ID_SIZE] = 0;
}

static void s_pos_pack(msgpack_packer *pk, const frame_pos_t *pos)
{
    msgpack_pack_uint64(pk, pos->last_seq);
    msgpack_pack_uint64(pk, pos->head_seq);
    msgpack_pack_uint64(pk, pos->commit_us);
    msgpack_pack_uint32(pk, pos->shard);
    msgpack_pack_uint32(pk, pos->shards ? pos->shards : 1);
}

/* Reads the FRAME_POS_FIELDS fields of a frame_pos_t at f[0..4]. */
static int s_pos_get(const msgpack_object *f, frame_pos_t *out, const char *what, char *why,
                     size_t whylen)
{
    uint64_t shard, shards;
    if (s_u64(&f[0], &out->last_seq) || s_u64(&f[1], &out->head_seq) ||
        s_u64(&f[2], &out->commit_us) || s_u64(&f[3], &shard) || s_u64(&f[4], &shards)) {
        snprintf(why, whylen, "%s frame has a field of the wrong type", what);
        return RP_EPROTO;
    }
    if (shards < 1 || shards > SHARD_MAX || shard >= shards) {
        snprintf(why, whylen, "%s frame names shard %llu of %llu (at most %d shards)", what,
                 (unsigned long long)shard, (unsigned long long)shards, SHARD_MAX);
        return RP_EPROTO;
    }
    out->shard = (uint32_t)shard;
    out->shards = (uint32_t)shards;
    if (out->head_seq < out->last_seq) {
        snprintf(why, whylen, "%s frame's last sequence %llu lies beyond its head %llu", what,
                 (unsigned long long)out->last_seq, (unsigned long long)out->head_seq);
        return RP_EPROTO;
    }
    return 0;
}

void frame_work_head(msgpack_packer *pk, const frame_id_t *state, uint64_t batch_id,
                     uint64_t watermark, const frame_pos_t *pos, uint32_t n)
{
    frame_head(pk, FRAME_WORK, 11);
    s_id_pack(pk, state);
    msgpack_pack_uint64(pk, batch_id);
    msgpack_pack_uint64(pk, watermark);
    s_pos_pack(pk, pos);
    msgpack_pack_array(pk, n);
}

int frame_work_decode(const char *buf, size_t len, msgpack_unpacked *unp, work_t *out,
                      char *why, size_t whylen)
{
    const msgpack_object *f;
    int rc = frame_open(buf, len, FRAME_WORK, 11, FRAME_MAX_CHANGES, unp, &f, why, whylen);
    if (rc) return rc;
    f++; /* fields after the stream id keep their places */
    if (s_stream_head(f, &out->state, &out->batch_id, &out->watermark) ||
        f[9].type != MSGPACK_OBJECT_ARRAY) {
        snprintf(why, whylen, "WORK frame has a field of the wrong type");
        return RP_EPROTO;
    }
    if ((rc = s_watermark_ok(out->batch_id, out->watermark, "WORK", why, whylen)) ||
        (rc = s_pos_get(&f[4], &out->pos, "WORK", why, whylen)))
        return rc;
    out->n = f[9].via.array.size;
    out->changes = f[9].via.array.ptr;
    for (uint32_t i = 0; i < out->n; i++) {
        change_t c;
        if (frame_change_get(&out->changes[i], &c)) {
            snprintf(why, whylen, "WORK frame change %u is malformed", i);
            return RP_EPROTO;
        }
    }
    return 0;
}

void frame_result_head(msgpack_packer *pk, const frame_id_t *state, uint64_t batch_id,
                       uint64_t watermark, const char *mapper_id, uint64_t nchanges,
                       const frame_pos_t *pos, uint32_t n)
{
    frame_head(pk, FRAME_RESULT, 13);
    s_id_pack(pk, state);
    msgpack_pack_uint64(pk, batch_id);
    msgpack_pack_uint64(pk, watermark);
    mp_pack_cstr(pk, mapper_id);
    msgpack_pack_uint64(pk, nchanges);
    s_pos_pack(pk, pos);
    msgpack_pack_array(pk, n);
}

void frame_delta_pack(msgpack_packer *pk, const char *path, size_t len, money_sum_t delta,
                      int64_t count)
{
    msgpack_pack_array(pk, 3);
    mp_pack_str(pk, path, len);
    if (delta >= INT64_MIN && delta <= INT64_MAX) {
        msgpack_pack_int64(pk, (int64_t)delta);
    } else { /* 16 bytes, two's complement, big-endian */
        unsigned char b[16];
        unsigned __int128 u = (unsigned __int128)delta;
        for (int i = 15; i >= 0; i--, u >>= 8) b[i] = (unsigned char)u;
        msgpack_pack_bin(pk, 16);
        msgpack_pack_bin_body(pk, b, 16);
    }
    msgpack_pack_int64(pk, count);
}

static int s_delta(const msgpack_object *o, delta_t *out)
{
    if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 3) return RP_EPROTO;
    const msgpack_object *a = o->via.array.ptr;
    if (a[0].type != MSGPACK_OBJECT_STR || a[0].via.str.size == 0 ||
        a[0].via.str.size > HIER_PATH_MAX)
        return RP_EPROTO;
    out->path = a[0].via.str.ptr;
    out->path_len = a[0].via.str.size;
    int64_t x;
    if (mp_get_i64(&a[1], &x) == 0) {
        out->delta = x;
    } else if (a[1].type == MSGPACK_OBJECT_BIN && a[1].via.bin.size == 16) {
        unsigned __int128 u = 0;
        for (int i = 0; i < 16; i++) u = (u << 8) | (unsigned char)a[1].via.bin.ptr[i];
        out->delta = (money_sum_t)u;
    } else {
        return RP_EPROTO;
    }
    return mp_get_i64(&a[2], &out->count);
}

int frame_result_decode(const char *buf, size_t len, msgpack_unpacked *unp, result_t *out,
                        char *why, size_t whylen)
{
    const msgpack_object *f;
    int rc = frame_open(buf, len, FRAME_RESULT, 13, FRAME_MAX_DELTAS, unp, &f, why, whylen);
    if (rc) return rc;
    f++; /* fields after the stream id keep their places */
    if (s_stream_head(f, &out->state, &out->batch_id, &out->watermark) ||
        f[4].type != MSGPACK_OBJECT_STR || f[4].via.str.size > FRAME_MAPPER_ID_MAX ||
        s_u64(&f[5], &out->nchanges) || f[11].type != MSGPACK_OBJECT_ARRAY) {
        snprintf(why, whylen, "RESULT frame has a field of the wrong type");
        return RP_EPROTO;
    }
    if ((rc = s_watermark_ok(out->batch_id, out->watermark, "RESULT", why, whylen)) ||
        (rc = s_pos_get(&f[6], &out->pos, "RESULT", why, whylen)))
        return rc;
    out->mapper_id = f[4].via.str.ptr;
    out->mapper_id_len = f[4].via.str.size;
    out->n = f[11].via.array.size;
    out->deltas = f[11].via.array.ptr;
    if (out->nchanges > FRAME_MAX_CHANGES) {
        snprintf(why, whylen, "RESULT frame claims %llu changes, at most %d",
                 (unsigned long long)out->nchanges, FRAME_MAX_CHANGES);
        return RP_EPROTO;
    }
    /* A batch of n changes moves each path by at most n old and n new values
     * and 2n trades: anything larger is corrupt, and bounding it keeps the
     * reducer's 128-bit sums far from overflow. */
    money_sum_t vmax = (money_sum_t)out->nchanges * 2 * MONEY_MAX;
    int64_t cmax = (int64_t)out->nchanges * 2;
    for (uint32_t i = 0; i < out->n; i++) {
        delta_t d;
        if (s_delta(&out->deltas[i], &d) || d.delta > vmax || d.delta < -vmax ||
            d.count > cmax || d.count < -cmax) {
            snprintf(why, whylen, "RESULT frame delta %u is malformed or out of range", i);
            return RP_EPROTO;
        }
    }
    return 0;
}

void frame_delta_at(const result_t *r, uint32_t i, delta_t *out)
{
    s_delta(&r->deltas[i], out); /* validated by frame_result_decode */
}

void frame_ack_encode(msgpack_sbuffer *sb, const frame_id_t *state, const frame_id_t *reducer,
                      const uint64_t *ids, uint32_t n)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    frame_head(&pk, FRAME_ACK, 5);
    s_id_pack(&pk, state);
    s_id_pack(&pk, reducer);
    msgpack_pack_array(&pk, n);
    for (uint32_t i = 0; i < n; i++) msgpack_pack_uint64(&pk, ids[i]);
}

int frame_ack_decode(const char *buf, size_t len, msgpack_unpacked *unp, ack_t *out, char *why,
                     size_t whylen)
{
    const msgpack_object *f;
    int rc = frame_open(buf, len, FRAME_ACK, 5, FRAME_MAX_ACKS, unp, &f, why, whylen);
    if (rc) return rc;
    if (s_id_get(&f[2], &out->state) || s_id_get(&f[3], &out->reducer)) {
        snprintf(why, whylen, "ACK frame stream ids are not %d-byte binaries", FRAME_ID_SIZE);
        return RP_EPROTO;
    }
    if (f[4].type != MSGPACK_OBJECT_ARRAY) {
        snprintf(why, whylen, "ACK frame ids are not an array");
        return RP_EPROTO;
    }
    for (uint32_t i = 0; i < f[4].via.array.size; i++)
        if (f[4].via.array.ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
            snprintf(why, whylen, "ACK frame id %u is not a positive integer", i);
            return RP_EPROTO;
        }
    out->ids = f[4].via.array.ptr;
    out->n = f[4].via.array.size;
    return 0;
}
