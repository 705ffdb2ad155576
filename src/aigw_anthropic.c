/*
 * aigw: the Anthropic Messages adapter (OpenAI chat completions <->
 * POST /v1/messages).
 *
 * Choices where neither format decides:
 *
 * - A conversation whose first non-system message is the assistant's is
 *   refused (400): Messages requires a user turn first, and inventing one
 *   would put words in the user's mouth.
 * - Empty text (a "" content, an empty text part) is dropped: Anthropic
 *   refuses empty text blocks, and OpenAI SDKs send content "" next to
 *   tool_calls.  A message left without blocks is dropped; a conversation
 *   left without messages is a 400.
 * - reasoning_effort low/medium/high enables thinking with a budget of
 *   1024/4096/16384 tokens; "minimal" and "none" leave thinking off.
 *   max_tokens must exceed the budget, so when it does not it becomes
 *   budget + the default max_tokens.  Thinking's own restrictions
 *   (temperature, top_k, forced tool_choice) are left to Anthropic's 400.
 * - parallel_tool_calls false becomes disable_parallel_tool_use on an auto,
 *   any or tool choice (an auto choice is added when the client gave none).
 *   tool_choice is only sent with a non-empty tools list.
 * - "cache_control" objects on text and image parts (as OpenRouter's
 *   clients send them) are kept.
 * - Unknown members are ignored, as OpenAI-compatible relays do; the legacy
 *   "functions"/"function_call" are refused rather than silently dropped.
 * - Streams: empty text, thinking and argument deltas send no chunk; a
 *   tool_use block that starts with a non-empty input sends that input as
 *   its first arguments; only the first stop_reason sends a finish chunk
 *   (message_stop sends one with "stop" when none came).  A message id or
 *   model longer than the state keeps gives way to conf's, never truncated.
 * - Token counts must be integers in [0, 2^48]: anything else in a response
 *   leaves usage not found rather than billing nonsense.
 */

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "aigw_anthropic.h"


#define AIGW_ANTHROPIC_MAX_TOKENS    4096
#define AIGW_ANTHROPIC_TOKENS_MAX    ((int64_t) 1 << 48)
#define AIGW_ANTHROPIC_DUMP_FLAGS                                            \
    (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(15))

/* what content parts a role may send besides text */
#define AIGW_ANTHROPIC_PART_IMAGE    0x01
#define AIGW_ANTHROPIC_PART_REFUSAL  0x02


typedef struct {
    json_t                 *system;      /* text blocks */
    json_t                 *messages;
    json_t                 *last;        /* content of the last message */
    int                     last_user;
    size_t                  first;       /* client index of messages[0] */
    aigw_adapter_error_t   *err;
    char                    param[64];
} aigw_anthropic_req_t;


typedef enum {
    AIGW_ANTHROPIC_EV_UNKNOWN = 0,
    AIGW_ANTHROPIC_EV_MESSAGE_START,
    AIGW_ANTHROPIC_EV_BLOCK_START,
    AIGW_ANTHROPIC_EV_BLOCK_DELTA,
    AIGW_ANTHROPIC_EV_BLOCK_STOP,
    AIGW_ANTHROPIC_EV_MESSAGE_DELTA,
    AIGW_ANTHROPIC_EV_MESSAGE_STOP,
    AIGW_ANTHROPIC_EV_PING,
    AIGW_ANTHROPIC_EV_ERROR
} aigw_anthropic_ev_e;


static int aigw_anthropic_build(json_t *in, const aigw_adapter_req_t *req,
    json_t *msg, int *stream, aigw_adapter_error_t *err);
static int aigw_anthropic_messages(json_t *in, json_t *msg,
    aigw_adapter_error_t *err);
static int aigw_anthropic_message(aigw_anthropic_req_t *ctx, size_t i,
    json_t *m);
static int aigw_anthropic_content(aigw_anthropic_req_t *ctx, size_t i,
    json_t *content, json_t *blocks, unsigned allow);
static int aigw_anthropic_image(aigw_anthropic_req_t *ctx, size_t i,
    size_t j, json_t *part, json_t *blocks);
static int aigw_anthropic_tool_calls(aigw_anthropic_req_t *ctx, size_t i,
    json_t *calls, json_t *blocks);
static int aigw_anthropic_tool_result(aigw_anthropic_req_t *ctx, size_t i,
    json_t *m, json_t *blocks);
static int aigw_anthropic_push(aigw_anthropic_req_t *ctx, size_t i,
    int user, json_t *blocks);
static int aigw_anthropic_tools(json_t *in, json_t *msg,
    aigw_adapter_error_t *err);
static int aigw_anthropic_tool_choice(json_t *in, json_t **choice,
    aigw_adapter_error_t *err);
static int aigw_anthropic_invalid(aigw_adapter_error_t *err,
    const char *param, const char *fmt, ...);
static const char *aigw_anthropic_path(char *buf, size_t size,
    const char *fmt, ...);
static json_t *aigw_anthropic_get(json_t *o, const char *key);
static int aigw_anthropic_is(json_t *v, const char *s);
static json_t *aigw_anthropic_strn(const u_char *p, size_t len);
static json_t *aigw_anthropic_add(json_t *parent, const char *key,
    json_t *child);

static int aigw_anthropic_completion(json_t *in,
    const aigw_adapter_resp_t *resp, json_t *root, aigw_usage_t *usage);
static int aigw_anthropic_join(json_t *content, const char *type,
    const char *field, json_t **out);
static json_t *aigw_anthropic_arguments(json_t *input);
static const char *aigw_anthropic_finish(json_t *stop_reason);
static int aigw_anthropic_count(json_t *usage, const char *name,
    int64_t *out);
static int aigw_anthropic_usage_read(json_t *usage, int64_t *input,
    int64_t *cache_read, int64_t *cache_creation, int64_t *output);
static void aigw_anthropic_usage_set(aigw_usage_t *u, int64_t input,
    int64_t cache_read, int64_t cache_creation, int64_t output);
static json_t *aigw_anthropic_usage_json(const aigw_usage_t *u);
static void aigw_anthropic_error_map(const char *atype, const char **type,
    const char **code);

static aigw_anthropic_ev_e aigw_anthropic_event_kind(const char *p,
    size_t len);
static int aigw_anthropic_message_start(aigw_anthropic_stream_t *st,
    json_t *j, aigw_emit_pt emit, void *ctx);
static int aigw_anthropic_block_start(aigw_anthropic_stream_t *st,
    json_t *j, aigw_emit_pt emit, void *ctx);
static int aigw_anthropic_block_delta(aigw_anthropic_stream_t *st,
    json_t *j, aigw_emit_pt emit, void *ctx);
static int aigw_anthropic_message_delta(aigw_anthropic_stream_t *st,
    json_t *j, aigw_emit_pt emit, void *ctx);
static int aigw_anthropic_message_stop(aigw_anthropic_stream_t *st,
    aigw_emit_pt emit, void *ctx);
static int aigw_anthropic_stream_error(aigw_anthropic_stream_t *st,
    json_t *j, aigw_emit_pt emit, void *ctx);
static int aigw_anthropic_index(json_t *j, int *tool);
static json_t *aigw_anthropic_delta(const char *key, json_t *value);
static json_t *aigw_anthropic_tool_delta(int k, json_t *id, json_t *name,
    json_t *arguments);
static int aigw_anthropic_chunk(aigw_anthropic_stream_t *st, json_t *delta,
    const char *finish_reason, aigw_emit_pt emit, void *ctx);
static json_t *aigw_anthropic_chunk_head(aigw_anthropic_stream_t *st);
static int aigw_anthropic_send(aigw_anthropic_stream_t *st, json_t *root,
    aigw_emit_pt emit, void *ctx);
static void aigw_anthropic_stream_usage(aigw_anthropic_stream_t *st);


/* request: OpenAI chat completions -> Messages */

int
aigw_anthropic_request(const u_char *body, size_t len,
    const aigw_adapter_req_t *req, aigw_buf_t *out, int *stream,
    aigw_adapter_error_t *err)
{
    int      rc;
    size_t   saved;
    json_t  *in, *msg;

    *stream = 0;

    in = aigw_json_load(body, len);

    if (in == NULL) {
        return aigw_anthropic_invalid(err, NULL, "We could not parse the "
                                      "JSON body of your request.");
    }

    if (!json_is_object(in)) {
        json_decref(in);
        return aigw_anthropic_invalid(err, NULL, "The request body must be "
                                      "a JSON object.");
    }

    msg = json_object();
    if (msg == NULL) {
        json_decref(in);
        return AIGW_ADAPTER_NOMEM;
    }

    rc = aigw_anthropic_build(in, req, msg, stream, err);

    if (rc == AIGW_ADAPTER_OK) {
        saved = out->len;
        rc = aigw_buf_dump(out, msg);

        if (rc != AIGW_ADAPTER_OK) {
            out->len = saved;
        }
    }

    json_decref(msg);
    json_decref(in);

    return rc;
}


static int
aigw_anthropic_build(json_t *in, const aigw_adapter_req_t *req, json_t *msg,
    int *stream, aigw_adapter_error_t *err)
{
    int          rc;
    json_t      *v, *model, *stops, *stop, *choice, *meta, *thinking;
    size_t       i;
    int64_t      max_tokens, dflt, budget;
    const char  *name, *effort;

    if (req->model) {
        /* NULL only if the name is not UTF-8, which config never gives */
        model = json_stringn((const char *) req->model, req->model_len);

    } else {
        v = json_object_get(in, "model");

        if (!json_is_string(v) || json_string_length(v) == 0) {
            return aigw_anthropic_invalid(err, "model", "You must provide "
                                          "a model parameter.");
        }

        model = json_incref(v);
    }

    if (json_object_set_new(msg, "model", model) != 0) {
        return AIGW_ADAPTER_NOMEM;
    }

    if (aigw_anthropic_get(in, "functions") != NULL
        || aigw_anthropic_get(in, "function_call") != NULL)
    {
        name = aigw_anthropic_get(in, "functions") ? "functions"
                                                   : "function_call";
        return aigw_anthropic_invalid(err, name, "'%s' is deprecated and "
                                      "not supported for this model; use "
                                      "'tools' and 'tool_choice'.", name);
    }

    v = aigw_anthropic_get(in, "n");

    if (v && !(json_is_integer(v) && json_integer_value(v) == 1)) {
        return aigw_anthropic_invalid(err, "n", "This model returns one "
                                      "choice only: n must be 1.");
    }

    dflt = req->default_max_tokens > 0 ? req->default_max_tokens
                                       : AIGW_ANTHROPIC_MAX_TOKENS;
    max_tokens = dflt;

    /* max_completion_tokens supersedes max_tokens, as in OpenAI's API */

    name = "max_completion_tokens";
    v = aigw_anthropic_get(in, name);

    if (v == NULL) {
        name = "max_tokens";
        v = aigw_anthropic_get(in, name);
    }

    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 1) {
            return aigw_anthropic_invalid(err, name, "'%s' must be a "
                                          "positive integer.", name);
        }

        max_tokens = json_integer_value(v);
    }

    budget = 0;
    v = aigw_anthropic_get(in, "reasoning_effort");

    if (v) {
        effort = json_string_value(v);

        if (effort == NULL) {
            goto bad_effort;
        }

        if (strcmp(effort, "low") == 0) {
            budget = 1024;

        } else if (strcmp(effort, "medium") == 0) {
            budget = 4096;

        } else if (strcmp(effort, "high") == 0) {
            budget = 16384;

        } else if (strcmp(effort, "minimal") != 0
                   && strcmp(effort, "none") != 0)
        {
            goto bad_effort;
        }
    }

    if (budget && max_tokens <= budget) {
        max_tokens = (dflt > INT64_MAX - budget) ? INT64_MAX : budget + dflt;
    }

    if (json_object_set_new(msg, "max_tokens", json_integer(max_tokens))
        != 0)
    {
        return AIGW_ADAPTER_NOMEM;
    }

    rc = aigw_anthropic_messages(in, msg, err);
    if (rc != AIGW_ADAPTER_OK) {
        return rc;
    }

    v = aigw_anthropic_get(in, "stop");

    if (v) {
        stops = json_array();
        if (json_object_set_new(msg, "stop_sequences", stops) != 0) {
            return AIGW_ADAPTER_NOMEM;
        }

        if (json_is_string(v)) {
            if (json_string_length(v)
                && json_array_append(stops, v) != 0)
            {
                return AIGW_ADAPTER_NOMEM;
            }

        } else if (json_is_array(v)) {
            for (i = 0; i < json_array_size(v); i++) {
                stop = json_array_get(v, i);

                if (!json_is_string(stop)) {
                    return aigw_anthropic_invalid(err, "stop", "'stop' must "
                                                  "be a string or an array "
                                                  "of strings.");
                }

                if (json_string_length(stop)
                    && json_array_append(stops, stop) != 0)
                {
                    return AIGW_ADAPTER_NOMEM;
                }
            }

        } else {
            return aigw_anthropic_invalid(err, "stop", "'stop' must be a "
                                          "string or an array of strings.");
        }

        if (json_array_size(stops) == 0) {
            (void) json_object_del(msg, "stop_sequences");
        }
    }

    v = aigw_anthropic_get(in, "temperature");

    if (v) {
        if (!json_is_number(v)) {
            return aigw_anthropic_invalid(err, "temperature", "'temperature'"
                                          " must be a number.");
        }

        if (json_object_set(msg, "temperature", v) != 0) {
            return AIGW_ADAPTER_NOMEM;
        }
    }

    v = aigw_anthropic_get(in, "top_p");

    if (v) {
        if (!json_is_number(v)) {
            return aigw_anthropic_invalid(err, "top_p", "'top_p' must be a "
                                          "number.");
        }

        if (json_object_set(msg, "top_p", v) != 0) {
            return AIGW_ADAPTER_NOMEM;
        }
    }

    v = aigw_anthropic_get(in, "top_k");

    if (v) {
        if (!json_is_integer(v) || json_integer_value(v) < 0) {
            return aigw_anthropic_invalid(err, "top_k", "'top_k' must be a "
                                          "non-negative integer.");
        }

        if (json_object_set(msg, "top_k", v) != 0) {
            return AIGW_ADAPTER_NOMEM;
        }
    }

    v = aigw_anthropic_get(in, "stream");

    if (v) {
        if (!json_is_boolean(v)) {
            return aigw_anthropic_invalid(err, "stream", "'stream' must be "
                                          "a boolean.");
        }

        *stream = json_is_true(v);

        if (json_object_set(msg, "stream", v) != 0) {
            return AIGW_ADAPTER_NOMEM;
        }
    }

    rc = aigw_anthropic_tools(in, msg, err);
    if (rc != AIGW_ADAPTER_OK) {
        return rc;
    }

    rc = aigw_anthropic_tool_choice(in, &choice, err);
    if (rc != AIGW_ADAPTER_OK) {
        return rc;
    }

    v = aigw_anthropic_get(in, "parallel_tool_calls");

    if (v && !json_is_boolean(v)) {
        json_decref(choice);
        return aigw_anthropic_invalid(err, "parallel_tool_calls",
                                      "'parallel_tool_calls' must be a "
                                      "boolean.");
    }

    if (json_object_get(msg, "tools") == NULL) {
        /* a choice among no tools means nothing to Messages */
        json_decref(choice);
        choice = NULL;

    } else if (json_is_false(v)) {
        if (choice == NULL) {
            choice = json_pack("{ss}", "type", "auto");
            if (choice == NULL) {
                return AIGW_ADAPTER_NOMEM;
            }
        }

        if (!aigw_anthropic_is(json_object_get(choice, "type"), "none")
            && json_object_set_new(choice, "disable_parallel_tool_use",
                                   json_true())
               != 0)
        {
            json_decref(choice);
            return AIGW_ADAPTER_NOMEM;
        }
    }

    if (choice && json_object_set_new(msg, "tool_choice", choice) != 0) {
        return AIGW_ADAPTER_NOMEM;
    }

    v = aigw_anthropic_get(in, "user");

    if (v) {
        if (!json_is_string(v)) {
            return aigw_anthropic_invalid(err, "user", "'user' must be a "
                                          "string.");
        }

        if (json_string_length(v)) {
            meta = json_object();

            if (json_object_set_new(msg, "metadata", meta) != 0
                || json_object_set(meta, "user_id", v) != 0)
            {
                return AIGW_ADAPTER_NOMEM;
            }
        }
    }

    if (budget) {
        thinking = json_pack("{sssI}", "type", "enabled", "budget_tokens",
                             (json_int_t) budget);

        if (json_object_set_new(msg, "thinking", thinking) != 0) {
            return AIGW_ADAPTER_NOMEM;
        }
    }

    return AIGW_ADAPTER_OK;

bad_effort:

    return aigw_anthropic_invalid(err, "reasoning_effort", "'reasoning_effort'"
                                  " must be one of low, medium or high.");
}


static int
aigw_anthropic_messages(json_t *in, json_t *msg, aigw_adapter_error_t *err)
{
    int                    rc;
    json_t                *v, *m, *text;
    size_t                 i;
    aigw_anthropic_req_t   ctx;

    v = json_object_get(in, "messages");

    if (v == NULL || json_is_null(v)) {
        return aigw_anthropic_invalid(err, "messages", "You must provide a "
                                      "messages parameter.");
    }

    if (!json_is_array(v)) {
        return aigw_anthropic_invalid(err, "messages", "'messages' must be "
                                      "an array.");
    }

    if (json_array_size(v) == 0) {
        return aigw_anthropic_invalid(err, "messages", "'messages' must not "
                                      "be empty.");
    }

    memset(&ctx, 0, sizeof(aigw_anthropic_req_t));
    ctx.err = err;
    ctx.system = json_array();
    ctx.messages = json_array();

    if (ctx.system == NULL || ctx.messages == NULL) {
        rc = AIGW_ADAPTER_NOMEM;
        goto done;
    }

    rc = AIGW_ADAPTER_OK;

    json_array_foreach(v, i, m) {
        rc = aigw_anthropic_message(&ctx, i, m);
        if (rc != AIGW_ADAPTER_OK) {
            goto done;
        }
    }

    if (json_array_size(ctx.messages) == 0) {
        rc = aigw_anthropic_invalid(err, "messages", "'messages' must hold "
                                    "at least one user message with "
                                    "content.");
        goto done;
    }

    /* Messages starts with a user turn; see the note at the top */

    if (!aigw_anthropic_is(json_object_get(json_array_get(ctx.messages, 0),
                                           "role"),
                           "user"))
    {
        rc = aigw_anthropic_invalid(err,
                 aigw_anthropic_path(ctx.param, sizeof(ctx.param),
                                     "messages[%zu]", ctx.first),
                 "The first non-system message must be from the user.");
        goto done;
    }

    /* one text block is sent as the plain string form of "system" */

    if (json_array_size(ctx.system) == 1
        && json_object_size(json_array_get(ctx.system, 0)) == 2)
    {
        text = json_object_get(json_array_get(ctx.system, 0), "text");

        if (json_object_set(msg, "system", text) != 0) {
            rc = AIGW_ADAPTER_NOMEM;
            goto done;
        }

    } else if (json_array_size(ctx.system)) {
        if (json_object_set(msg, "system", ctx.system) != 0) {
            rc = AIGW_ADAPTER_NOMEM;
            goto done;
        }
    }

    if (json_object_set(msg, "messages", ctx.messages) != 0) {
        rc = AIGW_ADAPTER_NOMEM;
    }

done:

    json_decref(ctx.system);
    json_decref(ctx.messages);

    return rc;
}


static int
aigw_anthropic_message(aigw_anthropic_req_t *ctx, size_t i, json_t *m)
{
    int          rc, user;
    json_t      *role, *content, *blocks, *calls;
    const char  *r;

    if (!json_is_object(m)) {
        return aigw_anthropic_invalid(ctx->err,
                   aigw_anthropic_path(ctx->param, sizeof(ctx->param),
                                       "messages[%zu]", i),
                   "Each message must be an object.");
    }

    role = json_object_get(m, "role");
    r = json_string_value(role);

    if (r == NULL
        || (strcmp(r, "system") != 0 && strcmp(r, "developer") != 0
            && strcmp(r, "user") != 0 && strcmp(r, "assistant") != 0
            && strcmp(r, "tool") != 0))
    {
        return aigw_anthropic_invalid(ctx->err,
                   aigw_anthropic_path(ctx->param, sizeof(ctx->param),
                                       "messages[%zu].role", i),
                   "'role' must be one of system, developer, user, "
                   "assistant or tool.");
    }

    content = aigw_anthropic_get(m, "content");

    if (content == NULL && strcmp(r, "assistant") != 0) {
        return aigw_anthropic_invalid(ctx->err,
                   aigw_anthropic_path(ctx->param, sizeof(ctx->param),
                                       "messages[%zu].content", i),
                   "A %s message must have content.", r);
    }

    if (r[0] == 's' || r[0] == 'd') {
        return aigw_anthropic_content(ctx, i, content, ctx->system, 0);
    }

    blocks = json_array();
    if (blocks == NULL) {
        return AIGW_ADAPTER_NOMEM;
    }

    if (r[0] == 't') {
        user = 1;
        rc = aigw_anthropic_tool_result(ctx, i, m, blocks);

    } else if (r[0] == 'u') {
        user = 1;
        rc = aigw_anthropic_content(ctx, i, content, blocks,
                                    AIGW_ANTHROPIC_PART_IMAGE);

    } else {
        user = 0;
        rc = AIGW_ADAPTER_OK;

        if (content) {
            rc = aigw_anthropic_content(ctx, i, content, blocks,
                                        AIGW_ANTHROPIC_PART_REFUSAL);
        }

        calls = aigw_anthropic_get(m, "tool_calls");

        if (rc == AIGW_ADAPTER_OK && calls) {
            rc = aigw_anthropic_tool_calls(ctx, i, calls, blocks);
        }
    }

    if (rc != AIGW_ADAPTER_OK) {
        json_decref(blocks);
        return rc;
    }

    return aigw_anthropic_push(ctx, i, user, blocks);
}


/* appends a message's blocks, merged into the previous one of its role */

static int
aigw_anthropic_push(aigw_anthropic_req_t *ctx, size_t i, int user,
    json_t *blocks)
{
    int      rc;
    json_t  *m;

    if (json_array_size(blocks) == 0) {
        json_decref(blocks);
        return AIGW_ADAPTER_OK;
    }

    if (ctx->last && ctx->last_user == user) {
        rc = json_array_extend(ctx->last, blocks);
        json_decref(blocks);

        return rc == 0 ? AIGW_ADAPTER_OK : AIGW_ADAPTER_NOMEM;
    }

    m = json_object();

    if (json_array_append_new(ctx->messages, m) != 0
        || json_object_set_new(m, "role",
                               json_string(user ? "user" : "assistant"))
           != 0)
    {
        json_decref(blocks);
        return AIGW_ADAPTER_NOMEM;
    }

    if (json_object_set_new(m, "content", blocks) != 0) {
        return AIGW_ADAPTER_NOMEM;
    }

    if (ctx->last == NULL) {
        ctx->first = i;
    }

    ctx->last = blocks;
    ctx->last_user = user;

    return AIGW_ADAPTER_OK;
}


static int
aigw_anthropic_text_block(json_t *blocks, json_t *text, json_t *cache)
{
    json_t  *b;

    b = json_object();

    if (json_array_append_new(blocks, b) != 0
        || json_object_set_new(b, "type", json_string("text")) != 0
        || json_object_set(b, "text", text) != 0
        || (json_is_object(cache)
            && json_object_set(b, "cache_control", cache) != 0))
    {
        return AIGW_ADAPTER_NOMEM;
    }

    return AIGW_ADAPTER_OK;
}


static int
aigw_anthropic_content(aigw_anthropic_req_t *ctx, size_t i, json_t *content,
    json_t *blocks, unsigned allow)
{
    int          rc;
    json_t      *part, *text;
    size_t       j;
    const char  *type;

    if (json_is_string(content)) {
        if (json_string_length(content) == 0) {
            return AIGW_ADAPTER_OK;
        }

        return aigw_anthropic_text_block(blocks, content, NULL);
    }

    if (!json_is_array(content)) {
        return aigw_anthropic_invalid(ctx->err,
                   aigw_anthropic_path(ctx->param, sizeof(ctx->param),
                                       "messages[%zu].content", i),
                   "'content' must be a string or an array of content "
                   "parts.");
    }

    json_array_foreach(content, j, part) {

        if (!json_is_object(part)) {
            return aigw_anthropic_invalid(ctx->err,
                       aigw_anthropic_path(ctx->param, sizeof(ctx->param),
                                           "messages[%zu].content[%zu]",
                                           i, j),
                       "Each content part must be an object.");
        }

        type = json_string_value(json_object_get(part, "type"));

        if (type == NULL) {
            return aigw_anthropic_invalid(ctx->err,
                       aigw_anthropic_path(ctx->param, sizeof(ctx->param),
                                           "messages[%zu].content[%zu].type",
                                           i, j),
                       "Each content part must have a string 'type'.");
        }

        if (strcmp(type, "text") == 0
            || ((allow & AIGW_ANTHROPIC_PART_REFUSAL)
                && strcmp(type, "refusal") == 0))
        {
            text = json_object_get(part, type);

            if (!json_is_string(text)) {
                return aigw_anthropic_invalid(ctx->err,
                           aigw_anthropic_path(ctx->param, sizeof(ctx->param),
                                               "messages[%zu].content[%zu]"
                                               ".%s", i, j, type),
                           "A %s part must have a string '%s'.", type, type);
            }

            if (json_string_length(text) == 0) {
                continue;
            }

            rc = aigw_anthropic_text_block(blocks, text,
                                           json_object_get(part,
                                                           "cache_control"));

        } else if ((allow & AIGW_ANTHROPIC_PART_IMAGE)
                   && strcmp(type, "image_url") == 0)
        {
            rc = aigw_anthropic_image(ctx, i, j, part, blocks);

        } else {
            return aigw_anthropic_invalid(ctx->err,
                       aigw_anthropic_path(ctx->param, sizeof(ctx->param),
                                           "messages[%zu].content[%zu].type",
                                           i, j),
                       "Content parts of type '%.40s' are not supported in "
                       "this message for this model.", type);
        }

        if (rc != AIGW_ADAPTER_OK) {
            return rc;
        }
    }

    return AIGW_ADAPTER_OK;
}


static int
aigw_anthropic_image(aigw_anthropic_req_t *ctx, size_t i, size_t j,
    json_t *part, json_t *blocks)
{
    json_t      *iu, *url, *b, *src;
    size_t       n, k, mime_len;
    const char  *p, *mime, *data;

    iu = json_object_get(part, "image_url");

    /* {"url": ...} as OpenAI documents; a bare string as some clients do */
    url = json_is_object(iu) ? json_object_get(iu, "url") : iu;

    if (!json_is_string(url)) {
        return aigw_anthropic_invalid(ctx->err,
                   aigw_anthropic_path(ctx->param, sizeof(ctx->param),
                                       "messages[%zu].content[%zu]"
                                       ".image_url.url", i, j),
                   "An image_url part must have a string 'url'.");
    }

    p = json_string_value(url);
    n = json_string_length(url);

    b = aigw_anthropic_add(blocks, NULL, json_object());

    if (b == NULL
        || json_object_set_new(b, "type", json_string("image")) != 0
        || (src = aigw_anthropic_add(b, "source", json_object())) == NULL)
    {
        return AIGW_ADAPTER_NOMEM;
    }

    if (n > 5 && strncasecmp(p, "data:", 5) == 0) {

        /* data:<media type>[;parameters];base64,<data> */

        mime = p + 5;
        mime_len = 0;

        while (5 + mime_len < n && mime[mime_len] != ';'
               && mime[mime_len] != ',')
        {
            mime_len++;
        }

        data = NULL;

        for (k = 5 + mime_len; k + 8 <= n; k++) {
            if (strncasecmp(p + k, ";base64,", 8) == 0) {
                data = p + k + 8;
                break;
            }
        }

        if (mime_len == 0 || data == NULL || data == p + n) {
            return aigw_anthropic_invalid(ctx->err,
                       aigw_anthropic_path(ctx->param, sizeof(ctx->param),
                                           "messages[%zu].content[%zu]"
                                           ".image_url.url", i, j),
                       "An image data URL must look like "
                       "data:<media type>;base64,<data>.");
        }

        if (json_object_set_new(src, "type", json_string("base64")) != 0
            || json_object_set_new(src, "media_type",
                                   json_stringn_nocheck(mime, mime_len))
               != 0
            || json_object_set_new(src, "data",
                                   json_stringn_nocheck(data,
                                                        p + n - data))
               != 0)
        {
            return AIGW_ADAPTER_NOMEM;
        }

    } else if ((n > 7 && strncasecmp(p, "http://", 7) == 0)
               || (n > 8 && strncasecmp(p, "https://", 8) == 0))
    {
        if (json_object_set_new(src, "type", json_string("url")) != 0
            || json_object_set(src, "url", url) != 0)
        {
            return AIGW_ADAPTER_NOMEM;
        }

    } else {
        return aigw_anthropic_invalid(ctx->err,
                   aigw_anthropic_path(ctx->param, sizeof(ctx->param),
                                       "messages[%zu].content[%zu]"
                                       ".image_url.url", i, j),
                   "An image URL must be an http(s) URL or a base64 data "
                   "URL.");
    }

    if (json_is_object(json_object_get(part, "cache_control"))
        && json_object_set(b, "cache_control",
                           json_object_get(part, "cache_control"))
           != 0)
    {
        return AIGW_ADAPTER_NOMEM;
    }

    return AIGW_ADAPTER_OK;
}


static int
aigw_anthropic_tool_calls(aigw_anthropic_req_t *ctx, size_t i,
    json_t *calls, json_t *blocks)
{
    json_t      *call, *id, *type, *fn, *name, *args, *input, *b;
    size_t       j;
    const char  *what;

    if (!json_is_array(calls)) {
        return aigw_anthropic_invalid(ctx->err,
                   aigw_anthropic_path(ctx->param, sizeof(ctx->param),
                                       "messages[%zu].tool_calls", i),
                   "'tool_calls' must be an array.");
    }

    json_array_foreach(calls, j, call) {

        what = NULL;
        id = NULL;
        fn = NULL;
        name = NULL;
        args = NULL;

        if (!json_is_object(call)) {
            what = "";

        } else {
            id = json_object_get(call, "id");
            type = aigw_anthropic_get(call, "type");
            fn = json_object_get(call, "function");
            name = json_object_get(fn, "name");
            args = aigw_anthropic_get(fn, "arguments");

            if (!json_is_string(id) || json_string_length(id) == 0) {
                what = ".id";

            } else if (type && !aigw_anthropic_is(type, "function")) {
                what = ".type";

            } else if (!json_is_object(fn)) {
                what = ".function";

            } else if (!json_is_string(name)
                       || json_string_length(name) == 0)
            {
                what = ".function.name";

            } else if (args && !json_is_string(args)) {
                what = ".function.arguments";
            }
        }

        if (what) {
            return aigw_anthropic_invalid(ctx->err,
                       aigw_anthropic_path(ctx->param, sizeof(ctx->param),
                                           "messages[%zu].tool_calls[%zu]%s",
                                           i, j, what),
                       "Each tool call must be an object with a string id, "
                       "type \"function\" and a function with a name and "
                       "string arguments.");
        }

        if (args == NULL || json_string_length(args) == 0) {
            input = json_object();
            if (input == NULL) {
                return AIGW_ADAPTER_NOMEM;
            }

        } else {
            input = aigw_json_load((const u_char *) json_string_value(args),
                                   json_string_length(args));

            if (!json_is_object(input)) {
                json_decref(input);

                return aigw_anthropic_invalid(ctx->err,
                           aigw_anthropic_path(ctx->param,
                                               sizeof(ctx->param),
                                               "messages[%zu].tool_calls"
                                               "[%zu].function.arguments",
                                               i, j),
                           "The arguments of a tool call must be a JSON "
                           "object, encoded as a string.");
            }
        }

        b = aigw_anthropic_add(blocks, NULL, json_object());

        if (b == NULL
            || json_object_set_new(b, "type", json_string("tool_use")) != 0
            || json_object_set(b, "id", id) != 0
            || json_object_set(b, "name", name) != 0)
        {
            json_decref(input);
            return AIGW_ADAPTER_NOMEM;
        }

        if (json_object_set_new(b, "input", input) != 0) {
            return AIGW_ADAPTER_NOMEM;
        }
    }

    return AIGW_ADAPTER_OK;
}


static int
aigw_anthropic_tool_result(aigw_anthropic_req_t *ctx, size_t i, json_t *m,
    json_t *blocks)
{
    int      rc;
    json_t  *id, *content, *b, *parts;

    id = json_object_get(m, "tool_call_id");

    if (!json_is_string(id) || json_string_length(id) == 0) {
        return aigw_anthropic_invalid(ctx->err,
                   aigw_anthropic_path(ctx->param, sizeof(ctx->param),
                                       "messages[%zu].tool_call_id", i),
                   "A tool message must have a string 'tool_call_id'.");
    }

    content = json_object_get(m, "content");

    b = json_object();

    if (json_array_append_new(blocks, b) != 0
        || json_object_set_new(b, "type", json_string("tool_result")) != 0
        || json_object_set(b, "tool_use_id", id) != 0)
    {
        return AIGW_ADAPTER_NOMEM;
    }

    if (json_is_string(content)) {
        if (json_string_length(content)
            && json_object_set(b, "content", content) != 0)
        {
            return AIGW_ADAPTER_NOMEM;
        }

        return AIGW_ADAPTER_OK;
    }

    parts = json_array();
    if (parts == NULL) {
        return AIGW_ADAPTER_NOMEM;
    }

    rc = aigw_anthropic_content(ctx, i, content, parts, 0);

    if (rc == AIGW_ADAPTER_OK && json_array_size(parts)
        && json_object_set(b, "content", parts) != 0)
    {
        rc = AIGW_ADAPTER_NOMEM;
    }

    json_decref(parts);

    return rc;
}


static int
aigw_anthropic_tools(json_t *in, json_t *msg, aigw_adapter_error_t *err)
{
    char         param[64];
    json_t      *v, *tools, *tool, *fn, *name, *desc, *params, *t;
    size_t       i;
    const char  *what;

    v = aigw_anthropic_get(in, "tools");

    if (v == NULL) {
        return AIGW_ADAPTER_OK;
    }

    if (!json_is_array(v)) {
        return aigw_anthropic_invalid(err, "tools", "'tools' must be an "
                                      "array.");
    }

    if (json_array_size(v) == 0) {
        return AIGW_ADAPTER_OK;
    }

    tools = json_array();
    if (json_object_set_new(msg, "tools", tools) != 0) {
        return AIGW_ADAPTER_NOMEM;
    }

    json_array_foreach(v, i, tool) {

        what = NULL;
        fn = NULL;
        name = NULL;
        desc = NULL;
        params = NULL;

        if (!json_is_object(tool)) {
            what = "";

        } else {
            fn = json_object_get(tool, "function");
            name = json_object_get(fn, "name");
            desc = aigw_anthropic_get(fn, "description");
            params = aigw_anthropic_get(fn, "parameters");

            if (!aigw_anthropic_is(json_object_get(tool, "type"),
                                   "function"))
            {
                what = ".type";

            } else if (!json_is_object(fn)) {
                what = ".function";

            } else if (!json_is_string(name)
                       || json_string_length(name) == 0)
            {
                what = ".function.name";

            } else if (desc && !json_is_string(desc)) {
                what = ".function.description";

            } else if (params && !json_is_object(params)) {
                what = ".function.parameters";
            }
        }

        if (what) {
            return aigw_anthropic_invalid(err,
                       aigw_anthropic_path(param, sizeof(param),
                                           "tools[%zu]%s", i, what),
                       "Each tool must be {\"type\":\"function\","
                       "\"function\":{\"name\",\"description\","
                       "\"parameters\"}} with a JSON Schema object as "
                       "parameters.");
        }

        t = json_object();

        if (json_array_append_new(tools, t) != 0
            || json_object_set(t, "name", name) != 0
            || (desc && json_object_set(t, "description", desc) != 0))
        {
            return AIGW_ADAPTER_NOMEM;
        }

        if (params) {
            if (json_object_set(t, "input_schema", params) != 0) {
                return AIGW_ADAPTER_NOMEM;
            }

        } else if (json_object_set_new(t, "input_schema",
                                       json_pack("{sss{}}", "type", "object",
                                                 "properties"))
                   != 0)
        {
            return AIGW_ADAPTER_NOMEM;
        }
    }

    return AIGW_ADAPTER_OK;
}


static int
aigw_anthropic_tool_choice(json_t *in, json_t **choice,
    aigw_adapter_error_t *err)
{
    json_t      *v, *name;
    const char  *s, *type;

    *choice = NULL;

    v = aigw_anthropic_get(in, "tool_choice");

    if (v == NULL) {
        return AIGW_ADAPTER_OK;
    }

    if (json_is_string(v)) {
        s = json_string_value(v);

        if (strcmp(s, "auto") == 0) {
            type = "auto";

        } else if (strcmp(s, "none") == 0) {
            type = "none";

        } else if (strcmp(s, "required") == 0) {
            type = "any";

        } else {
            goto invalid;
        }

        *choice = json_pack("{ss}", "type", type);

        return *choice ? AIGW_ADAPTER_OK : AIGW_ADAPTER_NOMEM;
    }

    if (!json_is_object(v)
        || !aigw_anthropic_is(json_object_get(v, "type"), "function"))
    {
        goto invalid;
    }

    name = json_object_get(json_object_get(v, "function"), "name");

    if (!json_is_string(name) || json_string_length(name) == 0) {
        return aigw_anthropic_invalid(err, "tool_choice.function.name",
                                      "A named tool_choice must give the "
                                      "function's name.");
    }

    *choice = json_pack("{ss}", "type", "tool");

    if (*choice == NULL || json_object_set(*choice, "name", name) != 0) {
        json_decref(*choice);
        *choice = NULL;
        return AIGW_ADAPTER_NOMEM;
    }

    return AIGW_ADAPTER_OK;

invalid:

    return aigw_anthropic_invalid(err, "tool_choice", "'tool_choice' must be "
                                  "\"auto\", \"none\", \"required\" or "
                                  "{\"type\":\"function\",\"function\":"
                                  "{\"name\":...}}.");
}


static int
aigw_anthropic_invalid(aigw_adapter_error_t *err, const char *param,
    const char *fmt, ...)
{
    char     msg[sizeof(err->message)];
    va_list  args;

    va_start(args, fmt);
    (void) vsnprintf(msg, sizeof(msg), fmt, args);
    va_end(args);

    aigw_adapter_error(err, param, "%s", msg);

    return AIGW_ADAPTER_INVALID;
}


static const char *
aigw_anthropic_path(char *buf, size_t size, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    (void) vsnprintf(buf, size, fmt, args);
    va_end(args);

    return buf;
}


/* a member, with null taken as absent */

static json_t *
aigw_anthropic_get(json_t *o, const char *key)
{
    json_t  *v;

    v = json_object_get(o, key);

    return json_is_null(v) ? NULL : v;
}


static int
aigw_anthropic_is(json_t *v, const char *s)
{
    return json_is_string(v) && strcmp(json_string_value(v), s) == 0;
}


static json_t *
aigw_anthropic_strn(const u_char *p, size_t len)
{
    if (p == NULL) {
        return json_string("");
    }

    return json_stringn((const char *) p, len);
}


/*
 * Adds child (taken) to an object under key, or to an array when key is
 * NULL, so that a new container is owned before it is filled: every error
 * path then frees it with its parent.  NULL: out of memory.
 */

static json_t *
aigw_anthropic_add(json_t *parent, const char *key, json_t *child)
{
    if (key ? json_object_set_new(parent, key, child)
            : json_array_append_new(parent, child))
    {
        return NULL;
    }

    return child;
}


/* response: Messages -> chat.completion */

int
aigw_anthropic_response(const u_char *body, size_t len,
    const aigw_adapter_resp_t *resp, aigw_buf_t *out, aigw_usage_t *usage)
{
    int      rc;
    size_t   saved;
    json_t  *in, *root;

    memset(usage, 0, sizeof(aigw_usage_t));

    in = aigw_json_load(body, len);

    if (!json_is_object(in)
        || !aigw_anthropic_is(json_object_get(in, "type"), "message")
        || !json_is_array(json_object_get(in, "content")))
    {
        json_decref(in);
        return AIGW_ADAPTER_INVALID;
    }

    root = json_object();

    if (root == NULL) {
        rc = AIGW_ADAPTER_NOMEM;

    } else {
        rc = aigw_anthropic_completion(in, resp, root, usage);
    }

    if (rc == AIGW_ADAPTER_OK) {
        saved = out->len;
        rc = aigw_buf_dump(out, root);

        if (rc != AIGW_ADAPTER_OK) {
            out->len = saved;
        }
    }

    if (rc != AIGW_ADAPTER_OK) {
        memset(usage, 0, sizeof(aigw_usage_t));
    }

    json_decref(root);
    json_decref(in);

    return rc;
}


static int
aigw_anthropic_completion(json_t *in, const aigw_adapter_resp_t *resp,
    json_t *root, aigw_usage_t *usage)
{
    int       rc;
    json_t   *v, *content, *b, *choices, *choice, *message, *text, *calls;
    json_t   *reasoning, *call, *fn;
    size_t    i;
    int64_t   input, cache_read, cache_creation, output;

    content = json_object_get(in, "content");

    rc = aigw_anthropic_join(content, "text", "text", &text);
    if (rc != AIGW_ADAPTER_OK) {
        return rc;
    }

    rc = aigw_anthropic_join(content, "thinking", "thinking", &reasoning);
    if (rc != AIGW_ADAPTER_OK) {
        json_decref(text);
        return rc;
    }

    v = json_object_get(in, "id");

    if (json_object_set_new(root, "id",
                            json_is_string(v) && json_string_length(v)
                            ? json_incref(v)
                            : aigw_anthropic_strn(resp->id, resp->id_len))
        || json_object_set_new(root, "object",
                               json_string("chat.completion"))
        || json_object_set_new(root, "created", json_integer(resp->created)))
    {
        goto nomem;
    }

    v = json_object_get(in, "model");

    if (json_object_set_new(root, "model",
                            json_is_string(v) && json_string_length(v)
                            ? json_incref(v)
                            : aigw_anthropic_strn(resp->model,
                                                  resp->model_len)))
    {
        goto nomem;
    }

    choices = aigw_anthropic_add(root, "choices", json_array());
    choice = choices ? aigw_anthropic_add(choices, NULL, json_object())
                     : NULL;

    if (choice == NULL
        || json_object_set_new(choice, "index", json_integer(0))
        || (message = aigw_anthropic_add(choice, "message", json_object()))
           == NULL
        || json_object_set_new(message, "role", json_string("assistant")))
    {
        goto nomem;
    }

    rc = json_object_set_new(message, "content", text ? text : json_null());
    text = NULL;

    if (rc != 0) {
        goto nomem;
    }

    if (reasoning) {
        rc = json_object_set_new(message, "reasoning_content", reasoning);
        reasoning = NULL;

        if (rc != 0) {
            goto nomem;
        }
    }

    calls = NULL;

    json_array_foreach(content, i, b) {

        if (!aigw_anthropic_is(json_object_get(b, "type"), "tool_use")) {
            continue;
        }

        v = json_object_get(b, "input");

        if (!json_is_string(json_object_get(b, "id"))
            || !json_is_string(json_object_get(b, "name"))
            || (v && !json_is_object(v)))
        {
            return AIGW_ADAPTER_INVALID;
        }

        if (calls == NULL) {
            calls = aigw_anthropic_add(message, "tool_calls", json_array());

            if (calls == NULL) {
                goto nomem;
            }
        }

        call = aigw_anthropic_add(calls, NULL, json_object());

        if (call == NULL
            || json_object_set(call, "id", json_object_get(b, "id"))
            || json_object_set_new(call, "type", json_string("function"))
            || (fn = aigw_anthropic_add(call, "function", json_object()))
               == NULL
            || json_object_set(fn, "name", json_object_get(b, "name"))
            || json_object_set_new(fn, "arguments",
                                   aigw_anthropic_arguments(v)))
        {
            goto nomem;
        }
    }

    if (json_object_set_new(choice, "logprobs", json_null())
        || json_object_set_new(choice, "finish_reason",
                               json_string(aigw_anthropic_finish(
                                   json_object_get(in, "stop_reason")))))
    {
        goto nomem;
    }

    input = 0;
    cache_read = 0;
    cache_creation = 0;
    output = 0;

    if (aigw_anthropic_usage_read(json_object_get(in, "usage"), &input,
                                  &cache_read, &cache_creation, &output)
        == 0)
    {
        aigw_anthropic_usage_set(usage, input, cache_read, cache_creation,
                                 output);

    } else {
        memset(usage, 0, sizeof(aigw_usage_t));
    }

    if (json_object_set_new(root, "usage", aigw_anthropic_usage_json(usage))
        != 0)
    {
        goto nomem;
    }

    return AIGW_ADAPTER_OK;

nomem:

    json_decref(text);
    json_decref(reasoning);

    return AIGW_ADAPTER_NOMEM;
}


/*
 * The "field" strings of the content blocks of one type, joined: NULL when
 * there is no such block, one block's string itself, else a new string.
 */

static int
aigw_anthropic_join(json_t *content, const char *type, const char *field,
    json_t **out)
{
    char             *p;
    json_t           *b, *s, *one;
    size_t            i, n, len, count;
    json_free_t       free_fn;
    json_malloc_t     malloc_fn;

    *out = NULL;
    one = NULL;
    count = 0;
    len = 0;

    json_array_foreach(content, i, b) {

        if (!aigw_anthropic_is(json_object_get(b, "type"), type)) {
            continue;
        }

        s = json_object_get(b, field);

        if (!json_is_string(s)) {
            return AIGW_ADAPTER_INVALID;
        }

        n = json_string_length(s);

        if (n > SIZE_MAX / 2 - len) {
            return AIGW_ADAPTER_NOMEM;
        }

        len += n;
        one = s;
        count++;
    }

    if (count <= 1) {
        *out = json_incref(one);
        return AIGW_ADAPTER_OK;
    }

    /* jansson's allocator, which the glue may have set, and its tests */

    json_get_alloc_funcs(&malloc_fn, &free_fn);

    p = malloc_fn(len ? len : 1);
    if (p == NULL) {
        return AIGW_ADAPTER_NOMEM;
    }

    len = 0;

    json_array_foreach(content, i, b) {
        if (aigw_anthropic_is(json_object_get(b, "type"), type)) {
            s = json_object_get(b, field);
            n = json_string_length(s);
            memcpy(p + len, json_string_value(s), n);
            len += n;
        }
    }

    /* pieces of UTF-8 joined are UTF-8 */
    *out = json_stringn_nocheck(p, len);
    free_fn(p);

    return *out ? AIGW_ADAPTER_OK : AIGW_ADAPTER_NOMEM;
}


/* a tool_use input as OpenAI's arguments string; NULL: out of memory */

static json_t *
aigw_anthropic_arguments(json_t *input)
{
    char         *p;
    json_t       *s;
    json_free_t   free_fn;
    json_malloc_t malloc_fn;

    if (input == NULL || json_object_size(input) == 0) {
        return json_string("{}");
    }

    p = json_dumps(input, AIGW_ANTHROPIC_DUMP_FLAGS);
    if (p == NULL) {
        return NULL;
    }

    json_get_alloc_funcs(&malloc_fn, &free_fn);

    s = json_string_nocheck(p);
    free_fn(p);

    return s;
}


static const char *
aigw_anthropic_finish(json_t *stop_reason)
{
    const char  *s;

    s = json_string_value(stop_reason);

    if (s == NULL) {
        return "stop";
    }

    if (strcmp(s, "max_tokens") == 0) {
        return "length";
    }

    if (strcmp(s, "tool_use") == 0) {
        return "tool_calls";
    }

    if (strcmp(s, "refusal") == 0) {
        return "content_filter";
    }

    /* end_turn, stop_sequence, pause_turn and any newer reason */

    return "stop";
}


/* one count: 1 found, 0 absent or null, -1 not a count */

static int
aigw_anthropic_count(json_t *usage, const char *name, int64_t *out)
{
    json_t      *v;
    json_int_t   n;

    v = json_object_get(usage, name);

    if (v == NULL || json_is_null(v)) {
        return 0;
    }

    if (!json_is_integer(v)) {
        return -1;
    }

    n = json_integer_value(v);

    if (n < 0 || n > AIGW_ANTHROPIC_TOKENS_MAX) {
        return -1;
    }

    *out = (int64_t) n;

    return 1;
}


/* updates the counts a usage object has; -1 if it is not one */

static int
aigw_anthropic_usage_read(json_t *usage, int64_t *input, int64_t *cache_read,
    int64_t *cache_creation, int64_t *output)
{
    int64_t  v[4];

    if (!json_is_object(usage)) {
        return -1;
    }

    v[0] = *input;
    v[1] = *cache_read;
    v[2] = *cache_creation;
    v[3] = *output;

    if (aigw_anthropic_count(usage, "input_tokens", &v[0]) < 0
        || aigw_anthropic_count(usage, "cache_read_input_tokens", &v[1]) < 0
        || aigw_anthropic_count(usage, "cache_creation_input_tokens",
                                &v[2]) < 0
        || aigw_anthropic_count(usage, "output_tokens", &v[3]) < 0)
    {
        return -1;
    }

    *input = v[0];
    *cache_read = v[1];
    *cache_creation = v[2];
    *output = v[3];

    return 0;
}


/* each count is at most 2^48: the sums cannot overflow */

static void
aigw_anthropic_usage_set(aigw_usage_t *u, int64_t input, int64_t cache_read,
    int64_t cache_creation, int64_t output)
{
    u->prompt_tokens = input + cache_read + cache_creation;
    u->completion_tokens = output;
    u->total_tokens = u->prompt_tokens + output;
    u->cached_tokens = cache_read;
    u->reasoning_tokens = 0;
    u->found = 1;
}


static json_t *
aigw_anthropic_usage_json(const aigw_usage_t *u)
{
    return json_pack("{sIsIsIs{sI}s{sI}}",
                     "prompt_tokens", (json_int_t) u->prompt_tokens,
                     "completion_tokens", (json_int_t) u->completion_tokens,
                     "total_tokens", (json_int_t) u->total_tokens,
                     "prompt_tokens_details",
                     "cached_tokens", (json_int_t) u->cached_tokens,
                     "completion_tokens_details",
                     "reasoning_tokens", (json_int_t) u->reasoning_tokens);
}


/* errors */

int
aigw_anthropic_error(int status, const u_char *body, size_t len,
    aigw_buf_t *out, int *out_status)
{
    int          rc;
    char         buf[64];
    json_t      *in, *e, *m;
    size_t       saved, n;
    const char  *msg, *type, *code;

    *out_status = (status == 529) ? 503 : status;

    in = len ? aigw_json_load(body, len) : NULL;
    e = json_object_get(in, "error");
    m = json_object_get(e, "message");

    if (json_is_string(m) && json_string_length(m)) {
        msg = json_string_value(m);
        n = json_string_length(m);
        aigw_anthropic_error_map(json_string_value(json_object_get(e,
                                                                   "type")),
                                 &type, &code);
    } else {
        n = (size_t) snprintf(buf, sizeof(buf), "upstream error (HTTP %d)",
                              status);
        msg = buf;
        type = NULL;
        code = NULL;
    }

    if (type == NULL) {
        type = aigw_openai_error_type(*out_status);
    }

    saved = out->len;
    rc = aigw_openai_error_json(out, msg, n, type, code);

    if (rc != AIGW_ADAPTER_OK) {
        out->len = saved;
    }

    json_decref(in);

    return rc;
}


/* Anthropic's error type -> OpenAI's type and code; type NULL: unknown */

static void
aigw_anthropic_error_map(const char *atype, const char **type,
    const char **code)
{
    *type = NULL;
    *code = NULL;

    if (atype == NULL) {
        return;
    }

    if (strcmp(atype, "invalid_request_error") == 0
        || strcmp(atype, "not_found_error") == 0
        || strcmp(atype, "request_too_large") == 0)
    {
        *type = "invalid_request_error";

    } else if (strcmp(atype, "authentication_error") == 0) {
        *type = "authentication_error";
        *code = "invalid_api_key";

    } else if (strcmp(atype, "permission_error") == 0) {
        *type = "permission_error";

    } else if (strcmp(atype, "rate_limit_error") == 0) {
        *type = "rate_limit_exceeded";
        *code = "rate_limit_exceeded";

    } else if (strcmp(atype, "api_error") == 0) {
        *type = "api_error";

    } else if (strcmp(atype, "overloaded_error") == 0) {
        *type = "api_error";
        *code = "overloaded";
    }
}


int
aigw_anthropic_usage(const u_char *p, size_t len, aigw_usage_t *u)
{
    int       rc;
    json_t   *j;
    int64_t   input, cache_read, cache_creation, output;

    memset(u, 0, sizeof(aigw_usage_t));

    input = 0;
    cache_read = 0;
    cache_creation = 0;
    output = 0;

    j = aigw_json_load(p, len);
    rc = aigw_anthropic_usage_read(j, &input, &cache_read, &cache_creation,
                                   &output);
    json_decref(j);

    if (rc != 0) {
        return -1;
    }

    aigw_anthropic_usage_set(u, input, cache_read, cache_creation, output);

    return 0;
}


/* the stream */

void
aigw_anthropic_stream_init(aigw_anthropic_stream_t *st,
    const aigw_adapter_resp_t *resp, aigw_alloc_pt alloc, void *pool)
{
    int  i;

    memset(st, 0, sizeof(aigw_anthropic_stream_t));

    st->conf = *resp;

    for (i = 0; i < AIGW_ANTHROPIC_BLOCKS; i++) {
        st->block_tool[i] = -1;
    }

    aigw_buf_init(&st->scratch, alloc, pool, 0);
}


int
aigw_anthropic_stream_event(aigw_anthropic_stream_t *st,
    const u_char *event, size_t event_len, const u_char *data,
    size_t data_len, aigw_emit_pt emit, void *ctx)
{
    int                   rc;
    json_t               *j;
    aigw_anthropic_ev_e   kind;

    if (st->stopped || st->failed || data == NULL || data_len == 0) {
        return AIGW_ADAPTER_OK;
    }

    kind = AIGW_ANTHROPIC_EV_UNKNOWN;

    if (event) {
        kind = aigw_anthropic_event_kind((const char *) event, event_len);

        /* newer event types are skipped unread, for forward compatibility */

        if (kind == AIGW_ANTHROPIC_EV_UNKNOWN
            || kind == AIGW_ANTHROPIC_EV_PING)
        {
            return AIGW_ADAPTER_OK;
        }
    }

    j = aigw_json_load(data, data_len);

    if (!json_is_object(j)) {
        json_decref(j);
        return AIGW_ADAPTER_INVALID;
    }

    if (event == NULL) {
        /* no "event:" line: the data's own "type" names it */

        kind = json_is_string(json_object_get(j, "type"))
               ? aigw_anthropic_event_kind(
                     json_string_value(json_object_get(j, "type")),
                     json_string_length(json_object_get(j, "type")))
               : AIGW_ANTHROPIC_EV_UNKNOWN;
    }

    switch (kind) {

    case AIGW_ANTHROPIC_EV_MESSAGE_START:
        rc = aigw_anthropic_message_start(st, j, emit, ctx);
        break;

    case AIGW_ANTHROPIC_EV_BLOCK_START:
        rc = aigw_anthropic_block_start(st, j, emit, ctx);
        break;

    case AIGW_ANTHROPIC_EV_BLOCK_DELTA:
        rc = aigw_anthropic_block_delta(st, j, emit, ctx);
        break;

    case AIGW_ANTHROPIC_EV_MESSAGE_DELTA:
        rc = aigw_anthropic_message_delta(st, j, emit, ctx);
        break;

    case AIGW_ANTHROPIC_EV_MESSAGE_STOP:
        rc = st->started ? aigw_anthropic_message_stop(st, emit, ctx)
                         : AIGW_ADAPTER_INVALID;
        break;

    case AIGW_ANTHROPIC_EV_ERROR:
        rc = aigw_anthropic_stream_error(st, j, emit, ctx);
        break;

    default: /* content_block_stop, ping, unknown */
        rc = AIGW_ADAPTER_OK;
        break;
    }

    json_decref(j);

    return rc;
}


int
aigw_anthropic_stream_finish(aigw_anthropic_stream_t *st, aigw_emit_pt emit,
    void *ctx)
{
    (void) emit;
    (void) ctx;

    return (st->stopped || st->failed) ? AIGW_ADAPTER_OK
                                       : AIGW_ADAPTER_INVALID;
}


static aigw_anthropic_ev_e
aigw_anthropic_event_kind(const char *p, size_t len)
{
    static const struct {
        const char           *name;
        size_t                len;
        aigw_anthropic_ev_e   kind;
    } events[] = {
        { "message_start", 13, AIGW_ANTHROPIC_EV_MESSAGE_START },
        { "content_block_start", 19, AIGW_ANTHROPIC_EV_BLOCK_START },
        { "content_block_delta", 19, AIGW_ANTHROPIC_EV_BLOCK_DELTA },
        { "content_block_stop", 18, AIGW_ANTHROPIC_EV_BLOCK_STOP },
        { "message_delta", 13, AIGW_ANTHROPIC_EV_MESSAGE_DELTA },
        { "message_stop", 12, AIGW_ANTHROPIC_EV_MESSAGE_STOP },
        { "ping", 4, AIGW_ANTHROPIC_EV_PING },
        { "error", 5, AIGW_ANTHROPIC_EV_ERROR }
    };

    size_t  i;

    for (i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
        if (len == events[i].len && memcmp(p, events[i].name, len) == 0) {
            return events[i].kind;
        }
    }

    return AIGW_ANTHROPIC_EV_UNKNOWN;
}


static int
aigw_anthropic_message_start(aigw_anthropic_stream_t *st, json_t *j,
    aigw_emit_pt emit, void *ctx)
{
    json_t  *m, *v, *delta;

    if (st->started) {
        return AIGW_ADAPTER_OK;
    }

    m = json_object_get(j, "message");

    if (!json_is_object(m)) {
        return AIGW_ADAPTER_INVALID;
    }

    v = json_object_get(m, "id");

    if (json_is_string(v) && json_string_length(v) <= sizeof(st->id)) {
        st->id_len = json_string_length(v);
        memcpy(st->id, json_string_value(v), st->id_len);
    }

    v = json_object_get(m, "model");

    if (json_is_string(v) && json_string_length(v) <= sizeof(st->model)) {
        st->model_len = json_string_length(v);
        memcpy(st->model, json_string_value(v), st->model_len);
    }

    if (aigw_anthropic_usage_read(json_object_get(m, "usage"),
                                  &st->input_tokens, &st->cache_read,
                                  &st->cache_creation, &st->output_tokens)
        == 0)
    {
        aigw_anthropic_stream_usage(st);
    }

    st->started = 1;

    if (emit == NULL) {
        return AIGW_ADAPTER_OK;
    }

    delta = json_pack("{ssss}", "role", "assistant", "content", "");

    return aigw_anthropic_chunk(st, delta, NULL, emit, ctx);
}


static int
aigw_anthropic_block_start(aigw_anthropic_stream_t *st, json_t *j,
    aigw_emit_pt emit, void *ctx)
{
    int          k, index;
    json_t      *b, *v, *id, *name, *args, *delta;
    const char  *type;

    b = json_object_get(j, "content_block");
    type = json_string_value(json_object_get(b, "type"));

    if (!st->started || type == NULL
        || aigw_anthropic_index(j, &index) != AIGW_ADAPTER_OK)
    {
        return AIGW_ADAPTER_INVALID;
    }

    if (strcmp(type, "tool_use") == 0 && index >= 0) {
        id = json_object_get(b, "id");
        name = json_object_get(b, "name");
        v = json_object_get(b, "input");

        if (!json_is_string(id) || !json_is_string(name)) {
            return AIGW_ADAPTER_INVALID;
        }

        if (st->tools == INT_MAX) {
            /* past any real stream: counted as a block that is no tool */
            st->block_tool[index] = -1;
            return AIGW_ADAPTER_OK;
        }

        k = st->tools++;
        st->block_tool[index] = k;

        if (emit == NULL) {
            return AIGW_ADAPTER_OK;
        }

        args = json_is_object(v) && json_object_size(v)
               ? aigw_anthropic_arguments(v) : json_string("");

        if (args == NULL) {
            return AIGW_ADAPTER_NOMEM;
        }

        delta = aigw_anthropic_tool_delta(k, id, name, args);

        return aigw_anthropic_chunk(st, delta, NULL, emit, ctx);
    }

    if (index >= 0) {
        st->block_tool[index] = -1;
    }

    if (emit == NULL) {
        return AIGW_ADAPTER_OK;
    }

    /* text and thinking blocks start empty; send any text they carry */

    if (strcmp(type, "text") == 0) {
        v = json_object_get(b, "text");
        delta = aigw_anthropic_delta("content", v);

    } else if (strcmp(type, "thinking") == 0) {
        v = json_object_get(b, "thinking");
        delta = aigw_anthropic_delta("reasoning_content", v);

    } else {
        return AIGW_ADAPTER_OK;
    }

    if (!json_is_string(v) || json_string_length(v) == 0) {
        json_decref(delta);
        return AIGW_ADAPTER_OK;
    }

    return aigw_anthropic_chunk(st, delta, NULL, emit, ctx);
}


static int
aigw_anthropic_block_delta(aigw_anthropic_stream_t *st, json_t *j,
    aigw_emit_pt emit, void *ctx)
{
    int          k, index;
    json_t      *d, *v, *delta;
    const char  *type, *field, *key;

    d = json_object_get(j, "delta");
    type = json_string_value(json_object_get(d, "type"));

    if (!st->started || type == NULL
        || aigw_anthropic_index(j, &index) != AIGW_ADAPTER_OK)
    {
        return AIGW_ADAPTER_INVALID;
    }

    k = -1;

    if (strcmp(type, "text_delta") == 0) {
        field = "text";
        key = "content";

    } else if (strcmp(type, "thinking_delta") == 0) {
        field = "thinking";
        key = "reasoning_content";

    } else if (strcmp(type, "input_json_delta") == 0) {
        field = "partial_json";
        key = NULL;
        k = index >= 0 ? st->block_tool[index] : -1;

    } else {
        /* signature_delta, citations_delta, newer ones */
        return AIGW_ADAPTER_OK;
    }

    v = json_object_get(d, field);

    if (!json_is_string(v)) {
        return AIGW_ADAPTER_INVALID;
    }

    if (emit == NULL || json_string_length(v) == 0
        || (key == NULL && k < 0))
    {
        return AIGW_ADAPTER_OK;
    }

    if (key) {
        delta = aigw_anthropic_delta(key, v);

    } else {
        delta = aigw_anthropic_tool_delta(k, NULL, NULL, json_incref(v));
    }

    return aigw_anthropic_chunk(st, delta, NULL, emit, ctx);
}


static int
aigw_anthropic_message_delta(aigw_anthropic_stream_t *st, json_t *j,
    aigw_emit_pt emit, void *ctx)
{
    json_t  *reason, *delta;

    if (!st->started) {
        return AIGW_ADAPTER_INVALID;
    }

    /* counts are cumulative: the last value of each is the total */

    if (aigw_anthropic_usage_read(json_object_get(j, "usage"),
                                  &st->input_tokens, &st->cache_read,
                                  &st->cache_creation, &st->output_tokens)
        == 0)
    {
        aigw_anthropic_stream_usage(st);
    }

    reason = json_object_get(json_object_get(j, "delta"), "stop_reason");

    if (st->finish_reason || !json_is_string(reason)) {
        return AIGW_ADAPTER_OK;
    }

    st->finish_reason = aigw_anthropic_finish(reason);

    if (emit == NULL) {
        return AIGW_ADAPTER_OK;
    }

    delta = json_object();

    return aigw_anthropic_chunk(st, delta, st->finish_reason, emit, ctx);
}


static int
aigw_anthropic_message_stop(aigw_anthropic_stream_t *st, aigw_emit_pt emit,
    void *ctx)
{
    int          rc, finish;
    json_t      *root;

    finish = 0;

    if (st->finish_reason == NULL) {
        st->finish_reason = "stop";
        finish = 1;
    }

    st->stopped = 1;

    if (emit == NULL) {
        return AIGW_ADAPTER_OK;
    }

    if (finish) {
        rc = aigw_anthropic_chunk(st, json_object(), st->finish_reason, emit,
                                  ctx);
        if (rc != AIGW_ADAPTER_OK) {
            return rc;
        }
    }

    if (st->conf.include_usage) {
        root = aigw_anthropic_chunk_head(st);

        if (root
            && (json_object_set_new(root, "choices", json_array())
                || json_object_set_new(root, "usage",
                                       aigw_anthropic_usage_json(&st->usage))))
        {
            json_decref(root);
            root = NULL;
        }

        rc = aigw_anthropic_send(st, root, emit, ctx);
        if (rc != AIGW_ADAPTER_OK) {
            return rc;
        }
    }

    return emit(ctx, NULL, 0, (const u_char *) "[DONE]", 6);
}


static int
aigw_anthropic_stream_error(aigw_anthropic_stream_t *st, json_t *j,
    aigw_emit_pt emit, void *ctx)
{
    int          rc;
    json_t      *e, *m;
    size_t       n;
    const char  *msg, *type, *code;

    st->failed = 1;

    if (emit == NULL) {
        return AIGW_ADAPTER_OK;
    }

    e = json_object_get(j, "error");
    m = json_object_get(e, "message");

    if (json_is_string(m) && json_string_length(m)) {
        msg = json_string_value(m);
        n = json_string_length(m);

    } else {
        msg = "The upstream provider ended the stream with an error.";
        n = strlen(msg);
    }

    aigw_anthropic_error_map(json_string_value(json_object_get(e, "type")),
                             &type, &code);

    if (type == NULL) {
        type = "api_error";
    }

    st->scratch.len = 0;

    rc = aigw_openai_error_json(&st->scratch, msg, n, type, code);
    if (rc != AIGW_ADAPTER_OK) {
        return rc;
    }

    return emit(ctx, NULL, 0, st->scratch.data, st->scratch.len);
}


/*
 * A block's index; *index is -1 when it is past what the state tracks:
 * such a block is handled as one that is not a tool call.
 */

static int
aigw_anthropic_index(json_t *j, int *index)
{
    json_t      *v;
    json_int_t   n;

    v = json_object_get(j, "index");

    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        return AIGW_ADAPTER_INVALID;
    }

    n = json_integer_value(v);
    *index = n < AIGW_ANTHROPIC_BLOCKS ? (int) n : -1;

    return AIGW_ADAPTER_OK;
}


static json_t *
aigw_anthropic_delta(const char *key, json_t *value)
{
    json_t  *delta;

    delta = json_object();

    if (delta && json_object_set(delta, key, value) != 0) {
        json_decref(delta);
        return NULL;
    }

    return delta;
}


/* {"tool_calls":[{"index":k[,"id","type"],"function":{[name,]arguments}}]} */

static json_t *
aigw_anthropic_tool_delta(int k, json_t *id, json_t *name, json_t *arguments)
{
    json_t  *delta, *calls, *call, *fn;

    delta = json_object();
    calls = aigw_anthropic_add(delta, "tool_calls", json_array());
    call = calls ? aigw_anthropic_add(calls, NULL, json_object()) : NULL;

    if (call == NULL
        || json_object_set_new(call, "index", json_integer(k))
        || (id && (json_object_set(call, "id", id)
                   || json_object_set_new(call, "type",
                                          json_string("function"))))
        || (fn = aigw_anthropic_add(call, "function", json_object()))
           == NULL
        || (name && json_object_set(fn, "name", name)))
    {
        json_decref(arguments);
        json_decref(delta);
        return NULL;
    }

    if (json_object_set_new(fn, "arguments", arguments) != 0) {
        json_decref(delta);
        return NULL;
    }

    return delta;
}


/* one choice chunk with delta (taken; NULL: out of memory) */

static int
aigw_anthropic_chunk(aigw_anthropic_stream_t *st, json_t *delta,
    const char *finish_reason, aigw_emit_pt emit, void *ctx)
{
    json_t  *root, *choices, *choice;

    if (delta == NULL) {
        return AIGW_ADAPTER_NOMEM;
    }

    root = aigw_anthropic_chunk_head(st);
    choices = root ? aigw_anthropic_add(root, "choices", json_array())
                   : NULL;
    choice = choices ? aigw_anthropic_add(choices, NULL, json_object())
                     : NULL;

    if (choice == NULL
        || json_object_set_new(choice, "index", json_integer(0)))
    {
        json_decref(delta);
        json_decref(root);
        return AIGW_ADAPTER_NOMEM;
    }

    if (json_object_set_new(choice, "delta", delta)
        || json_object_set_new(choice, "logprobs", json_null())
        || json_object_set_new(choice, "finish_reason",
                               finish_reason ? json_string(finish_reason)
                                             : json_null())

        /* as OpenAI does with include_usage: "usage":null but in the last */
        || (st->conf.include_usage
            && json_object_set_new(root, "usage", json_null())))
    {
        json_decref(root);
        return AIGW_ADAPTER_NOMEM;
    }

    return aigw_anthropic_send(st, root, emit, ctx);
}


/* what every chunk of the stream starts with */

static json_t *
aigw_anthropic_chunk_head(aigw_anthropic_stream_t *st)
{
    json_t  *root;

    root = json_object();

    if (root == NULL
        || json_object_set_new(root, "id",
                               st->id_len
                               ? aigw_anthropic_strn(st->id, st->id_len)
                               : aigw_anthropic_strn(st->conf.id,
                                                     st->conf.id_len))
        || json_object_set_new(root, "object",
                               json_string("chat.completion.chunk"))
        || json_object_set_new(root, "created",
                               json_integer(st->conf.created))
        || json_object_set_new(root, "model",
                               st->model_len
                               ? aigw_anthropic_strn(st->model,
                                                     st->model_len)
                               : aigw_anthropic_strn(st->conf.model,
                                                     st->conf.model_len)))
    {
        json_decref(root);
        return NULL;
    }

    return root;
}


/* dumps root (taken; NULL: out of memory) into scratch and emits it */

static int
aigw_anthropic_send(aigw_anthropic_stream_t *st, json_t *root,
    aigw_emit_pt emit, void *ctx)
{
    int  rc;

    if (root == NULL) {
        return AIGW_ADAPTER_NOMEM;
    }

    st->scratch.len = 0;
    rc = aigw_buf_dump(&st->scratch, root);
    json_decref(root);

    if (rc != AIGW_ADAPTER_OK) {
        return rc;
    }

    return emit(ctx, NULL, 0, st->scratch.data, st->scratch.len);
}


static void
aigw_anthropic_stream_usage(aigw_anthropic_stream_t *st)
{
    aigw_anthropic_usage_set(&st->usage, st->input_tokens, st->cache_read,
                             st->cache_creation, st->output_tokens);
}
