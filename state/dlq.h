/* The dead-letter table: every rejected ingest message is kept whole with
 * the reason, the time and its source, in the same transaction as the
 * frame's accepted messages, so a bad producer can be diagnosed and its
 * messages replayed after a fix (riskctl dlq). Each source (an ingest
 * socket and a peer address) has a quota of entries and bytes; over it, that
 * source's own oldest entries are evicted, counted and logged, so one source
 * can never evict another's. */
#ifndef RP_DLQ_H
#define RP_DLQ_H

#include "../common/store.h"

#include <stddef.h>
#include <stdint.h>

typedef struct dlq_t dlq_t;

/* Loads the next entry id from the borrowed state store (SDB_DLQ,
 * SDB_DLQ_INDEX, SDB_DLQ_SOURCES and SDB_META of proto/tables.h); each
 * source keeps at most max_entries entries and max_bytes bytes of messages.
 * Returns a new dlq or NULL (*err set). */
dlq_t *dlq_new(store_t *store, uint64_t max_entries, uint64_t max_bytes, int *err);

/* Frees it; accepts NULL and sets *self_p to NULL. */
void dlq_destroy(dlq_t **self_p);

/* Records one rejected message inside the caller's write transaction: all of
 * raw (len bytes), its index in the frame, the reason and the source (e.g.
 * "ingest 127.0.0.1"), evicting that source's oldest entries while it is over
 * its quota. Returns 0 or an RP_* code. */
int dlq_add(dlq_t *self, MDB_txn *txn, const void *raw, size_t len, uint64_t index,
            const char *reason, const char *source);

/* Keeps or rolls back the provisional counters after commit or abort; a
 * commit logs the evictions it made. */
void dlq_committed(dlq_t *self);
void dlq_aborted(dlq_t *self);

/* Entries added, and evicted over a quota, since start (committed). */
uint64_t dlq_added(const dlq_t *self);
uint64_t dlq_evicted(const dlq_t *self);

#endif
