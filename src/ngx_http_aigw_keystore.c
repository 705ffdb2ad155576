/*
 * aigw: the key store.  Run-time keys and tenants (made through the admin
 * API), their lookup on the request path, per-day usage counters and the
 * channels taken out of selection.
 *
 * Two backends, as for the counters:
 *   - embedded: the shared memory zone "aigw_admin" holds the documents (an
 *     rbtree of keys by hash, lists of keys and tenants), a generation that
 *     every change bumps, per-day usage and the channel flags; documents
 *     are written to <state_path>/admin.json (temp file, fsync, rename) on
 *     every change and read back when the zone is new; usage goes to
 *     usage.tsv every "persist" interval, by worker 0;
 *   - redis: hashes under the store's prefix (admin:keys, admin:keyhash,
 *     admin:tenants, admin:gen, usage:<day>), changed by Lua scripts so that
 *     every change is atomic; every nginx instance sees them.
 *
 * Lookups: a key the keys file does not know is looked up in a per-worker
 * cache of built keys (aigw_key_t in a keyset of its own), negative answers
 * included.  With shm an entry is good while the zone's generation is the
 * one it was built at (a change anywhere is seen at once, and a lookup
 * costs one lock only when something changed); with Redis an entry is good
 * for aigw_keys_cache_time, and any answer that shows a new generation
 * drops the whole cache.  A request holds a reference on its entry until
 * its pool goes, so an entry dropped meanwhile stays alive for it.
 */

#include "ngx_http_aigw_module.h"
#include "ngx_http_aigw_keystore.h"
#include "aigw_admin.h"

#include <jansson.h>
#include <hiredis/hiredis.h>


#define NGX_HTTP_AIGW_KS_CACHE_MAX   8192   /* entries per worker */
#define NGX_HTTP_AIGW_KS_CHANNELS    256
#define NGX_HTTP_AIGW_KS_CHANNEL_MAX 64
#define NGX_HTTP_AIGW_KS_METRICS     5      /* r, i, o, c, u */
#define NGX_HTTP_AIGW_KS_FIRE_MAX    1024   /* usage updates unanswered */


/* shared memory */

typedef struct {
    ngx_rbtree_node_t           node;       /* keys: the hash's first bytes */
    ngx_queue_t                 queue;
    u_char                      hash[AIGW_KEY_HASH_LEN];
    size_t                      name_len;
    size_t                      doc_len;
    u_char                      data[1];    /* name, then the document */
} ngx_http_aigw_ks_rec_t;


typedef struct {
    ngx_rbtree_node_t           node;       /* crc32 of day and id */
    ngx_queue_t                 queue;
    int64_t                     day;
    int64_t                     v[NGX_HTTP_AIGW_KS_METRICS];
    size_t                      len;
    u_char                      data[1];    /* "<kind>|<name>|<model>" */
} ngx_http_aigw_ks_urec_t;


typedef struct {
    u_char                      name[NGX_HTTP_AIGW_KS_CHANNEL_MAX];
    size_t                      len;
    ngx_atomic_t                out;
} ngx_http_aigw_ks_chan_t;


typedef struct {
    ngx_rbtree_t                keys;
    ngx_rbtree_node_t           keys_sentinel;
    ngx_queue_t                 keyq;
    ngx_queue_t                 tenantq;
    ngx_rbtree_t                usage;
    ngx_rbtree_node_t           usage_sentinel;
    ngx_queue_t                 usageq;
    ngx_atomic_t                gen;
    ngx_atomic_t                written;    /* generation in admin.json */
    ngx_atomic_t                usage_changes;
    ngx_uint_t                  nchannels;
    ngx_http_aigw_ks_chan_t     channels[NGX_HTTP_AIGW_KS_CHANNELS];
} ngx_http_aigw_ks_sh_t;


typedef struct {
    ngx_http_aigw_ks_sh_t      *sh;
    ngx_slab_pool_t            *shpool;
    ngx_http_aigw_keystore_t   *ks;
} ngx_http_aigw_ks_zone_t;


/* the per-worker cache */

typedef struct {
    ngx_rbtree_node_t           node;
    ngx_queue_t                 lru;
    u_char                      hash[AIGW_KEY_HASH_LEN];
    aigw_keyset_t              *keyset;     /* NULL: no such key */
    ngx_msec_t                  fetched;
    ngx_atomic_uint_t           gen;
    ngx_uint_t                  refs;
    unsigned                    linked:1;
    unsigned                    stale:1;
} ngx_http_aigw_ks_entry_t;


struct ngx_http_aigw_key_wait_s {
    ngx_http_request_t         *request;
    ngx_http_aigw_keystore_t   *ks;
    u_char                      hash[AIGW_KEY_HASH_LEN];
    ngx_http_aigw_ks_entry_t   *entry;      /* the answer */
    ngx_int_t                   status;     /* NGX_OK, NGX_ERROR */
    void                       *token;
    unsigned                    pending:1;
};


static ngx_int_t ngx_http_aigw_ks_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static void ngx_http_aigw_ks_map_channels(ngx_http_aigw_ks_zone_t *z);
static ngx_http_aigw_ks_rec_t *ngx_http_aigw_ks_find_hash(
    ngx_http_aigw_ks_sh_t *sh, const u_char *hash);
static ngx_http_aigw_ks_rec_t *ngx_http_aigw_ks_find_name(ngx_queue_t *q,
    ngx_str_t *name);
static ngx_http_aigw_ks_rec_t *ngx_http_aigw_ks_rec_new(
    ngx_http_aigw_ks_zone_t *z, const u_char *hash, ngx_str_t *name,
    ngx_str_t *doc);
static void ngx_http_aigw_ks_rec_free(ngx_http_aigw_ks_zone_t *z,
    ngx_http_aigw_ks_rec_t *rec, ngx_uint_t key);
static void ngx_http_aigw_ks_load(ngx_http_aigw_ks_zone_t *z, ngx_log_t *log);
static void ngx_http_aigw_ks_load_usage(ngx_http_aigw_ks_zone_t *z,
    ngx_log_t *log);
static ngx_int_t ngx_http_aigw_ks_save(ngx_http_aigw_ks_zone_t *z,
    ngx_log_t *log);
static ngx_int_t ngx_http_aigw_ks_write_file(ngx_str_t *file, u_char *buf,
    size_t len, ngx_log_t *log);
static ngx_int_t ngx_http_aigw_ks_write_tmp(ngx_str_t *file, u_char *buf,
    size_t len, u_char *tmp, ngx_log_t *log);
static ngx_int_t ngx_http_aigw_ks_rename(u_char *tmp, ngx_str_t *file,
    ngx_log_t *log);
static u_char *ngx_http_aigw_ks_read_file(ngx_str_t *file, size_t *len,
    ngx_log_t *log);

static ngx_int_t ngx_http_aigw_ks_shm_run(ngx_http_aigw_keystore_t *ks,
    ngx_http_aigw_ks_op_t *op);
static ngx_int_t ngx_http_aigw_ks_redis_run(ngx_http_aigw_keystore_t *ks,
    ngx_http_aigw_ks_op_t *op);
static void ngx_http_aigw_ks_redis_done(void *data, void *reply);
static void ngx_http_aigw_ks_op_cleanup(void *data);

static ngx_http_aigw_ks_urec_t *ngx_http_aigw_ks_usage_rec(
    ngx_http_aigw_ks_zone_t *z, int64_t day, ngx_str_t *id);
static ngx_int_t ngx_http_aigw_ks_log_handler(ngx_http_request_t *r);
static void ngx_http_aigw_ks_usage_timer(ngx_event_t *ev);
static ngx_int_t ngx_http_aigw_ks_save_usage(ngx_http_aigw_ks_zone_t *z,
    ngx_log_t *log);

static ngx_http_aigw_ks_entry_t *ngx_http_aigw_ks_cache_find(
    const u_char *hash);
static ngx_http_aigw_ks_entry_t *ngx_http_aigw_ks_cache_add(
    ngx_http_aigw_keystore_t *ks, const u_char *hash, aigw_keyset_t *keyset,
    ngx_atomic_uint_t gen);
static void ngx_http_aigw_ks_cache_unlink(ngx_http_aigw_ks_entry_t *e);
static void ngx_http_aigw_ks_cache_stale_all(void);
static ngx_int_t ngx_http_aigw_ks_hold(ngx_http_request_t *r,
    ngx_http_aigw_ks_entry_t *e, const aigw_key_t **key);
static void ngx_http_aigw_ks_unref(void *data);
static aigw_keyset_t *ngx_http_aigw_ks_build(ngx_http_aigw_keystore_t *ks,
    const u_char *hash, const char *keydoc, size_t keylen,
    const char *tenantdoc, size_t tenantlen, ngx_log_t *log);
static void ngx_http_aigw_ks_lookup_done(void *data, void *reply);
static void ngx_http_aigw_ks_wait_cleanup(void *data);


static ngx_rbtree_t        ngx_http_aigw_ks_cache;
static ngx_rbtree_node_t   ngx_http_aigw_ks_cache_sentinel;
static ngx_queue_t         ngx_http_aigw_ks_cache_lru;
static ngx_uint_t          ngx_http_aigw_ks_cache_n;
static ngx_uint_t          ngx_http_aigw_ks_cache_ready;
static int64_t             ngx_http_aigw_ks_redis_gen = -1;
static ngx_event_t         ngx_http_aigw_ks_usage_event;
static ngx_atomic_uint_t   ngx_http_aigw_ks_usage_saved;
static ngx_msec_t          ngx_http_aigw_ks_usage_interval;


/* Redis scripts; KEYS and ARGV are listed in each */

/* KEYS: keyhash, keys, tenants, gen; ARGV: hash -> {gen, keydoc, tdoc} */
static const char  ngx_http_aigw_ks_lua_lookup[] =
    "local g = redis.call('GET', KEYS[4]) or '0'\n"
    "local n = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if not n then return {g} end\n"
    "local k = redis.call('HGET', KEYS[2], n)\n"
    "if not k then return {g} end\n"
    "local t = cjson.decode(k).tenant\n"
    "local td = false\n"
    "if type(t) == 'string' then td = redis.call('HGET', KEYS[3], t) end\n"
    "return {g, k, td}\n";

/* KEYS: docs, spend hash; ARGV: name -> {doc or nil, pd, sp} */
static const char  ngx_http_aigw_ks_lua_get[] =
    "local d = redis.call('HGET', KEYS[1], ARGV[1]) or false\n"
    "local s = redis.call('HMGET', KEYS[2], 'pd', 'sp')\n"
    "return {d, s[1] or '0', s[2] or '0'}\n";

/* KEYS: docs, keyhash, gen, tenants; ARGV: name, hash ('' tenants), doc,
 * tenant to check ('' none) */
static const char  ngx_http_aigw_ks_lua_create[] =
    "if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then\n"
    "  return 'exists' end\n"
    "if ARGV[2] ~= '' and redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then\n"
    "  return 'hash' end\n"
    "if ARGV[4] ~= '' and redis.call('HEXISTS', KEYS[4], ARGV[4]) == 0 then\n"
    "  return 'notenant' end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])\n"
    "if ARGV[2] ~= '' then redis.call('HSET', KEYS[2], ARGV[2], ARGV[1]) end\n"
    "redis.call('INCR', KEYS[3])\n"
    "return 'ok'\n";

/* KEYS: docs, gen, tenants; ARGV: name, old doc, new doc, tenant */
static const char  ngx_http_aigw_ks_lua_update[] =
    "local c = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if not c then return 'missing' end\n"
    "if c ~= ARGV[2] then return 'conflict' end\n"
    "if ARGV[4] ~= '' and redis.call('HEXISTS', KEYS[3], ARGV[4]) == 0 then\n"
    "  return 'notenant' end\n"
    "redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])\n"
    "redis.call('INCR', KEYS[2])\n"
    "return 'ok'\n";

/* KEYS: docs, keyhash, gen, spend hash, keys; ARGV: name, "t" (tenant) */
static const char  ngx_http_aigw_ks_lua_delete[] =
    "local c = redis.call('HGET', KEYS[1], ARGV[1])\n"
    "if not c then return 'missing' end\n"
    "if ARGV[2] == 't' then\n"
    "  for _, d in ipairs(redis.call('HVALS', KEYS[5])) do\n"
    "    if cjson.decode(d).tenant == ARGV[1] then return 'inuse' end\n"
    "  end\n"
    "else\n"
    "  local h = cjson.decode(c).sha256\n"
    "  if type(h) == 'string' then redis.call('HDEL', KEYS[2], h) end\n"
    "end\n"
    "redis.call('HDEL', KEYS[1], ARGV[1])\n"
    "redis.call('DEL', KEYS[4])\n"
    "redis.call('INCR', KEYS[3])\n"
    "return 'ok'\n";

/* KEYS: usage:<day>...; -> one HGETALL per day */
static const char  ngx_http_aigw_ks_lua_usage[] =
    "local out = {}\n"
    "for i, k in ipairs(KEYS) do out[i] = redis.call('HGETALL', k) end\n"
    "return out\n";

/* KEYS: usage:<day>; ARGV: ttl, then field, increment pairs */
static const char  ngx_http_aigw_ks_lua_count[] =
    "for i = 2, #ARGV, 2 do\n"
    "  redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])\n"
    "end\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[1])\n"
    "return 1\n";


/* configuration */

ngx_http_aigw_keystore_t *
ngx_http_aigw_keystore_get(ngx_conf_t *cf)
{
    ngx_http_aigw_keystore_t   *ks;
    ngx_http_aigw_main_conf_t  *amcf;

    amcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_aigw_module);

    if (amcf->keystore) {
        return amcf->keystore;
    }

    ks = ngx_pcalloc(cf->pool, sizeof(ngx_http_aigw_keystore_t));
    if (ks == NULL) {
        return NULL;
    }

    ks->enable = NGX_CONF_UNSET;
    ks->cache_time = NGX_CONF_UNSET_MSEC;
    ks->zone_size = NGX_CONF_UNSET;
    ks->amcf = amcf;

    amcf->keystore = ks;

    return ks;
}


/*
 * aigw_runtime_keys on|off;  aigw_keys_cache_time <time>;
 * aigw_admin_zone <size>;
 */

char *
ngx_http_aigw_keystore_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_str_t                 *value;
    ngx_msec_t                 t;
    ngx_http_aigw_keystore_t  *ks;

    ks = ngx_http_aigw_keystore_get(cf);
    if (ks == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    if (cmd->name.data[5] == 'r') {                 /* aigw_runtime_keys */
        if (ks->enable != NGX_CONF_UNSET) {
            return "is duplicate";
        }

        if (ngx_strcmp(value[1].data, "on") == 0) {
            ks->enable = 1;

        } else if (ngx_strcmp(value[1].data, "off") == 0) {
            ks->enable = 0;

        } else {
            return "must be \"on\" or \"off\"";
        }

        return NGX_CONF_OK;
    }

    if (cmd->name.data[5] == 'k') {                 /* aigw_keys_cache_time */
        if (ks->cache_time != NGX_CONF_UNSET_MSEC) {
            return "is duplicate";
        }

        t = ngx_parse_time(&value[1], 0);
        if (t == (ngx_msec_t) NGX_ERROR) {
            return "has an invalid time";
        }

        ks->cache_time = t;
        return NGX_CONF_OK;
    }

    /* aigw_admin_zone */

    if (ks->zone_size != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    ks->zone_size = ngx_parse_size(&value[1]);

    if (ks->zone_size == NGX_ERROR
        || ks->zone_size < (ssize_t) (8 * ngx_pagesize))
    {
        return "has an invalid size (at least 8 pages)";
    }

    return NGX_CONF_OK;
}


/* After the http block: the zone, the state files, the store itself. */

ngx_int_t
ngx_http_aigw_keystore_conf(ngx_conf_t *cf, ngx_http_aigw_main_conf_t *amcf)
{
    u_char                    *p;
    ngx_str_t                  name = ngx_string("aigw_admin");
    ngx_str_t                  store = ngx_string("aigw_store");
    ngx_str_t                  dir;
    ngx_http_aigw_ks_zone_t   *z;
    ngx_http_aigw_keystore_t  *ks;

    ks = amcf->keystore;

    if (ks == NULL) {
        return NGX_OK;
    }

    if (ks->enable == NGX_CONF_UNSET) {
        ks->enable = ks->admin ? 1 : 0;
    }

    if (ks->cache_time == NGX_CONF_UNSET_MSEC) {
        ks->cache_time = 10000;
    }

    if (ks->zone_size == NGX_CONF_UNSET) {
        ks->zone_size = 8 * 1024 * 1024;
    }

    if (!ks->enable) {
        if (ks->admin) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"aigw_admin\" needs run-time keys: remove "
                               "\"aigw_runtime_keys off\"");
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (amcf->store.shm_zone == NULL) {
        amcf->store.persist = 10000;

        if (ngx_http_aigw_shm_conf(cf, &amcf->store, &store,
                                   10 * 1024 * 1024)
            != NGX_CONF_OK)
        {
            return NGX_ERROR;
        }
    }

    if (amcf->store.redis == NULL && amcf->store.state_file.len) {
        /* beside spend.tsv */

        dir = amcf->store.state_file;
        p = dir.data + dir.len;

        while (p > dir.data && p[-1] != '/') {
            p--;
        }

        dir.len = p - dir.data;

        ks->state_file.len = dir.len + sizeof("admin.json") - 1;
        ks->state_file.data = ngx_pnalloc(cf->pool, ks->state_file.len + 1);
        ks->usage_file.len = dir.len + sizeof("usage.tsv") - 1;
        ks->usage_file.data = ngx_pnalloc(cf->pool, ks->usage_file.len + 1);

        if (ks->state_file.data == NULL || ks->usage_file.data == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(ks->state_file.data, "%Vadmin.json%Z", &dir);
        ngx_sprintf(ks->usage_file.data, "%Vusage.tsv%Z", &dir);

    } else if (amcf->store.redis == NULL) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "run-time keys are kept in shared memory only "
                           "and are lost when nginx stops: add "
                           "\"state_path=\" to \"aigw_store shm\"");
    }

    z = ngx_pcalloc(cf->pool, sizeof(ngx_http_aigw_ks_zone_t));
    if (z == NULL) {
        return NGX_ERROR;
    }

    z->ks = ks;

    ks->zone = ngx_shared_memory_add(cf, &name, ks->zone_size,
                                     &ngx_http_aigw_module);
    if (ks->zone == NULL) {
        return NGX_ERROR;
    }

    if (ks->zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "shared zone \"%V\" is already used", &name);
        return NGX_ERROR;
    }

    ks->zone->init = ngx_http_aigw_ks_init_zone;
    ks->zone->data = z;

    return NGX_OK;
}


ngx_int_t
ngx_http_aigw_keystore_postconf(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /* per-day usage: counted in the log phase, whatever the outcome */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_aigw_ks_log_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_aigw_ks_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_aigw_ks_zone_t  *oz = data;

    size_t                    len;
    ngx_http_aigw_ks_sh_t    *sh;
    ngx_http_aigw_ks_zone_t  *z;

    z = shm_zone->data;

    if (oz) {
        z->sh = oz->sh;
        z->shpool = oz->shpool;
        ngx_http_aigw_ks_map_channels(z);
        return NGX_OK;
    }

    z->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        z->sh = z->shpool->data;
        ngx_http_aigw_ks_map_channels(z);
        return NGX_OK;
    }

    sh = ngx_slab_alloc(z->shpool, sizeof(ngx_http_aigw_ks_sh_t));
    if (sh == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(sh, sizeof(ngx_http_aigw_ks_sh_t));

    z->sh = sh;
    z->shpool->data = sh;

    ngx_rbtree_init(&sh->keys, &sh->keys_sentinel, ngx_rbtree_insert_value);
    ngx_rbtree_init(&sh->usage, &sh->usage_sentinel,
                    ngx_rbtree_insert_value);
    ngx_queue_init(&sh->keyq);
    ngx_queue_init(&sh->tenantq);
    ngx_queue_init(&sh->usageq);

    len = sizeof(" in aigw admin zone \"\"") + shm_zone->shm.name.len;

    z->shpool->log_ctx = ngx_slab_alloc(z->shpool, len);
    if (z->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(z->shpool->log_ctx, " in aigw admin zone \"%V\"%Z",
                &shm_zone->shm.name);

    z->shpool->log_nomem = 0;

    if (z->ks->state_file.len) {
        ngx_http_aigw_ks_load(z, shm_zone->shm.log);
        ngx_http_aigw_ks_load_usage(z, shm_zone->shm.log);
    }

    ngx_http_aigw_ks_map_channels(z);

    return NGX_OK;
}


/* Every channel of this configuration gets its flag, kept by name. */

static void
ngx_http_aigw_ks_map_channels(ngx_http_aigw_ks_zone_t *z)
{
    ngx_uint_t                 i, j;
    ngx_http_aigw_ks_sh_t     *sh;
    ngx_http_aigw_channel_t  **chp, *ch;

    sh = z->sh;
    chp = z->ks->amcf->channels.elts;

    ngx_shmtx_lock(&z->shpool->mutex);

    for (i = 0; i < z->ks->amcf->channels.nelts; i++) {
        ch = chp[i];
        ch->admin_out = NULL;

        if (ch->name.len > NGX_HTTP_AIGW_KS_CHANNEL_MAX) {
            continue;
        }

        for (j = 0; j < sh->nchannels; j++) {
            if (sh->channels[j].len == ch->name.len
                && ngx_memcmp(sh->channels[j].name, ch->name.data,
                              ch->name.len) == 0)
            {
                break;
            }
        }

        if (j == sh->nchannels) {
            if (j == NGX_HTTP_AIGW_KS_CHANNELS) {
                continue;
            }

            ngx_memcpy(sh->channels[j].name, ch->name.data, ch->name.len);
            sh->channels[j].len = ch->name.len;
            sh->channels[j].out = 0;
            sh->nchannels++;
        }

        ch->admin_out = &sh->channels[j].out;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);
}


ngx_int_t
ngx_http_aigw_ks_channel_out(ngx_http_aigw_keystore_t *ks,
    ngx_http_aigw_channel_t *ch, ngx_uint_t out)
{
    if (ch->admin_out == NULL) {
        return NGX_DECLINED;
    }

    *ch->admin_out = out ? 1 : 0;

    return NGX_OK;
}


/* shm records; under the zone's mutex */

static ngx_http_aigw_ks_rec_t *
ngx_http_aigw_ks_find_hash(ngx_http_aigw_ks_sh_t *sh, const u_char *hash)
{
    uint32_t                 k;
    ngx_rbtree_node_t       *node, *sentinel;
    ngx_http_aigw_ks_rec_t  *rec;

    ngx_memcpy(&k, hash, sizeof(uint32_t));

    node = sh->keys.root;
    sentinel = sh->keys.sentinel;

    while (node != sentinel) {

        if (k < node->key) {
            node = node->left;
            continue;
        }

        if (k > node->key) {
            node = node->right;
            continue;
        }

        /* equal keys: ngx_rbtree_insert_value() put them to the right */

        rec = (ngx_http_aigw_ks_rec_t *) node;

        if (ngx_memcmp(rec->hash, hash, AIGW_KEY_HASH_LEN) == 0) {
            return rec;
        }

        node = node->right;
    }

    return NULL;
}


static ngx_http_aigw_ks_rec_t *
ngx_http_aigw_ks_find_name(ngx_queue_t *head, ngx_str_t *name)
{
    ngx_queue_t             *q;
    ngx_http_aigw_ks_rec_t  *rec;

    for (q = ngx_queue_head(head);
         q != ngx_queue_sentinel(head);
         q = ngx_queue_next(q))
    {
        rec = ngx_queue_data(q, ngx_http_aigw_ks_rec_t, queue);

        if (rec->name_len == name->len
            && ngx_memcmp(rec->data, name->data, name->len) == 0)
        {
            return rec;
        }
    }

    return NULL;
}


static ngx_http_aigw_ks_rec_t *
ngx_http_aigw_ks_rec_new(ngx_http_aigw_ks_zone_t *z, const u_char *hash,
    ngx_str_t *name, ngx_str_t *doc)
{
    uint32_t                 k;
    ngx_http_aigw_ks_rec_t  *rec;

    rec = ngx_slab_alloc_locked(z->shpool,
                                offsetof(ngx_http_aigw_ks_rec_t, data)
                                + name->len + doc->len);
    if (rec == NULL) {
        return NULL;
    }

    ngx_memzero(rec, sizeof(ngx_http_aigw_ks_rec_t));

    if (hash) {
        ngx_memcpy(rec->hash, hash, AIGW_KEY_HASH_LEN);
        ngx_memcpy(&k, hash, sizeof(uint32_t));
        rec->node.key = k;
    }

    rec->name_len = name->len;
    rec->doc_len = doc->len;
    ngx_memcpy(rec->data, name->data, name->len);
    ngx_memcpy(rec->data + name->len, doc->data, doc->len);

    if (hash) {
        ngx_rbtree_insert(&z->sh->keys, &rec->node);
        ngx_queue_insert_tail(&z->sh->keyq, &rec->queue);

    } else {
        ngx_queue_insert_tail(&z->sh->tenantq, &rec->queue);
    }

    return rec;
}


static void
ngx_http_aigw_ks_rec_free(ngx_http_aigw_ks_zone_t *z,
    ngx_http_aigw_ks_rec_t *rec, ngx_uint_t key)
{
    if (key) {
        ngx_rbtree_delete(&z->sh->keys, &rec->node);
    }

    ngx_queue_remove(&rec->queue);
    ngx_slab_free_locked(z->shpool, rec);
}


/* the state file: {"gen": n, "tenants": [docs], "keys": [docs]} */

static void
ngx_http_aigw_ks_load(ngx_http_aigw_ks_zone_t *z, ngx_log_t *log)
{
    u_char        *buf, hash[AIGW_KEY_HASH_LEN];
    char          *text;
    size_t         len, i;
    json_t        *root, *list, *v, *n, *h;
    ngx_str_t      name, doc;
    ngx_uint_t     nkeys, ntenants, key;
    json_error_t   jerr;

    buf = ngx_http_aigw_ks_read_file(&z->ks->state_file, &len, log);
    if (buf == NULL) {
        return;
    }

    root = json_loadb((char *) buf, len, 0, &jerr);
    ngx_free(buf);

    if (root == NULL || !json_is_object(root)) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "aigw: \"%V\" is damaged (line %d), run-time keys "
                      "are not read", &z->ks->state_file, jerr.line);
        json_decref(root);
        return;
    }

    nkeys = 0;
    ntenants = 0;

    ngx_shmtx_lock(&z->shpool->mutex);

    for (key = 0; key < 2; key++) {
        list = json_object_get(root, key ? "keys" : "tenants");

        json_array_foreach(list, i, v) {
            n = json_object_get(v, "name");
            h = json_object_get(v, "sha256");

            if (!json_is_string(n)
                || (key && (!json_is_string(h)
                            || json_string_length(h) != 64
                            || aigw_hex_decode(hash,
                                       (u_char *) json_string_value(h), 32)
                               != 0)))
            {
                continue;
            }

            text = json_dumps(v, JSON_COMPACT|JSON_SORT_KEYS
                                 |JSON_REAL_PRECISION(17));
            if (text == NULL) {
                continue;
            }

            name.data = (u_char *) json_string_value(n);
            name.len = json_string_length(n);
            doc.data = (u_char *) text;
            doc.len = ngx_strlen(text);

            if (ngx_http_aigw_ks_rec_new(z, key ? hash : NULL, &name, &doc)
                != NULL)
            {
                if (key) {
                    nkeys++;

                } else {
                    ntenants++;
                }
            }

            free(text);
        }
    }

    v = json_object_get(root, "gen");
    z->sh->gen = json_is_integer(v) ? (ngx_atomic_uint_t) json_integer_value(v)
                                    : 1;
    z->sh->written = z->sh->gen;

    ngx_shmtx_unlock(&z->shpool->mutex);

    json_decref(root);

    ngx_log_error(NGX_LOG_NOTICE, log, 0,
                  "aigw: read %ui run-time keys and %ui tenants from \"%V\"",
                  nkeys, ntenants, &z->ks->state_file);
}


/*
 * Writes the documents after a change.  The snapshot is taken under the
 * mutex; the file is written outside it and renamed only if no newer
 * snapshot got there first, so concurrent writers never go back in time.
 */

static ngx_int_t
ngx_http_aigw_ks_save(ngx_http_aigw_ks_zone_t *z, ngx_log_t *log)
{
    u_char                  *buf, *p;
    size_t                   size;
    ngx_int_t                rc;
    ngx_uint_t               key, first;
    ngx_queue_t             *q, *head;
    ngx_atomic_uint_t        gen;
    ngx_http_aigw_ks_rec_t  *rec;
    u_char                   tmp[NGX_MAX_PATH];

    if (z->ks->state_file.len == 0) {
        return NGX_OK;
    }

    ngx_shmtx_lock(&z->shpool->mutex);

    size = sizeof("{\"gen\":,\"tenants\":[],\"keys\":[]}\n") + NGX_INT64_LEN;

    for (key = 0; key < 2; key++) {
        head = key ? &z->sh->keyq : &z->sh->tenantq;

        for (q = ngx_queue_head(head); q != ngx_queue_sentinel(head);
             q = ngx_queue_next(q))
        {
            rec = ngx_queue_data(q, ngx_http_aigw_ks_rec_t, queue);
            size += rec->doc_len + 2;
        }
    }

    buf = ngx_alloc(size, log);
    if (buf == NULL) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        return NGX_ERROR;
    }

    gen = z->sh->gen;
    p = ngx_sprintf(buf, "{\"gen\":%uA,\"tenants\":[", gen);

    for (key = 0; key < 2; key++) {
        head = key ? &z->sh->keyq : &z->sh->tenantq;
        first = 1;

        if (key) {
            p = ngx_cpymem(p, "],\"keys\":[", 10);
        }

        for (q = ngx_queue_head(head); q != ngx_queue_sentinel(head);
             q = ngx_queue_next(q))
        {
            rec = ngx_queue_data(q, ngx_http_aigw_ks_rec_t, queue);

            if (!first) {
                *p++ = ',';
            }

            first = 0;
            *p++ = '\n';
            p = ngx_cpymem(p, rec->data + rec->name_len, rec->doc_len);
        }
    }

    p = ngx_cpymem(p, "]}\n", 3);

    ngx_shmtx_unlock(&z->shpool->mutex);

    rc = ngx_http_aigw_ks_write_tmp(&z->ks->state_file, buf, p - buf, tmp,
                                    log);
    ngx_free(buf);

    if (rc != NGX_OK) {
        return rc;
    }

    /* a rename is quick: done under the lock, and only forwards in time */

    ngx_shmtx_lock(&z->shpool->mutex);

    if (z->sh->written > gen) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        (void) ngx_delete_file(tmp);
        return NGX_OK;
    }

    rc = ngx_http_aigw_ks_rename(tmp, &z->ks->state_file, log);

    if (rc == NGX_OK) {
        z->sh->written = gen;
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    return rc;
}


/* temp file, fsync, rename: a crash leaves the old file or the new one */

static ngx_int_t
ngx_http_aigw_ks_write_file(ngx_str_t *file, u_char *buf, size_t len,
    ngx_log_t *log)
{
    u_char  tmp[NGX_MAX_PATH];

    if (ngx_http_aigw_ks_write_tmp(file, buf, len, tmp, log) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_aigw_ks_rename(tmp, file, log);
}


static ngx_int_t
ngx_http_aigw_ks_rename(u_char *tmp, ngx_str_t *file, ngx_log_t *log)
{
    if (ngx_rename_file(tmp, file->data) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      "aigw: " ngx_rename_file_n " \"%s\" to \"%V\" failed",
                      tmp, file);
        (void) ngx_delete_file(tmp);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* tmp: NGX_MAX_PATH bytes, the name of the file written */

static ngx_int_t
ngx_http_aigw_ks_write_tmp(ngx_str_t *file, u_char *buf, size_t len,
    u_char *tmp, ngx_log_t *log)
{
    ngx_fd_t  fd;

    if (file->len + 32 > NGX_MAX_PATH) {
        return NGX_ERROR;
    }

    ngx_sprintf(tmp, "%V.%P.tmp%Z", file, ngx_pid);

    fd = ngx_open_file(tmp, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                       NGX_FILE_DEFAULT_ACCESS);

    if (fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      "aigw: " ngx_open_file_n " \"%s\" failed", tmp);
        return NGX_ERROR;
    }

    if (len && ngx_write_fd(fd, buf, len) != (ssize_t) len) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      "aigw: could not write \"%s\"", tmp);
        goto failed;
    }

    if (fsync(fd) == -1) {
        ngx_log_error(NGX_LOG_CRIT, log, ngx_errno,
                      "aigw: fsync(\"%s\") failed", tmp);
        goto failed;
    }

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        (void) ngx_delete_file(tmp);
        return NGX_ERROR;
    }

    return NGX_OK;

failed:

    (void) ngx_close_file(fd);
    (void) ngx_delete_file(tmp);

    return NGX_ERROR;
}


static u_char *
ngx_http_aigw_ks_read_file(ngx_str_t *name, size_t *len, ngx_log_t *log)
{
    u_char           *buf;
    ssize_t           n;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = *name;
    file.log = log;

    file.fd = ngx_open_file(name->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        if (ngx_errno != NGX_ENOENT) {
            ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                          "aigw: " ngx_open_file_n " \"%V\" failed", name);
        }

        return NULL;
    }

    buf = NULL;

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 256 * 1024 * 1024)
    {
        ngx_log_error(NGX_LOG_ALERT, log, ngx_errno,
                      "aigw: cannot read \"%V\"", name);
        goto done;
    }

    buf = ngx_alloc((size_t) ngx_file_size(&fi) + 1, log);
    if (buf == NULL) {
        goto done;
    }

    n = ngx_read_file(&file, buf, (size_t) ngx_file_size(&fi), 0);

    if (n == NGX_ERROR) {
        ngx_free(buf);
        buf = NULL;
        goto done;
    }

    *len = n;

done:

    (void) ngx_close_file(file.fd);

    return buf;
}


/* operations */

ngx_int_t
ngx_http_aigw_ks_run(ngx_http_aigw_keystore_t *ks, ngx_http_aigw_ks_op_t *op)
{
    if (ngx_array_init(&op->docs, op->request->pool, 8, sizeof(ngx_str_t))
        != NGX_OK
        || ngx_array_init(&op->usage, op->request->pool, 16,
                          sizeof(ngx_http_aigw_ks_usage_t))
           != NGX_OK)
    {
        op->status = NGX_HTTP_AIGW_KS_ERROR;
        return NGX_OK;
    }

    if (ks->amcf->store.redis) {
        return ngx_http_aigw_ks_redis_run(ks, op);
    }

    return ngx_http_aigw_ks_shm_run(ks, op);
}


static ngx_int_t
ngx_http_aigw_ks_copy(ngx_http_aigw_ks_op_t *op, ngx_str_t *dst,
    u_char *data, size_t len)
{
    dst->data = ngx_pnalloc(op->request->pool, len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, data, len);
    dst->data[len] = '\0';
    dst->len = len;

    return NGX_OK;
}


static ngx_int_t
ngx_http_aigw_ks_shm_run(ngx_http_aigw_keystore_t *ks,
    ngx_http_aigw_ks_op_t *op)
{
    u_char                     *p;
    char                        kname[AIGW_KEY_NAME_MAX + 1];
    char                        ktenant[AIGW_KEY_NAME_MAX + 1];
    ngx_str_t                  *s, id;
    ngx_uint_t                  changed, i;
    ngx_queue_t                *q, *head;
    ngx_http_aigw_ks_sh_t      *sh;
    ngx_http_aigw_ks_rec_t     *rec, *nrec;
    ngx_http_aigw_ks_urec_t    *u;
    ngx_http_aigw_ks_zone_t    *z;
    ngx_http_aigw_ks_usage_t   *ue;
    u_char                      hash[AIGW_KEY_HASH_LEN];
    u_char                      idbuf[NGX_HTTP_AIGW_SUBJECT_MAX];
    static const char           metrics[] = "riocu";

    z = ks->zone->data;
    sh = z->sh;
    head = op->tenant ? &sh->tenantq : &sh->keyq;
    changed = 0;
    rec = NULL;

    op->status = NGX_HTTP_AIGW_KS_OK;

    ngx_shmtx_lock(&z->shpool->mutex);

    if (op->type != NGX_HTTP_AIGW_KS_LIST
        && op->type != NGX_HTTP_AIGW_KS_USAGE)
    {
        rec = ngx_http_aigw_ks_find_name(head, &op->name);
    }

    switch (op->type) {

    case NGX_HTTP_AIGW_KS_GET:
        if (rec == NULL
            || ngx_http_aigw_ks_copy(op, &op->result,
                                     rec->data + rec->name_len, rec->doc_len)
               != NGX_OK)
        {
            op->status = rec ? NGX_HTTP_AIGW_KS_ERROR
                             : NGX_HTTP_AIGW_KS_NOT_FOUND;
        }

        break;

    case NGX_HTTP_AIGW_KS_LIST:
        for (q = ngx_queue_head(head); q != ngx_queue_sentinel(head);
             q = ngx_queue_next(q))
        {
            rec = ngx_queue_data(q, ngx_http_aigw_ks_rec_t, queue);

            s = ngx_array_push(&op->docs);
            if (s == NULL
                || ngx_http_aigw_ks_copy(op, s, rec->data + rec->name_len,
                                         rec->doc_len)
                   != NGX_OK)
            {
                op->status = NGX_HTTP_AIGW_KS_ERROR;
                break;
            }
        }

        break;

    case NGX_HTTP_AIGW_KS_CREATE:
        if (rec) {
            op->status = NGX_HTTP_AIGW_KS_EXISTS;
            break;
        }

        if (!op->tenant) {
            if (aigw_hex_decode(hash, op->hash_hex.data, AIGW_KEY_HASH_LEN)
                != 0)
            {
                op->status = NGX_HTTP_AIGW_KS_ERROR;
                break;
            }

            if (ngx_http_aigw_ks_find_hash(sh, hash)) {
                op->status = NGX_HTTP_AIGW_KS_HASH_EXISTS;
                break;
            }
        }

        if (op->need_tenant.len
            && ngx_http_aigw_ks_find_name(&sh->tenantq, &op->need_tenant)
               == NULL)
        {
            op->status = NGX_HTTP_AIGW_KS_NO_TENANT;
            break;
        }

        if (ngx_http_aigw_ks_rec_new(z, op->tenant ? NULL : hash, &op->name,
                                     &op->doc)
            == NULL)
        {
            op->status = NGX_HTTP_AIGW_KS_FULL;
            break;
        }

        changed = 1;
        break;

    case NGX_HTTP_AIGW_KS_UPDATE:
        if (rec == NULL) {
            op->status = NGX_HTTP_AIGW_KS_NOT_FOUND;
            break;
        }

        if (rec->doc_len != op->old.len
            || ngx_memcmp(rec->data + rec->name_len, op->old.data,
                          op->old.len) != 0)
        {
            op->status = NGX_HTTP_AIGW_KS_CONFLICT;
            break;
        }

        if (op->need_tenant.len
            && ngx_http_aigw_ks_find_name(&sh->tenantq, &op->need_tenant)
               == NULL)
        {
            op->status = NGX_HTTP_AIGW_KS_NO_TENANT;
            break;
        }

        /* a new record first: a full zone leaves the old one alone */

        ngx_memcpy(hash, rec->hash, AIGW_KEY_HASH_LEN);

        nrec = ngx_http_aigw_ks_rec_new(z, op->tenant ? NULL : hash,
                                        &op->name, &op->doc);
        if (nrec == NULL) {
            op->status = NGX_HTTP_AIGW_KS_FULL;
            break;
        }

        ngx_http_aigw_ks_rec_free(z, rec, !op->tenant);
        changed = 1;
        break;

    case NGX_HTTP_AIGW_KS_DELETE:
        if (rec == NULL) {
            op->status = NGX_HTTP_AIGW_KS_NOT_FOUND;
            break;
        }

        if (op->tenant) {
            for (q = ngx_queue_head(&sh->keyq);
                 q != ngx_queue_sentinel(&sh->keyq);
                 q = ngx_queue_next(q))
            {
                nrec = ngx_queue_data(q, ngx_http_aigw_ks_rec_t, queue);

                /* the documents are NUL-free JSON: copy to parse */

                p = ngx_pnalloc(op->request->pool, nrec->doc_len + 1);
                if (p == NULL) {
                    op->status = NGX_HTTP_AIGW_KS_ERROR;
                    break;
                }

                ngx_memcpy(p, nrec->data + nrec->name_len, nrec->doc_len);
                p[nrec->doc_len] = '\0';

                if (aigw_admin_doc_names((char *) p, kname, ktenant) == 0
                    && ngx_strlen(ktenant) == op->name.len
                    && ngx_strncmp(ktenant, op->name.data, op->name.len)
                       == 0)
                {
                    op->status = NGX_HTTP_AIGW_KS_IN_USE;
                    break;
                }
            }

            if (op->status != NGX_HTTP_AIGW_KS_OK) {
                break;
            }
        }

        ngx_http_aigw_ks_rec_free(z, rec, !op->tenant);
        changed = 1;
        break;

    default: /* NGX_HTTP_AIGW_KS_USAGE */
        for (q = ngx_queue_head(&sh->usageq);
             q != ngx_queue_sentinel(&sh->usageq);
             q = ngx_queue_next(q))
        {
            u = ngx_queue_data(q, ngx_http_aigw_ks_urec_t, queue);

            if (u->day < op->from || u->day > op->to) {
                continue;
            }

            for (i = 0; i < NGX_HTTP_AIGW_KS_METRICS; i++) {
                if (u->v[i] == 0 && i) {
                    continue;
                }

                ue = ngx_array_push(&op->usage);
                if (ue == NULL) {
                    op->status = NGX_HTTP_AIGW_KS_ERROR;
                    break;
                }

                ue->day = u->day;
                ue->value = u->v[i];
                ue->field.len = 2 + u->len;
                ue->field.data = ngx_pnalloc(op->request->pool,
                                             ue->field.len);
                if (ue->field.data == NULL) {
                    op->status = NGX_HTTP_AIGW_KS_ERROR;
                    break;
                }

                ue->field.data[0] = metrics[i];
                ue->field.data[1] = '|';
                ngx_memcpy(ue->field.data + 2, u->data, u->len);
            }
        }

        break;
    }

    if (changed) {
        (void) ngx_atomic_fetch_add(&sh->gen, 1);
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    if (op->type == NGX_HTTP_AIGW_KS_GET
        && op->name.len + 2 <= sizeof(idbuf))
    {
        id.data = idbuf;
        id.len = ngx_sprintf(idbuf, "%c:%V", op->tenant ? 't' : 'k',
                             &op->name) - idbuf;
        ngx_http_aigw_shm_spend(&ks->amcf->store, &id, &op->period,
                                &op->spend);
    }

    if (!changed) {
        return NGX_OK;
    }

    /* a deleted name starts from nothing if it is made again */

    if (op->type == NGX_HTTP_AIGW_KS_DELETE
        && op->name.len + 2 <= sizeof(idbuf))
    {
        id.data = idbuf;
        id.len = ngx_sprintf(idbuf, "%c:%V", op->tenant ? 't' : 'k',
                             &op->name) - idbuf;
        ngx_http_aigw_shm_forget(&ks->amcf->store, &id);
    }

    if (ngx_http_aigw_ks_save(z, op->request->connection->log) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, op->request->connection->log, 0,
                      "aigw: the change is in effect but was not saved to "
                      "\"%V\"", &ks->state_file);
    }

    return NGX_OK;
}


/* redis operations: one EVAL (or HVALS) each */

static ngx_int_t
ngx_http_aigw_ks_redis_run(ngx_http_aigw_keystore_t *ks,
    ngx_http_aigw_ks_op_t *op)
{
    int                    argc;
    u_char                *p;
    char                   day[AIGW_ADMIN_DAY_LEN + 1];
    size_t                 size, *argvlen;
    int64_t                d;
    ngx_str_t             *prefix;
    ngx_uint_t             i, nkeys;
    const char           **argv;
    ngx_pool_cleanup_t    *cln;
    ngx_http_aigw_redis_t *rd;

    rd = ks->amcf->store.redis;
    prefix = ngx_http_aigw_redis_prefix(rd);

    nkeys = (op->type == NGX_HTTP_AIGW_KS_USAGE)
            ? (ngx_uint_t) (op->to - op->from + 1) : 5;

    argv = ngx_palloc(op->request->pool, (nkeys + 8) * sizeof(char *));
    argvlen = ngx_palloc(op->request->pool, (nkeys + 8) * sizeof(size_t));

    size = (nkeys + 2) * (prefix->len + 32 + op->name.len);
    p = ngx_pnalloc(op->request->pool, size);

    if (argv == NULL || argvlen == NULL || p == NULL) {
        op->status = NGX_HTTP_AIGW_KS_ERROR;
        return NGX_OK;
    }

#define ks_arg(s, n)                                                          \
    argv[argc] = (const char *) (s); argvlen[argc] = (n); argc++

#define ks_key(fmt, ...)                                                      \
    argv[argc] = (const char *) p;                                            \
    p = ngx_sprintf(p, "%V" fmt, prefix, ##__VA_ARGS__);                      \
    argvlen[argc] = p - (u_char *) argv[argc]; argc++

    argc = 0;

    switch (op->type) {

    case NGX_HTTP_AIGW_KS_GET:
        ks_arg("EVAL", 4);
        ks_arg(ngx_http_aigw_ks_lua_get, sizeof(ngx_http_aigw_ks_lua_get) - 1);
        ks_arg("2", 1);
        ks_key("admin:%s", op->tenant ? "tenants" : "keys");
        ks_key("s:%c:%V", op->tenant ? 't' : 'k', &op->name);
        ks_arg(op->name.data, op->name.len);
        break;

    case NGX_HTTP_AIGW_KS_LIST:
        ks_arg("HVALS", 5);
        ks_key("admin:%s", op->tenant ? "tenants" : "keys");
        break;

    case NGX_HTTP_AIGW_KS_CREATE:
        ks_arg("EVAL", 4);
        ks_arg(ngx_http_aigw_ks_lua_create,
               sizeof(ngx_http_aigw_ks_lua_create) - 1);
        ks_arg("4", 1);
        ks_key("admin:%s", op->tenant ? "tenants" : "keys");
        ks_key("admin:keyhash");
        ks_key("admin:gen");
        ks_key("admin:tenants");
        ks_arg(op->name.data, op->name.len);
        ks_arg(op->hash_hex.data, op->hash_hex.len);
        ks_arg(op->doc.data, op->doc.len);
        ks_arg(op->need_tenant.data, op->need_tenant.len);
        break;

    case NGX_HTTP_AIGW_KS_UPDATE:
        ks_arg("EVAL", 4);
        ks_arg(ngx_http_aigw_ks_lua_update,
               sizeof(ngx_http_aigw_ks_lua_update) - 1);
        ks_arg("3", 1);
        ks_key("admin:%s", op->tenant ? "tenants" : "keys");
        ks_key("admin:gen");
        ks_key("admin:tenants");
        ks_arg(op->name.data, op->name.len);
        ks_arg(op->old.data, op->old.len);
        ks_arg(op->doc.data, op->doc.len);
        ks_arg(op->need_tenant.data, op->need_tenant.len);
        break;

    case NGX_HTTP_AIGW_KS_DELETE:
        ks_arg("EVAL", 4);
        ks_arg(ngx_http_aigw_ks_lua_delete,
               sizeof(ngx_http_aigw_ks_lua_delete) - 1);
        ks_arg("5", 1);
        ks_key("admin:%s", op->tenant ? "tenants" : "keys");
        ks_key("admin:keyhash");
        ks_key("admin:gen");
        ks_key("s:%c:%V", op->tenant ? 't' : 'k', &op->name);
        ks_key("admin:keys");
        ks_arg(op->name.data, op->name.len);
        ks_arg(op->tenant ? "t" : "k", 1);
        break;

    default: /* NGX_HTTP_AIGW_KS_USAGE */
        ks_arg("EVAL", 4);
        ks_arg(ngx_http_aigw_ks_lua_usage,
               sizeof(ngx_http_aigw_ks_lua_usage) - 1);

        argv[argc] = (const char *) p;
        p = ngx_sprintf(p, "%ui", nkeys);
        argvlen[argc] = p - (u_char *) argv[argc];
        argc++;

        for (i = 0; i < nkeys; i++) {
            d = op->from + i;
            aigw_admin_day_format(d, day);
            ks_key("usage:%s", day);
        }

        break;
    }

#undef ks_arg
#undef ks_key

    op->token = ngx_http_aigw_redis_query(rd, 0, argc, argv, argvlen,
                                          ngx_http_aigw_ks_redis_done, op);
    if (op->token == NULL) {
        op->status = NGX_HTTP_AIGW_KS_ERROR;
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(op->request->pool, 0);
    if (cln == NULL) {
        ngx_http_aigw_redis_query_cancel(op->token);
        op->token = NULL;
        op->status = NGX_HTTP_AIGW_KS_ERROR;
        return NGX_OK;
    }

    cln->handler = ngx_http_aigw_ks_op_cleanup;
    cln->data = op;

    return NGX_AGAIN;
}


static void
ngx_http_aigw_ks_op_cleanup(void *data)
{
    ngx_http_aigw_ks_op_t  *op = data;

    if (op->token) {
        ngx_http_aigw_redis_query_cancel(op->token);
        op->token = NULL;
    }
}


static void
ngx_http_aigw_ks_redis_done(void *data, void *r)
{
    ngx_http_aigw_ks_op_t  *op = data;
    redisReply             *reply = r;

    size_t                     i, j;
    ngx_str_t                 *s;
    redisReply                *day, *e;
    ngx_http_aigw_ks_usage_t  *ue;

    op->token = NULL;
    op->status = NGX_HTTP_AIGW_KS_OK;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        if (reply) {
            ngx_log_error(NGX_LOG_ERR, op->request->connection->log, 0,
                          "aigw: redis: %*s", (size_t) reply->len,
                          reply->str);
        }

        op->status = NGX_HTTP_AIGW_KS_ERROR;
        goto done;
    }

    switch (op->type) {

    case NGX_HTTP_AIGW_KS_GET:
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
            op->status = NGX_HTTP_AIGW_KS_NOT_FOUND;
            break;
        }

        e = reply->element[0];

        if (e->type != REDIS_REPLY_STRING) {
            op->status = NGX_HTTP_AIGW_KS_NOT_FOUND;

        } else if (ngx_http_aigw_ks_copy(op, &op->result, (u_char *) e->str,
                                         e->len)
                   != NGX_OK)
        {
            op->status = NGX_HTTP_AIGW_KS_ERROR;
            break;
        }

        e = reply->element[1];
        op->period = (e->type == REDIS_REPLY_STRING)
                     ? ngx_atoof((u_char *) e->str, e->len) : 0;
        e = reply->element[2];
        op->spend = (e->type == REDIS_REPLY_STRING)
                    ? ngx_atoof((u_char *) e->str, e->len) : 0;

        if (op->period < 0) {
            op->period = 0;
        }

        if (op->spend < 0) {
            op->spend = 0;
        }

        break;

    case NGX_HTTP_AIGW_KS_LIST:
        for (i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements;
             i++)
        {
            e = reply->element[i];

            if (e->type != REDIS_REPLY_STRING) {
                continue;
            }

            s = ngx_array_push(&op->docs);
            if (s == NULL
                || ngx_http_aigw_ks_copy(op, s, (u_char *) e->str, e->len)
                   != NGX_OK)
            {
                op->status = NGX_HTTP_AIGW_KS_ERROR;
                break;
            }
        }

        break;

    case NGX_HTTP_AIGW_KS_USAGE:
        for (i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements;
             i++)
        {
            day = reply->element[i];

            for (j = 0; day->type == REDIS_REPLY_ARRAY
                        && j + 1 < day->elements; j += 2)
            {
                e = day->element[j];

                if (e->type != REDIS_REPLY_STRING
                    || day->element[j + 1]->type != REDIS_REPLY_STRING)
                {
                    continue;
                }

                ue = ngx_array_push(&op->usage);
                if (ue == NULL
                    || ngx_http_aigw_ks_copy(op, &ue->field,
                                             (u_char *) e->str, e->len)
                       != NGX_OK)
                {
                    op->status = NGX_HTTP_AIGW_KS_ERROR;
                    goto done;
                }

                ue->day = op->from + i;
                ue->value = ngx_atoof((u_char *) day->element[j + 1]->str,
                                      day->element[j + 1]->len);
            }
        }

        break;

    default: /* create, update, delete: a status word */
        if (reply->type != REDIS_REPLY_STRING
            && reply->type != REDIS_REPLY_STATUS)
        {
            op->status = NGX_HTTP_AIGW_KS_ERROR;
            break;
        }

#define ks_is(w)                                                              \
        (reply->len == sizeof(w) - 1 && ngx_strncmp(reply->str, w,            \
                                                    sizeof(w) - 1) == 0)

        if (ks_is("ok")) {
            op->status = NGX_HTTP_AIGW_KS_OK;
            ngx_http_aigw_ks_cache_stale_all();

        } else if (ks_is("exists")) {
            op->status = NGX_HTTP_AIGW_KS_EXISTS;

        } else if (ks_is("hash")) {
            op->status = NGX_HTTP_AIGW_KS_HASH_EXISTS;

        } else if (ks_is("missing")) {
            op->status = NGX_HTTP_AIGW_KS_NOT_FOUND;

        } else if (ks_is("conflict")) {
            op->status = NGX_HTTP_AIGW_KS_CONFLICT;

        } else if (ks_is("notenant")) {
            op->status = NGX_HTTP_AIGW_KS_NO_TENANT;

        } else if (ks_is("inuse")) {
            op->status = NGX_HTTP_AIGW_KS_IN_USE;

        } else {
            op->status = NGX_HTTP_AIGW_KS_ERROR;
        }

#undef ks_is

        break;
    }

done:

    op->done(op);
}


/* per-day usage */

static ngx_http_aigw_ks_urec_t *
ngx_http_aigw_ks_usage_rec(ngx_http_aigw_ks_zone_t *z, int64_t day,
    ngx_str_t *id)
{
    int64_t                   oldest;
    uint32_t                  hash;
    ngx_uint_t                tries;
    ngx_queue_t              *q, *next;
    ngx_rbtree_node_t        *node, *sentinel;
    ngx_http_aigw_ks_urec_t  *u;

    hash = ngx_crc32_short(id->data, id->len) ^ (uint32_t) day;

    node = z->sh->usage.root;
    sentinel = z->sh->usage.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        u = (ngx_http_aigw_ks_urec_t *) node;

        if (u->day == day && u->len == id->len
            && ngx_memcmp(u->data, id->data, id->len) == 0)
        {
            return u;
        }

        node = node->right;
    }

    /*
     * Bounded: days older than the retention go first; when the zone is
     * full, the oldest day that is left goes (at most 4 days per call).
     */

    for (tries = 0; tries < 5; tries++) {

        u = ngx_slab_alloc_locked(z->shpool,
                                  offsetof(ngx_http_aigw_ks_urec_t, data)
                                  + id->len);
        if (u) {
            break;
        }

        oldest = day - NGX_HTTP_AIGW_KS_USAGE_DAYS;

        if (tries) {
            oldest = day;

            for (q = ngx_queue_head(&z->sh->usageq);
                 q != ngx_queue_sentinel(&z->sh->usageq);
                 q = ngx_queue_next(q))
            {
                u = ngx_queue_data(q, ngx_http_aigw_ks_urec_t, queue);
                oldest = ngx_min(oldest, u->day);
            }

            if (oldest == day) {
                return NULL;
            }
        }

        for (q = ngx_queue_head(&z->sh->usageq);
             q != ngx_queue_sentinel(&z->sh->usageq);
             q = next)
        {
            next = ngx_queue_next(q);
            u = ngx_queue_data(q, ngx_http_aigw_ks_urec_t, queue);

            if (u->day <= oldest) {
                ngx_queue_remove(q);
                ngx_rbtree_delete(&z->sh->usage, &u->node);
                ngx_slab_free_locked(z->shpool, u);
            }
        }

        u = NULL;
    }

    if (u == NULL) {
        return NULL;
    }

    ngx_memzero(u, sizeof(ngx_http_aigw_ks_urec_t));

    u->node.key = hash;
    u->day = day;
    u->len = id->len;
    ngx_memcpy(u->data, id->data, id->len);

    ngx_rbtree_insert(&z->sh->usage, &u->node);
    ngx_queue_insert_tail(&z->sh->usageq, &u->queue);

    return u;
}


static ngx_int_t
ngx_http_aigw_ks_log_handler(ngx_http_request_t *r)
{
    u_char                     *p, *buf;
    char                        day_s[AIGW_ADMIN_DAY_LEN + 1];
    int                         argc;
    size_t                      size;
    size_t                      argvlen[4 + 4 * NGX_HTTP_AIGW_KS_METRICS];
    int64_t                     day, v[NGX_HTTP_AIGW_KS_METRICS];
    ngx_str_t                   id, name, tenant, *prefix;
    ngx_uint_t                  i, k, nsub;
    const char                 *argv[4 + 4 * NGX_HTTP_AIGW_KS_METRICS];
    ngx_http_aigw_ctx_t        *ctx;
    ngx_http_aigw_ks_zone_t    *z;
    ngx_http_aigw_ks_urec_t    *u;
    ngx_http_aigw_keystore_t   *ks;
    ngx_http_aigw_main_conf_t  *amcf;
    static const char           metrics[] = "riocu";

    if (r != r->main) {
        return NGX_OK;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_aigw_module);
    ks = amcf->keystore;

    if (ks == NULL || !ks->enable) {
        return NGX_OK;
    }

    ctx = ngx_http_aigw_get_ctx(r);

    /* what reached an upstream: answered, or at least tried */

    if (ctx == NULL || ctx->key == NULL || ctx->model.len == 0
        || !(ctx->header_seen || ctx->usage.found))
    {
        return NGX_OK;
    }

    day = ngx_time() / 86400;

    v[0] = 1;
    v[1] = ctx->usage.found ? ctx->usage.prompt_tokens : 0;
    v[2] = ctx->usage.found ? ctx->usage.completion_tokens : 0;
    v[3] = ctx->usage.found ? ctx->usage.cached_tokens : 0;
    v[4] = (ctx->usage.found && ctx->price)
           ? aigw_cost_micro_usd(ctx->price, &ctx->usage) : 0;

    name.data = (u_char *) ctx->key->name;
    name.len = ctx->key->name_len;
    nsub = 1;
    ngx_str_null(&tenant);

    if (ctx->key->tenant) {
        tenant.data = (u_char *) ctx->key->tenant->name;
        tenant.len = ctx->key->tenant->name_len;
        nsub = 2;
    }

    size = nsub * NGX_HTTP_AIGW_KS_METRICS
           * aigw_admin_field_len(ngx_max(name.len, tenant.len),
                                  ctx->model.len);

    buf = ngx_pnalloc(r->pool, size + 2 * NGX_HTTP_AIGW_KS_METRICS * nsub
                               * NGX_INT64_LEN + 64);
    if (buf == NULL) {
        return NGX_OK;
    }

    if (amcf->store.redis) {
        prefix = ngx_http_aigw_redis_prefix(amcf->store.redis);

        p = ngx_pnalloc(r->pool, prefix->len + 16 + AIGW_ADMIN_DAY_LEN);
        if (p == NULL) {
            return NGX_OK;
        }

        aigw_admin_day_format(day, day_s);

        argc = 0;
        argv[argc] = "EVAL";
        argvlen[argc++] = 4;
        argv[argc] = ngx_http_aigw_ks_lua_count;
        argvlen[argc++] = sizeof(ngx_http_aigw_ks_lua_count) - 1;
        argv[argc] = "1";
        argvlen[argc++] = 1;
        argv[argc] = (const char *) p;
        argvlen[argc++] = ngx_sprintf(p, "%Vusage:%s", prefix, day_s) - p;

        p = buf;
        argv[argc] = (const char *) p;
        p = ngx_sprintf(p, "%d", (int) NGX_HTTP_AIGW_KS_USAGE_DAYS * 86400);
        argvlen[argc] = p - (u_char *) argv[argc];
        argc++;

        for (k = 0; k < nsub; k++) {
            for (i = 0; i < NGX_HTTP_AIGW_KS_METRICS; i++) {
                if (v[i] == 0) {
                    continue;
                }

                argv[argc] = (const char *) p;
                p = aigw_admin_field_write(p, metrics[i], k ? 't' : 'k',
                                           k ? tenant.data : name.data,
                                           k ? tenant.len : name.len,
                                           ctx->model.data, ctx->model.len);
                argvlen[argc] = p - (u_char *) argv[argc];
                argc++;

                argv[argc] = (const char *) p;
                p = ngx_sprintf(p, "%L", v[i]);
                argvlen[argc] = p - (u_char *) argv[argc];
                argc++;
            }
        }

        (void) ngx_http_aigw_redis_fire(amcf->store.redis,
                                        NGX_HTTP_AIGW_KS_FIRE_MAX,
                                        "the usage counters failed",
                                        argc, argv, argvlen);
        return NGX_OK;
    }

    z = ks->zone->data;

    ngx_shmtx_lock(&z->shpool->mutex);

    for (k = 0; k < nsub; k++) {
        id.data = buf;
        p = buf;
        *p++ = k ? 't' : 'k';
        *p++ = '|';
        p = ngx_cpymem(p, k ? tenant.data : name.data,
                       k ? tenant.len : name.len);
        *p++ = '|';
        p = ngx_cpymem(p, ctx->model.data, ctx->model.len);
        id.len = p - buf;

        u = ngx_http_aigw_ks_usage_rec(z, day, &id);

        if (u == NULL) {
            break;
        }

        for (i = 0; i < NGX_HTTP_AIGW_KS_METRICS; i++) {
            u->v[i] += v[i];
        }
    }

    (void) ngx_atomic_fetch_add(&z->sh->usage_changes, 1);

    ngx_shmtx_unlock(&z->shpool->mutex);

    return NGX_OK;
}


/* usage.tsv: "<day>\t<id>\t<r>\t<i>\t<o>\t<c>\t<u>\n" */

static ngx_int_t
ngx_http_aigw_ks_save_usage(ngx_http_aigw_ks_zone_t *z, ngx_log_t *log)
{
    u_char                   *buf, *p;
    size_t                    size;
    ngx_int_t                 rc;
    ngx_uint_t                i;
    ngx_queue_t              *q;
    ngx_http_aigw_ks_urec_t  *u;

    ngx_shmtx_lock(&z->shpool->mutex);

    size = 1;

    for (q = ngx_queue_head(&z->sh->usageq);
         q != ngx_queue_sentinel(&z->sh->usageq);
         q = ngx_queue_next(q))
    {
        u = ngx_queue_data(q, ngx_http_aigw_ks_urec_t, queue);
        size += u->len + 7 * (NGX_INT64_LEN + 1);
    }

    buf = ngx_alloc(size, log);
    if (buf == NULL) {
        ngx_shmtx_unlock(&z->shpool->mutex);
        return NGX_ERROR;
    }

    p = buf;

    for (q = ngx_queue_head(&z->sh->usageq);
         q != ngx_queue_sentinel(&z->sh->usageq);
         q = ngx_queue_next(q))
    {
        u = ngx_queue_data(q, ngx_http_aigw_ks_urec_t, queue);

        p = ngx_sprintf(p, "%L\t", u->day);
        p = ngx_cpymem(p, u->data, u->len);

        for (i = 0; i < NGX_HTTP_AIGW_KS_METRICS; i++) {
            p = ngx_sprintf(p, "\t%L", u->v[i]);
        }

        *p++ = '\n';
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    rc = ngx_http_aigw_ks_write_file(&z->ks->usage_file, buf, p - buf, log);

    ngx_free(buf);

    return rc;
}


static void
ngx_http_aigw_ks_load_usage(ngx_http_aigw_ks_zone_t *z, ngx_log_t *log)
{
    u_char                   *buf, *p, *end, *line, *f[7];
    size_t                    len;
    int64_t                   day, today;
    ngx_str_t                 id;
    ngx_uint_t                i, n;
    ngx_http_aigw_ks_urec_t  *u;

    buf = ngx_http_aigw_ks_read_file(&z->ks->usage_file, &len, log);
    if (buf == NULL) {
        return;
    }

    end = buf + len;
    today = ngx_time() / 86400;

    ngx_shmtx_lock(&z->shpool->mutex);

    for (line = buf; line < end; line = p + 1) {
        p = ngx_strlchr(line, end, '\n');
        if (p == NULL) {
            p = end;
        }

        /* seven tab-separated fields */

        f[0] = line;
        n = 1;

        for (i = 0; line + i < p && n < 7; i++) {
            if (line[i] == '\t') {
                f[n++] = line + i + 1;
            }
        }

        if (n != 7 || f[1] - f[0] < 2) {
            continue;
        }

        day = ngx_atoof(f[0], f[1] - f[0] - 1);

        if (day < 0 || day <= today - NGX_HTTP_AIGW_KS_USAGE_DAYS) {
            continue;
        }

        id.data = f[1];
        id.len = f[2] - f[1] - 1;

        u = ngx_http_aigw_ks_usage_rec(z, day, &id);
        if (u == NULL) {
            break;
        }

        for (i = 0; i < NGX_HTTP_AIGW_KS_METRICS; i++) {
            u->v[i] = ngx_atoof(f[2 + i],
                                (i < 4 ? f[3 + i] - 1 : p) - f[2 + i]);
            if (u->v[i] < 0) {
                u->v[i] = 0;
            }
        }
    }

    ngx_shmtx_unlock(&z->shpool->mutex);

    ngx_free(buf);
}


static void
ngx_http_aigw_ks_usage_timer(ngx_event_t *ev)
{
    ngx_http_aigw_ks_zone_t  *z = ev->data;

    ngx_atomic_uint_t  changes;

    changes = z->sh->usage_changes;

    if (changes != ngx_http_aigw_ks_usage_saved
        && ngx_http_aigw_ks_save_usage(z, ev->log) == NGX_OK)
    {
        ngx_http_aigw_ks_usage_saved = changes;
    }

    if (!ngx_exiting && !ngx_terminate && !ngx_quit) {
        ngx_add_timer(ev, ngx_http_aigw_ks_usage_interval);
    }
}


ngx_int_t
ngx_http_aigw_keystore_init_process(ngx_cycle_t *cycle)
{
    ngx_http_aigw_ks_zone_t    *z;
    ngx_http_aigw_keystore_t   *ks;
    ngx_http_aigw_main_conf_t  *amcf;

    ngx_rbtree_init(&ngx_http_aigw_ks_cache, &ngx_http_aigw_ks_cache_sentinel,
                    ngx_rbtree_insert_value);
    ngx_queue_init(&ngx_http_aigw_ks_cache_lru);
    ngx_http_aigw_ks_cache_n = 0;
    ngx_http_aigw_ks_cache_ready = 1;

    amcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_aigw_module);

    if (amcf == NULL || amcf->keystore == NULL || !amcf->keystore->enable) {
        return NGX_OK;
    }

    ks = amcf->keystore;

    if (ks->usage_file.len == 0 || ngx_worker != 0
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return NGX_OK;
    }

    z = ks->zone->data;

    ngx_http_aigw_ks_usage_saved = z->sh->usage_changes;
    ngx_http_aigw_ks_usage_interval = amcf->store.persist
                                      ? amcf->store.persist : 10000;

    ngx_http_aigw_ks_usage_event.handler = ngx_http_aigw_ks_usage_timer;
    ngx_http_aigw_ks_usage_event.data = z;
    ngx_http_aigw_ks_usage_event.log = cycle->log;
    ngx_http_aigw_ks_usage_event.cancelable = 1;

    ngx_add_timer(&ngx_http_aigw_ks_usage_event,
                  ngx_http_aigw_ks_usage_interval);

    return NGX_OK;
}


void
ngx_http_aigw_keystore_exit_process(ngx_cycle_t *cycle)
{
    ngx_queue_t                *q;
    ngx_http_aigw_ks_zone_t    *z;
    ngx_http_aigw_ks_entry_t   *e;

    if (ngx_http_aigw_ks_usage_event.handler) {
        z = ngx_http_aigw_ks_usage_event.data;

        if (z->sh->usage_changes != ngx_http_aigw_ks_usage_saved) {
            (void) ngx_http_aigw_ks_save_usage(z, cycle->log);
        }
    }

    if (!ngx_http_aigw_ks_cache_ready) {
        return;
    }

    /* requests are gone: every entry goes, referenced or not */

    while (!ngx_queue_empty(&ngx_http_aigw_ks_cache_lru)) {
        q = ngx_queue_head(&ngx_http_aigw_ks_cache_lru);
        e = ngx_queue_data(q, ngx_http_aigw_ks_entry_t, lru);

        ngx_queue_remove(q);
        ngx_rbtree_delete(&ngx_http_aigw_ks_cache, &e->node);

        aigw_keys_free(e->keyset);
        ngx_free(e);
    }

    ngx_http_aigw_ks_cache_n = 0;
}


/* the per-worker cache */

static ngx_http_aigw_ks_entry_t *
ngx_http_aigw_ks_cache_find(const u_char *hash)
{
    uint32_t                   k;
    ngx_rbtree_node_t         *node, *sentinel;
    ngx_http_aigw_ks_entry_t  *e;

    ngx_memcpy(&k, hash, sizeof(uint32_t));

    node = ngx_http_aigw_ks_cache.root;
    sentinel = ngx_http_aigw_ks_cache.sentinel;

    while (node != sentinel) {

        if (k < node->key) {
            node = node->left;
            continue;
        }

        if (k > node->key) {
            node = node->right;
            continue;
        }

        e = (ngx_http_aigw_ks_entry_t *) node;

        if (ngx_memcmp(e->hash, hash, AIGW_KEY_HASH_LEN) == 0) {
            return e;
        }

        node = node->right;
    }

    return NULL;
}


static ngx_http_aigw_ks_entry_t *
ngx_http_aigw_ks_cache_add(ngx_http_aigw_keystore_t *ks, const u_char *hash,
    aigw_keyset_t *keyset, ngx_atomic_uint_t gen)
{
    uint32_t                   k;
    ngx_queue_t               *q;
    ngx_http_aigw_ks_entry_t  *e, *old;

    e = ngx_alloc(sizeof(ngx_http_aigw_ks_entry_t), ngx_cycle->log);
    if (e == NULL) {
        aigw_keys_free(keyset);
        return NULL;
    }

    ngx_memzero(e, sizeof(ngx_http_aigw_ks_entry_t));

    old = ngx_http_aigw_ks_cache_find(hash);

    if (old) {
        ngx_http_aigw_ks_cache_unlink(old);
    }

    /* bounded: the least recently used entry goes */

    if (ngx_http_aigw_ks_cache_n >= NGX_HTTP_AIGW_KS_CACHE_MAX) {
        q = ngx_queue_last(&ngx_http_aigw_ks_cache_lru);
        ngx_http_aigw_ks_cache_unlink(
            ngx_queue_data(q, ngx_http_aigw_ks_entry_t, lru));
    }

    ngx_memcpy(e->hash, hash, AIGW_KEY_HASH_LEN);
    ngx_memcpy(&k, hash, sizeof(uint32_t));
    e->node.key = k;
    e->keyset = keyset;
    e->fetched = ngx_current_msec;
    e->gen = gen;
    e->linked = 1;

    ngx_rbtree_insert(&ngx_http_aigw_ks_cache, &e->node);
    ngx_queue_insert_head(&ngx_http_aigw_ks_cache_lru, &e->lru);
    ngx_http_aigw_ks_cache_n++;

    (void) ks;

    return e;
}


static void
ngx_http_aigw_ks_cache_unlink(ngx_http_aigw_ks_entry_t *e)
{
    if (!e->linked) {
        return;
    }

    ngx_rbtree_delete(&ngx_http_aigw_ks_cache, &e->node);
    ngx_queue_remove(&e->lru);
    ngx_http_aigw_ks_cache_n--;
    e->linked = 0;

    if (e->refs == 0) {
        aigw_keys_free(e->keyset);
        ngx_free(e);
    }
}


static void
ngx_http_aigw_ks_cache_stale_all(void)
{
    ngx_queue_t               *q;
    ngx_http_aigw_ks_entry_t  *e;

    if (!ngx_http_aigw_ks_cache_ready) {
        return;
    }

    for (q = ngx_queue_head(&ngx_http_aigw_ks_cache_lru);
         q != ngx_queue_sentinel(&ngx_http_aigw_ks_cache_lru);
         q = ngx_queue_next(q))
    {
        e = ngx_queue_data(q, ngx_http_aigw_ks_entry_t, lru);
        e->stale = 1;
    }
}


/* The request holds the entry until its pool goes. */

static ngx_int_t
ngx_http_aigw_ks_hold(ngx_http_request_t *r, ngx_http_aigw_ks_entry_t *e,
    const aigw_key_t **key)
{
    ngx_pool_cleanup_t  *cln;

    if (e->linked) {
        ngx_queue_remove(&e->lru);
        ngx_queue_insert_head(&ngx_http_aigw_ks_cache_lru, &e->lru);
    }

    if (e->keyset == NULL) {
        *key = NULL;
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    e->refs++;
    cln->handler = ngx_http_aigw_ks_unref;
    cln->data = e;

    *key = &e->keyset->keys[0];

    return NGX_OK;
}


static void
ngx_http_aigw_ks_unref(void *data)
{
    ngx_http_aigw_ks_entry_t  *e = data;

    if (--e->refs == 0 && !e->linked) {
        aigw_keys_free(e->keyset);
        ngx_free(e);
    }
}


/*
 * A stored key document (and its tenant's, from the store or the keys file)
 * made into a keyset of one key; NULL if it cannot be used.
 */

static aigw_keyset_t *
ngx_http_aigw_ks_build(ngx_http_aigw_keystore_t *ks, const u_char *hash,
    const char *keydoc, size_t keylen, const char *tenantdoc,
    size_t tenantlen, ngx_log_t *log)
{
    char                 *doc, *fdoc;
    char                  name[AIGW_KEY_NAME_MAX + 1];
    char                  tenant[AIGW_KEY_NAME_MAX + 1];
    char                  err[256];
    aigw_keyset_t        *keyset;
    const aigw_tenant_t  *t;

    doc = ngx_alloc(keylen + 1, log);
    if (doc == NULL) {
        return NULL;
    }

    ngx_memcpy(doc, keydoc, keylen);
    doc[keylen] = '\0';

    fdoc = NULL;

    if (aigw_admin_doc_names(doc, name, tenant) == 0 && tenant[0]
        && tenantdoc == NULL && ks->amcf->keyset)
    {
        t = aigw_keys_find_tenant(ks->amcf->keyset, (u_char *) tenant,
                                  ngx_strlen(tenant));
        if (t) {
            fdoc = aigw_admin_file_tenant(t);

            if (fdoc) {
                tenantdoc = fdoc;
                tenantlen = ngx_strlen(fdoc);
            }
        }
    }

    ngx_free(doc);

    if (aigw_admin_build(keydoc, keylen, tenantdoc, tenantlen, &keyset, err,
                         sizeof(err))
        != 0)
    {
        free(fdoc);
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "aigw: the run-time key \"%s\" cannot be used: %s",
                      name, err);
        return NULL;
    }

    free(fdoc);

    if (keyset->nkeys != 1
        || ngx_memcmp(keyset->keys[0].hash, hash, AIGW_KEY_HASH_LEN) != 0)
    {
        aigw_keys_free(keyset);
        return NULL;
    }

    return keyset;
}


ngx_int_t
ngx_http_aigw_keystore_find(ngx_http_request_t *r, ngx_http_aigw_ctx_t *ctx,
    const u_char *hash, const aigw_key_t **key)
{
    char                        hex[2 * AIGW_KEY_HASH_LEN];
    size_t                      argvlen[8];
    u_char                     *doc, *tdoc, *p;
    size_t                      doclen, tdoclen;
    const char                 *argv[8];
    ngx_str_t                  *prefix, t;
    ngx_atomic_uint_t           gen;
    aigw_keyset_t              *keyset;
    ngx_pool_cleanup_t         *cln;
    ngx_http_aigw_key_wait_t   *w;
    ngx_http_aigw_ks_zone_t    *z;
    ngx_http_aigw_ks_rec_t     *rec, *trec;
    ngx_http_aigw_ks_entry_t   *e;
    ngx_http_aigw_keystore_t   *ks;
    ngx_http_aigw_main_conf_t  *amcf;
    char                        kname[AIGW_KEY_NAME_MAX + 1];
    char                        ktenant[AIGW_KEY_NAME_MAX + 1];

    *key = NULL;

    w = ctx->key_wait;

    if (w && !w->pending) {
        /* the store has answered */

        if (w->status != NGX_OK) {
            return NGX_ERROR;
        }

        return w->entry ? ngx_http_aigw_ks_hold(r, w->entry, key) : NGX_OK;
    }

    amcf = ngx_http_get_module_main_conf(r, ngx_http_aigw_module);
    ks = amcf->keystore;

    if (ks == NULL || !ks->enable || !ngx_http_aigw_ks_cache_ready) {
        return NGX_OK;
    }

    z = ks->zone->data;
    e = ngx_http_aigw_ks_cache_find(hash);

    if (amcf->store.redis == NULL) {
        gen = z->sh->gen;

        if (e && e->gen == gen && !e->stale) {
            return ngx_http_aigw_ks_hold(r, e, key);
        }

        /* something changed: read the documents under the lock */

        doc = NULL;
        tdoc = NULL;
        doclen = 0;
        tdoclen = 0;

        ngx_shmtx_lock(&z->shpool->mutex);

        gen = z->sh->gen;
        rec = ngx_http_aigw_ks_find_hash(z->sh, hash);

        if (rec) {
            doclen = rec->doc_len;
            doc = ngx_pnalloc(r->pool, doclen + 1);

            if (doc) {
                ngx_memcpy(doc, rec->data + rec->name_len, doclen);
                doc[doclen] = '\0';
            }
        }

        ngx_shmtx_unlock(&z->shpool->mutex);

        keyset = NULL;

        if (doc) {
            (void) aigw_admin_doc_names((char *) doc, kname, ktenant);

            if (ktenant[0]) {
                t.data = (u_char *) ktenant;
                t.len = ngx_strlen(ktenant);

                ngx_shmtx_lock(&z->shpool->mutex);

                trec = ngx_http_aigw_ks_find_name(&z->sh->tenantq, &t);

                if (trec) {
                    tdoclen = trec->doc_len;
                    tdoc = ngx_pnalloc(r->pool, tdoclen);

                    if (tdoc) {
                        ngx_memcpy(tdoc, trec->data + trec->name_len,
                                   tdoclen);
                    }
                }

                ngx_shmtx_unlock(&z->shpool->mutex);
            }

            keyset = ngx_http_aigw_ks_build(ks, hash, (char *) doc, doclen,
                                            (char *) tdoc, tdoclen,
                                            r->connection->log);
        }

        e = ngx_http_aigw_ks_cache_add(ks, hash, keyset, gen);
        if (e == NULL) {
            return NGX_ERROR;
        }

        return ngx_http_aigw_ks_hold(r, e, key);
    }

    /* redis */

    if (e && !e->stale && ngx_current_msec - e->fetched < ks->cache_time) {
        return ngx_http_aigw_ks_hold(r, e, key);
    }

    w = ngx_pcalloc(r->pool, sizeof(ngx_http_aigw_key_wait_t));
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->request = r;
    w->ks = ks;
    ngx_memcpy(w->hash, hash, AIGW_KEY_HASH_LEN);

    aigw_hex_encode((u_char *) hex, hash, AIGW_KEY_HASH_LEN);

    prefix = ngx_http_aigw_redis_prefix(amcf->store.redis);

    p = ngx_pnalloc(r->pool, 4 * (prefix->len + 16));
    if (p == NULL) {
        return NGX_ERROR;
    }

    argv[0] = "EVAL";
    argvlen[0] = 4;
    argv[1] = ngx_http_aigw_ks_lua_lookup;
    argvlen[1] = sizeof(ngx_http_aigw_ks_lua_lookup) - 1;
    argv[2] = "4";
    argvlen[2] = 1;

    argv[3] = (const char *) p;
    p = ngx_sprintf(p, "%Vadmin:keyhash", prefix);
    argvlen[3] = p - (u_char *) argv[3];
    argv[4] = (const char *) p;
    p = ngx_sprintf(p, "%Vadmin:keys", prefix);
    argvlen[4] = p - (u_char *) argv[4];
    argv[5] = (const char *) p;
    p = ngx_sprintf(p, "%Vadmin:tenants", prefix);
    argvlen[5] = p - (u_char *) argv[5];
    argv[6] = (const char *) p;
    p = ngx_sprintf(p, "%Vadmin:gen", prefix);
    argvlen[6] = p - (u_char *) argv[6];

    argv[7] = hex;
    argvlen[7] = sizeof(hex);

    w->token = ngx_http_aigw_redis_query(amcf->store.redis, 0, 8, argv,
                                         argvlen,
                                         ngx_http_aigw_ks_lookup_done, w);

    if (w->token == NULL) {
        /* Redis is away: what was known before still counts */

        if (e) {
            return ngx_http_aigw_ks_hold(r, e, key);
        }

        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        ngx_http_aigw_redis_query_cancel(w->token);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_aigw_ks_wait_cleanup;
    cln->data = w;

    w->pending = 1;
    ctx->key_wait = w;

    return NGX_AGAIN;
}


static void
ngx_http_aigw_ks_wait_cleanup(void *data)
{
    ngx_http_aigw_key_wait_t  *w = data;

    if (w->pending && w->token) {
        ngx_http_aigw_redis_query_cancel(w->token);
    }

    w->pending = 0;
    w->token = NULL;
}


/* Redis answered a lookup (or not): cache it and resume the request. */

static void
ngx_http_aigw_ks_lookup_done(void *data, void *r)
{
    ngx_http_aigw_key_wait_t  *w = data;
    redisReply                *reply = r;

    int64_t                    gen;
    redisReply                *g, *k, *t;
    aigw_keyset_t             *keyset;
    ngx_connection_t          *c;
    ngx_http_request_t        *req;
    ngx_http_aigw_ctx_t       *ctx;
    ngx_http_aigw_ks_entry_t  *e;

    req = w->request;
    c = req->connection;

    w->pending = 0;
    w->token = NULL;
    w->status = NGX_OK;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 1)
    {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "aigw: redis key lookup: %*s", (size_t) reply->len,
                          reply->str);
        }

        /* a stale entry is better than none while Redis is away */

        e = ngx_http_aigw_ks_cache_find(w->hash);

        if (e) {
            w->entry = e;

        } else {
            w->status = NGX_ERROR;
        }

        goto resume;
    }

    g = reply->element[0];
    gen = (g->type == REDIS_REPLY_STRING) ? ngx_atoof((u_char *) g->str,
                                                      g->len)
                                          : 0;

    if (gen != ngx_http_aigw_ks_redis_gen) {
        /* something changed somewhere: nothing cached is sure any more */
        ngx_http_aigw_ks_cache_stale_all();
        ngx_http_aigw_ks_redis_gen = gen;
    }

    keyset = NULL;

    if (reply->elements >= 2 && reply->element[1]->type == REDIS_REPLY_STRING)
    {
        k = reply->element[1];
        t = (reply->elements >= 3
             && reply->element[2]->type == REDIS_REPLY_STRING)
            ? reply->element[2] : NULL;

        keyset = ngx_http_aigw_ks_build(w->ks, w->hash, k->str, k->len,
                                        t ? t->str : NULL, t ? t->len : 0,
                                        c->log);
    }

    e = ngx_http_aigw_ks_cache_add(w->ks, w->hash, keyset, 0);

    if (e == NULL) {
        w->status = NGX_ERROR;
    }

    w->entry = e;

resume:

    ctx = ngx_http_aigw_get_ctx(req);

    if (ctx == NULL) {
        return;
    }

    ctx->waiting = 0;
    ctx->key_resume = 1;

    req->write_event_handler = ngx_http_core_run_phases;
    ngx_http_core_run_phases(req);
    ngx_http_run_posted_requests(c);
}
