/* Chaos injection: one random draw per batch, so the crash rate per batch is
 * exactly the configured percentage whatever the number of crash points. */
#include "chaos.h"
#include "log.h"
#include "rperr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int s_pct, s_picked = -1;
static unsigned s_seed;

int chaos_init(const char *role)
{
    const char *env = getenv("RISKPIPE_CHAOS");
    s_pct = 0;
    if (!env || !*env) return 0;
    size_t rl = strlen(role);
    for (const char *p = env; *p;) {
        const char *colon = strchr(p, ':');
        if (!colon) break;
        char *end;
        long pct = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || pct < 0 || pct > 100 || (*end && *end != ',')) {
            log_error("RISKPIPE_CHAOS='%s': expected role:percent[,role:percent...]", env);
            return RP_EINVAL;
        }
        if ((size_t)(colon - p) == rl && memcmp(p, role, rl) == 0) s_pct = (int)pct;
        p = *end ? end + 1 : end;
    }
    s_seed = (unsigned)time(NULL) ^ ((unsigned)getpid() << 16);
    if (s_pct)
        log_warn("CHAOS MODE IS ON (RISKPIPE_CHAOS=%s): this %s process will abort() on purpose "
                 "in %d%% of its batches; unset RISKPIPE_CHAOS outside tests and demos",
                 env, role, s_pct);
    return 0;
}

void chaos_roll(int npoints)
{
    s_picked = -1;
    if (s_pct && rand_r(&s_seed) % 100 < s_pct) s_picked = rand_r(&s_seed) % npoints;
}

void chaos_point(int point, const char *name)
{
    if (point != s_picked) return;
    log_warn("chaos: aborting %s", name);
    abort();
}
