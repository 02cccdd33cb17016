/* Server-Sent Events, parsed a byte at a time; see sse.h. */
#include "sse.h"
#include "../common/rperr.h"

#include <stdlib.h>
#include <string.h>

void sse_init(sse_t *p, size_t max, sse_event_fn *fn, void *arg)
{
    memset(p, 0, sizeof *p);
    p->fn = fn;
    p->arg = arg;
    p->max = max;
}

void sse_reset(sse_t *p)
{
    p->line_len = p->data_len = 0;
    p->has_data = p->after_cr = p->started = 0;
    p->event[0] = 0;
}

void sse_free(sse_t *p)
{
    free(p->line);
    free(p->data);
    p->line = p->data = NULL;
    p->line_cap = p->data_cap = 0;
    sse_reset(p);
}

/* Appends n bytes to *buf (with room for a NUL). Returns 0, RP_ERANGE past
 * max, or RP_ENOMEM. */
static int s_append(char **buf, size_t *len, size_t *cap, size_t max, const char *s, size_t n)
{
    if (n > max || *len > max - n) return RP_ERANGE;
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 256;
        while (c < *len + n + 1)
            c *= 2;
        char *grown = realloc(*buf, c);
        if (!grown) return RP_ENOMEM;
        *buf = grown;
        *cap = c;
    }
    memcpy(*buf + *len, s, n);
    *len += n;
    (*buf)[*len] = 0;
    return 0;
}

/* Dispatches the event collected so far (a blank line). */
static int s_dispatch(sse_t *p)
{
    int rc = 0;
    if (p->has_data) {
        if (p->data_len && p->data[p->data_len - 1] == '\n') p->data[--p->data_len] = 0;
        rc = p->fn(p->arg, p->event[0] ? p->event : "message", p->data ? p->data : "", p->data_len);
    }
    p->data_len = 0;
    p->has_data = 0;
    p->event[0] = 0;
    return rc;
}

/* Processes one complete line (without its end). */
static int s_line(sse_t *p, const char *line, size_t n)
{
    if (n == 0) return s_dispatch(p);
    if (line[0] == ':') return 0;
    const char *colon = memchr(line, ':', n);
    size_t name_len = colon ? (size_t)(colon - line) : n;
    const char *value = colon ? colon + 1 : line + n;
    size_t value_len = (size_t)(line + n - value);
    if (value_len && value[0] == ' ') {
        value++;
        value_len--;
    }
    if (name_len == 5 && memcmp(line, "event", 5) == 0) {
        if (value_len >= sizeof p->event) value_len = sizeof p->event - 1;
        memcpy(p->event, value, value_len);
        p->event[value_len] = 0;
    } else if (name_len == 4 && memcmp(line, "data", 4) == 0) {
        int rc = s_append(&p->data, &p->data_len, &p->data_cap, p->max, value, value_len);
        if (rc == 0) rc = s_append(&p->data, &p->data_len, &p->data_cap, p->max, "\n", 1);
        if (rc) return rc;
        p->has_data = 1;
    }
    return 0;
}

int sse_feed(sse_t *p, const char *buf, size_t len)
{
    size_t i = 0;
    if (!p->started && len) {
        /* a byte-order mark may open the stream, once */
        static const char bom[] = "\xEF\xBB\xBF";
        if (len >= 3 && memcmp(buf, bom, 3) == 0) i = 3;
        p->started = 1;
    }
    while (i < len) {
        if (p->after_cr && buf[i] == '\n') { /* the LF of a CRLF */
            p->after_cr = 0;
            i++;
            continue;
        }
        p->after_cr = 0;
        /* the rest of this line, up to its end or the end of the piece */
        size_t j = i;
        while (j < len && buf[j] != '\n' && buf[j] != '\r')
            j++;
        int rc;
        if (j == len) /* incomplete: keep it */
            return s_append(&p->line, &p->line_len, &p->line_cap, p->max, buf + i, j - i);
        if (p->line_len) { /* the line began in an earlier piece */
            if ((rc = s_append(&p->line, &p->line_len, &p->line_cap, p->max, buf + i, j - i)))
                return rc;
            rc = s_line(p, p->line, p->line_len);
            p->line_len = 0;
        } else {
            rc = s_line(p, buf + i, j - i);
        }
        if (rc) return rc;
        p->after_cr = buf[j] == '\r';
        i = j + 1;
    }
    return 0;
}
