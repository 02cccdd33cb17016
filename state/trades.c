/* GET /v1/trades and /v1/trades/{TradeID}; see trades.h. */
#include "trades.h"
#include "../common/log.h"
#include "../common/money.h"
#include "../common/rperr.h"
#include "../proto/risk.h"
#include "../proto/tables.h"
#include "../svc/jsonw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S_PREFIX "/v1/trades/"

struct trades_t {
    store_t *store;
    hier_levels_t levels;
};

int trades_seq(store_t *store, MDB_txn *txn, uint64_t *seq)
{
    uint64_t next = 1;
    int rc = store_meta_get(txn, store_dbi(store, SDB_META), TABLES_META_NEXT_SEQ, &next);
    if (rc && rc != RP_ENOTFOUND) return rc;
    *seq = rc == RP_ENOTFOUND || next == 0 ? 0 : next - 1;
    return 0;
}

/* Appends a msgpack string object as a JSON string. */
static void s_str(metrics_buf_t *out, const msgpack_object *o)
{
    jsonw_str(out, o->via.str.ptr, o->via.str.size);
}

int trades_json(metrics_buf_t *out, const char *id, size_t id_len, const char *row, size_t row_len,
                const hier_levels_t *h, uint64_t seq)
{
    msgpack_unpacked unp;
    state_row_t r;
    state_detail_t d;
    int rc = tables_state_detail(row, row_len, h, &unp, &r, &d);
    if (rc) {
        msgpack_unpacked_destroy(&unp);
        return rc;
    }
    char val[MONEY_FMT_MAX];
    money_format(r.value, val, sizeof val);
    metrics_buf_printf(out, "{\"trade_id\":");
    jsonw_str(out, id, id_len);
    metrics_buf_printf(out, ",\"version\":%lld,\"value\":\"%s\",\"path\":", (long long)r.version,
                       val);
    jsonw_str(out, r.path, r.path_len);
    metrics_buf_printf(out, ",\"hierarchy\":{");
    for (int l = 0; l < h->n; l++) {
        if (l) metrics_buf_printf(out, ",");
        jsonw_key(out, h->name[l]);
        s_str(out, &d.levels->via.array.ptr[l]);
    }
    for (uint32_t i = 0; i < d.extra->via.map.size; i++) {
        if (h->n || i) metrics_buf_printf(out, ",");
        s_str(out, &d.extra->via.map.ptr[i].key);
        metrics_buf_printf(out, ":");
        s_str(out, &d.extra->via.map.ptr[i].val);
    }
    metrics_buf_printf(out, "},\"timestamp\":");
    const msgpack_object *ts = d.timestamp;
    if (!ts)
        metrics_buf_printf(out, "null");
    else if (ts->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        metrics_buf_printf(out, "%llu", (unsigned long long)ts->via.u64);
    else if (ts->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        metrics_buf_printf(out, "%lld", (long long)ts->via.i64);
    else
        jsonw_double(out, ts->via.f64);
    metrics_buf_printf(out, ",\"seq\":%llu}", (unsigned long long)seq);
    msgpack_unpacked_destroy(&unp);
    return out->failed ? RP_ENOMEM : 0;
}

/* Logs a state row that does not decode. */
static void s_corrupt(const char *id, size_t id_len)
{
    log_error("state row of TradeID '%.*s' is unreadable", (int)(id_len > 200 ? 200 : id_len), id);
}

int trades_get(store_t *store, const hier_levels_t *h, const char *id, size_t id_len,
               metrics_buf_t *out)
{
    MDB_txn *txn = NULL;
    uint64_t seq = 0;
    int rc = store_begin(store, 1, &txn);
    if (rc == 0) rc = trades_seq(store, txn, &seq);
    if (rc == 0) {
        MDB_val k = {id_len, (void *)id}, v;
        rc = store_rc(mdb_get(txn, store_dbi(store, SDB_STATE), &k, &v));
        if (rc == 0 &&
            (rc = trades_json(out, id, id_len, v.mv_data, v.mv_size, h, seq)) == RP_EPROTO)
            s_corrupt(id, id_len);
    }
    store_abort(&txn);
    if (rc == 0) metrics_buf_printf(out, "\n");
    return rc ? rc : out->failed ? RP_ENOMEM : 0;
}

int trades_list(store_t *store, const hier_levels_t *h, const char *after, size_t after_len,
                uint64_t limit, metrics_buf_t *out)
{
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    uint64_t seq = 0, n = 0;
    int more = 0, bad = 0;
    char last[RISK_TRADE_ID_MAX + 1];
    size_t last_len = 0;
    int rc = store_begin(store, 1, &txn);
    if (rc == 0) rc = trades_seq(store, txn, &seq);
    if (rc == 0) rc = store_rc(mdb_cursor_open(txn, store_dbi(store, SDB_STATE), &cur));
    if (rc == 0) {
        metrics_buf_printf(out, "{\"seq\":%llu,\"trades\":[", (unsigned long long)seq);
        MDB_val k = {after_len, (void *)after}, v;
        int r = mdb_cursor_get(cur, &k, &v, after_len ? MDB_SET_RANGE : MDB_FIRST);
        if (r == 0 && after_len && k.mv_size == after_len && !memcmp(k.mv_data, after, after_len))
            r = mdb_cursor_get(cur, &k, &v, MDB_NEXT); /* after is exclusive */
        for (; r == 0; r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (n == limit) {
                more = 1;
                break;
            }
            if (n++) metrics_buf_printf(out, ",");
            if (k.mv_size > RISK_TRADE_ID_MAX ||
                trades_json(out, k.mv_data, k.mv_size, v.mv_data, v.mv_size, h, seq)) {
                s_corrupt(k.mv_data, k.mv_size);
                bad = 1;
                break;
            }
            memcpy(last, k.mv_data, k.mv_size);
            last_len = k.mv_size;
        }
        if (bad)
            rc = RP_EPROTO;
        else if (r != 0 && r != MDB_NOTFOUND)
            rc = store_rc(r);
    }
    if (cur) mdb_cursor_close(cur);
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

trades_t *trades_new(store_t *store, const hier_levels_t *h)
{
    trades_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->store = store;
    self->levels = *h;
    return self;
}

void trades_destroy(trades_t **self_p)
{
    if (!self_p || !*self_p) return;
    free(*self_p);
    *self_p = NULL;
}

/* Checks TradeID text (what ingest accepts): 400 with the reason if not. */
static int s_check_id(http_req_t *req, const char *what, const char *id, size_t len)
{
    char why[RISK_WHY_MAX];
    if (len == 0 || len > RISK_TRADE_ID_MAX) {
        http_reply_error(req, 400, "%s must be 1 to %d bytes long", what, RISK_TRADE_ID_MAX);
        return RP_EINVAL;
    }
    if (hier_check_text(id, len, why, sizeof why)) {
        http_reply_error(req, 400, "%s %s", what, why);
        return RP_EINVAL;
    }
    return 0;
}

/* Answers with out, or with the error rc. */
static void s_answer(http_req_t *req, int rc, metrics_buf_t *out)
{
    if (rc == 0) {
        http_reply_json(req, 200, out);
        return;
    }
    metrics_buf_free(out);
    if (rc == RP_ENOTFOUND) {
        http_reply_error(req, 404, "no such trade");
        return;
    }
    log_warn("http: %s: %s", http_req_path(req), rp_strerror(rc));
    http_reply_error(req, 500, "%s", rc == RP_ENOMEM ? "out of memory" : "cannot read the table");
}

int trades_route(void *arg, http_req_t *req)
{
    trades_t *self = arg;
    const char *path = http_req_path(req);
    metrics_buf_t out;
    char why[400];
    metrics_buf_init(&out);
    if (!strncmp(path, S_PREFIX, strlen(S_PREFIX))) {
        static const char *const none[] = {NULL};
        const char *id = path + strlen(S_PREFIX);
        size_t len = strlen(id);
        if (http_req_check_params(req, none, why, sizeof why)) {
            http_reply_error(req, 400, "%s", why);
            return 1;
        }
        if (s_check_id(req, "TradeID", id, len)) return 1;
        s_answer(req, trades_get(self->store, &self->levels, id, len, &out), &out);
        return 1;
    }
    if (!strcmp(path, "/v1/trades")) {
        static const char *const names[] = {"after", "limit", NULL};
        const char *after = "", *limit = NULL;
        size_t alen = 0, llen = 0;
        uint64_t n = TRADES_LIMIT_DEFAULT;
        if (http_req_check_params(req, names, why, sizeof why)) {
            http_reply_error(req, 400, "%s", why);
            return 1;
        }
        if (http_req_param(req, "after", &after, &alen)) {
            after = "";
            alen = 0;
        }
        if (alen && s_check_id(req, "after", after, alen)) return 1;
        if (!http_req_param(req, "limit", &limit, &llen) &&
            http_parse_uint(limit, llen, 1, TRADES_LIMIT_MAX, &n)) {
            http_reply_error(req, 400, "limit: want an integer from 1 to %d, not '%.40s'",
                             TRADES_LIMIT_MAX, limit);
            return 1;
        }
        s_answer(req, trades_list(self->store, &self->levels, after, alen, n, &out), &out);
        return 1;
    }
    return 0;
}
