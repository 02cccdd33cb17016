/* The expected answer of the integration tests (see model.h). Written from
 * the documented semantics only: latest Version per TradeID wins, the first
 * payload of a Version wins, and every prefix of "L1::L2::L3" sums the
 * values of its live trades with an exact 128-bit integer of micro-units. */
#include "model.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <lmdb.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEVELS 3
static const char *const s_levels[LEVELS] = {"RiskType", "Region", "TradeDesk"};

typedef struct {
    char *trade;
    int64_t version, micro;
    char *path;
} trade_t;

/* Expected aggregate row. */
typedef struct {
    char *path;
    __int128 sum;
    long count;
} row_t;

struct model_t {
    trade_t *slots; /* open addressing on the TradeID */
    size_t cap, n;
    long accepted, duplicates, conflicts;
};

static uint64_t s_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

model_t *model_new(void)
{
    model_t *m = calloc(1, sizeof *m);
    cr_assert_not_null(m);
    m->cap = 1 << 16;
    m->slots = calloc(m->cap, sizeof *m->slots);
    cr_assert_not_null(m->slots);
    return m;
}

void model_destroy(model_t **self_p)
{
    if (!self_p || !*self_p) return;
    model_t *m = *self_p;
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slots[i].trade);
        free(m->slots[i].path);
    }
    free(m->slots);
    free(m);
    *self_p = NULL;
}

static trade_t *s_slot(trade_t *slots, size_t cap, const char *trade)
{
    size_t i = (size_t)s_hash(trade) & (cap - 1);
    while (slots[i].trade && strcmp(slots[i].trade, trade) != 0)
        i = (i + 1) & (cap - 1);
    return &slots[i];
}

static void s_grow(model_t *m)
{
    size_t cap = m->cap * 2;
    trade_t *slots = calloc(cap, sizeof *slots);
    cr_assert_not_null(slots);
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].trade) *s_slot(slots, cap, m->slots[i].trade) = m->slots[i];
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
}

model_outcome_t model_add(model_t *m, const char *trade, int64_t version, int64_t micro,
                          const char *path)
{
    if ((m->n + 1) * 2 > m->cap) s_grow(m);
    trade_t *t = s_slot(m->slots, m->cap, trade);
    if (t->trade && version < t->version) {
        m->duplicates++;
        return MODEL_DUPLICATE;
    }
    if (t->trade && version == t->version) {
        m->duplicates++;
        if (micro != t->micro || strcmp(path, t->path) != 0) {
            m->conflicts++;
            return MODEL_CONFLICT;
        }
        return MODEL_DUPLICATE;
    }
    if (!t->trade) {
        t->trade = strdup(trade);
        m->n++;
    }
    free(t->path);
    t->path = strdup(path);
    cr_assert(t->trade && t->path);
    t->version = version;
    t->micro = micro;
    m->accepted++;
    return MODEL_ACCEPTED;
}

long model_accepted(const model_t *m)
{
    return m->accepted;
}
long model_duplicates(const model_t *m)
{
    return m->duplicates;
}
long model_conflicts(const model_t *m)
{
    return m->conflicts;
}
long model_trades(const model_t *m)
{
    return (long)m->n;
}

int model_parse_micro(const char *s, size_t len, int64_t *out)
{
    size_t i = 0;
    int neg = 0;
    if (i < len && (s[i] == '-' || s[i] == '+')) neg = s[i++] == '-';
    __int128 v = 0;
    int digits = 0, frac = 0, round_up = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
        v = v * 10 + (s[i] - '0');
        if (v > (__int128)1000000000000000000LL) return -1;
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
            if (frac < 6)
                v = v * 10 + (s[i] - '0'), frac++;
            else if (frac++ == 6)
                round_up = s[i] >= '5'; /* half away from zero */
        }
    }
    if (i != len || digits == 0) return -1;
    for (; frac < 6; frac++)
        v *= 10;
    v += round_up;
    if (v > (__int128)INT64_MAX) return -1;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

void model_format_micro(__int128 v, char *buf, size_t cap)
{
    char tmp[64];
    int n = 0, neg = v < 0;
    unsigned __int128 a = neg ? (unsigned __int128)(-(v + 1)) + 1 : (unsigned __int128)v;
    unsigned frac = (unsigned)(a % 1000000);
    a /= 1000000;
    do {
        tmp[n++] = (char)('0' + (int)(a % 10));
        a /= 10;
    } while (a);
    size_t o = 0;
    if (neg && o + 1 < cap) buf[o++] = '-';
    while (n > 0 && o + 1 < cap)
        buf[o++] = tmp[--n];
    snprintf(buf + o, cap - o, ".%06u", frac);
}

/* Finds the raw text of the Value member in a compact JSON line as riskctl
 * gen prints it: a JSON number (token) or a decimal string (contents). JSON
 * reals are read from the text, not through a double, so no rounding of a
 * binary fraction can hide or create a mismatch. */
static int s_value_text(const char *line, const char **v, size_t *vlen)
{
    const char *p = strstr(line, "\"Value\"");
    if (!p) return -1;
    p += 7;
    while (*p == ' ')
        p++;
    if (*p++ != ':') return -1;
    while (*p == ' ')
        p++;
    if (*p == '"') {
        const char *e = strchr(p + 1, '"');
        if (!e) return -1;
        *v = p + 1;
        *vlen = (size_t)(e - p - 1);
        return 0;
    }
    size_t n = strspn(p, "+-0123456789.eE");
    if (n == 0) return -1;
    *v = p;
    *vlen = n;
    return 0;
}

/* Joins the configured level values of a Hierarchy object with "::". */
static int s_path(json_t *hier, char *buf, size_t cap)
{
    size_t o = 0;
    for (int l = 0; l < LEVELS; l++) {
        const char *v = json_string_value(json_object_get(hier, s_levels[l]));
        if (!v) return -1;
        int w = snprintf(buf + o, cap - o, "%s%s", l ? "::" : "", v);
        if (w < 0 || (size_t)w >= cap - o) return -1;
        o += (size_t)w;
    }
    return 0;
}

long model_load_jsonl(model_t *m, const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "model: cannot open %s\n", path);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    long n = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, f)) > 0) {
        n++;
        json_error_t err;
        json_t *j = json_loadb(line, (size_t)len, 0, &err);
        const char *vt = NULL;
        size_t vl = 0;
        int64_t micro = 0;
        char p[512];
        json_t *tid = json_object_get(j, "TradeID"), *ver = json_object_get(j, "Version");
        if (!j || !json_is_string(tid) || !json_is_integer(ver) || s_value_text(line, &vt, &vl) ||
            model_parse_micro(vt, vl, &micro) ||
            s_path(json_object_get(j, "Hierarchy"), p, sizeof p)) {
            fprintf(stderr, "model: %s line %ld not understood: %s", path, n, line);
            json_decref(j);
            free(line);
            fclose(f);
            return -1;
        }
        model_add(m, json_string_value(tid), (int64_t)json_integer_value(ver), micro, p);
        json_decref(j);
    }
    free(line);
    fclose(f);
    return n;
}

/* Expected rows: one per prefix of every live trade's path. */
static row_t *s_rows(const model_t *m, size_t *nrows)
{
    size_t cap = 1024, n = 0;
    row_t *rows = calloc(cap, sizeof *rows);
    /* prefix -> row index, open addressing (few hundred prefixes) */
    size_t hcap = 1 << 12;
    long *idx = malloc(hcap * sizeof *idx);
    cr_assert(rows && idx);
    for (size_t i = 0; i < hcap; i++)
        idx[i] = -1;
    for (size_t s = 0; s < m->cap; s++) {
        const trade_t *t = &m->slots[s];
        if (!t->trade) continue;
        size_t plen = strlen(t->path);
        for (size_t end = 0; end <= plen; end++) {
            if (end < plen && !(t->path[end] == ':' && t->path[end + 1] == ':')) continue;
            char pre[512];
            snprintf(pre, sizeof pre, "%.*s", (int)end, t->path);
            size_t h = (size_t)s_hash(pre) & (hcap - 1);
            while (idx[h] >= 0 && strcmp(rows[idx[h]].path, pre) != 0)
                h = (h + 1) & (hcap - 1);
            if (idx[h] < 0) {
                cr_assert_lt(n * 2, hcap, "too many distinct prefixes for the model");
                if (n == cap) rows = realloc(rows, (cap *= 2) * sizeof *rows);
                cr_assert_not_null(rows);
                rows[n].path = strdup(pre);
                rows[n].sum = 0;
                rows[n].count = 0;
                idx[h] = (long)n++;
            }
            rows[idx[h]].sum += t->micro;
            rows[idx[h]].count++;
        }
    }
    free(idx);
    *nrows = n;
    return rows;
}

static int s_row_cmp(const void *a, const void *b)
{
    return strcmp(((const row_t *)a)->path, ((const row_t *)b)->path);
}

/* Opens an LMDB environment read-only and one named database in it. */
static int s_open(const char *dir, const char *db, MDB_env **env, MDB_txn **txn, MDB_dbi *dbi)
{
    int rc;
    *env = NULL;
    *txn = NULL;
    if ((rc = mdb_env_create(env)) || (rc = mdb_env_set_maxdbs(*env, 8)) ||
        (rc = mdb_env_open(*env, dir, MDB_RDONLY, 0644)) ||
        (rc = mdb_txn_begin(*env, NULL, MDB_RDONLY, txn)) ||
        (rc = mdb_dbi_open(*txn, db, 0, dbi))) {
        fprintf(stderr, "model: cannot read database '%s' in %s: %s\n", db, dir, mdb_strerror(rc));
        if (*txn) mdb_txn_abort(*txn);
        if (*env) mdb_env_close(*env);
        return -1;
    }
    return 0;
}

static const msgpack_object *s_get(const msgpack_object *map, const char *key)
{
    if (map->type != MSGPACK_OBJECT_MAP) return NULL;
    size_t kl = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl &&
            memcmp(k->via.str.ptr, key, kl) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

static int s_int(const msgpack_object *o, long long *out)
{
    if (!o) return -1;
    if (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        *out = (long long)o->via.u64;
    else if (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *out = (long long)o->via.i64;
    else
        return -1;
    return 0;
}

#define SHOW 15 /* mismatches printed */

long model_compare_aggregates(const model_t *m, const char *reducer_dir, long *nexpected)
{
    size_t n;
    row_t *rows = s_rows(m, &n);
    qsort(rows, n, sizeof *rows, s_row_cmp);
    *nexpected = (long)n;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cur = NULL;
    long bad = 0;
    if (s_open(reducer_dir, "aggregate", &env, &txn, &dbi) || mdb_cursor_open(txn, dbi, &cur)) {
        bad = -1;
        goto out_rows;
    }
    MDB_val k, v;
    int r = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    size_t i = 0;
    char want[64], key[1024];
    while (i < n || r == 0) {
        int c;
        if (r != 0)
            c = -1;
        else if (i >= n)
            c = 1;
        else {
            snprintf(key, sizeof key, "%.*s", (int)k.mv_size, (char *)k.mv_data);
            c = strcmp(rows[i].path, key);
        }
        if (r == 0) snprintf(key, sizeof key, "%.*s", (int)k.mv_size, (char *)k.mv_data);
        char got[64] = "?";
        long long count = -1;
        if (c >= 0) {
            msgpack_unpacked u;
            msgpack_unpacked_init(&u);
            size_t off = 0;
            if (msgpack_unpack_next(&u, v.mv_data, v.mv_size, &off) == MSGPACK_UNPACK_SUCCESS) {
                const msgpack_object *val = s_get(&u.data, "value");
                if (val && val->type == MSGPACK_OBJECT_STR)
                    snprintf(got, sizeof got, "%.*s", (int)val->via.str.size, val->via.str.ptr);
                if (s_int(s_get(&u.data, "count"), &count)) count = -1;
            }
            msgpack_unpacked_destroy(&u);
        }
        if (c < 0) {
            model_format_micro(rows[i].sum, want, sizeof want);
            if (bad++ < SHOW)
                fprintf(stderr, "  missing  %s: expected %s count %ld\n", rows[i].path, want,
                        rows[i].count);
            i++;
        } else if (c > 0) {
            int64_t z;
            int zero = model_parse_micro(got, strlen(got), &z) == 0 && z == 0 && count == 0;
            if (!zero && bad++ < SHOW)
                fprintf(stderr, "  extra    %s: value %s count %lld, expected no row\n", key, got,
                        count);
            r = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        } else {
            model_format_micro(rows[i].sum, want, sizeof want);
            if ((strcmp(want, got) != 0 || count != rows[i].count) && bad++ < SHOW)
                fprintf(stderr, "  differs  %s: expected %s count %ld, table has %s count %lld\n",
                        rows[i].path, want, rows[i].count, got, count);
            i++;
            r = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
        }
    }
    if (bad) fprintf(stderr, "aggregate table: %ld mismatch(es) in %s\n", bad, reducer_dir);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(env);
out_rows:
    for (size_t x = 0; x < n; x++)
        free(rows[x].path);
    free(rows);
    return bad;
}

int model_aggregate_has(const char *reducer_dir, const char *path)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    if (s_open(reducer_dir, "aggregate", &env, &txn, &dbi)) return -1;
    MDB_val k = {strlen(path), (void *)path}, v;
    int r = mdb_get(txn, dbi, &k, &v);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return r == 0 ? 1 : r == MDB_NOTFOUND ? 0 : -1;
}

long model_compare_state(const model_t *m, const char *state_dir)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cur = NULL;
    if (s_open(state_dir, "state", &env, &txn, &dbi) || mdb_cursor_open(txn, dbi, &cur)) return -1;
    long bad = 0, seen = 0;
    MDB_val k, v;
    char key[256], want[64];
    for (int r = mdb_cursor_get(cur, &k, &v, MDB_FIRST); r == 0;
         r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        snprintf(key, sizeof key, "%.*s", (int)k.mv_size, (char *)k.mv_data);
        trade_t *t = s_slot(m->slots, m->cap, key);
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        long long ver = -1;
        char got[64] = "?";
        /* A state row (README, format 2): [Version, Value in micro-units,
         * Timestamp, [level values], {other Hierarchy keys}]. */
        long long micro;
        if (msgpack_unpack_next(&u, v.mv_data, v.mv_size, &off) == MSGPACK_UNPACK_SUCCESS &&
            u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size == 5) {
            const msgpack_object *f = u.data.via.array.ptr;
            if (s_int(&f[1], &micro) == 0) model_format_micro(micro, got, sizeof got);
            if (s_int(&f[0], &ver)) ver = -1;
        }
        msgpack_unpacked_destroy(&u);
        if (!t->trade) {
            if (bad++ < SHOW)
                fprintf(stderr, "  state has unknown trade %s (Version %lld)\n", key, ver);
            continue;
        }
        seen++;
        model_format_micro(t->micro, want, sizeof want);
        if ((ver != t->version || strcmp(want, got) != 0) && bad++ < SHOW)
            fprintf(stderr, "  state %s: Version %lld Value %s, expected Version %lld Value %s\n",
                    key, ver, got, (long long)t->version, want);
    }
    if (seen != (long)m->n) {
        fprintf(stderr, "  state table holds %ld of the %zu expected trades\n", seen, m->n);
        bad += (long)m->n - seen;
    }
    if (bad) fprintf(stderr, "state table: %ld mismatch(es) in %s\n", bad, state_dir);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return bad;
}
