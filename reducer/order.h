/* The reducer's in-order group commit: RESULT frames waiting on the results
 * socket are sorted by shard and batch id and applied in one transaction,
 * each shard's strictly in id order. A frame that arrives ahead of a missing batch is held (up to a
 * bound) until the state process re-sends the missing one, so the aggregate
 * table always equals the rollup of a prefix of the change log: a reader
 * never sees a re-valuation half applied. Every applied or already applied
 * batch is acknowledged to the state process after the commit. */
#ifndef RP_ORDER_H
#define RP_ORDER_H

#include "apply.h"
#include "../common/store.h"
#include "../proto/ctl.h"
#include "../proto/shard.h"
#include "../svc/metrics.h"

#include <stddef.h>

#define ORDER_HOLD_MAX 1024 /* frames held ahead of a gap; beyond, re-sends cover them */
#define ORDER_HOLD_BYTES ((size_t)256 << 20) /* and their bytes, at most */
#define ORDER_MAPPERS_SEEN 32 /* mappers with counters of their own */
#define ORDER_SHARD_STATS 64  /* shards with counters of their own */

typedef struct {
    long long frames, applied, duplicates, bad_frames, deltas, changes, commits,
        commit_failures, pruned, acks_sent, deferred, foreign, refused;
    metrics_hist_t duration; /* of every commit attempt, failed ones included */
    metrics_hist_t latency;  /* state commit to aggregate commit, per batch applied */
    uint64_t head_seq[SHARD_MAX]; /* each state shard's last committed sequence, as last heard */
} order_stats_t;

typedef struct order_t order_t;

/* Creates the engine over the borrowed store and applier: at most group_max
 * new frames per commit, the LMDB map grown up to map_max bytes when full.
 * Returns NULL on allocation failure. */
order_t *order_new(store_t *store, apply_t *apply, int group_max, size_t map_max);

/* Frees it and any held frame; accepts NULL and sets *self_p to NULL. */
void order_destroy(order_t **self_p);

/* One group commit: receives waiting frames from the libzmq PULL socket
 * results without blocking, applies what can be applied in id order, holds
 * what is ahead of a gap, and sends each shard's ACKs on its PUSH socket
 * acks[shard] (one per shard, apply_shards of them). Undecodable
 * frames are counted, logged at warn and dropped. Returns 0, or the commit's
 * error (logged; nothing was acknowledged, so the batches come again). */
int order_cycle(order_t *self, void *results, void *const *acks);

/* Frames held ahead of a gap now. */
int order_held(const order_t *self);

/* Counters since start. */
const order_stats_t *order_stats(const order_t *self);

/* Fills out[0..cap) with the reducer's counters (proto/ctl.h; with shards,
 * applied_seq, state_seq and lag are sums over the shards), then, with
 * shards, three per shard ("shard S applied_seq", "shard S next_batch",
 * "shard S lag"), then two per mapper heard from ("mapper ID batches", "mapper ID idle_ms"); arg is the
 * order_t. Returns the number written. */
int order_stats_fill(void *arg, ctl_stat_t *out, int cap);

#endif
