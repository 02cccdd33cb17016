/* riskctl gen: a deterministic workload generator. The same seed and flags
 * always print the same JSON lines: new trades, re-valuations (some moving to
 * another hierarchy path), exact duplicates and stale out-of-order versions.
 * --format msgpack prints the same messages as concatenated msgpack maps,
 * packed as `riskctl send` packs the JSON lines. */
#include "riskctl.h"
#include "cli.h"
#include "jsonline.h"
#include "../common/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *s_types[] = {"Delta", "Gamma", "Vega", "Theta", "Rho"};
static const char *s_regions[] = {"AMER", "EMEA", "APAC", "LATAM"};
static const char *s_desks[] = {"FXSpot", "FXOption", "Rates", "Credit", "Equity", "Commodities"};
#define NPATHS (5 * 4 * 6)
#define HISTORY 4096 /* earlier lines a duplicate is drawn from */
#define DELAYED 256  /* stale versions waiting to be sent */
#define GEN_LINE_MAX 512

/* The percentages and sizes the flags set. */
typedef struct {
    int64_t seed, count, trades, modify, move, dup, ooo, rate;
    bool sequential; /* --sequential-ids: T<seed>-<n> instead of UUIDs */
} gen_flags_t;

/* A stale version to send later: the older half of an out-of-order pair. */
typedef struct {
    uint64_t due, trade, version;
    int path;
} delayed_t;

typedef struct {
    gen_flags_t f;
    uint64_t rng; /* splitmix64 state */
    uint64_t i;   /* messages printed so far */
    uint64_t *version;
    unsigned char *path;
    char (*hist)[GEN_LINE_MAX];
    uint64_t created, nhist;
    delayed_t delayed[DELAYED];
    int ndelayed;
    char line[GEN_LINE_MAX];
} gen_t;

static uint64_t s_next(gen_t *g) /* splitmix64 */
{
    uint64_t z = (g->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t s_below(gen_t *g, uint64_t n)
{
    return n ? s_next(g) % n : 0;
}

static uint64_t s_mix(uint64_t z) /* splitmix64's finaliser */
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Writes trade number `trade`'s TradeID into id[40]. By default a random-
 * looking version-4 UUID, a function of (seed, trade) only, so that ids
 * arrive in no particular key order, as a bank's do (sequential ids would be
 * cheap appends at the right edge of every B-tree). It draws nothing from the
 * message stream's generator: the lines' order and content are unchanged. */
static void s_trade_id(const gen_t *g, uint64_t trade, char id[40])
{
    if (g->f.sequential) {
        snprintf(id, 40, "T%llu-%08llu", (unsigned long long)g->f.seed,
                 (unsigned long long)trade);
        return;
    }
    uint64_t k = (uint64_t)g->f.seed * 0x9e3779b97f4a7c15ULL ^ s_mix(trade + 1);
    uint64_t hi = s_mix(k), lo = s_mix(k ^ 0xd1b54a32d192ed03ULL);
    hi = (hi & ~0xf000ULL) | 0x4000ULL;                      /* version 4 */
    lo = (lo & ~(3ULL << 62)) | (2ULL << 62);               /* RFC 4122 variant */
    snprintf(id, 40, "%08llx-%04llx-%04llx-%04llx-%012llx", (unsigned long long)(hi >> 32),
             (unsigned long long)((hi >> 16) & 0xffff), (unsigned long long)(hi & 0xffff),
             (unsigned long long)(lo >> 48), (unsigned long long)(lo & 0xffffffffffffULL));
}

/* Formats one message into g->line; the value's representation varies
 * (number, decimal string, integer) so every ingest path is exercised. */
static void s_format(gen_t *g, uint64_t trade, uint64_t version, int path)
{
    long long micro = (long long)s_below(g, 2000000000001ULL) - 1000000000000LL;
    unsigned form = (unsigned)s_below(g, 10);
    char val[64], id[40];
    s_trade_id(g, trade, id);
    long long whole = micro / 1000000, frac = llabs(micro % 1000000);
    const char *sign = micro < 0 && whole == 0 ? "-" : "";
    if (form == 0) snprintf(val, sizeof val, "%lld", whole);
    else if (form == 1) snprintf(val, sizeof val, "\"%s%lld.%06lld\"", sign, whole, frac);
    else snprintf(val, sizeof val, "%s%lld.%06lld", sign, whole, frac);
    snprintf(g->line, sizeof g->line,
             "{\"TradeID\":\"%s\",\"Value\":%s,\"Version\":%llu,"
             "\"Timestamp\":%.3f,\"Hierarchy\":{\"RiskType\":\"%s\",\"Region\":\"%s\","
             "\"TradeDesk\":\"%s\"}}\n",
             id, val,
             (unsigned long long)version, 1700000000.0 + (double)g->i * 0.001,
             s_types[path / 24], s_regions[(path / 6) % 4], s_desks[path % 6]);
}

/* A new version of an existing trade: either a newer one now with its stale
 * predecessor delayed (out of order), or the next one, maybe on a new path. */
static void s_revalue(gen_t *g, uint64_t r)
{
    uint64_t t = s_below(g, g->created);
    if (r < (uint64_t)(g->f.dup + g->f.ooo) && g->ndelayed < DELAYED) {
        /* send v+2 now and v+1 (stale by then) a little later */
        delayed_t *d = &g->delayed[g->ndelayed++];
        d->due = g->i + 1 + s_below(g, 50);
        d->trade = t;
        d->version = g->version[t] + 1;
        d->path = g->path[t];
        g->version[t] += 2;
    } else {
        g->version[t] += 1;
        if (r >= (uint64_t)(g->f.dup + g->f.ooo + g->f.modify))
            g->path[t] = (unsigned char)s_below(g, NPATHS);
    }
    s_format(g, t, g->version[t], g->path[t]);
}

/* The next message. The order of random draws is part of the output: the
 * same seed must print the same lines in every version of riskctl. */
static const char *s_message(gen_t *g)
{
    const gen_flags_t *f = &g->f;
    int d = -1;
    for (int k = 0; k < g->ndelayed; k++)
        if (g->delayed[k].due <= g->i) d = k;
    uint64_t r = s_below(g, 100);
    if (d >= 0) { /* the stale version of an earlier out-of-order pair */
        s_format(g, g->delayed[d].trade, g->delayed[d].version, g->delayed[d].path);
        g->delayed[d] = g->delayed[--g->ndelayed];
    } else if (r < (uint64_t)f->dup && g->nhist > 0) {
        return g->hist[s_below(g, g->nhist < HISTORY ? g->nhist : HISTORY)];
    } else if (g->created == 0 || (r >= (uint64_t)(f->dup + f->ooo + f->modify + f->move) &&
                                   g->created < (uint64_t)f->trades)) {
        uint64_t t = g->created++;
        g->version[t] = 1;
        g->path[t] = (unsigned char)s_below(g, NPATHS);
        s_format(g, t, 1, g->path[t]);
    } else {
        s_revalue(g, r);
    }
    memcpy(g->hist[g->nhist++ % HISTORY], g->line, GEN_LINE_MAX);
    return g->line;
}

/* Sleeps as long as the printed messages are ahead of --rate. */
static void s_pace(const gen_t *g, uint64_t printed, int64_t t0)
{
    int64_t ahead = (int64_t)printed * 1000 / g->f.rate - (clock_mono_ms() - t0);
    if (ahead > 0) {
        struct timespec ts = {ahead / 1000, (ahead % 1000) * 1000000};
        nanosleep(&ts, NULL);
    }
}

/* Reads the flags into *f. Returns 0 or CLI_USAGE after a message. */
static int s_flags(const config_opt_t *opts, gen_flags_t *f)
{
    if (config_int(opts, "seed", 0, INT64_MAX, &f->seed) ||
        config_int(opts, "count", 0, INT64_MAX, &f->count) ||
        config_int(opts, "trades", 0, 100000000, &f->trades) ||
        config_int(opts, "modify", 0, 100, &f->modify) ||
        config_int(opts, "move", 0, 100, &f->move) || config_int(opts, "dup", 0, 100, &f->dup) ||
        config_int(opts, "ooo", 0, 100, &f->ooo) ||
        config_int(opts, "rate", 0, 100000000, &f->rate))
        return CLI_USAGE;
    f->sequential = config_get(opts, "sequential-ids") != NULL;
    if (f->modify + f->move + f->dup + f->ooo > 100) {
        fprintf(stderr, "riskctl gen: --modify + --move + --dup + --ooo must be <= 100\n");
        return CLI_USAGE;
    }
    if (!f->trades) f->trades = f->count ? (f->count + 1) / 2 : 100000;
    return 0;
}

int cmd_gen(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"seed", "1", "random seed (same seed and flags, same output)", NULL},
        {"count", "100000", "messages to print; 0 = endless", NULL},
        {"trades", "0", "distinct trades (0 = count/2, or 100000 when endless)", NULL},
        {"modify", "25", "% re-valuations of an existing trade on the same path", NULL},
        {"move", "10", "% re-valuations that move the trade to another path", NULL},
        {"dup", "5", "% exact re-sends of an earlier message", NULL},
        {"ooo", "5", "% out-of-order versions (a newer version, then a stale older one)",
         NULL},
        {"rate", "0", "messages per second; 0 = as fast as possible", NULL},
        {"format", "json", "json (one message per line) or msgpack (concatenated maps, for "
         "riskctl send --format msgpack)", NULL},
        {"sequential-ids", NULL, "TradeIDs T<seed>-<n> in creation order instead of UUIDs", NULL},
        {NULL, NULL, NULL, NULL}};
    int npos, code;
    if (!cli_parse(opts, argc, argv, "usage: riskctl gen [options]\n\nPrints risk messages as "
                   "JSON lines.", &npos, &code))
        return code;
    static gen_t g; /* large (history and delayed versions): not on the stack */
    if ((code = s_flags(opts, &g.f))) return code;
    const char *format = config_get(opts, "format");
    jsonline_t *jl = NULL;
    msgpack_sbuffer mp;
    msgpack_sbuffer_init(&mp);
    if (strcmp(format, "msgpack") == 0) {
        if (!(jl = jsonline_new())) {
            fprintf(stderr, "riskctl gen: out of memory\n");
            return CLI_FAIL;
        }
    } else if (strcmp(format, "json") != 0) {
        fprintf(stderr, "riskctl gen: --format %s: expected json or msgpack\n", format);
        return CLI_USAGE;
    }
    g.rng = (uint64_t)g.f.seed * 0x2545F4914F6CDD1DULL + 1;
    g.version = calloc((size_t)g.f.trades, sizeof *g.version);
    g.path = calloc((size_t)g.f.trades, 1);
    g.hist = calloc(HISTORY, GEN_LINE_MAX);
    if (!g.version || !g.path || !g.hist) {
        fprintf(stderr, "riskctl gen: out of memory for %lld trades\n", (long long)g.f.trades);
        code = CLI_FAIL;
    }
    static char out[1 << 16];
    setvbuf(stdout, out, _IOFBF, sizeof out);
    int64_t t0 = clock_mono_ms();
    for (; !code && (g.f.count == 0 || g.i < (uint64_t)g.f.count); g.i++) {
        const char *line = s_message(&g);
        if (jl) {
            char why[160];
            mp.size = 0;
            if (jsonline_pack(jl, line, strlen(line) - 1, &mp, why, sizeof why)) {
                fprintf(stderr, "riskctl gen: cannot pack message %llu: %s\n",
                        (unsigned long long)g.i + 1, why);
                code = CLI_FAIL;
                break;
            }
            if (fwrite(mp.data, 1, mp.size, stdout) != mp.size) break;
        } else if (fputs(line, stdout) == EOF) {
            break; /* the reader went away */
        }
        if (g.f.rate && g.i % 64 == 63) {
            fflush(stdout);
            s_pace(&g, g.i + 1, t0);
        }
    }
    fflush(stdout);
    msgpack_sbuffer_destroy(&mp);
    jsonline_destroy(&jl);
    free(g.version);
    free(g.path);
    free(g.hist);
    return code;
}
