/* riskctl verify: recomputes every aggregate from the state table with its
 * own sort-and-sum (independent of the mapper and reducer code) and compares
 * the reducer's aggregate table with it exactly, row by row. Both LMDB
 * environments are opened read-only. */
#include "riskctl.h"
#include "cli.h"
#include "scan.h"
#include "../common/hier.h"
#include "../common/money.h"
#include "../common/rperr.h"
#include "../proto/tables.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One expected aggregate row. */
typedef struct {
    char *path; /* owned; paths are NUL-free by validation */
    money_sum_t sum;
    int64_t count;
} row_t;

typedef struct {
    row_t *rows;
    size_t n, cap;
} rows_t;

static void s_rows_free(rows_t *r)
{
    for (size_t i = 0; i < r->n; i++) free(r->rows[i].path);
    free(r->rows);
    memset(r, 0, sizeof *r);
}

/* Appends one trade's contribution to one prefix path. Returns 0 or RP_ENOMEM. */
static int s_rows_add(rows_t *r, const char *path, size_t len, money_t value)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 1024;
        row_t *grown = realloc(r->rows, cap * sizeof *grown);
        if (!grown) return RP_ENOMEM;
        r->rows = grown;
        r->cap = cap;
    }
    char *copy = strndup(path, len);
    if (!copy) return RP_ENOMEM;
    r->rows[r->n++] = (row_t){copy, value, 1};
    return 0;
}

static int s_row_cmp(const void *a, const void *b)
{
    return strcmp(((const row_t *)a)->path, ((const row_t *)b)->path);
}

/* Sorts the contributions by path and merges each path's into one row. */
static void s_rows_group(rows_t *r)
{
    qsort(r->rows, r->n, sizeof *r->rows, s_row_cmp);
    size_t out = 0;
    for (size_t i = 0; i < r->n; i++) {
        row_t *last = out ? &r->rows[out - 1] : NULL;
        if (last && strcmp(last->path, r->rows[i].path) == 0) {
            last->sum += r->rows[i].sum;
            last->count += r->rows[i].count;
            free(r->rows[i].path);
        } else {
            r->rows[out++] = r->rows[i];
        }
    }
    r->n = out;
}

/* Reads the hierarchy levels the state process recorded in its meta table:
 * they say how a state row's Hierarchy map becomes a path. */
static int s_levels(scan_t *t, hier_levels_t *h)
{
    char list[HIER_PATH_MAX], why[160];
    int rc = store_meta_get_str(t->txn, store_dbi(t->store, SDB_META), TABLES_META_HIERARCHY,
                                list, sizeof list);
    if (rc) {
        cli_fail("verify", rc, "%s: cannot read the recorded hierarchy (meta key %s)", t->dir,
                 TABLES_META_HIERARCHY);
        return rc;
    }
    if ((rc = hier_levels_parse(list, h, why, sizeof why)))
        fprintf(stderr, "riskctl verify: %s: the recorded hierarchy '%s' is invalid: %s\n",
                t->dir, list, why);
    return rc;
}

/* Adds every prefix of every state row's path to *out. Returns 0 or an RP
 * code (printed); an unreadable row is reported and makes it RP_EPROTO. */
static int s_read_state(scan_t *t, const hier_levels_t *h, rows_t *out)
{
    MDB_val k, v;
    int r, rc = 0, bad = 0;
    for (r = scan_next(t, &k, &v, MDB_FIRST); r == 1; r = scan_next(t, &k, &v, MDB_NEXT)) {
        state_row_t row;
        if (tables_state_decode(v.mv_data, v.mv_size, h, &row)) {
            fprintf(stderr, "riskctl verify: unreadable state row '%.*s'\n", (int)k.mv_size,
                    (char *)k.mv_data);
            bad++;
            continue;
        }
        size_t lens[HIER_MAX_LEVELS];
        int np = hier_prefixes(row.path, row.path_len, lens, HIER_MAX_LEVELS);
        for (int i = 0; i < np && rc == 0; i++) rc = s_rows_add(out, row.path, lens[i], row.value);
        if (rc) {
            cli_fail("verify", rc, "%s: cannot hold the expected rows", t->dir);
            return rc;
        }
    }
    if (r < 0) return r;
    if (bad) {
        fprintf(stderr, "riskctl verify: %d unreadable state row(s) in %s; nothing compared\n",
                bad, t->dir);
        return RP_EPROTO;
    }
    return 0;
}

/* The expected aggregate table computed from the state table in dir: one
 * row per path prefix, sorted by path as LMDB sorts the aggregate keys. */
static int s_expected(const char *dir, rows_t *out)
{
    scan_t t;
    hier_levels_t h;
    int rc = scan_open(&t, "verify", dir, tables_state_dbs, SDB_STATE, 1);
    if (rc) return rc;
    if ((rc = s_levels(&t, &h)) == 0 && (rc = s_read_state(&t, &h, out)) == 0)
        s_rows_group(out);
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

static void s_missing(const row_t *e, size_t *diffs)
{
    char a[MONEY_FMT_MAX];
    money_format(e->sum, a, sizeof a);
    printf("missing  %s: expected %s (%lld trades)\n", e->path, a, (long long)e->count);
    (*diffs)++;
}

/* Compares one aggregate row with its expected row e (NULL: none expected,
 * which only a zero row may be). */
static void s_compare_row(const MDB_val *k, const MDB_val *v, const row_t *e, size_t *diffs)
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
static int s_compare(scan_t *t, const rows_t *exp, size_t *rows, size_t *diffs)
{
    MDB_val k, v;
    size_t i = 0;
    int r;
    for (r = scan_next(t, &k, &v, MDB_FIRST); r == 1; r = scan_next(t, &k, &v, MDB_NEXT)) {
        int c = 1;
        while (i < exp->n && (c = s_path_cmp(exp->rows[i].path, &k)) < 0)
            s_missing(&exp->rows[i++], diffs);
        const row_t *e = i < exp->n && c == 0 ? &exp->rows[i++] : NULL;
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
    rows_t exp = {0};
    scan_t t;
    size_t rows = 0, diffs = 0;
    int rc = s_expected(config_get(opts, "state-data"), &exp);
    if (rc == 0 && (rc = scan_open(&t, "verify", config_get(opts, "reducer-data"),
                                   tables_reducer_dbs, RDB_AGGREGATE, 1)) == 0) {
        rc = s_compare(&t, &exp, &rows, &diffs);
        scan_close(&t);
    }
    s_rows_free(&exp);
    if (rc) return CLI_FAIL;
    if (diffs) {
        printf("verify FAILED: %zu difference(s)\n", diffs);
        return CLI_FAIL;
    }
    printf("verify OK: %zu aggregate rows match the state table exactly\n", rows);
    return CLI_OK;
}
