/*
 * aigw: the per-channel circuit breaker in shared memory.
 *
 *     aigw_breaker [failures=N] [ratio=P%] [min_requests=N] [window=time]
 *                  [cooldown=time] [probe_timeout=time] | off;
 *
 * Defaults, and why:
 *   failures=5        five failures in a row are not bad luck, and fewer
 *                     would open on the odd 5xx of a busy provider;
 *   ratio=50%         a channel failing half of its requests costs more in
 *                     latency (failover) than it serves;
 *   min_requests=20   the ratio judges only a real sample;
 *   window=60s        the span of providers' own rate limits and incidents;
 *   cooldown=30s      long enough for a provider to shed load, short enough
 *                     that a recovered channel is back within a minute (an
 *                     upstream Retry-After lengthens it, up to one hour);
 *   probe_timeout=60s a probe that never reports (a worker that exited, a
 *                     request that ended before reaching the upstream) does
 *                     not keep the channel half-open for ever.
 * Without the directive there is no breaker: every channel always passes.
 *
 * The zone "aigw_breaker" holds one aigw_breaker_t (src/aigw_breaker.c,
 * lock-free) per channel, found by the channel's name when the
 * configuration loads, so a reload keeps the state of the channels that
 * still exist and new ones start closed.  Workers only follow the pointer
 * set then (ch->breaker); the list of nodes is changed by the master alone.
 *
 * Time is ngx_current_msec: nginx 1.22 takes it from CLOCK_MONOTONIC
 * (NGX_HAVE_CLOCK_MONOTONIC in Debian's build), one clock for every process
 * of the machine, so a deadline written by one worker means the same to
 * all, across reloads, and does not move when the wall clock is set.  It is
 * the worker's cached time, late by at most one event loop iteration.
 *
 * Outcomes: a LOG phase handler records the last attempt of every gateway
 * request that went upstream (success when the final status is below 500
 * and not 429); attempts that failover intercepted with error_page are
 * recorded by the failover code (ngx_http_aigw_failover.c).
 */

#include "ngx_http_aigw_module.h"


#define NGX_HTTP_AIGW_BREAKER_MAX_TIME  (86400 * 1000)


typedef struct {
    aigw_breaker_t              breaker;     /* first: 64-byte aligned */
    ngx_queue_t                 queue;
    ngx_uint_t                  generation;  /* of the last configuration
                                                that had the channel */
    u_short                     len;
    u_char                      name[1];
} ngx_http_aigw_breaker_node_t;


typedef struct {
    ngx_queue_t                 queue;       /* of nodes */
    ngx_uint_t                  generation;  /* configurations loaded */
} ngx_http_aigw_breaker_sh_t;


typedef struct {
    ngx_http_aigw_breaker_sh_t *sh;
    ngx_slab_pool_t            *shpool;
    ngx_array_t                *channels;    /* ngx_http_aigw_channel_t * */
} ngx_http_aigw_breaker_ctx_t;


static char *ngx_http_aigw_breaker_time(ngx_conf_t *cf, ngx_str_t *value,
    size_t skip, int64_t *ms);
static ngx_int_t ngx_http_aigw_breaker_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_http_aigw_breaker_node_t *ngx_http_aigw_breaker_node(
    ngx_http_aigw_breaker_ctx_t *ctx, ngx_str_t *name, ngx_log_t *log);
static ngx_int_t ngx_http_aigw_breaker_log_handler(ngx_http_request_t *r);


static ngx_str_t  ngx_http_aigw_breaker_zone_name =
    ngx_string("aigw_breaker");


char *
ngx_http_aigw_breaker_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_aigw_main_conf_t  *amcf = conf;

    u_char               *p, *last;
    char                 *rv;
    ngx_int_t             n, tenth;
    ngx_str_t            *value;
    ngx_uint_t            i;
    aigw_breaker_conf_t  *c;

    if (amcf->breaker_set) {
        return "is duplicate";
    }

    amcf->breaker_set = 1;
    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        amcf->breaker_on = 0;
        return NGX_CONF_OK;
    }

    c = &amcf->breaker;

    c->failures = 5;
    c->ratio = 500;
    c->min_requests = 20;
    c->window = 60000;
    c->cooldown = 30000;
    c->probe_timeout = 60000;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "failures=", 9) == 0) {
            n = ngx_atoi(value[i].data + 9, value[i].len - 9);
            if (n == NGX_ERROR || n > 1000000) {
                goto invalid;
            }

            c->failures = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "min_requests=", 13) == 0) {
            n = ngx_atoi(value[i].data + 13, value[i].len - 13);
            if (n <= 0 || n > 1000000) {
                goto invalid;
            }

            c->min_requests = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "ratio=", 6) == 0) {

            /* "50%", "50", "12.5%": kept in per-mille */

            p = value[i].data + 6;
            last = value[i].data + value[i].len;

            if (last > p && last[-1] == '%') {
                last--;
            }

            tenth = 0;

            if (last - p > 2 && last[-2] == '.') {
                if (last[-1] < '0' || last[-1] > '9') {
                    goto invalid;
                }

                tenth = last[-1] - '0';
                last -= 2;
            }

            n = ngx_atoi(p, last - p);
            if (n == NGX_ERROR || n * 10 + tenth > 1000) {
                goto invalid;
            }

            c->ratio = n * 10 + tenth;
            continue;
        }

        if (ngx_strncmp(value[i].data, "window=", 7) == 0) {
            rv = ngx_http_aigw_breaker_time(cf, &value[i], 7, &c->window);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "cooldown=", 9) == 0) {
            rv = ngx_http_aigw_breaker_time(cf, &value[i], 9, &c->cooldown);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "probe_timeout=", 14) == 0) {
            rv = ngx_http_aigw_breaker_time(cf, &value[i], 14,
                                            &c->probe_timeout);
            if (rv != NGX_CONF_OK) {
                return rv;
            }

            continue;
        }

        goto invalid;
    }

    if (c->failures == 0 && c->ratio == 0) {
        return "opens neither on failures nor on a ratio: "
               "use \"aigw_breaker off\"";
    }

    amcf->breaker_on = 1;

    (void) cmd;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" (expected failures=<n>, "
                       "ratio=<percent>%%, min_requests=<n>, window=<time>, "
                       "cooldown=<time>, probe_timeout=<time>, or \"off\")",
                       &value[i]);

    return NGX_CONF_ERROR;
}


static char *
ngx_http_aigw_breaker_time(ngx_conf_t *cf, ngx_str_t *value, size_t skip,
    int64_t *ms)
{
    ngx_int_t  n;
    ngx_str_t  s;

    s.data = value->data + skip;
    s.len = value->len - skip;

    n = ngx_parse_time(&s, 0);

    if (n == NGX_ERROR || n < 1 || n > NGX_HTTP_AIGW_BREAKER_MAX_TIME) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid time in \"%V\" (from 1ms to 1d)", value);
        return NGX_CONF_ERROR;
    }

    *ms = n;

    return NGX_CONF_OK;
}


/* postconfiguration: every channel is known by now */

ngx_int_t
ngx_http_aigw_breaker_init(ngx_conf_t *cf)
{
    size_t                        size;
    ngx_shm_zone_t               *shm_zone;
    ngx_http_handler_pt          *h;
    ngx_http_core_main_conf_t    *cmcf;
    ngx_http_aigw_main_conf_t    *amcf;
    ngx_http_aigw_breaker_ctx_t  *ctx;

    ngx_http_aigw_circuit_state = ngx_http_aigw_breaker_state;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_aigw_module);

    if (!amcf->breaker_on || amcf->channels.nelts == 0) {
        return NGX_OK;
    }

    /*
     * A node takes one 256-byte slab chunk at most (names are at most 128
     * bytes).  The size moves in 64K steps, per 128 channels, because a
     * zone that changes size on reload starts again empty: adding a few
     * channels must keep the others' state.
     */

    size = 65536 * (1 + amcf->channels.nelts / 128);

    shm_zone = ngx_shared_memory_add(cf, &ngx_http_aigw_breaker_zone_name,
                                     size, &ngx_http_aigw_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "shared zone \"%V\" is already used",
                           &ngx_http_aigw_breaker_zone_name);
        return NGX_ERROR;
    }

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_aigw_breaker_ctx_t));
    if (ctx == NULL) {
        return NGX_ERROR;
    }

    ctx->channels = &amcf->channels;

    shm_zone->init = ngx_http_aigw_breaker_init_zone;
    shm_zone->data = ctx;

    amcf->breaker_zone = shm_zone;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_aigw_breaker_log_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_aigw_breaker_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_aigw_breaker_ctx_t  *octx = data;

    size_t                         len;
    ngx_uint_t                     i;
    ngx_http_aigw_channel_t      **chp;
    ngx_http_aigw_breaker_ctx_t   *ctx;
    ngx_http_aigw_breaker_node_t  *node;

    ctx = shm_zone->data;

    if (octx) {
        /* a reload: the same zone, its breakers kept */
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;

    } else {
        ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

        if (shm_zone->shm.exists) {
            ctx->sh = ctx->shpool->data;

        } else {
            ctx->sh = ngx_slab_alloc(ctx->shpool,
                                     sizeof(ngx_http_aigw_breaker_sh_t));
            if (ctx->sh == NULL) {
                return NGX_ERROR;
            }

            ngx_queue_init(&ctx->sh->queue);
            ctx->sh->generation = 0;
            ctx->shpool->data = ctx->sh;

            len = sizeof(" in aigw breaker zone \"\"")
                  + shm_zone->shm.name.len;

            ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
            if (ctx->shpool->log_ctx == NULL) {
                return NGX_ERROR;
            }

            ngx_sprintf(ctx->shpool->log_ctx, " in aigw breaker zone \"%V\"%Z",
                        &shm_zone->shm.name);
        }
    }

    /* only the master changes the list, and only here */

    ngx_shmtx_lock(&ctx->shpool->mutex);

    ctx->sh->generation++;

    chp = ctx->channels->elts;

    for (i = 0; i < ctx->channels->nelts; i++) {
        node = ngx_http_aigw_breaker_node(ctx, &chp[i]->name,
                                          shm_zone->shm.log);
        if (node == NULL) {
            ngx_shmtx_unlock(&ctx->shpool->mutex);

            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "aigw: no room for channel \"%V\" in the zone "
                          "\"%V\"", &chp[i]->name, &shm_zone->shm.name);
            return NGX_ERROR;
        }

        node->generation = ctx->sh->generation;
        chp[i]->breaker = &node->breaker;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return NGX_OK;
}


/* Under the zone's mutex. */

static ngx_http_aigw_breaker_node_t *
ngx_http_aigw_breaker_node(ngx_http_aigw_breaker_ctx_t *ctx, ngx_str_t *name,
    ngx_log_t *log)
{
    size_t                         size;
    ngx_queue_t                   *q, *next;
    ngx_http_aigw_breaker_node_t  *node;

    for (q = ngx_queue_head(&ctx->sh->queue);
         q != ngx_queue_sentinel(&ctx->sh->queue);
         q = ngx_queue_next(q))
    {
        node = ngx_queue_data(q, ngx_http_aigw_breaker_node_t, queue);

        if (node->len == name->len
            && ngx_memcmp(node->name, name->data, name->len) == 0)
        {
            return node;
        }
    }

    size = offsetof(ngx_http_aigw_breaker_node_t, name) + name->len;

    node = ngx_slab_alloc_locked(ctx->shpool, size);

    if (node == NULL) {

        /*
         * Full of channels that were removed: forget those that neither
         * this configuration nor the one before has (workers of older
         * ones are gone or finishing their last requests).
         */

        for (q = ngx_queue_head(&ctx->sh->queue);
             q != ngx_queue_sentinel(&ctx->sh->queue);
             q = next)
        {
            next = ngx_queue_next(q);
            node = ngx_queue_data(q, ngx_http_aigw_breaker_node_t, queue);

            if (node->generation + 1 < ctx->sh->generation) {
                ngx_log_error(NGX_LOG_NOTICE, log, 0,
                              "aigw: breaker of removed channel \"%*s\" "
                              "forgotten", (size_t) node->len, node->name);

                ngx_queue_remove(q);
                ngx_slab_free_locked(ctx->shpool, node);
            }
        }

        node = ngx_slab_alloc_locked(ctx->shpool, size);
        if (node == NULL) {
            return NULL;
        }
    }

    ngx_memzero(node, size);

    node->len = (u_short) name->len;
    ngx_memcpy(node->name, name->data, name->len);

    ngx_queue_insert_tail(&ctx->sh->queue, &node->queue);

    return node;
}


static ngx_inline aigw_breaker_conf_t *
ngx_http_aigw_breaker_conf(void)
{
    ngx_http_aigw_main_conf_t  *amcf;

    /* the configuration of this worker's cycle, even when an old one */

    amcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_aigw_module);

    return &amcf->breaker;
}


ngx_uint_t
ngx_http_aigw_breaker_allow(ngx_http_aigw_channel_t *ch)
{
    if (ch->breaker == NULL) {
        return 1;
    }

    return aigw_breaker_allow(ch->breaker, ngx_http_aigw_breaker_conf(),
                              (int64_t) ngx_current_msec);
}


ngx_uint_t
ngx_http_aigw_breaker_ready(ngx_http_aigw_channel_t *ch)
{
    if (ch->breaker == NULL) {
        return 1;
    }

    return aigw_breaker_ready(ch->breaker, (int64_t) ngx_current_msec);
}


void
ngx_http_aigw_breaker_result(ngx_http_aigw_channel_t *ch, ngx_uint_t ok,
    time_t retry_after)
{
    int64_t               now;
    uint64_t              trips;
    aigw_breaker_t       *b;
    aigw_breaker_conf_t  *c;

    if (ch == NULL || ch->breaker == NULL) {
        return;
    }

    b = ch->breaker;
    c = ngx_http_aigw_breaker_conf();
    now = (int64_t) ngx_current_msec;

    if (ok) {
        if (aigw_breaker_state(b, now) == AIGW_BREAKER_CLOSED) {
            aigw_breaker_success(b, c, now);
            return;
        }

        aigw_breaker_success(b, c, now);

        if (aigw_breaker_state(b, now) == AIGW_BREAKER_CLOSED) {
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "aigw: circuit of channel \"%V\" closed",
                          &ch->name);
        }

        return;
    }

    trips = __atomic_load_n(&b->trips, __ATOMIC_RELAXED);

    aigw_breaker_failure(b, c, now,
                         retry_after > 0 ? (int64_t) retry_after * 1000 : 0);

    /* another worker may have opened it too: a log line, not a count */

    if (__atomic_load_n(&b->trips, __ATOMIC_RELAXED) != trips) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "aigw: circuit of channel \"%V\" opened for %L ms",
                      &ch->name, aigw_breaker_wait(b, now));
    }
}


ngx_uint_t
ngx_http_aigw_breaker_state(ngx_http_aigw_channel_t *ch)
{
    if (ch->breaker == NULL) {
        return AIGW_BREAKER_CLOSED;
    }

    return aigw_breaker_state(ch->breaker, (int64_t) ngx_current_msec);
}


/*
 * The outcome of the last attempt of a gateway request that reached an
 * upstream.  A client that left before the answer (499, or no status) says
 * nothing about the channel.
 */

static ngx_int_t
ngx_http_aigw_breaker_log_handler(ngx_http_request_t *r)
{
    ngx_uint_t            status;
    ngx_http_aigw_ctx_t  *ctx;

    if (r != r->main || r->upstream == NULL) {
        return NGX_OK;
    }

    ctx = ngx_http_aigw_get_ctx(r);

    if (ctx == NULL || ctx->channel == NULL || ctx->channel->breaker == NULL
        || ctx->breaker_done)
    {
        return NGX_OK;
    }

    /* as $status */

    status = r->err_status ? r->err_status : r->headers_out.status;

    if (status == 0 || status == NGX_HTTP_CLIENT_CLOSED_REQUEST) {
        return NGX_OK;
    }

    if (status < NGX_HTTP_INTERNAL_SERVER_ERROR
        && status != NGX_HTTP_TOO_MANY_REQUESTS)
    {
        ngx_http_aigw_breaker_result(ctx->channel, 1, 0);
        return NGX_OK;
    }

    ngx_http_aigw_breaker_result(ctx->channel, 0,
                                 ngx_http_aigw_retry_after(
                                     r->upstream));

    return NGX_OK;
}


/* the upstream's Retry-After in seconds; 0: none, or an HTTP date */

time_t
ngx_http_aigw_retry_after(ngx_http_upstream_t *u)
{
    ngx_int_t         n;
    ngx_table_elt_t  *h;

    h = ngx_http_aigw_find_header(&u->headers_in.headers, "Retry-After");
    if (h == NULL) {
        return 0;
    }

    n = ngx_atoi(h->value.data, h->value.len);

    return (n == NGX_ERROR) ? 0 : (time_t) n;
}
