/* Unit tests for tools/jsonline.h, riskctl send's JSON reader: Value goes as
 * its exact text, integers stay integers, and every line that is not one
 * well-formed object with unique keys is refused with a reason. Expected
 * values are literals; the state's own decoder (proto/risk.h) reads the
 * result where the test is about what the state will store. */
#include "../../tools/jsonline.h"
#include "../../common/rperr.h"
#include "../../proto/risk.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIER "\"Hierarchy\":{\"RiskType\":\"Delta\",\"Region\":\"AMER\",\"TradeDesk\":\"FXSpot\"}"

static jsonline_t *s_jl;
static msgpack_sbuffer s_sb;
static msgpack_unpacked s_unp;
static char s_why[RISK_WHY_MAX];

static void s_setup(void)
{
    s_jl = jsonline_new();
    cr_assert_not_null(s_jl);
    msgpack_sbuffer_init(&s_sb);
    msgpack_unpacked_init(&s_unp);
}

static void s_teardown(void)
{
    jsonline_destroy(&s_jl);
    cr_assert_null(s_jl);
    msgpack_sbuffer_destroy(&s_sb);
    msgpack_unpacked_destroy(&s_unp);
}

TestSuite(jsonline, .init = s_setup, .fini = s_teardown);

/* Converts a NUL-terminated line, copied with the padding jsonline needs
 * after it (filled with bytes that must not be read as JSON). */
static int s_pack(const char *line)
{
    size_t len = strlen(line);
    char *buf = malloc(len + JSONLINE_PADDING);
    cr_assert_not_null(buf);
    memcpy(buf, line, len);
    memset(buf + len, '}', JSONLINE_PADDING);
    s_why[0] = 0;
    int rc = jsonline_pack(s_jl, buf, len, &s_sb, s_why, sizeof s_why);
    free(buf);
    return rc;
}

/* Converts line, which must succeed, and unpacks the result. */
static const msgpack_object *s_ok(const char *line)
{
    RP_ASSERT_OK(s_pack(line), "%s: %s", line, s_why);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&s_unp, s_sb.data, s_sb.size, &off), MSGPACK_UNPACK_SUCCESS,
                 "%s: output does not unpack", line);
    cr_assert_eq(off, s_sb.size, "%s: more than one object packed", line);
    return &s_unp.data;
}

/* Converts line, which must be refused with a reason containing want and
 * leave the output buffer as it was. */
static void s_refused(const char *line, const char *want)
{
    msgpack_sbuffer_clear(&s_sb);
    msgpack_sbuffer_write(&s_sb, "x", 1); /* earlier output must stay */
    RP_ASSERT_RC(s_pack(line), RP_EINVAL, "%s", line);
    cr_assert_eq(s_sb.size, 1, "%s: refused, yet the output grew to %zu bytes", line, s_sb.size);
    cr_assert(strstr(s_why, want), "%s: reason '%s' lacks '%s'", line, s_why, want);
    msgpack_sbuffer_clear(&s_sb);
}

/* The member key of map o, or NULL. */
static const msgpack_object *s_get(const msgpack_object *o, const char *key)
{
    cr_assert_eq(o->type, MSGPACK_OBJECT_MAP);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object *k = &o->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == strlen(key) &&
            memcmp(k->via.str.ptr, key, k->via.str.size) == 0)
            return &o->via.map.ptr[i].val;
    }
    return NULL;
}

static void s_assert_str(const msgpack_object *o, const char *want)
{
    cr_assert_not_null(o);
    cr_assert_eq(o->type, MSGPACK_OBJECT_STR, "type %d, want a string '%s'", o->type, want);
    cr_assert(o->via.str.size == strlen(want) && !memcmp(o->via.str.ptr, want, strlen(want)),
              "'%.*s', want '%s'", (int)o->via.str.size, o->via.str.ptr, want);
}

Test(jsonline, value_is_sent_as_its_text_and_stored_exactly)
{
    const msgpack_object *m = s_ok("{\"TradeID\":\"T1\",\"Version\":3,\"Value\":"
                                   "123456789012.345678,\"Timestamp\":1700000000.5," HIER "}");
    s_assert_str(s_get(m, "Value"), "123456789012.345678");
    hier_levels_t levels;
    RP_ASSERT_OK(hier_levels_parse("RiskType,Region,TradeDesk", &levels, s_why, sizeof s_why));
    risk_msg_t msg;
    RP_ASSERT_OK(risk_msg_decode(m, &levels, &msg, s_why, sizeof s_why), "%s", s_why);
    cr_assert_eq(msg.value, 123456789012345678LL, "stored %lld micro-units", (long long)msg.value);
    cr_assert_eq(msg.version, 3);
}

Test(jsonline, value_keeps_every_json_number_form)
{
    static const char *const forms[] = {
        "-123456789012.345678", "1.5e3", "-2E+2", "7", "-0", "0.0000005", "1e12"};
    for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++) {
        char line[256];
        snprintf(line, sizeof line, "{\"RiskMessage\":{\"Value\":%s\t,\"Version\":1}}", forms[i]);
        const msgpack_object *m = s_ok(line);
        s_assert_str(s_get(s_get(m, "RiskMessage"), "Value"), forms[i]);
        msgpack_sbuffer_clear(&s_sb);
    }
}

Test(jsonline, a_value_string_stays_a_string)
{
    s_assert_str(s_get(s_ok("{\"Value\":\"1.25\"}"), "Value"), "1.25");
}

Test(jsonline, value_beyond_a_double_or_too_long_is_refused)
{
    s_refused("{\"Value\":1e400,\"Version\":1}", "Value 1e400 is out of range");
    s_refused("{\"Value\":-1e400}", "out of range");
    s_refused("{\"Value\":1.00000000000000000000000000000000000000000000000000000000000000001}",
              "characters");
}

Test(jsonline, version_must_be_an_integer_that_fits_int64)
{
    const msgpack_object *m = s_ok("{\"Version\":9223372036854775807}");
    cr_assert_eq(s_get(m, "Version")->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    cr_assert_eq(s_get(m, "Version")->via.u64, 9223372036854775807ULL);
    s_refused("{\"Version\":9223372036854775808}", "Version 9223372036854775808 is out of range");
    s_refused("{\"Version\":99999999999999999999}", "out of range");
    s_refused("{\"Version\":1.5}", "Version 1.5 is not an integer");
    s_refused("{\"Version\":1e2}", "Version 1e2 is not an integer");
}

Test(jsonline, other_numbers_are_integers_when_they_fit_else_finite_doubles)
{
    const msgpack_object *m =
        s_ok("{\"Timestamp\":1700000000.25,\"a\":-5,\"b\":18446744073709551615,\"c\":1e-400}");
    cr_assert_eq(s_get(m, "Timestamp")->type, MSGPACK_OBJECT_FLOAT64);
    cr_assert_eq(s_get(m, "Timestamp")->via.f64, 1700000000.25);
    cr_assert_eq(s_get(m, "a")->type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    cr_assert_eq(s_get(m, "a")->via.i64, -5);
    cr_assert_eq(s_get(m, "b")->via.u64, 18446744073709551615ULL);
    cr_assert_eq(s_get(m, "c")->via.f64, 0.0);
    s_refused("{\"Timestamp\":1e400}", "Timestamp 1e400 is out of range");
    s_refused("{\"a\":[18446744073709551616]}", "number 18446744073709551616 is out of range");
}

Test(jsonline, a_key_twice_in_any_object_is_refused)
{
    s_refused("{\"Value\":1,\"Value\":2}", "key 'Value' appears twice");
    s_refused("{\"Value\":1,\"Hierarchy\":{\"Region\":\"AMER\",\"Region\":\"EMEA\"}}",
              "key 'Region' appears twice");
    s_refused("{\"RiskMessage\":{\"Version\":1,\"Version\":1}}", "key 'Version' appears twice");
    s_refused("{\"RiskMessage\":{},\"RiskMessage\":{}}", "key 'RiskMessage' appears twice");
    s_refused("{\"x\":[{\"a\":1,\"\\u0061\":2}]}", "key 'a' appears twice");
}

Test(jsonline, a_line_that_is_not_one_object_is_refused)
{
    s_refused("[1,2]", "not a JSON object");
    s_refused("3", "not a JSON object");
    s_refused("\"x\"", "not a JSON object");
    s_refused("null", "not a JSON object");
    s_refused("{\"a\":1}{\"b\":2}", "more than one JSON value");
    s_refused("{\"a\":1", "not valid JSON");
    s_refused("{\"a\":01}", "out of range or malformed");
    s_refused("{\"a\":tru}", "not valid JSON");
    s_refused("", "not valid JSON");
}

Test(jsonline, invalid_utf8_and_unpaired_surrogates_are_refused)
{
    s_refused("{\"TradeID\":\"\xff\"}", "UTF-8");
    s_refused("{\"TradeID\":\"\xc0\x80\"}", "UTF-8");     /* overlong NUL */
    s_refused("{\"TradeID\":\"\xed\xa0\x80\"}", "UTF-8"); /* a surrogate, encoded */
    s_refused("{\"TradeID\":\"\\ud800\"}", "not valid JSON");
    s_refused("{\"TradeID\":\"\\ud800\\u0041\"}", "not valid JSON");
    s_assert_str(s_get(s_ok("{\"TradeID\":\"\\ud83d\\ude00\"}"), "TradeID"), "\xf0\x9f\x98\x80");
}

/* The state's checks (risk_frame_open with the smallest --max-batch, then
 * risk_msg_unpack) must pass a batch holding the message just packed: the limits exist so
 * that no line makes the state refuse a whole frame. */
static void s_frame_passes(void)
{
    msgpack_sbuffer frame;
    msgpack_sbuffer_init(&frame);
    msgpack_sbuffer_write(&frame, "\x91", 1); /* an array of one message */
    msgpack_sbuffer_write(&frame, s_sb.data, s_sb.size);
    risk_frame_t f;
    char why[RISK_WHY_MAX];
    RP_ASSERT_OK(risk_frame_open(frame.data, frame.size, 1, &f, why, sizeof why),
                 "the state refuses the frame: %s", why);
    const char *msg;
    size_t mlen;
    cr_assert_eq(risk_frame_next(&f, &msg, &mlen), 1, "the frame holds the message");
    msgpack_unpacked unp;
    RP_ASSERT_OK(risk_msg_unpack(msg, mlen, &unp, why, sizeof why),
                 "the state refuses the message: %s", why);
    msgpack_unpacked_destroy(&unp);
    msgpack_sbuffer_destroy(&frame);
}

Test(jsonline, nesting_and_container_sizes_stay_within_what_a_frame_may_hold)
{
    char deep[256] = "", line[512];
    for (int i = 1; i < JSONLINE_MAX_DEPTH; i++)
        strcat(deep, "[");
    for (int i = 1; i < JSONLINE_MAX_DEPTH; i++)
        strcat(deep, "]");
    snprintf(line, sizeof line, "{\"x\":%s}", deep); /* JSONLINE_MAX_DEPTH levels */
    s_ok(line);
    s_frame_passes();
    snprintf(line, sizeof line, "{\"x\":[%s]}", deep);
    s_refused(line, "nested deeper than 15 levels");

    char keys[1024] = "{";
    for (int i = 0; i < RISK_HIER_KEYS_MAX; i++)
        snprintf(keys + strlen(keys), sizeof keys - strlen(keys), "%s\"k%d\":%d", i ? "," : "", i,
                 i);
    strcat(keys, "}");
    cr_assert_eq(s_ok(keys)->via.map.size, RISK_HIER_KEYS_MAX);
    s_frame_passes();
    keys[strlen(keys) - 1] = 0;
    strcat(keys, ",\"k99\":1}");
    s_refused(keys, "more than 32 keys");
}

Test(jsonline, containers_are_packed_in_their_shortest_form)
{
    /* what msgpack-c's own packer writes for the same structure */
    msgpack_sbuffer want;
    msgpack_sbuffer_init(&want);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &want, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "a", 1);
    msgpack_pack_array(&pk, 20);
    for (int i = 0; i < 20; i++)
        msgpack_pack_int64(&pk, i);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "b", 1);
    msgpack_pack_map(&pk, 0);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "c", 1);
    msgpack_pack_true(&pk);
    RP_ASSERT_OK(s_pack("{\"a\":[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19],\"b\":{},"
                        "\"c\":true}"),
                 "%s", s_why);
    cr_assert_eq(s_sb.size, want.size, "%zu bytes, msgpack-c packs %zu", s_sb.size, want.size);
    cr_assert(memcmp(s_sb.data, want.data, want.size) == 0, "bytes differ from msgpack-c's");
    msgpack_sbuffer_destroy(&want);
}
