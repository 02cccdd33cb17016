/* Guards against running the pipeline wrong: one process per data directory
 * (a second state, or a reducer pointed at the state's directory as a shared
 * RISKPIPE_DATA once did, exits non-zero and names the holder), while the
 * process that holds the directory goes on serving. */
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

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
