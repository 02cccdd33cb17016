/* Control requests and stats replies; see control.h. */
#include "control.h"
#include "../common/log.h"

#include <czmq.h>
#include <errno.h>
#include <string.h>

void control_serve(void *rep, const char *role, control_fill_fn fill, void *arg)
{
    zmq_msg_t req;
    zmq_msg_init(&req);
    if (zmq_msg_recv(&req, rep, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&req);
        return;
    }
    while (zmq_msg_more(&req)) { /* REP hides envelopes; drop any extra parts */
        zmq_msg_close(&req);
        zmq_msg_init(&req);
        if (zmq_msg_recv(&req, rep, 0) < 0) break;
    }
    char why[160];
    const char *cmd = NULL;
    size_t cmd_len = 0;
    msgpack_unpacked unp;
    int bad = ctl_req_decode(zmq_msg_data(&req), zmq_msg_size(&req), &unp, &cmd, &cmd_len, why,
                             sizeof why);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    if (!bad && cmd_len == 5 && memcmp(cmd, "stats", 5) == 0) {
        ctl_stat_t stats[CTL_MAX_STATS];
        ctl_rep_encode(&sb, role, stats, fill(arg, stats, CTL_MAX_STATS));
    } else {
        if (bad) log_warn("bad control request: %s", why);
        ctl_rep_error(&sb, bad ? why : "unknown command (try \"stats\")");
    }
    msgpack_unpacked_destroy(&unp);
    zmq_msg_close(&req);
    if (zmq_send(rep, sb.data, sb.size, 0) < 0) log_warn("control reply: %s", zmq_strerror(errno));
    msgpack_sbuffer_destroy(&sb);
}
