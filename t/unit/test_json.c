/*
 * Unit tests for src/aigw_json.c (cmocka).
 *
 * Every text is copied into a heap buffer of exactly its length (no NUL
 * after it) so that valgrind reports any read past the end.
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


#define MAX_MEMBERS  64


typedef struct {
    u_char              *buf;
    size_t               len;
    size_t               n;
    int                  rc;
    aigw_json_error_t    err;
    aigw_json_member_t   m[MAX_MEMBERS];
} parsed_t;


static u_char *
dup_exact(const char *s, size_t len)
{
    u_char  *p;

    p = malloc(len ? len : 1);
    assert_non_null(p);
    memcpy(p, s, len);

    return p;
}


static parsed_t *
parse_n(const char *text, size_t len, size_t max, unsigned depth)
{
    parsed_t  *r;

    r = calloc(1, sizeof(parsed_t));
    assert_non_null(r);

    r->buf = dup_exact(text, len);
    r->len = len;
    r->rc = aigw_json_parse_object(r->buf, len, r->m, max, &r->n, depth,
                                   &r->err);

    return r;
}


static parsed_t *
parse(const char *text)
{
    return parse_n(text, strlen(text), MAX_MEMBERS, 64);
}


static void
parsed_free(parsed_t *r)
{
    free(r->buf);
    free(r);
}


static void
check_member(parsed_t *r, size_t i, const char *key, const char *value,
    aigw_json_type_e type)
{
    aigw_json_member_t  *m;

    assert_true(i < r->n);
    m = &r->m[i];

    assert_int_equal(m->key_len, strlen(key));
    assert_memory_equal(m->key, key, m->key_len);
    assert_ptr_equal(m->start, m->key - 1);
    assert_int_equal(*m->start, '"');
    assert_int_equal(m->value_len, strlen(value));
    assert_memory_equal(m->value, value, m->value_len);
    assert_int_equal(m->type, type);
}


static void
check_error(const char *text, size_t len, int rc, size_t offset)
{
    parsed_t  *r;

    r = parse_n(text, len, MAX_MEMBERS, 64);

    if (r->rc != rc || r->err.offset != offset) {
        print_error("text '%.*s': rc %d offset %zu msg \"%s\", "
                    "expected rc %d offset %zu\n", (int) len, text, r->rc,
                    r->err.offset, r->err.msg ? r->err.msg : "(null)", rc,
                    offset);
    }

    assert_int_equal(r->rc, rc);
    assert_int_equal(r->err.offset, offset);
    assert_non_null(r->err.msg);
    assert_int_equal(r->n, 0);

    if (rc != AIGW_JSON_DUPLICATE) {
        assert_null(r->err.key);
        assert_int_equal(r->err.key_len, 0);
    }

    parsed_free(r);
}


#define ERR(text, rc, offset)                                                 \
    check_error(text, sizeof(text) - 1, rc, offset)


static void
test_all_types(void **state)
{
    parsed_t  *r;

    (void) state;

    r = parse("{\"s\":\"x\",\"n\":-1.5e+3,\"i\":0,\"t\":true,\"f\":false,"
              "\"z\":null,\"o\":{\"a\":[1,{}]},\"a\":[],\"e\":\"\","
              "\"d\":1E-2,\"g\":-0.0}");

    assert_int_equal(r->rc, AIGW_JSON_OK);
    assert_null(r->err.msg);
    assert_int_equal(r->n, 11);

    check_member(r, 0, "s", "\"x\"", AIGW_JSON_STRING);
    check_member(r, 1, "n", "-1.5e+3", AIGW_JSON_NUMBER);
    check_member(r, 2, "i", "0", AIGW_JSON_NUMBER);
    check_member(r, 3, "t", "true", AIGW_JSON_TRUE);
    check_member(r, 4, "f", "false", AIGW_JSON_FALSE);
    check_member(r, 5, "z", "null", AIGW_JSON_NULL);
    check_member(r, 6, "o", "{\"a\":[1,{}]}", AIGW_JSON_OBJECT);
    check_member(r, 7, "a", "[]", AIGW_JSON_ARRAY);
    check_member(r, 8, "e", "\"\"", AIGW_JSON_STRING);
    check_member(r, 9, "d", "1E-2", AIGW_JSON_NUMBER);
    check_member(r, 10, "g", "-0.0", AIGW_JSON_NUMBER);

    assert_ptr_equal(r->m[0].start, r->buf + 1);
    assert_int_equal(r->m[0].key_escaped, 0);
    assert_int_equal(r->m[0].value_escaped, 0);

    parsed_free(r);
}


static void
test_empty_object(void **state)
{
    parsed_t    *r;
    size_t       i;
    const char  *ok[] = { "{}", "{ }", " {}", "{}\n", "\t\r\n { \n\t\r } \n" };

    (void) state;

    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        r = parse(ok[i]);
        assert_int_equal(r->rc, AIGW_JSON_OK);
        assert_int_equal(r->n, 0);
        parsed_free(r);
    }

    /* no room for members is fine when there are none */

    r = parse_n("{}", 2, 0, 64);
    assert_int_equal(r->rc, AIGW_JSON_OK);
    parsed_free(r);
}


static void
test_whitespace(void **state)
{
    parsed_t  *r;

    (void) state;

    r = parse(" \t\r\n{ \"a\" : 1 , \"b\"\n:\t[ 1 , 2 ] ,\"c\":{ \"x\" :"
              " \"y\" } } \n");

    assert_int_equal(r->rc, AIGW_JSON_OK);
    assert_int_equal(r->n, 3);

    check_member(r, 0, "a", "1", AIGW_JSON_NUMBER);
    check_member(r, 1, "b", "[ 1 , 2 ]", AIGW_JSON_ARRAY);
    check_member(r, 2, "c", "{ \"x\" : \"y\" }", AIGW_JSON_OBJECT);

    assert_ptr_equal(r->m[0].start, r->buf + 6);

    parsed_free(r);
}


static void
test_nested(void **state)
{
    parsed_t  *r;

    (void) state;

    r = parse("{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":"
              "\"text\",\"text\":\"hi\"},{\"type\":\"image_url\","
              "\"image_url\":{\"url\":\"data:x\"}}]},[[[]]],[{}],{}],"
              "\"tools\":{\"a\":{\"b\":{\"c\":[null,true,false,1.0]}}}}");

    assert_int_equal(r->rc, AIGW_JSON_OK);
    assert_int_equal(r->n, 2);
    assert_int_equal(r->m[0].type, AIGW_JSON_ARRAY);
    assert_int_equal(r->m[1].type, AIGW_JSON_OBJECT);
    assert_int_equal(r->m[1].value_len,
                     strlen("{\"a\":{\"b\":{\"c\":[null,true,false,1.0]}}}"));

    parsed_free(r);

    /* duplicate keys below the top level are not checked */

    r = parse("{\"a\":{\"b\":1,\"b\":2}}");
    assert_int_equal(r->rc, AIGW_JSON_OK);
    parsed_free(r);
}


static void
test_string_escapes(void **state)
{
    u_char      out[128];
    ssize_t     n;
    parsed_t   *r;
    const char  expect[] = "\" \\ / \b \f \n \r \t A \xc3\xa9 \xe2\x82\xac "
                           "\xf0\x9f\x98\x80 \xef\xbf\xbd";

    (void) state;

    r = parse("{\"k\":\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u0041 \\u00E9 "
              "\\u20ac \\ud83d\\uDE00 \\udc00\",\"pl\\u0061in\":\"\xc3\xa9\"}");

    assert_int_equal(r->rc, AIGW_JSON_OK);
    assert_int_equal(r->n, 2);

    assert_int_equal(r->m[0].type, AIGW_JSON_STRING);
    assert_int_equal(r->m[0].key_escaped, 0);
    assert_int_equal(r->m[0].value_escaped, 1);

    n = aigw_json_unescape(r->m[0].value + 1, r->m[0].value_len - 2, out);
    assert_int_equal(n, sizeof(expect) - 1);
    assert_memory_equal(out, expect, n);

    assert_int_equal(r->m[1].key_escaped, 1);
    assert_int_equal(r->m[1].value_escaped, 0);
    assert_non_null(aigw_json_find(r->m, r->n, "plain", 5));

    parsed_free(r);
}


static void
test_not_object(void **state)
{
    (void) state;

    ERR("[]", AIGW_JSON_NOT_OBJECT, 0);
    ERR("\"str\"", AIGW_JSON_NOT_OBJECT, 0);
    ERR("123", AIGW_JSON_NOT_OBJECT, 0);
    ERR("-1.5e3", AIGW_JSON_NOT_OBJECT, 0);
    ERR("true", AIGW_JSON_NOT_OBJECT, 0);
    ERR("null", AIGW_JSON_NOT_OBJECT, 0);
    ERR("  [ {} ]  ", AIGW_JSON_NOT_OBJECT, 2);

    /* not a JSON value at all: a syntax error, not "not an object" */

    ERR("[1,]", AIGW_JSON_SYNTAX, 0);
    ERR("\"str", AIGW_JSON_SYNTAX, 0);
    ERR("123 4", AIGW_JSON_SYNTAX, 0);
    ERR("xyz", AIGW_JSON_SYNTAX, 0);
    ERR("[] x", AIGW_JSON_SYNTAX, 0);
}


static void
test_syntax_errors(void **state)
{
    (void) state;

    /* empty */

    ERR("", AIGW_JSON_SYNTAX, 0);
    ERR("   \n", AIGW_JSON_SYNTAX, 4);

    /* trailing garbage */

    ERR("{} x", AIGW_JSON_SYNTAX, 3);
    ERR("{}{}", AIGW_JSON_SYNTAX, 2);
    ERR("{\"a\":1}}", AIGW_JSON_SYNTAX, 7);
    ERR("{\"a\":1},", AIGW_JSON_SYNTAX, 7);
    check_error("{\"a\":1}\0", 8, AIGW_JSON_SYNTAX, 7);

    /* structure */

    ERR("{", AIGW_JSON_SYNTAX, 1);
    ERR("{ ", AIGW_JSON_SYNTAX, 2);
    ERR("{\"a\":1,}", AIGW_JSON_SYNTAX, 7);
    ERR("{,}", AIGW_JSON_SYNTAX, 1);
    ERR("{\"a\" 1}", AIGW_JSON_SYNTAX, 5);
    ERR("{\"a\"}", AIGW_JSON_SYNTAX, 4);
    ERR("{\"a\"", AIGW_JSON_SYNTAX, 4);
    ERR("{\"a\":", AIGW_JSON_SYNTAX, 5);
    ERR("{\"a\":}", AIGW_JSON_SYNTAX, 5);
    ERR("{\"a\":1", AIGW_JSON_SYNTAX, 6);
    ERR("{\"a\":1 \"b\":2}", AIGW_JSON_SYNTAX, 7);
    ERR("{\"a\":1;\"b\":2}", AIGW_JSON_SYNTAX, 6);
    ERR("{1:2}", AIGW_JSON_SYNTAX, 1);
    ERR("{'a':1}", AIGW_JSON_SYNTAX, 1);
    ERR("{a:1}", AIGW_JSON_SYNTAX, 1);
    ERR("{\"a\"::1}", AIGW_JSON_SYNTAX, 5);
    ERR("{\"a\":[1,]}", AIGW_JSON_SYNTAX, 8);
    ERR("{\"a\":[,1]}", AIGW_JSON_SYNTAX, 6);
    ERR("{\"a\":[1 2]}", AIGW_JSON_SYNTAX, 8);
    ERR("{\"a\":[1}", AIGW_JSON_SYNTAX, 7);
    ERR("{\"a\":[1", AIGW_JSON_SYNTAX, 7);
    ERR("{\"a\":[", AIGW_JSON_SYNTAX, 6);
    ERR("{\"a\":{\"b\"}}", AIGW_JSON_SYNTAX, 9);
    ERR("{\"a\":{\"b\":1,}}", AIGW_JSON_SYNTAX, 12);
    ERR("{\"a\":{\"b\":1]}", AIGW_JSON_SYNTAX, 11);
    ERR("{\"a\":{1:1}}", AIGW_JSON_SYNTAX, 6);
    ERR("{\"a\":{", AIGW_JSON_SYNTAX, 6);

    /* strings */

    ERR("{\"a\":\"abc}", AIGW_JSON_SYNTAX, 10);
    ERR("{\"abc}", AIGW_JSON_SYNTAX, 6);
    ERR("{\"a\":\"x\\\"}", AIGW_JSON_SYNTAX, 10);
    ERR("{\"a\":\"x\\", AIGW_JSON_SYNTAX, 8);
    ERR("{\"a\":\"a\nb\"}", AIGW_JSON_SYNTAX, 7);
    ERR("{\"a\":\"a\tb\"}", AIGW_JSON_SYNTAX, 7);
    ERR("{\"a\x01\":1}", AIGW_JSON_SYNTAX, 3);
    check_error("{\"a\":\"\0\"}", 9, AIGW_JSON_SYNTAX, 6);
    ERR("{\"a\":\"\x1f\"}", AIGW_JSON_SYNTAX, 6);
    ERR("{\"a\":\"\\x\"}", AIGW_JSON_SYNTAX, 7);
    ERR("{\"a\":\"\\a\"}", AIGW_JSON_SYNTAX, 7);
    ERR("{\"a\":\"\\'\"}", AIGW_JSON_SYNTAX, 7);
    ERR("{\"a\":\"\\U0041\"}", AIGW_JSON_SYNTAX, 7);
    ERR("{\"a\":\"\\u12G4\"}", AIGW_JSON_SYNTAX, 7);
    ERR("{\"a\":\"\\u12\"}", AIGW_JSON_SYNTAX, 7);
    ERR("{\"a\":\"\\u", AIGW_JSON_SYNTAX, 7);
    ERR("{\"a\":\"\\u123", AIGW_JSON_SYNTAX, 7);
    ERR("{\"a\":\"\\u 123\"}", AIGW_JSON_SYNTAX, 7);
    ERR("{\"a\":\"\\u-123\"}", AIGW_JSON_SYNTAX, 7);

    /* numbers */

    ERR("{\"a\":01}", AIGW_JSON_SYNTAX, 6);
    ERR("{\"a\":-01}", AIGW_JSON_SYNTAX, 7);
    ERR("{\"a\":00}", AIGW_JSON_SYNTAX, 6);
    ERR("{\"a\":1.}", AIGW_JSON_SYNTAX, 7);
    ERR("{\"a\":1.e1}", AIGW_JSON_SYNTAX, 7);
    ERR("{\"a\":.5}", AIGW_JSON_SYNTAX, 5);
    ERR("{\"a\":-}", AIGW_JSON_SYNTAX, 6);
    ERR("{\"a\":-x}", AIGW_JSON_SYNTAX, 6);
    ERR("{\"a\":+1}", AIGW_JSON_SYNTAX, 5);
    ERR("{\"a\":1e}", AIGW_JSON_SYNTAX, 7);
    ERR("{\"a\":1e+}", AIGW_JSON_SYNTAX, 8);
    ERR("{\"a\":1E-}", AIGW_JSON_SYNTAX, 8);
    ERR("{\"a\":1e5.5}", AIGW_JSON_SYNTAX, 8);
    ERR("{\"a\":0x10}", AIGW_JSON_SYNTAX, 6);
    ERR("{\"a\":1", AIGW_JSON_SYNTAX, 6);
    ERR("{\"a\":-", AIGW_JSON_SYNTAX, 6);
    ERR("{\"a\":1.", AIGW_JSON_SYNTAX, 7);
    ERR("{\"a\":1e", AIGW_JSON_SYNTAX, 7);
    ERR("{\"a\":NaN}", AIGW_JSON_SYNTAX, 5);
    ERR("{\"a\":Infinity}", AIGW_JSON_SYNTAX, 5);
    ERR("{\"a\":-Infinity}", AIGW_JSON_SYNTAX, 6);

    /* literals */

    ERR("{\"a\":tru}", AIGW_JSON_SYNTAX, 5);
    ERR("{\"a\":tru", AIGW_JSON_SYNTAX, 5);
    ERR("{\"a\":nul}", AIGW_JSON_SYNTAX, 5);
    ERR("{\"a\":fals}", AIGW_JSON_SYNTAX, 5);
    ERR("{\"a\":True}", AIGW_JSON_SYNTAX, 5);
    ERR("{\"a\":NULL}", AIGW_JSON_SYNTAX, 5);
    ERR("{\"a\":truex}", AIGW_JSON_SYNTAX, 9);
    ERR("{\"a\":nullnull}", AIGW_JSON_SYNTAX, 9);
    ERR("{\"a\":undefined}", AIGW_JSON_SYNTAX, 5);
}


static void
test_error_messages(void **state)
{
    parsed_t  *r;

    (void) state;

    r = parse("");
    assert_string_equal(r->err.msg, "the body is empty");
    parsed_free(r);

    r = parse("[]");
    assert_string_equal(r->err.msg, "the body must be a JSON object");
    parsed_free(r);

    r = parse("nope");
    assert_string_equal(r->err.msg, "the body is not valid JSON");
    parsed_free(r);

    r = parse("{\"a\":\"\\x\"}");
    assert_string_equal(r->err.msg, "invalid escape in a string");
    parsed_free(r);

    r = parse("{\"a\":1,}");
    assert_string_equal(r->err.msg, "expected a quoted key");
    parsed_free(r);

    r = parse("{\"a\":1} 1");
    assert_string_equal(r->err.msg, "unexpected data after the JSON object");
    parsed_free(r);
}


static char *
nest(const char *prefix, const char *open, const char *mid,
    const char *close, size_t k, const char *suffix)
{
    char    *s, *p;
    size_t   i, lo, lc;

    lo = strlen(open);
    lc = strlen(close);

    s = malloc(strlen(prefix) + k * (lo + lc) + strlen(mid)
               + strlen(suffix) + 1);
    assert_non_null(s);

    p = stpcpy(s, prefix);

    for (i = 0; i < k; i++) {
        p = stpcpy(p, open);
    }

    p = stpcpy(p, mid);

    for (i = 0; i < k; i++) {
        p = stpcpy(p, close);
    }

    strcpy(p, suffix);

    return s;
}


static void
test_depth(void **state)
{
    char      *s;
    parsed_t  *r;

    (void) state;

    /* the top-level object is depth 1: 63 arrays inside it make 64 */

    s = nest("{\"a\":", "[", "", "]", 63, "}");
    r = parse(s);
    assert_int_equal(r->rc, AIGW_JSON_OK);
    assert_int_equal(r->m[0].value_len, 126);
    parsed_free(r);
    free(s);

    s = nest("{\"a\":", "[", "", "]", 64, "}");
    r = parse(s);
    assert_int_equal(r->rc, AIGW_JSON_TOO_DEEP);
    assert_int_equal(r->err.offset, 5 + 63);
    assert_string_equal(r->err.msg, "the JSON is nested too deeply");
    parsed_free(r);
    free(s);

    /* the same with objects */

    s = nest("{\"a\":", "{\"b\":", "1", "}", 63, "}");
    r = parse(s);
    assert_int_equal(r->rc, AIGW_JSON_OK);
    parsed_free(r);
    free(s);

    s = nest("{\"a\":", "{\"b\":", "1", "}", 64, "}");
    r = parse(s);
    assert_int_equal(r->rc, AIGW_JSON_TOO_DEEP);
    assert_int_equal(r->err.offset, 5 + 63 * 5);
    parsed_free(r);
    free(s);

    s = nest("{\"a\":", "[{\"b\":", "1", "}]", 31, "}");
    r = parse(s);
    assert_int_equal(r->rc, AIGW_JSON_OK);
    parsed_free(r);
    free(s);

    s = nest("{\"a\":[", "{\"b\":[", "", "]}", 31, "]}");
    r = parse(s);
    assert_int_equal(r->rc, AIGW_JSON_OK);
    parsed_free(r);
    free(s);

    s = nest("{\"a\":[", "{\"b\":[", "{}", "]}", 31, "]}");
    r = parse(s);
    assert_int_equal(r->rc, AIGW_JSON_TOO_DEEP);
    assert_int_equal(r->err.offset, 6 + 31 * 6);
    parsed_free(r);
    free(s);

    /* a very deep text fails fast, without deep recursion */

    s = nest("{\"a\":", "[", "", "", 100000, "");
    r = parse(s);
    assert_int_equal(r->rc, AIGW_JSON_TOO_DEEP);
    assert_int_equal(r->err.offset, 5 + 63);
    parsed_free(r);
    free(s);

    /* the limit is a parameter */

    r = parse_n("{\"a\":1}", 7, MAX_MEMBERS, 1);
    assert_int_equal(r->rc, AIGW_JSON_OK);
    parsed_free(r);

    r = parse_n("{\"a\":[]}", 8, MAX_MEMBERS, 1);
    assert_int_equal(r->rc, AIGW_JSON_TOO_DEEP);
    parsed_free(r);

    r = parse_n("{\"a\":[],\"b\":{\"c\":{}}}", 21, MAX_MEMBERS, 3);
    assert_int_equal(r->rc, AIGW_JSON_OK);
    parsed_free(r);

    r = parse_n("{\"a\":[],\"b\":{\"c\":{\"d\":[]}}}", 27, MAX_MEMBERS, 3);
    assert_int_equal(r->rc, AIGW_JSON_TOO_DEEP);
    parsed_free(r);

    /* depth goes back down after each closed value */

    s = malloc(70 * 200 + 16);
    assert_non_null(s);
    {
        char    *p;
        size_t   i, j;

        p = stpcpy(s, "{\"a\":[");
        for (i = 0; i < 100; i++) {
            if (i) {
                *p++ = ',';
            }
            for (j = 0; j < 62; j++) {
                *p++ = '[';
            }
            for (j = 0; j < 62; j++) {
                *p++ = ']';
            }
        }
        strcpy(p, "]}");
    }
    r = parse(s);
    assert_int_equal(r->rc, AIGW_JSON_OK);
    parsed_free(r);
    free(s);
}


static void
test_too_many(void **state)
{
    parsed_t  *r;

    (void) state;

    r = parse_n("{\"a\":1,\"b\":2,\"c\":3}", 19, 3, 64);
    assert_int_equal(r->rc, AIGW_JSON_OK);
    assert_int_equal(r->n, 3);
    parsed_free(r);

    r = parse_n("{\"a\":1,\"b\":2,\"c\":3,\"d\":4}", 25, 3, 64);
    assert_int_equal(r->rc, AIGW_JSON_TOO_MANY);
    assert_string_equal(r->err.msg, "the body has too many top-level fields");
    assert_int_equal(r->err.offset, 22);
    assert_int_equal(r->n, 0);
    assert_null(r->err.key);
    parsed_free(r);

    r = parse_n("{\"a\":1}", 7, 0, 64);
    assert_int_equal(r->rc, AIGW_JSON_TOO_MANY);
    parsed_free(r);

    /* nested members do not count */

    r = parse_n("{\"a\":{\"b\":1,\"c\":2,\"d\":3}}", 25, 1, 64);
    assert_int_equal(r->rc, AIGW_JSON_OK);
    parsed_free(r);
}


static void
check_dup(const char *text, const char *key, size_t offset)
{
    parsed_t  *r;

    r = parse(text);

    assert_int_equal(r->rc, AIGW_JSON_DUPLICATE);
    assert_string_equal(r->err.msg, "the body has a duplicate key");
    assert_int_equal(r->err.offset, offset);
    assert_non_null(r->err.key);
    assert_int_equal(r->err.key_len, strlen(key));
    assert_memory_equal(r->err.key, key, r->err.key_len);
    assert_ptr_equal(r->err.key, r->buf + offset + 1);
    assert_int_equal(r->n, 0);

    parsed_free(r);
}


static void
test_duplicates(void **state)
{
    parsed_t  *r;
    size_t     i;

    const char  *distinct[] = {
        "{\"model\":1,\"models\":2}",
        "{\"model\":1,\"Model\":2}",
        "{\"model\":1,\"mode\":2}",
        "{\"model\":1,\"mod\\u0065L\":2}",
        "{\"a\\n\":1,\"a\\r\":2}",
        "{\"\":1,\"a\":2}",
        "{\"a\\\\\":1,\"a\\\"\":2}",
    };

    (void) state;

    check_dup("{\"model\":1,\"model\":2}", "model", 11);
    check_dup("{\"model\":1, \"x\":true, \"model\":\"b\"}", "model", 22);
    check_dup("{\"model\":1,\"mod\\u0065l\":2}", "mod\\u0065l", 11);
    check_dup("{\"mod\\u0065l\":1,\"model\":2}", "model", 16);
    check_dup("{\"m\\u006fdel\":1,\"mod\\u0065l\":2}", "mod\\u0065l", 16);
    check_dup("{\"a\\/b\":1,\"a/b\":2}", "a/b", 10);
    check_dup("{\"caf\\u00e9\":1,\"caf\xc3\xa9\":2}", "caf\xc3\xa9", 15);
    check_dup("{\"\\ud83d\\ude00\":1,\"\xf0\x9f\x98\x80\":2}",
              "\xf0\x9f\x98\x80", 18);
    check_dup("{\"\":1,\"\":2}", "", 6);

    for (i = 0; i < sizeof(distinct) / sizeof(distinct[0]); i++) {
        r = parse(distinct[i]);
        assert_int_equal(r->rc, AIGW_JSON_OK);
        assert_int_equal(r->n, 2);
        parsed_free(r);
    }
}


static void
test_find(void **state)
{
    parsed_t            *r;
    aigw_json_member_t  *m;

    (void) state;

    r = parse("{\"mod\\u0065l\":\"gpt\",\"stream\":true,\"a\\\"b\":1,"
              "\"\\u0073tre\\u0061m_options\":{}}");
    assert_int_equal(r->rc, AIGW_JSON_OK);
    assert_int_equal(r->n, 4);

    m = aigw_json_find(r->m, r->n, "model", 5);
    assert_ptr_equal(m, &r->m[0]);
    assert_int_equal(m->key_escaped, 1);

    m = aigw_json_find(r->m, r->n, "stream", 6);
    assert_ptr_equal(m, &r->m[1]);

    m = aigw_json_find(r->m, r->n, "a\"b", 3);
    assert_ptr_equal(m, &r->m[2]);

    m = aigw_json_find(r->m, r->n, "stream_options", 14);
    assert_ptr_equal(m, &r->m[3]);

    assert_null(aigw_json_find(r->m, r->n, "mod", 3));
    assert_null(aigw_json_find(r->m, r->n, "models", 6));
    assert_null(aigw_json_find(r->m, r->n, "mod\\u0065l", 10));
    assert_null(aigw_json_find(r->m, r->n, "strea", 5));
    assert_null(aigw_json_find(r->m, 0, "model", 5));

    parsed_free(r);
}


#define STREQ(raw, esc, s)                                                    \
    aigw_json_str_eq((const u_char *) raw, sizeof(raw) - 1, esc,              \
                     (const u_char *) s, sizeof(s) - 1)


static void
test_str_eq(void **state)
{
    u_char  raw[300], plain[300];

    (void) state;

    assert_true(STREQ("model", 0, "model"));
    assert_true(STREQ("", 0, ""));
    assert_false(STREQ("model", 0, "mode"));
    assert_false(STREQ("mode", 0, "model"));
    assert_false(STREQ("model", 0, "Model"));

    assert_true(STREQ("mod\\u0065l", 1, "model"));
    assert_true(STREQ("\\u006D\\u006F\\u0064\\u0065\\u006C", 1, "model"));
    assert_true(STREQ("a\\nb", 1, "a\nb"));
    assert_true(STREQ("\\\"\\\\\\/", 1, "\"\\/"));
    assert_true(STREQ("\\ud83d\\ude00", 1, "\xf0\x9f\x98\x80"));
    assert_false(STREQ("mod\\u0065l", 1, "mod\\u0065l"));
    assert_false(STREQ("mod\\u0065l", 1, "modelx"));
    assert_false(STREQ("mod\\u0065l", 1, "mode"));
    assert_false(STREQ("a\\nb", 1, "a\\nb"));

    /* a bad escape never matches */

    assert_false(STREQ("mod\\x", 1, "mod\\x"));
    assert_false(STREQ("mod\\", 1, "mod"));

    /* escaped names of any length are decoded as they are compared */

    memset(raw, 'a', sizeof(raw));
    raw[0] = '\\';
    raw[1] = 'n';
    plain[0] = '\n';
    memset(plain + 1, 'a', sizeof(plain) - 1);

    assert_true(aigw_json_str_eq(raw, 256, 1, plain, 255));
    assert_true(aigw_json_str_eq(raw, 300, 1, plain, 299));
    assert_false(aigw_json_str_eq(raw, 300, 1, plain, 298));
    assert_false(aigw_json_str_eq(raw, 299, 1, plain, 299));
}


/* found by fuzz_json: long duplicate keys spelled with escapes */

static void
test_long_escaped_duplicate(void **state)
{
    size_t              n, i, len;
    u_char              body[1200];
    aigw_json_error_t   err;
    aigw_json_member_t  m[8];

    (void) state;

    /* {"\u0061aaa...":1,"aaaa...":2}, each key 400 characters */

    len = 0;
    body[len++] = '{';
    body[len++] = '"';
    memcpy(body + len, "\\u0061", 6);
    len += 6;

    for (i = 0; i < 399; i++) {
        body[len++] = 'a';
    }

    memcpy(body + len, "\":1,\"", 5);
    len += 5;

    for (i = 0; i < 400; i++) {
        body[len++] = 'a';
    }

    memcpy(body + len, "\":2}", 4);
    len += 4;

    assert_int_equal(aigw_json_parse_object(body, len, m, 8, &n, 64, &err),
                     AIGW_JSON_DUPLICATE);

    /* and one character apart: not a duplicate */

    body[len - 5] = 'b';

    assert_int_equal(aigw_json_parse_object(body, len, m, 8, &n, 64, &err),
                     AIGW_JSON_OK);
}


static void
check_unescape(const char *raw, size_t raw_len, const char *expect,
    size_t expect_len)
{
    u_char   *in, *out;
    ssize_t   n;

    in = dup_exact(raw, raw_len);
    out = malloc(raw_len ? raw_len : 1);
    assert_non_null(out);

    n = aigw_json_unescape(in, raw_len, out);

    assert_int_equal(n, expect_len);
    assert_memory_equal(out, expect, expect_len);

    free(in);
    free(out);
}


#define UNESC(raw, expect)                                                    \
    check_unescape(raw, sizeof(raw) - 1, expect, sizeof(expect) - 1)


static void
check_unescape_bad(const char *raw)
{
    u_char   *in, *out;
    size_t    len;

    len = strlen(raw);
    in = dup_exact(raw, len);
    out = malloc(len);
    assert_non_null(out);

    assert_int_equal(aigw_json_unescape(in, len, out), -1);

    free(in);
    free(out);
}


static void
test_unescape(void **state)
{
    (void) state;

    UNESC("", "");
    UNESC("plain text", "plain text");
    UNESC("\\\"\\\\\\/\\b\\f\\n\\r\\t", "\"\\/\b\f\n\r\t");

    /* 1-byte */
    UNESC("\\u0041\\u007f", "A\x7f");
    UNESC("a\\u0000b", "a\0b");

    /* 2-byte */
    UNESC("\\u0080", "\xc2\x80");
    UNESC("\\u00e9", "\xc3\xa9");
    UNESC("\\u07FF", "\xdf\xbf");

    /* 3-byte */
    UNESC("\\u0800", "\xe0\xa0\x80");
    UNESC("\\u20AC", "\xe2\x82\xac");
    UNESC("\\uFFFF", "\xef\xbf\xbf");
    UNESC("\\ud7ff", "\xed\x9f\xbf");
    UNESC("\\ue000", "\xee\x80\x80");

    /* 4-byte: surrogate pairs */
    UNESC("\\ud83d\\ude00", "\xf0\x9f\x98\x80");
    UNESC("\\uD800\\uDC00", "\xf0\x90\x80\x80");
    UNESC("\\uDBFF\\uDFFF", "\xf4\x8f\xbf\xbf");
    UNESC("x\\ud83d\\ude00y", "x\xf0\x9f\x98\x80y");

    /* lone surrogates become U+FFFD */
    UNESC("\\ud83d", "\xef\xbf\xbd");
    UNESC("\\ude00", "\xef\xbf\xbd");
    UNESC("\\ud83dx", "\xef\xbf\xbdx");
    UNESC("\\ud83d\\n", "\xef\xbf\xbd\n");
    UNESC("\\ud83d\\u0041", "\xef\xbf\xbd" "A");
    UNESC("\\ud83d\\ud83d", "\xef\xbf\xbd\xef\xbf\xbd");
    UNESC("\\ud83d\\ud83d\\ude00", "\xef\xbf\xbd\xf0\x9f\x98\x80");
    UNESC("\\ude00\\ud83d", "\xef\xbf\xbd\xef\xbf\xbd");
    UNESC("\\ud83d\\ue000", "\xef\xbf\xbd\xee\x80\x80");
    UNESC("\\udbff\\udbff", "\xef\xbf\xbd\xef\xbf\xbd");

    /* raw bytes pass through */
    UNESC("\xc3\xa9\xff", "\xc3\xa9\xff");

    check_unescape_bad("\\");
    check_unescape_bad("abc\\");
    check_unescape_bad("\\x");
    check_unescape_bad("\\U0041");
    check_unescape_bad("\\u");
    check_unescape_bad("\\u123");
    check_unescape_bad("\\u12g4");
    check_unescape_bad("ok\\u00e9\\q");
    check_unescape_bad("\\ud83d\\ude0");
}


static void
test_escape(void **state)
{
    u_char       buf[64], *end, all[256], esc[256 * 6], back[256 * 6];
    u_char      *q;
    size_t       i, len;
    ssize_t      n;
    const char   in[] = "a\"b\\c\n\r\t\b\f\x01\x1f\x7f/\xc3\xa9";
    const char   out[] = "a\\\"b\\\\c\\n\\r\\t\\u0008\\u000c\\u0001\\u001f"
                         "\x7f/\xc3\xa9";

    (void) state;

    len = aigw_json_escape_len((const u_char *) in, sizeof(in) - 1);
    assert_int_equal(len, sizeof(out) - 1);

    memset(buf, 0xaa, sizeof(buf));
    end = aigw_json_escape(buf, (const u_char *) in, sizeof(in) - 1);
    assert_int_equal(end - buf, len);
    assert_memory_equal(buf, out, len);
    assert_int_equal(buf[len], 0xaa);

    assert_int_equal(aigw_json_escape_len((const u_char *) "", 0), 0);
    end = aigw_json_escape(buf, (const u_char *) "", 0);
    assert_ptr_equal(end, buf);

    assert_int_equal(aigw_json_escape_len((const u_char *) "\0", 1), 6);
    end = aigw_json_escape(buf, (const u_char *) "\0", 1);
    assert_memory_equal(buf, "\\u0000", 6);

    /* every byte: escape, validate as a JSON string, unescape back */

    for (i = 0; i < 256; i++) {
        all[i] = (u_char) i;
    }

    esc[0] = '"';
    len = aigw_json_escape_len(all, 256);
    q = aigw_json_escape(esc + 1, all, 256);
    assert_int_equal(q - (esc + 1), len);
    *q++ = '"';

    assert_int_equal(aigw_json_validate(esc, q - esc, 64), AIGW_JSON_STRING);

    n = aigw_json_unescape(esc + 1, len, back);
    assert_int_equal(n, 256);
    assert_memory_equal(back, all, 256);
}


static void
check_int(const char *s, int64_t expect)
{
    int64_t  v;

    v = 12345;
    assert_int_equal(aigw_json_int((const u_char *) s, strlen(s), &v), 0);
    assert_true(v == expect);
}


static void
check_int_bad(const char *s, size_t len)
{
    int64_t  v;

    v = 12345;
    assert_int_equal(aigw_json_int((const u_char *) s, len, &v), -1);
    assert_true(v == 12345);
}


#define INT_BAD(s)  check_int_bad(s, sizeof(s) - 1)


static void
test_int(void **state)
{
    (void) state;

    check_int("0", 0);
    check_int("-0", 0);
    check_int("1", 1);
    check_int("-1", -1);
    check_int("42", 42);
    check_int("1000000", 1000000);
    check_int("2147483648", INT64_C(2147483648));
    check_int("9223372036854775806", INT64_MAX - 1);
    check_int("9223372036854775807", INT64_MAX);
    check_int("-9223372036854775807", -INT64_MAX);
    check_int("-9223372036854775808", INT64_MIN);

    /* overflow by one, and more */

    INT_BAD("9223372036854775808");
    INT_BAD("9223372036854775810");
    INT_BAD("9999999999999999999");
    INT_BAD("18446744073709551615");
    INT_BAD("18446744073709551616");
    INT_BAD("92233720368547758070");
    INT_BAD("100000000000000000000000000000");
    INT_BAD("-9223372036854775809");
    INT_BAD("-18446744073709551616");

    /* not strict integers */

    INT_BAD("");
    INT_BAD("-");
    INT_BAD("1.0");
    INT_BAD("1.");
    INT_BAD("1e3");
    INT_BAD("1E3");
    INT_BAD("01");
    INT_BAD("00");
    INT_BAD("-01");
    INT_BAD("+1");
    INT_BAD(" 1");
    INT_BAD("1 ");
    INT_BAD("--1");
    INT_BAD("1-");
    INT_BAD("0x10");
    INT_BAD("\"1\"");
    INT_BAD("true");
    INT_BAD("null");
    check_int_bad("12", 0);
    check_int_bad("1\0", 2);
}


static void
check_double(const char *s, double expect)
{
    double  d;

    d = 12345.0;
    assert_int_equal(aigw_json_double((const u_char *) s, strlen(s), &d), 0);
    assert_true(d == expect);
}


static void
check_double_bad(const char *s)
{
    double  d;

    d = 12345.0;
    assert_int_equal(aigw_json_double((const u_char *) s, strlen(s), &d), -1);
    assert_true(d == 12345.0);
}


static void
test_double(void **state)
{
    char    buf[80];
    double  d;

    (void) state;

    check_double("0", 0.0);
    check_double("-0", 0.0);
    check_double("1", 1.0);
    check_double("1.5", 1.5);
    check_double("-2.25", -2.25);
    check_double("1e3", 1000.0);
    check_double("1E+3", 1000.0);
    check_double("25e-2", 0.25);
    check_double("9223372036854775808", 9223372036854775808.0);
    check_double("1e308", 1e308);

    check_double_bad("");
    check_double_bad("1e400");
    check_double_bad("-1e400");
    check_double_bad("abc");
    check_double_bad("1x");
    check_double_bad("\"1\"");
    check_double_bad("true");
    check_double_bad("null");
    check_double_bad("[1]");

    /* the number must be taken by its length, not up to a NUL */

    d = 0;
    assert_int_equal(aigw_json_double((const u_char *) "123", 2, &d), 0);
    assert_true(d == 12.0);

    /* up to 63 characters */

    memset(buf, '0', sizeof(buf));
    buf[0] = '1';
    buf[1] = '.';
    buf[63] = '\0';
    check_double(buf, 1.0);

    buf[63] = '0';
    buf[64] = '\0';
    check_double_bad(buf);
}


static void
test_array_empty(void **state)
{
    size_t       i;
    const char  *empty[] = { "[]", "[ ]", "[\n\t\r ]" };
    const char  *not_empty[] = { "[1]", "[ 1]", "[{}]", "[[]]", "[\"\"]",
                                 "{}", "[", "[ ", "", "]", "x[]" };

    (void) state;

    for (i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
        assert_true(aigw_json_array_empty((const u_char *) empty[i],
                                          strlen(empty[i])));
    }

    for (i = 0; i < sizeof(not_empty) / sizeof(not_empty[0]); i++) {
        assert_false(aigw_json_array_empty((const u_char *) not_empty[i],
                                           strlen(not_empty[i])));
    }

    /* the length bounds the scan */

    assert_false(aigw_json_array_empty((const u_char *) "[ ]", 2));
}


static aigw_json_type_e
validate(const char *s, unsigned depth)
{
    u_char            *p;
    size_t             len;
    aigw_json_type_e   t;

    len = strlen(s);
    p = dup_exact(s, len);
    t = aigw_json_validate(p, len, depth);
    free(p);

    return t;
}


static void
test_validate(void **state)
{
    char  *s;

    (void) state;

    assert_int_equal(validate("{}", 64), AIGW_JSON_OBJECT);
    assert_int_equal(validate(" {\"a\":[1,2]} ", 64), AIGW_JSON_OBJECT);
    assert_int_equal(validate("[1,\"x\",null]", 64), AIGW_JSON_ARRAY);
    assert_int_equal(validate("\"x\\n\"", 64), AIGW_JSON_STRING);
    assert_int_equal(validate("-0.5e-3", 64), AIGW_JSON_NUMBER);
    assert_int_equal(validate("true", 64), AIGW_JSON_TRUE);
    assert_int_equal(validate("false", 64), AIGW_JSON_FALSE);
    assert_int_equal(validate("\tnull\n", 64), AIGW_JSON_NULL);

    assert_int_equal(validate("", 64), AIGW_JSON_NONE);
    assert_int_equal(validate("  ", 64), AIGW_JSON_NONE);
    assert_int_equal(validate("1 2", 64), AIGW_JSON_NONE);
    assert_int_equal(validate("{}}", 64), AIGW_JSON_NONE);
    assert_int_equal(validate("[1,]", 64), AIGW_JSON_NONE);
    assert_int_equal(validate("01", 64), AIGW_JSON_NONE);
    assert_int_equal(validate("1.", 64), AIGW_JSON_NONE);
    assert_int_equal(validate("-", 64), AIGW_JSON_NONE);
    assert_int_equal(validate("1e", 64), AIGW_JSON_NONE);
    assert_int_equal(validate("tru", 64), AIGW_JSON_NONE);
    assert_int_equal(validate("nul", 64), AIGW_JSON_NONE);
    assert_int_equal(validate("\"\\x\"", 64), AIGW_JSON_NONE);
    assert_int_equal(validate("\"a", 64), AIGW_JSON_NONE);

    /* validate starts at depth 0: 64 nested arrays are the limit */

    s = nest("", "[", "", "]", 64, "");
    assert_int_equal(validate(s, 64), AIGW_JSON_ARRAY);
    free(s);

    s = nest("", "[", "", "]", 65, "");
    assert_int_equal(validate(s, 64), AIGW_JSON_NONE);
    free(s);

    assert_int_equal(validate("1", 0), AIGW_JSON_NUMBER);
    assert_int_equal(validate("[]", 0), AIGW_JSON_NONE);

    /* no duplicate check in nested objects or in validate */

    assert_int_equal(validate("{\"a\":1,\"a\":2}", 64), AIGW_JSON_OBJECT);
}


/* aigw_json_string_run() against a byte loop */

static const u_char *
run_ref(const u_char *p, const u_char *end)
{
    while (p < end && *p != '"' && *p != '\\' && *p >= 0x20) {
        p++;
    }

    return p;
}


static void
check_run(const u_char *fill, size_t nfill, const u_char *stop, size_t nstop)
{
    u_char        *buf;
    size_t         len, at, f, k, i;
    const u_char  *r;

    for (len = 0; len <= 48; len++) {
        for (f = 0; f < nfill; f++) {

            /* exactly len bytes: valgrind and ASan see any over-read */

            buf = malloc(len ? len : 1);
            assert_non_null(buf);

            memset(buf, fill[f], len);

            r = aigw_json_string_run(buf, buf + len);
            assert_ptr_equal(r, buf + len);

            for (at = 0; at <= 40 && at < len; at++) {
                for (k = 0; k < nstop; k++) {
                    buf[at] = stop[k];

                    r = aigw_json_string_run(buf, buf + len);
                    assert_ptr_equal(r, run_ref(buf, buf + len));
                    assert_ptr_equal(r, buf + at);

                    /* from every start: runs begin anywhere */

                    for (i = 0; i <= len; i++) {
                        assert_ptr_equal(aigw_json_string_run(buf + i,
                                                              buf + len),
                                         run_ref(buf + i, buf + len));
                    }

                    /* a second stop after the first does not matter */

                    if (at + 1 < len) {
                        buf[len - 1] = stop[(k + 1) % nstop];
                        r = aigw_json_string_run(buf, buf + len);
                        assert_ptr_equal(r, buf + at);
                        buf[len - 1] = fill[f];
                    }

                    buf[at] = fill[f];
                }
            }

            free(buf);
        }
    }
}


static void
test_string_run(void **state)
{
    u_char   buf[64];
    size_t   i, j;

    static const u_char  fill[] = { 'a', 0x20, 0x7f, 0x80, 0xff, 0x5b,
                                    0x21, 0x23, 0x3c };
    static const u_char  stop[] = { '"', '\\', 0x00, 0x1f, 0x01, '\n' };

    (void) state;

    check_run(fill, sizeof(fill), stop, sizeof(stop));

    /* every byte value, at every offset of a 48-byte buffer */

    for (i = 0; i < 256; i++) {
        for (j = 0; j < 48; j++) {
            memset(buf, 'x', 48);
            buf[j] = (u_char) i;

            assert_ptr_equal(aigw_json_string_run(buf, buf + 48),
                             run_ref(buf, buf + 48));
            assert_ptr_equal(aigw_json_string_run(buf + j, buf + 48),
                             run_ref(buf + j, buf + 48));
        }
    }

    /* a mixed text, from every start to every end */

    for (i = 0; i < 64; i++) {
        buf[i] = (u_char) "ab\"c\x80\xff\\ d\x1f" "efghijklmnopqrstu\x7fvw"
                          "xyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ!"[i];
    }

    for (i = 0; i <= 64; i++) {
        for (j = i; j <= 64; j++) {
            assert_ptr_equal(aigw_json_string_run(buf + i, buf + j),
                             run_ref(buf + i, buf + j));
        }
    }
}


/*
 * Many keys, so that the filter that skips most duplicate comparisons
 * fills up: every key repeated, plain or escaped, is still found, and
 * keys alike in length and first byte are not taken for duplicates.
 */

static void
test_many_duplicates(void **state)
{
    char      *text, *p, key[32];
    size_t     i, j, nkeys, off;
    parsed_t  *r;

    (void) state;

    text = malloc(8192);
    assert_non_null(text);

    for (nkeys = 1; nkeys <= 60; nkeys++) {
        for (j = 0; j <= nkeys; j++) {

            /* keys "k00".."kNN": one length, one first byte */

            p = text;
            *p++ = '{';

            for (i = 0; i < nkeys; i++) {
                p += sprintf(p, "%s\"k%02zu\":%zu", i ? "," : "", i, i);
            }

            off = p - text + 1;

            if (j < nkeys) {

                /* repeat key j; the odd ones spelled with an escape */

                if (j % 2) {
                    sprintf(key, "\\u006b%02zu", j);

                } else {
                    sprintf(key, "k%02zu", j);
                }

                p += sprintf(p, ",\"%s\":true", key);
            }

            *p++ = '}';

            r = parse_n(text, p - text, MAX_MEMBERS, 64);

            if (j == nkeys) {
                assert_int_equal(r->rc, AIGW_JSON_OK);
                assert_int_equal(r->n, nkeys);

            } else {
                assert_int_equal(r->rc, AIGW_JSON_DUPLICATE);
                assert_int_equal(r->err.offset, off);
                assert_int_equal(r->err.key_len, strlen(key));
                assert_memory_equal(r->err.key, key, r->err.key_len);
            }

            parsed_free(r);
        }
    }

    /* an escaped key first, then plain ones: all compared decoded */

    check_dup("{\"\\u0062\":1,\"a\":2,\"c\":3,\"b\":4}", "b", 24);
    check_dup("{\"a\":1,\"b\\u0063\":2,\"d\":3,\"bc\":4}", "bc", 25);
    check_dup("{\"a\\/\":1,\"b\":2,\"c\":3,\"a/\":4}", "a/", 21);

    /* same length and first byte, or the same hash, but different */

    r = parse("{\"ab\":1,\"ac\":2,\"a\":3,\"b\":4,\"\":5,\"abc\":6,\"abd\":7,"
              "\"h\":8,\"o\":9,\"v\":10,\"\\u0061\\u0064\":11}");
    assert_int_equal(r->rc, AIGW_JSON_OK);
    assert_int_equal(r->n, 11);
    parsed_free(r);

    free(text);
}


/* \u takes four hex digits, either case; the error is at the 'u' */

static void
test_unicode_digits(void **state)
{
    char         text[32];
    size_t       i, k;
    parsed_t    *r;
    const char  *good = "09afAF";
    const char  *bad = "gG/:@`\" \\x";

    (void) state;

    for (i = 0; i < 4; i++) {
        for (k = 0; good[k]; k++) {
            strcpy(text, "{\"a\":\"\\u0000\"}");
            text[8 + i] = good[k];

            r = parse(text);
            assert_int_equal(r->rc, AIGW_JSON_OK);
            assert_int_equal(r->m[0].value_escaped, 1);
            parsed_free(r);
        }

        for (k = 0; bad[k]; k++) {
            strcpy(text, "{\"a\":\"\\u0000xx\"}");
            text[8 + i] = bad[k];

            r = parse(text);
            assert_int_equal(r->rc, AIGW_JSON_SYNTAX);
            assert_int_equal(r->err.offset, 7);
            assert_string_equal(r->err.msg, "invalid \\u escape");
            parsed_free(r);
        }
    }

    UNESC("\\u00AF\\u00af\\uABCD", "\xc2\xaf\xc2\xaf\xea\xaf\x8d");
}


/* escape, escape_len and unescape against byte loops, in exact buffers */

static size_t
escape_ref(u_char *dst, const u_char *s, size_t len)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        switch (s[i]) {
        case '"':  memcpy(dst + n, "\\\"", 2); n += 2; break;
        case '\\': memcpy(dst + n, "\\\\", 2); n += 2; break;
        case '\n': memcpy(dst + n, "\\n", 2); n += 2; break;
        case '\r': memcpy(dst + n, "\\r", 2); n += 2; break;
        case '\t': memcpy(dst + n, "\\t", 2); n += 2; break;
        default:
            if (s[i] < 0x20) {
                n += sprintf((char *) dst + n, "\\u%04x", s[i]);

            } else {
                dst[n++] = s[i];
            }
        }
    }

    return n;
}


static void
test_escape_lengths(void **state)
{
    u_char        *in, *out, ref[300], back[300];
    size_t         len, at, k, n;
    ssize_t        un;
    static const u_char  special[] = { '"', '\\', '\n', '\r', '\t', 0x00,
                                       0x1f, 0x7f, 0x80, 0xff, '/' };

    (void) state;

    for (len = 0; len <= 40; len++) {
        for (at = 0; at <= len; at++) {
            for (k = 0; k < sizeof(special); k++) {
                in = malloc(len ? len : 1);
                assert_non_null(in);
                memset(in, 'm', len);

                if (at < len) {
                    in[at] = special[k];
                    in[len - 1 - (at % (len ? len : 1))] = special[
                        (k + 3) % sizeof(special)];
                }

                n = escape_ref(ref, in, len);
                assert_int_equal(aigw_json_escape_len(in, len), n);

                out = malloc(n ? n : 1);
                assert_non_null(out);
                assert_ptr_equal(aigw_json_escape(out, in, len), out + n);
                assert_memory_equal(out, ref, n);

                un = aigw_json_unescape(out, n, back);
                assert_int_equal(un, len);
                assert_memory_equal(back, in, len);

                free(out);
                free(in);

                if (at == len) {
                    break;
                }
            }
        }
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_all_types),
        cmocka_unit_test(test_empty_object),
        cmocka_unit_test(test_whitespace),
        cmocka_unit_test(test_nested),
        cmocka_unit_test(test_string_escapes),
        cmocka_unit_test(test_not_object),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_error_messages),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_too_many),
        cmocka_unit_test(test_duplicates),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_str_eq),
        cmocka_unit_test(test_long_escaped_duplicate),
        cmocka_unit_test(test_unescape),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_double),
        cmocka_unit_test(test_array_empty),
        cmocka_unit_test(test_validate),
        cmocka_unit_test(test_string_run),
        cmocka_unit_test(test_many_duplicates),
        cmocka_unit_test(test_unicode_digits),
        cmocka_unit_test(test_escape_lengths),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
