/*
 * aigw: the Anthropic Messages adapter (OpenAI chat completions <->
 * POST /v1/messages), for channels whose provider is anthropic.
 */

#ifndef _AIGW_ANTHROPIC_H_INCLUDED_
#define _AIGW_ANTHROPIC_H_INCLUDED_


#include "aigw_adapter.h"


#define AIGW_ANTHROPIC_VERSION  "2023-06-01"
#define AIGW_ANTHROPIC_BLOCKS   64      /* content blocks tracked per stream */


typedef struct {
    aigw_adapter_resp_t  conf;
    aigw_usage_t         usage;        /* OpenAI-normalised, so far */
    aigw_buf_t           scratch;      /* one translated chunk */
    u_char               id[128];      /* the message id, from message_start */
    size_t               id_len;
    u_char               model[128];
    size_t               model_len;
    int                  block_tool[AIGW_ANTHROPIC_BLOCKS]; /* tool call
                                          index of a tool_use block, or -1 */
    int                  tools;        /* tool calls started */
    const char          *finish_reason;
    unsigned             started:1;    /* message_start seen */
    unsigned             stopped:1;    /* message_stop seen: [DONE] sent */
    unsigned             failed:1;     /* an error event was relayed */

    /* Anthropic's counts apart: a message_delta may update some only */
    int64_t              input_tokens;
    int64_t              cache_read;
    int64_t              cache_creation;
    int64_t              output_tokens;
} aigw_anthropic_stream_t;


/*
 * OpenAI chat-completions body (validated JSON) -> Messages body, with
 * req->model as "model" and req->default_max_tokens when the client gave
 * no max_tokens / max_completion_tokens.  *stream tells whether the
 * request streams.  AIGW_ADAPTER_INVALID fills err (a 400).
 */
int aigw_anthropic_request(const u_char *body, size_t len,
    const aigw_adapter_req_t *req, aigw_buf_t *out, int *stream,
    aigw_adapter_error_t *err);

/* Messages response -> chat.completion; AIGW_ADAPTER_INVALID: a 502 */
int aigw_anthropic_response(const u_char *body, size_t len,
    const aigw_adapter_resp_t *resp, aigw_buf_t *out, aigw_usage_t *usage);

/*
 * An Anthropic error answer (any body, even not JSON) -> OpenAI error
 * body; *out_status is the status for the client (529 -> 503).
 */
int aigw_anthropic_error(int status, const u_char *body, size_t len,
    aigw_buf_t *out, int *out_status);

/* the text of a Messages "usage" object -> OpenAI-normalised usage */
int aigw_anthropic_usage(const u_char *p, size_t len, aigw_usage_t *u);

/*
 * The stream: each SSE event of the upstream (its name and data) becomes
 * zero or more OpenAI chunks given to emit, the last one "[DONE]".  emit
 * may be NULL: the stream is only watched for its usage (pass-through).
 * Memory comes from alloc/pool and is bounded by the largest event.
 */
void aigw_anthropic_stream_init(aigw_anthropic_stream_t *st,
    const aigw_adapter_resp_t *resp, aigw_alloc_pt alloc, void *pool);
int aigw_anthropic_stream_event(aigw_anthropic_stream_t *st,
    const u_char *event, size_t event_len, const u_char *data,
    size_t data_len, aigw_emit_pt emit, void *ctx);
/* end of the upstream stream: AIGW_ADAPTER_INVALID if it was cut short */
int aigw_anthropic_stream_finish(aigw_anthropic_stream_t *st,
    aigw_emit_pt emit, void *ctx);


#endif /* _AIGW_ANTHROPIC_H_INCLUDED_ */
