/* Signals, sockets and the control (stats) endpoint shared by the daemons. */
#include "daemon.h"
#include "chaos.h"
#include "log.h"
#include "../proto/frame.h"
#include "../proto/mp.h"

#include <errno.h>
#include <string.h>

static volatile sig_atomic_t s_stop;

int daemon_args(config_opt_t *opts, int argc, char **argv, const char *usage, const char *role)
{
    int npos;
    int rc = config_parse(opts, argc, argv, 1, &npos, usage);
    if (rc) return rc > 0 ? 0 : 2;
    if (npos) {
        fprintf(stderr, "unexpected argument '%s' (see --help)\n", argv[1]);
        return 2;
    }
    if (log_init(role, config_get(opts, "log-level"))) {
        fprintf(stderr, "--log-level must be error, warn, info or debug\n");
        return 2;
    }
    return chaos_init(role) ? 2 : -1;
}

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

void daemon_signals(void)
{
    zsys_handler_set(NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int daemon_stopping(void)
{
    return s_stop != 0;
}

zsock_t *daemon_socket(int type, const char *endpoint, int bind, int hwm, int linger_ms,
                       const char *what)
{
    zsock_t *s = zsock_new(type);
    if (!s) {
        log_error("%s: cannot create socket: %s", what, zmq_strerror(errno));
        return NULL;
    }
    if (hwm > 0) {
        zsock_set_sndhwm(s, hwm);
        zsock_set_rcvhwm(s, hwm);
    }
    zsock_set_linger(s, linger_ms);
    int rc = bind ? zsock_bind(s, "%s", endpoint) : zsock_connect(s, "%s", endpoint);
    if (rc < 0) {
        log_error("%s: cannot %s %s: %s", what, bind ? "bind" : "connect", endpoint,
                  zmq_strerror(errno));
        zsock_destroy(&s);
        return NULL;
    }
    log_info("%s: %s %s", what, bind ? "bound to" : "connected to", endpoint);
    return s;
}

int daemon_recv_parts(void *sock, zmq_msg_t *parts, int max, int *truncated)
{
    int n = 0, more = 1;
    *truncated = 0;
    while (more) {
        zmq_msg_t tmp, *m = n < max ? &parts[n] : &tmp;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            int e = errno;
            zmq_msg_close(m);
            if (n == 0 && (e == EAGAIN || e == EINTR)) return 0;
            log_error("receive: %s", zmq_strerror(e));
            for (int i = 0; i < n && i < max; i++) zmq_msg_close(&parts[i]);
            return -1;
        }
        more = zmq_msg_more(m);
        if (n < max) {
            n++;
        } else {
            *truncated = 1;
            zmq_msg_close(m);
        }
    }
    return n;
}

void daemon_serve_control(void *rep, daemon_stats_fn fill, void *arg)
{
    zmq_msg_t req;
    zmq_msg_init(&req);
    if (zmq_msg_recv(&req, rep, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&req);
        return;
    }
    while (zmq_msg_more(&req)) { /* REP hides envelopes; drop any extra parts */
        zmq_msg_close(&req);
        zmq_msg_init(&req);
        if (zmq_msg_recv(&req, rep, 0) < 0) break;
    }
    char why[160];
    const char *cmd = NULL;
    size_t cmd_len = 0;
    msgpack_unpacked unp;
    int bad = frame_ctl_req_decode(zmq_msg_data(&req), zmq_msg_size(&req), &unp, &cmd, &cmd_len,
                                   why, sizeof why);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    if (!bad && cmd_len == 5 && memcmp(cmd, "stats", 5) == 0) {
        const char *names[128];
        long long values[128];
        int n = fill(arg, names, values, 128);
        frame_ctl_rep_head(&pk, (uint32_t)n);
        for (int i = 0; i < n; i++) {
            mp_pack_cstr(&pk, names[i]);
            msgpack_pack_long_long(&pk, values[i]);
        }
    } else {
        if (bad) log_warn("bad control request: %s", why);
        frame_ctl_rep_head(&pk, 1);
        mp_pack_cstr(&pk, "error");
        mp_pack_cstr(&pk, bad ? why : "unknown command (try \"stats\")");
    }
    msgpack_unpacked_destroy(&unp);
    zmq_msg_close(&req);
    if (zmq_send(rep, sb.data, sb.size, 0) < 0) log_warn("control reply: %s", zmq_strerror(errno));
    msgpack_sbuffer_destroy(&sb);
}
