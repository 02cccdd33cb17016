/* Shard routing by TradeID; see shard.h. */
#include "shard.h"
#include "mp.h"

#include <string.h>

uint64_t shard_hash(const void *buf, size_t len)
{
    const unsigned char *p = buf;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

uint32_t shard_of(const void *trade_id, size_t len, uint32_t k)
{
    return k <= 1 ? 0 : (uint32_t)(shard_hash(trade_id, len) % k);
}

int shard_trade_id(const char *msg, size_t n, const char **id, size_t *len)
{
    char why[64];
    size_t off = 0;
    mp_head_t h, k, v;
    if (mp_head(msg, n, &off, &h, why, sizeof why) || h.kind != MP_MAP) return -1;
    /* through a {"RiskMessage": map} wrapper */
    size_t inner = off;
    if (h.n == 1 && mp_head(msg, n, &inner, &k, why, sizeof why) == 0 && k.kind == MP_STR &&
        k.n == 11 && memcmp(k.str, "RiskMessage", 11) == 0) {
        if (mp_head(msg, n, &inner, &h, why, sizeof why) || h.kind != MP_MAP) return -1;
        off = inner;
    }
    for (uint32_t i = 0; i < h.n; i++) {
        if (mp_head(msg, n, &off, &k, why, sizeof why)) return -1;
        if (k.kind == MP_STR && k.n == 7 && memcmp(k.str, "TradeID", 7) == 0) {
            if (mp_head(msg, n, &off, &v, why, sizeof why) || v.kind != MP_STR) return -1;
            *id = v.str;
            *len = v.n;
            return 0;
        }
        if (k.kind != MP_STR && k.kind != MP_SCALAR) return -1; /* not a message's key */
        if (mp_skip(msg, n, &off, why, sizeof why)) return -1;  /* the value */
    }
    return -1;
}

int shard_split(char *list, char **out, int max)
{
    int n = 0;
    for (char *p = list;; p++) {
        char *comma = strchr(p, ',');
        if (comma) *comma = 0;
        if (!*p || n == max) return -1;
        out[n++] = p;
        if (!comma) return n;
        p = comma;
    }
}
