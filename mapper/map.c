/* WORK -> RESULT; see map.h. */
#include "map.h"
#include "../common/chaos.h"
#include "../common/log.h"
#include "../common/rperr.h"
#include "../proto/frame.h"

int map_work(preagg_t *agg, const char *buf, size_t len, const char *mapper_id,
             msgpack_sbuffer *out)
{
    char why[160];
    msgpack_unpacked unp;
    work_t w;
    msgpack_sbuffer_clear(out);
    int rc = frame_work_decode(buf, len, &unp, &w, why, sizeof why);
    if (rc) {
        log_warn("dropping bad WORK frame (%zu bytes): %s", len, why);
        goto done;
    }
    preagg_reset(agg);
    chaos_roll(3);
    for (uint32_t i = 0; i < w.n && rc == 0; i++) {
        change_t c;
        if (i == w.n / 2) chaos_point(0, "mid-batch");
        frame_change_get(&w.changes[i], &c); /* validated by frame_work_decode */
        rc = preagg_add(agg, &c);
    }
    if (rc) goto done;
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    frame_result_head(&pk, &w.state, w.batch_id, w.watermark, mapper_id, w.n, &w.pos,
                      (uint32_t)preagg_count(agg));
    size_t it = 0, plen;
    const char *path;
    money_sum_t delta;
    int64_t count;
    while (preagg_next(agg, &it, &path, &plen, &delta, &count))
        frame_delta_pack(&pk, path, plen, delta, count);
    log_debug("batch %llu: %u changes -> %zu deltas", (unsigned long long)w.batch_id, w.n,
              preagg_count(agg));
done:
    msgpack_unpacked_destroy(&unp);
    return rc;
}
