/* Robustness between stages and the dead-letter path, seen from outside:
 * garbage and wrong-version frames sent to the reducer, the state's ack
 * socket and a mapper are counted and dropped without a crash or a stall;
 * fire-and-forget ingest dead-letters like acknowledged ingest; a frame
 * rejected by a limit is replayed with riskctl dlq after the limit is fixed. */
#include "harness.h"
#include "model.h"

#include <criterion/criterion.h>
#include <czmq.h>
#include <msgpack.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static zsock_t *s_sock(int type, const char *ep, int bind)
{
    zsys_handler_set(NULL);
    zsock_t *s = zsock_new(type);
    cr_assert_not_null(s);
    zsock_set_linger(s, 1000);
    zsock_set_rcvtimeo(s, 10000);
    int rc = bind ? zsock_bind(s, "%s", ep) : zsock_connect(s, "%s", ep);
    cr_assert(rc >= 0, "%s %s failed", bind ? "bind" : "connect", ep);
    return s;
}

static void s_send(zsock_t *s, const void *data, size_t len)
{
    cr_assert(zmq_send(zsock_resolve(s), data, len, 0) >= 0, "send: %s", zmq_strerror(errno));
}

/* Frames no stage may choke on: not msgpack, a truncated array, a frame of
 * an unknown protocol version, a wrong frame type, deep nesting, an absurd
 * length. (The tests speak version 2 of the frames, see proto/frame.h.) */
static void s_send_garbage(zsock_t *s, int type)
{
    static const unsigned char junk[] = "this is not msgpack \xc1\xc1";
    static const unsigned char truncated[] = {0x96, 0x01, 0x02};
    unsigned char v99[] = {0x93, 0x63, (unsigned char)type, 0x90};
    unsigned char wrong_type[] = {0x93, 0x02, 0x7f, 0x90};
    unsigned char deep[200];
    memset(deep, 0x91, sizeof deep);
    deep[sizeof deep - 1] = 0x01;
    static const unsigned char huge[] = {0xdd, 0xff, 0xff, 0xff, 0xff, 0x01};
    s_send(s, junk, sizeof junk - 1);
    s_send(s, truncated, sizeof truncated);
    s_send(s, v99, sizeof v99);
    s_send(s, wrong_type, sizeof wrong_type);
    s_send(s, deep, sizeof deep);
    s_send(s, huge, sizeof huge);
}

#define GARBAGE_FRAMES 6

/* Generates count messages with seed, sends them, and checks the tables
 * against the independent model. */
static void s_run_workload(h_cluster_t *c, int seed, int count, const char *batch)
{
    char file[600], sbuf[32], cbuf[32];
    snprintf(file, sizeof file, "%s/work.jsonl", c->dir);
    snprintf(sbuf, sizeof sbuf, "%d", seed);
    snprintf(cbuf, sizeof cbuf, "%d", count);
    cr_assert_eq(
        h_riskctl_to_file(c, file, 60000, "gen", "--seed", sbuf, "--count", cbuf, NULL), 0);
    cr_assert_eq(h_riskctl(c, NULL, 0, 120000, "send", file, "--ingest", c->ingest, "--batch",
                           batch, NULL),
                 0);
    h_wait_applied(c, 60);
    model_t *m = model_new();
    cr_assert_gt(model_load_jsonl(m, file), 0);
    long rows = 0, bad = model_compare_aggregates(m, c->reducer_data, &rows);
    cr_assert_eq(bad, 0, "aggregate table differs from the model in %ld row(s)", bad);
    cr_assert_gt(rows, 0);
    model_destroy(&m);
}

/* How long a stage may take to count frames sent to it: they are small and
 * few, so this only bounds a failing test. */
#define COUNT_MS 10000

Test(stages, reducer_and_state_drop_bad_frames_and_keep_working, .timeout = 120,
     .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("stages-bad");
    h_start_state(c, NULL);
    h_start_reducer(c);
    h_start_mapper(c);
    zsock_t *to_reducer = s_sock(ZMQ_PUSH, c->results, 0);
    zsock_t *to_state_acks = s_sock(ZMQ_PUSH, c->acks, 0);
    s_send_garbage(to_reducer, 2);
    s_send_garbage(to_state_acks, 3);
    cr_assert(h_wait_stat(c, "reducer", "bad_frames", GARBAGE_FRAMES, COUNT_MS),
              "reducer did not count %d bad frames", GARBAGE_FRAMES);
    cr_assert(h_wait_stat(c, "state", "bad_ack_frames", GARBAGE_FRAMES, COUNT_MS),
              "state did not count %d bad ACK frames", GARBAGE_FRAMES);
    cr_assert_eq(h_exited(&c->reducer), 0, "reducer died on a bad frame");
    cr_assert_eq(h_exited(&c->state), 0, "state died on a bad frame");
    s_run_workload(c, 41, 20000, "1000");
    zsock_destroy(&to_reducer);
    zsock_destroy(&to_state_acks);
    h_passed();
}

/* Finds the delta for path in a decoded RESULT frame. */
static int s_delta(const msgpack_object *deltas, const char *path, long long *value,
                   long long *count)
{
    for (uint32_t i = 0; i < deltas->via.array.size; i++) {
        const msgpack_object *d = deltas->via.array.ptr[i].via.array.ptr;
        if (d[0].via.str.size == strlen(path) && !memcmp(d[0].via.str.ptr, path, strlen(path))) {
            *value = d[1].via.i64;
            *count = d[2].via.i64;
            return 1;
        }
    }
    return 0;
}

Test(stages, mapper_drops_bad_work_and_maps_the_next_batch, .timeout = 60, .fini = h_finish)
{
    /* The test plays the state process (PUSH bind on the work endpoint) and
     * the reducer (PULL bind on the results endpoint) around a real mapper. */
    h_cluster_t *c = h_cluster_new("stages-mapper");
    zsock_t *work = s_sock(ZMQ_PUSH, c->work, 1);
    zsock_t *results = s_sock(ZMQ_PULL, c->results, 1);
    h_start_mapper(c);
    s_send_garbage(work, 1);

    /* [4, WORK, state id, batch 7, watermark 1, last_seq 12, head_seq 20,
     * commit_us 1764000000000000, shard 0, shards 1, changes]: a new trade of 1.5
     * on A::B::C, and a trade of -0.25 moved from A::B::C to A::X::Y */
    static const char sid[16] = "0123456789abcdef";
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 11);
    msgpack_pack_int(&pk, 4);
    msgpack_pack_int(&pk, 1);
    msgpack_pack_bin_with_body(&pk, sid, sizeof sid);
    msgpack_pack_uint64(&pk, 7);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_uint64(&pk, 12);
    msgpack_pack_uint64(&pk, 20);
    msgpack_pack_uint64(&pk, 1764000000000000ULL);
    msgpack_pack_uint64(&pk, 0);
    msgpack_pack_uint64(&pk, 1);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_nil(&pk);
    msgpack_pack_nil(&pk);
    msgpack_pack_int64(&pk, 1500000);
    msgpack_pack_str_with_body(&pk, "A::B::C", 7);
    msgpack_pack_array(&pk, 4);
    msgpack_pack_int64(&pk, -250000);
    msgpack_pack_str_with_body(&pk, "A::B::C", 7);
    msgpack_pack_int64(&pk, -250000);
    msgpack_pack_str_with_body(&pk, "A::X::Y", 7);
    s_send(work, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);

    zmq_msg_t m;
    zmq_msg_init(&m);
    cr_assert(zmq_msg_recv(&m, zsock_resolve(results), 0) >= 0, "no RESULT from the mapper");
    msgpack_unpacked unp;
    msgpack_unpacked_init(&unp);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&unp, zmq_msg_data(&m), zmq_msg_size(&m), &off),
                 MSGPACK_UNPACK_SUCCESS);
    const msgpack_object *f = unp.data.via.array.ptr;
    cr_assert_eq(unp.data.via.array.size, 13);
    cr_assert_eq(f[0].via.u64, 4, "frame version");
    cr_assert_eq(f[1].via.u64, 2, "frame type RESULT");
    cr_assert(f[2].type == MSGPACK_OBJECT_BIN && f[2].via.bin.size == sizeof sid &&
                  memcmp(f[2].via.bin.ptr, sid, sizeof sid) == 0,
              "the RESULT names the WORK frame's state stream");
    f++; /* the fields after the stream id */
    cr_assert_eq(f[2].via.u64, 7, "batch id");
    cr_assert_eq(f[5].via.u64, 2, "changes in the batch");
    cr_assert(f[6].via.u64 == 12 && f[7].via.u64 == 20 && f[8].via.u64 == 1764000000000000ULL,
              "the RESULT carries the WORK frame's position");
    cr_assert(f[9].via.u64 == 0 && f[10].via.u64 == 1, "and its shard, 0 of 1");
    f += 5; /* the deltas follow the position */
    /* expected, worked by hand: A: +1.5, then -(-0.25) for the old side and
     * -0.25 for the new side = +1.5, count +1 -1 +1; A::B: +1.5 +0.25 = 1.75,
     * +1 -1; A::B::C likewise; A::X and A::X::Y: -0.25, +1 */
    struct {
        const char *path;
        long long value, count;
    } want[] = {{"A", 1500000, 1},       {"A::B", 1750000, 0}, {"A::B::C", 1750000, 0},
                {"A::X", -250000, 1},    {"A::X::Y", -250000, 1}};
    cr_assert_eq(f[6].via.array.size, 5, "deltas: %u", f[6].via.array.size);
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        long long v = 0, n = 0;
        cr_assert(s_delta(&f[6], want[i].path, &v, &n), "no delta for %s", want[i].path);
        cr_assert(v == want[i].value && n == want[i].count, "%s: got %lld/%lld, want %lld/%lld",
                  want[i].path, v, n, want[i].value, want[i].count);
    }
    msgpack_unpacked_destroy(&unp);
    zmq_msg_close(&m);
    cr_assert_eq(h_exited(&c->mappers[0]), 0, "mapper died on a bad frame");
    const char *log = c->mappers[0].log;
    size_t len = 0;
    char *text = h_read_file(log, &len);
    cr_assert(text && strstr(text, "dropping bad WORK frame"), "mapper did not log bad frames");
    free(text);
    zsock_destroy(&work);
    zsock_destroy(&results);
    h_passed();
}

static void s_pack_msg(msgpack_packer *pk, const char *trade, int version, const char *value,
                       const char *region)
{
    msgpack_pack_map(pk, 4);
    msgpack_pack_str_with_body(pk, "TradeID", 7);
    msgpack_pack_str_with_body(pk, trade, strlen(trade));
    msgpack_pack_str_with_body(pk, "Version", 7);
    msgpack_pack_int(pk, version);
    msgpack_pack_str_with_body(pk, "Value", 5);
    msgpack_pack_str_with_body(pk, value, strlen(value));
    msgpack_pack_str_with_body(pk, "Hierarchy", 9);
    msgpack_pack_map(pk, region ? 3 : 2);
    msgpack_pack_str_with_body(pk, "RiskType", 8);
    msgpack_pack_str_with_body(pk, "Delta", 5);
    if (region) {
        msgpack_pack_str_with_body(pk, "Region", 6);
        msgpack_pack_str_with_body(pk, region, strlen(region));
    }
    msgpack_pack_str_with_body(pk, "TradeDesk", 9);
    msgpack_pack_str_with_body(pk, "Rates", 5);
}

Test(stages, fire_and_forget_ingest_dead_letters, .timeout = 60, .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("stages-pull");
    h_start_state(c, NULL);
    h_start_reducer(c);
    h_start_mapper(c);
    zsock_t *push = s_sock(ZMQ_PUSH, c->ingest_pull, 0);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    s_pack_msg(&pk, "pull-ok", 1, "2.5", "EMEA");
    s_pack_msg(&pk, "pull-bad", 1, "1.0", NULL); /* no Region */
    s_send(push, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    cr_assert(h_wait_stat(c, "state", "dlq_added", 1, COUNT_MS), "nothing dead-lettered");
    h_wait_applied(c, 30);
    cr_assert(model_aggregate_has(c->reducer_data, "Delta::EMEA::Rates"),
              "the valid message of the frame is not aggregated");
    char out[8192];
    cr_assert_eq(h_riskctl(c, out, sizeof out, 10000, "dlq", "list", "--state-data",
                           c->state_data, NULL), 0);
    cr_assert(strstr(out, "ingest-pull") && strstr(out, "Region"), "dlq list:\n%s", out);
    cr_assert_eq(h_riskctl(c, out, sizeof out, 10000, "dlq", "show", "1", "--state-data",
                           c->state_data, NULL), 0);
    cr_assert(strstr(out, "pull-bad"), "dlq show does not show the message:\n%s", out);
    zsock_destroy(&push);
    h_passed();
}

Test(stages, dead_letters_replay_after_the_limit_is_fixed, .timeout = 90, .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("stages-replay");
    h_start_state(c, "--max-batch", "2", NULL);
    h_start_reducer(c);
    h_start_mapper(c);
    char file[600];
    snprintf(file, sizeof file, "%s/three.jsonl", c->dir);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 3; i++)
        fprintf(f, "{\"TradeID\":\"r%d\",\"Value\":\"%d.25\",\"Version\":1,\"Hierarchy\":"
                   "{\"RiskType\":\"Vega\",\"Region\":\"APAC\",\"TradeDesk\":\"Credit\"}}\n",
                i, i + 1);
    fclose(f);
    char out[8192];
    /* one frame of 3 messages: over --max-batch 2, rejected whole, and each
     * of its messages counts as rejected */
    cr_assert_eq(h_riskctl(c, out, sizeof out, 30000, "send", file, "--ingest", c->ingest,
                           "--batch", "3", NULL), 1);
    cr_assert(strstr(out, "rejected=3"), "send output: %s", out);
    cr_assert(!model_aggregate_has(c->reducer_data, "Vega"), "rejected frame was aggregated");
    /* the fix: a larger limit; then replay */
    cr_assert_neq(h_stop(&c->state, SIGTERM, 5000), -1);
    h_start_state(c, "--max-batch", "10", NULL);
    cr_assert_eq(h_riskctl(c, out, sizeof out, 30000, "dlq", "replay", "--all", "--state-data",
                           c->state_data, "--ingest", c->ingest, NULL), 0, "replay: %s", out);
    cr_assert(strstr(out, "accepted 3"), "replay output: %s", out);
    h_wait_applied(c, 30);
    model_t *m = model_new();
    cr_assert_gt(model_load_jsonl(m, file), 0);
    long rows = 0, bad = model_compare_aggregates(m, c->reducer_data, &rows);
    cr_assert_eq(bad, 0, "aggregates differ from the model after replay");
    model_destroy(&m);
    cr_assert_eq(h_riskctl(c, out, sizeof out, 10000, "dlq", "list", "--state-data",
                           c->state_data, NULL), 0);
    cr_assert(strstr(out, "empty"), "dlq not empty after replay:\n%s", out);
    h_passed();
}

Test(stages, oversized_frame_gets_a_clear_rejection_and_is_dead_lettered, .timeout = 60,
     .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("stages-big");
    h_start_state(c, "--max-frame", "2048", NULL);
    h_start_reducer(c);
    h_start_mapper(c);
    zsock_t *req = s_sock(ZMQ_REQ, c->ingest, 0);
    /* a batch of 40 valid messages is ~3 KB: over the 2 KB limit */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 40);
    for (int i = 0; i < 40; i++) {
        char id[16];
        snprintf(id, sizeof id, "big-%d", i);
        s_pack_msg(&pk, id, 1, "1.5", "EMEA");
    }
    cr_assert_gt(sb.size, 2048);
    s_send(req, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    zmq_msg_t m;
    zmq_msg_init(&m);
    cr_assert(zmq_msg_recv(&m, zsock_resolve(req), 0) >= 0, "no reply to an oversized frame");
    msgpack_unpacked unp;
    msgpack_unpacked_init(&unp);
    size_t off = 0;
    cr_assert_eq(msgpack_unpack_next(&unp, zmq_msg_data(&m), zmq_msg_size(&m), &off),
                 MSGPACK_UNPACK_SUCCESS);
    /* {"accepted": 0, ..., "rejected": 1, "errors": [{"index": 0, "reason": "...limit..."}]} */
    long long accepted = -1, rejected = -1;
    int reason_ok = 0;
    for (uint32_t i = 0; i < unp.data.via.map.size; i++) {
        const msgpack_object *k = &unp.data.via.map.ptr[i].key, *v = &unp.data.via.map.ptr[i].val;
        if (k->via.str.size == 8 && !memcmp(k->via.str.ptr, "accepted", 8)) accepted = v->via.i64;
        if (k->via.str.size == 8 && !memcmp(k->via.str.ptr, "rejected", 8)) rejected = v->via.i64;
        if (k->via.str.size == 6 && !memcmp(k->via.str.ptr, "errors", 6) &&
            v->via.array.size == 1) {
            const msgpack_object *e = &v->via.array.ptr[0];
            for (uint32_t j = 0; j < e->via.map.size; j++) {
                const msgpack_object *ev = &e->via.map.ptr[j].val;
                if (ev->type == MSGPACK_OBJECT_STR &&
                    memmem(ev->via.str.ptr, ev->via.str.size, "exceeds the limit", 17))
                    reason_ok = 1;
            }
        }
    }
    cr_assert(accepted == 0 && rejected == 1 && reason_ok, "reply: accepted %lld rejected %lld",
              accepted, rejected);
    msgpack_unpacked_destroy(&unp);
    zmq_msg_close(&m);
    cr_assert(h_wait_stat(c, "state", "dlq_added", 1, COUNT_MS),
              "oversized frame not dead-lettered");
    /* the state keeps serving: a small workload goes through exactly */
    s_run_workload(c, 43, 2000, "5"); /* frames of 5 messages fit in 2 KB */
    zsock_destroy(&req);
    h_passed();
}
