/* Risk message validation. Every rejection reason names the field so a
 * producer can fix its data. */
#include "risk.h"
#include "mp.h"
#include "../common/rperr.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { F_TRADEID, F_VALUE, F_VERSION, F_TIMESTAMP, F_HIERARCHY, F_COUNT };
static const char *const s_fields[F_COUNT] = {"TradeID", "Value", "Version", "Timestamp",
                                              "Hierarchy"};
static const uint32_t s_field_len[F_COUNT] = {7, 5, 7, 9, 9}; /* strlen of each */

/* Prints a string for an error message: printable ASCII only. */
static void s_quote_str(const char *s, size_t len, char *buf, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < len && n + 5 < cap && i < 40; i++) {
        unsigned char c = (unsigned char)s[i];
        n += (size_t)snprintf(buf + n, cap - n, (c >= 0x20 && c < 0x7f) ? "%c" : "\\x%02x", c);
    }
    buf[n] = 0;
}

static void s_quote(const msgpack_object *o, char *buf, size_t cap)
{
    if (o->type != MSGPACK_OBJECT_STR) {
        snprintf(buf, cap, "(non-string key)");
        return;
    }
    s_quote_str(o->via.str.ptr, o->via.str.size, buf, cap);
}

/* Every name a message carries goes through hier_check_text whole. */
_Static_assert(RISK_TRADE_ID_MAX <= HIER_TEXT_MAX && HIER_MAX_VALUE <= HIER_TEXT_MAX,
               "names longer than hier_check_text takes");

int risk_frame_open(const char *buf, size_t len, uint32_t max_batch, risk_frame_t *f, char *why,
                    size_t whylen)
{
    mp_head_t top;
    size_t off = 0, first, n = 1;
    int rc = mp_head(buf, len, &off, &top, why, whylen);
    if (rc) return rc;
    if (top.kind == MP_MAP) {
        first = 0; /* one message, wrapped or not: the whole frame */
    } else if (top.kind == MP_ARRAY) {
        if (top.n == 0) {
            snprintf(why, whylen, "empty batch");
            return RP_EPROTO;
        }
        if (top.n > max_batch) {
            snprintf(why, whylen, "batch of %u messages exceeds the limit of %u", top.n,
                     max_batch);
            return RP_EPROTO;
        }
        if (top.n > len - off) { /* every message needs at least one byte */
            snprintf(why, whylen, "truncated msgpack: %u items declared, %zu bytes left", top.n,
                     len - off);
            return RP_EPROTO;
        }
        first = off;
        n = top.n;
    } else {
        snprintf(why, whylen, "frame must be a message map or an array of them");
        return RP_EPROTO;
    }
    /* Every element must be complete before any is used: a frame cut short
     * or followed by stray bytes is refused whole, never half applied. */
    off = first;
    for (size_t i = 0; i < n; i++)
        if ((rc = mp_skip(buf, len, &off, why, whylen))) return rc;
    if (off != len) {
        snprintf(why, whylen, "%zu trailing bytes after the last message", len - off);
        return RP_EPROTO;
    }
    *f = (risk_frame_t){.buf = buf, .len = len, .n = n, .i = 0, .off = first};
    return 0;
}

int risk_frame_next(risk_frame_t *f, const char **msg, size_t *mlen)
{
    char why[RISK_WHY_MAX];
    if (f->i >= f->n) return 0;
    size_t start = f->off;
    /* risk_frame_open walked these bytes already. Should the buffer have
     * changed since, the rest is handed out as it is: risk_msg_unpack then
     * rejects it with a reason, and no message goes unaccounted for. */
    if (mp_skip(f->buf, f->len, &f->off, why, sizeof why)) f->off = f->len;
    *msg = f->buf + start;
    *mlen = f->off - start;
    f->i++;
    return 1;
}

/* Checks each field's value of the message map at msg[off] on its own, so
 * that an excess is reported under the field's name. The Hierarchy is the one
 * container producers legitimately grow, so its key count gets its own
 * reason. Returns RP_EINVAL with the reason, or 0 when every field is within
 * bounds or the message is no map of at most RISK_HIER_KEYS_MAX fields (the
 * check of the whole message then speaks). */
static int s_field_bounds(const char *msg, size_t len, size_t off, char *why, size_t whylen)
{
    char inner[RISK_WHY_MAX], q[200];
    mp_head_t h, k, v;
    if (mp_head(msg, len, &off, &h, inner, sizeof inner) || h.kind != MP_MAP ||
        h.n > RISK_HIER_KEYS_MAX)
        return 0;
    for (uint32_t i = 0; i < h.n; i++) {
        size_t koff = off, voff, vend;
        if (mp_skip(msg, len, &off, inner, sizeof inner)) return 0;
        voff = vend = off;
        if (mp_skip(msg, len, &vend, inner, sizeof inner)) return 0;
        off = vend;
        if (mp_head(msg, len, &koff, &k, inner, sizeof inner) || k.kind != MP_STR) continue;
        size_t hoff = voff;
        if (k.n == 9 && memcmp(k.str, "Hierarchy", 9) == 0 &&
            mp_head(msg, len, &hoff, &v, inner, sizeof inner) == 0 && v.kind == MP_MAP &&
            v.n > RISK_HIER_KEYS_MAX) {
            snprintf(why, whylen, "Hierarchy has %u keys, at most %d allowed", v.n,
                     RISK_HIER_KEYS_MAX);
            return RP_EINVAL;
        }
        if (mp_check(msg + voff, vend - voff, MP_MAX_DEPTH, RISK_HIER_KEYS_MAX, inner,
                     sizeof inner)) {
            s_quote_str(k.str, k.n, q, sizeof q);
            snprintf(why, whylen, "%s: %s", q, inner);
            return RP_EINVAL;
        }
    }
    return 0;
}

int risk_msg_unpack(const char *msg, size_t len, msgpack_unpacked *unp, char *why, size_t whylen)
{
    char inner[RISK_WHY_MAX];
    mp_head_t h, k;
    size_t off = 0, fields = 0;
    msgpack_unpacked_init(unp);
    /* The common case, a valid message, in one walk: within depth and every
     * container within the Hierarchy's width implies each check below passes
     * too. Only a message that fails goes through them, for their reasons. */
    if (mp_check(msg, len, MP_MAX_DEPTH, RISK_HIER_KEYS_MAX, inner, sizeof inner) == 0) {
        if (msgpack_unpack_next(unp, msg, len, &off) == MSGPACK_UNPACK_SUCCESS) return 0;
        snprintf(why, whylen, "message: msgpack decoder rejected the frame");
        return RP_EINVAL;
    }
    /* Depth alone first (no item limit), so its reason is the one given. */
    if (mp_check(msg, len, MP_MAX_DEPTH, UINT32_MAX, inner, sizeof inner)) {
        snprintf(why, whylen, "message %s", inner);
        return RP_EINVAL;
    }
    /* Look through a {"RiskMessage": ...} wrapper for the fields. */
    if (mp_head(msg, len, &off, &h, inner, sizeof inner) == 0 && h.kind == MP_MAP && h.n == 1 &&
        mp_head(msg, len, &off, &k, inner, sizeof inner) == 0 && k.kind == MP_STR &&
        k.n == 11 && memcmp(k.str, "RiskMessage", 11) == 0)
        fields = off;
    if (s_field_bounds(msg, len, fields, why, whylen)) return RP_EINVAL;
    /* No valid message has a container wider than its Hierarchy. */
    if (mp_unpack(msg, len, MP_MAX_DEPTH, RISK_HIER_KEYS_MAX, unp, inner, sizeof inner)) {
        snprintf(why, whylen, "message: %s", inner);
        return RP_EINVAL;
    }
    return 0;
}

static int s_hierarchy(const msgpack_object *hv, const hier_levels_t *h, risk_msg_t *out,
                       char *why, size_t whylen)
{
    char q[200], bad[RISK_WHY_MAX];
    if (hv->type != MSGPACK_OBJECT_MAP) {
        snprintf(why, whylen, "Hierarchy must be a map of string to string");
        return RP_EINVAL;
    }
    if (hv->via.map.size > RISK_HIER_KEYS_MAX) {
        snprintf(why, whylen, "Hierarchy has %u keys, at most %d allowed", hv->via.map.size,
                 RISK_HIER_KEYS_MAX);
        return RP_EINVAL;
    }
    for (int l = 0; l < h->n; l++) out->level[l] = NULL;
    for (uint32_t i = 0; i < hv->via.map.size; i++) {
        const msgpack_object *k = &hv->via.map.ptr[i].key, *v = &hv->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR || k->via.str.size == 0 ||
            k->via.str.size > HIER_MAX_VALUE) {
            snprintf(why, whylen, "Hierarchy keys must be non-empty strings of at most %d bytes",
                     HIER_MAX_VALUE);
            return RP_EINVAL;
        }
        if (hier_check_text(k->via.str.ptr, k->via.str.size, bad, sizeof bad)) {
            s_quote(k, q, sizeof q);
            snprintf(why, whylen, "Hierarchy key '%s' %s", q, bad);
            return RP_EINVAL;
        }
        for (uint32_t j = 0; j < i; j++) {
            const msgpack_object *kj = &hv->via.map.ptr[j].key;
            if (kj->via.str.size == k->via.str.size &&
                memcmp(kj->via.str.ptr, k->via.str.ptr, k->via.str.size) == 0) {
                s_quote(k, q, sizeof q);
                snprintf(why, whylen, "Hierarchy key '%s' appears twice", q);
                return RP_EINVAL;
            }
        }
        if (v->type != MSGPACK_OBJECT_STR) {
            s_quote(k, q, sizeof q);
            snprintf(why, whylen, "Hierarchy.%s must be a string", q);
            return RP_EINVAL;
        }
        int level = -1;
        for (int l = 0; l < h->n && level < 0; l++)
            if (memcmp(h->name[l], k->via.str.ptr, k->via.str.size) == 0 &&
                h->name[l][k->via.str.size] == 0)
                level = l;
        int rc;
        if (level >= 0) {
            rc = hier_check_value(v->via.str.ptr, v->via.str.size, bad, sizeof bad);
        } else if (v->via.str.size > HIER_MAX_VALUE) {
            snprintf(bad, sizeof bad, "longer than %d bytes", HIER_MAX_VALUE);
            rc = RP_EINVAL;
        } else {
            /* Extra values do not aggregate but are kept and shown with the
             * trade, so they too must not pass for another value. */
            rc = hier_check_text(v->via.str.ptr, v->via.str.size, bad, sizeof bad);
        }
        if (rc) {
            s_quote(k, q, sizeof q);
            snprintf(why, whylen, "Hierarchy.%s: %s", q, bad);
            return RP_EINVAL;
        }
        if (level >= 0) {
            out->level[level] = v->via.str.ptr;
            out->level_len[level] = v->via.str.size;
        }
    }
    for (int l = 0; l < h->n; l++)
        if (!out->level[l]) {
            snprintf(why, whylen, "Hierarchy is missing level '%s'", h->name[l]);
            return RP_EINVAL;
        }
    out->hierarchy = hv;
    return 0;
}

static int s_value(const msgpack_object *v, money_t *out, char *why, size_t whylen)
{
    int rc;
    switch (v->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        rc = v->via.u64 > (uint64_t)INT64_MAX ? RP_ERANGE : money_from_int((int64_t)v->via.u64, out);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        rc = money_from_int(v->via.i64, out);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!isfinite(v->via.f64)) {
            snprintf(why, whylen, "Value must be finite");
            return RP_EINVAL;
        }
        rc = money_from_double(v->via.f64, out);
        break;
    case MSGPACK_OBJECT_STR:
        if (v->via.str.size > MONEY_STR_MAX) {
            snprintf(why, whylen, "Value string longer than %d bytes", MONEY_STR_MAX);
            return RP_EINVAL;
        }
        rc = money_from_str(v->via.str.ptr, v->via.str.size, out);
        if (rc == RP_EINVAL) {
            snprintf(why, whylen, "Value string is not a decimal number");
            return RP_EINVAL;
        }
        break;
    default:
        snprintf(why, whylen, "Value must be a number or a decimal string");
        return RP_EINVAL;
    }
    if (rc) {
        snprintf(why, whylen, "|Value| must be at most 1e12");
        return RP_EINVAL;
    }
    return 0;
}

int risk_msg_decode(const msgpack_object *o, const hier_levels_t *h, risk_msg_t *out, char *why,
                    size_t whylen)
{
    char q[200], bad[RISK_WHY_MAX];
    const msgpack_object *f[F_COUNT] = {0};
    if (o->type == MSGPACK_OBJECT_MAP && o->via.map.size == 1 &&
        mp_str_eq(&o->via.map.ptr[0].key, "RiskMessage"))
        o = &o->via.map.ptr[0].val;
    if (o->type != MSGPACK_OBJECT_MAP) {
        snprintf(why, whylen, "message must be a map");
        return RP_EINVAL;
    }
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        int which = -1;
        for (int j = 0; j < F_COUNT && which < 0 && k->type == MSGPACK_OBJECT_STR; j++)
            if (k->via.str.size == s_field_len[j] &&
                memcmp(k->via.str.ptr, s_fields[j], s_field_len[j]) == 0)
                which = j;
        if (which < 0) {
            s_quote(k, q, sizeof q);
            snprintf(why, whylen, "unknown field '%s'", q);
            return RP_EINVAL;
        }
        if (f[which]) {
            snprintf(why, whylen, "field %s appears twice", s_fields[which]);
            return RP_EINVAL;
        }
        f[which] = &o->via.map.ptr[i].val;
    }
    for (int j = 0; j < F_COUNT; j++)
        if (!f[j] && j != F_TIMESTAMP) {
            snprintf(why, whylen, "missing field %s", s_fields[j]);
            return RP_EINVAL;
        }

    const msgpack_object *t = f[F_TRADEID];
    if (t->type != MSGPACK_OBJECT_STR) {
        snprintf(why, whylen, "TradeID must be a string");
        return RP_EINVAL;
    }
    if (t->via.str.size == 0 || t->via.str.size > RISK_TRADE_ID_MAX) {
        snprintf(why, whylen, "TradeID must be 1 to %d bytes long", RISK_TRADE_ID_MAX);
        return RP_EINVAL;
    }
    if (hier_check_text(t->via.str.ptr, t->via.str.size, bad, sizeof bad)) {
        snprintf(why, whylen, "TradeID %s", bad);
        return RP_EINVAL;
    }
    out->trade_id = t->via.str.ptr;
    out->trade_id_len = t->via.str.size;

    const msgpack_object *v = f[F_VERSION];
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        snprintf(why, whylen, "Version must be >= 0");
        return RP_EINVAL;
    }
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 > (uint64_t)INT64_MAX) {
        snprintf(why, whylen, "Version must be an integer between 0 and 2^63-1");
        return RP_EINVAL;
    }
    out->version = (int64_t)v->via.u64;

    if (s_value(f[F_VALUE], &out->value, why, whylen)) return RP_EINVAL;

    out->timestamp = f[F_TIMESTAMP];
    if (out->timestamp) {
        const msgpack_object *ts = out->timestamp;
        if (ts->type == MSGPACK_OBJECT_NIL) {
            out->timestamp = NULL;
        } else if (ts->type == MSGPACK_OBJECT_FLOAT32 || ts->type == MSGPACK_OBJECT_FLOAT64) {
            if (!isfinite(ts->via.f64)) {
                snprintf(why, whylen, "Timestamp must be finite");
                return RP_EINVAL;
            }
        } else if (ts->type != MSGPACK_OBJECT_POSITIVE_INTEGER &&
                   ts->type != MSGPACK_OBJECT_NEGATIVE_INTEGER) {
            snprintf(why, whylen, "Timestamp must be a number (seconds since epoch)");
            return RP_EINVAL;
        }
    }
    return s_hierarchy(f[F_HIERARCHY], h, out, why, whylen);
}

size_t risk_msg_path(const risk_msg_t *m, const hier_levels_t *h, char *buf)
{
    return hier_join(m->level, m->level_len, h->n, buf);
}
