/*
 * aigw: admission arithmetic shared by every counter store.
 */

#include "aigw_window.h"


#define AIGW_MINUTE_MS  60000


static void aigw_window_roll(aigw_counters_t *c, int64_t minute);
static void aigw_window_result_init(aigw_window_result_t *res);
static int64_t aigw_window_used(int64_t prev, int64_t cur, int64_t ms);
static int64_t aigw_window_wait(int64_t prev, int64_t cur, int64_t need,
    int64_t limit, int64_t ms);
static int64_t aigw_window_reset(int64_t prev, int64_t cur, int64_t ms);
static void aigw_civil(int64_t days, int64_t *y, int64_t *m);
static int64_t aigw_days_from_civil(int64_t y, int64_t m);


int64_t
aigw_period_id(int period, int64_t now)
{
    int64_t  y, m;

    switch (period) {

    case AIGW_PERIOD_DAILY:
        return now / 86400;

    case AIGW_PERIOD_MONTHLY:
        aigw_civil(now / 86400, &y, &m);
        return y * 12 + (m - 1);

    default:
        return 0;
    }
}


int64_t
aigw_period_reset_ms(int period, int64_t now_ms)
{
    int64_t  y, m, next;

    switch (period) {

    case AIGW_PERIOD_DAILY:
        return 86400000 - now_ms % 86400000;

    case AIGW_PERIOD_MONTHLY:
        aigw_civil(now_ms / 86400000, &y, &m);

        if (++m > 12) {
            m = 1;
            y++;
        }

        next = aigw_days_from_civil(y, m) * 86400000;
        return next - now_ms;

    default:
        return -1;
    }
}


int
aigw_window_check(aigw_counters_t *c, const aigw_subject_limits_t *l,
    int64_t now_ms, int64_t tokens, int64_t cost, aigw_window_result_t *res)
{
    int      refused;
    int64_t  ms, used, pid;

    ms = now_ms % AIGW_MINUTE_MS;

    aigw_window_roll(c, now_ms / AIGW_MINUTE_MS);

    if (l->budget >= 0) {
        pid = aigw_period_id(l->period, now_ms / 1000);

        if (c->period != pid) {
            c->period = pid;
            c->spend = 0;
        }
    }

    refused = AIGW_WINDOW_OK;

    aigw_window_result_init(res);

    if (l->rpm > 0) {
        used = aigw_window_used(c->req_prev, c->req_cur, ms);

        if (used + 1 > l->rpm) {
            refused = AIGW_WINDOW_REQUESTS;
            res->retry_after_ms = aigw_window_wait(c->req_prev, c->req_cur,
                                                   1, l->rpm, ms);
            res->remaining_requests = 0;

        } else {
            res->remaining_requests = l->rpm - used - 1;
        }

        /* as it will be once this request is counted */
        res->reset_requests_ms = aigw_window_reset(c->req_prev,
                                                   c->req_cur + 1, ms);
    }

    if (l->tpm > 0) {
        used = aigw_window_used(c->tok_prev, c->tok_cur, ms);

        if (used + tokens > l->tpm) {
            if (refused == AIGW_WINDOW_OK) {
                refused = AIGW_WINDOW_TOKENS;
                res->retry_after_ms = aigw_window_wait(c->tok_prev,
                                                       c->tok_cur, tokens,
                                                       l->tpm, ms);
            }

            res->remaining_tokens = l->tpm > used ? l->tpm - used : 0;

        } else {
            res->remaining_tokens = l->tpm - used - tokens;
        }

        res->reset_tokens_ms = aigw_window_reset(c->tok_prev,
                                                 c->tok_cur + tokens, ms);
    }

    if (refused == AIGW_WINDOW_OK && l->concurrency > 0
        && c->concurrent + 1 > l->concurrency)
    {
        refused = AIGW_WINDOW_CONCURRENCY;
        res->retry_after_ms = 1000;
    }

    if (refused == AIGW_WINDOW_OK && l->budget >= 0
        && c->spend + cost > l->budget)
    {
        refused = AIGW_WINDOW_BUDGET;
        res->retry_after_ms = aigw_period_reset_ms(l->period, now_ms);
    }

    res->refused = refused;

    return refused;
}


void
aigw_window_reserve(aigw_counters_t *c, int64_t tokens, int64_t cost)
{
    c->req_cur++;
    c->tok_cur += tokens;
    c->concurrent++;
    c->spend += cost;
}


void
aigw_window_settle(aigw_counters_t *c, int64_t minute, int64_t period,
    int64_t tokens_delta, int64_t cost_delta)
{
    if (c->minute == minute) {
        c->tok_cur += tokens_delta;

        if (c->tok_cur < 0) {
            c->tok_cur = 0;
        }

    } else if (c->minute == minute + 1) {
        c->tok_prev += tokens_delta;

        if (c->tok_prev < 0) {
            c->tok_prev = 0;
        }
    }

    if (c->period == period) {
        c->spend += cost_delta;

        if (c->spend < 0) {
            c->spend = 0;
        }
    }

    if (c->concurrent > 0) {
        c->concurrent--;
    }
}


static void
aigw_window_roll(aigw_counters_t *c, int64_t minute)
{
    if (c->minute == minute) {
        return;
    }

    if (c->minute + 1 == minute) {
        c->req_prev = c->req_cur;
        c->tok_prev = c->tok_cur;

    } else {
        c->req_prev = 0;
        c->tok_prev = 0;
    }

    c->req_cur = 0;
    c->tok_cur = 0;
    c->minute = minute;
}


/* cur + prev weighted by what is left of the window, rounded up */

static int64_t
aigw_window_used(int64_t prev, int64_t cur, int64_t ms)
{
    return cur + (prev * (AIGW_MINUTE_MS - ms) + AIGW_MINUTE_MS - 1)
                 / AIGW_MINUTE_MS;
}


/*
 * The least wait after which "need" more fits under the limit, or -1 when
 * it never will (need > limit).
 */

static int64_t
aigw_window_wait(int64_t prev, int64_t cur, int64_t need, int64_t limit,
    int64_t ms)
{
    int64_t  s;

    if (need > limit) {
        return -1;
    }

    if (cur + need <= limit) {
        /* later in this minute, as the previous minute's weight fades */
        s = AIGW_MINUTE_MS - (AIGW_MINUTE_MS * (limit - cur - need)) / prev;
        return s > ms ? s - ms : 0;
    }

    /* in the next minute, when this minute's count becomes "prev" */

    s = AIGW_MINUTE_MS - (AIGW_MINUTE_MS * (limit - need)) / cur;

    return AIGW_MINUTE_MS - ms + (s > 0 ? s : 0);
}


/* Until the window holds nothing of what was counted so far. */

static int64_t
aigw_window_reset(int64_t prev, int64_t cur, int64_t ms)
{
    if (cur > 0) {
        return 2 * AIGW_MINUTE_MS - ms;
    }

    if (prev > 0) {
        return AIGW_MINUTE_MS - ms;
    }

    return 0;
}


void
aigw_window_base(const aigw_counters_t *c, int64_t now_ms,
    aigw_window_base_t *b)
{
    b->ms = now_ms % AIGW_MINUTE_MS;
    b->req_used = aigw_window_used(c->req_prev, c->req_cur, b->ms);
    b->tok_used = aigw_window_used(c->tok_prev, c->tok_cur, b->ms);
    b->tok_cur = c->tok_cur;
    b->tok_prev = c->tok_prev;
}


void
aigw_window_next(const aigw_subject_limits_t *l, const aigw_window_base_t *b,
    int64_t before, int64_t tokens_before, int64_t tokens,
    aigw_window_result_t *res)
{
    aigw_window_result_init(res);

    /* each admission before added one request and its tokens to "cur" */

    if (l->rpm > 0) {
        res->remaining_requests = l->rpm - (b->req_used + before) - 1;
        res->reset_requests_ms = 2 * AIGW_MINUTE_MS - b->ms;
    }

    if (l->tpm > 0) {
        res->remaining_tokens = l->tpm - (b->tok_used + tokens_before)
                                - tokens;
        res->reset_tokens_ms = aigw_window_reset(b->tok_prev,
                                                 b->tok_cur + tokens_before
                                                 + tokens, b->ms);
    }
}


/* Admitted, no wait, and -1 for every limit the subject does not have. */

static void
aigw_window_result_init(aigw_window_result_t *res)
{
    res->refused = AIGW_WINDOW_OK;
    res->retry_after_ms = 0;
    res->remaining_requests = -1;
    res->reset_requests_ms = -1;
    res->remaining_tokens = -1;
    res->reset_tokens_ms = -1;
}


/* Days since 1970-01-01 to a proleptic Gregorian year and month. */

static void
aigw_civil(int64_t days, int64_t *y, int64_t *m)
{
    int64_t  era, doe, yoe, doy, mp;

    days += 719468;
    era = (days >= 0 ? days : days - 146096) / 146097;
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;

    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = yoe + era * 400 + (*m <= 2);
}


static int64_t
aigw_days_from_civil(int64_t y, int64_t m)
{
    int64_t  era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}
