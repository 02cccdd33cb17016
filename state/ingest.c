/* Latest-version-wins ingest into the state table. One call handles one
 * frame; the caller groups frames into one transaction (group commit). */
#include "ingest.h"
#include "../common/log.h"
#include "../common/rperr.h"
#include "../proto/risk.h"
#include "../proto/tables.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ingest_t {
    store_t *store;
    changelog_t *log;
    dlq_t *dlq;
    prep_rules_t rules;
    prep_frame_t scratch; /* ingest_frame decodes here */
};

ingest_t *ingest_new(store_t *store, changelog_t *log, dlq_t *dlq, const hier_levels_t *levels,
                     uint32_t max_batch)
{
    ingest_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->store = store;
    self->log = log;
    self->dlq = dlq;
    self->rules.levels = *levels;
    self->rules.max_batch = max_batch;
    self->rules.shard = changelog_shard(log, &self->rules.shards);
    prep_frame_init(&self->scratch);
    return self;
}

void ingest_destroy(ingest_t **self_p)
{
    if (!self_p || !*self_p) return;
    prep_frame_destroy(&(*self_p)->scratch);
    free(*self_p);
    *self_p = NULL;
}

const prep_rules_t *ingest_rules(const ingest_t *self)
{
    return &self->rules;
}

/* Applies one valid message of frame f. Returns 0 or an RP_* store error. */
static int s_apply(ingest_t *self, MDB_txn *txn, const prep_frame_t *f, const prep_msg_t *m,
                   size_t index, const char *source, reply_t *reply)
{
    const char *row = prep_str(f, m->row_off);
    MDB_dbi sdb = store_dbi(self->store, SDB_STATE);
    MDB_val k = {m->id_len, (void *)prep_str(f, m->id_off)};
    MDB_val old = {m->row_len, (void *)row};
    change_t c = {.has_new = 1, .new_value = m->value, .new_path = prep_str(f, m->path_off),
                  .new_len = m->path_len};
    state_row_t prev;
    /* One B-tree search for a new trade: MDB_NOOVERWRITE inserts the row, or
     * finds the stored one and points old at it. Only a trade already
     * stored costs a second search, to replace its row. */
    int rc = mdb_put(txn, sdb, &k, &old, MDB_NOOVERWRITE);
    if (rc == 0) {
        if ((rc = changelog_append(self->log, txn, &c))) return rc;
        reply->accepted++;
        return 0;
    }
    if (rc == MDB_KEYEXIST) {
        if (tables_state_decode(old.mv_data, old.mv_size, &self->rules.levels, &prev)) {
            /* A corrupt row cannot be subtracted from the totals; refuse the
             * update loudly rather than silently skewing aggregates. */
            log_error("state row for trade '%.*s' is unreadable; update refused",
                      (int)m->id_len, prep_str(f, m->id_off));
            reply_reject(reply, index, "stored state row is unreadable");
            return dlq_add(self->dlq, txn, m->raw, m->raw_len, index,
                           "stored state row is unreadable", source);
        }
        if (m->version < prev.version) {
            reply->duplicates++;
            return 0;
        }
        if (m->version == prev.version) {
            reply->duplicates++;
            if (old.mv_size != m->row_len || memcmp(old.mv_data, row, old.mv_size))
                reply->conflicts++;
            return 0;
        }
        c.has_old = 1;
        c.old_value = prev.value;
        c.old_path = prev.path;
        c.old_len = prev.path_len;
    } else {
        return store_rc(rc);
    }
    MDB_val v = {m->row_len, (void *)row};
    if ((rc = store_rc(mdb_put(txn, sdb, &k, &v, 0)))) return rc;
    if ((rc = changelog_append(self->log, txn, &c))) return rc;
    reply->accepted++;
    return 0;
}

int ingest_apply(ingest_t *self, MDB_txn *txn, const prep_frame_t *f, const char *buf, size_t len,
                 const char *source, reply_t *reply)
{
    if (f->bad) {
        reply_reject(reply, 0, f->why);
        return dlq_add(self->dlq, txn, buf, len, 0, f->why, source);
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < f->n; i++) {
        const prep_msg_t *m = &f->msg[i];
        if (m->kind == PREP_BAD) {
            reply_reject(reply, i, prep_str(f, m->why_off));
            rc = dlq_add(self->dlq, txn, m->raw, m->raw_len, i, prep_str(f, m->why_off), source);
        } else if (m->kind == PREP_FOREIGN) {
            /* A routing mistake, not bad data: the producer still holds the
             * message and learns where it goes; nothing is dead-lettered. */
            char why[RISK_WHY_MAX];
            snprintf(why, sizeof why, "wrong shard: TradeID belongs to shard %u of %u, this is "
                     "shard %u", m->home, self->rules.shards, self->rules.shard);
            reply_reject_shard(reply, i, why, m->home);
        } else {
            rc = s_apply(self, txn, f, m, i, source, reply);
        }
    }
    return rc;
}

int ingest_frame(ingest_t *self, MDB_txn *txn, const char *buf, size_t len, const char *source,
                 reply_t *reply)
{
    int rc = prep_decode(&self->rules, buf, len, &self->scratch);
    if (rc) return rc;
    return ingest_apply(self, txn, &self->scratch, buf, len, source, reply);
}

/* Records TABLES_STATE_FORMAT in an environment whose state table is empty,
 * or checks the recorded one. A state table with rows but no recorded format
 * was written by riskpipe before format 2. Returns 0 or RP_EINVAL (logged),
 * or a store error. */
static int s_check_format(MDB_txn *txn, store_t *store, int *dirty)
{
    MDB_dbi meta = store_dbi(store, SDB_META);
    uint64_t have;
    int rc = store_meta_get(txn, meta, TABLES_META_ROW_FORMAT, &have);
    if (rc == RP_ENOTFOUND) {
        MDB_stat st;
        if ((rc = store_rc(mdb_stat(txn, store_dbi(store, SDB_STATE), &st)))) return rc;
        if (st.ms_entries) {
            log_error("this data directory's %zu state rows are in riskpipe's earlier row format "
                      "(1: msgpack maps); this riskpipe reads format %d only: replay the trades "
                      "into a new --data directory",
                      (size_t)st.ms_entries, TABLES_STATE_FORMAT);
            return RP_EINVAL;
        }
        *dirty = 1;
        return store_meta_put(txn, meta, TABLES_META_ROW_FORMAT, TABLES_STATE_FORMAT);
    }
    if (rc == 0 && have != TABLES_STATE_FORMAT) {
        log_error("this data directory's state rows are in row format %llu; this riskpipe reads "
                  "format %d only", (unsigned long long)have, TABLES_STATE_FORMAT);
        return RP_EINVAL;
    }
    return rc;
}

int ingest_check_store(store_t *store, const hier_levels_t *h)
{
    char want[HIER_PATH_MAX], have[HIER_PATH_MAX];
    hier_levels_format(h, want, sizeof want);
    MDB_txn *txn = NULL;
    MDB_dbi meta = store_dbi(store, SDB_META);
    int dirty = 0;
    int rc = store_begin(store, 0, &txn);
    if (rc == 0) rc = store_meta_get_str(txn, meta, TABLES_META_HIERARCHY, have, sizeof have);
    if (rc == 0 && strcmp(have, want) != 0) {
        log_error("--hierarchy '%s' differs from '%s' stored in this data directory; "
                  "use the stored levels or a new --data directory", want, have);
        store_abort(&txn);
        return RP_EINVAL;
    }
    if (rc == RP_ENOTFOUND && (rc = store_meta_put_str(txn, meta, TABLES_META_HIERARCHY, want)) == 0)
        dirty = 1;
    if (rc == 0) rc = s_check_format(txn, store, &dirty);
    if (rc == 0 && dirty) rc = store_commit(&txn);
    store_abort(&txn);
    if (rc && rc != RP_EINVAL)
        log_error("cannot read or record the hierarchy and row format: %s", rp_strerror(rc));
    return rc;
}
