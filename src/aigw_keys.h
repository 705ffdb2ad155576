
/*
 * aigw: API keys file parser and key lookup.
 *
 * This file is nginx-free so that it can be unit tested on its own.
 *
 * Keys file format (JSON):
 *
 *   {
 *     "tenants": [
 *       {"name": "acme",
 *        "limits": {"rpm": 600, "tpm": 200000, "concurrency": 20},
 *        "budget": {"usd": 100.0, "period": "monthly"}}
 *     ],
 *     "keys": [
 *       {"name": "demo", "key": "sk-aigw-demo", "tenant": "acme",
 *        "models": ["gpt-4o", "demo-*"],
 *        "expires": "2027-01-01T00:00:00Z",
 *        "enabled": true,
 *        "ips": ["127.0.0.1", "10.0.0.0/8", "::1", "2001:db8::/32"],
 *        "limits": {"rpm": 60, "tpm": 100000, "concurrency": 4,
 *                   "models": {"gpt-4o": {"rpm": 10, "tpm": 20000}}},
 *        "budget": {"usd": 10.5, "period": "total"}},
 *       {"name": "ci", "sha256": "<64 hex chars: SHA-256 of the secret>"}
 *     ]
 *   }
 *
 * Top level: an object with "keys" (required array, may be empty) and
 * "tenants" (optional array).  Unknown fields anywhere are errors, so
 * that a typo cannot silently disable a limit.  Duplicate JSON object
 * keys are errors.
 *
 * Tenant fields:
 *   "name"     required; 1..64 characters of A-Z a-z 0-9 . _ @ -;
 *              unique among tenants
 *   "limits"   optional limits object (rpm, tpm, concurrency)
 *   "budget"   optional budget object
 *
 * Key fields:
 *   "name"     required; 1..64 characters of A-Z a-z 0-9 . _ @ -;
 *              unique among keys
 *   "key"      the secret: 8..256 printable ASCII characters, no spaces;
 *              only its SHA-256 is kept in memory
 *   "sha256"   alternatively, the SHA-256 of the secret as 64 hex
 *              characters; exactly one of "key" and "sha256" is required,
 *              and no two keys may have the same hash
 *   "tenant"   optional name of a tenant from "tenants"
 *   "models"   optional non-empty array of model names (1..256 chars);
 *              "name*" matches any model starting with "name", "*"
 *              matches every model; "*" is only allowed as the last
 *              character; absent: all models are allowed
 *   "expires"  optional Unix time (integer) or RFC 3339 date such as
 *              "2027-01-01T00:00:00Z" or "2027-01-01T02:00:00+02:00";
 *              0 or absent: never expires
 *   "enabled"  optional boolean, default true
 *   "ips"      optional non-empty array of IPv4/IPv6 addresses or CIDRs
 *              ("10.0.0.0/8", "2001:db8::/32"); host bits are ignored;
 *              absent: any client address
 *   "limits"   optional limits object; for keys it may also contain
 *              "models": {"<exact model name>": {limits object}, ...}
 *   "budget"   optional budget object
 *
 * Limits object: "rpm" (requests per minute), "tpm" (tokens per minute),
 * "concurrency" (requests in flight); non-negative integers up to
 * 4294967295; 0 or absent: unlimited.
 *
 * Budget object: "usd" (required number, 0..1e12, kept as integer
 * micro-dollars rounded to nearest) and "period": "total" (default),
 * "daily" or "monthly".
 */


#ifndef _AIGW_KEYS_H_INCLUDED_
#define _AIGW_KEYS_H_INCLUDED_


#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>


#define AIGW_KEY_HASH_LEN      32
#define AIGW_KEY_NAME_MAX      64
#define AIGW_KEY_SECRET_MIN    8
#define AIGW_KEY_SECRET_MAX    256
#define AIGW_KEY_MODEL_MAX     256

/* budget amounts above this many dollars are rejected */
#define AIGW_KEY_USD_MAX       1e12


typedef struct {
    uint32_t                rpm;            /* 0: unlimited */
    uint32_t                tpm;
    uint32_t                concurrency;
} aigw_limits_t;


typedef enum {
    AIGW_BUDGET_TOTAL = 0,
    AIGW_BUDGET_DAILY,
    AIGW_BUDGET_MONTHLY
} aigw_budget_period_e;


typedef struct {
    int64_t                 micro_usd;      /* -1: no budget */
    aigw_budget_period_e    period;
} aigw_budget_t;


typedef struct {
    u_char                 *name;           /* NUL-terminated */
    size_t                  len;
    unsigned                prefix:1;       /* name is the part before '*' */
} aigw_model_pattern_t;


typedef struct {
    u_char                 *model;          /* NUL-terminated */
    size_t                  model_len;
    aigw_limits_t           limits;
} aigw_model_limits_t;


typedef struct {
    int                     family;         /* AF_INET or AF_INET6 */
    u_char                  addr[16];       /* already masked */
    u_char                  mask[16];
} aigw_cidr_t;


typedef struct aigw_tenant_s {
    char                   *name;           /* NUL-terminated */
    size_t                  name_len;
    aigw_limits_t           limits;
    aigw_budget_t           budget;
} aigw_tenant_t;


typedef struct {
    u_char                  hash[AIGW_KEY_HASH_LEN];  /* SHA-256 of secret */
    char                   *name;           /* NUL-terminated */
    size_t                  name_len;
    aigw_tenant_t          *tenant;         /* NULL: no tenant */

    aigw_model_pattern_t   *models;
    size_t                  nmodels;
    unsigned                all_models:1;
    unsigned                enabled:1;

    int64_t                 expires;        /* Unix time, 0: never */

    aigw_cidr_t            *ips;
    size_t                  nips;           /* 0: any address */

    aigw_limits_t           limits;
    aigw_model_limits_t    *model_limits;
    size_t                  nmodel_limits;

    aigw_budget_t           budget;
} aigw_key_t;


typedef struct {
    aigw_key_t             *keys;           /* sorted by hash */
    size_t                  nkeys;
    aigw_tenant_t          *tenants;        /* sorted by name */
    size_t                  ntenants;
} aigw_keyset_t;


/*
 * Parses a keys file.  Returns 0 and a malloc()ed keyset in *out, or -1
 * with a one-line message in err (never containing a secret).  Secrets
 * are wiped from the parser's memory; the caller should wipe "data".
 */
int aigw_keys_parse(const u_char *data, size_t len, aigw_keyset_t **out,
    char *err, size_t err_len);
void aigw_keys_free(aigw_keyset_t *ks);

/* binary search by SHA-256 of the presented secret; NULL if not found */
const aigw_key_t *aigw_keys_find(const aigw_keyset_t *ks,
    const u_char hash[AIGW_KEY_HASH_LEN]);

/* tenant lookup by name; NULL if not found */
const aigw_tenant_t *aigw_keys_find_tenant(const aigw_keyset_t *ks,
    const u_char *name, size_t len);

/* 1 if the key may use the model (exact, prefix pattern or all), else 0 */
int aigw_key_model_allowed(const aigw_key_t *k, const u_char *model,
    size_t len);

/* per-model limits of the key for the model (exact match) or NULL */
const aigw_limits_t *aigw_key_model_limits(const aigw_key_t *k,
    const u_char *model, size_t len);

/*
 * 1 if the client address is allowed, else 0.  family is AF_INET (addr
 * is 4 bytes) or AF_INET6 (16 bytes); IPv4-mapped IPv6 addresses are
 * matched against IPv4 entries.
 */
int aigw_key_ip_allowed(const aigw_key_t *k, int family, const u_char *addr);

/*
 * Parses "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" (years 0001..9999)
 * into Unix time (fractions are truncated).  Returns 0 or -1.
 */
int aigw_parse_rfc3339(const u_char *s, size_t len, int64_t *out);


#endif /* _AIGW_KEYS_H_INCLUDED_ */
