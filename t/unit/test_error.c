/*
 * Unit tests for src/aigw_error.c (cmocka).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "aigw_error.h"
#include "aigw_json.h"


#define CANARY  16


/*
 * Writes e into a buffer of exactly aigw_error_len() bytes followed by a
 * canary, and checks the returned end, the canary, the exact text and
 * that the text (less its final newline) is a valid JSON object.
 */

static void
check_error(const aigw_error_t *e, const char *expect)
{
    u_char              *buf, *end;
    size_t               len, i, n;
    aigw_json_error_t    err;
    aigw_json_member_t   m[4], em[8], *v;

    len = aigw_error_len(e);

    buf = malloc(len + CANARY);
    assert_non_null(buf);
    memset(buf, 0x5a, len + CANARY);

    end = aigw_error_write(buf, e);

    if ((size_t) (end - buf) != strlen(expect)
        || memcmp(buf, expect, end - buf) != 0)
    {
        print_error("got      %.*s\nexpected %s\n", (int) (end - buf), buf,
                    expect);
    }

    assert_int_equal(end - buf, len);
    assert_int_equal(len, strlen(expect));
    assert_memory_equal(buf, expect, len);

    for (i = 0; i < CANARY; i++) {
        assert_int_equal(buf[len + i], 0x5a);
    }

    assert_int_equal(buf[len - 1], '\n');

    assert_int_equal(aigw_json_parse_object(buf, len - 1, m, 4, &n, 8, &err),
                     AIGW_JSON_OK);
    assert_int_equal(n, 1);

    v = aigw_json_find(m, n, "error", 5);
    assert_non_null(v);
    assert_int_equal(v->type, AIGW_JSON_OBJECT);

    assert_int_equal(aigw_json_parse_object(v->value, v->value_len, em, 8,
                                            &n, 8, &err),
                     AIGW_JSON_OK);
    assert_int_equal(n, 4);
    assert_ptr_equal(aigw_json_find(em, n, "message", 7), &em[0]);
    assert_ptr_equal(aigw_json_find(em, n, "type", 4), &em[1]);
    assert_ptr_equal(aigw_json_find(em, n, "param", 5), &em[2]);
    assert_ptr_equal(aigw_json_find(em, n, "code", 4), &em[3]);

    assert_int_equal(em[0].type, AIGW_JSON_STRING);
    assert_int_equal(em[1].type, AIGW_JSON_STRING);
    assert_int_equal(em[2].type,
                     e->param ? AIGW_JSON_STRING : AIGW_JSON_NULL);
    assert_int_equal(em[3].type,
                     e->code ? AIGW_JSON_STRING : AIGW_JSON_NULL);

    /* the message decodes back to the original */

    {
        u_char   *out;
        ssize_t   dn;

        out = malloc(em[0].value_len);
        assert_non_null(out);

        dn = aigw_json_unescape(em[0].value + 1, em[0].value_len - 2, out);
        assert_int_equal(dn, e->message_len);
        assert_memory_equal(out, e->message, e->message_len);

        free(out);
    }

    free(buf);
}


static void
test_quotes_newline(void **state)
{
    aigw_error_t  e;

    (void) state;

    memset(&e, 0, sizeof(e));
    e.message = (u_char *) "say \"hi\"\nnow";
    e.message_len = strlen((char *) e.message);
    e.type = "invalid_request_error";

    check_error(&e, "{\"error\":{\"message\":\"say \\\"hi\\\"\\nnow\","
                    "\"type\":\"invalid_request_error\","
                    "\"param\":null,\"code\":null}}\n");
}


static void
test_param_code(void **state)
{
    aigw_error_t  e;

    (void) state;

    memset(&e, 0, sizeof(e));
    e.message = (u_char *) "expected a boolean";
    e.message_len = strlen((char *) e.message);
    e.type = "invalid_request_error";

    /* param null, code null */

    check_error(&e, "{\"error\":{\"message\":\"expected a boolean\","
                    "\"type\":\"invalid_request_error\","
                    "\"param\":null,\"code\":null}}\n");

    /* param set, code null */

    e.param = (u_char *) "stream";
    e.param_len = 6;

    check_error(&e, "{\"error\":{\"message\":\"expected a boolean\","
                    "\"type\":\"invalid_request_error\","
                    "\"param\":\"stream\",\"code\":null}}\n");

    /* param set, code set */

    e.code = "invalid_value";

    check_error(&e, "{\"error\":{\"message\":\"expected a boolean\","
                    "\"type\":\"invalid_request_error\","
                    "\"param\":\"stream\",\"code\":\"invalid_value\"}}\n");

    /* param null, code set */

    e.param = NULL;
    e.param_len = 0;
    e.message = (u_char *) "Incorrect API key provided.";
    e.message_len = strlen((char *) e.message);
    e.code = "invalid_api_key";

    check_error(&e, "{\"error\":{\"message\":\"Incorrect API key provided.\","
                    "\"type\":\"invalid_request_error\","
                    "\"param\":null,\"code\":\"invalid_api_key\"}}\n");

    /* an empty param is a string, not null */

    e.param = (u_char *) "";
    e.param_len = 0;
    e.code = NULL;

    check_error(&e, "{\"error\":{\"message\":\"Incorrect API key provided.\","
                    "\"type\":\"invalid_request_error\","
                    "\"param\":\"\",\"code\":null}}\n");

    /* param_len counts, not a NUL */

    e.param = (u_char *) "max_tokens_extra";
    e.param_len = 10;

    check_error(&e, "{\"error\":{\"message\":\"Incorrect API key provided.\","
                    "\"type\":\"invalid_request_error\","
                    "\"param\":\"max_tokens\",\"code\":null}}\n");
}


static void
test_escaping(void **state)
{
    aigw_error_t  e;

    (void) state;

    memset(&e, 0, sizeof(e));
    e.message = (u_char *) "a\\b\t\"c\"\r\n\x01\x1f/\xc3\xa9";
    e.message_len = strlen((char *) e.message);
    e.type = "server_error";
    e.param = (u_char *) "we\"ird\\\n";
    e.param_len = 8;
    e.code = "upstream_error";

    check_error(&e, "{\"error\":{\"message\":\"a\\\\b\\t\\\"c\\\"\\r\\n"
                    "\\u0001\\u001f/\xc3\xa9\",\"type\":\"server_error\","
                    "\"param\":\"we\\\"ird\\\\\\n\","
                    "\"code\":\"upstream_error\"}}\n");

    /* a NUL in the message is kept, escaped */

    e.message = (u_char *) "a\0b";
    e.message_len = 3;
    e.param = NULL;
    e.code = NULL;

    check_error(&e, "{\"error\":{\"message\":\"a\\u0000b\","
                    "\"type\":\"server_error\","
                    "\"param\":null,\"code\":null}}\n");

    /* an empty message */

    e.message = (u_char *) "";
    e.message_len = 0;
    e.type = "";

    check_error(&e, "{\"error\":{\"message\":\"\",\"type\":\"\","
                    "\"param\":null,\"code\":null}}\n");
}


static void
test_len_matches(void **state)
{
    u_char        msg[256], par[64], *buf, *end;
    size_t        i, len;
    aigw_error_t  e;

    (void) state;

    for (i = 0; i < sizeof(msg); i++) {
        msg[i] = (u_char) i;
    }

    for (i = 0; i < sizeof(par); i++) {
        par[i] = (u_char) (i * 7);
    }

    for (i = 0; i < 4 * sizeof(msg); i++) {
        memset(&e, 0, sizeof(e));
        e.message = msg;
        e.message_len = i % (sizeof(msg) + 1);
        e.type = (i & 1) ? "invalid_request_error" : "rate_limit_error";
        e.param = (i & 2) ? par + i % 7 : NULL;
        e.param_len = (i & 2) ? sizeof(par) - i % 7 : 0;
        e.code = (i & 4) ? "rate_limit_exceeded" : NULL;

        len = aigw_error_len(&e);

        buf = malloc(len + CANARY);
        assert_non_null(buf);
        memset(buf, 0x5a, len + CANARY);

        end = aigw_error_write(buf, &e);
        assert_int_equal(end - buf, len);
        assert_int_equal(buf[len], 0x5a);

        free(buf);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_quotes_newline),
        cmocka_unit_test(test_param_code),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_len_matches),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
