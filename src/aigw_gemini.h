/*
 * aigw: the Google Gemini adapter (OpenAI chat completions and embeddings
 * <-> generateContent, streamGenerateContent?alt=sse, batchEmbedContents).
 *
 * The model goes into the URL path, not the body: the glue checks it with
 * aigw_path_segment_valid() and builds the path.
 */

#ifndef _AIGW_GEMINI_H_INCLUDED_
#define _AIGW_GEMINI_H_INCLUDED_


#include "aigw_adapter.h"


typedef struct {
    aigw_adapter_resp_t  conf;
    aigw_usage_t         usage;        /* from the last usageMetadata */
    aigw_buf_t           scratch;
    int                  tools;        /* tool calls emitted */
    const char          *finish_reason;
    unsigned             started:1;    /* the role chunk was sent */
    unsigned             finished:1;   /* a finishReason was seen */
    unsigned             failed:1;     /* an error was relayed */
} aigw_gemini_stream_t;


/* chat body -> GenerateContentRequest (see aigw_anthropic_request()) */
int aigw_gemini_request(const u_char *body, size_t len,
    const aigw_adapter_req_t *req, aigw_buf_t *out, int *stream,
    aigw_adapter_error_t *err);

/* GenerateContentResponse -> chat.completion */
int aigw_gemini_response(const u_char *body, size_t len,
    const aigw_adapter_resp_t *resp, aigw_buf_t *out, aigw_usage_t *usage);

/* {"error":{"code","message","status"}} (or anything) -> OpenAI error */
int aigw_gemini_error(int status, const u_char *body, size_t len,
    aigw_buf_t *out, int *out_status);

/* an "usageMetadata" object -> OpenAI-normalised usage */
int aigw_gemini_usage(const u_char *p, size_t len, aigw_usage_t *u);

/*
 * The stream (alt=sse: unnamed events, no [DONE]).  emit may be NULL.
 * finish() ends the OpenAI stream (usage chunk when conf.include_usage,
 * then [DONE]) if a finishReason was seen, else returns
 * AIGW_ADAPTER_INVALID and emits nothing.
 */
void aigw_gemini_stream_init(aigw_gemini_stream_t *st,
    const aigw_adapter_resp_t *resp, aigw_alloc_pt alloc, void *pool);
int aigw_gemini_stream_event(aigw_gemini_stream_t *st, const u_char *data,
    size_t data_len, aigw_emit_pt emit, void *ctx);
int aigw_gemini_stream_finish(aigw_gemini_stream_t *st, aigw_emit_pt emit,
    void *ctx);

/*
 * OpenAI embeddings body -> BatchEmbedContentsRequest for req->model.
 * *base64 tells whether the client asked for encoding_format "base64"
 * (the OpenAI Node SDK's default): pass it on to embed_response().
 */
int aigw_gemini_embed_request(const u_char *body, size_t len,
    const aigw_adapter_req_t *req, aigw_buf_t *out, int *base64,
    aigw_adapter_error_t *err);

/*
 * BatchEmbedContentsResponse -> OpenAI embeddings list, each embedding a
 * float array or, with base64, its little-endian float32 bytes in base64.
 * Gemini reports no tokens for embeddings: usage gets prompt_estimate.
 */
int aigw_gemini_embed_response(const u_char *body, size_t len,
    const aigw_adapter_resp_t *resp, int base64, int64_t prompt_estimate,
    aigw_buf_t *out, aigw_usage_t *usage);


#endif /* _AIGW_GEMINI_H_INCLUDED_ */
