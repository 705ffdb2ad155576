/*
 * aigw: the demo provider.
 *
 * A deterministic, clearly labelled OpenAI-compatible upstream served by the
 * same nginx, so that the quickstart answers without any network:
 *
 *     location /demo/v1/ {
 *         aigw_demo_provider;
 *     }
 *
 * POST .../chat/completions, .../completions (plain or streamed) and
 * .../embeddings.  Every response carries "X-Aigw-Demo: 1".
 */

#include <jansson.h>

#include "ngx_http_aigw_module.h"


#define NGX_HTTP_AIGW_DEMO_MAX_BODY  (1024 * 1024)
#define NGX_HTTP_AIGW_DEMO_ECHO      200
#define NGX_HTTP_AIGW_DEMO_DIMS      8
#define NGX_HTTP_AIGW_DEMO_DUMP      (JSON_COMPACT|JSON_REAL_PRECISION(7))

#define NGX_HTTP_AIGW_DEMO_ROLE      0
#define NGX_HTTP_AIGW_DEMO_TEXT      1
#define NGX_HTTP_AIGW_DEMO_FINISH    2
#define NGX_HTTP_AIGW_DEMO_USAGE     3


typedef struct {
    ngx_uint_t      endpoint;
    ngx_uint_t      seq;
    time_t          created;
    ngx_str_t       model;          /* points into the request's JSON */
    ngx_str_t       content;        /* the reply, in the pool */
    size_t          prompt_bytes;
    ngx_uint_t      max_words;
    ngx_uint_t      prompt_tokens;
    ngx_uint_t      completion_tokens;
    unsigned        stream:1;
    unsigned        include_usage:1;
    unsigned        length:1;       /* finish_reason "length" */
} ngx_http_aigw_demo_t;


static ngx_int_t ngx_http_aigw_demo_handler(ngx_http_request_t *r);
static void ngx_http_aigw_demo_body_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_aigw_demo_process(ngx_http_request_t *r);
static ngx_int_t ngx_http_aigw_demo_dispatch(ngx_http_request_t *r,
    ngx_http_aigw_demo_t *d, json_t *req);
static ngx_int_t ngx_http_aigw_demo_read_body(ngx_http_request_t *r,
    ngx_str_t *body);
static ngx_uint_t ngx_http_aigw_demo_endpoint(ngx_http_request_t *r);
static size_t ngx_http_aigw_demo_content(json_t *content, u_char *dst);
static ngx_int_t ngx_http_aigw_demo_chat_text(ngx_http_request_t *r,
    ngx_http_aigw_demo_t *d, json_t *messages, ngx_str_t *text);
static ngx_int_t ngx_http_aigw_demo_reply(ngx_http_request_t *r,
    ngx_http_aigw_demo_t *d, ngx_str_t *text);
static json_t *ngx_http_aigw_demo_base(ngx_http_aigw_demo_t *d,
    const char *object);
static json_t *ngx_http_aigw_demo_usage(ngx_http_aigw_demo_t *d);
static json_t *ngx_http_aigw_demo_completion(ngx_http_aigw_demo_t *d);
static json_t *ngx_http_aigw_demo_chunk(ngx_http_aigw_demo_t *d,
    ngx_uint_t kind, u_char *text, size_t len);
static ngx_int_t ngx_http_aigw_demo_plain(ngx_http_request_t *r,
    ngx_http_aigw_demo_t *d);
static ngx_int_t ngx_http_aigw_demo_stream(ngx_http_request_t *r,
    ngx_http_aigw_demo_t *d);
static ngx_int_t ngx_http_aigw_demo_embeddings(ngx_http_request_t *r,
    ngx_http_aigw_demo_t *d, json_t *req);
static json_t *ngx_http_aigw_demo_vector(ngx_http_request_t *r,
    const char *s, size_t len, ngx_uint_t base64);
static ngx_chain_t *ngx_http_aigw_demo_dump(ngx_http_request_t *r,
    json_t *j, ngx_uint_t sse);
static ngx_int_t ngx_http_aigw_demo_header(ngx_http_request_t *r,
    const char *name, const char *value);
static ngx_int_t ngx_http_aigw_demo_send(ngx_http_request_t *r,
    ngx_uint_t status, ngx_uint_t stream, ngx_chain_t *out);
static ngx_int_t ngx_http_aigw_demo_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *param,
    const char *fmt, ...);


static ngx_uint_t  ngx_http_aigw_demo_seq;


char *
ngx_http_aigw_demo(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler == ngx_http_aigw_demo_handler) {
        return "is duplicate";
    }

    if (clcf->handler) {
        return "conflicts with another content handler in this location";
    }

    clcf->handler = ngx_http_aigw_demo_handler;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_aigw_demo_handler(ngx_http_request_t *r)
{
    ngx_int_t  rc;

    if (r->method != NGX_HTTP_POST) {
        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        if (ngx_http_aigw_demo_header(r, "Allow", "POST") != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_aigw_demo_error(r, NGX_HTTP_NOT_ALLOWED,
                                        "method_not_allowed", NULL,
                                        "The demo provider only accepts "
                                        "POST requests.");
    }

    if (r->headers_in.content_length_n > NGX_HTTP_AIGW_DEMO_MAX_BODY) {
        rc = ngx_http_discard_request_body(r);

        if (rc != NGX_OK) {
            return rc;
        }

        return ngx_http_aigw_demo_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                        "request_too_large", NULL,
                                        "The request body exceeds %d bytes.",
                                        NGX_HTTP_AIGW_DEMO_MAX_BODY);
    }

    rc = ngx_http_read_client_request_body(r,
                                           ngx_http_aigw_demo_body_handler);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static void
ngx_http_aigw_demo_body_handler(ngx_http_request_t *r)
{
    ngx_http_finalize_request(r, ngx_http_aigw_demo_process(r));
}


static ngx_int_t
ngx_http_aigw_demo_process(ngx_http_request_t *r)
{
    u_char                *p;
    size_t                 i;
    json_t                *req, *model;
    ngx_int_t              rc;
    ngx_str_t              body, uri;
    json_error_t           jerr;
    ngx_http_aigw_demo_t   d;

    ngx_memzero(&d, sizeof(ngx_http_aigw_demo_t));

    d.endpoint = ngx_http_aigw_demo_endpoint(r);

    if (d.endpoint == 0) {

        /* the URI may hold any bytes: echo only printable ASCII */

        uri.len = ngx_min(r->uri.len, 200);
        uri.data = ngx_pnalloc(r->pool, uri.len);
        if (uri.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = r->uri.data;

        for (i = 0; i < uri.len; i++) {
            uri.data[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
        }

        return ngx_http_aigw_demo_error(r, NGX_HTTP_NOT_FOUND,
                                        "unknown_url", NULL,
                                        "Invalid URL (POST %V): the demo "
                                        "provider serves /chat/completions, "
                                        "/completions and /embeddings.",
                                        &uri);
    }

    rc = ngx_http_aigw_demo_read_body(r, &body);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_aigw_demo_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                        "request_too_large", NULL,
                                        "The request body exceeds %d bytes.",
                                        NGX_HTTP_AIGW_DEMO_MAX_BODY);
    }

    if (body.len == 0) {
        return ngx_http_aigw_demo_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_json", NULL,
                                        "The request body is empty: a JSON "
                                        "object is expected.");
    }

    req = json_loadb((const char *) body.data, body.len, 0, &jerr);

    if (req == NULL) {
        return ngx_http_aigw_demo_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_json", NULL,
                                        "We could not parse the JSON body "
                                        "of your request: %s (line %d, "
                                        "column %d).", jerr.text,
                                        jerr.line, jerr.column);
    }

    if (!json_is_object(req)) {
        json_decref(req);
        return ngx_http_aigw_demo_error(r, NGX_HTTP_BAD_REQUEST,
                                        "invalid_json", NULL,
                                        "The request body must be a JSON "
                                        "object.");
    }

    model = json_object_get(req, "model");

    if (!json_is_string(model) || json_string_length(model) == 0) {
        json_decref(req);
        return ngx_http_aigw_demo_error(r, NGX_HTTP_BAD_REQUEST,
                                        "missing_required_parameter",
                                        "model",
                                        "You must provide a model "
                                        "parameter.");
    }

    d.model.data = (u_char *) json_string_value(model);
    d.model.len = json_string_length(model);
    d.seq = ++ngx_http_aigw_demo_seq;
    d.created = ngx_time();

    rc = ngx_http_aigw_demo_dispatch(r, &d, req);

    json_decref(req);

    return rc;
}


static ngx_int_t
ngx_http_aigw_demo_dispatch(ngx_http_request_t *r, ngx_http_aigw_demo_t *d,
    json_t *req)
{
    size_t       i;
    json_t      *v, *s, *opts;
    json_int_t   n;
    ngx_str_t    text;
    const char  *name;

    if (d->endpoint == NGX_HTTP_AIGW_EMBEDDINGS) {
        return ngx_http_aigw_demo_embeddings(r, d, req);
    }

    ngx_str_null(&text);

    if (d->endpoint == NGX_HTTP_AIGW_CHAT) {
        if (ngx_http_aigw_demo_chat_text(r, d, json_object_get(req,
                                                               "messages"),
                                         &text)
            != NGX_OK)
        {
            return ngx_http_aigw_demo_error(r, NGX_HTTP_BAD_REQUEST,
                                            "missing_required_parameter",
                                            "messages",
                                            "Missing required parameter: "
                                            "'messages' (an array of "
                                            "message objects).");
        }

    } else {

        /* legacy completions: a prompt string, or an array of them */

        v = json_object_get(req, "prompt");

        if (json_is_string(v)) {
            text.data = (u_char *) json_string_value(v);
            text.len = json_string_length(v);
            d->prompt_bytes = text.len;

        } else if (json_is_array(v)) {
            json_array_foreach(v, i, s) {
                if (!json_is_string(s)) {
                    continue;
                }

                if (text.data == NULL) {
                    text.data = (u_char *) json_string_value(s);
                    text.len = json_string_length(s);
                }

                d->prompt_bytes += json_string_length(s);
            }
        }
    }

    d->prompt_tokens = d->prompt_bytes / 4 + 1;
    d->max_words = NGX_MAX_INT_T_VALUE;

    name = "max_completion_tokens";
    v = json_object_get(req, name);

    if (!json_is_integer(v)) {
        name = "max_tokens";
        v = json_object_get(req, name);
    }

    if (json_is_integer(v)) {
        n = json_integer_value(v);

        if (n < 1) {
            return ngx_http_aigw_demo_error(r, NGX_HTTP_BAD_REQUEST,
                                            "integer_below_min_value", name,
                                            "Invalid '%s': integer below "
                                            "minimum value. Expected a value "
                                            ">= 1, but got %L instead.",
                                            name, (int64_t) n);
        }

        if (n < NGX_MAX_INT_T_VALUE) {
            d->max_words = (ngx_uint_t) n;
        }
    }

    d->stream = json_is_true(json_object_get(req, "stream"));

    if (d->stream) {
        opts = json_object_get(req, "stream_options");
        d->include_usage = json_is_true(json_object_get(opts,
                                                        "include_usage"));
    }

    if (ngx_http_aigw_demo_reply(r, d, &text) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return d->stream ? ngx_http_aigw_demo_stream(r, d)
                     : ngx_http_aigw_demo_plain(r, d);
}


static ngx_int_t
ngx_http_aigw_demo_read_body(ngx_http_request_t *r, ngx_str_t *body)
{
    off_t         len, size;
    u_char       *p;
    ssize_t       n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    ngx_str_null(body);

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        return NGX_OK;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);

        if (len > NGX_HTTP_AIGW_DEMO_MAX_BODY) {
            return NGX_DECLINED;
        }
    }

    if (len == 0) {
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, (size_t) len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    body->data = p;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (ngx_buf_in_memory(b)) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        if (!b->in_file || b->file == NULL) {
            continue;
        }

        size = b->file_last - b->file_pos;

        n = ngx_read_file(b->file, p, (size_t) size, b->file_pos);

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (n != size) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          ngx_read_file_n " \"%V\" returned only "
                          "%z bytes instead of %O",
                          &b->file->name, n, size);
            return NGX_ERROR;
        }

        p += n;
    }

    body->len = p - body->data;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_aigw_demo_endpoint(ngx_http_request_t *r)
{
    size_t     len;
    u_char    *end;
    ngx_uint_t i;

    static struct {
        ngx_str_t   suffix;
        ngx_uint_t  endpoint;
    } suffixes[] = {
        { ngx_string("/chat/completions"), NGX_HTTP_AIGW_CHAT },
        { ngx_string("/completions"), NGX_HTTP_AIGW_COMPLETIONS },
        { ngx_string("/embeddings"), NGX_HTTP_AIGW_EMBEDDINGS }
    };

    end = r->uri.data + r->uri.len;

    for (i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        len = suffixes[i].suffix.len;

        if (r->uri.len >= len
            && ngx_strncmp(end - len, suffixes[i].suffix.data, len) == 0)
        {
            return suffixes[i].endpoint;
        }
    }

    return 0;
}


/*
 * The text of a message's content: a string, or the concatenated "text" of
 * its parts of type "text".  Returns the length; copies when dst is set.
 */

static size_t
ngx_http_aigw_demo_content(json_t *content, u_char *dst)
{
    size_t   i, len, n;
    json_t  *part, *type, *text;

    if (json_is_string(content)) {
        len = json_string_length(content);

        if (dst) {
            ngx_memcpy(dst, json_string_value(content), len);
        }

        return len;
    }

    if (!json_is_array(content)) {
        return 0;
    }

    len = 0;

    json_array_foreach(content, i, part) {
        type = json_object_get(part, "type");
        text = json_object_get(part, "text");

        if (!json_is_string(type) || !json_is_string(text)
            || ngx_strcmp(json_string_value(type), "text") != 0)
        {
            continue;
        }

        n = json_string_length(text);

        if (dst) {
            ngx_memcpy(dst + len, json_string_value(text), n);
        }

        len += n;
    }

    return len;
}


static ngx_int_t
ngx_http_aigw_demo_chat_text(ngx_http_request_t *r, ngx_http_aigw_demo_t *d,
    json_t *messages, ngx_str_t *text)
{
    size_t   i;
    json_t  *m, *role, *content, *last;

    if (!json_is_array(messages) || json_array_size(messages) == 0) {
        return NGX_DECLINED;
    }

    last = NULL;

    json_array_foreach(messages, i, m) {
        if (!json_is_object(m)) {
            return NGX_DECLINED;
        }

        content = json_object_get(m, "content");
        d->prompt_bytes += ngx_http_aigw_demo_content(content, NULL);

        role = json_object_get(m, "role");

        if (json_is_string(role)
            && ngx_strcmp(json_string_value(role), "user") == 0)
        {
            last = content;
        }
    }

    if (last == NULL) {
        return NGX_OK;
    }

    text->len = ngx_http_aigw_demo_content(last, NULL);

    if (text->len == 0) {
        return NGX_OK;
    }

    text->data = ngx_pnalloc(r->pool, text->len);
    if (text->data == NULL) {
        return NGX_ERROR;
    }

    (void) ngx_http_aigw_demo_content(last, text->data);

    return NGX_OK;
}


/*
 * Builds the reply, cuts it to max_words space-separated words, and counts
 * them.
 */

static ngx_int_t
ngx_http_aigw_demo_reply(ngx_http_request_t *r, ngx_http_aigw_demo_t *d,
    ngx_str_t *text)
{
    u_char      *p, *s;
    size_t       echo, len, i, end;
    ngx_uint_t   words;

    static u_char  hello[] = "Hello from the aigw demo provider (model ";
    static u_char  said[] = "). You said: ";

    echo = text->len;

    if (echo > NGX_HTTP_AIGW_DEMO_ECHO) {
        echo = NGX_HTTP_AIGW_DEMO_ECHO;

        /* step back onto the first byte of a UTF-8 sequence */

        while (echo > 0 && (text->data[echo] & 0xc0) == 0x80) {
            echo--;
        }
    }

    len = sizeof(hello) - 1 + d->model.len + sizeof(said) - 1 + echo;

    s = ngx_pnalloc(r->pool, len);
    if (s == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(s, hello, sizeof(hello) - 1);
    p = ngx_cpymem(p, d->model.data, d->model.len);
    p = ngx_cpymem(p, said, sizeof(said) - 1);

    if (echo) {
        ngx_memcpy(p, text->data, echo);
    }

    words = 0;
    end = 0;
    i = 0;

    while (i < len) {
        if (s[i] == ' ') {
            i++;
            continue;
        }

        if (words == d->max_words) {
            d->length = 1;
            len = end;
            break;
        }

        words++;

        while (i < len && s[i] != ' ') {
            i++;
        }

        end = i;
    }

    d->content.data = s;
    d->content.len = len;
    d->completion_tokens = words;

    return NGX_OK;
}


static json_t *
ngx_http_aigw_demo_base(ngx_http_aigw_demo_t *d, const char *object)
{
    int      rc;
    u_char  *p, id[64];
    json_t  *j;

    j = json_object();
    if (j == NULL) {
        return NULL;
    }

    p = ngx_sprintf(id, "%s-demo-%ui",
                    d->endpoint == NGX_HTTP_AIGW_CHAT ? "chatcmpl" : "cmpl",
                    d->seq);

    rc = json_object_set_new(j, "id",
                             json_stringn((char *) id, p - id));
    rc |= json_object_set_new(j, "object", json_string(object));
    rc |= json_object_set_new(j, "created",
                              json_integer((json_int_t) d->created));
    rc |= json_object_set_new(j, "model",
                              json_stringn((char *) d->model.data,
                                           d->model.len));

    if (rc != 0) {
        json_decref(j);
        return NULL;
    }

    return j;
}


static json_t *
ngx_http_aigw_demo_usage(ngx_http_aigw_demo_t *d)
{
    int      rc;
    json_t  *u, *details;

    u = json_object();
    if (u == NULL) {
        return NULL;
    }

    rc = json_object_set_new(u, "prompt_tokens",
                             json_integer(d->prompt_tokens));
    rc |= json_object_set_new(u, "completion_tokens",
                              json_integer(d->completion_tokens));
    rc |= json_object_set_new(u, "total_tokens",
                              json_integer(d->prompt_tokens
                                           + d->completion_tokens));

    if (d->endpoint == NGX_HTTP_AIGW_CHAT) {
        details = json_object();
        rc |= json_object_set_new(details, "cached_tokens", json_integer(0));
        rc |= json_object_set_new(u, "prompt_tokens_details", details);

        details = json_object();
        rc |= json_object_set_new(details, "reasoning_tokens",
                                  json_integer(0));
        rc |= json_object_set_new(u, "completion_tokens_details", details);
    }

    if (rc != 0) {
        json_decref(u);
        return NULL;
    }

    return u;
}


static const char *
ngx_http_aigw_demo_finish(ngx_http_aigw_demo_t *d)
{
    return d->length ? "length" : "stop";
}


static json_t *
ngx_http_aigw_demo_completion(ngx_http_aigw_demo_t *d)
{
    int      rc;
    json_t  *j, *choices, *c, *msg, *content;

    j = ngx_http_aigw_demo_base(d, d->endpoint == NGX_HTTP_AIGW_CHAT
                                   ? "chat.completion" : "text_completion");
    if (j == NULL) {
        return NULL;
    }

    choices = json_array();
    c = json_object();
    content = json_stringn((char *) d->content.data, d->content.len);

    if (d->endpoint == NGX_HTTP_AIGW_CHAT) {
        rc = json_object_set_new(c, "index", json_integer(0));

        msg = json_object();
        rc |= json_object_set_new(msg, "role", json_string("assistant"));
        rc |= json_object_set_new(msg, "content", content);
        rc |= json_object_set_new(c, "message", msg);

    } else {
        rc = json_object_set_new(c, "text", content);
        rc |= json_object_set_new(c, "index", json_integer(0));
        rc |= json_object_set_new(c, "logprobs", json_null());
    }

    rc |= json_object_set_new(c, "finish_reason",
                              json_string(ngx_http_aigw_demo_finish(d)));
    rc |= json_array_append_new(choices, c);
    rc |= json_object_set_new(j, "choices", choices);
    rc |= json_object_set_new(j, "usage", ngx_http_aigw_demo_usage(d));

    if (rc != 0) {
        json_decref(j);
        return NULL;
    }

    return j;
}


static json_t *
ngx_http_aigw_demo_chunk(ngx_http_aigw_demo_t *d, ngx_uint_t kind,
    u_char *text, size_t len)
{
    int      rc;
    json_t  *j, *choices, *c, *delta, *finish;

    j = ngx_http_aigw_demo_base(d, d->endpoint == NGX_HTTP_AIGW_CHAT
                                   ? "chat.completion.chunk"
                                   : "text_completion");
    if (j == NULL) {
        return NULL;
    }

    choices = json_array();

    if (kind == NGX_HTTP_AIGW_DEMO_USAGE) {
        rc = json_object_set_new(j, "choices", choices);
        rc |= json_object_set_new(j, "usage", ngx_http_aigw_demo_usage(d));

        goto done;
    }

    c = json_object();
    finish = (kind == NGX_HTTP_AIGW_DEMO_FINISH)
             ? json_string(ngx_http_aigw_demo_finish(d)) : json_null();

    if (d->endpoint == NGX_HTTP_AIGW_CHAT) {
        delta = json_object();
        rc = 0;

        if (kind == NGX_HTTP_AIGW_DEMO_ROLE) {
            rc |= json_object_set_new(delta, "role",
                                      json_string("assistant"));
            rc |= json_object_set_new(delta, "content", json_string(""));

        } else if (kind == NGX_HTTP_AIGW_DEMO_TEXT) {
            rc |= json_object_set_new(delta, "content",
                                      json_stringn((char *) text, len));
        }

        rc |= json_object_set_new(c, "index", json_integer(0));
        rc |= json_object_set_new(c, "delta", delta);

    } else {
        rc = json_object_set_new(c, "text",
                                 json_stringn((char *) text, len));
        rc |= json_object_set_new(c, "index", json_integer(0));
        rc |= json_object_set_new(c, "logprobs", json_null());
    }

    rc |= json_object_set_new(c, "finish_reason", finish);
    rc |= json_array_append_new(choices, c);
    rc |= json_object_set_new(j, "choices", choices);

    if (d->include_usage) {
        rc |= json_object_set_new(j, "usage", json_null());
    }

done:

    if (rc != 0) {
        json_decref(j);
        return NULL;
    }

    return j;
}


static ngx_int_t
ngx_http_aigw_demo_plain(ngx_http_request_t *r, ngx_http_aigw_demo_t *d)
{
    ngx_chain_t  *out;

    out = ngx_http_aigw_demo_dump(r, ngx_http_aigw_demo_completion(d), 0);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_aigw_demo_send(r, NGX_HTTP_OK, 0, out);
}


static ngx_int_t
ngx_http_aigw_demo_stream(ngx_http_request_t *r, ngx_http_aigw_demo_t *d)
{
    u_char        *p, *end, *word;
    ngx_buf_t     *b;
    ngx_chain_t   *out, *cl, **ll;

    static u_char  done[] = "data: [DONE]\n\n";

    out = NULL;
    ll = &out;

    if (d->endpoint == NGX_HTTP_AIGW_CHAT) {
        cl = ngx_http_aigw_demo_dump(r,
                 ngx_http_aigw_demo_chunk(d, NGX_HTTP_AIGW_DEMO_ROLE,
                                          NULL, 0),
                 1);
        if (cl == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *ll = cl;
        ll = &cl->next;
    }

    /* one chunk per word, with the spaces that follow it */

    p = d->content.data;
    end = p + d->content.len;

    while (p < end) {
        word = p;

        while (p < end && *p != ' ') {
            p++;
        }

        while (p < end && *p == ' ') {
            p++;
        }

        cl = ngx_http_aigw_demo_dump(r,
                 ngx_http_aigw_demo_chunk(d, NGX_HTTP_AIGW_DEMO_TEXT,
                                          word, p - word),
                 1);
        if (cl == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *ll = cl;
        ll = &cl->next;
    }

    cl = ngx_http_aigw_demo_dump(r,
             ngx_http_aigw_demo_chunk(d, NGX_HTTP_AIGW_DEMO_FINISH,
                                      (u_char *) "", 0),
             1);
    if (cl == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *ll = cl;
    ll = &cl->next;

    if (d->include_usage) {
        cl = ngx_http_aigw_demo_dump(r,
                 ngx_http_aigw_demo_chunk(d, NGX_HTTP_AIGW_DEMO_USAGE,
                                          NULL, 0),
                 1);
        if (cl == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        *ll = cl;
        ll = &cl->next;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->memory = 1;
    b->pos = done;
    b->last = done + sizeof(done) - 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;
    *ll = cl;

    return ngx_http_aigw_demo_send(r, NGX_HTTP_OK, 1, out);
}


static ngx_int_t
ngx_http_aigw_demo_embeddings(ngx_http_request_t *r, ngx_http_aigw_demo_t *d,
    json_t *req)
{
    int          rc;
    size_t       i, n, bytes;
    json_t      *input, *v, *j, *data, *e, *u;
    ngx_uint_t   base64, tokens;
    ngx_chain_t *out;

    input = json_object_get(req, "input");

    if (json_is_string(input)) {
        /* one input */

    } else if (json_is_array(input) && json_array_size(input) > 0) {
        json_array_foreach(input, i, v) {
            if (!json_is_string(v)) {
                return ngx_http_aigw_demo_error(r, NGX_HTTP_BAD_REQUEST,
                                                "invalid_input", "input",
                                                "The demo provider embeds "
                                                "strings only: 'input' must "
                                                "be a string or an array of "
                                                "strings.");
            }
        }

    } else {
        return ngx_http_aigw_demo_error(r, NGX_HTTP_BAD_REQUEST,
                                        "missing_required_parameter",
                                        "input",
                                        "Missing required parameter: "
                                        "'input' (a string or a non-empty "
                                        "array of strings).");
    }

    v = json_object_get(req, "encoding_format");
    base64 = json_is_string(v)
             && ngx_strcmp(json_string_value(v), "base64") == 0;

    j = json_object();
    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    data = json_array();
    bytes = 0;
    rc = json_object_set_new(j, "object", json_string("list"));

    n = json_is_string(input) ? 1 : json_array_size(input);

    for (i = 0; i < n; i++) {
        v = json_is_string(input) ? input : json_array_get(input, i);
        bytes += json_string_length(v);

        e = json_object();
        rc |= json_object_set_new(e, "object", json_string("embedding"));
        rc |= json_object_set_new(e, "index", json_integer(i));
        rc |= json_object_set_new(e, "embedding",
                                  ngx_http_aigw_demo_vector(r,
                                      json_string_value(v),
                                      json_string_length(v), base64));
        rc |= json_array_append_new(data, e);
    }

    tokens = bytes / 4 + 1;

    u = json_object();
    rc |= json_object_set_new(u, "prompt_tokens", json_integer(tokens));
    rc |= json_object_set_new(u, "total_tokens", json_integer(tokens));

    rc |= json_object_set_new(j, "data", data);
    rc |= json_object_set_new(j, "model",
                              json_stringn((char *) d->model.data,
                                           d->model.len));
    rc |= json_object_set_new(j, "usage", u);

    if (rc != 0) {
        json_decref(j);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    out = ngx_http_aigw_demo_dump(r, j, 0);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_aigw_demo_send(r, NGX_HTTP_OK, 0, out);
}


/*
 * A deterministic unit vector: FNV-1a of the text seeds splitmix64.
 * As floats, or as base64 of little-endian float32s.
 */

static json_t *
ngx_http_aigw_demo_vector(ngx_http_request_t *r, const char *s, size_t len,
    ngx_uint_t base64)
{
    float      f;
    double     v[NGX_HTTP_AIGW_DEMO_DIMS], sum, norm;
    size_t     i;
    json_t    *a;
    uint32_t   bits;
    uint64_t   h, x;
    ngx_str_t  src, dst;
    u_char     raw[NGX_HTTP_AIGW_DEMO_DIMS * 4];
    u_char     enc[ngx_base64_encoded_length(NGX_HTTP_AIGW_DEMO_DIMS * 4)];

    h = 0xcbf29ce484222325ULL;

    for (i = 0; i < len; i++) {
        h ^= (u_char) s[i];
        h *= 0x100000001b3ULL;
    }

    sum = 0;

    for (i = 0; i < NGX_HTTP_AIGW_DEMO_DIMS; i++) {
        x = h + (i + 1) * 0x9e3779b97f4a7c15ULL;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
        x ^= x >> 31;

        v[i] = (double) (x >> 11) / 9007199254740992.0 * 2.0 - 1.0;
        sum += v[i] * v[i];
    }

    /* the square root by Newton's method: nginx does not link libm */

    norm = sum > 1.0 ? sum : 1.0;

    for (i = 0; i < 64 && sum > 0; i++) {
        norm = (norm + sum / norm) / 2;
    }

    if (base64) {
        for (i = 0; i < NGX_HTTP_AIGW_DEMO_DIMS; i++) {
            f = (float) (sum > 0 ? v[i] / norm : 0);
            ngx_memcpy(&bits, &f, sizeof(uint32_t));

            raw[i * 4] = (u_char) (bits & 0xff);
            raw[i * 4 + 1] = (u_char) ((bits >> 8) & 0xff);
            raw[i * 4 + 2] = (u_char) ((bits >> 16) & 0xff);
            raw[i * 4 + 3] = (u_char) (bits >> 24);
        }

        src.data = raw;
        src.len = sizeof(raw);
        dst.data = enc;

        ngx_encode_base64(&dst, &src);

        return json_stringn((char *) dst.data, dst.len);
    }

    a = json_array();

    for (i = 0; i < NGX_HTTP_AIGW_DEMO_DIMS; i++) {
        if (json_array_append_new(a, json_real(sum > 0 ? v[i] / norm : 0))
            != 0)
        {
            json_decref(a);
            return NULL;
        }
    }

    return a;
}


/* Serializes j into a pool buffer (as an SSE event if sse) and frees j. */

static ngx_chain_t *
ngx_http_aigw_demo_dump(ngx_http_request_t *r, json_t *j, ngx_uint_t sse)
{
    size_t        len, n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    if (j == NULL) {
        return NULL;
    }

    len = json_dumpb(j, NULL, 0, NGX_HTTP_AIGW_DEMO_DUMP);

    if (len == 0) {
        json_decref(j);
        return NULL;
    }

    b = ngx_create_temp_buf(r->pool, len + sizeof("data: \n\n") - 1);
    if (b == NULL) {
        json_decref(j);
        return NULL;
    }

    if (sse) {
        b->last = ngx_cpymem(b->last, "data: ", sizeof("data: ") - 1);
    }

    n = json_dumpb(j, (char *) b->last, len, NGX_HTTP_AIGW_DEMO_DUMP);

    json_decref(j);

    if (n != len) {
        return NULL;
    }

    b->last += n;

    if (sse) {
        *b->last++ = '\n';
    }

    *b->last++ = '\n';

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NULL;
    }

    cl->buf = b;
    cl->next = NULL;

    return cl;
}


static ngx_int_t
ngx_http_aigw_demo_header(ngx_http_request_t *r, const char *name,
    const char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    /* zeroed: nginx 1.23+ also has h->next */

    ngx_memzero(h, sizeof(ngx_table_elt_t));

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}


static ngx_int_t
ngx_http_aigw_demo_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_uint_t stream, ngx_chain_t *out)
{
    off_t         len;
    ngx_int_t     rc;
    ngx_chain_t  *cl;

    len = 0;

    for (cl = out; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);

        if (stream) {
            cl->buf->flush = 1;
        }

        if (cl->next == NULL) {
            cl->buf->last_buf = (r == r->main) ? 1 : 0;
            cl->buf->last_in_chain = 1;
        }
    }

    r->headers_out.status = status;

    if (stream) {
        ngx_str_set(&r->headers_out.content_type, "text/event-stream");
        ngx_http_clear_content_length(r);

        if (ngx_http_aigw_demo_header(r, "Cache-Control", "no-cache")
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else {
        ngx_str_set(&r->headers_out.content_type, "application/json");
        r->headers_out.content_length_n = len;
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    if (ngx_http_aigw_demo_header(r, "X-Aigw-Demo", "1") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_http_clear_accept_ranges(r);
    ngx_http_clear_last_modified(r);
    ngx_http_clear_etag(r);

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}


static ngx_int_t
ngx_http_aigw_demo_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *param, const char *fmt, ...)
{
    u_char        *p, *s, msg[1024];
    va_list        args;
    ngx_buf_t     *b;
    ngx_chain_t   *out;
    aigw_error_t   e;

    va_start(args, fmt);
    p = ngx_vslprintf(msg, msg + sizeof(msg), fmt, args);
    va_end(args);

    /* keep the body valid UTF-8 whatever the parser's message quotes */

    for (s = msg; s < p; s++) {
        if (*s >= 0x7f) {
            *s = '?';
        }
    }

    e.message = msg;
    e.message_len = p - msg;
    e.type = (status >= NGX_HTTP_INTERNAL_SERVER_ERROR)
             ? "server_error" : "invalid_request_error";
    e.param = (const u_char *) param;
    e.param_len = param ? ngx_strlen(param) : 0;
    e.code = code;

    b = ngx_create_temp_buf(r->pool, aigw_error_len(&e));
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = aigw_error_write(b->pos, &e);

    out = ngx_alloc_chain_link(r->pool);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    out->buf = b;
    out->next = NULL;

    return ngx_http_aigw_demo_send(r, status, 0, out);
}
