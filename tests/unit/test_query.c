/* Unit tests for reducer/query.h, the reducer's GET /v1/aggregates: prefix
 * matching by whole levels, strict parameter parsing with reasons that name
 * the parameter, and the JSON of a page read from a real aggregate table
 * (level filter, limit, the exclusive `after` cursor, "next", the applied
 * sequence number and the exact decimal text of each value). */
#include "../../proto/tables.h"
#include "../../reducer/query.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#define UNDER(path, prefix) query_under(path, strlen(path), prefix, strlen(prefix))

Test(query, prefix_matches_whole_levels_only)
{
    cr_assert(UNDER("Delta::AMER", "Delta::AMER"));
    cr_assert(UNDER("Delta::AMER::FX", "Delta::AMER"));
    cr_assert(!UNDER("Delta::AMERICAS", "Delta::AMER"));
    cr_assert(!UNDER("Delta::AMERICAS::FX", "Delta::AMER"));
    cr_assert(!UNDER("Delta", "Delta::AMER"));
    cr_assert(!UNDER("DeltaHedge", "Delta"));
    cr_assert(!UNDER("Gamma::AMER", "Delta"));
}

Test(query, empty_prefix_matches_every_path)
{
    cr_assert(UNDER("Delta", ""));
    cr_assert(UNDER("Vega::EMEA::Rates", ""));
}

Test(query, levels_count_the_joined_values)
{
    cr_assert_eq(query_levels("Delta", 5), 1);
    cr_assert_eq(query_levels("Delta::AMER::FX", 15), 3);
}

static query_params_t g_p;
static char g_why[400];

/* query_params_parse of the four texts (NULL: absent); returns its code. */
static int s_parse(const char *prefix, const char *level, const char *limit, const char *after)
{
    query_args_t a = {prefix, level, limit, after};
    g_why[0] = 0;
    int rc = query_params_parse(&a, &g_p, g_why, sizeof g_why);
    if (rc) cr_assert_neq(g_why[0], 0, "refused without a reason");
    return rc;
}

static void s_refused(const char *prefix, const char *level, const char *limit, const char *after,
                      const char *needle)
{
    RP_ASSERT_RC(s_parse(prefix, level, limit, after), RP_EINVAL);
    cr_assert(strstr(g_why, needle), "reason '%s' does not name '%s'", g_why, needle);
}

Test(query, absent_parameters_take_their_defaults)
{
    RP_ASSERT_OK(s_parse(NULL, NULL, NULL, NULL), "%s", g_why);
    cr_assert_eq(g_p.prefix_len, 0);
    cr_assert_eq(g_p.level, 0);
    cr_assert_eq(g_p.limit, QUERY_LIMIT_DEFAULT);
    cr_assert_eq(g_p.after_len, 0);
    RP_ASSERT_OK(s_parse("", NULL, NULL, ""), "empty prefix and after: none");
}

Test(query, good_parameters_are_parsed)
{
    RP_ASSERT_OK(s_parse("Delta::AMER", "3", "100000", "Delta::AMER::FX"), "%s", g_why);
    cr_assert_str_eq(g_p.prefix, "Delta::AMER");
    cr_assert_eq(g_p.prefix_len, 11);
    cr_assert_eq(g_p.level, 3);
    cr_assert_eq(g_p.limit, 100000);
    cr_assert_str_eq(g_p.after, "Delta::AMER::FX");
}

Test(query, integers_are_parsed_strictly)
{
    s_refused(NULL, "0", NULL, NULL, "level");
    s_refused(NULL, "9", NULL, NULL, "level");
    s_refused(NULL, "2x", NULL, NULL, "level");
    s_refused(NULL, "", NULL, NULL, "level");
    s_refused(NULL, NULL, "0", NULL, "limit");
    s_refused(NULL, NULL, "100001", NULL, "limit");
    s_refused(NULL, NULL, "+5", NULL, "limit");
    s_refused(NULL, NULL, " 5", NULL, "limit");
    s_refused(NULL, NULL, "-1", NULL, "limit");
    s_refused(NULL, NULL, "99999999999999999999999", NULL, "limit");
}

Test(query, paths_follow_the_hierarchy_rules)
{
    s_refused("Delta::", NULL, NULL, NULL, "prefix");
    s_refused("::Delta", NULL, NULL, NULL, "prefix");
    s_refused("Delta:::AMER", NULL, NULL, NULL, "prefix");
    s_refused("a::b::c::d::e::f::g::h::i", NULL, NULL, NULL, "prefix");
    s_refused("Del\xe2\x80\x8bta", NULL, NULL, NULL, "format character");
    s_refused("e\xcc\x81", NULL, NULL, NULL, "NFC");
    s_refused(NULL, NULL, NULL, "bad\xff", "after");
}

Test(query, http_integers_refuse_anything_but_digits)
{
    uint64_t v;
    RP_ASSERT_OK(http_parse_uint("0042", 4, 1, 100, &v));
    cr_assert_eq(v, 42);
    RP_ASSERT_RC(http_parse_uint("4 2", 3, 1, 100, &v), RP_EINVAL);
    RP_ASSERT_RC(http_parse_uint("", 0, 0, 100, &v), RP_EINVAL);
    RP_ASSERT_RC(http_parse_uint("101", 3, 1, 100, &v), RP_ERANGE);
    RP_ASSERT_RC(http_parse_uint("18446744073709551616", 20, 0, UINT64_MAX, &v), RP_ERANGE);
    RP_ASSERT_OK(http_parse_uint("18446744073709551615", 20, 0, UINT64_MAX, &v));
    cr_assert_eq(v, UINT64_MAX);
}

static fixture_store_t g_fx;
static metrics_buf_t g_b;

/* Writes aggregate rows path -> (micro-units, count) and, when seq is not
 * 0, the applied sequence number. */
static void s_rows(const char *const *paths, const money_sum_t *values, int n, uint64_t seq)
{
    MDB_txn *txn;
    RP_ASSERT_OK(store_begin(g_fx.st, 0, &txn));
    for (int i = 0; i < n; i++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        tables_agg_encode(&sb, values[i], i + 1);
        MDB_val k = {strlen(paths[i]), (void *)paths[i]}, v = {sb.size, sb.data};
        RP_ASSERT_OK(store_rc(mdb_put(txn, store_dbi(g_fx.st, RDB_AGGREGATE), &k, &v, 0)));
        msgpack_sbuffer_destroy(&sb);
    }
    if (seq)
        RP_ASSERT_OK(
            store_meta_put(txn, store_dbi(g_fx.st, RDB_META), TABLES_META_APPLIED_SEQ, seq));
    RP_ASSERT_OK(store_commit(&txn));
}

static const char *const g_paths[] = {
    "Delta",           "Delta-X",     "Delta::AMER", "Delta::AMER::FX",
    "Delta::AMERICAS", "Delta::APAC", "DeltaHedge",  "Vega"};
static const money_sum_t g_values[] = {12500000, -1, 0, 3, (money_sum_t)1 << 70, 7, 8, 9};

static void s_setup(void)
{
    fixture_store_open(&g_fx, "query", tables_reducer_dbs, 16 << 20);
    metrics_buf_init(&g_b);
}

static void s_teardown(void)
{
    metrics_buf_free(&g_b);
    fixture_store_close(&g_fx);
}

/* The page for the given texts, as JSON. */
static const char *s_page(const char *prefix, const char *level, const char *limit,
                          const char *after)
{
    RP_ASSERT_OK(s_parse(prefix, level, limit, after), "%s", g_why);
    metrics_buf_free(&g_b);
    RP_ASSERT_OK(query_aggregates(g_fx.st, &g_p, &g_b));
    return g_b.data;
}

/* The paths of a page's rows, joined by spaces, and its "next". */
static const char *s_paths(const char *json)
{
    static char out[2048];
    size_t off = 0;
    out[0] = 0;
    for (const char *p = json; (p = strstr(p, "\"path\":\""));) {
        p += 8;
        const char *e = strchr(p, '"');
        off += (size_t)snprintf(out + off, sizeof out - off, "%s%.*s", off ? " " : "", (int)(e - p),
                                p);
    }
    const char *n = strstr(json, "\"next\":");
    snprintf(out + off, sizeof out - off, " | %s", n ? n + 7 : "?");
    out[strcspn(out, "}\n")] = 0;
    return out;
}

TestSuite(aggregates, .init = s_setup, .fini = s_teardown);

Test(aggregates, an_empty_table_is_no_rows_at_seq_0)
{
    cr_assert_str_eq(s_page(NULL, NULL, NULL, NULL), "{\"seq\":0,\"rows\":[],\"next\":null}\n");
}

Test(aggregates, a_row_is_its_path_level_exact_value_count_and_seq)
{
    s_rows(g_paths, g_values, 1, 42);
    cr_assert_str_eq(s_page(NULL, NULL, NULL, NULL),
                     "{\"seq\":42,\"rows\":[{\"path\":\"Delta\",\"level\":1,"
                     "\"value\":\"12.500000\",\"count\":1,\"seq\":42}],\"next\":null}\n");
}

Test(aggregates, values_beyond_int64_keep_every_digit)
{
    s_rows(g_paths, g_values, 8, 1);
    cr_assert(strstr(s_page("Delta::AMERICAS", NULL, NULL, NULL),
                     "\"value\":\"1180591620717411.303424\""),
              "%s", g_b.data);
}

Test(aggregates, prefix_selects_whole_levels_in_key_order)
{
    s_rows(g_paths, g_values, 8, 1);
    cr_assert_str_eq(s_paths(s_page("Delta", NULL, NULL, NULL)),
                     "Delta Delta::AMER Delta::AMER::FX Delta::AMERICAS Delta::APAC | null");
    cr_assert_str_eq(s_paths(s_page("Delta::AMER", NULL, NULL, NULL)),
                     "Delta::AMER Delta::AMER::FX | null");
    cr_assert_str_eq(s_paths(s_page("Rho", NULL, NULL, NULL)), " | null");
}

Test(aggregates, level_keeps_rows_of_that_depth)
{
    s_rows(g_paths, g_values, 8, 1);
    cr_assert_str_eq(s_paths(s_page(NULL, "1", NULL, NULL)),
                     "Delta Delta-X DeltaHedge Vega | null");
    cr_assert_str_eq(s_paths(s_page("Delta", "2", NULL, NULL)),
                     "Delta::AMER Delta::AMERICAS Delta::APAC | null");
}

Test(aggregates, limit_and_after_page_through_every_row_once)
{
    s_rows(g_paths, g_values, 8, 1);
    cr_assert_str_eq(s_paths(s_page("Delta", NULL, "2", NULL)),
                     "Delta Delta::AMER | \"Delta::AMER\"");
    cr_assert_str_eq(s_paths(s_page("Delta", NULL, "2", "Delta::AMER")),
                     "Delta::AMER::FX Delta::AMERICAS | \"Delta::AMERICAS\"");
    cr_assert_str_eq(s_paths(s_page("Delta", NULL, "2", "Delta::AMERICAS")), "Delta::APAC | null");
}

Test(aggregates, a_full_last_page_says_no_next)
{
    s_rows(g_paths, g_values, 8, 1);
    cr_assert_str_eq(s_paths(s_page("Delta::AMER", NULL, "2", NULL)),
                     "Delta::AMER Delta::AMER::FX | null");
}

Test(aggregates, after_need_not_be_a_row)
{
    s_rows(g_paths, g_values, 8, 1);
    cr_assert_str_eq(s_paths(s_page(NULL, NULL, NULL, "Delta::B")), "DeltaHedge Vega | null");
    /* before the prefix: excludes nothing; past it: nothing is left */
    cr_assert_str_eq(s_paths(s_page("Delta::AMER", NULL, NULL, "Alpha")),
                     "Delta::AMER Delta::AMER::FX | null");
    cr_assert_str_eq(s_paths(s_page("Delta::AMER", NULL, NULL, "Gamma")), " | null");
}

Test(aggregates, a_path_longer_than_any_lmdb_key_is_no_error)
{
    s_rows(g_paths, g_values, 8, 1);
    char longest[HIER_PATH_MAX + 1] = "";
    for (int l = 0; l < HIER_MAX_LEVELS; l++) {
        char v[HIER_MAX_VALUE + 1];
        memset(v, 'A' + l, HIER_MAX_VALUE);
        v[HIER_MAX_VALUE] = 0;
        strcat(longest, l ? "::" : "");
        strcat(longest, v);
    }
    cr_assert_gt(strlen(longest), 511);
    cr_assert_str_eq(s_paths(s_page(longest, NULL, NULL, NULL)), " | null");
    cr_assert_str_eq(s_paths(s_page(NULL, NULL, NULL, longest)),
                     "Delta Delta-X Delta::AMER Delta::AMER::FX Delta::AMERICAS Delta::APAC "
                     "DeltaHedge Vega | null");
}
