/* Unit tests for state/trades.h, the state's GET /v1/trades API, on a real
 * state table whose rows are made by the ingest codec (risk_msg_decode +
 * tables_state_encode): a trade's JSON (exact value, path, every Hierarchy
 * key, the levels first, the timestamp as sent, text escaped), the
 * committed sequence number, a missing trade, and paging in TradeID byte
 * order with an exclusive cursor. Also tables_state_detail's refusals. */
#include "../../proto/mp.h"
#include "../../proto/risk.h"
#include "../../proto/tables.h"
#include "../../state/trades.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static fixture_store_t g_fx;
static hier_levels_t g_h;
static metrics_buf_t g_b;

static void s_setup(void)
{
    char why[128];
    cr_assert_eq(hier_levels_parse(HIER_DEFAULT, &g_h, why, sizeof why), 0);
    fixture_store_open(&g_fx, "trades", tables_state_dbs, 16 << 20);
    metrics_buf_init(&g_b);
}

static void s_teardown(void)
{
    metrics_buf_free(&g_b);
    fixture_store_close(&g_fx);
}

TestSuite(trades, .init = s_setup, .fini = s_teardown);

/* A message's fields; ts < 0: no Timestamp; extra: one more Hierarchy key
 * and value, or NULL. */
typedef struct {
    const char *id, *value, *rt, *region, *desk, *extra_key, *extra_val;
    int64_t version;
    double ts;
} t_t;

/* Stores the state row of t as ingest would. */
static void s_put(const t_t *t)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, t->ts < 0 ? 4 : 5);
    mp_pack_cstr(&pk, "TradeID");
    mp_pack_cstr(&pk, t->id);
    mp_pack_cstr(&pk, "Value");
    mp_pack_cstr(&pk, t->value);
    mp_pack_cstr(&pk, "Version");
    msgpack_pack_int64(&pk, t->version);
    if (t->ts >= 0) {
        mp_pack_cstr(&pk, "Timestamp");
        msgpack_pack_double(&pk, t->ts);
    }
    mp_pack_cstr(&pk, "Hierarchy");
    msgpack_pack_map(&pk, t->extra_key ? 4 : 3);
    mp_pack_cstr(&pk, "RiskType");
    mp_pack_cstr(&pk, t->rt);
    mp_pack_cstr(&pk, "Region");
    mp_pack_cstr(&pk, t->region);
    mp_pack_cstr(&pk, "TradeDesk");
    mp_pack_cstr(&pk, t->desk);
    if (t->extra_key) {
        mp_pack_cstr(&pk, t->extra_key);
        mp_pack_cstr(&pk, t->extra_val);
    }
    msgpack_unpacked unp;
    risk_msg_t m;
    char why[RISK_WHY_MAX] = "";
    RP_ASSERT_OK(risk_msg_unpack(sb.data, sb.size, &unp, why, sizeof why), "%s", why);
    RP_ASSERT_OK(risk_msg_decode(&unp.data, &g_h, &m, why, sizeof why), "%s", why);
    msgpack_sbuffer row;
    msgpack_sbuffer_init(&row);
    RP_ASSERT_OK(tables_state_encode(&m, &g_h, &row));
    MDB_txn *txn;
    RP_ASSERT_OK(store_begin(g_fx.st, 0, &txn));
    MDB_val k = {strlen(t->id), (void *)t->id}, v = {row.size, row.data};
    RP_ASSERT_OK(store_rc(mdb_put(txn, store_dbi(g_fx.st, SDB_STATE), &k, &v, 0)));
    RP_ASSERT_OK(store_commit(&txn));
    msgpack_sbuffer_destroy(&row);
    msgpack_unpacked_destroy(&unp);
    msgpack_sbuffer_destroy(&sb);
}

static void s_next_seq(uint64_t next)
{
    MDB_txn *txn;
    RP_ASSERT_OK(store_begin(g_fx.st, 0, &txn));
    RP_ASSERT_OK(store_meta_put(txn, store_dbi(g_fx.st, SDB_META), TABLES_META_NEXT_SEQ, next));
    RP_ASSERT_OK(store_commit(&txn));
}

static const char *s_get(const char *id, int want_rc)
{
    metrics_buf_free(&g_b);
    RP_ASSERT_RC(trades_get(g_fx.st, &g_h, id, strlen(id), &g_b), want_rc, "%s", id);
    return g_b.data ? g_b.data : "";
}

Test(trades, a_trade_is_its_latest_row_with_every_hierarchy_key)
{
    s_put(&(t_t){"T-1", "-12.5", "Delta", "AMER", "FX", "Book", "B 7", 3, 1700000000.001});
    s_next_seq(43);
    cr_assert_str_eq(s_get("T-1", 0),
                     "{\"trade_id\":\"T-1\",\"version\":3,\"value\":\"-12.500000\","
                     "\"path\":\"Delta::AMER::FX\",\"hierarchy\":{\"RiskType\":\"Delta\","
                     "\"Region\":\"AMER\",\"TradeDesk\":\"FX\",\"Book\":\"B 7\"},"
                     "\"timestamp\":1700000000.001,\"seq\":42}\n");
}

Test(trades, no_timestamp_is_null_and_no_meta_is_seq_0)
{
    s_put(&(t_t){"T-2", "1", "Vega", "EMEA", "Rates", NULL, NULL, 0, -1});
    cr_assert(strstr(s_get("T-2", 0), "\"timestamp\":null,\"seq\":0}"), "%s", g_b.data);
}

Test(trades, text_is_escaped_and_utf8_kept)
{
    s_put(&(t_t){"caf\xc3\xa9/\"1\"", "0.000001", "Delta", "A\\B", "FX", "Note", "\xe6\x97\xa5", 1,
                 5});
    const char *j = s_get("caf\xc3\xa9/\"1\"", 0);
    cr_assert(strstr(j, "\"trade_id\":\"caf\xc3\xa9/\\\"1\\\"\""), "%s", j);
    cr_assert(strstr(j, "\"path\":\"Delta::A\\\\B::FX\""), "%s", j);
    cr_assert(strstr(j, "\"Note\":\"\xe6\x97\xa5\""), "%s", j);
    cr_assert(strstr(j, "\"value\":\"0.000001\""), "%s", j);
}

Test(trades, a_missing_trade_is_not_found)
{
    s_put(&(t_t){"T-1", "1", "Delta", "AMER", "FX", NULL, NULL, 1, 1});
    s_get("T-0", RP_ENOTFOUND);
    s_get("T-1x", RP_ENOTFOUND);
}

/* The trade ids of a page, joined by spaces, then " | " and its next. */
static const char *s_page(const char *after, uint64_t limit)
{
    static char out[1024];
    metrics_buf_free(&g_b);
    RP_ASSERT_OK(trades_list(g_fx.st, &g_h, after, strlen(after), limit, &g_b));
    size_t off = 0;
    out[0] = 0;
    for (const char *p = g_b.data; (p = strstr(p, "\"trade_id\":\""));) {
        p += 12;
        const char *e = strchr(p, '"');
        off += (size_t)snprintf(out + off, sizeof out - off, "%s%.*s", off ? " " : "", (int)(e - p),
                                p);
    }
    const char *n = strstr(g_b.data, "\"next\":");
    snprintf(out + off, sizeof out - off, " | %s", n ? n + 7 : "?");
    out[strcspn(out, "}\n")] = 0;
    return out;
}

Test(trades, pages_follow_tradeid_byte_order_with_an_exclusive_cursor)
{
    const char *ids[] = {"b", "a", "B", "a1", "c"};
    for (int i = 0; i < 5; i++)
        s_put(&(t_t){ids[i], "1", "Delta", "AMER", "FX", NULL, NULL, 1, 1});
    s_next_seq(6);
    cr_assert_str_eq(s_page("", 2), "B a | \"a\"");
    cr_assert_str_eq(s_page("a", 2), "a1 b | \"b\"");
    cr_assert_str_eq(s_page("b", 2), "c | null");
    cr_assert_str_eq(s_page("b", 1), "c | null", "a full last page has no next");
    cr_assert_str_eq(s_page("a0", 10), "a1 b c | null", "the cursor need not exist");
    cr_assert_str_eq(s_page("zz", 10), " | null");
    cr_assert(strstr(g_b.data, "{\"seq\":5,\"trades\":["), "%s", g_b.data);
}

Test(trades, an_unreadable_row_is_refused_not_shown)
{
    MDB_txn *txn;
    RP_ASSERT_OK(store_begin(g_fx.st, 0, &txn));
    MDB_val k = {3, (void *)"bad"}, v = {3, (void *)"\x93\x01\x02"};
    RP_ASSERT_OK(store_rc(mdb_put(txn, store_dbi(g_fx.st, SDB_STATE), &k, &v, 0)));
    RP_ASSERT_OK(store_commit(&txn));
    s_get("bad", RP_EPROTO);
    metrics_buf_free(&g_b);
    RP_ASSERT_RC(trades_list(g_fx.st, &g_h, "", 0, 10, &g_b), RP_EPROTO);
}

Test(trades, state_detail_refuses_a_hierarchy_value_that_is_not_text)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, TABLES_STATE_FIELDS);
    msgpack_pack_int64(&pk, 1);
    msgpack_pack_int64(&pk, 1);
    msgpack_pack_nil(&pk);
    msgpack_pack_array(&pk, 3);
    for (int i = 0; i < 3; i++)
        mp_pack_cstr(&pk, "x");
    msgpack_pack_map(&pk, 1);
    mp_pack_cstr(&pk, "Book");
    msgpack_pack_int64(&pk, 7);
    msgpack_unpacked unp;
    state_row_t row;
    state_detail_t d;
    RP_ASSERT_RC(tables_state_detail(sb.data, sb.size, &g_h, &unp, &row, &d), RP_EPROTO);
    msgpack_unpacked_destroy(&unp);
    RP_ASSERT_OK(tables_state_decode(sb.data, sb.size, &g_h, &row), "the basic decode ignores it");
    msgpack_sbuffer_destroy(&sb);
}
