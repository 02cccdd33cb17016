/* Leveled logging to stderr: one line per call, written with a single
 * fprintf so lines from one process never interleave. */
#include "log.h"
#include "rperr.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

int log_level = LOG_LVL_INFO;
static const char *s_tag = "riskpipe";

int log_init(const char *tag, const char *level)
{
    static const char *names[] = {"error", "warn", "info", "debug"};
    if (tag) s_tag = tag;
    if (!level || !*level) return 0;
    for (int i = 0; i < 4; i++)
        if (strcmp(level, names[i]) == 0) {
            log_level = i;
            return 0;
        }
    return RP_EINVAL;
}

void log_write(int level, const char *fmt, ...)
{
    static const char lv[] = "EWID";
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %c %s[%d] %s\n", tm.tm_year + 1900,
            tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000),
            lv[level & 3], s_tag, (int)getpid(), msg);
}
