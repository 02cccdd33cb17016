/* In-flight window and redelivery. Only committed batches are ever read, so
 * a mapper can never see a change that a failed commit rolled back. */
#include "dispatch.h"
#include "../common/log.h"
#include "../common/rperr.h"

#include <errno.h>
#include <stdlib.h>
#include <zmq.h>

typedef struct {
    uint64_t id;
    batch_row_t row;
    int64_t sent_ms;
} flight_t;

struct dispatch_t {
    changelog_t *log;
    store_t *store;
    void *work;
    uint32_t window, n;
    int64_t redeliver_ms;
    uint64_t next_id; /* lowest id never sent by this process */
    flight_t *fl;     /* n entries, ordered by id */
    msgpack_sbuffer sb;
    dispatch_stats_t st;
};

dispatch_t *dispatch_new(changelog_t *log, store_t *store, void *work, uint32_t window,
                         int64_t redeliver_ms)
{
    dispatch_t *self = calloc(1, sizeof *self);
    if (!self) return NULL;
    self->fl = calloc(window ? window : 1, sizeof *self->fl);
    if (!self->fl) {
        free(self);
        return NULL;
    }
    self->log = log;
    self->store = store;
    self->work = work;
    self->window = window ? window : 1;
    self->redeliver_ms = redeliver_ms;
    msgpack_sbuffer_init(&self->sb);
    return self;
}

void dispatch_destroy(dispatch_t **self_p)
{
    if (!self_p || !*self_p) return;
    msgpack_sbuffer_destroy(&(*self_p)->sb);
    free((*self_p)->fl);
    free(*self_p);
    *self_p = NULL;
}

static void s_remove(dispatch_t *self, uint32_t i)
{
    for (; i + 1 < self->n; i++) self->fl[i] = self->fl[i + 1];
    self->n--;
}

/* Builds and sends one batch, copies times in a row (the PUSH socket deals
 * consecutive messages to different mappers). Returns 0 sent (a copy after
 * the first that finds no room is not sent), RP_EBUSY when no mapper can take
 * it now, RP_ENOTFOUND when it was acknowledged meanwhile, or RP_*. */
static int s_send(dispatch_t *self, MDB_txn *txn, const flight_t *f, uint64_t watermark,
                  int copies)
{
    msgpack_sbuffer_clear(&self->sb);
    int rc = changelog_work_frame(self->log, txn, f->id, &f->row, watermark, &self->sb);
    if (rc) return rc;
    for (int c = 0; c < copies; c++)
        if (zmq_send(self->work, self->sb.data, self->sb.size, ZMQ_DONTWAIT) < 0) {
            if (c > 0 && errno == EAGAIN) break;
            if (errno == EAGAIN) return RP_EBUSY;
            log_error("work send: %s", zmq_strerror(errno));
            return RP_EZMQ;
        }
    return 0;
}

int dispatch_run(dispatch_t *self, uint64_t watermark, int64_t now)
{
    MDB_txn *txn = NULL;
    int rc = 0;
    if (self->next_id < watermark) self->next_id = watermark;
    for (uint32_t i = 0; i < self->n; i++) {
        flight_t *f = &self->fl[i];
        if (now - f->sent_ms < self->redeliver_ms) continue;
        if (!txn && (rc = store_begin(self->store, 1, &txn))) return rc;
        /* Twice: the round robin hands the two copies to two mappers. One
         * copy went back to the same mapper round after round (the sends
         * repeat in the same order), and a mapper stopped while connected
         * took it every time, its socket buffers holding megabytes: the
         * reducer waited on that batch for as long as the mapper stayed
         * stopped. The reducer skips the copy it does not need. */
        rc = s_send(self, txn, f, watermark, 2);
        if (rc == RP_EBUSY) goto out;
        if (rc == RP_ENOTFOUND) {
            s_remove(self, i--);
            continue;
        }
        if (rc) goto out;
        log_debug("re-sent batch %llu", (unsigned long long)f->id);
        f->sent_ms = now;
        self->st.redelivered++;
    }
    while (self->n < self->window) {
        flight_t f;
        if (!txn && (rc = store_begin(self->store, 1, &txn))) return rc;
        rc = changelog_batch_next(self->log, txn, self->next_id, &f.id, &f.row);
        if (rc == RP_ENOTFOUND) {
            rc = 0;
            break;
        }
        if (rc) break;
        rc = s_send(self, txn, &f, watermark, 1);
        if (rc == RP_EBUSY) break;
        if (rc && rc != RP_ENOTFOUND) break;
        self->next_id = f.id + 1;
        if (rc == RP_ENOTFOUND) continue;
        f.sent_ms = now;
        self->fl[self->n++] = f;
        self->st.dispatched++;
    }
out:
    store_abort(&txn);
    return rc == RP_EBUSY ? 0 : rc;
}

void dispatch_acked(dispatch_t *self, uint64_t id)
{
    for (uint32_t i = 0; i < self->n; i++)
        if (self->fl[i].id == id) {
            s_remove(self, i);
            self->st.acked++;
            return;
        }
    self->st.stale_acks++; /* a duplicate ack, or one for an earlier run's send */
}

int64_t dispatch_next_due(const dispatch_t *self, int64_t now, int64_t cap)
{
    int64_t due = cap;
    for (uint32_t i = 0; i < self->n; i++) {
        int64_t d = self->fl[i].sent_ms + self->redeliver_ms - now;
        /* Overdue batches whose send found no free mapper are retried on a
         * short tick rather than in a busy loop. */
        if (d < due) due = d < 10 ? 10 : d;
    }
    return due;
}

uint32_t dispatch_inflight(const dispatch_t *self)
{
    return self->n;
}

const dispatch_stats_t *dispatch_stats(const dispatch_t *self)
{
    return &self->st;
}

int dispatch_has_unsent(const dispatch_t *self, uint64_t next_batch)
{
    return self->n < self->window && self->next_id < next_batch;
}
