/* Every durable table of both LMDB environments in one place: the database
 * names and their indices, the meta keys, and the encoding of every row. The
 * daemons and riskctl use these and nothing else to address and read tables;
 * users read the same rows with mdb_dump.
 *
 * State environment (riskpipe-state --data):
 *   state     key TradeID bytes; value the canonical row of the latest
 *             version (tables_state_encode, row format TABLES_STATE_FORMAT)
 *   log       key 8-byte big-endian sequence number; value one change record
 *             (frame_change_pack), copied verbatim into WORK frames
 *   batches   key 8-byte big-endian batch id; value 24 bytes: first and last
 *             sequence number and the commit's wall-clock time in
 *             microseconds, big-endian (tables_batch_encode); rows of 16
 *             bytes, written before the time was kept, read as time 0
 *   meta      u64 counters under TABLES_META_NEXT_SEQ, _NEXT_BATCH, _CUT_SEQ,
 *             _NEXT_DLQ, _ROW_FORMAT; the hierarchy levels as text under _HIERARCHY; the
 *             16-byte ids _INSTANCE (this environment) and _PEER (the reducer
 *             whose ACKs it takes)
 *   dlq       key 8-byte big-endian entry id; value a dead-letter row
 *             (tables_dlq_encode)
 *   dlq_index key source, a NUL, 8-byte big-endian entry id; value the
 *             entry's 8-byte big-endian size: each source's entries, oldest
 *             first
 *   dlq_sources key source; value 16 bytes: its entries and their bytes
 *             (tables_dlq_usage_*), so a source's quota is checked at once
 * Reducer environment (riskpipe-reducer --data):
 *   reduce    key 4-byte big-endian shard and 8-byte big-endian batch id; value {"batch", "mapper",
 *             "changes", "deltas", "applied_ms"} (tables_reduce_encode)
 *   aggregate key path "Delta::AMER::FXSpot" (no NUL); value {"value": exact
 *             decimal with 6 fractional digits, "count": n} (tables_agg_*)
 *   meta      per state shard (keys by tables_shard_key): u64
 *             TABLES_META_FLOOR: every batch id below it is applied; u64
 *             _APPLIED_SEQ: the aggregate is the rollup of the shard's
 *             change log up to this sequence number (0: nothing applied);
 *             16-byte _PEER (the state whose batches it applies); and u64
 *             _SHARDS (K) and the 16-byte id _INSTANCE (this environment) */
#ifndef RP_TABLES_H
#define RP_TABLES_H

#include "risk.h"
#include "../common/hier.h"
#include "../common/money.h"
#include "../common/store.h"

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

/* Databases of the state environment: indices into tables_state_dbs, the
 * NULL-terminated list to pass to store_open. */
enum { SDB_STATE, SDB_LOG, SDB_BATCHES, SDB_META, SDB_DLQ, SDB_DLQ_INDEX, SDB_DLQ_SOURCES };
extern const char *const tables_state_dbs[];

/* Databases of the reducer environment, likewise. */
enum { RDB_REDUCE, RDB_AGGREGATE, RDB_META };
extern const char *const tables_reducer_dbs[];

/* Meta keys (NUL-terminated; the key bytes exclude the NUL). */
#define TABLES_META_NEXT_SEQ "next_seq"     /* state: next change sequence number */
#define TABLES_META_NEXT_BATCH "next_batch" /* state: next batch id to cut */
#define TABLES_META_CUT_SEQ "cut_seq"       /* state: last sequence number in a batch */
#define TABLES_META_NEXT_DLQ "next_dlq"     /* state: next dead-letter entry id */
#define TABLES_META_HIERARCHY "hierarchy"   /* state: levels, comma-separated text */
#define TABLES_META_ROW_FORMAT "row_format" /* state: TABLES_STATE_FORMAT of its rows */
#define TABLES_META_FLOOR "floor"           /* reducer: batches below are applied */
#define TABLES_META_APPLIED_SEQ "applied_seq" /* reducer: last change sequence applied */
#define TABLES_META_INSTANCE "instance"     /* both: this environment's random id */
#define TABLES_META_SHARDS "shards"         /* both: K, the pipeline's state shards */
#define TABLES_META_SHARD "shard"           /* state: which one this is, 0..K-1 */
#define TABLES_META_PEER "peer"             /* both: the instance at the stream's other end */

/* The decoded state row: the latest accepted version of a trade. */
typedef struct {
    int64_t version;
    money_t value;
    char path[HIER_PATH_MAX];
    size_t path_len;
} state_row_t;

/* The state row, format 2: a msgpack array of TABLES_STATE_FIELDS,
 *   [Version, Value in micro-units (integer), Timestamp as received (nil when
 *    absent), [the configured levels' values, in level order],
 *    {the Hierarchy's other keys, sorted bytewise}]
 * The TradeID is the row's key. Format 1 (riskpipe before 2026-12-02) was a
 * map repeating field names and the TradeID, twice the size: the B-tree that
 * every commit copies pages of is what limits the state's speed. */
#define TABLES_STATE_FORMAT 2
enum {
    TABLES_STATE_VERSION,
    TABLES_STATE_VALUE,
    TABLES_STATE_TIMESTAMP,
    TABLES_STATE_LEVELS,
    TABLES_STATE_EXTRA,
    TABLES_STATE_FIELDS
};

/* Appends the canonical state row of m (decoded with the levels h) to sb:
 * two messages with the same payload always encode to the same bytes.
 * Returns 0 or RP_ENOMEM. */
int tables_state_encode(const risk_msg_t *m, const hier_levels_t *h, msgpack_sbuffer *sb);

/* Decodes a state row into *out, computing the path from the configured
 * levels. Returns 0 or RP_EPROTO (corrupt row, another format, or another
 * number of levels). */
int tables_state_decode(const char *buf, size_t len, const hier_levels_t *h, state_row_t *out);

/* The parts of a state row that tables_state_decode leaves out, borrowed
 * from the msgpack zone they were decoded from (valid while it lives). */
typedef struct {
    const msgpack_object *timestamp; /* an integer or a float; NULL when none was sent */
    const msgpack_object *levels;    /* array of the configured levels' values (strings) */
    const msgpack_object *extra;     /* map of the Hierarchy's other keys (string -> string) */
} state_detail_t;

/* Decodes a state row like tables_state_decode into *row, and its
 * Timestamp and Hierarchy into *out, borrowing from *unp (initialised here;
 * destroy it in every case). Returns 0 or RP_EPROTO. */
int tables_state_detail(const char *buf, size_t len, const hier_levels_t *h,
                        msgpack_unpacked *unp, state_row_t *row, state_detail_t *out);

#define TABLES_BATCH_SIZE 24
#define TABLES_BATCH_SIZE_OLD 16 /* rows without the commit time */

/* A batch row: its change sequence range and when it was committed. */
typedef struct {
    uint64_t first, last;
    uint64_t commit_us; /* wall clock, microseconds since the epoch; 0: unknown */
} batch_row_t;

/* Writes a batch row. */
void tables_batch_encode(uint8_t out[TABLES_BATCH_SIZE], const batch_row_t *row);

/* Reads a batch row of TABLES_BATCH_SIZE bytes, or of TABLES_BATCH_SIZE_OLD
 * (commit_us 0). Returns 0, or RP_EPROTO for another size or first > last. */
int tables_batch_decode(const void *buf, size_t len, batch_row_t *out);


/* A dead-letter row. In a decoded row, source, reason and raw are borrowed
 * from the msgpack zone they were decoded from (valid while it lives) and
 * are not NUL-terminated. */
typedef struct {
    uint64_t id;       /* entry id, also the key */
    int64_t time_ms;   /* wall-clock time it was rejected */
    const char *source;/* e.g. "ingest tcp://127.0.0.1:4242" */
    size_t source_len;
    uint64_t index;    /* position of the message in its frame */
    const char *reason;
    size_t reason_len;
    const char *raw;   /* the message's bytes, all of them in rows written now */
    size_t raw_len;
    uint64_t raw_size; /* the message's full size */
    int truncated;     /* raw_len < raw_size: cannot be replayed */
} dlq_row_t;

/* Appends a dead-letter row to sb: a map {"id", "time_ms", "source",
 * "index", "reason", "raw" (bin), "raw_size", "truncated"}; truncated is
 * derived from raw_len < raw_size (rows of older versions kept 4 KiB). */
void tables_dlq_encode(msgpack_sbuffer *sb, const dlq_row_t *row);

/* Decodes a dead-letter row into *out, borrowing from *unp (initialised
 * here; destroy it in every case). Returns 0, or RP_EPROTO when a field is
 * missing or of the wrong type. */
int tables_dlq_decode(const char *buf, size_t len, msgpack_unpacked *unp, dlq_row_t *out);

#define TABLES_DLQ_USAGE_SIZE 16

/* A source's usage of the dead-letter table: entries and bytes. */
void tables_dlq_usage_encode(uint8_t out[TABLES_DLQ_USAGE_SIZE], uint64_t entries,
                             uint64_t bytes);
int tables_dlq_usage_decode(const void *buf, size_t len, uint64_t *entries, uint64_t *bytes);

#define TABLES_SHARD_KEY_MAX 32

/* The reducer's meta key of a per-shard value (TABLES_META_FLOOR,
 * _APPLIED_SEQ, _PEER): base itself for shard 0, as before shards existed,
 * and "base.S" for shard S >= 1. */
void tables_shard_key(char out[TABLES_SHARD_KEY_MAX], const char *base, uint32_t shard);

#define TABLES_NO_SHARD UINT32_MAX /* tables_meta_shards: the reducer has no shard index */

/* Records the pipeline's shard count (and, unless shard is TABLES_NO_SHARD,
 * this state's shard) in the meta table of a new environment, or checks the
 * recorded ones: a pipeline's K is fixed when it is created, since it decides
 * where every trade lives. An environment that already holds data but
 * recorded no K was made before shards existed and is K=1, shard 0. Runs in
 * its own write transaction (committed only when it wrote). Returns 0,
 * RP_EINVAL with the reason in why when they differ, or a store error. */
int tables_meta_shards(store_t *store, MDB_dbi meta, int has_data, uint32_t shard,
                       uint32_t shards, char *why, size_t whylen);

/* Appends an aggregate row value to sb. */
void tables_agg_encode(msgpack_sbuffer *sb, money_sum_t value, int64_t count);

/* Decodes an aggregate row value. Returns 0 or RP_EPROTO. */
int tables_agg_decode(const char *buf, size_t len, money_sum_t *value, int64_t *count);

/* Appends a reduce row value to sb. */
void tables_reduce_encode(msgpack_sbuffer *sb, uint64_t batch, const char *mapper,
                          size_t mapper_len, uint64_t changes, uint64_t deltas,
                          int64_t applied_ms);

#endif
