
/*
 * aigw: API keys file parser and key lookup.
 */


#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "aigw_keys.h"
#include "aigw_sha256.h"


#if (AIGW_SHA256_LEN != AIGW_KEY_HASH_LEN)
#error "AIGW_KEY_HASH_LEN must equal AIGW_SHA256_LEN"
#endif


/* "keys[N]", "keys[N].limits", "keys[N] (\"<name>\")" */
#define AIGW_KEYS_BASE_LEN   32
#define AIGW_KEYS_WHERE_LEN  48
#define AIGW_KEYS_LABEL_LEN  (AIGW_KEYS_BASE_LEN + AIGW_KEY_NAME_MAX + 8)

/* model names in messages are truncated to fit */
#define AIGW_KEYS_PRINT_LEN  80
#define AIGW_KEYS_PATH_LEN   (AIGW_KEYS_WHERE_LEN + AIGW_KEYS_PRINT_LEN + 16)


typedef struct {
    aigw_keyset_t  *ks;
    char           *err;
    size_t          err_len;
} aigw_keys_ctx_t;


static void aigw_keys_error(aigw_keys_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *aigw_keys_printable(const char *s, char *buf,
    size_t size);
static void aigw_keys_wipe(void *p, size_t n);
static void aigw_keys_wipe_secrets(json_t *root);
static int aigw_keys_check_fields(aigw_keys_ctx_t *ctx, json_t *obj,
    const char *where, const char *const *allowed);
static int aigw_keys_parse_name(aigw_keys_ctx_t *ctx, json_t *obj,
    const char *where, char **name, size_t *len);
static int aigw_keys_parse_u32(aigw_keys_ctx_t *ctx, json_t *v,
    const char *where, const char *field, uint32_t *out);
static int aigw_keys_parse_limits(aigw_keys_ctx_t *ctx, json_t *v,
    const char *where, aigw_limits_t *limits, aigw_key_t *k);
static int aigw_keys_parse_model_limits(aigw_keys_ctx_t *ctx, json_t *v,
    const char *where, aigw_key_t *k);
static int aigw_keys_parse_budget(aigw_keys_ctx_t *ctx, json_t *v,
    const char *where, aigw_budget_t *budget);
static int aigw_keys_parse_tenant(aigw_keys_ctx_t *ctx, json_t *obj,
    size_t i, aigw_tenant_t *t);
static int aigw_keys_parse_key(aigw_keys_ctx_t *ctx, json_t *obj, size_t i,
    aigw_key_t *k);
static int aigw_keys_parse_secret(aigw_keys_ctx_t *ctx, json_t *obj,
    const char *label, aigw_key_t *k);
static int aigw_keys_parse_models(aigw_keys_ctx_t *ctx, json_t *v,
    const char *label, aigw_key_t *k);
static int aigw_keys_parse_expires(aigw_keys_ctx_t *ctx, json_t *v,
    const char *label, aigw_key_t *k);
static int aigw_keys_parse_ips(aigw_keys_ctx_t *ctx, json_t *v,
    const char *label, aigw_key_t *k);
static int aigw_keys_parse_cidr(const char *s, size_t len, aigw_cidr_t *c,
    const char **reason);
static int aigw_keys_check_tenants(aigw_keys_ctx_t *ctx);
static int aigw_keys_check_keys(aigw_keys_ctx_t *ctx);
static int aigw_keys_cmp_key_name(const void *a, const void *b);
static int aigw_keys_cmp_key_hash_ptr(const void *a, const void *b);
static int aigw_keys_cmp_key_hash(const void *a, const void *b);
static int aigw_keys_cmp_tenant_name_ptr(const void *a, const void *b);
static int aigw_keys_cmp_tenant_name(const void *a, const void *b);
static int aigw_keys_cmp_ptr(const void *a, const void *b);
static int64_t aigw_days_from_civil(int y, int m, int d);
static int aigw_is_leap(int y);
static int aigw_parse_digits(const u_char *p, size_t n, int *out);


static const char *const  aigw_keys_top_fields[] = {
    "tenants", "keys", NULL
};

static const char *const  aigw_keys_tenant_fields[] = {
    "name", "limits", "budget", NULL
};

static const char *const  aigw_keys_key_fields[] = {
    "name", "key", "sha256", "tenant", "models", "expires", "enabled",
    "ips", "limits", "budget", NULL
};

static const char *const  aigw_keys_limits_fields[] = {
    "rpm", "tpm", "concurrency", NULL
};

static const char *const  aigw_keys_key_limits_fields[] = {
    "rpm", "tpm", "concurrency", "models", NULL
};

static const char *const  aigw_keys_budget_fields[] = {
    "usd", "period", NULL
};


int
aigw_keys_parse(const u_char *data, size_t len, aigw_keyset_t **out,
    char *err, size_t err_len)
{
    size_t            i, n;
    json_t           *root, *keys, *tenants, *v;
    const char       *p;
    json_error_t      jerr;
    aigw_keyset_t    *ks;
    aigw_keys_ctx_t   ctx;

    ctx.ks = NULL;
    ctx.err = err;
    ctx.err_len = err_len;

    if (err_len) {
        err[0] = '\0';
    }

    root = json_loadb((const char *) data, len, JSON_REJECT_DUPLICATES,
                      &jerr);
    if (root == NULL) {
        /*
         * jansson appends " near '<token>'", which may be a piece of a
         * secret (e.g. an unterminated string); keep it only for
         * duplicate object keys, where the token is a field name
         */
        p = strstr(jerr.text, " near '");
        n = p ? (size_t) (p - jerr.text) : strlen(jerr.text);

        if (json_error_code(&jerr) == json_error_duplicate_key) {
            n = strlen(jerr.text);
        }

        aigw_keys_error(&ctx, "line %d, column %d: %.*s",
                        jerr.line, jerr.column, (int) n, jerr.text);
        aigw_keys_wipe(&jerr, sizeof(jerr));
        return -1;
    }

    ks = calloc(1, sizeof(aigw_keyset_t));
    if (ks == NULL) {
        aigw_keys_error(&ctx, "out of memory");
        goto failed;
    }

    ctx.ks = ks;

    if (!json_is_object(root)) {
        aigw_keys_error(&ctx, "top level must be a JSON object");
        goto failed;
    }

    if (aigw_keys_check_fields(&ctx, root, "top level", aigw_keys_top_fields)
        != 0)
    {
        goto failed;
    }

    tenants = json_object_get(root, "tenants");

    if (tenants != NULL) {
        if (!json_is_array(tenants)) {
            aigw_keys_error(&ctx, "\"tenants\" must be an array");
            goto failed;
        }

        n = json_array_size(tenants);

        if (n) {
            ks->tenants = calloc(n, sizeof(aigw_tenant_t));
            if (ks->tenants == NULL) {
                aigw_keys_error(&ctx, "out of memory");
                goto failed;
            }

            ks->ntenants = n;
        }

        json_array_foreach(tenants, i, v) {
            if (aigw_keys_parse_tenant(&ctx, v, i, &ks->tenants[i]) != 0) {
                goto failed;
            }
        }
    }

    keys = json_object_get(root, "keys");

    if (keys == NULL) {
        aigw_keys_error(&ctx, "missing \"keys\"");
        goto failed;
    }

    if (!json_is_array(keys)) {
        aigw_keys_error(&ctx, "\"keys\" must be an array");
        goto failed;
    }

    /* tenants are sorted here, before keys refer to them */

    if (aigw_keys_check_tenants(&ctx) != 0) {
        goto failed;
    }

    n = json_array_size(keys);

    if (n) {
        ks->keys = calloc(n, sizeof(aigw_key_t));
        if (ks->keys == NULL) {
            aigw_keys_error(&ctx, "out of memory");
            goto failed;
        }

        ks->nkeys = n;
    }

    json_array_foreach(keys, i, v) {
        if (aigw_keys_parse_key(&ctx, v, i, &ks->keys[i]) != 0) {
            goto failed;
        }
    }

    if (aigw_keys_check_keys(&ctx) != 0) {
        goto failed;
    }

    aigw_keys_wipe_secrets(root);
    json_decref(root);

    *out = ks;

    return 0;

failed:

    aigw_keys_wipe_secrets(root);
    json_decref(root);
    aigw_keys_free(ks);

    return -1;
}


void
aigw_keys_free(aigw_keyset_t *ks)
{
    size_t       i, j;
    aigw_key_t  *k;

    if (ks == NULL) {
        return;
    }

    for (i = 0; i < ks->nkeys; i++) {
        k = &ks->keys[i];

        free(k->name);

        for (j = 0; j < k->nmodels; j++) {
            free(k->models[j].name);
        }

        free(k->models);

        for (j = 0; j < k->nmodel_limits; j++) {
            free(k->model_limits[j].model);
        }

        free(k->model_limits);
        free(k->ips);

        /* the hash is as good as the secret against this gateway */
        aigw_keys_wipe(k->hash, sizeof(k->hash));
    }

    free(ks->keys);

    for (i = 0; i < ks->ntenants; i++) {
        free(ks->tenants[i].name);
    }

    free(ks->tenants);
    free(ks);
}


const aigw_key_t *
aigw_keys_find(const aigw_keyset_t *ks, const u_char hash[AIGW_KEY_HASH_LEN])
{
    int     rc;
    size_t  lo, hi, mid;

    lo = 0;
    hi = ks->nkeys;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        rc = memcmp(hash, ks->keys[mid].hash, AIGW_KEY_HASH_LEN);

        if (rc == 0) {
            return &ks->keys[mid];
        }

        if (rc < 0) {
            hi = mid;

        } else {
            lo = mid + 1;
        }
    }

    return NULL;
}


const aigw_tenant_t *
aigw_keys_find_tenant(const aigw_keyset_t *ks, const u_char *name,
    size_t len)
{
    int             rc;
    size_t          lo, hi, mid;
    aigw_tenant_t  *t;

    lo = 0;
    hi = ks->ntenants;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;
        t = &ks->tenants[mid];

        /* same order as strcmp() on the NUL-terminated names */
        rc = memcmp(name, t->name, len < t->name_len ? len : t->name_len);

        if (rc == 0) {
            rc = (len > t->name_len) - (len < t->name_len);
        }

        if (rc == 0) {
            return t;
        }

        if (rc < 0) {
            hi = mid;

        } else {
            lo = mid + 1;
        }
    }

    return NULL;
}


int
aigw_key_model_allowed(const aigw_key_t *k, const u_char *model, size_t len)
{
    size_t                       i;
    const aigw_model_pattern_t  *p;

    if (k->all_models) {
        return 1;
    }

    for (i = 0; i < k->nmodels; i++) {
        p = &k->models[i];

        if (p->prefix) {
            if (len >= p->len && memcmp(model, p->name, p->len) == 0) {
                return 1;
            }

        } else if (len == p->len && memcmp(model, p->name, len) == 0) {
            return 1;
        }
    }

    return 0;
}


const aigw_limits_t *
aigw_key_model_limits(const aigw_key_t *k, const u_char *model, size_t len)
{
    size_t                      i;
    const aigw_model_limits_t  *ml;

    for (i = 0; i < k->nmodel_limits; i++) {
        ml = &k->model_limits[i];

        if (ml->model_len == len && memcmp(ml->model, model, len) == 0) {
            return &ml->limits;
        }
    }

    return NULL;
}


int
aigw_key_ip_allowed(const aigw_key_t *k, int family, const u_char *addr)
{
    size_t              i, j, n;
    const aigw_cidr_t  *c;

    static const u_char  v4mapped[12] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
    };

    if (k->nips == 0) {
        return 1;
    }

    if (family == AF_INET6 && memcmp(addr, v4mapped, 12) == 0) {
        family = AF_INET;
        addr += 12;
    }

    if (family != AF_INET && family != AF_INET6) {
        return 0;
    }

    n = (family == AF_INET) ? 4 : 16;

    for (i = 0; i < k->nips; i++) {
        c = &k->ips[i];

        if (c->family != family) {
            continue;
        }

        for (j = 0; j < n; j++) {
            if ((addr[j] & c->mask[j]) != c->addr[j]) {
                break;
            }
        }

        if (j == n) {
            return 1;
        }
    }

    return 0;
}


int
aigw_parse_rfc3339(const u_char *s, size_t len, int64_t *out)
{
    int          year, mon, mday, hour, min, sec, oh, om, sign, mdays;
    size_t       i;
    int64_t      t;

    static const int  days_in_month[] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    /* "YYYY-MM-DDTHH:MM:SS" is 19 characters, plus at least "Z" */

    if (len < 20
        || aigw_parse_digits(s, 4, &year) != 0 || s[4] != '-'
        || aigw_parse_digits(s + 5, 2, &mon) != 0 || s[7] != '-'
        || aigw_parse_digits(s + 8, 2, &mday) != 0
        || (s[10] != 'T' && s[10] != 't')
        || aigw_parse_digits(s + 11, 2, &hour) != 0 || s[13] != ':'
        || aigw_parse_digits(s + 14, 2, &min) != 0 || s[16] != ':'
        || aigw_parse_digits(s + 17, 2, &sec) != 0)
    {
        return -1;
    }

    i = 19;

    /* fractional seconds are allowed by RFC 3339 but do not matter here */

    if (s[i] == '.') {
        i++;

        if (i == len || s[i] < '0' || s[i] > '9') {
            return -1;
        }

        while (i < len && s[i] >= '0' && s[i] <= '9') {
            i++;
        }

        if (i == len) {
            return -1;
        }
    }

    if (s[i] == 'Z' || s[i] == 'z') {
        if (i + 1 != len) {
            return -1;
        }

        oh = 0;
        om = 0;
        sign = 1;

    } else if (s[i] == '+' || s[i] == '-') {
        if (i + 6 != len
            || aigw_parse_digits(s + i + 1, 2, &oh) != 0
            || s[i + 3] != ':'
            || aigw_parse_digits(s + i + 4, 2, &om) != 0
            || oh > 23 || om > 59)
        {
            return -1;
        }

        sign = (s[i] == '+') ? 1 : -1;

    } else {
        return -1;
    }

    if (year < 1 || mon < 1 || mon > 12 || mday < 1) {
        return -1;
    }

    mdays = days_in_month[mon - 1] + (mon == 2 && aigw_is_leap(year));

    /* a leap second (":60") is only allowed at the end of a minute */

    if (mday > mdays || hour > 23 || min > 59 || sec > 60) {
        return -1;
    }

    t = aigw_days_from_civil(year, mon, mday) * 86400
        + hour * 3600 + min * 60 + sec;

    /* local time minus the offset is UTC */

    t -= sign * (oh * 3600 + om * 60);

    *out = t;

    return 0;
}


static int
aigw_keys_parse_tenant(aigw_keys_ctx_t *ctx, json_t *obj, size_t i,
    aigw_tenant_t *t)
{
    json_t  *v;
    char     base[AIGW_KEYS_BASE_LEN], where[AIGW_KEYS_WHERE_LEN];

    t->budget.micro_usd = -1;
    t->budget.period = AIGW_BUDGET_TOTAL;

    snprintf(base, sizeof(base), "tenants[%zu]", i);

    if (!json_is_object(obj)) {
        aigw_keys_error(ctx, "%s: must be an object", base);
        return -1;
    }

    if (aigw_keys_check_fields(ctx, obj, base, aigw_keys_tenant_fields)
        != 0)
    {
        return -1;
    }

    if (aigw_keys_parse_name(ctx, obj, base, &t->name, &t->name_len) != 0) {
        return -1;
    }

    v = json_object_get(obj, "limits");

    if (v != NULL) {
        snprintf(where, sizeof(where), "%s.limits", base);

        if (aigw_keys_parse_limits(ctx, v, where, &t->limits, NULL) != 0) {
            return -1;
        }
    }

    v = json_object_get(obj, "budget");

    if (v != NULL) {
        snprintf(where, sizeof(where), "%s.budget", base);

        if (aigw_keys_parse_budget(ctx, v, where, &t->budget) != 0) {
            return -1;
        }
    }

    return 0;
}


static int
aigw_keys_parse_key(aigw_keys_ctx_t *ctx, json_t *obj, size_t i,
    aigw_key_t *k)
{
    json_t               *v;
    const char           *s;
    aigw_keyset_t        *ks;
    const aigw_tenant_t  *t;
    char                  base[AIGW_KEYS_BASE_LEN];
    char                  label[AIGW_KEYS_LABEL_LEN];
    char                  where[AIGW_KEYS_WHERE_LEN];
    char                  buf[AIGW_KEYS_PRINT_LEN];

    ks = ctx->ks;

    k->enabled = 1;
    k->all_models = 1;
    k->budget.micro_usd = -1;
    k->budget.period = AIGW_BUDGET_TOTAL;

    /* "base" prefixes nested paths, "label" also names the key */

    snprintf(base, sizeof(base), "keys[%zu]", i);

    if (!json_is_object(obj)) {
        aigw_keys_error(ctx, "%s: must be an object", base);
        return -1;
    }

    if (aigw_keys_check_fields(ctx, obj, base, aigw_keys_key_fields) != 0) {
        return -1;
    }

    if (aigw_keys_parse_name(ctx, obj, base, &k->name, &k->name_len) != 0) {
        return -1;
    }

    snprintf(label, sizeof(label), "%s (\"%s\")", base, k->name);

    if (aigw_keys_parse_secret(ctx, obj, label, k) != 0) {
        return -1;
    }

    v = json_object_get(obj, "tenant");

    if (v != NULL) {
        if (!json_is_string(v)) {
            aigw_keys_error(ctx, "%s: \"tenant\" must be a string", label);
            return -1;
        }

        s = json_string_value(v);

        t = aigw_keys_find_tenant(ks, (const u_char *) s,
                                  json_string_length(v));
        if (t == NULL) {
            aigw_keys_error(ctx, "%s: unknown tenant \"%s\"", label,
                            aigw_keys_printable(s, buf, sizeof(buf)));
            return -1;
        }

        k->tenant = (aigw_tenant_t *) t;
    }

    v = json_object_get(obj, "models");

    if (v != NULL && aigw_keys_parse_models(ctx, v, label, k) != 0) {
        return -1;
    }

    v = json_object_get(obj, "expires");

    if (v != NULL && aigw_keys_parse_expires(ctx, v, label, k) != 0) {
        return -1;
    }

    v = json_object_get(obj, "enabled");

    if (v != NULL) {
        if (!json_is_boolean(v)) {
            aigw_keys_error(ctx, "%s: \"enabled\" must be true or false",
                            label);
            return -1;
        }

        k->enabled = json_is_true(v) ? 1 : 0;
    }

    v = json_object_get(obj, "ips");

    if (v != NULL && aigw_keys_parse_ips(ctx, v, label, k) != 0) {
        return -1;
    }

    v = json_object_get(obj, "limits");

    if (v != NULL) {
        snprintf(where, sizeof(where), "%s.limits", base);

        if (aigw_keys_parse_limits(ctx, v, where, &k->limits, k) != 0) {
            return -1;
        }
    }

    v = json_object_get(obj, "budget");

    if (v != NULL) {
        snprintf(where, sizeof(where), "%s.budget", base);

        if (aigw_keys_parse_budget(ctx, v, where, &k->budget) != 0) {
            return -1;
        }
    }

    return 0;
}


static int
aigw_keys_parse_secret(aigw_keys_ctx_t *ctx, json_t *obj, const char *label,
    aigw_key_t *k)
{
    size_t       i, n;
    json_t      *key, *sha;
    const char  *s;

    key = json_object_get(obj, "key");
    sha = json_object_get(obj, "sha256");

    if (key != NULL && sha != NULL) {
        aigw_keys_error(ctx, "%s: \"key\" and \"sha256\" are mutually "
                        "exclusive", label);
        return -1;
    }

    if (key == NULL && sha == NULL) {
        aigw_keys_error(ctx, "%s: one of \"key\" or \"sha256\" is required",
                        label);
        return -1;
    }

    if (key != NULL) {
        if (!json_is_string(key)) {
            goto bad_key;
        }

        s = json_string_value(key);
        n = json_string_length(key);

        if (n < AIGW_KEY_SECRET_MIN || n > AIGW_KEY_SECRET_MAX) {
            goto bad_key;
        }

        for (i = 0; i < n; i++) {
            if (s[i] <= ' ' || s[i] > '~') {
                goto bad_key;
            }
        }

        aigw_sha256((const u_char *) s, n, k->hash);

        return 0;
    }

    if (!json_is_string(sha)
        || json_string_length(sha) != 2 * AIGW_KEY_HASH_LEN
        || aigw_hex_decode(k->hash, (const u_char *) json_string_value(sha),
                           AIGW_KEY_HASH_LEN)
           != 0)
    {
        aigw_keys_error(ctx, "%s: \"sha256\" must be 64 hex characters",
                        label);
        return -1;
    }

    return 0;

bad_key:

    aigw_keys_error(ctx, "%s: \"key\" must be a string of %d..%d printable "
                    "ASCII characters without spaces", label,
                    AIGW_KEY_SECRET_MIN, AIGW_KEY_SECRET_MAX);
    return -1;
}


static int
aigw_keys_parse_models(aigw_keys_ctx_t *ctx, json_t *v, const char *label,
    aigw_key_t *k)
{
    size_t                 i, j, n, len;
    json_t                *m;
    const char            *s;
    aigw_model_pattern_t  *p;
    char                   buf[AIGW_KEYS_PRINT_LEN];

    if (!json_is_array(v) || json_array_size(v) == 0) {
        aigw_keys_error(ctx, "%s: \"models\" must be a non-empty array of "
                        "strings (omit it to allow all models)", label);
        return -1;
    }

    n = json_array_size(v);

    k->models = calloc(n, sizeof(aigw_model_pattern_t));
    if (k->models == NULL) {
        aigw_keys_error(ctx, "out of memory");
        return -1;
    }

    k->all_models = 0;

    json_array_foreach(v, i, m) {
        if (!json_is_string(m)
            || json_string_length(m) == 0
            || json_string_length(m) > AIGW_KEY_MODEL_MAX)
        {
            aigw_keys_error(ctx, "%s: models[%zu] must be a string of "
                            "1..%d characters", label, i,
                            AIGW_KEY_MODEL_MAX);
            return -1;
        }

        s = json_string_value(m);
        len = json_string_length(m);

        for (j = 0; j < len; j++) {
            if ((u_char) s[j] < ' ' || s[j] == 0x7f) {
                aigw_keys_error(ctx, "%s: models[%zu] contains a control "
                                "character", label, i);
                return -1;
            }

            if (s[j] == '*' && j != len - 1) {
                aigw_keys_error(ctx, "%s: models[%zu] \"%s\": \"*\" is only "
                                "allowed as the last character", label, i,
                                aigw_keys_printable(s, buf, sizeof(buf)));
                return -1;
            }
        }

        if (len == 1 && s[0] == '*') {
            k->all_models = 1;
            continue;
        }

        p = &k->models[k->nmodels];

        if (s[len - 1] == '*') {
            p->prefix = 1;
            len--;
        }

        p->name = malloc(len + 1);
        if (p->name == NULL) {
            aigw_keys_error(ctx, "out of memory");
            return -1;
        }

        memcpy(p->name, s, len);
        p->name[len] = '\0';
        p->len = len;

        k->nmodels++;
    }

    return 0;
}


static int
aigw_keys_parse_expires(aigw_keys_ctx_t *ctx, json_t *v, const char *label,
    aigw_key_t *k)
{
    int64_t  t;

    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0) {
            aigw_keys_error(ctx, "%s: \"expires\" must not be negative",
                            label);
            return -1;
        }

        k->expires = json_integer_value(v);
        return 0;
    }

    if (!json_is_string(v)
        || aigw_parse_rfc3339((const u_char *) json_string_value(v),
                              json_string_length(v), &t)
           != 0)
    {
        aigw_keys_error(ctx, "%s: \"expires\" must be a Unix time or a valid "
                        "RFC 3339 date like \"2027-01-01T00:00:00Z\"",
                        label);
        return -1;
    }

    /* 0 would mean "never" */

    if (t <= 0) {
        aigw_keys_error(ctx, "%s: \"expires\" must be after "
                        "1970-01-01T00:00:00Z", label);
        return -1;
    }

    k->expires = t;

    return 0;
}


static int
aigw_keys_parse_ips(aigw_keys_ctx_t *ctx, json_t *v, const char *label,
    aigw_key_t *k)
{
    size_t       i, n;
    json_t      *ip;
    const char  *reason;
    char         buf[AIGW_KEYS_PRINT_LEN];

    if (!json_is_array(v) || json_array_size(v) == 0) {
        aigw_keys_error(ctx, "%s: \"ips\" must be a non-empty array of "
                        "strings (omit it to allow any address)", label);
        return -1;
    }

    n = json_array_size(v);

    k->ips = calloc(n, sizeof(aigw_cidr_t));
    if (k->ips == NULL) {
        aigw_keys_error(ctx, "out of memory");
        return -1;
    }

    json_array_foreach(v, i, ip) {
        if (!json_is_string(ip)) {
            aigw_keys_error(ctx, "%s: ips[%zu] must be a string", label, i);
            return -1;
        }

        if (aigw_keys_parse_cidr(json_string_value(ip),
                                 json_string_length(ip), &k->ips[i], &reason)
            != 0)
        {
            aigw_keys_error(ctx, "%s: ips[%zu] \"%s\": %s", label, i,
                            aigw_keys_printable(json_string_value(ip), buf,
                                                sizeof(buf)),
                            reason);
            return -1;
        }

        k->nips++;
    }

    return 0;
}


static int
aigw_keys_parse_cidr(const char *s, size_t len, aigw_cidr_t *c,
    const char **reason)
{
    int          bits, max;
    size_t       i, n, alen;
    const char  *slash;
    char         buf[INET6_ADDRSTRLEN + 1];

    static const u_char  v4mapped[12] = {
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
    };

    *reason = "invalid IP address or CIDR";

    slash = memchr(s, '/', len);
    alen = slash ? (size_t) (slash - s) : len;

    if (alen == 0 || alen >= sizeof(buf)) {
        return -1;
    }

    memcpy(buf, s, alen);
    buf[alen] = '\0';

    if (memchr(buf, ':', alen) != NULL) {
        c->family = AF_INET6;
        max = 128;

    } else {
        c->family = AF_INET;
        max = 32;
    }

    if (inet_pton(c->family, buf, c->addr) != 1) {
        return -1;
    }

    bits = max;

    if (slash != NULL) {
        n = len - alen - 1;

        if (n == 0 || n > 3) {
            *reason = "invalid prefix length";
            return -1;
        }

        bits = 0;

        for (i = 0; i < n; i++) {
            if (slash[1 + i] < '0' || slash[1 + i] > '9') {
                *reason = "invalid prefix length";
                return -1;
            }

            bits = bits * 10 + (slash[1 + i] - '0');
        }

        if (bits > max) {
            *reason = (max == 32) ? "prefix length must be 0..32"
                                  : "prefix length must be 0..128";
            return -1;
        }
    }

    /* an IPv4-mapped entry is matched like the IPv4 one it stands for */

    if (c->family == AF_INET6 && bits >= 96
        && memcmp(c->addr, v4mapped, 12) == 0)
    {
        c->family = AF_INET;
        memmove(c->addr, c->addr + 12, 4);
        memset(c->addr + 4, 0, 12);
        bits -= 96;
    }

    memset(c->mask, 0, sizeof(c->mask));

    for (i = 0; bits > 0; i++, bits -= 8) {
        c->mask[i] = (bits >= 8) ? 0xff : (u_char) (0xff << (8 - bits));
    }

    for (i = 0; i < sizeof(c->addr); i++) {
        c->addr[i] &= c->mask[i];
    }

    return 0;
}


static int
aigw_keys_parse_name(aigw_keys_ctx_t *ctx, json_t *obj, const char *where,
    char **name, size_t *len)
{
    size_t       i, n;
    json_t      *v;
    const char  *s;

    v = json_object_get(obj, "name");

    if (v == NULL) {
        aigw_keys_error(ctx, "%s: missing \"name\"", where);
        return -1;
    }

    if (!json_is_string(v)) {
        goto invalid;
    }

    s = json_string_value(v);
    n = json_string_length(v);

    if (n == 0 || n > AIGW_KEY_NAME_MAX) {
        goto invalid;
    }

    for (i = 0; i < n; i++) {
        if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
            || (s[i] >= '0' && s[i] <= '9')
            || s[i] == '.' || s[i] == '_' || s[i] == '@' || s[i] == '-')
        {
            continue;
        }

        goto invalid;
    }

    *name = malloc(n + 1);
    if (*name == NULL) {
        aigw_keys_error(ctx, "out of memory");
        return -1;
    }

    memcpy(*name, s, n + 1);
    *len = n;

    return 0;

invalid:

    aigw_keys_error(ctx, "%s: \"name\" must be 1..%d characters of "
                    "A-Z a-z 0-9 . _ @ -", where, AIGW_KEY_NAME_MAX);
    return -1;
}


static int
aigw_keys_parse_limits(aigw_keys_ctx_t *ctx, json_t *v, const char *where,
    aigw_limits_t *limits, aigw_key_t *k)
{
    json_t  *m;

    if (!json_is_object(v)) {
        aigw_keys_error(ctx, "%s: must be an object", where);
        return -1;
    }

    /* per-model limits exist for keys only */

    if (aigw_keys_check_fields(ctx, v, where,
                               k ? aigw_keys_key_limits_fields
                                 : aigw_keys_limits_fields)
        != 0)
    {
        return -1;
    }

    if (aigw_keys_parse_u32(ctx, json_object_get(v, "rpm"), where, "rpm",
                            &limits->rpm) != 0
        || aigw_keys_parse_u32(ctx, json_object_get(v, "tpm"), where, "tpm",
                               &limits->tpm) != 0
        || aigw_keys_parse_u32(ctx, json_object_get(v, "concurrency"), where,
                               "concurrency", &limits->concurrency) != 0)
    {
        return -1;
    }

    m = json_object_get(v, "models");

    if (k != NULL && m != NULL) {
        return aigw_keys_parse_model_limits(ctx, m, where, k);
    }

    return 0;
}


static int
aigw_keys_parse_model_limits(aigw_keys_ctx_t *ctx, json_t *v,
    const char *where, aigw_key_t *k)
{
    size_t                n, len;
    json_t               *l;
    const char           *model;
    aigw_model_limits_t  *ml;
    char                  path[AIGW_KEYS_PATH_LEN];
    char                  buf[AIGW_KEYS_PRINT_LEN];

    if (!json_is_object(v)) {
        aigw_keys_error(ctx, "%s.models: must be an object", where);
        return -1;
    }

    n = json_object_size(v);

    if (n == 0) {
        return 0;
    }

    k->model_limits = calloc(n, sizeof(aigw_model_limits_t));
    if (k->model_limits == NULL) {
        aigw_keys_error(ctx, "out of memory");
        return -1;
    }

    json_object_foreach(v, model, l) {
        len = strlen(model);

        snprintf(path, sizeof(path), "%s.models[\"%s\"]", where,
                 aigw_keys_printable(model, buf, sizeof(buf)));

        if (len == 0 || len > AIGW_KEY_MODEL_MAX) {
            aigw_keys_error(ctx, "%s: model name must be 1..%d characters",
                            path, AIGW_KEY_MODEL_MAX);
            return -1;
        }

        /* patterns here would be ambiguous when several match */

        if (strchr(model, '*') != NULL) {
            aigw_keys_error(ctx, "%s: model name must be exact, "
                            "without \"*\"", path);
            return -1;
        }

        ml = &k->model_limits[k->nmodel_limits];

        if (aigw_keys_parse_limits(ctx, l, path, &ml->limits, NULL) != 0) {
            return -1;
        }

        ml->model = malloc(len + 1);
        if (ml->model == NULL) {
            aigw_keys_error(ctx, "out of memory");
            return -1;
        }

        memcpy(ml->model, model, len + 1);
        ml->model_len = len;

        k->nmodel_limits++;
    }

    return 0;
}


static int
aigw_keys_parse_u32(aigw_keys_ctx_t *ctx, json_t *v, const char *where,
    const char *field, uint32_t *out)
{
    json_int_t  n;

    if (v == NULL) {
        return 0;
    }

    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        aigw_keys_error(ctx, "%s.%s: must be a non-negative integer",
                        where, field);
        return -1;
    }

    n = json_integer_value(v);

    if (n > (json_int_t) UINT32_MAX) {
        aigw_keys_error(ctx, "%s.%s: must be at most %u", where, field,
                        (unsigned) UINT32_MAX);
        return -1;
    }

    *out = (uint32_t) n;

    return 0;
}


static int
aigw_keys_parse_budget(aigw_keys_ctx_t *ctx, json_t *v, const char *where,
    aigw_budget_t *budget)
{
    double       usd;
    json_t      *p;
    const char  *s;

    if (!json_is_object(v)) {
        aigw_keys_error(ctx, "%s: must be an object", where);
        return -1;
    }

    if (aigw_keys_check_fields(ctx, v, where, aigw_keys_budget_fields) != 0)
    {
        return -1;
    }

    p = json_object_get(v, "usd");

    if (p == NULL) {
        aigw_keys_error(ctx, "%s: missing \"usd\"", where);
        return -1;
    }

    usd = json_is_number(p) ? json_number_value(p) : -1;

    /* the negated test also rejects NaN, which jansson cannot produce */

    if (!(usd >= 0 && usd <= AIGW_KEY_USD_MAX)) {
        aigw_keys_error(ctx, "%s.usd: must be a number from 0 to 1e12",
                        where);
        return -1;
    }

    budget->micro_usd = (int64_t) (usd * 1e6 + 0.5);

    p = json_object_get(v, "period");

    if (p == NULL) {
        budget->period = AIGW_BUDGET_TOTAL;
        return 0;
    }

    s = json_is_string(p) ? json_string_value(p) : "";

    if (strcmp(s, "total") == 0) {
        budget->period = AIGW_BUDGET_TOTAL;

    } else if (strcmp(s, "daily") == 0) {
        budget->period = AIGW_BUDGET_DAILY;

    } else if (strcmp(s, "monthly") == 0) {
        budget->period = AIGW_BUDGET_MONTHLY;

    } else {
        aigw_keys_error(ctx, "%s.period: must be \"total\", \"daily\" or "
                        "\"monthly\"", where);
        return -1;
    }

    return 0;
}


static int
aigw_keys_check_fields(aigw_keys_ctx_t *ctx, json_t *obj, const char *where,
    const char *const *allowed)
{
    size_t       i;
    json_t      *v;
    const char  *name;
    char         buf[AIGW_KEYS_PRINT_LEN];

    json_object_foreach(obj, name, v) {
        for (i = 0; allowed[i]; i++) {
            if (strcmp(name, allowed[i]) == 0) {
                break;
            }
        }

        if (allowed[i] == NULL) {
            aigw_keys_error(ctx, "%s: unknown field \"%s\"", where,
                            aigw_keys_printable(name, buf, sizeof(buf)));
            return -1;
        }
    }

    return 0;
}


/*
 * Duplicates are found by sorting arrays of pointers with the address as a
 * tie-breaker, which tells which entry came first in the file.
 */

static int
aigw_keys_check_tenants(aigw_keys_ctx_t *ctx)
{
    int              rc;
    size_t           i, a, b;
    aigw_keyset_t   *ks;
    aigw_tenant_t  **p;

    ks = ctx->ks;

    if (ks->ntenants < 2) {
        return 0;
    }

    p = malloc(ks->ntenants * sizeof(aigw_tenant_t *));
    if (p == NULL) {
        aigw_keys_error(ctx, "out of memory");
        return -1;
    }

    for (i = 0; i < ks->ntenants; i++) {
        p[i] = &ks->tenants[i];
    }

    qsort(p, ks->ntenants, sizeof(aigw_tenant_t *),
          aigw_keys_cmp_tenant_name_ptr);

    rc = 0;

    for (i = 1; i < ks->ntenants; i++) {
        if (aigw_keys_cmp_tenant_name(p[i - 1], p[i]) == 0) {
            a = p[i - 1] - ks->tenants;
            b = p[i] - ks->tenants;

            aigw_keys_error(ctx, "tenants[%zu]: duplicate name \"%s\" "
                            "(also tenants[%zu])", b, ks->tenants[b].name, a);
            rc = -1;
            break;
        }
    }

    free(p);

    if (rc == 0) {
        /* for aigw_keys_find_tenant() */
        qsort(ks->tenants, ks->ntenants, sizeof(aigw_tenant_t),
              aigw_keys_cmp_tenant_name);
    }

    return rc;
}


static int
aigw_keys_check_keys(aigw_keys_ctx_t *ctx)
{
    int             rc;
    size_t          i, a, b;
    aigw_key_t    **p;
    aigw_keyset_t  *ks;

    ks = ctx->ks;

    if (ks->nkeys < 2) {
        return 0;
    }

    p = malloc(ks->nkeys * sizeof(aigw_key_t *));
    if (p == NULL) {
        aigw_keys_error(ctx, "out of memory");
        return -1;
    }

    for (i = 0; i < ks->nkeys; i++) {
        p[i] = &ks->keys[i];
    }

    rc = -1;

    qsort(p, ks->nkeys, sizeof(aigw_key_t *), aigw_keys_cmp_key_name);

    for (i = 1; i < ks->nkeys; i++) {
        if (strcmp(p[i - 1]->name, p[i]->name) == 0) {
            a = p[i - 1] - ks->keys;
            b = p[i] - ks->keys;

            aigw_keys_error(ctx, "keys[%zu]: duplicate name \"%s\" "
                            "(also keys[%zu])", b, ks->keys[b].name, a);
            goto done;
        }
    }

    qsort(p, ks->nkeys, sizeof(aigw_key_t *), aigw_keys_cmp_key_hash_ptr);

    for (i = 1; i < ks->nkeys; i++) {
        if (aigw_keys_cmp_key_hash(p[i - 1], p[i]) == 0) {
            a = p[i - 1] - ks->keys;
            b = p[i] - ks->keys;

            aigw_keys_error(ctx, "keys[%zu] (\"%s\") and keys[%zu] (\"%s\") "
                            "have the same secret (SHA-256)",
                            a, ks->keys[a].name, b, ks->keys[b].name);
            goto done;
        }
    }

    rc = 0;

    /* for aigw_keys_find() */
    qsort(ks->keys, ks->nkeys, sizeof(aigw_key_t), aigw_keys_cmp_key_hash);

done:

    free(p);

    return rc;
}


static int
aigw_keys_cmp_key_name(const void *a, const void *b)
{
    int                rc;
    const aigw_key_t  *ka, *kb;

    ka = *(const aigw_key_t *const *) a;
    kb = *(const aigw_key_t *const *) b;

    rc = strcmp(ka->name, kb->name);

    return rc ? rc : aigw_keys_cmp_ptr(a, b);
}


static int
aigw_keys_cmp_key_hash_ptr(const void *a, const void *b)
{
    int  rc;

    rc = aigw_keys_cmp_key_hash(*(const aigw_key_t *const *) a,
                                *(const aigw_key_t *const *) b);

    return rc ? rc : aigw_keys_cmp_ptr(a, b);
}


static int
aigw_keys_cmp_key_hash(const void *a, const void *b)
{
    return memcmp(((const aigw_key_t *) a)->hash,
                  ((const aigw_key_t *) b)->hash, AIGW_KEY_HASH_LEN);
}


static int
aigw_keys_cmp_tenant_name_ptr(const void *a, const void *b)
{
    int  rc;

    rc = aigw_keys_cmp_tenant_name(*(const aigw_tenant_t *const *) a,
                                   *(const aigw_tenant_t *const *) b);

    return rc ? rc : aigw_keys_cmp_ptr(a, b);
}


static int
aigw_keys_cmp_tenant_name(const void *a, const void *b)
{
    return strcmp(((const aigw_tenant_t *) a)->name,
                  ((const aigw_tenant_t *) b)->name);
}


/* orders two elements of a pointer array by the addresses they hold */

static int
aigw_keys_cmp_ptr(const void *a, const void *b)
{
    const char  *pa, *pb;

    pa = *(const char *const *) a;
    pb = *(const char *const *) b;

    return (pa > pb) - (pa < pb);
}


static void
aigw_keys_error(aigw_keys_ctx_t *ctx, const char *fmt, ...)
{
    va_list  args;

    if (ctx->err_len == 0) {
        return;
    }

    va_start(args, fmt);
    vsnprintf(ctx->err, ctx->err_len, fmt, args);
    va_end(args);
}


/* a truncated copy safe to print: non-printable bytes become '?' */

static const char *
aigw_keys_printable(const char *s, char *buf, size_t size)
{
    size_t  i, max;

    max = size - 4;

    for (i = 0; s[i] && i < max; i++) {
        buf[i] = (s[i] >= ' ' && s[i] <= '~' && s[i] != '"') ? s[i] : '?';
    }

    if (s[i]) {
        memcpy(&buf[i], "...", 3);
        i += 3;
    }

    buf[i] = '\0';

    return buf;
}


/* a store through a volatile pointer is not optimized away */

static void
aigw_keys_wipe(void *p, size_t n)
{
    volatile u_char  *v;

    v = p;

    while (n--) {
        *v++ = 0;
    }
}


/* overwrites the secrets in the parsed JSON before it is freed */

static void
aigw_keys_wipe_secrets(json_t *root)
{
    size_t   i;
    json_t  *keys, *k, *s;

    keys = json_object_get(root, "keys");

    json_array_foreach(keys, i, k) {
        s = json_object_get(k, "key");

        if (json_is_string(s)) {
            aigw_keys_wipe((char *) json_string_value(s),
                           json_string_length(s));
        }
    }
}


static int
aigw_is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}


/* days since 1970-01-01 of a proleptic Gregorian date, year >= 1 */

static int64_t
aigw_days_from_civil(int y, int m, int d)
{
    int64_t  days, prev;

    static const int  before_month[] = {
        0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334
    };

    /* leap years in 1..prev minus those in 1..1969 */

    prev = y - 1;

    days = (int64_t) (y - 1970) * 365
           + (prev / 4 - prev / 100 + prev / 400)
           - (1969 / 4 - 1969 / 100 + 1969 / 400);

    days += before_month[m - 1] + (m > 2 && aigw_is_leap(y));

    return days + d - 1;
}


static int
aigw_parse_digits(const u_char *p, size_t n, int *out)
{
    int     v;
    size_t  i;

    v = 0;

    for (i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }

        v = v * 10 + (p[i] - '0');
    }

    *out = v;

    return 0;
}
