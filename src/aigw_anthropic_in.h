/*
 * aigw: Anthropic-format clients (the Anthropic SDKs, Claude Code) on
 * POST /v1/messages.
 *
 * Their request becomes an OpenAI chat-completions body that goes through
 * the same routes, limits and adapters as any other; the OpenAI answer,
 * stream or error is then turned back into Anthropic's.  (For a channel
 * whose provider is anthropic the glue passes the exchange through
 * instead.)
 */

#ifndef _AIGW_ANTHROPIC_IN_H_INCLUDED_
#define _AIGW_ANTHROPIC_IN_H_INCLUDED_


#include "aigw_adapter.h"


#define AIGW_ANTHROPIC_IN_TOOLS  64     /* tool calls tracked per stream */


typedef struct {
    aigw_adapter_resp_t  conf;         /* id: "msg_...", model: public */
    aigw_usage_t         usage;        /* from the OpenAI usage chunk */
    aigw_buf_t           scratch;
    int                  block;        /* open content block, or -1 */
    int                  blocks;       /* content blocks started */
    int                  block_kind;   /* text, thinking or tool_use */
    int                  tool_block[AIGW_ANTHROPIC_IN_TOOLS]; /* block of
                                          OpenAI tool call i, or -1 */
    const char          *stop_reason;
    unsigned             started:1;    /* message_start sent */
    unsigned             stopped:1;    /* message_stop sent */
    unsigned             failed:1;     /* an error event was sent */
} aigw_anthropic_in_stream_t;


/*
 * Messages request -> OpenAI chat-completions body.  A streamed request
 * also asks for stream_options.include_usage.  *stream tells whether it
 * streams.  AIGW_ADAPTER_INVALID fills err (a 400).
 */
int aigw_anthropic_in_request(const u_char *body, size_t len,
    aigw_buf_t *out, int *stream, aigw_adapter_error_t *err);

/* chat.completion -> Messages response; AIGW_ADAPTER_INVALID: a 502 */
int aigw_anthropic_in_response(const u_char *body, size_t len,
    const aigw_adapter_resp_t *resp, aigw_buf_t *out);

/* an OpenAI error body (or anything) -> Anthropic error body */
int aigw_anthropic_in_error(int status, const u_char *body, size_t len,
    aigw_buf_t *out);

/* the gateway's own error, Anthropic-shaped */
int aigw_anthropic_in_error_json(aigw_buf_t *out, int status,
    const u_char *message, size_t message_len);

/* Anthropic's error type for an HTTP status, e.g. 529 overloaded_error */
const char *aigw_anthropic_error_type(int status);

/*
 * The stream: each OpenAI chunk (data: JSON or "[DONE]") becomes zero or
 * more named Anthropic events.  finish() returns AIGW_ADAPTER_INVALID
 * when the OpenAI stream ended without [DONE].
 */
void aigw_anthropic_in_stream_init(aigw_anthropic_in_stream_t *st,
    const aigw_adapter_resp_t *resp, aigw_alloc_pt alloc, void *pool);
int aigw_anthropic_in_stream_event(aigw_anthropic_in_stream_t *st,
    const u_char *data, size_t data_len, aigw_emit_pt emit, void *ctx);
int aigw_anthropic_in_stream_finish(aigw_anthropic_in_stream_t *st,
    aigw_emit_pt emit, void *ctx);


#endif /* _AIGW_ANTHROPIC_IN_H_INCLUDED_ */
