/* Command-line flags with RISKPIPE_<PROGRAM>_<FLAG> environment fallbacks and
 * generated --help text. Each process names itself (config_set_program),
 * declares a table of config_opt_t and calls config_parse once at start-up. */
#ifndef RP_CONFIG_H
#define RP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;  /* long flag without dashes, e.g. "ingest-pull" */
    const char *def;   /* default value text; NULL for a boolean switch */
    const char *help;  /* one line for --help */
    const char *value; /* out: from argv, else env RISKPIPE_<PROGRAM>_<NAME>, else def;
                          borrowed from argv/environ/def. Switches: "1" or NULL */
} config_opt_t;

/* Sets the program part of the environment names: "state" makes --data
 * fall back to RISKPIPE_STATE_DATA. --log-level is shared: RISKPIPE_LOG_LEVEL
 * in every program. Call before config_parse; the name is copied. */
void config_set_program(const char *program);

/* Parses argv[first..argc) against opts (terminated by an entry with name
 * NULL). Flags may be given as "--name value" or "--name=value"; "--help"
 * prints usage (the `usage` line, then every flag with its default and its
 * environment variable) to stdout. Non-flag arguments are compacted, in order,
 * into argv[first..first+*npos). Returns 0 on success, 1 when --help was
 * printed (the caller exits 0), RP_EINVAL on an unknown flag or a missing
 * value (a message is printed to stderr). */
int config_parse(config_opt_t *opts, int argc, char **argv, int first, int *npos,
                 const char *usage);

/* Prints the flag table to stdout (what --help shows). */
void config_usage(const config_opt_t *opts, const char *usage);

/* Returns the option named `name`'s value (borrowed), or NULL. */
const char *config_get(const config_opt_t *opts, const char *name);

/* Parses the option's value as an integer in [min, max] into *out. Returns 0,
 * or RP_EINVAL with a message on stderr naming the flag. */
int config_int(const config_opt_t *opts, const char *name, int64_t min, int64_t max,
               int64_t *out);

#endif
