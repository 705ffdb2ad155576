/*
 * aigw: incremental Server-Sent-Events framing (WHATWG event stream).
 *
 * Bytes arrive in arbitrary pieces (nginx body filter); every event is
 * delivered exactly once whatever the split, with bounded memory.  No nginx
 * dependency so it can be unit tested alone.
 */

#ifndef AIGW_SSE_H
#define AIGW_SSE_H

#include <sys/types.h>
#include <stddef.h>


typedef struct {
    /* raw bytes of this event as received, including its blank line */
    const u_char  *raw;
    size_t         raw_len;

    /* value of the last "event:" field, NULL/0 if none */
    const u_char  *event;
    size_t         event_len;

    /* "data:" values joined with "\n" */
    const u_char  *data;
    size_t         data_len;

    unsigned       has_data:1;     /* at least one data: line */
    unsigned       overflow:1;     /* raw is a piece of an oversized event;
                                      event/data are unset */
    unsigned       complete:1;     /* last piece of this event */
    unsigned       unterminated:1; /* from aigw_sse_finish(), no blank line */
} aigw_sse_event_t;


/*
 * ev and every pointer in it are valid only during the call; a nonzero
 * return aborts aigw_sse_feed() with that value.
 */
typedef int (*aigw_sse_handler_pt)(void *data, aigw_sse_event_t *ev);

/* memory is never freed individually; the caller's pool frees it */
typedef void *(*aigw_sse_alloc_pt)(void *pool, size_t size);


typedef struct {
    size_t               max_event;
    aigw_sse_alloc_pt    alloc;
    void                *pool;
    aigw_sse_handler_pt  handler;
    void                *data;

    /* raw bytes of the pending event carried between feeds */
    u_char              *buf;
    size_t               len;
    size_t               cap;

    /* scratch for joining multi-line data */
    u_char              *join;
    size_t               join_cap;

    int                  rc;        /* sticky abort or allocation error */

    unsigned             bol:1;     /* at the beginning of a line */
    unsigned             cr:1;      /* last byte seen was '\r' */
    unsigned             done:1;    /* blank line ended in '\r': event is
                                       complete, an optional '\n' may follow */
    unsigned             overflow:1;  /* streaming pieces of a big event */
    unsigned             ov_cr:1;   /* overflow: final '\r' not yet delivered */
} aigw_sse_t;


/*
 * max_event bounds the raw size of one event.  Larger events are delivered
 * as overflow pieces (one or more, the last with complete = 1).  Memory
 * taken from alloc stays below about 2 * max_event for the carry buffer plus
 * as much again for joining multi-line data.
 */
void aigw_sse_init(aigw_sse_t *p, size_t max_event, aigw_sse_alloc_pt alloc,
    void *pool, aigw_sse_handler_pt handler, void *data);

/*
 * Returns 0, the handler's nonzero value, or -1 on allocation failure.
 * After a nonzero return the parser is stuck and returns that value again.
 */
int aigw_sse_feed(aigw_sse_t *p, const u_char *buf, size_t len);

/*
 * End of stream: delivers a pending event (unterminated = 1 unless its
 * blank line was already seen) and resets the parser for a new stream.
 */
int aigw_sse_finish(aigw_sse_t *p);


#endif /* AIGW_SSE_H */
