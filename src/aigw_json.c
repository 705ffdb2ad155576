/*
 * aigw: a single-pass validating JSON scanner.
 */

#include <string.h>
#include <stdlib.h>
#include <math.h>

#include "aigw_json.h"


/*
 * The scan position lives in the callers' registers: every step takes it
 * and returns the next one, or NULL after recording the first problem.
 */

typedef struct {
    const u_char       *start;
    const u_char       *end;
    const u_char       *at;         /* where the problem is */
    unsigned            depth;
    unsigned            max_depth;
    const char         *msg;
    int                 rc;
} aigw_json_scan_t;


static const u_char *aigw_json_value(aigw_json_scan_t *s, const u_char *p,
    aigw_json_type_e *type, unsigned *escaped);
static const u_char *aigw_json_object(aigw_json_scan_t *s, const u_char *p);
static const u_char *aigw_json_array(aigw_json_scan_t *s, const u_char *p);
static const u_char *aigw_json_string(aigw_json_scan_t *s, const u_char *p,
    unsigned *escaped);
static const u_char *aigw_json_number(aigw_json_scan_t *s, const u_char *p);
static const u_char *aigw_json_fail(aigw_json_scan_t *s, const u_char *p,
    int rc, const char *msg);
static int aigw_json_unit(const u_char **pp, const u_char *end,
    u_char *out);
static int aigw_json_raw_eq(const u_char *a, size_t alen, const u_char *b,
    size_t blen);
static int aigw_json_keys_equal(const aigw_json_member_t *a,
    const aigw_json_member_t *b);


/*
 * For the byte after a backslash and for \u digits: 0x20 marks the
 * one-letter escapes, 0x10 the hex digits, whose values are the low bits.
 */

static const u_char  aigw_json_chars[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20,
    0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
    0x18, 0x19, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00,
    0x00, 0x1a, 0x3b, 0x1c, 0x1d, 0x1e, 0x3f, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x20, 0x00,
    0x00, 0x00, 0x20, 0x00, 0x20, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00
};


#define AIGW_JSON_WS                                                          \
    ((1ULL << ' ') | (1ULL << '\t') | (1ULL << '\n') | (1ULL << '\r'))


/* one comparison for the usual non-blank byte */

static inline const u_char *
aigw_json_skip_ws(const u_char *p, const u_char *end)
{
    while (p < end && *p <= ' ' && ((AIGW_JSON_WS >> *p) & 1)) {
        p++;
    }

    return p;
}


int
aigw_json_parse_object(const u_char *p, size_t len,
    aigw_json_member_t *members, size_t max, size_t *n, unsigned max_depth,
    aigw_json_error_t *err)
{
    size_t              count, nesc;
    uint64_t            seen, bit;
    unsigned            kesc, escaped;
    const u_char       *end, *kstart;
    aigw_json_scan_t    s;
    aigw_json_member_t *m, *o;

    end = p + len;

    s.start = p;
    s.end = end;
    s.at = NULL;
    s.depth = 1;
    s.max_depth = max_depth;
    s.msg = NULL;
    s.rc = AIGW_JSON_OK;

    count = 0;
    nesc = 0;
    seen = 0;
    *n = 0;
    err->key = NULL;
    err->key_len = 0;

    p = aigw_json_skip_ws(p, end);

    if (p == end) {
        aigw_json_fail(&s, p, AIGW_JSON_SYNTAX, "the body is empty");
        goto failed;
    }

    if (*p != '{') {
        aigw_json_type_e  t;

        t = aigw_json_validate(s.start, len, max_depth);
        aigw_json_fail(&s, p, t == AIGW_JSON_NONE ? AIGW_JSON_SYNTAX
                                                  : AIGW_JSON_NOT_OBJECT,
                       t == AIGW_JSON_NONE ? "the body is not valid JSON"
                                           : "the body must be a JSON object");
        goto failed;
    }

    p = aigw_json_skip_ws(p + 1, end);

    if (p < end && *p == '}') {
        p++;
        goto done;
    }

    /* blanks are rare in request bodies: the expected byte is tried first */

    for ( ;; ) {
        if (p == end || *p != '"') {
            p = aigw_json_skip_ws(p, end);

            if (p == end || *p != '"') {
                aigw_json_fail(&s, p, AIGW_JSON_SYNTAX,
                               "expected a quoted key");
                goto failed;
            }
        }

        kstart = p;

        p = aigw_json_string(&s, p, &kesc);
        if (p == NULL) {
            goto failed;
        }

        if (count == max) {
            aigw_json_fail(&s, p, AIGW_JSON_TOO_MANY,
                           "the body has too many top-level fields");
            goto failed;
        }

        m = &members[count];
        m->start = kstart;
        m->key = kstart + 1;
        m->key_len = p - kstart - 2;

        if (p == end || *p != ':') {
            p = aigw_json_skip_ws(p, end);

            if (p == end || *p != ':') {
                aigw_json_fail(&s, p, AIGW_JSON_SYNTAX,
                               "expected ':' after a key");
                goto failed;
            }
        }

        p = aigw_json_skip_ws(p + 1, end);

        m->value = p;

        p = aigw_json_value(&s, p, &m->type, &escaped);
        if (p == NULL) {
            goto failed;
        }

        m->value_len = p - m->value;
        m->key_escaped = kesc;
        m->value_escaped = escaped;

        /*
         * A plain key can only repeat a plain key with the same length
         * and first byte: "seen" remembers those pairs, hashed, so that
         * most keys skip the comparisons.  Escaped keys are compared
         * decoded with all others.  key[0] of an empty key is its
         * closing quote.
         */

        bit = 1ULL << ((m->key_len * 7 + m->key[0]) & 63);

        if (kesc || nesc || (seen & bit)) {

            for (o = members; o < m; o++) {
                if (kesc || o->key_escaped) {
                    if (aigw_json_keys_equal(o, m)) {
                        goto duplicate;
                    }

                } else if (o->key_len == m->key_len
                           && o->key[0] == m->key[0]
                           && memcmp(o->key, m->key, m->key_len) == 0)
                {
                    goto duplicate;
                }
            }
        }

        if (kesc) {
            nesc++;

        } else {
            seen |= bit;
        }

        count++;

        if (p < end && *p == ',') {
            p++;
            continue;
        }

        p = aigw_json_skip_ws(p, end);

        if (p == end) {
            aigw_json_fail(&s, p, AIGW_JSON_SYNTAX, "unexpected end of JSON");
            goto failed;
        }

        if (*p == ',') {
            p++;
            continue;
        }

        if (*p == '}') {
            p++;
            break;
        }

        aigw_json_fail(&s, p, AIGW_JSON_SYNTAX, "expected ',' or '}'");
        goto failed;
    }

done:

    p = aigw_json_skip_ws(p, end);

    if (p != end) {
        aigw_json_fail(&s, p, AIGW_JSON_SYNTAX,
                       "unexpected data after the JSON object");
        goto failed;
    }

    *n = count;
    err->msg = NULL;
    err->offset = 0;

    return AIGW_JSON_OK;

duplicate:

    aigw_json_fail(&s, m->start, AIGW_JSON_DUPLICATE,
                   "the body has a duplicate key");
    err->key = m->key;
    err->key_len = m->key_len;

failed:

    err->msg = s.msg;
    err->offset = s.at - s.start;

    return s.rc;
}


aigw_json_type_e
aigw_json_validate(const u_char *p, size_t len, unsigned max_depth)
{
    unsigned          escaped;
    const u_char     *end;
    aigw_json_scan_t  s;
    aigw_json_type_e  type;

    end = p + len;

    s.start = p;
    s.end = end;
    s.at = NULL;
    s.depth = 0;
    s.max_depth = max_depth;
    s.msg = NULL;
    s.rc = AIGW_JSON_OK;

    p = aigw_json_value(&s, aigw_json_skip_ws(p, end), &type, &escaped);

    if (p == NULL) {
        return AIGW_JSON_NONE;
    }

    return aigw_json_skip_ws(p, end) == end ? type : AIGW_JSON_NONE;
}


static const u_char *
aigw_json_fail(aigw_json_scan_t *s, const u_char *p, int rc, const char *msg)
{
    if (s->rc == AIGW_JSON_OK) {
        s->rc = rc;
        s->msg = msg;
        s->at = p;
    }

    return NULL;
}


static const u_char *
aigw_json_value(aigw_json_scan_t *s, const u_char *p, aigw_json_type_e *type,
    unsigned *escaped)
{
    *escaped = 0;

    if (p == s->end) {
        return aigw_json_fail(s, p, AIGW_JSON_SYNTAX,
                              "unexpected end of JSON");
    }

    switch (*p) {

    case '"':
        *type = AIGW_JSON_STRING;
        return aigw_json_string(s, p, escaped);

    case '{':
        *type = AIGW_JSON_OBJECT;
        return aigw_json_object(s, p);

    case '[':
        *type = AIGW_JSON_ARRAY;
        return aigw_json_array(s, p);

    case 't':
        *type = AIGW_JSON_TRUE;

        if (s->end - p >= 4 && memcmp(p, "true", 4) == 0) {
            return p + 4;
        }

        break;

    case 'f':
        *type = AIGW_JSON_FALSE;

        if (s->end - p >= 5 && memcmp(p, "false", 5) == 0) {
            return p + 5;
        }

        break;

    case 'n':
        *type = AIGW_JSON_NULL;

        if (s->end - p >= 4 && memcmp(p, "null", 4) == 0) {
            return p + 4;
        }

        break;

    default:
        *type = AIGW_JSON_NUMBER;
        return aigw_json_number(s, p);
    }

    return aigw_json_fail(s, p, AIGW_JSON_SYNTAX, "invalid literal");
}


static const u_char *
aigw_json_object(aigw_json_scan_t *s, const u_char *p)
{
    unsigned          esc;
    const u_char     *end;
    aigw_json_type_e  t;

    if (++s->depth > s->max_depth) {
        return aigw_json_fail(s, p, AIGW_JSON_TOO_DEEP,
                              "the JSON is nested too deeply");
    }

    end = s->end;
    p = aigw_json_skip_ws(p + 1, end);

    if (p < end && *p == '}') {
        s->depth--;
        return p + 1;
    }

    for ( ;; ) {
        if (p == end || *p != '"') {
            p = aigw_json_skip_ws(p, end);

            if (p == end || *p != '"') {
                return aigw_json_fail(s, p, AIGW_JSON_SYNTAX,
                                      "expected a quoted key");
            }
        }

        p = aigw_json_string(s, p, &esc);
        if (p == NULL) {
            return NULL;
        }

        if (p == end || *p != ':') {
            p = aigw_json_skip_ws(p, end);

            if (p == end || *p != ':') {
                return aigw_json_fail(s, p, AIGW_JSON_SYNTAX,
                                      "expected ':' after a key");
            }
        }

        p = aigw_json_skip_ws(p + 1, end);

        /* most values inside messages are strings: no dispatch for them */

        if (p < end && *p == '"') {
            p = aigw_json_string(s, p, &esc);

        } else {
            p = aigw_json_value(s, p, &t, &esc);
        }

        if (p == NULL) {
            return NULL;
        }

        if (p < end && *p == ',') {
            p++;
            continue;
        }

        p = aigw_json_skip_ws(p, end);

        if (p == end) {
            return aigw_json_fail(s, p, AIGW_JSON_SYNTAX,
                                  "unexpected end of JSON");
        }

        if (*p == ',') {
            p++;
            continue;
        }

        if (*p == '}') {
            s->depth--;
            return p + 1;
        }

        return aigw_json_fail(s, p, AIGW_JSON_SYNTAX, "expected ',' or '}'");
    }
}


static const u_char *
aigw_json_array(aigw_json_scan_t *s, const u_char *p)
{
    unsigned          esc;
    const u_char     *end;
    aigw_json_type_e  t;

    if (++s->depth > s->max_depth) {
        return aigw_json_fail(s, p, AIGW_JSON_TOO_DEEP,
                              "the JSON is nested too deeply");
    }

    end = s->end;
    p = aigw_json_skip_ws(p + 1, end);

    if (p < end && *p == ']') {
        s->depth--;
        return p + 1;
    }

    for ( ;; ) {
        p = aigw_json_skip_ws(p, end);

        p = aigw_json_value(s, p, &t, &esc);
        if (p == NULL) {
            return NULL;
        }

        if (p < end && *p == ',') {
            p++;
            continue;
        }

        p = aigw_json_skip_ws(p, end);

        if (p == end) {
            return aigw_json_fail(s, p, AIGW_JSON_SYNTAX,
                                  "unexpected end of JSON");
        }

        if (*p == ',') {
            p++;
            continue;
        }

        if (*p == ']') {
            s->depth--;
            return p + 1;
        }

        return aigw_json_fail(s, p, AIGW_JSON_SYNTAX, "expected ',' or ']'");
    }
}


/* p is at the opening quote; returns the byte after the closing one */

static const u_char *
aigw_json_string(aigw_json_scan_t *s, const u_char *p, unsigned *escaped)
{
    u_char        c;
    const u_char *end;

    end = s->end;
    *escaped = 0;
    p++;

    for ( ;; ) {

        p = aigw_json_string_run(p, end);

        if (p == end) {
            return aigw_json_fail(s, p, AIGW_JSON_SYNTAX,
                                  "unterminated string");
        }

        c = *p;

        if (c == '"') {
            return p + 1;
        }

        if (c < 0x20) {
            return aigw_json_fail(s, p, AIGW_JSON_SYNTAX,
                                  "control character in a string");
        }

        /* a backslash */

        *escaped = 1;

        if (++p == end) {
            continue;
        }

        c = aigw_json_chars[*p];

        if (c & 0x20) {
            p++;
            continue;
        }

        if (*p != 'u') {
            return aigw_json_fail(s, p, AIGW_JSON_SYNTAX,
                                  "invalid escape in a string");
        }

        if (end - p < 5
            || !(aigw_json_chars[p[1]] & aigw_json_chars[p[2]]
                 & aigw_json_chars[p[3]] & aigw_json_chars[p[4]] & 0x10))
        {
            return aigw_json_fail(s, p, AIGW_JSON_SYNTAX,
                                  "invalid \\u escape");
        }

        p += 5;
    }
}


static const u_char *
aigw_json_number(aigw_json_scan_t *s, const u_char *p)
{
    const u_char  *end;

    end = s->end;

    if (p < end && *p == '-') {
        p++;
    }

    if (p == end || *p < '0' || *p > '9') {
        return aigw_json_fail(s, p, AIGW_JSON_SYNTAX, "invalid value");
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
            return aigw_json_fail(s, p, AIGW_JSON_SYNTAX, "invalid number");
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
            return aigw_json_fail(s, p, AIGW_JSON_SYNTAX, "invalid number");
        }

        while (p < end && *p >= '0' && *p <= '9') {
            p++;
        }
    }

    return p;
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


/*
 * Most members differ from the name in length; an escaped key is longer
 * than its decoded name, so only those can match with another length.
 */

aigw_json_member_t *
aigw_json_find(aigw_json_member_t *members, size_t n, const char *name,
    size_t len)
{
    aigw_json_member_t  *m, *last;

    last = members + n;

    for (m = members; m < last; m++) {

        if (m->key_len == len && !m->key_escaped) {
            if (len == 0
                || (m->key[0] == (u_char) name[0]
                    && memcmp(m->key, name, len) == 0))
            {
                return m;
            }

        } else if (m->key_len >= len && m->key_escaped
                   && aigw_json_str_eq(m->key, m->key_len, 1,
                                       (const u_char *) name, len))
        {
            return m;
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
    if (!(aigw_json_chars[p[0]] & aigw_json_chars[p[1]]
          & aigw_json_chars[p[2]] & aigw_json_chars[p[3]] & 0x10))
    {
        return -1;
    }

    *out = (aigw_json_chars[p[0]] & 0x0f) << 12
           | (aigw_json_chars[p[1]] & 0x0f) << 8
           | (aigw_json_chars[p[2]] & 0x0f) << 4
           | (aigw_json_chars[p[3]] & 0x0f);

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


#if defined(__SSE2__)

/*
 * Fewer than 16 bytes are left.  When the run began 16 bytes or more
 * before end, the last 16 bytes are loaded again and the bits of those
 * already seen are dropped; a shorter text is read as 8 and 4 bytes from
 * each of its ends, overlapping, then byte by byte.
 */

const u_char *
aigw_json_run_tail(const u_char *start, const u_char *p, const u_char *end)
{
    int       mask;
    size_t    n;
    uint32_t  w;
    __m128i   v;

    n = end - p;

    if (end - start >= 16) {
        v = _mm_loadu_si128((const __m128i *) (end - 16));
        mask = aigw_json_run_mask(v) >> (16 - n);

        return mask ? p + __builtin_ctz(mask) : end;
    }

    /* the zero bytes above a short load count as control characters */

    if (n >= 8) {
        v = _mm_loadl_epi64((const __m128i *) p);
        mask = aigw_json_run_mask(v) & 0xff;

        if (mask) {
            return p + __builtin_ctz(mask);
        }

        v = _mm_loadl_epi64((const __m128i *) (end - 8));
        mask = (aigw_json_run_mask(v) & 0xff) >> (16 - n);

        return mask ? p + 8 + __builtin_ctz(mask) : end;
    }

    if (n >= 4) {
        memcpy(&w, p, 4);
        mask = aigw_json_run_mask(_mm_cvtsi32_si128(w)) & 0xf;

        if (mask) {
            return p + __builtin_ctz(mask);
        }

        memcpy(&w, end - 4, 4);
        mask = (aigw_json_run_mask(_mm_cvtsi32_si128(w)) & 0xf) >> (8 - n);

        return mask ? p + 4 + __builtin_ctz(mask) : end;
    }

    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20) {
        p++;
    }

    return p;
}

#endif


/* plain runs are copied whole; only escapes go through aigw_json_unit() */

ssize_t
aigw_json_unescape(const u_char *raw, size_t raw_len, u_char *out)
{
    int           n;
    const u_char *p, *q, *end;
    u_char       *o;

    p = raw;
    end = raw + raw_len;
    o = out;

    while (p < end) {
        q = aigw_json_string_run(p, end);

        if (q != p) {
            memcpy(o, p, q - p);
            o += q - p;
            p = q;

            if (p == end) {
                break;
            }
        }

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


/* the bytes that need escaping are those that end a string's plain run */

size_t
aigw_json_escape_len(const u_char *s, size_t len)
{
    size_t        n;
    const u_char *p, *end;

    if (len == 0) {
        return 0;
    }

    n = len;
    p = s;
    end = s + len;

    for ( ;; ) {
        p = aigw_json_string_run(p, end);

        if (p == end) {
            return n;
        }

        if (*p == '"' || *p == '\\' || *p == '\n' || *p == '\r'
            || *p == '\t')
        {
            n++;

        } else {
            n += 5;
        }

        p++;
    }
}


u_char *
aigw_json_escape(u_char *dst, const u_char *s, size_t len)
{
    u_char               c;
    const u_char        *q, *end;
    static const u_char  hex[] = "0123456789abcdef";

    if (len == 0) {
        return dst;
    }

    end = s + len;

    for ( ;; ) {
        q = aigw_json_string_run(s, end);

        if (q != s) {
            memcpy(dst, s, q - s);
            dst += q - s;
            s = q;
        }

        if (s == end) {
            return dst;
        }

        c = *s++;

        switch (c) {
        case '"':  *dst++ = '\\'; *dst++ = '"';  continue;
        case '\\': *dst++ = '\\'; *dst++ = '\\'; continue;
        case '\n': *dst++ = '\\'; *dst++ = 'n';  continue;
        case '\r': *dst++ = '\\'; *dst++ = 'r';  continue;
        case '\t': *dst++ = '\\'; *dst++ = 't';  continue;
        }

        /* another control character */

        *dst++ = '\\';
        *dst++ = 'u';
        *dst++ = '0';
        *dst++ = '0';
        *dst++ = hex[c >> 4];
        *dst++ = hex[c & 0xf];
    }
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
