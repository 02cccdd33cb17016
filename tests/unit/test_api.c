/* Unit tests for tools/api.h, riskctl's reading of the daemons' HTTP API
 * pages: rows and trades are taken only as the contract has them (exact
 * decimal strings, key order, pages that go forward), and a page that
 * breaks it is refused whole with a reason. The pages are literals; the
 * expected sums are worked out by hand. */
#include "../../tools/api.h"
#include "../../common/rperr.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static char s_why[1024];

static json_t *s_json(const char *text)
{
    json_error_t err;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &err);
    cr_assert_not_null(j, "test JSON: %s", err.text);
    return j;
}

/* api_aggregates_page on text, appending to *rows. */
static int s_agg(const char *text, api_rows_t *rows, uint64_t *seq, char *next, size_t cap)
{
    json_t *page = s_json(text);
    const json_t *n = NULL;
    s_why[0] = 0;
    int rc = api_aggregates_page(page, rows, seq, &n, s_why, sizeof s_why);
    snprintf(next, cap, "%s", n ? json_string_value(n) : "(null)");
    json_decref(page);
    return rc;
}

Test(api, an_aggregates_page_gives_exact_rows_seq_and_next)
{
    api_rows_t rows = {0};
    uint64_t seq = 0;
    char next[64];
    RP_ASSERT_OK(s_agg("{\"seq\": 42, \"next\": \"Delta::AMER\", \"rows\": ["
                       "{\"path\": \"Delta\", \"level\": 1, \"value\": \"-0.000001\", "
                       "\"count\": 3, \"seq\": 42},"
                       "{\"path\": \"Delta::AMER\", \"value\": \"123456789012345.5\", "
                       "\"count\": 1}]}",
                       &rows, &seq, next, sizeof next),
                 "%s", s_why);
    cr_assert_eq(seq, 42);
    cr_assert_str_eq(next, "Delta::AMER");
    cr_assert_eq(rows.n, 2);
    cr_assert_str_eq(rows.rows[0].path, "Delta");
    cr_assert(rows.rows[0].sum == -1, "-0.000001 is -1 micro-unit");
    cr_assert_eq(rows.rows[0].count, 3);
    /* beyond 64 bits of micro-units: sums are 128-bit */
    cr_assert(rows.rows[1].sum == (money_sum_t)123456789012345LL * 1000000 + 500000);
    /* the next page goes on after the last row, in key order */
    RP_ASSERT_OK(s_agg("{\"seq\": 42, \"next\": null, \"rows\": ["
                       "{\"path\": \"Delta::AMER::FX\", \"value\": \"1\", \"count\": 1}]}",
                       &rows, &seq, next, sizeof next),
                 "%s", s_why);
    cr_assert_str_eq(next, "(null)");
    cr_assert_eq(rows.n, 3);
    api_rows_free(&rows);
}

Test(api, an_aggregates_page_that_breaks_the_contract_is_refused_whole)
{
    static const char *const bad[] = {
        "{\"next\": null, \"rows\": []}",
        "{\"seq\": \"1\", \"next\": null, \"rows\": []}",
        "{\"seq\": 1, \"rows\": []}",
        "{\"seq\": 1, \"next\": 3, \"rows\": []}",
        "{\"seq\": 1, \"next\": null}",
        "{\"seq\": 1, \"next\": null, \"rows\": [{\"path\": \"Z\", \"value\": 2.5, \"count\": 1}]}",
        "{\"seq\": 1, \"next\": null, \"rows\": [{\"path\": \"Z\", \"value\": \"2.5e1\", "
        "\"count\": 1}]}",
        "{\"seq\": 1, \"next\": null, \"rows\": [{\"path\": \"Z\", \"value\": \"2.5\", "
        "\"count\": 1.0}]}",
        "{\"seq\": 1, \"next\": null, \"rows\": [{\"path\": \"Z\", \"value\": \"2.5\"}]}",
        /* out of key order, within the page and after the rows already read */
        "{\"seq\": 1, \"next\": null, \"rows\": [{\"path\": \"Z::B\", \"value\": \"1\", "
        "\"count\": 1}, {\"path\": \"Z::A\", \"value\": \"1\", \"count\": 1}]}",
        "{\"seq\": 1, \"next\": null, \"rows\": [{\"path\": \"M\", \"value\": \"1\", "
        "\"count\": 1}]}",
        "{\"seq\": 1, \"next\": null, \"rows\": [{\"path\": \"Q\", \"value\": \"1\", "
        "\"count\": 1}]}",
    };
    api_rows_t rows = {0};
    uint64_t seq;
    char next[64];
    RP_ASSERT_OK(s_agg("{\"seq\": 1, \"next\": \"Q\", \"rows\": [{\"path\": \"Q\", "
                       "\"value\": \"1\", \"count\": 1}]}",
                       &rows, &seq, next, sizeof next));
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        RP_ASSERT_RC(s_agg(bad[i], &rows, &seq, next, sizeof next), RP_EPROTO, "page %s", bad[i]);
        cr_assert_neq(s_why[0], 0, "no reason for %s", bad[i]);
        cr_assert_eq(rows.n, 1, "page %s left rows behind", bad[i]);
    }
    api_rows_free(&rows);
}

/* api_trades_page on text into *r. */
static int s_trades(const char *text, rollup_t *r, const char *after, size_t *n, char *next,
                    size_t cap)
{
    json_t *page = s_json(text);
    const json_t *nx = NULL;
    uint64_t seq;
    s_why[0] = 0;
    int rc = api_trades_page(page, r, after, after ? strlen(after) : 0, n, &seq, &nx, s_why,
                             sizeof s_why);
    snprintf(next, cap, "%s", nx ? json_string_value(nx) : "(null)");
    json_decref(page);
    return rc;
}

#define TRADE(id, v, p)                                                                            \
    "{\"trade_id\": \"" id "\", \"version\": 1, \"value\": \"" v "\", "                            \
    "\"path\": \"" p "\", \"seq\": 9}"

Test(api, trades_roll_up_to_every_prefix_exactly)
{
    rollup_t r = {0};
    size_t n = 0;
    char next[64];
    RP_ASSERT_OK(
        s_trades("{\"seq\": 9, \"next\": \"t2\", \"trades\": [" TRADE(
                     "t1", "0.100000", "Delta::AMER::FX") "," TRADE("t2", "0.200000",
                                                                    "Delta::EMEA::FX") "]}",
                 &r, NULL, &n, next, sizeof next),
        "%s", s_why);
    cr_assert_str_eq(next, "t2");
    RP_ASSERT_OK(s_trades("{\"seq\": 9, \"next\": null, \"trades\": [" TRADE(
                              "t3", "-1000000000000", "Delta::AMER::FX") "]}",
                          &r, "t2", &n, next, sizeof next),
                 "%s", s_why);
    rollup_finish(&r);
    cr_assert_eq(n, 3);
    cr_assert_eq(r.n, 5, "Delta, Delta::AMER, Delta::AMER::FX, Delta::EMEA, Delta::EMEA::FX");
    cr_assert_str_eq(r.rows[0].path, "Delta");
    cr_assert(r.rows[0].sum == 300000 - (money_sum_t)1000000000000LL * 1000000);
    cr_assert_eq(r.rows[0].count, 3);
    cr_assert_str_eq(r.rows[2].path, "Delta::AMER::FX");
    cr_assert_eq(r.rows[2].count, 2);
    rollup_free(&r);
}

Test(api, a_trades_page_that_breaks_the_contract_is_refused)
{
    static const char *const bad[] = {
        /* not after the previous page's last trade, or out of order */
        "{\"seq\": 9, \"next\": null, \"trades\": [" TRADE("t1", "1", "A") "]}",
        "{\"seq\": 9, \"next\": null, \"trades\": [" TRADE("t3", "1", "A") "," TRADE("t2x", "1",
                                                                                     "A") "]}",
        /* a next before its own last trade would count trades twice */
        "{\"seq\": 9, \"next\": \"t2a\", \"trades\": [" TRADE("t5", "1", "A") "]}",
        /* beyond the value bound, not exact, no path, no id */
        "{\"seq\": 9, \"next\": null, \"trades\": [" TRADE("t3", "1000000000000.000001", "A") "]}",
        "{\"seq\": 9, \"next\": null, \"trades\": [" TRADE("t3", "0.0000001", "A") "]}",
        "{\"seq\": 9, \"next\": null, \"trades\": [" TRADE("t3", "1", "") "]}",
        "{\"seq\": 9, \"next\": null, \"trades\": [{\"trade_id\": 3, \"value\": \"1\", "
        "\"path\": \"A\"}]}",
        "{\"seq\": 9, \"next\": null, \"rows\": []}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        rollup_t r = {0};
        size_t n = 0;
        char next[64];
        RP_ASSERT_RC(s_trades(bad[i], &r, "t2", &n, next, sizeof next), RP_EPROTO, "page %s",
                     bad[i]);
        cr_assert_neq(s_why[0], 0, "no reason for %s", bad[i]);
        rollup_free(&r);
    }
}

Test(api, status_numbers_are_read_at_the_top_or_in_the_counters)
{
    json_t *st = s_json("{\"role\": \"state\", \"committed_seq\": 7, \"counters\": "
                        "{\"accepted\": 5, \"committed_seq\": 99}}");
    long long v;
    RP_ASSERT_OK(api_status_int(st, "committed_seq", &v));
    cr_assert_eq(v, 7, "the top-level number wins");
    RP_ASSERT_OK(api_status_int(st, "accepted", &v));
    cr_assert_eq(v, 5);
    RP_ASSERT_RC(api_status_int(st, "role", &v), RP_ENOTFOUND);
    RP_ASSERT_RC(api_status_int(st, "applied_seq", &v), RP_ENOTFOUND);
    json_decref(st);
}

Test(api, paths_order_as_lmdb_keys)
{
    cr_assert_lt(api_path_cmp("Delta", 5, "Delta::A", 8), 0);
    cr_assert_lt(api_path_cmp("Delta2", 6, "Delta::A", 8), 0, "'2' sorts before ':'");
    cr_assert_eq(api_path_cmp("A\0B", 3, "A\0B", 3), 0);
    cr_assert_gt(api_path_cmp("A\0C", 3, "A\0B", 3), 0, "past a NUL byte");
}
