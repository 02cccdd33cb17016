/* Fuzzes the table-row and hierarchy decoders; the first input byte picks one:
 * tables_agg_decode (an accepted row re-encodes to a row that decodes to the
 * same value and count), hier_check_value against an independent UTF-8,
 * control character and separator check (and, above U+02FF, against
 * utf8proc's own NFC and categories), hier_prefixes on arbitrary bytes (structural properties),
 * hier_prefixes on a path joined from valid values (exact level boundaries),
 * hier_levels_parse (format and parse again is the identity), and the batch
 * and dead-letter rows of the state environment (an accepted row re-encodes
 * to the same bytes or fields). */
#include "fuzz.h"
#include "../../common/hier.h"
#include "../../common/money.h"
#include "../../common/rperr.h"
#include "../../proto/tables.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

static void s_agg(const char *buf, size_t len)
{
    money_sum_t v, v2;
    int64_t c, c2;
    int rc = tables_agg_decode(buf, len, &v, &c);
    FUZZ_CHECK(rc == 0 || rc == RP_EPROTO);
    if (rc) return;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tables_agg_encode(&sb, v, c);
    FUZZ_CHECK(tables_agg_decode(sb.data, sb.size, &v2, &c2) == 0);
    FUZZ_CHECK(v2 == v && c2 == c);
    msgpack_sbuffer_destroy(&sb);
}

/* RFC 3629 well-formed UTF-8, written from its table of byte sequences. */
static int s_utf8_ref(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c <= 0x7F)
            n = 0;
        else if (c >= 0xC2 && c <= 0xDF)
            n = 1;
        else if (c == 0xE0)
            n = 2, lo = 0xA0;
        else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
            n = 2;
        else if (c == 0xED)
            n = 2, hi = 0x9F;
        else if (c == 0xF0)
            n = 3, lo = 0x90;
        else if (c >= 0xF1 && c <= 0xF3)
            n = 3;
        else if (c == 0xF4)
            n = 3, hi = 0x8F;
        else
            return 0;
        if (len - i - 1 < n) return 0;
        for (size_t k = 1; k <= n; k++) {
            unsigned char b = s[i + k];
            if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return 0;
        }
        i += n + 1;
    }
    return 1;
}

/* For valid UTF-8 that hier_check_value judged, against utf8proc's own
 * whole-string NFC and its categories: accepted text is its own NFC and has
 * no Cc or Cf code point; text refused as not NFC differs from its NFC. */
static void s_check_unicode(const char *s, size_t len, int rc, const char *why)
{
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)len, &nfc,
                                      UTF8PROC_STABLE | UTF8PROC_COMPOSE);
    FUZZ_CHECK(n >= 0);
    int same = (size_t)n == len && memcmp(nfc, s, len) == 0;
    free(nfc);
    if (strstr(why, "NFC")) FUZZ_CHECK(rc && !same);
    if (rc) return;
    FUZZ_CHECK(same);
    utf8proc_int32_t cp;
    for (size_t i = 0; i < len;) {
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i,
                                              (utf8proc_ssize_t)(len - i), &cp);
        FUZZ_CHECK(k > 0);
        FUZZ_CHECK(utf8proc_category(cp) != UTF8PROC_CATEGORY_CC &&
                   utf8proc_category(cp) != UTF8PROC_CATEGORY_CF);
        i += (size_t)k;
    }
}

static void s_check_value(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    int utf8 = s_utf8_ref(u, len);
    FUZZ_CHECK(hier_utf8_valid(s, len) == utf8);
    int ok = len >= 1 && len <= HIER_MAX_VALUE && utf8 && s[0] != ':' && s[len - 1] != ':';
    int plain = 1; /* only code points below U+0300, where NFC changes nothing */
    for (size_t i = 0; ok && i < len; i++) {
        if (u[i] < 0x20 || u[i] == 0x7F || (i + 1 < len && s[i] == ':' && s[i + 1] == ':')) ok = 0;
        /* C1 controls U+0080..U+009F and U+00AD, the one format character
         * below U+0300, as UTF-8 */
        if (u[i] == 0xC2 && i + 1 < len && (u[i + 1] <= 0x9F || u[i + 1] == 0xAD)) ok = 0;
        if (u[i] >= 0xCC) plain = 0; /* a lead byte of U+0300 or above */
    }
    char why[160] = "";
    int rc = hier_check_value(s, len, why, sizeof why);
    FUZZ_CHECK(rc == 0 || (rc == RP_EINVAL && why[0]));
    if (!ok || plain) {
        FUZZ_CHECK((rc == 0) == ok);
        return;
    }
    /* Above U+02FF only Unicode's tables decide; they must be why it failed. */
    FUZZ_CHECK(rc == 0 || strstr(why, "format character") || strstr(why, "control character") ||
               strstr(why, "NFC"));
    s_check_unicode(s, len, rc, why);
}

static void s_prefixes_raw(const char *s, size_t len, int max)
{
    size_t lens[HIER_MAX_LEVELS + 1];
    int n = hier_prefixes(s, len, lens, max);
    FUZZ_CHECK(n >= 0 && n <= max);
    if (len == 0) FUZZ_CHECK(n == 0);
    if (len > 0 && max > 0) FUZZ_CHECK(n >= 1);
    for (int k = 0; k < n; k++) {
        FUZZ_CHECK(lens[k] <= len);
        if (k) FUZZ_CHECK(lens[k] > lens[k - 1]);
        if (lens[k] != len)
            FUZZ_CHECK(lens[k] + 1 < len && s[lens[k]] == ':' && s[lens[k] + 1] == ':');
    }
    if (n > 0 && n < max) FUZZ_CHECK(lens[n - 1] == len);
}

/* Splits the input at NUL bytes into level values; if all are valid, their
 * join must split back at exactly the value boundaries. */
static void s_prefixes_joined(const char *s, size_t len)
{
    const char *vals[HIER_MAX_LEVELS];
    size_t lens[HIER_MAX_LEVELS];
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != 0) continue;
        if (n == HIER_MAX_LEVELS) return;
        vals[n] = s + start;
        lens[n] = i - start;
        char why[160];
        if (hier_check_value(vals[n], lens[n], why, sizeof why)) return;
        n++;
        start = i + 1;
    }
    char path[HIER_PATH_MAX];
    size_t plen = hier_join(vals, lens, n, path);
    FUZZ_CHECK(plen <= HIER_PATH_MAX);
    size_t got[HIER_MAX_LEVELS], want = 0;
    FUZZ_CHECK(hier_prefixes(path, plen, got, HIER_MAX_LEVELS) == n);
    for (int k = 0; k < n; k++) {
        want += (k ? 2 : 0) + lens[k];
        FUZZ_CHECK(got[k] == want);
    }
}

static void s_levels(const char *s, size_t len)
{
    char list[1024], why[160], out[1024];
    if (len >= sizeof list) len = sizeof list - 1;
    memcpy(list, s, len);
    list[len] = 0;
    hier_levels_t h, h2;
    int rc = hier_levels_parse(list, &h, why, sizeof why);
    FUZZ_CHECK(rc == 0 || rc == RP_EINVAL);
    if (rc) return;
    FUZZ_CHECK(h.n >= 1 && h.n <= HIER_MAX_LEVELS);
    size_t n = hier_levels_format(&h, out, sizeof out);
    FUZZ_CHECK(n == strlen(out));
    FUZZ_CHECK(hier_levels_parse(out, &h2, why, sizeof why) == 0);
    FUZZ_CHECK(h2.n == h.n);
    for (int i = 0; i < h.n; i++)
        FUZZ_CHECK(strcmp(h.name[i], h2.name[i]) == 0);
}

static void s_batch(const char *buf, size_t len)
{
    batch_row_t row, row2;
    int rc = tables_batch_decode(buf, len, &row);
    FUZZ_CHECK(rc == 0 || rc == RP_EPROTO);
    if (rc) return;
    FUZZ_CHECK((len == TABLES_BATCH_SIZE || len == TABLES_BATCH_SIZE_OLD) &&
               row.first <= row.last);
    FUZZ_CHECK(len == TABLES_BATCH_SIZE || row.commit_us == 0);
    uint8_t out[TABLES_BATCH_SIZE];
    tables_batch_encode(out, &row);
    FUZZ_CHECK(memcmp(out, buf, TABLES_BATCH_SIZE_OLD) == 0);
    FUZZ_CHECK(tables_batch_decode(out, sizeof out, &row2) == 0 &&
               !memcmp(&row, &row2, sizeof row));
}

static void s_dlq(const char *buf, size_t len)
{
    msgpack_unpacked unp, unp2;
    dlq_row_t row, back;
    int rc = tables_dlq_decode(buf, len, &unp, &row);
    FUZZ_CHECK(rc == 0 || rc == RP_EPROTO);
    if (rc == 0) {
        FUZZ_CHECK(row.raw_len <= row.raw_size);
        FUZZ_CHECK(row.truncated == (row.raw_len < row.raw_size));
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        tables_dlq_encode(&sb, &row);
        FUZZ_CHECK(tables_dlq_decode(sb.data, sb.size, &unp2, &back) == 0);
        FUZZ_CHECK(back.id == row.id && back.time_ms == row.time_ms && back.index == row.index);
        FUZZ_CHECK(back.raw_size == row.raw_size && back.truncated == row.truncated);
        FUZZ_CHECK(back.raw_len == row.raw_len && memcmp(back.raw, row.raw, row.raw_len) == 0);
        FUZZ_CHECK(back.source_len == row.source_len &&
                   memcmp(back.source, row.source, row.source_len) == 0);
        FUZZ_CHECK(back.reason_len == row.reason_len &&
                   memcmp(back.reason, row.reason, row.reason_len) == 0);
        msgpack_unpacked_destroy(&unp2);
        msgpack_sbuffer_destroy(&sb);
    }
    msgpack_unpacked_destroy(&unp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *s = (const char *)data + 1;
    size_t len = size - 1;
    switch (data[0] % 7) {
    case 0:
        s_agg(s, len);
        break;
    case 1:
        s_check_value(s, len);
        break;
    case 2:
        s_prefixes_raw(s, len, (data[0] / 7) % (HIER_MAX_LEVELS + 2));
        break;
    case 3:
        s_prefixes_joined(s, len);
        break;
    case 4:
        s_levels(s, len);
        break;
    case 5:
        s_batch(s, len);
        break;
    default:
        s_dlq(s, len);
        break;
    }
    return 0;
}
