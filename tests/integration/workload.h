/* Workloads the integration tests share: the generated message file every
 * end-to-end test sends, the model of its expected answer, the parsing of
 * riskctl send's summary, and the RISKPIPE_TEST_QUICK scaling of sizes.
 * Owned by the integration tests; like the harness it knows riskctl's flags
 * and output, never the product's code. */
#ifndef RP_IT_WORKLOAD_H
#define RP_IT_WORKLOAD_H

#include "harness.h"
#include "model.h"

#include <stddef.h>

/* The counts riskctl send prints on stdout ("accepted=.. duplicates=..
 * conflicts=.. rejected=.. bad_lines=.."); each is -1 when absent. */
typedef struct {
    long long accepted, duplicates, conflicts, rejected, bad_lines;
} workload_sent_t;

/* Returns n, or n / 5 when RISKPIPE_TEST_QUICK is set to anything but "" or
 * "0" (the slow sanitizer builds). Used for message counts, feed rates and the
 * committed_seq points where tests inject faults, so they shrink together. */
long workload_scale(long n);

/* Runs riskctl gen for seed and count (with re-valuations, moves, duplicates
 * and out-of-order versions) into c->dir/workload.jsonl, writes that path into
 * file[cap], and returns a new model loaded from it (caller owns it; free with
 * model_destroy). Fails the test when gen fails, the file has other than count
 * lines, or the workload lacks duplicates or re-valuations, since the tests
 * would then check less than they claim. */
model_t *workload_new(h_cluster_t *c, int seed, long count, char *file, size_t cap);

/* Parses riskctl send's summary line out of out (borrowed, NUL-terminated). */
workload_sent_t workload_parse_send(const char *out);

/* Like workload_parse_send on the contents of the file path (riskctl send's
 * redirected stdout); all counts are -1 when the file cannot be read. */
workload_sent_t workload_read_send(const char *path);

#endif
