/* Inter-process frames between state, mappers, reducer and riskctl. Every
 * frame is a msgpack array [version, type, ...]; decoders validate version,
 * type, sizes and every field type before the caller touches anything.
 *
 *   WORK    state -> mapper   [4, 1, state_id, batch_id, watermark, last_seq,
 *                              head_seq, commit_us, shard, shards, [change...]]
 *   RESULT  mapper -> reducer [4, 2, state_id, batch_id, watermark, mapper_id,
 *                              nchanges, last_seq, head_seq, commit_us, shard,
 *                              shards, [[path, delta, count_delta]...]]
 *   ACK     reducer -> state  [4, 3, state_id, reducer_id, [batch_id...]]
 *   CTL_REQ riskctl -> daemon [4, 4, command]                (proto/ctl.h)
 *   CTL_REP daemon -> riskctl [4, 5, {name: value...}]       (proto/ctl.h)
 *
 * Version 2 dropped WORK's first_seq, which no consumer read. Version 3 adds
 * the batch's position in the change log (frame_pos_t), which the mapper
 * copies from WORK into RESULT: the reducer records the change sequence its
 * aggregate reflects, its lag behind the state, and the ingest-to-aggregate
 * latency. Version 4 adds the shard the batch's state process is (shard of
 * shards, proto/shard.h): batch ids and sequence numbers are per shard, so
 * the reducer orders and de-duplicates per shard. A peer of another version is refused by every decoder, never
 * misread.
 *
 * A change is [old_value|nil, old_path|nil, new_value|nil, new_path|nil]
 * (micro-units and "::"-joined paths); it is also the value format of the
 * state process's durable change log, so a WORK frame is built by copying log
 * values verbatim. watermark: every batch id below it has been applied.
 * state_id and reducer_id are the 16-byte instance ids of the LMDB
 * environments the stream belongs to (binary): a frame of another stream is
 * recognised and never applied. */
#ifndef RP_FRAME_H
#define RP_FRAME_H

#include "../common/money.h"

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#define FRAME_VERSION 4
#define FRAME_MAX_CHANGES 65536 /* changes in one WORK frame */
#define FRAME_MAX_DELTAS 1000000
#define FRAME_MAX_ACKS 4096
#define FRAME_ACK_MAX_BYTES (64 + FRAME_MAX_ACKS * 9) /* largest valid ACK frame */
#define FRAME_MAPPER_ID_MAX 64
#define FRAME_ID_SIZE 16

/* The random instance id of an LMDB environment, naming a stream's end. */
typedef struct {
    uint8_t b[FRAME_ID_SIZE];
} frame_id_t;

enum { FRAME_WORK = 1, FRAME_RESULT = 2, FRAME_ACK = 3, FRAME_CTL_REQ = 4, FRAME_CTL_REP = 5 };

/* One change; the path pointers are borrowed (from the decoded frame's zone
 * or from the caller when encoding). has_old/has_new = 0 means nil. */
typedef struct {
    int has_old, has_new;
    money_t old_value, new_value;
    const char *old_path, *new_path;
    size_t old_len, new_len;
} change_t;

/* Where a batch stands: in which shard's change log (shard of shards; 0 of 0
 * is sent as 0 of 1, an unsharded pipeline), and where in it: last_seq is the sequence number of
 * its last change (batches are contiguous, so applying batches in id order
 * makes the aggregate the rollup of the log up to last_seq); head_seq the
 * last sequence number the state had committed when it sent the frame
 * (head_seq >= last_seq); commit_us the wall-clock time, in microseconds
 * since the epoch, of the commit that logged the batch (0: unknown). */
typedef struct {
    uint64_t last_seq, head_seq, commit_us;
    uint32_t shard, shards;
} frame_pos_t;

typedef struct {
    frame_id_t state; /* the state instance whose change log this is */
    uint64_t batch_id, watermark;
    frame_pos_t pos;
    uint32_t n;
    const msgpack_object *changes; /* n validated change arrays, borrowed */
} work_t;

typedef struct {
    const char *path; /* borrowed */
    size_t path_len;
    money_sum_t delta;
    int64_t count;
} delta_t;

typedef struct {
    frame_id_t state; /* copied from the WORK frame */
    uint64_t batch_id, watermark, nchanges;
    frame_pos_t pos; /* copied from the WORK frame */
    const char *mapper_id; /* borrowed */
    size_t mapper_id_len;
    uint32_t n;
    const msgpack_object *deltas; /* n validated delta arrays, borrowed */
} result_t;

/* Bytes the encoding of a change with paths of these lengths may take. */
#define FRAME_CHANGE_MAX(old_len, new_len) (1 + 2 * (9 + 5) + (old_len) + (new_len))

/* Encodes one change record (the log value / WORK element) into out, which
 * holds FRAME_CHANGE_MAX(c->old_len, c->new_len) bytes: the bytes msgpack-c
 * writes for [old_value, old_path, new_value, new_path] (nil, nil for a side
 * that is absent), without a call per field. Returns their length. */
size_t frame_change_encode(const change_t *c, char *out);

/* The same record written with pk (paths longer than HIER_PATH_MAX, which
 * no change has, write nothing). */
void frame_change_pack(msgpack_packer *pk, const change_t *c);

/* Decodes a validated change object (from a decoded WORK frame, or a log
 * value after mp_unpack). Returns 0 or RP_EPROTO. */
int frame_change_get(const msgpack_object *o, change_t *out);

/* Writes the head of a WORK frame announcing n changes; the caller then
 * appends exactly n change records (raw log values or frame_change_pack). */
void frame_work_head(msgpack_packer *pk, const frame_id_t *state, uint64_t batch_id,
                     uint64_t watermark, const frame_pos_t *pos, uint32_t n);

/* Decodes a WORK frame into *out, borrowing from *unp (initialised here;
 * destroy it in every case). Returns 0, or RP_EPROTO with a reason. */
int frame_work_decode(const char *buf, size_t len, msgpack_unpacked *unp, work_t *out,
                      char *why, size_t whylen);

/* Writes the head of a RESULT frame with n deltas to follow (frame_delta_pack). */
void frame_result_head(msgpack_packer *pk, const frame_id_t *state, uint64_t batch_id,
                       uint64_t watermark, const char *mapper_id, uint64_t nchanges,
                       const frame_pos_t *pos, uint32_t n);
void frame_delta_pack(msgpack_packer *pk, const char *path, size_t len, money_sum_t delta,
                      int64_t count);

/* Decodes a RESULT frame (all deltas validated) into *out. Returns 0 or
 * RP_EPROTO. frame_delta_at reads delta i of a decoded frame. */
int frame_result_decode(const char *buf, size_t len, msgpack_unpacked *unp, result_t *out,
                        char *why, size_t whylen);
void frame_delta_at(const result_t *r, uint32_t i, delta_t *out);

/* A decoded ACK frame: the reducer instance reducer acknowledges n batches of
 * the state instance state. */
typedef struct {
    frame_id_t state, reducer;
    uint32_t n;
    const msgpack_object *ids; /* n validated positive integers, borrowed */
} ack_t;

/* Encodes an ACK frame for n batch ids into sb. */
void frame_ack_encode(msgpack_sbuffer *sb, const frame_id_t *state, const frame_id_t *reducer,
                      const uint64_t *ids, uint32_t n);

/* Decodes an ACK frame into *out, borrowing from *unp. Returns 0 or
 * RP_EPROTO. */
int frame_ack_decode(const char *buf, size_t len, msgpack_unpacked *unp, ack_t *out, char *why,
                     size_t whylen);

/* 1 when a and b are the same instance. */
int frame_id_eq(const frame_id_t *a, const frame_id_t *b);

/* Writes id as 32 lowercase hex digits and a NUL into out. */
void frame_id_format(const frame_id_t *id, char out[2 * FRAME_ID_SIZE + 1]);

/* The envelope every frame shares (ctl.c uses it too). frame_head writes
 * [FRAME_VERSION, type, ...] announcing nfields elements in all;
 * frame_open unpacks buf into *unp (initialised here; destroy it in every
 * case), checks version, type and that there are exactly nfields elements
 * (containers at most 4 deep, max_items each), and points *f at them.
 * Returns 0, or RP_EPROTO with a reason. */
void frame_head(msgpack_packer *pk, int type, uint32_t nfields);
int frame_open(const char *buf, size_t len, int type, uint32_t nfields, uint32_t max_items,
               msgpack_unpacked *unp, const msgpack_object **f, char *why, size_t whylen);

#endif
