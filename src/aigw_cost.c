/*
 * aigw: the cost of a request from its token usage and a model's price.
 */


#include "aigw_cost.h"


#define AIGW_COST_PICO_PER_MICRO  1000000


/*
 * An exact sum of tokens x pico-USD prices, in micro-USD rounded up,
 * without 128-bit arithmetic: with tokens = th x 1e6 + tl and
 * price = ph x 1e6 + pl (0 <= tl, pl < 1e6),
 *
 *   tokens x price / 1e6 = tokens x ph + th x pl + tl x pl / 1e6,
 *
 * where the first two terms are whole micro-USD (saturating) and the
 * remainders tl x pl < 1e12 are summed exactly before the ceiling.
 */

typedef struct {
    int64_t   micro;
    int64_t   pico;         /* < 3e12 for the three terms of a cost */
} aigw_cost_sum_t;


static void aigw_cost_add(aigw_cost_sum_t *s, int64_t tokens, int64_t price);
static int64_t aigw_cost_total(aigw_cost_sum_t *s);
static int64_t aigw_cost_sat_add(int64_t a, int64_t b);
static int64_t aigw_cost_sat_mul(int64_t a, int64_t b);


int64_t
aigw_cost_micro_usd(const aigw_price_t *price, const aigw_usage_t *u)
{
    int64_t          prompt, cached, completion, uncached;
    aigw_cost_sum_t  s;

    prompt = u->prompt_tokens > 0 ? u->prompt_tokens : 0;
    cached = u->cached_tokens > 0 ? u->cached_tokens : 0;
    completion = u->completion_tokens > 0 ? u->completion_tokens : 0;

    /* cached > prompt: the cache reads are charged, nothing else */

    uncached = prompt > cached ? prompt - cached : 0;

    s.micro = 0;
    s.pico = 0;

    aigw_cost_add(&s, uncached, price->input);
    aigw_cost_add(&s, cached, price->cached_input);
    aigw_cost_add(&s, completion, price->output);

    return aigw_cost_total(&s);
}


int64_t
aigw_cost_estimate_micro_usd(const aigw_price_t *p, int64_t prompt_tokens,
    int64_t max_completion_tokens)
{
    aigw_cost_sum_t  s;

    s.micro = 0;
    s.pico = 0;

    aigw_cost_add(&s, prompt_tokens > 0 ? prompt_tokens : 0, p->input);
    aigw_cost_add(&s, max_completion_tokens > 0 ? max_completion_tokens : 0,
                  p->output);

    return aigw_cost_total(&s);
}


u_char *
aigw_cost_format_usd(u_char *dst, int64_t micro)
{
    int       i, n;
    u_char    digits[20];
    uint64_t  m, whole, frac;

    /* the magnitude as unsigned: -INT64_MIN does not fit in int64_t */

    if (micro < 0) {
        *dst++ = '-';
        m = (uint64_t) -(micro + 1) + 1;

    } else {
        m = (uint64_t) micro;
    }

    whole = m / AIGW_COST_PICO_PER_MICRO;
    frac = m % AIGW_COST_PICO_PER_MICRO;

    n = 0;

    do {
        digits[n++] = (u_char) ('0' + whole % 10);
        whole /= 10;
    } while (whole);

    while (n) {
        *dst++ = digits[--n];
    }

    *dst++ = '.';

    for (i = 5; i >= 0; i--) {
        dst[i] = (u_char) ('0' + frac % 10);
        frac /= 10;
    }

    return dst + 6;
}


static void
aigw_cost_add(aigw_cost_sum_t *s, int64_t tokens, int64_t price)
{
    int64_t  th, tl, ph, pl;

    if (tokens <= 0 || price <= 0) {
        return;
    }

    th = tokens / AIGW_COST_PICO_PER_MICRO;
    tl = tokens % AIGW_COST_PICO_PER_MICRO;
    ph = price / AIGW_COST_PICO_PER_MICRO;
    pl = price % AIGW_COST_PICO_PER_MICRO;

    s->micro = aigw_cost_sat_add(s->micro, aigw_cost_sat_mul(tokens, ph));
    s->micro = aigw_cost_sat_add(s->micro, aigw_cost_sat_mul(th, pl));
    s->pico += tl * pl;
}


static int64_t
aigw_cost_total(aigw_cost_sum_t *s)
{
    int64_t  micro;

    micro = s->pico / AIGW_COST_PICO_PER_MICRO
            + (s->pico % AIGW_COST_PICO_PER_MICRO != 0);

    return aigw_cost_sat_add(s->micro, micro);
}


/* both operands are non-negative here */

static int64_t
aigw_cost_sat_add(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}


static int64_t
aigw_cost_sat_mul(int64_t a, int64_t b)
{
    if (a == 0 || b == 0) {
        return 0;
    }

    return a > INT64_MAX / b ? INT64_MAX : a * b;
}
