/* The state process's durable change log: every accepted version gets a
 * sequence number and a change record (old and new value and path) in the
 * same transaction that updates its state row; changes are cut into batches
 * whose boundaries are stored too, so a re-sent batch is always identical.
 * Acknowledged batches are pruned from both tables. A log row holds a run of
 * consecutive records of one batch, keyed by the first one's number. */
#ifndef RP_CHANGELOG_H
#define RP_CHANGELOG_H

#include "../common/store.h"
#include "../proto/frame.h"
#include "../proto/tables.h"

#include <msgpack.h>
#include <stdint.h>

typedef struct changelog_t changelog_t;

/* Loads the sequence counters and the environment's instance id (made on
 * first use) from the meta table, and records or checks that it is shard
 * shard of shards (tables_meta_shards; a mismatch is logged and refused with
 * RP_EINVAL). batch_max is the largest number of changes in one batch.
 * Returns a new changelog or NULL (*err set). The store is borrowed and must
 * outlive the changelog. */
changelog_t *changelog_new(store_t *store, uint32_t batch_max, uint32_t shard, uint32_t shards,
                           int *err);

/* Frees the changelog; accepts NULL and sets *self_p to NULL. */
void changelog_destroy(changelog_t **self_p);

/* Appends one change under the next sequence number inside the caller's
 * write transaction. Records are gathered in memory and written a batch at a
 * time (as log rows of several records each); changelog_cut writes the rest,
 * so a transaction that appends must cut before it commits. Counters advance
 * provisionally until changelog_committed/changelog_aborted. Returns 0 or an
 * RP_* store code. */
int changelog_append(changelog_t *self, MDB_txn *txn, const change_t *c);

/* Writes the change records still in memory, cuts every change appended
 * since the last cut into batches of at most batch_max changes and stores
 * their boundaries. Returns 0 or an RP_* code. */
int changelog_cut(changelog_t *self, MDB_txn *txn);

/* Marks batch id applied: deletes its boundary row and its log records.
 * An id already pruned is not an error (*pruned = 0). Returns 0 or RP_*. */
int changelog_ack(changelog_t *self, MDB_txn *txn, uint64_t id, int *pruned);

/* Makes the provisional counters final after a successful commit, or
 * restores them after an aborted transaction. */
void changelog_committed(changelog_t *self);
void changelog_aborted(changelog_t *self);

/* Finds the first stored batch with id >= from. Returns 0 with its id and
 * row (sequence range and commit time), RP_ENOTFOUND when there is none,
 * RP_EPROTO for a corrupt row, or a wrapped LMDB code. */
int changelog_batch_next(changelog_t *self, MDB_txn *txn, uint64_t from, uint64_t *id,
                         batch_row_t *row);

/* Appends a complete WORK frame for batch id (its row from
 * changelog_batch_next) to sb by copying its log records; the frame's head
 * sequence is the last one committed. Returns 0, RP_ENOTFOUND if the batch
 * was pruned meanwhile, RP_EPROTO if some of its log records are missing
 * (logged), or a wrapped LMDB code. */
int changelog_work_frame(changelog_t *self, MDB_txn *txn, uint64_t id, const batch_row_t *row,
                         uint64_t watermark, msgpack_sbuffer *sb);

/* Progress as of the last commit: committed = last sequence number given out;
 * applied = every change up to it is acknowledged as applied; watermark =
 * lowest batch id not yet acknowledged; next_batch = next id to be cut. */
typedef struct {
    uint64_t committed, applied, watermark, next_batch, unacked_batches;
} changelog_progress_t;

/* The last sequence number given out as of the last commit (0: none). */
uint64_t changelog_last_seq(const changelog_t *self);

/* Which shard of the pipeline this change log is; *shards gets K. */
uint32_t changelog_shard(const changelog_t *self, uint32_t *shards);

/* The state instance id that names this change log's stream (borrowed). */
const frame_id_t *changelog_instance(const changelog_t *self);

/* Computes progress from the tables in txn (a read transaction is enough). */
int changelog_progress(changelog_t *self, MDB_txn *txn, changelog_progress_t *out);

#endif
