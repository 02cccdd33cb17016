/* The dashboard's files by URL: a lookup in the table that tools/embed-web.sh
 * generates from reducer/web/ at build time (see web.h). */
#include "web.h"
#include "../common/rperr.h"

#include <string.h>

int web_asset(const char *url, const char **body, size_t *len, const char **type)
{
    if (!url) return RP_ENOTFOUND;
    /* Only the path names a file: a query (a cache buster, or the
     * access_token of a link) is ignored, and so would be a fragment that a
     * client sent by mistake. */
    size_t n = strcspn(url, "?#");
    if (n == 1 && url[0] == '/') {
        url = "/index.html";
        n = strlen(url);
    }
    for (size_t i = 0; i < web_files_count; i++) {
        const web_file_t *f = &web_files[i];
        if (strlen(f->path) == n && memcmp(f->path, url, n) == 0) {
            *body = (const char *)f->body;
            *len = f->len;
            *type = f->type;
            return 0;
        }
    }
    return RP_ENOTFOUND;
}
