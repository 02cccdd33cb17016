/* Generated workloads and riskctl send summaries for the integration tests;
 * see workload.h. */
#include "workload.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

long workload_scale(long n)
{
    const char *q = getenv("RISKPIPE_TEST_QUICK");
    return q && *q && strcmp(q, "0") != 0 ? n / 5 : n;
}

model_t *workload_new(h_cluster_t *c, int seed, long count, char *file, size_t cap)
{
    char s[32], n[32];
    snprintf(s, sizeof s, "%d", seed);
    snprintf(n, sizeof n, "%ld", count);
    snprintf(file, cap, "%s/workload.jsonl", c->dir);
    int rc = h_riskctl_to_file(c, file, 120000, "gen", "--seed", s, "--count", n, "--modify", "25",
                               "--move", "10", "--dup", "5", "--ooo", "5", NULL);
    cr_assert_eq(rc, 0, "riskctl gen exited %d", rc);
    model_t *m = model_new();
    long lines = model_load_jsonl(m, file);
    cr_assert_eq(lines, count, "workload has %ld lines, expected %ld", lines, count);
    /* The options must produce every kind of message, or the tests are weaker
     * than they claim. */
    cr_assert_gt(model_duplicates(m), 0, "workload without duplicates or stale versions");
    cr_assert_lt(model_trades(m), model_accepted(m), "workload without re-valuations");
    return m;
}

workload_sent_t workload_parse_send(const char *out)
{
    workload_sent_t s = {-1, -1, -1, -1, -1};
    const char *p = strstr(out, "accepted=");
    if (p)
        sscanf(p, "accepted=%lld duplicates=%lld conflicts=%lld rejected=%lld bad_lines=%lld",
               &s.accepted, &s.duplicates, &s.conflicts, &s.rejected, &s.bad_lines);
    return s;
}

workload_sent_t workload_read_send(const char *path)
{
    size_t len;
    char *buf = h_read_file(path, &len);
    workload_sent_t s = workload_parse_send(buf ? buf : "");
    free(buf);
    return s;
}
