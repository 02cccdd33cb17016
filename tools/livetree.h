/* The rows riskctl top shows: the aggregate rows of the top levels of the
 * tree (level <= depth), kept up to date from the events of the reducer's
 * GET /v1/stream. A "snapshot" event ({"seq", "rows"}) replaces them all;
 * an "update" ({"seq", "rows", "removed"}) changes the rows it lists and
 * deletes the paths of "removed". Rows are kept in tree order, level by
 * level, so that each row follows its parent ("Delta", "Delta::AMER", then
 * "Delta2"), which key order does not do. No I/O here. */
#ifndef RP_LIVETREE_H
#define RP_LIVETREE_H

#include "../common/money.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *path; /* owned by the tree; len bytes and a NUL */
    size_t len;
    size_t name;               /* offset of the last level's name in path */
    int level;                 /* 1 for "Delta", 2 for "Delta::AMER" */
    char value[MONEY_FMT_MAX]; /* the exact total, as money_format writes it */
    int64_t count;             /* live trades under the path */
} livetree_row_t;

typedef struct livetree_t livetree_t;

/* An empty tree keeping levels 1..depth. Returns it (caller owns;
 * livetree_destroy), or NULL when out of memory. */
livetree_t *livetree_new(int depth);

/* Frees the tree; accepts NULL and sets *self_p to NULL. */
void livetree_destroy(livetree_t **self_p);

/* Applies one event of type event with data (len bytes of JSON, borrowed).
 * An event of another type is ignored. Returns 0; RP_EPROTO with why for
 * data that breaks the contract or an update before any snapshot (the
 * tree is then as before: reconnect); RP_ENOMEM. */
int livetree_apply(livetree_t *self, const char *event, const char *data, size_t len, char *why,
                   size_t whylen);

/* Marks the tree as waiting for a snapshot (a new connection): its rows
 * stay, to be shown as they were until the snapshot replaces them. */
void livetree_unsync(livetree_t *self);

/* 1 when a snapshot was applied since the tree was made or unsynced. */
int livetree_synced(const livetree_t *self);

/* The change sequence number of the last event applied (0 before any). */
uint64_t livetree_seq(const livetree_t *self);

/* The number of rows, and row i of them in tree order (borrowed: valid
 * until the next livetree_apply). */
size_t livetree_size(const livetree_t *self);
const livetree_row_t *livetree_row(const livetree_t *self, size_t i);

#endif
