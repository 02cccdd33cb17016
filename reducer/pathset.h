/* A bounded set of aggregate paths (byte strings) in insertion order, with
 * a mark to roll back to. The reducer's applier adds the path of every
 * delta it writes, the mark follows each commit and a failed transaction
 * rolls back to it, so the set holds exactly the paths that committed
 * transactions changed; the event streams (feed.c) drain it after every
 * cycle, each into a set of its own. Past max paths it stops growing and
 * only notes that it overflowed: its reader must then re-read everything. */
#ifndef RP_PATHSET_H
#define RP_PATHSET_H

#include <stddef.h>

typedef struct pathset_t pathset_t;

/* A new empty set of at most max paths, or NULL when out of memory. The
 * caller owns it. */
pathset_t *pathset_new(size_t max);

/* Frees it; accepts NULL and sets *self_p to NULL. */
void pathset_destroy(pathset_t **self_p);

/* Adds path[0..len) (copied) unless it is present. Returns 0; RP_ERANGE
 * when the set already holds max paths, RP_ENOMEM when memory runs out:
 * then the path is left out and the set is marked overflowed. */
int pathset_add(pathset_t *self, const char *path, size_t len);

/* 1 when path[0..len) is in the set. */
int pathset_has(const pathset_t *self, const char *path, size_t len);

/* Number of paths held. */
size_t pathset_count(const pathset_t *self);

/* The i-th path (i < pathset_count) and its length in *len; borrowed until
 * the set next changes. */
const char *pathset_get(const pathset_t *self, size_t i, size_t *len);

/* 1 when a path was left out since the last clear (or rollback past it). */
int pathset_overflowed(const pathset_t *self);

/* Puts the paths in bytewise order (the aggregate table's key order). */
void pathset_sort(pathset_t *self);

/* Empties the set, its overflow mark and its mark; keeps its memory. */
void pathset_clear(pathset_t *self);

/* Sets the mark at the present contents; pathset_rollback forgets every
 * path added since, and an overflow since. */
void pathset_mark(pathset_t *self);
void pathset_rollback(pathset_t *self);

#endif
