/* Unit tests for state/changelog.h on a real store in a mkdtemp directory:
 * sequence numbers, cutting into batches, WORK frames rebuilt from the log,
 * pruning on acknowledgement, rollback of counters on abort, and progress. */
#include "../../common/rperr.h"
#include "../../proto/tables.h"
#include "../../common/clock.h"
#include "../../state/changelog.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fixture_store_t g_fx;
static changelog_t *g_log;
static char g_paths[64][24];

static void s_open(uint32_t batch_max)
{
    int err = 0;
    fixture_store_reopen(&g_fx, tables_state_dbs, 16 << 20);
    g_log = changelog_new(g_fx.st, batch_max, 0, 1, &err);
    cr_assert_not_null(g_log, "changelog_new: %d %s", err, rp_strerror(err));
}

static void s_close(void)
{
    changelog_destroy(&g_log);
}

static void s_setup(void)
{
    fixture_store_open(&g_fx, "changelog", tables_state_dbs, 16 << 20);
    for (int i = 0; i < 64; i++) snprintf(g_paths[i], sizeof g_paths[i], "R%d::D%d", i % 3, i);
    s_open(4);
}

static void s_teardown(void)
{
    s_close();
    fixture_store_close(&g_fx);
}

TestSuite(changelog, .init = s_setup, .fini = s_teardown);

/* The i-th test change: a move from path i-1 to path i (new trade for i=0). */
static change_t s_change(int i)
{
    change_t c = {.has_new = 1, .new_value = (money_t)i * 1000001 - 7, .new_path = g_paths[i],
                  .new_len = strlen(g_paths[i])};
    if (i > 0) {
        c.has_old = 1;
        c.old_value = -(money_t)i;
        c.old_path = g_paths[i - 1];
        c.old_len = strlen(g_paths[i - 1]);
    }
    return c;
}

/* Appends changes [from, to) in one transaction, cuts and commits. */
static void s_append(int from, int to)
{
    MDB_txn *txn;
    int rc = store_begin(g_fx.st, 0, &txn);
    RP_ASSERT_OK(rc);
    for (int i = from; i < to; i++) {
        change_t c = s_change(i);
        rc = changelog_append(g_log, txn, &c);
        RP_ASSERT_OK(rc, "append %d", i);
    }
    rc = changelog_cut(g_log, txn);
    RP_ASSERT_OK(rc, "cut");
    rc = store_commit(&txn);
    RP_ASSERT_OK(rc, "commit");
    changelog_committed(g_log);
}

static void s_ack(uint64_t id, int want_pruned)
{
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_fx.st, 0, &txn), 0);
    int pruned = -1;
    int rc = changelog_ack(g_log, txn, id, &pruned);
    RP_ASSERT_OK(rc, "ack %llu", (unsigned long long)id);
    cr_assert_eq(pruned, want_pruned, "ack %llu: pruned=%d", (unsigned long long)id, pruned);
    rc = changelog_cut(g_log, txn);
    cr_assert_eq(rc, 0);
    cr_assert_eq(store_commit(&txn), 0);
    changelog_committed(g_log);
}

static int s_batch(uint64_t from, uint64_t *id, uint64_t *first, uint64_t *last)
{
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_fx.st, 1, &txn), 0);
    batch_row_t row = {0};
    int rc = changelog_batch_next(g_log, txn, from, id, &row);
    *first = row.first;
    *last = row.last;
    store_abort(&txn);
    return rc;
}

static void s_progress(changelog_progress_t *p)
{
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_fx.st, 1, &txn), 0);
    int rc = changelog_progress(g_log, txn, p);
    RP_ASSERT_OK(rc);
    store_abort(&txn);
}

/* Builds the WORK frame of batch id into sb. */
static int s_work(uint64_t id, uint64_t first, uint64_t last, uint64_t wm, msgpack_sbuffer *sb)
{
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_fx.st, 1, &txn), 0);
    uint64_t bid;
    batch_row_t row = {first, last, 0};
    /* the stored row, for its commit time; a pruned batch keeps the arguments */
    if (changelog_batch_next(g_log, txn, id, &bid, &row) != 0 || bid != id)
        row = (batch_row_t){first, last, 0};
    int rc = changelog_work_frame(g_log, txn, id, &row, wm, sb);
    store_abort(&txn);
    return rc;
}

static void s_expect_change(const msgpack_object *o, int i)
{
    change_t got, want = s_change(i);
    cr_assert_eq(frame_change_get(o, &got), 0, "change %d undecodable", i);
    cr_assert_eq(got.has_old, want.has_old, "change %d", i);
    cr_assert_eq(got.has_new, want.has_new, "change %d", i);
    cr_assert_eq(got.new_value, want.new_value, "change %d", i);
    cr_assert_eq(got.new_len, want.new_len, "change %d", i);
    cr_assert_eq(memcmp(got.new_path, want.new_path, got.new_len), 0, "change %d", i);
    if (want.has_old) {
        cr_assert_eq(got.old_value, want.old_value, "change %d", i);
        cr_assert_eq(got.old_len, want.old_len, "change %d", i);
        cr_assert_eq(memcmp(got.old_path, want.old_path, got.old_len), 0, "change %d", i);
    }
}

Test(changelog, fresh_log_has_nothing_committed)
{
    changelog_progress_t p;
    s_progress(&p);
    cr_assert_eq(p.committed, 0);
    cr_assert_eq(p.applied, 0);
    cr_assert_eq(p.next_batch, 1);
    cr_assert_eq(p.watermark, 1);
    cr_assert_eq(p.unacked_batches, 0);
    uint64_t id, f, l;
    cr_assert_eq(s_batch(0, &id, &f, &l), RP_ENOTFOUND);
}

Test(changelog, ten_changes_with_batch_max_4_cut_into_4_4_2)
{
    s_append(0, 10);
    const uint64_t want[3][3] = {{1, 1, 4}, {2, 5, 8}, {3, 9, 10}};
    uint64_t from = 0;
    for (int b = 0; b < 3; b++) {
        uint64_t id, first, last;
        int rc = s_batch(from, &id, &first, &last);
        RP_ASSERT_OK(rc, "batch %d", b);
        cr_assert_eq(id, want[b][0], "batch %d id %llu", b, (unsigned long long)id);
        cr_assert_eq(first, want[b][1], "batch %d first %llu", b, (unsigned long long)first);
        cr_assert_eq(last, want[b][2], "batch %d last %llu", b, (unsigned long long)last);
        from = id + 1;
    }
    uint64_t id, f, l;
    cr_assert_eq(s_batch(from, &id, &f, &l), RP_ENOTFOUND);
    cr_assert_eq(fixture_log_records(&g_fx), 10);
    cr_assert_eq(fixture_entries(&g_fx, SDB_BATCHES), 3);
}

Test(changelog, exact_multiple_of_batch_max_leaves_no_short_batch)
{
    s_append(0, 8);
    cr_assert_eq(fixture_entries(&g_fx, SDB_BATCHES), 2);
    uint64_t id, first, last;
    cr_assert_eq(s_batch(2, &id, &first, &last), 0);
    cr_assert_eq(first, 5);
    cr_assert_eq(last, 8);
}

Test(changelog, separate_cuts_are_never_merged)
{
    s_append(0, 3);
    s_append(3, 5);
    uint64_t id, first, last;
    cr_assert_eq(s_batch(0, &id, &first, &last), 0);
    cr_assert_eq(id, 1);
    cr_assert_eq(first, 1);
    cr_assert_eq(last, 3);
    cr_assert_eq(s_batch(2, &id, &first, &last), 0);
    cr_assert_eq(id, 2);
    cr_assert_eq(first, 4);
    cr_assert_eq(last, 5);
}

Test(changelog, cut_with_nothing_new_creates_no_batch)
{
    s_append(0, 2);
    s_append(2, 2);
    cr_assert_eq(fixture_entries(&g_fx, SDB_BATCHES), 1);
    changelog_progress_t p;
    s_progress(&p);
    cr_assert_eq(p.next_batch, 2);
}

Test(changelog, work_frame_carries_the_appended_changes)
{
    s_append(0, 10);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    int rc = s_work(2, 5, 8, 1, &sb);
    RP_ASSERT_OK(rc);
    msgpack_unpacked u;
    work_t w;
    char why[160] = "";
    rc = frame_work_decode(sb.data, sb.size, &u, &w, why, sizeof why);
    cr_assert_eq(rc, 0, "WORK frame undecodable: %s", why);
    cr_assert_eq(w.batch_id, 2);
    cr_assert_eq(w.watermark, 1);
    cr_assert_eq(w.n, 4);
    for (uint32_t i = 0; i < w.n; i++) s_expect_change(&w.changes[i], 4 + (int)i);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
}

Test(changelog, work_frame_carries_its_position_and_commit_time)
{
    uint64_t before = (uint64_t)clock_wall_us();
    s_append(0, 10); /* batches [1,4] [5,8] [9,10] */
    uint64_t after = (uint64_t)clock_wall_us();
    s_append(10, 12);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    RP_ASSERT_OK(s_work(2, 5, 8, 1, &sb));
    msgpack_unpacked u;
    work_t w;
    char why[160] = "";
    cr_assert_eq(frame_work_decode(sb.data, sb.size, &u, &w, why, sizeof why), 0, "%s", why);
    cr_assert_eq(w.pos.last_seq, 8);
    cr_assert_eq(w.pos.head_seq, 12, "the head is the last change committed");
    cr_assert(w.pos.commit_us >= before && w.pos.commit_us <= after,
              "commit time %llu outside [%llu, %llu]", (unsigned long long)w.pos.commit_us,
              (unsigned long long)before, (unsigned long long)after);
    cr_assert_eq(changelog_last_seq(g_log), 12);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
}

Test(changelog, work_frame_is_identical_when_rebuilt)
{
    s_append(0, 6);
    msgpack_sbuffer a, b;
    msgpack_sbuffer_init(&a);
    msgpack_sbuffer_init(&b);
    cr_assert_eq(s_work(1, 1, 4, 1, &a), 0);
    s_append(6, 9); /* unrelated later activity */
    cr_assert_eq(s_work(1, 1, 4, 1, &b), 0);
    /* the same changes and position; only the head, what the state has
     * committed since, moves */
    msgpack_unpacked ua, ub;
    work_t wa, wb;
    char why[160] = "";
    cr_assert_eq(frame_work_decode(a.data, a.size, &ua, &wa, why, sizeof why), 0, "%s", why);
    cr_assert_eq(frame_work_decode(b.data, b.size, &ub, &wb, why, sizeof why), 0, "%s", why);
    cr_assert(wa.pos.last_seq == 4 && wb.pos.last_seq == 4);
    cr_assert_eq(wa.pos.commit_us, wb.pos.commit_us);
    cr_assert(wa.pos.head_seq == 6 && wb.pos.head_seq == 9);
    cr_assert_eq(wa.n, wb.n);
    for (uint32_t i = 0; i < wa.n; i++) {
        s_expect_change(&wa.changes[i], (int)i);
        s_expect_change(&wb.changes[i], (int)i);
    }
    msgpack_unpacked_destroy(&ua);
    msgpack_unpacked_destroy(&ub);
    msgpack_sbuffer_destroy(&a);
    msgpack_sbuffer_destroy(&b);
}

Test(changelog, ack_prunes_batch_and_its_log_records)
{
    s_append(0, 10);
    s_ack(1, 1);
    cr_assert_eq(fixture_entries(&g_fx, SDB_BATCHES), 2);
    cr_assert_eq(fixture_log_records(&g_fx), 6);
    uint64_t id, first, last;
    cr_assert_eq(s_batch(0, &id, &first, &last), 0);
    cr_assert_eq(id, 2);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    cr_assert_eq(s_work(1, 1, 4, 1, &sb), RP_ENOTFOUND);
    msgpack_sbuffer_destroy(&sb);
    /* the remaining batches still build complete frames */
    msgpack_sbuffer_init(&sb);
    cr_assert_eq(s_work(2, 5, 8, 2, &sb), 0);
    msgpack_sbuffer_destroy(&sb);
}

Test(changelog, ack_of_middle_batch_keeps_neighbours_records)
{
    s_append(0, 10);
    s_ack(2, 1);
    cr_assert_eq(fixture_log_records(&g_fx), 6);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    cr_assert_eq(s_work(1, 1, 4, 1, &sb), 0, "batch 1 lost records");
    msgpack_sbuffer_clear(&sb);
    cr_assert_eq(s_work(3, 9, 10, 1, &sb), 0, "batch 3 lost records");
    msgpack_sbuffer_destroy(&sb);
}

Test(changelog, ack_of_unknown_or_pruned_batch_is_harmless)
{
    s_append(0, 5);
    s_ack(7, 0);
    s_ack(1, 1);
    s_ack(1, 0);
    cr_assert_eq(fixture_log_records(&g_fx), 1);
    cr_assert_eq(fixture_entries(&g_fx, SDB_BATCHES), 1);
}

Test(changelog, aborted_transaction_rolls_back_counters)
{
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_fx.st, 0, &txn), 0);
    for (int i = 0; i < 3; i++) {
        change_t c = s_change(i);
        cr_assert_eq(changelog_append(g_log, txn, &c), 0);
    }
    cr_assert_eq(changelog_cut(g_log, txn), 0);
    store_abort(&txn);
    changelog_aborted(g_log);
    s_append(5, 6);
    uint64_t id, first, last;
    int rc = s_batch(0, &id, &first, &last);
    RP_ASSERT_OK(rc);
    cr_assert_eq(id, 1, "batch id %llu after abort", (unsigned long long)id);
    cr_assert_eq(first, 1, "seq %llu after abort", (unsigned long long)first);
    cr_assert_eq(last, 1);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    cr_assert_eq(s_work(1, 1, 1, 1, &sb), 0);
    msgpack_unpacked u;
    work_t w;
    char why[160];
    cr_assert_eq(frame_work_decode(sb.data, sb.size, &u, &w, why, sizeof why), 0, "%s", why);
    s_expect_change(&w.changes[0], 5);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
}

Test(changelog, counters_survive_reopen)
{
    s_append(0, 5);
    s_close();
    s_open(4);
    s_append(5, 7);
    uint64_t id, first, last;
    cr_assert_eq(s_batch(3, &id, &first, &last), 0);
    cr_assert_eq(id, 3);
    cr_assert_eq(first, 6);
    cr_assert_eq(last, 7);
    changelog_progress_t p;
    s_progress(&p);
    cr_assert_eq(p.committed, 7);
    cr_assert_eq(p.next_batch, 4);
}

Test(changelog, progress_tracks_acknowledged_prefix)
{
    s_append(0, 10);
    changelog_progress_t p;
    s_progress(&p);
    cr_assert_eq(p.committed, 10);
    cr_assert_eq(p.applied, 0);
    cr_assert_eq(p.watermark, 1);
    cr_assert_eq(p.next_batch, 4);
    cr_assert_eq(p.unacked_batches, 3);
    s_ack(1, 1);
    s_progress(&p);
    cr_assert_eq(p.applied, 4);
    cr_assert_eq(p.watermark, 2);
    cr_assert_eq(p.unacked_batches, 2);
}

Test(changelog, progress_with_out_of_order_ack_waits_for_the_gap)
{
    s_append(0, 10);
    s_ack(2, 1);
    s_ack(3, 1);
    changelog_progress_t p;
    s_progress(&p);
    cr_assert_eq(p.applied, 0);
    cr_assert_eq(p.watermark, 1);
    cr_assert_eq(p.unacked_batches, 1);
    s_ack(1, 1);
    s_progress(&p);
    cr_assert_eq(p.applied, 10);
    cr_assert_eq(p.watermark, 4);
    cr_assert_eq(p.unacked_batches, 0);
}

/* The log's rows in key order: keys[i] and how many records row i holds. */
static size_t s_rows(uint64_t *keys, size_t *records, size_t *bytes, size_t cap)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    size_t n = 0;
    cr_assert_eq(store_begin(g_fx.st, 1, &txn), 0);
    cr_assert_eq(mdb_cursor_open(txn, store_dbi(g_fx.st, SDB_LOG), &cur), 0);
    for (int r = mdb_cursor_get(cur, &k, &v, MDB_FIRST); r == 0 && n < cap;
         r = mdb_cursor_get(cur, &k, &v, MDB_NEXT), n++) {
        keys[n] = store_u64_get(k.mv_data);
        bytes[n] = v.mv_size;
        records[n] = 0;
        size_t off = 0;
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        while (off < v.mv_size &&
               msgpack_unpack_next(&u, v.mv_data, v.mv_size, &off) == MSGPACK_UNPACK_SUCCESS)
            records[n]++;
        msgpack_unpacked_destroy(&u);
        cr_assert_eq(off, v.mv_size, "row %zu holds whole records", n);
    }
    mdb_cursor_close(cur);
    store_abort(&txn);
    return n;
}

static void s_del_row(uint64_t key)
{
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_fx.st, 0, &txn), 0);
    uint8_t k[8];
    store_u64_put(k, key);
    MDB_val kv = {8, k};
    cr_assert_eq(mdb_del(txn, store_dbi(g_fx.st, SDB_LOG), &kv, NULL), 0);
    cr_assert_eq(store_commit(&txn), 0);
}

Test(changelog, rows_hold_runs_of_records_and_never_span_two_batches)
{
    s_close();
    s_open(16);
    s_append(0, 40); /* batches 1-16, 17-32, 33-40 */
    uint64_t keys[64];
    size_t recs[64], bytes[64];
    size_t n = s_rows(keys, recs, bytes, 64);
    cr_assert_lt(n, 40, "%zu rows for 40 records: rows hold several", n);
    uint64_t next = 1;
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(keys[i], next, "row %zu is keyed by its first record's number", i);
        uint64_t last = keys[i] + recs[i] - 1;
        cr_assert_eq((keys[i] - 1) / 16, (last - 1) / 16, "row %zu (records %llu-%llu) stays in "
                     "one batch", i, (unsigned long long)keys[i], (unsigned long long)last);
        cr_assert(bytes[i] <= 1900 || recs[i] == 1, "row %zu: %zu bytes", i, bytes[i]);
        next = last + 1;
    }
    cr_assert_eq(next, 41, "every record is in a row");
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    cr_assert_eq(s_work(2, 17, 32, 1, &sb), 0);
    msgpack_sbuffer_destroy(&sb);
}

Test(changelog, work_frame_with_missing_records_is_refused_as_corrupt)
{
    s_close();
    s_open(64);
    /* 20 changes of ~420 bytes in one batch: rows of under 1900 bytes, several */
    char path[201];
    memset(path, 'P', 200);
    path[200] = '\0';
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_fx.st, 0, &txn), 0);
    for (int i = 0; i < 20; i++) {
        change_t c = {.has_new = 1, .new_value = i, .new_path = path, .new_len = 200,
                      .has_old = 1, .old_value = -i, .old_path = path, .old_len = 200};
        RP_ASSERT_OK(changelog_append(g_log, txn, &c));
    }
    RP_ASSERT_OK(changelog_cut(g_log, txn));
    RP_ASSERT_OK(store_commit(&txn));
    changelog_committed(g_log);
    uint64_t keys[64];
    size_t recs[64], bytes[64];
    size_t n = s_rows(keys, recs, bytes, 64);
    cr_assert_geq(n, 2);
    s_del_row(keys[1]); /* a row in the middle of the batch */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    RP_ASSERT_RC(s_work(1, 1, 20, 1, &sb), RP_EPROTO);
    s_del_row(keys[0]); /* and its first row */
    msgpack_sbuffer_clear(&sb);
    RP_ASSERT_RC(s_work(1, 1, 20, 1, &sb), RP_EPROTO);
    msgpack_sbuffer_destroy(&sb);
}

/* Rewrites the log as an earlier riskpipe wrote it: one record per row. */
static void s_split_rows(void)
{
    uint64_t keys[64];
    size_t recs[64], bytes[64];
    size_t n = s_rows(keys, recs, bytes, 64);
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_fx.st, 0, &txn), 0);
    MDB_dbi dbi = store_dbi(g_fx.st, SDB_LOG);
    for (size_t i = 0; i < n; i++) {
        uint8_t k[8];
        store_u64_put(k, keys[i]);
        MDB_val kv = {8, k}, v;
        cr_assert_eq(mdb_get(txn, dbi, &kv, &v), 0);
        char row[4096];
        memcpy(row, v.mv_data, v.mv_size);
        size_t len = v.mv_size, off = 0;
        cr_assert_eq(mdb_del(txn, dbi, &kv, NULL), 0);
        for (uint64_t seq = keys[i]; off < len; seq++) {
            size_t start = off;
            msgpack_unpacked u;
            msgpack_unpacked_init(&u);
            cr_assert_eq(msgpack_unpack_next(&u, row, len, &off), MSGPACK_UNPACK_SUCCESS);
            msgpack_unpacked_destroy(&u);
            uint8_t sk[8];
            store_u64_put(sk, seq);
            MDB_val skv = {8, sk}, sv = {off - start, row + start};
            cr_assert_eq(mdb_put(txn, dbi, &skv, &sv, 0), 0);
        }
    }
    cr_assert_eq(store_commit(&txn), 0);
}

Test(changelog, a_log_of_one_record_per_row_builds_the_same_frames)
{
    s_append(0, 10); /* batches 1-4, 5-8, 9-10 */
    msgpack_sbuffer rows[3], single[3];
    const uint64_t want[3][3] = {{1, 1, 4}, {2, 5, 8}, {3, 9, 10}};
    for (int b = 0; b < 3; b++) {
        msgpack_sbuffer_init(&rows[b]);
        cr_assert_eq(s_work(want[b][0], want[b][1], want[b][2], 1, &rows[b]), 0);
    }
    s_split_rows();
    cr_assert_eq(fixture_entries(&g_fx, SDB_LOG), 10, "one row per record now");
    for (int b = 0; b < 3; b++) {
        msgpack_sbuffer_init(&single[b]);
        cr_assert_eq(s_work(want[b][0], want[b][1], want[b][2], 1, &single[b]), 0);
        cr_assert_eq(single[b].size, rows[b].size, "batch %d", b);
        cr_assert_eq(memcmp(single[b].data, rows[b].data, rows[b].size), 0, "batch %d", b);
        msgpack_sbuffer_destroy(&rows[b]);
        msgpack_sbuffer_destroy(&single[b]);
    }
    s_ack(2, 1);
    cr_assert_eq(fixture_entries(&g_fx, SDB_LOG), 6, "the batch's four rows pruned");
}

Test(changelog, records_an_earlier_riskpipe_left_uncut_are_cut_at_open)
{
    /* Four records, one per row, committed with no batch around them. */
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_fx.st, 0, &txn), 0);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (int i = 0; i < 4; i++) {
        msgpack_sbuffer_clear(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        change_t c = s_change(i);
        frame_change_pack(&pk, &c);
        uint8_t k[8];
        store_u64_put(k, (uint64_t)i + 1);
        MDB_val kv = {8, k}, v = {sb.size, sb.data};
        cr_assert_eq(mdb_put(txn, store_dbi(g_fx.st, SDB_LOG), &kv, &v, 0), 0);
    }
    RP_ASSERT_OK(store_meta_put(txn, store_dbi(g_fx.st, SDB_META), TABLES_META_NEXT_SEQ, 5));
    cr_assert_eq(store_commit(&txn), 0);
    s_close();
    s_open(4);
    uint64_t id, first, last;
    RP_ASSERT_OK(s_batch(0, &id, &first, &last));
    cr_assert_eq(first, 1);
    cr_assert_eq(last, 4);
    msgpack_sbuffer_clear(&sb);
    RP_ASSERT_OK(s_work(id, 1, 4, id, &sb));
    s_append(4, 6); /* and what comes next starts a batch of its own */
    RP_ASSERT_OK(s_batch(id + 1, &id, &first, &last));
    cr_assert_eq(first, 5);
    cr_assert_eq(last, 6);
    msgpack_sbuffer_destroy(&sb);
}

Test(changelog, batch_max_zero_means_one_change_per_batch)
{
    s_close();
    s_open(0);
    s_append(0, 3);
    cr_assert_eq(fixture_entries(&g_fx, SDB_BATCHES), 3);
}

Test(changelog, destroy_clears_the_pointer_and_accepts_null)
{
    cr_assert_not_null(g_log);
    changelog_destroy(&g_log);
    cr_assert_null(g_log, "destroy must clear the caller's pointer");
    changelog_destroy(&g_log); /* already NULL: a no-op */
    changelog_destroy(NULL);
}
