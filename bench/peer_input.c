/* The comparison peers' workload reader: JSON lines -> validated messages,
 * through riskpipe's own JSON reader and message validation. */
#include "peer_input.h"
#include "../common/rperr.h"
#include "../proto/risk.h"
#include "../tools/jsonline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PEER_READ_CHUNK (1 << 20)
#define PEER_SHOW_MAX 10 /* refused lines whose reason is printed */

struct peer_input_t {
    int fd;
    int eof;
    char *buf; /* len bytes of input from start, then JSONLINE_PADDING spare */
    size_t start, len, cap;
    uint64_t lineno, lines, refused;
    hier_levels_t levels;
    jsonline_t *jl;
    msgpack_sbuffer sb;
    msgpack_unpacked unp; /* the last message's objects, which *m borrows */
    int unp_live;
};

double peer_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

peer_input_t *peer_input_open(const char *file, char *why, size_t whylen)
{
    peer_input_t *self = calloc(1, sizeof *self);
    if (!self) {
        snprintf(why, whylen, "out of memory");
        return NULL;
    }
    self->fd = -1;
    msgpack_sbuffer_init(&self->sb);
    if (hier_levels_parse(HIER_DEFAULT, &self->levels, why, whylen)) goto fail;
    self->cap = PEER_READ_CHUNK + JSONLINE_PADDING;
    if (!(self->buf = malloc(self->cap)) || !(self->jl = jsonline_new())) {
        snprintf(why, whylen, "out of memory");
        goto fail;
    }
    self->fd = strcmp(file, "-") == 0 ? dup(STDIN_FILENO) : open(file, O_RDONLY | O_CLOEXEC);
    if (self->fd < 0) {
        snprintf(why, whylen, "cannot open %s: %s", file, strerror(errno));
        goto fail;
    }
    return self;
fail:
    peer_input_destroy(&self);
    return NULL;
}

void peer_input_destroy(peer_input_t **self_p)
{
    peer_input_t *self = self_p ? *self_p : NULL;
    if (!self) return;
    if (self->unp_live) msgpack_unpacked_destroy(&self->unp);
    if (self->fd >= 0) close(self->fd);
    jsonline_destroy(&self->jl);
    msgpack_sbuffer_destroy(&self->sb);
    free(self->buf);
    free(self);
    *self_p = NULL;
}

uint64_t peer_input_lines(const peer_input_t *self)
{
    return self->lines;
}

uint64_t peer_input_refused(const peer_input_t *self)
{
    return self->refused;
}

/* Moves the unread bytes to the front and reads more, doubling the buffer
 * when one line fills it. Returns 0 (eof set at the end) or RP_EIO/RP_ENOMEM. */
static int s_fill(peer_input_t *self)
{
    memmove(self->buf, self->buf + self->start, self->len - self->start);
    self->len -= self->start;
    self->start = 0;
    if (self->len + JSONLINE_PADDING == self->cap) {
        char *nb = realloc(self->buf, self->cap * 2);
        if (!nb) {
            fprintf(stderr, "out of memory for a %zu-byte line\n", self->cap * 2);
            return RP_ENOMEM;
        }
        self->buf = nb;
        self->cap *= 2;
    }
    for (;;) {
        size_t room = self->cap - JSONLINE_PADDING - self->len;
        ssize_t got = read(self->fd, self->buf + self->len, room);
        if (got > 0) {
            self->len += (size_t)got;
            break;
        }
        if (got == 0) {
            self->eof = 1;
            break;
        }
        if (errno != EINTR) {
            fprintf(stderr, "cannot read the workload: %s\n", strerror(errno));
            return RP_EIO;
        }
    }
    /* simdjson reads past a line's end: never let it see uninitialised bytes */
    memset(self->buf + self->len, ' ', JSONLINE_PADDING);
    return 0;
}

/* Validates one line (n bytes, padding after them) into *m. Returns 1, 0 when
 * it is refused (counted and shown), or RP_ENOMEM. */
static int s_take(peer_input_t *self, const char *line, size_t n, peer_msg_t *m)
{
    char why[RISK_WHY_MAX];
    risk_msg_t msg;
    int rc;
    self->sb.size = 0;
    if (self->unp_live) msgpack_unpacked_destroy(&self->unp);
    self->unp_live = 0;
    rc = jsonline_pack(self->jl, line, n, &self->sb, why, sizeof why);
    if (rc == RP_ENOMEM) {
        fprintf(stderr, "out of memory at line %llu\n", (unsigned long long)self->lineno);
        return RP_ENOMEM;
    }
    if (rc == 0) {
        rc = risk_msg_unpack(self->sb.data, self->sb.size, &self->unp, why, sizeof why);
        self->unp_live = 1;
    }
    if (rc == 0) rc = risk_msg_decode(&self->unp.data, &self->levels, &msg, why, sizeof why);
    if (rc) {
        if (++self->refused <= PEER_SHOW_MAX)
            fprintf(stderr, "line %llu refused: %s\n", (unsigned long long)self->lineno, why);
        return 0;
    }
    m->trade_id = msg.trade_id;
    m->trade_id_len = msg.trade_id_len;
    m->version = msg.version;
    m->value = msg.value;
    m->path_len = risk_msg_path(&msg, &self->levels, m->path);
    m->levels = hier_prefixes(m->path, m->path_len, m->prefix_len, HIER_MAX_LEVELS);
    return 1;
}

int peer_input_next(peer_input_t *self, peer_msg_t *m)
{
    for (;;) {
        char *at = self->buf + self->start;
        char *nl = memchr(at, '\n', self->len - self->start);
        if (!nl && !self->eof) {
            int rc = s_fill(self);
            if (rc) return rc;
            continue;
        }
        if (!nl && self->start == self->len) return 0; /* eof, nothing left */
        size_t n = nl ? (size_t)(nl - at) : self->len - self->start;
        self->start += nl ? n + 1 : n;
        self->lineno++;
        while (n > 0 && (at[n - 1] == '\r' || at[n - 1] == ' ' || at[n - 1] == '\t')) n--;
        if (n == 0) continue;
        self->lines++;
        /* the bytes after the line (its newline, the next lines, or the
         * padding) stay readable: simdjson's read-ahead is covered */
        int rc = s_take(self, at, n, m);
        if (rc) return rc;
    }
}
