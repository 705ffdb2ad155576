/*
 * aigw: an OpenAI-compatible AI gateway inside nginx.
 *
 * This file holds the directives, configuration, phase and filter
 * registration and the variables; the rest of the glue is in src/.
 */

#include <ndk.h>

#include "ngx_http_aigw_module.h"


static ngx_int_t ngx_http_aigw_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_aigw_init(ngx_conf_t *cf);
static void *ngx_http_aigw_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_aigw_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_aigw_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_aigw_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static u_char *ngx_http_aigw_read_file(ngx_conf_t *cf, ngx_str_t *name,
    size_t max, size_t *size);
static char *ngx_http_aigw_keys_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_aigw_keyset_cleanup(void *data);
static char *ngx_http_aigw_prices_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_aigw_prices_cleanup(void *data);
static ngx_int_t ngx_http_aigw_init_process(ngx_cycle_t *cycle);
static void ngx_http_aigw_exit_process(ngx_cycle_t *cycle);
static char *ngx_http_aigw_endpoints(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_aigw_body_rule(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_aigw_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_aigw_tried(ngx_http_request_t *r,
    ngx_http_aigw_ctx_t *ctx, ngx_str_t *s);
static ngx_int_t ngx_http_aigw_set_key_id(ngx_http_request_t *r,
    ngx_str_t *res, ngx_http_variable_value_t *v);


static ngx_conf_bitmask_t  ngx_http_aigw_endpoint_mask[] = {
    { ngx_string("chat"), NGX_HTTP_AIGW_CHAT },
    { ngx_string("completions"), NGX_HTTP_AIGW_COMPLETIONS },
    { ngx_string("embeddings"), NGX_HTTP_AIGW_EMBEDDINGS },
    { ngx_string("models"), NGX_HTTP_AIGW_MODELS },
    { ngx_string("messages"), NGX_HTTP_AIGW_MESSAGES },
    { ngx_null_string, 0 }
};


static ndk_set_var_t  ngx_http_aigw_set_key_id_filter = {
    NDK_SET_VAR_VALUE,
    (void *) ngx_http_aigw_set_key_id,
    1,
    NULL
};


static ngx_command_t  ngx_http_aigw_commands[] = {

    { ngx_string("aigw_keys_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_aigw_keys_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aigw_channel"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_BLOCK|NGX_CONF_TAKE1,
      ngx_http_aigw_channel_block,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aigw_prices_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_aigw_prices_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aigw_store"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_aigw_store_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aigw_limit_rpm"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigw_loc_conf_t, limit_rpm),
      NULL },

    { ngx_string("aigw_limit_tpm"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigw_loc_conf_t, limit_tpm),
      NULL },

    { ngx_string("aigw_limit_concurrency"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigw_loc_conf_t, limit_concurrency),
      NULL },

    { ngx_string("aigw_default_max_tokens"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigw_loc_conf_t, default_max_tokens),
      NULL },

    { ngx_string("aigw"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigw_loc_conf_t, enable),
      NULL },

    { ngx_string("aigw_auth"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigw_loc_conf_t, auth),
      NULL },

    { ngx_string("aigw_include_usage"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigw_loc_conf_t, include_usage),
      NULL },

    { ngx_string("aigw_endpoints"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_aigw_endpoints,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigw_loc_conf_t, endpoints),
      ngx_http_aigw_endpoint_mask },

    { ngx_string("aigw_max_event_size"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigw_loc_conf_t, max_event),
      NULL },

    { ngx_string("aigw_stream_first_byte_timeout"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigw_loc_conf_t, first_byte_timeout),
      NULL },

    { ngx_string("aigw_stream_idle_timeout"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigw_loc_conf_t, idle_timeout),
      NULL },

    { ngx_string("aigw_stream_max_duration"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigw_loc_conf_t, max_duration),
      NULL },

    { ngx_string("aigw_stream_max_size"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_off_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigw_loc_conf_t, max_stream_size),
      NULL },

    { ngx_string("aigw_failover_attempts"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigw_loc_conf_t, attempts),
      NULL },

    { ngx_string("aigw_failover_stage"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_aigw_failover_stage_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aigw_max_response_size"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_aigw_loc_conf_t, max_response),
      NULL },

    { ngx_string("aigw_model"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_aigw_model,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aigw_passthrough"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_aigw_passthrough,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aigw_body_set"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_aigw_body_rule,
      NGX_HTTP_LOC_CONF_OFFSET,
      AIGW_RULE_SET,
      NULL },

    { ngx_string("aigw_body_default"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_aigw_body_rule,
      NGX_HTTP_LOC_CONF_OFFSET,
      AIGW_RULE_DEFAULT,
      NULL },

    { ngx_string("aigw_body_cap"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_aigw_body_rule,
      NGX_HTTP_LOC_CONF_OFFSET,
      AIGW_RULE_CAP,
      NULL },

    { ngx_string("aigw_body_remove"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_aigw_body_rule,
      NGX_HTTP_LOC_CONF_OFFSET,
      AIGW_RULE_REMOVE,
      NULL },

    { ngx_string("aigw_demo_provider"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_aigw_demo,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aigw_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_aigw_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aigw_metrics_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_aigw_metrics_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aigw_breaker"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_ANY,
      ngx_http_aigw_breaker_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aigw_usage_stream"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_aigw_usage_stream,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aigw_admin"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_aigw_admin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aigw_admin_token"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_aigw_admin_token,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aigw_runtime_keys"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_aigw_keystore_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aigw_keys_cache_time"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_aigw_keystore_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("aigw_admin_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_aigw_keystore_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("set_aigw_key_id"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_SIF_CONF
      |NGX_HTTP_LOC_CONF|NGX_HTTP_LIF_CONF|NGX_CONF_TAKE2,
      ndk_set_var_value,
      0,
      0,
      &ngx_http_aigw_set_key_id_filter },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_aigw_module_ctx = {
    ngx_http_aigw_add_variables,           /* preconfiguration */
    ngx_http_aigw_init,                    /* postconfiguration */

    ngx_http_aigw_create_main_conf,        /* create main configuration */
    ngx_http_aigw_init_main_conf,          /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_aigw_create_loc_conf,         /* create location configuration */
    ngx_http_aigw_merge_loc_conf           /* merge location configuration */
};


ngx_module_t  ngx_http_aigw_module = {
    NGX_MODULE_V1,
    &ngx_http_aigw_module_ctx,             /* module context */
    ngx_http_aigw_commands,                /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_aigw_init_process,            /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_aigw_exit_process,            /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


enum {
    NGX_HTTP_AIGW_VAR_REQUEST_ID = 0,
    NGX_HTTP_AIGW_VAR_MODEL,
    NGX_HTTP_AIGW_VAR_UPSTREAM_MODEL,
    NGX_HTTP_AIGW_VAR_CHANNEL,
    NGX_HTTP_AIGW_VAR_PROVIDER,
    NGX_HTTP_AIGW_VAR_KEY_NAME,
    NGX_HTTP_AIGW_VAR_KEY_ID,
    NGX_HTTP_AIGW_VAR_TENANT,
    NGX_HTTP_AIGW_VAR_PROMPT_TOKENS,
    NGX_HTTP_AIGW_VAR_COMPLETION_TOKENS,
    NGX_HTTP_AIGW_VAR_CACHED_TOKENS,
    NGX_HTTP_AIGW_VAR_REASONING_TOKENS,
    NGX_HTTP_AIGW_VAR_TOTAL_TOKENS,
    NGX_HTTP_AIGW_VAR_TTFT,
    NGX_HTTP_AIGW_VAR_ERROR_CODE,
    NGX_HTTP_AIGW_VAR_STREAM,
    NGX_HTTP_AIGW_VAR_UPSTREAM_URL,
    NGX_HTTP_AIGW_VAR_UPSTREAM_HOST,
    NGX_HTTP_AIGW_VAR_ENDPOINT,
    NGX_HTTP_AIGW_VAR_COST,
    NGX_HTTP_AIGW_VAR_REMAINING_REQUESTS,
    NGX_HTTP_AIGW_VAR_REMAINING_TOKENS,
    NGX_HTTP_AIGW_VAR_ATTEMPTS,
    NGX_HTTP_AIGW_VAR_CHANNELS_TRIED
};


static ngx_http_variable_t  ngx_http_aigw_vars[] = {

    { ngx_string("aigw_request_id"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_REQUEST_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_model"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_MODEL, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_upstream_model"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_UPSTREAM_MODEL, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_channel"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_CHANNEL, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_provider"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_PROVIDER, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_key_name"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_KEY_NAME, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_key_id"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_KEY_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_tenant"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_TENANT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_prompt_tokens"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_PROMPT_TOKENS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_completion_tokens"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_COMPLETION_TOKENS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_cached_tokens"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_CACHED_TOKENS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_reasoning_tokens"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_REASONING_TOKENS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_total_tokens"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_TOTAL_TOKENS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_ttft"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_TTFT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_error_code"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_ERROR_CODE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_stream"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_STREAM, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_upstream_url"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_UPSTREAM_URL, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_upstream_host"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_UPSTREAM_HOST, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_endpoint"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_ENDPOINT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_cost"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_COST, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_ratelimit_remaining_requests"), NULL,
      ngx_http_aigw_variable, NGX_HTTP_AIGW_VAR_REMAINING_REQUESTS,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_ratelimit_remaining_tokens"), NULL,
      ngx_http_aigw_variable, NGX_HTTP_AIGW_VAR_REMAINING_TOKENS,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_attempts"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_ATTEMPTS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("aigw_channels_tried"), NULL, ngx_http_aigw_variable,
      NGX_HTTP_AIGW_VAR_CHANNELS_TRIED, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


/* the state of the request id generator, per worker */
static uint64_t  ngx_http_aigw_rid_state;


static ngx_int_t
ngx_http_aigw_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_aigw_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_aigw_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /*
     * The precontent phase runs after every access check (allow/deny,
     * auth_basic, auth_request, limit_req) and "satisfy any" cannot skip
     * it, so a gateway key is always checked.
     */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_aigw_handler;

    if (ngx_http_aigw_metrics_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_aigw_breaker_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_aigw_usage_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_aigw_keystore_postconf(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_aigw_init_filters(cf);
}


static void *
ngx_http_aigw_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_aigw_main_conf_t  *amcf;

    amcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_aigw_main_conf_t));
    if (amcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&amcf->channels, cf->pool, 4,
                       sizeof(ngx_http_aigw_channel_t *))
        != NGX_OK)
    {
        return NULL;
    }

    return amcf;
}


static char *
ngx_http_aigw_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_aigw_main_conf_t  *amcf = conf;

    amcf->loaded = ngx_time();

    if (ngx_http_aigw_channels_init(cf, amcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_aigw_store_init(cf, amcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_aigw_keystore_conf(cf, amcf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_aigw_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_aigw_loc_conf_t  *alcf;

    alcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_aigw_loc_conf_t));
    if (alcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     alcf->endpoints = 0;
     *     alcf->routes = NULL;
     *     alcf->rules = NULL;
     */

    alcf->enable = NGX_CONF_UNSET;
    alcf->auth = NGX_CONF_UNSET;
    alcf->include_usage = NGX_CONF_UNSET;
    alcf->max_event = NGX_CONF_UNSET_SIZE;
    alcf->max_response = NGX_CONF_UNSET_SIZE;
    alcf->first_byte_timeout = NGX_CONF_UNSET_MSEC;
    alcf->idle_timeout = NGX_CONF_UNSET_MSEC;
    alcf->max_duration = NGX_CONF_UNSET_MSEC;
    alcf->max_stream_size = NGX_CONF_UNSET;
    alcf->attempts = NGX_CONF_UNSET_UINT;
    alcf->limit_rpm = NGX_CONF_UNSET;
    alcf->limit_tpm = NGX_CONF_UNSET;
    alcf->limit_concurrency = NGX_CONF_UNSET;
    alcf->default_max_tokens = NGX_CONF_UNSET;
    alcf->passthrough = NGX_CONF_UNSET_PTR;

    return alcf;
}


static char *
ngx_http_aigw_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_aigw_loc_conf_t  *prev = parent;
    ngx_http_aigw_loc_conf_t  *conf = child;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->auth, prev->auth, 1);
    ngx_conf_merge_value(conf->include_usage, prev->include_usage, 1);
    ngx_conf_merge_bitmask_value(conf->endpoints, prev->endpoints,
                                 (NGX_CONF_BITMASK_SET
                                  |NGX_HTTP_AIGW_CHAT
                                  |NGX_HTTP_AIGW_COMPLETIONS
                                  |NGX_HTTP_AIGW_EMBEDDINGS
                                  |NGX_HTTP_AIGW_MODELS
                                  |NGX_HTTP_AIGW_MESSAGES));
    ngx_conf_merge_size_value(conf->max_event, prev->max_event, 65536);
    ngx_conf_merge_size_value(conf->max_response, prev->max_response,
                              8 * 1024 * 1024);
    ngx_conf_merge_msec_value(conf->first_byte_timeout,
                              prev->first_byte_timeout, 60000);
    ngx_conf_merge_msec_value(conf->idle_timeout, prev->idle_timeout, 60000);
    ngx_conf_merge_msec_value(conf->max_duration, prev->max_duration,
                              30 * 60000);
    ngx_conf_merge_off_value(conf->max_stream_size, prev->max_stream_size,
                             64 * 1024 * 1024);
    ngx_conf_merge_uint_value(conf->attempts, prev->attempts, 1);

    if (conf->attempts == 0 || conf->attempts > NGX_HTTP_AIGW_MAX_ATTEMPTS) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"aigw_failover_attempts\" must be 1 to %d",
                           NGX_HTTP_AIGW_MAX_ATTEMPTS);
        return NGX_CONF_ERROR;
    }
    ngx_conf_merge_value(conf->limit_rpm, prev->limit_rpm, 0);
    ngx_conf_merge_value(conf->limit_tpm, prev->limit_tpm, 0);
    ngx_conf_merge_value(conf->limit_concurrency, prev->limit_concurrency, 0);
    ngx_conf_merge_value(conf->default_max_tokens, prev->default_max_tokens,
                         4096);

    if (conf->routes == NULL) {
        conf->routes = prev->routes;
    }

    if (conf->rules == NULL) {
        conf->rules = prev->rules;
    }

    ngx_conf_merge_ptr_value(conf->passthrough, prev->passthrough, NULL);

    if (conf->admin && ngx_http_aigw_admin_merge(cf, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->enable && conf->passthrough == NULL
        && (conf->routes == NULL || conf->routes->nelts == 0))
    {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "\"aigw\" is on but no \"aigw_model\" is "
                           "configured: every model will be unknown");
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_aigw_endpoints(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_aigw_loc_conf_t  *alcf = conf;

    if (alcf->endpoints) {
        return "is duplicate";
    }

    return ngx_conf_set_bitmask_slot(cf, cmd, conf);
}


/*
 * Reads a whole configuration file (keys, prices) into ngx_alloc()ed
 * memory; the caller frees it.  Errors are logged against the directive.
 */

static u_char *
ngx_http_aigw_read_file(ngx_conf_t *cf, ngx_str_t *name, size_t max,
    size_t *size)
{
    u_char           *buf;
    ssize_t           n;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    if (ngx_conf_full_name(cf->cycle, name, 1) != NGX_OK) {
        return NULL;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = *name;
    file.log = cf->log;

    file.fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", name);
        return NULL;
    }

    buf = NULL;

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%V\" failed", name);
        goto done;
    }

    *size = (size_t) ngx_file_size(&fi);

    if (*size > max) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is larger than %uz bytes", name, max);
        goto done;
    }

    buf = ngx_alloc(*size + 1, cf->log);
    if (buf == NULL) {
        goto done;
    }

    n = ngx_read_file(&file, buf, *size, 0);

    if (n == NGX_ERROR || (size_t) n != *size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_file_n " \"%V\" failed", name);
        ngx_free(buf);
        buf = NULL;
    }

done:

    ngx_close_file(file.fd);

    return buf;
}


static char *
ngx_http_aigw_keys_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_aigw_main_conf_t  *amcf = conf;

    u_char              *buf;
    char                 err[512];
    size_t               size;
    ngx_int_t            rc;
    ngx_str_t           *value;
    ngx_pool_cleanup_t  *cln;

    if (amcf->keys_file.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    amcf->keys_file = value[1];

    buf = ngx_http_aigw_read_file(cf, &amcf->keys_file, 64 * 1024 * 1024,
                                  &size);
    if (buf == NULL) {
        return NGX_CONF_ERROR;
    }

    rc = aigw_keys_parse(buf, size, &amcf->keyset, err, sizeof(err));

    /* the file holds secrets: do not leave them in freed memory */
    ngx_explicit_memzero(buf, size);
    ngx_free(buf);

    if (rc != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid keys file \"%V\": %s",
                           &amcf->keys_file, err);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        aigw_keys_free(amcf->keyset);
        amcf->keyset = NULL;
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_aigw_keyset_cleanup;
    cln->data = amcf->keyset;

    (void) cmd;

    return NGX_CONF_OK;
}


static void
ngx_http_aigw_keyset_cleanup(void *data)
{
    aigw_keys_free(data);
}


static char *
ngx_http_aigw_body_rule(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_aigw_loc_conf_t  *alcf = conf;

    u_char            *p;
    ngx_str_t         *value;
    aigw_body_rule_t  *rule;
    aigw_json_type_e   type;

    value = cf->args->elts;

    if (alcf->rules == NULL) {
        alcf->rules = ngx_array_create(cf->pool, 4, sizeof(aigw_body_rule_t));
        if (alcf->rules == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (value[1].len == 0 || value[1].len > 128) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid field name \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    for (p = value[1].data; p < value[1].data + value[1].len; p++) {
        if (*p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid field name \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    if (value[1].len == 5 && ngx_strncmp(value[1].data, "model", 5) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"model\" is set by \"aigw_model\", "
                           "not by body rules");
        return NGX_CONF_ERROR;
    }

    rule = ngx_array_push(alcf->rules);
    if (rule == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(rule, sizeof(aigw_body_rule_t));

    rule->op = cmd->offset;
    rule->field = value[1].data;
    rule->field_len = value[1].len;

    if (rule->op == AIGW_RULE_REMOVE) {
        return NGX_CONF_OK;
    }

    type = aigw_json_validate(value[2].data, value[2].len,
                              NGX_HTTP_AIGW_MAX_DEPTH);

    if (type == AIGW_JSON_NONE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not a JSON value (quote strings: "
                           "'\"text\"')", &value[2]);
        return NGX_CONF_ERROR;
    }

    if (rule->op == AIGW_RULE_CAP
        && (type != AIGW_JSON_NUMBER
            || aigw_json_double(value[2].data, value[2].len, &rule->cap)
               != 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" is not a number", &value[2]);
        return NGX_CONF_ERROR;
    }

    rule->value = value[2].data;
    rule->value_len = value[2].len;

    return NGX_CONF_OK;
}


static char *
ngx_http_aigw_prices_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_aigw_main_conf_t  *amcf = conf;

    u_char              *buf;
    char                 err[512];
    size_t               size;
    ngx_int_t            rc;
    ngx_str_t           *value;
    ngx_pool_cleanup_t  *cln;

    if (amcf->prices_file.data) {
        return "is duplicate";
    }

    value = cf->args->elts;
    amcf->prices_file = value[1];

    buf = ngx_http_aigw_read_file(cf, &amcf->prices_file, 16 * 1024 * 1024,
                                  &size);
    if (buf == NULL) {
        return NGX_CONF_ERROR;
    }

    rc = aigw_prices_parse(buf, size, &amcf->prices, err, sizeof(err));

    ngx_free(buf);

    if (rc != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid prices file \"%V\": %s",
                           &amcf->prices_file, err);
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        aigw_prices_free(amcf->prices);
        amcf->prices = NULL;
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_aigw_prices_cleanup;
    cln->data = amcf->prices;

    (void) cmd;

    return NGX_CONF_OK;
}


static void
ngx_http_aigw_prices_cleanup(void *data)
{
    aigw_prices_free(data);
}


static ngx_int_t
ngx_http_aigw_init_process(ngx_cycle_t *cycle)
{
    ngx_fd_t                    fd;
    ngx_time_t                 *tp;
    ngx_http_aigw_main_conf_t  *amcf;

    /*
     * Request ids need to be unique, not secret: a splitmix64 sequence per
     * worker, seeded once from the kernel, costs nothing per request
     * (nginx's $request_id asks OpenSSL for random bytes every time).
     */

    tp = ngx_timeofday();
    ngx_http_aigw_rid_state = ((uint64_t) tp->sec << 20) ^ tp->msec
                              ^ ((uint64_t) ngx_pid << 40) ^ ngx_random();

    fd = ngx_open_file((u_char *) "/dev/urandom", NGX_FILE_RDONLY,
                       NGX_FILE_OPEN, 0);

    if (fd != NGX_INVALID_FILE) {
        uint64_t  seed;

        if (read(fd, &seed, sizeof(seed)) == (ssize_t) sizeof(seed)) {
            ngx_http_aigw_rid_state ^= seed;
        }

        (void) ngx_close_file(fd);
    }

    if (ngx_http_aigw_usage_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_aigw_keystore_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_aigw_module);

    if (amcf == NULL || amcf->store.shm_zone == NULL) {
        return NGX_OK;
    }

    if (ngx_http_aigw_shm_init_process(cycle, &amcf->store) != NGX_OK) {
        return NGX_ERROR;
    }

    if (amcf->store.redis) {
        return ngx_http_aigw_redis_init_process(cycle, &amcf->store);
    }

    return NGX_OK;
}


static void
ngx_http_aigw_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_aigw_main_conf_t  *amcf;

    ngx_http_aigw_usage_exit_process(cycle);
    ngx_http_aigw_keystore_exit_process(cycle);

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_aigw_module);

    if (amcf == NULL || amcf->store.shm_zone == NULL) {
        return;
    }

    if (amcf->store.redis) {
        ngx_http_aigw_redis_exit_process(cycle, &amcf->store);
    }

    ngx_http_aigw_shm_exit_process(cycle, &amcf->store);
}


static uint64_t
ngx_http_aigw_splitmix64(void)
{
    uint64_t  z;

    z = (ngx_http_aigw_rid_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;

    return z ^ (z >> 31);
}


/* 32 hex digits, like $request_id. */

ngx_int_t
ngx_http_aigw_request_id(ngx_http_request_t *r, ngx_str_t *id)
{
    uint64_t  v[2];

    id->data = ngx_pnalloc(r->pool, 32);
    if (id->data == NULL) {
        return NGX_ERROR;
    }

    v[0] = ngx_http_aigw_splitmix64();
    v[1] = ngx_http_aigw_splitmix64();

    aigw_hex_encode(id->data, (u_char *) v, sizeof(v));
    id->len = 32;

    return NGX_OK;
}


/*
 * An internal redirect (error_page, try_files, named locations) clears the
 * request's module contexts.  The context is found again through a pool
 * cleanup that marks it, as the realip module does, so that a request is
 * never authenticated, rewritten or charged twice and keeps its id.
 */

static void
ngx_http_aigw_ctx_cleanup(void *data)
{
    ngx_http_aigw_ctx_t  *ctx = data;

    /* also the marker that finds the context after internal redirects */

    ngx_http_aigw_stop_timer(ctx);
}


ngx_http_aigw_ctx_t *
ngx_http_aigw_create_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t   *cln;
    ngx_http_aigw_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_aigw_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = ngx_http_aigw_ctx_cleanup;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_aigw_module);

    ctx->rc = NGX_DECLINED;
    ctx->ttft = -1;

    if (ngx_http_aigw_request_id(r, &ctx->request_id) != NGX_OK) {
        return NULL;
    }

    return ctx;
}


ngx_http_aigw_ctx_t *
ngx_http_aigw_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t   *cln;
    ngx_http_aigw_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_aigw_module);

    if (ctx || !r->internal || r != r->main) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_aigw_ctx_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_aigw_module);
            return ctx;
        }
    }

    return NULL;
}


void *
ngx_http_aigw_pool_alloc(void *pool, size_t size)
{
    return ngx_palloc(pool, size);
}


u_char *
ngx_http_aigw_int(u_char *p, int64_t v)
{
    u_char     buf[NGX_INT64_LEN], *q;
    uint64_t   u;

    if (v < 0) {
        *p++ = '-';
        u = (uint64_t) 0 - (uint64_t) v;

    } else {
        u = (uint64_t) v;
    }

    q = buf + sizeof(buf);

    do {
        *--q = (u_char) ('0' + u % 10);
        u /= 10;
    } while (u);

    return ngx_cpymem(p, q, buf + sizeof(buf) - q);
}


/* "a,b": the channels tried, in order */

static ngx_int_t
ngx_http_aigw_tried(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    ngx_str_t *s)
{
    u_char      *p;
    size_t       len;
    ngx_uint_t   i;

    len = 0;

    for (i = 0; i < ctx->ntried; i++) {
        len += ctx->tried[i]->name.len + 1;
    }

    if (len == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    s->data = p;

    for (i = 0; i < ctx->ntried; i++) {
        if (i) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, ctx->tried[i]->name.data, ctx->tried[i]->name.len);
    }

    s->len = p - s->data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_aigw_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char               *p;
    int64_t               n;
    ngx_str_t             s;
    ngx_http_aigw_ctx_t  *ctx;

    ctx = ngx_http_aigw_get_ctx(r);

    if (ctx == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_str_null(&s);
    n = -1;

    switch (data) {

    case NGX_HTTP_AIGW_VAR_REQUEST_ID:
        s = ctx->request_id;
        break;

    case NGX_HTTP_AIGW_VAR_MODEL:
        s = ctx->model;
        break;

    case NGX_HTTP_AIGW_VAR_UPSTREAM_MODEL:
        s = ctx->upstream_model;
        break;

    case NGX_HTTP_AIGW_VAR_CHANNEL:
        if (ctx->channel) {
            s = ctx->channel->name;
        }
        break;

    case NGX_HTTP_AIGW_VAR_PROVIDER:
        if (ctx->channel) {
            s = ngx_http_aigw_providers[ctx->channel->provider];
        }
        break;

    case NGX_HTTP_AIGW_VAR_KEY_NAME:
        if (ctx->key) {
            s.data = (u_char *) ctx->key->name;
            s.len = ctx->key->name_len;
        }
        break;

    case NGX_HTTP_AIGW_VAR_KEY_ID:
        if (ctx->key_id[0]) {
            s.data = ctx->key_id;
            s.len = sizeof(ctx->key_id);
        }
        break;

    case NGX_HTTP_AIGW_VAR_TENANT:
        if (ctx->key && ctx->key->tenant) {
            s.data = (u_char *) ctx->key->tenant->name;
            s.len = ctx->key->tenant->name_len;
        }
        break;

    case NGX_HTTP_AIGW_VAR_PROMPT_TOKENS:
        n = ctx->usage.found ? ctx->usage.prompt_tokens : -1;
        break;

    case NGX_HTTP_AIGW_VAR_COMPLETION_TOKENS:
        n = ctx->usage.found ? ctx->usage.completion_tokens : -1;
        break;

    case NGX_HTTP_AIGW_VAR_CACHED_TOKENS:
        n = ctx->usage.found ? ctx->usage.cached_tokens : -1;
        break;

    case NGX_HTTP_AIGW_VAR_REASONING_TOKENS:
        n = ctx->usage.found ? ctx->usage.reasoning_tokens : -1;
        break;

    case NGX_HTTP_AIGW_VAR_TOTAL_TOKENS:
        n = ctx->usage.found ? ctx->usage.total_tokens : -1;
        break;

    case NGX_HTTP_AIGW_VAR_TTFT:
        n = ctx->first_byte ? ctx->ttft : -1;
        break;

    case NGX_HTTP_AIGW_VAR_ERROR_CODE:
        if (ctx->err_code) {
            s.data = (u_char *) ctx->err_code;
            s.len = ngx_strlen(ctx->err_code);
        }
        break;

    case NGX_HTTP_AIGW_VAR_STREAM:
        if (ctx->model.len) {
            s.data = (u_char *) (ctx->stream ? "1" : "0");
            s.len = 1;
        }
        break;

    case NGX_HTTP_AIGW_VAR_UPSTREAM_URL:
        s = ctx->upstream_url;
        break;

    case NGX_HTTP_AIGW_VAR_UPSTREAM_HOST:
        s = ctx->upstream_host;
        break;

    case NGX_HTTP_AIGW_VAR_ENDPOINT:
        switch (ctx->endpoint) {
        case NGX_HTTP_AIGW_CHAT: ngx_str_set(&s, "chat"); break;
        case NGX_HTTP_AIGW_COMPLETIONS: ngx_str_set(&s, "completions"); break;
        case NGX_HTTP_AIGW_EMBEDDINGS: ngx_str_set(&s, "embeddings"); break;
        case NGX_HTTP_AIGW_MODELS: ngx_str_set(&s, "models"); break;
        case NGX_HTTP_AIGW_PASSTHROUGH: ngx_str_set(&s, "passthrough"); break;
        case NGX_HTTP_AIGW_MESSAGES: ngx_str_set(&s, "messages"); break;
        case NGX_HTTP_AIGW_COUNT_TOKENS:
            ngx_str_set(&s, "count_tokens");
            break;
        }
        break;

    case NGX_HTTP_AIGW_VAR_COST:
        if (ctx->usage.found && ctx->price) {
            p = ngx_pnalloc(r->pool, AIGW_COST_USD_LEN);
            if (p == NULL) {
                return NGX_ERROR;
            }

            s.data = p;
            s.len = aigw_cost_format_usd(p, aigw_cost_micro_usd(ctx->price,
                                                                &ctx->usage))
                    - p;
        }
        break;

    case NGX_HTTP_AIGW_VAR_REMAINING_REQUESTS:
        if (ctx->admission && ctx->admission->header_rpm) {
            n = ngx_max(ctx->admission->headers.remaining_requests, 0);
        }
        break;

    case NGX_HTTP_AIGW_VAR_REMAINING_TOKENS:
        if (ctx->admission && ctx->admission->header_tpm) {
            n = ngx_max(ctx->admission->headers.remaining_tokens, 0);
        }
        break;

    case NGX_HTTP_AIGW_VAR_ATTEMPTS:
        if (ctx->ntried) {
            n = ctx->ntried;
        }
        break;

    case NGX_HTTP_AIGW_VAR_CHANNELS_TRIED:
        if (ngx_http_aigw_tried(r, ctx, &s) != NGX_OK) {
            return NGX_ERROR;
        }
        break;
    }

    if (n >= 0) {
        p = ngx_pnalloc(r->pool, NGX_INT64_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        s.data = p;
        s.len = ngx_sprintf(p, "%L", n) - p;
    }

    if (s.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->len = s.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;
    v->data = s.data;

    return NGX_OK;
}


/*
 * set_aigw_key_id $id $http_authorization;
 *
 * The stable, non-secret id of a gateway key ("k_" and 16 hex digits of its
 * SHA-256), for map, limit_req_zone or split_clients.  A "Bearer " prefix
 * is removed; an empty value gives an empty id.
 */

static ngx_int_t
ngx_http_aigw_set_key_id(ngx_http_request_t *r, ngx_str_t *res,
    ngx_http_variable_value_t *v)
{
    u_char     *p;
    size_t      len;
    u_char      hash[AIGW_SHA256_LEN];

    p = v->data;
    len = v->len;

    if (len > 7 && ngx_strncasecmp(p, (u_char *) "bearer ", 7) == 0) {
        p += 7;
        len -= 7;

        while (len && *p == ' ') {
            p++;
            len--;
        }

    } else if (len == 6 && ngx_strncasecmp(p, (u_char *) "bearer", 6) == 0) {
        /* "Bearer " without a key, its trailing space trimmed by nginx */
        len = 0;
    }

    if (len == 0) {
        res->len = 0;
        res->data = NULL;
        return NGX_OK;
    }

    aigw_sha256(p, len, hash);

    res->data = ngx_pnalloc(r->pool, 18);
    if (res->data == NULL) {
        return NGX_ERROR;
    }

    res->data[0] = 'k';
    res->data[1] = '_';
    aigw_hex_encode(res->data + 2, hash, 8);
    res->len = 18;

    return NGX_OK;
}
