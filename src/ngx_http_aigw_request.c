/*
 * aigw: the request path.
 *
 * In the precontent phase: classify the endpoint, authenticate the gateway
 * key (from the headers, before the body is read), read the body without
 * blocking, validate it in one scan, pick a channel, rewrite the body by span
 * copy, replace it, swap the client's credentials for the channel's, and
 * leave the upstream URL in variables for proxy_pass.
 */

#include "ngx_http_aigw_module.h"


typedef struct {
    ngx_str_t                   name;
    u_char                     *lowcase;   /* made with the hash */
    ngx_uint_t                  hash;      /* 0: not made yet */
} ngx_http_aigw_hname_t;


static ngx_uint_t ngx_http_aigw_endpoint(ngx_http_request_t *r);
static ngx_int_t ngx_http_aigw_auth(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, ngx_http_aigw_loc_conf_t *alcf);
static ngx_int_t ngx_http_aigw_strip_credentials(ngx_http_request_t *r,
    ngx_str_t *token);
static void ngx_http_aigw_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_aigw_process(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx);
static ngx_int_t ngx_http_aigw_from_anthropic(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, ngx_str_t *body);
static ngx_int_t ngx_http_aigw_adapt(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, aigw_json_member_t *m,
    const aigw_body_rewrite_t *rw);
static ngx_table_elt_t *ngx_http_aigw_add_header(ngx_http_request_t *r,
    ngx_http_aigw_hname_t *hn, ngx_str_t *value, ngx_str_t *prefix);
static ngx_int_t ngx_http_aigw_adapter_error(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, aigw_adapter_error_t *err);
static ngx_int_t ngx_http_aigw_read_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_aigw_check_fields(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, aigw_json_member_t *m, size_t n);
static ngx_int_t ngx_http_aigw_set_body(ngx_http_request_t *r, u_char *body,
    size_t len);
static ngx_int_t ngx_http_aigw_upstream(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, ngx_str_t *path);
static ngx_int_t ngx_http_aigw_passthrough_request(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, ngx_http_aigw_loc_conf_t *alcf);
static ngx_int_t ngx_http_aigw_models_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_aigw_count_tokens_handler(ngx_http_request_t *r);


/* the OpenAI calls each provider's adapter can make */
static ngx_uint_t  ngx_http_aigw_provider_apis[] = {
    NGX_HTTP_AIGW_CHAT|NGX_HTTP_AIGW_COMPLETIONS|NGX_HTTP_AIGW_EMBEDDINGS,
    NGX_HTTP_AIGW_CHAT|NGX_HTTP_AIGW_COMPLETIONS|NGX_HTTP_AIGW_EMBEDDINGS,
    NGX_HTTP_AIGW_CHAT,
    NGX_HTTP_AIGW_CHAT|NGX_HTTP_AIGW_EMBEDDINGS
};


static ngx_str_t  ngx_http_aigw_anthropic_version =
    ngx_string(AIGW_ANTHROPIC_VERSION);


static const char  *ngx_http_aigw_type_names[] = {
    "nothing", "an object", "an array", "a string", "a number", "a boolean",
    "a boolean", "null"
};


#define ngx_http_aigw_param(p)  (&(ngx_str_t) ngx_string(p))


/* a header the gateway adds: its lower case and hash made once */

#define ngx_http_aigw_hname(name, lc)                                        \
    { ngx_string(name), lc, 0 }

static u_char  ngx_http_aigw_lc_authorization[sizeof("authorization") - 1];
static u_char  ngx_http_aigw_lc_api_key[sizeof("api-key") - 1];
static u_char  ngx_http_aigw_lc_x_api_key[sizeof("x-api-key") - 1];
static u_char  ngx_http_aigw_lc_goog_key[sizeof("x-goog-api-key") - 1];
static u_char  ngx_http_aigw_lc_anthropic[sizeof("anthropic-version") - 1];

static ngx_http_aigw_hname_t  ngx_http_aigw_h_authorization =
    ngx_http_aigw_hname("Authorization", ngx_http_aigw_lc_authorization);
static ngx_http_aigw_hname_t  ngx_http_aigw_h_api_key =
    ngx_http_aigw_hname("api-key", ngx_http_aigw_lc_api_key);
static ngx_http_aigw_hname_t  ngx_http_aigw_h_x_api_key =
    ngx_http_aigw_hname("x-api-key", ngx_http_aigw_lc_x_api_key);
static ngx_http_aigw_hname_t  ngx_http_aigw_h_goog_key =
    ngx_http_aigw_hname("x-goog-api-key", ngx_http_aigw_lc_goog_key);
static ngx_http_aigw_hname_t  ngx_http_aigw_h_anthropic =
    ngx_http_aigw_hname("anthropic-version", ngx_http_aigw_lc_anthropic);

static ngx_str_t  ngx_http_aigw_bearer = ngx_string("Bearer ");


ngx_int_t
ngx_http_aigw_handler(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_table_elt_t            *h;
    ngx_http_aigw_ctx_t        *ctx;
    ngx_http_aigw_loc_conf_t   *alcf;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_aigw_module);

    if (alcf->stage && r == r->main) {
        return ngx_http_aigw_failover_stage(r, alcf);
    }

    if (!alcf->enable || r != r->main) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_aigw_get_ctx(r);

    if (ctx) {
        if (ctx->waiting) {
            return NGX_DONE;
        }

        if (ctx->key_resume) {
            /* the key store answered: authenticate again, then go on */
            ctx->key_resume = 0;

            if (ctx->endpoint == NGX_HTTP_AIGW_PASSTHROUGH) {
                return ngx_http_aigw_passthrough_request(r, ctx, alcf);
            }

            goto auth;
        }

        if (ctx->goto_try && ctx->rc == NGX_DECLINED) {
            ctx->goto_try = 0;
            return ngx_http_aigw_goto_try(r);
        }

        return ctx->rc;
    }

    ctx = ngx_http_aigw_create_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->endpoint = ngx_http_aigw_endpoint(r);

    /* Anthropic-format requests go through the chat path, translated */
    ctx->api = ngx_http_aigw_anthropic_client(ctx) ? NGX_HTTP_AIGW_CHAT
                                                   : ctx->endpoint;

    if (ctx->endpoint == 0 && alcf->passthrough) {
        return ngx_http_aigw_passthrough_request(r, ctx, alcf);
    }

    if (ctx->endpoint == 0
        || !((ctx->endpoint == NGX_HTTP_AIGW_COUNT_TOKENS
              ? NGX_HTTP_AIGW_MESSAGES : ctx->endpoint) & alcf->endpoints))
    {
        ctx->endpoint = 0;
        ctx->api = 0;
        return ngx_http_aigw_error(r, ctx, NGX_HTTP_NOT_FOUND,
                                   "invalid_request_error", "unknown_url",
                                   NULL, "Unknown request URL: %V %V.",
                                   &r->method_name, &r->uri);
    }

    if ((ctx->endpoint == NGX_HTTP_AIGW_MODELS
         && !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)))
        || (ctx->endpoint != NGX_HTTP_AIGW_MODELS
            && r->method != NGX_HTTP_POST))
    {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");

        if (ctx->endpoint == NGX_HTTP_AIGW_MODELS) {
            ngx_str_set(&h->value, "GET, HEAD");

        } else {
            ngx_str_set(&h->value, "POST");
        }

        return ngx_http_aigw_error(r, ctx, NGX_HTTP_NOT_ALLOWED,
                                   "invalid_request_error",
                                   "method_not_allowed", NULL,
                                   "Method %V is not allowed for %V; "
                                   "use %V.", &r->method_name, &r->uri,
                                   &h->value);
    }

auth:

    rc = ngx_http_aigw_auth(r, ctx, alcf);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ctx->endpoint == NGX_HTTP_AIGW_MODELS) {
        r->content_handler = ngx_http_aigw_models_handler;
        return NGX_DECLINED;
    }

    ctx->waiting = 1;

    rc = ngx_http_read_client_request_body(r, ngx_http_aigw_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        ctx->waiting = 0;
        ctx->rc = rc;
        return rc;
    }

    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


static ngx_uint_t
ngx_http_aigw_endpoint(ngx_http_request_t *r)
{
    ngx_str_t  *uri;

    uri = &r->uri;

#define ngx_http_aigw_ends_with(s)                                            \
    (uri->len >= sizeof(s) - 1                                                \
     && ngx_strncmp(uri->data + uri->len - (sizeof(s) - 1), s,                \
                    sizeof(s) - 1) == 0)

    if (ngx_http_aigw_ends_with("/messages")) {
        return NGX_HTTP_AIGW_MESSAGES;
    }

    if (ngx_http_aigw_ends_with("/messages/count_tokens")) {
        return NGX_HTTP_AIGW_COUNT_TOKENS;
    }

    if (ngx_http_aigw_ends_with("/chat/completions")) {
        return NGX_HTTP_AIGW_CHAT;
    }

    if (ngx_http_aigw_ends_with("/completions")) {
        return NGX_HTTP_AIGW_COMPLETIONS;
    }

    if (ngx_http_aigw_ends_with("/embeddings")) {
        return NGX_HTTP_AIGW_EMBEDDINGS;
    }

    if (ngx_http_aigw_ends_with("/models")) {
        return NGX_HTTP_AIGW_MODELS;
    }

#undef ngx_http_aigw_ends_with

    return 0;
}


/*
 * The key comes from "Authorization: Bearer", "x-api-key" or "api-key", in
 * that order.  Only its SHA-256 is looked up; the key itself is never logged.
 */

static ngx_int_t
ngx_http_aigw_auth(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    ngx_http_aigw_loc_conf_t *alcf)
{
    u_char                     *p;
    int                         family;
    u_char                      hash[AIGW_SHA256_LEN];
    ngx_int_t                   rc;
    ngx_str_t                   token;
    const u_char               *addr;
    const aigw_key_t           *key;
    struct sockaddr_in         *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6        *sin6;
#endif
    ngx_http_aigw_main_conf_t  *amcf;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_aigw_module);

    if (ctx->key_wait) {
        /* the key store answered; the credentials are already stripped */
        key = NULL;
        goto store;
    }

    if (ngx_http_aigw_strip_credentials(r, &token) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (token.len) {
        aigw_sha256(token.data, token.len, hash);

        ctx->key_id[0] = 'k';
        ctx->key_id[1] = '_';
        aigw_hex_encode(ctx->key_id + 2, hash, 8);
    }

    if (!alcf->auth) {
        return NGX_OK;
    }

    if (token.len == 0) {
        return ngx_http_aigw_error(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                   "invalid_request_error",
                                   "missing_api_key", NULL,
                                   "You didn't provide an API key. Send it "
                                   "in the Authorization header as "
                                   "'Bearer sk-...', or in the x-api-key "
                                   "header.");
    }

    key = amcf->keyset ? aigw_keys_find(amcf->keyset, hash) : NULL;

    if (key == NULL && amcf->keystore) {

        /* a run-time key: cached, or asked of the store without blocking */

    store:

        rc = ngx_http_aigw_keystore_find(r, ctx, hash, &key);

        if (rc == NGX_AGAIN) {
            ctx->waiting = 1;
            return NGX_DONE;
        }

        if (rc != NGX_OK) {
            return ngx_http_aigw_error(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "api_error", "store_unavailable",
                                       NULL, "The gateway cannot check this "
                                       "API key right now; try again "
                                       "later.");
        }
    }

    if (key == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "aigw: unknown API key %s", ctx->key_id);

        return ngx_http_aigw_error(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                   "invalid_request_error",
                                   "invalid_api_key", NULL,
                                   "Incorrect API key provided.");
    }

    ctx->key = key;

    if (!key->enabled) {
        return ngx_http_aigw_error(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                   "invalid_request_error",
                                   "api_key_disabled", NULL,
                                   "This API key is disabled.");
    }

    if (key->expires && ngx_time() >= key->expires) {
        return ngx_http_aigw_error(r, ctx, NGX_HTTP_UNAUTHORIZED,
                                   "invalid_request_error",
                                   "api_key_expired", NULL,
                                   "This API key has expired.");
    }

    if (key->nips) {
        family = r->connection->sockaddr->sa_family;
        addr = NULL;

        switch (family) {

        case AF_INET:
            sin = (struct sockaddr_in *) r->connection->sockaddr;
            addr = (const u_char *) &sin->sin_addr;
            break;

#if (NGX_HAVE_INET6)
        case AF_INET6:
            sin6 = (struct sockaddr_in6 *) r->connection->sockaddr;
            addr = sin6->sin6_addr.s6_addr;
            break;
#endif
        }

        if (addr == NULL || !aigw_key_ip_allowed(key, family, addr)) {
            p = ngx_pnalloc(r->pool, NGX_SOCKADDR_STRLEN);
            token.len = 0;

            if (p) {
                token.data = p;
                token.len = ngx_sock_ntop(r->connection->sockaddr,
                                          r->connection->socklen, p,
                                          NGX_SOCKADDR_STRLEN, 0);
            }

            return ngx_http_aigw_error(r, ctx, NGX_HTTP_FORBIDDEN,
                                       "permission_error", "ip_not_allowed",
                                       NULL, "This API key may not be used "
                                       "from %V.", &token);
        }
    }

    return NGX_OK;
}


/*
 * Finds the client's key and rebuilds the header list without any
 * credential header, so that no gateway key can reach an upstream.
 */

static ngx_int_t
ngx_http_aigw_strip_credentials(ngx_http_request_t *r, ngx_str_t *token)
{
    u_char           *p;
    ngx_str_t         x_api_key, api_key;
    ngx_uint_t        i, found, kept;
    ngx_list_t        headers;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *nh;

    ngx_str_null(token);
    ngx_str_null(&x_api_key);
    ngx_str_null(&api_key);

    found = 0;
    kept = 0;
    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == 13
            && ngx_strncmp(h[i].lowcase_key, "authorization", 13) == 0)
        {
            p = h[i].value.data;

            if (h[i].value.len > 7
                && ngx_strncasecmp(p, (u_char *) "bearer ", 7) == 0
                && token->len == 0)
            {
                token->data = p + 7;
                token->len = h[i].value.len - 7;

                while (token->len && *token->data == ' ') {
                    token->data++;
                    token->len--;
                }
            }

            found = 1;
            continue;
        }

        if (h[i].key.len == 9
            && ngx_strncmp(h[i].lowcase_key, "x-api-key", 9) == 0)
        {
            if (x_api_key.len == 0) {
                x_api_key = h[i].value;
            }

            found = 1;
            continue;
        }

        if (h[i].key.len == 7
            && ngx_strncmp(h[i].lowcase_key, "api-key", 7) == 0)
        {
            if (api_key.len == 0) {
                api_key = h[i].value;
            }

            found = 1;
            continue;
        }

        kept++;
    }

    if (token->len == 0) {
        *token = x_api_key.len ? x_api_key : api_key;
    }

    if (!found) {
        return NGX_OK;
    }

    /* room for the channel's credential and a few extra headers */

    if (ngx_list_init(&headers, r->pool, kept + 4, sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if ((h[i].key.len == 13
             && ngx_strncmp(h[i].lowcase_key, "authorization", 13) == 0)
            || (h[i].key.len == 9
                && ngx_strncmp(h[i].lowcase_key, "x-api-key", 9) == 0)
            || (h[i].key.len == 7
                && ngx_strncmp(h[i].lowcase_key, "api-key", 7) == 0))
        {
            continue;
        }

        nh = ngx_list_push(&headers);
        if (nh == NULL) {
            return NGX_ERROR;
        }

        *nh = h[i];
    }

    r->headers_in.headers = headers;

    /* the copied list must not point back into this stack frame */

    if (headers.last == &headers.part) {
        r->headers_in.headers.last = &r->headers_in.headers.part;
    }
    r->headers_in.authorization = NULL;

    return NGX_OK;
}


static void
ngx_http_aigw_body_handler(ngx_http_request_t *r)
{
    ngx_http_aigw_ctx_t  *ctx;

    ctx = ngx_http_aigw_get_ctx(r);

    ctx->waiting = 0;
    ctx->rc = ngx_http_aigw_process(r, ctx);

    r->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(r);
}


static ngx_int_t
ngx_http_aigw_process(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx)
{
    size_t                     n, i;
    ssize_t                    len;
    ngx_int_t                  rc;
    ngx_str_t                  body;
    ngx_uint_t                 all_open;
    aigw_json_member_t        *model;
    ngx_http_aigw_route_t     *route;
    ngx_http_aigw_target_t    *target;
    ngx_http_aigw_loc_conf_t  *alcf;

    /* on the stack: a pool block this size would be a malloc per request */
    aigw_json_member_t         m[NGX_HTTP_AIGW_MAX_MEMBERS];

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_aigw_module);

    rc = ngx_http_aigw_read_body(r, &body);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_aigw_scan(r, ctx, &body, m, &n);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ctx->endpoint == NGX_HTTP_AIGW_COUNT_TOKENS) {

        /*
         * Claude Code asks for the size of a conversation: the gateway's
         * own estimate answers, no channel is involved
         */

        ctx->prompt_estimate = aigw_tokens_estimate_members(body.data,
                                                            body.len, m, n,
                                                            AIGW_TOKENS_CHAT);
        r->content_handler = ngx_http_aigw_count_tokens_handler;

        return NGX_DECLINED;
    }

    if (ctx->endpoint == NGX_HTTP_AIGW_MESSAGES) {
        rc = ngx_http_aigw_from_anthropic(r, ctx, &body);
        if (rc != NGX_OK) {
            return rc;
        }

        rc = ngx_http_aigw_scan(r, ctx, &body, m, &n);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    model = aigw_json_find(m, n, "model", 5);

    if (model == NULL) {
        return ngx_http_aigw_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request_error",
                                   "missing_required_parameter",
                                   ngx_http_aigw_param("model"),
                                   "You must provide a model parameter.");
    }

    if (model->type != AIGW_JSON_STRING) {
        return ngx_http_aigw_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request_error", "invalid_type",
                                   ngx_http_aigw_param("model"),
                                   "Invalid type for 'model': expected a "
                                   "string, but got %s.",
                                   ngx_http_aigw_type_names[model->type]);
    }

    ctx->model.data = ngx_pnalloc(r->pool, model->value_len);
    if (ctx->model.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = aigw_json_unescape(model->value + 1, model->value_len - 2,
                             ctx->model.data);

    if (len <= 0 || len > NGX_HTTP_AIGW_MAX_MODEL) {
        ngx_str_null(&ctx->model);

        return ngx_http_aigw_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request_error", "invalid_value",
                                   ngx_http_aigw_param("model"),
                                   "Invalid 'model': it must be 1 to %d "
                                   "characters long.",
                                   NGX_HTTP_AIGW_MAX_MODEL);
    }

    ctx->model.len = len;

    for (i = 0; i < ctx->model.len; i++) {
        if (ctx->model.data[i] <= 0x20 || ctx->model.data[i] >= 0x7f) {
            /* the name goes to logs, headers and URLs: never keep it */
            ngx_str_null(&ctx->model);

            return ngx_http_aigw_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid_request_error",
                                       "invalid_value",
                                       ngx_http_aigw_param("model"),
                                       "Invalid 'model': only printable "
                                       "ASCII characters without spaces are "
                                       "allowed.");
        }
    }

    /* also sets ctx->max_tokens, for the token reservation */

    rc = ngx_http_aigw_check_fields(r, ctx, m, n);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ctx->key
        && !aigw_key_model_allowed(ctx->key, ctx->model.data, ctx->model.len))
    {
        return ngx_http_aigw_error(r, ctx, NGX_HTTP_FORBIDDEN,
                                   "permission_error", "model_not_allowed",
                                   ngx_http_aigw_param("model"),
                                   "This API key is not allowed to use the "
                                   "model '%V'.", &ctx->model);
    }

    route = ngx_http_aigw_find_route(alcf->routes, ctx->model.data,
                                     ctx->model.len);
    if (route == NULL) {
        return ngx_http_aigw_error(r, ctx, NGX_HTTP_NOT_FOUND,
                                   "invalid_request_error",
                                   "model_not_found",
                                   ngx_http_aigw_param("model"),
                                   "The model '%V' does not exist or is not "
                                   "served here.", &ctx->model);
    }

    target = ngx_http_aigw_select(route, NULL, 0, &all_open);
    if (target == NULL) {
        if (all_open) {
            return ngx_http_aigw_error(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "api_error", "channels_unavailable",
                                       NULL, "Every channel of the model "
                                       "'%V' is failing; try again later.",
                                       &ctx->model);
        }

        return ngx_http_aigw_error(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   "api_error", "no_channel_available", NULL,
                                   "No channel is available for the model "
                                   "'%V'.", &ctx->model);
    }

    ctx->alcf = alcf;
    ctx->route = route;
    ctx->oai_body = body;
    ctx->tried[0] = target->channel;
    ctx->ntried = 1;

    rc = ngx_http_aigw_prepare(r, ctx, target, m, n);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_aigw_limits_admit(r, ctx, &body, m, n);

    if (rc == NGX_AGAIN) {
        /* the store answers later and resumes the phases */
        return NGX_DONE;
    }

    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (ngx_http_aigw_finish(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


/*
 * The request for one channel: the model renamed, the location's rules,
 * and the provider's own body.  Run again for each failover attempt.
 */

ngx_int_t
ngx_http_aigw_prepare(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    ngx_http_aigw_target_t *target, aigw_json_member_t *m, size_t n)
{
    ngx_int_t            rc;
    ngx_str_t            dup;
    aigw_body_result_t   res;
    aigw_body_rewrite_t  rw;

    ctx->channel = target->channel;
    ctx->upstream_model = target->model.len ? target->model : ctx->model;

    if (!(ngx_http_aigw_provider_apis[ctx->channel->provider] & ctx->api)) {
        return ngx_http_aigw_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request_error",
                                   "unsupported_endpoint", NULL,
                                   "The model '%V' is served by a %V "
                                   "channel, which does not offer %V.",
                                   &ctx->model,
                                   &ngx_http_aigw_providers[
                                       ctx->channel->provider],
                                   &r->uri);
    }

    rw.model = ctx->upstream_model.data;
    rw.model_len = ctx->upstream_model.len;
    rw.rules = ctx->alcf->rules ? ctx->alcf->rules->elts : NULL;
    rw.nrules = ctx->alcf->rules ? ctx->alcf->rules->nelts : 0;

    /*
     * translated streams always carry usage; asking for it here tells
     * whether the client did (adapters drop stream_options)
     */
    rw.include_usage = ctx->api != NGX_HTTP_AIGW_EMBEDDINGS
                       && (ctx->alcf->include_usage
                           || (target->channel->provider
                               != NGX_HTTP_AIGW_OPENAI
                               && target->channel->provider
                                  != NGX_HTTP_AIGW_AZURE));

    switch (aigw_body_build(ctx->oai_body.data, ctx->oai_body.len, m, n,
                            &rw, ngx_http_aigw_pool_alloc, r->pool, &res))
    {
    case 0:
        break;

    case -1:
        dup.data = (u_char *) res.param;
        dup.len = res.param_len;

        return ngx_http_aigw_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request_error", "invalid_type",
                                   &dup, "Invalid type for '%V': %s.", &dup,
                                   res.error);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->stream = res.stream;
    ctx->client_usage = res.client_usage;
    ctx->drop_usage = res.stream && !res.client_usage;
    ctx->body.data = res.body;
    ctx->body.len = res.len;

    if (ctx->channel->provider != NGX_HTTP_AIGW_OPENAI) {
        rc = ngx_http_aigw_adapt(r, ctx, m, &rw);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return NGX_OK;
}


/* Validates the body and records its top-level members. */

ngx_int_t
ngx_http_aigw_scan(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    ngx_str_t *body, aigw_json_member_t *m, size_t *n)
{
    ssize_t            len;
    ngx_str_t          dup;
    aigw_json_error_t  err;

    switch (aigw_json_parse_object(body->data, body->len, m,
                                   NGX_HTTP_AIGW_MAX_MEMBERS, n,
                                   NGX_HTTP_AIGW_MAX_DEPTH, &err))
    {
    case AIGW_JSON_OK:
        break;

    case AIGW_JSON_DUPLICATE:

        /* name the key as the client meant it: "mod\u0065l" is "model" */

        dup.data = ngx_pnalloc(r->pool, err.key_len + 1);
        if (dup.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        len = aigw_json_unescape((u_char *) err.key, err.key_len, dup.data);
        dup.len = (len < 0) ? 0 : (size_t) len;

        return ngx_http_aigw_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request_error", "duplicate_key",
                                   &dup, "The request body has the key "
                                   "'%V' more than once.", &dup);

    case AIGW_JSON_NOT_OBJECT:
        return ngx_http_aigw_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request_error", "invalid_json",
                                   NULL, "The request body must be a JSON "
                                   "object.");

    case AIGW_JSON_TOO_DEEP:
        return ngx_http_aigw_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request_error", "invalid_json",
                                   NULL, "The request body is nested too "
                                   "deeply (the limit is %d levels).",
                                   NGX_HTTP_AIGW_MAX_DEPTH);

    case AIGW_JSON_TOO_MANY:
        return ngx_http_aigw_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request_error", "invalid_json",
                                   NULL, "The request body has too many "
                                   "top-level fields (the limit is %d).",
                                   NGX_HTTP_AIGW_MAX_MEMBERS);

    default:
        return ngx_http_aigw_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request_error", "invalid_json",
                                   NULL, "We could not parse the JSON body "
                                   "of your request: %s at byte %uz.",
                                   err.msg, err.offset);
    }

    return NGX_OK;
}


/*
 * An Anthropic-format request becomes an OpenAI chat body; the original is
 * kept for channels that speak Anthropic themselves.
 */

static ngx_int_t
ngx_http_aigw_from_anthropic(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    ngx_str_t *body)
{
    int                    stream;
    aigw_buf_t             out;
    aigw_adapter_error_t   err;

    ctx->client_body = *body;

    aigw_buf_init(&out, ngx_http_aigw_pool_alloc, r->pool, 0);

    switch (aigw_anthropic_in_request(body->data, body->len, &out, &stream,
                                      &err))
    {
    case AIGW_ADAPTER_OK:
        break;

    case AIGW_ADAPTER_INVALID:
        return ngx_http_aigw_adapter_error(r, ctx, &err);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body->data = out.data;
    body->len = out.len;

    return NGX_OK;
}


/*
 * The channel's provider is not OpenAI: check what goes into its URL and
 * translate the OpenAI body into the provider's.  An Anthropic-format
 * request to an Anthropic channel keeps its own body: only the model and
 * the location's rules change.
 */

static ngx_int_t
ngx_http_aigw_adapt(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    aigw_json_member_t *m, const aigw_body_rewrite_t *rw)
{
    int                        rc, stream, base64;
    size_t                     n;
    ngx_str_t                  param, *name;
    aigw_buf_t                 out;
    aigw_body_result_t         res;
    aigw_adapter_req_t         req;
    aigw_body_rewrite_t        prw;
    aigw_adapter_error_t       err;
    ngx_http_aigw_channel_t   *ch;
    ngx_http_aigw_loc_conf_t  *alcf;

    ch = ctx->channel;

    if (ch->provider == NGX_HTTP_AIGW_AZURE) {
        if (ngx_http_aigw_azure_v1(ch)) {
            return NGX_OK;
        }

        name = ch->deployment.len ? &ch->deployment : &ctx->upstream_model;
        goto segment;
    }

    ctx->drop_usage = 0;

    if (ch->provider == NGX_HTTP_AIGW_GEMINI) {
        name = &ctx->upstream_model;

        if (!aigw_path_segment_valid(name->data, name->len)) {
            goto invalid_name;
        }
    }

    if (ch->provider == NGX_HTTP_AIGW_ANTHROPIC
        && ctx->endpoint == NGX_HTTP_AIGW_MESSAGES)
    {
        rc = ngx_http_aigw_scan(r, ctx, &ctx->client_body, m, &n);
        if (rc != NGX_OK) {
            return rc;
        }

        prw = *rw;
        prw.include_usage = 0;

        switch (aigw_body_build(ctx->client_body.data, ctx->client_body.len,
                                m, n, &prw, ngx_http_aigw_pool_alloc,
                                r->pool, &res))
        {
        case 0:
            break;

        case -1:
            param.data = (u_char *) res.param;
            param.len = res.param_len;

            return ngx_http_aigw_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid_request_error",
                                       "invalid_type", &param,
                                       "Invalid type for '%V': %s.", &param,
                                       res.error);

        default:
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ctx->native = 1;
        ctx->body.data = res.body;
        ctx->body.len = res.len;

        return NGX_OK;
    }

    alcf = ctx->alcf;

    req.model = ctx->upstream_model.data;
    req.model_len = ctx->upstream_model.len;
    req.default_max_tokens = alcf->default_max_tokens;

    aigw_buf_init(&out, ngx_http_aigw_pool_alloc, r->pool, 0);

    if (ch->provider == NGX_HTTP_AIGW_ANTHROPIC) {
        rc = aigw_anthropic_request(ctx->body.data, ctx->body.len, &req, &out,
                                    &stream, &err);

    } else if (ctx->api == NGX_HTTP_AIGW_EMBEDDINGS) {

        /* Gemini counts no tokens for embeddings: the estimate stands in */
        ctx->prompt_estimate = aigw_tokens_estimate(ctx->body.data,
                                                    ctx->body.len,
                                                    AIGW_TOKENS_EMBEDDINGS);

        rc = aigw_gemini_embed_request(ctx->body.data, ctx->body.len, &req,
                                       &out, &base64, &err);
        ctx->base64 = base64;

    } else {
        rc = aigw_gemini_request(ctx->body.data, ctx->body.len, &req, &out,
                                 &stream, &err);
    }

    switch (rc) {

    case AIGW_ADAPTER_OK:
        ctx->body.data = out.data;
        ctx->body.len = out.len;
        ctx->adapted = 1;
        return NGX_OK;

    case AIGW_ADAPTER_INVALID:
        return ngx_http_aigw_adapter_error(r, ctx, &err);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

segment:

    if (aigw_path_segment_valid(name->data, name->len)) {
        return NGX_OK;
    }

invalid_name:

    return ngx_http_aigw_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                               "invalid_request_error", "invalid_value",
                               ngx_http_aigw_param("model"),
                               "The model '%V' cannot name a %V model in a "
                               "URL: use letters, digits, '.', '_' and '-'.",
                               name, &ngx_http_aigw_providers[ch->provider]);
}


/* A request an adapter cannot translate: the client's 400. */

static ngx_int_t
ngx_http_aigw_adapter_error(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    aigw_adapter_error_t *err)
{
    ngx_str_t  param;

    param.data = (u_char *) err->param;
    param.len = ngx_strlen(err->param);

    return ngx_http_aigw_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                               "invalid_request_error", "invalid_value",
                               param.len ? &param : NULL, "%s",
                               err->message);
}

/* The request is admitted: the new body and the upstream's variables. */

ngx_int_t
ngx_http_aigw_finish(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx)
{
    if (ngx_http_aigw_set_body(r, ctx->body.data, ctx->body.len) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_aigw_upstream(r, ctx, NULL) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_aigw_first_byte_timer(r, ctx);

    /* with another channel to fail over to, the attempt goes @aigw_try */
    ctx->goto_try = ngx_http_aigw_failover_more(ctx);

    return NGX_OK;
}


/* The body in one piece: in memory, in several buffers or in a file. */

static ngx_int_t
ngx_http_aigw_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    size_t        len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    cl = r->request_body->bufs;

    if (cl->next == NULL && !cl->buf->in_file) {
        body->data = cl->buf->pos;
        body->len = cl->buf->last - cl->buf->pos;
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? (size_t) (b->file_last - b->file_pos)
                          : (size_t) (b->last - b->pos);
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body->data = p;
    body->len = len;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        /* a temp file of at most client_max_body_size bytes */

        n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                          b->file_pos);

        if (n != b->file_last - b->file_pos) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "aigw: could not read the request body from "
                          "\"%V\"", &b->file->name);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p += n;
    }

    return NGX_OK;
}


/*
 * The fields the endpoint needs, and the types of the ones we read; the
 * client's max_completion_tokens, or else max_tokens, goes to
 * ctx->max_tokens (-1: neither).
 */

static ngx_int_t
ngx_http_aigw_check_fields(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    aigw_json_member_t *m, size_t n)
{
    int64_t              v, max[2];
    ngx_str_t            name;
    ngx_uint_t           i;
    aigw_json_member_t  *f;

    static ngx_str_t     limits[] = {
        ngx_string("max_tokens"),
        ngx_string("max_completion_tokens"),
        ngx_string("n")
    };

    switch (ctx->api) {

    case NGX_HTTP_AIGW_CHAT:
        ngx_str_set(&name, "messages");
        f = aigw_json_find(m, n, "messages", 8);

        if (f && f->type == AIGW_JSON_ARRAY
            && aigw_json_array_empty(f->value, f->value_len))
        {
            return ngx_http_aigw_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid_request_error",
                                       "invalid_value", &name,
                                       "Invalid 'messages': it must not be "
                                       "empty.");
        }

        if (f && f->type != AIGW_JSON_ARRAY) {
            goto invalid_type;
        }

        break;

    case NGX_HTTP_AIGW_COMPLETIONS:
        ngx_str_set(&name, "prompt");
        f = aigw_json_find(m, n, "prompt", 6);

        if (f && f->type != AIGW_JSON_STRING && f->type != AIGW_JSON_ARRAY) {
            goto invalid_type;
        }

        break;

    default: /* NGX_HTTP_AIGW_EMBEDDINGS */
        ngx_str_set(&name, "input");
        f = aigw_json_find(m, n, "input", 5);

        if (f && f->type != AIGW_JSON_STRING && f->type != AIGW_JSON_ARRAY) {
            goto invalid_type;
        }

        break;
    }

    if (f == NULL) {
        return ngx_http_aigw_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                   "invalid_request_error",
                                   "missing_required_parameter", &name,
                                   "Missing required parameter: '%V'.",
                                   &name);
    }

    max[0] = -1;
    max[1] = -1;

    for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        f = aigw_json_find(m, n, (char *) limits[i].data, limits[i].len);

        if (f == NULL || f->type == AIGW_JSON_NULL) {
            continue;
        }

        if (f->type != AIGW_JSON_NUMBER
            || aigw_json_int(f->value, f->value_len, &v) != 0
            || v < 1 || v > 100000000)
        {
            return ngx_http_aigw_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                                       "invalid_request_error",
                                       "invalid_value", &limits[i],
                                       "Invalid '%V': expected a positive "
                                       "integer.", &limits[i]);
        }

        if (i < 2) {
            max[i] = v;
        }
    }

    ctx->max_tokens = (max[1] >= 0) ? max[1] : max[0];

    return NGX_OK;

invalid_type:

    return ngx_http_aigw_error(r, ctx, NGX_HTTP_BAD_REQUEST,
                               "invalid_request_error", "invalid_type",
                               &name, "Invalid type for '%V': got %s.",
                               &name, ngx_http_aigw_type_names[f->type]);
}


static ngx_int_t
ngx_http_aigw_set_body(ngx_http_request_t *r, u_char *body, size_t len)
{
    u_char                    *p;
    ngx_buf_t                 *b;
    ngx_chain_t               *cl;
    ngx_http_request_body_t   *rb;

    rb = r->request_body;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = body;
    b->last = body + len;
    b->start = body;
    b->end = body + len;
    b->memory = 1;
    b->last_buf = 1;
    b->tag = (ngx_buf_tag_t) &ngx_http_aigw_module;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    /* the temp file, if any, is closed by its pool cleanup */

    rb->bufs = cl;
    rb->buf = b;
    rb->temp_file = NULL;

    r->headers_in.content_length_n = len;

    if (r->headers_in.content_length) {
        p = ngx_pnalloc(r->pool, NGX_OFF_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        r->headers_in.content_length->value.data = p;
        r->headers_in.content_length->value.len = ngx_http_aigw_int(p, len)
                                                  - p;
    }

    return NGX_OK;
}


/* Upstream URL, Host, and the channel's credential and extra headers. */

static ngx_int_t
ngx_http_aigw_upstream(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    ngx_str_t *uri)
{
    u_char                   *p;
    size_t                    len;
    ngx_str_t                 path, suffix, *key, *model;
    ngx_uint_t                i, version;
    ngx_table_elt_t          *h, *eh;
    ngx_http_aigw_channel_t  *ch;

    ch = ctx->channel;

    ngx_str_null(&suffix);
    model = NULL;

    /*
     * the headers added for a channel go after the client's: a failover
     * attempt cuts the list back before adding its own
     */

    if (ctx->hpart == NULL) {
        ctx->hpart = r->headers_in.headers.last;
        ctx->hnelts = ctx->hpart->nelts;

    } else {
        ctx->hpart->nelts = ctx->hnelts;
        ctx->hpart->next = NULL;
        r->headers_in.headers.last = ctx->hpart;
    }

    switch (ctx->api) {
    case NGX_HTTP_AIGW_CHAT:
        ngx_str_set(&path, "/chat/completions");
        break;
    case NGX_HTTP_AIGW_COMPLETIONS:
        ngx_str_set(&path, "/completions");
        break;
    case NGX_HTTP_AIGW_EMBEDDINGS:
        ngx_str_set(&path, "/embeddings");
        break;
    default:
        path = *uri;
        break;
    }

    if (uri == NULL) {
        switch (ch->provider) {

        case NGX_HTTP_AIGW_AZURE:
            if (ngx_http_aigw_azure_v1(ch)) {
                ngx_str_set(&suffix, "/openai/v1");
                break;
            }

            /* "/openai/deployments/<name>" path "?api-version=" version */
            model = ch->deployment.len ? &ch->deployment
                                       : &ctx->upstream_model;
            ngx_str_set(&suffix, "/openai/deployments/");
            break;

        case NGX_HTTP_AIGW_ANTHROPIC:
            ngx_str_set(&path, "/messages");
            break;

        case NGX_HTTP_AIGW_GEMINI:
            model = &ctx->upstream_model;
            ngx_str_set(&suffix, "/models/");

            if (ctx->api == NGX_HTTP_AIGW_EMBEDDINGS) {
                ngx_str_set(&path, ":batchEmbedContents");

            } else if (ctx->stream) {
                ngx_str_set(&path, ":streamGenerateContent?alt=sse");

            } else {
                ngx_str_set(&path, ":generateContent");
            }

            break;
        }
    }

    /* model names were checked by aigw_path_segment_valid() */

    len = ch->url.len + ch->base_path.len + suffix.len + path.len
          + (model ? model->len : 0);

    version = (ch->provider == NGX_HTTP_AIGW_AZURE && model != NULL);

    if (version) {
        len += sizeof("?api-version=") - 1 + ch->api_version.len;
    }

    ctx->upstream_url.data = ngx_pnalloc(r->pool, len);
    if (ctx->upstream_url.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(ctx->upstream_url.data, ch->url.data, ch->url.len);
    p = ngx_cpymem(p, ch->base_path.data, ch->base_path.len);
    p = ngx_cpymem(p, suffix.data, suffix.len);

    if (model) {
        p = ngx_cpymem(p, model->data, model->len);
    }

    p = ngx_cpymem(p, path.data, path.len);

    if (version) {
        p = ngx_cpymem(p, "?api-version=", sizeof("?api-version=") - 1);
        p = ngx_cpymem(p, ch->api_version.data, ch->api_version.len);
    }

    ctx->upstream_url.len = p - ctx->upstream_url.data;
    ctx->upstream_host = ch->host;

    key = ngx_http_aigw_next_key(ch);

    if (key) {
        switch (ch->provider) {

        case NGX_HTTP_AIGW_AZURE:
            h = ngx_http_aigw_add_header(r, &ngx_http_aigw_h_api_key, key,
                                         NULL);
            break;

        case NGX_HTTP_AIGW_ANTHROPIC:
            h = ngx_http_aigw_add_header(r, &ngx_http_aigw_h_x_api_key, key,
                                         NULL);
            break;

        case NGX_HTTP_AIGW_GEMINI:
            h = ngx_http_aigw_add_header(r, &ngx_http_aigw_h_goog_key, key,
                                         NULL);
            break;

        default:
            h = ngx_http_aigw_add_header(r, &ngx_http_aigw_h_authorization,
                                         key, &ngx_http_aigw_bearer);
            break;
        }

        if (h == NULL) {
            return NGX_ERROR;
        }
    }

    eh = ch->headers->elts;

    for (i = 0; i < ch->headers->nelts; i++) {
        h = ngx_list_push(&r->headers_in.headers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = eh[i];
    }

    if (ch->provider == NGX_HTTP_AIGW_ANTHROPIC && uri == NULL
        && ngx_http_aigw_find_header(&r->headers_in.headers,
                                     "anthropic-version") == NULL)
    {
        h = ngx_http_aigw_add_header(r, &ngx_http_aigw_h_anthropic,
                                     &ngx_http_aigw_anthropic_version, NULL);
        if (h == NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * The names are static: their lower case and hash are made once per
 * process, not per request.  A value without a prefix is the channel's
 * own string, which lives as long as the configuration.
 */

static ngx_table_elt_t *
ngx_http_aigw_add_header(ngx_http_request_t *r, ngx_http_aigw_hname_t *hn,
    ngx_str_t *value, ngx_str_t *prefix)
{
    u_char           *p;
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NULL;
    }

    if (hn->hash == 0) {
        ngx_strlow(hn->lowcase, hn->name.data, hn->name.len);
        hn->hash = ngx_hash_key(hn->lowcase, hn->name.len);
    }

    h->key = hn->name;
    h->lowcase_key = hn->lowcase;
    h->hash = hn->hash;

    if (prefix == NULL) {
        h->value = *value;
        return h;
    }

    h->value.len = prefix->len + value->len;
    h->value.data = ngx_pnalloc(r->pool, h->value.len);
    if (h->value.data == NULL) {
        return NULL;
    }

    p = ngx_cpymem(h->value.data, prefix->data, prefix->len);
    ngx_memcpy(p, value->data, value->len);

    return h;
}


/* a header of a list, by name, case-insensitively; NULL: none */

ngx_table_elt_t *
ngx_http_aigw_find_header(ngx_list_t *headers, char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    len = ngx_strlen(name);
    part = &headers->part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash && h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


/*
 * Another call under the location (files, batches, moderations, audio...)
 * goes to the pass-through channel as it is: the body is not read here,
 * the URI after the location's prefix is appended to the channel's base
 * path, escaped again, with the arguments.  Only keys that may use every
 * model may pass through: a call such as a batch names models we do not
 * see.
 */

static ngx_int_t
ngx_http_aigw_passthrough_request(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, ngx_http_aigw_loc_conf_t *alcf)
{
    u_char                    *p;
    size_t                     len;
    ngx_int_t                  rc;
    ngx_str_t                  rest, path;
    ngx_uint_t                 escape;
    ngx_http_core_loc_conf_t  *clcf;

    ctx->endpoint = NGX_HTTP_AIGW_PASSTHROUGH;
    ctx->api = NGX_HTTP_AIGW_PASSTHROUGH;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->name.len == 0 || r->uri.len < clcf->name.len
        || ngx_strncmp(r->uri.data, clcf->name.data, clcf->name.len) != 0)
    {
        return ngx_http_aigw_error(r, ctx, NGX_HTTP_NOT_FOUND,
                                   "invalid_request_error", "unknown_url",
                                   NULL, "Unknown request URL: %V %V.",
                                   &r->method_name, &r->uri);
    }

    /* keep the '/' that ends a prefix such as "/v1/" */

    rest.data = r->uri.data + clcf->name.len;
    rest.len = r->uri.len - clcf->name.len;

    if (clcf->name.data[clcf->name.len - 1] == '/') {
        rest.data--;
        rest.len++;
    }

    rc = ngx_http_aigw_auth(r, ctx, alcf);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ctx->key && !ctx->key->all_models) {
        return ngx_http_aigw_error(r, ctx, NGX_HTTP_FORBIDDEN,
                                   "permission_error",
                                   "passthrough_not_allowed", NULL,
                                   "This API key may only use the model "
                                   "endpoints; %V is passed through for "
                                   "keys that may use every model.",
                                   &r->uri);
    }

    ctx->channel = alcf->passthrough;

    if (ctx->channel->disabled) {
        return ngx_http_aigw_error(r, ctx, NGX_HTTP_SERVICE_UNAVAILABLE,
                                   "api_error", "no_channel_available",
                                   NULL, "The pass-through channel is not "
                                   "available.");
    }

    escape = 2 * ngx_escape_uri(NULL, rest.data, rest.len, NGX_ESCAPE_URI);
    len = rest.len + escape + (r->args.len ? 1 + r->args.len : 0);

    path.data = ngx_pnalloc(r->pool, len);
    if (path.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (escape) {
        p = (u_char *) ngx_escape_uri(path.data, rest.data, rest.len,
                                      NGX_ESCAPE_URI);

    } else {
        p = ngx_cpymem(path.data, rest.data, rest.len);
    }

    if (r->args.len) {
        *p++ = '?';
        p = ngx_cpymem(p, r->args.data, r->args.len);
    }

    path.len = p - path.data;

    if (ngx_http_aigw_upstream(r, ctx, &path) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


/*
 * GET /v1/models: the exact model names of the location that the key may
 * use, and the key's own exact names that a pattern of the location serves.
 */

static ngx_int_t
ngx_http_aigw_models_handler(ngx_http_request_t *r)
{
    u_char                     *p;
    size_t                      len, chlen;
    ngx_int_t                   rc;
    ngx_buf_t                  *b;
    ngx_uint_t                  i, j, k, first;
    const aigw_key_t           *key;
    ngx_http_aigw_ctx_t        *ctx;
    ngx_http_aigw_route_t      *route;
    ngx_http_aigw_target_t     *t;
    ngx_http_aigw_loc_conf_t   *alcf;
    ngx_http_aigw_main_conf_t  *amcf;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx = ngx_http_aigw_get_ctx(r);
    alcf = ngx_http_get_module_loc_conf(r, ngx_http_aigw_module);
    amcf = ngx_http_get_module_main_conf(r, ngx_http_aigw_module);

    key = ctx ? ctx->key : NULL;
    route = alcf->routes ? alcf->routes->elts : NULL;

#define NGX_HTTP_AIGW_MODEL_ENTRY                                             \
    "{\"id\":\"\",\"object\":\"model\",\"created\":,\"owned_by\":\"\"},"

    len = sizeof("{\"object\":\"list\",\"data\":[]}\n");

    /* names are escaped; a key's name is listed once, for one pattern */

    chlen = 0;

    for (i = 0; route && i < alcf->routes->nelts; i++) {
        t = route[i].targets.elts;
        len += sizeof(NGX_HTTP_AIGW_MODEL_ENTRY) + NGX_TIME_T_LEN
               + aigw_json_escape_len(route[i].name.data, route[i].name.len)
               + t[0].channel->name.len;
        chlen = ngx_max(chlen, t[0].channel->name.len);
    }

    if (key) {
        for (k = 0; k < key->nmodels; k++) {
            len += sizeof(NGX_HTTP_AIGW_MODEL_ENTRY) + NGX_TIME_T_LEN
                   + aigw_json_escape_len(key->models[k].name,
                                          key->models[k].len)
                   + chlen;
        }
    }

    b = ngx_create_temp_buf(r->pool, len);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(b->last, "{\"object\":\"list\",\"data\":[",
                   sizeof("{\"object\":\"list\",\"data\":[") - 1);
    first = 1;

    for (i = 0; route && i < alcf->routes->nelts; i++) {
        t = route[i].targets.elts;

        if (!route[i].prefix) {
            if (key && !aigw_key_model_allowed(key, route[i].name.data,
                                               route[i].name.len))
            {
                continue;
            }

            p = ngx_sprintf(p, "%s{\"id\":\"", first ? "" : ",");
            p = (u_char *) aigw_json_escape(p, route[i].name.data,
                                            route[i].name.len);
            p = ngx_sprintf(p, "\",\"object\":\"model\",\"created\":%T,"
                            "\"owned_by\":\"%V\"}", amcf->loaded,
                            &t[0].channel->name);
            first = 0;
            continue;
        }

        /* a pattern lists the key's exact names that it serves */

        for (k = 0; key && k < key->nmodels; k++) {
            if (key->models[k].prefix
                || key->models[k].len < route[i].name.len
                || ngx_memcmp(key->models[k].name, route[i].name.data,
                              route[i].name.len) != 0
                || ngx_http_aigw_find_route(alcf->routes,
                                            key->models[k].name,
                                            key->models[k].len)
                   != &route[i])
            {
                continue;
            }

            for (j = 0; j < k; j++) {
                if (key->models[j].len == key->models[k].len
                    && ngx_memcmp(key->models[j].name, key->models[k].name,
                                  key->models[k].len) == 0)
                {
                    break;
                }
            }

            if (j < k) {
                continue;
            }

            p = ngx_sprintf(p, "%s{\"id\":\"", first ? "" : ",");
            p = (u_char *) aigw_json_escape(p, key->models[k].name,
                                            key->models[k].len);
            p = ngx_sprintf(p, "\",\"object\":\"model\",\"created\":%T,"
                            "\"owned_by\":\"%V\"}", amcf->loaded,
                            &t[0].channel->name);
            first = 0;
        }
    }

    p = ngx_cpymem(p, "]}\n", 3);
    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    return ngx_http_aigw_send_json(r, NGX_HTTP_OK, b);
}


ngx_int_t
ngx_http_aigw_error(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    ngx_uint_t status, const char *type, const char *code, ngx_str_t *param,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;
    u_char    buf[1024];

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    ctx->err_message.len = p - buf;
    ctx->err_message.data = ngx_pnalloc(r->pool, ctx->err_message.len);
    if (ctx->err_message.data == NULL) {
        ctx->err_message.len = 0;
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(ctx->err_message.data, buf, ctx->err_message.len);

    ctx->err_status = status;
    ctx->err_type = type;
    ctx->err_code = code;

    if (param && param->len) {

        /* the name may live on the caller's stack (an adapter's error) */

        ctx->err_param.data = ngx_pnalloc(r->pool, param->len);
        if (ctx->err_param.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(ctx->err_param.data, param->data, param->len);
        ctx->err_param.len = param->len;
    }

    ctx->rc = status;

    return status;
}


/* POST .../messages/count_tokens: {"input_tokens":N}, an estimate */

static ngx_int_t
ngx_http_aigw_count_tokens_handler(ngx_http_request_t *r)
{
    ngx_buf_t            *b;
    ngx_http_aigw_ctx_t  *ctx;

    ctx = ngx_http_aigw_get_ctx(r);

    b = ngx_create_temp_buf(r->pool, sizeof("{\"input_tokens\":}\n")
                                     + NGX_INT64_LEN);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_sprintf(b->last, "{\"input_tokens\":%L}\n",
                          ctx->prompt_estimate);
    b->last_buf = 1;
    b->last_in_chain = 1;

    return ngx_http_aigw_send_json(r, NGX_HTTP_OK, b);
}


/* A JSON body of the gateway's own, in one buffer. */

ngx_int_t
ngx_http_aigw_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_buf_t *b)
{
    ngx_int_t    rc;
    ngx_chain_t  out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
