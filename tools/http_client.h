/* riskctl's HTTP client (libcurl) for the daemons' HTTP API: GET requests
 * to one base URL with a timeout and, when a token file is given, the header
 * "Authorization: Bearer TOKEN". Blocking GETs serve query, verify and wait;
 * an http_loop_t runs non-blocking transfers (a Server-Sent Events stream
 * and status polls) in one poll loop for riskctl top. Every failure comes
 * with one line of text saying what went wrong: connection refused, no
 * answer in time, or the status and JSON error text of a non-200 answer. */
#ifndef RP_HTTP_CLIENT_H
#define RP_HTTP_CLIENT_H

#include <jansson.h>
#include <stddef.h>

#define HTTP_CLIENT_MAX_BODY (512u << 20) /* largest answer read, in bytes */
#define HTTP_CLIENT_WHY_MAX 1024          /* a why buffer that holds any message */

typedef struct http_client_t http_client_t;

/* Checks that url is one http_client_new takes: "http://" or "https://"
 * and a host. Returns 0, or RP_EINVAL with the reason in why. */
int http_client_check_url(const char *url, char *why, size_t whylen);

/* Makes a client for base_url ("http://HOST:PORT" or https, a path prefix
 * allowed; a trailing '/' is dropped), sending the bearer token read from
 * token_file (its first line without surrounding blanks; NULL or "": no
 * token). Each request may take timeout_ms (connection included). Returns
 * the client (caller owns; http_client_destroy), or NULL with the reason in
 * why: a URL of another scheme, an unreadable or empty token file, or
 * libcurl failing to start. */
http_client_t *http_client_new(const char *base_url, const char *token_file, long timeout_ms,
                               char *why, size_t whylen);

/* Frees the client; accepts NULL and sets *self_p to NULL. */
void http_client_destroy(http_client_t **self_p);

/* The base URL, as given without a trailing '/' (borrowed from self). */
const char *http_client_url(const http_client_t *self);

/* Sets the time each later request may take, in ms (at least 1). */
void http_client_set_timeout(http_client_t *self, long timeout_ms);

/* An answer: the status code and the body, NUL-terminated (len excludes
 * the NUL; owned: http_reply_free). */
typedef struct {
    long status;
    char *body;
    size_t len;
} http_reply_t;

/* Frees the body; the reply may be reused. */
void http_reply_free(http_reply_t *r);

/* GETs base URL + path (e.g. "/v1/status") with the query parameters
 * params: a NULL-terminated list of name, value pairs (values are escaped
 * here; NULL params: none). Fills *out on any answer, whatever its status.
 * Returns 0; RP_ETIMEDOUT when no answer came within the timeout; RP_EIO
 * when the daemon cannot be reached (connection refused, unknown host,
 * connection closed) or the answer is larger than HTTP_CLIENT_MAX_BODY;
 * RP_ENOMEM. On failure *out holds nothing and why says what failed,
 * naming the URL. */
int http_client_get(http_client_t *self, const char *path, const char *const *params,
                    http_reply_t *out, char *why, size_t whylen);

/* Like http_client_get, then requires status 200 and a JSON object body,
 * decoded into *out (caller owns: json_decref). flags are jansson decoding
 * flags (e.g. JSON_ALLOW_NUL). Returns 0; the errors of http_client_get;
 * RP_EPROTO for another status (why: "HTTP 401 from URL: <the answer's
 * "error" text>") or a body that is not a JSON object. */
int http_client_get_json(http_client_t *self, const char *path, const char *const *params,
                         size_t flags, json_t **out, char *why, size_t whylen);

/* Writes "HTTP <status> from <url>: <text>" into why for a non-200 answer,
 * text being the body's JSON "error" member, else its first line. */
void http_client_status_why(const http_client_t *self, const char *path, long status,
                            const char *body, size_t len, char *why, size_t whylen);

/* Non-blocking transfers, driven by http_loop_run. */
typedef struct http_loop_t http_loop_t;

/* Called with each piece of a stream's body as it arrives, only once the
 * answer's status is 200 (data borrowed for the call). Returns 0 to go on;
 * anything else aborts the transfer, which then ends with that code. */
typedef int(http_chunk_fn)(void *arg, const char *data, size_t len);

/* Called once when a transfer ends. rc is 0 when an answer was complete
 * (status and body then hold it: the whole body of a GET, the first 64 KiB
 * of a stream's non-200 answer, nothing for a stream's 200 answer) or the
 * error code as http_client_get returns them, or what a chunk function
 * returned; why then says what happened. body and why are borrowed for the
 * call. */
typedef void(http_done_fn)(void *arg, int rc, long status, const char *body, size_t len,
                           const char *why);

/* Makes an empty loop. Returns it (caller owns; http_loop_destroy), or NULL
 * with the reason in why. */
http_loop_t *http_loop_new(char *why, size_t whylen);

/* Ends every transfer without calling its done function, then frees the
 * loop; accepts NULL and sets *self_p to NULL. */
void http_loop_destroy(http_loop_t **self_p);

/* Starts a GET of client's base URL + path (client borrowed: it must
 * outlive the transfer) that calls done once with the whole answer, within
 * the client's timeout. Returns 0, or RP_ENOMEM / RP_EIO (libcurl refused)
 * with nothing started. */
int http_loop_get(http_loop_t *self, http_client_t *client, const char *path, http_done_fn *done,
                  void *arg);

/* Starts a long-lived GET (a Server-Sent Events stream: it sends "Accept:
 * text/event-stream") with no overall time limit, only the client's
 * timeout to connect: chunk gets the body as it arrives, done is called
 * when the server closes it or it fails. Returns like http_loop_get. */
int http_loop_stream(http_loop_t *self, http_client_t *client, const char *path,
                     http_chunk_fn *chunk, http_done_fn *done, void *arg);

/* Waits up to timeout_ms for a transfer to progress or fd (-1: none) to
 * become readable (or a signal), runs the transfers, and calls the chunk
 * and done functions of those that progressed or ended. *fd_ready (may be
 * NULL) is set to 1 when fd is readable. Returns 0, or RP_EIO with why
 * when libcurl fails. */
int http_loop_run(http_loop_t *self, int fd, int timeout_ms, int *fd_ready, char *why,
                  size_t whylen);

#endif
