/* Exact fixed-point money: values are integer micro-units (1e-6). Inputs are
 * rounded to the nearest micro-unit, ties away from zero; sums use 128-bit
 * accumulators so totals never depend on order or batching. */
#ifndef RP_MONEY_H
#define RP_MONEY_H

#include <stddef.h>
#include <stdint.h>

typedef int64_t money_t;     /* one value, micro-units, |v| <= MONEY_MAX */
typedef __int128 money_sum_t; /* sums of any number of values */

#define MONEY_SCALE 1000000LL
#define MONEY_MAX (1000000000000LL * MONEY_SCALE) /* |Value| <= 1e12 */
#define MONEY_FMT_MAX 48 /* buffer size that fits any formatted money_sum_t */
#define MONEY_STR_MAX 64 /* longest decimal string accepted as input */

/* Converts an integer number of units. Returns 0, or RP_ERANGE if |v| > 1e12. */
int money_from_int(int64_t units, money_t *out);

/* Converts a double exactly (its binary value, not a shortest repr) rounded to
 * micro-units. Returns 0, or RP_ERANGE for NaN, Inf or |v| > 1e12. */
int money_from_double(double v, money_t *out);

/* Parses a decimal string "[+-]digits[.digits][e[+-]digits]" of len bytes
 * (not NUL-terminated, at most MONEY_STR_MAX). Returns 0, RP_EINVAL for bad
 * syntax, or RP_ERANGE if |v| > 1e12 after rounding. */
int money_from_str(const char *s, size_t len, money_t *out);

/* Parses an aggregate string written by money_format ("-12.500000": at most
 * 6 fractional digits, no exponent) without the 1e12 bound. Returns 0 or
 * RP_EINVAL. */
int money_sum_parse(const char *s, size_t len, money_sum_t *out);

/* Writes v as a decimal with exactly 6 fractional digits and a NUL into buf
 * (cap >= MONEY_FMT_MAX). Returns the length written (without the NUL). */
size_t money_format(money_sum_t v, char *buf, size_t cap);

#endif
