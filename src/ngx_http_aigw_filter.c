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
static ngx_int_t ngx_http_aigw_stream_filter(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, ngx_chain_t *in);
static ngx_int_t ngx_http_aigw_stream_rewrite(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, ngx_chain_t *in);
static int ngx_http_aigw_sse_event(void *data, aigw_sse_event_t *ev);
static ngx_int_t ngx_http_aigw_append(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, const u_char *p, size_t len);


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

    if (r->upstream == NULL || r->headers_out.status != NGX_HTTP_OK
        || r->header_only)
    {
        return ngx_http_next_header_filter(r);
    }

    if (r->headers_out.content_type.len >= sizeof("text/event-stream") - 1
        && ngx_strncasecmp(r->headers_out.content_type.data,
                           (u_char *) "text/event-stream",
                           sizeof("text/event-stream") - 1) == 0)
    {
        alcf = ngx_http_get_module_loc_conf(r, ngx_http_aigw_module);

        ctx->sse = ngx_palloc(r->pool, sizeof(aigw_sse_t));
        if (ctx->sse == NULL) {
            return NGX_ERROR;
        }

        aigw_sse_init(ctx->sse, alcf->max_event, ngx_http_aigw_pool_alloc,
                      r->pool, ngx_http_aigw_sse_event, r);

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

    b = ngx_create_temp_buf(r->pool, aigw_error_len(&e));
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->last = aigw_error_write(b->pos, &e);
    b->last_buf = 1;
    b->last_in_chain = 1;

    ctx->err_body = b;
    ctx->replace_body = 1;
    ctx->sse = NULL;
    ctx->capture = NULL;

    r->headers_out.content_length_n = b->last - b->pos;

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

    return ngx_http_next_header_filter(r);
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
                (void) aigw_usage_capture_result(ctx->capture, &ctx->usage);
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
    ngx_chain_t  *cl;

    if (ctx->drop_usage) {
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

    int                   usage_only, rc;
    aigw_usage_t          u;
    ngx_http_aigw_ctx_t  *ctx;

    ctx = ngx_http_aigw_get_ctx(r);
    usage_only = 0;

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
