/* Process plumbing shared by the three daemons: start-up (flags, logging,
 * chaos), signal flags, ZeroMQ socket set-up with logged errors, and a
 * multi-part receive helper. Above common/ and proto/, below the processes. */
#ifndef RP_DAEMON_H
#define RP_DAEMON_H

#include "keys.h"
#include "../common/config.h"

#include <czmq.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

/* Flag rows every daemon with an LMDB environment has, and the log level,
 * for the daemons' option tables. */
#define DAEMON_STORE_OPTS(default_dir)                                                             \
    {"data", default_dir, "LMDB environment directory", NULL},                                     \
        {"map-size", "256", "initial LMDB map size in MiB (grows on demand)", NULL},               \
        {"map-max", "65536", "largest LMDB map size in MiB", NULL}
#define DAEMON_LOG_OPT {"log-level", "info", "error, warn, info or debug", NULL}
#define DAEMON_KEYS_OPT                                                                            \
    {"keys", "", "directory of the pipeline's CURVE key set (riskctl keygen); empty: dev mode",   \
     NULL}
#define DAEMON_INSECURE_OPT                                                                        \
    {"insecure", NULL,                                                                             \
     "allow endpoints beyond loopback with no authentication or encryption", NULL}

/* Start-up shared by the daemons: parses flags (no positional arguments),
 * sets up logging with tag `role` ("state", "reducer" or "mapper") from
 * --log-level and chaos mode for role, and reads --keys (DAEMON_KEYS_OPT) and
 * --insecure (DAEMON_INSECURE_OPT) for daemon_socket. With keys, it loads the
 * key set and, for a daemon with server sockets, starts the ZAP handler
 * (daemon_auth_*); without, it logs the one warning line of dev mode.
 * Returns 1 to go on; 0 when main must return *exit_code now (0 after
 * --help, 1 for unusable keys, 2 after a usage error, which is printed). */
int daemon_args(config_opt_t *opts, int argc, char **argv, const char *usage, const char *role,
                int *exit_code);

/* Reads --map-size and --map-max (DAEMON_STORE_OPTS) into bytes; map_max is
 * at least map_size. Returns 0, or RP_EINVAL with a message on stderr. */
int daemon_map_flags(const config_opt_t *opts, size_t *map_size, size_t *map_max);

/* Takes an exclusive lock on DIR/riskpipe.lock (created, with this pid in
 * it) for the life of the process, so that a second daemon on the same data
 * directory exits instead of writing beside the first. Returns the lock's
 * file descriptor (keep it open; exit releases it), RP_EBUSY when another
 * process holds it (logged with that process's pid), or RP_EIO (logged). */
int daemon_lock_dir(const char *dir);

/* Installs SIGINT/SIGTERM handlers that only set a flag (and disables czmq's
 * own handler), and ignores SIGPIPE. Call before creating sockets. */
void daemon_signals(void);

/* Returns 1 once SIGINT or SIGTERM arrived. */
int daemon_stopping(void);

/* Whether daemon_socket binds the endpoint (the stable side) or connects to
 * it (the elastic side), unless the endpoint says otherwise as in czmq:
 * "@tcp://..." binds, ">tcp://..." connects. */
typedef enum { DAEMON_BIND, DAEMON_CONNECT } daemon_dir_t;

/* 1 when endpoint (without its @ or > prefix) stays on this machine:
 * ipc://, inproc://, or tcp:// on 127.0.0.0/8, localhost, [::1] or "lo". */
int daemon_endpoint_is_local(const char *endpoint);

/* Socket options; a zero field keeps libzmq's default (linger: 0 ms). With
 * keys every socket is CURVE: a server (curve_domain, a KEYS_DOMAIN_*: who may
 * connect) or a client of the role curve_server (a keys_role_t + 1). */
typedef struct {
    int hwm;                  /* high-water mark, both directions, in messages */
    int sndhwm;               /* when > 0, the send direction's instead of hwm */
    int linger_ms;            /* how long close waits for unsent messages */
    int64_t max_msg;          /* largest inbound message in bytes (ZMQ_MAXMSGSIZE) */
    const char *curve_domain; /* server: the ZAP domain its peers are checked in */
    int curve_server;         /* client: 1 + the keys_role_t of the server */
} daemon_sockopt_t;

/* The ZAP handler's socket to poll (NULL without keys or server sockets),
 * and its service: answers authentication requests, counts refusals, and
 * re-reads the producers' keys after SIGHUP or when their folder changed. */
void *daemon_auth_socket(void);
void daemon_auth_serve(void);

/* Peers refused since start (0 without keys). */
long long daemon_refused_peers(void);

/* Frees the key set and the ZAP handler (after every socket is closed). */
void daemon_shutdown(void);

/* Creates a socket of zmq type, applies opt (may be NULL) and binds or
 * connects it to endpoint (dir unless its prefix says otherwise), or to
 * each endpoint of a comma-separated list (a mapper pulls from every state
 * shard); what names it in logs. Without --insecure, an endpoint that is not local is refused:
 * peers would be unauthenticated. Returns the socket (caller owns;
 * zsock_destroy) or NULL with the reason logged. */
zsock_t *daemon_socket(int type, const char *endpoint, daemon_dir_t dir,
                       const daemon_sockopt_t *opt, const char *what);

/* Receives one whole multi-part message without blocking into parts[0..max),
 * each initialised here; extra parts beyond max are received and dropped.
 * Returns the number of parts (>= 1), 0 when nothing is waiting, or -1 on a
 * socket error (logged). On > max parts, *truncated is set. The caller closes
 * every returned part with zmq_msg_close. */
int daemon_recv_parts(void *sock, zmq_msg_t *parts, int max, int *truncated);

#endif
