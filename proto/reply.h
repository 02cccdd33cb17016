/* The acknowledged-ingest reply, part of the public wire contract:
 *   {"accepted": n, "duplicates": n, "conflicts": n, "rejected": n,
 *    "errors": [{"index": i, "reason": "..."}...], "seq": s}
 * A message sent to the wrong state shard (proto/shard.h) is rejected with an
 * entry {"index": i, "reason": "wrong shard: ...", "shard": right shard}.
 * duplicates counts stale and repeated versions and includes conflicts (same
 * version, other payload), so accepted + duplicates + rejected = messages in
 * the frame. When nothing in the frame was committed and the producer should
 * send it again (the state is busy, or its storage failed), the reply has
 * every count 0, no errors, and "retry": true with "error": "<why>".
 * seq (absent with retry, and from states before it was added) is the last
 * change sequence number committed with the frame: once the reducer's
 * applied sequence reaches it (its /v1/status "applied_seq"), every message
 * of the frame is visible in the aggregates. */
#ifndef RP_REPLY_H
#define RP_REPLY_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#define REPLY_MAX_ERRORS 100 /* error entries listed per reply; counts stay exact */

/* Unanswered frames a producer may have in flight on one connection: the
 * state queues that many replies to each producer before a reply is lost
 * (the producer then times out and re-sends), so producers keep their
 * window of frames at or below it. */
#define REPLY_QUEUE_MAX 16384

/* A reply being built by the state process. */
typedef struct {
    uint64_t accepted, duplicates, conflicts, rejected;
    uint64_t seq;             /* committed at this change sequence number; 0: not sent */
    int retry;                /* 1: nothing committed, send the frame again */
    char error[160];          /* set with retry */
    uint32_t nerrors;         /* entries in errors (<= REPLY_MAX_ERRORS) */
    msgpack_sbuffer errors;   /* packed {"index","reason"} maps, owned */
} reply_t;

/* A decoded reply, as a producer reads it (owns nothing). */
typedef struct {
    uint64_t accepted, duplicates, conflicts, rejected;
    uint64_t seq; /* 0 when the reply carries none */
    int retry;
    char error[160];
    uint32_t nerrors;         /* error entries the reply listed */
    char first_reason[200];   /* "message I: reason" of the first entry, or "" */
    int64_t first_index;      /* I of the first entry, or -1 (a producer maps it to its input) */
    char first_error[160];    /* the first entry's reason alone, or "" */
    int64_t first_shard;      /* the shard the first entry's message belongs to, or -1 */
} reply_view_t;

/* Initialises an empty reply (owns an empty buffer). */
void reply_init(reply_t *r);

/* Frees the reply's buffer; the struct may be re-initialised afterwards. */
void reply_destroy(reply_t *r);

/* Counts one rejected message and, while there is room, records its index and
 * reason (copied). */
void reply_reject(reply_t *r, uint64_t index, const char *reason);

/* Like reply_reject, for a message of another shard: the entry names the
 * shard it belongs to. */
void reply_reject_shard(reply_t *r, uint64_t index, const char *reason, uint32_t shard);

/* Turns the reply into "nothing committed, retry: <error>": every count 0. */
void reply_retry(reply_t *r, const char *error);

/* Encodes the reply into sb (appending). */
void reply_encode(const reply_t *r, msgpack_sbuffer *sb);

/* Decodes a reply into *out. Returns 0 or RP_EPROTO. */
int reply_decode(const char *buf, size_t len, reply_view_t *out);

#endif
