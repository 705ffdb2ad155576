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
#include "ngx_http_aigw_store.h"


#define NGX_HTTP_AIGW_CHAT          0x01
#define NGX_HTTP_AIGW_COMPLETIONS   0x02
#define NGX_HTTP_AIGW_EMBEDDINGS    0x04
#define NGX_HTTP_AIGW_MODELS        0x08
#define NGX_HTTP_AIGW_PASSTHROUGH   0x10

#define NGX_HTTP_AIGW_MAX_MEMBERS   128
#define NGX_HTTP_AIGW_MAX_DEPTH     64
#define NGX_HTTP_AIGW_MAX_MODEL     256


typedef enum {
    NGX_HTTP_AIGW_OPENAI = 0
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
    ngx_uint_t                  next_key;     /* rotation, per worker */
    ngx_uint_t                  disabled;     /* key_env was empty */
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
} ngx_http_aigw_main_conf_t;


typedef struct {
    ngx_flag_t                  enable;
    ngx_flag_t                  auth;
    ngx_flag_t                  include_usage;
    ngx_uint_t                  endpoints;
    size_t                      max_event;
    ngx_int_t                   limit_rpm;    /* defaults for keys */
    ngx_int_t                   limit_tpm;
    ngx_int_t                   limit_concurrency;
    ngx_int_t                   default_max_tokens;
    ngx_array_t                *routes;       /* ngx_http_aigw_route_t */
    ngx_array_t                *rules;        /* aigw_body_rule_t */
    ngx_http_aigw_channel_t    *passthrough;
} ngx_http_aigw_loc_conf_t;


typedef struct {
    ngx_uint_t                  endpoint;
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
    int64_t                     max_tokens;   /* the client's; -1: none */
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

    unsigned                    waiting:1;
    unsigned                    done:1;
    unsigned                    stream:1;
    unsigned                    client_usage:1;
    unsigned                    drop_usage:1;
    unsigned                    replace_body:1;
    unsigned                    err_sent:1;
    unsigned                    first_byte:1;
} ngx_http_aigw_ctx_t;


extern ngx_module_t  ngx_http_aigw_module;


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
ngx_http_aigw_target_t *ngx_http_aigw_select(ngx_http_aigw_route_t *route);
ngx_str_t *ngx_http_aigw_next_key(ngx_http_aigw_channel_t *ch);

/* errors */
ngx_int_t ngx_http_aigw_error(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    ngx_uint_t status, const char *type, const char *code, ngx_str_t *param,
    const char *fmt, ...);
ngx_http_aigw_ctx_t *ngx_http_aigw_get_ctx(ngx_http_request_t *r);
ngx_http_aigw_ctx_t *ngx_http_aigw_create_ctx(ngx_http_request_t *r);
ngx_int_t ngx_http_aigw_request_id(ngx_http_request_t *r, ngx_str_t *id);

/* limits and budgets */
ngx_int_t ngx_http_aigw_limits_admit(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, ngx_str_t *body);
ngx_int_t ngx_http_aigw_limits_headers(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx);
char *ngx_http_aigw_store_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_aigw_store_init(ngx_conf_t *cf,
    ngx_http_aigw_main_conf_t *amcf);
ngx_int_t ngx_http_aigw_finish(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx);

/* the demo provider */
char *ngx_http_aigw_demo(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);

void *ngx_http_aigw_pool_alloc(void *pool, size_t size);


#endif /* _NGX_HTTP_AIGW_MODULE_H_INCLUDED_ */
