/* Hierarchy level configuration, level value and name validation (Unicode
 * categories and normalization from utf8proc's tables) and path joining. */
#include "hier.h"
#include "rperr.h"

#include <stdio.h>
#include <string.h>
#include <utf8proc.h>

int hier_levels_parse(const char *list, hier_levels_t *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    const char *p = list ? list : "";
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char bad[128];
        if (hier_check_value(p, len, bad, sizeof bad)) {
            snprintf(why, whylen, "hierarchy level name %d: %s", out->n + 1, bad);
            return RP_EINVAL;
        }
        if (out->n == HIER_MAX_LEVELS) {
            snprintf(why, whylen, "at most %d hierarchy levels", HIER_MAX_LEVELS);
            return RP_EINVAL;
        }
        for (int i = 0; i < out->n; i++)
            if (strlen(out->name[i]) == len && memcmp(out->name[i], p, len) == 0) {
                snprintf(why, whylen, "hierarchy level '%.*s' given twice", (int)len, p);
                return RP_EINVAL;
            }
        memcpy(out->name[out->n++], p, len);
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

size_t hier_levels_format(const hier_levels_t *h, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    for (int i = 0; i < h->n && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%s", i ? "," : "", h->name[i]);
    return n < cap ? n : cap - 1;
}

int hier_utf8_valid(const char *str, size_t len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned cp;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (i + need >= len) return 0; /* truncated sequence */
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((need == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (need == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += need + 1;
    }
    return 1;
}

/* Prints up to four code points as "U+0065 U+0301" into buf[cap]. */
static void s_cps(char *buf, size_t cap, const utf8proc_int32_t *cp, size_t n)
{
    size_t w = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && i < 4 && w < cap; i++)
        w += (size_t)snprintf(buf + w, cap - w, "%sU+%04X", i ? " " : "", (unsigned)cp[i]);
    if (n > 4 && w < cap) snprintf(buf + w, cap - w, " ...");
}

int hier_check_text(const char *s, size_t len, char *why, size_t whylen)
{
    /* Canonical decomposition makes at most 4 code points of one (e.g.
     * U+1F82), so nfc cannot overflow. */
    utf8proc_int32_t in[HIER_TEXT_MAX], nfc[4 * HIER_TEXT_MAX];
    const utf8proc_uint8_t *u = (const utf8proc_uint8_t *)s;
    const utf8proc_option_t opts = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    size_t n = 0;
    int plain = 1;
    if (len > HIER_TEXT_MAX) {
        snprintf(why, whylen, "is longer than %d bytes", HIER_TEXT_MAX);
        return RP_EINVAL;
    }
    /* Printable ASCII (U+0020..U+007E) is valid UTF-8, in NFC, and neither
     * control nor format: most TradeIDs and names stop here, without a table
     * lookup per character. */
    size_t ascii = 0;
    while (ascii < len && (unsigned char)s[ascii] >= 0x20 && (unsigned char)s[ascii] < 0x7f)
        ascii++;
    if (ascii == len) return 0;
    if (!hier_utf8_valid(s, len)) {
        snprintf(why, whylen, "is not valid UTF-8");
        return RP_EINVAL;
    }
    for (size_t i = 0; i < len; n++) {
        utf8proc_ssize_t k = utf8proc_iterate(u + i, (utf8proc_ssize_t)(len - i), &in[n]);
        if (k <= 0) { /* hier_utf8_valid accepted it: utf8proc disagreeing is a bug */
            snprintf(why, whylen, "is not valid UTF-8");
            return RP_EINVAL;
        }
        i += (size_t)k;
        utf8proc_category_t cat = utf8proc_category(in[n]);
        if (cat == UTF8PROC_CATEGORY_CC || cat == UTF8PROC_CATEGORY_CF) {
            snprintf(why, whylen, "contains %s character U+%04X",
                     cat == UTF8PROC_CATEGORY_CC ? "control" : "format", (unsigned)in[n]);
            return RP_EINVAL;
        }
        if (in[n] >= 0x300) plain = 0;
    }
    /* Below U+0300 (the first combining mark) every character is its own NFC
     * and composes with nothing before it: most names stop here. */
    if (plain) return 0;
    /* Text not in NFC is refused rather than normalised: a TradeID is the
     * state table's key and the producer's handle for later versions, and a
     * level value the name of an aggregate row, so silently storing other
     * bytes than were sent would make a later message in the sender's own
     * form address another trade (or rows stored before this rule), while a
     * rejection names the fault and the dead-letter entry keeps the bytes
     * for a replay once the producer normalises. */
    utf8proc_ssize_t m = utf8proc_decompose(u, (utf8proc_ssize_t)len, nfc, 4 * HIER_TEXT_MAX, opts);
    if (m >= 0 && m <= 4 * HIER_TEXT_MAX) m = utf8proc_normalize_utf32(nfc, m, opts);
    if (m < 0 || m > 4 * HIER_TEXT_MAX) {
        snprintf(why, whylen, "cannot be normalised: %s",
                 m < 0 ? utf8proc_errmsg(m) : "too many code points");
        return RP_EINVAL;
    }
    size_t d = 0, ei = n, eo = (size_t)m;
    while (d < n && d < eo && in[d] == nfc[d]) d++;
    if (d == n && d == eo) return 0;
    /* Name the smallest stretch that differs: trim the common tail. */
    while (ei > d && eo > d && in[ei - 1] == nfc[eo - 1]) ei--, eo--;
    char a[64], b[64];
    s_cps(a, sizeof a, in + d, ei - d);
    s_cps(b, sizeof b, nfc + d, eo - d);
    snprintf(why, whylen, "is not in Unicode NFC: %s is %s in NFC", a, b);
    return RP_EINVAL;
}

int hier_check_value(const char *s, size_t len, char *why, size_t whylen)
{
    if (len == 0) {
        snprintf(why, whylen, "empty value");
        return RP_EINVAL;
    }
    if (len > HIER_MAX_VALUE) {
        snprintf(why, whylen, "longer than %d bytes", HIER_MAX_VALUE);
        return RP_EINVAL;
    }
    if (hier_check_text(s, len, why, whylen)) return RP_EINVAL;
    if (memmem(s, len, HIER_SEP, HIER_SEP_LEN)) {
        snprintf(why, whylen, "contains '" HIER_SEP "'");
        return RP_EINVAL;
    }
    /* "a:" + "::" + "b" would split as "a" + "::" + ":b": no value may start or
     * end with a character of the separator. */
    if (s[0] == HIER_SEP[0] || s[len - 1] == HIER_SEP[0]) {
        snprintf(why, whylen, "starts or ends with ':'");
        return RP_EINVAL;
    }
    return 0;
}

size_t hier_join(const char *const *vals, const size_t *lens, int n, char *buf)
{
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        if (i) {
            memcpy(buf + off, HIER_SEP, HIER_SEP_LEN);
            off += HIER_SEP_LEN;
        }
        memcpy(buf + off, vals[i], lens[i]);
        off += lens[i];
    }
    return off;
}

int hier_prefixes(const char *path, size_t len, size_t *lens, int max)
{
    int n = 0;
    for (size_t i = 0; i + HIER_SEP_LEN <= len && n < max; i++)
        if (memcmp(path + i, HIER_SEP, HIER_SEP_LEN) == 0) {
            lens[n++] = i;
            i += HIER_SEP_LEN - 1;
        }
    if (n < max && len > 0) lens[n++] = len;
    return n;
}

int hier_check_path(const char *s, size_t len, int *levels, char *why, size_t whylen)
{
    int n = 0;
    size_t pos = 0;
    for (;;) {
        const char *sep = memmem(s + pos, len - pos, HIER_SEP, HIER_SEP_LEN);
        size_t end = sep ? (size_t)(sep - s) : len;
        char r[128];
        if (++n > HIER_MAX_LEVELS) {
            snprintf(why, whylen, "more than %d levels", HIER_MAX_LEVELS);
            return RP_EINVAL;
        }
        if (hier_check_value(s + pos, end - pos, r, sizeof r)) {
            snprintf(why, whylen, "level %d: %s", n, r);
            return RP_EINVAL;
        }
        if (!sep) break;
        pos = end + HIER_SEP_LEN;
    }
    if (levels) *levels = n;
    return 0;
}
