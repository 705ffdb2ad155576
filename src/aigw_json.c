/*
 * aigw: a single-pass validating JSON scanner.
 */

#include <string.h>
#include <stdlib.h>
#include <math.h>

#include "aigw_json.h"


typedef struct {
    const u_char       *start;
    const u_char       *p;
    const u_char       *end;
    unsigned            depth;
    unsigned            max_depth;
    const char         *msg;
    int                 rc;
} aigw_json_scan_t;


static int aigw_json_value(aigw_json_scan_t *s, aigw_json_type_e *type,
    unsigned *escaped);
static int aigw_json_string(aigw_json_scan_t *s, unsigned *escaped);
static int aigw_json_number(aigw_json_scan_t *s);
static int aigw_json_fail(aigw_json_scan_t *s, int rc, const char *msg);
static int aigw_json_unit(const u_char **pp, const u_char *end,
    u_char *out);
static int aigw_json_raw_eq(const u_char *a, size_t alen, const u_char *b,
    size_t blen);
static int aigw_json_keys_equal(const aigw_json_member_t *a,
    const aigw_json_member_t *b);


#define aigw_json_skip_ws(s)                                                  \
    while ((s)->p < (s)->end                                                  \
           && (*(s)->p == ' ' || *(s)->p == '\n' || *(s)->p == '\r'           \
               || *(s)->p == '\t'))                                           \
    {                                                                         \
        (s)->p++;                                                             \
    }


int
aigw_json_parse_object(const u_char *p, size_t len,
    aigw_json_member_t *members, size_t max, size_t *n, unsigned max_depth,
    aigw_json_error_t *err)
{
    size_t              i, count;
    unsigned            escaped;
    const u_char       *kstart;
    aigw_json_scan_t    s;
    aigw_json_member_t *m;

    s.start = p;
    s.p = p;
    s.end = p + len;
    s.depth = 1;
    s.max_depth = max_depth;
    s.msg = NULL;
    s.rc = AIGW_JSON_OK;

    count = 0;
    *n = 0;
    err->key = NULL;
    err->key_len = 0;

    aigw_json_skip_ws(&s);

    if (s.p == s.end) {
        aigw_json_fail(&s, AIGW_JSON_SYNTAX, "the body is empty");
        goto failed;
    }

    if (*s.p != '{') {
        aigw_json_type_e  t;

        t = aigw_json_validate(p, len, max_depth);
        aigw_json_fail(&s, t == AIGW_JSON_NONE ? AIGW_JSON_SYNTAX
                                               : AIGW_JSON_NOT_OBJECT,
                       t == AIGW_JSON_NONE ? "the body is not valid JSON"
                                           : "the body must be a JSON object");
        goto failed;
    }

    s.p++;
    aigw_json_skip_ws(&s);

    if (s.p < s.end && *s.p == '}') {
        s.p++;
        goto done;
    }

    for ( ;; ) {
        aigw_json_skip_ws(&s);

        if (s.p == s.end || *s.p != '"') {
            aigw_json_fail(&s, AIGW_JSON_SYNTAX, "expected a quoted key");
            goto failed;
        }

        kstart = s.p;

        if (aigw_json_string(&s, &escaped) != AIGW_JSON_OK) {
            goto failed;
        }

        if (count == max) {
            aigw_json_fail(&s, AIGW_JSON_TOO_MANY,
                           "the body has too many top-level fields");
            goto failed;
        }

        m = &members[count];
        m->start = kstart;
        m->key = kstart + 1;
        m->key_len = s.p - kstart - 2;
        m->key_escaped = escaped;

        aigw_json_skip_ws(&s);

        if (s.p == s.end || *s.p != ':') {
            aigw_json_fail(&s, AIGW_JSON_SYNTAX, "expected ':' after a key");
            goto failed;
        }

        s.p++;
        aigw_json_skip_ws(&s);

        m->value = s.p;

        if (aigw_json_value(&s, &m->type, &escaped) != AIGW_JSON_OK) {
            goto failed;
        }

        m->value_len = s.p - m->value;
        m->value_escaped = escaped;

        for (i = 0; i < count; i++) {
            if (aigw_json_keys_equal(&members[i], m)) {
                s.p = m->start;
                aigw_json_fail(&s, AIGW_JSON_DUPLICATE,
                               "the body has a duplicate key");
                err->key = m->key;
                err->key_len = m->key_len;
                goto failed;
            }
        }

        count++;

        aigw_json_skip_ws(&s);

        if (s.p == s.end) {
            aigw_json_fail(&s, AIGW_JSON_SYNTAX, "unexpected end of JSON");
            goto failed;
        }

        if (*s.p == ',') {
            s.p++;
            continue;
        }

        if (*s.p == '}') {
            s.p++;
            break;
        }

        aigw_json_fail(&s, AIGW_JSON_SYNTAX, "expected ',' or '}'");
        goto failed;
    }

done:

    aigw_json_skip_ws(&s);

    if (s.p != s.end) {
        aigw_json_fail(&s, AIGW_JSON_SYNTAX,
                       "unexpected data after the JSON object");
        goto failed;
    }

    *n = count;
    err->msg = NULL;
    err->offset = 0;

    return AIGW_JSON_OK;

failed:

    err->msg = s.msg;
    err->offset = s.p - s.start;

    return s.rc;
}


aigw_json_type_e
aigw_json_validate(const u_char *p, size_t len, unsigned max_depth)
{
    unsigned          escaped;
    aigw_json_scan_t  s;
    aigw_json_type_e  type;

    s.start = p;
    s.p = p;
    s.end = p + len;
    s.depth = 0;
    s.max_depth = max_depth;
    s.msg = NULL;
    s.rc = AIGW_JSON_OK;

    aigw_json_skip_ws(&s);

    if (aigw_json_value(&s, &type, &escaped) != AIGW_JSON_OK) {
        return AIGW_JSON_NONE;
    }

    aigw_json_skip_ws(&s);

    return s.p == s.end ? type : AIGW_JSON_NONE;
}


static int
aigw_json_fail(aigw_json_scan_t *s, int rc, const char *msg)
{
    if (s->rc == AIGW_JSON_OK) {
        s->rc = rc;
        s->msg = msg;
    }

    return rc;
}


static int
aigw_json_value(aigw_json_scan_t *s, aigw_json_type_e *type,
    unsigned *escaped)
{
    size_t    len;
    unsigned  esc;

    *escaped = 0;

    if (s->p == s->end) {
        return aigw_json_fail(s, AIGW_JSON_SYNTAX, "unexpected end of JSON");
    }

    switch (*s->p) {

    case '"':
        *type = AIGW_JSON_STRING;
        return aigw_json_string(s, escaped);

    case '{':
    case '[':

        if (++s->depth > s->max_depth) {
            return aigw_json_fail(s, AIGW_JSON_TOO_DEEP,
                                  "the JSON is nested too deeply");
        }

        if (*s->p++ == '{') {
            *type = AIGW_JSON_OBJECT;

            aigw_json_skip_ws(s);

            if (s->p < s->end && *s->p == '}') {
                s->p++;
                s->depth--;
                return AIGW_JSON_OK;
            }

            for ( ;; ) {
                aigw_json_skip_ws(s);

                if (s->p == s->end || *s->p != '"') {
                    return aigw_json_fail(s, AIGW_JSON_SYNTAX,
                                          "expected a quoted key");
                }

                if (aigw_json_string(s, &esc) != AIGW_JSON_OK) {
                    return s->rc;
                }

                aigw_json_skip_ws(s);

                if (s->p == s->end || *s->p != ':') {
                    return aigw_json_fail(s, AIGW_JSON_SYNTAX,
                                          "expected ':' after a key");
                }

                s->p++;
                aigw_json_skip_ws(s);

                {
                    aigw_json_type_e  t;

                    if (aigw_json_value(s, &t, &esc) != AIGW_JSON_OK) {
                        return s->rc;
                    }
                }

                aigw_json_skip_ws(s);

                if (s->p == s->end) {
                    return aigw_json_fail(s, AIGW_JSON_SYNTAX,
                                          "unexpected end of JSON");
                }

                if (*s->p == ',') {
                    s->p++;
                    continue;
                }

                if (*s->p == '}') {
                    s->p++;
                    s->depth--;
                    return AIGW_JSON_OK;
                }

                return aigw_json_fail(s, AIGW_JSON_SYNTAX,
                                      "expected ',' or '}'");
            }
        }

        *type = AIGW_JSON_ARRAY;

        aigw_json_skip_ws(s);

        if (s->p < s->end && *s->p == ']') {
            s->p++;
            s->depth--;
            return AIGW_JSON_OK;
        }

        for ( ;; ) {
            aigw_json_type_e  t;

            aigw_json_skip_ws(s);

            if (aigw_json_value(s, &t, &esc) != AIGW_JSON_OK) {
                return s->rc;
            }

            aigw_json_skip_ws(s);

            if (s->p == s->end) {
                return aigw_json_fail(s, AIGW_JSON_SYNTAX,
                                      "unexpected end of JSON");
            }

            if (*s->p == ',') {
                s->p++;
                continue;
            }

            if (*s->p == ']') {
                s->p++;
                s->depth--;
                return AIGW_JSON_OK;
            }

            return aigw_json_fail(s, AIGW_JSON_SYNTAX, "expected ',' or ']'");
        }

    case 't':
        *type = AIGW_JSON_TRUE;
        len = 4;
        if ((size_t) (s->end - s->p) >= len
            && memcmp(s->p, "true", len) == 0)
        {
            s->p += len;
            return AIGW_JSON_OK;
        }
        break;

    case 'f':
        *type = AIGW_JSON_FALSE;
        len = 5;
        if ((size_t) (s->end - s->p) >= len
            && memcmp(s->p, "false", len) == 0)
        {
            s->p += len;
            return AIGW_JSON_OK;
        }
        break;

    case 'n':
        *type = AIGW_JSON_NULL;
        len = 4;
        if ((size_t) (s->end - s->p) >= len
            && memcmp(s->p, "null", len) == 0)
        {
            s->p += len;
            return AIGW_JSON_OK;
        }
        break;

    default:
        *type = AIGW_JSON_NUMBER;
        return aigw_json_number(s);
    }

    return aigw_json_fail(s, AIGW_JSON_SYNTAX, "invalid literal");
}


static int
aigw_json_string(aigw_json_scan_t *s, unsigned *escaped)
{
    u_char        c;
    const u_char *p, *end;

    p = s->p + 1;
    end = s->end;
    *escaped = 0;

    for ( ;; ) {

        p = aigw_json_string_run(p, end);

        if (p == end) {
            s->p = p;
            return aigw_json_fail(s, AIGW_JSON_SYNTAX,
                                  "unterminated string");
        }

        c = *p;

        if (c == '"') {
            s->p = p + 1;
            return AIGW_JSON_OK;
        }

        if (c < 0x20) {
            s->p = p;
            return aigw_json_fail(s, AIGW_JSON_SYNTAX,
                                  "control character in a string");
        }

        /* a backslash */

        *escaped = 1;

        if (++p == end) {
            continue;
        }

        switch (*p) {
        case '"': case '\\': case '/': case 'b':
        case 'f': case 'n': case 'r': case 't':
            p++;
            break;

        case 'u':
            if (end - p < 5) {
                s->p = p;
                return aigw_json_fail(s, AIGW_JSON_SYNTAX,
                                      "invalid \\u escape");
            }

            for (c = 1; c < 5; c++) {
                u_char  h = p[c];

                if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f')
                      || (h >= 'A' && h <= 'F')))
                {
                    s->p = p;
                    return aigw_json_fail(s, AIGW_JSON_SYNTAX,
                                          "invalid \\u escape");
                }
            }

            p += 5;
            break;

        default:
            s->p = p;
            return aigw_json_fail(s, AIGW_JSON_SYNTAX,
                                  "invalid escape in a string");
        }
    }
}


static int
aigw_json_number(aigw_json_scan_t *s)
{
    const u_char  *p, *end;

    p = s->p;
    end = s->end;

    if (p < end && *p == '-') {
        p++;
    }

    if (p == end || *p < '0' || *p > '9') {
        s->p = p;
        return aigw_json_fail(s, AIGW_JSON_SYNTAX, "invalid value");
    }

    if (*p == '0') {
        p++;

    } else {
        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < end && *p == '.') {
        p++;

        if (p == end || *p < '0' || *p > '9') {
            s->p = p;
            return aigw_json_fail(s, AIGW_JSON_SYNTAX, "invalid number");
        }

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < end && (*p == '+' || *p == '-')) {
            p++;
        }

        if (p == end || *p < '0' || *p > '9') {
            s->p = p;
            return aigw_json_fail(s, AIGW_JSON_SYNTAX, "invalid number");
        }

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    s->p = p;

    return AIGW_JSON_OK;
}


static int
aigw_json_keys_equal(const aigw_json_member_t *a, const aigw_json_member_t *b)
{
    if (!a->key_escaped && !b->key_escaped) {
        return a->key_len == b->key_len
               && memcmp(a->key, b->key, a->key_len) == 0;
    }

    return aigw_json_raw_eq(a->key, a->key_len, b->key, b->key_len);
}


aigw_json_member_t *
aigw_json_find(aigw_json_member_t *members, size_t n, const char *name,
    size_t len)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (aigw_json_str_eq(members[i].key, members[i].key_len,
                             members[i].key_escaped, (const u_char *) name,
                             len))
        {
            return &members[i];
        }
    }

    return NULL;
}


int
aigw_json_str_eq(const u_char *raw, size_t raw_len, unsigned escaped,
    const u_char *s, size_t len)
{
    int           n;
    size_t        i;
    u_char        u[4];
    const u_char *end;

    if (!escaped) {
        return raw_len == len && memcmp(raw, s, len) == 0;
    }

    /* an escaped string is never shorter than its decoded form */

    if (raw_len < len) {
        return 0;
    }

    end = raw + raw_len;
    i = 0;

    while (raw < end) {
        n = aigw_json_unit(&raw, end, u);

        if (n < 0 || (size_t) n > len - i || memcmp(u, s + i, n) != 0) {
            return 0;
        }

        i += n;
    }

    return i == len;
}


static int
aigw_json_hex4(const u_char *p, uint32_t *out)
{
    u_char    c;
    uint32_t  v;
    size_t    i;

    v = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            v = (v << 4) | (c - '0');

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            v = (v << 4) | ((c | 0x20) - 'a' + 10);

        } else {
            return -1;
        }
    }

    *out = v;

    return 0;
}


/*
 * One character of a JSON string's raw text, decoded: writes its UTF-8
 * bytes (1 to 4) to out and returns how many, or -1.  Lone surrogates
 * become U+FFFD.
 */

static int
aigw_json_unit(const u_char **pp, const u_char *end, u_char *out)
{
    uint32_t      cp, lo;
    const u_char *p;

    p = *pp;

    if (*p != '\\') {
        out[0] = *p;
        *pp = p + 1;
        return 1;
    }

    if (++p == end) {
        return -1;
    }

    switch (*p++) {
    case '"':  out[0] = '"';  goto one;
    case '\\': out[0] = '\\'; goto one;
    case '/':  out[0] = '/';  goto one;
    case 'b':  out[0] = '\b'; goto one;
    case 'f':  out[0] = '\f'; goto one;
    case 'n':  out[0] = '\n'; goto one;
    case 'r':  out[0] = '\r'; goto one;
    case 't':  out[0] = '\t'; goto one;
    case 'u':  break;
    default:   return -1;
    }

    if (end - p < 4 || aigw_json_hex4(p, &cp) != 0) {
        return -1;
    }

    p += 4;

    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (end - p >= 6 && p[0] == '\\' && p[1] == 'u'
            && aigw_json_hex4(p + 2, &lo) == 0
            && lo >= 0xdc00 && lo <= 0xdfff)
        {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            p += 6;

        } else {
            cp = 0xfffd;
        }

    } else if (cp >= 0xdc00 && cp <= 0xdfff) {
        cp = 0xfffd;
    }

    *pp = p;

    if (cp < 0x80) {
        out[0] = (u_char) cp;
        return 1;
    }

    if (cp < 0x800) {
        out[0] = (u_char) (0xc0 | (cp >> 6));
        out[1] = (u_char) (0x80 | (cp & 0x3f));
        return 2;
    }

    if (cp < 0x10000) {
        out[0] = (u_char) (0xe0 | (cp >> 12));
        out[1] = (u_char) (0x80 | ((cp >> 6) & 0x3f));
        out[2] = (u_char) (0x80 | (cp & 0x3f));
        return 3;
    }

    out[0] = (u_char) (0xf0 | (cp >> 18));
    out[1] = (u_char) (0x80 | ((cp >> 12) & 0x3f));
    out[2] = (u_char) (0x80 | ((cp >> 6) & 0x3f));
    out[3] = (u_char) (0x80 | (cp & 0x3f));
    return 4;

one:

    *pp = p;
    return 1;
}


ssize_t
aigw_json_unescape(const u_char *raw, size_t raw_len, u_char *out)
{
    int           n;
    const u_char *p, *end;
    u_char       *o;

    p = raw;
    end = raw + raw_len;
    o = out;

    while (p < end) {
        n = aigw_json_unit(&p, end, o);
        if (n < 0) {
            return -1;
        }

        o += n;
    }

    return o - out;
}


/* Two raw (escaped) JSON strings that decode to the same bytes. */

static int
aigw_json_raw_eq(const u_char *a, size_t alen, const u_char *b, size_t blen)
{
    int           na, nb, ia, ib;
    u_char        ua[4], ub[4];
    const u_char *ea, *eb;

    ea = a + alen;
    eb = b + blen;
    na = nb = ia = ib = 0;

    for ( ;; ) {

        if (ia == na) {
            if (a == ea) {
                break;
            }

            na = aigw_json_unit(&a, ea, ua);
            if (na < 0) {
                return 0;
            }

            ia = 0;
        }

        if (ib == nb) {
            if (b == eb) {
                return 0;
            }

            nb = aigw_json_unit(&b, eb, ub);
            if (nb < 0) {
                return 0;
            }

            ib = 0;
        }

        if (ua[ia++] != ub[ib++]) {
            return 0;
        }
    }

    return ib == nb && b == eb;
}


size_t
aigw_json_escape_len(const u_char *s, size_t len)
{
    size_t  i, n;

    n = len;

    for (i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\' || s[i] == '\n' || s[i] == '\r'
            || s[i] == '\t')
        {
            n++;

        } else if (s[i] < 0x20) {
            n += 5;
        }
    }

    return n;
}


u_char *
aigw_json_escape(u_char *dst, const u_char *s, size_t len)
{
    size_t               i;
    u_char               c;
    static const u_char  hex[] = "0123456789abcdef";

    for (i = 0; i < len; i++) {
        c = s[i];

        switch (c) {
        case '"':  *dst++ = '\\'; *dst++ = '"';  continue;
        case '\\': *dst++ = '\\'; *dst++ = '\\'; continue;
        case '\n': *dst++ = '\\'; *dst++ = 'n';  continue;
        case '\r': *dst++ = '\\'; *dst++ = 'r';  continue;
        case '\t': *dst++ = '\\'; *dst++ = 't';  continue;
        }

        if (c < 0x20) {
            *dst++ = '\\';
            *dst++ = 'u';
            *dst++ = '0';
            *dst++ = '0';
            *dst++ = hex[c >> 4];
            *dst++ = hex[c & 0xf];
            continue;
        }

        *dst++ = c;
    }

    return dst;
}


int
aigw_json_int(const u_char *v, size_t len, int64_t *out)
{
    size_t    i;
    int       neg;
    uint64_t  n;

    if (len == 0) {
        return -1;
    }

    i = 0;
    neg = 0;

    if (v[0] == '-') {
        neg = 1;
        i = 1;
    }

    if (i == len || (v[i] == '0' && len - i > 1)) {
        return -1;
    }

    n = 0;

    for ( /* void */ ; i < len; i++) {
        if (v[i] < '0' || v[i] > '9') {
            return -1;
        }

        if (n > (uint64_t) (INT64_MAX / 10)) {
            return -1;
        }

        n = n * 10 + (v[i] - '0');

        if (n > (uint64_t) INT64_MAX + neg) {
            return -1;
        }
    }

    /* -(n - 1) - 1 also reaches INT64_MIN without overflow */

    *out = (neg && n) ? -(int64_t) (n - 1) - 1 : (int64_t) n;

    return 0;
}


int
aigw_json_double(const u_char *v, size_t len, double *out)
{
    char   buf[64], *end;
    double d;

    if (len == 0 || len >= sizeof(buf)) {
        return -1;
    }

    memcpy(buf, v, len);
    buf[len] = '\0';

    d = strtod(buf, &end);

    if (end != buf + len || !isfinite(d)) {
        return -1;
    }

    *out = d;

    return 0;
}


int
aigw_json_array_empty(const u_char *v, size_t len)
{
    size_t  i;

    if (len < 2 || v[0] != '[') {
        return 0;
    }

    for (i = 1; i < len; i++) {
        if (v[i] == ']') {
            return 1;
        }

        if (v[i] != ' ' && v[i] != '\n' && v[i] != '\r' && v[i] != '\t') {
            return 0;
        }
    }

    return 0;
}
