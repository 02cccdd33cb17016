/* rp-client-example: the whole of a producer built on rp_client. It sends
 * COUNT trades "example-<i>" (Version 1, Value i % 100 + 0.5, on
 * Delta::EMEA::Rates) to a pipeline of one or more state shards, waits until
 * every one is durable, and says what the state did with them.
 *
 *   rp-client-example tcp://127.0.0.1:5555 1000
 *   rp-client-example tcp://10.0.0.6:5555,tcp://10.0.0.7:5555 1000   (two shards)
 *
 * Build against bin/libriskpipe-client.a with libzmq and msgpack-c:
 *   cc -Iclient client/example.c bin/libriskpipe-client.a $(pkg-config --libs libzmq msgpack)
 * Exit status: 0 when every message was stored (or was a duplicate), 1 when
 * any was rejected or a shard stopped answering, 2 on a usage error. */
#include "rp_client.h"

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void s_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* Prints each rejected frame's first reason. */
static void s_rejected(void *arg, const rp_client_rejection_t *r)
{
    (void)arg;
    fprintf(stderr, "rp-client-example: %llu message(s) rejected by shard %u, the first "
            "(trade %llu): %s\n", (unsigned long long)r->rejected, r->shard,
            r->first_index >= 0 ? (unsigned long long)r->tags[r->first_index] : 0ULL,
            r->first_error);
}

static void s_note(void *arg, const char *text)
{
    (void)arg;
    fprintf(stderr, "rp-client-example: %s\n", text);
}

int main(int argc, char **argv)
{
    if (argc < 2 || argc > 3 || !strcmp(argv[1], "--help")) {
        fprintf(stderr, "usage: rp-client-example ENDPOINT[,ENDPOINT...] [COUNT]\n"
                        "Sends COUNT (default 1000) trades to the state shards' acknowledged "
                        "ingest endpoints, in shard order.\n");
        return argc >= 2 && !strcmp(argv[1], "--help") ? 0 : 2;
    }
    char *list = strdup(argv[1]), *eps[RP_CLIENT_SHARDS_MAX], *save = NULL;
    int k = 0;
    for (char *e = strtok_r(list, ",", &save); e && k < RP_CLIENT_SHARDS_MAX;
         e = strtok_r(NULL, ",", &save))
        eps[k++] = e;
    long count = argc == 3 ? strtol(argv[2], NULL, 10) : 1000;
    char why[300];
    rp_client_opts_t opts = {.on_reject = s_rejected, .on_note = s_note};
    rp_client_t *c = rp_client_new((const char *const *)eps, k, &opts, why, sizeof why);
    if (!c) {
        fprintf(stderr, "rp-client-example: %s\n", why);
        free(list);
        return 1;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int rc = 0;
    for (long i = 0; rc == 0 && i < count; i++) {
        char id[32], value[32];
        snprintf(id, sizeof id, "example-%ld", i);
        snprintf(value, sizeof value, "%ld.5", i % 100);
        msgpack_sbuffer_clear(&sb);
        msgpack_pack_map(&pk, 4);
        s_str(&pk, "TradeID");
        s_str(&pk, id);
        s_str(&pk, "Version");
        msgpack_pack_int(&pk, 1);
        s_str(&pk, "Value");
        s_str(&pk, value); /* a decimal string is exact */
        s_str(&pk, "Hierarchy");
        msgpack_pack_map(&pk, 3);
        s_str(&pk, "RiskType");
        s_str(&pk, "Delta");
        s_str(&pk, "Region");
        s_str(&pk, "EMEA");
        s_str(&pk, "TradeDesk");
        s_str(&pk, "Rates");
        rc = rp_client_add(c, sb.data, sb.size, (uint64_t)i);
    }
    if (rc == 0) rc = rp_client_flush(c); /* every frame answered: durable */
    const rp_client_counts_t *n = rp_client_counts(c);
    printf("sent %llu in %llu frames to %d shard(s): accepted %llu, duplicates %llu, "
           "rejected %llu%s\n", (unsigned long long)n->messages, (unsigned long long)n->frames,
           k, (unsigned long long)n->accepted, (unsigned long long)n->duplicates,
           (unsigned long long)n->rejected, rc ? " -- a shard stopped answering" : "");
    int bad = rc != 0 || n->rejected != 0;
    rp_client_destroy(&c);
    msgpack_sbuffer_destroy(&sb);
    free(list);
    return bad;
}
