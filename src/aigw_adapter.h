/*
 * aigw: what every provider adapter shares.
 *
 * An adapter translates one whole exchange between OpenAI's format and a
 * provider's: the request body, the non-streamed response, the stream (one
 * event at a time) and the error bodies.  Adapters take plain buffers and
 * return plain results; the nginx glue only feeds them.
 *
 * Request and response bodies are parsed with jansson: a translation is a
 * change of shape, not a span copy, and it runs on bounded input only (the
 * request body limit, the response buffering cap, one stream event).
 */

#ifndef _AIGW_ADAPTER_H_INCLUDED_
#define _AIGW_ADAPTER_H_INCLUDED_


#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "aigw_body.h"
#include "aigw_usage.h"


#define AIGW_ADAPTER_OK          0
/* the input breaks the format: 400 for a client's request, 502 for an
 * upstream's answer */
#define AIGW_ADAPTER_INVALID    -1
#define AIGW_ADAPTER_NOMEM      -2
/* the output would pass the buffer's bound */
#define AIGW_ADAPTER_TOO_BIG    -3


/*
 * A growing output buffer.  Memory comes from alloc (a pool: nothing is
 * freed one by one); growth doubles, so what a buffer ever took stays
 * below twice its final capacity.  max bounds len (0: no bound).
 */
typedef struct {
    u_char             *data;
    size_t              len;
    size_t              cap;
    size_t              max;
    aigw_alloc_pt       alloc;
    void               *pool;
} aigw_buf_t;


/* why a client's request cannot be translated: a 400 */
typedef struct {
    char                message[256];   /* English, one sentence */
    char                param[64];      /* e.g. "messages[2].content" */
} aigw_adapter_error_t;


/* how to translate a request */
typedef struct {
    const u_char       *model;          /* upstream model name */
    size_t              model_len;
    int64_t             default_max_tokens; /* when the client set none */
} aigw_adapter_req_t;


/* what a translated answer reports where the provider's answer is silent */
typedef struct {
    const u_char       *id;             /* e.g. "chatcmpl-<request id>" */
    size_t              id_len;
    const u_char       *model;          /* the model the client asked for */
    size_t              model_len;
    int64_t             created;        /* Unix time */
    unsigned            include_usage:1; /* stream: end with a usage chunk */
} aigw_adapter_resp_t;


/*
 * One translated stream event.  event is NULL for an unnamed event (OpenAI
 * streams); data is a JSON text, or "[DONE]".  A nonzero return stops the
 * translator, which returns that value.
 */
typedef int (*aigw_emit_pt)(void *ctx, const u_char *event, size_t event_len,
    const u_char *data, size_t data_len);


void aigw_buf_init(aigw_buf_t *b, aigw_alloc_pt alloc, void *pool,
    size_t max);
/* makes room for n more bytes: AIGW_ADAPTER_OK, _NOMEM or _TOO_BIG */
int aigw_buf_reserve(aigw_buf_t *b, size_t n);
int aigw_buf_append(aigw_buf_t *b, const void *p, size_t n);
/* appends j as compact JSON (reals with 15 significant digits) */
int aigw_buf_dump(aigw_buf_t *b, const json_t *j);

/* loads a JSON text; NULL when it is not one (or memory ran out) */
json_t *aigw_json_load(const u_char *p, size_t len);

/* frames of Server-Sent Events: "[event: e\n]data: d\n\n" */
int aigw_sse_frame(aigw_buf_t *b, const u_char *event, size_t event_len,
    const u_char *data, size_t data_len);

/* an OpenAI error body {"error":{"message","type","param","code"}} */
int aigw_openai_error_json(aigw_buf_t *b, const char *message,
    size_t message_len, const char *type, const char *code);

/* OpenAI's error type for an HTTP status, e.g. 429 "rate_limit_exceeded" */
const char *aigw_openai_error_type(int status);

/*
 * Whether a name may become one segment of an upstream URL path (a Gemini
 * model, an Azure deployment): 1..128 of [A-Za-z0-9._-], not "." or "..".
 */
int aigw_path_segment_valid(const u_char *p, size_t len);

void aigw_adapter_error(aigw_adapter_error_t *err, const char *param,
    const char *fmt, ...);


#endif /* _AIGW_ADAPTER_H_INCLUDED_ */
