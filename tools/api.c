/* Reading the daemons' HTTP API page by page; see api.h. */
#include "api.h"
#include "../common/rperr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void api_rows_free(api_rows_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        free(r->rows[i].path);
    free(r->rows);
    memset(r, 0, sizeof *r);
}

int api_path_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    return c ? c : alen < blen ? -1 : alen > blen;
}

/* Reads the page's "seq" (an integer >= 0) and "next" (a string or null). */
static int s_page_head(const json_t *page, uint64_t *seq, const json_t **next, char *why,
                       size_t whylen)
{
    const json_t *s = json_object_get(page, "seq"), *n = json_object_get(page, "next");
    if (!json_is_integer(s) || json_integer_value(s) < 0) {
        snprintf(why, whylen, "a page without an integer \"seq\"");
        return RP_EPROTO;
    }
    if (!n || !(json_is_string(n) || json_is_null(n))) {
        snprintf(why, whylen, "a page whose \"next\" is neither a string nor null");
        return RP_EPROTO;
    }
    *seq = (uint64_t)json_integer_value(s);
    *next = json_is_string(n) ? n : NULL;
    return 0;
}

int api_row_parse(const json_t *row, api_row_t *out, char *why, size_t whylen)
{
    const json_t *p = json_object_get(row, "path"), *v = json_object_get(row, "value"),
                 *c = json_object_get(row, "count");
    if (!json_is_string(p) || json_string_length(p) == 0) {
        snprintf(why, whylen, "a row without a non-empty string \"path\"");
        return RP_EPROTO;
    }
    const char *path = json_string_value(p);
    int plen = (int)json_string_length(p);
    if (!json_is_string(v) ||
        money_sum_parse(json_string_value(v), json_string_length(v), &out->sum)) {
        snprintf(why, whylen, "row '%.*s': \"value\" is not an exact decimal string", plen, path);
        return RP_EPROTO;
    }
    if (!json_is_integer(c) || json_integer_value(c) < 0) {
        snprintf(why, whylen, "row '%.*s': \"count\" is not an integer >= 0", plen, path);
        return RP_EPROTO;
    }
    out->count = json_integer_value(c);
    out->len = json_string_length(p);
    if (!(out->path = malloc(out->len + 1))) {
        snprintf(why, whylen, "out of memory");
        return RP_ENOMEM;
    }
    memcpy(out->path, path, out->len + 1);
    return 0;
}

int api_aggregates_page(const json_t *page, api_rows_t *out, uint64_t *seq, const json_t **next,
                        char *why, size_t whylen)
{
    const json_t *rows = json_object_get(page, "rows"), *row;
    int rc = s_page_head(page, seq, next, why, whylen);
    if (rc) return rc;
    if (!json_is_array(rows)) {
        snprintf(why, whylen, "a page without a \"rows\" array");
        return RP_EPROTO;
    }
    size_t n0 = out->n, i;
    json_array_foreach(rows, i, row)
    {
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 256;
            api_row_t *grown = realloc(out->rows, cap * sizeof *grown);
            if (!grown) {
                rc = RP_ENOMEM;
                break;
            }
            out->rows = grown;
            out->cap = cap;
        }
        api_row_t *r = &out->rows[out->n];
        if ((rc = api_row_parse(row, r, why, whylen))) break;
        out->n++;
        const api_row_t *prev = out->n > 1 ? r - 1 : NULL;
        if (prev && api_path_cmp(prev->path, prev->len, r->path, r->len) >= 0) {
            snprintf(why, whylen, "rows out of key order: '%.*s' after '%.*s'", (int)r->len,
                     r->path, (int)prev->len, prev->path);
            rc = RP_EPROTO;
            break;
        }
    }
    if (rc == RP_ENOMEM) snprintf(why, whylen, "out of memory");
    if (rc)
        while (out->n > n0)
            free(out->rows[--out->n].path);
    return rc;
}

int api_trades_page(const json_t *page, rollup_t *out, const char *after, size_t alen,
                    size_t *ntrades, uint64_t *seq, const json_t **next, char *why, size_t whylen)
{
    const json_t *trades = json_object_get(page, "trades"), *t;
    int rc = s_page_head(page, seq, next, why, whylen);
    if (rc) return rc;
    if (!json_is_array(trades)) {
        snprintf(why, whylen, "a page without a \"trades\" array");
        return RP_EPROTO;
    }
    size_t i;
    json_array_foreach(trades, i, t)
    {
        const json_t *id = json_object_get(t, "trade_id"), *v = json_object_get(t, "value"),
                     *p = json_object_get(t, "path");
        if (!json_is_string(id)) {
            snprintf(why, whylen, "a trade without a string \"trade_id\"");
            return RP_EPROTO;
        }
        const char *tid = json_string_value(id);
        size_t tlen = json_string_length(id);
        if (after && api_path_cmp(after, alen, tid, tlen) >= 0) {
            snprintf(why, whylen, "trades out of key order: '%s' after '%.*s'", tid, (int)alen,
                     after);
            return RP_EPROTO;
        }
        money_sum_t sum;
        if (!json_is_string(v) ||
            money_sum_parse(json_string_value(v), json_string_length(v), &sum) || sum > MONEY_MAX ||
            sum < -MONEY_MAX) {
            snprintf(why, whylen,
                     "trade '%s': \"value\" is not an exact decimal string within "
                     "1e12",
                     tid);
            return RP_EPROTO;
        }
        if (!json_is_string(p) || json_string_length(p) == 0) {
            snprintf(why, whylen, "trade '%s' without a non-empty string \"path\"", tid);
            return RP_EPROTO;
        }
        if ((rc = rollup_add(out, json_string_value(p), json_string_length(p), (money_t)sum))) {
            snprintf(why, whylen, "out of memory");
            return rc;
        }
        (*ntrades)++;
        after = tid;
        alen = tlen;
    }
    /* the next page starts after "next": one before this page's last trade
     * would have trades counted twice */
    if (*next && after &&
        api_path_cmp(json_string_value(*next), json_string_length(*next), after, alen) < 0) {
        snprintf(why, whylen, "a page whose \"next\" '%s' comes before its last trade '%.*s'",
                 json_string_value(*next), (int)alen, after);
        return RP_EPROTO;
    }
    return 0;
}

/* Holds a copy of the cursor for the next page: next's text, which must
 * come after the previous one. */
static int s_advance(char **after, size_t *alen, const json_t *next, const char *what, char *why,
                     size_t whylen)
{
    const char *n = json_string_value(next);
    size_t len = json_string_length(next);
    if (memchr(n, 0, len)) {
        snprintf(why, whylen, "%s: cannot ask for the page after a key holding a NUL byte", what);
        return RP_EPROTO;
    }
    if (*after && api_path_cmp(*after, *alen, n, len) >= 0) {
        snprintf(why, whylen, "%s: \"next\" '%s' does not advance past '%s'", what, n, *after);
        return RP_EPROTO;
    }
    char *copy = strdup(n);
    if (!copy) {
        snprintf(why, whylen, "out of memory");
        return RP_ENOMEM;
    }
    free(*after);
    *after = copy;
    *alen = len;
    return 0;
}

/* Checks that a page reflects the same change as the first one. */
static int s_same_seq(int first, uint64_t *seq, uint64_t page_seq, const char *what, char *why,
                      size_t whylen)
{
    if (first) {
        *seq = page_seq;
        return 0;
    }
    if (page_seq == *seq) return 0;
    snprintf(why, whylen, "%s moved from change %llu to %llu between pages", what,
             (unsigned long long)*seq, (unsigned long long)page_seq);
    return RP_EBUSY;
}

int api_aggregates(http_client_t *c, const char *prefix, api_rows_t *out, uint64_t *seq, char *why,
                   size_t whylen)
{
    char *after = NULL, what[HTTP_CLIENT_WHY_MAX];
    size_t alen = 0;
    int rc = 0;
    snprintf(what, sizeof what, "%s/v1/aggregates", http_client_url(c));
    for (int first = 1; rc == 0; first = 0) {
        const char *params[9] = {"limit", API_AGG_LIMIT};
        int np = 2;
        if (*prefix) {
            params[np++] = "prefix";
            params[np++] = prefix;
        }
        if (after) {
            params[np++] = "after";
            params[np++] = after;
        }
        json_t *page = NULL;
        const json_t *next;
        uint64_t page_seq;
        char reason[HTTP_CLIENT_WHY_MAX];
        rc = http_client_get_json(c, "/v1/aggregates", params, JSON_ALLOW_NUL, &page, why, whylen);
        if (rc) break;
        if ((rc = api_aggregates_page(page, out, &page_seq, &next, reason, sizeof reason)))
            snprintf(why, whylen, "%s answered %s", what, reason);
        else if ((rc = s_same_seq(first, seq, page_seq, what, why, whylen)) == 0 && next)
            rc = s_advance(&after, &alen, next, what, why, whylen);
        int more = rc == 0 && next;
        json_decref(page);
        if (!more) break;
    }
    free(after);
    return rc;
}

int api_trades(http_client_t *c, rollup_t *out, size_t *ntrades, uint64_t *seq, char *why,
               size_t whylen)
{
    char *after = NULL, what[HTTP_CLIENT_WHY_MAX];
    size_t alen = 0;
    int rc = 0;
    *ntrades = 0;
    snprintf(what, sizeof what, "%s/v1/trades", http_client_url(c));
    for (int first = 1; rc == 0; first = 0) {
        const char *params[5] = {"limit", API_TRADES_LIMIT, after ? "after" : NULL, after};
        json_t *page = NULL;
        const json_t *next;
        uint64_t page_seq;
        char reason[HTTP_CLIENT_WHY_MAX];
        /* no JSON_ALLOW_NUL: a TradeID or path never holds a NUL */
        if ((rc = http_client_get_json(c, "/v1/trades", params, 0, &page, why, whylen))) break;
        if ((rc = api_trades_page(page, out, after, alen, ntrades, &page_seq, &next, reason,
                                  sizeof reason)))
            snprintf(why, whylen, "%s answered %s", what, reason);
        else if ((rc = s_same_seq(first, seq, page_seq, what, why, whylen)) == 0 && next)
            rc = s_advance(&after, &alen, next, what, why, whylen);
        int more = rc == 0 && next;
        json_decref(page);
        if (!more) break;
    }
    free(after);
    return rc;
}

int api_status(http_client_t *c, const char *role, json_t **out, char *why, size_t whylen)
{
    int rc = http_client_get_json(c, "/v1/status", NULL, 0, out, why, whylen);
    if (rc) return rc;
    const char *r = json_string_value(json_object_get(*out, "role"));
    if (r && strcmp(r, role) == 0) return 0;
    if (r)
        snprintf(why, whylen, "%s is not the %s's HTTP endpoint: it answers as \"%s\"",
                 http_client_url(c), role, r);
    else
        snprintf(why, whylen, "%s is not the %s's HTTP endpoint: its /v1/status has no role",
                 http_client_url(c), role);
    json_decref(*out);
    *out = NULL;
    return RP_EPROTO;
}

int api_status_int(const json_t *status, const char *name, long long *out)
{
    const json_t *v = json_object_get(status, name);
    if (!json_is_integer(v)) v = json_object_get(json_object_get(status, "counters"), name);
    if (!json_is_integer(v)) return RP_ENOTFOUND;
    *out = json_integer_value(v);
    return 0;
}
