/* The producer's side of acknowledged ingest, routed by shard; see
 * rp_client.h. */
#include "rp_client.h"
#include "../common/clock.h"
#include "../common/rperr.h"
#include "../proto/reply.h"
#include "../proto/shard.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RP_CLIENT_REPLY_MAX (1 << 20) /* largest answer taken from a state, bytes */

/* A frame of messages: filled, then sent until answered. */
typedef struct {
    uint64_t id;        /* correlation id, echoed by the state */
    uint32_t n;         /* messages */
    char *body;         /* concatenated message maps */
    size_t len, cap;
    uint64_t *tags;     /* each message's tag (batch of them) */
    int64_t sent_ms, due_ms;
    int inflight;
} frame_t;

/* One shard's link: its socket, the frames in flight and the one being
 * filled. */
typedef struct {
    char *endpoint;
    void *sock;
    frame_t *fr; /* window of them */
    uint32_t nfr;
    int64_t failures; /* consecutive timeouts without any answer */
    uint64_t next_id;
    frame_t cur;
    int filling;
    uint64_t max_seq;
    int seq_missing;
} link_t;

struct rp_client_t {
    void *ctx;
    rp_client_opts_t o;
    link_t *link;
    int k;
    rp_client_counts_t counts;
};

static void s_note(rp_client_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_note(rp_client_t *c, const char *fmt, ...)
{
    if (!c->o.on_note) return;
    char text[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    c->o.on_note(c->o.arg, text);
}

static void s_frame_free(frame_t *f)
{
    free(f->body);
    free(f->tags);
    memset(f, 0, sizeof *f);
}

/* (Re)connects link l on a fresh socket. Returns 0 or RP_EZMQ (why set). */
static int s_connect(rp_client_t *c, link_t *l, char *why, size_t whylen)
{
    if (l->sock) zmq_close(l->sock);
    int zero = 0;
    l->sock = zmq_socket(c->ctx, ZMQ_DEALER);
    if (!l->sock) {
        snprintf(why, whylen, "cannot create a socket: %s", zmq_strerror(errno));
        return RP_EZMQ;
    }
    /* an answer is a few KiB at most (REPLY_MAX_ERRORS reasons): a peer that
     * sends more is not a state, and libzmq drops its connection */
    int64_t max_msg = RP_CLIENT_REPLY_MAX;
    zmq_setsockopt(l->sock, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(l->sock, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt(l->sock, ZMQ_RCVHWM, &zero, sizeof zero);
    zmq_setsockopt(l->sock, ZMQ_MAXMSGSIZE, &max_msg, sizeof max_msg);
    if (c->o.server_key &&
        (zmq_setsockopt(l->sock, ZMQ_CURVE_SERVERKEY, c->o.server_key, 41) ||
         zmq_setsockopt(l->sock, ZMQ_CURVE_PUBLICKEY, c->o.public_key, 41) ||
         zmq_setsockopt(l->sock, ZMQ_CURVE_SECRETKEY, c->o.secret_key, 41))) {
        snprintf(why, whylen, "CURVE keys refused: %s", zmq_strerror(errno));
        return RP_EZMQ;
    }
    if (zmq_connect(l->sock, l->endpoint)) {
        snprintf(why, whylen, "cannot connect to %s: %s", l->endpoint, zmq_strerror(errno));
        return RP_EZMQ;
    }
    return 0;
}

rp_client_t *rp_client_new(const char *const *endpoints, int k, const rp_client_opts_t *opts,
                           char *why, size_t whylen)
{
    if (k < 1 || k > RP_CLIENT_SHARDS_MAX) {
        snprintf(why, whylen, "%d endpoints: give 1 to %d, one per state shard", k,
                 RP_CLIENT_SHARDS_MAX);
        return NULL;
    }
    if (opts && opts->server_key && (!opts->public_key || !opts->secret_key)) {
        snprintf(why, whylen, "CURVE needs the server key and this producer's key pair");
        return NULL;
    }
    rp_client_t *c = calloc(1, sizeof *c);
    if (!c || !(c->link = calloc((size_t)k, sizeof *c->link)) || !(c->ctx = zmq_ctx_new())) {
        snprintf(why, whylen, "out of memory");
        rp_client_destroy(&c);
        return NULL;
    }
    if (opts) c->o = *opts;
    if (!c->o.batch) c->o.batch = 1000;
    if (!c->o.max_frame) c->o.max_frame = 16u << 20;
    if (!c->o.window) c->o.window = 64;
    if (!c->o.timeout_ms) c->o.timeout_ms = 5000;
    if (!c->o.retries) c->o.retries = 30;
    if (c->o.retries < 0) c->o.retries = 0;
    c->k = k;
    for (int i = 0; i < k; i++) {
        link_t *l = &c->link[i];
        if (!(l->endpoint = strdup(endpoints[i])) ||
            !(l->fr = calloc(c->o.window, sizeof *l->fr))) {
            snprintf(why, whylen, "out of memory");
            rp_client_destroy(&c);
            return NULL;
        }
        c->k = i + 1;
        if (s_connect(c, l, why, whylen)) {
            rp_client_destroy(&c);
            return NULL;
        }
    }
    return c;
}

void rp_client_destroy(rp_client_t **self_p)
{
    if (!self_p || !*self_p) return;
    rp_client_t *c = *self_p;
    for (int i = 0; c->link && i < c->k; i++) {
        link_t *l = &c->link[i];
        for (uint32_t j = 0; j < l->nfr; j++) s_frame_free(&l->fr[j]);
        s_frame_free(&l->cur);
        free(l->fr);
        free(l->endpoint);
        if (l->sock) zmq_close(l->sock);
    }
    free(c->link);
    if (c->ctx) zmq_ctx_term(c->ctx);
    free(c);
    *self_p = NULL;
}

uint32_t rp_client_shard(const rp_client_t *self, const void *msg, size_t len)
{
    const char *id;
    size_t idlen;
    if (self->k < 2 || shard_trade_id(msg, len, &id, &idlen)) return 0;
    return shard_of(id, idlen, (uint32_t)self->k);
}

/* The msgpack array header for n messages in hdr; returns its length. */
static size_t s_array_header(uint32_t n, unsigned char hdr[5])
{
    if (n < 16) {
        hdr[0] = (unsigned char)(0x90 | n);
        return 1;
    }
    if (n < 65536) {
        hdr[0] = 0xdc;
        hdr[1] = (unsigned char)(n >> 8);
        hdr[2] = (unsigned char)n;
        return 3;
    }
    hdr[0] = 0xdd;
    for (int i = 0; i < 4; i++) hdr[1 + i] = (unsigned char)(n >> (24 - 8 * i));
    return 5;
}

/* Bytes of a frame of n messages whose maps take body bytes. */
static size_t s_frame_bytes(uint32_t n, size_t body)
{
    unsigned char hdr[5];
    return s_array_header(n, hdr) + body;
}

/* Sends frame f as [empty, correlation id, array of messages], never
 * blocking (a DEALER with no peer would wait forever): a frame that cannot
 * go now counts as sent and unanswered, so the retries still end the wait.
 * Returns 0 or -1. */
static int s_transmit(link_t *l, frame_t *f, int64_t now)
{
    unsigned char hdr[5];
    size_t hn = s_array_header(f->n, hdr);
    zmq_msg_t body;
    if (zmq_msg_init_size(&body, hn + f->len)) return -1;
    memcpy(zmq_msg_data(&body), hdr, hn);
    memcpy((char *)zmq_msg_data(&body) + hn, f->body, f->len);
    int ok = zmq_send(l->sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
             zmq_send(l->sock, &f->id, sizeof f->id, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
             zmq_msg_send(&body, l->sock, ZMQ_DONTWAIT) >= 0;
    if (!ok) zmq_msg_close(&body);
    f->sent_ms = now;
    f->inflight = 1;
    return ok ? 0 : -1;
}

/* Link l's frame being filled joins its window. */
static void s_queue(rp_client_t *c, link_t *l)
{
    l->cur.id = ++l->next_id;
    l->fr[l->nfr++] = l->cur;
    memset(&l->cur, 0, sizeof l->cur);
    l->filling = 0;
    c->counts.frames++;
}

/* Counts the answer r to frame f of shard. The reply contract is accepted +
 * duplicates + rejected = messages in the frame; a frame refused as a whole
 * (over the state's --max-batch or --max-frame) is one rejection, so every
 * message of it not accepted counts as rejected. */
static void s_count(rp_client_t *c, uint32_t shard, link_t *l, const frame_t *f,
                    const reply_view_t *r)
{
    rp_client_counts_t *n = &c->counts;
    n->accepted += r->accepted;
    n->duplicates += r->duplicates;
    n->conflicts += r->conflicts;
    if (r->seq > l->max_seq) l->max_seq = r->seq;
    if (!r->seq) l->seq_missing = 1;
    uint64_t done = r->accepted + r->duplicates;
    rp_client_rejection_t rej = {.shard = shard, .n = f->n, .tags = f->tags,
                                 .first_index = r->first_index, .first_error = r->first_error,
                                 .first_shard = r->first_shard};
    if (done + r->rejected != f->n && done < f->n) {
        rej.whole = 1;
        rej.rejected = f->n - done;
    } else {
        rej.rejected = r->rejected;
    }
    n->rejected += rej.rejected;
    if (!rej.rejected) return;
    if (r->first_shard >= 0) n->misrouted++;
    if (c->o.on_reject) c->o.on_reject(c->o.arg, &rej);
}

/* Reads the answers waiting on link l. */
static void s_on_replies(rp_client_t *c, uint32_t shard)
{
    link_t *l = &c->link[shard];
    for (;;) {
        zmq_msg_t part[3];
        int n = 0, more = 1, bad = 0;
        while (more) {
            zmq_msg_t tmp, *m = n < 3 ? &part[n] : &tmp;
            zmq_msg_init(m);
            if (zmq_msg_recv(m, l->sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
                zmq_msg_close(m);
                for (int i = 0; i < n && i < 3; i++) zmq_msg_close(&part[i]);
                return; /* nothing more waiting */
            }
            more = zmq_msg_more(m);
            if (n < 3) n++;
            else {
                bad = 1;
                zmq_msg_close(m);
            }
        }
        uint64_t id;
        if (!bad && n == 3 && zmq_msg_size(&part[1]) == sizeof id) {
            memcpy(&id, zmq_msg_data(&part[1]), sizeof id);
            for (uint32_t i = 0; i < l->nfr; i++) {
                frame_t *f = &l->fr[i];
                if (f->id != id || !f->inflight) continue;
                reply_view_t r;
                l->failures = 0;
                if (reply_decode(zmq_msg_data(&part[2]), zmq_msg_size(&part[2]), &r)) {
                    s_note(c, "undecodable reply from %s; re-sending the frame", l->endpoint);
                    f->inflight = 0;
                    f->due_ms = clock_mono_ms() + 500;
                } else if (r.retry) {
                    s_note(c, "state asks to retry: %s", r.error);
                    f->inflight = 0;
                    f->due_ms = clock_mono_ms() + 500;
                } else {
                    s_count(c, shard, l, f, &r);
                    s_frame_free(f);
                    l->fr[i] = l->fr[--l->nfr];
                }
                break;
            }
        }
        for (int i = 0; i < n; i++) zmq_msg_close(&part[i]);
    }
}

/* Sends link l's due frames; on a timed-out frame reconnects and re-sends
 * all its frames in flight. Returns 0, or RP_ETIMEDOUT when its retries are
 * exhausted. */
static int s_pump(rp_client_t *c, link_t *l)
{
    int64_t now = clock_mono_ms();
    for (uint32_t i = 0; i < l->nfr; i++)
        if (l->fr[i].inflight && now - l->fr[i].sent_ms > c->o.timeout_ms) {
            if (++l->failures > c->o.retries) {
                s_note(c, "no answer from %s after %d attempts; giving up (%u frame(s) "
                       "unacknowledged)", l->endpoint, c->o.retries, l->nfr);
                return RP_ETIMEDOUT;
            }
            int64_t backoff = 250LL << (l->failures < 5 ? l->failures : 5);
            s_note(c, "no answer from %s in %d ms; reconnecting, re-sending in %lld ms "
                   "(attempt %lld of %d)", l->endpoint, c->o.timeout_ms, (long long)backoff,
                   (long long)l->failures, c->o.retries);
            char why[300];
            if (s_connect(c, l, why, sizeof why)) s_note(c, "%s", why);
            for (uint32_t j = 0; j < l->nfr; j++) {
                if (l->fr[j].inflight) c->counts.resent++;
                l->fr[j].inflight = 0;
                l->fr[j].due_ms = now + backoff;
            }
            break;
        }
    for (uint32_t i = 0; i < l->nfr; i++)
        if (!l->fr[i].inflight && l->fr[i].due_ms <= now && s_transmit(l, &l->fr[i], now))
            l->fr[i].due_ms = now + 100; /* socket trouble: try again shortly */
    return 0;
}

int rp_client_room(const rp_client_t *self)
{
    for (int i = 0; i < self->k; i++)
        if (self->link[i].nfr >= self->o.window) return 0;
    return 1;
}

int rp_client_busy(const rp_client_t *self)
{
    for (int i = 0; i < self->k; i++)
        if (self->link[i].nfr || self->link[i].filling) return 1;
    return 0;
}

int rp_client_pollitems(rp_client_t *self, zmq_pollitem_t *items)
{
    for (int i = 0; i < self->k; i++)
        items[i] = (zmq_pollitem_t){self->link[i].sock, 0, ZMQ_POLLIN, 0};
    return self->k;
}

int rp_client_service(rp_client_t *self, const zmq_pollitem_t *items)
{
    int rc = 0;
    for (int i = 0; i < self->k; i++) {
        if (!items || (items[i].revents & ZMQ_POLLIN)) s_on_replies(self, (uint32_t)i);
        if (rc == 0) rc = s_pump(self, &self->link[i]);
    }
    return rc;
}

/* One poll over the sockets for up to wait_ms, then service. */
static int s_turn(rp_client_t *c, long wait_ms)
{
    zmq_pollitem_t items[RP_CLIENT_SHARDS_MAX];
    int n = rp_client_pollitems(c, items);
    if (zmq_poll(items, n, wait_ms) < 0 && errno != EINTR) return RP_EZMQ;
    return rp_client_service(c, items);
}

int rp_client_add(rp_client_t *self, const void *msg, size_t len, uint64_t tag)
{
    if (s_frame_bytes(1, len) > self->o.max_frame) return RP_ERANGE;
    link_t *l = &self->link[rp_client_shard(self, msg, len)];
    if (l->filling && s_frame_bytes(l->cur.n + 1, l->cur.len + len) > self->o.max_frame) {
        while (l->nfr >= self->o.window) {
            int rc = s_turn(self, 100);
            if (rc) return rc;
        }
        s_queue(self, l); /* the frame so far leaves without this message */
    }
    if (!l->filling) {
        if (!(l->cur.tags = malloc(self->o.batch * sizeof *l->cur.tags))) return RP_ENOMEM;
        l->filling = 1;
    }
    if (l->cur.len + len > l->cur.cap) {
        size_t cap = l->cur.cap ? l->cur.cap : 65536;
        while (cap < l->cur.len + len) cap *= 2;
        char *nb = realloc(l->cur.body, cap);
        if (!nb) return RP_ENOMEM;
        l->cur.body = nb;
        l->cur.cap = cap;
    }
    memcpy(l->cur.body + l->cur.len, msg, len);
    l->cur.len += len;
    l->cur.tags[l->cur.n++] = tag;
    self->counts.messages++;
    if (l->cur.n < self->o.batch) return 0;
    while (l->nfr >= self->o.window) {
        int rc = s_turn(self, 100);
        if (rc) return rc;
    }
    s_queue(self, l);
    return s_pump(self, l);
}

void rp_client_push(rp_client_t *self)
{
    for (int i = 0; i < self->k; i++) {
        link_t *l = &self->link[i];
        if (l->filling && l->nfr < self->o.window) s_queue(self, l);
    }
}

int rp_client_flush(rp_client_t *self)
{
    int rc = 0;
    while (rc == 0 && rp_client_busy(self)) {
        rp_client_push(self);
        rc = s_turn(self, 100);
    }
    return rc;
}

const rp_client_counts_t *rp_client_counts(const rp_client_t *self)
{
    return &self->counts;
}

uint64_t rp_client_seq(const rp_client_t *self, uint32_t shard, int *sent, int *old)
{
    const link_t *l = &self->link[shard < (uint32_t)self->k ? shard : 0];
    *sent = l->next_id > 0;
    *old = l->seq_missing;
    return l->max_seq;
}
