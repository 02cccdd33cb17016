/* Hierarchy level configuration, level value validation and path joining. */
#include "hier.h"
#include "rperr.h"

#include <stdio.h>
#include <string.h>

int hier_levels_parse(const char *list, hier_levels_t *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    const char *p = list ? list : "";
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *bad = hier_check_value(p, len);
        if (bad) {
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

const char *hier_check_value(const char *s, size_t len)
{
    if (len == 0) return "empty value";
    if (len > HIER_MAX_VALUE) return "longer than 64 bytes";
    if (!hier_utf8_valid(s, len)) return "not valid UTF-8";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7F) return "contains a control character";
        if (i + HIER_SEP_LEN <= len && memcmp(s + i, HIER_SEP, HIER_SEP_LEN) == 0)
            return "contains '" HIER_SEP "'";
    }
    /* "a:" + "::" + "b" would split as "a" + "::" + ":b": no value may start or
     * end with a character of the separator. */
    if (s[0] == HIER_SEP[0] || s[len - 1] == HIER_SEP[0]) return "starts or ends with ':'";
    return NULL;
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
