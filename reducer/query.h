/* The reducer's read API over HTTP: GET /v1/aggregates (a page of aggregate
 * rows under a path prefix, from one LMDB read transaction) and GET
 * /v1/stream (the event stream of feed.c), both behind the token, and the
 * dashboard's static files (web.h) at every other path, without it. The
 * routes run on the loop's thread and only read LMDB. The pure pieces
 * (prefix matching, parameter parsing, the rows' JSON) are here too, for
 * feed.c and the unit tests. */
#ifndef RP_QUERY_H
#define RP_QUERY_H

#include "feed.h"
#include "../common/hier.h"
#include "../common/money.h"
#include "../common/store.h"
#include "../svc/http.h"
#include "../svc/metrics.h"

#include <stddef.h>
#include <stdint.h>

#define QUERY_LIMIT_DEFAULT 1000
#define QUERY_LIMIT_MAX 100000

/* The checked parameters of GET /v1/aggregates (and /v1/stream's prefix). */
typedef struct {
    char prefix[HIER_PATH_MAX + 1]; /* "" for every row */
    size_t prefix_len;
    int level;                     /* rows with this many levels only; 0: any */
    uint64_t limit;                /* most rows returned */
    char after[HIER_PATH_MAX + 1]; /* exclusive cursor; "" for none */
    size_t after_len;
} query_params_t;

/* The raw text of those parameters, NUL-terminated, NULL when absent. */
typedef struct {
    const char *prefix, *level, *limit, *after;
} query_args_t;

/* Parses and checks args into *out: prefix and after are paths by the rules
 * of hier_check_path (or empty: none), level an integer 1..HIER_MAX_LEVELS,
 * limit 1..QUERY_LIMIT_MAX (QUERY_LIMIT_DEFAULT when absent). Returns 0, or
 * RP_EINVAL with a reason in why[whylen] that names the parameter. */
int query_params_parse(const query_args_t *args, query_params_t *out, char *why, size_t whylen);

/* 1 when path is prefix itself or lies under it, whole levels compared:
 * "Delta::AMER" holds "Delta::AMER::FX" but not "Delta::AMERICAS". An
 * empty prefix holds every path. */
int query_under(const char *path, size_t len, const char *prefix, size_t prefix_len);

/* Number of levels of a path ("Delta::AMER" has 2). */
int query_levels(const char *path, size_t len);

/* Appends one row's JSON object {"path", "level", "value" (the exact
 * decimal text), "count", "seq"} to out. */
void query_row_json(metrics_buf_t *out, const char *path, size_t len, money_sum_t value,
                    int64_t count, uint64_t seq);

/* The reducer's applied sequence number in txn (meta
 * TABLES_META_APPLIED_SEQ; 0 when absent): with state shards, the sum of
 * every shard's (each shard's is at most its state's committed sequence, so
 * the sums are equal exactly when every shard is caught up). Returns 0 or an
 * RP code. */
int query_seq(store_t *store, MDB_txn *txn, uint64_t *seq);

/* Appends to out, comma-separated, the JSON objects (query_row_json) of the
 * rows of p (prefix, level, after, at most limit) in txn, in key order.
 * Sets *rows to their number, and *more to 1 when further rows match (then
 * the last path is in last[HIER_PATH_MAX + 1], *last_len bytes). Returns
 * 0, RP_EPROTO for an unreadable row (logged) or a wrapped LMDB code. */
int query_rows(store_t *store, MDB_txn *txn, const query_params_t *p, uint64_t seq,
               metrics_buf_t *out, uint64_t *rows, int *more, char *last, size_t *last_len);

/* Renders the whole GET /v1/aggregates answer for p, from one read
 * transaction: {"seq", "rows": [...], "next": last path or null}. Returns 0
 * or an RP code (out is then unusable). */
int query_aggregates(store_t *store, const query_params_t *p, metrics_buf_t *out);

typedef struct query_t query_t;

/* The routes over the borrowed store and feed. NULL when out of memory. */
query_t *query_new(store_t *store, feed_t *feed);

/* Frees it; accepts NULL and sets *self_p to NULL. */
void query_destroy(query_t **self_p);

/* http_route_fn for the paths under /v1/ (arg: the query_t). */
int query_route(void *arg, http_req_t *req);

/* http_route_fn for every other path: the dashboard's files (arg: the
 * query_t). */
int query_assets(void *arg, http_req_t *req);

#endif
