/*
 * aigw: the counter store behind limits and budgets.
 *
 * One interface, two backends:
 *   - shm (the default): an nginx shared memory zone for all workers of one
 *     nginx, kept across reloads; spend is written to a state file and read
 *     back at start, so budgets survive a restart;
 *   - redis: one async hiredis connection per worker on nginx's event loop,
 *     admissions and settlements batched into EVALSHAs, shared by any
 *     number of nginx instances.
 *
 * Both apply the rules of aigw_window.h: every subject of a request (its
 * key, the key's limits for the model, its tenant) is checked, and the
 * reservation is applied to all or to none, atomically.
 */

#ifndef _NGX_HTTP_AIGW_STORE_H_INCLUDED_
#define _NGX_HTTP_AIGW_STORE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "aigw_window.h"


#define NGX_HTTP_AIGW_SUBJECTS        3
#define NGX_HTTP_AIGW_SUBJECT_MAX     320

#define NGX_HTTP_AIGW_FAIL_OPEN       0
#define NGX_HTTP_AIGW_FAIL_CLOSED     1


typedef struct ngx_http_aigw_admission_s  ngx_http_aigw_admission_t;
typedef struct ngx_http_aigw_redis_s      ngx_http_aigw_redis_t;

typedef void (*ngx_http_aigw_admit_done_pt)(ngx_http_request_t *r,
    ngx_http_aigw_admission_t *a);


typedef struct {
    ngx_str_t                   id;        /* "k:<key>", "m:<key>:<model>",
                                              "t:<tenant>" */
    const char                 *what;      /* "key 'x'", for messages */
    aigw_subject_limits_t       limits;
} ngx_http_aigw_subject_t;


struct ngx_http_aigw_admission_s {
    ngx_http_aigw_subject_t     subjects[NGX_HTTP_AIGW_SUBJECTS];
    ngx_uint_t                  nsubjects;
    int64_t                     tokens;     /* reserved estimate */
    int64_t                     cost;       /* reserved estimate, micro-USD */
    int64_t                     now_ms;
    ngx_str_t                   request_id;

    /* the verdict */
    ngx_int_t                   status;     /* NGX_OK: admitted;
                                               NGX_DECLINED: refused;
                                               NGX_ERROR: store failed */
    ngx_uint_t                  refused;    /* index of the refused subject */
    aigw_window_result_t        result;     /* of the refused subject */
    aigw_window_result_t        headers;    /* of the first subject that has
                                               rpm or tpm, for headers */
    int64_t                     header_rpm;
    int64_t                     header_tpm;

    /* what settle needs */
    int64_t                     minute;
    int64_t                     periods[NGX_HTTP_AIGW_SUBJECTS];
    void                       *nodes[NGX_HTTP_AIGW_SUBJECTS];
                                            /* shm: the subjects' nodes,
                                               valid while "evictions"
                                               has not moved */
    ngx_uint_t                  evictions;
    unsigned                    reserved:1;
    unsigned                    local:1;    /* reserved in shm (fail open) */
    unsigned                    settled:1;

    /* the redis backend's in-flight state */
    ngx_http_request_t         *request;
    ngx_http_aigw_admit_done_pt done;
    void                       *redis_token;
};


typedef struct {
    ngx_shm_zone_t             *shm_zone;
    ngx_str_t                   state_file;
    ngx_msec_t                  persist;
    ngx_http_aigw_redis_t      *redis;      /* NULL: the shm backend */
    ngx_uint_t                  failure;    /* NGX_HTTP_AIGW_FAIL_* */
} ngx_http_aigw_store_conf_t;


/* shm backend (also the local fallback of redis when it fails open) */

char *ngx_http_aigw_shm_conf(ngx_conf_t *cf, ngx_http_aigw_store_conf_t *sc,
    ngx_str_t *name, size_t size);
ngx_int_t ngx_http_aigw_shm_admit(ngx_http_aigw_store_conf_t *sc,
    ngx_http_aigw_admission_t *a, ngx_log_t *log);
void ngx_http_aigw_shm_settle(ngx_http_aigw_store_conf_t *sc,
    ngx_http_aigw_admission_t *a, int64_t tokens_delta, int64_t cost_delta,
    ngx_log_t *log);
ngx_int_t ngx_http_aigw_shm_init_process(ngx_cycle_t *cycle,
    ngx_http_aigw_store_conf_t *sc);
void ngx_http_aigw_shm_exit_process(ngx_cycle_t *cycle,
    ngx_http_aigw_store_conf_t *sc);


/*
 * redis backend.
 *
 * ngx_http_aigw_redis_conf() parses the parameters of
 * "aigw_store redis server=... [password=...] [db=N] [timeout=time]
 *  [queue=N] [prefix=str]" (starting at args[2]).
 *
 * ngx_http_aigw_redis_admit() adds the admission to the worker's next batch
 * (sent once the event loop has run what is ready and no batch is out) and
 * returns NGX_AGAIN; a->done(a->request, a) is called later from the
 * event loop with a->status set (NGX_OK, NGX_DECLINED with a->result and
 * a->refused, or NGX_ERROR on timeout, disconnect or a full queue).  It
 * returns NGX_ERROR at once when the connection is down or the queue is
 * full.  After ngx_http_aigw_redis_cancel(a), a->done is never called.
 *
 * ngx_http_aigw_redis_settle() adds a settlement to the next batch, without
 * waiting for its reply.
 */

char *ngx_http_aigw_redis_conf(ngx_conf_t *cf,
    ngx_http_aigw_store_conf_t *sc);
ngx_int_t ngx_http_aigw_redis_init_process(ngx_cycle_t *cycle,
    ngx_http_aigw_store_conf_t *sc);
void ngx_http_aigw_redis_exit_process(ngx_cycle_t *cycle,
    ngx_http_aigw_store_conf_t *sc);
ngx_int_t ngx_http_aigw_redis_admit(ngx_http_aigw_store_conf_t *sc,
    ngx_http_aigw_admission_t *a);
void ngx_http_aigw_redis_settle(ngx_http_aigw_store_conf_t *sc,
    ngx_http_aigw_admission_t *a, int64_t tokens_delta, int64_t cost_delta);

/* The request went away: a->done must not be called any more. */
void ngx_http_aigw_redis_cancel(ngx_http_aigw_admission_t *a);


/*
 * The store's Redis connection, lent to other users (the usage stream):
 * the same per-worker async connection, reconnect and watchdog, either the
 * store's own or one more without the scripts.
 *
 * ngx_http_aigw_redis_create() makes a connection without the scripts;
 * "directive" starts its configuration errors.  ngx_http_aigw_redis_param()
 * takes one of server=, password=, db=, timeout=, connect_timeout=, queue=
 * (NGX_OK), logs a bad value (NGX_ERROR), or leaves the parameter to the
 * caller (NGX_DECLINED); ngx_http_aigw_redis_param_error() names a bad
 * parameter without its value (it may be a password).
 *
 * ngx_http_aigw_redis_start() and _stop() are for init_process and
 * exit_process; the store's connection is started by the store.
 *
 * ngx_http_aigw_redis_fire() sends a command whose reply nobody waits for:
 * NGX_OK (sent), NGX_DECLINED (the connection is not ready), NGX_BUSY
 * ("max" fired commands are unanswered) or NGX_ERROR.  The arguments are
 * copied at once.  Error replies are logged with "what", a static string,
 * at most once a minute.  Fired commands do not count against the queue
 * of admissions and settlements.
 */

ngx_http_aigw_redis_t *ngx_http_aigw_redis_create(ngx_conf_t *cf,
    const char *directive);
ngx_int_t ngx_http_aigw_redis_param(ngx_conf_t *cf, ngx_http_aigw_redis_t *rd,
    ngx_str_t *value);
void ngx_http_aigw_redis_param_error(ngx_conf_t *cf, const char *directive,
    ngx_str_t *value);
ngx_int_t ngx_http_aigw_redis_start(ngx_cycle_t *cycle,
    ngx_http_aigw_redis_t *rd);
void ngx_http_aigw_redis_stop(ngx_cycle_t *cycle, ngx_http_aigw_redis_t *rd);
ngx_str_t *ngx_http_aigw_redis_name(ngx_http_aigw_redis_t *rd);
ngx_int_t ngx_http_aigw_redis_fire(ngx_http_aigw_redis_t *rd, ngx_uint_t max,
    const char *what, int argc, const char **argv, const size_t *argvlen);

/*
 * Commands with a reply (the admin API, run-time keys): the handler gets
 * the redisReply (or NULL: error, timeout, lost link) once, later, from the
 * event loop; never after ngx_http_aigw_redis_query_cancel(token).  NULL:
 * not sent (the connection is not ready or the queue is full).  timeout 0:
 * the connection's "timeout=".
 */

typedef void (*ngx_http_aigw_redis_result_pt)(void *data, void *reply);

void *ngx_http_aigw_redis_query(ngx_http_aigw_redis_t *rd, ngx_msec_t timeout,
    int argc, const char **argv, const size_t *argvlen,
    ngx_http_aigw_redis_result_pt handler, void *data);
void ngx_http_aigw_redis_query_cancel(void *token);
ngx_str_t *ngx_http_aigw_redis_prefix(ngx_http_aigw_redis_t *rd);


/*
 * The spend counted for a subject ("k:<name>", "t:<name>") in the shm
 * store: its budget period id and spend (0, 0 if none), and forgetting it
 * when a run-time key or tenant is deleted.
 */

void ngx_http_aigw_shm_spend(ngx_http_aigw_store_conf_t *sc, ngx_str_t *id,
    int64_t *period, int64_t *spend);
void ngx_http_aigw_shm_forget(ngx_http_aigw_store_conf_t *sc, ngx_str_t *id);


#endif /* _NGX_HTTP_AIGW_STORE_H_INCLUDED_ */
