/* riskctl send: JSON lines (or, with --format msgpack, msgpack maps a
 * producer already has, sent as they are) -> msgpack batches -> acknowledged
 * ingest. A window of frames is kept in flight on a DEALER socket; each frame carries
 * a correlation id, and frames without an answer are re-sent on a fresh
 * socket (Lazy Pirate) with backoff, so a restart of the state process loses
 * nothing. With K state shards (--ingest lists K endpoints, in shard order)
 * each message goes to the shard of its TradeID (proto/shard.h), over one
 * such link per shard. Re-sending is safe: stored versions make re-sent messages
 * duplicates. Every line refused here and every message the state rejects
 * is counted, named by its line number (the first few), and makes the exit
 * status 1. */
#include "riskctl.h"
#include "cli.h"
#include "jsonline.h"
#include "../common/clock.h"
#include "../common/rperr.h"
#include "../proto/mp.h"
#include "../proto/reply.h"
#include "../proto/risk.h"
#include "../proto/shard.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The state's default --max-batch: a larger --batch would have every frame
 * refused whole by a state with the default limit. */
#define SEND_BATCH_MAX 10000
#define SEND_SHOW 10 /* reasons printed; the counts cover the rest */

/* A frame of messages: filled from the input, then sent until answered. */
typedef struct {
    uint64_t id;           /* correlation id, echoed by the state process */
    uint32_t n;            /* messages */
    msgpack_sbuffer body;  /* concatenated message maps */
    uint64_t *line;        /* input line number of each message (--batch of them) */
    int64_t sent_ms, due_ms;
    int inflight;
} frame_t;

/* The input: JSON lines read into buf, of which len bytes are not yet
 * taken; JSONLINE_PADDING bytes after them always stay allocated. */
typedef struct {
    int fd; /* 0: stdin */
    char *buf;
    size_t cap, len;
    int eof;
    unsigned long long taken; /* bytes of the input before buf[0] */
} input_t;

/* One state shard's link: its socket, the frames in flight (the window) and
 * the frame being filled. */
typedef struct {
    const char *endpoint;
    zsock_t *sock;
    frame_t *fr;
    int nfr;
    int64_t failures;          /* consecutive timeouts without any answer */
    uint64_t next_id;
    frame_t cur;               /* the frame being filled, when filling */
    int filling;
    uint64_t max_seq;          /* highest change sequence a reply carried (--wait) */
    int seq_missing;           /* a reply without one: an older state, --wait cannot tell */
} link_t;

/* The links, one per state shard, and the counts of the run. */
typedef struct {
    link_t *link;
    int nlinks;
    int window;                /* frames in flight per link */
    int64_t timeout_ms;
    int64_t retries;
    int64_t batch;             /* messages per frame */
    int64_t max_frame;         /* bytes per frame, array header included */
    jsonline_t *jl;              /* NULL with --format msgpack */
    const char *unit;            /* what reasons number: "line" or "message" */
    msgpack_sbuffer msg;       /* the message being routed, packed */
    unsigned long long lineno; /* lines (or messages) read, blank ones included: what
                                * reasons name */
    unsigned long long lines, bad_lines, accepted, duplicates, conflicts, rejected, frames,
        resent, misrouted;
    int shown;
} sender_t;

static int s_connect(link_t *l)
{
    zsock_destroy(&l->sock);
    l->sock = zsock_new(ZMQ_DEALER);
    if (!l->sock) {
        fprintf(stderr, "riskctl send: cannot create a socket: %s\n", zmq_strerror(errno));
        return -1;
    }
    zsock_set_linger(l->sock, 0);
    zsock_set_sndhwm(l->sock, 0);
    zsock_set_rcvhwm(l->sock, 0);
    char why[300];
    if (cli_connect(l->sock, l->endpoint, KEYS_STATE, why, sizeof why) < 0) {
        fprintf(stderr, "riskctl send: %s\n", why);
        return -1;
    }
    return 0;
}

/* Whether every link has room for one more frame: the next message may go
 * to any of them. */
static int s_room(const sender_t *s)
{
    for (int i = 0; i < s->nlinks; i++)
        if (s->link[i].nfr >= s->window) return 0;
    return 1;
}

/* Whether anything is still to be answered or sent. */
static int s_busy(const sender_t *s)
{
    for (int i = 0; i < s->nlinks; i++)
        if (s->link[i].nfr || s->link[i].filling) return 1;
    return 0;
}

/* Writes the msgpack array header for n messages into hdr; returns its
 * length. A frame's body is its messages' maps, already packed. */
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

/* Sends frame f as [empty, correlation id, array of messages]. Returns 0 or
 * -1 (f is then due again; the caller decides when). */
static int s_transmit(link_t *l, frame_t *f, int64_t now)
{
    unsigned char hdr[5];
    size_t hn = s_array_header(f->n, hdr);
    zmq_msg_t body;
    if (zmq_msg_init_size(&body, hn + f->body.size)) return -1;
    memcpy(zmq_msg_data(&body), hdr, hn);
    memcpy((char *)zmq_msg_data(&body) + hn, f->body.data, f->body.size);
    void *sock = zsock_resolve(l->sock);
    /* Never block: a DEALER with no peer (the state away, or a CURVE
     * handshake refused) would wait forever. A frame that cannot go now
     * counts as sent and unanswered, so --retries still ends the wait. */
    int ok = zmq_send(sock, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
             zmq_send(sock, &f->id, sizeof f->id, ZMQ_SNDMORE | ZMQ_DONTWAIT) >= 0 &&
             zmq_msg_send(&body, sock, ZMQ_DONTWAIT) >= 0;
    if (!ok) zmq_msg_close(&body);
    f->sent_ms = now;
    f->inflight = 1;
    return ok ? 0 : -1;
}

static void s_complete(link_t *l, int i)
{
    msgpack_sbuffer_destroy(&l->fr[i].body);
    free(l->fr[i].line);
    l->fr[i] = l->fr[--l->nfr];
}

/* Prints one reason while fewer than SEND_SHOW have been printed. */
static void s_show(sender_t *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_show(sender_t *s, const char *fmt, ...)
{
    if (s->shown++ >= SEND_SHOW) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "riskctl send: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Counts the answer to frame f. The reply contract is accepted + duplicates
 * + rejected = messages in the frame; a frame the state refused as a whole
 * (over its --max-batch or --max-frame) is answered with one rejection, so
 * every message of it that was not accepted counts as rejected. */
static void s_count(sender_t *s, link_t *l, const frame_t *f, const reply_view_t *r)
{
    s->accepted += r->accepted;
    s->duplicates += r->duplicates;
    if (r->seq > l->max_seq) l->max_seq = r->seq;
    if (!r->seq) l->seq_missing = 1;
    s->conflicts += r->conflicts;
    uint64_t done = r->accepted + r->duplicates;
    if (done + r->rejected != f->n && done < f->n) {
        s->rejected += f->n - done;
        s_show(s, "the state refused a frame of %u messages (%ss %llu to %llu) whole: %s",
               f->n, s->unit, (unsigned long long)f->line[0],
               (unsigned long long)f->line[f->n - 1],
               r->first_error[0] ? r->first_error : "(no reason given)");
        return;
    }
    s->rejected += r->rejected;
    if (!r->rejected) return;
    if (r->first_shard >= 0) s->misrouted++;
    unsigned long long more = (unsigned long long)r->rejected - 1;
    char tail[64] = "";
    if (more) snprintf(tail, sizeof tail, " (and %llu more in its frame)", more);
    if (r->first_index >= 0 && (uint64_t)r->first_index < f->n)
        s_show(s, "%s %llu rejected by the state: %s%s", s->unit,
               (unsigned long long)f->line[r->first_index], r->first_error, tail);
    else
        s_show(s, "%llu message(s) rejected by the state in one frame: %s",
               (unsigned long long)r->rejected, r->first_reason);
}

/* Handles one reply waiting on link l's socket. */
static void s_on_reply(sender_t *s, link_t *l)
{
    zmsg_t *msg = zmsg_recv(l->sock);
    if (!msg) return;
    zframe_t *empty = zmsg_pop(msg), *idf = zmsg_pop(msg), *body = zmsg_pop(msg);
    if (empty && idf && body && zframe_size(idf) == sizeof(uint64_t)) {
        uint64_t id;
        memcpy(&id, zframe_data(idf), sizeof id);
        for (int i = 0; i < l->nfr; i++) {
            frame_t *f = &l->fr[i];
            if (f->id != id || !f->inflight) continue;
            reply_view_t r;
            l->failures = 0;
            if (reply_decode((char *)zframe_data(body), zframe_size(body), &r)) {
                fprintf(stderr, "riskctl send: undecodable reply; re-sending frame\n");
                f->inflight = 0;
                f->due_ms = clock_mono_ms() + 500;
            } else if (r.retry) {
                fprintf(stderr, "riskctl send: state asks to retry: %s\n", r.error);
                f->inflight = 0;
                f->due_ms = clock_mono_ms() + 500;
            } else {
                s_count(s, l, f, &r);
                s_complete(l, i);
            }
            break;
        }
    }
    zframe_destroy(&empty);
    zframe_destroy(&idf);
    zframe_destroy(&body);
    zmsg_destroy(&msg);
}

/* Sends link l's due frames; on a timed-out frame reconnects and re-sends
 * all its in-flight frames. Returns -1 when retries are exhausted. */
static int s_pump(sender_t *s, link_t *l)
{
    int64_t now = clock_mono_ms();
    for (int i = 0; i < l->nfr; i++)
        if (l->fr[i].inflight && now - l->fr[i].sent_ms > s->timeout_ms) {
            if (++l->failures > s->retries) {
                fprintf(stderr, "riskctl send: no answer from %s after %lld attempts; giving up "
                        "(%d frame(s) unacknowledged)\n", l->endpoint, (long long)s->retries,
                        l->nfr);
                return -1;
            }
            int64_t backoff = 250LL << (l->failures < 5 ? l->failures : 5);
            fprintf(stderr, "riskctl send: no answer from %s in %lld ms; reconnecting, "
                    "re-sending in %lld ms (attempt %lld of %lld)\n", l->endpoint,
                    (long long)s->timeout_ms, (long long)backoff, (long long)l->failures,
                    (long long)s->retries);
            if (s_connect(l)) return -1;
            for (int j = 0; j < l->nfr; j++) {
                if (l->fr[j].inflight) s->resent++;
                l->fr[j].inflight = 0;
                l->fr[j].due_ms = now + backoff;
            }
            break;
        }
    for (int i = 0; i < l->nfr; i++)
        if (!l->fr[i].inflight && l->fr[i].due_ms <= now && s_transmit(l, &l->fr[i], now))
            l->fr[i].due_ms = now + 100; /* socket trouble: try again shortly */
    return 0;
}

/* Reads what the input has, growing the buffer when it is full. Returns 0,
 * or -1 after a message when input would be lost. */
static int s_read(input_t *in)
{
    if (in->len + JSONLINE_PADDING == in->cap) {
        char *nb = realloc(in->buf, in->cap * 2);
        if (!nb) {
            fprintf(stderr, "riskctl send: out of memory for a %zu-byte line\n", in->cap * 2);
            return -1;
        }
        in->buf = nb;
        in->cap *= 2;
    }
    ssize_t got = read(in->fd, in->buf + in->len, in->cap - JSONLINE_PADDING - in->len);
    if (got > 0) in->len += (size_t)got;
    else if (got == 0) in->eof = 1;
    else if (errno != EINTR && errno != EAGAIN) {
        fprintf(stderr, "riskctl send: cannot read the input: %s\n", strerror(errno));
        return -1;
    }
    return 0;
}

/* Whether more input can be read at once (poll without waiting). */
static int s_input_waiting(const input_t *in)
{
    struct pollfd p = {in->fd, POLLIN, 0};
    return poll(&p, 1, 0) > 0;
}

/* Link l's frame being filled joins its window, with the next correlation
 * id. */
static void s_queue(link_t *l)
{
    l->cur.id = ++l->next_id;
    l->fr[l->nfr++] = l->cur;
    l->filling = 0;
}

/* Starts an empty frame to fill on link l. Returns 0, or -1 after a
 * message. */
static int s_start(const sender_t *s, link_t *l)
{
    memset(&l->cur, 0, sizeof l->cur);
    if (!(l->cur.line = malloc((size_t)s->batch * sizeof *l->cur.line))) {
        fprintf(stderr, "riskctl send: out of memory for a frame\n");
        return -1;
    }
    msgpack_sbuffer_init(&l->cur.body);
    l->filling = 1;
    return 0;
}

/* Bytes of a frame of n messages whose maps take body bytes. */
static uint64_t s_frame_bytes(uint32_t n, size_t body)
{
    unsigned char hdr[5];
    return s_array_header(n, hdr) + (uint64_t)body;
}

/* --format msgpack: appends the n bytes of one message, a msgpack map that
 * mp_skip has already delimited, to body as they are (the state validates
 * every field). Returns 0, RP_ENOMEM, or RP_EPROTO with a reason in why. */
static int s_pack_msgpack(const char *msg, size_t n, msgpack_sbuffer *body, char *why,
                          size_t whylen)
{
    unsigned char c = (unsigned char)msg[0];
    if (!((c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf)) {
        snprintf(why, whylen, "not a msgpack map (type byte 0x%02x): a message is one map", c);
        return RP_EPROTO;
    }
    int rc = mp_check(msg, n, MP_MAX_DEPTH, UINT32_MAX, why, whylen);
    if (rc) return rc;
    return msgpack_sbuffer_write(body, msg, n) ? RP_ENOMEM : 0;
}

/* Adds one input line (n bytes, no newline, JSONLINE_PADDING readable bytes
 * after it) to the frame being filled on the link of its TradeID's shard. A
 * message that would take the frame over --max-frame-bytes starts the next
 * frame; a full frame joins the window (at most one does per line, so the
 * caller's room for one frame per link is enough: with --batch 1 no frame is
 * ever left half full to be split). Blank lines are not counted. Returns 0,
 * or -1 when the send must stop. */
static int s_add_line(sender_t *s, const char *line, size_t n)
{
    s->lineno++;
    if (n == 0) return 0;
    s->lines++;
    char why[RISK_WHY_MAX];
    msgpack_sbuffer_clear(&s->msg);
    int rc = s->jl ? jsonline_pack(s->jl, line, n, &s->msg, why, sizeof why)
                   : s_pack_msgpack(line, n, &s->msg, why, sizeof why);
    if (rc == RP_ENOMEM) {
        fprintf(stderr, "riskctl send: out of memory at %s %llu\n", s->unit, s->lineno);
        return -1;
    }
    if (rc) {
        s->bad_lines++;
        s_show(s, "%s %llu refused: %s", s->unit, s->lineno, why);
        return 0;
    }
    size_t size = s->msg.size;
    if (s_frame_bytes(1, size) > (uint64_t)s->max_frame) {
        s->bad_lines++;
        s_show(s, "%s %llu refused: its message takes %zu bytes, more than a frame of "
               "--max-frame-bytes %lld holds", s->unit, s->lineno, size,
               (long long)s->max_frame);
        return 0;
    }
    /* A message without a string TradeID goes to shard 0, which rejects it
     * with the reason. */
    const char *id;
    size_t idlen;
    uint32_t shard = 0;
    if (s->nlinks > 1 && shard_trade_id(s->msg.data, size, &id, &idlen) == 0)
        shard = shard_of(id, idlen, (uint32_t)s->nlinks);
    link_t *l = &s->link[shard];
    if (l->filling && s_frame_bytes(l->cur.n + 1, l->cur.body.size + size) > (uint64_t)s->max_frame)
        s_queue(l); /* the frame so far leaves without this message, which starts the next */
    if (!l->filling && s_start(s, l)) return -1;
    if (msgpack_sbuffer_write(&l->cur.body, s->msg.data, size)) {
        fprintf(stderr, "riskctl send: out of memory at %s %llu\n", s->unit, s->lineno);
        return -1;
    }
    l->cur.line[l->cur.n++] = s->lineno;
    if (l->cur.n >= (uint32_t)s->batch) s_queue(l);
    return 0;
}

/* Takes the complete lines of the input (and, at its end, a last line
 * without a newline) while the window has room. Returns 0 or -1. */
static int s_take_lines(sender_t *s, input_t *in)
{
    size_t start = 0;
    int rc = 0;
    /* simdjson may look at the padding: never let it see uninitialised bytes */
    memset(in->buf + in->len, ' ', JSONLINE_PADDING);
    while (rc == 0 && s_room(s)) {
        char *nl = memchr(in->buf + start, '\n', in->len - start);
        if (!nl && !(in->eof && start < in->len)) break;
        size_t end = nl ? (size_t)(nl - in->buf) : in->len;
        rc = s_add_line(s, in->buf + start, end - start);
        start = nl ? end + 1 : in->len;
    }
    memmove(in->buf, in->buf + start, in->len - start);
    in->len -= start;
    in->taken += start;
    return rc;
}

/* --format msgpack: takes the complete messages of the input while the
 * window has room. A message is one msgpack object; an incomplete one waits
 * for more input, unless the input has ended or more than a frame's bytes
 * are already waiting for it. Then nothing after it can be told apart: it is
 * refused, the rest of the input is not read, and the send exits 1. Returns
 * 0 or -1. */
static int s_take_messages(sender_t *s, input_t *in)
{
    size_t start = 0;
    int rc = 0;
    while (rc == 0 && s_room(s) && start < in->len) {
        size_t end = start;
        char why[RISK_WHY_MAX];
        if (mp_skip(in->buf, in->len, &end, why, sizeof why)) {
            if (!in->eof && in->len - start <= (size_t)s->max_frame) break;
            s->lineno++;
            s->lines++;
            s->bad_lines++;
            s_show(s, "message %llu (at byte %llu of the input) refused: %s; the input after "
                   "it cannot be split into messages and is not sent", s->lineno,
                   in->taken + start, why);
            start = in->len;
            in->eof = 1; /* read no further */
            break;
        }
        rc = s_add_line(s, in->buf + start, end - start);
        start = end;
    }
    memmove(in->buf, in->buf + start, in->len - start);
    in->len -= start;
    in->taken += start;
    return rc;
}

/* One turn of the loop: one poll over the links' sockets and the input
 * (read while every link has room, take replies as they come, never spin),
 * then frames out. Returns 0, or -1 when the send must stop. */
static int s_step(sender_t *s, input_t *in)
{
    int want_input = !in->eof && s_room(s);
    zmq_pollitem_t items[1 + SHARD_MAX];
    int filling = 0;
    for (int i = 0; i < s->nlinks; i++) {
        items[i] = (zmq_pollitem_t){zsock_resolve(s->link[i].sock), 0, ZMQ_POLLIN, 0};
        filling |= s->link[i].filling;
    }
    items[s->nlinks] = (zmq_pollitem_t){NULL, in->fd, ZMQ_POLLIN, 0};
    long wait_ms = filling ? 20 : 100;
    if (want_input && in->len > 0 && memchr(in->buf, '\n', in->len)) wait_ms = 0;
    int ready = zmq_poll(items, s->nlinks + (want_input ? 1 : 0), wait_ms);
    for (int i = 0; ready > 0 && i < s->nlinks; i++)
        if (items[i].revents & ZMQ_POLLIN)
            while (zsock_events(s->link[i].sock) & ZMQ_POLLIN) s_on_reply(s, &s->link[i]);
    /* A pipe at end of input reports POLLHUP, which zmq_poll maps to POLLERR. */
    int input_ready =
        want_input && ready > 0 && (items[s->nlinks].revents & (ZMQ_POLLIN | ZMQ_POLLERR));
    if (input_ready && s_read(in)) return -1;
    if (s->jl ? s_take_lines(s, in) : s_take_messages(s, in)) return -1;
    /* A partial frame goes out when the input pauses (nothing more to read
     * right now: a paced producer's messages are not held back waiting for
     * a full frame) or ends. A file never pauses, so its frames are full. */
    int pause = (in->eof && in->len == 0) || (want_input && !s_input_waiting(in));
    for (int i = 0; i < s->nlinks; i++) {
        link_t *l = &s->link[i];
        if (pause && l->filling && l->nfr < s->window) s_queue(l);
        if (s_pump(s, l)) return -1;
    }
    return 0;
}

/* The summary on stderr (unless --quiet and all went in) and the counts on
 * stdout. */
static void s_report(const sender_t *s, int64_t t0, int quiet, int failed)
{
    double secs = (double)(clock_mono_ms() - t0) / 1000.0;
    int lost = s->bad_lines || s->rejected;
    if (!quiet || failed || lost)
        fprintf(stderr,
                "riskctl send: %llu %ss in %llu frames, %.2f s (%.0f msg/s): accepted %llu, "
                "duplicates %llu (conflicts %llu), rejected %llu, %ss refused %llu, "
                "frames re-sent %llu%s\n",
                s->lines, s->unit, s->frames, secs, secs > 0 ? (double)s->lines / secs : 0.0, s->accepted,
                s->duplicates, s->conflicts, s->rejected, s->unit, s->bad_lines, s->resent,
                failed ? " -- INCOMPLETE" : "");
    char first[32] = "";
    if (s->shown > SEND_SHOW) snprintf(first, sizeof first, " first %d", SEND_SHOW);
    if (lost)
        fprintf(stderr,
                "riskctl send: %llu %s(s) refused here and %llu message(s) rejected by the "
                "state (the%s reasons above): exit status 1\n",
                s->bad_lines, s->unit, s->rejected, first);
    if (s->misrouted)
        fprintf(stderr, "riskctl send: a state shard rejected messages as another shard's in %llu "
                "frame(s): list every shard's ingest endpoint in --ingest, in shard order (0 "
                "first), as many as the pipeline's --shards\n", s->misrouted);
    printf("accepted=%llu duplicates=%llu conflicts=%llu rejected=%llu bad_lines=%llu\n",
           s->accepted, s->duplicates, s->conflicts, s->rejected, s->bad_lines);
}

/* --wait: polls each state shard (eps, in shard order) until the reducer
 * has acknowledged (so committed) every change up to the highest sequence
 * that shard's answers carried. Returns 0, or -1 after saying why. */
static int s_wait(const sender_t *s, char **eps, int64_t timeout_s, const char *quiet)
{
    int64_t t0 = clock_mono_ms();
    long long applied = 0;
    for (int i = 0; i < s->nlinks; i++) {
        const link_t *l = &s->link[i];
        if (l->seq_missing) {
            fprintf(stderr, "riskctl send: --wait: the state's answers carry no change sequence "
                    "(a state older than this riskctl): cannot tell when the messages are "
                    "visible\n");
            return -1;
        }
        if (!l->next_id) continue; /* nothing went to this shard */
        if (ctl_wait_applied("send", eps[i], (long long)l->max_seq, t0 + timeout_s * 1000,
                             &applied))
            return -1;
    }
    if (!quiet)
        fprintf(stderr, "riskctl send: visible in the aggregates %lld ms after the last answer "
                "(applied through change %lld%s)\n", (long long)(clock_mono_ms() - t0), applied,
                s->nlinks > 1 ? " of the last shard" : "");
    return 0;
}

/* Frees the window, the frame being filled, the socket and the input. */
static void s_free(sender_t *s, input_t *in)
{
    for (int k = 0; s->link && k < s->nlinks; k++) {
        link_t *l = &s->link[k];
        for (int i = 0; i < l->nfr; i++) {
            msgpack_sbuffer_destroy(&l->fr[i].body);
            free(l->fr[i].line);
        }
        if (l->filling) {
            msgpack_sbuffer_destroy(&l->cur.body);
            free(l->cur.line);
        }
        free(l->fr);
        zsock_destroy(&l->sock);
    }
    free(s->link);
    msgpack_sbuffer_destroy(&s->msg);
    jsonline_destroy(&s->jl);
    free(in->buf);
    if (in->fd > 0) close(in->fd);
}

int cmd_send(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"ingest", "tcp://localhost:5555", "state process acknowledged ingest endpoint; with K "
         "state shards, the K shards' endpoints, comma-separated, in shard order: each "
         "message goes to the shard of its TradeID", NULL},
        {"format", "json", "input: json (one message per line) or msgpack (concatenated "
         "msgpack maps, the wire form of a message, sent as they are)", NULL},
        {"batch", "1000", "messages per frame, at most 10000 (the state's default --max-batch)",
         NULL},
        {"max-frame-bytes", "16777216", "largest frame in bytes (at most the state's --max-frame)",
         NULL},
        {"window", "262144", "messages in flight before waiting for answers (whole frames: "
         "--window/--batch of them, at least one, at most 16384)", NULL},
        {"timeout-ms", "5000", "re-send a frame not answered within this time", NULL},
        {"retries", "30", "consecutive unanswered attempts before giving up", NULL},
        {"quiet", NULL, "print nothing but errors", NULL},
        {"wait", NULL, "after the last answer, wait until every message sent is visible in the "
         "aggregates (the state's applied sequence reaches the highest one its answers "
         "carried) and say how long that took", NULL},
        {"state-control", "tcp://localhost:5560", "state process control endpoint (for --wait); "
         "with shards, each shard's, comma-separated, in shard order", NULL},
        {"wait-timeout", "60", "seconds --wait waits at most", NULL},
        CLI_SECURITY_OPTS,
        {NULL, NULL, NULL, NULL}};
    int npos, code;
    if (!cli_parse(opts, argc, argv,
                   "usage: riskctl send [FILE|-] [options]\n\nSends JSON lines (one risk "
                   "message each, the seed's format) and waits until\nevery frame is "
                   "acknowledged (durable). Reads stdin when FILE is absent or -.\nValue "
                   "goes as its exact decimal text. A line that is not one JSON object\n"
                   "of valid UTF-8 with unique keys, an integer Version and numbers that fit\n"
                   "is refused here and not sent; the first reasons name their line numbers.\n"
                   "With --format msgpack the input is a stream of msgpack maps, each sent\n"
                   "as it is; reasons name the message's number and byte offset.\n"
                   "\nExit status: 0 when every message was accepted or a duplicate; 1 when "
                   "a line\nwas refused, the state rejected a message or a whole frame, or "
                   "the state\nstopped answering (--retries), or --wait timed out; 2 on a "
                   "usage error.",
                   &npos, &code))
        return code;
    sender_t s = {.unit = "line"};
    char ingest[4096], control[4096], *eps[SHARD_MAX], *ctl_eps[SHARD_MAX];
    snprintf(ingest, sizeof ingest, "%s", config_get(opts, "ingest"));
    snprintf(control, sizeof control, "%s", config_get(opts, "state-control"));
    s.nlinks = shard_split(ingest, eps, SHARD_MAX);
    if (s.nlinks < 1) {
        fprintf(stderr, "riskctl send: --ingest: expected an endpoint, or one per state shard "
                "(at most %d) comma-separated\n", SHARD_MAX);
        return CLI_USAGE;
    }
    if (config_get(opts, "wait") && shard_split(control, ctl_eps, SHARD_MAX) != s.nlinks) {
        fprintf(stderr, "riskctl send: --wait: --state-control must name as many endpoints as "
                "--ingest (%d), in the same shard order\n", s.nlinks);
        return CLI_USAGE;
    }
    const char *format = config_get(opts, "format");
    int json = strcmp(format, "json") == 0;
    if (!json && strcmp(format, "msgpack") != 0) {
        fprintf(stderr, "riskctl send: --format %s: expected json or msgpack\n", format);
        return CLI_USAGE;
    }
    if (!json) s.unit = "message";
    int64_t window, wait_timeout;
    if (config_int(opts, "batch", 1, SEND_BATCH_MAX, &s.batch) ||
        config_int(opts, "max-frame-bytes", 1024, 1 << 30, &s.max_frame) ||
        config_int(opts, "window", 1, 10000000, &window) ||
        config_int(opts, "timeout-ms", 10, 3600000, &s.timeout_ms) ||
        config_int(opts, "retries", 0, 1000000, &s.retries) ||
        config_int(opts, "wait-timeout", 0, 86400 * 365, &wait_timeout))
        return CLI_USAGE;
    /* Counted in messages, so that --batch does not change how much the
     * state can commit at once (its group commit is what makes it fast). */
    s.window = (int)((window + s.batch - 1) / s.batch);
    /* and never more frames than the state queues answers for */
    if (s.window > REPLY_QUEUE_MAX) s.window = REPLY_QUEUE_MAX;
    const char *path = npos ? argv[1] : "-";
    input_t in = {.fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY),
                  .cap = (1 << 20) + JSONLINE_PADDING};
    if (in.fd < 0) {
        fprintf(stderr, "riskctl send: cannot open %s: %s\n", path, strerror(errno));
        return CLI_FAIL;
    }
    zsys_handler_set(NULL); /* riskctl handles no signals; Ctrl-C must stop it */
    msgpack_sbuffer_init(&s.msg);
    int ok = (in.buf = malloc(in.cap)) && (s.link = calloc((size_t)s.nlinks, sizeof *s.link));
    for (int i = 0; ok && i < s.nlinks; i++) {
        s.link[i].endpoint = eps[i];
        ok = (s.link[i].fr = calloc((size_t)s.window, sizeof *s.link[i].fr)) != NULL;
    }
    if (ok && json) ok = (s.jl = jsonline_new()) != NULL;
    if (!ok) fprintf(stderr, "riskctl send: out of memory\n");
    for (int i = 0; ok && i < s.nlinks; i++) ok = s_connect(&s.link[i]) == 0;
    if (!ok) {
        s_free(&s, &in);
        return CLI_FAIL;
    }
    int64_t t0 = clock_mono_ms();
    int failed = 0;
    while (!failed && (!in.eof || in.len > 0 || s_busy(&s)))
        failed = s_step(&s, &in) != 0;
    for (int i = 0; i < s.nlinks; i++) s.frames += s.link[i].next_id;
    s_report(&s, t0, config_get(opts, "quiet") != NULL, failed);
    int lost = s.bad_lines || s.rejected;
    if (!failed && config_get(opts, "wait") &&
        s_wait(&s, ctl_eps, wait_timeout, config_get(opts, "quiet")))
        failed = 1;
    s_free(&s, &in);
    return failed || lost ? CLI_FAIL : CLI_OK;
}
