/* riskpipe-mapper: stateless worker. Pulls WORK batches from the state
 * process, pre-aggregates each into per-path deltas and pushes one RESULT per
 * batch to the reducer. Start or kill any number at any time: an unfinished
 * batch is re-sent by the state process and de-duplicated by the reducer.
 * With --http its counters are served on /metrics and /v1/status. */
#include "map.h"
#include "preagg.h"
#include "../common/chaos.h"
#include "../common/log.h"
#include "../common/rperr.h"
#include "../proto/ctl.h"
#include "../proto/frame.h"
#include "../svc/daemon.h"
#include "../svc/http.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static config_opt_t s_opts[] = {
    {"work", "tcp://127.0.0.1:5557",
     "batches from the state process (PULL, connect); with state shards, every shard's work "
     "endpoint, comma-separated", NULL},
    {"results", "tcp://127.0.0.1:5558", "deltas to the reducer (PUSH, connect)", NULL},
    {"max-frame", "134217728", "largest work frame in bytes (a larger one is dropped)", NULL},
    HTTP_OPTS(""),
    DAEMON_KEYS_OPT,
    DAEMON_INSECURE_OPT,
    DAEMON_LOG_OPT,
    {NULL, NULL, NULL, NULL}};

typedef struct {
    preagg_t *agg;
    msgpack_sbuffer sb;
    char id[FRAME_MAPPER_ID_MAX + 1];
    long long batches, bad_frames;
} mapper_t;

/* Poll slots of the loop. */
enum { POLL_WORK, POLL_HTTP, POLL_COUNT };

/* The mapper's counters (proto/ctl.h) for its HTTP endpoint; arg is the
 * mapper_t. Returns the number written. */
static int s_stats_fill(void *arg, ctl_stat_t *out, int cap)
{
    const mapper_t *m = arg;
    long long v[CTL_M_COUNT] = {[CTL_M_BATCHES_MAPPED] = m->batches,
                                [CTL_M_BAD_FRAMES] = m->bad_frames};
    int n = CTL_M_COUNT < cap ? CTL_M_COUNT : cap;
    for (int i = 0; i < n; i++) out[i] = (ctl_stat_t){ctl_mapper_names[i], v[i]};
    return n;
}

/* Sends m->sb, waiting for the reducer as long as we are not stopping. */
static int s_send(mapper_t *m, void *results)
{
    chaos_point(1, "before sending a result");
    while (!daemon_stopping()) {
        if (zmq_send(results, m->sb.data, m->sb.size, ZMQ_DONTWAIT) >= 0) {
            chaos_point(2, "after sending a result");
            return 0;
        }
        if (errno != EAGAIN && errno != EINTR) {
            int rc = rp_wrap_errno(RP_EZMQ, errno);
            log_error("results send: %s", rp_strerror(rc));
            return rc;
        }
        zmq_pollitem_t it = {results, 0, ZMQ_POLLOUT, 0};
        zmq_poll(&it, 1, 200);
    }
    return RP_ETIMEDOUT;
}

int main(int argc, char **argv)
{
    int exit_code;
    if (!daemon_args(s_opts, argc, argv,
                     "usage: riskpipe-mapper [options]\n\n"
                     "Pre-aggregates batches of changes into per-path deltas. Run any number "
                     "of them.",
                     "mapper", &exit_code))
        return exit_code;
    int64_t max_frame;
    if (config_int(s_opts, "max-frame", 1024, 1 << 30, &max_frame)) return 2;
    mapper_t m;
    http_t *http = NULL;
    memset(&m, 0, sizeof m);
    msgpack_sbuffer_init(&m.sb);
    char host[48] = "host";
    gethostname(host, sizeof host - 1);
    snprintf(m.id, sizeof m.id, "%.40s:%d", host, (int)getpid());
    exit_code = 1;
    daemon_signals();
    /* A small receive queue keeps a stopped or slow mapper from hoarding
     * batches that others could process. */
    zsock_t *work = daemon_socket(ZMQ_PULL, config_get(s_opts, "work"), DAEMON_CONNECT,
                                  &(daemon_sockopt_t){.hwm = 2, .max_msg = max_frame,
                                                      .curve_server = 1 + KEYS_STATE},
                                  "work");
    zsock_t *results = daemon_socket(ZMQ_PUSH, config_get(s_opts, "results"), DAEMON_CONNECT,
                                     &(daemon_sockopt_t){.hwm = 100, .linger_ms = 2000,
                                                         .curve_server = 1 + KEYS_REDUCER},
                                     "results");
    m.agg = preagg_new();
    if (!work || !results || !m.agg) goto out;
    if (http_start(s_opts, &(http_source_t){.role = CTL_ROLE_MAPPER, .fill = s_stats_fill, .arg = &m},
                   &http))
        goto out;
    log_info("ready as %s", m.id);
    zmq_pollitem_t items[POLL_COUNT] = {
        [POLL_WORK] = {zsock_resolve(work), 0, ZMQ_POLLIN, 0},
        [POLL_HTTP] = {NULL, http_fd(http), ZMQ_POLLIN, 0}};
    while (!daemon_stopping()) {
        if (zmq_poll(items, POLL_COUNT, http_timeout(http, 1000)) < 0 && errno != EINTR) {
            log_error("poll: %s", zmq_strerror(errno));
            goto out;
        }
        http_serve(http, items[POLL_HTTP].revents & ZMQ_POLLIN);
        for (int burst = 0; burst < 64 && !daemon_stopping(); burst++) {
            zmq_msg_t msg;
            zmq_msg_init(&msg);
            if (zmq_msg_recv(&msg, zsock_resolve(work), ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&msg);
                break;
            }
            int rc = map_work(m.agg, zmq_msg_data(&msg), zmq_msg_size(&msg), m.id, &m.sb);
            if (rc == 0) {
                m.batches++;
            } else if (rc == RP_EPROTO) {
                m.bad_frames++;
            } else {
                log_error("cannot map a batch: %s", rp_strerror(rc));
            }
            zmq_msg_close(&msg);
            if (rc == 0 && m.sb.size &&
                rp_class(s_send(&m, zsock_resolve(results))) == RP_EZMQ)
                goto out;
            msgpack_sbuffer_clear(&m.sb);
        }
    }
    log_info("stopping: %lld batches mapped, %lld bad frames", m.batches, m.bad_frames);
    exit_code = 0;
out:
    http_destroy(&http);
    preagg_destroy(&m.agg);
    zsock_destroy(&results);
    zsock_destroy(&work);
    msgpack_sbuffer_destroy(&m.sb);
    daemon_shutdown();
    return exit_code;
}
