/* riskctl keygen DIR: makes a pipeline's CURVE key set (svc/keys.h): a key
 * pair for each of state, reducer, mapper and riskctl, and producers/ with
 * the public keys allowed on ingest (riskctl's to start with). */
#include "riskctl.h"
#include "cli.h"
#include "../svc/keys.h"

#include <stdio.h>

int cmd_keygen(int argc, char **argv)
{
    config_opt_t opts[] = {
        {"producer", "", "add a producer NAME to the key set in DIR instead of making one", NULL},
        {NULL, NULL, NULL, NULL}};
    int npos, code;
    if (!cli_parse(opts, argc, argv,
                   "usage: riskctl keygen DIR\n\nWrites a new CURVE key set into DIR (created): "
                   "ROLE.cert and ROLE.cert_secret for\nstate, reducer, mapper and riskctl, and "
                   "producers/ with the public keys allowed\non ingest (riskctl's). Give each "
                   "process --keys DIR; each needs only its own\n.cert_secret and the other "
                   "roles' .cert files. Refuses a DIR that already holds a key set.\n\n"
                   "With --producer NAME, adds a producer to the key set in DIR instead: its key "
                   "pair in\nDIR/producer-keys/NAME.cert_secret (give it to the producer with "
                   "DIR/state.cert, and\nrun `riskctl send --keys` from a folder holding both, "
                   "the pair renamed riskctl.cert_secret)\nand its public key in "
                   "DIR/producers/NAME.cert, which a running state picks up.",
                   &npos, &code))
        return code;
    if (npos != 1) {
        fprintf(stderr, "usage: riskctl keygen DIR (see --help)\n");
        return CLI_USAGE;
    }
    const char *producer = config_get(opts, "producer");
    if (producer && *producer) {
        if (keys_add_producer(argv[1], producer)) return CLI_FAIL;
        printf("producer %s added: its key pair is %s/producer-keys/%s.cert_secret\n", producer,
               argv[1], producer);
        return CLI_OK;
    }
    if (keys_generate(argv[1])) return CLI_FAIL;
    printf("key set written to %s\n", argv[1]);
    return CLI_OK;
}
