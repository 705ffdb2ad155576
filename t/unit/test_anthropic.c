/*
 * Unit tests for src/aigw_anthropic.c (cmocka).
 *
 * Golden fixtures live in t/fixtures/anthropic/ (found from this file's
 * path, or from -DAIGW_ANTHROPIC_FIXTURES="dir/"): JSON bodies compare
 * semantically, stream output byte for byte.  Streams go through the real
 * SSE parser, split at every byte and byte by byte.  jansson's allocator
 * and the pool can be made to fail after N allocations: every failure must
 * come back as an error code, with nothing leaked (run under valgrind).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "aigw_anthropic.h"
#include "aigw_sse.h"


#define MODEL      "claude-sonnet-4-5-20250929"
#define CREATED    1700000000
#define MAX_EVENT  65536


typedef struct {
    void      **ptr;
    size_t      n;
    size_t      cap;
    size_t      total;
    long        fail_after;     /* -1: never */
} pool_t;


typedef struct {
    aigw_anthropic_stream_t  st;
    aigw_sse_t               sse;
    pool_t                   pool;      /* the adapter's (may fail) */
    pool_t                   opool;     /* the test's output */
    aigw_buf_t               out;       /* what emit got, SSE-framed */
    size_t                   emits;
    size_t                   fail_emit_at;  /* 1-based; 0: never */
    int                      null_emit;
} run_t;


/* jansson's allocator: fails after json_fail_after allocations */

static long  json_fail_after = -1;
static long  json_allocs;


static void *
test_json_malloc(size_t size)
{
    if (json_fail_after >= 0) {
        if (json_allocs >= json_fail_after) {
            return NULL;
        }

        json_allocs++;
    }

    return malloc(size);
}


static void
json_fail_at(long n)
{
    json_allocs = 0;
    json_fail_after = n;
}


static void *
test_alloc(void *pool, size_t size)
{
    void    *p;
    pool_t  *tp;

    tp = pool;

    if (tp->fail_after >= 0 && (long) tp->n >= tp->fail_after) {
        return NULL;
    }

    if (tp->n == tp->cap) {
        tp->cap = tp->cap ? tp->cap * 2 : 16;
        tp->ptr = realloc(tp->ptr, tp->cap * sizeof(void *));
        assert_non_null(tp->ptr);
    }

    p = malloc(size);
    assert_non_null(p);

    tp->ptr[tp->n++] = p;
    tp->total += size;

    return p;
}


static void
pool_init(pool_t *p, long fail_after)
{
    memset(p, 0, sizeof(pool_t));
    p->fail_after = fail_after;
}


static void
pool_free(pool_t *p)
{
    size_t  i;

    for (i = 0; i < p->n; i++) {
        free(p->ptr[i]);
    }

    free(p->ptr);
    memset(p, 0, sizeof(pool_t));
}


/* fixtures */

static char *
fixture(const char *name, size_t *len)
{
    long         n;
    FILE        *f;
    char        *buf, path[1024];
    const char  *slash;

#ifdef AIGW_ANTHROPIC_FIXTURES
    (void) slash;
    snprintf(path, sizeof(path), "%s%s", AIGW_ANTHROPIC_FIXTURES, name);
#else
    slash = strrchr(__FILE__, '/');

    if (slash) {
        snprintf(path, sizeof(path), "%.*s/../fixtures/anthropic/%s",
                 (int) (slash - __FILE__), __FILE__, name);
    } else {
        snprintf(path, sizeof(path), "../fixtures/anthropic/%s", name);
    }
#endif

    f = fopen(path, "rb");

    if (f == NULL) {
        /* run from t/unit/ */
        snprintf(path, sizeof(path), "../fixtures/anthropic/%s", name);
        f = fopen(path, "rb");
    }

    if (f == NULL) {
        fail_msg("cannot open fixture %s", name);
    }

    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    assert_int_equal(fseek(f, 0, SEEK_SET), 0);

    buf = malloc(n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, n, f), (size_t) n);
    buf[n] = '\0';
    fclose(f);

    *len = n;

    return buf;
}


static void
check_json(const u_char *got, size_t got_len, const char *expected)
{
    char          *exp, *a, *b;
    size_t         len;
    json_t        *g, *e;
    json_error_t   err;

    exp = fixture(expected, &len);

    g = json_loadb((const char *) got, got_len, 0, &err);
    if (g == NULL) {
        fail_msg("output is not JSON (%s): %.*s", err.text, (int) got_len,
                 got);
    }

    e = json_loadb(exp, len, 0, &err);
    if (e == NULL) {
        fail_msg("fixture %s is not JSON: %s", expected, err.text);
    }

    if (!json_equal(g, e)) {
        a = json_dumps(g, JSON_INDENT(2));
        b = json_dumps(e, JSON_INDENT(2));
        print_error("got:\n%s\nexpected (%s):\n%s\n", a, expected, b);
        free(a);
        free(b);
        fail();
    }

    json_decref(g);
    json_decref(e);
    free(exp);
}


/* request */

static int
request(const char *body, size_t len, const char *model, int64_t dflt,
    pool_t *pool, aigw_buf_t *out, int *stream, aigw_adapter_error_t *err)
{
    aigw_adapter_req_t  req;

    req.model = (const u_char *) model;
    req.model_len = model ? strlen(model) : 0;
    req.default_max_tokens = dflt;

    aigw_buf_init(out, test_alloc, pool, 0);
    memset(err, 0, sizeof(aigw_adapter_error_t));

    return aigw_anthropic_request((const u_char *) body, len, &req, out,
                                  stream, err);
}


static void
check_request(const char *name, int64_t dflt, int expect_stream)
{
    int                   rc, stream;
    char                  in[128], exp[128], *body;
    size_t                len;
    pool_t                pool;
    aigw_buf_t            out;
    aigw_adapter_error_t  err;

    snprintf(in, sizeof(in), "request-%s.openai.json", name);
    snprintf(exp, sizeof(exp), "request-%s.anthropic.json", name);

    body = fixture(in, &len);
    pool_init(&pool, -1);

    rc = request(body, len, MODEL, dflt, &pool, &out, &stream, &err);
    if (rc != AIGW_ADAPTER_OK) {
        fail_msg("%s: rc %d, param \"%s\": %s", in, rc, err.param,
                 err.message);
    }

    assert_int_equal(stream, expect_stream);
    check_json(out.data, out.len, exp);

    pool_free(&pool);
    free(body);
}


static void
test_request_golden(void **state)
{
    (void) state;

    check_request("basic", 1000, 1);
    check_request("tools", 1000, 0);
    check_request("merge", 0, 0);
}


static void
test_request_model_from_body(void **state)
{
    int                   rc, stream;
    json_t               *j;
    pool_t                pool;
    aigw_buf_t            out;
    const char           *body;
    aigw_adapter_error_t  err;

    (void) state;

    /* no upstream name configured: the client's model goes upstream */

    body = "{\"model\":\"claude-x\",\"messages\":[{\"role\":\"user\","
           "\"content\":\"hi\"}],\"max_tokens\":5}";

    pool_init(&pool, -1);
    rc = request(body, strlen(body), NULL, 0, &pool, &out, &stream, &err);
    assert_int_equal(rc, AIGW_ADAPTER_OK);

    j = json_loadb((const char *) out.data, out.len, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "model")),
                        "claude-x");
    assert_int_equal(json_integer_value(json_object_get(j, "max_tokens")),
                     5);
    assert_null(json_object_get(j, "stream"));
    json_decref(j);
    pool_free(&pool);

    body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

    pool_init(&pool, -1);
    rc = request(body, strlen(body), NULL, 0, &pool, &out, &stream, &err);
    assert_int_equal(rc, AIGW_ADAPTER_INVALID);
    assert_string_equal(err.param, "model");
    pool_free(&pool);
}


static void
test_request_thinking(void **state)
{
    int                   rc, stream;
    json_t               *j;
    pool_t                pool;
    size_t                i;
    aigw_buf_t            out;
    aigw_adapter_error_t  err;

    static const struct {
        const char  *body;
        int64_t      dflt;
        int64_t      max_tokens;
        int64_t      budget;       /* 0: no thinking */
    } cases[] = {
        /* max_tokens above the budget stays */
        { "\"reasoning_effort\":\"high\",\"max_tokens\":20000", 0,
          20000, 16384 },
        /* at or below it: budget + default */
        { "\"reasoning_effort\":\"high\",\"max_tokens\":16384", 0,
          16384 + 4096, 16384 },
        { "\"reasoning_effort\":\"low\"", 512, 1024 + 512, 1024 },
        { "\"reasoning_effort\":\"medium\",\"max_tokens\":4097", 0,
          4097, 4096 },
        { "\"reasoning_effort\":\"minimal\"", 0, 4096, 0 },
        { "\"reasoning_effort\":\"none\",\"max_tokens\":7", 0, 7, 0 },
        { "\"reasoning_effort\":null", -5, 4096, 0 },
        { "\"max_completion_tokens\":null,\"max_tokens\":9", 0, 9, 0 },
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char  body[512];

        snprintf(body, sizeof(body), "{\"messages\":[{\"role\":\"user\","
                 "\"content\":\"hi\"}],%s}", cases[i].body);

        pool_init(&pool, -1);
        rc = request(body, strlen(body), MODEL, cases[i].dflt, &pool, &out,
                     &stream, &err);
        assert_int_equal(rc, AIGW_ADAPTER_OK);

        j = json_loadb((const char *) out.data, out.len, 0, NULL);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j,
                                                            "max_tokens")),
                         cases[i].max_tokens);

        if (cases[i].budget) {
            assert_int_equal(json_integer_value(json_object_get(
                                 json_object_get(j, "thinking"),
                                 "budget_tokens")),
                             cases[i].budget);
            assert_string_equal(json_string_value(json_object_get(
                                    json_object_get(j, "thinking"), "type")),
                                "enabled");
        } else {
            assert_null(json_object_get(j, "thinking"));
        }

        json_decref(j);
        pool_free(&pool);
    }
}


static void
test_request_tool_choice(void **state)
{
    int                   rc, stream;
    char                  body[512];
    json_t               *j, *exp;
    pool_t                pool;
    size_t                i;
    aigw_buf_t            out;
    aigw_adapter_error_t  err;

    static const struct {
        const char  *extra;
        const char  *choice;       /* expected tool_choice, NULL: none */
    } cases[] = {
        { "\"tool_choice\":\"auto\"", "{\"type\":\"auto\"}" },
        { "\"tool_choice\":\"none\"", "{\"type\":\"none\"}" },
        { "\"tool_choice\":\"none\",\"parallel_tool_calls\":false",
          "{\"type\":\"none\"}" },
        { "\"tool_choice\":\"required\",\"parallel_tool_calls\":true",
          "{\"type\":\"any\"}" },
        { "\"parallel_tool_calls\":false",
          "{\"type\":\"auto\",\"disable_parallel_tool_use\":true}" },
        { "\"tool_choice\":\"required\",\"parallel_tool_calls\":false",
          "{\"type\":\"any\",\"disable_parallel_tool_use\":true}" },
        { "\"tool_choice\":null", NULL },
        { "", NULL },
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(body, sizeof(body), "{\"messages\":[{\"role\":\"user\","
                 "\"content\":\"hi\"}],\"tools\":[{\"type\":\"function\","
                 "\"function\":{\"name\":\"f\"}}]%s%s}",
                 cases[i].extra[0] ? "," : "", cases[i].extra);

        pool_init(&pool, -1);
        rc = request(body, strlen(body), MODEL, 0, &pool, &out, &stream,
                     &err);
        assert_int_equal(rc, AIGW_ADAPTER_OK);

        j = json_loadb((const char *) out.data, out.len, 0, NULL);
        assert_non_null(j);

        if (cases[i].choice) {
            exp = json_loads(cases[i].choice, 0, NULL);
            assert_true(json_equal(json_object_get(j, "tool_choice"), exp));
            json_decref(exp);

        } else {
            assert_null(json_object_get(j, "tool_choice"));
        }

        json_decref(j);
        pool_free(&pool);
    }

    /* no tools: no tool_choice, whatever the client said */

    snprintf(body, sizeof(body), "{\"messages\":[{\"role\":\"user\","
             "\"content\":\"hi\"}],\"tools\":[],\"tool_choice\":"
             "\"required\",\"parallel_tool_calls\":false}");

    pool_init(&pool, -1);
    rc = request(body, strlen(body), MODEL, 0, &pool, &out, &stream, &err);
    assert_int_equal(rc, AIGW_ADAPTER_OK);

    j = json_loadb((const char *) out.data, out.len, 0, NULL);
    assert_non_null(j);
    assert_null(json_object_get(j, "tools"));
    assert_null(json_object_get(j, "tool_choice"));
    json_decref(j);
    pool_free(&pool);
}


static void
test_request_images(void **state)
{
    int                   rc, stream;
    char                  body[512];
    json_t               *j, *src;
    pool_t                pool;
    size_t                i;
    aigw_buf_t            out;
    aigw_adapter_error_t  err;

    static const struct {
        const char  *part;
        const char  *type;
        const char  *a;            /* media_type or url */
        const char  *b;            /* data */
    } cases[] = {
        { "{\"type\":\"image_url\",\"image_url\":{\"url\":"
          "\"data:image/jpeg;base64,/9j/4AAQ\"}}",
          "base64", "image/jpeg", "/9j/4AAQ" },
        { "{\"type\":\"image_url\",\"image_url\":{\"url\":"
          "\"DATA:image/webp;name=x.webp;BASE64,UklGR\"}}",
          "base64", "image/webp", "UklGR" },
        { "{\"type\":\"image_url\",\"image_url\":"
          "\"HTTPS://example.com/a.gif?x=1\"}",
          "url", "HTTPS://example.com/a.gif?x=1", NULL },
        { "{\"type\":\"image_url\",\"image_url\":{\"url\":"
          "\"http://example.com/b.png\"},\"cache_control\":"
          "{\"type\":\"ephemeral\"}}",
          "url", "http://example.com/b.png", NULL },
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(body, sizeof(body), "{\"messages\":[{\"role\":\"user\","
                 "\"content\":[%s]}]}", cases[i].part);

        pool_init(&pool, -1);
        rc = request(body, strlen(body), MODEL, 0, &pool, &out, &stream,
                     &err);
        if (rc != AIGW_ADAPTER_OK) {
            fail_msg("case %zu: %s %s", i, err.param, err.message);
        }

        j = json_loadb((const char *) out.data, out.len, 0, NULL);
        assert_non_null(j);

        src = json_object_get(json_array_get(json_object_get(
                  json_array_get(json_object_get(j, "messages"), 0),
                  "content"), 0), "source");

        assert_string_equal(json_string_value(json_object_get(src, "type")),
                            cases[i].type);

        if (cases[i].b) {
            assert_string_equal(json_string_value(json_object_get(src,
                                    "media_type")), cases[i].a);
            assert_string_equal(json_string_value(json_object_get(src,
                                    "data")), cases[i].b);
        } else {
            assert_string_equal(json_string_value(json_object_get(src,
                                    "url")), cases[i].a);
        }

        json_decref(j);
        pool_free(&pool);
    }
}


typedef struct {
    const char  *body;
    const char  *param;
} bad_t;


static void
check_bad_requests(const bad_t *cases, size_t n)
{
    int                   rc, stream;
    pool_t                pool;
    size_t                i;
    aigw_buf_t            out;
    aigw_adapter_error_t  err;

    for (i = 0; i < n; i++) {
        pool_init(&pool, -1);

        rc = request(cases[i].body, strlen(cases[i].body), MODEL, 0, &pool,
                     &out, &stream, &err);

        if (rc != AIGW_ADAPTER_INVALID
            || strcmp(err.param, cases[i].param) != 0)
        {
            fail_msg("case %zu (%s): rc %d, param \"%s\" (expected \"%s\"):"
                     " %s", i, cases[i].body, rc, err.param, cases[i].param,
                     err.message);
        }

        /* a sentence for the client, and nothing written */
        assert_true(strlen(err.message) > 10);
        assert_int_equal(err.message[strlen(err.message) - 1], '.');
        assert_int_equal(out.len, 0);

        pool_free(&pool);
    }
}


#define M(x)  "{\"messages\":[" x "]}"
#define U     "{\"role\":\"user\",\"content\":\"hi\"}"
#define A(x)  "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":" x "}"
#define TC(f) "[{\"id\":\"t1\",\"type\":\"function\",\"function\":" f "}]"


static void
test_request_bad(void **state)
{
    static const bad_t  cases[] = {
        { "", "" },
        { "{\"messages\":[", "" },
        { "[]", "" },
        { "\"messages\"", "" },
        { "{}", "messages" },
        { "{\"messages\":null}", "messages" },
        { "{\"messages\":{}}", "messages" },
        { "{\"messages\":[]}", "messages" },
        { M("1"), "messages[0]" },
        { M(U ",[]"), "messages[1]" },
        { M("{\"content\":\"hi\"}"), "messages[0].role" },
        { M("{\"role\":7,\"content\":\"hi\"}"), "messages[0].role" },
        { M("{\"role\":\"function\",\"content\":\"hi\"}"),
          "messages[0].role" },
        { M("{\"role\":\"user\"}"), "messages[0].content" },
        { M("{\"role\":\"user\",\"content\":null}"), "messages[0].content" },
        { M("{\"role\":\"user\",\"content\":42}"), "messages[0].content" },
        { M("{\"role\":\"user\",\"content\":{\"text\":\"x\"}}"),
          "messages[0].content" },
        { M(U "," U "," U ",{\"role\":\"user\",\"content\":true}"),
          "messages[3].content" },
        { M("{\"role\":\"system\",\"content\":5}," U),
          "messages[0].content" },
        { M("{\"role\":\"system\"}," U), "messages[0].content" },
        { M("{\"role\":\"user\",\"content\":[\"hi\"]}"),
          "messages[0].content[0]" },
        { M("{\"role\":\"user\",\"content\":[{\"text\":\"hi\"}]}"),
          "messages[0].content[0].type" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}"),
          "messages[0].content[0].text" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"text\","
            "\"text\":3}]}"),
          "messages[0].content[0].text" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"text\","
            "\"text\":\"a\"},{\"type\":\"input_audio\",\"input_audio\":"
            "{}}]}"),
          "messages[0].content[1].type" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"file\"}]}"),
          "messages[0].content[0].type" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"refusal\","
            "\"refusal\":\"no\"}]}"),
          "messages[0].content[0].type" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}"),
          "messages[0].content[0].image_url.url" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":5}}]}"),
          "messages[0].content[0].image_url.url" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":\"ftp://x/y.png\"}}]}"),
          "messages[0].content[0].image_url.url" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":\"file:///etc/passwd\"}}]}"),
          "messages[0].content[0].image_url.url" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":\"data:image/png,rawbytes\"}}]}"),
          "messages[0].content[0].image_url.url" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":\"data:;base64,AAAA\"}}]}"),
          "messages[0].content[0].image_url.url" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":\"data:image/png;base64,\"}}]}"),
          "messages[0].content[0].image_url.url" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":\"https://\"}}]}"),
          "messages[0].content[0].image_url.url" },
        { M(U ",{\"role\":\"assistant\",\"content\":[{\"type\":"
            "\"image_url\",\"image_url\":{\"url\":\"https://x/y\"}}]}"),
          "messages[1].content[0].type" },
        { M("{\"role\":\"system\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":\"https://x/y\"}}]}," U),
          "messages[0].content[0].type" },
        { M(U ",{\"role\":\"assistant\",\"content\":5}"),
          "messages[1].content" },
        { M(U "," A("{}")), "messages[1].tool_calls" },
        { M(U "," A("[5]")), "messages[1].tool_calls[0]" },
        { M(U "," A("[{\"type\":\"function\",\"function\":{\"name\":\"f\","
                    "\"arguments\":\"{}\"}}]")),
          "messages[1].tool_calls[0].id" },
        { M(U "," A("[{\"id\":\"\",\"function\":{\"name\":\"f\"}}]")),
          "messages[1].tool_calls[0].id" },
        { M(U "," A("[{\"id\":\"t\",\"type\":\"custom\",\"function\":"
                    "{\"name\":\"f\"}}]")),
          "messages[1].tool_calls[0].type" },
        { M(U "," A("[{\"id\":\"t\",\"type\":\"function\"}]")),
          "messages[1].tool_calls[0].function" },
        { M(U "," A(TC("{\"arguments\":\"{}\"}"))),
          "messages[1].tool_calls[0].function.name" },
        { M(U "," A(TC("{\"name\":\"f\",\"arguments\":{\"a\":1}}"))),
          "messages[1].tool_calls[0].function.arguments" },
        { M(U "," A(TC("{\"name\":\"f\",\"arguments\":\"{not json\"}"))),
          "messages[1].tool_calls[0].function.arguments" },
        { M(U "," A(TC("{\"name\":\"f\",\"arguments\":\"[1,2]\"}"))),
          "messages[1].tool_calls[0].function.arguments" },
        { M(U "," A(TC("{\"name\":\"f\",\"arguments\":\"\\\"s\\\"\"}"))),
          "messages[1].tool_calls[0].function.arguments" },
        { M(U "," A(TC("{\"name\":\"f\",\"arguments\":\"{} {}\"}"))),
          "messages[1].tool_calls[0].function.arguments" },
        { M(U "," A("[{\"id\":\"a\",\"function\":{\"name\":\"f\"}},"
                    "{\"id\":\"b\",\"function\":{\"name\":\"g\","
                    "\"arguments\":\"nope\"}}]")),
          "messages[1].tool_calls[1].function.arguments" },
        { M(U ",{\"role\":\"tool\",\"content\":\"x\"}"),
          "messages[1].tool_call_id" },
        { M(U ",{\"role\":\"tool\",\"tool_call_id\":1,\"content\":\"x\"}"),
          "messages[1].tool_call_id" },
        { M(U ",{\"role\":\"tool\",\"tool_call_id\":\"t\"}"),
          "messages[1].content" },
        { M(U ",{\"role\":\"tool\",\"tool_call_id\":\"t\",\"content\":7}"),
          "messages[1].content" },
        { M(U ",{\"role\":\"tool\",\"tool_call_id\":\"t\",\"content\":"
            "[{\"type\":\"image_url\",\"image_url\":\"https://x/y\"}]}"),
          "messages[1].content[0].type" },

        /* the conversation itself */
        { M("{\"role\":\"assistant\",\"content\":\"hi\"}"), "messages[0]" },
        { M("{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\","
            "\"content\":\"\"},{\"role\":\"assistant\",\"content\":\"hi\"}"),
          "messages[2]" },
        { M("{\"role\":\"system\",\"content\":\"s\"}"), "messages" },
        { M("{\"role\":\"user\",\"content\":\"\"}"), "messages" },
        { M("{\"role\":\"user\",\"content\":[]}"), "messages" },

        /* top-level members */
        { "{\"messages\":[" U "],\"n\":2}", "n" },
        { "{\"messages\":[" U "],\"n\":\"1\"}", "n" },
        { "{\"messages\":[" U "],\"n\":1.0}", "n" },
        { "{\"messages\":[" U "],\"max_tokens\":\"100\"}", "max_tokens" },
        { "{\"messages\":[" U "],\"max_tokens\":0}", "max_tokens" },
        { "{\"messages\":[" U "],\"max_tokens\":1.5}", "max_tokens" },
        { "{\"messages\":[" U "],\"max_tokens\":10,"
          "\"max_completion_tokens\":-1}", "max_completion_tokens" },
        { "{\"messages\":[" U "],\"temperature\":\"hot\"}", "temperature" },
        { "{\"messages\":[" U "],\"top_p\":[]}", "top_p" },
        { "{\"messages\":[" U "],\"top_k\":1.5}", "top_k" },
        { "{\"messages\":[" U "],\"top_k\":-1}", "top_k" },
        { "{\"messages\":[" U "],\"stream\":\"yes\"}", "stream" },
        { "{\"messages\":[" U "],\"stream\":1}", "stream" },
        { "{\"messages\":[" U "],\"stop\":5}", "stop" },
        { "{\"messages\":[" U "],\"stop\":[\"a\",1]}", "stop" },
        { "{\"messages\":[" U "],\"user\":5}", "user" },
        { "{\"messages\":[" U "],\"reasoning_effort\":\"extreme\"}",
          "reasoning_effort" },
        { "{\"messages\":[" U "],\"reasoning_effort\":3}",
          "reasoning_effort" },
        { "{\"messages\":[" U "],\"parallel_tool_calls\":\"no\"}",
          "parallel_tool_calls" },
        { "{\"messages\":[" U "],\"tools\":{}}", "tools" },
        { "{\"messages\":[" U "],\"tools\":[3]}", "tools[0]" },
        { "{\"messages\":[" U "],\"tools\":[{\"function\":{\"name\":"
          "\"f\"}}]}", "tools[0].type" },
        { "{\"messages\":[" U "],\"tools\":[{\"type\":\"custom\","
          "\"custom\":{\"name\":\"f\"}}]}", "tools[0].type" },
        { "{\"messages\":[" U "],\"tools\":[{\"type\":\"function\"}]}",
          "tools[0].function" },
        { "{\"messages\":[" U "],\"tools\":[{\"type\":\"function\","
          "\"function\":{\"name\":\"f\"}},{\"type\":\"function\","
          "\"function\":{\"description\":\"d\"}}]}",
          "tools[1].function.name" },
        { "{\"messages\":[" U "],\"tools\":[{\"type\":\"function\","
          "\"function\":{\"name\":\"f\",\"description\":1}}]}",
          "tools[0].function.description" },
        { "{\"messages\":[" U "],\"tools\":[{\"type\":\"function\","
          "\"function\":{\"name\":\"f\",\"parameters\":\"{}\"}}]}",
          "tools[0].function.parameters" },
        { "{\"messages\":[" U "],\"tool_choice\":\"maybe\"}",
          "tool_choice" },
        { "{\"messages\":[" U "],\"tool_choice\":5}", "tool_choice" },
        { "{\"messages\":[" U "],\"tool_choice\":{\"type\":\"tool\","
          "\"name\":\"f\"}}", "tool_choice" },
        { "{\"messages\":[" U "],\"tool_choice\":{\"type\":\"function\"}}",
          "tool_choice.function.name" },
        { "{\"messages\":[" U "],\"functions\":[]}", "functions" },
        { "{\"messages\":[" U "],\"function_call\":\"auto\"}",
          "function_call" },
    };

    (void) state;

    check_bad_requests(cases, sizeof(cases) / sizeof(cases[0]));
}


static char *
nested(const char *head, size_t depth, const char *tail)
{
    char    *b;
    size_t   hl, tl;

    hl = strlen(head);
    tl = strlen(tail);

    b = malloc(hl + 2 * depth + tl + 1);
    assert_non_null(b);

    memcpy(b, head, hl);
    memset(b + hl, '[', depth);
    memset(b + hl + depth, ']', depth);
    memcpy(b + hl + 2 * depth, tail, tl + 1);

    return b;
}


static void
test_request_deep_and_huge(void **state)
{
    int                   rc, stream;
    char                 *body, *args, *big;
    json_t               *j, *t;
    size_t                n, len;
    pool_t                pool;
    aigw_buf_t            out;
    aigw_adapter_error_t  err;

    (void) state;

    /* deeper than jansson parses: a clean 400, no crash */

    body = nested("{\"messages\":[" U "],\"tools\":[{\"type\":\"function\","
                  "\"function\":{\"name\":\"f\",\"parameters\":{\"a\":",
                  100000, "}}}]}");

    pool_init(&pool, -1);
    rc = request(body, strlen(body), MODEL, 0, &pool, &out, &stream, &err);
    assert_int_equal(rc, AIGW_ADAPTER_INVALID);
    assert_string_equal(err.param, "");
    pool_free(&pool);
    free(body);

    /* deep but parseable: carried through whole */

    body = nested("{\"messages\":[" U "],\"tools\":[{\"type\":\"function\","
                  "\"function\":{\"name\":\"f\",\"parameters\":{\"a\":",
                  1500, "}}}]}");

    pool_init(&pool, -1);
    rc = request(body, strlen(body), MODEL, 0, &pool, &out, &stream, &err);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_true(out.len > 3000);
    pool_free(&pool);
    free(body);

    /* tool arguments nested too deep are the client's error, named */

    args = nested("", 5000, "");
    n = strlen(args) + 256;
    body = malloc(n);
    assert_non_null(body);
    snprintf(body, n, "{\"messages\":[" U ",{\"role\":\"assistant\","
             "\"tool_calls\":[{\"id\":\"t\",\"function\":{\"name\":\"f\","
             "\"arguments\":\"{\\\"a\\\":%s}\"}}]}]}", args);

    pool_init(&pool, -1);
    rc = request(body, strlen(body), MODEL, 0, &pool, &out, &stream, &err);
    assert_int_equal(rc, AIGW_ADAPTER_INVALID);
    assert_string_equal(err.param,
                        "messages[1].tool_calls[0].function.arguments");
    pool_free(&pool);
    free(body);
    free(args);

    /* 4 MB of text: nothing truncated */

    len = 4 * 1024 * 1024;
    big = malloc(len + 128);
    assert_non_null(big);
    memcpy(big, "{\"messages\":[{\"role\":\"user\",\"content\":\"", 39);
    memset(big + 39, 'x', len);
    memcpy(big + 39 + len, "\"}]}", 5);

    pool_init(&pool, -1);
    rc = request(big, strlen(big), MODEL, 0, &pool, &out, &stream, &err);
    assert_int_equal(rc, AIGW_ADAPTER_OK);

    j = json_loadb((const char *) out.data, out.len, 0, NULL);
    assert_non_null(j);
    t = json_object_get(json_array_get(json_object_get(
            json_array_get(json_object_get(j, "messages"), 0), "content"),
            0), "text");
    assert_int_equal(json_string_length(t), len);
    json_decref(j);
    pool_free(&pool);

    /* the same body against a bounded buffer: too big, not a crash */

    pool_init(&pool, -1);
    {
        aigw_adapter_req_t  req;

        req.model = (const u_char *) MODEL;
        req.model_len = strlen(MODEL);
        req.default_max_tokens = 0;
        aigw_buf_init(&out, test_alloc, &pool, 1024 * 1024);

        rc = aigw_anthropic_request((u_char *) big, strlen(big), &req, &out,
                                    &stream, &err);
        assert_int_equal(rc, AIGW_ADAPTER_TOO_BIG);
        assert_int_equal(out.len, 0);
    }
    pool_free(&pool);
    free(big);
}


/* every allocation failure is an error code, never a crash or a leak */

static void
test_request_nomem(void **state)
{
    int                   rc, stream;
    char                 *body;
    long                  n;
    size_t                len;
    pool_t                pool;
    aigw_buf_t            out;
    aigw_adapter_error_t  err;

    (void) state;

    body = fixture("request-tools.openai.json", &len);

    /* the output buffer */

    for (n = 0; ; n++) {
        pool_init(&pool, n);
        rc = request(body, len, MODEL, 1000, &pool, &out, &stream, &err);

        if (rc == AIGW_ADAPTER_OK) {
            check_json(out.data, out.len, "request-tools.anthropic.json");
            pool_free(&pool);
            break;
        }

        assert_int_equal(rc, AIGW_ADAPTER_NOMEM);
        assert_int_equal(out.len, 0);
        pool_free(&pool);
    }

    assert_true(n > 0);

    /* jansson: parsing may fail (reported as a body it cannot read) */

    for (n = 0; n < 100000; n++) {
        pool_init(&pool, -1);
        json_fail_at(n);
        rc = request(body, len, MODEL, 1000, &pool, &out, &stream, &err);
        json_fail_at(-1);

        if (rc == AIGW_ADAPTER_OK) {
            check_json(out.data, out.len, "request-tools.anthropic.json");
            pool_free(&pool);
            break;
        }

        assert_true(rc == AIGW_ADAPTER_NOMEM || rc == AIGW_ADAPTER_INVALID);
        pool_free(&pool);
    }

    assert_true(n > 10 && n < 100000);

    free(body);
}


/* response */

static void
check_response(const char *name, int found, int64_t prompt,
    int64_t completion, int64_t cached)
{
    int                  rc;
    char                 in[128], exp[128], *body;
    size_t               len;
    pool_t               pool;
    aigw_buf_t           out;
    aigw_usage_t         u;
    aigw_adapter_resp_t  resp;

    snprintf(in, sizeof(in), "response-%s.anthropic.json", name);
    snprintf(exp, sizeof(exp), "response-%s.openai.json", name);

    body = fixture(in, &len);

    memset(&resp, 0, sizeof(resp));
    resp.id = (const u_char *) "chatcmpl-test";
    resp.id_len = 13;
    resp.model = (const u_char *) "claude-public";
    resp.model_len = 13;
    resp.created = CREATED;

    pool_init(&pool, -1);
    aigw_buf_init(&out, test_alloc, &pool, 0);

    rc = aigw_anthropic_response((u_char *) body, len, &resp, &out, &u);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    check_json(out.data, out.len, exp);

    assert_int_equal(u.found, found);
    assert_int_equal(u.prompt_tokens, prompt);
    assert_int_equal(u.completion_tokens, completion);
    assert_int_equal(u.total_tokens, prompt + completion);
    assert_int_equal(u.cached_tokens, cached);
    assert_int_equal(u.reasoning_tokens, 0);

    pool_free(&pool);
    free(body);
}


static void
test_response_golden(void **state)
{
    (void) state;

    check_response("text", 1, 2160, 10, 2048);
    check_response("tools", 1, 512, 128, 0);
    check_response("length", 0, 0, 0, 0);
}


static void
test_response_finish(void **state)
{
    int                  rc;
    char                 body[256];
    json_t              *j;
    size_t               i;
    pool_t               pool;
    aigw_buf_t           out;
    aigw_usage_t         u;
    aigw_adapter_resp_t  resp;

    static const struct {
        const char  *reason;
        const char  *finish;
    } cases[] = {
        { "\"end_turn\"", "stop" },
        { "\"stop_sequence\"", "stop" },
        { "\"pause_turn\"", "stop" },
        { "\"max_tokens\"", "length" },
        { "\"tool_use\"", "tool_calls" },
        { "\"refusal\"", "content_filter" },
        { "\"model_context_window_exceeded\"", "stop" },
        { "null", "stop" },
        { "7", "stop" },
    };

    (void) state;

    memset(&resp, 0, sizeof(resp));

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(body, sizeof(body), "{\"type\":\"message\",\"content\":"
                 "[{\"type\":\"text\",\"text\":\"\"}],\"stop_reason\":%s}",
                 cases[i].reason);

        pool_init(&pool, -1);
        aigw_buf_init(&out, test_alloc, &pool, 0);

        rc = aigw_anthropic_response((u_char *) body, strlen(body), &resp,
                                     &out, &u);
        assert_int_equal(rc, AIGW_ADAPTER_OK);

        j = json_loadb((const char *) out.data, out.len, 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(
                                json_array_get(json_object_get(j, "choices"),
                                               0), "finish_reason")),
                            cases[i].finish);

        /* an empty text block is still text; no id or model: conf's "" */
        assert_string_equal(json_string_value(json_object_get(
                                json_object_get(json_array_get(
                                    json_object_get(j, "choices"), 0),
                                    "message"), "content")), "");
        assert_string_equal(json_string_value(json_object_get(j, "id")), "");
        assert_string_equal(json_string_value(json_object_get(j, "model")),
                            "");

        json_decref(j);
        pool_free(&pool);
    }
}


static void
test_response_bad(void **state)
{
    int                  rc;
    size_t               i;
    pool_t               pool;
    aigw_buf_t           out;
    aigw_usage_t         u;
    aigw_adapter_resp_t  resp;

    static const char  *bad[] = {
        "",
        "not json",
        "[]",
        "{\"type\":\"message\"}",
        "{\"type\":\"error\",\"error\":{\"type\":\"api_error\","
        "\"message\":\"x\"}}",
        "{\"content\":[]}",
        "{\"type\":\"message\",\"content\":{}}",
        "{\"type\":\"message\",\"content\":[{\"type\":\"text\"}]}",
        "{\"type\":\"message\",\"content\":[{\"type\":\"text\",\"text\":1}]}",
        "{\"type\":\"message\",\"content\":[{\"type\":\"thinking\"}]}",
        "{\"type\":\"message\",\"content\":[{\"type\":\"tool_use\","
        "\"name\":\"f\",\"input\":{}}]}",
        "{\"type\":\"message\",\"content\":[{\"type\":\"tool_use\","
        "\"id\":\"t\",\"input\":{}}]}",
        "{\"type\":\"message\",\"content\":[{\"type\":\"tool_use\","
        "\"id\":\"t\",\"name\":\"f\",\"input\":[1]}]}",
        "{\"type\":\"message\",\"content\":[]",
    };

    static const struct {
        const char  *usage;
        int          found;
    } usage[] = {
        { "{\"input_tokens\":-1,\"output_tokens\":5}", 0 },
        { "{\"input_tokens\":1.5,\"output_tokens\":5}", 0 },
        { "{\"input_tokens\":\"3\",\"output_tokens\":5}", 0 },
        { "{\"input_tokens\":281474976710657,\"output_tokens\":5}", 0 },
        { "[]", 0 },
        { "{\"input_tokens\":null,\"output_tokens\":5}", 1 },
        { "{}", 1 },
    };

    (void) state;

    memset(&resp, 0, sizeof(resp));

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        pool_init(&pool, -1);
        aigw_buf_init(&out, test_alloc, &pool, 0);

        rc = aigw_anthropic_response((u_char *) bad[i], strlen(bad[i]),
                                     &resp, &out, &u);
        if (rc != AIGW_ADAPTER_INVALID) {
            fail_msg("case %zu: rc %d", i, rc);
        }

        assert_int_equal(out.len, 0);
        assert_int_equal(u.found, 0);
        pool_free(&pool);
    }

    /* nonsense counts: the answer passes, its usage is not trusted */

    for (i = 0; i < sizeof(usage) / sizeof(usage[0]); i++) {
        char  body[256];

        snprintf(body, sizeof(body), "{\"type\":\"message\",\"content\":[],"
                 "\"usage\":%s}", usage[i].usage);

        pool_init(&pool, -1);
        aigw_buf_init(&out, test_alloc, &pool, 0);

        rc = aigw_anthropic_response((u_char *) body, strlen(body), &resp,
                                     &out, &u);
        assert_int_equal(rc, AIGW_ADAPTER_OK);
        assert_int_equal(u.found, usage[i].found);

        if (usage[i].found == 0) {
            assert_int_equal(u.prompt_tokens, 0);
            assert_int_equal(u.completion_tokens, 0);
        }

        pool_free(&pool);
    }
}


static void
test_response_nomem(void **state)
{
    int                  rc;
    char                *body;
    long                 n;
    size_t               len;
    pool_t               pool;
    aigw_buf_t           out;
    aigw_usage_t         u;
    aigw_adapter_resp_t  resp;

    (void) state;

    body = fixture("response-tools.anthropic.json", &len);

    memset(&resp, 0, sizeof(resp));
    resp.created = CREATED;

    pool_init(&pool, 0);
    aigw_buf_init(&out, test_alloc, &pool, 0);
    rc = aigw_anthropic_response((u_char *) body, len, &resp, &out, &u);
    assert_int_equal(rc, AIGW_ADAPTER_NOMEM);
    assert_int_equal(u.found, 0);
    assert_int_equal(out.len, 0);
    pool_free(&pool);

    for (n = 0; n < 100000; n++) {
        pool_init(&pool, -1);
        aigw_buf_init(&out, test_alloc, &pool, 0);

        json_fail_at(n);
        rc = aigw_anthropic_response((u_char *) body, len, &resp, &out, &u);
        json_fail_at(-1);

        if (rc == AIGW_ADAPTER_OK) {
            check_json(out.data, out.len, "response-tools.openai.json");
            pool_free(&pool);
            break;
        }

        assert_true(rc == AIGW_ADAPTER_NOMEM || rc == AIGW_ADAPTER_INVALID);
        assert_int_equal(u.found, 0);
        pool_free(&pool);
    }

    assert_true(n > 10 && n < 100000);

    free(body);
}


/* errors and usage */

static void
check_error(int status, const char *body, int out_status,
    const char *message, const char *type, const char *code)
{
    size_t       len;

    int          rc, st;
    json_t      *j, *e;
    pool_t       pool;
    aigw_buf_t   out;

    len = body ? strlen(body) : 0;

    pool_init(&pool, -1);
    aigw_buf_init(&out, test_alloc, &pool, 0);

    rc = aigw_anthropic_error(status, (const u_char *) body, len, &out, &st);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_int_equal(st, out_status);

    j = json_loadb((const char *) out.data, out.len, 0, NULL);
    assert_non_null(j);
    e = json_object_get(j, "error");

    assert_string_equal(json_string_value(json_object_get(e, "message")),
                        message);
    assert_string_equal(json_string_value(json_object_get(e, "type")), type);
    assert_true(json_is_null(json_object_get(e, "param")));

    if (code) {
        assert_string_equal(json_string_value(json_object_get(e, "code")),
                            code);
    } else {
        assert_true(json_is_null(json_object_get(e, "code")));
    }

    json_decref(j);
    pool_free(&pool);
}


static void
test_error(void **state)
{
    int          rc, st;
    char        *body, body2[256], msg[32];
    size_t       i, len;
    pool_t       pool;
    aigw_buf_t   out;

    static const struct {
        int          status;
        const char  *atype;
        int          out_status;
        const char  *type;
        const char  *code;
    } cases[] = {
        { 400, "invalid_request_error", 400, "invalid_request_error", NULL },
        { 401, "authentication_error", 401, "authentication_error",
          "invalid_api_key" },
        { 403, "permission_error", 403, "permission_error", NULL },
        { 404, "not_found_error", 404, "invalid_request_error", NULL },
        { 413, "request_too_large", 413, "invalid_request_error", NULL },
        { 429, "rate_limit_error", 429, "rate_limit_exceeded",
          "rate_limit_exceeded" },
        { 500, "api_error", 500, "api_error", NULL },
        { 529, "overloaded_error", 503, "api_error", "overloaded" },
        { 402, "billing_error", 402, "invalid_request_error", NULL },
        { 504, "timeout_error", 504, "api_error", NULL },
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(msg, sizeof(msg), "m %zu", i);
        snprintf(body2, sizeof(body2), "{\"type\":\"error\",\"error\":"
                 "{\"type\":\"%s\",\"message\":\"%s\"}}", cases[i].atype,
                 msg);

        check_error(cases[i].status, body2, cases[i].out_status, msg,
                    cases[i].type, cases[i].code);
    }

    /* golden */

    body = fixture("error-overloaded.anthropic.json", &len);
    pool_init(&pool, -1);
    aigw_buf_init(&out, test_alloc, &pool, 0);
    rc = aigw_anthropic_error(529, (u_char *) body, len, &out, &st);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_int_equal(st, 503);
    check_json(out.data, out.len, "error-overloaded.openai.json");
    pool_free(&pool);
    free(body);

    body = fixture("error-rate-limit.anthropic.json", &len);
    pool_init(&pool, -1);
    aigw_buf_init(&out, test_alloc, &pool, 0);
    rc = aigw_anthropic_error(429, (u_char *) body, len, &out, &st);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_int_equal(st, 429);
    check_json(out.data, out.len, "error-rate-limit.openai.json");
    pool_free(&pool);
    free(body);

    /* whatever else a failing upstream may send */

    check_error(502, "<html>Bad Gateway</html>", 502,
                "upstream error (HTTP 502)", "api_error", NULL);
    check_error(529, "", 503, "upstream error (HTTP 529)", "api_error",
                NULL);
    check_error(429, NULL, 429, "upstream error (HTTP 429)",
                "rate_limit_exceeded", NULL);
    check_error(400, "{\"error\":{\"type\":\"invalid_request_error\"}}",
                400, "upstream error (HTTP 400)", "invalid_request_error",
                NULL);
    check_error(401, "{\"error\":\"nope\"}", 401,
                "upstream error (HTTP 401)", "authentication_error", NULL);
    check_error(403, "{\"error\":{\"message\":\"\"}}", 403,
                "upstream error (HTTP 403)", "permission_error", NULL);
    check_error(400, "{\"error\":{\"message\":\"bad\",\"type\":5}}",
                400, "bad", "invalid_request_error", NULL);
    check_error(200, "{\"type\":\"error\",\"error\":{\"type\":"
                "\"api_error\",\"message\":\"Internal server error\"}}",
                200, "Internal server error", "api_error", NULL);

    /* allocation failures */

    pool_init(&pool, 0);
    aigw_buf_init(&out, test_alloc, &pool, 0);
    rc = aigw_anthropic_error(500, (u_char *) "x", 1, &out, &st);
    assert_int_equal(rc, AIGW_ADAPTER_NOMEM);
    assert_int_equal(out.len, 0);
    pool_free(&pool);

    /* jansson: a body it could not load is relayed as a bare status */

    body = fixture("error-rate-limit.anthropic.json", &len);

    for (i = 0; i < 64; i++) {
        pool_init(&pool, -1);
        aigw_buf_init(&out, test_alloc, &pool, 0);

        json_fail_at(i);
        rc = aigw_anthropic_error(429, (u_char *) body, len, &out, &st);
        json_fail_at(-1);

        assert_true(rc == AIGW_ADAPTER_OK || rc == AIGW_ADAPTER_NOMEM);
        assert_int_equal(st, 429);

        if (rc == AIGW_ADAPTER_OK) {
            json_t  *j;

            j = json_loadb((const char *) out.data, out.len, 0, NULL);
            assert_non_null(j);
            assert_true(json_is_string(json_object_get(
                            json_object_get(j, "error"), "message")));
            json_decref(j);
        }

        pool_free(&pool);
    }

    free(body);
}


static void
test_usage(void **state)
{
    aigw_usage_t  u;

    static const char  full[] = "{\"input_tokens\":10,"
        "\"cache_creation_input_tokens\":20,\"cache_read_input_tokens\":30,"
        "\"output_tokens\":40,\"server_tool_use\":{\"web_search_requests\":"
        "1}}";

    (void) state;

    assert_int_equal(aigw_anthropic_usage((u_char *) full, sizeof(full) - 1,
                                          &u), 0);
    assert_int_equal(u.found, 1);
    assert_int_equal(u.prompt_tokens, 60);
    assert_int_equal(u.completion_tokens, 40);
    assert_int_equal(u.total_tokens, 100);
    assert_int_equal(u.cached_tokens, 30);
    assert_int_equal(u.reasoning_tokens, 0);

    assert_int_equal(aigw_anthropic_usage((u_char *) "{}", 2, &u), 0);
    assert_int_equal(u.found, 1);
    assert_int_equal(u.total_tokens, 0);

    assert_int_equal(aigw_anthropic_usage((u_char *) "[]", 2, &u), -1);
    assert_int_equal(u.found, 0);
    assert_int_equal(aigw_anthropic_usage((u_char *) "{", 1, &u), -1);
    assert_int_equal(aigw_anthropic_usage((u_char *) "", 0, &u), -1);
    assert_int_equal(aigw_anthropic_usage((u_char *)
                                          "{\"output_tokens\":-4}", 20, &u),
                     -1);
    assert_int_equal(aigw_anthropic_usage((u_char *)
                                          "{\"output_tokens\":1e3}", 21, &u),
                     -1);
    assert_int_equal(u.found, 0);
}


/* the stream */

static int
test_emit(void *ctx, const u_char *event, size_t event_len,
    const u_char *data, size_t data_len)
{
    long    saved;
    run_t  *r;

    r = ctx;
    r->emits++;

    assert_null(event);
    assert_int_equal(event_len, 0);

    /* every chunk is one JSON text (checked outside the failure plan) */

    if (!(data_len == 6 && memcmp(data, "[DONE]", 6) == 0)) {
        json_t  *j;

        saved = json_fail_after;
        json_fail_after = -1;
        j = json_loadb((const char *) data, data_len, 0, NULL);
        json_fail_after = saved;

        assert_non_null(j);
        json_decref(j);
    }

    if (r->fail_emit_at && r->emits == r->fail_emit_at) {
        return 77;
    }

    assert_int_equal(aigw_sse_frame(&r->out, event, event_len, data,
                                    data_len), AIGW_ADAPTER_OK);

    return 0;
}


static int
test_sse_event(void *data, aigw_sse_event_t *ev)
{
    run_t  *r;

    r = data;

    assert_int_equal(ev->overflow, 0);

    return aigw_anthropic_stream_event(&r->st, ev->event, ev->event_len,
                                       ev->has_data ? ev->data : NULL,
                                       ev->data_len,
                                       r->null_emit ? NULL : test_emit, r);
}


static void
run_init(run_t *r, int include_usage, long fail_after)
{
    aigw_adapter_resp_t  resp;

    memset(r, 0, sizeof(run_t));

    memset(&resp, 0, sizeof(resp));
    resp.id = (const u_char *) "chatcmpl-test";
    resp.id_len = 13;
    resp.model = (const u_char *) "claude-public";
    resp.model_len = 13;
    resp.created = CREATED;
    resp.include_usage = include_usage;

    pool_init(&r->pool, fail_after);
    pool_init(&r->opool, -1);
    aigw_buf_init(&r->out, test_alloc, &r->opool, 0);

    aigw_anthropic_stream_init(&r->st, &resp, test_alloc, &r->pool);
    aigw_sse_init(&r->sse, MAX_EVENT, test_alloc, &r->opool, test_sse_event,
                  r);
}


static void
run_free(run_t *r)
{
    pool_free(&r->pool);
    pool_free(&r->opool);
}


/* feeds one piece from a private heap copy, poisoned and freed after */

static int
feed(run_t *r, const char *p, size_t len)
{
    int      rc;
    u_char  *b;

    b = malloc(len ? len : 1);
    assert_non_null(b);

    memcpy(b, p, len);
    rc = aigw_sse_feed(&r->sse, b, len);
    memset(b, 0xa5, len);
    free(b);

    return rc;
}


/* the SSE feed's rc, then finish()'s rc (if the feed went through) */

static int
run_pieces(run_t *r, const char *in, size_t len, const size_t *cuts,
    size_t ncuts, int *finish_rc)
{
    int     rc;
    size_t  i, from, to;

    from = 0;
    *finish_rc = -100;

    for (i = 0; i <= ncuts; i++) {
        to = i < ncuts ? cuts[i] : len;

        rc = feed(r, in + from, to - from);
        if (rc != 0) {
            return rc;
        }

        from = to;
    }

    rc = aigw_sse_finish(&r->sse);
    if (rc != 0) {
        return rc;
    }

    *finish_rc = aigw_anthropic_stream_finish(&r->st, test_emit, r);

    return 0;
}


static void
check_output(run_t *r, const char *expected, const char *what)
{
    char    *exp;
    size_t   len;

    exp = fixture(expected, &len);

    if (r->out.len != len || memcmp(r->out.data, exp, len) != 0) {
        print_error("%s: got:\n%.*s\nexpected (%s):\n%s\n", what,
                    (int) r->out.len, r->out.data, expected, exp);
        free(exp);
        fail();
    }

    free(exp);
}


static void
check_usage(aigw_usage_t *a, aigw_usage_t *b)
{
    assert_int_equal(a->found, b->found);
    assert_int_equal(a->prompt_tokens, b->prompt_tokens);
    assert_int_equal(a->completion_tokens, b->completion_tokens);
    assert_int_equal(a->total_tokens, b->total_tokens);
    assert_int_equal(a->cached_tokens, b->cached_tokens);
    assert_int_equal(a->reasoning_tokens, b->reasoning_tokens);
}


static void
check_stream(const char *name, int include_usage, aigw_usage_t *expect,
    int stopped, int failed)
{
    int           rc, frc;
    char          in_name[128], exp_name[128], *in, what[64];
    size_t        len, k, cut;
    run_t         r;
    aigw_usage_t  whole;

    snprintf(in_name, sizeof(in_name), "stream-%s.sse", name);
    snprintf(exp_name, sizeof(exp_name), "stream-%s.expected", name);

    in = fixture(in_name, &len);

    /* whole */

    run_init(&r, include_usage, -1);
    rc = run_pieces(&r, in, len, NULL, 0, &frc);
    assert_int_equal(rc, 0);
    assert_int_equal(frc, AIGW_ADAPTER_OK);
    assert_int_equal(r.st.stopped, stopped);
    assert_int_equal(r.st.failed, failed);
    check_output(&r, exp_name, "whole");
    check_usage(&r.st.usage, expect);
    whole = r.st.usage;
    run_free(&r);

    /* in two pieces, cut at every byte */

    for (k = 0; k <= len; k++) {
        cut = k;
        run_init(&r, include_usage, -1);
        rc = run_pieces(&r, in, len, &cut, 1, &frc);
        assert_int_equal(rc, 0);
        assert_int_equal(frc, AIGW_ADAPTER_OK);
        snprintf(what, sizeof(what), "cut at %zu", k);
        check_output(&r, exp_name, what);
        check_usage(&r.st.usage, &whole);
        run_free(&r);
    }

    /* byte by byte */

    run_init(&r, include_usage, -1);

    for (k = 0; k < len; k++) {
        assert_int_equal(feed(&r, in + k, 1), 0);
    }

    assert_int_equal(aigw_sse_finish(&r.sse), 0);
    assert_int_equal(aigw_anthropic_stream_finish(&r.st, test_emit, &r),
                     AIGW_ADAPTER_OK);
    check_output(&r, exp_name, "byte by byte");
    check_usage(&r.st.usage, &whole);
    run_free(&r);

    /* only watched (emit NULL): the same usage, nothing sent */

    run_init(&r, include_usage, -1);
    r.null_emit = 1;
    rc = run_pieces(&r, in, len, NULL, 0, &frc);
    assert_int_equal(rc, 0);
    assert_int_equal(frc, AIGW_ADAPTER_OK);
    assert_int_equal(r.out.len, 0);
    assert_int_equal(r.emits, 0);
    assert_int_equal(r.st.stopped, stopped);
    assert_int_equal(r.st.failed, failed);
    check_usage(&r.st.usage, &whole);
    run_free(&r);

    free(in);
}


static void
test_stream_golden(void **state)
{
    aigw_usage_t  u;

    (void) state;

    memset(&u, 0, sizeof(u));
    u.found = 1;
    u.prompt_tokens = 423 + 1024;
    u.completion_tokens = 89;
    u.total_tokens = 423 + 1024 + 89;
    u.cached_tokens = 1024;
    check_stream("tools", 1, &u, 1, 0);

    u.prompt_tokens = 25;
    u.completion_tokens = 15;
    u.total_tokens = 40;
    u.cached_tokens = 0;
    check_stream("text", 0, &u, 1, 0);

    /* an error event: relayed, then nothing, and no [DONE] */
    u.prompt_tokens = 30;
    u.completion_tokens = 1;
    u.total_tokens = 31;
    check_stream("error", 1, &u, 0, 1);
}


static void
test_stream_truncated(void **state)
{
    int          rc, frc;
    char        *in;
    size_t       len, k, end;
    run_t        r;
    const char  *stop;

    (void) state;

    in = fixture("stream-tools.sse", &len);
    stop = strstr(in, "event: message_stop");
    assert_non_null(stop);
    end = stop - in;

    /* cut anywhere before message_stop: the stream was not complete */

    for (k = 0; k <= end; k += (k < 64 || end - k < 64) ? 1 : 7) {
        run_init(&r, 1, -1);

        /* the last, cut event may be one that is not JSON */
        rc = run_pieces(&r, in, k, NULL, 0, &frc);
        assert_true(rc == 0 || rc == AIGW_ADAPTER_INVALID);
        assert_int_equal(aigw_anthropic_stream_finish(&r.st, test_emit, &r),
                         AIGW_ADAPTER_INVALID);
        assert_int_equal(r.st.stopped, 0);

        /* no [DONE] came out */
        assert_true(r.out.len < 14
                    || memcmp(r.out.data + r.out.len - 14,
                              "data: [DONE]\n\n", 14) != 0);
        run_free(&r);
    }

    /* the last message_stop without its blank line still ends it */

    run_init(&r, 1, -1);
    rc = run_pieces(&r, in, len - 2, NULL, 0, &frc);
    assert_int_equal(rc, 0);
    assert_int_equal(frc, AIGW_ADAPTER_OK);
    check_output(&r, "stream-tools.expected", "unterminated");
    run_free(&r);

    /* nothing at all */

    run_init(&r, 1, -1);
    assert_int_equal(aigw_anthropic_stream_finish(&r.st, NULL, NULL),
                     AIGW_ADAPTER_INVALID);
    assert_int_equal(r.emits, 0);
    run_free(&r);

    free(in);
}


/* direct calls, without the SSE parser */

static int
ev(run_t *r, const char *event, const char *data)
{
    return aigw_anthropic_stream_event(&r->st, (const u_char *) event,
                                       event ? strlen(event) : 0,
                                       (const u_char *) data,
                                       data ? strlen(data) : 0,
                                       r->null_emit ? NULL : test_emit, r);
}


#define START                                                                \
    "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\","             \
    "\"type\":\"message\",\"role\":\"assistant\",\"content\":[],"            \
    "\"model\":\"claude-m\",\"usage\":{\"input_tokens\":3,"                  \
    "\"output_tokens\":1}}}"


static void
check_out(run_t *r, const char *expected)
{
    if (r->out.len != strlen(expected)
        || memcmp(r->out.data, expected, r->out.len) != 0)
    {
        fail_msg("got:\n%.*s\nexpected:\n%s", (int) r->out.len, r->out.data,
                 expected);
    }
}


static void
test_stream_events(void **state)
{
    run_t   r;
    size_t  i;

    (void) state;

    /* events before message_start break the protocol */

    run_init(&r, 0, -1);
    assert_int_equal(ev(&r, "content_block_delta", "{\"type\":"
                        "\"content_block_delta\",\"index\":0,\"delta\":"
                        "{\"type\":\"text_delta\",\"text\":\"x\"}}"),
                     AIGW_ADAPTER_INVALID);
    assert_int_equal(ev(&r, "content_block_start", "{\"index\":0,"
                        "\"content_block\":{\"type\":\"text\"}}"),
                     AIGW_ADAPTER_INVALID);
    assert_int_equal(ev(&r, "message_delta", "{\"delta\":{}}"),
                     AIGW_ADAPTER_INVALID);
    assert_int_equal(ev(&r, "message_stop", "{}"), AIGW_ADAPTER_INVALID);
    assert_int_equal(r.out.len, 0);
    run_free(&r);

    /* data that is not a JSON object, on a known event */

    run_init(&r, 0, -1);
    assert_int_equal(ev(&r, "message_start", "{\"type\":"),
                     AIGW_ADAPTER_INVALID);
    assert_int_equal(ev(&r, "message_start", "[1]"), AIGW_ADAPTER_INVALID);
    assert_int_equal(ev(&r, "content_block_stop", "nope"),
                     AIGW_ADAPTER_INVALID);
    assert_int_equal(ev(&r, "message_start", "{\"message\":5}"),
                     AIGW_ADAPTER_INVALID);
    assert_int_equal(ev(&r, NULL, "not json"), AIGW_ADAPTER_INVALID);

    /* ignored: unknown names (unread), ping, no data, unknown types */
    assert_int_equal(ev(&r, "future_event", "not json"), AIGW_ADAPTER_OK);
    assert_int_equal(ev(&r, "ping", "{"), AIGW_ADAPTER_OK);
    assert_int_equal(ev(&r, "message_start", NULL), AIGW_ADAPTER_OK);
    assert_int_equal(ev(&r, "message_start", ""), AIGW_ADAPTER_OK);
    assert_int_equal(ev(&r, NULL, "{\"type\":\"future\"}"), AIGW_ADAPTER_OK);
    assert_int_equal(ev(&r, NULL, "{\"type\":5}"), AIGW_ADAPTER_OK);
    assert_int_equal(r.out.len, 0);
    assert_int_equal(r.st.started, 0);
    run_free(&r);

    /* without "event:" lines the data's type names the event */

    run_init(&r, 0, -1);
    assert_int_equal(ev(&r, NULL, START), 0);
    assert_int_equal(ev(&r, NULL, "{\"type\":\"content_block_delta\","
                        "\"index\":0,\"delta\":{\"type\":\"text_delta\","
                        "\"text\":\"Hi\"}}"), 0);
    assert_int_equal(ev(&r, NULL, "{\"type\":\"message_stop\"}"), 0);
    check_out(&r,
        "data: {\"id\":\"msg_1\",\"object\":\"chat.completion.chunk\","
        "\"created\":1700000000,\"model\":\"claude-m\",\"choices\":"
        "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
        "\"logprobs\":null,\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"msg_1\",\"object\":\"chat.completion.chunk\","
        "\"created\":1700000000,\"model\":\"claude-m\",\"choices\":"
        "[{\"index\":0,\"delta\":{\"content\":\"Hi\"},"
        "\"logprobs\":null,\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"msg_1\",\"object\":\"chat.completion.chunk\","
        "\"created\":1700000000,\"model\":\"claude-m\",\"choices\":"
        "[{\"index\":0,\"delta\":{},"
        "\"logprobs\":null,\"finish_reason\":\"stop\"}]}\n\n"
        "data: [DONE]\n\n");
    assert_int_equal(r.st.usage.prompt_tokens, 3);
    assert_int_equal(r.st.usage.completion_tokens, 1);

    /* after the end: ignored */
    i = r.out.len;
    assert_int_equal(ev(&r, NULL, START), 0);
    assert_int_equal(ev(&r, "error", "{\"error\":{}}"), 0);
    assert_int_equal(ev(&r, "message_stop", "garbage"), 0);
    assert_int_equal(r.out.len, i);
    assert_int_equal(r.st.failed, 0);
    run_free(&r);

    /* malformed known events after the start */

    {
        static const char  *bad[] = {
            "{\"index\":0}",
            "{\"index\":\"0\",\"content_block\":{\"type\":\"text\"}}",
            "{\"index\":-1,\"content_block\":{\"type\":\"text\"}}",
            "{\"index\":0,\"content_block\":{\"type\":\"tool_use\"}}",
            "{\"index\":0,\"content_block\":{\"type\":\"tool_use\","
            "\"id\":\"t\",\"name\":5}}",
        };
        static const char  *bad_delta[] = {
            "{\"index\":0}",
            "{\"index\":0,\"delta\":{}}",
            "{\"index\":0.5,\"delta\":{\"type\":\"text_delta\","
            "\"text\":\"x\"}}",
            "{\"index\":0,\"delta\":{\"type\":\"text_delta\"}}",
            "{\"index\":0,\"delta\":{\"type\":\"thinking_delta\","
            "\"thinking\":1}}",
            "{\"index\":0,\"delta\":{\"type\":\"input_json_delta\"}}",
        };

        for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            run_init(&r, 0, -1);
            assert_int_equal(ev(&r, "message_start", START), 0);
            assert_int_equal(ev(&r, "content_block_start", bad[i]),
                             AIGW_ADAPTER_INVALID);
            run_free(&r);
        }

        for (i = 0; i < sizeof(bad_delta) / sizeof(bad_delta[0]); i++) {
            run_init(&r, 0, -1);
            assert_int_equal(ev(&r, "message_start", START), 0);
            assert_int_equal(ev(&r, "content_block_delta", bad_delta[i]),
                             AIGW_ADAPTER_INVALID);
            run_free(&r);
        }
    }

    /* a second message_start changes nothing */

    run_init(&r, 0, -1);
    assert_int_equal(ev(&r, "message_start", START), 0);
    i = r.out.len;
    assert_int_equal(ev(&r, "message_start", "{\"message\":{\"id\":\"x\","
                        "\"usage\":{\"input_tokens\":99}}}"), 0);
    assert_int_equal(r.out.len, i);
    assert_int_equal(r.st.usage.prompt_tokens, 3);
    run_free(&r);
}


static void
test_stream_blocks(void **state)
{
    int     rc;
    char    data[512];
    run_t   r;
    size_t  i;

    (void) state;

    /*
     * Block indices past what the state tracks, and tool_use blocks
     * there, are handled as plain blocks: no tool chunk, no write out of
     * bounds; text in them still flows.
     */

    run_init(&r, 0, -1);
    assert_int_equal(ev(&r, "message_start", START), 0);

    for (i = 0; i < AIGW_ANTHROPIC_BLOCKS + 8; i++) {
        snprintf(data, sizeof(data), "{\"index\":%zu,\"content_block\":"
                 "{\"type\":\"tool_use\",\"id\":\"t%zu\",\"name\":\"f\","
                 "\"input\":{}}}", i, i);
        assert_int_equal(ev(&r, "content_block_start", data), 0);

        snprintf(data, sizeof(data), "{\"index\":%zu,\"delta\":{\"type\":"
                 "\"input_json_delta\",\"partial_json\":\"{}\"}}", i);
        assert_int_equal(ev(&r, "content_block_delta", data), 0);
    }

    assert_int_equal(r.st.tools, AIGW_ANTHROPIC_BLOCKS);

    assert_int_equal(ev(&r, "content_block_start", "{\"index\":1000000,"
                        "\"content_block\":{\"type\":\"text\","
                        "\"text\":\"\"}}"), 0);
    i = r.out.len;
    assert_int_equal(ev(&r, "content_block_delta", "{\"index\":1000000,"
                        "\"delta\":{\"type\":\"text_delta\","
                        "\"text\":\"far\"}}"), 0);
    assert_true(r.out.len > i);
    i = r.out.len;
    assert_int_equal(ev(&r, "content_block_delta",
                        "{\"index\":99999999999999999,\"delta\":"
                        "{\"type\":\"input_json_delta\","
                        "\"partial_json\":\"x\"}}"), 0);
    assert_int_equal(r.out.len, i);
    run_free(&r);

    /* starts that carry content; a tool_use that starts with its input */

    run_init(&r, 0, -1);
    assert_int_equal(ev(&r, "message_start", START), 0);
    r.out.len = 0;
    assert_int_equal(ev(&r, "content_block_start", "{\"index\":0,"
                        "\"content_block\":{\"type\":\"thinking\","
                        "\"thinking\":\"hm\"}}"), 0);
    assert_int_equal(ev(&r, "content_block_start", "{\"index\":1,"
                        "\"content_block\":{\"type\":\"text\","
                        "\"text\":\"a\"}}"), 0);
    assert_int_equal(ev(&r, "content_block_start", "{\"index\":2,"
                        "\"content_block\":{\"type\":\"tool_use\","
                        "\"id\":\"t\",\"name\":\"f\",\"input\":{\"q\":1}}}"),
                     0);
    assert_int_equal(ev(&r, "content_block_start", "{\"index\":3,"
                        "\"content_block\":{\"type\":\"server_tool_use\","
                        "\"id\":\"s\",\"name\":\"web_search\"}}"), 0);
    assert_int_equal(ev(&r, "content_block_delta", "{\"index\":3,"
                        "\"delta\":{\"type\":\"input_json_delta\","
                        "\"partial_json\":\"{}\"}}"), 0);
    /* index 0 was a thinking block: not a tool, whatever the delta says */
    assert_int_equal(ev(&r, "content_block_delta", "{\"index\":0,"
                        "\"delta\":{\"type\":\"input_json_delta\","
                        "\"partial_json\":\"{}\"}}"), 0);
    check_out(&r,
        "data: {\"id\":\"msg_1\",\"object\":\"chat.completion.chunk\","
        "\"created\":1700000000,\"model\":\"claude-m\",\"choices\":"
        "[{\"index\":0,\"delta\":{\"reasoning_content\":\"hm\"},"
        "\"logprobs\":null,\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"msg_1\",\"object\":\"chat.completion.chunk\","
        "\"created\":1700000000,\"model\":\"claude-m\",\"choices\":"
        "[{\"index\":0,\"delta\":{\"content\":\"a\"},"
        "\"logprobs\":null,\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"msg_1\",\"object\":\"chat.completion.chunk\","
        "\"created\":1700000000,\"model\":\"claude-m\",\"choices\":"
        "[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":\"t\","
        "\"type\":\"function\",\"function\":{\"name\":\"f\","
        "\"arguments\":\"{\\\"q\\\":1}\"}}]},"
        "\"logprobs\":null,\"finish_reason\":null}]}\n\n");
    run_free(&r);

    /* an id and a model longer than the state keeps: conf's, not cut */

    run_init(&r, 1, -1);
    {
        char  big[1200];

        memset(data, 'i', 300);
        data[300] = '\0';
        snprintf(big, sizeof(big), "{\"message\":{\"id\":\"%s\","
                 "\"model\":\"%s\"}}", data, data);
        assert_int_equal(ev(&r, "message_start", big), 0);
    }
    assert_int_equal(ev(&r, "message_stop", "{}"), 0);
    check_out(&r,
        "data: {\"id\":\"chatcmpl-test\",\"object\":\"chat.completion.chunk\","
        "\"created\":1700000000,\"model\":\"claude-public\",\"choices\":"
        "[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
        "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
        "data: {\"id\":\"chatcmpl-test\",\"object\":\"chat.completion.chunk\","
        "\"created\":1700000000,\"model\":\"claude-public\",\"choices\":"
        "[{\"index\":0,\"delta\":{},"
        "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
        "data: {\"id\":\"chatcmpl-test\",\"object\":\"chat.completion.chunk\","
        "\"created\":1700000000,\"model\":\"claude-public\",\"choices\":[],"
        "\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":0,"
        "\"total_tokens\":0,\"prompt_tokens_details\":{\"cached_tokens\":0},"
        "\"completion_tokens_details\":{\"reasoning_tokens\":0}}}\n\n"
        "data: [DONE]\n\n");
    assert_int_equal(r.st.usage.found, 0);
    run_free(&r);

    /* usage that message_delta updates in part */

    run_init(&r, 0, -1);
    r.null_emit = 1;
    assert_int_equal(ev(&r, "message_start", "{\"message\":{\"usage\":"
                        "{\"input_tokens\":10,\"cache_read_input_tokens\":"
                        "20,\"cache_creation_input_tokens\":30,"
                        "\"output_tokens\":1}}}"), 0);
    assert_int_equal(r.st.usage.prompt_tokens, 60);
    assert_int_equal(ev(&r, "message_delta", "{\"delta\":{\"stop_reason\":"
                        "\"refusal\"},\"usage\":{\"output_tokens\":5,"
                        "\"cache_read_input_tokens\":25,"
                        "\"input_tokens\":null}}"), 0);
    assert_int_equal(r.st.usage.prompt_tokens, 65);
    assert_int_equal(r.st.usage.cached_tokens, 25);
    assert_int_equal(r.st.usage.completion_tokens, 5);
    assert_int_equal(r.st.usage.total_tokens, 70);
    assert_string_equal(r.st.finish_reason, "content_filter");
    /* nonsense counts are not taken */
    assert_int_equal(ev(&r, "message_delta", "{\"usage\":{\"output_tokens\":"
                        "-7}}"), 0);
    assert_int_equal(r.st.usage.completion_tokens, 5);
    assert_int_equal(ev(&r, "message_delta", "{\"delta\":{\"stop_reason\":"
                        "\"end_turn\"},\"usage\":{\"output_tokens\":9}}"), 0);
    assert_int_equal(r.st.usage.completion_tokens, 9);
    assert_string_equal(r.st.finish_reason, "content_filter");
    assert_int_equal(ev(&r, "message_stop", "{}"), 0);
    assert_int_equal(r.st.stopped, 1);
    assert_int_equal(r.emits, 0);
    run_free(&r);

    /* emit's refusal stops the translator with its value */

    for (i = 1; i <= 3; i++) {
        run_init(&r, 1, -1);
        r.fail_emit_at = i;
        rc = ev(&r, "message_start", START);

        if (i == 1) {
            assert_int_equal(rc, 77);
            run_free(&r);
            continue;
        }

        assert_int_equal(rc, 0);
        rc = ev(&r, "message_stop", "{}");
        assert_int_equal(rc, 77);
        run_free(&r);
    }

    /* error events: mapped, with or without an error object */

    run_init(&r, 0, -1);
    assert_int_equal(ev(&r, "error", "{\"type\":\"error\"}"), 0);
    assert_int_equal(r.st.failed, 1);
    check_out(&r, "data: {\"error\":{\"message\":\"The upstream provider "
              "ended the stream with an error.\",\"type\":\"api_error\","
              "\"param\":null,\"code\":null}}\n\n");
    assert_int_equal(aigw_anthropic_stream_finish(&r.st, test_emit, &r), 0);
    run_free(&r);

    run_init(&r, 0, -1);
    assert_int_equal(ev(&r, "message_start", START), 0);
    r.out.len = 0;
    assert_int_equal(ev(&r, NULL, "{\"type\":\"error\",\"error\":{\"type\":"
                        "\"rate_limit_error\",\"message\":\"slow down\"}}"),
                     0);
    check_out(&r, "data: {\"error\":{\"message\":\"slow down\",\"type\":"
              "\"rate_limit_exceeded\",\"param\":null,"
              "\"code\":\"rate_limit_exceeded\"}}\n\n");
    run_free(&r);
}


/* memory stays bounded by the largest chunk, however long the stream */

static void
test_stream_bounded(void **state)
{
    char    data[256];
    run_t   r;
    size_t  i, total;

    (void) state;

    run_init(&r, 1, -1);
    assert_int_equal(ev(&r, "message_start", START), 0);
    total = 0;

    for (i = 0; i < 20000; i++) {
        snprintf(data, sizeof(data), "{\"index\":0,\"delta\":{\"type\":"
                 "\"text_delta\",\"text\":\"token %zu \"}}", i);
        assert_int_equal(ev(&r, "content_block_delta", data), 0);

        /* the test's own output is kept short too */
        r.out.len = 0;

        if (i == 10) {
            total = r.pool.total;
        }
    }

    assert_int_equal(r.pool.total, total);
    assert_true(r.pool.total <= 1024);
    run_free(&r);
}


static void
test_stream_nomem(void **state)
{
    int      rc, frc;
    char    *in, *exp;
    long     n;
    size_t   len, elen;
    run_t    r;

    (void) state;

    in = fixture("stream-tools.sse", &len);
    exp = fixture("stream-tools.expected", &elen);

    /* the scratch buffer */

    run_init(&r, 1, 0);
    rc = run_pieces(&r, in, len, NULL, 0, &frc);
    assert_int_equal(rc, AIGW_ADAPTER_NOMEM);
    assert_int_equal(r.out.len, 0);
    run_free(&r);

    /* jansson, at every allocation of the whole stream */

    for (n = 0; n < 1000000; n++) {
        run_init(&r, 1, -1);
        json_fail_at(n);
        rc = run_pieces(&r, in, len, NULL, 0, &frc);
        json_fail_at(-1);

        if (rc == 0) {
            assert_int_equal(frc, AIGW_ADAPTER_OK);
            assert_int_equal(r.out.len, elen);
            assert_memory_equal(r.out.data, exp, elen);
            run_free(&r);
            break;
        }

        assert_true(rc == AIGW_ADAPTER_NOMEM || rc == AIGW_ADAPTER_INVALID);
        run_free(&r);
    }

    assert_true(n > 100 && n < 1000000);

    free(in);
    free(exp);

    /* and a stream that ends in an error event */

    in = fixture("stream-error.sse", &len);
    exp = fixture("stream-error.expected", &elen);

    for (n = 0; n < 1000000; n++) {
        run_init(&r, 1, -1);
        json_fail_at(n);
        rc = run_pieces(&r, in, len, NULL, 0, &frc);
        json_fail_at(-1);

        if (rc == 0) {
            assert_int_equal(frc, AIGW_ADAPTER_OK);
            assert_int_equal(r.out.len, elen);
            assert_memory_equal(r.out.data, exp, elen);
            run_free(&r);
            break;
        }

        assert_true(rc == AIGW_ADAPTER_NOMEM || rc == AIGW_ADAPTER_INVALID);
        run_free(&r);
    }

    assert_true(n > 10 && n < 1000000);

    free(in);
    free(exp);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_request_golden),
        cmocka_unit_test(test_request_model_from_body),
        cmocka_unit_test(test_request_thinking),
        cmocka_unit_test(test_request_tool_choice),
        cmocka_unit_test(test_request_images),
        cmocka_unit_test(test_request_bad),
        cmocka_unit_test(test_request_deep_and_huge),
        cmocka_unit_test(test_request_nomem),
        cmocka_unit_test(test_response_golden),
        cmocka_unit_test(test_response_finish),
        cmocka_unit_test(test_response_bad),
        cmocka_unit_test(test_response_nomem),
        cmocka_unit_test(test_error),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_stream_golden),
        cmocka_unit_test(test_stream_truncated),
        cmocka_unit_test(test_stream_events),
        cmocka_unit_test(test_stream_blocks),
        cmocka_unit_test(test_stream_bounded),
        cmocka_unit_test(test_stream_nomem),
    };

    /* before any JSON value exists: values must be freed by who made them */
    json_set_alloc_funcs(test_json_malloc, free);

    return cmocka_run_group_tests(tests, NULL, NULL);
}
