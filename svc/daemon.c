/* Start-up, signals and sockets shared by the daemons; see daemon.h. */
#include "daemon.h"
#include "auth.h"
#include "../common/chaos.h"
#include "../common/log.h"
#include "../common/rperr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static volatile sig_atomic_t s_stop, s_hup;
static int s_insecure; /* --insecure: endpoints beyond loopback allowed */
static keys_t *s_keys; /* --keys: every socket is CURVE */
static auth_t *s_auth; /* the ZAP handler of a daemon with server sockets */
static int64_t s_last_reload_ms;

int daemon_args(config_opt_t *opts, int argc, char **argv, const char *usage, const char *role,
                int *exit_code)
{
    int npos;
    config_set_program(role);
    int rc = config_parse(opts, argc, argv, 1, &npos, usage);
    *exit_code = 2;
    if (rc) {
        if (rc > 0) *exit_code = 0; /* --help was printed */
        return 0;
    }
    if (npos) {
        fprintf(stderr, "unexpected argument '%s' (see --help)\n", argv[1]);
        return 0;
    }
    if (log_init(role, config_get(opts, "log-level"))) {
        fprintf(stderr, "--log-level must be error, warn, info or debug\n");
        return 0;
    }
    if (chaos_init(role)) return 0;
    s_insecure = config_get(opts, "insecure") != NULL;
    const char *keys = config_get(opts, "keys");
    if (keys && *keys) {
        keys_role_t r = !strcmp(role, "state") ? KEYS_STATE
                      : !strcmp(role, "reducer") ? KEYS_REDUCER : KEYS_MAPPER;
        int err = 0;
        *exit_code = 1;
        if (!(s_keys = keys_load(keys, r, &err))) return 0;
        if (r != KEYS_MAPPER && !(s_auth = auth_new(s_keys))) return 0;
        log_info("keyed: every socket is CURVE with the key set in %s", keys);
    } else if (s_insecure)
        log_warn("INSECURE: --insecure allows endpoints beyond loopback, and no peer is "
                 "authenticated or encrypted");
    else
        log_warn("dev mode: no peer is authenticated, so every endpoint must be on this "
                 "machine (loopback or ipc://)");
    *exit_code = 0;
    return 1;
}

int daemon_map_flags(const config_opt_t *opts, size_t *map_size, size_t *map_max)
{
    int64_t size_mb, max_mb;
    if (config_int(opts, "map-size", 1, 1 << 24, &size_mb) ||
        config_int(opts, "map-max", 1, 1 << 24, &max_mb))
        return RP_EINVAL;
    *map_size = (size_t)size_mb << 20;
    *map_max = (size_t)(max_mb < size_mb ? size_mb : max_mb) << 20;
    return 0;
}

int daemon_lock_dir(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/riskpipe.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        log_error("cannot open the lock file %s: %s", path, strerror(errno));
        return RP_EIO;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        char holder[32] = "";
        ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
        holder[n > 0 ? n : 0] = 0;
        holder[strcspn(holder, "\n")] = 0;
        close(fd);
        if (e == EWOULDBLOCK) {
            log_error("data directory %s is in use by another process (pid %s): one process "
                      "per data directory", dir, holder[0] ? holder : "unknown");
            return RP_EBUSY;
        }
        log_error("cannot lock %s: %s", path, strerror(e));
        return RP_EIO;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
        log_warn("cannot write the pid into %s: %s", path, strerror(errno));
    return fd;
}

static void s_on_signal(int sig)
{
    if (sig == SIGHUP) s_hup = 1;
    else s_stop = 1;
}

void *daemon_auth_socket(void)
{
    return s_auth ? auth_socket(s_auth) : NULL;
}

void daemon_auth_serve(void)
{
    if (!s_auth) return;
    auth_serve(s_auth);
    int64_t now = zclock_mono();
    if (s_hup || now - s_last_reload_ms >= 1000) { /* SIGHUP, or a change seen by stat */
        keys_reload_producers(s_keys, s_hup);
        s_hup = 0;
        s_last_reload_ms = now;
    }
}

long long daemon_refused_peers(void)
{
    return s_auth ? auth_refused(s_auth) : 0;
}

void daemon_shutdown(void)
{
    auth_destroy(&s_auth);
    keys_destroy(&s_keys);
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
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

int daemon_stopping(void)
{
    return s_stop != 0;
}

int daemon_endpoint_is_local(const char *ep)
{
    if (ep[0] == '@' || ep[0] == '>') ep++;
    if (!strncmp(ep, "ipc://", 6) || !strncmp(ep, "inproc://", 9)) return 1;
    if (strncmp(ep, "tcp://", 6)) return 0;
    const char *host = ep + 6, *end;
    if (host[0] == '[') { /* [v6]:port */
        end = strchr(host, ']');
        return end && (size_t)(end - host) == 4 && !strncmp(host, "[::1", 4);
    }
    if (!(end = strrchr(host, ':'))) return 0;
    size_t n = (size_t)(end - host);
    if ((n == 9 && !strncmp(host, "localhost", 9)) || (n == 2 && !strncmp(host, "lo", 2)))
        return 1;
    /* 127.0.0.0/8: four dotted numbers, the first 127 */
    unsigned a, b, c, d;
    char tail;
    char addr[64];
    if (n >= sizeof addr) return 0;
    memcpy(addr, host, n);
    addr[n] = 0;
    return sscanf(addr, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 &&
           c < 256 && d < 256;
}

/* Whether every endpoint of a comma-separated list may be used without
 * CURVE; logs the first that may not. */
static int s_endpoints_allowed(const char *list, const char *what)
{
    if (s_keys || s_insecure) return 1;
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *ep = strtok_r(buf, ",", &save); ep; ep = strtok_r(NULL, ",", &save))
        if (!daemon_endpoint_is_local(ep)) {
            log_error("%s: refusing %s: it is not on this machine and peers are not "
                      "authenticated; use a loopback or ipc:// endpoint, or --insecure",
                      what, ep);
            return 0;
        }
    return 1;
}

zsock_t *daemon_socket(int type, const char *endpoint, daemon_dir_t dir,
                       const daemon_sockopt_t *opt, const char *what)
{
    if (endpoint[0] == '@' || endpoint[0] == '>') {
        dir = endpoint[0] == '@' ? DAEMON_BIND : DAEMON_CONNECT;
        endpoint++;
    }
    if (strlen(endpoint) >= 1024 || !endpoint[0] || strstr(endpoint, ",,") ||
        endpoint[strlen(endpoint) - 1] == ',') {
        log_error("%s: '%s' is not an endpoint or a comma-separated list of them", what,
                  endpoint);
        return NULL;
    }
    if (!s_endpoints_allowed(endpoint, what)) return NULL;
    zsock_t *s = zsock_new(type);
    if (!s) {
        log_error("%s: cannot create socket: %s", what, zmq_strerror(errno));
        return NULL;
    }
    static const daemon_sockopt_t none = {0};
    if (!opt) opt = &none;
    if (opt->hwm > 0) {
        zsock_set_sndhwm(s, opt->hwm);
        zsock_set_rcvhwm(s, opt->hwm);
    }
    if (opt->sndhwm > 0) zsock_set_sndhwm(s, opt->sndhwm);
    /* Through libzmq: czmq's setter takes an int, which wraps above 2 GiB. */
    if (opt->max_msg > 0)
        zmq_setsockopt(zsock_resolve(s), ZMQ_MAXMSGSIZE, &opt->max_msg, sizeof opt->max_msg);
    zsock_set_linger(s, opt->linger_ms);
    if (s_keys && opt->curve_domain) {
        keys_apply_server(s_keys, s, opt->curve_domain);
        if (s_auth) auth_watch(s_auth, s, what);
    } else if (s_keys && opt->curve_server) {
        keys_apply_client(s_keys, s, (keys_role_t)(opt->curve_server - 1));
    } else if (s_keys) {
        log_error("%s: no CURVE role for this socket", what);
        zsock_destroy(&s);
        return NULL;
    }
    int bind = dir == DAEMON_BIND;
    /* A list: one socket bound or connected to each (a mapper pulls from
     * every state shard) */
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", endpoint);
    for (char *save = NULL, *ep = strtok_r(buf, ",", &save); ep; ep = strtok_r(NULL, ",", &save)) {
        int rc = bind ? zsock_bind(s, "%s", ep) : zsock_connect(s, "%s", ep);
        if (rc < 0) {
            log_error("%s: cannot %s %s: %s", what, bind ? "bind" : "connect", ep,
                      zmq_strerror(errno));
            zsock_destroy(&s);
            return NULL;
        }
        log_info("%s: %s %s", what, bind ? "bound to" : "connected to", ep);
    }
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
