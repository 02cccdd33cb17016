/* Unit tests for mapper/preagg.h: per-prefix (delta, count) of a batch of
 * changes against hand-worked expectations, cancellation of paths that net to
 * zero, 128-bit accumulation, and a randomised batch checked against an
 * independent reference indexed by small path ids. */
#include "../../common/rperr.h"
#include "../../mapper/preagg.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static preagg_t *g_pa;

static void s_setup(void)
{
    g_pa = preagg_new();
    cr_assert_not_null(g_pa);
}

static void s_teardown(void)
{
    preagg_destroy(&g_pa);
}

TestSuite(preagg, .init = s_setup, .fini = s_teardown);

static change_t s_new(const char *path, money_t v)
{
    return (change_t){.has_new = 1, .new_value = v, .new_path = path, .new_len = strlen(path)};
}

static change_t s_move(const char *op, money_t ov, const char *np, money_t nv)
{
    return (change_t){.has_old = 1, .old_value = ov, .old_path = op, .old_len = strlen(op),
                      .has_new = 1, .new_value = nv, .new_path = np, .new_len = strlen(np)};
}

static void s_add(change_t c)
{
    int rc = preagg_add(g_pa, &c);
    RP_ASSERT_OK(rc);
}

typedef struct {
    const char *path;
    money_sum_t delta;
    int64_t count;
} want_t;

/* Checks that the accumulator holds exactly the n expected entries. */
static void s_expect(const want_t *w, size_t n)
{
    cr_assert_eq(preagg_count(g_pa), n, "count %zu, want %zu", preagg_count(g_pa), n);
    int seen[64] = {0};
    size_t it = 0, got = 0, len;
    const char *path;
    money_sum_t delta;
    int64_t count;
    while (preagg_next(g_pa, &it, &path, &len, &delta, &count)) {
        got++;
        size_t j = 0;
        while (j < n && !(strlen(w[j].path) == len && memcmp(w[j].path, path, len) == 0)) j++;
        cr_assert_lt(j, n, "unexpected path '%.*s'", (int)len, path);
        cr_assert_not(seen[j], "path '%s' listed twice", w[j].path);
        seen[j] = 1;
        cr_assert(delta == w[j].delta, "'%s': delta %lld, want %lld", w[j].path, (long long)delta,
                  (long long)w[j].delta);
        cr_assert_eq(count, w[j].count, "'%s': count %lld, want %lld", w[j].path,
                     (long long)count, (long long)w[j].count);
    }
    cr_assert_eq(got, n, "iterated %zu entries, want %zu", got, n);
}

Test(preagg, new_trade_adds_value_and_one_to_every_prefix)
{
    s_add(s_new("Delta::AMER::FXSpot", 10));
    want_t w[] = {{"Delta", 10, 1}, {"Delta::AMER", 10, 1}, {"Delta::AMER::FXSpot", 10, 1}};
    s_expect(w, 3);
}

Test(preagg, deleted_trade_subtracts_value_and_one)
{
    change_t c = {.has_old = 1, .old_value = 4, .old_path = "a::b", .old_len = 4};
    s_add(c);
    want_t w[] = {{"a", -4, -1}, {"a::b", -4, -1}};
    s_expect(w, 2);
}

Test(preagg, revaluation_on_same_path_moves_value_not_count)
{
    s_add(s_move("a::b::c", 10, "a::b::c", 15));
    want_t w[] = {{"a", 5, 0}, {"a::b", 5, 0}, {"a::b::c", 5, 0}};
    s_expect(w, 3);
}

Test(preagg, move_to_other_path_keeps_common_prefix_count)
{
    s_add(s_move("a::x::q", 5, "a::y::q", 7));
    want_t w[] = {{"a", 2, 0}, {"a::x", -5, -1}, {"a::x::q", -5, -1}, {"a::y", 7, 1},
                  {"a::y::q", 7, 1}};
    s_expect(w, 5);
}

Test(preagg, change_that_cancels_out_drops_its_paths)
{
    s_add(s_move("B::Z::r", 3, "B::Z::r", 3));
    s_expect(NULL, 0);
}

Test(preagg, mixed_batch_matches_hand_computed_prefixes)
{
    s_add(s_new("A::X::p", 10000000));                      /* new trade */
    s_add(s_move("A::X::p", 10000000, "A::X::p", 15000000)); /* re-valuation */
    s_add(s_move("A::X::q", 5000000, "A::Y::q", 7000000));   /* move */
    s_add(s_move("B::Z::r", 3000000, "B::Z::r", 3000000));   /* cancels */
    /* A: +10 -10 +15 -5 +7 = 17, trades +1 -1 +1 -1 +1 = 1
     * A::X: +10 -10 +15 -5 = 10, trades +1 -1 +1 -1 = 0 (kept: delta != 0)
     * A::X::p: 15, 1; A::X::q: -5, -1; A::Y and A::Y::q: 7, 1; B...: dropped */
    want_t w[] = {{"A", 17000000, 1},     {"A::X", 10000000, 0},   {"A::X::p", 15000000, 1},
                  {"A::X::q", -5000000, -1}, {"A::Y", 7000000, 1}, {"A::Y::q", 7000000, 1}};
    s_expect(w, 6);
}

Test(preagg, zero_delta_with_nonzero_count_is_kept)
{
    s_add(s_new("a::b", 0));
    want_t w[] = {{"a", 0, 1}, {"a::b", 0, 1}};
    s_expect(w, 2);
}

Test(preagg, same_prefix_different_leaf_values_are_distinct)
{
    s_add(s_new("a::b", 1));
    s_add(s_new("a::bb", 2));
    s_add(s_new("a:b", 4)); /* a single ':' belongs to the value */
    want_t w[] = {{"a", 3, 2}, {"a::b", 1, 1}, {"a::bb", 2, 1}, {"a:b", 4, 1}};
    s_expect(w, 4);
}

Test(preagg, sums_beyond_int64_are_exact)
{
    for (int i = 0; i < 20; i++) s_add(s_new("p", MONEY_MAX));
    money_sum_t want = (money_sum_t)MONEY_MAX * 20; /* 2e19 > INT64_MAX */
    want_t w[] = {{"p", want, 20}};
    s_expect(w, 1);
}

Test(preagg, reset_empties_the_accumulator)
{
    s_add(s_new("a::b", 1));
    preagg_reset(g_pa);
    s_expect(NULL, 0);
    s_add(s_new("c", 2));
    want_t w[] = {{"c", 2, 1}};
    s_expect(w, 1);
}

Test(preagg, destroy_accepts_null_and_clears_pointer)
{
    preagg_t *p = NULL;
    preagg_destroy(&p);
    preagg_destroy(NULL);
    p = preagg_new();
    cr_assert_not_null(p);
    preagg_destroy(&p);
    cr_assert_null(p);
}

/* Random batch over paths L1{0..2}::L2{0..1}::L3{0..N3-1}, compared with a
 * reference table of (delta, count) per prefix, indexed by ids. */
#define N1 3
#define N2 2
#define N3 700

typedef struct {
    money_sum_t d;
    int64_t c;
} acc_t;

static acc_t r1[N1], r2[N1][N2], r3[N1][N2][N3];

static uint64_t s_rng = 12345;
static uint64_t s_rand(void)
{
    s_rng ^= s_rng << 13;
    s_rng ^= s_rng >> 7;
    s_rng ^= s_rng << 17;
    return s_rng;
}

static void s_ref(int a, int b, int c, money_sum_t d, int64_t n)
{
    r1[a].d += d, r1[a].c += n;
    r2[a][b].d += d, r2[a][b].c += n;
    r3[a][b][c].d += d, r3[a][b][c].c += n;
}

Test(preagg, random_batch_matches_independent_reference)
{
    static char paths[N1][N2][N3][32];
    for (int a = 0; a < N1; a++)
        for (int b = 0; b < N2; b++)
            for (int c = 0; c < N3; c++) snprintf(paths[a][b][c], 32, "L%d::M%d::T%d", a, b, c);
    for (int i = 0; i < 20000; i++) {
        int oa = (int)(s_rand() % N1), ob = (int)(s_rand() % N2), oc = (int)(s_rand() % N3);
        int na = (int)(s_rand() % N1), nb = (int)(s_rand() % N2), nc = (int)(s_rand() % N3);
        money_t ov = (money_t)(s_rand() % (2 * (uint64_t)MONEY_MAX + 1)) - MONEY_MAX;
        money_t nv = (money_t)(s_rand() % (2 * (uint64_t)MONEY_MAX + 1)) - MONEY_MAX;
        int kind = (int)(s_rand() % 3); /* 0 new, 1 delete, 2 update */
        change_t ch = {0};
        if (kind != 0) {
            ch.has_old = 1, ch.old_value = ov;
            ch.old_path = paths[oa][ob][oc], ch.old_len = strlen(ch.old_path);
            s_ref(oa, ob, oc, -(money_sum_t)ov, -1);
        }
        if (kind != 1) {
            ch.has_new = 1, ch.new_value = nv;
            ch.new_path = paths[na][nb][nc], ch.new_len = strlen(ch.new_path);
            s_ref(na, nb, nc, nv, 1);
        }
        s_add(ch);
    }
    size_t nonzero = 0;
    for (int a = 0; a < N1; a++) {
        nonzero += r1[a].d || r1[a].c;
        for (int b = 0; b < N2; b++) {
            nonzero += r2[a][b].d || r2[a][b].c;
            for (int c = 0; c < N3; c++) nonzero += r3[a][b][c].d || r3[a][b][c].c;
        }
    }
    cr_assert_eq(preagg_count(g_pa), nonzero, "count %zu, reference %zu", preagg_count(g_pa),
                 nonzero);
    size_t it = 0, len, got = 0;
    const char *path;
    money_sum_t delta;
    int64_t count;
    while (preagg_next(g_pa, &it, &path, &len, &delta, &count)) {
        char p[64];
        cr_assert_lt(len, sizeof p);
        memcpy(p, path, len);
        p[len] = 0;
        int a = -1, b = -1, c = -1;
        acc_t *ref;
        if (sscanf(p, "L%d::M%d::T%d", &a, &b, &c) == 3) ref = &r3[a][b][c];
        else if (sscanf(p, "L%d::M%d", &a, &b) == 2 && !strstr(p + 4, "::")) ref = &r2[a][b];
        else if (sscanf(p, "L%d", &a) == 1 && !strstr(p, "::")) ref = &r1[a];
        else cr_assert_fail("unexpected path '%s'", p);
        cr_assert(ref->d == delta, "'%s': delta differs from reference", p);
        cr_assert_eq(ref->c, count, "'%s': count %lld, reference %lld", p, (long long)count,
                     (long long)ref->c);
        cr_assert(ref->d || ref->c, "'%s' listed but cancels out in the reference", p);
        ref->c = INT64_MIN; /* seen: a second listing would fail the count check */
        got++;
    }
    cr_assert_eq(got, nonzero);
}
