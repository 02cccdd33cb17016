/* Unit tests for state/dispatch.h on a real store and change log, with the
 * WORK frames read back from an inproc PULL socket: new batches go out in id
 * order up to the window, an acknowledgement frees a slot, a batch that is
 * not acknowledged in time is re-sent byte for byte, a full socket loses
 * nothing, and a batch pruned meanwhile leaves the window. */
#include "../../proto/frame.h"
#include "../../proto/tables.h"
#include "../../state/changelog.h"
#include "../../state/dispatch.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <czmq.h>
#include <stdio.h>
#include <string.h>

#define REDELIVER_MS 1000

static fixture_store_t g_fx;
static changelog_t *g_log;
static dispatch_t *g_d;
static void *g_ctx, *g_push, *g_pull;
static char g_ep[64];
static int g_seq;

/* Appends n changes (two per batch) and commits them, cut into batches. */
static void s_commit_changes(int n)
{
    MDB_txn *txn;
    RP_ASSERT_OK(store_begin(g_fx.st, 0, &txn));
    for (int i = 0; i < n; i++, g_seq++) {
        char path[32];
        snprintf(path, sizeof path, "Delta::AMER::D%d", g_seq);
        change_t c = {.has_new = 1, .new_value = g_seq, .new_path = path, .new_len = strlen(path)};
        RP_ASSERT_OK(changelog_append(g_log, txn, &c));
    }
    RP_ASSERT_OK(changelog_cut(g_log, txn));
    RP_ASSERT_OK(store_commit(&txn));
    changelog_committed(g_log);
}

static void s_connect_pull(void)
{
    g_pull = zmq_socket(g_ctx, ZMQ_PULL);
    cr_assert_not_null(g_pull);
    cr_assert_eq(zmq_connect(g_pull, g_ep), 0);
}

static void s_setup(void)
{
    static int n;
    fixture_store_open(&g_fx, "dispatch", tables_state_dbs, 16 << 20);
    int err = 0;
    g_log = changelog_new(g_fx.st, 2, 0, 1, &err);
    cr_assert_not_null(g_log, "changelog_new: %s", rp_strerror(err));
    g_ctx = zmq_ctx_new();
    g_push = zmq_socket(g_ctx, ZMQ_PUSH);
    snprintf(g_ep, sizeof g_ep, "inproc://dispatch-%d-%d", (int)getpid(), n++);
    cr_assert_eq(zmq_bind(g_push, g_ep), 0);
    g_d = dispatch_new(g_log, g_fx.st, g_push, 3, REDELIVER_MS);
    cr_assert_not_null(g_d);
    g_seq = 0;
    g_pull = NULL;
}

static void s_teardown(void)
{
    dispatch_destroy(&g_d);
    int zero = 0;
    if (g_pull) {
        zmq_setsockopt(g_pull, ZMQ_LINGER, &zero, sizeof zero);
        zmq_close(g_pull);
    }
    zmq_setsockopt(g_push, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(g_push);
    zmq_ctx_term(g_ctx);
    changelog_destroy(&g_log);
    fixture_store_close(&g_fx);
}

TestSuite(dispatch, .init = s_setup, .fini = s_teardown);

/* Reads the WORK frames waiting on the PULL socket: their batch ids into
 * ids[], their bytes (if raw) into raw[]. Returns how many. */
static int s_drain(uint64_t *ids, uint64_t *watermarks, char raw[][4096], size_t *rawlen)
{
    int n = 0;
    for (;;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, g_pull, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return n;
        }
        msgpack_unpacked unp;
        work_t w;
        char why[160];
        RP_ASSERT_OK(frame_work_decode(zmq_msg_data(&m), zmq_msg_size(&m), &unp, &w, why,
                                       sizeof why), "%s", why);
        cr_assert_lt(n, 16);
        ids[n] = w.batch_id;
        if (watermarks) watermarks[n] = w.watermark;
        if (raw) {
            cr_assert_leq(zmq_msg_size(&m), sizeof raw[n]);
            memcpy(raw[n], zmq_msg_data(&m), zmq_msg_size(&m));
            rawlen[n] = zmq_msg_size(&m);
        }
        n++;
        msgpack_unpacked_destroy(&unp);
        zmq_msg_close(&m);
    }
}

Test(dispatch, sends_new_batches_in_id_order_up_to_the_window)
{
    s_connect_pull();
    s_commit_changes(10); /* batches 1..5 of two changes */
    RP_ASSERT_OK(dispatch_run(g_d, 1, 0));
    uint64_t ids[16], wm[16];
    cr_assert_eq(s_drain(ids, wm, NULL, NULL), 3, "a window of 3 sends 3 of 5 batches");
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(ids[i], (uint64_t)i + 1, "frame %d carries batch %d", i, i + 1);
        cr_assert_eq(wm[i], 1, "the watermark is stamped on every frame");
    }
    cr_assert_eq(dispatch_inflight(g_d), 3);
    cr_assert_eq(dispatch_stats(g_d)->dispatched, 3);
    cr_assert(dispatch_has_unsent(g_d, 6) == 0, "a full window has nothing to send");
}

Test(dispatch, an_acknowledgement_frees_a_slot_for_the_next_batch)
{
    s_connect_pull();
    s_commit_changes(10);
    RP_ASSERT_OK(dispatch_run(g_d, 1, 0));
    uint64_t ids[16];
    s_drain(ids, NULL, NULL, NULL);
    dispatch_acked(g_d, 2);
    cr_assert_eq(dispatch_inflight(g_d), 2);
    cr_assert(dispatch_has_unsent(g_d, 6), "batches 4 and 5 wait and the window has room");
    RP_ASSERT_OK(dispatch_run(g_d, 1, 1));
    cr_assert_eq(s_drain(ids, NULL, NULL, NULL), 1);
    cr_assert_eq(ids[0], 4, "the next batch in id order, not a re-send");
    cr_assert_eq(dispatch_stats(g_d)->acked, 1);
}

Test(dispatch, an_unacknowledged_batch_is_resent_byte_for_byte_after_the_timeout)
{
    s_connect_pull();
    s_commit_changes(2); /* one batch */
    RP_ASSERT_OK(dispatch_run(g_d, 1, 0));
    static char first[16][4096], again[16][4096];
    size_t flen[16], alen[16];
    uint64_t ids[16];
    cr_assert_eq(s_drain(ids, NULL, first, flen), 1);
    RP_ASSERT_OK(dispatch_run(g_d, 1, REDELIVER_MS - 1));
    cr_assert_eq(s_drain(ids, NULL, again, alen), 0, "nothing is re-sent before the timeout");
    cr_assert_eq(dispatch_next_due(g_d, REDELIVER_MS - 1, 5000), 10,
                 "a due batch is retried on the short tick, not in a busy loop");
    RP_ASSERT_OK(dispatch_run(g_d, 1, REDELIVER_MS));
    /* in two copies (for two mappers; here both reach the one) */
    cr_assert_eq(s_drain(ids, NULL, again, alen), 2, "re-sent once the timeout passed, twice");
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(alen[i], flen[0]);
        cr_assert_eq(memcmp(again[i], first[0], flen[0]), 0, "the re-send is identical");
    }
    cr_assert_eq(dispatch_stats(g_d)->redelivered, 1);
    cr_assert_eq(dispatch_next_due(g_d, REDELIVER_MS, 5000), REDELIVER_MS,
                 "the next re-send is one timeout after the last");
}

/* The round robin deals a re-sent batch's two copies to two mappers, so a
 * mapper that is stopped but connected cannot hold it round after round. */
Test(dispatch, a_resent_batch_reaches_two_mappers)
{
    s_connect_pull();
    void *second = zmq_socket(g_ctx, ZMQ_PULL);
    cr_assert_not_null(second);
    cr_assert_eq(zmq_connect(second, g_ep), 0);
    s_commit_changes(2); /* one batch */
    RP_ASSERT_OK(dispatch_run(g_d, 1, 0));
    uint64_t ids[16];
    int first = s_drain(ids, NULL, NULL, NULL);
    void *t = g_pull; /* s_drain reads g_pull: swap to read the other */
    g_pull = second;
    int other = s_drain(ids, NULL, NULL, NULL);
    cr_assert_eq(first + other, 1, "one copy when first sent");
    for (int round = 1; round <= 3; round++) {
        RP_ASSERT_OK(dispatch_run(g_d, 1, (int64_t)round * REDELIVER_MS));
        g_pull = t;
        int a = s_drain(ids, NULL, NULL, NULL);
        cr_assert(a == 1 && ids[0] == 1, "round %d: the first mapper got %d copies", round, a);
        g_pull = second;
        int b = s_drain(ids, NULL, NULL, NULL);
        cr_assert(b == 1 && ids[0] == 1, "round %d: the second mapper got %d copies", round, b);
    }
    g_pull = t;
    int zero = 0;
    zmq_setsockopt(second, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close(second);
}

Test(dispatch, a_socket_without_mappers_loses_no_batch)
{
    s_commit_changes(4); /* batches 1 and 2, and nobody connected */
    RP_ASSERT_OK(dispatch_run(g_d, 1, 0));
    cr_assert_eq(dispatch_inflight(g_d), 0, "nothing counts as sent when nothing could go");
    cr_assert(dispatch_has_unsent(g_d, 3));
    s_connect_pull();
    /* As the daemon's loop does: wait until the work socket can take a frame. */
    zmq_pollitem_t it = {g_push, 0, ZMQ_POLLOUT, 0};
    cr_assert_eq(zmq_poll(&it, 1, 1000), 1, "the work socket becomes writable");
    RP_ASSERT_OK(dispatch_run(g_d, 1, 1));
    uint64_t ids[16];
    int got = s_drain(ids, NULL, NULL, NULL);
    cr_assert_eq(got, 2, "both batches go once a mapper is there (got %d, in flight %u)", got,
                 dispatch_inflight(g_d));
    cr_assert_eq(ids[0], 1);
    cr_assert_eq(ids[1], 2);
}

Test(dispatch, a_batch_pruned_meanwhile_leaves_the_window_instead_of_being_resent)
{
    s_connect_pull();
    s_commit_changes(2);
    RP_ASSERT_OK(dispatch_run(g_d, 1, 0));
    uint64_t ids[16];
    cr_assert_eq(s_drain(ids, NULL, NULL, NULL), 1);
    /* The ack is committed (the batch pruned) but dispatch_acked not called. */
    MDB_txn *txn;
    int pruned = 0;
    RP_ASSERT_OK(store_begin(g_fx.st, 0, &txn));
    RP_ASSERT_OK(changelog_ack(g_log, txn, 1, &pruned));
    RP_ASSERT_OK(store_commit(&txn));
    cr_assert_eq(pruned, 1);
    RP_ASSERT_OK(dispatch_run(g_d, 2, REDELIVER_MS));
    cr_assert_eq(s_drain(ids, NULL, NULL, NULL), 0, "a pruned batch is not re-sent");
    cr_assert_eq(dispatch_inflight(g_d), 0);
}

Test(dispatch, a_duplicate_acknowledgement_is_counted_as_stale)
{
    s_connect_pull();
    s_commit_changes(2);
    RP_ASSERT_OK(dispatch_run(g_d, 1, 0));
    dispatch_acked(g_d, 1);
    dispatch_acked(g_d, 1);
    dispatch_acked(g_d, 99);
    cr_assert_eq(dispatch_stats(g_d)->acked, 1);
    cr_assert_eq(dispatch_stats(g_d)->stale_acks, 2);
}

Test(dispatch, next_due_is_the_cap_with_nothing_in_flight)
{
    cr_assert_eq(dispatch_next_due(g_d, 12345, 200), 200);
}

Test(dispatch, a_raised_watermark_skips_batches_below_it)
{
    s_connect_pull();
    s_commit_changes(6); /* batches 1..3 */
    /* Batches below 3 were applied in an earlier run (watermark 3). */
    RP_ASSERT_OK(dispatch_run(g_d, 3, 0));
    uint64_t ids[16];
    cr_assert_eq(s_drain(ids, NULL, NULL, NULL), 1);
    cr_assert_eq(ids[0], 3);
}

Test(dispatch, destroy_clears_the_pointer_and_accepts_null)
{
    cr_assert_not_null(g_d);
    dispatch_destroy(&g_d);
    cr_assert_null(g_d, "destroy must clear the caller's pointer");
    dispatch_destroy(&g_d);
    dispatch_destroy(NULL);
}
