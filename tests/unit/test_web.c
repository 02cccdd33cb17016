/* Unit tests for reducer/web.h: the dashboard's files as the reducer serves
 * them. "/" is index.html, a query string is ignored, text files carry their
 * charset, the bytes are those of reducer/web/ (read here from the tree, so
 * run from the repository's root as make test-unit does), nothing refers to
 * another site, and any other name is RP_ENOTFOUND. */
#include "../../common/rperr.h"
#include "../../reducer/web.h"

#include "fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void s_get(const char *url, const char **body, size_t *len, const char **type)
{
    *body = NULL;
    *len = 0;
    *type = NULL;
    RP_ASSERT_OK(web_asset(url, body, len, type), "GET %s", url);
    cr_assert_not_null(*body, "GET %s: no body", url);
    cr_assert_not_null(*type, "GET %s: no type", url);
}

/* Reads a file of the tree into a malloc'd buffer; *len is its size. */
static char *s_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "%s: cannot open (run from the repository's root)", path);
    char *buf = NULL;
    size_t cap = 0, n = 0, got;
    do {
        if (n == cap) cr_assert_not_null(buf = realloc(buf, cap = cap ? 2 * cap : 65536));
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    fclose(f);
    *len = n;
    return buf;
}

Test(web, root_serves_index_html_as_utf8_html)
{
    const char *body, *type, *body2, *type2;
    size_t len, len2;
    s_get("/", &body, &len, &type);
    cr_assert_str_eq(type, "text/html; charset=utf-8");
    cr_assert(len > 15 && !strncmp(body, "<!DOCTYPE html>", 15), "'%.40s'", body);
    s_get("/index.html", &body2, &len2, &type2);
    cr_assert(body2 == body && len2 == len && !strcmp(type2, type));
}

Test(web, a_query_string_is_ignored)
{
    const char *body, *type, *body2, *type2;
    size_t len, len2;
    s_get("/app.js", &body, &len, &type);
    s_get("/app.js?v=2&access_token=x", &body2, &len2, &type2);
    cr_assert(body2 == body && len2 == len);
    s_get("/?access_token=x", &body, &len, &type);
    s_get("/index.html", &body2, &len2, &type2);
    cr_assert(body2 == body && len2 == len);
    s_get("/?", &body, &len, &type);
    cr_assert(body2 == body && len2 == len);
}

Test(web, scripts_and_styles_have_their_types_with_charset)
{
    const char *body, *type;
    size_t len;
    s_get("/app.js", &body, &len, &type);
    cr_assert_str_eq(type, "text/javascript; charset=utf-8");
    s_get("/style.css", &body, &len, &type);
    cr_assert_str_eq(type, "text/css; charset=utf-8");
}

Test(web, the_bytes_served_are_the_files_of_reducer_web)
{
    static const char *names[] = {"index.html", "app.js", "style.css"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char path[64], url[64];
        snprintf(path, sizeof path, "reducer/web/%s", names[i]);
        snprintf(url, sizeof url, "/%s", names[i]);
        size_t flen, len;
        char *want = s_slurp(path, &flen);
        const char *body, *type;
        s_get(url, &body, &len, &type);
        cr_assert_eq(len, flen, "%s: served %zu bytes, the file has %zu", url, len, flen);
        cr_assert(!memcmp(body, want, len), "%s: served bytes differ from %s", url, path);
        cr_assert_eq(body[len], 0, "%s: the body is followed by a NUL", url);
        free(want);
    }
    cr_assert_eq(web_files_count, 3, "reducer/web/ holds 3 files, the table %zu", web_files_count);
}

Test(web, no_file_refers_to_another_site)
{
    for (size_t i = 0; i < web_files_count; i++) {
        const char *body = (const char *)web_files[i].body;
        cr_assert_eq(strstr(body, "http://"), NULL, "%s names an http:// URL", web_files[i].path);
        cr_assert_eq(strstr(body, "https://"), NULL, "%s names an https:// URL", web_files[i].path);
        cr_assert_eq(strstr(body, "\"//"), NULL, "%s has a scheme-relative URL", web_files[i].path);
        cr_assert_eq(strstr(body, "@import"), NULL, "%s imports a style sheet", web_files[i].path);
    }
}

Test(web, other_names_are_not_found)
{
    static const char *urls[] = {
        "",   "/nope",  "/index.htm",   "/index.html/", "/INDEX.HTML", "index.html", "/../Makefile",
        "//", "/web.c", "/index.htmlx", "?/index.html"};
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        const char *body = "untouched", *type = "untouched";
        size_t len = 7;
        RP_ASSERT_RC(web_asset(urls[i], &body, &len, &type), RP_ENOTFOUND, "'%s'", urls[i]);
        cr_assert(!strcmp(body, "untouched") && len == 7 && !strcmp(type, "untouched"),
                  "'%s': outputs changed on failure", urls[i]);
    }
    const char *body, *type;
    size_t len;
    RP_ASSERT_RC(web_asset(NULL, &body, &len, &type), RP_ENOTFOUND, "NULL url");
}
