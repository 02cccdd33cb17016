/* Unit tests for common/store.h on a real LMDB environment in a mkdtemp
 * directory: open/create, meta values, big-endian key order, map growth up to
 * the cap, and clean failure of a read-only open of a missing directory. */
#include "../../common/rperr.h"
#include "../../common/store.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>

static char g_dir[256];
static store_t *g_st;
static const char *const g_dbs[] = {"one", "meta", NULL};

static void s_setup(void)
{
    fixture_tmpdir(g_dir, sizeof g_dir, "store");
    g_st = NULL;
}

static void s_teardown(void)
{
    store_destroy(&g_st);
    fixture_rmdir(g_dir);
}

TestSuite(store, .init = s_setup, .fini = s_teardown);

static void s_open(size_t mapsize)
{
    int err = 0;
    g_st = store_open(g_dir, g_dbs, mapsize, 0, &err);
    cr_assert_not_null(g_st, "store_open: %d %s", err, rp_strerror(err));
}

static size_t s_mapsize(void)
{
    size_t size = store_map_size(g_st);
    cr_assert_neq(size, 0, "store_map_size failed");
    return size;
}

/* A commit for store_commit_or_grow: puts 200 kB in one transaction, which
 * fails on a small map and fits once it has grown; counts its calls. */
typedef struct {
    store_t *st;
    int calls;
} put_t;

static int s_put_big(void *arg)
{
    put_t *p = arg;
    static char big[200000];
    memset(big, 'q', sizeof big);
    p->calls++;
    MDB_txn *txn = NULL;
    int rc = store_begin(p->st, 0, &txn);
    uint8_t k[8];
    store_u64_put(k, 1);
    MDB_val kv = {8, k}, vv = {sizeof big, big};
    if (rc == 0) rc = store_rc(mdb_put(txn, store_dbi(p->st, 0), &kv, &vv, 0));
    if (rc == 0) rc = store_commit(&txn);
    store_abort(&txn);
    return rc;
}

Test(store, open_creates_environment_files)
{
    s_open(1 << 20);
    char p[300];
    struct stat st;
    snprintf(p, sizeof p, "%s/data.mdb", g_dir);
    cr_assert_eq(stat(p, &st), 0, "%s missing", p);
}

Test(store, open_creates_missing_nested_directories)
{
    char sub[300];
    snprintf(sub, sizeof sub, "%s/a/b/c", g_dir);
    int err = 0;
    g_st = store_open(sub, g_dbs, 1 << 20, 0, &err);
    cr_assert_not_null(g_st, "store_open: %d %s", err, rp_strerror(err));
    struct stat st;
    cr_assert_eq(stat(sub, &st), 0);
    cr_assert(S_ISDIR(st.st_mode));
}

Test(store, readonly_open_of_missing_dir_fails_cleanly)
{
    char sub[300];
    snprintf(sub, sizeof sub, "%s/absent", g_dir);
    int err = 0;
    store_t *s = store_open(sub, g_dbs, 0, STORE_RDONLY, &err);
    cr_assert_null(s);
    RP_ASSERT_RC(err, RP_ENOTFOUND);
    struct stat st;
    cr_assert_neq(stat(sub, &st), 0, "read-only open created the directory");
}

Test(store, readonly_open_of_missing_database_fails)
{
    s_open(1 << 20);
    store_destroy(&g_st);
    const char *const other[] = {"one", "nope", NULL};
    int err = 0;
    store_t *s = store_open(g_dir, other, 0, STORE_RDONLY, &err);
    cr_assert_null(s);
    RP_ASSERT_RC(err, RP_ENOTFOUND);
}

Test(store, meta_put_then_get)
{
    s_open(1 << 20);
    MDB_txn *txn;
    int rc = store_begin(g_st, 0, &txn);
    RP_ASSERT_OK(rc);
    cr_assert_eq(store_meta_put(txn, store_dbi(g_st, 1), "next_seq", 0x0102030405060708ULL), 0);
    rc = store_commit(&txn);
    RP_ASSERT_OK(rc);
    cr_assert_null(txn);
    cr_assert_eq(store_begin(g_st, 1, &txn), 0);
    uint64_t v = 0;
    rc = store_meta_get(txn, store_dbi(g_st, 1), "next_seq", &v);
    RP_ASSERT_OK(rc);
    cr_assert_eq(v, 0x0102030405060708ULL);
    store_abort(&txn);
    cr_assert_null(txn);
}

Test(store, meta_get_missing_key_is_not_found)
{
    s_open(1 << 20);
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_st, 1, &txn), 0);
    uint64_t v = 7;
    cr_assert_eq(store_meta_get(txn, store_dbi(g_st, 1), "absent", &v), RP_ENOTFOUND);
    cr_assert_eq(v, 7);
    store_abort(&txn);
}

Test(store, meta_get_of_wrong_size_value_is_a_protocol_error)
{
    s_open(1 << 20);
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_st, 0, &txn), 0);
    MDB_val k = {3, "bad"}, v = {3, "xyz"};
    cr_assert_eq(mdb_put(txn, store_dbi(g_st, 1), &k, &v, 0), 0);
    uint64_t x;
    RP_ASSERT_RC(store_meta_get(txn, store_dbi(g_st, 1), "bad", &x), RP_EPROTO);
    store_abort(&txn);
}

Test(store, meta_survives_reopen)
{
    s_open(1 << 20);
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_st, 0, &txn), 0);
    cr_assert_eq(store_meta_put(txn, store_dbi(g_st, 1), "k", 99), 0);
    cr_assert_eq(store_commit(&txn), 0);
    store_destroy(&g_st);
    cr_assert_null(g_st);
    int err = 0;
    g_st = store_open(g_dir, g_dbs, 0, STORE_RDONLY, &err);
    cr_assert_not_null(g_st, "reopen read-only: %d", err);
    cr_assert_eq(store_begin(g_st, 1, &txn), 0);
    uint64_t v = 0;
    cr_assert_eq(store_meta_get(txn, store_dbi(g_st, 1), "k", &v), 0);
    cr_assert_eq(v, 99);
    store_abort(&txn);
}

Test(store, aborted_transaction_leaves_no_trace)
{
    s_open(1 << 20);
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_st, 0, &txn), 0);
    cr_assert_eq(store_meta_put(txn, store_dbi(g_st, 1), "k", 1), 0);
    store_abort(&txn);
    store_abort(&txn); /* NULL after the first abort: a no-op */
    cr_assert_eq(store_begin(g_st, 1, &txn), 0);
    uint64_t v;
    cr_assert_eq(store_meta_get(txn, store_dbi(g_st, 1), "k", &v), RP_ENOTFOUND);
    store_abort(&txn);
}

Test(store, u64_is_big_endian)
{
    uint8_t b[8];
    store_u64_put(b, 0x0102030405060708ULL);
    const uint8_t want[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    cr_assert_eq(memcmp(b, want, 8), 0);
    cr_assert_eq(store_u64_get(want), 0x0102030405060708ULL);
    store_u64_put(b, UINT64_MAX);
    cr_assert_eq(store_u64_get(b), UINT64_MAX);
    store_u64_put(b, 0);
    cr_assert_eq(store_u64_get(b), 0);
}

Test(store, u64_keys_iterate_in_numeric_order)
{
    s_open(1 << 20);
    const uint64_t keys[] = {256, 1, 65536, 2, UINT64_MAX, 255, 1ULL << 40, 0};
    const uint64_t sorted[] = {0, 1, 2, 255, 256, 65536, 1ULL << 40, UINT64_MAX};
    MDB_txn *txn;
    cr_assert_eq(store_begin(g_st, 0, &txn), 0);
    for (int i = 0; i < 8; i++) {
        uint8_t k[8];
        store_u64_put(k, keys[i]);
        MDB_val kv = {8, k}, vv = {1, "x"};
        cr_assert_eq(mdb_put(txn, store_dbi(g_st, 0), &kv, &vv, 0), 0);
    }
    MDB_cursor *cur;
    cr_assert_eq(mdb_cursor_open(txn, store_dbi(g_st, 0), &cur), 0);
    MDB_val k, v;
    int i = 0;
    for (int r = mdb_cursor_get(cur, &k, &v, MDB_FIRST); r == 0;
         r = mdb_cursor_get(cur, &k, &v, MDB_NEXT), i++) {
        cr_assert_lt(i, 8);
        cr_assert_eq(store_u64_get(k.mv_data), sorted[i], "position %d", i);
    }
    cr_assert_eq(i, 8);
    mdb_cursor_close(cur);
    store_abort(&txn);
}

Test(store, grow_doubles_up_to_cap_then_full)
{
    s_open(1 << 20);
    size_t m0 = s_mapsize();
    cr_assert_eq(m0, (size_t)1 << 20);
    int rc = store_grow(g_st, 4 << 20);
    RP_ASSERT_OK(rc);
    cr_assert_eq(s_mapsize(), (size_t)2 << 20);
    cr_assert_eq(store_grow(g_st, 4 << 20), 0);
    cr_assert_eq(s_mapsize(), (size_t)4 << 20);
    rc = store_grow(g_st, 4 << 20);
    RP_ASSERT_RC(rc, RP_EFULL);
    cr_assert_eq(s_mapsize(), (size_t)4 << 20);
}

Test(store, grow_stops_exactly_at_a_cap_that_is_not_a_doubling)
{
    s_open(1 << 20);
    cr_assert_eq(store_grow(g_st, 3 << 20), 0);
    cr_assert_eq(store_grow(g_st, 3 << 20), 0);
    cr_assert_eq(s_mapsize(), (size_t)3 << 20);
    RP_ASSERT_RC(store_grow(g_st, 3 << 20), RP_EFULL);
}

Test(store, full_map_reports_efull_and_grow_makes_room)
{
    s_open(64 << 10);
    MDB_txn *txn;
    static char big[16384];
    memset(big, 'z', sizeof big);
    int rc = 0;
    uint64_t i;
    for (i = 0; i < 64 && rc == 0; i++) {
        cr_assert_eq(store_begin(g_st, 0, &txn), 0);
        uint8_t k[8];
        store_u64_put(k, i);
        MDB_val kv = {8, k}, vv = {sizeof big, big};
        rc = store_rc(mdb_put(txn, store_dbi(g_st, 0), &kv, &vv, 0));
        if (rc == 0) rc = store_commit(&txn);
        else store_abort(&txn);
    }
    RP_ASSERT_RC(rc, RP_EFULL, "after %llu puts", (unsigned long long)i);
    cr_assert_eq(store_grow(g_st, 1 << 20), 0);
    cr_assert_eq(store_begin(g_st, 0, &txn), 0);
    uint8_t k[8];
    store_u64_put(k, i);
    MDB_val kv = {8, k}, vv = {sizeof big, big};
    rc = store_rc(mdb_put(txn, store_dbi(g_st, 0), &kv, &vv, 0));
    RP_ASSERT_OK(rc, "after growing");
    cr_assert_eq(store_commit(&txn), 0);
}

Test(store, rc_maps_lmdb_codes_and_keeps_them)
{
    cr_assert_eq(store_rc(MDB_SUCCESS), 0);
    cr_assert_eq(store_rc(MDB_NOTFOUND), RP_ENOTFOUND);
    const int codes[] = {MDB_MAP_FULL, ENOSPC, MDB_CORRUPTED, EIO, MDB_BAD_TXN};
    const int classes[] = {RP_EFULL, RP_EFULL, RP_EDB, RP_EDB, RP_EDB};
    for (int i = 0; i < 5; i++) {
        int rc = store_rc(codes[i]);
        cr_assert_lt(rc, 0, "LMDB code %d maps to a negative code", codes[i]);
        cr_assert_eq(rp_class(rc), classes[i], "class of LMDB code %d", codes[i]);
        cr_assert_eq(rp_lmdb_code(rc), codes[i], "LMDB code %d kept", codes[i]);
        cr_assert_not_null(strstr(rp_strerror(rc), mdb_strerror(codes[i])), "text of %d: %s",
                           codes[i], rp_strerror(rc));
    }
    cr_assert_eq(rp_lmdb_code(RP_EDB), 0, "a plain code wraps nothing");
}

Test(store, errno_values_keep_their_code_and_kind)
{
    int rc = rp_wrap_errno(RP_EZMQ, ECONNREFUSED);
    cr_assert_lt(rc, 0);
    cr_assert_eq(rp_class(rc), RP_EZMQ);
    cr_assert_eq(rp_errno(rc), ECONNREFUSED);
    cr_assert_eq(rp_lmdb_code(rc), 0, "not an LMDB code");
    cr_assert_not_null(strstr(rp_strerror(rc), strerror(ECONNREFUSED)), "%s", rp_strerror(rc));
    rc = rp_wrap_errno(RP_EIO, ENOSPC);
    cr_assert_eq(rp_class(rc), RP_EIO);
    cr_assert_eq(rp_errno(rc), ENOSPC);
    int efsm = 156384712 + 51; /* libzmq's EFSM */
    rc = rp_wrap_errno(RP_EZMQ, efsm);
    cr_assert_eq(rp_errno(rc), efsm, "libzmq's own errno values survive too");
    cr_assert_not_null(strstr(rp_strerror(rc), "this state"), "%s", rp_strerror(rc));
    cr_assert_eq(rp_errno(store_rc(MDB_MAP_FULL)), 0, "an LMDB code is not an errno");
    cr_assert_eq(rp_errno(RP_EZMQ), 0);
}

Test(store, commit_or_grow_grows_until_the_commit_fits)
{
    s_open(64 << 10);
    put_t p = {g_st, 0};
    int rc = store_commit_or_grow(g_st, 4 << 20, s_put_big, &p);
    RP_ASSERT_OK(rc);
    cr_assert_gt(p.calls, 1, "the first attempt must have failed for lack of room");
    cr_assert_gt(s_mapsize(), (size_t)64 << 10);
}

/* The state's mode: pages changed in the map itself. A commit that needs a
 * larger map still grows it, and what it committed is read back, byte for
 * byte, by a plain (pwrite-mode) reader after a reopen. */
Test(store, writemap_grows_commits_and_reads_back_after_reopen)
{
    int err = 0;
    g_st = store_open(g_dir, g_dbs, 64 << 10, STORE_WRITEMAP, &err);
    cr_assert_not_null(g_st, "store_open: %d %s", err, rp_strerror(err));
    put_t p = {g_st, 0};
    RP_ASSERT_OK(store_commit_or_grow(g_st, 4 << 20, s_put_big, &p));
    cr_assert_gt(p.calls, 1, "the first attempt must have failed for lack of room");
    store_destroy(&g_st);
    g_st = store_open(g_dir, g_dbs, 0, STORE_RDONLY, &err);
    cr_assert_not_null(g_st, "reopen: %d %s", err, rp_strerror(err));
    MDB_txn *txn = NULL;
    RP_ASSERT_OK(store_begin(g_st, 1, &txn));
    uint8_t k[8];
    store_u64_put(k, 1);
    MDB_val kv = {8, k}, vv;
    cr_assert_eq(mdb_get(txn, store_dbi(g_st, 0), &kv, &vv), 0);
    cr_assert_eq(vv.mv_size, 200000);
    size_t i = 0;
    while (i < vv.mv_size && ((const char *)vv.mv_data)[i] == 'q') i++;
    cr_assert_eq(i, vv.mv_size, "byte %zu differs after the reopen", i);
    store_abort(&txn);
}

Test(store, commit_or_grow_gives_the_full_code_at_the_cap)
{
    s_open(64 << 10);
    put_t p = {g_st, 0};
    int rc = store_commit_or_grow(g_st, 128 << 10, s_put_big, &p);
    RP_ASSERT_RC(rc, RP_EFULL);
    cr_assert_eq(rp_lmdb_code(rc), MDB_MAP_FULL, "the LMDB code survives: %s", rp_strerror(rc));
    cr_assert_eq(s_mapsize(), (size_t)128 << 10);
}

Test(store, meta_strings_round_trip_and_refuse_small_buffers)
{
    s_open(1 << 20);
    MDB_txn *txn;
    RP_ASSERT_OK(store_begin(g_st, 0, &txn));
    RP_ASSERT_OK(store_meta_put_str(txn, store_dbi(g_st, 1), "hier", "RiskType,Region"));
    char buf[32], tiny[8];
    RP_ASSERT_OK(store_meta_get_str(txn, store_dbi(g_st, 1), "hier", buf, sizeof buf));
    cr_assert_str_eq(buf, "RiskType,Region");
    RP_ASSERT_RC(store_meta_get_str(txn, store_dbi(g_st, 1), "hier", tiny, sizeof tiny),
                 RP_ERANGE);
    RP_ASSERT_RC(store_meta_get_str(txn, store_dbi(g_st, 1), "none", buf, sizeof buf),
                 RP_ENOTFOUND);
    store_abort(&txn);
}

Test(store, meta_load_fills_absent_keys_with_their_defaults)
{
    s_open(1 << 20);
    MDB_txn *txn;
    RP_ASSERT_OK(store_begin(g_st, 0, &txn));
    RP_ASSERT_OK(store_meta_put(txn, store_dbi(g_st, 1), "a", 41));
    RP_ASSERT_OK(store_commit(&txn));
    uint64_t a = 0, b = 0;
    store_meta_u64_t load[] = {{"a", &a, 7}, {"b", &b, 9}};
    RP_ASSERT_OK(store_meta_load(g_st, store_dbi(g_st, 1), load, 2));
    cr_assert_eq(a, 41);
    cr_assert_eq(b, 9);
}

Test(store, destroy_clears_the_pointer_and_accepts_null)
{
    s_open(1 << 20);
    cr_assert_not_null(g_st);
    store_destroy(&g_st);
    cr_assert_null(g_st, "destroy must clear the caller's pointer");
    store_destroy(&g_st); /* already NULL: a no-op */
    store_destroy(NULL);
}
