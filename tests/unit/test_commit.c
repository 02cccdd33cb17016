/* Unit tests for state/commit.h: the group commit driven through real inproc
 * sockets, as the state process's loop drives it, on a real store. A producer
 * gets one reply per frame with its counts; frames that wait together share
 * one transaction; fire-and-forget frames are applied without a reply;
 * oversized frames are rejected and dead-lettered; over the lag limit frames
 * are answered busy and nothing is applied; ACKs prune their batch; a full
 * map is grown, and a full map at its cap answers retry and keeps nothing. */
#include "../../proto/frame.h"
#include "../../proto/reply.h"
#include "../../proto/tables.h"
#include "../../state/commit.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <czmq.h>
#include <stdio.h>
#include <string.h>

static fixture_store_t g_fx;
static changelog_t *g_log;
static dlq_t *g_dlq;
static ingest_t *g_in;
static dispatch_t *g_d;
static commit_t *g_c;
static void *g_ctx;
/* daemon side: router, pull, acks, work; client side: producer, pusher, reducer */
static void *g_router, *g_pull, *g_acks, *g_work, *g_producer, *g_pusher, *g_reducer;
static int g_ahead;          /* commit_opts_t.decode_ahead of the next s_open */
static char g_work_ep[32];   /* the work socket's endpoint tag, for a mapper to connect */

static void *s_socket(int type, const char *ep, int bind)
{
    static int n;
    char name[96];
    snprintf(name, sizeof name, "inproc://commit-%s-%d", ep, n);
    void *s = zmq_socket(g_ctx, type);
    cr_assert_not_null(s);
    int zero = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    cr_assert_eq(bind ? zmq_bind(s, name) : zmq_connect(s, name), 0, "%s", name);
    if (!bind) n += 0;
    return s;
}

/* Opens the modules on a store of map_size bytes growing up to map_max, with
 * the given lag limit and frame size limit. */
static void s_open(size_t map_size, size_t map_max, uint64_t max_lag, int64_t max_frame)
{
    static int gen;
    fixture_store_open(&g_fx, "commit", tables_state_dbs, map_size);
    int err = 0;
    hier_levels_t levels;
    char why[160];
    RP_ASSERT_OK(hier_levels_parse(HIER_DEFAULT, &levels, why, sizeof why), "%s", why);
    cr_assert_not_null(g_log = changelog_new(g_fx.st, 1024, 0, 1, &err), "%s", rp_strerror(err));
    cr_assert_not_null(g_dlq = dlq_new(g_fx.st, 1000, 1 << 30, &err), "%s", rp_strerror(err));
    cr_assert_not_null(g_in = ingest_new(g_fx.st, g_log, g_dlq, &levels, 1000));
    g_ctx = zmq_ctx_new();
    char ep[4][32];
    for (int i = 0; i < 4; i++) snprintf(ep[i], sizeof ep[i], "%d-%d-%d", (int)getpid(), gen, i);
    gen++;
    g_router = s_socket(ZMQ_ROUTER, ep[0], 1);
    g_pull = s_socket(ZMQ_PULL, ep[1], 1);
    g_acks = s_socket(ZMQ_PULL, ep[2], 1);
    g_work = s_socket(ZMQ_PUSH, ep[3], 1);
    snprintf(g_work_ep, sizeof g_work_ep, "%s", ep[3]);
    g_producer = s_socket(ZMQ_DEALER, ep[0], 0);
    g_pusher = s_socket(ZMQ_PUSH, ep[1], 0);
    g_reducer = s_socket(ZMQ_PUSH, ep[2], 0);
    cr_assert_not_null(g_d = dispatch_new(g_log, g_fx.st, g_work, 4, 1000));
    commit_opts_t opts = {.max_frame = max_frame, .group_max = 64, .max_lag = max_lag,
                          .map_max = map_max, .decode_ahead = g_ahead};
    g_c = commit_new(g_fx.st, g_log, g_in, g_dlq, g_d, &opts, &err);
    cr_assert_not_null(g_c, "commit_new: %s", rp_strerror(err));
}

static void s_teardown(void)
{
    g_ahead = 0;
    commit_destroy(&g_c);
    dispatch_destroy(&g_d);
    void *socks[] = {g_router, g_pull, g_acks, g_work, g_producer, g_pusher, g_reducer};
    for (int i = 0; i < 7; i++)
        if (socks[i]) zmq_close(socks[i]);
    if (g_ctx) zmq_ctx_term(g_ctx);
    g_ctx = NULL;
    ingest_destroy(&g_in);
    dlq_destroy(&g_dlq);
    changelog_destroy(&g_log);
    fixture_store_close(&g_fx);
}

TestSuite(commit, .fini = s_teardown);

/* Packs a frame of n messages (trade ids PREFIX-0..n-1, version 1, value
 * 1.5) into sb, cleared first. */
static void s_frame(msgpack_sbuffer *sb, const char *prefix, int n)
{
    msgpack_sbuffer_clear(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof id, "%s-%d", prefix, i);
        fixture_pack_msg(&pk, id, 1, "1.5", "Delta", "AMER", "FXSpot");
    }
}

static void s_send(void *sock, const msgpack_sbuffer *sb)
{
    cr_assert_eq(zmq_send(sock, sb->data, sb->size, 0), (int)sb->size);
}

/* Waits, as the daemon's poll loop does, until the daemon-side socket has
 * input, then runs one cycle. */
static int s_cycle_when_ready(void *sock)
{
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    cr_assert_eq(zmq_poll(&it, 1, 2000), 1, "input arrives");
    return commit_cycle(g_c, g_router, g_pull, g_acks);
}

/* Reads one reply on the producer socket (waiting up to 2 s). */
static reply_view_t s_reply(void)
{
    zmq_pollitem_t it = {g_producer, 0, ZMQ_POLLIN, 0};
    cr_assert_eq(zmq_poll(&it, 1, 2000), 1, "a reply arrives");
    char buf[65536];
    int n = zmq_recv(g_producer, buf, sizeof buf, 0);
    cr_assert_gt(n, 0);
    reply_view_t r;
    RP_ASSERT_OK(reply_decode(buf, (size_t)n, &r));
    return r;
}

static int s_reply_waiting(void)
{
    zmq_pollitem_t it = {g_producer, 0, ZMQ_POLLIN, 0};
    return zmq_poll(&it, 1, 50) == 1;
}

Test(commit, a_producer_gets_one_reply_with_the_counts_of_its_frame)
{
    s_open(16 << 20, 16 << 20, 1000000, 1 << 20);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    s_frame(&sb, "T", 3);
    s_send(g_producer, &sb);
    RP_ASSERT_OK(s_cycle_when_ready(g_router));
    reply_view_t r = s_reply();
    cr_assert_eq(r.accepted, 3);
    cr_assert_eq(r.duplicates + r.rejected + r.retry, 0);
    cr_assert_eq(fixture_entries(&g_fx, SDB_STATE), 3, "the messages are durable");
    cr_assert_eq(commit_progress(g_c)->committed, 3, "progress follows the commit");
    s_send(g_producer, &sb);
    RP_ASSERT_OK(s_cycle_when_ready(g_router));
    r = s_reply();
    cr_assert_eq(r.duplicates, 3, "the same frame again is all duplicates");
    cr_assert_eq(r.accepted, 0);
    msgpack_sbuffer_destroy(&sb);
}

Test(commit, frames_that_wait_together_share_one_transaction)
{
    s_open(16 << 20, 16 << 20, 1000000, 1 << 20);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (int f = 0; f < 5; f++) {
        char prefix[16];
        snprintf(prefix, sizeof prefix, "F%d", f);
        s_frame(&sb, prefix, 2);
        s_send(g_producer, &sb);
    }
    RP_ASSERT_OK(s_cycle_when_ready(g_router));
    for (int f = 0; f < 5; f++) cr_assert_eq(s_reply().accepted, 2, "reply %d", f);
    cr_assert_eq(commit_stats(g_c)->commits, 1, "five frames, one commit");
    cr_assert_eq(commit_stats(g_c)->frames, 5);
    cr_assert_eq(commit_stats(g_c)->accepted, 10);
    msgpack_sbuffer_destroy(&sb);
}

Test(commit, a_fire_and_forget_frame_is_applied_without_a_reply)
{
    s_open(16 << 20, 16 << 20, 1000000, 1 << 20);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    s_frame(&sb, "P", 4);
    s_send(g_pusher, &sb);
    RP_ASSERT_OK(s_cycle_when_ready(g_pull));
    cr_assert_eq(fixture_entries(&g_fx, SDB_STATE), 4);
    cr_assert_not(s_reply_waiting(), "PULL ingest is never answered");
    msgpack_sbuffer_destroy(&sb);
}

Test(commit, a_frame_over_the_size_limit_is_rejected_and_dead_lettered)
{
    s_open(16 << 20, 16 << 20, 1000000, 1024);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    s_frame(&sb, "BIG", 40);
    cr_assert_gt(sb.size, 1024);
    s_send(g_producer, &sb);
    RP_ASSERT_OK(s_cycle_when_ready(g_router));
    reply_view_t r = s_reply();
    cr_assert_eq(r.rejected, 1);
    cr_assert_eq(r.accepted, 0);
    cr_assert(strstr(r.first_reason, "exceeds the limit of 1024 bytes"), "%s", r.first_reason);
    cr_assert_eq(fixture_entries(&g_fx, SDB_STATE), 0);
    cr_assert_eq(fixture_entries(&g_fx, SDB_DLQ), 1);
    msgpack_sbuffer_destroy(&sb);
}

Test(commit, over_the_lag_limit_frames_are_answered_busy_and_not_applied)
{
    s_open(16 << 20, 16 << 20, 2, 1 << 20);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    s_frame(&sb, "A", 2); /* two changes committed, none aggregated: lag 2 */
    s_send(g_producer, &sb);
    RP_ASSERT_OK(s_cycle_when_ready(g_router));
    cr_assert_eq(s_reply().accepted, 2);
    s_frame(&sb, "B", 2);
    s_send(g_producer, &sb);
    s_send(g_pusher, &sb);
    RP_ASSERT_OK(s_cycle_when_ready(g_router));
    reply_view_t r = s_reply();
    cr_assert(r.retry, "busy is a retry reply");
    cr_assert(strstr(r.error, "busy"), "%s", r.error);
    cr_assert_eq(r.accepted + r.duplicates + r.rejected, 0, "a retry reply counts nothing");
    cr_assert_eq(fixture_entries(&g_fx, SDB_STATE), 2, "nothing of B was applied");
    cr_assert_eq(commit_stats(g_c)->busy_replies, 1);
    /* The reducer catches up: batch 1 is acknowledged, the lag drops to 0 and
     * the fire-and-forget frame that waited in its socket is applied. */
    uint64_t id = 1;
    frame_ack_encode(&sb, changelog_instance(g_log), &fixture_rid, &id, 1);
    msgpack_sbuffer_clear(&sb);
    frame_ack_encode(&sb, changelog_instance(g_log), &fixture_rid, &id, 1);
    s_send(g_reducer, &sb);
    RP_ASSERT_OK(s_cycle_when_ready(g_acks));
    RP_ASSERT_OK(commit_cycle(g_c, g_router, g_pull, g_acks));
    cr_assert_eq(fixture_entries(&g_fx, SDB_STATE), 4, "B arrived by PULL and was kept");
    msgpack_sbuffer_destroy(&sb);
}

Test(commit, an_ack_prunes_its_batch_and_moves_the_progress)
{
    s_open(16 << 20, 16 << 20, 1000000, 1 << 20);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    s_frame(&sb, "K", 3);
    s_send(g_producer, &sb);
    RP_ASSERT_OK(s_cycle_when_ready(g_router));
    s_reply();
    cr_assert_eq(fixture_entries(&g_fx, SDB_BATCHES), 1);
    cr_assert_eq(commit_progress(g_c)->applied, 0);
    uint64_t id = 1;
    msgpack_sbuffer_clear(&sb);
    frame_ack_encode(&sb, changelog_instance(g_log), &fixture_rid, &id, 1);
    s_send(g_reducer, &sb);
    RP_ASSERT_OK(s_cycle_when_ready(g_acks));
    cr_assert_eq(fixture_entries(&g_fx, SDB_BATCHES), 0);
    cr_assert_eq(fixture_entries(&g_fx, SDB_LOG), 0);
    cr_assert_eq(commit_progress(g_c)->applied, 3);
    cr_assert_eq(commit_stats(g_c)->batches_pruned, 1);
    cr_assert_eq(commit_stats(g_c)->acks_received, 1);
    msgpack_sbuffer_destroy(&sb);
}

/* Commits one frame of n messages (one batch) and returns once answered. */
static void s_commit_one_batch(msgpack_sbuffer *sb, const char *prefix)
{
    s_frame(sb, prefix, 2);
    s_send(g_producer, sb);
    RP_ASSERT_OK(s_cycle_when_ready(g_router));
    cr_assert_eq(s_reply().accepted, 2);
}

/* Sends an ACK of batch id from reducer on behalf of state, runs a cycle. */
static void s_ack(msgpack_sbuffer *sb, const frame_id_t *state, const frame_id_t *reducer,
                  uint64_t id)
{
    msgpack_sbuffer_clear(sb);
    frame_ack_encode(sb, state, reducer, &id, 1);
    s_send(g_reducer, sb);
    RP_ASSERT_OK(s_cycle_when_ready(g_acks));
}

Test(commit, an_ack_for_another_state_instance_is_dropped_and_counted)
{
    s_open(16 << 20, 16 << 20, 1000000, 1 << 20);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    s_commit_one_batch(&sb, "X");
    s_ack(&sb, &fixture_sid, &fixture_rid, 1); /* fixture_sid is not this store's id */
    cr_assert_eq(fixture_entries(&g_fx, SDB_BATCHES), 1, "the batch was not pruned");
    cr_assert_eq(commit_stats(g_c)->foreign_acks, 1);
    cr_assert_eq(commit_stats(g_c)->acks_received, 0);
    msgpack_sbuffer_destroy(&sb);
}

Test(commit, the_first_reducer_to_ack_binds_the_state_and_a_second_one_is_refused)
{
    s_open(16 << 20, 16 << 20, 1000000, 1 << 20);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    const frame_id_t second = {{0x22}};
    s_commit_one_batch(&sb, "A");
    s_commit_one_batch(&sb, "B");
    s_ack(&sb, changelog_instance(g_log), &fixture_rid, 1);
    cr_assert_eq(commit_stats(g_c)->batches_pruned, 1, "the first reducer's ACK counts");
    s_ack(&sb, changelog_instance(g_log), &second, 2);
    cr_assert_eq(commit_stats(g_c)->foreign_acks, 1, "a second reducer's ACK is refused");
    cr_assert_eq(fixture_entries(&g_fx, SDB_BATCHES), 1, "batch 2 was not pruned");
    /* the binding is durable: a restarted state refuses the second reducer too */
    commit_destroy(&g_c);
    commit_opts_t opts = {.max_frame = 1 << 20, .group_max = 64, .max_lag = 1000000,
                          .map_max = 16 << 20};
    int err = 0;
    cr_assert_not_null(g_c = commit_new(g_fx.st, g_log, g_in, g_dlq, g_d, &opts, &err));
    s_ack(&sb, changelog_instance(g_log), &second, 2);
    cr_assert_eq(commit_stats(g_c)->foreign_acks, 1);
    s_ack(&sb, changelog_instance(g_log), &fixture_rid, 2);
    cr_assert_eq(fixture_entries(&g_fx, SDB_BATCHES), 0, "the bound reducer's ACK counts");
    msgpack_sbuffer_destroy(&sb);
}

Test(commit, a_bad_ack_frame_is_counted_and_dropped)
{
    s_open(16 << 20, 16 << 20, 1000000, 1 << 20);
    cr_assert_eq(zmq_send(g_reducer, "\x93\x01\x03\xc1", 4, 0), 4);
    RP_ASSERT_OK(s_cycle_when_ready(g_acks));
    cr_assert_eq(commit_stats(g_c)->bad_ack_frames, 1);
    cr_assert_eq(commit_stats(g_c)->acks_received, 0);
}

Test(commit, a_full_map_is_grown_and_the_group_applied)
{
    s_open(64 << 10, 16 << 20, 1000000, 1 << 20);
    size_t before = store_map_size(g_fx.st);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    s_frame(&sb, "GROW-A-LONGER-TRADE-ID-TO-FILL-PAGES", 600);
    s_send(g_producer, &sb);
    RP_ASSERT_OK(s_cycle_when_ready(g_router));
    reply_view_t r = s_reply();
    cr_assert_eq(r.accepted, 600, "retry=%d error=%s", r.retry, r.error);
    cr_assert_gt(store_map_size(g_fx.st), before, "the map grew");
    cr_assert_eq(fixture_entries(&g_fx, SDB_STATE), 600);
    cr_assert_eq(commit_stats(g_c)->commit_failures, 0);
    msgpack_sbuffer_destroy(&sb);
}

Test(commit, a_full_map_at_its_cap_answers_retry_and_keeps_nothing)
{
    s_open(64 << 10, 64 << 10, 1000000, 1 << 20);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    s_frame(&sb, "FULL-A-LONGER-TRADE-ID-TO-FILL-PAGES", 600);
    s_send(g_producer, &sb);
    int rc = s_cycle_when_ready(g_router);
    RP_ASSERT_RC(rc, RP_EFULL);
    reply_view_t r = s_reply();
    cr_assert(r.retry);
    cr_assert(strstr(r.error, "storage full"), "%s", r.error);
    cr_assert_eq(r.accepted + r.rejected, 0);
    cr_assert_eq(commit_stats(g_c)->commit_failures, 1);
    cr_assert_eq(fixture_entries(&g_fx, SDB_STATE), 0, "nothing of the group was kept");
    cr_assert_eq(fixture_entries(&g_fx, SDB_DLQ), 0);
    cr_assert_eq(commit_progress(g_c)->committed, 0);
    msgpack_sbuffer_destroy(&sb);
}

/* The stored version of trade id (asserts it is stored). */
static int64_t s_stored_version(const char *id)
{
    MDB_txn *txn = NULL;
    RP_ASSERT_OK(store_begin(g_fx.st, 1, &txn));
    MDB_val k = {strlen(id), (void *)id}, v;
    cr_assert_eq(mdb_get(txn, store_dbi(g_fx.st, SDB_STATE), &k, &v), 0, "%s is stored", id);
    hier_levels_t levels;
    char why[128];
    RP_ASSERT_OK(hier_levels_parse(HIER_DEFAULT, &levels, why, sizeof why));
    state_row_t row;
    RP_ASSERT_OK(tables_state_decode(v.mv_data, v.mv_size, &levels, &row));
    store_abort(&txn);
    return row.version;
}

Test(commit, frames_decoded_ahead_on_a_thread_are_applied_in_order_with_a_reply_each)
{
    g_ahead = 2; /* fewer buffers than frames: each is reused */
    s_open(16 << 20, 16 << 20, 1000000, 1 << 20);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    /* Frame f: trade SAME at version f + 1 and trade U<f>; frame 4 also one
     * invalid message; frame 7 repeats frame 3. */
    for (int f = 0; f < 10; f++) {
        int src = f == 7 ? 3 : f;
        char value[16], uid[16];
        snprintf(value, sizeof value, "%d", src);
        snprintf(uid, sizeof uid, "U%d", src);
        msgpack_sbuffer_clear(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, f == 4 ? 3 : 2);
        fixture_pack_msg(&pk, "SAME", src + 1, value, "Delta", "AMER", "FXSpot");
        fixture_pack_msg(&pk, uid, 1, "1", "Delta", "AMER", "FXSpot");
        if (f == 4) fixture_pack_msg(&pk, "BAD", 1, "x", "Delta", "AMER", "FXSpot");
        s_send(g_producer, &sb);
    }
    int replies = 0;
    while (replies < 10) {
        /* the frames that had arrived form one group; the rest the next */
        if (replies == (int)commit_stats(g_c)->frames)
            RP_ASSERT_OK(s_cycle_when_ready(g_router));
        reply_view_t r = s_reply();
        int f = replies++;
        if (f == 7) {
            cr_assert_eq(r.duplicates, 2, "frame 7 repeats frame 3: both stale by then");
            cr_assert_eq(r.accepted, 0);
        } else {
            cr_assert_eq(r.accepted, 2, "frame %d", f);
            cr_assert_eq(r.rejected, f == 4, "frame %d", f);
        }
    }
    cr_assert_eq(s_stored_version("SAME"), 10, "the last frame's version won");
    cr_assert_eq(fixture_entries(&g_fx, SDB_STATE), 10, "SAME and U0..U9 but U7");
    cr_assert_eq(fixture_entries(&g_fx, SDB_DLQ), 1, "the invalid message");
    cr_assert_eq(commit_progress(g_c)->committed, 18, "two changes per frame but frame 7");
    msgpack_sbuffer_destroy(&sb);
}

Test(commit, a_map_grown_in_the_middle_of_a_group_decoded_ahead_applies_it_once)
{
    g_ahead = 2;
    s_open(64 << 10, 16 << 20, 1000000, 1 << 20);
    size_t before = store_map_size(g_fx.st);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (int f = 0; f < 6; f++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "GROW-%d-A-LONGER-TRADE-ID-TO-FILL-PAGES", f);
        s_frame(&sb, prefix, 100);
        s_send(g_producer, &sb);
    }
    int answered = 0;
    while (answered < 6) {
        if (answered == (int)commit_stats(g_c)->frames) RP_ASSERT_OK(s_cycle_when_ready(g_router));
        reply_view_t r = s_reply();
        cr_assert_eq(r.accepted, 100, "frame %d: retry=%d error=%s", answered, r.retry, r.error);
        answered++;
    }
    cr_assert_gt(store_map_size(g_fx.st), before, "the map grew");
    cr_assert_eq(fixture_entries(&g_fx, SDB_STATE), 600);
    cr_assert_eq(commit_progress(g_c)->committed, 600, "every change once");
    cr_assert_eq(commit_stats(g_c)->commit_failures, 0);
    msgpack_sbuffer_destroy(&sb);
}

Test(commit, batches_committed_before_a_group_go_out_while_it_is_applied)
{
    s_open(16 << 20, 16 << 20, 1000000, 1 << 20);
    void *mapper = zmq_socket(g_ctx, ZMQ_PULL);
    char ep[96];
    snprintf(ep, sizeof ep, "inproc://commit-%s-0", g_work_ep);
    cr_assert_eq(zmq_connect(mapper, ep), 0, "%s", ep);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    s_commit_one_batch(&sb, "FIRST");
    cr_assert_eq(dispatch_stats(g_d)->dispatched, 0, "commit_cycle sends nothing of its own group");
    s_frame(&sb, "SECOND-A", 2);
    s_send(g_producer, &sb);
    s_frame(&sb, "SECOND-B", 2);
    s_send(g_producer, &sb);
    RP_ASSERT_OK(s_cycle_when_ready(g_router));
    cr_assert_eq(dispatch_stats(g_d)->dispatched, 1, "batch 1 went out during the next group");
    zmq_pollitem_t it = {mapper, 0, ZMQ_POLLIN, 0};
    cr_assert_eq(zmq_poll(&it, 1, 2000), 1, "the mapper has it");
    int linger = 0;
    zmq_setsockopt(mapper, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(mapper);
    msgpack_sbuffer_destroy(&sb);
}

Test(commit, after_each_commit_the_map_has_room_for_twice_what_it_added)
{
    s_open(256 << 10, 64 << 20, 1000000, 1 << 20);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    uint64_t map, used, before;
    RP_ASSERT_OK(store_usage(g_fx.st, &map, &before));
    int grew = 0;
    for (int f = 0; f < 6; f++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "AHEAD-%d-A-LONGER-TRADE-ID-TO-FILL-PAGES", f);
        s_frame(&sb, prefix, 300);
        s_send(g_producer, &sb);
        RP_ASSERT_OK(s_cycle_when_ready(g_router));
        cr_assert_eq(s_reply().accepted, 300);
        uint64_t old_map = map;
        RP_ASSERT_OK(store_usage(g_fx.st, &map, &used));
        grew += map > old_map;
        cr_assert_geq(map - used, 2 * (used - before),
                      "commit %d: %llu bytes free after adding %llu", f,
                      (unsigned long long)(map - used), (unsigned long long)(used - before));
        before = used;
    }
    cr_assert_gt(grew, 0, "the map grew");
    cr_assert_eq(commit_stats(g_c)->commit_failures, 0);
    msgpack_sbuffer_destroy(&sb);
}

Test(commit, destroy_clears_the_pointer_and_accepts_null)
{
    s_open(16 << 20, 16 << 20, 1000000, 1 << 20);
    cr_assert_not_null(g_c);
    commit_destroy(&g_c);
    cr_assert_null(g_c, "destroy must clear the caller's pointer");
    commit_destroy(&g_c);
    commit_destroy(NULL);
}
