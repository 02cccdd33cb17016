/* Unit tests for reducer/pathset.h, the set of changed aggregate paths the
 * event streams read, and for the applier's hook that fills it
 * (apply_watch): each path once, in insertion order or sorted, bounded with
 * an overflow mark, and rolled back with an aborted transaction so that it
 * holds only what committed. */
#include "../../proto/tables.h"
#include "../../reducer/apply.h"
#include "../../reducer/pathset.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static pathset_t *g_ps;

static void s_setup(void)
{
    g_ps = pathset_new(1000);
    cr_assert_not_null(g_ps);
}

static void s_teardown(void)
{
    pathset_destroy(&g_ps);
}

TestSuite(pathset, .init = s_setup, .fini = s_teardown);

static void s_add(const char *p)
{
    RP_ASSERT_OK(pathset_add(g_ps, p, strlen(p)), "adding %s", p);
}

/* The set's paths joined by spaces, in their present order. */
static const char *s_list(void)
{
    static char out[4096];
    size_t off = 0;
    out[0] = 0;
    for (size_t i = 0; i < pathset_count(g_ps); i++) {
        size_t len;
        const char *p = pathset_get(g_ps, i, &len);
        off += (size_t)snprintf(out + off, sizeof out - off, "%s%.*s", i ? " " : "", (int)len, p);
    }
    return out;
}

Test(pathset, a_path_added_twice_is_held_once)
{
    s_add("Delta");
    s_add("Delta::AMER");
    s_add("Delta");
    cr_assert_eq(pathset_count(g_ps), 2);
    cr_assert_str_eq(s_list(), "Delta Delta::AMER");
    cr_assert(pathset_has(g_ps, "Delta::AMER", 11));
    cr_assert(!pathset_has(g_ps, "Delta::AME", 10));
}

Test(pathset, many_paths_survive_the_index_growing)
{
    char p[32];
    for (int i = 0; i < 900; i++) {
        snprintf(p, sizeof p, "R%d::X", i);
        s_add(p);
    }
    for (int i = 0; i < 900; i++) {
        snprintf(p, sizeof p, "R%d::X", i);
        cr_assert(pathset_has(g_ps, p, strlen(p)), "%s lost", p);
        s_add(p); /* again: no new entry */
    }
    cr_assert_eq(pathset_count(g_ps), 900);
    cr_assert_eq(pathset_overflowed(g_ps), 0);
}

Test(pathset, past_its_bound_it_marks_an_overflow)
{
    pathset_destroy(&g_ps);
    g_ps = pathset_new(2);
    s_add("a");
    s_add("b");
    s_add("a"); /* present: fine */
    RP_ASSERT_RC(pathset_add(g_ps, "c", 1), RP_ERANGE);
    cr_assert_eq(pathset_count(g_ps), 2);
    cr_assert(pathset_overflowed(g_ps));
    pathset_clear(g_ps);
    cr_assert_eq(pathset_count(g_ps), 0);
    cr_assert(!pathset_overflowed(g_ps));
    s_add("c");
}

Test(pathset, sort_is_bytewise_like_lmdb_keys)
{
    s_add("DeltaHedge");
    s_add("Delta::AMER");
    s_add("Delta");
    s_add("Delta-X");
    pathset_sort(g_ps);
    cr_assert_str_eq(s_list(), "Delta Delta-X Delta::AMER DeltaHedge");
    cr_assert(pathset_has(g_ps, "DeltaHedge", 10), "the index follows the sort");
}

Test(pathset, rollback_forgets_what_was_added_since_the_mark)
{
    s_add("a");
    s_add("b");
    pathset_mark(g_ps);
    s_add("c");
    s_add("a");
    pathset_rollback(g_ps);
    cr_assert_str_eq(s_list(), "a b");
    cr_assert(!pathset_has(g_ps, "c", 1));
    s_add("c");
    cr_assert_str_eq(s_list(), "a b c");
}

Test(pathset, rollback_undoes_an_overflow_since_the_mark)
{
    pathset_destroy(&g_ps);
    g_ps = pathset_new(1);
    s_add("a");
    pathset_mark(g_ps);
    cr_assert_neq(pathset_add(g_ps, "b", 1), 0);
    pathset_rollback(g_ps);
    cr_assert(!pathset_overflowed(g_ps));
}

/* Applies one RESULT of deltas (path, value in micro-units) for batch id
 * with a in its own transaction; commit 0 aborts it. */
static void s_apply(fixture_store_t *fx, apply_t *a, uint64_t id, const char *const *paths, int n,
                    int commit)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    frame_result_head(&pk, &fixture_sid, id, 0, "test:1", FRAME_MAX_CHANGES,
                      &(frame_pos_t){.last_seq = id * 10, .head_seq = id * 10}, (uint32_t)n);
    for (int i = 0; i < n; i++)
        frame_delta_pack(&pk, paths[i], strlen(paths[i]), 1000000, 1);
    msgpack_unpacked u;
    result_t r;
    char why[160] = "";
    cr_assert_eq(frame_result_decode(sb.data, sb.size, &u, &r, why, sizeof why), 0, "%s", why);
    MDB_txn *txn;
    RP_ASSERT_OK(store_begin(fx->st, 0, &txn));
    int dup;
    RP_ASSERT_OK(apply_result(a, txn, &r, &dup));
    if (commit) {
        RP_ASSERT_OK(store_commit(&txn));
        apply_committed(a);
    } else {
        store_abort(&txn);
        apply_aborted(a);
    }
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&sb);
}

Test(pathset, the_applier_adds_committed_paths_and_rolls_back_aborted_ones)
{
    fixture_store_t fx = {0};
    fixture_store_open(&fx, "pathset", tables_reducer_dbs, 16 << 20);
    int err = 0;
    apply_t *a = apply_new(fx.st, 1, &err);
    cr_assert_not_null(a, "%s", rp_strerror(err));
    apply_watch(a, g_ps);
    const char *first[] = {"Delta", "Delta::AMER"}, *second[] = {"Vega", "Delta"};
    s_apply(&fx, a, 1, first, 2, 1);
    s_apply(&fx, a, 2, second, 2, 0); /* aborted: Vega never happened */
    cr_assert_str_eq(s_list(), "Delta Delta::AMER");
    s_apply(&fx, a, 2, second, 2, 1);
    cr_assert_str_eq(s_list(), "Delta Delta::AMER Vega");
    apply_destroy(&a);
    fixture_store_close(&fx);
}
