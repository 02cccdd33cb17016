/* The state process's group commit: every ingest frame and reducer ACK that
 * arrived while the previous commit ran is applied in one LMDB transaction
 * (one fsync), then every acknowledged producer gets its reply. The frames
 * are decoded on a second thread a few frames ahead of the writer (prep.h),
 * and between two frames of a long group the batches committed before it go
 * out to the mappers and ACKs come in. Over the lag limit, acknowledged
 * frames are answered "busy, retry" unread. A full map is grown and the
 * group applied again; a storage failure is answered "retry" and nothing of
 * the group is kept. */
#ifndef RP_COMMIT_H
#define RP_COMMIT_H

#include "changelog.h"
#include "dispatch.h"
#include "dlq.h"
#include "ingest.h"
#include "prep.h"
#include "../common/store.h"
#include "../proto/ctl.h"
#include "../svc/metrics.h"

#include <stdint.h>

typedef struct {
    int64_t max_frame; /* largest ingest frame in bytes; larger ones are rejected */
    int group_max;     /* most ingest frames in one commit */
    uint64_t max_lag;  /* changes committed but not applied before ingest is busy */
    size_t map_max;    /* largest LMDB map in bytes the store may grow to */
    int decode_ahead;  /* frames decoded ahead of the writer on a second thread (prep.h);
                        * 0: the writer decodes them itself */
    int serve_ms;      /* during a group, batches go out and ACKs come in between two frames
                        * at most this often (0: between every two) */
} commit_opts_t;

/* Counters since start. */
typedef struct {
    long long frames, accepted, duplicates, conflicts, rejected, commits, commit_failures,
        acks_received, bad_ack_frames, batches_pruned, busy_replies, foreign_acks;
    metrics_hist_t duration; /* of every commit attempt, failed ones included */
} commit_stats_t;

typedef struct commit_t commit_t;

/* Creates the engine over the borrowed store and modules (they must outlive
 * it; dispatch is told about acknowledged batches). Reads the progress of
 * the change log. Returns NULL with *err set on failure. */
commit_t *commit_new(store_t *store, changelog_t *log, ingest_t *ingest, dlq_t *dlq,
                     dispatch_t *dispatch, const commit_opts_t *opts, int *err);

/* Frees it; accepts NULL and sets *self_p to NULL. */
void commit_destroy(commit_t **self_p);

/* One group commit over the borrowed libzmq sockets: router (acknowledged
 * ingest, ROUTER), pull (fire-and-forget ingest, PULL) and acks (ACK frames
 * from the reducer, PULL), each read without blocking. Sends the replies on
 * router. Returns 0, or the commit's error (logged; its producers were
 * answered "retry"). */
int commit_cycle(commit_t *self, void *router, void *pull, void *acks);

/* Progress of the change log as of the last commit. */
const changelog_progress_t *commit_progress(const commit_t *self);

/* Counters since start. */
const commit_stats_t *commit_stats(const commit_t *self);

/* Fills out[0..cap) with the state process's counters (proto/ctl.h) for the
 * control endpoint: the commit's, the change log's progress, the dispatch
 * window's and the dead-letter count. arg is the commit_t. Returns the
 * number written. */
int commit_stats_fill(void *arg, ctl_stat_t *out, int cap);

#endif
