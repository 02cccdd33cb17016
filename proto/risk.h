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

/* Unpacks an ingest frame: one message map, a {"RiskMessage": map} wrapper,
 * or an array of either (a batch of at most max_batch). On success *msgs
 * points at *n objects inside *unp (which the caller must destroy with
 * msgpack_unpacked_destroy in every case). Returns 0, or RP_EPROTO with a
 * reason when the frame as a whole is unusable. */
int risk_frame_open(const char *buf, size_t len, uint32_t max_batch, msgpack_unpacked *unp,
                    const msgpack_object **msgs, size_t *n, char *why, size_t whylen);

/* Validates one message object (map or wrapper) against the configured levels
 * and fills *out. Returns 0, or RP_EINVAL with a human-readable reason in
 * why[whylen] naming the field at fault. */
int risk_msg_decode(const msgpack_object *o, const hier_levels_t *h, risk_msg_t *out, char *why,
                    size_t whylen);

/* Writes the trade's path (configured level values joined by "::") into
 * buf[HIER_PATH_MAX]; returns its length. */
size_t risk_msg_path(const risk_msg_t *m, const hier_levels_t *h, char *buf);

#endif
