/*
 * aigw: token usage from OpenAI-format responses.
 *
 * A JSON response body arrives in pieces and is passed on untouched, so
 * its top-level "usage" member is captured by a small incremental scanner
 * that keeps only that member's text (bounded).  Stream chunks are complete
 * JSON texts from the SSE parser and are scanned directly.
 */

#ifndef _AIGW_USAGE_H_INCLUDED_
#define _AIGW_USAGE_H_INCLUDED_


#include "aigw_json.h"


#define AIGW_USAGE_CAPTURE_MAX  2048


typedef struct {
    int64_t             prompt_tokens;
    int64_t             completion_tokens;
    int64_t             total_tokens;
    int64_t             cached_tokens;
    int64_t             reasoning_tokens;
    unsigned            found:1;
} aigw_usage_t;


typedef struct {
    unsigned            depth;
    unsigned            state;
    unsigned            in_string:1;
    unsigned            escape:1;
    unsigned            capturing:1;
    unsigned            captured:1;
    unsigned            overflow:1;
    size_t              key_len;
    u_char              key[8];
    size_t              len;
    u_char              buf[AIGW_USAGE_CAPTURE_MAX];
} aigw_usage_capture_t;


/* Parses the text of a usage object. Returns 0 or -1. */
int aigw_usage_parse(const u_char *p, size_t len, aigw_usage_t *u);

void aigw_usage_capture_init(aigw_usage_capture_t *c);
void aigw_usage_capture_feed(aigw_usage_capture_t *c, const u_char *p,
    size_t len);
/* Returns 0 when a usage object was captured and parsed into u. */
int aigw_usage_capture_result(aigw_usage_capture_t *c, aigw_usage_t *u);

/*
 * Reads an OpenAI stream chunk.  Returns 1 and fills u when the chunk has a
 * usage object, 0 when it has none, -1 when it is not a JSON object.
 * *usage_only is set when its "choices" array is empty: the extra chunk that
 * stream_options.include_usage adds.
 */
int aigw_usage_from_chunk(const u_char *data, size_t len, aigw_usage_t *u,
    int *usage_only);


#endif /* _AIGW_USAGE_H_INCLUDED_ */
