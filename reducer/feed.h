/* GET /v1/stream: Server-Sent Events of the aggregate rows under a prefix.
 * A subscriber first gets "event: snapshot" with every matching row, then
 * after commits "event: update" with the rows that changed (their values
 * now) and the paths that no longer exist, coalesced to one event per
 * FEED_INTERVAL_MS at most, each read in one LMDB read transaction and
 * numbered (id:) by the applied sequence number. The paths come from the
 * set the applier fills (apply_watch): feed_tick drains it after every
 * cycle into each subscriber's own set. When a set overflows, the
 * subscriber gets a new snapshot instead, which replaces all it holds. */
#ifndef RP_FEED_H
#define RP_FEED_H

#include "pathset.h"
#include "../common/store.h"
#include "../svc/http.h"

#include <stddef.h>
#include <stdint.h>

#define FEED_INTERVAL_MS 100   /* at most 10 events per second per subscriber */
#define FEED_DIRTY_MAX 262144  /* paths changed between two drains */
#define FEED_PENDING_MAX 65536 /* paths a subscriber waits on before a snapshot */

typedef struct feed_t feed_t;

/* A feed over the borrowed store and set of changed paths (which it
 * drains). NULL when out of memory. */
feed_t *feed_new(store_t *store, pathset_t *changed);

/* Frees it and its subscribers' state; call after http_destroy (which
 * closes their connections). Accepts NULL and sets *self_p to NULL. */
void feed_destroy(feed_t **self_p);

/* Answers req (GET /v1/stream, prefix already checked: prefix_len bytes,
 * "" for all rows) with the snapshot and keeps it as a subscriber; 503 when
 * HTTP_STREAMS_MAX streams are open, 500 when the table cannot be read.
 * Returns 0 or RP_ENOMEM (answered, or the connection is closed). */
int feed_open(feed_t *self, http_req_t *req, const char *prefix, size_t prefix_len);

/* Drains the changed paths into the subscribers and sends every event that
 * is due at now_ms (clock_mono_ms). Call after each cycle of the loop. */
void feed_tick(feed_t *self, int64_t now_ms);

/* ms, or less when an event is waiting for its FEED_INTERVAL_MS. */
long feed_timeout(const feed_t *self, long ms, int64_t now_ms);

/* Subscribers now. */
int feed_subscribers(const feed_t *self);

#endif
