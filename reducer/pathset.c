/* Paths in an arena, indexed by an open-addressing hash table; see
 * pathset.h. */
#include "pathset.h"
#include "../common/rperr.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t off, len; /* in the arena */
    uint64_t hash;
    size_t slot; /* where the index holds it */
} s_entry_t;

struct pathset_t {
    size_t max;
    char *arena;
    size_t used, arena_cap;
    s_entry_t *entries;
    size_t n, entries_cap;
    uint32_t *slots; /* entry index + 1, 0 for empty; nslots a power of two */
    size_t nslots;
    int overflow;
    size_t mark_n, mark_used; /* what rollback returns to */
    int mark_overflow;
};

/* FNV-1a, 64 bits. */
static uint64_t s_hash(const char *p, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* The slot that holds path (or the empty slot where it would go). */
static size_t s_find(const pathset_t *self, const char *path, size_t len, uint64_t h)
{
    size_t mask = self->nslots - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        uint32_t e = self->slots[i];
        if (!e) return i;
        const s_entry_t *x = &self->entries[e - 1];
        if (x->hash == h && x->len == len && !memcmp(self->arena + x->off, path, len)) return i;
    }
}

/* Indexes entries[0..n) afresh in the present slots. */
static void s_rebuild(pathset_t *self)
{
    memset(self->slots, 0, self->nslots * sizeof *self->slots);
    for (size_t i = 0; i < self->n; i++) {
        s_entry_t *x = &self->entries[i];
        x->slot = s_find(self, self->arena + x->off, x->len, x->hash);
        self->slots[x->slot] = (uint32_t)(i + 1);
    }
}

/* Moves the index to nslots slots. Returns 0 or RP_ENOMEM (the old index
 * is then kept). */
static int s_reindex(pathset_t *self, size_t nslots)
{
    uint32_t *slots = calloc(nslots, sizeof *slots);
    if (!slots) return RP_ENOMEM;
    free(self->slots);
    self->slots = slots;
    self->nslots = nslots;
    s_rebuild(self);
    return 0;
}

pathset_t *pathset_new(size_t max)
{
    pathset_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->max = max < UINT32_MAX / 4 ? max : UINT32_MAX / 4;
    self->arena_cap = 1024;
    if (!(self->arena = malloc(self->arena_cap)) || s_reindex(self, 64)) pathset_destroy(&self);
    return self;
}

void pathset_destroy(pathset_t **self_p)
{
    if (!self_p || !*self_p) return;
    pathset_t *self = *self_p;
    free(self->arena);
    free(self->entries);
    free(self->slots);
    free(self);
    *self_p = NULL;
}

/* Grows *p (elements of size) so that it holds need; doubles. */
static int s_grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * size);
    if (!q) return RP_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

int pathset_add(pathset_t *self, const char *path, size_t len)
{
    uint64_t h = s_hash(path, len);
    size_t slot = s_find(self, path, len, h);
    if (self->slots[slot]) return 0;
    if (self->n >= self->max) {
        self->overflow = 1;
        return RP_ERANGE;
    }
    /* keep the table at most half full */
    if (2 * (self->n + 1) > self->nslots) {
        if (s_reindex(self, self->nslots * 2)) goto nomem;
        slot = s_find(self, path, len, h);
    }
    if (s_grow((void **)&self->arena, &self->arena_cap, self->used + len, 1) ||
        s_grow((void **)&self->entries, &self->entries_cap, self->n + 1, sizeof(s_entry_t)))
        goto nomem;
    if (len) memcpy(self->arena + self->used, path, len);
    self->entries[self->n] = (s_entry_t){self->used, len, h, slot};
    self->used += len;
    self->slots[slot] = (uint32_t)(++self->n);
    return 0;
nomem:
    self->overflow = 1;
    return RP_ENOMEM;
}

int pathset_has(const pathset_t *self, const char *path, size_t len)
{
    return self->slots[s_find(self, path, len, s_hash(path, len))] != 0;
}

size_t pathset_count(const pathset_t *self)
{
    return self->n;
}

const char *pathset_get(const pathset_t *self, size_t i, size_t *len)
{
    *len = self->entries[i].len;
    return self->arena + self->entries[i].off;
}

int pathset_overflowed(const pathset_t *self)
{
    return self->overflow;
}

/* qsort's comparison needs the arena: entries are sorted through a
 * file-local pointer, which is fine on the one loop thread. */
static const char *s_sort_arena;

static int s_cmp(const void *a, const void *b)
{
    const s_entry_t *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = memcmp(s_sort_arena + x->off, s_sort_arena + y->off, n);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

void pathset_sort(pathset_t *self)
{
    s_sort_arena = self->arena;
    if (self->n) qsort(self->entries, self->n, sizeof *self->entries, s_cmp);
    s_rebuild(self);
    pathset_mark(self); /* the order changed: no rollback reaches back past a sort */
}

void pathset_clear(pathset_t *self)
{
    /* after a burst the index is large and the set small: clear what is used */
    if (self->n * 8 < self->nslots)
        for (size_t i = 0; i < self->n; i++)
            self->slots[self->entries[i].slot] = 0;
    else
        memset(self->slots, 0, self->nslots * sizeof *self->slots);
    self->n = self->used = 0;
    self->overflow = 0;
    self->mark_n = self->mark_used = 0;
    self->mark_overflow = 0;
}

void pathset_mark(pathset_t *self)
{
    self->mark_n = self->n;
    self->mark_used = self->used;
    self->mark_overflow = self->overflow;
}

void pathset_rollback(pathset_t *self)
{
    if (self->n == self->mark_n) {
        self->overflow = self->mark_overflow;
        return;
    }
    /* The entries past the mark are the newest; removing them from the
     * index one by one would break its probe chains, so it is rebuilt. */
    self->n = self->mark_n;
    self->used = self->mark_used;
    self->overflow = self->mark_overflow;
    s_rebuild(self);
}
