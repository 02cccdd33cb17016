/* Unit tests for proto/mp.h: the msgpack pre-scan (every type family, truncated
 * headers and bodies, trailing bytes, depth and item limits), the stackless
 * skip walker and header reader, and the small accessors used by the codecs. */
#include "../../common/rperr.h"
#include "../../proto/mp.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <string.h>

#define WHY 160
#define CHK(lit, depth, items) mp_check((lit), sizeof(lit) - 1, (depth), (items), why, sizeof why)

typedef struct {
    const char *name;
    const char *bytes;
    size_t len;
} enc_t;

#define E(n, lit) {(n), (lit), sizeof(lit) - 1}

/* One complete encoding of every msgpack type byte family. */
static const enc_t s_encs[] = {
    E("positive fixint", "\x05"),
    E("negative fixint", "\xff"),
    E("nil", "\xc0"),
    E("false", "\xc2"),
    E("true", "\xc3"),
    E("fixmap", "\x81\xa1k\x01"),
    E("fixarray", "\x92\x01\x02"),
    E("fixstr", "\xa3" "abc"),
    E("bin8", "\xc4\x02xy"),
    E("bin16", "\xc5\x00\x02xy"),
    E("bin32", "\xc6\x00\x00\x00\x02xy"),
    E("ext8", "\xc7\x02\x01xy"),
    E("ext16", "\xc8\x00\x02\x01xy"),
    E("ext32", "\xc9\x00\x00\x00\x02\x01xy"),
    E("float32", "\xca\x3f\xc0\x00\x00"),
    E("float64", "\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"),
    E("uint8", "\xcc\xff"),
    E("uint16", "\xcd\xff\xff"),
    E("uint32", "\xce\xff\xff\xff\xff"),
    E("uint64", "\xcf\xff\xff\xff\xff\xff\xff\xff\xff"),
    E("int8", "\xd0\x80"),
    E("int16", "\xd1\x80\x00"),
    E("int32", "\xd2\x80\x00\x00\x00"),
    E("int64", "\xd3\x80\x00\x00\x00\x00\x00\x00\x00"),
    E("fixext1", "\xd4\x01x"),
    E("fixext2", "\xd5\x01xy"),
    E("fixext4", "\xd6\x01wxyz"),
    E("fixext8", "\xd7\x01" "abcdefgh"),
    E("fixext16", "\xd8\x01" "abcdefghijklmnop"),
    E("str8", "\xd9\x02xy"),
    E("str16", "\xda\x00\x02xy"),
    E("str32", "\xdb\x00\x00\x00\x02xy"),
    E("array16", "\xdc\x00\x02\x01\x02"),
    E("array32", "\xdd\x00\x00\x00\x02\x01\x02"),
    E("map16", "\xde\x00\x01\x01\x02"),
    E("map32", "\xdf\x00\x00\x00\x01\x01\x02"),
};
#define NENCS (sizeof s_encs / sizeof s_encs[0])

/* n arrays nested in each other around a single nil: [[...[nil]...]]. */
static size_t s_nested(char *buf, int n)
{
    memset(buf, 0x91, (size_t)n);
    buf[n] = (char)0xc0;
    return (size_t)n + 1;
}

Test(mp, accepts_every_type_family)
{
    for (size_t i = 0; i < NENCS; i++) {
        char why[WHY] = "";
        int rc = mp_check(s_encs[i].bytes, s_encs[i].len, 4, 16, why, sizeof why);
        RP_ASSERT_OK(rc, "%s: %s", s_encs[i].name, why);
    }
}

Test(mp, every_type_family_agrees_with_msgpack_c)
{
    /* The pre-scan's notion of an object's size must equal msgpack-c's. */
    for (size_t i = 0; i < NENCS; i++) {
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        int r = msgpack_unpack_next(&u, s_encs[i].bytes, s_encs[i].len, &off);
        cr_assert_eq(r, MSGPACK_UNPACK_SUCCESS, "%s", s_encs[i].name);
        cr_assert_eq(off, s_encs[i].len, "%s: msgpack-c consumed %zu of %zu", s_encs[i].name,
                     off, s_encs[i].len);
        msgpack_unpacked_destroy(&u);
    }
}

Test(mp, every_proper_prefix_is_rejected_as_truncated)
{
    for (size_t i = 0; i < NENCS; i++)
        for (size_t cut = 0; cut < s_encs[i].len; cut++) {
            char why[WHY] = "";
            int rc = mp_check(s_encs[i].bytes, cut, 4, 16, why, sizeof why);
            cr_assert_eq(rc, RP_EPROTO, "%s cut to %zu bytes accepted", s_encs[i].name, cut);
            cr_assert(strstr(why, "truncated"), "%s cut to %zu: why='%s'", s_encs[i].name, cut,
                      why);
        }
}

Test(mp, rejects_trailing_bytes)
{
    for (size_t i = 0; i < NENCS; i++) {
        char buf[64], why[WHY] = "";
        memcpy(buf, s_encs[i].bytes, s_encs[i].len);
        buf[s_encs[i].len] = 0x01;
        int rc = mp_check(buf, s_encs[i].len + 1, 4, 16, why, sizeof why);
        cr_assert_eq(rc, RP_EPROTO, "%s + 1 byte accepted", s_encs[i].name);
        cr_assert(strstr(why, "trailing"), "%s: why='%s'", s_encs[i].name, why);
    }
}

Test(mp, rejects_empty_buffer)
{
    char why[WHY] = "";
    cr_assert_eq(mp_check("", 0, 4, 16, why, sizeof why), RP_EPROTO);
}

Test(mp, rejects_reserved_type_byte_c1)
{
    char why[WHY] = "";
    cr_assert_eq(CHK("\xc1", 4, 16), RP_EPROTO);
    cr_assert(strstr(why, "0xc1"), "why='%s'", why);
    cr_assert_eq(CHK("\x92\x01\xc1", 4, 16), RP_EPROTO);
}

Test(mp, rejects_truncated_str_headers)
{
    char why[WHY] = "";
    cr_assert_eq(CHK("\xd9", 4, 16), RP_EPROTO);
    cr_assert_eq(CHK("\xda\x00", 4, 16), RP_EPROTO);
    cr_assert_eq(CHK("\xdb\x00\x00\x00", 4, 16), RP_EPROTO);
    cr_assert_eq(CHK("\xa5" "abcd", 4, 16), RP_EPROTO);
}

Test(mp, rejects_str32_length_beyond_buffer)
{
    char why[WHY] = "";
    cr_assert_eq(CHK("\xdb\xff\xff\xff\xff" "abc", 4, 16), RP_EPROTO);
    cr_assert(strstr(why, "truncated"), "why='%s'", why);
}

Test(mp, rejects_truncated_bin_and_ext_headers)
{
    char why[WHY] = "";
    cr_assert_eq(CHK("\xc4", 4, 16), RP_EPROTO);
    cr_assert_eq(CHK("\xc6\x00\x00\x00\x05" "ab", 4, 16), RP_EPROTO);
    cr_assert_eq(CHK("\xc7\x01", 4, 16), RP_EPROTO); /* type byte missing */
    cr_assert_eq(CHK("\xc9\x00\x00", 4, 16), RP_EPROTO);
    cr_assert_eq(CHK("\xd8\x01" "abc", 4, 16), RP_EPROTO);
}

Test(mp, rejects_truncated_array_and_map_headers)
{
    char why[WHY] = "";
    cr_assert_eq(CHK("\xdc\x00", 4, 16), RP_EPROTO);
    cr_assert_eq(CHK("\xdd\x00\x00", 4, 16), RP_EPROTO);
    cr_assert_eq(CHK("\xde", 4, 16), RP_EPROTO);
    cr_assert_eq(CHK("\xdf\x00\x00\x00", 4, 16), RP_EPROTO);
    cr_assert_eq(CHK("\x93\x01\x02", 4, 16), RP_EPROTO);
    cr_assert_eq(CHK("\x82\x01\x02\x03", 4, 16), RP_EPROTO);
}

Test(mp, huge_declared_array_rejected_by_bytes_left)
{
    char why[WHY] = "";
    cr_assert_eq(CHK("\xdd\xff\xff\xff\xff\x01", 4, UINT32_MAX), RP_EPROTO);
    cr_assert(strstr(why, "items declared"), "why='%s'", why);
    cr_assert_eq(CHK("\xdf\xff\xff\xff\xff\x01\x01", 4, UINT32_MAX), RP_EPROTO);
    cr_assert(strstr(why, "items declared"), "why='%s'", why);
}

Test(mp, valid_nested_objects_pass)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    mp_pack_cstr(&pk, "a");
    msgpack_pack_array(&pk, 6);
    msgpack_pack_int64(&pk, -123456789012LL);
    msgpack_pack_double(&pk, 1.5);
    mp_pack_cstr(&pk, "x");
    msgpack_pack_bin(&pk, 3);
    msgpack_pack_bin_body(&pk, "abc", 3);
    msgpack_pack_nil(&pk);
    msgpack_pack_ext(&pk, 2, 7);
    msgpack_pack_ext_body(&pk, "zz", 2);
    mp_pack_cstr(&pk, "b");
    msgpack_pack_map(&pk, 1);
    mp_pack_cstr(&pk, "c");
    msgpack_pack_map(&pk, 0);
    char why[WHY] = "";
    int rc = mp_check(sb.data, sb.size, 3, 16, why, sizeof why);
    RP_ASSERT_OK(rc, "%s", why);
    msgpack_sbuffer_destroy(&sb);
}

Test(mp, depth_exactly_at_limit_passes)
{
    char buf[64], why[WHY] = "";
    size_t n = s_nested(buf, 3);
    int rc = mp_check(buf, n, 3, 16, why, sizeof why);
    cr_assert_eq(rc, 0, "rc=%d %s", rc, why);
}

Test(mp, depth_one_beyond_limit_fails)
{
    char buf[64], why[WHY] = "";
    size_t n = s_nested(buf, 4);
    cr_assert_eq(mp_check(buf, n, 3, 16, why, sizeof why), RP_EPROTO);
    cr_assert(strstr(why, "nested"), "why='%s'", why);
}

Test(mp, depth_limit_applies_to_maps)
{
    char why[WHY] = "";
    cr_assert_eq(CHK("\x81\x01\x81\x01\xc0", 2, 16), 0, "%s", why);
    cr_assert_eq(CHK("\x81\x01\x81\x01\x81\x01\xc0", 2, 16), RP_EPROTO);
}

Test(mp, empty_innermost_container_counts_toward_depth)
{
    /* The header promises "nested at most max_depth containers deep": four
     * nested arrays are four deep even when the innermost one is empty. */
    char why[WHY] = "";
    cr_assert_eq(CHK("\x91\x91\x90", 3, 16), 0, "%s", why);
    cr_assert_eq(CHK("\x91\x91\x91\x90", 3, 16), RP_EPROTO,
                 "4 nested containers accepted with max_depth 3");
}

Test(mp, depth_is_capped_at_mp_max_depth)
{
    char buf[64], why[WHY] = "";
    size_t n = s_nested(buf, MP_MAX_DEPTH);
    cr_assert_eq(mp_check(buf, n, 1000, 16, why, sizeof why), 0, "%s", why);
    n = s_nested(buf, MP_MAX_DEPTH + 1);
    cr_assert_eq(mp_check(buf, n, 1000, 16, why, sizeof why), RP_EPROTO);
}

Test(mp, deep_hostile_nesting_is_rejected)
{
    char buf[100001], why[WHY] = "";
    size_t n = s_nested(buf, 100000);
    cr_assert_eq(mp_check(buf, n, MP_MAX_DEPTH, 16, why, sizeof why), RP_EPROTO);
    cr_assert(strstr(why, "nested"), "why='%s'", why);
}

Test(mp, max_items_exact_array_passes_one_more_fails)
{
    char why[WHY] = "";
    cr_assert_eq(CHK("\x93\x01\x02\x03", 2, 3), 0, "%s", why);
    cr_assert_eq(CHK("\x94\x01\x02\x03\x04", 2, 3), RP_EPROTO);
    cr_assert(strstr(why, "exceeds"), "why='%s'", why);
}

Test(mp, max_items_counts_map_entries_not_keys_and_values)
{
    char why[WHY] = "";
    cr_assert_eq(CHK("\x82\x01\x02\x03\x04", 2, 2), 0, "%s", why);
    cr_assert_eq(CHK("\x83\x01\x02\x03\x04\x05\x06", 2, 2), RP_EPROTO);
}

Test(mp, max_items_applies_to_nested_and_wide_headers)
{
    char why[WHY] = "";
    cr_assert_eq(CHK("\x91\xdc\x00\x03\x01\x02\x03", 2, 2), RP_EPROTO);
    cr_assert_eq(CHK("\xde\x00\x03\x01\x02\x03\x04\x05\x06", 2, 2), RP_EPROTO);
}

Test(mp, skip_ends_where_msgpack_c_ends_for_every_type_family)
{
    for (size_t i = 0; i < NENCS; i++) {
        char why[WHY] = "";
        size_t off = 0;
        int rc = mp_skip(s_encs[i].bytes, s_encs[i].len, &off, why, sizeof why);
        RP_ASSERT_OK(rc, "%s: %s", s_encs[i].name, why);
        cr_assert_eq(off, s_encs[i].len, "%s: skipped %zu of %zu bytes", s_encs[i].name, off,
                     s_encs[i].len);
    }
}

Test(mp, skip_steps_over_consecutive_objects_one_at_a_time)
{
    char buf[512];
    size_t ends[NENCS], len = 0;
    for (size_t i = 0; i < NENCS; i++) {
        memcpy(buf + len, s_encs[i].bytes, s_encs[i].len);
        ends[i] = len += s_encs[i].len;
    }
    size_t off = 0;
    for (size_t i = 0; i < NENCS; i++) {
        char why[WHY] = "";
        int rc = mp_skip(buf, len, &off, why, sizeof why);
        RP_ASSERT_OK(rc, "object %zu (%s): %s", i, s_encs[i].name, why);
        cr_assert_eq(off, ends[i], "object %zu (%s) ends at %zu, not %zu", i, s_encs[i].name, off,
                     ends[i]);
    }
}

Test(mp, skip_rejects_every_proper_prefix_and_keeps_off)
{
    for (size_t i = 0; i < NENCS; i++)
        for (size_t cut = 0; cut < s_encs[i].len; cut++) {
            char why[WHY] = "";
            size_t off = 0;
            int rc = mp_skip(s_encs[i].bytes, cut, &off, why, sizeof why);
            cr_assert_eq(rc, RP_EPROTO, "%s cut to %zu bytes skipped", s_encs[i].name, cut);
            cr_assert(strstr(why, "truncated"), "%s cut to %zu: why='%s'", s_encs[i].name, cut,
                      why);
            cr_assert_eq(off, 0, "%s cut to %zu: off moved on failure", s_encs[i].name, cut);
        }
}

Test(mp, skip_believes_no_length_beyond_len)
{
    /* The bytes after len would complete each object: only len may decide. */
    char why[WHY] = "";
    size_t off = 0;
    cr_assert_eq(mp_skip("\x92\x01\x02", 2, &off, why, sizeof why), RP_EPROTO);
    cr_assert_eq(mp_skip("\xa3" "abc", 3, &off, why, sizeof why), RP_EPROTO);
    cr_assert_eq(mp_skip("\x81\x01\x81\x02\x03", 4, &off, why, sizeof why), RP_EPROTO);
    cr_assert_eq(mp_skip("\x92\xa2xy\x01", 4, &off, why, sizeof why), RP_EPROTO);
    cr_assert_eq(off, 0);
}

Test(mp, skip_refuses_hostile_counts_by_the_bytes_left)
{
    char why[WHY] = "";
    size_t off = 0;
    cr_assert_eq(mp_skip("\xdd\xff\xff\xff\xff\x01", 6, &off, why, sizeof why), RP_EPROTO);
    cr_assert(strstr(why, "items declared"), "why='%s'", why);
    cr_assert_eq(mp_skip("\xdf\xff\xff\xff\xff\x01\x01", 7, &off, why, sizeof why), RP_EPROTO);
    cr_assert(strstr(why, "items declared"), "why='%s'", why);
    cr_assert_eq(mp_skip("\xdb\xff\xff\xff\xff" "abc", 8, &off, why, sizeof why), RP_EPROTO);
    /* Two arrays of 3 inside an array of 2 need 9 bytes; 7 are there. */
    cr_assert_eq(mp_skip("\x92\x93\x01\x02\x03\x93\x01", 7, &off, why, sizeof why), RP_EPROTO);
    cr_assert_eq(off, 0);
}

Test(mp, skip_rejects_reserved_type_byte_anywhere)
{
    char why[WHY] = "";
    size_t off = 0;
    cr_assert_eq(mp_skip("\xc1", 1, &off, why, sizeof why), RP_EPROTO);
    cr_assert(strstr(why, "0xc1"), "why='%s'", why);
    cr_assert_eq(mp_skip("\x92\x01\xc1", 3, &off, why, sizeof why), RP_EPROTO);
}

Test(mp, skip_needs_no_stack_for_hostile_nesting)
{
    /* mp_check refuses this for its depth; the skip walker only counts. */
    static char buf[100001];
    char why[WHY] = "";
    size_t n = s_nested(buf, 100000), off = 0;
    int rc = mp_skip(buf, n, &off, why, sizeof why);
    RP_ASSERT_OK(rc, "%s", why);
    cr_assert_eq(off, n);
    cr_assert_eq(mp_skip(buf, n - 1, &(size_t){0}, why, sizeof why), RP_EPROTO);
}

Test(mp, head_reads_kind_count_and_string_bytes)
{
    /* {"ab": [1, 2, 3]} with a map16 header, then a str8 and a float64. */
    static const char b[] = "\xde\x00\x01\xa2" "ab\x93\x01\x02\x03\xd9\x02xy"
                            "\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00";
    size_t len = sizeof b - 1, off = 0;
    char why[WHY] = "";
    mp_head_t h;
    RP_ASSERT_OK(mp_head(b, len, &off, &h, why, sizeof why), "%s", why);
    cr_assert_eq(h.kind, MP_MAP);
    cr_assert_eq(h.n, 1);
    cr_assert_eq(off, 3, "a map's header ends before its first key");
    RP_ASSERT_OK(mp_head(b, len, &off, &h, why, sizeof why), "%s", why);
    cr_assert_eq(h.kind, MP_STR);
    cr_assert_eq(h.n, 2);
    cr_assert_eq(memcmp(h.str, "ab", 2), 0);
    cr_assert_eq(off, 6, "a string's header is read with its bytes");
    RP_ASSERT_OK(mp_head(b, len, &off, &h, why, sizeof why), "%s", why);
    cr_assert_eq(h.kind, MP_ARRAY);
    cr_assert_eq(h.n, 3);
    cr_assert_eq(off, 7);
    RP_ASSERT_OK(mp_skip(b, len, &off, why, sizeof why), "%s", why); /* the 1 */
    off += 2;
    RP_ASSERT_OK(mp_head(b, len, &off, &h, why, sizeof why), "%s", why);
    cr_assert_eq(h.kind, MP_STR);
    cr_assert_eq(h.n, 2);
    cr_assert_eq(memcmp(h.str, "xy", 2), 0);
    RP_ASSERT_OK(mp_head(b, len, &off, &h, why, sizeof why), "%s", why);
    cr_assert_eq(h.kind, MP_SCALAR);
    cr_assert_null(h.str);
    cr_assert_eq(off, len);
    cr_assert_eq(mp_head(b, len, &off, &h, why, sizeof why), RP_EPROTO, "read past the end");
    cr_assert_eq(off, len);
}

Test(mp, unpack_yields_object_and_rejects_bad_input)
{
    msgpack_unpacked u;
    char why[WHY] = "";
    int rc = mp_unpack("\x92\x01\xa1x", 4, 2, 4, &u, why, sizeof why);
    cr_assert_eq(rc, 0, "rc=%d %s", rc, why);
    cr_assert_eq(u.data.type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq(u.data.via.array.size, 2);
    msgpack_unpacked_destroy(&u);
    rc = mp_unpack("\x92\x01", 2, 2, 4, &u, why, sizeof why);
    cr_assert_eq(rc, RP_EPROTO);
    msgpack_unpacked_destroy(&u);
}

Test(mp, map_get_and_str_eq)
{
    msgpack_unpacked u;
    char why[WHY] = "";
    /* {"ab": 1, 5: 2, "a": 3} */
    static const char b[] = "\x83\xa2" "ab\x01\x05\x02\xa1" "a\x03";
    int rc = mp_unpack(b, sizeof b - 1, 2, 4, &u, why, sizeof why);
    cr_assert_eq(rc, 0, "%s", why);
    const msgpack_object *v = mp_map_get(&u.data, "a");
    cr_assert_not_null(v);
    cr_assert_eq(v->via.u64, 3);
    cr_assert_null(mp_map_get(&u.data, "b"));
    cr_assert_null(mp_map_get(&u.data, "abc"));
    cr_assert_null(mp_map_get(&u.data.via.map.ptr[0].val, "a"), "non-map must give NULL");
    cr_assert(mp_str_eq(&u.data.via.map.ptr[0].key, "ab"));
    cr_assert_not(mp_str_eq(&u.data.via.map.ptr[0].key, "a"));
    cr_assert_not(mp_str_eq(&u.data.via.map.ptr[1].key, "5"));
    msgpack_unpacked_destroy(&u);
}

Test(mp, get_i64_bounds)
{
    msgpack_unpacked u;
    char why[WHY] = "";
    /* [INT64_MAX, INT64_MAX + 1, INT64_MIN, 1.0, "1"] */
    const char b[] = "\x95\xcf\x7f\xff\xff\xff\xff\xff\xff\xff\xcf\x80\x00\x00\x00\x00\x00\x00\x00"
                     "\xd3\x80\x00\x00\x00\x00\x00\x00\x00\xcb\x3f\xf0\x00\x00\x00\x00\x00\x00"
                     "\xa1" "1";
    int rc = mp_unpack(b, sizeof b - 1, 2, 8, &u, why, sizeof why);
    cr_assert_eq(rc, 0, "%s", why);
    const msgpack_object *a = u.data.via.array.ptr;
    int64_t x = 0;
    cr_assert_eq(mp_get_i64(&a[0], &x), 0);
    cr_assert_eq(x, INT64_MAX);
    cr_assert_eq(mp_get_i64(&a[1], &x), RP_EPROTO);
    cr_assert_eq(mp_get_i64(&a[2], &x), 0);
    cr_assert_eq(x, INT64_MIN);
    cr_assert_eq(mp_get_i64(&a[3], &x), RP_EPROTO);
    cr_assert_eq(mp_get_i64(&a[4], &x), RP_EPROTO);
    msgpack_unpacked_destroy(&u);
}

Test(mp, pack_str_writes_exact_bytes)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    mp_pack_str(&pk, "a\0b", 3);
    mp_pack_cstr(&pk, "hi");
    cr_assert_eq(sb.size, 7);
    cr_assert_eq(memcmp(sb.data, "\xa3" "a\0b\xa2" "hi", 7), 0);
    msgpack_sbuffer_destroy(&sb);
}
