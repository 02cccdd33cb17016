/* Fault-injection tests: a generated workload goes through acknowledged
 * ingest while a seeded schedule SIGKILLs and restarts every process,
 * freezes mappers past the redelivery timeout, and adds and removes mappers;
 * a second test runs the daemons' own chaos mode under a restart loop. After
 * quiescence the tables must equal the model computed in the test.
 *
 * RISKPIPE_FAULT_SEEDS=N (seeds 1..N) or a list "3,7,9" selects the seeds
 * (default 2); RISKPIPE_FAULT_SEED=S replays one seed. RISKPIPE_FAULT_RATE
 * sets the feed rate in messages per second (default 25000). */
#include "harness.h"
#include "model.h"
#include "workload.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FAULT_MESSAGES 300000L
#define CHAOS_MESSAGES 100000L
#define CHAOS_SPEC "RISKPIPE_CHAOS=state:5,mapper:10,reducer:10"
#define DEFAULT_RATE 25000L
#define REDELIVER_MS 400
#define MIN_EVENTS 20
#define MAX_EVENTS 32
#define MAX_SEEDS 256
#define POOL_MAPPERS 6 /* mapper slots the schedule may use */

static long s_env_long(const char *name, long def, long min, long max)
{
    const char *v = getenv(name);
    if (!v || !*v) return def;
    char *end;
    long n = strtol(v, &end, 10);
    return *end == 0 && n >= min && n <= max ? n : def;
}

static void s_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The seeds of this run: RISKPIPE_FAULT_SEED, else RISKPIPE_FAULT_SEEDS as
 * a count or a comma-separated list, else 1 and 2. */
static int s_seeds[MAX_SEEDS];

static size_t s_parse_seeds(void)
{
    const char *one = getenv("RISKPIPE_FAULT_SEED");
    if (one && *one) {
        s_seeds[0] = (int)s_env_long("RISKPIPE_FAULT_SEED", 1, 0, INT_MAX);
        return 1;
    }
    const char *list = getenv("RISKPIPE_FAULT_SEEDS");
    size_t n = 0;
    if (list && strchr(list, ',')) {
        for (const char *p = list; *p && n < MAX_SEEDS;) {
            char *end;
            long v = strtol(p, &end, 10);
            if (end == p) break;
            if (v >= 0 && v <= INT_MAX) s_seeds[n++] = (int)v;
            p = *end == ',' ? end + 1 : end;
        }
    } else {
        long count = s_env_long("RISKPIPE_FAULT_SEEDS", 2, 1, MAX_SEEDS);
        for (long i = 0; i < count; i++)
            s_seeds[n++] = (int)(i + 1);
    }
    if (n == 0) s_seeds[n++] = 1;
    return n;
}

typedef struct {
    uint64_t s;
} rng_t;

static uint64_t s_rand(rng_t *r) /* splitmix64: the schedule depends on the seed only */
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static long s_below(rng_t *r, long n)
{
    return n > 0 ? (long)(s_rand(r) % (uint64_t)n) : 0;
}

typedef enum {
    EV_STATE_KILL,
    EV_REDUCER_KILL,
    EV_MAPPER_KILL,
    EV_MAPPER_STOP,
    EV_MAPPER_ADD,
    EV_MAPPER_REMOVE,
    EV_KINDS
} ev_kind_t;

static const char *const s_ev_names[EV_KINDS] = {"state-kill",  "reducer-kill", "mapper-kill",
                                                 "mapper-stop", "mapper-add",   "mapper-remove"};

/* One planned fault: at_line is the number of workload lines fed to
 * riskctl send when it fires; ms is the down time of a killed state or
 * reducer, or how long a mapper stays stopped; freeze_ms, when not 0, stops
 * a state or reducer that long before the kill, so that frames sent to it
 * meanwhile are surely lost with it; pick chooses the mapper. */
typedef struct {
    ev_kind_t kind;
    long at_line;
    int ms, freeze_ms;
    uint64_t pick;
} ev_t;

/* Everything one seeded run needs. */
typedef struct {
    int seed;
    h_cluster_t *c;
    ev_t ev[MAX_EVENTS];
    int nev, next;
    int base_mappers;
    long rate;
    /* The workload in memory, and the feeder process writing it into the
     * FIFO riskctl send reads; *shared_fed counts the lines written. */
    char *buf;
    size_t len;
    long *line_off; /* count + 1 offsets: line i starts at line_off[i] */
    long count, fed;
    volatile long *shared_fed;
    pid_t feeder;
    int release_fd; /* closing it lets the feeder write the last line */
    int64_t t0, feed_t0;
    /* Pending restarts and SIGCONTs (0: none). */
    int64_t state_up_at, reducer_up_at;
    int64_t cont_at[H_MAX_MAPPERS];
    /* What happened. */
    long done[EV_KINDS], skipped, mid_stream;
    long long redelivered, reducer_dups; /* summed over killed incarnations */
} run_t;

static void s_say(const run_t *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void s_say(const run_t *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "faults: seed %d: %s\n", r->seed, msg);
}

/* Plans the faults: every kind at least twice, the rest drawn at random,
 * shuffled, one per equal slice of 3-95 % of the workload (at a random point
 * inside its slice) so that they spread over the whole send. */
static void s_plan(run_t *r, rng_t *rng)
{
    r->nev = MIN_EVENTS + 3 + (int)s_below(rng, 5);
    for (int i = 0; i < r->nev; i++)
        r->ev[i].kind =
            i < 2 * EV_KINDS ? (ev_kind_t)(i % EV_KINDS) : (ev_kind_t)s_below(rng, EV_KINDS);
    for (int i = r->nev - 1; i > 0; i--) {
        int j = (int)s_below(rng, i + 1);
        ev_kind_t t = r->ev[i].kind;
        r->ev[i].kind = r->ev[j].kind;
        r->ev[j].kind = t;
    }
    long lo = r->count * 3 / 100, span = r->count * 92 / 100;
    for (int i = 0; i < r->nev; i++) {
        ev_t *e = &r->ev[i];
        long slice_lo = lo + span * i / r->nev, slice_hi = lo + span * (i + 1) / r->nev;
        e->at_line = slice_lo + s_below(rng, slice_hi - slice_lo);
        e->pick = s_rand(rng);
        if (e->kind == EV_MAPPER_STOP)
            e->ms = 2 * REDELIVER_MS + (int)s_below(rng, 600); /* past the redelivery */
        if (e->kind == EV_STATE_KILL || e->kind == EV_REDUCER_KILL) {
            e->ms = (int)s_below(rng, 400);
            e->freeze_ms = s_below(rng, 2) ? 50 + (int)s_below(rng, 200) : 0;
        }
    }
}

/* Occurrences of needle in the file at path (0 when it cannot be read). */
static long s_count_in_file(const char *path, const char *needle)
{
    size_t len;
    char *buf = h_read_file(path, &len);
    long n = 0;
    for (const char *p = buf; p && (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    free(buf);
    return n;
}

/* Starts mapper slot i again (a new process in the old slot) and waits for
 * one more "ready as" line in its log. */
static void s_mapper_respawn(h_cluster_t *c, int i)
{
    h_proc_t *p = &c->mappers[i];
    long before = s_count_in_file(p->log, "ready as");
    h_restart(p);
    int64_t deadline = h_now_ms() + 15000;
    while (s_count_in_file(p->log, "ready as") <= before) {
        if (h_exited(p) || h_now_ms() > deadline) {
            h_dump_logs(c);
            cr_assert_fail("%s did not become ready again (status %d)", p->name, p->exit_status);
        }
        s_sleep_ms(10);
    }
}

/* Starts one more mapper, in a slot left free by a removed one if any.
 * Returns its slot. */
static int s_mapper_add(h_cluster_t *c)
{
    for (int i = 0; i < c->nmappers; i++)
        if (c->mappers[i].pid == 0) {
            s_mapper_respawn(c, i);
            return i;
        }
    return h_start_mapper(c);
}

static int s_mappers_running(const h_cluster_t *c)
{
    int n = 0;
    for (int i = 0; i < c->nmappers; i++)
        n += c->mappers[i].pid > 0;
    return n;
}

/* The feeder, a forked copy of the test process: writes the workload into
 * the FIFO at r->rate messages per second in 10 ms steps, whatever the test
 * process is doing meanwhile, publishing its progress in *shared_fed. It
 * holds back the last line until release_fd reaches end of file, so that
 * riskctl send cannot finish before every planned fault has happened. */
static void s_feeder(run_t *r, const char *fifo, int release_rd)
{
    signal(SIGPIPE, SIG_IGN); /* a dead riskctl: EPIPE, exit 3 */
    int fd = open(fifo, O_WRONLY);
    if (fd < 0) _exit(2);
    int64_t t0 = h_now_ms();
    size_t pos = 0, hold = (size_t)r->line_off[r->count - 1];
    long fed = 0;
    for (;;) {
        long target = (long)((h_now_ms() - t0) * r->rate / 1000);
        size_t want = (size_t)r->line_off[target < r->count ? target : r->count];
        if (want > hold) {
            want = hold;
            if (pos == hold) {
                char b;
                while (read(release_rd, &b, 1) < 0 && errno == EINTR) {
                }
                want = r->len;
            }
        }
        while (pos < want) {
            ssize_t w = write(fd, r->buf + pos, want - pos);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) _exit(3);
            pos += (size_t)w;
            while (fed < r->count && (size_t)r->line_off[fed + 1] <= pos)
                fed++;
            __atomic_store_n(r->shared_fed, fed, __ATOMIC_RELAXED);
        }
        if (pos == r->len) break;
        s_sleep_ms(10);
    }
    close(fd);
    _exit(0);
}

/* Starts the feeder; r->release_fd is the parent's end of the release pipe. */
static void s_start_feeder(run_t *r, const char *fifo)
{
    r->shared_fed =
        mmap(NULL, sizeof(long), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq((void *)r->shared_fed, MAP_FAILED, "mmap: %s", strerror(errno));
    int p[2];
    /* Close-on-exec: the daemons started later must not hold the pipe. */
    cr_assert_eq(pipe2(p, O_CLOEXEC), 0, "pipe2: %s", strerror(errno));
    pid_t parent = getpid();
    fflush(NULL);
    r->feeder = fork();
    cr_assert_geq(r->feeder, 0, "fork: %s", strerror(errno));
    if (r->feeder == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(1);
        close(p[1]);
        s_feeder(r, fifo, p[0]);
    }
    close(p[0]);
    r->release_fd = p[1];
}

/* Reads the feeder's progress; fails the test if it exited with an error. */
static long s_fed(run_t *r)
{
    int st;
    if (r->feeder > 0 && waitpid(r->feeder, &st, WNOHANG) == r->feeder) {
        r->feeder = 0;
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0,
                  "seed %d: the feeder failed (status 0x%x; 3: riskctl send stopped reading)",
                  r->seed, st);
    }
    return r->fed = __atomic_load_n(r->shared_fed, __ATOMIC_RELAXED);
}

/* Adds the state's redelivery counter (and the reducer's duplicate-batch
 * counter) of the running incarnations to the run's sums: both live in the
 * processes' memory and are lost with a kill. */
static void s_bank_counters(run_t *r, int state, int reducer)
{
    json_t *st = h_stats(r->c);
    long long v;
    if (state && (v = h_stat(st, "state", "batches_redelivered")) > 0) r->redelivered += v;
    if (reducer && (v = h_stat(st, "reducer", "batches_duplicate")) > 0) r->reducer_dups += v;
    json_decref(st);
}

/* Restarts a killed state or reducer whose down time is over, and resumes
 * stopped mappers whose time is up (now, when force is set). */
static void s_due(run_t *r, int force)
{
    h_cluster_t *c = r->c;
    int64_t now = h_now_ms();
    if (r->state_up_at && (force || now >= r->state_up_at)) {
        h_restart(&c->state);
        h_wait_ping(c, "state", 15000);
        r->state_up_at = 0;
    }
    if (r->reducer_up_at && (force || now >= r->reducer_up_at)) {
        h_restart(&c->reducer);
        h_wait_ping(c, "reducer", 15000);
        r->reducer_up_at = 0;
    }
    for (int i = 0; i < c->nmappers; i++)
        if (r->cont_at[i] && (force || now >= r->cont_at[i])) {
            cr_assert_eq(kill(c->mappers[i].pid, SIGCONT), 0, "SIGCONT %s: %s", c->mappers[i].name,
                         strerror(errno));
            r->cont_at[i] = 0;
        }
}

/* Fails the test when a process the schedule did not take down has exited:
 * without chaos mode no daemon may die on its own. */
static void s_check_alive(run_t *r)
{
    h_cluster_t *c = r->c;
    h_proc_t *procs[2 + H_MAX_MAPPERS];
    int n = 0;
    procs[n++] = &c->state;
    procs[n++] = &c->reducer;
    for (int i = 0; i < c->nmappers; i++)
        procs[n++] = &c->mappers[i];
    for (int i = 0; i < n; i++)
        if (procs[i]->pid > 0 && h_exited(procs[i])) {
            h_dump_logs(c);
            cr_assert_fail("seed %d: %s exited on its own (status 0x%x) at line %ld", r->seed,
                           procs[i]->name, procs[i]->exit_status, r->fed);
        }
}

/* Picks a mapper slot whose process runs (and, if not_stopped, is not
 * frozen) with e->pick; -1 when there is none. */
static int s_pick_mapper(const run_t *r, const ev_t *e, int not_stopped)
{
    int cand[H_MAX_MAPPERS], n = 0;
    for (int i = 0; i < r->c->nmappers; i++)
        if (r->c->mappers[i].pid > 0 && !(not_stopped && r->cont_at[i])) cand[n++] = i;
    return n ? cand[e->pick % (uint64_t)n] : -1;
}

/* SIGKILLs p, after freezing it for freeze_ms if not 0 (a deliberate fault
 * duration, not a wait), and expects it to die of that signal. */
static void s_kill9(run_t *r, h_proc_t *p, int freeze_ms)
{
    if (freeze_ms) {
        cr_assert_eq(kill(p->pid, SIGSTOP), 0, "SIGSTOP %s: %s", p->name, strerror(errno));
        s_sleep_ms(freeze_ms);
    }
    int st = h_stop(p, SIGKILL, 5000);
    cr_assert(st != -1 && WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
              "seed %d: %s was not killed by SIGKILL (status 0x%x)", r->seed, p->name, st);
}

/* Stops mapper slot i with SIGTERM and expects a clean exit; a frozen
 * mapper gets SIGCONT after the SIGTERM so that it can act on it. */
static void s_mapper_remove(run_t *r, int i)
{
    h_proc_t *p = &r->c->mappers[i];
    int st;
    if (r->cont_at[i]) {
        cr_assert_eq(kill(p->pid, SIGTERM), 0, "SIGTERM %s: %s", p->name, strerror(errno));
        r->cont_at[i] = 0;
        st = h_stop(p, SIGCONT, 5000);
    } else {
        st = h_stop(p, SIGTERM, 5000);
    }
    cr_assert(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "seed %d: %s did not exit 0 after SIGTERM (status 0x%x)", r->seed, p->name, st);
}

/* Executes one planned event and prints it. */
static void s_execute(run_t *r, const ev_t *e)
{
    h_cluster_t *c = r->c;
    int mid = h_bg_running(c);
    char what[160] = "", fz[48] = "";
    int done = 1, i;
    if (e->freeze_ms) snprintf(fz, sizeof fz, " after a %d ms freeze", e->freeze_ms);
    switch (e->kind) {
    case EV_STATE_KILL:
        if (r->state_up_at) r->state_up_at = 1; /* still down: bring it back first */
        s_due(r, 0);
        s_bank_counters(r, 1, 0);
        snprintf(what, sizeof what, "state pid %d killed%s, down %d ms", (int)c->state.pid, fz,
                 e->ms);
        s_kill9(r, &c->state, e->freeze_ms);
        r->state_up_at = h_now_ms() + e->ms;
        break;
    case EV_REDUCER_KILL:
        if (r->reducer_up_at) r->reducer_up_at = 1;
        s_due(r, 0);
        s_bank_counters(r, 0, 1);
        snprintf(what, sizeof what, "reducer pid %d killed%s, down %d ms", (int)c->reducer.pid, fz,
                 e->ms);
        s_kill9(r, &c->reducer, e->freeze_ms);
        r->reducer_up_at = h_now_ms() + e->ms;
        break;
    case EV_MAPPER_KILL:
        i = s_pick_mapper(r, e, 0);
        cr_assert_geq(i, 0, "seed %d: no mapper running", r->seed);
        snprintf(what, sizeof what, "%s pid %d killed%s, replacement started", c->mappers[i].name,
                 (int)c->mappers[i].pid, r->cont_at[i] ? " while stopped" : "");
        s_kill9(r, &c->mappers[i], 0);
        r->cont_at[i] = 0;
        s_mapper_respawn(c, i);
        break;
    case EV_MAPPER_STOP:
        i = s_pick_mapper(r, e, 1);
        if (i < 0) {
            done = 0;
            snprintf(what, sizeof what, "skipped: every mapper is stopped");
            break;
        }
        cr_assert_eq(kill(c->mappers[i].pid, SIGSTOP), 0, "SIGSTOP: %s", strerror(errno));
        r->cont_at[i] = h_now_ms() + e->ms;
        snprintf(what, sizeof what, "%s pid %d stopped for %d ms", c->mappers[i].name,
                 (int)c->mappers[i].pid, e->ms);
        break;
    case EV_MAPPER_ADD:
        /* At the pool's size, one mapper leaves first: the add still happens. */
        i = s_mappers_running(c) >= POOL_MAPPERS ? s_pick_mapper(r, e, 0) : -1;
        if (i >= 0) s_mapper_remove(r, i);
        int added = s_mapper_add(c);
        snprintf(what, sizeof what, "%s pid %d started (%d running%s)", c->mappers[added].name,
                 (int)c->mappers[added].pid, s_mappers_running(c),
                 i >= 0 ? ", after a SIGTERM to one" : "");
        break;
    case EV_MAPPER_REMOVE:
        /* With a single mapper, a new one starts first: one always stays. */
        i = s_pick_mapper(r, e, 0);
        cr_assert_geq(i, 0, "seed %d: no mapper running", r->seed);
        int alone = s_mappers_running(c) < 2;
        if (alone) s_mapper_add(c);
        snprintf(what, sizeof what, "%s pid %d stopped with SIGTERM%s%s", c->mappers[i].name,
                 (int)c->mappers[i].pid, r->cont_at[i] ? " while frozen, then SIGCONT" : "",
                 alone ? " (another mapper started first)" : "");
        s_mapper_remove(r, i);
        break;
    default:
        cr_assert_fail("unknown event kind %d", (int)e->kind);
    }
    r->done[e->kind] += done;
    r->skipped += !done;
    r->mid_stream += done && mid;
    s_say(r, "t=%6.2fs line %6ld/%ld event %2d/%d %-13s %s%s",
          (double)(h_now_ms() - r->t0) / 1000.0, r->fed, r->count, r->next + 1, r->nev,
          s_ev_names[e->kind], what, mid ? "" : " (after the send)");
}

/* Frames riskctl send re-sent, from the summary of its last run in the
 * cluster's riskctl.log; -1 when absent. */
static long long s_frames_resent(const h_cluster_t *c)
{
    size_t len;
    char *buf = h_read_file(c->bg.log, &len);
    long long n = -1;
    const char *last = NULL;
    for (const char *p = buf; p && (p = strstr(p, "frames re-sent ")) != NULL; p++)
        last = p;
    if (last) sscanf(last, "frames re-sent %lld", &n);
    free(buf);
    return n;
}

/* The exactness checks after quiescence: riskctl send saw every message
 * answered, the aggregate table equals the model row for row, riskctl verify
 * agrees, and the state table holds every trade with the model's winning
 * Version and Value (no acknowledged message lost). who names the run in
 * messages. Returns the number of aggregate rows. */
static long s_check_exact(h_cluster_t *c, const model_t *m, long count, const char *send_out,
                          const char *who)
{
    workload_sent_t s = workload_read_send(send_out);
    /* A frame committed just before a kill and re-sent after it is counted
     * as duplicates, so only the sum is exact. */
    cr_assert_eq(s.accepted + s.duplicates, count, "%s: accepted %lld + duplicates %lld != %ld",
                 who, s.accepted, s.duplicates, count);
    cr_assert_eq(s.rejected, 0, "%s: rejected %lld", who, s.rejected);
    cr_assert_eq(s.conflicts, 0, "%s: conflicts %lld", who, s.conflicts);
    cr_assert_eq(s.bad_lines, 0, "%s: bad_lines %lld", who, s.bad_lines);
    long rows = 0;
    long bad = model_compare_aggregates(m, c->reducer_data, &rows);
    cr_assert_eq(bad, 0, "%s: aggregate table differs from the model in %ld row(s) (of %ld)", who,
                 bad, rows);
    cr_assert_gt(rows, 0, "%s: no aggregate rows expected", who);
    char out[4096];
    int rc = h_riskctl(c, out, sizeof out, 120000, "verify", "--state-data", c->state_data,
                       "--reducer-data", c->reducer_data, NULL);
    cr_assert_eq(rc, 0, "%s: riskctl verify exited %d:\n%s", who, rc, out);
    bad = model_compare_state(m, c->state_data);
    cr_assert_eq(bad, 0, "%s: state table differs from the model in %ld trade(s)", who, bad);
    json_t *st = h_stats(c);
    cr_assert_not_null(st, "%s: riskctl stats failed", who);
    long long committed = h_stat(st, "state", "committed_seq");
    long long applied = h_stat(st, "state", "applied_seq");
    json_decref(st);
    cr_assert_eq(applied, committed, "%s: applied_seq %lld != committed_seq %lld", who, applied,
                 committed);
    /* Every acknowledged acceptance is in the durable log. */
    cr_assert_geq(committed, s.accepted, "%s: committed_seq %lld < acknowledged accepted %lld", who,
                  committed, s.accepted);
    return rows;
}

ParameterizedTestParameters(faults, seeded_schedule)
{
    size_t n = s_parse_seeds();
    return cr_make_param_array(int, s_seeds, n);
}

ParameterizedTest(int *seed, faults, seeded_schedule, .timeout = 400, .fini = h_finish)
{
    static run_t run;
    run_t *r = &run;
    memset(r, 0, sizeof *r);
    r->seed = *seed;
    /* RISKPIPE_TEST_QUICK shrinks messages and rate together, so the send
     * lasts as long and the number of fault events stays the same. */
    r->count = workload_scale(FAULT_MESSAGES);
    r->rate = workload_scale(s_env_long("RISKPIPE_FAULT_RATE", DEFAULT_RATE, 1000, 10000000));
    rng_t rng = {(uint64_t)r->seed * 0x2545f4914f6cdd1dULL + 0x5eedULL};
    s_plan(r, &rng);
    r->base_mappers = 2 + (int)s_below(&rng, 2);

    char prefix[32];
    snprintf(prefix, sizeof prefix, "faults-%d", r->seed);
    h_cluster_t *c = r->c = h_cluster_new(prefix);
    r->t0 = h_now_ms();
    s_say(r,
          "%ld messages at %ld msg/s, %d mappers, --redeliver-ms %d, %d events planned "
          "(replay: RISKPIPE_FAULT_SEED=%d), dir %s",
          r->count, r->rate, r->base_mappers, REDELIVER_MS, r->nev, r->seed, c->dir);
    char redeliver[16];
    snprintf(redeliver, sizeof redeliver, "%d", REDELIVER_MS);
    h_start_state(c, "--redeliver-ms", redeliver, NULL);
    h_start_reducer(c);
    for (int i = 0; i < r->base_mappers; i++)
        h_start_mapper(c);

    char file[PATH_MAX], fifo[PATH_MAX], out[PATH_MAX];
    model_t *m = workload_new(c, r->seed, r->count, file, sizeof file);
    r->buf = h_read_file(file, &r->len);
    cr_assert_not_null(r->buf, "cannot read %s", file);
    r->line_off = malloc((size_t)(r->count + 1) * sizeof *r->line_off);
    cr_assert_not_null(r->line_off);
    long nl = 0;
    r->line_off[0] = 0;
    for (size_t i = 0; i < r->len && nl < r->count; i++)
        if (r->buf[i] == '\n') r->line_off[++nl] = (long)i + 1;
    cr_assert_eq(nl, r->count, "workload has %ld complete lines", nl);
    cr_assert_eq((size_t)r->line_off[r->count], r->len, "workload does not end with a newline");

    /* riskctl send reads the FIFO the feeder fills at the feed rate, so the
     * send lasts about count / rate seconds whatever the machine. */
    snprintf(fifo, sizeof fifo, "%.4000s/feed.fifo", c->dir);
    snprintf(out, sizeof out, "%.4000s/send.out", c->dir);
    cr_assert_eq(mkfifo(fifo, 0600), 0, "mkfifo %s: %s", fifo, strerror(errno));
    h_riskctl_bg(c, out, "send", fifo, "--ingest", c->ingest, "--timeout-ms", "1500", "--retries",
                 "1000", NULL);
    s_start_feeder(r, fifo);
    r->feed_t0 = h_now_ms();
    s_say(r, "t=%6.2fs sending", (double)(r->feed_t0 - r->t0) / 1000.0);

    int64_t deadline = h_now_ms() + (int64_t)(r->count / r->rate) * 1000 * 3 + 120000;
    while (r->next < r->nev) {
        s_due(r, 0);
        s_check_alive(r);
        if (s_fed(r) >= r->ev[r->next].at_line) {
            s_execute(r, &r->ev[r->next]);
            r->next++;
            continue;
        }
        if (!h_bg_running(c)) {
            h_dump_logs(c);
            cr_assert_fail("seed %d: riskctl send exited (status 0x%x) before its input ended, "
                           "at line %ld",
                           r->seed, c->bg.exit_status, r->fed);
        }
        cr_assert_lt(h_now_ms(), deadline, "seed %d: feeding stalled at line %ld of %ld", r->seed,
                     r->fed, r->count);
        s_sleep_ms(5);
    }
    /* Every fault is done: let the feeder write its last line. */
    close(r->release_fd);
    while (r->feeder > 0 && s_fed(r) < r->count) {
        s_due(r, 0);
        s_check_alive(r);
        cr_assert_lt(h_now_ms(), deadline, "seed %d: feeding stalled at line %ld of %ld", r->seed,
                     r->fed, r->count);
        s_sleep_ms(5);
    }
    int64_t fed_ms = h_now_ms();
    s_due(r, 1);
    int rc = h_wait_bg(c, 300000);
    int64_t sent_ms = h_now_ms();
    s_check_alive(r);
    if (rc != 0) h_dump_logs(c);
    cr_assert_eq(rc, 0, "seed %d: riskctl send exited %d (it must retry through restarts)", r->seed,
                 rc);
    h_wait_applied(c, 180);
    int64_t quiet_ms = h_now_ms();
    s_bank_counters(r, 1, 1);

    long events = 0;
    for (int k = 0; k < EV_KINDS; k++)
        events += r->done[k];
    s_say(r,
          "%ld messages, %ld events (%ld while sending, %ld skipped): state-kill %ld, "
          "reducer-kill %ld, mapper-kill %ld, mapper-stop %ld, mapper-add %ld, mapper-remove "
          "%ld; batches redelivered %lld, reducer duplicate batches %lld, frames re-sent by "
          "riskctl %lld; send %.1f s (input fed in %.1f s), quiescence %.2f s after the send",
          r->count, events, r->mid_stream, r->skipped, r->done[EV_STATE_KILL],
          r->done[EV_REDUCER_KILL], r->done[EV_MAPPER_KILL], r->done[EV_MAPPER_STOP],
          r->done[EV_MAPPER_ADD], r->done[EV_MAPPER_REMOVE], r->redelivered, r->reducer_dups,
          s_frames_resent(c), (double)(sent_ms - r->feed_t0) / 1000.0,
          (double)(fed_ms - r->feed_t0) / 1000.0, (double)(quiet_ms - sent_ms) / 1000.0);

    char who[32];
    snprintf(who, sizeof who, "seed %d", r->seed);
    cr_assert_geq(r->mid_stream, MIN_EVENTS, "seed %d: only %ld fault events while sending",
                  r->seed, r->mid_stream);
    long rows = s_check_exact(c, m, r->count, out, who);
    /* Frozen and killed mappers held batches: they must have been re-sent. */
    cr_assert_gt(r->redelivered, 0, "seed %d: no batch was redelivered", r->seed);
    s_say(r, "PASS: %ld aggregate rows and %ld trades exact, riskctl verify ok, %.1f s in all",
          rows, model_trades(m), (double)(h_now_ms() - r->t0) / 1000.0);
    model_destroy(&m);
    free(r->line_off);
    free(r->buf);
    h_passed();
}

/* Restarts every daemon that has exited; counts the exits by cause. */
typedef struct {
    h_cluster_t *c;
    long aborts[3], other[3], restarts; /* [0] state, [1] reducer, [2] mappers */
} chaos_sup_t;

static void s_supervise(chaos_sup_t *s)
{
    h_cluster_t *c = s->c;
    for (int i = 0; i < 2 + c->nmappers; i++) {
        h_proc_t *p = i == 0 ? &c->state : i == 1 ? &c->reducer : &c->mappers[i - 2];
        int role = i < 2 ? i : 2;
        if (p->pid <= 0 || !h_exited(p)) continue;
        int st = p->exit_status;
        if (WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT) {
            s->aborts[role]++;
        } else {
            s->other[role]++;
            fprintf(stderr, "faults: chaos: %s exited with status 0x%x (not a chaos abort)\n",
                    p->name, st);
        }
        cr_assert_lt(s->restarts, 2000, "chaos: more than 2000 restarts; last %s", p->name);
        s->restarts++;
        h_restart(p);
    }
}

Test(faults, chaos_mode, .timeout = 600, .fini = h_finish)
{
    int seed = (int)s_env_long("RISKPIPE_FAULT_SEED", 1, 0, INT_MAX);
    long count = workload_scale(CHAOS_MESSAGES);
    h_cluster_t *c = h_cluster_new("chaos-mode");
    int64_t t0 = h_now_ms();
    fprintf(stderr, "faults: chaos: seed %d, %ld messages, %s, dir %s\n", seed, count, CHAOS_SPEC,
            c->dir);
    h_child_env_add(CHAOS_SPEC);
    /* Chaos rolls once per batch or commit; none happen before the first
     * frame, so the start-up waits are safe. Small batches and groups give
     * many rolls even when the send is fast: a quick run once committed and
     * dispatched all of its 20,000 messages with no roll hitting. */
    h_start_state(c, "--redeliver-ms", "500", "--batch-size", "512", "--group-max", "8", NULL);
    h_start_reducer(c);
    h_start_mapper(c);
    h_start_mapper(c);
    char file[PATH_MAX], out[PATH_MAX];
    model_t *m = workload_new(c, seed, count, file, sizeof file);
    snprintf(out, sizeof out, "%.4000s/send.out", c->dir);
    int64_t send_t0 = h_now_ms();
    /* Small frames: more group commits, so more chances for the state to
     * abort between a commit and its answer. */
    h_riskctl_bg(c, out, "send", file, "--ingest", c->ingest, "--batch", "250", "--timeout-ms",
                 "1000", "--retries", "100000", NULL);
    chaos_sup_t sup = {.c = c};
    int64_t deadline = h_now_ms() + 400000;
    while (h_bg_running(c)) {
        s_supervise(&sup);
        cr_assert_lt(h_now_ms(), deadline, "chaos: riskctl send still running");
        s_sleep_ms(10);
    }
    int rc = h_wait_bg(c, 1000);
    int64_t sent_ms = h_now_ms();
    if (rc != 0) h_dump_logs(c);
    cr_assert_eq(rc, 0, "chaos: riskctl send exited %d", rc);

    /* Quiescence under supervision: riskctl wait would block while a
     * crashed process waits for its restart. */
    int settled = 0;
    while (settled < 2) {
        s_supervise(&sup);
        json_t *st = h_stats(c);
        long long committed = h_stat(st, "state", "committed_seq");
        long long applied = h_stat(st, "state", "applied_seq");
        long long floor = h_stat(st, "reducer", "floor");
        json_decref(st);
        settled = committed > 0 && applied == committed && floor >= 0 ? settled + 1 : 0;
        cr_assert_lt(h_now_ms(), deadline, "chaos: no quiescence (committed %lld, applied %lld)",
                     committed, applied);
        s_sleep_ms(50);
    }
    h_wait_applied(c, 60);
    int64_t quiet_ms = h_now_ms();
    s_supervise(&sup);

    const char *needle = "chaos: aborting";
    long lines[3] = {s_count_in_file(c->state.log, needle), s_count_in_file(c->reducer.log, needle),
                     0};
    for (int i = 0; i < c->nmappers; i++)
        lines[2] += s_count_in_file(c->mappers[i].log, needle);
    json_t *st = h_stats(c);
    long long redelivered = h_stat(st, "state", "batches_redelivered");
    json_decref(st);
    fprintf(stderr,
            "faults: chaos: %ld messages; chaos aborts logged: state %ld, reducer %ld, mappers "
            "%ld; SIGABRT exits: state %ld, reducer %ld, mappers %ld; other exits %ld; "
            "%ld restarts; batches redelivered since the last state start %lld; frames re-sent "
            "by riskctl %lld; send %.1f s, quiescence %.2f s after\n",
            count, lines[0], lines[1], lines[2], sup.aborts[0], sup.aborts[1], sup.aborts[2],
            sup.other[0] + sup.other[1] + sup.other[2], sup.restarts, redelivered,
            s_frames_resent(c), (double)(sent_ms - send_t0) / 1000.0,
            (double)(quiet_ms - sent_ms) / 1000.0);

    long rows = s_check_exact(c, m, count, out, "chaos");
    long total = lines[0] + lines[1] + lines[2];
    cr_assert_gt(total, 0, "chaos: no process aborted; is chaos mode on?");
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(sup.other[k], 0, "chaos: %ld exit(s) that were not chaos aborts (role %d)",
                     sup.other[k], k);
        /* Every abort is logged first: a SIGABRT without its line would be
         * an assertion failure or a crash of the product's own. */
        cr_assert_eq(sup.aborts[k], lines[k], "chaos: %ld SIGABRT exits, %ld chaos lines (role %d)",
                     sup.aborts[k], lines[k], k);
    }
    fprintf(stderr,
            "faults: chaos: PASS: %ld aggregate rows and %ld trades exact after %ld "
            "chaos aborts, riskctl verify ok, %.1f s in all\n",
            rows, model_trades(m), total, (double)(h_now_ms() - t0) / 1000.0);
    model_destroy(&m);
    h_passed();
}
