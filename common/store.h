/* A thin LMDB wrapper: one environment directory with named databases, error
 * mapping to RP_* codes that keep the LMDB code (rperr.h), and helpers for
 * the big-endian integer keys and the meta values every table uses. Which
 * databases exist and what their rows hold is in proto/tables.h. */
#ifndef RP_STORE_H
#define RP_STORE_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#define STORE_MAX_DBS 8

typedef struct store_t store_t;

/* store_open flags. */
enum {
    STORE_RDONLY = 1,   /* read-only: create nothing, begin only read transactions */
    STORE_WRITEMAP = 2, /* MDB_WRITEMAP: a write transaction changes pages in the map
                           itself rather than in malloc'd copies written back by
                           pwrite. Saves a copy per dirty page and keeps a large
                           commit's dirty pages out of the heap; the data file is
                           then as large as the map (sparse: du shows what is used). */
};

/* Opens (creating dir and databases unless STORE_RDONLY) the environment at
 * dir with the NULL-terminated list of database names; mapsize is the LMDB map
 * size in bytes, flags a mask of STORE_* (0: read-write, pwrite). Returns a new
 * store or NULL (the reason is logged and, if err is non-NULL, stored as an
 * RP_* code). The caller owns the store. */
store_t *store_open(const char *dir, const char *const *dbnames, size_t mapsize, int flags,
                    int *err);

/* Closes the environment; accepts NULL and sets *self_p to NULL. Any open
 * transaction must have been committed or aborted. */
void store_destroy(store_t **self_p);

/* Borrowed handle, valid until store_destroy. idx is the position in the
 * dbnames list given to store_open (the SDB_* and RDB_* enums of tables.h). */
MDB_dbi store_dbi(store_t *self, int idx);

/* Current map size in bytes, or 0 when LMDB cannot tell. */
size_t store_map_size(store_t *self);

/* The map size and the bytes in use, (last page number + 1) x page size,
 * from mdb_env_info and mdb_env_stat. Returns 0 or a wrapped LMDB code. */
int store_usage(store_t *self, uint64_t *map_bytes, uint64_t *used_bytes);

/* Begins a transaction into *txn. Returns 0 or a wrapped LMDB code. */
int store_begin(store_t *self, int readonly, MDB_txn **txn);

/* Commits *txn and sets it to NULL (on failure it is aborted). Durable on
 * return 0: the data pages and then the meta page are flushed. Otherwise
 * returns a wrapped LMDB code whose rp_class is RP_EFULL when the map or
 * disk is full; when the last flush failed, the transaction is committed
 * but may not survive a crash of the machine (a caller retries it, and a
 * retry of what was applied is a duplicate). */
int store_commit(MDB_txn **txn);

/* Aborts *txn if non-NULL and sets it to NULL. */
void store_abort(MDB_txn **txn);

/* Maps an LMDB return code to an RP code without logging: 0 for success,
 * RP_ENOTFOUND for MDB_NOTFOUND, otherwise rp_wrap_lmdb(mdb_rc). The caller
 * decides whether and at which level the condition is worth a log line. */
int store_rc(int mdb_rc);

/* Reads/writes unsigned 64-bit integers as 8 big-endian bytes, so LMDB's
 * lexical key order equals numeric order. */
void store_u64_put(uint8_t out[8], uint64_t v);
uint64_t store_u64_get(const void *in);

/* Meta-table helpers: a u64 value (8 big-endian bytes) stored under a string
 * key. get returns RP_ENOTFOUND when absent and RP_EPROTO when the value is
 * not 8 bytes long; both return wrapped LMDB codes on database errors. */
int store_meta_get(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *out);
int store_meta_put(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t v);

/* One u64 meta value to load: its key, where to put it, and the value to use
 * when the key is absent (a new environment). */
typedef struct {
    const char *key;
    uint64_t *out;
    uint64_t absent;
} store_meta_u64_t;

/* Loads n meta values in one read transaction. Returns 0, or the first
 * error of store_meta_get other than RP_ENOTFOUND. */
int store_meta_load(store_t *self, MDB_dbi dbi, const store_meta_u64_t *vals, int n);

#define STORE_ID_SIZE 16

/* The environment's random instance id, stored under key in the meta table
 * dbi: read, or made (getrandom) and stored on first use, so an environment
 * keeps its id for life and a new one (e.g. after its data was wiped) gets
 * another. Returns 0, RP_EIO (no randomness), RP_EPROTO (a stored value of
 * the wrong size) or a wrapped LMDB code. */
int store_meta_instance(store_t *self, MDB_dbi dbi, const char *key,
                        uint8_t out[STORE_ID_SIZE]);

/* Raw values in the meta table: get copies exactly len bytes into out
 * (RP_ENOTFOUND when absent, RP_EPROTO when of another size); put stores
 * them inside the caller's write transaction. */
int store_meta_get_raw(MDB_txn *txn, MDB_dbi dbi, const char *key, void *out, size_t len);
int store_meta_put_raw(MDB_txn *txn, MDB_dbi dbi, const char *key, const void *val, size_t len);

/* Text values in the meta table. get copies the value into buf[cap] with a
 * terminating NUL and returns 0, RP_ENOTFOUND when absent, RP_ERANGE when it
 * does not fit, or a wrapped LMDB code. */
int store_meta_get_str(MDB_txn *txn, MDB_dbi dbi, const char *key, char *buf, size_t cap);
int store_meta_put_str(MDB_txn *txn, MDB_dbi dbi, const char *key, const char *value);

/* Runs commit(arg) and, while it fails with a full map, grows the map
 * (store_grow up to max_bytes) and runs it again. commit must begin and end
 * its own transaction and leave nothing changed when it fails. Returns 0,
 * commit's last error (a full-map code when the map reached max_bytes), or
 * store_grow's error. */
int store_commit_or_grow(store_t *self, size_t max_bytes, int (*commit)(void *arg), void *arg);

/* Doubles the map size, capped at max_bytes; call with no transaction open in
 * this process. Returns 0 when it grew, RP_EFULL when already at the cap, or
 * a wrapped LMDB code. */
int store_grow(store_t *self, size_t max_bytes);

#endif
