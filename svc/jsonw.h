/* JSON text for the HTTP endpoints, appended to a metrics_buf_t: strings
 * escaped once here for every module (quotes, backslash, control
 * characters; UTF-8 passes through as stored, and a byte that is not part of
 * valid UTF-8 becomes U+FFFD so that the output is always valid JSON), and
 * numbers that read back exactly. The structure ({, [, commas, keys) the
 * callers write themselves with metrics_buf_printf. */
#ifndef RP_JSONW_H
#define RP_JSONW_H

#include "metrics.h"

#include <stddef.h>
#include <stdint.h>

/* Appends s[0..n) as a JSON string with its quotes: '"' and '\' escaped,
 * control characters (U+0000-U+001F, U+007F) as \n, \t, ... or \u00XX,
 * U+2028 and U+2029 as \u2028 and \u2029 (line ends in JavaScript), every
 * other valid UTF-8 sequence copied as it is, and each byte of an invalid
 * sequence (overlong, surrogate, beyond U+10FFFF, truncated) as \ufffd. A
 * failed allocation sets b->failed. */
void jsonw_str(metrics_buf_t *b, const char *s, size_t n);

/* jsonw_str of a NUL-terminated string. */
void jsonw_cstr(metrics_buf_t *b, const char *s);

/* Appends "key": (jsonw_cstr of key and a colon). */
void jsonw_key(metrics_buf_t *b, const char *key);

/* Appends v as the shortest decimal that reads back as the same double
 * ("1700000000.001", "1e+300"), or null when v is not finite (JSON has no
 * NaN or infinity). */
void jsonw_double(metrics_buf_t *b, double v);

#endif
