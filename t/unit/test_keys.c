/*
 * Unit tests for src/aigw_keys.c (cmocka).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "aigw_keys.h"
#include "aigw_sha256.h"


/* used in error cases: no message may contain it */
#define SECRET  "sk-topsecret-value"


static const char  full_file[] =
    "{\n"
    "  \"tenants\": [\n"
    "    {\"name\": \"acme\",\n"
    "     \"limits\": {\"rpm\": 600, \"tpm\": 200000, \"concurrency\": 20},\n"
    "     \"budget\": {\"usd\": 100.0, \"period\": \"monthly\"}},\n"
    "    {\"name\": \"beta\"}\n"
    "  ],\n"
    "  \"keys\": [\n"
    "    {\"name\": \"demo\", \"key\": \"sk-aigw-demo\","
    " \"tenant\": \"acme\",\n"
    "     \"models\": [\"gpt-4o\", \"demo-*\", \"*\"],\n"
    "     \"expires\": \"2027-01-01T00:00:00Z\",\n"
    "     \"enabled\": true,\n"
    "     \"ips\": [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\","
    " \"2001:db8::/32\"],\n"
    "     \"limits\": {\"rpm\": 60, \"tpm\": 100000, \"concurrency\": 4,\n"
    "                \"models\": {\"gpt-4o\": {\"rpm\": 10, \"tpm\": 20000}}},"
    "\n"
    "     \"budget\": {\"usd\": 10.5, \"period\": \"total\"}},\n"
    "    {\"name\": \"ci\", \"sha256\":"
    " \"171BBDB84D372CB727299D61CF4BAE5D1C42FB98410C08A09DFAB957E11A48E9\"},"
    "\n"
    "    {\"name\": \"user@example.com\", \"key\": \"sk-user-0001\","
    " \"tenant\": \"beta\", \"models\": [\"gpt-4o-mini\", \"claude-*\"],\n"
    "     \"expires\": 1700000000, \"enabled\": false,"
    " \"ips\": [\"192.168.1.77/24\", \"::ffff:172.16.0.0/108\"],\n"
    "     \"budget\": {\"usd\": 0.1234567, \"period\": \"daily\"}}\n"
    "  ]\n"
    "}\n";


static aigw_keyset_t *
parse_ok(const char *json)
{
    int             rc;
    char            err[256];
    aigw_keyset_t  *ks;

    ks = NULL;
    rc = aigw_keys_parse((const u_char *) json, strlen(json), &ks, err,
                         sizeof(err));
    if (rc != 0) {
        print_error("unexpected error: %s\n", err);
    }

    assert_int_equal(rc, 0);
    assert_non_null(ks);

    return ks;
}


static const aigw_key_t *
find_secret(const aigw_keyset_t *ks, const char *secret)
{
    u_char  hash[AIGW_SHA256_LEN];

    aigw_sha256((const u_char *) secret, strlen(secret), hash);

    return aigw_keys_find(ks, hash);
}


static const aigw_key_t *
find_name(const aigw_keyset_t *ks, const char *name)
{
    size_t  i;

    for (i = 0; i < ks->nkeys; i++) {
        if (strcmp(ks->keys[i].name, name) == 0) {
            return &ks->keys[i];
        }
    }

    return NULL;
}


static void
test_full_file(void **state)
{
    size_t                i;
    aigw_keyset_t        *ks;
    const aigw_key_t     *k;
    const aigw_tenant_t  *t;
    u_char                hex[2 * AIGW_SHA256_LEN + 1];

    (void) state;

    ks = parse_ok(full_file);

    assert_int_equal(ks->ntenants, 2);
    assert_int_equal(ks->nkeys, 3);

    /* keys are sorted by hash for aigw_keys_find() */
    for (i = 1; i < ks->nkeys; i++) {
        assert_true(memcmp(ks->keys[i - 1].hash, ks->keys[i].hash,
                           AIGW_SHA256_LEN) < 0);
    }

    t = aigw_keys_find_tenant(ks, (const u_char *) "acme", 4);
    assert_non_null(t);
    assert_string_equal(t->name, "acme");
    assert_int_equal(t->name_len, 4);
    assert_int_equal(t->limits.rpm, 600);
    assert_int_equal(t->limits.tpm, 200000);
    assert_int_equal(t->limits.concurrency, 20);
    assert_int_equal(t->budget.micro_usd, 100000000);
    assert_int_equal(t->budget.period, AIGW_BUDGET_MONTHLY);

    t = aigw_keys_find_tenant(ks, (const u_char *) "beta", 4);
    assert_non_null(t);
    assert_int_equal(t->limits.rpm, 0);
    assert_int_equal(t->limits.tpm, 0);
    assert_int_equal(t->limits.concurrency, 0);
    assert_int_equal(t->budget.micro_usd, -1);
    assert_null(aigw_keys_find_tenant(ks, (const u_char *) "acm", 3));
    assert_null(aigw_keys_find_tenant(ks, (const u_char *) "acmee", 5));

    /* "demo" */

    k = find_secret(ks, "sk-aigw-demo");
    assert_non_null(k);
    *aigw_hex_encode(hex, k->hash, AIGW_SHA256_LEN) = '\0';
    assert_string_equal((char *) hex, "c7b51ef2e45c5f05cefec08758a05482"
                                      "886576bee37a4eb2294eb7bcc3923d82");
    assert_string_equal(k->name, "demo");
    assert_int_equal(k->name_len, 4);
    assert_non_null(k->tenant);
    assert_string_equal(k->tenant->name, "acme");
    assert_ptr_equal(k->tenant,
                     aigw_keys_find_tenant(ks, (const u_char *) "acme", 4));

    assert_true(k->all_models);
    assert_int_equal(k->nmodels, 2);
    assert_string_equal((char *) k->models[0].name, "gpt-4o");
    assert_int_equal(k->models[0].len, 6);
    assert_false(k->models[0].prefix);
    assert_string_equal((char *) k->models[1].name, "demo-");
    assert_int_equal(k->models[1].len, 5);
    assert_true(k->models[1].prefix);

    assert_int_equal(k->expires, 1798761600);
    assert_true(k->enabled);

    assert_int_equal(k->nips, 4);
    assert_int_equal(k->ips[0].family, AF_INET);
    assert_memory_equal(k->ips[0].addr, "\x7f\x00\x00\x01", 4);
    assert_memory_equal(k->ips[0].mask, "\xff\xff\xff\xff", 4);
    assert_int_equal(k->ips[1].family, AF_INET);
    assert_memory_equal(k->ips[1].addr, "\x0a\x00\x00\x00", 4);
    assert_memory_equal(k->ips[1].mask, "\xff\x00\x00\x00", 4);
    assert_int_equal(k->ips[2].family, AF_INET6);
    assert_int_equal(k->ips[3].family, AF_INET6);
    assert_memory_equal(k->ips[3].addr,
                        "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\0", 16);
    assert_memory_equal(k->ips[3].mask,
                        "\xff\xff\xff\xff\0\0\0\0\0\0\0\0\0\0\0\0", 16);

    assert_int_equal(k->limits.rpm, 60);
    assert_int_equal(k->limits.tpm, 100000);
    assert_int_equal(k->limits.concurrency, 4);
    assert_int_equal(k->nmodel_limits, 1);
    assert_string_equal((char *) k->model_limits[0].model, "gpt-4o");
    assert_int_equal(k->model_limits[0].model_len, 6);
    assert_int_equal(k->model_limits[0].limits.rpm, 10);
    assert_int_equal(k->model_limits[0].limits.tpm, 20000);
    assert_int_equal(k->model_limits[0].limits.concurrency, 0);
    assert_ptr_equal(aigw_key_model_limits(k, (const u_char *) "gpt-4o", 6),
                     &k->model_limits[0].limits);
    assert_null(aigw_key_model_limits(k, (const u_char *) "gpt-4", 5));

    assert_int_equal(k->budget.micro_usd, 10500000);
    assert_int_equal(k->budget.period, AIGW_BUDGET_TOTAL);

    /* "ci": only the required fields, uppercase hex */

    k = find_secret(ks, "ci-secret-123");
    assert_non_null(k);
    assert_string_equal(k->name, "ci");
    assert_null(k->tenant);
    assert_true(k->all_models);
    assert_int_equal(k->nmodels, 0);
    assert_true(k->enabled);
    assert_int_equal(k->expires, 0);
    assert_int_equal(k->nips, 0);
    assert_int_equal(k->limits.rpm, 0);
    assert_int_equal(k->limits.tpm, 0);
    assert_int_equal(k->limits.concurrency, 0);
    assert_int_equal(k->nmodel_limits, 0);
    assert_int_equal(k->budget.micro_usd, -1);

    /* "user@example.com" */

    k = find_secret(ks, "sk-user-0001");
    assert_non_null(k);
    assert_ptr_equal(k, find_name(ks, "user@example.com"));
    assert_string_equal(k->tenant->name, "beta");
    assert_false(k->all_models);
    assert_int_equal(k->nmodels, 2);
    assert_int_equal(k->expires, 1700000000);
    assert_false(k->enabled);
    assert_int_equal(k->nips, 2);
    assert_memory_equal(k->ips[0].addr, "\xc0\xa8\x01\x00", 4);
    /* an IPv4-mapped entry is stored as IPv4 */
    assert_int_equal(k->ips[1].family, AF_INET);
    assert_memory_equal(k->ips[1].addr, "\xac\x10\x00\x00", 4);
    assert_memory_equal(k->ips[1].mask, "\xff\xf0\x00\x00", 4);
    assert_int_equal(k->budget.micro_usd, 123457);
    assert_int_equal(k->budget.period, AIGW_BUDGET_DAILY);

    aigw_keys_free(ks);
}


static void
test_empty_keys(void **state)
{
    aigw_keyset_t  *ks;
    u_char          hash[AIGW_SHA256_LEN];

    (void) state;

    ks = parse_ok("{\"keys\": []}");
    assert_int_equal(ks->nkeys, 0);
    assert_int_equal(ks->ntenants, 0);

    memset(hash, 0, sizeof(hash));
    assert_null(aigw_keys_find(ks, hash));

    aigw_keys_free(ks);

    ks = parse_ok("{\"tenants\": [], \"keys\": []}");
    aigw_keys_free(ks);

    /* the longest name and the widest character set */
    ks = parse_ok("{\"keys\": [{\"name\": \"AZaz09._@-"
                  "123456789012345678901234567890123456789012345678901234\","
                  " \"key\": \"!#$%&'()*+,-./:;<=>?[]^_`{|}~\"}]}");
    assert_int_equal(ks->keys[0].name_len, 64);
    aigw_keys_free(ks);

    aigw_keys_free(NULL);
}


typedef struct {
    const char  *json;
    const char  *error;
} error_case_t;


static const error_case_t  error_cases[] = {

    /* syntax */
    { "{\n  \"keys\": [\n    {\"name\": \"a\" \"key\": \"" SECRET "\"}]}",
      "line 3, column " },
    { "{\n  \"keys\": [\n    {\"name\": \"a\", \"key\": \"" SECRET "\n",
      "line 3, column " },
    { "{\"keys\": [{\"name\": \"a\", \"key\": " SECRET "}]}",
      "line 1, column 33: invalid token" },
    { "{\"keys\": [],\n \"keys\": []}",
      "line 2, column 7: duplicate object key near '\"keys\"'" },
    { "", "line 1, column 0: '[' or '{' expected near end of file" },

    /* structure */
    { "[]", "top level must be a JSON object" },
    { "{}", "missing \"keys\"" },
    { "{\"keys\": {}}", "\"keys\" must be an array" },
    { "{\"keys\": [], \"tenants\": {}}", "\"tenants\" must be an array" },
    { "{\"keys\": [], \"tenant\": []}",
      "top level: unknown field \"tenant\"" },
    { "{\"keys\": [1]}", "keys[0]: must be an object" },

    /* unknown fields */
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\"},"
      " {\"name\": \"b\", \"sha\": \"x\"}]}",
      "keys[1]: unknown field \"sha\"" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"limits\": {\"rmp\": 5}}]}",
      "keys[0].limits: unknown field \"rmp\"" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"limits\": {\"models\": {\"m\": {\"models\": {}}}}}]}",
      "keys[0].limits.models[\"m\"]: unknown field \"models\"" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"budget\": {\"usd\": 1, \"perod\": \"daily\"}}]}",
      "keys[0].budget: unknown field \"perod\"" },
    { "{\"tenants\": [{\"name\": \"t\", \"limits\": {\"models\": {}}}],"
      " \"keys\": []}",
      "tenants[0].limits: unknown field \"models\"" },
    { "{\"tenants\": [{\"name\": \"t\", \"rpm\": 1}], \"keys\": []}",
      "tenants[0]: unknown field \"rpm\"" },

    /* names */
    { "{\"keys\": [{\"key\": \"" SECRET "\"}]}",
      "keys[0]: missing \"name\"" },
    { "{\"keys\": [{\"name\": \"bad name\", \"key\": \"" SECRET "\"}]}",
      "keys[0]: \"name\" must be 1..64 characters of A-Z a-z 0-9 . _ @ -" },
    { "{\"keys\": [{\"name\": \"\", \"key\": \"" SECRET "\"}]}",
      "keys[0]: \"name\" must be 1..64 characters" },
    { "{\"keys\": [{\"name\": 5, \"key\": \"" SECRET "\"}]}",
      "keys[0]: \"name\" must be 1..64 characters" },
    { "{\"keys\": [{\"name\": \"a1234567890123456789012345678901234567890"
      "123456789012345678901234\", \"key\": \"" SECRET "\"}]}",
      "keys[0]: \"name\" must be 1..64 characters" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\"},"
      " {\"name\": \"b\", \"key\": \"sk-other-1\"},"
      " {\"name\": \"a\", \"key\": \"sk-other-2\"}]}",
      "keys[2]: duplicate name \"a\" (also keys[0])" },
    { "{\"tenants\": [{\"name\": \"t\"}, {\"name\": \"t\"}], \"keys\": []}",
      "tenants[1]: duplicate name \"t\" (also tenants[0])" },
    { "{\"tenants\": [{}], \"keys\": []}", "tenants[0]: missing \"name\"" },

    /* secrets */
    { "{\"keys\": [{\"name\": \"ci\", \"key\": \"" SECRET "\", \"sha256\":"
      " \"171bbdb84d372cb727299d61cf4bae5d1c42fb98410c08a09dfab957e11a48e9\""
      "}]}",
      "keys[0] (\"ci\"): \"key\" and \"sha256\" are mutually exclusive" },
    { "{\"keys\": [{\"name\": \"ci\"}]}",
      "keys[0] (\"ci\"): one of \"key\" or \"sha256\" is required" },
    { "{\"keys\": [{\"name\": \"ci\", \"key\": \"sk-other-1\"},"
      " {\"name\": \"x\", \"key\": \"sk-tops\"}]}",
      "keys[1] (\"x\"): \"key\" must be a string of 8..256 printable ASCII" },
    { "{\"keys\": [{\"name\": \"x\", \"key\": \"sk-tops\"}]}",
      "keys[0] (\"x\"): \"key\" must be a string of 8..256 printable ASCII" },
    { "{\"keys\": [{\"name\": \"x\", \"key\": \"sk-top secret\"}]}",
      "keys[0] (\"x\"): \"key\" must be a string of 8..256 printable ASCII" },
    { "{\"keys\": [{\"name\": \"x\", \"key\": \"sk-topsecret\\u00e9\"}]}",
      "keys[0] (\"x\"): \"key\" must be a string of 8..256 printable ASCII" },
    { "{\"keys\": [{\"name\": \"x\", \"key\": 12345678}]}",
      "keys[0] (\"x\"): \"key\" must be a string" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\"},"
      " {\"name\": \"ci\", \"sha256\":"
      " \"171bbdb84d372cb727299d61cf4bae5d1c42fb98410c08a09dfab957e11a48eg\""
      "}]}",
      "keys[1] (\"ci\"): \"sha256\" must be 64 hex characters" },
    { "{\"keys\": [{\"name\": \"ci\", \"sha256\": \"abcd\"}]}",
      "keys[0] (\"ci\"): \"sha256\" must be 64 hex characters" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\"},"
      " {\"name\": \"b\", \"key\": \"sk-other-1\"},"
      " {\"name\": \"c\", \"sha256\":"
      " \"5779df5e9d7b6ee8c65f8c7a9b64a8d5e3d8fd09fa8c6e0f4f3b53d0ab1e9c06\""
      "}, {\"name\": \"d\", \"key\": \"sk-other-1\"}]}",
      "keys[1] (\"b\") and keys[3] (\"d\") have the same secret" },

    /* tenant reference */
    { "{\"tenants\": [{\"name\": \"acme\"}], \"keys\": [{\"name\": \"a\","
      " \"key\": \"" SECRET "\", \"tenant\": \"acne\"}]}",
      "keys[0] (\"a\"): unknown tenant \"acne\"" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"tenant\": \"acme\"}]}",
      "keys[0] (\"a\"): unknown tenant \"acme\"" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"tenant\": 1}]}",
      "keys[0] (\"a\"): \"tenant\" must be a string" },

    /* models */
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"models\": [\"gpt-4o\", \"a*b\"]}]}",
      "keys[0] (\"a\"): models[1] \"a*b\": \"*\" is only allowed as the "
      "last character" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"models\": [\"**\"]}]}",
      "keys[0] (\"a\"): models[0] \"**\": \"*\" is only allowed" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"models\": [\"\"]}]}",
      "keys[0] (\"a\"): models[0] must be a string of 1..256 characters" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"models\": []}]}",
      "keys[0] (\"a\"): \"models\" must be a non-empty array" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"models\": \"gpt-4o\"}]}",
      "keys[0] (\"a\"): \"models\" must be a non-empty array" },

    /* expires */
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"expires\": \"2027-01-01 00:00:00\"}]}",
      "keys[0] (\"a\"): \"expires\" must be a Unix time or a valid "
      "RFC 3339 date" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"expires\": \"2027-02-30T00:00:00Z\"}]}",
      "keys[0] (\"a\"): \"expires\" must be a Unix time or a valid" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"expires\": \"2027-01-01T00:00:00\"}]}",
      "keys[0] (\"a\"): \"expires\" must be a Unix time or a valid" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"expires\": 1.5}]}",
      "keys[0] (\"a\"): \"expires\" must be a Unix time or a valid" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"expires\": -1}]}",
      "keys[0] (\"a\"): \"expires\" must not be negative" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"expires\": \"1969-12-31T23:59:59Z\"}]}",
      "keys[0] (\"a\"): \"expires\" must be after 1970-01-01T00:00:00Z" },

    /* enabled */
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"enabled\": 1}]}",
      "keys[0] (\"a\"): \"enabled\" must be true or false" },

    /* limits */
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"limits\": {\"tpm\": -1}}]}",
      "keys[0].limits.tpm: must be a non-negative integer" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"limits\": {\"rpm\": 1.5}}]}",
      "keys[0].limits.rpm: must be a non-negative integer" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"limits\": {\"concurrency\": 2.0}}]}",
      "keys[0].limits.concurrency: must be a non-negative integer" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"limits\": {\"rpm\": \"60\"}}]}",
      "keys[0].limits.rpm: must be a non-negative integer" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"limits\": {\"rpm\": 4294967296}}]}",
      "keys[0].limits.rpm: must be at most 4294967295" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"limits\": [60]}]}",
      "keys[0].limits: must be an object" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"limits\": {\"models\": {\"gpt-4o\": {\"tpm\": -5}}}}]}",
      "keys[0].limits.models[\"gpt-4o\"].tpm: must be a non-negative "
      "integer" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"limits\": {\"models\": {\"gpt-*\": {\"tpm\": 5}}}}]}",
      "keys[0].limits.models[\"gpt-*\"]: model name must be exact" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"limits\": {\"models\": []}}]}",
      "keys[0].limits.models: must be an object" },
    { "{\"tenants\": [{\"name\": \"t\", \"limits\": {\"rpm\": -1}}],"
      " \"keys\": []}",
      "tenants[0].limits.rpm: must be a non-negative integer" },

    /* ips */
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"ips\": [\"10.0.0.0/33\"]}]}",
      "keys[0] (\"a\"): ips[0] \"10.0.0.0/33\": prefix length must be "
      "0..32" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"ips\": [\"::1\", \"2001:db8::/129\"]}]}",
      "keys[0] (\"a\"): ips[1] \"2001:db8::/129\": prefix length must be "
      "0..128" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"ips\": [\"10.0.0.256\"]}]}",
      "keys[0] (\"a\"): ips[0] \"10.0.0.256\": invalid IP address or CIDR" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"ips\": [\"10.0.0.0/\"]}]}",
      "keys[0] (\"a\"): ips[0] \"10.0.0.0/\": invalid prefix length" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"ips\": [\"10.0.0.0/8x\"]}]}",
      "keys[0] (\"a\"): ips[0] \"10.0.0.0/8x\": invalid prefix length" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"ips\": [\"/8\"]}]}",
      "keys[0] (\"a\"): ips[0] \"/8\": invalid IP address or CIDR" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"ips\": [\"localhost\"]}]}",
      "keys[0] (\"a\"): ips[0] \"localhost\": invalid IP address or CIDR" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"ips\": [10]}]}",
      "keys[0] (\"a\"): ips[0] must be a string" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"ips\": []}]}",
      "keys[0] (\"a\"): \"ips\" must be a non-empty array" },

    /* budget */
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"budget\": {\"usd\": 5, \"period\": \"weekly\"}}]}",
      "keys[0].budget.period: must be \"total\", \"daily\" or \"monthly\"" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"budget\": {\"usd\": -0.01}}]}",
      "keys[0].budget.usd: must be a number from 0 to 1e12" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"budget\": {\"usd\": 1e13}}]}",
      "keys[0].budget.usd: must be a number from 0 to 1e12" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"budget\": {\"usd\": \"5\"}}]}",
      "keys[0].budget.usd: must be a number from 0 to 1e12" },
    { "{\"keys\": [{\"name\": \"a\", \"key\": \"" SECRET "\","
      " \"budget\": {\"period\": \"daily\"}}]}",
      "keys[0].budget: missing \"usd\"" },
    { "{\"tenants\": [{\"name\": \"t\", \"budget\": 5}], \"keys\": []}",
      "tenants[0].budget: must be an object" },
};


static void
test_errors(void **state)
{
    int             rc;
    size_t          i;
    char            err[256];
    aigw_keyset_t  *ks;

    (void) state;

    for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        ks = NULL;
        strcpy(err, "(none)");

        rc = aigw_keys_parse((const u_char *) error_cases[i].json,
                             strlen(error_cases[i].json), &ks, err,
                             sizeof(err));

        if (rc != -1 || strstr(err, error_cases[i].error) == NULL) {
            print_error("case %zu: expected \"%s\", got rc %d \"%s\"\n",
                        i, error_cases[i].error, rc, err);
        }

        if (ks != NULL) {
            aigw_keys_free(ks);
            fail();
        }

        assert_int_equal(rc, -1);
        assert_non_null(strstr(err, error_cases[i].error));

        /* one line, and no secret (or a recognizable part of one) */
        assert_null(strchr(err, '\n'));
        assert_null(strstr(err, "topsecret"));
        assert_null(strstr(err, "topse"));
        assert_null(strstr(err, "sk-other"));
    }
}


static void
test_error_truncated(void **state)
{
    int             rc;
    char            err[8];
    aigw_keyset_t  *ks;
    const char     *json;

    (void) state;

    json = "{\"keys\": [{\"name\": \"a\"}]}";
    ks = NULL;

    memset(err, 'x', sizeof(err));
    rc = aigw_keys_parse((const u_char *) json, strlen(json), &ks, err,
                         sizeof(err));
    assert_int_equal(rc, -1);
    assert_string_equal(err, "keys[0]");

    rc = aigw_keys_parse((const u_char *) json, strlen(json), &ks, NULL, 0);
    assert_int_equal(rc, -1);
    assert_null(ks);
}


static void
test_find(void **state)
{
    size_t             i;
    aigw_keyset_t     *ks;
    const aigw_key_t  *k;
    u_char             hash[AIGW_SHA256_LEN];
    char               json[8192], *p, secret[32];

    (void) state;

    ks = parse_ok(full_file);

    assert_non_null(find_secret(ks, "sk-aigw-demo"));
    assert_non_null(find_secret(ks, "ci-secret-123"));
    assert_null(find_secret(ks, "sk-aigw-demO"));
    assert_null(find_secret(ks, "sk-aigw-dem"));

    memset(hash, 0, sizeof(hash));
    assert_null(aigw_keys_find(ks, hash));
    memset(hash, 0xff, sizeof(hash));
    assert_null(aigw_keys_find(ks, hash));

    aigw_keys_free(ks);

    /* many keys: every one is found by its own secret */

    p = json;
    p += sprintf(p, "{\"keys\": [");

    for (i = 0; i < 100; i++) {
        p += sprintf(p, "%s{\"name\": \"k%zu\", \"key\": \"secret-%zu\"}",
                     i ? "," : "", i, i);
    }

    sprintf(p, "]}");

    ks = parse_ok(json);
    assert_int_equal(ks->nkeys, 100);

    for (i = 0; i < 100; i++) {
        snprintf(secret, sizeof(secret), "secret-%zu", i);
        k = find_secret(ks, secret);
        assert_non_null(k);
        snprintf(secret, sizeof(secret), "k%zu", i);
        assert_string_equal(k->name, secret);
    }

    assert_null(find_secret(ks, "secret-100"));

    aigw_keys_free(ks);
}


static int
model_ok(const aigw_key_t *k, const char *model)
{
    return aigw_key_model_allowed(k, (const u_char *) model, strlen(model));
}


static void
test_models(void **state)
{
    aigw_keyset_t     *ks;
    const aigw_key_t  *k;

    (void) state;

    ks = parse_ok(
        "{\"keys\": ["
        "{\"name\": \"some\", \"key\": \"secret-some\","
        " \"models\": [\"gpt-4o\", \"claude-*\"]},"
        "{\"name\": \"all\", \"key\": \"secret-all\", \"models\": [\"*\"]},"
        "{\"name\": \"dflt\", \"key\": \"secret-dflt\"}"
        "]}");

    k = find_name(ks, "some");
    assert_non_null(k);
    assert_true(model_ok(k, "gpt-4o"));
    assert_false(model_ok(k, "gpt-4o-mini"));
    assert_false(model_ok(k, "gpt-4"));
    assert_false(model_ok(k, "GPT-4o"));
    assert_true(model_ok(k, "claude-"));
    assert_true(model_ok(k, "claude-3-5-sonnet"));
    assert_false(model_ok(k, "claude"));
    assert_false(model_ok(k, ""));

    k = find_name(ks, "all");
    assert_non_null(k);
    assert_true(k->all_models);
    assert_int_equal(k->nmodels, 0);
    assert_true(model_ok(k, "anything"));
    assert_true(model_ok(k, ""));

    k = find_name(ks, "dflt");
    assert_non_null(k);
    assert_true(model_ok(k, "gpt-4o"));

    aigw_keys_free(ks);
}


static int
ip_ok(const aigw_key_t *k, const char *ip)
{
    int     family;
    u_char  addr[16];

    family = strchr(ip, ':') ? AF_INET6 : AF_INET;
    assert_int_equal(inet_pton(family, ip, addr), 1);

    return aigw_key_ip_allowed(k, family, addr);
}


static void
test_ips(void **state)
{
    aigw_keyset_t     *ks;
    const aigw_key_t  *k;

    (void) state;

    ks = parse_ok(
        "{\"keys\": ["
        "{\"name\": \"ips\", \"key\": \"secret-ips\", \"ips\":"
        " [\"127.0.0.1\", \"10.1.2.3/8\", \"192.168.0.0/31\", \"::1\","
        " \"2001:db8::/32\", \"fe80::/9\", \"0.0.0.0/0\"]},"
        "{\"name\": \"v6\", \"key\": \"secret-v6\", \"ips\":"
        " [\"2001:db8:1::/48\", \"::ffff:192.0.2.1\"]},"
        "{\"name\": \"v4\", \"key\": \"secret-v4\", \"ips\":"
        " [\"10.0.0.0/8\", \"172.16.0.0/12\"]},"
        "{\"name\": \"any\", \"key\": \"secret-any\"}"
        "]}");

    k = find_name(ks, "v4");
    assert_non_null(k);
    assert_true(ip_ok(k, "10.0.0.0"));
    assert_true(ip_ok(k, "10.255.255.255"));
    assert_false(ip_ok(k, "11.0.0.1"));
    assert_true(ip_ok(k, "172.31.255.1"));
    assert_false(ip_ok(k, "172.32.0.1"));
    assert_false(ip_ok(k, "127.0.0.1"));
    /* IPv4-mapped IPv6 client addresses match IPv4 entries */
    assert_true(ip_ok(k, "::ffff:10.9.8.7"));
    assert_false(ip_ok(k, "::ffff:11.9.8.7"));
    assert_false(ip_ok(k, "::10.9.8.7"));
    assert_false(ip_ok(k, "2001:db8::1"));
    assert_int_equal(aigw_key_ip_allowed(k, AF_UNIX,
                                         (const u_char *) "\0\0\0\0"), 0);

    k = find_name(ks, "v6");
    assert_non_null(k);
    assert_true(ip_ok(k, "2001:db8:1::1"));
    assert_true(ip_ok(k, "2001:db8:1:ffff:ffff:ffff:ffff:ffff"));
    assert_false(ip_ok(k, "2001:db8:2::1"));
    assert_false(ip_ok(k, "::1"));
    /* a mapped entry matches the plain IPv4 address and the mapped one */
    assert_true(ip_ok(k, "192.0.2.1"));
    assert_true(ip_ok(k, "::ffff:192.0.2.1"));
    assert_false(ip_ok(k, "192.0.2.2"));

    k = find_name(ks, "ips");
    assert_non_null(k);
    assert_true(ip_ok(k, "127.0.0.1"));
    assert_true(ip_ok(k, "10.200.0.1"));
    assert_true(ip_ok(k, "8.8.8.8"));        /* 0.0.0.0/0 */
    assert_true(ip_ok(k, "::1"));
    assert_false(ip_ok(k, "::2"));
    assert_true(ip_ok(k, "2001:db8:ffff::1"));
    assert_false(ip_ok(k, "2001:db9::1"));
    assert_true(ip_ok(k, "fe80::1"));
    assert_true(ip_ok(k, "fe80:ffff::1"));
    assert_true(ip_ok(k, "fec0::1"));
    assert_false(ip_ok(k, "fe00::1"));
    assert_false(ip_ok(k, "ff00::1"));
    /* host bits of the entry are masked */
    assert_memory_equal(k->ips[1].addr, "\x0a\x00\x00\x00", 4);
    assert_memory_equal(k->ips[2].mask, "\xff\xff\xff\xfe", 4);

    k = find_name(ks, "any");
    assert_non_null(k);
    assert_true(ip_ok(k, "1.2.3.4"));
    assert_true(ip_ok(k, "2001:db8::1"));

    aigw_keys_free(ks);
}


static int64_t
rfc3339(const char *s)
{
    int64_t  t;

    t = -424242;

    if (aigw_parse_rfc3339((const u_char *) s, strlen(s), &t) != 0) {
        return -424242;
    }

    return t;
}


#define BAD  ((int64_t) -424242)


static void
test_rfc3339(void **state)
{
    (void) state;

    assert_int_equal(rfc3339("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(rfc3339("2027-01-01T00:00:00Z"), 1798761600);
    assert_int_equal(rfc3339("2024-02-29T12:00:00Z"), 1709208000);
    assert_int_equal(rfc3339("2000-03-01T00:00:00Z"), 951868800);
    assert_int_equal(rfc3339("2000-02-29T00:00:00Z"), 951868800 - 86400);
    assert_int_equal(rfc3339("1999-12-31T23:59:59Z"), 946684799);
    assert_int_equal(rfc3339("2100-03-01T00:00:00Z"), 4107542400LL);
    assert_int_equal(rfc3339("9999-12-31T23:59:59Z"), 253402300799LL);
    assert_int_equal(rfc3339("0001-01-01T00:00:00Z"), -62135596800LL);
    assert_int_equal(rfc3339("1969-12-31T23:59:59Z"), -1);

    /* lowercase separators and fractions */
    assert_int_equal(rfc3339("2024-02-29t12:00:00z"), 1709208000);
    assert_int_equal(rfc3339("2024-02-29T12:00:00.999Z"), 1709208000);

    /* offsets */
    assert_int_equal(rfc3339("2024-02-29T12:00:00+00:00"), 1709208000);
    assert_int_equal(rfc3339("2024-02-29T12:00:00-00:00"), 1709208000);
    assert_int_equal(rfc3339("2024-02-29T14:30:00+02:30"), 1709208000);
    assert_int_equal(rfc3339("2024-02-29T07:00:00-05:00"), 1709208000);
    assert_int_equal(rfc3339("2024-03-01T01:00:00+13:00"), 1709208000);
    assert_int_equal(rfc3339("2026-12-31T19:00:00-05:00"), 1798761600);
    assert_int_equal(rfc3339("2024-02-29T12:00:00.5+01:00"),
                     1709208000 - 3600);

    /* leap second */
    assert_int_equal(rfc3339("2016-12-31T23:59:60Z"), 1483228800);

    /* invalid dates */
    assert_int_equal(rfc3339("2023-02-29T00:00:00Z"), BAD);
    assert_int_equal(rfc3339("2100-02-29T00:00:00Z"), BAD);
    assert_int_equal(rfc3339("2027-02-30T00:00:00Z"), BAD);
    assert_int_equal(rfc3339("2027-04-31T00:00:00Z"), BAD);
    assert_int_equal(rfc3339("2027-13-01T00:00:00Z"), BAD);
    assert_int_equal(rfc3339("2027-00-01T00:00:00Z"), BAD);
    assert_int_equal(rfc3339("2027-01-00T00:00:00Z"), BAD);
    assert_int_equal(rfc3339("2027-01-01T24:00:00Z"), BAD);
    assert_int_equal(rfc3339("2027-01-01T00:60:00Z"), BAD);
    assert_int_equal(rfc3339("2027-01-01T00:00:61Z"), BAD);
    assert_int_equal(rfc3339("0000-01-01T00:00:00Z"), BAD);

    /* invalid syntax */
    assert_int_equal(rfc3339(""), BAD);
    assert_int_equal(rfc3339("2027-01-01"), BAD);
    assert_int_equal(rfc3339("2027-01-01T00:00:00"), BAD);
    assert_int_equal(rfc3339("2027-01-01 00:00:00Z"), BAD);
    assert_int_equal(rfc3339("2027-1-01T00:00:00Z"), BAD);
    assert_int_equal(rfc3339("2027-01-01T00:00:00ZZ"), BAD);
    assert_int_equal(rfc3339("2027-01-01T00:00:00.Z"), BAD);
    assert_int_equal(rfc3339("2027-01-01T00:00:00.123"), BAD);
    assert_int_equal(rfc3339("2027-01-01T00:00:00+0100"), BAD);
    assert_int_equal(rfc3339("2027-01-01T00:00:00+01:00:00"), BAD);
    assert_int_equal(rfc3339("2027-01-01T00:00:00+24:00"), BAD);
    assert_int_equal(rfc3339("2027-01-01T00:00:00+01:60"), BAD);
    assert_int_equal(rfc3339("2027-01-01T00:00:00+1:00"), BAD);
    assert_int_equal(rfc3339("+027-01-01T00:00:00Z"), BAD);

    /* not NUL-terminated: only len bytes are read */
    {
        int64_t  t;

        assert_int_equal(aigw_parse_rfc3339(
                             (const u_char *) "2024-02-29T12:00:00Zjunk", 20,
                             &t), 0);
        assert_int_equal(t, 1709208000);
    }
}


int
main(void)
{
    const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_full_file),
        cmocka_unit_test(test_empty_keys),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_error_truncated),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_models),
        cmocka_unit_test(test_ips),
        cmocka_unit_test(test_rfc3339),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
