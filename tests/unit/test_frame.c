/* Unit tests for proto/frame.h: round trips of every inter-process frame type
 * (including 128-bit deltas in their 16-byte form) and rejection of wrong
 * versions, types, field counts, field types, malformed changes and deltas. */
#include "../../common/hier.h"
#include "../../common/rperr.h"
#include "../../proto/ctl.h"
#include "../../proto/frame.h"
#include "../../proto/mp.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static msgpack_sbuffer g_sb;
static msgpack_packer g_pk;
static msgpack_unpacked g_unp;
static char g_why[160];

static void s_setup(void)
{
    msgpack_sbuffer_init(&g_sb);
    msgpack_packer_init(&g_pk, &g_sb, msgpack_sbuffer_write);
    msgpack_unpacked_init(&g_unp);
    g_why[0] = 0;
}

static void s_teardown(void)
{
    msgpack_unpacked_destroy(&g_unp);
    msgpack_sbuffer_destroy(&g_sb);
}

TestSuite(frame, .init = s_setup, .fini = s_teardown);

static void s_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static int s_work(work_t *w)
{
    msgpack_unpacked_destroy(&g_unp);
    return frame_work_decode(g_sb.data, g_sb.size, &g_unp, w, g_why, sizeof g_why);
}

static int s_result(result_t *r)
{
    msgpack_unpacked_destroy(&g_unp);
    return frame_result_decode(g_sb.data, g_sb.size, &g_unp, r, g_why, sizeof g_why);
}

/* Packs [version, type, stream id] announcing nfields elements in all. */
static void s_head_with_id(msgpack_packer *pk, int type, uint32_t nfields)
{
    msgpack_pack_array(pk, nfields);
    msgpack_pack_int(pk, FRAME_VERSION);
    msgpack_pack_int(pk, type);
    msgpack_pack_bin(pk, FRAME_ID_SIZE);
    msgpack_pack_bin_body(pk, fixture_sid.b, FRAME_ID_SIZE);
}

/* Packs the five position fields (last_seq, head_seq, commit_us as zeros;
 * shard 0 of 1). */
static void s_pos_zero(msgpack_packer *pk)
{
    for (int i = 0; i < 3; i++) msgpack_pack_uint64(pk, 0);
    msgpack_pack_uint64(pk, 0);
    msgpack_pack_uint64(pk, 1);
}

/* Packs [version, WORK, id, 7, 3, 0, 0, 0, 0, 1, [change]] around one raw change written by fn. */
static void s_work_with(void (*fn)(msgpack_packer *))
{
    s_head_with_id(&g_pk, FRAME_WORK, 11);
    msgpack_pack_uint64(&g_pk, 7);
    msgpack_pack_uint64(&g_pk, 3);
    s_pos_zero(&g_pk);
    msgpack_pack_array(&g_pk, 1);
    fn(&g_pk);
}

/* Packs a RESULT frame with one raw delta written by fn. */
static void s_result_with(void (*fn)(msgpack_packer *))
{
    frame_result_head(&g_pk, &fixture_sid, 9, 8, "m1", 5, &(frame_pos_t){0}, 1);
    fn(&g_pk);
}

static void s_expect_bad_work(const char *needle)
{
    work_t w;
    int rc = s_work(&w);
    cr_assert_eq(rc, RP_EPROTO, "WORK accepted (rc=%d)", rc);
    if (needle) cr_assert(strstr(g_why, needle), "why='%s' lacks '%s'", g_why, needle);
}

static void s_expect_bad_result(const char *needle)
{
    result_t r;
    int rc = s_result(&r);
    cr_assert_eq(rc, RP_EPROTO, "RESULT accepted (rc=%d)", rc);
    if (needle) cr_assert(strstr(g_why, needle), "why='%s' lacks '%s'", g_why, needle);
}

Test(frame, work_round_trip)
{
    change_t in[3] = {
        {.has_new = 1, .new_value = 12500000, .new_path = "Delta::AMER::FXSpot", .new_len = 19},
        {.has_old = 1, .old_value = -MONEY_MAX, .old_path = "a::b", .old_len = 4,
         .has_new = 1, .new_value = MONEY_MAX, .new_path = "c::d", .new_len = 4},
        {.has_old = 1, .old_value = -1, .old_path = "x", .old_len = 1},
    };
    frame_work_head(&g_pk, &fixture_sid, 42, 40, &(frame_pos_t){0}, 3);
    for (int i = 0; i < 3; i++) frame_change_pack(&g_pk, &in[i]);
    work_t w;
    int rc = s_work(&w);
    RP_ASSERT_OK(rc, "%s", g_why);
    cr_assert_eq(w.batch_id, 42);
    cr_assert_eq(w.watermark, 40);
    cr_assert_eq(w.n, 3);
    for (int i = 0; i < 3; i++) {
        change_t c;
        cr_assert_eq(frame_change_get(&w.changes[i], &c), 0, "change %d", i);
        cr_assert_eq(c.has_old, in[i].has_old, "change %d", i);
        cr_assert_eq(c.has_new, in[i].has_new, "change %d", i);
        if (c.has_old) {
            cr_assert_eq(c.old_value, in[i].old_value);
            cr_assert_eq(c.old_len, in[i].old_len);
            cr_assert_eq(memcmp(c.old_path, in[i].old_path, c.old_len), 0);
        }
        if (c.has_new) {
            cr_assert_eq(c.new_value, in[i].new_value);
            cr_assert_eq(c.new_len, in[i].new_len);
            cr_assert_eq(memcmp(c.new_path, in[i].new_path, c.new_len), 0);
        }
    }
}

Test(frame, position_round_trips_and_a_last_beyond_the_head_is_refused)
{
    frame_pos_t pos = {UINT64_MAX - 1, UINT64_MAX, 1764000000123456ULL, 2, 3};
    frame_work_head(&g_pk, &fixture_sid, 7, 7, &pos, 0);
    work_t w;
    RP_ASSERT_OK(s_work(&w), "%s", g_why);
    cr_assert_eq(memcmp(&w.pos, &pos, sizeof pos), 0);
    msgpack_sbuffer_clear(&g_sb);
    frame_result_head(&g_pk, &fixture_sid, 7, 7, "m", 0, &pos, 0);
    result_t r;
    RP_ASSERT_OK(s_result(&r), "%s", g_why);
    cr_assert_eq(memcmp(&r.pos, &pos, sizeof pos), 0);
    msgpack_sbuffer_clear(&g_sb);
    frame_work_head(&g_pk, &fixture_sid, 7, 7, &(frame_pos_t){.last_seq = 5, .head_seq = 4}, 0);
    cr_assert_eq(s_work(&w), RP_EPROTO);
    cr_assert(strstr(g_why, "beyond its head"), "why: %s", g_why);
    msgpack_sbuffer_clear(&g_sb);
    frame_result_head(&g_pk, &fixture_sid, 7, 7, "m", 0, &(frame_pos_t){.last_seq = 5, .head_seq = 4}, 0);
    cr_assert_eq(s_result(&r), RP_EPROTO);
}

Test(frame, work_with_no_changes_round_trips)
{
    frame_work_head(&g_pk, &fixture_sid, 1, 1, &(frame_pos_t){0}, 0);
    work_t w;
    int rc = s_work(&w);
    cr_assert_eq(rc, 0, "rc=%d %s", rc, g_why);
    cr_assert_eq(w.n, 0);
}

Test(frame, work_round_trips_full_u64_ids)
{
    frame_work_head(&g_pk, &fixture_sid, UINT64_MAX, UINT64_MAX - 1, &(frame_pos_t){0}, 0);
    work_t w;
    cr_assert_eq(s_work(&w), 0, "%s", g_why);
    cr_assert_eq(w.batch_id, UINT64_MAX);
    cr_assert_eq(w.watermark, UINT64_MAX - 1);
}

Test(frame, result_round_trip_with_128_bit_deltas)
{
    /* the largest batch may move a path by 2 * 65536 values of 1e18 micro */
    const money_sum_t vmax = (money_sum_t)FRAME_MAX_CHANGES * 2 * MONEY_MAX;
    money_sum_t d[] = {0,
                       -5,
                       INT64_MAX,
                       INT64_MIN,
                       (money_sum_t)INT64_MAX + 1,
                       (money_sum_t)INT64_MIN - 1,
                       vmax - 1,
                       -vmax + 1,
                       vmax,
                       -vmax};
    const int64_t cmax = 2LL * FRAME_MAX_CHANGES;
    int64_t cnt[] = {1, -1, 0, cmax, -cmax, 2, 3, 4, 5, 6};
    const uint32_t n = sizeof d / sizeof d[0];
    char paths[10][8];
    frame_result_head(&g_pk, &fixture_sid, 77, 70, "host:123", FRAME_MAX_CHANGES, &(frame_pos_t){0}, n);
    for (uint32_t i = 0; i < n; i++) {
        snprintf(paths[i], sizeof paths[i], "p%u", i);
        frame_delta_pack(&g_pk, paths[i], strlen(paths[i]), d[i], cnt[i]);
    }
    result_t r;
    int rc = s_result(&r);
    RP_ASSERT_OK(rc, "%s", g_why);
    cr_assert_eq(r.batch_id, 77);
    cr_assert_eq(r.watermark, 70);
    cr_assert_eq(r.nchanges, FRAME_MAX_CHANGES);
    cr_assert_eq(r.mapper_id_len, 8);
    cr_assert_eq(memcmp(r.mapper_id, "host:123", 8), 0);
    cr_assert_eq(r.n, n);
    for (uint32_t i = 0; i < n; i++) {
        delta_t x;
        frame_delta_at(&r, i, &x);
        cr_assert_eq(x.path_len, strlen(paths[i]));
        cr_assert_eq(memcmp(x.path, paths[i], x.path_len), 0);
        cr_assert(x.delta == d[i], "delta %u differs", i);
        cr_assert_eq(x.count, cnt[i], "count %u", i);
    }
}

Test(frame, result_delta_beyond_int64_uses_16_byte_form)
{
    frame_result_head(&g_pk, &fixture_sid, 1, 1, "m", 5, &(frame_pos_t){0}, 3); /* 5 changes allow |delta| <= 1e19 */
    frame_delta_pack(&g_pk, "a", 1, (money_sum_t)INT64_MAX + 1, 1);
    frame_delta_pack(&g_pk, "b", 1, (money_sum_t)INT64_MIN - 1, 1);
    frame_delta_pack(&g_pk, "c", 1, INT64_MIN, 1);
    result_t r;
    cr_assert_eq(s_result(&r), 0, "%s", g_why);
    const msgpack_object *a = r.deltas[0].via.array.ptr;
    cr_assert_eq(a[1].type, MSGPACK_OBJECT_BIN);
    cr_assert_eq(a[1].via.bin.size, 16);
    /* 2^63 as 16 bytes big-endian two's complement: 00..00 80 00..00 */
    cr_assert_eq(memcmp(a[1].via.bin.ptr, "\0\0\0\0\0\0\0\0\x80\0\0\0\0\0\0\0", 16), 0);
    const msgpack_object *b = r.deltas[1].via.array.ptr;
    cr_assert_eq(b[1].type, MSGPACK_OBJECT_BIN);
    cr_assert_eq(memcmp(b[1].via.bin.ptr,
                        "\xff\xff\xff\xff\xff\xff\xff\xff\x7f\xff\xff\xff\xff\xff\xff\xff", 16), 0);
    const msgpack_object *c = r.deltas[2].via.array.ptr;
    cr_assert_eq(c[1].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
}

Test(frame, ack_round_trip)
{
    uint64_t ids[] = {1, 2, UINT64_MAX};
    frame_ack_encode(&g_sb, &fixture_sid, &fixture_rid, ids, 3);
    ack_t a;
    int rc = frame_ack_decode(g_sb.data, g_sb.size, &g_unp, &a, g_why, sizeof g_why);
    cr_assert_eq(rc, 0, "rc=%d %s", rc, g_why);
    cr_assert(frame_id_eq(&a.state, &fixture_sid), "the state's stream id round trips");
    cr_assert(frame_id_eq(&a.reducer, &fixture_rid), "the reducer's id round trips");
    cr_assert_eq(a.n, 3);
    for (uint32_t i = 0; i < 3; i++) cr_assert_eq(a.ids[i].via.u64, ids[i]);
}

Test(frame, ack_empty_round_trip)
{
    frame_ack_encode(&g_sb, &fixture_sid, &fixture_rid, NULL, 0);
    ack_t a = {.n = 99};
    int rc = frame_ack_decode(g_sb.data, g_sb.size, &g_unp, &a, g_why, sizeof g_why);
    cr_assert_eq(rc, 0, "rc=%d %s", rc, g_why);
    cr_assert_eq(a.n, 0);
}

Test(frame, ctl_req_round_trip)
{
    ctl_req_encode(&g_sb, "stats");
    const char *cmd;
    size_t len = 0;
    int rc = ctl_req_decode(g_sb.data, g_sb.size, &g_unp, &cmd, &len, g_why, sizeof g_why);
    cr_assert_eq(rc, 0, "rc=%d %s", rc, g_why);
    cr_assert_eq(len, 5);
    cr_assert_eq(memcmp(cmd, "stats", 5), 0);
}

Test(frame, rejects_other_versions)
{
    msgpack_pack_array(&g_pk, 5);
    msgpack_pack_int(&g_pk, FRAME_VERSION + 1);
    msgpack_pack_int(&g_pk, FRAME_WORK);
    msgpack_pack_uint64(&g_pk, 1);
    msgpack_pack_uint64(&g_pk, 1);
    msgpack_pack_array(&g_pk, 0);
    s_expect_bad_work("version");
}

Test(frame, rejects_version_1_work_with_its_first_seq)
{
    msgpack_pack_array(&g_pk, 6);
    msgpack_pack_int(&g_pk, 1);
    msgpack_pack_int(&g_pk, FRAME_WORK);
    msgpack_pack_uint64(&g_pk, 1);
    msgpack_pack_uint64(&g_pk, 1);
    msgpack_pack_uint64(&g_pk, 1);
    msgpack_pack_array(&g_pk, 0);
    s_expect_bad_work("version");
}

Test(frame, rejects_non_integer_version)
{
    msgpack_pack_array(&g_pk, 3);
    s_str(&g_pk, "1");
    msgpack_pack_int(&g_pk, FRAME_ACK);
    msgpack_pack_array(&g_pk, 0);
    ack_t a;
    cr_assert_eq(frame_ack_decode(g_sb.data, g_sb.size, &g_unp, &a, g_why, sizeof g_why),
                 RP_EPROTO);
    cr_assert(strstr(g_why, "version"), "why='%s'", g_why);
}

Test(frame, rejects_wrong_type)
{
    uint64_t id = 5;
    frame_ack_encode(&g_sb, &fixture_sid, &fixture_rid, &id, 1);
    s_expect_bad_work("type");
}

Test(frame, ctl_req_decoder_rejects_ctl_rep)
{
    ctl_rep_error(&g_sb, "x");
    const char *cmd;
    size_t len;
    cr_assert_eq(ctl_req_decode(g_sb.data, g_sb.size, &g_unp, &cmd, &len, g_why,
                                      sizeof g_why),
                 RP_EPROTO);
    cr_assert(strstr(g_why, "type"), "why='%s'", g_why);
}

Test(frame, rejects_wrong_field_count)
{
    s_head_with_id(&g_pk, FRAME_WORK, 5);
    msgpack_pack_uint64(&g_pk, 1);
    msgpack_pack_array(&g_pk, 0);
    s_expect_bad_work("fields");
}

Test(frame, rejects_extra_field)
{
    ctl_req_encode(&g_sb, "x");
    /* rewrite the array header 0x93 to 0x94 and append one more element */
    cr_assert_eq((unsigned char)g_sb.data[0], 0x93);
    g_sb.data[0] = (char)0x94;
    msgpack_pack_nil(&g_pk);
    const char *cmd;
    size_t len;
    cr_assert_eq(ctl_req_decode(g_sb.data, g_sb.size, &g_unp, &cmd, &len, g_why,
                                      sizeof g_why),
                 RP_EPROTO);
}

Test(frame, rejects_non_array_frame)
{
    msgpack_pack_map(&g_pk, 0);
    s_expect_bad_work("array");
}

Test(frame, rejects_single_element_array)
{
    msgpack_pack_array(&g_pk, 1);
    msgpack_pack_int(&g_pk, 1);
    s_expect_bad_work(NULL);
}

Test(frame, rejects_truncated_and_garbage_bytes)
{
    frame_work_head(&g_pk, &fixture_sid, 1, 1, &(frame_pos_t){0}, 0);
    work_t w;
    msgpack_unpacked_destroy(&g_unp);
    cr_assert_eq(frame_work_decode(g_sb.data, g_sb.size - 1, &g_unp, &w, g_why, sizeof g_why),
                 RP_EPROTO);
    msgpack_unpacked_destroy(&g_unp);
    cr_assert_eq(frame_work_decode("\xc1", 1, &g_unp, &w, g_why, sizeof g_why), RP_EPROTO);
}

static void s_batch_id_string(msgpack_packer *pk)
{
    s_head_with_id(pk, FRAME_WORK, 11);
    s_str(pk, "7");
    msgpack_pack_uint64(pk, 1);
    s_pos_zero(pk);
    msgpack_pack_array(pk, 0);
}

Test(frame, rejects_work_batch_id_of_wrong_type)
{
    s_batch_id_string(&g_pk);
    s_expect_bad_work("wrong type");
}

Test(frame, rejects_work_negative_watermark)
{
    s_head_with_id(&g_pk, FRAME_WORK, 11);
    msgpack_pack_uint64(&g_pk, 1);
    msgpack_pack_int64(&g_pk, -1);
    s_pos_zero(&g_pk);
    msgpack_pack_array(&g_pk, 0);
    s_expect_bad_work("wrong type");
}

Test(frame, rejects_work_changes_not_an_array)
{
    s_head_with_id(&g_pk, FRAME_WORK, 11);
    msgpack_pack_uint64(&g_pk, 1);
    msgpack_pack_uint64(&g_pk, 1);
    s_pos_zero(&g_pk);
    msgpack_pack_map(&g_pk, 0);
    s_expect_bad_work("wrong type");
}

static void s_change_value_without_path(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_nil(pk);
    msgpack_pack_nil(pk);
    msgpack_pack_int64(pk, 5);
    msgpack_pack_nil(pk);
}

static void s_change_path_without_value(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_nil(pk);
    s_str(pk, "a::b");
    msgpack_pack_nil(pk);
    msgpack_pack_nil(pk);
}

static void s_change_empty_path(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_nil(pk);
    msgpack_pack_nil(pk);
    msgpack_pack_int64(pk, 5);
    s_str(pk, "");
}

static void s_change_value_over_max(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_int64(pk, MONEY_MAX + 1);
    s_str(pk, "a");
    msgpack_pack_nil(pk);
    msgpack_pack_nil(pk);
}

static void s_change_value_under_min(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_nil(pk);
    msgpack_pack_nil(pk);
    msgpack_pack_int64(pk, -MONEY_MAX - 1);
    s_str(pk, "a");
}

static void s_change_value_at_max(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_int64(pk, -MONEY_MAX);
    s_str(pk, "a");
    msgpack_pack_int64(pk, MONEY_MAX);
    s_str(pk, "b");
}

static void s_change_three_elements(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3);
    msgpack_pack_nil(pk);
    msgpack_pack_nil(pk);
    msgpack_pack_int64(pk, 5);
}

static void s_change_float_value(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 4);
    msgpack_pack_nil(pk);
    msgpack_pack_nil(pk);
    msgpack_pack_double(pk, 5.0);
    s_str(pk, "a");
}

static void s_change_path_too_long(msgpack_packer *pk)
{
    static char p[HIER_PATH_MAX + 1];
    memset(p, 'p', sizeof p);
    msgpack_pack_array(pk, 4);
    msgpack_pack_nil(pk);
    msgpack_pack_nil(pk);
    msgpack_pack_int64(pk, 5);
    msgpack_pack_str(pk, sizeof p);
    msgpack_pack_str_body(pk, p, sizeof p);
}

Test(frame, rejects_change_value_without_path)
{
    s_work_with(s_change_value_without_path);
    s_expect_bad_work("change 0");
}

Test(frame, rejects_change_path_without_value)
{
    s_work_with(s_change_path_without_value);
    s_expect_bad_work("change 0");
}

Test(frame, rejects_change_with_empty_path)
{
    s_work_with(s_change_empty_path);
    s_expect_bad_work("change 0");
}

Test(frame, rejects_change_value_beyond_money_max)
{
    s_work_with(s_change_value_over_max);
    s_expect_bad_work("change 0");
}

Test(frame, rejects_change_value_below_minus_money_max)
{
    s_work_with(s_change_value_under_min);
    s_expect_bad_work("change 0");
}

Test(frame, accepts_change_values_at_money_max)
{
    s_work_with(s_change_value_at_max);
    work_t w;
    int rc = s_work(&w);
    cr_assert_eq(rc, 0, "rc=%d %s", rc, g_why);
}

Test(frame, rejects_change_of_three_elements)
{
    s_work_with(s_change_three_elements);
    s_expect_bad_work("change 0");
}

Test(frame, rejects_change_with_float_value)
{
    s_work_with(s_change_float_value);
    s_expect_bad_work("change 0");
}

Test(frame, rejects_change_with_path_longer_than_path_max)
{
    s_work_with(s_change_path_too_long);
    s_expect_bad_work("change 0");
}

Test(frame, reports_index_of_malformed_change)
{
    change_t ok = {.has_new = 1, .new_value = 1, .new_path = "a", .new_len = 1};
    frame_work_head(&g_pk, &fixture_sid, 1, 1, &(frame_pos_t){0}, 3);
    frame_change_pack(&g_pk, &ok);
    frame_change_pack(&g_pk, &ok);
    s_change_empty_path(&g_pk);
    s_expect_bad_work("change 2");
}

static void s_delta_empty_path(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3);
    s_str(pk, "");
    msgpack_pack_int64(pk, 1);
    msgpack_pack_int64(pk, 1);
}

static void s_delta_bin15(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3);
    s_str(pk, "a");
    msgpack_pack_bin(pk, 15);
    msgpack_pack_bin_body(pk, "0123456789abcde", 15);
    msgpack_pack_int64(pk, 1);
}

static void s_delta_float(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3);
    s_str(pk, "a");
    msgpack_pack_double(pk, 1.0);
    msgpack_pack_int64(pk, 1);
}

static void s_delta_count_missing(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 2);
    s_str(pk, "a");
    msgpack_pack_int64(pk, 1);
}

static void s_delta_count_too_big(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3);
    s_str(pk, "a");
    msgpack_pack_int64(pk, 1);
    msgpack_pack_uint64(pk, (uint64_t)INT64_MAX + 1);
}

static void s_delta_path_not_string(msgpack_packer *pk)
{
    msgpack_pack_array(pk, 3);
    msgpack_pack_int(pk, 1);
    msgpack_pack_int64(pk, 1);
    msgpack_pack_int64(pk, 1);
}

static void s_delta_not_array(msgpack_packer *pk)
{
    s_str(pk, "a");
}

Test(frame, rejects_delta_with_empty_path)
{
    s_result_with(s_delta_empty_path);
    s_expect_bad_result("delta 0");
}

Test(frame, rejects_delta_bin_of_15_bytes)
{
    s_result_with(s_delta_bin15);
    s_expect_bad_result("delta 0");
}

Test(frame, rejects_delta_as_float)
{
    s_result_with(s_delta_float);
    s_expect_bad_result("delta 0");
}

Test(frame, rejects_delta_without_count)
{
    s_result_with(s_delta_count_missing);
    s_expect_bad_result("delta 0");
}

Test(frame, rejects_delta_count_beyond_int64)
{
    s_result_with(s_delta_count_too_big);
    s_expect_bad_result("delta 0");
}

Test(frame, rejects_delta_path_not_string)
{
    s_result_with(s_delta_path_not_string);
    s_expect_bad_result("delta 0");
}

Test(frame, rejects_delta_not_an_array)
{
    s_result_with(s_delta_not_array);
    s_expect_bad_result("delta 0");
}

Test(frame, rejects_result_mapper_id_longer_than_64)
{
    char id[FRAME_MAPPER_ID_MAX + 2];
    memset(id, 'm', FRAME_MAPPER_ID_MAX + 1);
    id[FRAME_MAPPER_ID_MAX + 1] = 0;
    frame_result_head(&g_pk, &fixture_sid, 1, 1, id, 0, &(frame_pos_t){0}, 0);
    s_expect_bad_result("wrong type");
}

Test(frame, accepts_result_mapper_id_of_64)
{
    char id[FRAME_MAPPER_ID_MAX + 1];
    memset(id, 'm', FRAME_MAPPER_ID_MAX);
    id[FRAME_MAPPER_ID_MAX] = 0;
    frame_result_head(&g_pk, &fixture_sid, 1, 1, id, 0, &(frame_pos_t){0}, 0);
    result_t r;
    int rc = s_result(&r);
    cr_assert_eq(rc, 0, "rc=%d %s", rc, g_why);
    cr_assert_eq(r.mapper_id_len, FRAME_MAPPER_ID_MAX);
}

Test(frame, rejects_result_nchanges_negative)
{
    s_head_with_id(&g_pk, FRAME_RESULT, 13);
    msgpack_pack_uint64(&g_pk, 1);
    msgpack_pack_uint64(&g_pk, 1);
    s_str(&g_pk, "m");
    msgpack_pack_int64(&g_pk, -1);
    s_pos_zero(&g_pk);
    msgpack_pack_array(&g_pk, 0);
    s_expect_bad_result("wrong type");
}

/* Packs the head of an ACK frame up to its ids array. */
static void s_ack_head(void)
{
    msgpack_pack_array(&g_pk, 5);
    msgpack_pack_int(&g_pk, FRAME_VERSION);
    msgpack_pack_int(&g_pk, FRAME_ACK);
    msgpack_pack_bin(&g_pk, FRAME_ID_SIZE);
    msgpack_pack_bin_body(&g_pk, fixture_sid.b, FRAME_ID_SIZE);
    msgpack_pack_bin(&g_pk, FRAME_ID_SIZE);
    msgpack_pack_bin_body(&g_pk, fixture_rid.b, FRAME_ID_SIZE);
}

Test(frame, rejects_ack_with_negative_id)
{
    s_ack_head();
    msgpack_pack_array(&g_pk, 2);
    msgpack_pack_uint64(&g_pk, 1);
    msgpack_pack_int64(&g_pk, -2);
    ack_t a;
    cr_assert_eq(frame_ack_decode(g_sb.data, g_sb.size, &g_unp, &a, g_why, sizeof g_why),
                 RP_EPROTO);
    cr_assert(strstr(g_why, "id 1"), "why='%s'", g_why);
}

Test(frame, rejects_ack_ids_not_an_array)
{
    s_ack_head();
    msgpack_pack_uint64(&g_pk, 1);
    ack_t a;
    cr_assert_eq(frame_ack_decode(g_sb.data, g_sb.size, &g_unp, &a, g_why, sizeof g_why),
                 RP_EPROTO);
}

Test(frame, rejects_ack_over_max_ids)
{
    static uint64_t ids[FRAME_MAX_ACKS + 1];
    for (uint32_t i = 0; i <= FRAME_MAX_ACKS; i++) ids[i] = i + 1;
    frame_ack_encode(&g_sb, &fixture_sid, &fixture_rid, ids, FRAME_MAX_ACKS + 1);
    ack_t a;
    cr_assert_eq(frame_ack_decode(g_sb.data, g_sb.size, &g_unp, &a, g_why, sizeof g_why),
                 RP_EPROTO);
}

Test(frame, rejects_ctl_req_command_not_string)
{
    msgpack_pack_array(&g_pk, 3);
    msgpack_pack_int(&g_pk, FRAME_VERSION);
    msgpack_pack_int(&g_pk, FRAME_CTL_REQ);
    msgpack_pack_int(&g_pk, 1);
    const char *cmd;
    size_t len;
    cr_assert_eq(ctl_req_decode(g_sb.data, g_sb.size, &g_unp, &cmd, &len, g_why,
                                      sizeof g_why),
                 RP_EPROTO);
}

Test(frame, rejects_ctl_rep_payload_not_map)
{
    msgpack_pack_array(&g_pk, 3);
    msgpack_pack_int(&g_pk, FRAME_VERSION);
    msgpack_pack_int(&g_pk, FRAME_CTL_REP);
    msgpack_pack_array(&g_pk, 0);
    const msgpack_object *map;
    cr_assert_eq(ctl_rep_decode(g_sb.data, g_sb.size, &g_unp, &map, g_why, sizeof g_why),
                 RP_EPROTO);
}

/* Decodes a RESULT of 3 changes with one delta (value, count). */
static int s_one_delta(money_sum_t value, int64_t count)
{
    msgpack_sbuffer_clear(&g_sb);
    frame_result_head(&g_pk, &fixture_sid, 1, 1, "m", 3, &(frame_pos_t){0}, 1);
    frame_delta_pack(&g_pk, "a", 1, value, count);
    result_t r;
    return s_result(&r);
}

Test(frame, result_delta_beyond_what_the_batch_can_move_is_rejected)
{
    /* 3 changes move a path by at most 6 values of 1e18 micro-units and 6 trades */
    cr_assert_eq(s_one_delta((money_sum_t)6 * MONEY_MAX + 1, 1), RP_EPROTO);
    cr_assert_eq(s_one_delta(1, -7), RP_EPROTO);
    cr_assert_eq(s_one_delta(-(money_sum_t)6 * MONEY_MAX, 6), 0, "%s", g_why);
}

Test(frame, result_claiming_more_changes_than_a_batch_holds_is_rejected)
{
    frame_result_head(&g_pk, &fixture_sid, 1, 1, "m", FRAME_MAX_CHANGES + 1, &(frame_pos_t){0}, 0);
    result_t r;
    cr_assert_eq(s_result(&r), RP_EPROTO);
}

Test(frame, a_watermark_above_its_batch_id_is_refused)
{
    frame_work_head(&g_pk, &fixture_sid, 5, 6, &(frame_pos_t){0}, 0);
    work_t w;
    RP_ASSERT_RC(s_work(&w), RP_EPROTO);
    cr_assert(strstr(g_why, "watermark 6 above"), "why='%s'", g_why);
    msgpack_sbuffer_clear(&g_sb);
    frame_result_head(&g_pk, &fixture_sid, 9, UINT64_MAX, "m1", 0, &(frame_pos_t){0}, 0);
    result_t r;
    RP_ASSERT_RC(s_result(&r), RP_EPROTO);
    cr_assert(strstr(g_why, "above"), "why='%s'", g_why);
    msgpack_sbuffer_clear(&g_sb);
    frame_result_head(&g_pk, &fixture_sid, 9, 9, "m1", 0, &(frame_pos_t){0}, 0);
    RP_ASSERT_OK(s_result(&r), "a watermark equal to the batch id is fine: %s", g_why);
}

Test(frame, rejects_ack_whose_stream_id_is_not_16_bytes)
{
    msgpack_pack_array(&g_pk, 5);
    msgpack_pack_int(&g_pk, FRAME_VERSION);
    msgpack_pack_int(&g_pk, FRAME_ACK);
    msgpack_pack_bin(&g_pk, 15);
    msgpack_pack_bin_body(&g_pk, fixture_sid.b, 15);
    msgpack_pack_bin(&g_pk, FRAME_ID_SIZE);
    msgpack_pack_bin_body(&g_pk, fixture_rid.b, FRAME_ID_SIZE);
    msgpack_pack_array(&g_pk, 0);
    ack_t a;
    RP_ASSERT_RC(frame_ack_decode(g_sb.data, g_sb.size, &g_unp, &a, g_why, sizeof g_why),
                 RP_EPROTO);
    cr_assert(strstr(g_why, "stream ids"), "why='%s'", g_why);
}

Test(frame, work_and_result_carry_the_state_stream_id)
{
    const frame_id_t other = {{9, 9, 9}};
    frame_work_head(&g_pk, &other, 3, 2, &(frame_pos_t){0}, 0);
    work_t w;
    RP_ASSERT_OK(s_work(&w), "%s", g_why);
    cr_assert(frame_id_eq(&w.state, &other));
    cr_assert_not(frame_id_eq(&w.state, &fixture_sid));
    msgpack_sbuffer_clear(&g_sb);
    frame_result_head(&g_pk, &other, 3, 2, "m", 0, &(frame_pos_t){0}, 0);
    result_t r;
    RP_ASSERT_OK(s_result(&r), "%s", g_why);
    cr_assert(frame_id_eq(&r.state, &other));
    char hex[2 * FRAME_ID_SIZE + 1];
    frame_id_format(&other, hex);
    cr_assert_str_eq(hex, "09090900000000000000000000000000");
}

/* msgpack-c's own packing of a change, the encoder's oracle. */
static void s_pack_change_msgpack_c(msgpack_sbuffer *sb, const change_t *c)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 4);
    if (c->has_old) {
        msgpack_pack_int64(&pk, c->old_value);
        msgpack_pack_str(&pk, c->old_len);
        msgpack_pack_str_body(&pk, c->old_path, c->old_len);
    } else {
        msgpack_pack_nil(&pk);
        msgpack_pack_nil(&pk);
    }
    if (c->has_new) {
        msgpack_pack_int64(&pk, c->new_value);
        msgpack_pack_str(&pk, c->new_len);
        msgpack_pack_str_body(&pk, c->new_path, c->new_len);
    } else {
        msgpack_pack_nil(&pk);
        msgpack_pack_nil(&pk);
    }
}

Test(frame, a_change_is_encoded_with_the_bytes_msgpack_c_writes)
{
    const int64_t values[] = {0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 4294967295LL,
                              4294967296LL, INT64_MAX, -1, -32, -33, -128, -129, -32768, -32769,
                              -2147483648LL, -2147483649LL, INT64_MIN, 1000000000000000000LL,
                              -1000000000000000000LL, 12500000};
    const size_t lens[] = {0, 1, 31, 32, 255, 256, HIER_PATH_MAX};
    static char path[HIER_PATH_MAX];
    memset(path, 'x', sizeof path);
    msgpack_sbuffer want;
    msgpack_sbuffer_init(&want);
    char got[FRAME_CHANGE_MAX(HIER_PATH_MAX, HIER_PATH_MAX)];
    int cases = 0;
    for (size_t v = 0; v < sizeof values / sizeof values[0]; v++)
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++)
            for (int sides = 1; sides < 4; sides++) {
                change_t c = {.has_old = sides & 1, .old_value = values[v], .old_path = path,
                              .old_len = lens[l], .has_new = (sides >> 1) & 1,
                              .new_value = -values[v] / 3, .new_path = path + 1,
                              .new_len = lens[(l + 3) % 7] - (lens[(l + 3) % 7] > 0)};
                msgpack_sbuffer_clear(&want);
                s_pack_change_msgpack_c(&want, &c);
                size_t n = frame_change_encode(&c, got);
                cr_assert_leq(n, FRAME_CHANGE_MAX(c.old_len, c.new_len));
                cr_assert_eq(n, want.size, "value %lld, path %zu: %zu bytes, msgpack-c %zu",
                             (long long)values[v], lens[l], n, want.size);
                cr_assert_eq(memcmp(got, want.data, n), 0, "value %lld, path %zu",
                             (long long)values[v], lens[l]);
                cases++;
            }
    cr_assert_eq(cases, 26 * 7 * 3);
    msgpack_sbuffer_destroy(&want);
}
