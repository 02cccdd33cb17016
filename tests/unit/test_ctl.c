/* Unit tests for proto/ctl.h, the control protocol: every counter has one
 * distinct name, a stats reply carries the role and the counters, a missing
 * counter is reported as missing (never read as 0), and error replies and
 * malformed frames are told apart. */
#include "../../proto/ctl.h"
#include "../../proto/frame.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <string.h>

static msgpack_sbuffer g_sb;
static msgpack_unpacked g_unp;
static char g_why[160];

static void s_setup(void)
{
    msgpack_sbuffer_init(&g_sb);
    msgpack_unpacked_init(&g_unp);
}

static void s_teardown(void)
{
    msgpack_unpacked_destroy(&g_unp);
    msgpack_sbuffer_destroy(&g_sb);
}

TestSuite(ctl, .init = s_setup, .fini = s_teardown);

static void s_names_distinct(const char *const *names, int n)
{
    for (int i = 0; i < n; i++) {
        cr_assert(names[i] && *names[i], "counter %d has a name", i);
        for (int j = 0; j < i; j++) cr_assert_str_neq(names[i], names[j]);
    }
}

Test(ctl, every_counter_has_one_distinct_name)
{
    s_names_distinct(ctl_state_names, CTL_S_COUNT);
    s_names_distinct(ctl_reducer_names, CTL_R_COUNT);
}

Test(ctl, a_stats_reply_carries_the_role_and_every_counter)
{
    ctl_stat_t st[] = {{"committed_seq", 42}, {"applied_seq", -3}};
    ctl_rep_encode(&g_sb, CTL_ROLE_STATE, st, 2);
    const msgpack_object *map;
    RP_ASSERT_OK(ctl_rep_decode(g_sb.data, g_sb.size, &g_unp, &map, g_why, sizeof g_why), "%s",
                 g_why);
    long long v = 0;
    RP_ASSERT_OK(ctl_rep_get(map, "committed_seq", &v));
    cr_assert_eq(v, 42);
    RP_ASSERT_OK(ctl_rep_get(map, "applied_seq", &v));
    cr_assert_eq(v, -3);
    cr_assert(ctl_rep_is(map, CTL_ROLE_STATE));
    cr_assert_not(ctl_rep_is(map, CTL_ROLE_REDUCER));
}

Test(ctl, a_missing_counter_is_not_found_and_leaves_the_output_alone)
{
    ctl_stat_t st[] = {{"batches_applied", 7}};
    ctl_rep_encode(&g_sb, CTL_ROLE_REDUCER, st, 1);
    const msgpack_object *map;
    RP_ASSERT_OK(ctl_rep_decode(g_sb.data, g_sb.size, &g_unp, &map, g_why, sizeof g_why));
    long long v = 99;
    RP_ASSERT_RC(ctl_rep_get(map, "committed_seq", &v), RP_ENOTFOUND);
    cr_assert_eq(v, 99);
    RP_ASSERT_RC(ctl_rep_get(map, "role", &v), RP_ENOTFOUND, "a string is not a counter");
}

Test(ctl, an_error_reply_has_no_role_and_no_counters)
{
    ctl_rep_error(&g_sb, "unknown command");
    const msgpack_object *map;
    RP_ASSERT_OK(ctl_rep_decode(g_sb.data, g_sb.size, &g_unp, &map, g_why, sizeof g_why));
    cr_assert_not(ctl_rep_is(map, CTL_ROLE_STATE));
    long long v;
    RP_ASSERT_RC(ctl_rep_get(map, "frames", &v), RP_ENOTFOUND);
}

Test(ctl, a_request_round_trips_and_a_reply_is_no_request)
{
    ctl_req_encode(&g_sb, "stats");
    const char *cmd;
    size_t len;
    RP_ASSERT_OK(ctl_req_decode(g_sb.data, g_sb.size, &g_unp, &cmd, &len, g_why, sizeof g_why));
    cr_assert_eq(len, 5);
    cr_assert_eq(memcmp(cmd, "stats", 5), 0);
    msgpack_unpacked_destroy(&g_unp);
    msgpack_sbuffer_clear(&g_sb);
    ctl_rep_encode(&g_sb, CTL_ROLE_STATE, NULL, 0);
    RP_ASSERT_RC(ctl_req_decode(g_sb.data, g_sb.size, &g_unp, &cmd, &len, g_why, sizeof g_why),
                 RP_EPROTO);
    cr_assert(strstr(g_why, "type"), "why='%s'", g_why);
}
