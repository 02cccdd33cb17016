/* An incremental parser of Server-Sent Events (the text/event-stream format
 * of the WHATWG HTML standard, section 9.2), fed the bytes of a stream as
 * they arrive, in pieces of any size: riskctl top reads the reducer's
 * /v1/stream with it. Lines end with LF, CRLF or CR; "event:" names the
 * event, "data:" lines are joined with LF, a blank line dispatches, lines
 * starting with ':' are comments; "id" and "retry" are ignored. */
#ifndef RP_SSE_H
#define RP_SSE_H

#include <stddef.h>

/* Called for each dispatched event: event is its type ("message" when the
 * stream named none), data its data (NUL-terminated, len bytes); both
 * borrowed for the call. Returns 0 to go on; anything else stops sse_feed,
 * which returns it. */
typedef int(sse_event_fn)(void *arg, const char *event, const char *data, size_t len);

typedef struct {
    sse_event_fn *fn;
    void *arg;
    size_t max; /* most bytes of one event's line and data */
    char *line; /* the line being read (owned) */
    size_t line_len, line_cap;
    char *data; /* the event's data so far (owned) */
    size_t data_len, data_cap;
    int has_data;   /* a data field was seen */
    char event[64]; /* the event's type; "" until an event field */
    int after_cr;   /* the last byte was a CR: an LF next ends nothing */
    int started;    /* past a leading byte-order mark, if any */
} sse_t;

/* Starts a parser that calls fn(arg, ...) for each event and refuses an
 * event (line or data) larger than max bytes. Allocates nothing. */
void sse_init(sse_t *p, size_t max, sse_event_fn *fn, void *arg);

/* Parses len bytes of the stream. Returns 0; RP_ERANGE when an event grows
 * beyond max; RP_ENOMEM; or what the event function returned. After an
 * error, call sse_reset before feeding it again. */
int sse_feed(sse_t *p, const char *buf, size_t len);

/* Forgets any partial line and event (for a new connection); keeps the
 * buffers. */
void sse_reset(sse_t *p);

/* Frees the buffers; the parser may be reused after sse_init. */
void sse_free(sse_t *p);

#endif
