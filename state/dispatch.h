/* Sending batches to the mappers and re-sending those not acknowledged in
 * time: a bounded window of in-flight batches, read back from the change log
 * so that a re-sent batch is byte-for-byte the original. */
#ifndef RP_DISPATCH_H
#define RP_DISPATCH_H

#include "changelog.h"

#include <stdint.h>

typedef struct dispatch_t dispatch_t;

typedef struct {
    uint64_t dispatched, redelivered, acked, stale_acks;
} dispatch_stats_t;

/* Creates a dispatcher with at most window batches in flight, re-sending a
 * batch after redeliver_ms without acknowledgement. work is the borrowed
 * libzmq PUSH socket. NULL on allocation failure. */
dispatch_t *dispatch_new(changelog_t *log, store_t *store, void *work, uint32_t window,
                         int64_t redeliver_ms);

/* Frees the dispatcher; accepts NULL and sets *self_p to NULL. */
void dispatch_destroy(dispatch_t **self_p);

/* Sends what the window allows: timed-out batches first, then new ones in id
 * order, never blocking (a full or mapper-less socket just waits for the next
 * call). watermark is stamped on every frame. Returns 0 or an RP_* code. */
int dispatch_run(dispatch_t *self, uint64_t watermark, int64_t now_ms);

/* Forgets an acknowledged batch, freeing its place in the window (the
 * reducer holds it; should its prune not commit, the batch is re-sent after a
 * restart and the reducer skips it). */
void dispatch_acked(dispatch_t *self, uint64_t id);

/* Milliseconds until the next redelivery is due (capped at cap_ms). */
int64_t dispatch_next_due(const dispatch_t *self, int64_t now_ms, int64_t cap_ms);

/* Returns 1 when batches below next_batch were never sent and the window
 * has room: the caller then waits for the work socket to become writable. */
int dispatch_has_unsent(const dispatch_t *self, uint64_t next_batch);

/* In-flight count and counters. */
uint32_t dispatch_inflight(const dispatch_t *self);
const dispatch_stats_t *dispatch_stats(const dispatch_t *self);

#endif
