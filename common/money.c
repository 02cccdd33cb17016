/* Fixed-point conversion and formatting. Decimal input is rounded by digit
 * inspection, never through floating point, so it is exact by construction. */
#include "money.h"
#include "rperr.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int money_from_int(int64_t units, money_t *out)
{
    if (units > 1000000000000LL || units < -1000000000000LL) return RP_ERANGE;
    *out = units * MONEY_SCALE;
    return 0;
}

int money_from_double(double v, money_t *out)
{
    if (!isfinite(v) || fabs(v) > 1e12) return RP_ERANGE;
    /* Exact: v = m * 2^e with integer m, so v * 1e6 = m * 1e6 / 2^-e and the
     * rounding decision is an integer comparison of the remainder. */
    uint64_t bits;
    memcpy(&bits, &v, sizeof bits);
    int neg = (int)(bits >> 63), bexp = (int)((bits >> 52) & 0x7ff);
    uint64_t m = bits & ((1ULL << 52) - 1);
    int e;
    if (bexp == 0) {
        e = -1074; /* subnormal */
    } else {
        m |= 1ULL << 52;
        e = bexp - 1075;
    }
    unsigned __int128 n = (unsigned __int128)m * MONEY_SCALE, mag;
    if (e >= 0) {
        mag = n << e; /* |v| <= 1e12 keeps this far below 2^127 */
    } else if (-e >= 100) {
        mag = 0; /* n < 2^73: less than half a micro-unit */
    } else {
        int s = -e;
        unsigned __int128 rem = n & ((((unsigned __int128)1) << s) - 1);
        mag = n >> s;
        if (rem >= ((unsigned __int128)1) << (s - 1)) mag++; /* ties away from zero */
    }
    if (mag > (unsigned __int128)MONEY_MAX) return RP_ERANGE;
    *out = neg ? -(money_t)mag : (money_t)mag;
    return 0;
}

int money_from_str(const char *s, size_t len, money_t *out)
{
    if (len == 0 || len > MONEY_STR_MAX + 32) return RP_EINVAL;
    size_t i = 0;
    int neg = 0;
    if (s[i] == '+' || s[i] == '-') neg = s[i++] == '-';
    char dig[MONEY_STR_MAX + 40];
    size_t nd = 0, nfrac = 0, ndigits_seen = 0;
    int seen_point = 0;
    for (; i < len; i++) {
        char c = s[i];
        if (c >= '0' && c <= '9') {
            ndigits_seen++;
            if (seen_point) nfrac++;
            if (nd == 0 && c == '0') continue; /* strip leading zeros */
            dig[nd++] = c;
        } else if (c == '.' && !seen_point) {
            seen_point = 1;
        } else {
            break;
        }
    }
    if (ndigits_seen == 0) return RP_EINVAL;
    long exp10 = 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        int eneg = 0;
        if (i < len && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
        size_t start = i;
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            if (exp10 < 100000) exp10 = exp10 * 10 + (s[i] - '0');
        if (i == start) return RP_EINVAL;
        if (eneg) exp10 = -exp10;
    }
    if (i != len) return RP_EINVAL;
    if (nd == 0) {
        *out = 0;
        return 0;
    }
    /* value = dig * 10^(exp10 - nfrac); micro = dig * 10^k */
    long k = exp10 - (long)nfrac + 6;
    unsigned __int128 mag = 0;
    const unsigned __int128 lim = (unsigned __int128)MONEY_MAX;
    long keep = (long)nd + k; /* digits of dig that form the integer micro part */
    if (keep > 20) return RP_ERANGE;
    for (long j = 0; j < keep; j++) {
        int d = j < (long)nd ? dig[j] - '0' : 0;
        mag = mag * 10 + (unsigned)d;
    }
    if (keep >= 0 && keep < (long)nd && dig[keep] >= '5') mag++; /* ties away from zero */
    if (mag > lim) return RP_ERANGE;
    *out = neg ? -(money_t)mag : (money_t)mag;
    return 0;
}

int money_sum_parse(const char *s, size_t len, money_sum_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (len && (s[0] == '-' || s[0] == '+')) neg = s[i++] == '-';
    unsigned __int128 mag = 0;
    size_t nint = 0, nfrac = 0;
    /* Largest magnitude a money_sum_t holds (the negative side has one more). */
    const unsigned __int128 max = ((unsigned __int128)1 << 127) - (neg ? 0 : 1);
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, nint++) {
        if (mag > (max - (unsigned)(s[i] - '0')) / 10) return RP_EINVAL;
        mag = mag * 10 + (unsigned)(s[i] - '0');
    }
    if (i < len && s[i] == '.')
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, nfrac++) {
            if (nfrac >= 6 || mag > (max - (unsigned)(s[i] - '0')) / 10) return RP_EINVAL;
            mag = mag * 10 + (unsigned)(s[i] - '0');
        }
    if (i != len || nint + nfrac == 0) return RP_EINVAL;
    for (; nfrac < 6; nfrac++) {
        if (mag > max / 10) return RP_EINVAL;
        mag *= 10;
    }
    *out = neg ? (money_sum_t)(0 - mag) : (money_sum_t)mag;
    return 0;
}

size_t money_format(money_sum_t v, char *buf, size_t cap)
{
    char tmp[MONEY_FMT_MAX];
    size_t n = 0;
    unsigned __int128 mag = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;
    unsigned frac = (unsigned)(mag % MONEY_SCALE);
    mag /= MONEY_SCALE;
    for (int j = 0; j < 6; j++, frac /= 10) tmp[n++] = (char)('0' + frac % 10);
    tmp[n++] = '.';
    do {
        tmp[n++] = (char)('0' + (unsigned)(mag % 10));
        mag /= 10;
    } while (mag);
    if (v < 0) tmp[n++] = '-';
    if (n + 1 > cap) n = cap - 1;
    for (size_t j = 0; j < n; j++) buf[j] = tmp[n - 1 - j];
    buf[n] = 0;
    return n;
}
