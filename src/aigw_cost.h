/*
 * aigw: the cost of a request from its token usage and a model's price.
 *
 * This file is nginx-free so that it can be unit tested on its own.
 *
 * Usage is OpenAI-normalised: prompt_tokens includes cached_tokens, and
 * completion_tokens includes reasoning_tokens.  The cost is
 *
 *   (prompt - cached) x input + cached x cached_input
 *                             + completion x output
 *
 * in pico-USD, computed exactly, then converted to micro-USD rounding
 * up: spend is kept in micro-USD, and a cheap request (1 token of a
 * model at 0.15 USD/M costs 0.15 micro-USD) rounded to nearest would be
 * free, so that many small requests could exceed a budget unseen.
 * Rounding up over-charges by less than 1 micro-USD per request.
 *
 * Inconsistent inputs are clamped rather than rejected, so that a
 * provider's odd usage can never lower the charge:
 *   - a negative token count counts as 0 (a negative price as 0);
 *   - cached > prompt: the cached tokens are charged as reported and no
 *     token at the full input price (the provider did read that many
 *     tokens from its cache; the prompt count is the suspect one).
 *
 * Results saturate at INT64_MAX micro-USD (9.2 million USD) instead of
 * overflowing.
 */


#ifndef _AIGW_COST_H_INCLUDED_
#define _AIGW_COST_H_INCLUDED_


#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include "aigw_prices.h"
#include "aigw_usage.h"


/*
 * The longest output of aigw_cost_format_usd(): "-9223372036854.775808"
 * (INT64_MIN micro-USD), no NUL.
 */
#define AIGW_COST_USD_LEN  (sizeof("-9223372036854.775808") - 1)


/* the cost of a response's usage in micro-USD, rounded up; >= 0 */
int64_t aigw_cost_micro_usd(const aigw_price_t *price, const aigw_usage_t *u);

/*
 * The most a request may cost, for admission: prompt_tokens at the input
 * price (no cache hit assumed) and max_completion_tokens at the output
 * price, in micro-USD rounded up; >= 0.
 */
int64_t aigw_cost_estimate_micro_usd(const aigw_price_t *p,
    int64_t prompt_tokens, int64_t max_completion_tokens);

/*
 * Writes micro-USD as USD with 6 decimals, e.g. 1250 as "0.001250" and
 * -5 as "-0.000005"; at most AIGW_COST_USD_LEN bytes, no NUL.  Returns
 * the end of the written text.
 */
u_char *aigw_cost_format_usd(u_char *dst, int64_t micro);


#endif /* _AIGW_COST_H_INCLUDED_ */
