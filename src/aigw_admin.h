/*
 * aigw: the nginx-free part of the admin API: bodies of the admin calls
 * checked and merged into the documents that the store keeps, keys built
 * from stored documents, key and tenant documents of the keys file, dates
 * and the fields of the per-day usage counters.
 *
 * Stored key document (JSON object, the keys file's key format with
 * "sha256" and three extra fields):
 *
 *   {"name": "...", "sha256": "<64 hex>", "hint": "sk-aigw-1a2b...9f8e",
 *    "created": <unix>, "updated": <unix>, "tenant": "...",
 *    "models": [...], "expires": <unix>, "enabled": true, "ips": [...],
 *    "limits": {...}, "budget": {"usd": 10, "period": "monthly"}}
 *
 * Stored tenant document: {"name", "created", "updated", "limits",
 * "budget"}.
 *
 * Every document is checked with the keys file's parser (aigw_keys.h), so a
 * key made through the API obeys exactly the rules of the keys file.
 */

#ifndef _AIGW_ADMIN_H_INCLUDED_
#define _AIGW_ADMIN_H_INCLUDED_


#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include "aigw_keys.h"


#define AIGW_ADMIN_SECRET_PREFIX   "sk-aigw-"
#define AIGW_ADMIN_SECRET_RANDOM   24            /* bytes, 48 hex digits */
#define AIGW_ADMIN_SECRET_LEN      (sizeof(AIGW_ADMIN_SECRET_PREFIX) - 1  \
                                    + 2 * AIGW_ADMIN_SECRET_RANDOM)
#define AIGW_ADMIN_HINT_LEN        (sizeof(AIGW_ADMIN_SECRET_PREFIX) - 1  \
                                    + 4 + 3 + 4)
#define AIGW_ADMIN_DAY_LEN         10            /* YYYY-MM-DD */
#define AIGW_ADMIN_MAX_DOC         65536


typedef struct {
    char                 metric;        /* r, i, o, c or u */
    char                 kind;          /* k (key) or t (tenant) */
    const char          *name;
    size_t               name_len;
    const char          *model;
    size_t               model_len;
} aigw_admin_field_t;


/*
 * The body of "POST /keys" (cur == NULL) or "PATCH /keys/<name>" (cur: the
 * stored document) becomes the new stored document, malloc()ed in *out.
 * For a creation sha256_hex and hint describe the new secret.  In a patch a
 * null value removes a field.  Returns 0, or -1 with a message in err.
 */
int aigw_admin_key_doc(const u_char *body, size_t len, const char *cur,
    const char *sha256_hex, const char *hint, int64_t now, char **out,
    char *err, size_t err_len);

/* The same for tenants: "POST /tenants" and "PATCH /tenants/<name>". */
int aigw_admin_tenant_doc(const u_char *body, size_t len, const char *cur,
    int64_t now, char **out, char *err, size_t err_len);

/* {"usd": n}: n > 0 is added to the budget of a stored document. */
int aigw_admin_topup(const u_char *body, size_t len, const char *cur,
    int64_t now, char **out, char *err, size_t err_len);

/* The "name" and "tenant" of a stored document (NUL-terminated copies). */
int aigw_admin_doc_names(const char *doc, char *name, char *tenant);

/*
 * A one-key keyset from a stored key document and its tenant's document
 * (NULL if the key has none).  aigw_keys_free() frees it.
 */
int aigw_admin_build(const char *keydoc, size_t keylen,
    const char *tenantdoc, size_t tenantlen, aigw_keyset_t **out, char *err,
    size_t err_len);

/*
 * Documents of keys file entries, for the API (no hash, "source": "file")
 * and, for tenants, also for building run-time keys of file tenants.
 */
char *aigw_admin_file_key(const aigw_key_t *k);
char *aigw_admin_file_tenant(const aigw_tenant_t *t);

/* "sk-aigw-" and the random bytes in hex; its hint: "sk-aigw-1a2b...9f8e" */
void aigw_admin_secret(const u_char rnd[AIGW_ADMIN_SECRET_RANDOM],
    char out[AIGW_ADMIN_SECRET_LEN + 1], char hint[AIGW_ADMIN_HINT_LEN + 1]);

/* YYYY-MM-DD <-> days since 1970-01-01 (UTC); 0 or -1 */
int aigw_admin_day_parse(const u_char *s, size_t len, int64_t *day);
void aigw_admin_day_format(int64_t day, char out[AIGW_ADMIN_DAY_LEN + 1]);

/*
 * Usage counter fields: "<metric>|<kind>|<name>|<model>".  _field_len()
 * is the length written by _field_write() (no NUL).
 */
size_t aigw_admin_field_len(size_t name_len, size_t model_len);
u_char *aigw_admin_field_write(u_char *p, char metric, char kind,
    const u_char *name, size_t name_len, const u_char *model,
    size_t model_len);
int aigw_admin_field_parse(const char *s, size_t len, aigw_admin_field_t *f);

/* 1 if s is a valid key or tenant name (the keys file's rule) */
int aigw_admin_valid_name(const u_char *s, size_t len);


#endif /* _AIGW_ADMIN_H_INCLUDED_ */
