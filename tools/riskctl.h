/* riskctl subcommands. Each takes the arguments after the subcommand name
 * (argv[0] is the subcommand) and returns the process exit code (cli.h). */
#ifndef RP_RISKCTL_H
#define RP_RISKCTL_H

#include <stdint.h>

int cmd_gen(int argc, char **argv);    /* gen.c: deterministic workload */
int cmd_send(int argc, char **argv);   /* send.c: JSON lines -> acknowledged ingest */
int cmd_query(int argc, char **argv);  /* query.c: aggregate tree */
int cmd_verify(int argc, char **argv); /* verify.c: recompute the aggregates from state */
int cmd_wait(int argc, char **argv);   /* ctl.c: wait until committed changes are applied */
int cmd_stats(int argc, char **argv);  /* ctl.c: counters of state and reducer */
int cmd_ping(int argc, char **argv);   /* ctl.c: health check */

/* Polls the state process's control endpoint ep until every change up to
 * target (-1: what it had committed at the first answer) is applied, or
 * until deadline_ms (clock_mono_ms). cmd names the command in messages.
 * Returns CLI_OK, or CLI_FAIL after saying why (timeout, wrong role, no
 * answer); *applied is the last applied sequence seen (-1: none). */
int ctl_wait_applied(const char *cmd, const char *ep, long long target, int64_t deadline_ms,
                     long long *applied);
int cmd_dlq(int argc, char **argv);    /* dlq.c: dead-letter table */
int cmd_rebuild(int argc, char **argv); /* rebuild.c: a lost reducer, from the state table */
int cmd_keygen(int argc, char **argv);  /* keygen.c: a pipeline's CURVE key set */
int cmd_top(int argc, char **argv);     /* top.c: live terminal view over the HTTP API */

#endif
