/* ZAP handler and handshake monitors; see auth.h. */
#include "auth.h"
#include "../common/log.h"

#include <string.h>

#define AUTH_MAX_WATCH 8

struct auth_t {
    keys_t *keys;
    zsock_t *zap;
    struct {
        zsock_t *mon; /* PAIR receiving the socket's monitor events */
        char what[32];
    } watch[AUTH_MAX_WATCH];
    int nwatch;
    long long refused;
};

auth_t *auth_new(keys_t *keys)
{
    auth_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->keys = keys;
    self->zap = zsock_new(ZMQ_REP);
    if (!self->zap || zsock_bind(self->zap, "inproc://zeromq.zap.01") != 0) {
        log_error("auth: cannot bind the ZAP endpoint: %s", zmq_strerror(errno));
        auth_destroy(&self);
    }
    return self;
}

void auth_destroy(auth_t **self_p)
{
    if (!self_p || !*self_p) return;
    auth_t *self = *self_p;
    for (int i = 0; i < self->nwatch; i++) zsock_destroy(&self->watch[i].mon);
    zsock_destroy(&self->zap);
    free(self);
    *self_p = NULL;
}

int auth_watch(auth_t *self, zsock_t *sock, const char *what)
{
    if (self->nwatch == AUTH_MAX_WATCH) return -1;
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://auth-monitor-%p-%d", (void *)self, self->nwatch);
    int events = ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL;
    if (zmq_socket_monitor(zsock_resolve(sock), ep, events) != 0) {
        log_error("auth: cannot monitor %s: %s", what, zmq_strerror(errno));
        return -1;
    }
    zsock_t *mon = zsock_new(ZMQ_PAIR);
    if (!mon || zsock_connect(mon, "%s", ep) != 0) {
        zsock_destroy(&mon);
        return -1;
    }
    self->watch[self->nwatch].mon = mon;
    snprintf(self->watch[self->nwatch].what, sizeof self->watch[0].what, "%s", what);
    self->nwatch++;
    return 0;
}

void *auth_socket(auth_t *self)
{
    return zsock_resolve(self->zap);
}

/* Answers one ZAP request (RFC 27): allowed when the domain's keys include
 * the client's CURVE public key. */
static void s_answer(auth_t *self, zmsg_t *req)
{
    char *version = zmsg_popstr(req), *id = zmsg_popstr(req), *domain = zmsg_popstr(req),
         *address = zmsg_popstr(req), *identity = zmsg_popstr(req), *mech = zmsg_popstr(req);
    zframe_t *cred = zmsg_pop(req);
    int ok = version && strcmp(version, "1.0") == 0 && mech && strcmp(mech, "CURVE") == 0 &&
             domain && cred && zframe_size(cred) == KEYS_KEY_SIZE &&
             keys_allowed(self->keys, domain, zframe_data(cred));
    if (!ok) {
        self->refused++;
        char key[41] = "?";
        if (cred && zframe_size(cred) == KEYS_KEY_SIZE) zmq_z85_encode(key, zframe_data(cred), 32);
        log_warn("auth: refused %s peer %s with key %s (not allowed on the %s sockets)",
                 mech ? mech : "?", address ? address : "?", key, domain ? domain : "?");
    }
    zmsg_t *rep = zmsg_new();
    zmsg_addstr(rep, "1.0");
    zmsg_addstr(rep, id ? id : "");
    zmsg_addstr(rep, ok ? "200" : "400");
    zmsg_addstr(rep, ok ? "OK" : "not an allowed key");
    /* the user id names the peer in every message it sends (zmq_msg_gets
     * "User-Id"): its public key, so that the state can tell producers apart */
    char user[48] = "";
    if (ok) zmq_z85_encode(user, zframe_data(cred), KEYS_KEY_SIZE);
    zmsg_addstr(rep, user);
    zmsg_addmem(rep, "", 0);
    if (zmsg_send(&rep, self->zap) != 0) log_warn("auth: cannot answer a ZAP request");
    zframe_destroy(&cred);
    zstr_free(&version), zstr_free(&id), zstr_free(&domain);
    zstr_free(&address), zstr_free(&identity), zstr_free(&mech);
}

/* Reads the waiting handshake failures of one watched socket. */
static void s_events(auth_t *self, int i)
{
    zmsg_t *ev;
    while (zsock_events(self->watch[i].mon) & ZMQ_POLLIN &&
           (ev = zmsg_recv(self->watch[i].mon))) {
        zframe_t *head = zmsg_first(ev);
        char *addr = zmsg_size(ev) > 1 ? zframe_strdup(zmsg_next(ev)) : NULL;
        if (head && zframe_size(head) >= 2) {
            self->refused++;
            /* libzmq names the socket's own endpoint here, never the peer: a
             * handshake that fails before ZAP is asked carries no address */
            log_warn("auth: refused a peer on %s (%s): its handshake failed (no CURVE, or the "
                     "wrong server key)", self->watch[i].what, addr ? addr : "?");
        }
        zstr_free(&addr);
        zmsg_destroy(&ev);
    }
}

void auth_serve(auth_t *self)
{
    zmsg_t *req;
    /* POLLIN means a whole message waits, so zmsg_recv does not block */
    while (zsock_events(self->zap) & ZMQ_POLLIN && (req = zmsg_recv(self->zap))) {
        s_answer(self, req);
        zmsg_destroy(&req);
    }
    for (int i = 0; i < self->nwatch; i++) s_events(self, i);
}

long long auth_refused(const auth_t *self)
{
    return self->refused;
}
