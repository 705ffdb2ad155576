/*
 * Unit tests for src/aigw_cost.c (cmocka).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "aigw_cost.h"


/* gpt-4o: 2.50 / 1.25 / 10.00 USD per million tokens, in pico-USD */
static const aigw_price_t  gpt4o = {
    2500000, 1250000, 2500000, 10000000
};


static aigw_usage_t
usage(int64_t prompt, int64_t cached, int64_t completion)
{
    aigw_usage_t  u;

    memset(&u, 0, sizeof(u));
    u.prompt_tokens = prompt;
    u.cached_tokens = cached;
    u.completion_tokens = completion;
    u.found = 1;

    return u;
}


static int64_t
cost(const aigw_price_t *p, int64_t prompt, int64_t cached,
    int64_t completion)
{
    aigw_usage_t  u;

    u = usage(prompt, cached, completion);

    return aigw_cost_micro_usd(p, &u);
}


static void
test_basic(void **state)
{
    aigw_usage_t  u;

    (void) state;

    /* 800 x 2.5 + 200 x 1.25 + 500 x 10 = 7250 micro-USD, exactly */
    assert_int_equal(cost(&gpt4o, 1000, 200, 500), 7250);

    assert_int_equal(cost(&gpt4o, 0, 0, 0), 0);
    assert_int_equal(cost(&gpt4o, 1000000, 0, 0), 2500000);
    assert_int_equal(cost(&gpt4o, 1000000, 1000000, 0), 1250000);
    assert_int_equal(cost(&gpt4o, 0, 0, 1000000), 10000000);

    /* reasoning tokens are part of completion_tokens: not added */
    u = usage(0, 0, 100);
    u.reasoning_tokens = 80;
    assert_int_equal(aigw_cost_micro_usd(&gpt4o, &u), 1000);

    /* total_tokens is not used */
    u = usage(10, 0, 10);
    u.total_tokens = 1000000;
    assert_int_equal(aigw_cost_micro_usd(&gpt4o, &u), 125);
}


static void
test_round_up(void **state)
{
    aigw_price_t  one, mini;

    (void) state;

    one.input = 1;
    one.cached_input = 1;
    one.cache_write = 1;
    one.output = 1;

    /* 1 pico-USD is charged as 1 micro-USD */
    assert_int_equal(cost(&one, 1, 0, 0), 1);
    assert_int_equal(cost(&one, 0, 0, 1), 1);
    assert_int_equal(cost(&one, 999999, 0, 0), 1);
    assert_int_equal(cost(&one, 1000000, 0, 0), 1);
    assert_int_equal(cost(&one, 1000001, 0, 0), 2);

    /* the remainders of the terms add up before rounding */
    assert_int_equal(cost(&one, 500000, 0, 500000), 1);
    assert_int_equal(cost(&one, 500000, 0, 500001), 2);
    assert_int_equal(cost(&one, 400000, 300000, 300000), 1);

    /* gpt-4o-mini: 0.15 USD/M; one token is 0.15 micro-USD */
    mini.input = 150000;
    mini.cached_input = 75000;
    mini.cache_write = 150000;
    mini.output = 600000;

    assert_int_equal(cost(&mini, 1, 0, 0), 1);
    assert_int_equal(cost(&mini, 1, 1, 0), 1);
    assert_int_equal(cost(&mini, 20, 0, 0), 3);
    assert_int_equal(cost(&mini, 100, 0, 0), 15);
    assert_int_equal(cost(&mini, 101, 0, 0), 16);

    /* 3 x 0.15 + 0 x 0.075 + 1 x 0.6 = 1.05 */
    assert_int_equal(cost(&mini, 3, 0, 1), 2);
    /* 2 x 0.15 + 4 x 0.075 + 0.6 x 2 = 1.8 */
    assert_int_equal(cost(&mini, 6, 4, 2), 2);
}


static void
test_clamp(void **state)
{
    aigw_price_t  p;

    (void) state;

    p.input = 1000000;          /* 1 micro-USD per token */
    p.cached_input = 100000;    /* 0.1 */
    p.cache_write = 1000000;
    p.output = 2000000;         /* 2 */

    assert_int_equal(cost(&p, 1000, 0, 0), 1000);
    assert_int_equal(cost(&p, 1000, 1000, 0), 100);

    /* cached > prompt: the cached tokens, nothing at the input price */
    assert_int_equal(cost(&p, 100, 300, 0), 30);
    assert_int_equal(cost(&p, 0, 1000, 10), 120);

    /* negative counts are 0 */
    assert_int_equal(cost(&p, -5, 0, 0), 0);
    assert_int_equal(cost(&p, 1000, -5, 0), 1000);
    assert_int_equal(cost(&p, -1000, -5, -7), 0);
    assert_int_equal(cost(&p, 10, 0, -7), 10);
    assert_int_equal(cost(&p, INT64_MIN, INT64_MIN, INT64_MIN), 0);

    /* a negative price is 0 */
    p.input = -1000000;
    assert_int_equal(cost(&p, 1000, 0, 10), 20);
}


static void
test_saturation(void **state)
{
    aigw_price_t  max, one;

    (void) state;

    max.input = 1000000000000LL;        /* 1e6 USD per million tokens */
    max.cached_input = 1000000000000LL;
    max.cache_write = 1000000000000LL;
    max.output = 1000000000000LL;

    /* 1 micro-USD per token x ... */
    assert_int_equal(cost(&max, 1000, 0, 0), 1000000000LL);
    assert_int_equal(cost(&max, INT64_MAX / 1000000, 0, 0),
                     INT64_MAX / 1000000 * 1000000);
    assert_int_equal(cost(&max, INT64_MAX / 1000000 + 1, 0, 0), INT64_MAX);
    assert_int_equal(cost(&max, INT64_MAX, 0, 0), INT64_MAX);
    assert_int_equal(cost(&max, INT64_MAX, 1, INT64_MAX), INT64_MAX);
    assert_int_equal(cost(&max, INT64_MAX / 2, 0, INT64_MAX / 2),
                     INT64_MAX);

    /* large but exact: INT64_MAX tokens at 1 pico-USD */
    one.input = 1;
    one.cached_input = 1;
    one.cache_write = 1;
    one.output = 1;

    assert_int_equal(cost(&one, INT64_MAX, 0, 0),
                     INT64_MAX / 1000000 + 1);
    /* 2 x 9223372036854.775807 = 18446744073709.551614 */
    assert_int_equal(cost(&one, INT64_MAX, 0, INT64_MAX),
                     18446744073710LL);

    /* a price beyond the parser's range still does not overflow */
    one.input = INT64_MAX;
    assert_int_equal(cost(&one, 1, 0, 0), INT64_MAX / 1000000 + 1);
    assert_int_equal(cost(&one, 2000000, 0, 0), INT64_MAX);

    assert_int_equal(aigw_cost_estimate_micro_usd(&max, INT64_MAX,
                                                  INT64_MAX), INT64_MAX);
}


#ifdef __SIZEOF_INT128__

/* the split arithmetic against 128-bit integers */

static void
test_exact_random(void **state)
{
    int                i;
    int64_t            t[3], pr[3], want;
    uint64_t           x;
    aigw_price_t       p;
    unsigned __int128  pico;

    (void) state;

    x = 88172645463325252ULL;

    for (i = 0; i < 100000; i++) {
        int  j;

        for (j = 0; j < 3; j++) {
            /* xorshift64; mixed magnitudes */
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            t[j] = (int64_t) (x % (1ULL << (x % 45)));

            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            pr[j] = (int64_t) (x % 1000000000001ULL);
        }

        if (i % 4 == 0) {
            t[1] = t[0] / 3;
        }

        p.input = pr[0];
        p.cached_input = pr[1];
        p.cache_write = 0;
        p.output = pr[2];

        /* t[0] is the whole prompt, t[1] of it cached */

        pico = (unsigned __int128) (t[0] > t[1] ? t[0] - t[1] : 0) * pr[0]
               + (unsigned __int128) t[1] * pr[1]
               + (unsigned __int128) t[2] * pr[2];

        pico = (pico + 999999) / 1000000;
        want = pico > INT64_MAX ? INT64_MAX : (int64_t) pico;

        assert_int_equal(cost(&p, t[0], t[1], t[2]), want);
    }
}

#endif


static void
test_estimate(void **state)
{
    (void) state;

    /* 1000 x 2.5 + 500 x 10 */
    assert_int_equal(aigw_cost_estimate_micro_usd(&gpt4o, 1000, 500), 7500);
    assert_int_equal(aigw_cost_estimate_micro_usd(&gpt4o, 0, 0), 0);
    assert_int_equal(aigw_cost_estimate_micro_usd(&gpt4o, 1, 0), 3);
    assert_int_equal(aigw_cost_estimate_micro_usd(&gpt4o, 0, 1), 10);
    assert_int_equal(aigw_cost_estimate_micro_usd(&gpt4o, -10, 1), 10);
    assert_int_equal(aigw_cost_estimate_micro_usd(&gpt4o, 4, -1), 10);
}


static void
check_format(int64_t micro, const char *want)
{
    u_char  buf[AIGW_COST_USD_LEN + 8], *end;

    memset(buf, '#', sizeof(buf));

    end = aigw_cost_format_usd(buf, micro);

    assert_true(end >= buf && end <= buf + AIGW_COST_USD_LEN);
    assert_int_equal(end - buf, strlen(want));
    assert_memory_equal(buf, want, strlen(want));
    assert_int_equal(*end, '#');
}


static void
test_format(void **state)
{
    (void) state;

    assert_int_equal(AIGW_COST_USD_LEN, 21);

    check_format(0, "0.000000");
    check_format(1, "0.000001");
    check_format(1250, "0.001250");
    check_format(999999, "0.999999");
    check_format(1000000, "1.000000");
    check_format(1234567, "1.234567");
    check_format(100000000, "100.000000");
    check_format(-5, "-0.000005");
    check_format(-1234567, "-1.234567");
    check_format(-1000000, "-1.000000");
    check_format(INT64_MAX, "9223372036854.775807");
    check_format(INT64_MIN, "-9223372036854.775808");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_round_up),
        cmocka_unit_test(test_clamp),
        cmocka_unit_test(test_saturation),
#ifdef __SIZEOF_INT128__
        cmocka_unit_test(test_exact_random),
#endif
        cmocka_unit_test(test_estimate),
        cmocka_unit_test(test_format),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
