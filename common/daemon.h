/* Process plumbing shared by the three daemons: signal flags, ZeroMQ socket
 * set-up with logged errors, and multi-part receive helpers. */
#ifndef RP_DAEMON_H
#define RP_DAEMON_H

#include "config.h"

#include <czmq.h>
#include <signal.h>
#include <stddef.h>

/* Start-up shared by the daemons: parses flags (no positional arguments),
 * sets up logging with tag `role` from --log-level and chaos mode for role.
 * Returns -1 to go on, or the exit code to return from main now (0 after
 * --help, 2 after a usage error, which is printed). */
int daemon_args(config_opt_t *opts, int argc, char **argv, const char *usage, const char *role);

/* Installs SIGINT/SIGTERM handlers that only set a flag (and disables czmq's
 * own handler), and ignores SIGPIPE. Call before creating sockets. */
void daemon_signals(void);

/* Returns 1 once SIGINT or SIGTERM arrived. */
int daemon_stopping(void);

/* Creates a socket of zmq type and binds (bind=1) or connects it to endpoint,
 * with the given high-water mark for both directions (0 keeps the default)
 * and a linger of linger_ms. Returns the socket (caller owns; zsock_destroy)
 * or NULL with the reason logged. */
zsock_t *daemon_socket(int type, const char *endpoint, int bind, int hwm, int linger_ms,
                       const char *what);

/* Receives one whole multi-part message without blocking into parts[0..max),
 * each initialised here; extra parts beyond max are received and dropped.
 * Returns the number of parts (>= 1), 0 when nothing is waiting, or -1 on a
 * socket error (logged). On > max parts, *truncated is set. The caller closes
 * every returned part with zmq_msg_close. */
int daemon_recv_parts(void *sock, zmq_msg_t *parts, int max, int *truncated);

/* Sends a stats reply: n name/value pairs as a CTL_REP frame on a REP socket
 * after reading its request. Handles one pending request without blocking;
 * unknown commands get an "error" entry. fill(arg, names, values, cap) returns
 * the number of pairs written (names borrowed until it returns). */
typedef int (*daemon_stats_fn)(void *arg, const char **names, long long *values, int cap);
void daemon_serve_control(void *rep, daemon_stats_fn fill, void *arg);

#endif
