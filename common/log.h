/* Minimal leveled logging to stderr with a process tag. The level is checked
 * before the arguments are evaluated, so debug logging costs nothing when off. */
#ifndef RP_LOG_H
#define RP_LOG_H

enum { LOG_LVL_ERROR = 0, LOG_LVL_WARN = 1, LOG_LVL_INFO = 2, LOG_LVL_DEBUG = 3 };

extern int log_level;

/* Sets the tag printed on every line (borrowed: must outlive logging) and the
 * level from a name ("error", "warn", "info", "debug"; NULL or "" keeps the
 * current level). Returns 0, or RP_EINVAL for an unknown name, which leaves
 * the level as it was. */
int log_init(const char *tag, const char *level);

/* Writes one line: time, level, tag, message. Use the macros below. */
void log_write(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define LOG_AT(lvl, ...)                                                                           \
    do {                                                                                           \
        if ((lvl) <= log_level) log_write((lvl), __VA_ARGS__);                                     \
    } while (0)
#define log_error(...) LOG_AT(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) LOG_AT(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) LOG_AT(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) LOG_AT(LOG_LVL_DEBUG, __VA_ARGS__)

#endif
