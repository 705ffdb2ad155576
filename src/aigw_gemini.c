/*
 * aigw: the Google Gemini adapter (Generative Language API, v1beta).
 *
 * Mapping decisions where OpenAI's and Google's formats do not meet:
 *
 * - system and developer messages, wherever they stand, become parts of
 *   systemInstruction; tool messages become functionResponse parts of a
 *   "user" turn; consecutive turns of one role are merged, as Gemini wants
 *   roles to alternate and parallel calls answered in one turn.
 * - An http(s) image URL becomes fileData.  Its mimeType is guessed from
 *   the extension of the URL's path (png, jpg/jpeg, gif, webp, heic,
 *   heif), else "image/jpeg".  Data URLs become inlineData.  Other schemes
 *   are refused: the gateway does not fetch anything.
 * - Replayed tool calls carry the thoughtSignature Google documents for
 *   calls that did not come from this conversation's signed answer
 *   ("skip_thought_signature_validator"), on the first call of each
 *   assistant turn: Gemini 3 refuses replayed calls without one, and an
 *   OpenAI client has nowhere to keep the real signature.
 * - Tool-call arguments "" mean {}; a tool result that is a JSON object is
 *   the response itself, anything else is {"content": <text>}.
 * - JSON schemas (tool parameters, response_format json_schema) are cut
 *   down to Gemini's Schema, a subset of OpenAPI 3.0: unknown keywords
 *   ($schema, additionalProperties, $ref, ...) are dropped, a type array
 *   becomes one type plus "nullable", oneOf becomes anyOf, a string const
 *   becomes a one-value enum, and only the formats Gemini accepts stay.
 *   Parameters without properties are omitted (Gemini refuses an OBJECT
 *   with empty properties).
 * - reasoning_effort sets thinkingConfig.thinkingBudget (none 0,
 *   minimal/low 1024, medium 8192, high 24576) and, unless "none", asks
 *   for thought summaries (includeThoughts), which come back as
 *   reasoning_content: a client that asks for reasoning can see it.
 * - A stream translates the first candidate only, so stream with n > 1
 *   is refused; stream chunks carry the gateway's id and the client's
 *   model name, the same in every chunk.
 * - prompt_tokens counts toolUsePromptTokenCount too, which Gemini bills
 *   as input and includes in totalTokenCount.
 * - An INVALID_ARGUMENT about the API key ("API key not valid", reason
 *   API_KEY_INVALID) is answered 401 invalid_api_key, as UNAUTHENTICATED.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "aigw_gemini.h"


/* depth to which a text jansson refused is checked again (see load) */
#define AIGW_GEMINI_MAX_DEPTH    1024

/* a token count above this is not a count */
#define AIGW_GEMINI_TOKENS_MAX   1000000000000000LL

#define AIGW_GEMINI_PARAM_LEN    64

#define AIGW_GEMINI_SIGNATURE    "skip_thought_signature_validator"


typedef enum {
    AIGW_GEMINI_SYSTEM = 0,
    AIGW_GEMINI_USER,
    AIGW_GEMINI_ASSISTANT
} aigw_gemini_kind_e;


typedef struct {
    json_t                     *root;       /* the client's body */
    json_t                     *out;        /* GenerateContentRequest */
    json_t                     *contents;
    json_t                     *system;     /* systemInstruction parts */
    json_t                     *calls;      /* tool_call_id -> name */
    const aigw_adapter_req_t   *req;
    aigw_adapter_error_t       *err;
    int                         stream;
} aigw_gemini_req_t;


typedef struct {
    const char                 *message;
    size_t                      message_len;
    const char                 *type;
    const char                 *code;
    int                         status;
} aigw_gemini_err_t;


static json_t *aigw_gemini_load(const u_char *p, size_t len, int *rc);
static int aigw_gemini_invalid(aigw_adapter_error_t *err, const char *msg,
    const char *fmt, ...);
static json_t *aigw_gemini_strn(const u_char *p, size_t len);
static json_t *aigw_gemini_join(json_t *strs);
static json_t *aigw_gemini_dump_string(json_t *j);
static json_t *aigw_gemini_schema(json_t *s);
static json_t *aigw_gemini_child(json_t *parent, const char *key);
static json_t *aigw_gemini_wrapped(json_t *parts, const char *key);

static int aigw_gemini_req_messages(aigw_gemini_req_t *r);
static int aigw_gemini_req_content(aigw_gemini_req_t *r, json_t *msg,
    size_t i, aigw_gemini_kind_e kind, json_t *parts);
static int aigw_gemini_req_part(aigw_gemini_req_t *r, json_t *part,
    size_t i, size_t j, aigw_gemini_kind_e kind, json_t *parts);
static int aigw_gemini_req_media(aigw_gemini_req_t *r, json_t *url,
    int http, const char *param, json_t *parts);
static int aigw_gemini_req_tool_calls(aigw_gemini_req_t *r, json_t *msg,
    size_t i, json_t *parts);
static int aigw_gemini_req_tool_result(aigw_gemini_req_t *r, json_t *msg,
    size_t i, json_t *parts);
static int aigw_gemini_req_push(aigw_gemini_req_t *r, const char *role,
    json_t *parts);
static int aigw_gemini_req_config(aigw_gemini_req_t *r);
static int aigw_gemini_req_tools(aigw_gemini_req_t *r);

static int aigw_gemini_check(json_t *root);
static int aigw_gemini_usage_obj(json_t *um, aigw_usage_t *u);
static json_t *aigw_gemini_usage_json(const aigw_usage_t *u);
static const char *aigw_gemini_finish(json_t *reason);
static json_t *aigw_gemini_choice(json_t *cand, size_t pos);
static void aigw_gemini_error_map(json_t *e, int status,
    aigw_gemini_err_t *m);

static json_t *aigw_gemini_chunk_head(aigw_gemini_stream_t *st);
static int aigw_gemini_chunk(aigw_gemini_stream_t *st, json_t *delta,
    const char *finish, aigw_emit_pt emit, void *ctx);


/*
 * jansson reports running out of memory inconsistently: often as an
 * "invalid token" or with no message at all.  A text it refused is called
 * invalid only if it really is not JSON; otherwise memory ran out.
 */

static json_t *
aigw_gemini_load(const u_char *p, size_t len, int *rc)
{
    json_t        *j;
    json_error_t   e;

    memset(&e, 0, sizeof(json_error_t));

    j = json_loadb((const char *) p, len, JSON_DECODE_ANY | JSON_ALLOW_NUL,
                   &e);
    if (j != NULL) {
        *rc = AIGW_ADAPTER_OK;
        return j;
    }

    if (json_error_code(&e) == json_error_out_of_memory
        || e.text[0] == '\0'
        || (json_error_code(&e) == json_error_invalid_syntax

            /* jansson refuses lone surrogates, which JSON allows */
            && strncmp(e.text, "invalid Unicode", 15) != 0
            && aigw_json_validate(p, len, AIGW_GEMINI_MAX_DEPTH)
               != AIGW_JSON_NONE))
    {
        *rc = AIGW_ADAPTER_NOMEM;

    } else {
        *rc = AIGW_ADAPTER_INVALID;
    }

    return NULL;
}


/* a 400: the message names the member, e.g. "messages[1].role must ..." */

static int
aigw_gemini_invalid(aigw_adapter_error_t *err, const char *msg,
    const char *fmt, ...)
{
    char     param[AIGW_GEMINI_PARAM_LEN];
    va_list  args;

    va_start(args, fmt);
    (void) vsnprintf(param, sizeof(param), fmt, args);
    va_end(args);

    aigw_adapter_error(err, param, "%s %s", param, msg);

    return AIGW_ADAPTER_INVALID;
}


static json_t *
aigw_gemini_strn(const u_char *p, size_t len)
{
    if (p == NULL) {
        return json_string_nocheck("");
    }

    return json_stringn_nocheck((const char *) p, len);
}


static int
aigw_gemini_absent(json_t *v)
{
    return v == NULL || json_is_null(v);
}


/* the strings of an array joined into one; NULL when memory ran out */

static json_t *
aigw_gemini_join(json_t *strs)
{
    char          *buf, *p;
    size_t         i, total;
    json_t        *s, *v;
    json_free_t    free_fn;
    json_malloc_t  malloc_fn;

    if (json_array_size(strs) == 1) {
        return json_incref(json_array_get(strs, 0));
    }

    total = 0;

    json_array_foreach(strs, i, v) {
        total += json_string_length(v);
    }

    json_get_alloc_funcs(&malloc_fn, &free_fn);

    buf = malloc_fn(total + 1);
    if (buf == NULL) {
        return NULL;
    }

    p = buf;

    json_array_foreach(strs, i, v) {
        memcpy(p, json_string_value(v), json_string_length(v));
        p += json_string_length(v);
    }

    s = json_stringn_nocheck(buf, total);
    free_fn(buf);

    return s;
}


/* compact JSON text of j as a JSON string (tool call arguments) */

static json_t *
aigw_gemini_dump_string(json_t *j)
{
    char         *text;
    json_t       *s;
    json_free_t   free_fn;
    json_malloc_t malloc_fn;

    text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY
                         | JSON_REAL_PRECISION(15));
    if (text == NULL) {
        return NULL;
    }

    s = json_string_nocheck(text);

    json_get_alloc_funcs(&malloc_fn, &free_fn);
    free_fn(text);

    return s;
}


/*
 * JSON Schema -> Gemini Schema (see the top of the file).  Returns a new
 * object, or NULL when memory ran out.
 */

static const char  *aigw_gemini_schema_keep[] = {
    "title", "description", "nullable", "enum", "maxItems", "minItems",
    "required", "minProperties", "maxProperties", "minLength", "maxLength",
    "pattern", "example", "propertyOrdering", "default", "minimum",
    "maximum", NULL
};

static const char  *aigw_gemini_schema_formats[] = {
    "enum", "date-time", "float", "double", "int32", "int64", NULL
};


static int
aigw_gemini_in(const char *s, const char **list)
{
    while (*list) {
        if (strcmp(s, *list++) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
aigw_gemini_schema_type(json_t *out, json_t *type)
{
    size_t       i;
    json_t      *v, *first;
    const char  *s;

    if (json_is_string(type)) {
        return json_object_set(out, "type", type);
    }

    if (!json_is_array(type)) {
        return 0;
    }

    first = NULL;

    json_array_foreach(type, i, v) {
        s = json_string_value(v);

        if (s == NULL) {
            continue;
        }

        if (strcmp(s, "null") == 0) {
            if (json_object_set_new(out, "nullable", json_true()) != 0) {
                return -1;
            }

        } else if (first == NULL) {
            first = v;
        }
    }

    if (first == NULL) {
        return 0;
    }

    return json_object_set(out, "type", first);
}


static json_t *
aigw_gemini_schema(json_t *s)
{
    size_t       i, plen;
    json_t      *out, *v, *sub, *o, *e;
    const char  *key, *pkey;

    out = json_object();

    if (out == NULL || !json_is_object(s)) {
        return out;
    }

    json_object_foreach(s, key, v) {

        if (strcmp(key, "type") == 0) {
            if (aigw_gemini_schema_type(out, v) != 0) {
                goto failed;
            }

        } else if (strcmp(key, "properties") == 0) {
            if (!json_is_object(v) || json_object_size(v) == 0) {
                continue;
            }

            o = json_object();
            if (o == NULL) {
                goto failed;
            }

            json_object_keylen_foreach(v, pkey, plen, e) {
                if (json_object_setn_new_nocheck(o, pkey, plen,
                                                 aigw_gemini_schema(e))
                    != 0)
                {
                    json_decref(o);
                    goto failed;
                }
            }

            if (json_object_set_new(out, "properties", o) != 0) {
                goto failed;
            }

        } else if (strcmp(key, "items") == 0) {
            if (!json_is_object(v)) {
                continue;
            }

            if (json_object_set_new(out, "items", aigw_gemini_schema(v))
                != 0)
            {
                goto failed;
            }

        } else if (strcmp(key, "anyOf") == 0 || strcmp(key, "oneOf") == 0) {
            if (!json_is_array(v)) {
                continue;
            }

            o = json_array();
            if (o == NULL) {
                goto failed;
            }

            json_array_foreach(v, i, e) {
                if (json_array_append_new(o, aigw_gemini_schema(e)) != 0) {
                    json_decref(o);
                    goto failed;
                }
            }

            if (json_object_set_new(out, "anyOf", o) != 0) {
                goto failed;
            }

        } else if (strcmp(key, "const") == 0) {
            if (!json_is_string(v)) {
                continue;
            }

            sub = json_array();

            if (sub == NULL || json_object_set_new(out, "enum", sub) != 0
                || json_array_append(sub, v) != 0)
            {
                goto failed;
            }

        } else if (strcmp(key, "format") == 0) {
            if (json_is_string(v)
                && aigw_gemini_in(json_string_value(v),
                                  aigw_gemini_schema_formats))
            {
                if (json_object_set(out, "format", v) != 0) {
                    goto failed;
                }
            }

        } else if (aigw_gemini_in(key, aigw_gemini_schema_keep)) {
            if (json_object_set(out, key, v) != 0) {
                goto failed;
            }
        }
    }

    return out;

failed:

    json_decref(out);
    return NULL;
}


/* chat completions -> GenerateContentRequest */

int
aigw_gemini_request(const u_char *body, size_t len,
    const aigw_adapter_req_t *req, aigw_buf_t *out, int *stream,
    aigw_adapter_error_t *err)
{
    int                rc;
    json_t            *v, *sys;
    aigw_gemini_req_t  r;

    *stream = 0;
    err->message[0] = '\0';
    err->param[0] = '\0';

    memset(&r, 0, sizeof(aigw_gemini_req_t));
    r.req = req;
    r.err = err;

    r.root = aigw_gemini_load(body, len, &rc);
    if (r.root == NULL) {
        if (rc == AIGW_ADAPTER_INVALID) {
            aigw_adapter_error(err, NULL, "The request body is not valid "
                               "JSON.");
        }

        return rc;
    }

    if (!json_is_object(r.root)) {
        aigw_adapter_error(err, NULL, "The request body must be a JSON "
                           "object.");
        rc = AIGW_ADAPTER_INVALID;
        goto done;
    }

    v = json_object_get(r.root, "stream");

    if (!aigw_gemini_absent(v) && !json_is_boolean(v)) {
        rc = aigw_gemini_invalid(err, "must be a boolean", "stream");
        goto done;
    }

    r.stream = json_is_true(v);

    v = json_object_get(r.root, "stream_options");

    if (!aigw_gemini_absent(v) && !json_is_object(v)) {
        rc = aigw_gemini_invalid(err, "must be an object", "stream_options");
        goto done;
    }

    r.out = json_object();
    r.contents = json_array();
    r.system = json_array();
    r.calls = json_object();

    if (r.out == NULL || r.contents == NULL || r.system == NULL
        || r.calls == NULL)
    {
        rc = AIGW_ADAPTER_NOMEM;
        goto done;
    }

    rc = aigw_gemini_req_messages(&r);
    if (rc != AIGW_ADAPTER_OK) {
        goto done;
    }

    if (json_object_set(r.out, "contents", r.contents) != 0) {
        rc = AIGW_ADAPTER_NOMEM;
        goto done;
    }

    if (json_array_size(r.system)) {
        sys = json_object();

        if (sys == NULL
            || json_object_set_new(r.out, "systemInstruction", sys) != 0
            || json_object_set(sys, "parts", r.system) != 0)
        {
            rc = AIGW_ADAPTER_NOMEM;
            goto done;
        }
    }

    rc = aigw_gemini_req_config(&r);
    if (rc != AIGW_ADAPTER_OK) {
        goto done;
    }

    rc = aigw_gemini_req_tools(&r);
    if (rc != AIGW_ADAPTER_OK) {
        goto done;
    }

    rc = aigw_buf_dump(out, r.out);

    if (rc == AIGW_ADAPTER_OK) {
        *stream = r.stream;
    }

done:

    json_decref(r.root);
    json_decref(r.out);
    json_decref(r.contents);
    json_decref(r.system);
    json_decref(r.calls);

    return rc;
}


static int
aigw_gemini_req_messages(aigw_gemini_req_t *r)
{
    int          rc;
    size_t       i;
    json_t      *msgs, *msg, *role, *parts;
    const char  *s;

    msgs = json_object_get(r->root, "messages");

    if (!json_is_array(msgs) || json_array_size(msgs) == 0) {
        return aigw_gemini_invalid(r->err, "must be a non-empty array",
                                   "messages");
    }

    json_array_foreach(msgs, i, msg) {

        if (!json_is_object(msg)) {
            return aigw_gemini_invalid(r->err, "must be an object",
                                       "messages[%zu]", i);
        }

        role = json_object_get(msg, "role");
        s = json_string_value(role);

        if (s == NULL) {
            return aigw_gemini_invalid(r->err, "must be a string",
                                       "messages[%zu].role", i);
        }

        if (strcmp(s, "system") == 0 || strcmp(s, "developer") == 0) {
            rc = aigw_gemini_req_content(r, msg, i, AIGW_GEMINI_SYSTEM,
                                         r->system);
            if (rc != AIGW_ADAPTER_OK) {
                return rc;
            }

            continue;
        }

        parts = json_array();
        if (parts == NULL) {
            return AIGW_ADAPTER_NOMEM;
        }

        if (strcmp(s, "user") == 0) {
            rc = aigw_gemini_req_content(r, msg, i, AIGW_GEMINI_USER, parts);
            s = "user";

        } else if (strcmp(s, "assistant") == 0) {
            rc = aigw_gemini_req_content(r, msg, i, AIGW_GEMINI_ASSISTANT,
                                         parts);
            if (rc == AIGW_ADAPTER_OK) {
                rc = aigw_gemini_req_tool_calls(r, msg, i, parts);
            }

            s = "model";

        } else if (strcmp(s, "tool") == 0) {
            rc = aigw_gemini_req_tool_result(r, msg, i, parts);
            s = "user";

        } else {
            rc = aigw_gemini_invalid(r->err, "must be one of system, "
                                     "developer, user, assistant or tool",
                                     "messages[%zu].role", i);
        }

        if (rc != AIGW_ADAPTER_OK) {
            json_decref(parts);
            return rc;
        }

        rc = aigw_gemini_req_push(r, s, parts);
        if (rc != AIGW_ADAPTER_OK) {
            return rc;
        }
    }

    if (json_array_size(r->contents) == 0) {
        return aigw_gemini_invalid(r->err, "must hold at least one user, "
                                   "assistant or tool message with content",
                                   "messages");
    }

    return AIGW_ADAPTER_OK;
}


/* appends {"text": s} unless s is empty */

static int
aigw_gemini_text_part(json_t *parts, json_t *s)
{
    json_t  *part;

    if (json_string_length(s) == 0) {
        return AIGW_ADAPTER_OK;
    }

    part = json_object();

    if (part == NULL || json_array_append_new(parts, part) != 0
        || json_object_set(part, "text", s) != 0)
    {
        return AIGW_ADAPTER_NOMEM;
    }

    return AIGW_ADAPTER_OK;
}


static int
aigw_gemini_req_content(aigw_gemini_req_t *r, json_t *msg, size_t i,
    aigw_gemini_kind_e kind, json_t *parts)
{
    int      rc;
    size_t   j;
    json_t  *content, *part;

    content = json_object_get(msg, "content");

    if (json_is_string(content)) {
        return aigw_gemini_text_part(parts, content);
    }

    if (aigw_gemini_absent(content) && kind == AIGW_GEMINI_ASSISTANT) {
        /* an assistant turn may be its tool calls alone */
        return AIGW_ADAPTER_OK;
    }

    if (!json_is_array(content)) {
        return aigw_gemini_invalid(r->err, "must be a string or an array "
                                   "of content parts",
                                   "messages[%zu].content", i);
    }

    json_array_foreach(content, j, part) {
        rc = aigw_gemini_req_part(r, part, i, j, kind, parts);
        if (rc != AIGW_ADAPTER_OK) {
            return rc;
        }
    }

    return AIGW_ADAPTER_OK;
}


static const struct {
    const char  *format;
    const char  *mime;
} aigw_gemini_audio[] = {
    { "wav", "audio/wav" },
    { "mp3", "audio/mp3" },
    { "aiff", "audio/aiff" },
    { "aac", "audio/aac" },
    { "ogg", "audio/ogg" },
    { "flac", "audio/flac" },
    { NULL, NULL }
};


static int
aigw_gemini_req_part(aigw_gemini_req_t *r, json_t *part, size_t i,
    size_t j, aigw_gemini_kind_e kind, json_t *parts)
{
    int          n;
    char         param[AIGW_GEMINI_PARAM_LEN];
    json_t      *v, *url, *data, *fmt, *inl;
    const char  *type, *mime;

    if (!json_is_object(part)) {
        return aigw_gemini_invalid(r->err, "must be an object",
                                   "messages[%zu].content[%zu]", i, j);
    }

    type = json_string_value(json_object_get(part, "type"));

    if (type == NULL) {
        return aigw_gemini_invalid(r->err, "must be a string",
                                   "messages[%zu].content[%zu].type", i, j);
    }

    if (strcmp(type, "text") == 0
        || (strcmp(type, "refusal") == 0 && kind == AIGW_GEMINI_ASSISTANT))
    {
        v = json_object_get(part, type);

        if (!json_is_string(v)) {
            return aigw_gemini_invalid(r->err, "must be a string",
                                       "messages[%zu].content[%zu].%s",
                                       i, j, type);
        }

        return aigw_gemini_text_part(parts, v);
    }

    if (kind != AIGW_GEMINI_USER
        || (strcmp(type, "image_url") != 0
            && strcmp(type, "input_audio") != 0
            && strcmp(type, "file") != 0))
    {
        return aigw_gemini_invalid(r->err,
                                   kind == AIGW_GEMINI_USER
                                   ? "is not a supported content part type"
                                   : "is not supported in this role: only "
                                     "text is",
                                   "messages[%zu].content[%zu].type", i, j);
    }

    if (strcmp(type, "image_url") == 0) {
        v = json_object_get(part, "image_url");
        url = json_is_object(v) ? json_object_get(v, "url") : v;

        (void) snprintf(param, sizeof(param),
                        "messages[%zu].content[%zu].image_url.url", i, j);

        return aigw_gemini_req_media(r, url, 1, param, parts);
    }

    if (strcmp(type, "file") == 0) {
        v = json_object_get(part, "file");

        if (json_is_object(v)
            && aigw_gemini_absent(json_object_get(v, "file_data"))
            && !aigw_gemini_absent(json_object_get(v, "file_id")))
        {
            return aigw_gemini_invalid(r->err, "is not supported by this "
                                       "channel: send file_data",
                                       "messages[%zu].content[%zu].file."
                                       "file_id", i, j);
        }

        (void) snprintf(param, sizeof(param),
                        "messages[%zu].content[%zu].file.file_data", i, j);

        return aigw_gemini_req_media(r, json_is_object(v)
                                        ? json_object_get(v, "file_data")
                                        : NULL,
                                     0, param, parts);
    }

    /* input_audio: {data (base64), format} */

    v = json_object_get(part, "input_audio");
    data = json_is_object(v) ? json_object_get(v, "data") : NULL;
    fmt = json_is_object(v) ? json_object_get(v, "format") : NULL;

    if (!json_is_string(data) || json_string_length(data) == 0) {
        return aigw_gemini_invalid(r->err, "must be a base64 string",
                                   "messages[%zu].content[%zu].input_audio."
                                   "data", i, j);
    }

    mime = NULL;

    for (n = 0; json_is_string(fmt) && aigw_gemini_audio[n].format; n++) {
        if (strcmp(json_string_value(fmt), aigw_gemini_audio[n].format) == 0)
        {
            mime = aigw_gemini_audio[n].mime;
            break;
        }
    }

    if (mime == NULL) {
        return aigw_gemini_invalid(r->err, "must be one of wav, mp3, aiff, "
                                   "aac, ogg or flac",
                                   "messages[%zu].content[%zu].input_audio."
                                   "format", i, j);
    }

    inl = aigw_gemini_wrapped(parts, "inlineData");

    if (inl == NULL
        || json_object_set_new(inl, "mimeType", json_string(mime)) != 0
        || json_object_set(inl, "data", data) != 0)
    {
        return AIGW_ADAPTER_NOMEM;
    }

    return AIGW_ADAPTER_OK;
}


static const struct {
    const char  *ext;
    const char  *mime;
} aigw_gemini_images[] = {
    { "png", "image/png" },
    { "jpg", "image/jpeg" },
    { "jpeg", "image/jpeg" },
    { "gif", "image/gif" },
    { "webp", "image/webp" },
    { "heic", "image/heic" },
    { "heif", "image/heif" },
    { NULL, NULL }
};


static const char *
aigw_gemini_image_mime(const char *url, size_t len)
{
    size_t  i, end, ext;

    for (end = 0; end < len; end++) {
        if (url[end] == '?' || url[end] == '#') {
            break;
        }
    }

    ext = 0;

    for (i = end; i > 0 && url[i - 1] != '/'; i--) {
        if (url[i - 1] == '.') {
            ext = i;
            break;
        }
    }

    for (i = 0; ext && aigw_gemini_images[i].ext; i++) {
        if (end - ext == strlen(aigw_gemini_images[i].ext)
            && strncasecmp(url + ext, aigw_gemini_images[i].ext, end - ext)
               == 0)
        {
            return aigw_gemini_images[i].mime;
        }
    }

    return "image/jpeg";
}


/* a new object set as parent's key, or NULL when memory ran out */

static json_t *
aigw_gemini_child(json_t *parent, const char *key)
{
    json_t  *c;

    c = json_object();

    if (c == NULL || json_object_set_new(parent, key, c) != 0) {
        return NULL;
    }

    return c;
}


/*
 * Appends {key: {}} to parts and returns the inner object (owned by
 * parts), or NULL when memory ran out.
 */

static json_t *
aigw_gemini_wrapped(json_t *parts, const char *key)
{
    json_t  *o, *d;

    o = json_object();
    d = json_object();

    if (o == NULL || d == NULL) {
        json_decref(o);
        json_decref(d);
        return NULL;
    }

    if (json_object_set_new(o, key, d) != 0) {
        json_decref(o);
        return NULL;
    }

    if (json_array_append_new(parts, o) != 0) {
        return NULL;
    }

    return d;
}


/* a data URL -> inlineData; with http, an http(s) URL -> fileData */

static int
aigw_gemini_req_media(aigw_gemini_req_t *r, json_t *url, int http,
    const char *param, json_t *parts)
{
    size_t       len, n;
    json_t      *d;
    const char  *s, *comma, *semi;

    s = json_string_value(url);
    len = json_string_length(url);

    if (s == NULL) {
        return aigw_gemini_invalid(r->err, "must be a string", "%s", param);
    }

    if (len > 5 && strncasecmp(s, "data:", 5) == 0) {
        comma = memchr(s, ',', len);
        semi = memchr(s, ';', len);

        /* "data:" mime ";base64," data */

        if (comma == NULL || semi == NULL || semi > comma
            || semi == s + 5 || comma - s < 12
            || strncasecmp(comma - 7, ";base64", 7) != 0
            || comma + 1 == s + len)
        {
            goto invalid;
        }

        n = (size_t) (comma + 1 - s);

        d = aigw_gemini_wrapped(parts, "inlineData");

        if (d == NULL
            || json_object_set_new(d, "mimeType",
                                   json_stringn_nocheck(s + 5, semi - s - 5))
               != 0
            || json_object_set_new(d, "data",
                                   json_stringn_nocheck(s + n, len - n))
               != 0)
        {
            return AIGW_ADAPTER_NOMEM;
        }

        return AIGW_ADAPTER_OK;
    }

    if (http
        && ((len > 7 && strncasecmp(s, "http://", 7) == 0)
            || (len > 8 && strncasecmp(s, "https://", 8) == 0)))
    {
        d = aigw_gemini_wrapped(parts, "fileData");

        if (d == NULL
            || json_object_set_new(d, "mimeType",
                                   json_string(aigw_gemini_image_mime(s, len)))
               != 0
            || json_object_set(d, "fileUri", url) != 0)
        {
            return AIGW_ADAPTER_NOMEM;
        }

        return AIGW_ADAPTER_OK;
    }

invalid:

    return aigw_gemini_invalid(r->err,
                               http ? "must be an http(s) URL or a base64 "
                                      "data URL"
                                    : "must be a base64 data URL",
                               "%s", param);
}


static int
aigw_gemini_req_tool_calls(aigw_gemini_req_t *r, json_t *msg, size_t i,
    json_t *parts)
{
    int          rc;
    size_t       j, n;
    json_t      *calls, *tc, *fn, *id, *name, *args, *obj, *part, *fc;
    const char  *s, *type;

    calls = json_object_get(msg, "tool_calls");

    if (aigw_gemini_absent(calls)) {
        return AIGW_ADAPTER_OK;
    }

    if (!json_is_array(calls)) {
        return aigw_gemini_invalid(r->err, "must be an array",
                                   "messages[%zu].tool_calls", i);
    }

    json_array_foreach(calls, j, tc) {

        if (!json_is_object(tc)) {
            return aigw_gemini_invalid(r->err, "must be an object",
                                       "messages[%zu].tool_calls[%zu]", i, j);
        }

        type = json_string_value(json_object_get(tc, "type"));

        if (json_object_get(tc, "type") != NULL
            && (type == NULL || strcmp(type, "function") != 0))
        {
            return aigw_gemini_invalid(r->err, "must be \"function\"",
                                       "messages[%zu].tool_calls[%zu].type",
                                       i, j);
        }

        id = json_object_get(tc, "id");

        if (!json_is_string(id) || json_string_length(id) == 0) {
            return aigw_gemini_invalid(r->err, "must be a non-empty string",
                                       "messages[%zu].tool_calls[%zu].id",
                                       i, j);
        }

        fn = json_object_get(tc, "function");

        if (!json_is_object(fn)) {
            return aigw_gemini_invalid(r->err, "must be an object",
                                       "messages[%zu].tool_calls[%zu]."
                                       "function", i, j);
        }

        name = json_object_get(fn, "name");

        if (!json_is_string(name) || json_string_length(name) == 0) {
            return aigw_gemini_invalid(r->err, "must be a non-empty string",
                                       "messages[%zu].tool_calls[%zu]."
                                       "function.name", i, j);
        }

        args = json_object_get(fn, "arguments");

        if (!aigw_gemini_absent(args) && !json_is_string(args)) {
            goto bad_args;
        }

        s = json_string_value(args);
        n = json_string_length(args);

        while (n && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
            s++;
            n--;
        }

        if (n == 0) {
            obj = json_object();
            if (obj == NULL) {
                return AIGW_ADAPTER_NOMEM;
            }

        } else {
            obj = aigw_gemini_load((const u_char *) s, n, &rc);

            if (obj == NULL && rc == AIGW_ADAPTER_NOMEM) {
                return rc;
            }

            if (!json_is_object(obj)) {
                json_decref(obj);
                goto bad_args;
            }
        }

        fc = aigw_gemini_wrapped(parts, "functionCall");

        if (fc == NULL) {
            json_decref(obj);
            return AIGW_ADAPTER_NOMEM;
        }

        part = json_array_get(parts, json_array_size(parts) - 1);

        if (json_object_set(fc, "name", name) != 0) {
            json_decref(obj);
            return AIGW_ADAPTER_NOMEM;
        }

        if (json_object_set_new(fc, "args", obj) != 0
            || (j == 0
                && json_object_set_new(part, "thoughtSignature",
                                       json_string(AIGW_GEMINI_SIGNATURE))
                   != 0)
            || json_object_setn(r->calls, json_string_value(id),
                                json_string_length(id), name)
               != 0)
        {
            return AIGW_ADAPTER_NOMEM;
        }
    }

    return AIGW_ADAPTER_OK;

bad_args:

    return aigw_gemini_invalid(r->err, "must be a JSON object encoded as a "
                               "string",
                               "messages[%zu].tool_calls[%zu].function."
                               "arguments", i, j);
}


static int
aigw_gemini_req_tool_result(aigw_gemini_req_t *r, json_t *msg, size_t i,
    json_t *parts)
{
    int          rc;
    size_t       j, n;
    json_t      *id, *name, *content, *texts, *text, *v, *resp, *fr;
    const char  *s, *type;

    id = json_object_get(msg, "tool_call_id");

    if (!json_is_string(id)) {
        return aigw_gemini_invalid(r->err, "must be a string",
                                   "messages[%zu].tool_call_id", i);
    }

    name = json_object_getn(r->calls, json_string_value(id),
                            json_string_length(id));

    if (name == NULL) {
        return aigw_gemini_invalid(r->err, "does not match the id of a tool "
                                   "call of an earlier assistant message",
                                   "messages[%zu].tool_call_id", i);
    }

    content = json_object_get(msg, "content");

    if (aigw_gemini_absent(content)) {
        text = json_string("");

    } else if (json_is_string(content)) {
        text = json_incref(content);

    } else if (json_is_array(content)) {
        texts = json_array();
        if (texts == NULL) {
            return AIGW_ADAPTER_NOMEM;
        }

        json_array_foreach(content, j, v) {
            type = json_string_value(json_object_get(v, "type"));

            if (type == NULL || strcmp(type, "text") != 0
                || !json_is_string(json_object_get(v, "text")))
            {
                json_decref(texts);
                return aigw_gemini_invalid(r->err, "must be a text part",
                                           "messages[%zu].content[%zu]",
                                           i, j);
            }

            if (json_array_append(texts, json_object_get(v, "text")) != 0) {
                json_decref(texts);
                return AIGW_ADAPTER_NOMEM;
            }
        }

        text = json_array_size(texts) ? aigw_gemini_join(texts)
                                      : json_string("");
        json_decref(texts);

    } else {
        return aigw_gemini_invalid(r->err, "must be a string or an array "
                                   "of text parts",
                                   "messages[%zu].content", i);
    }

    if (text == NULL) {
        return AIGW_ADAPTER_NOMEM;
    }

    /* a JSON object is the response itself; any other text is wrapped */

    s = json_string_value(text);
    n = json_string_length(text);

    while (n && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
        s++;
        n--;
    }

    resp = NULL;

    if (n && *s == '{') {
        resp = aigw_gemini_load((const u_char *) s, n, &rc);

        if (resp == NULL && rc == AIGW_ADAPTER_NOMEM) {
            json_decref(text);
            return rc;
        }

        if (!json_is_object(resp)) {
            json_decref(resp);
            resp = NULL;
        }
    }

    if (resp == NULL) {
        resp = json_object();

        if (resp == NULL || json_object_set(resp, "content", text) != 0) {
            json_decref(resp);
            json_decref(text);
            return AIGW_ADAPTER_NOMEM;
        }
    }

    json_decref(text);

    fr = aigw_gemini_wrapped(parts, "functionResponse");

    if (fr == NULL) {
        json_decref(resp);
        return AIGW_ADAPTER_NOMEM;
    }

    if (json_object_set(fr, "name", name) != 0) {
        json_decref(resp);
        return AIGW_ADAPTER_NOMEM;
    }

    if (json_object_set_new(fr, "response", resp) != 0) {
        return AIGW_ADAPTER_NOMEM;
    }

    return AIGW_ADAPTER_OK;
}


/* appends a turn, or merges it into the previous one of the same role */

static int
aigw_gemini_req_push(aigw_gemini_req_t *r, const char *role, json_t *parts)
{
    size_t       n;
    json_t      *last, *c;
    const char  *prev;

    if (json_array_size(parts) == 0) {
        json_decref(parts);
        return AIGW_ADAPTER_OK;
    }

    n = json_array_size(r->contents);
    last = n ? json_array_get(r->contents, n - 1) : NULL;
    prev = json_string_value(json_object_get(last, "role"));

    if (prev && strcmp(prev, role) == 0) {
        if (json_array_extend(json_object_get(last, "parts"), parts) != 0) {
            json_decref(parts);
            return AIGW_ADAPTER_NOMEM;
        }

        json_decref(parts);
        return AIGW_ADAPTER_OK;
    }

    c = json_object();

    if (c == NULL || json_array_append_new(r->contents, c) != 0) {
        json_decref(parts);
        return AIGW_ADAPTER_NOMEM;
    }

    if (json_object_set_new(c, "role", json_string(role)) != 0) {
        json_decref(parts);
        return AIGW_ADAPTER_NOMEM;
    }

    if (json_object_set_new(c, "parts", parts) != 0) {
        return AIGW_ADAPTER_NOMEM;
    }

    return AIGW_ADAPTER_OK;
}


/* an optional number member copied under Gemini's name */

static int
aigw_gemini_req_number(aigw_gemini_req_t *r, json_t *gc, const char *name,
    const char *to, int integer, int positive)
{
    json_t  *v;

    v = json_object_get(r->root, name);

    if (aigw_gemini_absent(v)) {
        return AIGW_ADAPTER_OK;
    }

    if (integer ? !json_is_integer(v) : !json_is_number(v)) {
        return aigw_gemini_invalid(r->err, integer ? "must be an integer"
                                                   : "must be a number",
                                   "%s", name);
    }

    if (positive && json_integer_value(v) < 1) {
        return aigw_gemini_invalid(r->err, "must be a positive integer",
                                   "%s", name);
    }

    if (json_object_set(gc, to, v) != 0) {
        return AIGW_ADAPTER_NOMEM;
    }

    return AIGW_ADAPTER_OK;
}


static const struct {
    const char  *effort;
    int          budget;
} aigw_gemini_efforts[] = {
    { "none", 0 },
    { "minimal", 1024 },
    { "low", 1024 },
    { "medium", 8192 },
    { "high", 24576 },
    { NULL, 0 }
};


static int
aigw_gemini_req_config(aigw_gemini_req_t *r)
{
    int          rc, n;
    size_t       k;
    json_t      *gc, *v, *a, *e, *t, *js, *schema;
    const char  *s;

    gc = json_object();
    if (gc == NULL) {
        return AIGW_ADAPTER_NOMEM;
    }

    if ((rc = aigw_gemini_req_number(r, gc, "temperature", "temperature",
                                     0, 0))
        || (rc = aigw_gemini_req_number(r, gc, "top_p", "topP", 0, 0))
        || (rc = aigw_gemini_req_number(r, gc, "top_k", "topK", 1, 0))
        || (rc = aigw_gemini_req_number(r, gc, "max_completion_tokens",
                                        "maxOutputTokens", 1, 1))
        || (rc = aigw_gemini_req_number(r, gc, "n", "candidateCount", 1, 1))
        || (rc = aigw_gemini_req_number(r, gc, "seed", "seed", 1, 0))
        || (rc = aigw_gemini_req_number(r, gc, "presence_penalty",
                                        "presencePenalty", 0, 0))
        || (rc = aigw_gemini_req_number(r, gc, "frequency_penalty",
                                        "frequencyPenalty", 0, 0)))
    {
        goto done;
    }

    /* max_completion_tokens, the newer name, wins over max_tokens */

    if (json_object_get(gc, "maxOutputTokens") == NULL) {
        rc = aigw_gemini_req_number(r, gc, "max_tokens", "maxOutputTokens",
                                    1, 1);
        if (rc != AIGW_ADAPTER_OK) {
            goto done;
        }
    }

    if (json_object_get(gc, "maxOutputTokens") == NULL
        && r->req->default_max_tokens > 0
        && json_object_set_new(gc, "maxOutputTokens",
                               json_integer(r->req->default_max_tokens))
           != 0)
    {
        rc = AIGW_ADAPTER_NOMEM;
        goto done;
    }

    if (r->stream
        && json_integer_value(json_object_get(gc, "candidateCount")) > 1)
    {
        rc = aigw_gemini_invalid(r->err, "must be 1 when streaming from "
                                 "this channel", "n");
        goto done;
    }

    v = json_object_get(r->root, "stop");

    if (json_is_string(v)) {
        if (json_string_length(v)) {
            a = json_array();

            if (a == NULL || json_object_set_new(gc, "stopSequences", a) != 0
                || json_array_append(a, v) != 0)
            {
                rc = AIGW_ADAPTER_NOMEM;
                goto done;
            }
        }

    } else if (json_is_array(v)) {
        json_array_foreach(v, k, e) {
            if (!json_is_string(e)) {
                rc = aigw_gemini_invalid(r->err, "must be a string",
                                         "stop[%zu]", k);
                goto done;
            }
        }

        if (json_array_size(v)
            && json_object_set(gc, "stopSequences", v) != 0)
        {
            rc = AIGW_ADAPTER_NOMEM;
            goto done;
        }

    } else if (!aigw_gemini_absent(v)) {
        rc = aigw_gemini_invalid(r->err, "must be a string or an array of "
                                 "strings", "stop");
        goto done;
    }

    v = json_object_get(r->root, "response_format");

    if (!aigw_gemini_absent(v)) {
        t = json_object_get(v, "type");
        s = json_string_value(t);

        if (!json_is_object(v)) {
            rc = aigw_gemini_invalid(r->err, "must be an object",
                                     "response_format");
            goto done;
        }

        if (s == NULL
            || (strcmp(s, "text") != 0 && strcmp(s, "json_object") != 0
                && strcmp(s, "json_schema") != 0))
        {
            rc = aigw_gemini_invalid(r->err, "must be one of text, "
                                     "json_object or json_schema",
                                     "response_format.type");
            goto done;
        }

        schema = NULL;

        if (strcmp(s, "json_schema") == 0) {
            js = json_object_get(v, "json_schema");

            if (!json_is_object(js)) {
                rc = aigw_gemini_invalid(r->err, "must be an object",
                                         "response_format.json_schema");
                goto done;
            }

            schema = json_object_get(js, "schema");

            if (!aigw_gemini_absent(schema) && !json_is_object(schema)) {
                rc = aigw_gemini_invalid(r->err, "must be an object",
                                         "response_format.json_schema."
                                         "schema");
                goto done;
            }

            if (json_is_object(schema)
                && json_object_set_new(gc, "responseSchema",
                                       aigw_gemini_schema(schema))
                   != 0)
            {
                rc = AIGW_ADAPTER_NOMEM;
                goto done;
            }
        }

        if (strcmp(s, "text") != 0
            && json_object_set_new(gc, "responseMimeType",
                                   json_string("application/json"))
               != 0)
        {
            rc = AIGW_ADAPTER_NOMEM;
            goto done;
        }
    }

    v = json_object_get(r->root, "reasoning_effort");

    if (!aigw_gemini_absent(v)) {
        s = json_string_value(v);

        for (n = 0; s && aigw_gemini_efforts[n].effort; n++) {
            if (strcmp(s, aigw_gemini_efforts[n].effort) == 0) {
                break;
            }
        }

        if (s == NULL || aigw_gemini_efforts[n].effort == NULL) {
            rc = aigw_gemini_invalid(r->err, "must be one of none, minimal, "
                                     "low, medium or high",
                                     "reasoning_effort");
            goto done;
        }

        t = json_object();

        if (t == NULL || json_object_set_new(gc, "thinkingConfig", t) != 0
            || json_object_set_new(t, "thinkingBudget",
                                   json_integer(aigw_gemini_efforts[n].budget))
               != 0
            || (aigw_gemini_efforts[n].budget
                && json_object_set_new(t, "includeThoughts", json_true())
                   != 0))
        {
            rc = AIGW_ADAPTER_NOMEM;
            goto done;
        }
    }

    if (json_object_size(gc)
        && json_object_set(r->out, "generationConfig", gc) != 0)
    {
        rc = AIGW_ADAPTER_NOMEM;
        goto done;
    }

    rc = AIGW_ADAPTER_OK;

done:

    json_decref(gc);
    return rc;
}


static int
aigw_gemini_req_decl(aigw_gemini_req_t *r, json_t *tool, size_t k,
    json_t *decls)
{
    json_t      *fn, *name, *desc, *params, *decl, *schema;
    const char  *type;

    if (!json_is_object(tool)) {
        return aigw_gemini_invalid(r->err, "must be an object",
                                   "tools[%zu]", k);
    }

    type = json_string_value(json_object_get(tool, "type"));

    if (type == NULL || strcmp(type, "function") != 0) {
        return aigw_gemini_invalid(r->err, "must be \"function\": no other "
                                   "tools are supported by this channel",
                                   "tools[%zu].type", k);
    }

    fn = json_object_get(tool, "function");

    if (!json_is_object(fn)) {
        return aigw_gemini_invalid(r->err, "must be an object",
                                   "tools[%zu].function", k);
    }

    name = json_object_get(fn, "name");

    if (!json_is_string(name) || json_string_length(name) == 0) {
        return aigw_gemini_invalid(r->err, "must be a non-empty string",
                                   "tools[%zu].function.name", k);
    }

    desc = json_object_get(fn, "description");

    if (!aigw_gemini_absent(desc) && !json_is_string(desc)) {
        return aigw_gemini_invalid(r->err, "must be a string",
                                   "tools[%zu].function.description", k);
    }

    params = json_object_get(fn, "parameters");

    if (!aigw_gemini_absent(params) && !json_is_object(params)) {
        return aigw_gemini_invalid(r->err, "must be an object",
                                   "tools[%zu].function.parameters", k);
    }

    decl = json_object();

    if (decl == NULL || json_array_append_new(decls, decl) != 0
        || json_object_set(decl, "name", name) != 0
        || (json_is_string(desc)
            && json_object_set(decl, "description", desc) != 0))
    {
        return AIGW_ADAPTER_NOMEM;
    }

    if (json_is_object(params)) {
        schema = aigw_gemini_schema(params);
        if (schema == NULL) {
            return AIGW_ADAPTER_NOMEM;
        }

        /* Gemini refuses an object schema with no properties */

        if (json_object_get(schema, "properties") == NULL) {
            json_decref(schema);

        } else if (json_object_set_new(decl, "parameters", schema) != 0) {
            return AIGW_ADAPTER_NOMEM;
        }
    }

    return AIGW_ADAPTER_OK;
}


static int
aigw_gemini_req_tools(aigw_gemini_req_t *r)
{
    int          rc;
    size_t       k;
    json_t      *tools, *tool, *decls, *choice, *fn, *name, *v, *cfg, *a;
    const char  *mode, *s;

    tools = json_object_get(r->root, "tools");

    if (!aigw_gemini_absent(tools) && !json_is_array(tools)) {
        return aigw_gemini_invalid(r->err, "must be an array", "tools");
    }

    /* tool_choice: auto, none, required or {type, function: {name}} */

    choice = json_object_get(r->root, "tool_choice");
    name = NULL;
    mode = NULL;

    if (json_is_string(choice)) {
        s = json_string_value(choice);

        mode = strcmp(s, "auto") == 0 ? "AUTO"
               : strcmp(s, "none") == 0 ? "NONE"
               : strcmp(s, "required") == 0 ? "ANY" : NULL;

        if (mode == NULL) {
            return aigw_gemini_invalid(r->err, "must be auto, none, required "
                                       "or a function", "tool_choice");
        }

    } else if (json_is_object(choice)) {
        fn = json_object_get(choice, "function");
        name = json_is_object(fn) ? json_object_get(fn, "name") : NULL;

        if (!json_is_string(name) || json_string_length(name) == 0) {
            return aigw_gemini_invalid(r->err, "must be a non-empty string",
                                       "tool_choice.function.name");
        }

        mode = "ANY";

    } else if (!aigw_gemini_absent(choice)) {
        return aigw_gemini_invalid(r->err, "must be a string or an object",
                                   "tool_choice");
    }

    if (json_array_size(tools) == 0) {
        return AIGW_ADAPTER_OK;
    }

    decls = json_array();
    if (decls == NULL) {
        return AIGW_ADAPTER_NOMEM;
    }

    json_array_foreach(tools, k, tool) {
        rc = aigw_gemini_req_decl(r, tool, k, decls);
        if (rc != AIGW_ADAPTER_OK) {
            json_decref(decls);
            return rc;
        }
    }

    a = json_array();

    if (a == NULL || json_object_set_new(r->out, "tools", a) != 0) {
        json_decref(decls);
        return AIGW_ADAPTER_NOMEM;
    }

    v = json_object();

    if (v == NULL || json_array_append_new(a, v) != 0) {
        json_decref(decls);
        return AIGW_ADAPTER_NOMEM;
    }

    if (json_object_set_new(v, "functionDeclarations", decls) != 0) {
        return AIGW_ADAPTER_NOMEM;
    }

    if (mode == NULL) {
        return AIGW_ADAPTER_OK;
    }

    v = aigw_gemini_child(r->out, "toolConfig");
    cfg = v ? aigw_gemini_child(v, "functionCallingConfig") : NULL;

    if (cfg == NULL
        || json_object_set_new(cfg, "mode", json_string(mode)) != 0)
    {
        return AIGW_ADAPTER_NOMEM;
    }

    if (name) {
        a = json_array();

        if (a == NULL
            || json_object_set_new(cfg, "allowedFunctionNames", a) != 0
            || json_array_append(a, name) != 0)
        {
            return AIGW_ADAPTER_NOMEM;
        }
    }

    return AIGW_ADAPTER_OK;
}


/* the shape of a GenerateContentResponse, checked before any use */

static int
aigw_gemini_check(json_t *root)
{
    size_t   i, j;
    json_t  *cands, *cand, *v, *content, *parts, *part, *fc;

    cands = json_object_get(root, "candidates");

    if (!aigw_gemini_absent(cands) && !json_is_array(cands)) {
        return AIGW_ADAPTER_INVALID;
    }

    json_array_foreach(cands, i, cand) {

        if (!json_is_object(cand)) {
            return AIGW_ADAPTER_INVALID;
        }

        v = json_object_get(cand, "index");

        if (v && !json_is_integer(v)) {
            return AIGW_ADAPTER_INVALID;
        }

        v = json_object_get(cand, "finishReason");

        if (!aigw_gemini_absent(v) && !json_is_string(v)) {
            return AIGW_ADAPTER_INVALID;
        }

        content = json_object_get(cand, "content");

        if (aigw_gemini_absent(content)) {
            continue;
        }

        if (!json_is_object(content)) {
            return AIGW_ADAPTER_INVALID;
        }

        parts = json_object_get(content, "parts");

        if (!aigw_gemini_absent(parts) && !json_is_array(parts)) {
            return AIGW_ADAPTER_INVALID;
        }

        json_array_foreach(parts, j, part) {

            if (!json_is_object(part)) {
                return AIGW_ADAPTER_INVALID;
            }

            v = json_object_get(part, "text");

            if (v && !json_is_string(v)) {
                return AIGW_ADAPTER_INVALID;
            }

            fc = json_object_get(part, "functionCall");

            if (fc == NULL) {
                continue;
            }

            v = json_object_get(fc, "args");

            if (!json_is_object(fc)
                || !json_is_string(json_object_get(fc, "name"))
                || (!aigw_gemini_absent(v) && !json_is_object(v)))
            {
                return AIGW_ADAPTER_INVALID;
            }
        }
    }

    v = json_object_get(root, "promptFeedback");

    if (!aigw_gemini_absent(v)
        && (!json_is_object(v)
            || (!aigw_gemini_absent(json_object_get(v, "blockReason"))
                && !json_is_string(json_object_get(v, "blockReason")))))
    {
        return AIGW_ADAPTER_INVALID;
    }

    return AIGW_ADAPTER_OK;
}


static int
aigw_gemini_count(json_t *um, const char *name, int64_t *out)
{
    json_t  *v;

    v = json_object_get(um, name);

    if (aigw_gemini_absent(v)) {
        *out = 0;
        return 0;
    }

    if (!json_is_integer(v) || json_integer_value(v) < 0
        || json_integer_value(v) > AIGW_GEMINI_TOKENS_MAX)
    {
        return -1;
    }

    *out = json_integer_value(v);

    return 0;
}


static int
aigw_gemini_usage_obj(json_t *um, aigw_usage_t *u)
{
    int64_t  prompt, tool, cands, thoughts, cached, total;

    memset(u, 0, sizeof(aigw_usage_t));

    if (!json_is_object(um)
        || aigw_gemini_count(um, "promptTokenCount", &prompt) != 0
        || aigw_gemini_count(um, "toolUsePromptTokenCount", &tool) != 0
        || aigw_gemini_count(um, "candidatesTokenCount", &cands) != 0
        || aigw_gemini_count(um, "thoughtsTokenCount", &thoughts) != 0
        || aigw_gemini_count(um, "cachedContentTokenCount", &cached) != 0
        || aigw_gemini_count(um, "totalTokenCount", &total) != 0)
    {
        return AIGW_ADAPTER_INVALID;
    }

    u->prompt_tokens = prompt + tool;
    u->completion_tokens = cands + thoughts;
    u->cached_tokens = cached;
    u->reasoning_tokens = thoughts;

    if (aigw_gemini_absent(json_object_get(um, "totalTokenCount"))) {
        total = u->prompt_tokens + u->completion_tokens;
    }

    u->total_tokens = total;
    u->found = 1;

    return AIGW_ADAPTER_OK;
}


int
aigw_gemini_usage(const u_char *p, size_t len, aigw_usage_t *u)
{
    int      rc;
    json_t  *um;

    memset(u, 0, sizeof(aigw_usage_t));

    um = aigw_gemini_load(p, len, &rc);
    if (um == NULL) {
        return rc;
    }

    rc = aigw_gemini_usage_obj(um, u);
    json_decref(um);

    return rc;
}


static json_t *
aigw_gemini_usage_json(const aigw_usage_t *u)
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


static const char  *aigw_gemini_filtered[] = {
    "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
    "IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION",
    "LANGUAGE", NULL
};


/* "stop" for STOP, an absent reason and any reason not listed */

static const char *
aigw_gemini_finish(json_t *reason)
{
    const char  *s;

    s = json_string_value(reason);

    if (s == NULL) {
        return "stop";
    }

    if (strcmp(s, "MAX_TOKENS") == 0) {
        return "length";
    }

    if (aigw_gemini_in(s, aigw_gemini_filtered)) {
        return "content_filter";
    }

    return "stop";
}


/*
 * A functionCall -> an OpenAI tool call "call_<candidate>_<n>"; a stream's
 * tool call delta starts with its index.  NULL when memory ran out.
 */

static json_t *
aigw_gemini_tool_call(json_int_t cand, size_t n, json_t *fc, int indexed)
{
    char     id[48];
    json_t  *args, *tc, *fn;

    (void) snprintf(id, sizeof(id), "call_%lld_%zu", (long long) cand, n);

    tc = json_object();

    if (tc == NULL
        || (indexed
            && json_object_set_new(tc, "index", json_integer((json_int_t) n))
               != 0)
        || json_object_set_new(tc, "id", json_string(id)) != 0
        || json_object_set_new(tc, "type", json_string("function")) != 0
        || (fn = aigw_gemini_child(tc, "function")) == NULL
        || json_object_set(fn, "name", json_object_get(fc, "name")) != 0)
    {
        json_decref(tc);
        return NULL;
    }

    args = json_object_get(fc, "args");
    args = aigw_gemini_absent(args) ? json_string("{}")
                                    : aigw_gemini_dump_string(args);

    if (json_object_set_new(fn, "arguments", args) != 0) {
        json_decref(tc);
        return NULL;
    }

    return tc;
}


/* one checked candidate -> one choice; NULL when memory ran out */

static json_t *
aigw_gemini_choice(json_t *cand, size_t pos)
{
    size_t       j;
    json_t      *choice, *msg, *parts, *part, *text, *texts, *thoughts;
    json_t      *calls, *tc, *v;
    json_int_t   index;
    const char  *finish;

    index = json_is_integer(json_object_get(cand, "index"))
            ? json_integer_value(json_object_get(cand, "index"))
            : (json_int_t) pos;

    parts = json_object_get(json_object_get(cand, "content"), "parts");

    choice = json_object();
    msg = json_object();
    texts = json_array();
    thoughts = json_array();
    calls = json_array();

    if (choice == NULL || msg == NULL || texts == NULL || thoughts == NULL
        || calls == NULL)
    {
        goto failed;
    }

    json_array_foreach(parts, j, part) {
        text = json_object_get(part, "text");

        if (json_string_length(text)) {
            if (json_array_append(json_is_true(json_object_get(part,
                                                               "thought"))
                                  ? thoughts : texts, text)
                != 0)
            {
                goto failed;
            }

            continue;
        }

        v = json_object_get(part, "functionCall");

        if (v) {
            tc = aigw_gemini_tool_call(index, json_array_size(calls), v, 0);

            if (json_array_append_new(calls, tc) != 0) {
                goto failed;
            }
        }
    }

    finish = aigw_gemini_finish(json_object_get(cand, "finishReason"));

    if (json_array_size(calls) && strcmp(finish, "stop") == 0) {
        finish = "tool_calls";
    }

    if (json_object_set_new(msg, "role", json_string("assistant")) != 0
        || json_object_set_new(msg, "content",
                               json_array_size(texts)
                               ? aigw_gemini_join(texts) : json_null())
           != 0
        || (json_array_size(thoughts)
            && json_object_set_new(msg, "reasoning_content",
                                   aigw_gemini_join(thoughts))
               != 0)
        || (json_array_size(calls)
            && json_object_set(msg, "tool_calls", calls) != 0))
    {
        goto failed;
    }

    if (json_object_set_new(choice, "index", json_integer(index)) != 0
        || json_object_set(choice, "message", msg) != 0
        || json_object_set_new(choice, "logprobs", json_null()) != 0
        || json_object_set_new(choice, "finish_reason", json_string(finish))
           != 0)
    {
        goto failed;
    }

    json_decref(msg);
    json_decref(texts);
    json_decref(thoughts);
    json_decref(calls);

    return choice;

failed:

    json_decref(choice);
    json_decref(msg);
    json_decref(texts);
    json_decref(thoughts);
    json_decref(calls);

    return NULL;
}


/* GenerateContentResponse -> chat.completion */

int
aigw_gemini_response(const u_char *body, size_t len,
    const aigw_adapter_resp_t *resp, aigw_buf_t *out, aigw_usage_t *usage)
{
    int          rc;
    size_t       i;
    json_t      *root, *o, *choices, *cands, *cand, *choice, *v, *msg;
    aigw_usage_t u;

    memset(usage, 0, sizeof(aigw_usage_t));
    memset(&u, 0, sizeof(aigw_usage_t));

    root = aigw_gemini_load(body, len, &rc);
    if (root == NULL) {
        return rc;
    }

    o = NULL;
    choices = NULL;

    if (!json_is_object(root) || aigw_gemini_check(root) != AIGW_ADAPTER_OK)
    {
        rc = AIGW_ADAPTER_INVALID;
        goto done;
    }

    v = json_object_get(root, "usageMetadata");

    if (!aigw_gemini_absent(v)) {
        rc = aigw_gemini_usage_obj(v, &u);
        if (rc != AIGW_ADAPTER_OK) {
            goto done;
        }
    }

    cands = json_object_get(root, "candidates");

    if (json_array_size(cands) == 0
        && !json_is_string(json_object_get(json_object_get(root,
                                                           "promptFeedback"),
                                           "blockReason")))
    {
        rc = AIGW_ADAPTER_INVALID;
        goto done;
    }

    rc = AIGW_ADAPTER_NOMEM;

    o = json_object();
    choices = json_array();

    if (o == NULL || choices == NULL) {
        goto done;
    }

    v = json_object_get(root, "responseId");

    if (json_object_set_new(o, "id", json_is_string(v)
                                     ? json_incref(v)
                                     : aigw_gemini_strn(resp->id,
                                                        resp->id_len))
        != 0
        || json_object_set_new(o, "object", json_string("chat.completion"))
           != 0
        || json_object_set_new(o, "created", json_integer(resp->created))
           != 0)
    {
        goto done;
    }

    v = json_object_get(root, "modelVersion");

    if (json_object_set_new(o, "model", json_is_string(v)
                                        ? json_incref(v)
                                        : aigw_gemini_strn(resp->model,
                                                           resp->model_len))
        != 0
        || json_object_set(o, "choices", choices) != 0)
    {
        goto done;
    }

    json_array_foreach(cands, i, cand) {
        choice = aigw_gemini_choice(cand, i);

        if (json_array_append_new(choices, choice) != 0) {
            goto done;
        }
    }

    if (json_array_size(cands) == 0) {
        /* the prompt was blocked: nothing was generated */

        choice = json_object();

        if (choice == NULL || json_array_append_new(choices, choice) != 0
            || json_object_set_new(choice, "index", json_integer(0)) != 0)
        {
            goto done;
        }

        msg = aigw_gemini_child(choice, "message");

        if (msg == NULL
            || json_object_set_new(msg, "role", json_string("assistant"))
               != 0
            || json_object_set_new(msg, "content", json_null()) != 0
            || json_object_set_new(choice, "logprobs", json_null()) != 0
            || json_object_set_new(choice, "finish_reason",
                                   json_string("content_filter"))
               != 0)
        {
            goto done;
        }
    }

    if (u.found
        && json_object_set_new(o, "usage", aigw_gemini_usage_json(&u)) != 0)
    {
        goto done;
    }

    rc = aigw_buf_dump(out, o);

    if (rc == AIGW_ADAPTER_OK) {
        *usage = u;
    }

done:

    json_decref(root);
    json_decref(o);
    json_decref(choices);

    return rc;
}


/* Google's error object -> the parts of an OpenAI error */

static void
aigw_gemini_error_map(json_t *e, int status, aigw_gemini_err_t *m)
{
    size_t       i;
    json_t      *v, *d;
    const char  *s, *reason;

    m->status = status;
    m->message = NULL;
    m->message_len = 0;
    m->type = aigw_openai_error_type(status);
    m->code = NULL;

    v = json_object_get(e, "message");

    if (json_is_string(v) && json_string_length(v)) {
        m->message = json_string_value(v);
        m->message_len = json_string_length(v);
    }

    s = json_string_value(json_object_get(e, "status"));

    if (s == NULL) {
        return;
    }

    if (strcmp(s, "INVALID_ARGUMENT") == 0
        || strcmp(s, "FAILED_PRECONDITION") == 0
        || strcmp(s, "OUT_OF_RANGE") == 0)
    {
        m->type = "invalid_request_error";

        /* Google says 400 INVALID_ARGUMENT for a bad key */

        reason = NULL;

        json_array_foreach(json_object_get(e, "details"), i, d) {
            reason = json_string_value(json_object_get(d, "reason"));

            if (reason && strcmp(reason, "API_KEY_INVALID") == 0) {
                break;
            }

            reason = NULL;
        }

        if (reason
            || (m->message && m->message_len >= 17
                && strncmp(m->message, "API key not valid", 17) == 0))
        {
            m->type = "authentication_error";
            m->code = "invalid_api_key";
            m->status = 401;
        }

    } else if (strcmp(s, "UNAUTHENTICATED") == 0) {
        m->type = "authentication_error";
        m->code = "invalid_api_key";

    } else if (strcmp(s, "PERMISSION_DENIED") == 0) {
        m->type = "permission_error";

    } else if (strcmp(s, "NOT_FOUND") == 0) {
        m->type = "invalid_request_error";
        m->code = "model_not_found";

    } else if (strcmp(s, "RESOURCE_EXHAUSTED") == 0) {
        m->type = "rate_limit_exceeded";
        m->code = "rate_limit_exceeded";

    } else if (strcmp(s, "UNAVAILABLE") == 0 || strcmp(s, "INTERNAL") == 0
               || strcmp(s, "DEADLINE_EXCEEDED") == 0)
    {
        m->type = "api_error";
    }
}


/*
 * The body aigw_openai_error_json() writes, built here with json_pack(),
 * which releases everything when memory runs out: that function releases
 * its inner object twice when json_object_set_new() fails.
 */

static int
aigw_gemini_error_json(aigw_buf_t *b, aigw_gemini_err_t *m, int status)
{
    int      rc, n;
    char     text[64];
    json_t  *j;

    if (m->message == NULL) {
        n = snprintf(text, sizeof(text), "upstream error (HTTP %d)", status);
        m->message = text;
        m->message_len = (size_t) n;
    }

    j = json_pack("{s{ss%sssnss?}}", "error", "message", m->message,
                  m->message_len, "type", m->type, "param", "code", m->code);
    if (j == NULL) {
        return AIGW_ADAPTER_NOMEM;
    }

    rc = aigw_buf_dump(b, j);
    json_decref(j);

    return rc;
}


int
aigw_gemini_error(int status, const u_char *body, size_t len,
    aigw_buf_t *out, int *out_status)
{
    int                rc;
    json_t            *root, *e;
    aigw_gemini_err_t  m;

    *out_status = status;

    root = aigw_gemini_load(body, len, &rc);

    if (root == NULL && rc == AIGW_ADAPTER_NOMEM) {
        return rc;
    }

    /* streams without alt=sse wrap everything, errors too, in an array */

    e = json_is_array(root) ? json_array_get(root, 0) : root;
    e = json_object_get(e, "error");

    aigw_gemini_error_map(json_is_object(e) ? e : NULL, status, &m);

    rc = aigw_gemini_error_json(out, &m, status);

    if (rc == AIGW_ADAPTER_OK) {
        *out_status = m.status;
    }

    json_decref(root);

    return rc;
}


/* the stream */

void
aigw_gemini_stream_init(aigw_gemini_stream_t *st,
    const aigw_adapter_resp_t *resp, aigw_alloc_pt alloc, void *pool)
{
    memset(st, 0, sizeof(aigw_gemini_stream_t));

    st->conf = *resp;
    aigw_buf_init(&st->scratch, alloc, pool, 0);
}


static json_t *
aigw_gemini_chunk_head(aigw_gemini_stream_t *st)
{
    json_t  *c;

    c = json_object();

    if (c == NULL
        || json_object_set_new(c, "id", aigw_gemini_strn(st->conf.id,
                                                         st->conf.id_len))
           != 0
        || json_object_set_new(c, "object",
                               json_string("chat.completion.chunk"))
           != 0
        || json_object_set_new(c, "created", json_integer(st->conf.created))
           != 0
        || json_object_set_new(c, "model",
                               aigw_gemini_strn(st->conf.model,
                                                st->conf.model_len))
           != 0)
    {
        json_decref(c);
        return NULL;
    }

    return c;
}


static int
aigw_gemini_emit(aigw_gemini_stream_t *st, json_t *chunk, aigw_emit_pt emit,
    void *ctx)
{
    int  rc;

    st->scratch.len = 0;

    rc = aigw_buf_dump(&st->scratch, chunk);
    json_decref(chunk);

    if (rc != AIGW_ADAPTER_OK) {
        return rc;
    }

    return emit(ctx, NULL, 0, st->scratch.data, st->scratch.len);
}


/* one chunk of one choice; delta is taken over, even on failure */

static int
aigw_gemini_chunk(aigw_gemini_stream_t *st, json_t *delta,
    const char *finish, aigw_emit_pt emit, void *ctx)
{
    json_t  *c, *choices, *choice;

    if (delta == NULL) {
        return AIGW_ADAPTER_NOMEM;
    }

    choice = json_object();

    if (choice == NULL) {
        json_decref(delta);
        return AIGW_ADAPTER_NOMEM;
    }

    if (json_object_set_new(choice, "index", json_integer(0)) != 0) {
        json_decref(choice);
        json_decref(delta);
        return AIGW_ADAPTER_NOMEM;
    }

    if (json_object_set_new(choice, "delta", delta) != 0
        || json_object_set_new(choice, "logprobs", json_null()) != 0
        || json_object_set_new(choice, "finish_reason",
                               finish ? json_string(finish) : json_null())
           != 0)
    {
        json_decref(choice);
        return AIGW_ADAPTER_NOMEM;
    }

    choices = json_array();

    if (choices == NULL) {
        json_decref(choice);
        return AIGW_ADAPTER_NOMEM;
    }

    if (json_array_append_new(choices, choice) != 0) {
        json_decref(choices);
        return AIGW_ADAPTER_NOMEM;
    }

    c = aigw_gemini_chunk_head(st);

    if (c == NULL) {
        json_decref(choices);
        return AIGW_ADAPTER_NOMEM;
    }

    if (json_object_set_new(c, "choices", choices) != 0
        || (st->conf.include_usage
            && json_object_set_new(c, "usage", json_null()) != 0))
    {
        json_decref(c);
        return AIGW_ADAPTER_NOMEM;
    }

    return aigw_gemini_emit(st, c, emit, ctx);
}


static json_t *
aigw_gemini_delta(const char *key, json_t *value)
{
    json_t  *d;

    d = json_object();

    if (d == NULL || value == NULL) {
        json_decref(d);
        json_decref(value);
        return NULL;
    }

    if (json_object_set_new(d, key, value) != 0) {
        json_decref(d);
        return NULL;
    }

    return d;
}


static int
aigw_gemini_stream_tool(aigw_gemini_stream_t *st, json_t *fc,
    aigw_emit_pt emit, void *ctx)
{
    size_t   n;
    json_t  *calls;

    n = (size_t) st->tools++;

    if (emit == NULL) {
        return AIGW_ADAPTER_OK;
    }

    calls = json_array();
    if (calls == NULL) {
        return AIGW_ADAPTER_NOMEM;
    }

    if (json_array_append_new(calls, aigw_gemini_tool_call(0, n, fc, 1))
        != 0)
    {
        json_decref(calls);
        return AIGW_ADAPTER_NOMEM;
    }

    return aigw_gemini_chunk(st, aigw_gemini_delta("tool_calls", calls),
                             NULL, emit, ctx);
}


static int
aigw_gemini_stream_error(aigw_gemini_stream_t *st, json_t *e,
    aigw_emit_pt emit, void *ctx)
{
    int                rc, status;
    json_t            *code;
    aigw_gemini_err_t  m;

    st->failed = 1;

    if (emit == NULL) {
        return AIGW_ADAPTER_OK;
    }

    code = json_object_get(e, "code");
    status = json_is_integer(code) && json_integer_value(code) >= 100
             && json_integer_value(code) < 600
             ? (int) json_integer_value(code) : 500;

    aigw_gemini_error_map(json_is_object(e) ? e : NULL, status, &m);

    st->scratch.len = 0;

    rc = aigw_gemini_error_json(&st->scratch, &m, status);
    if (rc != AIGW_ADAPTER_OK) {
        return rc;
    }

    return emit(ctx, NULL, 0, st->scratch.data, st->scratch.len);
}


/* the first candidate: the one with index 0 */

static json_t *
aigw_gemini_first(json_t *root)
{
    size_t   i;
    json_t  *cand, *index;

    json_array_foreach(json_object_get(root, "candidates"), i, cand) {
        index = json_object_get(cand, "index");

        if (index == NULL || json_integer_value(index) == 0) {
            return cand;
        }
    }

    return NULL;
}


static int
aigw_gemini_stream_parts(aigw_gemini_stream_t *st, json_t *cand,
    aigw_emit_pt emit, void *ctx)
{
    int          rc;
    size_t       j;
    json_t      *parts, *part, *text, *fc;
    const char  *finish, *key;

    parts = json_object_get(json_object_get(cand, "content"), "parts");

    json_array_foreach(parts, j, part) {
        text = json_object_get(part, "text");
        fc = json_object_get(part, "functionCall");

        if (json_string_length(text)) {
            if (emit == NULL) {
                continue;
            }

            key = json_is_true(json_object_get(part, "thought"))
                  ? "reasoning_content" : "content";

            rc = aigw_gemini_chunk(st, aigw_gemini_delta(key,
                                                         json_incref(text)),
                                   NULL, emit, ctx);

        } else if (fc) {
            rc = aigw_gemini_stream_tool(st, fc, emit, ctx);

        } else {
            continue;
        }

        if (rc != AIGW_ADAPTER_OK) {
            return rc;
        }
    }

    if (aigw_gemini_absent(json_object_get(cand, "finishReason"))) {
        return AIGW_ADAPTER_OK;
    }

    finish = aigw_gemini_finish(json_object_get(cand, "finishReason"));

    if (st->tools && strcmp(finish, "stop") == 0) {
        finish = "tool_calls";
    }

    st->finished = 1;
    st->finish_reason = finish;

    if (emit == NULL) {
        return AIGW_ADAPTER_OK;
    }

    return aigw_gemini_chunk(st, json_object(), finish, emit, ctx);
}


int
aigw_gemini_stream_event(aigw_gemini_stream_t *st, const u_char *data,
    size_t data_len, aigw_emit_pt emit, void *ctx)
{
    int           rc;
    json_t       *root, *ev, *e, *cand, *um;
    aigw_usage_t  u;

    if (st->failed) {
        return AIGW_ADAPTER_OK;
    }

    root = aigw_gemini_load(data, data_len, &rc);
    if (root == NULL) {
        return rc;
    }

    ev = json_is_array(root) ? json_array_get(root, 0) : root;
    e = json_object_get(ev, "error");

    if (!json_is_object(ev)
        || (json_is_array(root) && aigw_gemini_absent(e)))
    {
        rc = AIGW_ADAPTER_INVALID;
        goto done;
    }

    if (!aigw_gemini_absent(e)) {
        rc = aigw_gemini_stream_error(st, e, emit, ctx);
        goto done;
    }

    rc = aigw_gemini_check(ev);
    if (rc != AIGW_ADAPTER_OK) {
        goto done;
    }

    um = json_object_get(ev, "usageMetadata");

    if (!aigw_gemini_absent(um)) {
        rc = aigw_gemini_usage_obj(um, &u);
        if (rc != AIGW_ADAPTER_OK) {
            goto done;
        }

        st->usage = u;
    }

    if (!st->started) {
        st->started = 1;

        if (emit) {
            rc = aigw_gemini_chunk(st, json_pack("{ssss}", "role",
                                                 "assistant", "content", ""),
                                   NULL, emit, ctx);
            if (rc != AIGW_ADAPTER_OK) {
                goto done;
            }
        }
    }

    if (st->finished) {
        /* only usage is taken from events after the finish */
        rc = AIGW_ADAPTER_OK;
        goto done;
    }

    cand = aigw_gemini_first(ev);

    if (cand) {
        rc = aigw_gemini_stream_parts(st, cand, emit, ctx);
        goto done;
    }

    if (json_array_size(json_object_get(ev, "candidates")) == 0
        && json_is_string(json_object_get(json_object_get(ev,
                                                          "promptFeedback"),
                                          "blockReason")))
    {
        st->finished = 1;
        st->finish_reason = "content_filter";

        if (emit) {
            rc = aigw_gemini_chunk(st, json_object(), st->finish_reason,
                                   emit, ctx);
            goto done;
        }
    }

    rc = AIGW_ADAPTER_OK;

done:

    json_decref(root);
    return rc;
}


int
aigw_gemini_stream_finish(aigw_gemini_stream_t *st, aigw_emit_pt emit,
    void *ctx)
{
    int      rc;
    json_t  *c;

    if (st->failed) {
        return AIGW_ADAPTER_OK;
    }

    if (!st->finished) {
        return AIGW_ADAPTER_INVALID;
    }

    if (emit == NULL) {
        return AIGW_ADAPTER_OK;
    }

    if (st->conf.include_usage) {
        c = aigw_gemini_chunk_head(st);
        if (c == NULL) {
            return AIGW_ADAPTER_NOMEM;
        }

        if (json_object_set_new(c, "choices", json_array()) != 0
            || json_object_set_new(c, "usage",
                                   aigw_gemini_usage_json(&st->usage))
               != 0)
        {
            json_decref(c);
            return AIGW_ADAPTER_NOMEM;
        }

        rc = aigw_gemini_emit(st, c, emit, ctx);
        if (rc != AIGW_ADAPTER_OK) {
            return rc;
        }
    }

    return emit(ctx, NULL, 0, (const u_char *) "[DONE]", 6);
}


/* embeddings -> BatchEmbedContentsRequest */

static int
aigw_gemini_embed_one(json_t *requests, json_t *model, json_t *text,
    json_t *dims)
{
    json_t  *r, *content, *parts;

    r = json_object();

    if (r == NULL || json_array_append_new(requests, r) != 0
        || json_object_set(r, "model", model) != 0)
    {
        return AIGW_ADAPTER_NOMEM;
    }

    content = aigw_gemini_child(r, "content");
    if (content == NULL) {
        return AIGW_ADAPTER_NOMEM;
    }

    parts = json_array();

    if (parts == NULL || json_object_set_new(content, "parts", parts) != 0
        || aigw_gemini_text_part(parts, text) != AIGW_ADAPTER_OK
        || (dims && json_object_set(r, "outputDimensionality", dims) != 0))
    {
        return AIGW_ADAPTER_NOMEM;
    }

    return AIGW_ADAPTER_OK;
}


int
aigw_gemini_embed_request(const u_char *body, size_t len,
    const aigw_adapter_req_t *req, aigw_buf_t *out, int *base64,
    aigw_adapter_error_t *err)
{
    int          rc;
    size_t       k;
    json_t      *root, *input, *dims, *fmt, *model, *requests, *o, *v;
    const char  *s;

    *base64 = 0;
    err->message[0] = '\0';
    err->param[0] = '\0';

    root = aigw_gemini_load(body, len, &rc);
    if (root == NULL) {
        if (rc == AIGW_ADAPTER_INVALID) {
            aigw_adapter_error(err, NULL, "The request body is not valid "
                               "JSON.");
        }

        return rc;
    }

    model = NULL;
    requests = NULL;
    o = NULL;

    if (!json_is_object(root)) {
        aigw_adapter_error(err, NULL, "The request body must be a JSON "
                           "object.");
        rc = AIGW_ADAPTER_INVALID;
        goto done;
    }

    dims = json_object_get(root, "dimensions");

    if (aigw_gemini_absent(dims)) {
        dims = NULL;

    } else if (!json_is_integer(dims) || json_integer_value(dims) < 1) {
        rc = aigw_gemini_invalid(err, "must be a positive integer",
                                 "dimensions");
        goto done;
    }

    fmt = json_object_get(root, "encoding_format");
    s = json_string_value(fmt);

    if (s && strcmp(s, "base64") == 0) {
        *base64 = 1;

    } else if (!aigw_gemini_absent(fmt) && (s == NULL
                                           || strcmp(s, "float") != 0))
    {
        rc = aigw_gemini_invalid(err, "must be \"float\" or \"base64\"",
                                 "encoding_format");
        goto done;
    }

    input = json_object_get(root, "input");

    if (json_is_string(input)) {
        if (json_string_length(input) == 0) {
            rc = aigw_gemini_invalid(err, "must not be empty", "input");
            goto done;
        }

    } else if (json_is_array(input)) {
        if (json_array_size(input) == 0) {
            rc = aigw_gemini_invalid(err, "must not be empty", "input");
            goto done;
        }

        json_array_foreach(input, k, v) {
            if (json_is_integer(v) || json_is_array(v)) {
                rc = aigw_gemini_invalid(err, "must be text: token arrays "
                                         "are not supported by this channel",
                                         "input");
                goto done;
            }

            if (!json_is_string(v)) {
                rc = aigw_gemini_invalid(err, "must be a string",
                                         "input[%zu]", k);
                goto done;
            }

            if (json_string_length(v) == 0) {
                rc = aigw_gemini_invalid(err, "must not be empty",
                                         "input[%zu]", k);
                goto done;
            }
        }

    } else {
        rc = aigw_gemini_invalid(err, "must be a string or an array of "
                                 "strings", "input");
        goto done;
    }

    rc = AIGW_ADAPTER_NOMEM;

    model = json_sprintf("models/%.*s", (int) req->model_len,
                         req->model ? (const char *) req->model : "");
    requests = json_array();
    o = json_object();

    if (model == NULL || requests == NULL || o == NULL
        || json_object_set(o, "requests", requests) != 0)
    {
        goto done;
    }

    if (json_is_string(input)) {
        rc = aigw_gemini_embed_one(requests, model, input, dims);

    } else {
        json_array_foreach(input, k, v) {
            rc = aigw_gemini_embed_one(requests, model, v, dims);
            if (rc != AIGW_ADAPTER_OK) {
                break;
            }
        }
    }

    if (rc == AIGW_ADAPTER_OK) {
        rc = aigw_buf_dump(out, o);
    }

done:

    json_decref(root);
    json_decref(model);
    json_decref(requests);
    json_decref(o);

    return rc;
}


/* floats as the little-endian float32 bytes OpenAI's base64 carries */

static json_t *
aigw_gemini_base64(json_t *values)
{
    static const char  b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    float           f;
    u_char         *raw;
    size_t          i, n, k, o;
    json_t         *v, *s;
    uint32_t        bits, w;
    char           *enc;
    json_free_t     free_fn;
    json_malloc_t   malloc_fn;

    json_get_alloc_funcs(&malloc_fn, &free_fn);

    n = json_array_size(values) * 4;

    raw = malloc_fn(n + 1);
    enc = malloc_fn((n + 2) / 3 * 4 + 1);

    if (raw == NULL || enc == NULL) {
        free_fn(raw);
        free_fn(enc);
        return NULL;
    }

    json_array_foreach(values, i, v) {
        f = (float) json_number_value(v);
        memcpy(&bits, &f, 4);

        raw[i * 4] = (u_char) (bits & 0xff);
        raw[i * 4 + 1] = (u_char) ((bits >> 8) & 0xff);
        raw[i * 4 + 2] = (u_char) ((bits >> 16) & 0xff);
        raw[i * 4 + 3] = (u_char) (bits >> 24);
    }

    o = 0;

    for (k = 0; k < n; k += 3) {
        w = (uint32_t) raw[k] << 16;

        if (k + 1 < n) {
            w |= (uint32_t) raw[k + 1] << 8;
        }

        if (k + 2 < n) {
            w |= raw[k + 2];
        }

        enc[o++] = b64[(w >> 18) & 0x3f];
        enc[o++] = b64[(w >> 12) & 0x3f];
        enc[o++] = k + 1 < n ? b64[(w >> 6) & 0x3f] : '=';
        enc[o++] = k + 2 < n ? b64[w & 0x3f] : '=';
    }

    s = json_stringn_nocheck(enc, o);

    free_fn(raw);
    free_fn(enc);

    return s;
}


/* BatchEmbedContentsResponse -> OpenAI embeddings list */

int
aigw_gemini_embed_response(const u_char *body, size_t len,
    const aigw_adapter_resp_t *resp, int base64, int64_t prompt_estimate,
    aigw_buf_t *out, aigw_usage_t *usage)
{
    int      rc;
    size_t   k, i;
    json_t  *root, *embs, *emb, *values, *v, *o, *data, *item;

    memset(usage, 0, sizeof(aigw_usage_t));

    if (prompt_estimate < 0) {
        prompt_estimate = 0;
    }

    root = aigw_gemini_load(body, len, &rc);
    if (root == NULL) {
        return rc;
    }

    o = NULL;
    data = NULL;

    embs = json_object_get(root, "embeddings");

    if (!json_is_array(embs)) {
        rc = AIGW_ADAPTER_INVALID;
        goto done;
    }

    json_array_foreach(embs, k, emb) {
        values = json_object_get(emb, "values");

        if (!json_is_array(values)) {
            rc = AIGW_ADAPTER_INVALID;
            goto done;
        }

        json_array_foreach(values, i, v) {
            if (!json_is_number(v)) {
                rc = AIGW_ADAPTER_INVALID;
                goto done;
            }
        }
    }

    rc = AIGW_ADAPTER_NOMEM;

    o = json_object();
    data = json_array();

    if (o == NULL || data == NULL
        || json_object_set_new(o, "object", json_string("list")) != 0
        || json_object_set(o, "data", data) != 0)
    {
        goto done;
    }

    json_array_foreach(embs, k, emb) {
        values = json_object_get(emb, "values");
        item = json_object();

        if (item == NULL || json_array_append_new(data, item) != 0
            || json_object_set_new(item, "object", json_string("embedding"))
               != 0
            || json_object_set_new(item, "index", json_integer(k)) != 0
            || json_object_set_new(item, "embedding",
                                   base64 ? aigw_gemini_base64(values)
                                          : json_incref(values))
               != 0)
        {
            goto done;
        }
    }

    if (json_object_set_new(o, "model", aigw_gemini_strn(resp->model,
                                                         resp->model_len))
        != 0
        || json_object_set_new(o, "usage",
                               json_pack("{sIsI}", "prompt_tokens",
                                         (json_int_t) prompt_estimate,
                                         "total_tokens",
                                         (json_int_t) prompt_estimate))
           != 0)
    {
        goto done;
    }

    rc = aigw_buf_dump(out, o);

    if (rc == AIGW_ADAPTER_OK) {
        usage->prompt_tokens = prompt_estimate;
        usage->total_tokens = prompt_estimate;
        usage->found = 1;
    }

done:

    json_decref(root);
    json_decref(o);
    json_decref(data);

    return rc;
}
