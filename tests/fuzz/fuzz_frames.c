/* Fuzzes the inter-process frame decoders. The first input byte picks the
 * decoder (WORK, RESULT, ACK, CTL_REQ, CTL_REP), the rest is the frame. An
 * accepted frame is read the way its consumer reads it (frame_change_get,
 * frame_delta_at), re-encoded with the real encoders and decoded again: the
 * second decode must succeed and yield the same fields. */
#include "fuzz.h"
#include "../../common/hier.h"
#include "../../common/money.h"
#include "../../common/rperr.h"
#include "../../proto/ctl.h"
#include "../../proto/frame.h"

#include <msgpack.h>
#include <string.h>

#define WHY 160

static int s_same_str(const char *a, size_t al, const char *b, size_t bl)
{
    return al == bl && (al == 0 || memcmp(a, b, al) == 0);
}

static void s_work(const char *buf, size_t len)
{
    msgpack_unpacked unp, unp2;
    work_t w, w2;
    char why[WHY] = "";
    int rc = frame_work_decode(buf, len, &unp, &w, why, sizeof why);
    if (rc) {
        FUZZ_CHECK(rc == RP_EPROTO && why[0]);
        msgpack_unpacked_destroy(&unp);
        return;
    }
    FUZZ_CHECK(w.n <= FRAME_MAX_CHANGES);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    frame_work_head(&pk, &w.state, w.batch_id, w.watermark, &w.pos, w.n);
    for (uint32_t i = 0; i < w.n; i++) {
        change_t c;
        FUZZ_CHECK(frame_change_get(&w.changes[i], &c) == 0);
        if (c.has_old) {
            FUZZ_CHECK(c.old_value >= -MONEY_MAX && c.old_value <= MONEY_MAX);
            FUZZ_CHECK(c.old_len >= 1 && c.old_len <= HIER_PATH_MAX);
        }
        if (c.has_new) {
            FUZZ_CHECK(c.new_value >= -MONEY_MAX && c.new_value <= MONEY_MAX);
            FUZZ_CHECK(c.new_len >= 1 && c.new_len <= HIER_PATH_MAX);
        }
        frame_change_pack(&pk, &c);
    }
    rc = frame_work_decode(sb.data, sb.size, &unp2, &w2, why, sizeof why);
    if (rc) fprintf(stderr, "re-encoded WORK rejected: %s\n", why);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(w2.batch_id == w.batch_id && w2.watermark == w.watermark &&
               w2.n == w.n && frame_id_eq(&w2.state, &w.state));
    FUZZ_CHECK(w.watermark <= w.batch_id);
    FUZZ_CHECK(w.pos.head_seq >= w.pos.last_seq &&
               !memcmp(&w2.pos, &w.pos, sizeof w.pos));
    for (uint32_t i = 0; i < w.n; i++) {
        change_t a, b;
        FUZZ_CHECK(frame_change_get(&w.changes[i], &a) == 0);
        FUZZ_CHECK(frame_change_get(&w2.changes[i], &b) == 0);
        FUZZ_CHECK(a.has_old == b.has_old && a.has_new == b.has_new);
        if (a.has_old)
            FUZZ_CHECK(a.old_value == b.old_value &&
                       s_same_str(a.old_path, a.old_len, b.old_path, b.old_len));
        if (a.has_new)
            FUZZ_CHECK(a.new_value == b.new_value &&
                       s_same_str(a.new_path, a.new_len, b.new_path, b.new_len));
    }
    msgpack_unpacked_destroy(&unp2);
    msgpack_sbuffer_destroy(&sb);
    msgpack_unpacked_destroy(&unp);
}

static void s_result(const char *buf, size_t len)
{
    msgpack_unpacked unp, unp2;
    result_t r, r2;
    char why[WHY] = "";
    int rc = frame_result_decode(buf, len, &unp, &r, why, sizeof why);
    if (rc) {
        FUZZ_CHECK(rc == RP_EPROTO && why[0]);
        msgpack_unpacked_destroy(&unp);
        return;
    }
    FUZZ_CHECK(r.n <= FRAME_MAX_DELTAS && r.mapper_id_len <= FRAME_MAPPER_ID_MAX);
    for (uint32_t i = 0; i < r.n; i++) {
        delta_t d;
        frame_delta_at(&r, i, &d);
        FUZZ_CHECK(d.path && d.path_len >= 1 && d.path_len <= HIER_PATH_MAX);
    }
    /* The encoder takes the mapper id as a C string: only ids without a NUL
     * can be reproduced. */
    char id[FRAME_MAPPER_ID_MAX + 1];
    if (r.mapper_id_len && memchr(r.mapper_id, 0, r.mapper_id_len)) {
        msgpack_unpacked_destroy(&unp);
        return;
    }
    if (r.mapper_id_len) memcpy(id, r.mapper_id, r.mapper_id_len);
    id[r.mapper_id_len] = 0;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    frame_result_head(&pk, &r.state, r.batch_id, r.watermark, id, r.nchanges, &r.pos, r.n);
    for (uint32_t i = 0; i < r.n; i++) {
        delta_t d;
        frame_delta_at(&r, i, &d);
        frame_delta_pack(&pk, d.path, d.path_len, d.delta, d.count);
    }
    rc = frame_result_decode(sb.data, sb.size, &unp2, &r2, why, sizeof why);
    if (rc) fprintf(stderr, "re-encoded RESULT rejected: %s\n", why);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(r2.batch_id == r.batch_id && r2.watermark == r.watermark &&
               r2.nchanges == r.nchanges && r2.n == r.n && frame_id_eq(&r2.state, &r.state));
    FUZZ_CHECK(r.watermark <= r.batch_id);
    FUZZ_CHECK(r.pos.head_seq >= r.pos.last_seq &&
               !memcmp(&r2.pos, &r.pos, sizeof r.pos));
    FUZZ_CHECK(s_same_str(r2.mapper_id, r2.mapper_id_len, r.mapper_id, r.mapper_id_len));
    for (uint32_t i = 0; i < r.n; i++) {
        delta_t a, b;
        frame_delta_at(&r, i, &a);
        frame_delta_at(&r2, i, &b);
        FUZZ_CHECK(s_same_str(a.path, a.path_len, b.path, b.path_len));
        FUZZ_CHECK(a.delta == b.delta && a.count == b.count);
    }
    msgpack_unpacked_destroy(&unp2);
    msgpack_sbuffer_destroy(&sb);
    msgpack_unpacked_destroy(&unp);
}

static void s_ack(const char *buf, size_t len)
{
    msgpack_unpacked unp, unp2;
    ack_t a, a2;
    char why[WHY] = "";
    int rc = frame_ack_decode(buf, len, &unp, &a, why, sizeof why);
    if (rc) {
        FUZZ_CHECK(rc == RP_EPROTO && why[0]);
        msgpack_unpacked_destroy(&unp);
        return;
    }
    FUZZ_CHECK(a.n <= FRAME_MAX_ACKS);
    uint64_t v[FRAME_MAX_ACKS];
    for (uint32_t i = 0; i < a.n; i++) {
        FUZZ_CHECK(a.ids[i].type == MSGPACK_OBJECT_POSITIVE_INTEGER);
        v[i] = a.ids[i].via.u64;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    frame_ack_encode(&sb, &a.state, &a.reducer, v, a.n);
    FUZZ_CHECK(frame_ack_decode(sb.data, sb.size, &unp2, &a2, why, sizeof why) == 0);
    FUZZ_CHECK(a2.n == a.n && frame_id_eq(&a2.state, &a.state) &&
               frame_id_eq(&a2.reducer, &a.reducer));
    for (uint32_t i = 0; i < a.n; i++)
        FUZZ_CHECK(a2.ids[i].via.u64 == v[i]);
    msgpack_unpacked_destroy(&unp2);
    msgpack_sbuffer_destroy(&sb);
    msgpack_unpacked_destroy(&unp);
}

static void s_ctl_req(const char *buf, size_t len)
{
    msgpack_unpacked unp, unp2;
    const char *cmd, *cmd2;
    size_t clen, clen2;
    char why[WHY] = "";
    int rc = ctl_req_decode(buf, len, &unp, &cmd, &clen, why, sizeof why);
    if (rc) {
        FUZZ_CHECK(rc == RP_EPROTO && why[0]);
        msgpack_unpacked_destroy(&unp);
        return;
    }
    FUZZ_CHECK(clen <= len);
    if (clen == 0 || !memchr(cmd, 0, clen)) {
        char c[65536];
        FUZZ_CHECK(clen < sizeof c);
        if (clen) memcpy(c, cmd, clen);
        c[clen] = 0;
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        ctl_req_encode(&sb, c);
        FUZZ_CHECK(ctl_req_decode(sb.data, sb.size, &unp2, &cmd2, &clen2, why, sizeof why) ==
                   0);
        FUZZ_CHECK(s_same_str(cmd, clen, cmd2, clen2));
        msgpack_unpacked_destroy(&unp2);
        msgpack_sbuffer_destroy(&sb);
    }
    msgpack_unpacked_destroy(&unp);
}

static void s_ctl_rep(const char *buf, size_t len)
{
    msgpack_unpacked unp, unp2;
    const msgpack_object *map, *map2;
    char why[WHY] = "";
    int rc = ctl_rep_decode(buf, len, &unp, &map, why, sizeof why);
    if (rc) {
        FUZZ_CHECK(rc == RP_EPROTO && why[0]);
        msgpack_unpacked_destroy(&unp);
        return;
    }
    FUZZ_CHECK(map->type == MSGPACK_OBJECT_MAP);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    frame_head(&pk, FRAME_CTL_REP, 3);
    msgpack_pack_map(&pk, map->via.map.size);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        msgpack_pack_object(&pk, map->via.map.ptr[i].key);
        msgpack_pack_object(&pk, map->via.map.ptr[i].val);
    }
    rc = ctl_rep_decode(sb.data, sb.size, &unp2, &map2, why, sizeof why);
    if (rc) fprintf(stderr, "re-encoded CTL_REP rejected: %s\n", why);
    FUZZ_CHECK(rc == 0);
    /* Compare canonical encodings rather than objects: NaN != NaN. */
    msgpack_sbuffer sb2;
    msgpack_sbuffer_init(&sb2);
    msgpack_packer pk2;
    msgpack_packer_init(&pk2, &sb2, msgpack_sbuffer_write);
    frame_head(&pk2, FRAME_CTL_REP, 3);
    msgpack_pack_map(&pk2, map2->via.map.size);
    for (uint32_t i = 0; i < map2->via.map.size; i++) {
        msgpack_pack_object(&pk2, map2->via.map.ptr[i].key);
        msgpack_pack_object(&pk2, map2->via.map.ptr[i].val);
    }
    FUZZ_CHECK(sb2.size == sb.size && memcmp(sb2.data, sb.data, sb.size) == 0);
    msgpack_sbuffer_destroy(&sb2);
    msgpack_unpacked_destroy(&unp2);
    msgpack_sbuffer_destroy(&sb);
    msgpack_unpacked_destroy(&unp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 5) {
    case 0:
        s_work(buf, len);
        break;
    case 1:
        s_result(buf, len);
        break;
    case 2:
        s_ack(buf, len);
        break;
    case 3:
        s_ctl_req(buf, len);
        break;
    default:
        s_ctl_rep(buf, len);
        break;
    }
    return 0;
}
