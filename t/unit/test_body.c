/*
 * Unit tests for src/aigw_body.c (cmocka).
 *
 * The allocation callback records every block so that each test frees
 * them all at its end, and can be told to fail the k-th allocation.
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "aigw_body.h"


#define MAX_MEMBERS  64
#define MAX_BLOCKS   64


typedef struct {
    void                *blocks[MAX_BLOCKS];
    size_t               n;
    size_t               calls;
    size_t               fail_at;      /* 1-based call to fail, or 0 */
} pool_t;


typedef struct {
    pool_t               pool;
    u_char              *in;
    size_t               in_len;
    size_t               n;
    aigw_json_member_t   m[MAX_MEMBERS];
    aigw_body_result_t   res;
    int                  rc;
} run_t;


static void *
pool_alloc(void *data, size_t size)
{
    void    *p;
    pool_t  *pool;

    pool = data;
    pool->calls++;

    if (pool->calls == pool->fail_at) {
        return NULL;
    }

    assert_true(pool->n < MAX_BLOCKS);

    p = malloc(size);
    assert_non_null(p);

    /* poison, so that a byte left unwritten is visible */
    memset(p, '#', size);

    pool->blocks[pool->n++] = p;

    return p;
}


static void
pool_free(pool_t *pool)
{
    size_t  i;

    for (i = 0; i < pool->n; i++) {
        free(pool->blocks[i]);
    }

    pool->n = 0;
}


static void
run_free(run_t *r)
{
    pool_free(&r->pool);
    free(r->in);
    free(r);
}


static run_t *
run_fail(const char *body, const aigw_body_rewrite_t *rw, size_t fail_at)
{
    int                 rc;
    run_t              *r;
    aigw_json_error_t   err;

    r = calloc(1, sizeof(run_t));
    assert_non_null(r);

    r->in_len = strlen(body);
    r->in = malloc(r->in_len);
    assert_non_null(r->in);
    memcpy(r->in, body, r->in_len);

    rc = aigw_json_parse_object(r->in, r->in_len, r->m, MAX_MEMBERS, &r->n,
                                64, &err);
    assert_int_equal(rc, AIGW_JSON_OK);

    r->pool.fail_at = fail_at;

    /* garbage in the result must not matter */
    memset(&r->res, 0xff, sizeof(r->res));

    r->rc = aigw_body_build(r->in, r->in_len, r->m, r->n, rw, pool_alloc,
                            &r->pool, &r->res);

    return r;
}


static run_t *
run(const char *body, const aigw_body_rewrite_t *rw)
{
    return run_fail(body, rw, 0);
}


/* the output is one valid JSON object without duplicate keys */

static void
check_valid(const u_char *p, size_t len)
{
    int                 rc;
    size_t              n;
    aigw_json_error_t   err;
    aigw_json_member_t  m[MAX_MEMBERS];

    rc = aigw_json_parse_object(p, len, m, MAX_MEMBERS, &n, 64, &err);

    if (rc != AIGW_JSON_OK) {
        print_error("invalid output (%s at %zu): %.*s\n", err.msg,
                    err.offset, (int) len, p);
    }

    assert_int_equal(rc, AIGW_JSON_OK);
}


static run_t *
check(const char *body, const aigw_body_rewrite_t *rw, const char *expect)
{
    run_t  *r;

    r = run(body, rw);

    if (r->rc != 0) {
        print_error("rc %d error \"%s\" for %s\n", r->rc,
                    r->res.error ? r->res.error : "(null)", body);
    }

    assert_int_equal(r->rc, 0);
    assert_null(r->res.error);
    assert_null(r->res.param);
    assert_int_equal(r->res.param_len, 0);

    if (r->res.len != strlen(expect)
        || memcmp(r->res.body, expect, r->res.len) != 0)
    {
        print_error("got      %.*s\nexpected %s\n", (int) r->res.len,
                    r->res.body, expect);
    }

    assert_int_equal(r->res.len, strlen(expect));
    assert_memory_equal(r->res.body, expect, r->res.len);

    check_valid(r->res.body, r->res.len);

    return r;
}


static void
check_ok(const char *body, const aigw_body_rewrite_t *rw, const char *expect)
{
    run_free(check(body, rw, expect));
}


static void
check_stream(const char *body, const aigw_body_rewrite_t *rw,
    const char *expect, unsigned stream, unsigned client_usage)
{
    run_t  *r;

    r = check(body, rw, expect);
    assert_int_equal(r->res.stream, stream);
    assert_int_equal(r->res.client_usage, client_usage);
    run_free(r);
}


static void
check_fail(const char *body, const aigw_body_rewrite_t *rw, const char *error,
    const char *param)
{
    run_t  *r;

    r = run(body, rw);

    assert_int_equal(r->rc, -1);
    assert_non_null(r->res.error);

    if (error) {
        assert_string_equal(r->res.error, error);
    }

    assert_int_equal(r->res.param_len, strlen(param));
    assert_memory_equal(r->res.param, param, r->res.param_len);

    run_free(r);
}


#define RULE(op, f, v, cap)                                                   \
    { op, (u_char *) f, sizeof(f) - 1, (u_char *) v, sizeof(v) - 1, cap }

#define SET(f, v)       RULE(AIGW_RULE_SET, f, v, 0)
#define DEFAULT(f, v)   RULE(AIGW_RULE_DEFAULT, f, v, 0)
#define CAP(f, v, cap)  RULE(AIGW_RULE_CAP, f, v, cap)
#define REMOVE(f)       { AIGW_RULE_REMOVE, (u_char *) f, sizeof(f) - 1,     \
                          NULL, 0, 0 }

#define NRULES(a)       (sizeof(a) / sizeof(a[0]))


static const aigw_body_rewrite_t  none;


static void
test_passthrough(void **state)
{
    (void) state;

    check_ok("{}", &none, "{}");
    check_ok(" { } ", &none, "{}");
    check_ok("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
             "\"content\":\"hi\"}]}", &none,
             "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\","
             "\"content\":\"hi\"}]}");

    /* whitespace between members goes, inside values it stays */

    check_ok(" {\n \"a\" : [1, 2] ,\t\"b\":\"x y\" , \"c\" : { \"d\" : 1 }\n}",
             &none, "{\"a\":[1, 2],\"b\":\"x y\",\"c\":{ \"d\" : 1 }}");

    /* keys and values are copied raw, escapes included */

    check_ok("{\"a\\u0062\":\"\\n\\\"\\u00e9\",\"u\":\"\xc3\xa9\"}", &none,
             "{\"a\\u0062\":\"\\n\\\"\\u00e9\",\"u\":\"\xc3\xa9\"}");
}


static void
test_model(void **state)
{
    aigw_body_rewrite_t  rw;

    (void) state;

    memset(&rw, 0, sizeof(rw));
    rw.model = (u_char *) "gpt-4o-2024-08-06";
    rw.model_len = strlen((char *) rw.model);

    check_ok("{\"model\":\"gpt-4o\",\"x\":1}", &rw,
             "{\"model\":\"gpt-4o-2024-08-06\",\"x\":1}");
    check_ok("{\"x\":1,\"model\":\"gpt-4o\"}", &rw,
             "{\"x\":1,\"model\":\"gpt-4o-2024-08-06\"}");

    /* absent: appended */

    check_ok("{\"x\":1}", &rw, "{\"x\":1,\"model\":\"gpt-4o-2024-08-06\"}");
    check_ok("{}", &rw, "{\"model\":\"gpt-4o-2024-08-06\"}");

    /* any client value is replaced */

    check_ok("{\"model\":null}", &rw, "{\"model\":\"gpt-4o-2024-08-06\"}");
    check_ok("{\"model\":{\"a\":[1]}}", &rw,
             "{\"model\":\"gpt-4o-2024-08-06\"}");

    /* an escaped key is the same member: renamed in place */

    check_ok("{\"mod\\u0065l\":\"a\",\"y\":2}", &rw,
             "{\"mod\\u0065l\":\"gpt-4o-2024-08-06\",\"y\":2}");

    /* a name that needs escaping */

    rw.model = (u_char *) "a\"b\\c";
    rw.model_len = 5;
    check_ok("{\"model\":\"x\"}", &rw, "{\"model\":\"a\\\"b\\\\c\"}");

    rw.model = (u_char *) "tab\there\n\x01";
    rw.model_len = 10;
    check_ok("{\"model\":\"x\"}", &rw,
             "{\"model\":\"tab\\there\\n\\u0001\"}");

    /* a slash is not escaped */

    rw.model = (u_char *) "org/model-name";
    rw.model_len = 14;
    check_ok("{\"model\":\"x\"}", &rw, "{\"model\":\"org/model-name\"}");

    /* no model: the client's stays untouched */

    check_ok("{\"model\":\"org/model-name\"}", &none,
             "{\"model\":\"org/model-name\"}");
    check_ok("{\"model\":\"org\\/model-name\"}", &none,
             "{\"model\":\"org\\/model-name\"}");

    /* an empty name */

    rw.model = (u_char *) "";
    rw.model_len = 0;
    check_ok("{\"model\":\"x\"}", &rw, "{\"model\":\"\"}");
}


static void
test_rule_set(void **state)
{
    aigw_body_rewrite_t     rw;
    static aigw_body_rule_t  set_t[] = { SET("temperature", "0.2") };
    static aigw_body_rule_t  set_u[] = { SET("user", "\"gw\"") };
    static aigw_body_rule_t  set_o[] = {
        SET("metadata", "{\"team\":\"a\",\"n\":[1,2]}")
    };
    static aigw_body_rule_t  set2[] = {
        SET("user", "\"a\""), SET("user", "\"b\"")
    };
    static aigw_body_rule_t  set_q[] = { SET("a\"b", "1") };

    (void) state;

    memset(&rw, 0, sizeof(rw));

    rw.rules = set_t;
    rw.nrules = NRULES(set_t);
    check_ok("{\"temperature\":1.5,\"x\":1}", &rw,
             "{\"temperature\":0.2,\"x\":1}");
    check_ok("{\"x\":1,\"temperature\":\"hot\"}", &rw,
             "{\"x\":1,\"temperature\":0.2}");
    check_ok("{\"x\":1}", &rw, "{\"x\":1,\"temperature\":0.2}");
    check_ok("{\"temp\\u0065rature\":1}", &rw, "{\"temp\\u0065rature\":0.2}");

    rw.rules = set_u;
    rw.nrules = NRULES(set_u);
    check_ok("{}", &rw, "{\"user\":\"gw\"}");
    check_ok("{\"user\":\"me\"}", &rw, "{\"user\":\"gw\"}");

    rw.rules = set_o;
    rw.nrules = NRULES(set_o);
    check_ok("{\"a\":1}", &rw,
             "{\"a\":1,\"metadata\":{\"team\":\"a\",\"n\":[1,2]}}");

    /* two rules on one new field make one member */

    rw.rules = set2;
    rw.nrules = NRULES(set2);
    check_ok("{\"a\":1}", &rw, "{\"a\":1,\"user\":\"b\"}");

    /* a new field whose name needs escaping */

    rw.rules = set_q;
    rw.nrules = NRULES(set_q);
    check_ok("{}", &rw, "{\"a\\\"b\":1}");
    check_ok("{\"a\\\"b\":0}", &rw, "{\"a\\\"b\":1}");
}


static void
test_rule_default(void **state)
{
    aigw_body_rewrite_t     rw;
    static aigw_body_rule_t  def[] = { DEFAULT("max_tokens", "256") };

    (void) state;

    memset(&rw, 0, sizeof(rw));
    rw.rules = def;
    rw.nrules = NRULES(def);

    check_ok("{\"x\":1}", &rw, "{\"x\":1,\"max_tokens\":256}");
    check_ok("{}", &rw, "{\"max_tokens\":256}");
    check_ok("{\"max_tokens\":10,\"x\":1}", &rw, "{\"max_tokens\":10,\"x\":1}");
    check_ok("{\"max_tokens\":null,\"x\":1}", &rw,
             "{\"max_tokens\":256,\"x\":1}");
    check_ok("{\"max_tokens\":false}", &rw, "{\"max_tokens\":false}");
    check_ok("{\"max_tokens\":0}", &rw, "{\"max_tokens\":0}");
    check_ok("{\"max_tokens\":\"null\"}", &rw, "{\"max_tokens\":\"null\"}");
    check_ok("{\"max_tokens\":[]}", &rw, "{\"max_tokens\":[]}");
    check_ok("{\"max_tok\\u0065ns\":null}", &rw, "{\"max_tok\\u0065ns\":256}");
}


static void
test_rule_cap(void **state)
{
    aigw_body_rewrite_t     rw;
    static aigw_body_rule_t  cap[] = { CAP("max_tokens", "1000", 1000) };
    static aigw_body_rule_t  capf[] = { CAP("temperature", "1.5", 1.5) };

    (void) state;

    memset(&rw, 0, sizeof(rw));
    rw.rules = cap;
    rw.nrules = NRULES(cap);

    check_ok("{\"max_tokens\":5000}", &rw, "{\"max_tokens\":1000}");
    check_ok("{\"a\":1,\"max_tokens\":1001,\"b\":2}", &rw,
             "{\"a\":1,\"max_tokens\":1000,\"b\":2}");
    check_ok("{\"max_tokens\":1e4}", &rw, "{\"max_tokens\":1000}");
    check_ok("{\"max_tokens\":1000.5}", &rw, "{\"max_tokens\":1000}");
    check_ok("{\"max_tokens\":1e300}", &rw, "{\"max_tokens\":1000}");

    /* below or equal: the client's text is kept */

    check_ok("{\"max_tokens\":10}", &rw, "{\"max_tokens\":10}");
    check_ok("{\"max_tokens\":1000}", &rw, "{\"max_tokens\":1000}");
    check_ok("{\"max_tokens\":1000.0}", &rw, "{\"max_tokens\":1000.0}");
    check_ok("{\"max_tokens\":1e3}", &rw, "{\"max_tokens\":1e3}");
    check_ok("{\"max_tokens\":-5}", &rw, "{\"max_tokens\":-5}");
    check_ok("{\"max_tokens\":0}", &rw, "{\"max_tokens\":0}");

    /* absent or null: nothing to cap */

    check_ok("{\"x\":1}", &rw, "{\"x\":1}");
    check_ok("{\"max_tokens\":null}", &rw, "{\"max_tokens\":null}");

    /* an escaped key */

    check_ok("{\"max\\u005ftokens\":5000}", &rw,
             "{\"max\\u005ftokens\":1000}");

    /* not a number: a client error about the field */

    check_fail("{\"max_tokens\":\"5000\"}", &rw, "expected a number",
               "max_tokens");
    check_fail("{\"max_tokens\":true}", &rw, "expected a number",
               "max_tokens");
    check_fail("{\"max_tokens\":false}", &rw, "expected a number",
               "max_tokens");
    check_fail("{\"max_tokens\":[1]}", &rw, "expected a number",
               "max_tokens");
    check_fail("{\"max_tokens\":{\"n\":1}}", &rw, "expected a number",
               "max_tokens");

    rw.rules = capf;
    rw.nrules = NRULES(capf);

    check_ok("{\"temperature\":2}", &rw, "{\"temperature\":1.5}");
    check_ok("{\"temperature\":1.50001}", &rw, "{\"temperature\":1.5}");
    check_ok("{\"temperature\":1.5}", &rw, "{\"temperature\":1.5}");
    check_ok("{\"temperature\":0.7}", &rw, "{\"temperature\":0.7}");
}


static void
test_rule_remove(void **state)
{
    aigw_body_rewrite_t     rw;
    static aigw_body_rule_t  rm[] = { REMOVE("user") };
    static aigw_body_rule_t  rm2[] = { REMOVE("a"), REMOVE("c") };

    (void) state;

    memset(&rw, 0, sizeof(rw));
    rw.rules = rm;
    rw.nrules = NRULES(rm);

    check_ok("{\"a\":1,\"user\":\"x\",\"b\":2}", &rw, "{\"a\":1,\"b\":2}");
    check_ok("{\"user\":\"x\",\"b\":2}", &rw, "{\"b\":2}");
    check_ok("{\"a\":1,\"user\":\"x\"}", &rw, "{\"a\":1}");
    check_ok("{\"user\":{\"id\":[1,2]}}", &rw, "{}");
    check_ok("{\"us\\u0065r\":1,\"b\":2}", &rw, "{\"b\":2}");

    /* absent: nothing changes */

    check_ok("{\"a\":1}", &rw, "{\"a\":1}");
    check_ok("{}", &rw, "{}");
    check_ok("{\"users\":1}", &rw, "{\"users\":1}");

    rw.rules = rm2;
    rw.nrules = NRULES(rm2);
    check_ok("{\"a\":1,\"b\":2,\"c\":3}", &rw, "{\"b\":2}");
    check_ok("{\"a\":1,\"c\":3}", &rw, "{}");
}


static void
test_rule_sequences(void **state)
{
    aigw_body_rewrite_t     rw;
    static aigw_body_rule_t  rm_def[] = {
        REMOVE("temperature"), DEFAULT("temperature", "0.7")
    };
    static aigw_body_rule_t  def_rm[] = {
        DEFAULT("temperature", "0.7"), REMOVE("temperature")
    };
    static aigw_body_rule_t  set_cap[] = {
        SET("max_tokens", "5000"), CAP("max_tokens", "1000", 1000)
    };
    static aigw_body_rule_t  cap_set[] = {
        CAP("max_tokens", "1000", 1000), SET("max_tokens", "5000")
    };
    static aigw_body_rule_t  rm_cap[] = {
        REMOVE("max_tokens"), CAP("max_tokens", "1000", 1000)
    };
    static aigw_body_rule_t  rm_set[] = {
        REMOVE("user"), SET("user", "\"gw\"")
    };
    static aigw_body_rule_t  set_def[] = {
        SET("n", "1"), DEFAULT("n", "2")
    };
    static aigw_body_rule_t  set_str_cap[] = {
        SET("max_tokens", "\"many\""), CAP("max_tokens", "1000", 1000)
    };
    static aigw_body_rule_t  set_model[] = {
        SET("model", "\"from-rule\"")
    };
    static aigw_body_rule_t  rm_model[] = { REMOVE("model") };

    (void) state;

    memset(&rw, 0, sizeof(rw));

    /* remove then default: the default fills the hole, in place */

    rw.rules = rm_def;
    rw.nrules = NRULES(rm_def);
    check_ok("{\"temperature\":2,\"x\":1}", &rw,
             "{\"temperature\":0.7,\"x\":1}");
    check_ok("{\"x\":1}", &rw, "{\"x\":1,\"temperature\":0.7}");

    rw.rules = def_rm;
    rw.nrules = NRULES(def_rm);
    check_ok("{\"temperature\":2,\"x\":1}", &rw, "{\"x\":1}");
    check_ok("{\"x\":1}", &rw, "{\"x\":1}");

    /* set then cap: the cap sees the set value */

    rw.rules = set_cap;
    rw.nrules = NRULES(set_cap);
    check_ok("{\"max_tokens\":10}", &rw, "{\"max_tokens\":1000}");
    check_ok("{}", &rw, "{\"max_tokens\":1000}");

    rw.rules = cap_set;
    rw.nrules = NRULES(cap_set);
    check_ok("{\"max_tokens\":10}", &rw, "{\"max_tokens\":5000}");

    /* a removed field is not there to cap, whatever its type */

    rw.rules = rm_cap;
    rw.nrules = NRULES(rm_cap);
    check_ok("{\"max_tokens\":\"x\",\"a\":1}", &rw, "{\"a\":1}");

    rw.rules = rm_set;
    rw.nrules = NRULES(rm_set);
    check_ok("{\"user\":\"me\",\"a\":1}", &rw, "{\"user\":\"gw\",\"a\":1}");

    rw.rules = set_def;
    rw.nrules = NRULES(set_def);
    check_ok("{}", &rw, "{\"n\":1}");

    rw.rules = set_str_cap;
    rw.nrules = NRULES(set_str_cap);
    check_fail("{}", &rw, "expected a number", "max_tokens");

    /* the upstream model wins over a rule on "model" */

    rw.rules = set_model;
    rw.nrules = NRULES(set_model);
    check_ok("{\"model\":\"a\"}", &rw, "{\"model\":\"from-rule\"}");

    rw.model = (u_char *) "up";
    rw.model_len = 2;
    check_ok("{\"model\":\"a\"}", &rw, "{\"model\":\"up\"}");

    rw.rules = rm_model;
    rw.nrules = NRULES(rm_model);
    check_ok("{\"model\":\"a\",\"b\":1}", &rw, "{\"model\":\"up\",\"b\":1}");
}


static void
test_stream(void **state)
{
    aigw_body_rewrite_t     rw;
    static aigw_body_rule_t  set_s[] = { SET("stream", "true") };
    static aigw_body_rule_t  rm_s[] = { REMOVE("stream") };

    (void) state;

    memset(&rw, 0, sizeof(rw));

    check_stream("{\"stream\":true}", &rw, "{\"stream\":true}", 1, 1);
    check_stream("{\"stream\":false}", &rw, "{\"stream\":false}", 0, 0);
    check_stream("{\"stream\":null}", &rw, "{\"stream\":null}", 0, 0);
    check_stream("{\"x\":1}", &rw, "{\"x\":1}", 0, 0);
    check_stream("{\"str\\u0065am\":true}", &rw, "{\"str\\u0065am\":true}",
                 1, 1);

    check_fail("{\"stream\":\"yes\"}", &rw, "expected a boolean", "stream");
    check_fail("{\"stream\":1}", &rw, "expected a boolean", "stream");
    check_fail("{\"stream\":0}", &rw, "expected a boolean", "stream");
    check_fail("{\"stream\":\"true\"}", &rw, "expected a boolean", "stream");
    check_fail("{\"stream\":[]}", &rw, "expected a boolean", "stream");
    check_fail("{\"stream\":{}}", &rw, "expected a boolean", "stream");
    check_fail("{\"str\\u0065am\":1}", &rw, "expected a boolean", "stream");

    /* streaming without usage injection: no stream_options added */

    rw.include_usage = 0;
    check_stream("{\"stream\":true,\"stream_options\":{}}", &rw,
                 "{\"stream\":true,\"stream_options\":{}}", 1, 1);
    check_stream("{\"stream\":true,\"stream_options\":\"bad\"}", &rw,
                 "{\"stream\":true,\"stream_options\":\"bad\"}", 1, 1);

    /* not streaming: stream_options is not looked at */

    rw.include_usage = 1;
    check_stream("{\"stream\":false}", &rw, "{\"stream\":false}", 0, 0);
    check_stream("{\"stream\":false,\"stream_options\":\"bad\"}", &rw,
                 "{\"stream\":false,\"stream_options\":\"bad\"}", 0, 0);
    check_stream("{}", &rw, "{}", 0, 0);

    /* rules act before the stream check */

    rw.include_usage = 0;
    rw.rules = set_s;
    rw.nrules = NRULES(set_s);
    check_stream("{\"stream\":\"yes\"}", &rw, "{\"stream\":true}", 1, 1);
    check_stream("{}", &rw, "{\"stream\":true}", 1, 1);

    rw.rules = rm_s;
    rw.nrules = NRULES(rm_s);
    check_stream("{\"stream\":true,\"a\":1}", &rw, "{\"a\":1}", 0, 0);
    check_stream("{\"stream\":1,\"a\":1}", &rw, "{\"a\":1}", 0, 0);
}


static void
test_include_usage(void **state)
{
    aigw_body_rewrite_t  rw;

    (void) state;

    memset(&rw, 0, sizeof(rw));
    rw.include_usage = 1;

    /* absent: appended */

    check_stream("{\"stream\":true}", &rw,
                 "{\"stream\":true,\"stream_options\":"
                 "{\"include_usage\":true}}",
                 1, 0);
    check_stream("{\"str\\u0065am\":true,\"x\":1}", &rw,
                 "{\"str\\u0065am\":true,\"x\":1,"
                 "\"stream_options\":{\"include_usage\":true}}", 1, 0);

    /* null: replaced in place */

    check_stream("{\"stream_options\":null,\"stream\":true}", &rw,
                 "{\"stream_options\":{\"include_usage\":true},"
                 "\"stream\":true}", 1, 0);

    /* an object without include_usage */

    check_stream("{\"stream\":true,\"stream_options\":{}}", &rw,
                 "{\"stream\":true,\"stream_options\":"
                 "{\"include_usage\":true}}",
                 1, 0);
    check_stream("{\"stream\":true,\"stream_options\":{ \n }}", &rw,
                 "{\"stream\":true,\"stream_options\":"
                 "{\"include_usage\":true}}",
                 1, 0);
    check_stream("{\"stream\":true,\"stream_options\":{\"a\":[1,{\"b\":2}]}}",
                 &rw, "{\"stream\":true,\"stream_options\":"
                 "{\"a\":[1,{\"b\":2}],"
                 "\"include_usage\":true}}", 1, 0);

    /* include_usage not true: made true, other options kept */

    check_stream("{\"stream\":true,\"stream_options\":{\"include_usage\":false,"
                 "\"x\":1}}", &rw,
                 "{\"stream\":true,\"stream_options\":{\"x\":1,"
                 "\"include_usage\":true}}", 1, 0);
    check_stream("{\"stream\":true,\"stream_options\":{\"x\":1,"
                 "\"include_usage\":null,\"y\":\"z\"}}", &rw,
                 "{\"stream\":true,\"stream_options\":{\"x\":1,\"y\":\"z\","
                 "\"include_usage\":true}}", 1, 0);
    check_stream("{\"stream\":true,\"stream_options\":{\"include_usage\":"
                 "\"true\"}}", &rw,
                 "{\"stream\":true,\"stream_options\":"
                 "{\"include_usage\":true}}",
                 1, 0);
    check_stream("{\"stream\":true,\"stream_options\":{\"include\\u005fusage\":"
                 "false,\"e\\u0078\":1}}", &rw,
                 "{\"stream\":true,\"stream_options\":{\"e\\u0078\":1,"
                 "\"include_usage\":true}}", 1, 0);

    /* the client asked for usage: unchanged */

    check_stream("{\"stream\":true,\"stream_options\":"
                 "{\"include_usage\":true}}",
                 &rw,
                 "{\"stream\":true,\"stream_options\":"
                 "{\"include_usage\":true}}",
                 1, 1);
    check_stream("{\"stream_options\" : { \"include_usage\" : true } ,"
                 "\"stream\":true}", &rw,
                 "{\"stream_options\":{ \"include_usage\" : true },"
                 "\"stream\":true}", 1, 1);
    check_stream("{\"stream\":true,\"stream_options\":{\"x\":1,"
                 "\"include\\u005fusage\":true}}", &rw,
                 "{\"stream\":true,\"stream_options\":{\"x\":1,"
                 "\"include\\u005fusage\":true}}", 1, 1);
    check_stream("{\"stream\":true,\"stre\\u0061m_options\":{}}", &rw,
                 "{\"stream\":true,\"stre\\u0061m_options\":"
                 "{\"include_usage\":true}}", 1, 0);

    /* not an object */

    check_fail("{\"stream\":true,\"stream_options\":\"yes\"}", &rw,
               "expected an object", "stream_options");
    check_fail("{\"stream\":true,\"stream_options\":1}", &rw,
               "expected an object", "stream_options");
    check_fail("{\"stream\":true,\"stream_options\":true}", &rw,
               "expected an object", "stream_options");
    check_fail("{\"stream\":true,\"stream_options\":[]}", &rw,
               "expected an object", "stream_options");
    check_fail("{\"stream\":true,\"stream_options\":[{\"include_usage\":"
               "true}]}", &rw, "expected an object", "stream_options");

    /* duplicate options are refused too */

    check_fail("{\"stream\":true,\"stream_options\":{\"a\":1,\"a\":2}}", &rw,
               NULL, "stream_options");

    /* the include_usage flag off: the client decides */

    rw.include_usage = 0;
    check_stream("{\"stream\":true,\"stream_options\":{}}", &rw,
                 "{\"stream\":true,\"stream_options\":{}}", 1, 1);
    check_stream("{\"stream\":true}", &rw, "{\"stream\":true}", 1, 1);
    check_stream("{\"stream\":true,\"stream_options\":{\"include_usage\":"
                 "false}}", &rw, "{\"stream\":true,\"stream_options\":"
                 "{\"include_usage\":false}}", 1, 1);
}


static void
test_too_many_options(void **state)
{
    char                 body[1024], expect[1024], *p, *e;
    size_t               i;
    aigw_body_rewrite_t  rw;

    (void) state;

    memset(&rw, 0, sizeof(rw));
    rw.include_usage = 1;

    /* 32 options fit */

    p = body + sprintf(body, "{\"stream\":true,\"stream_options\":{");
    e = expect + sprintf(expect, "{\"stream\":true,\"stream_options\":{");

    for (i = 0; i < 32; i++) {
        p += sprintf(p, "%s\"o%zu\":%zu", i ? "," : "", i, i);
        e += sprintf(e, "\"o%zu\":%zu,", i, i);
    }

    strcpy(p, "}}");
    strcpy(e, "\"include_usage\":true}}");

    check_stream(body, &rw, expect, 1, 0);

    /* 33 do not */

    strcpy(p, ",\"o32\":32}}");
    check_fail(body, &rw, "too many options", "stream_options");
}


static void
test_realistic(void **state)
{
    aigw_body_rewrite_t     rw;
    static aigw_body_rule_t  rules[] = {
        REMOVE("user"),
        DEFAULT("max_tokens", "1024"),
        CAP("max_tokens", "4096", 4096),
        CAP("temperature", "1", 1),
        SET("metadata", "{\"gw\":\"aigw\"}"),
    };

    (void) state;

    memset(&rw, 0, sizeof(rw));
    rw.model = (u_char *) "meta-llama/Llama-3.1-8B-Instruct";
    rw.model_len = strlen((char *) rw.model);
    rw.rules = rules;
    rw.nrules = NRULES(rules);
    rw.include_usage = 1;

    check_stream("{\n"
                 "  \"model\": \"llama\",\n"
                 "  \"messages\": [\n"
                 "    {\"role\": \"system\", \"content\": \"Be {brief}.\"},\n"
                 "    {\"role\": \"user\", \"content\": \"Say \\\"hi\\\"\"}\n"
                 "  ],\n"
                 "  \"temperature\": 1.7,\n"
                 "  \"user\": \"u-42\",\n"
                 "  \"stream\": true,\n"
                 "  \"stream_options\": {\"include_usage\": false}\n"
                 "}\n", &rw,
                 "{\"model\":\"meta-llama/Llama-3.1-8B-Instruct\","
                 "\"messages\":[\n"
                 "    {\"role\": \"system\", \"content\": \"Be {brief}.\"},\n"
                 "    {\"role\": \"user\", \"content\": \"Say \\\"hi\\\"\"}\n"
                 "  ],"
                 "\"temperature\":1,"
                 "\"stream\":true,"
                 "\"stream_options\":{\"include_usage\":true},"
                 "\"max_tokens\":1024,"
                 "\"metadata\":{\"gw\":\"aigw\"}}", 1, 0);

    check_stream("{\"messages\":[],\"max_tokens\":100000,\"temperature\":0.2,"
                 "\"stream\":false}", &rw,
                 "{\"messages\":[],\"max_tokens\":4096,\"temperature\":0.2,"
                 "\"stream\":false,\"metadata\":{\"gw\":\"aigw\"},"
                 "\"model\":\"meta-llama/Llama-3.1-8B-Instruct\"}", 0, 0);
}


static void
test_alloc_failure(void **state)
{
    run_t                  *r;
    size_t                  k, calls;
    aigw_body_rewrite_t     rw;
    static aigw_body_rule_t  rules[] = { SET("a", "1") };
    const char             *body;

    (void) state;

    memset(&rw, 0, sizeof(rw));
    rw.model = (u_char *) "m";
    rw.model_len = 1;
    rw.rules = rules;
    rw.nrules = NRULES(rules);
    rw.include_usage = 1;

    body = "{\"stream\":true,\"stream_options\":{\"x\":1}}";

    r = run(body, &rw);
    assert_int_equal(r->rc, 0);
    calls = r->pool.calls;
    run_free(r);

    /* slots, model, stream_options, output */
    assert_int_equal(calls, 4);

    for (k = 1; k <= calls; k++) {
        r = run_fail(body, &rw, k);
        assert_int_equal(r->rc, -2);
        run_free(r);
    }
}


/* many bodies and rewrites: the output is always valid JSON */

static void
test_always_valid(void **state)
{
    run_t                  *r;
    size_t                  i, j;
    aigw_body_rewrite_t     rw;
    static aigw_body_rule_t  rules[] = {
        SET("s", "\"v\""), DEFAULT("d", "[1]"), CAP("c", "5", 5),
        REMOVE("r"), SET("a\\b\"c\n", "{}"), REMOVE("stream_options"),
        DEFAULT("stream_options", "null"),
    };
    const char             *bodies[] = {
        "{}",
        "{\"stream\":true}",
        "{\"stream\":true,\"stream_options\":null}",
        "{\"stream\":true,\"stream_options\":{\"include_usage\":false}}",
        "{\"r\":1}",
        "{\"r\":1,\"s\":2,\"c\":9,\"d\":null}",
        "{\"c\":1,\"r\":{},\"model\":\"x\",\"stream\":false}",
        "{\"mod\\u0065l\":1,\"\\u0072\":2,\"\\u0063\":6}",
        " { \"a\\\\b\\\"c\\n\" : 1 , \"stream\" : true } ",
    };

    (void) state;

    for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        for (j = 0; j < 32; j++) {
            memset(&rw, 0, sizeof(rw));

            if (j & 1) {
                rw.model = (u_char *) "o/\"m\\";
                rw.model_len = 5;
            }

            rw.include_usage = (j & 2) ? 1 : 0;
            rw.rules = rules + ((j >> 2) & 3);
            rw.nrules = NRULES(rules) - ((j >> 2) & 3);

            if (j & 16) {
                rw.nrules = 0;
            }

            r = run(bodies[i], &rw);
            assert_int_equal(r->rc, 0);
            check_valid(r->res.body, r->res.len);
            run_free(r);
        }
    }
}


/*
 * Members kept as the client wrote them: five members, each written
 * compact or with blanks around its colon and comma, each kept, removed,
 * or given a new value; the output is every kept member as "key":value.
 */

static void
test_spans(void **state)
{
    char                    body[256], expect[256], *b, *e;
    size_t                  i, k, nr;
    unsigned                blanks, ops;
    aigw_body_rewrite_t     rw;
    aigw_body_rule_t        rules[5];

    static const char      *keys[] = { "a", "bb", "c\\u0063", "model", "e" };
    static const char      *vals[] = { "1", "\"x, y\"", "[1, {\"k\":2}]",
                                       "\"m\"", "{}" };

    (void) state;

    for (blanks = 0; blanks < 32; blanks++) {
        for (ops = 0; ops < 243; ops++) {
            b = body;
            e = expect;
            nr = 0;
            k = ops;

            b += sprintf(b, "{");
            e += sprintf(e, "{");

            for (i = 0; i < 5; i++) {
                if (blanks & (1u << i)) {
                    b += sprintf(b, "%s \"%s\" : %s ", i ? "," : "",
                                 keys[i], vals[i]);

                } else {
                    b += sprintf(b, "%s\"%s\":%s", i ? "," : "", keys[i],
                                 vals[i]);
                }

                switch (k % 3) {

                case 0:
                    e += sprintf(e, "%s\"%s\":%s", e[-1] == '{' ? "" : ",",
                                 keys[i], vals[i]);
                    break;

                case 1:
                    rules[nr].op = AIGW_RULE_REMOVE;
                    rules[nr].value = NULL;
                    rules[nr].value_len = 0;
                    break;

                default:
                    rules[nr].op = AIGW_RULE_SET;
                    rules[nr].value = (u_char *) "true";
                    rules[nr].value_len = 4;
                    e += sprintf(e, "%s\"%s\":true", e[-1] == '{' ? "" : ",",
                                 keys[i]);
                    break;
                }

                if (k % 3) {
                    /* the plain name of the escaped key */
                    rules[nr].field = (u_char *) (i == 2 ? "cc" : keys[i]);
                    rules[nr].field_len = strlen((char *) rules[nr].field);
                    rules[nr].cap = 0;
                    nr++;
                }

                k /= 3;
            }

            sprintf(b, "}");
            sprintf(e, "}");

            memset(&rw, 0, sizeof(rw));
            rw.rules = rules;
            rw.nrules = nr;

            check_ok(body, &rw, expect);
        }
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_passthrough),
        cmocka_unit_test(test_model),
        cmocka_unit_test(test_rule_set),
        cmocka_unit_test(test_rule_default),
        cmocka_unit_test(test_rule_cap),
        cmocka_unit_test(test_rule_remove),
        cmocka_unit_test(test_rule_sequences),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_include_usage),
        cmocka_unit_test(test_too_many_options),
        cmocka_unit_test(test_realistic),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_always_valid),
        cmocka_unit_test(test_spans),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
