/* One table of an LMDB environment, read by riskctl; see scan.h. */
#include "scan.h"
#include "cli.h"
#include "../common/rperr.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int scan_open(scan_t *s, const char *cmd, const char *dir, const char *const *dbs, int idx,
              int readonly)
{
    int rc = 0;
    memset(s, 0, sizeof *s);
    s->cmd = cmd;
    s->dir = dir;
    s->table = dbs[idx];
    /* A writer would create a missing environment; riskctl only edits one
     * that a daemon made, so a mistyped directory is an error. */
    char path[4096];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    if (!readonly && access(path, F_OK) != 0) {
        cli_fail(cmd, RP_ENOTFOUND, "%s is not an LMDB environment (no data.mdb)", dir);
        return RP_ENOTFOUND;
    }
    if (!(s->store = store_open(dir, dbs, 0, readonly ? STORE_RDONLY : 0, &rc))) {
        cli_fail(cmd, rc, "cannot open the LMDB environment %s", dir);
        return rc;
    }
    s->dbi = store_dbi(s->store, idx);
    if ((rc = scan_begin(s))) store_destroy(&s->store); /* nothing left open on failure */
    return rc;
}

int scan_begin(scan_t *s)
{
    int rc = store_begin(s->store, 1, &s->txn);
    if (rc) {
        cli_fail(s->cmd, rc, "%s: cannot begin a read transaction", s->dir);
        return rc;
    }
    if ((rc = store_rc(mdb_cursor_open(s->txn, s->dbi, &s->cur)))) {
        cli_fail(s->cmd, rc, "%s, table %s: cannot open a cursor", s->dir, s->table);
        store_abort(&s->txn);
    }
    return rc;
}

int scan_next(scan_t *s, MDB_val *k, MDB_val *v, MDB_cursor_op op)
{
    /* only MDB_NOTFOUND ends a walk: any other code is a read that failed,
     * which must not look like the end of the table */
    int rc = store_rc(mdb_cursor_get(s->cur, k, v, op));
    if (rc == 0) return 1;
    if (rc == RP_ENOTFOUND) return 0;
    cli_fail(s->cmd, rc, "%s, table %s: cannot read the next row", s->dir, s->table);
    return rc;
}

int scan_get(scan_t *s, MDB_val *k, MDB_val *v)
{
    int rc = store_rc(mdb_get(s->txn, s->dbi, k, v));
    if (rc == 0) return 1;
    if (rc == RP_ENOTFOUND) return 0;
    cli_fail(s->cmd, rc, "%s, table %s: cannot read a row", s->dir, s->table);
    return rc;
}

void scan_end(scan_t *s)
{
    if (s->cur) mdb_cursor_close(s->cur);
    s->cur = NULL;
    store_abort(&s->txn);
}

void scan_close(scan_t *s)
{
    scan_end(s);
    store_destroy(&s->store);
}
