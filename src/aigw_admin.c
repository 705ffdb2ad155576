/*
 * aigw: the nginx-free part of the admin API (see aigw_admin.h).
 */

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>

#include <jansson.h>

#include "aigw_admin.h"
#include "aigw_sha256.h"


static int aigw_admin_error(char *err, size_t err_len, const char *fmt, ...);
static json_t *aigw_admin_load(const u_char *body, size_t len, char *err,
    size_t err_len);
static int aigw_admin_merge(json_t *doc, json_t *body,
    const char *const *allowed, int create, char *err, size_t err_len);
static int aigw_admin_check(json_t *doc, int is_key, int64_t *expires,
    char *err, size_t err_len);
static void aigw_admin_strip_meta(json_t *doc);
static void aigw_admin_fix_message(char *msg, const char *name);
static char *aigw_admin_dump(json_t *doc);
static json_t *aigw_admin_limits_json(const aigw_limits_t *l);
static json_t *aigw_admin_budget_json(const aigw_budget_t *b);


static const char *const  aigw_admin_key_fields[] = {
    "name", "tenant", "models", "expires", "enabled", "ips", "limits",
    "budget", NULL
};

static const char *const  aigw_admin_tenant_fields[] = {
    "name", "limits", "budget", NULL
};

static const char *const  aigw_admin_meta[] = {
    "created", "updated", "hint", "source", NULL
};

static const char *const  aigw_admin_periods[] = {
    "total", "daily", "monthly"
};


static int
aigw_admin_error(char *err, size_t err_len, const char *fmt, ...)
{
    va_list  args;

    if (err_len) {
        va_start(args, fmt);
        vsnprintf(err, err_len, fmt, args);
        va_end(args);
    }

    return -1;
}


int
aigw_admin_valid_name(const u_char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > AIGW_KEY_NAME_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
            || (s[i] >= '0' && s[i] <= '9')
            || s[i] == '.' || s[i] == '_' || s[i] == '@' || s[i] == '-')
        {
            continue;
        }

        return 0;
    }

    return 1;
}


/* A JSON object from a request body; jansson's "near" text is dropped. */

static json_t *
aigw_admin_load(const u_char *body, size_t len, char *err, size_t err_len)
{
    json_t        *root;
    json_error_t   jerr;

    if (len == 0) {
        aigw_admin_error(err, err_len, "The request body is empty; send a "
                         "JSON object.");
        return NULL;
    }

    root = json_loadb((const char *) body, len, JSON_REJECT_DUPLICATES,
                      &jerr);
    if (root == NULL) {
        aigw_admin_error(err, err_len, "The request body is not valid JSON "
                         "(line %d, column %d).", jerr.line, jerr.column);
        return NULL;
    }

    if (!json_is_object(root)) {
        json_decref(root);
        aigw_admin_error(err, err_len, "The request body must be a JSON "
                         "object.");
        return NULL;
    }

    return root;
}


/*
 * Copies the allowed fields of the body into the document; in a patch
 * (create == 0) a null removes the field.
 */

static int
aigw_admin_merge(json_t *doc, json_t *body, const char *const *allowed,
    int create, char *err, size_t err_len)
{
    size_t       i;
    json_t      *v, *cur;
    const char  *name;

    json_object_foreach(body, name, v) {

        if (strcmp(name, "key") == 0 || strcmp(name, "sha256") == 0) {
            return aigw_admin_error(err, err_len, "\"%s\" cannot be set: the "
                                    "gateway makes the secret and shows it "
                                    "once, when the key is created.", name);
        }

        for (i = 0; allowed[i]; i++) {
            if (strcmp(name, allowed[i]) == 0) {
                break;
            }
        }

        if (allowed[i] == NULL) {
            return aigw_admin_error(err, err_len, "Unknown field \"%.64s\".",
                                    name);
        }

        if (strcmp(name, "name") == 0 && !create) {
            cur = json_object_get(doc, "name");

            if (!json_is_string(v) || !json_equal(v, cur)) {
                return aigw_admin_error(err, err_len, "\"name\" cannot be "
                                        "changed.");
            }

            continue;
        }

        if (json_is_null(v)) {
            if (strcmp(name, "name") == 0) {
                return aigw_admin_error(err, err_len, "\"name\" must be a "
                                        "string.");
            }

            json_object_del(doc, name);
            continue;
        }

        if (json_object_set(doc, name, v) != 0) {
            return aigw_admin_error(err, err_len, "Out of memory.");
        }
    }

    return 0;
}


/*
 * The keys file's parser checks a document (without its meta fields) in a
 * one-entry keys file; a key's tenant is only a placeholder there, its
 * existence is the caller's business.
 */

static int
aigw_admin_check(json_t *doc, int is_key, int64_t *expires, char *err,
    size_t err_len)
{
    int             rc;
    char           *text;
    json_t         *copy, *file, *tenant, *holder;
    const char     *name;
    aigw_keyset_t  *ks;
    char            msg[512];

    copy = json_deep_copy(doc);
    file = json_object();
    holder = json_array();

    if (copy == NULL || file == NULL || holder == NULL) {
        json_decref(copy);
        json_decref(file);
        json_decref(holder);
        return aigw_admin_error(err, err_len, "Out of memory.");
    }

    aigw_admin_strip_meta(copy);

    if (is_key) {
        tenant = json_object_get(copy, "tenant");

        if (tenant && json_is_string(tenant)) {
            json_array_append_new(holder,
                                  json_pack("{sO}", "name", tenant));
        }

        json_object_set_new(file, "tenants", holder);
        json_object_set_new(file, "keys", json_pack("[O]", copy));

    } else {
        json_array_append(holder, copy);
        json_object_set_new(file, "tenants", holder);
        json_object_set_new(file, "keys", json_array());
    }

    json_decref(copy);

    text = aigw_admin_dump(file);
    json_decref(file);

    if (text == NULL) {
        return aigw_admin_error(err, err_len, "Out of memory.");
    }

    rc = aigw_keys_parse((const u_char *) text, strlen(text), &ks, msg,
                         sizeof(msg));
    free(text);

    if (rc != 0) {
        name = json_string_value(json_object_get(doc, "name"));
        aigw_admin_fix_message(msg, name ? name : "");
        return aigw_admin_error(err, err_len, "%s", msg);
    }

    if (expires) {
        *expires = ks->nkeys ? ks->keys[0].expires : 0;
    }

    aigw_keys_free(ks);

    return 0;
}


static void
aigw_admin_strip_meta(json_t *doc)
{
    size_t  i;

    for (i = 0; aigw_admin_meta[i]; i++) {
        json_object_del(doc, aigw_admin_meta[i]);
    }
}


/*
 * The parser names places as in a file: 'keys[0] ("x"): ...',
 * 'keys[0].limits: ...', 'tenants[0]: ...'; in the API the entry is known.
 */

static void
aigw_admin_fix_message(char *msg, const char *name)
{
    size_t       n, plen;
    char        *p;
    const char  *prefixes[3];
    char         label[AIGW_KEY_NAME_MAX + 32];
    size_t       i;

    snprintf(label, sizeof(label), "keys[0] (\"%s\"): ", name);

    prefixes[0] = label;
    prefixes[1] = "keys[0].";
    prefixes[2] = "tenants[0].";

    for (i = 0; i < 3; i++) {
        plen = strlen(prefixes[i]);

        if (strncmp(msg, prefixes[i], plen) == 0) {
            n = strlen(msg + plen);
            memmove(msg, msg + plen, n + 1);
            break;
        }
    }

    for (i = 0; i < 2; i++) {
        p = strstr(msg, i ? "tenants[0]: " : "keys[0]: ");

        if (p == msg) {
            plen = i ? 12 : 9;
            n = strlen(msg + plen);
            memmove(msg, msg + plen, n + 1);
        }
    }
}


static char *
aigw_admin_dump(json_t *doc)
{
    return json_dumps(doc,
                      JSON_COMPACT|JSON_SORT_KEYS|JSON_REAL_PRECISION(17));
}


int
aigw_admin_key_doc(const u_char *body, size_t len, const char *cur,
    const char *sha256_hex, const char *hint, int64_t now, char **out,
    char *err, size_t err_len)
{
    json_t        *b, *doc, *v;
    int64_t        expires;
    json_error_t   jerr;

    b = aigw_admin_load(body, len, err, err_len);
    if (b == NULL) {
        return -1;
    }

    if (cur) {
        doc = json_loads(cur, 0, &jerr);

        if (doc == NULL || !json_is_object(doc)) {
            json_decref(doc);
            json_decref(b);
            return aigw_admin_error(err, err_len, "The stored key is "
                                    "damaged.");
        }

    } else {
        v = json_object_get(b, "name");

        if (v == NULL) {
            json_decref(b);
            return aigw_admin_error(err, err_len, "Missing \"name\".");
        }

        doc = json_pack("{sssssIsI}", "sha256", sha256_hex, "hint", hint,
                        "created", (json_int_t) now, "updated",
                        (json_int_t) now);
        if (doc == NULL) {
            json_decref(b);
            return aigw_admin_error(err, err_len, "Out of memory.");
        }
    }

    if (aigw_admin_merge(doc, b, aigw_admin_key_fields, cur == NULL, err,
                         err_len)
        != 0)
    {
        goto failed;
    }

    json_decref(b);
    b = NULL;

    json_object_set_new(doc, "updated", json_integer(now));

    if (aigw_admin_check(doc, 1, &expires, err, err_len) != 0) {
        goto failed;
    }

    /* dates are kept as Unix time, as the API shows them */

    if (expires) {
        json_object_set_new(doc, "expires", json_integer(expires));

    } else {
        json_object_del(doc, "expires");
    }

    *out = aigw_admin_dump(doc);
    json_decref(doc);

    if (*out == NULL) {
        return aigw_admin_error(err, err_len, "Out of memory.");
    }

    return 0;

failed:

    json_decref(b);
    json_decref(doc);

    return -1;
}


int
aigw_admin_tenant_doc(const u_char *body, size_t len, const char *cur,
    int64_t now, char **out, char *err, size_t err_len)
{
    json_t        *b, *doc;
    json_error_t   jerr;

    b = aigw_admin_load(body, len, err, err_len);
    if (b == NULL) {
        return -1;
    }

    if (cur) {
        doc = json_loads(cur, 0, &jerr);

        if (doc == NULL || !json_is_object(doc)) {
            json_decref(doc);
            json_decref(b);
            return aigw_admin_error(err, err_len, "The stored tenant is "
                                    "damaged.");
        }

    } else {
        if (json_object_get(b, "name") == NULL) {
            json_decref(b);
            return aigw_admin_error(err, err_len, "Missing \"name\".");
        }

        doc = json_pack("{sI}", "created", (json_int_t) now);
        if (doc == NULL) {
            json_decref(b);
            return aigw_admin_error(err, err_len, "Out of memory.");
        }
    }

    if (aigw_admin_merge(doc, b, aigw_admin_tenant_fields, cur == NULL, err,
                         err_len)
        != 0)
    {
        json_decref(b);
        json_decref(doc);
        return -1;
    }

    json_decref(b);

    json_object_set_new(doc, "updated", json_integer(now));

    if (aigw_admin_check(doc, 0, NULL, err, err_len) != 0) {
        json_decref(doc);
        return -1;
    }

    *out = aigw_admin_dump(doc);
    json_decref(doc);

    if (*out == NULL) {
        return aigw_admin_error(err, err_len, "Out of memory.");
    }

    return 0;
}


int
aigw_admin_topup(const u_char *body, size_t len, const char *cur,
    int64_t now, char **out, char *err, size_t err_len)
{
    double         usd, have;
    json_t        *b, *doc, *budget, *v;
    const char    *name;
    json_error_t   jerr;

    b = aigw_admin_load(body, len, err, err_len);
    if (b == NULL) {
        return -1;
    }

    json_object_foreach(b, name, v) {
        if (strcmp(name, "usd") != 0) {
            json_decref(b);
            return aigw_admin_error(err, err_len, "Unknown field \"%.64s\".",
                                    name);
        }
    }

    v = json_object_get(b, "usd");

    if (v == NULL) {
        json_decref(b);
        return aigw_admin_error(err, err_len, "Missing \"usd\".");
    }

    usd = json_is_number(v) ? json_number_value(v) : -1;
    json_decref(b);

    if (!(usd > 0 && usd <= AIGW_KEY_USD_MAX)) {
        return aigw_admin_error(err, err_len, "\"usd\" must be a number "
                                "greater than 0 and at most 1e12.");
    }

    doc = json_loads(cur, 0, &jerr);

    if (doc == NULL || !json_is_object(doc)) {
        json_decref(doc);
        return aigw_admin_error(err, err_len, "The stored entry is "
                                "damaged.");
    }

    budget = json_object_get(doc, "budget");

    if (!json_is_object(budget)) {
        json_decref(doc);
        return aigw_admin_error(err, err_len, "There is no budget to top "
                                "up: the spending is unlimited. Set one with "
                                "PATCH {\"budget\": {\"usd\": ...}}.");
    }

    have = json_number_value(json_object_get(budget, "usd"));

    if (have + usd > AIGW_KEY_USD_MAX) {
        json_decref(doc);
        return aigw_admin_error(err, err_len, "The budget would be more "
                                "than 1e12 USD.");
    }

    /* micro-dollar steps, as the budget is counted */

    json_object_set_new(budget, "usd",
                        json_real((double) (int64_t) ((have + usd) * 1e6
                                                      + 0.5) / 1e6));
    json_object_set_new(doc, "updated", json_integer(now));

    *out = aigw_admin_dump(doc);
    json_decref(doc);

    if (*out == NULL) {
        return aigw_admin_error(err, err_len, "Out of memory.");
    }

    return 0;
}


int
aigw_admin_doc_names(const char *doc, char *name, char *tenant)
{
    json_t        *d, *v;
    json_error_t   jerr;

    name[0] = '\0';
    tenant[0] = '\0';

    d = json_loads(doc, 0, &jerr);
    if (d == NULL) {
        return -1;
    }

    v = json_object_get(d, "name");

    if (json_is_string(v) && json_string_length(v) <= AIGW_KEY_NAME_MAX) {
        memcpy(name, json_string_value(v), json_string_length(v) + 1);
    }

    v = json_object_get(d, "tenant");

    if (json_is_string(v) && json_string_length(v) <= AIGW_KEY_NAME_MAX) {
        memcpy(tenant, json_string_value(v), json_string_length(v) + 1);
    }

    json_decref(d);

    return name[0] ? 0 : -1;
}


int
aigw_admin_build(const char *keydoc, size_t keylen, const char *tenantdoc,
    size_t tenantlen, aigw_keyset_t **out, char *err, size_t err_len)
{
    int            rc;
    char          *text;
    json_t        *key, *tenant, *file;
    json_error_t   jerr;

    key = json_loadb(keydoc, keylen, 0, &jerr);

    if (key == NULL || !json_is_object(key)) {
        json_decref(key);
        return aigw_admin_error(err, err_len, "damaged key document");
    }

    aigw_admin_strip_meta(key);

    tenant = NULL;

    if (tenantdoc) {
        tenant = json_loadb(tenantdoc, tenantlen, 0, &jerr);

        if (tenant == NULL || !json_is_object(tenant)) {
            json_decref(tenant);
            json_decref(key);
            return aigw_admin_error(err, err_len, "damaged tenant document");
        }

        aigw_admin_strip_meta(tenant);
    }

    file = json_pack("{s[o*]s[o]}", "tenants", tenant, "keys", key);
    if (file == NULL) {
        return aigw_admin_error(err, err_len, "out of memory");
    }

    text = aigw_admin_dump(file);
    json_decref(file);

    if (text == NULL) {
        return aigw_admin_error(err, err_len, "out of memory");
    }

    rc = aigw_keys_parse((const u_char *) text, strlen(text), out, err,
                         err_len);
    free(text);

    return rc;
}


static json_t *
aigw_admin_limits_json(const aigw_limits_t *l)
{
    json_t  *o;

    o = json_object();
    if (o == NULL) {
        return NULL;
    }

    if (l->rpm) {
        json_object_set_new(o, "rpm", json_integer(l->rpm));
    }

    if (l->tpm) {
        json_object_set_new(o, "tpm", json_integer(l->tpm));
    }

    if (l->concurrency) {
        json_object_set_new(o, "concurrency", json_integer(l->concurrency));
    }

    return o;
}


static json_t *
aigw_admin_budget_json(const aigw_budget_t *b)
{
    return json_pack("{sfss}", "usd", (double) b->micro_usd / 1e6,
                     "period", aigw_admin_periods[b->period]);
}


char *
aigw_admin_file_tenant(const aigw_tenant_t *t)
{
    char    *s;
    json_t  *o, *l;

    o = json_pack("{ss}", "name", t->name);
    if (o == NULL) {
        return NULL;
    }

    l = aigw_admin_limits_json(&t->limits);

    if (l && json_object_size(l)) {
        json_object_set_new(o, "limits", l);

    } else {
        json_decref(l);
    }

    if (t->budget.micro_usd >= 0) {
        json_object_set_new(o, "budget", aigw_admin_budget_json(&t->budget));
    }

    s = aigw_admin_dump(o);
    json_decref(o);

    return s;
}


char *
aigw_admin_file_key(const aigw_key_t *k)
{
    int      bits, family;
    char    *s;
    size_t   i, j;
    json_t  *o, *a, *l, *m;
    char     buf[INET6_ADDRSTRLEN + 8], pat[AIGW_KEY_MODEL_MAX + 2];

    o = json_pack("{sssb}", "name", k->name, "enabled", (int) k->enabled);
    if (o == NULL) {
        return NULL;
    }

    if (k->tenant) {
        json_object_set_new(o, "tenant", json_string(k->tenant->name));
    }

    if (!k->all_models || k->nmodels) {
        a = json_array();

        for (i = 0; a && i < k->nmodels; i++) {
            snprintf(pat, sizeof(pat), "%s%s", k->models[i].name,
                     k->models[i].prefix ? "*" : "");
            json_array_append_new(a, json_string(pat));
        }

        json_object_set_new(o, "models", a);
    }

    if (k->expires) {
        json_object_set_new(o, "expires", json_integer(k->expires));
    }

    if (k->nips) {
        a = json_array();

        for (i = 0; a && i < k->nips; i++) {
            family = k->ips[i].family;
            bits = 0;

            for (j = 0; j < 16; j++) {
                bits += __builtin_popcount(k->ips[i].mask[j]);
            }

            if (inet_ntop(family, k->ips[i].addr, buf, INET6_ADDRSTRLEN)
                == NULL)
            {
                continue;
            }

            /* at most 128: said so for -Wformat-truncation */
            snprintf(buf + strlen(buf), 8, "/%u",
                     (unsigned) bits < 128 ? (unsigned) bits : 128);
            json_array_append_new(a, json_string(buf));
        }

        json_object_set_new(o, "ips", a);
    }

    l = aigw_admin_limits_json(&k->limits);

    if (l && k->nmodel_limits) {
        m = json_object();

        for (i = 0; m && i < k->nmodel_limits; i++) {
            json_object_set_new(m, (const char *) k->model_limits[i].model,
                                aigw_admin_limits_json(
                                    &k->model_limits[i].limits));
        }

        json_object_set_new(l, "models", m);
    }

    if (l && json_object_size(l)) {
        json_object_set_new(o, "limits", l);

    } else {
        json_decref(l);
    }

    if (k->budget.micro_usd >= 0) {
        json_object_set_new(o, "budget", aigw_admin_budget_json(&k->budget));
    }

    s = aigw_admin_dump(o);
    json_decref(o);

    return s;
}


void
aigw_admin_secret(const u_char rnd[AIGW_ADMIN_SECRET_RANDOM],
    char out[AIGW_ADMIN_SECRET_LEN + 1], char hint[AIGW_ADMIN_HINT_LEN + 1])
{
    size_t  plen;

    plen = sizeof(AIGW_ADMIN_SECRET_PREFIX) - 1;

    memcpy(out, AIGW_ADMIN_SECRET_PREFIX, plen);
    aigw_hex_encode((u_char *) out + plen, rnd, AIGW_ADMIN_SECRET_RANDOM);
    out[AIGW_ADMIN_SECRET_LEN] = '\0';

    /* enough to tell keys apart in a list, far too little to guess one */

    memcpy(hint, out, plen + 4);
    memcpy(hint + plen + 4, "...", 3);
    memcpy(hint + plen + 7, out + AIGW_ADMIN_SECRET_LEN - 4, 4);
    hint[AIGW_ADMIN_HINT_LEN] = '\0';
}


/* days from civil, Howard Hinnant's algorithm */

int
aigw_admin_day_parse(const u_char *s, size_t len, int64_t *day)
{
    int      y, m, d, i;
    int64_t  era, yoe, doy, doe;

    static const int  mdays[] = {
        31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (len != AIGW_ADMIN_DAY_LEN || s[4] != '-' || s[7] != '-') {
        return -1;
    }

    for (i = 0; i < 10; i++) {
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) {
            return -1;
        }
    }

    y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10
        + (s[3] - '0');
    m = (s[5] - '0') * 10 + (s[6] - '0');
    d = (s[8] - '0') * 10 + (s[9] - '0');

    if (y < 1970 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1]) {
        return -1;
    }

    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
    {
        return -1;
    }

    y -= m <= 2;
    era = y / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    *day = era * 146097 + doe - 719468;

    return 0;
}


void
aigw_admin_day_format(int64_t day, char out[AIGW_ADMIN_DAY_LEN + 1])
{
    int64_t  z, era, doe, yoe, y, doy, mp, d, m;

    z = day + 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp + (mp < 10 ? 3 : -9);
    y += (m <= 2);

    snprintf(out, AIGW_ADMIN_DAY_LEN + 1, "%04d-%02d-%02d", (int) y, (int) m,
             (int) d);
}


size_t
aigw_admin_field_len(size_t name_len, size_t model_len)
{
    return 5 + name_len + model_len;
}


u_char *
aigw_admin_field_write(u_char *p, char metric, char kind,
    const u_char *name, size_t name_len, const u_char *model,
    size_t model_len)
{
    *p++ = (u_char) metric;
    *p++ = '|';
    *p++ = (u_char) kind;
    *p++ = '|';
    memcpy(p, name, name_len);
    p += name_len;
    *p++ = '|';
    memcpy(p, model, model_len);

    return p + model_len;
}


int
aigw_admin_field_parse(const char *s, size_t len, aigw_admin_field_t *f)
{
    const char  *bar;

    if (len < 6 || s[1] != '|' || s[3] != '|'
        || strchr("riocu", s[0]) == NULL || (s[2] != 'k' && s[2] != 't'))
    {
        return -1;
    }

    f->metric = s[0];
    f->kind = s[2];

    bar = memchr(s + 4, '|', len - 4);
    if (bar == NULL || bar == s + 4) {
        return -1;
    }

    f->name = s + 4;
    f->name_len = bar - (s + 4);
    f->model = bar + 1;
    f->model_len = s + len - (bar + 1);

    return 0;
}
