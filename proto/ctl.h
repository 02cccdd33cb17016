/* The control protocol between riskctl and the daemons' REP endpoints, and
 * the names of every counter they report, declared once here for both sides.
 *
 *   CTL_REQ riskctl -> daemon [1, 4, command]            command: "stats"
 *   CTL_REP daemon -> riskctl [1, 5, {"role": name, counter: value...}]
 *                          or [1, 5, {"error": text}]
 *
 * A reader asks for counters by these names and treats a missing one as an
 * error (e.g. riskctl wait pointed at the reducer instead of the state). */
#ifndef RP_CTL_H
#define RP_CTL_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#define CTL_ROLE_STATE "state"
#define CTL_ROLE_REDUCER "reducer"
#define CTL_ROLE_MAPPER "mapper"
#define CTL_MAX_STATS 128 /* counters in one reply, per-mapper ones included */
#define CTL_REQ_MAX_BYTES 4096 /* largest request a daemon reads */

/* Counters of riskpipe-state, in reply order (names in ctl_state_names). */
enum {
    CTL_S_FRAMES, CTL_S_ACCEPTED, CTL_S_DUPLICATES, CTL_S_CONFLICTS, CTL_S_REJECTED,
    CTL_S_COMMITS, CTL_S_COMMIT_FAILURES, CTL_S_COMMITTED_SEQ, CTL_S_APPLIED_SEQ, CTL_S_LAG,
    CTL_S_BATCHES_NEXT_ID, CTL_S_WATERMARK, CTL_S_BATCHES_UNACKED, CTL_S_BATCHES_INFLIGHT,
    CTL_S_BATCHES_DISPATCHED, CTL_S_BATCHES_REDELIVERED, CTL_S_BATCHES_ACKED, CTL_S_ACKS_STALE,
    CTL_S_ACKS_RECEIVED, CTL_S_BAD_ACK_FRAMES, CTL_S_BUSY_REPLIES, CTL_S_DLQ_ADDED,
    CTL_S_FOREIGN_ACKS, CTL_S_REFUSED_PEERS, CTL_S_DLQ_EVICTED, CTL_S_DLQ_ENTRIES,
    CTL_S_COUNT
};
extern const char *const ctl_state_names[CTL_S_COUNT];

/* Counters of riskpipe-reducer (names in ctl_reducer_names). The reducer adds
 * two counters per mapper it has heard from: "mapper ID batches" and
 * "mapper ID idle_ms"; with state shards, three per shard first: "shard S
 * applied_seq", "shard S next_batch" and "shard S lag". */
enum {
    CTL_R_RESULT_FRAMES, CTL_R_BATCHES_APPLIED, CTL_R_BATCHES_DUPLICATE, CTL_R_BAD_FRAMES,
    CTL_R_DELTAS_APPLIED, CTL_R_CHANGES_APPLIED, CTL_R_COMMITS, CTL_R_COMMIT_FAILURES,
    CTL_R_REDUCE_ROWS_PRUNED, CTL_R_ACKS_SENT, CTL_R_FLOOR, CTL_R_NEXT_BATCH, CTL_R_FRAMES_HELD,
    CTL_R_FRAMES_DEFERRED, CTL_R_FOREIGN_FRAMES, CTL_R_REFUSED_FRAMES, CTL_R_REFUSED_PEERS,
    CTL_R_APPLIED_SEQ, CTL_R_STATE_SEQ, CTL_R_LAG, CTL_R_SHARDS,
    CTL_R_COUNT
};
extern const char *const ctl_reducer_names[CTL_R_COUNT];

/* Counters of riskpipe-mapper (names in ctl_mapper_names). The mapper has no
 * control endpoint; they are served on its HTTP endpoint (svc/http.h). */
enum { CTL_M_BATCHES_MAPPED, CTL_M_BAD_FRAMES, CTL_M_COUNT };
extern const char *const ctl_mapper_names[CTL_M_COUNT];

/* One counter of a reply; name borrowed. */
typedef struct {
    const char *name;
    long long value;
} ctl_stat_t;

/* Encodes [1, 4, command] into sb / decodes it into a borrowed command
 * string (from *unp, initialised here; destroy it in every case). Returns 0
 * or RP_EPROTO with a reason. */
void ctl_req_encode(msgpack_sbuffer *sb, const char *command);
int ctl_req_decode(const char *buf, size_t len, msgpack_unpacked *unp, const char **cmd,
                   size_t *cmd_len, char *why, size_t whylen);

/* Encodes a stats reply: role, then n counters. */
void ctl_rep_encode(msgpack_sbuffer *sb, const char *role, const ctl_stat_t *stats, int n);

/* Encodes an error reply {"error": why}. */
void ctl_rep_error(msgpack_sbuffer *sb, const char *why);

/* Decodes a reply; on success *map is the borrowed {name: value} map.
 * Returns 0 or RP_EPROTO with a reason. */
int ctl_rep_decode(const char *buf, size_t len, msgpack_unpacked *unp, const msgpack_object **map,
                   char *why, size_t whylen);

/* Reads counter name of a decoded reply map. Returns 0, or RP_ENOTFOUND when
 * the reply has no such integer entry. */
int ctl_rep_get(const msgpack_object *map, const char *name, long long *out);

/* Returns 1 when the decoded reply map names role as its role. */
int ctl_rep_is(const msgpack_object *map, const char *role);

#endif
