/*
 * aigw: usage records, one per gateway request, in a Redis stream.
 *
 *     aigw_usage_stream key=<stream> [maxlen=N] [trim=approximate|exact]
 *                       [queue=N] [server=... [password=...] [db=N]
 *                       [connect_timeout=time]];
 *
 * At the log phase every main request that aigw handled (an endpoint was
 * recognised: answers, gateway errors such as 401 and 429, upstream
 * errors alike) becomes one
 *
 *     XADD <stream> MAXLEN [~] <N> * time <ms> request_id <id> ...
 *
 * sent on the store's Redis connection, or on a connection of its own when
 * "server=" is given.  Fire and forget: the record's fields are binary-safe
 * arguments that hiredis copies at once, nothing waits for the reply, and a
 * record that finds the connection down or "queue" records unanswered is
 * dropped, counted, and reported in a warning at most every 10 s.
 */

#include "ngx_http_aigw_module.h"


#define NGX_HTTP_AIGW_USAGE_FIELDS     20
#define NGX_HTTP_AIGW_USAGE_ARGS       (6 + 2 * NGX_HTTP_AIGW_USAGE_FIELDS)
#define NGX_HTTP_AIGW_USAGE_NUMBERS    10
#define NGX_HTTP_AIGW_USAGE_QUEUE      1024
#define NGX_HTTP_AIGW_USAGE_MAXLEN     1000000
#define NGX_HTTP_AIGW_USAGE_LOG_EVERY  10       /* s between drop reports */


struct ngx_http_aigw_usage_stream_s {
    ngx_str_t                   key;
    ngx_str_t                   maxlen;       /* decimal, as sent */
    u_char                      maxlen_buf[NGX_INT_T_LEN];
    ngx_uint_t                  exact;        /* "MAXLEN N", not "~ N" */
    ngx_uint_t                  queue;        /* records unanswered, max */
    ngx_http_aigw_redis_t      *own;          /* "server=": our connection */
    ngx_http_aigw_redis_t      *redis;        /* the connection used */
    u_char                     *file;         /* of the directive */
    ngx_uint_t                  line;

    /* per worker */
    ngx_uint_t                  dropped;      /* since the last report */
    uint64_t                    dropped_all;
    time_t                      reported;
};


static ngx_int_t ngx_http_aigw_usage_handler(ngx_http_request_t *r);
static void ngx_http_aigw_usage_drop(ngx_http_request_t *r,
    ngx_http_aigw_usage_stream_t *us, ngx_int_t rc);
static ngx_uint_t ngx_http_aigw_usage_attempts(ngx_http_aigw_ctx_t *ctx);


typedef struct {
    ngx_uint_t                  endpoint;
    ngx_str_t                   name;
} ngx_http_aigw_usage_endpoint_t;


static ngx_http_aigw_usage_endpoint_t  ngx_http_aigw_usage_endpoints[] = {
    { NGX_HTTP_AIGW_CHAT, ngx_string("chat") },
    { NGX_HTTP_AIGW_COMPLETIONS, ngx_string("completions") },
    { NGX_HTTP_AIGW_EMBEDDINGS, ngx_string("embeddings") },
    { NGX_HTTP_AIGW_MODELS, ngx_string("models") },
    { NGX_HTTP_AIGW_PASSTHROUGH, ngx_string("passthrough") },
    { NGX_HTTP_AIGW_MESSAGES, ngx_string("messages") },
    { 0, ngx_null_string }
};


char *
ngx_http_aigw_usage_stream(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_aigw_main_conf_t  *amcf = conf;

    ngx_int_t                      rc, n, maxlen;
    ngx_str_t                     *value;
    ngx_uint_t                     i, server, link;
    ngx_http_aigw_redis_t         *rd;
    ngx_http_aigw_usage_stream_t  *us;

    if (amcf->usage_stream) {
        return "is duplicate";
    }

    us = ngx_pcalloc(cf->pool, sizeof(ngx_http_aigw_usage_stream_t));
    if (us == NULL) {
        return NGX_CONF_ERROR;
    }

    rd = ngx_http_aigw_redis_create(cf, "aigw_usage_stream");
    if (rd == NULL) {
        return NGX_CONF_ERROR;
    }

    maxlen = NGX_HTTP_AIGW_USAGE_MAXLEN;
    us->queue = NGX_HTTP_AIGW_USAGE_QUEUE;
    us->file = cf->conf_file->file.name.data;
    us->line = cf->conf_file->line;

    server = 0;
    link = 0;
    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "key=", 4) == 0) {
            us->key.data = value[i].data + 4;
            us->key.len = value[i].len - 4;

            if (us->key.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "maxlen=", 7) == 0) {
            maxlen = ngx_atoi(value[i].data + 7, value[i].len - 7);
            if (maxlen == NGX_ERROR || maxlen == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "trim=approximate") == 0) {
            us->exact = 0;
            continue;
        }

        if (ngx_strcmp(value[i].data, "trim=exact") == 0) {
            us->exact = 1;
            continue;
        }

        if (ngx_strncmp(value[i].data, "queue=", 6) == 0) {
            n = ngx_atoi(value[i].data + 6, value[i].len - 6);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            us->queue = (ngx_uint_t) n;
            continue;
        }

        /* a connection of our own: the parameters of aigw_store redis */

        if (ngx_strncmp(value[i].data, "server=", 7) == 0
            || ngx_strncmp(value[i].data, "password=", 9) == 0
            || ngx_strncmp(value[i].data, "db=", 3) == 0
            || ngx_strncmp(value[i].data, "connect_timeout=", 16) == 0)
        {
            rc = ngx_http_aigw_redis_param(cf, rd, &value[i]);

            if (rc == NGX_OK) {
                if (value[i].data[0] == 's') {
                    server = 1;             /* "server=" */
                }

                link = 1;
                continue;
            }

            if (rc == NGX_ERROR) {
                return NGX_CONF_ERROR;
            }
        }

        ngx_http_aigw_redis_param_error(cf, "aigw_usage_stream", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (us->key.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "aigw_usage_stream: \"key=\" is required");
        return NGX_CONF_ERROR;
    }

    /* Redis takes no leading zeros: "007" is written "7" */

    us->maxlen.data = us->maxlen_buf;
    us->maxlen.len = ngx_sprintf(us->maxlen_buf, "%i", maxlen)
                     - us->maxlen_buf;

    if (server) {
        us->own = rd;
        us->redis = rd;

    } else if (link) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "aigw_usage_stream: \"password=\", \"db=\" and "
                           "\"connect_timeout=\" need \"server=\"");
        return NGX_CONF_ERROR;
    }

    amcf->usage_stream = us;

    (void) cmd;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "aigw_usage_stream: invalid value \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


/*
 * postconfiguration: "aigw_store" may come after "aigw_usage_stream", so
 * the connection is chosen here; the log handler is added only when used.
 */

ngx_int_t
ngx_http_aigw_usage_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt           *h;
    ngx_http_core_main_conf_t     *cmcf;
    ngx_http_aigw_main_conf_t     *amcf;
    ngx_http_aigw_usage_stream_t  *us;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_aigw_module);
    us = amcf->usage_stream;

    if (us == NULL) {
        return NGX_OK;
    }

    if (us->redis == NULL) {
        if (amcf->store.redis == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "aigw_usage_stream needs a Redis: configure "
                          "\"aigw_store redis server=...\", or give "
                          "\"server=\" to aigw_usage_stream in %s:%ui",
                          us->file, us->line);
            return NGX_ERROR;
        }

        us->redis = amcf->store.redis;
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_aigw_usage_handler;

    return NGX_OK;
}


/* the store starts and stops its own connection; ours is done here */

ngx_int_t
ngx_http_aigw_usage_init_process(ngx_cycle_t *cycle)
{
    ngx_http_aigw_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_aigw_module);

    if (amcf == NULL || amcf->usage_stream == NULL
        || amcf->usage_stream->own == NULL)
    {
        return NGX_OK;
    }

    return ngx_http_aigw_redis_start(cycle, amcf->usage_stream->own);
}


void
ngx_http_aigw_usage_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_aigw_main_conf_t  *amcf;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_aigw_module);

    if (amcf == NULL || amcf->usage_stream == NULL
        || amcf->usage_stream->own == NULL)
    {
        return;
    }

    ngx_http_aigw_redis_stop(cycle, amcf->usage_stream->own);
}


/* a field name and its value; an empty value may have no data at all */

#define ngx_http_aigw_usage_str(name, s)                                      \
    do {                                                                      \
        argv[argc] = name;                                                    \
        argvlen[argc++] = sizeof(name) - 1;                                   \
        argv[argc] = (s)->len ? (const char *) (s)->data : "";                \
        argvlen[argc++] = (s)->len;                                           \
    } while (0)

#define ngx_http_aigw_usage_num(name, n)                                      \
    do {                                                                      \
        argv[argc] = name;                                                    \
        argvlen[argc++] = sizeof(name) - 1;                                   \
        argv[argc] = (const char *) p;                                        \
        last = ngx_sprintf(p, "%L", (int64_t) (n));                           \
        argvlen[argc++] = last - p;                                           \
        p = last;                                                             \
    } while (0)


static ngx_int_t
ngx_http_aigw_usage_handler(ngx_http_request_t *r)
{
    int                              argc;
    u_char                          *p, *last;
    int64_t                          start, prompt, completion, cached;
    int64_t                          reasoning, cost, ttft;
    ngx_int_t                        rc;
    ngx_str_t                        empty, key, key_id, tenant, channel;
    ngx_str_t                        provider, endpoint, stream;
    ngx_uint_t                       status;
    ngx_time_t                      *tp;
    ngx_msec_int_t                   latency;
    ngx_http_aigw_ctx_t             *ctx;
    ngx_http_aigw_main_conf_t       *amcf;
    ngx_http_aigw_usage_stream_t    *us;
    ngx_http_aigw_usage_endpoint_t  *e;

    /* all on the stack: hiredis copies the arguments into its buffer */
    const char                      *argv[NGX_HTTP_AIGW_USAGE_ARGS];
    size_t                           argvlen[NGX_HTTP_AIGW_USAGE_ARGS];
    u_char                           nums[NGX_HTTP_AIGW_USAGE_NUMBERS
                                          * NGX_INT64_LEN];

    if (r != r->main) {
        return NGX_OK;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_aigw_module);
    us = amcf->usage_stream;

    if (us == NULL) {
        return NGX_OK;
    }

    ctx = ngx_http_aigw_get_ctx(r);

    if (ctx == NULL || ctx->endpoint == 0) {
        return NGX_OK;
    }

    ngx_str_null(&empty);
    key = empty;
    key_id = empty;
    tenant = empty;
    channel = empty;
    provider = empty;
    endpoint = empty;

    if (ctx->key) {
        key.data = (u_char *) ctx->key->name;
        key.len = ctx->key->name_len;

        if (ctx->key->tenant) {
            tenant.data = (u_char *) ctx->key->tenant->name;
            tenant.len = ctx->key->tenant->name_len;
        }
    }

    /* also for an unknown key: a refused caller is identified by it */

    if (ctx->key_id[0]) {
        key_id.data = ctx->key_id;
        key_id.len = sizeof(ctx->key_id);
    }

    if (ctx->channel) {
        channel = ctx->channel->name;
        provider = ngx_http_aigw_providers[ctx->channel->provider];
    }

    for (e = ngx_http_aigw_usage_endpoints; e->endpoint; e++) {
        if (e->endpoint == ctx->endpoint) {
            endpoint = e->name;
            break;
        }
    }

    stream.data = (u_char *) (ctx->stream ? "1" : "0");
    stream.len = 1;

    /* nothing reported, nothing billed: zeros */

    prompt = 0;
    completion = 0;
    cached = 0;
    reasoning = 0;
    cost = 0;

    if (ctx->usage.found) {
        prompt = ngx_max(ctx->usage.prompt_tokens, 0);
        completion = ngx_max(ctx->usage.completion_tokens, 0);
        cached = ngx_max(ctx->usage.cached_tokens, 0);
        reasoning = ngx_max(ctx->usage.reasoning_tokens, 0);

        if (ctx->price) {
            cost = ngx_http_aigw_cost(ctx);
        }
    }

    /* as $status */

    if (r->err_status) {
        status = r->err_status;

    } else {
        status = r->headers_out.status;
    }

    start = (int64_t) r->start_sec * 1000 + r->start_msec;

    tp = ngx_timeofday();
    latency = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                                + (tp->msec - r->start_msec));
    latency = ngx_max(latency, 0);

    /* -1: no byte of an answer came from an upstream */
    ttft = ctx->first_byte ? ctx->ttft : -1;

    argc = 0;
    p = nums;

    argv[argc] = "XADD";
    argvlen[argc++] = 4;
    argv[argc] = (const char *) us->key.data;
    argvlen[argc++] = us->key.len;
    argv[argc] = "MAXLEN";
    argvlen[argc++] = 6;

    if (!us->exact) {
        argv[argc] = "~";
        argvlen[argc++] = 1;
    }

    argv[argc] = (const char *) us->maxlen.data;
    argvlen[argc++] = us->maxlen.len;
    argv[argc] = "*";
    argvlen[argc++] = 1;

    ngx_http_aigw_usage_num("time", start);
    ngx_http_aigw_usage_str("request_id", &ctx->request_id);
    ngx_http_aigw_usage_str("key", &key);
    ngx_http_aigw_usage_str("key_id", &key_id);
    ngx_http_aigw_usage_str("tenant", &tenant);
    ngx_http_aigw_usage_str("model", &ctx->model);
    ngx_http_aigw_usage_str("upstream_model", &ctx->upstream_model);
    ngx_http_aigw_usage_str("channel", &channel);
    ngx_http_aigw_usage_str("provider", &provider);
    ngx_http_aigw_usage_str("endpoint", &endpoint);
    ngx_http_aigw_usage_str("stream", &stream);
    ngx_http_aigw_usage_num("prompt_tokens", prompt);
    ngx_http_aigw_usage_num("completion_tokens", completion);
    ngx_http_aigw_usage_num("cached_tokens", cached);
    ngx_http_aigw_usage_num("reasoning_tokens", reasoning);
    ngx_http_aigw_usage_num("cost_micro_usd", cost);
    ngx_http_aigw_usage_num("status", status);
    ngx_http_aigw_usage_num("latency_ms", latency);
    ngx_http_aigw_usage_num("ttft_ms", ttft);
    ngx_http_aigw_usage_num("attempts", ngx_http_aigw_usage_attempts(ctx));

    rc = ngx_http_aigw_redis_fire(us->redis, us->queue, "a usage record",
                                  argc, argv, argvlen);

    if (rc != NGX_OK) {
        ngx_http_aigw_usage_drop(r, us, rc);
    }

    return NGX_OK;
}


/*
 * ATTEMPTS: the channels tried, as $aigw_attempts: failover counts them in
 * ctx->ntried (0 when no channel was chosen: a 401, /v1/models).
 */

static ngx_uint_t
ngx_http_aigw_usage_attempts(ngx_http_aigw_ctx_t *ctx)
{
    return ctx->ntried;
}


static void
ngx_http_aigw_usage_drop(ngx_http_request_t *r,
    ngx_http_aigw_usage_stream_t *us, ngx_int_t rc)
{
    us->dropped++;
    us->dropped_all++;

    /* a Redis that is away must not fill the log: one line per period */

    if (ngx_time() - us->reported < NGX_HTTP_AIGW_USAGE_LOG_EVERY) {
        return;
    }

    us->reported = ngx_time();

    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "aigw: usage stream \"%V\": redis %V %s, %ui usage "
                  "records dropped (%uL by this worker)", &us->key,
                  ngx_http_aigw_redis_name(us->redis),
                  rc == NGX_DECLINED ? "is not connected"
                  : rc == NGX_BUSY ? "has too many records unanswered"
                                   : "failed",
                  us->dropped, us->dropped_all);

    us->dropped = 0;
}
