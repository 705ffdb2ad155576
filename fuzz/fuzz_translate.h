/*
 * aigw fuzzing: what the provider-adapter targets share (fuzz_anthropic,
 * fuzz_gemini, fuzz_anthropic_in).
 *
 * Input layout of those targets:
 *
 *   [mode] [bound] [fail] [split spec] payload
 *
 *   mode   low 3 bits: which function; bits 3..5: the k-th emit returns 77
 *          (0: never); the payload is fed to the stream in the pieces of
 *          the split spec (see fz_split_init())
 *   bound  low 4 bits: the output buffer's max (0: none, else 32 << b
 *          bytes); high 4 bits h: the SSE parser's max_event (64 KiB
 *          when h is 0, else 128 << (h & 7), or 1 MiB when h & 8)
 *   fail   0: no failure; k < 0x80: the k-th pool allocation fails;
 *          k >= 0x80: jansson's (k & 0x7f) + 1-th allocation fails (a
 *          json_loadb() call counts as one allocation, see below)
 *
 * Checks: translated bodies are JSON objects that jansson loads (without
 * duplicate keys); stream data is a JSON object or "[DONE]", and no event
 * name or data holds CR or LF (each goes out as one SSE line); nothing
 * follows "[DONE]"; usage counts are never negative; an emit's nonzero
 * return comes back from the translator; NOMEM only when an allocation
 * failed; TOO_BIG only with a bound; a stream's memory stays bounded by
 * its largest event, not its length.
 */

#ifndef _AIGW_FUZZ_TRANSLATE_H_INCLUDED_
#define _AIGW_FUZZ_TRANSLATE_H_INCLUDED_


#define _GNU_SOURCE
#include <dlfcn.h>
#include <jansson.h>

#include "fuzz_common.h"

#include "aigw_adapter.h"
#include "aigw_sse.h"


#define FZ_EMIT_ABORT  77


/* ------------------------------------------------- jansson allocations */

static size_t   fz_jcount;
static size_t   fz_jfail_at;      /* fail the k-th allocation (0: never) */
static int      fz_jarmed;        /* only while the code under test runs */
static int      fz_jfailed;


static void *
fz_jmalloc(size_t size)
{
    if (fz_jarmed && fz_jfail_at && ++fz_jcount >= fz_jfail_at) {
        fz_jfailed = 1;
        return NULL;
    }

    return malloc(size);
}


static void
fz_jfree(void *p)
{
    free(p);
}


/*
 * jansson 2.14 itself does not survive every allocation failure inside its
 * lexer (load.c lex_unget_unsave() asserts), so the parse is never failed
 * from within: this json_loadb() interposes on the library's for the code
 * under test (the executable's definition wins at link time), runs the real
 * one with failures disarmed, and when the failing allocation is due, fails
 * the whole load the way jansson reports running out of memory.
 */

typedef json_t *(*fz_json_loadb_pt)(const char *buffer, size_t buflen,
    size_t flags, json_error_t *error);


json_t *
json_loadb(const char *buffer, size_t buflen, size_t flags,
    json_error_t *error)
{
    int                      armed;
    json_t                  *j;
    static fz_json_loadb_pt  real;

    if (real == NULL) {
        real = (fz_json_loadb_pt) dlsym(RTLD_NEXT, "json_loadb");
        if (real == NULL) {
            abort();
        }
    }

    if (fz_jarmed && fz_jfail_at && ++fz_jcount >= fz_jfail_at) {
        fz_jfailed = 1;

        if (error) {
            memset(error, 0, sizeof(json_error_t));
            snprintf(error->text, sizeof(error->text), "out of memory");
            error->text[JSON_ERROR_TEXT_LENGTH - 1] =
                                               json_error_out_of_memory;
        }

        return NULL;
    }

    armed = fz_jarmed;
    fz_jarmed = 0;
    j = real(buffer, buflen, flags, error);
    fz_jarmed = armed;

    return j;
}


static inline void
fz_translate_init(void)
{
    json_set_alloc_funcs(fz_jmalloc, fz_jfree);
    json_object_seed(1);
}


/* ---------------------------------------------------------------- setup */

typedef struct {
    uint8_t         func;         /* mode & 7 */
    size_t          abort_at;     /* the k-th emit returns 77 */
    size_t          buf_max;
    size_t          max_event;
    size_t          pool_fail;
    size_t          json_fail;
    fz_split_t      split;
    const u_char   *payload;      /* a heap copy */
    size_t          len;
} fz_tr_t;


static inline void
fz_tr_init(fz_tr_t *t, const uint8_t *data, size_t size)
{
    uint8_t  mode, bound, fail;
    fz_in_t  in;

    in.p = data;
    in.n = size;

    mode = fz_byte(&in);
    bound = fz_byte(&in);
    fail = fz_byte(&in);
    fz_split_init(&t->split, &in);

    t->func = mode & 7;
    t->abort_at = (mode >> 3) & 7;
    t->buf_max = (bound & 0x0f) ? (size_t) 32 << (bound & 0x0f) : 0;
    t->max_event = (bound >> 4) == 0 ? 65536
                   : (bound & 0x80) ? (size_t) 1 << 20
                   : (size_t) 128 << ((bound >> 4) & 7);
    t->pool_fail = (fail && fail < 0x80) ? fail : 0;
    t->json_fail = (fail & 0x80) ? (size_t) (fail & 0x7f) + 1 : 0;

    t->payload = fz_dup(in.p, in.n);
    t->len = in.n;

    fz_jcount = 0;
    fz_jfail_at = t->json_fail;
    fz_jfailed = 0;
    fz_jarmed = 0;
}


static inline void
fz_tr_free(fz_tr_t *t)
{
    free((void *) t->payload);
}


/* around each call of the code under test */
#define FZ_ARM()    (fz_jarmed = 1)
#define FZ_DISARM() (fz_jarmed = 0)


/* ---------------------------------------------------------- JSON checks */

/* loads a translated body (jansson's failures disarmed); NULL: a finding */
static inline json_t *
fz_load_object(const char *id, const u_char *p, size_t len, const char *what)
{
    json_t        *j;
    json_error_t   err;
    int            armed;

    armed = fz_jarmed;
    fz_jarmed = 0;

    j = json_loadb((const char *) p, len,
                   JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &err);

    if (j == NULL || !json_is_object(j)) {
        fz_dump(what, p, len);
    }

    FZ_CHECK(id, j != NULL, "%s is not JSON: %s (line %d column %d)", what,
             err.text, err.line, err.column);
    FZ_CHECK(id, json_is_object(j), "%s is not a JSON object", what);

    fz_jarmed = armed;

    return j;
}


static inline void
fz_check_usage_sign(const char *what, const aigw_usage_t *u)
{
    FZ_CHECK("usage-sign", u->prompt_tokens >= 0 && u->completion_tokens >= 0
             && u->total_tokens >= 0 && u->cached_tokens >= 0
             && u->reasoning_tokens >= 0,
             "%s: a negative count: prompt %lld completion %lld total %lld"
             " cached %lld reasoning %lld", what,
             (long long) u->prompt_tokens, (long long) u->completion_tokens,
             (long long) u->total_tokens, (long long) u->cached_tokens,
             (long long) u->reasoning_tokens);
}


/* the codes a translator may return, given what the run allowed */
static inline void
fz_check_rc(const char *what, int rc, const fz_pool_t *pool,
    const aigw_buf_t *out, int emit_aborted)
{
    if (fz_verbose()) {
        fprintf(stderr, "%s: rc %d, %zu bytes out\n", what, rc,
                out ? out->len : 0);
    }

    FZ_CHECK("rc-nomem", rc != AIGW_ADAPTER_NOMEM || pool->failed
             || fz_jfailed,
             "%s returned NOMEM, but no allocation failed", what);

    FZ_CHECK("rc", rc == AIGW_ADAPTER_OK || rc == AIGW_ADAPTER_INVALID
             || rc == AIGW_ADAPTER_NOMEM
             || (rc == AIGW_ADAPTER_TOO_BIG && out && out->max)
             || (rc == FZ_EMIT_ABORT && emit_aborted),
             "%s returned %d (pool failed %d, jansson failed %d, max %zu)",
             what, rc, pool->failed, fz_jfailed, out ? out->max : 0);

    if (out && out->max) {
        FZ_CHECK("buf-max", out->len <= out->max,
                 "%s: %zu bytes in a buffer bounded to %zu", what, out->len,
                 out->max);
    }
}


/* -------------------------------------------------------------- streams */

/*
 * Anthropic's stream grammar, for the translator that writes it:
 * message_start, then blocks (content_block_start index n, its deltas,
 * content_block_stop, with n = 0, 1, 2, ...), message_delta and
 * message_stop; "ping" anywhere after the start; "error" anywhere, last.
 */

typedef struct {
    unsigned        started:1;
    unsigned        stopped:1;
    unsigned        failed:1;
    unsigned        delta:1;
    int             open;          /* the open block, or -1 */
    int             next;          /* the next block's index */
} fz_anth_seq_t;


typedef struct {
    int             anthropic;     /* events are Anthropic's, named */
    size_t          calls;
    size_t          abort_at;
    unsigned        done:1;        /* OpenAI: [DONE] was emitted */
    unsigned        aborted:1;     /* we returned 77 */
    fz_anth_seq_t   seq;
    size_t          largest;       /* largest data emitted */
} fz_emit_t;


static inline void
fz_emit_init(fz_emit_t *e, int anthropic, size_t abort_at)
{
    memset(e, 0, sizeof(fz_emit_t));
    e->anthropic = anthropic;
    e->abort_at = abort_at;
    e->seq.open = -1;
}


static inline int
fz_index_of(json_t *j)
{
    json_t  *v;

    v = json_object_get(j, "index");

    FZ_CHECK("anth-seq", json_is_integer(v),
             "an Anthropic block event without an integer index");

    return (int) json_integer_value(v);
}


static inline void
fz_anth_seq(fz_anth_seq_t *s, const char *ev, json_t *j)
{
    int  idx;

    FZ_CHECK("anth-seq", !s->stopped && !s->failed,
             "event \"%s\" after message_stop or error", ev);

    if (strcmp(ev, "error") == 0) {
        s->failed = 1;
        return;
    }

    if (strcmp(ev, "message_start") == 0) {
        FZ_CHECK("anth-seq", !s->started, "a second message_start");
        s->started = 1;
        return;
    }

    FZ_CHECK("anth-seq", s->started, "event \"%s\" before message_start",
             ev);

    if (strcmp(ev, "ping") == 0) {
        return;
    }

    if (strcmp(ev, "content_block_start") == 0) {
        idx = fz_index_of(j);
        FZ_CHECK("anth-seq", s->open == -1 && !s->delta,
                 "content_block_start %d while block %d is open or after"
                 " message_delta", idx, s->open);
        FZ_CHECK("anth-seq", idx == s->next,
                 "content_block_start %d, expected %d", idx, s->next);
        FZ_CHECK("anth-seq", json_is_object(
                     json_object_get(j, "content_block")),
                 "content_block_start without a content_block");
        s->open = idx;
        s->next++;
        return;
    }

    if (strcmp(ev, "content_block_delta") == 0) {
        idx = fz_index_of(j);
        FZ_CHECK("anth-seq", idx == s->open && idx >= 0,
                 "content_block_delta %d, open block %d", idx, s->open);
        FZ_CHECK("anth-seq", json_is_object(json_object_get(j, "delta")),
                 "content_block_delta without a delta");
        return;
    }

    if (strcmp(ev, "content_block_stop") == 0) {
        idx = fz_index_of(j);
        FZ_CHECK("anth-seq", idx == s->open && idx >= 0,
                 "content_block_stop %d, open block %d", idx, s->open);
        s->open = -1;
        return;
    }

    if (strcmp(ev, "message_delta") == 0) {
        FZ_CHECK("anth-seq", s->open == -1 && !s->delta,
                 "message_delta with block %d open, or a second one",
                 s->open);
        s->delta = 1;
        return;
    }

    if (strcmp(ev, "message_stop") == 0) {
        FZ_CHECK("anth-seq", s->open == -1,
                 "message_stop with block %d open", s->open);
        s->stopped = 1;
        return;
    }

    FZ_CHECK("anth-seq", 0, "an unknown event \"%s\"", ev);
}


static int
fz_emit(void *ctx, const u_char *event, size_t event_len,
    const u_char *data, size_t data_len)
{
    fz_emit_t   *e = ctx;
    json_t      *j, *type;
    char         name[64];
    int          armed;

    armed = fz_jarmed;
    fz_jarmed = 0;

    e->calls++;

    FZ_CHECK("emit", !e->aborted, "emit called again after it returned %d",
             FZ_EMIT_ABORT);
    FZ_CHECK("emit", data != NULL && data_len > 0, "empty data emitted");
    FZ_CHECK("emit-crlf", !fz_has_crlf(data, data_len),
             "emitted data holds CR or LF: it would break SSE framing");
    FZ_CHECK("emit-crlf", event == NULL || !fz_has_crlf(event, event_len),
             "an emitted event name holds CR or LF");

    if (data_len > e->largest) {
        e->largest = data_len;
    }

    if (e->anthropic) {
        FZ_CHECK("emit", event != NULL && event_len > 0
                 && event_len < sizeof(name),
                 "an Anthropic event without a name");

        memcpy(name, event, event_len);
        name[event_len] = '\0';

        j = fz_load_object("emit-json", data, data_len, "emitted data");
        type = json_object_get(j, "type");

        FZ_CHECK("emit", json_is_string(type)
                 && strcmp(json_string_value(type), name) == 0,
                 "event \"%s\" with data of another type", name);

        fz_anth_seq(&e->seq, name, j);
        json_decref(j);

    } else {
        FZ_CHECK("emit", event == NULL, "an OpenAI chunk with an event name");
        FZ_CHECK("emit", !e->done, "a chunk after [DONE]");

        if (data_len == 6 && memcmp(data, "[DONE]", 6) == 0) {
            e->done = 1;

        } else {
            j = fz_load_object("emit-json", data, data_len, "emitted data");
            json_decref(j);
        }
    }

    fz_jarmed = armed;

    if (e->abort_at && e->calls == e->abort_at) {
        e->aborted = 1;
        return FZ_EMIT_ABORT;
    }

    return 0;
}


/*
 * Runs a stream: the payload goes through the SSE parser (its own pool,
 * whole events of at most max_event bytes), and each whole event with data
 * is given to "event" with the translator's state; then "finish".
 * Returns the first nonzero code, or finish's.
 */

typedef int (*fz_stream_event_pt)(void *st, const u_char *event,
    size_t event_len, const u_char *data, size_t data_len,
    aigw_emit_pt emit, void *ctx);
typedef int (*fz_stream_finish_pt)(void *st, aigw_emit_pt emit, void *ctx);


typedef struct {
    void                *st;
    fz_stream_event_pt   event;
    aigw_emit_pt         emit;
    void                *ctx;
    int                  rc;
    size_t               events;
    size_t               largest;   /* largest event data given */
} fz_stream_run_t;


static int
fz_stream_sse(void *data, aigw_sse_event_t *ev)
{
    fz_stream_run_t  *r = data;
    u_char           *copy;
    size_t            n;

    if (ev->overflow || !ev->has_data || r->rc != 0) {
        return 0;
    }

    /* the data in a block of its own: ASan sees reads past it */
    n = ev->data_len;
    copy = fz_piece_copy(ev->data, n);

    if (n > r->largest) {
        r->largest = n;
    }

    r->events++;

    FZ_ARM();
    r->rc = r->event(r->st, ev->event, ev->event_len, copy, n, r->emit,
                     r->ctx);
    FZ_DISARM();

    fz_piece_free(copy, n);

    /* the glue stops feeding a stream whose translation failed */
    return r->rc != 0 ? 1 : 0;
}


static inline int
fz_stream(fz_tr_t *t, void *st, fz_stream_event_pt event,
    fz_stream_finish_pt finish, aigw_emit_pt emit, void *ctx,
    size_t *largest)
{
    int              rc;
    size_t           off, n;
    u_char          *b;
    fz_pool_t        sse_pool;
    aigw_sse_t       sse;
    fz_split_t       sp;
    fz_stream_run_t  r;

    memset(&r, 0, sizeof(r));
    r.st = st;
    r.event = event;
    r.emit = emit;
    r.ctx = ctx;

    sp = t->split;

    fz_pool_init(&sse_pool, 0, 0);
    aigw_sse_init(&sse, t->max_event, fz_alloc, &sse_pool, fz_stream_sse, &r);

    for (off = 0; off < t->len && r.rc == 0; off += n) {
        n = fz_split_next(&sp, t->len - off);

        b = fz_piece_copy(t->payload + off, n);
        (void) aigw_sse_feed(&sse, b, n);
        fz_piece_free(b, n);
    }

    if (r.rc == 0) {
        (void) aigw_sse_finish(&sse);
    }

    fz_pool_free(&sse_pool);

    *largest = r.largest;

    if (r.rc != 0) {
        return r.rc;
    }

    FZ_ARM();
    rc = finish(st, emit, ctx);
    FZ_DISARM();

    return rc;
}


/*
 * The memory a stream took from its pool is bounded by its largest event
 * and by what it emitted, never by the number of events.
 */
static inline void
fz_check_stream_memory(const fz_pool_t *pool, size_t largest_in,
    size_t largest_out)
{
    size_t  bound;

    bound = 8 * (largest_in + largest_out) + 65536;

    FZ_CHECK("stream-memory", pool->total <= bound,
             "the stream took %zu bytes from its pool; largest event %zu,"
             " largest chunk %zu", pool->total, largest_in, largest_out);
}


static const int  fz_statuses[16] = {
    400, 401, 403, 404, 408, 413, 422, 429,
    500, 502, 503, 504, 529, 200, 0, 599
};


#endif /* _AIGW_FUZZ_TRANSLATE_H_INCLUDED_ */
