/* Exactly-once application of mapper results to the aggregate table: a
 * batch's deltas and its id in the reduce table are written in one
 * transaction, and a batch whose id is already recorded (or lies below the
 * pruned watermark) is skipped. This is where a batch is de-duplicated. */
#ifndef RP_APPLY_H
#define RP_APPLY_H

#include "../common/store.h"
#include "../proto/frame.h"

#include <stdint.h>

typedef struct apply_t apply_t;

/* Loads the pruning floor from the meta table. The store is borrowed.
 * Returns a new applier or NULL (*err set). */
apply_t *apply_new(store_t *store, int *err);

/* Frees it; accepts NULL and sets *self_p to NULL. */
void apply_destroy(apply_t **self_p);

/* Applies one decoded RESULT inside the caller's write transaction, or sets
 * *duplicate = 1 and changes nothing if the batch was already applied.
 * Returns 0 or an RP_* store error (abort the transaction). */
int apply_result(apply_t *self, MDB_txn *txn, const result_t *r, int *duplicate);

/* Deletes reduce rows below watermark (every batch below it is applied and
 * will never be re-sent) and raises the floor. Returns 0 or RP_*. */
int apply_prune(apply_t *self, MDB_txn *txn, uint64_t watermark, uint64_t *pruned);

/* Keeps or rolls back the provisional floor after commit or abort. */
void apply_committed(apply_t *self);
void apply_aborted(apply_t *self);

/* Current floor: every batch id below it is known applied. */
uint64_t apply_floor(const apply_t *self);

/* Lowest batch id not yet applied (provisional inside a transaction): the
 * reducer applies batches in id order, so it is the only id it may apply
 * next. */
uint64_t apply_next(const apply_t *self);

#endif
