/* Stream identity seen from outside: the real daemons, their LMDB files and
 * hand-made frames of peers that do not belong. A reducer whose data was
 * lost refuses the state's stream instead of giving wrong totals, and
 * riskctl rebuild makes it exact again; a state whose data was replaced is
 * refused by its reducer; a RESULT of another pipeline and an ACK of another
 * reducer change nothing. Every expected total comes from the test's own
 * model of the messages sent. */
#include "../integration/harness.h"
#include "../integration/model.h"
#include "../integration/workload.h"

#include <criterion/criterion.h>
#include <czmq.h>
#include <lmdb.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT 20000

/* Sends the file through acknowledged ingest; fails the test if riskctl
 * send does not exit 0. */
static void s_send_file(h_cluster_t *c, const char *file)
{
    cr_assert_eq(h_riskctl(c, NULL, 0, 120000, "send", file, "--ingest", c->ingest, "--quiet",
                           NULL),
                 0, "riskctl send %s failed", file);
}

/* Writes a second workload (another seed, other trades and versions) into
 * c->dir/NAME and adds its messages to m. */
static void s_more(h_cluster_t *c, model_t *m, const char *name, int seed, char *file,
                   size_t cap)
{
    snprintf(file, cap, "%s/%s", c->dir, name);
    char s[16], n[16];
    snprintf(s, sizeof s, "%d", seed);
    snprintf(n, sizeof n, "%ld", workload_scale(COUNT / 2));
    cr_assert_eq(h_riskctl_to_file(c, file, 60000, "gen", "--seed", s, "--count", n, NULL), 0);
    cr_assert_gt(model_load_jsonl(m, file), 0);
}

static void s_wipe(const char *dir)
{
    char cmd[PATH_MAX + 16];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static void s_expect_exact(h_cluster_t *c, const model_t *m)
{
    long rows = 0;
    cr_assert_eq(model_compare_aggregates(m, c->reducer_data, &rows), 0,
                 "aggregates differ from the model");
    cr_assert_gt(rows, 0);
    cr_assert_eq(h_riskctl(c, NULL, 0, 60000, "verify", "--state-data", c->state_data,
                           "--reducer-data", c->reducer_data, NULL),
                 0, "riskctl verify");
}

/* Starts state, reducer and one mapper, sends a workload and waits until it
 * is aggregated. Returns the model (caller owns). */
static model_t *s_pipeline(h_cluster_t *c, char *file, size_t cap)
{
    h_start_state(c, "--batch-size", "256", "--redeliver-ms", "500", NULL);
    h_start_reducer(c);
    h_start_mapper(c);
    model_t *m = workload_new(c, 11, workload_scale(COUNT), file, cap);
    s_send_file(c, file);
    h_wait_applied(c, 120);
    return m;
}

Test(streams, a_reducer_whose_data_was_lost_refuses_then_rebuild_makes_it_exact, .timeout = 300,
     .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("streams-lost-reducer");
    char file[PATH_MAX], more[PATH_MAX], out[4096];
    model_t *m = s_pipeline(c, file, sizeof file);
    cr_assert_eq(h_stop(&c->reducer, SIGTERM, 10000), 0);
    s_wipe(c->reducer_data);
    h_restart(&c->reducer);
    h_wait_ping(c, "reducer", 10000);
    s_more(c, m, "more.jsonl", 12, more, sizeof more);
    s_send_file(c, more);
    cr_assert(h_wait_stat(c, "reducer", "refused_frames", 1, 30000),
              "the reducer with lost data did not refuse the state's stream");
    cr_assert_neq(h_riskctl(c, NULL, 0, 20000, "wait", "--state-control", c->state_ctl,
                            "--timeout", "2", NULL),
                  0, "riskctl wait claims everything is aggregated");
    cr_assert_eq(h_riskctl(c, out, sizeof out, 20000, "query", "--reducer-data",
                           c->reducer_data, NULL),
                 0);
    cr_assert(strstr(out, "(no aggregate rows)"), "the refusing reducer wrote totals:\n%s", out);
    size_t len;
    char *log = h_read_file(c->reducer.log, &len);
    cr_assert(log && strstr(log, "riskctl rebuild"), "the refusal does not name the recovery");
    free(log);

    cr_assert_eq(h_stop(&c->reducer, SIGTERM, 10000), 0);
    cr_assert_eq(h_riskctl(c, out, sizeof out, 60000, "rebuild", "--state-data", c->state_data,
                           "--reducer-data", c->reducer_data, NULL),
                 0, "riskctl rebuild");
    h_restart(&c->reducer);
    h_wait_ping(c, "reducer", 10000);
    h_wait_applied(c, 120);
    s_expect_exact(c, m);
    model_destroy(&m);
    h_passed();
}

Test(streams, a_state_whose_data_was_replaced_is_refused_by_its_reducer, .timeout = 300,
     .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("streams-lost-state");
    char file[PATH_MAX], more[PATH_MAX];
    model_t *m = s_pipeline(c, file, sizeof file);
    cr_assert_eq(h_stop(&c->state, SIGTERM, 10000), 0);
    s_wipe(c->state_data);
    h_restart(&c->state);
    h_wait_ping(c, "state", 10000);
    model_t *ignored = model_new();
    s_more(c, ignored, "more.jsonl", 13, more, sizeof more);
    s_send_file(c, more);
    cr_assert(h_wait_stat(c, "reducer", "foreign_frames", 1, 30000),
              "the reducer applied or ignored a replaced state's stream silently");
    /* the aggregate still holds exactly the first workload, nothing mixed in */
    long rows = 0;
    cr_assert_eq(model_compare_aggregates(m, c->reducer_data, &rows), 0);
    model_destroy(&ignored);
    model_destroy(&m);
    h_passed();
}

/* Reads the state environment's instance id (meta key "instance"). */
static void s_state_id(const h_cluster_t *c, unsigned char id[16])
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    cr_assert_eq(mdb_env_create(&env), 0);
    cr_assert_eq(mdb_env_set_maxdbs(env, 8), 0);
    cr_assert_eq(mdb_env_open(env, c->state_data, MDB_RDONLY, 0644), 0);
    cr_assert_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    cr_assert_eq(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    MDB_val k = {8, "instance"}, v;
    cr_assert_eq(mdb_get(txn, dbi, &k, &v), 0, "no instance id in the state's meta table");
    cr_assert_eq(v.mv_size, 16);
    memcpy(id, v.mv_data, 16);
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

static void s_push(const char *endpoint, const msgpack_sbuffer *sb)
{
    zsys_handler_set(NULL);
    zsock_t *s = zsock_new(ZMQ_PUSH);
    cr_assert_not_null(s);
    zsock_set_linger(s, 2000);
    cr_assert_eq(zsock_connect(s, "%s", endpoint), 0);
    cr_assert_eq(zmq_send(zsock_resolve(s), sb->data, sb->size, 0), (int)sb->size);
    zsock_destroy(&s);
}

/* Pushes a hand-made RESULT of stream sid (16 bytes) to the reducer: batch
 * id with watermark, and, when delta is non-zero, one delta on "Delta". */
static void s_push_result(h_cluster_t *c, const void *sid, uint64_t id, uint64_t watermark,
                          int64_t delta)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    /* [4, RESULT, state id, batch, watermark, mapper, nchanges, last_seq,
     * head_seq, commit_us, shard, shards, deltas]: frame version 4 (proto/frame.h) */
    msgpack_pack_array(&pk, 13);
    msgpack_pack_int(&pk, 4);
    msgpack_pack_int(&pk, 2);
    msgpack_pack_bin_with_body(&pk, sid, 16);
    msgpack_pack_uint64(&pk, id);
    msgpack_pack_uint64(&pk, watermark);
    msgpack_pack_str_with_body(&pk, "forger:1", 8);
    msgpack_pack_uint64(&pk, delta ? 1 : 0);
    msgpack_pack_uint64(&pk, id * 1000);     /* a plausible last sequence */
    msgpack_pack_uint64(&pk, id * 1000 + 5); /* and head */
    msgpack_pack_uint64(&pk, 0);             /* commit time unknown */
    msgpack_pack_uint64(&pk, 0);             /* shard 0 */
    msgpack_pack_uint64(&pk, 1);             /* of 1 */
    msgpack_pack_array(&pk, delta ? 1 : 0);
    if (delta) {
        msgpack_pack_array(&pk, 3);
        msgpack_pack_str_with_body(&pk, "Delta", 5);
        msgpack_pack_int64(&pk, delta);
        msgpack_pack_int64(&pk, 1);
    }
    s_push(c->results, &sb);
    msgpack_sbuffer_destroy(&sb);
}

Test(streams, a_result_of_another_pipeline_changes_nothing, .timeout = 300, .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("streams-foreign-result");
    char file[PATH_MAX];
    model_t *m = s_pipeline(c, file, sizeof file);
    /* What a mapper of another pipeline sends: its own state's id, the next
     * batch id, a watermark below it, and a large delta on a real path. */
    json_t *st = h_stats(c);
    long long next = h_stat(st, "reducer", "next_batch");
    json_decref(st);
    cr_assert_gt(next, 1);
    s_push_result(c, "another-pipeline", (uint64_t)next, (uint64_t)next, 1000000);
    cr_assert(h_wait_stat(c, "reducer", "foreign_frames", 1, 10000), "not refused");
    long rows = 0;
    cr_assert_eq(model_compare_aggregates(m, c->reducer_data, &rows), 0, "totals changed");
    model_destroy(&m);
    h_passed();
}

Test(streams, a_forged_result_far_ahead_with_a_huge_watermark_skips_nothing, .timeout = 300,
     .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("streams-watermark");
    char file[PATH_MAX];
    model_t *m = s_pipeline(c, file, sizeof file);
    /* The right stream id (read from the state's files), a batch id far
     * ahead and a watermark as high as it may be: once, such a frame made
     * the reducer skip every later batch. */
    unsigned char sid[16];
    s_state_id(c, sid);
    s_push_result(c, sid, UINT64_MAX, UINT64_MAX, 0);
    /* and one whose watermark lies above its own batch id */
    json_t *st = h_stats(c);
    long long next = h_stat(st, "reducer", "next_batch");
    json_decref(st);
    s_push_result(c, sid, (uint64_t)next, UINT64_MAX, 0);
    cr_assert(h_wait_stat(c, "reducer", "bad_frames", 1, 10000),
              "a watermark above its batch id was not refused");
    /* more real work must still be applied, exactly */
    char more[PATH_MAX];
    s_more(c, m, "more.jsonl", 15, more, sizeof more);
    s_send_file(c, more);
    h_wait_applied(c, 120);
    s_expect_exact(c, m);
    st = h_stats(c);
    cr_assert_lt(h_stat(st, "reducer", "floor"), 1000000, "the pruning floor jumped");
    json_decref(st);
    model_destroy(&m);
    h_passed();
}

Test(streams, an_ack_of_another_reducer_prunes_nothing, .timeout = 300, .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("streams-foreign-ack");
    char file[PATH_MAX];
    model_t *m = s_pipeline(c, file, sizeof file);
    /* Stop the mapper so that new batches stay unacknowledged, then forge an
     * ACK for them with the state's real id but another reducer's. */
    cr_assert_eq(h_stop(&c->mappers[0], SIGTERM, 10000), 0);
    char more[PATH_MAX];
    s_more(c, m, "more.jsonl", 14, more, sizeof more);
    s_send_file(c, more);
    json_t *st = h_stats(c);
    long long unacked = h_stat(st, "state", "batches_unacked");
    long long next = h_stat(st, "state", "batches_next_id");
    json_decref(st);
    cr_assert_gt(unacked, 0);
    unsigned char sid[16];
    s_state_id(c, sid);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 5);
    msgpack_pack_int(&pk, 4); /* frame version 4 */
    msgpack_pack_int(&pk, 3);
    msgpack_pack_bin_with_body(&pk, sid, 16);
    msgpack_pack_bin_with_body(&pk, "a-second-reducer", 16);
    msgpack_pack_array(&pk, (uint32_t)unacked);
    for (long long id = next - unacked; id < next; id++) msgpack_pack_uint64(&pk, (uint64_t)id);
    s_push(c->acks, &sb);
    msgpack_sbuffer_destroy(&sb);
    cr_assert(h_wait_stat(c, "state", "foreign_acks", 1, 10000), "the forged ACK was not refused");
    st = h_stats(c);
    cr_assert_eq(h_stat(st, "state", "batches_unacked"), unacked, "batches were pruned");
    json_decref(st);
    /* the real reducer still gets and applies them */
    h_restart(&c->mappers[0]);
    h_wait_applied(c, 120);
    s_expect_exact(c, m);
    model_destroy(&m);
    h_passed();
}
