/* The daemons' control endpoint: a REP socket that answers riskctl's
 * "stats" request with the process's role and counters (proto/ctl.h). */
#ifndef RP_CONTROL_H
#define RP_CONTROL_H

#include "../proto/ctl.h"

/* Fills stats[0..cap) with the process's counters (names borrowed until the
 * reply is sent) and returns how many it wrote. */
typedef int (*control_fill_fn)(void *arg, ctl_stat_t *stats, int cap);

/* Answers one pending request on the libzmq REP socket rep without blocking
 * (nothing happens when none is waiting): "stats" gets role and the counters
 * from fill(arg, ...); a malformed request or another command gets an error
 * reply (logged at warn when malformed). */
void control_serve(void *rep, const char *role, control_fill_fn fill, void *arg);

#endif
