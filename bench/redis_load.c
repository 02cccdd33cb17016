/* bench-redis-load: the Redis peer of `make bench`. Reads a JSON-lines
 * workload as riskpipe does (bench/peer_input.h) and sends it in batches,
 * each one EVALSHA of a Lua script that keeps the latest version of every
 * trade in one hash and the exact sum (micro-units) and count of every path
 * prefix in two more, pipelining a few batches. Prints the time from the
 * first byte read to the last reply (with appendfsync always, Redis replies
 * only once the batch is in the fsynced append-only file), and can dump the
 * aggregates for an independent check. */
#include "peer_input.h"

#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RD_BATCH_DEFAULT 1000
#define RD_PIPELINE_DEFAULT 4
#define RD_KEYS 3 /* the script's KEYS: trade state, sums, counts */

static const char *const s_keys[RD_KEYS] = {"trades", "agg:value", "agg:count"};

/* The script. KEYS[1] maps TradeID -> "version|micro-units|path", KEYS[2]
 * path prefix -> sum in micro-units, KEYS[3] path prefix -> live trades.
 * ARGV holds 4 strings per message: TradeID, Version, Value in micro-units
 * and path, in input order, applied one after the other: a message wins when
 * its version is higher than the stored one (equal or lower: ignored).
 * Lua's numbers are doubles, exact only below 2^53, and a micro-unit value
 * reaches 1e18: so values are split as hi * 1e9 + lo, whose per-batch sums
 * stay far below 2^53, and each prefix's net change goes to HINCRBY as exact
 * decimal text once per batch. Versions are compared as decimal text.
 * Returns the number of messages that won. */
static const char *const s_script =
    "local B = 1000000000\n"
    "local dh, dl, dc = {}, {}, {}\n"
    "local cache, dirty, order = {}, {}, {}\n"
    "local function older(a, b)\n"
    "  if #a ~= #b then return #a < #b end\n"
    "  return a < b\n"
    "end\n"
    "local function split(s)\n"
    "  local neg = string.byte(s, 1) == 45\n"
    "  if neg then s = string.sub(s, 2) end\n"
    "  local hi, lo = 0, tonumber(string.sub(s, -9))\n"
    "  if #s > 9 then hi = tonumber(string.sub(s, 1, #s - 9)) end\n"
    "  if neg then return -hi, -lo end\n"
    "  return hi, lo\n"
    "end\n"
    "local function add(path, hi, lo, c)\n"
    "  local from = 1\n"
    "  repeat\n"
    "    local s = string.find(path, '::', from, true)\n"
    "    local p = s and string.sub(path, 1, s - 1) or path\n"
    "    if dc[p] == nil then dh[p], dl[p], dc[p] = 0, 0, 0 end\n"
    "    dh[p], dl[p], dc[p] = dh[p] + hi, dl[p] + lo, dc[p] + c\n"
    "    from = s and s + 2\n"
    "  until not s\n"
    "end\n"
    "local function text(hi, lo)\n"
    "  local carry = math.floor(lo / B)\n"
    "  lo, hi = lo - carry * B, hi + carry\n"
    "  if hi == 0 then return string.format('%d', lo) end\n"
    "  if hi > 0 then return string.format('%d%09d', hi, lo) end\n"
    "  if lo == 0 then return string.format('%d000000000', hi) end\n"
    "  if hi == -1 then return string.format('-%d', B - lo) end\n"
    "  return string.format('-%d%09d', -hi - 1, B - lo)\n"
    "end\n"
    "local won = 0\n"
    "for i = 1, #ARGV, 4 do\n"
    "  local id, ver, val, path = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]\n"
    "  local cur = cache[id]\n"
    "  if cur == nil then\n"
    "    cur = redis.call('HGET', KEYS[1], id)\n"
    "    cache[id] = cur\n"
    "  end\n"
    "  local take = true\n"
    "  if cur then\n"
    "    local a = string.find(cur, '|', 1, true)\n"
    "    local b = string.find(cur, '|', a + 1, true)\n"
    "    if older(string.sub(cur, 1, a - 1), ver) then\n"
    "      local hi, lo = split(string.sub(cur, a + 1, b - 1))\n"
    "      add(string.sub(cur, b + 1), -hi, -lo, -1)\n"
    "    else\n"
    "      take = false\n"
    "    end\n"
    "  end\n"
    "  if take then\n"
    "    local hi, lo = split(val)\n"
    "    add(path, hi, lo, 1)\n"
    "    local rec = ver .. '|' .. val .. '|' .. path\n"
    "    if dirty[id] == nil then order[#order + 1] = id end\n"
    "    cache[id], dirty[id] = rec, rec\n"
    "    won = won + 1\n"
    "  end\n"
    "end\n"
    "local args = {}\n"
    "for j = 1, #order do\n"
    "  args[#args + 1] = order[j]\n"
    "  args[#args + 1] = dirty[order[j]]\n"
    "  if #args >= 1000 or j == #order then\n"
    "    redis.call('HSET', KEYS[1], unpack(args))\n"
    "    args = {}\n"
    "  end\n"
    "end\n"
    "for p, c in pairs(dc) do\n"
    "  local gone = false\n"
    "  if c ~= 0 then\n"
    "    gone = redis.call('HINCRBY', KEYS[3], p, string.format('%d', c)) == 0\n"
    "  end\n"
    "  if gone then\n"
    "    redis.call('HDEL', KEYS[2], p)\n"
    "    redis.call('HDEL', KEYS[3], p)\n"
    "  elseif dh[p] ~= 0 or dl[p] ~= 0 then\n"
    "    redis.call('HINCRBY', KEYS[2], p, text(dh[p], dl[p]))\n"
    "  end\n"
    "end\n"
    "return won\n";

/* One batch's EVALSHA arguments. The strings live in arena (offsets kept in
 * off[], since the arena may move while it grows); argv[] points into it
 * once the batch is complete. */
typedef struct {
    char *arena;
    size_t len, cap;
    size_t *off, *lens;
    const char **argv;
    size_t argc, max_argc;
    uint32_t n;
} rd_batch_t;

static void s_usage(FILE *f)
{
    fprintf(f,
            "usage: bench-redis-load [options] FILE\n"
            "Loads a JSON-lines workload into Redis, one Lua script call per batch.\n"
            "  --socket PATH    Redis unix socket (default: $BENCH_REDIS_SOCKET)\n"
            "  --batch N        messages per script call (default %d)\n"
            "  --pipeline N     script calls in flight (default %d)\n"
            "  --dump FILE      after the run, write the aggregates as\n"
            "                   \"path<TAB>micro-units<TAB>count\" lines\n",
            RD_BATCH_DEFAULT, RD_PIPELINE_DEFAULT);
}

/* Appends one argument (n bytes). Returns 0, or -1 out of memory. */
static int s_arg(rd_batch_t *b, const char *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 1 << 18;
        while (cap < b->len + n) cap *= 2;
        char *na = realloc(b->arena, cap);
        if (!na) return -1;
        b->arena = na;
        b->cap = cap;
    }
    memcpy(b->arena + b->len, p, n);
    b->off[b->argc] = b->len;
    b->lens[b->argc++] = n;
    b->len += n;
    return 0;
}

/* Allocates room for batch messages' arguments. Returns 0 or -1. */
static int s_batch_init(rd_batch_t *b, uint32_t batch)
{
    b->max_argc = 3 + RD_KEYS + 4 * (size_t)batch;
    b->off = malloc(b->max_argc * sizeof *b->off);
    b->lens = malloc(b->max_argc * sizeof *b->lens);
    b->argv = malloc(b->max_argc * sizeof *b->argv);
    return b->off && b->lens && b->argv ? 0 : -1;
}

static void s_batch_free(rd_batch_t *b)
{
    free(b->arena);
    free(b->off);
    free(b->lens);
    free(b->argv);
}

/* Reads up to batch messages into b as one EVALSHA sha call. Returns 0
 * (b->n may be 0 at the end), or -1 after printing why. */
static int s_fill(peer_input_t *in, rd_batch_t *b, uint32_t batch, const char *sha)
{
    char num[32];
    peer_msg_t m;
    int rc = 0, err = 0;
    b->len = b->argc = 0;
    b->n = 0;
    err |= s_arg(b, "EVALSHA", 7);
    err |= s_arg(b, sha, strlen(sha));
    snprintf(num, sizeof num, "%d", RD_KEYS);
    err |= s_arg(b, num, strlen(num));
    for (int k = 0; k < RD_KEYS; k++) err |= s_arg(b, s_keys[k], strlen(s_keys[k]));
    while (!err && b->n < batch && (rc = peer_input_next(in, &m)) == 1) {
        err |= s_arg(b, m.trade_id, m.trade_id_len);
        err |= s_arg(b, num, (size_t)snprintf(num, sizeof num, "%" PRId64, m.version));
        err |= s_arg(b, num, (size_t)snprintf(num, sizeof num, "%" PRId64, m.value));
        err |= s_arg(b, m.path, m.path_len);
        b->n++;
    }
    if (err) {
        fprintf(stderr, "bench-redis-load: out of memory for a batch\n");
        return -1;
    }
    if (rc < 0) return -1;
    for (size_t i = 0; i < b->argc; i++) b->argv[i] = b->arena + b->off[i];
    return 0;
}

/* Takes the reply of the oldest call in flight: it must be an integer (the
 * script's count of winning messages). Returns 0, or -1 after printing why. */
static int s_reply(redisContext *c, long long *won)
{
    redisReply *r = NULL;
    if (redisGetReply(c, (void **)&r) != REDIS_OK) {
        fprintf(stderr, "bench-redis-load: connection failed: %s\n", c->errstr);
        return -1;
    }
    int ok = r->type == REDIS_REPLY_INTEGER;
    if (ok)
        *won += r->integer;
    else
        fprintf(stderr, "bench-redis-load: the script failed: %.*s\n",
                r->type == REDIS_REPLY_ERROR ? (int)r->len : 20,
                r->type == REDIS_REPLY_ERROR ? r->str : "(not an integer reply)");
    freeReplyObject(r);
    return ok ? 0 : -1;
}

/* Runs a command whose reply must have the given type; *out gets it (free
 * it with freeReplyObject). Returns 0, or -1 after printing why. */
static int s_command(redisContext *c, redisReply **out, int type, const char *what,
                     const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (!r) {
        fprintf(stderr, "bench-redis-load: %s failed: %s\n", what, c->errstr);
        return -1;
    }
    if (r->type != type) {
        fprintf(stderr, "bench-redis-load: %s failed: %s\n", what,
                r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply type");
        freeReplyObject(r);
        return -1;
    }
    *out = r;
    return 0;
}

/* One field and its value from an HGETALL reply. */
typedef struct {
    const redisReply *field, *value;
} rd_pair_t;

/* qsort order of pairs: by field, bytewise. */
static int s_cmp_pair(const void *a, const void *b)
{
    const redisReply *x = ((const rd_pair_t *)a)->field, *y = ((const rd_pair_t *)b)->field;
    size_t n = x->len < y->len ? x->len : y->len;
    int d = memcmp(x->str, y->str, n);
    return d ? d : (x->len > y->len) - (x->len < y->len);
}

/* The pairs of an HGETALL reply sorted by field, in a new array (free it),
 * with their number in *n; NULL when out of memory. */
static rd_pair_t *s_pairs(const redisReply *r, size_t *n)
{
    *n = r->elements / 2;
    rd_pair_t *p = malloc((*n ? *n : 1) * sizeof *p);
    if (!p) return NULL;
    for (size_t i = 0; i < *n; i++) p[i] = (rd_pair_t){r->element[2 * i], r->element[2 * i + 1]};
    qsort(p, *n, sizeof *p, s_cmp_pair);
    return p;
}

/* Writes the union of the sums and counts hashes to path, a missing sum as
 * 0 and a missing count as 0 (which the check then reports). Returns the
 * rows written, or -1. */
static long s_dump(redisContext *c, const char *path)
{
    redisReply *val = NULL, *cnt = NULL;
    rd_pair_t *v = NULL, *k = NULL;
    size_t nv = 0, nk = 0;
    long rows = -1;
    FILE *f = NULL;
    if (s_command(c, &val, REDIS_REPLY_ARRAY, "reading the sums", "HGETALL %s", s_keys[1]) ||
        s_command(c, &cnt, REDIS_REPLY_ARRAY, "reading the counts", "HGETALL %s", s_keys[2]))
        goto out;
    if (!(v = s_pairs(val, &nv)) || !(k = s_pairs(cnt, &nk))) {
        fprintf(stderr, "bench-redis-load: out of memory for the aggregates\n");
        goto out;
    }
    if (!(f = fopen(path, "w"))) {
        fprintf(stderr, "bench-redis-load: cannot write %s: %s\n", path, strerror(errno));
        goto out;
    }
    size_t i = 0, j = 0;
    rows = 0;
    while (i < nv || j < nk) {
        int d = i >= nv ? 1 : j >= nk ? -1 : s_cmp_pair(&v[i], &k[j]);
        const redisReply *key = d <= 0 ? v[i].field : k[j].field;
        const redisReply *sum = d <= 0 ? v[i].value : NULL, *count = d >= 0 ? k[j].value : NULL;
        fprintf(f, "%.*s\t%.*s\t%.*s\n", (int)key->len, key->str, sum ? (int)sum->len : 1,
                sum ? sum->str : "0", count ? (int)count->len : 1, count ? count->str : "0");
        i += d <= 0;
        j += d >= 0;
        rows++;
    }
    if (fclose(f)) {
        fprintf(stderr, "bench-redis-load: cannot write %s: %s\n", path, strerror(errno));
        rows = -1;
    }
out:
    free(v);
    free(k);
    if (val) freeReplyObject(val);
    if (cnt) freeReplyObject(cnt);
    return rows;
}

/* Parses a flag's number in [lo, hi]. Returns 0, or -1 after printing why. */
static int s_number(const char *flag, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < lo || v > hi) {
        fprintf(stderr, "bench-redis-load: %s must be %ld..%ld, not '%s'\n", flag, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"socket", required_argument, NULL, 's'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"pipeline", required_argument, NULL, 'p'},
                                         {"dump", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *sock = getenv("BENCH_REDIS_SOCKET"), *dump = NULL;
    long batch = RD_BATCH_DEFAULT, pipeline = RD_PIPELINE_DEFAULT;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 's':
            sock = optarg;
            break;
        case 'b':
            if (s_number("--batch", optarg, 1, 100000, &batch)) return 2;
            break;
        case 'p':
            if (s_number("--pipeline", optarg, 1, 1000, &pipeline)) return 2;
            break;
        case 'd':
            dump = optarg;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1 || !sock) {
        if (!sock) fprintf(stderr, "bench-redis-load: --socket is required\n");
        s_usage(stderr);
        return 2;
    }

    int rc = 1;
    char why[256], sha[64];
    rd_batch_t b = {0};
    peer_input_t *in = NULL;
    redisReply *r = NULL;
    redisContext *c = redisConnectUnix(sock);
    if (!c || c->err) {
        fprintf(stderr, "bench-redis-load: cannot connect to Redis at %s: %s\n", sock,
                c ? c->errstr : "out of memory");
        goto out;
    }
    if (s_command(c, &r, REDIS_REPLY_STRING, "loading the script", "SCRIPT LOAD %s", s_script))
        goto out;
    snprintf(sha, sizeof sha, "%.*s", (int)r->len, r->str);
    freeReplyObject(r);
    if (s_batch_init(&b, (uint32_t)batch)) {
        fprintf(stderr, "bench-redis-load: out of memory\n");
        goto out;
    }
    if (!(in = peer_input_open(argv[optind], why, sizeof why))) {
        fprintf(stderr, "bench-redis-load: %s\n", why);
        goto out;
    }

    /* hiredis copies each call into its output buffer, so one batch buffer
     * serves while earlier calls are still in flight. */
    double t0 = peer_now();
    long long won = 0;
    long inflight = 0;
    uint64_t batches = 0;
    for (;;) {
        if (s_fill(in, &b, (uint32_t)batch, sha)) goto out;
        if (b.n == 0) break;
        if (redisAppendCommandArgv(c, (int)b.argc, b.argv, b.lens) != REDIS_OK) {
            fprintf(stderr, "bench-redis-load: sending a batch failed: %s\n", c->errstr);
            goto out;
        }
        batches++;
        /* Write it out now, so Redis works while the next batch is parsed. */
        int done = 0;
        while (!done)
            if (redisBufferWrite(c, &done) != REDIS_OK) {
                fprintf(stderr, "bench-redis-load: sending a batch failed: %s\n", c->errstr);
                goto out;
            }
        if (++inflight >= pipeline) {
            if (s_reply(c, &won)) goto out;
            inflight--;
        }
    }
    for (; inflight > 0; inflight--)
        if (s_reply(c, &won)) goto out;
    double t1 = peer_now();

    long rows = dump ? s_dump(c, dump) : 0;
    if (rows < 0) goto out;
    printf("seconds=%.3f msgs=%llu refused=%llu batches=%llu won=%lld rows=%ld\n", t1 - t0,
           (unsigned long long)peer_input_lines(in), (unsigned long long)peer_input_refused(in),
           (unsigned long long)batches, won, rows);
    rc = 0;
out:
    peer_input_destroy(&in);
    s_batch_free(&b);
    if (c) redisFree(c);
    return rc;
}
