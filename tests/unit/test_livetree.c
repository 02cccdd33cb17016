/* Unit tests for tools/livetree.h, the rows riskctl top shows: a snapshot
 * keeps the rows of the top levels in tree order, an update changes, adds
 * and removes rows, and events that break the contract leave the tree as it
 * was. Expected rows are literals. */
#include "../../tools/livetree.h"
#include "../../common/rperr.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static livetree_t *s_t;
static char s_why[1024];

static void s_setup(void)
{
    s_t = livetree_new(2);
    cr_assert_not_null(s_t);
}

static void s_teardown(void)
{
    livetree_destroy(&s_t);
    cr_assert_null(s_t);
}

static int s_apply(const char *event, const char *json)
{
    s_why[0] = 0;
    return livetree_apply(s_t, event, json, strlen(json), s_why, sizeof s_why);
}

/* The tree as "path=value/count" joined by ' '. */
static const char *s_rows(void)
{
    static char buf[2048];
    buf[0] = 0;
    for (size_t i = 0; i < livetree_size(s_t); i++) {
        const livetree_row_t *r = livetree_row(s_t, i);
        size_t at = strlen(buf);
        snprintf(buf + at, sizeof buf - at, "%s%s=%s/%lld", i ? " " : "", r->path, r->value,
                 (long long)r->count);
    }
    return buf;
}

#define ROW(p, v, c) "{\"path\": \"" p "\", \"value\": \"" v "\", \"count\": " #c "}"

TestSuite(livetree, .init = s_setup, .fini = s_teardown);

Test(livetree, a_snapshot_keeps_the_top_levels_in_tree_order)
{
    /* key order would put Delta2 between Delta and Delta::AMER */
    RP_ASSERT_OK(
        s_apply("snapshot", "{\"seq\": 5, \"rows\": [" ROW("Delta", "3.500000", 2) "," ROW(
                                "Delta2", "1.000000", 1) "," ROW("Delta::AMER", "3.500000",
                                                                 2) "," ROW("Delta::AMER::FX",
                                                                            "3.500000", 2) "]}"),
        "%s", s_why);
    cr_assert_str_eq(s_rows(), "Delta=3.500000/2 Delta::AMER=3.500000/2 Delta2=1.000000/1");
    cr_assert_eq(livetree_seq(s_t), 5);
    cr_assert(livetree_synced(s_t));
    const livetree_row_t *r = livetree_row(s_t, 1);
    cr_assert_eq(r->level, 2);
    cr_assert_str_eq(r->path + r->name, "AMER");
}

Test(livetree, values_are_shown_with_six_decimals)
{
    RP_ASSERT_OK(s_apply("snapshot", "{\"seq\": 1, \"rows\": [" ROW("Vega", "-12.5", 1) "]}"), "%s",
                 s_why);
    cr_assert_str_eq(s_rows(), "Vega=-12.500000/1");
}

Test(livetree, an_update_changes_adds_and_removes_rows)
{
    RP_ASSERT_OK(
        s_apply("snapshot", "{\"seq\": 1, \"rows\": [" ROW("Delta", "1.000000", 1) "," ROW(
                                "Delta::AMER", "1.000000", 1) "," ROW("Vega", "2.000000", 1) "]}"));
    RP_ASSERT_OK(s_apply("update", "{\"seq\": 4, \"rows\": [" ROW("Delta", "3.000000", 2) "," ROW(
                                       "Delta::EMEA", "2.000000",
                                       1) "," ROW("Delta::EMEA::FX", "2.000000",
                                                  1) "," ROW("Alpha", "7.000000",
                                                             1) "], \"removed\": [\"Vega\", "
                                                                "\"Gone\"]}"),
                 "%s", s_why);
    cr_assert_str_eq(s_rows(), "Alpha=7.000000/1 Delta=3.000000/2 Delta::AMER=1.000000/1 "
                               "Delta::EMEA=2.000000/1");
    cr_assert_eq(livetree_seq(s_t), 4);
}

Test(livetree, a_row_listed_twice_in_an_update_is_kept_once)
{
    RP_ASSERT_OK(s_apply("snapshot", "{\"seq\": 1, \"rows\": []}"));
    RP_ASSERT_OK(s_apply("update", "{\"seq\": 2, \"rows\": [" ROW("Rho", "1.000000", 1) "," ROW(
                                       "Rho", "2.000000", 2) "], \"removed\": []}"));
    cr_assert_str_eq(s_rows(), "Rho=2.000000/2");
}

Test(livetree, an_update_before_any_snapshot_is_refused)
{
    RP_ASSERT_RC(s_apply("update", "{\"seq\": 2, \"rows\": [" ROW("Rho", "1.0", 1) "]}"),
                 RP_EPROTO);
    cr_assert(strstr(s_why, "before any snapshot"), "%s", s_why);
    cr_assert_eq(livetree_size(s_t), 0);
    /* nor after a reconnect (unsync), while the old rows stay shown */
    RP_ASSERT_OK(s_apply("snapshot", "{\"seq\": 1, \"rows\": [" ROW("Rho", "1.0", 1) "]}"));
    livetree_unsync(s_t);
    cr_assert_str_eq(s_rows(), "Rho=1.000000/1");
    RP_ASSERT_RC(s_apply("update", "{\"seq\": 2, \"rows\": [" ROW("Rho", "5.0", 1) "]}"),
                 RP_EPROTO);
    cr_assert_str_eq(s_rows(), "Rho=1.000000/1");
}

Test(livetree, a_bad_event_leaves_the_tree_as_it_was)
{
    RP_ASSERT_OK(s_apply("snapshot", "{\"seq\": 1, \"rows\": [" ROW("Rho", "1.0", 1) "]}"));
    static const char *const bad[] = {
        "not json",
        "[1, 2]",
        "{\"rows\": []}",
        "{\"seq\": -1, \"rows\": []}",
        "{\"seq\": 2, \"rows\": [{\"path\": \"Rho\", \"value\": 1.5, \"count\": 1}]}",
        "{\"seq\": 2, \"rows\": [{\"path\": \"Rho\", \"value\": \"1e3\", \"count\": 1}]}",
        "{\"seq\": 2, \"rows\": [{\"path\": \"Rho\", \"value\": \"1.0000001\", \"count\": 1}]}",
        "{\"seq\": 2, \"rows\": [{\"path\": \"\", \"value\": \"1.0\", \"count\": 1}]}",
        "{\"seq\": 2, \"rows\": [{\"path\": \"Rho\", \"value\": \"1.0\", \"count\": -1}]}",
        "{\"seq\": 2, \"rows\": [" ROW("Rho", "9.0", 1) ", {\"value\": \"1.0\"}]}",
        "{\"seq\": 2, \"rows\": [], \"removed\": \"Rho\"}",
        "{\"seq\": 2, \"rows\": [], \"removed\": [\"Rho\", 3]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        RP_ASSERT_RC(s_apply("update", bad[i]), RP_EPROTO, "update %s", bad[i]);
        cr_assert_str_eq(s_rows(), "Rho=1.000000/1", "after %s", bad[i]);
        cr_assert_eq(livetree_seq(s_t), 1);
    }
    /* a snapshot listing a row twice is refused whole */
    RP_ASSERT_RC(s_apply("snapshot",
                         "{\"seq\": 3, \"rows\": [" ROW("A", "1.0", 1) "," ROW("A", "2.0", 1) "]}"),
                 RP_EPROTO);
    cr_assert_str_eq(s_rows(), "Rho=1.000000/1");
}

Test(livetree, events_of_other_types_are_ignored)
{
    RP_ASSERT_OK(s_apply("message", "whatever"));
    RP_ASSERT_OK(s_apply("ping", "{}"));
    cr_assert_eq(livetree_size(s_t), 0);
    cr_assert_not(livetree_synced(s_t));
}
