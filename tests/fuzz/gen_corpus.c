/* Writes the seed corpus of every fuzz target into DIR/<target>/ using the
 * real encoders (risk messages as producers send them, every frame type,
 * replies, table rows) plus hand-made edge values. Run by mkcorpus.sh; the
 * output is committed, so keep it small and deterministic. */
#include "../../common/hier.h"
#include "../../common/money.h"
#include "../../proto/ctl.h"
#include "../../proto/frame.h"
#include "../../proto/mp.h"
#include "../../proto/reply.h"
#include "../../proto/tables.h"

#include <errno.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *s_root;

static void s_write(const char *target, const char *name, const void *buf, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", s_root, target);
    if (mkdir(path, 0755) && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof path, "%s/%s/%s", s_root, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(buf, 1, len, f) != len || fclose(f)) {
        perror(path);
        exit(1);
    }
}

/* Writes sb with a one-byte selector in front (targets that dispatch). */
static void s_write_sel(const char *target, const char *name, int sel, const msgpack_sbuffer *sb)
{
    char *b = malloc(sb->size + 1);
    if (!b) exit(1);
    b[0] = (char)sel;
    memcpy(b + 1, sb->data, sb->size);
    s_write(target, name, b, sb->size + 1);
    free(b);
}

/* Value kinds for s_msg. */
enum { V_INT, V_NEG, V_FLOAT, V_STR };
/* Timestamp kinds. */
enum { T_NONE, T_NIL, T_INT, T_FLOAT };

typedef struct {
    const char *trade;
    long long version;
    int vkind;
    long long ival;
    double fval;
    const char *sval;
    int tkind;
    const char *risk, *region, *desk, *extra_key, *extra_val;
} msg_t;

static void s_msg(msgpack_packer *pk, const msg_t *m, int wrap)
{
    if (wrap) {
        msgpack_pack_map(pk, 1);
        mp_pack_cstr(pk, "RiskMessage");
    }
    msgpack_pack_map(pk, m->tkind == T_NONE ? 4 : 5);
    mp_pack_cstr(pk, "TradeID");
    mp_pack_cstr(pk, m->trade);
    mp_pack_cstr(pk, "Version");
    if (m->version < 0)
        msgpack_pack_int64(pk, m->version);
    else
        msgpack_pack_uint64(pk, (uint64_t)m->version);
    mp_pack_cstr(pk, "Value");
    switch (m->vkind) {
    case V_INT:
        msgpack_pack_uint64(pk, (uint64_t)m->ival);
        break;
    case V_NEG:
        msgpack_pack_int64(pk, m->ival);
        break;
    case V_FLOAT:
        msgpack_pack_double(pk, m->fval);
        break;
    default:
        mp_pack_cstr(pk, m->sval);
        break;
    }
    if (m->tkind != T_NONE) {
        mp_pack_cstr(pk, "Timestamp");
        if (m->tkind == T_NIL)
            msgpack_pack_nil(pk);
        else if (m->tkind == T_INT)
            msgpack_pack_uint64(pk, 1700000000);
        else
            msgpack_pack_double(pk, 1700000000.25);
    }
    mp_pack_cstr(pk, "Hierarchy");
    msgpack_pack_map(pk, m->extra_key ? 4 : 3);
    mp_pack_cstr(pk, "RiskType");
    mp_pack_cstr(pk, m->risk);
    mp_pack_cstr(pk, "Region");
    mp_pack_cstr(pk, m->region);
    mp_pack_cstr(pk, "TradeDesk");
    mp_pack_cstr(pk, m->desk);
    if (m->extra_key) {
        mp_pack_cstr(pk, m->extra_key);
        mp_pack_cstr(pk, m->extra_val);
    }
}

static const msg_t s_msgs[] = {
    {"T1", 1, V_INT, 5, 0, NULL, T_NONE, "Delta", "AMER", "FXSpot", NULL, NULL},
    {"T2", 7, V_NEG, -250, 0, NULL, T_INT, "Vega", "EMEA", "Rates", NULL, NULL},
    {"T3", 0, V_FLOAT, 0, 0.1, NULL, T_FLOAT, "Delta", "APAC", "Credit", "Book", "B1"},
    {"T4", 2, V_STR, 0, 0, "-12.3456785", T_NIL, "Gamma", "AMER", "FX:Spot", NULL, NULL},
    {"T5", 9223372036854775807LL, V_STR, 0, 0, "1e12", T_NONE, "Delta", "AMER", "Desk", NULL, NULL},
    {"T6", 3, V_STR, 0, 0, "-1000000000000.0000004", T_NONE, "Delta", "AMER", "Desk", NULL, NULL},
    {"caf\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80", 4, V_FLOAT, 0, -1e12, NULL, T_INT, "\xce\x94",
     "\xe6\x9d\xb1\xe4\xba\xac", "FX", "Trader", "\xc3\xa9"},
    {"T8", 5, V_STR, 0, 0, "1.5E-7", T_NONE, "a", "b", "c", NULL, NULL},
    /* rejected on purpose: each breaks one rule */
    {"T9", -1, V_INT, 1, 0, NULL, T_NONE, "Delta", "AMER", "FX", NULL, NULL},
    {"T10", 1, V_INT, 1000000000001LL, 0, NULL, T_NONE, "Delta", "AMER", "FX", NULL, NULL},
    {"T11", 1, V_STR, 0, 0, "1.2.3", T_NONE, "Delta", "AMER", "FX", NULL, NULL},
    {"T12", 1, V_INT, 1, 0, NULL, T_NONE, "Delta", "AM::ER", "FX", NULL, NULL},
    {"T13", 1, V_INT, 1, 0, NULL, T_NONE, "Delta", ":AMER", "FX", NULL, NULL},
    {"T14", 1, V_INT, 1, 0, NULL, T_NONE, "Delta",
     "AM\x01"
     "ER",
     "FX", NULL, NULL},
    {"T15", 1, V_INT, 1, 0, NULL, T_NONE, "Delta", "\xed\xa0\x80", "FX", NULL, NULL},
    {"", 1, V_INT, 1, 0, NULL, T_NONE, "Delta", "AMER", "FX", NULL, NULL},
};

static void s_ingest(void)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    char name[64];
    size_t nm = sizeof s_msgs / sizeof s_msgs[0];
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    for (size_t i = 0; i < nm; i++) {
        for (int wrap = 0; wrap < 2; wrap++) {
            if (wrap && i % 3) continue;
            msgpack_sbuffer_clear(&sb);
            s_msg(&pk, &s_msgs[i], wrap);
            snprintf(name, sizeof name, "msg_%02zu%s", i, wrap ? "_wrapped" : "");
            s_write("ingest", name, sb.data, sb.size);
        }
    }
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_array(&pk, 3);
    for (int i = 0; i < 3; i++)
        s_msg(&pk, &s_msgs[i], i == 1);
    s_write("ingest", "batch_3_mixed", sb.data, sb.size);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_array(&pk, 4);
    for (int i = 7; i < 11; i++)
        s_msg(&pk, &s_msgs[i], 0);
    s_write("ingest", "batch_good_and_bad", sb.data, sb.size);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_array(&pk, 0);
    s_write("ingest", "batch_empty", sb.data, sb.size);
    /* Hand-made: unknown field, duplicate field, hierarchy not a map. */
    static const char unknown[] = "\x81\xa3"
                                  "Foo\x01";
    s_write("ingest", "unknown_field", unknown, sizeof unknown - 1);
    msgpack_sbuffer_clear(&sb);
    msgpack_pack_map(&pk, 5);
    mp_pack_cstr(&pk, "TradeID");
    mp_pack_cstr(&pk, "D");
    mp_pack_cstr(&pk, "Version");
    msgpack_pack_int(&pk, 1);
    mp_pack_cstr(&pk, "Value");
    msgpack_pack_int(&pk, 1);
    mp_pack_cstr(&pk, "Version");
    msgpack_pack_int(&pk, 2);
    mp_pack_cstr(&pk, "Hierarchy");
    msgpack_pack_array(&pk, 0);
    s_write("ingest", "duplicate_field", sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
}

/* Stream ids of the seed frames: a state's and a reducer's. */
static const frame_id_t s_sid = {{0x5a, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}};
static const frame_id_t s_rid = {{0x7e, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}};

static void s_frames(void)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

    change_t c[3] = {
        {0, 1, 0, 5000000, NULL, "Delta::AMER::FXSpot", 0, 19},
        {1, 1, 5000000, -250000000, "Delta::AMER::FXSpot", "Vega::EMEA::Rates", 19, 17},
        {1, 0, MONEY_MAX, 0, "a::b::c", NULL, 7, 0},
    };
    frame_work_head(&pk, &s_sid, 42, 40, &(frame_pos_t){0}, 3);
    for (int i = 0; i < 3; i++)
        frame_change_pack(&pk, &c[i]);
    s_write_sel("frames", "work_3", FRAME_WORK - 1, &sb);
    msgpack_sbuffer_clear(&sb);
    frame_work_head(&pk, &s_sid, 1, 0, &(frame_pos_t){0}, 0);
    s_write_sel("frames", "work_empty", FRAME_WORK - 1, &sb);

    msgpack_sbuffer_clear(&sb);
    frame_result_head(&pk, &s_sid, 42, 40, "host:1234", 3, &(frame_pos_t){0}, 4);
    frame_delta_pack(&pk, "Delta", 5, 5000000, 1);
    frame_delta_pack(&pk, "Delta::AMER", 11, -5000000, -1);
    frame_delta_pack(&pk, "Delta::AMER::FXSpot", 19, (money_sum_t)MONEY_MAX * 100000, 3);
    frame_delta_pack(&pk, "Vega", 4, -(money_sum_t)MONEY_MAX * 1000000, 0);
    s_write_sel("frames", "result_4", FRAME_RESULT - 1, &sb);
    msgpack_sbuffer_clear(&sb);
    frame_result_head(&pk, &s_sid, 7, 7, "", 0, &(frame_pos_t){0}, 0);
    s_write_sel("frames", "result_empty", FRAME_RESULT - 1, &sb);

    uint64_t ids[4] = {1, 2, 300, 1ULL << 40};
    msgpack_sbuffer_clear(&sb);
    frame_ack_encode(&sb, &s_sid, &s_rid, ids, 4);
    s_write_sel("frames", "ack_4", FRAME_ACK - 1, &sb);
    msgpack_sbuffer_clear(&sb);
    frame_ack_encode(&sb, &s_sid, &s_rid, ids, 0);
    s_write_sel("frames", "ack_empty", FRAME_ACK - 1, &sb);

    msgpack_sbuffer_clear(&sb);
    ctl_req_encode(&sb, "stats");
    s_write_sel("frames", "ctl_req_stats", FRAME_CTL_REQ - 1, &sb);

    msgpack_sbuffer_clear(&sb);
    frame_head(&pk, FRAME_CTL_REP, 3);
    msgpack_pack_map(&pk, 4);
    mp_pack_cstr(&pk, "accepted");
    msgpack_pack_uint64(&pk, 12345);
    mp_pack_cstr(&pk, "lag_ms");
    msgpack_pack_double(&pk, 1.5);
    mp_pack_cstr(&pk, "role");
    mp_pack_cstr(&pk, "state");
    mp_pack_cstr(&pk, "mappers");
    msgpack_pack_array(&pk, 2);
    mp_pack_cstr(&pk, "m1");
    msgpack_pack_nil(&pk);
    s_write_sel("frames", "ctl_rep_4", FRAME_CTL_REP - 1, &sb);

    /* The right frame sent to the wrong decoder, and a wrong version. */
    msgpack_sbuffer_clear(&sb);
    frame_ack_encode(&sb, &s_sid, &s_rid, ids, 2);
    s_write_sel("frames", "ack_as_work", FRAME_WORK - 1, &sb);
    static const char badver[] = "\x04\x93\x01\x05\x80"; /* version 1 */
    s_write("frames", "ctl_rep_bad_version", badver, sizeof badver - 1);
    msgpack_sbuffer_destroy(&sb);
}

static void s_reply(void)
{
    msgpack_sbuffer sb;
    reply_t r;
    msgpack_sbuffer_init(&sb);
    reply_init(&r);
    r.accepted = 10;
    r.duplicates = 2;
    r.conflicts = 1;
    reply_encode(&r, &sb);
    s_write("reply", "ok", sb.data, sb.size);
    reply_reject(&r, 3, "Value string is not a decimal number");
    reply_reject(&r, 9, "missing field TradeID");
    msgpack_sbuffer_clear(&sb);
    reply_encode(&r, &sb);
    s_write("reply", "rejects", sb.data, sb.size);
    reply_retry(&r, "store full, retry later");
    msgpack_sbuffer_clear(&sb);
    reply_encode(&r, &sb);
    s_write("reply", "retry", sb.data, sb.size);
    reply_destroy(&r);
    /* Script inputs for the round trip: counts, rejects, a failure. */
    static const char script[] = "\0\0\0\0\0\0\0\x05\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\0\0"
                                 "\x02\0\x07\x04oops\0\x09\x02no\x01"
                                 "full";
    s_write("reply", "script", script, sizeof script - 1);
    msgpack_sbuffer_destroy(&sb);
}

static void s_money(void)
{
    static const char *const strs[] = {
        "0",
        "1",
        "-1",
        "0.1",
        "1.5",
        "-2.5",
        "0.0000005",
        "-0.0000005",
        "0.00000049999",
        "1e12",
        "-1e12",
        "1000000000000.0000004",
        "1000000000000.0000005",
        "1e-7",
        "1E+3",
        "123.456789e3",
        ".5",
        "+7.",
        "12.345678",
        "99999999999999999999999999999999.999999",
        "-170141183460469231731687303715884.105727",
        "1e100000",
        "0e-99999",
        "1.2.3",
        "e5",
        "-",
    };
    char name[32];
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        snprintf(name, sizeof name, "str_%02zu", i);
        s_write("money", name, strs[i], strlen(strs[i]));
    }
    static const double dbl[] = {0.1,  -0.1,         1e12,   -1e12,  1000000000000.0001,
                                 5e-7, 4.9999999e-7, 2.5e-6, 1e-300, 123456.7890125};
    for (size_t i = 0; i < sizeof dbl / sizeof dbl[0]; i++) {
        snprintf(name, sizeof name, "double_%02zu", i);
        s_write("money", name, &dbl[i], sizeof dbl[i]);
    }
}

static void s_mp(void)
{
    static const struct {
        const char *name, *bytes;
        size_t len;
    } encs[] = {
#define E(n, lit) {(n), (lit), sizeof(lit) - 1}
        E("fixint", "\x05"),
        E("negfixint", "\xff"),
        E("nil", "\xc0"),
        E("true", "\xc3"),
        E("fixmap", "\x81\xa1k\x01"),
        E("fixarray", "\x92\x01\x02"),
        E("fixstr", "\xa3"
                    "abc"),
        E("bin8", "\xc4\x02xy"),
        E("bin16", "\xc5\x00\x02xy"),
        E("bin32", "\xc6\0\0\0\x02xy"),
        E("ext8", "\xc7\x02\x01xy"),
        E("ext16", "\xc8\x00\x02\x01xy"),
        E("ext32", "\xc9\0\0\0\x02\x01xy"),
        E("float32", "\xca\x3f\xc0\x00\x00"),
        E("float64", "\xcb\x3f\xf8\0\0\0\0\0\0"),
        E("uint64", "\xcf\xff\xff\xff\xff\xff\xff\xff\xff"),
        E("int64", "\xd3\x80\0\0\0\0\0\0\0"),
        E("fixext1", "\xd4\x01\x02"),
        E("fixext16", "\xd8\x01"
                      "0123456789abcdef"),
        E("str8", "\xd9\x03"
                  "abc"),
        E("str16", "\xda\x00\x03"
                   "abc"),
        E("str32", "\xdb\0\0\0\x03"
                   "abc"),
        E("array16", "\xdc\x00\x02\x01\x02"),
        E("array32", "\xdd\0\0\0\x02\x01\x02"),
        E("map16", "\xde\x00\x01\xa1k\xc0"),
        E("map32", "\xdf\0\0\0\x01\xa1k\xc0"),
        E("nested5", "\x91\x91\x91\x91\x91\x01"),
        E("nested_empty", "\x91\x91\x90"),
        E("deep17", "\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x91\x01"),
        E("trailing", "\x01\x02"),
        E("truncated", "\x92\x01"),
        E("bad_c1", "\xc1"),
        E("huge_array32", "\xdd\xff\xff\xff\xff\x01"),
        E("huge_str32", "\xdb\xff\xff\xff\xff"),
#undef E
    };
    for (size_t i = 0; i < sizeof encs / sizeof encs[0]; i++)
        s_write("mp", encs[i].name, encs[i].bytes, encs[i].len);
}

static void s_tables(void)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tables_agg_encode(&sb, (money_sum_t)-12500000, 3);
    s_write_sel("tables", "agg_small", 0, &sb);
    msgpack_sbuffer_clear(&sb);
    tables_agg_encode(&sb, (money_sum_t)MONEY_MAX * 1000000000, -7);
    s_write_sel("tables", "agg_large", 0, &sb);
    static const struct {
        const char *name, *bytes;
        size_t len;
    } raw[] = {
#define E(n, lit) {(n), (lit), sizeof(lit) - 1}
        E("value_ascii", "\x01"
                         "AMER"),
        E("value_utf8", "\x01"
                        "caf\xc3\xa9\xf0\x9f\x98\x80"),
        E("value_colon", "\x01"
                         "FX:Spot"),
        E("value_sep", "\x01"
                       "FX::Spot"),
        E("value_surrogate", "\x01\xed\xa0\x80"),
        E("value_overlong", "\x01\xc0\xaf"),
        E("value_max", "\x01\xf4\x8f\xbf\xbf"),
        E("value_above_max", "\x01\xf4\x90\x80\x80"),
        E("prefix_path", "\x02"
                         "Delta::AMER::FXSpot"),
        E("prefix_colons", "\x09"
                           "a:::b::::c::"),
        E("prefix_max2", "\x10"
                         "a::b::c::d"),
        E("joined_3", "\x03"
                      "Delta\0AM:ER\0FX"),
        E("joined_8", "\x03"
                      "a\0b\0c\0d\0e\0f\0g\0h"),
        E("levels_default", "\x04" HIER_DEFAULT),
        E("levels_dup", "\x04"
                        "A,B,A"),
        E("levels_empty", "\x04"
                          "A,,B"),
#undef E
    };
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++)
        s_write("tables", raw[i].name, raw[i].bytes, raw[i].len);
    uint8_t batch[TABLES_BATCH_SIZE];
    tables_batch_encode(batch, &(batch_row_t){1025, 2048, 1764000000000000ULL});
    msgpack_sbuffer_clear(&sb);
    msgpack_sbuffer_write(&sb, (const char *)batch, sizeof batch);
    s_write_sel("tables", "batch_row", 5, &sb);
    static const char msg[] = "\x81\xa7TradeID\xa1x";
    dlq_row_t row = {.id = 7, .time_ms = 1700000000000, .source = "ingest 127.0.0.1",
                     .source_len = 16, .index = 3, .reason = "missing field Value",
                     .reason_len = 19, .raw = msg, .raw_len = sizeof msg - 1,
                     .raw_size = sizeof msg - 1};
    msgpack_sbuffer_clear(&sb);
    tables_dlq_encode(&sb, &row);
    s_write_sel("tables", "dlq_row", 6, &sb);
    row.raw_size = 100000; /* a truncated entry */
    msgpack_sbuffer_clear(&sb);
    tables_dlq_encode(&sb, &row);
    s_write_sel("tables", "dlq_row_truncated", 6, &sb);
    msgpack_sbuffer_destroy(&sb);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    s_root = argv[1];
    if (mkdir(s_root, 0755) && errno != EEXIST) {
        perror(s_root);
        return 1;
    }
    s_ingest();
    s_frames();
    s_reply();
    s_money();
    s_mp();
    s_tables();
    return 0;
}
