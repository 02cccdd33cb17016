/* Read access to one table of an LMDB environment for riskctl: the store, a
 * read transaction and a cursor opened and closed together, with every LMDB
 * error printed as "riskctl CMD: DIR, table T: <what failed>: <LMDB text>".
 * Which tables exist is in proto/tables.h. */
#ifndef RP_SCAN_H
#define RP_SCAN_H

#include "../common/store.h"

typedef struct {
    const char *cmd, *dir, *table; /* for messages; borrowed */
    store_t *store;                /* owned */
    MDB_txn *txn;                  /* the read transaction, or NULL after scan_end */
    MDB_cursor *cur;               /* a cursor on table, or NULL after scan_end */
    MDB_dbi dbi;                   /* the table's handle */
} scan_t;

/* Opens the environment at dir with the NULL-terminated database list dbs
 * (read-only, or read-write for a caller that deletes; it must exist either
 * way: riskctl never creates an environment), then begins a read
 * transaction with a cursor on dbs[idx]. cmd names the subcommand in
 * messages. Returns 0, or an RP_* code after printing what failed (nothing
 * is left open). */
int scan_open(scan_t *s, const char *cmd, const char *dir, const char *const *dbs, int idx,
              int readonly);

/* Begins a new read transaction and cursor after scan_end. Returns 0 or an
 * RP_* code after printing it. */
int scan_begin(scan_t *s);

/* Moves the cursor like mdb_cursor_get(op). Returns 1 with a row in *k and
 * *v (borrowed: valid until scan_end), 0 when there is no such row (past the
 * last one, or an absent key for MDB_SET_RANGE), or an RP_* code after
 * printing it. */
int scan_next(scan_t *s, MDB_val *k, MDB_val *v, MDB_cursor_op op);

/* Reads key k of the table into *v (borrowed like scan_next's rows).
 * Returns 1 when found, 0 when absent, or an RP_* code after printing it. */
int scan_get(scan_t *s, MDB_val *k, MDB_val *v);

/* Ends the read transaction and cursor (the store stays open). */
void scan_end(scan_t *s);

/* scan_end, then closes the store. Accepts a scan that failed to open. */
void scan_close(scan_t *s);

#endif
