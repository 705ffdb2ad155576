/*
 * Unit tests for src/aigw_gemini.c (cmocka).
 *
 * Golden fixtures live in t/fixtures/gemini/, found from this file's own
 * path: bodies are compared as JSON values, streams byte for byte.  The
 * stream fixture (CRLF line ends) goes through the real SSE parser, split
 * at every byte and fed one byte at a time.  Every allocation, jansson's
 * included, goes through a counting allocator that can fail after N
 * allocations, so each entry point is run with every N until it succeeds:
 * it must say AIGW_ADAPTER_NOMEM and leak nothing (run under valgrind).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "aigw_gemini.h"
#include "aigw_sse.h"


#define CREATED     1700000000
#define MAX_TRIES   200000


typedef struct {
    void      **ptr;
    size_t      n;
    size_t      cap;
} pool_t;


typedef struct {
    aigw_gemini_stream_t   st;
    pool_t                 pool;
    char                  *out;
    size_t                 len;
    size_t                 cap;
    int                    emit_null;
    int                    emit_rc;    /* what emit returns */
    size_t                 emits;
} run_t;


/* allocations left before every allocation fails; -1: no limit */
static long  budget = -1;


static int
take(void)
{
    if (budget < 0) {
        return 1;
    }

    if (budget == 0) {
        return 0;
    }

    budget--;
    return 1;
}


static void *
json_malloc_test(size_t size)
{
    return take() ? malloc(size) : NULL;
}


static void
json_free_test(void *p)
{
    free(p);
}


static void *
pool_alloc(void *data, size_t size)
{
    void    *p;
    pool_t  *pool;

    pool = data;

    if (!take()) {
        return NULL;
    }

    if (pool->n == pool->cap) {
        pool->cap = pool->cap ? pool->cap * 2 : 16;
        pool->ptr = realloc(pool->ptr, pool->cap * sizeof(void *));
        assert_non_null(pool->ptr);
    }

    p = malloc(size);
    assert_non_null(p);

    pool->ptr[pool->n++] = p;

    return p;
}


static void
pool_free(pool_t *pool)
{
    size_t  i;

    for (i = 0; i < pool->n; i++) {
        free(pool->ptr[i]);
    }

    free(pool->ptr);
    memset(pool, 0, sizeof(pool_t));
}


static char *
fixture(const char *name, size_t *len)
{
    long         n;
    char        *path, *buf;
    FILE        *f;
    const char  *slash;
    size_t       dir;

    slash = strrchr(__FILE__, '/');
    dir = slash ? (size_t) (slash - __FILE__) : 1;

    path = malloc(dir + strlen(name) + 32);
    assert_non_null(path);

    (void) sprintf(path, "%.*s/../fixtures/gemini/%s", (int) dir,
                   slash ? __FILE__ : ".", name);

    f = fopen(path, "rb");
    if (f == NULL) {
        fail_msg("cannot open fixture %s", path);
    }

    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);

    buf = malloc((size_t) n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t) n, f), (size_t) n);
    buf[n] = '\0';

    fclose(f);
    free(path);

    *len = (size_t) n;

    return buf;
}


static json_t *
json_fixture(const char *name)
{
    char          *text;
    size_t         len;
    json_t        *j;
    json_error_t   e;

    text = fixture(name, &len);
    j = json_loadb(text, len, 0, &e);
    free(text);

    if (j == NULL) {
        fail_msg("fixture %s: %s", name, e.text);
    }

    return j;
}


static void
assert_json(const u_char *p, size_t len, const char *expect_name)
{
    char          *a, *b;
    json_t        *got, *want;
    json_error_t   e;

    got = json_loadb((const char *) p, len, 0, &e);
    if (got == NULL) {
        fail_msg("output is not JSON (%s): %.*s", e.text, (int) len, p);
    }

    want = json_fixture(expect_name);

    if (!json_equal(got, want)) {
        a = json_dumps(got, JSON_INDENT(1) | JSON_SORT_KEYS);
        b = json_dumps(want, JSON_INDENT(1) | JSON_SORT_KEYS);
        print_error("got:\n%s\nwant (%s):\n%s\n", a, expect_name, b);
        free(a);
        free(b);
        json_decref(got);
        json_decref(want);
        fail();
    }

    json_decref(got);
    json_decref(want);
}


static aigw_adapter_req_t
make_req(const char *model, int64_t default_max)
{
    aigw_adapter_req_t  req;

    req.model = (const u_char *) model;
    req.model_len = strlen(model);
    req.default_max_tokens = default_max;

    return req;
}


static aigw_adapter_resp_t
make_resp(int include_usage)
{
    aigw_adapter_resp_t  resp;

    memset(&resp, 0, sizeof(aigw_adapter_resp_t));
    resp.id = (const u_char *) "chatcmpl-test";
    resp.id_len = sizeof("chatcmpl-test") - 1;
    resp.model = (const u_char *) "public-model";
    resp.model_len = sizeof("public-model") - 1;
    resp.created = CREATED;
    resp.include_usage = include_usage;

    return resp;
}


/* requests */

static int
request(const char *body, size_t len, int64_t default_max, aigw_buf_t *out,
    pool_t *pool, int *stream, aigw_adapter_error_t *err)
{
    aigw_adapter_req_t  req;

    req = make_req("gemini-2.5-flash", default_max);
    aigw_buf_init(out, pool_alloc, pool, 0);

    return aigw_gemini_request((const u_char *) body, len, &req, out, stream,
                               err);
}


static void
check_request(const char *name, int expect_stream)
{
    int                    rc, stream;
    char                   in[128], want[128], *body;
    size_t                 len;
    pool_t                 pool;
    aigw_buf_t             out;
    aigw_adapter_error_t   err;

    memset(&pool, 0, sizeof(pool_t));

    (void) snprintf(in, sizeof(in), "request-%s.openai.json", name);
    (void) snprintf(want, sizeof(want), "request-%s.gemini.json", name);

    body = fixture(in, &len);

    rc = request(body, len, 0, &out, &pool, &stream, &err);
    if (rc != AIGW_ADAPTER_OK) {
        fail_msg("%s: rc %d: %s (%s)", name, rc, err.message, err.param);
    }

    assert_int_equal(stream, expect_stream);
    assert_json(out.data, out.len, want);

    free(body);
    pool_free(&pool);
}


static void
test_request_basic(void **state)
{
    (void) state;
    check_request("basic", 0);
}


static void
test_request_tools(void **state)
{
    (void) state;
    check_request("tools", 1);
}


static void
test_request_schema(void **state)
{
    (void) state;
    check_request("schema", 0);
}


static void
test_request_default_max_tokens(void **state)
{
    int                    rc, stream;
    pool_t                 pool;
    json_t                *j, *gc;
    aigw_buf_t             out;
    aigw_adapter_error_t   err;

    static const char  body[] =
        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    static const char  capped[] =
        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        "\"max_tokens\":5}";

    (void) state;
    memset(&pool, 0, sizeof(pool_t));

    rc = request(body, sizeof(body) - 1, 512, &out, &pool, &stream, &err);
    assert_int_equal(rc, AIGW_ADAPTER_OK);

    j = json_loadb((const char *) out.data, out.len, 0, NULL);
    assert_non_null(j);
    gc = json_object_get(j, "generationConfig");
    assert_int_equal(json_integer_value(json_object_get(gc,
                                                        "maxOutputTokens")),
                     512);
    assert_int_equal(json_object_size(gc), 1);
    json_decref(j);

    /* the client's own value wins over the default */

    rc = request(capped, sizeof(capped) - 1, 512, &out, &pool, &stream,
                 &err);
    assert_int_equal(rc, AIGW_ADAPTER_OK);

    j = json_loadb((const char *) out.data, out.len, 0, NULL);
    assert_non_null(j);
    gc = json_object_get(j, "generationConfig");
    assert_int_equal(json_integer_value(json_object_get(gc,
                                                        "maxOutputTokens")),
                     5);
    json_decref(j);

    /* no default, no client value: no generationConfig at all */

    rc = request(body, sizeof(body) - 1, 0, &out, &pool, &stream, &err);
    assert_int_equal(rc, AIGW_ADAPTER_OK);

    j = json_loadb((const char *) out.data, out.len, 0, NULL);
    assert_non_null(j);
    assert_null(json_object_get(j, "generationConfig"));
    assert_null(json_object_get(j, "model"));
    assert_null(json_object_get(j, "stream"));
    json_decref(j);

    pool_free(&pool);
}


static void
test_request_image_mime(void **state)
{
    size_t                 i;
    int                    rc, stream;
    char                   body[512];
    pool_t                 pool;
    json_t                *j, *fd;
    aigw_buf_t             out;
    aigw_adapter_error_t   err;

    static const struct {
        const char  *url;
        const char  *mime;
    } cases[] = {
        { "https://x.test/a.png", "image/png" },
        { "http://x.test/b/c.JPG#frag", "image/jpeg" },
        { "https://x.test/c.jpeg?x=1.png", "image/jpeg" },
        { "https://x.test/d.gif", "image/gif" },
        { "https://x.test/e.heic", "image/heic" },
        { "https://x.test/f.svg", "image/jpeg" },
        { "https://x.test.png/", "image/jpeg" },
        { "HTTPS://x.test", "image/jpeg" },
    };

    (void) state;
    memset(&pool, 0, sizeof(pool_t));

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        /* the string form of image_url, which some clients send */
        (void) snprintf(body, sizeof(body),
                        "{\"messages\":[{\"role\":\"user\",\"content\":["
                        "{\"type\":\"image_url\",\"image_url\":\"%s\"}]}]}",
                        cases[i].url);

        rc = request(body, strlen(body), 0, &out, &pool, &stream, &err);
        assert_int_equal(rc, AIGW_ADAPTER_OK);

        j = json_loadb((const char *) out.data, out.len, 0, NULL);
        assert_non_null(j);

        fd = json_object_get(json_array_get(json_object_get(
                 json_array_get(json_object_get(j, "contents"), 0), "parts"),
                 0), "fileData");

        assert_string_equal(json_string_value(json_object_get(fd,
                                                              "mimeType")),
                            cases[i].mime);
        assert_string_equal(json_string_value(json_object_get(fd,
                                                              "fileUri")),
                            cases[i].url);
        json_decref(j);
    }

    pool_free(&pool);
}


static void
test_request_invalid(void **state)
{
    size_t                 i;
    int                    rc, stream;
    pool_t                 pool;
    aigw_buf_t             out;
    aigw_adapter_error_t   err;

#define M(x)  "{\"messages\":[" x "]}"
#define U     "{\"role\":\"user\",\"content\":\"hi\"}"
#define TC(args) \
    "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c1\",\"type\":" \
    "\"function\",\"function\":{\"name\":\"f\",\"arguments\":" args "}}]}"

    static const struct {
        const char  *body;
        const char  *param;
    } cases[] = {
        { "not json", "" },
        { "{\"messages\":[", "" },
        { "[1,2]", "" },
        { "{\"a\":\"\xff\"}", "" },
        { "{}", "messages" },
        { "{\"messages\":\"hi\"}", "messages" },
        { M(""), "messages" },
        { M("1"), "messages[0]" },
        { M("{\"content\":\"x\"}"), "messages[0].role" },
        { M("{\"role\":1,\"content\":\"x\"}"), "messages[0].role" },
        { M("{\"role\":\"wizard\",\"content\":\"x\"}"), "messages[0].role" },
        { M("{\"role\":\"function\",\"content\":\"x\"}"), "messages[0].role" },
        { M("{\"role\":\"user\",\"content\":5}"), "messages[0].content" },
        { M("{\"role\":\"user\"}"), "messages[0].content" },
        { M("{\"role\":\"user\",\"content\":null}"), "messages[0].content" },
        { M("{\"role\":\"system\",\"content\":{}}"), "messages[0].content" },
        { M("{\"role\":\"assistant\",\"content\":true}"),
          "messages[0].content" },
        { M("{\"role\":\"user\",\"content\":[5]}"), "messages[0].content[0]" },
        { M("{\"role\":\"user\",\"content\":[{\"text\":\"x\"}]}"),
          "messages[0].content[0].type" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"video\"}]}"),
          "messages[0].content[0].type" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"refusal\","
            "\"refusal\":\"no\"}]}"),
          "messages[0].content[0].type" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":1}]}"),
          "messages[0].content[0].text" },
        { M("{\"role\":\"assistant\",\"content\":[{\"type\":\"refusal\","
            "\"refusal\":2}]}"),
          "messages[0].content[0].refusal" },
        { M("{\"role\":\"system\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":\"https://x/a.png\"}}]}"),
          "messages[0].content[0].type" },
        { M("{\"role\":\"assistant\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":\"https://x/a.png\"}}]}"),
          "messages[0].content[0].type" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\"}]}"),
          "messages[0].content[0].image_url.url" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":7}}]}"),
          "messages[0].content[0].image_url.url" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":\"ftp://x/a.png\"}}]}"),
          "messages[0].content[0].image_url.url" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":\"data:image/png,abc\"}}]}"),
          "messages[0].content[0].image_url.url" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":\"data:;base64,abc\"}}]}"),
          "messages[0].content[0].image_url.url" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":\"data:image/png;base64,\"}}]}"),
          "messages[0].content[0].image_url.url" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"image_url\","
            "\"image_url\":{\"url\":\"file:///etc/passwd\"}}]}"),
          "messages[0].content[0].image_url.url" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\","
            "\"input_audio\":{\"data\":\"AA==\",\"format\":\"midi\"}}]}"),
          "messages[0].content[0].input_audio.format" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"input_audio\","
            "\"input_audio\":{\"format\":\"wav\"}}]}"),
          "messages[0].content[0].input_audio.data" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"file\","
            "\"file\":{\"file_id\":\"file-1\"}}]}"),
          "messages[0].content[0].file.file_id" },
        { M("{\"role\":\"user\",\"content\":[{\"type\":\"file\","
            "\"file\":{\"file_data\":\"https://x/a.pdf\"}}]}"),
          "messages[0].content[0].file.file_data" },
        { M(U ",{\"role\":\"assistant\",\"tool_calls\":{}}"),
          "messages[1].tool_calls" },
        { M(U ",{\"role\":\"assistant\",\"tool_calls\":[1]}"),
          "messages[1].tool_calls[0]" },
        { M(U ",{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\","
            "\"type\":\"web\",\"function\":{\"name\":\"f\"}}]}"),
          "messages[1].tool_calls[0].type" },
        { M(U ",{\"role\":\"assistant\",\"tool_calls\":[{\"type\":"
            "\"function\",\"function\":{\"name\":\"f\"}}]}"),
          "messages[1].tool_calls[0].id" },
        { M(U ",{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\"}]}"),
          "messages[1].tool_calls[0].function" },
        { M(U ",{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\","
            "\"function\":{\"name\":\"\"}}]}"),
          "messages[1].tool_calls[0].function.name" },
        { M(U "," TC("\"not json\"")),
          "messages[1].tool_calls[0].function.arguments" },
        { M(U "," TC("\"[1,2]\"")),
          "messages[1].tool_calls[0].function.arguments" },
        { M(U "," TC("\"{\\\"a\\\":1\"")),
          "messages[1].tool_calls[0].function.arguments" },
        { M(U "," TC("{\"a\":1}")),
          "messages[1].tool_calls[0].function.arguments" },
        { M(U "," TC("5")),
          "messages[1].tool_calls[0].function.arguments" },
        { M(U "," TC("\"{}\"") ",{\"role\":\"tool\",\"tool_call_id\":"
            "\"c2\",\"content\":\"x\"}"),
          "messages[2].tool_call_id" },
        { M(U ",{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"x\"}"
            "," TC("\"{}\"")),
          "messages[1].tool_call_id" },
        { M(U "," TC("\"{}\"") ",{\"role\":\"tool\",\"content\":\"x\"}"),
          "messages[2].tool_call_id" },
        { M(U "," TC("\"{}\"") ",{\"role\":\"tool\",\"tool_call_id\":"
            "\"c1\",\"content\":7}"),
          "messages[2].content" },
        { M(U "," TC("\"{}\"") ",{\"role\":\"tool\",\"tool_call_id\":"
            "\"c1\",\"content\":[{\"type\":\"image_url\"}]}"),
          "messages[2].content[0]" },
        { M("{\"role\":\"system\",\"content\":\"only system\"}"), "messages" },
        { M("{\"role\":\"user\",\"content\":\"\"}"), "messages" },
        { "{\"messages\":[" U "],\"stream\":\"yes\"}", "stream" },
        { "{\"messages\":[" U "],\"stream_options\":true}", "stream_options" },
        { "{\"messages\":[" U "],\"temperature\":\"hot\"}", "temperature" },
        { "{\"messages\":[" U "],\"top_p\":[]}", "top_p" },
        { "{\"messages\":[" U "],\"top_k\":1.5}", "top_k" },
        { "{\"messages\":[" U "],\"max_tokens\":-1}", "max_tokens" },
        { "{\"messages\":[" U "],\"max_tokens\":\"5\"}", "max_tokens" },
        { "{\"messages\":[" U "],\"max_completion_tokens\":0}",
          "max_completion_tokens" },
        { "{\"messages\":[" U "],\"n\":0}", "n" },
        { "{\"messages\":[" U "],\"n\":2,\"stream\":true}", "n" },
        { "{\"messages\":[" U "],\"seed\":\"x\"}", "seed" },
        { "{\"messages\":[" U "],\"presence_penalty\":{}}",
          "presence_penalty" },
        { "{\"messages\":[" U "],\"frequency_penalty\":false}",
          "frequency_penalty" },
        { "{\"messages\":[" U "],\"stop\":5}", "stop" },
        { "{\"messages\":[" U "],\"stop\":[\"a\",1]}", "stop[1]" },
        { "{\"messages\":[" U "],\"response_format\":\"json\"}",
          "response_format" },
        { "{\"messages\":[" U "],\"response_format\":{\"type\":\"xml\"}}",
          "response_format.type" },
        { "{\"messages\":[" U "],\"response_format\":{\"type\":"
          "\"json_schema\"}}", "response_format.json_schema" },
        { "{\"messages\":[" U "],\"response_format\":{\"type\":"
          "\"json_schema\",\"json_schema\":{\"schema\":[]}}}",
          "response_format.json_schema.schema" },
        { "{\"messages\":[" U "],\"reasoning_effort\":\"extreme\"}",
          "reasoning_effort" },
        { "{\"messages\":[" U "],\"reasoning_effort\":3}",
          "reasoning_effort" },
        { "{\"messages\":[" U "],\"tools\":{}}", "tools" },
        { "{\"messages\":[" U "],\"tools\":[1]}", "tools[0]" },
        { "{\"messages\":[" U "],\"tools\":[{\"type\":\"web_search\"}]}",
          "tools[0].type" },
        { "{\"messages\":[" U "],\"tools\":[{\"type\":\"function\"}]}",
          "tools[0].function" },
        { "{\"messages\":[" U "],\"tools\":[{\"type\":\"function\","
          "\"function\":{}}]}", "tools[0].function.name" },
        { "{\"messages\":[" U "],\"tools\":[{\"type\":\"function\","
          "\"function\":{\"name\":\"f\",\"description\":1}}]}",
          "tools[0].function.description" },
        { "{\"messages\":[" U "],\"tools\":[{\"type\":\"function\","
          "\"function\":{\"name\":\"f\",\"parameters\":\"{}\"}}]}",
          "tools[0].function.parameters" },
        { "{\"messages\":[" U "],\"tool_choice\":\"sometimes\"}",
          "tool_choice" },
        { "{\"messages\":[" U "],\"tool_choice\":1}", "tool_choice" },
        { "{\"messages\":[" U "],\"tool_choice\":{\"type\":\"function\"}}",
          "tool_choice.function.name" },
    };

#undef M
#undef U
#undef TC

    (void) state;
    memset(&pool, 0, sizeof(pool_t));

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        stream = -1;
        rc = request(cases[i].body, strlen(cases[i].body), 0, &out, &pool,
                     &stream, &err);

        if (rc != AIGW_ADAPTER_INVALID
            || strcmp(err.param, cases[i].param) != 0)
        {
            fail_msg("case %zu (%s): rc %d, param \"%s\", want \"%s\"", i,
                     cases[i].body, rc, err.param, cases[i].param);
        }

        assert_int_equal(stream, 0);
        assert_true(err.message[0] != '\0');

        /* the message names the member */
        assert_memory_equal(err.message, cases[i].param,
                            strlen(cases[i].param));
    }

    pool_free(&pool);
}


static void
test_request_lenient(void **state)
{
    size_t                 i;
    int                    rc, stream;
    pool_t                 pool;
    aigw_buf_t             out;
    aigw_adapter_error_t   err;

    /* accepted, though odd */
    static const char  *cases[] = {
        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        "\"temperature\":null,\"stop\":null,\"tools\":null,"
        "\"tool_choice\":null,\"stream\":null,\"n\":null}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        "\"stop\":[],\"tools\":[],\"tool_choice\":\"auto\"}",
        "{\"messages\":[{\"role\":\"assistant\",\"content\":null},"
        "{\"role\":\"user\",\"content\":\"hi\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},"
        "{\"role\":\"assistant\",\"tool_calls\":[{\"id\":\"c\",\"function\":"
        "{\"name\":\"f\",\"arguments\":\"  \"}}]},{\"role\":\"tool\","
        "\"tool_call_id\":\"c\"},{\"role\":\"tool\",\"tool_call_id\":\"c\","
        "\"content\":\"{not json\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}",
    };

    (void) state;
    memset(&pool, 0, sizeof(pool_t));

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rc = request(cases[i], strlen(cases[i]), 0, &out, &pool, &stream,
                     &err);

        if (rc != AIGW_ADAPTER_OK) {
            fail_msg("case %zu: rc %d: %s", i, rc, err.message);
        }
    }

    pool_free(&pool);
}


/* head, depth times open, mid, depth times close, tail */

static char *
nested(const char *open, const char *close, const char *head,
    const char *mid, const char *tail, size_t depth)
{
    char    *s, *p;
    size_t   i, n, lo, lc;

    lo = strlen(open);
    lc = strlen(close);
    n = strlen(head) + strlen(mid) + strlen(tail) + depth * (lo + lc);

    s = malloc(n + 1);
    if (s == NULL) {
        fail_msg("out of memory");
        return NULL;
    }

    p = stpcpy(s, head);

    for (i = 0; i < depth; i++) {
        p = (char *) memcpy(p, open, lo) + lo;
    }

    p = stpcpy(p, mid);

    for (i = 0; i < depth; i++) {
        p = (char *) memcpy(p, close, lc) + lc;
    }

    (void) strcpy(p, tail);

    return s;
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
    memset(&pool, 0, sizeof(pool_t));

    /* deeper than jansson parses: a 400, no crash */

    body = nested("[", "]", "{\"messages\":[{\"role\":\"user\",\"content\":",
                  "", "}]}", 100000);
    rc = request(body, strlen(body), 0, &out, &pool, &stream, &err);
    assert_int_equal(rc, AIGW_ADAPTER_INVALID);
    assert_string_equal(err.param, "");
    free(body);

    /* a deep schema is walked to its end */

    body = nested("{\"type\":\"object\",\"properties\":{\"a\":", "}}",
                  "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
                  "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
                  "\"f\",\"parameters\":", "{}", "}}]}", 600);
    rc = request(body, strlen(body), 0, &out, &pool, &stream, &err);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    free(body);

    pool_free(&pool);
}


/* responses */

static void
check_response(const char *name)
{
    int                   rc;
    char                  in[128], want[128], *body;
    size_t                len;
    pool_t                pool;
    json_t               *j, *u;
    aigw_buf_t            out;
    aigw_usage_t          usage;
    aigw_adapter_resp_t   resp;

    memset(&pool, 0, sizeof(pool_t));
    resp = make_resp(0);

    (void) snprintf(in, sizeof(in), "response-%s.gemini.json", name);
    (void) snprintf(want, sizeof(want), "response-%s.openai.json", name);

    body = fixture(in, &len);
    aigw_buf_init(&out, pool_alloc, &pool, 0);

    rc = aigw_gemini_response((u_char *) body, len, &resp, &out, &usage);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_json(out.data, out.len, want);

    /* *usage says what the body's usage says */

    j = json_fixture(want);
    u = json_object_get(j, "usage");

    assert_int_equal(usage.found, 1);
    assert_int_equal(usage.prompt_tokens,
                     json_integer_value(json_object_get(u, "prompt_tokens")));
    assert_int_equal(usage.completion_tokens,
                     json_integer_value(json_object_get(u,
                                                        "completion_tokens")));
    assert_int_equal(usage.total_tokens,
                     json_integer_value(json_object_get(u, "total_tokens")));
    assert_int_equal(usage.cached_tokens,
                     json_integer_value(json_object_get(
                         json_object_get(u, "prompt_tokens_details"),
                         "cached_tokens")));
    assert_int_equal(usage.reasoning_tokens,
                     json_integer_value(json_object_get(
                         json_object_get(u, "completion_tokens_details"),
                         "reasoning_tokens")));
    json_decref(j);

    free(body);
    pool_free(&pool);
}


static void
test_response_text(void **state)
{
    (void) state;
    check_response("text");
}


static void
test_response_tools(void **state)
{
    (void) state;
    check_response("tools");
}


static void
test_response_multi(void **state)
{
    (void) state;
    check_response("multi");
}


static void
test_response_blocked(void **state)
{
    (void) state;
    check_response("blocked");
}


static void
test_response_no_usage(void **state)
{
    int                   rc;
    pool_t                pool;
    json_t               *j;
    aigw_buf_t            out;
    aigw_usage_t          usage;
    aigw_adapter_resp_t   resp;

    static const char  body[] =
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"hi\"}]}}]}";

    (void) state;
    memset(&pool, 0, sizeof(pool_t));
    resp = make_resp(0);
    aigw_buf_init(&out, pool_alloc, &pool, 0);

    rc = aigw_gemini_response((const u_char *) body, sizeof(body) - 1, &resp,
                              &out, &usage);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_int_equal(usage.found, 0);

    j = json_loadb((const char *) out.data, out.len, 0, NULL);
    assert_non_null(j);
    assert_null(json_object_get(j, "usage"));
    assert_string_equal(json_string_value(json_object_get(j, "id")),
                        "chatcmpl-test");
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(json_array_get(
                                json_object_get(j, "choices"), 0),
                                "message"), "content")), "hi");
    json_decref(j);

    pool_free(&pool);
}


static void
test_response_invalid(void **state)
{
    size_t                i;
    int                   rc;
    char                 *deep;
    pool_t                pool;
    aigw_buf_t            out;
    aigw_usage_t          usage;
    aigw_adapter_resp_t   resp;

    static const char  *cases[] = {
        "",
        "not json",
        "{\"candidates\":[",
        "[]",
        "\"text\"",
        "{}",
        "{\"candidates\":[]}",
        "{\"candidates\":{}}",
        "{\"candidates\":[1]}",
        "{\"candidates\":[{\"index\":\"0\"}]}",
        "{\"candidates\":[{\"finishReason\":1}]}",
        "{\"candidates\":[{\"content\":[]}]}",
        "{\"candidates\":[{\"content\":{\"parts\":{}}}]}",
        "{\"candidates\":[{\"content\":{\"parts\":[1]}}]}",
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":1}]}}]}",
        "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":1}]}}]}",
        "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":"
        "{\"args\":{}}}]}}]}",
        "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":"
        "{\"name\":\"f\",\"args\":\"{}\"}}]}}]}",
        "{\"candidates\":[{}],\"usageMetadata\":[]}",
        "{\"candidates\":[{}],\"usageMetadata\":{\"promptTokenCount\":-1}}",
        "{\"candidates\":[{}],\"usageMetadata\":{\"promptTokenCount\":\"1\"}}",
        "{\"candidates\":[{}],\"usageMetadata\":{\"totalTokenCount\":1.5}}",
        "{\"candidates\":[{}],\"usageMetadata\":{\"thoughtsTokenCount\":"
        "99999999999999999}}",
        "{\"promptFeedback\":{}}",
        "{\"promptFeedback\":{\"blockReason\":1}}",
        "{\"promptFeedback\":[]}",
    };

    (void) state;
    memset(&pool, 0, sizeof(pool_t));
    resp = make_resp(0);

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aigw_buf_init(&out, pool_alloc, &pool, 0);
        usage.found = 1;

        rc = aigw_gemini_response((const u_char *) cases[i],
                                  strlen(cases[i]), &resp, &out, &usage);
        if (rc != AIGW_ADAPTER_INVALID) {
            fail_msg("case %zu (%s): rc %d", i, cases[i], rc);
        }

        assert_int_equal(usage.found, 0);
        assert_int_equal(out.len, 0);
    }

    deep = nested("[", "]", "{\"candidates\":", "", "}", 50000);
    rc = aigw_gemini_response((const u_char *) deep, strlen(deep), &resp,
                              &out, &usage);
    assert_int_equal(rc, AIGW_ADAPTER_INVALID);
    free(deep);

    pool_free(&pool);
}


static void
test_response_bounded(void **state)
{
    int                   rc;
    char                 *body;
    size_t                len;
    pool_t                pool;
    aigw_buf_t            out;
    aigw_usage_t          usage;
    aigw_adapter_resp_t   resp;

    (void) state;
    memset(&pool, 0, sizeof(pool_t));
    resp = make_resp(0);

    body = fixture("response-text.gemini.json", &len);
    aigw_buf_init(&out, pool_alloc, &pool, 64);

    rc = aigw_gemini_response((u_char *) body, len, &resp, &out, &usage);
    assert_int_equal(rc, AIGW_ADAPTER_TOO_BIG);
    assert_int_equal(usage.found, 0);

    free(body);
    pool_free(&pool);
}


static void
test_usage(void **state)
{
    int           rc;
    aigw_usage_t  u;

    static const char  um[] =
        "{\"promptTokenCount\":100,\"candidatesTokenCount\":30,"
        "\"thoughtsTokenCount\":50,\"cachedContentTokenCount\":60,"
        "\"toolUsePromptTokenCount\":5}";

    (void) state;

    rc = aigw_gemini_usage((const u_char *) um, sizeof(um) - 1, &u);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_int_equal(u.found, 1);
    assert_int_equal(u.prompt_tokens, 105);
    assert_int_equal(u.completion_tokens, 80);
    assert_int_equal(u.total_tokens, 185);
    assert_int_equal(u.cached_tokens, 60);
    assert_int_equal(u.reasoning_tokens, 50);

    rc = aigw_gemini_usage((const u_char *) "{\"totalTokenCount\":9}", 21,
                           &u);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_int_equal(u.total_tokens, 9);
    assert_int_equal(u.prompt_tokens, 0);

    rc = aigw_gemini_usage((const u_char *) "{}", 2, &u);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_int_equal(u.found, 1);
    assert_int_equal(u.total_tokens, 0);

    rc = aigw_gemini_usage((const u_char *) "[1]", 3, &u);
    assert_int_equal(rc, AIGW_ADAPTER_INVALID);
    assert_int_equal(u.found, 0);

    rc = aigw_gemini_usage((const u_char *) "{\"promptTokenCount\":", 20, &u);
    assert_int_equal(rc, AIGW_ADAPTER_INVALID);
    assert_int_equal(u.found, 0);
}


/* errors */

static void
test_errors(void **state)
{
    size_t       i;
    int          rc, status;
    char         in[128], want[128], *body;
    size_t       len;
    pool_t       pool;
    aigw_buf_t   out;

    static const struct {
        const char  *name;
        int          status;
        int          out_status;
    } cases[] = {
        { "invalid-argument", 400, 400 },
        { "api-key", 400, 401 },
        { "quota", 429, 429 },
        { "not-found", 404, 404 },
        { "permission", 403, 403 },
        { "unavailable", 503, 503 },
        { "unauthenticated", 401, 401 },
    };

    (void) state;
    memset(&pool, 0, sizeof(pool_t));

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        (void) snprintf(in, sizeof(in), "error-%s.gemini.json",
                        cases[i].name);
        (void) snprintf(want, sizeof(want), "error-%s.openai.json",
                        cases[i].name);

        body = fixture(in, &len);
        aigw_buf_init(&out, pool_alloc, &pool, 0);

        rc = aigw_gemini_error(cases[i].status, (u_char *) body, len, &out,
                               &status);
        assert_int_equal(rc, AIGW_ADAPTER_OK);
        assert_int_equal(status, cases[i].out_status);
        assert_json(out.data, out.len, want);

        free(body);
    }

    pool_free(&pool);
}


static void
test_error_not_json(void **state)
{
    size_t       i;
    int          rc, status;
    char         text[256];
    pool_t       pool;
    aigw_buf_t   out;

    static const struct {
        const char  *body;
        int          status;
        const char  *expect;
    } cases[] = {
        { "<html>Bad Gateway</html>", 502,
          "{\"error\":{\"message\":\"upstream error (HTTP 502)\","
          "\"type\":\"api_error\",\"param\":null,\"code\":null}}" },
        { "", 429,
          "{\"error\":{\"message\":\"upstream error (HTTP 429)\","
          "\"type\":\"rate_limit_exceeded\",\"param\":null,\"code\":null}}" },
        { "{\"error\":\"nope\"}", 400,
          "{\"error\":{\"message\":\"upstream error (HTTP 400)\","
          "\"type\":\"invalid_request_error\",\"param\":null,"
          "\"code\":null}}" },
        { "[]", 500,
          "{\"error\":{\"message\":\"upstream error (HTTP 500)\","
          "\"type\":\"api_error\",\"param\":null,\"code\":null}}" },
        { "{\"error\":{\"code\":504,\"status\":\"DEADLINE_EXCEEDED\"}}", 504,
          "{\"error\":{\"message\":\"upstream error (HTTP 504)\","
          "\"type\":\"api_error\",\"param\":null,\"code\":null}}" },
        { "{\"error\":{\"code\":400,\"message\":\"API key expired.\","
          "\"status\":\"INVALID_ARGUMENT\",\"details\":[{\"reason\":"
          "\"API_KEY_INVALID\"}]}}", 400,
          "{\"error\":{\"message\":\"API key expired.\","
          "\"type\":\"authentication_error\",\"param\":null,"
          "\"code\":\"invalid_api_key\"}}" },
    };

    (void) state;
    memset(&pool, 0, sizeof(pool_t));

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        aigw_buf_init(&out, pool_alloc, &pool, 0);

        rc = aigw_gemini_error(cases[i].status,
                               (const u_char *) cases[i].body,
                               strlen(cases[i].body), &out, &status);
        assert_int_equal(rc, AIGW_ADAPTER_OK);
        assert_true(out.len < sizeof(text));

        memcpy(text, out.data, out.len);
        text[out.len] = '\0';
        assert_string_equal(text, cases[i].expect);
    }

    pool_free(&pool);
}


/* the stream */

static int
emit_cb(void *ctx, const u_char *event, size_t event_len, const u_char *data,
    size_t data_len)
{
    run_t  *r;

    r = ctx;

    assert_null(event);
    assert_int_equal(event_len, 0);

    if (r->len + data_len + 8 > r->cap) {
        r->cap = (r->len + data_len + 8) * 2;
        r->out = realloc(r->out, r->cap);
        assert_non_null(r->out);
    }

    memcpy(r->out + r->len, "data: ", 6);
    memcpy(r->out + r->len + 6, data, data_len);
    memcpy(r->out + r->len + 6 + data_len, "\n\n", 2);
    r->len += data_len + 8;
    r->emits++;

    return r->emit_rc;
}


static int
sse_handler(void *data, aigw_sse_event_t *ev)
{
    run_t  *r;

    r = data;

    assert_int_equal(ev->overflow, 0);

    if (!ev->has_data) {
        return 0;
    }

    return aigw_gemini_stream_event(&r->st, ev->data, ev->data_len,
                                    r->emit_null ? NULL : emit_cb, r);
}


static void
run_init(run_t *r, int include_usage)
{
    aigw_adapter_resp_t  resp;

    memset(r, 0, sizeof(run_t));
    resp = make_resp(include_usage);

    aigw_gemini_stream_init(&r->st, &resp, pool_alloc, &r->pool);
}


static void
run_free(run_t *r)
{
    free(r->out);
    pool_free(&r->pool);
}


/*
 * Feeds in[0..len) through the SSE parser in pieces that end at the
 * ascending offsets cuts[]; returns the rc of aigw_gemini_stream_finish().
 */

static int
run_stream(run_t *r, const char *in, size_t len, const size_t *cuts,
    size_t ncuts)
{
    int          rc;
    char        *piece;
    size_t       i, from, to;
    aigw_sse_t   sse;

    aigw_sse_init(&sse, 65536, pool_alloc, &r->pool, sse_handler, r);

    from = 0;

    for (i = 0; i <= ncuts; i++) {
        to = i < ncuts ? cuts[i] : len;

        /* a private copy, poisoned after: nothing may point into it */
        piece = malloc(to - from + 1);
        assert_non_null(piece);
        memcpy(piece, in + from, to - from);

        rc = aigw_sse_feed(&sse, (u_char *) piece, to - from);
        memset(piece, 0xa5, to - from);
        free(piece);

        assert_int_equal(rc, 0);
        from = to;
    }

    assert_int_equal(aigw_sse_finish(&sse), 0);

    return aigw_gemini_stream_finish(&r->st, r->emit_null ? NULL : emit_cb,
                                     r);
}


static void
assert_stream_out(run_t *r, const char *want, size_t want_len)
{
    if (r->len != want_len || memcmp(r->out, want, want_len) != 0) {
        print_error("got:\n%.*s\nwant:\n%.*s\n", (int) r->len, r->out,
                    (int) want_len, want);
        fail();
    }
}


static void
assert_stream_usage(run_t *r)
{
    assert_int_equal(r->st.usage.found, 1);
    assert_int_equal(r->st.usage.prompt_tokens, 12);
    assert_int_equal(r->st.usage.completion_tokens, 28);
    assert_int_equal(r->st.usage.total_tokens, 40);
    assert_int_equal(r->st.usage.cached_tokens, 0);
    assert_int_equal(r->st.usage.reasoning_tokens, 8);
}


static void
test_stream_splits(void **state)
{
    int      rc;
    char    *in, *want, *want2;
    size_t   len, want_len, want2_len, cut, *cuts, i;
    run_t    r;

    (void) state;

    in = fixture("stream-tools.gemini.sse", &len);
    want = fixture("stream-tools.openai.sse", &want_len);
    want2 = fixture("stream-tools-nousage.openai.sse", &want2_len);

    /* the fixture really has CRLF line ends */
    assert_non_null(strstr(in, "\r\n\r\n"));

    /* whole, then cut in two at every byte */

    for (cut = 0; cut <= len; cut++) {
        run_init(&r, 1);

        rc = run_stream(&r, in, len, &cut, 1);
        assert_int_equal(rc, AIGW_ADAPTER_OK);
        assert_stream_out(&r, want, want_len);
        assert_stream_usage(&r);
        assert_int_equal(r.st.tools, 1);
        assert_string_equal(r.st.finish_reason, "tool_calls");

        run_free(&r);
    }

    /* one byte at a time */

    cuts = malloc(len * sizeof(size_t));
    assert_non_null(cuts);

    for (i = 0; i < len; i++) {
        cuts[i] = i + 1;
    }

    run_init(&r, 1);
    rc = run_stream(&r, in, len, cuts, len - 1);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_stream_out(&r, want, want_len);
    assert_stream_usage(&r);
    run_free(&r);

    /* without include_usage: no "usage" members, no usage chunk */

    run_init(&r, 0);
    rc = run_stream(&r, in, len, cuts, len - 1);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_stream_out(&r, want2, want2_len);
    assert_stream_usage(&r);
    run_free(&r);

    /* emit NULL: the stream is only watched */

    run_init(&r, 1);
    r.emit_null = 1;
    rc = run_stream(&r, in, len, NULL, 0);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_int_equal(r.len, 0);
    assert_stream_usage(&r);
    assert_int_equal(r.st.finished, 1);
    assert_int_equal(r.st.tools, 1);
    run_free(&r);

    free(cuts);
    free(in);
    free(want);
    free(want2);
}


static int
feed(run_t *r, const char *data)
{
    return aigw_gemini_stream_event(&r->st, (const u_char *) data,
                                    strlen(data),
                                    r->emit_null ? NULL : emit_cb, r);
}


static int
finish(run_t *r)
{
    return aigw_gemini_stream_finish(&r->st, r->emit_null ? NULL : emit_cb,
                                     r);
}


#define EV_TEXT  "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":" \
                 "\"Hi\"}],\"role\":\"model\"},\"index\":0}]}"
#define EV_STOP  "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":" \
                 "\"!\"}],\"role\":\"model\"},\"finishReason\":\"STOP\"," \
                 "\"index\":0}]," \
                 "\"usageMetadata\":{\"promptTokenCount\":3," \
                 "\"candidatesTokenCount\":2,\"totalTokenCount\":5}}"
#define HEAD     "data: {\"id\":\"chatcmpl-test\",\"object\":" \
                 "\"chat.completion.chunk\",\"created\":1700000000," \
                 "\"model\":\"public-model\",\"choices\":"
#define CHOICE(delta, fin) \
                 "[{\"index\":0,\"delta\":" delta ",\"logprobs\":null," \
                 "\"finish_reason\":" fin "}]}\n\n"


static void
test_stream_truncated(void **state)
{
    run_t  r;

    (void) state;

    /* no finishReason: the stream was cut; finish emits nothing */

    run_init(&r, 1);
    assert_int_equal(feed(&r, EV_TEXT), AIGW_ADAPTER_OK);
    assert_int_equal(r.emits, 2);
    assert_int_equal(finish(&r), AIGW_ADAPTER_INVALID);
    assert_int_equal(r.emits, 2);
    run_free(&r);

    /* nothing at all */

    run_init(&r, 1);
    assert_int_equal(finish(&r), AIGW_ADAPTER_INVALID);
    assert_int_equal(r.emits, 0);
    run_free(&r);

    /* with emit NULL too */

    run_init(&r, 1);
    r.emit_null = 1;
    assert_int_equal(feed(&r, EV_TEXT), AIGW_ADAPTER_OK);
    assert_int_equal(finish(&r), AIGW_ADAPTER_INVALID);
    run_free(&r);
}


static void
test_stream_error(void **state)
{
    run_t  r;

    static const char  want[] =
        HEAD CHOICE("{\"role\":\"assistant\",\"content\":\"\"}", "null")
        HEAD CHOICE("{\"content\":\"Hi\"}", "null")
        "data: {\"error\":{\"message\":\"Resource exhausted.\",\"type\":"
        "\"rate_limit_exceeded\",\"param\":null,\"code\":"
        "\"rate_limit_exceeded\"}}\n\n";

    (void) state;

    run_init(&r, 0);
    assert_int_equal(feed(&r, EV_TEXT), AIGW_ADAPTER_OK);
    assert_int_equal(feed(&r, "{\"error\":{\"code\":429,\"message\":"
                              "\"Resource exhausted.\",\"status\":"
                              "\"RESOURCE_EXHAUSTED\"}}"),
                     AIGW_ADAPTER_OK);
    assert_int_equal(r.st.failed, 1);

    /* later events, even broken ones, are ignored */
    assert_int_equal(feed(&r, EV_STOP), AIGW_ADAPTER_OK);
    assert_int_equal(feed(&r, "not json"), AIGW_ADAPTER_OK);

    assert_int_equal(finish(&r), AIGW_ADAPTER_OK);
    assert_stream_out(&r, want, sizeof(want) - 1);
    run_free(&r);

    /* an error first, wrapped in an array: no role chunk before it */

    run_init(&r, 1);
    assert_int_equal(feed(&r, "[{\"error\":{\"code\":503,\"message\":\"Try "
                              "later.\",\"status\":\"UNAVAILABLE\"}}]"),
                     AIGW_ADAPTER_OK);
    assert_int_equal(finish(&r), AIGW_ADAPTER_OK);
    assert_int_equal(r.emits, 1);
    assert_non_null(strstr(r.out, "\"type\":\"api_error\""));
    run_free(&r);

    /* emit NULL: only the state changes */

    run_init(&r, 0);
    r.emit_null = 1;
    assert_int_equal(feed(&r, "{\"error\":{\"code\":500}}"), AIGW_ADAPTER_OK);
    assert_int_equal(r.st.failed, 1);
    assert_int_equal(finish(&r), AIGW_ADAPTER_OK);
    run_free(&r);
}


static void
test_stream_invalid(void **state)
{
    size_t  i;
    run_t   r;

    static const char  *cases[] = {
        "not json",
        "[DONE]",
        "{\"candidates\":",
        "[1]",
        "[]",
        "\"x\"",
        "{\"candidates\":{}}",
        "{\"candidates\":[{\"content\":{\"parts\":[{\"text\":5}]}}]}",
        "{\"candidates\":[{\"content\":{\"parts\":[{\"functionCall\":"
        "{\"name\":1}}]}}]}",
        "{\"usageMetadata\":{\"promptTokenCount\":\"3\"}}",
    };

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        run_init(&r, 1);

        if (feed(&r, cases[i]) != AIGW_ADAPTER_INVALID) {
            fail_msg("case %zu (%s) was accepted", i, cases[i]);
        }

        assert_int_equal(r.emits, 0);
        run_free(&r);
    }
}


static void
test_stream_edges(void **state)
{
    run_t  r;

    static const char  blocked[] =
        HEAD CHOICE("{\"role\":\"assistant\",\"content\":\"\"}", "null")
        HEAD CHOICE("{}", "\"content_filter\"")
        "data: [DONE]\n\n";

    static const char  length[] =
        HEAD CHOICE("{\"role\":\"assistant\",\"content\":\"\"}", "null")
        HEAD CHOICE("{\"content\":\"Hi\"}", "null")
        HEAD CHOICE("{}", "\"length\"")
        "data: [DONE]\n\n";

    (void) state;

    /* a blocked prompt: no candidates, a content_filter finish */

    run_init(&r, 0);
    assert_int_equal(feed(&r, "{\"promptFeedback\":{\"blockReason\":"
                              "\"PROHIBITED_CONTENT\"},\"usageMetadata\":"
                              "{\"promptTokenCount\":4,"
                              "\"totalTokenCount\":4}}"),
                     AIGW_ADAPTER_OK);
    assert_int_equal(finish(&r), AIGW_ADAPTER_OK);
    assert_stream_out(&r, blocked, sizeof(blocked) - 1);
    assert_int_equal(r.st.usage.prompt_tokens, 4);
    run_free(&r);

    /*
     * MAX_TOKENS; a later usage-only event updates usage, and content
     * after the finish is dropped
     */

    run_init(&r, 0);
    assert_int_equal(feed(&r, EV_TEXT), AIGW_ADAPTER_OK);
    assert_int_equal(feed(&r, "{\"candidates\":[{\"finishReason\":"
                              "\"MAX_TOKENS\",\"index\":0}]}"),
                     AIGW_ADAPTER_OK);
    assert_int_equal(feed(&r, EV_STOP), AIGW_ADAPTER_OK);
    assert_int_equal(finish(&r), AIGW_ADAPTER_OK);
    assert_stream_out(&r, length, sizeof(length) - 1);
    assert_int_equal(r.st.usage.total_tokens, 5);
    assert_string_equal(r.st.finish_reason, "length");
    run_free(&r);

    /* candidates other than the first are not translated */

    run_init(&r, 0);
    assert_int_equal(feed(&r, "{\"candidates\":[{\"content\":{\"parts\":["
                              "{\"text\":\"other\"}]},\"index\":1}]}"),
                     AIGW_ADAPTER_OK);
    assert_int_equal(r.emits, 1);
    run_free(&r);

    /* emit's own nonzero value stops the translator and is returned */

    run_init(&r, 0);
    r.emit_rc = 42;
    assert_int_equal(feed(&r, EV_TEXT), 42);
    assert_int_equal(r.emits, 1);
    run_free(&r);
}


/* embeddings */

static int
embed_request(const char *body, size_t len, aigw_buf_t *out, pool_t *pool,
    int *base64, aigw_adapter_error_t *err)
{
    aigw_adapter_req_t  req;

    req = make_req("gemini-embedding-001", 0);
    aigw_buf_init(out, pool_alloc, pool, 0);

    return aigw_gemini_embed_request((const u_char *) body, len, &req, out,
                                     base64, err);
}


static void
test_embed_request(void **state)
{
    size_t                 i, len;
    int                    rc, base64;
    char                  *body;
    pool_t                 pool;
    json_t                *j;
    aigw_buf_t             out;
    aigw_adapter_error_t   err;

    static const struct {
        const char  *body;
        const char  *param;
    } bad[] = {
        { "nope", "" },
        { "[\"a\"]", "" },
        { "{}", "input" },
        { "{\"input\":\"\"}", "input" },
        { "{\"input\":[]}", "input" },
        { "{\"input\":5}", "input" },
        { "{\"input\":[1,2,3]}", "input" },
        { "{\"input\":[[1,2],[3]]}", "input" },
        { "{\"input\":[\"a\",\"\"]}", "input[1]" },
        { "{\"input\":[\"a\",{}]}", "input[1]" },
        { "{\"input\":\"a\",\"dimensions\":0}", "dimensions" },
        { "{\"input\":\"a\",\"dimensions\":\"8\"}", "dimensions" },
        { "{\"input\":\"a\",\"encoding_format\":\"hex\"}",
          "encoding_format" },
        { "{\"input\":\"a\",\"encoding_format\":1}", "encoding_format" },
    };

    (void) state;
    memset(&pool, 0, sizeof(pool_t));

    body = fixture("embed-request.openai.json", &len);
    rc = embed_request(body, len, &out, &pool, &base64, &err);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_int_equal(base64, 0);
    assert_json(out.data, out.len, "embed-request.gemini.json");
    free(body);

    /* one string; base64 asked for */

    body = "{\"input\":\"hello\",\"encoding_format\":\"base64\"}";
    rc = embed_request(body, strlen(body), &out, &pool, &base64, &err);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_int_equal(base64, 1);

    j = json_loadb((const char *) out.data, out.len, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "requests")), 1);
    assert_null(json_object_get(json_array_get(json_object_get(j,
                                                               "requests"),
                                               0),
                                "outputDimensionality"));
    json_decref(j);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        base64 = -1;
        rc = embed_request(bad[i].body, strlen(bad[i].body), &out, &pool,
                           &base64, &err);

        if (rc != AIGW_ADAPTER_INVALID || strcmp(err.param, bad[i].param))
        {
            fail_msg("case %zu (%s): rc %d, param \"%s\"", i, bad[i].body,
                     rc, err.param);
        }

        assert_true(err.message[0] != '\0');
    }

    rc = embed_request("{\"input\":[1]}", 13, &out, &pool, &base64, &err);
    assert_int_equal(rc, AIGW_ADAPTER_INVALID);
    assert_non_null(strstr(err.message, "token arrays are not supported by "
                                        "this channel"));

    pool_free(&pool);
}


static void
test_embed_response(void **state)
{
    size_t                i, len;
    int                   rc;
    char                 *body;
    pool_t                pool;
    aigw_buf_t            out;
    aigw_usage_t          usage;
    aigw_adapter_resp_t   resp;

    static const char  *bad[] = {
        "nope",
        "[]",
        "{}",
        "{\"embeddings\":{}}",
        "{\"embeddings\":[1]}",
        "{\"embeddings\":[{\"values\":\"x\"}]}",
        "{\"embeddings\":[{\"values\":[1,\"2\"]}]}",
    };

    (void) state;
    memset(&pool, 0, sizeof(pool_t));

    resp = make_resp(0);
    resp.model = (const u_char *) "text-embedding-3-small";
    resp.model_len = strlen("text-embedding-3-small");

    body = fixture("embed-response.gemini.json", &len);

    aigw_buf_init(&out, pool_alloc, &pool, 0);
    rc = aigw_gemini_embed_response((u_char *) body, len, &resp, 0, 9, &out,
                                    &usage);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_json(out.data, out.len, "embed-response.openai.json");
    assert_int_equal(usage.found, 1);
    assert_int_equal(usage.prompt_tokens, 9);
    assert_int_equal(usage.total_tokens, 9);
    assert_int_equal(usage.completion_tokens, 0);

    aigw_buf_init(&out, pool_alloc, &pool, 0);
    rc = aigw_gemini_embed_response((u_char *) body, len, &resp, 1, 9, &out,
                                    &usage);
    assert_int_equal(rc, AIGW_ADAPTER_OK);
    assert_json(out.data, out.len, "embed-response-base64.openai.json");

    free(body);

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        aigw_buf_init(&out, pool_alloc, &pool, 0);
        usage.found = 1;

        rc = aigw_gemini_embed_response((const u_char *) bad[i],
                                        strlen(bad[i]), &resp, 0, 1, &out,
                                        &usage);
        if (rc != AIGW_ADAPTER_INVALID) {
            fail_msg("case %zu (%s): rc %d", i, bad[i], rc);
        }

        assert_int_equal(usage.found, 0);
    }

    pool_free(&pool);
}


/* running out of memory after every possible number of allocations */

typedef int (*attempt_pt)(pool_t *pool, void *data);


static void
exhaust(attempt_pt attempt, void *data, const char *what)
{
    int     rc;
    long    n;
    pool_t  pool;

    for (n = 0; n < MAX_TRIES; n++) {
        memset(&pool, 0, sizeof(pool_t));

        budget = n;
        rc = attempt(&pool, data);
        budget = -1;

        pool_free(&pool);

        if (rc == AIGW_ADAPTER_OK) {
            /* it needed n allocations at most; it must never pass sooner */
            assert_true(n > 0);
            return;
        }

        if (rc != AIGW_ADAPTER_NOMEM) {
            fail_msg("%s: with %ld allocations: rc %d", what, n, rc);
        }
    }

    fail_msg("%s: never succeeded", what);
}


typedef struct {
    const char  *body;
    size_t       len;
    int          base64;
} blob_t;


static int
attempt_request(pool_t *pool, void *data)
{
    int                    stream;
    blob_t                *b;
    aigw_buf_t             out;
    aigw_adapter_error_t   err;

    b = data;

    return request(b->body, b->len, 100, &out, pool, &stream, &err);
}


static int
attempt_response(pool_t *pool, void *data)
{
    blob_t               *b;
    aigw_buf_t            out;
    aigw_usage_t          usage;
    aigw_adapter_resp_t   resp;

    b = data;
    resp = make_resp(0);
    aigw_buf_init(&out, pool_alloc, pool, 0);

    return aigw_gemini_response((const u_char *) b->body, b->len, &resp,
                                &out, &usage);
}


static int
attempt_error(pool_t *pool, void *data)
{
    int          status;
    blob_t      *b;
    aigw_buf_t   out;

    b = data;
    aigw_buf_init(&out, pool_alloc, pool, 0);

    return aigw_gemini_error(400, (const u_char *) b->body, b->len, &out,
                             &status);
}


static int
attempt_usage(pool_t *pool, void *data)
{
    blob_t        *b;
    aigw_usage_t   u;

    (void) pool;
    b = data;

    return aigw_gemini_usage((const u_char *) b->body, b->len, &u);
}


static int
attempt_embed_request(pool_t *pool, void *data)
{
    int                    base64;
    blob_t                *b;
    aigw_buf_t             out;
    aigw_adapter_error_t   err;

    b = data;

    return embed_request(b->body, b->len, &out, pool, &base64, &err);
}


static int
attempt_embed_response(pool_t *pool, void *data)
{
    blob_t               *b;
    aigw_buf_t            out;
    aigw_usage_t          usage;
    aigw_adapter_resp_t   resp;

    b = data;
    resp = make_resp(0);
    aigw_buf_init(&out, pool_alloc, pool, 0);

    return aigw_gemini_embed_response((const u_char *) b->body, b->len,
                                      &resp, b->base64, 3, &out, &usage);
}


/* the fixture's events, one by one, then the end */

static int
attempt_stream(pool_t *pool, void *data)
{
    int                   rc;
    char                 *p, *q, *end;
    blob_t               *b;
    run_t                 r;
    aigw_adapter_resp_t   resp;

    b = data;

    memset(&r, 0, sizeof(run_t));
    resp = make_resp(1);
    aigw_gemini_stream_init(&r.st, &resp, pool_alloc, pool);

    p = (char *) b->body;
    end = p + b->len;
    rc = AIGW_ADAPTER_OK;

    while (rc == AIGW_ADAPTER_OK && p < end) {
        q = strstr(p, "\r\n");
        assert_non_null(q);

        if (q > p) {
            assert_memory_equal(p, "data: ", 6);
            rc = aigw_gemini_stream_event(&r.st, (u_char *) p + 6,
                                          q - p - 6, emit_cb, &r);
        }

        p = q + 2;
    }

    if (rc == AIGW_ADAPTER_OK) {
        rc = aigw_gemini_stream_finish(&r.st, emit_cb, &r);
    }

    free(r.out);

    return rc;
}


static void
test_nomem(void **state)
{
    size_t  i;
    blob_t  b;

    static const struct {
        const char  *fixture;
        attempt_pt   attempt;
        int          base64;
    } cases[] = {
        { "request-tools.openai.json", attempt_request, 0 },
        { "request-basic.openai.json", attempt_request, 0 },
        { "request-schema.openai.json", attempt_request, 0 },
        { "response-text.gemini.json", attempt_response, 0 },
        { "response-tools.gemini.json", attempt_response, 0 },
        { "response-multi.gemini.json", attempt_response, 0 },
        { "response-blocked.gemini.json", attempt_response, 0 },
        { "error-api-key.gemini.json", attempt_error, 0 },
        { "error-quota.gemini.json", attempt_error, 0 },
        { "embed-request.openai.json", attempt_embed_request, 0 },
        { "embed-response.gemini.json", attempt_embed_response, 0 },
        { "embed-response.gemini.json", attempt_embed_response, 1 },
        { "stream-tools.gemini.sse", attempt_stream, 0 },
    };

    static const char  um[] =
        "{\"promptTokenCount\":100,\"candidatesTokenCount\":30}";

    (void) state;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        b.body = fixture(cases[i].fixture, &b.len);
        b.base64 = cases[i].base64;

        exhaust(cases[i].attempt, &b, cases[i].fixture);

        free((char *) b.body);
    }

    b.body = um;
    b.len = sizeof(um) - 1;
    exhaust(attempt_usage, &b, "usage");
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_request_basic),
        cmocka_unit_test(test_request_tools),
        cmocka_unit_test(test_request_schema),
        cmocka_unit_test(test_request_default_max_tokens),
        cmocka_unit_test(test_request_image_mime),
        cmocka_unit_test(test_request_invalid),
        cmocka_unit_test(test_request_lenient),
        cmocka_unit_test(test_request_deep),
        cmocka_unit_test(test_response_text),
        cmocka_unit_test(test_response_tools),
        cmocka_unit_test(test_response_multi),
        cmocka_unit_test(test_response_blocked),
        cmocka_unit_test(test_response_no_usage),
        cmocka_unit_test(test_response_invalid),
        cmocka_unit_test(test_response_bounded),
        cmocka_unit_test(test_usage),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_not_json),
        cmocka_unit_test(test_stream_splits),
        cmocka_unit_test(test_stream_truncated),
        cmocka_unit_test(test_stream_error),
        cmocka_unit_test(test_stream_invalid),
        cmocka_unit_test(test_stream_edges),
        cmocka_unit_test(test_embed_request),
        cmocka_unit_test(test_embed_response),
        cmocka_unit_test(test_nomem),
    };

    /* every jansson allocation counts against the budget too */
    json_set_alloc_funcs(json_malloc_test, json_free_test);

    return cmocka_run_group_tests(tests, NULL, NULL);
}
