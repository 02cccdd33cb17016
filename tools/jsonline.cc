/* JSON line -> msgpack message for riskctl send (see jsonline.h). simdjson's
 * on-demand API walks the text once and we pack as we go; numbers are read
 * from their original text, so nothing passes through a double unless the
 * state would store a double anyway. Built without exceptions: every simdjson
 * call returns an error code, and nothing can unwind into C callers. */
#include "jsonline.h"

extern "C" {
#include "../common/money.h"
#include "../common/rperr.h"
#include "../proto/risk.h"
}

#include <simdjson.h>

#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

using namespace simdjson;

static_assert(JSONLINE_PADDING >= SIMDJSON_PADDING, "simdjson reads further ahead");

struct jsonline_t {
    ondemand::parser parser;
};

namespace
{

/* What a number means where it stands. */
enum role_t { R_ANY, R_VALUE, R_VERSION };

/* One conversion: the output, and the first failure. */
struct conv_t {
    msgpack_sbuffer *sb;
    msgpack_packer pk;
    int oom;
    char *why;
    size_t whylen;
};

int s_write(void *data, const char *buf, size_t len)
{
    conv_t *c = static_cast<conv_t *>(data);
    if (msgpack_sbuffer_write(c->sb, buf, len)) c->oom = 1;
    return 0;
}

int s_fail(conv_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int s_fail(conv_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, c->whylen, fmt, ap);
    va_end(ap);
    return RP_EINVAL;
}

int s_bad_json(conv_t *c, error_code e)
{
    return s_fail(c, "not valid JSON: %s", error_message(e));
}

/* Writes s for an error message: printable ASCII, at most 40 bytes. */
void s_quote(std::string_view s, char *buf, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < s.size() && i < 40 && n + 5 < cap; i++) {
        unsigned char ch = static_cast<unsigned char>(s[i]);
        n += static_cast<size_t>(
            snprintf(buf + n, cap - n, (ch >= 0x20 && ch < 0x7f) ? "%c" : "\\x%02x", ch));
    }
    buf[n] = 0;
    if (s.size() > 40 && n + 4 < cap) strcat(buf, "...");
}

void s_pack_str(conv_t *c, std::string_view s)
{
    msgpack_pack_str(&c->pk, s.size());
    msgpack_pack_str_body(&c->pk, s.data(), s.size());
}

/* A container's header is written when its size is known: a placeholder
 * first, then rewritten in msgpack's shortest form (every container has at
 * most RISK_HIER_KEYS_MAX entries, so 1 or 3 bytes). */
size_t s_open(conv_t *c)
{
    size_t at = c->sb->size;
    static const char placeholder[3] = {0, 0, 0};
    s_write(c, placeholder, sizeof placeholder);
    return at;
}

void s_close(conv_t *c, size_t at, bool map, uint32_t n)
{
    if (c->oom) return;
    char *p = c->sb->data + at;
    if (n < 16) {
        p[0] = static_cast<char>((map ? 0x80 : 0x90) | n);
        memmove(p + 1, p + 3, c->sb->size - at - 3);
        c->sb->size -= 2;
    } else {
        p[0] = static_cast<char>(map ? 0xde : 0xdc);
        p[1] = static_cast<char>(n >> 8);
        p[2] = static_cast<char>(n);
    }
}

int s_value(conv_t *c, ondemand::value v, int depth, std::string_view key, role_t role,
            bool message);

/* An object; message: it is the risk message itself (the root, or the one
 * in a {"RiskMessage": ...} wrapper), where Value and Version are read
 * strictly. */
int s_object(conv_t *c, ondemand::object o, int depth, bool message)
{
    if (depth > JSONLINE_MAX_DEPTH)
        return s_fail(c, "nested deeper than %d levels", JSONLINE_MAX_DEPTH);
    std::string_view keys[RISK_HIER_KEYS_MAX];
    uint32_t n = 0;
    size_t at = s_open(c);
    for (auto it : o) {
        ondemand::field f;
        std::string_view k;
        error_code e;
        if ((e = std::move(it).get(f)) || (e = f.unescaped_key().get(k))) return s_bad_json(c, e);
        char q[200];
        if (n == RISK_HIER_KEYS_MAX)
            return s_fail(c, "an object has more than %d keys (no valid message has one)",
                          RISK_HIER_KEYS_MAX);
        for (uint32_t i = 0; i < n; i++)
            if (keys[i] == k) {
                s_quote(k, q, sizeof q);
                return s_fail(c, "key '%s' appears twice in one object", q);
            }
        keys[n++] = k;
        s_pack_str(c, k);
        role_t r = R_ANY;
        if (message && k == "Value") r = R_VALUE;
        if (message && k == "Version") r = R_VERSION;
        /* The state unwraps a root whose only key is RiskMessage; a root with
         * other keys besides is refused there, so looking inside is safe. */
        bool wrapped = depth == 1 && n == 1 && k == "RiskMessage";
        int rc = s_value(c, f.value(), depth + 1, k, r, wrapped);
        if (rc) return rc;
    }
    s_close(c, at, true, n);
    return 0;
}

int s_array(conv_t *c, ondemand::array a, int depth)
{
    if (depth > JSONLINE_MAX_DEPTH)
        return s_fail(c, "nested deeper than %d levels", JSONLINE_MAX_DEPTH);
    uint32_t n = 0;
    size_t at = s_open(c);
    for (auto it : a) {
        ondemand::value x;
        error_code e;
        if ((e = std::move(it).get(x))) return s_bad_json(c, e);
        if (n == RISK_HIER_KEYS_MAX)
            return s_fail(c, "an array has more than %d entries (no valid message has one)",
                          RISK_HIER_KEYS_MAX);
        n++;
        int rc = s_value(c, x, depth + 1, "", R_ANY, false);
        if (rc) return rc;
    }
    s_close(c, at, false, n);
    return 0;
}

/* Refuses a number: "<what> <text> <problem>", both quoted for printing. */
int s_bad_number(conv_t *c, std::string_view what, std::string_view text, const char *problem)
{
    char w[200], t[200];
    s_quote(what, w, sizeof w);
    s_quote(text, t, sizeof t);
    return s_fail(c, "%s %s %s", w, t, problem);
}

/* A number, from its text: see jsonline.h for what each role accepts. */
int s_number(conv_t *c, ondemand::value v, std::string_view key, role_t role)
{
    std::string_view raw = v.raw_json_token(); /* up to the next token: trim */
    while (!raw.empty() &&
           (raw.back() == ' ' || raw.back() == '\t' || raw.back() == '\r' || raw.back() == '\n'))
        raw.remove_suffix(1);
    std::string_view what = key.empty() ? std::string_view("number") : key;
    if (role == R_VALUE) {
        /* only checked here: the text goes as it is, and its range is the
         * state's to judge */
        double d;
        if (v.get_double().get(d))
            return s_bad_number(c, what, raw, "is out of range or malformed");
        if (raw.size() > MONEY_STR_MAX)
            return s_fail(c, "Value has %zu characters; at most %d are sent exactly", raw.size(),
                          MONEY_STR_MAX);
        s_pack_str(c, raw);
        return 0;
    }
    ondemand::number num;
    if (v.get_number().get(num)) return s_bad_number(c, what, raw, "is out of range or malformed");
    switch (num.get_number_type()) {
    case ondemand::number_type::signed_integer:
        msgpack_pack_int64(&c->pk, num.get_int64());
        return 0;
    case ondemand::number_type::unsigned_integer:
        if (role == R_VERSION) return s_bad_number(c, what, raw, "is out of range");
        msgpack_pack_uint64(&c->pk, num.get_uint64());
        return 0;
    default:
        if (role == R_VERSION) return s_bad_number(c, what, raw, "is not an integer");
        msgpack_pack_double(&c->pk, num.get_double());
        return 0;
    }
}

int s_value(conv_t *c, ondemand::value v, int depth, std::string_view key, role_t role,
            bool message)
{
    ondemand::json_type type;
    error_code e;
    if ((e = v.type().get(type))) return s_bad_json(c, e);
    switch (type) {
    case ondemand::json_type::object: {
        ondemand::object o;
        if ((e = v.get_object().get(o))) return s_bad_json(c, e);
        return s_object(c, o, depth, message);
    }
    case ondemand::json_type::array: {
        ondemand::array a;
        if ((e = v.get_array().get(a))) return s_bad_json(c, e);
        return s_array(c, a, depth);
    }
    case ondemand::json_type::number:
        return s_number(c, v, key, role);
    case ondemand::json_type::string: {
        std::string_view s;
        if ((e = v.get_string().get(s))) return s_bad_json(c, e);
        s_pack_str(c, s);
        return 0;
    }
    case ondemand::json_type::boolean: {
        bool b;
        if ((e = v.get_bool().get(b))) return s_bad_json(c, e);
        if (b)
            msgpack_pack_true(&c->pk);
        else
            msgpack_pack_false(&c->pk);
        return 0;
    }
    default: {
        bool null = false;
        if ((e = v.is_null().get(null))) return s_bad_json(c, e);
        if (!null) return s_bad_json(c, TAPE_ERROR);
        msgpack_pack_nil(&c->pk);
        return 0;
    }
    }
}

} // namespace

jsonline_t *jsonline_new(void)
{
    return new (std::nothrow) jsonline_t;
}

void jsonline_destroy(jsonline_t **self_p)
{
    if (!self_p) return;
    delete *self_p;
    *self_p = nullptr;
}

int jsonline_pack(jsonline_t *self, const char *line, size_t len, msgpack_sbuffer *sb, char *why,
                  size_t whylen)
{
    conv_t c = {sb, {}, 0, why, whylen};
    msgpack_packer_init(&c.pk, &c, s_write);
    size_t start = sb->size;
    ondemand::document doc;
    ondemand::json_type type;
    ondemand::object root;
    const char *at;
    error_code e;
    int rc;
    if ((e = self->parser.iterate(line, len, len + JSONLINE_PADDING).get(doc))) {
        rc = e == MEMALLOC ? RP_ENOMEM : s_bad_json(&c, e);
    } else if ((e = doc.type().get(type))) {
        rc = s_bad_json(&c, e);
    } else if (type != ondemand::json_type::object) {
        rc = s_fail(&c, "not a JSON object (each line must be one message)");
    } else if ((e = doc.get_object().get(root))) {
        rc = s_bad_json(&c, e);
    } else if ((rc = s_object(&c, root, 1, true)) == 0 &&
               doc.current_location().get(at) != OUT_OF_BOUNDS) {
        /* the walk consumed the object; anything after it is a second value */
        rc = s_fail(&c, "more than one JSON value on the line");
    }
    if (rc == 0 && c.oom) rc = RP_ENOMEM;
    if (rc) sb->size = start;
    return rc;
}
