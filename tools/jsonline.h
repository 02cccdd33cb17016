/* riskctl send's reader of JSON lines: one line becomes one msgpack risk
 * message, with every number carried exactly. It is written in C++ because it
 * uses simdjson, which gives a number's original text and refuses invalid
 * UTF-8 and unpaired surrogate escapes; this header is its C interface. */
#ifndef RP_JSONLINE_H
#define RP_JSONLINE_H

#include <msgpack.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bytes that must be readable after a line's last byte (their contents do
 * not matter): simdjson reads ahead in blocks. */
#define JSONLINE_PADDING 64

/* The deepest nesting a line may have: the state checks a whole frame (the
 * batch array plus its messages) against 16 levels, so a deeper line would
 * make it refuse the frame and every good message in it. */
#define JSONLINE_MAX_DEPTH 15

typedef struct jsonline_t jsonline_t;

/* Returns a new reader (it keeps simdjson's buffers, grown to the longest
 * line seen), or NULL when out of memory. */
jsonline_t *jsonline_new(void);

/* Frees the reader and sets *self_p to NULL; accepts NULL. */
void jsonline_destroy(jsonline_t **self_p);

/* Converts one JSON text, line[0..len), to one msgpack map appended to sb.
 * The text must be a JSON object (a message, or {"RiskMessage": message}) of
 * valid UTF-8 with no key twice in any object, at most JSONLINE_MAX_DEPTH
 * levels deep, and no object or array of more than RISK_HIER_KEYS_MAX
 * entries (no valid message has one; a bigger one could make the state
 * refuse the whole frame). In the message, Value is sent as its JSON text, a
 * decimal string that the state converts to micro-units exactly (never
 * through a double), and must be a finite number of at most MONEY_STR_MAX
 * characters; Version must be an integer that fits int64. Other numbers go
 * as int64 or uint64 when they are integers that fit, as doubles when they
 * have a fraction or an exponent and are finite. Everything else is the
 * state's to judge. line needs JSONLINE_PADDING readable bytes after len.
 * Returns 0; RP_EINVAL with a reason in why[whylen] (sb is then as it was);
 * RP_ENOMEM. */
int jsonline_pack(jsonline_t *self, const char *line, size_t len, msgpack_sbuffer *sb, char *why,
                  size_t whylen);

#ifdef __cplusplus
}
#endif

#endif
