/* Open-addressing hash table from path to (delta, count), sized for one
 * batch and reused across batches. */
#include "preagg.h"
#include "../common/hier.h"
#include "../common/rperr.h"

#include <stdlib.h>
#include <string.h>

typedef struct {
    char *path; /* NULL = empty slot */
    size_t len;
    uint64_t hash;
    money_sum_t delta;
    int64_t count;
} slot_t;

struct preagg_t {
    slot_t *slots;
    size_t cap, used;
};

static uint64_t s_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

preagg_t *preagg_new(void)
{
    preagg_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->cap = 1024;
    self->slots = calloc(self->cap, sizeof *self->slots);
    if (!self->slots) {
        free(self);
        return NULL;
    }
    return self;
}

void preagg_reset(preagg_t *self)
{
    for (size_t i = 0; i < self->cap; i++) {
        free(self->slots[i].path);
        self->slots[i].path = NULL;
    }
    self->used = 0;
}

void preagg_destroy(preagg_t **self_p)
{
    if (!self_p || !*self_p) return;
    preagg_reset(*self_p);
    free((*self_p)->slots);
    free(*self_p);
    *self_p = NULL;
}

static slot_t *s_find(slot_t *slots, size_t cap, const char *p, size_t n, uint64_t h)
{
    size_t i = h & (cap - 1);
    while (slots[i].path &&
           !(slots[i].hash == h && slots[i].len == n && memcmp(slots[i].path, p, n) == 0))
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static int s_grow(preagg_t *self)
{
    size_t cap = self->cap * 2;
    slot_t *slots = calloc(cap, sizeof *slots);
    if (!slots) return RP_ENOMEM;
    for (size_t i = 0; i < self->cap; i++)
        if (self->slots[i].path)
            *s_find(slots, cap, self->slots[i].path, self->slots[i].len, self->slots[i].hash) =
                self->slots[i];
    free(self->slots);
    self->slots = slots;
    self->cap = cap;
    return 0;
}

static int s_bump(preagg_t *self, const char *p, size_t n, money_sum_t delta, int64_t count)
{
    if ((self->used + 1) * 2 > self->cap && s_grow(self)) return RP_ENOMEM;
    uint64_t h = s_hash(p, n);
    slot_t *s = s_find(self->slots, self->cap, p, n, h);
    if (!s->path) {
        if (!(s->path = malloc(n ? n : 1))) return RP_ENOMEM;
        memcpy(s->path, p, n);
        s->len = n;
        s->hash = h;
        s->delta = 0;
        s->count = 0;
        self->used++;
    }
    s->delta += delta;
    s->count += count;
    return 0;
}

static int s_side(preagg_t *self, const char *path, size_t len, money_sum_t v, int64_t count)
{
    size_t lens[HIER_MAX_LEVELS];
    int n = hier_prefixes(path, len, lens, HIER_MAX_LEVELS);
    for (int i = 0; i < n; i++)
        if (s_bump(self, path, lens[i], v, count)) return RP_ENOMEM;
    return 0;
}

int preagg_add(preagg_t *self, const change_t *c)
{
    if (c->has_old && s_side(self, c->old_path, c->old_len, -(money_sum_t)c->old_value, -1))
        return RP_ENOMEM;
    if (c->has_new && s_side(self, c->new_path, c->new_len, c->new_value, 1)) return RP_ENOMEM;
    return 0;
}

size_t preagg_count(const preagg_t *self)
{
    size_t n = 0;
    for (size_t i = 0; i < self->cap; i++)
        if (self->slots[i].path && (self->slots[i].delta || self->slots[i].count)) n++;
    return n;
}

int preagg_next(const preagg_t *self, size_t *it, const char **path, size_t *len,
                money_sum_t *delta, int64_t *count)
{
    for (; *it < self->cap; (*it)++) {
        const slot_t *s = &self->slots[*it];
        if (!s->path || (s->delta == 0 && s->count == 0)) continue;
        *path = s->path;
        *len = s->len;
        *delta = s->delta;
        *count = s->count;
        (*it)++;
        return 1;
    }
    return 0;
}
