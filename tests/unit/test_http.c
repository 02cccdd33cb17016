/* Unit tests for svc/http.h's route API, driven over real loopback sockets
 * with the endpoint served from the test's own loop (as a daemon's poll
 * loop does): a role's route sees the decoded path and checked parameters,
 * the token is taken from the header or access_token on /v1/ and /metrics
 * only, other methods get 405, and event streams send what is written,
 * stop at HTTP_STREAMS_MAX, drop a client that falls too far behind and
 * report every end through their closed callback. */
#include "../../svc/http.h"

#include "fixture.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    char path[256];
    http_stream_t *streams[HTTP_STREAMS_MAX + 1];
    int nstreams, closed, refused;
} ctx_t;

static ctx_t g_ctx;
static http_t *g_http;
static int g_port;
static char g_tokfile[64];

static void s_closed(void *arg, http_stream_t *s)
{
    ctx_t *c = arg;
    for (int i = 0; i < c->nstreams; i++)
        if (c->streams[i] == s) c->streams[i] = NULL;
    c->closed++;
}

static int s_route(void *arg, http_req_t *req)
{
    ctx_t *c = arg;
    const char *path = http_req_path(req);
    snprintf(c->path, sizeof c->path, "%s", path);
    if (!strcmp(path, "/v1/echo")) {
        static const char *const names[] = {"a", NULL};
        char why[200];
        if (http_req_check_params(req, names, why, sizeof why)) {
            http_reply_error(req, 400, "%s", why);
            return 1;
        }
        const char *a = "";
        size_t n = 0;
        http_req_param(req, "a", &a, &n);
        metrics_buf_t b;
        metrics_buf_init(&b);
        metrics_buf_printf(&b, "{\"a\":\"%s\",\"n\":%zu}", a, n);
        http_reply_json(req, 200, &b);
        return 1;
    }
    if (!strcmp(path, "/v1/stream")) {
        http_stream_t *s = NULL;
        int rc = http_reply_stream(req, s_closed, c, &s);
        if (rc == RP_EBUSY) {
            c->refused++;
            http_reply_error(req, 503, "busy");
        } else if (s) {
            c->streams[c->nstreams++] = s;
            http_stream_write(s, "event: hello\n\n", 14);
        }
        return 1;
    }
    return 0;
}

static int s_assets(void *arg, http_req_t *req)
{
    (void)arg;
    if (strcmp(http_req_path(req), "/index.html")) return 0;
    http_reply_static(req, "<p>hi</p>", 9, "text/html");
    return 1;
}

/* A port no socket listens on now (a small race, fine for a test). */
static int s_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert(!bind(fd, (struct sockaddr *)&a, sizeof a) &&
              !getsockname(fd, (struct sockaddr *)&a, &len));
    close(fd);
    return ntohs(a.sin_port);
}

static void s_start(int with_token)
{
    memset(&g_ctx, 0, sizeof g_ctx);
    char addr[64];
    g_port = s_free_port();
    snprintf(addr, sizeof addr, "127.0.0.1:%d", g_port);
    snprintf(g_tokfile, sizeof g_tokfile, "/tmp/riskpipe-http-test-%d", (int)getpid());
    FILE *f = fopen(g_tokfile, "w");
    cr_assert_not_null(f);
    fputs("s3cret\n", f);
    fclose(f);
    config_opt_t opts[] = {{"http", "", "", addr},
                           {"http-token-file", "", "", with_token ? g_tokfile : ""},
                           {NULL, NULL, NULL, NULL}};
    http_source_t src = {.role = "test", .route = s_route, .assets = s_assets, .route_arg = &g_ctx};
    RP_ASSERT_OK(http_start(opts, &src, &g_http));
    cr_assert_not_null(g_http);
}

static void s_stop(void)
{
    http_destroy(&g_http);
    unlink(g_tokfile);
}

/* Serves for ms milliseconds, as a daemon's loop would. */
static void s_pump(int ms)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        struct pollfd p = {.fd = http_fd(g_http), .events = POLLIN};
        int n = poll(&p, 1, (int)http_timeout(g_http, 5));
        http_serve(g_http, n > 0 && (p.revents & POLLIN));
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

/* A connected client socket (non-blocking); rcvbuf > 0 sets SO_RCVBUF. */
static int s_connect(int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)g_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "%s", strerror(errno));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* Appends what fd has to buf[cap] at *len; returns 0 once the peer closed. */
static int s_drain(int fd, char *buf, size_t cap, size_t *len)
{
    for (;;) {
        ssize_t n = recv(fd, buf + *len, cap - 1 - *len, 0);
        if (n > 0) {
            *len += (size_t)n;
            buf[*len] = 0;
            if (*len + 1 >= cap) return 1;
        } else {
            return n == 0 ? 0 : 1;
        }
    }
}

/* Sends the request line line with extra header lines, reads the whole
 * answer (the connection closes after it) into a static buffer. */
static const char *s_ask(const char *method_path, const char *headers)
{
    static char buf[65536];
    size_t len = 0;
    char req[1024];
    int fd = s_connect(0);
    snprintf(req, sizeof req, "%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n%s\r\n", method_path,
             headers ? headers : "");
    cr_assert_eq(send(fd, req, strlen(req), 0), (ssize_t)strlen(req));
    buf[0] = 0;
    for (int i = 0; i < 400 && s_drain(fd, buf, sizeof buf, &len); i++)
        s_pump(5);
    close(fd);
    return buf;
}

static int s_status(const char *answer)
{
    int code = 0;
    sscanf(answer, "HTTP/1.%*d %d", &code);
    return code;
}

static const char *s_body(const char *answer)
{
    const char *b = strstr(answer, "\r\n\r\n");
    return b ? b + 4 : "";
}

TestSuite(http, .fini = s_stop);

Test(http, a_route_gets_the_decoded_path_and_its_parameters)
{
    s_start(0);
    const char *a = s_ask("GET /v1/echo?a=x%2By+z", NULL);
    cr_assert_eq(s_status(a), 200, "%s", a);
    cr_assert_str_eq(s_body(a), "{\"a\":\"x+y z\",\"n\":5}");
    cr_assert_str_eq(g_ctx.path, "/v1/echo");
    s_ask("GET /v1/tr%2Fades%C3%A9", NULL);
    cr_assert_str_eq(g_ctx.path, "/v1/tr/ades\xc3\xa9");
}

Test(http, a_percent_00_is_not_the_end_of_the_path)
{
    s_start(0);
    const char *a = s_ask("GET /v1/A%00B", NULL);
    cr_assert_eq(s_status(a), 404, "%s", a);
    cr_assert_str_eq(g_ctx.path, "/v1/A\xff"
                                 "B");
}

Test(http, unknown_repeated_or_nul_parameters_are_refused)
{
    s_start(0);
    const char *a = s_ask("GET /v1/echo?b=1", NULL);
    cr_assert(s_status(a) == 400 && strstr(a, "unknown query parameter 'b'"), "%s", a);
    a = s_ask("GET /v1/echo?a=1&a=2", NULL);
    cr_assert(s_status(a) == 400 && strstr(a, "more than once"), "%s", a);
    a = s_ask("GET /v1/echo?a=1%002", NULL);
    cr_assert_eq(s_status(a), 200, "a decoded NUL is 0xFF, for the route to refuse: %s", a);
    a = s_ask("GET /v1/echo?access_token=zz", NULL);
    cr_assert_eq(s_status(a), 200, "access_token is always allowed: %s", a);
}

Test(http, the_token_comes_as_a_header_or_access_token)
{
    s_start(1);
    cr_assert_eq(s_status(s_ask("GET /v1/echo", NULL)), 401);
    cr_assert_eq(s_status(s_ask("GET /metrics", NULL)), 401);
    cr_assert_eq(s_status(s_ask("GET /v1/echo", "Authorization: Bearer s3cret\r\n")), 200);
    cr_assert_eq(s_status(s_ask("GET /v1/echo", "Authorization: bearer s3cret\r\n")), 200);
    cr_assert_eq(s_status(s_ask("GET /v1/echo", "Authorization: Bearer s3cre\r\n")), 401);
    cr_assert_eq(s_status(s_ask("GET /v1/echo?access_token=s3cret", NULL)), 200);
    cr_assert_eq(s_status(s_ask("GET /v1/echo?access_token=s3cret2", NULL)), 401);
}

Test(http, static_files_need_no_token_and_unknown_ones_are_404)
{
    s_start(1);
    const char *a = s_ask("GET /index.html", NULL);
    cr_assert(s_status(a) == 200 && !strcmp(s_body(a), "<p>hi</p>") &&
                  strstr(a, "Content-Type: text/html"),
              "%s", a);
    a = s_ask("GET /nope.js", NULL);
    cr_assert(s_status(a) == 404 && !strcmp(s_body(a), "{\"error\":\"not found\"}\n"), "%s", a);
}

Test(http, other_methods_are_405_with_allow)
{
    s_start(0);
    const char *a = s_ask("DELETE /v1/echo", NULL);
    cr_assert(s_status(a) == 405 && strstr(a, "Allow: GET, HEAD"), "%s", a);
}

Test(http, a_stream_sends_what_is_written_as_it_comes)
{
    s_start(0);
    int fd = s_connect(0);
    const char *req = "GET /v1/stream HTTP/1.1\r\nHost: x\r\n\r\n";
    send(fd, req, strlen(req), 0);
    char buf[8192] = "";
    size_t len = 0;
    for (int i = 0; i < 200 && !strstr(buf, "hello"); i++) {
        s_pump(5);
        s_drain(fd, buf, sizeof buf, &len);
    }
    cr_assert(strstr(buf, "Content-Type: text/event-stream") && strstr(buf, "event: hello"), "%s",
              buf);
    cr_assert_eq(g_ctx.nstreams, 1);
    RP_ASSERT_OK(http_stream_write(g_ctx.streams[0], "data: 42\n\n", 10));
    for (int i = 0; i < 200 && !strstr(buf, "data: 42"); i++) {
        s_pump(5);
        s_drain(fd, buf, sizeof buf, &len);
    }
    cr_assert(strstr(buf, "data: 42"), "a write to an idle stream is sent: %s", buf);
    close(fd);
    s_pump(1500); /* the hang-up is noticed within a second */
    cr_assert_eq(g_ctx.closed, 1, "closed callback after the client left");
}

Test(http, head_on_a_stream_is_answered_without_one)
{
    s_start(0);
    const char *a = s_ask("HEAD /v1/stream", NULL);
    cr_assert(s_status(a) == 200 && strstr(a, "text/event-stream"), "%s", a);
    cr_assert_eq(g_ctx.nstreams, 0);
}

Test(http, streams_beyond_the_limit_are_refused_and_destroy_ends_the_rest)
{
    s_start(0);
    int fds[HTTP_STREAMS_MAX];
    for (int i = 0; i < HTTP_STREAMS_MAX; i++) {
        fds[i] = s_connect(0);
        const char *req = "GET /v1/stream HTTP/1.1\r\nHost: x\r\n\r\n";
        send(fds[i], req, strlen(req), 0);
    }
    for (int i = 0; i < 100 && g_ctx.nstreams < HTTP_STREAMS_MAX; i++)
        s_pump(5);
    cr_assert_eq(g_ctx.nstreams, HTTP_STREAMS_MAX);
    cr_assert_eq(s_status(s_ask("GET /v1/stream", NULL)), 503);
    cr_assert_eq(g_ctx.refused, 1);
    http_destroy(&g_http);
    cr_assert_eq(g_ctx.closed, HTTP_STREAMS_MAX, "every stream's closed callback ran");
    for (int i = 0; i < HTTP_STREAMS_MAX; i++)
        close(fds[i]);
}

Test(http, a_client_too_far_behind_is_dropped)
{
    s_start(0);
    int fd = s_connect(4096); /* reads nothing, small buffer */
    const char *req = "GET /v1/stream HTTP/1.1\r\nHost: x\r\n\r\n";
    send(fd, req, strlen(req), 0);
    for (int i = 0; i < 100 && g_ctx.nstreams < 1; i++)
        s_pump(5);
    cr_assert_eq(g_ctx.nstreams, 1);
    static char chunk[1 << 20];
    memset(chunk, 'x', sizeof chunk);
    int rc = 0, writes = 0;
    while (rc == 0 && writes < 64) {
        rc = http_stream_write(g_ctx.streams[0], chunk, sizeof chunk);
        writes++;
        s_pump(20); /* what the socket takes goes out */
    }
    RP_ASSERT_RC(rc, RP_EFULL, "after %d writes of 1 MiB", writes);
    cr_assert(writes > 4 && writes < 64, "%d writes", writes);
    s_pump(200);
    cr_assert_eq(g_ctx.closed, 1, "the dropped client's stream ended");
    close(fd);
}
