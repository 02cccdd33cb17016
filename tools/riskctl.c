/* riskctl: the command-line tool for riskpipe users and tests. main only
 * dispatches to the subcommand named by argv[1]. */
#include "riskctl.h"
#include "../common/config.h"
#include "cli.h"
#include "../common/log.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} s_cmds[] = {
    {"gen", cmd_gen, "print a deterministic workload as JSON lines"},
    {"send", cmd_send, "send JSON lines through acknowledged ingest"},
    {"query", cmd_query, "show the aggregate tree (optionally under a prefix)"},
    {"verify", cmd_verify, "recompute totals from the state table and compare exactly"},
    {"wait", cmd_wait, "wait until every change committed so far is aggregated"},
    {"stats", cmd_stats, "show the counters of the state process and the reducer"},
    {"top", cmd_top, "live terminal view: health, rates, lag, errors and the top of the tree"},
    {"ping", cmd_ping, "exit 0 if the state process or reducer answers as such (health check)"},
    {"dlq", cmd_dlq, "list, show, replay or purge dead-lettered messages"},
    {"keygen", cmd_keygen, "make a pipeline's CURVE key set (one key pair per role)"},
    {"rebuild", cmd_rebuild, "rebuild a lost reducer's aggregate exactly from the state table"},
};

static void s_usage(FILE *f)
{
    fprintf(f, "usage: riskctl COMMAND [options]   (riskctl COMMAND --help for details)\n\n");
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        fprintf(f, "  %-8s %s\n", s_cmds[i].name, s_cmds[i].help);
}

int main(int argc, char **argv)
{
    log_init("riskctl", "warn");
    config_set_program("ctl"); /* flags fall back to RISKPIPE_CTL_<FLAG> */
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        s_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : CLI_OK;
    }
    for (size_t i = 0; i < sizeof s_cmds / sizeof s_cmds[0]; i++)
        if (strcmp(argv[1], s_cmds[i].name) == 0) return s_cmds[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "riskctl: unknown command '%s'\n", argv[1]);
    s_usage(stderr);
    return CLI_USAGE;
}
