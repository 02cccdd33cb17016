/* riskctl dlq: list, show, replay and purge the state process's dead-letter
 * table (rejected messages with their raw bytes and reason). replay sends
 * each kept message through acknowledged ingest again and removes the entry
 * once the state process has answered; a message still invalid comes back as
 * a new entry with the new reason. */
#include "riskctl.h"
#include "../common/config.h"
#include "../common/store.h"
#include "../proto/mp.h"
#include "../proto/reply.h"
#include "../proto/tables.h"

#include <czmq.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>


typedef struct {
    uint64_t id, index, raw_size;
    int64_t time_ms;
    int truncated;
    char source[96], reason[256];
    const char *raw;
    size_t raw_len;
} entry_t;

/* Decodes a dlq row (borrowing raw from the unpacked zone). */
static int s_entry(const MDB_val *v, msgpack_unpacked *unp, entry_t *e)
{
    char why[128];
    memset(e, 0, sizeof *e);
    if (mp_unpack(v->mv_data, v->mv_size, 2, 64, unp, why, sizeof why)) return -1;
    const msgpack_object *m = &unp->data, *o;
    int64_t x;
    if ((o = mp_map_get(m, "id")) && !mp_get_i64(o, &x)) e->id = (uint64_t)x;
    if ((o = mp_map_get(m, "index")) && !mp_get_i64(o, &x)) e->index = (uint64_t)x;
    if ((o = mp_map_get(m, "raw_size")) && !mp_get_i64(o, &x)) e->raw_size = (uint64_t)x;
    if ((o = mp_map_get(m, "time_ms"))) mp_get_i64(o, &e->time_ms);
    if ((o = mp_map_get(m, "truncated")) && o->type == MSGPACK_OBJECT_BOOLEAN)
        e->truncated = o->via.boolean;
    if ((o = mp_map_get(m, "source")) && o->type == MSGPACK_OBJECT_STR)
        snprintf(e->source, sizeof e->source, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    if ((o = mp_map_get(m, "reason")) && o->type == MSGPACK_OBJECT_STR)
        snprintf(e->reason, sizeof e->reason, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    if ((o = mp_map_get(m, "raw")) && o->type == MSGPACK_OBJECT_BIN) {
        e->raw = o->via.bin.ptr;
        e->raw_len = o->via.bin.size;
    }
    return 0;
}

static json_t *s_to_json(const msgpack_object *o, int depth)
{
    if (depth > 16) return json_null();
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

static void s_hex(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) printf("%02x%s", (unsigned char)p[i], i % 32 == 31 ? "\n" : "");
    printf("\n");
}

static int s_selected(uint64_t id, char **ids, int nids)
{
    for (int i = 0; i < nids; i++)
        if (strtoull(ids[i], NULL, 10) == id) return 1;
    return 0;
}

/* Sends one raw frame through acknowledged ingest and waits for the reply. */
static int s_replay_one(zsock_t *req, const entry_t *e, reply_view_t *r)
{
    if (zmq_send(zsock_resolve(req), e->raw, e->raw_len, 0) < 0) return -1;
    zmq_msg_t m;
    zmq_msg_init(&m);
    int rc = -1;
    if (zmq_msg_recv(&m, zsock_resolve(req), 0) >= 0)
        rc = reply_decode(zmq_msg_data(&m), zmq_msg_size(&m), r) ? -1 : 0;
    zmq_msg_close(&m);
    return rc;
}

int cmd_dlq(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"state-data", "./data/state", "the state process's LMDB environment directory", NULL},
        {"ingest", "tcp://localhost:5555", "acknowledged ingest endpoint (for replay)", NULL},
        {"all", NULL, "replay or purge every entry", NULL},
        {"timeout-ms", "5000", "replay: how long to wait for each answer", NULL},
        {NULL, NULL, NULL, NULL}};
    int npos;
    int rc = config_parse(opts, argc, argv, 1, &npos,
                          "usage: riskctl dlq list|show ID|replay ID...|purge ID... [options]\n\n"
                          "Dead-lettered (rejected) messages kept by the state process.\n"
                          "  list           one line per entry: id, time, source, index, reason\n"
                          "  show ID        the entry with its message as JSON (hex if not msgpack)\n"
                          "  replay ID...   send the messages again (--all for every entry) and "
                          "remove them;\n                 one still invalid is dead-lettered "
                          "again with the new reason\n"
                          "  purge ID...    delete entries (--all for every entry)");
    if (rc) return rc > 0 ? 0 : 2;
    if (npos < 1) {
        fprintf(stderr, "usage: riskctl dlq list|show ID|replay ID...|purge ID... (see --help)\n");
        return 2;
    }
    const char *sub = argv[1];
    char **ids = argv + 2;
    int nids = npos - 1, all = config_get(opts, "all") != NULL;
    int list = !strcmp(sub, "list"), show = !strcmp(sub, "show"), replay = !strcmp(sub, "replay"),
        purge = !strcmp(sub, "purge");
    if (!(list || show || replay || purge) || (show && nids != 1) ||
        ((replay || purge) && !nids && !all)) {
        fprintf(stderr, "riskctl dlq: expected list, show ID, replay ID...|--all or purge "
                        "ID...|--all\n");
        return 2;
    }
    int64_t timeout;
    if (config_int(opts, "timeout-ms", 1, 3600000, &timeout)) return 2;
    store_t *st = store_open(config_get(opts, "state-data"), tables_state_dbs, 0, list || show, &rc);
    if (!st) {
        fprintf(stderr, "riskctl dlq: cannot open %s\n", config_get(opts, "state-data"));
        return 1;
    }
    zsock_t *req = NULL;
    if (replay) {
        zsys_handler_set(NULL);
        req = zsock_new(ZMQ_REQ);
        zsock_set_linger(req, 0);
        zsock_set_rcvtimeo(req, (int)timeout);
        if (!req || zsock_connect(req, "%s", config_get(opts, "ingest")) < 0) {
            fprintf(stderr, "riskctl dlq: cannot connect to %s\n", config_get(opts, "ingest"));
            store_destroy(&st);
            return 1;
        }
    }
    /* Collect the selected ids first: replay must not hold a write
     * transaction while the state process (another writer) works. */
    MDB_txn *txn = NULL;
    MDB_cursor *cur = NULL;
    MDB_val k, v;
    size_t n = 0, cap = 64, done = 0, failed = 0;
    uint64_t *sel = malloc(cap * sizeof *sel);
    store_begin(st, 1, &txn);
    mdb_cursor_open(txn, store_dbi(st, SDB_DLQ), &cur);
    for (int r = mdb_cursor_get(cur, &k, &v, MDB_FIRST); r == 0;
         r = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        msgpack_unpacked unp;
        entry_t e;
        int bad = s_entry(&v, &unp, &e);
        if (list) {
            char when[32] = "?";
            time_t t = (time_t)(e.time_ms / 1000);
            struct tm tm;
            if (!bad && gmtime_r(&t, &tm)) strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
            if (bad) printf("%llu\t(unreadable entry)\n", (unsigned long long)store_u64_get(k.mv_data));
            else printf("%llu\t%s\t%s\tindex %llu\t%s%s\n", (unsigned long long)e.id, when,
                        e.source, (unsigned long long)e.index, e.reason,
                        e.truncated ? " [raw truncated]" : "");
            n++;
        } else if (!bad && (all || s_selected(e.id, ids, nids))) {
            if (show) {
                printf("id: %llu\nsource: %s\nindex: %llu\nreason: %s\nraw bytes: %llu%s\n",
                       (unsigned long long)e.id, e.source, (unsigned long long)e.index, e.reason,
                       (unsigned long long)e.raw_size, e.truncated ? " (truncated)" : "");
                msgpack_unpacked raw;
                char why[128];
                if (!e.truncated && mp_unpack(e.raw, e.raw_len, MP_MAX_DEPTH, 100000, &raw, why,
                                              sizeof why) == 0) {
                    json_t *j = s_to_json(&raw.data, 0);
                    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
                    printf("message: %s\n", s ? s : "?");
                    free(s);
                    json_decref(j);
                } else {
                    printf("message (hex):\n");
                    s_hex(e.raw, e.raw_len);
                }
                msgpack_unpacked_destroy(&raw);
            }
            if (n == cap) sel = realloc(sel, (cap *= 2) * sizeof *sel);
            sel[n++] = e.id;
        }
        msgpack_unpacked_destroy(&unp);
    }
    mdb_cursor_close(cur);
    store_abort(&txn);
    if (list && n == 0) printf("(dead-letter table is empty)\n");
    if (show && n == 0) {
        fprintf(stderr, "riskctl dlq: no entry %s\n", ids[0]);
        failed = 1;
    }
    for (size_t i = 0; (replay || purge) && i < n; i++) {
        uint8_t key[8];
        store_u64_put(key, sel[i]);
        k.mv_size = 8;
        k.mv_data = key;
        if (replay) {
            msgpack_unpacked unp;
            entry_t e;
            reply_view_t r = {0};
            store_begin(st, 1, &txn);
            int ok = mdb_get(txn, store_dbi(st, SDB_DLQ), &k, &v) == 0 && s_entry(&v, &unp, &e) == 0;
            int sent = -1;
            if (ok && e.truncated)
                fprintf(stderr, "riskctl dlq: entry %llu was truncated; not replayed\n",
                        (unsigned long long)sel[i]);
            else if (ok)
                sent = s_replay_one(req, &e, &r);
            if (ok) msgpack_unpacked_destroy(&unp);
            store_abort(&txn);
            if (sent != 0 || r.retry) {
                if (ok && !e.truncated)
                    fprintf(stderr, "riskctl dlq: entry %llu not replayed: %s\n",
                            (unsigned long long)sel[i], sent ? "no answer" : r.error);
                failed++;
                if (sent) break; /* REQ socket is stuck without an answer */
                continue;
            }
            printf("%llu: accepted %llu, duplicates %llu, rejected %llu%s%s\n",
                   (unsigned long long)sel[i], (unsigned long long)r.accepted,
                   (unsigned long long)r.duplicates, (unsigned long long)r.rejected,
                   r.rejected ? " -- " : "", r.first_reason);
        }
        if (store_begin(st, 0, &txn) == 0) {
            mdb_del(txn, store_dbi(st, SDB_DLQ), &k, NULL);
            if (store_commit(&txn) == 0) done++;
        }
    }
    if (replay || purge)
        printf("%s %zu of %zu entr%s\n", replay ? "replayed" : "purged", done, n,
               n == 1 ? "y" : "ies");
    free(sel);
    zsock_destroy(&req);
    store_destroy(&st);
    return failed ? 1 : 0;
}
