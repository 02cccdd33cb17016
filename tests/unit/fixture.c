/* Shared unit-test helpers; see fixture.h. */
#include "fixture.h"

#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fixture_assert_rc(int rc, int want, const char *expr, const char *file, int line,
                       const char *fmt, ...)
{
    if (rp_class(rc) == want) return;
    char ctx[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ctx, sizeof ctx, fmt, ap);
    va_end(ap);
    const char *c = ctx[0] == ' ' ? ctx + 1 : ctx;
    char got[200];
    snprintf(got, sizeof got, "%s", rp_strerror(rc));
    cr_assert_fail("%s:%d: %s%s%s returned %d (%s), expected %d (%s)", file, line, c,
                   *c ? ": " : "", expr, rc, got, want, rp_strerror(want));
}

const frame_id_t fixture_sid = {{0x5a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}};
const frame_id_t fixture_rid = {{0x7e, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}};

static int s_rm(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

void fixture_tmpdir(char *dir, size_t cap, const char *tag)
{
    snprintf(dir, cap, "/tmp/rp-%s-XXXXXX", tag);
    cr_assert_not_null(mkdtemp(dir), "mkdtemp %s", dir);
}

void fixture_rmdir(const char *dir)
{
    if (dir && *dir) nftw(dir, s_rm, 16, FTW_DEPTH | FTW_PHYS);
}

void fixture_store_reopen(fixture_store_t *f, const char *const *dbnames, size_t mapsize)
{
    int err = 0;
    store_destroy(&f->st);
    f->st = store_open(f->dir, dbnames, mapsize, 0, &err);
    cr_assert_not_null(f->st, "store_open %s: %d %s", f->dir, err, rp_strerror(err));
}

void fixture_store_open(fixture_store_t *f, const char *tag, const char *const *dbnames,
                        size_t mapsize)
{
    f->st = NULL;
    fixture_tmpdir(f->dir, sizeof f->dir, tag);
    fixture_store_reopen(f, dbnames, mapsize);
}

void fixture_store_close(fixture_store_t *f)
{
    store_destroy(&f->st);
    fixture_rmdir(f->dir);
    f->dir[0] = 0;
}

size_t fixture_entries(fixture_store_t *f, int idx)
{
    MDB_txn *txn = NULL;
    MDB_stat st;
    RP_ASSERT_OK(store_begin(f->st, 1, &txn));
    RP_ASSERT_OK(store_rc(mdb_stat(txn, store_dbi(f->st, idx), &st)));
    store_abort(&txn);
    return st.ms_entries;
}

/* Walks every record of the log: calls fn with its sequence number and bytes
 * until fn returns non-zero. */
static void s_log_walk(fixture_store_t *f, int (*fn)(uint64_t, const char *, size_t, void *),
                       void *arg)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    RP_ASSERT_OK(store_begin(f->st, 1, &txn));
    RP_ASSERT_OK(store_rc(mdb_cursor_open(txn, store_dbi(f->st, 1 /* SDB_LOG */), &cur)));
    int r = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    for (int stop = 0; r == 0 && !stop; r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        cr_assert_eq(k.mv_size, 8, "a log key is 8 bytes");
        uint64_t seq = store_u64_get(k.mv_data);
        size_t off = 0;
        while (off < v.mv_size && !stop) {
            size_t start = off;
            msgpack_unpacked u;
            msgpack_unpacked_init(&u);
            cr_assert_eq(msgpack_unpack_next(&u, v.mv_data, v.mv_size, &off),
                         MSGPACK_UNPACK_SUCCESS, "log row %llu holds whole records",
                         (unsigned long long)store_u64_get(k.mv_data));
            msgpack_unpacked_destroy(&u);
            stop = fn(seq++, (const char *)v.mv_data + start, off - start, arg);
        }
    }
    mdb_cursor_close(cur);
    store_abort(&txn);
}

static int s_count(uint64_t seq, const char *rec, size_t len, void *arg)
{
    (void)seq, (void)rec, (void)len;
    ++*(size_t *)arg;
    return 0;
}

size_t fixture_log_records(fixture_store_t *f)
{
    size_t n = 0;
    s_log_walk(f, s_count, &n);
    return n;
}

typedef struct {
    uint64_t seq;
    char *buf;
    size_t cap, len;
} s_find_t;

static int s_find(uint64_t seq, const char *rec, size_t len, void *arg)
{
    s_find_t *w = arg;
    if (seq != w->seq) return 0;
    cr_assert_leq(len, w->cap);
    memcpy(w->buf, rec, len);
    w->len = len;
    return 1;
}

size_t fixture_log_record(fixture_store_t *f, uint64_t seq, char *buf, size_t cap)
{
    s_find_t w = {seq, buf, cap, 0};
    s_log_walk(f, s_find, &w);
    return w.len;
}

static void s_cstr(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

void fixture_pack_msg(msgpack_packer *pk, const char *trade_id, int64_t version,
                      const char *value, const char *risk_type, const char *region,
                      const char *desk)
{
    msgpack_pack_map(pk, 4);
    s_cstr(pk, "TradeID");
    s_cstr(pk, trade_id);
    s_cstr(pk, "Version");
    msgpack_pack_int64(pk, version);
    s_cstr(pk, "Value");
    s_cstr(pk, value);
    s_cstr(pk, "Hierarchy");
    msgpack_pack_map(pk, 3);
    s_cstr(pk, "RiskType");
    s_cstr(pk, risk_type);
    s_cstr(pk, "Region");
    s_cstr(pk, region);
    s_cstr(pk, "TradeDesk");
    s_cstr(pk, desk);
}
