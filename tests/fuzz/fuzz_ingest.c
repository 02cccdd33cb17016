/* Fuzzes the ingest decoder: risk_frame_open + risk_msg_decode with the default
 * levels. Every accepted message must satisfy the documented field limits,
 * survive tables_state_encode -> tables_state_decode, and its row (itself a valid
 * message) must re-encode to the same bytes, as the canonical form promises. */
#include "fuzz.h"
#include "../../common/hier.h"
#include "../../common/money.h"
#include "../../common/rperr.h"
#include "../../proto/risk.h"
#include "../../proto/tables.h"

#include <msgpack.h>
#include <string.h>

#define MAX_BATCH 1000

static hier_levels_t s_levels;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char why[RISK_WHY_MAX];
    (void)argc, (void)argv;
    if (hier_levels_parse(HIER_DEFAULT, &s_levels, why, sizeof why)) __builtin_trap();
    return 0;
}

/* Field limits every accepted message must meet. */
static void s_check_msg(const risk_msg_t *m)
{
    FUZZ_CHECK(m->trade_id && m->trade_id_len >= 1 && m->trade_id_len <= RISK_TRADE_ID_MAX);
    FUZZ_CHECK(hier_utf8_valid(m->trade_id, m->trade_id_len));
    FUZZ_CHECK(m->version >= 0);
    FUZZ_CHECK(m->value >= -MONEY_MAX && m->value <= MONEY_MAX);
    FUZZ_CHECK(m->hierarchy && m->hierarchy->type == MSGPACK_OBJECT_MAP);
    FUZZ_CHECK(m->hierarchy->via.map.size <= RISK_HIER_KEYS_MAX);
    for (int l = 0; l < s_levels.n; l++) {
        FUZZ_CHECK(m->level[l] != NULL);
        FUZZ_CHECK(hier_check_value(m->level[l], m->level_len[l]) == NULL);
    }
}

/* The joined path must split back into exactly the configured levels. */
static void s_check_path(const risk_msg_t *m, const char *path, size_t plen)
{
    size_t lens[HIER_MAX_LEVELS], want = 0;
    FUZZ_CHECK(plen <= HIER_PATH_MAX);
    int n = hier_prefixes(path, plen, lens, HIER_MAX_LEVELS);
    FUZZ_CHECK(n == s_levels.n);
    for (int l = 0; l < n; l++) {
        want += (l ? 2 : 0) + m->level_len[l];
        FUZZ_CHECK(lens[l] == want);
        FUZZ_CHECK(memcmp(path + want - m->level_len[l], m->level[l], m->level_len[l]) == 0);
    }
}

/* Decodes a row produced by tables_state_encode as an ingest frame again. */
static void s_check_canonical(const risk_msg_t *m, const msgpack_sbuffer *row)
{
    msgpack_unpacked unp;
    const msgpack_object *msgs;
    size_t n = 0;
    char why[RISK_WHY_MAX];
    risk_msg_t m2;
    int rc = risk_frame_open(row->data, row->size, MAX_BATCH, &unp, &msgs, &n, why, sizeof why);
    if (rc) fprintf(stderr, "row frame rejected: %s\n", why);
    FUZZ_CHECK(rc == 0 && n == 1);
    rc = risk_msg_decode(&msgs[0], &s_levels, &m2, why, sizeof why);
    if (rc) fprintf(stderr, "row message rejected: %s\n", why);
    FUZZ_CHECK(rc == 0);
    FUZZ_CHECK(m2.trade_id_len == m->trade_id_len &&
               memcmp(m2.trade_id, m->trade_id, m->trade_id_len) == 0);
    FUZZ_CHECK(m2.version == m->version && m2.value == m->value);
    FUZZ_CHECK((m2.timestamp == NULL) == (m->timestamp == NULL));
    msgpack_sbuffer row2;
    msgpack_sbuffer_init(&row2);
    FUZZ_CHECK(tables_state_encode(&m2, &row2) == 0);
    FUZZ_CHECK(row2.size == row->size && memcmp(row2.data, row->data, row->size) == 0);
    msgpack_sbuffer_destroy(&row2);
    msgpack_unpacked_destroy(&unp);
}

static void s_one(const msgpack_object *o)
{
    risk_msg_t m;
    char why[RISK_WHY_MAX];
    why[0] = 0;
    int rc = risk_msg_decode(o, &s_levels, &m, why, sizeof why);
    if (rc) {
        FUZZ_CHECK(rc == RP_EINVAL);
        FUZZ_CHECK(why[0] != 0 && strlen(why) < sizeof why);
        return;
    }
    s_check_msg(&m);
    char path[HIER_PATH_MAX];
    size_t plen = risk_msg_path(&m, &s_levels, path);
    s_check_path(&m, path, plen);

    msgpack_sbuffer row;
    msgpack_sbuffer_init(&row);
    FUZZ_CHECK(tables_state_encode(&m, &row) == 0);
    state_row_t r;
    FUZZ_CHECK(tables_state_decode(row.data, row.size, &s_levels, &r) == 0);
    FUZZ_CHECK(r.version == m.version);
    FUZZ_CHECK(r.value == m.value);
    FUZZ_CHECK(r.path_len == plen && memcmp(r.path, path, plen) == 0);
    s_check_canonical(&m, &row);
    msgpack_sbuffer_destroy(&row);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    msgpack_unpacked unp;
    const msgpack_object *msgs = NULL;
    size_t n = 0;
    char why[RISK_WHY_MAX];
    why[0] = 0;
    int rc = risk_frame_open((const char *)data, size, MAX_BATCH, &unp, &msgs, &n, why, sizeof why);
    if (rc) {
        FUZZ_CHECK(rc == RP_EPROTO && why[0] != 0);
    } else {
        FUZZ_CHECK(n >= 1 && n <= MAX_BATCH && msgs != NULL);
        for (size_t i = 0; i < n; i++)
            s_one(&msgs[i]);
    }
    msgpack_unpacked_destroy(&unp);
    return 0;
}
