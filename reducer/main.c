/* riskpipe-reducer: the single writer of the aggregate table. Pulls RESULT
 * frames from the mappers, applies each batch exactly once and in batch id
 * order (group commit: every frame waiting is applied in one transaction),
 * then acknowledges the batch ids to the state process. A frame that arrives
 * ahead of a missing batch is held until the gap is filled (the state process
 * re-sends the missing one), so the aggregate table always equals the rollup
 * of a prefix of the change log: a consistent view, never a half-applied
 * re-valuation. */
#include "apply.h"
#include "../common/chaos.h"
#include "../common/clock.h"
#include "../common/config.h"
#include "../common/daemon.h"
#include "../common/log.h"
#include "../common/rperr.h"
#include "../proto/frame.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static config_opt_t s_opts[] = {
    {"data", "./data/reducer", "LMDB environment directory", NULL},
    {"results", "tcp://*:5558", "results from the mappers (PULL, bind)", NULL},
    {"acks", "tcp://localhost:5559", "acknowledgements to the state process (PUSH, connect)",
     NULL},
    {"control", "tcp://*:5561", "stats endpoint for riskctl (REP, bind)", NULL},
    {"group-max", "256", "most result frames applied in one commit", NULL},
    {"map-size", "256", "initial LMDB map size in MiB (grows on demand)", NULL},
    {"map-max", "65536", "largest LMDB map size in MiB", NULL},
    {"log-level", "info", "error, warn, info or debug", NULL},
    {NULL, NULL, NULL, NULL}};

#define MAX_MAPPERS_SEEN 32
#define HOLD_MAX 1024 /* frames held ahead of a gap; beyond, re-sends cover them */

/* Per-mapper counters, from the mapper id carried by every RESULT frame:
 * mappers have no control endpoint of their own. */
typedef struct {
    char name[FRAME_MAPPER_ID_MAX + 24];
    char idle_name[FRAME_MAPPER_ID_MAX + 24];
    long long batches;
    int64_t last_ms;
} mapper_seen_t;

typedef struct {
    store_t *store;
    apply_t *apply;
    mapper_seen_t mappers[MAX_MAPPERS_SEEN];
    zsock_t *results, *acks, *control;
    zmq_msg_t *msgs;  /* held frames first (nheld), then newly received ones */
    zmq_msg_t *spare; /* same capacity, for compacting msgs */
    int nmsgs, nheld, group_max;
    struct order {
        uint64_t id;
        int idx, status;
    } *order;
    size_t map_max;
    uint64_t *ids;
    uint32_t nids;
    long long frames, applied, duplicates, bad_frames, deltas, changes, commits,
        commit_failures, pruned, acks_sent, deferred;
} reducer_t;

enum { ST_BAD, ST_ACK, ST_HOLD };

static void s_collect(reducer_t *r)
{
    while (r->nmsgs < r->nheld + r->group_max) {
        zmq_msg_t *m = &r->msgs[r->nmsgs];
        zmq_msg_init(m);
        if (zmq_msg_recv(m, zsock_resolve(r->results), ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(m);
            return;
        }
        r->nmsgs++;
    }
}

static void s_count_mapper(reducer_t *r, const char *id, size_t len)
{
    int64_t now = clock_mono_ms();
    char name[sizeof r->mappers[0].name];
    snprintf(name, sizeof name, "mapper %.*s batches", (int)len, id);
    int slot = 0;
    for (int i = 0; i < MAX_MAPPERS_SEEN; i++) {
        if (strcmp(r->mappers[i].name, name) == 0) {
            slot = i;
            break;
        }
        if (r->mappers[i].last_ms < r->mappers[slot].last_ms) slot = i; /* least recent */
    }
    mapper_seen_t *m = &r->mappers[slot];
    if (strcmp(m->name, name) != 0) {
        snprintf(m->name, sizeof m->name, "%s", name);
        snprintf(m->idle_name, sizeof m->idle_name, "mapper %.*s idle_ms", (int)len, id);
        m->batches = 0;
    }
    m->batches++;
    m->last_ms = now;
}

static int s_order_cmp(const void *a, const void *b)
{
    const struct order *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id ? 1 : x->idx - y->idx;
}

/* Sorts the frames by batch id (undecodable ones marked bad). */
static void s_sort(reducer_t *r, long long *bad)
{
    for (int i = 0; i < r->nmsgs; i++) {
        char why[160];
        msgpack_unpacked unp;
        result_t res;
        struct order *o = &r->order[i];
        o->idx = i;
        o->status = ST_BAD;
        o->id = UINT64_MAX;
        if (frame_result_decode(zmq_msg_data(&r->msgs[i]), zmq_msg_size(&r->msgs[i]), &unp, &res,
                                why, sizeof why) == 0) {
            o->id = res.batch_id;
            o->status = ST_ACK;
        } else {
            (*bad)++;
            log_warn("dropping bad RESULT frame (%zu bytes): %s", zmq_msg_size(&r->msgs[i]), why);
        }
        msgpack_unpacked_destroy(&unp);
    }
    qsort(r->order, (size_t)r->nmsgs, sizeof *r->order, s_order_cmp);
}

/* Applies the collected frames in batch id order in one transaction; a frame
 * beyond the next expected id is marked ST_HOLD. Fills r->ids with the batch
 * ids to acknowledge. */
static int s_apply_group(reducer_t *r, long long *applied, long long *dups, long long *deltas,
                         long long *changes, uint64_t *pruned)
{
    MDB_txn *txn = NULL;
    uint64_t watermark = 0;
    int rc = store_begin(r->store, 0, &txn);
    r->nids = 0;
    *applied = *dups = *deltas = *changes = 0;
    *pruned = 0;
    for (int i = 0; rc == 0 && i < r->nmsgs; i++) {
        struct order *o = &r->order[i];
        if (o->status == ST_BAD) continue;
        zmq_msg_t *m = &r->msgs[o->idx];
        char why[160];
        msgpack_unpacked unp;
        result_t res;
        frame_result_decode(zmq_msg_data(m), zmq_msg_size(m), &unp, &res, why, sizeof why);
        if (res.watermark > watermark) watermark = res.watermark;
        if (res.batch_id > apply_next(r->apply)) {
            o->status = ST_HOLD;
        } else {
            int dup;
            o->status = ST_ACK;
            rc = apply_result(r->apply, txn, &res, &dup);
            if (rc == 0) {
                r->ids[r->nids++] = res.batch_id;
                s_count_mapper(r, res.mapper_id, res.mapper_id_len);
                if (dup) {
                    (*dups)++;
                } else {
                    (*applied)++;
                    *deltas += res.n;
                    *changes += (long long)res.nchanges;
                }
            }
        }
        msgpack_unpacked_destroy(&unp);
    }
    if (rc == 0) rc = apply_prune(r->apply, txn, watermark, pruned);
    chaos_point(0, "mid-apply, before commit");
    if (rc == 0) rc = store_commit(&txn);
    store_abort(&txn);
    if (rc) apply_aborted(r->apply);
    else apply_committed(r->apply);
    return rc;
}

/* Keeps the held frames (one per batch id, at most HOLD_MAX) at the front of
 * r->msgs, in id order, and releases the others (all of them after a failed
 * commit: the state process re-sends what was not acknowledged). */
static void s_keep_held(reducer_t *r, int ok)
{
    int kept = 0;
    for (int i = 0; i < r->nmsgs; i++) {
        struct order *o = &r->order[i];
        zmq_msg_t *m = &r->msgs[o->idx];
        if (ok && o->status == ST_HOLD && kept < HOLD_MAX &&
            (kept == 0 || o->id != r->order[i - 1].id)) {
            zmq_msg_init(&r->spare[kept]);
            zmq_msg_move(&r->spare[kept++], m);
        }
        zmq_msg_close(m);
    }
    zmq_msg_t *t = r->msgs;
    r->msgs = r->spare;
    r->spare = t;
    r->nheld = r->nmsgs = kept;
}

static void s_send_acks(reducer_t *r)
{
    for (uint32_t off = 0; off < r->nids; off += FRAME_MAX_ACKS) {
        uint32_t n = r->nids - off > FRAME_MAX_ACKS ? FRAME_MAX_ACKS : r->nids - off;
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        frame_ack_encode(&sb, r->ids + off, n);
        /* Never block: a lost ack only causes a re-send that is de-duplicated. */
        if (zmq_send(zsock_resolve(r->acks), sb.data, sb.size, ZMQ_DONTWAIT) < 0)
            log_warn("ack send: %s (the batches will be re-sent and skipped)",
                     zmq_strerror(errno));
        else
            r->acks_sent += n;
        msgpack_sbuffer_destroy(&sb);
    }
}

static void s_cycle(reducer_t *r)
{
    s_collect(r);
    if (r->nmsgs == r->nheld) return; /* nothing new: held frames still wait */
    r->frames += r->nmsgs - r->nheld;
    chaos_roll(3);
    long long applied, dups, deltas, changes, bad = 0;
    uint64_t pruned;
    s_sort(r, &bad);
    r->bad_frames += bad;
    int rc = s_apply_group(r, &applied, &dups, &deltas, &changes, &pruned);
    while (rc == RP_EFULL && store_grow(r->store, r->map_max) == 0)
        rc = s_apply_group(r, &applied, &dups, &deltas, &changes, &pruned);
    if (rc) {
        /* Nothing acknowledged: the state process re-sends these batches. */
        r->commit_failures++;
        log_error("commit failed (%s); %d result frame(s) dropped for redelivery",
                  rp_strerror(rc), r->nmsgs);
    } else {
        r->commits++;
        r->applied += applied;
        r->duplicates += dups;
        r->deltas += deltas;
        r->changes += changes;
        r->pruned += (long long)pruned;
        chaos_point(1, "after commit, before acknowledging");
        s_send_acks(r);
        chaos_point(2, "after acknowledging");
    }
    int before = r->nheld;
    s_keep_held(r, rc == 0);
    if (r->nheld > before) r->deferred += r->nheld - before;
}

static int s_stats(void *arg, const char **names, long long *values, int cap)
{
    reducer_t *r = arg;
    const char *n[] = {"result_frames", "batches_applied", "batches_duplicate", "bad_frames",
                       "deltas_applied", "changes_applied", "commits", "commit_failures",
                       "reduce_rows_pruned", "acks_sent", "floor", "next_batch",
                       "frames_held", "frames_deferred"};
    long long v[] = {r->frames, r->applied, r->duplicates, r->bad_frames, r->deltas, r->changes,
                     r->commits, r->commit_failures, r->pruned, r->acks_sent,
                     (long long)apply_floor(r->apply), (long long)apply_next(r->apply),
                     r->nheld, r->deferred};
    int k = (int)(sizeof n / sizeof n[0]);
    for (int i = 0; i < k && i < cap; i++) names[i] = n[i], values[i] = v[i];
    int64_t now = clock_mono_ms();
    for (int i = 0; i < MAX_MAPPERS_SEEN && k + 2 <= cap; i++) {
        mapper_seen_t *m = &r->mappers[i];
        if (!m->name[0]) continue;
        names[k] = m->name;
        values[k++] = m->batches;
        names[k] = m->idle_name;
        values[k++] = now - m->last_ms;
    }
    return k < cap ? k : cap;
}

int main(int argc, char **argv)
{
    int rc = daemon_args(s_opts, argc, argv,
                         "usage: riskpipe-reducer [options]\n\n"
                         "Applies mapper results exactly once to the aggregate table.",
                         "reducer");
    if (rc >= 0) return rc;
    int64_t group_max, map_mb, map_max;
    if (config_int(s_opts, "group-max", 1, 100000, &group_max) ||
        config_int(s_opts, "map-size", 1, 1 << 24, &map_mb) ||
        config_int(s_opts, "map-max", 1, 1 << 24, &map_max))
        return 2;
    reducer_t r;
    memset(&r, 0, sizeof r);
    r.group_max = (int)group_max;
    r.map_max = (size_t)(map_max < map_mb ? map_mb : map_max) << 20;
    int exit_code = 1;
    daemon_signals();
    const char *dir = config_get(s_opts, "data");
    r.store = store_open(dir, apply_dbnames, (size_t)map_mb << 20, 0, &rc);
    r.apply = r.store ? apply_new(r.store, &rc) : NULL;
    size_t cap = (size_t)group_max + HOLD_MAX;
    r.msgs = calloc(cap, sizeof *r.msgs);
    r.spare = calloc(cap, sizeof *r.spare);
    r.order = calloc(cap, sizeof *r.order);
    r.ids = calloc(cap, sizeof *r.ids);
    if (!r.apply || !r.msgs || !r.spare || !r.order || !r.ids) goto out;
    r.results = daemon_socket(ZMQ_PULL, config_get(s_opts, "results"), 1, 1000, 0, "results");
    r.acks = daemon_socket(ZMQ_PUSH, config_get(s_opts, "acks"), 0, 10000, 1000, "acks");
    r.control = daemon_socket(ZMQ_REP, config_get(s_opts, "control"), 1, 100, 0, "control");
    if (!r.results || !r.acks || !r.control) goto out;
    log_info("ready: data %s, batches below %llu already applied", dir,
             (unsigned long long)apply_floor(r.apply));
    zmq_pollitem_t items[] = {{zsock_resolve(r.results), 0, ZMQ_POLLIN, 0},
                              {zsock_resolve(r.control), 0, ZMQ_POLLIN, 0}};
    while (!daemon_stopping()) {
        if (zmq_poll(items, 2, 1000) < 0 && errno != EINTR) {
            log_error("poll: %s", zmq_strerror(errno));
            break;
        }
        if (items[1].revents & ZMQ_POLLIN)
            daemon_serve_control(zsock_resolve(r.control), s_stats, &r);
        s_cycle(&r);
    }
    s_cycle(&r); /* apply what already arrived before exiting */
    log_info("stopping: %lld batches applied, %lld duplicates skipped", r.applied, r.duplicates);
    exit_code = 0;
out:
    if (exit_code && rc) log_error("start-up failed: %s", rp_strerror(rc));
    zsock_destroy(&r.control);
    zsock_destroy(&r.acks);
    zsock_destroy(&r.results);
    for (int i = 0; i < r.nmsgs; i++) zmq_msg_close(&r.msgs[i]);
    free(r.msgs);
    free(r.spare);
    free(r.order);
    free(r.ids);
    apply_destroy(&r.apply);
    store_destroy(&r.store);
    return exit_code;
}
