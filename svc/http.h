/* A daemon's HTTP endpoint (libmicrohttpd): GET /metrics (Prometheus text
 * format 0.0.4) and GET /v1/status (JSON), rendered by svc/metrics.c. It
 * runs inside the daemon's one poll loop: libmicrohttpd's epoll descriptor
 * is one more poll slot and requests are answered on the loop's thread, so
 * handlers read the counters without locks. Beyond loopback every request
 * must carry the bearer token of --http-token-file. */
#ifndef RP_HTTP_H
#define RP_HTTP_H

#include "control.h"
#include "metrics.h"
#include "../common/config.h"
#include "../common/store.h"

/* The flag rows of the HTTP endpoint for a daemon's option table; def is
 * the default HOST:PORT ("" for off). */
#define HTTP_OPTS(def)                                                                             \
    {"http", def, "HOST:PORT of the HTTP endpoint (/metrics, /v1/status); empty: off", NULL},     \
        {"http-token-file", "",                                                                    \
         "file with the bearer token HTTP requests must carry; required beyond loopback", NULL}

/* What a request reads, on the loop's thread; everything borrowed for the
 * life of the endpoint. */
typedef struct {
    const char *role;             /* CTL_ROLE_*: the role label and "role" */
    control_fill_fn fill;         /* the control counters (svc/control.h) */
    void *arg;                    /* fill's argument */
    const metrics_hist_t *commit; /* commit durations, or NULL */
    store_t *store;               /* for the LMDB gauges and flush times, or NULL */
    const metrics_hist_t *latency; /* ingest-to-aggregate latency, or NULL */
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

/* Stops the endpoint, closing its connections; accepts NULL and sets
 * *self_p to NULL. */
void http_destroy(http_t **self_p);

/* The descriptor to poll for input (a zmq_pollitem_t's fd), or -1 when self
 * is NULL (zmq_poll then ignores the slot). */
int http_fd(const http_t *self);

/* The poll timeout to use: ms, or less when libmicrohttpd has a timer due
 * sooner (an idle connection to close, or buffered work). NULL: ms. */
long http_timeout(const http_t *self, long ms);

/* Accepts, reads and answers what is ready, without blocking: call after
 * each poll with readable set when http_fd had input; without input it runs
 * only when a timer of http_timeout is due. NULL: nothing. */
void http_serve(http_t *self, int readable);

#endif
