/* riskctl send: JSON lines -> msgpack batches -> acknowledged ingest. A
 * window of frames is kept in flight on a DEALER socket; each frame carries
 * a correlation id, and frames without an answer are re-sent on a fresh
 * socket (Lazy Pirate) with backoff, so a restart of the state process loses
 * nothing. Re-sending is safe: stored versions make re-sent messages
 * duplicates. */
#include "riskctl.h"
#include "../common/clock.h"
#include "../common/config.h"
#include "../proto/mp.h"
#include "../proto/reply.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    uint64_t id;
    uint32_t n;            /* messages */
    msgpack_sbuffer body;  /* concatenated message maps */
    int64_t sent_ms, due_ms;
    int inflight;
} frame_t;

typedef struct {
    const char *endpoint;
    zsock_t *sock;
    frame_t *fr;
    int window, nfr;
    int64_t timeout_ms;
    int64_t retries, failures; /* consecutive timeouts without any answer */
    uint64_t next_id;
    unsigned long long lines, bad_lines, accepted, duplicates, conflicts, rejected, frames,
        resent;
    int shown;
} sender_t;

/* JSON value -> msgpack, recursively (depth bounded by jansson's parser). */
static void s_pack_json(msgpack_packer *pk, json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        msgpack_pack_map(pk, json_object_size(j));
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            mp_pack_cstr(pk, k);
            s_pack_json(pk, v);
        }
        break;
    }
    case JSON_ARRAY: {
        msgpack_pack_array(pk, json_array_size(j));
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) s_pack_json(pk, v);
        break;
    }
    case JSON_STRING: mp_pack_str(pk, json_string_value(j), json_string_length(j)); break;
    case JSON_INTEGER: msgpack_pack_int64(pk, json_integer_value(j)); break;
    case JSON_REAL: msgpack_pack_double(pk, json_real_value(j)); break;
    case JSON_TRUE: msgpack_pack_true(pk); break;
    case JSON_FALSE: msgpack_pack_false(pk); break;
    default: msgpack_pack_nil(pk); break;
    }
}

static int s_connect(sender_t *s)
{
    zsock_destroy(&s->sock);
    s->sock = zsock_new(ZMQ_DEALER);
    if (!s->sock) return -1;
    zsock_set_linger(s->sock, 0);
    zsock_set_sndhwm(s->sock, 0);
    zsock_set_rcvhwm(s->sock, 0);
    if (zsock_connect(s->sock, "%s", s->endpoint) < 0) {
        fprintf(stderr, "riskctl send: cannot connect to %s: %s\n", s->endpoint,
                zmq_strerror(errno));
        return -1;
    }
    return 0;
}

static int s_transmit(sender_t *s, frame_t *f, int64_t now)
{
    unsigned char hdr[5];
    size_t hn;
    /* msgpack array header for n messages */
    if (f->n < 16) hdr[0] = (unsigned char)(0x90 | f->n), hn = 1;
    else if (f->n < 65536) hdr[0] = 0xdc, hdr[1] = (unsigned char)(f->n >> 8),
                          hdr[2] = (unsigned char)f->n, hn = 3;
    else hdr[0] = 0xdd, hdr[1] = (unsigned char)(f->n >> 24), hdr[2] = (unsigned char)(f->n >> 16),
         hdr[3] = (unsigned char)(f->n >> 8), hdr[4] = (unsigned char)f->n, hn = 5;
    zmq_msg_t body;
    if (zmq_msg_init_size(&body, hn + f->body.size)) return -1;
    memcpy(zmq_msg_data(&body), hdr, hn);
    memcpy((char *)zmq_msg_data(&body) + hn, f->body.data, f->body.size);
    void *sock = zsock_resolve(s->sock);
    int ok = zmq_send(sock, "", 0, ZMQ_SNDMORE) >= 0 &&
             zmq_send(sock, &f->id, sizeof f->id, ZMQ_SNDMORE) >= 0 &&
             zmq_msg_send(&body, sock, 0) >= 0;
    if (!ok) zmq_msg_close(&body);
    f->sent_ms = now;
    f->inflight = 1;
    return ok ? 0 : -1;
}

static void s_complete(sender_t *s, int i)
{
    msgpack_sbuffer_destroy(&s->fr[i].body);
    s->fr[i] = s->fr[--s->nfr];
}

/* Handles one reply waiting on the socket. */
static void s_on_reply(sender_t *s)
{
    zmsg_t *msg = zmsg_recv(s->sock);
    if (!msg) return;
    zframe_t *empty = zmsg_pop(msg), *idf = zmsg_pop(msg), *body = zmsg_pop(msg);
    if (empty && idf && body && zframe_size(idf) == sizeof(uint64_t)) {
        uint64_t id;
        memcpy(&id, zframe_data(idf), sizeof id);
        for (int i = 0; i < s->nfr; i++) {
            frame_t *f = &s->fr[i];
            if (f->id != id || !f->inflight) continue;
            reply_view_t r;
            s->failures = 0;
            if (reply_decode((char *)zframe_data(body), zframe_size(body), &r)) {
                fprintf(stderr, "riskctl send: undecodable reply; re-sending frame\n");
                f->inflight = 0;
                f->due_ms = clock_mono_ms() + 500;
            } else if (r.retry) {
                fprintf(stderr, "riskctl send: state asks to retry: %s\n", r.error);
                f->inflight = 0;
                f->due_ms = clock_mono_ms() + 500;
            } else {
                s->accepted += r.accepted;
                s->duplicates += r.duplicates;
                s->conflicts += r.conflicts;
                s->rejected += r.rejected;
                if (r.rejected && s->shown++ < 10)
                    fprintf(stderr, "riskctl send: %llu rejected in a frame, first: %s\n",
                            (unsigned long long)r.rejected, r.first_reason);
                s_complete(s, i);
            }
            break;
        }
    }
    zframe_destroy(&empty);
    zframe_destroy(&idf);
    zframe_destroy(&body);
    zmsg_destroy(&msg);
}

/* Sends due frames; on a timed-out frame reconnects and re-sends all
 * in-flight frames. Returns -1 when retries are exhausted. */
static int s_pump(sender_t *s)
{
    int64_t now = clock_mono_ms();
    for (int i = 0; i < s->nfr; i++)
        if (s->fr[i].inflight && now - s->fr[i].sent_ms > s->timeout_ms) {
            if (++s->failures > s->retries) {
                fprintf(stderr, "riskctl send: no answer from %s after %lld attempts; giving up "
                        "(%d frame(s) unacknowledged)\n", s->endpoint, (long long)s->retries,
                        s->nfr);
                return -1;
            }
            int64_t backoff = 250LL << (s->failures < 5 ? s->failures : 5);
            fprintf(stderr, "riskctl send: no answer in %lld ms; reconnecting, re-sending in "
                    "%lld ms (attempt %lld of %lld)\n", (long long)s->timeout_ms,
                    (long long)backoff, (long long)s->failures, (long long)s->retries);
            if (s_connect(s)) return -1;
            for (int j = 0; j < s->nfr; j++) {
                if (s->fr[j].inflight) s->resent++;
                s->fr[j].inflight = 0;
                s->fr[j].due_ms = now + backoff;
            }
            break;
        }
    for (int i = 0; i < s->nfr; i++)
        if (!s->fr[i].inflight && s->fr[i].due_ms <= now && s_transmit(s, &s->fr[i], now))
            s->fr[i].due_ms = now + 100; /* socket trouble: try again shortly */
    return 0;
}

int cmd_send(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"ingest", "tcp://localhost:5555", "state process acknowledged ingest endpoint", NULL},
        {"batch", "1000", "messages per frame", NULL},
        {"window", "32", "frames in flight before waiting for answers", NULL},
        {"timeout-ms", "5000", "re-send a frame not answered within this time", NULL},
        {"retries", "30", "consecutive unanswered attempts before giving up", NULL},
        {"quiet", NULL, "print nothing but errors", NULL},
        {NULL, NULL, NULL, NULL}};
    int npos;
    int rc = config_parse(opts, argc, argv, 1, &npos,
                          "usage: riskctl send [FILE|-] [options]\n\nSends JSON lines (one risk "
                          "message each, the seed's format) and waits until\nevery frame is "
                          "acknowledged (durable). Reads stdin when FILE is absent or -.");
    if (rc) return rc > 0 ? 0 : 2;
    int64_t batch, window;
    sender_t s;
    memset(&s, 0, sizeof s);
    if (config_int(opts, "batch", 1, 100000, &batch) ||
        config_int(opts, "window", 1, 1024, &window) ||
        config_int(opts, "timeout-ms", 10, 3600000, &s.timeout_ms) ||
        config_int(opts, "retries", 0, 1000000, &s.retries))
        return 2;
    const char *path = npos ? argv[1] : "-";
    int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY);
    if (fd < 0) {
        fprintf(stderr, "riskctl send: cannot open %s: %s\n", path, strerror(errno));
        return 1;
    }
    zsys_handler_set(NULL);
    s.endpoint = config_get(opts, "ingest");
    s.window = (int)window;
    s.fr = calloc((size_t)window, sizeof *s.fr);
    if (!s.fr || s_connect(&s)) return 1;

    int64_t t0 = clock_mono_ms();
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    frame_t cur; /* the frame being filled; joins s.fr when complete */
    int filling = 0, eof = 0, failed = 0;
    while (buf && !failed && (!eof || len > 0 || s.nfr > 0 || filling)) {
        /* One poll over the input and the socket: read while the window has
         * room, take replies as they come, never spin. */
        int want_input = !eof && s.nfr < s.window;
        zmq_pollitem_t items[] = {{zsock_resolve(s.sock), 0, ZMQ_POLLIN, 0},
                                  {NULL, fd, ZMQ_POLLIN, 0}};
        long wait_ms = filling ? 20 : 100;
        if (want_input && len > 0 && memchr(buf, '\n', len)) wait_ms = 0;
        int ready = zmq_poll(items, want_input ? 2 : 1, wait_ms);
        if (ready > 0 && (items[0].revents & ZMQ_POLLIN))
            while (zsock_events(s.sock) & ZMQ_POLLIN) s_on_reply(&s);
        /* A pipe at end of input reports POLLHUP, which zmq_poll maps to POLLERR. */
        int input_ready =
            want_input && ready > 0 && (items[1].revents & (ZMQ_POLLIN | ZMQ_POLLERR));
        if (input_ready) {
            if (len == cap) {
                char *nb = realloc(buf, cap *= 2);
                if (!nb) break;
                buf = nb;
            }
            ssize_t got = read(fd, buf + len, cap - len);
            if (got <= 0) eof = 1;
            else len += (size_t)got;
        }
        size_t start = 0;
        while (s.nfr < s.window) {
            char *nl = memchr(buf + start, '\n', len - start);
            if (!nl && !(eof && start < len)) break;
            size_t end = nl ? (size_t)(nl - buf) : len;
            s.lines++;
            json_error_t err;
            json_t *j = end > start ? json_loadb(buf + start, end - start, 0, &err) : NULL;
            if (end > start && !j) {
                s.bad_lines++;
                if (s.shown++ < 10)
                    fprintf(stderr, "riskctl send: line %llu is not JSON: %s\n", s.lines,
                            err.text);
            } else if (j) {
                if (!filling) {
                    memset(&cur, 0, sizeof cur);
                    msgpack_sbuffer_init(&cur.body);
                    cur.id = ++s.next_id;
                    filling = 1;
                }
                msgpack_packer pk;
                msgpack_packer_init(&pk, &cur.body, msgpack_sbuffer_write);
                s_pack_json(&pk, j);
                cur.n++;
                json_decref(j);
            } else {
                s.lines--; /* blank line */
            }
            start = nl ? end + 1 : len;
            if (filling && cur.n >= (uint32_t)batch) {
                s.fr[s.nfr++] = cur;
                filling = 0;
            }
        }
        memmove(buf, buf + start, len - start);
        len -= start;
        /* A partial frame goes out when the input pauses or ends. */
        if (filling && s.nfr < s.window && ((eof && len == 0) || (want_input && !input_ready))) {
            s.fr[s.nfr++] = cur;
            filling = 0;
        }
        if (s_pump(&s)) failed = 1;
    }
    s.frames = s.next_id;
    free(buf);
    if (fd > 0) close(fd);
    for (int i = 0; i < s.nfr; i++) msgpack_sbuffer_destroy(&s.fr[i].body);
    if (filling) msgpack_sbuffer_destroy(&cur.body);
    free(s.fr);
    zsock_destroy(&s.sock);
    double secs = (double)(clock_mono_ms() - t0) / 1000.0;
    if (!config_get(opts, "quiet") || failed)
        fprintf(stderr,
                "riskctl send: %llu lines in %llu frames, %.2f s (%.0f msg/s): accepted %llu, "
                "duplicates %llu (conflicts %llu), rejected %llu, unparseable lines %llu, "
                "frames re-sent %llu%s\n",
                s.lines, s.frames, secs, secs > 0 ? (double)s.lines / secs : 0.0, s.accepted,
                s.duplicates, s.conflicts, s.rejected, s.bad_lines, s.resent,
                failed ? " -- INCOMPLETE" : "");
    printf("accepted=%llu duplicates=%llu conflicts=%llu rejected=%llu bad_lines=%llu\n",
           s.accepted, s.duplicates, s.conflicts, s.rejected, s.bad_lines);
    return failed ? 1 : 0;
}
