/* Tests of the public contracts seen from outside: the acknowledged-ingest
 * protocol spoken directly over a REQ socket (an over-deep message rejected
 * and dead-lettered alone), latest-version-wins across frames, clean SIGTERM
 * exits and the --help of every binary. */
#include "harness.h"
#include "model.h"

#include <criterion/criterion.h>
#include <czmq.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#define MAX_ERRORS 64

/* A decoded ingest reply. */
typedef struct {
    long long accepted, duplicates, conflicts, rejected;
    int nerrors;
    long long index[MAX_ERRORS];
    char reason[MAX_ERRORS][200];
    int retry;
} ack_t;

static zsock_t *s_client(const h_cluster_t *c)
{
    zsys_handler_set(NULL);
    zsock_t *req = zsock_new(ZMQ_REQ);
    cr_assert_not_null(req);
    zsock_set_linger(req, 0);
    zsock_set_rcvtimeo(req, 15000);
    zsock_set_sndtimeo(req, 15000);
    cr_assert_eq(zsock_connect(req, "%s", c->ingest), 0, "connect %s", c->ingest);
    return req;
}

static const msgpack_object *s_get(const msgpack_object *map, const char *key)
{
    size_t kl = strlen(key);
    for (uint32_t i = 0; map->type == MSGPACK_OBJECT_MAP && i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl &&
            memcmp(k->via.str.ptr, key, kl) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

static long long s_count(const msgpack_object *map, const char *key)
{
    const msgpack_object *o = s_get(map, key);
    cr_assert(o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER,
              "reply field '%s' missing or not a non-negative integer", key);
    return (long long)o->via.u64;
}

/* Sends one frame and decodes the reply; fails the test without one. */
static ack_t s_request(zsock_t *req, const void *data, size_t len)
{
    cr_assert_geq(zmq_send(zsock_resolve(req), data, len, 0), 0, "send: %s",
                  zmq_strerror(zmq_errno()));
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    int rc = zmq_msg_recv(&msg, zsock_resolve(req), 0);
    cr_assert_geq(rc, 0, "no ingest reply within 15 s: %s", zmq_strerror(zmq_errno()));
    ack_t a;
    memset(&a, 0, sizeof a);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&u, zmq_msg_data(&msg), zmq_msg_size(&msg), &off),
                 MSGPACK_UNPACK_SUCCESS, "reply is not msgpack");
    const msgpack_object *m = &u.data;
    cr_assert_eq(m->type, MSGPACK_OBJECT_MAP, "reply is not a map");
    a.accepted = s_count(m, "accepted");
    a.duplicates = s_count(m, "duplicates");
    a.conflicts = s_count(m, "conflicts");
    a.rejected = s_count(m, "rejected");
    const msgpack_object *retry = s_get(m, "retry");
    a.retry = retry && retry->type == MSGPACK_OBJECT_BOOLEAN && retry->via.boolean;
    const msgpack_object *errs = s_get(m, "errors");
    cr_assert(errs && errs->type == MSGPACK_OBJECT_ARRAY, "reply without an errors array");
    for (uint32_t i = 0; i < errs->via.array.size && a.nerrors < MAX_ERRORS; i++) {
        const msgpack_object *e = &errs->via.array.ptr[i];
        const msgpack_object *idx = s_get(e, "index"), *why = s_get(e, "reason");
        cr_assert(idx && idx->type == MSGPACK_OBJECT_POSITIVE_INTEGER, "error without index");
        cr_assert(why && why->type == MSGPACK_OBJECT_STR, "error without reason");
        a.index[a.nerrors] = (long long)idx->via.u64;
        snprintf(a.reason[a.nerrors], sizeof a.reason[0], "%.*s", (int)why->via.str.size,
                 why->via.str.ptr);
        a.nerrors++;
    }
    msgpack_unpacked_destroy(&u);
    zmq_msg_close(&msg);
    if (a.rejected || a.conflicts) /* context for a failing assertion */
        fprintf(stderr, "  reply: accepted %lld duplicates %lld conflicts %lld rejected %lld%s%s\n",
                a.accepted, a.duplicates, a.conflicts, a.rejected,
                a.nerrors ? ", first error: " : "", a.nerrors ? a.reason[0] : "");
    return a;
}

static ack_t s_request_sb(zsock_t *req, msgpack_sbuffer *sb)
{
    ack_t a = s_request(req, sb->data, sb->size);
    msgpack_sbuffer_clear(sb);
    return a;
}

static void s_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str(pk, strlen(s));
    msgpack_pack_str_body(pk, s, strlen(s));
}

static void s_hier(msgpack_packer *pk, const char *rt, const char *region, const char *desk)
{
    msgpack_pack_map(pk, desk ? 3 : 2);
    s_str(pk, "RiskType");
    s_str(pk, rt);
    s_str(pk, "Region");
    s_str(pk, region);
    if (desk) {
        s_str(pk, "TradeDesk");
        s_str(pk, desk);
    }
}

/* A valid message with a decimal-string Value on path rt::region::desk. */
static void s_msg(msgpack_packer *pk, const char *trade, int64_t version, const char *value,
                  const char *rt, const char *region, const char *desk)
{
    msgpack_pack_map(pk, 5);
    s_str(pk, "TradeID");
    s_str(pk, trade);
    s_str(pk, "Value");
    s_str(pk, value);
    s_str(pk, "Version");
    msgpack_pack_int64(pk, version);
    s_str(pk, "Timestamp");
    msgpack_pack_double(pk, 1700000000.5);
    s_str(pk, "Hierarchy");
    s_hier(pk, rt, region, desk);
}

/* Mirrors s_msg into the model. */
static model_outcome_t s_model(model_t *m, const char *trade, int64_t version, const char *value,
                               const char *rt, const char *region, const char *desk)
{
    int64_t micro;
    cr_assert_eq(model_parse_micro(value, strlen(value), &micro), 0, "bad test value %s", value);
    char path[256];
    snprintf(path, sizeof path, "%s::%s::%s", rt, region, desk);
    return model_add(m, trade, version, micro, path);
}

static h_cluster_t *s_start(const char *prefix)
{
    h_cluster_t *c = h_cluster_new(prefix);
    h_start_state(c, NULL);
    h_start_reducer(c);
    h_start_mapper(c);
    return c;
}

/* Waits for the aggregates and compares them and the state with the model. */
static void s_check_tables(h_cluster_t *c, const model_t *m)
{
    h_wait_applied(c, 60);
    long rows = 0;
    long bad = model_compare_aggregates(m, c->reducer_data, &rows);
    cr_assert_eq(bad, 0, "aggregate table differs from the model in %ld row(s)", bad);
    cr_assert_gt(rows, 0);
    bad = model_compare_state(m, c->state_data);
    cr_assert_eq(bad, 0, "state table differs from the model in %ld trade(s)", bad);
    char out[4096];
    int rc = h_riskctl(c, out, sizeof out, 60000, "verify", "--state-data", c->state_data,
                       "--reducer-data", c->reducer_data, NULL);
    cr_assert_eq(rc, 0, "riskctl verify exited %d:\n%s", rc, out);
}

static int s_has_index(const ack_t *a, long long i)
{
    for (int k = 0; k < a->nerrors; k++)
        if (a->index[k] == i) return 1;
    return 0;
}

Test(protocol, ack_semantics, .timeout = 120, .fini = h_finish)
{
    h_cluster_t *c = s_start("ack");
    model_t *m = model_new();
    zsock_t *req = s_client(c);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

    /* A batch of 7: valid at 0, 2 and 6; invalid at 1, 3, 4 and 5. */
    msgpack_pack_array(&pk, 7);
    s_msg(&pk, "A-1", 1, "100.250000", "Delta", "AMER", "FXSpot");
    msgpack_pack_map(&pk, 3); /* 1: no Version */
    s_str(&pk, "TradeID");
    s_str(&pk, "A-2");
    s_str(&pk, "Value");
    s_str(&pk, "1.5");
    s_str(&pk, "Hierarchy");
    s_hier(&pk, "Delta", "AMER", "FXSpot");
    msgpack_pack_map(&pk, 4); /* 2: integer Value, no Timestamp (optional) */
    s_str(&pk, "TradeID");
    s_str(&pk, "A-3");
    s_str(&pk, "Value");
    msgpack_pack_int64(&pk, 42);
    s_str(&pk, "Version");
    msgpack_pack_int64(&pk, 1);
    s_str(&pk, "Hierarchy");
    s_hier(&pk, "Gamma", "EMEA", "Rates");
    s_msg(&pk, "A-4", 1, "abc", "Delta", "AMER", "FXSpot");  /* 3: Value not a number */
    s_msg(&pk, "A-5", 1, "2.000000", "Delta", "AMER", NULL); /* 4: level missing */
    msgpack_pack_int64(&pk, 7);                              /* 5: not a map */
    msgpack_pack_map(&pk, 5);                                /* 6: double Value */
    s_str(&pk, "TradeID");
    s_str(&pk, "A-6");
    s_str(&pk, "Value");
    msgpack_pack_double(&pk, -12.5);
    s_str(&pk, "Version");
    msgpack_pack_int64(&pk, 2);
    s_str(&pk, "Timestamp");
    msgpack_pack_int64(&pk, 1700000000);
    s_str(&pk, "Hierarchy");
    s_hier(&pk, "Vega", "APAC", "Credit");
    msgpack_sbuffer batch;
    msgpack_sbuffer_init(&batch);
    msgpack_sbuffer_write(&batch, sb.data, sb.size);
    ack_t a = s_request_sb(req, &sb);
    cr_assert_eq(a.accepted, 3);
    cr_assert_eq(a.duplicates, 0);
    cr_assert_eq(a.conflicts, 0);
    cr_assert_eq(a.rejected, 4);
    cr_assert_eq(a.nerrors, 4, "%d error entries for 4 rejected messages", a.nerrors);
    for (long long i = 1; i <= 5; i++)
        if (i != 2) cr_assert(s_has_index(&a, i), "no error entry for message %lld", i);
    for (int k = 0; k < a.nerrors; k++)
        cr_assert_gt(strlen(a.reason[k]), 0, "empty reason for message %lld", a.index[k]);
    s_model(m, "A-1", 1, "100.250000", "Delta", "AMER", "FXSpot");
    s_model(m, "A-3", 1, "42", "Gamma", "EMEA", "Rates");
    s_model(m, "A-6", 2, "-12.5", "Vega", "APAC", "Credit");

    /* The same batch again: the valid ones are duplicates now. */
    a = s_request(req, batch.data, batch.size);
    cr_assert_eq(a.accepted, 0);
    cr_assert_eq(a.duplicates, 3);
    cr_assert_eq(a.conflicts, 0);
    cr_assert_eq(a.rejected, 4);
    msgpack_sbuffer_destroy(&batch);

    /* Newer, then stale: the stale one is a duplicate (single-map frames). */
    s_msg(&pk, "A-1", 5, "7.000001", "Delta", "AMER", "FXSpot");
    a = s_request_sb(req, &sb);
    cr_assert_eq(a.accepted, 1);
    cr_assert_eq(s_model(m, "A-1", 5, "7.000001", "Delta", "AMER", "FXSpot"), MODEL_ACCEPTED);
    s_msg(&pk, "A-1", 3, "999.000000", "Rho", "LATAM", "Equity");
    a = s_request_sb(req, &sb);
    cr_assert_eq(a.accepted, 0);
    cr_assert_eq(a.duplicates, 1);
    cr_assert_eq(a.conflicts, 0);
    cr_assert_eq(s_model(m, "A-1", 3, "999.000000", "Rho", "LATAM", "Equity"), MODEL_DUPLICATE);

    /* Same version, other Value: a conflict, and the first value stays. */
    s_msg(&pk, "B-1", 1, "100.5", "Theta", "LATAM", "Equity");
    a = s_request_sb(req, &sb);
    cr_assert_eq(a.accepted, 1);
    s_model(m, "B-1", 1, "100.5", "Theta", "LATAM", "Equity");
    s_msg(&pk, "B-1", 1, "200.25", "Theta", "LATAM", "Equity");
    a = s_request_sb(req, &sb);
    cr_assert_eq(a.accepted, 0);
    cr_assert_eq(a.duplicates, 1, "a conflict is counted among duplicates");
    cr_assert_eq(a.conflicts, 1);
    cr_assert_eq(a.rejected, 0);
    cr_assert_eq(s_model(m, "B-1", 1, "200.25", "Theta", "LATAM", "Equity"), MODEL_CONFLICT);

    /* Not msgpack at all (0xc1 is never used), then an empty batch. */
    static const char garbage[] = "\xc1\xc1 this is not msgpack";
    a = s_request(req, garbage, sizeof garbage - 1);
    cr_assert_geq(a.rejected, 1);
    cr_assert_eq(a.accepted, 0);
    cr_assert_geq(a.nerrors, 1, "rejected frame without a reason");
    cr_assert_gt(strlen(a.reason[0]), 0);
    msgpack_pack_array(&pk, 0);
    a = s_request_sb(req, &sb);
    cr_assert_geq(a.rejected, 1);
    cr_assert_eq(a.accepted, 0);

    /* Still serving. */
    s_msg(&pk, "C-1", 1, "-0.000001", "Rho", "EMEA", "Commodities");
    a = s_request_sb(req, &sb);
    cr_assert_eq(a.accepted, 1);
    s_model(m, "C-1", 1, "-0.000001", "Rho", "EMEA", "Commodities");
    char out[256];
    cr_assert_eq(h_riskctl(c, out, sizeof out, 10000, "ping", "state", "--state-control",
                           c->state_ctl, NULL),
                 0, "state does not answer ping after bad frames");

    s_check_tables(c, m);
    json_t *st = h_stats(c);
    cr_assert_eq(h_stat(st, "state", "conflicts"), 1);
    json_decref(st);
    msgpack_sbuffer_destroy(&sb);
    zsock_destroy(&req);
    model_destroy(&m);
    h_passed();
}

/* Like s_msg, with the Region value nested inside `depth` one-element arrays:
 * [[...["AMER"]...]], a message deeper than any valid one. */
static void s_deep_msg(msgpack_packer *pk, const char *trade, int depth)
{
    msgpack_pack_map(pk, 4);
    s_str(pk, "TradeID");
    s_str(pk, trade);
    s_str(pk, "Value");
    s_str(pk, "1.0");
    s_str(pk, "Version");
    msgpack_pack_int64(pk, 1);
    s_str(pk, "Hierarchy");
    msgpack_pack_map(pk, 3);
    s_str(pk, "RiskType");
    s_str(pk, "Delta");
    s_str(pk, "Region");
    for (int i = 0; i < depth; i++) msgpack_pack_array(pk, 1);
    s_str(pk, "AMER");
    s_str(pk, "TradeDesk");
    s_str(pk, "FXSpot");
}

Test(protocol, over_deep_message_is_dead_lettered_alone, .timeout = 120, .fini = h_finish)
{
    h_cluster_t *c = s_start("deep");
    model_t *m = model_new();
    zsock_t *req = s_client(c);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);

    /* Four messages; the second is nested 22 levels deep (the decoder's
     * bound is 16): it alone must be rejected. */
    msgpack_pack_array(&pk, 4);
    s_msg(&pk, "N-1", 1, "10.500000", "Delta", "AMER", "FXSpot");
    s_deep_msg(&pk, "N-2", 20);
    s_msg(&pk, "N-3", 1, "2.25", "Vega", "EMEA", "Rates");
    s_msg(&pk, "N-4", 2, "-1.000001", "Delta", "AMER", "FXSpot");
    ack_t a = s_request_sb(req, &sb);
    cr_assert_eq(a.accepted, 3, "the valid neighbours of an over-deep message were not accepted");
    cr_assert_eq(a.rejected, 1);
    cr_assert_eq(a.nerrors, 1);
    cr_assert_eq(a.index[0], 1, "rejection names message %lld, not 1", a.index[0]);
    cr_assert(strstr(a.reason[0], "nested deeper than 16 levels"), "reason: %s", a.reason[0]);
    s_model(m, "N-1", 1, "10.500000", "Delta", "AMER", "FXSpot");
    s_model(m, "N-3", 1, "2.25", "Vega", "EMEA", "Rates");
    s_model(m, "N-4", 2, "-1.000001", "Delta", "AMER", "FXSpot");

    cr_assert(h_wait_stat(c, "state", "dlq_added", 1, 30000), "nothing dead-lettered");
    s_check_tables(c, m);
    char out[8192];
    cr_assert_eq(h_riskctl(c, out, sizeof out, 10000, "dlq", "list", "--state-data",
                           c->state_data, NULL),
                 0);
    cr_assert(strstr(out, "index 1") && strstr(out, "nested deeper than 16 levels"),
              "dlq list:\n%s", out);
    cr_assert_eq(h_riskctl(c, out, sizeof out, 10000, "dlq", "show", "1", "--state-data",
                           c->state_data, NULL),
                 0);
    /* Too deep to print as JSON, the entry shows its bytes in hex (32 a
     * line): they must hold the rejected message's TradeID, "N-2". */
    char flat[sizeof out];
    size_t nf = 0;
    for (const char *p = out; *p; p++)
        if (*p != '\n') flat[nf++] = *p;
    flat[nf] = 0;
    cr_assert(strstr(flat, "a34e2d32"), "dlq show does not hold the rejected message:\n%s", out);
    msgpack_sbuffer_destroy(&sb);
    zsock_destroy(&req);
    model_destroy(&m);
    h_passed();
}

Test(protocol, out_of_order_across_frames, .timeout = 120, .fini = h_finish)
{
    h_cluster_t *c = s_start("ooo");
    model_t *m = model_new();
    zsock_t *req = s_client(c);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    enum { N = 50 };
    char trade[N][16], v3[N][32], v2[N][32];
    for (int i = 0; i < N; i++) {
        snprintf(trade[i], sizeof trade[i], "O-%03d", i);
        snprintf(v3[i], sizeof v3[i], "%d.%06d", 1000 + i, i * 7);
        snprintf(v2[i], sizeof v2[i], "-%d.5", 500 + i);
    }
    /* Version 3 of every trade in one frame, half on each of two paths. */
    msgpack_pack_array(&pk, N);
    for (int i = 0; i < N; i++) {
        const char *rt = i % 2 ? "Delta" : "Rho";
        s_msg(&pk, trade[i], 3, v3[i], rt, "AMER", "FXSpot");
        cr_assert_eq(s_model(m, trade[i], 3, v3[i], rt, "AMER", "FXSpot"), MODEL_ACCEPTED);
    }
    ack_t a = s_request_sb(req, &sb);
    cr_assert_eq(a.accepted, N);

    /* Version 2 on another path: half as one batch frame, half as single
     * frames. Nothing may change. */
    msgpack_pack_array(&pk, N / 2);
    for (int i = 0; i < N / 2; i++)
        s_msg(&pk, trade[i], 2, v2[i], "Vega", "APAC", "Credit");
    a = s_request_sb(req, &sb);
    cr_assert_eq(a.accepted, 0);
    cr_assert_eq(a.duplicates, N / 2);
    for (int i = N / 2; i < N; i++) {
        s_msg(&pk, trade[i], 2, v2[i], "Vega", "APAC", "Credit");
        a = s_request_sb(req, &sb);
        cr_assert_eq(a.accepted, 0, "version 2 of %s accepted after version 3", trade[i]);
        cr_assert_eq(a.duplicates, 1);
    }
    for (int i = 0; i < N; i++)
        cr_assert_eq(s_model(m, trade[i], 2, v2[i], "Vega", "APAC", "Credit"), MODEL_DUPLICATE);

    /* A trade alone on its path moves away in a later frame: the emptied
     * rows (count 0, value 0) must be deleted. */
    s_msg(&pk, "P-1", 1, "55.5", "Gamma", "LATAM", "Equity");
    cr_assert_eq(s_request_sb(req, &sb).accepted, 1);
    h_wait_applied(c, 60);
    cr_assert_eq(model_aggregate_has(c->reducer_data, "Gamma::LATAM::Equity"), 1);
    s_msg(&pk, "P-1", 2, "66.25", "Delta", "AMER", "FXSpot");
    cr_assert_eq(s_request_sb(req, &sb).accepted, 1);
    s_model(m, "P-1", 1, "55.5", "Gamma", "LATAM", "Equity");
    s_model(m, "P-1", 2, "66.25", "Delta", "AMER", "FXSpot");

    s_check_tables(c, m);
    static const char *const gone[] = {"Gamma", "Gamma::LATAM", "Gamma::LATAM::Equity", "Vega"};
    for (size_t i = 0; i < sizeof gone / sizeof gone[0]; i++)
        cr_assert_eq(model_aggregate_has(c->reducer_data, gone[i]), 0,
                     "aggregate row %s exists without any trade under it", gone[i]);
    msgpack_sbuffer_destroy(&sb);
    zsock_destroy(&req);
    model_destroy(&m);
    h_passed();
}

Test(protocol, acknowledged_frame_survives_sigkill, .timeout = 120, .fini = h_finish)
{
    h_cluster_t *c = s_start("durable");
    model_t *m = model_new();
    zsock_t *req = s_client(c);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    enum { N = 500 };
    msgpack_pack_array(&pk, N);
    for (int i = 0; i < N; i++) {
        char trade[16], value[32];
        snprintf(trade, sizeof trade, "D-%04d", i);
        snprintf(value, sizeof value, "%d.%06d", i - 250, (i * 37) % 1000000);
        s_msg(&pk, trade, 1 + i % 3, value, "Delta", i % 2 ? "EMEA" : "APAC", "Rates");
        s_model(m, trade, 1 + i % 3, value, "Delta", i % 2 ? "EMEA" : "APAC", "Rates");
    }
    ack_t a = s_request_sb(req, &sb);
    cr_assert_eq(a.accepted, N);
    /* The reply promises durability: kill at once, before anything else. */
    int st = h_stop(&c->state, SIGKILL, 5000);
    cr_assert(WIFSIGNALED(st), "state was not killed (status %d)", st);
    zsock_destroy(&req);
    long bad = model_compare_state(m, c->state_data);
    cr_assert_eq(bad, 0, "%ld acknowledged message(s) missing after SIGKILL", bad);
    h_restart(&c->state);
    h_wait_ping(c, "state", 15000);
    s_check_tables(c, m);
    msgpack_sbuffer_destroy(&sb);
    model_destroy(&m);
    h_passed();
}

/* 1 when text mentions flag as a whole word ("--ingest" not "--ingest-pull"). */
static int s_mentions(const char *text, const char *flag)
{
    size_t n = strlen(flag);
    for (const char *p = text; (p = strstr(p, flag)) != NULL; p += n) {
        char next = p[n];
        if (!(next == '-' || (next >= 'a' && next <= 'z'))) return 1;
    }
    return 0;
}

static void s_check_help(h_cluster_t *c, const char *prog, const char *sub,
                         const char *const *flags)
{
    char out[16384];
    int rc = sub ? h_run(c, prog, out, sizeof out, 10000, sub, "--help", NULL)
                 : h_run(c, prog, out, sizeof out, 10000, "--help", NULL);
    cr_assert_eq(rc, 0, "%s %s --help exited %d", prog, sub ? sub : "", rc);
    for (int i = 0; flags[i]; i++)
        cr_assert(s_mentions(out, flags[i]), "%s %s --help does not mention %s:\n%s", prog,
                  sub ? sub : "", flags[i], out);
}

Test(protocol, sigterm_clean_exit, .timeout = 120, .fini = h_finish)
{
    h_cluster_t *c = s_start("term");
    h_start_mapper(c);
    /* Some real work first, so the daemons stop with state behind them. */
    char file[PATH_MAX], out[1024];
    snprintf(file, sizeof file, "%s/small.jsonl", c->dir);
    cr_assert_eq(h_riskctl_to_file(c, file, 30000, "gen", "--seed", "7", "--count", "5000", NULL),
                 0);
    cr_assert_eq(h_riskctl(c, out, sizeof out, 60000, "send", file, "--ingest", c->ingest, NULL), 0,
                 "send: %s", out);
    h_wait_applied(c, 60);

    h_proc_t *procs[] = {&c->mappers[0], &c->mappers[1], &c->reducer, &c->state};
    for (size_t i = 0; i < sizeof procs / sizeof procs[0]; i++) {
        int64_t t0 = h_now_ms();
        int st = h_stop(procs[i], SIGTERM, 5000);
        int64_t took = h_now_ms() - t0;
        cr_assert_neq(st, -1, "%s did not exit within 5 s of SIGTERM", procs[i]->name);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s exited with status 0x%x on SIGTERM",
                  procs[i]->name, st);
        fprintf(stderr, "  %s exited 0 in %lld ms after SIGTERM\n", procs[i]->name,
                (long long)took);
    }

    static const char *const state_flags[] = {"--data",         "--ingest",     "--ingest-pull",
                                              "--work",         "--acks",       "--control",
                                              "--hierarchy",    "--batch-size", "--window",
                                              "--redeliver-ms", "--max-frame",  "--max-batch",
                                              "--group-max",    "--map-size",   "--map-max",
                                              "--log-level",    "--help",       NULL};
    static const char *const mapper_flags[] = {"--work", "--results", "--log-level", "--help",
                                               NULL};
    static const char *const reducer_flags[] = {
        "--data",     "--results", "--acks",      "--control", "--group-max",
        "--map-size", "--map-max", "--log-level", "--help",    NULL};
    static const char *const gen_flags[] = {"--seed", "--count", "--trades", "--modify",
                                            "--move", "--dup",   "--ooo",    NULL};
    static const char *const send_flags[] = {"--ingest",     "--batch",   "--window",
                                             "--timeout-ms", "--retries", NULL};
    static const char *const wait_flags[] = {"--state-control", "--timeout", NULL};
    static const char *const verify_flags[] = {"--state-data", "--reducer-data", NULL};
    static const char *const stats_flags[] = {"--state-control", "--reducer-control", NULL};
    s_check_help(c, "riskpipe-state", NULL, state_flags);
    s_check_help(c, "riskpipe-mapper", NULL, mapper_flags);
    s_check_help(c, "riskpipe-reducer", NULL, reducer_flags);
    s_check_help(c, "riskctl", "gen", gen_flags);
    s_check_help(c, "riskctl", "send", send_flags);
    s_check_help(c, "riskctl", "wait", wait_flags);
    s_check_help(c, "riskctl", "verify", verify_flags);
    s_check_help(c, "riskctl", "stats", stats_flags);
    int rc = h_run(c, "riskpipe-state", out, sizeof out, 10000, "--no-such-flag", NULL);
    cr_assert_neq(rc, 0, "riskpipe-state accepted an unknown flag");
    h_passed();
}
