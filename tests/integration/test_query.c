/* riskctl query --json seen from outside: every stored aggregate row is
 * printed, or the command fails naming the row it could not print; a row
 * never silently vanishes from the JSON. The rows a damaged or foreign table
 * can hold are written straight into the reducer's LMDB environment. */
#include "harness.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Adds rows with keys keys[0..n) to the reducer's aggregate table, each with
 * the value of the existing row `like`. Returns the table's row count. */
static size_t s_add_rows(const char *dir, const char *like, const MDB_val *keys, int n)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_stat st;
    MDB_val k = {strlen(like), (void *)like}, v;
    int rc;
    if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 8)) ||
        (rc = mdb_env_open(env, dir, 0, 0644)) || (rc = mdb_txn_begin(env, NULL, 0, &txn)) ||
        (rc = mdb_dbi_open(txn, "aggregate", 0, &dbi)) || (rc = mdb_get(txn, dbi, &k, &v)))
        cr_assert_fail("cannot open %s or read row %s: %s", dir, like, mdb_strerror(rc));
    /* v points into the map only until the first write: copy it. */
    char copy[256];
    cr_assert_leq(v.mv_size, sizeof copy);
    memcpy(copy, v.mv_data, v.mv_size);
    for (int i = 0; i < n; i++) {
        MDB_val key = keys[i], val = {v.mv_size, copy};
        cr_assert_eq((rc = mdb_put(txn, dbi, &key, &val, 0)), 0, "put: %s", mdb_strerror(rc));
    }
    cr_assert_eq((rc = mdb_stat(txn, dbi, &st)), 0, "stat: %s", mdb_strerror(rc));
    cr_assert_eq((rc = mdb_txn_commit(txn)), 0, "commit: %s", mdb_strerror(rc));
    mdb_env_close(env);
    return st.ms_entries;
}

/* 1 when the JSON array rows has a row whose path is p[0..len). */
static int s_has_path(json_t *rows, const char *p, size_t len)
{
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        json_t *path = json_object_get(row, "path");
        if (json_is_string(path) && json_string_length(path) == len &&
            memcmp(json_string_value(path), p, len) == 0)
            return 1;
    }
    return 0;
}

Test(query, json_never_drops_a_row_silently, .timeout = 90, .fini = h_finish)
{
    h_cluster_t *c = h_cluster_new("query");
    h_start_state(c, NULL);
    h_start_reducer(c);
    h_start_mapper(c);
    char file[600], out[65536];
    snprintf(file, sizeof file, "%s/two.jsonl", c->dir);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 2; i++)
        fprintf(f, "{\"TradeID\":\"q%d\",\"Value\":\"%d.5\",\"Version\":1,\"Hierarchy\":"
                   "{\"RiskType\":\"Vega\",\"Region\":\"APAC\",\"TradeDesk\":\"Credit\"}}\n",
                i, i + 1);
    fclose(f);
    cr_assert_eq(h_riskctl(c, out, sizeof out, 30000, "send", file, "--ingest", c->ingest, NULL),
                 0, "send: %s", out);
    h_wait_applied(c, 30);
    cr_assert_neq(h_stop(&c->reducer, SIGTERM, 5000), -1, "reducer did not stop");

    /* A path with a NUL inside is valid UTF-8 and must be printed; one with
     * bytes that are not UTF-8 cannot be, and must make the command fail. */
    static const char nul[] = "Vega::A\0B", bad[] = "Vega::\xff\xfe";
    MDB_val keys[] = {{sizeof nul - 1, (void *)nul}, {sizeof bad - 1, (void *)bad}};
    size_t stored = s_add_rows(c->reducer_data, "Vega", keys, 2);

    int rc = h_riskctl(c, out, sizeof out, 30000, "query", "--json", "--reducer-data",
                       c->reducer_data, NULL);
    cr_assert_eq(rc, 1, "riskctl query --json exited %d with a row it cannot print", rc);
    json_error_t err;
    json_t *rows = json_loads(out, JSON_ALLOW_NUL, &err);
    cr_assert(json_is_array(rows), "not a JSON array (%s):\n%s", err.text, out);
    cr_assert_eq(json_array_size(rows), stored - 1, "%zu rows printed of %zu stored, 1 unprintable",
                 json_array_size(rows), stored);
    cr_assert(s_has_path(rows, nul, sizeof nul - 1), "the path with a NUL is missing:\n%s", out);
    cr_assert(s_has_path(rows, "Vega::APAC::Credit", 18), "a pipeline row is missing:\n%s", out);
    json_decref(rows);
    char log[PATH_MAX];
    snprintf(log, sizeof log, "%s/riskctl.log", c->dir);
    size_t len;
    char *text = h_read_file(log, &len);
    cr_assert(text && strstr(text, "'Vega::\\xff\\xfe' is not valid UTF-8"),
              "the unprintable row is not named on stderr:\n%s", text ? text : "(no log)");
    free(text);
    h_passed();
}
