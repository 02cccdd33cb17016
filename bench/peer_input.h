/* The comparison peers' reader of a JSON-lines workload: each line goes the
 * way riskpipe takes it (tools/jsonline.h packs it, proto/risk.h validates
 * it), so a peer gets the same exact micro-unit Value, Version, TradeID and
 * aggregation path the state process would, and refuses the same lines. */
#ifndef RP_BENCH_PEER_INPUT_H
#define RP_BENCH_PEER_INPUT_H

#include "../common/hier.h"
#include "../common/money.h"

#include <stddef.h>
#include <stdint.h>

typedef struct peer_input_t peer_input_t;

/* One validated message. trade_id is borrowed from the reader and valid only
 * until the next peer_input_next or peer_input_destroy. */
typedef struct {
    const char *trade_id;
    size_t trade_id_len;
    int64_t version;
    money_t value;                        /* micro-units */
    char path[HIER_PATH_MAX];             /* "RiskType::Region::TradeDesk", no NUL */
    size_t path_len;
    size_t prefix_len[HIER_MAX_LEVELS];   /* prefix_len[k]: bytes of the first k+1 levels */
    int levels;
} peer_msg_t;

/* Opens file (a path, "-" for stdin) for reading with the default
 * hierarchy levels (HIER_DEFAULT). Returns a new reader, or NULL with the
 * reason in why[whylen]. Nothing is read before the first peer_input_next. */
peer_input_t *peer_input_open(const char *file, char *why, size_t whylen);

/* Closes the file, frees the reader and sets *self_p to NULL; accepts NULL. */
void peer_input_destroy(peer_input_t **self_p);

/* Reads up to the next valid message into *m. Blank lines are skipped; an
 * invalid line is counted, its reason printed on stderr (the first 10 only),
 * and skipped, as riskpipe refuses it. Returns 1 with *m filled, 0 at the
 * end of the input, or a negative RP code after printing why (read error,
 * out of memory). */
int peer_input_next(peer_input_t *self, peer_msg_t *m);

/* Non-blank lines read so far, valid or not. */
uint64_t peer_input_lines(const peer_input_t *self);

/* Lines refused so far. */
uint64_t peer_input_refused(const peer_input_t *self);

/* Seconds on the monotonic clock, for the peers' timings. */
double peer_now(void);

#endif
