/* msgpack pre-scan, skip walker and accessors. The pre-scan walks the raw
 * bytes with an explicit stack and the skip walker with a single counter, so
 * hostile nesting or lengths cost neither recursion nor allocation. */
#include "mp.h"
#include "../common/rperr.h"

#include <stdio.h>
#include <string.h>

static uint32_t s_be(const unsigned char *p, int n)
{
    uint32_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
    return v;
}

/* One object's header at p[i] (i < len): the bytes it takes before its
 * children (type byte, length fields, payload) and how many child objects
 * follow (a map's entries count twice). The payload is checked to fit the
 * buffer; the children are the caller's to walk. */
typedef struct {
    size_t size;    /* type byte, length fields and payload */
    size_t body;    /* offset of the payload from the type byte */
    uint64_t items; /* child objects that follow */
    int container, is_map, is_str;
} s_head_t;

static int s_head(const unsigned char *p, size_t len, size_t i, s_head_t *h, char *why,
                  size_t whylen)
{
    unsigned c = p[i];
    uint64_t skip = 0;
    int hdr = 0;
    h->items = 0;
    h->container = h->is_map = h->is_str = 0;
    if (c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3) {
    } else if ((c & 0xf0) == 0x80) {
        h->container = 1, h->is_map = 1, h->items = 2ull * (c & 0x0f);
    } else if ((c & 0xf0) == 0x90) {
        h->container = 1, h->items = c & 0x0f;
    } else if ((c & 0xe0) == 0xa0) {
        h->is_str = 1, skip = c & 0x1f;
    } else {
        switch (c) {
        case 0xcc: case 0xd0: skip = 1; break;
        case 0xcd: case 0xd1: skip = 2; break;
        case 0xca: case 0xce: case 0xd2: skip = 4; break;
        case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
        case 0xd4: skip = 2; break;
        case 0xd5: skip = 3; break;
        case 0xd6: skip = 5; break;
        case 0xd7: skip = 9; break;
        case 0xd8: skip = 17; break;
        case 0xd9: h->is_str = 1, hdr = 1; break;
        case 0xda: h->is_str = 1, hdr = 2; break;
        case 0xdb: h->is_str = 1, hdr = 4; break;
        case 0xc4: hdr = 1; break;
        case 0xc5: hdr = 2; break;
        case 0xc6: hdr = 4; break;
        case 0xc7: hdr = 1, skip = 1; break;
        case 0xc8: hdr = 2, skip = 1; break;
        case 0xc9: hdr = 4, skip = 1; break;
        case 0xdc: h->container = 1, hdr = 2; break;
        case 0xdd: h->container = 1, hdr = 4; break;
        case 0xde: h->container = 1, h->is_map = 1, hdr = 2; break;
        case 0xdf: h->container = 1, h->is_map = 1, hdr = 4; break;
        default:
            snprintf(why, whylen, "invalid msgpack type byte 0x%02x at %zu", c, i);
            return RP_EPROTO;
        }
        if (hdr) {
            if (len - i - 1 < (size_t)hdr) {
                snprintf(why, whylen, "truncated msgpack header at byte %zu", i);
                return RP_EPROTO;
            }
            uint64_t n = s_be(p + i + 1, hdr);
            if (!h->container) skip += n;
            else h->items = h->is_map ? 2 * n : n;
        }
    }
    h->body = 1 + (size_t)hdr;
    if (skip > len - i - h->body) {
        snprintf(why, whylen, "truncated msgpack: %llu bytes declared at %zu, %zu left",
                 (unsigned long long)skip, i, len - i - h->body);
        return RP_EPROTO;
    }
    h->size = h->body + (size_t)skip;
    return 0;
}

int mp_check(const char *buf, size_t len, int max_depth, uint32_t max_items, char *why,
             size_t whylen)
{
    const unsigned char *p = (const unsigned char *)buf;
    uint64_t left[MP_MAX_DEPTH + 2]; /* objects still expected at each depth */
    int depth = 0, rc;
    size_t i = 0;
    if (max_depth > MP_MAX_DEPTH) max_depth = MP_MAX_DEPTH;
    left[0] = 1;
    while (depth > 0 || left[0] > 0) {
        if (left[depth] == 0) {
            depth--;
            continue;
        }
        left[depth]--;
        if (i >= len) {
            snprintf(why, whylen, "truncated msgpack (ends at byte %zu)", i);
            return RP_EPROTO;
        }
        s_head_t h;
        if ((rc = s_head(p, len, i, &h, why, whylen))) return rc;
        i += h.size;
        if (h.container) {
            uint64_t entries = h.is_map ? h.items / 2 : h.items;
            if (entries > max_items) {
                snprintf(why, whylen, "%s of %llu entries exceeds the limit of %u",
                         h.is_map ? "map" : "array", (unsigned long long)entries, max_items);
                return RP_EPROTO;
            }
            if (h.items > len - i) { /* every child needs at least one byte */
                snprintf(why, whylen, "truncated msgpack: %llu items declared, %zu bytes left",
                         (unsigned long long)h.items, len - i);
                return RP_EPROTO;
            }
            /* An empty container still counts as a level of nesting. */
            if (depth + 1 > max_depth) {
                snprintf(why, whylen, "nested deeper than %d levels", max_depth);
                return RP_EPROTO;
            }
            if (h.items) left[++depth] = h.items;
        }
    }
    if (i != len) {
        snprintf(why, whylen, "%zu trailing bytes after the msgpack object", len - i);
        return RP_EPROTO;
    }
    return 0;
}

int mp_skip(const char *buf, size_t len, size_t *off, char *why, size_t whylen)
{
    const unsigned char *p = (const unsigned char *)buf;
    size_t i = *off;
    uint64_t todo = 1; /* objects still to skip, at any depth */
    int rc;
    while (todo > 0) {
        todo--;
        if (i >= len) {
            snprintf(why, whylen, "truncated msgpack (ends at byte %zu)", i);
            return RP_EPROTO;
        }
        s_head_t h;
        if ((rc = s_head(p, len, i, &h, why, whylen))) return rc;
        i += h.size;
        /* Every object still to skip takes at least one byte: a count beyond
         * the bytes left is a lie, and refusing it keeps todo below len. */
        if (todo > len - i || h.items > len - i - todo) {
            snprintf(why, whylen, "truncated msgpack: %llu items declared, %zu bytes left",
                     (unsigned long long)(todo + h.items), len - i);
            return RP_EPROTO;
        }
        todo += h.items;
    }
    *off = i;
    return 0;
}

int mp_head(const char *buf, size_t len, size_t *off, mp_head_t *out, char *why, size_t whylen)
{
    s_head_t h;
    int rc;
    if (*off >= len) {
        snprintf(why, whylen, "truncated msgpack (ends at byte %zu)", *off);
        return RP_EPROTO;
    }
    if ((rc = s_head((const unsigned char *)buf, len, *off, &h, why, whylen))) return rc;
    out->kind = h.is_map ? MP_MAP : h.container ? MP_ARRAY : h.is_str ? MP_STR : MP_SCALAR;
    out->n = h.is_map ? h.items / 2 : h.container ? h.items : h.size - h.body;
    out->str = h.is_str ? buf + *off + h.body : NULL;
    *off += h.size;
    return 0;
}

int mp_unpack(const char *buf, size_t len, int max_depth, uint32_t max_items,
              msgpack_unpacked *unp, char *why, size_t whylen)
{
    msgpack_unpacked_init(unp);
    int rc = mp_check(buf, len, max_depth, max_items, why, whylen);
    if (rc) return rc;
    size_t off = 0;
    if (msgpack_unpack_next(unp, buf, len, &off) != MSGPACK_UNPACK_SUCCESS) {
        snprintf(why, whylen, "msgpack decoder rejected the frame");
        return RP_EPROTO;
    }
    return 0;
}

int mp_str_eq(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           memcmp(o->via.str.ptr, s, n) == 0;
}

const msgpack_object *mp_map_get(const msgpack_object *o, const char *key)
{
    if (o->type != MSGPACK_OBJECT_MAP) return NULL;
    for (uint32_t i = 0; i < o->via.map.size; i++)
        if (mp_str_eq(&o->via.map.ptr[i].key, key)) return &o->via.map.ptr[i].val;
    return NULL;
}

int mp_get_i64(const msgpack_object *o, int64_t *out)
{
    if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= (uint64_t)INT64_MAX) {
        *out = (int64_t)o->via.u64;
        return 0;
    }
    return RP_EPROTO;
}

void mp_pack_str(msgpack_packer *pk, const char *s, size_t len)
{
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

void mp_pack_cstr(msgpack_packer *pk, const char *s)
{
    mp_pack_str(pk, s, strlen(s));
}
