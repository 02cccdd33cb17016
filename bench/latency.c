/* bench-latency: the latency probe of `make bench`. It sends risk messages on
 * a hierarchy path of its own (no other producer writes under --risk-type) to
 * the state's acknowledged ingest, and reads the reducer's aggregate table
 * read-only until the probe's row counts them, so it times ingest -> ack and
 * ingest -> visible in the aggregate table as an outside client sees them.
 * Sample mode sends one message at a time (--samples); --burst N sends N at
 * once and times until all are acknowledged and all are aggregated. */
#include "../common/config.h"
#include "../common/hier.h"
#include "../common/log.h"
#include "../common/money.h"
#include "../common/rperr.h"
#include "../common/store.h"
#include "../proto/reply.h"
#include "../proto/tables.h"
#include "../svc/daemon.h"
#include "../svc/keys.h"
#include "../tools/jsonline.h"

#include <czmq.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define LAT_VALUE "1.5"  /* every probe message's Value: the sums are checkable */
#define LAT_BURST_DESK "Burst"
#define LAT_SHOW 10      /* failures described one by one; the count covers the rest */
#define LAT_NAME_MAX 32  /* --risk-type and --region */
#define LAT_LINE_MAX 512 /* one probe message as a JSON line */

enum { LAT_OK = 0, LAT_FAIL = 1, LAT_USAGE = 2 };

/* A frame ready to go: its correlation id, its messages and their bytes. */
typedef struct {
    uint64_t id;
    uint32_t n;
    msgpack_sbuffer body; /* the message maps, without the array header */
    int answered;
} lat_frame_t;

/* The probe's connections and the settings every run shares. */
typedef struct {
    const char *endpoint, *data;
    zsock_t *sock;
    keys_t *keys;
    store_t *store;
    jsonline_t *jl;
    const char *rtype, *region;
    int64_t timeout_us, poll_us;
    uint8_t idseed[16]; /* random: TradeIDs differ from every earlier run's */
    uint64_t trades;    /* TradeIDs made so far */
    uint64_t next_frame;
    int shown;
} lat_t;

static int64_t s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void s_sleep_us(int64_t us)
{
    if (us <= 0) return;
    struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

/* Describes one failure on stderr while fewer than LAT_SHOW have been. */
static void s_show(lat_t *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_show(lat_t *l, const char *fmt, ...)
{
    if (l->shown++ >= LAT_SHOW) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "bench-latency: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* A UUID-shaped TradeID (version 4 layout): the run's random seed with the
 * message's number folded into its last 8 bytes, lowest byte last, so ids
 * never repeat (the variant bits of byte 8 would only meet bit 56 of it). */
static void s_trade_id(lat_t *l, char out[37])
{
    uint8_t b[16];
    memcpy(b, l->idseed, sizeof b);
    uint64_t n = ++l->trades;
    for (int i = 0; i < 8; i++) b[15 - i] ^= (uint8_t)(n >> (8 * i));
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

/* Appends one fresh probe message on rtype::region::desk to body, converted
 * from its JSON line exactly as riskctl send converts one. Returns 0 or an
 * RP code (printed). */
static int s_pack(lat_t *l, const char *desk, msgpack_sbuffer *body)
{
    char line[LAT_LINE_MAX + JSONLINE_PADDING], id[37], why[RISK_WHY_MAX];
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    s_trade_id(l, id);
    int n = snprintf(line, LAT_LINE_MAX,
                     "{\"TradeID\":\"%s\",\"Value\":%s,\"Version\":1,\"Timestamp\":%.3f,"
                     "\"Hierarchy\":{\"RiskType\":\"%s\",\"Region\":\"%s\",\"TradeDesk\":\"%s\"}}",
                     id, LAT_VALUE, (double)wall.tv_sec + wall.tv_nsec / 1e9, l->rtype,
                     l->region, desk);
    if (n < 0 || n >= LAT_LINE_MAX) {
        fprintf(stderr, "bench-latency: a probe message does not fit %d bytes\n", LAT_LINE_MAX);
        return RP_ERANGE;
    }
    memset(line + n, ' ', JSONLINE_PADDING);
    int rc = jsonline_pack(l->jl, line, (size_t)n, body, why, sizeof why);
    if (rc) fprintf(stderr, "bench-latency: cannot pack a probe message: %s\n",
                    rc == RP_EINVAL ? why : rp_strerror(rc));
    return rc;
}

/* Sends f as [empty, correlation id, msgpack array of its messages] without
 * blocking (the socket queues without limit). Returns 0 or an RP code. */
static int s_send(lat_t *l, const lat_frame_t *f)
{
    unsigned char hdr[5];
    size_t hn;
    if (f->n < 16) {
        hdr[0] = (unsigned char)(0x90 | f->n);
        hn = 1;
    } else if (f->n < 65536) {
        hdr[0] = 0xdc;
        hdr[1] = (unsigned char)(f->n >> 8);
        hdr[2] = (unsigned char)f->n;
        hn = 3;
    } else {
        hdr[0] = 0xdd;
        for (int i = 0; i < 4; i++) hdr[1 + i] = (unsigned char)(f->n >> (24 - 8 * i));
        hn = 5;
    }
    zmq_msg_t msg;
    if (zmq_msg_init_size(&msg, hn + f->body.size)) return rp_wrap_errno(RP_EZMQ, errno);
    memcpy(zmq_msg_data(&msg), hdr, hn);
    memcpy((char *)zmq_msg_data(&msg) + hn, f->body.data, f->body.size);
    void *s = zsock_resolve(l->sock);
    if (zmq_send(s, "", 0, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(s, &f->id, sizeof f->id, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_msg_send(&msg, s, ZMQ_DONTWAIT) < 0) {
        int err = errno;
        zmq_msg_close(&msg);
        return rp_wrap_errno(RP_EZMQ, err);
    }
    return 0;
}

/* Waits until every frame of fr[0..n) is answered or deadline (monotonic
 * µs) passes; *acked gets the messages accepted. Replies to other frames
 * (of earlier, timed-out samples) are skipped. A reply that is not a clean
 * acceptance of the whole frame is described and makes the result RP_EINVAL.
 * Returns 0, RP_ETIMEDOUT, RP_EINVAL or an RP code of the socket. */
static int s_await_acks(lat_t *l, lat_frame_t *fr, int n, int64_t deadline, uint64_t *acked)
{
    int left = 0, bad = 0;
    for (int i = 0; i < n; i++) left += !fr[i].answered;
    void *s = zsock_resolve(l->sock);
    while (left > 0) {
        int64_t now = s_now_us();
        if (now >= deadline) return RP_ETIMEDOUT;
        zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
        /* zmq_poll wakes at once on a reply; its timeout is in whole ms */
        long wait_ms = (long)((deadline - now + 999) / 1000);
        if (zmq_poll(&item, 1, wait_ms) < 0) {
            if (errno == EINTR) continue;
            return rp_wrap_errno(RP_EZMQ, errno);
        }
        if (!(item.revents & ZMQ_POLLIN)) continue;
        zmsg_t *msg = zmsg_recv(l->sock);
        if (!msg) continue;
        zframe_t *empty = zmsg_pop(msg), *idf = zmsg_pop(msg), *body = zmsg_pop(msg);
        if (empty && idf && body && zframe_size(idf) == sizeof(uint64_t)) {
            uint64_t id;
            memcpy(&id, zframe_data(idf), sizeof id);
            for (int i = 0; i < n; i++) {
                if (fr[i].id != id || fr[i].answered) continue;
                reply_view_t r;
                fr[i].answered = 1;
                left--;
                if (reply_decode((const char *)zframe_data(body), zframe_size(body), &r)) {
                    s_show(l, "undecodable reply to frame %llu", (unsigned long long)id);
                    bad = 1;
                } else if (r.retry) {
                    s_show(l, "the state asks to retry frame %llu: %s", (unsigned long long)id,
                           r.error);
                    bad = 1;
                } else {
                    *acked += r.accepted;
                    if (r.accepted != fr[i].n) {
                        s_show(l, "frame %llu of %u fresh messages: accepted %llu, duplicates "
                               "%llu, rejected %llu%s%s", (unsigned long long)id, fr[i].n,
                               (unsigned long long)r.accepted, (unsigned long long)r.duplicates,
                               (unsigned long long)r.rejected, r.first_reason[0] ? ": " : "",
                               r.first_reason);
                        bad = 1;
                    }
                }
                break;
            }
        }
        zframe_destroy(&empty);
        zframe_destroy(&idf);
        zframe_destroy(&body);
        zmsg_destroy(&msg);
    }
    return bad ? RP_EINVAL : 0;
}

/* Reads the count of the aggregate row key (0 when absent) in a fresh read
 * transaction. Should the reducer have grown its map, the environment is
 * opened again to see the new size. Returns 0 or an RP code (printed). */
static int s_row_count(lat_t *l, const char *key, int64_t *count)
{
    MDB_txn *txn = NULL;
    int rc = store_begin(l->store, 1, &txn);
    if (rc && rp_lmdb_code(rc) == MDB_MAP_RESIZED) {
        store_destroy(&l->store);
        if (!(l->store = store_open(l->data, tables_reducer_dbs, 0, STORE_RDONLY, &rc))) {
            fprintf(stderr, "bench-latency: cannot reopen %s: %s\n", l->data, rp_strerror(rc));
            return rc;
        }
        rc = store_begin(l->store, 1, &txn);
    }
    if (rc) {
        fprintf(stderr, "bench-latency: cannot read %s: %s\n", l->data, rp_strerror(rc));
        return rc;
    }
    MDB_val k = {strlen(key), (void *)key}, v;
    rc = store_rc(mdb_get(txn, store_dbi(l->store, RDB_AGGREGATE), &k, &v));
    money_sum_t sum;
    if (rc == RP_ENOTFOUND) {
        *count = 0;
        rc = 0;
    } else if (rc) {
        fprintf(stderr, "bench-latency: cannot read row '%s': %s\n", key, rp_strerror(rc));
    } else if ((rc = tables_agg_decode(v.mv_data, v.mv_size, &sum, count))) {
        fprintf(stderr, "bench-latency: unreadable aggregate row '%s'\n", key);
    }
    store_abort(&txn);
    return rc;
}

/* Polls row key until its count reaches target or deadline passes; *seen is
 * the last count read. Returns 0, RP_ETIMEDOUT or a read error. */
static int s_await_count(lat_t *l, const char *key, int64_t target, int64_t deadline,
                         int64_t *seen)
{
    for (;;) {
        int rc = s_row_count(l, key, seen);
        if (rc) return rc;
        if (*seen >= target) return 0;
        if (s_now_us() >= deadline) return RP_ETIMEDOUT;
        s_sleep_us(l->poll_us);
    }
}

static void s_path(const lat_t *l, const char *desk, char *buf, size_t cap)
{
    if (desk) snprintf(buf, cap, "%s" HIER_SEP "%s" HIER_SEP "%s", l->rtype, l->region, desk);
    else snprintf(buf, cap, "%s" HIER_SEP "%s", l->rtype, l->region);
}

static int s_cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Writes the nearest-rank p-th percentile of v[0..n) (sorted µs) in ms to
 * buf, or "-" when n is 0; returns buf. */
static const char *s_pct_ms(const int64_t *v, int n, double p, char buf[32])
{
    if (n == 0) return strcpy(buf, "-");
    int rank = (int)((p / 100.0) * n + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    snprintf(buf, 32, "%.3f", (double)v[rank - 1] / 1000.0);
    return buf;
}

/* After a run, checks that rtype::region counts exactly `expect` messages
 * more than `before` (and that none are still on their way). Returns 0 or
 * 1 (described). */
static int s_check_prefix(lat_t *l, int64_t before, int64_t expect)
{
    char key[HIER_PATH_MAX];
    int64_t now_count;
    s_path(l, NULL, key, sizeof key);
    if (s_row_count(l, key, &now_count)) return 1;
    if (now_count == before + expect) return 0;
    fprintf(stderr, "bench-latency: row '%s' counts %lld, expected %lld (%lld before the run "
            "+ %lld probes)\n", key, (long long)now_count, (long long)(before + expect),
            (long long)before, (long long)expect);
    return 1;
}

/* Sample mode: one message at a time, each on rtype::region::D<k mod desks>
 * whose count is read just before it is sent. Prints the summary line.
 * Returns LAT_OK or LAT_FAIL. */
static int s_run_samples(lat_t *l, int samples, int64_t interval_us, int desks, FILE *out)
{
    int64_t *ack = calloc((size_t)samples, sizeof *ack);
    int64_t *vis = calloc((size_t)samples, sizeof *vis);
    int64_t *gap = calloc((size_t)samples, sizeof *gap);
    if (!ack || !vis || !gap) {
        fprintf(stderr, "bench-latency: out of memory for %d samples\n", samples);
        free(ack), free(vis), free(gap);
        return LAT_FAIL;
    }
    char prefix[HIER_PATH_MAX];
    int64_t prefix_before = 0;
    int ok = 0, sent = 0, failures = 0, fatal = 0;
    uint64_t accepted = 0;
    s_path(l, NULL, prefix, sizeof prefix);
    if (s_row_count(l, prefix, &prefix_before)) fatal = 1;
    int64_t next = s_now_us();
    for (int k = 0; k < samples && !fatal; k++) {
        char desk[16], key[HIER_PATH_MAX];
        snprintf(desk, sizeof desk, "D%d", k % desks);
        s_path(l, desk, key, sizeof key);
        lat_frame_t f = {.id = ++l->next_frame, .n = 1};
        int64_t before;
        msgpack_sbuffer_init(&f.body);
        if (s_row_count(l, key, &before) || s_pack(l, desk, &f.body)) {
            msgpack_sbuffer_destroy(&f.body);
            fatal = 1;
            break;
        }
        s_sleep_us(next - s_now_us());
        int64_t t0 = s_now_us(), deadline = t0 + l->timeout_us, seen = before;
        next = t0 + interval_us;
        int rc = s_send(l, &f);
        uint64_t got = 0;
        sent++;
        if (rc == 0) rc = s_await_acks(l, &f, 1, deadline, &got);
        int64_t t_ack = s_now_us();
        accepted += got;
        if (rc == 0) rc = s_await_count(l, key, before + 1, deadline, &seen);
        int64_t t_vis = s_now_us();
        msgpack_sbuffer_destroy(&f.body);
        if (out && rc == 0)
            fprintf(out, "%d %lld %lld\n", k + 1, (long long)(t_ack - t0), (long long)(t_vis - t0));
        else if (out && f.answered)
            fprintf(out, "%d %lld -\n", k + 1, (long long)(t_ack - t0));
        else if (out)
            fprintf(out, "%d - -\n", k + 1);
        if (rc == 0) {
            ack[ok] = t_ack - t0;
            vis[ok] = t_vis - t0;
            gap[ok] = t_vis - t_ack;
            ok++;
            continue;
        }
        failures++;
        if (rc == RP_ETIMEDOUT && !f.answered)
            s_show(l, "sample %d: no answer from %s within %lld ms", k + 1, l->endpoint,
                   (long long)(l->timeout_us / 1000));
        else if (rc == RP_ETIMEDOUT)
            s_show(l, "sample %d: acknowledged in %.3f ms but row '%s' still counts %lld "
                   "(expected %lld) after %lld ms", k + 1, (double)(t_ack - t0) / 1000.0, key,
                   (long long)seen, (long long)(before + 1), (long long)(l->timeout_us / 1000));
        else if (rc != RP_EINVAL)
            s_show(l, "sample %d: %s", k + 1, rp_strerror(rc));
        if (rc != RP_ETIMEDOUT && rc != RP_EINVAL) fatal = 1; /* socket or storage trouble */
    }
    /* a probe is counted once accepted, even when it became visible late */
    if (!fatal && !failures && s_check_prefix(l, prefix_before, (int64_t)accepted)) failures++;
    qsort(ack, (size_t)ok, sizeof *ack, s_cmp_i64);
    qsort(vis, (size_t)ok, sizeof *vis, s_cmp_i64);
    qsort(gap, (size_t)ok, sizeof *gap, s_cmp_i64);
    char b[7][32];
    printf("samples=%d ack_p50_ms=%s ack_p99_ms=%s visible_p50_ms=%s visible_p99_ms=%s "
           "visible_max_ms=%s gap_p50_ms=%s gap_p99_ms=%s failures=%d\n",
           sent, s_pct_ms(ack, ok, 50, b[0]), s_pct_ms(ack, ok, 99, b[1]),
           s_pct_ms(vis, ok, 50, b[2]), s_pct_ms(vis, ok, 99, b[3]),
           s_pct_ms(vis, ok, 100, b[4]), s_pct_ms(gap, ok, 50, b[5]),
           s_pct_ms(gap, ok, 99, b[6]), failures + (samples - sent));
    free(ack), free(vis), free(gap);
    return failures || fatal ? LAT_FAIL : LAT_OK;
}

/* Burst mode: n fresh messages on rtype::region::Burst, packed beforehand
 * into frames of `batch`, sent at once; times until every frame is
 * acknowledged and until the row counts all n. Prints the summary line.
 * Returns LAT_OK or LAT_FAIL. */
static int s_run_burst(lat_t *l, int n, int batch)
{
    int nfr = (n + batch - 1) / batch, rc = 0, result = LAT_FAIL;
    lat_frame_t *fr = calloc((size_t)nfr, sizeof *fr);
    if (!fr) {
        fprintf(stderr, "bench-latency: out of memory for %d frames\n", nfr);
        return LAT_FAIL;
    }
    for (int i = 0; i < nfr; i++) msgpack_sbuffer_init(&fr[i].body);
    char key[HIER_PATH_MAX], prefix[HIER_PATH_MAX];
    int64_t before, prefix_before, seen = 0, t_ack = 0, t_vis = 0;
    uint64_t accepted = 0;
    s_path(l, LAT_BURST_DESK, key, sizeof key);
    s_path(l, NULL, prefix, sizeof prefix);
    if (s_row_count(l, key, &before) || s_row_count(l, prefix, &prefix_before)) goto out;
    for (int i = 0, left = n; i < nfr; i++) {
        fr[i].id = ++l->next_frame;
        fr[i].n = (uint32_t)(left < batch ? left : batch);
        left -= (int)fr[i].n;
        for (uint32_t j = 0; j < fr[i].n; j++)
            if (s_pack(l, LAT_BURST_DESK, &fr[i].body)) goto out;
    }
    int64_t t0 = s_now_us(), deadline = t0 + l->timeout_us;
    for (int i = 0; i < nfr && rc == 0; i++) rc = s_send(l, &fr[i]);
    if (rc) {
        fprintf(stderr, "bench-latency: cannot send to %s: %s\n", l->endpoint, rp_strerror(rc));
        goto out;
    }
    rc = s_await_acks(l, fr, nfr, deadline, &accepted);
    if (rc != RP_ETIMEDOUT) t_ack = s_now_us() - t0;
    if (rc == RP_ETIMEDOUT) {
        int left = 0;
        for (int i = 0; i < nfr; i++) left += !fr[i].answered;
        fprintf(stderr, "bench-latency: %d of %d frames unanswered after %lld ms\n", left, nfr,
                (long long)(l->timeout_us / 1000));
    }
    if (rc) goto out;
    rc = s_await_count(l, key, before + n, deadline, &seen);
    if (rc == 0) t_vis = s_now_us() - t0;
    if (rc == RP_ETIMEDOUT)
        fprintf(stderr, "bench-latency: row '%s' counts %lld of the %d messages after %lld ms\n",
                key, (long long)(seen - before), n, (long long)(l->timeout_us / 1000));
    else if (rc == 0 && seen != before + n)
        fprintf(stderr, "bench-latency: row '%s' grew by %lld, not by the %d messages sent\n",
                key, (long long)(seen - before), n);
    else if (rc == 0 && s_check_prefix(l, prefix_before, n) == 0)
        result = LAT_OK;
out:;
    /* a time not reached (or not measured) prints as "-" */
    char ack_ms[32] = "-", vis_ms[32] = "-";
    if (t_ack) snprintf(ack_ms, sizeof ack_ms, "%.3f", (double)t_ack / 1000.0);
    if (t_vis) snprintf(vis_ms, sizeof vis_ms, "%.3f", (double)t_vis / 1000.0);
    printf("burst=%d frames=%d ack_all_ms=%s visible_all_ms=%s failures=%d\n", n, nfr, ack_ms,
           vis_ms, result == LAT_OK ? 0 : 1);
    for (int i = 0; i < nfr; i++) msgpack_sbuffer_destroy(&fr[i].body);
    free(fr);
    return result;
}

/* 1 when s is a usable level value here: it goes into JSON unescaped. */
static int s_plain_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > LAT_NAME_MAX) return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-'))
            return 0;
    return 1;
}

/* Opens the socket (CURVE with --keys) and the reducer's environment.
 * Returns 0 or -1 after a message. */
static int s_open(lat_t *l, const char *keydir, int insecure)
{
    zsys_handler_set(NULL); /* leave SIGINT to kill the probe */
    if (keydir && *keydir) {
        int err = 0;
        if (!(l->keys = keys_load(keydir, KEYS_RISKCTL, &err))) {
            fprintf(stderr, "bench-latency: cannot load the key set in %s: %s\n", keydir,
                    rp_strerror(err));
            return -1;
        }
    } else if (!insecure && !daemon_endpoint_is_local(l->endpoint)) {
        fprintf(stderr, "bench-latency: %s is not on this machine and no --keys were given; "
                "use --keys, or --insecure\n", l->endpoint);
        return -1;
    }
    if (!(l->sock = zsock_new(ZMQ_DEALER))) {
        fprintf(stderr, "bench-latency: cannot create a socket: %s\n", zmq_strerror(errno));
        return -1;
    }
    zsock_set_linger(l->sock, 0);
    zsock_set_sndhwm(l->sock, 0);
    zsock_set_rcvhwm(l->sock, 0);
    if (l->keys) keys_apply_client(l->keys, l->sock, KEYS_STATE);
    if (zsock_connect(l->sock, "%s", l->endpoint)) {
        fprintf(stderr, "bench-latency: cannot connect to %s: %s\n", l->endpoint,
                zmq_strerror(errno));
        return -1;
    }
    int err = 0;
    if (!(l->store = store_open(l->data, tables_reducer_dbs, 0, STORE_RDONLY, &err))) {
        fprintf(stderr, "bench-latency: cannot open the reducer's environment %s read-only: %s\n",
                l->data, rp_strerror(err));
        return -1;
    }
    if (!(l->jl = jsonline_new())) {
        fprintf(stderr, "bench-latency: out of memory\n");
        return -1;
    }
    if (getrandom(l->idseed, sizeof l->idseed, 0) != (ssize_t)sizeof l->idseed) {
        /* no randomness: time and pid still keep runs apart */
        int64_t t = s_now_us();
        pid_t pid = getpid();
        memcpy(l->idseed, &t, sizeof t);
        memcpy(l->idseed + 8, &pid, sizeof pid);
    }
    return 0;
}

static void s_close(lat_t *l)
{
    jsonline_destroy(&l->jl);
    store_destroy(&l->store);
    zsock_destroy(&l->sock);
    keys_destroy(&l->keys);
}

int main(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"ingest", "tcp://127.0.0.1:5555", "the state's acknowledged ingest endpoint", NULL},
        {"reducer-data", "./data/reducer", "the reducer's LMDB environment directory (read-only)",
         NULL},
        {"samples", "300", "messages sent one at a time, each timed", NULL},
        {"interval-ms", "10", "from one sample's send to the next one's", NULL},
        {"timeout-ms", "5000", "a sample (or the burst) not visible by then is a failure", NULL},
        {"poll-us", "50", "pause between two reads of the aggregate row", NULL},
        {"burst", "0", "instead of samples, send this many messages at once and time them all",
         NULL},
        {"batch", "1000", "messages per frame in --burst (at most the state's --max-batch)", NULL},
        {"samples-out", "", "also write each sample there: k ack_us visible_us (- when failed)",
         NULL},
        {"desks", "16", "sample k goes to TradeDesk D<k mod desks>", NULL},
        {"risk-type", "Latency", "RiskType of every probe message: one no other producer uses",
         NULL},
        {"region", "Probe", "Region of every probe message (a run's own keeps runs apart)", NULL},
        {"keys", "", "directory of the pipeline's CURVE key set: connect as riskctl", NULL},
        {"insecure", NULL, "allow an ingest endpoint beyond loopback without --keys", NULL},
        {"log-level", "warn", "error, warn, info or debug", NULL},
        {NULL, NULL, NULL, NULL}};
    config_set_program("bench-latency");
    int npos = 0;
    int rc = config_parse(
        opts, argc, argv, 1, &npos,
        "usage: bench-latency [options]\n\nTimes risk messages from the state's acknowledged "
        "ingest to their acknowledgement and\nto their count in the reducer's aggregate table, "
        "as a client would see them.\nEach message is fresh (a new TradeID, Version 1, Value "
        LAT_VALUE ") on RiskType::Region::TradeDesk\nof --risk-type and --region, and the "
        "hierarchy must be RiskType,Region,TradeDesk.\nSample mode prints samples= ack_p50_ms= "
        "ack_p99_ms= visible_p50_ms= visible_p99_ms=\nvisible_max_ms= gap_p50_ms= gap_p99_ms= "
        "(visible minus ack) failures=; --burst N prints\nburst= frames= ack_all_ms= "
        "visible_all_ms= failures=. Times are from the send, in ms.\nExit status: 0, 1 when any "
        "sample failed (no answer, not accepted, not visible\nin time, or the probe rows count "
        "wrong at the end), 2 on a usage error.");
    if (rc) return rc > 0 ? LAT_OK : LAT_USAGE;
    int64_t samples, interval, timeout, poll_us, burst, batch, desks;
    if (npos) {
        fprintf(stderr, "bench-latency: unexpected argument '%s' (see --help)\n", argv[1]);
        return LAT_USAGE;
    }
    if (config_int(opts, "samples", 1, 10000000, &samples) ||
        config_int(opts, "interval-ms", 0, 3600000, &interval) ||
        config_int(opts, "timeout-ms", 1, 3600000, &timeout) ||
        config_int(opts, "poll-us", 0, 1000000, &poll_us) ||
        config_int(opts, "burst", 0, 100000000, &burst) ||
        config_int(opts, "batch", 1, 1000000, &batch) ||
        config_int(opts, "desks", 1, 100000, &desks))
        return LAT_USAGE;
    if (log_init("bench-latency", config_get(opts, "log-level"))) {
        fprintf(stderr, "bench-latency: --log-level must be error, warn, info or debug\n");
        return LAT_USAGE;
    }
    lat_t l = {.endpoint = config_get(opts, "ingest"),
               .data = config_get(opts, "reducer-data"),
               .rtype = config_get(opts, "risk-type"),
               .region = config_get(opts, "region"),
               .timeout_us = timeout * 1000,
               .poll_us = poll_us};
    if (!s_plain_name(l.rtype) || !s_plain_name(l.region)) {
        fprintf(stderr, "bench-latency: --risk-type and --region take 1 to %d letters, digits, "
                "'_' or '-'\n", LAT_NAME_MAX);
        return LAT_USAGE;
    }
    const char *out_path = config_get(opts, "samples-out");
    FILE *out = NULL;
    if (*out_path && !(out = fopen(out_path, "w"))) {
        fprintf(stderr, "bench-latency: cannot write %s: %s\n", out_path, strerror(errno));
        return LAT_FAIL;
    }
    int result = LAT_FAIL;
    if (s_open(&l, config_get(opts, "keys"), config_get(opts, "insecure") != NULL) == 0)
        result = burst ? s_run_burst(&l, (int)burst, (int)batch)
                       : s_run_samples(&l, (int)samples, interval * 1000, (int)desks, out);
    s_close(&l);
    if (out && fclose(out)) {
        fprintf(stderr, "bench-latency: cannot write %s: %s\n", out_path, strerror(errno));
        result = LAT_FAIL;
    }
    return result;
}
