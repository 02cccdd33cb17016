/* Placeholder until the dashboard lands: no files. */
#include "web.h"
#include "../common/rperr.h"

int web_asset(const char *url, const char **body, size_t *len, const char **type)
{
    (void)url;
    (void)body;
    (void)len;
    (void)type;
    return RP_ENOTFOUND;
}
