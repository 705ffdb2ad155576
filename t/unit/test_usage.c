/*
 * Unit tests for src/aigw_usage.c (cmocka).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "aigw_usage.h"


typedef struct {
    int64_t   prompt;
    int64_t   completion;
    int64_t   total;
    int64_t   cached;
    int64_t   reasoning;
} expect_t;


static const expect_t  full = { 19, 10, 29, 3, 5 };


static u_char *
dup_exact(const char *s, size_t len)
{
    u_char  *p;

    p = malloc(len ? len : 1);
    assert_non_null(p);
    memcpy(p, s, len);

    return p;
}


static void
check_usage(const aigw_usage_t *u, const expect_t *e)
{
    assert_int_equal(u->found, 1);
    assert_true(u->prompt_tokens == e->prompt);
    assert_true(u->completion_tokens == e->completion);
    assert_true(u->total_tokens == e->total);
    assert_true(u->cached_tokens == e->cached);
    assert_true(u->reasoning_tokens == e->reasoning);
}


static void
check_zero(const aigw_usage_t *u)
{
    assert_int_equal(u->found, 0);
    assert_true(u->prompt_tokens == 0);
    assert_true(u->completion_tokens == 0);
    assert_true(u->total_tokens == 0);
    assert_true(u->cached_tokens == 0);
    assert_true(u->reasoning_tokens == 0);
}


static int
parse(const char *s, aigw_usage_t *u)
{
    int      rc;
    u_char  *p;
    size_t   len;

    len = strlen(s);
    p = dup_exact(s, len);

    memset(u, 0xa5, sizeof(aigw_usage_t));
    rc = aigw_usage_parse(p, len, u);

    free(p);

    return rc;
}


static void
parse_ok(const char *s, const expect_t *e)
{
    aigw_usage_t  u;

    assert_int_equal(parse(s, &u), 0);
    check_usage(&u, e);
}


static void
parse_bad(const char *s)
{
    aigw_usage_t  u;

    assert_int_equal(parse(s, &u), -1);
    check_zero(&u);
}


static void
test_parse(void **state)
{
    expect_t  e;

    (void) state;

    parse_ok("{\"prompt_tokens\":19,\"completion_tokens\":10,"
             "\"total_tokens\":29,\"prompt_tokens_details\":"
             "{\"cached_tokens\":3,\"audio_tokens\":0},"
             "\"completion_tokens_details\":{\"reasoning_tokens\":5,"
             "\"audio_tokens\":0,\"accepted_prediction_tokens\":0,"
             "\"rejected_prediction_tokens\":0}}", &full);

    parse_ok(" \n{ \"completion_tokens_details\" : { \"reasoning_tokens\" : 5 }"
             ", \"total_tokens\" : 29 , \"completion_tokens\" : 10 ,"
             " \"prompt_tokens_details\" : { \"cached_tokens\" : 3 } ,"
             " \"prompt_tokens\" : 19 }\n ", &full);

    /* missing total: computed */

    e = (expect_t) { 7, 5, 12, 0, 0 };
    parse_ok("{\"prompt_tokens\":7,\"completion_tokens\":5}", &e);

    e = (expect_t) { 7, 0, 7, 0, 0 };
    parse_ok("{\"prompt_tokens\":7}", &e);

    /* an unusable total is computed too */

    e = (expect_t) { 7, 5, 12, 0, 0 };
    parse_ok("{\"prompt_tokens\":7,\"completion_tokens\":5,"
             "\"total_tokens\":null}", &e);
    parse_ok("{\"prompt_tokens\":7,\"completion_tokens\":5,"
             "\"total_tokens\":\"12\"}", &e);
    parse_ok("{\"prompt_tokens\":7,\"completion_tokens\":5,"
             "\"total_tokens\":12.0}", &e);

    /* a total that disagrees is kept as reported */

    e = (expect_t) { 7, 5, 100, 0, 0 };
    parse_ok("{\"prompt_tokens\":7,\"completion_tokens\":5,"
             "\"total_tokens\":100}", &e);

    /* embeddings-style usage */

    e = (expect_t) { 8, 0, 8, 0, 0 };
    parse_ok("{\"prompt_tokens\":8,\"total_tokens\":8}", &e);

    /* nothing known: zeros, but found */

    e = (expect_t) { 0, 0, 0, 0, 0 };
    parse_ok("{}", &e);
    parse_ok("{\"other\":{\"x\":[1,2]}}", &e);

    /* fields that are not integers are ignored */

    parse_ok("{\"prompt_tokens\":\"5\",\"completion_tokens\":2.5,"
             "\"prompt_tokens_details\":null,"
             "\"completion_tokens_details\":7}", &e);
    parse_ok("{\"prompt_tokens\":1e2,\"prompt_tokens_details\":"
             "{\"cached_tokens\":\"3\"},\"completion_tokens_details\":"
             "[{\"reasoning_tokens\":5}]}", &e);
    parse_ok("{\"prompt_tokens\":99999999999999999999}", &e);

    /* escaped keys */

    e = (expect_t) { 4, 0, 4, 2, 0 };
    parse_ok("{\"prompt\\u005ftokens\":4,\"prompt_tokens_d\\u0065tails\":"
             "{\"c\\u0061ched_tokens\":2}}", &e);

    /* limits */

    e = (expect_t) { INT64_MAX, 0, INT64_MAX, 0, 0 };
    parse_ok("{\"prompt_tokens\":9223372036854775807}", &e);

    e = (expect_t) { 0, 0, 0, 0, 0 };
    parse_ok("{\"prompt_tokens\":-0}", &e);

    e = (expect_t) { 1000000000000000000, 0, 1000000000000000000, 0, 0 };
    parse_ok("{\"prompt_tokens\":1000000000000000000}", &e);

    e = (expect_t) { 999999999999999999, 0, 999999999999999999, 0, 0 };
    parse_ok("{\"prompt_tokens\":999999999999999999}", &e);

    e = (expect_t) { 0, 0, 0, 0, 0 };
    parse_ok("{\"prompt_tokens\":9223372036854775808}", &e);
    parse_ok("{\"prompt_tokens\":1E+3,\"completion_tokens\":0.0,"
             "\"total_tokens\":2e-1}", &e);
}


/*
 * A usage object of integers and flat details objects under plain keys is
 * read in one pass, any other by the full parser: both must agree.
 */

static void
test_parse_shapes(void **state)
{
    size_t    i;
    char      buf[2048], *p;
    expect_t  e;

    (void) state;

    /* as the benchmark's answer has it */

    e = (expect_t) { 214, 31, 245, 0, 0 };
    parse_ok("{\n    \"prompt_tokens\": 214,\n    \"completion_tokens\": 31,"
             "\n    \"total_tokens\": 245,\n    \"prompt_tokens_details\": "
             "{\"cached_tokens\": 0},\n    \"completion_tokens_details\": "
             "{\"reasoning_tokens\": 0}\n  }", &e);

    /* names that only start or end like the known ones */

    e = (expect_t) { 0, 0, 0, 0, 0 };
    parse_ok("{\"prompt_token\":1,\"prompt_tokens_\":2,\"total_tokens_\":3,"
             "\"completion_tokens_detail\":{\"reasoning_tokens\":4},"
             "\"cached_tokens\":5,\"reasoning_tokens\":6,"
             "\"prompt_tokens_details\":{\"prompt_tokens\":7,"
             "\"cached_token\":8,\"reasoning_tokens\":9}}", &e);

    /* a details object with a duplicate is ignored, the rest stands */

    e = (expect_t) { 5, 0, 5, 0, 4 };
    parse_ok("{\"prompt_tokens\":5,\"prompt_tokens_details\":"
             "{\"cached_tokens\":2,\"cached_tokens\":3},"
             "\"completion_tokens_details\":{\"reasoning_tokens\":4}}", &e);

    /* details with many members, nested values, empty */

    e = (expect_t) { 1, 0, 1, 2, 3 };
    parse_ok("{\"prompt_tokens\":1,\"prompt_tokens_details\":{\"a\":1,"
             "\"b\":2,\"c\":3,\"d\":4,\"e\":5,\"f\":6,\"g\":7,\"h\":8,"
             "\"cached_tokens\":2},\"completion_tokens_details\":"
             "{\"x\":{\"y\":[1,{}]},\"reasoning_tokens\":3,\"z\":\"\\\"\"}}",
             &e);

    e = (expect_t) { 1, 0, 1, 0, 0 };
    parse_ok("{\"prompt_tokens_details\":{},\"prompt_tokens\":1,"
             "\"completion_tokens_details\":{ },\"other\":[{}],"
             "\"s\":\"x\",\"n\":null,\"t\":true,\"f\":false}", &e);

    /* 32 members are allowed, 33 are not */

    p = buf + sprintf(buf, "{\"prompt_tokens\":1");

    for (i = 1; i < 32; i++) {
        p += sprintf(p, ",\"m%zu\":%zu", i, i);
    }

    strcpy(p, "}");
    parse_ok(buf, &e);

    strcpy(p, ",\"m32\":32}");
    parse_bad(buf);

    /* duplicates, syntax, cut texts: known names near the end */

    parse_bad("{\"prompt_tokens\":1,\"x\":2,\"prompt_tokens\":1}");
    parse_bad("{\"\":1,\"\":2}");
    parse_bad("{\"prompt_tokens\":01}");
    parse_bad("{\"prompt_tokens\":1.}");
    parse_bad("{\"prompt_tokens\":-}");
    parse_bad("{\"prompt_tokens\":nul}");
    parse_bad("{\"prompt_tokens\":1},");
    parse_bad("{\"prompt_tokens_details\":{\"cached_tokens\":1}");
    parse_bad("{\"prompt_tokens_details\":{\"cached_tokens\":1,}}");
    parse_bad("{\"total_tokens");
    parse_bad("{\"total_tokens\"");
    parse_bad("{\"prompt_tokens\":1\\u0001}");
    parse_bad("{\"prompt\x01tokens\":1}");
}


static void
test_parse_bad(void **state)
{
    (void) state;

    /* negative */

    parse_bad("{\"prompt_tokens\":-1,\"completion_tokens\":5}");
    parse_bad("{\"prompt_tokens\":1,\"completion_tokens\":-5}");
    parse_bad("{\"prompt_tokens\":1,\"completion_tokens\":5,"
              "\"total_tokens\":-6}");
    parse_bad("{\"prompt_tokens\":1,\"prompt_tokens_details\":"
              "{\"cached_tokens\":-1}}");
    parse_bad("{\"completion_tokens_details\":{\"reasoning_tokens\":-2}}");
    parse_bad("{\"prompt_tokens\":-9223372036854775807}");

    /* a computed total that would overflow */

    parse_bad("{\"prompt_tokens\":9223372036854775807,"
              "\"completion_tokens\":1}");
    parse_bad("{\"prompt_tokens\":9223372036854775807,"
              "\"completion_tokens\":9223372036854775807}");
    parse_bad("{\"prompt_tokens\":-9223372036854775807,"
              "\"completion_tokens\":-9223372036854775807}");

    /* not an object */

    parse_bad("");
    parse_bad(" ");
    parse_bad("null");
    parse_bad("[]");
    parse_bad("[{\"prompt_tokens\":1}]");
    parse_bad("1");
    parse_bad("\"usage\"");
    parse_bad("true");

    /* invalid */

    parse_bad("{");
    parse_bad("{\"prompt_tokens\":1,}");
    parse_bad("{\"prompt_tokens\":1} x");
    parse_bad("{\"prompt_tokens\":1,\"prompt_tokens\":2}");
}


/* capture */


static const char  resp_end[] =
    "{\"id\":\"chatcmpl-9xYz\",\"object\":\"chat.completion\","
    "\"created\":1721000000,\"model\":\"gpt-4o-2024-08-06\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"Sure! {\\\"usage\\\": {\\\"prompt_tokens\\\": 999}} "
    "and } and ] and [ and { and \\\\ and \\\"usage\\\":\","
    "\"refusal\":null},\"logprobs\":null,\"finish_reason\":\"stop\"}],"
    "\"system_fingerprint\":\"fp_3aa7262c27\","
    "\"usage\":{\"prompt_tokens\":19,\"completion_tokens\":10,"
    "\"total_tokens\":29,\"prompt_tokens_details\":{\"cached_tokens\":3,"
    "\"audio_tokens\":0},\"completion_tokens_details\":"
    "{\"reasoning_tokens\":5,\"audio_tokens\":0,"
    "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}";


static const char  resp_start[] =
    "{\"usage\":{\"prompt_tokens\":19,\"completion_tokens\":10,"
    "\"total_tokens\":29,\"prompt_tokens_details\":{\"cached_tokens\":3},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":5}},"
    "\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
    "\"content\":\"ok\"},\"finish_reason\":\"stop\"}],"
    "\"usage_note\":{\"usage\":{\"prompt_tokens\":1}}}";


/* a "usage" member inside the choices must not be taken */

static const char  resp_nested[] =
    "{\"id\":\"chatcmpl-2\",\"choices\":[{\"index\":0,\"message\":"
    "{\"role\":\"assistant\",\"content\":null,"
    "\"usage\":{\"prompt_tokens\":999,\"completion_tokens\":999},"
    "\"tool_calls\":[{\"id\":\"call_1\",\"type\":\"function\","
    "\"function\":{\"name\":\"f\",\"arguments\":"
    "\"{\\\"usage\\\":{\\\"prompt_tokens\\\":7}}\"}}]},"
    "\"usage\":[{\"usage\":{}}]}],"
    "\"meta\":{\"usage\":{\"prompt_tokens\":888}},"
    "\"usage\":{\"prompt_tokens\":19,\"completion_tokens\":10,"
    "\"total_tokens\":29,\"prompt_tokens_details\":{\"cached_tokens\":3},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":5}},"
    "\"tail\":[{\"usage\":{\"prompt_tokens\":777}}]}";


static const char  resp_nested_only[] =
    "{\"id\":\"chatcmpl-3\",\"choices\":[{\"message\":{\"content\":\"x\","
    "\"usage\":{\"prompt_tokens\":999}}}],"
    "\"meta\":{\"usage\":{\"prompt_tokens\":888}}}";


/* strings with braces, quotes, escapes and the text "usage": */

static const char  resp_strings[] =
    "{\"a\":\"{\",\"b\":\"}\",\"c\":\"[\",\"d\":\"]\","
    "\"e\":\"\\\"\",\"f\":\"\\\\\",\"g\":\"\\\\\\\"usage\\\\\\\":{\","
    "\"h\":\"\\\"usage\\\":{\\\"prompt_tokens\\\":1},\","
    "\"usage_extra\":{\"prompt_tokens\":2},\"my_usage\":{\"x\":3},"
    "\"usag\":{\"prompt_tokens\":4},\"usages\":{\"prompt_tokens\":5},"
    "\"\\\"usage\\\"\":{\"prompt_tokens\":6},"
    "\"i\":\"usage\",\"j\":[\"usage\",\":\",{\"usage\":{}}],"
    "\"k\":\"\\u0022usage\\u0022: {\","
    "\"l\":\"a\\\\\",\"m\":\"\\\\\\\\\","
    "\"usage\":{\"prompt_tokens\":19,\"completion_tokens\":10,"
    "\"prompt_tokens_details\":{\"cached_tokens\":3,\"note\":\"}{,\\\"\"},"
    "\"completion_tokens_details\":{\"reasoning_tokens\":5},"
    "\"s\":\"}\"},"
    "\"z\":\"}\"}";


static const char  resp_pretty[] =
    "\n{\n"
    "  \"id\": \"chatcmpl-4\",\n"
    "  \"choices\": [\n"
    "    {\n"
    "      \"message\": {\"role\": \"assistant\", \"content\": \"hi\"}\n"
    "    }\n"
    "  ],\n"
    "  \"usage\"  :\t{\n"
    "    \"prompt_tokens\": 19,\n"
    "    \"completion_tokens\": 10,\n"
    "    \"total_tokens\": 29,\n"
    "    \"prompt_tokens_details\": {\"cached_tokens\": 3},\n"
    "    \"completion_tokens_details\": {\"reasoning_tokens\": 5}\n"
    "  }\n"
    "}\n";


/* the benchmark's mock answer, bench/mock.conf, byte for byte */

static const char  resp_bench[] =
    "{\n"
    "  \"id\": \"chatcmpl-BX7kQ2mZp9rT4vYc8nL1sD3fG6hJ0\",\n"
    "  \"object\": \"chat.completion\",\n"
    "  \"created\": 1732752000,\n"
    "  \"model\": \"gpt-4o-mini-2024-07-18\",\n"
    "  \"choices\": [{\n"
    "    \"index\": 0,\n"
    "    \"message\": {\n"
    "      \"role\": \"assistant\",\n"
    "      \"content\": \"Order 48213-B is at the warehouse: pick it up on "
    "Friday.\",\n"
    "      \"refusal\": null\n"
    "    },\n"
    "    \"logprobs\": null,\n"
    "    \"finish_reason\": \"stop\"\n"
    "  }],\n"
    "  \"usage\": {\n"
    "    \"prompt_tokens\": 214,\n"
    "    \"completion_tokens\": 31,\n"
    "    \"total_tokens\": 245,\n"
    "    \"prompt_tokens_details\": {\"cached_tokens\": 0},\n"
    "    \"completion_tokens_details\": {\"reasoning_tokens\": 0}\n"
    "  },\n"
    "  \"system_fingerprint\": \"fp_0ba0d124f1\"\n"
    "}\n";


/*
 * Brackets, quotes and backslashes in strings deep in the answer, long
 * indentation, tabs and CRLF line breaks.
 */

static const char  resp_deep[] =
    "{\r\n"
    "\t\"choices\": [[[{\"message\": {\"content\": \"}]} \\\" \\\\ ]]\","
    "\"x\\\\\": \"\\\\\", \"tool_calls\": [{\"function\": {\"arguments\":"
    " \"{\\\"usage\\\": {\\\"prompt_tokens\\\": 7}}\"}}]},\r\n"
    "                                        "
    "\"usage\": {\"prompt_tokens\": 9}}]],"
    "\r\n\t\t\t[\"[{\", \"\\u007d\", {\"a\": [\"]\"]}]],\r\n"
    "\t\"meta\": {\"usage\": {\"prompt_tokens\": 888}, \"s\": \"\\\\\"},\r\n"
    "\t\"usage\" :\r\n"
    "\t\t{\"prompt_tokens\": 19, \"completion_tokens\": 10,\r\n"
    "\t\t \"prompt_tokens_details\": {\"cached_tokens\": 3, \"n\": [1, {}]},"
    "\r\n\t\t \"completion_tokens_details\": {\"reasoning_tokens\": 5}},\r\n"
    "\t\"tail\": [{\"usage\": {\"prompt_tokens\": 1}}]\r\n"
    "}\r\n";


static aigw_json_type_e
validate(const char *s)
{
    return aigw_json_validate((const u_char *) s, strlen(s), 64);
}


static aigw_usage_capture_t *
capture_new(void)
{
    aigw_usage_capture_t  *c;

    c = malloc(sizeof(aigw_usage_capture_t));
    assert_non_null(c);

    /* init must not depend on the memory being clear */
    memset(c, 0xa5, sizeof(aigw_usage_capture_t));
    aigw_usage_capture_init(c);

    return c;
}


static void
feed(aigw_usage_capture_t *c, const char *s, size_t len)
{
    u_char  *p;

    p = dup_exact(s, len);
    aigw_usage_capture_feed(c, p, len);
    free(p);
}


static int
result(aigw_usage_capture_t *c, aigw_usage_t *u)
{
    memset(u, 0xa5, sizeof(aigw_usage_t));

    return aigw_usage_capture_result(c, u);
}


/* the result for a text fed whole, in two pieces, in small pieces */

static void
check_capture(const char *s, size_t len, int rc, const expect_t *e)
{
    size_t                 i, j, step;
    aigw_usage_t           u;
    aigw_usage_capture_t  *c;

    c = capture_new();
    feed(c, s, len);
    assert_int_equal(result(c, &u), rc);

    if (rc == 0) {
        check_usage(&u, e);

        /* asking again gives the same */
        assert_int_equal(result(c, &u), 0);
        check_usage(&u, e);
    }

    free(c);

    for (i = 0; i <= len; i++) {
        c = capture_new();
        feed(c, s, i);
        feed(c, s + i, len - i);

        if (result(c, &u) != rc) {
            print_error("split at %zu of %zu\n", i, len);
            fail();
        }

        if (rc == 0) {
            check_usage(&u, e);
        }

        free(c);
    }

    for (step = 1; step <= 17; step++) {
        c = capture_new();

        for (j = 0; j < len; j += step) {
            feed(c, s + j, len - j < step ? len - j : step);
        }

        if (result(c, &u) != rc) {
            print_error("pieces of %zu\n", step);
            fail();
        }

        if (rc == 0) {
            check_usage(&u, e);
        }

        free(c);
    }
}


#define CAPTURE(s, rc, e)  check_capture(s, sizeof(s) - 1, rc, e)


static void
test_capture_responses(void **state)
{
    expect_t  e;

    (void) state;

    /* the samples are valid JSON */

    assert_int_equal(validate(resp_end), AIGW_JSON_OBJECT);
    assert_int_equal(validate(resp_start), AIGW_JSON_OBJECT);
    assert_int_equal(validate(resp_nested), AIGW_JSON_OBJECT);
    assert_int_equal(validate(resp_nested_only), AIGW_JSON_OBJECT);
    assert_int_equal(validate(resp_strings), AIGW_JSON_OBJECT);
    assert_int_equal(validate(resp_pretty), AIGW_JSON_OBJECT);
    assert_int_equal(validate(resp_bench), AIGW_JSON_OBJECT);
    assert_int_equal(validate(resp_deep), AIGW_JSON_OBJECT);

    CAPTURE(resp_end, 0, &full);
    CAPTURE(resp_start, 0, &full);
    CAPTURE(resp_nested, 0, &full);
    CAPTURE(resp_nested_only, -1, NULL);
    CAPTURE(resp_pretty, 0, &full);
    CAPTURE(resp_deep, 0, &full);

    e = (expect_t) { 214, 31, 245, 0, 0 };
    CAPTURE(resp_bench, 0, &e);

    e = (expect_t) { 19, 10, 29, 3, 5 };
    CAPTURE(resp_strings, 0, &e);
}


static void
test_capture_values(void **state)
{
    expect_t  e;

    (void) state;

    e = (expect_t) { 1, 2, 3, 0, 0 };

    CAPTURE("{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}",
            0, &e);
    CAPTURE("{\"usage\" : {\"prompt_tokens\":1,\"completion_tokens\":2} }",
            0, &e);
    CAPTURE("  {\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}\n",
            0, &e);

    /* not a usable usage */

    CAPTURE("{\"usage\":null}", -1, NULL);
    CAPTURE("{\"id\":\"x\",\"usage\":null,\"z\":1}", -1, NULL);
    CAPTURE("{\"usage\":\"lots\"}", -1, NULL);
    CAPTURE("{\"usage\":5}", -1, NULL);
    CAPTURE("{\"usage\":[]}", -1, NULL);
    CAPTURE("{\"usage\":[{\"prompt_tokens\":1}]}", -1, NULL);
    CAPTURE("{\"usage\":{\"prompt_tokens\":-1}}", -1, NULL);
    CAPTURE("{\"usage\":}", -1, NULL);

    /* no usage */

    CAPTURE("{}", -1, NULL);
    CAPTURE("{\"id\":\"x\"}", -1, NULL);
    CAPTURE("{\"error\":{\"message\":\"bad\",\"type\":\"x\"}}", -1, NULL);
    CAPTURE("{\"a\":{\"usage\":{\"prompt_tokens\":1}}}", -1, NULL);
    CAPTURE("{\"Usage\":{\"prompt_tokens\":1}}", -1, NULL);

    /* the first usage member is the one */

    e = (expect_t) { 1, 0, 1, 0, 0 };
    CAPTURE("{\"usage\":{\"prompt_tokens\":1},\"usage\":{\"prompt_tokens\":2}}",
            0, &e);
}


static void
test_capture_top_level(void **state)
{
    (void) state;

    /* not an object */

    CAPTURE("", -1, NULL);
    CAPTURE("   ", -1, NULL);
    CAPTURE("[{\"usage\":{\"prompt_tokens\":1}}]", -1, NULL);
    CAPTURE("[1,{\"usage\":{\"prompt_tokens\":1}}]", -1, NULL);
    CAPTURE("\"{\\\"usage\\\":{\\\"prompt_tokens\\\":1}}\"", -1, NULL);
    CAPTURE("null", -1, NULL);
    CAPTURE("12", -1, NULL);

    /* only the first top-level value counts */

    CAPTURE("{\"a\":1}{\"usage\":{\"prompt_tokens\":1}}", -1, NULL);
    CAPTURE("{\"a\":1}\n{\"usage\":{\"prompt_tokens\":1}}", -1, NULL);
}


static void
test_capture_truncated(void **state)
{
    expect_t  e;

    (void) state;

    CAPTURE("{\"usage\":{\"prompt_tokens\":1", -1, NULL);
    CAPTURE("{\"usage\":{\"prompt_tokens\":1,\"x\":\"}", -1, NULL);
    CAPTURE("{\"usage\":", -1, NULL);
    CAPTURE("{\"usage\"", -1, NULL);

    /* the usage value itself is complete */

    e = (expect_t) { 1, 0, 1, 0, 0 };
    CAPTURE("{\"usage\":{\"prompt_tokens\":1}", 0, &e);
    CAPTURE("{\"usage\":{\"prompt_tokens\":1},\"id\":\"x", 0, &e);

    /* fed nothing */

    {
        aigw_usage_t           u;
        aigw_usage_capture_t  *c;

        c = capture_new();
        assert_int_equal(result(c, &u), -1);
        aigw_usage_capture_feed(c, (const u_char *) "", 0);
        assert_int_equal(result(c, &u), -1);
        free(c);
    }
}


/* {"usage":<value of exactly len bytes>,"id":"x"} */

static char *
padded_response(size_t len)
{
    char    *s, *p;
    size_t   pad;

    const char  head[] = "{\"usage\":";
    const char  val_head[] = "{\"prompt_tokens\":1,\"pad\":\"";
    const char  val_tail[] = "\"}";
    const char  tail[] = ",\"id\":\"x\"}";

    pad = len - (sizeof(val_head) - 1) - (sizeof(val_tail) - 1);

    s = malloc(sizeof(head) + len + sizeof(tail));
    assert_non_null(s);

    p = stpcpy(s, head);
    p = stpcpy(p, val_head);
    memset(p, 'x', pad);
    p += pad;
    p = stpcpy(p, val_tail);
    strcpy(p, tail);

    assert_int_equal(strlen(s), sizeof(head) - 1 + len + sizeof(tail) - 1);

    return s;
}


static void
test_capture_overflow(void **state)
{
    char                  *s;
    size_t                 i, len;
    expect_t               e;
    aigw_usage_t           u;
    aigw_usage_capture_t  *c;

    (void) state;

    e = (expect_t) { 1, 0, 1, 0, 0 };

    /* exactly the capture size fits */

    s = padded_response(AIGW_USAGE_CAPTURE_MAX);
    len = strlen(s);

    c = capture_new();
    feed(c, s, len);
    assert_int_equal(result(c, &u), 0);
    check_usage(&u, &e);
    free(c);

    c = capture_new();
    for (i = 0; i < len; i++) {
        feed(c, s + i, 1);
    }
    assert_int_equal(result(c, &u), 0);
    check_usage(&u, &e);
    free(c);
    free(s);

    /* one byte more does not */

    s = padded_response(AIGW_USAGE_CAPTURE_MAX + 1);
    len = strlen(s);
    check_capture(s, len, -1, NULL);
    free(s);

    /* far more, then more data: no result, no crash */

    s = padded_response(200000);
    len = strlen(s);

    c = capture_new();
    feed(c, s, len);
    assert_int_equal(result(c, &u), -1);
    free(c);

    c = capture_new();
    for (i = 0; i < len; i += 4096) {
        feed(c, s + i, len - i < 4096 ? len - i : 4096);
    }
    assert_int_equal(result(c, &u), -1);
    free(c);
    free(s);

}


/* stream chunks */


static int
chunk(const char *s, aigw_usage_t *u, int *usage_only)
{
    int      rc;
    u_char  *p;
    size_t   len;

    len = strlen(s);
    p = dup_exact(s, len);

    memset(u, 0, sizeof(aigw_usage_t));
    *usage_only = 12345;

    rc = aigw_usage_from_chunk(p, len, u, usage_only);

    free(p);

    return rc;
}


static void
test_from_chunk(void **state)
{
    int           only;
    expect_t      e;
    aigw_usage_t  u;

    (void) state;

    /* an ordinary chunk */

    assert_int_equal(chunk("{\"id\":\"chatcmpl-1\",\"object\":"
                           "\"chat.completion.chunk\",\"created\":1,"
                           "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,"
                           "\"delta\":{\"content\":\"Hi\"},\"logprobs\":null,"
                           "\"finish_reason\":null}],\"usage\":null}",
                           &u, &only), 0);
    assert_int_equal(only, 0);
    assert_int_equal(u.found, 0);

    assert_int_equal(chunk("{\"choices\":[{\"delta\":{\"usage\":"
                           "{\"prompt_tokens\":1}}}]}", &u, &only), 0);
    assert_int_equal(only, 0);

    assert_int_equal(chunk("{}", &u, &only), 0);
    assert_int_equal(chunk("{\"choices\":[]}", &u, &only), 0);
    assert_int_equal(only, 0);

    /* the usage chunk include_usage adds */

    e = (expect_t) { 19, 10, 29, 3, 5 };

    assert_int_equal(chunk("{\"id\":\"chatcmpl-1\",\"object\":"
                           "\"chat.completion.chunk\",\"created\":1,"
                           "\"model\":\"gpt-4o\",\"choices\":[],"
                           "\"usage\":{\"prompt_tokens\":19,"
                           "\"completion_tokens\":10,\"total_tokens\":29,"
                           "\"prompt_tokens_details\":{\"cached_tokens\":3},"
                           "\"completion_tokens_details\":"
                           "{\"reasoning_tokens\":5}}}", &u, &only), 1);
    assert_int_equal(only, 1);
    check_usage(&u, &e);

    e = (expect_t) { 2, 3, 5, 0, 0 };

    assert_int_equal(chunk(" {\"usage\" : {\"prompt_tokens\":2,"
                           "\"completion_tokens\":3} , \"choices\" : [ \n ] }"
                           "\n", &u, &only), 1);
    assert_int_equal(only, 1);
    check_usage(&u, &e);

    /* usage along with choices (some providers) */

    assert_int_equal(chunk("{\"choices\":[{\"index\":0,\"delta\":{},"
                           "\"finish_reason\":\"stop\"}],\"usage\":"
                           "{\"prompt_tokens\":2,\"completion_tokens\":3}}",
                           &u, &only), 1);
    assert_int_equal(only, 0);
    check_usage(&u, &e);

    /* no choices member at all */

    assert_int_equal(chunk("{\"usage\":{\"prompt_tokens\":2,"
                           "\"completion_tokens\":3}}", &u, &only), 1);
    assert_int_equal(only, 0);
    check_usage(&u, &e);

    assert_int_equal(chunk("{\"choices\":null,\"usage\":{\"prompt_tokens\":2,"
                           "\"completion_tokens\":3}}", &u, &only), 1);
    assert_int_equal(only, 0);

    /* an escaped key */

    assert_int_equal(chunk("{\"choices\":[],\"us\\u0061ge\":"
                           "{\"prompt_tokens\":2,\"completion_tokens\":3}}",
                           &u, &only), 1);
    assert_int_equal(only, 1);
    check_usage(&u, &e);

    /* a usage that is not usable */

    assert_int_equal(chunk("{\"choices\":[],\"usage\":"
                           "{\"prompt_tokens\":-2}}", &u, &only), 0);
    assert_int_equal(chunk("{\"choices\":[],\"usage\":\"x\"}", &u, &only), 0);
    assert_int_equal(chunk("{\"choices\":[],\"usage\":[]}", &u, &only), 0);

    /* not a JSON object */

    assert_int_equal(chunk("", &u, &only), -1);
    assert_int_equal(chunk("[DONE]", &u, &only), -1);
    assert_int_equal(chunk("[]", &u, &only), -1);
    assert_int_equal(chunk("\"x\"", &u, &only), -1);
    assert_int_equal(chunk("{\"usage\":{\"prompt_tokens\":1}", &u, &only),
                     -1);
    assert_int_equal(chunk("{\"usage\":{\"prompt_tokens\":1}},", &u, &only),
                     -1);
    assert_int_equal(chunk("{\"choices\":[],\"choices\":[],\"usage\":{}}",
                           &u, &only), -1);
    assert_int_equal(only, 0);
}


/* found by fuzz_usage */

static void
test_capture_fuzz_findings(void **state)
{
    size_t                 i, len;
    aigw_usage_t           u;
    aigw_usage_capture_t  *c;
    const char            *body;

    (void) state;

    c = malloc(sizeof(aigw_usage_capture_t));
    assert_non_null(c);

    /* an escaped key must not complete "usage" with an earlier key's tail */

    body = "{\"xxxge\":1,\"usa\\\\\":{\"prompt_tokens\":5}}";
    aigw_usage_capture_init(c);
    aigw_usage_capture_feed(c, (const u_char *) body, strlen(body));
    assert_int_not_equal(aigw_usage_capture_result(c, &u), 0);

    /* bytes after the object are ignored however they are split */

    body = "{},\"usage\":{\"prompt_tokens\":1}";
    len = strlen(body);

    aigw_usage_capture_init(c);
    aigw_usage_capture_feed(c, (const u_char *) body, len);
    assert_int_not_equal(aigw_usage_capture_result(c, &u), 0);

    aigw_usage_capture_init(c);

    for (i = 0; i < len; i++) {
        aigw_usage_capture_feed(c, (const u_char *) body + i, 1);
    }

    assert_int_not_equal(aigw_usage_capture_result(c, &u), 0);

    free(c);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_parse_bad),
        cmocka_unit_test(test_parse_shapes),
        cmocka_unit_test(test_capture_responses),
        cmocka_unit_test(test_capture_fuzz_findings),
        cmocka_unit_test(test_capture_values),
        cmocka_unit_test(test_capture_top_level),
        cmocka_unit_test(test_capture_truncated),
        cmocka_unit_test(test_capture_overflow),
        cmocka_unit_test(test_from_chunk),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
