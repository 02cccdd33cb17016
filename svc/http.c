/* The HTTP endpoint on libmicrohttpd's external epoll loop; see http.h. */
#include "http.h"
#include "daemon.h"
#include "fsync.h"
#include "jsonw.h"
#include "../common/clock.h"
#include "../common/log.h"
#include "../common/rperr.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#define HTTP_TOKEN_MAX 512
#define HTTP_CONN_LIMIT 32     /* concurrent connections: scrapers, curl, a few dashboards */
#define HTTP_CONN_TIMEOUT_S 10 /* an idle connection is closed after this */
#define HTTP_STREAM_BLOCK 16384 /* bytes libmicrohttpd takes from a stream at a time */

struct http_t {
    struct MHD_Daemon *mhd;
    int epoll_fd;
    http_source_t src;
    char token[HTTP_TOKEN_MAX]; /* empty: no token required */
    size_t token_len;
    http_stream_t *streams; /* open event streams, a doubly linked list */
    int nstreams;
    int kick; /* a suspended stream was resumed: run libmicrohttpd soon */
    int64_t gone_check_ms; /* when suspended streams were last checked for hang-ups */
};

struct http_req_t {
    http_t *http;
    struct MHD_Connection *conn;
    const char *path;
    int head;               /* a HEAD request */
    int answered;           /* a response was queued (or failed to be) */
    enum MHD_Result result; /* what the handler returns to libmicrohttpd */
};

/* The bytes of an event stream not yet taken by libmicrohttpd are
 * buf.data[off..buf.len). The stream belongs to its MHD response: it is
 * freed by s_stream_free when libmicrohttpd lets go of the response. */
struct http_stream_t {
    http_t *http;
    struct MHD_Connection *conn;
    metrics_buf_t buf;
    size_t off;
    int suspended; /* waiting for data: libmicrohttpd does not poll it */
    int closing;   /* end the response: 1 cleanly, 2 at once (dropped) */
    int64_t last_write_ms;
    http_stream_closed_fn closed;
    void *arg;
    http_stream_t *prev, *next;
};

/* libmicrohttpd's own error messages, into our log. */
static void s_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = 0;
    log_warn("http: %s", msg);
}

/* Percent-decodes a URL's path or a query parameter in place, as
 * libmicrohttpd does by default, except that a decoded NUL becomes 0xFF:
 * C strings would otherwise end there, and "/v1/trades/A%00B" would look
 * up trade "A". Returns the decoded length. */
static size_t s_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    size_t n = MHD_http_unescape(s);
    for (size_t i = 0; i < n; i++)
        if (s[i] == 0) s[i] = (char)0xFF;
    return n;
}

/* Reads the token: the file's first line without surrounding blanks.
 * Returns 0 or RP_EINVAL (logged). */
static int s_read_token(http_t *self, const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        log_error("--http-token-file %s: %s", path, strerror(errno));
        return RP_EINVAL;
    }
    char buf[HTTP_TOKEN_MAX + 2] = "";
    char *line = fgets(buf, sizeof buf, f);
    fclose(f);
    size_t n = line ? strlen(buf) : 0;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
                 buf[n - 1] == '\t'))
        buf[--n] = 0;
    const char *p = buf;
    while (*p == ' ' || *p == '\t') p++;
    n = strlen(p);
    if (n == 0 || n >= HTTP_TOKEN_MAX) {
        log_error("--http-token-file %s: want one line holding a token of 1 to %d characters",
                  path, HTTP_TOKEN_MAX - 1);
        return RP_EINVAL;
    }
    memcpy(self->token, p, n + 1);
    self->token_len = n;
    return 0;
}

/* 1 when t[0..n) is the token. The comparison takes the same time wherever
 * it differs. */
static int s_token_eq(const http_t *self, const char *t, size_t n)
{
    unsigned char diff = n != self->token_len;
    for (size_t i = 0; i < self->token_len; i++)
        diff |= (unsigned char)(self->token[i] ^ (i < n ? t[i] : 0));
    return diff == 0;
}

/* 1 when no token is required, or the request carries it in
 * "Authorization: Bearer <token>" (the scheme's name in any case) or in
 * the access_token query parameter. */
static int s_authorized(const http_t *self, struct MHD_Connection *conn)
{
    if (!self->token_len) return 1;
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (h && !strncasecmp(h, "Bearer ", 7) && s_token_eq(self, h + 7, strlen(h + 7))) return 1;
    const char *q = NULL;
    size_t qn = 0;
    return MHD_lookup_connection_value_n(conn, MHD_GET_ARGUMENT_KIND, "access_token", 12, &q,
                                         &qn) == MHD_YES &&
           q && s_token_eq(self, q, qn);
}

/* Queues a response taking ownership of body (malloc'd, len bytes; NULL
 * for none) with type as its Content-Type and one optional extra header. */
static enum MHD_Result s_reply(struct MHD_Connection *conn, unsigned code, char *body, size_t len,
                               const char *type, const char *hname, const char *hvalue)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body ? body : (char *)"", body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (hname) MHD_add_response_header(r, hname, hvalue);
    enum MHD_Result ret = MHD_queue_response(conn, code, r);
    MHD_destroy_response(r);
    return ret;
}

/* A JSON error body {"error": why} and one optional extra header. */
static enum MHD_Result s_error(struct MHD_Connection *conn, unsigned code, const char *why,
                               const char *hname, const char *hvalue)
{
    metrics_buf_t b;
    metrics_buf_init(&b);
    metrics_buf_printf(&b, "{\"error\":");
    jsonw_cstr(&b, why);
    metrics_buf_printf(&b, "}\n");
    if (b.failed) {
        metrics_buf_free(&b);
        return MHD_NO;
    }
    return s_reply(conn, code, b.data, b.len, "application/json", hname, hvalue);
}

/* Renders /metrics (json 0) or /v1/status (json 1) from the source now. */
static enum MHD_Result s_render(http_t *self, struct MHD_Connection *conn, int json)
{
    ctl_stat_t stats[CTL_MAX_STATS];
    metrics_proc_t proc;
    metrics_view_t v = {.role = self->src.role,
                        .stats = stats,
                        .commit = self->src.commit,
                        .fsync = self->src.store ? fsync_hist() : NULL,
                        .latency = self->src.latency};
    v.nstats = self->src.fill ? self->src.fill(self->src.arg, stats, CTL_MAX_STATS) : 0;
    if (self->src.store) {
        int rc = store_usage(self->src.store, &v.map_bytes, &v.used_bytes);
        if (rc) log_warn("http: cannot read the LMDB map figures: %s", rp_strerror(rc));
        v.has_store = rc == 0;
    }
    if (metrics_proc_read(&proc) == 0) v.proc = &proc;
    metrics_buf_t b;
    metrics_buf_init(&b);
    int rc = json ? metrics_status_json(&b, &v) : metrics_render(&b, &v);
    if (rc) {
        metrics_buf_free(&b);
        return s_error(conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory", NULL, NULL);
    }
    return s_reply(conn, MHD_HTTP_OK, b.data, b.len,
                   json ? "application/json" : "text/plain; version=0.0.4; charset=utf-8", NULL,
                   NULL);
}

/* Runs a role's route; 404 when it has no such path. */
static enum MHD_Result s_route(http_t *self, http_route_fn fn, http_req_t *req)
{
    if (!fn || !fn(self->src.route_arg, req))
        return req->answered ? req->result
                             : s_error(req->conn, MHD_HTTP_NOT_FOUND, "not found", NULL, NULL);
    if (req->answered) return req->result;
    log_error("http: the %s route took %s without answering it", self->src.role, req->path);
    return s_error(req->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "internal error", NULL, NULL);
}

/* libmicrohttpd's request handler: called on the loop's thread from
 * MHD_run, once the request's headers are in. Bodies are never read: every
 * endpoint is a GET. The token is checked before the method, so that a
 * client without it learns nothing of the paths. */
static enum MHD_Result s_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    http_t *self = cls;
    int is_metrics = !strcmp(url, "/metrics"), is_status = !strcmp(url, "/v1/status");
    int guarded = is_metrics || !strcmp(url, "/v1") || !strncmp(url, "/v1/", 4);
    if (guarded && !s_authorized(self, conn))
        return s_error(conn, MHD_HTTP_UNAUTHORIZED, "missing or wrong bearer token",
                       MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    int head = !strcmp(method, MHD_HTTP_METHOD_HEAD);
    if (strcmp(method, MHD_HTTP_METHOD_GET) && !head)
        return s_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
                       MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    if (is_metrics || is_status) return s_render(self, conn, is_status);
    http_req_t req = {.http = self, .conn = conn, .path = url, .head = head, .result = MHD_NO};
    return s_route(self, guarded ? self->src.route : self->src.assets, &req);
}

const char *http_req_path(const http_req_t *req)
{
    return req->path;
}

/* The state of http_req_check_params' walk over the query. */
typedef struct {
    const char *const *names;
    char *why;
    size_t whylen;
    int bad;
    unsigned seen; /* bit i: names[i] given; bit 31: access_token */
} s_params_t;

static enum MHD_Result s_param_check(void *cls, enum MHD_ValueKind kind, const char *key,
                                     size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    s_params_t *p = cls;
    int i = 0;
    unsigned bit = 0;
    if (key_size == 12 && !memcmp(key, "access_token", 12)) bit = 1u << 31;
    for (; !bit && p->names[i]; i++)
        if (strlen(p->names[i]) == key_size && !memcmp(p->names[i], key, key_size) && i < 31)
            bit = 1u << i;
    if (!bit) {
        int shown = key_size > 64 ? 64 : (int)key_size;
        snprintf(p->why, p->whylen, "unknown query parameter '%.*s'", shown, key);
    } else if (p->seen & bit) {
        snprintf(p->why, p->whylen, "query parameter '%s' given more than once", key);
    } else if (value && strlen(value) != value_size) {
        snprintf(p->why, p->whylen, "query parameter '%s' holds a NUL", key);
    } else {
        p->seen |= bit;
        return MHD_YES;
    }
    p->bad = 1;
    return MHD_NO;
}

int http_req_check_params(http_req_t *req, const char *const *names, char *why, size_t whylen)
{
    s_params_t p = {.names = names, .why = why, .whylen = whylen};
    MHD_get_connection_values_n(req->conn, MHD_GET_ARGUMENT_KIND, s_param_check, &p);
    return p.bad ? RP_EINVAL : 0;
}

int http_req_param(http_req_t *req, const char *name, const char **val, size_t *len)
{
    const char *v = NULL;
    size_t n = 0;
    if (MHD_lookup_connection_value_n(req->conn, MHD_GET_ARGUMENT_KIND, name, strlen(name), &v,
                                      &n) != MHD_YES)
        return RP_ENOTFOUND;
    *val = v ? v : "";
    *len = v ? n : 0;
    return 0;
}

int http_parse_uint(const char *s, size_t len, uint64_t min, uint64_t max, uint64_t *out)
{
    if (len == 0 || len > 20) return len ? RP_ERANGE : RP_EINVAL;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return RP_EINVAL;
        if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10) return RP_ERANGE;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v < min || v > max) return RP_ERANGE;
    *out = v;
    return 0;
}

/* Records the outcome of queuing a role's response. */
static int s_answered(http_req_t *req, enum MHD_Result r)
{
    req->answered = 1;
    req->result = r;
    return r == MHD_YES ? 0 : RP_ENOMEM;
}

int http_reply_json(http_req_t *req, unsigned status, metrics_buf_t *body)
{
    if (req->answered) {
        metrics_buf_free(body);
        return RP_EINVAL;
    }
    if (body->failed) {
        metrics_buf_free(body);
        log_warn("http: out of memory answering %s", req->path);
        s_answered(req, s_error(req->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory",
                                NULL, NULL));
        return RP_ENOMEM;
    }
    char *data = body->data;
    size_t len = body->len;
    metrics_buf_init(body);
    return s_answered(req, s_reply(req->conn, status, data, len, "application/json", NULL, NULL));
}

int http_reply_error(http_req_t *req, unsigned status, const char *fmt, ...)
{
    char why[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (req->answered) return RP_EINVAL;
    return s_answered(req, s_error(req->conn, status, why, NULL, NULL));
}

int http_reply_static(http_req_t *req, const char *body, size_t len, const char *type)
{
    if (req->answered) return RP_EINVAL;
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_PERSISTENT);
    if (!r) return s_answered(req, MHD_NO);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    /* the files change with the binary: revalidate rather than cache */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    enum MHD_Result ret = MHD_queue_response(req->conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return s_answered(req, ret);
}

/* Makes libmicrohttpd poll the stream's connection again. */
static void s_stream_wake(http_stream_t *s)
{
    if (!s->suspended) return;
    s->suspended = 0;
    s->http->kick = 1;
    MHD_resume_connection(s->conn);
}

/* libmicrohttpd's content reader for a stream: hands over what is
 * buffered, or suspends the connection until there is more (returning 0
 * without suspending would have it ask again at once, a busy loop). */
static ssize_t s_stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    (void)pos;
    http_stream_t *s = cls;
    if (s->closing == 2) return MHD_CONTENT_READER_END_WITH_ERROR;
    size_t avail = s->buf.len - s->off;
    if (avail == 0) {
        if (s->closing) return MHD_CONTENT_READER_END_OF_STREAM;
        s->suspended = 1;
        MHD_suspend_connection(s->conn);
        return 0;
    }
    size_t n = avail < max ? avail : max;
    memcpy(out, s->buf.data + s->off, n);
    s->off += n;
    if (s->off == s->buf.len) s->off = s->buf.len = 0; /* keep the allocation */
    return (ssize_t)n;
}

/* libmicrohttpd lets go of a stream's response: the connection is over. */
static void s_stream_free(void *cls)
{
    http_stream_t *s = cls;
    http_t *self = s->http;
    if (s->closed) {
        if (s->prev) s->prev->next = s->next;
        else self->streams = s->next;
        if (s->next) s->next->prev = s->prev;
        self->nstreams--;
        s->closed(s->arg, s);
    }
    metrics_buf_free(&s->buf);
    free(s);
}

int http_reply_stream(http_req_t *req, http_stream_closed_fn closed, void *arg,
                      http_stream_t **out)
{
    http_t *self = req->http;
    *out = NULL;
    if (req->answered) return RP_EINVAL;
    if (req->head) {
        struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"",
                                                                 MHD_RESPMEM_PERSISTENT);
        if (!r) return s_answered(req, MHD_NO);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
        enum MHD_Result ret = MHD_queue_response(req->conn, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        return s_answered(req, ret);
    }
    if (self->nstreams >= HTTP_STREAMS_MAX) return RP_EBUSY;
    http_stream_t *s = calloc(1, sizeof *s);
    if (!s) return RP_ENOMEM;
    s->http = self;
    s->conn = req->conn;
    s->last_write_ms = clock_mono_ms();
    metrics_buf_init(&s->buf);
    struct MHD_Response *r = MHD_create_response_from_callback(
        MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK, s_stream_read, s, s_stream_free);
    if (!r) {
        free(s);
        return RP_ENOMEM;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "X-Accel-Buffering", "no"); /* no proxy may hold events back */
    enum MHD_Result ret = MHD_queue_response(req->conn, MHD_HTTP_OK, r);
    MHD_destroy_response(r); /* frees s (closed still NULL) when the queueing failed */
    if (ret != MHD_YES) return s_answered(req, ret);
    s->closed = closed;
    s->arg = arg;
    s->next = self->streams;
    if (s->next) s->next->prev = s;
    self->streams = s;
    self->nstreams++;
    *out = s;
    return s_answered(req, ret);
}

/* Ends a stream: cleanly (how 1: what is buffered goes first) or at once
 * (how 2). Its closed callback runs when libmicrohttpd lets go of it. */
static void s_stream_end(http_stream_t *s, int how)
{
    if (s->closing < how) s->closing = how;
    if (how == 2) {
        metrics_buf_free(&s->buf); /* never sent now */
        s->off = 0;
        /* A client that reads nothing never makes its socket writable, and
         * libmicrohttpd would wait for that (or its idle timeout) before
         * asking the stream for more: shutting the socket down (it stays
         * libmicrohttpd's to close) makes the next send fail at once. */
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(s->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!s->suspended && ci) shutdown(ci->connect_fd, SHUT_RDWR);
    }
    s_stream_wake(s);
}

int http_stream_write(http_stream_t *s, const char *data, size_t len)
{
    if (s->closing) return RP_EIO;
    size_t behind = s->buf.len - s->off;
    if (behind && behind + len > HTTP_STREAM_BEHIND_MAX) {
        log_warn("http: dropping an event-stream client %zu bytes behind (more than %u)",
                 behind, HTTP_STREAM_BEHIND_MAX);
        s_stream_end(s, 2);
        return RP_EFULL;
    }
    if (s->off) { /* keep the unsent bytes at the front */
        memmove(s->buf.data, s->buf.data + s->off, behind);
        s->buf.len = behind;
        s->off = 0;
    }
    metrics_buf_append(&s->buf, data, len);
    if (s->buf.failed) {
        log_warn("http: out of memory for an event stream: dropping its client");
        s_stream_end(s, 2);
        return RP_ENOMEM;
    }
    s->last_write_ms = clock_mono_ms();
    s_stream_wake(s);
    return 0;
}

/* Splits "HOST:PORT" or "[V6]:PORT" into host[hcap] and port[pcap] ("" or
 * "*" as host: every interface). Returns 0 or RP_EINVAL. */
static int s_split(const char *addr, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *colon;
    size_t hn;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || end[1] != ':') return RP_EINVAL;
        addr++;
        hn = (size_t)(end - addr);
        colon = end + 1;
    } else {
        if (!(colon = strrchr(addr, ':'))) return RP_EINVAL;
        hn = (size_t)(colon - addr);
    }
    const char *p = colon + 1;
    size_t pn = strlen(p);
    if (hn >= hcap || pn == 0 || pn >= pcap || strspn(p, "0123456789") != pn) return RP_EINVAL;
    long v = strtol(p, NULL, 10);
    if (v < 1 || v > 65535) return RP_EINVAL;
    memcpy(host, addr, hn);
    host[hn] = 0;
    if (!strcmp(host, "*")) host[0] = 0;
    memcpy(port, p, pn + 1);
    return 0;
}

/* Creates the listening socket for addr: bound here rather than by
 * libmicrohttpd, so that a port in use is reported with its cause. Returns
 * the socket, or RP_EINVAL / RP_EIO (logged). *v6 tells its family. */
static int s_listen(const char *addr, int *v6)
{
    char host[256], port[8];
    if (s_split(addr, host, sizeof host, port, sizeof port)) {
        log_error("--http %s: want HOST:PORT (e.g. 127.0.0.1:9555 or [::1]:9555), port 1-65535",
                  addr);
        return RP_EINVAL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *ai = NULL;
    int gai = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
    if (gai) {
        log_error("--http %s: cannot resolve '%s': %s", addr, host, gai_strerror(gai));
        return RP_EINVAL;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(fd, ai->ai_addr, ai->ai_addrlen) || listen(fd, 64)) {
        int e = errno;
        log_error("--http %s: cannot listen: %s%s", addr, strerror(e),
                  e == EADDRINUSE ? " (another process has this port; choose another with "
                                    "--http, or --http \"\" for none)"
                                  : "");
        if (fd >= 0) close(fd);
        freeaddrinfo(ai);
        return RP_EIO;
    }
    *v6 = ai->ai_family == AF_INET6;
    freeaddrinfo(ai);
    return fd;
}

int http_start(const config_opt_t *opts, const http_source_t *src, http_t **out)
{
    *out = NULL;
    const char *addr = config_get(opts, "http");
    const char *token_file = config_get(opts, "http-token-file");
    if (!addr || !*addr) return 0;
    char ep[300];
    snprintf(ep, sizeof ep, "tcp://%s", addr);
    int local = daemon_endpoint_is_local(ep);
    if (!local && !(token_file && *token_file)) {
        log_error("--http %s: refusing an HTTP endpoint beyond loopback without "
                  "--http-token-file (a bearer token every request must carry); use a "
                  "127.0.0.1 address, or give a token file",
                  addr);
        return RP_EINVAL;
    }
    http_t *self = calloc(1, sizeof *self);
    if (!self) return RP_ENOMEM;
    self->src = *src;
    int rc;
    if (token_file && *token_file && (rc = s_read_token(self, token_file))) {
        free(self);
        return rc;
    }
    int v6 = 0, fd = s_listen(addr, &v6);
    if (fd < 0) {
        free(self);
        return fd;
    }
    /* No internal thread: MHD_run is called from the daemon's poll loop. */
    /* Suspend/resume: an event stream waiting for its next event is left
     * out of libmicrohttpd's polling instead of being asked for data in a
     * busy loop; resuming it wakes the epoll descriptor (an eventfd). */
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME |
                     (v6 ? MHD_USE_IPv6 : 0);
    /* The logger first: options parsed before it would log to stderr directly. */
    self->mhd = MHD_start_daemon(flags, 0, NULL, NULL, s_handle, self, MHD_OPTION_EXTERNAL_LOGGER,
                                 s_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONN_LIMIT,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_CONN_TIMEOUT_S,
                                 MHD_OPTION_UNESCAPE_CALLBACK, s_unescape, NULL, MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        self->mhd ? MHD_get_daemon_info(self->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (!info) {
        log_error("--http %s: libmicrohttpd did not start", addr);
        if (self->mhd) MHD_stop_daemon(self->mhd);
        else close(fd);
        free(self);
        return RP_EIO;
    }
    self->epoll_fd = info->epoll_fd;
    log_info("http: serving /metrics, /v1/status%s on %s%s",
             src->route ? " and the role's /v1/ paths" : "", addr,
             self->token_len ? " (bearer token required)" : "");
    if (!local)
        log_warn("http: %s is reachable beyond this machine; requests need the bearer token",
                 addr);
    *out = self;
    return 0;
}

void http_destroy(http_t **self_p)
{
    http_t *self = *self_p;
    if (!self) return;
    /* libmicrohttpd must not be stopped with a suspended connection: end
     * every stream, let it see that, then stop (which frees the streams). */
    for (http_stream_t *s = self->streams; s; s = s->next) s_stream_end(s, 1);
    if (self->streams) MHD_run(self->mhd);
    MHD_stop_daemon(self->mhd); /* closes the listening socket too */
    memset(self->token, 0, sizeof self->token);
    free(self);
    *self_p = NULL;
}

int http_fd(const http_t *self)
{
    return self ? self->epoll_fd : -1;
}

long http_timeout(const http_t *self, long ms)
{
    if (!self) return ms;
    if (self->kick) return 0;
    MHD_UNSIGNED_LONG_LONG t;
    if (MHD_get_timeout(self->mhd, &t) == MHD_YES && (ms < 0 || t < (MHD_UNSIGNED_LONG_LONG)ms))
        ms = (long)t;
    if (self->streams) {
        int64_t now = clock_mono_ms();
        for (const http_stream_t *s = self->streams; s; s = s->next) {
            int64_t due = s->last_write_ms + HTTP_STREAM_PING_MS - now;
            if (due < 0) due = 0;
            if (ms < 0 || due < ms) ms = (long)due;
        }
    }
    return ms;
}

/* libmicrohttpd does not watch a suspended connection, so a client that
 * leaves an idle stream would hold its slot until the next write: once a
 * second, their sockets are polled (without reading) for a hang-up. */
static void s_reap_gone(http_t *self, int64_t now)
{
    if (now - self->gone_check_ms < 1000) return;
    self->gone_check_ms = now;
    struct pollfd fds[HTTP_STREAMS_MAX];
    http_stream_t *which[HTTP_STREAMS_MAX];
    nfds_t n = 0;
    for (http_stream_t *s = self->streams; s && n < HTTP_STREAMS_MAX; s = s->next) {
        const union MHD_ConnectionInfo *ci;
        if (!s->suspended || s->closing ||
            !(ci = MHD_get_connection_info(s->conn, MHD_CONNECTION_INFO_CONNECTION_FD)))
            continue;
        fds[n] = (struct pollfd){.fd = ci->connect_fd, .events = POLLRDHUP};
        which[n++] = s;
    }
    if (n == 0 || poll(fds, n, 0) <= 0) return;
    for (nfds_t i = 0; i < n; i++)
        if (fds[i].revents & (POLLRDHUP | POLLHUP | POLLERR)) s_stream_end(which[i], 2);
}

void http_serve(http_t *self, int readable)
{
    if (!self) return;
    if (self->streams) {
        int64_t now = clock_mono_ms();
        s_reap_gone(self, now);
        static const char ping[] = ": ping\n\n";
        for (http_stream_t *s = self->streams; s; s = s->next)
            if (!s->closing && now - s->last_write_ms >= HTTP_STREAM_PING_MS)
                http_stream_write(s, ping, sizeof ping - 1);
    }
    MHD_UNSIGNED_LONG_LONG t;
    if (readable || self->kick || (MHD_get_timeout(self->mhd, &t) == MHD_YES && t == 0)) {
        self->kick = 0;
        MHD_run(self->mhd);
    }
}
