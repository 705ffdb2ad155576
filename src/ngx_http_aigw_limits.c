/*
 * aigw: admission against limits and budgets, and its settlement.
 *
 * After the body is rewritten, a request's subjects (its key, the key's
 * limits for the model, its tenant) are admitted by the store: one request,
 * an estimate of its tokens (prompt estimate + max_tokens) and of its cost
 * are reserved, atomically for all subjects.  When the request's pool goes
 * away (success, error, timeout or client abort alike), the reservation is
 * settled with the usage the answer reported, and the concurrency slot is
 * freed.
 */

#include "ngx_http_aigw_module.h"


static ngx_int_t ngx_http_aigw_limits_verdict(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, ngx_http_aigw_admission_t *a);
static void ngx_http_aigw_limits_done(ngx_http_request_t *r,
    ngx_http_aigw_admission_t *a);
static void ngx_http_aigw_limits_cleanup(void *data);
static ngx_int_t ngx_http_aigw_limits_subject(ngx_http_request_t *r,
    ngx_http_aigw_admission_t *a, const char *kind, const char *what,
    ngx_str_t *name, ngx_str_t *model, const aigw_limits_t *l,
    const aigw_budget_t *b, ngx_http_aigw_loc_conf_t *dflt);
static u_char *ngx_http_aigw_duration(u_char *p, int64_t ms);


static time_t  ngx_http_aigw_fail_open_logged;


static const char  *ngx_http_aigw_refusals[] = {
    "", "requests per minute", "tokens per minute", "concurrent requests",
    "budget"
};


ngx_int_t
ngx_http_aigw_limits_admit(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    ngx_str_t *body, aigw_json_member_t *m, size_t n)
{
    int64_t                     prompt, completion;
    ngx_int_t                   rc;
    ngx_str_t                   name;
    ngx_time_t                 *tp;
    ngx_pool_cleanup_t         *cln;
    const aigw_limits_t        *ml;
    const aigw_key_t           *key;
    ngx_http_aigw_admission_t  *a;
    ngx_http_aigw_loc_conf_t   *alcf;
    ngx_http_aigw_main_conf_t  *amcf;

    key = ctx->key;
    amcf = ngx_http_get_module_main_conf(r, ngx_http_aigw_module);
    alcf = ngx_http_get_module_loc_conf(r, ngx_http_aigw_module);

    if (amcf->prices) {
        ctx->price = aigw_prices_find(amcf->prices, ctx->upstream_model.data,
                                      ctx->upstream_model.len);
        if (ctx->price == NULL) {
            ctx->price = aigw_prices_find(amcf->prices, ctx->model.data,
                                          ctx->model.len);
        }
    }

    if (key == NULL || amcf->store.shm_zone == NULL) {
        return NGX_DECLINED;
    }

    a = ngx_pcalloc(r->pool, sizeof(ngx_http_aigw_admission_t));
    if (a == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    name.data = (u_char *) key->name;
    name.len = key->name_len;

    if (ngx_http_aigw_limits_subject(r, a, "k", "key", &name, NULL,
                                     &key->limits, &key->budget, alcf)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ml = aigw_key_model_limits(key, ctx->model.data, ctx->model.len);

    if (ml
        && ngx_http_aigw_limits_subject(r, a, "m", "key", &name, &ctx->model,
                                        ml, NULL, NULL)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (key->tenant) {
        name.data = (u_char *) key->tenant->name;
        name.len = key->tenant->name_len;

        if (ngx_http_aigw_limits_subject(r, a, "t", "tenant", &name, NULL,
                                         &key->tenant->limits,
                                         &key->tenant->budget, NULL)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (a->nsubjects == 0) {
        return NGX_DECLINED;
    }

    /* the body's top-level members are known: only the text is walked */

    switch (ctx->api) {
    case NGX_HTTP_AIGW_CHAT:
        prompt = aigw_tokens_estimate_members(body->data, body->len, m, n,
                                              AIGW_TOKENS_CHAT);
        completion = ctx->max_tokens >= 0 ? ctx->max_tokens
                                          : alcf->default_max_tokens;
        break;
    case NGX_HTTP_AIGW_COMPLETIONS:
        prompt = aigw_tokens_estimate_members(body->data, body->len, m, n,
                                              AIGW_TOKENS_COMPLETIONS);
        completion = ctx->max_tokens >= 0 ? ctx->max_tokens
                                          : alcf->default_max_tokens;
        break;
    default:
        prompt = aigw_tokens_estimate_members(body->data, body->len, m, n,
                                              AIGW_TOKENS_EMBEDDINGS);
        completion = 0;
        break;
    }

    a->tokens = prompt + completion;
    a->cost = ctx->price ? aigw_cost_estimate_micro_usd(ctx->price, prompt,
                                                         completion)
                         : 0;

    tp = ngx_timeofday();
    a->now_ms = (int64_t) tp->sec * 1000 + tp->msec;
    a->request_id = ctx->request_id;
    a->request = r;
    a->done = ngx_http_aigw_limits_done;

    ctx->admission = a;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_aigw_limits_cleanup;
    cln->data = ctx;

    if (amcf->store.redis) {
        rc = ngx_http_aigw_redis_admit(&amcf->store, a);

        if (rc == NGX_AGAIN) {
            ctx->waiting = 1;
            return NGX_AGAIN;
        }

        a->status = NGX_ERROR;
        return ngx_http_aigw_limits_verdict(r, ctx, a);
    }

    (void) ngx_http_aigw_shm_admit(&amcf->store, a, r->connection->log);

    return ngx_http_aigw_limits_verdict(r, ctx, a);
}


static ngx_int_t
ngx_http_aigw_limits_subject(ngx_http_request_t *r,
    ngx_http_aigw_admission_t *a, const char *kind, const char *what,
    ngx_str_t *name, ngx_str_t *model, const aigw_limits_t *l,
    const aigw_budget_t *b, ngx_http_aigw_loc_conf_t *dflt)
{
    u_char                   *p;
    ngx_http_aigw_subject_t  *s;

    s = &a->subjects[a->nsubjects];

    /* a key's 0 ("not set") takes the location's default */

    s->limits.rpm = l->rpm ? l->rpm : (dflt ? dflt->limit_rpm : 0);
    s->limits.tpm = l->tpm ? l->tpm : (dflt ? dflt->limit_tpm : 0);
    s->limits.concurrency = l->concurrency
                            ? l->concurrency
                            : (dflt ? dflt->limit_concurrency : 0);
    s->limits.budget = b ? b->micro_usd : -1;
    s->limits.period = b ? (int) b->period : AIGW_PERIOD_TOTAL;

    if (s->limits.rpm == 0 && s->limits.tpm == 0
        && s->limits.concurrency == 0 && s->limits.budget < 0)
    {
        return NGX_OK;
    }

    s->id.len = 2 + name->len + (model ? 1 + model->len : 0);
    s->id.data = ngx_pnalloc(r->pool, s->id.len);
    if (s->id.data == NULL) {
        return NGX_ERROR;
    }

    p = s->id.data;
    *p++ = kind[0];
    *p++ = ':';
    p = ngx_cpymem(p, name->data, name->len);

    if (model) {
        *p++ = ':';
        ngx_memcpy(p, model->data, model->len);
    }

    s->what = what;
    a->nsubjects++;

    return NGX_OK;
}


/* Redis answered (or timed out): resume the request. */

static void
ngx_http_aigw_limits_done(ngx_http_request_t *r, ngx_http_aigw_admission_t *a)
{
    ngx_connection_t     *c;
    ngx_http_aigw_ctx_t  *ctx;

    c = r->connection;
    ctx = ngx_http_aigw_get_ctx(r);

    ctx->waiting = 0;
    ctx->rc = ngx_http_aigw_limits_verdict(r, ctx, a);

    if (ctx->rc == NGX_DECLINED && ngx_http_aigw_finish(r, ctx) != NGX_OK) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}


static ngx_int_t
ngx_http_aigw_limits_verdict(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    ngx_http_aigw_admission_t *a)
{
    u_char                     *p;
    int64_t                     retry;
    ngx_str_t                   name, spent, model;
    ngx_table_elt_t            *h;
    ngx_http_aigw_subject_t    *s;
    ngx_http_aigw_main_conf_t  *amcf;
    u_char                      buf[AIGW_COST_USD_LEN * 2];

    if (a->status == NGX_ERROR) {
        amcf = ngx_http_get_module_main_conf(r, ngx_http_aigw_module);

        if (amcf->store.redis && !a->local
            && amcf->store.failure == NGX_HTTP_AIGW_FAIL_OPEN)
        {
            /*
             * Redis is away: admit, counting in this machine's zone.
             * Said once a minute per worker, not once per request.
             */

            if (ngx_time() - ngx_http_aigw_fail_open_logged >= 60) {
                ngx_http_aigw_fail_open_logged = ngx_time();

                ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                              "aigw: the redis store is unavailable, "
                              "admitting with local counters");
            }

            a->local = 1;
            (void) ngx_http_aigw_shm_admit(&amcf->store, a,
                                           r->connection->log);
            return ngx_http_aigw_limits_verdict(r, ctx, a);
        }

        return ngx_http_aigw_error(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   "api_error", "store_unavailable", NULL,
                                   "The gateway cannot check the limits of "
                                   "this key right now; try again later.");
    }

    if (a->status == NGX_OK) {
        return NGX_DECLINED;
    }

    s = &a->subjects[a->refused];
    name.data = s->id.data + 2;
    name.len = s->id.len - 2;
    ngx_str_set(&model, "");

    if (s->id.data[0] == 'm') {
        /* "m:<key>:<model>": the key's name, and the model on its own */
        model = ctx->model;
        name.len -= model.len + 1;
    }

    retry = a->result.retry_after_ms;

    if (a->result.refused == AIGW_WINDOW_BUDGET) {
        p = aigw_cost_format_usd(buf, s->limits.budget);
        spent.data = buf;
        spent.len = p - buf;

        return ngx_http_aigw_error(r, ctx, NGX_HTTP_FORBIDDEN,
                                   "insufficient_quota",
                                   "insufficient_quota", NULL,
                                   "The budget of %s '%V' (%V USD%s) is "
                                   "spent.", s->what, &name, &spent,
                                   s->limits.period == AIGW_PERIOD_DAILY
                                   ? " a day"
                                   : s->limits.period == AIGW_PERIOD_MONTHLY
                                     ? " a month" : "");
    }

    if (retry >= 0) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Retry-After");

        h->value.data = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (h->value.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->value.len = ngx_sprintf(h->value.data, "%L",
                                   ngx_max((retry + 999) / 1000, 1))
                       - h->value.data;
    }

    if (a->result.refused == AIGW_WINDOW_TOKENS && retry < 0) {
        return ngx_http_aigw_error(r, ctx, NGX_HTTP_TOO_MANY_REQUESTS,
                                   "tokens", "rate_limit_exceeded", NULL,
                                   "This request needs about %L tokens, "
                                   "more than the limit of %L tokens per "
                                   "minute of %s '%V'%s%V%s.", a->tokens,
                                   s->limits.tpm, s->what, &name,
                                   model.len ? " on model '" : "", &model,
                                   model.len ? "'" : "");
    }

    return ngx_http_aigw_error(r, ctx, NGX_HTTP_TOO_MANY_REQUESTS,
                               a->result.refused == AIGW_WINDOW_TOKENS
                               ? "tokens" : "requests",
                               "rate_limit_exceeded", NULL,
                               "Rate limit reached for %s '%V'%s%V%s: %L %s. "
                               "Please try again in %Ls.", s->what, &name,
                               model.len ? " on model '" : "", &model,
                               model.len ? "'" : "",
                               a->result.refused == AIGW_WINDOW_REQUESTS
                               ? s->limits.rpm
                               : a->result.refused == AIGW_WINDOW_TOKENS
                                 ? s->limits.tpm : s->limits.concurrency,
                               ngx_http_aigw_refusals[a->result.refused],
                               ngx_max((retry + 999) / 1000, 1));
}


/* The request's pool goes away: settle what was reserved. */

static void
ngx_http_aigw_limits_cleanup(void *data)
{
    ngx_http_aigw_ctx_t  *ctx = data;

    int64_t                     tokens, cost;
    ngx_http_aigw_admission_t  *a;
    ngx_http_aigw_main_conf_t  *amcf;

    a = ctx->admission;

    if (a->redis_token) {
        ngx_http_aigw_redis_cancel(a);
    }

    if (!a->reserved || a->settled) {
        return;
    }

    a->settled = 1;

    /* without usage (upstream error, abort) the reservation is released */

    tokens = ctx->usage.found ? ctx->usage.total_tokens : 0;
    cost = ngx_http_aigw_cost(ctx);

    amcf = ngx_http_get_module_main_conf(a->request, ngx_http_aigw_module);

    if (amcf->store.redis && !a->local) {
        ngx_http_aigw_redis_settle(&amcf->store, a, tokens - a->tokens,
                                   cost - a->cost);
        return;
    }

    ngx_http_aigw_shm_settle(&amcf->store, a, tokens - a->tokens,
                             cost - a->cost, ngx_cycle->log);
}


ngx_int_t
ngx_http_aigw_limits_headers(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx)
{
    u_char                     *p;
    ngx_uint_t                  i;
    ngx_table_elt_t            *h;
    ngx_http_aigw_admission_t  *a;

    static ngx_str_t  names[] = {
        ngx_string("x-ratelimit-limit-requests"),
        ngx_string("x-ratelimit-remaining-requests"),
        ngx_string("x-ratelimit-reset-requests"),
        ngx_string("x-ratelimit-limit-tokens"),
        ngx_string("x-ratelimit-remaining-tokens"),
        ngx_string("x-ratelimit-reset-tokens")
    };

    a = ctx->admission;

    if (a == NULL || (a->status != NGX_OK && a->status != NGX_DECLINED)) {
        return NGX_OK;
    }

    /* one allocation for the six values */

    p = ngx_pnalloc(r->pool, 6 * (NGX_INT64_LEN + 16));
    if (p == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < 6; i++) {

        if ((i < 3 && a->header_rpm == 0) || (i >= 3 && a->header_tpm == 0)) {
            continue;
        }

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        h->key = names[i];
        h->value.data = p;

        switch (i) {
        case 0:
            p = ngx_http_aigw_int(p, a->header_rpm);
            break;
        case 1:
            p = ngx_http_aigw_int(p, ngx_max(a->headers.remaining_requests,
                                             0));
            break;
        case 2:
            p = ngx_http_aigw_duration(p, a->headers.reset_requests_ms);
            break;
        case 3:
            p = ngx_http_aigw_int(p, a->header_tpm);
            break;
        case 4:
            p = ngx_http_aigw_int(p, ngx_max(a->headers.remaining_tokens, 0));
            break;
        default:
            p = ngx_http_aigw_duration(p, a->headers.reset_tokens_ms);
            break;
        }

        h->value.len = p - h->value.data;
    }

    return NGX_OK;
}


/* OpenAI's style: "20ms", "1s", "6m0s". */

static u_char *
ngx_http_aigw_duration(u_char *p, int64_t ms)
{
    if (ms <= 0) {
        *p++ = '0'; *p++ = 's';
        return p;
    }

    if (ms < 1000) {
        p = ngx_http_aigw_int(p, ms);
        *p++ = 'm'; *p++ = 's';
        return p;
    }

    ms = (ms + 999) / 1000;

    if (ms >= 60) {
        p = ngx_http_aigw_int(p, ms / 60);
        *p++ = 'm';
        ms %= 60;
    }

    p = ngx_http_aigw_int(p, ms);
    *p++ = 's';

    return p;
}


/*
 * aigw_store shm [zone=name:size] [state_path=dir] [persist=time];
 * aigw_store redis server=... [password=...] [db=N] [timeout=time] ...;
 */

char *
ngx_http_aigw_store_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_aigw_main_conf_t  *amcf = conf;

    u_char                      *p;
    char                        *rv;
    ssize_t                      size;
    ngx_str_t                   *value, name, s;
    ngx_uint_t                   i;
    ngx_http_aigw_store_conf_t  *sc;

    if (amcf->store_set) {
        return "is duplicate";
    }

    amcf->store_set = 1;
    sc = &amcf->store;
    value = cf->args->elts;

    sc->persist = 10000;
    ngx_str_set(&name, "aigw_store");
    size = 10 * 1024 * 1024;

    if (value[1].len == 5 && ngx_strncmp(value[1].data, "redis", 5) == 0) {
        rv = ngx_http_aigw_redis_conf(cf, sc);
        if (rv != NGX_CONF_OK) {
            return rv;
        }

        /* the local counters of "failure=open" */
        return ngx_http_aigw_shm_conf(cf, sc, &name, size);
    }

    if (value[1].len != 3 || ngx_strncmp(value[1].data, "shm", 3) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unknown store \"%V\": use \"shm\" or \"redis\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            name.data = value[i].data + 5;
            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL) {
                goto invalid;
            }

            name.len = p - name.data;
            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (name.len == 0 || size == NGX_ERROR) {
                goto invalid;
            }

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small", &name);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "state_path=", 11) == 0) {
            sc->state_file.data = value[i].data + 11;
            sc->state_file.len = value[i].len - 11;

            if (sc->state_file.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "persist=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            sc->persist = ngx_parse_time(&s, 0);

            if (sc->persist == (ngx_msec_t) NGX_ERROR || sc->persist == 0) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    (void) cmd;

    return ngx_http_aigw_shm_conf(cf, sc, &name, size);

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


/* Without "aigw_store", keys get the embedded store (no state file). */

ngx_int_t
ngx_http_aigw_store_init(ngx_conf_t *cf, ngx_http_aigw_main_conf_t *amcf)
{
    ngx_str_t  name = ngx_string("aigw_store");

    if (amcf->store_set || amcf->keyset == NULL) {
        return NGX_OK;
    }

    amcf->store.persist = 10000;

    if (ngx_http_aigw_shm_conf(cf, &amcf->store, &name, 10 * 1024 * 1024)
        != NGX_CONF_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}
