/* The HTTP endpoint on libmicrohttpd's external epoll loop; see http.h. */
#include "http.h"
#include "daemon.h"
#include "fsync.h"
#include "../common/log.h"
#include "../common/rperr.h"

#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define HTTP_TOKEN_MAX 512
#define HTTP_CONN_LIMIT 32     /* concurrent connections: scrapers and curl, not a web site */
#define HTTP_CONN_TIMEOUT_S 10 /* an idle connection is closed after this */

struct http_t {
    struct MHD_Daemon *mhd;
    int epoll_fd;
    http_source_t src;
    char token[HTTP_TOKEN_MAX]; /* empty: no token required */
    size_t token_len;
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

/* 1 when the request carries "Authorization: Bearer <token>" (or no token
 * is required). The comparison takes the same time wherever it differs. */
static int s_authorized(const http_t *self, struct MHD_Connection *conn)
{
    if (!self->token_len) return 1;
    const char *h =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!h || strncmp(h, "Bearer ", 7)) return 0;
    h += 7;
    size_t n = strlen(h);
    unsigned char diff = n != self->token_len;
    for (size_t i = 0; i < self->token_len; i++)
        diff |= (unsigned char)(self->token[i] ^ (i < n ? h[i] : 0));
    return diff == 0;
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

/* A JSON error body {"error": why} (why is a literal without quotes). */
static enum MHD_Result s_error(struct MHD_Connection *conn, unsigned code, const char *why,
                               const char *hname, const char *hvalue)
{
    metrics_buf_t b;
    metrics_buf_init(&b);
    metrics_buf_printf(&b, "{\"error\":\"%s\"}\n", why);
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

/* libmicrohttpd's request handler: called on the loop's thread from
 * MHD_run, once the request's headers are in. Bodies are never read: every
 * endpoint is a GET. */
static enum MHD_Result s_handle(void *cls, struct MHD_Connection *conn, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    http_t *self = cls;
    if (!s_authorized(self, conn))
        return s_error(conn, MHD_HTTP_UNAUTHORIZED, "missing or wrong bearer token",
                       MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    int is_metrics = !strcmp(url, "/metrics"), is_status = !strcmp(url, "/v1/status");
    if (!is_metrics && !is_status)
        return s_error(conn, MHD_HTTP_NOT_FOUND, "not found", NULL, NULL);
    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD))
        return s_error(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
                       MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    return s_render(self, conn, is_status);
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
    unsigned flags = MHD_USE_EPOLL | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
    /* The logger first: options parsed before it would log to stderr directly. */
    self->mhd = MHD_start_daemon(flags, 0, NULL, NULL, s_handle, self, MHD_OPTION_EXTERNAL_LOGGER,
                                 s_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONN_LIMIT,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_CONN_TIMEOUT_S,
                                 MHD_OPTION_END);
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
    log_info("http: serving /metrics and /v1/status on %s%s", addr,
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
    MHD_UNSIGNED_LONG_LONG t;
    if (self && MHD_get_timeout(self->mhd, &t) == MHD_YES &&
        (ms < 0 || t < (MHD_UNSIGNED_LONG_LONG)ms))
        return (long)t;
    return ms;
}

void http_serve(http_t *self, int readable)
{
    if (!self) return;
    MHD_UNSIGNED_LONG_LONG t;
    if (readable || (MHD_get_timeout(self->mhd, &t) == MHD_YES && t == 0))
        MHD_run(self->mhd);
}
