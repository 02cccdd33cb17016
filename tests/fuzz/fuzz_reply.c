/* Fuzzes reply_decode on arbitrary bytes (with and without a first-reason
 * buffer, including tiny ones), then reads the same bytes as a script that
 * builds a reply with reply_reject / reply_retry, encodes it and checks that
 * reply_decode gives back the counts, the retry flag, the error and the first
 * reason the producer would print. */
#include "fuzz.h"
#include "../../common/rperr.h"
#include "../../proto/reply.h"

#include <msgpack.h>
#include <string.h>

typedef struct {
    const uint8_t *p;
    size_t left;
} rd_t;

static uint64_t s_take(rd_t *r, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes && r->left; i++, r->p++, r->left--)
        v = (v << 8) | *r->p;
    return v;
}

static void s_decode_raw(const uint8_t *data, size_t size)
{
    reply_view_t r;
    int rc = reply_decode((const char *)data, size, &r);
    FUZZ_CHECK(rc == 0 || rc == RP_EPROTO);
    FUZZ_CHECK(memchr(r.first_reason, 0, sizeof r.first_reason) != NULL);
    FUZZ_CHECK(memchr(r.error, 0, sizeof r.error) != NULL);
}

static void s_round_trip(const uint8_t *data, size_t size)
{
    rd_t in = {data, size};
    reply_t r;
    reply_init(&r);
    r.accepted = s_take(&in, 8);
    r.duplicates = s_take(&in, 8);
    r.conflicts = s_take(&in, 8);
    uint64_t nrej = s_take(&in, 1), first_index = 0;
    char first_reason[256] = "";
    int fail = 0;
    for (uint64_t i = 0; i < nrej && in.left; i++) {
        uint64_t index = s_take(&in, 2);
        size_t n = (size_t)s_take(&in, 1);
        if (n > in.left) n = in.left;
        char reason[256];
        memcpy(reason, in.p, n);
        reason[n] = 0;
        in.p += n, in.left -= n;
        if (i == 0) {
            first_index = index;
            snprintf(first_reason, sizeof first_reason, "%s", reason);
        }
        reply_reject(&r, index, reason);
    }
    char error[256] = "";
    if (in.left && (s_take(&in, 1) & 1)) {
        size_t n = in.left < sizeof error - 1 ? in.left : sizeof error - 1;
        memcpy(error, in.p, n);
        error[n] = 0;
        reply_retry(&r, error);
        fail = 1;
    }
    FUZZ_CHECK(r.nerrors <= REPLY_MAX_ERRORS);

    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    reply_encode(&r, &sb);
    reply_view_t d;
    char want[200];
    FUZZ_CHECK(reply_decode(sb.data, sb.size, &d) == 0);
    FUZZ_CHECK(d.accepted == r.accepted && d.duplicates == r.duplicates);
    FUZZ_CHECK(d.conflicts == r.conflicts && d.rejected == r.rejected);
    FUZZ_CHECK(d.retry == r.retry && d.nerrors == r.nerrors);
    FUZZ_CHECK(strcmp(d.error, r.error) == 0);
    if (fail)
        FUZZ_CHECK(d.accepted + d.duplicates + d.conflicts + d.rejected == 0);
    if (!fail && r.nerrors)
        snprintf(want, sizeof want, "message %llu: %s", (unsigned long long)first_index,
                 first_reason);
    else
        want[0] = 0;
    FUZZ_CHECK(strcmp(d.first_reason, want) == 0);
    msgpack_sbuffer_destroy(&sb);
    reply_destroy(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_decode_raw(data, size);
    s_round_trip(data, size);
    return 0;
}
