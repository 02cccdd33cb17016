/* Unit tests for proto/shard.h: the documented hash (FNV-1a-64, checked
 * against the published test vectors of its authors, not against itself),
 * routing, finding the TradeID in a packed message, and endpoint lists; and
 * for the shard count each environment records (tables_meta_shards). */
#include "../../common/rperr.h"
#include "../../proto/shard.h"
#include "../../proto/tables.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <msgpack.h>
#include <string.h>

Test(shard, hash_is_fnv1a_64_by_its_published_vectors)
{
    /* from the FNV reference test suite (Fowler, Noll, Vo) */
    cr_assert_eq(shard_hash("", 0), 0xcbf29ce484222325ULL);
    cr_assert_eq(shard_hash("a", 1), 0xaf63dc4c8601ec8cULL);
    cr_assert_eq(shard_hash("foobar", 6), 0x85944171f73967e8ULL);
}

Test(shard, one_shard_takes_everything_and_k_shards_share_fairly)
{
    cr_assert_eq(shard_of("anything", 8, 1), 0);
    int count[4] = {0};
    char id[32];
    for (int i = 0; i < 40000; i++) {
        int n = snprintf(id, sizeof id, "T-%d", i);
        uint32_t s = shard_of(id, (size_t)n, 4);
        cr_assert_lt(s, 4);
        cr_assert_eq(s, shard_hash(id, (size_t)n) % 4, "the documented formula");
        count[s]++;
    }
    for (int s = 0; s < 4; s++)
        cr_assert(count[s] > 9000 && count[s] < 11000, "shard %d has %d of 40000", s, count[s]);
}

static msgpack_sbuffer g_sb;
static msgpack_packer g_pk;

static void s_str(const char *s)
{
    msgpack_pack_str_with_body(&g_pk, s, strlen(s));
}

Test(shard, the_trade_id_is_found_in_a_packed_message_and_its_wrapper)
{
    msgpack_sbuffer_init(&g_sb);
    msgpack_packer_init(&g_pk, &g_sb, msgpack_sbuffer_write);
    /* {"Version": 2, "Hierarchy": {"TradeID": "decoy"}, "TradeID": "T-42"} */
    msgpack_pack_map(&g_pk, 3);
    s_str("Version");
    msgpack_pack_int(&g_pk, 2);
    s_str("Hierarchy");
    msgpack_pack_map(&g_pk, 1);
    s_str("TradeID");
    s_str("decoy");
    s_str("TradeID");
    s_str("T-42");
    const char *id;
    size_t len;
    cr_assert_eq(shard_trade_id(g_sb.data, g_sb.size, &id, &len), 0);
    cr_assert(len == 4 && memcmp(id, "T-42", 4) == 0, "found '%.*s'", (int)len, id);
    /* the same inside {"RiskMessage": ...} */
    msgpack_sbuffer_clear(&g_sb);
    msgpack_pack_map(&g_pk, 1);
    s_str("RiskMessage");
    msgpack_pack_map(&g_pk, 1);
    s_str("TradeID");
    s_str("W-1");
    cr_assert_eq(shard_trade_id(g_sb.data, g_sb.size, &id, &len), 0);
    cr_assert(len == 3 && memcmp(id, "W-1", 3) == 0);
    /* none, a number, truncated, not a map */
    msgpack_sbuffer_clear(&g_sb);
    msgpack_pack_map(&g_pk, 1);
    s_str("TradeID");
    msgpack_pack_int(&g_pk, 7);
    cr_assert_eq(shard_trade_id(g_sb.data, g_sb.size, &id, &len), -1);
    cr_assert_eq(shard_trade_id(g_sb.data, g_sb.size - 1, &id, &len), -1);
    msgpack_sbuffer_clear(&g_sb);
    msgpack_pack_array(&g_pk, 0);
    cr_assert_eq(shard_trade_id(g_sb.data, g_sb.size, &id, &len), -1);
    msgpack_sbuffer_destroy(&g_sb);
}

Test(shard, endpoint_lists_split_and_empty_entries_are_refused)
{
    char a[] = "tcp://a:1,tcp://b:2", b[] = "tcp://a:1", c[] = "x,,y", d[] = "x,", e[] = "";
    char f[] = "a,b,c";
    char *out[4];
    cr_assert_eq(shard_split(a, out, 4), 2);
    cr_assert_str_eq(out[0], "tcp://a:1");
    cr_assert_str_eq(out[1], "tcp://b:2");
    cr_assert_eq(shard_split(b, out, 4), 1);
    cr_assert_eq(shard_split(c, out, 4), -1);
    cr_assert_eq(shard_split(d, out, 4), -1);
    cr_assert_eq(shard_split(e, out, 4), -1);
    cr_assert_eq(shard_split(f, out, 2), -1, "more than max");
}

Test(shard, the_shard_count_is_recorded_once_and_a_mismatch_refused)
{
    fixture_store_t fx;
    char why[300];
    fixture_store_open(&fx, "shards", tables_state_dbs, 1 << 20);
    MDB_dbi meta = store_dbi(fx.st, SDB_META);
    RP_ASSERT_OK(tables_meta_shards(fx.st, meta, 0, 1, 4, why, sizeof why), "%s", why);
    RP_ASSERT_OK(tables_meta_shards(fx.st, meta, 1, 1, 4, why, sizeof why), "the same again");
    RP_ASSERT_RC(tables_meta_shards(fx.st, meta, 1, 2, 4, why, sizeof why), RP_EINVAL);
    cr_assert(strstr(why, "shard 1 of a pipeline of 4"), "why: %s", why);
    RP_ASSERT_RC(tables_meta_shards(fx.st, meta, 1, 1, 2, why, sizeof why), RP_EINVAL);
    fixture_store_close(&fx);
    /* data from before shards: K=1, shard 0, and nothing else */
    fixture_store_open(&fx, "shards-old", tables_reducer_dbs, 1 << 20);
    meta = store_dbi(fx.st, RDB_META);
    RP_ASSERT_RC(tables_meta_shards(fx.st, meta, 1, TABLES_NO_SHARD, 2, why, sizeof why),
                 RP_EINVAL);
    cr_assert(strstr(why, "pipeline of 1 state shard(s), not 2"), "why: %s", why);
    RP_ASSERT_OK(tables_meta_shards(fx.st, meta, 1, TABLES_NO_SHARD, 1, why, sizeof why));
    fixture_store_close(&fx);
}
