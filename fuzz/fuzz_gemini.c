/*
 * aigw fuzzing: the Google Gemini adapter (src/aigw_gemini.c).
 *
 * Input: see fuzz/fuzz_translate.h.  The function (mode & 7):
 *   0  aigw_gemini_request()          OpenAI chat -> GenerateContentRequest
 *   1  aigw_gemini_response()         GenerateContentResponse -> completion
 *   2  aigw_gemini_error()            any body -> OpenAI error (status from
 *                                     mode bits 3..6)
 *   3  aigw_gemini_usage()            a usageMetadata object
 *   4  aigw_gemini_embed_request()    OpenAI embeddings -> batchEmbed...
 *   5  aigw_gemini_embed_response()   float arrays or base64 (mode bit 3)
 *   6+ the stream, once with a checking emit and once with emit NULL
 * Checks besides memory safety and leaks: see fuzz/fuzz_translate.h, and
 * an embeddings list has one item per "data" entry, base64 ones of
 * whole float32 values; a stream that finishes OK without a relayed error
 * sent [DONE]; the embeddings usage is the prompt estimate.
 */

#include "fuzz_translate.h"

#include "aigw_gemini.h"


static const u_char  fz_upstream[] = "gemini-1.5-pro";
static const u_char  fz_public[] = "gemini-public";
static const u_char  fz_id[] = "chatcmpl-fuzz";


static int
fz_event(void *st, const u_char *event, size_t event_len, const u_char *data,
    size_t data_len, aigw_emit_pt emit, void *ctx)
{
    (void) event;
    (void) event_len;

    return aigw_gemini_stream_event(st, data, data_len, emit, ctx);
}


static int
fz_finish(void *st, aigw_emit_pt emit, void *ctx)
{
    return aigw_gemini_stream_finish(st, emit, ctx);
}


static void
fz_check_invalid(int rc, const aigw_adapter_error_t *err)
{
    if (rc == AIGW_ADAPTER_INVALID) {
        FZ_CHECK("err", memchr(err->message, '\0', sizeof(err->message))
                 && memchr(err->param, '\0', sizeof(err->param))
                 && err->message[0] != '\0',
                 "an invalid request without a message");
    }
}


static void
fz_request(fz_tr_t *t, fz_pool_t *pool, aigw_buf_t *out)
{
    int                   rc, stream;
    json_t               *j;
    aigw_adapter_req_t    req;
    aigw_adapter_error_t  err;

    req.model = fz_upstream;
    req.model_len = sizeof(fz_upstream) - 1;
    req.default_max_tokens = (t->abort_at & 1) ? 4096 : 0;

    memset(&err, 0x5a, sizeof(err));
    stream = 7;

    FZ_ARM();
    rc = aigw_gemini_request(t->payload, t->len, &req, out, &stream, &err);
    FZ_DISARM();

    fz_check_rc("aigw_gemini_request", rc, pool, out, 0);

    if (fz_verbose() && rc == AIGW_ADAPTER_INVALID) {
        fprintf(stderr, "  %.*s: %.*s\n", 64, err.param, 256, err.message);
    }
    fz_check_invalid(rc, &err);

    if (rc != AIGW_ADAPTER_OK) {
        return;
    }

    FZ_CHECK("req", stream == 0 || stream == 1, "*stream is %d", stream);

    j = fz_load_object("req-json", out->data, out->len, "the request");

    FZ_CHECK("req", json_is_array(json_object_get(j, "contents")),
             "a GenerateContentRequest without contents");

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
    rc = aigw_gemini_response(t->payload, t->len, resp, out, &u);
    FZ_DISARM();

    fz_check_rc("aigw_gemini_response", rc, pool, out, 0);

    if (rc != AIGW_ADAPTER_OK) {
        return;
    }

    fz_check_usage_sign("response", &u);

    j = fz_load_object("resp-json", out->data, out->len, "the response");

    FZ_CHECK("resp", json_is_array(json_object_get(j, "choices")),
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
    rc = aigw_gemini_error(status, t->payload, t->len, out, &out_status);
    FZ_DISARM();

    fz_check_rc("aigw_gemini_error", rc, pool, out, 0);

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
    rc = aigw_gemini_usage(t->payload, t->len, &u);
    FZ_DISARM();

    if (rc == 0) {
        fz_check_usage_sign("usage", &u);
    }
}


static void
fz_embed_request(fz_tr_t *t, fz_pool_t *pool, aigw_buf_t *out)
{
    int                   rc, base64;
    json_t               *j;
    aigw_adapter_req_t    req;
    aigw_adapter_error_t  err;

    req.model = (const u_char *) "text-embedding-004";
    req.model_len = sizeof("text-embedding-004") - 1;
    req.default_max_tokens = 0;

    memset(&err, 0x5a, sizeof(err));
    base64 = 7;

    FZ_ARM();
    rc = aigw_gemini_embed_request(t->payload, t->len, &req, out, &base64,
                                   &err);
    FZ_DISARM();

    fz_check_rc("aigw_gemini_embed_request", rc, pool, out, 0);

    if (fz_verbose() && rc == AIGW_ADAPTER_INVALID) {
        fprintf(stderr, "  %.*s: %.*s\n", 64, err.param, 256, err.message);
    }
    fz_check_invalid(rc, &err);

    if (rc != AIGW_ADAPTER_OK) {
        return;
    }

    FZ_CHECK("embed", base64 == 0 || base64 == 1, "*base64 is %d", base64);

    j = fz_load_object("embed-json", out->data, out->len,
                       "the embeddings request");

    FZ_CHECK("embed", json_is_array(json_object_get(j, "requests"))
             && json_array_size(json_object_get(j, "requests")) > 0,
             "a batchEmbedContents request without requests");

    json_decref(j);
}


static int
fz_base64_ok(const char *s, size_t len)
{
    size_t  i, pad;

    if (len % 4) {
        return 0;
    }

    pad = 0;

    for (i = 0; i < len; i++) {
        if (s[i] == '=') {
            pad++;
            continue;
        }

        if (pad || !((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a'
                     && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9')
                     || s[i] == '+' || s[i] == '/'))
        {
            return 0;
        }
    }

    /* whole float32 values: 4 bytes each, so (len / 4 * 3 - pad) % 4 */
    return pad <= 2 && (len / 4 * 3 - pad) % 4 == 0;
}


static void
fz_embed_response(fz_tr_t *t, fz_pool_t *pool, aigw_buf_t *out,
    const aigw_adapter_resp_t *resp, int base64)
{
    int           rc;
    size_t        i;
    json_t       *j, *d, *item, *emb;
    aigw_usage_t  u;

    memset(&u, 0, sizeof(u));

    FZ_ARM();
    rc = aigw_gemini_embed_response(t->payload, t->len, resp, base64, 42,
                                    out, &u);
    FZ_DISARM();

    fz_check_rc("aigw_gemini_embed_response", rc, pool, out, 0);

    if (rc != AIGW_ADAPTER_OK) {
        return;
    }

    FZ_CHECK("embed", u.prompt_tokens == 42,
             "embeddings usage: prompt %lld, the estimate was 42",
             (long long) u.prompt_tokens);
    fz_check_usage_sign("embeddings", &u);

    j = fz_load_object("embed-json", out->data, out->len,
                       "the embeddings list");
    d = json_object_get(j, "data");

    FZ_CHECK("embed", json_is_array(d), "an embeddings list without data");

    json_array_foreach(d, i, item) {
        emb = json_object_get(item, "embedding");

        FZ_CHECK("embed", json_integer_value(json_object_get(item, "index"))
                 == (json_int_t) i, "item %zu has another index", i);

        if (base64) {
            FZ_CHECK("embed", json_is_string(emb)
                     && fz_base64_ok(json_string_value(emb),
                                     json_string_length(emb)),
                     "item %zu: not base64 of float32 values", i);

        } else {
            FZ_CHECK("embed", json_is_array(emb),
                     "item %zu: the embedding is not an array", i);
        }
    }

    json_decref(j);
}


static void
fz_streams(fz_tr_t *t, const aigw_adapter_resp_t *resp)
{
    int                    rc, rc2;
    size_t                 largest, largest2;
    fz_emit_t              e;
    fz_pool_t              pool, pool2;
    aigw_gemini_stream_t  *st, *st2;

    st = malloc(sizeof(aigw_gemini_stream_t));
    st2 = malloc(sizeof(aigw_gemini_stream_t));
    if (st == NULL || st2 == NULL) {
        abort();
    }

    fz_pool_init(&pool, 0, t->pool_fail);
    fz_emit_init(&e, 0, t->abort_at);

    aigw_gemini_stream_init(st, resp, fz_alloc, &pool);

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

    fz_pool_init(&pool2, 0, 0);
    aigw_gemini_stream_init(st2, resp, fz_alloc, &pool2);

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
    case 4:
        fz_embed_request(&t, &pool, &out);
        break;
    case 5:
        fz_embed_response(&t, &pool, &out, &resp, sel & 1);
        break;
    default:
        fz_streams(&t, &resp);
        break;
    }

    fz_pool_free(&pool);
    fz_tr_free(&t);

    return 0;
}
