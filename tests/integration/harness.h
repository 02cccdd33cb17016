/* Integration-test harness: starts the real riskpipe daemons on unique ports
 * and mkdtemp data directories, drives riskctl as a user would, and waits for
 * conditions with bounded polling. Independent of the product's code: it only
 * knows the binaries' flags and the documented wire and table formats. */
#ifndef RP_IT_HARNESS_H
#define RP_IT_HARNESS_H

#include <jansson.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#define H_MAX_ARGS 40
#define H_MAX_MAPPERS 8
#define H_EP_MAX 64

/* One child process and the arguments it was started with (kept for
 * restarts). pid is 0 when not running. */
typedef struct {
    char name[32];
    char log[PATH_MAX]; /* stderr (and stdout for daemons), appended to */
    char *argv[H_MAX_ARGS + 1];
    pid_t pid;
    int exit_status; /* raw waitpid status of the last exit */
} h_proc_t;

/* A whole pipeline: one state process, one reducer, any number of mappers. */
typedef struct {
    char dir[512]; /* mkdtemp root; data dirs and logs live inside */
    char state_data[PATH_MAX], reducer_data[PATH_MAX];
    char ingest[H_EP_MAX], ingest_pull[H_EP_MAX], work[H_EP_MAX], acks[H_EP_MAX],
        state_ctl[H_EP_MAX], results[H_EP_MAX], reducer_ctl[H_EP_MAX];
    h_proc_t state, reducer;
    h_proc_t mappers[H_MAX_MAPPERS];
    int nmappers; /* mapper slots used (killed ones stay in their slot) */
    h_proc_t bg;  /* one background riskctl command (e.g. send) */
    int64_t t0_ms;
} h_cluster_t;

/* Milliseconds of a monotonic clock. */
int64_t h_now_ms(void);

/* Directory holding the binaries: $RISKPIPE_BIN or ./bin. Borrowed string. */
const char *h_bindir(void);

/* Returns a TCP port on 127.0.0.1 that was free when checked by binding it,
 * from a range derived from the pid (20000-32000). Aborts the test if none. */
int h_free_port(void);

/* Returns the test's cluster (static storage: Criterion runs each test in its
 * own process, and h_finish runs after the test body has returned), with a
 * new temp dir (prefix names it) and seven free endpoints. */
h_cluster_t *h_cluster_new(const char *prefix);

/* Starts the state process with the cluster's endpoints plus extra flags
 * (NULL-terminated list), and waits until it answers riskctl ping. */
void h_start_state(h_cluster_t *c, ...);

/* Starts the reducer and waits until it answers riskctl ping. */
void h_start_reducer(h_cluster_t *c);

/* Starts one more mapper and waits for its "ready" log line. Returns its slot. */
int h_start_mapper(h_cluster_t *c);

/* Adds "NAME=value" (copied) to the environment of every child started
 * after this call (daemons and riskctl alike), e.g. RISKPIPE_CHAOS, which
 * the harness otherwise strips. h_cluster_new clears the list. */
void h_child_env_add(const char *kv);

/* Reaps p without blocking: returns 1 if it has exited (pid is then 0 and
 * exit_status holds the raw waitpid status) or was not running, 0 if it is
 * still running. */
int h_exited(h_proc_t *p);

/* Starts p again with its stored arguments (its log is appended to). */
void h_restart(h_proc_t *p);

/* Sends sig to p and waits up to timeout_ms for it to exit. Returns the
 * waitpid status, or -1 if it did not exit in time (it is then SIGKILLed). */
int h_stop(h_proc_t *p, int sig, int timeout_ms);

/* Waits until state and reducer answer riskctl ping (after a restart). */
void h_wait_ping(h_cluster_t *c, const char *which, int timeout_ms);

/* Runs "riskctl ARGS..." (NULL-terminated) to completion within timeout_ms,
 * stdout into out[cap] (NUL-terminated, may be NULL), stderr to the cluster's
 * riskctl.log. Returns the exit code, or -1 on timeout or a signal. */
int h_riskctl(h_cluster_t *c, char *out, size_t cap, int timeout_ms, ...);

/* Runs "BINDIR/prog ARGS..." (NULL-terminated) like h_riskctl; stdout goes
 * into out[cap] (NUL-terminated). Returns the exit code, or -1. */
int h_run(h_cluster_t *c, const char *prog, char *out, size_t cap, int timeout_ms, ...);

/* Like h_riskctl with stdout redirected to the file path. */
int h_riskctl_to_file(h_cluster_t *c, const char *path, int timeout_ms, ...);

/* Starts "riskctl ARGS..." in the background as c->bg, stdout to path. */
void h_riskctl_bg(h_cluster_t *c, const char *path, ...);

/* Waits up to timeout_ms for c->bg to exit. Returns its exit code, or -1. */
int h_wait_bg(h_cluster_t *c, int timeout_ms);

/* 1 while c->bg is still running. */
int h_bg_running(h_cluster_t *c);

/* Fetches "riskctl stats" as JSON (caller owns), or NULL when riskctl fails.
 * A process that does not answer has {"error": ...} for its section. */
json_t *h_stats(h_cluster_t *c);

/* Returns stats[section][key] as an integer, or -1 when absent. */
long long h_stat(json_t *stats, const char *section, const char *key);

/* Polls riskctl stats until stats[section][key] >= min (section "state" or
 * "reducer"). Returns 1, or 0 when timeout_ms passes first. */
int h_wait_stat(h_cluster_t *c, const char *section, const char *key, long long min,
                int timeout_ms);

/* Runs "riskctl wait" so every committed change is aggregated; fails the test
 * with the logs when it times out. */
void h_wait_applied(h_cluster_t *c, int timeout_s);

/* Polls cond(arg) every 20 ms until it returns non-zero or timeout_ms passes.
 * Returns the last result. */
int h_wait_for(int (*cond)(void *), void *arg, int timeout_ms);

/* Prints the last lines of every process log of c to stderr. */
void h_dump_logs(h_cluster_t *c);

/* Marks the current test as successful: h_finish then removes the temp dir. */
void h_passed(void);

/* Criterion .fini for every test: stops the processes of the current
 * cluster; on success removes its directory, otherwise prints the log tails
 * and keeps the directory for inspection. */
void h_finish(void);

/* Reads a whole file into a NUL-terminated malloc'ed buffer (caller frees),
 * or NULL. */
char *h_read_file(const char *path, size_t *len);

/* The size of the cluster's riskctl.log, where every riskctl run's stderr
 * goes: a mark taken before a run, to read what that run printed. */
size_t h_log_mark(const h_cluster_t *c);

/* What riskctl printed on stderr since mark (caller frees; never NULL). */
char *h_log_since(const h_cluster_t *c, size_t mark);

#endif
