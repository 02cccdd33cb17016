/* riskctl query: prints the aggregate table of the reducer's LMDB environment
 * (read-only), as an indented tree or as JSON, all rows or those under a
 * path prefix. */
#include "riskctl.h"
#include "cli.h"
#include "scan.h"
#include "../common/hier.h"
#include "../common/money.h"
#include "../common/rperr.h"
#include "../proto/tables.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEP_LEN (sizeof HIER_SEP - 1)

/* 1 when path k is the prefix row itself or one of its descendants: "Delta"
 * must not select "DeltaHedge", which sorts between "Delta" and its children. */
static int s_under(const MDB_val *k, const char *prefix, size_t plen)
{
    if (k->mv_size < plen || memcmp(k->mv_data, prefix, plen) != 0) return 0;
    if (plen == 0 || k->mv_size == plen) return 1;
    return k->mv_size >= plen + SEP_LEN &&
           memcmp((const char *)k->mv_data + plen, HIER_SEP, SEP_LEN) == 0;
}

/* One row of the tree view: the last level's name indented by depth. */
static void s_print_tree_row(const MDB_val *k, const char *val, int64_t count)
{
    const char *p = k->mv_data;
    size_t lens[HIER_MAX_LEVELS];
    int depth = hier_prefixes(p, k->mv_size, lens, HIER_MAX_LEVELS);
    size_t start = depth > 1 ? lens[depth - 2] + SEP_LEN : 0;
    int indent = 2 * (depth > 0 ? depth - 1 : 0);
    printf("%*s%-*.*s %24s %10lld\n", indent, "", 40 - indent, (int)(k->mv_size - start),
           p + start, val, (long long)count);
}

/* Prints every row under prefix (tree lines now, or appended to arr for
 * --json). Returns 0 or an RP code (printed); counts rows and unreadable
 * ones. */
static int s_walk(scan_t *t, const char *prefix, json_t *arr, int *rows, int *bad)
{
    size_t plen = strlen(prefix);
    MDB_val k = {plen, (void *)prefix}, v;
    int r = scan_next(t, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
    for (; r == 1 && k.mv_size >= plen && memcmp(k.mv_data, prefix, plen) == 0;
         r = scan_next(t, &k, &v, MDB_NEXT)) {
        if (!s_under(&k, prefix, plen)) continue;
        money_sum_t sum;
        int64_t count;
        if (tables_agg_decode(v.mv_data, v.mv_size, &sum, &count)) {
            fprintf(stderr, "riskctl query: unreadable aggregate row '%.*s'\n", (int)k.mv_size,
                    (char *)k.mv_data);
            (*bad)++;
            continue;
        }
        char val[MONEY_FMT_MAX];
        money_format(sum, val, sizeof val);
        (*rows)++;
        if (!arr) {
            s_print_tree_row(&k, val, count);
            continue;
        }
        json_t *row = json_pack("{s:s%,s:s,s:I}", "path", (char *)k.mv_data, k.mv_size,
                                "value", val, "count", (json_int_t)count);
        /* jansson refuses a path that is not UTF-8 (ingest never stores one; a
         * damaged or foreign table can): name it and fail rather than print an
         * array that silently lacks the row. */
        if (!row || json_array_append_new(arr, row)) {
            fprintf(stderr, "riskctl query: aggregate row '");
            for (size_t i = 0; i < k.mv_size; i++) {
                unsigned char ch = ((unsigned char *)k.mv_data)[i];
                fprintf(stderr, ch >= 0x20 && ch < 0x7f ? "%c" : "\\x%02x", ch);
            }
            fprintf(stderr, "' is not valid UTF-8: left out of the JSON\n");
            (*bad)++;
        }
    }
    return r < 0 ? r : 0;
}

int cmd_query(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"reducer-data", "./data/reducer", "the reducer's LMDB environment directory", NULL},
        {"json", NULL, "print a JSON array of {path, value, count}", NULL},
        {NULL, NULL, NULL, NULL}};
    int npos, code;
    if (!cli_parse(opts, argc, argv,
                   "usage: riskctl query [PREFIX] [options]\n\nShows the aggregate totals, all "
                   "or those under PREFIX (e.g. Delta::AMER).",
                   &npos, &code))
        return code;
    const char *prefix = npos ? argv[1] : "";
    scan_t t;
    if (scan_open(&t, "query", config_get(opts, "reducer-data"), tables_reducer_dbs,
                  RDB_AGGREGATE, 1))
        return CLI_FAIL;
    json_t *arr = NULL;
    if (config_get(opts, "json") && !(arr = json_array())) {
        scan_close(&t);
        return cli_fail("query", RP_ENOMEM, "cannot build the JSON output");
    }
    int rows = 0, bad = 0, rc = s_walk(&t, prefix, arr, &rows, &bad);
    scan_close(&t);
    if (rc == 0 && arr) {
        char *out = json_dumps(arr, JSON_INDENT(2));
        printf("%s\n", out ? out : "[]");
        free(out);
    } else if (rc == 0 && rows == 0) {
        printf("(no aggregate rows%s%s)\n", *prefix ? " under " : "", prefix);
    }
    json_decref(arr);
    if (bad) fprintf(stderr, "riskctl query: %d unreadable row(s) skipped\n", bad);
    return rc || bad ? CLI_FAIL : CLI_OK;
}
