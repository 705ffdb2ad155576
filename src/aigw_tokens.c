/*
 * aigw: a cheap estimate of the prompt tokens of a request body.
 */


#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "aigw_json.h"
#include "aigw_tokens.h"


/*
 * One walk over the parts of the body that count: each value is read once,
 * a string's tokens are counted as its end is found, and the members that
 * do not count are skipped.  The walk never recurses on the input's
 * nesting and never reads past the end: a value that is cut or malformed
 * makes the walker give up on the top-level member that holds it, so a
 * body cut short never counts more than the whole one.
 */


/* the member names the estimate looks for */
typedef enum {
    AIGW_TK_OTHER = 0,
    AIGW_TK_MESSAGES,
    AIGW_TK_TOOLS,
    AIGW_TK_FUNCTIONS,
    AIGW_TK_CONTENT,
    AIGW_TK_NAME,
    AIGW_TK_TOOL_CALLS,
    AIGW_TK_FUNCTION_CALL,
    AIGW_TK_TYPE,
    AIGW_TK_TEXT,
    AIGW_TK_FUNCTION,
    AIGW_TK_ARGUMENTS,
    AIGW_TK_PROMPT,
    AIGW_TK_INPUT,
    AIGW_TK_MAX_COMPLETION_TOKENS,
    AIGW_TK_MAX_TOKENS,
    AIGW_TK_LAST
} aigw_tokens_key_e;


typedef struct {
    const char         *name;
    size_t              len;
} aigw_tokens_name_t;


static const aigw_tokens_name_t  aigw_tokens_names[AIGW_TK_LAST] = {
    { "", 0 },
    { "messages", 8 },
    { "tools", 5 },
    { "functions", 9 },
    { "content", 7 },
    { "name", 4 },
    { "tool_calls", 10 },
    { "function_call", 13 },
    { "type", 4 },
    { "text", 4 },
    { "function", 8 },
    { "arguments", 9 },
    { "prompt", 6 },
    { "input", 5 },
    { "max_completion_tokens", 21 },
    { "max_tokens", 10 }
};


static aigw_tokens_key_e aigw_tokens_key(const u_char *key, size_t len,
    unsigned escaped);
static int aigw_tokens_next(const u_char **pp, const u_char *end,
    u_char close, aigw_tokens_key_e *key);
static const u_char *aigw_tokens_skip(const u_char *p, const u_char *end);
static const u_char *aigw_tokens_skip_string(const u_char *p,
    const u_char *end);
static const u_char *aigw_tokens_text(const u_char *p, const u_char *end,
    int64_t *n);
static void aigw_tokens_run(const u_char *p, const u_char *q,
    const u_char *end, int64_t *ascii, int64_t *other);
#if defined(__GNUC__) && defined(__BYTE_ORDER__)                              \
    && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
static int aigw_tokens_high(const u_char *p, const u_char *q,
    const u_char *end);
#endif
static int aigw_tokens_hex4(const u_char *p, uint32_t *out);
static const u_char *aigw_tokens_string(const u_char *p, const u_char *end,
    int64_t *n);
static const u_char *aigw_tokens_messages(const u_char *p,
    const u_char *end, int64_t *n);
static const u_char *aigw_tokens_message(const u_char *p,
    const u_char *end, int64_t *n);
static const u_char *aigw_tokens_content(const u_char *p,
    const u_char *end, int64_t *n);
static const u_char *aigw_tokens_part(const u_char *p, const u_char *end,
    int64_t *n);
static const u_char *aigw_tokens_tool_calls(const u_char *p,
    const u_char *end, int64_t *n);
static const u_char *aigw_tokens_function(const u_char *p,
    const u_char *end, int64_t *n);
static const u_char *aigw_tokens_input(const u_char *p, const u_char *end,
    int64_t *n);
static const u_char *aigw_tokens_count(const u_char *p, const u_char *end,
    int64_t *n);


#define aigw_tokens_ascii(n)  (((int64_t) (n) + 3) / 4)

#define aigw_tokens_is_ws(c)                                                  \
    ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t')

/* a bit for each JSON white space byte and ',', all of them below 64 */
#define AIGW_TOKENS_WS                                                        \
    ((1ULL << ' ') | (1ULL << '\t') | (1ULL << '\n') | (1ULL << '\r'))
#define AIGW_TOKENS_WS_COMMA  (AIGW_TOKENS_WS | (1ULL << ','))


static inline const u_char *
aigw_tokens_ws(const u_char *p, const u_char *end)
{
    while (p < end && *p <= ' ' && ((AIGW_TOKENS_WS >> *p) & 1)) {
        p++;
    }

    return p;
}


int64_t
aigw_tokens_estimate(const u_char *body, size_t len, unsigned endpoint)
{
    int64_t             n, t;
    aigw_tokens_key_e   key, want;
    const u_char       *p, *q, *end;

    if (endpoint != AIGW_TOKENS_CHAT && endpoint != AIGW_TOKENS_COMPLETIONS
        && endpoint != AIGW_TOKENS_EMBEDDINGS)
    {
        n = aigw_tokens_ascii(len);
        return n > 0 ? n : 1;
    }

    n = (endpoint == AIGW_TOKENS_CHAT) ? AIGW_TOKENS_PRIMER : 0;
    want = (endpoint == AIGW_TOKENS_COMPLETIONS) ? AIGW_TK_PROMPT
                                                 : AIGW_TK_INPUT;

    end = body + len;
    p = aigw_tokens_ws(body, end);

    if (p == end || *p != '{') {
        return n > 0 ? n : 1;
    }

    p++;

    while (aigw_tokens_next(&p, end, '}', &key) == 1) {
        t = 0;

        if (endpoint != AIGW_TOKENS_CHAT) {
            p = (key == want) ? aigw_tokens_input(p, end, &t)
                              : aigw_tokens_skip(p, end);

        } else if (key == AIGW_TK_MESSAGES) {
            p = aigw_tokens_messages(p, end, &t);

        } else if (key == AIGW_TK_TOOLS || key == AIGW_TK_FUNCTIONS) {

            /* schemas are mostly ASCII keys and punctuation */

            q = aigw_tokens_skip(p, end);

            if (q != NULL) {
                t = aigw_tokens_ascii(q - p);
            }

            p = q;

        } else {
            p = aigw_tokens_skip(p, end);
        }

        if (p == NULL) {
            break;
        }

        n += t;
    }

    return n > 0 ? n : 1;
}


/*
 * The same from the top-level members that aigw_json_parse_object() found
 * in the body: only the values that count are read.
 */

int64_t
aigw_tokens_estimate_members(const u_char *body, size_t len,
    const aigw_json_member_t *m, size_t nm, unsigned endpoint)
{
    size_t              i;
    int64_t             n, t;
    aigw_tokens_key_e   key, want;
    const u_char       *end;

    (void) body;

    switch (endpoint) {

    case AIGW_TOKENS_CHAT:
        n = AIGW_TOKENS_PRIMER;

        for (i = 0; i < nm; i++) {
            key = aigw_tokens_key(m[i].key, m[i].key_len, m[i].key_escaped);

            if (key == AIGW_TK_MESSAGES) {
                end = m[i].value + m[i].value_len;

                if (aigw_tokens_messages(m[i].value, end, &t) != NULL) {
                    n += t;
                }

            } else if (key == AIGW_TK_TOOLS || key == AIGW_TK_FUNCTIONS) {
                n += aigw_tokens_ascii(m[i].value_len);
            }
        }

        break;

    case AIGW_TOKENS_COMPLETIONS:
    case AIGW_TOKENS_EMBEDDINGS:
        n = 0;
        want = (endpoint == AIGW_TOKENS_COMPLETIONS) ? AIGW_TK_PROMPT
                                                     : AIGW_TK_INPUT;

        for (i = 0; i < nm; i++) {
            if (aigw_tokens_key(m[i].key, m[i].key_len, m[i].key_escaped)
                != want)
            {
                continue;
            }

            end = m[i].value + m[i].value_len;

            if (aigw_tokens_input(m[i].value, end, &t) != NULL) {
                n += t;
            }
        }

        break;

    default:
        n = aigw_tokens_ascii(len);
    }

    return n > 0 ? n : 1;
}


int64_t
aigw_tokens_max_completion(const u_char *body, size_t len, int64_t dflt)
{
    int64_t             v, mct, mt;
    aigw_tokens_key_e   key;
    const u_char       *p, *q, *end;

    mct = -1;
    mt = -1;

    end = body + len;
    p = aigw_tokens_ws(body, end);

    if (p == end || *p != '{') {
        return dflt;
    }

    p++;

    while (aigw_tokens_next(&p, end, '}', &key) == 1) {
        q = aigw_tokens_skip(p, end);

        if (q == NULL) {
            break;
        }

        if ((key == AIGW_TK_MAX_COMPLETION_TOKENS || key == AIGW_TK_MAX_TOKENS)
            && aigw_json_int(p, q - p, &v) == 0 && v >= 0)
        {
            if (key == AIGW_TK_MAX_COMPLETION_TOKENS) {
                mct = v;

            } else {
                mt = v;
            }
        }

        p = q;
    }

    return mct >= 0 ? mct : (mt >= 0 ? mt : dflt);
}


/* which of the names a raw key is: by length, then by its bytes */

static aigw_tokens_key_e
aigw_tokens_key(const u_char *key, size_t len, unsigned escaped)
{
    size_t  i;

    if (escaped) {
        for (i = 1; i < AIGW_TK_LAST; i++) {
            if (aigw_json_str_eq(key, len, 1,
                                 (const u_char *) aigw_tokens_names[i].name,
                                 aigw_tokens_names[i].len))
            {
                return (aigw_tokens_key_e) i;
            }
        }

        return AIGW_TK_OTHER;
    }

    switch (len) {

    case 4:
        if (memcmp(key, "name", 4) == 0) {
            return AIGW_TK_NAME;
        }

        if (memcmp(key, "type", 4) == 0) {
            return AIGW_TK_TYPE;
        }

        if (memcmp(key, "text", 4) == 0) {
            return AIGW_TK_TEXT;
        }

        break;

    case 5:
        if (memcmp(key, "tools", 5) == 0) {
            return AIGW_TK_TOOLS;
        }

        if (memcmp(key, "input", 5) == 0) {
            return AIGW_TK_INPUT;
        }

        break;

    case 6:
        if (memcmp(key, "prompt", 6) == 0) {
            return AIGW_TK_PROMPT;
        }

        break;

    case 7:
        if (memcmp(key, "content", 7) == 0) {
            return AIGW_TK_CONTENT;
        }

        break;

    case 8:
        if (memcmp(key, "messages", 8) == 0) {
            return AIGW_TK_MESSAGES;
        }

        if (memcmp(key, "function", 8) == 0) {
            return AIGW_TK_FUNCTION;
        }

        break;

    case 9:
        if (memcmp(key, "functions", 9) == 0) {
            return AIGW_TK_FUNCTIONS;
        }

        if (memcmp(key, "arguments", 9) == 0) {
            return AIGW_TK_ARGUMENTS;
        }

        break;

    case 10:
        if (memcmp(key, "tool_calls", 10) == 0) {
            return AIGW_TK_TOOL_CALLS;
        }

        if (memcmp(key, "max_tokens", 10) == 0) {
            return AIGW_TK_MAX_TOKENS;
        }

        break;

    case 13:
        if (memcmp(key, "function_call", 13) == 0) {
            return AIGW_TK_FUNCTION_CALL;
        }

        break;

    case 21:
        if (memcmp(key, "max_completion_tokens", 21) == 0) {
            return AIGW_TK_MAX_COMPLETION_TOKENS;
        }

        break;
    }

    return AIGW_TK_OTHER;
}


/*
 * Moves *pp, inside an object or array, past white space and commas to the
 * next value (reading the member's key into *key): returns 1 there, 0 past
 * the closing bracket, -1 when the text is cut or broken.
 */

static int
aigw_tokens_next(const u_char **pp, const u_char *end, u_char close,
    aigw_tokens_key_e *key)
{
    const u_char  *p, *q;

    p = *pp;

    while (p < end && *p <= ',' && ((AIGW_TOKENS_WS_COMMA >> *p) & 1)) {
        p++;
    }

    if (p == end) {
        return -1;
    }

    if (*p == close) {
        *pp = p + 1;
        return 0;
    }

    if (close == '}') {
        if (*p != '"') {
            return -1;
        }

        q = aigw_json_string_run(p + 1, end);

        if (q < end && *q == '"') {
            *key = aigw_tokens_key(p + 1, q - p - 1, 0);
            q++;

        } else {
            q = aigw_tokens_skip_string(p, end);
            if (q == NULL) {
                return -1;
            }

            *key = aigw_tokens_key(p + 1, q - p - 2,
                                   memchr(p + 1, '\\', q - p - 2) != NULL);
        }

        p = aigw_tokens_ws(q, end);

        if (p == end || *p != ':') {
            return -1;
        }

        p = aigw_tokens_ws(p + 1, end);

        if (p == end) {
            return -1;
        }
    }

    *pp = p;

    return 1;
}


/* the byte after the value at p, or NULL */

static const u_char *
aigw_tokens_skip(const u_char *p, const u_char *end)
{
    size_t         depth;
    const u_char  *start;

    if (p == end) {
        return NULL;
    }

    if (*p == '"') {
        return aigw_tokens_skip_string(p, end);
    }

    if (*p != '{' && *p != '[') {
        start = p;

        while (p < end && !aigw_tokens_is_ws(*p) && *p != ','
               && *p != ']' && *p != '}' && *p != ':')
        {
            p++;
        }

        return p == start ? NULL : p;
    }

    depth = 0;

    while (p < end) {
        switch (*p) {

        case '"':
            p = aigw_tokens_skip_string(p, end);
            if (p == NULL) {
                return NULL;
            }

            continue;

        case '{':
        case '[':
            depth++;
            break;

        case '}':
        case ']':
            if (--depth == 0) {
                return p + 1;
            }

            break;
        }

        p++;
    }

    return NULL;
}


/* p is at the opening quote; returns the position after the closing one */

static const u_char *
aigw_tokens_skip_string(const u_char *p, const u_char *end)
{
    p++;

    while (p < end) {
        p = aigw_json_string_run(p, end);

        if (p == end) {
            break;
        }

        if (*p == '"') {
            return p + 1;
        }

        if (*p == '\\') {
            /* the escaped byte is skipped; \uXXXX has no quote in it */

            if (end - p < 2) {
                return NULL;
            }

            p++;
        }

        p++;
    }

    return NULL;
}


/*
 * p is at a string's opening quote: returns the byte after its closing
 * quote, with the tokens of its decoded text in *n, or NULL if it is not
 * closed.  The plain runs between escapes are counted as they are found.
 */

static const u_char *
aigw_tokens_text(const u_char *p, const u_char *end, int64_t *n)
{
    int64_t        ascii, other;
    uint32_t       cp, lo;
    const u_char  *q;

    ascii = 0;
    other = 0;

    p++;

    for ( ;; ) {
        q = aigw_json_string_run(p, end);

        if (q != p) {
            aigw_tokens_run(p, q, end, &ascii, &other);
        }

        if (q == end) {
            return NULL;
        }

        p = q + 1;

        if (*q == '"') {
            break;
        }

        if (*q != '\\') {
            /* a raw control byte */
            ascii++;
            continue;
        }

        if (p == end) {
            return NULL;
        }

        /*
         * The hex digits of \uXXXX are no quote: when they are there, the
         * string goes on past them, or is not closed at all.
         */

        if (*p != 'u' || end - p < 5 || aigw_tokens_hex4(p + 1, &cp) != 0) {
            /* "\n", "\"" and the like: one ASCII byte */
            p++;
            ascii++;
            continue;
        }

        p += 5;

        if (cp < 0x80) {
            ascii++;
            continue;
        }

        /* a surrogate pair is one character */

        if (cp >= 0xd800 && cp <= 0xdbff && end - p >= 6
            && p[0] == '\\' && p[1] == 'u'
            && aigw_tokens_hex4(p + 2, &lo) == 0
            && lo >= 0xdc00 && lo <= 0xdfff)
        {
            p += 6;
        }

        other++;
    }

    *n = aigw_tokens_ascii(ascii) + other;

    return p;
}


/*
 * Counts the plain run [p, q) of a string: ASCII bytes, and the lead bytes
 * of the other characters (continuation bytes are 10xxxxxx).  Most text is
 * ASCII, which a pass of ORs over the run shows.
 */

static void
aigw_tokens_run(const u_char *p, const u_char *q, const u_char *end,
    int64_t *ascii, int64_t *other)
{
    u_char    c;

#if defined(__GNUC__) && defined(__BYTE_ORDER__)                              \
    && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t  v, hi;

    if (!aigw_tokens_high(p, q, end)) {
        *ascii += q - p;
        return;
    }

    while (q - p >= 8) {
        __builtin_memcpy(&v, p, 8);

        hi = v & 0x8080808080808080ULL;

        *ascii += 8 - __builtin_popcountll(hi);
        *other += __builtin_popcountll(v & (v << 1) & 0x8080808080808080ULL);

        p += 8;
    }
#else
    (void) end;
#endif

    while (p < q) {
        c = *p++;

        if (c < 0x80) {
            (*ascii)++;

        } else if (c >= 0xc0) {
            /* a lead byte starts a character, continuation bytes do not */
            (*other)++;
        }
    }
}


#if defined(__GNUC__) && defined(__BYTE_ORDER__)                              \
    && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__

/*
 * Whether a byte of [p, q) has its high bit set.  No load reaches end: the
 * last, partial block is read whole only when it ends before end, and its
 * bytes from q on are masked off.
 */

static int
aigw_tokens_high(const u_char *p, const u_char *q, const u_char *end)
{
#if defined(__SSE2__)
    int       tail;
    __m128i   acc;

    acc = _mm_setzero_si128();

    while (q - p >= 32) {
        acc = _mm_or_si128(acc,
                  _mm_or_si128(_mm_loadu_si128((const __m128i *) p),
                               _mm_loadu_si128((const __m128i *) (p + 16))));
        p += 32;
    }

    if (q - p >= 16) {
        acc = _mm_or_si128(acc, _mm_loadu_si128((const __m128i *) p));
        p += 16;
    }

    tail = 0;

    if (p < q) {
        if (end - p >= 16) {
            tail = _mm_movemask_epi8(_mm_loadu_si128((const __m128i *) p))
                   & ((1 << (q - p)) - 1);

        } else {
            while (p < q) {
                tail |= *p++ & 0x80;
            }
        }
    }

    return (_mm_movemask_epi8(acc) | tail) != 0;

#else
    uint64_t  v, w, acc;

    acc = 0;

    while (q - p >= 16) {
        __builtin_memcpy(&v, p, 8);
        __builtin_memcpy(&w, p + 8, 8);
        acc |= v | w;
        p += 16;
    }

    if (q - p >= 8) {
        __builtin_memcpy(&v, p, 8);
        acc |= v;
        p += 8;
    }

    if (p < q) {
        if (end - p >= 8) {
            __builtin_memcpy(&v, p, 8);
            acc |= v & ((1ULL << ((q - p) * 8)) - 1);

        } else {
            while (p < q) {
                acc |= *p++;
            }
        }
    }

    return (acc & 0x8080808080808080ULL) != 0;
#endif
}

#endif


static int
aigw_tokens_hex4(const u_char *p, uint32_t *out)
{
    u_char    c;
    size_t    i;
    uint32_t  v;

    v = 0;

    for (i = 0; i < 4; i++) {
        c = p[i];

        if (c >= '0' && c <= '9') {
            v = (v << 4) | (uint32_t) (c - '0');

        } else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') {
            v = (v << 4) | (uint32_t) ((c | 0x20) - 'a' + 10);

        } else {
            return -1;
        }
    }

    *out = v;

    return 0;
}


/* the tokens of a string value; 0 for any other type */

static const u_char *
aigw_tokens_string(const u_char *p, const u_char *end, int64_t *n)
{
    *n = 0;

    if (*p == '"') {
        return aigw_tokens_text(p, end, n);
    }

    return aigw_tokens_skip(p, end);
}


/*
 * The walkers below take p at a value (never at end) and return the byte
 * after it with its tokens in *n, or NULL.
 */

static const u_char *
aigw_tokens_messages(const u_char *p, const u_char *end, int64_t *n)
{
    int      rc;
    int64_t  t;

    *n = 0;

    if (*p != '[') {
        return aigw_tokens_skip(p, end);
    }

    p++;

    while ((rc = aigw_tokens_next(&p, end, ']', NULL)) == 1) {
        p = aigw_tokens_message(p, end, &t);
        if (p == NULL) {
            return NULL;
        }

        *n += t;
    }

    return rc == 0 ? p : NULL;
}


static const u_char *
aigw_tokens_message(const u_char *p, const u_char *end, int64_t *n)
{
    int                 rc;
    int64_t             t;
    aigw_tokens_key_e   key;

    *n = AIGW_TOKENS_MESSAGE;

    if (*p != '{') {
        return aigw_tokens_skip(p, end);
    }

    p++;

    while ((rc = aigw_tokens_next(&p, end, '}', &key)) == 1) {
        t = 0;

        switch (key) {

        case AIGW_TK_CONTENT:
            p = aigw_tokens_content(p, end, &t);
            break;

        case AIGW_TK_NAME:
            p = aigw_tokens_string(p, end, &t);
            break;

        case AIGW_TK_TOOL_CALLS:
            p = aigw_tokens_tool_calls(p, end, &t);
            break;

        case AIGW_TK_FUNCTION_CALL:
            p = aigw_tokens_function(p, end, &t);
            break;

        default:
            p = aigw_tokens_skip(p, end);
        }

        if (p == NULL) {
            return NULL;
        }

        *n += t;
    }

    return rc == 0 ? p : NULL;
}


/* a string, or an array of parts */

static const u_char *
aigw_tokens_content(const u_char *p, const u_char *end, int64_t *n)
{
    int      rc;
    int64_t  t;

    if (*p != '[') {
        return aigw_tokens_string(p, end, n);
    }

    *n = 0;
    p++;

    while ((rc = aigw_tokens_next(&p, end, ']', NULL)) == 1) {
        p = aigw_tokens_part(p, end, &t);
        if (p == NULL) {
            return NULL;
        }

        *n += t;
    }

    return rc == 0 ? p : NULL;
}


static const u_char *
aigw_tokens_part(const u_char *p, const u_char *end, int64_t *n)
{
    int                 rc;
    int64_t             text;
    unsigned            is_text, has_type, has_text;
    const u_char       *q;
    aigw_tokens_key_e   key;

    if (*p != '{') {
        return aigw_tokens_string(p, end, n);
    }

    /* "type" may come after "text"; the last of each counts */

    has_type = 0;
    has_text = 0;
    is_text = 0;
    text = 0;

    p++;

    while ((rc = aigw_tokens_next(&p, end, '}', &key)) == 1) {

        if (key == AIGW_TK_TEXT) {
            p = aigw_tokens_string(p, end, &text);
            has_text = 1;

        } else if (key == AIGW_TK_TYPE) {
            q = aigw_tokens_skip(p, end);

            has_type = 1;
            is_text = q != NULL && q - p >= 2 && *p == '"'
                      && aigw_json_str_eq(p + 1, q - p - 2,
                                          memchr(p + 1, '\\', q - p - 2)
                                          != NULL,
                                          (const u_char *) "text", 4);
            p = q;

        } else {
            p = aigw_tokens_skip(p, end);
        }

        if (p == NULL) {
            return NULL;
        }
    }

    if (rc != 0) {
        return NULL;
    }

    if (has_type && is_text) {
        *n = has_text ? text : 0;

    } else {
        /* an image, audio or file: never counted from its data's size */
        *n = AIGW_TOKENS_IMAGE;
    }

    return p;
}


static const u_char *
aigw_tokens_tool_calls(const u_char *p, const u_char *end, int64_t *n)
{
    int                 rc, rc2;
    int64_t             t;
    aigw_tokens_key_e   key;

    *n = 0;

    if (*p != '[') {
        return aigw_tokens_skip(p, end);
    }

    p++;

    while ((rc = aigw_tokens_next(&p, end, ']', NULL)) == 1) {

        if (*p != '{') {
            p = aigw_tokens_skip(p, end);
            if (p == NULL) {
                return NULL;
            }

            continue;
        }

        p++;

        while ((rc2 = aigw_tokens_next(&p, end, '}', &key)) == 1) {
            t = 0;

            p = (key == AIGW_TK_FUNCTION) ? aigw_tokens_function(p, end, &t)
                                          : aigw_tokens_skip(p, end);
            if (p == NULL) {
                return NULL;
            }

            *n += t;
        }

        if (rc2 != 0) {
            return NULL;
        }
    }

    return rc == 0 ? p : NULL;
}


/* {"name": "...", "arguments": "..."} */

static const u_char *
aigw_tokens_function(const u_char *p, const u_char *end, int64_t *n)
{
    int                 rc;
    int64_t             t;
    aigw_tokens_key_e   key;

    *n = 0;

    if (*p != '{') {
        return aigw_tokens_skip(p, end);
    }

    p++;

    while ((rc = aigw_tokens_next(&p, end, '}', &key)) == 1) {
        t = 0;

        p = (key == AIGW_TK_NAME || key == AIGW_TK_ARGUMENTS)
            ? aigw_tokens_string(p, end, &t) : aigw_tokens_skip(p, end);
        if (p == NULL) {
            return NULL;
        }

        *n += t;
    }

    return rc == 0 ? p : NULL;
}


/* "prompt" of completions, "input" of embeddings */

static const u_char *
aigw_tokens_input(const u_char *p, const u_char *end, int64_t *n)
{
    int      rc;
    int64_t  t;

    if (*p != '[') {
        return aigw_tokens_string(p, end, n);
    }

    *n = 0;
    p++;

    while ((rc = aigw_tokens_next(&p, end, ']', NULL)) == 1) {
        t = 0;

        switch (*p) {

        case '"':
            p = aigw_tokens_text(p, end, &t);
            break;

        case '[':
            p = aigw_tokens_count(p, end, &t);
            break;

        case '-':
        case '0': case '1': case '2': case '3': case '4':
        case '5': case '6': case '7': case '8': case '9':
            /* a token id */
            p = aigw_tokens_skip(p, end);
            t = 1;
            break;

        default:
            p = aigw_tokens_skip(p, end);
        }

        if (p == NULL) {
            return NULL;
        }

        *n += t;
    }

    return rc == 0 ? p : NULL;
}


/* the number of elements of an array */

static const u_char *
aigw_tokens_count(const u_char *p, const u_char *end, int64_t *n)
{
    int  rc;

    *n = 0;
    p++;

    while ((rc = aigw_tokens_next(&p, end, ']', NULL)) == 1) {
        p = aigw_tokens_skip(p, end);
        if (p == NULL) {
            return NULL;
        }

        (*n)++;
    }

    return rc == 0 ? p : NULL;
}
