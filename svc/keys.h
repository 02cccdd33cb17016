/* A pipeline's CURVE key set, as `riskctl keygen DIR` writes it (czmq's zcert
 * files):
 *   DIR/<role>.cert           the public key of each role: state, reducer,
 *                             mapper, riskctl
 *   DIR/<role>.cert_secret    its key pair: each process needs only its own
 *   DIR/producers/NAME.cert   the public keys allowed on the ingest sockets
 *                             (keygen puts riskctl's there)
 * Which peer may connect where is decided per ZAP domain: KEYS_DOMAIN_INGEST
 * takes the producers, KEYS_DOMAIN_MAPPER the mapper key (the state's work
 * and the reducer's results sockets), KEYS_DOMAIN_REDUCER the reducer key (the
 * state's acks socket), KEYS_DOMAIN_CONTROL the riskctl key. */
#ifndef RP_KEYS_H
#define RP_KEYS_H

#include <czmq.h>
#include <stdint.h>

typedef enum { KEYS_STATE, KEYS_REDUCER, KEYS_MAPPER, KEYS_RISKCTL, KEYS_NROLES } keys_role_t;

#define KEYS_DOMAIN_INGEST "ingest"
#define KEYS_DOMAIN_MAPPER "mapper"
#define KEYS_DOMAIN_REDUCER "reducer"
#define KEYS_DOMAIN_CONTROL "control"
#define KEYS_KEY_SIZE 32

typedef struct keys_t keys_t;

/* Writes a new key set into dir (created; it must not hold one already):
 * a key pair per role and producers/riskctl.cert. Returns 0, RP_EINVAL when
 * dir already has a key set, or RP_EIO (printed to stderr). */
int keys_generate(const char *dir);

/* Adds a producer named name to the key set in dir: its key pair in
 * DIR/producer-keys/NAME.cert_secret (hand it to the producer with
 * DIR/state.cert) and its public key in DIR/producers/NAME.cert, which a
 * running state picks up. Returns 0, RP_EINVAL (no key set in dir, a bad or
 * taken name) or RP_EIO, printed to stderr. */
int keys_add_producer(const char *dir, const char *name);

/* Loads the key set in dir for a process of role self: its own key pair and
 * every role's public key, and the producers when self is the state. Returns
 * it (caller owns; keys_destroy) or NULL with the reason logged and *err set. */
keys_t *keys_load(const char *dir, keys_role_t self, int *err);

/* Frees it; accepts NULL and sets *self_p to NULL. */
void keys_destroy(keys_t **self_p);

/* Makes sock (before it binds) a CURVE server with this process's key pair
 * whose peers are checked in ZAP domain (KEYS_DOMAIN_*). */
void keys_apply_server(keys_t *self, zsock_t *sock, const char *domain);

/* Makes sock (before it connects) a CURVE client with this process's key
 * pair that accepts only server's public key. */
void keys_apply_client(keys_t *self, zsock_t *sock, keys_role_t server);

/* The same keys as Z85 text (40 characters and a NUL, borrowed from the key
 * set), for a client that sets them itself (client/rp_client.h). */
void keys_client_z85(const keys_t *self, keys_role_t server, const char **server_key,
                     const char **public_key, const char **secret_key);

/* 1 when the 32-byte public key may connect in domain. */
int keys_allowed(keys_t *self, const char *domain, const uint8_t key[KEYS_KEY_SIZE]);

/* Reads producers/ again when it changed since the last load (or always
 * when force is set). Returns the number of producer keys, or a negative RP
 * code (logged; the previous set stays in force). */
int keys_reload_producers(keys_t *self, int force);

#endif
