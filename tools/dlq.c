/* riskctl dlq: list, show, replay and purge the state process's dead-letter
 * table (rejected messages with their raw bytes and reason; the row format
 * is in proto/tables.h). replay sends each kept message through acknowledged
 * ingest again and removes the entry once the state process has answered; a
 * message still invalid comes back as a new entry with the new reason. Any
 * selected entry that is absent, unreadable, not replayed or not removed is
 * named on stderr and makes the exit code 1. */
#include "riskctl.h"
#include "cli.h"
#include "scan.h"
#include "../common/rperr.h"
#include "../proto/mp.h"
#include "../proto/reply.h"
#include "../proto/tables.h"

#include <czmq.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* What replay and purge act on. */
typedef struct {
    const char *dir;    /* the state's LMDB environment */
    const char *ingest; /* replay: acknowledged ingest endpoint */
    int timeout_ms;     /* replay: wait this long for each answer */
    int all;            /* every entry, instead of ids */
    uint64_t *ids;      /* the ids named, ascending and unique (owned) */
    size_t nids;
} sel_t;

static const char *s_entries(size_t n)
{
    return n == 1 ? "entry" : "entries";
}

/* One line of `dlq list`; an unreadable row is shown by its key and counted
 * in *bad, which makes list exit 1 as query does for unreadable rows. */
static void s_list_row(const MDB_val *k, const MDB_val *v, size_t *bad)
{
    msgpack_unpacked unp;
    dlq_row_t e;
    if (tables_dlq_decode(v->mv_data, v->mv_size, &unp, &e)) {
        if (k->mv_size == 8)
            printf("%llu\t(unreadable entry)\n", (unsigned long long)store_u64_get(k->mv_data));
        else
            printf("?\t(unreadable entry with a %zu-byte key)\n", k->mv_size);
        (*bad)++;
    } else {
        char when[32] = "?";
        time_t t = (time_t)(e.time_ms / 1000);
        struct tm tm;
        if (gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        printf("%llu\t%s\t%.*s\tindex %llu\t%.*s%s\n", (unsigned long long)e.id, when,
               (int)e.source_len, e.source, (unsigned long long)e.index, (int)e.reason_len,
               e.reason, e.truncated ? " [raw truncated]" : "");
    }
    msgpack_unpacked_destroy(&unp);
}

static int s_list(const char *dir)
{
    scan_t t;
    if (scan_open(&t, "dlq", dir, tables_state_dbs, SDB_DLQ, 1)) return CLI_FAIL;
    MDB_val k, v;
    size_t n = 0, bad = 0;
    int r;
    for (r = scan_next(&t, &k, &v, MDB_FIRST); r == 1; r = scan_next(&t, &k, &v, MDB_NEXT), n++)
        s_list_row(&k, &v, &bad);
    scan_close(&t);
    if (r == 0 && n == 0) printf("(dead-letter table is empty)\n");
    if (bad) fprintf(stderr, "riskctl dlq: %zu unreadable %s\n", bad, s_entries(bad));
    return r < 0 || bad ? CLI_FAIL : CLI_OK;
}

/* A decoded message as JSON (bin and other non-JSON types become null). */
static json_t *s_to_json(const msgpack_object *o, int depth)
{
    if (depth > MP_MAX_DEPTH) return json_null();
    switch (o->type) {
    case MSGPACK_OBJECT_BOOLEAN: return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return json_integer(o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR: {
        json_t *s = json_stringn(o->via.str.ptr, o->via.str.size);
        return s ? s : json_string("<non-UTF-8 string>");
    }
    case MSGPACK_OBJECT_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < o->via.array.size; i++)
            json_array_append_new(a, s_to_json(&o->via.array.ptr[i], depth + 1));
        return a;
    }
    case MSGPACK_OBJECT_MAP: {
        json_t *m = json_object();
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            char key[256];
            if (k->type == MSGPACK_OBJECT_STR)
                snprintf(key, sizeof key, "%.*s", (int)k->via.str.size, k->via.str.ptr);
            else
                snprintf(key, sizeof key, "<key %u>", i);
            json_object_set_new(m, key, s_to_json(&o->via.map.ptr[i].val, depth + 1));
        }
        return m;
    }
    default: return json_null();
    }
}

/* Prints the kept message: as JSON when it is whole msgpack, else in hex. */
static void s_print_message(const dlq_row_t *e)
{
    msgpack_unpacked raw;
    char why[128];
    char *s = NULL;
    if (!e->truncated &&
        mp_unpack(e->raw, e->raw_len, MP_MAX_DEPTH, 100000, &raw, why, sizeof why) == 0) {
        json_t *j = s_to_json(&raw.data, 0);
        s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
        json_decref(j);
    }
    if (!e->truncated) msgpack_unpacked_destroy(&raw);
    if (s) {
        printf("message: %s\n", s);
        free(s);
        return;
    }
    printf("message (hex):\n");
    for (size_t i = 0; i < e->raw_len; i++)
        printf("%02x%s", (unsigned char)e->raw[i], i % 32 == 31 ? "\n" : "");
    printf("\n");
}

static int s_show(const char *dir, uint64_t id)
{
    scan_t t;
    if (scan_open(&t, "dlq", dir, tables_state_dbs, SDB_DLQ, 1)) return CLI_FAIL;
    uint8_t key[8];
    store_u64_put(key, id);
    MDB_val k = {sizeof key, key}, v;
    int r = scan_get(&t, &k, &v), code = CLI_FAIL;
    msgpack_unpacked unp;
    dlq_row_t e;
    if (r == 0) {
        fprintf(stderr, "riskctl dlq: no entry %llu\n", (unsigned long long)id);
    } else if (r == 1 && tables_dlq_decode(v.mv_data, v.mv_size, &unp, &e)) {
        fprintf(stderr, "riskctl dlq: entry %llu is unreadable\n", (unsigned long long)id);
        msgpack_unpacked_destroy(&unp);
    } else if (r == 1) {
        printf("id: %llu\nsource: %.*s\nindex: %llu\nreason: %.*s\nraw bytes: %llu%s\n",
               (unsigned long long)e.id, (int)e.source_len, e.source,
               (unsigned long long)e.index, (int)e.reason_len, e.reason,
               (unsigned long long)e.raw_size, e.truncated ? " (truncated)" : "");
        s_print_message(&e);
        msgpack_unpacked_destroy(&unp);
        code = CLI_OK;
    }
    scan_close(&t);
    return code;
}

/* With --all: every key of the table, read through t's transaction. Returns
 * 0 or an RP code (printed). */
static int s_collect_all(scan_t *t, sel_t *sel)
{
    size_t cap = 0;
    MDB_val k, v;
    int r;
    for (r = scan_next(t, &k, &v, MDB_FIRST); r == 1; r = scan_next(t, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8) continue; /* not an entry id; list shows it as unreadable */
        if (sel->nids == cap) {
            cap = cap ? cap * 2 : 64;
            uint64_t *grown = realloc(sel->ids, cap * sizeof *grown);
            if (!grown) {
                cli_fail("dlq", RP_ENOMEM, "cannot hold the list of entries");
                return RP_ENOMEM;
            }
            sel->ids = grown;
        }
        sel->ids[sel->nids++] = store_u64_get(k.mv_data);
    }
    return r < 0 ? r : 0;
}

/* Copies the message of entry id into *buf (malloc'ed; the caller frees it),
 * in a read transaction of its own so that none is held while the state
 * process works on the replay. Returns 0, or an RP code after printing why
 * the entry cannot be replayed. */
static int s_fetch(scan_t *t, uint64_t id, char **buf, size_t *len)
{
    int rc = scan_begin(t);
    if (rc) return rc;
    uint8_t key[8];
    store_u64_put(key, id);
    MDB_val k = {sizeof key, key}, v;
    int r = scan_get(t, &k, &v);
    rc = r < 0 ? r : r == 0 ? RP_ENOTFOUND : 0;
    if (r == 0) fprintf(stderr, "riskctl dlq: no entry %llu\n", (unsigned long long)id);
    if (r == 1) {
        msgpack_unpacked unp;
        dlq_row_t e;
        if ((rc = tables_dlq_decode(v.mv_data, v.mv_size, &unp, &e)) != 0) {
            fprintf(stderr, "riskctl dlq: entry %llu is unreadable; not replayed\n",
                    (unsigned long long)id);
        } else if (e.truncated) {
            fprintf(stderr, "riskctl dlq: entry %llu was truncated (%zu of %llu bytes kept); "
                    "not replayed\n", (unsigned long long)id, e.raw_len,
                    (unsigned long long)e.raw_size);
            rc = RP_ERANGE;
        } else if (!(*buf = malloc(e.raw_len ? e.raw_len : 1))) {
            cli_fail("dlq", RP_ENOMEM, "entry %llu", (unsigned long long)id);
            rc = RP_ENOMEM;
        } else {
            memcpy(*buf, e.raw, e.raw_len);
            *len = e.raw_len;
        }
        msgpack_unpacked_destroy(&unp);
    }
    scan_end(t);
    return rc;
}

/* Sends one message through acknowledged ingest and waits for the answer.
 * Returns 0 with *r; a code of class RP_EZMQ (keeping errno) when it could
 * not be sent (the socket is still usable); RP_ETIMEDOUT when no answer came, after which a REQ socket cannot
 * send again; RP_EPROTO for an undecodable answer. */
static int s_exchange(zsock_t *req, const char *buf, size_t len, reply_view_t *r)
{
    void *sock = zsock_resolve(req);
    if (zmq_send(sock, buf, len, 0) < 0) return rp_wrap_errno(RP_EZMQ, errno);
    zmq_msg_t m;
    zmq_msg_init(&m);
    int rc = RP_ETIMEDOUT;
    if (zmq_msg_recv(&m, sock, 0) >= 0)
        rc = reply_decode(zmq_msg_data(&m), zmq_msg_size(&m), r) ? RP_EPROTO : 0;
    zmq_msg_close(&m);
    return rc;
}

/* Removes entry id after its replay was answered. Returns 0 or an RP code
 * (printed). */
static int s_remove(scan_t *t, uint64_t id)
{
    uint8_t key[8];
    store_u64_put(key, id);
    MDB_val k = {sizeof key, key};
    MDB_txn *txn = NULL;
    int rc = store_begin(t->store, 0, &txn);
    if (rc == 0 && (rc = store_rc(mdb_del(txn, t->dbi, &k, NULL))) == RP_ENOTFOUND) {
        /* purged, or trimmed by the state's --dlq-max, during the replay */
        fprintf(stderr, "riskctl dlq: entry %llu was replayed and had already been removed\n",
                (unsigned long long)id);
        rc = 0;
    } else if (rc == 0) {
        rc = store_commit(&txn);
    }
    store_abort(&txn);
    if (rc)
        cli_fail("dlq", rc, "%s, table %s: entry %llu was replayed but not removed", t->dir,
                 t->table, (unsigned long long)id);
    return rc;
}

/* Replays entry id and removes it once the state process has answered.
 * Returns 0, or an RP code after printing why it was not replayed (or not
 * removed); RP_ETIMEDOUT means req can send no more. */
static int s_replay_one(scan_t *t, zsock_t *req, uint64_t id, const sel_t *sel)
{
    char *buf = NULL;
    size_t len = 0;
    reply_view_t r;
    int rc = s_fetch(t, id, &buf, &len);
    if (rc) return rc;
    rc = s_exchange(req, buf, len, &r);
    free(buf);
    if (rc == 0 && r.retry) rc = RP_EBUSY;
    unsigned long long n = (unsigned long long)id;
    if (rp_class(rc) == RP_EZMQ)
        fprintf(stderr, "riskctl dlq: entry %llu not replayed: cannot send to %s: %s\n", n,
                sel->ingest, rp_strerror(rc));
    else if (rc == RP_ETIMEDOUT)
        fprintf(stderr, "riskctl dlq: entry %llu not replayed: no answer from %s within %d ms "
                "(the entry is kept)\n", n, sel->ingest, sel->timeout_ms);
    else if (rc == RP_EPROTO)
        fprintf(stderr, "riskctl dlq: entry %llu not replayed: undecodable answer from %s\n", n,
                sel->ingest);
    else if (rc == RP_EBUSY)
        fprintf(stderr, "riskctl dlq: entry %llu not replayed: the state process asks to retry: "
                "%s\n", n, r.error);
    if (rc) return rc;
    printf("%llu: accepted %llu, duplicates %llu, rejected %llu%s%s\n", n,
           (unsigned long long)r.accepted, (unsigned long long)r.duplicates,
           (unsigned long long)r.rejected, r.rejected ? " -- " : "", r.first_reason);
    return s_remove(t, id);
}

static zsock_t *s_connect(const sel_t *sel)
{
    zsys_handler_set(NULL); /* riskctl handles no signals; Ctrl-C must stop it */
    zsock_t *req = zsock_new(ZMQ_REQ);
    if (req) {
        zsock_set_linger(req, 0);
        zsock_set_rcvtimeo(req, sel->timeout_ms);
        zsock_set_sndtimeo(req, sel->timeout_ms);
        char why[300];
        if (cli_connect(req, sel->ingest, KEYS_STATE, why, sizeof why) == 0) return req;
        fprintf(stderr, "riskctl dlq: %s\n", why);
    } else {
        fprintf(stderr, "riskctl dlq: cannot create a socket: %s\n", zmq_strerror(errno));
    }
    zsock_destroy(&req);
    return NULL;
}

static int s_replay(sel_t *sel)
{
    scan_t t;
    if (scan_open(&t, "dlq", sel->dir, tables_state_dbs, SDB_DLQ, 0)) return CLI_FAIL;
    int rc = sel->all ? s_collect_all(&t, sel) : 0;
    scan_end(&t);
    zsock_t *req = rc ? NULL : s_connect(sel);
    if (!req) {
        scan_close(&t);
        return CLI_FAIL;
    }
    size_t done = 0, i = 0;
    while (i < sel->nids) {
        rc = s_replay_one(&t, req, sel->ids[i++], sel);
        if (rc == 0) done++;
        if (rc == RP_ETIMEDOUT) break; /* the REQ socket still waits for that answer */
    }
    if (i < sel->nids)
        fprintf(stderr, "riskctl dlq: stopped after no answer: %zu %s not attempted\n",
                sel->nids - i, s_entries(sel->nids - i));
    printf("replayed %zu of %zu %s\n", done, sel->nids, s_entries(sel->nids));
    zsock_destroy(&req);
    scan_close(&t);
    return done == sel->nids ? CLI_OK : CLI_FAIL;
}

/* purge --all: empties the table inside txn; *n is how many it held. */
static int s_drop_all(scan_t *t, MDB_txn *txn, size_t *n)
{
    MDB_stat st;
    int rc = store_rc(mdb_stat(txn, t->dbi, &st));
    if (rc == 0) *n = st.ms_entries;
    if (rc == 0 && (rc = store_rc(mdb_drop(txn, t->dbi, 0))) == 0) return 0;
    cli_fail("dlq", rc, "%s, table %s: cannot empty the table; nothing purged", t->dir,
             t->table);
    return rc;
}

/* purge ID...: deletes each named entry inside txn, counting those deleted
 * and naming those absent. Returns 0 or an RP code (printed). */
static int s_delete_ids(scan_t *t, MDB_txn *txn, const sel_t *sel, size_t *done,
                        size_t *missing)
{
    for (size_t i = 0; i < sel->nids; i++) {
        uint8_t key[8];
        store_u64_put(key, sel->ids[i]);
        MDB_val k = {sizeof key, key};
        int rc = store_rc(mdb_del(txn, t->dbi, &k, NULL));
        if (rc == 0) {
            (*done)++;
        } else if (rc == RP_ENOTFOUND) {
            fprintf(stderr, "riskctl dlq: no entry %llu\n", (unsigned long long)sel->ids[i]);
            (*missing)++;
        } else {
            cli_fail("dlq", rc, "%s, table %s: cannot delete entry %llu; nothing purged",
                     t->dir, t->table, (unsigned long long)sel->ids[i]);
            return rc;
        }
    }
    return 0;
}

/* Deletes in one write transaction, so a failure deletes nothing. */
static int s_purge(sel_t *sel)
{
    scan_t t;
    if (scan_open(&t, "dlq", sel->dir, tables_state_dbs, SDB_DLQ, 0)) return CLI_FAIL;
    scan_end(&t); /* purge only writes */
    MDB_txn *txn = NULL;
    size_t done = 0, n = sel->nids, missing = 0;
    int rc = store_begin(t.store, 0, &txn);
    if (rc)
        cli_fail("dlq", rc, "%s: cannot begin a write transaction", t.dir);
    else if (sel->all)
        done = (rc = s_drop_all(&t, txn, &n)) ? 0 : n;
    else
        rc = s_delete_ids(&t, txn, sel, &done, &missing);
    if (rc == 0 && (rc = store_commit(&txn)) != 0)
        cli_fail("dlq", rc, "%s, table %s: cannot commit; nothing purged", t.dir, t.table);
    store_abort(&txn);
    scan_close(&t);
    if (rc) return CLI_FAIL;
    printf("purged %zu of %zu %s\n", done, n, s_entries(n));
    return missing ? CLI_FAIL : CLI_OK;
}

static int s_id_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Parses the entry ids named on the command line into sel (ascending, each
 * once: the order --all uses). Returns 0, or CLI_USAGE / CLI_FAIL after a
 * message. */
static int s_parse_ids(char **args, int n, sel_t *sel)
{
    if (!(sel->ids = calloc((size_t)n, sizeof *sel->ids)))
        return cli_fail("dlq", RP_ENOMEM, "cannot hold %d ids", n);
    for (int i = 0; i < n; i++) {
        char *end;
        errno = 0;
        unsigned long long id = strtoull(args[i], &end, 10);
        if (args[i][0] < '0' || args[i][0] > '9' || *end || errno) {
            fprintf(stderr, "riskctl dlq: '%s' is not an entry id\n", args[i]);
            return CLI_USAGE;
        }
        sel->ids[i] = id;
    }
    qsort(sel->ids, (size_t)n, sizeof *sel->ids, s_id_cmp);
    for (int i = 0; i < n; i++)
        if (sel->nids == 0 || sel->ids[sel->nids - 1] != sel->ids[i])
            sel->ids[sel->nids++] = sel->ids[i];
    return 0;
}

int cmd_dlq(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"state-data", "./data/state", "the state process's LMDB environment directory", NULL},
        {"ingest", "tcp://localhost:5555", "acknowledged ingest endpoint (for replay)", NULL},
        {"all", NULL, "replay or purge every entry", NULL},
        {"timeout-ms", "5000", "replay: how long to wait for each answer", NULL},
        CLI_SECURITY_OPTS,
        {NULL, NULL, NULL, NULL}};
    int npos, code;
    if (!cli_parse(opts, argc, argv,
                   "usage: riskctl dlq list|show ID|replay ID...|purge ID... [options]\n\n"
                   "Dead-lettered (rejected) messages kept by the state process.\n"
                   "  list           one line per entry: id, time, source, index, reason\n"
                   "  show ID        the entry with its message as JSON (hex if not msgpack)\n"
                   "  replay ID...   send the messages again (--all for every entry) and remove "
                   "them;\n                 one still invalid is dead-lettered again with the "
                   "new reason\n"
                   "  purge ID...    delete entries (--all for every entry)\n"
                   "Exits 1 when a selected entry is absent, unreadable, not replayed (truncated,"
                   "\nno answer, retry asked) or not removed.",
                   &npos, &code))
        return code;
    const char *sub = npos ? argv[1] : "";
    int nargs = npos - 1, list = !strcmp(sub, "list"), show = !strcmp(sub, "show"),
        replay = !strcmp(sub, "replay"), purge = !strcmp(sub, "purge");
    sel_t sel = {.dir = config_get(opts, "state-data"),
                 .ingest = config_get(opts, "ingest"),
                 .all = !show && config_get(opts, "all") != NULL};
    if (!(list || show || replay || purge) || (show && nargs != 1) ||
        ((replay || purge) && !nargs && !sel.all)) {
        fprintf(stderr, "riskctl dlq: expected list, show ID, replay ID...|--all or purge "
                        "ID...|--all (see --help)\n");
        return CLI_USAGE;
    }
    int64_t timeout;
    if (config_int(opts, "timeout-ms", 1, 3600000, &timeout)) return CLI_USAGE;
    sel.timeout_ms = (int)timeout;
    if (list) return s_list(sel.dir);
    if (!sel.all && (code = s_parse_ids(argv + 2, nargs, &sel)) != 0) {
        free(sel.ids);
        return code;
    }
    code = show ? s_show(sel.dir, sel.ids[0]) : replay ? s_replay(&sel) : s_purge(&sel);
    free(sel.ids);
    return code;
}
