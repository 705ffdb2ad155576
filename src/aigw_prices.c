/*
 * aigw: per-model prices file parser and price lookup.
 */


#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aigw_prices.h"


/* model names in messages are truncated to fit */
#define AIGW_PRICES_PRINT_LEN  80
#define AIGW_PRICES_PATH_LEN   (AIGW_PRICES_PRINT_LEN + 16)


typedef struct {
    char           *err;
    size_t          err_len;
} aigw_prices_ctx_t;


static void aigw_prices_error(aigw_prices_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *aigw_prices_printable(const char *s, char *buf,
    size_t size);
static int aigw_prices_check_name(aigw_prices_ctx_t *ctx, const char *name,
    const char *path);
static int aigw_prices_parse_model(aigw_prices_ctx_t *ctx, json_t *v,
    const char *path, aigw_price_t *price);
static int aigw_prices_parse_usd(aigw_prices_ctx_t *ctx, json_t *v,
    const char *path, const char *field, int64_t *out);
static int aigw_prices_cmp_exact(const void *a, const void *b);
static int aigw_prices_cmp_prefix(const void *a, const void *b);
static int aigw_prices_cmp_name(const u_char *a, size_t alen,
    const char *b, size_t blen);


static const char *const  aigw_prices_price_fields[] = {
    "input", "cached_input", "cache_write", "output", NULL
};


int
aigw_prices_parse(const u_char *data, size_t len, aigw_prices_t **out,
    char *err, size_t err_len)
{
    size_t              nexact, nprefixes, name_len;
    json_t             *root, *models, *v;
    const char         *name;
    aigw_price_t        price;
    aigw_prices_t      *p;
    json_error_t        jerr;
    aigw_prices_ctx_t   ctx;
    aigw_price_entry_t *e;
    char                path[AIGW_PRICES_PATH_LEN];
    char                buf[AIGW_PRICES_PRINT_LEN];

    ctx.err = err;
    ctx.err_len = err_len;

    if (err_len) {
        err[0] = '\0';
    }

    p = NULL;

    /* a prices file holds no secrets: jansson's "near '...'" may stay */

    root = json_loadb((const char *) data, len, JSON_REJECT_DUPLICATES,
                      &jerr);
    if (root == NULL) {
        aigw_prices_error(&ctx, "line %d, column %d: %s",
                          jerr.line, jerr.column, jerr.text);
        return -1;
    }

    if (!json_is_object(root)) {
        aigw_prices_error(&ctx, "top level must be a JSON object");
        goto failed;
    }

    json_object_foreach(root, name, v) {
        if (strcmp(name, "models") != 0) {
            aigw_prices_error(&ctx, "%s: unknown field",
                              aigw_prices_printable(name, buf, sizeof(buf)));
            goto failed;
        }
    }

    models = json_object_get(root, "models");

    if (models == NULL) {
        aigw_prices_error(&ctx, "missing \"models\"");
        goto failed;
    }

    if (!json_is_object(models) || json_object_size(models) == 0) {
        aigw_prices_error(&ctx, "models: must be a non-empty object");
        goto failed;
    }

    /* validate everything first, so that the arrays can be sized */

    nexact = 0;
    nprefixes = 0;

    json_object_foreach(models, name, v) {
        snprintf(path, sizeof(path), "models[\"%s\"]",
                 aigw_prices_printable(name, buf, sizeof(buf)));

        if (aigw_prices_check_name(&ctx, name, path) != 0
            || aigw_prices_parse_model(&ctx, v, path, &price) != 0)
        {
            goto failed;
        }

        name_len = strlen(name);

        if (name_len == 1 && name[0] == '*') {
            continue;
        }

        if (name[name_len - 1] == '*') {
            nprefixes++;

        } else {
            nexact++;
        }
    }

    p = calloc(1, sizeof(aigw_prices_t));
    if (p == NULL) {
        goto nomem;
    }

    if (nexact) {
        p->exact = calloc(nexact, sizeof(aigw_price_entry_t));
        if (p->exact == NULL) {
            goto nomem;
        }
    }

    if (nprefixes) {
        p->prefixes = calloc(nprefixes, sizeof(aigw_price_entry_t));
        if (p->prefixes == NULL) {
            goto nomem;
        }
    }

    json_object_foreach(models, name, v) {
        /* cannot fail: checked above */
        (void) aigw_prices_parse_model(&ctx, v, "", &price);

        name_len = strlen(name);

        if (name_len == 1 && name[0] == '*') {
            p->any = price;
            p->has_any = 1;
            continue;
        }

        if (name[name_len - 1] == '*') {
            e = &p->prefixes[p->nprefixes++];
            name_len--;

        } else {
            e = &p->exact[p->nexact++];
        }

        e->name = malloc(name_len + 1);
        if (e->name == NULL) {
            goto nomem;
        }

        memcpy(e->name, name, name_len);
        e->name[name_len] = '\0';
        e->len = name_len;
        e->price = price;
    }

    if (p->nexact > 1) {
        qsort(p->exact, p->nexact, sizeof(aigw_price_entry_t),
              aigw_prices_cmp_exact);
    }

    if (p->nprefixes > 1) {
        qsort(p->prefixes, p->nprefixes, sizeof(aigw_price_entry_t),
              aigw_prices_cmp_prefix);
    }

    json_decref(root);

    *out = p;

    return 0;

nomem:

    aigw_prices_error(&ctx, "out of memory");

failed:

    json_decref(root);
    aigw_prices_free(p);

    return -1;
}


void
aigw_prices_free(aigw_prices_t *p)
{
    size_t  i;

    if (p == NULL) {
        return;
    }

    for (i = 0; i < p->nexact; i++) {
        free(p->exact[i].name);
    }

    for (i = 0; i < p->nprefixes; i++) {
        free(p->prefixes[i].name);
    }

    free(p->exact);
    free(p->prefixes);
    free(p);
}


const aigw_price_t *
aigw_prices_find(const aigw_prices_t *p, const u_char *model, size_t len)
{
    int                        rc;
    size_t                     lo, hi, mid, i;
    const aigw_price_entry_t  *e;

    lo = 0;
    hi = p->nexact;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        e = &p->exact[mid];

        rc = aigw_prices_cmp_name(model, len, e->name, e->len);

        if (rc == 0) {
            return &e->price;
        }

        if (rc < 0) {
            hi = mid;

        } else {
            lo = mid + 1;
        }
    }

    /* sorted longest first: the first match is the longest one */

    for (i = 0; i < p->nprefixes; i++) {
        e = &p->prefixes[i];

        if (len >= e->len && memcmp(model, e->name, e->len) == 0) {
            return &e->price;
        }
    }

    return p->has_any ? &p->any : NULL;
}


static int
aigw_prices_check_name(aigw_prices_ctx_t *ctx, const char *name,
    const char *path)
{
    size_t  i, len;

    len = strlen(name);

    if (len == 0 || len > AIGW_PRICES_MODEL_MAX) {
        aigw_prices_error(ctx, "%s: model name must be 1..%d characters",
                          path, AIGW_PRICES_MODEL_MAX);
        return -1;
    }

    for (i = 0; i < len; i++) {
        if ((u_char) name[i] < 0x20 || name[i] == 0x7f) {
            aigw_prices_error(ctx, "%s: model name contains a control "
                              "character", path);
            return -1;
        }

        if (name[i] == '*' && i != len - 1) {
            aigw_prices_error(ctx, "%s: \"*\" is only allowed as the last "
                              "character", path);
            return -1;
        }
    }

    return 0;
}


static int
aigw_prices_parse_model(aigw_prices_ctx_t *ctx, json_t *v, const char *path,
    aigw_price_t *price)
{
    size_t       i;
    json_t      *f;
    const char  *name;
    char         buf[AIGW_PRICES_PRINT_LEN];

    if (!json_is_object(v)) {
        aigw_prices_error(ctx, "%s: must be an object", path);
        return -1;
    }

    json_object_foreach(v, name, f) {
        for (i = 0; aigw_prices_price_fields[i]; i++) {
            if (strcmp(name, aigw_prices_price_fields[i]) == 0) {
                break;
            }
        }

        if (aigw_prices_price_fields[i] == NULL) {
            aigw_prices_error(ctx, "%s.%s: unknown field", path,
                              aigw_prices_printable(name, buf, sizeof(buf)));
            return -1;
        }
    }

    if (json_object_get(v, "input") == NULL) {
        aigw_prices_error(ctx, "%s: missing \"input\"", path);
        return -1;
    }

    if (json_object_get(v, "output") == NULL) {
        aigw_prices_error(ctx, "%s: missing \"output\"", path);
        return -1;
    }

    if (aigw_prices_parse_usd(ctx, json_object_get(v, "input"), path,
                              "input", &price->input) != 0
        || aigw_prices_parse_usd(ctx, json_object_get(v, "output"), path,
                                 "output", &price->output) != 0)
    {
        return -1;
    }

    /* a cache hit or write is never priced by accident at 0 */

    price->cached_input = price->input;
    price->cache_write = price->input;

    if (aigw_prices_parse_usd(ctx, json_object_get(v, "cached_input"), path,
                              "cached_input", &price->cached_input) != 0
        || aigw_prices_parse_usd(ctx, json_object_get(v, "cache_write"),
                                 path, "cache_write", &price->cache_write)
           != 0)
    {
        return -1;
    }

    return 0;
}


/* leaves *out alone when v is NULL (an absent optional field) */

static int
aigw_prices_parse_usd(aigw_prices_ctx_t *ctx, json_t *v, const char *path,
    const char *field, int64_t *out)
{
    double  usd;

    if (v == NULL) {
        return 0;
    }

    usd = json_is_number(v) ? json_number_value(v) : -1;

    /* the negated test also rejects NaN, which jansson cannot produce */

    if (!(usd >= 0 && usd <= AIGW_PRICES_USD_MAX)) {
        aigw_prices_error(ctx, "%s.%s: must be a number from 0 to 1000000 "
                          "(USD per million tokens)", path, field);
        return -1;
    }

    /* USD per 1e6 tokens = 1e12 pico-USD per 1e6 tokens */

    *out = (int64_t) (usd * 1e6 + 0.5);

    return 0;
}


static int
aigw_prices_cmp_exact(const void *a, const void *b)
{
    const aigw_price_entry_t  *ea, *eb;

    ea = a;
    eb = b;

    return aigw_prices_cmp_name((const u_char *) ea->name, ea->len,
                                eb->name, eb->len);
}


static int
aigw_prices_cmp_prefix(const void *a, const void *b)
{
    const aigw_price_entry_t  *ea, *eb;

    ea = a;
    eb = b;

    if (ea->len != eb->len) {
        return (ea->len < eb->len) - (ea->len > eb->len);
    }

    return strcmp(ea->name, eb->name);
}


/* the order of strcmp() on NUL-terminated names */

static int
aigw_prices_cmp_name(const u_char *a, size_t alen, const char *b,
    size_t blen)
{
    int  rc;

    rc = memcmp(a, b, alen < blen ? alen : blen);

    if (rc == 0) {
        rc = (alen > blen) - (alen < blen);
    }

    return rc;
}


static void
aigw_prices_error(aigw_prices_ctx_t *ctx, const char *fmt, ...)
{
    va_list  args;

    if (ctx->err_len == 0) {
        return;
    }

    va_start(args, fmt);
    vsnprintf(ctx->err, ctx->err_len, fmt, args);
    va_end(args);
}


/* a truncated copy safe to print: unsafe bytes become '?' */

static const char *
aigw_prices_printable(const char *s, char *buf, size_t size)
{
    size_t  i, max;

    max = size - 4;

    for (i = 0; s[i] && i < max; i++) {
        buf[i] = (s[i] >= ' ' && s[i] <= '~' && s[i] != '"'
                  && s[i] != '\\') ? s[i] : '?';
    }

    if (s[i]) {
        memcpy(&buf[i], "...", 3);
        i += 3;
    }

    buf[i] = '\0';

    return buf;
}
