/* CURVE key sets; see keys.h. */
#include "keys.h"
#include "../common/log.h"
#include "../common/rperr.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static const char *const s_role[KEYS_NROLES] = {"state", "reducer", "mapper", "riskctl"};

struct keys_t {
    char dir[1024];
    keys_role_t self;
    zcert_t *own;                                  /* this process's key pair */
    uint8_t pub[KEYS_NROLES][KEYS_KEY_SIZE];       /* every role's public key */
    char pub_txt[KEYS_NROLES][41];                 /* the same in Z85 */
    uint8_t (*producers)[KEYS_KEY_SIZE];           /* allowed on ingest */
    size_t nproducers;
    struct timespec producers_mtime;
};

int keys_generate(const char *dir)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/state.cert", dir);
    if (zsys_file_exists(path)) {
        fprintf(stderr, "riskctl keygen: %s already holds a key set; keeping it\n", dir);
        return RP_EINVAL;
    }
    snprintf(path, sizeof path, "%s/producers", dir);
    if (zsys_dir_create("%s", path) != 0) {
        fprintf(stderr, "riskctl keygen: cannot create %s: %s\n", path, strerror(errno));
        return RP_EIO;
    }
    for (int r = 0; r < KEYS_NROLES; r++) {
        zcert_t *c = zcert_new();
        if (!c) return RP_EIO;
        zcert_set_meta(c, "role", "%s", s_role[r]);
        snprintf(path, sizeof path, "%s/%s.cert", dir, s_role[r]);
        int rc = zcert_save(c, path);
        if (rc == 0 && r == KEYS_RISKCTL) {
            snprintf(path, sizeof path, "%s/producers/riskctl.cert", dir);
            rc = zcert_save_public(c, path);
        }
        zcert_destroy(&c);
        if (rc != 0) {
            fprintf(stderr, "riskctl keygen: cannot write %s\n", path);
            return RP_EIO;
        }
    }
    return 0;
}

int keys_add_producer(const char *dir, const char *name)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/state.cert", dir);
    if (!zsys_file_exists(path)) {
        fprintf(stderr, "riskctl keygen: %s holds no key set (run riskctl keygen %s first)\n",
                dir, dir);
        return RP_EINVAL;
    }
    if (!*name || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                               "-_.") != strlen(name) || name[0] == '.') {
        fprintf(stderr, "riskctl keygen: producer name '%s' must be letters, digits, '-', '_' "
                        "or '.'\n", name);
        return RP_EINVAL;
    }
    snprintf(path, sizeof path, "%s/producers/%s.cert", dir, name);
    if (zsys_file_exists(path)) {
        fprintf(stderr, "riskctl keygen: %s exists already\n", path);
        return RP_EINVAL;
    }
    char secret[1200];
    snprintf(secret, sizeof secret, "%s/producer-keys", dir);
    if (zsys_dir_create("%s", secret) != 0) {
        fprintf(stderr, "riskctl keygen: cannot create %s: %s\n", secret, strerror(errno));
        return RP_EIO;
    }
    snprintf(secret, sizeof secret, "%s/producer-keys/%s.cert", dir, name);
    zcert_t *c = zcert_new();
    if (!c) return RP_EIO;
    zcert_set_meta(c, "role", "producer %s", name);
    int rc = zcert_save(c, secret) || zcert_save_public(c, path);
    zcert_destroy(&c);
    if (rc) {
        fprintf(stderr, "riskctl keygen: cannot write the keys of producer %s\n", name);
        return RP_EIO;
    }
    return 0;
}

static int s_mtime(const char *path, struct timespec *out)
{
    struct stat st;
    if (stat(path, &st) != 0) return RP_EIO;
    *out = st.st_mtim;
    return 0;
}

int keys_reload_producers(keys_t *self, int force)
{
    if (self->self != KEYS_STATE) return 0; /* only the state has ingest sockets */
    char path[1200];
    snprintf(path, sizeof path, "%s/producers", self->dir);
    struct timespec m;
    if (s_mtime(path, &m)) {
        log_error("keys: cannot read %s: %s", path, strerror(errno));
        return RP_EIO;
    }
    if (!force && m.tv_sec == self->producers_mtime.tv_sec &&
        m.tv_nsec == self->producers_mtime.tv_nsec)
        return (int)self->nproducers;
    DIR *d = opendir(path);
    if (!d) {
        log_error("keys: cannot list %s: %s", path, strerror(errno));
        return RP_EIO;
    }
    size_t n = 0, cap = 16;
    uint8_t(*keys)[KEYS_KEY_SIZE] = malloc(cap * sizeof *keys);
    struct dirent *e;
    while (keys && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".cert") != 0) continue;
        char file[1500];
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        zcert_t *c = zcert_load(file);
        if (!c) {
            log_warn("keys: %s is not a certificate; skipped", file);
            continue;
        }
        if (n == cap) {
            uint8_t(*grown)[KEYS_KEY_SIZE] = realloc(keys, (cap *= 2) * sizeof *keys);
            if (!grown) {
                zcert_destroy(&c);
                free(keys);
                keys = NULL;
                break;
            }
            keys = grown;
        }
        memcpy(keys[n++], zcert_public_key(c), KEYS_KEY_SIZE);
        zcert_destroy(&c);
    }
    closedir(d);
    if (!keys) {
        log_error("keys: out of memory reading %s", path);
        return RP_ENOMEM;
    }
    free(self->producers);
    self->producers = keys;
    self->nproducers = n;
    self->producers_mtime = m;
    log_info("keys: %zu producer key(s) allowed on ingest (%s)", n, path);
    return (int)n;
}

keys_t *keys_load(const char *dir, keys_role_t self_role, int *err)
{
    keys_t *self = calloc(1, sizeof *self);
    int rc = RP_ENOMEM;
    char path[1200];
    if (!self) goto fail;
    snprintf(self->dir, sizeof self->dir, "%s", dir);
    self->self = self_role;
    rc = RP_EIO;
    snprintf(path, sizeof path, "%s/%s.cert_secret", dir, s_role[self_role]);
    if (!(self->own = zcert_load(path))) {
        log_error("keys: cannot load this process's key pair %s (make a key set with riskctl "
                  "keygen %s)", path, dir);
        goto fail;
    }
    for (int r = 0; r < KEYS_NROLES; r++) {
        snprintf(path, sizeof path, "%s/%s.cert", dir, s_role[r]);
        zcert_t *c = zcert_load(path);
        if (!c) {
            log_error("keys: cannot load the public key %s", path);
            goto fail;
        }
        memcpy(self->pub[r], zcert_public_key(c), KEYS_KEY_SIZE);
        snprintf(self->pub_txt[r], sizeof self->pub_txt[r], "%s", zcert_public_txt(c));
        zcert_destroy(&c);
    }
    if (self_role == KEYS_STATE && (rc = keys_reload_producers(self, 1)) < 0) goto fail;
    return self;
fail:
    keys_destroy(&self);
    if (err) *err = rc;
    return NULL;
}

void keys_destroy(keys_t **self_p)
{
    if (!self_p || !*self_p) return;
    zcert_destroy(&(*self_p)->own);
    free((*self_p)->producers);
    free(*self_p);
    *self_p = NULL;
}

void keys_apply_server(keys_t *self, zsock_t *sock, const char *domain)
{
    zcert_apply(self->own, sock);
    zsock_set_curve_server(sock, 1);
    zsock_set_zap_domain(sock, domain);
}

void keys_apply_client(keys_t *self, zsock_t *sock, keys_role_t server)
{
    zcert_apply(self->own, sock);
    zsock_set_curve_serverkey(sock, self->pub_txt[server]);
}

void keys_client_z85(const keys_t *self, keys_role_t server, const char **server_key,
                     const char **public_key, const char **secret_key)
{
    *server_key = self->pub_txt[server];
    *public_key = zcert_public_txt(self->own);
    *secret_key = zcert_secret_txt(self->own);
}

int keys_allowed(keys_t *self, const char *domain, const uint8_t key[KEYS_KEY_SIZE])
{
    keys_role_t role;
    if (strcmp(domain, KEYS_DOMAIN_INGEST) == 0) {
        for (size_t i = 0; i < self->nproducers; i++)
            if (memcmp(self->producers[i], key, KEYS_KEY_SIZE) == 0) return 1;
        return 0;
    }
    if (strcmp(domain, KEYS_DOMAIN_MAPPER) == 0) role = KEYS_MAPPER;
    else if (strcmp(domain, KEYS_DOMAIN_REDUCER) == 0) role = KEYS_REDUCER;
    else if (strcmp(domain, KEYS_DOMAIN_CONTROL) == 0) role = KEYS_RISKCTL;
    else return 0;
    return memcmp(self->pub[role], key, KEYS_KEY_SIZE) == 0;
}
