/* Unit tests for state/dlq.h on a real store: a rejected message is kept
 * whole, and a source over its quota of entries or bytes loses its own
 * oldest entries, counted, never another source's. */
#include "../../proto/tables.h"
#include "../../state/dlq.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <string.h>

static fixture_store_t g_fx;
static dlq_t *g_dlq;

static void s_open(uint64_t max_entries, uint64_t max_bytes)
{
    fixture_store_open(&g_fx, "dlq", tables_state_dbs, 16 << 20);
    int err = 0;
    g_dlq = dlq_new(g_fx.st, max_entries, max_bytes, &err);
    cr_assert_not_null(g_dlq, "dlq_new: %s", rp_strerror(err));
}

static void s_teardown(void)
{
    dlq_destroy(&g_dlq);
    fixture_store_close(&g_fx);
}

TestSuite(dlq, .fini = s_teardown);

/* Adds n entries of len bytes from source, one commit each. */
static void s_add(const char *source, int n, size_t len)
{
    static char raw[100000];
    memset(raw, 'r', sizeof raw);
    cr_assert_leq(len, sizeof raw);
    for (int i = 0; i < n; i++) {
        MDB_txn *txn;
        RP_ASSERT_OK(store_begin(g_fx.st, 0, &txn));
        RP_ASSERT_OK(dlq_add(g_dlq, txn, raw, len, (uint64_t)i, "bad", source));
        RP_ASSERT_OK(store_commit(&txn));
        dlq_committed(g_dlq);
    }
}

/* Entries of the dlq table per source (decoded), and the id of the oldest. */
static int s_count(const char *source, uint64_t *oldest)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    RP_ASSERT_OK(store_begin(g_fx.st, 1, &txn));
    RP_ASSERT_OK(store_rc(mdb_cursor_open(txn, store_dbi(g_fx.st, SDB_DLQ), &cur)));
    MDB_val k, v;
    int n = 0;
    *oldest = 0;
    for (int r = mdb_cursor_get(cur, &k, &v, MDB_FIRST); r == 0;
         r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        msgpack_unpacked unp;
        dlq_row_t row;
        RP_ASSERT_OK(tables_dlq_decode(v.mv_data, v.mv_size, &unp, &row));
        if (row.source_len == strlen(source) && !memcmp(row.source, source, row.source_len)) {
            if (!n) *oldest = row.id;
            n++;
        }
        msgpack_unpacked_destroy(&unp);
    }
    mdb_cursor_close(cur);
    store_abort(&txn);
    return n;
}

Test(dlq, a_large_message_is_kept_whole)
{
    s_open(100, 1 << 30);
    s_add("ingest 10.0.0.1", 1, 50000);
    MDB_txn *txn;
    RP_ASSERT_OK(store_begin(g_fx.st, 1, &txn));
    uint8_t key[8];
    store_u64_put(key, 1);
    MDB_val k = {8, key}, v;
    RP_ASSERT_OK(store_rc(mdb_get(txn, store_dbi(g_fx.st, SDB_DLQ), &k, &v)));
    msgpack_unpacked unp;
    dlq_row_t row;
    RP_ASSERT_OK(tables_dlq_decode(v.mv_data, v.mv_size, &unp, &row));
    cr_assert_eq(row.raw_len, 50000, "the whole message, so it can be replayed");
    cr_assert_not(row.truncated);
    msgpack_unpacked_destroy(&unp);
    store_abort(&txn);
}

Test(dlq, a_flooding_source_evicts_only_its_own_oldest_entries)
{
    s_open(5, 1 << 30);
    s_add("ingest 10.0.0.1", 3, 100); /* a well-behaved producer: ids 1..3 */
    s_add("ingest 10.0.0.66", 20, 100); /* a flood of junk: ids 4..23 */
    uint64_t oldest;
    cr_assert_eq(s_count("ingest 10.0.0.1", &oldest), 3, "the other source lost entries");
    cr_assert_eq(oldest, 1);
    cr_assert_eq(s_count("ingest 10.0.0.66", &oldest), 5, "the flood kept its quota");
    cr_assert_eq(oldest, 19, "its newest five, ids 19..23");
    cr_assert_eq(dlq_evicted(g_dlq), 15);
    cr_assert_eq(dlq_added(g_dlq), 23);
}

Test(dlq, a_source_over_its_bytes_loses_its_oldest_but_keeps_its_newest)
{
    s_open(1000, 25000);
    s_add("ingest 10.0.0.2", 3, 10000);
    uint64_t oldest;
    cr_assert_eq(s_count("ingest 10.0.0.2", &oldest), 2, "two entries of ~10 kB fit 25 kB");
    cr_assert_eq(oldest, 2);
    s_add("ingest 10.0.0.2", 1, 90000); /* larger than the quota on its own */
    cr_assert_eq(s_count("ingest 10.0.0.2", &oldest), 1, "the newest is kept, whatever its size");
    cr_assert_eq(oldest, 4);
    cr_assert_eq(dlq_evicted(g_dlq), 3);
}

Test(dlq, an_aborted_add_counts_nothing)
{
    s_open(2, 1 << 30);
    s_add("ingest 10.0.0.3", 2, 10);
    MDB_txn *txn;
    RP_ASSERT_OK(store_begin(g_fx.st, 0, &txn));
    RP_ASSERT_OK(dlq_add(g_dlq, txn, "x", 1, 0, "bad", "ingest 10.0.0.3"));
    store_abort(&txn);
    dlq_aborted(g_dlq);
    cr_assert_eq(dlq_evicted(g_dlq), 0);
    cr_assert_eq(dlq_added(g_dlq), 2);
    uint64_t oldest;
    cr_assert_eq(s_count("ingest 10.0.0.3", &oldest), 2);
    s_add("ingest 10.0.0.3", 1, 10);
    cr_assert_eq(s_count("ingest 10.0.0.3", &oldest), 2);
    cr_assert_eq(oldest, 2, "ids go on from the last committed one");
}
