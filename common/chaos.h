/* Built-in chaos for demos and soak runs: RISKPIPE_CHAOS=state:5,mapper:10,
 * reducer:10 makes each named process abort() at one of its worst points
 * (after commit before ack, mid-batch, before send) in that percentage of
 * batches. Off when unset. */
#ifndef RP_CHAOS_H
#define RP_CHAOS_H

/* Reads RISKPIPE_CHAOS for this role ("state", "mapper", "reducer") and seeds
 * the random source. Returns 0, or RP_EINVAL (logged) for a malformed value. */
int chaos_init(const char *role);

/* Starts a batch: with the configured probability picks one of npoints crash
 * points for it, otherwise none. */
void chaos_roll(int npoints);

/* Aborts the process if point was picked for the current batch; name says
 * where in the log line written first. */
void chaos_point(int point, const char *name);

#endif
