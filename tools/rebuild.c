/* riskctl rebuild: makes a reducer environment exact again from the state's
 * tables, for a reducer whose data was lost (it refuses the state's stream
 * and names this command). The state table holds every trade's latest
 * version, so its rollup is the aggregate through every batch the state has
 * cut; the rebuilt reducer records that it has applied every batch below the
 * state's next one and is bound to that state, and the state is bound to
 * this reducer. With K state shards, the same for each shard (--state-data
 * lists them in shard order): the aggregate is the rollup of all their state
 * tables, each read in one snapshot, so it is the rollup of a prefix of each
 * shard's change log. The reducer must be stopped; the states may run. */
#include "riskctl.h"
#include "cli.h"
#include "rollup.h"
#include "scan.h"
#include "../common/rperr.h"
#include "../proto/frame.h"
#include "../proto/shard.h"
#include "../proto/tables.h"
#include "../svc/daemon.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define REBUILD_MAP_SIZE ((size_t)256 << 20)
#define REBUILD_MAP_MAX ((size_t)65536 << 20)

/* What one shard's snapshot says: its instance, its next batch id and the
 * last change in a batch. */
typedef struct {
    frame_id_t state;
    uint64_t next_batch;
    uint64_t cut_seq; /* the last change in a batch: what the rows reflect */
} shard_snap_t;

/* Every shard's, and the aggregate rows of everything before them. */
typedef struct {
    shard_snap_t shard[SHARD_MAX];
    int k;
    rollup_t rows;
    long long trades;
} snapshot_t;

/* Reads shard i's snapshot in one read transaction of the state
 * environment in dir, adding its trades to snap->rows. */
static int s_snapshot(const char *dir, int i, snapshot_t *all)
{
    shard_snap_t *snap = &all->shard[i];
    scan_t t;
    int rc = scan_open(&t, "rebuild", dir, tables_state_dbs, SDB_STATE, 1);
    if (rc) return rc;
    MDB_dbi meta = store_dbi(t.store, SDB_META);
    MDB_stat st;
    if ((rc = store_meta_get_raw(t.txn, meta, TABLES_META_INSTANCE, snap->state.b,
                                 FRAME_ID_SIZE))) {
        cli_fail("rebuild", rc, "%s: no instance id (meta key %s): not a state environment of "
                 "this version", dir, TABLES_META_INSTANCE);
    } else if ((rc = store_meta_get(t.txn, meta, TABLES_META_NEXT_BATCH, &snap->next_batch)) ==
               RP_ENOTFOUND) {
        snap->next_batch = 1; /* nothing cut yet */
        rc = 0;
    }
    if (rc == 0 && (rc = store_meta_get(t.txn, meta, TABLES_META_CUT_SEQ, &snap->cut_seq)) ==
                       RP_ENOTFOUND) {
        snap->cut_seq = 0;
        rc = 0;
    }
    uint64_t shards = 1, shard = 0;
    if (rc == 0 && (rc = store_meta_get(t.txn, meta, TABLES_META_SHARDS, &shards)) == 0)
        rc = store_meta_get(t.txn, meta, TABLES_META_SHARD, &shard);
    if (rc == RP_ENOTFOUND) rc = 0; /* before shards: shard 0 of 1 */
    if (rc == 0 && (shards != (uint64_t)all->k || shard != (uint64_t)i)) {
        fprintf(stderr, "riskctl rebuild: %s is shard %llu of %llu, but it is given as shard %d "
                "of %d: list every shard's --state-data, comma-separated, in shard order\n",
                dir, (unsigned long long)shard, (unsigned long long)shards, i, all->k);
        rc = RP_EINVAL;
    }
    if (rc == 0 && (rc = store_rc(mdb_stat(t.txn, t.dbi, &st))))
        cli_fail("rebuild", rc, "%s: cannot count the state table", dir);
    if (rc == 0) {
        all->trades += (long long)st.ms_entries;
        rc = rollup_read(&t, &all->rows);
    }
    scan_close(&t);
    return rc;
}

/* The write of the reducer's tables, for store_commit_or_grow. */
typedef struct {
    store_t *store;
    const snapshot_t *snap;
} write_t;

static int s_write_reducer(void *arg)
{
    write_t *w = arg;
    MDB_txn *txn = NULL;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    int rc = store_begin(w->store, 0, &txn);
    MDB_dbi agg = store_dbi(w->store, RDB_AGGREGATE), meta = store_dbi(w->store, RDB_META);
    if (rc == 0) rc = store_rc(mdb_drop(txn, agg, 0));
    if (rc == 0) rc = store_rc(mdb_drop(txn, store_dbi(w->store, RDB_REDUCE), 0));
    for (size_t i = 0; rc == 0 && i < w->snap->rows.n; i++) {
        const rollup_row_t *r = &w->snap->rows.rows[i];
        msgpack_sbuffer_clear(&sb);
        tables_agg_encode(&sb, r->sum, r->count);
        MDB_val k = {strlen(r->path), r->path}, v = {sb.size, sb.data};
        rc = store_rc(mdb_put(txn, agg, &k, &v, MDB_APPEND)); /* rows are in key order */
    }
    for (int i = 0; rc == 0 && i < w->snap->k; i++) {
        const shard_snap_t *sh = &w->snap->shard[i];
        char kf[TABLES_SHARD_KEY_MAX], ks[TABLES_SHARD_KEY_MAX], kp[TABLES_SHARD_KEY_MAX];
        tables_shard_key(kf, TABLES_META_FLOOR, (uint32_t)i);
        tables_shard_key(ks, TABLES_META_APPLIED_SEQ, (uint32_t)i);
        tables_shard_key(kp, TABLES_META_PEER, (uint32_t)i);
        if ((rc = store_meta_put(txn, meta, kf, sh->next_batch)) == 0 &&
            (rc = store_meta_put(txn, meta, ks, sh->cut_seq)) == 0)
            rc = store_meta_put_raw(txn, meta, kp, sh->state.b, FRAME_ID_SIZE);
    }
    if (rc == 0) rc = store_meta_put(txn, meta, TABLES_META_SHARDS, (uint64_t)w->snap->k);
    if (rc == 0) rc = store_commit(&txn);
    store_abort(&txn);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* Binds the state environment in dir to the reducer instance r. */
static int s_bind_state(const char *dir, const frame_id_t *r)
{
    int rc = 0;
    store_t *st = store_open(dir, tables_state_dbs, 0, 0, &rc);
    if (!st) {
        cli_fail("rebuild", rc, "%s: cannot open the state environment", dir);
        return rc;
    }
    MDB_txn *txn = NULL;
    if ((rc = store_begin(st, 0, &txn)) == 0 &&
        (rc = store_meta_put_raw(txn, store_dbi(st, SDB_META), TABLES_META_PEER, r->b,
                                 FRAME_ID_SIZE)) == 0)
        rc = store_commit(&txn);
    store_abort(&txn);
    store_destroy(&st);
    if (rc) cli_fail("rebuild", rc, "%s: cannot bind the state to the new reducer", dir);
    return rc;
}

/* Rebuilds the reducer environment in rdir from snap and binds both ends
 * (sdirs: the k shards' state environments). */
static int s_rebuild(char **sdirs, const char *rdir, const snapshot_t *snap)
{
    int rc = 0, lock = -1;
    frame_id_t reducer;
    store_t *st = store_open(rdir, tables_reducer_dbs, REBUILD_MAP_SIZE, 0, &rc);
    if (!st) {
        cli_fail("rebuild", rc, "%s: cannot open or create it", rdir);
        return rc;
    }
    if ((lock = daemon_lock_dir(rdir)) < 0) {
        rc = lock;
        cli_fail("rebuild", rc, "%s: stop the reducer that uses it first", rdir);
    } else if ((rc = store_meta_instance(st, store_dbi(st, RDB_META), TABLES_META_INSTANCE,
                                         reducer.b))) {
        cli_fail("rebuild", rc, "%s: cannot read or make its instance id", rdir);
    } else {
        write_t w = {st, snap};
        if ((rc = store_commit_or_grow(st, REBUILD_MAP_MAX, s_write_reducer, &w)))
            cli_fail("rebuild", rc, "%s: cannot write the aggregate", rdir);
    }
    store_destroy(&st);
    for (int i = 0; rc == 0 && i < snap->k; i++) rc = s_bind_state(sdirs[i], &reducer);
    if (rc == 0) {
        char s[2 * FRAME_ID_SIZE + 1], r[2 * FRAME_ID_SIZE + 1];
        frame_id_format(&reducer, r);
        printf("rebuilt %zu aggregate rows from %lld trades", snap->rows.n, snap->trades);
        for (int i = 0; i < snap->k; i++) {
            frame_id_format(&snap->shard[i].state, s);
            printf("%s state instance %s%s as of every batch below %llu",
                   i ? ";" : " of", s, snap->k > 1 ? " (shard)" : ",",
                   (unsigned long long)snap->shard[i].next_batch);
        }
        printf("\nreducer instance %s is bound to %s, and %s to that reducer\n", r,
               snap->k > 1 ? "them" : "it", snap->k > 1 ? "they" : "it");
    }
    if (lock >= 0) close(lock);
    return rc;
}

int cmd_rebuild(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"state-data", "./data/state", "the state process's LMDB environment directory; with "
         "state shards, every shard's, comma-separated, in shard order", NULL},
        {"reducer-data", "./data/reducer", "the reducer's LMDB environment directory (created "
         "if absent; the reducer must be stopped)", NULL},
        {NULL, NULL, NULL, NULL}};
    int npos, code;
    if (!cli_parse(opts, argc, argv,
                   "usage: riskctl rebuild [options]\n\nRebuilds the reducer's aggregate table "
                   "exactly from the state table, for a reducer\nwhose data was lost (it says so "
                   "and names this command), and binds state and\nreducer to each other. Stop "
                   "the reducer first; the state may keep running.",
                   &npos, &code))
        return code;
    if (npos) {
        fprintf(stderr, "riskctl rebuild: unexpected argument '%s'\n", argv[1]);
        return CLI_USAGE;
    }
    char list[4096], *dirs[SHARD_MAX];
    snprintf(list, sizeof list, "%s", config_get(opts, "state-data"));
    static snapshot_t snap; /* SHARD_MAX shards' worth: not on the stack */
    if ((snap.k = shard_split(list, dirs, SHARD_MAX)) < 1) {
        fprintf(stderr, "riskctl rebuild: --state-data: expected a directory, or one per state "
                "shard comma-separated\n");
        return CLI_USAGE;
    }
    int rc = 0;
    for (int i = 0; rc == 0 && i < snap.k; i++) rc = s_snapshot(dirs[i], i, &snap);
    if (rc == 0) rc = s_rebuild(dirs, config_get(opts, "reducer-data"), &snap);
    rollup_free(&snap.rows);
    return rc ? CLI_FAIL : CLI_OK;
}
