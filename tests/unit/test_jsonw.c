/* Unit tests for svc/jsonw.h, the JSON text of every HTTP answer: quotes,
 * backslashes and control characters escaped, UTF-8 passed through as
 * stored, every byte of an invalid sequence replaced by U+FFFD so that the
 * output is always valid JSON, and numbers that read back exactly. */
#include "../../svc/jsonw.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static metrics_buf_t g_b;

static void s_setup(void)
{
    metrics_buf_init(&g_b);
}

static void s_teardown(void)
{
    metrics_buf_free(&g_b);
}

TestSuite(jsonw, .init = s_setup, .fini = s_teardown);

/* jsonw_str of the n bytes of s, compared with want. */
static void s_str_is(const char *s, size_t n, const char *want)
{
    g_b.len = 0;
    jsonw_str(&g_b, s, n);
    cr_assert_eq(g_b.failed, 0);
    cr_assert_str_eq(g_b.data, want, "bytes of %zu escaped as %s, want %s", n, g_b.data, want);
}

#define STR_IS(lit, want) s_str_is((lit), sizeof(lit) - 1, (want))

Test(jsonw, plain_ascii_is_quoted_as_it_is)
{
    STR_IS("Delta::AMER::FX Spot", "\"Delta::AMER::FX Spot\"");
    STR_IS("", "\"\"");
}

Test(jsonw, quote_and_backslash_are_escaped)
{
    STR_IS("a\"b\\c", "\"a\\\"b\\\\c\"");
}

Test(jsonw, control_characters_are_escaped)
{
    STR_IS("a\nb\rc\td", "\"a\\nb\\rc\\td\"");
    STR_IS("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
}

Test(jsonw, a_nul_byte_inside_the_text_is_escaped_not_an_end)
{
    STR_IS("a\0b", "\"a\\u0000b\"");
}

Test(jsonw, valid_utf8_passes_through_as_stored)
{
    STR_IS("caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80",
           "\"caf\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x98\x80\"");
}

Test(jsonw, line_and_paragraph_separators_are_escaped)
{
    STR_IS("a\xe2\x80\xa8z\xe2\x80\xa9", "\"a\\u2028z\\u2029\"");
}

Test(jsonw, each_byte_of_invalid_utf8_becomes_a_replacement_character)
{
    STR_IS("a\xff"
           "b",
           "\"a\\ufffdb\"");                                        /* never valid */
    STR_IS("\xc0\xaf", "\"\\ufffd\\ufffd\"");                       /* overlong '/' */
    STR_IS("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");            /* a surrogate */
    STR_IS("\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\""); /* past U+10FFFF */
    STR_IS("ab\xe6\x97", "\"ab\\ufffd\\ufffd\"");                   /* truncated at the end */
}

Test(jsonw, key_is_a_quoted_string_and_a_colon)
{
    jsonw_key(&g_b, "Trade\"Desk");
    cr_assert_str_eq(g_b.data, "\"Trade\\\"Desk\":");
}

/* jsonw_double of v, compared with want, and read back. */
static void s_double_is(double v, const char *want)
{
    g_b.len = 0;
    jsonw_double(&g_b, v);
    cr_assert_str_eq(g_b.data, want);
    if (strcmp(want, "null"))
        cr_assert_eq(strtod(g_b.data, NULL), v, "%s reads back otherwise", want);
}

Test(jsonw, doubles_are_the_shortest_text_that_reads_back)
{
    s_double_is(1700000000.001, "1700000000.001");
    s_double_is(0.1, "0.1");
    s_double_is(-2.5, "-2.5");
    s_double_is(1e300, "1e+300");
}

Test(jsonw, whole_doubles_have_no_exponent)
{
    s_double_is(1700000000.0, "1700000000");
    s_double_is(0, "0");
}

Test(jsonw, non_finite_doubles_are_null)
{
    s_double_is(1.0 / 0.0, "null");
    s_double_is(0.0 / 0.0, "null");
}

Test(jsonw, buffer_append_keeps_the_text_terminated)
{
    metrics_buf_append(&g_b, "ab", 2);
    metrics_buf_append(&g_b, "", 0);
    metrics_buf_append(&g_b, "c", 1);
    cr_assert_eq(g_b.len, 3);
    cr_assert_str_eq(g_b.data, "abc");
}
