/* Decoding ingest frames ahead of the writer. The state process's one LMDB
 * writer is its critical path, and checking a frame's messages (the msgpack
 * walk, every field's validation, the shard, the state row and the path each
 * becomes) needs no transaction. prep_decode does that for one frame into a
 * prep_frame_t; a prep_t runs it on a second thread for the frames of a
 * group commit while the writer applies the frames before them, at most
 * `ahead` frames in front. LMDB is only ever touched by the writer. */
#ifndef RP_PREP_H
#define RP_PREP_H

#include "../common/hier.h"
#include "../common/money.h"
#include "../proto/risk.h"

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

/* What the writer does with one message. */
typedef enum {
    PREP_OK,      /* valid and of this shard: apply it */
    PREP_BAD,     /* invalid: reject and dead-letter it with why */
    PREP_FOREIGN, /* valid but of shard home: reject it, nothing dead-lettered */
} prep_kind_t;

/* One decoded message. Strings are offsets into the frame's arena (see
 * prep_str); raw is borrowed from the frame's buffer. */
typedef struct {
    prep_kind_t kind;
    uint32_t home;        /* PREP_FOREIGN: the shard its TradeID belongs to */
    const char *raw;      /* the message's bytes in the frame */
    size_t raw_len;
    int64_t version;      /* PREP_OK */
    money_t value;        /* PREP_OK */
    size_t id_off, id_len;     /* TradeID (PREP_OK, PREP_FOREIGN) */
    size_t row_off, row_len;   /* the state row it becomes (proto/tables.h; PREP_OK) */
    size_t path_off, path_len; /* its aggregation path (PREP_OK) */
    size_t why_off;            /* PREP_BAD: the reason, NUL-terminated */
} prep_msg_t;

/* One decoded frame; reused from frame to frame (its buffers only grow). */
typedef struct {
    int bad;                 /* 1: the frame as a whole is unusable, why says so */
    char why[RISK_WHY_MAX];
    prep_msg_t *msg;         /* msg[0..n), in the frame's order */
    size_t n, cap;
    msgpack_sbuffer arena;   /* every string of msg[] */
} prep_frame_t;

/* What a valid message of this state must be. */
typedef struct {
    hier_levels_t levels;
    uint32_t max_batch;      /* most messages in one frame */
    uint32_t shard, shards;  /* this state's shard of the pipeline's */
} prep_rules_t;

/* Initialises an empty frame / frees its buffers (the struct may be
 * initialised again afterwards). */
void prep_frame_init(prep_frame_t *f);
void prep_frame_destroy(prep_frame_t *f);

/* The string at off in the frame's arena (valid until f is decoded into
 * again or destroyed). */
static inline const char *prep_str(const prep_frame_t *f, size_t off)
{
    return f->arena.data + off;
}

/* Decodes buf[0..len) (borrowed: raw pointers in *out point into it, so it
 * must outlive the use of *out) into *out, replacing what it held. Invalid
 * input is never an error: it becomes a bad frame or PREP_BAD messages with
 * their reasons. Touches no shared state, so any thread may call it. Returns
 * 0 or RP_ENOMEM. */
int prep_decode(const prep_rules_t *r, const char *buf, size_t len, prep_frame_t *out);

/* A frame of a group for the decoding thread: buf NULL means "do not decode
 * it" (an oversized frame the writer refuses unread). */
typedef struct {
    const char *buf;
    size_t len;
} prep_input_t;

typedef struct prep_t prep_t;

/* Creates the decoder for the rules (copied). ahead is the most frames decoded
 * in front of the writer, each held in a buffer of its own; 0 runs no thread
 * (prep_take decodes in the caller). Returns NULL with *err set (RP_ENOMEM,
 * or RP_EIO when the thread cannot start). */
prep_t *prep_new(const prep_rules_t *r, int ahead, int *err);

/* Stops the thread and frees everything; accepts NULL and sets *self_p to
 * NULL. */
void prep_destroy(prep_t **self_p);

/* Starts decoding the group in[0..n) (borrowed until prep_finish, with the
 * buffers it names). The previous group must have been finished. */
void prep_start(prep_t *self, const prep_input_t *in, int n);

/* Waits until frame i of the group is decoded and points *out at it (valid
 * until the next prep_take or prep_finish). i must grow from call to call:
 * taking frame i gives frames before it back to the thread. Returns 0, or
 * prep_decode's error for that frame, or RP_EINVAL when i is not a frame of
 * the group. */
int prep_take(prep_t *self, int i, const prep_frame_t **out);

/* Ends the group: frames not yet decoded are skipped, and it returns once
 * the thread no longer reads the group's buffers. */
void prep_finish(prep_t *self);

#endif
