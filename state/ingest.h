/* Applying ingest frames to the state table: where a risk message is
 * checked against the stored version (latest version wins, duplicates and
 * stale versions have no effect, same-version conflicts keep the first) and
 * where each accepted version becomes a change-log record. */
#ifndef RP_INGEST_H
#define RP_INGEST_H

#include "changelog.h"
#include "dlq.h"
#include "prep.h"
#include "../common/hier.h"
#include "../common/store.h"
#include "../proto/reply.h"

#include <msgpack.h>
#include <stddef.h>

typedef struct ingest_t ingest_t;

/* Creates an ingester for the configured levels (copied); max_batch bounds
 * messages per frame. store, log and dlq are borrowed. NULL on allocation
 * failure. */
ingest_t *ingest_new(store_t *store, changelog_t *log, dlq_t *dlq, const hier_levels_t *levels,
                     uint32_t max_batch);

/* Records the levels and the state row format in the store's meta table on
 * first use, and otherwise checks them against the recorded ones: stored
 * rows, paths and aggregates depend on them, so they are fixed for the life
 * of a data directory. Returns 0, RP_EINVAL when they differ (logged with
 * both: rows of an earlier format are refused, never misread), or a store
 * error (logged). */
int ingest_check_store(store_t *store, const hier_levels_t *h);

/* Frees the ingester; accepts NULL and sets *self_p to NULL. */
void ingest_destroy(ingest_t **self_p);

/* Validates and applies every message of one frame inside the caller's write
 * transaction, filling *reply (initialised by the caller) with counts and
 * per-message rejections; every rejected message is dead-lettered with the
 * source (e.g. "ingest 10.0.0.7"). An undecodable frame is one rejection with
 * the reason. Returns 0, or an RP_* store error after which the transaction
 * must be aborted (the reply is then meaningless). */
int ingest_frame(ingest_t *self, MDB_txn *txn, const char *buf, size_t len, const char *source,
                 reply_t *reply);

/* ingest_frame for a frame already decoded (prep.h) from buf[0..len) with
 * ingest_rules: f and buf are borrowed. Same results and errors. */
int ingest_apply(ingest_t *self, MDB_txn *txn, const prep_frame_t *f, const char *buf, size_t len,
                 const char *source, reply_t *reply);

/* The rules a message must pass in this ingester (borrowed, valid as long as
 * it lives): what a prep_t decoding ahead of it is created with. */
const prep_rules_t *ingest_rules(const ingest_t *self);

#endif
