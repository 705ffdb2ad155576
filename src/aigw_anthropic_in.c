/*
 * aigw: Anthropic-format clients on POST /v1/messages.
 *
 * The client's Messages request becomes an OpenAI chat-completions body;
 * the OpenAI answer, stream and errors become Anthropic's again.  Bodies
 * are bounded (request body limit, response cap, one stream event), so a
 * jansson tree per body is fine; stream events are written by hand into
 * st->scratch, whose memory is reused from one event to the next.
 *
 * Choices where Anthropic and OpenAI do not map one to one:
 *
 *  - system (string or text blocks) becomes one first system message with
 *    string content, blocks joined with "\n\n"; cache_control is dropped
 *    everywhere (OpenAI has no such thing).
 *  - A user message that is one text block becomes string content; more
 *    blocks become an array of text / image_url parts.  Text blocks of an
 *    assistant message are joined with "\n\n" into string content.
 *  - tool_result blocks become role "tool" messages placed before the
 *    rest of the user message; their text blocks are joined with "\n\n";
 *    images inside a tool result move to the user message that follows
 *    (OpenAI tool messages carry text only).  is_error has no OpenAI
 *    counterpart and is dropped: the text says what went wrong.
 *  - thinking / redacted_thinking blocks in the history are dropped (their
 *    signatures mean nothing to another provider); an assistant message
 *    left with neither text nor tool calls is dropped as well.
 *  - document and server-tool blocks, server tools (tools with a "type"
 *    other than "custom") and image sources other than base64 / url are
 *    refused with a 400: there is no faithful OpenAI form for them.
 *  - top_k is dropped; thinking.budget_tokens becomes reasoning_effort
 *    (low < 4096 <= medium < 16384 <= high); thinking "disabled" and
 *    "adaptive" add nothing.  tool_choice and disable_parallel_tool_use
 *    are sent only together with tools (OpenAI refuses them alone).
 *  - null for an optional member means absent; unknown members are
 *    ignored (clients send beta members a relay cannot honour anyway).
 *  - Error messages start with the Anthropic-style path of the member,
 *    e.g. "messages.2.content.0.type: ...", which is also err->param.
 *
 * Answers:
 *
 *  - Tool call arguments that do not parse as a JSON object become
 *    input {} rather than a 502: the tool then reports the missing input
 *    and the model can retry, where a 502 would end the client's turn.
 *  - A tool call without an id gets "toolu_<message id>_<n>" (n: its
 *    place among the tool calls; in a stream, its block index).
 *  - finish_reason "stop" with tool calls is reported as tool_use (some
 *    OpenAI-compatible servers say "stop"; agents wait for tool_use).
 *  - reasoning_content (or "reasoning") becomes a thinking block with an
 *    empty signature; a refusal (message.refusal) is given as text; tool
 *    calls of a type other than "function" are skipped.
 *  - The stream sends a ping right after message_start, as Anthropic
 *    does.  Usage comes from the OpenAI usage chunk, so message_start says
 *    0 tokens and message_delta carries input, cached and output tokens.
 *  - Events follow Anthropic's grammar strictly: one block open at a
 *    time, deltas only to the open block.  OpenAI streams tool calls one
 *    after the other; an argument piece for a call whose block was closed
 *    already (arguments interleaved) ends the stream with an error event
 *    rather than a misplaced delta: a tool run with a cut or mixed input
 *    could do harm.  Tool calls with index >= AIGW_ANTHROPIC_IN_TOOLS are
 *    followed only while their block is the open one.  Only choice 0 is
 *    translated; an event whose data is only whitespace is a keep-alive.
 *  - An upstream 401 is about the gateway's own upstream credential: its
 *    message (which may quote part of the key) is replaced.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "aigw_anthropic_in.h"
#include "aigw_json.h"


#define AIGW_AIN_TEXT      1
#define AIGW_AIN_THINKING  2
#define AIGW_AIN_TOOL      3

#define AIGW_AIN_PATH      128

#define AIGW_AIN_INTERLEAVED                                                  \
    "the upstream interleaved the arguments of parallel tool calls, which "   \
    "an Anthropic stream cannot carry"


/* the part of a request translation that reports 400s */
typedef struct {
    aigw_adapter_error_t   *err;
    json_t                 *msgs;          /* the OpenAI messages */
} aigw_ain_req_t;


static void aigw_ain_path(char *path, const char *fmt, ...);
static int aigw_ain_fail(aigw_adapter_error_t *err, const char *path,
    const char *what);
static int aigw_ain_nomem(const u_char *p, size_t len, json_error_t *e);
static json_t *aigw_ain_load(const u_char *p, size_t len, int *rc,
    json_error_t *e);
static json_t *aigw_ain_opt(json_t *o, const char *key);
static int aigw_ain_type_is(json_t *o, const char *type);
static json_t *aigw_ain_concat(const char *a, size_t alen, const char *b,
    size_t blen, const char *c, size_t clen, const char *d, size_t dlen);
static void aigw_ain_free(void *p);
static json_t *aigw_ain_join(json_t *texts);
static int aigw_ain_push(aigw_ain_req_t *r, const char *role,
    json_t *content);
static int aigw_ain_system(aigw_ain_req_t *r, json_t *system);
static int aigw_ain_image(aigw_ain_req_t *r, json_t *block, const char *path,
    json_t **part);
static int aigw_ain_text_part(json_t *text, json_t **part);
static int aigw_ain_tool_result(aigw_ain_req_t *r, json_t *block,
    const char *path, json_t *parts);
static int aigw_ain_user(aigw_ain_req_t *r, json_t *content, size_t i);
static int aigw_ain_assistant(aigw_ain_req_t *r, json_t *content, size_t i);
static int aigw_ain_messages(aigw_ain_req_t *r, json_t *in);
static int aigw_ain_tool(aigw_ain_req_t *r, json_t *t, size_t i,
    json_t **tool);
static int aigw_ain_tool_choice(aigw_ain_req_t *r, json_t *tc,
    json_t **choice, int *serial);
static int aigw_ain_tools(aigw_ain_req_t *r, json_t *in, json_t *o);
static int aigw_ain_params(aigw_ain_req_t *r, json_t *in, json_t *o,
    int *stream);
static int aigw_ain_translate(aigw_ain_req_t *r, json_t *in, json_t *o,
    int *stream);
static void aigw_ain_usage(json_t *u, aigw_usage_t *usage);
static int64_t aigw_ain_input_tokens(const aigw_usage_t *u);
static const char *aigw_ain_stop_reason(json_t *finish);
static json_t *aigw_ain_tool_input(json_t *args, int *rc);
static json_t *aigw_ain_tool_id(const aigw_adapter_resp_t *resp, size_t n);
static int aigw_ain_tool_use(json_t *content, json_t *id, json_t *fn,
    const aigw_adapter_resp_t *resp, size_t n);
static int aigw_ain_message(json_t *msg, const aigw_adapter_resp_t *resp,
    json_t *content, int *tools);
static int aigw_ain_error_body(aigw_buf_t *out, int status,
    const char *message, size_t len);
static int aigw_ain_cat(aigw_buf_t *b, const char *s);
static int aigw_ain_int(aigw_buf_t *b, int64_t n);
static int aigw_ain_esc(aigw_buf_t *b, const u_char *s, size_t len);
static int aigw_ain_str(aigw_buf_t *b, const u_char *s, size_t len);
static int aigw_ain_emit(aigw_anthropic_in_stream_t *st, const char *event,
    aigw_emit_pt emit, void *ctx);
static int aigw_ain_start(aigw_anthropic_in_stream_t *st, aigw_emit_pt emit,
    void *ctx);
static int aigw_ain_block_stop(aigw_anthropic_in_stream_t *st,
    aigw_emit_pt emit, void *ctx);
static int aigw_ain_tool_block(aigw_anthropic_in_stream_t *st, json_t *id,
    json_t *name);
static int aigw_ain_block_start(aigw_anthropic_in_stream_t *st, int kind,
    json_t *id, json_t *name, aigw_emit_pt emit, void *ctx);
static int aigw_ain_delta(aigw_anthropic_in_stream_t *st, int block,
    int kind, json_t *s, aigw_emit_pt emit, void *ctx);
static int aigw_ain_stream_text(aigw_anthropic_in_stream_t *st, int kind,
    json_t *s, aigw_emit_pt emit, void *ctx);
static int aigw_ain_stream_tool(aigw_anthropic_in_stream_t *st, json_t *tc,
    size_t k, aigw_emit_pt emit, void *ctx);
static int aigw_ain_stream_choice(aigw_anthropic_in_stream_t *st,
    json_t *choice, aigw_emit_pt emit, void *ctx);
static int aigw_ain_stream_fail(aigw_anthropic_in_stream_t *st,
    const char *type, const u_char *msg, size_t len, aigw_emit_pt emit,
    void *ctx);
static int aigw_ain_stream_error(aigw_anthropic_in_stream_t *st,
    json_t *error, aigw_emit_pt emit, void *ctx);
static int aigw_ain_stream_done(aigw_anthropic_in_stream_t *st,
    aigw_emit_pt emit, void *ctx);
static int aigw_ain_stream_chunk(aigw_anthropic_in_stream_t *st,
    json_t *root, aigw_emit_pt emit, void *ctx);


/* the path of a member, AIGW_AIN_PATH bytes at most */

static void
aigw_ain_path(char *path, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    (void) vsnprintf(path, AIGW_AIN_PATH, fmt, args);
    va_end(args);
}


static int
aigw_ain_fail(aigw_adapter_error_t *err, const char *path, const char *what)
{
    if (path && path[0]) {
        aigw_adapter_error(err, path, "%s: %s", path, what);

    } else {
        aigw_adapter_error(err, NULL, "%s", what);
    }

    return AIGW_ADAPTER_INVALID;
}


/*
 * Whether jansson failed for lack of memory.  It does not always say so:
 * when its lexer or parser cannot allocate, the error text stays empty,
 * and a string it cannot allocate comes back as a syntax error ("string
 * or '}' expected").  A syntax error that the lexer did not explain
 * (lone surrogates are its only complaint our scanner does not share) on
 * a text that our own scanner finds valid was therefore lack of memory.
 */

static int
aigw_ain_nomem(const u_char *p, size_t len, json_error_t *e)
{
    /* an empty text leaves the code byte unset too */

    if (e->text[0] == '\0'
        || json_error_code(e) == json_error_out_of_memory)
    {
        return 1;
    }

    return json_error_code(e) == json_error_invalid_syntax
           && strncmp(e->text, "invalid Unicode", 15) != 0
           && aigw_json_validate(p, len, JSON_PARSER_MAX_DEPTH + 1)
              != AIGW_JSON_NONE;
}


/* a JSON text of any type; *rc tells a syntax error from lack of memory */

static json_t *
aigw_ain_load(const u_char *p, size_t len, int *rc, json_error_t *e)
{
    json_t  *j;

    j = json_loadb((const char *) p, len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                   e);

    if (j == NULL) {
        *rc = aigw_ain_nomem(p, len, e) ? AIGW_ADAPTER_NOMEM
                                        : AIGW_ADAPTER_INVALID;
    }

    return j;
}


/* an optional member: absent and null read alike */

static json_t *
aigw_ain_opt(json_t *o, const char *key)
{
    json_t  *v;

    v = json_object_get(o, key);

    return json_is_null(v) ? NULL : v;
}


static int
aigw_ain_type_is(json_t *o, const char *type)
{
    json_t  *t;

    t = json_object_get(o, "type");

    return json_is_string(t) && strcmp(json_string_value(t), type) == 0;
}


/*
 * A new string a + b + c + d (pieces of valid UTF-8), built in memory from
 * jansson's allocator like the rest.
 */

static json_t *
aigw_ain_concat(const char *a, size_t alen, const char *b, size_t blen,
    const char *c, size_t clen, const char *d, size_t dlen)
{
    char           *p;
    size_t          len;
    json_t         *s;
    json_free_t     free_fn;
    json_malloc_t   malloc_fn;

    /* the pieces are in memory already: their sum cannot overflow */
    len = alen + blen + clen + dlen;

    json_get_alloc_funcs(&malloc_fn, &free_fn);

    p = malloc_fn(len + 1);
    if (p == NULL) {
        return NULL;
    }

    memcpy(p, a, alen);
    memcpy(p + alen, b, blen);
    memcpy(p + alen + blen, c, clen);
    memcpy(p + alen + blen + clen, d, dlen);

    s = json_stringn_nocheck(p, len);

    free_fn(p);

    return s;
}


/* frees what jansson allocated (json_dumps) with jansson's own free */

static void
aigw_ain_free(void *p)
{
    json_free_t    free_fn;
    json_malloc_t  malloc_fn;

    json_get_alloc_funcs(&malloc_fn, &free_fn);
    free_fn(p);
}


/* an array of strings joined with "\n\n", as a new reference */

static json_t *
aigw_ain_join(json_t *texts)
{
    char           *p;
    size_t          i, n, len;
    json_t         *s, *t;
    json_free_t     free_fn;
    json_malloc_t   malloc_fn;

    n = json_array_size(texts);

    if (n == 0) {
        return json_string("");
    }

    if (n == 1) {
        return json_incref(json_array_get(texts, 0));
    }

    len = 0;

    json_array_foreach(texts, i, t) {
        len += json_string_length(t) + 2;
    }

    json_get_alloc_funcs(&malloc_fn, &free_fn);

    p = malloc_fn(len);
    if (p == NULL) {
        return NULL;
    }

    len = 0;

    json_array_foreach(texts, i, t) {
        if (i) {
            memcpy(p + len, "\n\n", 2);
            len += 2;
        }

        memcpy(p + len, json_string_value(t), json_string_length(t));
        len += json_string_length(t);
    }

    s = json_stringn_nocheck(p, len);

    free_fn(p);

    return s;
}


/* appends {role, content} to the OpenAI messages; content is borrowed */

static int
aigw_ain_push(aigw_ain_req_t *r, const char *role, json_t *content)
{
    json_t  *msg;

    msg = json_pack("{s:s,s:O}", "role", role, "content", content);

    return (json_array_append_new(r->msgs, msg) == 0) ? AIGW_ADAPTER_OK
                                                       : AIGW_ADAPTER_NOMEM;
}


static int
aigw_ain_system(aigw_ain_req_t *r, json_t *system)
{
    int      rc;
    char     path[AIGW_AIN_PATH];
    size_t   i;
    json_t  *texts, *b, *t, *s;

    if (json_is_string(system)) {
        if (json_string_length(system) == 0) {
            return AIGW_ADAPTER_OK;
        }

        s = json_incref(system);

    } else if (json_is_array(system)) {
        texts = json_array();
        if (texts == NULL) {
            return AIGW_ADAPTER_NOMEM;
        }

        json_array_foreach(system, i, b) {
            aigw_ain_path(path, "system.%zu", i);

            if (!json_is_object(b) || !aigw_ain_type_is(b, "text")) {
                json_decref(texts);
                return aigw_ain_fail(r->err, path,
                                     "system blocks must be text blocks");
            }

            t = json_object_get(b, "text");

            if (!json_is_string(t)) {
                json_decref(texts);
                aigw_ain_path(path, "system.%zu.text", i);
                return aigw_ain_fail(r->err, path, "must be a string");
            }

            if (json_string_length(t)
                && json_array_append(texts, t) != 0)
            {
                json_decref(texts);
                return AIGW_ADAPTER_NOMEM;
            }
        }

        if (json_array_size(texts) == 0) {
            json_decref(texts);
            return AIGW_ADAPTER_OK;
        }

        s = aigw_ain_join(texts);
        json_decref(texts);

        if (s == NULL) {
            return AIGW_ADAPTER_NOMEM;
        }

    } else {
        return aigw_ain_fail(r->err, "system",
                             "must be a string or an array of text blocks");
    }

    rc = aigw_ain_push(r, "system", s);
    json_decref(s);

    return rc;
}


/* an image block -> an image_url part */

static int
aigw_ain_image(aigw_ain_req_t *r, json_t *block, const char *path,
    json_t **part)
{
    char     p[AIGW_AIN_PATH];
    json_t  *src, *type, *mt, *data, *url;

    src = json_object_get(block, "source");

    if (!json_is_object(src)) {
        aigw_ain_path(p, "%s.source", path);
        return aigw_ain_fail(r->err, p, "must be an object");
    }

    type = json_object_get(src, "type");

    if (aigw_ain_type_is(src, "base64")) {
        mt = json_object_get(src, "media_type");
        data = json_object_get(src, "data");

        if (!json_is_string(mt)) {
            aigw_ain_path(p, "%s.source.media_type", path);
            return aigw_ain_fail(r->err, p, "must be a string");
        }

        if (!json_is_string(data)) {
            aigw_ain_path(p, "%s.source.data", path);
            return aigw_ain_fail(r->err, p, "must be a string");
        }

        url = aigw_ain_concat("data:", 5, json_string_value(mt),
                              json_string_length(mt), ";base64,", 8,
                              json_string_value(data),
                              json_string_length(data));
        if (url == NULL) {
            return AIGW_ADAPTER_NOMEM;
        }

    } else if (aigw_ain_type_is(src, "url")) {
        url = json_object_get(src, "url");

        if (!json_is_string(url)) {
            aigw_ain_path(p, "%s.source.url", path);
            return aigw_ain_fail(r->err, p, "must be a string");
        }

        json_incref(url);

    } else {
        aigw_ain_path(p, "%s.source.type", path);
        return aigw_ain_fail(r->err, p, json_is_string(type)
                             ? "only base64 and url image sources are "
                               "supported for this model"
                             : "must be \"base64\" or \"url\"");
    }

    *part = json_pack("{s:s,s:{s:o}}", "type", "image_url", "image_url",
                      "url", url);

    return (*part == NULL) ? AIGW_ADAPTER_NOMEM : AIGW_ADAPTER_OK;
}


static int
aigw_ain_text_part(json_t *text, json_t **part)
{
    *part = json_pack("{s:s,s:O}", "type", "text", "text", text);

    return (*part == NULL) ? AIGW_ADAPTER_NOMEM : AIGW_ADAPTER_OK;
}


/* a tool_result block -> a tool message; its images go to parts */

static int
aigw_ain_tool_result(aigw_ain_req_t *r, json_t *block, const char *path,
    json_t *parts)
{
    int      rc;
    char     p[AIGW_AIN_PATH];
    size_t   i;
    json_t  *id, *content, *err, *b, *t, *texts, *s, *msg, *part;

    id = json_object_get(block, "tool_use_id");

    if (!json_is_string(id)) {
        aigw_ain_path(p, "%s.tool_use_id", path);
        return aigw_ain_fail(r->err, p, "must be a string");
    }

    err = aigw_ain_opt(block, "is_error");

    if (err && !json_is_boolean(err)) {
        aigw_ain_path(p, "%s.is_error", path);
        return aigw_ain_fail(r->err, p, "must be a boolean");
    }

    content = aigw_ain_opt(block, "content");

    if (content == NULL) {
        s = json_string("");

    } else if (json_is_string(content)) {
        s = json_incref(content);

    } else if (json_is_array(content)) {
        texts = json_array();
        if (texts == NULL) {
            return AIGW_ADAPTER_NOMEM;
        }

        json_array_foreach(content, i, b) {
            aigw_ain_path(p, "%s.content.%zu", path, i);

            if (!json_is_object(b)) {
                json_decref(texts);
                return aigw_ain_fail(r->err, p, "must be an object");
            }

            if (aigw_ain_type_is(b, "text")) {
                t = json_object_get(b, "text");

                if (!json_is_string(t)) {
                    json_decref(texts);
                    aigw_ain_path(p, "%s.content.%zu.text", path, i);
                    return aigw_ain_fail(r->err, p, "must be a string");
                }

                if (json_array_append(texts, t) != 0) {
                    json_decref(texts);
                    return AIGW_ADAPTER_NOMEM;
                }

                continue;
            }

            if (aigw_ain_type_is(b, "image")) {
                rc = aigw_ain_image(r, b, p, &part);

                if (rc != AIGW_ADAPTER_OK) {
                    json_decref(texts);
                    return rc;
                }

                if (json_array_append_new(parts, part) != 0) {
                    json_decref(texts);
                    return AIGW_ADAPTER_NOMEM;
                }

                continue;
            }

            json_decref(texts);
            aigw_ain_path(p, "%s.content.%zu.type", path, i);
            return aigw_ain_fail(r->err, p,
                                 "tool results may hold only text and "
                                 "image blocks for this model");
        }

        s = aigw_ain_join(texts);
        json_decref(texts);

    } else {
        aigw_ain_path(p, "%s.content", path);
        return aigw_ain_fail(r->err, p,
                             "must be a string or an array of blocks");
    }

    if (s == NULL) {
        return AIGW_ADAPTER_NOMEM;
    }

    msg = json_pack("{s:s,s:O,s:o}", "role", "tool", "tool_call_id", id,
                    "content", s);

    return (json_array_append_new(r->msgs, msg) == 0) ? AIGW_ADAPTER_OK
                                                       : AIGW_ADAPTER_NOMEM;
}


static int
aigw_ain_user(aigw_ain_req_t *r, json_t *content, size_t i)
{
    int      rc, tools;
    char     path[AIGW_AIN_PATH];
    size_t   k;
    json_t  *parts, *b, *t, *part, *c;

    if (json_is_string(content)) {
        return aigw_ain_push(r, "user", content);
    }

    if (!json_is_array(content)) {
        aigw_ain_path(path, "messages.%zu.content", i);
        return aigw_ain_fail(r->err, path,
                             "must be a string or an array of content "
                             "blocks");
    }

    parts = json_array();
    if (parts == NULL) {
        return AIGW_ADAPTER_NOMEM;
    }

    tools = 0;

    json_array_foreach(content, k, b) {
        aigw_ain_path(path, "messages.%zu.content.%zu", i, k);

        if (!json_is_object(b)) {
            json_decref(parts);
            return aigw_ain_fail(r->err, path, "must be an object");
        }

        if (aigw_ain_type_is(b, "text")) {
            t = json_object_get(b, "text");

            if (!json_is_string(t)) {
                json_decref(parts);
                aigw_ain_path(path, "messages.%zu.content.%zu.text", i, k);
                return aigw_ain_fail(r->err, path, "must be a string");
            }

            rc = aigw_ain_text_part(t, &part);

        } else if (aigw_ain_type_is(b, "image")) {
            rc = aigw_ain_image(r, b, path, &part);

        } else if (aigw_ain_type_is(b, "tool_result")) {
            tools = 1;
            rc = aigw_ain_tool_result(r, b, path, parts);

            if (rc != AIGW_ADAPTER_OK) {
                json_decref(parts);
                return rc;
            }

            continue;

        } else {
            json_decref(parts);
            aigw_ain_path(path, "messages.%zu.content.%zu.type", i, k);

            if (aigw_ain_type_is(b, "document")) {
                return aigw_ain_fail(r->err, path,
                                     "document blocks are supported only "
                                     "when the model is served by an "
                                     "Anthropic channel");
            }

            return aigw_ain_fail(r->err, path,
                                 json_is_string(json_object_get(b, "type"))
                                 ? "this content block type is not "
                                   "supported in user messages for this "
                                   "model"
                                 : "must be a string");
        }

        if (rc != AIGW_ADAPTER_OK) {
            json_decref(parts);
            return rc;
        }

        if (json_array_append_new(parts, part) != 0) {
            json_decref(parts);
            return AIGW_ADAPTER_NOMEM;
        }
    }

    /* a message of tool results only needs no user message after them */

    if (tools && json_array_size(parts) == 0) {
        json_decref(parts);
        return AIGW_ADAPTER_OK;
    }

    if (json_array_size(parts) == 0) {
        c = json_string("");

    } else if (json_array_size(parts) == 1
               && aigw_ain_type_is(json_array_get(parts, 0), "text"))
    {
        c = json_incref(json_object_get(json_array_get(parts, 0), "text"));

    } else {
        c = json_incref(parts);
    }

    json_decref(parts);

    if (c == NULL) {
        return AIGW_ADAPTER_NOMEM;
    }

    rc = aigw_ain_push(r, "user", c);
    json_decref(c);

    return rc;
}


static int
aigw_ain_assistant(aigw_ain_req_t *r, json_t *content, size_t i)
{
    int      rc;
    char     path[AIGW_AIN_PATH], *args;
    size_t   k;
    json_t  *texts, *calls, *b, *t, *id, *name, *input, *call, *msg, *c;

    if (json_is_string(content)) {
        return aigw_ain_push(r, "assistant", content);
    }

    if (!json_is_array(content)) {
        aigw_ain_path(path, "messages.%zu.content", i);
        return aigw_ain_fail(r->err, path,
                             "must be a string or an array of content "
                             "blocks");
    }

    texts = json_array();
    calls = json_array();
    msg = NULL;
    c = NULL;

    if (texts == NULL || calls == NULL) {
        rc = AIGW_ADAPTER_NOMEM;
        goto done;
    }

    json_array_foreach(content, k, b) {
        aigw_ain_path(path, "messages.%zu.content.%zu", i, k);

        if (!json_is_object(b)) {
            rc = aigw_ain_fail(r->err, path, "must be an object");
            goto done;
        }

        if (aigw_ain_type_is(b, "text")) {
            t = json_object_get(b, "text");

            if (!json_is_string(t)) {
                aigw_ain_path(path, "messages.%zu.content.%zu.text", i, k);
                rc = aigw_ain_fail(r->err, path, "must be a string");
                goto done;
            }

            if (json_string_length(t) && json_array_append(texts, t) != 0) {
                rc = AIGW_ADAPTER_NOMEM;
                goto done;
            }

            continue;
        }

        if (aigw_ain_type_is(b, "thinking")
            || aigw_ain_type_is(b, "redacted_thinking"))
        {
            continue;
        }

        if (!aigw_ain_type_is(b, "tool_use")) {
            aigw_ain_path(path, "messages.%zu.content.%zu.type", i, k);
            rc = aigw_ain_fail(r->err, path,
                               json_is_string(json_object_get(b, "type"))
                               ? "this content block type is not supported "
                                 "in assistant messages for this model"
                               : "must be a string");
            goto done;
        }

        id = json_object_get(b, "id");
        name = json_object_get(b, "name");
        input = json_object_get(b, "input");

        if (!json_is_string(id) || !json_is_string(name)) {
            aigw_ain_path(path, "messages.%zu.content.%zu.%s", i, k,
                          json_is_string(id) ? "name" : "id");
            rc = aigw_ain_fail(r->err, path, "must be a string");
            goto done;
        }

        if (!json_is_object(input)) {
            aigw_ain_path(path, "messages.%zu.content.%zu.input", i, k);
            rc = aigw_ain_fail(r->err, path, "must be an object");
            goto done;
        }

        args = json_dumps(input, JSON_COMPACT | JSON_REAL_PRECISION(15));
        if (args == NULL) {
            rc = AIGW_ADAPTER_NOMEM;
            goto done;
        }

        call = json_pack("{s:O,s:s,s:{s:O,s:s}}", "id", id,
                         "type", "function", "function", "name", name,
                         "arguments", args);

        aigw_ain_free(args);

        if (json_array_append_new(calls, call) != 0) {
            rc = AIGW_ADAPTER_NOMEM;
            goto done;
        }
    }

    if (json_array_size(texts) == 0 && json_array_size(calls) == 0) {
        rc = AIGW_ADAPTER_OK;
        goto done;
    }

    c = json_array_size(texts) ? aigw_ain_join(texts) : json_null();
    msg = json_object();

    if (c == NULL || msg == NULL
        || json_object_set_new(msg, "role", json_string("assistant")) != 0
        || json_object_set(msg, "content", c) != 0
        || (json_array_size(calls)
            && json_object_set(msg, "tool_calls", calls) != 0)
        || json_array_append(r->msgs, msg) != 0)
    {
        rc = AIGW_ADAPTER_NOMEM;
        goto done;
    }

    rc = AIGW_ADAPTER_OK;

done:

    json_decref(texts);
    json_decref(calls);
    json_decref(msg);
    json_decref(c);

    return rc;
}


static int
aigw_ain_messages(aigw_ain_req_t *r, json_t *in)
{
    int          rc;
    char         path[AIGW_AIN_PATH];
    size_t       i;
    json_t      *messages, *m, *role, *content;
    const char  *rs;

    messages = json_object_get(in, "messages");

    if (messages == NULL) {
        return aigw_ain_fail(r->err, "messages", "field required");
    }

    if (!json_is_array(messages)) {
        return aigw_ain_fail(r->err, "messages", "must be an array");
    }

    if (json_array_size(messages) == 0) {
        return aigw_ain_fail(r->err, "messages",
                             "at least one message is required");
    }

    json_array_foreach(messages, i, m) {
        if (!json_is_object(m)) {
            aigw_ain_path(path, "messages.%zu", i);
            return aigw_ain_fail(r->err, path, "must be an object");
        }

        role = json_object_get(m, "role");
        content = json_object_get(m, "content");
        rs = json_string_value(role);

        if (rs == NULL
            || (strcmp(rs, "user") != 0 && strcmp(rs, "assistant") != 0))
        {
            aigw_ain_path(path, "messages.%zu.role", i);
            return aigw_ain_fail(r->err, path,
                                 "must be \"user\" or \"assistant\"");
        }

        rc = (rs[0] == 'u') ? aigw_ain_user(r, content, i)
                            : aigw_ain_assistant(r, content, i);

        if (rc != AIGW_ADAPTER_OK) {
            return rc;
        }
    }

    return AIGW_ADAPTER_OK;
}


/* one Anthropic tool -> an OpenAI function tool */

static int
aigw_ain_tool(aigw_ain_req_t *r, json_t *t, size_t i, json_t **tool)
{
    char     path[AIGW_AIN_PATH];
    json_t  *type, *name, *desc, *schema;

    if (!json_is_object(t)) {
        aigw_ain_path(path, "tools.%zu", i);
        return aigw_ain_fail(r->err, path, "must be an object");
    }

    /* "custom" is a client tool too; other types are server tools */

    type = aigw_ain_opt(t, "type");

    if (type && !aigw_ain_type_is(t, "custom")) {
        aigw_ain_path(path, "tools.%zu.type", i);
        return aigw_ain_fail(r->err, path, json_is_string(type)
                             ? "server tools are not supported for this "
                               "model"
                             : "must be a string");
    }

    name = json_object_get(t, "name");
    desc = aigw_ain_opt(t, "description");
    schema = json_object_get(t, "input_schema");

    if (!json_is_string(name)) {
        aigw_ain_path(path, "tools.%zu.name", i);
        return aigw_ain_fail(r->err, path, "must be a string");
    }

    if (desc && !json_is_string(desc)) {
        aigw_ain_path(path, "tools.%zu.description", i);
        return aigw_ain_fail(r->err, path, "must be a string");
    }

    if (!json_is_object(schema)) {
        aigw_ain_path(path, "tools.%zu.input_schema", i);
        return aigw_ain_fail(r->err, path, "must be an object");
    }

    *tool = json_pack("{s:s,s:{s:O,s:O*,s:O}}", "type", "function",
                      "function", "name", name, "description", desc,
                      "parameters", schema);

    return (*tool == NULL) ? AIGW_ADAPTER_NOMEM : AIGW_ADAPTER_OK;
}


/* tool_choice -> OpenAI's tool_choice (*choice) and parallel_tool_calls */

static int
aigw_ain_tool_choice(aigw_ain_req_t *r, json_t *tc, json_t **choice,
    int *serial)
{
    json_t      *dp, *name;
    const char  *ts;

    if (!json_is_object(tc)) {
        return aigw_ain_fail(r->err, "tool_choice", "must be an object");
    }

    dp = aigw_ain_opt(tc, "disable_parallel_tool_use");

    if (dp && !json_is_boolean(dp)) {
        return aigw_ain_fail(r->err, "tool_choice.disable_parallel_tool_use",
                             "must be a boolean");
    }

    *serial = json_is_true(dp);

    ts = json_string_value(json_object_get(tc, "type"));

    if (ts && strcmp(ts, "auto") == 0) {
        *choice = json_string("auto");

    } else if (ts && strcmp(ts, "any") == 0) {
        *choice = json_string("required");

    } else if (ts && strcmp(ts, "none") == 0) {
        *choice = json_string("none");

    } else if (ts && strcmp(ts, "tool") == 0) {
        name = json_object_get(tc, "name");

        if (!json_is_string(name)) {
            return aigw_ain_fail(r->err, "tool_choice.name",
                                 "must be a string");
        }

        *choice = json_pack("{s:s,s:{s:O}}", "type", "function",
                            "function", "name", name);

    } else {
        return aigw_ain_fail(r->err, "tool_choice.type",
                             "must be \"auto\", \"any\", \"tool\" or "
                             "\"none\"");
    }

    return (*choice == NULL) ? AIGW_ADAPTER_NOMEM : AIGW_ADAPTER_OK;
}


static int
aigw_ain_tools(aigw_ain_req_t *r, json_t *in, json_t *o)
{
    int      rc, serial;
    size_t   i;
    json_t  *list, *tools, *t, *tool, *tc, *choice;

    list = aigw_ain_opt(in, "tools");

    if (list && !json_is_array(list)) {
        return aigw_ain_fail(r->err, "tools", "must be an array");
    }

    tool = NULL;
    choice = NULL;
    serial = 0;

    /* an empty list is no list: OpenAI refuses "tools": [] */

    tools = json_array_size(list) ? json_array() : NULL;

    json_array_foreach(list, i, t) {
        rc = aigw_ain_tool(r, t, i, &tool);

        if (rc == AIGW_ADAPTER_OK && json_array_append_new(tools, tool) != 0)
        {
            rc = AIGW_ADAPTER_NOMEM;
        }

        if (rc != AIGW_ADAPTER_OK) {
            json_decref(tools);
            return rc;
        }
    }

    tc = aigw_ain_opt(in, "tool_choice");

    if (tc) {
        rc = aigw_ain_tool_choice(r, tc, &choice, &serial);

        if (rc != AIGW_ADAPTER_OK) {
            json_decref(tools);
            return rc;
        }
    }

    /* OpenAI takes tool_choice and parallel_tool_calls only with tools */

    if (tools == NULL) {
        json_decref(choice);
        return AIGW_ADAPTER_OK;
    }

    if (json_object_set_new(o, "tools", tools) != 0) {
        json_decref(choice);
        return AIGW_ADAPTER_NOMEM;
    }

    if ((choice && json_object_set_new(o, "tool_choice", choice) != 0)
        || (serial
            && json_object_set_new(o, "parallel_tool_calls", json_false())
               != 0))
    {
        return AIGW_ADAPTER_NOMEM;
    }

    return AIGW_ADAPTER_OK;
}


static int
aigw_ain_params(aigw_ain_req_t *r, json_t *in, json_t *o, int *stream)
{
    int          rc;
    size_t       i;
    json_t      *v, *s, *md, *th;
    json_int_t   budget;
    const char  *effort;

    v = aigw_ain_opt(in, "stop_sequences");

    if (v) {
        if (!json_is_array(v)) {
            return aigw_ain_fail(r->err, "stop_sequences",
                                 "must be an array of strings");
        }

        json_array_foreach(v, i, s) {
            if (!json_is_string(s)) {
                return aigw_ain_fail(r->err, "stop_sequences",
                                     "must be an array of strings");
            }
        }

        if (json_array_size(v) && json_object_set(o, "stop", v) != 0) {
            return AIGW_ADAPTER_NOMEM;
        }
    }

    v = aigw_ain_opt(in, "temperature");

    if (v) {
        if (!json_is_number(v)) {
            return aigw_ain_fail(r->err, "temperature", "must be a number");
        }

        if (json_object_set(o, "temperature", v) != 0) {
            return AIGW_ADAPTER_NOMEM;
        }
    }

    v = aigw_ain_opt(in, "top_p");

    if (v) {
        if (!json_is_number(v)) {
            return aigw_ain_fail(r->err, "top_p", "must be a number");
        }

        if (json_object_set(o, "top_p", v) != 0) {
            return AIGW_ADAPTER_NOMEM;
        }
    }

    /* OpenAI has no top_k: checked, then dropped */

    v = aigw_ain_opt(in, "top_k");

    if (v && !json_is_integer(v)) {
        return aigw_ain_fail(r->err, "top_k", "must be an integer");
    }

    v = aigw_ain_opt(in, "stream");

    if (v && !json_is_boolean(v)) {
        return aigw_ain_fail(r->err, "stream", "must be a boolean");
    }

    *stream = json_is_true(v);

    if (v) {
        if (json_object_set(o, "stream", v) != 0) {
            return AIGW_ADAPTER_NOMEM;
        }

        if (*stream
            && json_object_set_new(o, "stream_options",
                                   json_pack("{s:b}", "include_usage", 1))
               != 0)
        {
            return AIGW_ADAPTER_NOMEM;
        }
    }

    rc = aigw_ain_tools(r, in, o);
    if (rc != AIGW_ADAPTER_OK) {
        return rc;
    }

    md = aigw_ain_opt(in, "metadata");

    if (md) {
        if (!json_is_object(md)) {
            return aigw_ain_fail(r->err, "metadata", "must be an object");
        }

        v = aigw_ain_opt(md, "user_id");

        if (v && !json_is_string(v)) {
            return aigw_ain_fail(r->err, "metadata.user_id",
                                 "must be a string");
        }

        if (v && json_object_set(o, "user", v) != 0) {
            return AIGW_ADAPTER_NOMEM;
        }
    }

    th = aigw_ain_opt(in, "thinking");

    if (th) {
        if (!json_is_object(th)) {
            return aigw_ain_fail(r->err, "thinking", "must be an object");
        }

        if (aigw_ain_type_is(th, "enabled")) {
            v = json_object_get(th, "budget_tokens");

            if (!json_is_integer(v) || json_integer_value(v) < 1) {
                return aigw_ain_fail(r->err, "thinking.budget_tokens",
                                     "must be a positive integer");
            }

            budget = json_integer_value(v);
            effort = (budget < 4096) ? "low"
                     : (budget < 16384) ? "medium" : "high";

            if (json_object_set_new(o, "reasoning_effort",
                                    json_string(effort))
                != 0)
            {
                return AIGW_ADAPTER_NOMEM;
            }

        } else if (!aigw_ain_type_is(th, "disabled")
                   && !aigw_ain_type_is(th, "adaptive"))
        {
            return aigw_ain_fail(r->err, "thinking.type",
                                 "must be \"enabled\", \"disabled\" or "
                                 "\"adaptive\"");
        }
    }

    return AIGW_ADAPTER_OK;
}


static int
aigw_ain_translate(aigw_ain_req_t *r, json_t *in, json_t *o, int *stream)
{
    int      rc;
    json_t  *model, *max, *system;

    model = json_object_get(in, "model");

    if (model == NULL) {
        return aigw_ain_fail(r->err, "model", "field required");
    }

    if (!json_is_string(model) || json_string_length(model) == 0) {
        return aigw_ain_fail(r->err, "model", "must be a non-empty string");
    }

    max = json_object_get(in, "max_tokens");

    if (max == NULL) {
        return aigw_ain_fail(r->err, "max_tokens", "field required");
    }

    if (!json_is_integer(max) || json_integer_value(max) < 1) {
        return aigw_ain_fail(r->err, "max_tokens",
                             "must be a positive integer");
    }

    if (json_object_set(o, "model", model) != 0) {
        return AIGW_ADAPTER_NOMEM;
    }

    r->msgs = json_array();

    if (json_object_set_new(o, "messages", r->msgs) != 0) {
        return AIGW_ADAPTER_NOMEM;
    }

    system = aigw_ain_opt(in, "system");

    if (system) {
        rc = aigw_ain_system(r, system);
        if (rc != AIGW_ADAPTER_OK) {
            return rc;
        }
    }

    rc = aigw_ain_messages(r, in);
    if (rc != AIGW_ADAPTER_OK) {
        return rc;
    }

    if (json_object_set(o, "max_tokens", max) != 0) {
        return AIGW_ADAPTER_NOMEM;
    }

    return aigw_ain_params(r, in, o, stream);
}


int
aigw_anthropic_in_request(const u_char *body, size_t len, aigw_buf_t *out,
    int *stream, aigw_adapter_error_t *err)
{
    int             rc;
    json_t         *in, *o;
    json_error_t    e;
    aigw_ain_req_t  r;

    *stream = 0;
    err->message[0] = '\0';
    err->param[0] = '\0';

    in = aigw_ain_load(body, len, &rc, &e);

    if (in == NULL) {
        if (rc == AIGW_ADAPTER_INVALID) {
            aigw_adapter_error(err, NULL,
                               "the request body is not valid JSON: %s "
                               "(line %d, column %d)",
                               e.text, e.line, e.column);
        }

        return rc;
    }

    if (!json_is_object(in)) {
        json_decref(in);
        return aigw_ain_fail(err, NULL,
                             "the request body must be a JSON object");
    }

    o = json_object();

    if (o == NULL) {
        json_decref(in);
        return AIGW_ADAPTER_NOMEM;
    }

    r.err = err;
    r.msgs = NULL;

    rc = aigw_ain_translate(&r, in, o, stream);

    if (rc == AIGW_ADAPTER_OK) {
        rc = aigw_buf_dump(out, o);
    }

    if (rc != AIGW_ADAPTER_INVALID) {
        err->message[0] = '\0';
        err->param[0] = '\0';
    }

    json_decref(o);
    json_decref(in);

    return rc;
}


/* an OpenAI usage object; members that are not counts read as 0 */

static void
aigw_ain_usage(json_t *u, aigw_usage_t *usage)
{
    json_t  *v, *d;

    memset(usage, 0, sizeof(aigw_usage_t));

    if (!json_is_object(u)) {
        return;
    }

    v = json_object_get(u, "prompt_tokens");
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        usage->prompt_tokens = json_integer_value(v);
    }

    v = json_object_get(u, "completion_tokens");
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        usage->completion_tokens = json_integer_value(v);
    }

    v = json_object_get(u, "total_tokens");
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        usage->total_tokens = json_integer_value(v);
    }

    d = json_object_get(u, "prompt_tokens_details");
    v = json_object_get(d, "cached_tokens");
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        usage->cached_tokens = json_integer_value(v);
    }

    d = json_object_get(u, "completion_tokens_details");
    v = json_object_get(d, "reasoning_tokens");
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        usage->reasoning_tokens = json_integer_value(v);
    }

    usage->found = 1;
}


/* Anthropic's input_tokens exclude what was read from the cache */

static int64_t
aigw_ain_input_tokens(const aigw_usage_t *u)
{
    return u->prompt_tokens > u->cached_tokens
           ? u->prompt_tokens - u->cached_tokens : 0;
}


static const char *
aigw_ain_stop_reason(json_t *finish)
{
    const char  *f;

    f = json_string_value(finish);

    if (f == NULL || strcmp(f, "stop") == 0) {
        return "end_turn";
    }

    if (strcmp(f, "length") == 0) {
        return "max_tokens";
    }

    if (strcmp(f, "tool_calls") == 0 || strcmp(f, "function_call") == 0) {
        return "tool_use";
    }

    if (strcmp(f, "content_filter") == 0) {
        return "refusal";
    }

    return "end_turn";
}


/* arguments text -> input object; what is not an object becomes {} */

static json_t *
aigw_ain_tool_input(json_t *args, int *rc)
{
    json_t        *in;
    json_error_t   e;

    if (json_is_string(args) && json_string_length(args)) {
        in = json_loadb(json_string_value(args), json_string_length(args),
                        JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);

        if (json_is_object(in)) {
            return in;
        }

        json_decref(in);

        if (in == NULL
            && aigw_ain_nomem((const u_char *) json_string_value(args),
                              json_string_length(args), &e))
        {
            *rc = AIGW_ADAPTER_NOMEM;
            return NULL;
        }
    }

    in = json_object();

    if (in == NULL) {
        *rc = AIGW_ADAPTER_NOMEM;
    }

    return in;
}


static json_t *
aigw_ain_tool_id(const aigw_adapter_resp_t *resp, size_t n)
{
    char  num[32];
    int   len;

    len = snprintf(num, sizeof(num), "_%zu", n);

    return aigw_ain_concat("toolu_", 6, (const char *) resp->id,
                           resp->id_len, num, (size_t) len, "", 0);
}


/* an OpenAI function call (id may be NULL) -> a tool_use block */

static int
aigw_ain_tool_use(json_t *content, json_t *id, json_t *fn,
    const aigw_adapter_resp_t *resp, size_t n)
{
    int      rc;
    json_t  *name, *input, *b;

    name = json_object_get(fn, "name");

    if (!json_is_string(name)) {
        return AIGW_ADAPTER_INVALID;
    }

    if (json_is_string(id) && json_string_length(id)) {
        json_incref(id);

    } else {
        id = aigw_ain_tool_id(resp, n);
        if (id == NULL) {
            return AIGW_ADAPTER_NOMEM;
        }
    }

    rc = AIGW_ADAPTER_NOMEM;

    input = aigw_ain_tool_input(json_object_get(fn, "arguments"), &rc);

    if (input == NULL) {
        json_decref(id);
        return rc;
    }

    b = json_pack("{s:s,s:o,s:O,s:o}", "type", "tool_use", "id", id,
                  "name", name, "input", input);

    return (json_array_append_new(content, b) == 0) ? AIGW_ADAPTER_OK
                                                     : AIGW_ADAPTER_NOMEM;
}


static int
aigw_ain_message(json_t *msg, const aigw_adapter_resp_t *resp,
    json_t *content, int *tools)
{
    int      rc;
    size_t   i;
    json_t  *v, *b, *texts, *t, *calls, *call;

    *tools = 0;

    v = aigw_ain_opt(msg, "reasoning_content");

    if (!json_is_string(v) || json_string_length(v) == 0) {
        v = aigw_ain_opt(msg, "reasoning");
    }

    if (json_is_string(v) && json_string_length(v)) {
        b = json_pack("{s:s,s:O,s:s}", "type", "thinking", "thinking", v,
                      "signature", "");

        if (json_array_append_new(content, b) != 0) {
            return AIGW_ADAPTER_NOMEM;
        }
    }

    /* content: a string, or (some servers) an array of text parts */

    v = aigw_ain_opt(msg, "content");
    texts = json_array();

    if (texts == NULL) {
        return AIGW_ADAPTER_NOMEM;
    }

    if (json_is_string(v)) {
        if (json_string_length(v) && json_array_append(texts, v) != 0) {
            json_decref(texts);
            return AIGW_ADAPTER_NOMEM;
        }

    } else if (json_is_array(v)) {
        json_array_foreach(v, i, b) {
            t = json_object_get(b, "text");

            if (aigw_ain_type_is(b, "text") && json_is_string(t)
                && json_string_length(t)
                && json_array_append(texts, t) != 0)
            {
                json_decref(texts);
                return AIGW_ADAPTER_NOMEM;
            }
        }

    } else if (v) {
        json_decref(texts);
        return AIGW_ADAPTER_INVALID;
    }

    v = aigw_ain_opt(msg, "refusal");

    if (json_is_string(v) && json_string_length(v)
        && json_array_append(texts, v) != 0)
    {
        json_decref(texts);
        return AIGW_ADAPTER_NOMEM;
    }

    if (json_array_size(texts)) {
        t = aigw_ain_join(texts);
        b = t ? json_pack("{s:s,s:o}", "type", "text", "text", t) : NULL;

        if (json_array_append_new(content, b) != 0) {
            json_decref(texts);
            return AIGW_ADAPTER_NOMEM;
        }
    }

    json_decref(texts);

    calls = aigw_ain_opt(msg, "tool_calls");

    if (calls && !json_is_array(calls)) {
        return AIGW_ADAPTER_INVALID;
    }

    json_array_foreach(calls, i, call) {
        if (!json_is_object(call)) {
            return AIGW_ADAPTER_INVALID;
        }

        /* only function tools have an Anthropic form */

        v = json_object_get(call, "type");

        if (json_is_string(v) && strcmp(json_string_value(v), "function")) {
            continue;
        }

        rc = aigw_ain_tool_use(content, json_object_get(call, "id"),
                               json_object_get(call, "function"), resp,
                               (size_t) *tools);
        if (rc != AIGW_ADAPTER_OK) {
            return rc;
        }

        (*tools)++;
    }

    /* the legacy single function call */

    call = aigw_ain_opt(msg, "function_call");

    if (call) {
        if (!json_is_object(call)) {
            return AIGW_ADAPTER_INVALID;
        }

        rc = aigw_ain_tool_use(content, NULL, call, resp, (size_t) *tools);
        if (rc != AIGW_ADAPTER_OK) {
            return rc;
        }

        (*tools)++;
    }

    return AIGW_ADAPTER_OK;
}


int
aigw_anthropic_in_response(const u_char *body, size_t len,
    const aigw_adapter_resp_t *resp, aigw_buf_t *out)
{
    int            rc, tools;
    json_t        *in, *o, *choices, *c0, *msg, *content, *usage;
    const char    *stop;
    json_error_t   e;
    aigw_usage_t   u;

    in = aigw_ain_load(body, len, &rc, &e);

    if (in == NULL) {
        return rc;
    }

    choices = json_object_get(in, "choices");
    c0 = json_array_get(choices, 0);
    msg = json_object_get(c0, "message");

    if (!json_is_object(in) || !json_is_object(msg)) {
        json_decref(in);
        return AIGW_ADAPTER_INVALID;
    }

    o = NULL;
    content = json_array();

    if (content == NULL) {
        rc = AIGW_ADAPTER_NOMEM;
        goto done;
    }

    rc = aigw_ain_message(msg, resp, content, &tools);
    if (rc != AIGW_ADAPTER_OK) {
        goto done;
    }

    stop = aigw_ain_stop_reason(json_object_get(c0, "finish_reason"));

    if (tools && strcmp(stop, "end_turn") == 0) {
        stop = "tool_use";
    }

    aigw_ain_usage(json_object_get(in, "usage"), &u);

    usage = json_pack("{s:I,s:I,s:I,s:I}",
                      "input_tokens", (json_int_t) aigw_ain_input_tokens(&u),
                      "output_tokens", (json_int_t) u.completion_tokens,
                      "cache_read_input_tokens", (json_int_t) u.cached_tokens,
                      "cache_creation_input_tokens", (json_int_t) 0);

    o = json_pack("{s:s%,s:s,s:s,s:s%,s:O,s:s,s:n,s:o}",
                  "id", (const char *) resp->id, resp->id_len,
                  "type", "message",
                  "role", "assistant",
                  "model", (const char *) resp->model, resp->model_len,
                  "content", content,
                  "stop_reason", stop,
                  "stop_sequence",
                  "usage", usage);

    rc = (o == NULL) ? AIGW_ADAPTER_NOMEM : aigw_buf_dump(out, o);

done:

    json_decref(o);
    json_decref(content);
    json_decref(in);

    return rc;
}


/*
 * Anthropic's documented types, plus: 402 billing_error and 504
 * timeout_error (Anthropic's own for those statuses), and 503 as
 * overloaded_error: the gateway's 503 means no channel can take the
 * request now, which Anthropic clients retry like a 529.
 */

const char *
aigw_anthropic_error_type(int status)
{
    switch (status) {
    case 400:
        return "invalid_request_error";
    case 401:
        return "authentication_error";
    case 402:
        return "billing_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 503:
    case 529:
        return "overloaded_error";
    case 504:
        return "timeout_error";
    default:
        return status >= 500 ? "api_error" : "invalid_request_error";
    }
}


static int
aigw_ain_error_body(aigw_buf_t *out, int status, const char *message,
    size_t len)
{
    int      rc;
    json_t  *o, *m;

    m = json_stringn(message, len);

    if (m == NULL) {
        /* not UTF-8 (or no memory): say something valid */
        m = json_string("error");
    }

    o = json_pack("{s:s,s:{s:s,s:o}}", "type", "error", "error",
                  "type", aigw_anthropic_error_type(status), "message", m);

    if (o == NULL) {
        return AIGW_ADAPTER_NOMEM;
    }

    rc = aigw_buf_dump(out, o);
    json_decref(o);

    return rc;
}


int
aigw_anthropic_in_error(int status, const u_char *body, size_t len,
    aigw_buf_t *out)
{
    int            rc, n;
    char           msg[64];
    json_t        *in, *e, *m;
    json_error_t   je;

    m = NULL;
    in = aigw_ain_load(body, len, &rc, &je);

    if (in == NULL && rc == AIGW_ADAPTER_NOMEM) {
        return rc;
    }

    /* {"error":{"message"}}, {"error":"..."} or {"message"} */

    e = json_object_get(in, "error");

    if (json_is_string(e)) {
        m = e;

    } else {
        m = json_object_get(e, "message");

        if (!json_is_string(m)) {
            m = json_object_get(in, "message");
        }
    }

    if (status == 401 || !json_is_string(m) || json_string_length(m) == 0) {
        n = snprintf(msg, sizeof(msg), status == 401
                     ? "the upstream refused the gateway's credentials "
                       "(HTTP %d)"
                     : "upstream error (HTTP %d)", status);

        rc = aigw_ain_error_body(out, status, msg, (size_t) n);

    } else {
        rc = aigw_ain_error_body(out, status, json_string_value(m),
                                 json_string_length(m));
    }

    json_decref(in);

    return rc;
}


int
aigw_anthropic_in_error_json(aigw_buf_t *out, int status,
    const u_char *message, size_t message_len)
{
    return aigw_ain_error_body(out, status, (const char *) message,
                               message_len);
}


/* the stream: events are written by hand into st->scratch */

static int
aigw_ain_cat(aigw_buf_t *b, const char *s)
{
    return aigw_buf_append(b, s, strlen(s));
}


static int
aigw_ain_int(aigw_buf_t *b, int64_t n)
{
    int   len;
    char  num[32];

    len = snprintf(num, sizeof(num), "%lld", (long long) n);

    return aigw_buf_append(b, num, (size_t) len);
}


/* s escaped for the inside of a JSON string */

static int
aigw_ain_esc(aigw_buf_t *b, const u_char *s, size_t len)
{
    int  rc;

    rc = aigw_buf_reserve(b, aigw_json_escape_len(s, len));
    if (rc != AIGW_ADAPTER_OK) {
        return rc;
    }

    if (len) {
        b->len = aigw_json_escape(b->data + b->len, s, len) - b->data;
    }

    return AIGW_ADAPTER_OK;
}


static int
aigw_ain_str(aigw_buf_t *b, const u_char *s, size_t len)
{
    int  rc;

    if ((rc = aigw_buf_append(b, "\"", 1))
        || (rc = aigw_ain_esc(b, s, len))
        || (rc = aigw_buf_append(b, "\"", 1)))
    {
        return rc;
    }

    return AIGW_ADAPTER_OK;
}


static int
aigw_ain_emit(aigw_anthropic_in_stream_t *st, const char *event,
    aigw_emit_pt emit, void *ctx)
{
    return emit(ctx, (const u_char *) event, strlen(event),
                st->scratch.data, st->scratch.len);
}


static int
aigw_ain_start(aigw_anthropic_in_stream_t *st, aigw_emit_pt emit, void *ctx)
{
    int          rc;
    aigw_buf_t  *b;

    b = &st->scratch;
    b->len = 0;

    if ((rc = aigw_ain_cat(b, "{\"type\":\"message_start\",\"message\":"
                              "{\"id\":"))
        || (rc = aigw_ain_str(b, st->conf.id, st->conf.id_len))
        || (rc = aigw_ain_cat(b, ",\"type\":\"message\",\"role\":"
                                 "\"assistant\",\"model\":"))
        || (rc = aigw_ain_str(b, st->conf.model, st->conf.model_len))
        || (rc = aigw_ain_cat(b, ",\"content\":[],\"stop_reason\":null,"
                                 "\"stop_sequence\":null,\"usage\":"
                                 "{\"input_tokens\":0,"
                                 "\"output_tokens\":0}}}"))
        || (rc = aigw_ain_emit(st, "message_start", emit, ctx)))
    {
        return rc;
    }

    st->started = 1;

    b->len = 0;

    if ((rc = aigw_ain_cat(b, "{\"type\":\"ping\"}"))
        || (rc = aigw_ain_emit(st, "ping", emit, ctx)))
    {
        return rc;
    }

    return AIGW_ADAPTER_OK;
}


static int
aigw_ain_block_stop(aigw_anthropic_in_stream_t *st, aigw_emit_pt emit,
    void *ctx)
{
    int          rc;
    aigw_buf_t  *b;

    if (st->block < 0) {
        return AIGW_ADAPTER_OK;
    }

    b = &st->scratch;
    b->len = 0;

    if ((rc = aigw_ain_cat(b, "{\"type\":\"content_block_stop\",\"index\":"))
        || (rc = aigw_ain_int(b, st->block))
        || (rc = aigw_ain_cat(b, "}"))
        || (rc = aigw_ain_emit(st, "content_block_stop", emit, ctx)))
    {
        return rc;
    }

    st->block = -1;
    st->block_kind = 0;

    return AIGW_ADAPTER_OK;
}


/*
 * The tool_use content block, with id or, when the call has none, a
 * made-up one: "toolu_<message id>_<block index>", unique in the message.
 */

static int
aigw_ain_tool_block(aigw_anthropic_in_stream_t *st, json_t *id,
    json_t *name)
{
    int          rc, len;
    char         num[32];
    aigw_buf_t  *b;

    b = &st->scratch;

    if ((rc = aigw_ain_cat(b, "{\"type\":\"tool_use\",\"id\":"))) {
        return rc;
    }

    if (json_string_length(id)) {
        rc = aigw_ain_str(b, (const u_char *) json_string_value(id),
                          json_string_length(id));

    } else {
        len = snprintf(num, sizeof(num), "_%d\"", st->blocks);

        if ((rc = aigw_buf_append(b, "\"toolu_", 7))
            || (rc = aigw_ain_esc(b, st->conf.id, st->conf.id_len)))
        {
            return rc;
        }

        rc = aigw_buf_append(b, num, (size_t) len);
    }

    if (rc != AIGW_ADAPTER_OK
        || (rc = aigw_ain_cat(b, ",\"name\":"))
        || (rc = aigw_ain_str(b, (const u_char *) json_string_value(name),
                              json_string_length(name)))
        || (rc = aigw_ain_cat(b, ",\"input\":{}}}")))
    {
        return rc;
    }

    return AIGW_ADAPTER_OK;
}


/* closes the open block and opens a new one of kind */

static int
aigw_ain_block_start(aigw_anthropic_in_stream_t *st, int kind, json_t *id,
    json_t *name, aigw_emit_pt emit, void *ctx)
{
    int          rc;
    aigw_buf_t  *b;

    rc = aigw_ain_block_stop(st, emit, ctx);
    if (rc != AIGW_ADAPTER_OK) {
        return rc;
    }

    b = &st->scratch;
    b->len = 0;

    if ((rc = aigw_ain_cat(b, "{\"type\":\"content_block_start\","
                              "\"index\":"))
        || (rc = aigw_ain_int(b, st->blocks))
        || (rc = aigw_ain_cat(b, ",\"content_block\":")))
    {
        return rc;
    }

    if (kind == AIGW_AIN_TEXT) {
        rc = aigw_ain_cat(b, "{\"type\":\"text\",\"text\":\"\"}}");

    } else if (kind == AIGW_AIN_THINKING) {
        rc = aigw_ain_cat(b, "{\"type\":\"thinking\",\"thinking\":\"\","
                             "\"signature\":\"\"}}");

    } else {
        rc = aigw_ain_tool_block(st, id, name);
    }

    if (rc != AIGW_ADAPTER_OK) {
        return rc;
    }

    rc = aigw_ain_emit(st, "content_block_start", emit, ctx);
    if (rc != AIGW_ADAPTER_OK) {
        return rc;
    }

    st->block = st->blocks++;
    st->block_kind = kind;

    return AIGW_ADAPTER_OK;
}


static int
aigw_ain_delta(aigw_anthropic_in_stream_t *st, int block, int kind,
    json_t *s, aigw_emit_pt emit, void *ctx)
{
    int          rc;
    aigw_buf_t  *b;

    b = &st->scratch;
    b->len = 0;

    if ((rc = aigw_ain_cat(b, "{\"type\":\"content_block_delta\","
                              "\"index\":"))
        || (rc = aigw_ain_int(b, block))
        || (rc = aigw_ain_cat(b, kind == AIGW_AIN_TEXT
                              ? ",\"delta\":{\"type\":\"text_delta\","
                                "\"text\":"
                              : kind == AIGW_AIN_THINKING
                              ? ",\"delta\":{\"type\":\"thinking_delta\","
                                "\"thinking\":"
                              : ",\"delta\":{\"type\":\"input_json_delta\","
                                "\"partial_json\":"))
        || (rc = aigw_ain_str(b, (const u_char *) json_string_value(s),
                              json_string_length(s)))
        || (rc = aigw_ain_cat(b, "}}")))
    {
        return rc;
    }

    return aigw_ain_emit(st, "content_block_delta", emit, ctx);
}


static int
aigw_ain_stream_text(aigw_anthropic_in_stream_t *st, int kind, json_t *s,
    aigw_emit_pt emit, void *ctx)
{
    int  rc;

    if (!json_is_string(s) || json_string_length(s) == 0) {
        return AIGW_ADAPTER_OK;
    }

    if (st->block < 0 || st->block_kind != kind) {
        rc = aigw_ain_block_start(st, kind, NULL, NULL, emit, ctx);
        if (rc != AIGW_ADAPTER_OK) {
            return rc;
        }
    }

    return aigw_ain_delta(st, st->block, kind, s, emit, ctx);
}


static int
aigw_ain_stream_tool(aigw_anthropic_in_stream_t *st, json_t *tc, size_t k,
    aigw_emit_pt emit, void *ctx)
{
    int          rc, block;
    size_t       idx;
    json_t      *v, *fn, *id, *name, *args;
    json_int_t   index;

    if (!json_is_object(tc)) {
        return AIGW_ADAPTER_INVALID;
    }

    v = aigw_ain_opt(tc, "index");

    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            return AIGW_ADAPTER_INVALID;
        }

        index = json_integer_value(v);
        idx = (index < AIGW_ANTHROPIC_IN_TOOLS) ? (size_t) index
                                                 : AIGW_ANTHROPIC_IN_TOOLS;

    } else {
        /* no index (some servers): the position in this chunk */
        idx = k < AIGW_ANTHROPIC_IN_TOOLS ? k : AIGW_ANTHROPIC_IN_TOOLS;
    }

    fn = aigw_ain_opt(tc, "function");

    if (fn && !json_is_object(fn)) {
        return AIGW_ADAPTER_INVALID;
    }

    id = aigw_ain_opt(tc, "id");
    name = aigw_ain_opt(fn, "name");
    args = aigw_ain_opt(fn, "arguments");

    if ((id && !json_is_string(id)) || (name && !json_is_string(name))
        || (args && !json_is_string(args)))
    {
        return AIGW_ADAPTER_INVALID;
    }

    /* which block: one already open for this call, else a new one */

    if (idx < AIGW_ANTHROPIC_IN_TOOLS) {
        block = st->tool_block[idx];

    } else {
        block = (st->block_kind == AIGW_AIN_TOOL && json_string_length(id) == 0
                 && json_string_length(name) == 0)
                ? st->block : -1;
    }

    /* an id with a name starts a call even on a known index (servers
     * that send each call whole, without index) */

    if (block < 0
        || (json_string_length(id) && json_string_length(name)))
    {
        rc = aigw_ain_block_start(st, AIGW_AIN_TOOL, id, name, emit, ctx);
        if (rc != AIGW_ADAPTER_OK) {
            return rc;
        }

        block = st->block;

        if (idx < AIGW_ANTHROPIC_IN_TOOLS) {
            st->tool_block[idx] = block;
        }
    }

    if (json_string_length(args) == 0) {
        return AIGW_ADAPTER_OK;
    }

    /*
     * A piece for a call whose block is closed already: an Anthropic
     * stream cannot reopen a block, and a tool run with a cut or mixed
     * input could do harm, so the stream ends with an error instead.
     */

    if (block != st->block) {
        return aigw_ain_stream_fail(st, "api_error",
                   (const u_char *) AIGW_AIN_INTERLEAVED,
                   sizeof(AIGW_AIN_INTERLEAVED) - 1, emit, ctx);
    }

    return aigw_ain_delta(st, block, AIGW_AIN_TOOL, args, emit, ctx);
}


static int
aigw_ain_stream_choice(aigw_anthropic_in_stream_t *st, json_t *choice,
    aigw_emit_pt emit, void *ctx)
{
    int      rc;
    size_t   k;
    json_t  *delta, *v, *tc;

    if (!json_is_object(choice)) {
        return AIGW_ADAPTER_INVALID;
    }

    delta = aigw_ain_opt(choice, "delta");

    if (delta && !json_is_object(delta)) {
        return AIGW_ADAPTER_INVALID;
    }

    if (delta) {
        v = aigw_ain_opt(delta, "reasoning_content");

        if (!json_is_string(v) || json_string_length(v) == 0) {
            v = aigw_ain_opt(delta, "reasoning");
        }

        rc = aigw_ain_stream_text(st, AIGW_AIN_THINKING, v, emit, ctx);
        if (rc != AIGW_ADAPTER_OK) {
            return rc;
        }

        rc = aigw_ain_stream_text(st, AIGW_AIN_TEXT,
                                  aigw_ain_opt(delta, "content"), emit, ctx);
        if (rc != AIGW_ADAPTER_OK) {
            return rc;
        }

        rc = aigw_ain_stream_text(st, AIGW_AIN_TEXT,
                                  aigw_ain_opt(delta, "refusal"), emit, ctx);
        if (rc != AIGW_ADAPTER_OK) {
            return rc;
        }

        v = aigw_ain_opt(delta, "tool_calls");

        if (v && !json_is_array(v)) {
            return AIGW_ADAPTER_INVALID;
        }

        json_array_foreach(v, k, tc) {
            rc = aigw_ain_stream_tool(st, tc, k, emit, ctx);
            if (rc != AIGW_ADAPTER_OK) {
                return rc;
            }
        }
    }

    v = aigw_ain_opt(choice, "finish_reason");

    if (json_is_string(v)) {
        st->stop_reason = aigw_ain_stop_reason(v);
    }

    return AIGW_ADAPTER_OK;
}


/* an error event; nothing follows it */

static int
aigw_ain_stream_fail(aigw_anthropic_in_stream_t *st, const char *type,
    const u_char *msg, size_t len, aigw_emit_pt emit, void *ctx)
{
    int          rc;
    aigw_buf_t  *b;

    b = &st->scratch;
    b->len = 0;

    if ((rc = aigw_ain_cat(b, "{\"type\":\"error\",\"error\":{\"type\":"))
        || (rc = aigw_ain_str(b, (const u_char *) type, strlen(type)))
        || (rc = aigw_ain_cat(b, ",\"message\":"))
        || (rc = aigw_ain_str(b, msg, len))
        || (rc = aigw_ain_cat(b, "}}"))
        || (rc = aigw_ain_emit(st, "error", emit, ctx)))
    {
        return rc;
    }

    st->failed = 1;

    return AIGW_ADAPTER_OK;
}


/* an OpenAI error chunk, {"error":{...}} or {"error":"..."} */

static int
aigw_ain_stream_error(aigw_anthropic_in_stream_t *st, json_t *error,
    aigw_emit_pt emit, void *ctx)
{
    int          status;
    json_t      *m, *code;
    const char  *ts, *et;

    m = json_is_string(error) ? error : json_object_get(error, "message");
    code = json_object_get(error, "code");
    ts = json_string_value(json_object_get(error, "type"));

    /* a status in "code" (OpenRouter and others), else the type */

    status = 500;

    if (json_is_integer(code) && json_integer_value(code) >= 400
        && json_integer_value(code) <= 599)
    {
        status = (int) json_integer_value(code);
    }

    et = aigw_anthropic_error_type(status);

    if (status == 500 && ts) {
        if (strstr(ts, "rate_limit")) {
            et = "rate_limit_error";

        } else if (strstr(ts, "overloaded")) {
            et = "overloaded_error";

        } else if (strcmp(ts, "invalid_request_error") == 0) {
            et = "invalid_request_error";
        }
    }

    if (!json_is_string(m) || json_string_length(m) == 0) {
        return aigw_ain_stream_fail(st, et, (const u_char *) "upstream error",
                                    sizeof("upstream error") - 1, emit, ctx);
    }

    return aigw_ain_stream_fail(st, et, (const u_char *) json_string_value(m),
                                json_string_length(m), emit, ctx);
}


static int
aigw_ain_stream_done(aigw_anthropic_in_stream_t *st, aigw_emit_pt emit,
    void *ctx)
{
    int          rc, i;
    aigw_buf_t  *b;
    const char  *stop;

    if (!st->started) {
        rc = aigw_ain_start(st, emit, ctx);
        if (rc != AIGW_ADAPTER_OK) {
            return rc;
        }
    }

    rc = aigw_ain_block_stop(st, emit, ctx);
    if (rc != AIGW_ADAPTER_OK) {
        return rc;
    }

    stop = st->stop_reason ? st->stop_reason : "end_turn";

    if (strcmp(stop, "end_turn") == 0) {
        for (i = 0; i < AIGW_ANTHROPIC_IN_TOOLS; i++) {
            if (st->tool_block[i] >= 0) {
                stop = "tool_use";
                break;
            }
        }
    }

    b = &st->scratch;
    b->len = 0;

    if ((rc = aigw_ain_cat(b, "{\"type\":\"message_delta\",\"delta\":"
                              "{\"stop_reason\":\""))
        || (rc = aigw_ain_cat(b, stop))
        || (rc = aigw_ain_cat(b, "\",\"stop_sequence\":null},\"usage\":"
                                 "{\"input_tokens\":"))
        || (rc = aigw_ain_int(b, aigw_ain_input_tokens(&st->usage)))
        || (rc = aigw_ain_cat(b, ",\"cache_creation_input_tokens\":0,"
                                 "\"cache_read_input_tokens\":"))
        || (rc = aigw_ain_int(b, st->usage.cached_tokens))
        || (rc = aigw_ain_cat(b, ",\"output_tokens\":"))
        || (rc = aigw_ain_int(b, st->usage.completion_tokens))
        || (rc = aigw_ain_cat(b, "}}"))
        || (rc = aigw_ain_emit(st, "message_delta", emit, ctx)))
    {
        return rc;
    }

    b->len = 0;

    if ((rc = aigw_ain_cat(b, "{\"type\":\"message_stop\"}"))
        || (rc = aigw_ain_emit(st, "message_stop", emit, ctx)))
    {
        return rc;
    }

    st->stopped = 1;

    return AIGW_ADAPTER_OK;
}


static int
aigw_ain_stream_chunk(aigw_anthropic_in_stream_t *st, json_t *root,
    aigw_emit_pt emit, void *ctx)
{
    int      rc;
    size_t   i;
    json_t  *v, *choices, *c, *index;

    if (!json_is_object(root)) {
        return AIGW_ADAPTER_INVALID;
    }

    v = aigw_ain_opt(root, "error");

    if (json_is_object(v) || json_is_string(v)) {
        return aigw_ain_stream_error(st, v, emit, ctx);
    }

    if (!st->started) {
        rc = aigw_ain_start(st, emit, ctx);
        if (rc != AIGW_ADAPTER_OK) {
            return rc;
        }
    }

    v = aigw_ain_opt(root, "usage");

    if (json_is_object(v)) {
        aigw_ain_usage(v, &st->usage);
    }

    choices = aigw_ain_opt(root, "choices");

    if (choices && !json_is_array(choices)) {
        return AIGW_ADAPTER_INVALID;
    }

    json_array_foreach(choices, i, c) {
        index = json_object_get(c, "index");

        /* only choice 0: Anthropic has no n */

        if (json_is_integer(index) && json_integer_value(index) != 0) {
            continue;
        }

        rc = aigw_ain_stream_choice(st, c, emit, ctx);
        if (rc != AIGW_ADAPTER_OK) {
            return rc;
        }
    }

    return AIGW_ADAPTER_OK;
}


void
aigw_anthropic_in_stream_init(aigw_anthropic_in_stream_t *st,
    const aigw_adapter_resp_t *resp, aigw_alloc_pt alloc, void *pool)
{
    int  i;

    memset(st, 0, sizeof(aigw_anthropic_in_stream_t));

    st->conf = *resp;
    aigw_buf_init(&st->scratch, alloc, pool, 0);
    st->block = -1;

    for (i = 0; i < AIGW_ANTHROPIC_IN_TOOLS; i++) {
        st->tool_block[i] = -1;
    }
}


int
aigw_anthropic_in_stream_event(aigw_anthropic_in_stream_t *st,
    const u_char *data, size_t data_len, aigw_emit_pt emit, void *ctx)
{
    int            rc;
    size_t         i;
    json_t        *root;
    json_error_t   e;

    if (st->stopped || st->failed) {
        return AIGW_ADAPTER_OK;
    }

    if (data_len == sizeof("[DONE]") - 1
        && memcmp(data, "[DONE]", data_len) == 0)
    {
        return aigw_ain_stream_done(st, emit, ctx);
    }

    /* an empty data line (a keep-alive) says nothing */

    for (i = 0; i < data_len; i++) {
        if (data[i] != ' ' && data[i] != '\t' && data[i] != '\r'
            && data[i] != '\n')
        {
            break;
        }
    }

    if (i == data_len) {
        return AIGW_ADAPTER_OK;
    }

    root = aigw_ain_load(data, data_len, &rc, &e);

    if (root == NULL) {
        return rc;
    }

    rc = aigw_ain_stream_chunk(st, root, emit, ctx);

    json_decref(root);

    return rc;
}


int
aigw_anthropic_in_stream_finish(aigw_anthropic_in_stream_t *st,
    aigw_emit_pt emit, void *ctx)
{
    (void) emit;
    (void) ctx;

    return (st->stopped || st->failed) ? AIGW_ADAPTER_OK
                                       : AIGW_ADAPTER_INVALID;
}
