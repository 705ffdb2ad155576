/*
 * Unit tests for src/aigw_anthropic_in.c (cmocka): Anthropic-format
 * clients in front of OpenAI-format channels.
 *
 * Golden fixtures live in t/fixtures/anthropic_in/ (found from __FILE__):
 * request-*.anthropic.json -> request-*.openai.json, response-*.openai.json
 * -> response-*.anthropic.json, error-<status>.openai.* ->
 * error-<status>.anthropic.json (bodies compared with json_equal), and
 * stream-*.openai.sse -> stream-*.anthropic.sse (compared byte for byte).
 * Streams go through the real SSE parser, split at every byte and fed one
 * byte at a time, each piece from its own heap copy freed after the feed.
 *
 * jansson's allocator is replaced by one that counts live blocks and can
 * fail after N allocations: every test checks that nothing is left
 * behind, and the out-of-memory tests walk N up from 0.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "aigw_anthropic_in.h"
#include "aigw_sse.h"


#define FIXTURES   "/../fixtures/anthropic_in/"
#define MAX_EVENT  65536


/* jansson's memory: counted, and failing on demand */

static long  j_live;
static long  j_fail_after = -1;     /* allocations left before failing */


static void *
j_malloc(size_t size)
{
    void  *p;

    if (j_fail_after == 0) {
        return NULL;
    }

    if (j_fail_after > 0) {
        j_fail_after--;
    }

    p = malloc(size);

    if (p) {
        j_live++;
    }

    return p;
}


static void
j_free(void *p)
{
    if (p) {
        j_live--;
        free(p);
    }
}


/* the caller's pool: freed all at once, failing on demand */

typedef struct {
    void      **ptr;
    size_t      n;
    size_t      cap;
    long        fail_after;         /* -1: never */
    size_t      total;
} pool_t;


static void *
pool_alloc(void *data, size_t size)
{
    void    *p;
    pool_t  *pool;

    pool = data;

    if (pool->fail_after == 0) {
        return NULL;
    }

    if (pool->fail_after > 0) {
        pool->fail_after--;
    }

    if (pool->n == pool->cap) {
        pool->cap = pool->cap ? pool->cap * 2 : 16;
        pool->ptr = realloc(pool->ptr, pool->cap * sizeof(void *));
        assert_non_null(pool->ptr);
    }

    p = malloc(size);
    assert_non_null(p);

    pool->ptr[pool->n++] = p;
    pool->total += size;

    return p;
}


static void
pool_init(pool_t *pool)
{
    memset(pool, 0, sizeof(pool_t));
    pool->fail_after = -1;
}


static void
pool_free(pool_t *pool)
{
    size_t  i;

    for (i = 0; i < pool->n; i++) {
        free(pool->ptr[i]);
    }

    free(pool->ptr);
    pool_init(pool);
}


static const aigw_adapter_resp_t  conf = {
    (const u_char *) "msg_01gw0000", 12,
    (const u_char *) "claude-sonnet-4-5", 17,
    1741570000, 1
};


static char *
fixture(const char *name, size_t *len)
{
    long         n;
    FILE        *f;
    char         path[512];
    char        *buf;
    const char  *slash;

    slash = strrchr(__FILE__, '/');

    if (slash) {
        (void) snprintf(path, sizeof(path), "%.*s" FIXTURES "%s",
                        (int) (slash - __FILE__), __FILE__, name);

    } else {
        (void) snprintf(path, sizeof(path), "." FIXTURES "%s", name);
    }

    f = fopen(path, "rb");
    if (f == NULL) {
        fail_msg("cannot open fixture %s", path);
    }

    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);

    buf = malloc((size_t) n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t) n, f), (size_t) n);
    buf[n] = '\0';
    fclose(f);

    *len = (size_t) n;

    return buf;
}


static void
assert_json_equal(const u_char *got, size_t got_len, const char *want,
    size_t want_len, const char *what)
{
    json_t        *g, *w;
    json_error_t   e;

    g = json_loadb((const char *) got, got_len, 0, &e);
    if (g == NULL) {
        fail_msg("%s: output is not JSON (%s): %.*s", what, e.text,
                 (int) got_len, got);
    }

    w = json_loadb(want, want_len, 0, &e);
    if (w == NULL) {
        fail_msg("%s: fixture is not JSON: %s", what, e.text);
    }

    if (!json_equal(g, w)) {
        fail_msg("%s: got\n%.*s\nwant\n%.*s", what, (int) got_len, got,
                 (int) want_len, want);
    }

    json_decref(g);
    json_decref(w);
}


/* request */

static int
request(const char *body, size_t len, pool_t *pool, aigw_buf_t *out,
    int *stream, aigw_adapter_error_t *err)
{
    aigw_buf_init(out, pool_alloc, pool, 0);

    return aigw_anthropic_in_request((const u_char *) body, len, out, stream,
                                     err);
}


static void
check_request_fixture(const char *name, int want_stream)
{
    int                    rc, stream;
    char                   in_name[128], out_name[128], *in, *want;
    size_t                 in_len, want_len;
    pool_t                 pool;
    aigw_buf_t             out;
    aigw_adapter_error_t   err;

    (void) snprintf(in_name, sizeof(in_name), "request-%s.anthropic.json",
                    name);
    (void) snprintf(out_name, sizeof(out_name), "request-%s.openai.json",
                    name);

    in = fixture(in_name, &in_len);
    want = fixture(out_name, &want_len);
    pool_init(&pool);

    stream = -1;
    rc = request(in, in_len, &pool, &out, &stream, &err);

    if (rc != AIGW_ADAPTER_OK) {
        fail_msg("%s: rc %d: %s (%s)", name, rc, err.message, err.param);
    }

    assert_int_equal(stream, want_stream);
    assert_json_equal(out.data, out.len, want, want_len, in_name);

    pool_free(&pool);
    free(in);
    free(want);

    assert_int_equal(j_live, 0);
}


static void
test_request_fixtures(void **state)
{
    (void) state;

    check_request_fixture("basic", 0);
    check_request_fixture("claude-code", 1);
    check_request_fixture("tool-choice", 0);
}


/* a request that must translate; its output compared with want */

static void
check_request(const char *body, const char *want)
{
    int                    rc, stream;
    pool_t                 pool;
    aigw_buf_t             out;
    aigw_adapter_error_t   err;

    pool_init(&pool);

    rc = request(body, strlen(body), &pool, &out, &stream, &err);

    if (rc != AIGW_ADAPTER_OK) {
        fail_msg("rc %d: %s (%s) for %s", rc, err.message, err.param, body);
    }

    assert_json_equal(out.data, out.len, want, strlen(want), body);

    pool_free(&pool);
    assert_int_equal(j_live, 0);
}


#define MSG  "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"
#define HEAD "{\"model\":\"m\",\"max_tokens\":10,"
#define OUT  "{\"model\":\"m\",\"max_tokens\":10," \
             "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]"


static void
test_request_details(void **state)
{
    (void) state;

    /* tool_choice any / none, thinking budgets at the boundaries */
    check_request(HEAD MSG ",\"tools\":[{\"name\":\"t\",\"input_schema\":{}}],"
                  "\"tool_choice\":{\"type\":\"any\"},"
                  "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":4095}}",
                  OUT ",\"tools\":[{\"type\":\"function\",\"function\":"
                  "{\"name\":\"t\",\"parameters\":{}}}],"
                  "\"tool_choice\":\"required\",\"reasoning_effort\":\"low\"}");

    check_request(HEAD MSG ",\"tools\":[{\"name\":\"t\",\"input_schema\":{}}],"
                  "\"tool_choice\":{\"type\":\"none\","
                  "\"disable_parallel_tool_use\":false},"
                  "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":4096}}",
                  OUT ",\"tools\":[{\"type\":\"function\",\"function\":"
                  "{\"name\":\"t\",\"parameters\":{}}}],"
                  "\"tool_choice\":\"none\",\"reasoning_effort\":\"medium\"}");

    check_request(HEAD MSG ",\"thinking\":{\"type\":\"enabled\","
                  "\"budget_tokens\":16384}}",
                  OUT ",\"reasoning_effort\":\"high\"}");

    check_request(HEAD MSG ",\"thinking\":{\"type\":\"enabled\","
                  "\"budget_tokens\":16383}}",
                  OUT ",\"reasoning_effort\":\"medium\"}");

    check_request(HEAD MSG ",\"thinking\":{\"type\":\"disabled\"}}", OUT "}");
    check_request(HEAD MSG ",\"thinking\":{\"type\":\"adaptive\"}}", OUT "}");

    /* tool_choice without tools: OpenAI refuses it, so it goes */
    check_request(HEAD MSG ",\"tools\":[],\"tool_choice\":{\"type\":\"auto\","
                  "\"disable_parallel_tool_use\":true}}", OUT "}");

    /* null members read as absent; unknown members are ignored */
    check_request(HEAD MSG ",\"system\":null,\"stop_sequences\":null,"
                  "\"temperature\":null,\"top_p\":null,\"top_k\":null,"
                  "\"stream\":null,\"tools\":null,\"tool_choice\":null,"
                  "\"metadata\":null,\"thinking\":null,"
                  "\"context_management\":{\"edits\":[]}}", OUT "}");

    /* integer temperature, string system, empty system text */
    check_request(HEAD MSG ",\"temperature\":0,\"top_p\":1,\"system\":\"\"}",
                  OUT ",\"temperature\":0,\"top_p\":1}");

    check_request(HEAD MSG ",\"system\":[{\"type\":\"text\",\"text\":\"\"},"
                  "{\"type\":\"text\",\"text\":\"S\"}]}",
                  "{\"model\":\"m\",\"max_tokens\":10,\"messages\":["
                  "{\"role\":\"system\",\"content\":\"S\"},"
                  "{\"role\":\"user\",\"content\":\"hi\"}]}");

    /* stream: true asks for usage */
    check_request(HEAD MSG ",\"stream\":true}",
                  OUT ",\"stream\":true,"
                  "\"stream_options\":{\"include_usage\":true}}");

    /* tool results without content; empty user content; one text block */
    check_request(HEAD "\"messages\":[{\"role\":\"user\",\"content\":[]},"
                  "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\","
                  "\"id\":\"a\",\"name\":\"n\",\"input\":{\"x\":[1,2.5,null,"
                  "true,\"\\u00e9\\n\"]}}]},"
                  "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
                  "\"tool_use_id\":\"a\"},{\"type\":\"tool_result\","
                  "\"tool_use_id\":\"a\",\"content\":null,\"is_error\":true,"
                  "\"cache_control\":{\"type\":\"ephemeral\"}}]},"
                  "{\"role\":\"assistant\",\"content\":\"\"},"
                  "{\"role\":\"user\",\"content\":[{\"type\":\"text\","
                  "\"text\":\"only\"}]}]}",
                  "{\"model\":\"m\",\"max_tokens\":10,\"messages\":["
                  "{\"role\":\"user\",\"content\":\"\"},"
                  "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{"
                  "\"id\":\"a\",\"type\":\"function\",\"function\":{"
                  "\"name\":\"n\",\"arguments\":"
                  "\"{\\\"x\\\":[1,2.5,null,true,\\\"\\u00e9\\\\n\\\"]}\"}}]},"
                  "{\"role\":\"tool\",\"tool_call_id\":\"a\",\"content\":\"\"},"
                  "{\"role\":\"tool\",\"tool_call_id\":\"a\",\"content\":\"\"},"
                  "{\"role\":\"assistant\",\"content\":\"\"},"
                  "{\"role\":\"user\",\"content\":\"only\"}]}");

    /* a tool result of images only: the images follow as a user message */
    check_request(HEAD "\"messages\":[{\"role\":\"user\",\"content\":["
                  "{\"type\":\"tool_result\",\"tool_use_id\":\"b\","
                  "\"content\":[{\"type\":\"image\",\"source\":{\"type\":"
                  "\"url\",\"url\":\"u\"}}]}]}]}",
                  "{\"model\":\"m\",\"max_tokens\":10,\"messages\":["
                  "{\"role\":\"tool\",\"tool_call_id\":\"b\",\"content\":\"\"},"
                  "{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
                  "\"image_url\":{\"url\":\"u\"}}]}]}");

    /* metadata without user_id */
    check_request(HEAD MSG ",\"metadata\":{\"user_id\":null,\"x\":1}}",
                  OUT "}");
}


typedef struct {
    const char  *body;
    const char  *param;         /* NULL: no param */
} bad_t;


static void
test_request_errors(void **state)
{
    int                    rc, stream;
    size_t                 i;
    pool_t                 pool;
    aigw_buf_t             out;
    aigw_adapter_error_t   err;

#define U(c)  HEAD "\"messages\":[{\"role\":\"user\",\"content\":" c "}]}"
#define A(c)  HEAD "\"messages\":[{\"role\":\"assistant\",\"content\":" c "}]}"
#define T(c)  U("[{\"type\":\"tool_result\",\"tool_use_id\":\"x\"," c "}]")
#define I(s)  U("[{\"type\":\"image\"" s "}]")
#define P(p)  HEAD MSG "," p "}"

    static const bad_t  bad[] = {
        { "", NULL },
        { "{", NULL },
        { "{\"model\":\"m\",}", NULL },
        { "[]", NULL },
        { "\"x\"", NULL },
        { "{}", "model" },
        { "{\"model\":5,\"max_tokens\":1," MSG "}", "model" },
        { "{\"model\":\"\",\"max_tokens\":1," MSG "}", "model" },
        { "{\"model\":\"m\"," MSG "}", "max_tokens" },
        { "{\"model\":\"m\",\"max_tokens\":null," MSG "}", "max_tokens" },
        { "{\"model\":\"m\",\"max_tokens\":0," MSG "}", "max_tokens" },
        { "{\"model\":\"m\",\"max_tokens\":-5," MSG "}", "max_tokens" },
        { "{\"model\":\"m\",\"max_tokens\":1.5," MSG "}", "max_tokens" },
        { "{\"model\":\"m\",\"max_tokens\":\"9\"," MSG "}", "max_tokens" },
        { "{\"model\":\"m\",\"max_tokens\":true," MSG "}", "max_tokens" },
        { HEAD "\"x\":1}", "messages" },
        { HEAD "\"messages\":{}}", "messages" },
        { HEAD "\"messages\":[]}", "messages" },
        { HEAD "\"messages\":[1]}", "messages.0" },
        { HEAD "\"messages\":[{\"content\":\"x\"}]}", "messages.0.role" },
        { HEAD "\"messages\":[{\"role\":\"system\",\"content\":\"x\"}]}",
          "messages.0.role" },
        { HEAD "\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}",
          "messages.0.role" },
        { HEAD "\"messages\":[{\"role\":5,\"content\":\"x\"}]}",
          "messages.0.role" },
        { HEAD "\"messages\":[" "{\"role\":\"user\",\"content\":\"a\"},"
          "{\"role\":\"User\",\"content\":\"x\"}]}", "messages.1.role" },
        { HEAD "\"messages\":[{\"role\":\"user\"}]}", "messages.0.content" },
        { U("5"), "messages.0.content" },
        { U("null"), "messages.0.content" },
        { U("{}"), "messages.0.content" },
        { A("5"), "messages.0.content" },
        { U("[1]"), "messages.0.content.0" },
        { U("[{}]"), "messages.0.content.0.type" },
        { U("[{\"type\":5}]"), "messages.0.content.0.type" },
        { U("[{\"type\":\"text\"}]"), "messages.0.content.0.text" },
        { U("[{\"type\":\"text\",\"text\":[]}]"),
          "messages.0.content.0.text" },
        { U("[{\"type\":\"document\",\"source\":{\"type\":\"text\","
            "\"media_type\":\"text/plain\",\"data\":\"x\"}}]"),
          "messages.0.content.0.type" },
        { U("[{\"type\":\"tool_use\",\"id\":\"a\",\"name\":\"n\","
            "\"input\":{}}]"), "messages.0.content.0.type" },
        { U("[{\"type\":\"thinking\",\"thinking\":\"x\"}]"),
          "messages.0.content.0.type" },
        { U("[{\"type\":\"search_result\"}]"), "messages.0.content.0.type" },
        { I(""), "messages.0.content.0.source" },
        { I(",\"source\":\"x\""), "messages.0.content.0.source" },
        { I(",\"source\":{}"), "messages.0.content.0.source.type" },
        { I(",\"source\":{\"type\":\"file\",\"file_id\":\"f\"}"),
          "messages.0.content.0.source.type" },
        { I(",\"source\":{\"type\":\"base64\",\"data\":\"x\"}"),
          "messages.0.content.0.source.media_type" },
        { I(",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\"}"),
          "messages.0.content.0.source.data" },
        { I(",\"source\":{\"type\":\"base64\",\"media_type\":1,"
            "\"data\":\"x\"}"), "messages.0.content.0.source.media_type" },
        { I(",\"source\":{\"type\":\"url\"}"),
          "messages.0.content.0.source.url" },
        { I(",\"source\":{\"type\":\"url\",\"url\":{}}"),
          "messages.0.content.0.source.url" },
        { U("[{\"type\":\"tool_result\"}]"),
          "messages.0.content.0.tool_use_id" },
        { U("[{\"type\":\"tool_result\",\"tool_use_id\":7}]"),
          "messages.0.content.0.tool_use_id" },
        { T("\"is_error\":\"yes\""), "messages.0.content.0.is_error" },
        { T("\"content\":5"), "messages.0.content.0.content" },
        { T("\"content\":{}"), "messages.0.content.0.content" },
        { T("\"content\":[5]"), "messages.0.content.0.content.0" },
        { T("\"content\":[{\"type\":\"text\"}]"),
          "messages.0.content.0.content.0.text" },
        { T("\"content\":[{\"type\":\"document\"}]"),
          "messages.0.content.0.content.0.type" },
        { T("\"content\":[{\"type\":\"image\",\"source\":{\"type\":\"x\"}}]"),
          "messages.0.content.0.content.0.source.type" },
        { A("[5]"), "messages.0.content.0" },
        { A("[{\"type\":\"text\",\"text\":5}]"), "messages.0.content.0.text" },
        { A("[{\"type\":\"image\",\"source\":{\"type\":\"url\","
            "\"url\":\"u\"}}]"), "messages.0.content.0.type" },
        { A("[{\"type\":\"tool_result\",\"tool_use_id\":\"x\"}]"),
          "messages.0.content.0.type" },
        { A("[{\"type\":\"server_tool_use\",\"id\":\"s\",\"name\":"
            "\"web_search\",\"input\":{}}]"), "messages.0.content.0.type" },
        { A("[{\"name\":\"n\"}]"), "messages.0.content.0.type" },
        { A("[{\"type\":\"tool_use\",\"name\":\"n\",\"input\":{}}]"),
          "messages.0.content.0.id" },
        { A("[{\"type\":\"tool_use\",\"id\":\"a\",\"input\":{}}]"),
          "messages.0.content.0.name" },
        { A("[{\"type\":\"tool_use\",\"id\":\"a\",\"name\":[],"
            "\"input\":{}}]"), "messages.0.content.0.name" },
        { A("[{\"type\":\"tool_use\",\"id\":\"a\",\"name\":\"n\"}]"),
          "messages.0.content.0.input" },
        { A("[{\"type\":\"tool_use\",\"id\":\"a\",\"name\":\"n\","
            "\"input\":\"{}\"}]"), "messages.0.content.0.input" },
        { P("\"system\":5"), "system" },
        { P("\"system\":{}"), "system" },
        { P("\"system\":[5]"), "system.0" },
        { P("\"system\":[{\"type\":\"image\"}]"), "system.0" },
        { P("\"system\":[{\"type\":\"text\"}]"), "system.0.text" },
        { P("\"stop_sequences\":\"x\""), "stop_sequences" },
        { P("\"stop_sequences\":[\"a\",1]"), "stop_sequences" },
        { P("\"temperature\":\"hot\""), "temperature" },
        { P("\"top_p\":[]"), "top_p" },
        { P("\"top_k\":1.5"), "top_k" },
        { P("\"stream\":\"yes\""), "stream" },
        { P("\"stream\":1"), "stream" },
        { P("\"tools\":{}"), "tools" },
        { P("\"tools\":[5]"), "tools.0" },
        { P("\"tools\":[{\"type\":\"web_search_20250305\","
            "\"name\":\"web_search\",\"max_uses\":5}]"), "tools.0.type" },
        { P("\"tools\":[{\"type\":\"bash_20250124\",\"name\":\"bash\"}]"),
          "tools.0.type" },
        { P("\"tools\":[{\"type\":5,\"name\":\"n\",\"input_schema\":{}}]"),
          "tools.0.type" },
        { P("\"tools\":[{\"input_schema\":{}}]"), "tools.0.name" },
        { P("\"tools\":[{\"name\":1,\"input_schema\":{}}]"), "tools.0.name" },
        { P("\"tools\":[{\"name\":\"n\"}]"), "tools.0.input_schema" },
        { P("\"tools\":[{\"name\":\"n\",\"input_schema\":[]}]"),
          "tools.0.input_schema" },
        { P("\"tools\":[{\"name\":\"n\",\"description\":5,"
            "\"input_schema\":{}}]"), "tools.0.description" },
        { P("\"tool_choice\":\"auto\""), "tool_choice" },
        { P("\"tool_choice\":{}"), "tool_choice.type" },
        { P("\"tool_choice\":{\"type\":\"required\"}"), "tool_choice.type" },
        { P("\"tool_choice\":{\"type\":\"tool\"}"), "tool_choice.name" },
        { P("\"tool_choice\":{\"type\":\"auto\","
            "\"disable_parallel_tool_use\":1}"),
          "tool_choice.disable_parallel_tool_use" },
        { P("\"metadata\":5"), "metadata" },
        { P("\"metadata\":{\"user_id\":5}"), "metadata.user_id" },
        { P("\"thinking\":true"), "thinking" },
        { P("\"thinking\":{}"), "thinking.type" },
        { P("\"thinking\":{\"type\":\"on\"}"), "thinking.type" },
        { P("\"thinking\":{\"type\":\"enabled\"}"), "thinking.budget_tokens" },
        { P("\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":0}"),
          "thinking.budget_tokens" },
        { P("\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":\"1\"}"),
          "thinking.budget_tokens" },
    };

#undef U
#undef A
#undef T
#undef I
#undef P

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pool_init(&pool);
        memset(&err, 0x55, sizeof(err));
        err.message[sizeof(err.message) - 1] = '\0';
        err.param[sizeof(err.param) - 1] = '\0';

        rc = request(bad[i].body, strlen(bad[i].body), &pool, &out, &stream,
                     &err);

        if (rc != AIGW_ADAPTER_INVALID) {
            fail_msg("case %zu: rc %d for %s", i, rc, bad[i].body);
        }

        if (strcmp(err.param, bad[i].param ? bad[i].param : "") != 0) {
            fail_msg("case %zu: param \"%s\" (%s), want \"%s\" for %s", i,
                     err.param, err.message,
                     bad[i].param ? bad[i].param : "", bad[i].body);
        }

        /* the message names the member first */
        assert_true(strlen(err.message) > 0);

        if (bad[i].param) {
            assert_int_equal(strncmp(err.message, bad[i].param,
                                     strlen(bad[i].param)), 0);
            assert_int_equal(err.message[strlen(bad[i].param)], ':');
        }

        assert_int_equal(out.len, 0);

        pool_free(&pool);
        assert_int_equal(j_live, 0);
    }
}


static char *
nested(const char *head, const char *open, const char *close, size_t depth,
    const char *tail)
{
    char    *b, *p;
    size_t   i, ol, cl;

    ol = strlen(open);
    cl = strlen(close);

    b = malloc(strlen(head) + depth * (ol + cl) + strlen(tail) + 1);
    assert_non_null(b);

    p = b;
    memcpy(p, head, strlen(head));
    p += strlen(head);

    for (i = 0; i < depth; i++) {
        memcpy(p, open, ol);
        p += ol;
    }

    for (i = 0; i < depth; i++) {
        memcpy(p, close, cl);
        p += cl;
    }

    strcpy(p, tail);

    return b;
}


static void
test_request_deep(void **state)
{
    int                    rc, stream;
    char                  *body;
    pool_t                 pool;
    aigw_buf_t             out;
    aigw_adapter_error_t   err;

    (void) state;

    /* far past jansson's depth limit: refused, no crash */
    body = nested("", "[", "]", 200000, "");
    pool_init(&pool);
    rc = request(body, strlen(body), &pool, &out, &stream, &err);
    assert_int_equal(rc, AIGW_ADAPTER_INVALID);
    assert_string_equal(err.param, "");
    pool_free(&pool);
    free(body);

    body = nested(HEAD "\"messages\":[{\"role\":\"assistant\",\"content\":"
                  "[{\"type\":\"tool_use\",\"id\":\"a\",\"name\":\"n\","
                  "\"input\":", "{\"a\":", "}", 5000, "1}]}]}");
    pool_init(&pool);
    rc = request(body, strlen(body), &pool, &out, &stream, &err);
    assert_int_equal(rc, AIGW_ADAPTER_INVALID);
    pool_free(&pool);
    free(body);

    /* deep but allowed: a tool input and a schema are copied whole */
    body = nested(HEAD "\"messages\":[{\"role\":\"assistant\",\"content\":"
                  "[{\"type\":\"tool_use\",\"id\":\"a\",\"name\":\"n\","
                  "\"input\":{\"a\":", "[", "]", 1500, "}}]}],"
                  "\"tools\":[{\"name\":\"n\",\"input_schema\":{\"x\":"
                  "[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]}}]}");
    pool_init(&pool);
    rc = request(body, strlen(body), &pool, &out, &stream, &err);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_true(out.len > 3000);
    pool_free(&pool);
    free(body);

    assert_int_equal(j_live, 0);
}


static void
test_request_nomem(void **state)
{
    int                    rc, stream;
    char                  *in;
    long                   n;
    size_t                 len;
    pool_t                 pool;
    aigw_buf_t             out;
    aigw_adapter_error_t   err;

    (void) state;

    in = fixture("request-claude-code.anthropic.json", &len);

    /* jansson failing after n allocations */

    for (n = 0; ; n++) {
        pool_init(&pool);
        j_fail_after = n;

        rc = request(in, len, &pool, &out, &stream, &err);

        j_fail_after = -1;
        pool_free(&pool);
        assert_int_equal(j_live, 0);

        if (rc == AIGW_ADAPTER_OK) {
            break;
        }

        if (rc != AIGW_ADAPTER_NOMEM) {
            fail_msg("jansson failing after %ld: rc %d (%s)", n, rc,
                     err.message);
        }

        assert_string_equal(err.message, "");
    }

    assert_true(n > 50);

    /* the output buffer failing */

    for (n = 0; ; n++) {
        pool_init(&pool);
        pool.fail_after = n;

        rc = request(in, len, &pool, &out, &stream, &err);

        pool_free(&pool);
        assert_int_equal(j_live, 0);

        if (rc == AIGW_ADAPTER_OK) {
            break;
        }

        assert_int_equal(rc, AIGW_ADAPTER_NOMEM);
    }

    /* a bounded buffer */
    pool_init(&pool);
    aigw_buf_init(&out, pool_alloc, &pool, 100);
    rc = aigw_anthropic_in_request((u_char *) in, len, &out, &stream, &err);
    assert_int_equal(rc, AIGW_ADAPTER_TOO_BIG);
    pool_free(&pool);
    assert_int_equal(j_live, 0);

    free(in);
}


/* response */

static int
response(const char *body, size_t len, pool_t *pool, aigw_buf_t *out)
{
    aigw_buf_init(out, pool_alloc, pool, 0);

    return aigw_anthropic_in_response((const u_char *) body, len, &conf,
                                      out);
}


static void
check_response_fixture(const char *name)
{
    int          rc;
    char         in_name[128], out_name[128], *in, *want;
    size_t       in_len, want_len;
    pool_t       pool;
    aigw_buf_t   out;

    (void) snprintf(in_name, sizeof(in_name), "response-%s.openai.json",
                    name);
    (void) snprintf(out_name, sizeof(out_name),
                    "response-%s.anthropic.json", name);

    in = fixture(in_name, &in_len);
    want = fixture(out_name, &want_len);
    pool_init(&pool);

    rc = response(in, in_len, &pool, &out);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_json_equal(out.data, out.len, want, want_len, in_name);

    pool_free(&pool);
    free(in);
    free(want);
    assert_int_equal(j_live, 0);
}


static void
test_response_fixtures(void **state)
{
    (void) state;

    check_response_fixture("text");
    check_response_fixture("tools");
    check_response_fixture("length");
}


static void
check_response(const char *body, const char *want)
{
    int          rc;
    pool_t       pool;
    aigw_buf_t   out;

    pool_init(&pool);

    rc = response(body, strlen(body), &pool, &out);

    if (rc != AIGW_ADAPTER_OK) {
        fail_msg("rc %d for %s", rc, body);
    }

    assert_json_equal(out.data, out.len, want, strlen(want), body);

    pool_free(&pool);
    assert_int_equal(j_live, 0);
}


#define RHEAD  "{\"id\":\"msg_01gw0000\",\"type\":\"message\"," \
               "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\","
#define RZERO  ",\"stop_sequence\":null,\"usage\":{\"input_tokens\":0," \
               "\"output_tokens\":0,\"cache_read_input_tokens\":0," \
               "\"cache_creation_input_tokens\":0}}"


static void
test_response_details(void **state)
{
    (void) state;

    /* arguments that are not an object become {}; a missing id is made */
    check_response("{\"choices\":[{\"message\":{\"content\":null,"
                   "\"tool_calls\":[{\"type\":\"function\",\"function\":"
                   "{\"name\":\"a\",\"arguments\":\"{\\\"x\\\":\"}},"
                   "{\"id\":\"\",\"function\":{\"name\":\"b\","
                   "\"arguments\":\"[1]\"}},"
                   "{\"function\":{\"name\":\"b2\",\"arguments\":\"5\"}},"
                   "{\"function\":{\"name\":\"b3\",\"arguments\":\" \"}},"
                   "{\"type\":\"custom\",\"custom\":{\"name\":\"c\"}},"
                   "{\"id\":\"k\",\"function\":{\"name\":\"d\","
                   "\"arguments\":\"{\\\"y\\\":1.5}\"}}]},"
                   "\"finish_reason\":\"stop\"}]}",
                   RHEAD "\"content\":["
                   "{\"type\":\"tool_use\",\"id\":\"toolu_msg_01gw0000_0\","
                   "\"name\":\"a\",\"input\":{}},"
                   "{\"type\":\"tool_use\",\"id\":\"toolu_msg_01gw0000_1\","
                   "\"name\":\"b\",\"input\":{}},"
                   "{\"type\":\"tool_use\",\"id\":\"toolu_msg_01gw0000_2\","
                   "\"name\":\"b2\",\"input\":{}},"
                   "{\"type\":\"tool_use\",\"id\":\"toolu_msg_01gw0000_3\","
                   "\"name\":\"b3\",\"input\":{}},"
                   "{\"type\":\"tool_use\",\"id\":\"k\","
                   "\"name\":\"d\",\"input\":{\"y\":1.5}}],"
                   "\"stop_reason\":\"tool_use\"" RZERO);

    /* legacy function_call; content_filter; refusal as text */
    check_response("{\"choices\":[{\"message\":{\"content\":\"\","
                   "\"refusal\":\"I can't help with that.\","
                   "\"function_call\":{\"name\":\"f\",\"arguments\":\"{}\"}},"
                   "\"finish_reason\":\"content_filter\"}]}",
                   RHEAD "\"content\":["
                   "{\"type\":\"text\",\"text\":\"I can't help with that.\"},"
                   "{\"type\":\"tool_use\",\"id\":\"toolu_msg_01gw0000_0\","
                   "\"name\":\"f\",\"input\":{}}],"
                   "\"stop_reason\":\"refusal\"" RZERO);

    /* null and unknown finish reasons; "reasoning"; content parts */
    check_response("{\"choices\":[{\"message\":{\"reasoning\":\"r\","
                   "\"reasoning_content\":\"\",\"content\":[{\"type\":"
                   "\"text\",\"text\":\"a\"},{\"type\":\"image_url\"},"
                   "{\"type\":\"text\",\"text\":\"b\"}]},"
                   "\"finish_reason\":null}]}",
                   RHEAD "\"content\":["
                   "{\"type\":\"thinking\",\"thinking\":\"r\","
                   "\"signature\":\"\"},"
                   "{\"type\":\"text\",\"text\":\"a\\n\\nb\"}],"
                   "\"stop_reason\":\"end_turn\"" RZERO);

    check_response("{\"choices\":[{\"message\":{},"
                   "\"finish_reason\":\"eos\"}],\"usage\":{\"prompt_tokens\":"
                   "5,\"completion_tokens\":\"x\",\"prompt_tokens_details\":"
                   "{\"cached_tokens\":9}}}",
                   RHEAD "\"content\":[],\"stop_reason\":\"end_turn\","
                   "\"stop_sequence\":null,\"usage\":{\"input_tokens\":0,"
                   "\"output_tokens\":0,\"cache_read_input_tokens\":9,"
                   "\"cache_creation_input_tokens\":0}}");

    check_response("{\"choices\":[{\"message\":{\"content\":\"x\"},"
                   "\"finish_reason\":\"function_call\"}]}",
                   RHEAD "\"content\":[{\"type\":\"text\",\"text\":\"x\"}],"
                   "\"stop_reason\":\"tool_use\"" RZERO);
}


static void
test_response_invalid(void **state)
{
    int          rc;
    size_t       i;
    pool_t       pool;
    aigw_buf_t   out;

    static const char  *bad[] = {
        "",
        "not json",
        "{\"choices\":",
        "[]",
        "{}",
        "{\"choices\":{}}",
        "{\"choices\":[]}",
        "{\"choices\":[5]}",
        "{\"choices\":[{}]}",
        "{\"choices\":[{\"message\":\"x\"}]}",
        "{\"choices\":[{\"message\":{\"content\":5}}]}",
        "{\"choices\":[{\"message\":{\"tool_calls\":{}}}]}",
        "{\"choices\":[{\"message\":{\"tool_calls\":[5]}}]}",
        "{\"choices\":[{\"message\":{\"tool_calls\":[{\"function\":5}]}}]}",
        "{\"choices\":[{\"message\":{\"tool_calls\":[{\"function\":{}}]}}]}",
        "{\"choices\":[{\"message\":{\"function_call\":\"f\"}}]}",
        "{\"error\":{\"message\":\"x\"}}",
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pool_init(&pool);

        rc = response(bad[i], strlen(bad[i]), &pool, &out);

        if (rc != AIGW_ADAPTER_INVALID) {
            fail_msg("rc %d for %s", rc, bad[i]);
        }

        pool_free(&pool);
        assert_int_equal(j_live, 0);
    }
}


static void
test_response_nomem(void **state)
{
    int          rc;
    long         n;
    char        *in;
    size_t       len;
    pool_t       pool;
    aigw_buf_t   out;

    (void) state;

    in = fixture("response-tools.openai.json", &len);

    for (n = 0; ; n++) {
        pool_init(&pool);
        j_fail_after = n;

        rc = response(in, len, &pool, &out);

        j_fail_after = -1;
        pool_free(&pool);
        assert_int_equal(j_live, 0);

        if (rc == AIGW_ADAPTER_OK) {
            break;
        }

        assert_int_equal(rc, AIGW_ADAPTER_NOMEM);
    }

    for (n = 0; ; n++) {
        pool_init(&pool);
        pool.fail_after = n;

        rc = response(in, len, &pool, &out);

        pool_free(&pool);

        if (rc == AIGW_ADAPTER_OK) {
            break;
        }

        assert_int_equal(rc, AIGW_ADAPTER_NOMEM);
    }

    assert_int_equal(j_live, 0);
    free(in);
}


/* errors */

static void
check_error_fixture(int status, const char *ext)
{
    int          rc;
    char         in_name[128], out_name[128], *in, *want;
    size_t       in_len, want_len;
    pool_t       pool;
    aigw_buf_t   out;

    (void) snprintf(in_name, sizeof(in_name), "error-%d.openai.%s", status,
                    ext);
    (void) snprintf(out_name, sizeof(out_name), "error-%d.anthropic.json",
                    status);

    in = fixture(in_name, &in_len);
    want = fixture(out_name, &want_len);
    pool_init(&pool);
    aigw_buf_init(&out, pool_alloc, &pool, 0);

    rc = aigw_anthropic_in_error(status, (u_char *) in, in_len, &out);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_json_equal(out.data, out.len, want, want_len, in_name);

    pool_free(&pool);
    free(in);
    free(want);
    assert_int_equal(j_live, 0);
}


static void
check_error(int status, const char *body, const char *want)
{
    int          rc;
    pool_t       pool;
    aigw_buf_t   out;

    pool_init(&pool);
    aigw_buf_init(&out, pool_alloc, &pool, 0);

    rc = aigw_anthropic_in_error(status, (const u_char *) body, strlen(body),
                                 &out);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_json_equal(out.data, out.len, want, strlen(want), body);

    pool_free(&pool);
    assert_int_equal(j_live, 0);
}


static void
test_errors(void **state)
{
    int          rc;
    size_t       i;
    pool_t       pool;
    aigw_buf_t   out;

    static const char  *own = "{\"type\":\"error\",\"error\":{\"type\":"
        "\"rate_limit_error\",\"message\":\"key \\\"k\\\" is over its "
        "requests/min limit\"}}";
    static const char  *utf = "{\"type\":\"error\",\"error\":{\"type\":"
        "\"request_too_large\",\"message\":\"error\"}}";

    static const struct {
        int          status;
        const char  *type;
    } types[] = {
        { 400, "invalid_request_error" },
        { 401, "authentication_error" },
        { 402, "billing_error" },
        { 403, "permission_error" },
        { 404, "not_found_error" },
        { 405, "invalid_request_error" },
        { 413, "request_too_large" },
        { 422, "invalid_request_error" },
        { 429, "rate_limit_error" },
        { 500, "api_error" },
        { 502, "api_error" },
        { 503, "overloaded_error" },
        { 504, "timeout_error" },
        { 529, "overloaded_error" },
        { 599, "api_error" },
        { 200, "invalid_request_error" },
    };

    (void) state;

    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        assert_string_equal(aigw_anthropic_error_type(types[i].status),
                            types[i].type);
    }

    check_error_fixture(429, "json");
    check_error_fixture(400, "json");
    check_error_fixture(529, "json");
    check_error_fixture(502, "html");

    check_error(500, "", "{\"type\":\"error\",\"error\":{\"type\":"
                "\"api_error\",\"message\":\"upstream error (HTTP 500)\"}}");
    check_error(503, "{\"error\":\"no capacity\"}",
                "{\"type\":\"error\",\"error\":{\"type\":"
                "\"overloaded_error\",\"message\":\"no capacity\"}}");
    check_error(404, "{\"message\":\"model x not found\"}",
                "{\"type\":\"error\",\"error\":{\"type\":"
                "\"not_found_error\",\"message\":\"model x not found\"}}");
    check_error(400, "{\"error\":{\"message\":\"\"}}",
                "{\"type\":\"error\",\"error\":{\"type\":"
                "\"invalid_request_error\",\"message\":"
                "\"upstream error (HTTP 400)\"}}");
    check_error(422, "[1,2]",
                "{\"type\":\"error\",\"error\":{\"type\":"
                "\"invalid_request_error\",\"message\":"
                "\"upstream error (HTTP 422)\"}}");

    /* an upstream 401 may quote the gateway's upstream key */
    check_error(401, "{\"error\":{\"message\":\"Incorrect API key provided: "
                "sk-proj-****abcd.\",\"type\":\"invalid_request_error\","
                "\"code\":\"invalid_api_key\"}}",
                "{\"type\":\"error\",\"error\":{\"type\":"
                "\"authentication_error\",\"message\":\"the upstream refused "
                "the gateway's credentials (HTTP 401)\"}}");

    /* the gateway's own errors */
    pool_init(&pool);
    aigw_buf_init(&out, pool_alloc, &pool, 0);
    rc = aigw_anthropic_in_error_json(&out, 429,
                                      (const u_char *) "key \"k\" is over its "
                                      "requests/min limit", 38);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_json_equal(out.data, out.len, own, strlen(own), "own 429");

    /* not UTF-8: still valid JSON */
    out.len = 0;
    rc = aigw_anthropic_in_error_json(&out, 413, (const u_char *) "\xff\xfe",
                                      2);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_json_equal(out.data, out.len, utf, strlen(utf), "bad UTF-8");

    /* no memory */
    out.len = 0;
    j_fail_after = 0;
    rc = aigw_anthropic_in_error_json(&out, 500, (const u_char *) "x", 1);
    j_fail_after = -1;
    assert_int_equal(rc, AIGW_ADAPTER_NOMEM);

    j_fail_after = 0;
    rc = aigw_anthropic_in_error(500, (const u_char *) "{\"error\":{}}", 12,
                                 &out);
    j_fail_after = -1;
    assert_int_equal(rc, AIGW_ADAPTER_NOMEM);

    pool_free(&pool);
    assert_int_equal(j_live, 0);
}


/* an output bound anywhere: the whole text or TOO_BIG, never a piece */

static void
test_bounded_output(void **state)
{
    int                    rc, stream;
    char                  *in[3];
    size_t                 len[3], k, max, full;
    json_t                *j;
    pool_t                 pool;
    aigw_buf_t             out;
    aigw_adapter_error_t   err;

    (void) state;

    in[0] = fixture("request-claude-code.anthropic.json", &len[0]);
    in[1] = fixture("response-tools.openai.json", &len[1]);
    in[2] = fixture("error-429.openai.json", &len[2]);

    for (k = 0; k < 3; k++) {
        full = 0;

        for (max = 1; full == 0 || max <= full + 1; max++) {
            pool_init(&pool);
            aigw_buf_init(&out, pool_alloc, &pool, max);

            rc = (k == 0) ? aigw_anthropic_in_request((u_char *) in[k], len[k],
                                                      &out, &stream, &err)
                 : (k == 1) ? aigw_anthropic_in_response((u_char *) in[k],
                                                         len[k], &conf, &out)
                 : aigw_anthropic_in_error(429, (u_char *) in[k], len[k],
                                           &out);

            if (rc == AIGW_ADAPTER_OK) {
                j = json_loadb((char *) out.data, out.len, 0, NULL);

                if (j == NULL) {
                    fail_msg("bound %zu: a cut text: %.*s", max,
                             (int) out.len, out.data);
                }

                json_decref(j);

                if (full == 0) {
                    full = out.len;
                }

            } else {
                assert_int_equal(rc, AIGW_ADAPTER_TOO_BIG);
                assert_int_equal(full, 0);
            }

            pool_free(&pool);
            assert_int_equal(j_live, 0);
        }

        assert_true(full > 0);
    }

    for (k = 0; k < 3; k++) {
        free(in[k]);
    }
}


/* the stream */

typedef struct {
    aigw_anthropic_in_stream_t   st;
    aigw_buf_t                   out;
    pool_t                       pool;    /* the stream's and out's memory */
    size_t                       emits;
    size_t                       abort_at; /* 1-based emit to fail, or 0 */

    /* Anthropic's stream grammar, as checked on every event */
    int                          started;
    int                          open;    /* the open block, or -1 */
    int                          next;    /* the next block's index */
    int                          delta;   /* message_delta sent */
    int                          ended;   /* message_stop or error sent */
} srun_t;


/*
 * message_start, ping, then blocks started, delta'd and stopped one at a
 * time and numbered from 0, message_delta, message_stop; or an error,
 * last, anywhere.
 */

static void
check_grammar(srun_t *r, const char *ev, json_t *j)
{
    int  idx;

    idx = (int) json_integer_value(json_object_get(j, "index"));

    assert_false(r->ended);

    if (strcmp(ev, "error") == 0) {
        r->ended = 1;
        return;
    }

    if (strcmp(ev, "message_start") == 0) {
        assert_false(r->started);
        r->started = 1;
        return;
    }

    assert_true(r->started);

    if (strcmp(ev, "ping") == 0) {
        return;
    }

    if (strcmp(ev, "content_block_start") == 0) {
        assert_int_equal(r->open, -1);
        assert_false(r->delta);
        assert_int_equal(idx, r->next);
        r->open = r->next++;

    } else if (strcmp(ev, "content_block_delta") == 0
               || strcmp(ev, "content_block_stop") == 0)
    {
        assert_int_equal(idx, r->open);
        assert_true(idx >= 0);

        if (strcmp(ev, "content_block_stop") == 0) {
            r->open = -1;
        }

    } else if (strcmp(ev, "message_delta") == 0) {
        assert_int_equal(r->open, -1);
        assert_false(r->delta);
        r->delta = 1;

    } else {
        assert_string_equal(ev, "message_stop");
        assert_true(r->delta);
        r->ended = 1;
    }
}


static int
emit_frame(void *ctx, const u_char *event, size_t event_len,
    const u_char *data, size_t data_len)
{
    long     saved;
    srun_t  *r;

    r = ctx;
    r->emits++;

    /* every event is one JSON object whose "type" is the event's name */
    {
        json_t        *j;
        json_error_t   e;
        char           name[64];

        saved = j_fail_after;
        j_fail_after = -1;

        j = json_loadb((const char *) data, data_len, 0, &e);
        if (j == NULL) {
            fail_msg("event data is not JSON: %.*s", (int) data_len, data);
        }

        assert_true(event_len < sizeof(name));
        memcpy(name, event, event_len);
        name[event_len] = '\0';
        assert_string_equal(json_string_value(json_object_get(j, "type")),
                            name);
        check_grammar(r, name, j);
        json_decref(j);

        j_fail_after = saved;
    }

    if (r->abort_at && r->emits == r->abort_at) {
        return 42;
    }

    return aigw_sse_frame(&r->out, event, event_len, data, data_len);
}


static int
sse_handler(void *data, aigw_sse_event_t *ev)
{
    srun_t  *r;

    r = data;

    /* comments and keep-alives carry no data */
    if (ev->overflow || !ev->has_data) {
        return 0;
    }

    return aigw_anthropic_in_stream_event(&r->st, ev->data, ev->data_len,
                                          emit_frame, r);
}


static void
srun_init(srun_t *r)
{
    memset(r, 0, sizeof(srun_t));
    r->open = -1;
    pool_init(&r->pool);
    aigw_anthropic_in_stream_init(&r->st, &conf, pool_alloc, &r->pool);
    aigw_buf_init(&r->out, pool_alloc, &r->pool, 0);
}


static int
feed_copy(aigw_sse_t *p, const char *in, size_t len)
{
    int     rc;
    char   *b;

    b = malloc(len ? len : 1);
    assert_non_null(b);

    memcpy(b, in, len);
    rc = aigw_sse_feed(p, (u_char *) b, len);
    memset(b, 0xa5, len);
    free(b);

    return rc;
}


/*
 * Runs a whole OpenAI stream cut into pieces of step bytes (0: two
 * pieces cut at "cut"); returns the finish() result, or the first error.
 */

static int
srun(srun_t *r, const char *in, size_t len, size_t step, size_t cut)
{
    int         rc;
    size_t      from, to;
    aigw_sse_t  p;

    srun_init(r);
    aigw_sse_init(&p, MAX_EVENT, pool_alloc, &r->pool, sse_handler, r);

    for (from = 0; from < len; from = to) {
        to = step ? from + step : (from < cut ? cut : len);

        if (to > len) {
            to = len;
        }

        rc = feed_copy(&p, in + from, to - from);
        if (rc != 0) {
            return rc;
        }
    }

    rc = aigw_sse_finish(&p);
    if (rc != 0) {
        return rc;
    }

    return aigw_anthropic_in_stream_finish(&r->st, emit_frame, r);
}


static void
check_stream_fixture(const char *name)
{
    int      rc;
    char     in_name[128], out_name[128], *in, *want;
    size_t   in_len, want_len, cut;
    srun_t   r;

    (void) snprintf(in_name, sizeof(in_name), "stream-%s.openai.sse", name);
    (void) snprintf(out_name, sizeof(out_name), "stream-%s.anthropic.sse",
                    name);

    in = fixture(in_name, &in_len);
    want = fixture(out_name, &want_len);

    /* whole, split in two at every byte, then byte by byte */

    for (cut = 0; cut <= in_len + 1; cut++) {
        rc = (cut <= in_len) ? srun(&r, in, in_len, 0, cut)
                             : srun(&r, in, in_len, 1, 0);

        if (rc != AIGW_ADAPTER_OK) {
            fail_msg("%s cut at %zu: rc %d", name, cut, rc);
        }

        if (r.out.len != want_len
            || memcmp(r.out.data, want, want_len) != 0)
        {
            fail_msg("%s cut at %zu: got\n%.*s\nwant\n%s", name, cut,
                     (int) r.out.len, r.out.data, want);
        }

        assert_int_equal(r.st.stopped, 1);

        /* one event's worth of scratch, whatever the stream's length */
        assert_true(r.st.scratch.cap <= 1024);

        pool_free(&r.pool);
        assert_int_equal(j_live, 0);
    }

    free(in);
    free(want);
}


static void
test_stream_fixtures(void **state)
{
    (void) state;

    check_stream_fixture("tools");
    check_stream_fixture("reasoning");
}


/* feeds chunks (data texts) directly; returns the first nonzero result */

static int
feed_chunks(srun_t *r, const char **chunks, size_t n)
{
    int     rc;
    size_t  i;

    for (i = 0; i < n; i++) {
        rc = aigw_anthropic_in_stream_event(&r->st, (const u_char *) chunks[i],
                                            strlen(chunks[i]), emit_frame, r);
        if (rc != AIGW_ADAPTER_OK) {
            return rc;
        }
    }

    return AIGW_ADAPTER_OK;
}


static void
check_out(srun_t *r, const char *want)
{
    if (r->out.len != strlen(want)
        || memcmp(r->out.data, want, r->out.len) != 0)
    {
        fail_msg("got\n%.*s\nwant\n%s", (int) r->out.len, r->out.data, want);
    }
}


#define EV_START  "event: message_start\ndata: {\"type\":\"message_start\"," \
    "\"message\":{\"id\":\"msg_01gw0000\",\"type\":\"message\",\"role\":" \
    "\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[]," \
    "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":" \
    "{\"input_tokens\":0,\"output_tokens\":0}}}\n\n" \
    "event: ping\ndata: {\"type\":\"ping\"}\n\n"
#define EV_STOP(i)  "event: content_block_stop\ndata: " \
    "{\"type\":\"content_block_stop\",\"index\":" #i "}\n\n"
#define EV_END(reason)  "event: message_delta\ndata: {\"type\":" \
    "\"message_delta\",\"delta\":{\"stop_reason\":\"" reason "\"," \
    "\"stop_sequence\":null},\"usage\":{\"input_tokens\":0," \
    "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0," \
    "\"output_tokens\":0}}\n\n" \
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
#define EV_TEXT(i)  "event: content_block_start\ndata: {\"type\":" \
    "\"content_block_start\",\"index\":" #i ",\"content_block\":" \
    "{\"type\":\"text\",\"text\":\"\"}}\n\n"
#define EV_TD(i, t)  "event: content_block_delta\ndata: {\"type\":" \
    "\"content_block_delta\",\"index\":" #i ",\"delta\":{\"type\":" \
    "\"text_delta\",\"text\":\"" t "\"}}\n\n"
#define EV_TOOL(i, id, name)  "event: content_block_start\ndata: {\"type\":" \
    "\"content_block_start\",\"index\":" #i ",\"content_block\":" \
    "{\"type\":\"tool_use\",\"id\":\"" id "\",\"name\":\"" name "\"," \
    "\"input\":{}}}\n\n"
#define EV_JD(i, t)  "event: content_block_delta\ndata: {\"type\":" \
    "\"content_block_delta\",\"index\":" #i ",\"delta\":{\"type\":" \
    "\"input_json_delta\",\"partial_json\":\"" t "\"}}\n\n"

#define TC(tc)  "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[" tc \
                "]}}]}"


static void
test_stream_details(void **state)
{
    srun_t  r;

    (void) state;

    /* [DONE] alone still makes a whole message */
    {
        static const char  *c[] = { "[DONE]", "{\"choices\":[]}" };

        srun_init(&r);
        assert_int_equal(feed_chunks(&r, c, 2), AIGW_ADAPTER_OK);
        assert_int_equal(aigw_anthropic_in_stream_finish(&r.st, emit_frame,
                                                         &r), 0);
        check_out(&r, EV_START EV_END("end_turn"));
        pool_free(&r.pool);
    }

    /* an error chunk: an error event, then nothing more */
    {
        static const char  *c[] = {
            "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}]}",
            "{\"error\":{\"message\":\"Rate limit reached\","
            "\"type\":\"rate_limit_exceeded\","
            "\"code\":\"rate_limit_exceeded\"}}",
            "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"b\"}}]}",
            "[DONE]",
            "not json",
        };

        srun_init(&r);
        assert_int_equal(feed_chunks(&r, c, 5), AIGW_ADAPTER_OK);
        assert_int_equal(aigw_anthropic_in_stream_finish(&r.st, emit_frame,
                                                         &r), 0);
        check_out(&r, EV_START EV_TEXT(0) EV_TD(0, "a")
                  "event: error\ndata: {\"type\":\"error\",\"error\":"
                  "{\"type\":\"rate_limit_error\",\"message\":"
                  "\"Rate limit reached\"}}\n\n");
        assert_int_equal(r.st.failed, 1);
        pool_free(&r.pool);
    }

    /* error chunks: a status code, a string, no message */
    {
        static const char  *c1[] = {
            "{\"error\":{\"code\":502,\"message\":\"Provider returned error\"}}"
        };
        static const char  *c2[] = { "{\"error\":\"boom\"}" };
        static const char  *c3[] = {
            "{\"error\":{\"type\":\"server_overloaded\"}}"
        };
        static const char  *c4[] = {
            "{\"error\":{\"type\":\"invalid_request_error\",\"message\":\"x\"}}"
        };

        srun_init(&r);
        assert_int_equal(feed_chunks(&r, c1, 1), AIGW_ADAPTER_OK);
        check_out(&r, "event: error\ndata: {\"type\":\"error\",\"error\":"
                  "{\"type\":\"api_error\",\"message\":"
                  "\"Provider returned error\"}}\n\n");
        pool_free(&r.pool);

        srun_init(&r);
        assert_int_equal(feed_chunks(&r, c2, 1), AIGW_ADAPTER_OK);
        check_out(&r, "event: error\ndata: {\"type\":\"error\",\"error\":"
                  "{\"type\":\"api_error\",\"message\":\"boom\"}}\n\n");
        pool_free(&r.pool);

        srun_init(&r);
        assert_int_equal(feed_chunks(&r, c3, 1), AIGW_ADAPTER_OK);
        check_out(&r, "event: error\ndata: {\"type\":\"error\",\"error\":"
                  "{\"type\":\"overloaded_error\",\"message\":"
                  "\"upstream error\"}}\n\n");
        pool_free(&r.pool);

        srun_init(&r);
        assert_int_equal(feed_chunks(&r, c4, 1), AIGW_ADAPTER_OK);
        check_out(&r, "event: error\ndata: {\"type\":\"error\",\"error\":"
                  "{\"type\":\"invalid_request_error\",\"message\":"
                  "\"x\"}}\n\n");
        pool_free(&r.pool);
    }

    /* truncated: no [DONE] */
    {
        static const char  *c[] = {
            "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"},"
            "\"finish_reason\":\"stop\"}]}",
        };

        srun_init(&r);
        assert_int_equal(feed_chunks(&r, c, 1), AIGW_ADAPTER_OK);
        assert_int_equal(aigw_anthropic_in_stream_finish(&r.st, emit_frame,
                                                         &r),
                         AIGW_ADAPTER_INVALID);
        check_out(&r, EV_START EV_TEXT(0) EV_TD(0, "a"));
        pool_free(&r.pool);

        srun_init(&r);
        assert_int_equal(aigw_anthropic_in_stream_finish(&r.st, emit_frame,
                                                         &r),
                         AIGW_ADAPTER_INVALID);
        assert_int_equal(r.out.len, 0);
        pool_free(&r.pool);
    }

    /*
     * Tool calls without index (by position), a missing id, text after,
     * other choices ignored, whitespace data, finish "stop" with tools.
     */
    {
        static const char  *c[] = {
            "{\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":["
            "{\"id\":\"c1\",\"function\":{\"name\":\"f\",\"arguments\":"
            "\"{\\\"a\\\":\"}},"
            "{\"function\":{\"name\":\"g\",\"arguments\":\"{}\"}}]}}]}",
            "{\"choices\":[{\"index\":1,\"delta\":{\"content\":\"other\"}}]}",
            "  \r\n",
            TC("{\"index\":1,\"function\":{\"arguments\":\"\"}}"),
            "{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"t\","
            "\"tool_calls\":null},\"finish_reason\":\"stop\"}],"
            "\"usage\":null}",
            "[DONE]",
        };

        srun_init(&r);
        assert_int_equal(feed_chunks(&r, c, 6), AIGW_ADAPTER_OK);
        check_out(&r, EV_START EV_TOOL(0, "c1", "f") EV_JD(0, "{\\\"a\\\":")
                  EV_STOP(0) EV_TOOL(1, "toolu_msg_01gw0000_1", "g")
                  EV_JD(1, "{}") EV_STOP(1)
                  EV_TEXT(2) EV_TD(2, "t") EV_STOP(2) EV_END("tool_use"));
        pool_free(&r.pool);
    }

    /* arguments interleaved: no delta to a closed block, an error */
    {
        static const char  *c[] = {
            TC("{\"index\":0,\"id\":\"a\",\"function\":{\"name\":\"f\","
               "\"arguments\":\"{\\\"x\\\":\"}}"),
            TC("{\"index\":1,\"id\":\"b\",\"function\":{\"name\":\"g\"}}"),
            TC("{\"index\":0,\"function\":{\"arguments\":\"1}\"}}"),
            "[DONE]",
        };

        srun_init(&r);
        assert_int_equal(feed_chunks(&r, c, 4), AIGW_ADAPTER_OK);
        check_out(&r, EV_START EV_TOOL(0, "a", "f") EV_JD(0, "{\\\"x\\\":")
                  EV_STOP(0) EV_TOOL(1, "b", "g")
                  "event: error\ndata: {\"type\":\"error\",\"error\":"
                  "{\"type\":\"api_error\",\"message\":\"the upstream "
                  "interleaved the arguments of parallel tool calls, which an "
                  "Anthropic stream cannot carry\"}}\n\n");
        assert_int_equal(r.st.failed, 1);
        assert_int_equal(aigw_anthropic_in_stream_finish(&r.st, emit_frame,
                                                         &r), 0);
        pool_free(&r.pool);
    }

    /* the same call's id repeated without a name: still one block */
    {
        static const char  *c[] = {
            TC("{\"index\":0,\"id\":\"c\",\"function\":{\"name\":\"f\"}}"),
            TC("{\"index\":0,\"id\":\"c\",\"function\":{\"arguments\":"
               "\"{}\"}}"),
            TC("{\"index\":0,\"id\":\"c2\",\"function\":{\"name\":\"h\"}}"),
            "{\"choices\":[{\"index\":0,"
            "\"delta\":{},"
            "\"finish_reason\":\"length\"}]}",
            "[DONE]",
        };

        srun_init(&r);
        assert_int_equal(feed_chunks(&r, c, 5), AIGW_ADAPTER_OK);
        check_out(&r, EV_START EV_TOOL(0, "c", "f") EV_JD(0, "{}")
                  EV_STOP(0) EV_TOOL(1, "c2", "h") EV_STOP(1)
                  EV_END("max_tokens"));
        pool_free(&r.pool);
    }

    /* content_filter; refusal as text */
    {
        static const char  *c[] = {
            "{\"choices\":[{\"index\":0,\"delta\":{\"refusal\":\"no\"},"
            "\"finish_reason\":\"content_filter\"}]}",
            "[DONE]",
        };

        srun_init(&r);
        assert_int_equal(feed_chunks(&r, c, 2), AIGW_ADAPTER_OK);
        check_out(&r, EV_START EV_TEXT(0) EV_TD(0, "no") EV_STOP(0)
                  EV_END("refusal"));
        pool_free(&r.pool);
    }
}


static void
test_stream_many_tools(void **state)
{
    int     rc;
    char    chunk[256];
    size_t  i;
    srun_t  r;

    (void) state;

    /* 70 calls, indices past AIGW_ANTHROPIC_IN_TOOLS included */

    srun_init(&r);

    for (i = 0; i < 70; i++) {
        (void) snprintf(chunk, sizeof(chunk),
                        TC("{\"index\":%zu,\"id\":\"c%zu\",\"function\":"
                           "{\"name\":\"f\",\"arguments\":\"\"}}"), i, i);
        rc = aigw_anthropic_in_stream_event(&r.st, (u_char *) chunk,
                                            strlen(chunk), emit_frame, &r);
        assert_int_equal(rc, AIGW_ADAPTER_OK);

        (void) snprintf(chunk, sizeof(chunk),
                        TC("{\"index\":%zu,\"function\":{\"arguments\":"
                           "\"{}\"}}"), i);
        rc = aigw_anthropic_in_stream_event(&r.st, (u_char *) chunk,
                                            strlen(chunk), emit_frame, &r);
        assert_int_equal(rc, AIGW_ADAPTER_OK);
        assert_int_equal(r.st.block, (int) i);
    }

    assert_int_equal(r.st.blocks, 70);

    /* a piece for a big index while text is open: a new block */
    (void) snprintf(chunk, sizeof(chunk),
                    "{\"choices\":[{\"index\":0,\"delta\":{\"content\":"
                    "\"x\"}}]}");
    rc = aigw_anthropic_in_stream_event(&r.st, (u_char *) chunk,
                                        strlen(chunk), emit_frame, &r);
    assert_int_equal(rc, AIGW_ADAPTER_OK);

    (void) snprintf(chunk, sizeof(chunk),
                    TC("{\"index\":1000000,\"function\":{\"arguments\":"
                       "\"{}\"}}"));
    rc = aigw_anthropic_in_stream_event(&r.st, (u_char *) chunk,
                                        strlen(chunk), emit_frame, &r);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_int_equal(r.st.blocks, 72);
    assert_int_equal(r.st.block_kind, 3);

    rc = aigw_anthropic_in_stream_event(&r.st, (u_char *) "[DONE]", 6,
                                        emit_frame, &r);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_int_equal(r.st.stopped, 1);

    assert_non_null(strstr((char *) r.out.data,
                           "\"id\":\"c69\",\"name\":\"f\""));
    assert_non_null(strstr((char *) r.out.data,
                           "\"id\":\"toolu_msg_01gw0000_71\""));

    pool_free(&r.pool);
    assert_int_equal(j_live, 0);
}


static void
test_stream_invalid(void **state)
{
    int     rc;
    size_t  i;
    srun_t  r;

    static const char  *bad[] = {
        "not json",
        "{\"choices\":",
        "5",
        "[]",
        "\"x\"",
        "{\"choices\":{}}",
        "{\"choices\":[5]}",
        "{\"choices\":[{\"delta\":5}]}",
        "{\"choices\":[{\"delta\":{\"tool_calls\":{}}}]}",
        "{\"choices\":[{\"delta\":{\"tool_calls\":[5]}}]}",
        TC("{\"index\":-1}"),
        TC("{\"index\":\"0\"}"),
        TC("{\"index\":0,\"function\":5}"),
        TC("{\"index\":0,\"id\":5}"),
        TC("{\"index\":0,\"function\":{\"name\":5}}"),
        TC("{\"index\":0,\"function\":{\"arguments\":{}}}"),
    };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        srun_init(&r);

        rc = aigw_anthropic_in_stream_event(&r.st, (const u_char *) bad[i],
                                            strlen(bad[i]), emit_frame, &r);
        if (rc != AIGW_ADAPTER_INVALID) {
            fail_msg("rc %d for %s", rc, bad[i]);
        }

        assert_int_equal(aigw_anthropic_in_stream_finish(&r.st, emit_frame,
                                                         &r),
                         AIGW_ADAPTER_INVALID);

        pool_free(&r.pool);
        assert_int_equal(j_live, 0);
    }
}


static void
test_stream_nomem(void **state)
{
    int      rc;
    long     n;
    char    *in;
    size_t   len;
    srun_t   r;

    (void) state;

    in = fixture("stream-tools.openai.sse", &len);

    /* jansson failing: the chunk cannot be read */

    for (n = 0; ; n++) {
        j_fail_after = n;
        rc = srun(&r, in, len, 0, 0);
        j_fail_after = -1;

        pool_free(&r.pool);
        assert_int_equal(j_live, 0);

        if (rc == AIGW_ADAPTER_OK) {
            break;
        }

        assert_int_equal(rc, AIGW_ADAPTER_NOMEM);
    }

    /* the pool failing: the SSE parser's or the scratch's memory */

    for (n = 0; ; n++) {
        srun_init(&r);
        r.pool.fail_after = n;

        rc = aigw_anthropic_in_stream_event(&r.st, (u_char *) "[DONE]", 6,
                                            emit_frame, &r);
        pool_free(&r.pool);

        if (rc == AIGW_ADAPTER_OK) {
            break;
        }

        assert_int_equal(rc, AIGW_ADAPTER_NOMEM);
    }

    for (n = 0; n < 40; n++) {
        srun_init(&r);
        r.pool.fail_after = n;

        {
            aigw_sse_t  p;

            aigw_sse_init(&p, MAX_EVENT, pool_alloc, &r.pool, sse_handler,
                          &r);
            rc = aigw_sse_feed(&p, (u_char *) in, len);

            if (rc == 0) {
                rc = aigw_sse_finish(&p);
            }
        }

        /* -1 is the parser's own failure, -2 the translator's */
        assert_true(rc == 0 || rc == -1 || rc == AIGW_ADAPTER_NOMEM);

        pool_free(&r.pool);
        assert_int_equal(j_live, 0);
    }

    free(in);
}


static void
test_stream_emit_abort(void **state)
{
    int      rc;
    char    *in;
    size_t   len, i;
    srun_t   r;

    (void) state;

    in = fixture("stream-tools.openai.sse", &len);

    /* whatever emit returns stops the translator and comes back */

    for (i = 1; i <= 15; i++) {
        srun_init(&r);
        r.abort_at = i;

        {
            aigw_sse_t  p;

            aigw_sse_init(&p, MAX_EVENT, pool_alloc, &r.pool, sse_handler,
                          &r);
            rc = aigw_sse_feed(&p, (u_char *) in, len);
        }

        assert_int_equal(rc, 42);
        assert_int_equal(r.emits, i);

        pool_free(&r.pool);
        assert_int_equal(j_live, 0);
    }

    free(in);
}

static uint32_t
rnd(uint32_t *seed)
{
    /* xorshift32: deterministic, so failures reproduce */
    *seed ^= *seed << 13;
    *seed ^= *seed >> 17;
    *seed ^= *seed << 5;

    return *seed;
}


/* bytes that matter to JSON, to mutate with */

static const char  fuzz_bytes[] = "{}[]\",:0-1.e\\ntu ";


static void
mutate(char *b, size_t len, uint32_t *seed)
{
    size_t  k, n;

    n = 1 + rnd(seed) % 4;

    for (k = 0; k < n && len; k++) {
        b[rnd(seed) % len] = (rnd(seed) % 3)
                             ? fuzz_bytes[rnd(seed) % (sizeof(fuzz_bytes) - 1)]
                             : (char) rnd(seed);
    }
}


static void
test_fuzz(void **state)
{
    int                    rc, stream;
    char                  *in[4], *b;
    size_t                 len[4], i, k, cut;
    pool_t                 pool;
    srun_t                 r;
    uint32_t               seed;
    aigw_buf_t             out;
    aigw_adapter_error_t   err;

    (void) state;

    in[0] = fixture("request-claude-code.anthropic.json", &len[0]);
    in[1] = fixture("response-tools.openai.json", &len[1]);
    in[2] = fixture("stream-tools.openai.sse", &len[2]);
    in[3] = fixture("error-429.openai.json", &len[3]);

    seed = 0x9e3779b9;

    for (i = 0; i < 1500; i++) {
        k = i % 4;

        b = malloc(len[k]);
        assert_non_null(b);
        memcpy(b, in[k], len[k]);
        mutate(b, len[k], &seed);

        /* sometimes cut short as well */
        cut = (rnd(&seed) % 4 == 0) ? rnd(&seed) % (len[k] + 1) : len[k];

        pool_init(&pool);
        aigw_buf_init(&out, pool_alloc, &pool, 0);

        switch (k) {
        case 0:
            rc = aigw_anthropic_in_request((u_char *) b, cut, &out, &stream,
                                           &err);
            assert_true(rc == AIGW_ADAPTER_OK
                        || rc == AIGW_ADAPTER_INVALID);
            break;

        case 1:
            rc = aigw_anthropic_in_response((u_char *) b, cut, &conf, &out);
            assert_true(rc == AIGW_ADAPTER_OK
                        || rc == AIGW_ADAPTER_INVALID);
            break;

        case 2:
            rc = srun(&r, b, cut, 0, rnd(&seed) % (cut + 1));
            assert_true(rc == AIGW_ADAPTER_OK || rc == AIGW_ADAPTER_INVALID);
            pool_free(&r.pool);
            break;

        default:
            rc = aigw_anthropic_in_error(500, (u_char *) b, cut, &out);
            assert_int_equal(rc, AIGW_ADAPTER_OK);
            break;
        }

        /* whatever came out is JSON (or an SSE text checked by emit) */
        if (k != 2 && rc == AIGW_ADAPTER_OK) {
            json_t        *j;
            json_error_t   e;

            j = json_loadb((char *) out.data, out.len, 0, &e);
            assert_non_null(j);
            json_decref(j);
        }

        pool_free(&pool);
        free(b);
        assert_int_equal(j_live, 0);
    }

    for (k = 0; k < 4; k++) {
        free(in[k]);
    }
}



int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_request_fixtures),
        cmocka_unit_test(test_request_details),
        cmocka_unit_test(test_request_errors),
        cmocka_unit_test(test_request_deep),
        cmocka_unit_test(test_request_nomem),
        cmocka_unit_test(test_response_fixtures),
        cmocka_unit_test(test_response_details),
        cmocka_unit_test(test_response_invalid),
        cmocka_unit_test(test_response_nomem),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_bounded_output),
        cmocka_unit_test(test_stream_fixtures),
        cmocka_unit_test(test_stream_details),
        cmocka_unit_test(test_stream_many_tools),
        cmocka_unit_test(test_stream_invalid),
        cmocka_unit_test(test_stream_nomem),
        cmocka_unit_test(test_stream_emit_abort),
        cmocka_unit_test(test_fuzz),
    };

    json_set_alloc_funcs(j_malloc, j_free);

    return cmocka_run_group_tests(tests, NULL, NULL);
}
