/*
 * aigw fuzzing: the configuration parsers and what they feed -- the keys
 * file (src/aigw_keys.c), the prices file (src/aigw_prices.c), RFC 3339
 * dates, SHA-256 and hex (src/aigw_sha256.c).
 *
 * Input: [mode] [8 lookup bytes] text.
 *   mode 0: keys file.  A failure gives a NUL-terminated message that
 *     holds no secret of the file; a success gives a keyset where every
 *     key is found by its hash, every tenant by its name, every model
 *     pattern admits its own name, every per-model limit is found, and
 *     IP checks on addresses taken from the input do not crash.
 *   mode 1: prices file.  Every exact pattern finds its own price, every
 *     "prefix*" pattern a price for prefix + "x", prices are 0..1e12.
 *   mode 2: RFC 3339 dates, and SHA-256 of the text whole, in pieces and
 *     with the portable rounds, which agree; hex round trips.
 * Everything is freed (LeakSanitizer checks the parsers' error paths).
 */

#define _GNU_SOURCE
#include <sys/socket.h>
#include <jansson.h>

#include "fuzz_common.h"

#include "aigw_keys.h"
#include "aigw_prices.h"
#include "aigw_sha256.h"


static size_t
fz_count(const u_char *p, size_t len, const char *s)
{
    size_t         n, sl;
    const u_char  *q, *end;

    n = 0;
    sl = strlen(s);
    end = p + len;

    for (q = p; (q = memmem(q, end - q, s, sl)) != NULL; q++) {
        n++;
    }

    return n;
}


static void
fz_check_secret_absent(const u_char *p, size_t len, const char *err)
{
    size_t        i;
    json_t       *root, *k, *s;
    json_error_t  jerr;

    root = json_loadb((const char *) p, len, JSON_ALLOW_NUL, &jerr);
    if (root == NULL) {
        return;
    }

    json_array_foreach(json_object_get(root, "keys"), i, k) {
        s = json_object_get(k, "key");

        /*
         * A secret whose text also occurs elsewhere in the file (in a
         * field name the message may quote) is not the parser's leak.
         */
        if (json_is_string(s) && json_string_length(s) >= 4
            && strlen(json_string_value(s)) == json_string_length(s)
            && fz_count(p, len, json_string_value(s)) == 1)
        {
            FZ_CHECK("keys-secret", strstr(err, json_string_value(s)) == NULL,
                     "the error message shows a secret: %s", err);
        }
    }

    json_decref(root);
}


static void
fz_keys(const u_char *p, size_t len, fz_in_t *look)
{
    int                  rc;
    size_t               i, j;
    char                 err[256];
    u_char               addr[16];
    aigw_keyset_t       *ks;
    const aigw_key_t    *k;
    const aigw_tenant_t *t;

    ks = NULL;
    memset(err, 'x', sizeof(err));

    rc = aigw_keys_parse(p, len, &ks, err, sizeof(err));

    FZ_CHECK("keys-err", memchr(err, '\0', sizeof(err)) != NULL,
             "the error message is not NUL-terminated");

    if (rc != 0) {
        FZ_CHECK("keys-err", rc == -1 && err[0] != '\0' && ks == NULL,
                 "a failure (%d) without a message", rc);
        fz_check_secret_absent(p, len, err);
        return;
    }

    FZ_CHECK("keys-err", ks != NULL, "a success without a keyset");

    for (i = 0; i < ks->nkeys; i++) {
        k = &ks->keys[i];

        FZ_CHECK("keys-find", aigw_keys_find(ks, k->hash) == k,
                 "key %zu is not found by its hash", i);

        for (j = 0; j < k->nmodels; j++) {
            FZ_CHECK("keys-model",
                     aigw_key_model_allowed(k, k->models[j].name,
                                            k->models[j].len),
                     "key %zu does not admit its own pattern %zu", i, j);
        }

        for (j = 0; j < k->nmodel_limits; j++) {
            FZ_CHECK("keys-model",
                     aigw_key_model_limits(k, k->model_limits[j].model,
                                           k->model_limits[j].model_len)
                     != NULL,
                     "key %zu: model limits %zu not found", i, j);
        }

        for (j = 0; j < 16; j++) {
            addr[j] = fz_byte(look);
        }

        (void) aigw_key_ip_allowed(k, AF_INET, addr);
        (void) aigw_key_ip_allowed(k, AF_INET6, addr);

        /* an IPv4-mapped IPv6 address */
        memset(addr, 0, 10);
        addr[10] = 0xff;
        addr[11] = 0xff;
        (void) aigw_key_ip_allowed(k, AF_INET6, addr);

        (void) aigw_key_model_allowed(k, p, len < 300 ? len : 300);

        if (k->tenant) {
            t = aigw_keys_find_tenant(ks, (u_char *) k->tenant->name,
                                      k->tenant->name_len);

            FZ_CHECK("keys-find", t == k->tenant,
                     "key %zu: its tenant is not found by name", i);
        }
    }

    for (i = 0; i < ks->ntenants; i++) {
        t = aigw_keys_find_tenant(ks, (u_char *) ks->tenants[i].name,
                                  ks->tenants[i].name_len);

        FZ_CHECK("keys-find", t == &ks->tenants[i],
                 "tenant %zu is not found by its name", i);
    }

    aigw_keys_free(ks);
}


static void
fz_price_ok(const aigw_price_t *pr)
{
    FZ_CHECK("prices-range", pr->input >= 0 && pr->input <= 1000000000000LL
             && pr->output >= 0 && pr->output <= 1000000000000LL
             && pr->cached_input >= 0
             && pr->cached_input <= 1000000000000LL
             && pr->cache_write >= 0
             && pr->cache_write <= 1000000000000LL,
             "a price out of 0..1e12");
}


static void
fz_prices(const u_char *p, size_t len)
{
    int                 rc;
    size_t              i;
    char                err[256], name[AIGW_PRICES_MODEL_MAX + 2];
    aigw_prices_t      *pt;
    const aigw_price_t *pr;

    pt = NULL;
    memset(err, 'x', sizeof(err));

    rc = aigw_prices_parse(p, len, &pt, err, sizeof(err));

    FZ_CHECK("prices-err", memchr(err, '\0', sizeof(err)) != NULL,
             "the error message is not NUL-terminated");

    if (rc != 0) {
        FZ_CHECK("prices-err", rc == -1 && err[0] != '\0',
                 "a failure (%d) without a message", rc);
        return;
    }

    for (i = 0; i < pt->nexact; i++) {
        pr = aigw_prices_find(pt, (u_char *) pt->exact[i].name,
                              pt->exact[i].len);

        FZ_CHECK("prices-find", pr == &pt->exact[i].price,
                 "exact model %zu not found by its name", i);
        fz_price_ok(pr);
    }

    for (i = 0; i < pt->nprefixes; i++) {
        FZ_CHECK("prices-find", pt->prefixes[i].len < sizeof(name) - 1,
                 "a prefix of %zu bytes", pt->prefixes[i].len);

        memcpy(name, pt->prefixes[i].name, pt->prefixes[i].len);
        name[pt->prefixes[i].len] = '\x01';

        pr = aigw_prices_find(pt, (u_char *) name, pt->prefixes[i].len + 1);

        FZ_CHECK("prices-find", pr != NULL,
                 "no price for prefix %zu + a byte", i);
        fz_price_ok(pr);
    }

    pr = aigw_prices_find(pt, p, len < 300 ? len : 300);

    if (pr) {
        fz_price_ok(pr);
    }

    if (pt->has_any) {
        fz_price_ok(&pt->any);
    }

    aigw_prices_free(pt);
}


static void
fz_misc(const u_char *p, size_t len, fz_in_t *look)
{
    size_t              off, n, step;
    int64_t             t;
    u_char              h1[32], h2[32], h3[32], hex[64], back[32];
    aigw_sha256_ctx_t   ctx;

    if (aigw_parse_rfc3339(p, len, &t) == 0) {
        FZ_CHECK("rfc3339", t >= -62135596800LL - 86400 * 2
                 && t <= 253402300799LL + 86400 * 2,
                 "a date out of years 1..9999: %lld", (long long) t);
    }

    aigw_sha256(p, len, h1);

    step = (fz_byte(look) % 130) + 1;

    aigw_sha256_init(&ctx);

    for (off = 0; off < len; off += n) {
        n = (len - off < step) ? len - off : step;
        aigw_sha256_update(&ctx, p + off, n);
    }

    aigw_sha256_final(&ctx, h2);

    FZ_CHECK("sha256", memcmp(h1, h2, 32) == 0,
             "SHA-256 in pieces of %zu differs from whole", step);

    {
        int  saved = aigw_sha256_use_ni;

        aigw_sha256_use_ni = 0;
        aigw_sha256(p, len, h3);
        aigw_sha256_use_ni = saved;
    }

    FZ_CHECK("sha256", memcmp(h1, h3, 32) == 0,
             "SHA-256 differs between the SHA-NI and portable rounds");

    aigw_hex_encode(hex, h1, 32);

    FZ_CHECK("hex", aigw_hex_decode(back, hex, 32) == 0
             && memcmp(back, h1, 32) == 0, "hex does not round trip");

    if (len >= 64) {
        (void) aigw_hex_decode(back, p, 32);
    }
}


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
    u_char   *p;
    uint8_t   mode;
    fz_in_t   in, look;

    in.p = data;
    in.n = size;

    mode = fz_byte(&in) % 3;

    look.p = in.p;
    look.n = in.n < 8 ? in.n : 8;
    in.p += look.n;
    in.n -= look.n;

    p = fz_dup(in.p, in.n);

    switch (mode) {
    case 0:
        fz_keys(p, in.n, &look);
        break;
    case 1:
        fz_prices(p, in.n);
        break;
    default:
        fz_misc(p, in.n, &look);
        break;
    }

    free(p);

    return 0;
}
