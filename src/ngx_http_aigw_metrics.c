/*
 * aigw: the Prometheus endpoint ("aigw_metrics;", text format 0.0.4).
 *
 * Counters live in one shared memory zone ("aigw_metrics_zone", created
 * whenever the http block configures aigw) so that every worker's requests
 * are on one page and a reload keeps counting.  Requests are recorded in
 * the log phase without any lock:
 *
 *   - the zone is cut into regions of a fixed layout; a worker claims one
 *     region for itself (an atomic compare-and-set of its pid, on its first
 *     recorded request) and from then on is the only process that writes
 *     there, with plain 64-bit stores;
 *   - the page sums every region, claimed or not: a region keeps the counts
 *     of the workers that used it before (old workers after a reload,
 *     crashed ones), so counters never go back;
 *   - a worker gives its region back when it exits (a cleanup of its cycle
 *     pool) and a region whose owner died without that is taken over once
 *     kill(pid, 0) says the process is gone.  Claiming instead of using
 *     ngx_worker as the index matters: after a reload, old worker N still
 *     finishing requests and new worker N would both write one region.
 *
 * A reader may see a counter a few increments old, or one series updated
 * and the next not yet: a scrape is a snapshot to within one request, as
 * with any lock-free exporter.  64-bit loads and stores are single
 * instructions on the 64-bit platforms nginx runs on, so a value is never
 * half old, half new there (on 32-bit ones a rare torn read is accepted).
 *
 * Label sets (model, channel, provider, endpoint, status) are kept in a
 * fixed open-addressing table per region; their strings go to the region's
 * arena.  An entry is filled first and published last ("used", after a
 * memory barrier), so a reader never sees half a key, and entries are
 * never removed.  Clients choose model names, so cardinality is bounded:
 * only a routed request (one that got a channel) is labelled with its
 * model (unknown or refused names count as model=""), and once a region's
 * table is three quarters full further label sets count under
 * model="__other__".
 */

#include <nginx.h>

#include "ngx_http_aigw_module.h"


#ifndef NGX_HTTP_AIGW_VERSION
#define NGX_HTTP_AIGW_VERSION          "0.1.0"
#endif

#define NGX_HTTP_AIGW_M_ZONE_SIZE      (8 * 1024 * 1024)
#define NGX_HTTP_AIGW_M_MAGIC          0x616967774d455433ULL  /* "aigwMET3" */

/* a region: label sets, histograms by channel, label strings */
#define NGX_HTTP_AIGW_M_SERIES         1024      /* a power of 2 */
#define NGX_HTTP_AIGW_M_SERIES_MAX     768       /* then "__other__" */
#define NGX_HTTP_AIGW_M_CHANNELS       64        /* a power of 2 */
#define NGX_HTTP_AIGW_M_CHANNELS_MAX   48
#define NGX_HTTP_AIGW_M_ARENA          32768
#define NGX_HTTP_AIGW_M_ARENA_MAX      28672     /* the rest: "__other__" */
#define NGX_HTTP_AIGW_M_LABEL_MAX      512
#define NGX_HTTP_AIGW_M_MAX_REGIONS    256

#define NGX_HTTP_AIGW_M_BUCKETS        13        /* 12 bounds and +Inf */
#define NGX_HTTP_AIGW_M_REASONS        32        /* rejection reasons */
#define NGX_HTTP_AIGW_M_ENDPOINTS      7         /* 0: none */

#define NGX_HTTP_AIGW_M_REQUESTS       0
#define NGX_HTTP_AIGW_M_FAILOVERS      1
#define NGX_HTTP_AIGW_M_CHANNEL        2

enum {
    NGX_HTTP_AIGW_M_COUNT = 0,       /* requests, or failovers */
    NGX_HTTP_AIGW_M_PROMPT,
    NGX_HTTP_AIGW_M_COMPLETION,
    NGX_HTTP_AIGW_M_CACHED,
    NGX_HTTP_AIGW_M_REASONING,
    NGX_HTTP_AIGW_M_COST,            /* micro-USD */
    NGX_HTTP_AIGW_M_VALUES
};


typedef struct {
    uint64_t                    bucket[NGX_HTTP_AIGW_M_BUCKETS];
    uint64_t                    sum;          /* milliseconds */
} ngx_http_aigw_hist_t;


/* one label set of a region; 72 bytes */

typedef struct {
    uint32_t                    hash;
    uint32_t                    key;          /* model, then channel */
    uint16_t                    model_len;
    uint16_t                    channel_len;
    uint16_t                    status;
    u_char                      kind;
    u_char                      provider;     /* 1 + provider; 0: none */
    u_char                      endpoint;
    u_char                      used;         /* published */
    u_char                      pad[6];
    uint64_t                    v[NGX_HTTP_AIGW_M_VALUES];
} ngx_http_aigw_series_t;


typedef struct {
    uint32_t                    hash;
    uint32_t                    key;
    uint16_t                    len;
    u_char                      used;
    u_char                      pad[5];
    ngx_http_aigw_hist_t        latency;
    ngx_http_aigw_hist_t        ttft;
} ngx_http_aigw_mchannel_t;


typedef struct ngx_http_aigw_region_s  ngx_http_aigw_region_t;

struct ngx_http_aigw_region_s {
    ngx_atomic_t                owner;        /* pid of the writer; 0: none */
    uint64_t                    nseries;
    uint64_t                    nchannels;
    uint64_t                    arena_used;
    uint64_t                    dropped;      /* found no room */
    uint64_t                    rejections[NGX_HTTP_AIGW_M_REASONS];
    ngx_http_aigw_hist_t        overhead[NGX_HTTP_AIGW_M_ENDPOINTS];
    ngx_http_aigw_mchannel_t    channels[NGX_HTTP_AIGW_M_CHANNELS];
    ngx_http_aigw_series_t      series[NGX_HTTP_AIGW_M_SERIES];
    u_char                      arena[NGX_HTTP_AIGW_M_ARENA];
};


/* the regions are cache line aligned: no false sharing between workers */
#define NGX_HTTP_AIGW_M_STRIDE                                                \
    ngx_align(sizeof(ngx_http_aigw_region_t), 128)


typedef struct {
    uint64_t                    magic;        /* of this layout */
    size_t                      stride;
    ngx_uint_t                  nregions;
    ngx_atomic_t                used;         /* regions handed out so far */
    u_char                     *regions;
} ngx_http_aigw_metrics_sh_t;


typedef struct {
    ngx_http_aigw_metrics_sh_t *sh;
    ngx_slab_pool_t            *shpool;
    ngx_cycle_t                *cycle;
} ngx_http_aigw_metrics_ctx_t;


/* a label set, as recorded and as merged for the page */

typedef struct {
    ngx_str_t                   model;
    ngx_str_t                   channel;
    ngx_uint_t                  kind;
    ngx_uint_t                  provider;
    ngx_uint_t                  endpoint;
    ngx_uint_t                  status;
} ngx_http_aigw_mkey_t;


typedef struct {
    ngx_http_aigw_mkey_t        k;
    uint32_t                    hash;
    uint64_t                    v[NGX_HTTP_AIGW_M_VALUES];
    ngx_http_aigw_hist_t       *hist;         /* channels: latency, ttft */
} ngx_http_aigw_mrow_t;


typedef struct {
    ngx_http_aigw_mrow_t       *rows;
    ngx_uint_t                  nrows;
    ngx_uint_t                  max;
    ngx_uint_t                 *index;        /* 1 + row; 0: empty */
    ngx_uint_t                  mask;
} ngx_http_aigw_mtable_t;


/* the page, as a chain of buffers that grows as it is written */

typedef struct {
    ngx_pool_t                 *pool;
    ngx_chain_t                *out;
    ngx_chain_t               **last;
    ngx_buf_t                  *b;
    off_t                       size;
} ngx_http_aigw_mpage_t;


typedef struct {
    ngx_msec_t                  bound[NGX_HTTP_AIGW_M_BUCKETS - 1];
    ngx_str_t                   le[NGX_HTTP_AIGW_M_BUCKETS];
} ngx_http_aigw_buckets_t;


static ngx_int_t ngx_http_aigw_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_aigw_metrics_check_workers(
    ngx_http_aigw_metrics_ctx_t *mctx, ngx_shm_zone_t *shm_zone);
static ngx_int_t ngx_http_aigw_metrics_log_handler(ngx_http_request_t *r);
static ngx_http_aigw_region_t *ngx_http_aigw_metrics_region(
    ngx_shm_zone_t *shm_zone, ngx_log_t *log);
static ngx_http_aigw_region_t *ngx_http_aigw_metrics_claim(
    ngx_http_aigw_metrics_sh_t *sh);
static void ngx_http_aigw_metrics_release(void *data);
static ngx_http_aigw_series_t *ngx_http_aigw_metrics_series(
    ngx_http_aigw_region_t *reg, ngx_http_aigw_mkey_t *k);
static ngx_http_aigw_series_t *ngx_http_aigw_metrics_series_find(
    ngx_http_aigw_region_t *reg, ngx_http_aigw_mkey_t *k, ngx_uint_t max,
    size_t arena_max);
static ngx_http_aigw_mchannel_t *ngx_http_aigw_metrics_channel(
    ngx_http_aigw_region_t *reg, ngx_str_t *name);
static ngx_http_aigw_mchannel_t *ngx_http_aigw_metrics_channel_find(
    ngx_http_aigw_region_t *reg, ngx_str_t *name, ngx_uint_t max,
    size_t arena_max);
static uint64_t ngx_http_aigw_metrics_mix(uint64_t h, u_char *p, size_t len);
static uint32_t ngx_http_aigw_metrics_hash(ngx_http_aigw_mkey_t *k);
static void ngx_http_aigw_hist_observe(ngx_http_aigw_hist_t *h,
    ngx_http_aigw_buckets_t *b, ngx_msec_t ms);
static ngx_uint_t ngx_http_aigw_metrics_endpoint(ngx_uint_t endpoint);
static ngx_uint_t ngx_http_aigw_metrics_reason(const char *code);

static ngx_int_t ngx_http_aigw_metrics_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_aigw_metrics_page(ngx_http_request_t *r,
    ngx_http_aigw_mpage_t *pg);
static ngx_int_t ngx_http_aigw_metrics_collect(ngx_http_request_t *r,
    ngx_http_aigw_metrics_sh_t *sh, ngx_http_aigw_mtable_t *series,
    ngx_http_aigw_mtable_t *tokens, ngx_http_aigw_mtable_t *channels,
    uint64_t *rejections, ngx_http_aigw_hist_t *overhead,
    uint64_t *dropped);
static ngx_int_t ngx_http_aigw_mtable_init(ngx_http_aigw_mtable_t *t,
    ngx_pool_t *pool, ngx_uint_t max);
static ngx_http_aigw_mrow_t *ngx_http_aigw_mtable_add(
    ngx_http_aigw_mtable_t *t, ngx_http_aigw_mkey_t *k);
static int ngx_libc_cdecl ngx_http_aigw_mrow_cmp(const void *one,
    const void *two);
static u_char *ngx_http_aigw_mpage_reserve(ngx_http_aigw_mpage_t *pg,
    size_t n);
static ngx_int_t ngx_http_aigw_mpage_text(ngx_http_aigw_mpage_t *pg,
    const char *text);
static ngx_int_t ngx_http_aigw_mpage_counter(ngx_http_aigw_mpage_t *pg,
    const char *name, ngx_http_aigw_mkey_t *k, ngx_uint_t labels,
    uint64_t value, ngx_uint_t usd);
static ngx_int_t ngx_http_aigw_mpage_hist(ngx_http_aigw_mpage_t *pg,
    const char *name, const char *label, ngx_str_t *value,
    ngx_http_aigw_hist_t *h, ngx_http_aigw_buckets_t *b);
static u_char *ngx_http_aigw_metrics_escape(u_char *dst, ngx_str_t *src);


/*
 * The circuit breaker's state of a channel for aigw_channel_circuit_state:
 * 0 closed, 1 open, 2 half-open.  The breaker sets this hook when it is
 * built; until then (NULL) every channel is shown closed.
 */
ngx_uint_t  (*ngx_http_aigw_circuit_state)(ngx_http_aigw_channel_t *ch);


static ngx_str_t  ngx_http_aigw_metrics_zone_name =
    ngx_string("aigw_metrics");

static ngx_str_t  ngx_http_aigw_metrics_other = ngx_string("__other__");

static ngx_str_t  ngx_http_aigw_metrics_none = ngx_string("");

static ngx_str_t  ngx_http_aigw_metrics_type =
    ngx_string("text/plain; version=0.0.4; charset=utf-8");


/* the labels of ctx->endpoint, by ngx_http_aigw_metrics_endpoint() */
static ngx_str_t  ngx_http_aigw_metrics_endpoints[] = {
    ngx_string(""),
    ngx_string("chat"),
    ngx_string("completions"),
    ngx_string("embeddings"),
    ngx_string("models"),
    ngx_string("passthrough"),
    ngx_string("messages")
};


/*
 * The codes of errors the gateway answers itself (ctx->err_code), the
 * reasons of aigw_rejections_total.  A fixed list keeps the label bounded;
 * a code missing here counts as "other".  At most NGX_HTTP_AIGW_M_REASONS.
 */
static const char  *ngx_http_aigw_metrics_reasons[] = {
    "other",
    "rate_limit_exceeded",
    "insufficient_quota",
    "store_unavailable",
    "missing_api_key",
    "invalid_api_key",
    "api_key_disabled",
    "api_key_expired",
    "model_not_allowed",
    "ip_not_allowed",
    "model_not_found",
    "no_channel_available",
    "channels_unavailable",
    "unsupported_endpoint",
    "passthrough_not_allowed",
    "unknown_url",
    "method_not_allowed",
    "invalid_json",
    "duplicate_key",
    "invalid_type",
    "invalid_value",
    "missing_required_parameter",
    "invalid_request",
    "request_too_large",
    "request_timeout",
    "upstream_error",
    "upstream_auth_failed",
    "upstream_unavailable",
    "upstream_timeout",
    "internal_error",
    NULL
};


/* upstream response time: LLM answers take seconds to minutes */
static ngx_http_aigw_buckets_t  ngx_http_aigw_latency_buckets = {
    { 100, 250, 500, 1000, 2500, 5000, 10000, 20000, 30000, 60000, 120000,
      300000 },
    { ngx_string("0.1"), ngx_string("0.25"), ngx_string("0.5"),
      ngx_string("1"), ngx_string("2.5"), ngx_string("5"), ngx_string("10"),
      ngx_string("20"), ngx_string("30"), ngx_string("60"),
      ngx_string("120"), ngx_string("300"), ngx_string("+Inf") }
};

static ngx_http_aigw_buckets_t  ngx_http_aigw_ttft_buckets = {
    { 50, 100, 250, 500, 1000, 2000, 3000, 5000, 10000, 20000, 30000,
      60000 },
    { ngx_string("0.05"), ngx_string("0.1"), ngx_string("0.25"),
      ngx_string("0.5"), ngx_string("1"), ngx_string("2"), ngx_string("3"),
      ngx_string("5"), ngx_string("10"), ngx_string("20"), ngx_string("30"),
      ngx_string("60"), ngx_string("+Inf") }
};

/* what the gateway adds: nginx's clock has millisecond resolution */
static ngx_http_aigw_buckets_t  ngx_http_aigw_overhead_buckets = {
    { 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000 },
    { ngx_string("0.001"), ngx_string("0.002"), ngx_string("0.005"),
      ngx_string("0.01"), ngx_string("0.025"), ngx_string("0.05"),
      ngx_string("0.1"), ngx_string("0.25"), ngx_string("0.5"),
      ngx_string("1"), ngx_string("2.5"), ngx_string("5"),
      ngx_string("+Inf") }
};


/* this process's region and the zone it belongs to */
static ngx_http_aigw_region_t      *ngx_http_aigw_mregion;
static ngx_http_aigw_metrics_sh_t  *ngx_http_aigw_msh;
static time_t                       ngx_http_aigw_mretry;


/* ------------------------------------------------------------ directives */


/* aigw_metrics; */

char *
ngx_http_aigw_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_aigw_loc_conf_t  *alcf = conf;

    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_aigw_main_conf_t  *amcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_http_aigw_metrics_handler) {
        return "is duplicate";
    }

    /*
     * The page is never a gateway request, also where "aigw on" is
     * inherited from the server: the precontent handler would otherwise
     * answer it with a 404 "unknown_url".
     */

    if (alcf->enable == 1) {
        return "cannot be used in a location with \"aigw on\"";
    }

    alcf->enable = 0;
    clcf->handler = ngx_http_aigw_metrics_handler;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_aigw_module);
    amcf->metrics_page = 1;

    return NGX_CONF_OK;
}


/* aigw_metrics_zone size; */

char *
ngx_http_aigw_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_aigw_main_conf_t  *amcf = conf;

    size_t      min;
    ssize_t     size;
    ngx_str_t  *value;

    if (amcf->metrics_size) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid zone size \"%V\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    /* two regions and the slab allocator's own pages */
    min = 2 * NGX_HTTP_AIGW_M_STRIDE + 64 * 1024;

    if ((size_t) size < min) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone size \"%V\" is too small: at least %uzk",
                           &value[1], (min + 1023) / 1024);
        return NGX_CONF_ERROR;
    }

    amcf->metrics_size = size;

    return NGX_CONF_OK;
}


/*
 * In postconfiguration: the zone and the log-phase handler, whenever the
 * http block configures aigw (a channel) or the page, so that counting has
 * begun whenever a page is added by a later reload.
 */

ngx_int_t
ngx_http_aigw_metrics_init(ngx_conf_t *cf)
{
    size_t                        size;
    ngx_shm_zone_t               *shm_zone;
    ngx_http_handler_pt          *h;
    ngx_http_core_main_conf_t    *cmcf;
    ngx_http_aigw_main_conf_t    *amcf;
    ngx_http_aigw_metrics_ctx_t  *mctx;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_aigw_module);

    if (!amcf->metrics_page && amcf->metrics_size == 0
        && amcf->channels.nelts == 0)
    {
        return NGX_OK;
    }

    size = amcf->metrics_size ? amcf->metrics_size
                              : NGX_HTTP_AIGW_M_ZONE_SIZE;

    mctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_aigw_metrics_ctx_t));
    if (mctx == NULL) {
        return NGX_ERROR;
    }

    mctx->cycle = cf->cycle;

    shm_zone = ngx_shared_memory_add(cf, &ngx_http_aigw_metrics_zone_name,
                                     size, &ngx_http_aigw_module);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "shared zone \"%V\" is already used",
                           &ngx_http_aigw_metrics_zone_name);
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_aigw_metrics_init_zone;
    shm_zone->data = mctx;

    amcf->metrics_zone = shm_zone;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_aigw_metrics_log_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_aigw_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_aigw_metrics_ctx_t  *octx = data;

    size_t                        len;
    u_char                       *regions;
    ngx_uint_t                    n;
    ngx_slab_pool_t              *shpool;
    ngx_http_aigw_metrics_sh_t   *sh;
    ngx_http_aigw_metrics_ctx_t  *mctx;

    mctx = shm_zone->data;

    if (octx) {

        /*
         * A reload with the same size: nginx keeps the memory, and so do
         * we, counters and all.  Old workers still write there, so a
         * different layout (a new module binary) cannot be laid over it.
         */

        mctx->sh = octx->sh;
        mctx->shpool = octx->shpool;

        if (mctx->sh->magic != NGX_HTTP_AIGW_M_MAGIC
            || mctx->sh->stride != NGX_HTTP_AIGW_M_STRIDE)
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "aigw: the metrics zone \"%V\" has the layout of "
                          "another aigw version: change its size with "
                          "\"aigw_metrics_zone\" or restart nginx",
                          &shm_zone->shm.name);
            return NGX_ERROR;
        }

        ngx_http_aigw_metrics_check_workers(mctx, shm_zone);

        return NGX_OK;
    }

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;
    mctx->shpool = shpool;

    if (shm_zone->shm.exists) {
        mctx->sh = shpool->data;
        return NGX_OK;
    }

    sh = ngx_slab_alloc(shpool, sizeof(ngx_http_aigw_metrics_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    len = sizeof(" in aigw metrics zone \"\"") + shm_zone->shm.name.len;

    shpool->log_ctx = ngx_slab_alloc(shpool, len);
    if (shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(shpool->log_ctx, " in aigw metrics zone \"%V\"%Z",
                &shm_zone->shm.name);

    /*
     * As many regions as fit.  A region is cleared when it is first handed
     * out (see ngx_http_aigw_metrics_claim()), so the pages of regions
     * that no worker uses are never touched.
     */

    shpool->log_nomem = 0;

    n = (shpool->end - shpool->start) / NGX_HTTP_AIGW_M_STRIDE;
    n = ngx_min(n, NGX_HTTP_AIGW_M_MAX_REGIONS);

    for (regions = NULL; n > 0; n--) {
        regions = ngx_slab_alloc(shpool, n * NGX_HTTP_AIGW_M_STRIDE);
        if (regions) {
            break;
        }
    }

    shpool->log_nomem = 1;

    if (regions == NULL) {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "aigw: the metrics zone \"%V\" is too small",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    sh->magic = NGX_HTTP_AIGW_M_MAGIC;
    sh->stride = NGX_HTTP_AIGW_M_STRIDE;
    sh->nregions = n;
    sh->used = 0;
    sh->regions = regions;

    shpool->data = sh;
    mctx->sh = sh;

    ngx_http_aigw_metrics_check_workers(mctx, shm_zone);

    return NGX_OK;
}


/*
 * Each worker needs a region, and after a reload the old workers keep
 * theirs until they finish: warn when the zone cannot hold both.
 */

static void
ngx_http_aigw_metrics_check_workers(ngx_http_aigw_metrics_ctx_t *mctx,
    ngx_shm_zone_t *shm_zone)
{
    ngx_uint_t        need;
    ngx_core_conf_t  *ccf;

    ccf = (ngx_core_conf_t *) ngx_get_conf(mctx->cycle->conf_ctx,
                                           ngx_core_module);

    if (ccf == NULL || !ccf->master || ccf->worker_processes <= 0) {
        return;
    }

    need = 2 * (ngx_uint_t) ccf->worker_processes;

    if (mctx->sh->nregions < need) {
        ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, 0,
                      "aigw: the metrics zone \"%V\" holds %ui worker "
                      "regions, %ui are needed for %i worker processes "
                      "and a reload: workers without one do not count "
                      "requests; use \"aigw_metrics_zone %uzk;\"",
                      &shm_zone->shm.name, mctx->sh->nregions, need,
                      ccf->worker_processes,
                      (need * NGX_HTTP_AIGW_M_STRIDE + 128 * 1024) / 1024);
    }
}


/* ------------------------------------------------------------- recording */


static ngx_int_t
ngx_http_aigw_metrics_log_handler(ngx_http_request_t *r)
{
    ngx_uint_t                  i, status, endpoint, found;
    ngx_msec_t                  up, last;
    ngx_msec_int_t              ms;
    ngx_time_t                 *tp;
    ngx_http_aigw_ctx_t        *ctx;
    ngx_http_aigw_mkey_t        k;
    ngx_http_aigw_region_t     *reg;
    ngx_http_aigw_series_t     *s;
    ngx_http_aigw_mchannel_t   *ch;
    ngx_http_upstream_state_t  *state;
    ngx_http_aigw_main_conf_t  *amcf;

    if (r != r->main) {
        return NGX_OK;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_aigw_module);

    if (amcf == NULL || amcf->metrics_zone == NULL) {
        return NGX_OK;
    }

    ctx = ngx_http_aigw_get_ctx(r);

    if (ctx == NULL || ctx->endpoint == 0) {
        return NGX_OK;
    }

    reg = ngx_http_aigw_metrics_region(amcf->metrics_zone,
                                       r->connection->log);
    if (reg == NULL) {
        return NGX_OK;
    }

    /* as $status */

    if (r->err_status) {
        status = r->err_status;

    } else {
        status = r->headers_out.status;
    }

    if (status > 999) {
        status = 0;
    }

    endpoint = ngx_http_aigw_metrics_endpoint(ctx->endpoint);

    ngx_memzero(&k, sizeof(ngx_http_aigw_mkey_t));

    k.kind = NGX_HTTP_AIGW_M_REQUESTS;
    k.endpoint = endpoint;
    k.status = status;

    if (ctx->channel) {
        k.model = ctx->model;
        k.channel = ctx->channel->name;
        k.provider = ctx->channel->provider + 1;
    }

    s = ngx_http_aigw_metrics_series(reg, &k);

    if (s) {
        s->v[NGX_HTTP_AIGW_M_COUNT]++;

        if (ctx->usage.found) {
            s->v[NGX_HTTP_AIGW_M_PROMPT] +=
                                 ngx_max(ctx->usage.prompt_tokens, 0);
            s->v[NGX_HTTP_AIGW_M_COMPLETION] +=
                                 ngx_max(ctx->usage.completion_tokens, 0);
            s->v[NGX_HTTP_AIGW_M_CACHED] +=
                                 ngx_max(ctx->usage.cached_tokens, 0);
            s->v[NGX_HTTP_AIGW_M_REASONING] +=
                                 ngx_max(ctx->usage.reasoning_tokens, 0);

            if (ctx->price) {
                s->v[NGX_HTTP_AIGW_M_COST] += ngx_http_aigw_cost(ctx);
            }
        }
    }

    if (ctx->err_code) {
        reg->rejections[ngx_http_aigw_metrics_reason(ctx->err_code)]++;
    }

    ch = NULL;

    /*
     * The upstream's time: the last attempt's response time for the
     * latency, all attempts' for the overhead.  States without a status
     * never got an answer timed (see $upstream_response_time).
     */

    found = 0;
    up = 0;
    last = 0;

    if (r->upstream_states) {
        state = r->upstream_states->elts;

        for (i = 0; i < r->upstream_states->nelts; i++) {
            if (state[i].status == 0
                || state[i].response_time == (ngx_msec_t) -1)
            {
                continue;
            }

            found = 1;
            last = state[i].response_time;
            up += last;
        }
    }

    if (found) {
        tp = ngx_timeofday();

        ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                               + (tp->msec - r->start_msec));
        ms = ngx_max(ms, 0);

        ngx_http_aigw_hist_observe(&reg->overhead[endpoint],
                                   &ngx_http_aigw_overhead_buckets,
                                   (ngx_msec_t) ms > up
                                   ? (ngx_msec_t) ms - up : 0);

        ch = ngx_http_aigw_metrics_channel(reg, &k.channel);

        if (ch) {
            ngx_http_aigw_hist_observe(&ch->latency,
                                       &ngx_http_aigw_latency_buckets, last);
        }
    }

    if (ctx->first_byte && ctx->ttft >= 0) {

        if (ch == NULL) {
            ch = ngx_http_aigw_metrics_channel(reg, &k.channel);
        }

        if (ch) {
            ngx_http_aigw_hist_observe(&ch->ttft, &ngx_http_aigw_ttft_buckets,
                                       (ngx_msec_t) ctx->ttft);
        }
    }

    return NGX_OK;
}


/*
 * For the failover logic: one more attempt of the request's model went to
 * another channel.
 */

void
ngx_http_aigw_metrics_failover(ngx_http_request_t *r)
{
    ngx_http_aigw_ctx_t        *ctx;
    ngx_http_aigw_mkey_t        k;
    ngx_http_aigw_region_t     *reg;
    ngx_http_aigw_series_t     *s;
    ngx_http_aigw_main_conf_t  *amcf;

    r = r->main;

    amcf = ngx_http_get_module_main_conf(r, ngx_http_aigw_module);

    if (amcf == NULL || amcf->metrics_zone == NULL) {
        return;
    }

    ctx = ngx_http_aigw_get_ctx(r);

    if (ctx == NULL) {
        return;
    }

    reg = ngx_http_aigw_metrics_region(amcf->metrics_zone,
                                       r->connection->log);
    if (reg == NULL) {
        return;
    }

    ngx_memzero(&k, sizeof(ngx_http_aigw_mkey_t));

    k.kind = NGX_HTTP_AIGW_M_FAILOVERS;
    k.model = ctx->model;

    s = ngx_http_aigw_metrics_series(reg, &k);

    if (s) {
        s->v[NGX_HTTP_AIGW_M_COUNT]++;
    }
}


/* This process's region of the zone, claimed on first use. */

static ngx_http_aigw_region_t *
ngx_http_aigw_metrics_region(ngx_shm_zone_t *shm_zone, ngx_log_t *log)
{
    ngx_pool_cleanup_t           *cln;
    ngx_http_aigw_region_t       *reg;
    ngx_http_aigw_metrics_ctx_t  *mctx;

    mctx = shm_zone->data;

    if (ngx_http_aigw_mregion && ngx_http_aigw_msh == mctx->sh) {
        return ngx_http_aigw_mregion;
    }

    /* no region free: try again a second later, not on every request */

    if (ngx_time() < ngx_http_aigw_mretry) {
        return NULL;
    }

    reg = ngx_http_aigw_metrics_claim(mctx->sh);

    if (reg == NULL) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "aigw: no free region in the metrics zone \"%V\" "
                      "for this worker: its requests are not counted; "
                      "make \"aigw_metrics_zone\" larger",
                      &shm_zone->shm.name);

        ngx_http_aigw_mretry = ngx_time() + 1;
        return NULL;
    }

    /* the cycle's pool is destroyed when the worker exits */

    cln = ngx_pool_cleanup_add(ngx_cycle->pool, 0);
    if (cln == NULL) {
        (void) ngx_atomic_cmp_set(&reg->owner, ngx_pid, 0);
        return NULL;
    }

    cln->handler = ngx_http_aigw_metrics_release;
    cln->data = reg;

    ngx_http_aigw_mregion = reg;
    ngx_http_aigw_msh = mctx->sh;

    return reg;
}


/*
 * A region given back, one whose owner died, or a region never used
 * before: those are taken in order, each by the one process that moved
 * sh->used past it, and cleared by it.
 */

static ngx_http_aigw_region_t *
ngx_http_aigw_metrics_claim(ngx_http_aigw_metrics_sh_t *sh)
{
    ngx_uint_t               i, used;
    ngx_atomic_uint_t        pid;
    ngx_http_aigw_region_t  *reg;

    used = ngx_min(sh->used, sh->nregions);

    for (i = 0; i < used; i++) {
        reg = (ngx_http_aigw_region_t *) (sh->regions + i * sh->stride);

        pid = reg->owner;

        if (pid == (ngx_atomic_uint_t) ngx_pid) {
            return reg;
        }

        if (pid == 0 && ngx_atomic_cmp_set(&reg->owner, 0, ngx_pid)) {
            return reg;
        }
    }

    /* the regions of processes that died without giving theirs back */

    for (i = 0; i < used; i++) {
        reg = (ngx_http_aigw_region_t *) (sh->regions + i * sh->stride);

        pid = reg->owner;

        if (pid != 0
            && kill((ngx_pid_t) pid, 0) == -1 && ngx_errno == NGX_ESRCH
            && ngx_atomic_cmp_set(&reg->owner, pid, ngx_pid))
        {
            return reg;
        }
    }

    for ( ;; ) {
        used = sh->used;

        if (used >= sh->nregions) {
            return NULL;
        }

        if (ngx_atomic_cmp_set(&sh->used, used, used + 1)) {
            break;
        }
    }

    /*
     * Readers may already look at it: the counts are cleared before the
     * owner is set, and a reader skips a region without label sets.
     */

    reg = (ngx_http_aigw_region_t *) (sh->regions + used * sh->stride);

    ngx_memzero(reg, sizeof(ngx_http_aigw_region_t));
    ngx_memory_barrier();

    reg->owner = ngx_pid;

    return reg;
}


static void
ngx_http_aigw_metrics_release(void *data)
{
    ngx_http_aigw_region_t  *reg = data;

    if (ngx_http_aigw_mregion != reg) {
        return;
    }

    ngx_http_aigw_mregion = NULL;
    ngx_http_aigw_msh = NULL;

    (void) ngx_atomic_cmp_set(&reg->owner, ngx_pid, 0);
}


/*
 * The series of a label set; a new label set beyond the region's share
 * counts under model="__other__", which may take the rest of the table
 * and of the arena (one slot always stays empty: it ends every probe).
 */

static ngx_http_aigw_series_t *
ngx_http_aigw_metrics_series(ngx_http_aigw_region_t *reg,
    ngx_http_aigw_mkey_t *k)
{
    ngx_http_aigw_series_t  *s;

    if (k->model.len <= NGX_HTTP_AIGW_M_LABEL_MAX
        && k->channel.len <= NGX_HTTP_AIGW_M_LABEL_MAX)
    {
        s = ngx_http_aigw_metrics_series_find(reg, k,
                                              NGX_HTTP_AIGW_M_SERIES_MAX,
                                              NGX_HTTP_AIGW_M_ARENA_MAX);
        if (s) {
            return s;
        }
    }

    k->model = ngx_http_aigw_metrics_other;

    if (k->channel.len > NGX_HTTP_AIGW_M_LABEL_MAX) {
        k->channel = ngx_http_aigw_metrics_other;
    }

    s = ngx_http_aigw_metrics_series_find(reg, k,
                                          NGX_HTTP_AIGW_M_SERIES - 1,
                                          NGX_HTTP_AIGW_M_ARENA);
    if (s == NULL) {
        reg->dropped++;
    }

    return s;
}


static ngx_http_aigw_series_t *
ngx_http_aigw_metrics_series_find(ngx_http_aigw_region_t *reg,
    ngx_http_aigw_mkey_t *k, ngx_uint_t max, size_t arena_max)
{
    u_char                  *p;
    size_t                   len;
    uint32_t                 hash;
    ngx_uint_t               i, n;
    ngx_http_aigw_series_t  *s;

    hash = ngx_http_aigw_metrics_hash(k);

    i = hash & (NGX_HTTP_AIGW_M_SERIES - 1);

    for (n = 0; n < NGX_HTTP_AIGW_M_SERIES; n++) {
        s = &reg->series[i];

        if (!s->used) {
            break;
        }

        if (s->hash == hash
            && s->kind == k->kind
            && s->provider == k->provider
            && s->endpoint == k->endpoint
            && s->status == k->status
            && s->model_len == k->model.len
            && s->channel_len == k->channel.len
            && ngx_memcmp(reg->arena + s->key, k->model.data, k->model.len)
               == 0
            && ngx_memcmp(reg->arena + s->key + s->model_len,
                          k->channel.data, k->channel.len)
               == 0)
        {
            return s;
        }

        i = (i + 1) & (NGX_HTTP_AIGW_M_SERIES - 1);
    }

    len = k->model.len + k->channel.len;

    if (n == NGX_HTTP_AIGW_M_SERIES
        || reg->nseries >= max
        || reg->arena_used + len > arena_max)
    {
        return NULL;
    }

    /* fill the entry, then publish it */

    p = reg->arena + reg->arena_used;
    p = ngx_cpymem(p, k->model.data, k->model.len);
    ngx_memcpy(p, k->channel.data, k->channel.len);

    s->hash = hash;
    s->key = (uint32_t) reg->arena_used;
    s->model_len = (uint16_t) k->model.len;
    s->channel_len = (uint16_t) k->channel.len;
    s->status = (uint16_t) k->status;
    s->kind = (u_char) k->kind;
    s->provider = (u_char) k->provider;
    s->endpoint = (u_char) k->endpoint;
    ngx_memzero(s->v, sizeof(s->v));

    reg->arena_used += len;

    ngx_memory_barrier();

    s->used = 1;
    reg->nseries++;

    return s;
}


static ngx_http_aigw_mchannel_t *
ngx_http_aigw_metrics_channel(ngx_http_aigw_region_t *reg, ngx_str_t *name)
{
    ngx_http_aigw_mchannel_t  *ch;

    if (name->len <= NGX_HTTP_AIGW_M_LABEL_MAX) {
        ch = ngx_http_aigw_metrics_channel_find(reg, name,
                                                NGX_HTTP_AIGW_M_CHANNELS_MAX,
                                                NGX_HTTP_AIGW_M_ARENA_MAX);
        if (ch) {
            return ch;
        }
    }

    ch = ngx_http_aigw_metrics_channel_find(reg, &ngx_http_aigw_metrics_other,
                                            NGX_HTTP_AIGW_M_CHANNELS - 1,
                                            NGX_HTTP_AIGW_M_ARENA);
    if (ch == NULL) {
        reg->dropped++;
    }

    return ch;
}


static ngx_http_aigw_mchannel_t *
ngx_http_aigw_metrics_channel_find(ngx_http_aigw_region_t *reg,
    ngx_str_t *name, ngx_uint_t max, size_t arena_max)
{
    uint32_t                   hash;
    ngx_uint_t                 i, n;
    ngx_http_aigw_mchannel_t  *ch;

    hash = (uint32_t) (ngx_http_aigw_metrics_mix(0, name->data, name->len)
                       >> 32);

    i = hash & (NGX_HTTP_AIGW_M_CHANNELS - 1);

    for (n = 0; n < NGX_HTTP_AIGW_M_CHANNELS; n++) {
        ch = &reg->channels[i];

        if (!ch->used) {
            break;
        }

        if (ch->hash == hash
            && ch->len == name->len
            && ngx_memcmp(reg->arena + ch->key, name->data, name->len) == 0)
        {
            return ch;
        }

        i = (i + 1) & (NGX_HTTP_AIGW_M_CHANNELS - 1);
    }

    if (n == NGX_HTTP_AIGW_M_CHANNELS
        || reg->nchannels >= max
        || reg->arena_used + name->len > arena_max)
    {
        return NULL;
    }

    ngx_memcpy(reg->arena + reg->arena_used, name->data, name->len);

    ch->hash = hash;
    ch->key = (uint32_t) reg->arena_used;
    ch->len = (uint16_t) name->len;
    ngx_memzero(&ch->latency, sizeof(ngx_http_aigw_hist_t));
    ngx_memzero(&ch->ttft, sizeof(ngx_http_aigw_hist_t));

    reg->arena_used += name->len;

    ngx_memory_barrier();

    ch->used = 1;
    reg->nchannels++;

    return ch;
}


/*
 * The hash of a label set, for the tables of a region and of the page.
 * Computed for every request: eight bytes at a time with a multiply,
 * rather than crc32's table lookup per byte.  The regions keep it, so a
 * change of it is a change of the zone's layout (NGX_HTTP_AIGW_M_MAGIC).
 */

#define NGX_HTTP_AIGW_M_MUL  0x9e3779b97f4a7c15ULL

static uint64_t
ngx_http_aigw_metrics_mix(uint64_t h, u_char *p, size_t len)
{
    size_t    n;
    uint32_t  a, b;
    uint64_t  w;

    h = (h ^ len) * NGX_HTTP_AIGW_M_MUL;

    for (n = len; n > 8; n -= 8, p += 8) {
        ngx_memcpy(&w, p, 8);
        h = (h ^ w) * NGX_HTTP_AIGW_M_MUL;
        h ^= h >> 29;
    }

    /* the last 1 to 8 bytes, in loads that may overlap the ones before */

    if (len >= 8) {
        ngx_memcpy(&w, p + n - 8, 8);

    } else if (n >= 4) {
        ngx_memcpy(&a, p, 4);
        ngx_memcpy(&b, p + n - 4, 4);
        w = (uint64_t) a << 32 | b;

    } else if (n) {
        w = (uint64_t) p[0] << 16 | (uint64_t) p[n >> 1] << 8 | p[n - 1];

    } else {
        w = 0;
    }

    h = (h ^ w) * NGX_HTTP_AIGW_M_MUL;

    return h ^ (h >> 29);
}


static uint32_t
ngx_http_aigw_metrics_hash(ngx_http_aigw_mkey_t *k)
{
    uint64_t  h;

    h = ngx_http_aigw_metrics_mix(0, k->model.data, k->model.len);
    h = ngx_http_aigw_metrics_mix(h, k->channel.data, k->channel.len);

    h ^= (uint64_t) (k->kind & 0xff)
         | (uint64_t) (k->provider & 0xff) << 8
         | (uint64_t) (k->endpoint & 0xff) << 16
         | (uint64_t) (k->status & 0xffff) << 24;

    h *= NGX_HTTP_AIGW_M_MUL;

    return (uint32_t) (h >> 32);
}


static void
ngx_http_aigw_hist_observe(ngx_http_aigw_hist_t *h,
    ngx_http_aigw_buckets_t *b, ngx_msec_t ms)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_AIGW_M_BUCKETS - 1; i++) {
        if (ms <= b->bound[i]) {
            break;
        }
    }

    h->bucket[i]++;
    h->sum += ms;
}


static ngx_uint_t
ngx_http_aigw_metrics_endpoint(ngx_uint_t endpoint)
{
    switch (endpoint) {
    case NGX_HTTP_AIGW_CHAT:
        return 1;
    case NGX_HTTP_AIGW_COMPLETIONS:
        return 2;
    case NGX_HTTP_AIGW_EMBEDDINGS:
        return 3;
    case NGX_HTTP_AIGW_MODELS:
        return 4;
    case NGX_HTTP_AIGW_PASSTHROUGH:
        return 5;
    case NGX_HTTP_AIGW_MESSAGES:
        return 6;
    default:
        return 0;
    }
}


/* Only on an error answer: a short list of string compares. */

static ngx_uint_t
ngx_http_aigw_metrics_reason(const char *code)
{
    ngx_uint_t  i;

    for (i = 1; ngx_http_aigw_metrics_reasons[i]; i++) {
        if (ngx_strcmp(code, ngx_http_aigw_metrics_reasons[i]) == 0) {
            return i;
        }
    }

    return 0;
}


/* ------------------------------------------------------------------ page */


static ngx_int_t
ngx_http_aigw_metrics_handler(ngx_http_request_t *r)
{
    ngx_int_t               rc;
    ngx_table_elt_t        *h;
    ngx_http_aigw_mpage_t   pg;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "GET, HEAD");

        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);

    if (rc != NGX_OK) {
        return rc;
    }

    ngx_memzero(&pg, sizeof(ngx_http_aigw_mpage_t));
    pg.pool = r->pool;
    pg.last = &pg.out;

    if (ngx_http_aigw_metrics_page(r, &pg) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_type = ngx_http_aigw_metrics_type;
    r->headers_out.content_type_len = ngx_http_aigw_metrics_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = pg.size;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    pg.b->last_buf = (r == r->main) ? 1 : 0;
    pg.b->last_in_chain = 1;

    return ngx_http_output_filter(r, pg.out);
}


static ngx_int_t
ngx_http_aigw_metrics_page(ngx_http_request_t *r, ngx_http_aigw_mpage_t *pg)
{
    u_char                       *p;
    uint64_t                      dropped;
    uint64_t                      rejections[NGX_HTTP_AIGW_M_REASONS];
    ngx_str_t                     s;
    ngx_uint_t                    i, n, state;
    ngx_http_aigw_hist_t          overhead[NGX_HTTP_AIGW_M_ENDPOINTS];
    ngx_http_aigw_mkey_t          k;
    ngx_http_aigw_mrow_t         *row;
    ngx_http_aigw_mtable_t        series, tokens, channels;
    ngx_http_aigw_channel_t     **chp;
    ngx_http_aigw_main_conf_t    *amcf;
    ngx_http_aigw_metrics_ctx_t  *mctx;

    static const struct {
        const char  *name;
        const char  *help;
        ngx_uint_t   value;
    } token_families[] = {
        { "aigw_prompt_tokens_total",
          "Prompt tokens the upstreams reported, cached ones included.",
          NGX_HTTP_AIGW_M_PROMPT },
        { "aigw_completion_tokens_total",
          "Completion tokens the upstreams reported, reasoning ones "
          "included.",
          NGX_HTTP_AIGW_M_COMPLETION },
        { "aigw_cached_tokens_total",
          "Prompt tokens read from the provider's prompt cache.",
          NGX_HTTP_AIGW_M_CACHED },
        { "aigw_reasoning_tokens_total",
          "Completion tokens spent on reasoning.",
          NGX_HTTP_AIGW_M_REASONING },
        { "aigw_cost_usd_total",
          "Cost of the reported usage in USD at the prices file's prices.",
          NGX_HTTP_AIGW_M_COST }
    };

    amcf = ngx_http_get_module_main_conf(r, ngx_http_aigw_module);

    ngx_memzero(rejections, sizeof(rejections));
    ngx_memzero(overhead, sizeof(overhead));
    ngx_memzero(&series, sizeof(ngx_http_aigw_mtable_t));
    ngx_memzero(&tokens, sizeof(ngx_http_aigw_mtable_t));
    ngx_memzero(&channels, sizeof(ngx_http_aigw_mtable_t));
    dropped = 0;

    mctx = amcf->metrics_zone ? amcf->metrics_zone->data : NULL;

    if (mctx && mctx->sh
        && ngx_http_aigw_metrics_collect(r, mctx->sh, &series, &tokens,
                                         &channels, rejections, overhead,
                                         &dropped)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* build */

    p = ngx_http_aigw_mpage_reserve(pg, 512);
    if (p == NULL) {
        return NGX_ERROR;
    }

    pg->b->last = ngx_sprintf(p,
                    "# HELP aigw_build_info The aigw module's version.\n"
                    "# TYPE aigw_build_info gauge\n"
                    "aigw_build_info{version=\"%s\",nginx=\"%s\"} 1\n",
                    NGX_HTTP_AIGW_VERSION, NGINX_VERSION);

    /* requests */

    if (ngx_http_aigw_mpage_text(pg,
            "# HELP aigw_requests_total Gateway requests by model, channel, "
            "provider, endpoint and status (model and channel are empty "
            "for requests that were not routed).\n"
            "# TYPE aigw_requests_total counter\n")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < series.nrows; i++) {
        row = &series.rows[i];

        if (row->k.kind == NGX_HTTP_AIGW_M_REQUESTS
            && ngx_http_aigw_mpage_counter(pg, "aigw_requests_total",
                                           &row->k, 5,
                                           row->v[NGX_HTTP_AIGW_M_COUNT], 0)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* tokens and cost, by model and channel */

    for (n = 0; n < sizeof(token_families) / sizeof(token_families[0]); n++)
    {
        p = ngx_http_aigw_mpage_reserve(pg, 512);
        if (p == NULL) {
            return NGX_ERROR;
        }

        pg->b->last = ngx_sprintf(p, "# HELP %s %s\n# TYPE %s counter\n",
                                  token_families[n].name,
                                  token_families[n].help,
                                  token_families[n].name);

        for (i = 0; i < tokens.nrows; i++) {
            row = &tokens.rows[i];

            if (ngx_http_aigw_mpage_counter(pg, token_families[n].name,
                                            &row->k, 2,
                                            row->v[token_families[n].value],
                                            token_families[n].value
                                            == NGX_HTTP_AIGW_M_COST)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    /* failovers */

    if (ngx_http_aigw_mpage_text(pg,
            "# HELP aigw_failovers_total Attempts retried on another "
            "channel, by model.\n"
            "# TYPE aigw_failovers_total counter\n")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < series.nrows; i++) {
        row = &series.rows[i];

        if (row->k.kind == NGX_HTTP_AIGW_M_FAILOVERS
            && ngx_http_aigw_mpage_counter(pg, "aigw_failovers_total",
                                           &row->k, 1,
                                           row->v[NGX_HTTP_AIGW_M_COUNT], 0)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* rejections: every reason, so that rates start at zero */

    if (ngx_http_aigw_mpage_text(pg,
            "# HELP aigw_rejections_total Requests the gateway answered "
            "with an error of its own, by error code.\n"
            "# TYPE aigw_rejections_total counter\n")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; ngx_http_aigw_metrics_reasons[i]; i++) {
        p = ngx_http_aigw_mpage_reserve(pg, 128);
        if (p == NULL) {
            return NGX_ERROR;
        }

        pg->b->last = ngx_sprintf(p,
                                  "aigw_rejections_total{reason=\"%s\"} %uL\n",
                                  ngx_http_aigw_metrics_reasons[i],
                                  rejections[i]);
    }

    /* histograms */

    if (ngx_http_aigw_mpage_text(pg,
            "# HELP aigw_upstream_latency_seconds Response time of the "
            "upstream (the last attempt's), by channel.\n"
            "# TYPE aigw_upstream_latency_seconds histogram\n")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < channels.nrows; i++) {
        row = &channels.rows[i];

        if (ngx_http_aigw_mpage_hist(pg, "aigw_upstream_latency_seconds",
                                     "channel", &row->k.channel,
                                     &row->hist[0],
                                     &ngx_http_aigw_latency_buckets)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_aigw_mpage_text(pg,
            "# HELP aigw_time_to_first_token_seconds Time from the "
            "request's start to the first byte of the answer, by "
            "channel.\n"
            "# TYPE aigw_time_to_first_token_seconds histogram\n")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < channels.nrows; i++) {
        row = &channels.rows[i];

        if (ngx_http_aigw_mpage_hist(pg, "aigw_time_to_first_token_seconds",
                                     "channel", &row->k.channel,
                                     &row->hist[1],
                                     &ngx_http_aigw_ttft_buckets)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_aigw_mpage_text(pg,
            "# HELP aigw_gateway_overhead_seconds Time of proxied requests "
            "not spent waiting for the upstream (reading the request, "
            "admission, sending the answer), by endpoint.\n"
            "# TYPE aigw_gateway_overhead_seconds histogram\n")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 1; i < NGX_HTTP_AIGW_M_ENDPOINTS; i++) {
        for (n = 0; n < NGX_HTTP_AIGW_M_BUCKETS; n++) {
            if (overhead[i].bucket[n]) {
                break;
            }
        }

        if (n == NGX_HTTP_AIGW_M_BUCKETS) {
            continue;
        }

        if (ngx_http_aigw_mpage_hist(pg, "aigw_gateway_overhead_seconds",
                                     "endpoint",
                                     &ngx_http_aigw_metrics_endpoints[i],
                                     &overhead[i],
                                     &ngx_http_aigw_overhead_buckets)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* channels of this configuration */

    if (ngx_http_aigw_mpage_text(pg,
            "# HELP aigw_channel_up Whether a configured channel is active "
            "(0: its key_env variable was empty).\n"
            "# TYPE aigw_channel_up gauge\n")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    chp = amcf->channels.elts;

    ngx_memzero(&k, sizeof(ngx_http_aigw_mkey_t));

    for (i = 0; i < amcf->channels.nelts; i++) {
        k.channel = chp[i]->name;
        k.provider = chp[i]->provider + 1;

        if (ngx_http_aigw_mpage_counter(pg, "aigw_channel_up", &k, 3,
                                        chp[i]->disabled ? 0 : 1, 0)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (ngx_http_aigw_mpage_text(pg,
            "# HELP aigw_channel_circuit_state State of a channel's circuit "
            "breaker: 0 closed, 1 open, 2 half-open.\n"
            "# TYPE aigw_channel_circuit_state gauge\n")
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < amcf->channels.nelts; i++) {
        state = ngx_http_aigw_circuit_state
                ? ngx_http_aigw_circuit_state(chp[i]) : 0;

        s = chp[i]->name;

        p = ngx_http_aigw_mpage_reserve(pg, 128 + 2 * s.len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        p = ngx_cpymem(p, "aigw_channel_circuit_state{channel=\"",
                       sizeof("aigw_channel_circuit_state{channel=\"") - 1);
        p = ngx_http_aigw_metrics_escape(p, &s);
        pg->b->last = ngx_sprintf(p, "\"} %ui\n", state);
    }

    p = ngx_http_aigw_mpage_reserve(pg, 512);
    if (p == NULL) {
        return NGX_ERROR;
    }

    pg->b->last = ngx_sprintf(p,
                    "# HELP aigw_metrics_dropped_total Observations that "
                    "found no room in the metrics zone's tables.\n"
                    "# TYPE aigw_metrics_dropped_total counter\n"
                    "aigw_metrics_dropped_total %uL\n", dropped);

    pg->size += pg->b->last - pg->b->pos;

    return NGX_OK;
}


/*
 * Sums every region of the zone: label sets by their full key (requests,
 * failovers), by model and channel (tokens, cost), channels' histograms
 * by channel, and the fixed counters.
 */

static ngx_int_t
ngx_http_aigw_metrics_collect(ngx_http_request_t *r,
    ngx_http_aigw_metrics_sh_t *sh, ngx_http_aigw_mtable_t *series,
    ngx_http_aigw_mtable_t *tokens, ngx_http_aigw_mtable_t *channels,
    uint64_t *rejections, ngx_http_aigw_hist_t *overhead, uint64_t *dropped)
{
    uint64_t                   nseries, nchannels;
    ngx_uint_t                 i, j, n, used;
    ngx_http_aigw_mkey_t       k;
    ngx_http_aigw_mrow_t      *row;
    ngx_http_aigw_region_t    *reg;
    ngx_http_aigw_series_t    *s;
    ngx_http_aigw_mchannel_t  *ch;

    nseries = 0;
    nchannels = 0;
    used = ngx_min(sh->used, sh->nregions);

    for (i = 0; i < used; i++) {
        reg = (ngx_http_aigw_region_t *) (sh->regions + i * sh->stride);
        nseries += reg->nseries;
        nchannels += reg->nchannels;
    }

    /* room for label sets that appear while the page is built */

    if (ngx_http_aigw_mtable_init(series, r->pool, nseries + 64) != NGX_OK
        || ngx_http_aigw_mtable_init(channels, r->pool, nchannels + 16)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < used; i++) {
        reg = (ngx_http_aigw_region_t *) (sh->regions + i * sh->stride);

        /* every recorded request makes a label set or is dropped */

        if (reg->nseries == 0 && reg->dropped == 0) {
            continue;
        }

        *dropped += reg->dropped;

        for (j = 0; j < NGX_HTTP_AIGW_M_REASONS; j++) {
            rejections[j] += reg->rejections[j];
        }

        for (j = 0; j < NGX_HTTP_AIGW_M_ENDPOINTS; j++) {
            for (n = 0; n < NGX_HTTP_AIGW_M_BUCKETS; n++) {
                overhead[j].bucket[n] += reg->overhead[j].bucket[n];
            }

            overhead[j].sum += reg->overhead[j].sum;
        }

        for (j = 0; j < NGX_HTTP_AIGW_M_SERIES; j++) {
            s = &reg->series[j];

            if (!s->used) {
                continue;
            }

            ngx_memory_barrier();

            if ((size_t) s->key + s->model_len + s->channel_len
                > NGX_HTTP_AIGW_M_ARENA)
            {
                continue;
            }

            k.model.data = reg->arena + s->key;
            k.model.len = s->model_len;
            k.channel.data = reg->arena + s->key + s->model_len;
            k.channel.len = s->channel_len;
            k.kind = s->kind;
            k.provider = s->provider;
            k.endpoint = s->endpoint;
            k.status = s->status;

            row = ngx_http_aigw_mtable_add(series, &k);

            if (row == NULL) {
                continue;
            }

            for (n = 0; n < NGX_HTTP_AIGW_M_VALUES; n++) {
                row->v[n] += s->v[n];
            }
        }

        for (j = 0; j < NGX_HTTP_AIGW_M_CHANNELS; j++) {
            ch = &reg->channels[j];

            if (!ch->used) {
                continue;
            }

            ngx_memory_barrier();

            if ((size_t) ch->key + ch->len > NGX_HTTP_AIGW_M_ARENA) {
                continue;
            }

            ngx_memzero(&k, sizeof(ngx_http_aigw_mkey_t));
            k.kind = NGX_HTTP_AIGW_M_CHANNEL;
            k.channel.data = reg->arena + ch->key;
            k.channel.len = ch->len;

            row = ngx_http_aigw_mtable_add(channels, &k);

            if (row == NULL) {
                continue;
            }

            if (row->hist == NULL) {
                row->hist = ngx_pcalloc(r->pool,
                                        2 * sizeof(ngx_http_aigw_hist_t));
                if (row->hist == NULL) {
                    return NGX_ERROR;
                }
            }

            for (n = 0; n < NGX_HTTP_AIGW_M_BUCKETS; n++) {
                row->hist[0].bucket[n] += ch->latency.bucket[n];
                row->hist[1].bucket[n] += ch->ttft.bucket[n];
            }

            row->hist[0].sum += ch->latency.sum;
            row->hist[1].sum += ch->ttft.sum;
        }
    }

    /* tokens and cost by model and channel, from the requests */

    if (ngx_http_aigw_mtable_init(tokens, r->pool, series->nrows + 1)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (i = 0; i < series->nrows; i++) {
        if (series->rows[i].k.kind != NGX_HTTP_AIGW_M_REQUESTS) {
            continue;
        }

        ngx_memzero(&k, sizeof(ngx_http_aigw_mkey_t));
        k.model = series->rows[i].k.model;
        k.channel = series->rows[i].k.channel;

        row = ngx_http_aigw_mtable_add(tokens, &k);

        if (row == NULL) {
            continue;
        }

        for (n = 0; n < NGX_HTTP_AIGW_M_VALUES; n++) {
            row->v[n] += series->rows[i].v[n];
        }
    }

    /* a stable order for people reading the page (the index is done) */

    ngx_qsort(series->rows, series->nrows, sizeof(ngx_http_aigw_mrow_t),
              ngx_http_aigw_mrow_cmp);
    ngx_qsort(tokens->rows, tokens->nrows, sizeof(ngx_http_aigw_mrow_t),
              ngx_http_aigw_mrow_cmp);
    ngx_qsort(channels->rows, channels->nrows, sizeof(ngx_http_aigw_mrow_t),
              ngx_http_aigw_mrow_cmp);

    return NGX_OK;
}


static ngx_int_t
ngx_http_aigw_mtable_init(ngx_http_aigw_mtable_t *t, ngx_pool_t *pool,
    ngx_uint_t max)
{
    ngx_uint_t  size;

    /* at most half full: every probe ends at an empty slot */

    for (size = 16; size < 2 * max; size <<= 1) { /* void */ }

    t->rows = ngx_palloc(pool, max * sizeof(ngx_http_aigw_mrow_t));
    t->index = ngx_pcalloc(pool, size * sizeof(ngx_uint_t));

    if (t->rows == NULL || t->index == NULL) {
        return NGX_ERROR;
    }

    t->nrows = 0;
    t->max = max;
    t->mask = size - 1;

    return NGX_OK;
}


static ngx_http_aigw_mrow_t *
ngx_http_aigw_mtable_add(ngx_http_aigw_mtable_t *t, ngx_http_aigw_mkey_t *k)
{
    uint32_t               hash;
    ngx_uint_t             i;
    ngx_http_aigw_mrow_t  *row;

    hash = ngx_http_aigw_metrics_hash(k);

    for (i = hash & t->mask; t->index[i]; i = (i + 1) & t->mask) {
        row = &t->rows[t->index[i] - 1];

        if (row->hash == hash
            && row->k.kind == k->kind
            && row->k.provider == k->provider
            && row->k.endpoint == k->endpoint
            && row->k.status == k->status
            && row->k.model.len == k->model.len
            && row->k.channel.len == k->channel.len
            && ngx_memcmp(row->k.model.data, k->model.data, k->model.len)
               == 0
            && ngx_memcmp(row->k.channel.data, k->channel.data,
                          k->channel.len)
               == 0)
        {
            return row;
        }
    }

    if (t->nrows == t->max) {
        return NULL;
    }

    row = &t->rows[t->nrows++];
    ngx_memzero(row, sizeof(ngx_http_aigw_mrow_t));
    row->k = *k;
    row->hash = hash;

    t->index[i] = t->nrows;

    return row;
}


static int ngx_libc_cdecl
ngx_http_aigw_mrow_cmp(const void *one, const void *two)
{
    const ngx_http_aigw_mrow_t  *a = one;
    const ngx_http_aigw_mrow_t  *b = two;

    ngx_int_t  rc;

    if (a->k.kind != b->k.kind) {
        return a->k.kind < b->k.kind ? -1 : 1;
    }

    rc = ngx_memn2cmp(a->k.model.data, b->k.model.data, a->k.model.len,
                      b->k.model.len);
    if (rc) {
        return rc < 0 ? -1 : 1;
    }

    rc = ngx_memn2cmp(a->k.channel.data, b->k.channel.data,
                      a->k.channel.len, b->k.channel.len);
    if (rc) {
        return rc < 0 ? -1 : 1;
    }

    if (a->k.endpoint != b->k.endpoint) {
        return a->k.endpoint < b->k.endpoint ? -1 : 1;
    }

    if (a->k.status != b->k.status) {
        return a->k.status < b->k.status ? -1 : 1;
    }

    if (a->k.provider != b->k.provider) {
        return a->k.provider < b->k.provider ? -1 : 1;
    }

    return 0;
}


/* At least n free bytes at pg->b->last: the page is never truncated. */

static u_char *
ngx_http_aigw_mpage_reserve(ngx_http_aigw_mpage_t *pg, size_t n)
{
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (pg->b && (size_t) (pg->b->end - pg->b->last) >= n) {
        return pg->b->last;
    }

    b = ngx_create_temp_buf(pg->pool, ngx_max(n, 32768));
    if (b == NULL) {
        return NULL;
    }

    cl = ngx_alloc_chain_link(pg->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    if (pg->b) {
        pg->size += pg->b->last - pg->b->pos;
    }

    *pg->last = cl;
    pg->last = &cl->next;
    pg->b = b;

    return b->last;
}


static ngx_int_t
ngx_http_aigw_mpage_text(ngx_http_aigw_mpage_t *pg, const char *text)
{
    u_char  *p;
    size_t   len;

    len = ngx_strlen(text);

    p = ngx_http_aigw_mpage_reserve(pg, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    pg->b->last = ngx_cpymem(p, text, len);

    return NGX_OK;
}


/*
 * name{labels} value: with "labels" 1 the model, 2 model and channel,
 * 3 channel and provider, 5 all of the key.
 */

static ngx_int_t
ngx_http_aigw_mpage_counter(ngx_http_aigw_mpage_t *pg, const char *name,
    ngx_http_aigw_mkey_t *k, ngx_uint_t labels, uint64_t value,
    ngx_uint_t usd)
{
    u_char     *p;
    ngx_str_t  *provider;

    p = ngx_http_aigw_mpage_reserve(pg, 256 + ngx_strlen(name)
                                        + 2 * (k->model.len + k->channel.len)
                                        + AIGW_COST_USD_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    provider = (k->provider >= 1 && k->provider <= 4)
               ? &ngx_http_aigw_providers[k->provider - 1] : NULL;

    p = ngx_sprintf(p, "%s{", name);

    if (labels != 3) {
        p = ngx_cpymem(p, "model=\"", sizeof("model=\"") - 1);
        p = ngx_http_aigw_metrics_escape(p, &k->model);
        *p++ = '"';
    }

    if (labels >= 2) {
        if (labels != 3) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, "channel=\"", sizeof("channel=\"") - 1);
        p = ngx_http_aigw_metrics_escape(p, &k->channel);
        *p++ = '"';
    }

    if (labels >= 3) {
        p = ngx_sprintf(p, ",provider=\"%V\"",
                        provider ? provider : &ngx_http_aigw_metrics_none);
    }

    if (labels == 5) {
        p = ngx_sprintf(p, ",endpoint=\"%V\",status=\"%ui\"",
                        &ngx_http_aigw_metrics_endpoints[
                            k->endpoint < NGX_HTTP_AIGW_M_ENDPOINTS
                            ? k->endpoint : 0],
                        k->status);
    }

    *p++ = '}';
    *p++ = ' ';

    if (usd) {
        p = aigw_cost_format_usd(p, value > (uint64_t) INT64_MAX
                                    ? INT64_MAX : (int64_t) value);

    } else {
        p = ngx_sprintf(p, "%uL", value);
    }

    *p++ = '\n';

    pg->b->last = p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_aigw_mpage_hist(ngx_http_aigw_mpage_t *pg, const char *name,
    const char *label, ngx_str_t *value, ngx_http_aigw_hist_t *h,
    ngx_http_aigw_buckets_t *b)
{
    u_char      *p, *labels;
    size_t       len;
    uint64_t     count;
    ngx_uint_t   i;

    /* the label, escaped once */

    labels = ngx_pnalloc(pg->pool, ngx_strlen(label) + 4 + 2 * value->len);
    if (labels == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(labels, "%s=\"", label);
    p = ngx_http_aigw_metrics_escape(p, value);
    *p++ = '"';
    len = p - labels;

    p = ngx_http_aigw_mpage_reserve(pg, NGX_HTTP_AIGW_M_BUCKETS
                                        * (ngx_strlen(name) + len + 64)
                                        + 2 * (ngx_strlen(name) + len + 64));
    if (p == NULL) {
        return NGX_ERROR;
    }

    /* the count is the +Inf bucket by construction, even mid-update */

    count = 0;

    for (i = 0; i < NGX_HTTP_AIGW_M_BUCKETS; i++) {
        count += h->bucket[i];
        p = ngx_sprintf(p, "%s_bucket{%*s,le=\"%V\"} %uL\n",
                        name, len, labels, &b->le[i], count);
    }

    p = ngx_sprintf(p, "%s_sum{%*s} %uL.%03uL\n", name, len, labels,
                    h->sum / 1000, h->sum % 1000);
    p = ngx_sprintf(p, "%s_count{%*s} %uL\n", name, len, labels, count);

    pg->b->last = p;

    return NGX_OK;
}


/* A label value of the text format: \, " and newline escaped. */

static u_char *
ngx_http_aigw_metrics_escape(u_char *dst, ngx_str_t *src)
{
    u_char  *p, *last;

    last = src->data + src->len;

    for (p = src->data; p < last; p++) {
        switch (*p) {
        case '\\':
            *dst++ = '\\';
            *dst++ = '\\';
            break;
        case '"':
            *dst++ = '\\';
            *dst++ = '"';
            break;
        case '\n':
            *dst++ = '\\';
            *dst++ = 'n';
            break;
        default:
            *dst++ = *p;
        }
    }

    return dst;
}
