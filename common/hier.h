/* Hierarchy levels and aggregation paths. A path is the trade's level values
 * joined by "::" ("Delta::AMER::FXSpot"); every prefix of it is a row of the
 * aggregate table. Level values are validated so that joining is unambiguous,
 * and names (level values, TradeIDs) so that two cannot differ only in
 * invisible characters or in how their accents are composed. */
#ifndef RP_HIER_H
#define RP_HIER_H

#include <stddef.h>

#define HIER_MAX_LEVELS 8
#define HIER_MAX_VALUE 64 /* bytes per level value */
#define HIER_SEP "::" /* between the level values of a path */
#define HIER_SEP_LEN 2
#define HIER_PATH_MAX (HIER_MAX_LEVELS * (HIER_MAX_VALUE + 2))
#define HIER_DEFAULT "RiskType,Region,TradeDesk"
#define HIER_TEXT_MAX 128 /* longest text hier_check_text takes, in bytes */

typedef struct {
    int n;
    char name[HIER_MAX_LEVELS][HIER_MAX_VALUE + 1];
} hier_levels_t;

/* Parses a comma-separated list of 1..HIER_MAX_LEVELS distinct level names
 * into *out. Returns 0, or RP_EINVAL with a reason in why[whylen]. */
int hier_levels_parse(const char *list, hier_levels_t *out, char *why, size_t whylen);

/* Writes the levels back as a comma-separated list into buf. Returns length. */
size_t hier_levels_format(const hier_levels_t *h, char *buf, size_t cap);

/* Checks one level value (or level name) of len bytes: non-empty, at most
 * HIER_MAX_VALUE bytes, text that passes hier_check_text, no "::", no
 * leading or trailing ':' (which would make the joined path ambiguous).
 * Returns 0, or RP_EINVAL with a reason in why[whylen] ("empty value",
 * "contains format character U+200B", ...). */
int hier_check_value(const char *s, size_t len, char *why, size_t whylen);

/* Checks that s[0..len) is text fit to name something (a TradeID, a
 * Hierarchy key or value), so that two names cannot differ only in invisible
 * characters or in how their accents are composed: valid UTF-8, no control
 * character (Unicode Cc, C1 included) and no format character (Cf: soft
 * hyphen, zero-width and bidirectional controls, BOM, tags, ...), and in
 * Unicode Normalization Form C. Text not in NFC is refused, not normalised
 * (hier.c says why). Longer text than HIER_TEXT_MAX bytes is refused.
 * Returns 0, or RP_EINVAL with a reason in why[whylen] that can follow the
 * field's name: "is not valid UTF-8", "contains control character U+0085",
 * "contains format character U+200B", "is not in Unicode NFC: U+0065 U+0301
 * is U+00E9 in NFC". */
int hier_check_text(const char *s, size_t len, char *why, size_t whylen);

/* Returns 1 if s[0..len) is valid UTF-8 (no overlongs, no surrogates). */
int hier_utf8_valid(const char *s, size_t len);

/* Joins n values into buf with "::". buf must hold HIER_PATH_MAX bytes.
 * Returns the length (no NUL is written). */
size_t hier_join(const char *const *vals, const size_t *lens, int n, char *buf);

/* Splits a joined path into the lengths of its prefixes: lens[0] is the first
 * level's length, lens[k] the length of the first k+1 levels. Returns the
 * number of levels (at most max). */
int hier_prefixes(const char *path, size_t len, size_t *lens, int max);

/* Checks that s[0..len) is a path of the aggregate table, or a prefix of
 * one: 1 to HIER_MAX_LEVELS level values joined by "::", each passing
 * hier_check_value. Sets *levels (when non-NULL) to their number. Returns
 * 0, or RP_EINVAL with a reason in why[whylen] that names the level
 * ("level 2: empty value"). */
int hier_check_path(const char *s, size_t len, int *levels, char *why, size_t whylen);

#endif
