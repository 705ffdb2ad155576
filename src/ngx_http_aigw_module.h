/*
 * aigw: shared declarations of the nginx glue.
 */

#ifndef _NGX_HTTP_AIGW_MODULE_H_INCLUDED_
#define _NGX_HTTP_AIGW_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "aigw_json.h"
#include "aigw_body.h"
#include "aigw_usage.h"
#include "aigw_sse.h"
#include "aigw_keys.h"
#include "aigw_sha256.h"
#include "aigw_error.h"
#include "aigw_prices.h"
#include "aigw_cost.h"
#include "aigw_tokens.h"
#include "aigw_adapter.h"
#include "aigw_anthropic.h"
#include "aigw_anthropic_in.h"
#include "aigw_gemini.h"
#include "aigw_breaker.h"
#include "ngx_http_aigw_store.h"


#define NGX_HTTP_AIGW_CHAT          0x01
#define NGX_HTTP_AIGW_COMPLETIONS   0x02
#define NGX_HTTP_AIGW_EMBEDDINGS    0x04
#define NGX_HTTP_AIGW_MODELS        0x08
#define NGX_HTTP_AIGW_PASSTHROUGH   0x10
#define NGX_HTTP_AIGW_MESSAGES      0x20
#define NGX_HTTP_AIGW_COUNT_TOKENS  0x40    /* .../messages/count_tokens */

/* the client speaks Anthropic's format */
#define ngx_http_aigw_anthropic_client(ctx)                                   \
    ((ctx)->endpoint & (NGX_HTTP_AIGW_MESSAGES|NGX_HTTP_AIGW_COUNT_TOKENS))

#define NGX_HTTP_AIGW_MAX_MEMBERS   128
#define NGX_HTTP_AIGW_MAX_DEPTH     64
#define NGX_HTTP_AIGW_MAX_MODEL     256
#define NGX_HTTP_AIGW_MAX_ATTEMPTS  8

#define NGX_HTTP_AIGW_STAGE_TRY     1       /* aigw_failover_stage */
#define NGX_HTTP_AIGW_STAGE_RETRY   2


typedef struct ngx_http_aigw_usage_stream_s  ngx_http_aigw_usage_stream_t;
typedef struct ngx_http_aigw_keystore_s      ngx_http_aigw_keystore_t;
typedef struct ngx_http_aigw_admin_conf_s    ngx_http_aigw_admin_conf_t;
typedef struct ngx_http_aigw_key_wait_s      ngx_http_aigw_key_wait_t;


typedef enum {
    NGX_HTTP_AIGW_OPENAI = 0,
    NGX_HTTP_AIGW_AZURE,
    NGX_HTTP_AIGW_ANTHROPIC,
    NGX_HTTP_AIGW_GEMINI
} ngx_http_aigw_provider_e;


typedef struct {
    ngx_str_t                   name;
    ngx_uint_t                  provider;
    ngx_str_t                   url;          /* scheme://host[:port] */
    ngx_str_t                   base_path;    /* without a trailing '/' */
    ngx_str_t                   host;         /* Host header, SNI name */
    ngx_array_t                *keys;         /* ngx_str_t */
    ngx_array_t                *headers;      /* ngx_table_elt_t */
    ngx_str_t                   key_env;
    ngx_str_t                   api_version;  /* azure */
    ngx_str_t                   deployment;   /* azure; else the model */
    ngx_uint_t                  next_key;     /* rotation, per worker */
    ngx_uint_t                  disabled;     /* key_env was empty */
    ngx_atomic_t               *admin_out;    /* in shm: taken out through
                                                 the admin API; or NULL */
    aigw_breaker_t             *breaker;      /* in the aigw_breaker zone;
                                                 NULL: no breaker */
    u_char                     *file;
    ngx_uint_t                  line;
} ngx_http_aigw_channel_t;


typedef struct {
    ngx_http_aigw_channel_t    *channel;
    ngx_str_t                   model;        /* empty: the client's */
    ngx_uint_t                  weight;
    ngx_int_t                   priority;
} ngx_http_aigw_target_t;


typedef struct {
    ngx_str_t                   name;         /* without the '*' */
    ngx_uint_t                  prefix;       /* "name*" */
    ngx_array_t                 targets;      /* ngx_http_aigw_target_t */
} ngx_http_aigw_route_t;


typedef struct {
    ngx_array_t                 channels;     /* ngx_http_aigw_channel_t * */
    ngx_str_t                   keys_file;
    aigw_keyset_t              *keyset;
    ngx_str_t                   prices_file;
    aigw_prices_t              *prices;
    ngx_http_aigw_store_conf_t  store;
    ngx_uint_t                  store_set;
    time_t                      loaded;
    size_t                      metrics_size;  /* aigw_metrics_zone */
    ngx_shm_zone_t             *metrics_zone;
    ngx_uint_t                  metrics_page;  /* aigw_metrics is used */
    ngx_http_aigw_usage_stream_t *usage_stream; /* aigw_usage_stream */
    ngx_http_aigw_keystore_t   *keystore;     /* run-time keys, or NULL */
    aigw_breaker_conf_t         breaker;      /* aigw_breaker */
    ngx_uint_t                  breaker_on;
    ngx_uint_t                  breaker_set;
    ngx_shm_zone_t             *breaker_zone;
} ngx_http_aigw_main_conf_t;


typedef struct {
    ngx_flag_t                  enable;
    ngx_flag_t                  auth;
    ngx_flag_t                  include_usage;
    ngx_uint_t                  endpoints;
    size_t                      max_event;
    size_t                      max_response; /* held for translation */
    ngx_msec_t                  first_byte_timeout; /* streams */
    ngx_msec_t                  idle_timeout;
    ngx_msec_t                  max_duration;
    off_t                       max_stream_size;
    ngx_uint_t                  attempts;     /* aigw_failover_attempts */
    ngx_uint_t                  stage;        /* aigw_failover_stage */
    ngx_int_t                   limit_rpm;    /* defaults for keys */
    ngx_int_t                   limit_tpm;
    ngx_int_t                   limit_concurrency;
    ngx_int_t                   default_max_tokens;
    ngx_array_t                *routes;       /* ngx_http_aigw_route_t */
    ngx_array_t                *rules;        /* aigw_body_rule_t */
    ngx_http_aigw_channel_t    *passthrough;
    ngx_http_aigw_admin_conf_t *admin;        /* aigw_admin */
} ngx_http_aigw_loc_conf_t;


typedef struct {
    ngx_http_aigw_loc_conf_t   *alcf;         /* of the gateway location */
    ngx_http_aigw_route_t      *route;
    ngx_str_t                   oai_body;     /* OpenAI body, as sent */
    ngx_http_aigw_channel_t    *tried[NGX_HTTP_AIGW_MAX_ATTEMPTS];
    ngx_uint_t                  ntried;       /* attempts made */
    ngx_list_part_t            *hpart;        /* client headers end here */
    ngx_uint_t                  hnelts;
    ngx_uint_t                  endpoint;     /* what the client called */
    ngx_uint_t                  api;          /* the OpenAI call it makes */
    ngx_int_t                   rc;           /* verdict of the phase */
    ngx_str_t                   request_id;
    ngx_str_t                   model;
    ngx_str_t                   upstream_model;
    ngx_str_t                   upstream_url;
    ngx_str_t                   upstream_host;
    ngx_http_aigw_channel_t    *channel;
    const aigw_key_t           *key;
    const aigw_price_t         *price;
    ngx_http_aigw_admission_t  *admission;
    ngx_str_t                   body;         /* the upstream body */
    ngx_str_t                   client_body;  /* /v1/messages: as sent */
    int64_t                     max_tokens;   /* the client's; -1: none */
    int64_t                     cost;         /* of the usage, once known:
                                                 see ngx_http_aigw_cost() */
    int64_t                     prompt_estimate; /* Gemini embeddings */
    u_char                      key_id[18];

    /* an error answered by the gateway */
    ngx_uint_t                  err_status;
    ngx_str_t                   err_message;
    const char                 *err_type;
    const char                 *err_code;
    ngx_str_t                   err_param;
    ngx_buf_t                  *err_body;

    /* the response */
    aigw_usage_t                usage;
    aigw_usage_capture_t       *capture;
    aigw_sse_t                 *sse;
    ngx_chain_t                *out;
    ngx_chain_t               **last_out;
    ngx_chain_t                *free;
    ngx_chain_t                *busy;
    ngx_chain_t                *pending;     /* input not parsed yet */
    ngx_chain_t               **pending_last;
    ngx_chain_t                *held;        /* parsed, not yet sent */
    ngx_msec_int_t              ttft;

    /* translation of the answer (see ngx_http_aigw_filter.c) */
    aigw_buf_t                 *held_body;   /* a whole answer, bounded */
    void                       *out_stream;  /* the provider's stream */
    aigw_anthropic_in_stream_t *in_stream;   /* back to Anthropic events */

    /* stream safety */
    ngx_event_t                 timer;       /* first byte, idle, duration */
    ngx_msec_t                  deadline;    /* end of the maximum duration */
    off_t                       stream_bytes;
    const char                 *cut;         /* why the gateway cut it */
    void                      (*upstream_finalize)(ngx_http_request_t *r,
                                    ngx_int_t rc);

    unsigned                    waiting:1;
    unsigned                    done:1;
    unsigned                    stream:1;
    unsigned                    client_usage:1;
    unsigned                    drop_usage:1;
    unsigned                    replace_body:1;
    unsigned                    err_sent:1;
    unsigned                    first_byte:1;
    unsigned                    adapted:1;    /* body translated for the
                                                 channel's provider */
    unsigned                    native:1;     /* Anthropic to Anthropic */
    unsigned                    xlate:1;      /* the stream is translated */
    unsigned                    hold:1;       /* the answer is held whole */
    unsigned                    xlate_done:1; /* no more events translated */
    unsigned                    base64:1;     /* embeddings as base64 */
    unsigned                    guard:1;      /* a stream being watched */
    unsigned                    stream_end:1; /* its end marker was seen */
    unsigned                    end_sent:1;   /* an error event was sent */
    unsigned                    header_seen:1; /* the upstream answered */
    unsigned                    goto_try:1;   /* next: @aigw_try */
    unsigned                    key_resume:1; /* the key store answered */
    unsigned                    breaker_done:1; /* the outcome of the last
                                                   attempt is recorded */
    unsigned                    cost_done:1;  /* ctx->cost is computed */

    ngx_http_aigw_key_wait_t   *key_wait;     /* a key asked of the store */
} ngx_http_aigw_ctx_t;


extern ngx_module_t  ngx_http_aigw_module;
extern ngx_str_t     ngx_http_aigw_providers[];


/* the phase handler and the /models content handler */
ngx_int_t ngx_http_aigw_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_aigw_init_filters(ngx_conf_t *cf);

/* channels and routes */
char *ngx_http_aigw_channel_block(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_aigw_model(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_aigw_passthrough(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_http_aigw_channel_t *ngx_http_aigw_find_channel(
    ngx_http_aigw_main_conf_t *amcf, ngx_str_t *name);
ngx_int_t ngx_http_aigw_channels_init(ngx_conf_t *cf,
    ngx_http_aigw_main_conf_t *amcf);
ngx_http_aigw_route_t *ngx_http_aigw_find_route(ngx_array_t *routes,
    u_char *model, size_t len);
ngx_http_aigw_target_t *ngx_http_aigw_select(ngx_http_aigw_route_t *route,
    ngx_http_aigw_channel_t **exclude, ngx_uint_t nexclude,
    ngx_uint_t *all_open);
ngx_str_t *ngx_http_aigw_next_key(ngx_http_aigw_channel_t *ch);

#define ngx_http_aigw_azure_v1(ch)                                            \
    ((ch)->api_version.len == 2 && (ch)->api_version.data[0] == 'v'           \
     && (ch)->api_version.data[1] == '1')

/* errors */
ngx_int_t ngx_http_aigw_error(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    ngx_uint_t status, const char *type, const char *code, ngx_str_t *param,
    const char *fmt, ...);
ngx_http_aigw_ctx_t *ngx_http_aigw_get_ctx(ngx_http_request_t *r);
ngx_http_aigw_ctx_t *ngx_http_aigw_create_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_aigw_request_id(ngx_http_request_t *r, ngx_str_t *id);

ngx_table_elt_t *ngx_http_aigw_find_header(ngx_list_t *headers, char *name);
ngx_int_t ngx_http_aigw_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_buf_t *b);
ngx_int_t ngx_http_aigw_prepare(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, ngx_http_aigw_target_t *target,
    aigw_json_member_t *m, size_t n);
ngx_int_t ngx_http_aigw_scan(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, ngx_str_t *body, aigw_json_member_t *m,
    size_t *n);

/* failover */
time_t ngx_http_aigw_retry_after(ngx_http_upstream_t *u);
ngx_int_t ngx_http_aigw_failover_stage(ngx_http_request_t *r,
    ngx_http_aigw_loc_conf_t *alcf);
ngx_uint_t ngx_http_aigw_failover_more(ngx_http_aigw_ctx_t *ctx);
ngx_int_t ngx_http_aigw_goto_try(ngx_http_request_t *r);
char *ngx_http_aigw_failover_stage_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);

/* limits and budgets */
ngx_int_t ngx_http_aigw_limits_admit(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, ngx_str_t *body, aigw_json_member_t *m,
    size_t n);
ngx_int_t ngx_http_aigw_limits_headers(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx);
char *ngx_http_aigw_store_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_aigw_store_init(ngx_conf_t *cf,
    ngx_http_aigw_main_conf_t *amcf);
ngx_int_t ngx_http_aigw_finish(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx);

/* stream safety */
void ngx_http_aigw_first_byte_timer(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx);
void ngx_http_aigw_stop_timer(ngx_http_aigw_ctx_t *ctx);

/* the demo provider */
char *ngx_http_aigw_demo(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

/* the Prometheus endpoint (ngx_http_aigw_metrics.c) */
char *ngx_http_aigw_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_aigw_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_aigw_metrics_init(ngx_conf_t *cf);
void ngx_http_aigw_metrics_failover(ngx_http_request_t *r);

/* usage records in a Redis stream (ngx_http_aigw_usage_stream.c) */
char *ngx_http_aigw_usage_stream(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_aigw_usage_init(ngx_conf_t *cf);
ngx_int_t ngx_http_aigw_usage_init_process(ngx_cycle_t *cycle);
void ngx_http_aigw_usage_exit_process(ngx_cycle_t *cycle);

/* set by the circuit breaker; NULL: every channel is closed (0) */
extern ngx_uint_t  (*ngx_http_aigw_circuit_state)(ngx_http_aigw_channel_t *ch);

/* the circuit breaker (ngx_http_aigw_breaker.c); 1: closed or no breaker */
char *ngx_http_aigw_breaker_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_aigw_breaker_init(ngx_conf_t *cf);
ngx_uint_t ngx_http_aigw_breaker_allow(ngx_http_aigw_channel_t *ch);
ngx_uint_t ngx_http_aigw_breaker_ready(ngx_http_aigw_channel_t *ch);
void ngx_http_aigw_breaker_result(ngx_http_aigw_channel_t *ch, ngx_uint_t ok,
    time_t retry_after);
ngx_uint_t ngx_http_aigw_breaker_state(ngx_http_aigw_channel_t *ch);

void *ngx_http_aigw_pool_alloc(void *pool, size_t size);

/*
 * The cost of the answer's usage in micro-USD (0 without usage or price),
 * computed once: for the log phase and the pool cleanup, when the usage is
 * final.
 */
static ngx_inline int64_t
ngx_http_aigw_cost(ngx_http_aigw_ctx_t *ctx)
{
    if (!ctx->cost_done) {
        ctx->cost = (ctx->usage.found && ctx->price)
                    ? aigw_cost_micro_usd(ctx->price, &ctx->usage) : 0;
        ctx->cost_done = 1;
    }

    return ctx->cost;
}

/* A decimal integer, without ngx_sprintf()'s cost: for per-request values */
u_char *ngx_http_aigw_int(u_char *p, int64_t v);

/* the admin API (ngx_http_aigw_admin.c) */
char *ngx_http_aigw_admin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_aigw_admin_token(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_aigw_admin_merge(ngx_conf_t *cf,
    ngx_http_aigw_loc_conf_t *alcf);

/*
 * run-time keys and tenants, per-day usage and channels taken out
 * (ngx_http_aigw_keystore.c).  ngx_http_aigw_keystore_find(): NGX_OK with
 * *key (NULL: no such key), NGX_AGAIN (the store was asked: the phases run
 * again when it answers, ctx->key_resume set), NGX_ERROR (store down).
 */
char *ngx_http_aigw_keystore_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_aigw_keystore_conf(ngx_conf_t *cf,
    ngx_http_aigw_main_conf_t *amcf);
ngx_int_t ngx_http_aigw_keystore_postconf(ngx_conf_t *cf);
ngx_int_t ngx_http_aigw_keystore_find(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, const u_char *hash, const aigw_key_t **key);
ngx_int_t ngx_http_aigw_keystore_init_process(ngx_cycle_t *cycle);
void ngx_http_aigw_keystore_exit_process(ngx_cycle_t *cycle);

#define ngx_http_aigw_channel_out(ch)                                         \
    ((ch)->admin_out && *(ch)->admin_out)


#endif /* _NGX_HTTP_AIGW_MODULE_H_INCLUDED_ */
