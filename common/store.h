/* A thin LMDB wrapper: one environment directory with named databases, error
 * mapping to RP_* codes with the LMDB text in the log, and helpers for the
 * big-endian integer keys used by the log and batch tables. */
#ifndef RP_STORE_H
#define RP_STORE_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_MAX_DBS 8

typedef struct store_t store_t;

/* Opens (creating dir and databases unless readonly) the environment at dir
 * with the NULL-terminated list of database names; mapsize is the LMDB map size
 * in bytes. Returns a new store or NULL (the reason is logged and, if err is
 * non-NULL, stored as an RP_* code). The caller owns the store. */
store_t *store_open(const char *dir, const char *const *dbnames, size_t mapsize, int readonly,
                    int *err);

/* Closes the environment; accepts NULL and sets *self_p to NULL. Any open
 * transaction must have been committed or aborted. */
void store_destroy(store_t **self_p);

/* Borrowed handles, valid until store_destroy. idx is the position in the
 * dbnames list given to store_open. */
MDB_env *store_env(store_t *self);
MDB_dbi store_dbi(store_t *self, int idx);

/* Begins a transaction into *txn. Returns 0 or RP_EDB/RP_EFULL. */
int store_begin(store_t *self, int readonly, MDB_txn **txn);

/* Commits *txn and sets it to NULL (on failure it is aborted). Durable on
 * return 0 (the environment is opened with full fsync). Returns RP_EFULL when
 * the map or disk is full, RP_EDB otherwise. */
int store_commit(MDB_txn **txn);

/* Aborts *txn if non-NULL and sets it to NULL. */
void store_abort(MDB_txn **txn);

/* Maps an LMDB return code to an RP_* code, logging `what` and mdb_strerror
 * for anything other than success and MDB_NOTFOUND (-> RP_ENOTFOUND). */
int store_rc(int mdb_rc, const char *what);

/* Text of the last LMDB error mapped by store_rc in this process (static
 * buffer, "" when none), for messages sent to clients. */
const char *store_last_error(void);

/* Reads/writes unsigned 64-bit integers as 8 big-endian bytes, so LMDB's
 * lexical key order equals numeric order. */
void store_u64_put(uint8_t out[8], uint64_t v);
uint64_t store_u64_get(const void *in);

/* Meta-table helpers: a u64 value stored under a string key. get returns
 * RP_ENOTFOUND when absent. */
int store_meta_get(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *out);
int store_meta_put(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t v);

/* Doubles the map size, capped at max_bytes; call with no transaction open in
 * this process. Returns 0 when it grew, RP_EFULL when already at the cap, or
 * RP_EDB. */
int store_grow(store_t *self, size_t max_bytes);

#endif
