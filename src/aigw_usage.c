/*
 * aigw: token usage from OpenAI-format responses.
 */

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "aigw_usage.h"


#define AIGW_USAGE_MAX_MEMBERS  32
#define AIGW_USAGE_MAX_DEPTH    16

/* details objects with more members go to the full parser */
#define AIGW_USAGE_MAX_DETAILS  8

/* the fast path leaves the text to the full parser */
#define AIGW_USAGE_SLOW         1

/* the names the fast path looks for */
enum {
    AIGW_USAGE_OTHER = 0,
    AIGW_USAGE_PROMPT,
    AIGW_USAGE_COMPLETION,
    AIGW_USAGE_TOTAL,
    AIGW_USAGE_PROMPT_DETAILS,
    AIGW_USAGE_COMPLETION_DETAILS,
    AIGW_USAGE_CACHED,
    AIGW_USAGE_REASONING
};


/* where the incremental scanner is inside the top-level object */
enum {
    AIGW_CAP_START = 0,         /* before the top-level '{' */
    AIGW_CAP_KEY,               /* expecting a key (or '}') at depth 1 */
    AIGW_CAP_COLON,             /* after a key, expecting ':' */
    AIGW_CAP_VALUE,             /* after the ':', up to the next ',' */
    AIGW_CAP_DONE               /* the top-level object ended, or gave up */
};


typedef struct {
    const u_char       *key;
    size_t              len;
} aigw_usage_key_t;


static int aigw_usage_fast(const u_char *p, const u_char *end,
    aigw_usage_t *u, unsigned *total);
static const u_char *aigw_usage_key(const u_char *p, const u_char *end,
    unsigned *name);
static const u_char *aigw_usage_details(const u_char *p, const u_char *end,
    unsigned field, int64_t *out);
static inline const u_char *aigw_usage_scalar(const u_char *p,
    const u_char *end, int64_t *v, unsigned *isint);
static int aigw_usage_full(const u_char *p, size_t len, aigw_usage_t *u,
    unsigned *total);
static int aigw_usage_int(aigw_json_member_t *m, size_t n, const char *name,
    size_t len, int64_t *out);
static void aigw_usage_detail(aigw_json_member_t *m, size_t n,
    const char *name, size_t len, const char *field, size_t flen,
    int64_t *out);
static void aigw_usage_capture_bytes(aigw_usage_capture_t *c,
    const u_char *p, size_t n);


/* a bit for each JSON white space byte, all of them at most ' ' */
#define AIGW_USAGE_WS                                                         \
    ((1ULL << ' ') | (1ULL << '\t') | (1ULL << '\n') | (1ULL << '\r'))

#define aigw_usage_is_digit(c)  ((u_char) ((c) - '0') <= 9)

/* whether the bytes at p, before end, are the string literal s */
#define aigw_usage_is_key(p, end, s)                                          \
    ((size_t) ((end) - (p)) >= sizeof(s) - 1                                  \
     && memcmp(p, s, sizeof(s) - 1) == 0)


/*
 * The indentation after a line break: spaces, eight at a time while eight
 * bytes are left (the byte loops take the rest).
 */

static inline const u_char *
aigw_usage_spaces(const u_char *p, const u_char *end)
{
#if defined(__GNUC__) && defined(__BYTE_ORDER__)                              \
    && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t  v;

    while (end - p >= 8) {
        __builtin_memcpy(&v, p, 8);
        v ^= 0x2020202020202020ULL;

        if (v) {
            return p + (__builtin_ctzll(v) >> 3);
        }

        p += 8;
    }
#else
    (void) end;
#endif

    return p;
}


/* the next '"', '{', '[', '}' or ']' at or after p; end if there is none */

static inline const u_char *
aigw_usage_deep_run(const u_char *p, const u_char *end)
{
    u_char    c;
#if defined(__SSE2__)
    int       mask;
    __m128i   v, w;

    /* '[' and ']' are '{' and '}' without bit 5 */

    while (end - p >= 16) {
        v = _mm_loadu_si128((const __m128i *) p);
        w = _mm_or_si128(v, _mm_set1_epi8(0x20));

        mask = _mm_movemask_epi8(
                   _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                       _mm_or_si128(_mm_cmpeq_epi8(w, _mm_set1_epi8('{')),
                                    _mm_cmpeq_epi8(w, _mm_set1_epi8('}')))));

        if (mask) {
            return p + __builtin_ctz(mask);
        }

        p += 16;
    }
#endif

    while (p < end) {
        c = *p;

        if (c == '"' || (c | 0x20) == '{' || (c | 0x20) == '}') {
            break;
        }

        p++;
    }

    return p;
}


static inline const u_char *
aigw_usage_ws(const u_char *p, const u_char *end)
{
    while (p < end && *p <= ' ' && ((AIGW_USAGE_WS >> *p) & 1)) {
        if (*p++ == '\n') {
            p = aigw_usage_spaces(p, end);
        }
    }

    return p;
}


/*
 * A usage object is nearly always integers and two flat details objects
 * under plain keys: such a text is read in one pass.  Any other (escaped
 * keys, arrays, deeper nesting, duplicates, syntax errors) goes to the
 * full parser; both give the same result for the texts the fast one takes.
 */

int
aigw_usage_parse(const u_char *p, size_t len, aigw_usage_t *u)
{
    int       rc;
    unsigned  total;

    memset(u, 0, sizeof(aigw_usage_t));

    rc = aigw_usage_fast(p, p + len, u, &total);

    if (rc == AIGW_USAGE_SLOW) {
        memset(u, 0, sizeof(aigw_usage_t));
        rc = aigw_usage_full(p, len, u, &total);
    }

    if (rc != 0) {
        return -1;
    }

    if (!total) {

        /* a negative or overflowing sum is refused below */

        if (u->prompt_tokens < 0 || u->completion_tokens < 0
            || u->completion_tokens > INT64_MAX - u->prompt_tokens)
        {
            u->total_tokens = -1;

        } else {
            u->total_tokens = u->prompt_tokens + u->completion_tokens;
        }
    }

    if (u->prompt_tokens < 0 || u->completion_tokens < 0
        || u->total_tokens < 0 || u->cached_tokens < 0
        || u->reasoning_tokens < 0)
    {
        memset(u, 0, sizeof(aigw_usage_t));
        return -1;
    }

    u->found = 1;

    return 0;
}


/*
 * Returns 0 with the counts of a simple usage object, *total set when its
 * "total_tokens" is an integer, or AIGW_USAGE_SLOW.
 */

static int
aigw_usage_fast(const u_char *p, const u_char *end, aigw_usage_t *u,
    unsigned *total)
{
    size_t             i, n, klen;
    int64_t            v;
    unsigned           isint, name;
    const u_char      *key;
    aigw_usage_key_t   keys[AIGW_USAGE_MAX_MEMBERS];

    *total = 0;
    n = 0;

    p = aigw_usage_ws(p, end);

    if (p == end || *p != '{') {
        return AIGW_USAGE_SLOW;
    }

    p = aigw_usage_ws(p + 1, end);

    if (p < end && *p == '}') {
        goto done;
    }

    for ( ;; ) {
        if (p == end || *p != '"' || n == AIGW_USAGE_MAX_MEMBERS) {
            return AIGW_USAGE_SLOW;
        }

        key = p + 1;
        p = aigw_usage_key(key, end, &name);

        if (p == NULL) {
            /* escaped keys are compared decoded, by the full parser */
            return AIGW_USAGE_SLOW;
        }

        klen = p - key;

        /* a duplicate is an error; most keys differ in length already */

        for (i = 0; i < n; i++) {
            if (keys[i].len == klen && memcmp(keys[i].key, key, klen) == 0) {
                return AIGW_USAGE_SLOW;
            }
        }

        keys[n].key = key;
        keys[n++].len = klen;

        p = aigw_usage_ws(p + 1, end);

        if (p == end || *p != ':') {
            return AIGW_USAGE_SLOW;
        }

        p = aigw_usage_ws(p + 1, end);

        if (p < end && *p == '{') {
            if (name == AIGW_USAGE_PROMPT_DETAILS) {
                p = aigw_usage_details(p, end, AIGW_USAGE_CACHED,
                                       &u->cached_tokens);

            } else if (name == AIGW_USAGE_COMPLETION_DETAILS) {
                p = aigw_usage_details(p, end, AIGW_USAGE_REASONING,
                                       &u->reasoning_tokens);

            } else {
                p = aigw_usage_details(p, end, AIGW_USAGE_OTHER, NULL);
            }

        } else {
            p = aigw_usage_scalar(p, end, &v, &isint);

            if (isint) {
                switch (name) {

                case AIGW_USAGE_PROMPT:
                    u->prompt_tokens = v;
                    break;

                case AIGW_USAGE_COMPLETION:
                    u->completion_tokens = v;
                    break;

                case AIGW_USAGE_TOTAL:
                    u->total_tokens = v;
                    *total = 1;
                    break;
                }
            }
        }

        if (p == NULL) {
            return AIGW_USAGE_SLOW;
        }

        p = aigw_usage_ws(p, end);

        if (p == end) {
            return AIGW_USAGE_SLOW;
        }

        if (*p == '}') {
            break;
        }

        if (*p != ',') {
            return AIGW_USAGE_SLOW;
        }

        p = aigw_usage_ws(p + 1, end);
    }

done:

    /* p is at the closing '}': only white space may follow */

    return aigw_usage_ws(p + 1, end) == end ? 0 : AIGW_USAGE_SLOW;
}


/*
 * p is after a key's opening quote: returns its closing quote, or NULL if
 * the key has an escape or a control byte.  The names the fast path looks
 * for are matched with their closing quote, which needs no scan.
 */

static const u_char *
aigw_usage_key(const u_char *p, const u_char *end, unsigned *name)
{
    const u_char  *q;

    *name = AIGW_USAGE_OTHER;

    if (p == end) {
        return NULL;
    }

    switch (*p) {

    case 'c':
        if (aigw_usage_is_key(p, end, "completion_tokens\"")) {
            *name = AIGW_USAGE_COMPLETION;
            return p + 17;
        }

        if (aigw_usage_is_key(p, end, "completion_tokens_details\"")) {
            *name = AIGW_USAGE_COMPLETION_DETAILS;
            return p + 25;
        }

        if (aigw_usage_is_key(p, end, "cached_tokens\"")) {
            *name = AIGW_USAGE_CACHED;
            return p + 13;
        }

        break;

    case 'p':
        if (aigw_usage_is_key(p, end, "prompt_tokens\"")) {
            *name = AIGW_USAGE_PROMPT;
            return p + 13;
        }

        if (aigw_usage_is_key(p, end, "prompt_tokens_details\"")) {
            *name = AIGW_USAGE_PROMPT_DETAILS;
            return p + 21;
        }

        break;

    case 'r':
        if (aigw_usage_is_key(p, end, "reasoning_tokens\"")) {
            *name = AIGW_USAGE_REASONING;
            return p + 16;
        }

        break;

    case 't':
        if (aigw_usage_is_key(p, end, "total_tokens\"")) {
            *name = AIGW_USAGE_TOTAL;
            return p + 12;
        }

        break;
    }

    q = aigw_json_string_run(p, end);

    return (q < end && *q == '"') ? q : NULL;
}


/*
 * p is at the '{' of an object of scalars under plain, distinct keys; the
 * integer field (if any) goes to *out.  Returns the byte after its '}', or
 * NULL for the full parser.
 */

static const u_char *
aigw_usage_details(const u_char *p, const u_char *end, unsigned field,
    int64_t *out)
{
    size_t             i, n, klen;
    int64_t            v;
    unsigned           isint, name;
    const u_char      *key;
    aigw_usage_key_t   keys[AIGW_USAGE_MAX_DETAILS];

    n = 0;

    p = aigw_usage_ws(p + 1, end);

    if (p < end && *p == '}') {
        return p + 1;
    }

    for ( ;; ) {
        if (p == end || *p != '"' || n == AIGW_USAGE_MAX_DETAILS) {
            return NULL;
        }

        key = p + 1;
        p = aigw_usage_key(key, end, &name);

        if (p == NULL) {
            return NULL;
        }

        klen = p - key;

        for (i = 0; i < n; i++) {
            if (keys[i].len == klen && memcmp(keys[i].key, key, klen) == 0) {
                return NULL;
            }
        }

        keys[n].key = key;
        keys[n++].len = klen;

        p = aigw_usage_ws(p + 1, end);

        if (p == end || *p != ':') {
            return NULL;
        }

        p = aigw_usage_scalar(aigw_usage_ws(p + 1, end), end, &v, &isint);

        if (p == NULL) {
            return NULL;
        }

        if (isint && name == field && field != AIGW_USAGE_OTHER) {
            *out = v;
        }

        p = aigw_usage_ws(p, end);

        if (p == end) {
            return NULL;
        }

        if (*p == '}') {
            return p + 1;
        }

        if (*p != ',') {
            return NULL;
        }

        p = aigw_usage_ws(p + 1, end);
    }
}


/*
 * A number, a string without escapes, or a literal: returns the byte after
 * it, with *isint and *v when it is an integer that fits in int64_t; NULL
 * for anything else.
 */

static inline const u_char *
aigw_usage_scalar(const u_char *p, const u_char *end, int64_t *v,
    unsigned *isint)
{
    int            neg;
    uint64_t       n;
    const u_char  *start, *digits;

    *isint = 0;

    if (p == end) {
        return NULL;
    }

    start = p;
    neg = (*p == '-');
    p += neg;

    if (p == end || !aigw_usage_is_digit(*p)) {

        if (neg) {
            return NULL;
        }

        switch (*p) {

        case '"':
            p = aigw_json_string_run(p + 1, end);
            return (p < end && *p == '"') ? p + 1 : NULL;

        case 'n':
            return (end - p >= 4 && memcmp(p, "null", 4) == 0) ? p + 4
                                                               : NULL;

        case 't':
            return (end - p >= 4 && memcmp(p, "true", 4) == 0) ? p + 4
                                                               : NULL;

        case 'f':
            return (end - p >= 5 && memcmp(p, "false", 5) == 0) ? p + 5
                                                                : NULL;
        }

        return NULL;
    }

    digits = p;
    n = 0;

    if (*p == '0') {
        p++;

    } else {
        while (p < end && aigw_usage_is_digit(*p)) {
            n = n * 10 + (*p++ - '0');
        }
    }

    if (p < end && (*p == '.' || *p == 'e' || *p == 'E')) {

        /* not an integer: only checked */

        if (*p == '.') {
            p++;

            if (p == end || !aigw_usage_is_digit(*p)) {
                return NULL;
            }

            while (p < end && aigw_usage_is_digit(*p)) {
                p++;
            }
        }

        if (p < end && (*p == 'e' || *p == 'E')) {
            p++;

            if (p < end && (*p == '+' || *p == '-')) {
                p++;
            }

            if (p == end || !aigw_usage_is_digit(*p)) {
                return NULL;
            }

            while (p < end && aigw_usage_is_digit(*p)) {
                p++;
            }
        }

        return p;
    }

    if (p - digits > 18) {
        /* near the limits of int64_t: the strict conversion decides */
        *isint = (aigw_json_int(start, p - start, v) == 0);
        return p;
    }

    *v = neg ? -(int64_t) n : (int64_t) n;
    *isint = 1;

    return p;
}


/* any usage text: validated whole, then its members looked up */

static int
aigw_usage_full(const u_char *p, size_t len, aigw_usage_t *u,
    unsigned *total)
{
    size_t              n;
    aigw_json_error_t   err;
    aigw_json_member_t  m[AIGW_USAGE_MAX_MEMBERS];

    if (aigw_json_parse_object(p, len, m, AIGW_USAGE_MAX_MEMBERS, &n,
                               AIGW_USAGE_MAX_DEPTH, &err)
        != AIGW_JSON_OK)
    {
        return -1;
    }

    (void) aigw_usage_int(m, n, "prompt_tokens", 13, &u->prompt_tokens);
    (void) aigw_usage_int(m, n, "completion_tokens", 17,
                          &u->completion_tokens);

    *total = (aigw_usage_int(m, n, "total_tokens", 12, &u->total_tokens)
              == 0);

    aigw_usage_detail(m, n, "prompt_tokens_details", 21, "cached_tokens", 13,
                      &u->cached_tokens);
    aigw_usage_detail(m, n, "completion_tokens_details", 25,
                      "reasoning_tokens", 16, &u->reasoning_tokens);

    return 0;
}


static int
aigw_usage_int(aigw_json_member_t *m, size_t n, const char *name,
    size_t len, int64_t *out)
{
    aigw_json_member_t  *v;

    v = aigw_json_find(m, n, name, len);

    if (v == NULL || v->type != AIGW_JSON_NUMBER) {
        return -1;
    }

    return aigw_json_int(v->value, v->value_len, out);
}


static void
aigw_usage_detail(aigw_json_member_t *m, size_t n, const char *name,
    size_t len, const char *field, size_t flen, int64_t *out)
{
    size_t               dn;
    aigw_json_error_t    err;
    aigw_json_member_t  *v, dm[AIGW_USAGE_MAX_MEMBERS];

    v = aigw_json_find(m, n, name, len);

    if (v == NULL || v->type != AIGW_JSON_OBJECT) {
        return;
    }

    if (aigw_json_parse_object(v->value, v->value_len, dm,
                               AIGW_USAGE_MAX_MEMBERS, &dn,
                               AIGW_USAGE_MAX_DEPTH, &err)
        == AIGW_JSON_OK)
    {
        (void) aigw_usage_int(dm, dn, field, flen, out);
    }
}


void
aigw_usage_capture_init(aigw_usage_capture_t *c)
{
    c->depth = 0;
    c->state = AIGW_CAP_START;
    c->in_string = 0;
    c->escape = 0;
    c->capturing = 0;
    c->captured = 0;
    c->overflow = 0;
    c->key_len = 0;
    c->len = 0;
}


/*
 * Bytes outside strings that change nothing: white space and the letters
 * of numbers and literals.
 */

static const u_char  aigw_usage_plain[256] = {
    ['\t'] = 1, ['\n'] = 1, ['\r'] = 1, [' '] = 1, ['+'] = 1, ['-'] = 1,
    ['.'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
    ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1, ['E'] = 1,
    ['a'] = 1, ['e'] = 1, ['f'] = 1, ['l'] = 1, ['n'] = 1, ['r'] = 1,
    ['s'] = 1, ['t'] = 1, ['u'] = 1
};


/*
 * Tracks strings and nesting only; the captured text is validated when it
 * is parsed.  The usage value is every byte after its ':' up to the ',' or
 * '}' that returns to the top level: while capturing, "mark" is where the
 * bytes not yet copied start, and they are copied in one piece.
 *
 * Outside strings only seven bytes mean anything.  String contents, most
 * of a body, are skipped many bytes at a time, and so is the indentation
 * of a pretty-printed answer.  The usual sequences of JSON text (a key,
 * ": ", a value, ",", a line break, the indentation, the next key) go from
 * one step to the next without a dispatch on each byte; every step does
 * what the byte by byte loop would.  The state lives in locals meanwhile.
 */

void
aigw_usage_capture_feed(aigw_usage_capture_t *c, const u_char *p, size_t len)
{
    u_char         ch;
    size_t         key_len;
    unsigned       state, depth;
    const u_char  *end, *q, *mark;

    if (c->state == AIGW_CAP_DONE) {
        /* bytes after the top-level object are not the answer's */
        return;
    }

    end = p + len;
    mark = p;

    state = c->state;
    depth = c->depth;
    key_len = c->key_len;

    if (c->in_string) {
        if (c->escape) {
            if (p == end) {
                return;
            }

            c->escape = 0;
            p++;
        }

        if (state == AIGW_CAP_KEY) {
            goto key;
        }

        goto string;
    }

    if (depth >= 2 && state != AIGW_CAP_KEY) {
        goto deep;
    }

outside:

    while (p < end) {
        ch = *p++;

        switch (ch) {

        case '\n':
            goto newline;

        case '"':
            goto quote;

        case ':':
            goto colon;

        case ',':
            goto comma;

        case '{':
        case '[':
            if (state == AIGW_CAP_START) {
                depth = 1;

                if (ch == '[') {
                    /* not an object: no "usage" member to find */
                    c->state = AIGW_CAP_DONE;
                    return;
                }

                state = AIGW_CAP_KEY;
                continue;
            }

            if (++depth >= 2 && state != AIGW_CAP_KEY) {
                goto deep;
            }

            continue;

        case '}':
        case ']':
            if (depth <= 1) {
                if (c->capturing) {
                    aigw_usage_capture_bytes(c, mark, p - 1 - mark);
                    c->capturing = 0;
                    c->captured = 1;
                }

                c->state = AIGW_CAP_DONE;
                return;
            }

            depth--;
            goto value_end;

        default:
            /* white space, numbers, literals: nothing to track */

            while (p < end && aigw_usage_plain[*p]) {
                p++;
            }

            goto value_end;
        }
    }

    c->in_string = 0;

    goto save;

value_end:

    if (p == end || *p != ',') {
        goto outside;
    }

    p++;

comma:

    if (depth == 1) {
        if (c->capturing) {
            aigw_usage_capture_bytes(c, mark, p - 1 - mark);
            c->capturing = 0;
            c->captured = 1;
        }

        state = AIGW_CAP_KEY;
    }

    if (p == end) {
        goto outside;
    }

    if (*p == '"') {
        p++;
        goto quote;
    }

    if (*p != '\n') {
        goto outside;
    }

    p++;

newline:

    p = aigw_usage_spaces(p, end);

    if (p == end || *p != '"') {
        goto outside;
    }

    p++;
    goto quote;

colon:

    if (depth == 1 && state == AIGW_CAP_COLON) {
        state = AIGW_CAP_VALUE;

        if (key_len == 5 && memcmp(c->key, "usage", 5) == 0
            && !c->captured)
        {
            c->capturing = 1;
            c->len = 0;
            mark = p;
        }
    }

    /* the usual ": ", then often a string */

    if (p < end && *p == ' ') {
        p++;
    }

    if (p == end || *p != '"') {
        goto outside;
    }

    p++;

quote:

    if (state != AIGW_CAP_KEY) {
        goto string;
    }

    key_len = 0;

key:

    /*
     * only a key of at most five bytes can be "usage": the bytes of longer
     * ones are counted, not copied; a key spelled with escapes or holding a
     * raw control byte never matches, its length is pushed past any match
     */

    for ( ;; ) {
        q = aigw_json_string_run(p, end);

        if (key_len + (q - p) > 5) {
            key_len += q - p;

        } else if (key_len == 0 && end - p >= 8) {
            /* a whole key of at most five bytes: one fixed-size copy */
            memcpy(c->key, p, 8);
            key_len = q - p;
            p = q;

        } else {
            while (p < q) {
                c->key[key_len++] = *p++;
            }
        }

        if (q == end) {
            c->in_string = 1;
            c->escape = 0;
            goto save;
        }

        p = q + 1;

        if (*q == '"') {
            break;
        }

        key_len = sizeof(c->key) + 1;

        if (*q == '\\') {
            if (p == end) {
                c->in_string = 1;
                c->escape = 1;
                goto save;
            }

            /* the escaped byte is no quote */
            p++;
        }
    }

    state = AIGW_CAP_COLON;

    if (p < end && *p == ':') {
        p++;
        goto colon;
    }

    goto outside;

string:

    for ( ;; ) {
        q = aigw_json_string_run(p, end);

        if (q == end) {
            c->in_string = 1;
            c->escape = 0;
            goto save;
        }

        p = q + 1;

        if (*q == '"') {
            break;
        }

        if (*q == '\\') {
            if (p == end) {
                c->in_string = 1;
                c->escape = 1;
                goto save;
            }

            p++;
        }
    }

    if (depth < 2) {
        goto value_end;
    }

deep:

    /*
     * Deeper than the top level, outside a key, ':' and ',' change nothing:
     * only strings and brackets are looked for, many bytes at a time.
     */

    for ( ;; ) {
        p = aigw_usage_deep_run(p, end);

        if (p == end) {
            c->in_string = 0;
            goto save;
        }

        ch = *p++;

        if (ch == '"') {
            goto string;
        }

        if (ch == '{' || ch == '[') {
            depth++;
            continue;
        }

        if (--depth == 1) {
            goto value_end;
        }
    }

save:

    c->state = state;
    c->depth = depth;
    c->key_len = key_len;

    if (c->capturing) {
        aigw_usage_capture_bytes(c, mark, end - mark);
    }
}


static void
aigw_usage_capture_bytes(aigw_usage_capture_t *c, const u_char *p, size_t n)
{
    if (c->len + n <= sizeof(c->buf)) {
        memcpy(c->buf + c->len, p, n);
        c->len += n;

    } else {
        c->overflow = 1;
    }
}


int
aigw_usage_capture_result(aigw_usage_capture_t *c, aigw_usage_t *u)
{
    if (!(c->captured || c->capturing) || c->overflow || c->len == 0) {
        return -1;
    }

    return aigw_usage_parse(c->buf, c->len, u);
}


int
aigw_usage_from_chunk(const u_char *data, size_t len, aigw_usage_t *u,
    int *usage_only)
{
    size_t              n;
    aigw_json_error_t   err;
    aigw_json_member_t  m[AIGW_USAGE_MAX_MEMBERS], *v;

    *usage_only = 0;

    if (aigw_json_parse_object(data, len, m, AIGW_USAGE_MAX_MEMBERS, &n,
                               AIGW_USAGE_MAX_DEPTH * 4, &err)
        != AIGW_JSON_OK)
    {
        return -1;
    }

    v = aigw_json_find(m, n, "usage", 5);

    if (v == NULL || v->type != AIGW_JSON_OBJECT) {
        return 0;
    }

    if (aigw_usage_parse(v->value, v->value_len, u) != 0) {
        return 0;
    }

    v = aigw_json_find(m, n, "choices", 7);

    if (v != NULL && v->type == AIGW_JSON_ARRAY
        && aigw_json_array_empty(v->value, v->value_len))
    {
        *usage_only = 1;
    }

    return 1;
}
