/*
 * aigw: the per-channel circuit breaker, without nginx (see aigw_breaker.h).
 */

#include "aigw_breaker.h"


#define AIGW_BREAKER_STATE_MASK   UINT64_C(3)
#define AIGW_BREAKER_GEN_SHIFT    2
#define AIGW_BREAKER_GEN_MASK     UINT64_C(0xffff)
#define AIGW_BREAKER_TIME_SHIFT   18
#define AIGW_BREAKER_TIME_MAX     ((INT64_C(1) << 46) - 1)

#define aigw_breaker_st(w)        ((int) ((w) & AIGW_BREAKER_STATE_MASK))
#define aigw_breaker_deadline(w)  ((int64_t) ((w) >> AIGW_BREAKER_TIME_SHIFT))

#define aigw_breaker_load(p)                                                  \
    __atomic_load_n(p, __ATOMIC_ACQUIRE)
#define aigw_breaker_cas(p, expected, desired)                                \
    __atomic_compare_exchange_n(p, expected, desired, 0, __ATOMIC_ACQ_REL,    \
                                __ATOMIC_ACQUIRE)


/* one breaker is shared by processes: its words must be address-free */
_Static_assert(__atomic_always_lock_free(sizeof(uint64_t), 0),
               "64-bit atomics are not lock-free on this CPU");
_Static_assert(sizeof(aigw_breaker_t) == 64,
               "a breaker fills one cache line");


static uint64_t aigw_breaker_word(uint64_t old, int state, int64_t deadline);
static void aigw_breaker_count(aigw_breaker_t *b,
    const aigw_breaker_conf_t *c, int64_t now, int failed, int64_t *total,
    int64_t *nfailed);
static void aigw_breaker_restart(aigw_breaker_t *b, int64_t now);


int
aigw_breaker_allow(aigw_breaker_t *b, const aigw_breaker_conf_t *c,
    int64_t now)
{
    int64_t   timeout;
    uint64_t  w, nw;

    w = aigw_breaker_load(&b->word);

    if (aigw_breaker_st(w) == AIGW_BREAKER_CLOSED) {
        return 1;
    }

    if (now < aigw_breaker_deadline(w)) {
        return 0;
    }

    /*
     * The cool-down is over, or the probe is out too long: whoever swaps
     * this exact word is the probe; the generation makes the new word
     * differ from the old one even when the deadline does not move.
     */

    timeout = c->probe_timeout > 0 ? c->probe_timeout : 1;
    nw = aigw_breaker_word(w, AIGW_BREAKER_HALF_OPEN, now + timeout);

    if (aigw_breaker_cas(&b->word, &w, nw)) {
        (void) __atomic_fetch_add(&b->probes, 1, __ATOMIC_RELAXED);
        return 1;
    }

    /* lost: someone else is the probe, unless the probe closed it */

    return aigw_breaker_st(w) == AIGW_BREAKER_CLOSED;
}


int
aigw_breaker_ready(const aigw_breaker_t *b, int64_t now)
{
    uint64_t  w;

    w = aigw_breaker_load(&b->word);

    return aigw_breaker_st(w) == AIGW_BREAKER_CLOSED
           || now >= aigw_breaker_deadline(w);
}


void
aigw_breaker_success(aigw_breaker_t *b, const aigw_breaker_conf_t *c,
    int64_t now)
{
    int64_t   total, failed;
    uint64_t  w, nw;

    /* the hot path writes nothing: a store dirties the line everywhere */

    if (__atomic_load_n(&b->failures, __ATOMIC_RELAXED) != 0) {
        __atomic_store_n(&b->failures, 0, __ATOMIC_RELAXED);
    }

    w = aigw_breaker_load(&b->word);

    while (aigw_breaker_st(w) != AIGW_BREAKER_CLOSED) {

        if (aigw_breaker_st(w) == AIGW_BREAKER_OPEN
            && now < aigw_breaker_deadline(w))
        {
            /* sent before it opened: says nothing about now */
            return;
        }

        nw = aigw_breaker_word(w, AIGW_BREAKER_CLOSED, 0);

        if (aigw_breaker_cas(&b->word, &w, nw)) {
            /* the failures that opened it must not reopen it at once */
            aigw_breaker_restart(b, now);
            return;
        }
    }

    /* the window is only for the ratio: without it, no write at all */

    if (c->ratio > 0) {
        aigw_breaker_count(b, c, now, 0, &total, &failed);
    }
}


void
aigw_breaker_failure(aigw_breaker_t *b, const aigw_breaker_conf_t *c,
    int64_t now, int64_t retry_after_ms)
{
    int       counted, trip;
    int64_t   f, total, failed, hold, min;
    uint64_t  w, nw;

    if (retry_after_ms < 0) {
        retry_after_ms = 0;

    } else if (retry_after_ms > AIGW_BREAKER_MAX_RETRY) {
        retry_after_ms = AIGW_BREAKER_MAX_RETRY;
    }

    hold = c->cooldown > retry_after_ms ? c->cooldown : retry_after_ms;

    f = __atomic_add_fetch(&b->failures, 1, __ATOMIC_RELAXED);

    counted = 0;
    total = 0;
    failed = 0;

    w = aigw_breaker_load(&b->word);

    for ( ;; ) {

        switch (aigw_breaker_st(w)) {

        case AIGW_BREAKER_CLOSED:

            if (!counted && c->ratio > 0) {
                aigw_breaker_count(b, c, now, 1, &total, &failed);
                counted = 1;
            }

            min = c->min_requests > 0 ? c->min_requests : 1;

            trip = (c->failures > 0 && f >= c->failures)
                   || (c->ratio > 0 && total >= min
                       && failed * 1000 >= c->ratio * total);

            if (!trip) {
                return;
            }

            nw = aigw_breaker_word(w, AIGW_BREAKER_OPEN, now + hold);
            break;

        case AIGW_BREAKER_OPEN:

            if (now < aigw_breaker_deadline(w)) {

                /* in the cool-down: only the upstream may lengthen it */

                if (retry_after_ms == 0
                    || now + retry_after_ms <= aigw_breaker_deadline(w))
                {
                    return;
                }

                nw = aigw_breaker_word(w, AIGW_BREAKER_OPEN,
                                       now + retry_after_ms);

                if (aigw_breaker_cas(&b->word, &w, nw)) {
                    return;
                }

                continue;
            }

            /* cooled down (half-open but for the swap): failed again */

            nw = aigw_breaker_word(w, AIGW_BREAKER_OPEN, now + hold);
            break;

        default: /* AIGW_BREAKER_HALF_OPEN: the probe failed */

            nw = aigw_breaker_word(w, AIGW_BREAKER_OPEN, now + hold);
            break;
        }

        if (aigw_breaker_cas(&b->word, &w, nw)) {
            (void) __atomic_fetch_add(&b->trips, 1, __ATOMIC_RELAXED);
            return;
        }

        /* w is the new word: decide again */
    }
}


int
aigw_breaker_state(const aigw_breaker_t *b, int64_t now)
{
    uint64_t  w;

    w = aigw_breaker_load(&b->word);

    switch (aigw_breaker_st(w)) {

    case AIGW_BREAKER_CLOSED:
        return AIGW_BREAKER_CLOSED;

    case AIGW_BREAKER_OPEN:
        return now < aigw_breaker_deadline(w) ? AIGW_BREAKER_OPEN
                                              : AIGW_BREAKER_HALF_OPEN;

    default:
        return AIGW_BREAKER_HALF_OPEN;
    }
}


int64_t
aigw_breaker_wait(const aigw_breaker_t *b, int64_t now)
{
    uint64_t  w;

    w = aigw_breaker_load(&b->word);

    if (aigw_breaker_st(w) == AIGW_BREAKER_CLOSED
        || now >= aigw_breaker_deadline(w))
    {
        return 0;
    }

    return aigw_breaker_deadline(w) - now;
}


static uint64_t
aigw_breaker_word(uint64_t old, int state, int64_t deadline)
{
    uint64_t  gen;

    gen = ((old >> AIGW_BREAKER_GEN_SHIFT) + 1) & AIGW_BREAKER_GEN_MASK;

    if (deadline < 0) {
        deadline = 0;

    } else if (deadline > AIGW_BREAKER_TIME_MAX) {
        deadline = AIGW_BREAKER_TIME_MAX;
    }

    return ((uint64_t) deadline << AIGW_BREAKER_TIME_SHIFT)
           | (gen << AIGW_BREAKER_GEN_SHIFT) | (uint64_t) state;
}


/*
 * The ratio's fixed window.  The caller that swaps win_start when the
 * window is over zeroes the counts; this is not atomic with the counting
 * of other callers, so an outcome recorded at the same moment may be lost
 * or land in the new window, and total and failed are read apart.  The
 * error is at most the number of outcomes recorded concurrently with the
 * reset, which min_requests dwarfs; a lock would cost every request.
 */

static void
aigw_breaker_count(aigw_breaker_t *b, const aigw_breaker_conf_t *c,
    int64_t now, int failed, int64_t *total, int64_t *nfailed)
{
    int64_t  start;

    start = __atomic_load_n(&b->win_start, __ATOMIC_RELAXED);

    if (now - start >= c->window
        && __atomic_compare_exchange_n(&b->win_start, &start, now, 0,
                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    {
        __atomic_store_n(&b->win_failed, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&b->win_total, 0, __ATOMIC_RELAXED);
    }

    *total = __atomic_add_fetch(&b->win_total, 1, __ATOMIC_RELAXED);

    if (failed) {
        *nfailed = __atomic_add_fetch(&b->win_failed, 1, __ATOMIC_RELAXED);

    } else {
        *nfailed = __atomic_load_n(&b->win_failed, __ATOMIC_RELAXED);
    }
}


/* a new window and no failures, when the breaker closes */

static void
aigw_breaker_restart(aigw_breaker_t *b, int64_t now)
{
    __atomic_store_n(&b->failures, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&b->win_start, now, __ATOMIC_RELAXED);
    __atomic_store_n(&b->win_failed, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&b->win_total, 0, __ATOMIC_RELAXED);
}
