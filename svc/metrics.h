/* What a daemon's HTTP endpoint shows, rendered from plain values: the
 * Prometheus text exposition (format 0.0.4) and the /v1/status JSON, built
 * from the control counters (proto/ctl.h, mapped to Prometheus names in one
 * table in metrics.c), the commit-duration histogram the engines fill, the
 * LMDB map figures and the process's own figures from /proc/self. No
 * sockets here: svc/http.c serves what these functions render. */
#ifndef RP_METRICS_H
#define RP_METRICS_H

#include "../proto/ctl.h"

#include <stddef.h>
#include <stdint.h>

/* Upper bounds in seconds of the histogram buckets (the +Inf bucket is
 * implicit): 0.5 ms to 10 s. */
#define METRICS_BUCKETS 14
extern const double metrics_bucket_le[METRICS_BUCKETS];

/* A duration histogram; zero-initialised is empty. counts[i] holds the
 * observations in (le[i-1], le[i]] (not cumulative); those above the last
 * bound are only in count. */
typedef struct {
    uint64_t counts[METRICS_BUCKETS];
    uint64_t count;
    double sum; /* seconds */
} metrics_hist_t;

/* Adds one observation of seconds (negative counts as 0). */
void metrics_hist_observe(metrics_hist_t *h, double seconds);

/* A growing text buffer. After an allocation failure `failed` is set and
 * further appends do nothing. */
typedef struct {
    char *data; /* NUL-terminated when len > 0; owned */
    size_t len, cap;
    int failed;
} metrics_buf_t;

/* Initialises an empty buffer (no allocation). */
void metrics_buf_init(metrics_buf_t *b);

/* Frees the buffer's text; the buffer is empty afterwards. */
void metrics_buf_free(metrics_buf_t *b);

/* Appends n bytes of data (any bytes; the text stays NUL-terminated). */
void metrics_buf_append(metrics_buf_t *b, const char *data, size_t n);

/* Appends printf-formatted text. */
void metrics_buf_printf(metrics_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* The process's own figures, from /proc/self. */
typedef struct {
    double resident_bytes;     /* VmRSS */
    double cpu_seconds;        /* user + system */
    double open_fds;           /* entries of /proc/self/fd */
    double start_time_seconds; /* since the Unix epoch */
} metrics_proc_t;

/* Reads /proc/self/{statm,stat,fd} and /proc/stat. Returns 0 or RP_EIO
 * (then *out is partly filled and should not be shown). */
int metrics_proc_read(metrics_proc_t *out);

/* Everything one rendering shows; every pointer is borrowed. */
typedef struct {
    const char *role;              /* "state", "reducer" or "mapper": the role label */
    const ctl_stat_t *stats;       /* the control counters (names of proto/ctl.h) */
    int nstats;
    const metrics_hist_t *commit;  /* commit durations, or NULL (the mapper) */
    const metrics_hist_t *fsync;   /* flush durations (svc/fsync.h), or NULL */
    const metrics_hist_t *latency; /* ingest-to-aggregate latency, or NULL */
    int has_store;                 /* map_bytes and used_bytes are set */
    uint64_t map_bytes, used_bytes;
    const metrics_proc_t *proc;    /* or NULL when /proc could not be read */
} metrics_view_t;

/* Appends the Prometheus text exposition of v to out: every counter the
 * table in metrics.c names (absent ones left out; names it does not know
 * are not shown), the reducer's per-mapper counters with a mapper label,
 * the histogram, the LMDB gauges and the process metrics, each sample with
 * role="ROLE". Returns 0, or RP_ENOMEM when out failed. */
int metrics_render(metrics_buf_t *out, const metrics_view_t *v);

/* Appends the /v1/status JSON object of v to out: {"role", "health": "ok",
 * "counters": {name:
 * value...}, and when the counters have them "committed_seq",
 * "applied_seq", "lag"; "lmdb" when has_store}. Returns 0 or RP_ENOMEM. */
int metrics_status_json(metrics_buf_t *out, const metrics_view_t *v);

#endif
