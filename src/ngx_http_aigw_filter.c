/*
 * aigw: response filters.
 *
 * The header filter adds the request id, turns every error that nginx or
 * the gateway answers into an OpenAI-shaped JSON body, and chooses how the
 * body is read: a JSON body is passed on untouched while its "usage" is
 * captured; a stream goes through the SSE parser, which passes the bytes on
 * as they come, or, when the client did not ask for usage, re-emits each
 * complete event except the usage chunk that the gateway asked for.
 */

#include "ngx_http_aigw_module.h"


#define NGX_HTTP_AIGW_OUT_BUF  4096


static ngx_int_t ngx_http_aigw_header_filter(ngx_http_request_t *r);
static ngx_int_t ngx_http_aigw_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);
static ngx_int_t ngx_http_aigw_error_header(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx);
static void ngx_http_aigw_json_headers(ngx_http_request_t *r, off_t len);
static ngx_int_t ngx_http_aigw_stream_filter(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_aigw_stream_rewrite(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, ngx_chain_t *in);
static int ngx_http_aigw_sse_event(void *data, aigw_sse_event_t *ev);
static ngx_int_t ngx_http_aigw_append(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, const u_char *p, size_t len);
static void ngx_http_aigw_resp_conf(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, aigw_adapter_resp_t *conf, ngx_uint_t msg);
static ngx_int_t ngx_http_aigw_translate_header(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx);
static ngx_http_aigw_loc_conf_t *ngx_http_aigw_conf(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx);
static ngx_int_t ngx_http_aigw_hold_body(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_aigw_send_held(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx);
static int ngx_http_aigw_translate_event(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, aigw_sse_event_t *ev);
static ngx_int_t ngx_http_aigw_translate_end(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx);
static int ngx_http_aigw_emit_openai(void *data, const u_char *event,
    size_t event_len, const u_char *p, size_t len);
static int ngx_http_aigw_emit_client(void *data, const u_char *event,
    size_t event_len, const u_char *p, size_t len);
static ngx_int_t ngx_http_aigw_stream_error(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, const char *message);
static void ngx_http_aigw_stream_usage(ngx_http_aigw_ctx_t *ctx);
static void ngx_http_aigw_native_usage(ngx_http_aigw_ctx_t *ctx);
static void ngx_http_aigw_guard(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx);
static void ngx_http_aigw_arm(ngx_http_aigw_ctx_t *ctx,
    ngx_http_aigw_loc_conf_t *alcf);
static void ngx_http_aigw_watch(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, ngx_chain_t *in);
static void ngx_http_aigw_timer_handler(ngx_event_t *ev);
static void ngx_http_aigw_upstream_finalize(ngx_http_request_t *r,
    ngx_int_t rc);
static ngx_chain_t *ngx_http_aigw_stream_error_link(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, const char *message);


static ngx_http_output_header_filter_pt  ngx_http_next_header_filter;
static ngx_http_output_body_filter_pt    ngx_http_next_body_filter;


ngx_int_t
ngx_http_aigw_init_filters(ngx_conf_t *cf)
{
    ngx_http_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = ngx_http_aigw_header_filter;

    ngx_http_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = ngx_http_aigw_body_filter;

    return NGX_OK;
}


static ngx_int_t
ngx_http_aigw_header_filter(ngx_http_request_t *r)
{
    ngx_table_elt_t           *h;
    aigw_adapter_resp_t        conf;
    ngx_http_aigw_ctx_t       *ctx;
    ngx_http_aigw_loc_conf_t  *alcf;

    ctx = ngx_http_aigw_get_ctx(r);

    if (ctx == NULL && r == r->main && r->err_status >= NGX_HTTP_BAD_REQUEST) {

        /*
         * an error before the precontent phase, e.g. the 413 of a
         * Content-Length over client_max_body_size: JSON too
         */

        alcf = ngx_http_get_module_loc_conf(r, ngx_http_aigw_module);

        if (alcf->enable) {
            ctx = ngx_http_aigw_create_ctx(r);
            if (ctx == NULL) {
                return NGX_ERROR;
            }

            return ngx_http_aigw_error_header(r, ctx);
        }
    }

    if (ctx == NULL || r != r->main) {
        return ngx_http_next_header_filter(r);
    }

    if (r->upstream) {
        ctx->header_seen = 1;
        ngx_http_aigw_stop_timer(ctx);
    }

    if (ngx_http_aigw_limits_headers(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ctx->request_id.len) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "X-Request-Id");
        h->value = ctx->request_id;
    }

    /* nginx's own error pages (ours, 413, 502, 504, ...) become JSON */

    if (r->err_status >= NGX_HTTP_BAD_REQUEST) {
        return ngx_http_aigw_error_header(r, ctx);
    }

    if (r->upstream == NULL || r->header_only) {
        return ngx_http_next_header_filter(r);
    }

    if (r->headers_out.status == NGX_HTTP_UNAUTHORIZED && ctx->channel) {
        /*
         * the provider refused the channel's own key: not the client's
         * fault, and its message may quote part of that key
         */

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "aigw: channel \"%V\" refused its upstream key (401)",
                      &ctx->channel->name);

        r->err_status = NGX_HTTP_BAD_GATEWAY;
        r->headers_out.status = NGX_HTTP_BAD_GATEWAY;
        r->headers_out.status_line.len = 0;

        ctx->err_status = NGX_HTTP_BAD_GATEWAY;
        ctx->err_type = "api_error";
        ctx->err_code = "upstream_auth_failed";
        ctx->err_param.len = 0;
        ngx_str_set(&ctx->err_message, "The upstream provider refused the "
                    "gateway's credentials for this model's channel.");

        return ngx_http_aigw_error_header(r, ctx);
    }

    if (ctx->adapted
        || (ctx->endpoint == NGX_HTTP_AIGW_MESSAGES && !ctx->native))
    {
        return ngx_http_aigw_translate_header(r, ctx);
    }

    if (r->headers_out.status != NGX_HTTP_OK) {
        return ngx_http_next_header_filter(r);
    }

    if (r->headers_out.content_type.len >= sizeof("text/event-stream") - 1
        && ngx_strncasecmp(r->headers_out.content_type.data,
                           (u_char *) "text/event-stream",
                           sizeof("text/event-stream") - 1) == 0)
    {
        alcf = ngx_http_aigw_conf(r, ctx);

        ctx->sse = ngx_palloc(r->pool, sizeof(aigw_sse_t));
        if (ctx->sse == NULL) {
            return NGX_ERROR;
        }

        aigw_sse_init(ctx->sse, alcf->max_event, ngx_http_aigw_pool_alloc,
                      r->pool, ngx_http_aigw_sse_event, r);

        if (ctx->native) {
            /* an Anthropic stream to an Anthropic client: only watched */

            ctx->out_stream = ngx_palloc(r->pool,
                                         sizeof(aigw_anthropic_stream_t));
            if (ctx->out_stream == NULL) {
                return NGX_ERROR;
            }

            ngx_http_aigw_resp_conf(r, ctx, &conf, 0);
            aigw_anthropic_stream_init(ctx->out_stream, &conf,
                                       ngx_http_aigw_pool_alloc, r->pool);
        }

        ngx_http_aigw_guard(r, ctx);

        if (ctx->drop_usage) {
            ngx_http_clear_content_length(r);
            ngx_http_clear_accept_ranges(r);
            ngx_http_weak_etag(r);
            ctx->last_out = &ctx->out;
            ctx->pending_last = &ctx->pending;
        }

        r->filter_need_in_memory = 1;

        return ngx_http_next_header_filter(r);
    }

    if (ctx->endpoint != NGX_HTTP_AIGW_MODELS
        && ctx->endpoint != NGX_HTTP_AIGW_PASSTHROUGH)
    {
        ctx->capture = ngx_palloc(r->pool, sizeof(aigw_usage_capture_t));
        if (ctx->capture == NULL) {
            return NGX_ERROR;
        }

        aigw_usage_capture_init(ctx->capture);
        r->filter_need_in_memory = 1;
    }

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_aigw_error_header(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx)
{
    off_t                      max;
    u_char                    *p;
    ngx_buf_t                 *b;
    aigw_buf_t                 ab;
    aigw_error_t               e;
    ngx_http_core_loc_conf_t  *clcf;

    if (ctx->err_status != r->err_status || ctx->err_message.len == 0) {

        /* an error that nginx answered itself */

        ctx->err_type = "api_error";
        ctx->err_param.len = 0;

        switch (r->err_status) {

        case NGX_HTTP_REQUEST_ENTITY_TOO_LARGE:
            clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
            max = clcf->client_max_body_size;
            ctx->err_type = "invalid_request_error";
            ctx->err_code = "request_too_large";
            ngx_str_set(&ctx->err_message, "The request body is too large.");

            p = ngx_pnalloc(r->pool, 80);
            if (p && max) {
                ctx->err_message.data = p;
                ctx->err_message.len = ngx_sprintf(p, "The request body is "
                                                   "too large (the limit is "
                                                   "%O bytes).", max) - p;
            }

            break;

        case NGX_HTTP_BAD_GATEWAY:
            ctx->err_code = "upstream_error";
            ngx_str_set(&ctx->err_message, "The upstream provider could not "
                        "be reached or sent an invalid response.");
            break;

        case NGX_HTTP_SERVICE_UNAVAILABLE:
            ctx->err_code = "upstream_unavailable";
            ngx_str_set(&ctx->err_message, "The upstream provider is "
                        "unavailable.");
            break;

        case NGX_HTTP_GATEWAY_TIME_OUT:
            ctx->err_code = "upstream_timeout";
            ngx_str_set(&ctx->err_message, "The upstream provider did not "
                        "answer in time.");
            break;

        case NGX_HTTP_REQUEST_TIME_OUT:
            ctx->err_type = "invalid_request_error";
            ctx->err_code = "request_timeout";
            ngx_str_set(&ctx->err_message, "The request was not received "
                        "in time.");
            break;

        case NGX_HTTP_BAD_REQUEST:
            ctx->err_type = "invalid_request_error";
            ctx->err_code = "invalid_request";
            ngx_str_set(&ctx->err_message, "The request could not be "
                        "read.");
            break;

        default:
            if (r->err_status < NGX_HTTP_INTERNAL_SERVER_ERROR) {
                ctx->err_type = "invalid_request_error";
                ctx->err_code = "invalid_request";
                ngx_str_set(&ctx->err_message, "The request was refused.");

            } else {
                ctx->err_code = "internal_error";
                ngx_str_set(&ctx->err_message, "The gateway had an internal "
                            "error.");
            }
        }

        ctx->err_status = r->err_status;
    }

    e.message = ctx->err_message.data;
    e.message_len = ctx->err_message.len;
    e.type = ctx->err_type;
    e.param = ctx->err_param.len ? ctx->err_param.data : NULL;
    e.param_len = ctx->err_param.len;
    e.code = ctx->err_code;

    if (ngx_http_aigw_anthropic_client(ctx)) {

        /* Anthropic's SDKs read their own error shape */

        aigw_buf_init(&ab, ngx_http_aigw_pool_alloc, r->pool, 0);

        if (aigw_anthropic_in_error_json(&ab, (int) ctx->err_status,
                                         e.message, e.message_len)
            != AIGW_ADAPTER_OK)
        {
            return NGX_ERROR;
        }

        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->pos = ab.data;
        b->last = ab.data + ab.len;
        b->memory = 1;

    } else {
        b = ngx_create_temp_buf(r->pool, aigw_error_len(&e));
        if (b == NULL) {
            return NGX_ERROR;
        }

        b->last = aigw_error_write(b->pos, &e);
    }

    b->last_buf = 1;
    b->last_in_chain = 1;

    ctx->err_body = b;
    ctx->replace_body = 1;
    ctx->sse = NULL;
    ctx->capture = NULL;

    ngx_http_aigw_json_headers(r, b->last - b->pos);

    return ngx_http_next_header_filter(r);
}


/* the headers of a JSON body of our own that replaces the answer's */

static void
ngx_http_aigw_json_headers(ngx_http_request_t *r, off_t len)
{
    r->headers_out.content_length_n = len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);
}


static ngx_int_t
ngx_http_aigw_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_time_t           *tp;
    ngx_chain_t          *cl, out;
    ngx_http_aigw_ctx_t  *ctx;

    ctx = ngx_http_aigw_get_ctx(r);

    if (ctx == NULL || r != r->main) {
        return ngx_http_next_body_filter(r, in);
    }

    if (ctx->replace_body) {
        for (cl = in; cl; cl = cl->next) {
            cl->buf->pos = cl->buf->last;
            cl->buf->file_pos = cl->buf->file_last;
        }

        if (ctx->err_sent || in == NULL) {
            return ngx_http_next_body_filter(r, NULL);
        }

        ctx->err_sent = 1;

        out.buf = ctx->err_body;
        out.next = NULL;

        return ngx_http_next_body_filter(r, &out);
    }

    if (!ctx->first_byte && r->upstream) {
        for (cl = in; cl; cl = cl->next) {
            if (ngx_buf_size(cl->buf)) {
                tp = ngx_timeofday();
                ctx->ttft = (tp->sec - r->start_sec) * 1000
                            + (tp->msec - r->start_msec);
                ctx->ttft = ngx_max(ctx->ttft, 0);
                ctx->first_byte = 1;
                break;
            }
        }
    }

    if (ctx->hold) {
        return ngx_http_aigw_hold_body(r, ctx, in);
    }

    if (ctx->guard && in) {
        ngx_http_aigw_watch(r, ctx, in);
    }

    if (ctx->sse) {
        return ngx_http_aigw_stream_filter(r, ctx, in);
    }

    if (ctx->capture) {
        for (cl = in; cl; cl = cl->next) {
            if (ngx_buf_in_memory(cl->buf)) {
                aigw_usage_capture_feed(ctx->capture, cl->buf->pos,
                                        cl->buf->last - cl->buf->pos);
            }

            if (cl->buf->last_buf) {
                if (ctx->native) {
                    ngx_http_aigw_native_usage(ctx);

                } else {
                    (void) aigw_usage_capture_result(ctx->capture,
                                                     &ctx->usage);
                }

                ctx->capture = NULL;
                break;
            }
        }
    }

    return ngx_http_next_body_filter(r, in);
}


static ngx_int_t
ngx_http_aigw_stream_filter(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    ngx_chain_t *in)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl, *ln;

    if (ctx->drop_usage || ctx->xlate) {
        return ngx_http_aigw_stream_rewrite(r, ctx, in);
    }

    /* the bytes pass untouched: only read them */

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b) && b->last > b->pos) {
            if (aigw_sse_feed(ctx->sse, b->pos, b->last - b->pos) == -1) {
                return NGX_ERROR;
            }
        }

        if (b->last_buf || b->last_in_chain) {
            if (aigw_sse_finish(ctx->sse) == -1) {
                return NGX_ERROR;
            }

            if (b->last_buf && ctx->guard && !ctx->stream_end
                && !ctx->end_sent)
            {
                /* the upstream ended without its end marker */

                ln = ngx_http_aigw_stream_error_link(r, ctx,
                                                     "The upstream stream "
                                                     "ended before it was "
                                                     "complete.");
                if (ln == NULL) {
                    return NGX_ERROR;
                }

                b->last_buf = 0;
                ln->buf->last_buf = 1;
                ln->next = cl->next;
                cl->next = ln;
                break;
            }
        }
    }

    return ngx_http_next_body_filter(r, in);
}


/*
 * Re-emits the kept events into recycled buffers of our own.  The
 * upstream's buffers are marked consumed only once the client has taken
 * every byte made from them, and no new input is parsed while it has not:
 * a slow client therefore stops the upstream (its buffer stays full)
 * instead of making us hold the stream.
 */

static ngx_int_t
ngx_http_aigw_stream_rewrite(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    ngx_chain_t *in)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_uint_t    last;
    ngx_chain_t  *cl, *ln, *next;

    for (cl = in; cl; cl = cl->next) {
        ln = ngx_alloc_chain_link(r->pool);
        if (ln == NULL) {
            return NGX_ERROR;
        }

        ln->buf = cl->buf;
        ln->next = NULL;
        *ctx->pending_last = ln;
        ctx->pending_last = &ln->next;
    }

    rc = NGX_OK;

    for ( ;; ) {

        if (ctx->busy) {
            rc = ngx_http_next_body_filter(r, NULL);

            ngx_chain_update_chains(r->pool, &ctx->free, &ctx->busy,
                                    &ctx->out,
                                    (ngx_buf_tag_t) &ngx_http_aigw_module);

            if (rc == NGX_ERROR || ctx->busy) {
                return rc;
            }
        }

        /* the client has everything made from the held input */

        for (ln = ctx->held; ln; ln = next) {
            next = ln->next;
            ln->buf->pos = ln->buf->last;
            ngx_free_chain(r->pool, ln);
        }

        ctx->held = NULL;

        if (ctx->pending == NULL) {
            return (in == NULL) ? ngx_http_next_body_filter(r, NULL) : rc;
        }

        ctx->held = ctx->pending;
        ctx->pending = NULL;
        ctx->pending_last = &ctx->pending;

        ctx->out = NULL;
        ctx->last_out = &ctx->out;
        last = 0;

        for (ln = ctx->held; ln; ln = ln->next) {
            b = ln->buf;

            if (ngx_buf_in_memory(b) && b->last > b->pos) {
                if (aigw_sse_feed(ctx->sse, b->pos, b->last - b->pos) == -1) {
                    return NGX_ERROR;
                }
            }

            if (b->last_buf || b->last_in_chain) {
                last = 1;

                if (aigw_sse_finish(ctx->sse) == -1) {
                    return NGX_ERROR;
                }

                if (ctx->xlate
                    && ngx_http_aigw_translate_end(r, ctx) != NGX_OK)
                {
                    return NGX_ERROR;
                }
            }
        }

        if (last && ctx->guard && !ctx->xlate && !ctx->stream_end
            && !ctx->end_sent)
        {
            if (ngx_http_aigw_stream_error(r, ctx, "The upstream stream "
                                           "ended before it was complete.")
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }

        if (last) {
            b = ngx_calloc_buf(r->pool);
            if (b == NULL) {
                return NGX_ERROR;
            }

            b->last_buf = (r == r->main);
            b->last_in_chain = 1;

            cl = ngx_alloc_chain_link(r->pool);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            cl->buf = b;
            cl->next = NULL;
            *ctx->last_out = cl;
            ctx->last_out = &cl->next;
        }

        if (ctx->out == NULL) {
            continue;
        }

        /* streams go out as they come */

        for (cl = ctx->out; cl->next; cl = cl->next) { /* void */ }
        cl->buf->flush = 1;

        rc = ngx_http_next_body_filter(r, ctx->out);

        ngx_chain_update_chains(r->pool, &ctx->free, &ctx->busy, &ctx->out,
                                (ngx_buf_tag_t) &ngx_http_aigw_module);

        if (rc == NGX_ERROR) {
            return rc;
        }

        if (ctx->busy == NULL) {
            continue;
        }

        return rc;
    }
}


static int
ngx_http_aigw_sse_event(void *data, aigw_sse_event_t *ev)
{
    ngx_http_request_t  *r = data;

    int                       usage_only, rc;
    aigw_usage_t              u;
    ngx_http_aigw_ctx_t      *ctx;
    aigw_anthropic_stream_t  *ast;

    ctx = ngx_http_aigw_get_ctx(r);
    usage_only = 0;

    if (ctx->xlate) {
        return ngx_http_aigw_translate_event(r, ctx, ev);
    }

    if (ctx->native) {
        if (!ev->overflow && ev->has_data) {
            (void) aigw_anthropic_stream_event(ctx->out_stream, ev->event,
                                               ev->event_len, ev->data,
                                               ev->data_len, NULL, NULL);
            ngx_http_aigw_stream_usage(ctx);

            ast = ctx->out_stream;
            ctx->stream_end = ast->stopped || ast->failed;
        }

        return 0;
    }

    if (!ev->overflow && ev->data_len == 6
        && ngx_strncmp(ev->data, "[DONE]", 6) == 0)
    {
        ctx->stream_end = 1;
    }

    if (!ev->overflow && ev->has_data && ev->data_len > 1
        && ev->data[0] == '{'
        && ngx_strlcasestrn((u_char *) ev->data,
                            (u_char *) ev->data + ev->data_len,
                            (u_char *) "\"usage\"", 7 - 1)
           != NULL)
    {
        rc = aigw_usage_from_chunk(ev->data, ev->data_len, &u, &usage_only);

        if (rc == 1) {
            ctx->usage = u;
        }
    }

    if (!ctx->drop_usage || usage_only) {
        return 0;
    }

    return ngx_http_aigw_append(r, ctx, ev->raw, ev->raw_len) == NGX_OK
           ? 0 : -1;
}


/* Copies kept bytes into recycled buffers of a fixed size. */

static ngx_int_t
ngx_http_aigw_append(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    const u_char *p, size_t len)
{
    size_t        n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl, *tail;

    tail = NULL;

    if (ctx->out) {
        for (tail = ctx->out; tail->next; tail = tail->next) { /* void */ }

        if (tail->buf->tag != (ngx_buf_tag_t) &ngx_http_aigw_module) {
            tail = NULL;
        }
    }

    while (len) {

        if (tail == NULL || tail->buf->last == tail->buf->end) {
            cl = ngx_chain_get_free_buf(r->pool, &ctx->free);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            b = cl->buf;

            if (b->start == NULL) {
                b->start = ngx_palloc(r->pool, NGX_HTTP_AIGW_OUT_BUF);
                if (b->start == NULL) {
                    return NGX_ERROR;
                }

                b->end = b->start + NGX_HTTP_AIGW_OUT_BUF;
                b->temporary = 1;
                b->tag = (ngx_buf_tag_t) &ngx_http_aigw_module;
            }

            b->pos = b->start;
            b->last = b->start;
            b->flush = 0;
            b->last_buf = 0;
            b->last_in_chain = 0;

            *ctx->last_out = cl;
            ctx->last_out = &cl->next;
            tail = cl;
        }

        b = tail->buf;
        n = ngx_min(len, (size_t) (b->end - b->last));
        b->last = ngx_cpymem(b->last, p, n);
        p += n;
        len -= n;
    }

    return NGX_OK;
}


/*
 * Translation of answers.  The provider's stream is re-emitted event by
 * event through the same recycled buffers as above; any other answer (a
 * JSON body, an error) is held whole, up to aigw_max_response_size, and
 * the header goes out with the translated body, as the image filter does.
 */

static void
ngx_http_aigw_resp_conf(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    aigw_adapter_resp_t *conf, ngx_uint_t msg)
{
    u_char  *p;
    size_t   len;

    len = ctx->request_id.len + sizeof("chatcmpl-") - 1;
    p = ngx_pnalloc(r->pool, len);

    conf->id = p;
    conf->id_len = 0;

    if (p) {
        p = msg ? ngx_cpymem(p, "msg_", sizeof("msg_") - 1)
                : ngx_cpymem(p, "chatcmpl-", sizeof("chatcmpl-") - 1);
        p = ngx_cpymem(p, ctx->request_id.data, ctx->request_id.len);
        conf->id_len = p - conf->id;
    }

    conf->model = ctx->model.data;
    conf->model_len = ctx->model.len;
    conf->created = ngx_time();

    /* an Anthropic client's message_delta carries the usage */
    conf->include_usage = ctx->client_usage
                          || ctx->endpoint == NGX_HTTP_AIGW_MESSAGES;
}


static ngx_int_t
ngx_http_aigw_translate_header(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx)
{
    aigw_adapter_resp_t        conf;
    ngx_http_aigw_loc_conf_t  *alcf;

    alcf = ngx_http_aigw_conf(r, ctx);

    r->filter_need_in_memory = 1;

    if (r->headers_out.status != NGX_HTTP_OK
        || r->headers_out.content_type.len < sizeof("text/event-stream") - 1
        || ngx_strncasecmp(r->headers_out.content_type.data,
                           (u_char *) "text/event-stream",
                           sizeof("text/event-stream") - 1) != 0)
    {
        ctx->held_body = ngx_palloc(r->pool, sizeof(aigw_buf_t));
        if (ctx->held_body == NULL) {
            return NGX_ERROR;
        }

        aigw_buf_init(ctx->held_body, ngx_http_aigw_pool_alloc, r->pool,
                      alcf->max_response);
        ctx->hold = 1;

        /* the header goes out with the translated body */
        return NGX_OK;
    }

    ctx->sse = ngx_palloc(r->pool, sizeof(aigw_sse_t));
    if (ctx->sse == NULL) {
        return NGX_ERROR;
    }

    aigw_sse_init(ctx->sse, alcf->max_event, ngx_http_aigw_pool_alloc,
                  r->pool, ngx_http_aigw_sse_event, r);

    ngx_http_aigw_resp_conf(r, ctx, &conf, 0);

    if (ctx->adapted) {
        if (ctx->channel->provider == NGX_HTTP_AIGW_ANTHROPIC) {
            ctx->out_stream = ngx_palloc(r->pool,
                                         sizeof(aigw_anthropic_stream_t));
            if (ctx->out_stream == NULL) {
                return NGX_ERROR;
            }

            aigw_anthropic_stream_init(ctx->out_stream, &conf,
                                       ngx_http_aigw_pool_alloc, r->pool);

        } else {
            ctx->out_stream = ngx_palloc(r->pool,
                                         sizeof(aigw_gemini_stream_t));
            if (ctx->out_stream == NULL) {
                return NGX_ERROR;
            }

            aigw_gemini_stream_init(ctx->out_stream, &conf,
                                    ngx_http_aigw_pool_alloc, r->pool);
        }
    }

    if (ctx->endpoint == NGX_HTTP_AIGW_MESSAGES) {
        ctx->in_stream = ngx_palloc(r->pool,
                                    sizeof(aigw_anthropic_in_stream_t));
        if (ctx->in_stream == NULL) {
            return NGX_ERROR;
        }

        ngx_http_aigw_resp_conf(r, ctx, &conf, 1);
        aigw_anthropic_in_stream_init(ctx->in_stream, &conf,
                                      ngx_http_aigw_pool_alloc, r->pool);
    }

    ctx->xlate = 1;
    ctx->last_out = &ctx->out;
    ctx->pending_last = &ctx->pending;

    ngx_http_aigw_guard(r, ctx);

    ngx_http_clear_content_length(r);
    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_etag(r);

    ngx_str_set(&r->headers_out.content_type, "text/event-stream");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.charset.len = 0;

    return ngx_http_next_header_filter(r);
}


static ngx_int_t
ngx_http_aigw_hold_body(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    ngx_chain_t *in)
{
    int           rc;
    size_t        size;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_uint_t    last;
    aigw_buf_t   *held;
    ngx_chain_t  *cl;

    held = ctx->held_body;
    last = 0;

    for (cl = in; cl; cl = cl->next) {
        b = cl->buf;
        size = ngx_buf_size(b);

        if (size && !ctx->xlate_done) {
            rc = aigw_buf_reserve(held, size);

            if (rc == AIGW_ADAPTER_TOO_BIG) {
                /* keep reading, to answer once the upstream is done */
                ctx->xlate_done = 1;

            } else if (rc != AIGW_ADAPTER_OK) {
                return NGX_ERROR;

            } else if (ngx_buf_in_memory(b)) {
                (void) aigw_buf_append(held, b->pos, size);

            } else {
                n = ngx_read_file(b->file, held->data + held->len, size,
                                  b->file_pos);
                if (n != (ssize_t) size) {
                    return NGX_ERROR;
                }

                held->len += size;
            }
        }

        b->pos = b->last;
        b->file_pos = b->file_last;

        if (b->last_buf) {
            last = 1;
        }
    }

    if (!last) {
        return NGX_OK;
    }

    ctx->hold = 0;

    return ngx_http_aigw_send_held(r, ctx);
}


static ngx_int_t
ngx_http_aigw_send_held(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx)
{
    int                        rc, status;
    aigw_buf_t                 oai, out, *in;
    ngx_buf_t                 *b;
    ngx_int_t                  nrc;
    ngx_uint_t                 provider, msg;
    ngx_chain_t                cl;
    const char                *error;
    aigw_adapter_resp_t        conf;
    aigw_usage_capture_t      *capture;
    ngx_http_aigw_loc_conf_t  *alcf;

    in = ctx->held_body;
    status = (int) r->headers_out.status;
    provider = ctx->adapted ? ctx->channel->provider : NGX_HTTP_AIGW_OPENAI;
    msg = (ctx->endpoint == NGX_HTTP_AIGW_MESSAGES);
    error = "The upstream provider sent an answer that could not be "
            "translated.";

    aigw_buf_init(&oai, ngx_http_aigw_pool_alloc, r->pool, 0);
    aigw_buf_init(&out, ngx_http_aigw_pool_alloc, r->pool, 0);
    ngx_http_aigw_resp_conf(r, ctx, &conf, 0);

    if (ctx->xlate_done) {
        alcf = ngx_http_aigw_conf(r, ctx);

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "aigw: the upstream answer is larger than "
                      "aigw_max_response_size %uz", alcf->max_response);

        error = "The upstream answer is larger than the gateway can "
                "translate (aigw_max_response_size).";
        goto gateway_error;
    }

    if (status < NGX_HTTP_OK || status >= NGX_HTTP_SPECIAL_RESPONSE) {

        switch (provider) {

        case NGX_HTTP_AIGW_ANTHROPIC:
            rc = aigw_anthropic_error(status, in->data, in->len, &oai,
                                      &status);
            break;

        case NGX_HTTP_AIGW_GEMINI:
            rc = aigw_gemini_error(status, in->data, in->len, &oai, &status);
            break;

        default:
            oai = *in;
            rc = AIGW_ADAPTER_OK;
            break;
        }

        if (rc == AIGW_ADAPTER_OK && msg) {
            rc = aigw_anthropic_in_error(status, oai.data, oai.len, &out);

        } else {
            out = oai;
        }

        if (rc != AIGW_ADAPTER_OK) {
            return NGX_ERROR;
        }

        goto send;
    }

    switch (provider) {

    case NGX_HTTP_AIGW_ANTHROPIC:
        rc = aigw_anthropic_response(in->data, in->len, &conf, &oai,
                                     &ctx->usage);
        break;

    case NGX_HTTP_AIGW_GEMINI:
        if (ctx->api == NGX_HTTP_AIGW_EMBEDDINGS) {
            rc = aigw_gemini_embed_response(in->data, in->len, &conf,
                                            ctx->base64,
                                            ctx->prompt_estimate, &oai,
                                            &ctx->usage);
        } else {
            rc = aigw_gemini_response(in->data, in->len, &conf, &oai,
                                      &ctx->usage);
        }

        break;

    default:
        oai = *in;
        rc = AIGW_ADAPTER_OK;

        capture = ngx_palloc(r->pool, sizeof(aigw_usage_capture_t));
        if (capture == NULL) {
            return NGX_ERROR;
        }

        aigw_usage_capture_init(capture);
        aigw_usage_capture_feed(capture, in->data, in->len);
        (void) aigw_usage_capture_result(capture, &ctx->usage);
        break;
    }

    if (rc == AIGW_ADAPTER_OK && msg) {
        ngx_http_aigw_resp_conf(r, ctx, &conf, 1);
        rc = aigw_anthropic_in_response(oai.data, oai.len, &conf, &out);

    } else {
        out = oai;
    }

    if (rc == AIGW_ADAPTER_INVALID) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "aigw: the answer of channel \"%V\" could not be "
                      "translated", &ctx->channel->name);
        goto gateway_error;
    }

    if (rc != AIGW_ADAPTER_OK) {
        return NGX_ERROR;
    }

    goto send;

gateway_error:

    status = NGX_HTTP_BAD_GATEWAY;
    out.len = 0;

    if (msg) {
        rc = aigw_anthropic_in_error_json(&out, status, (u_char *) error,
                                          ngx_strlen(error));
    } else {
        rc = aigw_openai_error_json(&out, error, ngx_strlen(error),
                                    "api_error", "upstream_error");
    }

    if (rc != AIGW_ADAPTER_OK) {
        return NGX_ERROR;
    }

send:

    r->headers_out.status = status;
    r->headers_out.status_line.len = 0;

    ngx_http_aigw_json_headers(r, out.len);

    nrc = ngx_http_next_header_filter(r);

    if (nrc == NGX_ERROR || nrc > NGX_OK || r->header_only) {
        return nrc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = out.data;
    b->last = out.data + out.len;
    b->memory = (out.len != 0);
    b->last_buf = 1;
    b->last_in_chain = 1;

    cl.buf = b;
    cl.next = NULL;

    return ngx_http_next_body_filter(r, &cl);
}


static int
ngx_http_aigw_translate_event(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    aigw_sse_event_t *ev)
{
    int  rc;

    if (ctx->xlate_done) {
        return 0;
    }

    if (ev->overflow) {
        if (!ev->complete) {
            return 0;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "aigw: a stream event of channel \"%V\" is larger "
                      "than aigw_max_event_size", &ctx->channel->name);

        return ngx_http_aigw_stream_error(r, ctx, "The upstream provider "
                                          "sent a stream event larger than "
                                          "the gateway can translate.")
               == NGX_OK ? 0 : -1;
    }

    if (!ev->has_data) {
        return 0;
    }

    if (!ctx->adapted) {
        rc = ngx_http_aigw_emit_openai(r, NULL, 0, ev->data, ev->data_len);

    } else if (ctx->channel->provider == NGX_HTTP_AIGW_ANTHROPIC) {
        rc = aigw_anthropic_stream_event(ctx->out_stream, ev->event,
                                         ev->event_len, ev->data,
                                         ev->data_len,
                                         ngx_http_aigw_emit_openai, r);
    } else {
        rc = aigw_gemini_stream_event(ctx->out_stream, ev->data,
                                      ev->data_len,
                                      ngx_http_aigw_emit_openai, r);
    }

    ngx_http_aigw_stream_usage(ctx);

    if (rc == AIGW_ADAPTER_INVALID) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "aigw: a stream event of channel \"%V\" could not be "
                      "translated", &ctx->channel->name);

        return ngx_http_aigw_stream_error(r, ctx, "The upstream provider "
                                          "sent a stream event that could "
                                          "not be translated.")
               == NGX_OK ? 0 : -1;
    }

    return rc == AIGW_ADAPTER_OK ? 0 : -1;
}


static ngx_int_t
ngx_http_aigw_translate_end(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx)
{
    int  rc;

    if (ctx->xlate_done) {
        return NGX_OK;
    }

    rc = AIGW_ADAPTER_OK;

    if (ctx->adapted) {
        if (ctx->channel->provider == NGX_HTTP_AIGW_ANTHROPIC) {
            rc = aigw_anthropic_stream_finish(ctx->out_stream,
                                              ngx_http_aigw_emit_openai, r);
        } else {
            rc = aigw_gemini_stream_finish(ctx->out_stream,
                                           ngx_http_aigw_emit_openai, r);
        }
    }

    if (rc == AIGW_ADAPTER_OK && ctx->in_stream) {
        rc = aigw_anthropic_in_stream_finish(ctx->in_stream,
                                             ngx_http_aigw_emit_client, r);
    }

    ngx_http_aigw_stream_usage(ctx);
    ctx->xlate_done = 1;

    if (rc == AIGW_ADAPTER_OK) {
        ctx->stream_end = 1;
    }

    if (rc == AIGW_ADAPTER_INVALID) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "aigw: the stream of channel \"%V\" ended before it "
                      "was complete", &ctx->channel->name);

        return ngx_http_aigw_stream_error(r, ctx, "The upstream stream "
                                          "ended before it was complete.");
    }

    return rc == AIGW_ADAPTER_OK ? NGX_OK : NGX_ERROR;
}


/* an OpenAI chunk: to the client, or on to Anthropic events */

static int
ngx_http_aigw_emit_openai(void *data, const u_char *event, size_t event_len,
    const u_char *p, size_t len)
{
    ngx_http_request_t  *r = data;

    ngx_http_aigw_ctx_t  *ctx;

    ctx = ngx_http_aigw_get_ctx(r);

    if (ctx->in_stream) {
        return aigw_anthropic_in_stream_event(ctx->in_stream, p, len,
                                              ngx_http_aigw_emit_client, r);
    }

    return ngx_http_aigw_emit_client(r, event, event_len, p, len);
}


static int
ngx_http_aigw_emit_client(void *data, const u_char *event, size_t event_len,
    const u_char *p, size_t len)
{
    ngx_http_request_t  *r = data;

    ngx_http_aigw_ctx_t  *ctx;

    ctx = ngx_http_aigw_get_ctx(r);

    if (event
        && (ngx_http_aigw_append(r, ctx, (u_char *) "event: ", 7) != NGX_OK
            || ngx_http_aigw_append(r, ctx, event, event_len) != NGX_OK
            || ngx_http_aigw_append(r, ctx, (u_char *) "\n", 1) != NGX_OK))
    {
        return AIGW_ADAPTER_NOMEM;
    }

    if (ngx_http_aigw_append(r, ctx, (u_char *) "data: ", 6) != NGX_OK
        || ngx_http_aigw_append(r, ctx, p, len) != NGX_OK
        || ngx_http_aigw_append(r, ctx, (u_char *) "\n\n", 2) != NGX_OK)
    {
        return AIGW_ADAPTER_NOMEM;
    }

    return AIGW_ADAPTER_OK;
}


/* a stream that cannot go on ends with an error event, never silently */

static ngx_int_t
ngx_http_aigw_stream_error(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    const char *message)
{
    int         rc;
    aigw_buf_t  b;

    ctx->xlate_done = 1;
    ctx->end_sent = 1;

    aigw_buf_init(&b, ngx_http_aigw_pool_alloc, r->pool, 0);

    if (ctx->endpoint == NGX_HTTP_AIGW_MESSAGES) {
        rc = aigw_anthropic_in_error_json(&b, NGX_HTTP_BAD_GATEWAY,
                                          (u_char *) message,
                                          ngx_strlen(message));
        if (rc == AIGW_ADAPTER_OK) {
            rc = ngx_http_aigw_emit_client(r, (u_char *) "error", 5, b.data,
                                           b.len);
        }

    } else {
        rc = aigw_openai_error_json(&b, message, ngx_strlen(message),
                                    "api_error", "upstream_error");
        if (rc == AIGW_ADAPTER_OK) {
            rc = ngx_http_aigw_emit_client(r, NULL, 0, b.data, b.len);
        }
    }

    return rc == AIGW_ADAPTER_OK ? NGX_OK : NGX_ERROR;
}


/* the usage seen so far, OpenAI-normalised, for the settlement */

static void
ngx_http_aigw_stream_usage(ngx_http_aigw_ctx_t *ctx)
{
    aigw_usage_t  *u;

    u = NULL;

    if (ctx->out_stream) {
        u = (ctx->channel->provider == NGX_HTTP_AIGW_GEMINI)
            ? &((aigw_gemini_stream_t *) ctx->out_stream)->usage
            : &((aigw_anthropic_stream_t *) ctx->out_stream)->usage;

    } else if (ctx->in_stream) {
        u = &ctx->in_stream->usage;
    }

    if (u && u->found) {
        ctx->usage = *u;
    }
}


static void
ngx_http_aigw_native_usage(ngx_http_aigw_ctx_t *ctx)
{
    aigw_usage_capture_t  *c;

    c = ctx->capture;

    if (c->captured && !c->overflow) {
        (void) aigw_anthropic_usage(c->buf, c->len, &ctx->usage);
    }
}



/*
 * Stream safety.  A stream is watched from its header on: an idle timer
 * reset by every read, a deadline, and a size bound.  The gateway cuts a
 * stream through the upstream's own timeout path, and the upstream's
 * finalize hook makes sure that a stream which ends abnormally after bytes
 * reached the client ends with an error event, never as a silent,
 * truncated success.
 */

/* the gateway location's settings, also in the failover locations */

static ngx_http_aigw_loc_conf_t *
ngx_http_aigw_conf(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx)
{
    if (ctx->alcf) {
        return ctx->alcf;
    }

    return ngx_http_get_module_loc_conf(r, ngx_http_aigw_module);
}


void
ngx_http_aigw_first_byte_timer(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx)
{
    ngx_http_aigw_loc_conf_t  *alcf;

    alcf = ngx_http_aigw_conf(r, ctx);

    if (!ctx->stream || alcf->first_byte_timeout == 0) {
        return;
    }

    ctx->timer.handler = ngx_http_aigw_timer_handler;
    ctx->timer.data = r;
    ctx->timer.log = r->connection->log;

    ngx_add_timer(&ctx->timer, alcf->first_byte_timeout);
}


void
ngx_http_aigw_stop_timer(ngx_http_aigw_ctx_t *ctx)
{
    if (ctx->timer.timer_set) {
        ngx_del_timer(&ctx->timer);
    }

    if (ctx->timer.posted) {
        ngx_delete_posted_event(&ctx->timer);
    }
}


static void
ngx_http_aigw_guard(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx)
{
    ngx_http_upstream_t       *u;
    ngx_http_aigw_loc_conf_t  *alcf;

    u = r->upstream;
    alcf = ngx_http_aigw_conf(r, ctx);

    ctx->guard = 1;

    if (u->finalize_request != ngx_http_aigw_upstream_finalize) {
        ctx->upstream_finalize = u->finalize_request;
        u->finalize_request = ngx_http_aigw_upstream_finalize;
    }

    ctx->timer.handler = ngx_http_aigw_timer_handler;
    ctx->timer.data = r;
    ctx->timer.log = r->connection->log;

    if (alcf->max_duration) {
        ctx->deadline = ngx_current_msec + alcf->max_duration;
    }

    ngx_http_aigw_arm(ctx, alcf);
}


static void
ngx_http_aigw_arm(ngx_http_aigw_ctx_t *ctx, ngx_http_aigw_loc_conf_t *alcf)
{
    ngx_msec_t      t;
    ngx_msec_int_t  left;

    t = alcf->idle_timeout;

    if (ctx->deadline) {
        left = (ngx_msec_int_t) (ctx->deadline - ngx_current_msec);
        left = ngx_max(left, 1);

        if (t == 0 || (ngx_msec_t) left < t) {
            t = left;
        }
    }

    if (t) {
        ngx_add_timer(&ctx->timer, t);
    }
}


static void
ngx_http_aigw_watch(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    ngx_chain_t *in)
{
    off_t                      size;
    ngx_chain_t               *cl;
    ngx_http_aigw_loc_conf_t  *alcf;

    size = 0;

    for (cl = in; cl; cl = cl->next) {
        size += ngx_buf_size(cl->buf);
    }

    if (size == 0 || ctx->cut) {
        return;
    }

    alcf = ngx_http_aigw_conf(r, ctx);
    ctx->stream_bytes += size;

    if (alcf->max_stream_size && ctx->stream_bytes > alcf->max_stream_size) {

        /* cut on the next turn of the event loop, not from inside it */

        ctx->cut = "size";
        ngx_add_timer(&ctx->timer, 1);
        return;
    }

    ngx_http_aigw_arm(ctx, alcf);
}


static void
ngx_http_aigw_timer_handler(ngx_event_t *ev)
{
    ngx_connection_t     *c;
    ngx_http_request_t   *r;
    ngx_http_upstream_t  *u;
    ngx_http_aigw_ctx_t  *ctx;

    r = ev->data;
    ctx = ngx_http_aigw_get_ctx(r);
    u = r->upstream;

    if (ctx->cut == NULL) {
        if (!ctx->header_seen) {
            ctx->cut = "first_byte";

        } else if (ctx->deadline
                   && (ngx_msec_int_t) (ngx_current_msec - ctx->deadline)
                      >= 0)
        {
            ctx->cut = "duration";

        } else {
            ctx->cut = "idle";
        }
    }

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "aigw: the stream of channel \"%V\" is cut: %s limit",
                  ctx->channel ? &ctx->channel->name : &r->uri, ctx->cut);

    if (u == NULL || u->peer.connection == NULL) {
        return;
    }

    /* nginx's own upstream timeout path ends the request */

    c = u->peer.connection;
    c->read->timedout = 1;
    c->read->handler(c->read);
}


static void
ngx_http_aigw_upstream_finalize(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_chain_t          *cl;
    const char           *msg;
    ngx_http_aigw_ctx_t  *ctx;

    ctx = ngx_http_aigw_get_ctx(r);

    ctx->upstream_finalize(r, rc);
    ngx_http_aigw_stop_timer(ctx);

    if (rc == 0 || rc == NGX_DONE || rc == NGX_HTTP_CLIENT_CLOSED_REQUEST
        || !r->header_sent || r->connection->error || ctx->stream_end
        || ctx->end_sent)
    {
        return;
    }

    if (ctx->cut == NULL) {
        msg = "The upstream connection broke before the stream was "
              "complete.";

    } else if (ctx->cut[0] == 'i') {
        msg = "The upstream stream was idle for too long and was cut by "
              "the gateway (aigw_stream_idle_timeout).";

    } else if (ctx->cut[0] == 'd') {
        msg = "The stream reached its maximum duration and was cut by the "
              "gateway (aigw_stream_max_duration).";

    } else if (ctx->cut[0] == 's') {
        msg = "The stream reached its maximum size and was cut by the "
              "gateway (aigw_stream_max_size).";

    } else {
        msg = "The upstream did not answer in time.";
    }

    cl = ngx_http_aigw_stream_error_link(r, ctx, msg);
    if (cl == NULL) {
        return;
    }

    /* the response ends here, properly, even though nginx then closes */

    cl->buf->flush = 1;
    cl->buf->last_buf = 1;

    (void) ngx_http_next_body_filter(r, cl);
}


/* an error event in a buffer of its own, in the client's format */

static ngx_chain_t *
ngx_http_aigw_stream_error_link(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, const char *message)
{
    int           rc;
    u_char       *p;
    ngx_buf_t    *b;
    aigw_buf_t    json;
    ngx_uint_t    anthropic;
    ngx_chain_t  *cl;

    ctx->end_sent = 1;

    anthropic = (ctx->endpoint == NGX_HTTP_AIGW_MESSAGES);

    aigw_buf_init(&json, ngx_http_aigw_pool_alloc, r->pool, 0);

    if (anthropic) {
        rc = aigw_anthropic_in_error_json(&json, NGX_HTTP_BAD_GATEWAY,
                                          (u_char *) message,
                                          ngx_strlen(message));
    } else {
        rc = aigw_openai_error_json(&json, message, ngx_strlen(message),
                                    "api_error", "upstream_error");
    }

    if (rc != AIGW_ADAPTER_OK) {
        return NULL;
    }

    b = ngx_create_temp_buf(r->pool, json.len + sizeof("event: error\n")
                                     + sizeof("data: \n\n"));
    if (b == NULL) {
        return NULL;
    }

    p = b->last;

    if (anthropic) {
        p = ngx_cpymem(p, "event: error\n", sizeof("event: error\n") - 1);
    }

    p = ngx_cpymem(p, "data: ", sizeof("data: ") - 1);
    p = ngx_cpymem(p, json.data, json.len);
    b->last = ngx_cpymem(p, "\n\n", 2);

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    return cl;
}
