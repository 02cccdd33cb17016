/* Unit tests for proto/reply.h, the acknowledged-ingest reply: counts and
 * error entries round trip, the error list is capped while counts stay exact,
 * retry replies, and rejection of malformed replies. */
#include "../../common/rperr.h"
#include "../../proto/mp.h"
#include "../../proto/reply.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

Test(reply, counts_and_first_reason_round_trip)
{
    reply_t r;
    reply_view_t back;
    reply_init(&r);
    r.accepted = 5;
    r.duplicates = 3;
    r.conflicts = 1;
    reply_reject(&r, 7, "Value must be finite");
    reply_reject(&r, 9, "missing field TradeID");
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    reply_encode(&r, &sb);
    int rc = reply_decode(sb.data, sb.size, &back);
    RP_ASSERT_OK(rc);
    cr_assert_eq(back.accepted, 5);
    cr_assert_eq(back.duplicates, 3);
    cr_assert_eq(back.conflicts, 1);
    cr_assert_eq(back.rejected, 2);
    cr_assert_eq(back.nerrors, 2);
    cr_assert_eq(back.retry, 0);
    cr_assert_str_eq(back.first_reason, "message 7: Value must be finite");
    cr_assert_eq(back.first_index, 7);
    cr_assert_str_eq(back.first_error, "Value must be finite");
    cr_assert_eq(back.seq, 0, "no sequence was set");
    reply_destroy(&r);
    msgpack_sbuffer_destroy(&sb);
}

Test(reply, the_committed_sequence_travels_and_a_retry_carries_none)
{
    reply_t r;
    reply_view_t back;
    reply_init(&r);
    r.accepted = 1;
    r.seq = 123456789012ULL;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    reply_encode(&r, &sb);
    RP_ASSERT_OK(reply_decode(sb.data, sb.size, &back));
    cr_assert_eq(back.seq, 123456789012ULL);
    cr_assert_eq(back.accepted, 1);
    reply_retry(&r, "busy");
    msgpack_sbuffer_clear(&sb);
    reply_encode(&r, &sb);
    RP_ASSERT_OK(reply_decode(sb.data, sb.size, &back));
    cr_assert(back.retry && back.seq == 0, "a retry commits nothing, so it names no sequence");
    reply_destroy(&r);
    msgpack_sbuffer_destroy(&sb);
}

Test(reply, error_entries_are_capped_but_rejected_count_is_exact)
{
    reply_t r;
    reply_view_t back;
    reply_init(&r);
    for (int i = 0; i < REPLY_MAX_ERRORS + 50; i++) reply_reject(&r, (uint64_t)i, "bad");
    cr_assert_eq(r.rejected, REPLY_MAX_ERRORS + 50);
    cr_assert_eq(r.nerrors, REPLY_MAX_ERRORS);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    reply_encode(&r, &sb);
    int rc = reply_decode(sb.data, sb.size, &back);
    RP_ASSERT_OK(rc);
    cr_assert_eq(back.rejected, REPLY_MAX_ERRORS + 50);
    cr_assert_eq(back.nerrors, REPLY_MAX_ERRORS);
    reply_destroy(&r);
    msgpack_sbuffer_destroy(&sb);
}

Test(reply, retry_zeroes_every_count_and_drops_the_errors)
{
    reply_t r;
    reply_view_t back;
    reply_init(&r);
    r.accepted = 4;
    r.duplicates = 2;
    r.conflicts = 1;
    reply_reject(&r, 1, "x");
    reply_retry(&r, "storage full");
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    reply_encode(&r, &sb);
    int rc = reply_decode(sb.data, sb.size, &back);
    RP_ASSERT_OK(rc);
    cr_assert_eq(back.retry, 1);
    cr_assert_eq(back.accepted + back.duplicates + back.conflicts + back.rejected, 0,
                 "nothing was committed: every count is 0");
    cr_assert_eq(back.nerrors, 0);
    cr_assert_str_eq(back.error, "storage full");
    cr_assert_str_eq(back.first_reason, "");
    cr_assert_eq(back.first_index, -1, "no entry, yet a first index");
    reply_destroy(&r);
    msgpack_sbuffer_destroy(&sb);
}

Test(reply, decode_rejects_non_map_and_garbage)
{
    reply_view_t back;
    cr_assert_eq(reply_decode("\x90", 1, &back), RP_EPROTO);
    cr_assert_eq(reply_decode("\xc1", 1, &back), RP_EPROTO);
    cr_assert_eq(reply_decode("", 0, &back), RP_EPROTO);
}

Test(reply, decode_rejects_negative_count)
{
    /* {"accepted": -1} */
    static const char b[] = "\x81\xa8" "accepted\xff";
    reply_view_t back;
    cr_assert_eq(reply_decode(b, sizeof b - 1, &back), RP_EPROTO);
}
