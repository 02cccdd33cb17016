/* riskctl gen: a deterministic workload generator. The same seed and flags
 * always print the same JSON lines: new trades, re-valuations (some moving to
 * another hierarchy path), exact duplicates and stale out-of-order versions. */
#include "riskctl.h"
#include "../common/clock.h"
#include "../common/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *s_types[] = {"Delta", "Gamma", "Vega", "Theta", "Rho"};
static const char *s_regions[] = {"AMER", "EMEA", "APAC", "LATAM"};
static const char *s_desks[] = {"FXSpot", "FXOption", "Rates", "Credit", "Equity", "Commodities"};
#define NPATHS (5 * 4 * 6)
#define HISTORY 4096
#define DELAYED 256

typedef struct {
    uint64_t s;
} rng_t;

static uint64_t s_next(rng_t *r) /* splitmix64 */
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t s_below(rng_t *r, uint64_t n)
{
    return n ? s_next(r) % n : 0;
}

typedef struct {
    rng_t rng;
    uint64_t seed, i;
    char line[512];
} gen_t;

/* Formats one message; the value's representation varies (number, decimal
 * string, integer) so every ingest path is exercised. */
static int s_format(gen_t *g, char *out, size_t cap, uint64_t trade, uint64_t version, int path)
{
    long long micro = (long long)s_below(&g->rng, 2000000000001ULL) - 1000000000000LL;
    unsigned form = (unsigned)s_below(&g->rng, 10);
    char val[64];
    long long whole = micro / 1000000, frac = llabs(micro % 1000000);
    const char *sign = micro < 0 && whole == 0 ? "-" : "";
    if (form == 0) snprintf(val, sizeof val, "%lld", whole);
    else if (form == 1) snprintf(val, sizeof val, "\"%s%lld.%06lld\"", sign, whole, frac);
    else snprintf(val, sizeof val, "%s%lld.%06lld", sign, whole, frac);
    return snprintf(out, cap,
                    "{\"TradeID\":\"T%llu-%08llu\",\"Value\":%s,\"Version\":%llu,"
                    "\"Timestamp\":%.3f,\"Hierarchy\":{\"RiskType\":\"%s\",\"Region\":\"%s\","
                    "\"TradeDesk\":\"%s\"}}\n",
                    (unsigned long long)g->seed, (unsigned long long)trade, val,
                    (unsigned long long)version, 1700000000.0 + (double)g->i * 0.001,
                    s_types[path / 24], s_regions[(path / 6) % 4], s_desks[path % 6]);
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
        {NULL, NULL, NULL, NULL}};
    int npos;
    int rc = config_parse(opts, argc, argv, 1, &npos,
                          "usage: riskctl gen [options]\n\nPrints risk messages as JSON lines.");
    if (rc) return rc > 0 ? 0 : 2;
    int64_t seed, count, trades, modify, move, dup, ooo, rate;
    if (config_int(opts, "seed", 0, INT64_MAX, &seed) ||
        config_int(opts, "count", 0, INT64_MAX, &count) ||
        config_int(opts, "trades", 0, 100000000, &trades) ||
        config_int(opts, "modify", 0, 100, &modify) || config_int(opts, "move", 0, 100, &move) ||
        config_int(opts, "dup", 0, 100, &dup) || config_int(opts, "ooo", 0, 100, &ooo) ||
        config_int(opts, "rate", 0, 100000000, &rate))
        return 2;
    if (modify + move + dup + ooo > 100) {
        fprintf(stderr, "riskctl gen: --modify + --move + --dup + --ooo must be <= 100\n");
        return 2;
    }
    if (!trades) trades = count ? (count + 1) / 2 : 100000;
    gen_t g = {.rng = {(uint64_t)seed * 0x2545F4914F6CDD1DULL + 1}, .seed = (uint64_t)seed};
    uint64_t *version = calloc((size_t)trades, sizeof *version);
    unsigned char *path = calloc((size_t)trades, 1);
    char(*hist)[512] = calloc(HISTORY, 512);
    struct {
        uint64_t due, trade, version;
        int path;
    } delayed[DELAYED];
    int ndelayed = 0;
    if (!version || !path || !hist) {
        fprintf(stderr, "riskctl gen: out of memory for %lld trades\n", (long long)trades);
        return 1;
    }
    uint64_t created = 0, nhist = 0;
    int64_t t0 = clock_mono_ms();
    static char out[1 << 16];
    setvbuf(stdout, out, _IOFBF, sizeof out);
    for (g.i = 0; count == 0 || g.i < (uint64_t)count; g.i++) {
        char *line = g.line;
        int d = -1;
        for (int k = 0; k < ndelayed; k++)
            if (delayed[k].due <= g.i) d = k;
        uint64_t r = s_below(&g.rng, 100);
        if (d >= 0) { /* the stale version of an earlier out-of-order pair */
            s_format(&g, line, 512, delayed[d].trade, delayed[d].version, delayed[d].path);
            delayed[d] = delayed[--ndelayed];
        } else if (r < (uint64_t)dup && nhist > 0) {
            line = hist[s_below(&g.rng, nhist < HISTORY ? nhist : HISTORY)];
        } else if (created == 0 || (r >= (uint64_t)(dup + ooo + modify + move) &&
                                    created < (uint64_t)trades)) {
            uint64_t t = created++;
            version[t] = 1;
            path[t] = (unsigned char)s_below(&g.rng, NPATHS);
            s_format(&g, line, 512, t, 1, path[t]);
        } else {
            uint64_t t = s_below(&g.rng, created);
            if (r < (uint64_t)(dup + ooo) && ndelayed < DELAYED) {
                /* send v+2 now and v+1 (stale by then) a little later */
                delayed[ndelayed].due = g.i + 1 + s_below(&g.rng, 50);
                delayed[ndelayed].trade = t;
                delayed[ndelayed].version = version[t] + 1;
                delayed[ndelayed].path = path[t];
                ndelayed++;
                version[t] += 2;
            } else {
                version[t] += 1;
                if (r >= (uint64_t)(dup + ooo + modify))
                    path[t] = (unsigned char)s_below(&g.rng, NPATHS);
            }
            s_format(&g, line, 512, t, version[t], path[t]);
        }
        if (line == g.line) memcpy(hist[nhist++ % HISTORY], line, 512);
        if (fputs(line, stdout) == EOF) break; /* reader went away */
        if (rate && g.i % 64 == 63) {
            fflush(stdout);
            int64_t ahead = (int64_t)(g.i + 1) * 1000 / rate - (clock_mono_ms() - t0);
            if (ahead > 0) {
                struct timespec ts = {ahead / 1000, (ahead % 1000) * 1000000};
                nanosleep(&ts, NULL);
            }
        }
    }
    fflush(stdout);
    free(version);
    free(path);
    free(hist);
    return 0;
}
