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

/* Prints a msgpack string for an error message: printable ASCII only. */
static void s_quote(const msgpack_object *o, char *buf, size_t cap)
{
    if (o->type != MSGPACK_OBJECT_STR) {
        snprintf(buf, cap, "(non-string key)");
        return;
    }
    size_t n = 0;
    for (uint32_t i = 0; i < o->via.str.size && n + 5 < cap && i < 40; i++) {
        unsigned char c = (unsigned char)o->via.str.ptr[i];
        n += (size_t)snprintf(buf + n, cap - n, (c >= 0x20 && c < 0x7f) ? "%c" : "\\x%02x", c);
    }
    buf[n] = 0;
}

static int s_text_ok(const char *s, size_t len)
{
    if (!hier_utf8_valid(s, len)) return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 0;
    return 1;
}

int risk_frame_open(const char *buf, size_t len, uint32_t max_batch, msgpack_unpacked *unp,
                    const msgpack_object **msgs, size_t *n, char *why, size_t whylen)
{
    /* Nesting and lengths are bounded here; anything deeper than a message
     * needs is then rejected per message, so good neighbours still pass. */
    uint32_t limit = max_batch > RISK_HIER_KEYS_MAX ? max_batch : RISK_HIER_KEYS_MAX;
    int rc = mp_unpack(buf, len, MP_MAX_DEPTH, limit, unp, why, whylen);
    if (rc) return rc;
    const msgpack_object *o = &unp->data;
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        if (o->via.array.size == 0) {
            snprintf(why, whylen, "empty batch");
            return RP_EPROTO;
        }
        if (o->via.array.size > max_batch) {
            snprintf(why, whylen, "batch of %u messages exceeds the limit of %u",
                     o->via.array.size, max_batch);
            return RP_EPROTO;
        }
        *msgs = o->via.array.ptr;
        *n = o->via.array.size;
        return 0;
    }
    if (o->type == MSGPACK_OBJECT_MAP) {
        *msgs = o;
        *n = 1;
        return 0;
    }
    snprintf(why, whylen, "frame must be a message map or an array of them");
    return RP_EPROTO;
}

static int s_hierarchy(const msgpack_object *hv, const hier_levels_t *h, risk_msg_t *out,
                       char *why, size_t whylen)
{
    char q[200];
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
        if (k->type != MSGPACK_OBJECT_STR || !s_text_ok(k->via.str.ptr, k->via.str.size) ||
            k->via.str.size == 0 || k->via.str.size > HIER_MAX_VALUE) {
            snprintf(why, whylen, "Hierarchy keys must be non-empty UTF-8 strings of at most %d "
                     "bytes without control characters", HIER_MAX_VALUE);
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
        for (int l = 0; l < h->n; l++)
            if (strlen(h->name[l]) == k->via.str.size &&
                memcmp(h->name[l], k->via.str.ptr, k->via.str.size) == 0)
                level = l;
        if (level >= 0) {
            const char *bad = hier_check_value(v->via.str.ptr, v->via.str.size);
            if (bad) {
                s_quote(k, q, sizeof q);
                snprintf(why, whylen, "Hierarchy.%s: %s", q, bad);
                return RP_EINVAL;
            }
            out->level[level] = v->via.str.ptr;
            out->level_len[level] = v->via.str.size;
        } else if (v->via.str.size > HIER_MAX_VALUE ||
                   !s_text_ok(v->via.str.ptr, v->via.str.size)) {
            s_quote(k, q, sizeof q);
            snprintf(why, whylen, "Hierarchy.%s must be UTF-8 of at most %d bytes without "
                     "control characters", q, HIER_MAX_VALUE);
            return RP_EINVAL;
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
    char q[200];
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
        for (int j = 0; j < F_COUNT; j++)
            if (mp_str_eq(k, s_fields[j])) which = j;
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
    if (!s_text_ok(t->via.str.ptr, t->via.str.size)) {
        snprintf(why, whylen, "TradeID must be UTF-8 without control characters");
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
