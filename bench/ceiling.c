/* bench-ceiling: what this machine's LMDB allows the state process, with no
 * IPC at all. It reads a JSON-lines file into frames of --batch messages (as
 * riskctl send does, not timed), then runs the state's own engine (ingest.c,
 * changelog.c, dlq.c) over them in commits of --group frames on a fresh
 * environment, every commit fsynced as the state's, pruning each commit's
 * batches in the next one as the reducer's ACKs would. It times only the
 * commits and prints one line:
 *   seconds=S msgs=N commits=C write_bytes=B
 * `make bench` quotes riskpipe's end-to-end throughput as a share of it. */
#include "../common/log.h"
#include "../common/rperr.h"
#include "../common/store.h"
#include "../proto/tables.h"
#include "../state/changelog.h"
#include "../state/dlq.h"
#include "../state/ingest.h"
#include "../tools/jsonline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    char *data;
    size_t len;
} frame_buf_t;

static double s_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Writes a msgpack array header for n elements into hdr; returns its size. */
static size_t s_array_header(uint32_t n, unsigned char hdr[5])
{
    if (n < 16) {
        hdr[0] = (unsigned char)(0x90 | n);
        return 1;
    }
    if (n < 65536) {
        hdr[0] = 0xdc, hdr[1] = (unsigned char)(n >> 8), hdr[2] = (unsigned char)n;
        return 3;
    }
    hdr[0] = 0xdd;
    for (int i = 0; i < 4; i++) hdr[1 + i] = (unsigned char)(n >> (24 - 8 * i));
    return 5;
}

/* Reads every line of path into frames of batch messages. Returns the number
 * of messages, or -1 after a message. */
static long s_load(const char *path, int batch, frame_buf_t **out, size_t *nframes)
{
    FILE *in = fopen(path, "r");
    if (!in) {
        perror(path);
        return -1;
    }
    jsonline_t *jl = jsonline_new();
    msgpack_sbuffer body;
    msgpack_sbuffer_init(&body);
    char *line = NULL, why[256];
    size_t cap = 0, nf = 0, fcap = 0;
    long total = 0;
    uint32_t inframe = 0;
    frame_buf_t *frames = NULL;
    ssize_t n;
    int eof = 0;
    while (!eof) {
        n = getline(&line, &cap, in);
        eof = n < 0;
        if (!eof) {
            if (cap < (size_t)n + JSONLINE_PADDING) {
                line = realloc(line, cap = (size_t)n + JSONLINE_PADDING);
                if (!line) return -1;
            }
            if (jsonline_pack(jl, line, (size_t)n, &body, why, sizeof why)) {
                fprintf(stderr, "bench-ceiling: line %ld: %s\n", total + 1, why);
                return -1;
            }
            inframe++, total++;
        }
        if (inframe && (inframe == (uint32_t)batch || eof)) {
            unsigned char hdr[5];
            size_t h = s_array_header(inframe, hdr);
            if (nf == fcap && !(frames = realloc(frames, (fcap = fcap ? 2 * fcap : 1024) *
                                                             sizeof *frames)))
                return -1;
            frame_buf_t *f = &frames[nf++];
            f->len = h + body.size;
            if (!(f->data = malloc(f->len))) return -1;
            memcpy(f->data, hdr, h);
            memcpy(f->data + h, body.data, body.size);
            msgpack_sbuffer_clear(&body);
            inframe = 0;
        }
    }
    free(line);
    fclose(in);
    msgpack_sbuffer_destroy(&body);
    jsonline_destroy(&jl);
    *out = frames;
    *nframes = nf;
    return total;
}

static long long s_write_bytes(void)
{
    FILE *f = fopen("/proc/self/io", "r");
    char key[64];
    long long v, out = 0;
    if (!f) return 0;
    while (fscanf(f, "%63[^:]: %lld\n", key, &v) == 2)
        if (!strcmp(key, "write_bytes")) out = v;
    fclose(f);
    return out;
}

/* One commit: frames [from, to), and the batches cut by the previous one
 * acknowledged (pruned). */
static int s_commit(store_t *st, changelog_t *log, dlq_t *dlq, ingest_t *ing,
                    const frame_buf_t *frames, size_t from, size_t to, uint64_t *acked,
                    long *rejected)
{
    MDB_txn *txn = NULL;
    changelog_progress_t p;
    int rc = store_begin(st, 0, &txn);
    if (rc == 0) rc = changelog_progress(log, txn, &p);
    for (size_t i = from; rc == 0 && i < to; i++) {
        reply_t r;
        reply_init(&r);
        rc = ingest_frame(ing, txn, frames[i].data, frames[i].len, "bench", &r);
        *rejected += (long)r.rejected;
        reply_destroy(&r);
    }
    for (uint64_t id = *acked; rc == 0 && id < p.next_batch; id++) {
        int pruned;
        rc = changelog_ack(log, txn, id, &pruned);
    }
    if (rc == 0) rc = changelog_cut(log, txn);
    if (rc == 0) rc = store_commit(&txn);
    store_abort(&txn);
    if (rc == 0) {
        changelog_committed(log);
        dlq_committed(dlq);
        *acked = p.next_batch;
    } else {
        changelog_aborted(log);
        dlq_aborted(dlq);
    }
    return rc;
}

int main(int argc, char **argv)
{
    const char *file = NULL, *dir = NULL;
    int batch = 1000, group = 16;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--batch") && i + 1 < argc) batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--group") && i + 1 < argc) group = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--data") && i + 1 < argc) dir = argv[++i];
        else if (argv[i][0] != '-' && !file) file = argv[i];
        else {
            fprintf(stderr, "usage: bench-ceiling FILE --data EMPTY_DIR [--batch N] [--group N]\n"
                            "  --batch  messages per frame (1000, as riskctl send)\n"
                            "  --group  frames per commit (16)\n");
            return 2;
        }
    }
    if (!file || !dir || batch < 1 || batch > 10000 || group < 1) {
        fprintf(stderr, "bench-ceiling: FILE and --data DIR are required; --batch 1..10000, "
                        "--group >= 1\n");
        return 2;
    }
    frame_buf_t *frames;
    size_t nframes;
    long msgs = s_load(file, batch, &frames, &nframes);
    if (msgs < 0) return 1;

    int rc;
    store_t *st = store_open(dir, tables_state_dbs, (size_t)4 << 30, STORE_WRITEMAP, &rc);
    hier_levels_t levels;
    char why[160];
    if (!st || hier_levels_parse(HIER_DEFAULT, &levels, why, sizeof why)) {
        fprintf(stderr, "bench-ceiling: cannot open %s: %s\n", dir, rp_strerror(rc));
        return 1;
    }
    changelog_t *log = changelog_new(st, 1024, 0, 1, &rc);
    dlq_t *dlq = log ? dlq_new(st, 100000, (uint64_t)256 << 20, &rc) : NULL;
    ingest_t *ing = dlq ? ingest_new(st, log, dlq, &levels, 10000) : NULL;
    if (!ing || (rc = ingest_check_store(st, &levels))) {
        fprintf(stderr, "bench-ceiling: cannot start the engine: %s\n", rp_strerror(rc));
        return 1;
    }
    uint64_t acked = 1;
    long rejected = 0, commits = 0;
    long long wb0 = s_write_bytes();
    double t0 = s_now();
    for (size_t i = 0; i < nframes; i += (size_t)group) {
        size_t to = i + (size_t)group < nframes ? i + (size_t)group : nframes;
        if ((rc = s_commit(st, log, dlq, ing, frames, i, to, &acked, &rejected))) {
            fprintf(stderr, "bench-ceiling: commit failed: %s\n", rp_strerror(rc));
            return 1;
        }
        commits++;
    }
    double secs = s_now() - t0;
    printf("seconds=%.3f msgs=%ld commits=%ld write_bytes=%lld rejected=%ld\n", secs, msgs,
           commits, s_write_bytes() - wb0, rejected);
    ingest_destroy(&ing);
    dlq_destroy(&dlq);
    changelog_destroy(&log);
    store_destroy(&st);
    for (size_t i = 0; i < nframes; i++) free(frames[i].data);
    free(frames);
    return rejected ? 1 : 0;
}
