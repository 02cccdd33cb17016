/* Fuzzes the msgpack pre-scan. With the loosest limits, mp_check accepting
 * must mean msgpack_unpack_next succeeds and consumes exactly the whole
 * buffer; the decoded object then gives the true nesting depth and largest
 * container, and mp_check under every stricter limit must accept exactly when
 * those fit. Rejected input is never handed to msgpack-c, whose allocations
 * for declared lengths are what mp_check exists to bound. */
#include "fuzz.h"
#include "../../common/rperr.h"
#include "../../proto/mp.h"

#include <msgpack.h>
#include <string.h>

typedef struct {
    int depth;
    uint32_t items;
} limit_t;

static const limit_t s_limits[] = {
    {0, 0},    {0, 100}, {1, 1},    {1, 16},      {2, 16},
    {3, 32},   {4, 16},  {4, 4096}, {4, 65536},   {5, 3},
    {8, 1000}, {16, 0},  {16, 32},  {20, 100000}, {MP_MAX_DEPTH, UINT32_MAX},
};

/* Depth counts the containers on the deepest path, empty ones included (what
 * mp_check limits); items is the largest array length or map entry count. */
static void s_measure(const msgpack_object *o, int level, int *depth, uint32_t *items)
{
    uint32_t n = 0;
    if (o->type == MSGPACK_OBJECT_ARRAY)
        n = o->via.array.size;
    else if (o->type == MSGPACK_OBJECT_MAP)
        n = o->via.map.size;
    else
        return;
    if (n > *items) *items = n;
    if (level + 1 > *depth) *depth = level + 1;
    for (uint32_t i = 0; i < n; i++) {
        if (o->type == MSGPACK_OBJECT_ARRAY) {
            s_measure(&o->via.array.ptr[i], level + 1, depth, items);
        } else {
            s_measure(&o->via.map.ptr[i].key, level + 1, depth, items);
            s_measure(&o->via.map.ptr[i].val, level + 1, depth, items);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    char why[160] = "";
    int rc = mp_check(buf, size, MP_MAX_DEPTH, UINT32_MAX, why, sizeof why);
    size_t nl = sizeof s_limits / sizeof s_limits[0];
    if (rc) {
        FUZZ_CHECK(rc == RP_EPROTO && why[0] && memchr(why, 0, sizeof why));
        for (size_t k = 0; k < nl; k++)
            FUZZ_CHECK(mp_check(buf, size, s_limits[k].depth, s_limits[k].items, why, sizeof why) ==
                       RP_EPROTO);
        return 0;
    }
    msgpack_unpacked unp;
    msgpack_unpacked_init(&unp);
    size_t off = 0;
    msgpack_unpack_return ur = msgpack_unpack_next(&unp, buf, size, &off);
    FUZZ_CHECK(ur == MSGPACK_UNPACK_SUCCESS);
    FUZZ_CHECK(off == size);
    int depth = 0;
    uint32_t items = 0;
    s_measure(&unp.data, 0, &depth, &items);
    FUZZ_CHECK(depth <= MP_MAX_DEPTH);
    for (size_t k = 0; k < nl; k++) {
        int d = s_limits[k].depth > MP_MAX_DEPTH ? MP_MAX_DEPTH : s_limits[k].depth;
        int want = depth <= d && items <= s_limits[k].items;
        int got = mp_check(buf, size, s_limits[k].depth, s_limits[k].items, why, sizeof why);
        FUZZ_CHECK((got == 0) == want);
        /* mp_unpack is mp_check followed by the real decoder. */
        msgpack_unpacked u2;
        int urc = mp_unpack(buf, size, s_limits[k].depth, s_limits[k].items, &u2, why, sizeof why);
        FUZZ_CHECK(urc == got);
        msgpack_unpacked_destroy(&u2);
    }
    int64_t x;
    if (mp_get_i64(&unp.data, &x) == 0)
        FUZZ_CHECK(unp.data.type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
                   unp.data.type == MSGPACK_OBJECT_NEGATIVE_INTEGER);
    msgpack_unpacked_destroy(&unp);
    return 0;
}
