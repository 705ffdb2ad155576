/*
 * aigw fuzzing: the Anthropic Messages adapter (src/aigw_anthropic.c).
 *
 * Input: see fuzz/fuzz_translate.h.  The function (mode & 7):
 *   0  aigw_anthropic_request()    OpenAI chat body -> Messages body
 *   1  aigw_anthropic_response()   Messages answer -> chat.completion
 *   2  aigw_anthropic_error()      any body -> OpenAI error (status from
 *                                  mode bits 3..6)
 *   3  aigw_anthropic_usage()      a Messages "usage" object
 *   4+ the stream: the payload through the SSE parser into
 *      aigw_anthropic_stream_event(), then _finish(), once with a checking
 *      emit and once with emit NULL; both see the same usage
 * Checks besides memory safety and leaks: see fuzz/fuzz_translate.h, and
 * a translated request names the upstream model and a positive max_tokens;
 * a stream that finishes OK without a relayed error sent [DONE].
 */

#include "fuzz_translate.h"

#include "aigw_anthropic.h"


static const u_char  fz_upstream[] = "claude-3-5-sonnet-20241022";
static const u_char  fz_public[] = "claude-public";
static const u_char  fz_id[] = "chatcmpl-fuzz";


static int
fz_event(void *st, const u_char *event, size_t event_len, const u_char *data,
    size_t data_len, aigw_emit_pt emit, void *ctx)
{
    return aigw_anthropic_stream_event(st, event, event_len, data, data_len,
                                       emit, ctx);
}


static int
fz_finish(void *st, aigw_emit_pt emit, void *ctx)
{
    return aigw_anthropic_stream_finish(st, emit, ctx);
}


static void
fz_request(fz_tr_t *t, fz_pool_t *pool, aigw_buf_t *out)
{
    int                   rc, stream;
    json_t               *j, *v;
    aigw_adapter_req_t    req;
    aigw_adapter_error_t  err;

    req.model = fz_upstream;
    req.model_len = sizeof(fz_upstream) - 1;
    req.default_max_tokens = (t->abort_at & 1) ? 4096 : 0;

    memset(&err, 0x5a, sizeof(err));
    stream = 7;

    FZ_ARM();
    rc = aigw_anthropic_request(t->payload, t->len, &req, out, &stream,
                                &err);
    FZ_DISARM();

    fz_check_rc("aigw_anthropic_request", rc, pool, out, 0);

    if (fz_verbose() && rc == AIGW_ADAPTER_INVALID) {
        fprintf(stderr, "  %.*s: %.*s\n", 64, err.param, 256, err.message);
    }

    if (rc == AIGW_ADAPTER_INVALID) {
        FZ_CHECK("err", memchr(err.message, '\0', sizeof(err.message))
                 && memchr(err.param, '\0', sizeof(err.param))
                 && err.message[0] != '\0',
                 "an invalid request without a message");
        return;
    }

    if (rc != AIGW_ADAPTER_OK) {
        return;
    }

    FZ_CHECK("req", stream == 0 || stream == 1, "*stream is %d", stream);

    j = fz_load_object("req-json", out->data, out->len, "the request");

    v = json_object_get(j, "model");
    FZ_CHECK("req", json_is_string(v)
             && strcmp(json_string_value(v), (char *) fz_upstream) == 0,
             "the request does not name the upstream model");

    v = json_object_get(j, "max_tokens");
    FZ_CHECK("req", json_is_integer(v) && json_integer_value(v) >= 1,
             "the request has no positive max_tokens");

    FZ_CHECK("req", json_is_array(json_object_get(j, "messages")),
             "the request has no messages array");

    v = json_object_get(j, "stream");
    FZ_CHECK("req", stream == json_is_true(v),
             "*stream %d, \"stream\" in the body %d", stream,
             json_is_true(v));

    json_decref(j);
}


static void
fz_response(fz_tr_t *t, fz_pool_t *pool, aigw_buf_t *out,
    const aigw_adapter_resp_t *resp)
{
    int           rc;
    json_t       *j;
    aigw_usage_t  u;

    memset(&u, 0, sizeof(u));

    FZ_ARM();
    rc = aigw_anthropic_response(t->payload, t->len, resp, out, &u);
    FZ_DISARM();

    fz_check_rc("aigw_anthropic_response", rc, pool, out, 0);

    if (rc != AIGW_ADAPTER_OK) {
        return;
    }

    fz_check_usage_sign("response", &u);

    j = fz_load_object("resp-json", out->data, out->len, "the response");

    FZ_CHECK("resp", json_is_array(json_object_get(j, "choices"))
             && json_array_size(json_object_get(j, "choices")) > 0,
             "a chat.completion without choices");

    json_decref(j);
}


static void
fz_error(fz_tr_t *t, fz_pool_t *pool, aigw_buf_t *out, uint8_t sel)
{
    int      rc, status, out_status;
    json_t  *j, *e;

    status = fz_statuses[sel & 15];
    out_status = -1;

    FZ_ARM();
    rc = aigw_anthropic_error(status, t->payload, t->len, out, &out_status);
    FZ_DISARM();

    fz_check_rc("aigw_anthropic_error", rc, pool, out, 0);

    FZ_CHECK("err", rc != AIGW_ADAPTER_INVALID,
             "an error answer could not be translated (any body should)");

    if (rc != AIGW_ADAPTER_OK) {
        return;
    }

    FZ_CHECK("err", status < 400 || status > 599
             || (out_status >= 400 && out_status <= 599),
             "status %d became %d", status, out_status);

    j = fz_load_object("err-json", out->data, out->len, "the error");
    e = json_object_get(j, "error");

    FZ_CHECK("err", json_is_object(e)
             && json_is_string(json_object_get(e, "message"))
             && json_is_string(json_object_get(e, "type")),
             "not an OpenAI error body");

    json_decref(j);
}


static void
fz_usage(fz_tr_t *t)
{
    int           rc;
    aigw_usage_t  u;

    memset(&u, 0, sizeof(u));

    FZ_ARM();
    rc = aigw_anthropic_usage(t->payload, t->len, &u);
    FZ_DISARM();

    if (rc == 0) {
        fz_check_usage_sign("usage", &u);
    }
}


static void
fz_streams(fz_tr_t *t, const aigw_adapter_resp_t *resp)
{
    int                       rc, rc2;
    size_t                    largest, largest2;
    fz_emit_t                 e;
    fz_pool_t                 pool, pool2;
    aigw_anthropic_stream_t  *st, *st2;

    /* on the heap, so ASan sees the bounds of its arrays */
    st = malloc(sizeof(aigw_anthropic_stream_t));
    st2 = malloc(sizeof(aigw_anthropic_stream_t));
    if (st == NULL || st2 == NULL) {
        abort();
    }

    /* translated */

    fz_pool_init(&pool, 0, t->pool_fail);
    fz_emit_init(&e, 0, t->abort_at);

    aigw_anthropic_stream_init(st, resp, fz_alloc, &pool);

    rc = fz_stream(t, st, fz_event, fz_finish, fz_emit, &e, &largest);

    fz_check_rc("the stream", rc, &pool, NULL, e.aborted);

    if (fz_verbose()) {
        fprintf(stderr, "  %zu chunks emitted, largest %zu; %zu bytes of"
                " pool\n", e.calls, e.largest, pool.total);
    }
    FZ_CHECK("emit", !e.aborted || rc == FZ_EMIT_ABORT,
             "emit returned %d, the translator %d", FZ_EMIT_ABORT, rc);
    fz_check_usage_sign("stream", &st->usage);
    fz_check_stream_memory(&pool, largest, e.largest);

    if (rc == AIGW_ADAPTER_OK) {
        FZ_CHECK("stream-done", e.done || st->failed,
                 "the stream finished OK without [DONE] or an error");
    }

    /* watched only */

    fz_pool_init(&pool2, 0, 0);
    aigw_anthropic_stream_init(st2, resp, fz_alloc, &pool2);

    fz_jfail_at = 0;
    rc2 = fz_stream(t, st2, fz_event, fz_finish, NULL, NULL, &largest2);
    fz_jfail_at = t->json_fail;

    fz_check_rc("the watched stream", rc2, &pool2, NULL, 0);
    fz_check_usage_sign("watched stream", &st2->usage);

    if (rc == AIGW_ADAPTER_OK && rc2 == AIGW_ADAPTER_OK && !fz_jfailed
        && !pool.failed)
    {
        FZ_CHECK("stream-watch", st->usage.prompt_tokens
                 == st2->usage.prompt_tokens
                 && st->usage.completion_tokens
                    == st2->usage.completion_tokens
                 && st->usage.cached_tokens == st2->usage.cached_tokens
                 && st->usage.total_tokens == st2->usage.total_tokens,
                 "usage differs with emit (prompt %lld completion %lld) and"
                 " without (prompt %lld completion %lld)",
                 (long long) st->usage.prompt_tokens,
                 (long long) st->usage.completion_tokens,
                 (long long) st2->usage.prompt_tokens,
                 (long long) st2->usage.completion_tokens);
    }

    fz_pool_free(&pool);
    fz_pool_free(&pool2);
    free(st);
    free(st2);
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;

    fz_translate_init();

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t              sel;
    fz_tr_t              t;
    fz_pool_t            pool;
    aigw_buf_t           out;
    aigw_adapter_resp_t  resp;

    fz_tr_init(&t, data, size);
    sel = size ? (data[0] >> 3) : 0;

    memset(&resp, 0, sizeof(resp));
    resp.id = fz_id;
    resp.id_len = sizeof(fz_id) - 1;
    resp.model = fz_public;
    resp.model_len = sizeof(fz_public) - 1;
    resp.created = 1727000000;
    resp.include_usage = (sel >> 3) & 1;

    fz_pool_init(&pool, 0, t.pool_fail);
    aigw_buf_init(&out, fz_alloc, &pool, t.buf_max);

    switch (t.func) {
    case 0:
        fz_request(&t, &pool, &out);
        break;
    case 1:
        fz_response(&t, &pool, &out, &resp);
        break;
    case 2:
        fz_error(&t, &pool, &out, sel);
        break;
    case 3:
        fz_usage(&t);
        break;
    default:
        fz_streams(&t, &resp);
        break;
    }

    fz_pool_free(&pool);
    fz_tr_free(&t);

    return 0;
}
