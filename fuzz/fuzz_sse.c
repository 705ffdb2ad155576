/*
 * aigw fuzzing: the incremental SSE parser (src/aigw_sse.c).
 *
 * Input: [max_event selector] [abort/fail selector] [split spec] payload.
 * The payload is fed in the chosen pieces (each in a heap block freed right
 * after the feed), then whole, then aigw_sse_finish().  Checks:
 *   - the raw bytes of all events and overflow pieces, concatenated, are
 *     exactly the payload;
 *   - both runs give the same events (an overflowed event counts as one,
 *     its pieces joined), and those are the events of a plain reference
 *     splitter: the same raw text, overflow exactly when the raw text is
 *     longer than max_event, unterminated exactly for a last event without
 *     its blank line;
 *   - the "event" and "data" fields of every whole event match a plain
 *     reference reading of its raw text;
 *   - the memory taken from the pool stays within the documented bound;
 *   - a third run whose handler aborts at the k-th call, or whose k-th
 *     allocation fails, returns that value, then again on every call.
 */

#include "fuzz_common.h"

#include "aigw_sse.h"


typedef struct {
    u_char         *raw;
    size_t          raw_len;
    u_char         *event;        /* NULL: no event field */
    size_t          event_len;
    u_char         *data;         /* NULL: no data line */
    size_t          data_len;
    unsigned        overflow:1;
    unsigned        unterminated:1;
} fz_ev_t;


typedef struct {
    fz_ev_t        *ev;
    size_t          n;
    size_t          cap;
    int             in_ovf;       /* an overflow sequence is open */

    u_char         *all;          /* every raw byte, in order */
    size_t          all_len;

    size_t          max_event;
    size_t          calls;
    size_t          abort_at;     /* 1-based call to abort on, 0: never */
} fz_sink_t;


static const size_t  fz_max_events[8] = { 1, 2, 7, 16, 64, 200, 1024, 5000 };


static u_char *
fz_memdup(const u_char *p, size_t n)
{
    u_char  *b;

    b = malloc(n ? n : 1);
    if (b == NULL) {
        abort();
    }

    if (n) {
        memcpy(b, p, n);
    }

    return b;
}


/*
 * Appends to a malloc()ed buffer that keeps its capacity in a size_t just
 * before the bytes, so that one byte at a time stays linear.
 */
static void
fz_append(u_char **buf, size_t *len, const u_char *p, size_t n)
{
    size_t  *h, cap;

    if (n == 0) {
        return;
    }

    h = *buf ? (size_t *) *buf - 1 : NULL;
    cap = h ? *h : 0;

    if (*len + n > cap) {
        cap = cap ? cap : 64;

        while (cap < *len + n) {
            cap *= 2;
        }

        h = realloc(h, sizeof(size_t) + cap);
        if (h == NULL) {
            abort();
        }

        *h = cap;
        *buf = (u_char *) (h + 1);
    }

    memcpy(*buf + *len, p, n);
    *len += n;
}


static u_char *
fz_bufnew(void)
{
    size_t  *h;

    h = malloc(sizeof(size_t) + 64);
    if (h == NULL) {
        abort();
    }

    *h = 64;

    return (u_char *) (h + 1);
}


static void
fz_buf_free(u_char *buf)
{
    if (buf) {
        free((size_t *) buf - 1);
    }
}


static fz_ev_t *
fz_new_event(fz_sink_t *s)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->ev = realloc(s->ev, s->cap * sizeof(fz_ev_t));
        if (s->ev == NULL) {
            abort();
        }
    }

    memset(&s->ev[s->n], 0, sizeof(fz_ev_t));

    return &s->ev[s->n++];
}


static int
fz_handler(void *data, aigw_sse_event_t *ev)
{
    fz_sink_t  *s = data;
    fz_ev_t    *e;

    s->calls++;

    if (s->abort_at && s->calls == s->abort_at) {
        return 7;
    }

    FZ_CHECK("sse-event", ev->raw != NULL || ev->raw_len == 0,
             "raw is NULL with %zu bytes", ev->raw_len);

    fz_append(&s->all, &s->all_len, ev->raw, ev->raw_len);

    if (ev->overflow) {
        FZ_CHECK("sse-event", ev->event == NULL && ev->data == NULL
                 && !ev->has_data,
                 "an overflow piece has fields set");

        if (!s->in_ovf) {
            e = fz_new_event(s);
            e->overflow = 1;
            s->in_ovf = 1;
        }

        e = &s->ev[s->n - 1];
        fz_append(&e->raw, &e->raw_len, ev->raw, ev->raw_len);

        if (ev->complete) {
            e->unterminated = ev->unterminated;
            s->in_ovf = 0;

        } else {
            FZ_CHECK("sse-event", !ev->unterminated,
                     "an unterminated piece that is not the last");
        }

        return 0;
    }

    FZ_CHECK("sse-event", !s->in_ovf, "a whole event inside an overflow");
    FZ_CHECK("sse-event", ev->complete, "a whole event not complete");
    FZ_CHECK("sse-event", ev->raw_len > 0, "an empty whole event");
    FZ_CHECK("sse-bound", ev->raw_len <= s->max_event,
             "a whole event of %zu bytes, max_event %zu", ev->raw_len,
             s->max_event);
    FZ_CHECK("sse-event", ev->event == NULL
             || (ev->event >= ev->raw
                 && ev->event + ev->event_len <= ev->raw + ev->raw_len),
             "the event name is not inside the raw event");
    FZ_CHECK("sse-event", ev->has_data || (ev->data == NULL
                                           && ev->data_len == 0),
             "data without has_data");
    FZ_CHECK("sse-event", !ev->has_data || ev->data != NULL
             || ev->data_len == 0,
             "has_data with a NULL data of %zu bytes", ev->data_len);

    e = fz_new_event(s);
    fz_append(&e->raw, &e->raw_len, ev->raw, ev->raw_len);
    e->unterminated = ev->unterminated;

    if (ev->event) {
        e->event = fz_memdup(ev->event, ev->event_len);
        e->event_len = ev->event_len;
    }

    if (ev->has_data) {
        e->data = fz_memdup(ev->data ? ev->data : (u_char *) "",
                            ev->data_len);
        e->data_len = ev->data_len;
    }

    return 0;
}


static void
fz_sink_free(fz_sink_t *s)
{
    size_t  i;

    for (i = 0; i < s->n; i++) {
        fz_buf_free(s->ev[i].raw);
        free(s->ev[i].event);
        free(s->ev[i].data);
    }

    free(s->ev);
    fz_buf_free(s->all);
}


/* feeds payload in the pieces of sp (NULL: whole); returns the last rc */
static int
fz_run(fz_sink_t *s, fz_pool_t *pool, const u_char *p, size_t len,
    fz_split_t *sp, int *sticky_ok)
{
    int          rc, rc2;
    size_t       n, off;
    u_char      *b;
    aigw_sse_t   sse;

    aigw_sse_init(&sse, s->max_event, fz_alloc, pool, fz_handler, s);

    rc = 0;
    off = 0;
    *sticky_ok = 1;

    while (off < len) {
        n = sp ? fz_split_next(sp, len - off) : len - off;

        b = fz_piece_copy(p + off, n);
        rc2 = aigw_sse_feed(&sse, b, n);
        fz_piece_free(b, n);

        if (rc && rc2 != rc) {
            *sticky_ok = 0;
        }

        rc = rc2;
        off += n;
    }

    rc2 = aigw_sse_finish(&sse);

    if (rc && rc2 != rc) {
        *sticky_ok = 0;
    }

    rc = rc2;

    if (rc) {
        /* once stuck, it stays stuck */
        b = fz_piece_copy((u_char *) "data: x\n\n", 9);
        rc2 = aigw_sse_feed(&sse, b, 9);
        fz_piece_free(b, 9);

        if (rc2 != rc) {
            *sticky_ok = 0;
        }
    }

    return rc;
}


/* a plain reading of one raw event's fields (WHATWG) */
static void
fz_ref_fields(const fz_ev_t *e, u_char **event, size_t *event_len,
    u_char **data, size_t *data_len, int *has_data)
{
    size_t         vlen;
    const u_char  *pos, *last, *line, *eol, *colon, *v;

    *event = NULL;
    *event_len = 0;
    *data = NULL;
    *data_len = 0;
    *has_data = 0;

    pos = e->raw;
    last = e->raw + e->raw_len;

    while (pos < last) {
        line = pos;

        while (pos < last && *pos != '\r' && *pos != '\n') {
            pos++;
        }

        eol = pos;

        if (pos < last) {
            pos += (*pos == '\r' && pos + 1 < last && pos[1] == '\n') ? 2 : 1;
        }

        if (eol == line || *line == ':') {
            continue;
        }

        colon = memchr(line, ':', eol - line);

        if (colon == NULL) {
            colon = eol;
            v = eol;

        } else {
            v = colon + 1;

            if (v < eol && *v == ' ') {
                v++;
            }
        }

        vlen = eol - v;

        if (colon - line == 5 && memcmp(line, "event", 5) == 0) {
            *event = (u_char *) v;
            *event_len = vlen;

        } else if (colon - line == 4 && memcmp(line, "data", 4) == 0) {
            if (*has_data) {
                fz_append(data, data_len, (u_char *) "\n", 1);
            }

            if (*data == NULL) {
                /* an empty data line still makes data present */
                *data = fz_bufnew();
            }

            fz_append(data, data_len, v, vlen);
            *has_data = 1;
        }
    }
}


/* the event boundaries of the whole payload, checked against a sink */
static void
fz_check_reference(const fz_sink_t *s, const u_char *p, size_t len)
{
    int           has_data;
    size_t        i, k, start, end, event_len, data_len;
    u_char       *event, *data;
    unsigned      unterminated;
    const fz_ev_t *e;

    i = 0;
    k = 0;
    start = 0;

    for ( ;; ) {
        int  bol = 1;

        /* find the end of the event that starts at "start" */

        end = len;
        unterminated = 1;

        for (i = start; i < len; ) {
            if (p[i] == '\r' || p[i] == '\n') {
                size_t  le = i + 1;

                if (p[i] == '\r' && i + 1 < len && p[i + 1] == '\n') {
                    le = i + 2;
                }

                if (bol) {
                    end = le;
                    unterminated = 0;
                    break;
                }

                bol = 1;
                i = le;
                continue;
            }

            bol = 0;
            i++;
        }

        if (start == len) {
            break;
        }

        FZ_CHECK("sse-ref", k < s->n,
                 "the parser gave %zu events, the reference has more", s->n);

        e = &s->ev[k];

        FZ_CHECK("sse-ref", e->raw_len == end - start
                 && memcmp(e->raw, p + start, end - start) == 0,
                 "event %zu: raw of %zu bytes, reference %zu bytes", k,
                 e->raw_len, end - start);
        FZ_CHECK("sse-ref", e->unterminated == unterminated,
                 "event %zu: unterminated %u, reference %u", k,
                 e->unterminated, unterminated);
        FZ_CHECK("sse-ref", e->overflow == (end - start > s->max_event),
                 "event %zu of %zu bytes: overflow %u, max_event %zu", k,
                 end - start, e->overflow, s->max_event);

        if (!e->overflow) {
            fz_ref_fields(e, &event, &event_len, &data, &data_len,
                          &has_data);

            FZ_CHECK("sse-fields", (event == NULL) == (e->event == NULL)
                     && event_len == e->event_len
                     && (event_len == 0
                         || memcmp(event, e->event, event_len) == 0),
                     "event %zu: the event name differs", k);
            FZ_CHECK("sse-fields", has_data == (e->data != NULL)
                     && data_len == e->data_len
                     && (data_len == 0
                         || memcmp(data, e->data, data_len) == 0),
                     "event %zu: the data differs", k);

            fz_buf_free(data);
        }

        k++;
        start = end;
    }

    FZ_CHECK("sse-ref", k == s->n, "the parser gave %zu events, the"
             " reference %zu", s->n, k);
}


static void
fz_compare(const fz_sink_t *a, const fz_sink_t *b)
{
    size_t  i;

    FZ_CHECK("sse-split", a->n == b->n, "split: %zu events, whole: %zu",
             a->n, b->n);

    for (i = 0; i < a->n; i++) {
        const fz_ev_t  *x = &a->ev[i], *y = &b->ev[i];

        FZ_CHECK("sse-split", x->raw_len == y->raw_len
                 && memcmp(x->raw, y->raw, x->raw_len) == 0
                 && x->overflow == y->overflow
                 && x->unterminated == y->unterminated
                 && (x->event == NULL) == (y->event == NULL)
                 && x->event_len == y->event_len
                 && (x->event_len == 0
                     || memcmp(x->event, y->event, x->event_len) == 0)
                 && (x->data == NULL) == (y->data == NULL)
                 && x->data_len == y->data_len
                 && (x->data_len == 0
                     || memcmp(x->data, y->data, x->data_len) == 0),
                 "event %zu differs between split and whole feeding", i);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int          rc, sticky;
    uint8_t      cfg, hostile;
    size_t       len, bound;
    fz_in_t      in;
    fz_pool_t    pool;
    fz_sink_t    split, whole, bad;
    fz_split_t   sp, sp2;
    const u_char *p;

    in.p = data;
    in.n = size;

    cfg = fz_byte(&in);
    hostile = fz_byte(&in);
    fz_split_init(&sp, &in);
    sp2 = sp;

    p = in.p;
    len = in.n;

    memset(&split, 0, sizeof(fz_sink_t));
    memset(&whole, 0, sizeof(fz_sink_t));
    memset(&bad, 0, sizeof(fz_sink_t));

    split.max_event = fz_max_events[cfg & 7];
    whole.max_event = split.max_event;
    bad.max_event = split.max_event;

    /* about 2 x max_event for the carry buffer, as much for joining */
    bound = 4 * split.max_event + 4096;

    /* split */

    fz_pool_init(&pool, 0, 0);
    rc = fz_run(&split, &pool, p, len, &sp, &sticky);

    FZ_CHECK("sse-rc", rc == 0, "feeding returned %d", rc);
    FZ_CHECK("sse-bound", pool.total <= bound,
             "%zu bytes allocated for max_event %zu", pool.total,
             split.max_event);
    FZ_CHECK("sse-raw", split.all_len == len
             && (len == 0 || memcmp(split.all, p, len) == 0),
             "split: raw bytes of events (%zu) are not the input (%zu)",
             split.all_len, len);
    FZ_CHECK("sse-event", !split.in_ovf, "split: an overflow never ended");

    fz_pool_free(&pool);

    /* whole */

    fz_pool_init(&pool, 0, 0);
    rc = fz_run(&whole, &pool, p, len, NULL, &sticky);

    FZ_CHECK("sse-rc", rc == 0, "feeding returned %d", rc);
    FZ_CHECK("sse-raw", whole.all_len == len
             && (len == 0 || memcmp(whole.all, p, len) == 0),
             "whole: raw bytes of events (%zu) are not the input (%zu)",
             whole.all_len, len);

    fz_pool_free(&pool);

    fz_compare(&split, &whole);
    fz_check_reference(&whole, p, len);

    /* hostile: the handler aborts, or an allocation fails */

    if (hostile) {
        if (hostile & 0x80) {
            fz_pool_init(&pool, 0, (hostile & 0x7f) + 1);

        } else {
            fz_pool_init(&pool, 0, 0);
            bad.abort_at = hostile;
        }

        rc = fz_run(&bad, &pool, p, len, &sp2, &sticky);

        if (bad.abort_at && bad.calls >= bad.abort_at) {
            FZ_CHECK("sse-rc", rc == 7 && sticky,
                     "after the handler's 7: rc %d, sticky %d", rc, sticky);

        } else if (pool.failed) {
            FZ_CHECK("sse-rc", rc == -1 && sticky,
                     "after an allocation failure: rc %d, sticky %d", rc,
                     sticky);

        } else {
            FZ_CHECK("sse-rc", rc == 0, "feeding returned %d", rc);
        }

        fz_pool_free(&pool);
    }

    fz_sink_free(&split);
    fz_sink_free(&whole);
    fz_sink_free(&bad);

    return 0;
}
