/*
 * aigw fuzzing: request body rewriting (src/aigw_body.c) and the prompt
 * token estimate (src/aigw_tokens.c), both on a scanned body.
 *
 * Input: [rewrite spec: 6 bytes] body.  The spec picks an upstream model,
 * include_usage, up to four operator rules (op, field, value) and an
 * allocation to fail.  The body goes through aigw_json_parse_object() as
 * in the request path; when that succeeds:
 *   - aigw_body_build() returns 0, -1 with an error and a param, or -2
 *     only when an allocation failed;
 *   - on 0 the new body scans again as an object without duplicate keys,
 *     jansson loads it when it loads the original, its "model" is the
 *     upstream model, and a streamed request with include_usage has
 *     stream_options.include_usage true;
 *   - the token estimate is >= 1 for every endpoint, the same from the
 *     scanned members as from the body, and
 *     aigw_tokens_max_completion() gives a non-negative value or the
 *     default.
 */

#include <jansson.h>

#include "fuzz_common.h"

#include "aigw_body.h"
#include "aigw_tokens.h"


#define FZ_MAX_MEMBERS  128


static const char  *fz_models[] = {
    NULL, "gpt-4o", "claude-3-5-sonnet", "m\"odel\\\n\x01", "", "x"
};

static const char  *fz_fields[] = {
    "model", "stream", "stream_options", "max_tokens", "temperature",
    "user", "n", "messages"
};

static const char  *fz_values[] = {
    "1", "null", "true", "false", "\"x\"", "{\"include_usage\":false}",
    "[1,2]", "4096", "0.5", "{}"
};


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void) argc;
    (void) argv;

    json_object_seed(1);

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                  rc, jok;
    size_t               i, n, n2, nrules;
    u_char              *p;
    int64_t              t, tm, mx;
    uint8_t              b, spec[6];
    fz_in_t              in;
    fz_pool_t            pool;
    json_t              *j, *j2, *v;
    json_error_t         jerr;
    aigw_json_error_t    err;
    aigw_json_member_t  *m, *m2, *f;
    aigw_body_rule_t     rules[4];
    aigw_body_result_t   res;
    aigw_body_rewrite_t  rw;
    const char          *model;

    in.p = data;
    in.n = size;

    for (i = 0; i < sizeof(spec); i++) {
        spec[i] = fz_byte(&in);
    }

    p = fz_dup(in.p, in.n);

    m = malloc(FZ_MAX_MEMBERS * sizeof(aigw_json_member_t));
    m2 = malloc(FZ_MAX_MEMBERS * sizeof(aigw_json_member_t));
    if (m == NULL || m2 == NULL) {
        abort();
    }

    /* the prompt estimate, on any input the scanner accepts */

    rc = aigw_json_parse_object(p, in.n, m, FZ_MAX_MEMBERS, &n, 64, &err);

    if (rc != AIGW_JSON_OK) {
        goto done;
    }

    for (i = 1; i <= 4; i++) {
        t = aigw_tokens_estimate(p, in.n, (unsigned) i);

        FZ_CHECK("tokens", t >= 1, "estimate %lld for endpoint %zu",
                 (long long) t, i);

        /* the request path's variant, from the members, is the same */

        tm = aigw_tokens_estimate_members(p, in.n, m, n, (unsigned) i);

        FZ_CHECK("tokens", tm == t, "estimate from the members %lld, "
                 "from the body %lld, endpoint %zu", (long long) tm,
                 (long long) t, i);
    }

    mx = aigw_tokens_max_completion(p, in.n, -7);

    FZ_CHECK("tokens", mx >= 0 || mx == -7, "max_completion %lld",
             (long long) mx);

    /* the rewrite */

    memset(&rw, 0, sizeof(rw));

    model = fz_models[spec[0] % (sizeof(fz_models) / sizeof(fz_models[0]))];

    if (model) {
        rw.model = (const u_char *) model;
        rw.model_len = strlen(model);
    }

    rw.include_usage = (spec[0] >> 7) & 1;

    nrules = (spec[1] >> 6) & 3;
    nrules += (spec[1] >> 5) & 1;

    for (i = 0; i < nrules; i++) {
        b = spec[2 + i];

        rules[i].op = (aigw_rule_op_e) (b & 3);
        rules[i].field = (u_char *) fz_fields[(b >> 2) & 7];
        rules[i].field_len = strlen((char *) rules[i].field);
        rules[i].value = (u_char *) fz_values[(b >> 5) % 8
                                              + ((spec[1] >> i) & 1) * 2];
        rules[i].value_len = strlen((char *) rules[i].value);
        rules[i].cap = (b >> 5) * 16.0;

        if (rules[i].op == AIGW_RULE_CAP) {
            /* a cap's value is its number */
            rules[i].value = (u_char *) "96";
            rules[i].value_len = 2;
            rules[i].cap = 96.0;
        }
    }

    rw.rules = rules;
    rw.nrules = nrules;

    fz_pool_init(&pool, 0, (spec[1] & 0x1f) == 0x1f ? (spec[5] & 7) + 1 : 0);

    memset(&res, 0, sizeof(res));
    rc = aigw_body_build(p, in.n, m, n, &rw, fz_alloc, &pool, &res);

    FZ_CHECK("body-rc", rc == 0 || rc == -1 || (rc == -2 && pool.failed),
             "aigw_body_build returned %d", rc);

    if (rc == -1) {
        FZ_CHECK("body-rc", res.error != NULL && res.param != NULL
                 && res.param_len > 0, "a client error without its message");
    }

    if (rc != 0) {
        fz_pool_free(&pool);
        goto done;
    }

    /* the new body */

    rc = aigw_json_parse_object(res.body, res.len, m2, FZ_MAX_MEMBERS, &n2,
                                64, &err);

    if (rc == AIGW_JSON_TOO_MANY || rc == AIGW_JSON_TOO_DEEP) {
        fz_pool_free(&pool);
        goto done;
    }

    if (rc != AIGW_JSON_OK) {
        fz_dump("in", p, in.n);
        fz_dump("out", res.body, res.len);
    }

    FZ_CHECK("body-out", rc == AIGW_JSON_OK,
             "the new body does not scan: %d %s at %zu", rc,
             err.msg ? err.msg : "-", err.offset);

    j = json_loadb((const char *) p, in.n,
                   JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
    jok = (j != NULL);
    json_decref(j);

    if (jok) {
        j2 = json_loadb((const char *) res.body, res.len,
                        JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);

        if (j2 == NULL) {
            fz_dump("in", p, in.n);
            fz_dump("out", res.body, res.len);
        }

        FZ_CHECK("body-out", j2 != NULL,
                 "jansson loads the body but not its rewrite: %s",
                 jerr.text);

        if (j2 != NULL && rw.model && json_is_string(
                                          json_object_get(j2, "model")))
        {
            v = json_object_get(j2, "model");

            FZ_CHECK("body-model", json_string_length(v) == rw.model_len
                     && memcmp(json_string_value(v), rw.model,
                               rw.model_len) == 0,
                     "the rewritten model is not the upstream model");
        }

        if (j2 != NULL && res.stream && rw.include_usage) {
            v = json_object_get(json_object_get(j2, "stream_options"),
                                "include_usage");

            FZ_CHECK("body-usage", json_is_true(v),
                     "a stream without stream_options.include_usage");
        }

        json_decref(j2);
    }

    if (rw.model) {
        f = aigw_json_find(m2, n2, "model", 5);

        FZ_CHECK("body-model", f != NULL && f->type == AIGW_JSON_STRING,
                 "no model string in the rewritten body");
    }

    fz_pool_free(&pool);

done:

    free(m);
    free(m2);
    free(p);

    return 0;
}
