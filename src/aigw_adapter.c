/*
 * aigw: buffers and helpers shared by the provider adapters.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "aigw_adapter.h"


#define AIGW_BUF_MIN  256


void
aigw_buf_init(aigw_buf_t *b, aigw_alloc_pt alloc, void *pool, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
    b->alloc = alloc;
    b->pool = pool;
}


int
aigw_buf_reserve(aigw_buf_t *b, size_t n)
{
    size_t   cap;
    u_char  *p;

    if (b->cap - b->len >= n) {
        return AIGW_ADAPTER_OK;
    }

    if (n > SIZE_MAX / 4 - b->len
        || (b->max && b->len + n > b->max))
    {
        return AIGW_ADAPTER_TOO_BIG;
    }

    cap = b->cap ? b->cap : AIGW_BUF_MIN;

    while (cap - b->len < n) {
        cap *= 2;
    }

    if (b->max && cap > b->max) {
        cap = b->max;
    }

    p = b->alloc(b->pool, cap);
    if (p == NULL) {
        return AIGW_ADAPTER_NOMEM;
    }

    if (b->len) {
        memcpy(p, b->data, b->len);
    }

    b->data = p;
    b->cap = cap;

    return AIGW_ADAPTER_OK;
}


int
aigw_buf_append(aigw_buf_t *b, const void *p, size_t n)
{
    int  rc;

    if (n == 0) {
        return AIGW_ADAPTER_OK;
    }

    rc = aigw_buf_reserve(b, n);
    if (rc != AIGW_ADAPTER_OK) {
        return rc;
    }

    memcpy(b->data + b->len, p, n);
    b->len += n;

    return AIGW_ADAPTER_OK;
}


typedef struct {
    aigw_buf_t  *buf;
    int          rc;
} aigw_dump_ctx_t;


static int
aigw_buf_dump_cb(const char *p, size_t n, void *data)
{
    aigw_dump_ctx_t  *ctx = data;

    /* jansson goes on after a failed key: never append past a failure */

    if (ctx->rc != AIGW_ADAPTER_OK) {
        return -1;
    }

    ctx->rc = aigw_buf_append(ctx->buf, p, n);

    return ctx->rc == AIGW_ADAPTER_OK ? 0 : -1;
}


int
aigw_buf_dump(aigw_buf_t *b, const json_t *j)
{
    aigw_dump_ctx_t  ctx;

    ctx.buf = b;
    ctx.rc = AIGW_ADAPTER_OK;

    if (json_dump_callback(j, aigw_buf_dump_cb, &ctx,
                           JSON_COMPACT | JSON_ENCODE_ANY
                           | JSON_REAL_PRECISION(15))
        != 0)
    {
        return ctx.rc != AIGW_ADAPTER_OK ? ctx.rc : AIGW_ADAPTER_NOMEM;
    }

    return ctx.rc;
}


json_t *
aigw_json_load(const u_char *p, size_t len)
{
    json_error_t  err;

    return json_loadb((const char *) p, len,
                      JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
}


int
aigw_sse_frame(aigw_buf_t *b, const u_char *event, size_t event_len,
    const u_char *data, size_t data_len)
{
    int  rc;

    rc = aigw_buf_reserve(b, event_len + data_len + sizeof("event: \n")
                             + sizeof("data: \n\n"));
    if (rc != AIGW_ADAPTER_OK) {
        return rc;
    }

    if (event) {
        (void) aigw_buf_append(b, "event: ", sizeof("event: ") - 1);
        (void) aigw_buf_append(b, event, event_len);
        (void) aigw_buf_append(b, "\n", 1);
    }

    (void) aigw_buf_append(b, "data: ", sizeof("data: ") - 1);
    (void) aigw_buf_append(b, data, data_len);
    (void) aigw_buf_append(b, "\n\n", 2);

    return AIGW_ADAPTER_OK;
}


int
aigw_openai_error_json(aigw_buf_t *b, const char *message,
    size_t message_len, const char *type, const char *code)
{
    int      rc;
    json_t  *root, *err;

    root = json_object();
    err = json_object();

    if (root == NULL || err == NULL) {
        json_decref(root);
        json_decref(err);
        return AIGW_ADAPTER_NOMEM;
    }

    /* json_object_set_new() releases the value even when it fails */

    if (json_object_set_new(root, "error", err) != 0) {
        json_decref(root);
        return AIGW_ADAPTER_NOMEM;
    }

    if (json_object_set_new(err, "message",
                            json_stringn_nocheck(message, message_len))
        || json_object_set_new(err, "type", json_string(type))
        || json_object_set_new(err, "param", json_null())
        || json_object_set_new(err, "code",
                               code ? json_string(code) : json_null()))
    {
        json_decref(root);
        return AIGW_ADAPTER_NOMEM;
    }

    rc = aigw_buf_dump(b, root);
    json_decref(root);

    return rc;
}


const char *
aigw_openai_error_type(int status)
{
    switch (status) {
    case 400:
    case 404:
    case 405:
    case 409:
    case 413:
    case 422:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 403:
        return "permission_error";
    case 429:
        return "rate_limit_exceeded";
    default:
        return status >= 500 ? "api_error" : "invalid_request_error";
    }
}


int
aigw_path_segment_valid(const u_char *p, size_t len)
{
    size_t  i;

    if (len == 0 || len > 128) {
        return 0;
    }

    if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
    {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')
            || (p[i] >= '0' && p[i] <= '9')
            || p[i] == '.' || p[i] == '_' || p[i] == '-')
        {
            continue;
        }

        return 0;
    }

    return 1;
}


void
aigw_adapter_error(aigw_adapter_error_t *err, const char *param,
    const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    (void) vsnprintf(err->message, sizeof(err->message), fmt, args);
    va_end(args);

    if (param) {
        (void) snprintf(err->param, sizeof(err->param), "%s", param);

    } else {
        err->param[0] = '\0';
    }
}
