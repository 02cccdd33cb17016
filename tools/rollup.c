/* Computing the aggregate rows from the state table; see rollup.h. */
#include "rollup.h"
#include "cli.h"
#include "../common/hier.h"
#include "../common/rperr.h"
#include "../proto/tables.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rollup_free(rollup_t *r)
{
    for (size_t i = 0; i < r->n; i++) free(r->rows[i].path);
    free(r->rows);
    memset(r, 0, sizeof *r);
}

/* Appends one trade's contribution to one prefix path. Returns 0 or RP_ENOMEM. */
static int s_rows_add(rollup_t *r, const char *path, size_t len, money_t value)
{
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 1024;
        rollup_row_t *grown = realloc(r->rows, cap * sizeof *grown);
        if (!grown) return RP_ENOMEM;
        r->rows = grown;
        r->cap = cap;
    }
    char *copy = strndup(path, len);
    if (!copy) return RP_ENOMEM;
    r->rows[r->n++] = (rollup_row_t){copy, value, 1};
    return 0;
}

static int s_row_cmp(const void *a, const void *b)
{
    return strcmp(((const rollup_row_t *)a)->path, ((const rollup_row_t *)b)->path);
}

int rollup_add(rollup_t *r, const char *path, size_t len, money_t value)
{
    size_t lens[HIER_MAX_LEVELS];
    int np = hier_prefixes(path, len, lens, HIER_MAX_LEVELS), rc = 0;
    size_t n0 = r->n;
    for (int i = 0; i < np && rc == 0; i++)
        rc = s_rows_add(r, path, lens[i], value);
    if (rc) /* all of the trade's rows or none */
        while (r->n > n0)
            free(r->rows[--r->n].path);
    return rc;
}

void rollup_finish(rollup_t *r)
{
    if (r->n > 1) qsort(r->rows, r->n, sizeof *r->rows, s_row_cmp); /* rows may be NULL */
    size_t out = 0;
    for (size_t i = 0; i < r->n; i++) {
        rollup_row_t *last = out ? &r->rows[out - 1] : NULL;
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
        cli_fail(t->cmd, rc, "%s: cannot read the recorded hierarchy (meta key %s)", t->dir,
                 TABLES_META_HIERARCHY);
        return rc;
    }
    if ((rc = hier_levels_parse(list, h, why, sizeof why)))
        fprintf(stderr, "riskctl %s: %s: the recorded hierarchy '%s' is invalid: %s\n",
                t->cmd, t->dir, list, why);
    return rc;
}

/* Adds every prefix of every state row's path to *out. Returns 0 or an RP
 * code (printed); an unreadable row is reported and makes it RP_EPROTO. */
static int s_read_state(scan_t *t, const hier_levels_t *h, rollup_t *out)
{
    MDB_val k, v;
    int r, rc = 0, bad = 0;
    for (r = scan_next(t, &k, &v, MDB_FIRST); r == 1; r = scan_next(t, &k, &v, MDB_NEXT)) {
        state_row_t row;
        if (tables_state_decode(v.mv_data, v.mv_size, h, &row)) {
            fprintf(stderr, "riskctl %s: unreadable state row '%.*s'\n", t->cmd,
                    (int)k.mv_size, (char *)k.mv_data);
            bad++;
            continue;
        }
        if ((rc = rollup_add(out, row.path, row.path_len, row.value))) {
            cli_fail(t->cmd, rc, "%s: cannot hold the aggregate rows", t->dir);
            return rc;
        }
    }
    if (r < 0) return r;
    if (bad) {
        fprintf(stderr, "riskctl %s: %d unreadable state row(s) in %s\n", t->cmd, bad,
                t->dir);
        return RP_EPROTO;
    }
    return 0;
}

int rollup_read(scan_t *t, rollup_t *out)
{
    hier_levels_t h;
    int rc = s_levels(t, &h);
    if (rc == 0 && (rc = s_read_state(t, &h, out)) == 0) rollup_finish(out);
    return rc;
}
