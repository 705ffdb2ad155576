/*
 * aigw fuzzing: Anthropic-format clients on /v1/messages
 * (src/aigw_anthropic_in.c).
 *
 * Input: see fuzz/fuzz_translate.h.  The function (mode & 7):
 *   0  aigw_anthropic_in_request()     Messages request -> OpenAI chat body
 *   1  aigw_anthropic_in_response()    chat.completion -> Messages answer
 *   2  aigw_anthropic_in_error()       any body -> Anthropic error (status
 *                                      from mode bits 3..6)
 *   3  aigw_anthropic_in_error_json()  the payload as the gateway's own
 *                                      message, and _error_type()
 *   4+ the stream: OpenAI chunks through the SSE parser into
 *      aigw_anthropic_in_stream_event(), then _finish(), with a checking
 *      emit (emit may not be NULL here, unlike the other adapters)
 * Checks besides memory safety and leaks: see fuzz/fuzz_translate.h; the
 * events written follow Anthropic's stream grammar (message_start, blocks
 * numbered from 0 each started, delta'd and stopped in turn,
 * message_delta, message_stop; or an error, last), each named after its
 * data's "type"; a stream that finishes OK without an error sent
 * message_stop; a streamed request asks for stream_options.include_usage.
 */

#include "fuzz_translate.h"

#include "aigw_anthropic_in.h"


static const u_char  fz_public[] = "claude-public";
static const u_char  fz_id[] = "msg_fuzz";


static int
fz_event(void *st, const u_char *event, size_t event_len, const u_char *data,
    size_t data_len, aigw_emit_pt emit, void *ctx)
{
    (void) event;
    (void) event_len;

    return aigw_anthropic_in_stream_event(st, data, data_len, emit, ctx);
}


static int
fz_finish(void *st, aigw_emit_pt emit, void *ctx)
{
    return aigw_anthropic_in_stream_finish(st, emit, ctx);
}


static void
fz_request(fz_tr_t *t, fz_pool_t *pool, aigw_buf_t *out)
{
    int                   rc, stream;
    json_t               *j, *v;
    aigw_adapter_error_t  err;

    memset(&err, 0x5a, sizeof(err));
    stream = 7;

    FZ_ARM();
    rc = aigw_anthropic_in_request(t->payload, t->len, out, &stream, &err);
    FZ_DISARM();

    fz_check_rc("aigw_anthropic_in_request", rc, pool, out, 0);

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

    FZ_CHECK("req", json_is_string(json_object_get(j, "model")),
             "the OpenAI request has no model");
    FZ_CHECK("req", json_is_array(json_object_get(j, "messages")),
             "the OpenAI request has no messages array");

    v = json_object_get(j, "stream");
    FZ_CHECK("req", stream == json_is_true(v),
             "*stream %d, \"stream\" in the body %d", stream,
             json_is_true(v));

    if (stream) {
        v = json_object_get(json_object_get(j, "stream_options"),
                            "include_usage");
        FZ_CHECK("req", json_is_true(v),
                 "a streamed request without include_usage");
    }

    json_decref(j);
}


static void
fz_response(fz_tr_t *t, fz_pool_t *pool, aigw_buf_t *out,
    const aigw_adapter_resp_t *resp)
{
    int      rc;
    json_t  *j, *u, *v;

    FZ_ARM();
    rc = aigw_anthropic_in_response(t->payload, t->len, resp, out);
    FZ_DISARM();

    fz_check_rc("aigw_anthropic_in_response", rc, pool, out, 0);

    if (rc != AIGW_ADAPTER_OK) {
        return;
    }

    j = fz_load_object("resp-json", out->data, out->len, "the response");

    FZ_CHECK("resp", json_is_array(json_object_get(j, "content")),
             "a Messages answer without content");

    u = json_object_get(j, "usage");
    FZ_CHECK("resp", json_is_object(u), "a Messages answer without usage");

    v = json_object_get(u, "input_tokens");
    FZ_CHECK("usage-sign", json_is_integer(v) && json_integer_value(v) >= 0,
             "input_tokens is not a non-negative integer");

    v = json_object_get(u, "output_tokens");
    FZ_CHECK("usage-sign", json_is_integer(v) && json_integer_value(v) >= 0,
             "output_tokens is not a non-negative integer");

    json_decref(j);
}


static void
fz_check_anthropic_error(aigw_buf_t *out)
{
    json_t  *j, *e;

    j = fz_load_object("err-json", out->data, out->len, "the error");
    e = json_object_get(j, "error");

    FZ_CHECK("err", json_is_string(json_object_get(j, "type"))
             && strcmp(json_string_value(json_object_get(j, "type")),
                       "error") == 0
             && json_is_object(e)
             && json_is_string(json_object_get(e, "type"))
             && json_is_string(json_object_get(e, "message")),
             "not an Anthropic error body");

    json_decref(j);
}


static void
fz_error(fz_tr_t *t, fz_pool_t *pool, aigw_buf_t *out, uint8_t sel)
{
    int  rc;

    FZ_ARM();
    rc = aigw_anthropic_in_error(fz_statuses[sel & 15], t->payload, t->len,
                                 out);
    FZ_DISARM();

    fz_check_rc("aigw_anthropic_in_error", rc, pool, out, 0);

    FZ_CHECK("err", rc != AIGW_ADAPTER_INVALID,
             "an error answer could not be translated (any body should)");

    if (rc == AIGW_ADAPTER_OK) {
        fz_check_anthropic_error(out);
    }
}


static void
fz_error_json(fz_tr_t *t, fz_pool_t *pool, aigw_buf_t *out, uint8_t sel)
{
    int          rc, status;
    const char  *type;

    status = fz_statuses[sel & 15];
    type = aigw_anthropic_error_type(status);

    FZ_CHECK("err", type != NULL && type[0] != '\0',
             "no error type for status %d", status);

    FZ_ARM();
    rc = aigw_anthropic_in_error_json(out, status, t->payload, t->len);
    FZ_DISARM();

    fz_check_rc("aigw_anthropic_in_error_json", rc, pool, out, 0);

    if (rc == AIGW_ADAPTER_OK) {
        fz_check_anthropic_error(out);
    }
}


static void
fz_streams(fz_tr_t *t, const aigw_adapter_resp_t *resp)
{
    int                          rc;
    size_t                       largest;
    fz_emit_t                    e;
    fz_pool_t                    pool;
    aigw_anthropic_in_stream_t  *st;

    st = malloc(sizeof(aigw_anthropic_in_stream_t));
    if (st == NULL) {
        abort();
    }

    fz_pool_init(&pool, 0, t->pool_fail);
    fz_emit_init(&e, 1, t->abort_at);

    aigw_anthropic_in_stream_init(st, resp, fz_alloc, &pool);

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
        FZ_CHECK("stream-done", e.seq.stopped || e.seq.failed,
                 "the stream finished OK without message_stop or an error");
    }

    fz_pool_free(&pool);
    free(st);
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
        fz_error_json(&t, &pool, &out, sel);
        break;
    default:
        fz_streams(&t, &resp);
        break;
    }

    fz_pool_free(&pool);
    fz_tr_free(&t);

    return 0;
}
