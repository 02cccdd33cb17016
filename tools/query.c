/* riskctl query: prints the aggregate table, as an indented tree or as
 * JSON, all rows or those under a path prefix. The rows come from the
 * reducer's LMDB environment (read-only), or with --url from the reducer's
 * HTTP API (/v1/aggregates, every page of one snapshot); one renderer
 * prints both, so the two give the same output for the same table. */
#include "riskctl.h"
#include "api.h"
#include "cli.h"
#include "http_client.h"
#include "scan.h"
#include "../common/clock.h"
#include "../common/hier.h"
#include "../common/money.h"
#include "../common/rperr.h"
#include "../proto/tables.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEP_LEN (sizeof HIER_SEP - 1)

/* What the renderer has printed or collected. */
typedef struct {
    json_t *arr; /* --json: the rows so far; NULL: tree lines are printed as they come */
    int rows;    /* rows read and shown (or failed to be) */
    int bad;     /* rows that could not be read or printed */
} out_t;

/* 1 when path p[0..len) is the prefix row itself or one of its descendants:
 * "Delta" must not select "DeltaHedge", which sorts between "Delta" and its
 * children. */
static int s_under(const char *p, size_t len, const char *prefix, size_t plen)
{
    if (len < plen || memcmp(p, prefix, plen) != 0) return 0;
    if (plen == 0 || len == plen) return 1;
    return len >= plen + SEP_LEN && memcmp(p + plen, HIER_SEP, SEP_LEN) == 0;
}

/* One row of the tree view: the last level's name indented by depth. */
static void s_print_tree_row(const char *p, size_t len, const char *val, int64_t count)
{
    size_t lens[HIER_MAX_LEVELS];
    int depth = hier_prefixes(p, len, lens, HIER_MAX_LEVELS);
    size_t start = depth > 1 ? lens[depth - 2] + SEP_LEN : 0;
    int indent = 2 * (depth > 0 ? depth - 1 : 0);
    printf("%*s%-*.*s %24s %10lld\n", indent, "", 40 - indent, (int)(len - start), p + start, val,
           (long long)count);
}

/* The renderer: shows one row, from either source. */
static void s_emit(out_t *o, const char *p, size_t len, money_sum_t sum, int64_t count)
{
    char val[MONEY_FMT_MAX];
    money_format(sum, val, sizeof val);
    o->rows++;
    if (!o->arr) {
        s_print_tree_row(p, len, val, count);
        return;
    }
    json_t *row =
        json_pack("{s:s%,s:s,s:I}", "path", p, len, "value", val, "count", (json_int_t)count);
    /* jansson refuses a path that is not UTF-8 (ingest never stores one; a
     * damaged or foreign table can): name it and fail rather than print an
     * array that silently lacks the row. */
    if (!row || json_array_append_new(o->arr, row)) {
        fprintf(stderr, "riskctl query: aggregate row '");
        for (size_t i = 0; i < len; i++) {
            unsigned char ch = (unsigned char)p[i];
            fprintf(stderr, ch >= 0x20 && ch < 0x7f ? "%c" : "\\x%02x", ch);
        }
        fprintf(stderr, "' is not valid UTF-8: left out of the JSON\n");
        o->bad++;
    }
}

/* Shows every row of the LMDB table under prefix. Returns 0 or an RP code
 * (printed). */
static int s_walk_lmdb(scan_t *t, const char *prefix, out_t *o)
{
    size_t plen = strlen(prefix);
    MDB_val k = {plen, (void *)prefix}, v;
    int r = scan_next(t, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
    for (; r == 1 && k.mv_size >= plen && memcmp(k.mv_data, prefix, plen) == 0;
         r = scan_next(t, &k, &v, MDB_NEXT)) {
        if (!s_under(k.mv_data, k.mv_size, prefix, plen)) continue;
        money_sum_t sum;
        int64_t count;
        if (tables_agg_decode(v.mv_data, v.mv_size, &sum, &count)) {
            fprintf(stderr, "riskctl query: unreadable aggregate row '%.*s'\n", (int)k.mv_size,
                    (char *)k.mv_data);
            o->bad++;
            continue;
        }
        s_emit(o, k.mv_data, k.mv_size, sum, count);
    }
    return r < 0 ? r : 0;
}

static int s_query_lmdb(const char *dir, const char *prefix, out_t *o)
{
    scan_t t;
    int rc = scan_open(&t, "query", dir, tables_reducer_dbs, RDB_AGGREGATE, 1);
    if (rc) return rc;
    rc = s_walk_lmdb(&t, prefix, o);
    scan_close(&t);
    return rc;
}

/* Reads every page of /v1/aggregates under prefix from one snapshot,
 * reading again while the pipeline moves between pages, until deadline.
 * Returns 0 or an RP code (printed). */
static int s_query_http(const char *url, const char *token_file, const char *prefix,
                        int64_t timeout_s, out_t *o)
{
    char why[HTTP_CLIENT_WHY_MAX];
    int64_t deadline = clock_mono_ms() + timeout_s * 1000;
    http_client_t *c = http_client_new(url, token_file, timeout_s * 1000, why, sizeof why);
    if (!c) {
        fprintf(stderr, "riskctl query: %s\n", why);
        return RP_EINVAL;
    }
    api_rows_t rows = {0};
    uint64_t seq = 0;
    int rc, tries = 0;
    for (;;) {
        tries++;
        rc = api_aggregates(c, prefix, &rows, &seq, why, sizeof why);
        int64_t left = deadline - clock_mono_ms();
        if (rc != RP_EBUSY || left <= 0) break;
        api_rows_free(&rows);
        http_client_set_timeout(c, left);
        usleep(20000); /* the pipeline moved between pages: read them again */
    }
    if (rc == RP_EBUSY)
        fprintf(stderr,
                "riskctl query: no consistent snapshot of the aggregates in %d reads "
                "within %lld s (%s)\n",
                tries, (long long)timeout_s, why);
    else if (rc)
        fprintf(stderr, "riskctl query: %s\n", why);
    size_t plen = strlen(prefix);
    for (size_t i = 0; rc == 0 && i < rows.n; i++)
        if (s_under(rows.rows[i].path, rows.rows[i].len, prefix, plen))
            s_emit(o, rows.rows[i].path, rows.rows[i].len, rows.rows[i].sum, rows.rows[i].count);
    api_rows_free(&rows);
    http_client_destroy(&c);
    return rc;
}

int cmd_query(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"reducer-data", "./data/reducer", "the reducer's LMDB environment directory", NULL},
        {"json", NULL, "print a JSON array of {path, value, count}", NULL},
        {"url", "",
         "read the reducer's HTTP API at this URL (http://HOST:PORT) instead of "
         "--reducer-data",
         NULL},
        {"token-file", "", "with --url: file holding the bearer token the daemon requires", NULL},
        {"timeout", "60", "with --url: seconds to get one consistent snapshot of every page", NULL},
        {NULL, NULL, NULL, NULL}};
    int npos, code;
    if (!cli_parse(opts, argc, argv,
                   "usage: riskctl query [PREFIX] [options]\n\nShows the aggregate totals, all "
                   "or those under PREFIX (e.g. Delta::AMER), from the\nreducer's LMDB "
                   "environment or, with --url, from its HTTP API.",
                   &npos, &code))
        return code;
    int64_t timeout;
    if (config_int(opts, "timeout", 1, 86400, &timeout)) return CLI_USAGE;
    const char *prefix = npos ? argv[1] : "", *url = config_get(opts, "url");
    if (cli_http_urls("query", url, NULL) < 0) return CLI_USAGE;
    out_t o = {0};
    if (config_get(opts, "json") && !(o.arr = json_array()))
        return cli_fail("query", RP_ENOMEM, "cannot build the JSON output");
    int rc = *url ? s_query_http(url, config_get(opts, "token-file"), prefix, timeout, &o)
                  : s_query_lmdb(config_get(opts, "reducer-data"), prefix, &o);
    if (rc == 0 && o.arr) {
        char *out = json_dumps(o.arr, JSON_INDENT(2));
        printf("%s\n", out ? out : "[]");
        free(out);
    } else if (rc == 0 && o.rows == 0) {
        printf("(no aggregate rows%s%s)\n", *prefix ? " under " : "", prefix);
    }
    json_decref(o.arr);
    if (o.bad) fprintf(stderr, "riskctl query: %d unreadable row(s) skipped\n", o.bad);
    return rc || o.bad ? CLI_FAIL : CLI_OK;
}
