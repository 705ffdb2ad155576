/*
 * aigw: the redis counter store.
 *
 * One async hiredis (0.14.1) context per worker, driven by nginx's event
 * loop through the adapter below; admissions and settlements go in batches
 * to the Lua script of ngx_http_aigw_redis_scripts.h, sent with EVALSHA.
 *
 * hiredis 0.14.1 facts this file is built around:
 *   - the context must be attached (ev hooks set) before the connect
 *     callback is set: setting it asks for a write event at once;
 *   - it has no timers: the connect timeout, the admission timeouts and the
 *     watchdog of a silent connection are nginx timers here;
 *   - redisAsyncHandleRead() reads 16 KB at most: with edge-triggered
 *     events the read handler drains the socket itself;
 *   - the cleanup hook must not close the fd: redisFree() does;
 *   - pending callbacks run with a NULL reply when the context is freed, and
 *     a reply may come after its request is gone: every admission carries a
 *     heap token that only the reply callback frees.
 *
 * The connection itself (configuration, connect, reconnect, watchdog) is
 * also lent to other users through a small internal API (store.h): a
 * connection without the scripts, and fire-and-forget commands, which the
 * usage stream (ngx_http_aigw_usage_stream.c) writes with.
 */

#include "ngx_http_aigw_module.h"
#include "ngx_http_aigw_store.h"
#include "ngx_http_aigw_redis_scripts.h"

#include <sys/un.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/sds.h>


#define NGX_HTTP_AIGW_REDIS_PORT          6379
#define NGX_HTTP_AIGW_REDIS_LIFETIME      600000   /* ms a slot may live */
#define NGX_HTTP_AIGW_REDIS_BACKOFF_MIN   100
#define NGX_HTTP_AIGW_REDIS_BACKOFF_MAX   5000
#define NGX_HTTP_AIGW_REDIS_READS         64       /* per read event */

/* items per EVALSHA of the batch script */
#define NGX_HTTP_AIGW_REDIS_BATCH         64
#define NGX_HTTP_AIGW_REDIS_BATCH_SUBJECTS                                    \
    (NGX_HTTP_AIGW_REDIS_BATCH * NGX_HTTP_AIGW_SUBJECTS)

#define NGX_HTTP_AIGW_REDIS_ADMIT         0
#define NGX_HTTP_AIGW_REDIS_SETTLE        1

/* steps of the connection setup, and the other internal commands */
#define NGX_HTTP_AIGW_REDIS_AUTH          1
#define NGX_HTTP_AIGW_REDIS_SELECT        2
#define NGX_HTTP_AIGW_REDIS_LOAD          3
#define NGX_HTTP_AIGW_REDIS_RELOAD        4
#define NGX_HTTP_AIGW_REDIS_PING          7
#define NGX_HTTP_AIGW_REDIS_READY         8    /* the last setup step of a
                                                  connection without the
                                                  scripts */

#define NGX_HTTP_AIGW_REDIS_FIRE_LOG      60   /* s between two reports of
                                                  failed fired commands */


typedef struct ngx_http_aigw_redis_batch_s  ngx_http_aigw_redis_batch_t;


struct ngx_http_aigw_redis_s {
    /* configuration */
    const char                 *directive;    /* for configuration errors */
    ngx_str_t                   server;       /* as configured, for logs */
    char                       *host;         /* without brackets */
    int                         port;
    char                       *path;         /* unix socket, or NULL */
    ngx_str_t                   password;
    ngx_int_t                   db;
    ngx_msec_t                  timeout;
    ngx_msec_t                  connect_timeout;
    ngx_uint_t                  queue;
    ngx_str_t                   prefix;

    /* the worker's connection */
    ngx_log_t                  *log;
    redisAsyncContext          *ac;
    ngx_connection_t           *conn;
    ngx_event_t                 reconnect;
    ngx_event_t                 connect_timer;
    ngx_event_t                 watchdog;
    ngx_queue_t                 waiting;      /* admissions with a request */
    ngx_queue_t                 parked;       /* settlements for later */
    ngx_uint_t                  nparked;
    ngx_http_aigw_redis_batch_t *batch;       /* items not sent yet */
    ngx_http_aigw_redis_batch_t *spare;       /* a free one */
    ngx_event_t                 flush;        /* sends it, posted */
    ngx_uint_t                  items;        /* in batches, unanswered */
    ngx_uint_t                  batches;      /* batches sent, unanswered */
    ngx_uint_t                  outstanding;  /* commands sent, unanswered */
    ngx_uint_t                  fired;        /* of which fire-and-forget */
    ngx_uint_t                  fire_failed;  /* error replies not logged */
    time_t                      fire_logged;
    ngx_uint_t                  received;     /* replies, for the watchdog */
    ngx_uint_t                  watch_received;
    ngx_uint_t                  failures;     /* connects failed in a row */
    ngx_msec_t                  backoff;
    const char                 *reason;       /* why we drop the context */
    u_char                      reason_buf[160];
    u_char                      sha[40];      /* of the batch script */
    u_char                      wid[16];      /* this worker's id */
    ngx_rbtree_t                slots;        /* of subjects */
    ngx_rbtree_node_t           slots_sentinel;

    unsigned                    scripts:1;    /* the store's connection */
    unsigned                    started:1;
    unsigned                    ready:1;      /* set up: admissions go */
    unsigned                    connected:1;  /* was ready on this context */
    unsigned                    dropping:1;
    unsigned                    exiting:1;
    unsigned                    in_write:1;
    unsigned                    want_write:1;
    unsigned                    watch_pending:1;
    unsigned                    reload:1;
    unsigned                    settle_logged:1;
    unsigned                    overflow_logged:1;
};


/*
 * One admission or settlement.  For an admission it is the token of
 * a->redis_token: "a" is NULL once the request no longer waits (answered,
 * timed out or cancelled); the batch's reply, which always comes, frees it.
 * The subjects are kept to release an admission granted after its request
 * stopped waiting.
 */

typedef struct {
    ngx_queue_t                 queue;        /* rd->waiting while a, or
                                                 rd->parked */
    ngx_http_aigw_redis_t      *rd;
    ngx_http_aigw_admission_t  *a;
    ngx_event_t                 timer;
    ngx_uint_t                  type;         /* ADMIT or SETTLE */
    ngx_uint_t                  n;
    int64_t                     tokens;       /* reserved, or the deltas */
    int64_t                     cost;
    int64_t                     minute;       /* of a settlement */
    int64_t                     periods[NGX_HTTP_AIGW_SUBJECTS];
    ngx_str_t                   ids[NGX_HTTP_AIGW_SUBJECTS];
    aigw_subject_limits_t       limits[NGX_HTTP_AIGW_SUBJECTS];
    ngx_uint_t                  sub[NGX_HTTP_AIGW_SUBJECTS];   /* in the
                                                                  batch */
    void                       *slots[NGX_HTTP_AIGW_SUBJECTS];  /* of an
                                                 admission, while pending */
    unsigned                    resync:1;     /* a settlement that only
                                                 sends the slots counts */
    u_char                      data[1];
} ngx_http_aigw_redis_item_t;


/*
 * A subject of a batch (an id with its limits: the same id may come with
 * other limits from another location), with the sums of the batch's
 * admissions on it, which the script checks at once.
 */

typedef struct {
    ngx_str_t                  *id;
    aigw_subject_limits_t      *limits;
    int64_t                     admissions;
    int64_t                     tokens;
    int64_t                     cost;
} ngx_http_aigw_redis_entry_t;


/* The settlements of a batch, summed per subject, minute and period. */

typedef struct {
    ngx_uint_t                  entry;
    int64_t                     minute;
    int64_t                     period;
    int64_t                     tokens;
    int64_t                     cost;
} ngx_http_aigw_redis_record_t;


/*
 * The items one EVALSHA carries.  The arguments are kept for the NOSCRIPT
 * fallback.
 */

struct ngx_http_aigw_redis_batch_s {
    ngx_http_aigw_redis_t        *rd;
    ngx_uint_t                    nitems;
    ngx_uint_t                    nadmissions;
    ngx_uint_t                    nentries;
    ngx_uint_t                    nrecords;
    ngx_uint_t                    argc;
    u_char                       *cmd;        /* the command in RESP */
    u_char                       *body;       /* its arguments after the
                                                 script's sha */
    size_t                        len;
    unsigned                      retried:1;
    ngx_http_aigw_redis_item_t   *items[NGX_HTTP_AIGW_REDIS_BATCH];
    ngx_http_aigw_redis_entry_t   entries[NGX_HTTP_AIGW_REDIS_BATCH_SUBJECTS];
    ngx_http_aigw_redis_record_t  records[NGX_HTTP_AIGW_REDIS_BATCH_SUBJECTS];
};


/*
 * The worker's requests in flight on a subject with a concurrency limit,
 * as this worker counts them: Redis keeps one field per worker, and each
 * batch sets this worker's field to what it counts, so that a count the
 * link lost is corrected by the next batch.
 */

typedef struct {
    ngx_str_node_t              sn;           /* the subject id */
    ngx_uint_t                  inflight;     /* admitted, not released */
    ngx_uint_t                  pending;      /* admissions sent or to be
                                                 sent, unanswered */
    ngx_uint_t                  batched;      /* of which in rd->batch */
} ngx_http_aigw_redis_slots_t;


static char *ngx_http_aigw_redis_server(ngx_conf_t *cf,
    ngx_http_aigw_redis_t *rd, ngx_str_t *v);

static void ngx_http_aigw_redis_connect(ngx_http_aigw_redis_t *rd);
static void ngx_http_aigw_redis_drop(ngx_http_aigw_redis_t *rd,
    const char *reason);
static ngx_msec_t ngx_http_aigw_redis_next_backoff(ngx_http_aigw_redis_t *rd);
static void ngx_http_aigw_redis_reconnect_handler(ngx_event_t *ev);
static void ngx_http_aigw_redis_connect_timeout(ngx_event_t *ev);
static void ngx_http_aigw_redis_watchdog(ngx_event_t *ev);

static void ngx_http_aigw_redis_on_connect(const redisAsyncContext *ac,
    int status);
static ngx_int_t ngx_http_aigw_redis_internal(ngx_http_aigw_redis_t *rd,
    uintptr_t step, int argc, const char **argv, const size_t *argvlen);
static void ngx_http_aigw_redis_internal_reply(redisAsyncContext *ac,
    void *r, void *privdata);
static void ngx_http_aigw_redis_set_ready(ngx_http_aigw_redis_t *rd);

static void ngx_http_aigw_redis_read_handler(ngx_event_t *rev);
static void ngx_http_aigw_redis_write_handler(ngx_event_t *wev);
static void ngx_http_aigw_redis_arm(ngx_http_aigw_redis_t *rd,
    ngx_event_t *ev, ngx_int_t event);
static void ngx_http_aigw_redis_add_read(void *data);
static void ngx_http_aigw_redis_del_read(void *data);
static void ngx_http_aigw_redis_add_write(void *data);
static void ngx_http_aigw_redis_del_write(void *data);
static void ngx_http_aigw_redis_cleanup(void *data);

static ngx_uint_t ngx_http_aigw_redis_waiting(ngx_http_aigw_redis_t *rd);
static ngx_http_aigw_redis_item_t *ngx_http_aigw_redis_item(
    ngx_http_aigw_redis_t *rd, ngx_uint_t type, ngx_uint_t n,
    ngx_http_aigw_subject_t *subjects, ngx_str_t *ids,
    aigw_subject_limits_t *limits);
static ngx_http_aigw_redis_slots_t *ngx_http_aigw_redis_slots(
    ngx_http_aigw_redis_t *rd, ngx_str_t *id, ngx_uint_t create);
static void ngx_http_aigw_redis_slots_put(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_slots_t *sl);
static ngx_int_t ngx_http_aigw_redis_slots_admit(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_item_t *item, ngx_uint_t how);
static void ngx_http_aigw_redis_slots_settle(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_item_t *item, ngx_int_t how);
static void ngx_http_aigw_redis_slots_release(ngx_http_aigw_redis_t *rd,
    ngx_str_t *id);
static void ngx_http_aigw_redis_slots_free(ngx_http_aigw_redis_t *rd);
static void ngx_http_aigw_redis_worker_id(ngx_http_aigw_redis_t *rd);
static ngx_int_t ngx_http_aigw_redis_add(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_item_t *item);
static void ngx_http_aigw_redis_flush_handler(ngx_event_t *ev);
static void ngx_http_aigw_redis_flush(ngx_http_aigw_redis_t *rd);
static ngx_int_t ngx_http_aigw_redis_batch_send(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_batch_t *b);
static ngx_int_t ngx_http_aigw_redis_batch_eval(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_batch_t *b);
static void ngx_http_aigw_redis_batch_fail(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_batch_t *b);
static void ngx_http_aigw_redis_batch_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_aigw_redis_batch_free(ngx_http_aigw_redis_batch_t *b);
static void ngx_http_aigw_redis_park(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_item_t *item);
static void ngx_http_aigw_redis_drop_settlement(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_item_t *item);
static void ngx_http_aigw_redis_release(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_item_t *from, int64_t minute, int64_t *periods);
static ngx_int_t ngx_http_aigw_redis_answers(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_batch_t *b, redisReply *reply);
static void ngx_http_aigw_redis_resync(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_batch_t *b);
static int64_t ngx_http_aigw_redis_le_int(u_char *p);
static void ngx_http_aigw_redis_admit_reply(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_item_t *item, ngx_int_t rc, int64_t *v);
static ngx_int_t ngx_http_aigw_redis_verdict(redisReply *reply,
    ngx_uint_t n, int64_t *v);
static void ngx_http_aigw_redis_parse(int64_t *v,
    ngx_http_aigw_admission_t *a);
static void ngx_http_aigw_redis_admit_timeout(ngx_event_t *ev);
static void ngx_http_aigw_redis_error_text(ngx_http_aigw_redis_t *rd,
    const char *what, redisReply *reply);
static void ngx_http_aigw_redis_fire_reply(redisAsyncContext *ac, void *r,
    void *privdata);


static const char  ngx_http_aigw_redis_batch_lua[] =
    NGX_HTTP_AIGW_REDIS_BATCH_LUA;


/* configuration */

ngx_http_aigw_redis_t *
ngx_http_aigw_redis_create(ngx_conf_t *cf, const char *directive)
{
    ngx_http_aigw_redis_t  *rd;

    rd = ngx_pcalloc(cf->pool, sizeof(ngx_http_aigw_redis_t));
    if (rd == NULL) {
        return NULL;
    }

    rd->directive = directive;
    rd->db = 0;
    rd->timeout = 200;
    rd->connect_timeout = 1000;
    rd->queue = 1024;

    return rd;
}


/*
 * One "name=value" parameter of the connection: server, password, db,
 * timeout, connect_timeout or queue.  NGX_DECLINED: not one of them.
 */

ngx_int_t
ngx_http_aigw_redis_param(ngx_conf_t *cf, ngx_http_aigw_redis_t *rd,
    ngx_str_t *value)
{
    ngx_int_t  n;
    ngx_str_t  v;

    if (ngx_strncmp(value->data, "server=", 7) == 0) {
        v.data = value->data + 7;
        v.len = value->len - 7;

        if (ngx_http_aigw_redis_server(cf, rd, &v) != NGX_CONF_OK) {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_strncmp(value->data, "password=", 9) == 0) {
        rd->password.data = value->data + 9;
        rd->password.len = value->len - 9;

        if (rd->password.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s: empty password", rd->directive);
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_strncmp(value->data, "db=", 3) == 0) {
        n = ngx_atoi(value->data + 3, value->len - 3);
        if (n == NGX_ERROR) {
            goto invalid;
        }

        rd->db = n;
        return NGX_OK;
    }

    if (ngx_strncmp(value->data, "timeout=", 8) == 0) {
        v.data = value->data + 8;
        v.len = value->len - 8;

        n = ngx_parse_time(&v, 0);
        if (n == NGX_ERROR || n == 0) {
            goto invalid;
        }

        rd->timeout = (ngx_msec_t) n;
        return NGX_OK;
    }

    if (ngx_strncmp(value->data, "connect_timeout=", 16) == 0) {
        v.data = value->data + 16;
        v.len = value->len - 16;

        n = ngx_parse_time(&v, 0);
        if (n == NGX_ERROR || n == 0) {
            goto invalid;
        }

        rd->connect_timeout = (ngx_msec_t) n;
        return NGX_OK;
    }

    if (ngx_strncmp(value->data, "queue=", 6) == 0) {
        n = ngx_atoi(value->data + 6, value->len - 6);
        if (n == NGX_ERROR || n == 0) {
            goto invalid;
        }

        rd->queue = (ngx_uint_t) n;
        return NGX_OK;
    }

    return NGX_DECLINED;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "%s: invalid value \"%V\"", rd->directive, value);
    return NGX_ERROR;
}


/* name only: a mistyped "password" must not print the secret */

void
ngx_http_aigw_redis_param_error(ngx_conf_t *cf, const char *directive,
    ngx_str_t *value)
{
    u_char     *p;
    ngx_str_t   name;

    name = *value;
    p = ngx_strlchr(name.data, name.data + name.len, '=');
    if (p) {
        name.len = p - name.data;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "%s: invalid parameter \"%V%s\"",
                       directive, &name, p ? "=..." : "");
}


char *
ngx_http_aigw_redis_conf(ngx_conf_t *cf, ngx_http_aigw_store_conf_t *sc)
{
    ngx_int_t               rc;
    ngx_str_t              *value;
    ngx_uint_t              i;
    ngx_http_aigw_redis_t  *rd;

    rd = ngx_http_aigw_redis_create(cf, "aigw_store redis");
    if (rd == NULL) {
        return NGX_CONF_ERROR;
    }

    rd->scripts = 1;
    ngx_str_set(&rd->prefix, "aigw:");

    sc->failure = NGX_HTTP_AIGW_FAIL_OPEN;

    value = cf->args->elts;

    for (i = 2; i < cf->args->nelts; i++) {

        rc = ngx_http_aigw_redis_param(cf, rd, &value[i]);

        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_OK) {
            continue;
        }

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            rd->prefix.data = value[i].data + 7;
            rd->prefix.len = value[i].len - 7;
            continue;
        }

        if (ngx_strcmp(value[i].data, "failure=open") == 0) {
            sc->failure = NGX_HTTP_AIGW_FAIL_OPEN;
            continue;
        }

        if (ngx_strcmp(value[i].data, "failure=closed") == 0) {
            sc->failure = NGX_HTTP_AIGW_FAIL_CLOSED;
            continue;
        }

        ngx_http_aigw_redis_param_error(cf, rd->directive, &value[i]);
        return NGX_CONF_ERROR;
    }

    if (rd->server.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "aigw_store redis: \"server=\" is required");
        return NGX_CONF_ERROR;
    }

    sc->redis = rd;

    return NGX_CONF_OK;
}


static char *
ngx_http_aigw_redis_server(ngx_conf_t *cf, ngx_http_aigw_redis_t *rd,
    ngx_str_t *v)
{
    u_char     *p, *last, *colon;
    size_t      len;
    ngx_int_t   port;
#if (NGX_HAVE_INET6)
    u_char      addr6[16];
#endif

    rd->server = *v;
    rd->port = NGX_HTTP_AIGW_REDIS_PORT;
    rd->path = NULL;
    last = v->data + v->len;

    if (v->len > 5 && ngx_strncmp(v->data, "unix:", 5) == 0) {
        len = v->len - 5;

        if (len >= sizeof(((struct sockaddr_un *) 0)->sun_path)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s: the unix socket path \"%V\" is "
                               "too long", rd->directive, v);
            return NGX_CONF_ERROR;
        }

        rd->path = ngx_pnalloc(cf->pool, len + 1);
        if (rd->path == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_cpystrn((u_char *) rd->path, v->data + 5, len + 1);
        return NGX_CONF_OK;
    }

    colon = NULL;

    if (v->len && v->data[0] == '[') {
        p = ngx_strlchr(v->data, last, ']');
        if (p == NULL || p == v->data + 1) {
            goto invalid;
        }

#if (NGX_HAVE_INET6)
        if (ngx_inet6_addr(v->data + 1, p - v->data - 1, addr6) != NGX_OK) {
            goto not_ip;
        }
#else
        goto not_ip;
#endif

        len = p - v->data - 1;
        rd->host = ngx_pnalloc(cf->pool, len + 1);
        if (rd->host == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_cpystrn((u_char *) rd->host, v->data + 1, len + 1);

        p++;

        if (p < last) {
            if (*p != ':') {
                goto invalid;
            }

            colon = p;
        }

    } else {
        colon = ngx_strlchr(v->data, last, ':');

        if (colon && ngx_strlchr(colon + 1, last, ':')) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s: invalid server \"%V\": "
                               "write an IPv6 address in brackets, "
                               "as \"[::1]:6379\"", rd->directive, v);
            return NGX_CONF_ERROR;
        }

        len = (colon ? colon : last) - v->data;

        if (len == 0) {
            goto invalid;
        }

        if (ngx_inet_addr(v->data, len) == INADDR_NONE) {
            goto not_ip;
        }

        rd->host = ngx_pnalloc(cf->pool, len + 1);
        if (rd->host == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_cpystrn((u_char *) rd->host, v->data, len + 1);
    }

    if (colon) {
        port = ngx_atoi(colon + 1, last - colon - 1);
        if (port < 1 || port > 65535) {
            goto invalid;
        }

        rd->port = (int) port;
    }

    return NGX_CONF_OK;

not_ip:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "%s: invalid server \"%V\": aigw "
                       "resolves nothing at request time; give an IP "
                       "address or a unix socket", rd->directive, v);
    return NGX_CONF_ERROR;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "%s: invalid server \"%V\"", rd->directive, v);
    return NGX_CONF_ERROR;
}


/* the worker's connection */

ngx_int_t
ngx_http_aigw_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_aigw_store_conf_t *sc)
{
    return ngx_http_aigw_redis_start(cycle, sc->redis);
}


void
ngx_http_aigw_redis_exit_process(ngx_cycle_t *cycle,
    ngx_http_aigw_store_conf_t *sc)
{
    ngx_http_aigw_redis_stop(cycle, sc->redis);
}


ngx_int_t
ngx_http_aigw_redis_start(ngx_cycle_t *cycle, ngx_http_aigw_redis_t *rd)
{
    if (rd == NULL || rd->started
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return NGX_OK;
    }

    rd->log = cycle->log;
    rd->backoff = NGX_HTTP_AIGW_REDIS_BACKOFF_MIN;
    ngx_queue_init(&rd->waiting);
    ngx_queue_init(&rd->parked);
    ngx_rbtree_init(&rd->slots, &rd->slots_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_http_aigw_redis_worker_id(rd);

    rd->reconnect.handler = ngx_http_aigw_redis_reconnect_handler;
    rd->reconnect.data = rd;
    rd->reconnect.log = rd->log;
    rd->reconnect.cancelable = 1;

    rd->connect_timer.handler = ngx_http_aigw_redis_connect_timeout;
    rd->connect_timer.data = rd;
    rd->connect_timer.log = rd->log;
    rd->connect_timer.cancelable = 1;

    rd->watchdog.handler = ngx_http_aigw_redis_watchdog;
    rd->watchdog.data = rd;
    rd->watchdog.log = rd->log;
    rd->watchdog.cancelable = 1;

    rd->flush.handler = ngx_http_aigw_redis_flush_handler;
    rd->flush.data = rd;
    rd->flush.log = rd->log;

    rd->started = 1;

    ngx_http_aigw_redis_connect(rd);

    return NGX_OK;
}


void
ngx_http_aigw_redis_stop(ngx_cycle_t *cycle, ngx_http_aigw_redis_t *rd)
{
    ngx_queue_t                 *q;
    ngx_http_aigw_redis_item_t  *item;

    if (rd == NULL || !rd->started || rd->exiting) {
        return;
    }

    rd->exiting = 1;
    rd->ready = 0;

    if (rd->reconnect.timer_set) {
        ngx_del_timer(&rd->reconnect);
    }

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->watchdog.timer_set) {
        ngx_del_timer(&rd->watchdog);
    }

    /* no request is resumed while the process exits */

    while (!ngx_queue_empty(&rd->waiting)) {
        q = ngx_queue_head(&rd->waiting);
        item = ngx_queue_data(q, ngx_http_aigw_redis_item_t, queue);

        ngx_queue_remove(q);

        item->a->redis_token = NULL;
        item->a = NULL;

        if (item->timer.timer_set) {
            ngx_del_timer(&item->timer);
        }
    }

    if (rd->flush.posted) {
        ngx_delete_posted_event(&rd->flush);
    }

    if (rd->batch) {
        ngx_http_aigw_redis_batch_free(rd->batch);
        rd->batch = NULL;
    }

    /* runs the pending callbacks with NULL replies, then the cleanup hook */

    if (rd->ac) {
        redisAsyncFree(rd->ac);
    }

    while (!ngx_queue_empty(&rd->parked)) {
        q = ngx_queue_head(&rd->parked);
        ngx_queue_remove(q);
        ngx_free(ngx_queue_data(q, ngx_http_aigw_redis_item_t, queue));
    }

    rd->nparked = 0;

    if (rd->spare) {
        ngx_free(rd->spare);
        rd->spare = NULL;
    }

    ngx_http_aigw_redis_slots_free(rd);
}


/*
 * This worker's id in Redis, random: workers of other nginx instances
 * share the subjects' fields.
 */

static void
ngx_http_aigw_redis_worker_id(ngx_http_aigw_redis_t *rd)
{
    u_char    raw[8];
    ssize_t   n;
    uint64_t  v;
    ngx_fd_t  fd;

    n = -1;

    fd = ngx_open_file("/dev/urandom", NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (fd != NGX_INVALID_FILE) {
        n = read(fd, raw, sizeof(raw));
        (void) ngx_close_file(fd);
    }

    if (n != (ssize_t) sizeof(raw)) {
        v = ((uint64_t) ngx_pid << 40) ^ ((uint64_t) ngx_time() << 16)
            ^ (uint64_t) ngx_random() ^ ((uint64_t) ngx_random() << 31);
        ngx_memcpy(raw, &v, sizeof(raw));
    }

    ngx_hex_dump(rd->wid, raw, sizeof(raw));
}


static void
ngx_http_aigw_redis_connect(ngx_http_aigw_redis_t *rd)
{
    ngx_uint_t          level;
    ngx_msec_t          delay;
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    if (rd->exiting || rd->ac) {
        return;
    }

    /* an IP address or a unix socket: getaddrinfo() does not block */

    if (rd->path) {
        ac = redisAsyncConnectUnix(rd->path);

    } else {
        ac = redisAsyncConnect(rd->host, rd->port);
    }

    if (ac == NULL || ac->err) {
        delay = ngx_http_aigw_redis_next_backoff(rd);

        level = rd->failures++ ? NGX_LOG_INFO : NGX_LOG_WARN;

        ngx_log_error(level, rd->log, 0,
                      "aigw: redis %V connect failed: %s, retrying in %M ms",
                      &rd->server, ac ? ac->errstr : "out of memory", delay);

        if (ac) {
            redisAsyncFree(ac);
        }

        ngx_add_timer(&rd->reconnect, delay);
        return;
    }

    c = ngx_get_connection(ac->c.fd, rd->log);

    if (c == NULL) {
        redisAsyncFree(ac);        /* closes the fd */

        delay = ngx_http_aigw_redis_next_backoff(rd);

        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "aigw: redis %V: no free connection, "
                      "retrying in %M ms", &rd->server, delay);

        ngx_add_timer(&rd->reconnect, delay);
        return;
    }

    c->data = rd;
    c->log = rd->log;
    c->read->log = rd->log;
    c->write->log = rd->log;
    c->read->handler = ngx_http_aigw_redis_read_handler;
    c->write->handler = ngx_http_aigw_redis_write_handler;

    rd->ac = ac;
    rd->conn = c;
    rd->outstanding = 0;
    rd->want_write = 0;
    rd->in_write = 0;
    rd->dropping = 0;
    rd->connected = 0;
    rd->reload = 0;
    rd->reason = NULL;

    ac->data = rd;

    /* attach first: setting the connect callback asks for a write event */

    ac->ev.data = rd;
    ac->ev.addRead = ngx_http_aigw_redis_add_read;
    ac->ev.delRead = ngx_http_aigw_redis_del_read;
    ac->ev.addWrite = ngx_http_aigw_redis_add_write;
    ac->ev.delWrite = ngx_http_aigw_redis_del_write;
    ac->ev.cleanup = ngx_http_aigw_redis_cleanup;

    if (rd->path == NULL) {
        (void) redisEnableKeepAlive(&ac->c);
        ac->c.err = 0;
    }

    ngx_add_timer(&rd->connect_timer, rd->connect_timeout);

    redisAsyncSetConnectCallback(ac, ngx_http_aigw_redis_on_connect);
}


/*
 * Frees the context: pending callbacks run with NULL replies, then the
 * cleanup hook schedules the reconnection.  Inside a hiredis callback the
 * free is deferred by hiredis until the callback returns.
 */

static void
ngx_http_aigw_redis_drop(ngx_http_aigw_redis_t *rd, const char *reason)
{
    if (rd->ac == NULL || rd->dropping) {
        return;
    }

    rd->dropping = 1;
    rd->ready = 0;
    rd->reason = reason;

    redisAsyncFree(rd->ac);
}


static ngx_msec_t
ngx_http_aigw_redis_next_backoff(ngx_http_aigw_redis_t *rd)
{
    ngx_msec_t  delay;

    /* 100 ms doubling to 5 s, each within +-25% */

    delay = rd->backoff - rd->backoff / 4
            + (ngx_msec_t) ngx_random() % (rd->backoff / 2 + 1);

    rd->backoff *= 2;

    if (rd->backoff > NGX_HTTP_AIGW_REDIS_BACKOFF_MAX) {
        rd->backoff = NGX_HTTP_AIGW_REDIS_BACKOFF_MAX;
    }

    return delay;
}


static void
ngx_http_aigw_redis_reconnect_handler(ngx_event_t *ev)
{
    ngx_http_aigw_redis_connect(ev->data);
}


static void
ngx_http_aigw_redis_connect_timeout(ngx_event_t *ev)
{
    ngx_http_aigw_redis_t  *rd = ev->data;

    if (rd->ac == NULL || rd->ready) {
        return;
    }

    *ngx_snprintf(rd->reason_buf, sizeof(rd->reason_buf) - 1,
                  "not ready after %M ms", rd->connect_timeout) = '\0';

    ngx_http_aigw_redis_drop(rd, (char *) rd->reason_buf);
}


/*
 * Every connect_timeout: a connection that answered nothing for a whole
 * period while commands waited is dead (hiredis has no timeouts); an idle
 * one gets a PING, so that a silent peer is found before requests wait.
 */

static void
ngx_http_aigw_redis_watchdog(ngx_event_t *ev)
{
    static const char  *ping[] = { "PING" };
    static size_t       ping_len[] = { 4 };

    ngx_http_aigw_redis_t  *rd = ev->data;

    if (!rd->ready || rd->ac == NULL) {
        return;
    }

    if (rd->watch_pending && rd->outstanding
        && rd->received == rd->watch_received)
    {
        *ngx_snprintf(rd->reason_buf, sizeof(rd->reason_buf) - 1,
                      "no reply in %M ms", rd->connect_timeout) = '\0';

        ngx_http_aigw_redis_drop(rd, (char *) rd->reason_buf);
        return;
    }

    if (rd->outstanding == 0) {
        (void) ngx_http_aigw_redis_internal(rd, NGX_HTTP_AIGW_REDIS_PING, 1,
                                            ping, ping_len);
    }

    rd->watch_received = rd->received;
    rd->watch_pending = rd->outstanding ? 1 : 0;

    ngx_add_timer(ev, rd->connect_timeout);
}


static void
ngx_http_aigw_redis_on_connect(const redisAsyncContext *cac, int status)
{
    u_char                  db[NGX_INT_T_LEN];
    const char             *argv[3];
    size_t                  argvlen[3];
    ngx_http_aigw_redis_t  *rd;

    rd = cac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context after this: the cleanup hook reports */
        return;
    }

    /* commands are pipelined: the scripts' replies tell that all is set */

    if (rd->password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (const char *) rd->password.data;
        argvlen[1] = rd->password.len;

        (void) ngx_http_aigw_redis_internal(rd, NGX_HTTP_AIGW_REDIS_AUTH, 2,
                                            argv, argvlen);
    }

    if (rd->db) {
        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = (const char *) db;
        argvlen[1] = ngx_sprintf(db, "%i", rd->db) - db;

        (void) ngx_http_aigw_redis_internal(rd, NGX_HTTP_AIGW_REDIS_SELECT,
                                            2, argv, argvlen);
    }

    if (!rd->scripts) {
        /* its reply comes after those of AUTH and SELECT */

        argv[0] = "PING";
        argvlen[0] = 4;

        (void) ngx_http_aigw_redis_internal(rd, NGX_HTTP_AIGW_REDIS_READY,
                                            1, argv, argvlen);
        return;
    }

    argv[0] = "SCRIPT";
    argvlen[0] = 6;
    argv[1] = "LOAD";
    argvlen[1] = 4;

    argv[2] = ngx_http_aigw_redis_batch_lua;
    argvlen[2] = sizeof(ngx_http_aigw_redis_batch_lua) - 1;

    (void) ngx_http_aigw_redis_internal(rd, NGX_HTTP_AIGW_REDIS_LOAD, 3,
                                        argv, argvlen);

    /* if a command could not be queued, the connect timer drops us */
}


static ngx_int_t
ngx_http_aigw_redis_internal(ngx_http_aigw_redis_t *rd, uintptr_t step,
    int argc, const char **argv, const size_t *argvlen)
{
    if (rd->ac == NULL
        || redisAsyncCommandArgv(rd->ac, ngx_http_aigw_redis_internal_reply,
                                 (void *) step, argc, argv, argvlen)
           != REDIS_OK)
    {
        return NGX_ERROR;
    }

    rd->outstanding++;

    return NGX_OK;
}


static void
ngx_http_aigw_redis_internal_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    uintptr_t               step = (uintptr_t) privdata;
    redisReply             *reply = r;
    ngx_http_aigw_redis_t  *rd;

    rd = ac->data;
    rd->outstanding--;

    if (reply == NULL) {
        /* the context is being freed */
        rd->ready = 0;
        return;
    }

    rd->received++;

    switch (step) {

    case NGX_HTTP_AIGW_REDIS_AUTH:
        if (reply->type == REDIS_REPLY_ERROR) {
            ngx_http_aigw_redis_error_text(rd, "AUTH failed", reply);
            ngx_http_aigw_redis_drop(rd, (char *) rd->reason_buf);
        }

        return;

    case NGX_HTTP_AIGW_REDIS_SELECT:
        if (reply->type == REDIS_REPLY_ERROR) {
            ngx_http_aigw_redis_error_text(rd, "SELECT failed", reply);
            ngx_http_aigw_redis_drop(rd, (char *) rd->reason_buf);
        }

        return;

    case NGX_HTTP_AIGW_REDIS_LOAD:
    case NGX_HTTP_AIGW_REDIS_RELOAD:

        if (step == NGX_HTTP_AIGW_REDIS_RELOAD) {
            rd->reload = 0;
        }

        if (reply->type != REDIS_REPLY_STRING || reply->len != 40) {
            ngx_http_aigw_redis_error_text(rd, "SCRIPT LOAD failed", reply);

            if (step == NGX_HTTP_AIGW_REDIS_RELOAD) {
                /* EVAL still works; next NOSCRIPT tries again */
                ngx_log_error(NGX_LOG_ERR, rd->log, 0, "aigw: redis %V: %s",
                              &rd->server, rd->reason_buf);
                return;
            }

            ngx_http_aigw_redis_drop(rd, (char *) rd->reason_buf);
            return;
        }

        ngx_memcpy(rd->sha, reply->str, 40);

        if (step == NGX_HTTP_AIGW_REDIS_LOAD && !rd->dropping) {
            ngx_http_aigw_redis_set_ready(rd);
        }

        return;

    case NGX_HTTP_AIGW_REDIS_READY:
        if (reply->type == REDIS_REPLY_ERROR) {
            ngx_http_aigw_redis_error_text(rd, "PING failed", reply);
            ngx_http_aigw_redis_drop(rd, (char *) rd->reason_buf);
            return;
        }

        if (!rd->dropping) {
            ngx_http_aigw_redis_set_ready(rd);
        }

        return;

    default: /* NGX_HTTP_AIGW_REDIS_PING */
        return;
    }
}


static void
ngx_http_aigw_redis_set_ready(ngx_http_aigw_redis_t *rd)
{
    ngx_queue_t                 *q;
    ngx_http_aigw_redis_item_t  *item;

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    rd->ready = 1;
    rd->connected = 1;
    rd->failures = 0;
    rd->backoff = NGX_HTTP_AIGW_REDIS_BACKOFF_MIN;
    rd->settle_logged = 0;
    rd->overflow_logged = 0;

    ngx_log_error(NGX_LOG_NOTICE, rd->log, 0, "aigw: redis %V connected",
                  &rd->server);

    rd->watch_received = rd->received;
    rd->watch_pending = 0;

    if (rd->watchdog.timer_set) {
        ngx_del_timer(&rd->watchdog);
    }

    ngx_add_timer(&rd->watchdog, rd->connect_timeout);

    /* the settlements that waited for the link */

    while (!ngx_queue_empty(&rd->parked)) {
        q = ngx_queue_head(&rd->parked);
        ngx_queue_remove(q);
        rd->nparked--;

        item = ngx_queue_data(q, ngx_http_aigw_redis_item_t, queue);

        if (ngx_http_aigw_redis_add(rd, item) != NGX_OK) {
            ngx_free(item);
        }
    }
}


/* the event loop adapter */

static void
ngx_http_aigw_redis_read_handler(ngx_event_t *rev)
{
    char                    buf;
    ssize_t                 n;
    ngx_err_t               err;
    ngx_uint_t              i;
    ngx_connection_t       *c;
    redisAsyncContext      *ac;
    ngx_http_aigw_redis_t  *rd;

    c = rev->data;
    rd = c->data;
    ac = rd->ac;

    if (ac == NULL || rd->conn != c) {
        return;
    }

    /*
     * The shutdown timer (worker_shutdown_timeout) asks every connection to
     * close; this one is freed by exit_process, as late as possible.
     */

    c->close = 0;

    /*
     * hiredis reads 16 KB per call and the event is edge-triggered: read
     * until the socket is empty.  A peek that finds data, the end of the
     * stream or an error lets hiredis read it and react.
     */

    for (i = 0; /* void */; i++) {

        redisAsyncHandleRead(ac);

        if (rd->ac == NULL) {
            return;                  /* freed, and the connection with it */
        }

        if (!(ac->c.flags & REDIS_CONNECTED)) {
            return;
        }

        if (i == NGX_HTTP_AIGW_REDIS_READS) {
            ngx_post_event(rev, &ngx_posted_events);
            return;
        }

        n = recv(c->fd, &buf, 1, MSG_PEEK);

        if (n == -1) {
            err = ngx_socket_errno;

            if (err == NGX_EAGAIN) {
                rev->ready = 0;
                return;
            }
        }
    }
}


static void
ngx_http_aigw_redis_write_handler(ngx_event_t *wev)
{
    size_t                  left;
    ngx_connection_t       *c;
    redisAsyncContext      *ac;
    ngx_http_aigw_redis_t  *rd;

    c = wev->data;
    rd = c->data;
    ac = rd->ac;

    if (ac == NULL || rd->conn != c) {
        return;
    }

    /*
     * Write until hiredis is done or a write makes no progress (EAGAIN, or
     * a connect in progress): only then is a new edge sure to come.
     */

    for ( ;; ) {
        left = sdslen(ac->c.obuf);

        rd->in_write = 1;
        redisAsyncHandleWrite(ac);
        rd->in_write = 0;

        if (rd->ac == NULL) {
            return;
        }

        if (!rd->want_write) {
            return;
        }

        if (!(ac->c.flags & REDIS_CONNECTED)
            || sdslen(ac->c.obuf) == left)
        {
            wev->ready = 0;
            ngx_http_aigw_redis_arm(rd, wev, NGX_WRITE_EVENT);
            return;
        }
    }
}


static void
ngx_http_aigw_redis_arm(ngx_http_aigw_redis_t *rd, ngx_event_t *ev,
    ngx_int_t event)
{
    ngx_uint_t  flags;

    if (ev->active) {
        return;
    }

    flags = (ngx_event_flags & NGX_USE_CLEAR_EVENT) ? NGX_CLEAR_EVENT
                                                    : NGX_LEVEL_EVENT;

    if (ngx_add_event(ev, event, flags) != NGX_OK) {
        /* the watchdog or the connect timer will drop the context */
        ngx_log_error(NGX_LOG_ALERT, rd->log, 0,
                      "aigw: redis %V: cannot add an event", &rd->server);
    }
}


static void
ngx_http_aigw_redis_add_read(void *data)
{
    ngx_http_aigw_redis_t  *rd = data;

    if (rd->conn) {
        ngx_http_aigw_redis_arm(rd, rd->conn->read, NGX_READ_EVENT);
    }
}


static void
ngx_http_aigw_redis_del_read(void *data)
{
    ngx_http_aigw_redis_t  *rd = data;

    ngx_event_t  *rev;

    if (rd->conn == NULL) {
        return;
    }

    rev = rd->conn->read;

    if (rev->posted) {
        ngx_delete_posted_event(rev);
    }

    if (rev->active) {
        (void) ngx_del_event(rev, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_aigw_redis_add_write(void *data)
{
    ngx_http_aigw_redis_t  *rd = data;

    ngx_event_t  *wev;

    rd->want_write = 1;

    if (rd->in_write || rd->conn == NULL) {
        return;               /* the write handler looks at want_write */
    }

    wev = rd->conn->write;

    ngx_http_aigw_redis_arm(rd, wev, NGX_WRITE_EVENT);

    /* already writable: an edge-triggered event would not fire again */

    if (wev->ready && !wev->posted) {
        ngx_post_event(wev, &ngx_posted_events);
    }
}


static void
ngx_http_aigw_redis_del_write(void *data)
{
    ngx_http_aigw_redis_t  *rd = data;

    ngx_event_t  *wev;

    rd->want_write = 0;

    if (rd->conn == NULL) {
        return;
    }

    wev = rd->conn->write;

    if (wev->posted) {
        ngx_delete_posted_event(wev);
    }

    /* an edge-triggered write event may stay; a level one would spin */

    if (wev->active && !(ngx_event_flags & NGX_USE_CLEAR_EVENT)) {
        (void) ngx_del_event(wev, NGX_WRITE_EVENT, 0);
    }
}


/*
 * Called by hiredis as it frees the context, after the pending callbacks
 * and before redisFree() closes the fd: the fd is not ours to close.
 */

static void
ngx_http_aigw_redis_cleanup(void *data)
{
    ngx_http_aigw_redis_t  *rd = data;

    const char         *reason;
    ngx_uint_t          level;
    ngx_msec_t          delay;
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    c = rd->conn;

    if (c) {
        if (c->read->posted) {
            ngx_delete_posted_event(c->read);
        }

        if (c->write->posted) {
            ngx_delete_posted_event(c->write);
        }

        if (c->read->timer_set) {
            ngx_del_timer(c->read);
        }

        if (c->write->timer_set) {
            ngx_del_timer(c->write);
        }

        if (c->read->active) {
            (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
        }

        if (c->write->active) {
            (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
        }

        ngx_free_connection(c);
        c->fd = (ngx_socket_t) -1;

        rd->conn = NULL;
    }

    ac = rd->ac;

    rd->ac = NULL;
    rd->ready = 0;
    rd->dropping = 0;
    rd->want_write = 0;
    rd->outstanding = 0;
    rd->fired = 0;
    rd->batches = 0;

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->watchdog.timer_set) {
        ngx_del_timer(&rd->watchdog);
    }

    if (rd->exiting) {
        return;
    }

    if (rd->reason) {
        reason = rd->reason;

    } else if (ac && ac->c.err) {
        reason = ac->c.errstr;

    } else {
        reason = "connection closed";
    }

    rd->reason = NULL;

    delay = ngx_http_aigw_redis_next_backoff(rd);

    if (rd->connected) {
        rd->connected = 0;

        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "aigw: redis %V lost: %s, reconnecting in %M ms",
                      &rd->server, reason, delay);

    } else {
        level = rd->failures++ ? NGX_LOG_INFO : NGX_LOG_WARN;

        ngx_log_error(level, rd->log, 0,
                      "aigw: redis %V connect failed: %s, retrying in %M ms",
                      &rd->server, reason, delay);
    }

    ngx_add_timer(&rd->reconnect, delay);
}


/* admissions and settlements, in batches */

/* commands and items waiting for Redis, fired ones aside */

static ngx_uint_t
ngx_http_aigw_redis_waiting(ngx_http_aigw_redis_t *rd)
{
    return rd->items + (rd->outstanding - rd->fired - rd->batches);
}


static ngx_http_aigw_redis_item_t *
ngx_http_aigw_redis_item(ngx_http_aigw_redis_t *rd, ngx_uint_t type,
    ngx_uint_t n, ngx_http_aigw_subject_t *subjects, ngx_str_t *ids,
    aigw_subject_limits_t *limits)
{
    size_t                       size;
    u_char                      *p;
    ngx_uint_t                   i;
    ngx_str_t                   *id;
    ngx_http_aigw_redis_item_t  *item;

    size = sizeof(ngx_http_aigw_redis_item_t);

    for (i = 0; i < n; i++) {
        size += subjects ? subjects[i].id.len : ids[i].len;
    }

    item = ngx_alloc(size, rd->log);
    if (item == NULL) {
        return NULL;
    }

    ngx_memzero(item, sizeof(ngx_http_aigw_redis_item_t));

    item->rd = rd;
    item->type = type;
    item->n = n;

    p = item->data;

    for (i = 0; i < n; i++) {
        id = subjects ? &subjects[i].id : &ids[i];

        item->ids[i].data = p;
        item->ids[i].len = id->len;
        p = ngx_cpymem(p, id->data, id->len);

        item->limits[i] = subjects ? subjects[i].limits : limits[i];
    }

    return item;
}


static ngx_http_aigw_redis_slots_t *
ngx_http_aigw_redis_slots(ngx_http_aigw_redis_t *rd, ngx_str_t *id,
    ngx_uint_t create)
{
    uint32_t                      hash;
    ngx_http_aigw_redis_slots_t  *sl;

    if (rd->slots.root == NULL) {
        return NULL;                    /* not started in this process */
    }

    hash = ngx_crc32_short(id->data, id->len);

    sl = (ngx_http_aigw_redis_slots_t *)
             ngx_str_rbtree_lookup(&rd->slots, id, hash);

    if (sl || !create) {
        return sl;
    }

    sl = ngx_alloc(sizeof(ngx_http_aigw_redis_slots_t) + id->len, rd->log);
    if (sl == NULL) {
        return NULL;
    }

    sl->sn.node.key = hash;
    sl->sn.str.len = id->len;
    sl->sn.str.data = (u_char *) sl + sizeof(ngx_http_aigw_redis_slots_t);
    ngx_memcpy(sl->sn.str.data, id->data, id->len);
    sl->inflight = 0;
    sl->pending = 0;
    sl->batched = 0;

    ngx_rbtree_insert(&rd->slots, &sl->sn.node);

    return sl;
}


static void
ngx_http_aigw_redis_slots_put(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_slots_t *sl)
{
    if (sl->inflight == 0 && sl->pending == 0 && sl->batched == 0) {
        ngx_rbtree_delete(&rd->slots, &sl->sn.node);
        ngx_free(sl);
    }
}


/*
 * The counts of an admission's subjects with a concurrency limit, as it
 * goes into the batch (BATCHED), is answered (ADMITTED or REFUSED: a
 * failure too) or fails unsent (UNSENT).  Only BATCHED can fail (memory),
 * and then nothing is counted.
 */

#define NGX_HTTP_AIGW_REDIS_BATCHED   0
#define NGX_HTTP_AIGW_REDIS_ADMITTED  1
#define NGX_HTTP_AIGW_REDIS_REFUSED   2
#define NGX_HTTP_AIGW_REDIS_UNSENT    3

static ngx_int_t
ngx_http_aigw_redis_slots_admit(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_item_t *item, ngx_uint_t how)
{
    ngx_uint_t                    i, k, batched;
    ngx_http_aigw_redis_slots_t  *sl;

    batched = (how == NGX_HTTP_AIGW_REDIS_BATCHED);

    for (i = 0; i < item->n; i++) {
        if (item->limits[i].concurrency <= 0) {
            continue;
        }

        /* the node stays while the admission is pending */

        if (!batched) {
            sl = item->slots[i];
            item->slots[i] = NULL;

            if (sl == NULL) {
                continue;
            }

        } else {
            sl = ngx_http_aigw_redis_slots(rd, &item->ids[i], 1);

            if (sl == NULL) {
                for (k = 0; k < i; k++) {
                    sl = item->slots[k];

                    if (sl) {
                        item->slots[k] = NULL;
                        sl->pending--;
                        sl->batched--;
                        ngx_http_aigw_redis_slots_put(rd, sl);
                    }
                }

                return NGX_ERROR;
            }

            item->slots[i] = sl;
            sl->pending++;
            sl->batched++;
            continue;
        }

        if (sl->pending) {
            sl->pending--;
        }

        if (how == NGX_HTTP_AIGW_REDIS_ADMITTED) {
            sl->inflight++;

        } else if (how == NGX_HTTP_AIGW_REDIS_UNSENT && sl->batched) {
            sl->batched--;
        }

        ngx_http_aigw_redis_slots_put(rd, sl);
    }

    return NGX_OK;
}


/* A settlement releases its slots (-1), or takes them back unsent (+1). */

static void
ngx_http_aigw_redis_slots_settle(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_item_t *item, ngx_int_t how)
{
    ngx_uint_t                    i;
    ngx_http_aigw_redis_slots_t  *sl;

    if (item->resync) {
        return;
    }

    for (i = 0; i < item->n; i++) {
        if (item->limits[i].concurrency <= 0) {
            continue;
        }

        if (how < 0) {
            ngx_http_aigw_redis_slots_release(rd, &item->ids[i]);
            continue;
        }

        sl = ngx_http_aigw_redis_slots(rd, &item->ids[i], 1);

        if (sl) {
            sl->inflight++;
        }
    }
}


static void
ngx_http_aigw_redis_slots_release(ngx_http_aigw_redis_t *rd, ngx_str_t *id)
{
    ngx_http_aigw_redis_slots_t  *sl;

    sl = ngx_http_aigw_redis_slots(rd, id, 0);

    if (sl && sl->inflight) {
        sl->inflight--;
        ngx_http_aigw_redis_slots_put(rd, sl);
    }
}


static void
ngx_http_aigw_redis_slots_free(ngx_http_aigw_redis_t *rd)
{
    ngx_rbtree_node_t  *node;

    while (rd->slots.root != rd->slots.sentinel) {
        node = rd->slots.root;
        ngx_rbtree_delete(&rd->slots, node);
        ngx_free(node);
    }
}


/*
 * Into the open batch.  It is sent when the event loop has run what is
 * ready and no batch is out; while one is, the batch grows, up to its
 * limit: under load Redis runs fewer, larger batches.  A settlement is
 * summed into the batch's records at once.
 */

static ngx_int_t
ngx_http_aigw_redis_add(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_item_t *item)
{
    ngx_uint_t                     i, j, k;
    ngx_http_aigw_redis_batch_t   *b;
    ngx_http_aigw_redis_entry_t   *e;
    ngx_http_aigw_redis_record_t  *rec;

    b = rd->batch;

    if (b && (b->nitems == NGX_HTTP_AIGW_REDIS_BATCH
              || b->nentries + item->n > NGX_HTTP_AIGW_REDIS_BATCH_SUBJECTS))
    {
        ngx_http_aigw_redis_flush(rd);
        b = NULL;
    }

    if (b == NULL) {
        b = rd->spare;
        rd->spare = NULL;

        if (b == NULL) {
            b = ngx_alloc(sizeof(ngx_http_aigw_redis_batch_t), rd->log);
            if (b == NULL) {
                return NGX_ERROR;
            }
        }

        b->rd = rd;
        b->nitems = 0;
        b->nadmissions = 0;
        b->nentries = 0;
        b->nrecords = 0;
        b->cmd = NULL;
        b->retried = 0;

        rd->batch = b;
    }

    if (item->type == NGX_HTTP_AIGW_REDIS_ADMIT) {
        if (ngx_http_aigw_redis_slots_admit(rd, item,
                                            NGX_HTTP_AIGW_REDIS_BATCHED)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        b->nadmissions++;

    } else {
        ngx_http_aigw_redis_slots_settle(rd, item, -1);
    }

    for (i = 0; i < item->n; i++) {

        for (j = 0; j < b->nentries; j++) {
            e = &b->entries[j];

            if (e->id->len == item->ids[i].len
                && ngx_memcmp(e->id->data, item->ids[i].data,
                              item->ids[i].len) == 0
                && e->limits->rpm == item->limits[i].rpm
                && e->limits->tpm == item->limits[i].tpm
                && e->limits->concurrency == item->limits[i].concurrency
                && e->limits->budget == item->limits[i].budget
                && e->limits->period == item->limits[i].period)
            {
                break;
            }
        }

        e = &b->entries[j];

        if (j == b->nentries) {
            e->id = &item->ids[i];
            e->limits = &item->limits[i];
            e->admissions = 0;
            e->tokens = 0;
            e->cost = 0;
            b->nentries++;
        }

        item->sub[i] = j;

        if (item->type == NGX_HTTP_AIGW_REDIS_ADMIT) {
            e->admissions++;
            e->tokens += item->tokens;
            e->cost += item->cost;
            continue;
        }

        if (item->tokens == 0 && item->cost == 0) {
            continue;                   /* a release only */
        }

        for (k = 0; k < b->nrecords; k++) {
            rec = &b->records[k];

            if (rec->entry == j && rec->minute == item->minute
                && rec->period == item->periods[i])
            {
                break;
            }
        }

        rec = &b->records[k];

        if (k == b->nrecords) {
            rec->entry = j;
            rec->minute = item->minute;
            rec->period = item->periods[i];
            rec->tokens = 0;
            rec->cost = 0;
            b->nrecords++;
        }

        rec->tokens += item->tokens;
        rec->cost += item->cost;
    }

    b->items[b->nitems++] = item;
    rd->items++;

    if (!rd->flush.posted) {
        ngx_post_event(&rd->flush, &ngx_posted_events);
    }

    return NGX_OK;
}


static void
ngx_http_aigw_redis_flush_handler(ngx_event_t *ev)
{
    ngx_http_aigw_redis_t  *rd = ev->data;

    if (rd->batches && rd->ready) {
        return;                 /* the reply of the one out posts us again */
    }

    ngx_http_aigw_redis_flush(rd);
}


static void
ngx_http_aigw_redis_flush(ngx_http_aigw_redis_t *rd)
{
    ngx_http_aigw_redis_batch_t  *b;

    if (rd->flush.posted) {
        ngx_delete_posted_event(&rd->flush);
    }

    b = rd->batch;

    if (b == NULL) {
        return;
    }

    rd->batch = NULL;

    if (!rd->ready || rd->ac == NULL
        || ngx_http_aigw_redis_batch_send(rd, b) != NGX_OK)
    {
        ngx_http_aigw_redis_batch_fail(rd, b);
    }
}


/*
 * EVALSHA sha 2S keys... now lifetime worker S entries... settlements
 * admissions: see ngx_http_aigw_redis_scripts.h.  The command is written in
 * RESP here: hiredis's own formatting costs more than the rest of a batch.
 */

#define NGX_HTTP_AIGW_REDIS_NUM_LEN  (1 + NGX_INT_T_LEN + 2 + NGX_INT64_LEN + 2)

#define NGX_HTTP_AIGW_REDIS_RECORD   (2 + 4 * 8)   /* "<Hi8i8i8i8" */

static u_char *
ngx_http_aigw_redis_resp(u_char *p, const void *data, size_t len)
{
    *p++ = '$';
    p = ngx_http_aigw_int(p, (int64_t) len);
    *p++ = CR; *p++ = LF;
    p = ngx_cpymem(p, data, len);
    *p++ = CR; *p++ = LF;

    return p;
}


static u_char *
ngx_http_aigw_redis_resp_num(u_char *p, int64_t n)
{
    u_char  buf[NGX_INT64_LEN];

    /* ngx_sprintf() would cost more than the rest of the batch */

    return ngx_http_aigw_redis_resp(p, buf, ngx_http_aigw_int(buf, n) - buf);
}


static u_char *
ngx_http_aigw_redis_resp_key(u_char *p, ngx_str_t *prefix, u_char kind,
    ngx_str_t *id)
{
    *p++ = '$';
    p = ngx_http_aigw_int(p, (int64_t) (prefix->len + 2 + id->len));
    *p++ = CR; *p++ = LF;
    p = ngx_cpymem(p, prefix->data, prefix->len);
    *p++ = kind; *p++ = ':';
    p = ngx_cpymem(p, id->data, id->len);
    *p++ = CR; *p++ = LF;

    return p;
}


/* little-endian, as the script's struct.unpack("<...") reads them */

static u_char *
ngx_http_aigw_redis_le(u_char *p, uint64_t v, ngx_uint_t bytes)
{
    while (bytes--) {
        *p++ = (u_char) v;
        v >>= 8;
    }

    return p;
}


static ngx_int_t
ngx_http_aigw_redis_batch_send(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_batch_t *b)
{
    size_t                         size, alen;
    u_char                        *p;
    int64_t                        base;
    ngx_uint_t                     i, j;
    ngx_http_aigw_redis_item_t    *item;
    ngx_http_aigw_redis_entry_t   *e;
    ngx_http_aigw_redis_slots_t   *sl;
    ngx_http_aigw_redis_record_t  *rec;

    /* the admissions' blob: "<Bi8i8" then n "<H" each */

    alen = 0;

    for (i = 0; i < b->nitems; i++) {
        if (b->items[i]->type == NGX_HTTP_AIGW_REDIS_ADMIT) {
            alen += 1 + 16 + 2 * b->items[i]->n;
        }
    }

    /* the arguments after EVALSHA sha, each "$len\r\n...\r\n" */

    size = 5 * NGX_HTTP_AIGW_REDIS_NUM_LEN + sizeof(rd->wid)
           + 2 * (1 + NGX_SIZE_T_LEN + 2 + 2)
           + b->nrecords * NGX_HTTP_AIGW_REDIS_RECORD + alen;

    for (j = 0; j < b->nentries; j++) {
        size += 2 * (1 + NGX_SIZE_T_LEN + 2 + rd->prefix.len + 2
                     + b->entries[j].id->len + 2)
                + 9 * NGX_HTTP_AIGW_REDIS_NUM_LEN;
    }

    /* and before them: "*argc\r\n$7\r\nEVALSHA\r\n$40\r\n<sha>\r\n" */

    size += 1 + NGX_INT_T_LEN + 2 + 13 + 5 + 40 + 2;

    b->cmd = ngx_alloc(size, rd->log);
    if (b->cmd == NULL) {
        return NGX_ERROR;
    }

    b->argc = 2 + 1 + 2 * b->nentries + 4 + 9 * b->nentries + 2;

    p = ngx_sprintf(b->cmd, "*%ui\r\n$7\r\nEVALSHA\r\n$40\r\n", b->argc);
    p = ngx_cpymem(p, rd->sha, 40);
    *p++ = CR; *p++ = LF;

    b->body = p;

    p = ngx_http_aigw_redis_resp_num(p, 2 * b->nentries);

    for (j = 0; j < b->nentries; j++) {
        p = ngx_http_aigw_redis_resp_key(p, &rd->prefix, 's',
                                         b->entries[j].id);
        p = ngx_http_aigw_redis_resp_key(p, &rd->prefix, 'i',
                                         b->entries[j].id);
    }

    /* 0: the script takes the time of the Redis server, one clock for all */

    p = ngx_http_aigw_redis_resp_num(p, 0);
    p = ngx_http_aigw_redis_resp_num(p, NGX_HTTP_AIGW_REDIS_LIFETIME);
    p = ngx_http_aigw_redis_resp(p, rd->wid, sizeof(rd->wid));
    p = ngx_http_aigw_redis_resp_num(p, b->nentries);

    for (j = 0; j < b->nentries; j++) {
        e = &b->entries[j];

        /* this worker's slots before the batch's admissions */

        base = 0;

        if (e->limits->concurrency > 0) {
            sl = ngx_http_aigw_redis_slots(rd, e->id, 0);

            if (sl) {
                base = sl->inflight + sl->pending - sl->batched;
            }
        }

        p = ngx_http_aigw_redis_resp_num(p, e->limits->rpm);
        p = ngx_http_aigw_redis_resp_num(p, e->limits->tpm);
        p = ngx_http_aigw_redis_resp_num(p, e->limits->concurrency);
        p = ngx_http_aigw_redis_resp_num(p, e->limits->budget);
        p = ngx_http_aigw_redis_resp_num(p, e->limits->period);
        p = ngx_http_aigw_redis_resp_num(p, base);
        p = ngx_http_aigw_redis_resp_num(p, e->admissions);
        p = ngx_http_aigw_redis_resp_num(p, e->tokens);
        p = ngx_http_aigw_redis_resp_num(p, e->cost);
    }

    *p++ = '$';
    p = ngx_http_aigw_int(p, b->nrecords * NGX_HTTP_AIGW_REDIS_RECORD);
    *p++ = CR; *p++ = LF;

    for (i = 0; i < b->nrecords; i++) {
        rec = &b->records[i];
        p = ngx_http_aigw_redis_le(p, rec->entry + 1, 2);
        p = ngx_http_aigw_redis_le(p, rec->minute, 8);
        p = ngx_http_aigw_redis_le(p, rec->period, 8);
        p = ngx_http_aigw_redis_le(p, rec->tokens, 8);
        p = ngx_http_aigw_redis_le(p, rec->cost, 8);
    }

    *p++ = CR; *p++ = LF;

    *p++ = '$';
    p = ngx_http_aigw_int(p, alen);
    *p++ = CR; *p++ = LF;

    for (i = 0; i < b->nitems; i++) {
        item = b->items[i];

        if (item->type != NGX_HTTP_AIGW_REDIS_ADMIT) {
            continue;
        }

        *p++ = (u_char) item->n;
        p = ngx_http_aigw_redis_le(p, item->tokens, 8);
        p = ngx_http_aigw_redis_le(p, item->cost, 8);

        for (j = 0; j < item->n; j++) {
            p = ngx_http_aigw_redis_le(p, item->sub[j] + 1, 2);
        }
    }

    *p++ = CR; *p++ = LF;

    b->len = p - b->cmd;

    /* hiredis copies the command into its output buffer now */

    if (redisAsyncFormattedCommand(rd->ac, ngx_http_aigw_redis_batch_reply,
                                   b, (char *) b->cmd, b->len)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    rd->outstanding++;
    rd->batches++;

    /* sent: the admissions are no longer those of the open batch */

    for (j = 0; j < b->nentries; j++) {
        e = &b->entries[j];

        if (e->admissions && e->limits->concurrency > 0) {
            sl = ngx_http_aigw_redis_slots(rd, e->id, 0);

            if (sl) {
                sl->batched = 0;
            }
        }
    }

    return NGX_OK;
}


/* The same batch with EVAL and the script, for a Redis that lost it. */

static ngx_int_t
ngx_http_aigw_redis_batch_eval(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_batch_t *b)
{
    int        rc;
    size_t     size, body;
    u_char    *cmd, *p;

    body = b->len - (b->body - b->cmd);
    size = 1 + NGX_INT_T_LEN + 2 + 10 + 1 + NGX_SIZE_T_LEN + 2
           + sizeof(ngx_http_aigw_redis_batch_lua) - 1 + 2 + body;

    cmd = ngx_alloc(size, rd->log);
    if (cmd == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(cmd, "*%ui\r\n$4\r\nEVAL\r\n", b->argc);
    p = ngx_http_aigw_redis_resp(p, ngx_http_aigw_redis_batch_lua,
                                 sizeof(ngx_http_aigw_redis_batch_lua) - 1);
    p = ngx_cpymem(p, b->body, body);

    rc = rd->ac ? redisAsyncFormattedCommand(rd->ac,
                                             ngx_http_aigw_redis_batch_reply,
                                             b, (char *) cmd, p - cmd)
                : REDIS_ERR;

    ngx_free(cmd);

    if (rc != REDIS_OK) {
        return NGX_ERROR;
    }

    rd->outstanding++;
    rd->batches++;

    return NGX_OK;
}


/* A batch that could not be sent: admissions fail, settlements wait. */

static void
ngx_http_aigw_redis_batch_fail(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_batch_t *b)
{
    ngx_uint_t                   i;
    ngx_http_aigw_redis_item_t  *item;

    for (i = 0; i < b->nitems; i++) {
        item = b->items[i];
        b->items[i] = NULL;
        rd->items--;

        if (item->type == NGX_HTTP_AIGW_REDIS_ADMIT) {
            /* never ran: nothing to give back */
            ngx_http_aigw_redis_slots_admit(rd, item,
                                            NGX_HTTP_AIGW_REDIS_UNSENT);
            ngx_http_aigw_redis_admit_reply(rd, item, NGX_ERROR, NULL);
            ngx_free(item);

        } else {
            /* its slots are released when it is sent */
            ngx_http_aigw_redis_slots_settle(rd, item, 1);
            ngx_http_aigw_redis_park(rd, item);
        }
    }

    ngx_http_aigw_redis_batch_free(b);
}


static void
ngx_http_aigw_redis_batch_free(ngx_http_aigw_redis_batch_t *b)
{
    ngx_uint_t  i;

    for (i = 0; i < b->nitems; i++) {
        if (b->items[i]) {
            ngx_free(b->items[i]);
        }
    }

    if (b->cmd) {
        ngx_free(b->cmd);
    }

    /* one is kept for the next batch: a batch is some 20 KB */

    if (b->rd->spare == NULL && !b->rd->exiting) {
        b->rd->spare = b;
        return;
    }

    ngx_free(b);
}


ngx_int_t
ngx_http_aigw_redis_admit(ngx_http_aigw_store_conf_t *sc,
    ngx_http_aigw_admission_t *a)
{
    ngx_http_aigw_redis_t       *rd;
    ngx_http_aigw_redis_item_t  *item;

    rd = sc->redis;

    a->redis_token = NULL;

    /* fired commands have their own bound: they never refuse admissions */

    if (rd == NULL || !rd->ready || rd->ac == NULL
        || ngx_http_aigw_redis_waiting(rd) >= rd->queue
        || a->nsubjects == 0 || a->nsubjects > NGX_HTTP_AIGW_SUBJECTS)
    {
        return NGX_ERROR;
    }

    item = ngx_http_aigw_redis_item(rd, NGX_HTTP_AIGW_REDIS_ADMIT,
                                    a->nsubjects, a->subjects, NULL, NULL);
    if (item == NULL) {
        return NGX_ERROR;
    }

    item->tokens = a->tokens;
    item->cost = a->cost;

    if (ngx_http_aigw_redis_add(rd, item) != NGX_OK) {
        ngx_free(item);
        return NGX_ERROR;
    }

    item->a = a;
    ngx_queue_insert_tail(&rd->waiting, &item->queue);

    item->timer.handler = ngx_http_aigw_redis_admit_timeout;
    item->timer.data = item;
    item->timer.log = rd->log;
    ngx_add_timer(&item->timer, rd->timeout);

    a->redis_token = item;

    return NGX_AGAIN;
}


void
ngx_http_aigw_redis_cancel(ngx_http_aigw_admission_t *a)
{
    ngx_http_aigw_redis_item_t  *item;

    item = a->redis_token;

    if (item == NULL) {
        return;
    }

    a->redis_token = NULL;

    if (item->a) {
        item->a = NULL;
        ngx_queue_remove(&item->queue);
    }

    if (item->timer.timer_set) {
        ngx_del_timer(&item->timer);
    }

    /* the batch's reply frees the item, and releases a late admission */
}


void
ngx_http_aigw_redis_settle(ngx_http_aigw_store_conf_t *sc,
    ngx_http_aigw_admission_t *a, int64_t tokens_delta, int64_t cost_delta)
{
    ngx_uint_t                   i;
    ngx_http_aigw_redis_t       *rd;
    ngx_http_aigw_redis_item_t  *item;

    rd = sc->redis;

    if (rd == NULL || !a->reserved || a->local) {
        return;                   /* nothing was reserved in Redis */
    }

    if (a->nsubjects == 0 || a->nsubjects > NGX_HTTP_AIGW_SUBJECTS) {
        return;
    }

    if (!rd->ready && !rd->settle_logged) {
        rd->settle_logged = 1;

        ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                      "aigw: redis %V is down: settlements wait until it "
                      "is back", &rd->server);
    }

    item = ngx_http_aigw_redis_item(rd, NGX_HTTP_AIGW_REDIS_SETTLE,
                                    a->nsubjects, a->subjects, NULL, NULL);
    if (item == NULL) {

        /* the counts are lost, the slots are released all the same */

        for (i = 0; i < a->nsubjects; i++) {
            if (a->subjects[i].limits.concurrency > 0) {
                ngx_http_aigw_redis_slots_release(rd, &a->subjects[i].id);
            }
        }

        return;
    }

    item->minute = a->minute;
    item->tokens = tokens_delta;
    item->cost = cost_delta;

    for (i = 0; i < a->nsubjects; i++) {
        item->periods[i] = a->periods[i];
    }

    /* settlements free slots: they may use twice the admissions' queue */

    if (ngx_http_aigw_redis_waiting(rd) >= 2 * rd->queue) {
        if (!rd->overflow_logged) {
            rd->overflow_logged = 1;

            ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                          "aigw: redis %V: %ui commands wait, "
                          "a settlement is dropped",
                          &rd->server, ngx_http_aigw_redis_waiting(rd));
        }

        ngx_http_aigw_redis_drop_settlement(rd, item);
        return;
    }

    ngx_http_aigw_redis_park(rd, item);
}


/*
 * A settlement not sent: its counts are lost, but its slots are released
 * all the same, in the worker's counts that the next batch sends.
 */

static void
ngx_http_aigw_redis_drop_settlement(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_item_t *item)
{
    ngx_http_aigw_redis_slots_settle(rd, item, -1);
    ngx_free(item);
}


/* A settlement goes into the batch, or waits for the link to be ready. */

static void
ngx_http_aigw_redis_park(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_item_t *item)
{
    if (rd->ready && rd->ac) {
        if (ngx_http_aigw_redis_add(rd, item) != NGX_OK) {
            ngx_http_aigw_redis_drop_settlement(rd, item);
        }

        return;
    }

    /* kept until the link is ready again (set_ready adds them) */

    if (rd->exiting || !rd->started || rd->nparked >= rd->queue) {
        if (!rd->exiting && rd->started && !rd->overflow_logged) {
            rd->overflow_logged = 1;

            ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                          "aigw: redis %V: %ui settlements wait, "
                          "a settlement is dropped",
                          &rd->server, rd->nparked);
        }

        ngx_http_aigw_redis_drop_settlement(rd, item);
        return;
    }

    ngx_queue_insert_tail(&rd->parked, &item->queue);
    rd->nparked++;
}


/*
 * The release of an admission granted after its request stopped waiting:
 * a settlement of its subjects that gives back what it reserved.
 */

static void
ngx_http_aigw_redis_release(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_item_t *from, int64_t minute, int64_t *periods)
{
    ngx_uint_t                   i;
    ngx_http_aigw_redis_item_t  *item;

    if (from->n == 0) {
        return;
    }

    item = ngx_http_aigw_redis_item(rd, NGX_HTTP_AIGW_REDIS_SETTLE, from->n,
                                    NULL, from->ids, from->limits);
    if (item == NULL) {
        return;
    }

    item->minute = minute;
    item->tokens = -from->tokens;
    item->cost = -from->cost;

    for (i = 0; i < from->n; i++) {
        item->periods[i] = periods[i];
    }

    if (rd->exiting) {
        ngx_http_aigw_redis_drop_settlement(rd, item);
        return;
    }

    ngx_http_aigw_redis_park(rd, item);
}


static void
ngx_http_aigw_redis_batch_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                   *reply = r;
    ngx_http_aigw_redis_t        *rd;
    ngx_http_aigw_redis_batch_t  *b;

    b = privdata;
    rd = b->rd;

    rd->outstanding--;
    rd->batches--;

    if (reply == NULL) {
        rd->ready = 0;          /* the context is being freed */

    } else {
        rd->received++;
    }

    /* the script cache was flushed (or Redis restarted with our link up) */

    if (reply && reply->type == REDIS_REPLY_ERROR && !b->retried
        && reply->len >= 8 && ngx_strncmp(reply->str, "NOSCRIPT", 8) == 0)
    {
        static const char  *load[] = { "SCRIPT", "LOAD",
                                       ngx_http_aigw_redis_batch_lua };
        static size_t       load_len[] = {
            6, 4, sizeof(ngx_http_aigw_redis_batch_lua) - 1 };

        b->retried = 1;

        if (!rd->reload) {
            ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                          "aigw: redis %V lost the script, "
                          "loading it again", &rd->server);

            if (ngx_http_aigw_redis_internal(rd, NGX_HTTP_AIGW_REDIS_RELOAD,
                                             3, load, load_len)
                == NGX_OK)
            {
                rd->reload = 1;
            }
        }

        if (ngx_http_aigw_redis_batch_eval(rd, b) == NGX_OK) {
            return;             /* the same callback gets the EVAL's reply */
        }
    }

    if (reply && ngx_http_aigw_redis_answers(rd, b, reply) != NGX_OK) {

        /* the admissions fail; what ran of the batch stays counted */

        ngx_log_error(NGX_LOG_ERR, rd->log, 0, "aigw: redis %V: %s",
                      &rd->server, rd->reason_buf);

        reply = NULL;
    }

    if (reply == NULL) {
        ngx_http_aigw_redis_answers(rd, b, NULL);
    }

    if (r == NULL) {
        ngx_http_aigw_redis_resync(rd, b);
    }

    ngx_http_aigw_redis_batch_free(b);

    if (rd->batch && !rd->flush.posted) {
        ngx_post_event(&rd->flush, &ngx_posted_events);
    }
}


/*
 * The admissions' answers.  The script admits a batch's admissions at once
 * when all of them fit, and then answers with one string: "<i8" integers,
 * 0, minute, ms, failed settlements, then per entry its period id, the
 * requests and tokens used in the window, and the tokens counted in this
 * minute and the one before, all before the batch's admissions; each
 * admission's answer is worked out here by aigw_window_next(), as if they
 * had been admitted one by one.  Otherwise it answers with an array: the same header with
 * 1, then each admission's answer (ngx_http_aigw_redis_verdict()).
 *
 * NGX_ERROR (the reason in rd->reason_buf) before any admission is
 * answered; reply NULL: they all fail.
 */

static ngx_int_t
ngx_http_aigw_redis_answers(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_batch_t *b, redisReply *reply)
{
    u_char                       *h;
    int64_t                       v[4 + 5 * NGX_HTTP_AIGW_SUBJECTS];
    int64_t                       hdr[4], ms, *e;
    ngx_int_t                     rc;
    ngx_uint_t                    i, j, k, n, fast;
    redisReply                   *elem;
    aigw_window_base_t            base;
    aigw_window_result_t          res;
    ngx_http_aigw_redis_item_t   *item;
    ngx_http_aigw_redis_entry_t  *en;

    fast = 0;
    h = NULL;
    hdr[0] = hdr[1] = hdr[2] = hdr[3] = 0;

    if (reply) {
        if (reply->type == REDIS_REPLY_ERROR) {
            ngx_http_aigw_redis_error_text(rd, "the batch script failed",
                                           reply);
            return NGX_ERROR;
        }

        if (reply->type == REDIS_REPLY_STRING
            && reply->len == 8 * (4 + 5 * b->nentries))
        {
            fast = 1;
            h = (u_char *) reply->str;

        } else if (reply->type == REDIS_REPLY_ARRAY
                   && reply->elements == 1 + b->nadmissions
                   && reply->element[0]->type == REDIS_REPLY_STRING
                   && reply->element[0]->len == 8 * 4)
        {
            h = (u_char *) reply->element[0]->str;
        }

        if (h) {
            for (i = 0; i < 4; i++) {
                hdr[i] = ngx_http_aigw_redis_le_int(h + 8 * i);
            }
        }

        if (h == NULL || hdr[0] != (fast ? 0 : 1)
            || hdr[2] < 0 || hdr[2] >= 60000)
        {
            ngx_cpystrn(rd->reason_buf, (u_char *) "unexpected reply to the "
                        "batch script", sizeof(rd->reason_buf));
            return NGX_ERROR;
        }

        if (hdr[3] > 0) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "aigw: redis %V: %L settlements failed",
                          &rd->server, hdr[3]);
        }

        /* the running sums of the admissions before, per entry */

        for (j = 0; j < b->nentries; j++) {
            b->entries[j].admissions = 0;
            b->entries[j].tokens = 0;
        }
    }

    ms = reply ? hdr[2] : 0;
    k = 0;

    for (i = 0; i < b->nitems; i++) {
        item = b->items[i];
        rd->items--;

        if (item->type != NGX_HTTP_AIGW_REDIS_ADMIT) {
            continue;
        }

        k++;
        n = item->n;
        rc = NGX_ERROR;

        if (reply == NULL || n > NGX_HTTP_AIGW_SUBJECTS) {
            /* failed */

        } else if (!fast) {
            elem = reply->element[k];
            rc = ngx_http_aigw_redis_verdict(elem, n, v);

            if (rc == NGX_ERROR) {
                if (elem->type == REDIS_REPLY_ERROR) {
                    ngx_http_aigw_redis_error_text(rd, "an admission failed",
                                                   elem);

                } else {
                    ngx_cpystrn(rd->reason_buf, (u_char *) "unexpected "
                                "reply to an admission",
                                sizeof(rd->reason_buf));
                }

                ngx_log_error(NGX_LOG_ERR, rd->log, 0, "aigw: redis %V: %s",
                              &rd->server, rd->reason_buf);
            }

        } else {
            rc = NGX_OK;

            v[0] = AIGW_WINDOW_OK;
            v[1] = 0;
            v[2] = 0;
            v[3] = hdr[1];

            for (j = 0; j < n; j++) {
                en = &b->entries[item->sub[j]];
                h = (u_char *) reply->str + 8 * (4 + 5 * item->sub[j]);

                v[4 + j] = ngx_http_aigw_redis_le_int(h);

                base.ms = ms;
                base.req_used = ngx_http_aigw_redis_le_int(h + 8);
                base.tok_used = ngx_http_aigw_redis_le_int(h + 16);
                base.tok_cur = ngx_http_aigw_redis_le_int(h + 24);
                base.tok_prev = ngx_http_aigw_redis_le_int(h + 32);

                aigw_window_next(en->limits, &base, en->admissions,
                                 en->tokens, item->tokens, &res);

                e = &v[4 + n + 4 * j];
                e[0] = res.remaining_requests;
                e[1] = res.reset_requests_ms;
                e[2] = res.remaining_tokens;
                e[3] = res.reset_tokens_ms;
            }

            for (j = 0; j < n; j++) {
                en = &b->entries[item->sub[j]];
                en->admissions++;
                en->tokens += item->tokens;
            }
        }

        ngx_http_aigw_redis_slots_admit(rd, item,
                                        rc == NGX_OK
                                        ? NGX_HTTP_AIGW_REDIS_ADMITTED
                                        : NGX_HTTP_AIGW_REDIS_REFUSED);

        ngx_http_aigw_redis_admit_reply(rd, item, rc, v);
    }

    return NGX_OK;
}


/*
 * The link died with the batch unanswered: whether Redis ran it is
 * unknown, so its subjects' slots counts are sent again once it is back,
 * or a slot taken by an admission whose answer was lost would hold until
 * the subject's next request from this worker.
 */

static void
ngx_http_aigw_redis_resync(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_batch_t *b)
{
    ngx_uint_t                   i, j;
    ngx_http_aigw_redis_item_t  *item, *from;

    if (rd->exiting) {
        return;
    }

    for (i = 0; i < b->nitems; i++) {
        from = b->items[i];

        for (j = 0; j < from->n; j++) {
            if (from->limits[j].concurrency > 0) {
                break;
            }
        }

        if (j == from->n) {
            continue;
        }

        item = ngx_http_aigw_redis_item(rd, NGX_HTTP_AIGW_REDIS_SETTLE,
                                        from->n, NULL, from->ids,
                                        from->limits);
        if (item == NULL) {
            return;
        }

        item->resync = 1;

        ngx_http_aigw_redis_park(rd, item);
    }
}


static int64_t
ngx_http_aigw_redis_le_int(u_char *p)
{
    ngx_uint_t  i;
    uint64_t    v;

    v = 0;

    for (i = 8; i--; /* void */) {
        v = (v << 8) | p[i];
    }

    return (int64_t) v;
}


static void
ngx_http_aigw_redis_admit_reply(ngx_http_aigw_redis_t *rd,
    ngx_http_aigw_redis_item_t *item, ngx_int_t rc, int64_t *v)
{
    ngx_http_aigw_admission_t  *a;

    if (item->timer.timer_set) {
        ngx_del_timer(&item->timer);
    }

    a = item->a;

    if (a == NULL) {

        /* its request stopped waiting: give back what was reserved */

        if (rc == NGX_OK) {
            ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                          "aigw: redis %V admitted a request that stopped "
                          "waiting, releasing its reservation", &rd->server);

            ngx_http_aigw_redis_release(rd, item, v[3], &v[4]);
        }

        return;
    }

    ngx_queue_remove(&item->queue);
    item->a = NULL;
    a->redis_token = NULL;

    if (rc == NGX_ERROR) {
        a->status = NGX_ERROR;

    } else {
        ngx_http_aigw_redis_parse(v, a);
    }

    a->done(a->request, a);
}


/*
 * An admission's answer, "<i8" integers (see ngx_http_aigw_redis_parse()),
 * into v: NGX_OK, NGX_DECLINED, or NGX_ERROR when the reply is not the
 * script's.
 */

static ngx_int_t
ngx_http_aigw_redis_verdict(redisReply *reply, ngx_uint_t n, int64_t *v)
{
    ngx_uint_t  i;

    if (reply->type != REDIS_REPLY_STRING
        || reply->len != (size_t) 8 * (4 + 5 * n))
    {
        return NGX_ERROR;
    }

    for (i = 0; i < 4 + 5 * n; i++) {
        v[i] = ngx_http_aigw_redis_le_int((u_char *) reply->str + 8 * i);
    }

    if (v[0] == AIGW_WINDOW_OK) {
        return NGX_OK;
    }

    if (v[0] < AIGW_WINDOW_REQUESTS || v[0] > AIGW_WINDOW_BUDGET
        || v[1] < 0 || v[1] >= (int64_t) n)
    {
        return NGX_ERROR;
    }

    return NGX_DECLINED;
}


static void
ngx_http_aigw_redis_parse(int64_t *v, ngx_http_aigw_admission_t *a)
{
    ngx_uint_t               i, n, headers, refused;
    int64_t                 *e;
    aigw_window_result_t     res;
    aigw_subject_limits_t   *l;

    n = a->nsubjects;
    refused = (ngx_uint_t) v[1];

    a->status = v[0] == AIGW_WINDOW_OK ? NGX_OK : NGX_DECLINED;
    a->minute = v[3];
    a->header_rpm = 0;
    a->header_tpm = 0;
    headers = 0;

    for (i = 0; i < n; i++) {
        a->periods[i] = v[4 + i];

        res.refused = AIGW_WINDOW_OK;
        res.retry_after_ms = 0;

        if (a->status == NGX_DECLINED && i == refused) {
            res.refused = (int) v[0];
            res.retry_after_ms = v[2];
        }

        e = &v[4 + n + 4 * i];

        res.remaining_requests = e[0];
        res.reset_requests_ms = e[1];
        res.remaining_tokens = e[2];
        res.reset_tokens_ms = e[3];

        if (a->status == NGX_DECLINED && i == refused) {
            a->refused = i;
            a->result = res;
        }

        l = &a->subjects[i].limits;

        if (!headers && (l->rpm || l->tpm)) {
            headers = 1;
            a->headers = res;
            a->header_rpm = l->rpm;
            a->header_tpm = l->tpm;
        }
    }

    if (a->status == NGX_OK) {
        a->reserved = 1;
    }
}


static void
ngx_http_aigw_redis_admit_timeout(ngx_event_t *ev)
{
    ngx_http_aigw_redis_t       *rd;
    ngx_http_aigw_admission_t   *a;
    ngx_http_aigw_redis_item_t  *item;

    item = ev->data;
    rd = item->rd;
    a = item->a;

    if (a == NULL) {
        return;
    }

    ngx_queue_remove(&item->queue);
    item->a = NULL;
    a->redis_token = NULL;

    ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                  "aigw: redis %V did not answer an admission in %M ms",
                  &rd->server, rd->timeout);

    /* the token stays for the reply, which comes even if the link dies */

    a->status = NGX_ERROR;
    a->done(a->request, a);
}


/* "<what>: <Redis error>", without the password should Redis echo it */

static void
ngx_http_aigw_redis_error_text(ngx_http_aigw_redis_t *rd, const char *what,
    redisReply *reply)
{
    u_char  *p, *last;
    size_t   len, i;

    p = rd->reason_buf;
    last = rd->reason_buf + sizeof(rd->reason_buf) - 1;

    p = ngx_slprintf(p, last, "%s", what);

    if (reply->type == REDIS_REPLY_ERROR && reply->str && reply->len) {
        len = reply->len;

        if (rd->password.len && len >= rd->password.len) {
            for (i = 0; i + rd->password.len <= len; i++) {
                if (ngx_memcmp(reply->str + i, rd->password.data,
                               rd->password.len) == 0)
                {
                    len = 0;
                    break;
                }
            }
        }

        if (len) {
            p = ngx_slprintf(p, last, ": %*s", len, reply->str);
        }
    }

    *p = '\0';
}


/* fire-and-forget commands, for the other users of a connection */

ngx_str_t *
ngx_http_aigw_redis_name(ngx_http_aigw_redis_t *rd)
{
    return &rd->server;
}


/*
 * hiredis copies the arguments into its output buffer at once: the caller's
 * argv may live on its stack.  Nothing is allocated here, and nothing waits
 * for the reply, which only counts and logs.
 */

ngx_int_t
ngx_http_aigw_redis_fire(ngx_http_aigw_redis_t *rd, ngx_uint_t max,
    const char *what, int argc, const char **argv, const size_t *argvlen)
{
    if (rd == NULL || !rd->ready || rd->ac == NULL) {
        return NGX_DECLINED;
    }

    if (rd->fired >= max) {
        return NGX_BUSY;
    }

    if (redisAsyncCommandArgv(rd->ac, ngx_http_aigw_redis_fire_reply,
                              (void *) what, argc, argv, argvlen)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    rd->outstanding++;
    rd->fired++;

    return NGX_OK;
}


static void
ngx_http_aigw_redis_fire_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply             *reply = r;
    ngx_http_aigw_redis_t  *rd;

    rd = ac->data;
    rd->outstanding--;
    rd->fired--;

    if (reply == NULL) {
        rd->ready = 0;          /* the context is being freed */
        return;
    }

    rd->received++;

    if (reply->type != REDIS_REPLY_ERROR) {
        return;
    }

    /* a wrong key type, say: said once a minute, with the count */

    rd->fire_failed++;

    if (ngx_time() - rd->fire_logged < NGX_HTTP_AIGW_REDIS_FIRE_LOG) {
        return;
    }

    rd->fire_logged = ngx_time();

    ngx_http_aigw_redis_error_text(rd, privdata, reply);

    ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                  "aigw: redis %V: %s (%ui failed since the last report)",
                  &rd->server, rd->reason_buf, rd->fire_failed);

    rd->fire_failed = 0;
}


/*
 * Commands whose reply somebody waits for (the admin API and the key store
 * of ngx_http_aigw_keystore.c).  The token lives until hiredis gives its
 * reply back, which it always does (with NULL when the context goes away);
 * the handler is called once: with the reply, or with NULL on a timeout or
 * a lost link, and never after ngx_http_aigw_redis_query_cancel().
 */

typedef struct {
    ngx_http_aigw_redis_t          *rd;
    ngx_http_aigw_redis_result_pt   handler;
    void                           *data;
    ngx_event_t                     timer;
} ngx_http_aigw_redis_query_t;


static void ngx_http_aigw_redis_query_reply(redisAsyncContext *ac, void *r,
    void *privdata);
static void ngx_http_aigw_redis_query_timeout(ngx_event_t *ev);


ngx_str_t *
ngx_http_aigw_redis_prefix(ngx_http_aigw_redis_t *rd)
{
    return &rd->prefix;
}


void *
ngx_http_aigw_redis_query(ngx_http_aigw_redis_t *rd, ngx_msec_t timeout,
    int argc, const char **argv, const size_t *argvlen,
    ngx_http_aigw_redis_result_pt handler, void *data)
{
    ngx_http_aigw_redis_query_t  *q;

    if (rd == NULL || !rd->ready || rd->ac == NULL
        || ngx_http_aigw_redis_waiting(rd) >= rd->queue)
    {
        return NULL;
    }

    q = ngx_alloc(sizeof(ngx_http_aigw_redis_query_t), rd->log);
    if (q == NULL) {
        return NULL;
    }

    ngx_memzero(q, sizeof(ngx_http_aigw_redis_query_t));

    q->rd = rd;
    q->handler = handler;
    q->data = data;

    if (redisAsyncCommandArgv(rd->ac, ngx_http_aigw_redis_query_reply, q,
                              argc, argv, argvlen)
        != REDIS_OK)
    {
        ngx_free(q);
        return NULL;
    }

    rd->outstanding++;

    q->timer.handler = ngx_http_aigw_redis_query_timeout;
    q->timer.data = q;
    q->timer.log = rd->log;
    q->timer.cancelable = 1;

    ngx_add_timer(&q->timer, timeout ? timeout : rd->timeout);

    return q;
}


void
ngx_http_aigw_redis_query_cancel(void *token)
{
    ngx_http_aigw_redis_query_t  *q = token;

    if (q == NULL) {
        return;
    }

    q->handler = NULL;

    if (q->timer.timer_set) {
        ngx_del_timer(&q->timer);
    }
}


static void
ngx_http_aigw_redis_query_reply(redisAsyncContext *ac, void *r,
    void *privdata)
{
    redisReply                   *reply = r;
    ngx_http_aigw_redis_t        *rd;
    ngx_http_aigw_redis_query_t  *q;

    q = privdata;
    rd = q->rd;

    rd->outstanding--;

    if (reply == NULL) {
        rd->ready = 0;          /* the context is being freed */

    } else {
        rd->received++;
    }

    if (q->timer.timer_set) {
        ngx_del_timer(&q->timer);
    }

    /* no request is resumed while the process exits */

    if (q->handler && !rd->exiting) {
        q->handler(q->data, reply);
    }

    ngx_free(q);
}


static void
ngx_http_aigw_redis_query_timeout(ngx_event_t *ev)
{
    ngx_http_aigw_redis_query_t  *q = ev->data;

    ngx_http_aigw_redis_result_pt  handler;

    handler = q->handler;
    q->handler = NULL;

    if (handler) {
        ngx_log_error(NGX_LOG_INFO, q->rd->log, 0,
                      "aigw: redis %V did not answer in time",
                      &q->rd->server);

        handler(q->data, NULL);
    }
}
