/*
 * Unit tests for src/aigw_prices.c (cmocka).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "aigw_prices.h"


static const char  example[] =
    "{\"models\": {\n"
    "   \"gpt-4o\":        {\"input\": 2.50, \"cached_input\": 1.25,"
    " \"output\": 10.00},\n"
    "   \"gpt-4o-mini*\":  {\"input\": 0.15, \"cached_input\": 0.075,"
    " \"output\": 0.60},\n"
    "   \"claude-*\":      {\"input\": 3.00, \"cached_input\": 0.30,"
    " \"cache_write\": 3.75, \"output\": 15.00},\n"
    "   \"*\":             {\"input\": 1.00, \"output\": 2.00}\n"
    "}}\n";


static aigw_prices_t *
parse_ok(const char *json)
{
    int             rc;
    char            err[256];
    aigw_prices_t  *p;

    p = NULL;
    rc = aigw_prices_parse((const u_char *) json, strlen(json), &p, err,
                           sizeof(err));
    if (rc != 0) {
        print_error("unexpected error: %s\n", err);
    }

    assert_int_equal(rc, 0);
    assert_non_null(p);

    return p;
}


static void
parse_fails(const char *json, const char *expect)
{
    int             rc;
    char            err[256];
    aigw_prices_t  *p;

    p = NULL;
    rc = aigw_prices_parse((const u_char *) json, strlen(json), &p, err,
                           sizeof(err));

    assert_int_equal(rc, -1);
    assert_null(p);

    if (strstr(err, expect) == NULL) {
        print_error("error \"%s\" does not contain \"%s\"\n", err, expect);
        fail();
    }
}


static const aigw_price_t *
find(const aigw_prices_t *p, const char *model)
{
    return aigw_prices_find(p, (const u_char *) model, strlen(model));
}


static void
test_example(void **state)
{
    aigw_prices_t       *p;
    const aigw_price_t  *pr;

    (void) state;

    p = parse_ok(example);

    assert_int_equal(p->nexact, 1);
    assert_int_equal(p->nprefixes, 2);
    assert_true(p->has_any);

    pr = find(p, "gpt-4o");
    assert_non_null(pr);
    assert_int_equal(pr->input, 2500000);
    assert_int_equal(pr->cached_input, 1250000);
    assert_int_equal(pr->cache_write, 2500000);
    assert_int_equal(pr->output, 10000000);

    pr = find(p, "gpt-4o-mini-2024-07-18");
    assert_non_null(pr);
    assert_int_equal(pr->input, 150000);
    assert_int_equal(pr->cached_input, 75000);
    assert_int_equal(pr->cache_write, 150000);
    assert_int_equal(pr->output, 600000);

    pr = find(p, "claude-sonnet-4");
    assert_non_null(pr);
    assert_int_equal(pr->input, 3000000);
    assert_int_equal(pr->cached_input, 300000);
    assert_int_equal(pr->cache_write, 3750000);
    assert_int_equal(pr->output, 15000000);

    /* the catch-all: both cache prices default to "input" */

    pr = find(p, "llama-3");
    assert_non_null(pr);
    assert_int_equal(pr->input, 1000000);
    assert_int_equal(pr->cached_input, 1000000);
    assert_int_equal(pr->cache_write, 1000000);
    assert_int_equal(pr->output, 2000000);

    aigw_prices_free(p);
}


static void
test_find_precedence(void **state)
{
    aigw_prices_t  *p;

    (void) state;

    p = parse_ok("{\"models\": {"
                 "\"gpt-*\": {\"input\": 1, \"output\": 1},"
                 "\"gpt-4o*\": {\"input\": 3, \"output\": 3},"
                 "\"*\": {\"input\": 9, \"output\": 9},"
                 "\"gpt-4*\": {\"input\": 2, \"output\": 2},"
                 "\"gpt-4o\": {\"input\": 4, \"output\": 4},"
                 "\"a\": {\"input\": 5, \"output\": 5},"
                 "\"gpt-4o-mini\": {\"input\": 6, \"output\": 6},"
                 "\"b\": {\"input\": 7, \"output\": 7}"
                 "}}");

    assert_int_equal(p->nexact, 4);
    assert_int_equal(p->nprefixes, 3);

    /* exact beats the prefix that also matches */
    assert_int_equal(find(p, "gpt-4o")->input, 4000000);
    assert_int_equal(find(p, "gpt-4o-mini")->input, 6000000);
    assert_int_equal(find(p, "a")->input, 5000000);
    assert_int_equal(find(p, "b")->input, 7000000);

    /* the longest prefix wins, whatever the file order */
    assert_int_equal(find(p, "gpt-4o-mini-2024")->input, 3000000);
    assert_int_equal(find(p, "gpt-4o-2024")->input, 3000000);
    assert_int_equal(find(p, "gpt-4.1")->input, 2000000);
    assert_int_equal(find(p, "gpt-4")->input, 2000000);
    assert_int_equal(find(p, "gpt-3.5")->input, 1000000);
    assert_int_equal(find(p, "gpt-")->input, 1000000);

    /* else "*" */
    assert_int_equal(find(p, "gpt")->input, 9000000);
    assert_int_equal(find(p, "")->input, 9000000);
    assert_int_equal(find(p, "c")->input, 9000000);
    assert_int_equal(find(p, "aa")->input, 9000000);

    /* the length counts, not a NUL */
    assert_int_equal(aigw_prices_find(p, (const u_char *) "gpt-4o-mini", 6)
                     ->input, 4000000);

    aigw_prices_free(p);

    /* no "*": NULL */

    p = parse_ok("{\"models\": {\"gpt-4o\": {\"input\": 1, \"output\": 1},"
                 "\"o1*\": {\"input\": 2, \"output\": 2}}}");

    assert_non_null(find(p, "gpt-4o"));
    assert_non_null(find(p, "o1-mini"));
    assert_null(find(p, "gpt-4o-mini"));
    assert_null(find(p, "gpt-4"));
    assert_null(find(p, "o"));

    aigw_prices_free(p);

    /* only "*" */

    p = parse_ok("{\"models\": {\"*\": {\"input\": 0, \"output\": 0}}}");

    assert_int_equal(p->nexact, 0);
    assert_int_equal(p->nprefixes, 0);
    assert_non_null(find(p, "anything"));
    assert_int_equal(find(p, "anything")->output, 0);

    aigw_prices_free(p);
}


static void
test_rounding(void **state)
{
    aigw_prices_t       *p;
    const aigw_price_t  *pr;

    (void) state;

    p = parse_ok("{\"models\": {"
                 "\"a\": {\"input\": 0.0000004, \"cached_input\": 0.0000006,"
                 " \"cache_write\": 1000000, \"output\": 0},"
                 "\"b\": {\"input\": 1e-6, \"cached_input\": 0.123456789,"
                 " \"output\": 1.5e2},"
                 "\"c\": {\"input\": 1000000.0, \"output\": 999999.999999}"
                 "}}");

    pr = find(p, "a");
    assert_int_equal(pr->input, 0);
    assert_int_equal(pr->cached_input, 1);
    assert_int_equal(pr->cache_write, 1000000000000LL);
    assert_int_equal(pr->output, 0);

    pr = find(p, "b");
    assert_int_equal(pr->input, 1);
    assert_int_equal(pr->cached_input, 123457);
    assert_int_equal(pr->cache_write, 1);
    assert_int_equal(pr->output, 150000000);

    pr = find(p, "c");
    assert_int_equal(pr->input, 1000000000000LL);
    assert_int_equal(pr->output, 999999999999LL);

    aigw_prices_free(p);
}


static void
test_syntax_errors(void **state)
{
    (void) state;

    parse_fails("", "line 1, column 0: ");
    parse_fails("{\"models\": {\n  \"a\": {\"input\": 1,}\n}}",
                "line 2, column ");
    parse_fails("{\"models\": {\"a\": {\"input\": 1, \"input\": 2,"
                " \"output\": 1}}}", "duplicate object key");
    parse_fails("{\"models\": {\"a\": {\"input\": 1, \"output\": 1},"
                " \"a\": {\"input\": 1, \"output\": 1}}}",
                "duplicate object key");
    parse_fails("{\"models\": {}} x", "line 1, column ");
}


static void
test_structure_errors(void **state)
{
    (void) state;

    parse_fails("[]", "top level must be a JSON object");
    parse_fails("{}", "missing \"models\"");
    parse_fails("{\"modles\": {}}", "modles: unknown field");
    parse_fails("{\"models\": {\"*\": {\"input\": 1, \"output\": 1}},"
                " \"x\\\"y\": 1}", "x?y: unknown field");
    parse_fails("{\"models\": []}", "models: must be a non-empty object");
    parse_fails("{\"models\": {}}", "models: must be a non-empty object");
    parse_fails("{\"models\": {\"gpt-4o\": 1}}",
                "models[\"gpt-4o\"]: must be an object");
    parse_fails("{\"models\": {\"gpt-4o\": null}}",
                "models[\"gpt-4o\"]: must be an object");
}


static void
test_field_errors(void **state)
{
    (void) state;

    parse_fails("{\"models\": {\"gpt-4o\": {\"input\": 1, \"ouput\": 2}}}",
                "models[\"gpt-4o\"].ouput: unknown field");
    parse_fails("{\"models\": {\"gpt-4o\": {\"output\": 2}}}",
                "models[\"gpt-4o\"]: missing \"input\"");
    parse_fails("{\"models\": {\"gpt-4o\": {\"input\": 2}}}",
                "models[\"gpt-4o\"]: missing \"output\"");
    parse_fails("{\"models\": {\"m\": {\"input\": -1, \"output\": 2}}}",
                "models[\"m\"].input: must be a number from 0 to 1000000 "
                "(USD per million tokens)");
    parse_fails("{\"models\": {\"m\": {\"input\": 1, \"output\": -0.01}}}",
                "models[\"m\"].output: must be a number from 0 to 1000000");
    parse_fails("{\"models\": {\"m\": {\"input\": \"1\", \"output\": 2}}}",
                "models[\"m\"].input: must be a number");
    parse_fails("{\"models\": {\"m\": {\"input\": 1, \"output\": true}}}",
                "models[\"m\"].output: must be a number");
    parse_fails("{\"models\": {\"m\": {\"input\": 1000000.5,"
                " \"output\": 1}}}", "models[\"m\"].input: must be a number");
    parse_fails("{\"models\": {\"m\": {\"input\": 1, \"output\": 1e7}}}",
                "models[\"m\"].output: must be a number");
    parse_fails("{\"models\": {\"m\": {\"input\": 1, \"output\": 1,"
                " \"cached_input\": null}}}",
                "models[\"m\"].cached_input: must be a number");
    parse_fails("{\"models\": {\"m\": {\"input\": 1, \"output\": 1,"
                " \"cache_write\": -3}}}",
                "models[\"m\"].cache_write: must be a number");

    /* the first bad entry is reported, with its own name */

    parse_fails("{\"models\": {\"ok\": {\"input\": 1, \"output\": 1},"
                " \"bad\": {\"input\": 1, \"output\": 1, \"x\": 0}}}",
                "models[\"bad\"].x: unknown field");
}


static void
test_name_errors(void **state)
{
    char  buf[600];

    (void) state;

    parse_fails("{\"models\": {\"gpt-*-mini\": {\"input\": 1,"
                " \"output\": 1}}}",
                "models[\"gpt-*-mini\"]: \"*\" is only allowed as the last "
                "character");
    parse_fails("{\"models\": {\"**\": {\"input\": 1, \"output\": 1}}}",
                "models[\"**\"]: \"*\" is only allowed");
    parse_fails("{\"models\": {\"\": {\"input\": 1, \"output\": 1}}}",
                "models[\"\"]: model name must be 1..256 characters");
    parse_fails("{\"models\": {\"a\\tb\": {\"input\": 1, \"output\": 1}}}",
                "models[\"a?b\"]: model name contains a control character");

    snprintf(buf, sizeof(buf), "{\"models\": {\"%0257d\": {\"input\": 1,"
             " \"output\": 1}}}", 7);
    parse_fails(buf, "model name must be 1..256 characters");

    /* 256 characters are fine; long names are truncated in messages */

    snprintf(buf, sizeof(buf), "{\"models\": {\"%0256d\": {\"input\": 1,"
             " \"output\": 1}}}", 7);
    aigw_prices_free(parse_ok(buf));

    snprintf(buf, sizeof(buf), "{\"models\": {\"%0256d\": {\"input\": 1,"
             " \"oops\": 1}}}", 7);
    parse_fails(buf, "000...\"].oops: unknown field");
}


static void
test_small_error_buffer(void **state)
{
    int             rc;
    char            err[8];
    aigw_prices_t  *p;
    const char     *json = "{\"models\": {}}";

    (void) state;

    p = NULL;
    memset(err, 'x', sizeof(err));

    rc = aigw_prices_parse((const u_char *) json, strlen(json), &p, err,
                           sizeof(err));
    assert_int_equal(rc, -1);
    assert_string_equal(err, "models:");

    rc = aigw_prices_parse((const u_char *) json, strlen(json), &p, NULL, 0);
    assert_int_equal(rc, -1);
    assert_null(p);
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_example),
        cmocka_unit_test(test_find_precedence),
        cmocka_unit_test(test_rounding),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_structure_errors),
        cmocka_unit_test(test_field_errors),
        cmocka_unit_test(test_name_errors),
        cmocka_unit_test(test_small_error_buffer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
