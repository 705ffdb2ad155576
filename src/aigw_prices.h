/*
 * aigw: per-model prices file parser and price lookup.
 *
 * This file is nginx-free so that it can be unit tested on its own.
 *
 * Prices file format (JSON):
 *
 *   {"models": {
 *      "gpt-4o":       {"input": 2.50, "cached_input": 1.25,
 *                       "output": 10.00},
 *      "gpt-4o-mini*": {"input": 0.15, "cached_input": 0.075,
 *                       "output": 0.60},
 *      "claude-*":     {"input": 3.00, "cached_input": 0.30,
 *                       "cache_write": 3.75, "output": 15.00},
 *      "*":            {"input": 1.00, "output": 2.00}
 *   }}
 *
 * Top level: an object with "models" (required, a non-empty object).
 * Unknown fields anywhere and duplicate JSON object keys are errors, so
 * that a typo cannot silently change a price.
 *
 * Model patterns (the keys of "models"): 1..256 characters without
 * control characters; an exact name, "prefix*" or "*".  '*' is only
 * allowed as the last character.
 *
 * Price fields, in USD per million tokens, numbers from 0 to 1000000:
 *   "input"         required: prompt tokens not read from a cache
 *   "output"        required: completion tokens (reasoning included)
 *   "cached_input"  optional, default "input": prompt tokens read from a
 *                   provider's prompt cache
 *   "cache_write"   optional, default "input": prompt tokens written to a
 *                   provider's prompt cache (Anthropic)
 *
 * Each price is kept as an integer number of pico-USD (1e-12 USD) per
 * token, rounded to nearest: USD per million tokens x 1e6.  2.50 USD/M
 * is 2500000 pico-USD per token; any price with at most 6 decimals is
 * exact.
 */


#ifndef _AIGW_PRICES_H_INCLUDED_
#define _AIGW_PRICES_H_INCLUDED_


#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>


#define AIGW_PRICES_MODEL_MAX  256

/* prices above this many USD per million tokens are rejected */
#define AIGW_PRICES_USD_MAX    1e6


/* pico-USD per token, each 0..1e12 */
typedef struct {
    int64_t                 input;
    int64_t                 cached_input;
    int64_t                 cache_write;
    int64_t                 output;
} aigw_price_t;


typedef struct {
    char                   *name;       /* NUL-terminated, without '*' */
    size_t                  len;
    aigw_price_t            price;
} aigw_price_entry_t;


typedef struct {
    aigw_price_entry_t     *exact;      /* sorted by name, for bsearch */
    size_t                  nexact;
    aigw_price_entry_t     *prefixes;   /* longest first */
    size_t                  nprefixes;
    aigw_price_t            any;        /* the "*" entry */
    unsigned                has_any:1;
} aigw_prices_t;


/*
 * Parses a prices file.  Returns 0 and a malloc()ed table in *out, or -1
 * with a one-line message in err, such as
 * 'models["gpt-4o"].ouput: unknown field' or
 * 'line 3, column 7: ...' for JSON syntax errors.
 */
int aigw_prices_parse(const u_char *data, size_t len, aigw_prices_t **out,
    char *err, size_t err_len);
void aigw_prices_free(aigw_prices_t *p);

/*
 * The price of a model: an exact pattern first, else the longest
 * matching "prefix*" pattern, else "*", else NULL.
 */
const aigw_price_t *aigw_prices_find(const aigw_prices_t *p,
    const u_char *model, size_t len);


#endif /* _AIGW_PRICES_H_INCLUDED_ */
