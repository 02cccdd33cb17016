/* Control frames and counter names; see ctl.h. */
#include "ctl.h"
#include "frame.h"
#include "mp.h"
#include "../common/rperr.h"

#include <stdio.h>

const char *const ctl_state_names[CTL_S_COUNT] = {
    [CTL_S_FRAMES] = "frames",
    [CTL_S_ACCEPTED] = "accepted",
    [CTL_S_DUPLICATES] = "duplicates",
    [CTL_S_CONFLICTS] = "conflicts",
    [CTL_S_REJECTED] = "rejected",
    [CTL_S_COMMITS] = "commits",
    [CTL_S_COMMIT_FAILURES] = "commit_failures",
    [CTL_S_COMMITTED_SEQ] = "committed_seq",
    [CTL_S_APPLIED_SEQ] = "applied_seq",
    [CTL_S_LAG] = "lag",
    [CTL_S_BATCHES_NEXT_ID] = "batches_next_id",
    [CTL_S_WATERMARK] = "watermark",
    [CTL_S_BATCHES_UNACKED] = "batches_unacked",
    [CTL_S_BATCHES_INFLIGHT] = "batches_inflight",
    [CTL_S_BATCHES_DISPATCHED] = "batches_dispatched",
    [CTL_S_BATCHES_REDELIVERED] = "batches_redelivered",
    [CTL_S_BATCHES_ACKED] = "batches_acked",
    [CTL_S_ACKS_STALE] = "acks_stale",
    [CTL_S_ACKS_RECEIVED] = "acks_received",
    [CTL_S_BAD_ACK_FRAMES] = "bad_ack_frames",
    [CTL_S_BUSY_REPLIES] = "busy_replies",
    [CTL_S_DLQ_ADDED] = "dlq_added",
    [CTL_S_FOREIGN_ACKS] = "foreign_acks",
    [CTL_S_REFUSED_PEERS] = "refused_peers",
    [CTL_S_DLQ_EVICTED] = "dlq_evicted",
    [CTL_S_DLQ_ENTRIES] = "dlq_entries",
};

const char *const ctl_reducer_names[CTL_R_COUNT] = {
    [CTL_R_RESULT_FRAMES] = "result_frames",
    [CTL_R_BATCHES_APPLIED] = "batches_applied",
    [CTL_R_BATCHES_DUPLICATE] = "batches_duplicate",
    [CTL_R_BAD_FRAMES] = "bad_frames",
    [CTL_R_DELTAS_APPLIED] = "deltas_applied",
    [CTL_R_CHANGES_APPLIED] = "changes_applied",
    [CTL_R_COMMITS] = "commits",
    [CTL_R_COMMIT_FAILURES] = "commit_failures",
    [CTL_R_REDUCE_ROWS_PRUNED] = "reduce_rows_pruned",
    [CTL_R_ACKS_SENT] = "acks_sent",
    [CTL_R_FLOOR] = "floor",
    [CTL_R_NEXT_BATCH] = "next_batch",
    [CTL_R_FRAMES_HELD] = "frames_held",
    [CTL_R_FRAMES_DEFERRED] = "frames_deferred",
    [CTL_R_FOREIGN_FRAMES] = "foreign_frames",
    [CTL_R_REFUSED_FRAMES] = "refused_frames",
    [CTL_R_REFUSED_PEERS] = "refused_peers",
    [CTL_R_APPLIED_SEQ] = "applied_seq",
    [CTL_R_STATE_SEQ] = "state_seq",
    [CTL_R_LAG] = "lag",
    [CTL_R_SHARDS] = "shards",
};

const char *const ctl_mapper_names[CTL_M_COUNT] = {
    [CTL_M_BATCHES_MAPPED] = "batches_mapped",
    [CTL_M_BAD_FRAMES] = "bad_frames",
};

void ctl_req_encode(msgpack_sbuffer *sb, const char *command)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    frame_head(&pk, FRAME_CTL_REQ, 3);
    mp_pack_cstr(&pk, command);
}

int ctl_req_decode(const char *buf, size_t len, msgpack_unpacked *unp, const char **cmd,
                   size_t *cmd_len, char *why, size_t whylen)
{
    const msgpack_object *f;
    int rc = frame_open(buf, len, FRAME_CTL_REQ, 3, 16, unp, &f, why, whylen);
    if (rc) return rc;
    if (f[2].type != MSGPACK_OBJECT_STR) {
        snprintf(why, whylen, "control command is not a string");
        return RP_EPROTO;
    }
    *cmd = f[2].via.str.ptr;
    *cmd_len = f[2].via.str.size;
    return 0;
}

void ctl_rep_encode(msgpack_sbuffer *sb, const char *role, const ctl_stat_t *stats, int n)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    frame_head(&pk, FRAME_CTL_REP, 3);
    msgpack_pack_map(&pk, (uint32_t)n + 1);
    mp_pack_cstr(&pk, "role");
    mp_pack_cstr(&pk, role);
    for (int i = 0; i < n; i++) {
        mp_pack_cstr(&pk, stats[i].name);
        msgpack_pack_long_long(&pk, stats[i].value);
    }
}

void ctl_rep_error(msgpack_sbuffer *sb, const char *why)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    frame_head(&pk, FRAME_CTL_REP, 3);
    msgpack_pack_map(&pk, 1);
    mp_pack_cstr(&pk, "error");
    mp_pack_cstr(&pk, why);
}

int ctl_rep_decode(const char *buf, size_t len, msgpack_unpacked *unp, const msgpack_object **map,
                   char *why, size_t whylen)
{
    const msgpack_object *f;
    int rc = frame_open(buf, len, FRAME_CTL_REP, 3, 4096, unp, &f, why, whylen);
    if (rc) return rc;
    if (f[2].type != MSGPACK_OBJECT_MAP) {
        snprintf(why, whylen, "control reply is not a map");
        return RP_EPROTO;
    }
    *map = &f[2];
    return 0;
}

int ctl_rep_get(const msgpack_object *map, const char *name, long long *out)
{
    const msgpack_object *v = mp_map_get(map, name);
    int64_t x;
    if (!v || mp_get_i64(v, &x)) return RP_ENOTFOUND;
    *out = (long long)x;
    return 0;
}

int ctl_rep_is(const msgpack_object *map, const char *role)
{
    const msgpack_object *r = mp_map_get(map, "role");
    return r && mp_str_eq(r, role);
}
