/* A daemon's HTTP endpoint (libmicrohttpd): GET /metrics (Prometheus text
 * format 0.0.4) and GET /v1/status (JSON), rendered by svc/metrics.c, and
 * whatever routes the role adds (the reducer's aggregates and event stream,
 * the state's trades) through a small API that keeps libmicrohttpd's types
 * out of the roles. It runs inside the daemon's one poll loop:
 * libmicrohttpd's epoll descriptor is one more poll slot and requests are
 * answered on the loop's thread, so handlers read the counters and open
 * their LMDB read transactions without locks. With --http-token-file every
 * request for /metrics or under /v1/ must carry the bearer token, in an
 * "Authorization: Bearer" header or as the access_token query parameter
 * (RFC 6750 2.3: a browser's EventSource cannot set headers); other paths
 * (a role's static files) need none. Only GET and HEAD are served. */
#ifndef RP_HTTP_H
#define RP_HTTP_H

#include "control.h"
#include "metrics.h"
#include "../common/config.h"
#include "../common/store.h"

#include <stddef.h>
#include <stdint.h>

/* The flag rows of the HTTP endpoint for a daemon's option table; def is
 * the default HOST:PORT ("" for off). */
#define HTTP_OPTS(def)                                                                             \
    {"http", def, "HOST:PORT of the HTTP endpoint (/metrics, /v1/...); empty: off", NULL},        \
        {"http-token-file", "",                                                                    \
         "file with the bearer token HTTP requests must carry; required beyond loopback", NULL}

#define HTTP_STREAMS_MAX 16                 /* open event streams, all roles' together */
#define HTTP_STREAM_BEHIND_MAX (4u << 20)   /* bytes a stream client may fall behind */
#define HTTP_STREAM_PING_MS 15000           /* ": ping" after this long without an event */

/* One request as a role's route sees it; valid only during the route call. */
typedef struct http_req_t http_req_t;

/* A role's handler for the paths the generic part does not answer, called
 * on the loop's thread for GET and HEAD requests only, the token already
 * checked where one is due. It answers with exactly one http_reply_* and
 * returns 1, or returns 0 when it has no such path (then 404). It must not
 * block: it may read LMDB, never write it. */
typedef int (*http_route_fn)(void *arg, http_req_t *req);

/* What a request reads, on the loop's thread; everything borrowed for the
 * life of the endpoint. The first six members are what every daemon
 * gives; the routes are a role's own (NULL: none). */
typedef struct {
    const char *role;             /* CTL_ROLE_*: the role label and "role" */
    control_fill_fn fill;         /* the control counters (svc/control.h) */
    void *arg;                    /* fill's argument */
    const metrics_hist_t *commit; /* commit durations, or NULL */
    store_t *store;               /* for the LMDB gauges and flush times, or NULL */
    const metrics_hist_t *latency; /* ingest-to-aggregate latency, or NULL */
    http_route_fn route;          /* paths under /v1/ (token checked), or NULL */
    http_route_fn assets;         /* other paths but /metrics (no token), or NULL */
    void *route_arg;              /* the argument of route and assets */
} http_source_t;

typedef struct http_t http_t;

/* Starts the endpoint that --http and --http-token-file (HTTP_OPTS) of opts
 * name, reading src (copied; what it points to is borrowed). *out is set to
 * the new endpoint (caller owns; http_destroy), or to NULL when --http is
 * empty. Returns 0; RP_EINVAL for a malformed --http, a non-loopback address
 * without --http-token-file or an unreadable or empty token file; RP_EIO
 * when the address cannot be bound (e.g. the port is in use). Each error is
 * logged with the flag's name. */
int http_start(const config_opt_t *opts, const http_source_t *src, http_t **out);

/* Stops the endpoint, ending its event streams (their closed callbacks run
 * now) and closing its connections; accepts NULL and sets *self_p to NULL. */
void http_destroy(http_t **self_p);

/* The descriptor to poll for input (a zmq_pollitem_t's fd), or -1 when self
 * is NULL (zmq_poll then ignores the slot). */
int http_fd(const http_t *self);

/* The poll timeout to use: ms, or less when libmicrohttpd has a timer due
 * sooner (an idle connection to close, buffered work, a woken stream) or a
 * stream's ping is due. NULL: ms. */
long http_timeout(const http_t *self, long ms);

/* Sends the pings that are due, then accepts, reads and answers what is
 * ready, without blocking: call after each poll with readable set when
 * http_fd had input; without input libmicrohttpd runs only when its timer
 * is due or a stream was written to. NULL: nothing. */
void http_serve(http_t *self, int readable);

/* The request's path, percent-decoded, without the query string. A %00 in
 * the URL is decoded as byte 0xFF rather than ending the string early: it is
 * never valid UTF-8, so the text checks refuse it. */
const char *http_req_path(const http_req_t *req);

/* Checks the query: every parameter is one of names (NULL-terminated) or
 * access_token, none given twice, and none holds a NUL. Returns 0, or
 * RP_EINVAL with a reason in why[whylen] that names the parameter. */
int http_req_check_params(http_req_t *req, const char *const *names, char *why, size_t whylen);

/* The percent-decoded value of query parameter name (the first one): sets
 * *val (borrowed for the request, NUL-terminated; "" for "?name" without
 * '=') and *len, and returns 0; RP_ENOTFOUND when absent. */
int http_req_param(http_req_t *req, const char *name, const char **val, size_t *len);

/* Parses s[0..len) strictly as a decimal integer in [min, max]: digits only
 * (no sign, space or other character), at least one. Returns 0 with *out, or
 * RP_EINVAL (not such a number) or RP_ERANGE (out of the range). */
int http_parse_uint(const char *s, size_t len, uint64_t min, uint64_t max, uint64_t *out);

/* Answers with status and the JSON text of body, as application/json.
 * body's text is taken (body is empty afterwards, whatever the result).
 * Returns 0, or RP_ENOMEM when no response could be made (body->failed
 * included: then 500, or the connection is closed). */
int http_reply_json(http_req_t *req, unsigned status, metrics_buf_t *body);

/* Answers with status and {"error": TEXT}, TEXT printf-formatted (and
 * escaped here). Returns 0 or RP_ENOMEM (the connection is then closed). */
int http_reply_error(http_req_t *req, unsigned status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Answers 200 with body[0..len) (static: borrowed for the life of the
 * process) as Content-Type type. Returns 0 or RP_ENOMEM. */
int http_reply_static(http_req_t *req, const char *body, size_t len, const char *type);

/* An open text/event-stream response. */
typedef struct http_stream_t http_stream_t;

/* Called once when a stream's connection ends (the client left, it was
 * dropped, or http_destroy); the stream is freed as soon as it returns. */
typedef void (*http_stream_closed_fn)(void *arg, http_stream_t *stream);

/* Answers with a text/event-stream response that stays open: whatever
 * http_stream_write appends is sent as it comes, and ": ping" after
 * HTTP_STREAM_PING_MS without a write (which also notices a client that
 * left). Returns 0 with *out set (borrowed until closed(arg, *out) runs);
 * 0 with *out NULL for a HEAD request, answered with the headers alone;
 * RP_EBUSY when HTTP_STREAMS_MAX streams are open and RP_ENOMEM, with
 * nothing answered (answer with http_reply_error). */
int http_reply_stream(http_req_t *req, http_stream_closed_fn closed, void *arg,
                      http_stream_t **out);

/* Appends data[0..len) to what s sends and wakes its connection. A client
 * that still has unsent bytes and would then have more than
 * HTTP_STREAM_BEHIND_MAX is too slow: it is dropped (logged at warn, its
 * closed callback runs later from http_serve) and RP_EFULL returned; so it
 * is on an allocation failure, with RP_ENOMEM. A write to a stream already
 * being closed returns RP_EIO. */
int http_stream_write(http_stream_t *s, const char *data, size_t len);

#endif
