/*
 * aigw: failover between the channels of a model.
 *
 * An attempt that may be followed by another one is proxied from the named
 * location @aigw_try, which intercepts the statuses worth retrying
 * (error_page 429 500 502 503 504 = @aigw_failover, with
 * proxy_intercept_errors on).  @aigw_failover picks the next channel of the
 * model, never one already tried, rebuilds the body and headers for that
 * channel's provider, and either proxies it itself, when it is the last
 * possible attempt, so that its answer reaches the client as it is (a 429
 * with its reason and Retry-After), or sends it through @aigw_try again.
 * A route with a single channel never leaves its location: no cost.
 * Admission ran once; the reservation is settled once, whatever the number
 * of attempts.  See conf-examples/aigw_failover.conf.
 */

#include "ngx_http_aigw_module.h"


static ngx_int_t ngx_http_aigw_failover_retry(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx);
static void ngx_http_aigw_reset_answer(ngx_http_aigw_ctx_t *ctx);


static ngx_str_t  ngx_http_aigw_try = ngx_string("@aigw_try");


char *
ngx_http_aigw_failover_stage_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_aigw_loc_conf_t  *alcf = conf;

    ngx_str_t  *value;

    value = cf->args->elts;

    if (alcf->stage) {
        return "is duplicate";
    }

    if (ngx_strcmp(value[1].data, "try") == 0) {
        alcf->stage = NGX_HTTP_AIGW_STAGE_TRY;

    } else if (ngx_strcmp(value[1].data, "retry") == 0) {
        alcf->stage = NGX_HTTP_AIGW_STAGE_RETRY;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\": expected \"try\" (in "
                           "@aigw_try) or \"retry\" (in @aigw_failover)",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* Whether another attempt may follow the one just prepared. */

ngx_uint_t
ngx_http_aigw_failover_more(ngx_http_aigw_ctx_t *ctx)
{
    ngx_uint_t               i, j;
    ngx_http_aigw_target_t  *t;

    if (ctx->alcf == NULL || ctx->route == NULL
        || ctx->ntried >= ctx->alcf->attempts
        || ctx->ntried >= NGX_HTTP_AIGW_MAX_ATTEMPTS)
    {
        return 0;
    }

    t = ctx->route->targets.elts;

    for (i = 0; i < ctx->route->targets.nelts; i++) {
        if (t[i].channel->disabled
            || ngx_http_aigw_channel_out(t[i].channel)
            || ngx_http_aigw_breaker_state(t[i].channel) == 1)
        {
            continue;
        }

        for (j = 0; j < ctx->ntried; j++) {
            if (ctx->tried[j] == t[i].channel) {
                break;
            }
        }

        if (j == ctx->ntried) {
            return 1;
        }
    }

    return 0;
}


ngx_int_t
ngx_http_aigw_goto_try(ngx_http_request_t *r)
{
    (void) ngx_http_named_location(r, &ngx_http_aigw_try);

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


/* The phase handler of @aigw_try and @aigw_failover. */

ngx_int_t
ngx_http_aigw_failover_stage(ngx_http_request_t *r,
    ngx_http_aigw_loc_conf_t *alcf)
{
    ngx_int_t             rc;
    ngx_http_aigw_ctx_t  *ctx;

    ctx = ngx_http_aigw_get_ctx(r);

    if (ctx == NULL || ctx->channel == NULL || ctx->alcf == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "aigw: a failover location was entered without a "
                      "gateway request");
        return NGX_HTTP_NOT_FOUND;
    }

    if (alcf->stage == NGX_HTTP_AIGW_STAGE_TRY) {
        /* the attempt is ready: proxy it */
        return NGX_DECLINED;
    }

    if (ctx->waiting) {
        return NGX_DONE;
    }

    if (ctx->goto_try) {
        ctx->goto_try = 0;
        return ngx_http_aigw_goto_try(r);
    }

    if (ctx->rc != NGX_DECLINED) {
        return ctx->rc;
    }

    rc = ngx_http_aigw_failover_retry(r, ctx);

    if (rc == NGX_DECLINED && ctx->goto_try) {
        ctx->goto_try = 0;
        return ngx_http_aigw_goto_try(r);
    }

    return rc;
}


static ngx_int_t
ngx_http_aigw_failover_retry(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx)
{
    size_t                   n;
    time_t                   retry_after;
    ngx_int_t                rc;
    ngx_uint_t               status, all_open;
    ngx_table_elt_t         *h;
    ngx_http_upstream_t     *u;
    ngx_http_aigw_target_t  *target;

    aigw_json_member_t       m[NGX_HTTP_AIGW_MAX_MEMBERS];

    /* what the failed attempt got: its own status, or nginx's */

    u = r->upstream;
    status = NGX_HTTP_BAD_GATEWAY;

    if (u) {
        if (u->headers_in.status_n) {
            status = u->headers_in.status_n;

        } else if (u->state && u->state->status) {
            status = u->state->status;
        }
    }

    retry_after = u ? ngx_http_aigw_retry_after(u) : 0;

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "aigw: channel \"%V\" failed with %ui, attempt %ui of "
                  "model \"%V\"", &ctx->channel->name, status, ctx->ntried,
                  &ctx->model);

    /* recorded here: the log phase sees only the last attempt */

    ngx_http_aigw_breaker_result(ctx->channel, 0, retry_after);
    ctx->breaker_done = 1;

    ngx_http_aigw_metrics_failover(r);

    target = NULL;
    all_open = 0;

    if (ctx->ntried < NGX_HTTP_AIGW_MAX_ATTEMPTS) {
        target = ngx_http_aigw_select(ctx->route, ctx->tried, ctx->ntried,
                                      &all_open);
    }

    if (target == NULL) {

        /*
         * another channel was expected but none is left (opened by other
         * workers meanwhile): the status and Retry-After of the failure
         */

        if (retry_after) {
            h = ngx_list_push(&r->headers_out.headers);
            if (h == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            h->hash = 1;
            ngx_str_set(&h->key, "Retry-After");
            h->value.data = ngx_pnalloc(r->pool, NGX_TIME_T_LEN);
            if (h->value.data == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            h->value.len = ngx_sprintf(h->value.data, "%T", retry_after)
                           - h->value.data;
        }

        return ngx_http_aigw_error(r, ctx,
                                   status >= NGX_HTTP_BAD_REQUEST
                                   ? status : NGX_HTTP_BAD_GATEWAY,
                                   status == NGX_HTTP_TOO_MANY_REQUESTS
                                   ? "rate_limit_exceeded" : "api_error",
                                   "upstream_error", NULL,
                                   "Every channel of the model '%V' failed"
                                   "%s; the last one answered HTTP %ui.",
                                   &ctx->model,
                                   all_open ? " or is open (circuit breaker)"
                                            : "",
                                   status);
    }

    ctx->tried[ctx->ntried++] = target->channel;
    ctx->breaker_done = 0;
    ngx_http_aigw_reset_answer(ctx);

    rc = ngx_http_aigw_scan(r, ctx, &ctx->oai_body, m, &n);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_aigw_prepare(r, ctx, target, m, n);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_aigw_finish(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


/* nothing of the failed attempt's answer carries over */

static void
ngx_http_aigw_reset_answer(ngx_http_aigw_ctx_t *ctx)
{
    ngx_http_aigw_stop_timer(ctx);

    ngx_memzero(&ctx->usage, sizeof(aigw_usage_t));

    ctx->capture = NULL;
    ctx->sse = NULL;
    ctx->held_body = NULL;
    ctx->out_stream = NULL;
    ctx->in_stream = NULL;
    ctx->cut = NULL;
    ctx->stream_bytes = 0;
    ctx->deadline = 0;
    ctx->ttft = -1;

    ctx->adapted = 0;
    ctx->native = 0;
    ctx->xlate = 0;
    ctx->hold = 0;
    ctx->xlate_done = 0;
    ctx->guard = 0;
    ctx->stream_end = 0;
    ctx->end_sent = 0;
    ctx->header_seen = 0;
    ctx->first_byte = 0;
}

