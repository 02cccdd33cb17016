/* Unit tests for proto/risk.h, the public wire contract: frames and messages
 * are built byte by byte with msgpack_packer, then checked through
 * risk_frame_open + risk_frame_next + risk_msg_unpack + risk_msg_decode
 * (accepted forms, every rejection class of a frame and of a message, with
 * the reason naming the field or limit) and the canonical state row codec. */
#include "../../common/rperr.h"
#include "../../proto/mp.h"
#include "../../proto/risk.h"
#include "../../proto/tables.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

typedef enum { V_NIL, V_INT, V_UINT, V_DBL, V_FLT, V_STR, V_BOOL, V_RAW, V_HIER } vkind_t;

/* A value to pack: scalars, raw msgpack bytes, or a map of n key/value pairs
 * (kv holds 2n values) for Hierarchy. */
typedef struct val_t {
    vkind_t kind;
    int64_t i;
    uint64_t u;
    double d;
    const char *s;
    size_t n;
    const struct val_t *kv;
} val_t;

#define S(x) ((val_t){.kind = V_STR, .s = (x), .n = sizeof(x) - 1})
#define SN(p, len) ((val_t){.kind = V_STR, .s = (p), .n = (len)})
#define I(x) ((val_t){.kind = V_INT, .i = (x)})
#define U(x) ((val_t){.kind = V_UINT, .u = (x)})
#define D(x) ((val_t){.kind = V_DBL, .d = (x)})
#define F(x) ((val_t){.kind = V_FLT, .d = (x)})
#define B(x) ((val_t){.kind = V_BOOL, .i = (x)})
#define NIL ((val_t){.kind = V_NIL})
#define RAW(x) ((val_t){.kind = V_RAW, .s = (x), .n = sizeof(x) - 1})
#define H(...)                                                                                     \
    ((val_t){.kind = V_HIER, .kv = (const val_t[]){__VA_ARGS__},                                   \
             .n = sizeof((const val_t[]){__VA_ARGS__}) / sizeof(val_t) / 2})
#define STD_HIER H(S("RiskType"), S("Delta"), S("Region"), S("AMER"), S("TradeDesk"), S("FXSpot"))

typedef struct {
    const char *name;
    val_t val;
    int omit;
} field_t;

static hier_levels_t g_levels;
static msgpack_unpacked g_unp;
static msgpack_sbuffer g_sb;
static msgpack_packer g_pk;
static char g_why[RISK_WHY_MAX];

static void s_setup(void)
{
    char why[128];
    cr_assert_eq(hier_levels_parse(HIER_DEFAULT, &g_levels, why, sizeof why), 0);
    msgpack_unpacked_init(&g_unp);
    msgpack_sbuffer_init(&g_sb);
    msgpack_packer_init(&g_pk, &g_sb, msgpack_sbuffer_write);
    g_why[0] = 0;
}

static void s_teardown(void)
{
    msgpack_unpacked_destroy(&g_unp);
    msgpack_sbuffer_destroy(&g_sb);
}

TestSuite(risk, .init = s_setup, .fini = s_teardown);

static void s_pack(msgpack_packer *pk, const val_t *v)
{
    switch (v->kind) {
    case V_NIL: msgpack_pack_nil(pk); break;
    case V_INT: msgpack_pack_int64(pk, v->i); break;
    case V_UINT: msgpack_pack_uint64(pk, v->u); break;
    case V_DBL: msgpack_pack_double(pk, v->d); break;
    case V_FLT: msgpack_pack_float(pk, (float)v->d); break;
    case V_BOOL: v->i ? msgpack_pack_true(pk) : msgpack_pack_false(pk); break;
    case V_STR:
        msgpack_pack_str(pk, v->n);
        msgpack_pack_str_body(pk, v->s, v->n);
        break;
    case V_RAW: pk->callback(pk->data, v->s, v->n); break;
    case V_HIER:
        msgpack_pack_map(pk, (uint32_t)v->n);
        for (size_t j = 0; j < 2 * v->n; j++) s_pack(pk, &v->kv[j]);
        break;
    }
}

static void s_key(msgpack_packer *pk, const char *k)
{
    msgpack_pack_str(pk, strlen(k));
    msgpack_pack_str_body(pk, k, strlen(k));
}

/* Packs the standard message (TradeID "T-1", Version 3, Value "12.5", the
 * three default levels, no Timestamp) with field `name` replaced by *v,
 * omitted when v is NULL, or added when it is not a standard field. */
static void s_pack_msg(msgpack_packer *pk, const char *name, const val_t *v)
{
    field_t f[8] = {
        {"TradeID", S("T-1"), 0},
        {"Version", I(3), 0},
        {"Value", S("12.5"), 0},
        {"Hierarchy", STD_HIER, 0},
    };
    int nf = 4, found = 0;
    for (int i = 0; i < nf && name; i++)
        if (strcmp(f[i].name, name) == 0) {
            found = 1;
            if (v) f[i].val = *v;
            else f[i].omit = 1;
        }
    if (name && !found && v) f[nf++] = (field_t){name, *v, 0};
    int live = 0;
    for (int i = 0; i < nf; i++) live += !f[i].omit;
    msgpack_pack_map(pk, (uint32_t)live);
    for (int i = 0; i < nf; i++)
        if (!f[i].omit) {
            s_key(pk, f[i].name);
            s_pack(pk, &f[i].val);
        }
}

/* Opens g_sb as a frame with max_batch 100, expecting exactly one message,
 * and unpacks (into g_unp) and decodes it. */
static int s_decode(risk_msg_t *m)
{
    risk_frame_t f;
    const char *msg;
    size_t len;
    msgpack_unpacked_destroy(&g_unp); /* drop the zone of any earlier decode */
    int rc = risk_frame_open(g_sb.data, g_sb.size, 100, &f, g_why, sizeof g_why);
    RP_ASSERT_OK(rc, "frame rejected: %s", g_why);
    cr_assert_eq(f.n, 1);
    cr_assert(risk_frame_next(&f, &msg, &len));
    cr_assert_eq(len, g_sb.size, "a single-message frame is its message");
    cr_assert_not(risk_frame_next(&f, &msg, &len));
    g_why[0] = 0;
    rc = risk_msg_unpack(msg, len, &g_unp, g_why, sizeof g_why);
    return rc ? rc : risk_msg_decode(&g_unp.data, &g_levels, m, g_why, sizeof g_why);
}

static void s_ok(const char *name, const val_t *v, risk_msg_t *m)
{
    s_pack_msg(&g_pk, name, v);
    int rc = s_decode(m);
    RP_ASSERT_OK(rc, "%s: %s", name ? name : "standard", g_why);
}

static void s_reject(const char *name, const val_t *v, const char *needle)
{
    risk_msg_t m;
    s_pack_msg(&g_pk, name, v);
    int rc = s_decode(&m);
    cr_assert_eq(rc, RP_EINVAL, "%s: accepted (rc=%d)", name, rc);
    cr_assert(strstr(g_why, needle), "%s: reason '%s' does not mention '%s'", name, g_why, needle);
}

/* Frame-level rejection of raw bytes. */
static void s_frame_reject(const char *buf, size_t len, uint32_t max_batch, const char *needle)
{
    risk_frame_t f;
    char why[RISK_WHY_MAX] = "";
    int rc = risk_frame_open(buf, len, max_batch, &f, why, sizeof why);
    cr_assert_eq(rc, RP_EPROTO, "frame accepted (rc=%d)", rc);
    if (needle) cr_assert(strstr(why, needle), "reason '%s' does not mention '%s'", why, needle);
}

/* What became of one message of a frame: its code and reason, and the
 * TradeID of an accepted one. */
typedef struct {
    int rc;
    char why[RISK_WHY_MAX];
    char id[RISK_TRADE_ID_MAX + 1];
} outcome_t;

/* Opens buf as a frame and decodes each of its messages on its own into
 * out[0..*n) (at most cap). Returns the frame-level code (why holds its
 * reason); *n is 0 when the frame is rejected. */
static int s_outcomes(const char *buf, size_t len, uint32_t max_batch, outcome_t *out,
                      size_t cap, size_t *n, char *why)
{
    risk_frame_t f;
    const char *msg;
    size_t mlen;
    *n = 0;
    int rc = risk_frame_open(buf, len, max_batch, &f, why, RISK_WHY_MAX);
    if (rc) return rc;
    cr_assert_leq(f.n, cap);
    for (; risk_frame_next(&f, &msg, &mlen); (*n)++) {
        outcome_t *o = &out[*n];
        msgpack_unpacked u;
        risk_msg_t m;
        o->why[0] = o->id[0] = 0;
        o->rc = risk_msg_unpack(msg, mlen, &u, o->why, sizeof o->why);
        if (o->rc == 0) o->rc = risk_msg_decode(&u.data, &g_levels, &m, o->why, sizeof o->why);
        if (o->rc == 0) snprintf(o->id, sizeof o->id, "%.*s", (int)m.trade_id_len, m.trade_id);
        msgpack_unpacked_destroy(&u);
    }
    cr_assert_eq(*n, f.n, "risk_frame_next gave %zu of %zu messages", *n, f.n);
    return 0;
}

/* Asserts that message i of outcomes o was rejected with a reason holding
 * every needle (NULL-terminated). */
static void s_rejected(const outcome_t *o, size_t i, ...)
{
    cr_assert_eq(o[i].rc, RP_EINVAL, "message %zu: rc=%d (accepted as '%s')", i, o[i].rc,
                 o[i].id);
    va_list ap;
    va_start(ap, i);
    for (const char *needle; (needle = va_arg(ap, const char *)) != NULL;)
        cr_assert(strstr(o[i].why, needle), "message %zu: reason '%s' does not mention '%s'", i,
                  o[i].why, needle);
    va_end(ap);
}

static void s_accepted(const outcome_t *o, size_t i, const char *id)
{
    cr_assert_eq(o[i].rc, 0, "message %zu rejected: %s", i, o[i].why);
    cr_assert_str_eq(o[i].id, id, "message %zu", i);
}

/* Raw msgpack: n arrays nested around the string "x", then the bytes. */
static val_t s_deep(char *buf, int n)
{
    memset(buf, 0x91, (size_t)n);
    memcpy(buf + n, "\xa1x", 2);
    return (val_t){.kind = V_RAW, .s = buf, .n = (size_t)n + 2};
}

/* Raw msgpack: an array16 of n nils. */
static val_t s_wide_array(char *buf, int n)
{
    buf[0] = (char)0xdc, buf[1] = (char)(n >> 8), buf[2] = (char)n;
    memset(buf + 3, 0xc0, (size_t)n);
    return (val_t){.kind = V_RAW, .s = buf, .n = (size_t)n + 3};
}

/* Raw msgpack: a map16 of n integer keys to nil. */
static val_t s_wide_map(char *buf, int n)
{
    buf[0] = (char)0xde, buf[1] = (char)(n >> 8), buf[2] = (char)n;
    for (int i = 0; i < n; i++) buf[3 + 2 * i] = (char)(i & 0x7f), buf[4 + 2 * i] = (char)0xc0;
    return (val_t){.kind = V_RAW, .s = buf, .n = 2 * (size_t)n + 3};
}

static int s_msgeq(const risk_msg_t *m, const char *s)
{
    return m->trade_id_len == strlen(s) && memcmp(m->trade_id, s, m->trade_id_len) == 0;
}

static void s_row(const risk_msg_t *m, msgpack_sbuffer *row)
{
    msgpack_sbuffer_init(row);
    int rc = tables_state_encode(m, &g_levels, row);
    RP_ASSERT_OK(rc);
}

/* Decodes the message packed into a fresh buffer by pack(), returning its row. */
static void s_row_of(const char *name, const val_t *v, msgpack_sbuffer *row)
{
    msgpack_sbuffer_clear(&g_sb);
    msgpack_unpacked_destroy(&g_unp);
    msgpack_unpacked_init(&g_unp);
    risk_msg_t m;
    s_ok(name, v, &m);
    s_row(&m, row);
}

Test(risk, valid_message_is_decoded)
{
    risk_msg_t m;
    s_ok(NULL, NULL, &m);
    cr_assert(s_msgeq(&m, "T-1"));
    cr_assert_eq(m.version, 3);
    cr_assert_eq(m.value, 12500000);
    cr_assert_null(m.timestamp);
    cr_assert_eq(m.level_len[0], 5);
    cr_assert_eq(memcmp(m.level[0], "Delta", 5), 0);
    cr_assert_eq(memcmp(m.level[1], "AMER", 4), 0);
    cr_assert_eq(memcmp(m.level[2], "FXSpot", 6), 0);
}

Test(risk, path_joins_configured_levels_in_order)
{
    risk_msg_t m;
    val_t h = H(S("TradeDesk"), S("FXSpot"), S("Region"), S("AMER"), S("RiskType"), S("Delta"));
    s_ok("Hierarchy", &h, &m);
    char buf[HIER_PATH_MAX];
    size_t n = risk_msg_path(&m, &g_levels, buf);
    cr_assert_eq(n, 19);
    cr_assert_eq(memcmp(buf, "Delta::AMER::FXSpot", 19), 0, "'%.*s'", (int)n, buf);
}

Test(risk, wrapper_object_is_unwrapped)
{
    msgpack_pack_map(&g_pk, 1);
    s_key(&g_pk, "RiskMessage");
    s_pack_msg(&g_pk, NULL, NULL);
    risk_msg_t m;
    int rc = s_decode(&m);
    cr_assert_eq(rc, 0, "rc=%d: %s", rc, g_why);
    cr_assert(s_msgeq(&m, "T-1"));
    cr_assert_eq(m.value, 12500000);
}

Test(risk, wrapper_with_non_map_payload_is_rejected)
{
    msgpack_pack_map(&g_pk, 1);
    s_key(&g_pk, "RiskMessage");
    msgpack_pack_int(&g_pk, 5);
    risk_msg_t m;
    cr_assert_eq(s_decode(&m), RP_EINVAL);
    cr_assert(strstr(g_why, "map"), "why='%s'", g_why);
}

Test(risk, array_batch_of_plain_and_wrapped_messages)
{
    msgpack_pack_array(&g_pk, 3);
    s_pack_msg(&g_pk, "TradeID", &S("A"));
    msgpack_pack_map(&g_pk, 1);
    s_key(&g_pk, "RiskMessage");
    s_pack_msg(&g_pk, "TradeID", &S("B"));
    s_pack_msg(&g_pk, "TradeID", &S("C"));
    outcome_t o[3];
    size_t n = 0;
    int rc = s_outcomes(g_sb.data, g_sb.size, 3, o, 3, &n, g_why);
    cr_assert_eq(rc, 0, "rc=%d %s", rc, g_why);
    cr_assert_eq(n, 3);
    s_accepted(o, 0, "A");
    s_accepted(o, 1, "B");
    s_accepted(o, 2, "C");
}

Test(risk, bad_message_in_batch_does_not_affect_neighbours)
{
    msgpack_pack_array(&g_pk, 3);
    s_pack_msg(&g_pk, NULL, NULL);
    s_pack_msg(&g_pk, "Value", &S("abc"));
    s_pack_msg(&g_pk, NULL, NULL);
    outcome_t o[3];
    size_t n = 0;
    int rc = s_outcomes(g_sb.data, g_sb.size, 10, o, 3, &n, g_why);
    cr_assert_eq(rc, 0, "rc=%d %s", rc, g_why);
    s_accepted(o, 0, "T-1");
    s_rejected(o, 1, "Value", NULL);
    s_accepted(o, 2, "T-1");
}

Test(risk, value_as_integer)
{
    risk_msg_t m;
    s_ok("Value", &I(7), &m);
    cr_assert_eq(m.value, 7000000);
}

Test(risk, value_as_negative_integer)
{
    risk_msg_t m;
    s_ok("Value", &I(-3), &m);
    cr_assert_eq(m.value, -3000000);
}

Test(risk, value_as_float64)
{
    risk_msg_t m;
    s_ok("Value", &D(34624.51), &m);
    cr_assert_eq(m.value, 34624510000LL, "got %lld", (long long)m.value);
}

Test(risk, value_as_float32)
{
    risk_msg_t m;
    s_ok("Value", &F(1.5), &m);
    cr_assert_eq(m.value, 1500000);
}

Test(risk, value_as_decimal_string)
{
    risk_msg_t m;
    s_ok("Value", &S("-2.5000005"), &m);
    cr_assert_eq(m.value, -2500001);
}

Test(risk, value_at_bound_accepted)
{
    risk_msg_t m;
    s_ok("Value", &I(1000000000000LL), &m);
    cr_assert_eq(m.value, MONEY_MAX);
}

Test(risk, timestamp_absent_is_null)
{
    risk_msg_t m;
    s_ok(NULL, NULL, &m);
    cr_assert_null(m.timestamp);
}

Test(risk, timestamp_as_integer)
{
    risk_msg_t m;
    s_ok("Timestamp", &I(1700000000), &m);
    cr_assert_not_null(m.timestamp);
    cr_assert_eq(m.timestamp->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    cr_assert_eq(m.timestamp->via.u64, 1700000000);
}

Test(risk, timestamp_as_float)
{
    risk_msg_t m;
    s_ok("Timestamp", &D(1700000000.25), &m);
    cr_assert_not_null(m.timestamp);
    cr_assert_eq(m.timestamp->type, MSGPACK_OBJECT_FLOAT64);
    cr_assert_eq(m.timestamp->via.f64, 1700000000.25);
}

Test(risk, timestamp_nil_is_null)
{
    risk_msg_t m;
    s_ok("Timestamp", &NIL, &m);
    cr_assert_null(m.timestamp);
}

Test(risk, timestamp_string_rejected)
{
    s_reject("Timestamp", &S("2024-01-01"), "Timestamp");
}

Test(risk, timestamp_nan_rejected)
{
    s_reject("Timestamp", &D(NAN), "Timestamp");
}

Test(risk, frame_of_random_bytes_is_rejected)
{
    s_frame_reject("\xc1", 1, 100, "0xc1");
    s_frame_reject("hello world", 11, 100, NULL);
    s_frame_reject("\x85\xc1\x00\x00\x00\x00\x00\x00\x00\x00\x00", 11, 100, NULL);
}

Test(risk, fuzzed_frames_never_yield_a_valid_message)
{
    uint64_t x = 88172645463325252ULL;
    for (int iter = 0; iter < 20000; iter++) {
        unsigned char buf[64];
        size_t len = 1 + iter % 63;
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[i] = (unsigned char)x;
        }
        outcome_t o[64];
        size_t n = 0;
        char why[RISK_WHY_MAX];
        int rc = s_outcomes((const char *)buf, len, 100, o, 64, &n, why);
        if (rc == 0) {
            for (size_t i = 0; i < n; i++) {
                cr_assert_eq(o[i].rc, RP_EINVAL, "iteration %d, message %zu", iter, i);
                cr_assert_neq(o[i].why[0], 0, "iteration %d, message %zu", iter, i);
            }
        } else {
            cr_assert_eq(rc, RP_EPROTO);
        }
    }
}

Test(risk, truncated_frame_is_rejected)
{
    s_pack_msg(&g_pk, NULL, NULL);
    for (size_t cut = 0; cut < g_sb.size; cut++) s_frame_reject(g_sb.data, cut, 100, NULL);
    s_frame_reject(g_sb.data, g_sb.size - 1, 100, "truncated");
}

Test(risk, top_level_string_is_rejected)
{
    s_frame_reject("\xa3" "abc", 4, 100, "frame must be");
}

Test(risk, top_level_int_is_rejected)
{
    s_frame_reject("\x2a", 1, 100, "frame must be");
}

Test(risk, empty_array_is_rejected)
{
    s_frame_reject("\x90", 1, 100, "empty");
}

Test(risk, batch_over_max_batch_is_rejected)
{
    msgpack_pack_array(&g_pk, 3);
    for (int i = 0; i < 3; i++) s_pack_msg(&g_pk, NULL, NULL);
    s_frame_reject(g_sb.data, g_sb.size, 2, "limit");
}

Test(risk, batch_far_over_max_batch_is_rejected)
{
    msgpack_pack_array(&g_pk, 40);
    for (int i = 0; i < 40; i++) s_pack_msg(&g_pk, NULL, NULL);
    s_frame_reject(g_sb.data, g_sb.size, 10, "limit");
}

Test(risk, deep_nesting_is_rejected_as_a_message)
{
    /* A batch of one element nested 100 deep: the frame's structure is fine,
     * its message is not. */
    char buf[101];
    memset(buf, 0x91, 100);
    buf[100] = (char)0xc0;
    outcome_t o[1];
    size_t n = 0;
    int rc = s_outcomes(buf, sizeof buf, 100, o, 1, &n, g_why);
    RP_ASSERT_OK(rc, "frame rejected: %s", g_why);
    s_rejected(o, 0, "message nested deeper than 16 levels", NULL);
}

Test(risk, huge_declared_array_is_rejected_before_unpacking)
{
    /* "items declared"/"exceeds" come from the pre-scan, so msgpack-c never
     * saw (or allocated for) the 2^32-1 element header. */
    s_frame_reject("\xdd\xff\xff\xff\xff\x80", 6, 100, "exceeds");
    s_frame_reject("\xdd\xff\xff\xff\xff\x80", 6, UINT32_MAX, "items declared");
    s_frame_reject("\xdf\xff\xff\xff\xff\x80\x80", 7, UINT32_MAX, "items declared");
}

/* A Hierarchy of the standard levels plus extra keys "k03".."kNN" up to
 * total (at most 64) keys, with kv[2 * total] as its storage. */
static val_t s_wide_hier(int total, val_t *kv)
{
    static char names[64][16];
    const val_t std[6] = {S("RiskType"), S("Delta"), S("Region"), S("AMER"), S("TradeDesk"),
                          S("FXSpot")};
    memcpy(kv, std, sizeof std);
    for (int i = 3; i < total; i++) {
        snprintf(names[i], sizeof names[i], "k%02d", i);
        kv[2 * i] = SN(names[i], strlen(names[i]));
        kv[2 * i + 1] = S("v");
    }
    return (val_t){.kind = V_HIER, .kv = kv, .n = (size_t)total};
}

Test(risk, frame_mixing_good_and_bad_messages_rejects_each_bad_one_alone)
{
    char deep[64], arr[1100], map[100];
    val_t kv[2 * 40];
    val_t deep_hier = H(S("RiskType"), s_deep(deep, 20), S("Region"), S("AMER"), S("TradeDesk"),
                        S("FXSpot"));
    val_t wide_hier = s_wide_hier(40, kv);
    val_t wide_value = s_wide_array(arr, 1000), wide_extra = s_wide_map(map, 40);
    msgpack_pack_array(&g_pk, 8);
    s_pack_msg(&g_pk, "TradeID", &S("G-0"));
    s_pack_msg(&g_pk, "Hierarchy", &deep_hier);
    s_pack_msg(&g_pk, "TradeID", &S("G-2"));
    s_pack_msg(&g_pk, "Hierarchy", &wide_hier);
    msgpack_pack_map(&g_pk, 1);
    s_key(&g_pk, "RiskMessage");
    s_pack_msg(&g_pk, "TradeID", &S("G-4"));
    s_pack_msg(&g_pk, "Value", &wide_value);
    s_pack_msg(&g_pk, "Extra", &wide_extra);
    s_pack_msg(&g_pk, "TradeID", &S("G-7"));
    outcome_t o[8];
    size_t n = 0;
    char why[RISK_WHY_MAX] = "";
    int rc = s_outcomes(g_sb.data, g_sb.size, 10, o, 8, &n, why);
    RP_ASSERT_OK(rc, "frame rejected: %s", why);
    cr_assert_eq(n, 8);
    s_accepted(o, 0, "G-0");
    s_rejected(o, 1, "message nested deeper than 16 levels", NULL);
    s_accepted(o, 2, "G-2");
    s_rejected(o, 3, "Hierarchy has 40 keys", "32", NULL);
    s_accepted(o, 4, "G-4");
    s_rejected(o, 5, "Value: array of 1000 entries exceeds the limit of 32", NULL);
    s_rejected(o, 6, "Extra: map of 40 entries exceeds the limit of 32", NULL);
    s_accepted(o, 7, "G-7");
}

Test(risk, over_deep_message_alone_in_its_frame_is_a_message_rejection)
{
    char deep[64];
    val_t h = H(S("RiskType"), S("Delta"), S("Region"), s_deep(deep, 20), S("TradeDesk"),
                S("FXSpot"));
    s_pack_msg(&g_pk, "Hierarchy", &h);
    outcome_t o[1];
    size_t n = 0;
    char why[RISK_WHY_MAX] = "";
    int rc = s_outcomes(g_sb.data, g_sb.size, 10, o, 1, &n, why);
    RP_ASSERT_OK(rc, "frame rejected: %s", why);
    cr_assert_eq(n, 1);
    s_rejected(o, 0, "message nested deeper than 16 levels", NULL);
}

Test(risk, message_at_the_depth_limit_passes_the_bounds)
{
    /* map, Hierarchy map and 14 arrays: 16 levels, then decode names the
     * field (a level value must be a string). */
    char deep[64];
    val_t h = H(S("RiskType"), S("Delta"), S("Region"), s_deep(deep, 14), S("TradeDesk"),
                S("FXSpot"));
    s_reject("Hierarchy", &h, "Hierarchy.Region must be a string");
}

Test(risk, hostile_nesting_inside_one_message_spares_its_neighbours)
{
    static char deep[100002];
    val_t ts = s_deep(deep, 100000);
    msgpack_pack_array(&g_pk, 3);
    s_pack_msg(&g_pk, "TradeID", &S("A"));
    s_pack_msg(&g_pk, "Timestamp", &ts);
    s_pack_msg(&g_pk, "TradeID", &S("C"));
    outcome_t o[3];
    size_t n = 0;
    char why[RISK_WHY_MAX] = "";
    int rc = s_outcomes(g_sb.data, g_sb.size, 10, o, 3, &n, why);
    RP_ASSERT_OK(rc, "frame rejected: %s", why);
    cr_assert_eq(n, 3);
    s_accepted(o, 0, "A");
    s_rejected(o, 1, "nested deeper than 16 levels", NULL);
    s_accepted(o, 2, "C");
}

Test(risk, huge_array_in_one_message_is_refused_by_the_pre_scan)
{
    /* 60000 elements is far above any batch limit used here and the
     * message's own bound of 32: the reason comes from the pre-scan. */
    static char arr[60003];
    val_t v = s_wide_array(arr, 60000);
    msgpack_pack_array(&g_pk, 2);
    s_pack_msg(&g_pk, "Value", &v);
    s_pack_msg(&g_pk, "TradeID", &S("B"));
    outcome_t o[2];
    size_t n = 0;
    char why[RISK_WHY_MAX] = "";
    int rc = s_outcomes(g_sb.data, g_sb.size, 10, o, 2, &n, why);
    RP_ASSERT_OK(rc, "frame rejected: %s", why);
    s_rejected(o, 0, "Value: array of 60000 entries exceeds the limit of 32", NULL);
    s_accepted(o, 1, "B");
}

Test(risk, wrapped_message_names_the_field_at_fault)
{
    char arr[103];
    val_t kv[2 * 40];
    val_t wide_hier = s_wide_hier(40, kv), wide_value = s_wide_array(arr, 100);
    msgpack_pack_array(&g_pk, 2);
    msgpack_pack_map(&g_pk, 1);
    s_key(&g_pk, "RiskMessage");
    s_pack_msg(&g_pk, "Value", &wide_value);
    msgpack_pack_map(&g_pk, 1);
    s_key(&g_pk, "RiskMessage");
    s_pack_msg(&g_pk, "Hierarchy", &wide_hier);
    outcome_t o[2];
    size_t n = 0;
    int rc = s_outcomes(g_sb.data, g_sb.size, 10, o, 2, &n, g_why);
    RP_ASSERT_OK(rc, "frame rejected: %s", g_why);
    s_rejected(o, 0, "Value: array of 100 entries exceeds the limit of 32", NULL);
    s_rejected(o, 1, "Hierarchy has 40 keys, at most 32 allowed", NULL);
}

Test(risk, message_map_of_more_than_32_fields_is_rejected)
{
    char map[100];
    msgpack_pack_array(&g_pk, 2);
    val_t wide = s_wide_map(map, 40);
    s_pack(&g_pk, &wide);
    s_pack_msg(&g_pk, NULL, NULL);
    outcome_t o[2];
    size_t n = 0;
    int rc = s_outcomes(g_sb.data, g_sb.size, 10, o, 2, &n, g_why);
    RP_ASSERT_OK(rc, "frame rejected: %s", g_why);
    s_rejected(o, 0, "message: map of 40 entries exceeds the limit of 32", NULL);
    s_accepted(o, 1, "T-1");
}

Test(risk, batch_over_max_batch_keeps_its_frame_reason)
{
    msgpack_pack_array(&g_pk, 3);
    for (int i = 0; i < 3; i++) s_pack_msg(&g_pk, NULL, NULL);
    s_frame_reject(g_sb.data, g_sb.size, 2, "batch of 3 messages exceeds the limit of 2");
}

Test(risk, trailing_bytes_after_a_batch_are_a_frame_rejection)
{
    msgpack_pack_array(&g_pk, 2);
    s_pack_msg(&g_pk, NULL, NULL);
    s_pack_msg(&g_pk, NULL, NULL);
    msgpack_pack_nil(&g_pk);
    s_frame_reject(g_sb.data, g_sb.size, 10, "trailing");
}

Test(risk, truncated_last_message_of_a_batch_is_a_frame_rejection)
{
    msgpack_pack_array(&g_pk, 2);
    s_pack_msg(&g_pk, NULL, NULL);
    s_pack_msg(&g_pk, NULL, NULL);
    s_frame_reject(g_sb.data, g_sb.size - 1, 10, "truncated");
}

Test(risk, invalid_byte_inside_a_message_is_a_frame_rejection)
{
    /* Without a valid type byte the message's extent is unknown, and with
     * it where its neighbours start: the frame as a whole is unusable. */
    msgpack_pack_array(&g_pk, 2);
    s_pack_msg(&g_pk, "Value", &RAW("\xc1"));
    s_pack_msg(&g_pk, NULL, NULL);
    s_frame_reject(g_sb.data, g_sb.size, 10, "0xc1");
}

Test(risk, missing_trade_id_is_rejected)
{
    s_reject("TradeID", NULL, "TradeID");
}

Test(risk, missing_version_is_rejected)
{
    s_reject("Version", NULL, "Version");
}

Test(risk, missing_value_is_rejected)
{
    s_reject("Value", NULL, "Value");
}

Test(risk, missing_hierarchy_is_rejected)
{
    s_reject("Hierarchy", NULL, "Hierarchy");
}

Test(risk, unknown_top_level_field_is_rejected)
{
    s_reject("Book", &S("x"), "Book");
}

Test(risk, duplicated_field_is_rejected)
{
    msgpack_pack_map(&g_pk, 5);
    s_key(&g_pk, "TradeID");
    s_pack(&g_pk, &S("T-1"));
    s_key(&g_pk, "Version");
    s_pack(&g_pk, &I(1));
    s_key(&g_pk, "Value");
    s_pack(&g_pk, &I(1));
    s_key(&g_pk, "Version");
    s_pack(&g_pk, &I(2));
    s_key(&g_pk, "Hierarchy");
    s_pack(&g_pk, &STD_HIER);
    risk_msg_t m;
    cr_assert_eq(s_decode(&m), RP_EINVAL);
    cr_assert(strstr(g_why, "Version"), "why='%s'", g_why);
    cr_assert(strstr(g_why, "twice"), "why='%s'", g_why);
}

Test(risk, non_string_top_level_key_is_rejected)
{
    msgpack_pack_map(&g_pk, 1);
    msgpack_pack_int(&g_pk, 1);
    msgpack_pack_int(&g_pk, 1);
    risk_msg_t m;
    cr_assert_eq(s_decode(&m), RP_EINVAL);
}

Test(risk, empty_trade_id_is_rejected)
{
    s_reject("TradeID", &S(""), "TradeID");
}

Test(risk, trade_id_of_128_bytes_accepted)
{
    char id[128];
    memset(id, 'x', sizeof id);
    risk_msg_t m;
    s_ok("TradeID", &SN(id, 128), &m);
    cr_assert_eq(m.trade_id_len, 128);
}

Test(risk, trade_id_of_129_bytes_rejected)
{
    char id[129];
    memset(id, 'x', sizeof id);
    s_reject("TradeID", &SN(id, 129), "TradeID");
}

Test(risk, non_utf8_trade_id_rejected)
{
    s_reject("TradeID", &S("T\xff"), "TradeID");
    msgpack_sbuffer_clear(&g_sb);
    s_reject("TradeID", &S("T\xed\xa0\x80"), "TradeID");
}

Test(risk, trade_id_with_control_character_rejected)
{
    s_reject("TradeID", &S("T\x01"), "TradeID");
    msgpack_sbuffer_clear(&g_sb);
    s_reject("TradeID", &S("T\x7f"), "TradeID");
}

Test(risk, trade_id_with_c1_control_character_rejected)
{
    s_reject("TradeID", &S("T-\xc2\x85" "1"), "TradeID contains control character U+0085");
}

Test(risk, trade_id_with_format_character_rejected)
{
    /* Each would print as "T-1" beside a real "T-1". */
    s_reject("TradeID", &S("T-\xe2\x80\x8b" "1"), "TradeID contains format character U+200B");
    msgpack_sbuffer_clear(&g_sb);
    s_reject("TradeID", &S("\xef\xbb\xbfT-1"), "TradeID contains format character U+FEFF");
    msgpack_sbuffer_clear(&g_sb);
    s_reject("TradeID", &S("T-1\xe2\x80\xae"), "TradeID contains format character U+202E");
    msgpack_sbuffer_clear(&g_sb);
    s_reject("TradeID", &S("T-1\xf3\xa0\x81\x81"), "TradeID contains format character U+E0041");
}

Test(risk, trade_id_not_in_nfc_rejected)
{
    s_reject("TradeID", &S("cafe\xcc\x81"), "TradeID is not in Unicode NFC");
    cr_assert(strstr(g_why, "U+0065 U+0301 is U+00E9"), "why='%s'", g_why);
}

Test(risk, trade_id_in_nfc_with_accents_accepted)
{
    /* U+00E9, then U+1EA1 U+0301: a mark that has no precomposed form with
     * its base stays a mark in NFC. */
    risk_msg_t m;
    s_ok("TradeID", &S("caf\xc3\xa9-\xe1\xba\xa1\xcc\x81"), &m);
    cr_assert(s_msgeq(&m, "caf\xc3\xa9-\xe1\xba\xa1\xcc\x81"));
}

Test(risk, trade_id_not_a_string_rejected)
{
    s_reject("TradeID", &I(5), "TradeID");
}

Test(risk, version_zero_and_int64_max_accepted)
{
    risk_msg_t m;
    s_ok("Version", &I(0), &m);
    cr_assert_eq(m.version, 0);
    msgpack_sbuffer_clear(&g_sb);
    s_ok("Version", &U((uint64_t)INT64_MAX), &m);
    cr_assert_eq(m.version, INT64_MAX);
}

Test(risk, version_negative_rejected)
{
    s_reject("Version", &I(-1), "Version");
}

Test(risk, version_above_int64_max_rejected)
{
    s_reject("Version", &U((uint64_t)INT64_MAX + 1), "Version");
}

Test(risk, version_float_rejected)
{
    s_reject("Version", &D(1.0), "Version");
}

Test(risk, version_string_rejected)
{
    s_reject("Version", &S("1"), "Version");
}

Test(risk, value_nan_rejected)
{
    s_reject("Value", &D(NAN), "Value");
}

Test(risk, value_infinity_rejected)
{
    s_reject("Value", &D(INFINITY), "Value");
}

Test(risk, value_1e13_rejected)
{
    s_reject("Value", &D(1e13), "Value");
}

Test(risk, value_integer_above_1e12_rejected)
{
    s_reject("Value", &I(1000000000001LL), "Value");
    msgpack_sbuffer_clear(&g_sb);
    s_reject("Value", &U(UINT64_MAX), "Value");
}

Test(risk, value_string_out_of_range_rejected)
{
    s_reject("Value", &S("1000000000000.0000005"), "Value");
}

Test(risk, value_non_numeric_string_rejected)
{
    s_reject("Value", &S("abc"), "Value");
}

Test(risk, value_bool_rejected)
{
    s_reject("Value", &B(1), "Value");
}

Test(risk, value_nil_rejected)
{
    s_reject("Value", &NIL, "Value");
}

Test(risk, value_string_too_long_rejected)
{
    char s[MONEY_STR_MAX + 1];
    memset(s, '0', sizeof s);
    s[sizeof s - 1] = '1';
    s_reject("Value", &SN(s, sizeof s), "Value");
}

Test(risk, hierarchy_not_a_map_rejected)
{
    s_reject("Hierarchy", &S("Delta::AMER::FXSpot"), "Hierarchy");
}

Test(risk, hierarchy_missing_level_rejected)
{
    val_t h = H(S("RiskType"), S("Delta"), S("TradeDesk"), S("FXSpot"));
    s_reject("Hierarchy", &h, "Region");
}

Test(risk, level_value_with_double_colon_rejected)
{
    val_t h = H(S("RiskType"), S("Delta"), S("Region"), S("AM::ER"), S("TradeDesk"), S("FXSpot"));
    s_reject("Hierarchy", &h, "Region");
}

Test(risk, level_value_with_control_byte_rejected)
{
    val_t h = H(S("RiskType"), S("Delta"), S("Region"), S("AM\x02R"), S("TradeDesk"), S("FXSpot"));
    s_reject("Hierarchy", &h, "Region");
}

Test(risk, level_value_with_format_character_rejected)
{
    val_t h = H(S("RiskType"), S("Delta"), S("Region"), S("AM\xe2\x80\x8b" "ER"), S("TradeDesk"),
                S("FXSpot"));
    s_reject("Hierarchy", &h, "Hierarchy.Region: contains format character U+200B");
}

Test(risk, level_value_with_c1_control_character_rejected)
{
    val_t h = H(S("RiskType"), S("Delta"), S("Region"), S("AMER\xc2\x9b"), S("TradeDesk"),
                S("FXSpot"));
    s_reject("Hierarchy", &h, "Hierarchy.Region: contains control character U+009B");
}

Test(risk, level_value_not_in_nfc_rejected)
{
    /* "Zu" + U+0308 + "rich" prints as "Zurich" with an umlaut, like the
     * precomposed U+00FC, yet would be another aggregate row. */
    val_t h = H(S("RiskType"), S("Delta"), S("Region"), S("Zu\xcc\x88rich"), S("TradeDesk"),
                S("FXSpot"));
    s_reject("Hierarchy", &h, "Hierarchy.Region: is not in Unicode NFC");
}

Test(risk, level_value_in_nfc_accepted)
{
    /* U+00FC; U+0915 U+093C, the NFC of U+0958 (excluded from composition) */
    val_t h = H(S("RiskType"), S("Delta"), S("Region"), S("Z\xc3\xbcrich"), S("TradeDesk"),
                S("\xe0\xa4\x95\xe0\xa4\xbc"));
    risk_msg_t m;
    s_ok("Hierarchy", &h, &m);
    cr_assert_eq(m.level_len[1], 7);
    cr_assert_eq(m.level_len[2], 6);
}

Test(risk, extra_hierarchy_value_with_format_character_rejected)
{
    val_t h = H(S("RiskType"), S("Delta"), S("Book"), S("B\xc2\xad" "7"), S("Region"), S("AMER"),
                S("TradeDesk"), S("FXSpot"));
    s_reject("Hierarchy", &h, "Hierarchy.Book: contains format character U+00AD");
}

Test(risk, hierarchy_key_with_format_character_rejected)
{
    /* An extra key that prints as "Region" beside the real one. */
    val_t h = H(S("RiskType"), S("Delta"), S("Region"), S("AMER"), S("Region\xe2\x80\x8c"),
                S("EMEA"), S("TradeDesk"), S("FXSpot"));
    s_reject("Hierarchy", &h, "contains format character U+200C");
    cr_assert(strstr(g_why, "Hierarchy key"), "why='%s'", g_why);
}

Test(risk, hierarchy_key_not_in_nfc_rejected)
{
    val_t h = H(S("RiskType"), S("Delta"), S("Re\xcc\x81gion"), S("x"), S("Region"), S("AMER"),
                S("TradeDesk"), S("FXSpot"));
    s_reject("Hierarchy", &h, "is not in Unicode NFC");
    cr_assert(strstr(g_why, "Hierarchy key"), "why='%s'", g_why);
}

Test(risk, level_value_of_65_bytes_rejected)
{
    char s[65];
    memset(s, 'r', sizeof s);
    val_t h = H(S("RiskType"), S("Delta"), S("Region"), SN(s, 65), S("TradeDesk"), S("FXSpot"));
    s_reject("Hierarchy", &h, "Region");
}

Test(risk, level_value_of_64_bytes_accepted)
{
    char s[64];
    memset(s, 'r', sizeof s);
    val_t h = H(S("RiskType"), S("Delta"), S("Region"), SN(s, 64), S("TradeDesk"), S("FXSpot"));
    risk_msg_t m;
    s_ok("Hierarchy", &h, &m);
    cr_assert_eq(m.level_len[1], 64);
}

Test(risk, level_value_not_a_string_rejected)
{
    val_t h = H(S("RiskType"), S("Delta"), S("Region"), I(5), S("TradeDesk"), S("FXSpot"));
    s_reject("Hierarchy", &h, "Region");
}

Test(risk, extra_hierarchy_keys_are_kept)
{
    val_t h = H(S("RiskType"), S("Delta"), S("Book"), S("B-7"), S("Region"), S("AMER"),
                S("TradeDesk"), S("FXSpot"));
    risk_msg_t m;
    s_ok("Hierarchy", &h, &m);
    cr_assert_eq(m.hierarchy->type, MSGPACK_OBJECT_MAP);
    cr_assert_eq(m.hierarchy->via.map.size, 4);
    const msgpack_object *b = mp_map_get(m.hierarchy, "Book");
    cr_assert_not_null(b);
    cr_assert(mp_str_eq(b, "B-7"));
}

Test(risk, extra_hierarchy_key_with_non_string_value_rejected)
{
    val_t h = H(S("RiskType"), S("Delta"), S("Book"), I(7), S("Region"), S("AMER"),
                S("TradeDesk"), S("FXSpot"));
    s_reject("Hierarchy", &h, "Book");
}

Test(risk, extra_hierarchy_key_with_control_character_rejected)
{
    val_t h = H(S("RiskType"), S("Delta"), S("Book"), S("B\n7"), S("Region"), S("AMER"),
                S("TradeDesk"), S("FXSpot"));
    s_reject("Hierarchy", &h, "Book");
}

Test(risk, hierarchy_key_not_a_string_rejected)
{
    val_t h = H(S("RiskType"), S("Delta"), I(1), S("x"), S("Region"), S("AMER"), S("TradeDesk"),
                S("FXSpot"));
    s_reject("Hierarchy", &h, "Hierarchy");
}

Test(risk, duplicated_hierarchy_key_rejected)
{
    val_t h = H(S("RiskType"), S("Delta"), S("Region"), S("AMER"), S("TradeDesk"), S("FXSpot"),
                S("Region"), S("EMEA"));
    s_reject("Hierarchy", &h, "Region");
    cr_assert(strstr(g_why, "twice"), "why='%s'", g_why);
}

/* Packs the standard message with s_wide_hier(total) as its Hierarchy. */
static void s_pack_wide_hierarchy(int total)
{
    val_t kv[2 * (RISK_HIER_KEYS_MAX + 8)];
    val_t h = s_wide_hier(total, kv);
    s_pack_msg(&g_pk, "Hierarchy", &h);
}

Test(risk, hierarchy_with_32_keys_accepted)
{
    s_pack_wide_hierarchy(RISK_HIER_KEYS_MAX);
    risk_msg_t m;
    int rc = s_decode(&m);
    cr_assert_eq(rc, 0, "rc=%d %s", rc, g_why);
    cr_assert_eq(m.hierarchy->via.map.size, RISK_HIER_KEYS_MAX);
}

Test(risk, hierarchy_with_33_keys_rejected)
{
    s_pack_wide_hierarchy(RISK_HIER_KEYS_MAX + 1);
    risk_msg_t m;
    cr_assert_eq(s_decode(&m), RP_EINVAL);
    cr_assert(strstr(g_why, "Hierarchy has 33 keys, at most 32 allowed"), "why='%s'", g_why);
}

Test(risk, unknown_field_reason_quotes_unprintable_bytes)
{
    s_reject("X\x01Y", &I(1), "X\\x01Y");
}

Test(risk, row_round_trip_keeps_version_value_and_path)
{
    risk_msg_t m;
    s_ok("Value", &S("-0.000001"), &m);
    msgpack_sbuffer row;
    s_row(&m, &row);
    state_row_t r;
    int rc = tables_state_decode(row.data, row.size, &g_levels, &r);
    RP_ASSERT_OK(rc);
    cr_assert_eq(r.version, 3);
    cr_assert_eq(r.value, -1);
    cr_assert_eq(r.path_len, 19);
    cr_assert_eq(memcmp(r.path, "Delta::AMER::FXSpot", 19), 0);
    msgpack_sbuffer_destroy(&row);
}

/* Unpacks a row into *u and checks its shape: an array of the row fields. */
static const msgpack_object *s_row_fields(const msgpack_sbuffer *row, msgpack_unpacked *u)
{
    msgpack_unpacked_init(u);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(u, row->data, row->size, &off), MSGPACK_UNPACK_SUCCESS);
    cr_assert_eq(off, row->size, "bytes after the row");
    cr_assert_eq(u->data.type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq(u->data.via.array.size, TABLES_STATE_FIELDS);
    return u->data.via.array.ptr;
}

Test(risk, row_stores_value_as_exact_micro_units_and_no_trade_id)
{
    risk_msg_t m;
    s_ok("Value", &D(34624.51), &m);
    msgpack_sbuffer row;
    s_row(&m, &row);
    msgpack_unpacked u;
    const msgpack_object *f = s_row_fields(&row, &u);
    cr_assert_eq(f[TABLES_STATE_VALUE].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    cr_assert_eq(f[TABLES_STATE_VALUE].via.u64, 34624510000ULL);
    cr_assert_eq(f[TABLES_STATE_VERSION].via.u64, 3);
    cr_assert_eq(f[TABLES_STATE_TIMESTAMP].type, MSGPACK_OBJECT_NIL);
    /* The TradeID is the key; the row does not repeat it. */
    cr_assert_null(memmem(row.data, row.size, "T-1", 3), "the row repeats the TradeID");
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&row);
}

Test(risk, row_keeps_negative_values_exactly)
{
    risk_msg_t m;
    s_ok("Value", &S("-999999999999.999999"), &m);
    msgpack_sbuffer row;
    s_row(&m, &row);
    msgpack_unpacked u;
    const msgpack_object *f = s_row_fields(&row, &u);
    cr_assert_eq(f[TABLES_STATE_VALUE].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    cr_assert_eq(f[TABLES_STATE_VALUE].via.i64, -999999999999999999LL);
    state_row_t r;
    RP_ASSERT_OK(tables_state_decode(row.data, row.size, &g_levels, &r));
    cr_assert_eq(r.value, -999999999999999999LL);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&row);
}

Test(risk, row_keeps_timestamp_as_received)
{
    risk_msg_t m;
    s_ok("Timestamp", &I(-5), &m);
    msgpack_sbuffer row;
    s_row(&m, &row);
    msgpack_unpacked u;
    const msgpack_object *f = s_row_fields(&row, &u);
    cr_assert_eq(f[TABLES_STATE_TIMESTAMP].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    cr_assert_eq(f[TABLES_STATE_TIMESTAMP].via.i64, -5);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&row);
}

Test(risk, row_keeps_levels_in_order_and_other_keys_sorted_bytewise)
{
    val_t h = H(S("b"), S("1"), S("TradeDesk"), S("FXSpot"), S("aa"), S("2"), S("RiskType"),
                S("Delta"), S("B"), S("3"), S("a"), S("4"), S("Region"), S("AMER"));
    risk_msg_t m;
    s_ok("Hierarchy", &h, &m);
    msgpack_sbuffer row;
    s_row(&m, &row);
    msgpack_unpacked u;
    const msgpack_object *f = s_row_fields(&row, &u);
    const msgpack_object *lv = &f[TABLES_STATE_LEVELS], *hv = &f[TABLES_STATE_EXTRA];
    const char *levels[] = {"Delta", "AMER", "FXSpot"};
    cr_assert_eq(lv->type, MSGPACK_OBJECT_ARRAY);
    cr_assert_eq(lv->via.array.size, 3);
    for (int i = 0; i < 3; i++)
        cr_assert(mp_str_eq(&lv->via.array.ptr[i], levels[i]), "level %d", i);
    const char *want[] = {"B", "a", "aa", "b"}, *vals[] = {"3", "4", "2", "1"};
    cr_assert_eq(hv->type, MSGPACK_OBJECT_MAP);
    cr_assert_eq(hv->via.map.size, 4);
    for (int i = 0; i < 4; i++) {
        cr_assert(mp_str_eq(&hv->via.map.ptr[i].key, want[i]), "key %d is '%.*s', want %s", i,
                  (int)hv->via.map.ptr[i].key.via.str.size, hv->via.map.ptr[i].key.via.str.ptr,
                  want[i]);
        cr_assert(mp_str_eq(&hv->via.map.ptr[i].val, vals[i]), "value of %s", want[i]);
    }
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&row);
}

Test(risk, row_is_canonical_across_key_order_and_value_form)
{
    msgpack_sbuffer a, b, c;
    s_row_of(NULL, NULL, &a);
    val_t h = H(S("TradeDesk"), S("FXSpot"), S("RiskType"), S("Delta"), S("Region"), S("AMER"));
    s_row_of("Hierarchy", &h, &b);
    s_row_of("Value", &D(12.5), &c);
    cr_assert_eq(a.size, b.size);
    cr_assert_eq(memcmp(a.data, b.data, a.size), 0, "hierarchy order changed the row");
    cr_assert_eq(a.size, c.size);
    cr_assert_eq(memcmp(a.data, c.data, a.size), 0, "Value 12.5 vs \"12.5\" changed the row");
    msgpack_sbuffer_destroy(&a);
    msgpack_sbuffer_destroy(&b);
    msgpack_sbuffer_destroy(&c);
}

Test(risk, row_is_canonical_across_top_level_field_order)
{
    msgpack_sbuffer a, b;
    s_row_of(NULL, NULL, &a);
    msgpack_sbuffer_clear(&g_sb);
    msgpack_unpacked_destroy(&g_unp);
    msgpack_unpacked_init(&g_unp);
    msgpack_pack_map(&g_pk, 4);
    s_key(&g_pk, "Hierarchy");
    s_pack(&g_pk, &STD_HIER);
    s_key(&g_pk, "Value");
    s_pack(&g_pk, &S("12.500"));
    s_key(&g_pk, "Version");
    s_pack(&g_pk, &I(3));
    s_key(&g_pk, "TradeID");
    s_pack(&g_pk, &S("T-1"));
    risk_msg_t m;
    int rc = s_decode(&m);
    cr_assert_eq(rc, 0, "%s", g_why);
    s_row(&m, &b);
    cr_assert_eq(a.size, b.size);
    cr_assert_eq(memcmp(a.data, b.data, a.size), 0);
    msgpack_sbuffer_destroy(&a);
    msgpack_sbuffer_destroy(&b);
}

Test(risk, row_differs_when_value_differs)
{
    msgpack_sbuffer a, b;
    s_row_of(NULL, NULL, &a);
    s_row_of("Value", &S("12.500001"), &b);
    cr_assert(a.size != b.size || memcmp(a.data, b.data, a.size) != 0);
    msgpack_sbuffer_destroy(&a);
    msgpack_sbuffer_destroy(&b);
}

Test(risk, row_decode_rejects_garbage)
{
    state_row_t r;
    cr_assert_eq(tables_state_decode("\xc1", 1, &g_levels, &r), RP_EPROTO);
    cr_assert_eq(tables_state_decode("\x80", 1, &g_levels, &r), RP_EPROTO);
    cr_assert_eq(tables_state_decode("", 0, &g_levels, &r), RP_EPROTO);
}

Test(risk, row_decode_rejects_row_missing_a_configured_level)
{
    risk_msg_t m;
    s_ok(NULL, NULL, &m);
    msgpack_sbuffer row;
    s_row(&m, &row);
    hier_levels_t other;
    char why[128];
    cr_assert_eq(hier_levels_parse("RiskType,Book", &other, why, sizeof why), 0);
    state_row_t r;
    cr_assert_eq(tables_state_decode(row.data, row.size, &other, &r), RP_EPROTO);
    msgpack_sbuffer_destroy(&row);
}
