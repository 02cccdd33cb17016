/* Unit tests for common/money.h: decimal and binary input rounded to
 * micro-units (ties away from zero), range limits, formatting of 128-bit sums
 * and parsing them back. Expected values are literals or exact integer maths. */
#include "../../common/money.h"
#include "../../common/rperr.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses a NUL-terminated literal with money_from_str. */
static int s_str(const char *s, money_t *out)
{
    return money_from_str(s, strlen(s), out);
}

static void s_expect(const char *s, money_t want)
{
    money_t v = 12345; /* sentinel: must be overwritten */
    int rc = s_str(s, &v);
    RP_ASSERT_OK(rc, "'%s'", s);
    cr_assert_eq(v, want, "'%s': got %lld, want %lld", s, (long long)v, (long long)want);
}

static void s_expect_rc(const char *s, int want)
{
    money_t v = 0;
    int rc = s_str(s, &v);
    cr_assert_eq(rc, want, "'%s': rc=%d (%s), want %d (%s)", s, rc, rp_strerror(rc), want,
                 rp_strerror(want));
}

/* Independent decimal rendering of a 128-bit integer (plain digits, no point). */
static const char *s_i128(__int128 v, char buf[64])
{
    char tmp[64];
    int n = 0;
    unsigned __int128 m = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;
    do {
        tmp[n++] = (char)('0' + (int)(m % 10));
        m /= 10;
    } while (m);
    int j = 0;
    if (v < 0) buf[j++] = '-';
    while (n) buf[j++] = tmp[--n];
    buf[j] = 0;
    return buf;
}

/* Exact reference for a double: |d| = m * 2^E with integer m, then
 * micro = m * 10^6 * 2^E rounded half away from zero, in 128-bit integers. */
static money_t s_ref_double(double d)
{
    int e;
    double f = frexp(fabs(d), &e);
    uint64_t m = (uint64_t)ldexp(f, 53);
    int E = e - 53;
    unsigned __int128 num = (unsigned __int128)m * 1000000u, q;
    if (E >= 0) {
        q = num << E;
    } else if (-E >= 120) {
        q = 0; /* num < 2^73, far below half of 2^120 */
    } else {
        int s = -E;
        unsigned __int128 one = 1;
        q = num >> s;
        unsigned __int128 r = num & ((one << s) - 1);
        if (r >= (one << (s - 1))) q++;
    }
    return d < 0 ? -(money_t)q : (money_t)q;
}

static uint64_t s_rng = 0x9E3779B97F4A7C15ULL;
static uint64_t s_next(void)
{
    uint64_t z = (s_rng += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

Test(money, from_str_plain_decimal)
{
    s_expect("12.5", 12500000);
    s_expect("-12.5", -12500000);
    s_expect("0", 0);
    s_expect("34624.51", 34624510000LL);
}

Test(money, from_str_half_micro_rounds_away_from_zero)
{
    s_expect("0.0000005", 1);
    s_expect("-0.0000005", -1);
}

Test(money, from_str_just_below_half_micro_rounds_to_zero)
{
    s_expect("0.00000049999", 0);
    s_expect("-0.00000049999", 0);
}

Test(money, from_str_tie_after_six_digits_rounds_away)
{
    s_expect("1.2345675", 1234568);
    s_expect("-2.5000005", -2500001);
    s_expect("1.2345665", 1234567);
}

Test(money, from_str_long_fraction_decided_by_first_dropped_digit)
{
    s_expect("0.1234564999999999999", 123456);
    s_expect("0.1234565000000000000", 123457);
    s_expect("0.9999995", 1000000);
    s_expect("-0.9999995", -1000000);
}

Test(money, from_str_exponent_forms)
{
    s_expect("1e3", 1000000000LL);
    s_expect("1.5E-3", 1500);
    s_expect("12e-7", 1);
    s_expect("15e-7", 2);
    s_expect("1E+2", 100000000LL);
    s_expect("100000e-5", 1000000);
    s_expect("-2.5e-6", -3);
    s_expect("0.000001e6", 1000000);
}

Test(money, from_str_extreme_exponents)
{
    s_expect("1e-100000", 0);
    s_expect("0e999999", 0);
    s_expect_rc("1e100000", RP_ERANGE);
    s_expect_rc("1e13", RP_ERANGE);
    s_expect("1e12", MONEY_MAX);
}

Test(money, from_str_leading_zeros_and_plus)
{
    s_expect("000123.45", 123450000);
    s_expect("+1.5", 1500000);
    s_expect("-0", 0);
    s_expect("-0.0000000", 0);
    s_expect("00000000000000000000000000000000000000000000000001.5", 1500000);
    s_expect("1.50000000000000000000", 1500000);
}

Test(money, from_str_respects_length_without_nul)
{
    money_t v = 0;
    int rc = money_from_str("1.5xyz", 3, &v);
    RP_ASSERT_OK(rc);
    cr_assert_eq(v, 1500000);
}

Test(money, from_str_upper_bound_exactly_1e12_accepted)
{
    s_expect("1000000000000", MONEY_MAX);
    s_expect("1000000000000.0000004", MONEY_MAX);
    s_expect("999999999999.9999995", MONEY_MAX);
    s_expect("-1000000000000", -MONEY_MAX);
}

Test(money, from_str_rounding_past_1e12_is_out_of_range)
{
    s_expect_rc("1000000000000.0000005", RP_ERANGE);
    s_expect_rc("-1000000000000.0000005", RP_ERANGE);
    s_expect_rc("1000000000001", RP_ERANGE);
    s_expect_rc("123456789012345678901234567890", RP_ERANGE);
}

Test(money, from_str_syntax_errors)
{
    const char *bad[] = {"",   ".",  "-",   "+",   "1e",  "1e+", "1.2.3", "abc", "1,5", " 1",
                         "1 ", "0x10", "inf", "nan", "-+1", "e5",  "1e5.5", "--1", "1-", "1e-"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) s_expect_rc(bad[i], RP_EINVAL);
}

Test(money, from_int_scales_and_bounds)
{
    money_t v;
    int rc = money_from_int(7, &v);
    RP_ASSERT_OK(rc);
    cr_assert_eq(v, 7000000);
    cr_assert_eq(money_from_int(1000000000000LL, &v), 0);
    cr_assert_eq(v, MONEY_MAX);
    cr_assert_eq(money_from_int(-1000000000000LL, &v), 0);
    cr_assert_eq(v, -MONEY_MAX);
}

Test(money, from_int_out_of_range)
{
    money_t v;
    cr_assert_eq(money_from_int(1000000000001LL, &v), RP_ERANGE);
    cr_assert_eq(money_from_int(-1000000000001LL, &v), RP_ERANGE);
    cr_assert_eq(money_from_int(INT64_MAX, &v), RP_ERANGE);
    cr_assert_eq(money_from_int(INT64_MIN, &v), RP_ERANGE);
}

Test(money, from_double_uses_exact_binary_value)
{
    money_t v;
    int rc = money_from_double(0.1, &v);
    RP_ASSERT_OK(rc);
    cr_assert_eq(v, 100000);
    cr_assert_eq(money_from_double(34624.51, &v), 0);
    cr_assert_eq(v, 34624510000LL, "got %lld", (long long)v);
    cr_assert_eq(money_from_double(-12.5, &v), 0);
    cr_assert_eq(v, -12500000);
}

Test(money, from_double_exact_binary_tie_rounds_away)
{
    /* 2^-7 = 0.0078125 exactly: 7812.5 micro-units, a true tie. */
    money_t v;
    cr_assert_eq(money_from_double(0.0078125, &v), 0);
    cr_assert_eq(v, 7813);
    cr_assert_eq(money_from_double(-0.0078125, &v), 0);
    cr_assert_eq(v, -7813);
}

Test(money, from_double_near_tie_follows_binary_value)
{
    /* The double nearest 0.0000035 is 3.49999999999999994...e-6: below the
     * tie, so 3 micro-units (a decimal reading would give 4); 0.1234565 is
     * likewise 0.12345649999...; 1.2345675 is 1.23456750000000004 (above). */
    money_t v;
    cr_assert_eq(money_from_double(0.0000035, &v), 0);
    cr_assert_eq(v, 3, "got %lld", (long long)v);
    cr_assert_eq(money_from_double(nextafter(0.0000035, 1.0), &v), 0);
    cr_assert_eq(v, 4, "one ulp above the tie must round up, got %lld", (long long)v);
    cr_assert_eq(money_from_double(0.1234565, &v), 0);
    cr_assert_eq(v, 123456, "got %lld", (long long)v);
    cr_assert_eq(money_from_double(1.2345675, &v), 0);
    cr_assert_eq(v, 1234568, "got %lld", (long long)v);
}

Test(money, from_double_bounds)
{
    money_t v;
    cr_assert_eq(money_from_double(1e12, &v), 0);
    cr_assert_eq(v, MONEY_MAX);
    cr_assert_eq(money_from_double(-1e12, &v), 0);
    cr_assert_eq(v, -MONEY_MAX);
    cr_assert_eq(money_from_double(1e12 + 0.5, &v), RP_ERANGE);
    cr_assert_eq(money_from_double(nextafter(1e12, 2e12), &v), RP_ERANGE);
    cr_assert_eq(money_from_double(-1e12 - 0.5, &v), RP_ERANGE);
    cr_assert_eq(money_from_double(1e300, &v), RP_ERANGE);
}

Test(money, from_double_rejects_nan_and_inf)
{
    money_t v;
    cr_assert_eq(money_from_double(NAN, &v), RP_ERANGE);
    cr_assert_eq(money_from_double(INFINITY, &v), RP_ERANGE);
    cr_assert_eq(money_from_double(-INFINITY, &v), RP_ERANGE);
}

Test(money, from_double_negative_zero_is_zero)
{
    money_t v = 99;
    cr_assert_eq(money_from_double(-0.0, &v), 0);
    cr_assert_eq(v, 0);
    cr_assert_eq(money_from_double(-1e-300, &v), 0);
    cr_assert_eq(v, 0);
}

Test(money, from_double_random_values_match_exact_reference)
{
    for (int i = 0; i < 20000; i++) {
        uint64_t r = s_next();
        double d = ldexp((double)(r >> 11), -(int)(s_next() % 80) - 13);
        if (r & 1) d = -d;
        if (fabs(d) > 1e12) continue;
        money_t v;
        int rc = money_from_double(d, &v);
        RP_ASSERT_OK(rc, "%.17g", d);
        cr_assert_eq(v, s_ref_double(d), "%.25g: got %lld want %lld", d, (long long)v,
                     (long long)s_ref_double(d));
    }
}

Test(money, from_double_doubles_around_decimal_ties_match_reference)
{
    for (int i = 0; i < 5000; i++) {
        char s[64];
        long long units = (long long)(s_next() % 1000000000000ULL);
        long long micro = (long long)(s_next() % 1000000);
        snprintf(s, sizeof s, "%s%lld.%06lld5", (i & 1) ? "-" : "", units % (i % 3 ? 1000 : 1000000000000LL), micro);
        double t = strtod(s, NULL);
        double c[3] = {t, nextafter(t, INFINITY), nextafter(t, -INFINITY)};
        for (int k = 0; k < 3; k++) {
            if (fabs(c[k]) > 1e12) continue;
            money_t v;
            int rc = money_from_double(c[k], &v);
            RP_ASSERT_OK(rc, "%.17g", c[k]);
            cr_assert_eq(v, s_ref_double(c[k]), "%.30g (near %s): got %lld want %lld", c[k], s,
                         (long long)v, (long long)s_ref_double(c[k]));
        }
    }
}

static void s_fmt(money_sum_t v, const char *want)
{
    char buf[MONEY_FMT_MAX];
    size_t n = money_format(v, buf, sizeof buf);
    cr_assert_str_eq(buf, want);
    cr_assert_eq(n, strlen(want), "length %zu, want %zu", n, strlen(want));
}

Test(money, format_small_values)
{
    s_fmt(0, "0.000000");
    s_fmt(-12500000, "-12.500000");
    s_fmt(-1, "-0.000001");
    s_fmt(1, "0.000001");
    s_fmt(MONEY_MAX, "1000000000000.000000");
    s_fmt(-MONEY_MAX, "-1000000000000.000000");
}

Test(money, format_large_128_bit_sums)
{
    money_sum_t p30 = 1;
    for (int i = 0; i < 30; i++) p30 *= 10;
    s_fmt(p30, "1000000000000000000000000.000000");
    s_fmt(-p30 - 1, "-1000000000000000000000000.000001");
    s_fmt((money_sum_t)INT64_MAX + 1, "9223372036854.775808");
}

Test(money, format_extreme_128_bit_values)
{
    money_sum_t max = (money_sum_t)(((unsigned __int128)1 << 127) - 1);
    s_fmt(max, "170141183460469231731687303715884.105727");
    s_fmt(-max - 1, "-170141183460469231731687303715884.105728");
}

Test(money, format_matches_printf_for_int64_values)
{
    for (int i = 0; i < 5000; i++) {
        int64_t v = (int64_t)s_next();
        char want[64], got[MONEY_FMT_MAX];
        unsigned long long m = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
        snprintf(want, sizeof want, "%s%llu.%06llu", v < 0 ? "-" : "", m / 1000000, m % 1000000);
        money_format(v, got, sizeof got);
        cr_assert_str_eq(got, want);
    }
}

Test(money, sum_parse_reads_formatted_values)
{
    money_sum_t v;
    int rc = money_sum_parse("-12.500000", 10, &v);
    RP_ASSERT_OK(rc);
    cr_assert(v == -12500000);
    cr_assert_eq(money_sum_parse("12", 2, &v), 0);
    cr_assert(v == 12000000);
    cr_assert_eq(money_sum_parse("0.1", 3, &v), 0);
    cr_assert(v == 100000);
    cr_assert_eq(money_sum_parse("-0.000001", 9, &v), 0);
    cr_assert(v == -1);
}

Test(money, sum_parse_rejects_more_than_six_fraction_digits)
{
    money_sum_t v;
    cr_assert_eq(money_sum_parse("1.0000001", 9, &v), RP_EINVAL);
    cr_assert_eq(money_sum_parse("0.1234567", 9, &v), RP_EINVAL);
}

Test(money, sum_parse_rejects_garbage)
{
    const char *bad[] = {"", "-", "+", ".", "abc", "1e3", "1.2.3", " 1", "1 ", "1,5", "--1", "0x1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        money_sum_t v;
        int rc = money_sum_parse(bad[i], strlen(bad[i]), &v);
        cr_assert_eq(rc, RP_EINVAL, "'%s' accepted (rc=%d)", bad[i], rc);
    }
}

Test(money, format_then_sum_parse_round_trips_random_values_below_1e38)
{
    money_sum_t lim = 1;
    for (int i = 0; i < 38; i++) lim *= 10;
    for (int i = 0; i < 20000; i++) {
        unsigned __int128 u = ((unsigned __int128)s_next() << 64) | s_next();
        u >>= s_next() % 128; /* every magnitude from 1 bit to 128 bits */
        money_sum_t v = (money_sum_t)(u >> 1);
        if (v >= lim) v %= lim;
        if (s_next() & 1) v = -v;
        char buf[MONEY_FMT_MAX], a[64], b[64];
        size_t n = money_format(v, buf, sizeof buf);
        money_sum_t back = 0;
        int rc = money_sum_parse(buf, n, &back);
        RP_ASSERT_OK(rc, "'%s'", buf);
        cr_assert(back == v, "'%s' parsed as %s, want %s", buf, s_i128(back, a), s_i128(v, b));
    }
}

Test(money, sum_parse_reads_every_value_money_format_can_write)
{
    /* The header promises money_sum_parse reads what money_format writes; the
     * widest outputs have 33 integer digits. */
    money_sum_t max = (money_sum_t)(((unsigned __int128)1 << 127) - 1);
    money_sum_t vals[] = {max, -max - 1, max / 1000 * 1000};
    for (size_t i = 0; i < 3; i++) {
        char buf[MONEY_FMT_MAX], a[64], b[64];
        size_t n = money_format(vals[i], buf, sizeof buf);
        money_sum_t back = 0;
        int rc = money_sum_parse(buf, n, &back);
        RP_ASSERT_OK(rc, "'%s' written by money_format is rejected", buf);
        cr_assert(back == vals[i], "'%s' -> %s, want %s", buf, s_i128(back, a),
                  s_i128(vals[i], b));
    }
}
