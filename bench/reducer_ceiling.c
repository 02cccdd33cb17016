/* bench-reducer-ceiling: how many RESULT frames per second one reducer can
 * apply on this machine, with no state and no mappers in the way. It plays
 * the state's side of the reducer's sockets: binds a PULL on --acks (the
 * reducer connects its ACK socket there) and connects a PUSH to --results,
 * then sends --frames RESULT frames of shard 0 of 1 (batch ids 1..N, each
 * announcing --changes changes and carrying a delta for each of --paths
 * aggregate paths: a batch of 1024 changes of the seed's hierarchy touches
 * all of its ~150 paths), keeping at most --window frames unacknowledged as
 * the state's dispatch window would, and times the run from the first frame
 * sent to the last batch id acknowledged. Every frame is applied and
 * fsynced by the reducer as in a pipeline. Prints one line:
 *   frames=N seconds=S frames_per_s=F changes_per_s=C
 * Usage: bench-reducer-ceiling --results EP --acks EP [--frames 20000]
 *        [--changes 1024] [--paths 150] [--window 64] */
#include "../common/clock.h"
#include "../proto/frame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static const char *s_arg(int argc, char **argv, const char *name, const char *dflt)
{
    for (int i = 1; i + 1 < argc; i++)
        if (!strcmp(argv[i], name)) return argv[i + 1];
    return dflt;
}

int main(int argc, char **argv)
{
    const char *results = s_arg(argc, argv, "--results", NULL);
    const char *acks = s_arg(argc, argv, "--acks", NULL);
    long frames = atol(s_arg(argc, argv, "--frames", "20000"));
    long changes = atol(s_arg(argc, argv, "--changes", "1024"));
    long paths = atol(s_arg(argc, argv, "--paths", "150"));
    long window = atol(s_arg(argc, argv, "--window", "64"));
    if (!results || !acks || frames < 1 || changes < 1 || paths < 1 || window < 1) {
        fprintf(stderr, "usage: bench-reducer-ceiling --results EP --acks EP [--frames N] "
                        "[--changes N] [--paths N] [--window N]\n");
        return 2;
    }
    void *ctx = zmq_ctx_new();
    void *push = zmq_socket(ctx, ZMQ_PUSH), *pull = zmq_socket(ctx, ZMQ_PULL);
    int hwm = 0;
    zmq_setsockopt(push, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (zmq_bind(pull, acks) || zmq_connect(push, results)) {
        fprintf(stderr, "bench-reducer-ceiling: %s\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    /* the paths: RiskType, Region, desk levels like the seed's hierarchy */
    char (*path)[48] = calloc((size_t)paths, sizeof *path);
    for (long i = 0; i < paths; i++) {
        long l = i % 3;
        if (l == 0) snprintf(path[i], sizeof path[i], "R%ld", i / 3 % 5);
        else if (l == 1) snprintf(path[i], sizeof path[i], "R%ld::G%ld", i / 3 % 5, i / 15 % 4);
        else
            snprintf(path[i], sizeof path[i], "R%ld::G%ld::D%ld", i / 3 % 5, i / 15 % 4,
                     i / 60);
    }
    const frame_id_t sid = {{0x42, 0x65, 0x6e, 0x63, 0x68}};
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    long sent = 0, acked = 0;
    uint64_t next_ack = 1;
    int64_t t0 = clock_mono_ms(), last_progress = t0;
    while (acked < frames) {
        while (sent < frames && sent - acked < window) {
            uint64_t id = (uint64_t)sent + 1;
            msgpack_sbuffer_clear(&sb);
            frame_pos_t pos = {.last_seq = id * (uint64_t)changes,
                               .head_seq = id * (uint64_t)changes, .shard = 0, .shards = 1};
            uint64_t wm = id > (uint64_t)window ? id - (uint64_t)window : 0;
            frame_result_head(&pk, &sid, id, wm, "ceiling:1", (uint64_t)changes, &pos,
                              (uint32_t)paths);
            for (long p = 0; p < paths; p++)
                frame_delta_pack(&pk, path[p], strlen(path[p]), (money_sum_t)(id % 7) * 1000, 1);
            zmq_send(push, sb.data, sb.size, 0);
            sent++;
        }
        zmq_pollitem_t it = {pull, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 1000) == 1) {
            char buf[FRAME_ACK_MAX_BYTES];
            int n = zmq_recv(pull, buf, sizeof buf, 0);
            msgpack_unpacked unp;
            ack_t a;
            char why[160];
            if (n > 0 && frame_ack_decode(buf, (size_t)n, &unp, &a, why, sizeof why) == 0) {
                for (uint32_t i = 0; i < a.n; i++)
                    if (a.ids[i].via.u64 >= next_ack) {
                        acked += (long)(a.ids[i].via.u64 - next_ack + 1);
                        next_ack = a.ids[i].via.u64 + 1;
                    }
                last_progress = clock_mono_ms();
            }
            msgpack_unpacked_destroy(&unp);
        } else if (clock_mono_ms() - last_progress > 30000) {
            fprintf(stderr, "bench-reducer-ceiling: no acknowledgement for 30 s (%ld of %ld "
                            "acknowledged): is the reducer at %s new and acking to %s?\n",
                    acked, frames, results, acks);
            return 1;
        }
    }
    double secs = (double)(clock_mono_ms() - t0) / 1000.0;
    printf("frames=%ld seconds=%.3f frames_per_s=%.0f changes_per_s=%.0f\n", frames, secs,
           (double)frames / secs, (double)frames * (double)changes / secs);
    msgpack_sbuffer_destroy(&sb);
    free(path);
    zmq_close(push);
    zmq_close(pull);
    zmq_ctx_term(ctx);
    return 0;
}
