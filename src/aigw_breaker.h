/*
 * aigw: the per-channel circuit breaker, without nginx.
 *
 * A breaker is 64 bytes of integers in shared memory that every worker
 * updates without a lock, with GCC's __atomic builtins (lock-free on
 * 8-byte aligned words, hence address-free: valid across processes).
 *
 * States: closed (requests pass), open (requests are refused until the
 * cool-down ends) and half-open (one probe is out).  The state and its
 * deadline live in ONE 64-bit word, so that each transition is a single
 * compare-and-swap and exactly one caller wins it:
 *
 *     bits 0..1    state (AIGW_BREAKER_*)
 *     bits 2..17   generation, +1 on every transition (no ABA when the
 *                  same state and deadline come back)
 *     bits 18..63  deadline in ms: when an open breaker lets a probe
 *                  through, or when a probe that never reported is given
 *                  up (2^46 ms is 2230 years: Unix or boot-time ms fit)
 *
 * Open is half-open lazily: once the cool-down is over, the first
 * aigw_breaker_allow() swaps the word to half-open and is the probe;
 * aigw_breaker_state() reports such a breaker as half-open already.
 *
 * Memory ordering: the state word is loaded with acquire and swapped with
 * acq_rel, so a worker that sees a transition sees what its author wrote
 * before it; the counters (consecutive failures, the ratio window,
 * statistics) are independent numbers that publish nothing and use
 * relaxed atomics.  On x86-64 every locked instruction is a full barrier
 * anyway; the orders keep the code right on weaker CPUs (arm64).
 *
 * The time is given by the caller, in ms, from one clock shared by every
 * process (nginx: ngx_current_msec, CLOCK_MONOTONIC), so this is testable.
 */

#ifndef _AIGW_BREAKER_H_INCLUDED_
#define _AIGW_BREAKER_H_INCLUDED_


#include <stdint.h>


#define AIGW_BREAKER_CLOSED      0
#define AIGW_BREAKER_OPEN        1
#define AIGW_BREAKER_HALF_OPEN   2

/* an upstream's Retry-After longer than this is taken as this (1 hour) */
#define AIGW_BREAKER_MAX_RETRY   INT64_C(3600000)


typedef struct {
    int64_t             failures;      /* consecutive failures that open
                                          it; 0: never */
    int64_t             ratio;         /* per-mille of failed outcomes in
                                          the window that opens it; 0:
                                          never */
    int64_t             min_requests;  /* outcomes in the window before
                                          the ratio counts */
    int64_t             window;        /* ms, the ratio's fixed window */
    int64_t             cooldown;      /* ms open before a probe */
    int64_t             probe_timeout; /* ms before a probe that did not
                                          report is replaced */
} aigw_breaker_conf_t;


/* zeroed memory is a closed breaker */

typedef struct {
    uint64_t            word;          /* state, generation, deadline */
    int64_t             failures;      /* consecutive */
    int64_t             win_start;     /* ms */
    int64_t             win_total;     /* outcomes in the window */
    int64_t             win_failed;
    uint64_t            trips;         /* times opened, reopens included */
    uint64_t            probes;        /* probes let through */
    uint64_t            reserved;
} aigw_breaker_t;


/*
 * 1 when a request may go to the channel: always when closed; when open,
 * only to the one caller that turns it half-open after the cool-down (the
 * probe); when half-open, only to one caller once the probe is out longer
 * than probe_timeout.
 */
int aigw_breaker_allow(aigw_breaker_t *b, const aigw_breaker_conf_t *c,
    int64_t now);

/*
 * 1 when aigw_breaker_allow() may answer 1, without taking the probe:
 * for choosing among channels before committing to one.
 */
int aigw_breaker_ready(const aigw_breaker_t *b, int64_t now);

/*
 * A good answer: closes a half-open breaker (or an open one whose
 * cool-down is over), resets the consecutive failures and, when closed,
 * counts in the ratio window.  The hot path: with c->ratio 0 and no
 * failure before, it only reads.  A success from a request sent before the
 * breaker opened, arriving during the cool-down, changes nothing.
 */
void aigw_breaker_success(aigw_breaker_t *b, const aigw_breaker_conf_t *c,
    int64_t now);

/*
 * A failed answer (connection error, timeout, 5xx, 429).  Opens a closed
 * breaker on c->failures consecutive failures or on c->ratio in the
 * window (with at least c->min_requests outcomes), and reopens a half-open
 * one: open for max(cooldown, retry_after_ms).  A failure during the
 * cool-down only lengthens it to its own Retry-After.
 */
void aigw_breaker_failure(aigw_breaker_t *b, const aigw_breaker_conf_t *c,
    int64_t now, int64_t retry_after_ms);

/* AIGW_BREAKER_CLOSED, _OPEN or _HALF_OPEN (cool-down over counts) */
int aigw_breaker_state(const aigw_breaker_t *b, int64_t now);

/* ms until an open breaker lets a probe through; 0 if it would now */
int64_t aigw_breaker_wait(const aigw_breaker_t *b, int64_t now);


#endif /* _AIGW_BREAKER_H_INCLUDED_ */
