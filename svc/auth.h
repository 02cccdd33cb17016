/* Who may connect: the ZAP handler of a keyed daemon. It answers libzmq's
 * authentication requests (inproc://zeromq.zap.01) for every CURVE server
 * socket of the process from the key set, and watches those sockets for
 * handshakes that fail before ZAP is asked (a peer without CURVE, or with the
 * wrong server key). Every refusal is counted and logged with the peer's
 * address where libzmq gives one. Served from the daemon's own poll loop. */
#ifndef RP_AUTH_H
#define RP_AUTH_H

#include "keys.h"

#include <czmq.h>

typedef struct auth_t auth_t;

/* Binds the ZAP endpoint for keys (borrowed; must outlive it). Returns NULL
 * with the reason logged. */
auth_t *auth_new(keys_t *keys);

/* Frees it; accepts NULL and sets *self_p to NULL. */
void auth_destroy(auth_t **self_p);

/* Reports failed handshakes of server socket sock (named what in logs). */
int auth_watch(auth_t *self, zsock_t *sock, const char *what);

/* The libzmq socket to poll for ZAP requests. */
void *auth_socket(auth_t *self);

/* Answers every waiting ZAP request and reads every waiting handshake
 * failure, without blocking. */
void auth_serve(auth_t *self);

/* Peers refused since start. */
long long auth_refused(const auth_t *self);

#endif
