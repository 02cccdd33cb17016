/* riskctl's refusals, seen from outside: wait and ping pointed at the wrong
 * daemon fail with a message instead of reading a missing counter as zero;
 * dlq replay goes past an entry it cannot replay, replays the rest and says
 * what it left; dlq purge counts only what it deleted and names what it did
 * not find. Each case checks the exit code and what riskctl printed. */
#include "harness.h"
#include "model.h"

#include <criterion/criterion.h>
#include <lmdb.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RUN_MS 30000 /* bounds one riskctl run; each should take well under a second */

/* A JSON line in riskctl gen's format. */
static void s_line(FILE *f, const char *trade, const char *value, const char *region)
{
    fprintf(f,
            "{\"TradeID\":\"%s\",\"Value\":\"%s\",\"Version\":1,\"Hierarchy\":{\"RiskType\":"
            "\"Vega\",\"Region\":\"%s\",\"TradeDesk\":\"Credit\"}}\n",
            trade, value, region);
}

/* Writes n valid messages with TradeIDs prefix0.. to path. */
static void s_file(const char *path, int n, const char *prefix)
{
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot write %s", path);
    for (int i = 0; i < n; i++) {
        char trade[32], value[32];
        snprintf(trade, sizeof trade, "%s%d", prefix, i);
        snprintf(value, sizeof value, "%d.25", i + 1);
        s_line(f, trade, value, "APAC");
    }
    fclose(f);
}

/* The dead-letter ids `riskctl dlq list` shows (one line per entry, the id
 * first), into ids[max]; *truncated is the id of the last one marked
 * "[raw truncated]", or 0. Returns how many. */
static int s_dlq_ids(h_cluster_t *c, unsigned long long *ids, int max,
                     unsigned long long *truncated)
{
    char out[16384];
    int rc = h_riskctl(c, out, sizeof out, RUN_MS, "dlq", "list", "--state-data", c->state_data,
                       NULL);
    cr_assert_eq(rc, 0, "riskctl dlq list exited %d:\n%s", rc, out);
    int n = 0;
    *truncated = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char *end;
        unsigned long long id = strtoull(line, &end, 10);
        if (end == line || *end != '\t') continue; /* "(dead-letter table is empty)" */
        cr_assert_lt(n, max, "more dead letters than expected:\n%s", line);
        ids[n++] = id;
        if (strstr(line, "[raw truncated]")) *truncated = id;
    }
    return n;
}

Test(riskctl, wait_fails_on_an_endpoint_that_is_not_the_state, .timeout = 60, .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("ctl-wait");
    h_start_state(c, NULL);
    h_start_reducer(c);
    char out[4096];
    size_t mark = h_log_mark(c);
    int64_t t0 = h_now_ms();
    /* the reducer answers, but has no committed_seq or applied_seq: an error
     * at once, not "applied through change 0", nor a wait for the timeout */
    int rc = h_riskctl(c, out, sizeof out, RUN_MS, "wait", "--state-control", c->reducer_ctl,
                       "--timeout", "20", NULL);
    char *err = h_log_since(c, mark);
    cr_assert_eq(rc, 1, "riskctl wait at the reducer exited %d; stdout: %s; stderr: %s", rc, out,
                 err);
    cr_assert_lt(h_now_ms() - t0, 10000, "riskctl wait at the reducer waited for its timeout");
    cr_assert(!strstr(out, "applied through"), "it claims progress: %s", out);
    cr_assert(strstr(err, c->reducer_ctl) && strstr(err, "reducer"),
              "the message names neither the endpoint nor the role that answered: %s", err);
    free(err);
    /* and pointed at the state it works */
    rc = h_riskctl(c, out, sizeof out, RUN_MS, "wait", "--state-control", c->state_ctl,
                   "--timeout", "20", NULL);
    cr_assert_eq(rc, 0, "riskctl wait at the state exited %d: %s", rc, out);
    h_passed();
}

Test(riskctl, ping_fails_when_another_role_answers, .timeout = 60, .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("ctl-ping");
    h_start_state(c, NULL);
    h_start_reducer(c);
    char out[1024];
    size_t mark = h_log_mark(c);
    int rc = h_riskctl(c, out, sizeof out, RUN_MS, "ping", "reducer", "--reducer-control",
                       c->state_ctl, NULL);
    char *err = h_log_since(c, mark);
    cr_assert_eq(rc, 1, "ping reducer at the state's endpoint exited %d: %s %s", rc, out, err);
    cr_assert(strstr(err, "state"), "the message does not say the state answered: %s", err);
    free(err);
    rc = h_riskctl(c, out, sizeof out, RUN_MS, "ping", "state", "--state-control",
                   c->reducer_ctl, NULL);
    cr_assert_eq(rc, 1, "ping state at the reducer's endpoint exited %d: %s", rc, out);
    rc = h_riskctl(c, out, sizeof out, RUN_MS, "ping", "reducer", "--reducer-control",
                   c->reducer_ctl, NULL);
    cr_assert_eq(rc, 0, "ping reducer at its own endpoint exited %d: %s", rc, out);
    h_passed();
}

/* Writes dead-letter entry id in the older, truncated form (4096 of 5000
 * bytes kept) into the state environment in dir, and makes the state go on
 * at id + 1 (meta "next_dlq"). The state process must be stopped. */
static void s_put_old_truncated_entry(const char *dir, uint64_t id)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dlq, meta;
    cr_assert_eq(mdb_env_create(&env), 0);
    cr_assert_eq(mdb_env_set_maxdbs(env, 16), 0);
    cr_assert_eq(mdb_env_open(env, dir, 0, 0644), 0, "open %s", dir);
    cr_assert_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, "dlq", 0, &dlq), 0);
    cr_assert_eq(mdb_dbi_open(txn, "meta", 0, &meta), 0);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    static char raw[4096];
    memset(raw, 'x', sizeof raw);
    msgpack_pack_map(&pk, 8);
    msgpack_pack_str_with_body(&pk, "id", 2);
    msgpack_pack_uint64(&pk, id);
    msgpack_pack_str_with_body(&pk, "time_ms", 7);
    msgpack_pack_int64(&pk, 1700000000000);
    msgpack_pack_str_with_body(&pk, "source", 6);
    msgpack_pack_str_with_body(&pk, "ingest 127.0.0.1", 16);
    msgpack_pack_str_with_body(&pk, "index", 5);
    msgpack_pack_uint64(&pk, 0);
    msgpack_pack_str_with_body(&pk, "reason", 6);
    msgpack_pack_str_with_body(&pk, "TradeID longer than 128 bytes", 29);
    msgpack_pack_str_with_body(&pk, "raw", 3);
    msgpack_pack_bin_with_body(&pk, raw, sizeof raw);
    msgpack_pack_str_with_body(&pk, "raw_size", 8);
    msgpack_pack_uint64(&pk, 5000);
    msgpack_pack_str_with_body(&pk, "truncated", 9);
    msgpack_pack_true(&pk);
    unsigned char key[8], next[8];
    for (int i = 0; i < 8; i++) {
        key[i] = (unsigned char)(id >> (56 - 8 * i));
        next[i] = (unsigned char)((id + 1) >> (56 - 8 * i));
    }
    MDB_val k = {8, key}, v = {sb.size, sb.data}, mk = {8, "next_dlq"}, mv = {8, next};
    cr_assert_eq(mdb_put(txn, dlq, &k, &v, 0), 0);
    cr_assert_eq(mdb_put(txn, meta, &mk, &mv, 0), 0);
    cr_assert_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    msgpack_sbuffer_destroy(&sb);
}

Test(riskctl, dlq_replay_all_goes_past_a_truncated_entry, .timeout = 120, .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("dlq-replay");
    char out[8192];
    /* First an entry that cannot be replayed: one an older version wrote
     * (only the first 4 KiB of a 5000-byte message; entries are kept whole
     * now), put in before the state process writes its own. */
    h_start_state(c, "--max-batch", "2", NULL);
    cr_assert_neq(h_stop(&c->state, SIGTERM, 5000), -1);
    s_put_old_truncated_entry(c->state_data, 1);
    h_start_state(c, "--max-batch", "2", NULL);
    h_start_reducer(c);
    h_start_mapper(c);
    /* then a frame of 3 messages, over --max-batch 2: one entry, replayable
     * once the limit is raised */
    char three[700];
    snprintf(three, sizeof three, "%s/three.jsonl", c->dir);
    s_file(three, 3, "r");
    cr_assert_eq(h_riskctl(c, out, sizeof out, RUN_MS, "send", three, "--ingest", c->ingest,
                           "--batch", "3", NULL),
                 1, "send of a frame refused whole must exit 1");
    cr_assert(strstr(out, "rejected=3"), "all 3 messages count as rejected: %s", out);
    unsigned long long ids[8], truncated;
    cr_assert_eq(s_dlq_ids(c, ids, 8, &truncated), 2, "want two dead letters");
    cr_assert(truncated && truncated == ids[0], "the first entry is not the truncated one");
    cr_assert_neq(h_stop(&c->state, SIGTERM, 5000), -1);
    h_start_state(c, "--max-batch", "10", NULL);

    size_t mark = h_log_mark(c);
    int rc = h_riskctl(c, out, sizeof out, RUN_MS, "dlq", "replay", "--all", "--state-data",
                       c->state_data, "--ingest", c->ingest, NULL);
    char *err = h_log_since(c, mark);
    cr_assert_eq(rc, 1, "replay --all with an entry it cannot replay exited %d", rc);
    cr_assert(strstr(out, "accepted 3"), "the entry after the truncated one was not replayed:\n"
                                         "%s\n%s", out, err);
    cr_assert(strstr(out, "replayed 1 of 2"), "replay summary: %s", out);
    char name[64];
    snprintf(name, sizeof name, "entry %llu ", truncated);
    cr_assert(strstr(err, name) && strstr(err, "truncated"),
              "the truncated entry %llu is not named: %s", truncated, err);
    free(err);
    /* the truncated entry stays; the replayed one is gone and aggregated */
    unsigned long long left[8];
    cr_assert_eq(s_dlq_ids(c, left, 8, &truncated), 1);
    cr_assert_eq(left[0], ids[0], "entry %llu left instead of %llu", left[0], ids[0]);
    h_wait_applied(c, 30);
    model_t *m = model_new();
    cr_assert_eq(model_load_jsonl(m, three), 3);
    long rows = 0, bad = model_compare_aggregates(m, c->reducer_data, &rows);
    cr_assert_eq(bad, 0, "aggregates differ from the replayed messages in %ld row(s)", bad);
    model_destroy(&m);
    h_passed();
}

Test(riskctl, dlq_purge_counts_real_deletions_and_names_absent_ids, .timeout = 60,
     .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("dlq-purge");
    h_start_state(c, NULL);
    char out[4096], path[700];
    snprintf(path, sizeof path, "%s/bad.jsonl", c->dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 3; i++) s_line(f, "", "1", "EMEA"); /* an empty TradeID is invalid */
    fclose(f);
    cr_assert_eq(h_riskctl(c, out, sizeof out, RUN_MS, "send", path, "--ingest", c->ingest, NULL),
                 1, "send of rejected messages must exit 1");
    cr_assert(strstr(out, "rejected=3"), "send: %s", out);
    unsigned long long ids[8], truncated;
    cr_assert_eq(s_dlq_ids(c, ids, 8, &truncated), 3);
    unsigned long long absent = ids[0] > ids[1] ? ids[0] : ids[1];
    absent = (absent > ids[2] ? absent : ids[2]) + 1000; /* beyond every entry */
    char a[32], i0[32], i1[32], i2[32];
    snprintf(a, sizeof a, "%llu", absent);
    snprintf(i0, sizeof i0, "%llu", ids[0]);
    snprintf(i1, sizeof i1, "%llu", ids[1]);
    snprintf(i2, sizeof i2, "%llu", ids[2]);

    size_t mark = h_log_mark(c);
    int rc = h_riskctl(c, out, sizeof out, RUN_MS, "dlq", "purge", a, "--state-data",
                       c->state_data, NULL);
    char *err = h_log_since(c, mark);
    cr_assert_eq(rc, 1, "purge of absent id %s exited %d: %s", a, rc, out);
    cr_assert(strstr(err, a), "absent id %s not reported: %s", a, err);
    cr_assert(strstr(out, "purged 0 of 1"), "purge summary: %s", out);
    free(err);

    mark = h_log_mark(c);
    rc = h_riskctl(c, out, sizeof out, RUN_MS, "dlq", "purge", i0, a, "--state-data",
                   c->state_data, NULL);
    err = h_log_since(c, mark);
    cr_assert_eq(rc, 1, "purge of a present and an absent id exited %d: %s", rc, out);
    cr_assert(strstr(out, "purged 1 of 2"), "purge counts what it did not delete: %s", out);
    cr_assert(strstr(err, a), "absent id %s not reported: %s", a, err);
    free(err);

    rc = h_riskctl(c, out, sizeof out, RUN_MS, "dlq", "purge", i1, i2, "--state-data",
                   c->state_data, NULL);
    cr_assert_eq(rc, 0, "purge of two present ids exited %d: %s", rc, out);
    cr_assert(strstr(out, "purged 2 of 2"), "purge summary: %s", out);
    cr_assert_eq(s_dlq_ids(c, ids, 8, &truncated), 0, "entries left after purging all three");
    h_passed();
}
