/* CURVE authentication seen from outside: a keyed pipeline (riskctl keygen,
 * every process given the key set through its RISKPIPE_<PROGRAM>_KEYS
 * variable) stays exact, while peers without CURVE, or with a key the
 * pipeline does not know, cannot read batches, send results, acknowledge,
 * ingest or ask for counters: each is refused, counted and logged, and the
 * totals, compared with the test's own model, do not move. A producer key
 * dropped into producers/ is accepted without a restart. */
#include "../integration/harness.h"
#include "../integration/model.h"
#include "../integration/workload.h"

#include <criterion/criterion.h>
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT 20000

/* Makes a key set in c->dir/keys and gives it to every child process. */
static void s_keyed(h_cluster_t *c, char *keys, size_t cap)
{
    snprintf(keys, cap, "%s/keys", c->dir);
    cr_assert_eq(h_riskctl(c, NULL, 0, 10000, "keygen", keys, NULL), 0, "riskctl keygen");
    static const char *const vars[] = {"RISKPIPE_STATE_KEYS", "RISKPIPE_REDUCER_KEYS",
                                       "RISKPIPE_MAPPER_KEYS", "RISKPIPE_CTL_KEYS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        char kv[PATH_MAX + 32];
        snprintf(kv, sizeof kv, "%s=%s", vars[i], keys);
        h_child_env_add(kv);
    }
}

/* A keyed pipeline with one workload aggregated. Returns its model. */
static model_t *s_pipeline(h_cluster_t *c, char *keys, size_t kcap)
{
    s_keyed(c, keys, kcap);
    h_start_state(c, NULL);
    h_start_reducer(c);
    h_start_mapper(c);
    char file[PATH_MAX];
    model_t *m = workload_new(c, 21, workload_scale(COUNT), file, sizeof file);
    cr_assert_eq(h_riskctl(c, NULL, 0, 120000, "send", file, "--ingest", c->ingest, "--quiet",
                           NULL),
                 0, "riskctl send with the key set");
    h_wait_applied(c, 120);
    return m;
}

static void s_expect_exact(h_cluster_t *c, const model_t *m)
{
    long rows = 0;
    cr_assert_eq(model_compare_aggregates(m, c->reducer_data, &rows), 0, "totals moved");
    cr_assert_gt(rows, 0);
}

static int s_log_has(const char *path, const char *needle)
{
    size_t len;
    char *text = h_read_file(path, &len);
    int found = text && strstr(text, needle);
    free(text);
    return found;
}

Test(keys, a_keyed_pipeline_is_exact, .timeout = 300, .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("keys-exact");
    char keys[PATH_MAX];
    model_t *m = s_pipeline(c, keys, sizeof keys);
    s_expect_exact(c, m);
    cr_assert(s_log_has(c->state.log, "keyed: every socket is CURVE"));
    json_t *st = h_stats(c);
    cr_assert_eq(h_stat(st, "state", "refused_peers"), 0, "its own processes were refused");
    cr_assert_eq(h_stat(st, "reducer", "refused_peers"), 0);
    json_decref(st);
    model_destroy(&m);
    h_passed();
}

/* A plain (NULL mechanism) socket of type connected to endpoint. */
static zsock_t *s_plain(int type, const char *endpoint)
{
    zsys_handler_set(NULL);
    zsock_t *s = zsock_new(type);
    cr_assert_not_null(s);
    zsock_set_linger(s, 0);
    zsock_set_rcvtimeo(s, 1500);
    zsock_set_sndtimeo(s, 1500);
    cr_assert_eq(zsock_connect(s, "%s", endpoint), 0);
    return s;
}

Test(keys, peers_without_curve_can_neither_read_nor_write, .timeout = 300, .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("keys-plain");
    char keys[PATH_MAX];
    model_t *m = s_pipeline(c, keys, sizeof keys);
    /* a reader on the work port, and writers on every other port */
    zsock_t *reader = s_plain(ZMQ_PULL, c->work);
    zsock_t *results = s_plain(ZMQ_PUSH, c->results), *acks = s_plain(ZMQ_PUSH, c->acks);
    zsock_t *ingest = s_plain(ZMQ_DEALER, c->ingest), *control = s_plain(ZMQ_REQ, c->state_ctl);
    zstr_send(results, "a RESULT would go here");
    zstr_send(acks, "an ACK would go here");
    zstr_send(ingest, "a frame would go here");
    zstr_send(control, "stats?");
    cr_assert_null(zstr_recv(control), "the control socket answered a peer without CURVE");
    cr_assert_null(zstr_recv(ingest), "the ingest socket answered a peer without CURVE");
    /* more work while the reader waits: it must get none of it */
    char more[PATH_MAX];
    snprintf(more, sizeof more, "%s/more.jsonl", c->dir);
    cr_assert_eq(h_riskctl_to_file(c, more, 60000, "gen", "--seed", "22", "--count", "2000",
                                   NULL),
                 0);
    cr_assert_gt(model_load_jsonl(m, more), 0);
    cr_assert_eq(h_riskctl(c, NULL, 0, 60000, "send", more, "--ingest", c->ingest, "--quiet",
                           NULL),
                 0);
    h_wait_applied(c, 60);
    cr_assert_null(zstr_recv(reader), "a peer without CURVE read a batch");
    s_expect_exact(c, m);
    cr_assert(h_wait_stat(c, "state", "refused_peers", 4, 10000),
              "the state did not count its 4 refused peers");
    cr_assert(h_wait_stat(c, "reducer", "refused_peers", 1, 10000),
              "the reducer did not count its refused peer");
    cr_assert(s_log_has(c->state.log, "auth: refused a peer"), "no log line for a refusal");
    zsock_destroy(&reader), zsock_destroy(&results), zsock_destroy(&acks);
    zsock_destroy(&ingest), zsock_destroy(&control);
    model_destroy(&m);
    h_passed();
}

/* Copies the files matching pattern (a shell glob) into the directory dir. */
static void s_copy(const char *pattern, const char *dir)
{
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "mkdir -p '%s' && cp %s '%s'", dir, pattern, dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

Test(keys, an_unknown_producer_key_is_refused_until_it_is_in_producers, .timeout = 300,
     .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("keys-producer");
    char keys[PATH_MAX], other[PATH_MAX], mixed[PATH_MAX];
    model_t *m = s_pipeline(c, keys, sizeof keys);
    /* a producer with a key pair of its own and the pipeline's public keys */
    snprintf(other, sizeof other, "%s/other", c->dir);
    snprintf(mixed, sizeof mixed, "%s/mixed", c->dir);
    cr_assert_eq(h_riskctl(c, NULL, 0, 10000, "keygen", other, NULL), 0);
    char src[PATH_MAX + 32];
    snprintf(src, sizeof src, "'%s'/*.cert", keys);
    s_copy(src, mixed);
    snprintf(src, sizeof src, "'%s/riskctl.cert_secret'", other);
    s_copy(src, mixed);
    char more[PATH_MAX];
    snprintf(more, sizeof more, "%s/more.jsonl", c->dir);
    cr_assert_eq(h_riskctl_to_file(c, more, 60000, "gen", "--seed", "23", "--count", "500",
                                   NULL),
                 0);
    cr_assert_neq(h_riskctl(c, NULL, 0, 60000, "send", more, "--ingest", c->ingest, "--keys",
                            mixed, "--timeout-ms", "500", "--retries", "2", "--quiet", NULL),
                  0, "a producer whose key is not in producers/ got in");
    cr_assert(h_wait_stat(c, "state", "refused_peers", 1, 10000));
    cr_assert(s_log_has(c->state.log, "not allowed on the ingest sockets"),
              "the ZAP refusal was not logged with the key");
    s_expect_exact(c, m);
    /* allowed from now on, without a restart */
    char cmd[3 * PATH_MAX];
    snprintf(cmd, sizeof cmd, "cp '%s/riskctl.cert' '%s/producers/new-producer.cert'", other,
             keys);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    cr_assert_gt(model_load_jsonl(m, more), 0);
    int rc = -1;
    for (int i = 0; i < 20 && rc != 0; i++) /* the state looks at producers/ once a second */
        rc = h_riskctl(c, NULL, 0, 60000, "send", more, "--ingest", c->ingest, "--keys", mixed,
                       "--timeout-ms", "500", "--retries", "2", "--quiet", NULL);
    cr_assert_eq(rc, 0, "the new producer key was not picked up");
    h_wait_applied(c, 60);
    s_expect_exact(c, m);
    model_destroy(&m);
    h_passed();
}

Test(keys, riskctl_without_keys_refuses_an_endpoint_beyond_loopback, .timeout = 60,
     .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("keys-devmode");
    int rc = h_riskctl(c, NULL, 0, 10000, "ping", "state", "--state-control",
                       "tcp://192.0.2.1:5560", NULL); /* TEST-NET-1: never reached */
    cr_assert_eq(rc, 1, "riskctl ping exited %d", rc);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/riskctl.log", c->dir);
    cr_assert(s_log_has(path, "is not on this machine"), "no clear message");
    h_passed();
}

/* The Z85 public key in a certificate file ('public-key = "..."'). */
static void s_public_key(const char *cert, char out[41])
{
    size_t len;
    char *text = h_read_file(cert, &len);
    cr_assert_not_null(text, "cannot read %s", cert);
    const char *p = strstr(text, "public-key = \"");
    cr_assert_not_null(p, "no public key in %s", cert);
    snprintf(out, 41, "%.40s", p + 14);
    free(text);
}

Test(keys, a_dead_letter_names_the_producer_key_that_sent_it, .timeout = 120, .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("keys-dlq-source");
    char keys[PATH_MAX];
    s_keyed(c, keys, sizeof keys);
    h_start_state(c, NULL);
    char bad[PATH_MAX], out[8192];
    snprintf(bad, sizeof bad, "%s/bad.jsonl", c->dir);
    FILE *f = fopen(bad, "w");
    cr_assert_not_null(f);
    fprintf(f, "{\"TradeID\":\"t1\",\"Version\":1,\"Hierarchy\":{\"RiskType\":\"Delta\","
               "\"Region\":\"AMER\",\"TradeDesk\":\"FX\"}}\n"); /* no Value */
    fclose(f);
    cr_assert_eq(h_riskctl(c, NULL, 0, 30000, "send", bad, "--ingest", c->ingest, "--quiet",
                           NULL),
                 1, "a rejected message must make send exit 1");
    cr_assert_eq(h_riskctl(c, out, sizeof out, 30000, "dlq", "list", "--state-data",
                           c->state_data, NULL),
                 0);
    char cert[PATH_MAX + 16], key[41], want[64];
    snprintf(cert, sizeof cert, "%s/riskctl.cert", keys);
    s_public_key(cert, key);
    snprintf(want, sizeof want, "ingest key %s", key);
    cr_assert(strstr(out, want), "the entry does not name the sending key %s:\n%s", key, out);
    h_passed();
}
