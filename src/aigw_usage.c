/*
 * aigw: token usage from OpenAI-format responses.
 */

#include <string.h>

#include "aigw_usage.h"


#define AIGW_USAGE_MAX_MEMBERS  32
#define AIGW_USAGE_MAX_DEPTH    16


/* where the incremental scanner is inside the top-level object */
enum {
    AIGW_CAP_START = 0,         /* before the top-level '{' */
    AIGW_CAP_KEY,               /* expecting a key (or '}') at depth 1 */
    AIGW_CAP_COLON,             /* after a key, expecting ':' */
    AIGW_CAP_VALUE,             /* expecting a value at depth 1 */
    AIGW_CAP_IN_VALUE,          /* inside a value at depth 1 */
    AIGW_CAP_DONE               /* the top-level object ended, or gave up */
};


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


static void
aigw_usage_key_copy(aigw_usage_capture_t *c, const u_char *p, size_t n)
{
    size_t  room;

    room = sizeof(c->key) - c->key_len;
    memcpy(c->key + c->key_len, p, n < room ? n : room);
}


int
aigw_usage_parse(const u_char *p, size_t len, aigw_usage_t *u)
{
    size_t              n;
    aigw_json_error_t   err;
    aigw_json_member_t  m[AIGW_USAGE_MAX_MEMBERS];

    memset(u, 0, sizeof(aigw_usage_t));

    if (aigw_json_parse_object(p, len, m, AIGW_USAGE_MAX_MEMBERS, &n,
                               AIGW_USAGE_MAX_DEPTH, &err)
        != AIGW_JSON_OK)
    {
        return -1;
    }

    (void) aigw_usage_int(m, n, "prompt_tokens", 13, &u->prompt_tokens);
    (void) aigw_usage_int(m, n, "completion_tokens", 17,
                          &u->completion_tokens);

    if (aigw_usage_int(m, n, "total_tokens", 12, &u->total_tokens) != 0) {

        /* a negative or overflowing sum is refused below */

        if (u->prompt_tokens < 0 || u->completion_tokens < 0
            || u->completion_tokens > INT64_MAX - u->prompt_tokens)
        {
            u->total_tokens = -1;

        } else {
            u->total_tokens = u->prompt_tokens + u->completion_tokens;
        }
    }

    aigw_usage_detail(m, n, "prompt_tokens_details", 21, "cached_tokens", 13,
                      &u->cached_tokens);
    aigw_usage_detail(m, n, "completion_tokens_details", 25,
                      "reasoning_tokens", 16, &u->reasoning_tokens);

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
 * bytes not yet copied start, and they are copied in one piece.  String
 * contents, most of a body, are skipped eight bytes at a time.
 */

void
aigw_usage_capture_feed(aigw_usage_capture_t *c, const u_char *p, size_t len)
{
    u_char        ch;
    size_t        n;
    const u_char *end, *q, *mark;

    if (c->state == AIGW_CAP_DONE) {
        /* bytes after the top-level object are not the answer's */
        return;
    }

    end = p + len;
    mark = p;

    while (p < end) {

        if (c->in_string) {

            if (c->escape) {
                c->escape = 0;
                p++;
                continue;
            }

            q = aigw_json_string_run(p, end);

            if (c->state == AIGW_CAP_KEY) {
                /* keys longer than "usage" never match */
                n = q - p;

                if (c->key_len < sizeof(c->key)) {
                    aigw_usage_key_copy(c, p, n);
                }

                c->key_len += n;
            }

            if (q == end) {
                break;
            }

            ch = *q;
            p = q + 1;

            if (ch == '\\') {
                c->escape = 1;

                /*
                 * a key spelled with escapes is never taken for "usage":
                 * its bytes are not copied, so it must not match by
                 * length with what an earlier key left in key[]
                 */

                if (c->state == AIGW_CAP_KEY) {
                    c->key_len = sizeof(c->key) + 1;
                }

            } else if (ch == '"') {
                c->in_string = 0;

                if (c->state == AIGW_CAP_KEY) {
                    c->state = AIGW_CAP_COLON;
                }

            } else if (c->state == AIGW_CAP_KEY) {
                /* a raw control byte: invalid, never "usage" */
                c->key_len = sizeof(c->key) + 1;
            }

            continue;
        }

        if (c->state == AIGW_CAP_VALUE && aigw_usage_plain[*p]
            && *p > ' ')
        {
            c->state = AIGW_CAP_IN_VALUE;
        }

        while (p < end && aigw_usage_plain[*p]) {
            p++;
        }

        if (p == end) {
            break;
        }

        ch = *p++;

        switch (ch) {

        case '"':
            c->in_string = 1;

            if (c->state == AIGW_CAP_KEY) {
                c->key_len = 0;

            } else if (c->state == AIGW_CAP_VALUE) {
                c->state = AIGW_CAP_IN_VALUE;
            }

            break;

        case '{':
        case '[':
            if (c->state == AIGW_CAP_START) {
                c->depth = 1;

                if (ch == '[') {
                    /* not an object: no "usage" member to find */
                    c->state = AIGW_CAP_DONE;
                    return;
                }

                c->state = AIGW_CAP_KEY;
                break;
            }

            c->depth++;

            if (c->state == AIGW_CAP_VALUE) {
                c->state = AIGW_CAP_IN_VALUE;
            }

            break;

        case '}':
        case ']':
            if (c->depth <= 1) {
                if (c->capturing) {
                    aigw_usage_capture_bytes(c, mark, p - 1 - mark);
                    c->capturing = 0;
                    c->captured = 1;
                }

                c->state = AIGW_CAP_DONE;
                return;
            }

            c->depth--;
            break;

        case ':':
            if (c->depth == 1 && c->state == AIGW_CAP_COLON) {
                c->state = AIGW_CAP_VALUE;

                if (c->key_len == 5 && memcmp(c->key, "usage", 5) == 0
                    && !c->captured)
                {
                    c->capturing = 1;
                    c->len = 0;
                    mark = p;
                }
            }

            break;

        case ',':
            if (c->depth == 1) {
                if (c->capturing) {
                    aigw_usage_capture_bytes(c, mark, p - 1 - mark);
                    c->capturing = 0;
                    c->captured = 1;
                }

                c->state = AIGW_CAP_KEY;
            }

            break;

        default:
            if (c->state == AIGW_CAP_VALUE) {
                c->state = AIGW_CAP_IN_VALUE;
            }

            break;
        }
    }

    if (c->capturing) {
        aigw_usage_capture_bytes(c, mark, end - mark);
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
