/* GET /v1/aggregates and the routes of the reducer's HTTP endpoint; see
 * query.h. */
#include "query.h"
#include "web.h"
#include "../common/log.h"
#include "../common/rperr.h"
#include "../proto/shard.h"
#include "../proto/tables.h"
#include "../svc/jsonw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct query_t {
    store_t *store;
    feed_t *feed;
};

/* Checks a path parameter into buf (HIER_PATH_MAX + 1 bytes). Empty: none. */
static int s_path_param(const char *name, const char *s, char *buf, size_t *len, char *why,
                        size_t whylen)
{
    *len = 0;
    buf[0] = 0;
    if (!s || !*s) return 0;
    size_t n = strlen(s);
    char r[160];
    if (n > HIER_PATH_MAX) {
        snprintf(why, whylen, "%s: longer than %d bytes", name, HIER_PATH_MAX);
        return RP_EINVAL;
    }
    if (hier_check_path(s, n, NULL, r, sizeof r)) {
        snprintf(why, whylen, "%s: not a path of levels joined by '::': %s", name, r);
        return RP_EINVAL;
    }
    memcpy(buf, s, n + 1);
    *len = n;
    return 0;
}

/* Checks an integer parameter in [min, max]. */
static int s_int_param(const char *name, const char *s, uint64_t min, uint64_t max, uint64_t *out,
                       char *why, size_t whylen)
{
    if (http_parse_uint(s, strlen(s), min, max, out) == 0) return 0;
    snprintf(why, whylen, "%s: want an integer from %llu to %llu, not '%.40s'", name,
             (unsigned long long)min, (unsigned long long)max, s);
    return RP_EINVAL;
}

int query_params_parse(const query_args_t *a, query_params_t *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    out->limit = QUERY_LIMIT_DEFAULT;
    uint64_t level = 0;
    if (s_path_param("prefix", a->prefix, out->prefix, &out->prefix_len, why, whylen) ||
        s_path_param("after", a->after, out->after, &out->after_len, why, whylen) ||
        (a->level && s_int_param("level", a->level, 1, HIER_MAX_LEVELS, &level, why, whylen)) ||
        (a->limit && s_int_param("limit", a->limit, 1, QUERY_LIMIT_MAX, &out->limit, why, whylen)))
        return RP_EINVAL;
    out->level = (int)level;
    return 0;
}

int query_under(const char *path, size_t len, const char *prefix, size_t plen)
{
    if (len < plen || memcmp(path, prefix, plen) != 0) return 0;
    if (plen == 0 || len == plen) return 1;
    return len >= plen + HIER_SEP_LEN && memcmp(path + plen, HIER_SEP, HIER_SEP_LEN) == 0;
}

int query_levels(const char *path, size_t len)
{
    size_t lens[HIER_MAX_LEVELS + 1];
    return hier_prefixes(path, len, lens, HIER_MAX_LEVELS + 1);
}

void query_row_json(metrics_buf_t *out, const char *path, size_t len, money_sum_t value,
                    int64_t count, uint64_t seq)
{
    char val[MONEY_FMT_MAX];
    money_format(value, val, sizeof val);
    metrics_buf_printf(out, "{\"path\":");
    jsonw_str(out, path, len);
    metrics_buf_printf(out, ",\"level\":%d,\"value\":\"%s\",\"count\":%lld,\"seq\":%llu}",
                       query_levels(path, len), val, (long long)count, (unsigned long long)seq);
}

int query_seq(store_t *store, MDB_txn *txn, uint64_t *seq)
{
    MDB_dbi meta = store_dbi(store, RDB_META);
    uint64_t shards = 1, one;
    int rc = store_meta_get(txn, meta, TABLES_META_SHARDS, &shards);
    if (rc && rc != RP_ENOTFOUND) return rc;
    *seq = 0;
    for (uint32_t s = 0; s < shards && s < SHARD_MAX; s++) {
        char key[TABLES_SHARD_KEY_MAX];
        tables_shard_key(key, TABLES_META_APPLIED_SEQ, s);
        if ((rc = store_meta_get(txn, meta, key, &one)) == RP_ENOTFOUND) continue;
        if (rc) return rc;
        *seq += one;
    }
    return 0;
}

/* memcmp order of two byte strings, the shorter first on a tie: LMDB's. */
static int s_bytecmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    return c ? c : (an > bn) - (an < bn);
}

int query_rows(store_t *store, MDB_txn *txn, const query_params_t *p, uint64_t seq,
               metrics_buf_t *out, uint64_t *rows, int *more, char *last, size_t *last_len)
{
    MDB_cursor *cur;
    *rows = 0;
    *more = 0;
    *last_len = 0;
    int rc = store_rc(mdb_cursor_open(txn, store_dbi(store, RDB_AGGREGATE), &cur));
    if (rc) return rc;
    /* Start at the prefix, or at the cursor when it sorts later (then
     * skipping the cursor's own row): every row under the prefix sorts at
     * or after it, and a cursor before it excludes none of them. */
    int after = p->after_len && s_bytecmp(p->after, p->after_len, p->prefix, p->prefix_len) >= 0;
    const char *start = after ? p->after : p->prefix;
    size_t start_len = after ? p->after_len : p->prefix_len;
    MDB_val k = {start_len, (void *)start}, v;
    int r = mdb_cursor_get(cur, &k, &v, start_len ? MDB_SET_RANGE : MDB_FIRST);
    if (r == 0 && after && k.mv_size == p->after_len && !memcmp(k.mv_data, p->after, p->after_len))
        r = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    for (; r == 0; r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const char *path = k.mv_data;
        /* past every path that starts with the prefix's bytes: done */
        if (k.mv_size < p->prefix_len || memcmp(path, p->prefix, p->prefix_len)) break;
        if (!query_under(path, k.mv_size, p->prefix, p->prefix_len)) continue;
        if (p->level && query_levels(path, k.mv_size) != p->level) continue;
        if (*rows == p->limit) {
            *more = 1;
            break;
        }
        money_sum_t sum;
        int64_t count;
        if (k.mv_size > HIER_PATH_MAX || tables_agg_decode(v.mv_data, v.mv_size, &sum, &count)) {
            log_error("aggregate row '%.*s' is unreadable",
                      (int)(k.mv_size > 600 ? 600 : k.mv_size), path);
            rc = RP_EPROTO;
            break;
        }
        if ((*rows)++) metrics_buf_printf(out, ",");
        query_row_json(out, path, k.mv_size, sum, count, seq);
        memcpy(last, path, k.mv_size);
        last[k.mv_size] = 0;
        *last_len = k.mv_size;
    }
    mdb_cursor_close(cur);
    if (rc) return rc;
    if (r != 0 && r != MDB_NOTFOUND) return store_rc(r);
    return out->failed ? RP_ENOMEM : 0;
}

int query_aggregates(store_t *store, const query_params_t *p, metrics_buf_t *out)
{
    MDB_txn *txn = NULL;
    uint64_t seq = 0, rows;
    int more;
    char last[HIER_PATH_MAX + 1];
    size_t last_len;
    int rc = store_begin(store, 1, &txn);
    if (rc == 0) rc = query_seq(store, txn, &seq);
    if (rc == 0) {
        metrics_buf_printf(out, "{\"seq\":%llu,\"rows\":[", (unsigned long long)seq);
        rc = query_rows(store, txn, p, seq, out, &rows, &more, last, &last_len);
    }
    store_abort(&txn);
    if (rc) return rc;
    metrics_buf_printf(out, "],\"next\":");
    if (more)
        jsonw_str(out, last, last_len);
    else
        metrics_buf_printf(out, "null");
    metrics_buf_printf(out, "}\n");
    return out->failed ? RP_ENOMEM : 0;
}

query_t *query_new(store_t *store, feed_t *feed)
{
    query_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->store = store;
    self->feed = feed;
    return self;
}

void query_destroy(query_t **self_p)
{
    if (!self_p || !*self_p) return;
    free(*self_p);
    *self_p = NULL;
}

/* The value of query parameter name, or NULL when absent. */
static const char *s_param(http_req_t *req, const char *name)
{
    const char *v;
    size_t n;
    return http_req_param(req, name, &v, &n) ? NULL : v;
}

/* Checks that the query of req names only names, and parses it into *p.
 * Returns 0, or answers 400 and returns RP_EINVAL. */
static int s_params(http_req_t *req, const char *const *names, query_params_t *p)
{
    char why[400];
    int rc = http_req_check_params(req, names, why, sizeof why);
    if (rc == 0) {
        /* any of them not in names was refused just now */
        query_args_t a = {s_param(req, "prefix"), s_param(req, "level"), s_param(req, "limit"),
                          s_param(req, "after")};
        rc = query_params_parse(&a, p, why, sizeof why);
    }
    if (rc) http_reply_error(req, 400, "%s", why);
    return rc;
}

/* Answers an error of the store with 500; RP_ENOMEM as such. */
static void s_fail(http_req_t *req, int rc)
{
    log_warn("http: %s: %s", http_req_path(req), rp_strerror(rc));
    http_reply_error(req, 500, "%s", rc == RP_ENOMEM ? "out of memory" : "cannot read the table");
}

int query_route(void *arg, http_req_t *req)
{
    query_t *self = arg;
    const char *path = http_req_path(req);
    query_params_t p;
    if (!strcmp(path, "/v1/aggregates")) {
        static const char *const names[] = {"prefix", "level", "limit", "after", NULL};
        if (s_params(req, names, &p)) return 1;
        metrics_buf_t b;
        metrics_buf_init(&b);
        int rc = query_aggregates(self->store, &p, &b);
        if (rc) {
            metrics_buf_free(&b);
            s_fail(req, rc);
        } else {
            http_reply_json(req, 200, &b);
        }
        return 1;
    }
    if (!strcmp(path, "/v1/stream")) {
        static const char *const names[] = {"prefix", NULL};
        if (s_params(req, names, &p)) return 1;
        feed_open(self->feed, req, p.prefix, p.prefix_len);
        return 1;
    }
    return 0;
}

int query_assets(void *arg, http_req_t *req)
{
    (void)arg;
    const char *body, *type;
    size_t len;
    if (web_asset(http_req_path(req), &body, &len, &type)) return 0;
    http_reply_static(req, body, len, type);
    return 1;
}
