/* The dead-letter table: every rejected ingest message is kept with its raw
 * bytes (up to a bound), the reason, the time and the source, in the same
 * transaction as the frame's accepted messages, so a bad producer can be
 * diagnosed and its messages replayed after a fix (riskctl dlq). */
#ifndef RP_DLQ_H
#define RP_DLQ_H

#include "../common/store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct dlq_t dlq_t;

/* Loads the next entry id from the borrowed state store (SDB_DLQ and SDB_META
 * of proto/tables.h); keeps at most max_entries (the oldest are dropped
 * first). Returns a new dlq or NULL (*err set). */
dlq_t *dlq_new(store_t *store, uint64_t max_entries, int *err);

/* Frees it; accepts NULL and sets *self_p to NULL. */
void dlq_destroy(dlq_t **self_p);

/* Records one rejected message inside the caller's write transaction: raw
 * (len bytes, kept up to TABLES_DLQ_RAW_MAX), its index in the frame, the reason
 * and the source (e.g. "ingest 127.0.0.1"). Returns 0 or an RP_* code. */
int dlq_add(dlq_t *self, MDB_txn *txn, const void *raw, size_t len, uint64_t index,
            const char *reason, const char *source);

/* Keeps or rolls back the provisional counters after commit or abort. */
void dlq_committed(dlq_t *self);
void dlq_aborted(dlq_t *self);

/* Entries added since start (committed). */
uint64_t dlq_added(const dlq_t *self);

#endif
