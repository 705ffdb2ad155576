/*
 * aigw: a single-pass validating JSON scanner.
 *
 * The request path does not build a tree: it validates the whole text once
 * (RFC 8259) and records where each member of the top-level object starts
 * and ends, so that the body can be rewritten by copying spans.
 */

#ifndef _AIGW_JSON_H_INCLUDED_
#define _AIGW_JSON_H_INCLUDED_


#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif


#define AIGW_JSON_OK          0
#define AIGW_JSON_SYNTAX     -1
#define AIGW_JSON_NOT_OBJECT -2
#define AIGW_JSON_TOO_DEEP   -3
#define AIGW_JSON_TOO_MANY   -4
#define AIGW_JSON_DUPLICATE  -5


typedef enum {
    AIGW_JSON_NONE = 0,
    AIGW_JSON_OBJECT,
    AIGW_JSON_ARRAY,
    AIGW_JSON_STRING,
    AIGW_JSON_NUMBER,
    AIGW_JSON_TRUE,
    AIGW_JSON_FALSE,
    AIGW_JSON_NULL
} aigw_json_type_e;


typedef struct {
    const u_char      *start;      /* the opening quote of the key */
    const u_char      *key;        /* key bytes inside the quotes, raw */
    size_t             key_len;
    const u_char      *value;      /* the value's text; strings keep quotes */
    size_t             value_len;
    aigw_json_type_e   type;
    unsigned           key_escaped:1;
    unsigned           value_escaped:1;
} aigw_json_member_t;


typedef struct {
    const char        *msg;        /* static English text */
    size_t             offset;     /* byte offset of the problem */
    const u_char      *key;        /* duplicate key, raw */
    size_t             key_len;
} aigw_json_error_t;


/*
 * Validates a whole JSON text whose top-level value must be an object and
 * records its members (at most "max").  Duplicate top-level keys (compared
 * after unescaping) are rejected.
 */
int aigw_json_parse_object(const u_char *p, size_t len,
    aigw_json_member_t *members, size_t max, size_t *n, unsigned max_depth,
    aigw_json_error_t *err);

/* Finds a member by its plain (unescaped) name. */
aigw_json_member_t *aigw_json_find(aigw_json_member_t *members, size_t n,
    const char *name, size_t len);

/* Compares a raw JSON string body (no quotes) with a plain string. */
int aigw_json_str_eq(const u_char *raw, size_t raw_len, unsigned escaped,
    const u_char *s, size_t len);

/*
 * Decodes a raw JSON string body (no quotes) into out, which must hold
 * raw_len bytes; returns the decoded length, or -1 on a bad escape.
 */
ssize_t aigw_json_unescape(const u_char *raw, size_t raw_len, u_char *out);

/* Length of s once escaped for a JSON string, and the escaping itself. */
size_t aigw_json_escape_len(const u_char *s, size_t len);
u_char *aigw_json_escape(u_char *dst, const u_char *s, size_t len);

/* Strict integer value (no fraction, no exponent), fits in int64_t. */
int aigw_json_int(const u_char *v, size_t len, int64_t *out);

/* Any JSON number as a double. */
int aigw_json_double(const u_char *v, size_t len, double *out);

/* Whether an array value's text is "[]" (whitespace allowed inside). */
int aigw_json_array_empty(const u_char *v, size_t len);

#if defined(__SSE2__)

/*
 * Bit i is set when byte i of v ends a plain run.  Flipping bit 1 turns
 * '"' into 0x20 and keeps control characters below 0x20, so one unsigned
 * "min(t, 0x20) == t" finds both.
 */

static inline int
aigw_json_run_mask(__m128i v)
{
    __m128i  t;

    t = _mm_xor_si128(v, _mm_set1_epi8(0x02));
    t = _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8(0x20)), t);

    return _mm_movemask_epi8(_mm_or_si128(t,
                                 _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
}


/* The last bytes of a run, fewer than 16, for aigw_json_string_run(). */
const u_char *aigw_json_run_tail(const u_char *start, const u_char *p,
    const u_char *end);

#endif


/*
 * The first byte at or after p that ends the plain run of a JSON string:
 * '"', '\\' or a control character; end if there is none.  Sixteen (SSE2)
 * or eight bytes at a time, since string contents are most of what a body
 * holds; no load reaches outside [p, end).
 */

static inline const u_char *
aigw_json_string_run(const u_char *p, const u_char *end)
{
#if defined(__SSE2__)
    int            mask;
    const u_char  *start, *last;

    start = p;

    if (end - p >= 16) {
        last = end - 16;

        do {
            mask = aigw_json_run_mask(_mm_loadu_si128((const __m128i *) p));

            if (mask) {
                return p + __builtin_ctz(mask);
            }

            p += 16;
        } while (p <= last);
    }

    return p == end ? p : aigw_json_run_tail(start, p, end);

#else
#if defined(__GNUC__) && defined(__BYTE_ORDER__)                              \
    && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t  v, q, b, t;

    while (end - p >= 8) {
        __builtin_memcpy(&v, p, 8);

        q = v ^ 0x2222222222222222ULL;
        b = v ^ 0x5c5c5c5c5c5c5c5cULL;

        t = ((q - 0x0101010101010101ULL) & ~q)
            | ((b - 0x0101010101010101ULL) & ~b)
            | ((v - 0x2020202020202020ULL) & ~v);

        t &= 0x8080808080808080ULL;

        if (t) {
            return p + (__builtin_ctzll(t) >> 3);
        }

        p += 8;
    }
#endif

    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20) {
        p++;
    }

    return p;
#endif
}


/* Validates that a text is exactly one JSON value; returns its type. */
aigw_json_type_e aigw_json_validate(const u_char *p, size_t len,
    unsigned max_depth);


#endif /* _AIGW_JSON_H_INCLUDED_ */
