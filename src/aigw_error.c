/*
 * aigw: OpenAI-shaped error bodies.
 */

#include <string.h>

#include "aigw_error.h"
#include "aigw_json.h"


#define aigw_cpymem(dst, s, n)  (((u_char *) memcpy(dst, s, n)) + (n))
#define aigw_cpylit(dst, lit)   aigw_cpymem(dst, lit, sizeof(lit) - 1)


size_t
aigw_error_len(const aigw_error_t *e)
{
    size_t  len;

    len = sizeof("{\"error\":{\"message\":\"\",\"type\":\"\",\"param\":"
                 ",\"code\":}}\n") - 1
          + aigw_json_escape_len(e->message, e->message_len)
          + strlen(e->type);

    len += e->param ? aigw_json_escape_len(e->param, e->param_len) + 2
                    : sizeof("null") - 1;

    len += e->code ? strlen(e->code) + 2 : sizeof("null") - 1;

    return len;
}


u_char *
aigw_error_write(u_char *dst, const aigw_error_t *e)
{
    dst = aigw_cpylit(dst, "{\"error\":{\"message\":\"");
    dst = aigw_json_escape(dst, e->message, e->message_len);
    dst = aigw_cpylit(dst, "\",\"type\":\"");
    dst = aigw_cpymem(dst, e->type, strlen(e->type));
    dst = aigw_cpylit(dst, "\",\"param\":");

    if (e->param) {
        *dst++ = '"';
        dst = aigw_json_escape(dst, e->param, e->param_len);
        *dst++ = '"';

    } else {
        dst = aigw_cpylit(dst, "null");
    }

    dst = aigw_cpylit(dst, ",\"code\":");

    if (e->code) {
        *dst++ = '"';
        dst = aigw_cpymem(dst, e->code, strlen(e->code));
        *dst++ = '"';

    } else {
        dst = aigw_cpylit(dst, "null");
    }

    return aigw_cpylit(dst, "}}\n");
}
