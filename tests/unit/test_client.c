/* Unit tests for client/rp_client.h against fake state shards (ROUTER
 * sockets on ipc:// endpoints, answered by the test itself): each message
 * reaches the shard of its TradeID, rejections come back with the tags the
 * producer gave, an unanswered frame is re-sent on a fresh connection and
 * counted once, and a shard that never answers ends in RP_ETIMEDOUT. */
#include "../../client/rp_client.h"
#include "../../common/rperr.h"
#include "../../proto/reply.h"
#include "../../proto/shard.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void *g_ctx;
static void *g_srv[2];
static char g_ep[2][128];

static void s_setup(void)
{
    static int gen;
    g_ctx = zmq_ctx_new();
    for (int i = 0; i < 2; i++) {
        snprintf(g_ep[i], sizeof g_ep[i], "ipc:///tmp/rp-client-test-%d-%d-%d", (int)getpid(),
                 gen, i);
        g_srv[i] = zmq_socket(g_ctx, ZMQ_ROUTER);
        int zero = 0;
        zmq_setsockopt(g_srv[i], ZMQ_LINGER, &zero, sizeof zero);
        cr_assert_eq(zmq_bind(g_srv[i], g_ep[i]), 0);
    }
    gen++;
}

static void s_teardown(void)
{
    for (int i = 0; i < 2; i++) zmq_close(g_srv[i]);
    zmq_ctx_term(g_ctx);
}

TestSuite(client, .init = s_setup, .fini = s_teardown);

/* One message map {"TradeID": id, "Version": 1} (enough for routing: the
 * fake shards do not validate). */
static size_t s_msg(char *buf, size_t cap, const char *id)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "TradeID", 7);
    msgpack_pack_str_with_body(&pk, id, strlen(id));
    msgpack_pack_str_with_body(&pk, "Version", 7);
    msgpack_pack_int(&pk, 1);
    cr_assert_leq(sb.size, cap);
    memcpy(buf, sb.data, sb.size);
    size_t n = sb.size;
    msgpack_sbuffer_destroy(&sb);
    return n;
}

/* A frame the fake shard i received: its routing parts and the message
 * count of its array. Returns 0 when none arrived within wait_ms. */
typedef struct {
    zmq_msg_t part[3];
    uint32_t n;
} got_t;

static int s_recv(int i, got_t *g, int wait_ms)
{
    zmq_pollitem_t it = {g_srv[i], 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, wait_ms) != 1) return 0;
    zmq_msg_t body;
    for (int p = 0; p < 3; p++) {
        zmq_msg_init(&g->part[p]);
        cr_assert_geq(zmq_msg_recv(&g->part[p], g_srv[i], 0), 0);
    }
    zmq_msg_init(&body);
    cr_assert_geq(zmq_msg_recv(&body, g_srv[i], 0), 0);
    const unsigned char *b = zmq_msg_data(&body);
    g->n = (b[0] & 0xf0) == 0x90 ? (b[0] & 0x0f) : (uint32_t)(b[1] << 8 | b[2]);
    zmq_msg_close(&body);
    return 1;
}

/* Answers frame g on shard i with r, closing g. */
static void s_answer(int i, got_t *g, const reply_t *r)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    reply_encode(r, &sb);
    for (int p = 0; p < 3; p++) zmq_msg_send(&g->part[p], g_srv[i], ZMQ_SNDMORE);
    zmq_send(g_srv[i], sb.data, sb.size, 0);
    msgpack_sbuffer_destroy(&sb);
}

static int64_t g_rej_tag = -1, g_rej_shard = -1;
static void s_on_reject(void *arg, const rp_client_rejection_t *r)
{
    (void)arg;
    g_rej_tag = r->first_index >= 0 ? (int64_t)r->tags[r->first_index] : -1;
    g_rej_shard = r->first_shard;
}

/* Services the client until it is idle or a second passes. */
static void s_service(rp_client_t *c)
{
    for (int t = 0; t < 100 && rp_client_busy(c); t++) {
        zmq_pollitem_t items[2];
        int n = rp_client_pollitems(c, items);
        zmq_poll(items, n, 10);
        RP_ASSERT_OK(rp_client_service(c, items));
    }
}

Test(client, each_message_goes_to_its_shard_and_rejections_name_their_tags)
{
    const char *eps[] = {g_ep[0], g_ep[1]};
    char why[200];
    rp_client_opts_t o = {.batch = 100, .on_reject = s_on_reject};
    rp_client_t *c = rp_client_new(eps, 2, &o, why, sizeof why);
    cr_assert_not_null(c, "%s", why);
    /* 40 trades; the fake shards count what they get */
    int want[2] = {0, 0};
    char buf[128], id[32];
    for (int i = 0; i < 40; i++) {
        snprintf(id, sizeof id, "T-%d", i);
        want[shard_hash(id, strlen(id)) % 2]++;
        size_t n = s_msg(buf, sizeof buf, id);
        cr_assert_eq(rp_client_shard(c, buf, n), shard_hash(id, strlen(id)) % 2);
        RP_ASSERT_OK(rp_client_add(c, buf, n, 1000 + (uint64_t)i));
    }
    rp_client_push(c);
    RP_ASSERT_OK(rp_client_service(c, NULL));
    for (int s = 0; s < 2; s++) {
        got_t g;
        cr_assert(s_recv(s, &g, 2000), "shard %d got its frame", s);
        cr_assert_eq(g.n, (uint32_t)want[s], "shard %d: %u messages, want %d", s, g.n, want[s]);
        reply_t r;
        reply_init(&r);
        r.accepted = g.n - (s == 1);
        r.seq = 77;
        if (s == 1) reply_reject_shard(&r, 2, "wrong shard", 0); /* its third message */
        s_answer(s, &g, &r);
        reply_destroy(&r);
    }
    s_service(c);
    cr_assert_not(rp_client_busy(c));
    const rp_client_counts_t *k = rp_client_counts(c);
    cr_assert_eq(k->accepted, 39);
    cr_assert_eq(k->rejected, 1);
    cr_assert_eq(k->misrouted, 1);
    cr_assert_eq(g_rej_shard, 0, "the right shard from the reply");
    /* the third message shard 1 got is the third T-i (in order) of shard 1 */
    int seen = 0;
    int64_t third = -1;
    for (int i = 0; i < 40 && third < 0; i++) {
        snprintf(id, sizeof id, "T-%d", i);
        if (shard_hash(id, strlen(id)) % 2 == 1 && seen++ == 2) third = 1000 + i;
    }
    cr_assert_eq(g_rej_tag, third, "rejected tag %lld, want %lld", (long long)g_rej_tag,
                 (long long)third);
    int sent, old;
    cr_assert_eq(rp_client_seq(c, 1, &sent, &old), 77);
    cr_assert(sent && !old);
    rp_client_destroy(&c);
}

Test(client, an_unanswered_frame_is_sent_again_and_counted_once)
{
    const char *eps[] = {g_ep[0]};
    char why[200], buf[128];
    rp_client_opts_t o = {.timeout_ms = 100, .retries = 5};
    rp_client_t *c = rp_client_new(eps, 1, &o, why, sizeof why);
    cr_assert_not_null(c, "%s", why);
    RP_ASSERT_OK(rp_client_add(c, buf, s_msg(buf, sizeof buf, "A"), 1));
    rp_client_push(c);
    RP_ASSERT_OK(rp_client_service(c, NULL));
    got_t g;
    cr_assert(s_recv(0, &g, 2000));
    for (int p = 0; p < 3; p++) zmq_msg_close(&g.part[p]); /* no answer: lost */
    /* the client times out, reconnects and sends it again */
    int again = 0;
    for (int t = 0; t < 300 && !again; t++) {
        RP_ASSERT_OK(rp_client_service(c, NULL));
        again = s_recv(0, &g, 10);
    }
    cr_assert(again, "the frame came again");
    reply_t r;
    reply_init(&r);
    r.accepted = 1;
    r.seq = 1;
    s_answer(0, &g, &r);
    reply_destroy(&r);
    s_service(c);
    cr_assert_not(rp_client_busy(c));
    cr_assert_eq(rp_client_counts(c)->accepted, 1);
    cr_assert_eq(rp_client_counts(c)->resent, 1);
    rp_client_destroy(&c);
}

Test(client, a_shard_that_never_answers_ends_in_a_timeout)
{
    const char *eps[] = {g_ep[0]};
    char why[200], buf[128];
    rp_client_opts_t o = {.timeout_ms = 50, .retries = -1};
    rp_client_t *c = rp_client_new(eps, 1, &o, why, sizeof why);
    cr_assert_not_null(c, "%s", why);
    RP_ASSERT_OK(rp_client_add(c, buf, s_msg(buf, sizeof buf, "A"), 1));
    RP_ASSERT_RC(rp_client_flush(c), RP_ETIMEDOUT);
    rp_client_destroy(&c);
}

Test(client, bad_arguments_are_refused_with_a_reason)
{
    char why[200] = "";
    const char *eps[] = {g_ep[0]};
    cr_assert_null(rp_client_new(eps, 0, NULL, why, sizeof why));
    cr_assert(strstr(why, "one per state shard"), "%s", why);
    rp_client_opts_t o = {.server_key = "x"};
    cr_assert_null(rp_client_new(eps, 1, &o, why, sizeof why));
    const char *bad[] = {"nonsense://x"};
    cr_assert_null(rp_client_new(bad, 1, NULL, why, sizeof why));
    cr_assert(strstr(why, "cannot connect"), "%s", why);
    rp_client_t *c = rp_client_new(eps, 1, &(rp_client_opts_t){.max_frame = 1024}, why,
                                   sizeof why);
    static char big[2048];
    RP_ASSERT_RC(rp_client_add(c, big, sizeof big, 1), RP_ERANGE);
    rp_client_destroy(&c);
}
