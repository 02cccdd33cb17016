/* Unit tests for reducer/order.h: RESULT frames sent on a real inproc PUSH
 * socket, as mappers send them, and applied to a real store. Frames apply
 * in batch id order whatever the arrival order; frames ahead of a gap are
 * held until it fills, one per batch id; a batch seen again is acknowledged
 * again but applied once; bad frames are dropped; the watermark prunes; and
 * a failed commit acknowledges nothing. */
#include "../../proto/frame.h"
#include "../../proto/tables.h"
#include "../../reducer/apply.h"
#include "../../reducer/order.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <czmq.h>
#include <stdio.h>
#include <string.h>

static fixture_store_t g_fx;
static apply_t *g_ap;
static order_t *g_o;
static void *g_ctx, *g_results, *g_mapper, *g_acks, *g_state;

static void *s_socket(int type, const char *ep, int bind)
{
    void *s = zmq_socket(g_ctx, type);
    cr_assert_not_null(s);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    cr_assert_eq(bind ? zmq_bind(s, ep) : zmq_connect(s, ep), 0, "%s", ep);
    return s;
}

static void s_open(size_t map_size, size_t map_max)
{
    static int gen;
    fixture_store_open(&g_fx, "order", tables_reducer_dbs, map_size);
    int err = 0;
    cr_assert_not_null(g_ap = apply_new(g_fx.st, 1, &err), "%s", rp_strerror(err));
    cr_assert_not_null(g_o = order_new(g_fx.st, g_ap, 64, map_max));
    g_ctx = zmq_ctx_new();
    char r[64], a[64];
    snprintf(r, sizeof r, "inproc://order-results-%d-%d", (int)getpid(), gen);
    snprintf(a, sizeof a, "inproc://order-acks-%d-%d", (int)getpid(), gen++);
    g_results = s_socket(ZMQ_PULL, r, 1);
    g_mapper = s_socket(ZMQ_PUSH, r, 0);
    g_state = s_socket(ZMQ_PULL, a, 1);
    g_acks = s_socket(ZMQ_PUSH, a, 0);
}

static void s_teardown(void)
{
    order_destroy(&g_o);
    apply_destroy(&g_ap);
    void *socks[] = {g_results, g_mapper, g_acks, g_state};
    for (int i = 0; i < 4; i++)
        if (socks[i]) zmq_close(socks[i]);
    if (g_ctx) zmq_ctx_term(g_ctx);
    g_ctx = NULL;
    fixture_store_close(&g_fx);
}

TestSuite(order, .fini = s_teardown);

/* Sends a RESULT of state stream sid for batch id moving path by delta
 * (micro-units) and count, from mapper "m1", with the given watermark. */
static void s_result_of(const frame_id_t *sid, uint64_t id, uint64_t watermark, const char *path,
                        int64_t delta, int64_t count, int npad);

/* The same for the test's usual state stream, padded with npad more paths. */
static void s_result(uint64_t id, uint64_t watermark, const char *path, int64_t delta,
                     int64_t count, int npad)
{
    s_result_of(&fixture_sid, id, watermark, path, delta, count, npad);
}

static void s_result_of(const frame_id_t *sid, uint64_t id, uint64_t watermark, const char *path,
                        int64_t delta, int64_t count, int npad)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    frame_result_head(&pk, sid, id, watermark, "m1", 1 + (uint64_t)npad, &(frame_pos_t){0}, 1 + (uint32_t)npad);
    frame_delta_pack(&pk, path, strlen(path), delta, count);
    for (int i = 0; i < npad; i++) {
        char p[96];
        snprintf(p, sizeof p, "Pad::%llu::a-rather-long-path-name-to-fill-pages-%d",
                 (unsigned long long)id, i);
        frame_delta_pack(&pk, p, strlen(p), 1, 1);
    }
    cr_assert_eq(zmq_send(g_mapper, sb.data, sb.size, 0), (int)sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* Runs one cycle once the results socket has input. */
static int s_cycle(void)
{
    zmq_pollitem_t it = {g_results, 0, ZMQ_POLLIN, 0};
    cr_assert_eq(zmq_poll(&it, 1, 2000), 1, "results arrive");
    return order_cycle(g_o, g_results, (void *[]){g_acks});
}

/* Collects the acknowledged batch ids now waiting at the state's end. */
static int s_acked(uint64_t *ids, int cap)
{
    int n = 0;
    zmq_pollitem_t it = {g_state, 0, ZMQ_POLLIN, 0};
    while (zmq_poll(&it, 1, 100) == 1) {
        char buf[65536];
        int len = zmq_recv(g_state, buf, sizeof buf, 0);
        cr_assert_gt(len, 0);
        msgpack_unpacked unp;
        ack_t a;
        char why[160];
        RP_ASSERT_OK(frame_ack_decode(buf, (size_t)len, &unp, &a, why, sizeof why), "%s", why);
        cr_assert(frame_id_eq(&a.state, &fixture_sid), "the ACK names the state's stream");
        cr_assert(frame_id_eq(&a.reducer, apply_instance(g_ap)), "and this reducer");
        for (uint32_t i = 0; i < a.n && n < cap; i++) ids[n++] = a.ids[i].via.u64;
        msgpack_unpacked_destroy(&unp);
    }
    return n;
}

/* The aggregate row of path: *found = 0 when absent. */
static money_sum_t s_total(const char *path, int64_t *count, int *found)
{
    MDB_txn *txn;
    RP_ASSERT_OK(store_begin(g_fx.st, 1, &txn));
    MDB_val k = {strlen(path), (void *)path}, v;
    money_sum_t value = 0;
    *count = 0;
    int rc = store_rc(mdb_get(txn, store_dbi(g_fx.st, RDB_AGGREGATE), &k, &v));
    *found = rc == 0;
    if (rc == 0) RP_ASSERT_OK(tables_agg_decode(v.mv_data, v.mv_size, &value, count));
    else RP_ASSERT_RC(rc, RP_ENOTFOUND);
    store_abort(&txn);
    return value;
}

Test(order, frames_apply_in_batch_id_order_whatever_their_arrival)
{
    s_open(16 << 20, 16 << 20);
    s_result(2, 1, "Delta", 20, 1, 0);
    s_result(3, 1, "Delta", 300, 1, 0);
    s_result(1, 1, "Delta", 4000, 1, 0);
    RP_ASSERT_OK(s_cycle());
    int64_t count;
    int found;
    cr_assert(s_total("Delta", &count, &found) == 4320 && found);
    cr_assert_eq(count, 3);
    uint64_t ids[16];
    cr_assert_eq(s_acked(ids, 16), 3);
    cr_assert(ids[0] == 1 && ids[1] == 2 && ids[2] == 3, "acknowledged in id order");
    cr_assert_eq(apply_next(g_ap, 0), 4);
    cr_assert_eq(order_stats(g_o)->applied, 3);
    cr_assert_eq(order_stats(g_o)->commits, 1, "one group, one commit");
}

Test(order, frames_ahead_of_a_gap_are_held_until_it_fills)
{
    s_open(16 << 20, 16 << 20);
    s_result(2, 1, "Delta", 20, 1, 0);
    s_result(3, 1, "Delta", 300, 1, 0);
    RP_ASSERT_OK(s_cycle());
    int64_t count;
    int found;
    s_total("Delta", &count, &found);
    cr_assert_not(found, "nothing is applied past the gap at batch 1");
    uint64_t ids[16];
    cr_assert_eq(s_acked(ids, 16), 0, "held batches are not acknowledged");
    cr_assert_eq(order_held(g_o), 2);
    cr_assert_eq(order_stats(g_o)->deferred, 2);
    s_result(1, 1, "Delta", 4000, 1, 0);
    RP_ASSERT_OK(s_cycle());
    cr_assert(s_total("Delta", &count, &found) == 4320 && count == 3, "the gap filled");
    cr_assert_eq(order_held(g_o), 0);
    cr_assert_eq(s_acked(ids, 16), 3);
}

Test(order, a_batch_is_held_once_however_often_it_arrives)
{
    s_open(16 << 20, 16 << 20);
    s_result(3, 1, "Delta", 300, 1, 0);
    s_result(3, 1, "Delta", 300, 1, 0);
    s_result(2, 1, "Delta", 20, 1, 0);
    RP_ASSERT_OK(s_cycle());
    cr_assert_eq(order_held(g_o), 2, "batches 2 and 3, one frame each");
    s_result(1, 1, "Delta", 4000, 1, 0);
    RP_ASSERT_OK(s_cycle());
    int64_t count;
    int found;
    cr_assert(s_total("Delta", &count, &found) == 4320 && count == 3, "3 applied once");
}

Test(order, a_batch_seen_again_is_acknowledged_again_but_applied_once)
{
    s_open(16 << 20, 16 << 20);
    s_result(1, 1, "Delta", 4000, 1, 0);
    RP_ASSERT_OK(s_cycle());
    s_result(1, 1, "Delta", 4000, 1, 0);
    RP_ASSERT_OK(s_cycle());
    int64_t count;
    int found;
    cr_assert(s_total("Delta", &count, &found) == 4000 && count == 1);
    uint64_t ids[16];
    cr_assert_eq(s_acked(ids, 16), 2, "the re-send is acknowledged, so the state stops");
    cr_assert_eq(order_stats(g_o)->duplicates, 1);
}

Test(order, an_undecodable_frame_is_counted_and_dropped)
{
    s_open(16 << 20, 16 << 20);
    cr_assert_eq(zmq_send(g_mapper, "\x97\x01\x02\xc1", 4, 0), 4);
    s_result(1, 1, "Delta", 5, 1, 0);
    RP_ASSERT_OK(s_cycle());
    cr_assert_eq(order_stats(g_o)->bad_frames, 1);
    cr_assert_eq(order_stats(g_o)->applied, 1, "the good frame beside it is applied");
}

Test(order, the_watermark_prunes_reduce_rows_below_it)
{
    s_open(16 << 20, 16 << 20);
    for (uint64_t id = 1; id <= 4; id++) s_result(id, 1, "Delta", 1, 1, 0);
    RP_ASSERT_OK(s_cycle());
    cr_assert_eq(fixture_entries(&g_fx, RDB_REDUCE), 4);
    s_result(5, 4, "Delta", 1, 1, 0); /* batches below 4 are acknowledged everywhere */
    RP_ASSERT_OK(s_cycle());
    cr_assert_eq(fixture_entries(&g_fx, RDB_REDUCE), 2, "rows 4 and 5 remain");
    cr_assert_eq(apply_floor(g_ap, 0), 4);
    cr_assert_eq(order_stats(g_o)->pruned, 3);
}

Test(order, a_held_frame_cannot_move_the_pruning_floor)
{
    s_open(16 << 20, 16 << 20);
    s_result(1, 1, "Delta", 1, 1, 0);
    s_result(1000, 1000, "Delta", 1, 1, 0); /* far ahead, with a high watermark */
    RP_ASSERT_OK(s_cycle());
    cr_assert_eq(apply_floor(g_ap, 0), 1, "the floor follows applied batches only");
    cr_assert_eq(apply_next(g_ap, 0), 2, "batch 2 is still awaited");
    cr_assert_eq(order_held(g_o), 1);
}

Test(order, a_failed_commit_acknowledges_nothing_and_releases_held_frames)
{
    s_open(64 << 10, 64 << 10);
    s_result(2, 1, "Delta", 20, 1, 0);
    s_result(1, 1, "Delta", 4000, 1, 1500); /* too big for the map at its cap */
    int rc = s_cycle();
    RP_ASSERT_RC(rc, RP_EFULL);
    uint64_t ids[16];
    cr_assert_eq(s_acked(ids, 16), 0);
    cr_assert_eq(order_held(g_o), 0, "the state re-sends what was not acknowledged");
    cr_assert_eq(order_stats(g_o)->commit_failures, 1);
    cr_assert_eq(fixture_entries(&g_fx, RDB_REDUCE), 0);
    cr_assert_eq(apply_next(g_ap, 0), 1, "batch 1 is still the next to apply");
}

Test(order, a_result_of_another_state_stream_is_never_applied_nor_acknowledged)
{
    s_open(16 << 20, 16 << 20);
    const frame_id_t other = {{0x33}};
    s_result(1, 1, "Delta", 5, 1, 0); /* binds this reducer to fixture_sid */
    RP_ASSERT_OK(s_cycle());
    uint64_t ids[16];
    cr_assert_eq(s_acked(ids, 16), 1);
    s_result_of(&other, 2, 1, "Delta", 1000, 1, 0); /* a mapper of another pipeline */
    RP_ASSERT_OK(s_cycle());
    int64_t count;
    int found;
    cr_assert(s_total("Delta", &count, &found) == 5 && count == 1, "nothing foreign applied");
    cr_assert_eq(s_acked(ids, 16), 0, "nor acknowledged");
    cr_assert_eq(order_held(g_o), 0, "nor held");
    cr_assert_eq(order_stats(g_o)->foreign, 1);
    cr_assert_eq(apply_next(g_ap, 0), 2, "batch 2 of the real stream is still awaited");
    s_result(2, 1, "Delta", 7, 1, 0);
    RP_ASSERT_OK(s_cycle());
    cr_assert(s_total("Delta", &count, &found) == 12 && count == 2);
}

Test(order, the_binding_survives_a_restart)
{
    s_open(16 << 20, 16 << 20);
    const frame_id_t other = {{0x44}};
    s_result(1, 1, "Delta", 5, 1, 0);
    RP_ASSERT_OK(s_cycle());
    order_destroy(&g_o);
    apply_destroy(&g_ap);
    int err = 0;
    cr_assert_not_null(g_ap = apply_new(g_fx.st, 1, &err));
    cr_assert_not_null(g_o = order_new(g_fx.st, g_ap, 64, 16 << 20));
    cr_assert(frame_id_eq(apply_peer(g_ap, 0), &fixture_sid));
    s_result_of(&other, 2, 1, "Delta", 1000, 1, 0);
    RP_ASSERT_OK(s_cycle());
    cr_assert_eq(order_stats(g_o)->foreign, 1);
    cr_assert_eq(apply_next(g_ap, 0), 2);
}

Test(order, a_reducer_that_applied_nothing_refuses_a_stream_that_started_elsewhere)
{
    s_open(16 << 20, 16 << 20);
    /* The state's watermark is 50: another reducer applied batches 1..49.
     * This one (its data lost, or new) must not apply 50 and go on. */
    s_result(50, 50, "Delta", 5, 1, 0);
    s_result(51, 50, "Delta", 7, 1, 0);
    RP_ASSERT_OK(s_cycle());
    int64_t count;
    int found;
    s_total("Delta", &count, &found);
    cr_assert_not(found, "nothing applied");
    uint64_t ids[16];
    cr_assert_eq(s_acked(ids, 16), 0, "nothing acknowledged, so the state keeps its batches");
    cr_assert_eq(order_stats(g_o)->refused, 2);
    cr_assert_eq(apply_floor(g_ap, 0), 0, "the floor did not jump to the watermark");
    char why[512];
    result_t r = {.state = fixture_sid, .batch_id = 50, .watermark = 50, .pos.shards = 1};
    RP_ASSERT_RC(apply_check(g_ap, &r, why, sizeof why), RP_EINVAL);
    cr_assert(strstr(why, "riskctl rebuild"), "the refusal names the recovery: %s", why);
}

Test(order, stats_name_every_counter_and_each_mapper)
{
    s_open(16 << 20, 16 << 20);
    s_result(1, 1, "Delta", 5, 1, 0);
    RP_ASSERT_OK(s_cycle());
    ctl_stat_t st[CTL_MAX_STATS];
    int n = order_stats_fill(g_o, st, CTL_MAX_STATS);
    cr_assert_eq(n, CTL_R_COUNT + 2, "every counter plus two for mapper m1");
    for (int i = 0; i < CTL_R_COUNT; i++) cr_assert_str_eq(st[i].name, ctl_reducer_names[i]);
    cr_assert_eq(st[CTL_R_BATCHES_APPLIED].value, 1);
    cr_assert_eq(st[CTL_R_NEXT_BATCH].value, 2);
    cr_assert_str_eq(st[CTL_R_COUNT].name, "mapper m1 batches");
    cr_assert_eq(st[CTL_R_COUNT].value, 1);
    cr_assert_str_eq(st[CTL_R_COUNT + 1].name, "mapper m1 idle_ms");
    cr_assert_eq(order_stats_fill(g_o, st, 3), 3, "never more than the room given");
}

Test(order, destroy_clears_the_pointer_and_accepts_null)
{
    s_open(16 << 20, 16 << 20);
    order_destroy(&g_o);
    cr_assert_null(g_o, "destroy must clear the caller's pointer");
    order_destroy(&g_o);
    order_destroy(NULL);
}

/* Sends a RESULT of shard of 2 (stream sid) for batch id moving path by delta. */
static void s_shard_result(const frame_id_t *sid, uint32_t shard, uint64_t id, int64_t delta)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    frame_result_head(&pk, sid, id, 0, "m1", 1,
                      &(frame_pos_t){.last_seq = id, .head_seq = id, .shard = shard, .shards = 2},
                      1);
    frame_delta_pack(&pk, "Delta", 5, delta, 1);
    cr_assert_eq(zmq_send(g_mapper, sb.data, sb.size, 0), (int)sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* The batch ids acknowledged on pull socket st, all of stream sid. */
static int s_acked_on(void *st, const frame_id_t *sid, uint64_t *ids, int cap)
{
    int n = 0;
    zmq_pollitem_t it = {st, 0, ZMQ_POLLIN, 0};
    while (zmq_poll(&it, 1, 100) == 1) {
        char buf[65536];
        int len = zmq_recv(st, buf, sizeof buf, 0);
        msgpack_unpacked unp;
        ack_t a;
        char why[160];
        RP_ASSERT_OK(frame_ack_decode(buf, (size_t)len, &unp, &a, why, sizeof why), "%s", why);
        cr_assert(frame_id_eq(&a.state, sid), "an ACK reaches the state of its own shard only");
        for (uint32_t i = 0; i < a.n && n < cap; i++) ids[n++] = a.ids[i].via.u64;
        msgpack_unpacked_destroy(&unp);
    }
    return n;
}

Test(order, each_shard_is_applied_in_its_own_order_and_acknowledged_to_its_own_state)
{
    s_open(16 << 20, 16 << 20);
    /* the same store, reopened for a pipeline of two shards */
    order_destroy(&g_o);
    apply_destroy(&g_ap);
    fixture_store_close(&g_fx);
    fixture_store_open(&g_fx, "order-shards", tables_reducer_dbs, 16 << 20);
    int err = 0;
    cr_assert_not_null(g_ap = apply_new(g_fx.st, 2, &err), "%s", rp_strerror(err));
    cr_assert_not_null(g_o = order_new(g_fx.st, g_ap, 64, 16 << 20));
    char a1[64];
    snprintf(a1, sizeof a1, "inproc://order-acks1-%d", (int)getpid());
    void *state1 = s_socket(ZMQ_PULL, a1, 1), *acks1 = s_socket(ZMQ_PUSH, a1, 0);
    void *acks[2] = {g_acks, acks1};
    const frame_id_t sid1 = {{0x55}};
    /* shard 1's batch 2 arrives before its batch 1; shard 0's batch 1 is whole */
    s_shard_result(&sid1, 1, 2, 20);
    s_shard_result(&fixture_sid, 0, 1, 1);
    zmq_pollitem_t it = {g_results, 0, ZMQ_POLLIN, 0};
    cr_assert_eq(zmq_poll(&it, 1, 2000), 1);
    RP_ASSERT_OK(order_cycle(g_o, g_results, acks));
    uint64_t ids[8];
    cr_assert_eq(s_acked_on(g_state, &fixture_sid, ids, 8), 1);
    cr_assert_eq(ids[0], 1);
    cr_assert_eq(s_acked_on(state1, &sid1, ids, 8), 0, "shard 1's batch 2 waits for its batch 1");
    cr_assert_eq(order_held(g_o), 1);
    int64_t count;
    int found;
    cr_assert(s_total("Delta", &count, &found) == 1 && count == 1, "only shard 0's batch so far");
    s_shard_result(&sid1, 1, 1, 300);
    cr_assert_eq(zmq_poll(&it, 1, 2000), 1);
    RP_ASSERT_OK(order_cycle(g_o, g_results, acks));
    int n = s_acked_on(state1, &sid1, ids, 8);
    cr_assert(n == 2 && ids[0] == 1 && ids[1] == 2, "shard 1 acknowledged 1 and 2 (%d ids)", n);
    cr_assert_eq(s_acked_on(g_state, &fixture_sid, ids, 8), 0);
    cr_assert(s_total("Delta", &count, &found) == 321 && count == 3);
    cr_assert_eq(apply_next(g_ap, 0), 2);
    cr_assert_eq(apply_next(g_ap, 1), 3);
    zmq_close(acks1);
    zmq_close(state1);
}
