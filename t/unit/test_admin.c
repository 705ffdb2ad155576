/*
 * Unit tests for src/aigw_admin.c (cmocka).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "aigw_admin.h"
#include "aigw_sha256.h"


#define HEX  "171bbdb84d372cb727299d61cf4bae5d1c42fb98410c08a09dfab957e11a48e9"
#define NOW  1700000000

/* a literal as (data, length) */
#define S(s)  (const u_char *) s, strlen(s)


static char *
create_key(const char *body, char *err)
{
    char  *doc = NULL;
    int    rc;

    rc = aigw_admin_key_doc((const u_char *) body, strlen(body), NULL, HEX,
                            "sk-aigw-1234...abcd", NOW, &doc, err, 512);
    return rc == 0 ? doc : NULL;
}


static void
expect_key_error(const char *body, const char *part)
{
    char   err[512];
    char  *doc;

    err[0] = '\0';
    doc = create_key(body, err);

    if (doc != NULL || strstr(err, part) == NULL) {
        print_error("body %s: doc %s, err \"%s\", wanted \"%s\"\n", body,
                    doc ? doc : "NULL", err, part);
    }

    assert_null(doc);
    assert_non_null(strstr(err, part));
}


static void
test_key_create(void **state)
{
    char    err[512];
    char   *doc;
    json_t *j;

    (void) state;

    doc = create_key("{\"name\":\"k1\",\"tenant\":\"acme\","
                     "\"models\":[\"gpt-4o\",\"claude-*\"],"
                     "\"expires\":\"2030-01-01T00:00:00Z\","
                     "\"limits\":{\"rpm\":10,\"models\":{\"gpt-4o\":"
                     "{\"tpm\":100}}},\"budget\":{\"usd\":2.5,"
                     "\"period\":\"daily\"}}", err);
    assert_non_null(doc);

    j = json_loads(doc, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "sha256")),
                        HEX);
    assert_string_equal(json_string_value(json_object_get(j, "hint")),
                        "sk-aigw-1234...abcd");
    assert_int_equal(json_integer_value(json_object_get(j, "created")), NOW);
    /* RFC 3339 kept as Unix time */
    assert_int_equal(json_integer_value(json_object_get(j, "expires")),
                     1893456000);
    json_decref(j);
    free(doc);
}


static void
test_key_bad_inputs(void **state)
{
    (void) state;

    expect_key_error("", "empty");
    expect_key_error("{\"name\":", "not valid JSON");
    expect_key_error("[1,2]", "must be a JSON object");
    expect_key_error("{\"name\":\"a\",\"name\":\"b\"}", "not valid JSON");
    expect_key_error("{\"tenant\":\"x\"}", "Missing \"name\"");
    expect_key_error("{\"name\":\"bad name\"}", "\"name\" must be");
    expect_key_error("{\"name\":\"k\",\"key\":\"sk-123456789\"}",
                     "cannot be set");
    expect_key_error("{\"name\":\"k\",\"sha256\":\"" HEX "\"}",
                     "cannot be set");
    expect_key_error("{\"name\":\"k\",\"color\":\"red\"}",
                     "Unknown field \"color\"");
    expect_key_error("{\"name\":\"k\",\"budget\":{\"usd\":-1}}",
                     "budget.usd: must be a number from 0 to 1e12");
    expect_key_error("{\"name\":\"k\",\"limits\":{\"rpm\":\"10\"}}",
                     "limits");
    expect_key_error("{\"name\":\"k\",\"limits\":{\"rpm\":-5}}", "limits");
    expect_key_error("{\"name\":\"k\",\"enabled\":\"yes\"}",
                     "\"enabled\" must be true or false");
    expect_key_error("{\"name\":\"k\",\"models\":\"gpt-4o\"}", "models");
    expect_key_error("{\"name\":\"k\",\"ips\":[\"10.0.0.0/33\"]}",
                     "prefix length");
    expect_key_error("{\"name\":\"k\",\"expires\":\"tomorrow\"}",
                     "expires");
    expect_key_error("{\"name\":\"k\",\"tenant\":5}",
                     "\"tenant\" must be a string");
    expect_key_error("{\"name\":12}", "\"name\" must be");
}


static void
test_key_patch(void **state)
{
    char    err[512];
    char   *doc, *doc2;
    json_t *j;
    int     rc;

    (void) state;

    doc = create_key("{\"name\":\"k1\",\"tenant\":\"acme\","
                     "\"budget\":{\"usd\":1}}", err);
    assert_non_null(doc);

    /* null removes, other fields replace, the name may be repeated */

    rc = aigw_admin_key_doc(S("{\"tenant\":null,"
                            "\"enabled\":false,\"name\":\"k1\"}"), doc,
                            NULL, NULL, NOW + 5, &doc2, err, sizeof(err));
    assert_int_equal(rc, 0);

    j = json_loads(doc2, 0, NULL);
    assert_null(json_object_get(j, "tenant"));
    assert_true(json_is_false(json_object_get(j, "enabled")));
    assert_int_equal(json_integer_value(json_object_get(j, "created")), NOW);
    assert_int_equal(json_integer_value(json_object_get(j, "updated")),
                     NOW + 5);
    assert_string_equal(json_string_value(json_object_get(j, "sha256")),
                        HEX);
    json_decref(j);
    free(doc2);

    rc = aigw_admin_key_doc(S("{\"name\":\"k2\"}"), doc,
                            NULL, NULL, NOW, &doc2, err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "cannot be changed"));

    rc = aigw_admin_key_doc(S("{\"budget\":{\"usd\":\"x\"}}"), doc, NULL,
                            NULL, NOW, &doc2, err, sizeof(err));
    assert_int_equal(rc, -1);

    free(doc);
}


static void
test_topup(void **state)
{
    char    err[512];
    char   *doc, *doc2;
    json_t *j;
    int     rc;

    (void) state;

    doc = create_key("{\"name\":\"k1\",\"budget\":{\"usd\":1.25}}", err);
    assert_non_null(doc);

    rc = aigw_admin_topup(S("{\"usd\":2.5}"), doc, NOW,
                          &doc2, err, sizeof(err));
    assert_int_equal(rc, 0);

    j = json_loads(doc2, 0, NULL);
    assert_true(json_number_value(json_object_get(json_object_get(j,
                                  "budget"), "usd")) == 3.75);
    json_decref(j);
    free(doc2);

    rc = aigw_admin_topup(S("{\"usd\":-1}"), doc, NOW,
                          &doc2, err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "greater than 0"));

    rc = aigw_admin_topup(S("{\"usd\":\"5\"}"), doc, NOW,
                          &doc2, err, sizeof(err));
    assert_int_equal(rc, -1);

    rc = aigw_admin_topup(S("{\"usd\":1,\"x\":1}"), doc,
                          NOW, &doc2, err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "Unknown field"));

    free(doc);

    doc = create_key("{\"name\":\"k1\"}", err);
    rc = aigw_admin_topup(S("{\"usd\":1}"), doc, NOW,
                          &doc2, err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "no budget"));
    free(doc);
}


static void
test_tenant_doc(void **state)
{
    char   err[512];
    char  *doc, *doc2;
    int    rc;

    (void) state;

    rc = aigw_admin_tenant_doc(S("{\"name\":\"acme\","
                               "\"limits\":{\"rpm\":5}}"), NULL, NOW,
                               &doc, err, sizeof(err));
    assert_int_equal(rc, 0);

    rc = aigw_admin_tenant_doc(S("{\"models\":[]}"), doc,
                               NOW, &doc2, err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "Unknown field \"models\""));

    rc = aigw_admin_tenant_doc(S("{\"limits\":{\"models\":"
                               "{}}}"), doc, NOW, &doc2, err,
                               sizeof(err));
    assert_int_equal(rc, -1);

    rc = aigw_admin_tenant_doc(S("{\"budget\":{\"usd\":-3}}"), doc, NOW,
                               &doc2, err, sizeof(err));
    assert_int_equal(rc, -1);
    assert_non_null(strstr(err, "budget.usd"));

    free(doc);
}


static void
test_build(void **state)
{
    char            err[512];
    char           *doc, *tdoc;
    int             rc;
    u_char          hash[32];
    aigw_keyset_t  *ks;

    (void) state;

    doc = create_key("{\"name\":\"k1\",\"tenant\":\"acme\",\"enabled\":false,"
                     "\"limits\":{\"rpm\":7}}", err);
    assert_non_null(doc);

    rc = aigw_admin_tenant_doc(S("{\"name\":\"acme\","
                               "\"budget\":{\"usd\":3}}"), NULL, NOW,
                               &tdoc, err, sizeof(err));
    assert_int_equal(rc, 0);

    rc = aigw_admin_build(doc, strlen(doc), tdoc, strlen(tdoc), &ks, err,
                          sizeof(err));
    assert_int_equal(rc, 0);
    assert_int_equal(ks->nkeys, 1);
    assert_string_equal(ks->keys[0].name, "k1");
    assert_int_equal(ks->keys[0].enabled, 0);
    assert_int_equal(ks->keys[0].limits.rpm, 7);
    assert_non_null(ks->keys[0].tenant);
    assert_int_equal(ks->keys[0].tenant->budget.micro_usd, 3000000);

    aigw_hex_decode(hash, (const u_char *) HEX, 32);
    assert_memory_equal(ks->keys[0].hash, hash, 32);

    aigw_keys_free(ks);

    /* the tenant is gone: the key cannot be built */
    rc = aigw_admin_build(doc, strlen(doc), NULL, 0, &ks, err, sizeof(err));
    assert_int_equal(rc, -1);

    free(doc);
    free(tdoc);
}


static void
test_file_entries(void **state)
{
    static const char  file[] =
        "{\"tenants\":[{\"name\":\"t\",\"limits\":{\"rpm\":3},"
        "\"budget\":{\"usd\":1.5,\"period\":\"monthly\"}}],"
        "\"keys\":[{\"name\":\"k\",\"key\":\"sk-secret-1\",\"tenant\":\"t\","
        "\"models\":[\"a\",\"b-*\"],\"ips\":[\"10.1.0.0/16\",\"::1\"],"
        "\"limits\":{\"tpm\":9,\"models\":{\"a\":{\"rpm\":1}}},"
        "\"expires\":1900000000}]}";

    char            err[512];
    char           *kd, *td;
    aigw_keyset_t  *ks;

    (void) state;

    assert_int_equal(aigw_keys_parse((const u_char *) file, strlen(file),
                                     &ks, err, sizeof(err)), 0);

    kd = aigw_admin_file_key(&ks->keys[0]);
    td = aigw_admin_file_tenant(&ks->tenants[0]);

    assert_non_null(kd);
    assert_non_null(td);
    assert_null(strstr(kd, "sk-secret"));
    assert_non_null(strstr(kd, "\"models\":[\"a\",\"b-*\"]"));
    assert_non_null(strstr(kd, "\"ips\":[\"10.1.0.0/16\",\"::1/128\"]"));
    assert_non_null(strstr(kd, "\"models\":{\"a\":{\"rpm\":1}}"));
    assert_non_null(strstr(td, "\"period\":\"monthly\""));
    assert_non_null(strstr(td, "\"usd\":1.5"));

    free(kd);
    free(td);
    aigw_keys_free(ks);
}


static void
test_days_fields_secret(void **state)
{
    char                day[11];
    int64_t             d;
    u_char              buf[128], *p;
    u_char              rnd[AIGW_ADMIN_SECRET_RANDOM];
    char                secret[AIGW_ADMIN_SECRET_LEN + 1];
    char                hint[AIGW_ADMIN_HINT_LEN + 1];
    aigw_admin_field_t  f;

    (void) state;

    assert_int_equal(aigw_admin_day_parse(S("1970-01-01"),
                                          &d), 0);
    assert_int_equal(d, 0);
    assert_int_equal(aigw_admin_day_parse(S("2024-02-29"),
                                          &d), 0);
    aigw_admin_day_format(d, day);
    assert_string_equal(day, "2024-02-29");
    assert_int_equal(d, 19782);

    assert_int_equal(aigw_admin_day_parse(S("2023-02-29"),
                                          &d), -1);
    assert_int_equal(aigw_admin_day_parse(S("2023-13-01"),
                                          &d), -1);
    assert_int_equal(aigw_admin_day_parse(S("2023-1-01"),
                                          &d), -1);
    assert_int_equal(aigw_admin_day_parse(S("2023/01/01"),
                                          &d), -1);

    for (d = 0; d < 40000; d += 37) {
        int64_t  back;

        aigw_admin_day_format(d, day);
        assert_int_equal(aigw_admin_day_parse((u_char *) day, 10, &back), 0);
        assert_int_equal(back, d);
    }

    p = aigw_admin_field_write(buf, 'u', 'k', S("k1"),
                               (const u_char *) "org/m|x", 7);
    assert_int_equal(p - buf, (long) aigw_admin_field_len(2, 7));
    assert_int_equal(aigw_admin_field_parse((char *) buf, p - buf, &f), 0);
    assert_int_equal(f.metric, 'u');
    assert_int_equal(f.kind, 'k');
    assert_int_equal(f.name_len, 2);
    assert_int_equal(f.model_len, 7);
    assert_memory_equal(f.model, "org/m|x", 7);

    assert_int_equal(aigw_admin_field_parse("x|k|a|b", 7, &f), -1);
    assert_int_equal(aigw_admin_field_parse("r|z|a|b", 7, &f), -1);
    assert_int_equal(aigw_admin_field_parse("r|k||b", 6, &f), -1);
    assert_int_equal(aigw_admin_field_parse("r|k|ab", 6, &f), -1);

    memset(rnd, 0xab, sizeof(rnd));
    aigw_admin_secret(rnd, secret, hint);
    assert_int_equal(strlen(secret), AIGW_ADMIN_SECRET_LEN);
    assert_int_equal(strncmp(secret, "sk-aigw-abab", 12), 0);
    assert_string_equal(hint, "sk-aigw-abab...abab");

    assert_true(aigw_admin_valid_name((const u_char *) "a.b_c@d-e", 9));
    assert_false(aigw_admin_valid_name((const u_char *) "a/b", 3));
    assert_false(aigw_admin_valid_name((const u_char *) "", 0));
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_key_create),
        cmocka_unit_test(test_key_bad_inputs),
        cmocka_unit_test(test_key_patch),
        cmocka_unit_test(test_topup),
        cmocka_unit_test(test_tenant_doc),
        cmocka_unit_test(test_build),
        cmocka_unit_test(test_file_entries),
        cmocka_unit_test(test_days_fields_secret),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
