/* riskctl verify: recomputes every aggregate from the state table (rollup.c,
 * independent of the mapper and reducer code) and compares the reducer's
 * aggregate table with it exactly, row by row. Both LMDB environments are
 * opened read-only; or, with --url, the state's trades and the reducer's
 * aggregates are read over the daemons' HTTP API (api.c). */
#include "riskctl.h"
#include "api.h"
#include "cli.h"
#include "http_client.h"
#include "rollup.h"
#include "scan.h"
#include "../common/clock.h"
#include "../common/hier.h"
#include "../common/money.h"
#include "../common/rperr.h"
#include "../proto/ctl.h"
#include "../proto/shard.h"
#include "../proto/tables.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads an environment's recorded shard count (and, with shard non-NULL,
 * its shard); an environment from before shards is shard 0 of 1. Returns 0
 * or an RP code (printed). */
static int s_shard_meta(scan_t *t, MDB_dbi meta, uint64_t *shard, uint64_t *shards)
{
    int rc = store_meta_get(t->txn, meta, TABLES_META_SHARDS, shards);
    if (rc == RP_ENOTFOUND) {
        *shards = 1;
        if (shard) *shard = 0;
        return 0;
    }
    if (rc == 0 && shard) rc = store_meta_get(t->txn, meta, TABLES_META_SHARD, shard);
    if (rc) cli_fail(t->cmd, rc, "%s: cannot read the recorded shard", t->dir);
    return rc;
}

/* Counts (and prints the first few of) the trades of shard i of k stored in
 * t's state table that belong to another shard. Returns the count, or an RP
 * code (printed). */
static long long s_misplaced(scan_t *t, uint32_t i, uint32_t k)
{
    MDB_val key, v;
    long long bad = 0;
    int r;
    for (r = scan_next(t, &key, &v, MDB_FIRST); r == 1; r = scan_next(t, &key, &v, MDB_NEXT)) {
        uint32_t home = shard_of(key.mv_data, key.mv_size, k);
        if (home == i) continue;
        if (bad++ < 10)
            printf("misplaced trade '%.*s' in shard %u: it belongs to shard %u\n",
                   (int)key.mv_size, (char *)key.mv_data, i, home);
    }
    return r < 0 ? r : bad;
}

/* The expected aggregate table computed from the state tables of the
 * shards in dirs[0..k) (in shard order), each checked to be that shard of a
 * pipeline of k and to hold only its own trades (misplaced ones are counted
 * in *diffs). Returns 0 or an RP code (printed). */
static int s_expected(char **dirs, int k, rollup_t *out, size_t *diffs)
{
    for (int i = 0; i < k; i++) {
        scan_t t;
        uint64_t shard, shards;
        int rc = scan_open(&t, "verify", dirs[i], tables_state_dbs, SDB_STATE, 1);
        if (rc) return rc;
        rc = s_shard_meta(&t, store_dbi(t.store, SDB_META), &shard, &shards);
        if (rc == 0 && (shards != (uint64_t)k || shard != (uint64_t)i)) {
            fprintf(stderr, "riskctl verify: %s is shard %llu of %llu, but it is given as shard "
                    "%d of %d: list every shard's --state-data, comma-separated, in shard "
                    "order\n", dirs[i], (unsigned long long)shard, (unsigned long long)shards,
                    i, k);
            rc = RP_EINVAL;
        }
        long long bad = 0;
        if (rc == 0) rc = rollup_read(&t, out);
        if (rc == 0 && k > 1 && (bad = s_misplaced(&t, (uint32_t)i, (uint32_t)k)) < 0)
            rc = (int)bad;
        if (bad > 0) *diffs += (size_t)bad;
        scan_close(&t);
        if (rc) return rc;
    }
    return 0;
}

static void s_missing(const rollup_row_t *e, size_t *diffs)
{
    char a[MONEY_FMT_MAX];
    money_format(e->sum, a, sizeof a);
    printf("missing  %s: expected %s (%lld trades)\n", e->path, a, (long long)e->count);
    (*diffs)++;
}

/* Compares one aggregate row with its expected row e (NULL: none expected,
 * which only a zero row may be). */
static void s_check_row(const char *path, size_t len, money_sum_t sum, int64_t count,
                        const rollup_row_t *e, size_t *diffs)
{
    char a[MONEY_FMT_MAX], b[MONEY_FMT_MAX];
    if (!e && (sum != 0 || count != 0)) {
        money_format(sum, b, sizeof b);
        printf("extra    %.*s: %s (%lld trades), expected nothing\n", (int)len, path, b,
               (long long)count);
        (*diffs)++;
    } else if (e && (sum != e->sum || count != e->count)) {
        money_format(e->sum, a, sizeof a);
        money_format(sum, b, sizeof b);
        printf("differs  %s: expected %s (%lld trades), aggregate has %s (%lld)\n", e->path, a,
               (long long)e->count, b, (long long)count);
        (*diffs)++;
    }
}

/* The expected row matching path, after printing every expected row that
 * comes before it as missing; NULL when none matches. */
static const rollup_row_t *s_match(const rollup_t *exp, size_t *i, const char *path, size_t len,
                                   size_t *rows, size_t *diffs)
{
    int c = 1;
    while (*i < exp->n &&
           (c = api_path_cmp(exp->rows[*i].path, strlen(exp->rows[*i].path), path, len)) < 0)
        s_missing(&exp->rows[(*i)++], diffs);
    if (*i >= exp->n || c != 0) return NULL;
    (*rows)++;
    return &exp->rows[(*i)++];
}

/* Merges the aggregate table with the expected rows, both in key order,
 * printing each difference. Returns 0 or an RP code (printed). */
static int s_compare(scan_t *t, const rollup_t *exp, size_t *rows, size_t *diffs)
{
    MDB_val k, v;
    size_t i = 0;
    int r;
    for (r = scan_next(t, &k, &v, MDB_FIRST); r == 1; r = scan_next(t, &k, &v, MDB_NEXT)) {
        const rollup_row_t *e = s_match(exp, &i, k.mv_data, k.mv_size, rows, diffs);
        money_sum_t sum;
        int64_t count;
        if (tables_agg_decode(v.mv_data, v.mv_size, &sum, &count)) {
            printf("unreadable aggregate row %.*s\n", (int)k.mv_size, (char *)k.mv_data);
            (*diffs)++;
        } else {
            s_check_row(k.mv_data, k.mv_size, sum, count, e, diffs);
        }
    }
    while (i < exp->n) s_missing(&exp->rows[i++], diffs);
    return r < 0 ? r : 0;
}

/* The same merge over rows read from the reducer's HTTP API. */
static void s_compare_rows(const api_rows_t *act, const rollup_t *exp, size_t *rows, size_t *diffs)
{
    size_t i = 0;
    for (size_t j = 0; j < act->n; j++) {
        const api_row_t *a = &act->rows[j];
        s_check_row(a->path, a->len, a->sum, a->count,
                    s_match(exp, &i, a->path, a->len, rows, diffs), diffs);
    }
    while (i < exp->n)
        s_missing(&exp->rows[i++], diffs);
}

/* Prints the result of a comparison and returns the exit code. */
static int s_result(size_t rows, size_t diffs, const char *what)
{
    if (diffs) {
        printf("verify FAILED: %zu difference(s)\n", diffs);
        return CLI_FAIL;
    }
    printf("verify OK: %zu aggregate rows match %s exactly\n", rows, what);
    return CLI_OK;
}

static int s_verify_lmdb(const char *state_dirs, const char *reducer_dir)
{
    rollup_t exp = {0};
    scan_t t;
    size_t rows = 0, diffs = 0;
    char list[4096], *dirs[SHARD_MAX];
    snprintf(list, sizeof list, "%s", state_dirs);
    int k = shard_split(list, dirs, SHARD_MAX);
    if (k < 1) {
        fprintf(stderr, "riskctl verify: --state-data: expected a directory, or one per state "
                "shard (at most %d) comma-separated\n", SHARD_MAX);
        return CLI_USAGE;
    }
    int rc = s_expected(dirs, k, &exp, &diffs);
    if (rc == 0 &&
        (rc = scan_open(&t, "verify", reducer_dir, tables_reducer_dbs, RDB_AGGREGATE, 1)) == 0) {
        uint64_t shards;
        rc = s_shard_meta(&t, store_dbi(t.store, RDB_META), NULL, &shards);
        if (rc == 0 && shards != (uint64_t)k) {
            fprintf(stderr, "riskctl verify: the reducer at %s applies %llu state shard(s), but "
                    "--state-data names %d\n", reducer_dir, (unsigned long long)shards, k);
            rc = RP_EINVAL;
        }
        if (rc == 0) rc = s_compare(&t, &exp, &rows, &diffs);
        scan_close(&t);
    }
    rollup_free(&exp);
    return rc ? CLI_FAIL : s_result(rows, diffs, k > 1 ? "the state shards' tables" : "the state table");
}

/* 1 when the daemons' status says the reducer has not yet applied what the
 * states (k of them, one per shard) committed: paging through the trades now
 * would be in vain. Any answer that does not say so (a status without these
 * numbers) is 0: the pages' own sequence numbers decide. */
static int s_behind(http_client_t **states, int k, http_client_t *reducer, char *why,
                    size_t whylen)
{
    json_t *r = NULL;
    long long committed = 0, one, applied;
    int behind = 0, known = api_status(reducer, CTL_ROLE_REDUCER, &r, why, whylen) == 0 &&
                            api_status_int(r, "applied_seq", &applied) == 0;
    for (int i = 0; known && i < k; i++) {
        json_t *s = NULL;
        known = api_status(states[i], CTL_ROLE_STATE, &s, why, whylen) == 0 &&
                api_status_int(s, "committed_seq", &one) == 0;
        committed += one;
        json_decref(s);
    }
    if (known && applied < committed) {
        snprintf(why, whylen, "the reducer has applied change %lld of the state%s %lld", applied,
                 k > 1 ? " shards'" : "'s", committed);
        behind = 1;
    }
    json_decref(r);
    return behind;
}

/* One attempt: the states' trades rolled up and the reducer's aggregates,
 * each from one snapshot, compared when both reflect the same changes (with
 * shards: the sum of the shards' sequence numbers against the reducer's sum
 * of what it applied of each; equal only when every shard is caught up).
 * Returns 0 after printing the result into *code; RP_EBUSY when there was
 * no common snapshot (why says why: try again); another RP code with why
 * on an error. */
static int s_verify_once(http_client_t **states, int k, http_client_t *reducer, int *code,
                         char *why, size_t whylen)
{
    rollup_t exp = {0};
    api_rows_t act = {0};
    size_t ntrades = 0, rows = 0, diffs = 0;
    uint64_t sseq = 0, rseq = 0;
    int rc = 0;
    for (int i = 0; rc == 0 && i < k; i++) {
        size_t n = 0;
        uint64_t seq = 0;
        rc = api_trades(states[i], &exp, &n, &seq, why, whylen);
        ntrades += n;
        sseq += seq;
    }
    if (rc == 0) {
        rollup_finish(&exp);
        rc = api_aggregates(reducer, "", &act, &rseq, why, whylen);
    }
    if (rc == 0 && sseq != rseq) {
        snprintf(why, whylen,
                 "the state%s trades reflect change %llu, the reducer's aggregates "
                 "change %llu",
                 k > 1 ? " shards'" : "'s", (unsigned long long)sseq, (unsigned long long)rseq);
        rc = RP_EBUSY;
    }
    if (rc == 0) {
        char what[128];
        s_compare_rows(&act, &exp, &rows, &diffs);
        snprintf(what, sizeof what, "the state%s %zu trades (at change %llu)",
                 k > 1 ? " shards'" : "'s", ntrades, (unsigned long long)sseq);
        *code = s_result(rows, diffs, what);
    }
    rollup_free(&exp);
    api_rows_free(&act);
    return rc;
}

/* Checks that each URL is the HTTP endpoint of the role it is given for,
 * so that a swap fails at once, naming the role that answered. */
static int s_roles(http_client_t **states, int k, http_client_t *reducer, char *why,
                   size_t whylen)
{
    json_t *st = NULL;
    int rc = 0;
    for (int i = 0; rc == 0 && i < k; i++) {
        rc = api_status(states[i], CTL_ROLE_STATE, &st, why, whylen);
        json_decref(st);
        st = NULL;
    }
    long long shards;
    if (rc == 0) rc = api_status(reducer, CTL_ROLE_REDUCER, &st, why, whylen);
    /* a reducer of before shards has no "shards": one */
    if (rc == 0 && api_status_int(st, "shards", &shards) == 0 && shards != k) {
        snprintf(why, whylen, "the reducer at %s applies %lld state shard(s), but --state-url "
                 "names %d: give every shard's URL, in shard order", http_client_url(reducer),
                 shards, k);
        rc = RP_EINVAL;
    }
    json_decref(st);
    return rc;
}

/* Verifies over HTTP, retrying while the pipeline moves, until timeout_s;
 * state_urls are the k shards' (one without shards). */
static int s_verify_http(const char *url, char **state_urls, int k, const char *token_file,
                         int64_t timeout_s)
{
    char why[HTTP_CLIENT_WHY_MAX] = "";
    int64_t deadline = clock_mono_ms() + timeout_s * 1000;
    http_client_t *s[SHARD_MAX] = {NULL};
    http_client_t *r = http_client_new(url, token_file, timeout_s * 1000, why, sizeof why);
    int ok = r != NULL;
    for (int i = 0; ok && i < k; i++)
        ok = (s[i] = http_client_new(state_urls[i], token_file, timeout_s * 1000, why,
                                     sizeof why)) != NULL;
    int code = CLI_FAIL, rc = ok ? s_roles(s, k, r, why, sizeof why) : RP_EINVAL, tries = 0;
    while (rc == 0 || rc == RP_EBUSY) {
        tries++;
        if (!s_behind(s, k, r, why, sizeof why))
            rc = s_verify_once(s, k, r, &code, why, sizeof why);
        else
            rc = RP_EBUSY;
        int64_t left = deadline - clock_mono_ms();
        if (rc != RP_EBUSY || left <= 0) break;
        http_client_set_timeout(r, left);
        for (int i = 0; i < k; i++) http_client_set_timeout(s[i], left);
        usleep(20000); /* the pipeline is still moving */
    }
    if (rc == RP_EBUSY)
        fprintf(stderr,
                "riskctl verify: no stable snapshot to compare within %lld s (%d "
                "attempts; the pipeline kept moving): %s\n",
                (long long)timeout_s, tries, why);
    else if (rc)
        fprintf(stderr, "riskctl verify: %s\n", why);
    for (int i = 0; i < k; i++) http_client_destroy(&s[i]);
    http_client_destroy(&r);
    return rc ? CLI_FAIL : code;
}

int cmd_verify(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"state-data", "./data/state", "the state process's LMDB environment directory; with "
         "state shards, every shard's, comma-separated, in shard order", NULL},
        {"reducer-data", "./data/reducer", "the reducer's LMDB environment directory", NULL},
        {"url", "",
         "compare over HTTP: the reducer's HTTP API URL (http://HOST:PORT) instead of "
         "--reducer-data; needs --state-url",
         NULL},
        {"state-url", "", "with --url: the state's HTTP API URL instead of --state-data; with "
         "shards, every shard's, comma-separated", NULL},
        {"token-file", "", "with --url: file holding the bearer token the daemons require", NULL},
        {"timeout", "60", "with --url: give up after this many seconds without a stable snapshot",
         NULL},
        {NULL, NULL, NULL, NULL}};
    int npos, code;
    if (!cli_parse(opts, argc, argv,
                   "usage: riskctl verify [options]\n\nRecomputes every aggregate from the state "
                   "table and compares it exactly with the\naggregate table. Run `riskctl wait` "
                   "first on a live pipeline. Exit 0 when equal,\n1 with a diff otherwise.\n\n"
                   "With --url and --state-url it reads both over the daemons' HTTP API: the "
                   "state's\ntrades (rolled up here) and the reducer's aggregates, each over "
                   "pages that must\nall reflect the same change; it reads them again while "
                   "the pipeline moves, and\nexits 1 saying so when it finds no stable snapshot "
                   "within --timeout.",
                   &npos, &code))
        return code;
    int64_t timeout;
    if (config_int(opts, "timeout", 1, 86400 * 365, &timeout)) return CLI_USAGE;
    const char *url = config_get(opts, "url");
    char list[4096], *state_urls[SHARD_MAX];
    snprintf(list, sizeof list, "%s", config_get(opts, "state-url"));
    int k, http = cli_http_url_list("verify", url, list, state_urls, &k);
    if (http < 0) return CLI_USAGE;
    if (http) return s_verify_http(url, state_urls, k, config_get(opts, "token-file"), timeout);
    return s_verify_lmdb(config_get(opts, "state-data"), config_get(opts, "reducer-data"));
}
