/* HTTP GETs on libcurl, blocking and in a multi loop; see http_client.h. */
#include "http_client.h"
#include "../common/rperr.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOKEN_MAX 512          /* as the daemons read --http-token-file */
#define STREAM_ERROR_MAX 65536 /* bytes kept of a stream's non-200 answer */

struct http_client_t {
    char *url;                  /* base URL without a trailing '/' */
    struct curl_slist *headers; /* Authorization, when there is a token */
    struct curl_slist *sse;     /* the same plus Accept: text/event-stream */
    long timeout_ms;
    CURL *easy;                   /* for blocking GETs, kept for its connection */
    char errbuf[CURL_ERROR_SIZE]; /* easy's error text */
};

/* A growing byte buffer, NUL-terminated when len > 0. */
typedef struct {
    char *p;
    size_t len, cap, max;
    int too_big, failed;
} s_buf_t;

/* libcurl's process-wide state, taken by every client and loop. */
static int s_curl_users;

static int s_curl_take(char *why, size_t whylen)
{
    if (s_curl_users == 0) {
        CURLcode cc = curl_global_init(CURL_GLOBAL_DEFAULT);
        if (cc != CURLE_OK) {
            snprintf(why, whylen, "libcurl did not start: %s", curl_easy_strerror(cc));
            return RP_EIO;
        }
    }
    s_curl_users++;
    return 0;
}

static void s_curl_drop(void)
{
    if (s_curl_users > 0 && --s_curl_users == 0) curl_global_cleanup();
}

static int s_buf_add(s_buf_t *b, const char *data, size_t n)
{
    if (b->failed) return -1;
    if (n > b->max - b->len) {
        b->too_big = b->failed = 1;
        return -1;
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *grown = realloc(b->p, cap);
        if (!grown) {
            b->failed = 1;
            return -1;
        }
        b->p = grown;
        b->cap = cap;
    }
    memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

static size_t s_write_buf(char *data, size_t size, size_t nmemb, void *arg)
{
    return s_buf_add(arg, data, size * nmemb) ? 0 : size * nmemb;
}

/* Reads the token file's first line without surrounding blanks into tok.
 * Returns 0 or RP_EINVAL with why. */
static int s_read_token(const char *path, char *tok, size_t cap, char *why, size_t whylen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(why, whylen, "token file %s: %s", path, strerror(errno));
        return RP_EINVAL;
    }
    char buf[TOKEN_MAX + 2] = "";
    char *line = fgets(buf, sizeof buf, f);
    fclose(f);
    size_t n = line ? strcspn(buf, "\r\n") : 0;
    while (n && (buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    buf[n] = 0;
    const char *p = buf + strspn(buf, " \t");
    n = strlen(p);
    if (n == 0 || n >= cap || n >= TOKEN_MAX) {
        snprintf(why, whylen,
                 "token file %s: want one line holding a token of 1 to %d "
                 "characters",
                 path, TOKEN_MAX - 1);
        return RP_EINVAL;
    }
    memcpy(tok, p, n + 1);
    return 0;
}

/* Appends a header line to *list. Returns 0 or RP_ENOMEM (list unchanged). */
static int s_header(struct curl_slist **list, const char *line)
{
    struct curl_slist *l = curl_slist_append(*list, line);
    if (!l) return RP_ENOMEM;
    *list = l;
    return 0;
}

int http_client_check_url(const char *url, char *why, size_t whylen)
{
    size_t skip = strncmp(url, "http://", 7) == 0 ? 7 : strncmp(url, "https://", 8) == 0 ? 8 : 0;
    if (skip && url[skip] && url[skip] != '/' && url[skip] != ':') return 0;
    snprintf(why, whylen,
             "'%s' is not an http:// or https:// URL with a host (e.g. "
             "http://127.0.0.1:9556)",
             url);
    return RP_EINVAL;
}

http_client_t *http_client_new(const char *base_url, const char *token_file, long timeout_ms,
                               char *why, size_t whylen)
{
    if (http_client_check_url(base_url, why, whylen)) return NULL;
    if (s_curl_take(why, whylen)) return NULL;
    http_client_t *self = calloc(1, sizeof *self);
    if (!self || !(self->url = strdup(base_url))) {
        snprintf(why, whylen, "out of memory");
        goto fail;
    }
    size_t n = strlen(self->url);
    while (n > 8 && self->url[n - 1] == '/')
        self->url[--n] = 0;
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
    if (token_file && *token_file) {
        char tok[TOKEN_MAX], line[TOKEN_MAX + 32];
        if (s_read_token(token_file, tok, sizeof tok, why, whylen)) goto fail;
        snprintf(line, sizeof line, "Authorization: Bearer %s", tok);
        int rc = s_header(&self->headers, line);
        if (rc == 0) rc = s_header(&self->sse, line);
        memset(line, 0, sizeof line); /* the token is a secret: no copies left lying about */
        memset(tok, 0, sizeof tok);
        if (rc) {
            snprintf(why, whylen, "out of memory");
            goto fail;
        }
    }
    if (s_header(&self->sse, "Accept: text/event-stream")) {
        snprintf(why, whylen, "out of memory");
        goto fail;
    }
    if (!(self->easy = curl_easy_init())) {
        snprintf(why, whylen, "libcurl cannot make a handle");
        goto fail;
    }
    return self;
fail:
    if (self) {
        curl_slist_free_all(self->headers);
        curl_slist_free_all(self->sse);
        free(self->url);
        free(self);
    }
    s_curl_drop();
    return NULL;
}

void http_client_destroy(http_client_t **self_p)
{
    if (!self_p || !*self_p) return;
    http_client_t *self = *self_p;
    if (self->easy) curl_easy_cleanup(self->easy);
    curl_slist_free_all(self->headers);
    curl_slist_free_all(self->sse);
    free(self->url);
    free(self);
    *self_p = NULL;
    s_curl_drop();
}

const char *http_client_url(const http_client_t *self)
{
    return self->url;
}

void http_client_set_timeout(http_client_t *self, long timeout_ms)
{
    self->timeout_ms = timeout_ms > 0 ? timeout_ms : 1;
}

void http_reply_free(http_reply_t *r)
{
    free(r->body);
    memset(r, 0, sizeof *r);
}

/* Builds base URL + path + "?name=value&..." (values escaped) into *out
 * (malloc'd). Returns 0 or RP_ENOMEM. */
static int s_url(const http_client_t *self, CURL *e, const char *path, const char *const *params,
                 char **out)
{
    s_buf_t b = {.max = (size_t)-1 / 2};
    s_buf_add(&b, self->url, strlen(self->url));
    s_buf_add(&b, path, strlen(path));
    for (int i = 0; params && params[i] && params[i + 1]; i += 2) {
        char *v = curl_easy_escape(e, params[i + 1], 0);
        if (!v) {
            free(b.p);
            return RP_ENOMEM;
        }
        s_buf_add(&b, i ? "&" : "?", 1);
        s_buf_add(&b, params[i], strlen(params[i]));
        s_buf_add(&b, "=", 1);
        s_buf_add(&b, v, strlen(v));
        curl_free(v);
    }
    if (b.failed) {
        free(b.p);
        return RP_ENOMEM;
    }
    *out = b.p;
    return 0;
}

/* The options every transfer shares. Returns CURLE_OK or the first
 * failure. */
static CURLcode s_setup(CURL *e, const http_client_t *self, const char *url, int stream,
                        s_buf_t *body, char *errbuf)
{
    CURLcode cc;
    long connect_ms = self->timeout_ms;
    if ((cc = curl_easy_setopt(e, CURLOPT_URL, url)) ||
        (cc = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L)) ||
        (cc = curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf)) ||
#if LIBCURL_VERSION_NUM >= 0x075500
        (cc = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https")) ||
#else
        (cc = curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS))) ||
#endif
        (cc = curl_easy_setopt(e, CURLOPT_USERAGENT, "riskctl")) ||
        (cc = curl_easy_setopt(e, CURLOPT_HTTPHEADER, stream ? self->sse : self->headers)) ||
        (cc = curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms)) ||
        (cc = curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, stream ? 0L : self->timeout_ms)) ||
        (cc = curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L)))
        return cc;
    if (body) {
        if ((cc = curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_write_buf)) ||
            (cc = curl_easy_setopt(e, CURLOPT_WRITEDATA, body)))
            return cc;
    }
    errbuf[0] = 0;
    return CURLE_OK;
}

/* Turns a failed transfer into an RP code and a message naming where. */
static int s_failure(CURL *e, CURLcode cc, const char *where, long timeout_ms, const s_buf_t *b,
                     const char *errbuf, char *why, size_t whylen)
{
    long oserr = 0;
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        snprintf(why, whylen, "no answer from %s within %ld ms", where, timeout_ms);
        return RP_ETIMEDOUT;
    }
    if (cc == CURLE_WRITE_ERROR && b && b->too_big) {
        snprintf(why, whylen, "the answer from %s is larger than %u MiB", where,
                 HTTP_CLIENT_MAX_BODY >> 20);
        return RP_EIO;
    }
    if (cc == CURLE_OUT_OF_MEMORY || (cc == CURLE_WRITE_ERROR && b && b->failed)) {
        snprintf(why, whylen, "out of memory reading %s", where);
        return RP_ENOMEM;
    }
    if (cc == CURLE_COULDNT_CONNECT &&
        curl_easy_getinfo(e, CURLINFO_OS_ERRNO, &oserr) == CURLE_OK && oserr) {
        snprintf(why, whylen, "cannot connect to %s: %s", where, strerror((int)oserr));
        return RP_EIO;
    }
    snprintf(why, whylen, "request to %s failed: %s", where,
             errbuf && *errbuf ? errbuf : curl_easy_strerror(cc));
    return RP_EIO;
}

int http_client_get(http_client_t *self, const char *path, const char *const *params,
                    http_reply_t *out, char *why, size_t whylen)
{
    char *url = NULL, where[512];
    s_buf_t b = {.max = HTTP_CLIENT_MAX_BODY};
    memset(out, 0, sizeof *out);
    snprintf(where, sizeof where, "%s%s", self->url, path);
    int rc = s_url(self, self->easy, path, params, &url);
    if (rc) {
        snprintf(why, whylen, "out of memory");
        return rc;
    }
    CURLcode cc = s_setup(self->easy, self, url, 0, &b, self->errbuf);
    if (cc == CURLE_OK) cc = curl_easy_perform(self->easy);
    if (cc == CURLE_OK &&
        (cc = curl_easy_getinfo(self->easy, CURLINFO_RESPONSE_CODE, &out->status)) == CURLE_OK) {
        if (!b.p) s_buf_add(&b, "", 0); /* an empty body is still a string */
        if (!b.p) {
            snprintf(why, whylen, "out of memory");
            rc = RP_ENOMEM;
        } else {
            out->body = b.p;
            out->len = b.len;
            b.p = NULL;
        }
    } else {
        rc = s_failure(self->easy, cc, where, self->timeout_ms, &b, self->errbuf, why, whylen);
    }
    free(b.p);
    free(url);
    return rc;
}

void http_client_status_why(const http_client_t *self, const char *path, long status,
                            const char *body, size_t len, char *why, size_t whylen)
{
    json_error_t err;
    json_t *j = body ? json_loadb(body, len, 0, &err) : NULL;
    const char *text = json_string_value(json_object_get(j, "error"));
    int n = 0;
    if (!text && body) { /* not our JSON error: its first line, if printable */
        n = (int)strcspn(body, "\r\n");
        if (n > 200) n = 200;
        for (int i = 0; i < n; i++)
            if ((unsigned char)body[i] < 0x20) n = i;
    }
    if (text)
        snprintf(why, whylen, "HTTP %ld from %s%s: %s", status, self->url, path, text);
    else if (n > 0)
        snprintf(why, whylen, "HTTP %ld from %s%s: %.*s", status, self->url, path, n, body);
    else
        snprintf(why, whylen, "HTTP %ld from %s%s", status, self->url, path);
    json_decref(j);
}

int http_client_get_json(http_client_t *self, const char *path, const char *const *params,
                         size_t flags, json_t **out, char *why, size_t whylen)
{
    http_reply_t r;
    int rc = http_client_get(self, path, params, &r, why, whylen);
    if (rc) return rc;
    if (r.status != 200) {
        http_client_status_why(self, path, r.status, r.body, r.len, why, whylen);
        http_reply_free(&r);
        return RP_EPROTO;
    }
    json_error_t err;
    *out = json_loadb(r.body, r.len, flags, &err);
    http_reply_free(&r);
    if (!json_is_object(*out)) {
        if (*out)
            snprintf(why, whylen, "%s%s answered JSON that is not an object", self->url, path);
        else
            snprintf(why, whylen, "%s%s answered something that is not JSON: %s (line %d)",
                     self->url, path, err.text, err.line);
        json_decref(*out);
        *out = NULL;
        return RP_EPROTO;
    }
    return 0;
}

/* One transfer of a loop. */
typedef struct s_xfer {
    struct s_xfer *next;
    CURL *easy;
    char *url;
    char where[512];
    long timeout_ms;
    s_buf_t body;
    int stream;
    int chunk_rc;    /* what the chunk function returned, when it stopped */
    CURLcode result; /* how it ended */
    http_chunk_fn *chunk;
    http_done_fn *done;
    void *arg;
    char errbuf[CURL_ERROR_SIZE];
} s_xfer_t;

struct http_loop_t {
    CURLM *multi;
    s_xfer_t *xfers;
};

http_loop_t *http_loop_new(char *why, size_t whylen)
{
    if (s_curl_take(why, whylen)) return NULL;
    http_loop_t *self = calloc(1, sizeof *self);
    if (!self || !(self->multi = curl_multi_init())) {
        snprintf(why, whylen, "%s", self ? "libcurl cannot make a multi handle" : "out of memory");
        free(self);
        s_curl_drop();
        return NULL;
    }
    return self;
}

static void s_xfer_free(s_xfer_t *x)
{
    if (x->easy) curl_easy_cleanup(x->easy);
    free(x->body.p);
    free(x->url);
    free(x);
}

void http_loop_destroy(http_loop_t **self_p)
{
    if (!self_p || !*self_p) return;
    http_loop_t *self = *self_p;
    while (self->xfers) {
        s_xfer_t *x = self->xfers;
        self->xfers = x->next;
        curl_multi_remove_handle(self->multi, x->easy); /* nothing to do if it fails */
        s_xfer_free(x);
    }
    curl_multi_cleanup(self->multi);
    free(self);
    *self_p = NULL;
    s_curl_drop();
}

/* The write function of a loop's transfer: a stream's 200 body goes to its
 * chunk function, any other body into x->body (bounded). */
static size_t s_write_xfer(char *data, size_t size, size_t nmemb, void *arg)
{
    s_xfer_t *x = arg;
    size_t n = size * nmemb;
    long status = 0;
    if (x->stream && curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
        status == 200) {
        int rc = x->chunk(x->arg, data, n);
        if (rc) x->chunk_rc = rc;
        return rc ? 0 : n;
    }
    return s_buf_add(&x->body, data, n) ? 0 : n;
}

static int s_start(http_loop_t *self, http_client_t *client, const char *path, int stream,
                   http_chunk_fn *chunk, http_done_fn *done, void *arg)
{
    s_xfer_t *x = calloc(1, sizeof *x);
    if (!x) return RP_ENOMEM;
    x->stream = stream;
    x->chunk = chunk;
    x->done = done;
    x->arg = arg;
    x->timeout_ms = client->timeout_ms;
    x->body.max = stream ? STREAM_ERROR_MAX : HTTP_CLIENT_MAX_BODY;
    snprintf(x->where, sizeof x->where, "%s%s", client->url, path);
    int rc = (x->easy = curl_easy_init()) ? s_url(client, x->easy, path, NULL, &x->url) : RP_EIO;
    if (rc) {
        s_xfer_free(x);
        return rc;
    }
    rc = RP_EIO;
    if (s_setup(x->easy, client, x->url, stream, NULL, x->errbuf) == CURLE_OK &&
        curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, s_write_xfer) == CURLE_OK &&
        curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x) == CURLE_OK &&
        curl_easy_setopt(x->easy, CURLOPT_PRIVATE, (char *)x) == CURLE_OK &&
        curl_multi_add_handle(self->multi, x->easy) == CURLM_OK)
        rc = 0;
    if (rc) {
        s_xfer_free(x);
        return rc;
    }
    x->next = self->xfers;
    self->xfers = x;
    return 0;
}

int http_loop_get(http_loop_t *self, http_client_t *client, const char *path, http_done_fn *done,
                  void *arg)
{
    return s_start(self, client, path, 0, NULL, done, arg);
}

int http_loop_stream(http_loop_t *self, http_client_t *client, const char *path,
                     http_chunk_fn *chunk, http_done_fn *done, void *arg)
{
    return s_start(self, client, path, 1, chunk, done, arg);
}

/* Reports an ended transfer to its done function. */
static void s_finish(s_xfer_t *x, CURLcode cc)
{
    char why[HTTP_CLIENT_WHY_MAX] = "";
    long status = 0;
    int rc = 0;
    if (x->chunk_rc) {
        rc = x->chunk_rc;
        snprintf(why, sizeof why, "stopped reading %s: %s", x->where, rp_strerror(rc));
    } else if (cc != CURLE_OK) {
        rc = s_failure(x->easy, cc, x->where, x->timeout_ms, &x->body, x->errbuf, why, sizeof why);
    } else if (curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK) {
        rc = RP_EIO;
        snprintf(why, sizeof why, "no status from %s", x->where);
    } else if (x->stream && status == 200) {
        snprintf(why, sizeof why, "%s closed the stream", x->where);
    }
    x->done(x->arg, rc, status, x->body.p ? x->body.p : "", x->body.len, why);
}

int http_loop_run(http_loop_t *self, int fd, int timeout_ms, int *fd_ready, char *why,
                  size_t whylen)
{
    struct curl_waitfd w = {.fd = fd, .events = CURL_WAIT_POLLIN};
    int numfds = 0, running = 0;
    CURLMcode mc =
        curl_multi_poll(self->multi, fd >= 0 ? &w : NULL, fd >= 0 ? 1 : 0, timeout_ms, &numfds);
    if (mc == CURLM_OK) mc = curl_multi_perform(self->multi, &running);
    if (mc != CURLM_OK) {
        snprintf(why, whylen, "libcurl: %s", curl_multi_strerror(mc));
        return RP_EIO;
    }
    if (fd_ready) *fd_ready = fd >= 0 && (w.revents & CURL_WAIT_POLLIN);
    /* Take the ended transfers off the loop first: their done functions may
     * start new ones (a reconnect). */
    s_xfer_t *ended = NULL;
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(self->multi, &left))) {
        char *priv = NULL;
        if (m->msg != CURLMSG_DONE ||
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv) != CURLE_OK || !priv)
            continue;
        s_xfer_t *x = (s_xfer_t *)priv;
        x->result = m->data.result; /* read now: the next call frees m */
        /* fails only for a handle that is not in the multi: never one of ours */
        curl_multi_remove_handle(self->multi, x->easy);
        for (s_xfer_t **p = &self->xfers; *p; p = &(*p)->next)
            if (*p == x) {
                *p = x->next;
                break;
            }
        x->next = ended;
        ended = x;
    }
    while (ended) {
        s_xfer_t *x = ended;
        ended = x->next;
        s_finish(x, x->result);
        s_xfer_free(x);
    }
    return 0;
}
