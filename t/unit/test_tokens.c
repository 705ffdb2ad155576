/*
 * Unit tests for src/aigw_tokens.c (cmocka).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "aigw_json.h"
#include "aigw_tokens.h"


/*
 * The body is copied to a heap block of its exact size, so that valgrind
 * sees any read past its end.  Bodies of the exact tests must be valid.
 */

static int64_t
estimate_len(const char *body, size_t len, unsigned endpoint)
{
    u_char   *copy;
    int64_t   n;

    copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, body, len);

    n = aigw_tokens_estimate(copy, len, endpoint);

    free(copy);

    return n;
}


/*
 * The estimate of a valid body.  aigw_tokens_estimate_members(), given the
 * members that aigw_json_parse_object() finds, must agree on every
 * endpoint.
 */

static int64_t
estimate(const char *body, unsigned endpoint)
{
    size_t              n, len;
    u_char             *copy;
    int64_t             r;
    unsigned            e;
    aigw_json_error_t   err;
    aigw_json_member_t  m[32];

    len = strlen(body);
    copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, body, len);

    assert_int_equal(aigw_json_parse_object(copy, len, m, 32, &n, 64, &err),
                     AIGW_JSON_OK);

    for (e = 0; e <= 4; e++) {
        r = aigw_tokens_estimate(copy, len, e);

        if (aigw_tokens_estimate_members(copy, len, m, n, e) != r) {
            print_error("members differ, endpoint %u: %s\n", e, body);
            fail();
        }
    }

    r = aigw_tokens_estimate(copy, len, endpoint);

    free(copy);

    return r;
}


static int64_t
chat(const char *body)
{
    return estimate(body, AIGW_TOKENS_CHAT);
}


/* one user message with the given JSON text as its content */

static int64_t
chat_content(const char *content)
{
    int64_t  n;
    char     buf[1024];

    snprintf(buf, sizeof(buf),
             "{\"model\":\"gpt-4o\",\"messages\":"
             "[{\"role\":\"user\",\"content\":%s}]}", content);

    n = chat(buf);

    /* without the primer and the message overhead */
    return n - AIGW_TOKENS_PRIMER - AIGW_TOKENS_MESSAGE;
}


static int64_t
max_completion(const char *body, int64_t dflt)
{
    u_char   *copy;
    int64_t   n;
    size_t    len;

    len = strlen(body);
    copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, body, len);

    n = aigw_tokens_max_completion(copy, len, dflt);

    free(copy);

    return n;
}


static void
test_chat_ascii(void **state)
{
    (void) state;

    /* 3 + 4 + ceil(13 / 4) */
    assert_int_equal(chat("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":"
                          "\"user\",\"content\":\"Hello, world!\"}]}"), 11);

    assert_int_equal(chat_content("\"\""), 0);
    assert_int_equal(chat_content("\"a\""), 1);
    assert_int_equal(chat_content("\"abcd\""), 1);
    assert_int_equal(chat_content("\"abcde\""), 2);
    assert_int_equal(chat_content("null"), 0);
    assert_int_equal(chat_content("[]"), 0);
}


static void
test_chat_messages(void **state)
{
    (void) state;

    /* 3 + (4 + 7) + (4 + 1) + (4 + 6) */
    assert_int_equal(chat("{\"model\":\"gpt-4o\",\"messages\":["
                          "{\"role\":\"system\","
                          "\"content\":\"You are a helpful assistant.\"},"
                          "{\"role\":\"user\",\"content\":\"Hi\"},"
                          "{\"role\":\"assistant\","
                          "\"content\":\"Hello! How can I help?\"}],"
                          "\"temperature\":0.5,\"stream\":true}"), 29);

    /* the same, pretty-printed */
    assert_int_equal(chat("{\n  \"model\" : \"gpt-4o\",\n"
                          "  \"messages\" : [\n"
                          "    { \"role\" : \"system\" ,\n"
                          "      \"content\" :"
                          " \"You are a helpful assistant.\" } ,\n"
                          "    {\t\"role\":\"user\",\r\n"
                          "\t\"content\":\"Hi\"},\n"
                          "    {\"role\": \"assistant\",\n"
                          "     \"content\": \"Hello! How can I help?\"}\n"
                          "  ]\n}\n"), 29);

    /* "name" counts; unknown members, however nested, do not */
    assert_int_equal(chat("{\"messages\":[{\"role\":\"user\","
                          "\"name\":\"alice\",\"content\":\"hi\","
                          "\"metadata\":{\"a\":[1,{\"b\":\"]}\\\"{[\"}],"
                          "\"content\":\"x\"}}]}"), 3 + 4 + 2 + 1);

    /* an escaped key is still the key */
    assert_int_equal(chat("{\"mess\\u0061ges\":[{\"role\":\"user\","
                          "\"c\\u006fntent\":\"abcd\"}]}"), 8);

    /* no messages: the primer only */
    assert_int_equal(chat("{}"), 3);
    assert_int_equal(chat("{\"model\":\"gpt-4o\"}"), 3);
    assert_int_equal(chat("{\"messages\":\"hello\"}"), 3);
    assert_int_equal(chat("{\"messages\":[]}"), 3);
    assert_int_equal(chat("{\"messages\":[{}, null, 1]}"), 3 + 12);
}


static void
test_chat_non_ascii(void **state)
{
    (void) state;

    /* CJK: one token per character */
    assert_int_equal(chat_content("\"\xe4\xbd\xa0\xe5\xa5\xbd\xe4\xb8\x96"
                                  "\xe7\x95\x8c\""), 4);

    /* "Hi " and "!" are 4 ASCII bytes, plus 2 characters */
    assert_int_equal(chat_content("\"Hi \xe4\xbd\xa0\xe5\xa5\xbd!\""), 3);

    /* 2-byte and 4-byte characters */
    assert_int_equal(chat_content("\"caf\xc3\xa9\""), 2);
    assert_int_equal(chat_content("\"\xf0\x9f\x98\x80\""), 1);
}


static void
test_chat_escapes(void **state)
{
    (void) state;

    /* \uXXXX escapes are characters, not 6 bytes */
    assert_int_equal(chat_content("\"\\u4f60\\u597D\""), 2);
    assert_int_equal(chat_content("\"\\u00e9\""), 1);

    /* a surrogate pair is one character, a lone surrogate too */
    assert_int_equal(chat_content("\"\\ud83d\\ude00\""), 1);
    assert_int_equal(chat_content("\"\\ud83dx\""), 2);
    assert_int_equal(chat_content("\"\\ude00\\ude00\""), 2);

    /* escaped ASCII: 5 bytes */
    assert_int_equal(chat_content("\"\\u0041\\u0042\\u0043\\u0044\\u0045\""),
                     2);

    /* "a\nb\t\"\\/" decodes to 7 bytes; undecoded it would be 12 */
    assert_int_equal(chat_content("\"a\\nb\\t\\\"\\\\\\/\""), 2);
    assert_int_equal(chat_content("\"\\\"\\\"\\\"\\\"\""), 1);
}


static void
test_chat_parts(void **state)
{
    (void) state;

    /* each text part rounds up on its own; "type" may come last */
    assert_int_equal(chat_content("[{\"text\":\"abcd\",\"type\":\"text\"},"
                                  "{\"type\":\"text\",\"text\":\"efgh\"},"
                                  "{\"type\":\"text\",\"text\":\"i\"}]"), 3);

    assert_int_equal(chat_content("[{\"type\":\"image_url\",\"image_url\":"
                                  "{\"url\":\"https://example.com/a.png\","
                                  "\"detail\":\"high\"}}]"), 765);

    /* "type" after the data; escaped type */
    assert_int_equal(chat_content("[{\"image_url\":{\"url\":\"x\"},"
                                  "\"type\":\"image_\\u0075rl\"},"
                                  "{\"type\":\"t\\u0065xt\","
                                  "\"text\":\"abc\"}]"), 766);

    /* audio and files: the same fixed count */
    assert_int_equal(chat_content("[{\"type\":\"input_audio\","
                                  "\"input_audio\":{\"data\":\"AAAAAAAA\","
                                  "\"format\":\"wav\"}}]"), 765);
    assert_int_equal(chat_content("[{\"type\":\"file\",\"file\":"
                                  "{\"file_id\":\"file-abc\"}}]"), 765);

    /* a text part without text */
    assert_int_equal(chat_content("[{\"type\":\"text\"}]"), 0);
}


static void
test_chat_image_data_url(void **state)
{
    char    *body, *p;
    size_t   size;

    static const char  head[] =
        "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":"
        "[{\"type\":\"text\",\"text\":\"What is in this image?\"},"
        "{\"type\":\"image_url\",\"image_url\":{\"url\":"
        "\"data:image/png;base64,";
    static const char  tail[] = "\",\"detail\":\"high\"}}]}]}";

    (void) state;

    size = sizeof(head) - 1 + 100 * 1024 + sizeof(tail);
    body = malloc(size);
    assert_non_null(body);

    p = body;
    memcpy(p, head, sizeof(head) - 1);
    p += sizeof(head) - 1;

    memset(p, 'A', 100 * 1024 - 4);
    p += 100 * 1024 - 4;
    memcpy(p, "Zg==", 4);
    p += 4;

    memcpy(p, tail, sizeof(tail));

    /* 3 + 4 + ceil(22 / 4) + 765, whatever the size of the data */
    assert_int_equal(chat(body), 778);

    free(body);
}


static void
test_chat_tools(void **state)
{
    char     body[2048];
    int64_t  tools;

    static const char  tools_json[] =
        "[{\"type\":\"function\",\"function\":{\"name\":\"get_weather\","
        "\"description\":\"Current weather\",\"parameters\":{\"type\":"
        "\"object\",\"properties\":{\"city\":{\"type\":\"string\"}},"
        "\"required\":[\"city\"]}}}]";

    (void) state;

    tools = (int64_t) (sizeof(tools_json) - 1 + 3) / 4;

    snprintf(body, sizeof(body),
             "{\"model\":\"gpt-4o\",\"tools\":%s,\"messages\":["
             "{\"role\":\"user\",\"content\":"
             "\"What's the weather in Paris?\"},"
             "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":["
             "{\"id\":\"call_abc\",\"type\":\"function\",\"function\":"
             "{\"name\":\"get_weather\","
             "\"arguments\":\"{\\\"city\\\":\\\"Paris\\\"}\"}}]},"
             "{\"role\":\"tool\",\"tool_call_id\":\"call_abc\","
             "\"content\":\"22C and sunny\"}],"
             "\"tool_choice\":\"auto\"}", tools_json);

    /*
     * user: 4 + 7; assistant: 4 + "get_weather" 3 + {"city":"Paris"} 4;
     * tool: 4 + 4; tools from their raw length
     */
    assert_int_equal(chat(body), 3 + 11 + 11 + 8 + tools);

    /* two calls */
    assert_int_equal(chat("{\"messages\":[{\"role\":\"assistant\","
                          "\"tool_calls\":["
                          "{\"function\":{\"name\":\"ab\",\"arguments\":"
                          "\"{}\"}},"
                          "{\"function\":{\"arguments\":\"abcde\","
                          "\"name\":\"abcdefghi\"}}]}]}"),
                     3 + 4 + 1 + 1 + 2 + 3);

    /* the legacy forms */
    assert_int_equal(chat("{\"functions\":[{\"name\":\"f\"}],\"messages\":"
                          "[{\"role\":\"assistant\",\"function_call\":"
                          "{\"name\":\"f\",\"arguments\":\"{}\"}}]}"),
                     3 + 4 + 4 + 1 + 1);

    /* a tool message whose content is an array of text parts */
    assert_int_equal(chat("{\"messages\":[{\"role\":\"tool\","
                          "\"tool_call_id\":\"c\",\"content\":"
                          "[{\"type\":\"text\",\"text\":\"12345678\"}]}]}"),
                     3 + 4 + 2);
}


static void
test_completions(void **state)
{
    (void) state;

    assert_int_equal(estimate("{\"model\":\"m\",\"prompt\":\"Hello world\","
                              "\"max_tokens\":7}", AIGW_TOKENS_COMPLETIONS),
                     3);
    assert_int_equal(estimate("{\"prompt\":[\"abcd\",\"ef\","
                              "\"\xe4\xbd\xa0\"]}", AIGW_TOKENS_COMPLETIONS),
                     3);
    assert_int_equal(estimate("{\"prompt\":[1,2,3]}",
                              AIGW_TOKENS_COMPLETIONS), 3);
    assert_int_equal(estimate("{\"prompt\":[[1,2],[3],[]]}",
                              AIGW_TOKENS_COMPLETIONS), 3);
    assert_int_equal(estimate("{\"prompt\":\"\\u4f60\\u597d\"}",
                              AIGW_TOKENS_COMPLETIONS), 2);

    /* at least 1 */
    assert_int_equal(estimate("{\"prompt\":\"\"}", AIGW_TOKENS_COMPLETIONS),
                     1);
    assert_int_equal(estimate("{\"model\":\"m\"}", AIGW_TOKENS_COMPLETIONS),
                     1);

    /* "input" is not a completions field */
    assert_int_equal(estimate("{\"input\":\"abcdefghijkl\"}",
                              AIGW_TOKENS_COMPLETIONS), 1);
}


static void
test_embeddings(void **state)
{
    (void) state;

    assert_int_equal(estimate("{\"model\":\"text-embedding-3-small\","
                              "\"input\":\"The food was delicious\"}",
                              AIGW_TOKENS_EMBEDDINGS), 6);
    assert_int_equal(estimate("{\"input\":[\"a\",\"bb\",\"ccccc\"]}",
                              AIGW_TOKENS_EMBEDDINGS), 4);
    assert_int_equal(estimate("{\"input\":[101,202]}",
                              AIGW_TOKENS_EMBEDDINGS), 2);
    assert_int_equal(estimate("{\"input\":[[1,2,3],[4,5]],"
                              "\"encoding_format\":\"float\"}",
                              AIGW_TOKENS_EMBEDDINGS), 5);
    assert_int_equal(estimate("{\"input\":[\"\xe4\xbd\xa0\xe5\xa5\xbd\","
                              "\"abc\"]}", AIGW_TOKENS_EMBEDDINGS), 3);

    assert_int_equal(estimate("{\"input\":[]}", AIGW_TOKENS_EMBEDDINGS), 1);
    assert_int_equal(estimate("{\"prompt\":\"abcdefghijkl\"}",
                              AIGW_TOKENS_EMBEDDINGS), 1);
}


static void
test_other_endpoint(void **state)
{
    (void) state;

    /* the whole body as ASCII */
    assert_int_equal(estimate("{\"a\":\"bc\"}", 0), 3);
    assert_int_equal(estimate("{}", 99), 1);
    assert_int_equal(estimate_len("", 0, 0), 1);
}


/* truncated and garbage input: no crash, no read past the end */

static void
test_malformed(void **state)
{
    size_t    i, len;
    unsigned  e;
    char      buf[64];

    static const char  body[] =
        "{\"model\":\"gpt-4o\",\"tools\":[{\"a\":\"}]\"}],\"messages\":["
        "{\"role\":\"user\",\"content\":\"a\\\"b\\\\\\u4f60\\ud83d\\ude00"
        "\xe4\xbd\xa0\"},"
        "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":"
        "\"x\"},{\"type\":\"image_url\",\"image_url\":{\"url\":\"u\"}}],"
        "\"name\":\"n\",\"tool_calls\":[{\"function\":{\"name\":\"f\","
        "\"arguments\":\"{}\"}}],\"function_call\":{\"name\":\"g\"}}],"
        "\"prompt\":[\"a\",[1,2],3],\"input\":\"abc\","
        "\"max_completion_tokens\":10,\"max_tokens\":20}";

    static const char *const  garbage[] = {
        "", " ", "{", "[", "\"", "\\", "{\"", "{\"a", "{\"a\"", "{\"a\":",
        "{\"a\":\"\\", "{\"messages\":[{\"content\":\"\\u12",
        "{\"messages\":[{\"content\":\"\\ud83d\\u",
        "{\"messages\":[{\"content\":[{\"type\":\"text\",\"text\":",
        "{\"messages\" [", "{\"messages\":]", "{,,,}", "{\"a\":,}",
        "}{", "[1,2]", "nul", "{\"prompt\":[[[[[",
        "{\"input\":[\"\\\"]}", "{\"messages\":[{\"content\":\"\xe4\xbd",
        "{\"max_tokens\":", "{\"max_tokens\":-", "{\"max_tokens\":1e",
    };

    (void) state;

    len = sizeof(body) - 1;

    for (e = 0; e <= 4; e++) {
        for (i = 0; i <= len; i++) {
            assert_true(estimate_len(body, i, e) >= 1);
        }
    }

    for (i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        for (e = 0; e <= 4; e++) {
            assert_true(estimate_len(garbage[i], strlen(garbage[i]), e)
                        >= 1);
        }

        (void) max_completion(garbage[i], 1);
    }

    /* the full body is valid: exact counts */

    /*
     * 3 + tools 3 + (4 + ceil(4 / 4) + 3 characters)
     *   + (4 + 1 + 765 + "n" 1 + "f" 1 + "{}" 1 + "g" 1)
     */
    assert_int_equal(estimate(body, AIGW_TOKENS_CHAT), 3 + 3 + 8 + 774);
    assert_int_equal(estimate(body, AIGW_TOKENS_COMPLETIONS), 1 + 2 + 1);
    assert_int_equal(estimate(body, AIGW_TOKENS_EMBEDDINGS), 1);
    assert_int_equal(max_completion(body, 1), 10);

    /* a body cut anywhere never counts more than the whole one */
    for (i = 0; i < len; i++) {
        assert_true(estimate_len(body, i, AIGW_TOKENS_CHAT)
                    <= 3 + 3 + 8 + 774);
    }

    /* an unterminated value is not walked into */
    snprintf(buf, sizeof(buf), "%s", "{\"messages\":[{\"content\":\"abcd");
    assert_int_equal(estimate_len(buf, strlen(buf), AIGW_TOKENS_CHAT), 3);
}


static void
test_max_completion(void **state)
{
    (void) state;

    assert_int_equal(max_completion("{\"max_tokens\":100,"
                                    "\"max_completion_tokens\":200}", 1),
                     200);
    assert_int_equal(max_completion("{\"max_completion_tokens\":200,"
                                    "\"max_tokens\":100}", 1), 200);
    assert_int_equal(max_completion("{\"model\":\"m\",\"max_tokens\":100}",
                                    1), 100);
    assert_int_equal(max_completion("{\"max_tokens\":0}", 1), 0);
    assert_int_equal(max_completion("{}", 4096), 4096);
    assert_int_equal(max_completion("{\"model\":\"m\"}", -1), -1);

    /* invalid values are skipped */
    assert_int_equal(max_completion("{\"max_completion_tokens\":null,"
                                    "\"max_tokens\":50}", 1), 50);
    assert_int_equal(max_completion("{\"max_completion_tokens\":-1,"
                                    "\"max_tokens\":50}", 1), 50);
    assert_int_equal(max_completion("{\"max_completion_tokens\":1.5}", 7),
                     7);
    assert_int_equal(max_completion("{\"max_completion_tokens\":\"100\"}",
                                    7), 7);
    assert_int_equal(max_completion("{\"max_tokens\":1e3}", 7), 7);
    assert_int_equal(max_completion("{\"max_tokens\":"
                                    "99999999999999999999}", 7), 7);
    assert_int_equal(max_completion("{\"max_tokens\":[100]}", 7), 7);

    /* only top-level members count */
    assert_int_equal(max_completion("{\"messages\":[{\"max_tokens\":5}],"
                                    "\"x\":{\"max_completion_tokens\":6}}",
                                    7), 7);

    /* escaped keys */
    assert_int_equal(max_completion("{\"max\\u005ftokens\":8}", 7), 8);

    assert_int_equal(max_completion("{\"max_tokens\":9223372036854775807}",
                                    7), INT64_MAX);
}


/* the benchmark's request body, bench/request.json */

static const char  bench_body[] =
    "{\"model\":\"bench-model\",\"messages\":[{\"role\":\"system\","
    "\"content\":\"You are a concise assistant for an online bookshop. "
    "Answer questions about orders, shipping and returns politely and in "
    "at most three sentences. If the question is about something else, say "
    "that you can only help with the bookshop. Never invent order numbers, "
    "prices or delivery dates: when you do not know, ask the customer for "
    "the order number.\"},{\"role\":\"user\",\"content\":\"Hello! I ordered "
    "two paperbacks and a hardcover last Tuesday, order 48213-B, and the "
    "tracking page has said 'label created' for four days now. I need the "
    "hardcover for a birthday on Saturday. Can you tell me whether the "
    "parcel has actually left the warehouse, and if it has not, whether I "
    "can still switch to express shipping or pick it up at the store on "
    "Friday instead? I live in the city centre, so either would be fine. "
    "Thanks a lot for your help.\"}],\"temperature\":0.7,\"top_p\":1,"
    "\"max_tokens\":256,\"stream\":false,\"user\":\"customer-48213\"}";


static void
test_members(void **state)
{
    size_t  i;

    static const char *const  bodies[] = {
        "{}",
        "{\"messages\":[]}",
        "{\"tools\":null,\"functions\":true,\"prompt\":null,\"input\":{}}",
        "{\"messages\\u0000\":[{}],\"Messages\":[{}],\"message\":[{}]}",
        "{\"functi\\u006fns\":{\"a\":\"b\"},\"messages\":\"x\"}",
        " {\n \"messages\" :\n [ {\"content\" : [ {\"type\" : \"text\" ,"
        " \"text\" : \"abc\"} ] } ] \n} \n",
        "{\"input\":[[1,[2,3],{\"a\":[4]}],\"\",-1,0.5,true,null]}",
        "{\"prompt\":{\"a\":\"b\"},\"input\":[{\"a\":\"b\"},[]]}",
        "{\"messages\":[{\"content\":{\"text\":\"abcd\"},\"tool_calls\":{},"
        "\"function_call\":[],\"name\":null}]}",
    };

    (void) state;

    /* estimate() checks the members variant on every endpoint */

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        (void) estimate(bodies[i], AIGW_TOKENS_CHAT);
    }

    assert_int_equal(estimate(bench_body, AIGW_TOKENS_CHAT), 211);

    /* escaped top-level keys are still the keys: 3 + (4 + 2) + "[1,2,3]" */
    assert_int_equal(estimate("{\"m\\u0065ssages\":[{\"role\":\"user\","
                              "\"content\":\"abcdefgh\"}],"
                              "\"t\\u006fols\":[1,2,3]}", AIGW_TOKENS_CHAT),
                     11);
    assert_int_equal(estimate("{\"\\u006d\\u0065\\u0073\\u0073\\u0061\\u0067"
                              "\\u0065\\u0073\":[{}]}", AIGW_TOKENS_CHAT), 7);
    assert_int_equal(estimate("{\"pr\\u006fmpt\":[\"abcd\",[1,2],7],"
                              "\"inp\\u0075t\":\"\\u4f60\"}",
                              AIGW_TOKENS_COMPLETIONS), 4);
    assert_int_equal(estimate("{\"pr\\u006fmpt\":[\"abcd\",[1,2],7],"
                              "\"inp\\u0075t\":\"\\u4f60\"}",
                              AIGW_TOKENS_EMBEDDINGS), 1);

    /* tools and functions of any type count from their raw length */
    assert_int_equal(estimate("{\"tools\":\"abcdefghij\",\"functions\":12345,"
                              "\"messages\":null}", AIGW_TOKENS_CHAT),
                     3 + 3 + 2);
}


/*
 * Strings of every length up to 40 with a two- or four-byte character at
 * each place, or none, ending at different distances from the end of the
 * body: the plain runs are counted many bytes at a time.
 */

static void
test_text_lengths(void **state)
{
    char         s[128], body[256];
    size_t       len, at, i, k, ascii, other;
    int64_t      want;
    const char  *ch;

    static const char *const  tails[] = {
        "}", ",\"pad\":\"0123456789abcdef0123456789abcdef\"}"
    };

    (void) state;

    for (k = 0; k < 2; k++) {
        ch = k ? "\xf0\x9f\x98\x80" : "\xc3\xa9";

        for (len = 0; len <= 40; len++) {
            for (at = 0; at <= len; at++) {
                ascii = 0;
                other = 0;

                for (i = 0; i < len; i++) {
                    if (i == at) {
                        other++;

                    } else {
                        ascii++;
                    }
                }

                snprintf(s, sizeof(s), "%.*s%s%.*s", (int) at,
                         "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH",
                         at < len ? ch : "",
                         (int) (at < len ? len - at - 1 : 0),
                         "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789abcdefgh");

                want = (int64_t) (ascii + 3) / 4 + (int64_t) other;

                for (i = 0; i < 2; i++) {
                    snprintf(body, sizeof(body), "{\"prompt\":\"%s\"%s", s,
                             tails[i]);

                    assert_int_equal(estimate(body, AIGW_TOKENS_COMPLETIONS),
                                     want > 0 ? want : 1);
                }

                /* an escape after the run */
                snprintf(body, sizeof(body), "{\"prompt\":\"%s\\u00e9\"}", s);

                assert_int_equal(estimate(body, AIGW_TOKENS_COMPLETIONS),
                                 (int64_t) (ascii + 3) / 4
                                 + (int64_t) other + 1);
            }
        }
    }

    /* continuation bytes alone start no character */
    assert_int_equal(chat_content("\"\x80\x80\xbf\""), 0);
    assert_int_equal(chat_content("\"ab\x80\xc3\xa9\x80\""), 2);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_chat_ascii),
        cmocka_unit_test(test_chat_messages),
        cmocka_unit_test(test_chat_non_ascii),
        cmocka_unit_test(test_chat_escapes),
        cmocka_unit_test(test_chat_parts),
        cmocka_unit_test(test_chat_image_data_url),
        cmocka_unit_test(test_chat_tools),
        cmocka_unit_test(test_completions),
        cmocka_unit_test(test_embeddings),
        cmocka_unit_test(test_other_endpoint),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_max_completion),
        cmocka_unit_test(test_members),
        cmocka_unit_test(test_text_lengths),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
