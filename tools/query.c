/* riskctl query and verify: read-only views of the LMDB tables. query prints
 * the aggregate tree; verify recomputes every aggregate from the state table
 * with its own sort-and-sum (independent of the mapper and reducer code) and
 * compares exactly. */
#include "riskctl.h"
#include "../common/config.h"
#include "../common/hier.h"
#include "../common/money.h"
#include "../common/store.h"
#include "../proto/risk.h"
#include "../proto/tables.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int s_depth(const char *p, size_t n)
{
    size_t lens[HIER_MAX_LEVELS];
    return hier_prefixes(p, n, lens, HIER_MAX_LEVELS);
}

int cmd_query(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"reducer-data", "./data/reducer", "the reducer's LMDB environment directory", NULL},
        {"json", NULL, "print a JSON array of {path, value, count}", NULL},
        {NULL, NULL, NULL, NULL}};
    int npos;
    int rc = config_parse(opts, argc, argv, 1, &npos,
                          "usage: riskctl query [PREFIX] [options]\n\nShows the aggregate "
                          "totals, all or those under PREFIX (e.g. Delta::AMER).");
    if (rc) return rc > 0 ? 0 : 2;
    const char *prefix = npos ? argv[1] : "";
    size_t plen = strlen(prefix);
    store_t *st = store_open(config_get(opts, "reducer-data"), tables_reducer_dbs, 0, 1, &rc);
    if (!st) {
        fprintf(stderr, "riskctl query: cannot open %s (is the reducer's --data there?)\n",
                config_get(opts, "reducer-data"));
        return 1;
    }
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    json_t *arr = json_array();
    int json = config_get(opts, "json") != NULL, rows = 0, bad = 0;
    if (store_begin(st, 1, &txn) ||
        mdb_cursor_open(txn, store_dbi(st, RDB_AGGREGATE), &cur) != MDB_SUCCESS) {
        store_destroy(&st);
        return 1;
    }
    MDB_val k = {plen, (void *)prefix}, v;
    int r = mdb_cursor_get(cur, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
    for (; r == 0; r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size < plen || memcmp(k.mv_data, prefix, plen) != 0) break;
        /* "Delta" must not match "DeltaHedge": only the row itself or children */
        if (plen && k.mv_size > plen && memcmp((char *)k.mv_data + plen, "::", 2) != 0) continue;
        money_sum_t sum;
        int64_t count;
        if (tables_agg_decode(v.mv_data, v.mv_size, &sum, &count)) {
            bad++;
            continue;
        }
        char val[MONEY_FMT_MAX];
        money_format(sum, val, sizeof val);
        rows++;
        if (json) {
            json_t *row = json_pack("{s:s%,s:s,s:I}", "path", (char *)k.mv_data, k.mv_size,
                                    "value", val, "count", (json_int_t)count);
            /* jansson refuses a path that is not UTF-8 (ingest never stores
             * one; a damaged or foreign table can): name it and fail rather
             * than print an array that silently lacks the row. */
            if (!row || json_array_append_new(arr, row)) {
                fprintf(stderr, "riskctl query: aggregate row '");
                for (size_t i = 0; i < k.mv_size; i++) {
                    unsigned char c = ((unsigned char *)k.mv_data)[i];
                    fprintf(stderr, c >= 0x20 && c < 0x7f ? "%c" : "\\x%02x", c);
                }
                fprintf(stderr, "' is not valid UTF-8: left out of the JSON\n");
                bad++;
            }
            continue;
        }
        const char *p = k.mv_data, *last = p;
        for (size_t i = 0; i + 1 < k.mv_size; i++)
            if (p[i] == ':' && p[i + 1] == ':') last = p + i + 2;
        int depth = s_depth(p, k.mv_size);
        int name_len = (int)(k.mv_size - (size_t)(last - p));
        printf("%*s%-*.*s %24s %10lld\n", 2 * (depth - 1), "", 40 - 2 * (depth - 1), name_len,
               last, val, (long long)count);
    }
    if (json) {
        char *out = json_dumps(arr, JSON_INDENT(2));
        printf("%s\n", out ? out : "[]");
        free(out);
    } else if (rows == 0) {
        printf("(no aggregate rows%s%s)\n", plen ? " under " : "", prefix);
    }
    json_decref(arr);
    mdb_cursor_close(cur);
    store_abort(&txn);
    store_destroy(&st);
    if (bad) fprintf(stderr, "riskctl query: %d unreadable row(s) skipped\n", bad);
    return bad ? 1 : 0;
}

typedef struct {
    char *path;
    money_t value;
} item_t;

static int s_item_cmp(const void *a, const void *b)
{
    return strcmp(((const item_t *)a)->path, ((const item_t *)b)->path);
}

/* Expected rows from the state table: every prefix of every trade's path,
 * sorted, then summed per prefix. Paths are NUL-free by validation. */
static int s_expected(const char *dir, item_t **out, size_t *n)
{
    int rc;
    store_t *st = store_open(dir, tables_state_dbs, 0, 1, &rc);
    if (!st) return -1;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    hier_levels_t h;
    char why[160], list[HIER_PATH_MAX];
    MDB_val k, v;
    if (store_begin(st, 1, &txn) ||
        store_meta_get_str(txn, store_dbi(st, SDB_META), TABLES_META_HIERARCHY, list,
                           sizeof list)) {
        fprintf(stderr, "riskctl verify: no hierarchy recorded in %s\n", dir);
        store_abort(&txn);
        store_destroy(&st);
        return -1;
    }
    if (hier_levels_parse(list, &h, why, sizeof why)) return -1;
    size_t cap = 1024, cnt = 0;
    item_t *items = malloc(cap * sizeof *items);
    mdb_cursor_open(txn, store_dbi(st, SDB_STATE), &cur);
    int r, bad = 0;
    while ((r = mdb_cursor_get(cur, &k, &v, cnt || bad ? MDB_NEXT : MDB_FIRST)) == 0) {
        state_row_t row;
        if (tables_state_decode(v.mv_data, v.mv_size, &h, &row)) {
            fprintf(stderr, "riskctl verify: unreadable state row '%.*s'\n", (int)k.mv_size,
                    (char *)k.mv_data);
            bad++;
            continue;
        }
        size_t lens[HIER_MAX_LEVELS];
        int np = hier_prefixes(row.path, row.path_len, lens, HIER_MAX_LEVELS);
        for (int i = 0; i < np; i++) {
            if (cnt == cap) items = realloc(items, (cap *= 2) * sizeof *items);
            items[cnt].path = strndup(row.path, lens[i]);
            items[cnt++].value = row.value;
        }
    }
    mdb_cursor_close(cur);
    store_abort(&txn);
    store_destroy(&st);
    qsort(items, cnt, sizeof *items, s_item_cmp);
    *out = items;
    *n = cnt;
    return bad ? -1 : 0;
}

int cmd_verify(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"state-data", "./data/state", "the state process's LMDB environment directory", NULL},
        {"reducer-data", "./data/reducer", "the reducer's LMDB environment directory", NULL},
        {NULL, NULL, NULL, NULL}};
    int npos;
    int rc = config_parse(opts, argc, argv, 1, &npos,
                          "usage: riskctl verify [options]\n\nRecomputes every aggregate from "
                          "the state table and compares it exactly with the\naggregate table. "
                          "Run `riskctl wait` first on a live pipeline. Exit 0 when equal,\n1 "
                          "with a diff otherwise.");
    if (rc) return rc > 0 ? 0 : 2;
    item_t *items = NULL;
    size_t n = 0;
    if (s_expected(config_get(opts, "state-data"), &items, &n)) return 1;
    store_t *st = store_open(config_get(opts, "reducer-data"), tables_reducer_dbs, 0, 1, &rc);
    if (!st) return 1;
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    store_begin(st, 1, &txn);
    mdb_cursor_open(txn, store_dbi(st, RDB_AGGREGATE), &cur);
    MDB_val k, v;
    int r = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    size_t i = 0, rows = 0, diffs = 0;
    char a[MONEY_FMT_MAX], b[MONEY_FMT_MAX];
    while (i < n || r == 0) {
        /* next expected row */
        money_sum_t esum = 0;
        int64_t ecount = 0;
        const char *epath = i < n ? items[i].path : NULL;
        size_t j = i;
        for (; j < n && strcmp(items[j].path, epath) == 0; j++) esum += items[j].value, ecount++;
        money_sum_t asum = 0;
        int64_t acount = 0;
        int c = !epath ? 1 : r != 0 ? -1 : 0;
        if (epath && r == 0) {
            size_t el = strlen(epath), m = el < k.mv_size ? el : k.mv_size;
            c = memcmp(epath, k.mv_data, m);
            if (c == 0) c = el < k.mv_size ? -1 : el > k.mv_size;
        }
        if (c >= 0 && tables_agg_decode(v.mv_data, v.mv_size, &asum, &acount)) {
            printf("unreadable aggregate row %.*s\n", (int)k.mv_size, (char *)k.mv_data);
            diffs++;
        }
        if (c < 0) { /* expected, absent from aggregate */
            money_format(esum, a, sizeof a);
            printf("missing  %s: expected %s (%lld trades)\n", epath, a, (long long)ecount);
            diffs++;
            i = j;
        } else if (c > 0) { /* aggregate row without live trades */
            if (asum != 0 || acount != 0) {
                money_format(asum, b, sizeof b);
                printf("extra    %.*s: %s (%lld trades), expected nothing\n", (int)k.mv_size,
                       (char *)k.mv_data, b, (long long)acount);
                diffs++;
            }
            r = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        } else {
            if (asum != esum || acount != ecount) {
                money_format(esum, a, sizeof a);
                money_format(asum, b, sizeof b);
                printf("differs  %s: expected %s (%lld trades), aggregate has %s (%lld)\n", epath,
                       a, (long long)ecount, b, (long long)acount);
                diffs++;
            }
            rows++;
            i = j;
            r = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
    }
    mdb_cursor_close(cur);
    store_abort(&txn);
    store_destroy(&st);
    for (size_t x = 0; x < n; x++) free(items[x].path);
    free(items);
    if (diffs) {
        printf("verify FAILED: %zu difference(s)\n", diffs);
        return 1;
    }
    printf("verify OK: %zu aggregate rows match the state table exactly\n", rows);
    return 0;
}
