/* Process, port and polling helpers for the integration tests; see harness.h.
 * Children get PR_SET_PDEATHSIG so that a test killed by its Criterion
 * timeout never leaves daemons behind. */
#include "harness.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define H_PORT_MIN 20000
#define H_PORT_MAX 32000

static h_cluster_t *s_current; /* the cluster h_finish cleans up */
static int s_passed;
#define H_EXTRA_ENV 8
static char s_extra_env[H_EXTRA_ENV][256]; /* h_child_env_add, "NAME=value" */
static int s_nextra;

int64_t h_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

const char *h_bindir(void)
{
    const char *b = getenv("RISKPIPE_BIN");
    return b && *b ? b : "./bin";
}

static int s_port_free(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

int h_free_port(void)
{
    /* Each Criterion test runs in its own worker process, so the pid spreads
     * tests (and concurrent suites) over the range; binding checks the rest.
     * The range stays below the kernel's ephemeral ports (32768+): a client
     * reconnecting to a killed daemon's port could otherwise get that very
     * port as its source port (TCP self-connect) and block the restart. */
    static int next;
    if (!next) next = H_PORT_MIN + (int)(((unsigned)getpid() * 7919u) % 1200u) * 10;
    for (int tries = 0; tries < H_PORT_MAX - H_PORT_MIN; tries++) {
        int p = next++;
        if (next >= H_PORT_MAX) next = H_PORT_MIN;
        if (s_port_free(p)) return p;
    }
    cr_assert_fail("no free TCP port in %d-%d", H_PORT_MIN, H_PORT_MAX);
    return -1;
}

static void s_ep(char *buf, int port)
{
    snprintf(buf, H_EP_MAX, "tcp://127.0.0.1:%d", port);
}

h_cluster_t *h_cluster_new(const char *prefix)
{
    static h_cluster_t cluster;
    h_cluster_t *c = &cluster;
    memset(c, 0, sizeof *c);
    s_current = c;
    s_passed = 0;
    s_nextra = 0;
    c->t0_ms = h_now_ms();
    const char *tmp = getenv("TMPDIR");
    snprintf(c->dir, sizeof c->dir, "%s/riskpipe-it-%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
    cr_assert_not_null(mkdtemp(c->dir), "mkdtemp %s: %s", c->dir, strerror(errno));
    snprintf(c->state_data, sizeof c->state_data, "%.511s/state", c->dir);
    snprintf(c->reducer_data, sizeof c->reducer_data, "%.511s/reducer", c->dir);
    s_ep(c->ingest, h_free_port());
    s_ep(c->ingest_pull, h_free_port());
    s_ep(c->work, h_free_port());
    s_ep(c->acks, h_free_port());
    s_ep(c->state_ctl, h_free_port());
    s_ep(c->results, h_free_port());
    s_ep(c->reducer_ctl, h_free_port());
    snprintf(c->bg.name, sizeof c->bg.name, "riskctl-bg");
    snprintf(c->bg.log, sizeof c->bg.log, "%.511s/riskctl.log", c->dir);
    return c;
}

/* The environment for children without RISKPIPE_* variables, which the
 * daemons read as flag fallbacks: the tests control every setting, and add
 * their own with h_child_env_add. Built before fork because the child may
 * only call async-signal-safe functions. */
static char **s_child_env(void)
{
    static char *env[512];
    int n = 0;
    for (char **e = environ; *e && n < 511 - H_EXTRA_ENV; e++)
        if (strncmp(*e, "RISKPIPE_", 9) != 0) env[n++] = *e;
    for (int i = 0; i < s_nextra; i++)
        env[n++] = s_extra_env[i];
    env[n] = NULL;
    return env;
}

void h_child_env_add(const char *kv)
{
    cr_assert_lt(s_nextra, H_EXTRA_ENV, "too many extra environment variables");
    cr_assert_not_null(strchr(kv, '='), "'%s' is not NAME=value", kv);
    cr_assert_lt(strlen(kv), sizeof s_extra_env[0], "'%s' is too long", kv);
    snprintf(s_extra_env[s_nextra++], sizeof s_extra_env[0], "%s", kv);
}

/* fork + execve of argv with stderr appended to errlog and stdout to outpath
 * (or errlog when outpath is NULL). Returns the pid. */
static pid_t s_spawn(char *const argv[], const char *errlog, const char *outpath)
{
    char **env = s_child_env();
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    cr_assert_geq(pid, 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        int err = open(errlog, O_WRONLY | O_CREAT | O_APPEND, 0644);
        int out = outpath ? open(outpath, O_WRONLY | O_CREAT | O_TRUNC, 0644) : err;
        int in = open("/dev/null", O_RDONLY);
        if (err < 0 || out < 0 || in < 0) _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        execve(argv[0], argv, env);
        _exit(127);
    }
    return pid;
}

static void s_proc_setv(h_proc_t *p, const char *name, const char *dir, const char *prog,
                        const char *const *args, int nargs)
{
    snprintf(p->name, sizeof p->name, "%s", name);
    snprintf(p->log, sizeof p->log, "%s/%s.log", dir, name);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", h_bindir(), prog);
    cr_assert_lt(nargs + 1, H_MAX_ARGS, "too many arguments for %s", name);
    for (int i = 0; i < H_MAX_ARGS && p->argv[i]; i++)
        free(p->argv[i]);
    memset(p->argv, 0, sizeof p->argv);
    p->argv[0] = strdup(path);
    for (int i = 0; i < nargs; i++)
        p->argv[i + 1] = strdup(args[i]);
}

void h_restart(h_proc_t *p)
{
    cr_assert_eq(p->pid, 0, "%s is still running", p->name);
    p->pid = s_spawn(p->argv, p->log, NULL);
}

int h_stop(h_proc_t *p, int sig, int timeout_ms)
{
    if (p->pid <= 0) return p->exit_status;
    kill(p->pid, sig);
    int64_t deadline = h_now_ms() + timeout_ms;
    int st = 0;
    for (;;) {
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid) break;
        if (r < 0 && errno != EINTR) {
            st = -1;
            break;
        }
        if (h_now_ms() > deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &st, 0);
            p->pid = 0;
            p->exit_status = st;
            return -1;
        }
        s_sleep_ms(5);
    }
    p->pid = 0;
    p->exit_status = st;
    return st;
}

/* 1 if p has exited (reaped here), 0 if still running. */
static int s_exited(h_proc_t *p)
{
    if (p->pid <= 0) return 1;
    int st;
    if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
        p->pid = 0;
        p->exit_status = st;
        return 1;
    }
    return 0;
}

int h_exited(h_proc_t *p)
{
    return s_exited(p);
}

static void s_tail(const char *path, int lines)
{
    size_t len;
    char *buf = h_read_file(path, &len);
    if (!buf) return;
    size_t i = len;
    int seen = 0;
    while (i > 0 && seen <= lines)
        if (buf[--i] == '\n') seen++;
    fprintf(stderr, "----- last lines of %s -----\n%s%s", path, buf + (i ? i + 1 : 0),
            len && buf[len - 1] != '\n' ? "\n" : "");
    free(buf);
}

void h_dump_logs(h_cluster_t *c)
{
    if (!c) return;
    s_tail(c->state.log, 25);
    s_tail(c->reducer.log, 25);
    for (int i = 0; i < c->nmappers; i++)
        s_tail(c->mappers[i].log, 10);
    s_tail(c->bg.log, 25);
}

int h_wait_for(int (*cond)(void *), void *arg, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    int r;
    while (!(r = cond(arg)) && h_now_ms() < deadline)
        s_sleep_ms(20);
    return r;
}

/* Collects a NULL-terminated argument list after "riskctl". */
static int s_collect_args(const char **args, int cap, va_list ap)
{
    int n = 0;
    const char *a;
    while ((a = va_arg(ap, const char *)) != NULL) {
        cr_assert_lt(n, cap, "too many riskctl arguments");
        args[n++] = a;
    }
    return n;
}

/* Runs argv to completion; returns the exit code or -1. */
static int s_run(h_cluster_t *c, h_proc_t *p, const char *outpath, int timeout_ms)
{
    p->pid = s_spawn(p->argv, c->bg.log, outpath);
    int st = 0;
    int64_t deadline = h_now_ms() + timeout_ms;
    while (!s_exited(p)) {
        if (h_now_ms() > deadline) {
            fprintf(stderr, "%s timed out after %d ms\n", p->argv[1], timeout_ms);
            h_stop(p, SIGKILL, 5000);
            return -1;
        }
        s_sleep_ms(5);
    }
    st = p->exit_status;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void s_free_argv(h_proc_t *p)
{
    for (int i = 0; i < H_MAX_ARGS && p->argv[i]; i++)
        free(p->argv[i]);
    memset(p->argv, 0, sizeof p->argv);
}

static int s_prog_v(h_cluster_t *c, const char *prog, const char *outpath, int timeout_ms,
                    va_list ap)
{
    const char *args[H_MAX_ARGS];
    int n = s_collect_args(args, H_MAX_ARGS - 2, ap);
    h_proc_t p;
    memset(&p, 0, sizeof p);
    s_proc_setv(&p, "riskctl", c->dir, prog, args, n);
    int rc = s_run(c, &p, outpath, timeout_ms);
    s_free_argv(&p);
    return rc;
}

static int s_riskctl_v(h_cluster_t *c, const char *outpath, int timeout_ms, va_list ap)
{
    return s_prog_v(c, "riskctl", outpath, timeout_ms, ap);
}

int h_run(h_cluster_t *c, const char *prog, char *out, size_t cap, int timeout_ms, ...)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/run.out", c->dir);
    va_list ap;
    va_start(ap, timeout_ms);
    int rc = s_prog_v(c, prog, path, timeout_ms, ap);
    va_end(ap);
    size_t len;
    char *buf = h_read_file(path, &len);
    snprintf(out, cap, "%s", buf ? buf : "");
    free(buf);
    return rc;
}

int h_riskctl_to_file(h_cluster_t *c, const char *path, int timeout_ms, ...)
{
    va_list ap;
    va_start(ap, timeout_ms);
    int rc = s_riskctl_v(c, path, timeout_ms, ap);
    va_end(ap);
    return rc;
}

int h_riskctl(h_cluster_t *c, char *out, size_t cap, int timeout_ms, ...)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/riskctl.out", c->dir);
    va_list ap;
    va_start(ap, timeout_ms);
    int rc = s_riskctl_v(c, path, timeout_ms, ap);
    va_end(ap);
    if (out && cap) {
        size_t len;
        char *buf = h_read_file(path, &len);
        snprintf(out, cap, "%s", buf ? buf : "");
        free(buf);
    }
    return rc;
}

void h_riskctl_bg(h_cluster_t *c, const char *path, ...)
{
    cr_assert_eq(c->bg.pid, 0, "a background riskctl is already running");
    const char *args[H_MAX_ARGS];
    va_list ap;
    va_start(ap, path);
    int n = s_collect_args(args, H_MAX_ARGS - 2, ap);
    va_end(ap);
    s_proc_setv(&c->bg, "riskctl", c->dir, "riskctl", args, n);
    c->bg.pid = s_spawn(c->bg.argv, c->bg.log, path);
}

int h_bg_running(h_cluster_t *c)
{
    return !s_exited(&c->bg);
}

int h_wait_bg(h_cluster_t *c, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    while (!s_exited(&c->bg)) {
        if (h_now_ms() > deadline) return -1;
        s_sleep_ms(10);
    }
    int st = c->bg.exit_status;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void h_wait_ping(h_cluster_t *c, const char *which, int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    h_proc_t *p = strcmp(which, "state") == 0 ? &c->state : &c->reducer;
    for (;;) {
        int rc = h_riskctl(c, NULL, 0, 10000, "ping", which, "--state-control", c->state_ctl,
                           "--reducer-control", c->reducer_ctl, "--timeout-ms", "300", NULL);
        if (rc == 0) return;
        if (s_exited(p)) {
            h_dump_logs(c);
            cr_assert_fail("%s exited during start-up (status %d)", which, p->exit_status);
        }
        if (h_now_ms() > deadline) {
            h_dump_logs(c);
            cr_assert_fail("%s does not answer ping within %d ms", which, timeout_ms);
        }
        s_sleep_ms(20);
    }
}

void h_start_state(h_cluster_t *c, ...)
{
    const char *args[H_MAX_ARGS];
    /* No HTTP endpoint: its default port is one for the whole machine. */
    const char *base[] = {"--data",        c->state_data,  "--ingest",  c->ingest,
                          "--ingest-pull", c->ingest_pull, "--work",    c->work,
                          "--acks",        c->acks,        "--control", c->state_ctl,
                          "--http",        ""};
    int n = (int)(sizeof base / sizeof base[0]);
    memcpy(args, base, sizeof base);
    va_list ap;
    va_start(ap, c);
    n += s_collect_args(args + n, H_MAX_ARGS - 2 - n, ap);
    va_end(ap);
    s_proc_setv(&c->state, "state", c->dir, "riskpipe-state", args, n);
    h_restart(&c->state);
    h_wait_ping(c, "state", 15000);
}

void h_start_reducer(h_cluster_t *c)
{
    const char *args[] = {"--data", c->reducer_data, "--results", c->results,
                          "--acks", c->acks,         "--control", c->reducer_ctl,
                          "--http", ""};
    s_proc_setv(&c->reducer, "reducer", c->dir, "riskpipe-reducer", args,
                (int)(sizeof args / sizeof args[0]));
    h_restart(&c->reducer);
    h_wait_ping(c, "reducer", 15000);
}

typedef struct {
    h_proc_t *p;
} s_ready_arg_t;

static int s_mapper_ready(void *arg)
{
    h_proc_t *p = ((s_ready_arg_t *)arg)->p;
    size_t len;
    char *buf = h_read_file(p->log, &len);
    int ok = buf && strstr(buf, "ready") != NULL;
    free(buf);
    return ok || s_exited(p);
}

int h_start_mapper(h_cluster_t *c)
{
    cr_assert_lt(c->nmappers, H_MAX_MAPPERS, "too many mappers");
    int i = c->nmappers++;
    char name[32];
    snprintf(name, sizeof name, "mapper%d", i);
    const char *args[] = {"--work", c->work, "--results", c->results};
    s_proc_setv(&c->mappers[i], name, c->dir, "riskpipe-mapper", args, 4);
    h_restart(&c->mappers[i]);
    s_ready_arg_t a = {&c->mappers[i]};
    int ok = h_wait_for(s_mapper_ready, &a, 15000);
    if (!ok || c->mappers[i].pid == 0) {
        h_dump_logs(c);
        cr_assert_fail("%s did not become ready", name);
    }
    return i;
}

json_t *h_stats(h_cluster_t *c)
{
    char out[16384];
    int rc = h_riskctl(c, out, sizeof out, 10000, "stats", "--state-control", c->state_ctl,
                       "--reducer-control", c->reducer_ctl, "--timeout-ms", "1000", NULL);
    /* Exit 1 means one process did not answer; the other's counters are
     * still printed. */
    if (rc != 0 && rc != 1) return NULL;
    json_error_t err;
    return json_loads(out, 0, &err);
}

long long h_stat(json_t *stats, const char *section, const char *key)
{
    json_t *v = json_object_get(json_object_get(stats, section), key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

int h_wait_stat(h_cluster_t *c, const char *section, const char *key, long long min,
                int timeout_ms)
{
    int64_t deadline = h_now_ms() + timeout_ms;
    for (;;) {
        json_t *st = h_stats(c);
        long long v = st ? h_stat(st, section, key) : -1;
        json_decref(st);
        if (v >= min) return 1;
        if (h_now_ms() > deadline) return 0;
        s_sleep_ms(20);
    }
}

void h_wait_applied(h_cluster_t *c, int timeout_s)
{
    char t[16], out[256];
    snprintf(t, sizeof t, "%d", timeout_s);
    int rc = h_riskctl(c, out, sizeof out, (timeout_s + 10) * 1000, "wait", "--state-control",
                       c->state_ctl, "--timeout", t, NULL);
    if (rc != 0) {
        json_t *st = h_stats(c);
        char *dump = st ? json_dumps(st, JSON_INDENT(1)) : NULL;
        fprintf(stderr, "riskctl wait failed (%d); stats: %s\n", rc, dump ? dump : "(none)");
        free(dump);
        json_decref(st);
        h_dump_logs(c);
        cr_assert_fail("riskctl wait --timeout %d exited %d", timeout_s, rc);
    }
}

char *h_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
            }
            buf = nb;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

size_t h_log_mark(const h_cluster_t *c)
{
    struct stat st;
    return stat(c->bg.log, &st) == 0 ? (size_t)st.st_size : 0;
}

char *h_log_since(const h_cluster_t *c, size_t mark)
{
    size_t len = 0;
    char *all = h_read_file(c->bg.log, &len);
    char *out = strdup(all && len > mark ? all + mark : "");
    free(all);
    cr_assert_not_null(out);
    return out;
}

void h_passed(void)
{
    s_passed = 1;
}

static void s_rmtree(const char *dir)
{
    /* nftw would do; a child rm keeps this short and handles LMDB files. */
    char *const argv[] = {"/bin/rm", "-rf", (char *)dir, NULL};
    pid_t pid = fork();
    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid > 0) waitpid(pid, NULL, 0);
}

void h_finish(void)
{
    h_cluster_t *c = s_current;
    if (!c) return;
    s_current = NULL;
    h_stop(&c->bg, SIGKILL, 5000);
    for (int i = 0; i < c->nmappers; i++)
        h_stop(&c->mappers[i], SIGTERM, 5000);
    h_stop(&c->reducer, SIGTERM, 5000);
    h_stop(&c->state, SIGTERM, 5000);
    if (s_passed) {
        s_rmtree(c->dir);
    } else {
        h_dump_logs(c);
        fprintf(stderr, "test failed: data and logs kept in %s\n", c->dir);
    }
    fprintf(stderr, "[time] %.1f s in %s\n", (double)(h_now_ms() - c->t0_ms) / 1000.0, c->dir);
    s_free_argv(&c->state);
    s_free_argv(&c->reducer);
    s_free_argv(&c->bg);
    for (int i = 0; i < c->nmappers; i++)
        s_free_argv(&c->mappers[i]);
}
