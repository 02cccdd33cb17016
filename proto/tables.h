/* Row formats of the reducer's durable tables, which users read with
 * mdb_dump and riskctl:
 *   aggregate: key "Delta::AMER::FXSpot" (no NUL), value {"value": "<exact
 *              decimal, 6 fractional digits>", "count": n}
 *   reduce:    key 8-byte big-endian batch id, value {"batch": id,
 *              "mapper": "host:pid", "changes": n, "deltas": n, "applied_ms": t} */
#ifndef RP_TABLES_H
#define RP_TABLES_H

#include "../common/money.h"

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

/* Appends an aggregate row value to sb. */
void tables_agg_encode(msgpack_sbuffer *sb, money_sum_t value, int64_t count);

/* Decodes an aggregate row value. Returns 0 or RP_EPROTO. */
int tables_agg_decode(const char *buf, size_t len, money_sum_t *value, int64_t *count);

/* Appends a reduce row value to sb. */
void tables_reduce_encode(msgpack_sbuffer *sb, uint64_t batch, const char *mapper,
                          size_t mapper_len, uint64_t changes, uint64_t deltas,
                          int64_t applied_ms);

#endif
