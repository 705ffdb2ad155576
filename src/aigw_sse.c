/*
 * aigw: incremental Server-Sent-Events framing.
 *
 * The scanner only finds event boundaries, tracking line-end state across
 * feeds; fields are parsed once an event's raw bytes are contiguous (in the
 * caller's buffer when the event did not straddle feeds, otherwise in the
 * carry buffer).
 */

#include <string.h>

#include "aigw_sse.h"


#define AIGW_SSE_MIN_ALLOC  1024


static u_char *aigw_sse_grow(aigw_sse_t *p, u_char *old, size_t used,
    size_t *cap, size_t need);
static int aigw_sse_carry(aigw_sse_t *p, const u_char *data, size_t len);
static int aigw_sse_event(aigw_sse_t *p, const u_char *raw, size_t len,
    unsigned unterminated);
static int aigw_sse_piece(aigw_sse_t *p, const u_char *raw, size_t len,
    unsigned complete, unsigned unterminated);
static int aigw_sse_complete(aigw_sse_t *p, const u_char *in, size_t start,
    size_t end);
static int aigw_sse_go_overflow(aigw_sse_t *p);
static void aigw_sse_reset(aigw_sse_t *p);


/* static, so overflow pieces for a '\r' split from its event need no memory */
static const u_char  aigw_sse_crlf[] = "\r\n";


void
aigw_sse_init(aigw_sse_t *p, size_t max_event, aigw_sse_alloc_pt alloc,
    void *pool, aigw_sse_handler_pt handler, void *data)
{
    memset(p, 0, sizeof(aigw_sse_t));

    p->max_event = max_event;
    p->alloc = alloc;
    p->pool = pool;
    p->handler = handler;
    p->data = data;

    aigw_sse_reset(p);
}


int
aigw_sse_feed(aigw_sse_t *p, const u_char *in, size_t n)
{
    int     rc;
    u_char  c;
    size_t  i, start, end;

    if (p->rc) {
        return p->rc;
    }

    if (n == 0) {
        return 0;
    }

    /* in[start..] belongs to the pending event, after p->buf[0..p->len) */
    start = 0;

    for (i = 0; i < n; i++) {
        c = in[i];

        if (p->done) {
            /* the event is over; only a '\n' completing "\r\n" joins it */

            if (c == '\n') {
                if (!p->overflow && p->len + (i - start) >= p->max_event) {
                    rc = aigw_sse_go_overflow(p);
                    if (rc) {
                        goto failed;
                    }
                }

                end = i + 1;

            } else {
                end = i;
            }

            if (p->ov_cr) {
                /* the '\r' came in an earlier feed, already out of reach */
                rc = aigw_sse_piece(p, aigw_sse_crlf, (c == '\n') ? 2 : 1,
                                    1, 0);

            } else {
                rc = aigw_sse_complete(p, in, start, end);
            }

            if (rc) {
                goto failed;
            }

            aigw_sse_reset(p);
            start = end;

            if (c == '\n') {
                continue;
            }
        }

        if (!p->overflow && p->len + (i - start) >= p->max_event) {
            rc = aigw_sse_go_overflow(p);
            if (rc) {
                goto failed;
            }
        }

        if (c == '\n' && p->cr) {
            /* second half of "\r\n" that ended a non-blank line */
            p->cr = 0;
            continue;
        }

        p->cr = (c == '\r');

        if (c != '\r' && c != '\n') {
            p->bol = 0;
            continue;
        }

        if (!p->bol) {
            p->bol = 1;
            continue;
        }

        /* blank line */

        if (c == '\r') {
            /* wait for the next byte to know whether "\r\n" ends it */
            p->done = 1;
            continue;
        }

        rc = aigw_sse_complete(p, in, start, i + 1);
        if (rc) {
            goto failed;
        }

        aigw_sse_reset(p);
        start = i + 1;
    }

    if (start == n) {
        return 0;
    }

    if (!p->overflow) {
        /* the per-byte check above keeps this within max_event */
        rc = aigw_sse_carry(p, in + start, n - start);
        if (rc) {
            goto failed;
        }

        return 0;
    }

    /* overflow: pass bytes on as they arrive instead of buffering them */

    end = n;

    if (p->done) {
        /* hold back the final '\r' so the "\r\n" can go out as one piece */
        end = n - 1;
        p->ov_cr = 1;
    }

    if (end > start) {
        rc = aigw_sse_piece(p, in + start, end - start, 0, 0);
        if (rc) {
            goto failed;
        }
    }

    return 0;

failed:

    p->rc = rc;
    return rc;
}


int
aigw_sse_finish(aigw_sse_t *p)
{
    int  rc;

    if (p->rc) {
        return p->rc;
    }

    rc = 0;

    if (p->overflow) {
        if (p->ov_cr) {
            rc = aigw_sse_piece(p, aigw_sse_crlf, 1, 1, 0);

        } else {
            /* an empty last piece still tells the caller the event ended */
            rc = aigw_sse_piece(p, aigw_sse_crlf, 0, 1, 1);
        }

    } else if (p->len) {
        rc = aigw_sse_event(p, p->buf, p->len, !p->done);
    }

    if (rc) {
        p->rc = rc;
        return rc;
    }

    aigw_sse_reset(p);
    p->len = 0;

    return 0;
}


static void
aigw_sse_reset(aigw_sse_t *p)
{
    p->bol = 1;
    p->cr = 0;
    p->done = 0;
    p->overflow = 0;
    p->ov_cr = 0;
}


static u_char *
aigw_sse_grow(aigw_sse_t *p, u_char *old, size_t used, size_t *cap,
    size_t need)
{
    size_t   size;
    u_char  *b;

    size = *cap ? *cap : AIGW_SSE_MIN_ALLOC;

    while (size < need) {
        size *= 2;
    }

    /* never above the bound, so the doubling sums to < 2 * max_event */
    if (size > p->max_event) {
        size = (need > p->max_event) ? need : p->max_event;
    }

    b = p->alloc(p->pool, size);
    if (b == NULL) {
        return NULL;
    }

    if (used) {
        memcpy(b, old, used);
    }

    *cap = size;

    return b;
}


static int
aigw_sse_carry(aigw_sse_t *p, const u_char *data, size_t len)
{
    u_char  *b;

    if (p->len + len > p->cap) {
        b = aigw_sse_grow(p, p->buf, p->len, &p->cap, p->len + len);
        if (b == NULL) {
            return -1;
        }

        p->buf = b;
    }

    memcpy(p->buf + p->len, data, len);
    p->len += len;

    return 0;
}


/* the pending event ends at in[end]: deliver it in one contiguous piece */

static int
aigw_sse_complete(aigw_sse_t *p, const u_char *in, size_t start, size_t end)
{
    int  rc;

    if (p->overflow) {
        return aigw_sse_piece(p, in + start, end - start, 1, 0);
    }

    if (p->len == 0) {
        /* zero-copy fast path: the whole event is in the caller's buffer */
        return aigw_sse_event(p, in + start, end - start, 0);
    }

    rc = aigw_sse_carry(p, in + start, end - start);
    if (rc) {
        return rc;
    }

    rc = aigw_sse_event(p, p->buf, p->len, 0);

    p->len = 0;

    return rc;
}


/* the pending event outgrew max_event: flush what is carried, stream on */

static int
aigw_sse_go_overflow(aigw_sse_t *p)
{
    int  rc;

    p->overflow = 1;

    if (p->len == 0) {
        return 0;
    }

    rc = aigw_sse_piece(p, p->buf, p->len, 0, 0);

    p->len = 0;

    return rc;
}


static int
aigw_sse_piece(aigw_sse_t *p, const u_char *raw, size_t len,
    unsigned complete, unsigned unterminated)
{
    aigw_sse_event_t  ev;

    memset(&ev, 0, sizeof(aigw_sse_event_t));

    ev.raw = raw;
    ev.raw_len = len;
    ev.overflow = 1;
    ev.complete = complete;
    ev.unterminated = unterminated;

    return p->handler(p->data, &ev);
}


/* parse the fields of a whole event held contiguously in raw */

static int
aigw_sse_event(aigw_sse_t *p, const u_char *raw, size_t len,
    unsigned unterminated)
{
    size_t             vlen, jlen, ndata;
    u_char            *b;
    const u_char      *pos, *last, *line, *eol, *colon, *v;
    aigw_sse_event_t   ev;

    memset(&ev, 0, sizeof(aigw_sse_event_t));

    ev.raw = raw;
    ev.raw_len = len;
    ev.complete = 1;
    ev.unterminated = unterminated;

    pos = raw;
    last = raw + len;
    ndata = 0;
    jlen = 0;

    while (pos < last) {
        line = pos;

        while (pos < last && *pos != '\r' && *pos != '\n') {
            pos++;
        }

        eol = pos;

        if (pos < last) {
            if (*pos == '\r' && pos + 1 < last && pos[1] == '\n') {
                pos++;
            }

            pos++;
        }

        if (eol == line || *line == ':') {
            continue;
        }

        colon = memchr(line, ':', eol - line);

        if (colon) {
            v = colon + 1;

            if (v < eol && *v == ' ') {
                v++;
            }

        } else {
            colon = eol;
            v = eol;
        }

        vlen = eol - v;

        if (colon - line == 5 && memcmp(line, "event", 5) == 0) {
            ev.event = v;
            ev.event_len = vlen;
            continue;
        }

        if (colon - line != 4 || memcmp(line, "data", 4) != 0) {
            continue;
        }

        if (ndata++ == 0) {
            /* a single data line is used in place */
            ev.data = v;
            ev.data_len = vlen;
            continue;
        }

        if (ndata == 2) {
            /* joined data never exceeds the raw event, so one size fits */
            if (p->join_cap < len) {
                b = aigw_sse_grow(p, NULL, 0, &p->join_cap, len);
                if (b == NULL) {
                    return -1;
                }

                p->join = b;
            }

            memcpy(p->join, ev.data, ev.data_len);
            jlen = ev.data_len;
        }

        p->join[jlen++] = '\n';
        memcpy(p->join + jlen, v, vlen);
        jlen += vlen;

        ev.data = p->join;
        ev.data_len = jlen;
    }

    ev.has_data = (ndata != 0);

    return p->handler(p->data, &ev);
}
