/* Unit tests for reducer/apply.h on a real store in a mkdtemp directory:
 * exactly-once application of RESULT frames, the pruning floor, deletion of
 * rows that return to zero, and exact 128-bit aggregate values. */
#include "../../common/rperr.h"
#include "../../proto/mp.h"
#include "../../proto/tables.h"
#include "../../reducer/apply.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fixture_store_t g_fx;
static apply_t *g_ap;

typedef struct {
    const char *path;
    money_sum_t delta;
    int64_t count;
} d_t;

static void s_open(void)
{
    int err = 0;
    fixture_store_reopen(&g_fx, tables_reducer_dbs, 16 << 20);
    g_ap = apply_new(g_fx.st, 1, &err);
    cr_assert_not_null(g_ap, "apply_new: %d %s", err, rp_strerror(err));
}

static void s_close(void)
{
    apply_destroy(&g_ap);
}

static void s_setup(void)
{
    fixture_store_open(&g_fx, "apply", tables_reducer_dbs, 16 << 20);
    s_open();
}

static void s_teardown(void)
{
    s_close();
    fixture_store_close(&g_fx);
}

TestSuite(apply, .init = s_setup, .fini = s_teardown);

/* Encodes a RESULT frame of shard of shards for batch id with n deltas,
 * decodes it and applies it in its own transaction; commit = 0 aborts
 * instead. Returns *duplicate. */
static int s_apply_in(uint32_t shard, uint32_t shards, uint64_t id, const d_t *d, uint32_t n,
                      int commit)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    /* the largest batch, so that tests may use deltas up to its bound */
    /* batch id covers changes up to 10 x id; the state had 5 more */
    frame_result_head(&pk, &fixture_sid, id, 0, "test:1", FRAME_MAX_CHANGES,
                      &(frame_pos_t){.last_seq = id * 10, .head_seq = id * 10 + 5,
                                     .shard = shard, .shards = shards},
                      n);
    for (uint32_t i = 0; i < n; i++)
        frame_delta_pack(&pk, d[i].path, strlen(d[i].path), d[i].delta, d[i].count);
    msgpack_unpacked u;
    result_t r;
    char why[160] = "";
    int rc = frame_result_decode(sb.data, sb.size, &u, &r, why, sizeof why);
    cr_assert_eq(rc, 0, "RESULT undecodable: %s", why);
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_fx.st, 0, &txn), 0);
    int dup = -1;
    rc = apply_result(g_ap, txn, &r, &dup);
    RP_ASSERT_OK(rc, "apply_result");
    if (commit) {
        rc = store_commit(&txn);
        RP_ASSERT_OK(rc, "commit");
        apply_committed(g_ap);
    } else {
        store_abort(&txn);
        apply_aborted(g_ap);
    }
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
    return dup;
}

static int s_apply(uint64_t id, const d_t *d, uint32_t n, int commit)
{
    return s_apply_in(0, 1, id, d, n, commit);
}

static uint64_t s_prune_in(uint32_t shard, uint64_t watermark, int commit)
{
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_fx.st, 0, &txn), 0);
    uint64_t pruned = 0;
    int rc = apply_prune(g_ap, txn, shard, watermark, &pruned);
    RP_ASSERT_OK(rc, "apply_prune");
    if (commit) {
        cr_assert_eq(store_commit(&txn), 0);
        apply_committed(g_ap);
    } else {
        store_abort(&txn);
        apply_aborted(g_ap);
    }
    return pruned;
}

static uint64_t s_prune(uint64_t watermark, int commit)
{
    return s_prune_in(0, watermark, commit);
}

/* Reads an aggregate row with plain msgpack (independent of tables.c).
 * Returns 0 with the exact value string and count, or RP_ENOTFOUND. */
static int s_agg(const char *path, char *value, size_t cap, int64_t *count)
{
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_fx.st, 1, &txn), 0);
    MDB_val k = {strlen(path), (void *)path}, v;
    int r = mdb_get(txn, store_dbi(g_fx.st, RDB_AGGREGATE), &k, &v);
    if (r == MDB_NOTFOUND) {
        store_abort(&txn);
        return RP_ENOTFOUND;
    }
    cr_assert_eq(r, 0, "%s", mdb_strerror(r));
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&u, v.mv_data, v.mv_size, &off), MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *val = mp_map_get(&u.data, "value");
    const msgpack_object *cnt = mp_map_get(&u.data, "count");
    cr_assert(val && val->type == MSGPACK_OBJECT_STR, "'%s': value is not a string", path);
    cr_assert(cnt, "'%s': no count", path);
    cr_assert_lt(val->via.str.size, cap);
    memcpy(value, val->via.str.ptr, val->via.str.size);
    value[val->via.str.size] = 0;
    cr_assert_eq(mp_get_i64(cnt, count), 0);
    msgpack_unpacked_destroy(&u);
    store_abort(&txn);
    return 0;
}

static void s_expect_agg(const char *path, const char *value, int64_t count)
{
    char v[64];
    int64_t c;
    int rc = s_agg(path, v, sizeof v, &c);
    cr_assert_eq(rc, 0, "'%s' has no aggregate row", path);
    cr_assert_str_eq(v, value, "'%s': value %s, want %s", path, v, value);
    cr_assert_eq(c, count, "'%s': count %lld, want %lld", path, (long long)c, (long long)count);
}

Test(apply, result_creates_aggregate_rows)
{
    d_t d[] = {{"Delta", 12500000, 2}, {"Delta::AMER", -1, 1}};
    cr_assert_eq(s_apply(1, d, 2, 1), 0);
    s_expect_agg("Delta", "12.500000", 2);
    s_expect_agg("Delta::AMER", "-0.000001", 1);
    cr_assert_eq(fixture_entries(&g_fx, RDB_REDUCE), 1);
}

Test(apply, results_accumulate_on_existing_rows)
{
    d_t a[] = {{"p", 1000000, 1}};
    d_t b[] = {{"p", 2500000, 2}};
    cr_assert_eq(s_apply(1, a, 1, 1), 0);
    cr_assert_eq(s_apply(2, b, 1, 1), 0);
    s_expect_agg("p", "3.500000", 3);
}

Test(apply, same_result_twice_is_applied_once)
{
    d_t d[] = {{"p", 7000000, 1}};
    cr_assert_eq(s_apply(5, d, 1, 1), 0, "first application flagged duplicate");
    cr_assert_eq(s_apply(5, d, 1, 1), 1, "second application not flagged duplicate");
    s_expect_agg("p", "7.000000", 1);
}

Test(apply, duplicate_is_detected_after_reopen)
{
    d_t d[] = {{"p", 7000000, 1}};
    cr_assert_eq(s_apply(5, d, 1, 1), 0);
    s_close();
    s_open();
    cr_assert_eq(s_apply(5, d, 1, 1), 1);
    s_expect_agg("p", "7.000000", 1);
}

/* The applied sequence in the meta table, read in its own transaction. */
static uint64_t s_meta_seq(void)
{
    MDB_txn *txn;
    uint64_t v = 0;
    cr_assert_eq(store_begin(g_fx.st, 1, &txn), 0);
    int rc = store_meta_get(txn, store_dbi(g_fx.st, RDB_META), TABLES_META_APPLIED_SEQ, &v);
    store_abort(&txn);
    if (rc == RP_ENOTFOUND) return 0;
    RP_ASSERT_OK(rc);
    return v;
}

Test(apply, applied_sequence_follows_the_last_batch_applied_and_persists)
{
    d_t d[] = {{"p", 1, 1}};
    cr_assert_eq(apply_seq(g_ap, 0), 0);
    cr_assert_eq(s_meta_seq(), 0);
    cr_assert_eq(s_apply(1, d, 1, 1), 0);
    cr_assert_eq(s_apply(2, d, 1, 1), 0);
    cr_assert_eq(apply_seq(g_ap, 0), 20);
    cr_assert_eq(s_meta_seq(), 20);
    cr_assert_eq(s_apply(1, d, 1, 1), 1, "a re-sent batch is a duplicate");
    cr_assert_eq(apply_seq(g_ap, 0), 20, "a duplicate never moves the sequence back");
    cr_assert_eq(s_apply(3, d, 1, 0), 0);
    cr_assert_eq(apply_seq(g_ap, 0), 20, "an aborted batch leaves it");
    cr_assert_eq(s_meta_seq(), 20);
    s_close();
    s_open();
    cr_assert_eq(apply_seq(g_ap, 0), 20, "reloaded from the meta table");
}

Test(apply, aborted_application_is_not_a_duplicate_later)
{
    d_t d[] = {{"p", 7000000, 1}};
    cr_assert_eq(s_apply(5, d, 1, 0), 0);
    cr_assert_eq(s_agg("p", (char[64]){0}, 64, &(int64_t){0}), RP_ENOTFOUND);
    cr_assert_eq(s_apply(5, d, 1, 1), 0, "re-sent batch after abort treated as duplicate");
    s_expect_agg("p", "7.000000", 1);
}

Test(apply, prune_deletes_reduce_rows_below_watermark)
{
    d_t d[] = {{"p", 1, 1}};
    for (uint64_t id = 1; id <= 5; id++) cr_assert_eq(s_apply(id, d, 1, 1), 0);
    cr_assert_eq(s_prune(4, 1), 3);
    cr_assert_eq(fixture_entries(&g_fx, RDB_REDUCE), 2);
    cr_assert_eq(apply_floor(g_ap, 0), 4);
}

Test(apply, prune_at_or_below_floor_is_a_no_op)
{
    d_t d[] = {{"p", 1, 1}};
    cr_assert_eq(s_apply(3, d, 1, 1), 0);
    cr_assert_eq(s_prune(3, 1), 0);
    cr_assert_eq(s_prune(2, 1), 0);
    cr_assert_eq(s_prune(3, 1), 0);
    cr_assert_eq(apply_floor(g_ap, 0), 3);
    cr_assert_eq(fixture_entries(&g_fx, RDB_REDUCE), 1);
}

Test(apply, batch_below_floor_is_a_duplicate)
{
    d_t d[] = {{"p", 1000000, 1}};
    cr_assert_eq(s_apply(2, d, 1, 1), 0);
    cr_assert_eq(s_prune(10, 1), 1);
    cr_assert_eq(fixture_entries(&g_fx, RDB_REDUCE), 0);
    cr_assert_eq(s_apply(2, d, 1, 1), 1, "pruned batch re-applied");
    cr_assert_eq(s_apply(9, d, 1, 1), 1, "never-seen batch below the floor applied");
    cr_assert_eq(s_apply(10, d, 1, 1), 0, "batch at the floor must apply");
    s_expect_agg("p", "2.000000", 2);
}

Test(apply, floor_survives_reopen)
{
    cr_assert_eq(s_prune(7, 1), 0);
    s_close();
    s_open();
    cr_assert_eq(apply_floor(g_ap, 0), 7);
    d_t d[] = {{"p", 1, 1}};
    cr_assert_eq(s_apply(6, d, 1, 1), 1);
}

Test(apply, aborted_prune_keeps_old_floor)
{
    cr_assert_eq(s_prune(7, 0), 0);
    cr_assert_eq(apply_floor(g_ap, 0), 0);
    d_t d[] = {{"p", 1, 1}};
    cr_assert_eq(s_apply(6, d, 1, 1), 0, "batch below an aborted floor was skipped");
}

Test(apply, row_returning_to_zero_value_and_count_is_deleted)
{
    d_t a[] = {{"a", 5000000, 1}, {"a::b", 5000000, 1}};
    d_t b[] = {{"a", -5000000, -1}, {"a::b", -5000000, -1}};
    cr_assert_eq(s_apply(1, a, 2, 1), 0);
    cr_assert_eq(s_apply(2, b, 2, 1), 0);
    char v[64];
    int64_t c;
    cr_assert_eq(s_agg("a", v, sizeof v, &c), RP_ENOTFOUND, "row 'a' kept: %s/%lld", v,
                 (long long)c);
    cr_assert_eq(s_agg("a::b", v, sizeof v, &c), RP_ENOTFOUND);
    cr_assert_eq(fixture_entries(&g_fx, RDB_AGGREGATE), 0);
}

Test(apply, row_with_zero_value_but_live_trades_is_kept)
{
    d_t a[] = {{"a", 5000000, 1}};
    d_t b[] = {{"a", -5000000, 1}};
    cr_assert_eq(s_apply(1, a, 1, 1), 0);
    cr_assert_eq(s_apply(2, b, 1, 1), 0);
    s_expect_agg("a", "0.000000", 2);
}

Test(apply, row_with_zero_count_but_value_is_kept)
{
    d_t a[] = {{"a", 5000000, 1}};
    d_t b[] = {{"a", 1, -1}};
    cr_assert_eq(s_apply(1, a, 1, 1), 0);
    cr_assert_eq(s_apply(2, b, 1, 1), 0);
    s_expect_agg("a", "5.000001", 0);
}

Test(apply, zero_delta_on_absent_row_creates_nothing)
{
    d_t a[] = {{"a", 0, 0}};
    cr_assert_eq(s_apply(1, a, 1, 1), 0);
    cr_assert_eq(fixture_entries(&g_fx, RDB_AGGREGATE), 0);
    cr_assert_eq(fixture_entries(&g_fx, RDB_REDUCE), 1);
}

Test(apply, sums_beyond_int64_survive)
{
    d_t a[] = {{"p", INT64_MAX, 1}};
    cr_assert_eq(s_apply(1, a, 1, 1), 0);
    cr_assert_eq(s_apply(2, a, 1, 1), 0);
    cr_assert_eq(s_apply(3, a, 1, 1), 0);
    /* 3 * (2^63 - 1) = 27670116110564327421 micro-units */
    s_expect_agg("p", "27670116110564.327421", 3);
}

Test(apply, huge_128_bit_deltas_round_trip_through_rows)
{
    money_sum_t p23 = 1; /* 1e23 micro: within what one 65536-change batch can move */
    for (int i = 0; i < 23; i++) p23 *= 10;
    d_t a[] = {{"p", p23, 1}};
    d_t b[] = {{"p", -p23 - 1, 1}};
    d_t c[] = {{"p", -p23, 1}};
    cr_assert_eq(s_apply(1, a, 1, 1), 0);
    cr_assert_eq(s_apply(2, a, 1, 1), 0);
    s_expect_agg("p", "200000000000000000.000000", 2);
    cr_assert_eq(s_apply(3, b, 1, 1), 0);
    cr_assert_eq(s_apply(4, c, 1, 1), 0);
    s_expect_agg("p", "-0.000001", 4);
}

Test(apply, reduce_row_records_batch_and_mapper)
{
    d_t a[] = {{"p", 1, 1}, {"q", 1, 1}};
    cr_assert_eq(s_apply(42, a, 2, 1), 0);
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_fx.st, 1, &txn), 0);
    /* the documented key: 4-byte big-endian shard (0), 8-byte big-endian id */
    uint8_t k[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 42};
    MDB_val kv = {12, k}, v;
    cr_assert_eq(mdb_get(txn, store_dbi(g_fx.st, RDB_REDUCE), &kv, &v), 0);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&u, v.mv_data, v.mv_size, &off), MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *b = mp_map_get(&u.data, "batch");
    const msgpack_object *m = mp_map_get(&u.data, "mapper");
    const msgpack_object *dl = mp_map_get(&u.data, "deltas");
    cr_assert(b && b->via.u64 == 42);
    cr_assert(m && mp_str_eq(m, "test:1"));
    cr_assert(dl && dl->via.u64 == 2);
    msgpack_unpacked_destroy(&u);
    store_abort(&txn);
}

Test(apply, unreadable_aggregate_row_is_refused_as_corrupt)
{
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_fx.st, 0, &txn), 0);
    MDB_val k = {1, "p"}, v = {3, "bad"};
    cr_assert_eq(mdb_put(txn, store_dbi(g_fx.st, RDB_AGGREGATE), &k, &v, 0), 0);
    cr_assert_eq(store_commit(&txn), 0);

    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    frame_result_head(&pk, &fixture_sid, 1, 0, "m", 1, &(frame_pos_t){0}, 1);
    frame_delta_pack(&pk, "p", 1, 1, 1);
    msgpack_unpacked u;
    result_t r;
    char why[160];
    cr_assert_eq(frame_result_decode(sb.data, sb.size, &u, &r, why, sizeof why), 0);
    cr_assert_eq(store_begin(g_fx.st, 0, &txn), 0);
    int dup;
    int rc = apply_result(g_ap, txn, &r, &dup);
    RP_ASSERT_RC(rc, RP_EPROTO);
    store_abort(&txn);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
}

Test(apply, tables_agg_codec_round_trips)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    money_sum_t v = -((money_sum_t)INT64_MAX * 1000 + 17), back = 0;
    int64_t c = 0;
    tables_agg_encode(&sb, v, -3);
    int rc = tables_agg_decode(sb.data, sb.size, &back, &c);
    RP_ASSERT_OK(rc);
    cr_assert(back == v);
    cr_assert_eq(c, -3);
    msgpack_sbuffer_destroy(&sb);
}

/* Reopens the applier over the same store for a pipeline of shards. */
static void s_reopen_with(uint32_t shards)
{
    int err = 0;
    apply_destroy(&g_ap);
    g_ap = apply_new(g_fx.st, shards, &err);
    cr_assert_not_null(g_ap, "apply_new(%u): %s", shards, rp_strerror(err));
}

/* A new store with an applier for a pipeline of shards (the setup's store
 * recorded one shard when it was opened). */
static void s_fresh_with(uint32_t shards)
{
    apply_destroy(&g_ap);
    fixture_store_close(&g_fx);
    fixture_store_open(&g_fx, "apply-shards", tables_reducer_dbs, 16 << 20);
    s_reopen_with(shards);
}

Test(apply, each_shard_is_a_stream_of_its_own)
{
    s_fresh_with(2);
    d_t a[] = {{"p", 5, 1}}, b[] = {{"p", 7, 1}};
    cr_assert_eq(s_apply_in(0, 2, 1, a, 1, 1), 0, "shard 0's batch 1");
    cr_assert_eq(s_apply_in(1, 2, 1, b, 1, 1), 0, "shard 1's batch 1 is another batch");
    cr_assert_eq(s_apply_in(1, 2, 1, b, 1, 1), 1, "shard 1's batch 1 again: a duplicate");
    s_expect_agg("p", "0.000012", 2);
    cr_assert_eq(apply_next(g_ap, 0), 2);
    cr_assert_eq(apply_next(g_ap, 1), 2);
    cr_assert_eq(apply_seq(g_ap, 1), 10);
    cr_assert_eq(apply_seq_total(g_ap), 20);
    cr_assert_eq(s_apply_in(1, 2, 2, b, 1, 1), 0);
    cr_assert_eq(s_prune_in(1, 3, 1), 2, "shard 1's two rows");
    cr_assert_eq(fixture_entries(&g_fx, RDB_REDUCE), 1, "shard 0's row stays");
    cr_assert_eq(apply_floor(g_ap, 0), 0);
    cr_assert_eq(apply_floor(g_ap, 1), 3);
    s_reopen_with(2);
    cr_assert_eq(apply_floor(g_ap, 1), 3, "reloaded from meta key floor.1");
    cr_assert_eq(apply_seq(g_ap, 1), 20, "and applied_seq.1");
    cr_assert_eq(apply_next(g_ap, 0), 2, "shard 0's batch 1 is still known applied");
    cr_assert_eq(s_apply_in(0, 2, 1, a, 1, 1), 1);
}

Test(apply, a_result_of_another_shard_count_is_refused)
{
    s_fresh_with(2);
    result_t r = {.state = fixture_sid, .batch_id = 1, .watermark = 1,
                  .pos = {.shard = 0, .shards = 3}};
    char why[512];
    RP_ASSERT_RC(apply_check(g_ap, &r, why, sizeof why), RP_EPROTO);
    cr_assert(strstr(why, "pipeline of 3 state shard(s)"), "why: %s", why);
    r.pos.shards = 2;
    r.pos.shard = 1;
    RP_ASSERT_OK(apply_check(g_ap, &r, why, sizeof why));
}

Test(apply, an_environment_keeps_its_shard_count)
{
    d_t a[] = {{"p", 5, 1}};
    cr_assert_eq(s_apply(1, a, 1, 1), 0);
    apply_destroy(&g_ap);
    int err = 0;
    cr_assert_null(apply_new(g_fx.st, 2, &err), "a one-shard reducer reopened with 2");
    cr_assert_eq(err, RP_EINVAL);
    s_reopen_with(1);
}

Test(apply, reduce_rows_keyed_by_batch_alone_become_shard_0s)
{
    /* a row as riskpipe before shards wrote it: key 8-byte big-endian id */
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_fx.st, 0, &txn), 0);
    uint8_t k8[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    MDB_val k = {8, k8}, v = {3, "row"};
    cr_assert_eq(mdb_put(txn, store_dbi(g_fx.st, RDB_REDUCE), &k, &v, 0), 0);
    cr_assert_eq(store_commit(&txn), 0);
    s_reopen_with(1);
    cr_assert_eq(apply_next(g_ap, 0), 2, "batch 1 is known applied");
    cr_assert_eq(fixture_entries(&g_fx, RDB_REDUCE), 1);
    cr_assert_eq(store_begin(g_fx.st, 1, &txn), 0);
    uint8_t k12[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    k = (MDB_val){12, k12};
    cr_assert_eq(mdb_get(txn, store_dbi(g_fx.st, RDB_REDUCE), &k, &v), 0);
    cr_assert(v.mv_size == 3 && memcmp(v.mv_data, "row", 3) == 0, "the row moved as it was");
    store_abort(&txn);
    d_t a[] = {{"p", 5, 1}};
    cr_assert_eq(s_apply(1, a, 1, 1), 1, "and batch 1 is a duplicate");
}
