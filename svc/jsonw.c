/* JSON strings and numbers; see jsonw.h. */
#include "jsonw.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s[0..n) (2 to 4 bytes), or 0 when
 * s does not start one: RFC 3629's table, which excludes overlong forms,
 * surrogates and code points beyond U+10FFFF. */
static size_t s_utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* beyond U+10FFFF */
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return len;
}

void jsonw_str(metrics_buf_t *b, const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t run = 0; /* start of the bytes copied as they are */
    metrics_buf_append(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        const char *esc = NULL;
        char u[8];
        size_t skip = 1;
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t len = s_utf8_seq(s + i, n - i);
            /* U+2028 and U+2029 are E2 80 A8 and E2 80 A9 */
            if (len == 3 && c == 0xE2 && s[i + 1] == 0x80 && (s[i + 2] | 1) == 0xA9) {
                esc = s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
                skip = 3;
            } else if (len) {
                i += len;
                continue;
            } else {
                esc = "\\ufffd";
            }
        } else {
            switch (c) {
            case '"':
                esc = "\\\"";
                break;
            case '\\':
                esc = "\\\\";
                break;
            case '\n':
                esc = "\\n";
                break;
            case '\r':
                esc = "\\r";
                break;
            case '\t':
                esc = "\\t";
                break;
            default: /* the other control characters, and DEL */
                snprintf(u, sizeof u, "\\u%04x", c);
                esc = u;
            }
        }
        metrics_buf_append(b, str + run, i - run);
        metrics_buf_append(b, esc, strlen(esc));
        i += skip;
        run = i;
    }
    metrics_buf_append(b, str + run, n - run);
    metrics_buf_append(b, "\"", 1);
}

void jsonw_cstr(metrics_buf_t *b, const char *s)
{
    jsonw_str(b, s, strlen(s));
}

void jsonw_key(metrics_buf_t *b, const char *key)
{
    jsonw_cstr(b, key);
    metrics_buf_append(b, ":", 1);
}

void jsonw_double(metrics_buf_t *b, double v)
{
    if (!isfinite(v)) {
        metrics_buf_append(b, "null", 4);
        return;
    }
    char buf[40];
    if (fabs(v) < 1e17 && v == (double)(long long)v) { /* whole: no exponent, no fraction */
        snprintf(buf, sizeof buf, "%.0f", v);
        metrics_buf_append(b, buf, strlen(buf));
        return;
    }
    /* The fewest significant digits that read back as v: 17 always do. */
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    metrics_buf_append(b, buf, strlen(buf));
}
