/*
 * aigw: admission arithmetic shared by every counter store.
 *
 * Requests and tokens per minute use a sliding window counter: the count of
 * the current minute plus the previous minute's count weighted by the part
 * of the previous minute that the 60-second window still covers.  It needs
 * four numbers per subject, and is exact when the previous minute's traffic
 * was even; its error is bounded by the previous minute's count times the
 * unevenness, and it never lets a limit through twice at a minute boundary
 * as a fixed window does.
 *
 * Admission checks every limit of a subject first and applies the
 * reservation (one request, the token estimate, one concurrency slot and the
 * estimated cost) only when all pass, so the caller can check several
 * subjects under one lock (or in one Redis script) and apply all or none.
 * The Redis store's script implements the same rules.
 */

#ifndef _AIGW_WINDOW_H_INCLUDED_
#define _AIGW_WINDOW_H_INCLUDED_


#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>


#define AIGW_WINDOW_OK             0
#define AIGW_WINDOW_REQUESTS       1   /* requests per minute */
#define AIGW_WINDOW_TOKENS         2   /* tokens per minute */
#define AIGW_WINDOW_CONCURRENCY    3   /* concurrent requests */
#define AIGW_WINDOW_BUDGET         4   /* spend in the budget period */

#define AIGW_PERIOD_TOTAL          0
#define AIGW_PERIOD_DAILY          1
#define AIGW_PERIOD_MONTHLY        2


typedef struct {
    int64_t             minute;        /* Unix minute of the "cur" counts */
    int64_t             req_cur;
    int64_t             req_prev;
    int64_t             tok_cur;
    int64_t             tok_prev;
    int64_t             concurrent;
    int64_t             period;        /* id of the spend's budget period */
    int64_t             spend;         /* micro-USD, reservations included */
} aigw_counters_t;


typedef struct {
    int64_t             rpm;           /* 0: unlimited */
    int64_t             tpm;
    int64_t             concurrency;
    int64_t             budget;        /* micro-USD; -1: no budget */
    int                 period;        /* AIGW_PERIOD_* */
} aigw_subject_limits_t;


typedef struct {
    int                 refused;       /* AIGW_WINDOW_* */
    int64_t             retry_after_ms;

    /* for the x-ratelimit-* headers; -1 when there is no such limit */
    int64_t             remaining_requests;
    int64_t             reset_requests_ms;
    int64_t             remaining_tokens;
    int64_t             reset_tokens_ms;
} aigw_window_result_t;


/* The budget period that contains a Unix time (UTC). */
int64_t aigw_period_id(int period, int64_t now);

/* Milliseconds until the period containing now ends; -1 for total. */
int64_t aigw_period_reset_ms(int period, int64_t now_ms);

/*
 * Rolls the windows to now and checks one subject.  Does not reserve.
 * Returns AIGW_WINDOW_OK or the limit refused, with res filled.
 */
int aigw_window_check(aigw_counters_t *c, const aigw_subject_limits_t *l,
    int64_t now_ms, int64_t tokens, int64_t cost,
    aigw_window_result_t *res);

/* Reserves one request, the tokens, a concurrency slot and the cost. */
void aigw_window_reserve(aigw_counters_t *c, int64_t tokens, int64_t cost);

/*
 * Settles a reservation made in the given minute and budget period: adds
 * the differences between the real and the reserved tokens and cost (to the
 * window that holds the reservation, if it still counts) and frees the
 * concurrency slot.  Counts never go below zero.
 */
void aigw_window_settle(aigw_counters_t *c, int64_t minute, int64_t period,
    int64_t tokens_delta, int64_t cost_delta);


/*
 * Admissions admitted together (the Redis store admits a batch's admissions
 * at once when all of them fit, see ngx_http_aigw_redis_scripts.h).  From a
 * subject's counters before them, rolled to now, aigw_window_base() takes
 * what its answer carries; aigw_window_next() gives the result of the
 * admission that follows "before" admitted ones, which reserved
 * "tokens_before" tokens in all: what aigw_window_check() would give after
 * they were reserved one by one (an admitted result: the caller knows that
 * all fit).
 */

typedef struct {
    int64_t             ms;            /* in the minute */
    int64_t             req_used;      /* in the window, as checked */
    int64_t             tok_used;
    int64_t             tok_cur;
    int64_t             tok_prev;
} aigw_window_base_t;

void aigw_window_base(const aigw_counters_t *c, int64_t now_ms,
    aigw_window_base_t *b);
void aigw_window_next(const aigw_subject_limits_t *l,
    const aigw_window_base_t *b, int64_t before, int64_t tokens_before,
    int64_t tokens, aigw_window_result_t *res);


#endif /* _AIGW_WINDOW_H_INCLUDED_ */
