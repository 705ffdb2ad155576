/*
 * aigw: a cheap estimate of the prompt tokens of a request body.
 *
 * This file is nginx-free so that it can be unit tested on its own.
 *
 * Admission reserves tokens before the request is sent; the response's
 * real usage reconciles the reservation later, so the estimate only has
 * to be cheap (one pass over the body, no allocation, no tokenizer
 * tables) and in the right range.  The body must already have been
 * validated as a JSON object (aigw_json_parse_object()); anything
 * unexpected in it is skipped, never read out of bounds.
 *
 * Text to tokens, per JSON string, after decoding its escapes:
 *   ceil(ASCII bytes / 4) + one token per non-ASCII character.
 * A \uXXXX escape (or a surrogate pair) is one character.  Accuracy
 * against OpenAI's cl100k/o200k tokenizers: English prose averages
 * 4 to 4.5 bytes per token, so within about 20%; code, JSON, numbers,
 * URLs and random strings (hex, base64) run at 2 to 3 bytes per token
 * and are underestimated up to 2x; CJK is close to one token per
 * character; other non-Latin scripts are mostly overestimated.
 *
 * AIGW_TOKENS_CHAT (/v1/chat/completions):
 *   3 tokens for the reply primer, plus for each of "messages":
 *     4 tokens of overhead (role and delimiters),
 *     + "content": a string, or an array of parts: a "text" part counts
 *       its "text"; an "image_url" part counts a fixed 765 tokens
 *       (gpt-4o's high-detail cost of a 1024x1024 image: 85 + 4 x 170),
 *       whatever the size of its URL or base64 data; a part of any other
 *       type (audio, file) counts the same fixed 765; this holds for
 *       every role, "tool" messages included,
 *     + "name",
 *     + "tool_calls": each "function"'s "name" and "arguments",
 *     + the legacy "function_call": its "name" and "arguments";
 *   plus "tools" and the legacy "functions" from the length of their
 *   raw JSON text, as ASCII.  Images are the least accurate part: low
 *   detail costs 85 tokens, larger images and other providers more.
 *
 * AIGW_TOKENS_COMPLETIONS (/v1/completions): "prompt";
 * AIGW_TOKENS_EMBEDDINGS (/v1/embeddings): "input":
 *   a string, or an array of strings (each rounded up on its own), of
 *   tokens (integers, one each) or of token arrays (their lengths).
 *
 * Any other endpoint: the whole body as ASCII text.
 *
 * The result is at least 1.
 */


#ifndef _AIGW_TOKENS_H_INCLUDED_
#define _AIGW_TOKENS_H_INCLUDED_


#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include "aigw_json.h"


#define AIGW_TOKENS_CHAT         1
#define AIGW_TOKENS_COMPLETIONS  2
#define AIGW_TOKENS_EMBEDDINGS   3

/* reply primer, per-message overhead, non-text content part */
#define AIGW_TOKENS_PRIMER       3
#define AIGW_TOKENS_MESSAGE      4
#define AIGW_TOKENS_IMAGE        765


int64_t aigw_tokens_estimate(const u_char *body, size_t len,
    unsigned endpoint);

/*
 * The same estimate from the n top-level members m[] that
 * aigw_json_parse_object() returned for this body: only the values of
 * "messages", "tools" and "functions" (or "prompt", "input") are read, and
 * only len of the body itself, for an endpoint that counts it whole.  It
 * equals aigw_tokens_estimate() for every body that parse_object accepts.
 */
int64_t aigw_tokens_estimate_members(const u_char *body, size_t len,
    const aigw_json_member_t *m, size_t n, unsigned endpoint);

/*
 * "max_completion_tokens" if it is a non-negative integer, else
 * "max_tokens" if it is one, else dflt.
 */
int64_t aigw_tokens_max_completion(const u_char *body, size_t len,
    int64_t dflt);


#endif /* _AIGW_TOKENS_H_INCLUDED_ */
