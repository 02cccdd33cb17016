/* The shared parse prologue and error line of riskctl's subcommands; see cli.h. */
#include "cli.h"
#include "../common/rperr.h"

#include <stdarg.h>
#include <stdio.h>

int cli_parse(config_opt_t *opts, int argc, char **argv, const char *usage, int *npos,
              int *exit_code)
{
    int rc = config_parse(opts, argc, argv, 1, npos, usage);
    if (rc == 0) {
        *exit_code = CLI_OK;
        return 1;
    }
    /* config_parse returns 1 after printing --help, RP_EINVAL after a usage error */
    *exit_code = rc > 0 ? CLI_OK : CLI_USAGE;
    return 0;
}

int cli_fail(const char *cmd, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "riskctl %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s\n", rp_strerror(rc));
    return CLI_FAIL;
}
