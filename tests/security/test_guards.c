/* Guards against running the pipeline wrong or feeding it too much: one
 * process per data directory (a second state, or a reducer pointed at the
 * state's directory as a shared RISKPIPE_DATA once did, exits non-zero and
 * names the holder, while the holder goes on serving), and a frame larger
 * than a stage socket's limit is refused before it costs memory. */
#include "../integration/harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static void s_ep(char *buf, size_t cap)
{
    snprintf(buf, cap, "tcp://127.0.0.1:%d", h_free_port());
}

/* The riskctl.log of c (where h_run writes stderr) contains needle. */
static int s_logged(h_cluster_t *c, const char *needle)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/riskctl.log", c->dir);
    size_t len;
    char *text = h_read_file(path, &len);
    int found = text && strstr(text, needle);
    free(text);
    return found;
}

Test(guards, a_second_state_on_the_same_data_dir_exits_non_zero, .timeout = 60,
     .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("guards-state");
    h_start_state(c, NULL);
    char e[6][H_EP_MAX], out[256];
    for (int i = 0; i < 6; i++) s_ep(e[i], sizeof e[i]);
    int rc = h_run(c, "riskpipe-state", out, sizeof out, 20000, "--data", c->state_data,
                   "--ingest", e[0], "--ingest-pull", e[1], "--work", e[2], "--acks", e[3],
                   "--control", e[4], NULL);
    cr_assert_eq(rc, 1, "the second state exited %d", rc);
    cr_assert(s_logged(c, "is in use by another process (pid"), "no clear message");
    cr_assert_eq(h_riskctl(c, NULL, 0, 5000, "ping", "state", "--state-control", c->state_ctl,
                           NULL),
                 0, "the first state stops answering");
    h_passed();
}

Test(guards, a_reducer_on_the_state_data_dir_exits_non_zero, .timeout = 60, .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("guards-shared");
    h_start_state(c, NULL);
    char e[3][H_EP_MAX], out[256];
    for (int i = 0; i < 3; i++) s_ep(e[i], sizeof e[i]);
    int rc = h_run(c, "riskpipe-reducer", out, sizeof out, 20000, "--data", c->state_data,
                   "--results", e[0], "--acks", c->acks, "--control", e[1], NULL);
    cr_assert_eq(rc, 1, "a reducer sharing the state's environment exited %d", rc);
    cr_assert(s_logged(c, "is in use by another process"), "no clear message");
    h_passed();
}

/* Peak resident memory of a process in kB (VmHWM), or -1. */
static long s_peak_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1) break;
    if (f) fclose(f);
    return kb;
}

/* Sends one frame of n bytes on a new PUSH socket to endpoint. */
static void s_push_big(const char *endpoint, size_t n)
{
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_PUSH);
    int linger = 5000;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    cr_assert_eq(zmq_connect(s, endpoint), 0);
    char *buf = calloc(1, n);
    cr_assert_not_null(buf);
    cr_assert_eq(zmq_send(s, buf, n, 0), (int)n);
    free(buf);
    zmq_close(s);
    zmq_ctx_term(ctx); /* returns once it was sent or the peer hung up */
}

Test(guards, an_oversized_frame_to_a_stage_socket_costs_no_memory, .timeout = 120,
     .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("guards-size");
    h_start_state(c, NULL);
    h_start_reducer(c);
    h_start_mapper(c);
    long before = s_peak_kb(c->reducer.pid), sbefore = s_peak_kb(c->state.pid);
    cr_assert_gt(before, 0);
    s_push_big(c->results, (size_t)200 << 20); /* reducer's --max-frame is 64 MiB */
    s_push_big(c->acks, (size_t)200 << 20);    /* an ACK frame is at most ~37 KiB */
    cr_assert_eq(h_riskctl(c, NULL, 0, 10000, "ping", "reducer", "--reducer-control",
                           c->reducer_ctl, NULL),
                 0, "the reducer stops answering");
    long after = s_peak_kb(c->reducer.pid), safter = s_peak_kb(c->state.pid);
    cr_assert_lt(after - before, 50 * 1024, "reducer peak grew from %ld to %ld kB", before,
                 after);
    cr_assert_lt(safter - sbefore, 50 * 1024, "state peak grew from %ld to %ld kB", sbefore,
                 safter);
    /* and the pipeline still works */
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/w.jsonl", c->dir);
    cr_assert_eq(h_riskctl_to_file(c, path, 30000, "gen", "--count", "2000", NULL), 0);
    cr_assert_eq(h_riskctl(c, NULL, 0, 60000, "send", path, "--ingest", c->ingest, NULL), 0);
    h_wait_applied(c, 60);
    h_passed();
}

Test(guards, dev_mode_refuses_an_endpoint_beyond_loopback, .timeout = 60, .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("guards-devmode");
    char e[5][H_EP_MAX], wild[H_EP_MAX], out[256];
    for (int i = 0; i < 5; i++) s_ep(e[i], sizeof e[i]);
    snprintf(wild, sizeof wild, "tcp://0.0.0.0:%d", h_free_port());
    int rc = h_run(c, "riskpipe-state", out, sizeof out, 20000, "--data", c->state_data,
                   "--ingest", wild, "--ingest-pull", e[1], "--work", e[2], "--acks", e[3],
                   "--control", e[4], NULL);
    cr_assert_eq(rc, 1, "a state binding every interface without --insecure exited %d", rc);
    cr_assert(s_logged(c, "refusing tcp://0.0.0.0"), "no message naming the endpoint");
    cr_assert(s_logged(c, "dev mode"), "no dev-mode warning");
    h_passed();
}
