/*
 * aigw fuzzing: the single-pass JSON scanner (src/aigw_json.c).
 *
 * Input: the whole text.  Checks, besides memory safety:
 *   - parse_object() agrees with validate(): OK means an object, SYNTAX or
 *     TOO_DEEP mean no valid value, NOT_OBJECT a valid non-object;
 *   - every member's spans lie inside the input, in order: '"' key '"',
 *     then the value, whose text validates alone as the recorded type;
 *   - a failure's offset lies inside the input;
 *   - whatever jansson accepts (within the depth bound) the scanner
 *     accepts too, with the same type at the top, and as many top-level
 *     members as jansson's object has distinct keys (duplicates, compared
 *     after unescaping, are rejected);
 *   - keys unescape, and aigw_json_find() finds each short one;
 *   - aigw_json_int() agrees with strtoll(); escape() of any bytes is a
 *     JSON string that unescapes back to them.
 */

#include <errno.h>
#include <jansson.h>

#include "fuzz_common.h"

#include "aigw_json.h"


#define FZ_MAX_MEMBERS  64
#define FZ_MAX_DEPTH    64


static aigw_json_type_e
fz_jansson_type(json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:  return AIGW_JSON_OBJECT;
    case JSON_ARRAY:   return AIGW_JSON_ARRAY;
    case JSON_STRING:  return AIGW_JSON_STRING;
    case JSON_INTEGER:
    case JSON_REAL:    return AIGW_JSON_NUMBER;
    case JSON_TRUE:    return AIGW_JSON_TRUE;
    case JSON_FALSE:   return AIGW_JSON_FALSE;
    default:           return AIGW_JSON_NULL;
    }
}


/* nesting depth of a jansson tree, counting containers as aigw does */
static unsigned
fz_jansson_depth(json_t *j)
{
    size_t       i;
    unsigned     d, max;
    const char  *k;
    json_t      *v;

    max = 0;

    if (json_is_object(j)) {
        json_object_foreach(j, k, v) {
            d = fz_jansson_depth(v);
            max = d > max ? d : max;
        }

        return max + 1;
    }

    if (json_is_array(j)) {
        json_array_foreach(j, i, v) {
            d = fz_jansson_depth(v);
            max = d > max ? d : max;
        }

        return max + 1;
    }

    return 0;
}


static void
fz_check_number(const aigw_json_member_t *m)
{
    char       buf[64], *end;
    double     d;
    int64_t    v;
    long long  ll;

    if (aigw_json_int(m->value, m->value_len, &v) == 0) {
        FZ_CHECK("json-int", m->value_len < sizeof(buf),
                 "aigw_json_int accepted %zu digits", m->value_len);

        memcpy(buf, m->value, m->value_len);
        buf[m->value_len] = '\0';
        errno = 0;
        ll = strtoll(buf, &end, 10);

        FZ_CHECK("json-int", errno == 0 && *end == '\0' && ll == v,
                 "aigw_json_int(\"%s\") = %lld, strtoll says %lld", buf,
                 (long long) v, ll);
    }

    (void) aigw_json_double(m->value, m->value_len, &d);
}


static void
fz_check_members(const u_char *p, size_t len, aigw_json_member_t *m,
    size_t n)
{
    size_t              i;
    ssize_t             dl;
    u_char             *dec;
    const u_char       *prev_end, *end;
    aigw_json_type_e    t;
    aigw_json_member_t *f;

    end = p + len;
    prev_end = p;

    for (i = 0; i < n; i++) {
        FZ_CHECK("json-span", m[i].start >= prev_end && m[i].start < end,
                 "member %zu starts outside the input", i);
        FZ_CHECK("json-span", m[i].start[0] == '"' && m[i].key == m[i].start + 1,
                 "member %zu: key does not follow a quote", i);
        FZ_CHECK("json-span", m[i].key + m[i].key_len < end
                 && m[i].key[m[i].key_len] == '"',
                 "member %zu: key does not end before a quote", i);
        FZ_CHECK("json-span", m[i].value > m[i].key + m[i].key_len
                 && m[i].value_len > 0
                 && m[i].value + m[i].value_len <= end,
                 "member %zu: value outside the input", i);
        FZ_CHECK("json-span", m[i].key_escaped
                 == (memchr(m[i].key, '\\', m[i].key_len) != NULL),
                 "member %zu: key_escaped is wrong", i);

        t = aigw_json_validate(m[i].value, m[i].value_len, FZ_MAX_DEPTH);

        FZ_CHECK("json-span", t == m[i].type,
                 "member %zu: value validates as %d, recorded as %d", i,
                 (int) t, (int) m[i].type);

        if (m[i].type == AIGW_JSON_STRING) {
            FZ_CHECK("json-span", m[i].value_escaped
                     == (memchr(m[i].value, '\\', m[i].value_len) != NULL),
                     "member %zu: value_escaped is wrong", i);
        }

        if (m[i].type == AIGW_JSON_NUMBER) {
            fz_check_number(&m[i]);
        }

        if (m[i].type == AIGW_JSON_ARRAY) {
            (void) aigw_json_array_empty(m[i].value, m[i].value_len);
        }

        /* the key decodes, and a short decoded key is found by name */

        dec = malloc(m[i].key_len + 1);
        if (dec == NULL) {
            abort();
        }

        dl = aigw_json_unescape(m[i].key, m[i].key_len, dec);

        FZ_CHECK("json-key", dl >= 0 && (size_t) dl <= m[i].key_len,
                 "member %zu: a validated key does not unescape (%zd)", i,
                 dl);

        if (m[i].key_len <= 256) {
            f = aigw_json_find(m, n, (const char *) dec, (size_t) dl);

            FZ_CHECK("json-key", f == &m[i],
                     "member %zu: aigw_json_find() returned member %zd", i,
                     f ? (ssize_t) (f - m) : (ssize_t) -1);
        }

        free(dec);

        prev_end = m[i].value + m[i].value_len;
    }
}


/* escape() of arbitrary bytes is a JSON string that decodes back to them */
static void
fz_check_escape(const u_char *p, size_t len)
{
    size_t   el;
    ssize_t  dl;
    u_char  *e, *q, *d;

    el = aigw_json_escape_len(p, len);

    e = malloc(el + 2);
    d = malloc(el + 1);
    if (e == NULL || d == NULL) {
        abort();
    }

    e[0] = '"';
    q = aigw_json_escape(e + 1, p, len);

    FZ_CHECK("json-escape", (size_t) (q - (e + 1)) == el,
             "escape wrote %zu bytes, escape_len said %zu",
             (size_t) (q - (e + 1)), el);

    *q++ = '"';

    FZ_CHECK("json-escape",
             aigw_json_validate(e, el + 2, 1) == AIGW_JSON_STRING,
             "escape() output is not a JSON string");

    dl = aigw_json_unescape(e + 1, el, d);

    FZ_CHECK("json-escape", dl == (ssize_t) len && memcmp(d, p, len) == 0,
             "unescape(escape(x)) != x");

    FZ_CHECK("json-escape", aigw_json_str_eq(e + 1, el, el != len, p, len)
             || el > 256,
             "str_eq(escape(x), x) is false");

    free(e);
    free(d);
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;

    json_object_seed(1);

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                 rc;
    u_char             *p;
    size_t              n, max;
    json_t             *j;
    json_error_t        jerr;
    aigw_json_type_e    t;
    aigw_json_error_t   err;
    aigw_json_member_t  m[FZ_MAX_MEMBERS];

    p = fz_dup(data, size);

    /* a few inputs also run with a tiny member bound */
    max = (size && (data[0] & 0x0f) == 0x0f) ? 2 : FZ_MAX_MEMBERS;

    memset(&err, 0, sizeof(err));

    rc = aigw_json_parse_object(p, size, m, max, &n, FZ_MAX_DEPTH, &err);
    t = aigw_json_validate(p, size, FZ_MAX_DEPTH);

    switch (rc) {

    case AIGW_JSON_OK:
        FZ_CHECK("json-agree", t == AIGW_JSON_OBJECT,
                 "parse_object OK, validate says %d", (int) t);
        FZ_CHECK("json-agree", n <= max, "n %zu > max %zu", n, max);
        FZ_CHECK("json-agree", err.msg == NULL, "OK with an error message");
        fz_check_members(p, size, m, n);
        break;

    case AIGW_JSON_SYNTAX:
    case AIGW_JSON_TOO_DEEP:
        FZ_CHECK("json-agree", t == AIGW_JSON_NONE,
                 "parse_object %d (%s), validate says %d", rc,
                 err.msg ? err.msg : "-", (int) t);
        break;

    case AIGW_JSON_NOT_OBJECT:
        FZ_CHECK("json-agree", t != AIGW_JSON_NONE && t != AIGW_JSON_OBJECT,
                 "parse_object NOT_OBJECT, validate says %d", (int) t);
        break;

    /* these two stop the scan early: the rest may be invalid */

    case AIGW_JSON_TOO_MANY:
        FZ_CHECK("json-agree", t == AIGW_JSON_OBJECT || t == AIGW_JSON_NONE,
                 "parse_object TOO_MANY, validate says %d", (int) t);
        break;

    case AIGW_JSON_DUPLICATE:
        FZ_CHECK("json-agree", t == AIGW_JSON_OBJECT || t == AIGW_JSON_NONE,
                 "parse_object DUPLICATE, validate says %d", (int) t);
        FZ_CHECK("json-agree", err.key != NULL
                 && err.key >= p && err.key + err.key_len <= p + size,
                 "DUPLICATE without the key inside the input");
        break;

    default:
        FZ_CHECK("json-agree", 0, "parse_object returned %d", rc);
    }

    if (rc != AIGW_JSON_OK) {
        FZ_CHECK("json-agree", err.msg != NULL && err.offset <= size,
                 "error %d: msg %p, offset %zu of %zu", rc,
                 (void *) err.msg, err.offset, size);
    }

    /*
     * differential: jansson is the reference for what is valid, except
     * that it takes a raw NUL byte for the end of its input
     */

    j = memchr(p, '\0', size) ? NULL
        : json_loadb((const char *) p, size,
                     JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);

    if (j != NULL && fz_jansson_depth(j) <= FZ_MAX_DEPTH) {
        FZ_CHECK("json-valid", t == fz_jansson_type(j),
                 "jansson loads a %d, aigw_json_validate says %d",
                 (int) fz_jansson_type(j), (int) t);

        if (json_is_object(j) && rc == AIGW_JSON_OK) {
            FZ_CHECK("json-dup", json_object_size(j) == n,
                     "jansson sees %zu distinct top-level keys, the scanner"
                     " %zu members: an undetected duplicate key",
                     json_object_size(j), n);
        }

        if (rc == AIGW_JSON_DUPLICATE) {
            json_t  *r;

            r = json_loadb((const char *) p, size,
                           JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);

            FZ_CHECK("json-dup", r == NULL,
                     "the scanner reports a duplicate key that jansson"
                     " does not see");
            json_decref(r);
        }
    }

    json_decref(j);

    fz_check_escape(p, size);

    free(p);

    return 0;
}
