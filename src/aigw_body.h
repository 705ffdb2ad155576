/*
 * aigw: request body rewriting by span copy.
 *
 * The body was validated by aigw_json_parse_object(); the rewrite keeps each
 * top-level member's text as the client sent it, replaces or removes the
 * members the operator's rules name, renames the model, and makes streamed
 * requests ask for usage.
 */

#ifndef _AIGW_BODY_H_INCLUDED_
#define _AIGW_BODY_H_INCLUDED_


#include "aigw_json.h"


typedef enum {
    AIGW_RULE_SET = 0,
    AIGW_RULE_DEFAULT,
    AIGW_RULE_CAP,
    AIGW_RULE_REMOVE
} aigw_rule_op_e;


typedef struct {
    aigw_rule_op_e      op;
    u_char             *field;         /* plain top-level member name */
    size_t              field_len;
    u_char             *value;         /* JSON text for SET, DEFAULT, CAP */
    size_t              value_len;
    double              cap;
} aigw_body_rule_t;


typedef struct {
    const u_char       *model;         /* upstream model, plain; or NULL */
    size_t              model_len;
    const aigw_body_rule_t *rules;
    size_t              nrules;
    unsigned            include_usage:1;
} aigw_body_rewrite_t;


typedef struct {
    u_char             *body;
    size_t              len;
    const char         *error;         /* static message on failure */
    const u_char       *param;         /* member the error is about */
    size_t              param_len;
    unsigned            stream:1;      /* the upstream request streams */
    unsigned            client_usage:1; /* the client asked for usage */
} aigw_body_result_t;


typedef void *(*aigw_alloc_pt)(void *pool, size_t size);


/*
 * Builds the upstream body.  Returns 0, or -1 with res->error set (a client
 * error, 400), or -2 when allocation failed.
 */
int aigw_body_build(const u_char *body, size_t len,
    aigw_json_member_t *members, size_t n, const aigw_body_rewrite_t *rw,
    aigw_alloc_pt alloc, void *pool, aigw_body_result_t *res);


#endif /* _AIGW_BODY_H_INCLUDED_ */
