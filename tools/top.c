/* riskctl top: a live terminal view (ncurses) of a running pipeline through
 * the daemons' HTTP API. It follows the reducer's /v1/stream (Server-Sent
 * Events, sse.c) into the top levels of the aggregate tree (livetree.c) and
 * redraws when an event changes them, and polls both daemons' /v1/status
 * once a second for health, sequence numbers, lag, rates (from successive
 * counters) and error counts. Every transfer runs in one poll loop
 * (http_loop_run) with the keyboard: q quits, arrows scroll. A lost
 * connection is shown and retried; only q, SIGINT or SIGTERM end it. */
#include "riskctl.h"
#include "api.h"
#include "cli.h"
#include "http_client.h"
#include "livetree.h"
#include "sse.h"
#include "../common/clock.h"
#include "../common/hier.h"
#include "../common/rperr.h"
#include "../proto/ctl.h"

#include <curses.h>
#include <errno.h>
#include <jansson.h>
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TOP_STATUS_MS 1000         /* a status poll per daemon this often */
#define TOP_RETRY_MS 1000          /* a lost stream is reconnected after this */
#define TOP_EVENT_MAX (256u << 20) /* largest stream event (a snapshot of every row) */
#define TOP_TICK_MS 250            /* longest wait: signals are seen within it */
#define TOP_HEAD 7                 /* screen lines above the tree */
#define TOP_NAME_W 40              /* as riskctl query's tree */

/* The counters shown as rates, per daemon: names of proto/ctl.h. */
static const char *const s_state_rates[] = {"accepted", "duplicates", "rejected"};
static const char *const s_reducer_rates[] = {"batches_applied"};
#define TOP_RATES_MAX 3

typedef struct top top_t;

/* One daemon's status, polled. */
typedef struct {
    top_t *top;       /* the view it belongs to */
    const char *role; /* CTL_ROLE_STATE or CTL_ROLE_REDUCER */
    http_client_t *http;
    const char *const *rate_names;
    int nrates;
    int pending;                   /* a status GET is in flight */
    int64_t next_ms;               /* when to send the next one */
    int up;                        /* the last answer was this role's status */
    char why[HTTP_CLIENT_WHY_MAX]; /* why it is not up */
    json_t *status;                /* the last status that answered (owned), or NULL */
    long long prev[TOP_RATES_MAX];
    int64_t prev_ms; /* when prev was read; 0: no sample yet */
    double rate[TOP_RATES_MAX];
    int has_rate[TOP_RATES_MAX];
} daemon_t;

typedef enum { STREAM_IDLE, STREAM_CONNECTING, STREAM_LIVE } stream_state_t;

struct top {
    daemon_t state, reducer;
    http_loop_t *loop;
    sse_t sse;
    livetree_t *tree;
    stream_state_t stream;
    int stream_active;                         /* a /v1/stream transfer is running */
    int64_t retry_ms;                          /* when to connect again */
    int64_t event_ms;                          /* when the last event arrived */
    char stream_why[HTTP_CLIENT_WHY_MAX + 16]; /* why the last stream ended */
    char event_why[HTTP_CLIENT_WHY_MAX];       /* why the parser cut the stream, or "" */
    int depth;
    size_t scroll; /* first tree row shown */
    int dirty;     /* the screen needs drawing */
};

static volatile sig_atomic_t s_stop;

static void s_on_signal(int sig)
{
    (void)sig;
    s_stop = 1;
}

/* The event function of the stream's parser: each event into the tree. */
static int s_on_event(void *arg, const char *event, const char *data, size_t len)
{
    top_t *t = arg;
    int rc = livetree_apply(t->tree, event, data, len, t->event_why, sizeof t->event_why);
    if (rc) return rc;
    t->event_ms = clock_mono_ms();
    if (livetree_synced(t->tree)) t->stream = STREAM_LIVE;
    t->dirty = 1;
    return 0;
}

static int s_on_chunk(void *arg, const char *data, size_t len)
{
    top_t *t = arg;
    int rc = sse_feed(&t->sse, data, len);
    if (rc == RP_ERANGE)
        snprintf(t->event_why, sizeof t->event_why, "an event larger than %u MiB",
                 TOP_EVENT_MAX >> 20);
    else if (rc == RP_ENOMEM)
        snprintf(t->event_why, sizeof t->event_why, "out of memory");
    return rc;
}

static void s_on_stream_end(void *arg, int rc, long status, const char *body, size_t len,
                            const char *why)
{
    top_t *t = arg;
    if (rc && t->event_why[0]) /* the stream was cut here: its content was bad */
        snprintf(t->stream_why, sizeof t->stream_why, "bad stream: %s", t->event_why);
    else if (rc)
        snprintf(t->stream_why, sizeof t->stream_why, "%s", why);
    else if (status != 200)
        http_client_status_why(t->reducer.http, "/v1/stream", status, body, len, t->stream_why,
                               sizeof t->stream_why);
    else
        snprintf(t->stream_why, sizeof t->stream_why, "the reducer closed the stream");
    t->stream_active = 0;
    t->stream = STREAM_IDLE;
    t->retry_ms = clock_mono_ms() + TOP_RETRY_MS;
    t->dirty = 1;
}

/* Connects to /v1/stream; on failure, tries again later. */
static void s_stream_start(top_t *t)
{
    sse_reset(&t->sse);
    t->event_why[0] = 0;
    livetree_unsync(t->tree); /* the old rows stay on screen until the snapshot */
    int rc =
        http_loop_stream(t->loop, t->reducer.http, "/v1/stream", s_on_chunk, s_on_stream_end, t);
    if (rc) {
        snprintf(t->stream_why, sizeof t->stream_why, "cannot start a transfer: %s",
                 rp_strerror(rc));
        t->retry_ms = clock_mono_ms() + TOP_RETRY_MS;
        return;
    }
    t->stream_active = 1;
    t->stream = STREAM_CONNECTING;
    t->dirty = 1;
}

/* Takes a new status sample of d: the rates since the previous one. */
static void s_sample(daemon_t *d, json_t *status, int64_t now)
{
    for (int i = 0; i < d->nrates; i++) {
        long long v;
        int has = api_status_int(status, d->rate_names[i], &v) == 0;
        /* a counter that went down belongs to a restarted daemon: no rate
         * across the restart */
        d->has_rate[i] = has && d->prev_ms && now > d->prev_ms && v >= d->prev[i];
        if (d->has_rate[i])
            d->rate[i] = (double)(v - d->prev[i]) * 1000.0 / (double)(now - d->prev_ms);
        d->prev[i] = has ? v : 0;
    }
    d->prev_ms = now;
    json_decref(d->status);
    d->status = status;
}

static void s_on_status(void *arg, int rc, long status, const char *body, size_t len,
                        const char *why)
{
    daemon_t *d = arg;
    d->pending = 0;
    d->top->dirty = 1;
    d->up = 0;
    if (rc) {
        snprintf(d->why, sizeof d->why, "%s", why);
        return;
    }
    if (status != 200) {
        http_client_status_why(d->http, "/v1/status", status, body, len, d->why, sizeof d->why);
        return;
    }
    json_error_t err;
    json_t *j = json_loadb(body, len, 0, &err);
    const char *role = json_string_value(json_object_get(j, "role"));
    if (!role || strcmp(role, d->role)) {
        snprintf(d->why, sizeof d->why, "%s is not the %s's HTTP endpoint (it answers as %s)",
                 http_client_url(d->http), d->role, role ? role : "no role");
        json_decref(j);
        return;
    }
    d->up = 1;
    s_sample(d, j, clock_mono_ms());
}

/* A status integer of d as text ("-" when unknown). */
static const char *s_num(const daemon_t *d, const char *name, char *buf, size_t cap)
{
    long long v;
    if (d->status && api_status_int(d->status, name, &v) == 0)
        snprintf(buf, cap, "%lld", v);
    else
        snprintf(buf, cap, "-");
    return buf;
}

/* The sum of a counter over both daemons ("-" when neither has it). */
static const char *s_sum2(const daemon_t *a, const char *na, const daemon_t *b, const char *nb,
                          char *buf, size_t cap)
{
    long long x, y, sum = 0;
    int has = 0;
    if (a->status && api_status_int(a->status, na, &x) == 0) {
        sum += x;
        has = 1;
    }
    if (b->status && api_status_int(b->status, nb, &y) == 0) {
        sum += y;
        has = 1;
    }
    if (has)
        snprintf(buf, cap, "%lld", sum);
    else
        snprintf(buf, cap, "-");
    return buf;
}

static const char *s_rate(const daemon_t *d, int i, char *buf, size_t cap)
{
    if (d->up && d->has_rate[i])
        snprintf(buf, cap, "%.1f", d->rate[i]);
    else
        snprintf(buf, cap, "-");
    return buf;
}

/* Prints one screen line, cut at the screen's width. Drawing calls are not
 * checked: curses answers ERR for text cut at the window's edge, which is
 * what a small window must do, and the next redraw repaints everything. */
static void s_line(int y, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void s_line(int y, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (y >= 0 && y < LINES) mvaddnstr(y, 0, buf, COLS);
}

/* A daemon's health for the first line. */
static const char *s_health(const daemon_t *d)
{
    const char *h = d->status ? json_string_value(json_object_get(d->status, "health")) : NULL;
    if (!d->up) return d->status ? "DOWN (reconnecting)" : "DOWN";
    return h ? h : "up";
}

static void s_draw_head(const top_t *t)
{
    const daemon_t *s = &t->state, *r = &t->reducer;
    char a[32], b[32], c[32], d[32];
    s_line(0, "riskctl top   reducer %s: %s   state %s: %s", http_client_url(r->http), s_health(r),
           http_client_url(s->http), s_health(s));
    long long lag;
    /* the state's lag, or committed - applied when it does not say */
    if (!(s->status && api_status_int(s->status, "lag", &lag) == 0) &&
        !(r->status && api_status_int(r->status, "lag", &lag) == 0))
        lag = -1;
    snprintf(d, sizeof d, lag >= 0 ? "%lld" : "-", lag);
    s_line(
        1, "seq       committed %s   applied %s   lag %s", s_num(s, "committed_seq", a, sizeof a),
        r->status ? s_num(r, "applied_seq", b, sizeof b) : s_num(s, "applied_seq", b, sizeof b), d);
    s_line(2, "rates/s   accepted %s   duplicates %s   rejected %s   batches applied %s",
           s_rate(s, 0, a, sizeof a), s_rate(s, 1, b, sizeof b), s_rate(s, 2, c, sizeof c),
           s_rate(r, 0, d, sizeof d));
    char e[32];
    s_line(3, "errors    rejected %s   dead letters %s   refused peers %s   bad frames %s",
           s_num(s, "rejected", a, sizeof a), s_num(s, "dlq_added", b, sizeof b),
           s_sum2(s, "refused_peers", r, "refused_peers", c, sizeof c),
           s_sum2(s, "bad_ack_frames", r, "bad_frames", e, sizeof e));
    int64_t now = clock_mono_ms();
    if (t->stream == STREAM_LIVE)
        s_line(4, "stream    live: change %llu, last event %.1f s ago",
               (unsigned long long)livetree_seq(t->tree), (double)(now - t->event_ms) / 1000.0);
    else if (t->stream == STREAM_CONNECTING)
        s_line(4, "stream    connecting to %s/v1/stream%s%s", http_client_url(r->http),
               t->stream_why[0] ? "; last: " : "", t->stream_why);
    else
        s_line(4, "stream    reconnecting (every %d s): %s", TOP_RETRY_MS / 1000, t->stream_why);
    /* the first daemon that is down, and why */
    const daemon_t *down = !r->up && r->why[0] ? r : !s->up && s->why[0] ? s : NULL;
    if (down) s_line(5, "%-9s %s", down->role, down->why);
}

/* Draws the whole screen. */
static void s_draw(top_t *t)
{
    erase();
    s_draw_head(t);
    size_t n = livetree_size(t->tree);
    int rows = LINES - TOP_HEAD - 1; /* the tree's lines, above the footer */
    if (rows < 1) rows = 1;
    if (t->scroll + (size_t)rows > n) t->scroll = n > (size_t)rows ? n - (size_t)rows : 0;
    s_line(TOP_HEAD - 1, "%-*s %24s %10s", TOP_NAME_W, "PATH", "TOTAL", "TRADES");
    for (int i = 0; i < rows && t->scroll + (size_t)i < n; i++) {
        const livetree_row_t *r = livetree_row(t->tree, t->scroll + (size_t)i);
        int indent = 2 * (r->level > 0 ? r->level - 1 : 0);
        int w = TOP_NAME_W - indent;
        s_line(TOP_HEAD + i, "%*s%-*.*s %24s %10lld", indent, "", w < 1 ? 1 : w,
               (int)(r->len - r->name), r->path + r->name, r->value, (long long)r->count);
    }
    if (n == 0)
        s_line(TOP_HEAD, "%s",
               livetree_synced(t->tree) ? "(no aggregate rows)"
                                        : "(waiting for the reducer's snapshot)");
    s_line(LINES - 1, "q quits   arrows, PgUp, PgDn scroll   rows %zu-%zu of %zu (depth %d)",
           n ? t->scroll + 1 : 0, t->scroll + (size_t)rows < n ? t->scroll + (size_t)rows : n, n,
           t->depth);
    refresh();
    t->dirty = 0;
}

/* Reads every key waiting. Returns 1 when q was pressed. */
static int s_keys(top_t *t)
{
    int ch, page = LINES - TOP_HEAD - 1 > 1 ? LINES - TOP_HEAD - 1 : 1;
    while ((ch = getch()) != ERR) {
        switch (ch) {
        case 'q':
        case 'Q':
            return 1;
        case KEY_RESIZE:
            break;
        case KEY_UP:
            t->scroll -= t->scroll ? 1 : 0;
            break;
        case KEY_DOWN:
            t->scroll++;
            break;
        case KEY_PPAGE:
            t->scroll = t->scroll > (size_t)page ? t->scroll - (size_t)page : 0;
            break;
        case KEY_NPAGE:
            t->scroll += (size_t)page;
            break;
        case KEY_HOME:
            t->scroll = 0;
            break;
        case KEY_END:
            t->scroll = (size_t)-1 / 2; /* s_draw brings it back to the last page */
            break;
        default:
            continue;
        }
        t->dirty = 1;
    }
    return 0;
}

/* Sends each daemon's status GET when due. */
static void s_poll_status(top_t *t, daemon_t *d, int64_t now)
{
    if (d->pending || now < d->next_ms) return;
    d->next_ms = now + TOP_STATUS_MS;
    int rc = http_loop_get(t->loop, d->http, "/v1/status", s_on_status, d);
    if (rc) {
        d->up = 0;
        snprintf(d->why, sizeof d->why, "cannot start a transfer: %s", rp_strerror(rc));
        t->dirty = 1;
        return;
    }
    d->pending = 1;
}

/* The poll loop, until q or a signal. Returns 0, or an RP code with why
 * when libcurl fails. */
static int s_run(top_t *t, char *why, size_t whylen)
{
    t->dirty = 1;
    while (!s_stop) {
        int64_t now = clock_mono_ms();
        if (!t->stream_active && now >= t->retry_ms) s_stream_start(t);
        s_poll_status(t, &t->reducer, now);
        s_poll_status(t, &t->state, now);
        if (t->dirty) s_draw(t);
        int ready = 0, rc = http_loop_run(t->loop, STDIN_FILENO, TOP_TICK_MS, &ready, why, whylen);
        if (rc) return rc;
        if (s_keys(t)) break;
    }
    return 0;
}

/* Makes t's clients and loop. Returns 0, or RP_EINVAL with why. */
static int s_open(top_t *t, const char *url, const char *state_url, const char *token_file,
                  char *why, size_t whylen)
{
    t->reducer = (daemon_t){.top = t,
                            .role = CTL_ROLE_REDUCER,
                            .rate_names = s_reducer_rates,
                            .nrates = (int)(sizeof s_reducer_rates / sizeof *s_reducer_rates)};
    t->state = (daemon_t){.top = t,
                          .role = CTL_ROLE_STATE,
                          .rate_names = s_state_rates,
                          .nrates = (int)(sizeof s_state_rates / sizeof *s_state_rates)};
    sse_init(&t->sse, TOP_EVENT_MAX, s_on_event, t);
    if (!(t->reducer.http = http_client_new(url, token_file, 2000, why, whylen)) ||
        !(t->state.http = http_client_new(state_url, token_file, 2000, why, whylen)) ||
        !(t->loop = http_loop_new(why, whylen)))
        return RP_EINVAL;
    if (!(t->tree = livetree_new(t->depth))) {
        snprintf(why, whylen, "out of memory");
        return RP_ENOMEM;
    }
    return 0;
}

static void s_close(top_t *t)
{
    http_loop_destroy(&t->loop); /* first: its transfers use the clients */
    http_client_destroy(&t->reducer.http);
    http_client_destroy(&t->state.http);
    json_decref(t->reducer.status);
    json_decref(t->state.status);
    livetree_destroy(&t->tree);
    sse_free(&t->sse);
}

int cmd_top(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"url", "http://127.0.0.1:9556", "the reducer's HTTP API URL", NULL},
        {"state-url", "http://127.0.0.1:9555", "the state's HTTP API URL", NULL},
        {"token-file", "", "file holding the bearer token the daemons require", NULL},
        {"depth", "2", "levels of the tree shown (1-8)", NULL},
        {NULL, NULL, NULL, NULL}};
    int npos, code;
    if (!cli_parse(opts, argc, argv,
                   "usage: riskctl top [options]\n\nA live view of the pipeline in the terminal: "
                   "both daemons' health, sequence numbers,\nlag, rates and errors (their "
                   "/v1/status each second) and the top levels of the\naggregate tree, redrawn "
                   "as the reducer's /v1/stream reports changes. q quits;\nthe arrows and "
                   "PgUp/PgDn scroll. A lost connection is retried every second.",
                   &npos, &code))
        return code;
    int64_t depth;
    if (config_int(opts, "depth", 1, HIER_MAX_LEVELS, &depth)) return CLI_USAGE;
    const char *url = config_get(opts, "url"), *state_url = config_get(opts, "state-url");
    int http = cli_http_urls("top", url, state_url);
    if (http <= 0) {
        if (http == 0) fprintf(stderr, "riskctl top: needs --url and --state-url\n");
        return CLI_USAGE;
    }
    if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO)) {
        fprintf(stderr,
                "riskctl top: %s is not a terminal: top draws a live screen and reads "
                "keys (for text, use riskctl query --url or riskctl stats)\n",
                isatty(STDOUT_FILENO) ? "stdin" : "stdout");
        return CLI_FAIL;
    }
    top_t t = {.depth = (int)depth};
    char why[HTTP_CLIENT_WHY_MAX];
    int rc = s_open(&t, url, state_url, config_get(opts, "token-file"), why, sizeof why);
    if (rc) {
        s_close(&t);
        fprintf(stderr, "riskctl top: %s\n", why);
        return CLI_FAIL;
    }
    /* our handlers first: ncurses installs its own only where none is set */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGINT, &sa, NULL) || sigaction(SIGTERM, &sa, NULL)) {
        s_close(&t);
        fprintf(stderr, "riskctl top: cannot handle SIGINT and SIGTERM: %s\n", strerror(errno));
        return CLI_FAIL;
    }
    /* UTF-8 names need the user's locale; without one they show as bytes */
    setlocale(LC_ALL, "");
    SCREEN *scr = newterm(NULL, stdout, stdin);
    if (!scr) {
        s_close(&t);
        fprintf(stderr, "riskctl top: cannot start the terminal (TERM=%s)\n",
                getenv("TERM") ? getenv("TERM") : "");
        return CLI_FAIL;
    }
    /* cbreak, not raw: Ctrl-C still sends SIGINT */
    if (cbreak() == ERR || noecho() == ERR || nodelay(stdscr, TRUE) == ERR ||
        keypad(stdscr, TRUE) == ERR) {
        rc = RP_EIO;
        snprintf(why, sizeof why, "cannot set the terminal's modes");
    }
    curs_set(0); /* not every terminal can hide the cursor: no matter */
    if (rc == 0) rc = s_run(&t, why, sizeof why);
    endwin();
    delscreen(scr);
    s_close(&t);
    if (rc) {
        fprintf(stderr, "riskctl top: %s\n", why);
        return CLI_FAIL;
    }
    return CLI_OK;
}
