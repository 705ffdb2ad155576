/*
 * aigw: the admin API, a content handler on a location of its own.
 *
 *   location /admin/ {
 *       allow 10.0.0.0/8; deny all;
 *       aigw_admin;
 *       aigw_admin_token env=AIGW_ADMIN_TOKEN;
 *   }
 *
 * Routes, under the location's prefix (JSON in and out, OpenAI-shaped
 * errors):
 *   GET    keys                 POST keys
 *   GET    keys/<name>          PATCH keys/<name>      DELETE keys/<name>
 *   POST   keys/<name>/topup
 *   GET    tenants              POST tenants
 *   GET    tenants/<name>       PATCH tenants/<name>   DELETE tenants/<name>
 *   POST   tenants/<name>/topup
 *   GET    usage?from=&to=&key=&tenant=&model=
 *   GET    channels             GET channels/<name>    PATCH channels/<name>
 *
 * Every call is a small state machine over key store operations
 * (ngx_http_aigw_keystore.h), which are synchronous with the embedded
 * store and one Redis round trip each with Redis.
 */

#include "ngx_http_aigw_module.h"
#include "ngx_http_aigw_keystore.h"
#include "aigw_admin.h"

#include <jansson.h>


#define NGX_HTTP_AIGW_ADMIN_MAX_BODY  AIGW_ADMIN_MAX_DOC

enum {
    NGX_HTTP_AIGW_ADMIN_LIST = 1,     /* keys, tenants */
    NGX_HTTP_AIGW_ADMIN_ONE,          /* keys/<name>, tenants/<name> */
    NGX_HTTP_AIGW_ADMIN_TOPUP,        /* keys/<name>/topup */
    NGX_HTTP_AIGW_ADMIN_USAGE,
    NGX_HTTP_AIGW_ADMIN_CHANNELS,
    NGX_HTTP_AIGW_ADMIN_CHANNEL
};


struct ngx_http_aigw_admin_conf_s {
    u_char                      token[AIGW_SHA256_LEN];
    ngx_uint_t                  token_set;
    ngx_uint_t                  handler;
    ngx_str_t                   prefix;
};


typedef struct {
    ngx_http_aigw_ks_op_t       op;           /* first: op->done finds us */
    ngx_http_request_t         *request;
    ngx_http_aigw_keystore_t   *ks;
    ngx_uint_t                  route;
    ngx_uint_t                  tenant;
    ngx_str_t                   name;
    ngx_str_t                   body;
    ngx_uint_t                  step;
    ngx_uint_t                  async;
    ngx_str_t                   file_doc;     /* of a keys file entry */
    char                        secret[AIGW_ADMIN_SECRET_LEN + 1];
    ngx_str_t                   f_key;        /* usage filters */
    ngx_str_t                   f_tenant;
    ngx_str_t                   f_model;
} ngx_http_aigw_admin_req_t;


static ngx_int_t ngx_http_aigw_admin_handler(ngx_http_request_t *r);
static void ngx_http_aigw_admin_body(ngx_http_request_t *r);
static ngx_http_aigw_admin_req_t *ngx_http_aigw_admin_route(
    ngx_http_request_t *r, ngx_int_t *rc);
static ngx_int_t ngx_http_aigw_admin_step(ngx_http_aigw_admin_req_t *ar);
static void ngx_http_aigw_admin_done(ngx_http_aigw_ks_op_t *op);
static ngx_int_t ngx_http_aigw_admin_run(ngx_http_aigw_admin_req_t *ar,
    ngx_uint_t type);
static ngx_int_t ngx_http_aigw_admin_keys(ngx_http_aigw_admin_req_t *ar);
static ngx_int_t ngx_http_aigw_admin_usage(ngx_http_aigw_admin_req_t *ar);
static ngx_int_t ngx_http_aigw_admin_channels(ngx_http_aigw_admin_req_t *ar);
static ngx_int_t ngx_http_aigw_admin_store_error(ngx_http_request_t *r,
    ngx_http_aigw_admin_req_t *ar);
static json_t *ngx_http_aigw_admin_entry(ngx_http_aigw_admin_req_t *ar,
    ngx_str_t *doc, ngx_uint_t file);
static json_t *ngx_http_aigw_admin_spend(ngx_http_aigw_admin_req_t *ar,
    json_t *entry);
static ngx_int_t ngx_http_aigw_admin_read_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_int_t ngx_http_aigw_admin_check_token(ngx_http_request_t *r,
    ngx_http_aigw_admin_conf_t *ac);
static ngx_int_t ngx_http_aigw_admin_send(ngx_http_request_t *r,
    ngx_uint_t status, json_t *body);
static ngx_int_t ngx_http_aigw_admin_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *type, const char *code,
    const char *fmt, ...);
static ngx_int_t ngx_http_aigw_admin_arg(ngx_http_request_t *r, char *name,
    ngx_str_t *value);


/* configuration */

static ngx_http_aigw_admin_conf_t *
ngx_http_aigw_admin_conf(ngx_conf_t *cf, ngx_http_aigw_loc_conf_t *alcf)
{
    if (alcf->admin == NULL) {
        alcf->admin = ngx_pcalloc(cf->pool,
                                  sizeof(ngx_http_aigw_admin_conf_t));
    }

    return alcf->admin;
}


/* aigw_admin; */

char *
ngx_http_aigw_admin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_aigw_loc_conf_t  *alcf = conf;

    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_aigw_keystore_t    *ks;
    ngx_http_aigw_admin_conf_t  *ac;

    ac = ngx_http_aigw_admin_conf(cf, alcf);
    if (ac == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ac->handler) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

#if (NGX_PCRE)
    if (clcf->regex) {
        return "is not allowed in a regex location: the routes are the "
               "part of the URI after a location prefix";
    }
#endif

    ks = ngx_http_aigw_keystore_get(cf);
    if (ks == NULL) {
        return NGX_CONF_ERROR;
    }

    ks->admin = 1;
    ac->handler = 1;
    ac->prefix = clcf->name;

    clcf->handler = ngx_http_aigw_admin_handler;

    (void) cmd;

    return NGX_CONF_OK;
}


/* aigw_admin_token <sha256 hex> | env=NAME; */

char *
ngx_http_aigw_admin_token(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_aigw_loc_conf_t  *alcf = conf;

    char                        *env;
    ngx_str_t                   *value;
    ngx_http_aigw_admin_conf_t  *ac;

    ac = ngx_http_aigw_admin_conf(cf, alcf);
    if (ac == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ac->token_set) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len > 4 && ngx_strncmp(value[1].data, "env=", 4) == 0) {
        env = getenv((char *) value[1].data + 4);

        if (env == NULL || ngx_strlen(env) < 16) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "the environment variable \"%s\" must hold "
                               "the admin token (16 characters or more)",
                               value[1].data + 4);
            return NGX_CONF_ERROR;
        }

        aigw_sha256((u_char *) env, ngx_strlen(env), ac->token);

    } else if (value[1].len != 2 * AIGW_SHA256_LEN
               || aigw_hex_decode(ac->token, value[1].data, AIGW_SHA256_LEN)
                  != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"aigw_admin_token\" takes the SHA-256 of the "
                           "token in hex (64 characters; \"printf %%s "
                           "TOKEN | sha256sum\") or \"env=NAME\"");
        return NGX_CONF_ERROR;
    }

    ac->token_set = 1;

    (void) cmd;

    return NGX_CONF_OK;
}


char *
ngx_http_aigw_admin_merge(ngx_conf_t *cf, ngx_http_aigw_loc_conf_t *alcf)
{
    ngx_http_aigw_admin_conf_t  *ac = alcf->admin;

    if (ac->handler && !ac->token_set) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"aigw_admin\" needs \"aigw_admin_token\" in "
                           "the same location");
        return NGX_CONF_ERROR;
    }

    if (!ac->handler && ac->token_set) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"aigw_admin_token\" is only used with "
                           "\"aigw_admin\" in the same location");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* the handler */

static ngx_int_t
ngx_http_aigw_admin_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_aigw_loc_conf_t    *alcf;
    ngx_http_aigw_admin_req_t   *ar;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_aigw_module);

    if (ngx_http_aigw_admin_check_token(r, alcf->admin) != NGX_OK) {
        (void) ngx_http_discard_request_body(r);

        return ngx_http_aigw_admin_error(r, NGX_HTTP_UNAUTHORIZED,
                                         "invalid_request_error",
                                         "invalid_admin_token",
                                         "Missing or wrong admin token: send "
                                         "it as \"Authorization: Bearer "
                                         "<token>\".");
    }

    if (r->method & (NGX_HTTP_POST|NGX_HTTP_PATCH)) {

        if (r->headers_in.content_length_n > NGX_HTTP_AIGW_ADMIN_MAX_BODY) {
            (void) ngx_http_discard_request_body(r);

            return ngx_http_aigw_admin_error(r,
                                         NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                         "invalid_request_error",
                                         "body_too_large",
                                         "The request body is larger than "
                                         "%d bytes.",
                                         NGX_HTTP_AIGW_ADMIN_MAX_BODY);
        }

        r->request_body_in_single_buf = 1;

        rc = ngx_http_read_client_request_body(r, ngx_http_aigw_admin_body);

        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ar = ngx_http_aigw_admin_route(r, &rc);
    if (ar == NULL) {
        return rc;
    }

    rc = ngx_http_aigw_admin_step(ar);

    if (rc == NGX_AGAIN) {
        ar->async = 1;
        r->main->count++;
        return NGX_DONE;
    }

    return rc;
}


static void
ngx_http_aigw_admin_body(ngx_http_request_t *r)
{
    ngx_int_t                   rc;
    ngx_http_aigw_admin_req_t  *ar;

    ar = ngx_http_aigw_admin_route(r, &rc);

    if (ar == NULL) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    rc = ngx_http_aigw_admin_read_body(r, &ar->body);

    if (rc != NGX_OK) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    rc = ngx_http_aigw_admin_step(ar);

    if (rc == NGX_AGAIN) {
        ar->async = 1;
        return;
    }

    ngx_http_finalize_request(r, rc);
}


/* The route and method; NULL with *rc: the answer already made. */

static ngx_http_aigw_admin_req_t *
ngx_http_aigw_admin_route(ngx_http_request_t *r, ngx_int_t *rc)
{
    u_char                      *p, *last, *seg[4];
    size_t                       len[4];
    ngx_str_t                    path;
    ngx_uint_t                   n, allowed;
    ngx_http_aigw_loc_conf_t    *alcf;
    ngx_http_aigw_main_conf_t   *amcf;
    ngx_http_aigw_admin_req_t   *ar;
    const char                  *allow;

    alcf = ngx_http_get_module_loc_conf(r, ngx_http_aigw_module);
    amcf = ngx_http_get_module_main_conf(r, ngx_http_aigw_module);

    path = r->uri;

    if (path.len >= alcf->admin->prefix.len
        && ngx_strncmp(path.data, alcf->admin->prefix.data,
                       alcf->admin->prefix.len) == 0)
    {
        path.data += alcf->admin->prefix.len;
        path.len -= alcf->admin->prefix.len;
    }

    /* up to four segments, empty ones skipped */

    n = 0;
    p = path.data;
    last = path.data + path.len;

    while (p < last) {
        while (p < last && *p == '/') {
            p++;
        }

        if (p == last) {
            break;
        }

        if (n == 4) {
            goto not_found;
        }

        seg[n] = p;

        while (p < last && *p != '/') {
            p++;
        }

        len[n] = p - seg[n];
        n++;
    }

    ar = ngx_pcalloc(r->pool, sizeof(ngx_http_aigw_admin_req_t));
    if (ar == NULL) {
        *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NULL;
    }

    ar->request = r;
    ar->ks = amcf->keystore;
    ar->op.request = r;
    ar->op.done = ngx_http_aigw_admin_done;

#define seg_is(i, s)                                                          \
    (len[i] == sizeof(s) - 1 && ngx_strncmp(seg[i], s, sizeof(s) - 1) == 0)

    if (n == 0) {
        goto not_found;
    }

    if (seg_is(0, "keys") || seg_is(0, "tenants")) {
        ar->tenant = (seg[0][0] == 't');

        if (n == 1) {
            ar->route = NGX_HTTP_AIGW_ADMIN_LIST;
            allowed = NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST;
            allow = "GET, HEAD, POST";

        } else if (n == 2) {
            ar->route = NGX_HTTP_AIGW_ADMIN_ONE;
            allowed = NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_PATCH
                      |NGX_HTTP_DELETE;
            allow = "GET, HEAD, PATCH, DELETE";

        } else if (n == 3 && seg_is(2, "topup")) {
            ar->route = NGX_HTTP_AIGW_ADMIN_TOPUP;
            allowed = NGX_HTTP_POST;
            allow = "POST";

        } else {
            goto not_found;
        }

        if (n >= 2) {
            ar->name.data = seg[1];
            ar->name.len = len[1];

            if (!aigw_admin_valid_name(ar->name.data, ar->name.len)) {
                *rc = ngx_http_aigw_admin_error(r, NGX_HTTP_NOT_FOUND,
                                         "invalid_request_error",
                                         "not_found",
                                         "No such %s: names are 1..64 "
                                         "characters of A-Z a-z 0-9 . _ "
                                         "@ -.",
                                         ar->tenant ? "tenant" : "key");
                return NULL;
            }
        }

    } else if (seg_is(0, "usage") && n == 1) {
        ar->route = NGX_HTTP_AIGW_ADMIN_USAGE;
        allowed = NGX_HTTP_GET|NGX_HTTP_HEAD;
        allow = "GET, HEAD";

    } else if (seg_is(0, "channels") && n <= 2) {
        ar->route = (n == 1) ? NGX_HTTP_AIGW_ADMIN_CHANNELS
                             : NGX_HTTP_AIGW_ADMIN_CHANNEL;
        allowed = NGX_HTTP_GET|NGX_HTTP_HEAD
                  |(n == 2 ? NGX_HTTP_PATCH : 0);
        allow = (n == 2) ? "GET, HEAD, PATCH" : "GET, HEAD";

        if (n == 2) {
            ar->name.data = seg[1];
            ar->name.len = len[1];
        }

    } else {
        goto not_found;
    }

#undef seg_is

    if (!(r->method & allowed)) {
        ngx_table_elt_t  *h;

        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NULL;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        h->value.data = (u_char *) allow;
        h->value.len = ngx_strlen(allow);

        *rc = ngx_http_aigw_admin_error(r, NGX_HTTP_NOT_ALLOWED,
                                        "invalid_request_error",
                                        "method_not_allowed",
                                        "Method %V is not allowed here; "
                                        "use %s.", &r->method_name, allow);
        return NULL;
    }

    return ar;

not_found:

    *rc = ngx_http_aigw_admin_error(r, NGX_HTTP_NOT_FOUND,
                                    "invalid_request_error", "unknown_url",
                                    "Unknown admin URL: %V %V.",
                                    &r->method_name, &r->uri);
    return NULL;
}


static ngx_int_t
ngx_http_aigw_admin_step(ngx_http_aigw_admin_req_t *ar)
{
    switch (ar->route) {

    case NGX_HTTP_AIGW_ADMIN_USAGE:
        return ngx_http_aigw_admin_usage(ar);

    case NGX_HTTP_AIGW_ADMIN_CHANNELS:
    case NGX_HTTP_AIGW_ADMIN_CHANNEL:
        return ngx_http_aigw_admin_channels(ar);

    default:
        return ngx_http_aigw_admin_keys(ar);
    }
}


static void
ngx_http_aigw_admin_done(ngx_http_aigw_ks_op_t *op)
{
    ngx_int_t                   rc;
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_http_aigw_admin_req_t  *ar;

    ar = (ngx_http_aigw_admin_req_t *) op;
    r = ar->request;
    c = r->connection;

    rc = ngx_http_aigw_admin_step(ar);

    if (rc == NGX_AGAIN) {
        return;
    }

    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/* One store operation: NGX_OK (op->status set) or NGX_AGAIN. */

static ngx_int_t
ngx_http_aigw_admin_run(ngx_http_aigw_admin_req_t *ar, ngx_uint_t type)
{
    ar->op.type = type;
    ar->op.tenant = ar->tenant;
    ar->op.name = ar->name;
    ar->step++;

    return ngx_http_aigw_ks_run(ar->ks, &ar->op);
}


/* keys and tenants */

static ngx_uint_t
ngx_http_aigw_admin_file_key_named(aigw_keyset_t *fks, ngx_str_t *name)
{
    size_t  i;

    for (i = 0; i < fks->nkeys; i++) {
        if (fks->keys[i].name_len == name->len
            && ngx_strncmp(fks->keys[i].name, name->data, name->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


static int
ngx_http_aigw_admin_cmp(const void *a, const void *b)
{
    const char  *x, *y;

    x = json_string_value(json_object_get(*(json_t **) a, "id"));
    y = json_string_value(json_object_get(*(json_t **) b, "id"));

    return ngx_strcmp(x ? x : "", y ? y : "");
}


static ngx_int_t
ngx_http_aigw_admin_keys(ngx_http_aigw_admin_req_t *ar)
{
    char                        *doc, *text;
    char                         kname[AIGW_KEY_NAME_MAX + 1];
    char                         ktenant[AIGW_KEY_NAME_MAX + 1];
    char                         err[512];
    char                         hint[AIGW_ADMIN_HINT_LEN + 1];
    u_char                       rnd[AIGW_ADMIN_SECRET_RANDOM];
    u_char                       hash[AIGW_SHA256_LEN];
    u_char                       hex[2 * AIGW_SHA256_LEN];
    size_t                       i, n;
    ssize_t                      got;
    ngx_fd_t                     fd;
    ngx_int_t                    rc;
    ngx_str_t                   *docs, name;
    ngx_uint_t                   file;
    json_t                      *out, *list, **items, *e;
    const aigw_key_t            *fk;
    const aigw_tenant_t         *ft;
    ngx_http_request_t          *r;
    ngx_http_aigw_ks_op_t       *op;
    aigw_keyset_t               *fks;

    r = ar->request;
    op = &ar->op;
    fks = ar->ks->amcf->keyset;

    /* the keys file's entry of this name, if any */

    fk = NULL;
    ft = NULL;

    if (ar->name.len && fks) {
        if (ar->tenant) {
            ft = aigw_keys_find_tenant(fks, ar->name.data, ar->name.len);

        } else {
            for (i = 0; i < fks->nkeys; i++) {
                if (fks->keys[i].name_len == ar->name.len
                    && ngx_strncmp(fks->keys[i].name, ar->name.data,
                                   ar->name.len) == 0)
                {
                    fk = &fks->keys[i];
                    break;
                }
            }
        }
    }

    file = (fk || ft);

    if (file && (r->method & (NGX_HTTP_PATCH|NGX_HTTP_DELETE|NGX_HTTP_POST)))
    {
        return ngx_http_aigw_admin_error(r, NGX_HTTP_FORBIDDEN,
                                         "permission_error", "read_only",
                                         "The %s \"%V\" comes from the keys "
                                         "file and cannot be changed "
                                         "through the API; edit the file "
                                         "and reload.",
                                         ar->tenant ? "tenant" : "key",
                                         &ar->name);
    }

    /* GET keys, GET tenants */

    if (ar->route == NGX_HTTP_AIGW_ADMIN_LIST
        && (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)))
    {
        if (ar->step == 0) {
            rc = ngx_http_aigw_admin_run(ar, NGX_HTTP_AIGW_KS_LIST);
            if (rc == NGX_AGAIN) {
                return rc;
            }
        }

        if (op->status != NGX_HTTP_AIGW_KS_OK) {
            return ngx_http_aigw_admin_store_error(r, ar);
        }

        n = op->docs.nelts + (fks ? (ar->tenant ? fks->ntenants
                                                : fks->nkeys)
                                  : 0);

        items = ngx_palloc(r->pool, (n + 1) * sizeof(json_t *));
        if (items == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        n = 0;
        docs = op->docs.elts;

        for (i = 0; i < op->docs.nelts; i++) {
            e = ngx_http_aigw_admin_entry(ar, &docs[i], 0);
            if (e) {
                items[n++] = e;
            }
        }

        for (i = 0; fks && i < (ar->tenant ? fks->ntenants : fks->nkeys);
             i++)
        {
            text = ar->tenant ? aigw_admin_file_tenant(&fks->tenants[i])
                              : aigw_admin_file_key(&fks->keys[i]);
            if (text == NULL) {
                continue;
            }

            name.data = (u_char *) text;
            name.len = ngx_strlen(text);

            e = ngx_http_aigw_admin_entry(ar, &name, 1);
            free(text);

            if (e) {
                items[n++] = e;
            }
        }

        qsort(items, n, sizeof(json_t *), ngx_http_aigw_admin_cmp);

        list = json_array();

        for (i = 0; i < n; i++) {
            json_array_append_new(list, items[i]);
        }

        out = json_pack("{ssso}", "object", "list", "data", list);

        return ngx_http_aigw_admin_send(r, NGX_HTTP_OK, out);
    }

    /* POST keys, POST tenants */

    if (ar->route == NGX_HTTP_AIGW_ADMIN_LIST) {

        if (ar->step == 0) {
            if (ar->tenant) {
                rc = aigw_admin_tenant_doc(ar->body.data, ar->body.len, NULL,
                                           ngx_time(), &doc, err,
                                           sizeof(err));

            } else {
                fd = ngx_open_file((u_char *) "/dev/urandom", NGX_FILE_RDONLY,
                                   NGX_FILE_OPEN, 0);
                if (fd == NGX_INVALID_FILE) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

                got = read(fd, rnd, sizeof(rnd));
                (void) ngx_close_file(fd);

                if (got != (ssize_t) sizeof(rnd)) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

                aigw_admin_secret(rnd, ar->secret, hint);
                ngx_explicit_memzero(rnd, sizeof(rnd));

                aigw_sha256((u_char *) ar->secret, AIGW_ADMIN_SECRET_LEN,
                            hash);
                aigw_hex_encode(hex, hash, AIGW_SHA256_LEN);

                op->hash_hex.len = sizeof(hex);
                op->hash_hex.data = ngx_pnalloc(r->pool, sizeof(hex) + 1);
                if (op->hash_hex.data == NULL) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

                ngx_memcpy(op->hash_hex.data, hex, sizeof(hex));
                op->hash_hex.data[sizeof(hex)] = '\0';

                rc = aigw_admin_key_doc(ar->body.data, ar->body.len, NULL,
                                        (char *) op->hash_hex.data, hint,
                                        ngx_time(), &doc, err, sizeof(err));
            }

            if (rc != 0) {
                return ngx_http_aigw_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                                 "invalid_request_error",
                                                 "invalid_value", "%s", err);
            }

            (void) aigw_admin_doc_names(doc, kname, ktenant);

            op->doc.len = ngx_strlen(doc);
            op->doc.data = ngx_pnalloc(r->pool, op->doc.len + 1);

            if (op->doc.data == NULL) {
                free(doc);
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_memcpy(op->doc.data, doc, op->doc.len + 1);
            free(doc);

            ar->name.len = ngx_strlen(kname);
            ar->name.data = ngx_pnalloc(r->pool, ar->name.len + 1);
            if (ar->name.data == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_memcpy(ar->name.data, kname, ar->name.len + 1);

            /* a name of the keys file is taken for good */

            if (fks
                && (ar->tenant
                    ? aigw_keys_find_tenant(fks, ar->name.data, ar->name.len)
                      != NULL
                    : ngx_http_aigw_admin_file_key_named(fks, &ar->name)))
            {
                return ngx_http_aigw_admin_error(r, NGX_HTTP_CONFLICT,
                                         "invalid_request_error",
                                         "already_exists",
                                         "The keys file already has a %s "
                                         "named \"%V\".",
                                         ar->tenant ? "tenant" : "key",
                                         &ar->name);
            }

            if (!ar->tenant && ktenant[0]
                && !(fks && aigw_keys_find_tenant(fks, (u_char *) ktenant,
                                                  ngx_strlen(ktenant))))
            {
                op->need_tenant.len = ngx_strlen(ktenant);
                op->need_tenant.data = ngx_pnalloc(r->pool,
                                                   op->need_tenant.len);
                if (op->need_tenant.data == NULL) {
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

                ngx_memcpy(op->need_tenant.data, ktenant,
                           op->need_tenant.len);
            }

            rc = ngx_http_aigw_admin_run(ar, NGX_HTTP_AIGW_KS_CREATE);
            if (rc == NGX_AGAIN) {
                return rc;
            }
        }

        if (op->status != NGX_HTTP_AIGW_KS_OK) {
            return ngx_http_aigw_admin_store_error(r, ar);
        }

        e = ngx_http_aigw_admin_entry(ar, &op->doc, 0);
        if (e == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (!ar->tenant) {
            /* shown this once; only its hash is kept */
            json_object_set_new(e, "key", json_string(ar->secret));
            ngx_explicit_memzero(ar->secret, sizeof(ar->secret));
        }

        return ngx_http_aigw_admin_send(r, NGX_HTTP_CREATED, e);
    }

    /* GET, PATCH, DELETE keys/<name>; POST keys/<name>/topup */

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {

        if (ar->step == 0) {
            rc = ngx_http_aigw_admin_run(ar, NGX_HTTP_AIGW_KS_GET);
            if (rc == NGX_AGAIN) {
                return rc;
            }
        }

        if (op->status == NGX_HTTP_AIGW_KS_NOT_FOUND && file) {
            text = ar->tenant ? aigw_admin_file_tenant(ft)
                              : aigw_admin_file_key(fk);
            if (text == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            name.data = (u_char *) text;
            name.len = ngx_strlen(text);

            e = ngx_http_aigw_admin_entry(ar, &name, 1);
            free(text);

        } else if (op->status != NGX_HTTP_AIGW_KS_OK) {
            return ngx_http_aigw_admin_store_error(r, ar);

        } else {
            e = ngx_http_aigw_admin_entry(ar, &op->result, 0);
        }

        if (e == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        e = ngx_http_aigw_admin_spend(ar, e);

        return ngx_http_aigw_admin_send(r, NGX_HTTP_OK, e);
    }

    if (r->method & NGX_HTTP_DELETE) {

        if (ar->step == 0) {
            rc = ngx_http_aigw_admin_run(ar, NGX_HTTP_AIGW_KS_DELETE);
            if (rc == NGX_AGAIN) {
                return rc;
            }
        }

        if (op->status != NGX_HTTP_AIGW_KS_OK) {
            return ngx_http_aigw_admin_store_error(r, ar);
        }

        out = json_pack("{ss%sssb}", "id", ar->name.data, ar->name.len,
                        "object", ar->tenant ? "tenant" : "key",
                        "deleted", 1);

        return ngx_http_aigw_admin_send(r, NGX_HTTP_OK, out);
    }

    /* PATCH or topup: read, change, write if nobody changed it meanwhile */

    if (ar->step == 0) {
        rc = ngx_http_aigw_admin_run(ar, NGX_HTTP_AIGW_KS_GET);
        if (rc == NGX_AGAIN) {
            return rc;
        }
    }

    if (ar->step == 1) {
        if (op->status != NGX_HTTP_AIGW_KS_OK) {
            return ngx_http_aigw_admin_store_error(r, ar);
        }

        if (ar->route == NGX_HTTP_AIGW_ADMIN_TOPUP) {
            rc = aigw_admin_topup(ar->body.data, ar->body.len,
                                  (char *) op->result.data, ngx_time(), &doc,
                                  err, sizeof(err));

        } else if (ar->tenant) {
            rc = aigw_admin_tenant_doc(ar->body.data, ar->body.len,
                                       (char *) op->result.data, ngx_time(),
                                       &doc, err, sizeof(err));

        } else {
            rc = aigw_admin_key_doc(ar->body.data, ar->body.len,
                                    (char *) op->result.data, NULL, NULL,
                                    ngx_time(), &doc, err, sizeof(err));
        }

        if (rc != 0) {
            return ngx_http_aigw_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                             "invalid_request_error",
                                             "invalid_value", "%s", err);
        }

        op->old = op->result;
        op->doc.len = ngx_strlen(doc);
        op->doc.data = ngx_pnalloc(r->pool, op->doc.len + 1);

        if (op->doc.data == NULL) {
            free(doc);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(op->doc.data, doc, op->doc.len + 1);
        free(doc);

        (void) aigw_admin_doc_names((char *) op->doc.data, kname, ktenant);

        ngx_str_null(&op->need_tenant);

        if (!ar->tenant && ktenant[0]
            && !(fks && aigw_keys_find_tenant(fks, (u_char *) ktenant,
                                              ngx_strlen(ktenant))))
        {
            op->need_tenant.len = ngx_strlen(ktenant);
            op->need_tenant.data = ngx_pnalloc(r->pool, op->need_tenant.len);
            if (op->need_tenant.data == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_memcpy(op->need_tenant.data, ktenant, op->need_tenant.len);
        }

        rc = ngx_http_aigw_admin_run(ar, NGX_HTTP_AIGW_KS_UPDATE);
        if (rc == NGX_AGAIN) {
            return rc;
        }
    }

    if (op->status != NGX_HTTP_AIGW_KS_OK) {
        return ngx_http_aigw_admin_store_error(r, ar);
    }

    e = ngx_http_aigw_admin_entry(ar, &op->doc, 0);
    if (e == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_aigw_admin_send(r, NGX_HTTP_OK, e);
}


static ngx_int_t
ngx_http_aigw_admin_store_error(ngx_http_request_t *r,
    ngx_http_aigw_admin_req_t *ar)
{
    const char  *what;

    what = ar->tenant ? "tenant" : "key";

    switch (ar->op.status) {

    case NGX_HTTP_AIGW_KS_NOT_FOUND:
        return ngx_http_aigw_admin_error(r, NGX_HTTP_NOT_FOUND,
                                         "invalid_request_error", "not_found",
                                         "No such %s: \"%V\".", what,
                                         &ar->name);

    case NGX_HTTP_AIGW_KS_EXISTS:
        return ngx_http_aigw_admin_error(r, NGX_HTTP_CONFLICT,
                                         "invalid_request_error",
                                         "already_exists",
                                         "A %s named \"%V\" already exists.",
                                         what, &ar->name);

    case NGX_HTTP_AIGW_KS_HASH_EXISTS:
        return ngx_http_aigw_admin_error(r, NGX_HTTP_CONFLICT,
                                         "invalid_request_error",
                                         "already_exists",
                                         "This secret is already in use; "
                                         "try again.");

    case NGX_HTTP_AIGW_KS_CONFLICT:
        return ngx_http_aigw_admin_error(r, NGX_HTTP_CONFLICT,
                                         "invalid_request_error", "conflict",
                                         "The %s \"%V\" was changed by "
                                         "another call meanwhile; read it "
                                         "and try again.", what, &ar->name);

    case NGX_HTTP_AIGW_KS_NO_TENANT:
        return ngx_http_aigw_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                         "invalid_request_error",
                                         "unknown_tenant",
                                         "Unknown tenant \"%V\": create it "
                                         "first.", &ar->op.need_tenant);

    case NGX_HTTP_AIGW_KS_IN_USE:
        return ngx_http_aigw_admin_error(r, NGX_HTTP_CONFLICT,
                                         "invalid_request_error", "in_use",
                                         "Keys still belong to the tenant "
                                         "\"%V\"; move or delete them "
                                         "first.", &ar->name);

    case NGX_HTTP_AIGW_KS_FULL:
        return ngx_http_aigw_admin_error(r, NGX_HTTP_INSUFFICIENT_STORAGE,
                                         "api_error", "store_full",
                                         "The aigw_admin zone is full; "
                                         "raise \"aigw_admin_zone\".");

    default:
        return ngx_http_aigw_admin_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                         "api_error", "store_unavailable",
                                         "The key store did not answer; "
                                         "try again later.");
    }
}


/* A document as the API shows it: no hash, an id, where it comes from. */

static json_t *
ngx_http_aigw_admin_entry(ngx_http_aigw_admin_req_t *ar, ngx_str_t *doc,
    ngx_uint_t file)
{
    json_t        *e, *name;
    json_error_t   jerr;

    e = json_loadb((char *) doc->data, doc->len, 0, &jerr);

    if (e == NULL || !json_is_object(e)) {
        json_decref(e);
        return NULL;
    }

    json_object_del(e, "sha256");

    name = json_object_get(e, "name");

    json_object_set(e, "id", name ? name : json_null());
    json_object_set_new(e, "object",
                        json_string(ar->tenant ? "tenant" : "key"));
    json_object_set_new(e, "source", json_string(file ? "file" : "api"));
    json_object_set_new(e, "read_only", json_boolean(file));

    if (!ar->tenant && json_object_get(e, "enabled") == NULL) {
        json_object_set_new(e, "enabled", json_true());
    }

    return e;
}


/* "usage": the spend of the budget period and what is left of it */

static json_t *
ngx_http_aigw_admin_spend(ngx_http_aigw_admin_req_t *ar, json_t *e)
{
    int          period;
    double       usd;
    int64_t      spend, budget;
    json_t      *b, *u;
    const char  *p;

    period = AIGW_PERIOD_TOTAL;
    budget = -1;

    b = json_object_get(e, "budget");

    if (json_is_object(b)) {
        usd = json_number_value(json_object_get(b, "usd"));
        budget = (int64_t) (usd * 1e6 + 0.5);

        p = json_string_value(json_object_get(b, "period"));

        if (p && ngx_strcmp(p, "daily") == 0) {
            period = AIGW_PERIOD_DAILY;

        } else if (p && ngx_strcmp(p, "monthly") == 0) {
            period = AIGW_PERIOD_MONTHLY;
        }
    }

    spend = (ar->op.period == aigw_period_id(period, ngx_time()))
            ? ar->op.spend : 0;

    u = json_pack("{sssf}", "period", period == AIGW_PERIOD_DAILY ? "daily"
                                      : period == AIGW_PERIOD_MONTHLY
                                        ? "monthly" : "total",
                  "spent_usd", (double) spend / 1e6);

    if (u == NULL) {
        return e;
    }

    if (budget >= 0) {
        json_object_set_new(u, "budget_usd", json_real((double) budget / 1e6));
        json_object_set_new(u, "remaining_usd",
                            json_real((double) ngx_max(budget - spend, 0)
                                      / 1e6));

    } else {
        json_object_set_new(u, "budget_usd", json_null());
        json_object_set_new(u, "remaining_usd", json_null());
    }

    json_object_set_new(e, "usage", u);

    return e;
}


/* usage */

typedef struct {
    int64_t                     day;
    char                        kind;
    ngx_str_t                   name;
    ngx_str_t                   model;
    int64_t                     v[5];
} ngx_http_aigw_admin_row_t;


static int
ngx_http_aigw_admin_row_cmp(const void *a, const void *b)
{
    int                               rc;
    const ngx_http_aigw_admin_row_t  *x = a, *y = b;

    if (x->day != y->day) {
        return x->day < y->day ? -1 : 1;
    }

    rc = ngx_memn2cmp(x->name.data, y->name.data, x->name.len, y->name.len);
    if (rc) {
        return rc;
    }

    return ngx_memn2cmp(x->model.data, y->model.data, x->model.len,
                        y->model.len);
}


static ngx_int_t
ngx_http_aigw_admin_usage(ngx_http_aigw_admin_req_t *ar)
{
    char                        kind, date[AIGW_ADMIN_DAY_LEN + 1];
    size_t                      i, j, nrows;
    int64_t                     today, tot[5];
    ngx_int_t                   rc;
    ngx_str_t                   v;
    json_t                     *data, *row, *total;
    ngx_http_request_t         *r;
    aigw_admin_field_t          f;
    ngx_http_aigw_ks_usage_t   *u;
    ngx_http_aigw_admin_row_t  *rows, *w;
    static const char           metrics[] = "riocu";

    r = ar->request;

    if (ar->step == 0) {
        today = ngx_time() / 86400;
        ar->op.from = today - 29;
        ar->op.to = today;

        if (ngx_http_aigw_admin_arg(r, "from", &v) == NGX_OK
            && aigw_admin_day_parse(v.data, v.len, &ar->op.from) != 0)
        {
            return ngx_http_aigw_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                             "invalid_request_error",
                                             "invalid_value",
                                             "\"from\" must be a date as "
                                             "YYYY-MM-DD.");
        }

        if (ngx_http_aigw_admin_arg(r, "to", &v) == NGX_OK
            && aigw_admin_day_parse(v.data, v.len, &ar->op.to) != 0)
        {
            return ngx_http_aigw_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                             "invalid_request_error",
                                             "invalid_value",
                                             "\"to\" must be a date as "
                                             "YYYY-MM-DD.");
        }

        if (ar->op.to < ar->op.from
            || ar->op.to - ar->op.from >= NGX_HTTP_AIGW_KS_RANGE_DAYS)
        {
            return ngx_http_aigw_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                             "invalid_request_error",
                                             "invalid_value",
                                             "\"from\" must not be after "
                                             "\"to\", and a range is at "
                                             "most %d days.",
                                             NGX_HTTP_AIGW_KS_RANGE_DAYS);
        }

        (void) ngx_http_aigw_admin_arg(r, "key", &ar->f_key);
        (void) ngx_http_aigw_admin_arg(r, "tenant", &ar->f_tenant);
        (void) ngx_http_aigw_admin_arg(r, "model", &ar->f_model);

        if (ar->f_key.len && ar->f_tenant.len) {
            return ngx_http_aigw_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                             "invalid_request_error",
                                             "invalid_value",
                                             "Give \"key\" or \"tenant\", "
                                             "not both.");
        }

        rc = ngx_http_aigw_admin_run(ar, NGX_HTTP_AIGW_KS_USAGE);
        if (rc == NGX_AGAIN) {
            return rc;
        }
    }

    if (ar->op.status != NGX_HTTP_AIGW_KS_OK) {
        return ngx_http_aigw_admin_store_error(r, ar);
    }

    /* tenant rows for a tenant, key rows otherwise */

    kind = ar->f_tenant.len ? 't' : 'k';

    rows = ngx_pcalloc(r->pool, (ar->op.usage.nelts + 1)
                                * sizeof(ngx_http_aigw_admin_row_t));
    if (rows == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    nrows = 0;
    u = ar->op.usage.elts;

    for (i = 0; i < ar->op.usage.nelts; i++) {
        if (aigw_admin_field_parse((char *) u[i].field.data, u[i].field.len,
                                   &f)
            != 0
            || f.kind != kind)
        {
            continue;
        }

        if ((ar->f_key.len
             && (f.name_len != ar->f_key.len
                 || ngx_strncmp(f.name, ar->f_key.data, f.name_len) != 0))
            || (ar->f_tenant.len
                && (f.name_len != ar->f_tenant.len
                    || ngx_strncmp(f.name, ar->f_tenant.data, f.name_len)
                       != 0))
            || (ar->f_model.len
                && (f.model_len != ar->f_model.len
                    || ngx_strncmp(f.model, ar->f_model.data, f.model_len)
                       != 0)))
        {
            continue;
        }

        for (j = 0; j < nrows; j++) {
            w = &rows[j];

            if (w->day == u[i].day && w->name.len == f.name_len
                && w->model.len == f.model_len
                && ngx_strncmp(w->name.data, f.name, f.name_len) == 0
                && ngx_strncmp(w->model.data, f.model, f.model_len) == 0)
            {
                break;
            }
        }

        w = &rows[j];

        if (j == nrows) {
            nrows++;
            w->day = u[i].day;
            w->kind = kind;
            w->name.data = (u_char *) f.name;
            w->name.len = f.name_len;
            w->model.data = (u_char *) f.model;
            w->model.len = f.model_len;
        }

        w->v[ngx_strchr(metrics, f.metric) - metrics] += u[i].value;
    }

    ngx_qsort(rows, nrows, sizeof(ngx_http_aigw_admin_row_t),
              ngx_http_aigw_admin_row_cmp);

    data = json_array();
    ngx_memzero(tot, sizeof(tot));

    for (i = 0; data && i < nrows; i++) {
        w = &rows[i];
        aigw_admin_day_format(w->day, date);

        row = json_pack("{ssss%ss%sIsIsIsIsf}", "date", date,
                        kind == 't' ? "tenant" : "key",
                        (char *) w->name.data, w->name.len,
                        "model", (char *) w->model.data, w->model.len,
                        "requests", (json_int_t) w->v[0],
                        "prompt_tokens", (json_int_t) w->v[1],
                        "completion_tokens", (json_int_t) w->v[2],
                        "cached_tokens", (json_int_t) w->v[3],
                        "cost_usd", (double) w->v[4] / 1e6);
        if (row) {
            json_array_append_new(data, row);
        }

        for (j = 0; j < 5; j++) {
            tot[j] += w->v[j];
        }
    }

    total = json_pack("{sIsIsIsIsf}", "requests", (json_int_t) tot[0],
                      "prompt_tokens", (json_int_t) tot[1],
                      "completion_tokens", (json_int_t) tot[2],
                      "cached_tokens", (json_int_t) tot[3],
                      "cost_usd", (double) tot[4] / 1e6);

    aigw_admin_day_format(ar->op.from, date);
    row = json_pack("{sssssoso}", "object", "list", "from", date,
                    "data", data ? data : json_array(),
                    "total", total ? total : json_object());

    if (row) {
        aigw_admin_day_format(ar->op.to, date);
        json_object_set_new(row, "to", json_string(date));
    }

    return ngx_http_aigw_admin_send(r, NGX_HTTP_OK, row);
}


/* channels */

static json_t *
ngx_http_aigw_admin_channel(ngx_http_aigw_channel_t *ch)
{
    ngx_uint_t   state;
    const char  *names[] = { "closed", "open", "half_open" };

    state = ngx_http_aigw_breaker_state(ch);   /* 0 closed, 1 open, 2 half */

    return json_pack("{ssssss%sbsbsssi}",
                     "id", "", "object", "channel",
                     "provider",
                     (char *) ngx_http_aigw_providers[ch->provider].data,
                     ngx_http_aigw_providers[ch->provider].len,
                     "enabled", !ngx_http_aigw_channel_out(ch),
                     "usable", !ch->disabled,
                     "circuit", state < 3 ? names[state] : "unknown",
                     "circuit_state", (int) state);
}


static json_t *
ngx_http_aigw_admin_channel_json(ngx_http_aigw_channel_t *ch)
{
    json_t  *e;

    e = ngx_http_aigw_admin_channel(ch);

    if (e) {
        json_object_set_new(e, "id", json_stringn((char *) ch->name.data,
                                                  ch->name.len));
    }

    return e;
}


static ngx_int_t
ngx_http_aigw_admin_channels(ngx_http_aigw_admin_req_t *ar)
{
    json_t                    *list, *body, *v;
    ngx_uint_t                 i;
    json_error_t               jerr;
    ngx_http_request_t        *r;
    ngx_http_aigw_channel_t  **chp, *ch;

    r = ar->request;
    chp = ar->ks->amcf->channels.elts;

    if (ar->route == NGX_HTTP_AIGW_ADMIN_CHANNELS) {
        list = json_array();

        for (i = 0; list && i < ar->ks->amcf->channels.nelts; i++) {
            json_array_append_new(list,
                                  ngx_http_aigw_admin_channel_json(chp[i]));
        }

        return ngx_http_aigw_admin_send(r, NGX_HTTP_OK,
                                        json_pack("{ssso}", "object", "list",
                                                  "data", list));
    }

    ch = NULL;

    for (i = 0; i < ar->ks->amcf->channels.nelts; i++) {
        if (chp[i]->name.len == ar->name.len
            && ngx_strncmp(chp[i]->name.data, ar->name.data, ar->name.len)
               == 0)
        {
            ch = chp[i];
            break;
        }
    }

    if (ch == NULL) {
        return ngx_http_aigw_admin_error(r, NGX_HTTP_NOT_FOUND,
                                         "invalid_request_error", "not_found",
                                         "No such channel: \"%V\".",
                                         &ar->name);
    }

    if (r->method & NGX_HTTP_PATCH) {
        body = json_loadb((char *) ar->body.data, ar->body.len,
                          JSON_REJECT_DUPLICATES, &jerr);
        v = body ? json_object_get(body, "enabled") : NULL;

        if (body == NULL || !json_is_object(body) || !json_is_boolean(v)
            || json_object_size(body) != 1)
        {
            json_decref(body);
            return ngx_http_aigw_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                             "invalid_request_error",
                                             "invalid_value",
                                             "Send {\"enabled\": true} or "
                                             "{\"enabled\": false}.");
        }

        if (ngx_http_aigw_ks_channel_out(ar->ks, ch, json_is_false(v))
            != NGX_OK)
        {
            json_decref(body);
            return ngx_http_aigw_admin_error(r, NGX_HTTP_BAD_REQUEST,
                                             "invalid_request_error",
                                             "invalid_value",
                                             "This channel cannot be taken "
                                             "out (its name is too long).");
        }

        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "aigw: channel \"%V\" %s through the admin API",
                      &ch->name, json_is_false(v) ? "taken out" : "put back");

        json_decref(body);
    }

    return ngx_http_aigw_admin_send(r, NGX_HTTP_OK,
                                    ngx_http_aigw_admin_channel_json(ch));
}


/* helpers */

static ngx_int_t
ngx_http_aigw_admin_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    u_char       *p;
    size_t        len;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;
        len += b->in_file ? (size_t) (b->file_last - b->file_pos)
                          : (size_t) (b->last - b->pos);
    }

    if (len > NGX_HTTP_AIGW_ADMIN_MAX_BODY) {
        return ngx_http_aigw_admin_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                         "invalid_request_error",
                                         "body_too_large",
                                         "The request body is larger than "
                                         "%d bytes.",
                                         NGX_HTTP_AIGW_ADMIN_MAX_BODY);
    }

    p = ngx_pnalloc(r->pool, len + 1);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            n = ngx_read_file(b->file, p, b->file_last - b->file_pos,
                              b->file_pos);
            if (n != b->file_last - b->file_pos) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            p += n;
            continue;
        }

        p = ngx_cpymem(p, b->pos, b->last - b->pos);
    }

    *p = '\0';
    body->len = p - body->data;

    return NGX_OK;
}


/* SHA-256 of the presented token against the configured one, in constant
 * time */

static ngx_int_t
ngx_http_aigw_admin_check_token(ngx_http_request_t *r,
    ngx_http_aigw_admin_conf_t *ac)
{
    u_char            *p, diff;
    size_t             len, i;
    ngx_table_elt_t   *h;
    u_char             hash[AIGW_SHA256_LEN];

    h = r->headers_in.authorization;

    if (h == NULL || h->value.len <= 7
        || ngx_strncasecmp(h->value.data, (u_char *) "bearer ", 7) != 0)
    {
        return NGX_DECLINED;
    }

    p = h->value.data + 7;
    len = h->value.len - 7;

    while (len && *p == ' ') {
        p++;
        len--;
    }

    aigw_sha256(p, len, hash);

    diff = 0;

    for (i = 0; i < AIGW_SHA256_LEN; i++) {
        diff |= hash[i] ^ ac->token[i];
    }

    return (diff == 0 && len) ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
ngx_http_aigw_admin_send(ngx_http_request_t *r, ngx_uint_t status,
    json_t *body)
{
    char         *text;
    size_t        len;
    ngx_buf_t    *b;

    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    text = json_dumps(body, JSON_COMPACT|JSON_REAL_PRECISION(15));
    json_decref(body);

    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_strlen(text);

    b = ngx_create_temp_buf(r->pool, len + 1);
    if (b == NULL) {
        free(text);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, text, len);
    *b->last++ = '\n';
    free(text);

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    return ngx_http_aigw_send_json(r, status, b);
}


static ngx_int_t
ngx_http_aigw_admin_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *type, const char *code, const char *fmt, ...)
{
    u_char        *p;
    va_list        args;
    aigw_error_t   e;
    ngx_buf_t     *b;
    u_char         buf[1024];

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    ngx_memzero(&e, sizeof(aigw_error_t));
    e.message = buf;
    e.message_len = p - buf;
    e.type = type;
    e.code = code;

    b = ngx_create_temp_buf(r->pool, aigw_error_len(&e) + 1);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = aigw_error_write(b->last, &e);
    *b->last++ = '\n';
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    return ngx_http_aigw_send_json(r, status, b);
}


/* a query argument, unescaped */

static ngx_int_t
ngx_http_aigw_admin_arg(ngx_http_request_t *r, char *name, ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK
        || raw.len == 0)
    {
        ngx_str_null(value);
        return NGX_DECLINED;
    }

    dst = ngx_pnalloc(r->pool, raw.len);
    if (dst == NULL) {
        ngx_str_null(value);
        return NGX_DECLINED;
    }

    value->data = dst;
    src = raw.data;

    ngx_unescape_uri(&dst, &src, raw.len, NGX_UNESCAPE_URI);

    value->len = dst - value->data;

    return NGX_OK;
}
