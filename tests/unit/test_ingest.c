/* Unit tests for state/ingest.h on a real store: latest version wins, stale
 * and repeated versions are duplicates, same-version conflicts keep the first
 * payload, each accepted version becomes exactly one change-log record and
 * each rejected message one dead-letter entry. */
#include "../../common/rperr.h"
#include "../../proto/mp.h"
#include "../../proto/risk.h"
#include "../../proto/tables.h"
#include "../../state/dlq.h"
#include "../../state/ingest.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fixture_store_t g_fx;
static changelog_t *g_log;
static ingest_t *g_in;
static dlq_t *g_dlq;
static hier_levels_t g_levels;

typedef struct {
    const char *id;
    int64_t version;
    const char *value;
    const char *rt, *rg, *td;
} msg_t;

static void s_setup(void)
{
    int err = 0;
    fixture_store_open(&g_fx, "ingest", tables_state_dbs, 16 << 20);
    g_log = changelog_new(g_fx.st, 100, 0, 1, &err);
    cr_assert_not_null(g_log, "changelog_new: %d %s", err, rp_strerror(err));
    char why[128];
    cr_assert_eq(hier_levels_parse(HIER_DEFAULT, &g_levels, why, sizeof why), 0);
    g_dlq = dlq_new(g_fx.st, 1000, 1 << 30, &err);
    cr_assert_not_null(g_dlq, "dlq_new: %d %s", err, rp_strerror(err));
    g_in = ingest_new(g_fx.st, g_log, g_dlq, &g_levels, 100);
    cr_assert_not_null(g_in);
}

static void s_teardown(void)
{
    ingest_destroy(&g_in);
    dlq_destroy(&g_dlq);
    changelog_destroy(&g_log);
    fixture_store_close(&g_fx);
}

TestSuite(ingest, .init = s_setup, .fini = s_teardown);

static void s_pack_msg(msgpack_packer *pk, const msg_t *m)
{
    fixture_pack_msg(pk, m->id, m->version, m->value, m->rt ? m->rt : "Delta",
                     m->rg ? m->rg : "AMER", m->td ? m->td : "FXSpot");
}

/* Ingests raw bytes as one frame in one committed transaction. */
static void s_ingest_raw(const char *buf, size_t len, reply_t *r)
{
    reply_init(r);
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_fx.st, 0, &txn), 0);
    int rc = ingest_frame(g_in, txn, buf, len, "ingest test", r);
    RP_ASSERT_OK(rc, "ingest_frame");
    cr_assert_eq(changelog_cut(g_log, txn), 0);
    cr_assert_eq(store_commit(&txn), 0);
    changelog_committed(g_log);
    dlq_committed(g_dlq);
}

/* Ingests n messages as one array frame. */
static void s_ingest(const msg_t *m, size_t n, reply_t *r)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, (uint32_t)n);
    for (size_t i = 0; i < n; i++) s_pack_msg(&pk, &m[i]);
    s_ingest_raw(sb.data, sb.size, r);
    msgpack_sbuffer_destroy(&sb);
}

static void s_counts(const reply_t *r, uint64_t acc, uint64_t dup, uint64_t conf, uint64_t rej)
{
    cr_assert_eq(r->accepted, acc, "accepted %llu, want %llu", (unsigned long long)r->accepted,
                 (unsigned long long)acc);
    cr_assert_eq(r->duplicates, dup, "duplicates %llu, want %llu",
                 (unsigned long long)r->duplicates, (unsigned long long)dup);
    cr_assert_eq(r->conflicts, conf, "conflicts %llu, want %llu",
                 (unsigned long long)r->conflicts, (unsigned long long)conf);
    cr_assert_eq(r->rejected, rej, "rejected %llu, want %llu", (unsigned long long)r->rejected,
                 (unsigned long long)rej);
}

static size_t s_log_size(void)
{
    return fixture_log_records(&g_fx);
}

/* Reads dead-letter entry id: its index, reason and source must match, and
 * its raw bytes must hold trade id `raw_has` somewhere. */
static void s_expect_dlq(uint64_t id, uint64_t index, const char *reason_part, const char *raw_has)
{
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_fx.st, 1, &txn), 0);
    uint8_t k[8];
    store_u64_put(k, id);
    MDB_val kv = {8, k}, v;
    int r = mdb_get(txn, store_dbi(g_fx.st, SDB_DLQ), &kv, &v);
    cr_assert_eq(r, 0, "dlq entry %llu: %s", (unsigned long long)id, mdb_strerror(r));
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&u, v.mv_data, v.mv_size, &off), MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *ix = mp_map_get(&u.data, "index");
    const msgpack_object *why = mp_map_get(&u.data, "reason");
    const msgpack_object *src = mp_map_get(&u.data, "source");
    const msgpack_object *raw = mp_map_get(&u.data, "raw");
    cr_assert(ix && ix->type == MSGPACK_OBJECT_POSITIVE_INTEGER && ix->via.u64 == index,
              "dlq entry %llu: wrong index", (unsigned long long)id);
    cr_assert(src && mp_str_eq(src, "ingest test"));
    cr_assert(why && why->type == MSGPACK_OBJECT_STR);
    cr_assert(memmem(why->via.str.ptr, why->via.str.size, reason_part, strlen(reason_part)),
              "reason '%.*s' lacks '%s'", (int)why->via.str.size, why->via.str.ptr, reason_part);
    cr_assert(raw && raw->type == MSGPACK_OBJECT_BIN);
    cr_assert(memmem(raw->via.bin.ptr, raw->via.bin.size, raw_has, strlen(raw_has)),
              "raw bytes lack '%s'", raw_has);
    msgpack_unpacked_destroy(&u);
    store_abort(&txn);
}

/* Reads log record seq and checks it against the expected change. */
static void s_expect_log(uint64_t seq, const char *old_path, money_t old_value,
                         const char *new_path, money_t new_value)
{
    char rec[1024];
    size_t len = fixture_log_record(&g_fx, seq, rec, sizeof rec);
    cr_assert_gt(len, 0, "log record %llu is stored", (unsigned long long)seq);
    msgpack_unpacked u;
    char why[128];
    cr_assert_eq(mp_unpack(rec, len, 2, 8, &u, why, sizeof why), 0, "%s", why);
    change_t c;
    cr_assert_eq(frame_change_get(&u.data, &c), 0);
    cr_assert_eq(c.has_old, old_path != NULL, "record %llu has_old", (unsigned long long)seq);
    if (old_path) {
        cr_assert_eq(c.old_value, old_value);
        cr_assert_eq(c.old_len, strlen(old_path));
        cr_assert_eq(memcmp(c.old_path, old_path, c.old_len), 0, "old path '%.*s'",
                     (int)c.old_len, c.old_path);
    }
    cr_assert_eq(c.has_new, 1);
    cr_assert_eq(c.new_value, new_value);
    cr_assert_eq(c.new_len, strlen(new_path));
    cr_assert_eq(memcmp(c.new_path, new_path, c.new_len), 0, "new path '%.*s'", (int)c.new_len,
                 c.new_path);
    msgpack_unpacked_destroy(&u);
}

Test(ingest, new_trade_is_accepted_and_logged)
{
    msg_t m[] = {{"T1", 1, "12.5", 0, 0, 0}};
    reply_t r;
    s_ingest(m, 1, &r);
    s_counts(&r, 1, 0, 0, 0);
    cr_assert_eq(s_log_size(), 1);
    s_expect_log(1, NULL, 0, "Delta::AMER::FXSpot", 12500000);
    reply_destroy(&r);
}

Test(ingest, higher_version_replaces_and_logs_old_and_new)
{
    msg_t a[] = {{"T1", 1, "12.5", 0, 0, 0}};
    msg_t b[] = {{"T1", 2, "-3", 0, "EMEA", 0}};
    reply_t r;
    s_ingest(a, 1, &r);
    reply_destroy(&r);
    s_ingest(b, 1, &r);
    s_counts(&r, 1, 0, 0, 0);
    s_expect_log(2, "Delta::AMER::FXSpot", 12500000, "Delta::EMEA::FXSpot", -3000000);
    reply_destroy(&r);
}

Test(ingest, lower_version_is_a_duplicate_without_effect)
{
    msg_t a[] = {{"T1", 5, "1", 0, 0, 0}};
    msg_t b[] = {{"T1", 4, "2", 0, 0, 0}};
    reply_t r;
    s_ingest(a, 1, &r);
    reply_destroy(&r);
    s_ingest(b, 1, &r);
    s_counts(&r, 0, 1, 0, 0);
    cr_assert_eq(s_log_size(), 1);
    reply_destroy(&r);
    msg_t c[] = {{"T1", 6, "3", 0, 0, 0}};
    s_ingest(c, 1, &r);
    s_expect_log(2, "Delta::AMER::FXSpot", 1000000, "Delta::AMER::FXSpot", 3000000);
    reply_destroy(&r);
}

Test(ingest, same_version_same_payload_is_a_plain_duplicate)
{
    msg_t a[] = {{"T1", 1, "12.5", 0, 0, 0}};
    msg_t b[] = {{"T1", 1, "12.500", 0, 0, 0}}; /* same value, other spelling */
    reply_t r;
    s_ingest(a, 1, &r);
    reply_destroy(&r);
    s_ingest(b, 1, &r);
    s_counts(&r, 0, 1, 0, 0);
    cr_assert_eq(s_log_size(), 1);
    reply_destroy(&r);
}

Test(ingest, same_version_other_payload_is_a_conflict_and_first_wins)
{
    msg_t a[] = {{"T1", 1, "12.5", 0, 0, 0}};
    msg_t b[] = {{"T1", 1, "99", 0, 0, 0}};
    msg_t c[] = {{"T1", 2, "1", 0, 0, 0}};
    reply_t r;
    s_ingest(a, 1, &r);
    reply_destroy(&r);
    s_ingest(b, 1, &r);
    s_counts(&r, 0, 1, 1, 0);
    reply_destroy(&r);
    s_ingest(c, 1, &r);
    s_expect_log(2, "Delta::AMER::FXSpot", 12500000, "Delta::AMER::FXSpot", 1000000);
    reply_destroy(&r);
}

Test(ingest, versions_within_one_frame_chain_correctly)
{
    msg_t m[] = {{"T1", 1, "1", 0, 0, 0}, {"T1", 3, "3", "Vega", 0, 0}, {"T1", 2, "2", 0, 0, 0}};
    reply_t r;
    s_ingest(m, 3, &r);
    s_counts(&r, 2, 1, 0, 0);
    cr_assert_eq(s_log_size(), 2);
    s_expect_log(2, "Delta::AMER::FXSpot", 1000000, "Vega::AMER::FXSpot", 3000000);
    reply_destroy(&r);
}

Test(ingest, invalid_message_is_rejected_and_neighbours_applied)
{
    msg_t m[] = {{"T1", 1, "1", 0, 0, 0}, {"T2", 1, "abc", 0, 0, 0}, {"T3", 1, "3", 0, 0, 0}};
    reply_t r;
    s_ingest(m, 3, &r);
    s_counts(&r, 2, 0, 0, 1);
    cr_assert_eq(r.nerrors, 1);
    cr_assert_eq(s_log_size(), 2);
    reply_destroy(&r);
}

Test(ingest, undecodable_frame_is_one_rejection)
{
    reply_t r;
    s_ingest_raw("\xc1\xc1", 2, &r);
    s_counts(&r, 0, 0, 0, 1);
    cr_assert_eq(s_log_size(), 0);
    reply_destroy(&r);
}

Test(ingest, counts_add_up_to_messages_in_frame)
{
    msg_t a[] = {{"A", 2, "1", 0, 0, 0}, {"B", 1, "1", 0, 0, 0}};
    reply_t r;
    s_ingest(a, 2, &r);
    reply_destroy(&r);
    msg_t b[] = {{"A", 1, "1", 0, 0, 0},   {"A", 2, "5", 0, 0, 0}, {"B", 1, "1", 0, 0, 0},
                 {"C", 1, "x", 0, 0, 0},   {"D", 1, "1", 0, "::", 0}, {"E", 7, "7", 0, 0, 0}};
    s_ingest(b, 6, &r);
    s_counts(&r, 1, 3, 1, 2);
    cr_assert_eq(r.accepted + r.duplicates + r.rejected, 6);
    reply_destroy(&r);
}

Test(ingest, rejected_message_is_dead_lettered_with_reason_and_source)
{
    msg_t m[] = {{"T1", 1, "1", 0, 0, 0}, {"BAD-2", 1, "abc", 0, 0, 0}};
    reply_t r;
    s_ingest(m, 2, &r);
    s_counts(&r, 1, 0, 0, 1);
    cr_assert_eq(fixture_entries(&g_fx, SDB_DLQ), 1);
    s_expect_dlq(1, 1, "Value", "BAD-2");
    reply_destroy(&r);
}

Test(ingest, undecodable_frame_is_dead_lettered_raw)
{
    reply_t r;
    s_ingest_raw("\xc1garbage", 8, &r);
    cr_assert_eq(fixture_entries(&g_fx, SDB_DLQ), 1);
    s_expect_dlq(1, 0, "0xc1", "garbage");
    reply_destroy(&r);
}

Test(ingest, accepted_and_duplicate_messages_are_not_dead_lettered)
{
    msg_t m[] = {{"T1", 1, "1", 0, 0, 0}, {"T1", 1, "1", 0, 0, 0}, {"T1", 0, "1", 0, 0, 0}};
    reply_t r;
    s_ingest(m, 3, &r);
    s_counts(&r, 1, 2, 0, 0);
    cr_assert_eq(fixture_entries(&g_fx, SDB_DLQ), 0);
    reply_destroy(&r);
}

/* Packs a message whose Hierarchy has one more key, extra, holding the raw
 * msgpack bytes raw[0..len) (standard levels and values otherwise). */
static void s_pack_with_raw(msgpack_packer *pk, const char *id, const char *extra,
                            const char *raw, size_t len)
{
    msgpack_pack_map(pk, 4);
    msgpack_pack_str_with_body(pk, "TradeID", 7);
    msgpack_pack_str_with_body(pk, id, strlen(id));
    msgpack_pack_str_with_body(pk, "Version", 7);
    msgpack_pack_int64(pk, 1);
    msgpack_pack_str_with_body(pk, "Value", 5);
    msgpack_pack_str_with_body(pk, "1", 1);
    msgpack_pack_str_with_body(pk, "Hierarchy", 9);
    msgpack_pack_map(pk, 4);
    msgpack_pack_str_with_body(pk, "RiskType", 8);
    msgpack_pack_str_with_body(pk, "Delta", 5);
    msgpack_pack_str_with_body(pk, "Region", 6);
    msgpack_pack_str_with_body(pk, "AMER", 4);
    msgpack_pack_str_with_body(pk, "TradeDesk", 9);
    msgpack_pack_str_with_body(pk, "FXSpot", 6);
    msgpack_pack_str_with_body(pk, extra, strlen(extra));
    pk->callback(pk->data, raw, len);
}

Test(ingest, over_deep_message_is_dead_lettered_alone)
{
    char deep[22];
    memset(deep, 0x91, 20); /* 20 nested arrays around "x" */
    memcpy(deep + 20, "\xa1x", 2);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    s_pack_msg(&pk, &(msg_t){"T1", 1, "1", 0, 0, 0});
    s_pack_with_raw(&pk, "DEEP-2", "Book", deep, sizeof deep);
    s_pack_msg(&pk, &(msg_t){"T3", 1, "3", 0, 0, 0});
    reply_t r;
    s_ingest_raw(sb.data, sb.size, &r);
    s_counts(&r, 2, 0, 0, 1);
    cr_assert_eq(s_log_size(), 2, "the good neighbours must be applied");
    cr_assert_eq(fixture_entries(&g_fx, SDB_DLQ), 1);
    s_expect_dlq(1, 1, "message nested deeper than 16 levels", "DEEP-2");
    reply_destroy(&r);
    msgpack_sbuffer_destroy(&sb);
}

Test(ingest, over_wide_messages_are_dead_lettered_alone)
{
    /* Array lengths above the frame's own max_batch (100 here) as well as
     * above a message's bound: neither may reject the frame. */
    static char arr[203];
    arr[0] = (char)0xdc, arr[1] = 0, arr[2] = (char)200;
    memset(arr + 3, 0xc0, 200);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    s_pack_with_raw(&pk, "WIDE-1", "Book", arr, sizeof arr);
    s_pack_msg(&pk, &(msg_t){"T2", 1, "2", 0, 0, 0});
    s_pack_with_raw(&pk, "WIDE-3", "Book", "\xde\x00\x28", 3); /* a map of 40 ... */
    for (int i = 0; i < 40; i++) msgpack_pack_int(&pk, i), msgpack_pack_nil(&pk);
    reply_t r;
    s_ingest_raw(sb.data, sb.size, &r);
    s_counts(&r, 1, 0, 0, 2);
    cr_assert_eq(s_log_size(), 1);
    s_expect_dlq(1, 0, "array of 200 entries", "WIDE-1");
    s_expect_dlq(2, 2, "map of 40 entries", "WIDE-3");
    reply_destroy(&r);
    msgpack_sbuffer_destroy(&sb);
}

Test(ingest, broken_frame_structure_is_one_rejection)
{
    msg_t m[] = {{"T1", 1, "1", 0, 0, 0}, {"T2", 1, "2", 0, 0, 0}};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    for (size_t i = 0; i < 2; i++) s_pack_msg(&pk, &m[i]);
    reply_t r;
    s_ingest_raw(sb.data, sb.size - 1, &r); /* the last message is cut short */
    s_counts(&r, 0, 0, 0, 1);
    cr_assert_eq(s_log_size(), 0);
    s_expect_dlq(1, 0, "truncated", "T1");
    reply_destroy(&r);
    msgpack_sbuffer_destroy(&sb);
}

Test(ingest, batch_over_max_batch_is_one_rejection_with_the_limit)
{
    msg_t m[101];
    for (size_t i = 0; i < 101; i++) m[i] = (msg_t){"T", (int64_t)i, "1", 0, 0, 0};
    reply_t r;
    s_ingest(m, 101, &r);
    s_counts(&r, 0, 0, 0, 1);
    cr_assert_eq(s_log_size(), 0);
    s_expect_dlq(1, 0, "batch of 101 messages exceeds the limit of 100", "T");
    reply_destroy(&r);
}

/* A fresh data directory records the row format; the same directory opens
 * again. */
Test(ingest, check_store_records_the_row_format_once)
{
    RP_ASSERT_OK(ingest_check_store(g_fx.st, &g_levels));
    MDB_txn *txn = NULL;
    uint64_t fmt = 0;
    RP_ASSERT_OK(store_begin(g_fx.st, 1, &txn));
    RP_ASSERT_OK(store_meta_get(txn, store_dbi(g_fx.st, SDB_META), TABLES_META_ROW_FORMAT, &fmt));
    store_abort(&txn);
    cr_assert_eq(fmt, TABLES_STATE_FORMAT);
    RP_ASSERT_OK(ingest_check_store(g_fx.st, &g_levels));
}

/* State rows with no recorded format were written by an earlier riskpipe,
 * as maps: they are refused at start, never misread as today's rows. */
Test(ingest, check_store_refuses_rows_of_the_earlier_format)
{
    MDB_txn *txn = NULL;
    RP_ASSERT_OK(store_begin(g_fx.st, 0, &txn));
    MDB_val k = {3, "T-1"}, v = {1, "\x80"};
    cr_assert_eq(mdb_put(txn, store_dbi(g_fx.st, SDB_STATE), &k, &v, 0), 0);
    RP_ASSERT_OK(store_commit(&txn));
    RP_ASSERT_RC(ingest_check_store(g_fx.st, &g_levels), RP_EINVAL);
}

Test(ingest, check_store_refuses_another_recorded_format)
{
    MDB_txn *txn = NULL;
    RP_ASSERT_OK(store_begin(g_fx.st, 0, &txn));
    RP_ASSERT_OK(store_meta_put(txn, store_dbi(g_fx.st, SDB_META), TABLES_META_ROW_FORMAT,
                                TABLES_STATE_FORMAT + 1));
    RP_ASSERT_OK(store_commit(&txn));
    RP_ASSERT_RC(ingest_check_store(g_fx.st, &g_levels), RP_EINVAL);
}

Test(ingest, check_store_refuses_other_levels)
{
    RP_ASSERT_OK(ingest_check_store(g_fx.st, &g_levels));
    hier_levels_t other;
    char why[128];
    cr_assert_eq(hier_levels_parse("RiskType,Book", &other, why, sizeof why), 0);
    RP_ASSERT_RC(ingest_check_store(g_fx.st, &other), RP_EINVAL);
}

Test(ingest, a_message_of_another_shard_is_rejected_naming_its_shard)
{
    /* this store is shard 1 of 2 */
    ingest_destroy(&g_in);
    changelog_destroy(&g_log);
    fixture_store_reopen(&g_fx, tables_state_dbs, 16 << 20);
    int err = 0;
    cr_assert_null(changelog_new(g_fx.st, 100, 1, 2, &err), "shard 0 of 1 recorded first");
    fixture_store_close(&g_fx);
    fixture_store_open(&g_fx, "ingest-shard", tables_state_dbs, 16 << 20);
    cr_assert_not_null(g_log = changelog_new(g_fx.st, 100, 1, 2, &err), "%s", rp_strerror(err));
    dlq_destroy(&g_dlq);
    cr_assert_not_null(g_dlq = dlq_new(g_fx.st, 1000, 1 << 30, &err));
    cr_assert_not_null(g_in = ingest_new(g_fx.st, g_log, g_dlq, &g_levels, 100));
    /* pick one TradeID of each shard by the documented hash */
    char mine[16] = "", other[16] = "";
    for (int i = 0; !mine[0] || !other[0]; i++) {
        char id[16];
        int n = snprintf(id, sizeof id, "S-%d", i);
        uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a-64, written out */
        for (int j = 0; j < n; j++) h = (h ^ (unsigned char)id[j]) * 0x100000001b3ULL;
        snprintf(h % 2 == 1 ? mine : other, 16, "%s", id);
    }
    msg_t m[] = {{other, 1, "1", 0, 0, 0}, {mine, 1, "2", 0, 0, 0}};
    reply_t r;
    s_ingest(m, 2, &r);
    s_counts(&r, 1, 0, 0, 1);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    reply_encode(&r, &sb);
    reply_view_t view;
    cr_assert_eq(reply_decode(sb.data, sb.size, &view), 0);
    cr_assert_eq(view.first_index, 0);
    cr_assert_eq(view.first_shard, 0, "the right shard is in the reply");
    cr_assert(strstr(view.first_error, "belongs to shard 0 of 2, this is shard 1"), "%s",
              view.first_error);
    cr_assert_eq(fixture_entries(&g_fx, SDB_DLQ), 0, "a routing mistake is not dead-lettered");
    cr_assert_eq(s_log_size(), 1, "only the message of this shard is logged");
    msgpack_sbuffer_destroy(&sb);
    reply_destroy(&r);
}
