/* Pre-aggregation of one batch of changes into per-path deltas: for every
 * prefix of a change's old path, subtract the old value and one trade; for
 * every prefix of its new path, add the new value and one trade. Paths whose
 * delta and count both cancel out are dropped. */
#ifndef RP_PREAGG_H
#define RP_PREAGG_H

#include "../common/money.h"
#include "../proto/frame.h"

#include <stddef.h>
#include <stdint.h>

typedef struct preagg_t preagg_t;

/* Creates an empty accumulator. NULL on allocation failure. */
preagg_t *preagg_new(void);

/* Frees it; accepts NULL and sets *self_p to NULL. */
void preagg_destroy(preagg_t **self_p);

/* Empties the accumulator, keeping its memory for the next batch. */
void preagg_reset(preagg_t *self);

/* Adds one change (paths copied). Returns 0 or RP_ENOMEM. */
int preagg_add(preagg_t *self, const change_t *c);

/* Number of non-cancelled paths, and iteration over them in unspecified
 * order: *it starts at 0; returns 1 and fills the out-parameters (path
 * borrowed until the next add/reset) while entries remain, else 0. */
size_t preagg_count(const preagg_t *self);
int preagg_next(const preagg_t *self, size_t *it, const char **path, size_t *len,
                money_sum_t *delta, int64_t *count);

#endif
