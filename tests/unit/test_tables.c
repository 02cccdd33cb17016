/* Unit tests for proto/tables.h, the rows of both LMDB environments: the
 * database lists match their indices, batch rows and dead-letter rows round
 * trip, and malformed rows are refused rather than read as zeros. (State and
 * aggregate rows are tested with the messages they come from, in test_risk.c
 * and test_apply.c.) */
#include "../../proto/mp.h"
#include "../../proto/tables.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <string.h>

Test(tables, the_database_lists_match_their_indices)
{
    cr_assert_str_eq(tables_state_dbs[SDB_STATE], "state");
    cr_assert_str_eq(tables_state_dbs[SDB_LOG], "log");
    cr_assert_str_eq(tables_state_dbs[SDB_BATCHES], "batches");
    cr_assert_str_eq(tables_state_dbs[SDB_META], "meta");
    cr_assert_str_eq(tables_state_dbs[SDB_DLQ], "dlq");
    cr_assert_str_eq(tables_state_dbs[SDB_DLQ_INDEX], "dlq_index");
    cr_assert_str_eq(tables_state_dbs[SDB_DLQ_SOURCES], "dlq_sources");
    cr_assert_null(tables_state_dbs[SDB_DLQ_SOURCES + 1]);
    cr_assert_str_eq(tables_reducer_dbs[RDB_REDUCE], "reduce");
    cr_assert_str_eq(tables_reducer_dbs[RDB_AGGREGATE], "aggregate");
    cr_assert_str_eq(tables_reducer_dbs[RDB_META], "meta");
    cr_assert_null(tables_reducer_dbs[RDB_META + 1]);
}

Test(tables, a_batch_row_is_three_big_endian_numbers)
{
    uint8_t row[TABLES_BATCH_SIZE];
    tables_batch_encode(row, &(batch_row_t){0x0102, 0x01020304, 0x0a0b});
    const uint8_t want[TABLES_BATCH_SIZE] = {0, 0, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0,
                                             1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 10, 11};
    cr_assert_eq(memcmp(row, want, sizeof row), 0);
    batch_row_t got = {0};
    RP_ASSERT_OK(tables_batch_decode(row, sizeof row, &got));
    cr_assert_eq(got.first, 0x0102);
    cr_assert_eq(got.last, 0x01020304);
    cr_assert_eq(got.commit_us, 0x0a0b);
}

Test(tables, a_batch_row_written_before_commit_times_reads_as_time_zero)
{
    const uint8_t old[TABLES_BATCH_SIZE_OLD] = {0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 9};
    batch_row_t got = {1, 1, 1};
    RP_ASSERT_OK(tables_batch_decode(old, sizeof old, &got));
    cr_assert(got.first == 7 && got.last == 9 && got.commit_us == 0);
}

Test(tables, a_batch_row_of_the_wrong_size_or_order_is_refused)
{
    uint8_t row[TABLES_BATCH_SIZE + 1];
    batch_row_t got;
    tables_batch_encode(row, &(batch_row_t){1, 2, 3});
    RP_ASSERT_RC(tables_batch_decode(row, TABLES_BATCH_SIZE - 1, &got), RP_EPROTO);
    RP_ASSERT_RC(tables_batch_decode(row, TABLES_BATCH_SIZE + 1, &got), RP_EPROTO);
    RP_ASSERT_RC(tables_batch_decode(row, TABLES_BATCH_SIZE_OLD + 1, &got), RP_EPROTO);
    tables_batch_encode(row, &(batch_row_t){9, 8, 0});
    RP_ASSERT_RC(tables_batch_decode(row, TABLES_BATCH_SIZE, &got), RP_EPROTO,
                 "a batch that ends before it starts");
}

static dlq_row_t s_row(const char *raw, size_t raw_len, uint64_t raw_size)
{
    return (dlq_row_t){.id = 12, .time_ms = 1764672000123, .source = "ingest 10.0.0.7",
                       .source_len = 15, .index = 4, .reason = "missing field Value",
                       .reason_len = 19, .raw = raw, .raw_len = raw_len, .raw_size = raw_size};
}

Test(tables, a_dead_letter_row_round_trips)
{
    static const char raw[] = "\x81\xa7TradeID\xa1x";
    dlq_row_t in = s_row(raw, sizeof raw - 1, sizeof raw - 1), out;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tables_dlq_encode(&sb, &in);
    msgpack_unpacked unp;
    RP_ASSERT_OK(tables_dlq_decode(sb.data, sb.size, &unp, &out));
    cr_assert_eq(out.id, 12);
    cr_assert_eq(out.time_ms, 1764672000123);
    cr_assert_eq(out.index, 4);
    cr_assert_eq(out.source_len, 15);
    cr_assert_eq(memcmp(out.source, "ingest 10.0.0.7", 15), 0);
    cr_assert_eq(out.reason_len, 19);
    cr_assert_eq(memcmp(out.reason, "missing field Value", 19), 0);
    cr_assert_eq(out.raw_len, sizeof raw - 1);
    cr_assert_eq(memcmp(out.raw, raw, out.raw_len), 0);
    cr_assert_not(out.truncated);
    msgpack_unpacked_destroy(&unp);
    msgpack_sbuffer_destroy(&sb);
}

Test(tables, a_dead_letter_row_with_part_of_its_message_is_truncated)
{
    static char raw[4096]; /* what older versions kept of a larger message */
    memset(raw, 'x', sizeof raw);
    dlq_row_t in = s_row(raw, sizeof raw, 100000), out;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tables_dlq_encode(&sb, &in);
    msgpack_unpacked unp;
    RP_ASSERT_OK(tables_dlq_decode(sb.data, sb.size, &unp, &out));
    cr_assert(out.truncated, "a truncated entry cannot be replayed");
    cr_assert_eq(out.raw_size, 100000);
    cr_assert_eq(out.raw_len, sizeof raw);
    msgpack_unpacked_destroy(&unp);
    msgpack_sbuffer_destroy(&sb);
}

Test(tables, a_dead_letter_row_missing_a_field_is_refused)
{
    static const char *const keep[] = {"id", "time_ms", "source", "index", "reason", "raw",
                                       "raw_size", "truncated"};
    for (int drop = 0; drop < 8; drop++) {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 7);
        for (int i = 0; i < 8; i++) {
            if (i == drop) continue;
            mp_pack_cstr(&pk, keep[i]);
            if (i == 2 || i == 4) mp_pack_cstr(&pk, "text");
            else if (i == 5) msgpack_pack_bin(&pk, 0);
            else if (i == 7) msgpack_pack_false(&pk);
            else msgpack_pack_uint64(&pk, 0);
        }
        msgpack_unpacked unp;
        dlq_row_t out;
        RP_ASSERT_RC(tables_dlq_decode(sb.data, sb.size, &unp, &out), RP_EPROTO, "without %s",
                     keep[drop]);
        msgpack_unpacked_destroy(&unp);
        msgpack_sbuffer_destroy(&sb);
    }
}

Test(tables, a_dead_letter_row_whose_flag_contradicts_its_sizes_is_refused)
{
    static const char raw[] = "abc";
    dlq_row_t in = s_row(raw, 3, 3), out;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tables_dlq_encode(&sb, &in);
    /* flip the trailing "truncated": false (0xc2) to true (0xc3) */
    cr_assert_eq((unsigned char)sb.data[sb.size - 1], 0xc2);
    sb.data[sb.size - 1] = (char)0xc3;
    msgpack_unpacked unp;
    RP_ASSERT_RC(tables_dlq_decode(sb.data, sb.size, &unp, &out), RP_EPROTO);
    msgpack_unpacked_destroy(&unp);
    msgpack_sbuffer_destroy(&sb);
}
