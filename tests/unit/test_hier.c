/* Unit tests for common/hier.h: level list parsing, level value validation
 * (length, UTF-8 classes, control and format characters by code point,
 * Unicode NFC, ':' placement) and joining a path and splitting it back into
 * prefix lengths. */
#include "../../common/hier.h"
#include "../../common/rperr.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <string.h>

static char g_why[160];

/* The reason hier_check_value gives for a literal, or NULL when it is valid. */
#define BAD(lit) s_bad((lit), sizeof(lit) - 1)

static const char *s_bad(const char *s, size_t len)
{
    g_why[0] = 0;
    int rc = hier_check_value(s, len, g_why, sizeof g_why);
    if (rc) cr_assert_eq(rc, RP_EINVAL, "rc=%d", rc);
    if (rc) cr_assert_neq(g_why[0], 0, "rejected without a reason");
    return rc ? g_why : NULL;
}

static void s_valid(const char *s, size_t len)
{
    const char *why = s_bad(s, len);
    cr_assert_null(why, "value of %zu bytes rejected: %s", len, why ? why : "");
}

static void s_invalid(const char *s, size_t len, const char *needle)
{
    const char *why = s_bad(s, len);
    cr_assert_not_null(why, "value of %zu bytes accepted", len);
    if (needle) cr_assert(strstr(why, needle), "reason '%s' does not mention '%s'", why, needle);
}

Test(hier, levels_parse_default_list)
{
    hier_levels_t h;
    char why[128] = "";
    int rc = hier_levels_parse(HIER_DEFAULT, &h, why, sizeof why);
    RP_ASSERT_OK(rc, "%s", why);
    cr_assert_eq(h.n, 3);
    cr_assert_str_eq(h.name[0], "RiskType");
    cr_assert_str_eq(h.name[1], "Region");
    cr_assert_str_eq(h.name[2], "TradeDesk");
}

Test(hier, levels_parse_single_level)
{
    hier_levels_t h;
    char why[128] = "";
    int rc = hier_levels_parse("Book", &h, why, sizeof why);
    RP_ASSERT_OK(rc, "%s", why);
    cr_assert_eq(h.n, 1);
    cr_assert_str_eq(h.name[0], "Book");
}

Test(hier, levels_parse_rejects_duplicates)
{
    hier_levels_t h;
    char why[128] = "";
    int rc = hier_levels_parse("A,B,A", &h, why, sizeof why);
    cr_assert_eq(rc, RP_EINVAL, "rc=%d", rc);
    cr_assert(strstr(why, "'A'"), "why='%s'", why);
}

Test(hier, levels_parse_rejects_empty_names)
{
    const char *bad[] = {"", "A,,B", ",A", "A,"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        hier_levels_t h;
        char why[128] = "";
        int rc = hier_levels_parse(bad[i], &h, why, sizeof why);
        cr_assert_eq(rc, RP_EINVAL, "'%s' accepted", bad[i]);
        cr_assert(strstr(why, "empty"), "'%s': why='%s'", bad[i], why);
    }
}

Test(hier, levels_parse_null_list_is_rejected)
{
    hier_levels_t h;
    char why[128] = "";
    cr_assert_eq(hier_levels_parse(NULL, &h, why, sizeof why), RP_EINVAL);
}

Test(hier, levels_parse_accepts_eight_rejects_nine)
{
    hier_levels_t h;
    char why[128] = "";
    int rc = hier_levels_parse("a,b,c,d,e,f,g,h", &h, why, sizeof why);
    RP_ASSERT_OK(rc, "%s", why);
    cr_assert_eq(h.n, 8);
    cr_assert_str_eq(h.name[7], "h");
    rc = hier_levels_parse("a,b,c,d,e,f,g,h,i", &h, why, sizeof why);
    cr_assert_eq(rc, RP_EINVAL, "nine levels accepted");
    cr_assert(strstr(why, "at most 8"), "why='%s'", why);
}

Test(hier, levels_parse_rejects_name_longer_than_64_bytes)
{
    char list[80];
    memset(list, 'n', 65);
    list[65] = 0;
    hier_levels_t h;
    char why[128] = "";
    cr_assert_eq(hier_levels_parse(list, &h, why, sizeof why), RP_EINVAL);
    list[64] = 0;
    int rc = hier_levels_parse(list, &h, why, sizeof why);
    cr_assert_eq(rc, 0, "64-byte name: rc=%d %s", rc, why);
    cr_assert_eq(strlen(h.name[0]), 64);
}

Test(hier, levels_format_writes_comma_list)
{
    hier_levels_t h;
    char why[128], buf[256];
    cr_assert_eq(hier_levels_parse("RiskType,Region,TradeDesk", &h, why, sizeof why), 0);
    size_t n = hier_levels_format(&h, buf, sizeof buf);
    cr_assert_str_eq(buf, "RiskType,Region,TradeDesk");
    cr_assert_eq(n, 25);
}

Test(hier, check_value_rejects_empty)
{
    s_invalid("", 0, "empty");
}

Test(hier, check_value_accepts_64_bytes_rejects_65)
{
    char s[65];
    memset(s, 'x', sizeof s);
    s_valid(s, 64);
    s_invalid(s, 65, "64");
}

Test(hier, check_value_accepts_64_bytes_of_multibyte_utf8)
{
    char s[64];
    for (int i = 0; i < 64; i += 2) memcpy(s + i, "\xc3\xa9", 2); /* 32 x e-acute */
    s_valid(s, 64);
}

Test(hier, check_value_rejects_double_colon_inside)
{
    cr_assert_not_null(BAD("a::b"));
    cr_assert(strstr(BAD("a::b"), "::"), "%s", BAD("a::b"));
    cr_assert_not_null(BAD("a:::b"));
}

Test(hier, check_value_accepts_single_colon_inside)
{
    cr_assert_null(BAD("a:b"));
    cr_assert_null(BAD("x:y:z"));
}

Test(hier, check_value_rejects_leading_or_trailing_colon)
{
    cr_assert_not_null(BAD(":a"));
    cr_assert_not_null(BAD("a:"));
    cr_assert_not_null(BAD(":"));
}

Test(hier, check_value_rejects_control_characters)
{
    cr_assert_not_null(BAD("a\x01"));
    cr_assert_not_null(BAD("a\tb"));
    cr_assert_not_null(BAD("a\nb"));
    cr_assert_not_null(BAD("\x1f"));
    cr_assert_not_null(BAD("a\x7f"));
    s_invalid("a\0b", 3, "control");
}

Test(hier, check_value_accepts_space_and_punctuation)
{
    cr_assert_null(BAD("FX Spot / G10"));
    cr_assert_null(BAD("~"));
}

Test(hier, check_value_rejects_overlong_encodings)
{
    s_invalid("\xc0\x80", 2, "UTF-8");
    s_invalid("\xc1\xbf", 2, "UTF-8");
    s_invalid("\xe0\x80\x80", 3, "UTF-8");
    s_invalid("\xe0\x9f\xbf", 3, "UTF-8");
    s_invalid("\xf0\x80\x80\x80", 4, "UTF-8");
    s_invalid("\xf0\x8f\xbf\xbf", 4, "UTF-8");
}

Test(hier, check_value_rejects_surrogates)
{
    s_invalid("\xed\xa0\x80", 3, "UTF-8");
    s_invalid("\xed\xbf\xbf", 3, "UTF-8");
}

Test(hier, check_value_rejects_truncated_multibyte_at_end)
{
    s_invalid("a\xc3", 2, "UTF-8");
    s_invalid("a\xe2\x82", 3, "UTF-8");
    s_invalid("a\xf0\x9f\x98", 4, "UTF-8");
}

Test(hier, utf8_check_never_reads_past_len)
{
    /* The bytes after len complete each sequence: only len may decide. */
    cr_assert_eq(hier_utf8_valid("a\xc3\xa9", 2), 0);
    cr_assert_eq(hier_utf8_valid("a\xe2\x82\xac", 3), 0);
    cr_assert_eq(hier_utf8_valid("a\xf0\x9f\x98\x80", 4), 0);
    cr_assert_eq(hier_utf8_valid("a\xf0\x9f\x98\x80", 5), 1);
}

Test(hier, check_value_rejects_bad_lead_and_continuation_bytes)
{
    s_invalid("\x80", 1, "UTF-8");
    s_invalid("a\xbf", 2, "UTF-8");
    s_invalid("\xf5\x80\x80\x80", 4, "UTF-8");
    s_invalid("\xf4\x90\x80\x80", 4, "UTF-8"); /* above U+10FFFF */
    s_invalid("\xfe", 1, "UTF-8");
    s_invalid("\xff", 1, "UTF-8");
    s_invalid("\xc3\x28", 2, "UTF-8"); /* continuation missing */
    s_invalid("\xe2\x82\x28", 3, "UTF-8");
}

Test(hier, check_value_accepts_valid_multibyte_utf8)
{
    cr_assert_null(BAD("\xc2\xa3"));            /* U+00A3 */
    cr_assert_null(BAD("\xdf\xbf"));            /* U+07FF */
    cr_assert_null(BAD("\xe0\xa0\x80"));        /* U+0800 */
    cr_assert_null(BAD("\xe2\x82\xac"));        /* euro sign */
    cr_assert_null(BAD("\xed\x9f\xbf"));        /* U+D7FF */
    cr_assert_null(BAD("\xee\x80\x80"));        /* U+E000 */
    cr_assert_null(BAD("\xf0\x90\x80\x80"));    /* U+10000 */
    cr_assert_null(BAD("\xf0\x9f\x98\x80"));    /* emoji */
    cr_assert_null(BAD("\xf4\x8f\xbf\xbf"));    /* U+10FFFF */
    cr_assert_null(BAD("Z\xc3\xbcrich"));
}

/* Writes code point cp as UTF-8 into buf; returns its length. */
static size_t s_utf8(unsigned cp, char *buf)
{
    if (cp < 0x80) return buf[0] = (char)cp, 1;
    if (cp < 0x800) return buf[0] = (char)(0xc0 | cp >> 6), buf[1] = (char)(0x80 | (cp & 0x3f)), 2;
    if (cp < 0x10000) {
        buf[0] = (char)(0xe0 | cp >> 12), buf[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        return buf[2] = (char)(0x80 | (cp & 0x3f)), 3;
    }
    buf[0] = (char)(0xf0 | cp >> 18), buf[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    buf[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    return buf[3] = (char)(0x80 | (cp & 0x3f)), 4;
}

/* "a", code point cp, "b": a value that prints like "ab" when cp is unseen. */
static void s_invalid_cp(unsigned cp, const char *needle_fmt)
{
    char v[8], needle[64];
    size_t n = 1;
    v[0] = 'a';
    n += s_utf8(cp, v + n);
    v[n++] = 'b';
    snprintf(needle, sizeof needle, needle_fmt, cp);
    s_invalid(v, n, needle);
}

Test(hier, check_value_rejects_c1_control_characters_by_code_point)
{
    for (unsigned cp = 0x80; cp <= 0x9f; cp++) s_invalid_cp(cp, "control character U+%04X");
}

Test(hier, check_value_rejects_format_characters_by_code_point)
{
    /* Every range the Unicode Cf category had in 15.0 below U+E0000 is
     * sampled at both ends, and the tag block in full. */
    static const unsigned cf[] = {0x00ad, 0x0600, 0x0605, 0x061c, 0x06dd,  0x070f, 0x0890,
                                  0x0891, 0x08e2, 0x180e, 0x200b, 0x200c,  0x200d, 0x200e,
                                  0x200f, 0x202a, 0x202b, 0x202c, 0x202d,  0x202e, 0x2060,
                                  0x2061, 0x2062, 0x2063, 0x2064, 0x2066,  0x2067, 0x2068,
                                  0x2069, 0x206a, 0x206b, 0x206c, 0x206d,  0x206e, 0x206f,
                                  0xfeff, 0xfff9, 0xfffa, 0xfffb, 0x110bd, 0x110cd, 0x13430,
                                  0x1343f, 0x1bca0, 0x1bca3, 0x1d173, 0x1d17a, 0xe0001};
    for (size_t i = 0; i < sizeof cf / sizeof cf[0]; i++)
        s_invalid_cp(cf[i], "format character U+%04X");
    for (unsigned cp = 0xe0020; cp <= 0xe007f; cp++) s_invalid_cp(cp, "format character U+%04X");
}

Test(hier, check_value_accepts_neighbours_of_format_characters)
{
    /* Visible characters right next to the invisible ones stay valid. */
    cr_assert_null(BAD("a\xc2\xac"));          /* U+00AC not sign */
    cr_assert_null(BAD("a\xe2\x80\x90"));      /* U+2010 hyphen */
    cr_assert_null(BAD("a\xe2\x80\xaf"));      /* U+202F narrow no-break space */
    cr_assert_null(BAD("a\xef\xbf\xbc"));      /* U+FFFC object replacement */
}

Test(hier, check_value_rejects_text_not_in_nfc)
{
    s_invalid("cafe\xcc\x81", 6, "not in Unicode NFC");           /* e + U+0301 */
    s_invalid("cafe\xcc\x81", 6, "U+0065 U+0301 is U+00E9 in NFC");
    s_invalid("\xe2\x84\xab", 3, "U+212B is U+00C5 in NFC");       /* Angstrom sign */
    s_invalid("\xe1\x84\x80\xe1\x85\xa1", 6, "is U+AC00 in NFC"); /* Hangul jamo */
    s_invalid("\xe0\xa5\x98", 3, "U+0958 is U+0915 U+093C in NFC"); /* composition exclusion */
    /* Two marks out of canonical order: same text, other bytes. */
    s_invalid("a\xcc\x81\xcc\xa3", 5, "not in Unicode NFC");
}

Test(hier, check_value_accepts_text_in_nfc)
{
    cr_assert_null(BAD("caf\xc3\xa9"));              /* U+00E9 */
    cr_assert_null(BAD("Z\xc3\xbcrich"));
    cr_assert_null(BAD("\xea\xb0\x80"));              /* U+AC00 */
    cr_assert_null(BAD("\xe0\xa4\x95\xe0\xa4\xbc"));  /* U+0915 U+093C */
    cr_assert_null(BAD("\xe1\xba\xa1\xcc\x81"));      /* U+1EA1 U+0301 */
    cr_assert_null(BAD("\xe6\x9d\xb1\xe4\xba\xac"));  /* CJK */
}

Test(hier, join_uses_double_colon)
{
    const char *v[] = {"Delta", "AMER", "FXSpot"};
    size_t l[] = {5, 4, 6};
    char buf[HIER_PATH_MAX];
    size_t n = hier_join(v, l, 3, buf);
    cr_assert_eq(n, 19);
    cr_assert_eq(memcmp(buf, "Delta::AMER::FXSpot", 19), 0, "got '%.*s'", (int)n, buf);
}

Test(hier, join_single_level_has_no_separator)
{
    const char *v[] = {"Delta"};
    size_t l[] = {5};
    char buf[HIER_PATH_MAX];
    size_t n = hier_join(v, l, 1, buf);
    cr_assert_eq(n, 5);
    cr_assert_eq(memcmp(buf, "Delta", 5), 0);
}

Test(hier, join_fits_eight_maximal_values)
{
    char vals[HIER_MAX_LEVELS][HIER_MAX_VALUE];
    const char *v[HIER_MAX_LEVELS];
    size_t l[HIER_MAX_LEVELS];
    for (int i = 0; i < HIER_MAX_LEVELS; i++) {
        memset(vals[i], 'a' + i, HIER_MAX_VALUE);
        v[i] = vals[i];
        l[i] = HIER_MAX_VALUE;
    }
    char buf[HIER_PATH_MAX];
    size_t n = hier_join(v, l, HIER_MAX_LEVELS, buf);
    cr_assert_eq(n, 8 * 64 + 7 * 2);
    cr_assert_leq(n, (size_t)HIER_PATH_MAX);
    cr_assert_eq(buf[64], ':');
    cr_assert_eq(buf[66], 'b');
}

Test(hier, prefixes_of_three_level_path)
{
    size_t lens[HIER_MAX_LEVELS];
    int n = hier_prefixes("Delta::AMER::FXSpot", 19, lens, HIER_MAX_LEVELS);
    cr_assert_eq(n, 3);
    cr_assert_eq(lens[0], 5);
    cr_assert_eq(lens[1], 11);
    cr_assert_eq(lens[2], 19);
}

Test(hier, prefixes_of_single_level_path)
{
    size_t lens[HIER_MAX_LEVELS];
    int n = hier_prefixes("Delta", 5, lens, HIER_MAX_LEVELS);
    cr_assert_eq(n, 1);
    cr_assert_eq(lens[0], 5);
}

Test(hier, prefixes_ignore_single_colons_inside_values)
{
    size_t lens[HIER_MAX_LEVELS];
    int n = hier_prefixes("a:b::c:d::e", 11, lens, HIER_MAX_LEVELS);
    cr_assert_eq(n, 3);
    cr_assert_eq(lens[0], 3);
    cr_assert_eq(lens[1], 8);
    cr_assert_eq(lens[2], 11);
}

Test(hier, prefixes_of_empty_path_is_zero)
{
    size_t lens[HIER_MAX_LEVELS];
    cr_assert_eq(hier_prefixes("", 0, lens, HIER_MAX_LEVELS), 0);
}

Test(hier, prefixes_stop_at_max)
{
    size_t lens[2];
    int n = hier_prefixes("a::b::c", 7, lens, 2);
    cr_assert_eq(n, 2);
    cr_assert_eq(lens[0], 1);
    cr_assert_eq(lens[1], 4);
}

Test(hier, join_then_prefixes_recovers_value_boundaries)
{
    const char *v[] = {"x:y", "\xc3\xa9t\xc3\xa9", "p", "q:r:s"};
    size_t l[] = {3, 5, 1, 5};
    char buf[HIER_PATH_MAX];
    size_t n = hier_join(v, l, 4, buf);
    size_t lens[HIER_MAX_LEVELS];
    cr_assert_eq(hier_prefixes(buf, n, lens, HIER_MAX_LEVELS), 4);
    size_t want = 0;
    for (int i = 0; i < 4; i++) {
        want += l[i] + (i ? 2 : 0);
        cr_assert_eq(lens[i], want, "prefix %d: %zu, want %zu", i, lens[i], want);
    }
}

Test(hier, a_path_is_valid_values_joined_by_the_separator)
{
    char why[160] = "";
    int n = 0;
    RP_ASSERT_OK(hier_check_path("Delta::AMER::FX", 15, &n, why, sizeof why), "%s", why);
    cr_assert_eq(n, 3);
    RP_ASSERT_OK(hier_check_path("caf\xc3\xa9", 5, &n, why, sizeof why), "%s", why);
    cr_assert_eq(n, 1);
}

Test(hier, a_bad_path_names_its_bad_level)
{
    static const struct {
        const char *path, *needle;
    } bad[] = {{"", "level 1"},
               {"Delta::", "level 2: empty"},
               {"Delta:::AMER", "level 2: starts or ends"},
               {"::AMER", "level 1"},
               {"a::b::c::d::e::f::g::h::i", "more than 8"},
               {"Delta::A\xe2\x80\x8b", "level 2"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char why[160] = "";
        RP_ASSERT_RC(hier_check_path(bad[i].path, strlen(bad[i].path), NULL, why, sizeof why),
                     RP_EINVAL, "'%s'", bad[i].path);
        cr_assert(strstr(why, bad[i].needle), "'%s': reason '%s' lacks '%s'", bad[i].path, why,
                  bad[i].needle);
    }
}
