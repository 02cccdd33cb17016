/* The public wire contract: risk messages on the ingest sockets. Validation
 * of every field of a risk message lives here (the state row they become is
 * in tables.h). */
#ifndef RP_RISK_H
#define RP_RISK_H

#include "../common/hier.h"
#include "../common/money.h"

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#define RISK_TRADE_ID_MAX 128
#define RISK_HIER_KEYS_MAX 32 /* keys in one Hierarchy map, configured + extra */
#define RISK_WHY_MAX 160      /* room for any rejection reason */

/* A validated risk message. Every pointer is borrowed from the msgpack zone
 * the message was decoded from and is valid only while that zone lives. */
typedef struct {
    const char *trade_id;
    size_t trade_id_len;
    int64_t version;
    money_t value;
    const msgpack_object *timestamp; /* NULL when absent */
    const msgpack_object *hierarchy; /* the Hierarchy map, extra keys included */
    const char *level[HIER_MAX_LEVELS];
    size_t level_len[HIER_MAX_LEVELS];
} risk_msg_t;

/* An ingest frame whose own structure risk_frame_open has checked: where
 * each message starts and ends is known, nothing is unpacked. It is a view of
 * the caller's buffer, which must stay unchanged while the frame is used. */
typedef struct {
    const char *buf;
    size_t len;
    size_t n;   /* messages in the frame, 1..max_batch */
    size_t i;   /* messages risk_frame_next has returned */
    size_t off; /* where the next message starts */
} risk_frame_t;

/* Opens an ingest frame: one message map, a {"RiskMessage": map} wrapper, or
 * an array of 1..max_batch elements (a batch). Only the frame's structure is
 * checked here: its top level, and that each element is complete msgpack
 * whose declared lengths stay inside buf[0..len), with nothing after the last
 * one; how deep or wide an element is, is left to risk_msg_unpack, so that
 * one malformed message does not sink its neighbours. Allocates nothing.
 * Returns 0 with *f ready for risk_frame_next, or RP_EPROTO with a reason
 * when the frame as a whole is unusable (truncated, trailing bytes, not a
 * map or array, empty, or a batch over max_batch). */
int risk_frame_open(const char *buf, size_t len, uint32_t max_batch, risk_frame_t *f, char *why,
                    size_t whylen);

/* Steps to the next message of an open frame: *msg (borrowed from the
 * frame's buffer) and *mlen are its bytes, wrapper included. Returns 1, or 0
 * after the frame's n messages. */
int risk_frame_next(risk_frame_t *f, const char **msg, size_t *mlen);

/* Checks one message's bytes against the bounds a valid message needs (at
 * most MP_MAX_DEPTH containers deep, no container wider than the
 * Hierarchy's RISK_HIER_KEYS_MAX keys), so msgpack-c never allocates for an
 * unchecked message, and unpacks them into *unp (initialised here; release it
 * with msgpack_unpacked_destroy in every case). Returns 0, or RP_EINVAL with
 * a reason naming the problem ("message nested deeper than 16 levels",
 * "Hierarchy has 40 keys, at most 32 allowed", "Value: array of 1000 entries
 * exceeds the limit of 32"). */
int risk_msg_unpack(const char *msg, size_t len, msgpack_unpacked *unp, char *why, size_t whylen);

/* Validates one message object (map or wrapper) against the configured levels
 * and fills *out. Returns 0, or RP_EINVAL with a human-readable reason in
 * why[whylen] naming the field at fault. */
int risk_msg_decode(const msgpack_object *o, const hier_levels_t *h, risk_msg_t *out, char *why,
                    size_t whylen);

/* Writes the trade's path (configured level values joined by "::") into
 * buf[HIER_PATH_MAX]; returns its length. */
size_t risk_msg_path(const risk_msg_t *m, const hier_levels_t *h, char *buf);

#endif
