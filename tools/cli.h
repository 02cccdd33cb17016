/* What every riskctl subcommand shares: the parse prologue and the process
 * exit codes, documented here once, and the "riskctl CMD: ..." error line.
 *
 * Exit codes of every subcommand:
 *   0  success
 *   1  failure: an error, a mismatch (verify), a timeout, or input that was
 *      lost or refused (an entry not found, not replayed, not deleted)
 *   2  usage error: an unknown flag, a bad value, wrong arguments */
#ifndef RP_CLI_H
#define RP_CLI_H

#include "../common/config.h"

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* Parses a subcommand's arguments (argv[0] is the subcommand) against opts,
 * compacting the positional ones into argv[1..1+*npos). Returns 1 to go on;
 * 0 when the subcommand must return *exit_code now (CLI_OK after --help was
 * printed, CLI_USAGE after a usage error, which config_parse printed). */
int cli_parse(config_opt_t *opts, int argc, char **argv, const char *usage, int *npos,
              int *exit_code);

/* Prints "riskctl CMD: <message>: <rp_strerror(rc)>" to stderr and returns
 * CLI_FAIL, so a failure reads `return cli_fail(...)`. */
int cli_fail(const char *cmd, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
