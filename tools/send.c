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
#include "../client/rp_client.h"
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

/* The input: JSON lines read into buf, of which len bytes are not yet
 * taken; JSONLINE_PADDING bytes after them always stay allocated. */
typedef struct {
    int fd; /* 0: stdin */
    char *buf;
    size_t cap, len;
    int eof;
    unsigned long long taken; /* bytes of the input before buf[0] */
} input_t;

/* The run: the client (one link per state shard), the message being
 * routed, and what was read and refused here. */
typedef struct {
    rp_client_t *cl;
    int64_t max_frame;         /* bytes per frame, array header included */
    jsonline_t *jl;            /* NULL with --format msgpack */
    const char *unit;          /* what reasons number: "line" or "message" */
    msgpack_sbuffer msg;       /* the message being routed, packed */
    unsigned long long lineno; /* lines (or messages) read, blank ones included: what
                                * reasons name */
    unsigned long long lines, bad_lines;
    int shown;
} sender_t;

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

/* rp_client's report of an answer with rejections: the first reasons are
 * printed, named by their line numbers. */
static void s_on_reject(void *arg, const rp_client_rejection_t *r)
{
    sender_t *s = arg;
    if (r->whole) {
        s_show(s, "the state refused a frame of %u messages (%ss %llu to %llu) whole: %s",
               r->n, s->unit, (unsigned long long)r->tags[0],
               (unsigned long long)r->tags[r->n - 1],
               r->first_error[0] ? r->first_error : "(no reason given)");
        return;
    }
    unsigned long long more = (unsigned long long)r->rejected - 1;
    char tail[64] = "";
    if (more) snprintf(tail, sizeof tail, " (and %llu more in its frame)", more);
    if (r->first_index >= 0 && (uint64_t)r->first_index < r->n)
        s_show(s, "%s %llu rejected by the state: %s%s", s->unit,
               (unsigned long long)r->tags[r->first_index], r->first_error, tail);
    else
        s_show(s, "%llu message(s) rejected by the state in one frame: %s",
               (unsigned long long)r->rejected, r->first_error);
}

/* rp_client's retries and reconnects, as they happen. */
static void s_on_note(void *arg, const char *text)
{
    (void)arg;
    fprintf(stderr, "riskctl send: %s\n", text);
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

/* Bytes of a frame of one message of n bytes (its array header included). */
static uint64_t s_one_frame_bytes(size_t n)
{
    return (n < 16 ? 1 : 3) + (uint64_t)n;
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
 * after it) to the client, which sends it to its TradeID's shard in frames
 * (at most one frame leaves per line, so the caller's room for one frame per
 * shard is enough). Blank lines are not counted. Returns 0, or -1 when the
 * send must stop. */
static int s_add_line(sender_t *s, const char *line, size_t n)
{
    s->lineno++;
    if (n == 0) return 0;
    s->lines++;
    char why[RISK_WHY_MAX];
    msgpack_sbuffer_clear(&s->msg);
    int rc = s->jl ? jsonline_pack(s->jl, line, n, &s->msg, why, sizeof why)
                   : s_pack_msgpack(line, n, &s->msg, why, sizeof why);
    if (rc == 0 && s_one_frame_bytes(s->msg.size) > (uint64_t)s->max_frame) {
        s->bad_lines++;
        s_show(s, "%s %llu refused: its message takes %zu bytes, more than a frame of "
               "--max-frame-bytes %lld holds", s->unit, s->lineno, s->msg.size,
               (long long)s->max_frame);
        return 0;
    }
    if (rc == 0) rc = rp_client_add(s->cl, s->msg.data, s->msg.size, s->lineno);
    if (rc == RP_ENOMEM) {
        fprintf(stderr, "riskctl send: out of memory at %s %llu\n", s->unit, s->lineno);
        return -1;
    }
    if (rc == RP_ETIMEDOUT) return -1; /* said by s_on_note */
    if (rc) {
        s->bad_lines++;
        s_show(s, "%s %llu refused: %s", s->unit, s->lineno, why);
    }
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
    while (rc == 0 && rp_client_room(s->cl)) {
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
    while (rc == 0 && rp_client_room(s->cl) && start < in->len) {
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

/* One turn of the loop: one poll over the client's sockets and the input
 * (read while every shard has room, take replies as they come, never spin),
 * then frames out. Returns 0, or -1 when the send must stop. */
static int s_step(sender_t *s, input_t *in)
{
    int want_input = !in->eof && rp_client_room(s->cl);
    zmq_pollitem_t items[1 + RP_CLIENT_SHARDS_MAX];
    int k = rp_client_pollitems(s->cl, items);
    items[k] = (zmq_pollitem_t){NULL, in->fd, ZMQ_POLLIN, 0};
    long wait_ms = rp_client_busy(s->cl) ? 20 : 100;
    if (want_input && in->len > 0 && memchr(in->buf, '\n', in->len)) wait_ms = 0;
    int ready = zmq_poll(items, k + (want_input ? 1 : 0), wait_ms);
    if (ready < 0) for (int i = 0; i <= k; i++) items[i].revents = 0;
    /* A pipe at end of input reports POLLHUP, which zmq_poll maps to POLLERR. */
    int input_ready = want_input && ready > 0 && (items[k].revents & (ZMQ_POLLIN | ZMQ_POLLERR));
    if (rp_client_service(s->cl, items)) return -1;
    if (input_ready && s_read(in)) return -1;
    if (s->jl ? s_take_lines(s, in) : s_take_messages(s, in)) return -1;
    /* A partial frame goes out when the input pauses (nothing more to read
     * right now: a paced producer's messages are not held back waiting for
     * a full frame) or ends. A file never pauses, so its frames are full. */
    if ((in->eof && in->len == 0) || (want_input && !s_input_waiting(in)))
        rp_client_push(s->cl);
    return rp_client_service(s->cl, NULL) ? -1 : 0;
}

/* The summary on stderr (unless --quiet and all went in) and the counts on
 * stdout. */
static void s_report(const sender_t *s, int64_t t0, int quiet, int failed)
{
    const rp_client_counts_t *c = rp_client_counts(s->cl);
    double secs = (double)(clock_mono_ms() - t0) / 1000.0;
    int lost = s->bad_lines || c->rejected;
    if (!quiet || failed || lost)
        fprintf(stderr,
                "riskctl send: %llu %ss in %llu frames, %.2f s (%.0f msg/s): accepted %llu, "
                "duplicates %llu (conflicts %llu), rejected %llu, %ss refused %llu, "
                "frames re-sent %llu%s\n",
                s->lines, s->unit, (unsigned long long)c->frames, secs,
                secs > 0 ? (double)s->lines / secs : 0.0, (unsigned long long)c->accepted,
                (unsigned long long)c->duplicates, (unsigned long long)c->conflicts,
                (unsigned long long)c->rejected, s->unit, s->bad_lines,
                (unsigned long long)c->resent, failed ? " -- INCOMPLETE" : "");
    char first[32] = "";
    if (s->shown > SEND_SHOW) snprintf(first, sizeof first, " first %d", SEND_SHOW);
    if (lost)
        fprintf(stderr,
                "riskctl send: %llu %s(s) refused here and %llu message(s) rejected by the "
                "state (the%s reasons above): exit status 1\n",
                s->bad_lines, s->unit, (unsigned long long)c->rejected, first);
    if (c->misrouted)
        fprintf(stderr, "riskctl send: a state shard rejected messages as another shard's in %llu "
                "frame(s): list every shard's ingest endpoint in --ingest, in shard order (0 "
                "first), as many as the pipeline's --shards\n",
                (unsigned long long)c->misrouted);
    printf("accepted=%llu duplicates=%llu conflicts=%llu rejected=%llu bad_lines=%llu\n",
           (unsigned long long)c->accepted, (unsigned long long)c->duplicates,
           (unsigned long long)c->conflicts, (unsigned long long)c->rejected, s->bad_lines);
}

/* --wait: polls each state shard (eps[0..k), in shard order) until the
 * reducer has acknowledged (so committed) every change up to the highest
 * sequence that shard's answers carried. Returns 0, or -1 after saying why. */
static int s_wait(const sender_t *s, char **eps, int k, int64_t timeout_s, const char *quiet)
{
    int64_t t0 = clock_mono_ms();
    long long applied = 0;
    for (int i = 0; i < k; i++) {
        int sent, old;
        uint64_t seq = rp_client_seq(s->cl, (uint32_t)i, &sent, &old);
        if (old) {
            fprintf(stderr, "riskctl send: --wait: the state's answers carry no change sequence "
                    "(a state older than this riskctl): cannot tell when the messages are "
                    "visible\n");
            return -1;
        }
        if (!sent) continue; /* nothing went to this shard */
        if (ctl_wait_applied("send", eps[i], (long long)seq, t0 + timeout_s * 1000, &applied))
            return -1;
    }
    if (!quiet)
        fprintf(stderr, "riskctl send: visible in the aggregates %lld ms after the last answer "
                "(applied through change %lld%s)\n", (long long)(clock_mono_ms() - t0), applied,
                k > 1 ? " of the last shard" : "");
    return 0;
}

/* Frees the client (its frames and sockets), the message buffer and the
 * input. */
static void s_free(sender_t *s, input_t *in)
{
    rp_client_destroy(&s->cl);
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
    int nlinks = shard_split(ingest, eps, SHARD_MAX);
    if (nlinks < 1) {
        fprintf(stderr, "riskctl send: --ingest: expected an endpoint, or one per state shard "
                "(at most %d) comma-separated\n", SHARD_MAX);
        return CLI_USAGE;
    }
    if (config_get(opts, "wait") && shard_split(control, ctl_eps, SHARD_MAX) != nlinks) {
        fprintf(stderr, "riskctl send: --wait: --state-control must name as many endpoints as "
                "--ingest (%d), in the same shard order\n", nlinks);
        return CLI_USAGE;
    }
    const char *format = config_get(opts, "format");
    int json = strcmp(format, "json") == 0;
    if (!json && strcmp(format, "msgpack") != 0) {
        fprintf(stderr, "riskctl send: --format %s: expected json or msgpack\n", format);
        return CLI_USAGE;
    }
    if (!json) s.unit = "message";
    int64_t batch, window, timeout_ms, retries, wait_timeout;
    if (config_int(opts, "batch", 1, SEND_BATCH_MAX, &batch) ||
        config_int(opts, "max-frame-bytes", 1024, 1 << 30, &s.max_frame) ||
        config_int(opts, "window", 1, 10000000, &window) ||
        config_int(opts, "timeout-ms", 10, 3600000, &timeout_ms) ||
        config_int(opts, "retries", 0, 1000000, &retries) ||
        config_int(opts, "wait-timeout", 0, 86400 * 365, &wait_timeout))
        return CLI_USAGE;
    char why[300];
    for (int i = 0; i < nlinks; i++)
        if (cli_endpoint_ok(eps[i], why, sizeof why)) {
            fprintf(stderr, "riskctl send: %s\n", why);
            return CLI_FAIL;
        }
    /* Counted in messages, so that --batch does not change how much the
     * state can commit at once (its group commit is what makes it fast), */
    int64_t frames = (window + batch - 1) / batch;
    /* and never more frames than the state queues answers for */
    if (frames > REPLY_QUEUE_MAX) frames = REPLY_QUEUE_MAX;
    rp_client_opts_t co = {.batch = (uint32_t)batch,
                           .max_frame = (size_t)s.max_frame,
                           .window = (uint32_t)frames,
                           .timeout_ms = (int)timeout_ms,
                           .retries = retries ? (int)retries : -1,
                           .on_reject = s_on_reject,
                           .on_note = s_on_note,
                           .arg = &s};
    cli_curve(KEYS_STATE, &co.server_key, &co.public_key, &co.secret_key);
    const char *path = npos ? argv[1] : "-";
    input_t in = {.fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY),
                  .cap = (1 << 20) + JSONLINE_PADDING};
    if (in.fd < 0) {
        fprintf(stderr, "riskctl send: cannot open %s: %s\n", path, strerror(errno));
        return CLI_FAIL;
    }
    zsys_handler_set(NULL); /* riskctl handles no signals; Ctrl-C must stop it */
    msgpack_sbuffer_init(&s.msg);
    int ok = (in.buf = malloc(in.cap)) != NULL && (!json || (s.jl = jsonline_new()));
    if (!ok) fprintf(stderr, "riskctl send: out of memory\n");
    if (ok && !(s.cl = rp_client_new((const char *const *)eps, nlinks, &co, why, sizeof why))) {
        fprintf(stderr, "riskctl send: %s\n", why);
        ok = 0;
    }
    if (!ok) {
        s_free(&s, &in);
        return CLI_FAIL;
    }
    int64_t t0 = clock_mono_ms();
    int failed = 0;
    while (!failed && (!in.eof || in.len > 0 || rp_client_busy(s.cl)))
        failed = s_step(&s, &in) != 0;
    s_report(&s, t0, config_get(opts, "quiet") != NULL, failed);
    int lost = s.bad_lines || rp_client_counts(s.cl)->rejected;
    if (!failed && config_get(opts, "wait") &&
        s_wait(&s, ctl_eps, nlinks, wait_timeout, config_get(opts, "quiet")))
        failed = 1;
    s_free(&s, &in);
    return failed || lost ? CLI_FAIL : CLI_OK;
}
