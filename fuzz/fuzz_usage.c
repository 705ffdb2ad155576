/*
 * aigw fuzzing: usage extraction (src/aigw_usage.c) and cost arithmetic
 * (src/aigw_cost.c).
 *
 * Input: [split spec] [price bytes] payload.  The payload is
 *   - a response body, fed to aigw_usage_capture_*() in the chosen pieces
 *     (each in a heap block freed right after the feed) and whole: the
 *     result must not depend on the split;
 *   - when it is a valid JSON object whose top-level "usage" (an unescaped
 *     key) is an object of at most AIGW_USAGE_CAPTURE_MAX bytes, the
 *     capture must equal aigw_usage_parse() of that member, and capture
 *     nothing when there is no "usage" member at all;
 *   - an OpenAI stream chunk for aigw_usage_from_chunk();
 *   - a usage object for aigw_usage_parse(): a success has non-negative
 *     counts;
 * and any usage found is priced with prices taken from the input: the
 * cost is >= 0, grows with the tokens, and formats within
 * AIGW_COST_USD_LEN bytes.
 */

#include "fuzz_common.h"

#include "aigw_usage.h"
#include "aigw_cost.h"


static int
fz_capture(const u_char *p, size_t len, fz_split_t *sp, aigw_usage_t *u)
{
    size_t                 n, off;
    u_char                *b;
    aigw_usage_capture_t  *c;
    int                    rc;

    /* on the heap, so ASan sees the capture buffer's bounds */
    c = malloc(sizeof(aigw_usage_capture_t));
    if (c == NULL) {
        abort();
    }

    memset(c, 0xa5, sizeof(aigw_usage_capture_t));
    aigw_usage_capture_init(c);

    for (off = 0; off < len; off += n) {
        n = sp ? fz_split_next(sp, len - off) : len - off;

        b = fz_piece_copy(p + off, n);
        aigw_usage_capture_feed(c, b, n);
        fz_piece_free(b, n);
    }

    memset(u, 0xa5, sizeof(aigw_usage_t));
    rc = aigw_usage_capture_result(c, u);

    free(c);

    return rc;
}


static int
fz_usage_eq(const aigw_usage_t *a, const aigw_usage_t *b)
{
    return a->prompt_tokens == b->prompt_tokens
           && a->completion_tokens == b->completion_tokens
           && a->total_tokens == b->total_tokens
           && a->cached_tokens == b->cached_tokens
           && a->reasoning_tokens == b->reasoning_tokens
           && a->found == b->found;
}


static void
fz_check_usage(const char *what, const aigw_usage_t *u)
{
    FZ_CHECK("usage-sign", u->found && u->prompt_tokens >= 0
             && u->completion_tokens >= 0 && u->total_tokens >= 0
             && u->cached_tokens >= 0 && u->reasoning_tokens >= 0,
             "%s: a parsed usage with a negative count or not found", what);
}


static void
fz_check_cost(const aigw_price_t *price, const aigw_usage_t *u)
{
    int64_t       c, c2, e;
    u_char        buf[AIGW_COST_USD_LEN + 16], *end;
    aigw_usage_t  more;

    c = aigw_cost_micro_usd(price, u);

    FZ_CHECK("cost", c >= 0, "a negative cost %lld", (long long) c);

    /* one more completion token never costs less */

    more = *u;

    if (more.completion_tokens < INT64_MAX) {
        more.completion_tokens++;
        c2 = aigw_cost_micro_usd(price, &more);

        FZ_CHECK("cost", c2 >= c, "one more token costs less: %lld < %lld",
                 (long long) c2, (long long) c);
    }

    e = aigw_cost_estimate_micro_usd(price, u->prompt_tokens,
                                     u->completion_tokens);

    FZ_CHECK("cost", e >= 0, "a negative estimate %lld", (long long) e);

    end = aigw_cost_format_usd(buf, c);

    FZ_CHECK("cost", (size_t) (end - buf) <= AIGW_COST_USD_LEN,
             "formatted cost of %zu bytes", (size_t) (end - buf));

    end = aigw_cost_format_usd(buf, -c - 1);

    FZ_CHECK("cost", (size_t) (end - buf) <= AIGW_COST_USD_LEN,
             "formatted cost of %zu bytes", (size_t) (end - buf));
}


/* the text of the top-level "usage" member, as the capture should see it */
static int
fz_reference(const u_char *p, size_t len, aigw_usage_t *u, int *present)
{
    size_t              i, n;
    aigw_json_error_t   err;
    aigw_json_member_t  m[256];

    *present = 0;

    if (aigw_json_parse_object(p, len, m, 256, &n, 1024, &err)
        != AIGW_JSON_OK)
    {
        return -2;
    }

    for (i = 0; i < n; i++) {
        if (m[i].key_len == 5 && !m[i].key_escaped
            && memcmp(m[i].key, "usage", 5) == 0)
        {
            break;
        }

        if (aigw_json_str_eq(m[i].key, m[i].key_len, m[i].key_escaped,
                             (u_char *) "usage", 5))
        {
            /* an escaped "usage": the capture may or may not see it */
            return -2;
        }
    }

    if (i == n) {
        return -1;
    }

    *present = 1;

    /* the capture keeps the white space around the value */

    {
        const u_char  *s, *e;

        s = m[i].value;
        e = m[i].value + m[i].value_len;

        while (s > p && (s[-1] == ' ' || s[-1] == '\t' || s[-1] == '\n'
                         || s[-1] == '\r'))
        {
            s--;
        }

        while (e < p + len && (*e == ' ' || *e == '\t' || *e == '\n'
                               || *e == '\r'))
        {
            e++;
        }

        if (e - s > AIGW_USAGE_CAPTURE_MAX) {
            return -2;
        }
    }

    return aigw_usage_parse(m[i].value, m[i].value_len, u);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int            rc, rc2, rref, present, usage_only;
    size_t         len;
    u_char        *p;
    fz_in_t        in;
    fz_split_t     sp;
    aigw_usage_t   u, u2, uref;
    aigw_price_t   price;

    in.p = data;
    in.n = size;

    fz_split_init(&sp, &in);

    /* prices: 0..1e12 pico-USD per token, as the prices file allows */
    price.input = (int64_t) fz_u16(&in) * (fz_byte(&in) & 1 ? 15258789 : 1);
    price.cached_input = (int64_t) fz_u16(&in) * 15258789;
    price.cache_write = price.input;
    price.output = (int64_t) fz_u16(&in) * (fz_byte(&in) & 1 ? 15258789 : 7);

    p = fz_dup(in.p, in.n);
    len = in.n;

    /* the capture: split and whole agree */

    rc = fz_capture(p, len, &sp, &u);
    rc2 = fz_capture(p, len, NULL, &u2);

    FZ_CHECK("usage-split", rc == rc2 && (rc != 0 || fz_usage_eq(&u, &u2)),
             "capture: split rc %d (prompt %lld), whole rc %d (prompt %lld)",
             rc, (long long) u.prompt_tokens, rc2,
             (long long) u2.prompt_tokens);

    if (rc2 == 0) {
        fz_check_usage("capture", &u2);
        fz_check_cost(&price, &u2);
    }

    /* the capture agrees with a full parse of a valid body */

    memset(&uref, 0, sizeof(uref));
    rref = fz_reference(p, len, &uref, &present);

    if (rref != -2) {
        FZ_CHECK("usage-ref", present || rc2 != 0,
                 "captured a usage from a body without a \"usage\" member");
        FZ_CHECK("usage-ref", !present || (rc2 == rref
                 && (rref != 0 || fz_usage_eq(&u2, &uref))),
                 "capture rc %d (prompt %lld), parse of the member rc %d"
                 " (prompt %lld)", rc2, (long long) u2.prompt_tokens, rref,
                 (long long) uref.prompt_tokens);
    }

    /* a stream chunk */

    memset(&u, 0xa5, sizeof(u));
    usage_only = 7;
    rc = aigw_usage_from_chunk(p, len, &u, &usage_only);

    FZ_CHECK("usage-chunk", rc >= -1 && rc <= 1 && (usage_only == 0
             || (usage_only == 1 && rc == 1)),
             "from_chunk rc %d usage_only %d", rc, usage_only);

    if (rc == 1) {
        fz_check_usage("chunk", &u);
        fz_check_cost(&price, &u);
    }

    /* a usage object */

    rc = aigw_usage_parse(p, len, &u);

    if (rc == 0) {
        fz_check_usage("parse", &u);
        fz_check_cost(&price, &u);
    }

    free(p);

    return 0;
}
