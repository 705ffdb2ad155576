/*
 * aigw: OpenAI-shaped error bodies.
 *
 * {"error":{"message":"...","type":"...","param":null,"code":"..."}}
 */

#ifndef _AIGW_ERROR_H_INCLUDED_
#define _AIGW_ERROR_H_INCLUDED_


#include <sys/types.h>
#include <stddef.h>


typedef struct {
    const u_char       *message;       /* plain text, escaped on output */
    size_t              message_len;
    const char         *type;          /* e.g. "invalid_request_error" */
    const u_char       *param;         /* plain text, or NULL for null */
    size_t              param_len;
    const char         *code;          /* e.g. "invalid_api_key", or NULL */
} aigw_error_t;


size_t aigw_error_len(const aigw_error_t *e);
u_char *aigw_error_write(u_char *dst, const aigw_error_t *e);


#endif /* _AIGW_ERROR_H_INCLUDED_ */
