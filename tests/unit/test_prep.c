/* Unit tests for state/prep.h: one frame decoded into what the writer needs
 * (TradeID, version, value, path, state row, or the reason a message is
 * refused), and the decoding thread handing frames to the writer in order
 * through a few reused buffers, skipping what it is told to, and stopping
 * cleanly in the middle of a group. Expected values come from what each
 * test packed, not from the decoder. */
#include "../../common/rperr.h"
#include "../../proto/shard.h"
#include "../../proto/tables.h"
#include "../../state/prep.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

static prep_rules_t s_rules(uint32_t shard, uint32_t shards)
{
    prep_rules_t r = {.max_batch = 1000, .shard = shard, .shards = shards};
    char why[128];
    cr_assert_eq(hier_levels_parse(HIER_DEFAULT, &r.levels, why, sizeof why), 0, "%s", why);
    return r;
}

/* Frame f of a test group: n messages with TradeIDs "F<f>-<i>", version
 * f + 1, value i + 0.25, desk "D<f>". */
static void s_group_frame(msgpack_sbuffer *sb, int f, int n)
{
    msgpack_sbuffer_clear(sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        char id[32], value[32], desk[16];
        snprintf(id, sizeof id, "F%d-%d", f, i);
        snprintf(value, sizeof value, "%d.25", i);
        snprintf(desk, sizeof desk, "D%d", f);
        fixture_pack_msg(&pk, id, f + 1, value, "Delta", "EMEA", desk);
    }
}

/* Checks that *pf is frame f of s_group_frame with n messages. */
static void s_expect_group_frame(const prep_frame_t *pf, int f, int n)
{
    cr_assert_not(pf->bad, "frame %d: %s", f, pf->why);
    cr_assert_eq(pf->n, (size_t)n, "frame %d", f);
    prep_rules_t r = s_rules(0, 1);
    for (int i = 0; i < n; i++) {
        const prep_msg_t *m = &pf->msg[i];
        char id[32], path[64];
        snprintf(id, sizeof id, "F%d-%d", f, i);
        snprintf(path, sizeof path, "Delta::EMEA::D%d", f);
        cr_assert_eq(m->kind, PREP_OK, "frame %d message %d", f, i);
        cr_assert_eq(m->id_len, strlen(id));
        cr_assert_str_eq(prep_str(pf, m->id_off), id);
        cr_assert_eq(m->version, f + 1);
        cr_assert_eq(m->value, (money_t)i * 1000000 + 250000);
        cr_assert_eq(m->path_len, strlen(path));
        cr_assert_str_eq(prep_str(pf, m->path_off), path);
        state_row_t row;
        RP_ASSERT_OK(tables_state_decode(prep_str(pf, m->row_off), m->row_len, &r.levels, &row));
        cr_assert_eq(row.version, f + 1, "the row holds the message's version");
        cr_assert_eq(row.value, m->value);
        cr_assert_eq(row.path_len, strlen(path));
        cr_assert_eq(memcmp(row.path, path, row.path_len), 0, "the row holds the path's levels");
    }
}

Test(prep, a_valid_frame_becomes_ids_versions_values_paths_and_rows)
{
    prep_rules_t r = s_rules(0, 1);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    s_group_frame(&sb, 3, 5);
    prep_frame_t pf;
    prep_frame_init(&pf);
    RP_ASSERT_OK(prep_decode(&r, sb.data, sb.size, &pf));
    s_expect_group_frame(&pf, 3, 5);
    for (size_t i = 0; i < pf.n; i++) {
        cr_assert(pf.msg[i].raw >= sb.data && pf.msg[i].raw + pf.msg[i].raw_len <= sb.data + sb.size,
                  "raw points into the frame");
        cr_assert(memmem(pf.msg[i].raw, pf.msg[i].raw_len, "F3-", 3), "raw is its own message");
    }
    prep_frame_destroy(&pf);
    msgpack_sbuffer_destroy(&sb);
}

Test(prep, an_invalid_message_is_bad_with_its_reason_and_its_neighbours_stay_valid)
{
    prep_rules_t r = s_rules(0, 1);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 3);
    fixture_pack_msg(&pk, "A", 1, "1", "Delta", "AMER", "FX");
    fixture_pack_msg(&pk, "B", 1, "not-a-number", "Delta", "AMER", "FX");
    fixture_pack_msg(&pk, "C", 2, "-3.5", "Vega", "APAC", "Rates");
    prep_frame_t pf;
    prep_frame_init(&pf);
    RP_ASSERT_OK(prep_decode(&r, sb.data, sb.size, &pf));
    cr_assert_eq(pf.n, 3);
    cr_assert_eq(pf.msg[0].kind, PREP_OK);
    cr_assert_eq(pf.msg[1].kind, PREP_BAD);
    cr_assert(strstr(prep_str(&pf, pf.msg[1].why_off), "Value"), "reason: %s",
              prep_str(&pf, pf.msg[1].why_off));
    cr_assert(memmem(pf.msg[1].raw, pf.msg[1].raw_len, "not-a-number", 12),
              "the raw bytes of the bad message are kept for the dead-letter table");
    cr_assert_eq(pf.msg[2].kind, PREP_OK);
    cr_assert_eq(pf.msg[2].value, -3500000);
    cr_assert_str_eq(prep_str(&pf, pf.msg[2].path_off), "Vega::APAC::Rates");
    prep_frame_destroy(&pf);
    msgpack_sbuffer_destroy(&sb);
}

Test(prep, a_message_of_another_shard_is_foreign_and_names_its_shard)
{
    /* Find, with the documented hash, one TradeID of each of 2 shards. */
    const char *ids[2] = {NULL, NULL};
    static char buf[2][16];
    for (int i = 0; !ids[0] || !ids[1]; i++) {
        char id[16];
        snprintf(id, sizeof id, "T%d", i);
        uint32_t s = shard_of(id, strlen(id), 2);
        if (!ids[s]) {
            snprintf(buf[s], sizeof buf[s], "%s", id);
            ids[s] = buf[s];
        }
    }
    prep_rules_t r = s_rules(1, 2);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    fixture_pack_msg(&pk, ids[0], 1, "1", "Delta", "AMER", "FX");
    fixture_pack_msg(&pk, ids[1], 1, "1", "Delta", "AMER", "FX");
    prep_frame_t pf;
    prep_frame_init(&pf);
    RP_ASSERT_OK(prep_decode(&r, sb.data, sb.size, &pf));
    cr_assert_eq(pf.msg[0].kind, PREP_FOREIGN);
    cr_assert_eq(pf.msg[0].home, 0);
    cr_assert_str_eq(prep_str(&pf, pf.msg[0].id_off), ids[0]);
    cr_assert_eq(pf.msg[1].kind, PREP_OK, "shard 1's own TradeID");
    prep_frame_destroy(&pf);
    msgpack_sbuffer_destroy(&sb);
}

Test(prep, an_unusable_frame_is_bad_as_a_whole)
{
    prep_rules_t r = s_rules(0, 1);
    prep_frame_t pf;
    prep_frame_init(&pf);
    RP_ASSERT_OK(prep_decode(&r, "\xc1\xc1", 2, &pf));
    cr_assert(pf.bad);
    cr_assert_neq(pf.why[0], '\0', "a reason");
    cr_assert_eq(pf.n, 0);
    prep_frame_destroy(&pf);
}

Test(prep, a_frame_decoded_again_replaces_what_it_held)
{
    prep_rules_t r = s_rules(0, 1);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    prep_frame_t pf;
    prep_frame_init(&pf);
    s_group_frame(&sb, 1, 40);
    RP_ASSERT_OK(prep_decode(&r, sb.data, sb.size, &pf));
    RP_ASSERT_OK(prep_decode(&r, "\xc1", 1, &pf));
    cr_assert(pf.bad);
    s_group_frame(&sb, 2, 3);
    RP_ASSERT_OK(prep_decode(&r, sb.data, sb.size, &pf));
    s_expect_group_frame(&pf, 2, 3);
    prep_frame_destroy(&pf);
    msgpack_sbuffer_destroy(&sb);
}

#define GROUP 24

/* Packs GROUP frames of different sizes; in[] names them, with every
 * seventh one left out (buf NULL) as the writer leaves out oversized frames. */
static void s_group(msgpack_sbuffer *sb, prep_input_t *in)
{
    for (int f = 0; f < GROUP; f++) {
        msgpack_sbuffer_init(&sb[f]);
        s_group_frame(&sb[f], f, 1 + (f * 37) % 50);
        in[f] = (prep_input_t){f % 7 == 6 ? NULL : sb[f].data, sb[f].size};
    }
}

static void s_group_destroy(msgpack_sbuffer *sb)
{
    for (int f = 0; f < GROUP; f++) msgpack_sbuffer_destroy(&sb[f]);
}

/* Takes every frame of the group in order and checks each. */
static void s_take_all(prep_t *p, const prep_input_t *in)
{
    for (int f = 0; f < GROUP; f++) {
        const prep_frame_t *pf;
        RP_ASSERT_OK(prep_take(p, f, &pf), "frame %d", f);
        if (!in[f].buf) {
            cr_assert_eq(pf->n, 0, "frame %d was left out: nothing decoded", f);
            cr_assert_not(pf->bad);
        } else {
            s_expect_group_frame(pf, f, 1 + (f * 37) % 50);
        }
    }
}

/* Decodes a test group `rounds` times with one decoder of `ahead` buffers,
 * checking every frame each time. */
static void s_decode_groups(int ahead, int rounds)
{
    prep_rules_t r = s_rules(0, 1);
    msgpack_sbuffer sb[GROUP];
    prep_input_t in[GROUP];
    s_group(sb, in);
    int err = 0;
    prep_t *p = prep_new(&r, ahead, &err);
    cr_assert_not_null(p, "%s", rp_strerror(err));
    for (int round = 0; round < rounds; round++) {
        prep_start(p, in, GROUP);
        s_take_all(p, in);
        prep_finish(p);
    }
    prep_destroy(&p);
    cr_assert_null(p);
    s_group_destroy(sb);
}

Test(prep, the_thread_hands_every_frame_of_a_group_in_order_through_fewer_buffers)
{
    s_decode_groups(3, 3); /* the same decoder, group after group */
}

Test(prep, without_a_thread_the_writer_decodes_the_same_frames)
{
    s_decode_groups(0, 1);
}

Test(prep, a_group_finished_early_leaves_the_next_one_whole)
{
    prep_rules_t r = s_rules(0, 1);
    msgpack_sbuffer sb[GROUP];
    prep_input_t in[GROUP];
    s_group(sb, in);
    prep_t *p = prep_new(&r, 2, NULL);
    cr_assert_not_null(p);
    /* As the writer does when a frame's store error ends the group: it
     * took frames 0 and 1, and the thread may be decoding 2 and 3. */
    prep_start(p, in, GROUP);
    const prep_frame_t *pf;
    RP_ASSERT_OK(prep_take(p, 0, &pf));
    RP_ASSERT_OK(prep_take(p, 1, &pf));
    prep_finish(p);
    /* The group's buffers may now be reused: the next group is decoded
     * from the start and whole. */
    for (int f = 0; f < GROUP; f++) memset(sb[f].data, 0xc1, sb[f].size);
    s_group_destroy(sb);
    s_group(sb, in);
    prep_start(p, in, GROUP);
    s_take_all(p, in);
    prep_finish(p);
    prep_destroy(&p);
    s_group_destroy(sb);
}

Test(prep, a_frame_outside_the_group_is_refused_not_waited_for)
{
    prep_rules_t r = s_rules(0, 1);
    msgpack_sbuffer sb[GROUP];
    prep_input_t in[GROUP];
    s_group(sb, in);
    prep_t *p = prep_new(&r, 2, NULL);
    prep_start(p, in, 2);
    const prep_frame_t *pf;
    RP_ASSERT_RC(prep_take(p, 2, &pf), RP_EINVAL);
    RP_ASSERT_RC(prep_take(p, -1, &pf), RP_EINVAL);
    RP_ASSERT_OK(prep_take(p, 1, &pf));
    prep_finish(p);
    RP_ASSERT_RC(prep_take(p, 0, &pf), RP_EINVAL, "no group after finish");
    prep_destroy(&p);
    s_group_destroy(sb);
}

Test(prep, destroy_stops_an_idle_thread_and_accepts_null)
{
    prep_rules_t r = s_rules(0, 1);
    prep_t *p = prep_new(&r, 4, NULL);
    cr_assert_not_null(p);
    prep_destroy(&p);
    cr_assert_null(p);
    prep_destroy(&p);
    prep_destroy(NULL);
}
