/* LMDB environment handling shared by the state and reducer processes and by
 * riskctl's read-only views. */
#include "store.h"
#include "log.h"
#include "rperr.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

struct store_t {
    MDB_env *env;
    MDB_dbi dbi[STORE_MAX_DBS];
    int ndbs;
    int flags; /* STORE_* */
};

int store_rc(int rc)
{
    if (rc == MDB_SUCCESS) return 0;
    if (rc == MDB_NOTFOUND) return RP_ENOTFOUND;
    return rp_wrap_lmdb(rc);
}

static int s_mkdirs(const char *dir)
{
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) return RP_EINVAL;
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++)
        if (buf[i] == '/' || buf[i] == 0) {
            char c = buf[i];
            buf[i] = 0;
            if (mkdir(buf, 0750) != 0 && errno != EEXIST) {
                log_error("mkdir %s: %s", buf, strerror(errno));
                return RP_EIO;
            }
            buf[i] = c;
        }
    return 0;
}

/* With MDB_WRITEMAP a page is written by storing to the map, and a store to
 * a page the full disk cannot back is a SIGBUS, not an error code. So the
 * whole map is reserved in the file (fallocate) before LMDB may use it: a
 * full disk then shows up here, as a "storage full" code, when the map is
 * opened or grown. The file takes the map's size on disk. */
static int s_reserve(store_t *self, size_t bytes)
{
    if (!(self->flags & STORE_WRITEMAP)) return 0;
    static int warned;
    mdb_filehandle_t fd;
    int r = mdb_env_get_fd(self->env, &fd);
    if (r) return store_rc(r);
    if (fallocate(fd, 0, 0, (off_t)bytes) == 0) return 0;
    r = errno;
    if (r == EOPNOTSUPP) {
        if (!warned++)
            log_warn("this file system cannot reserve the LMDB map (fallocate): a full disk "
                     "would stop the process with SIGBUS instead of a storage-full error");
        return 0;
    }
    log_error("cannot reserve %zu KiB for the LMDB map: %s", bytes >> 10, strerror(r));
    return store_rc(r);
}

store_t *store_open(const char *dir, const char *const *dbnames, size_t mapsize, int flags,
                    int *err)
{
    int rc = RP_ENOMEM;
    MDB_txn *txn = NULL;
    store_t *self = calloc(1, sizeof *self);
    if (!self) goto fail;
    self->flags = flags;
    int readonly = (flags & STORE_RDONLY) != 0;
    if (!readonly && (rc = s_mkdirs(dir)) != 0) goto fail;
    int r;
    if ((r = mdb_env_create(&self->env)) || (r = mdb_env_set_maxdbs(self->env, STORE_MAX_DBS)) ||
        (mapsize && (r = mdb_env_set_mapsize(self->env, mapsize)))) {
        log_error("cannot set up an LMDB environment: %s", mdb_strerror(r));
        rc = store_rc(r);
        goto fail;
    }
    /* Every commit is durable on return (acknowledgements wait for it), with
     * or without MDB_WRITEMAP, in two flushes as LMDB makes them: the data
     * pages before the meta page is written, then the meta page. With
     * MDB_NOMETASYNC, LMDB leaves the second flush out of mdb_txn_commit and
     * store_commit makes it (mdb_env_sync): the same flushes in the same
     * order, but the second one is an fdatasync or msync call, which
     * svc/fsync.c can time, not a write through an O_DSYNC descriptor.
     * MDB_NORDAHEAD goes with MDB_WRITEMAP: a write to a page past the
     * file's data faults it in, and readahead would zero a large folio of
     * holes around it every time (measured: 23% of the state process's CPU
     * in the kernel's memset, gone with MADV_RANDOM).
     * MDB_NOTLS ties a reader slot to its read transaction, not its thread:
     * the state's writer reads committed batches to send them while its own
     * write transaction is open (state/commit.c). */
    unsigned envflags = readonly                      ? MDB_RDONLY
                        : (flags & STORE_WRITEMAP) ? MDB_WRITEMAP | MDB_NORDAHEAD | MDB_NOMETASYNC
                                                    : MDB_NOMETASYNC;
    envflags |= MDB_NOTLS;
    if ((r = mdb_env_open(self->env, dir, envflags, 0640))) {
        log_error("cannot open LMDB environment %s: %s", dir, mdb_strerror(r));
        rc = r == ENOENT ? RP_ENOTFOUND : store_rc(r);
        goto fail;
    }
    MDB_envinfo info;
    if ((r = mdb_env_info(self->env, &info)) || (rc = s_reserve(self, info.me_mapsize)) != 0) {
        if (r) rc = store_rc(r);
        goto fail;
    }
    if ((rc = store_begin(self, readonly, &txn)) != 0) goto fail;
    for (; dbnames[self->ndbs] && self->ndbs < STORE_MAX_DBS; self->ndbs++) {
        r = mdb_dbi_open(txn, dbnames[self->ndbs], readonly ? 0 : MDB_CREATE,
                         &self->dbi[self->ndbs]);
        if (r) {
            log_error("cannot open database '%s' in %s: %s", dbnames[self->ndbs], dir,
                      mdb_strerror(r));
            rc = store_rc(r);
            goto fail;
        }
    }
    if ((rc = store_commit(&txn)) != 0) goto fail;
    return self;
fail:
    store_abort(&txn);
    if (self && self->env) mdb_env_close(self->env);
    free(self);
    if (err) *err = rc;
    return NULL;
}

void store_destroy(store_t **self_p)
{
    if (!self_p || !*self_p) return;
    mdb_env_close((*self_p)->env);
    free(*self_p);
    *self_p = NULL;
}

MDB_dbi store_dbi(store_t *self, int idx)
{
    return self->dbi[idx];
}

size_t store_map_size(store_t *self)
{
    MDB_envinfo info;
    return mdb_env_info(self->env, &info) == 0 ? info.me_mapsize : 0;
}

int store_usage(store_t *self, uint64_t *map_bytes, uint64_t *used_bytes)
{
    MDB_envinfo info;
    MDB_stat st;
    int r;
    if ((r = mdb_env_info(self->env, &info)) || (r = mdb_env_stat(self->env, &st)))
        return store_rc(r);
    *map_bytes = info.me_mapsize;
    *used_bytes = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
    return 0;
}

int store_begin(store_t *self, int readonly, MDB_txn **txn)
{
    return store_rc(mdb_txn_begin(self->env, NULL, readonly ? MDB_RDONLY : 0, txn));
}

int store_commit(MDB_txn **txn)
{
    MDB_env *env = mdb_txn_env(*txn);
    size_t id = mdb_txn_id(*txn);
    int rc = mdb_txn_commit(*txn);
    *txn = NULL;
    unsigned flags = 0;
    MDB_envinfo info;
    /* The meta page's flush (MDB_NOMETASYNC, see store_open), when the
     * transaction wrote one: an empty or read-only one writes nothing. */
    if (rc == 0 && mdb_env_get_flags(env, &flags) == 0 && (flags & MDB_NOMETASYNC) &&
        !(flags & MDB_RDONLY) && mdb_env_info(env, &info) == 0 && info.me_last_txnid == id)
        rc = mdb_env_sync(env, 1);
    return store_rc(rc);
}

void store_abort(MDB_txn **txn)
{
    if (txn && *txn) mdb_txn_abort(*txn);
    if (txn) *txn = NULL;
}

void store_u64_put(uint8_t out[8], uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8) out[i] = (uint8_t)v;
}

uint64_t store_u64_get(const void *in)
{
    const uint8_t *p = in;
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
    return v;
}

int store_meta_get(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t *out)
{
    uint8_t buf[8];
    int rc = store_meta_get_raw(txn, dbi, key, buf, sizeof buf);
    if (rc == 0) *out = store_u64_get(buf);
    return rc;
}

int store_meta_put(MDB_txn *txn, MDB_dbi dbi, const char *key, uint64_t val)
{
    uint8_t buf[8];
    store_u64_put(buf, val);
    return store_meta_put_raw(txn, dbi, key, buf, sizeof buf);
}

int store_meta_load(store_t *self, MDB_dbi dbi, const store_meta_u64_t *vals, int n)
{
    MDB_txn *txn = NULL;
    int rc = store_begin(self, 1, &txn);
    for (int i = 0; rc == 0 && i < n; i++) {
        rc = store_meta_get(txn, dbi, vals[i].key, vals[i].out);
        if (rc == RP_ENOTFOUND) {
            *vals[i].out = vals[i].absent;
            rc = 0;
        }
    }
    store_abort(&txn);
    return rc;
}

int store_meta_get_raw(MDB_txn *txn, MDB_dbi dbi, const char *key, void *out, size_t len)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = store_rc(mdb_get(txn, dbi, &k, &v));
    if (rc) return rc;
    if (v.mv_size != len) return RP_EPROTO;
    memcpy(out, v.mv_data, len);
    return 0;
}

int store_meta_put_raw(MDB_txn *txn, MDB_dbi dbi, const char *key, const void *val, size_t len)
{
    MDB_val k = {strlen(key), (void *)key}, v = {len, (void *)val};
    return store_rc(mdb_put(txn, dbi, &k, &v, 0));
}

int store_meta_instance(store_t *self, MDB_dbi dbi, const char *key,
                        uint8_t out[STORE_ID_SIZE])
{
    MDB_txn *txn = NULL;
    int rc = store_begin(self, 0, &txn);
    if (rc == 0) rc = store_meta_get_raw(txn, dbi, key, out, STORE_ID_SIZE);
    if (rc == RP_ENOTFOUND) {
        if (getrandom(out, STORE_ID_SIZE, 0) != STORE_ID_SIZE) {
            log_error("no randomness for an instance id: %s", strerror(errno));
            rc = RP_EIO;
        } else if ((rc = store_meta_put_raw(txn, dbi, key, out, STORE_ID_SIZE)) == 0) {
            rc = store_commit(&txn);
        }
    }
    store_abort(&txn);
    return rc;
}

int store_meta_get_str(MDB_txn *txn, MDB_dbi dbi, const char *key, char *buf, size_t cap)
{
    MDB_val k = {strlen(key), (void *)key}, v;
    int rc = store_rc(mdb_get(txn, dbi, &k, &v));
    if (rc) return rc;
    if (v.mv_size >= cap) return RP_ERANGE;
    memcpy(buf, v.mv_data, v.mv_size);
    buf[v.mv_size] = 0;
    return 0;
}

int store_meta_put_str(MDB_txn *txn, MDB_dbi dbi, const char *key, const char *value)
{
    return store_meta_put_raw(txn, dbi, key, value, strlen(value));
}

int store_grow(store_t *self, size_t max_bytes)
{
    MDB_envinfo info;
    int rc = store_rc(mdb_env_info(self->env, &info));
    if (rc) return rc;
    if (info.me_mapsize >= max_bytes) return RP_EFULL;
    size_t next = info.me_mapsize * 2 > max_bytes ? max_bytes : info.me_mapsize * 2;
    if ((rc = store_rc(mdb_env_set_mapsize(self->env, next)))) return rc;
    if ((rc = s_reserve(self, next))) { /* keep to the part of the file that is backed */
        mdb_env_set_mapsize(self->env, info.me_mapsize);
        return rc;
    }
    log_info("LMDB map grown from %zu to %zu KiB", info.me_mapsize >> 10, next >> 10);
    return 0;
}

int store_commit_or_grow(store_t *self, size_t max_bytes, int (*commit)(void *arg), void *arg)
{
    int rc = commit(arg);
    while (rp_class(rc) == RP_EFULL) {
        int g = store_grow(self, max_bytes);
        if (g) return g == RP_EFULL ? rc : g;
        rc = commit(arg);
    }
    return rc;
}
