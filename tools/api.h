/* The daemons' HTTP API as riskctl reads it: every page of the reducer's
 * GET /v1/aggregates and of the state's GET /v1/trades, and GET /v1/status
 * of either, each answer checked before use (types, exact decimal values,
 * paths in key order, pages that advance). A page is one snapshot, so a
 * whole table read over several pages is consistent only when every page
 * reflects the same change sequence number: these functions check that and
 * say so, and their callers retry. Counter names are those of proto/ctl.h. */
#ifndef RP_API_H
#define RP_API_H

#include "http_client.h"
#include "rollup.h"
#include "../common/money.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define API_AGG_LIMIT "100000"   /* rows asked per /v1/aggregates page: the API's maximum */
#define API_TRADES_LIMIT "10000" /* trades asked per /v1/trades page: the API's maximum */

/* One aggregate row. */
typedef struct {
    char *path; /* owned; len bytes and a NUL (a damaged table's path may hold a NUL) */
    size_t len;
    money_sum_t sum;
    int64_t count;
} api_row_t;

/* Rows in key order (as LMDB sorts aggregate keys). */
typedef struct {
    api_row_t *rows;
    size_t n, cap;
} api_rows_t;

/* Frees the rows; *r may be reused afterwards. */
void api_rows_free(api_rows_t *r);

/* Orders two paths as LMDB orders keys: bytes first, then the shorter one
 * first. Returns <0, 0 or >0. */
int api_path_cmp(const char *a, size_t alen, const char *b, size_t blen);

/* Parses one aggregate row object (borrowed): a non-empty string "path", a
 * string "value" that is an exact decimal (at most 6 fractional digits) and
 * an integer "count" >= 0; other members are ignored. Fills *out (its path
 * is a copy the caller owns: free it). Returns 0, RP_EPROTO with why, or
 * RP_ENOMEM. */
int api_row_parse(const json_t *row, api_row_t *out, char *why, size_t whylen);

/* Appends the rows of one /v1/aggregates page (a decoded JSON object,
 * borrowed) to *out and reads its seq into *seq and its "next" into *next
 * (borrowed from page; NULL when it is null). Every row must be one that
 * api_row_parse takes, its path after the last row already in *out in key
 * order. Returns 0; RP_EPROTO with why for
 * a page that breaks the contract (nothing is appended then); RP_ENOMEM. */
int api_aggregates_page(const json_t *page, api_rows_t *out, uint64_t *seq, const json_t **next,
                        char *why, size_t whylen);

/* Adds the trades of one /v1/trades page (borrowed) to *out with
 * rollup_add, counting them in *ntrades, and reads seq and next as
 * api_aggregates_page does. Every trade needs a string "trade_id" after
 * the previous one in key order (after: the last one of the previous page,
 * alen bytes; NULL for the first page), a string "value" that is an exact
 * decimal within +-1e12 and a non-empty string "path". Returns 0; RP_EPROTO
 * with why (the page's trades may be partly added: start over); RP_ENOMEM. */
int api_trades_page(const json_t *page, rollup_t *out, const char *after, size_t alen,
                    size_t *ntrades, uint64_t *seq, const json_t **next, char *why, size_t whylen);

/* Reads every page of the reducer's /v1/aggregates under prefix ("" for
 * all) through c into *out (zeroed by the caller; free with api_rows_free
 * in every case), and their common sequence number into *seq. Returns 0;
 * RP_EBUSY with why when the pages reflect different sequence numbers (the
 * pipeline moved: try again); the errors of http_client_get_json and of
 * api_aggregates_page. */
int api_aggregates(http_client_t *c, const char *prefix, api_rows_t *out, uint64_t *seq, char *why,
                   size_t whylen);

/* Reads every page of the state's /v1/trades through c into *out (zeroed
 * by the caller; rollup_add only: the caller calls rollup_finish; free with
 * rollup_free in every case), the number of trades into *ntrades and the
 * pages' common sequence number into *seq. Returns like api_aggregates. */
int api_trades(http_client_t *c, rollup_t *out, size_t *ntrades, uint64_t *seq, char *why,
               size_t whylen);

/* GETs /v1/status through c and checks that it answers as role
 * (CTL_ROLE_STATE or CTL_ROLE_REDUCER). Returns 0 with *out (caller owns:
 * json_decref); the errors of http_client_get_json; RP_EPROTO when another
 * role (or none) answered, why naming it. */
int api_status(http_client_t *c, const char *role, json_t **out, char *why, size_t whylen);

/* Reads the integer name of a status answer: a top-level member (e.g.
 * "applied_seq"), else one of its "counters". Returns 0, or RP_ENOTFOUND
 * when it has no such integer. */
int api_status_int(const json_t *status, const char *name, long long *out);

#endif
