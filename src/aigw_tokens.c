/*
 * aigw: a cheap estimate of the prompt tokens of a request body.
 */


#include <string.h>

#include "aigw_json.h"
#include "aigw_tokens.h"


/*
 * A walker over the members of an object or the elements of an array of
 * an already validated JSON text.  It never recurses and never reads
 * past the end: on malformed input it just stops early.
 */

typedef struct {
    const u_char   *p;
    const u_char   *end;
    u_char          close;      /* ']' or '}' */
} aigw_tokens_iter_t;


typedef struct {
    const u_char   *key;        /* raw, without quotes; NULL in arrays */
    size_t          key_len;
    unsigned        key_escaped;
    const u_char   *value;      /* strings keep their quotes */
    size_t          value_len;
} aigw_tokens_item_t;


static int aigw_tokens_iter_init(aigw_tokens_iter_t *it, const u_char *v,
    size_t len, u_char open);
static int aigw_tokens_iter_next(aigw_tokens_iter_t *it,
    aigw_tokens_item_t *item);
static const u_char *aigw_tokens_skip(const u_char *p, const u_char *end);
static const u_char *aigw_tokens_skip_string(const u_char *p,
    const u_char *end);
static int aigw_tokens_key_is(aigw_tokens_item_t *item, const char *name);
static int aigw_tokens_value_is(aigw_tokens_item_t *item, const char *s);
static int64_t aigw_tokens_string(aigw_tokens_item_t *item);
static int64_t aigw_tokens_text(const u_char *raw, size_t len);
static int aigw_tokens_hex4(const u_char *p, uint32_t *out);
static int64_t aigw_tokens_chat(const u_char *body, size_t len);
static int64_t aigw_tokens_message(aigw_tokens_item_t *msg);
static int64_t aigw_tokens_content(aigw_tokens_item_t *content);
static int64_t aigw_tokens_part(aigw_tokens_item_t *part);
static int64_t aigw_tokens_tool_calls(aigw_tokens_item_t *calls);
static int64_t aigw_tokens_function(aigw_tokens_item_t *fn);
static int64_t aigw_tokens_input(const u_char *body, size_t len,
    const char *name);
static int64_t aigw_tokens_count(aigw_tokens_item_t *item);


#define aigw_tokens_ascii(n)  (((int64_t) (n) + 3) / 4)

#define aigw_tokens_is_ws(c)                                                  \
    ((c) == ' ' || (c) == '\n' || (c) == '\r' || (c) == '\t')


int64_t
aigw_tokens_estimate(const u_char *body, size_t len, unsigned endpoint)
{
    int64_t  n;

    switch (endpoint) {

    case AIGW_TOKENS_CHAT:
        n = aigw_tokens_chat(body, len);
        break;

    case AIGW_TOKENS_COMPLETIONS:
        n = aigw_tokens_input(body, len, "prompt");
        break;

    case AIGW_TOKENS_EMBEDDINGS:
        n = aigw_tokens_input(body, len, "input");
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
    aigw_tokens_iter_t  it;
    aigw_tokens_item_t  item;

    mct = -1;
    mt = -1;

    if (aigw_tokens_iter_init(&it, body, len, '{') != 0) {
        return dflt;
    }

    while (aigw_tokens_iter_next(&it, &item)) {

        if (aigw_json_int(item.value, item.value_len, &v) != 0 || v < 0) {
            continue;
        }

        if (aigw_tokens_key_is(&item, "max_completion_tokens")) {
            mct = v;

        } else if (aigw_tokens_key_is(&item, "max_tokens")) {
            mt = v;
        }
    }

    return mct >= 0 ? mct : (mt >= 0 ? mt : dflt);
}


static int64_t
aigw_tokens_chat(const u_char *body, size_t len)
{
    int64_t             n;
    aigw_tokens_iter_t  it, msgs;
    aigw_tokens_item_t  item, msg;

    n = AIGW_TOKENS_PRIMER;

    if (aigw_tokens_iter_init(&it, body, len, '{') != 0) {
        return n;
    }

    while (aigw_tokens_iter_next(&it, &item)) {

        if (aigw_tokens_key_is(&item, "messages")) {
            if (aigw_tokens_iter_init(&msgs, item.value, item.value_len, '[')
                != 0)
            {
                continue;
            }

            while (aigw_tokens_iter_next(&msgs, &msg)) {
                n += aigw_tokens_message(&msg);
            }

        } else if (aigw_tokens_key_is(&item, "tools")
                   || aigw_tokens_key_is(&item, "functions"))
        {
            /* schemas are mostly ASCII keys and punctuation */
            n += aigw_tokens_ascii(item.value_len);
        }
    }

    return n;
}


static int64_t
aigw_tokens_message(aigw_tokens_item_t *msg)
{
    int64_t             n;
    aigw_tokens_iter_t  it;
    aigw_tokens_item_t  item;

    n = AIGW_TOKENS_MESSAGE;

    if (aigw_tokens_iter_init(&it, msg->value, msg->value_len, '{') != 0) {
        return n;
    }

    while (aigw_tokens_iter_next(&it, &item)) {

        if (aigw_tokens_key_is(&item, "content")) {
            n += aigw_tokens_content(&item);

        } else if (aigw_tokens_key_is(&item, "name")) {
            n += aigw_tokens_string(&item);

        } else if (aigw_tokens_key_is(&item, "tool_calls")) {
            n += aigw_tokens_tool_calls(&item);

        } else if (aigw_tokens_key_is(&item, "function_call")) {
            n += aigw_tokens_function(&item);
        }
    }

    return n;
}


static int64_t
aigw_tokens_content(aigw_tokens_item_t *content)
{
    int64_t             n;
    aigw_tokens_iter_t  it;
    aigw_tokens_item_t  part;

    if (content->value[0] == '"') {
        return aigw_tokens_string(content);
    }

    n = 0;

    if (aigw_tokens_iter_init(&it, content->value, content->value_len, '[')
        != 0)
    {
        return n;
    }

    while (aigw_tokens_iter_next(&it, &part)) {
        n += aigw_tokens_part(&part);
    }

    return n;
}


static int64_t
aigw_tokens_part(aigw_tokens_item_t *part)
{
    aigw_tokens_iter_t  it;
    aigw_tokens_item_t  item, type, text;

    if (part->value[0] == '"') {
        return aigw_tokens_string(part);
    }

    if (aigw_tokens_iter_init(&it, part->value, part->value_len, '{') != 0) {
        return 0;
    }

    /* "type" may come after "text" */

    type.value = NULL;
    text.value = NULL;

    while (aigw_tokens_iter_next(&it, &item)) {
        if (aigw_tokens_key_is(&item, "type")) {
            type = item;

        } else if (aigw_tokens_key_is(&item, "text")) {
            text = item;
        }
    }

    if (type.value != NULL && aigw_tokens_value_is(&type, "text")) {
        return text.value ? aigw_tokens_string(&text) : 0;
    }

    /* an image, audio or file: never counted from its data's size */

    return AIGW_TOKENS_IMAGE;
}


static int64_t
aigw_tokens_tool_calls(aigw_tokens_item_t *calls)
{
    int64_t             n;
    aigw_tokens_iter_t  it, call;
    aigw_tokens_item_t  item, field;

    n = 0;

    if (aigw_tokens_iter_init(&it, calls->value, calls->value_len, '[') != 0)
    {
        return n;
    }

    while (aigw_tokens_iter_next(&it, &item)) {
        if (aigw_tokens_iter_init(&call, item.value, item.value_len, '{')
            != 0)
        {
            continue;
        }

        while (aigw_tokens_iter_next(&call, &field)) {
            if (aigw_tokens_key_is(&field, "function")) {
                n += aigw_tokens_function(&field);
            }
        }
    }

    return n;
}


/* {"name": "...", "arguments": "..."} */

static int64_t
aigw_tokens_function(aigw_tokens_item_t *fn)
{
    int64_t             n;
    aigw_tokens_iter_t  it;
    aigw_tokens_item_t  item;

    n = 0;

    if (aigw_tokens_iter_init(&it, fn->value, fn->value_len, '{') != 0) {
        return n;
    }

    while (aigw_tokens_iter_next(&it, &item)) {
        if (aigw_tokens_key_is(&item, "name")
            || aigw_tokens_key_is(&item, "arguments"))
        {
            n += aigw_tokens_string(&item);
        }
    }

    return n;
}


/* "prompt" of completions, "input" of embeddings */

static int64_t
aigw_tokens_input(const u_char *body, size_t len, const char *name)
{
    int64_t             n;
    aigw_tokens_iter_t  it, arr;
    aigw_tokens_item_t  item, elt;

    n = 0;

    if (aigw_tokens_iter_init(&it, body, len, '{') != 0) {
        return n;
    }

    while (aigw_tokens_iter_next(&it, &item)) {
        if (!aigw_tokens_key_is(&item, name)) {
            continue;
        }

        if (item.value[0] != '[') {
            n += aigw_tokens_string(&item);
            continue;
        }

        if (aigw_tokens_iter_init(&arr, item.value, item.value_len, '[')
            != 0)
        {
            continue;
        }

        while (aigw_tokens_iter_next(&arr, &elt)) {
            switch (elt.value[0]) {

            case '"':
                n += aigw_tokens_string(&elt);
                break;

            case '[':
                n += aigw_tokens_count(&elt);
                break;

            case '-':
            case '0': case '1': case '2': case '3': case '4':
            case '5': case '6': case '7': case '8': case '9':
                /* a token id */
                n++;
                break;
            }
        }
    }

    return n;
}


/* the number of elements of an array */

static int64_t
aigw_tokens_count(aigw_tokens_item_t *item)
{
    int64_t             n;
    aigw_tokens_iter_t  it;
    aigw_tokens_item_t  elt;

    n = 0;

    if (aigw_tokens_iter_init(&it, item->value, item->value_len, '[') != 0) {
        return n;
    }

    while (aigw_tokens_iter_next(&it, &elt)) {
        n++;
    }

    return n;
}


/* the tokens of a string value; 0 for any other type */

static int64_t
aigw_tokens_string(aigw_tokens_item_t *item)
{
    if (item->value_len < 2 || item->value[0] != '"') {
        return 0;
    }

    return aigw_tokens_text(item->value + 1, item->value_len - 2);
}


static int64_t
aigw_tokens_text(const u_char *raw, size_t len)
{
    u_char         c;
    int64_t        ascii, other;
    uint32_t       cp, lo;
    const u_char  *p, *end;

    ascii = 0;
    other = 0;

    p = raw;
    end = raw + len;

    while (p < end) {

#if defined(__GNUC__) && defined(__BYTE_ORDER__)                              \
    && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /*
         * Eight bytes at a time while there is no escape: the bytes without
         * the high bit are ASCII, those with bits 7 and 6 set start a
         * character.
         */

        if (end - p >= 8) {
            uint64_t  v, b, hi;

            __builtin_memcpy(&v, p, 8);
            b = v ^ 0x5c5c5c5c5c5c5c5cULL;

            if ((((b - 0x0101010101010101ULL) & ~b)
                 & 0x8080808080808080ULL) == 0)
            {
                hi = v & 0x8080808080808080ULL;

                if (hi == 0) {
                    ascii += 8;

                } else {
                    ascii += 8 - __builtin_popcountll(hi);
                    other += __builtin_popcountll((v & (v << 1))
                                                  & 0x8080808080808080ULL);
                }

                p += 8;
                continue;
            }
        }
#endif

        c = *p++;

        if (c >= 0x80) {
            /* a lead byte starts a character, continuation bytes do not */

            if ((c & 0xc0) != 0x80) {
                other++;
            }

            continue;
        }

        if (c != '\\' || p == end) {
            ascii++;
            continue;
        }

        if (*p != 'u' || end - p < 5 || aigw_tokens_hex4(p + 1, &cp) != 0)
        {
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

    return aigw_tokens_ascii(ascii) + other;
}


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


static int
aigw_tokens_key_is(aigw_tokens_item_t *item, const char *name)
{
    return item->key != NULL
           && aigw_json_str_eq(item->key, item->key_len, item->key_escaped,
                               (const u_char *) name, strlen(name));
}


static int
aigw_tokens_value_is(aigw_tokens_item_t *item, const char *s)
{
    return item->value_len >= 2 && item->value[0] == '"'
           && aigw_json_str_eq(item->value + 1, item->value_len - 2,
                               memchr(item->value + 1, '\\',
                                      item->value_len - 2) != NULL,
                               (const u_char *) s, strlen(s));
}


static int
aigw_tokens_iter_init(aigw_tokens_iter_t *it, const u_char *v, size_t len,
    u_char open)
{
    const u_char  *p, *end;

    p = v;
    end = v + len;

    while (p < end && aigw_tokens_is_ws(*p)) {
        p++;
    }

    if (p == end || *p != open) {
        return -1;
    }

    it->p = p + 1;
    it->end = end;
    it->close = (open == '{') ? '}' : ']';

    return 0;
}


/* returns 1 with the next item, 0 at the end (or on malformed input) */

static int
aigw_tokens_iter_next(aigw_tokens_iter_t *it, aigw_tokens_item_t *item)
{
    const u_char  *p, *end, *next;

    p = it->p;
    end = it->end;

    while (p < end && (aigw_tokens_is_ws(*p) || *p == ',')) {
        p++;
    }

    if (p == end || *p == it->close) {
        goto done;
    }

    item->key = NULL;
    item->key_len = 0;
    item->key_escaped = 0;

    if (it->close == '}') {
        if (*p != '"') {
            goto done;
        }

        next = aigw_tokens_skip_string(p, end);
        if (next == NULL) {
            goto done;
        }

        item->key = p + 1;
        item->key_len = next - p - 2;
        item->key_escaped = memchr(item->key, '\\', item->key_len) != NULL;

        p = next;

        while (p < end && aigw_tokens_is_ws(*p)) {
            p++;
        }

        if (p == end || *p != ':') {
            goto done;
        }

        p++;

        while (p < end && aigw_tokens_is_ws(*p)) {
            p++;
        }
    }

    next = aigw_tokens_skip(p, end);
    if (next == NULL) {
        goto done;
    }

    item->value = p;
    item->value_len = next - p;

    it->p = next;

    return 1;

done:

    it->p = end;

    return 0;
}


/* the end of the value at p, or NULL */

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
