/* One WORK frame in, one RESULT frame out: the mapper's whole job, apart from
 * the sockets. The batch's changes are pre-aggregated per path (preagg.c) and
 * the RESULT carries the batch id, the watermark and this mapper's id. */
#ifndef RP_MAP_H
#define RP_MAP_H

#include "preagg.h"

#include <msgpack.h>
#include <stddef.h>

/* Decodes the WORK frame buf[0..len), pre-aggregates it with the borrowed
 * agg (reset first) and writes the RESULT frame, signed with mapper_id, into
 * out (cleared first). Returns 0, RP_EPROTO for a bad WORK frame (logged at
 * warn; out left empty), or RP_ENOMEM. */
int map_work(preagg_t *agg, const char *buf, size_t len, const char *mapper_id,
             msgpack_sbuffer *out);

#endif
