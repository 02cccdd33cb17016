/* Fuzzes the money parsers against each other and against the formatter:
 * money_from_str and money_sum_parse on the input as text, money_format of the
 * input's first 16 bytes re-parsed by money_sum_parse, and money_from_double
 * of its first 8 bytes against money_from_str of the same double printed with
 * "%.60f". No double lies within 1e-60 of a half micro-unit without being
 * on it, so cutting at 60 digits never changes the rounding: both must agree
 * to the micro-unit and on range errors. */
#include "fuzz.h"
#include "../../common/money.h"
#include "../../common/rperr.h"

#include <math.h>
#include <string.h>

/* Inputs money_from_str reads at all; longer ones are RP_EINVAL by contract
 * (the decoder caps at MONEY_STR_MAX, the parser itself a little above). */
#define STR_CAP 128

/* Longest string money_from_str parses (see money.c); longer is RP_EINVAL. */
#define STR_IMPL_MAX (MONEY_STR_MAX + 32)

static void s_text(const char *s, size_t len)
{
    money_t v = 0, w = 0;
    money_sum_t sv = 0, sw = 0;
    char buf[MONEY_FMT_MAX];
    if (len > STR_CAP) len = STR_CAP;
    int rc = money_from_str(s, len, &v);
    FUZZ_CHECK(rc == 0 || rc == RP_EINVAL || rc == RP_ERANGE);
    if (rc == 0) {
        FUZZ_CHECK(v >= -MONEY_MAX && v <= MONEY_MAX);
        /* Formatting an accepted value and parsing it again is the identity. */
        size_t n = money_format(v, buf, sizeof buf);
        FUZZ_CHECK(money_from_str(buf, n, &w) == 0 && w == v);
    }
    int src = money_sum_parse(s, len, &sv);
    FUZZ_CHECK(src == 0 || src == RP_EINVAL);
    if (src == 0) {
        size_t n = money_format(sv, buf, sizeof buf);
        FUZZ_CHECK(money_sum_parse(buf, n, &sw) == 0 && sw == sv);
        /* A plain decimal with at most 6 fractional digits needs no rounding:
         * both parsers must read the same value when it is in range. */
        if (sv >= -MONEY_MAX && sv <= MONEY_MAX && len <= STR_IMPL_MAX) {
            FUZZ_CHECK(rc == 0);
            FUZZ_CHECK(v == sv);
        } else {
            FUZZ_CHECK(rc == RP_ERANGE || len > STR_IMPL_MAX);
        }
    }
}

static void s_format(const uint8_t *data, size_t size)
{
    unsigned __int128 u = 0;
    for (size_t i = 0; i < 16 && i < size; i++)
        u = (u << 8) | data[i];
    money_sum_t v = (money_sum_t)u, w = 0;
    char buf[MONEY_FMT_MAX];
    size_t n = money_format(v, buf, sizeof buf);
    FUZZ_CHECK(n < sizeof buf && buf[n] == 0 && strlen(buf) == n);
    int rc = money_sum_parse(buf, n, &w);
    if (rc || w != v) fprintf(stderr, "money_format gave \"%s\", money_sum_parse rc %d\n", buf, rc);
    FUZZ_CHECK(rc == 0 && w == v);
}

static void s_double(const uint8_t *data, size_t size)
{
    double d;
    uint8_t b[8] = {0};
    memcpy(b, data, size < 8 ? size : 8);
    memcpy(&d, b, sizeof d);
    money_t a = 0, s = 0;
    int rd = money_from_double(d, &a);
    FUZZ_CHECK(rd == 0 || rd == RP_ERANGE);
    if (!isfinite(d)) {
        FUZZ_CHECK(rd == RP_ERANGE);
        return;
    }
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%.60f", d);
    FUZZ_CHECK(n > 0 && (size_t)n < sizeof buf);
    int rs = money_from_str(buf, (size_t)n, &s);
    if ((size_t)n > STR_IMPL_MAX) {
        /* Only doubles far above 1e12 print this long. */
        FUZZ_CHECK(rs == RP_EINVAL && rd == RP_ERANGE);
        return;
    }
    if (rd != rs || (rd == 0 && a != s))
        fprintf(stderr, "%s: from_double rc %d value %lld, from_str rc %d value %lld\n", buf, rd,
                (long long)a, rs, (long long)s);
    FUZZ_CHECK(rd == rs);
    if (rd == 0) FUZZ_CHECK(a == s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    s_text((const char *)data, size);
    s_format(data, size);
    s_double(data, size);
    return 0;
}
