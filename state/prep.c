/* Decoding ingest frames, in the writer or ahead of it on a thread; see
 * prep.h. */
#include "prep.h"
#include "../common/rperr.h"
#include "../proto/shard.h"
#include "../proto/tables.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

void prep_frame_init(prep_frame_t *f)
{
    memset(f, 0, sizeof *f);
    msgpack_sbuffer_init(&f->arena);
}

void prep_frame_destroy(prep_frame_t *f)
{
    free(f->msg);
    msgpack_sbuffer_destroy(&f->arena);
    memset(f, 0, sizeof *f);
}

/* Appends len bytes and a NUL to the arena; *off is where they start. */
static int s_put(prep_frame_t *f, const char *s, size_t len, size_t *off)
{
    *off = f->arena.size;
    if (msgpack_sbuffer_write(&f->arena, s, len) || msgpack_sbuffer_write(&f->arena, "", 1))
        return RP_ENOMEM;
    return 0;
}

/* Decodes one message into *pm. */
static int s_message(const prep_rules_t *r, const char *msg, size_t mlen, prep_frame_t *f,
                     prep_msg_t *pm)
{
    char why[RISK_WHY_MAX];
    msgpack_unpacked unp;
    risk_msg_t m;
    memset(pm, 0, sizeof *pm);
    pm->raw = msg;
    pm->raw_len = mlen;
    int rc = 0;
    if (risk_msg_unpack(msg, mlen, &unp, why, sizeof why) ||
        risk_msg_decode(&unp.data, &r->levels, &m, why, sizeof why)) {
        pm->kind = PREP_BAD;
        rc = s_put(f, why, strlen(why), &pm->why_off);
    } else {
        rc = s_put(f, m.trade_id, m.trade_id_len, &pm->id_off);
        pm->id_len = m.trade_id_len;
        uint32_t home = shard_of(m.trade_id, m.trade_id_len, r->shards);
        if (home != r->shard) {
            pm->kind = PREP_FOREIGN;
            pm->home = home;
        } else if (rc == 0) {
            char path[HIER_PATH_MAX];
            pm->kind = PREP_OK;
            pm->version = m.version;
            pm->value = m.value;
            pm->path_len = risk_msg_path(&m, &r->levels, path);
            rc = s_put(f, path, pm->path_len, &pm->path_off);
            pm->row_off = f->arena.size;
            if (rc == 0) rc = tables_state_encode(&m, &r->levels, &f->arena);
            pm->row_len = f->arena.size - pm->row_off;
        }
    }
    msgpack_unpacked_destroy(&unp);
    return rc;
}

int prep_decode(const prep_rules_t *r, const char *buf, size_t len, prep_frame_t *out)
{
    risk_frame_t rf;
    const char *msg;
    size_t mlen;
    out->n = 0;
    out->bad = 0;
    out->why[0] = '\0';
    msgpack_sbuffer_clear(&out->arena);
    if (risk_frame_open(buf, len, r->max_batch, &rf, out->why, sizeof out->why)) {
        out->bad = 1;
        return 0;
    }
    if (rf.n > out->cap) {
        prep_msg_t *m = realloc(out->msg, rf.n * sizeof *m);
        if (!m) return RP_ENOMEM;
        out->msg = m;
        out->cap = rf.n;
    }
    /* Each message is bounded and unpacked on its own, one at a time: a
     * malformed one is rejected alone, and memory follows one message. */
    while (risk_frame_next(&rf, &msg, &mlen)) {
        int rc = s_message(r, msg, mlen, out, &out->msg[out->n]);
        if (rc) return rc;
        out->n++;
    }
    return 0;
}

struct prep_t {
    prep_rules_t rules;
    int ahead;               /* buffers, and frames decoded in front of the writer */
    prep_frame_t *slot;      /* frame i of a group is decoded into slot[i % ahead] */
    int *slot_rc;
    prep_frame_t inline_frame; /* ahead 0: the caller decodes here */
    pthread_t thread;
    int running;
    pthread_mutex_t mu;
    pthread_cond_t to_thread, to_writer;
    /* under mu: */
    const prep_input_t *in;
    int n;          /* frames in the group; 0 while there is none */
    int decoded;    /* frames of the group decoded */
    int released;   /* frames before it are given back by the writer */
    int busy;       /* the thread is decoding a frame outside the lock */
    int stop;       /* the group ends: decode nothing more of it */
    int quit;
};

static void *s_thread(void *arg)
{
    prep_t *self = arg;
    pthread_mutex_lock(&self->mu);
    for (;;) {
        while (!self->quit &&
               (self->stop || self->decoded >= self->n ||
                self->decoded - self->released >= self->ahead))
            pthread_cond_wait(&self->to_thread, &self->mu);
        if (self->quit) break;
        int i = self->decoded;
        prep_input_t in = self->in[i];
        prep_frame_t *f = &self->slot[i % self->ahead];
        self->busy = 1;
        pthread_mutex_unlock(&self->mu);
        int rc = 0;
        if (in.buf) rc = prep_decode(&self->rules, in.buf, in.len, f);
        else f->n = 0, f->bad = 0;
        pthread_mutex_lock(&self->mu);
        self->slot_rc[i % self->ahead] = rc;
        self->busy = 0;
        self->decoded++;
        pthread_cond_signal(&self->to_writer);
    }
    pthread_mutex_unlock(&self->mu);
    return NULL;
}

prep_t *prep_new(const prep_rules_t *r, int ahead, int *err)
{
    int rc = RP_ENOMEM;
    prep_t *self = calloc(1, sizeof *self);
    if (!self) goto fail;
    self->rules = *r;
    self->ahead = ahead > 0 ? ahead : 0;
    prep_frame_init(&self->inline_frame);
    pthread_mutex_init(&self->mu, NULL);
    pthread_cond_init(&self->to_thread, NULL);
    pthread_cond_init(&self->to_writer, NULL);
    if (!self->ahead) return self;
    self->slot = calloc((size_t)self->ahead, sizeof *self->slot);
    self->slot_rc = calloc((size_t)self->ahead, sizeof *self->slot_rc);
    if (!self->slot || !self->slot_rc) goto fail;
    for (int i = 0; i < self->ahead; i++) prep_frame_init(&self->slot[i]);
    if (pthread_create(&self->thread, NULL, s_thread, self)) {
        rc = RP_EIO;
        goto fail;
    }
    self->running = 1;
    return self;
fail:
    prep_destroy(&self);
    if (err) *err = rc;
    return NULL;
}

void prep_destroy(prep_t **self_p)
{
    if (!self_p || !*self_p) return;
    prep_t *self = *self_p;
    if (self->running) {
        pthread_mutex_lock(&self->mu);
        self->quit = 1;
        pthread_cond_signal(&self->to_thread);
        pthread_mutex_unlock(&self->mu);
        pthread_join(self->thread, NULL);
    }
    for (int i = 0; self->slot && i < self->ahead; i++) prep_frame_destroy(&self->slot[i]);
    free(self->slot);
    free(self->slot_rc);
    prep_frame_destroy(&self->inline_frame);
    pthread_cond_destroy(&self->to_writer);
    pthread_cond_destroy(&self->to_thread);
    pthread_mutex_destroy(&self->mu);
    free(self);
    *self_p = NULL;
}

void prep_start(prep_t *self, const prep_input_t *in, int n)
{
    pthread_mutex_lock(&self->mu);
    self->in = in;
    self->n = n;
    self->decoded = 0;
    self->released = 0;
    self->stop = 0;
    pthread_cond_signal(&self->to_thread);
    pthread_mutex_unlock(&self->mu);
}

int prep_take(prep_t *self, int i, const prep_frame_t **out)
{
    if (i < 0 || i >= self->n) return RP_EINVAL; /* a caller's mistake: never wait for it */
    if (!self->ahead) {
        const prep_input_t *in = &self->in[i];
        prep_frame_t *f = &self->inline_frame;
        int rc = 0;
        f->n = 0;
        f->bad = 0;
        if (in->buf) {
            rc = prep_decode(&self->rules, in->buf, in->len, f);
        }
        *out = f;
        return rc;
    }
    pthread_mutex_lock(&self->mu);
    if (i > self->released) {
        self->released = i;
        pthread_cond_signal(&self->to_thread);
    }
    while (self->decoded <= i) pthread_cond_wait(&self->to_writer, &self->mu);
    int rc = self->slot_rc[i % self->ahead];
    pthread_mutex_unlock(&self->mu);
    *out = &self->slot[i % self->ahead];
    return rc;
}

void prep_finish(prep_t *self)
{
    pthread_mutex_lock(&self->mu);
    self->stop = 1;
    while (self->busy) pthread_cond_wait(&self->to_writer, &self->mu);
    self->in = NULL;
    self->n = 0;
    self->decoded = 0;
    self->released = 0;
    pthread_mutex_unlock(&self->mu);
}
