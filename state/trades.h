/* The state's read API over HTTP, for a remote `riskctl verify` and for
 * looking one trade up: GET /v1/trades/{TradeID} (the latest version of one
 * trade) and GET /v1/trades?after=ID&limit=N (trades in TradeID byte order,
 * a page at a time), each from one LMDB read transaction, with the change
 * sequence number committed in it. The route runs on the loop's thread and
 * only reads LMDB. */
#ifndef RP_TRADES_H
#define RP_TRADES_H

#include "../common/hier.h"
#include "../common/store.h"
#include "../svc/http.h"
#include "../svc/metrics.h"

#include <stddef.h>
#include <stdint.h>

#define TRADES_LIMIT_DEFAULT 1000
#define TRADES_LIMIT_MAX 10000

/* The committed change sequence number in txn: meta TABLES_META_NEXT_SEQ
 * minus 1 (0 when absent). Returns 0 or an RP code. */
int trades_seq(store_t *store, MDB_txn *txn, uint64_t *seq);

/* Appends the JSON object of one state row (the TradeID id[0..id_len) and
 * its row bytes, decoded with the levels h) to out: {"trade_id", "version",
 * "value" (exact decimal text), "path", "hierarchy" {every key: value, the
 * levels first}, "timestamp" (number or null), "seq"}. Returns 0, or
 * RP_EPROTO when the row cannot be decoded. */
int trades_json(metrics_buf_t *out, const char *id, size_t id_len, const char *row, size_t row_len,
                const hier_levels_t *h, uint64_t seq);

/* Renders GET /v1/trades/{id} into out (one trade object). Returns 0,
 * RP_ENOTFOUND when there is no such trade, RP_EPROTO for an unreadable row
 * (logged) or a wrapped LMDB code. */
int trades_get(store_t *store, const hier_levels_t *h, const char *id, size_t id_len,
               metrics_buf_t *out);

/* Renders GET /v1/trades into out: {"seq", "trades": [at most limit trade
 * objects after the TradeID after[0..after_len) (exclusive; empty: from
 * the first)], "next": last TradeID when more follow, else null}. Returns
 * 0, RP_EPROTO (logged) or a wrapped LMDB code. */
int trades_list(store_t *store, const hier_levels_t *h, const char *after, size_t after_len,
                uint64_t limit, metrics_buf_t *out);

typedef struct trades_t trades_t;

/* The routes over the borrowed store; the levels are copied. NULL when out
 * of memory. */
trades_t *trades_new(store_t *store, const hier_levels_t *h);

/* Frees it; accepts NULL and sets *self_p to NULL. */
void trades_destroy(trades_t **self_p);

/* http_route_fn for the paths under /v1/ (arg: the trades_t). */
int trades_route(void *arg, http_req_t *req);

#endif
