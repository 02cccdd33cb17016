/* Exactly-once application of mapper results to the aggregate table: a
 * batch's deltas and its id in the reduce table are written in one
 * transaction, and a batch whose id is already recorded (or lies below the
 * pruned watermark) is skipped. This is where a batch is de-duplicated. */
#ifndef RP_APPLY_H
#define RP_APPLY_H

#include "pathset.h"
#include "../common/store.h"
#include "../proto/frame.h"

#include <stdint.h>

typedef struct apply_t apply_t;

/* Loads the pruning floor, the environment's instance id (made on first use)
 * and the state instance it is bound to, if any, from the meta table. The
 * store is borrowed. Returns a new applier or NULL (*err set). */
apply_t *apply_new(store_t *store, int *err);

/* Frees it; accepts NULL and sets *self_p to NULL. */
void apply_destroy(apply_t **self_p);

/* Whether a decoded RESULT belongs to this reducer's stream. Returns 0 when
 * it does (or may bind it: a reducer that is not yet bound to a state binds
 * to the first one it applies); RP_EPROTO when it comes from another state
 * instance than the bound one (a mapper of another pipeline, or a state
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

/* Deletes reduce rows below watermark (every batch below it is applied and
 * will never be re-sent) and raises the floor. Returns 0 or RP_*. */
int apply_prune(apply_t *self, MDB_txn *txn, uint64_t watermark, uint64_t *pruned);

/* Has every transaction add the aggregate paths it writes to changed
 * (borrowed; NULL: none), marked at each commit and rolled back to the mark
 * when the transaction aborts, so that it holds the committed changes. */
void apply_watch(apply_t *self, pathset_t *changed);

/* Keeps or rolls back the provisional floor (and the changed paths) after
 * commit or abort. */
void apply_committed(apply_t *self);
void apply_aborted(apply_t *self);

/* This reducer's instance id, and the state instance it applies (zero until
 * bound; provisional inside a transaction). Borrowed. */
const frame_id_t *apply_instance(const apply_t *self);
const frame_id_t *apply_peer(const apply_t *self);

/* The last change sequence number applied as of the last commit: the
 * aggregate table is the rollup of the state's change log up to it (it is
 * also in the meta table, TABLES_META_APPLIED_SEQ). */
uint64_t apply_seq(const apply_t *self);

/* Current floor: every batch id below it is known applied. */
uint64_t apply_floor(const apply_t *self);

/* Lowest batch id not yet applied (provisional inside a transaction): the
 * reducer applies batches in id order, so it is the only id it may apply
 * next. */
uint64_t apply_next(const apply_t *self);

#endif
