/* riskctl keygen DIR: makes a pipeline's CURVE key set (svc/keys.h): a key
 * pair for each of state, reducer, mapper and riskctl, and producers/ with
 * the public keys allowed on ingest (riskctl's to start with). */
#include "riskctl.h"
#include "cli.h"
#include "../svc/keys.h"

#include <stdio.h>

int cmd_keygen(int argc, char **argv)
{
    config_opt_t opts[] = {{NULL, NULL, NULL, NULL}};
    int npos, code;
    if (!cli_parse(opts, argc, argv,
                   "usage: riskctl keygen DIR\n\nWrites a new CURVE key set into DIR (created): "
                   "ROLE.cert and ROLE.cert_secret for\nstate, reducer, mapper and riskctl, and "
                   "producers/ with the public keys allowed\non ingest (riskctl's). Give each "
                   "process --keys DIR; each needs only its own\n.cert_secret and the other "
                   "roles' .cert files. Add a producer by putting its public\n.cert into "
                   "producers/ (the state picks it up without a restart). Refuses a DIR\nthat "
                   "already holds a key set.",
                   &npos, &code))
        return code;
    if (npos != 1) {
        fprintf(stderr, "usage: riskctl keygen DIR (see --help)\n");
        return CLI_USAGE;
    }
    if (keys_generate(argv[1])) return CLI_FAIL;
    printf("key set written to %s\n", argv[1]);
    return CLI_OK;
}
