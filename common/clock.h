/* Monotonic and wall-clock time in milliseconds, and monotonic seconds with
 * sub-millisecond precision for durations. */
#ifndef RP_CLOCK_H
#define RP_CLOCK_H

#include <stdint.h>

/* Milliseconds from CLOCK_MONOTONIC: for timeouts and intervals. */
int64_t clock_mono_ms(void);

/* Seconds from CLOCK_MONOTONIC with nanosecond resolution: for measuring
 * short durations (the commit-duration histogram). */
double clock_mono_s(void);

/* Milliseconds since the Unix epoch: for timestamps written to tables. */
int64_t clock_wall_ms(void);

/* Microseconds since the Unix epoch: for times that travel between
 * processes (a batch's commit time) and are compared on arrival. */
int64_t clock_wall_us(void);

#endif
