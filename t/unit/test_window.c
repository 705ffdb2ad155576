/*
 * Unit tests of the admission arithmetic (src/aigw_window.c).
 */

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "aigw_window.h"


/* 2026-11-27T00:00:00Z */
#define T0  INT64_C(1795737600000)


static aigw_subject_limits_t
limits(int64_t rpm, int64_t tpm, int64_t conc, int64_t budget, int period)
{
    aigw_subject_limits_t  l;

    l.rpm = rpm;
    l.tpm = tpm;
    l.concurrency = conc;
    l.budget = budget;
    l.period = period;

    return l;
}


static int
admit(aigw_counters_t *c, aigw_subject_limits_t *l, int64_t now,
    int64_t tokens, int64_t cost, aigw_window_result_t *r)
{
    int  rc;

    rc = aigw_window_check(c, l, now, tokens, cost, r);

    if (rc == AIGW_WINDOW_OK) {
        aigw_window_reserve(c, tokens, cost);
    }

    return rc;
}


static void
test_rpm_exact(void **state)
{
    int                    i;
    aigw_counters_t        c;
    aigw_window_result_t   r;
    aigw_subject_limits_t  l = limits(5, 0, 0, -1, 0);

    (void) state;
    memset(&c, 0, sizeof(c));

    for (i = 0; i < 5; i++) {
        assert_int_equal(admit(&c, &l, T0 + i, 1, 0, &r), AIGW_WINDOW_OK);
        assert_int_equal(r.remaining_requests, 4 - i);
    }

    assert_int_equal(admit(&c, &l, T0 + 10, 1, 0, &r), AIGW_WINDOW_REQUESTS);
    assert_int_equal(r.remaining_requests, 0);

    /* all of the window is this minute's: wait for the next one, then for
     * the previous minute's weight to leave room for one request */
    assert_int_equal(r.retry_after_ms, 60000 - 10 + 12000);
    assert_int_equal(c.req_cur, 5);
}


static void
test_sliding(void **state)
{
    aigw_counters_t        c;
    aigw_window_result_t   r;
    aigw_subject_limits_t  l = limits(10, 0, 0, -1, 0);

    (void) state;
    memset(&c, 0, sizeof(c));

    c.minute = T0 / 60000;
    c.req_cur = 10;

    /* 30 s into the next minute: half of the previous 10 still count */
    assert_int_equal(admit(&c, &l, T0 + 90000, 1, 0, &r), AIGW_WINDOW_OK);
    assert_int_equal(c.req_prev, 10);
    assert_int_equal(c.req_cur, 1);
    assert_int_equal(r.remaining_requests, 10 - 5 - 1);

    c.req_cur = 5;
    assert_int_equal(admit(&c, &l, T0 + 90000, 1, 0, &r),
                     AIGW_WINDOW_REQUESTS);

    /* room for one when the weight of 10 falls to 4: 36 s in */
    assert_int_equal(r.retry_after_ms, 6000);

    /* two minutes later everything is forgotten */
    assert_int_equal(admit(&c, &l, T0 + 240000, 1, 0, &r), AIGW_WINDOW_OK);
    assert_int_equal(c.req_prev, 0);
    assert_int_equal(c.req_cur, 1);
}


static void
test_tokens(void **state)
{
    aigw_counters_t        c;
    aigw_window_result_t   r;
    aigw_subject_limits_t  l = limits(0, 1000, 0, -1, 0);

    (void) state;
    memset(&c, 0, sizeof(c));

    assert_int_equal(admit(&c, &l, T0, 600, 0, &r), AIGW_WINDOW_OK);
    assert_int_equal(r.remaining_tokens, 400);
    assert_int_equal(r.remaining_requests, -1);

    assert_int_equal(admit(&c, &l, T0 + 1000, 600, 0, &r),
                     AIGW_WINDOW_TOKENS);
    assert_int_equal(r.remaining_tokens, 400);
    assert_true(r.retry_after_ms > 59000);

    /* settle: the answer used 100 tokens, not 600 */
    aigw_window_settle(&c, T0 / 60000, 0, -500, 0);
    assert_int_equal(c.tok_cur, 100);
    assert_int_equal(c.concurrent, 0);

    assert_int_equal(admit(&c, &l, T0 + 2000, 600, 0, &r), AIGW_WINDOW_OK);

    /* a request larger than the whole limit can never pass */
    memset(&c, 0, sizeof(c));
    assert_int_equal(admit(&c, &l, T0, 1001, 0, &r), AIGW_WINDOW_TOKENS);
    assert_int_equal(r.retry_after_ms, -1);
}


static void
test_settle_windows(void **state)
{
    aigw_counters_t        c;
    aigw_window_result_t   r;
    aigw_subject_limits_t  l = limits(0, 10000, 0, -1, 0);

    (void) state;
    memset(&c, 0, sizeof(c));

    assert_int_equal(admit(&c, &l, T0 + 59000, 1000, 0, &r), AIGW_WINDOW_OK);

    /* the next minute starts before the answer ends */
    assert_int_equal(admit(&c, &l, T0 + 61000, 10, 0, &r), AIGW_WINDOW_OK);
    assert_int_equal(c.tok_prev, 1000);

    aigw_window_settle(&c, T0 / 60000, 0, -900, 0);
    assert_int_equal(c.tok_prev, 100);
    assert_int_equal(c.tok_cur, 10);

    /* a reservation from long ago changes no window */
    aigw_window_settle(&c, T0 / 60000 - 5, 0, 5000, 0);
    assert_int_equal(c.tok_prev, 100);
    assert_int_equal(c.tok_cur, 10);

    /* never below zero */
    aigw_window_settle(&c, T0 / 60000 + 1, 0, -50, 0);
    assert_int_equal(c.tok_cur, 0);
}


static void
test_concurrency(void **state)
{
    aigw_counters_t        c;
    aigw_window_result_t   r;
    aigw_subject_limits_t  l = limits(0, 0, 2, -1, 0);

    (void) state;
    memset(&c, 0, sizeof(c));

    assert_int_equal(admit(&c, &l, T0, 1, 0, &r), AIGW_WINDOW_OK);
    assert_int_equal(admit(&c, &l, T0, 1, 0, &r), AIGW_WINDOW_OK);
    assert_int_equal(admit(&c, &l, T0, 1, 0, &r), AIGW_WINDOW_CONCURRENCY);
    assert_int_equal(r.retry_after_ms, 1000);

    aigw_window_settle(&c, T0 / 60000, 0, 0, 0);
    assert_int_equal(admit(&c, &l, T0, 1, 0, &r), AIGW_WINDOW_OK);
    assert_int_equal(c.concurrent, 2);
}


static void
test_budget(void **state)
{
    int64_t                p;
    aigw_counters_t        c;
    aigw_window_result_t   r;
    aigw_subject_limits_t  l = limits(0, 0, 0, 1000, AIGW_PERIOD_DAILY);

    (void) state;
    memset(&c, 0, sizeof(c));

    assert_int_equal(admit(&c, &l, T0, 1, 600, &r), AIGW_WINDOW_OK);
    assert_int_equal(admit(&c, &l, T0, 1, 600, &r), AIGW_WINDOW_BUDGET);
    assert_int_equal(r.retry_after_ms, 86400000);

    p = aigw_period_id(AIGW_PERIOD_DAILY, T0 / 1000);

    /* the answer cost 100, not 600 */
    aigw_window_settle(&c, T0 / 60000, p, 0, -500);
    assert_int_equal(c.spend, 100);
    assert_int_equal(admit(&c, &l, T0, 1, 600, &r), AIGW_WINDOW_OK);

    /* the next day starts from zero */
    assert_int_equal(admit(&c, &l, T0 + 86400000, 1, 900, &r),
                     AIGW_WINDOW_OK);
    assert_int_equal(c.spend, 900);

    /* a settle for the previous day does not touch today's spend */
    aigw_window_settle(&c, T0 / 60000, p, 0, 5000);
    assert_int_equal(c.spend, 900);

    /* budget 0: nothing at a cost */
    memset(&c, 0, sizeof(c));
    l.budget = 0;
    assert_int_equal(admit(&c, &l, T0, 1, 1, &r), AIGW_WINDOW_BUDGET);
}


static void
test_periods(void **state)
{
    (void) state;

    /* 2026-11-27 is day 20784; November 2026 is 2026*12 + 10 */
    assert_int_equal(aigw_period_id(AIGW_PERIOD_DAILY, T0 / 1000), 20784);
    assert_int_equal(aigw_period_id(AIGW_PERIOD_MONTHLY, T0 / 1000),
                     2026 * 12 + 10);
    assert_int_equal(aigw_period_id(AIGW_PERIOD_TOTAL, T0 / 1000), 0);

    /* 2024-02-29T12:00:00Z is in February 2024 */
    assert_int_equal(aigw_period_id(AIGW_PERIOD_MONTHLY, 1709208000),
                     2024 * 12 + 1);

    /* four days to 2026-12-01T00:00:00Z */
    assert_int_equal(aigw_period_reset_ms(AIGW_PERIOD_MONTHLY, T0),
                     INT64_C(4) * 86400000);

    /* from 2026-12-31T23:00:00Z: one hour to the next year */
    assert_int_equal(aigw_period_reset_ms(AIGW_PERIOD_MONTHLY,
                                          INT64_C(1798758000000)),
                     3600000);

    assert_int_equal(aigw_period_reset_ms(AIGW_PERIOD_DAILY, T0 + 1000),
                     86399000);
    assert_int_equal(aigw_period_reset_ms(AIGW_PERIOD_TOTAL, T0), -1);
}


/*
 * Admissions admitted together: aigw_window_next() from the counters
 * before them gives each one what aigw_window_check() gives when they are
 * admitted one by one, over random counters, limits, times and tokens.
 */

static uint64_t  rnd_state = 88172645463325252ULL;

static int64_t
rnd(int64_t n)
{
    rnd_state ^= rnd_state << 13;
    rnd_state ^= rnd_state >> 7;
    rnd_state ^= rnd_state << 17;

    return (int64_t) (rnd_state % (uint64_t) n);
}


static void
test_batch_next(void **state)
{
    int                    i, k, n, round;
    int64_t                now, tokens[16], before_tokens;
    aigw_counters_t        c, seq;
    aigw_window_base_t     b;
    aigw_window_result_t   r, want;
    aigw_subject_limits_t  l;

    (void) state;

    for (round = 0; round < 20000; round++) {
        now = T0 + rnd(3 * 60000);

        memset(&c, 0, sizeof(c));
        c.minute = T0 / 60000 + rnd(4) - 1;
        c.req_cur = rnd(3) ? rnd(500) : 0;
        c.req_prev = rnd(3) ? rnd(500) : 0;
        c.tok_cur = rnd(3) ? rnd(50000) : 0;
        c.tok_prev = rnd(3) ? rnd(50000) : 0;
        c.concurrent = rnd(10);
        c.period = -1;

        /* limits that the batch fits (0: no such limit) */
        n = 1 + (int) rnd(16);
        l = limits(rnd(4) ? 1500 + rnd(100) : 0,
                   rnd(4) ? 200000 + rnd(1000) : 0,
                   rnd(2) ? 100 : 0, rnd(2) ? INT64_C(1000000000) : -1,
                   (int) rnd(3));

        for (i = 0; i < n; i++) {
            tokens[i] = rnd(5) ? rnd(4000) : 0;
        }

        seq = c;

        /* the counters before the batch, rolled to now */
        assert_int_equal(aigw_window_check(&c, &l, now, 0, 0, &r),
                         AIGW_WINDOW_OK);
        aigw_window_base(&c, now, &b);

        before_tokens = 0;

        for (k = 0; k < n; k++) {
            assert_int_equal(admit(&seq, &l, now, tokens[k], 7, &want),
                             AIGW_WINDOW_OK);

            aigw_window_next(&l, &b, k, before_tokens, tokens[k], &r);

            assert_int_equal(r.refused, want.refused);
            assert_int_equal(r.retry_after_ms, want.retry_after_ms);
            assert_int_equal(r.remaining_requests, want.remaining_requests);
            assert_int_equal(r.reset_requests_ms, want.reset_requests_ms);
            assert_int_equal(r.remaining_tokens, want.remaining_tokens);
            assert_int_equal(r.reset_tokens_ms, want.reset_tokens_ms);

            before_tokens += tokens[k];
        }
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_batch_next),
        cmocka_unit_test(test_rpm_exact),
        cmocka_unit_test(test_sliding),
        cmocka_unit_test(test_tokens),
        cmocka_unit_test(test_settle_windows),
        cmocka_unit_test(test_concurrency),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_periods),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
