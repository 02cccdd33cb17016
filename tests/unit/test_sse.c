/* Unit tests for tools/sse.h, the Server-Sent Events parser of riskctl top:
 * events are dispatched at blank lines whatever the pieces the bytes come
 * in, data lines join with LF, every line ending is one, comments and
 * unknown fields are skipped, and an event larger than the limit is refused
 * instead of growing without bound. Expected events are literals. */
#include "../../tools/sse.h"
#include "../../common/rperr.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

/* What the event function saw: "type=data" per event, joined by '|'. */
typedef struct {
    char seen[1024];
    int n;
    int stop_at; /* return 1 from this event on (0: never) */
} s_log_t;

static int s_on(void *arg, const char *event, const char *data, size_t len)
{
    s_log_t *l = arg;
    cr_assert_eq(strlen(data), len, "data is NUL-terminated at len");
    size_t at = strlen(l->seen);
    snprintf(l->seen + at, sizeof l->seen - at, "%s%s=%s", l->n ? "|" : "", event, data);
    l->n++;
    return l->stop_at && l->n >= l->stop_at;
}

/* Feeds text in pieces of step bytes. Returns the first non-zero code. */
static int s_feed(sse_t *p, const char *text, size_t step)
{
    size_t len = strlen(text);
    for (size_t i = 0; i < len; i += step) {
        int rc = sse_feed(p, text + i, len - i < step ? len - i : step);
        if (rc) return rc;
    }
    return 0;
}

Test(sse, events_are_the_same_whatever_the_pieces)
{
    const char *text = "event: snapshot\ndata: {\"seq\": 1}\n\n"
                       ": a comment\nevent: update\ndata: {\"seq\": 2}\n\n";
    for (size_t step = 1; step <= strlen(text); step++) {
        s_log_t l = {0};
        sse_t p;
        sse_init(&p, 1 << 20, s_on, &l);
        RP_ASSERT_OK(s_feed(&p, text, step), "pieces of %zu", step);
        cr_assert_str_eq(l.seen, "snapshot={\"seq\": 1}|update={\"seq\": 2}", "pieces of %zu",
                         step);
        sse_free(&p);
    }
}

Test(sse, data_lines_join_with_lf_and_one_leading_space_is_dropped)
{
    s_log_t l = {0};
    sse_t p;
    sse_init(&p, 1 << 20, s_on, &l);
    RP_ASSERT_OK(s_feed(&p, "data:a\ndata:  b\ndata\n\n", 3));
    cr_assert_str_eq(l.seen, "message=a\n b\n");
    sse_free(&p);
}

Test(sse, crlf_and_cr_end_lines_even_split_between_pieces)
{
    s_log_t l = {0};
    sse_t p;
    sse_init(&p, 1 << 20, s_on, &l);
    /* CR then LF in separate pieces is one line end, not a blank line */
    RP_ASSERT_OK(sse_feed(&p, "event: x\r", 9));
    RP_ASSERT_OK(sse_feed(&p, "\ndata: 1\r", 9));
    cr_assert_eq(l.n, 0, "dispatched before the blank line: %s", l.seen);
    RP_ASSERT_OK(sse_feed(&p, "\n\r\n", 3));
    RP_ASSERT_OK(s_feed(&p, "data: 2\r\rdata: 3\n\n", 1));
    cr_assert_str_eq(l.seen, "x=1|message=2|message=3");
    sse_free(&p);
}

Test(sse, a_blank_line_without_data_dispatches_nothing)
{
    s_log_t l = {0};
    sse_t p;
    sse_init(&p, 1 << 20, s_on, &l);
    RP_ASSERT_OK(s_feed(&p, "event: update\n\nid: 7\nretry: 10\n\n\n", 4));
    cr_assert_eq(l.n, 0, "dispatched: %s", l.seen);
    /* and the event name of the empty event does not stick to the next */
    RP_ASSERT_OK(s_feed(&p, "data: z\n\n", 4));
    cr_assert_str_eq(l.seen, "message=z");
    sse_free(&p);
}

Test(sse, a_leading_byte_order_mark_is_skipped)
{
    s_log_t l = {0};
    sse_t p;
    sse_init(&p, 1 << 20, s_on, &l);
    RP_ASSERT_OK(s_feed(&p,
                        "\xEF\xBB\xBF"
                        "data: b\n\n",
                        64));
    cr_assert_str_eq(l.seen, "message=b");
    sse_free(&p);
}

Test(sse, an_event_beyond_the_limit_is_refused)
{
    s_log_t l = {0};
    sse_t p;
    sse_init(&p, 64, s_on, &l);
    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    /* a line that never ends, and data that grows over several lines */
    RP_ASSERT_RC(s_feed(&p, big, 7), RP_ERANGE);
    sse_reset(&p);
    RP_ASSERT_RC(s_feed(&p,
                        "data: 0123456789012345678901234567890\n"
                        "data: 0123456789012345678901234567890\n"
                        "data: 0\n\n",
                        5),
                 RP_ERANGE);
    cr_assert_eq(l.n, 0);
    /* after a reset the parser works again */
    sse_reset(&p);
    RP_ASSERT_OK(s_feed(&p, "data: ok\n\n", 3));
    cr_assert_str_eq(l.seen, "message=ok");
    sse_free(&p);
}

Test(sse, the_event_function_can_stop_the_parser)
{
    s_log_t l = {.stop_at = 1};
    sse_t p;
    sse_init(&p, 1 << 20, s_on, &l);
    cr_assert_eq(s_feed(&p, "data: 1\n\ndata: 2\n\n", 64), 1);
    cr_assert_str_eq(l.seen, "message=1");
    sse_free(&p);
}
