/* riskctl verify: recomputes every aggregate from the state table (rollup.c,
 * independent of the mapper and reducer code) and compares the reducer's
 * aggregate table with it exactly, row by row. Both LMDB environments are
 * opened read-only. */
#include "riskctl.h"
#include "cli.h"
#include "rollup.h"
#include "scan.h"
#include "../common/hier.h"
#include "../common/money.h"
#include "../common/rperr.h"
#include "../proto/tables.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The expected aggregate table computed from the state table in dir. */
static int s_expected(const char *dir, rollup_t *out)
{
    scan_t t;
    int rc = scan_open(&t, "verify", dir, tables_state_dbs, SDB_STATE, 1);
    if (rc) return rc;
    rc = rollup_read(&t, out);
    scan_close(&t);
    return rc;
}

/* Orders an expected path against an aggregate key like LMDB's default key
 * comparison: bytes first, then the shorter one first. */
static int s_path_cmp(const char *path, const MDB_val *k)
{
    size_t n = strlen(path), m = n < k->mv_size ? n : k->mv_size;
    int c = memcmp(path, k->mv_data, m);
    return c ? c : n < k->mv_size ? -1 : n > k->mv_size;
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
static void s_compare_row(const MDB_val *k, const MDB_val *v, const rollup_row_t *e, size_t *diffs)
{
    money_sum_t sum;
    int64_t count;
    char a[MONEY_FMT_MAX], b[MONEY_FMT_MAX];
    if (tables_agg_decode(v->mv_data, v->mv_size, &sum, &count)) {
        printf("unreadable aggregate row %.*s\n", (int)k->mv_size, (char *)k->mv_data);
        (*diffs)++;
    } else if (!e && (sum != 0 || count != 0)) {
        money_format(sum, b, sizeof b);
        printf("extra    %.*s: %s (%lld trades), expected nothing\n", (int)k->mv_size,
               (char *)k->mv_data, b, (long long)count);
        (*diffs)++;
    } else if (e && (sum != e->sum || count != e->count)) {
        money_format(e->sum, a, sizeof a);
        money_format(sum, b, sizeof b);
        printf("differs  %s: expected %s (%lld trades), aggregate has %s (%lld)\n", e->path, a,
               (long long)e->count, b, (long long)count);
        (*diffs)++;
    }
}

/* Merges the aggregate table with the expected rows, both in key order,
 * printing each difference. Returns 0 or an RP code (printed). */
static int s_compare(scan_t *t, const rollup_t *exp, size_t *rows, size_t *diffs)
{
    MDB_val k, v;
    size_t i = 0;
    int r;
    for (r = scan_next(t, &k, &v, MDB_FIRST); r == 1; r = scan_next(t, &k, &v, MDB_NEXT)) {
        int c = 1;
        while (i < exp->n && (c = s_path_cmp(exp->rows[i].path, &k)) < 0)
            s_missing(&exp->rows[i++], diffs);
        const rollup_row_t *e = i < exp->n && c == 0 ? &exp->rows[i++] : NULL;
        if (e) (*rows)++;
        s_compare_row(&k, &v, e, diffs);
    }
    while (i < exp->n) s_missing(&exp->rows[i++], diffs);
    return r < 0 ? r : 0;
}

int cmd_verify(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"state-data", "./data/state", "the state process's LMDB environment directory", NULL},
        {"reducer-data", "./data/reducer", "the reducer's LMDB environment directory", NULL},
        {NULL, NULL, NULL, NULL}};
    int npos, code;
    if (!cli_parse(opts, argc, argv,
                   "usage: riskctl verify [options]\n\nRecomputes every aggregate from the state "
                   "table and compares it exactly with the\naggregate table. Run `riskctl wait` "
                   "first on a live pipeline. Exit 0 when equal,\n1 with a diff otherwise.",
                   &npos, &code))
        return code;
    rollup_t exp = {0};
    scan_t t;
    size_t rows = 0, diffs = 0;
    int rc = s_expected(config_get(opts, "state-data"), &exp);
    if (rc == 0 && (rc = scan_open(&t, "verify", config_get(opts, "reducer-data"),
                                   tables_reducer_dbs, RDB_AGGREGATE, 1)) == 0) {
        rc = s_compare(&t, &exp, &rows, &diffs);
        scan_close(&t);
    }
    rollup_free(&exp);
    if (rc) return CLI_FAIL;
    if (diffs) {
        printf("verify FAILED: %zu difference(s)\n", diffs);
        return CLI_FAIL;
    }
    printf("verify OK: %zu aggregate rows match the state table exactly\n", rows);
    return CLI_OK;
}
