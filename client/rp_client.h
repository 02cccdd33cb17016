/* rp_client: a small C library for producers that send risk messages to a
 * riskpipe pipeline and need each one durable, with no message lost or
 * doubled when a state process restarts: link it (libriskpipe-client.a,
 * with libzmq and msgpack-c) instead of piping JSON into `riskctl send`,
 * which is built on it. client/example.c is a whole producer.
 *
 * A pipeline has K state shards (K = 1 unless it was created with more); give
 * every shard's acknowledged-ingest endpoint, in shard order. Each message
 * goes to the shard of its TradeID (proto/shard.h: FNV-1a-64 mod K). Messages
 * are gathered into frames of up to `batch` messages per shard; up to
 * `window` frames per shard are in flight at once, each re-sent on a fresh
 * connection when not answered within `timeout_ms` (Lazy Pirate; re-sending
 * is safe: a stored version makes a re-sent message a duplicate). A frame is
 * answered only once its messages are durable in the state's LMDB.
 *
 * Ownership: the client owns its sockets and frames; messages passed in are
 * copied. Not thread-safe: one client per thread. Every function returning
 * int returns 0 or an RP_* code (common/rperr.h; rp_strerror gives text). */
#ifndef RP_CLIENT_H
#define RP_CLIENT_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#define RP_CLIENT_SHARDS_MAX 256

typedef struct rp_client_t rp_client_t;

/* The answer to a frame in which the state rejected messages, for the
 * caller to report: which messages (their tags, as given to rp_client_add)
 * and why. */
typedef struct {
    uint32_t shard;          /* the shard the frame went to */
    uint32_t n;              /* messages in the frame */
    const uint64_t *tags;    /* their tags, n of them (borrowed) */
    uint64_t rejected;       /* messages of the frame rejected */
    int whole;               /* 1: the state refused the frame as a whole */
    int64_t first_index;     /* the first listed rejection's index in the frame, or -1 */
    const char *first_error; /* its reason ("" when none was listed) */
    int64_t first_shard;     /* the shard its message belongs to (a wrong-shard
                              * rejection), or -1 */
} rp_client_rejection_t;

typedef struct {
    uint32_t batch;    /* messages per frame (0: 1000; the state takes at most its --max-batch) */
    size_t max_frame;  /* bytes per frame (0: 16 MiB, the state's default --max-frame) */
    uint32_t window;   /* frames in flight per shard (0: 64) */
    int timeout_ms;    /* re-send a frame not answered within this time (0: 5000) */
    int retries;       /* consecutive unanswered attempts per shard before giving up
                        * (0: 30; -1: none) */
    /* CURVE (the pipeline's --keys): the state's public key and this
     * producer's key pair, Z85 text of 40 characters; NULL: no encryption,
     * which only a loopback pipeline in dev mode accepts. */
    const char *server_key, *public_key, *secret_key;
    /* Called for every answer that rejected messages; NULL: counted only. */
    void (*on_reject)(void *arg, const rp_client_rejection_t *r);
    /* Called with a line of text on every retry and reconnect; NULL: none. */
    void (*on_note)(void *arg, const char *text);
    void *arg;
} rp_client_opts_t;

typedef struct {
    uint64_t messages;   /* added */
    uint64_t accepted;   /* stored as the latest version */
    uint64_t duplicates; /* stale or repeated versions (conflicts included) */
    uint64_t conflicts;  /* same version, other payload: the first one kept */
    uint64_t rejected;   /* invalid, or of another shard: see on_reject */
    uint64_t frames;     /* frames made */
    uint64_t resent;     /* frames sent again after no answer */
    uint64_t misrouted;  /* frames with a wrong-shard rejection */
} rp_client_counts_t;

/* Connects to the k acknowledged-ingest endpoints (shard order; k >= 1) with
 * opts (NULL: defaults). Returns the client (caller owns; rp_client_destroy)
 * or NULL with the reason in why. */
rp_client_t *rp_client_new(const char *const *endpoints, int k, const rp_client_opts_t *opts,
                           char *why, size_t whylen);

/* Closes the sockets and frees everything, answered or not (call
 * rp_client_flush first to know); accepts NULL and sets *self_p to NULL. */
void rp_client_destroy(rp_client_t **self_p);

/* The shard a message goes to: msg is one risk message as a msgpack map
 * (the wire form); one without a string TradeID goes to shard 0, which
 * rejects it with the reason. */
uint32_t rp_client_shard(const rp_client_t *self, const void *msg, size_t len);

/* Adds one message (copied) with the caller's tag (a line number, say, named
 * in rejections) to its shard's frame; a full frame goes out. Waits for
 * answers while that shard's window is full. Returns 0; RP_ERANGE when the
 * message alone is larger than a frame (nothing added); RP_ENOMEM; or
 * RP_ETIMEDOUT when a shard stopped answering (retries exhausted). */
int rp_client_add(rp_client_t *self, const void *msg, size_t len, uint64_t tag);

/* Sends the frames being filled now, on every shard whose window has room
 * (a producer that pauses need not wait for full frames). */
void rp_client_push(rp_client_t *self);

/* Sends everything added and waits until every frame is answered. Returns 0
 * (see rp_client_counts for what the state did with the messages), or
 * RP_ETIMEDOUT when a shard stopped answering. */
int rp_client_flush(rp_client_t *self);

/* For a caller with a poll loop of its own: rp_client_room says whether
 * every shard can take one more frame (the next message may go to any);
 * rp_client_busy whether anything is unsent or unanswered;
 * rp_client_pollitems fills items[0..k) with the sockets to poll for
 * ZMQ_POLLIN and returns k; after zmq_poll, rp_client_service reads the
 * answers of the ready ones and re-sends what is due. rp_client_service
 * returns 0 or RP_ETIMEDOUT. */
int rp_client_room(const rp_client_t *self);
int rp_client_busy(const rp_client_t *self);
int rp_client_pollitems(rp_client_t *self, zmq_pollitem_t *items);
int rp_client_service(rp_client_t *self, const zmq_pollitem_t *items);

/* Counts so far. */
const rp_client_counts_t *rp_client_counts(const rp_client_t *self);

/* The highest change sequence shard's answers carried (its messages are
 * visible in the aggregates once the reducer applied that far), or 0; *sent
 * says whether any frame went to the shard, *old whether an answer carried
 * none (a state too old to say). */
uint64_t rp_client_seq(const rp_client_t *self, uint32_t shard, int *sent, int *old);

#endif
