/* bench-pg-load: the PostgreSQL peer of `make bench`. Reads a JSON-lines
 * workload as riskpipe does (bench/peer_input.h), and per batch of messages,
 * in one transaction, COPYs them (binary) into a temporary staging table and
 * applies them with set-based SQL: latest version per trade wins, and every
 * prefix of the winner's path keeps the exact sum (micro-units) and count of
 * the live trades. Prints the time from the first byte read to the last
 * commit, then checks the aggregate table against a recompute from the state
 * table and can dump it for an independent check. */
#include "peer_input.h"

#include <errno.h>
#include <getopt.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PG_BATCH_DEFAULT 10000
#define PG_SHOW_MAX 10 /* differing rows printed by the check */

/* The schema. Values are bigint micro-units; sums are numeric, which cannot
 * overflow. path_prefixes("a::b::c") gives "a", "a::b", "a::b::c": level
 * values never contain "::" nor start or end with ':', so the split is exact. */
static const char *const s_sql_schema =
    "CREATE TABLE trade_state ("
    "  trade_id text PRIMARY KEY,"
    "  version bigint NOT NULL,"
    "  value bigint NOT NULL,"
    "  path text NOT NULL);"
    "CREATE TABLE aggregate ("
    "  path text PRIMARY KEY,"
    "  value numeric NOT NULL,"
    "  count bigint NOT NULL);"
    "CREATE FUNCTION path_prefixes(p text) RETURNS SETOF text"
    "  LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$"
    "    SELECT array_to_string(parts[1:i], '::')"
    "    FROM string_to_array(p, '::') AS parts, generate_series(1, cardinality(parts)) AS i"
    "  $$;";

/* Per session: the staging table, emptied by every commit (temporary, so
 * never WAL-logged). seq keeps the input order within a batch. */
static const char *const s_sql_staging =
    "CREATE TEMPORARY TABLE staging ("
    "  seq integer NOT NULL,"
    "  trade_id text NOT NULL,"
    "  version bigint NOT NULL,"
    "  value bigint NOT NULL,"
    "  path text NOT NULL) ON COMMIT DELETE ROWS";

/* One statement applies a staged batch; COMMIT follows it.
 *  win:  per trade, the batch's highest version (the first of equal ones);
 *  old:  the stored rows that win replaces (read from the statement's
 *        snapshot, before chg writes: this connection is the only writer);
 *  chg:  upsert where the batch's version is higher than the stored one;
 *  sums: the net change of every path prefix, new rows minus replaced ones;
 *  gone: aggregate rows whose count reaches 0 are deleted, the others are
 *        upserted (different rows, so both can run in one statement). */
static const char *const s_sql_apply =
    "WITH win AS ("
    "  SELECT DISTINCT ON (trade_id) trade_id, version, value, path"
    "  FROM staging ORDER BY trade_id, version DESC, seq"
    "), old AS ("
    "  SELECT t.trade_id, t.value, t.path"
    "  FROM trade_state t JOIN win w ON w.trade_id = t.trade_id"
    "  WHERE t.version < w.version"
    "), chg AS ("
    "  INSERT INTO trade_state AS t (trade_id, version, value, path)"
    "  SELECT trade_id, version, value, path FROM win"
    "  ON CONFLICT (trade_id) DO UPDATE"
    "    SET version = excluded.version, value = excluded.value, path = excluded.path"
    "    WHERE t.version < excluded.version"
    "  RETURNING t.value, t.path"
    "), delta AS ("
    "  SELECT p.prefix, c.value::numeric AS dv, 1 AS dc"
    "  FROM chg c CROSS JOIN LATERAL path_prefixes(c.path) AS p(prefix)"
    "  UNION ALL"
    "  SELECT p.prefix, -o.value::numeric, -1"
    "  FROM old o CROSS JOIN LATERAL path_prefixes(o.path) AS p(prefix)"
    "), sums AS ("
    "  SELECT prefix, sum(dv) AS dv, sum(dc) AS dc FROM delta GROUP BY prefix"
    "), cur AS ("
    "  SELECT s.prefix, s.dv, s.dc, coalesce(a.count, 0) + s.dc AS newc"
    "  FROM sums s LEFT JOIN aggregate a ON a.path = s.prefix"
    "  WHERE s.dv <> 0 OR s.dc <> 0"
    "), gone AS ("
    "  DELETE FROM aggregate a USING cur WHERE a.path = cur.prefix AND cur.newc = 0"
    ")"
    " INSERT INTO aggregate AS a (path, value, count)"
    " SELECT prefix, dv, dc FROM cur WHERE newc <> 0"
    " ON CONFLICT (path) DO UPDATE"
    "   SET value = a.value + excluded.value, count = a.count + excluded.count;"
    "COMMIT";

/* The check: every aggregate row recomputed from the state table with
 * GROUP BY; the rows that differ either way. */
static const char *const s_sql_check =
    "WITH want AS ("
    "  SELECT p.prefix AS path, sum(t.value) AS value, count(*) AS count"
    "  FROM trade_state t CROSS JOIN LATERAL path_prefixes(t.path) AS p(prefix)"
    "  GROUP BY p.prefix"
    ")"
    " SELECT coalesce(w.path, a.path), w.value, w.count, a.value, a.count"
    " FROM want w FULL JOIN aggregate a ON a.path = w.path"
    " WHERE w.value IS DISTINCT FROM a.value OR w.count IS DISTINCT FROM a.count";

/* A batch as a binary COPY stream: header, tuples, trailer. */
typedef struct {
    char *data;
    size_t len, cap;
    uint32_t n;
} pg_copy_t;

static void s_usage(FILE *f)
{
    fprintf(f,
            "usage: bench-pg-load [options] FILE\n"
            "Loads a JSON-lines workload into PostgreSQL, one transaction per batch.\n"
            "  --conn CONNINFO  libpq connection string (default: $BENCH_PG_CONN, else\n"
            "                   libpq's defaults and PG* variables)\n"
            "  --batch N        messages per transaction (default %d)\n"
            "  --dump FILE      after the run, write the aggregate table as\n"
            "                   \"path<TAB>micro-units<TAB>count\" lines\n"
            "  --no-schema      the tables exist already (default: create them)\n",
            PG_BATCH_DEFAULT);
}

/* Grows c to hold n more bytes. Returns 0, or -1 out of memory. */
static int s_room(pg_copy_t *c, size_t n)
{
    if (c->len + n <= c->cap) return 0;
    size_t cap = c->cap ? c->cap : 1 << 20;
    while (cap < c->len + n) cap *= 2;
    char *nd = realloc(c->data, cap);
    if (!nd) return -1;
    c->data = nd;
    c->cap = cap;
    return 0;
}

/* Appends an n-byte big-endian integer (the caller made room). */
static void s_put_be(pg_copy_t *c, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) c->data[c->len++] = (char)(v >> (8 * i));
}

/* Appends one field: its length, then its bytes. */
static void s_put_field(pg_copy_t *c, const void *p, size_t n)
{
    s_put_be(c, n, 4);
    memcpy(c->data + c->len, p, n);
    c->len += n;
}

/* Empties c down to the COPY header (signature, flags, no extension). */
static int s_copy_start(pg_copy_t *c)
{
    static const char sig[11] = "PGCOPY\n\377\r\n";
    c->len = 0;
    c->n = 0;
    if (s_room(c, 19)) return -1;
    memcpy(c->data, sig, sizeof sig);
    c->len = sizeof sig;
    s_put_be(c, 0, 4);
    s_put_be(c, 0, 4);
    return 0;
}

/* Appends one message as a tuple (seq, trade_id, version, value, path). */
static int s_copy_add(pg_copy_t *c, const peer_msg_t *m)
{
    if (s_room(c, 2 + 5 * 4 + 4 + 8 + 8 + m->trade_id_len + m->path_len)) return -1;
    s_put_be(c, 5, 2);
    s_put_be(c, 4, 4);
    s_put_be(c, c->n, 4);
    s_put_field(c, m->trade_id, m->trade_id_len);
    s_put_be(c, 8, 4);
    s_put_be(c, (uint64_t)m->version, 8);
    s_put_be(c, 8, 4);
    s_put_be(c, (uint64_t)m->value, 8);
    s_put_field(c, m->path, m->path_len);
    c->n++;
    return 0;
}

/* Reads up to batch messages into c. Returns 0 (c->n may be 0 at the end)
 * or -1 after printing why. */
static int s_fill(peer_input_t *in, pg_copy_t *c, uint32_t batch)
{
    peer_msg_t m;
    int rc = 0;
    if (s_copy_start(c)) goto nomem;
    while (c->n < batch && (rc = peer_input_next(in, &m)) == 1)
        if (s_copy_add(c, &m)) goto nomem;
    if (rc < 0) return -1;
    if (s_room(c, 2)) goto nomem;
    s_put_be(c, 0xffff, 2); /* trailer: field count -1 */
    return 0;
nomem:
    fprintf(stderr, "bench-pg-load: out of memory for a batch\n");
    return -1;
}

/* Runs sql (one or more statements); every result must have status want.
 * Returns 0, or -1 after printing the server's error. */
static int s_exec(PGconn *db, const char *sql, ExecStatusType want, const char *what)
{
    PGresult *r = PQexec(db, sql);
    int ok = PQresultStatus(r) == want;
    if (!ok) fprintf(stderr, "bench-pg-load: %s failed: %s", what, PQresultErrorMessage(r));
    PQclear(r);
    return ok ? 0 : -1;
}

/* Collects the results of the query sent last: all must be COMMAND_OK.
 * Returns 0 or -1 after printing the error. */
static int s_finish(PGconn *db, const char *what)
{
    PGresult *r;
    int ok = 1;
    while ((r = PQgetResult(db))) {
        if (ok && PQresultStatus(r) != PGRES_COMMAND_OK) {
            fprintf(stderr, "bench-pg-load: %s failed: %s", what, PQresultErrorMessage(r));
            ok = 0;
        }
        PQclear(r);
    }
    return ok ? 0 : -1;
}

/* Opens a transaction and COPYs batch c into staging. Returns 0 or -1. */
static int s_copy(PGconn *db, const pg_copy_t *c)
{
    if (s_exec(db, "BEGIN", PGRES_COMMAND_OK, "BEGIN")) return -1;
    if (s_exec(db, "COPY staging (seq, trade_id, version, value, path) FROM STDIN (FORMAT binary)",
               PGRES_COPY_IN, "COPY"))
        return -1;
    if (PQputCopyData(db, c->data, (int)c->len) != 1 || PQputCopyEnd(db, NULL) != 1) {
        fprintf(stderr, "bench-pg-load: sending the COPY data failed: %s", PQerrorMessage(db));
        return -1;
    }
    return s_finish(db, "COPY");
}

/* Checks the aggregate table against a GROUP BY recompute from trade_state.
 * Returns the number of differing rows (printing the first ones), or -1. */
static long s_check(PGconn *db)
{
    PGresult *r = PQexec(db, s_sql_check);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench-pg-load: the recompute check failed: %s", PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    long bad = PQntuples(r);
    for (long i = 0; i < bad && i < PG_SHOW_MAX; i++)
        fprintf(stderr, "bench-pg-load: %s: recomputed value %s count %s, aggregate table %s %s\n",
                PQgetvalue(r, (int)i, 0), PQgetvalue(r, (int)i, 1), PQgetvalue(r, (int)i, 2),
                PQgetvalue(r, (int)i, 3), PQgetvalue(r, (int)i, 4));
    PQclear(r);
    return bad;
}

/* Writes the aggregate table to path. Returns the rows written, or -1. */
static long s_dump(PGconn *db, const char *path)
{
    PGresult *r = PQexec(db, "SELECT path, value, count FROM aggregate ORDER BY path");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        fprintf(stderr, "bench-pg-load: reading the aggregate table failed: %s",
                PQresultErrorMessage(r));
        PQclear(r);
        return -1;
    }
    FILE *f = fopen(path, "w");
    long rows = PQntuples(r);
    if (!f) {
        fprintf(stderr, "bench-pg-load: cannot write %s: %s\n", path, strerror(errno));
        PQclear(r);
        return -1;
    }
    for (long i = 0; i < rows; i++)
        fprintf(f, "%s\t%s\t%s\n", PQgetvalue(r, (int)i, 0), PQgetvalue(r, (int)i, 1),
                PQgetvalue(r, (int)i, 2));
    PQclear(r);
    if (fclose(f)) {
        fprintf(stderr, "bench-pg-load: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return rows;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"conn", required_argument, NULL, 'c'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"dump", required_argument, NULL, 'd'},
                                         {"no-schema", no_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    const char *conninfo = getenv("BENCH_PG_CONN"), *dump = NULL;
    long batch = PG_BATCH_DEFAULT;
    int schema = 1, o;
    char *end;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'c':
            conninfo = optarg;
            break;
        case 'b':
            errno = 0;
            batch = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || batch < 1 || batch > 1000000) {
                fprintf(stderr, "bench-pg-load: --batch must be 1..1000000, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'd':
            dump = optarg;
            break;
        case 'n':
            schema = 0;
            break;
        case 'h':
            s_usage(stdout);
            return 0;
        default:
            s_usage(stderr);
            return 2;
        }
    }
    if (optind != argc - 1) {
        s_usage(stderr);
        return 2;
    }

    int rc = 1;
    char why[256];
    pg_copy_t buf[2] = {{0}};
    peer_input_t *in = NULL;
    PGconn *db = PQconnectdb(conninfo ? conninfo : "");
    if (PQstatus(db) != CONNECTION_OK) {
        fprintf(stderr, "bench-pg-load: cannot connect to PostgreSQL: %s", PQerrorMessage(db));
        goto out;
    }
    if (PQsetClientEncoding(db, "UTF8")) {
        fprintf(stderr, "bench-pg-load: cannot set client encoding UTF8: %s", PQerrorMessage(db));
        goto out;
    }
    if ((schema && s_exec(db, s_sql_schema, PGRES_COMMAND_OK, "creating the tables")) ||
        s_exec(db, s_sql_staging, PGRES_COMMAND_OK, "creating the staging table"))
        goto out;
    if (!(in = peer_input_open(argv[optind], why, sizeof why))) {
        fprintf(stderr, "bench-pg-load: %s\n", why);
        goto out;
    }

    /* While the server applies and commits one batch, the next is parsed. */
    double t0 = peer_now();
    int cur = 0, inflight = 0;
    uint64_t batches = 0;
    if (s_fill(in, &buf[cur], (uint32_t)batch)) goto out;
    while (buf[cur].n > 0) {
        if (inflight && s_finish(db, "applying a batch")) goto out;
        if (s_copy(db, &buf[cur])) goto out;
        if (!PQsendQuery(db, s_sql_apply)) {
            fprintf(stderr, "bench-pg-load: sending a batch failed: %s", PQerrorMessage(db));
            goto out;
        }
        inflight = 1;
        batches++;
        cur ^= 1;
        if (s_fill(in, &buf[cur], (uint32_t)batch)) goto out;
    }
    if (inflight && s_finish(db, "applying a batch")) goto out;
    double t1 = peer_now();

    long bad = s_check(db);
    if (bad < 0) goto out;
    long rows = dump ? s_dump(db, dump) : 0;
    if (rows < 0) goto out;
    printf("seconds=%.3f msgs=%llu refused=%llu batches=%llu check_differing=%ld rows=%ld\n",
           t1 - t0, (unsigned long long)peer_input_lines(in),
           (unsigned long long)peer_input_refused(in), (unsigned long long)batches, bad, rows);
    if (bad) {
        fprintf(stderr, "bench-pg-load: %ld aggregate rows differ from the recompute\n", bad);
        rc = 3;
        goto out;
    }
    rc = 0;
out:
    peer_input_destroy(&in);
    free(buf[0].data);
    free(buf[1].data);
    PQfinish(db);
    return rc;
}
