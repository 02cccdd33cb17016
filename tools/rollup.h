/* The aggregate table as the state table implies it: every prefix of every
 * trade's path with the exact sum of the trades' latest values and their
 * count. riskctl verify compares the reducer's table with it, and riskctl
 * rebuild writes it into a reducer environment. The trades come from the
 * state table (rollup_read) or from the state's HTTP API (api.c, through
 * rollup_add). It is computed here by a
 * sort-and-sum of its own, independent of the mapper and reducer code. */
#ifndef RP_ROLLUP_H
#define RP_ROLLUP_H

#include "scan.h"
#include "../common/money.h"

#include <stddef.h>
#include <stdint.h>

/* One aggregate row. */
typedef struct {
    char *path; /* owned, NUL-terminated; paths are NUL-free by validation */
    money_sum_t sum;
    int64_t count;
} rollup_row_t;

/* The rows, sorted by path as LMDB sorts aggregate keys. */
typedef struct {
    rollup_row_t *rows;
    size_t n, cap;
} rollup_t;

/* Reads the levels recorded in the meta table and every row of the state
 * table through t (a scan of the state environment's SDB_STATE table; its
 * read transaction is the snapshot), and fills *out (zeroed by the caller).
 * Returns 0, or an RP code after printing what failed: an unreadable row
 * makes it RP_EPROTO. Free *out with rollup_free in every case. */
int rollup_read(scan_t *t, rollup_t *out);

/* Adds one trade of value on path (len bytes, no NUL inside) to the row of
 * every prefix of path. Returns 0 or RP_ENOMEM (*r keeps what it had). Call
 * rollup_finish after the last one; rollup_read does both. */
int rollup_add(rollup_t *r, const char *path, size_t len, money_t value);

/* Sorts the added rows by path and merges each path's into one row. */
void rollup_finish(rollup_t *r);

/* Frees the rows; *r may be reused afterwards. */
void rollup_free(rollup_t *r);

#endif
