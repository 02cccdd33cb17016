/* Unit tests for common/config.h: "--x v" and "--x=v" flags, RISKPIPE_*
 * environment fallbacks, switches, errors, positional compaction and
 * config_int range checks. Each Criterion test runs in its own process, so
 * setenv does not leak between tests. */
#include "../../common/config.h"
#include "../../common/rperr.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARGC(a) ((int)(sizeof(a) / sizeof((a)[0])))

static config_opt_t g_opts[4];

static void s_setup(void)
{
    config_opt_t o[] = {
        {"foo-bar", "dflt", "a valued option", NULL},
        {"count", "10", "an integer option", NULL},
        {"verbose", NULL, "a switch", NULL},
        {NULL, NULL, NULL, NULL},
    };
    memcpy(g_opts, o, sizeof o);
    unsetenv("RISKPIPE_FOO_BAR");
    unsetenv("RISKPIPE_COUNT");
    unsetenv("RISKPIPE_VERBOSE");
}

TestSuite(config, .init = s_setup);

static int s_parse(int argc, char **argv, int *npos)
{
    return config_parse(g_opts, argc, argv, 1, npos, "usage: test");
}

Test(config, defaults_apply_without_flags_or_env)
{
    char *argv[] = {"prog"};
    int npos = -1;
    int rc = s_parse(ARGC(argv), argv, &npos);
    RP_ASSERT_OK(rc);
    cr_assert_eq(npos, 0);
    cr_assert_str_eq(config_get(g_opts, "foo-bar"), "dflt");
    cr_assert_str_eq(config_get(g_opts, "count"), "10");
    cr_assert_null(config_get(g_opts, "verbose"));
}

Test(config, flag_with_separate_value)
{
    char *argv[] = {"prog", "--foo-bar", "v1"};
    int rc = s_parse(ARGC(argv), argv, NULL);
    RP_ASSERT_OK(rc);
    cr_assert_str_eq(config_get(g_opts, "foo-bar"), "v1");
}

Test(config, flag_with_equals_value)
{
    char *argv[] = {"prog", "--foo-bar=v=2"};
    int rc = s_parse(ARGC(argv), argv, NULL);
    RP_ASSERT_OK(rc);
    cr_assert_str_eq(config_get(g_opts, "foo-bar"), "v=2");
}

Test(config, flag_with_empty_equals_value)
{
    char *argv[] = {"prog", "--foo-bar="};
    cr_assert_eq(s_parse(ARGC(argv), argv, NULL), 0);
    cr_assert_str_eq(config_get(g_opts, "foo-bar"), "");
}

Test(config, env_fallback_uses_upper_case_underscore_name)
{
    setenv("RISKPIPE_FOO_BAR", "from-env", 1);
    char *argv[] = {"prog"};
    cr_assert_eq(s_parse(ARGC(argv), argv, NULL), 0);
    cr_assert_str_eq(config_get(g_opts, "foo-bar"), "from-env");
}

Test(config, a_named_program_reads_only_its_own_variables)
{
    config_set_program("state");
    setenv("RISKPIPE_FOO_BAR", "unprefixed", 1);
    setenv("RISKPIPE_REDUCER_FOO_BAR", "the reducer's", 1);
    char *argv[] = {"prog"};
    cr_assert_eq(s_parse(ARGC(argv), argv, NULL), 0);
    cr_assert_str_eq(config_get(g_opts, "foo-bar"), "dflt",
                     "neither another program's variable nor an unprefixed one applies");
    setenv("RISKPIPE_STATE_FOO_BAR", "the state's", 1);
    cr_assert_eq(s_parse(ARGC(argv), argv, NULL), 0);
    cr_assert_str_eq(config_get(g_opts, "foo-bar"), "the state's");
    unsetenv("RISKPIPE_REDUCER_FOO_BAR");
    unsetenv("RISKPIPE_STATE_FOO_BAR");
}

Test(config, the_log_level_is_shared_by_every_program)
{
    config_opt_t o[] = {{"log-level", "info", "level", NULL}, {NULL, NULL, NULL, NULL}};
    config_set_program("mapper");
    setenv("RISKPIPE_LOG_LEVEL", "debug", 1);
    char *argv[] = {"prog"};
    cr_assert_eq(config_parse(o, ARGC(argv), argv, 1, NULL, "usage"), 0);
    cr_assert_str_eq(config_get(o, "log-level"), "debug");
    unsetenv("RISKPIPE_LOG_LEVEL");
}

Test(config, flag_overrides_env)
{
    setenv("RISKPIPE_FOO_BAR", "from-env", 1);
    char *argv[] = {"prog", "--foo-bar", "from-flag"};
    cr_assert_eq(s_parse(ARGC(argv), argv, NULL), 0);
    cr_assert_str_eq(config_get(g_opts, "foo-bar"), "from-flag");
}

Test(config, empty_env_falls_back_to_default)
{
    setenv("RISKPIPE_FOO_BAR", "", 1);
    char *argv[] = {"prog"};
    cr_assert_eq(s_parse(ARGC(argv), argv, NULL), 0);
    cr_assert_str_eq(config_get(g_opts, "foo-bar"), "dflt");
}

Test(config, switch_sets_value_to_one)
{
    char *argv[] = {"prog", "--verbose"};
    int rc = s_parse(ARGC(argv), argv, NULL);
    RP_ASSERT_OK(rc);
    cr_assert_str_eq(config_get(g_opts, "verbose"), "1");
}

Test(config, switch_does_not_consume_next_argument)
{
    char *argv[] = {"prog", "--verbose", "file"};
    int npos = 0;
    cr_assert_eq(s_parse(ARGC(argv), argv, &npos), 0);
    cr_assert_eq(npos, 1);
    cr_assert_str_eq(argv[1], "file");
}

Test(config, switch_with_value_is_an_error)
{
    char *argv[] = {"prog", "--verbose=1"};
    cr_assert_eq(s_parse(ARGC(argv), argv, NULL), RP_EINVAL);
}

Test(config, unknown_flag_is_an_error)
{
    char *argv[] = {"prog", "--nope", "x"};
    cr_assert_eq(s_parse(ARGC(argv), argv, NULL), RP_EINVAL);
}

Test(config, prefix_of_a_flag_name_is_unknown)
{
    char *argv[] = {"prog", "--foo", "x"};
    cr_assert_eq(s_parse(ARGC(argv), argv, NULL), RP_EINVAL);
}

Test(config, missing_value_at_end_is_an_error)
{
    char *argv[] = {"prog", "--foo-bar"};
    cr_assert_eq(s_parse(ARGC(argv), argv, NULL), RP_EINVAL);
}

Test(config, help_returns_one)
{
    char *argv[] = {"prog", "x", "--help"};
    cr_assert_eq(s_parse(ARGC(argv), argv, NULL), 1);
}

Test(config, short_h_prints_help)
{
    /* config.c checks for "-h" next to "--help", but the positional test
     * above it catches every argument not starting with "--" first. */
    char *argv[] = {"prog", "-h"};
    int npos = 0;
    int rc = s_parse(ARGC(argv), argv, &npos);
    cr_assert_eq(rc, 1, "-h returned %d and was taken as %d positional argument(s)", rc, npos);
}

Test(config, positionals_are_compacted_in_order)
{
    char *argv[] = {"prog", "a", "--foo-bar", "v", "b", "-x", "--verbose", "c"};
    int npos = -1;
    int rc = s_parse(ARGC(argv), argv, &npos);
    RP_ASSERT_OK(rc);
    cr_assert_eq(npos, 4);
    cr_assert_str_eq(argv[1], "a");
    cr_assert_str_eq(argv[2], "b");
    cr_assert_str_eq(argv[3], "-x");
    cr_assert_str_eq(argv[4], "c");
    cr_assert_str_eq(argv[0], "prog");
}

Test(config, double_dash_ends_flags)
{
    char *argv[] = {"prog", "--foo-bar", "v", "--", "--verbose", "--nope"};
    int npos = -1;
    cr_assert_eq(s_parse(ARGC(argv), argv, &npos), 0);
    cr_assert_eq(npos, 2);
    cr_assert_str_eq(argv[1], "--verbose");
    cr_assert_str_eq(argv[2], "--nope");
    cr_assert_null(config_get(g_opts, "verbose"));
}

Test(config, parsing_starts_at_first)
{
    char *argv[] = {"prog", "sub", "--count", "3", "p"};
    int npos = -1;
    int rc = config_parse(g_opts, ARGC(argv), argv, 2, &npos, "usage");
    RP_ASSERT_OK(rc);
    cr_assert_eq(npos, 1);
    cr_assert_str_eq(argv[1], "sub");
    cr_assert_str_eq(argv[2], "p");
    cr_assert_str_eq(config_get(g_opts, "count"), "3");
}

Test(config, get_unknown_name_is_null)
{
    char *argv[] = {"prog"};
    cr_assert_eq(s_parse(ARGC(argv), argv, NULL), 0);
    cr_assert_null(config_get(g_opts, "absent"));
}

Test(config, int_in_range)
{
    char *argv[] = {"prog", "--count=42"};
    cr_assert_eq(s_parse(ARGC(argv), argv, NULL), 0);
    int64_t v = 0;
    int rc = config_int(g_opts, "count", 1, 100, &v);
    RP_ASSERT_OK(rc);
    cr_assert_eq(v, 42);
}

Test(config, int_accepts_bounds_inclusive)
{
    char *argv[] = {"prog", "--count=-5"};
    cr_assert_eq(s_parse(ARGC(argv), argv, NULL), 0);
    int64_t v = 0;
    cr_assert_eq(config_int(g_opts, "count", -5, 5, &v), 0);
    cr_assert_eq(v, -5);
}

Test(config, int_from_env)
{
    setenv("RISKPIPE_COUNT", "77", 1);
    char *argv[] = {"prog"};
    cr_assert_eq(s_parse(ARGC(argv), argv, NULL), 0);
    int64_t v = 0;
    cr_assert_eq(config_int(g_opts, "count", 0, 100, &v), 0);
    cr_assert_eq(v, 77);
}

Test(config, int_below_min_rejected)
{
    char *argv[] = {"prog", "--count", "0"};
    cr_assert_eq(s_parse(ARGC(argv), argv, NULL), 0);
    int64_t v = 99;
    cr_assert_eq(config_int(g_opts, "count", 1, 100, &v), RP_EINVAL);
    cr_assert_eq(v, 99, "output written on error");
}

Test(config, int_above_max_rejected)
{
    char *argv[] = {"prog", "--count", "101"};
    cr_assert_eq(s_parse(ARGC(argv), argv, NULL), 0);
    int64_t v;
    cr_assert_eq(config_int(g_opts, "count", 1, 100, &v), RP_EINVAL);
}

Test(config, int_with_trailing_junk_rejected)
{
    const char *bad[] = {"12abc", "", "abc", "1.5", "0x10", "99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        s_setup();
        char arg[64];
        snprintf(arg, sizeof arg, "--count=%s", bad[i]);
        char *argv[] = {"prog", arg};
        cr_assert_eq(s_parse(ARGC(argv), argv, NULL), 0);
        int64_t v;
        cr_assert_eq(config_int(g_opts, "count", INT64_MIN, INT64_MAX, &v), RP_EINVAL,
                     "'%s' accepted", bad[i]);
    }
}

Test(config, int_of_unknown_option_rejected)
{
    char *argv[] = {"prog"};
    cr_assert_eq(s_parse(ARGC(argv), argv, NULL), 0);
    int64_t v;
    cr_assert_eq(config_int(g_opts, "absent", 0, 10, &v), RP_EINVAL);
}
