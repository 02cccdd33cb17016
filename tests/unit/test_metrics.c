/* Unit tests for svc/metrics.h, the rendering behind the HTTP endpoint:
 * every control counter of every role has a Prometheus name, a family's
 * HELP and TYPE come once, the histogram is cumulative with +Inf equal to
 * its count, label values are escaped, the status JSON carries the state's
 * lag, and the process figures come from /proc. */
#include "../../svc/metrics.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static metrics_buf_t g_b;

static void s_setup(void)
{
    metrics_buf_init(&g_b);
}

static void s_teardown(void)
{
    metrics_buf_free(&g_b);
}

TestSuite(metrics, .init = s_setup, .fini = s_teardown);

/* Occurrences of needle in the rendered text. */
static int s_count(const char *needle)
{
    int n = 0;
    for (const char *p = g_b.data; p && (p = strstr(p, needle)); p += strlen(needle)) n++;
    return n;
}

/* Sample lines (neither comments nor blank) in the rendered text. */
static int s_samples(void)
{
    int n = 0;
    for (const char *p = g_b.data; p && *p;) {
        const char *e = strchr(p, '\n');
        if (*p != '#' && *p != '\n') n++;
        p = e ? e + 1 : p + strlen(p);
    }
    return n;
}

/* Renders names[0..n) with value i+1 each, as role, and no other figures. */
static void s_render_names(const char *role, const char *const *names, int n)
{
    ctl_stat_t st[CTL_MAX_STATS];
    for (int i = 0; i < n; i++) st[i] = (ctl_stat_t){names[i], i + 1};
    metrics_view_t v = {.role = role, .stats = st, .nstats = n};
    cr_assert_eq(metrics_render(&g_b, &v), 0, "render failed");
}

Test(metrics, every_state_counter_has_a_prometheus_sample)
{
    s_render_names("state", ctl_state_names, CTL_S_COUNT);
    cr_assert_eq(s_samples(), CTL_S_COUNT, "%d samples for %d counters:\n%s", s_samples(),
                 CTL_S_COUNT, g_b.data);
}

Test(metrics, every_reducer_counter_has_a_prometheus_sample)
{
    s_render_names("reducer", ctl_reducer_names, CTL_R_COUNT);
    cr_assert_eq(s_samples(), CTL_R_COUNT, "%d samples for %d counters:\n%s", s_samples(),
                 CTL_R_COUNT, g_b.data);
}

Test(metrics, every_mapper_counter_has_a_prometheus_sample)
{
    s_render_names("mapper", ctl_mapper_names, CTL_M_COUNT);
    cr_assert_eq(s_samples(), CTL_M_COUNT, "%d samples:\n%s", s_samples(), g_b.data);
}

Test(metrics, message_outcomes_are_one_family_with_a_result_label)
{
    s_render_names("state", ctl_state_names, CTL_S_COUNT);
    cr_assert_eq(s_count("# TYPE riskpipe_messages_total counter\n"), 1, "%s", g_b.data);
    cr_assert_eq(s_count("# HELP riskpipe_messages_total "), 1, "%s", g_b.data);
    char want[128];
    snprintf(want, sizeof want, "riskpipe_messages_total{role=\"state\",result=\"duplicate\"} %d\n",
             CTL_S_DUPLICATES + 1);
    cr_assert_eq(s_count(want), 1, "no line %s in:\n%s", want, g_b.data);
    snprintf(want, sizeof want, "riskpipe_lag_changes{role=\"state\"} %d\n", CTL_S_LAG + 1);
    cr_assert_eq(s_count(want), 1, "no line %s in:\n%s", want, g_b.data);
}

Test(metrics, unknown_counters_are_left_out)
{
    ctl_stat_t st[] = {{"no_such_counter", 5}};
    metrics_view_t v = {.role = "state", .stats = st, .nstats = 1};
    cr_assert_eq(metrics_render(&g_b, &v), 0);
    cr_assert_eq(s_samples(), 0, "rendered:\n%s", g_b.data);
}

Test(metrics, histogram_buckets_are_cumulative_and_inf_is_the_count)
{
    metrics_hist_t h = {0};
    metrics_hist_observe(&h, 0.0001);
    metrics_hist_observe(&h, 0.003);
    metrics_hist_observe(&h, 0.003);
    metrics_hist_observe(&h, 20); /* beyond the last bound */
    metrics_view_t v = {.role = "reducer", .commit = &h};
    cr_assert_eq(metrics_render(&g_b, &v), 0);
    const char *want[] = {
        "# TYPE riskpipe_commit_duration_seconds histogram\n",
        "riskpipe_commit_duration_seconds_bucket{role=\"reducer\",le=\"0.0005\"} 1\n",
        "riskpipe_commit_duration_seconds_bucket{role=\"reducer\",le=\"0.0025\"} 1\n",
        "riskpipe_commit_duration_seconds_bucket{role=\"reducer\",le=\"0.005\"} 3\n",
        "riskpipe_commit_duration_seconds_bucket{role=\"reducer\",le=\"10\"} 3\n",
        "riskpipe_commit_duration_seconds_bucket{role=\"reducer\",le=\"+Inf\"} 4\n",
        "riskpipe_commit_duration_seconds_count{role=\"reducer\"} 4\n",
        "riskpipe_commit_duration_seconds_sum{role=\"reducer\"} 20.0061\n"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert_eq(s_count(want[i]), 1, "no line %s in:\n%s", want[i], g_b.data);
}

Test(metrics, per_mapper_counters_get_an_escaped_mapper_label)
{
    ctl_stat_t st[] = {{"mapper h\"x\\:1 batches", 5}, {"mapper h\"x\\:1 idle_ms", 1500}};
    metrics_view_t v = {.role = "reducer", .stats = st, .nstats = 2};
    cr_assert_eq(metrics_render(&g_b, &v), 0);
    cr_assert_eq(
        s_count("riskpipe_mapper_batches_total{role=\"reducer\",mapper=\"h\\\"x\\\\:1\"} 5\n"),
        1, "rendered:\n%s", g_b.data);
    cr_assert_eq(
        s_count("riskpipe_mapper_idle_seconds{role=\"reducer\",mapper=\"h\\\"x\\\\:1\"} 1.500\n"),
        1, "rendered:\n%s", g_b.data);
}

Test(metrics, lmdb_and_process_gauges_carry_the_role)
{
    metrics_proc_t p = {.resident_bytes = 4096, .cpu_seconds = 1.5, .open_fds = 9,
                        .start_time_seconds = 1700000000};
    metrics_view_t v = {.role = "state", .has_store = 1, .map_bytes = 1 << 20,
                        .used_bytes = 8192, .proc = &p};
    cr_assert_eq(metrics_render(&g_b, &v), 0);
    const char *want[] = {"riskpipe_lmdb_map_size_bytes{role=\"state\"} 1048576\n",
                          "riskpipe_lmdb_used_bytes{role=\"state\"} 8192\n",
                          "process_resident_memory_bytes{role=\"state\"} 4096\n",
                          "process_cpu_seconds_total{role=\"state\"} 1.50\n",
                          "process_open_fds{role=\"state\"} 9\n",
                          "process_start_time_seconds{role=\"state\"} 1700000000.00\n"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_assert_eq(s_count(want[i]), 1, "no line %s in:\n%s", want[i], g_b.data);
}

Test(metrics, status_json_lifts_the_state_progress_and_lists_counters)
{
    ctl_stat_t st[] = {{"committed_seq", 42}, {"applied_seq", 40}, {"lag", 2}, {"a\"b", -1}};
    metrics_view_t v = {.role = "state", .stats = st, .nstats = 4, .has_store = 1,
                        .map_bytes = 10, .used_bytes = 5};
    cr_assert_eq(metrics_status_json(&g_b, &v), 0);
    cr_assert_str_eq(g_b.data,
                     "{\"role\":\"state\",\"health\":\"ok\","
                     "\"committed_seq\":42,\"applied_seq\":40,\"lag\":2,"
                     "\"counters\":{\"committed_seq\":42,\"applied_seq\":40,\"lag\":2,"
                     "\"a\\\"b\":-1},\"lmdb\":{\"map_size_bytes\":10,\"used_bytes\":5}}\n");
}

Test(metrics, buffer_grows_past_its_first_allocation)
{
    for (int i = 0; i < 10000; i++) metrics_buf_printf(&g_b, "line %05d\n", i);
    cr_assert_eq(g_b.failed, 0);
    cr_assert_eq(g_b.len, 10000u * 11, "length %zu", g_b.len);
    cr_assert(!strncmp(g_b.data + g_b.len - 11, "line 09999\n", 11), "tail lost");
}

Test(metrics, process_figures_come_from_proc)
{
    metrics_proc_t p;
    cr_assert_eq(metrics_proc_read(&p), 0, "cannot read /proc/self");
    cr_assert_gt(p.resident_bytes, 0);
    cr_assert_geq(p.open_fds, 3, "stdin, stdout and stderr at least: %g", p.open_fds);
    cr_assert_geq(p.cpu_seconds, 0);
    double now = (double)time(NULL);
    cr_assert(p.start_time_seconds > now - 86400 && p.start_time_seconds <= now + 2,
              "start time %.0f, now %.0f", p.start_time_seconds, now);
}
