/* Fuzzes the ingest decoder: risk_frame_open + risk_frame_next +
 * risk_msg_unpack + risk_msg_decode with the default levels. An opened frame's
 * messages must tile it exactly and each must be either decoded or rejected
 * with a reason; the frame's shape must agree with msgpack-c's whenever
 * msgpack-c can read the whole frame. Every accepted message must satisfy the
 * documented field limits, survive tables_state_encode -> tables_state_decode,
 * hold its fields in the row as msgpack-c reads them, and re-encode to the
 * same bytes, as the canonical form promises. */
#include "fuzz.h"
#include "../../common/hier.h"
#include "../../common/money.h"
#include "../../common/rperr.h"
#include "../../proto/mp.h"
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
    char why[RISK_WHY_MAX];
    FUZZ_CHECK(hier_check_text(m->trade_id, m->trade_id_len, why, sizeof why) == 0);
    FUZZ_CHECK(m->version >= 0);
    FUZZ_CHECK(m->value >= -MONEY_MAX && m->value <= MONEY_MAX);
    FUZZ_CHECK(m->hierarchy && m->hierarchy->type == MSGPACK_OBJECT_MAP);
    FUZZ_CHECK(m->hierarchy->via.map.size <= RISK_HIER_KEYS_MAX);
    for (int l = 0; l < s_levels.n; l++) {
        FUZZ_CHECK(m->level[l] != NULL);
        FUZZ_CHECK(hier_check_value(m->level[l], m->level_len[l], why, sizeof why) == 0);
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

/* Reads a row produced by tables_state_encode field by field, with
 * msgpack-c rather than tables_state_decode: every field is m's, the levels
 * in order, the Hierarchy's other keys all there, sorted and no level among
 * them; encoding again gives the same bytes. */
static void s_check_canonical(const risk_msg_t *m, const msgpack_sbuffer *row)
{
    msgpack_unpacked unp;
    msgpack_unpacked_init(&unp);
    size_t off = 0;
    FUZZ_CHECK(msgpack_unpack_next(&unp, row->data, row->size, &off) == MSGPACK_UNPACK_SUCCESS);
    FUZZ_CHECK(off == row->size);
    const msgpack_object *o = &unp.data;
    FUZZ_CHECK(o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size == TABLES_STATE_FIELDS);
    const msgpack_object *f = o->via.array.ptr;
    int64_t v;
    FUZZ_CHECK(mp_get_i64(&f[TABLES_STATE_VERSION], &v) == 0 && v == m->version);
    FUZZ_CHECK(mp_get_i64(&f[TABLES_STATE_VALUE], &v) == 0 && v == m->value);
    FUZZ_CHECK((f[TABLES_STATE_TIMESTAMP].type == MSGPACK_OBJECT_NIL) == (m->timestamp == NULL));
    const msgpack_object *lv = &f[TABLES_STATE_LEVELS], *ex = &f[TABLES_STATE_EXTRA];
    FUZZ_CHECK(lv->type == MSGPACK_OBJECT_ARRAY && lv->via.array.size == (uint32_t)s_levels.n);
    for (int l = 0; l < s_levels.n; l++) {
        const msgpack_object *x = &lv->via.array.ptr[l];
        FUZZ_CHECK(x->type == MSGPACK_OBJECT_STR && x->via.str.size == m->level_len[l] &&
                   memcmp(x->via.str.ptr, m->level[l], m->level_len[l]) == 0);
    }
    FUZZ_CHECK(ex->type == MSGPACK_OBJECT_MAP &&
               ex->via.map.size + (uint32_t)s_levels.n == m->hierarchy->via.map.size);
    for (uint32_t i = 0; i < ex->via.map.size; i++) {
        const msgpack_object *k = &ex->via.map.ptr[i].key;
        FUZZ_CHECK(k->type == MSGPACK_OBJECT_STR);
        for (int l = 0; l < s_levels.n; l++)
            FUZZ_CHECK(strlen(s_levels.name[l]) != k->via.str.size ||
                       memcmp(s_levels.name[l], k->via.str.ptr, k->via.str.size) != 0);
        if (i) { /* sorted bytewise, no key twice */
            const msgpack_object *p = &ex->via.map.ptr[i - 1].key;
            size_t n = p->via.str.size < k->via.str.size ? p->via.str.size : k->via.str.size;
            int c = memcmp(p->via.str.ptr, k->via.str.ptr, n);
            FUZZ_CHECK(c < 0 || (c == 0 && p->via.str.size < k->via.str.size));
        }
    }
    msgpack_sbuffer row2;
    msgpack_sbuffer_init(&row2);
    FUZZ_CHECK(tables_state_encode(m, &s_levels, &row2) == 0);
    FUZZ_CHECK(row2.size == row->size && memcmp(row2.data, row->data, row->size) == 0);
    msgpack_sbuffer_destroy(&row2);
    msgpack_unpacked_destroy(&unp);
}

/* Unpacks and decodes one message of a frame. Returns 1 when it is
 * accepted, 0 when it is rejected (always with a reason). */
static int s_one(const char *msg, size_t mlen)
{
    msgpack_unpacked unp;
    risk_msg_t m;
    char why[RISK_WHY_MAX];
    why[0] = 0;
    int rc = risk_msg_unpack(msg, mlen, &unp, why, sizeof why);
    if (rc == 0) rc = risk_msg_decode(&unp.data, &s_levels, &m, why, sizeof why);
    if (rc) {
        FUZZ_CHECK(rc == RP_EINVAL);
        FUZZ_CHECK(why[0] != 0 && strlen(why) < sizeof why);
        msgpack_unpacked_destroy(&unp);
        return 0;
    }
    s_check_msg(&m);
    char path[HIER_PATH_MAX];
    size_t plen = risk_msg_path(&m, &s_levels, path);
    s_check_path(&m, path, plen);

    msgpack_sbuffer row;
    msgpack_sbuffer_init(&row);
    FUZZ_CHECK(tables_state_encode(&m, &s_levels, &row) == 0);
    state_row_t r;
    FUZZ_CHECK(tables_state_decode(row.data, row.size, &s_levels, &r) == 0);
    FUZZ_CHECK(r.version == m.version);
    FUZZ_CHECK(r.value == m.value);
    FUZZ_CHECK(r.path_len == plen && memcmp(r.path, path, plen) == 0);
    s_check_canonical(&m, &row);
    msgpack_sbuffer_destroy(&row);
    msgpack_unpacked_destroy(&unp);
    return 1;
}

/* When msgpack-c can read the whole frame (within the pre-scan's loosest
 * limits), the frame's shape as risk_frame_open saw it must be msgpack-c's:
 * a map is one message, an array of 1..MAX_BATCH is that many, anything else
 * is refused. */
static void s_check_shape(const char *buf, size_t len, int rc, size_t n)
{
    char why[160];
    msgpack_unpacked unp;
    if (mp_unpack(buf, len, MP_MAX_DEPTH, UINT32_MAX, &unp, why, sizeof why) == 0) {
        const msgpack_object *o = &unp.data;
        if (o->type == MSGPACK_OBJECT_MAP)
            FUZZ_CHECK(rc == 0 && n == 1);
        else if (o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size >= 1 &&
                 o->via.array.size <= MAX_BATCH)
            FUZZ_CHECK(rc == 0 && n == o->via.array.size);
        else
            FUZZ_CHECK(rc == RP_EPROTO);
    }
    msgpack_unpacked_destroy(&unp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data, *msg, *end = NULL;
    risk_frame_t f;
    size_t mlen, seen = 0, decoded = 0, rejected = 0;
    char why[RISK_WHY_MAX];
    why[0] = 0;
    int rc = risk_frame_open(buf, size, MAX_BATCH, &f, why, sizeof why);
    s_check_shape(buf, size, rc, rc ? 0 : f.n);
    if (rc) {
        FUZZ_CHECK(rc == RP_EPROTO && why[0] != 0);
        return 0;
    }
    FUZZ_CHECK(f.n >= 1 && f.n <= MAX_BATCH);
    /* The messages tile the frame: a lone map is the whole frame, a batch's
     * first element starts right after the array header, and every other
     * one where the one before it ended. */
    mp_head_t top;
    size_t hdr = 0;
    FUZZ_CHECK(mp_head(buf, size, &hdr, &top, why, sizeof why) == 0);
    end = top.kind == MP_MAP ? buf : buf + hdr;
    while (risk_frame_next(&f, &msg, &mlen)) {
        FUZZ_CHECK(msg == end && mlen >= 1 && mlen <= size - (size_t)(msg - buf));
        end = msg + mlen;
        seen++;
        if (s_one(msg, mlen)) decoded++;
        else rejected++;
    }
    FUZZ_CHECK(end == buf + size);
    FUZZ_CHECK(seen == f.n && decoded + rejected == f.n);
    return 0;
}
