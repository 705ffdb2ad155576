/*
 * aigw: run-time keys and tenants, per-day usage and channels taken out:
 * what the admin API (ngx_http_aigw_admin.c) asks of the key store
 * (ngx_http_aigw_keystore.c).
 *
 * With "aigw_store redis" everything lives in Redis (see the README, "Data
 * in Redis"); with the embedded store, in the shared memory zone
 * "aigw_admin" and the state files admin.json and usage.tsv beside
 * spend.tsv.
 */

#ifndef _NGX_HTTP_AIGW_KEYSTORE_H_INCLUDED_
#define _NGX_HTTP_AIGW_KEYSTORE_H_INCLUDED_


#include "ngx_http_aigw_module.h"


#define NGX_HTTP_AIGW_KS_USAGE_DAYS    90    /* per-day usage kept */
#define NGX_HTTP_AIGW_KS_RANGE_DAYS    366   /* days in one usage query */


/* operations */
enum {
    NGX_HTTP_AIGW_KS_GET = 0,
    NGX_HTTP_AIGW_KS_LIST,
    NGX_HTTP_AIGW_KS_CREATE,
    NGX_HTTP_AIGW_KS_UPDATE,
    NGX_HTTP_AIGW_KS_DELETE,
    NGX_HTTP_AIGW_KS_USAGE
};

/* their outcomes */
enum {
    NGX_HTTP_AIGW_KS_OK = 0,
    NGX_HTTP_AIGW_KS_NOT_FOUND,
    NGX_HTTP_AIGW_KS_EXISTS,        /* the name is taken */
    NGX_HTTP_AIGW_KS_HASH_EXISTS,   /* the secret is taken */
    NGX_HTTP_AIGW_KS_CONFLICT,      /* changed by someone else meanwhile */
    NGX_HTTP_AIGW_KS_NO_TENANT,
    NGX_HTTP_AIGW_KS_IN_USE,        /* a tenant that keys refer to */
    NGX_HTTP_AIGW_KS_FULL,          /* the zone is full */
    NGX_HTTP_AIGW_KS_ERROR          /* the store did not answer */
};


struct ngx_http_aigw_keystore_s {
    ngx_flag_t                  enable;       /* aigw_runtime_keys */
    ngx_msec_t                  cache_time;   /* aigw_keys_cache_time */
    ssize_t                     zone_size;    /* aigw_admin_zone */
    ngx_uint_t                  admin;        /* an aigw_admin location */
    ngx_shm_zone_t             *zone;
    ngx_str_t                   state_file;   /* <state_path>/admin.json */
    ngx_str_t                   usage_file;   /* <state_path>/usage.tsv */
    ngx_http_aigw_main_conf_t  *amcf;
};


typedef struct {
    int64_t                     day;
    ngx_str_t                   field;        /* "<metric>|<kind>|..." */
    int64_t                     value;
} ngx_http_aigw_ks_usage_t;


typedef struct ngx_http_aigw_ks_op_s  ngx_http_aigw_ks_op_t;

typedef void (*ngx_http_aigw_ks_done_pt)(ngx_http_aigw_ks_op_t *op);


struct ngx_http_aigw_ks_op_s {
    ngx_uint_t                  type;         /* NGX_HTTP_AIGW_KS_GET... */
    ngx_uint_t                  tenant;       /* of tenants, not keys */
    ngx_str_t                   name;
    ngx_str_t                   doc;          /* create, update */
    ngx_str_t                   old;          /* update: the doc changed */
    ngx_str_t                   hash_hex;     /* create a key */
    ngx_str_t                   need_tenant;  /* must exist in the store */
    int64_t                     from;         /* usage: days */
    int64_t                     to;

    ngx_uint_t                  status;       /* NGX_HTTP_AIGW_KS_OK... */
    ngx_str_t                   result;       /* get: the document */
    int64_t                     period;       /* get: spend */
    int64_t                     spend;
    ngx_array_t                 docs;         /* list: ngx_str_t */
    ngx_array_t                 usage;        /* ngx_http_aigw_ks_usage_t */

    ngx_http_request_t         *request;
    ngx_http_aigw_ks_done_pt    done;
    void                       *token;
};


/*
 * Runs an operation: NGX_OK (done, op->status set) or NGX_AGAIN
 * (op->done(op) comes later from the event loop, unless the request goes
 * away first).
 */
ngx_int_t ngx_http_aigw_ks_run(ngx_http_aigw_keystore_t *ks,
    ngx_http_aigw_ks_op_t *op);

ngx_http_aigw_keystore_t *ngx_http_aigw_keystore_get(ngx_conf_t *cf);

/* take a channel out of selection (1) or put it back (0) */
ngx_int_t ngx_http_aigw_ks_channel_out(ngx_http_aigw_keystore_t *ks,
    ngx_http_aigw_channel_t *ch, ngx_uint_t out);


#endif /* _NGX_HTTP_AIGW_KEYSTORE_H_INCLUDED_ */
