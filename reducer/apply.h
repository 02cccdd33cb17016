/* Exactly-once application of mapper results to the aggregate table: a
 * batch's deltas and its shard and id in the reduce table are written in one
 * transaction, and a batch whose shard and id are already recorded (or lie
 * below that shard's pruned watermark) is skipped. This is where a batch is
 * de-duplicated. Each state shard is its own stream: batch ids, floor,
 * applied sequence and bound state instance are per shard (meta keys by
 * tables_shard_key). */
#ifndef RP_APPLY_H
#define RP_APPLY_H

#include "pathset.h"
#include "../common/store.h"
#include "../proto/frame.h"

#include <stdint.h>

typedef struct apply_t apply_t;

#define APPLY_KEY_SIZE 12     /* reduce table key: shard, batch id */

/* The reduce table's key of a batch: 4-byte big-endian shard, 8-byte
 * big-endian batch id (each shard's rows contiguous, in id order). */
void apply_reduce_key(uint8_t key[APPLY_KEY_SIZE], uint32_t shard, uint64_t batch);


/* Loads each shard's pruning floor, applied sequence and bound state
 * instance, and the environment's instance id (made on first use), from the
 * meta table, and records or checks the pipeline's shard count (a mismatch is
 * logged and refused with RP_EINVAL). Reduce rows of riskpipe before shards
 * (keyed by batch id alone) become shard 0's. The store is borrowed. Returns
 * a new applier or NULL (*err set). */
apply_t *apply_new(store_t *store, uint32_t shards, int *err);

/* Frees it; accepts NULL and sets *self_p to NULL. */
void apply_destroy(apply_t **self_p);

/* Whether a decoded RESULT belongs to this reducer's stream of its shard.
 * Returns 0 when it does (or may bind it: a shard not yet bound to a state
 * binds to the first one it applies); RP_EPROTO when it names another shard
 * count than this reducer's, or comes from another state instance than the
 * shard's bound one (a mapper of another pipeline, or a state
 * whose data was replaced); RP_EINVAL when this reducer has applied nothing
 * yet but the state's stream already starts past batch 1, so another reducer
 * applied the batches before it (this reducer's data was lost or is new):
 * applying the rest would give wrong totals. why gets the reason, with the
 * recovery for RP_EINVAL. */
int apply_check(const apply_t *self, const result_t *r, char *why, size_t whylen);

/* Applies one decoded RESULT that passed apply_check inside the caller's
 * write transaction, or sets
 * *duplicate = 1 and changes nothing if the batch was already applied.
 * Returns 0 or an RP_* store error (abort the transaction). */
int apply_result(apply_t *self, MDB_txn *txn, const result_t *r, int *duplicate);

/* Deletes shard's reduce rows below watermark (every batch of the shard below
 * it is applied and will never be re-sent) and raises its floor. Returns 0
 * or RP_*. */
int apply_prune(apply_t *self, MDB_txn *txn, uint32_t shard, uint64_t watermark,
                uint64_t *pruned);

/* Has every transaction add the aggregate paths it writes to changed
 * (borrowed; NULL: none), marked at each commit and rolled back to the mark
 * when the transaction aborts, so that it holds the committed changes. */
void apply_watch(apply_t *self, pathset_t *changed);

/* Keeps or rolls back the provisional floor (and the changed paths) after
 * commit or abort. */
void apply_committed(apply_t *self);
void apply_aborted(apply_t *self);

/* This reducer's instance id, and the state instance of shard it applies
 * (zero until bound; provisional inside a transaction). Borrowed. */
const frame_id_t *apply_instance(const apply_t *self);
const frame_id_t *apply_peer(const apply_t *self, uint32_t shard);

/* The pipeline's shard count. */
uint32_t apply_shards(const apply_t *self);

/* The last change sequence number of shard applied as of the last commit:
 * the aggregate table is the rollup of each shard's change log up to its
 * applied sequence (also in the meta table, TABLES_META_APPLIED_SEQ).
 * apply_seq_total is their sum. */
uint64_t apply_seq(const apply_t *self, uint32_t shard);
uint64_t apply_seq_total(const apply_t *self);

/* Shard's current floor: every batch id of it below it is known applied. */
uint64_t apply_floor(const apply_t *self, uint32_t shard);

/* Shard's lowest batch id not yet applied (provisional inside a
 * transaction): the reducer applies each shard's batches in id order, so it
 * is the only id of that shard it may apply next. */
uint64_t apply_next(const apply_t *self, uint32_t shard);

#endif
