/*
 * Unit tests for src/aigw_sse.c (cmocka).
 *
 * Every stream is fed whole, split in two at every byte, one byte at a time
 * and in three pieces for many split pairs; each piece is copied into its
 * own heap buffer that is poisoned and freed right after the feed, so
 * valgrind catches any pointer the parser keeps into caller memory.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "aigw_sse.h"


#define MAX_REC    512
#define MAX_ALLOC  256


typedef struct {
    void      *ptr[MAX_ALLOC];
    size_t     n;
    size_t     total;
    int        fail;          /* fail every allocation */
} pool_t;


typedef struct {
    char      *event;         /* NULL if the event had no event: field */
    size_t     event_len;
    char      *data;          /* NULL unless has_data */
    size_t     data_len;
    int        has_data;
    int        overflow;      /* an overflow sequence, collapsed */
    int        unterminated;
    size_t     raw_len;
    size_t     pieces;
} rec_t;


typedef struct {
    rec_t      rec[MAX_REC];
    size_t     nrec;
    u_char    *raw;
    size_t     raw_len;
    size_t     raw_cap;
    int        in_ovf;
    size_t     calls;
    size_t     abort_at;      /* 1-based callback number to abort on */
    int        abort_rc;
    const u_char  *zc_lo;     /* data must point inside [zc_lo, zc_hi) */
    const u_char  *zc_hi;
    pool_t     pool;
} sink_t;


typedef struct {
    const char  *event;
    const char  *data;        /* NULL: no data: line */
    int          overflow;
    int          unterminated;
} exp_t;


static void *
test_alloc(void *pool, size_t size)
{
    void    *p;
    pool_t  *tp;

    tp = pool;

    if (tp->fail) {
        return NULL;
    }

    assert_true(tp->n < MAX_ALLOC);

    p = malloc(size);
    assert_non_null(p);

    tp->ptr[tp->n++] = p;
    tp->total += size;

    return p;
}


static char *
dup_bytes(const u_char *s, size_t len)
{
    char  *d;

    d = malloc(len + 1);
    assert_non_null(d);

    memcpy(d, s, len);
    d[len] = '\0';

    return d;
}


static int
sink_handler(void *data, aigw_sse_event_t *ev)
{
    rec_t   *r;
    sink_t  *s;

    s = data;
    s->calls++;

    /* keep every raw piece: together they must rebuild the input */
    if (s->raw_len + ev->raw_len > s->raw_cap) {
        s->raw_cap = (s->raw_len + ev->raw_len) * 2 + 64;
        s->raw = realloc(s->raw, s->raw_cap);
        assert_non_null(s->raw);
    }

    assert_true(ev->raw != NULL || ev->raw_len == 0);

    if (ev->raw_len) {
        memcpy(s->raw + s->raw_len, ev->raw, ev->raw_len);
        s->raw_len += ev->raw_len;
    }

    if (ev->overflow) {
        assert_null(ev->event);
        assert_null(ev->data);
        assert_int_equal(ev->has_data, 0);

        if (!s->in_ovf) {
            assert_true(s->nrec < MAX_REC);
            r = &s->rec[s->nrec++];
            memset(r, 0, sizeof(rec_t));
            r->overflow = 1;
            s->in_ovf = 1;
        }

        r = &s->rec[s->nrec - 1];
        r->raw_len += ev->raw_len;
        r->pieces++;

        if (ev->complete) {
            r->unterminated = ev->unterminated;
            s->in_ovf = 0;
        }

    } else {
        /* a normal event never interrupts an overflow sequence */
        assert_int_equal(s->in_ovf, 0);
        assert_int_equal(ev->complete, 1);
        assert_true(s->nrec < MAX_REC);

        r = &s->rec[s->nrec++];
        memset(r, 0, sizeof(rec_t));

        if (ev->event) {
            r->event = dup_bytes(ev->event, ev->event_len);
            r->event_len = ev->event_len;
        } else {
            assert_int_equal(ev->event_len, 0);
        }

        r->has_data = ev->has_data;

        if (ev->has_data) {
            assert_non_null(ev->data);
            r->data = dup_bytes(ev->data, ev->data_len);
            r->data_len = ev->data_len;

        } else {
            assert_null(ev->data);
            assert_int_equal(ev->data_len, 0);
        }

        if (s->zc_lo && ev->has_data) {
            assert_true(ev->data >= s->zc_lo && ev->data < s->zc_hi);
            assert_true(ev->raw >= s->zc_lo && ev->raw < s->zc_hi);
        }

        r->unterminated = ev->unterminated;
        r->raw_len = ev->raw_len;
        r->pieces = 1;
    }

    if (s->abort_at && s->calls == s->abort_at) {
        return s->abort_rc;
    }

    return 0;
}


static void
sink_init(sink_t *s)
{
    memset(s, 0, sizeof(sink_t));
}


static void
sink_free(sink_t *s)
{
    size_t  i;

    for (i = 0; i < s->nrec; i++) {
        free(s->rec[i].event);
        free(s->rec[i].data);
    }

    for (i = 0; i < s->pool.n; i++) {
        free(s->pool.ptr[i]);
    }

    free(s->raw);
    memset(s, 0, sizeof(sink_t));
}


/* feed one piece from a private heap copy, then poison and free it */

static int
feed_copy(aigw_sse_t *p, const u_char *in, size_t len)
{
    int      rc;
    u_char  *b;

    b = malloc(len ? len : 1);
    assert_non_null(b);

    memcpy(b, in, len);
    rc = aigw_sse_feed(p, b, len);
    memset(b, 0xa5, len);
    free(b);

    return rc;
}


/* parse in[0..len) cut at the ascending offsets cuts[0..ncuts) */

static void
parse_cuts(sink_t *s, const u_char *in, size_t len, const size_t *cuts,
    size_t ncuts, size_t max_event)
{
    size_t      i, from, to;
    aigw_sse_t  p;

    sink_init(s);
    aigw_sse_init(&p, max_event, test_alloc, &s->pool, sink_handler, s);

    from = 0;

    for (i = 0; i <= ncuts; i++) {
        to = (i < ncuts) ? cuts[i] : len;
        assert_int_equal(feed_copy(&p, in + from, to - from), 0);
        from = to;
    }

    assert_int_equal(aigw_sse_finish(&p), 0);
}


static void
check_sink(sink_t *s, const u_char *in, size_t len, const exp_t *exp,
    size_t nexp)
{
    size_t  i;
    rec_t  *r;

    assert_int_equal(s->raw_len, len);
    assert_memory_equal(s->raw, in, len);
    assert_int_equal(s->in_ovf, 0);
    assert_int_equal(s->nrec, nexp);

    for (i = 0; i < nexp; i++) {
        r = &s->rec[i];

        assert_int_equal(r->overflow, exp[i].overflow);
        assert_int_equal(r->unterminated, exp[i].unterminated);

        if (exp[i].overflow) {
            continue;
        }

        if (exp[i].event) {
            assert_non_null(r->event);
            assert_int_equal(r->event_len, strlen(exp[i].event));
            assert_string_equal(r->event, exp[i].event);

        } else {
            assert_null(r->event);
        }

        if (exp[i].data) {
            assert_int_equal(r->has_data, 1);
            assert_int_equal(r->data_len, strlen(exp[i].data));
            assert_string_equal(r->data, exp[i].data);

        } else {
            assert_int_equal(r->has_data, 0);
        }
    }
}


static void
check_cuts(const u_char *in, size_t len, const size_t *cuts, size_t ncuts,
    size_t max_event, const exp_t *exp, size_t nexp)
{
    sink_t  s;

    parse_cuts(&s, in, len, cuts, ncuts, max_event);
    check_sink(&s, in, len, exp, nexp);

    /* carry doubling up to max_event, plus as much again for joining */
    assert_true(s.pool.total <= 4 * max_event);

    sink_free(&s);
}


static void
check_all_splits(const char *text, size_t max_event, const exp_t *exp,
    size_t nexp)
{
    size_t         i, j, len, step, cuts[2], *all;
    const u_char  *in;

    in = (const u_char *) text;
    len = strlen(text);

    check_cuts(in, len, NULL, 0, max_event, exp, nexp);

    for (i = 0; i <= len; i++) {
        cuts[0] = i;
        check_cuts(in, len, cuts, 1, max_event, exp, nexp);
    }

    all = malloc((len + 1) * sizeof(size_t));
    assert_non_null(all);

    for (i = 0; i < len; i++) {
        all[i] = i + 1;
    }

    check_cuts(in, len, all, len ? len - 1 : 0, max_event, exp, nexp);
    free(all);

    /* every pair for short inputs; a dense lattice for long ones */
    step = (len < 200) ? 1 : len / 199;

    for (i = 0; i <= len; i += step) {
        for (j = i; j <= len; j += (step == 1) ? 1 : step + 3) {
            cuts[0] = i;
            cuts[1] = j;
            check_cuts(in, len, cuts, 2, max_event, exp, nexp);
        }
    }
}


#define NEXP(a)  (sizeof(a) / sizeof(a[0]))


/* realistic provider streams */

#define OA1 "{\"id\":\"chatcmpl-9x\",\"object\":\"chat.completion.chunk\"," \
    "\"created\":1718000000,\"model\":\"gpt-4o-mini\",\"choices\":[{" \
    "\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}," \
    "\"finish_reason\":null}],\"usage\":null}"
#define OA2 "{\"id\":\"chatcmpl-9x\",\"object\":\"chat.completion.chunk\"," \
    "\"created\":1718000000,\"model\":\"gpt-4o-mini\",\"choices\":[{" \
    "\"index\":0,\"delta\":{\"content\":\"Hello\"},\"finish_reason\":null" \
    "}],\"usage\":null}"
#define OA3 "{\"id\":\"chatcmpl-9x\",\"object\":\"chat.completion.chunk\"," \
    "\"created\":1718000000,\"model\":\"gpt-4o-mini\",\"choices\":[{" \
    "\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}],\"usage\":null}"
#define OA4 "{\"id\":\"chatcmpl-9x\",\"object\":\"chat.completion.chunk\"," \
    "\"created\":1718000000,\"model\":\"gpt-4o-mini\",\"choices\":[]," \
    "\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2," \
    "\"total_tokens\":11}}"

static const char  openai_stream[] =
    "data: " OA1 "\n\n"
    "data: " OA2 "\n\n"
    "data: " OA3 "\n\n"
    "data: " OA4 "\n\n"
    "data: [DONE]\n\n";

static const exp_t  openai_exp[] = {
    { NULL, OA1, 0, 0 },
    { NULL, OA2, 0, 0 },
    { NULL, OA3, 0, 0 },
    { NULL, OA4, 0, 0 },
    { NULL, "[DONE]", 0, 0 },
};


#define AN1 "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\"," \
    "\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":" \
    "\"claude-3-5-sonnet\",\"stop_reason\":null,\"usage\":{" \
    "\"input_tokens\":25,\"output_tokens\":1}}}"
#define AN2 "{\"type\":\"content_block_start\",\"index\":0," \
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"
#define AN3 "{\"type\": \"ping\"}"
#define AN4 "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{" \
    "\"type\":\"text_delta\",\"text\":\"Hi!\"}}"
#define AN5 "{\"type\":\"content_block_stop\",\"index\":0}"
#define AN6 "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":" \
    "\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":15}}"
#define AN7 "{\"type\":\"message_stop\"}"

static const char  anthropic_stream[] =
    "event: message_start\ndata: " AN1 "\n\n"
    "event: content_block_start\ndata: " AN2 "\n\n"
    "event: ping\ndata: " AN3 "\n\n"
    "event: content_block_delta\ndata: " AN4 "\n\n"
    "event: content_block_stop\ndata: " AN5 "\n\n"
    "event: message_delta\ndata: " AN6 "\n\n"
    "event: message_stop\ndata: " AN7 "\n\n";

static const exp_t  anthropic_exp[] = {
    { "message_start", AN1, 0, 0 },
    { "content_block_start", AN2, 0, 0 },
    { "ping", AN3, 0, 0 },
    { "content_block_delta", AN4, 0, 0 },
    { "content_block_stop", AN5, 0, 0 },
    { "message_delta", AN6, 0, 0 },
    { "message_stop", AN7, 0, 0 },
};


#define GE1 "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": " \
    "\"The\"}],\"role\": \"model\"},\"index\": 0}],\"usageMetadata\": {" \
    "\"promptTokenCount\": 8,\"totalTokenCount\": 8},\"modelVersion\": " \
    "\"gemini-1.5-flash\"}"
#define GE2 "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": " \
    "\" sky is blue.\"}],\"role\": \"model\"},\"index\": 0}]," \
    "\"usageMetadata\": {\"promptTokenCount\": 8,\"totalTokenCount\": 8}," \
    "\"modelVersion\": \"gemini-1.5-flash\"}"
#define GE3 "{\"candidates\": [{\"content\": {\"parts\": [{\"text\": " \
    "\"\"}],\"role\": \"model\"},\"finishReason\": \"STOP\",\"index\": 0}]," \
    "\"usageMetadata\": {\"promptTokenCount\": 8,\"candidatesTokenCount\": " \
    "6,\"totalTokenCount\": 14},\"modelVersion\": \"gemini-1.5-flash\"}"

static const char  gemini_stream[] =
    "data: " GE1 "\r\n\r\n"
    "data: " GE2 "\r\n\r\n"
    "data: " GE3 "\r\n\r\n";

static const exp_t  gemini_exp[] = {
    { NULL, GE1, 0, 0 },
    { NULL, GE2, 0, 0 },
    { NULL, GE3, 0, 0 },
};


static void
test_openai(void **state)
{
    (void) state;
    check_all_splits(openai_stream, 4096, openai_exp, NEXP(openai_exp));
}


static void
test_anthropic(void **state)
{
    (void) state;
    check_all_splits(anthropic_stream, 4096, anthropic_exp,
                     NEXP(anthropic_exp));
}


static void
test_gemini_crlf(void **state)
{
    (void) state;
    check_all_splits(gemini_stream, 4096, gemini_exp, NEXP(gemini_exp));
}


static void
test_zero_copy(void **state)
{
    sink_t         s;
    aigw_sse_t     p;
    const u_char  *in;

    (void) state;

    /* whole events in one buffer: no allocation, pointers into the input */
    in = (const u_char *) anthropic_stream;

    sink_init(&s);
    s.zc_lo = in;
    s.zc_hi = in + strlen(anthropic_stream);

    aigw_sse_init(&p, 4096, test_alloc, &s.pool, sink_handler, &s);
    assert_int_equal(aigw_sse_feed(&p, in, strlen(anthropic_stream)), 0);
    assert_int_equal(aigw_sse_finish(&p), 0);

    check_sink(&s, in, strlen(anthropic_stream), anthropic_exp,
               NEXP(anthropic_exp));
    assert_int_equal(s.pool.n, 0);

    sink_free(&s);
}


static void
test_multiline_data(void **state)
{
    static const exp_t  exp[] = {
        { NULL, "a\nb\nc", 0, 0 },
        { "x", "{\n  \"k\": 1\n}", 0, 0 },
        { NULL, "\n\n", 0, 0 },
    };

    (void) state;

    check_all_splits("data: a\ndata: b\ndata:c\n\n"
                     "data: {\nevent: x\ndata:   \"k\": 1\ndata: }\n\n"
                     "data\ndata:\ndata: \n\n",
                     256, exp, NEXP(exp));
}


static void
test_comments(void **state)
{
    static const exp_t  exp[] = {
        { NULL, NULL, 0, 0 },
        { NULL, "x", 0, 0 },
        { NULL, "y", 0, 0 },
        { NULL, NULL, 0, 0 },
    };

    (void) state;

    check_all_splits(": keep-alive\n\n"
                     "data: x\n: comment: with data: inside\n\n"
                     ":\ndata: y\n:data: z\n\n"
                     ": only\n: comments\n\n",
                     256, exp, NEXP(exp));
}


static void
test_lone_cr(void **state)
{
    static const exp_t  exp[] = {
        { NULL, "a\nb", 0, 0 },
        { "e", "c", 0, 0 },
        { NULL, "d", 0, 0 },
    };

    (void) state;

    /* the last event ends on "\r\r", resolved only by finish() */
    check_all_splits("data: a\rdata: b\r\r"
                     "event: e\rdata: c\r\n\r"
                     "data: d\n\r", 256, exp, NEXP(exp));
}


static void
test_cr_then_lf(void **state)
{
    sink_t      s;
    aigw_sse_t  p;

    (void) state;

    sink_init(&s);
    aigw_sse_init(&p, 256, test_alloc, &s.pool, sink_handler, &s);

    /* "\r" | "\n" is one line end, not a blank line */
    assert_int_equal(aigw_sse_feed(&p, (u_char *) "data: a\r", 8), 0);
    assert_int_equal(aigw_sse_feed(&p, (u_char *) "\ndata: b\r", 9), 0);
    assert_int_equal(s.nrec, 0);

    /* "\r" ending a blank line waits to learn whether "\n" follows */
    assert_int_equal(aigw_sse_feed(&p, (u_char *) "\n\r", 2), 0);
    assert_int_equal(s.nrec, 0);
    assert_int_equal(aigw_sse_feed(&p, (u_char *) "\n", 1), 0);
    assert_int_equal(s.nrec, 1);
    assert_string_equal(s.rec[0].data, "a\nb");
    assert_int_equal(s.rec[0].raw_len, 20);
    assert_memory_equal(s.raw, "data: a\r\ndata: b\r\n\r\n", 20);

    /* not followed by "\n": the next byte starts the next event */
    assert_int_equal(aigw_sse_feed(&p, (u_char *) "data: c\r\r", 9), 0);
    assert_int_equal(s.nrec, 1);
    assert_int_equal(aigw_sse_feed(&p, (u_char *) "data: d\n\n", 9), 0);
    assert_int_equal(s.nrec, 3);
    assert_string_equal(s.rec[1].data, "c");
    assert_int_equal(s.rec[1].raw_len, 9);
    assert_string_equal(s.rec[2].data, "d");
    assert_int_equal(s.rec[2].raw_len, 9);

    assert_int_equal(aigw_sse_finish(&p), 0);
    assert_int_equal(s.nrec, 3);

    sink_free(&s);
}


static void
test_fields(void **state)
{
    static const exp_t  exp[] = {
        { "", "", 0, 0 },          /* "event" and "data" without colon */
        { NULL, "x", 0, 0 },       /* "data:x", no space */
        { NULL, " y", 0, 0 },      /* only one space stripped */
        { "b", "v:w", 0, 0 },      /* last event wins, colon in value */
        { NULL, NULL, 0, 0 },      /* id, retry, unknown fields only */
        { "ping", NULL, 0, 0 },    /* event without data */
        { NULL, NULL, 0, 0 },      /* extra blank line */
        { NULL, NULL, 0, 0 },
        { NULL, "z", 0, 0 },       /* near-miss names are not fields */
    };

    (void) state;

    check_all_splits("event\ndata\n\n"
                     "data:x\n\n"
                     "data:  y\n\n"
                     "event: a\nevent:b\ndata: v:w\n\n"
                     "id: 7\nretry: 100\nfoo: bar\nbaz\n\n"
                     "event: ping\n\n"
                     "\n\r\n"
                     "Data: q\ndatum: q\nevents: q\ndat: q\n"
                     " data: q\ndata : q\ndata: z\n\n",
                     256, exp, NEXP(exp));
}


static void
test_finish_pending(void **state)
{
    static const exp_t  exp1[] = {
        { NULL, "a", 0, 0 },
        { "e", "b\nc", 0, 1 },
    };
    static const exp_t  exp2[] = {
        { NULL, "a", 0, 0 },
        { NULL, "tail", 0, 1 },
    };
    static const exp_t  exp3[] = {
        { NULL, "a", 0, 0 },
        { NULL, NULL, 0, 1 },
    };

    (void) state;

    check_all_splits("data: a\n\nevent: e\ndata: b\ndata: c", 256,
                     exp1, NEXP(exp1));
    check_all_splits("data: a\n\ndata: tail\r\n", 256, exp2, NEXP(exp2));
    check_all_splits("data: a\n\n: partial comm", 256, exp3, NEXP(exp3));
}


static void
test_finish_api(void **state)
{
    sink_t      s;
    aigw_sse_t  p;

    (void) state;

    sink_init(&s);
    aigw_sse_init(&p, 256, test_alloc, &s.pool, sink_handler, &s);

    assert_int_equal(aigw_sse_finish(&p), 0);
    assert_int_equal(s.nrec, 0);

    assert_int_equal(aigw_sse_feed(&p, (u_char *) "data: x", 7), 0);
    assert_int_equal(aigw_sse_feed(&p, NULL, 0), 0);
    assert_int_equal(s.nrec, 0);
    assert_int_equal(aigw_sse_finish(&p), 0);
    assert_int_equal(s.nrec, 1);
    assert_int_equal(s.rec[0].unterminated, 1);
    assert_string_equal(s.rec[0].data, "x");

    /* finish resets: the parser serves a new stream */
    assert_int_equal(aigw_sse_finish(&p), 0);
    assert_int_equal(s.nrec, 1);
    assert_int_equal(aigw_sse_feed(&p, (u_char *) "data: y\n\n", 9), 0);
    assert_int_equal(s.nrec, 2);
    assert_int_equal(s.rec[1].unterminated, 0);
    assert_string_equal(s.rec[1].data, "y");

    sink_free(&s);
}


static char *
make_big(const char *head, size_t n, const char *tail)
{
    char    *b;
    size_t   hl, tl;

    hl = strlen(head);
    tl = strlen(tail);

    b = malloc(hl + n + tl + 1);
    assert_non_null(b);

    memcpy(b, head, hl);
    memset(b + hl, 'x', n);
    memcpy(b + hl + n, tail, tl + 1);

    return b;
}


static void
test_overflow(void **state)
{
    char  *in;

    static const exp_t  exp[] = {
        { NULL, "a", 0, 0 },
        { NULL, NULL, 1, 0 },
        { "e", "ok", 0, 0 },
        { NULL, NULL, 1, 0 },
        { NULL, "b\nc", 0, 0 },
        { NULL, NULL, 1, 1 },
    };
    static const exp_t  exp_crlf[] = {
        { NULL, NULL, 1, 0 },
        { NULL, "after", 0, 0 },
    };

    (void) state;

    /* a 1000-byte event between normal ones; max_event 64 */
    in = make_big("data: a\n\ndata: ", 1000,
                  "\ndata: more\n\n"
                  "event: e\ndata: ok\n\n"
                  "data: 0123456789012345678901234567890123456789\n"
                  "data: 0123456789012345678901234567890123456789\n\n"
                  "data: b\ndata: c\n\n"
                  "data: trailing, unterminated and far too long to fit in "
                  "the limit");
    check_all_splits(in, 64, exp, NEXP(exp));
    free(in);

    /* CRLF, so some splits fall between the final "\r" and "\n" */
    in = make_big("data: ", 300, "\r\n\r\ndata: after\r\n\r\n");
    check_all_splits(in, 64, exp_crlf, NEXP(exp_crlf));
    free(in);
}


static void
test_overflow_edge(void **state)
{
    char  *in;

    static const exp_t  fits[] = {
        { NULL, NULL, 0, 0 },
        { NULL, "y", 0, 0 },
    };
    static const exp_t  over[] = {
        { NULL, NULL, 1, 0 },
        { NULL, "y", 0, 0 },
    };
    static const exp_t  zero[] = {
        { NULL, NULL, 1, 0 },
        { NULL, NULL, 1, 0 },
    };

    (void) state;

    /* ":" + 59 x + "\r\n\r\n" is exactly 64 bytes: still a normal event */
    in = make_big(":", 59, "\r\n\r\ndata: y\n\n");
    check_all_splits(in, 64, fits, NEXP(fits));
    free(in);

    /* one more byte, and only the optional final "\n" crosses the limit */
    in = make_big(":", 60, "\r\n\r\ndata: y\n\n");
    check_all_splits(in, 64, over, NEXP(over));
    free(in);

    in = make_big(":", 61, "\n\ndata: y\n\n");
    check_all_splits(in, 64, fits, NEXP(fits));
    free(in);

    in = make_big(":", 62, "\n\ndata: y\n\n");
    check_all_splits(in, 64, over, NEXP(over));
    free(in);

    /* max_event 0: every event overflows, framing still works */
    check_all_splits("data: a\n\n\r\n", 0, zero, NEXP(zero));
}


static void
test_endless_line(void **state)
{
    size_t      i, n;
    u_char      chunk[1000];
    sink_t      s;
    aigw_sse_t  p;

    (void) state;

    memset(chunk, 'x', sizeof(chunk));
    memcpy(chunk, "data: ", 6);

    sink_init(&s);
    aigw_sse_init(&p, 4096, test_alloc, &s.pool, sink_handler, &s);

    n = 0;

    for (i = 0; i < 1000; i++) {
        assert_int_equal(aigw_sse_feed(&p, i ? chunk + 6 : chunk,
                                       i ? 994 : 1000), 0);
        n += i ? 994 : 1000;

        /* the memory bound holds for an endless line */
        assert_true(s.pool.total < 2 * 4096);
    }

    assert_int_equal(s.nrec, 1);
    assert_int_equal(s.rec[0].overflow, 1);
    assert_int_equal(s.in_ovf, 1);
    assert_true(s.raw_len > n - 4096);

    assert_int_equal(aigw_sse_finish(&p), 0);
    assert_int_equal(s.in_ovf, 0);
    assert_int_equal(s.rec[0].unterminated, 1);
    assert_int_equal(s.raw_len, n);
    assert_int_equal(s.rec[0].raw_len, n);

    sink_free(&s);
}


static void
test_abort(void **state)
{
    sink_t      s;
    aigw_sse_t  p;
    const char  *in;

    (void) state;

    in = "data: 1\n\ndata: 2\n\ndata: 3\n\n";

    sink_init(&s);
    s.abort_at = 2;
    s.abort_rc = 42;
    aigw_sse_init(&p, 256, test_alloc, &s.pool, sink_handler, &s);

    assert_int_equal(aigw_sse_feed(&p, (u_char *) in, strlen(in)), 42);
    assert_int_equal(s.nrec, 2);

    /* sticky: nothing more is delivered */
    assert_int_equal(aigw_sse_feed(&p, (u_char *) in, strlen(in)), 42);
    assert_int_equal(aigw_sse_finish(&p), 42);
    assert_int_equal(s.nrec, 2);
    sink_free(&s);

    /* abort from an overflow piece */
    sink_init(&s);
    s.abort_at = 1;
    s.abort_rc = -7;
    aigw_sse_init(&p, 16, test_alloc, &s.pool, sink_handler, &s);

    assert_int_equal(aigw_sse_feed(&p, (u_char *) "data: 0123456789", 16),
                     0);
    assert_int_equal(aigw_sse_feed(&p, (u_char *) "abcdef\n\n", 8), -7);
    assert_int_equal(s.calls, 1);
    sink_free(&s);

    /* abort from finish() */
    sink_init(&s);
    s.abort_at = 1;
    s.abort_rc = 3;
    aigw_sse_init(&p, 256, test_alloc, &s.pool, sink_handler, &s);

    assert_int_equal(aigw_sse_feed(&p, (u_char *) "data: x", 7), 0);
    assert_int_equal(aigw_sse_finish(&p), 3);
    assert_int_equal(aigw_sse_finish(&p), 3);
    sink_free(&s);
}


static void
test_alloc_failure(void **state)
{
    sink_t      s;
    aigw_sse_t  p;

    (void) state;

    /* carrying a partial event needs memory */
    sink_init(&s);
    s.pool.fail = 1;
    aigw_sse_init(&p, 256, test_alloc, &s.pool, sink_handler, &s);

    assert_int_equal(aigw_sse_feed(&p, (u_char *) "data: 1\n\n", 9), 0);
    assert_int_equal(aigw_sse_feed(&p, (u_char *) "data: 2", 7), -1);
    assert_int_equal(aigw_sse_feed(&p, (u_char *) "\n\n", 2), -1);
    assert_int_equal(s.nrec, 1);
    sink_free(&s);

    /* so does joining data lines */
    sink_init(&s);
    s.pool.fail = 1;
    aigw_sse_init(&p, 256, test_alloc, &s.pool, sink_handler, &s);

    assert_int_equal(aigw_sse_feed(&p, (u_char *) "data: 1\ndata: 2\n\n", 17),
                     -1);
    assert_int_equal(s.nrec, 0);
    sink_free(&s);
}


static uint32_t
rnd(uint32_t *seed)
{
    /* xorshift32: deterministic, so failures reproduce */
    *seed ^= *seed << 13;
    *seed ^= *seed >> 17;
    *seed ^= *seed << 5;

    return *seed;
}


static void
check_same(sink_t *a, sink_t *b, size_t max_event)
{
    size_t  i;
    rec_t  *x, *y;

    assert_int_equal(a->nrec, b->nrec);

    for (i = 0; i < a->nrec; i++) {
        x = &a->rec[i];
        y = &b->rec[i];

        assert_int_equal(x->overflow, y->overflow);
        assert_int_equal(x->unterminated, y->unterminated);
        assert_int_equal(x->raw_len, y->raw_len);
        assert_int_equal(x->has_data, y->has_data);

        /* the overflow decision depends on size only, never on the split */
        if (x->overflow) {
            assert_true(x->raw_len > max_event);
            continue;
        }

        assert_true(x->raw_len <= max_event);
        assert_int_equal(x->event == NULL, y->event == NULL);

        if (x->event) {
            assert_int_equal(x->event_len, y->event_len);
            assert_memory_equal(x->event, y->event, x->event_len);
        }

        if (x->has_data) {
            assert_int_equal(x->data_len, y->data_len);
            assert_memory_equal(x->data, y->data, x->data_len);
        }
    }
}


static void
test_random(void **state)
{
    size_t       i, k, m, v, len, n, ncuts, max_event, cuts[16];
    u_char       in[600];
    sink_t       one, split;
    uint32_t     seed;
    const char  *tok;

    static const char  *toks[] = {
        "data", "data:", "data: ", "event", "event:", "event: ", ":", " ",
        "\r", "\n", "\r\n", "\n\n", "\r\n\r\n", "x", "yz", "id: 1",
        "{\"usage\":{}}", "[DONE]"
    };

    (void) state;

    seed = 0x2545f491;

    for (i = 0; i < 3000; i++) {
        len = 0;
        n = rnd(&seed) % 80;

        for (k = 0; k < n; k++) {
            tok = toks[rnd(&seed) % (sizeof(toks) / sizeof(toks[0]))];

            if (len + strlen(tok) > sizeof(in)) {
                break;
            }

            memcpy(in + len, tok, strlen(tok));
            len += strlen(tok);
        }

        max_event = (i % 3 == 0) ? 4096 : 1 + rnd(&seed) % 60;

        ncuts = len ? rnd(&seed) % 16 : 0;

        for (k = 0; k < ncuts; k++) {
            cuts[k] = rnd(&seed) % (len + 1);
        }

        /* insertion sort: cuts must ascend; repeats give empty feeds */
        for (k = 1; k < ncuts; k++) {
            v = cuts[k];
            for (m = k; m > 0 && cuts[m - 1] > v; m--) {
                cuts[m] = cuts[m - 1];
            }
            cuts[m] = v;
        }

        parse_cuts(&one, in, len, NULL, 0, max_event);
        parse_cuts(&split, in, len, cuts, ncuts, max_event);

        assert_int_equal(one.raw_len, len);
        assert_memory_equal(one.raw, in, len);
        assert_int_equal(split.raw_len, len);
        assert_memory_equal(split.raw, in, len);

        check_same(&one, &split, max_event);

        sink_free(&one);
        sink_free(&split);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_openai),
        cmocka_unit_test(test_anthropic),
        cmocka_unit_test(test_gemini_crlf),
        cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_multiline_data),
        cmocka_unit_test(test_comments),
        cmocka_unit_test(test_lone_cr),
        cmocka_unit_test(test_cr_then_lf),
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_finish_pending),
        cmocka_unit_test(test_finish_api),
        cmocka_unit_test(test_overflow),
        cmocka_unit_test(test_overflow_edge),
        cmocka_unit_test(test_endless_line),
        cmocka_unit_test(test_abort),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_random),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
