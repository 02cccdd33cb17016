/* The top levels of the aggregate tree, from /v1/stream events; see
 * livetree.h. */
#include "livetree.h"
#include "api.h"
#include "../common/hier.h"
#include "../common/rperr.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct livetree_t {
    int depth;
    int synced;
    uint64_t seq;
    livetree_row_t *rows; /* tree order */
    size_t n, cap;
};

livetree_t *livetree_new(int depth)
{
    livetree_t *self = calloc(1, sizeof *self);
    if (self) self->depth = depth;
    return self;
}

static void s_free_rows(livetree_row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(rows[i].path);
    free(rows);
}

void livetree_destroy(livetree_t **self_p)
{
    if (!self_p || !*self_p) return;
    s_free_rows((*self_p)->rows, (*self_p)->n);
    free(*self_p);
    *self_p = NULL;
}

void livetree_unsync(livetree_t *self)
{
    self->synced = 0;
}

int livetree_synced(const livetree_t *self)
{
    return self->synced;
}

uint64_t livetree_seq(const livetree_t *self)
{
    return self->seq;
}

size_t livetree_size(const livetree_t *self)
{
    return self->n;
}

const livetree_row_t *livetree_row(const livetree_t *self, size_t i)
{
    return i < self->n ? &self->rows[i] : NULL;
}

/* The length of the first level of p[0..len): up to its "::" or the end. */
static size_t s_level_len(const char *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++)
        if (p[i] == ':' && p[i + 1] == ':') return i;
    return len;
}

/* Tree order: level by level, each level's names in byte order (the
 * shorter first), so a parent (a prefix of whole levels) comes first. */
static int s_tree_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    for (;;) {
        if (alen == 0 || blen == 0) return alen ? 1 : blen ? -1 : 0;
        size_t la = s_level_len(a, alen), lb = s_level_len(b, blen);
        int c = api_path_cmp(a, la, b, lb);
        if (c) return c;
        /* past this level and its separator, if any */
        size_t sa = la < alen ? la + HIER_SEP_LEN : la, sb = lb < blen ? lb + HIER_SEP_LEN : lb;
        a += sa;
        alen -= sa;
        b += sb;
        blen -= sb;
    }
}

static int s_row_cmp(const void *x, const void *y)
{
    const livetree_row_t *a = x, *b = y;
    return s_tree_cmp(a->path, a->len, b->path, b->len);
}

/* Binary search for path in the first n rows (in tree order): its index,
 * or -1. */
static long s_find(const livetree_t *self, size_t n, const char *path, size_t len)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = s_tree_cmp(self->rows[mid].path, self->rows[mid].len, path, len);
        if (c == 0) return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Fills *out from an API row (taking its path); 0 when its level is beyond
 * the depth (the path is then freed), 1 when kept. */
static int s_take(const livetree_t *self, api_row_t *r, livetree_row_t *out)
{
    size_t lens[HIER_MAX_LEVELS + 1];
    int level = hier_prefixes(r->path, r->len, lens, HIER_MAX_LEVELS + 1);
    if (level > self->depth) {
        free(r->path);
        return 0;
    }
    out->path = r->path;
    out->len = r->len;
    out->level = level;
    out->name = level > 1 ? lens[level - 2] + HIER_SEP_LEN : 0;
    money_format(r->sum, out->value, sizeof out->value);
    out->count = r->count;
    r->path = NULL;
    return 1;
}

/* Makes room for one more row. */
static int s_grow(livetree_row_t **rows, size_t n, size_t *cap)
{
    if (n < *cap) return 0;
    size_t c = *cap ? *cap * 2 : 64;
    livetree_row_t *grown = realloc(*rows, c * sizeof *grown);
    if (!grown) return RP_ENOMEM;
    *rows = grown;
    *cap = c;
    return 0;
}

/* Reads an event's "seq" and "rows". */
static int s_head(const json_t *ev, uint64_t *seq, const json_t **rows, char *why, size_t whylen)
{
    const json_t *s = json_object_get(ev, "seq");
    *rows = json_object_get(ev, "rows");
    if (!json_is_integer(s) || json_integer_value(s) < 0 || !json_is_array(*rows)) {
        snprintf(why, whylen, "an event without an integer \"seq\" and a \"rows\" array");
        return RP_EPROTO;
    }
    *seq = (uint64_t)json_integer_value(s);
    return 0;
}

/* A snapshot: every row of the top levels, replacing the tree's. */
static int s_snapshot(livetree_t *self, const json_t *ev, char *why, size_t whylen)
{
    const json_t *rows, *row;
    uint64_t seq;
    int rc = s_head(ev, &seq, &rows, why, whylen);
    if (rc) return rc;
    livetree_row_t *fresh = NULL;
    size_t n = 0, cap = 0, i;
    json_array_foreach(rows, i, row)
    {
        api_row_t r;
        if ((rc = api_row_parse(row, &r, why, whylen))) break;
        if ((rc = s_grow(&fresh, n, &cap))) {
            free(r.path);
            break;
        }
        n += (size_t)s_take(self, &r, &fresh[n]);
    }
    if (rc) {
        if (rc == RP_ENOMEM) snprintf(why, whylen, "out of memory");
        s_free_rows(fresh, n);
        return rc;
    }
    if (n > 1) qsort(fresh, n, sizeof *fresh, s_row_cmp); /* fresh is NULL when n is 0 */
    for (size_t k = 1; k < n; k++)
        if (s_row_cmp(&fresh[k - 1], &fresh[k]) == 0) {
            snprintf(why, whylen, "a snapshot with the row '%s' twice", fresh[k].path);
            s_free_rows(fresh, n);
            return RP_EPROTO;
        }
    s_free_rows(self->rows, self->n);
    self->rows = fresh;
    self->n = n;
    self->cap = cap;
    self->seq = seq;
    self->synced = 1;
    return 0;
}

/* Checks an update before anything of it is applied, so that a bad one
 * leaves the tree as it was. */
static int s_check_update(const json_t *rows, const json_t *removed, char *why, size_t whylen)
{
    const json_t *x;
    size_t i;
    if (removed && !json_is_array(removed)) {
        snprintf(why, whylen, "an update whose \"removed\" is not an array");
        return RP_EPROTO;
    }
    json_array_foreach(removed, i, x) if (!json_is_string(x))
    {
        snprintf(why, whylen, "an update whose \"removed\" holds a non-string");
        return RP_EPROTO;
    }
    json_array_foreach(rows, i, x)
    {
        api_row_t r;
        int rc = api_row_parse(x, &r, why, whylen);
        if (rc) return rc;
        free(r.path);
    }
    return 0;
}

/* An update: the changed rows and the removed paths. */
static int s_update(livetree_t *self, const json_t *ev, char *why, size_t whylen)
{
    const json_t *rows, *removed = json_object_get(ev, "removed"), *x;
    uint64_t seq;
    int rc = s_head(ev, &seq, &rows, why, whylen);
    if (rc == 0) rc = s_check_update(rows, removed, why, whylen);
    if (rc) return rc;
    if (!self->synced) {
        snprintf(why, whylen, "an update before any snapshot");
        return RP_EPROTO;
    }
    size_t i, added = 0;
    json_array_foreach(removed, i, x)
    {
        long k = s_find(self, self->n, json_string_value(x), json_string_length(x));
        if (k < 0) continue;
        free(self->rows[k].path);
        memmove(&self->rows[k], &self->rows[k + 1], (self->n - (size_t)k - 1) * sizeof *self->rows);
        self->n--;
    }
    size_t sorted = self->n; /* new rows go after these until the sort below */
    json_array_foreach(rows, i, x)
    {
        api_row_t r;
        livetree_row_t t;
        if ((rc = api_row_parse(x, &r, why, whylen))) break;
        if (!s_take(self, &r, &t)) continue;
        long k = s_find(self, sorted, t.path, t.len);
        for (size_t j = sorted; k < 0 && j < self->n; j++) /* listed twice: the last wins */
            if (s_row_cmp(&self->rows[j], &t) == 0) k = (long)j;
        if (k >= 0) { /* changed: the new total */
            free(self->rows[k].path);
            self->rows[k] = t;
        } else if ((rc = s_grow(&self->rows, self->n, &self->cap))) {
            free(t.path);
            break;
        } else { /* new: appended now, put in place below */
            self->rows[self->n++] = t;
            added++;
        }
    }
    /* even after a failure the rows added so far are put in order */
    if (added) qsort(self->rows, self->n, sizeof *self->rows, s_row_cmp);
    if (rc == RP_ENOMEM) snprintf(why, whylen, "out of memory");
    if (rc == 0) self->seq = seq;
    return rc;
}

int livetree_apply(livetree_t *self, const char *event, const char *data, size_t len, char *why,
                   size_t whylen)
{
    int snapshot = strcmp(event, "snapshot") == 0;
    if (!snapshot && strcmp(event, "update") != 0) return 0;
    json_error_t err;
    json_t *ev = json_loadb(data, len, JSON_ALLOW_NUL, &err);
    if (!json_is_object(ev)) {
        snprintf(why, whylen, "a %s event that is not a JSON object%s%s", event, ev ? "" : ": ",
                 ev ? "" : err.text);
        json_decref(ev);
        return RP_EPROTO;
    }
    int rc = snapshot ? s_snapshot(self, ev, why, whylen) : s_update(self, ev, why, whylen);
    json_decref(ev);
    return rc;
}
