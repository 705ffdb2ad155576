/*
 * aigw: the embedded counter store in nginx shared memory.
 *
 * One rbtree of subjects (keyed by the crc32 of the subject id, ties broken
 * by the id), under the zone's mutex, as ngx_http_limit_req_module does.
 * The zone survives "nginx -s reload".  Spend survives a restart: worker 0
 * writes every subject's spend to <state_path>/spend.tsv (a temp file, then
 * rename) when it changed, every "persist" interval and at exit, and a new
 * zone reads the file back.
 */

#include "ngx_http_aigw_module.h"


#define NGX_HTTP_AIGW_STATE_FILE  "spend.tsv"


typedef struct {
    u_char                      color;
    u_char                      dummy;
    u_short                     len;
    ngx_queue_t                 queue;
    aigw_counters_t             counters;
    u_char                      data[1];
} ngx_http_aigw_shm_node_t;


typedef struct {
    ngx_rbtree_t                rbtree;
    ngx_rbtree_node_t           sentinel;
    ngx_queue_t                 queue;      /* least recently used last */
    ngx_atomic_t                changes;    /* spend changes, for persist */
    ngx_uint_t                  evictions;  /* nodes freed, under the lock */
} ngx_http_aigw_shm_sh_t;


typedef struct {
    ngx_http_aigw_shm_sh_t     *sh;
    ngx_slab_pool_t            *shpool;
    ngx_str_t                   state_file;
} ngx_http_aigw_shm_ctx_t;


static ngx_int_t ngx_http_aigw_shm_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_aigw_shm_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_http_aigw_shm_node_t *ngx_http_aigw_shm_lookup(
    ngx_http_aigw_shm_ctx_t *ctx, ngx_str_t *id, ngx_uint_t create);
static void ngx_http_aigw_shm_load(ngx_http_aigw_shm_ctx_t *ctx,
    ngx_log_t *log);
static void ngx_http_aigw_shm_persist_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_aigw_shm_persist(ngx_http_aigw_shm_ctx_t *ctx,
    ngx_log_t *log);


static ngx_event_t   ngx_http_aigw_persist_event;
static ngx_uint_t    ngx_http_aigw_persisted;
static ngx_msec_t    ngx_http_aigw_persist_interval;


char *
ngx_http_aigw_shm_conf(ngx_conf_t *cf, ngx_http_aigw_store_conf_t *sc,
    ngx_str_t *name, size_t size)
{
    ngx_path_t               *path;
    ngx_http_aigw_shm_ctx_t  *ctx;

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_aigw_shm_ctx_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    if (sc->state_file.len) {
        /*
         * The directory is created at start and given to the worker user,
         * like client_body_temp_path, so that workers can write the file.
         */

        path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
        if (path == NULL) {
            return NGX_CONF_ERROR;
        }

        path->name = sc->state_file;

        if (ngx_conf_full_name(cf->cycle, &path->name, 0) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        path->conf_file = cf->conf_file->file.name.data;
        path->line = cf->conf_file->line;

        if (ngx_add_path(cf, &path) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        ctx->state_file.len = path->name.len + 1
                              + sizeof(NGX_HTTP_AIGW_STATE_FILE) - 1;
        ctx->state_file.data = ngx_pnalloc(cf->pool,
                                           ctx->state_file.len + 1);
        if (ctx->state_file.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_sprintf(ctx->state_file.data, "%V/%s%Z", &path->name,
                    NGX_HTTP_AIGW_STATE_FILE);

        sc->state_file = ctx->state_file;
    }

    sc->shm_zone = ngx_shared_memory_add(cf, name, size,
                                         &ngx_http_aigw_module);
    if (sc->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (sc->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "shared zone \"%V\" is already used", name);
        return NGX_CONF_ERROR;
    }

    sc->shm_zone->init = ngx_http_aigw_shm_init_zone;
    sc->shm_zone->data = ctx;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_aigw_shm_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_aigw_shm_ctx_t  *octx = data;

    size_t                    len;
    ngx_http_aigw_shm_ctx_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        /* a reload: keep the counters */
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;
        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;
        return NGX_OK;
    }

    ctx->sh = ngx_slab_alloc(ctx->shpool, sizeof(ngx_http_aigw_shm_sh_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    ngx_rbtree_init(&ctx->sh->rbtree, &ctx->sh->sentinel,
                    ngx_http_aigw_shm_rbtree_insert);
    ngx_queue_init(&ctx->sh->queue);
    ctx->sh->changes = 0;
    ctx->sh->evictions = 0;

    len = sizeof(" in aigw store zone \"\"") + shm_zone->shm.name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in aigw store zone \"%V\"%Z",
                &shm_zone->shm.name);

    ctx->shpool->log_nomem = 0;

    if (ctx->state_file.len) {
        ngx_http_aigw_shm_load(ctx, shm_zone->shm.log);
    }

    return NGX_OK;
}


static void
ngx_http_aigw_shm_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t         **p;
    ngx_http_aigw_shm_node_t   *an, *ant;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            an = (ngx_http_aigw_shm_node_t *) &node->color;
            ant = (ngx_http_aigw_shm_node_t *) &temp->color;

            p = (ngx_memn2cmp(an->data, ant->data, an->len, ant->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/* Under the zone's mutex. */

static ngx_http_aigw_shm_node_t *
ngx_http_aigw_shm_lookup(ngx_http_aigw_shm_ctx_t *ctx, ngx_str_t *id,
    ngx_uint_t create)
{
    size_t                     size;
    uint32_t                   hash;
    ngx_int_t                  rc;
    ngx_uint_t                 tries;
    ngx_queue_t               *q;
    ngx_rbtree_node_t         *node, *sentinel;
    ngx_http_aigw_shm_node_t  *an;

    hash = ngx_crc32_short(id->data, id->len);

    node = ctx->sh->rbtree.root;
    sentinel = ctx->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        an = (ngx_http_aigw_shm_node_t *) &node->color;

        rc = ngx_memn2cmp(id->data, an->data, id->len, (size_t) an->len);

        if (rc == 0) {
            ngx_queue_remove(&an->queue);
            ngx_queue_insert_head(&ctx->sh->queue, &an->queue);
            return an;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    if (!create) {
        return NULL;
    }

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_aigw_shm_node_t, data) + id->len;

    node = ngx_slab_alloc_locked(ctx->shpool, size);

    /*
     * Make room by forgetting idle subjects: no request in flight and no
     * spend to keep.  Their windows restart from zero, which only ever
     * errs on the side of admitting.
     */

    for (tries = 0; node == NULL && tries < 16; tries++) {

        if (ngx_queue_empty(&ctx->sh->queue)) {
            break;
        }

        q = ngx_queue_last(&ctx->sh->queue);

        while (q != ngx_queue_sentinel(&ctx->sh->queue)) {
            an = ngx_queue_data(q, ngx_http_aigw_shm_node_t, queue);

            if (an->counters.concurrent == 0 && an->counters.spend == 0) {
                break;
            }

            q = ngx_queue_prev(q);
        }

        if (q == ngx_queue_sentinel(&ctx->sh->queue)) {
            break;
        }

        ngx_queue_remove(q);

        node = (ngx_rbtree_node_t *)
                   ((u_char *) an - offsetof(ngx_rbtree_node_t, color));

        ngx_rbtree_delete(&ctx->sh->rbtree, node);
        ngx_slab_free_locked(ctx->shpool, node);

        ctx->sh->evictions++;

        node = ngx_slab_alloc_locked(ctx->shpool, size);
    }

    if (node == NULL) {
        return NULL;
    }

    node->key = hash;

    an = (ngx_http_aigw_shm_node_t *) &node->color;
    an->len = (u_short) id->len;
    ngx_memzero(&an->counters, sizeof(aigw_counters_t));
    ngx_memcpy(an->data, id->data, id->len);

    ngx_rbtree_insert(&ctx->sh->rbtree, node);
    ngx_queue_insert_head(&ctx->sh->queue, &an->queue);

    return an;
}


/*
 * The nodes found are kept in the admission for its settlement.  A node is
 * freed only by the eviction in ngx_http_aigw_shm_lookup(), which counts
 * it in sh->evictions; while that count has not moved since the lookups,
 * no node was freed and the pointers are those the lookups would return.
 * (An admitted node also has a concurrency slot, which keeps it from
 * being evicted at all; the count does not rely on that.)
 */

ngx_int_t
ngx_http_aigw_shm_admit(ngx_http_aigw_store_conf_t *sc,
    ngx_http_aigw_admission_t *a, ngx_log_t *log)
{
    ngx_uint_t                 i, headers, evictions, tries;
    aigw_window_result_t       res;
    ngx_http_aigw_shm_ctx_t   *ctx;
    ngx_http_aigw_subject_t   *s;
    ngx_http_aigw_shm_node_t  *nodes[NGX_HTTP_AIGW_SUBJECTS];

    ctx = sc->shm_zone->data;
    tries = 0;

    ngx_shmtx_lock(&ctx->shpool->mutex);

again:

    a->status = NGX_OK;
    a->header_rpm = 0;
    a->header_tpm = 0;
    headers = 0;
    evictions = ctx->sh->evictions;

    for (i = 0; i < a->nsubjects; i++) {
        s = &a->subjects[i];

        nodes[i] = ngx_http_aigw_shm_lookup(ctx, &s->id, 1);

        if (nodes[i] == NULL) {
            goto full;
        }

        if (aigw_window_check(&nodes[i]->counters, &s->limits, a->now_ms,
                              a->tokens, a->cost, &res)
            != AIGW_WINDOW_OK
            && a->status == NGX_OK)
        {
            a->status = NGX_DECLINED;
            a->refused = i;
            a->result = res;
        }

        if (!headers && (s->limits.rpm || s->limits.tpm)) {
            headers = 1;
            a->headers = res;
            a->header_rpm = s->limits.rpm;
            a->header_tpm = s->limits.tpm;
        }

        a->periods[i] = nodes[i]->counters.period;
    }

    if (ctx->sh->evictions != evictions) {

        /*
         * Making room for a subject may have evicted the idle node of
         * an earlier one: look them all up again, once.
         */

        if (tries++ == 0) {
            goto again;
        }

        goto full;
    }

    if (a->status == NGX_OK) {
        for (i = 0; i < a->nsubjects; i++) {
            aigw_window_reserve(&nodes[i]->counters, a->tokens, a->cost);
            a->nodes[i] = nodes[i];
        }

        a->evictions = evictions;
        a->minute = a->now_ms / 60000;
        a->reserved = 1;

        if (a->cost) {
            (void) ngx_atomic_fetch_add(&ctx->sh->changes, 1);
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    return a->status;

full:

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    ngx_log_error(NGX_LOG_ALERT, log, 0,
                  "aigw: the store zone \"%V\" is full",
                  &sc->shm_zone->shm.name);

    a->status = NGX_ERROR;
    return NGX_ERROR;
}


void
ngx_http_aigw_shm_settle(ngx_http_aigw_store_conf_t *sc,
    ngx_http_aigw_admission_t *a, int64_t tokens_delta, int64_t cost_delta,
    ngx_log_t *log)
{
    ngx_uint_t                 i, cached;
    ngx_http_aigw_shm_ctx_t   *ctx;
    ngx_http_aigw_shm_node_t  *node;

    ctx = sc->shm_zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    /* no node freed since the admission: its nodes are still the ones */
    cached = (a->nodes[0] != NULL && ctx->sh->evictions == a->evictions);

    for (i = 0; i < a->nsubjects; i++) {

        if (cached) {
            node = a->nodes[i];
            ngx_queue_remove(&node->queue);
            ngx_queue_insert_head(&ctx->sh->queue, &node->queue);

        } else {
            node = ngx_http_aigw_shm_lookup(ctx, &a->subjects[i].id, 0);

            if (node == NULL) {
                continue;
            }
        }

        aigw_window_settle(&node->counters, a->minute, a->periods[i],
                           tokens_delta, cost_delta);
    }

    if (cost_delta) {
        (void) ngx_atomic_fetch_add(&ctx->sh->changes, 1);
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


ngx_int_t
ngx_http_aigw_shm_init_process(ngx_cycle_t *cycle,
    ngx_http_aigw_store_conf_t *sc)
{
    ngx_http_aigw_shm_ctx_t  *ctx;

    ctx = sc->shm_zone->data;

    if (ctx->state_file.len == 0 || ngx_worker != 0
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return NGX_OK;
    }

    ngx_http_aigw_persisted = ctx->sh->changes;
    ngx_http_aigw_persist_interval = sc->persist;

    ngx_http_aigw_persist_event.handler = ngx_http_aigw_shm_persist_handler;
    ngx_http_aigw_persist_event.data = sc;
    ngx_http_aigw_persist_event.log = cycle->log;
    ngx_http_aigw_persist_event.cancelable = 1;

    ngx_add_timer(&ngx_http_aigw_persist_event,
                  ngx_http_aigw_persist_interval);

    return NGX_OK;
}


void
ngx_http_aigw_shm_exit_process(ngx_cycle_t *cycle,
    ngx_http_aigw_store_conf_t *sc)
{
    ngx_http_aigw_shm_ctx_t  *ctx;

    if (ngx_http_aigw_persist_event.handler == NULL) {
        return;
    }

    ctx = sc->shm_zone->data;

    if (ctx->sh->changes != ngx_http_aigw_persisted) {
        (void) ngx_http_aigw_shm_persist(ctx, cycle->log);
    }
}


static void
ngx_http_aigw_shm_persist_handler(ngx_event_t *ev)
{
    ngx_http_aigw_store_conf_t  *sc = ev->data;

    ngx_atomic_uint_t         changes;
    ngx_http_aigw_shm_ctx_t  *ctx;

    ctx = sc->shm_zone->data;
    changes = ctx->sh->changes;

    if (changes != ngx_http_aigw_persisted
        && ngx_http_aigw_shm_persist(ctx, ev->log) == NGX_OK)
    {
        ngx_http_aigw_persisted = changes;
    }

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(ev, ngx_http_aigw_persist_interval);
    }
}


/*
 * "<subject id>\t<period id>\t<spend>\n" for every subject with spend:
 * written to a temp file, then renamed over the state file, so a crash
 * leaves the previous state whole.
 */

static ngx_int_t
ngx_http_aigw_shm_persist(ngx_http_aigw_shm_ctx_t *ctx, ngx_log_t *log)
{
    u_char                    *buf, *p;
    size_t                     size;
    ngx_fd_t                   fd;
    ngx_int_t                  rc;
    ngx_queue_t               *q;
    u_char                     tmp[NGX_MAX_PATH];
    ngx_http_aigw_shm_node_t  *an;

    buf = NULL;
    size = 0;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    for (q = ngx_queue_head(&ctx->sh->queue);
         q != ngx_queue_sentinel(&ctx->sh->queue);
         q = ngx_queue_next(q))
    {
        an = ngx_queue_data(q, ngx_http_aigw_shm_node_t, queue);

        if (an->counters.spend > 0) {
            size += an->len + 2 * NGX_INT64_LEN + 3;
        }
    }

    if (size) {
        buf = ngx_alloc(size, log);
        if (buf == NULL) {
            ngx_shmtx_unlock(&ctx->shpool->mutex);
            return NGX_ERROR;
        }
    }

    p = buf;

    for (q = ngx_queue_head(&ctx->sh->queue);
         size && q != ngx_queue_sentinel(&ctx->sh->queue);
         q = ngx_queue_next(q))
    {
        an = ngx_queue_data(q, ngx_http_aigw_shm_node_t, queue);

        if (an->counters.spend > 0) {
            p = ngx_cpymem(p, an->data, an->len);
            p = ngx_sprintf(p, "\t%L\t%L\n", an->counters.period,
                            an->counters.spend);
        }
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    if (ctx->state_file.len + sizeof(".tmp") > NGX_MAX_PATH) {
        ngx_free(buf);
        return NGX_ERROR;
    }

    ngx_sprintf(tmp, "%V.tmp%Z", &ctx->state_file);

    rc = NGX_ERROR;

    fd = ngx_open_file(tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                       NGX_FILE_DEFAULT_ACCESS);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      "aigw: " ngx_open_file_n " \"%s\" failed", tmp);
        goto done;
    }

    if (p > buf && ngx_write_fd(fd, buf, p - buf) != (ssize_t) (p - buf)) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      "aigw: could not write \"%s\"", tmp);
        (void) ngx_close_file(fd);
        goto done;
    }

    if (fsync(fd) == -1) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      "aigw: fsync(\"%s\") failed", tmp);
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        goto done;
    }

    if (ngx_rename_file(tmp, ctx->state_file.data) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      "aigw: " ngx_rename_file_n " \"%s\" to \"%V\" failed",
                      tmp, &ctx->state_file);
        goto done;
    }

    rc = NGX_OK;

done:

    if (buf) {
        ngx_free(buf);
    }

    return rc;
}


/* Reads the state file into a new zone; a bad line is logged and skipped. */

static void
ngx_http_aigw_shm_load(ngx_http_aigw_shm_ctx_t *ctx, ngx_log_t *log)
{
    u_char                    *buf, *p, *end, *line, *tab1, *tab2;
    ssize_t                    n;
    ngx_str_t                  id;
    ngx_uint_t                 count;
    ngx_file_t                 file;
    ngx_file_info_t            fi;
    ngx_http_aigw_shm_node_t  *an;

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = ctx->state_file;
    file.log = log;

    file.fd = ngx_open_file(file.name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN,
                            0);
    if (file.fd == NGX_INVALID_FILE) {
        if (ngx_errno != NGX_ENOENT) {
            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          "aigw: " ngx_open_file_n " \"%V\" failed",
                          &file.name);
        }

        return;
    }

    buf = NULL;

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 256 * 1024 * 1024)
    {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "aigw: cannot read \"%V\"", &file.name);
        goto done;
    }

    buf = ngx_alloc((size_t) ngx_file_size(&fi) + 1, log);
    if (buf == NULL) {
        goto done;
    }

    n = ngx_read_file(&file, buf, (size_t) ngx_file_size(&fi), 0);
    if (n == NGX_ERROR) {
        goto done;
    }

    end = buf + n;
    count = 0;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    for (line = buf; line < end; line = p + 1) {
        p = ngx_strlchr(line, end, '\n');
        if (p == NULL) {
            p = end;
        }

        tab1 = ngx_strlchr(line, p, '\t');
        tab2 = tab1 ? ngx_strlchr(tab1 + 1, p, '\t') : NULL;

        if (tab2 == NULL || tab1 == line || tab1 - line > 65535) {
            continue;
        }

        id.data = line;
        id.len = tab1 - line;

        an = ngx_http_aigw_shm_lookup(ctx, &id, 1);
        if (an == NULL) {
            break;
        }

        an->counters.period = ngx_atoof(tab1 + 1, tab2 - tab1 - 1);
        an->counters.spend = ngx_atoof(tab2 + 1, p - tab2 - 1);

        if (an->counters.period < 0 || an->counters.spend < 0) {
            an->counters.period = 0;
            an->counters.spend = 0;
            continue;
        }

        count++;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "aigw: read the spend of %ui subjects from \"%V\"",
                  count, &file.name);

done:

    if (buf) {
        ngx_free(buf);
    }

    (void) ngx_close_file(file.fd);
}


/* For the admin API: what a subject has spent in its budget period. */

void
ngx_http_aigw_shm_spend(ngx_http_aigw_store_conf_t *sc, ngx_str_t *id,
    int64_t *period, int64_t *spend)
{
    ngx_http_aigw_shm_ctx_t   *ctx;
    ngx_http_aigw_shm_node_t  *node;

    *period = 0;
    *spend = 0;

    if (sc->shm_zone == NULL) {
        return;
    }

    ctx = sc->shm_zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    node = ngx_http_aigw_shm_lookup(ctx, id, 0);

    if (node) {
        *period = node->counters.period;
        *spend = node->counters.spend;
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}


/*
 * A deleted run-time key or tenant: its spend goes, so that a new one of
 * the same name starts from zero (requests in flight keep their slots).
 */

void
ngx_http_aigw_shm_forget(ngx_http_aigw_store_conf_t *sc, ngx_str_t *id)
{
    ngx_http_aigw_shm_ctx_t   *ctx;
    ngx_http_aigw_shm_node_t  *node;

    if (sc->shm_zone == NULL) {
        return;
    }

    ctx = sc->shm_zone->data;

    ngx_shmtx_lock(&ctx->shpool->mutex);

    node = ngx_http_aigw_shm_lookup(ctx, id, 0);

    if (node && node->counters.spend) {
        node->counters.spend = 0;
        (void) ngx_atomic_fetch_add(&ctx->sh->changes, 1);
    }

    ngx_shmtx_unlock(&ctx->shpool->mutex);
}
