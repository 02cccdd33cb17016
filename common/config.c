/* Flag parsing with environment fallbacks: --foo-bar of program PROG falls
 * back to the environment variable RISKPIPE_PROG_FOO_BAR, then to the built-in
 * default. The program is in every name so that one variable means one thing
 * everywhere: state and reducer both have --data and --control, and --acks
 * binds in one and connects in the other. Only the log level is shared. */
#include "config.h"
#include "rperr.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char s_program[32]; /* "STATE", "CTL", ...; "" before config_set_program */

/* Flags every program reads from the same variable, on purpose. */
static int s_shared(const char *name)
{
    return strcmp(name, "log-level") == 0;
}

void config_set_program(const char *program)
{
    size_t i = 0;
    for (; program[i] && i + 1 < sizeof s_program; i++)
        s_program[i] = program[i] == '-' ? '_' : (char)toupper((unsigned char)program[i]);
    s_program[i] = 0;
}

static void s_env_name(const char *name, char *buf, size_t cap)
{
    size_t n = (size_t)snprintf(buf, cap, "RISKPIPE_%s%s", s_shared(name) ? "" : s_program,
                                s_shared(name) || !s_program[0] ? "" : "_");
    for (const char *p = name; *p && n + 1 < cap; p++)
        buf[n++] = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    buf[n] = 0;
}

void config_usage(const config_opt_t *opts, const char *usage)
{
    printf("%s\n\nOptions (each falls back to the environment variable shown):\n", usage);
    for (const config_opt_t *o = opts; o->name; o++) {
        char env[96], flag[64];
        s_env_name(o->name, env, sizeof env);
        snprintf(flag, sizeof flag, "--%s%s", o->name, o->def ? " VALUE" : "");
        printf("  %-26s %s\n  %-26s [env %s%s%s%s]\n", flag, o->help, "", env,
               o->def ? ", default \"" : "", o->def ? o->def : "", o->def ? "\"" : "");
    }
    printf("  %-26s %s\n", "--help", "show this help and exit");
}

static config_opt_t *s_find(config_opt_t *opts, const char *name, size_t len)
{
    for (config_opt_t *o = opts; o->name; o++)
        if (strlen(o->name) == len && memcmp(o->name, name, len) == 0) return o;
    return NULL;
}

int config_parse(config_opt_t *opts, int argc, char **argv, int first, int *npos,
                 const char *usage)
{
    int pos = first;
    for (config_opt_t *o = opts; o->name; o++) {
        char env[96];
        s_env_name(o->name, env, sizeof env);
        const char *e = getenv(env);
        o->value = (e && *e) ? e : o->def;
    }
    for (int i = first; i < argc; i++) {
        char *a = argv[i];
        if (strcmp(a, "--") == 0) {
            while (++i < argc) argv[pos++] = argv[i];
            break;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            config_usage(opts, usage);
            return 1;
        }
        if (strncmp(a, "--", 2) != 0 || a[2] == 0) {
            argv[pos++] = a;
            continue;
        }
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        config_opt_t *o = s_find(opts, name, len);
        if (!o) {
            fprintf(stderr, "unknown option '%s' (see --help)\n", a);
            return RP_EINVAL;
        }
        if (!o->def) { /* switch */
            if (eq) {
                fprintf(stderr, "option --%s takes no value\n", o->name);
                return RP_EINVAL;
            }
            o->value = "1";
        } else if (eq) {
            o->value = eq + 1;
        } else if (i + 1 < argc) {
            o->value = argv[++i];
        } else {
            fprintf(stderr, "option --%s needs a value\n", o->name);
            return RP_EINVAL;
        }
    }
    if (npos) *npos = pos - first;
    return 0;
}

const char *config_get(const config_opt_t *opts, const char *name)
{
    for (const config_opt_t *o = opts; o->name; o++)
        if (strcmp(o->name, name) == 0) return o->value;
    return NULL;
}

int config_int(const config_opt_t *opts, const char *name, int64_t min, int64_t max,
               int64_t *out)
{
    const char *v = config_get(opts, name);
    char *end = NULL;
    errno = 0;
    long long x = v ? strtoll(v, &end, 10) : 0;
    if (!v || end == v || *end || errno || x < min || x > max) {
        fprintf(stderr, "option --%s: '%s' is not an integer in [%lld, %lld]\n", name,
                v ? v : "", (long long)min, (long long)max);
        return RP_EINVAL;
    }
    *out = x;
    return 0;
}
