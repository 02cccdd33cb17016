/* The dashboard's static files (reducer/web/), compiled into the binary and
 * served by the reducer's HTTP endpoint at "/" without a token: they hold no
 * data, the page reads /v1/aggregates and /v1/stream with the token. */
#ifndef RP_WEB_H
#define RP_WEB_H

#include <stddef.h>

/* Finds the file that GET url serves ("/" is "/index.html"; a query string
 * is ignored). On success sets *body (static, len bytes) and *type (the
 * Content-Type) and returns 0; RP_ENOTFOUND when no file has that name. */
int web_asset(const char *url, const char **body, size_t *len, const char **type);

/* One embedded file. The table is generated at build time from reducer/web/
 * by tools/embed-web.sh (the Makefile writes it to build/gen/web_assets.c),
 * so an edit of a web file is served after `make` with no other step. */
typedef struct {
    const char *path;          /* URL path, "/index.html" */
    const char *type;          /* Content-Type, with the charset of text files */
    const unsigned char *body; /* the file's bytes, followed by a NUL */
    size_t len;                /* bytes, without that NUL */
} web_file_t;

extern const web_file_t web_files[];
extern const size_t web_files_count;

#endif
