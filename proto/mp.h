/* msgpack helpers shared by every codec: a bounds-checking pre-scan that runs
 * before msgpack-c allocates anything, and small accessors for decoded
 * objects. All objects returned are borrowed from the caller's msgpack zone. */
#ifndef RP_MP_H
#define RP_MP_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#define MP_MAX_DEPTH 16

/* Checks that buf[0..len) is exactly one well-formed msgpack object, nested
 * at most max_depth containers deep, with every declared length inside the
 * buffer and no array or map longer than max_items. This bounds the memory
 * msgpack-c will allocate for hostile input. Returns 0, or RP_EPROTO with a
 * reason in why[whylen]. */
int mp_check(const char *buf, size_t len, int max_depth, uint32_t max_items, char *why,
             size_t whylen);

/* Runs mp_check and unpacks the object into *unp (initialised here; release
 * it with msgpack_unpacked_destroy even on failure). Returns 0 or RP_EPROTO. */
int mp_unpack(const char *buf, size_t len, int max_depth, uint32_t max_items,
              msgpack_unpacked *unp, char *why, size_t whylen);

/* Skips the one msgpack object at buf[*off] and everything nested in it,
 * moving *off past it. It keeps only a count of the objects still to skip, so
 * nesting of any depth costs no stack, and every declared length is checked
 * against the bytes left in buf[0..len) before it is believed. Depth and
 * container sizes are not limited here (mp_check does that). Returns 0, or
 * RP_EPROTO with a reason when the object is truncated or invalid (*off is
 * then unchanged). */
int mp_skip(const char *buf, size_t len, size_t *off, char *why, size_t whylen);

/* The kind of one object as mp_head reads it. */
typedef enum { MP_SCALAR, MP_STR, MP_ARRAY, MP_MAP } mp_kind_t;

typedef struct {
    mp_kind_t kind;
    uint32_t n;      /* array elements, map entries or string bytes */
    const char *str; /* a string's bytes (borrowed from buf), else NULL */
} mp_head_t;

/* Reads the header of the object at buf[*off] into *out and moves *off past
 * it: past a string's or scalar's bytes, but only to the first child of an
 * array or map (mp_skip skips a whole object). Returns 0, or RP_EPROTO with a
 * reason when the header or payload runs past len (*off is then unchanged). */
int mp_head(const char *buf, size_t len, size_t *off, mp_head_t *out, char *why, size_t whylen);

/* Returns the value stored under string key in map object o, or NULL if o
 * is not a map or has no such key. */
const msgpack_object *mp_map_get(const msgpack_object *o, const char *key);

/* Returns 1 if o is a string equal to s. */
int mp_str_eq(const msgpack_object *o, const char *s);

/* Reads an integer object into *out. Returns 0, or RP_EPROTO if o is not an
 * integer or does not fit int64. */
int mp_get_i64(const msgpack_object *o, int64_t *out);

/* Packs a NUL-terminated string / a byte string of len bytes. */
void mp_pack_cstr(msgpack_packer *pk, const char *s);
void mp_pack_str(msgpack_packer *pk, const char *s, size_t len);

#endif
