/* Subscribers of GET /v1/stream and their events; see feed.h. */
#include "feed.h"
#include "query.h"
#include "../common/clock.h"
#include "../common/log.h"
#include "../common/rperr.h"
#include "../proto/tables.h"
#include "../svc/jsonw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sub_t sub_t;

struct sub_t {
    feed_t *feed;
    http_stream_t *stream; /* NULL once its write failed: it is being closed */
    char prefix[HIER_PATH_MAX + 1];
    size_t prefix_len;
    pathset_t *pending; /* paths under prefix changed since the last event */
    int resync;         /* changes were lost (a set overflowed): a snapshot is due */
    int64_t last_ms;    /* when the last event was written */
    sub_t *prev, *next;
};

struct feed_t {
    store_t *store;
    pathset_t *changed;
    sub_t *subs;
    int nsubs;
    metrics_buf_t ev; /* the event being rendered */
};

feed_t *feed_new(store_t *store, pathset_t *changed)
{
    feed_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->store = store;
    self->changed = changed;
    metrics_buf_init(&self->ev);
    return self;
}

static void s_sub_free(sub_t *s)
{
    feed_t *self = s->feed;
    if (s->prev)
        s->prev->next = s->next;
    else
        self->subs = s->next;
    if (s->next) s->next->prev = s->prev;
    self->nsubs--;
    pathset_destroy(&s->pending);
    free(s);
}

void feed_destroy(feed_t **self_p)
{
    if (!self_p || !*self_p) return;
    feed_t *self = *self_p;
    while (self->subs)
        s_sub_free(self->subs); /* only when http outlived nothing */
    metrics_buf_free(&self->ev);
    free(self);
    *self_p = NULL;
}

int feed_subscribers(const feed_t *self)
{
    return self->nsubs;
}

/* http_stream_closed_fn: the subscriber's connection is over. */
static void s_closed(void *arg, http_stream_t *stream)
{
    (void)stream;
    s_sub_free(arg);
}

/* Renders into self->ev the event "snapshot" of every row under prefix,
 * read in txn. Returns 0 or an RP code. */
static int s_snapshot(feed_t *self, MDB_txn *txn, const char *prefix, size_t prefix_len)
{
    query_params_t p = {.prefix_len = prefix_len, .limit = UINT64_MAX};
    memcpy(p.prefix, prefix, prefix_len);
    uint64_t seq, rows;
    int more;
    char last[HIER_PATH_MAX + 1];
    size_t last_len;
    int rc = query_seq(self->store, txn, &seq);
    if (rc) return rc;
    self->ev.len = 0;
    metrics_buf_printf(&self->ev, "event: snapshot\nid: %llu\ndata: {\"seq\":%llu,\"rows\":[",
                       (unsigned long long)seq, (unsigned long long)seq);
    if ((rc = query_rows(self->store, txn, &p, seq, &self->ev, &rows, &more, last, &last_len)))
        return rc;
    metrics_buf_printf(&self->ev, "]}\n\n");
    return self->ev.failed ? RP_ENOMEM : 0;
}

/* Renders into self->ev the event "update" of s's pending paths, read in
 * txn: the rows that exist now and the paths that do not. */
static int s_update(feed_t *self, MDB_txn *txn, sub_t *s)
{
    uint64_t seq;
    int rc = query_seq(self->store, txn, &seq);
    if (rc) return rc;
    pathset_sort(s->pending);
    MDB_dbi dbi = store_dbi(self->store, RDB_AGGREGATE);
    size_t n = pathset_count(s->pending), rows = 0, removed = 0;
    metrics_buf_t *b = &self->ev;
    b->len = 0;
    metrics_buf_printf(b, "event: update\nid: %llu\ndata: {\"seq\":%llu,\"rows\":[",
                       (unsigned long long)seq, (unsigned long long)seq);
    /* two passes over the sorted paths: the rows, then the removed ones */
    for (int pass = 0; pass < 2; pass++) {
        if (pass) metrics_buf_printf(b, "],\"removed\":[");
        for (size_t i = 0; i < n; i++) {
            size_t len;
            const char *path = pathset_get(s->pending, i, &len);
            MDB_val k = {len, (void *)path}, v;
            int r = mdb_get(txn, dbi, &k, &v);
            if (r != 0 && r != MDB_NOTFOUND) return store_rc(r);
            if (pass == 0 && r == 0) {
                money_sum_t sum;
                int64_t count;
                if (tables_agg_decode(v.mv_data, v.mv_size, &sum, &count)) {
                    log_error("aggregate row '%.*s' is unreadable", (int)len, path);
                    return RP_EPROTO;
                }
                if (rows++) metrics_buf_printf(b, ",");
                query_row_json(b, path, len, sum, count, seq);
            } else if (pass == 1 && r == MDB_NOTFOUND) {
                if (removed++) metrics_buf_printf(b, ",");
                jsonw_str(b, path, len);
            }
        }
    }
    metrics_buf_printf(b, "]}\n\n");
    return b->failed ? RP_ENOMEM : 0;
}

/* Writes self->ev to s; a failed write leaves s to be closed. */
static void s_send(feed_t *self, sub_t *s, int64_t now_ms)
{
    if (http_stream_write(s->stream, self->ev.data, self->ev.len)) s->stream = NULL;
    s->last_ms = now_ms;
    s->resync = 0;
    pathset_clear(s->pending);
}

int feed_open(feed_t *self, http_req_t *req, const char *prefix, size_t prefix_len)
{
    MDB_txn *txn = NULL;
    int rc = store_begin(self->store, 1, &txn);
    if (rc == 0) rc = s_snapshot(self, txn, prefix, prefix_len);
    store_abort(&txn);
    if (rc) {
        log_warn("http: /v1/stream snapshot: %s", rp_strerror(rc));
        return http_reply_error(req, 500, "%s",
                                rc == RP_ENOMEM ? "out of memory" : "cannot read the table");
    }
    sub_t *s = calloc(1, sizeof *s);
    if (!s || !(s->pending = pathset_new(FEED_PENDING_MAX))) {
        free(s);
        return http_reply_error(req, 500, "out of memory");
    }
    s->feed = self;
    memcpy(s->prefix, prefix, prefix_len);
    s->prefix_len = prefix_len;
    rc = http_reply_stream(req, s_closed, s, &s->stream);
    if (rc || !s->stream) { /* refused, or a HEAD request answered */
        pathset_destroy(&s->pending);
        free(s);
        if (rc == RP_EBUSY)
            return http_reply_error(req, 503, "too many event streams open (at most %d)",
                                    HTTP_STREAMS_MAX);
        return rc ? http_reply_error(req, 500, "out of memory") : 0;
    }
    s->next = self->subs;
    if (s->next) s->next->prev = s;
    self->subs = s;
    self->nsubs++;
    s_send(self, s, clock_mono_ms());
    return 0;
}

/* Moves the changed paths into the subscribers that watch them. When the
 * changed set overflowed, or a subscriber's own set does, the subscriber
 * is due a snapshot instead. */
static void s_drain(feed_t *self)
{
    size_t n = pathset_count(self->changed);
    int overflow = pathset_overflowed(self->changed);
    if (!n && !overflow) return;
    for (sub_t *s = self->subs; s; s = s->next) {
        if (overflow) s->resync = 1;
        for (size_t i = 0; i < n && !s->resync; i++) {
            size_t len;
            const char *path = pathset_get(self->changed, i, &len);
            if (query_under(path, len, s->prefix, s->prefix_len) &&
                pathset_add(s->pending, path, len))
                s->resync = 1;
        }
    }
    pathset_clear(self->changed);
}

/* 1 when s has an event to send. */
static int s_waiting(const sub_t *s)
{
    return s->stream && (s->resync || pathset_count(s->pending) > 0);
}

void feed_tick(feed_t *self, int64_t now_ms)
{
    s_drain(self);
    MDB_txn *txn = NULL;
    for (sub_t *s = self->subs; s; s = s->next) {
        /* strictly more whole ms than the interval: at least the interval */
        if (!s_waiting(s) || now_ms - s->last_ms <= FEED_INTERVAL_MS) continue;
        /* one read transaction for every event of this tick */
        int rc = txn ? 0 : store_begin(self->store, 1, &txn);
        if (rc == 0)
            rc = s->resync ? s_snapshot(self, txn, s->prefix, s->prefix_len)
                           : s_update(self, txn, s);
        if (rc) {
            /* try again after an interval: the changes stay pending */
            log_warn("http: /v1/stream event: %s", rp_strerror(rc));
            s->last_ms = now_ms;
            continue;
        }
        s_send(self, s, now_ms);
    }
    store_abort(&txn);
}

long feed_timeout(const feed_t *self, long ms, int64_t now_ms)
{
    for (const sub_t *s = self->subs; s; s = s->next) {
        if (!s_waiting(s)) continue;
        int64_t due = s->last_ms + FEED_INTERVAL_MS + 1 - now_ms;
        if (due < 0) due = 0;
        if (ms < 0 || due < ms) ms = (long)due;
    }
    return ms;
}
