/* riskctl send, exact and honest, seen from outside: Values of 18
 * significant digits reach the state table and the aggregates exactly; a
 * line with a key twice, a line that is not one JSON object, and a number
 * that does not fit are refused with a reason naming the line; frames stay
 * within the state's limits; and every message the state rejects, alone or
 * in a frame refused whole, is counted and makes the exit status 1. Every
 * expectation is computed here, from the text the test wrote. */
#include "harness.h"
#include "model.h"
#include "workload.h"

#include <criterion/criterion.h>
#include <msgpack.h>
#include <inttypes.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <errno.h>
#include <limits.h>
#include <unistd.h>

#define RUN_MS 60000 /* bounds one riskctl run */
#define EXACT_LINES 2000

static const char *const s_types[] = {"Delta", "Vega", "Gamma"};
static const char *const s_regions[] = {"AMER", "EMEA", "APAC"};
static const char *const s_desks[] = {"FXSpot", "Credit"};

/* A deterministic generator (xorshift64*), so a failure can be replayed. */
static uint64_t s_rand(uint64_t *st)
{
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return *st * 2685821657736338717ULL;
}

/* Writes micro-units as a plain decimal with the given number of decimals
 * (0..6; the digits dropped must be zeros), e.g. -123456789012.345678. */
static void s_plain(int64_t micro, int decimals, char *buf, size_t cap)
{
    uint64_t mag = micro < 0 ? (uint64_t)0 - (uint64_t)micro : (uint64_t)micro;
    uint64_t units = mag / 1000000, frac = mag % 1000000;
    int n = snprintf(buf, cap, "%s%" PRIu64, micro < 0 ? "-" : "", units);
    if (decimals > 0) {
        char f[8];
        snprintf(f, sizeof f, "%06" PRIu64, frac);
        snprintf(buf + n, cap - (size_t)n, ".%.*s", decimals, f);
    }
}

/* A message line; value is the Value's JSON text (a number, or a quoted
 * string), wrapped in {"RiskMessage": ...} when wrap is set. */
static void s_msg(FILE *f, const char *trade, long version, const char *value, const char *path3[3],
                  int wrap)
{
    fprintf(f,
            "%s{\"TradeID\":\"%s\",\"Version\":%ld,\"Value\":%s,\"Timestamp\":1700000000.125,"
            "\"Hierarchy\":{\"RiskType\":\"%s\",\"Region\":\"%s\",\"TradeDesk\":\"%s\"}}%s\n",
            wrap ? "{\"RiskMessage\":" : "", trade, version, value, path3[0], path3[1], path3[2],
            wrap ? "}" : "");
}

/* A valid message of Value 1.5 on Vega::APAC::Credit. */
static void s_good(FILE *f, const char *trade)
{
    const char *p[3] = {"Vega", "APAC", "Credit"};
    s_msg(f, trade, 1, "1.5", p, 0);
}

static void s_model_good(model_t *m, const char *trade)
{
    model_add(m, trade, 1, 1500000, "Vega::APAC::Credit");
}

static FILE *s_open(h_cluster_t *c, const char *name, char *path, size_t cap)
{
    snprintf(path, cap, "%.400s/%s", c->dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    return f;
}

/* Runs riskctl send on path with extra flags (NULL-terminated, at most 6),
 * and returns its exit code; out receives stdout, *err (caller frees) what
 * it printed on stderr. */
static int s_send(h_cluster_t *c, const char *path, char *out, size_t cap, char **err, ...)
{
    const char *x[7] = {0};
    va_list ap;
    va_start(ap, err);
    for (int i = 0; i < 6 && (x[i] = va_arg(ap, const char *)); i++) {
    }
    va_end(ap);
    size_t mark = h_log_mark(c);
    int rc = h_riskctl(c, out, cap, RUN_MS, "send", path, "--ingest", c->ingest, x[0], x[1], x[2],
                       x[3], x[4], x[5], NULL);
    *err = h_log_since(c, mark);
    return rc;
}

static void s_expect_counts(const char *out, long long accepted, long long rejected,
                            long long bad_lines, const char *err)
{
    workload_sent_t s = workload_parse_send(out);
    cr_assert(s.accepted == accepted && s.rejected == rejected && s.bad_lines == bad_lines,
              "want accepted=%lld rejected=%lld bad_lines=%lld; stdout: %s\nstderr: %s", accepted,
              rejected, bad_lines, out, err);
}

static void s_expect_said(const char *err, const char *want)
{
    cr_assert(strstr(err, want), "stderr lacks \"%s\":\n%s", want, err);
}

static void s_expect_state(h_cluster_t *c, const model_t *m)
{
    long bad = model_compare_state(m, c->state_data);
    cr_assert_eq(bad, 0, "the state table differs from the model in %ld trade(s)", bad);
}

Test(send, values_of_18_significant_digits_are_stored_exactly, .timeout = 180, .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("send-exact");
    h_start_state(c, NULL);
    h_start_reducer(c);
    h_start_mapper(c);
    char path[PATH_MAX];
    FILE *f = s_open(c, "exact.jsonl", path, sizeof path);
    model_t *m = model_new();
    uint64_t st = 0x9e3779b97f4a7c15ULL;
    for (long i = 0; i < EXACT_LINES; i++) {
        /* a quarter are new versions of earlier trades, some on a new path */
        long t = i >= EXACT_LINES / 4 * 3 ? i - EXACT_LINES / 2 : i;
        long version = t == i ? 1 : 2;
        char trade[32], value[96];
        snprintf(trade, sizeof trade, "X%05ld", t);
        const char *p[3] = {s_types[s_rand(&st) % 3], s_regions[s_rand(&st) % 3],
                            s_desks[s_rand(&st) % 2]};
        /* |Value| in [1e11, 1e12): 12 integer digits and 6 decimals */
        int64_t micro = (int64_t)(100000000000000000ULL + s_rand(&st) % 900000000000000000ULL);
        if (s_rand(&st) & 1) micro = -micro;
        int decimals = 6;
        switch (i % 6) {
        case 0:
        case 1: /* all 18 digits */
            s_plain(micro, 6, value, sizeof value);
            break;
        case 2: { /* fewer decimals, and small values */
            decimals = (int)(s_rand(&st) % 6);
            int64_t unit = 1;
            for (int d = decimals; d < 6; d++)
                unit *= 10;
            if (i % 12 == 2) micro %= 1000000000; /* below 1000 */
            micro = micro / unit * unit;
            s_plain(micro, decimals, value, sizeof value);
            break;
        }
        case 3: /* the 18 digits as an integer with an exponent */
            snprintf(value, sizeof value, "%" PRId64 "e-6", micro);
            break;
        case 4: { /* d.ddd...E+11 */
            char digits[32];
            snprintf(digits, sizeof digits, "%" PRIu64,
                     micro < 0 ? (uint64_t)0 - (uint64_t)micro : (uint64_t)micro);
            snprintf(value, sizeof value, "%s%c.%sE+11", micro < 0 ? "-" : "", digits[0],
                     digits + 1);
            break;
        }
        default: /* a decimal string, in the wrapped form */
            value[0] = '"';
            s_plain(micro, 6, value + 1, sizeof value - 2);
            strcat(value, "\"");
        }
        if (i % 6 <= 2) { /* the plain texts must mean what the test thinks */
            int64_t back = 0;
            cr_assert_eq(model_parse_micro(value, strlen(value), &back), 0, "%s", value);
            cr_assert_eq(back, micro, "%s is not %" PRId64 " micro-units", value, micro);
        }
        s_msg(f, trade, version, value, p, i % 6 == 5);
        char full[256];
        snprintf(full, sizeof full, "%s::%s::%s", p[0], p[1], p[2]);
        cr_assert_eq(model_add(m, trade, version, micro, full), MODEL_ACCEPTED);
    }
    fclose(f);
    char out[1024], *err;
    int rc = s_send(c, path, out, sizeof out, &err, "--batch", "300", NULL);
    cr_assert_eq(rc, 0, "send exited %d: %s\n%s", rc, out, err);
    s_expect_counts(out, EXACT_LINES, 0, 0, err);
    free(err);
    h_wait_applied(c, 60);
    s_expect_state(c, m);
    long rows = 0, bad = model_compare_aggregates(m, c->reducer_data, &rows);
    cr_assert_eq(bad, 0, "%ld of %ld aggregate rows differ from the model", bad, rows);
    cr_assert_eq(rows, 3 + 9 + 18, "%ld aggregate rows, want every prefix of 18 paths", rows);
    model_destroy(&m);
    h_passed();
}

Test(send, a_key_twice_refuses_the_line, .timeout = 60, .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("send-dupkey");
    h_start_state(c, NULL);
    char path[PATH_MAX];
    FILE *f = s_open(c, "dup.jsonl", path, sizeof path);
    s_good(f, "a1");
    fputs("{\"TradeID\":\"d2\",\"Version\":1,\"Value\":1,\"Value\":2,\"Hierarchy\":{\"RiskType\":"
          "\"Vega\",\"Region\":\"APAC\",\"TradeDesk\":\"Credit\"}}\n",
          f);
    s_good(f, "a3");
    fputs("{\"TradeID\":\"d4\",\"Version\":1,\"Value\":1,\"Hierarchy\":{\"RiskType\":\"Vega\","
          "\"Region\":\"APAC\",\"Region\":\"EMEA\",\"TradeDesk\":\"Credit\"}}\n",
          f);
    fputs("{\"RiskMessage\":{\"TradeID\":\"d5\",\"TradeID\":\"d5\",\"Version\":1,\"Value\":1,"
          "\"Hierarchy\":{\"RiskType\":\"Vega\",\"Region\":\"APAC\",\"TradeDesk\":\"Credit\"}}}\n",
          f);
    s_good(f, "a6");
    fclose(f);
    char out[1024], *err;
    int rc = s_send(c, path, out, sizeof out, &err, NULL);
    cr_assert_eq(rc, 1, "send exited %d: %s\n%s", rc, out, err);
    s_expect_counts(out, 3, 0, 3, err);
    s_expect_said(err, "line 2 refused: key 'Value' appears twice");
    s_expect_said(err, "line 4 refused: key 'Region' appears twice");
    s_expect_said(err, "line 5 refused: key 'TradeID' appears twice");
    s_expect_said(err, "3 line(s) refused");
    free(err);
    model_t *m = model_new();
    s_model_good(m, "a1");
    s_model_good(m, "a3");
    s_model_good(m, "a6");
    s_expect_state(c, m);
    model_destroy(&m);
    h_passed();
}

Test(send, a_line_that_is_not_one_object_is_refused, .timeout = 60, .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("send-nonobj");
    h_start_state(c, NULL);
    char path[PATH_MAX];
    FILE *f = s_open(c, "bad.jsonl", path, sizeof path);
    static const char *const bad[] = {"[{\"TradeID\":\"x\",\"Version\":1,\"Value\":1}]",
                                      "42",
                                      "\"text\"",
                                      "null",
                                      "{\"TradeID\":\"x\xff\",\"Version\":1}",
                                      "{\"TradeID\":\"y\"}{\"TradeID\":\"z\"}",
                                      "{\"TradeID\":\"\\ud800\"}",
                                      "{\"TradeID\":",
                                      "[]",
                                      "[]",
                                      "[]",
                                      "[]"};
    s_good(f, "g1");
    fputs("\n", f); /* a blank line is no message, but the reasons count it as a line */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        fprintf(f, "%s\n", bad[i]);
    s_good(f, "g2");
    fclose(f);
    char out[1024], *err;
    int rc = s_send(c, path, out, sizeof out, &err, NULL);
    cr_assert_eq(rc, 1, "send exited %d: %s\n%s", rc, out, err);
    s_expect_counts(out, 2, 0, 12, err);
    s_expect_said(err, "line 3 refused: not a JSON object");
    s_expect_said(err, "line 4 refused: not a JSON object");
    s_expect_said(err, "line 5 refused: not a JSON object");
    s_expect_said(err, "line 6 refused: not a JSON object");
    s_expect_said(err, "line 7 refused: not valid JSON: The input is not valid UTF-8");
    s_expect_said(err, "line 8 refused: more than one JSON value");
    s_expect_said(err, "line 9 refused: not valid JSON"); /* an unpaired surrogate */
    s_expect_said(err, "line 10 refused: not valid JSON");
    s_expect_said(err, "line 12 refused: not a JSON object");
    /* the first 10 reasons, then only the count */
    cr_assert(!strstr(err, "line 13 refused"), "more than 10 reasons printed:\n%s", err);
    s_expect_said(err, "12 line(s) refused");
    free(err);
    model_t *m = model_new();
    s_model_good(m, "g1");
    s_model_good(m, "g2");
    s_expect_state(c, m);
    model_destroy(&m);
    h_passed();
}

Test(send, a_number_that_does_not_fit_is_refused, .timeout = 60, .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("send-range");
    h_start_state(c, NULL);
    char path[PATH_MAX];
    FILE *f = s_open(c, "range.jsonl", path, sizeof path);
    const char *p[3] = {"Vega", "APAC", "Credit"};
    s_msg(f, "r1", 1, "1e400", p, 0);
    fputs("{\"TradeID\":\"r2\",\"Version\":1,\"Value\":1,\"Timestamp\":1e400,\"Hierarchy\":"
          "{\"RiskType\":\"Vega\",\"Region\":\"APAC\",\"TradeDesk\":\"Credit\"}}\n",
          f);
    fputs("{\"TradeID\":\"r3\",\"Version\":1.5,\"Value\":1,\"Hierarchy\":{\"RiskType\":\"Vega\","
          "\"Region\":\"APAC\",\"TradeDesk\":\"Credit\"}}\n",
          f);
    s_msg(f, "r4", 1, "1", p, 0);
    s_msg(f, "r5", 1, "2e12", p, 0); /* fits the conversion: the state's call */
    fputs("{\"TradeID\":\"r6\",\"Version\":99999999999999999999,\"Value\":1,\"Hierarchy\":"
          "{\"RiskType\":\"Vega\",\"Region\":\"APAC\",\"TradeDesk\":\"Credit\"}}\n",
          f);
    fclose(f);
    char out[1024], *err;
    int rc = s_send(c, path, out, sizeof out, &err, NULL);
    cr_assert_eq(rc, 1, "send exited %d: %s\n%s", rc, out, err);
    s_expect_counts(out, 1, 1, 4, err);
    s_expect_said(err, "line 1 refused: Value 1e400 is out of range");
    s_expect_said(err, "line 2 refused: Timestamp 1e400 is out of range");
    s_expect_said(err, "line 3 refused: Version 1.5 is not an integer");
    s_expect_said(err, "line 6 refused: Version 99999999999999999999 is out of range");
    s_expect_said(err, "line 5 rejected by the state: |Value| must be at most 1e12");
    free(err);
    model_t *m = model_new();
    model_add(m, "r4", 1, 1000000, "Vega::APAC::Credit");
    s_expect_state(c, m);
    model_destroy(&m);
    h_passed();
}

Test(send, batch_above_the_documented_maximum_is_refused_up_front, .timeout = 60, .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("send-batch");
    h_start_state(c, NULL);
    char path[PATH_MAX];
    FILE *f = s_open(c, "batch.jsonl", path, sizeof path);
    for (int i = 0; i < 20; i++) {
        char t[16];
        snprintf(t, sizeof t, "b%d", i);
        s_good(f, t);
    }
    fclose(f);
    char out[1024], *err;
    int rc = s_send(c, path, out, sizeof out, &err, "--batch", "10001", NULL);
    cr_assert_eq(rc, 2, "send --batch 10001 exited %d: %s\n%s", rc, out, err);
    s_expect_said(err, "--batch");
    s_expect_said(err, "10000");
    free(err);
    model_t *none = model_new();
    s_expect_state(c, none); /* nothing was sent */
    model_destroy(&none);
    /* the documented maximum itself works */
    rc = s_send(c, path, out, sizeof out, &err, "--batch", "10000", NULL);
    cr_assert_eq(rc, 0, "send --batch 10000 exited %d: %s\n%s", rc, out, err);
    s_expect_counts(out, 20, 0, 0, err);
    free(err);
    h_passed();
}

Test(send, frames_are_cut_to_max_frame_bytes, .timeout = 60, .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("send-frame");
    h_start_state(c, "--max-frame", "4096", NULL);
    char path[PATH_MAX];
    FILE *f = s_open(c, "frames.jsonl", path, sizeof path);
    model_t *m = model_new();
    for (int i = 0; i < 300; i++) {
        char t[16];
        snprintf(t, sizeof t, "f%d", i);
        s_good(f, t);
        s_model_good(m, t);
    }
    /* one message larger than a frame may be: refused here, not sent */
    fprintf(f, "{\"TradeID\":\"%0*d\",\"Version\":1,\"Value\":1}\n", 5000, 7);
    fclose(f);
    char out[1024], *err;
    int rc = s_send(c, path, out, sizeof out, &err, "--max-frame-bytes", "4096", NULL);
    cr_assert_eq(rc, 1, "send exited %d: %s\n%s", rc, out, err);
    s_expect_counts(out, 300, 0, 1, err);
    s_expect_said(err, "line 301 refused: its message takes");
    free(err);
    s_expect_state(c, m);
    model_destroy(&m);
    h_passed();
}

Test(send, a_frame_refused_whole_counts_every_message, .timeout = 60, .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("send-whole");
    h_start_state(c, "--max-batch", "5", NULL);
    char path[PATH_MAX];
    FILE *f = s_open(c, "whole.jsonl", path, sizeof path);
    model_t *m = model_new();
    for (int i = 1; i <= 12; i++) {
        char t[16];
        snprintf(t, sizeof t, "w%d", i);
        s_good(f, t);
        if (i > 10) s_model_good(m, t);
    }
    fclose(f);
    char out[1024], *err;
    int rc = s_send(c, path, out, sizeof out, &err, "--batch", "10", NULL);
    cr_assert_eq(rc, 1, "send exited %d: %s\n%s", rc, out, err);
    s_expect_counts(out, 2, 10, 0, err);
    s_expect_said(err, "refused a frame of 10 messages (lines 1 to 10) whole: batch of 10 "
                       "messages exceeds the limit of 5");
    s_expect_said(err, "10 message(s) rejected by the state");
    free(err);
    s_expect_state(c, m);
    model_destroy(&m);
    h_passed();
}

Test(send, exits_1_when_the_state_rejects_messages, .timeout = 60, .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("send-reject");
    h_start_state(c, NULL);
    char path[PATH_MAX];
    FILE *f = s_open(c, "reject.jsonl", path, sizeof path);
    model_t *m = model_new();
    for (int i = 1; i <= 8; i++) {
        char t[16];
        snprintf(t, sizeof t, "e%d", i);
        s_good(f, i % 3 == 0 ? "" : t); /* lines 3 and 6: an empty TradeID */
        if (i % 3) s_model_good(m, t);
    }
    fclose(f);
    char out[1024], *err;
    int rc = s_send(c, path, out, sizeof out, &err, NULL);
    cr_assert_eq(rc, 1, "send exited %d: %s\n%s", rc, out, err);
    s_expect_counts(out, 6, 2, 0, err);
    s_expect_said(err, "line 3 rejected by the state: TradeID must be 1 to 128 bytes long (and 1 "
                       "more in its frame)");
    s_expect_said(err, "2 message(s) rejected by the state");
    free(err);
    /* with --quiet the rejections are still reported */
    rc = s_send(c, path, out, sizeof out, &err, "--quiet", NULL);
    cr_assert_eq(rc, 1, "send --quiet exited %d: %s\n%s", rc, out, err);
    s_expect_said(err, "line 3 rejected by the state");
    free(err);
    s_expect_state(c, m);
    model_destroy(&m);
    h_passed();
}

/* --wait returns only once the aggregate shows every message sent: the
 * aggregate is read right after it returns, with no riskctl wait between.
 * A second, slow-to-aggregate send is measured the same way: the mappers are
 * stopped, so --wait must time out and say so instead of returning early. */
Test(send, wait_returns_only_when_everything_sent_is_aggregated, .timeout = 180,
     .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("send-wait");
    h_start_state(c, NULL);
    h_start_reducer(c);
    h_start_mapper(c);
    char path[PATH_MAX];
    FILE *f = s_open(c, "wait.jsonl", path, sizeof path);
    model_t *m = model_new();
    uint64_t st = 0x51ed2701fULL;
    for (long i = 0; i < EXACT_LINES; i++) {
        char trade[32], value[64];
        snprintf(trade, sizeof trade, "W%05ld", i % (EXACT_LINES / 2)); /* half re-valued */
        long version = i < EXACT_LINES / 2 ? 1 : 2;
        const char *p[3] = {s_types[s_rand(&st) % 3], s_regions[s_rand(&st) % 3],
                            s_desks[s_rand(&st) % 2]};
        int64_t micro = (int64_t)(s_rand(&st) % 2000000000ULL) - 1000000000;
        s_plain(micro, 6, value, sizeof value);
        s_msg(f, trade, version, value, p, 0);
        char full[256];
        snprintf(full, sizeof full, "%s::%s::%s", p[0], p[1], p[2]);
        cr_assert_eq(model_add(m, trade, version, micro, full), MODEL_ACCEPTED);
    }
    fclose(f);
    char out[1024], *err;
    int rc = s_send(c, path, out, sizeof out, &err, "--batch", "100", "--wait",
                    "--state-control", c->state_ctl, NULL);
    cr_assert_eq(rc, 0, "send --wait exited %d: %s\n%s", rc, out, err);
    s_expect_said(err, "visible in the aggregates");
    long rows = 0, bad = model_compare_aggregates(m, c->reducer_data, &rows);
    cr_assert_eq(bad, 0, "right after send --wait, %ld of %ld aggregate rows differ", bad, rows);
    free(err);

    /* no mapper: nothing can be aggregated, so --wait must not return 0 */
    cr_assert_eq(h_stop(&c->mappers[0], SIGTERM, 10000), 0);
    f = s_open(c, "more.jsonl", path, sizeof path);
    const char *p[3] = {"Theta", "LATAM", "Rates"};
    s_msg(f, "W-late", 1, "2.5", p, 0);
    fclose(f);
    size_t mark = h_log_mark(c);
    rc = h_riskctl(c, out, sizeof out, RUN_MS, "send", path, "--ingest", c->ingest, "--wait",
                   "--wait-timeout", "2", "--state-control", c->state_ctl, NULL);
    err = h_log_since(c, mark);
    cr_assert_eq(rc, 1, "send --wait with no mapper exited %d: %s\n%s", rc, out, err);
    s_expect_said(err, "timed out");
    free(err);
    model_destroy(&m);
    h_passed();
}

/* A producer that writes a line every 2 ms never pauses for long, and sends
 * nothing else that would be answered: its messages must still go out as
 * they come, not wait for a full frame (1000 lines, 2 s here). */
Test(send, a_paced_producer_is_not_held_back_for_a_full_frame, .timeout = 60,
     .fini = h_finish)
{
    enum { LINES = 1500, EVERY_US = 2000, SEEN = 200, WITHIN_MS = 1500 };
    h_cluster_t *c = h_cluster_new("send-paced");
    h_start_state(c, NULL);
    char fifo[PATH_MAX], out[PATH_MAX];
    snprintf(fifo, sizeof fifo, "%.4000s/paced.fifo", c->dir);
    snprintf(out, sizeof out, "%.4000s/send.out", c->dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0, "mkfifo %s: %s", fifo, strerror(errno));
    h_riskctl_bg(c, out, "send", fifo, "--ingest", c->ingest, NULL);
    pid_t writer = fork();
    cr_assert_neq(writer, -1, "fork: %s", strerror(errno));
    if (writer == 0) {
        FILE *f = fopen(fifo, "w");
        if (!f) _exit(1);
        for (int i = 0; i < LINES; i++) {
            char t[16];
            snprintf(t, sizeof t, "p%d", i);
            s_good(f, t);
            fflush(f);
            usleep(EVERY_US);
        }
        _exit(fclose(f) == 0 ? 0 : 1);
    }
    int64_t t0 = h_now_ms();
    int seen = h_wait_stat(c, "state", "accepted", SEEN, WITHIN_MS);
    int64_t took = h_now_ms() - t0;
    int wst;
    waitpid(writer, &wst, 0);
    int rc = h_wait_bg(c, RUN_MS);
    cr_assert(seen, "the state had not accepted %d of the paced lines %lld ms after they began "
              "(a line every %d us): send held them back for a full frame", SEEN,
              (long long)took, EVERY_US);
    cr_assert(WIFEXITED(wst) && WEXITSTATUS(wst) == 0, "the writer failed");
    cr_assert_eq(rc, 0, "send exited %d", rc);
    char *text = h_read_file(out, NULL);
    s_expect_counts(text ? text : "", LINES, 0, 0, "");
    free(text);
    h_passed();
}

/* One group commit can answer hundreds of frames at once: every answer must
 * reach the producer (a ROUTER drops what its queue to a peer cannot hold,
 * and the producer then waits out its timeout), so a send of many small
 * frames finishes with none re-sent and none unanswered. */
Test(send, every_frame_of_a_large_group_commit_is_answered, .timeout = 120, .fini = h_finish)
{
    enum { LINES = 3000 };
    h_cluster_t *c = h_cluster_new("send-group");
    h_start_state(c, "--group-max", "3000", NULL);
    char path[PATH_MAX];
    FILE *f = s_open(c, "group.jsonl", path, sizeof path);
    model_t *m = model_new();
    for (int i = 0; i < LINES; i++) {
        char t[16];
        snprintf(t, sizeof t, "g%d", i);
        s_good(f, t);
        s_model_good(m, t);
    }
    fclose(f);
    char out[1024], *err;
    /* a frame per message, all in flight; one unanswered frame fails it */
    int rc = s_send(c, path, out, sizeof out, &err, "--batch", "1", "--window", "3000",
                    "--timeout-ms", "20000", "--retries", "0", NULL);
    cr_assert_eq(rc, 0, "send exited %d: %s\n%s", rc, out, err);
    s_expect_counts(out, LINES, 0, 0, err);
    cr_assert(!strstr(err, "re-sending"), "frames were re-sent:\n%s", err);
    free(err);
    s_expect_state(c, m);
    model_destroy(&m);
    h_passed();
}

/* --format msgpack: one message as a msgpack map, Value packed as kind 0 an
 * integer (micro / 1e6 must be whole), 1 a decimal string, 2 a double of an
 * exactly representable value. */
static void s_mp_msg(msgpack_packer *pk, const char *trade, long version, int64_t micro, int kind,
                     const char *path3[3])
{
    static const char *const lv[3] = {"RiskType", "Region", "TradeDesk"};
    msgpack_pack_map(pk, 4);
    msgpack_pack_str_with_body(pk, "TradeID", 7);
    msgpack_pack_str_with_body(pk, trade, strlen(trade));
    msgpack_pack_str_with_body(pk, "Version", 7);
    msgpack_pack_int64(pk, version);
    msgpack_pack_str_with_body(pk, "Value", 5);
    if (kind == 0) {
        msgpack_pack_int64(pk, micro / 1000000);
    } else if (kind == 1) {
        char v[64];
        s_plain(micro, 6, v, sizeof v);
        msgpack_pack_str_with_body(pk, v, strlen(v));
    } else {
        msgpack_pack_double(pk, (double)micro / 1e6);
    }
    msgpack_pack_str_with_body(pk, "Hierarchy", 9);
    msgpack_pack_map(pk, 3);
    for (int i = 0; i < 3; i++) {
        msgpack_pack_str_with_body(pk, lv[i], strlen(lv[i]));
        msgpack_pack_str_with_body(pk, path3[i], strlen(path3[i]));
    }
}

/* Writes sb to a new file name in the cluster's folder. */
static void s_write_buf(h_cluster_t *c, const char *name, const msgpack_sbuffer *sb, char *path,
                        size_t cap)
{
    FILE *f = s_open(c, name, path, cap);
    cr_assert_eq(fwrite(sb->data, 1, sb->size, f), sb->size, "cannot write %s", path);
    fclose(f);
}

/* Messages a producer already has in binary reach the state exactly as the
 * JSON form would: re-valuations, duplicates and stale versions included,
 * Values as integers, decimal strings and exact doubles. The file is larger
 * than riskctl's 1 MiB read buffer, so messages straddle its reads. */
Test(send, msgpack_input_is_sent_as_it_is, .timeout = 120, .fini = h_finish)
{
    enum { N = 20000 };
    h_cluster_t *c = h_cluster_new("send-msgpack");
    h_start_state(c, NULL);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    model_t *m = model_new();
    uint64_t rng = 0x5eed;
    for (int i = 0; i < N; i++) {
        char t[48], path[96];
        /* re-valued and repeated: 5000 trades */
        snprintf(t, sizeof t, "msgpack-trade-%05d", (int)(s_rand(&rng) % 5000));
        long version = (long)(s_rand(&rng) % 5);
        int kind = (int)(s_rand(&rng) % 3);
        /* whole units for an integer, quarters for a double (exact in binary) */
        int64_t micro = ((int64_t)(s_rand(&rng) % 2000001) - 1000000) *
                        (kind == 0 ? 1000000 : kind == 2 ? 250000 : 7);
        const char *p3[3] = {s_types[s_rand(&rng) % 3], s_regions[s_rand(&rng) % 3],
                             s_desks[s_rand(&rng) % 2]};
        s_mp_msg(&pk, t, version, micro, kind, p3);
        snprintf(path, sizeof path, "%s::%s::%s", p3[0], p3[1], p3[2]);
        model_add(m, t, version, micro, path);
    }
    char file[PATH_MAX];
    s_write_buf(c, "in.msgpack", &sb, file, sizeof file);
    size_t sb_size = sb.size;
    msgpack_sbuffer_destroy(&sb);
    char out[1024], *err;
    int rc = s_send(c, file, out, sizeof out, &err, "--format", "msgpack", "--batch", "256",
                    NULL);
    cr_assert_eq(rc, 0, "send exited %d: %s\n%s", rc, out, err);
    cr_assert_gt(sb_size, 1 << 20, "the file is only %zu bytes", sb_size);
    workload_sent_t w = workload_parse_send(out);
    cr_assert(w.accepted == model_accepted(m) && w.duplicates == model_duplicates(m) &&
                  w.rejected == 0 && w.bad_lines == 0,
              "want accepted=%ld duplicates=%ld; stdout: %s\nstderr: %s", model_accepted(m),
              model_duplicates(m), out, err);
    free(err);
    s_expect_state(c, m);
    model_destroy(&m);
    h_passed();
}

/* A msgpack object that is not a map is refused by number, the rest still
 * goes; a message cut short at the end of the input is refused with its
 * byte offset; either makes the exit status 1. */
Test(send, msgpack_input_that_is_not_messages_is_refused_by_number, .timeout = 60,
     .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("send-msgpack-bad");
    h_start_state(c, NULL);
    const char *p3[3] = {"Vega", "APAC", "Credit"};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    model_t *m = model_new();
    for (int i = 0; i < 10; i++) {
        char t[16];
        snprintf(t, sizeof t, "b%d", i);
        if (i == 4) msgpack_pack_int(&pk, 7); /* message 5: not a map */
        s_mp_msg(&pk, t, 1, 1500000, 1, p3);
        s_model_good(m, t);
    }
    size_t whole = sb.size;
    s_mp_msg(&pk, "cut", 1, 1500000, 1, p3); /* message 12, cut short */
    sb.size = whole + 9;
    char file[PATH_MAX];
    s_write_buf(c, "bad.msgpack", &sb, file, sizeof file);
    msgpack_sbuffer_destroy(&sb);
    char out[1024], *err;
    int rc = s_send(c, file, out, sizeof out, &err, "--format", "msgpack", NULL);
    cr_assert_eq(rc, 1, "send exited %d: %s\n%s", rc, out, err);
    s_expect_counts(out, 10, 0, 2, err);
    s_expect_said(err, "message 5 refused: not a msgpack map");
    char want[80];
    snprintf(want, sizeof want, "message 12 (at byte %zu of the input) refused", whole);
    s_expect_said(err, want);
    free(err);
    s_expect_state(c, m);
    model_destroy(&m);
    h_passed();
}
