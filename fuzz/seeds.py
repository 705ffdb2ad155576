#!/usr/bin/env python3
"""Writes the seed corpora fuzz/corpus/<target>/ and dictionaries fuzz/*.dict.

Each target's input starts with a few configuration bytes (see the comment
at the top of fuzz/<target>.c); the seeds put realistic payloads behind
them.  Run it again after changing a target's input layout:

    python3 fuzz/seeds.py
"""

import json
import os
import shutil

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def clean(target):
    shutil.rmtree(os.path.join(HERE, "corpus", target), ignore_errors=True)


def dump(o):
    return json.dumps(o, separators=(",", ":"))


# ----------------------------------------------------------------- payloads

CHAT = {
    "model": "gpt-4o",
    "messages": [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": [
            {"type": "text", "text": "What is in this image? \u00e9\u4e2d"},
            {"type": "image_url",
             "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather",
                          "arguments": "{\"city\":\"Paris\"}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ],
    "tools": [{"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city",
        "parameters": {"type": "object",
                       "properties": {"city": {"type": "string"}},
                       "required": ["city"]}}}],
    "tool_choice": "auto",
    "temperature": 0.2,
    "top_p": 0.9,
    "max_tokens": 256,
    "stop": ["\n\n"],
    "stream": True,
    "stream_options": {"include_usage": False},
    "user": "u-1",
}

SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "a city",
                 "enum": ["Paris", "Rome"], "format": "date-time"},
        "days": {"type": ["integer", "null"], "minimum": 1, "maximum": 7},
        "tags": {"type": "array", "items": {"type": "string"},
                 "minItems": 1},
        "unit": {"anyOf": [{"type": "string"}, {"type": "number"}]},
        "nested": {"type": "object", "properties": {
            "a": {"type": "boolean"}}, "required": ["a"],
            "additionalProperties": False},
        "ref": {"$ref": "#/$defs/x"},
    },
    "required": ["city"],
    "$defs": {"x": {"type": "string"}},
    "additionalProperties": False,
}

CHAT_RICH = {
    "model": "gpt-4o",
    "messages": [
        {"role": "developer", "content": [{"type": "text",
                                           "text": "Rules."}]},
        {"role": "user", "name": "bob", "content": [
            {"type": "text", "text": "Listen"},
            {"type": "input_audio", "input_audio": {"data": "UklGRg==",
                                                    "format": "wav"}},
            {"type": "file", "file": {"file_data":
                                      "data:application/pdf;base64,JVBERi0=",
                                      "filename": "a.pdf"}},
            {"type": "image_url", "image_url": {
                "url": "https://example.com/a.png", "detail": "low"}}]},
        {"role": "assistant", "content": "ok", "refusal": None,
         "reasoning_content": "thinking", "tool_calls": [
             {"id": "call_a", "type": "function", "function": {
                 "name": "f", "arguments": "{\"x\":[1,{\"y\":null}]}"}},
             {"id": "call_b", "type": "function", "function": {
                 "name": "g", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_a",
         "content": [{"type": "text", "text": "{\"r\":1}"}]},
        {"role": "tool", "tool_call_id": "call_b", "content": "plain"},
    ],
    "tools": [{"type": "function", "function": {
        "name": "f", "description": "d", "parameters": SCHEMA,
        "strict": True}},
        {"type": "function", "function": {"name": "g"}}],
    "tool_choice": {"type": "function", "function": {"name": "f"}},
    "parallel_tool_calls": False,
    "response_format": {"type": "json_schema", "json_schema": {
        "name": "out", "schema": SCHEMA, "strict": True}},
    "reasoning_effort": "high",
    "max_completion_tokens": 2048,
    "stop": "END",
    "seed": 7, "n": 1, "presence_penalty": 0.5, "frequency_penalty": -0.5,
    "logprobs": True, "top_logprobs": 2, "logit_bias": {"50256": -100},
    "metadata": {"k": "v"}, "service_tier": "auto", "store": False,
    "stream": True, "stream_options": {"include_usage": True},
    "user": "u-2",
}

def without_audio(chat):
    c = json.loads(json.dumps(chat))
    for m in c["messages"]:
        if isinstance(m.get("content"), list):
            m["content"] = [p for p in m["content"]
                            if p.get("type") not in ("input_audio", "file")]
    return c


CHAT_JSON_MODE = {"model": "m", "messages": [
    {"role": "system", "content": "a"},
    {"role": "user", "content": "x"}],
    "response_format": {"type": "json_object"}, "tool_choice": "required",
    "tools": [{"type": "function", "function": {
        "name": "h", "parameters": {"type": "object"}}}],
    "temperature": 2, "top_p": 0, "max_tokens": 1, "stop": [],
    "reasoning_effort": "minimal"}

CHAT_SMALL = {"model": "gpt-4o", "messages": [
    {"role": "user", "content": "Hello"}], "stream": False}

COMPLETIONS = {"model": "gpt-3.5-turbo-instruct", "prompt": ["a", "bc"],
               "max_tokens": 7}
EMBED = {"model": "text-embedding-3-small",
         "input": ["hello world", "second"], "encoding_format": "float"}
EMBED_TOKENS = {"model": "e", "input": [[1, 2, 3], [4]]}

USAGE = {"prompt_tokens": 19, "completion_tokens": 10, "total_tokens": 29,
         "prompt_tokens_details": {"cached_tokens": 3, "audio_tokens": 0},
         "completion_tokens_details": {"reasoning_tokens": 4}}

RESPONSE = {
    "id": "chatcmpl-9xYz", "object": "chat.completion",
    "created": 1727000000, "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {
        "role": "assistant", "content": "Hello!", "refusal": None,
        "metadata": {"usage": {"prompt_tokens": 999}}, "note": "usage"},
        "logprobs": None, "finish_reason": "stop"}],
    "usage": USAGE, "system_fingerprint": "fp_50cad350e4"}

RESPONSE_TOOLS = {
    "id": "chatcmpl-2", "object": "chat.completion", "created": 1,
    "model": "gpt-4o",
    "choices": [{"index": 0, "message": {
        "role": "assistant", "content": None, "tool_calls": [
            {"id": "call_9", "type": "function", "function": {
                "name": "get_weather", "arguments": "{\"city\":\"Oslo\"}"}}]},
        "finish_reason": "tool_calls"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 7,
              "total_tokens": 12}}

OPENAI_ERROR = {"error": {"message": "Rate limit reached", "type":
                          "rate_limit_exceeded", "param": None,
                          "code": "rate_limit_exceeded"}}

HEAD = ('{"id":"chatcmpl-7","object":"chat.completion.chunk",'
        '"created":1727000000,"model":"gpt-4o-2024-08-06",')
OPENAI_STREAM = "".join([
    "data: " + HEAD + '"choices":[{"index":0,"delta":{"role":"assistant",'
    '"content":""},"finish_reason":null}],"usage":null}\n\n',
    "data: " + HEAD + '"choices":[{"index":0,"delta":{"content":"Hel"},'
    '"finish_reason":null}]}\n\n',
    "data: " + HEAD + '"choices":[{"index":0,"delta":{"tool_calls":[{'
    '"index":0,"id":"call_1","type":"function","function":{"name":"f",'
    '"arguments":""}}]},"finish_reason":null}]}\n\n',
    "data: " + HEAD + '"choices":[{"index":0,"delta":{"tool_calls":[{'
    '"index":0,"function":{"arguments":"{\\"a\\":1}"}}]},'
    '"finish_reason":null}]}\n\n',
    "data: " + HEAD + '"choices":[{"index":0,"delta":{},'
    '"finish_reason":"tool_calls"}]}\n\n',
    "data: " + HEAD + '"choices":[],"usage":' + dump(USAGE) + "}\n\n",
    "data: [DONE]\n\n",
])

# Anthropic Messages
ANTH_REQ = {
    "model": "claude-3-5-sonnet-20241022", "max_tokens": 1024,
    "system": [{"type": "text", "text": "Be brief.",
                "cache_control": {"type": "ephemeral"}}],
    "messages": [
        {"role": "user", "content": "What's the weather in Paris?"},
        {"role": "assistant", "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "sig"},
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather",
             "input": {"city": "Paris"}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1",
             "content": [{"type": "text", "text": "sunny"}]},
            {"type": "image", "source": {"type": "base64",
                                         "media_type": "image/png",
                                         "data": "iVBORw0KGgo="}}]},
    ],
    "tools": [{"name": "get_weather", "description": "Weather",
               "input_schema": {"type": "object", "properties": {
                   "city": {"type": "string"}}}}],
    "tool_choice": {"type": "auto"},
    "stop_sequences": ["END"], "temperature": 0.5, "top_k": 5,
    "stream": True, "metadata": {"user_id": "u1"},
    "thinking": {"type": "enabled", "budget_tokens": 2000},
}

ANTH_USAGE = {"input_tokens": 25, "output_tokens": 12,
              "cache_creation_input_tokens": 3,
              "cache_read_input_tokens": 7}

ANTH_RESP = {
    "id": "msg_01", "type": "message", "role": "assistant",
    "model": "claude-3-5-sonnet-20241022",
    "content": [{"type": "thinking", "thinking": "x", "signature": "s"},
                {"type": "text", "text": "Hi!"},
                {"type": "tool_use", "id": "toolu_2", "name": "f",
                 "input": {"a": [1, 2]}}],
    "stop_reason": "tool_use", "stop_sequence": None, "usage": ANTH_USAGE}

ANTH_ERROR = {"type": "error", "error": {"type": "overloaded_error",
                                         "message": "Overloaded"}}


def sse(events):
    out = []
    for name, data in events:
        if name:
            out.append("event: %s\n" % name)
        out.append("data: %s\n\n" % (data if isinstance(data, str)
                                      else dump(data)))
    return "".join(out)


ANTH_STREAM = sse([
    ("message_start", {"type": "message_start", "message": {
        "id": "msg_1", "type": "message", "role": "assistant",
        "content": [], "model": "claude-3-5-sonnet-20241022",
        "stop_reason": None, "stop_sequence": None,
        "usage": {"input_tokens": 25, "output_tokens": 1,
                  "cache_read_input_tokens": 4}}}),
    ("ping", {"type": "ping"}),
    ("content_block_start", {"type": "content_block_start", "index": 0,
                             "content_block": {"type": "text", "text": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "text_delta",
                                       "text": "Hello"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("content_block_start", {"type": "content_block_start", "index": 1,
                             "content_block": {"type": "tool_use",
                                               "id": "toolu_1", "name": "f",
                                               "input": {}}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1,
                             "delta": {"type": "input_json_delta",
                                       "partial_json": "{\"a\":"}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 1,
                             "delta": {"type": "input_json_delta",
                                       "partial_json": "1}"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    ("message_delta", {"type": "message_delta",
                       "delta": {"stop_reason": "tool_use",
                                 "stop_sequence": None},
                       "usage": {"output_tokens": 15}}),
    ("message_stop", {"type": "message_stop"}),
])

ANTH_STREAM_THINK = sse([
    ("message_start", {"type": "message_start", "message": {
        "id": "msg_2", "model": "claude", "usage": {"input_tokens": 3}}}),
    ("content_block_start", {"type": "content_block_start", "index": 0,
                             "content_block": {"type": "thinking",
                                               "thinking": ""}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "thinking_delta",
                                       "thinking": "let me"}}),
    ("content_block_delta", {"type": "content_block_delta", "index": 0,
                             "delta": {"type": "signature_delta",
                                       "signature": "abc"}}),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("message_delta", {"type": "message_delta",
                       "delta": {"stop_reason": "max_tokens"},
                       "usage": {"output_tokens": 1}}),
    ("message_stop", {"type": "message_stop"}),
])

ANTH_STREAM_ERR = sse([
    ("message_start", {"type": "message_start", "message": {
        "id": "msg_3", "usage": {"input_tokens": 3}}}),
    ("error", {"type": "error", "error": {"type": "overloaded_error",
                                          "message": "Overloaded"}}),
])

# Gemini
GEM_RESP = {
    "candidates": [{"content": {"role": "model", "parts": [
        {"text": "Hello"},
        {"functionCall": {"name": "get_weather", "args": {"city": "Rome"}}}]},
        "finishReason": "STOP", "index": 0,
        "safetyRatings": [{"category": "HARM_CATEGORY_HATE_SPEECH",
                           "probability": "NEGLIGIBLE"}]}],
    "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5,
                      "totalTokenCount": 15, "cachedContentTokenCount": 2,
                      "thoughtsTokenCount": 1},
    "modelVersion": "gemini-1.5-pro-002"}

GEM_USAGE = GEM_RESP["usageMetadata"]

GEM_BLOCKED = {"promptFeedback": {"blockReason": "SAFETY"},
               "usageMetadata": {"promptTokenCount": 4,
                                 "totalTokenCount": 4}}

GEM_ERROR = {"error": {"code": 429, "message": "Resource has been exhausted",
                       "status": "RESOURCE_EXHAUSTED"}}

GEM_STREAM = sse([
    (None, {"candidates": [{"content": {"role": "model", "parts": [
        {"text": "Hel"}]}, "index": 0}],
        "usageMetadata": {"promptTokenCount": 10}}),
    (None, {"candidates": [{"content": {"role": "model", "parts": [
        {"text": "lo"}, {"functionCall": {"name": "f", "args": {}}}]},
        "index": 0}]}),
    (None, {"candidates": [{"content": {"role": "model", "parts": [
        {"text": ""}]}, "finishReason": "MAX_TOKENS", "index": 0}],
        "usageMetadata": {"promptTokenCount": 10,
                          "candidatesTokenCount": 2,
                          "totalTokenCount": 12}}),
])

GEM_EMBED_RESP = {"embeddings": [{"values": [0.1, -0.2, 3e-5]},
                                 {"values": [1, 2]}]}

KEYS = {
    "tenants": [{"name": "acme", "limits": {"rpm": 600, "tpm": 200000,
                                            "concurrency": 20},
                 "budget": {"usd": 100.0, "period": "monthly"}}],
    "keys": [
        {"name": "demo", "key": "sk-aigw-demo", "tenant": "acme",
         "models": ["gpt-4o", "demo-*"],
         "expires": "2027-01-01T00:00:00Z", "enabled": True,
         "ips": ["127.0.0.1", "10.0.0.0/8", "::1", "2001:db8::/32"],
         "limits": {"rpm": 60, "tpm": 100000, "concurrency": 4,
                    "models": {"gpt-4o": {"rpm": 10, "tpm": 20000}}},
         "budget": {"usd": 10.5, "period": "total"}},
        {"name": "ci", "sha256": "a" * 64, "expires": 1800000000},
        {"name": "all", "key": "sk-test-all", "models": ["*"],
         "expires": "2027-01-01T02:00:00.123+02:00"},
    ]}

PRICES = {"models": {
    "gpt-4o": {"input": 2.50, "cached_input": 1.25, "output": 10.00},
    "gpt-4o-mini*": {"input": 0.15, "cached_input": 0.075, "output": 0.60},
    "claude-*": {"input": 3.00, "cached_input": 0.30, "cache_write": 3.75,
                 "output": 15.00},
    "*": {"input": 1.00, "output": 2.00}}}


# ------------------------------------------------------------------ targets

def split_spec(sizes):
    """fz_split_init(): a count byte, then one byte per size."""
    return bytes([len(sizes)]) + bytes(sizes)


JSON_TEXTS = [dump(CHAT), dump(CHAT_RICH), dump(CHAT_SMALL), dump(COMPLETIONS), dump(EMBED),
              dump(RESPONSE), dump(ANTH_REQ), dump(GEM_RESP),
              json.dumps(CHAT, indent=2),
              '{"a\\u0000b":1,"\\ud83d\\ude00":"\\u00e9","n":-0.5e+10}',
              '{"x":[[[[{}]]]],"y":"\\"\\\\\\/\\b\\f\\n\\r\\t"}',
              '[1,2]', '"s"', '{}', '{"a":1,"a":2}',
              '{"model":"m","\\u006dodel":"n"}']


def targets():
    clean("fuzz_json")
    for i, t in enumerate(JSON_TEXTS):
        write("fuzz_json", "seed-%02d" % i, t)

    clean("fuzz_sse")
    streams = [OPENAI_STREAM, ANTH_STREAM, GEM_STREAM,
               OPENAI_STREAM.replace("\n", "\r\n"),
               ANTH_STREAM.replace("\n", "\r"),
               ": comment\nid: 1\nretry: 10\ndata\ndata:\ndata: a\n"
               "data:b\nevent\n\n\r\n\n\rdata: x\r",
               "data: " + "x" * 3000 + "\n\ndata: y\n\n"]
    for i, s in enumerate(streams):
        for j, (cfg, hostile, sizes) in enumerate([
                (6, 0, []), (3, 0, [1]), (4, 0x83, [5, 0x81, 17]),
                (7, 9, [2, 3])]):
            write("fuzz_sse", "seed-%02d-%d" % (i, j),
                  bytes([cfg, hostile]) + split_spec(sizes) + s.encode())

    clean("fuzz_usage")
    price = bytes([0x10, 0x27, 1, 0xe8, 0x03, 0x40, 0x9c, 0])
    usage_payloads = [dump(RESPONSE), dump(RESPONSE_TOOLS), dump(USAGE),
                      HEAD + '"choices":[],"usage":' + dump(USAGE) + "}",
                      json.dumps(RESPONSE, indent=1),
                      '{"usage":{"prompt_tokens":9223372036854775807,'
                      '"completion_tokens":1}}']
    for i, s in enumerate(usage_payloads):
        for j, sizes in enumerate([[], [1], [7, 0x82, 3]]):
            write("fuzz_usage", "seed-%02d-%d" % (i, j),
                  split_spec(sizes) + price + s.encode())

    clean("fuzz_body")
    for i, body in enumerate([CHAT, CHAT_SMALL, COMPLETIONS, EMBED,
                              EMBED_TOKENS, CHAT_RICH]):
        for j, spec in enumerate([bytes([0x81, 0xe0, 0x0c, 0x2d, 0x51, 0]),
                                  bytes([0x01, 0x00, 0, 0, 0, 0]),
                                  bytes([0x83, 0x7f, 0x13, 0x04, 0x8b, 3])]):
            write("fuzz_body", "seed-%02d-%d" % (i, j), spec + dump(body)
                  .encode())

    clean("fuzz_config")
    look = bytes([10, 0, 0, 1, 0x20, 0x01, 0x0d, 0xb8])
    write("fuzz_config", "keys", b"\x00" + look + dump(KEYS).encode())
    write("fuzz_config", "keys-pretty", b"\x00" + look
          + json.dumps(KEYS, indent=2).encode())
    write("fuzz_config", "prices", b"\x01" + look + dump(PRICES).encode())
    write("fuzz_config", "date", b"\x02" + look
          + b"2027-01-01T02:00:00.5+02:00")
    write("fuzz_config", "date2", b"\x02" + look + b"0001-01-01T00:00:00Z")
    tk = os.path.join(HERE, "..", "t", "keys.json")
    if os.path.exists(tk):
        write("fuzz_config", "t-keys", b"\x00" + look + open(tk, "rb").read())

    # translators: [mode] [buffer bound] [fail] [split spec] payload
    def tr(target, name, mode, payload, sizes=(), bound=0, fail=0):
        write(target, name, bytes([mode, bound, fail]) + split_spec(
            list(sizes)) + (payload.encode() if isinstance(payload, str)
                            else payload))

    clean("fuzz_anthropic")
    for i, b in enumerate([CHAT, CHAT_SMALL, dict(CHAT, stream=False,
                                                  max_completion_tokens=9),
                           CHAT_RICH, CHAT_JSON_MODE,
                           without_audio(CHAT_RICH)]):
        tr("fuzz_anthropic", "req-%d" % i, 0, dump(b))
    tr("fuzz_anthropic", "resp", 1, dump(ANTH_RESP))
    tr("fuzz_anthropic", "err-0", 2 | (12 << 3), dump(ANTH_ERROR))
    tr("fuzz_anthropic", "err-1", 2 | (9 << 3), "<html>bad gateway</html>")
    tr("fuzz_anthropic", "usage", 3, dump(ANTH_USAGE))
    for i, s in enumerate([ANTH_STREAM, ANTH_STREAM_THINK, ANTH_STREAM_ERR]):
        tr("fuzz_anthropic", "stream-%d" % i, 4, s)
        tr("fuzz_anthropic", "stream-split-%d" % i, 0x44, s,
           sizes=[9, 0x83])

    clean("fuzz_gemini")
    for i, b in enumerate([CHAT, CHAT_SMALL, CHAT_RICH, CHAT_JSON_MODE]):
        tr("fuzz_gemini", "req-%d" % i, 0, dump(b))
    tr("fuzz_gemini", "resp-0", 1, dump(GEM_RESP))
    tr("fuzz_gemini", "resp-1", 1, dump(GEM_BLOCKED))
    tr("fuzz_gemini", "err-0", 2 | (7 << 3), dump(GEM_ERROR))
    tr("fuzz_gemini", "err-1", 2 | (9 << 3), "upstream connect error")
    tr("fuzz_gemini", "usage", 3, dump(GEM_USAGE))
    tr("fuzz_gemini", "embed-req-0", 4, dump(EMBED))
    tr("fuzz_gemini", "embed-req-1", 4, dump(dict(EMBED,
                                                  encoding_format="base64")))
    tr("fuzz_gemini", "embed-req-2", 4, dump(EMBED_TOKENS))
    tr("fuzz_gemini", "embed-resp-0", 5, dump(GEM_EMBED_RESP))
    tr("fuzz_gemini", "embed-resp-1", 5 | 8, dump(GEM_EMBED_RESP))
    tr("fuzz_gemini", "stream-0", 6, GEM_STREAM)
    tr("fuzz_gemini", "stream-1", 6 | 0x40, GEM_STREAM, sizes=[5, 0x81])

    clean("fuzz_anthropic_in")
    tr("fuzz_anthropic_in", "req-0", 0, dump(ANTH_REQ))
    tr("fuzz_anthropic_in", "req-1", 0, dump(
        {"model": "m", "max_tokens": 5, "system": "sys",
         "messages": [{"role": "user", "content": "hi"}]}))
    tr("fuzz_anthropic_in", "resp-0", 1, dump(RESPONSE))
    tr("fuzz_anthropic_in", "resp-1", 1, dump(RESPONSE_TOOLS))
    tr("fuzz_anthropic_in", "err-0", 2 | (7 << 3), dump(OPENAI_ERROR))
    tr("fuzz_anthropic_in", "err-1", 2 | (9 << 3), "not json")
    tr("fuzz_anthropic_in", "errjson", 3, "Model not allowed \"x\"")
    tr("fuzz_anthropic_in", "stream-0", 4, OPENAI_STREAM)
    tr("fuzz_anthropic_in", "stream-1", 4 | 0x40, OPENAI_STREAM,
       sizes=[3, 0x85])

    # t/fixtures/anthropic_in: both sides of each exchange
    fx = os.path.join(HERE, "..", "t", "fixtures", "anthropic_in")
    if os.path.isdir(fx):
        for f in sorted(os.listdir(fx)):
            data = open(os.path.join(fx, f), "rb").read()
            kind, side = f.split("-")[0], f.split(".")[-2]
            if kind == "request" and side == "anthropic":
                tr("fuzz_anthropic_in", "fx-" + f, 0, data)
            elif kind == "request" and side == "openai":
                tr("fuzz_anthropic", "fx-" + f, 0, data)
                tr("fuzz_gemini", "fx-" + f, 0, data)
            elif kind == "response" and side == "openai":
                tr("fuzz_anthropic_in", "fx-" + f, 1, data)
            elif kind == "response" and side == "anthropic":
                tr("fuzz_anthropic", "fx-" + f, 1, data)
            elif kind == "error" and side == "openai":
                tr("fuzz_anthropic_in", "fx-" + f, 2 | (8 << 3), data)
            elif kind == "error" and side == "anthropic":
                tr("fuzz_anthropic", "fx-" + f, 2 | (12 << 3), data)
            elif kind == "stream" and side == "openai":
                tr("fuzz_anthropic_in", "fx-" + f, 4, data)
            elif kind == "stream" and side == "anthropic":
                tr("fuzz_anthropic", "fx-" + f, 4, data)


# ------------------------------------------------------------- dictionaries

JSON_TOKENS = ['{', '}', '[', ']', ':', ',', '"', '\\"', '\\\\', '\\u',
               '\\ud83d\\ude00', '\\u0000', 'true', 'false', 'null', '-0',
               '1e308', '-1E-5', '0.5', '9223372036854775807',
               '-9223372036854775808', '18446744073709551616']

FIELDS = {
    "fuzz_json": [],
    "fuzz_sse": ['data:', 'data: ', 'event:', 'event: ', 'id:', 'retry:',
                 ':', '\r\n', '\n\n', '\r\r', '\r', '[DONE]'],
    "fuzz_usage": ['usage', 'prompt_tokens', 'completion_tokens',
                   'total_tokens', 'prompt_tokens_details', 'cached_tokens',
                   'completion_tokens_details', 'reasoning_tokens',
                   'choices', '"usage":'],
    "fuzz_body": ['model', 'messages', 'role', 'content', 'stream',
                  'stream_options', 'include_usage', 'max_tokens',
                  'max_completion_tokens', 'prompt', 'input', 'tools',
                  'tool_calls', 'function', 'functions', 'function_call',
                  'name', 'arguments', 'type', 'text', 'image_url'],
    "fuzz_config": ['tenants', 'keys', 'name', 'key', 'sha256', 'tenant',
                    'models', 'expires', 'enabled', 'ips', 'limits',
                    'budget', 'rpm', 'tpm', 'concurrency', 'usd', 'period',
                    'total', 'daily', 'monthly', 'input', 'output',
                    'cached_input', 'cache_write', '*', '/32', '::ffff:',
                    'T00:00:00Z', '+02:00'],
    "fuzz_anthropic": ['message_start', 'content_block_start',
                       'content_block_delta', 'content_block_stop',
                       'message_delta', 'message_stop', 'ping', 'error',
                       'text_delta', 'input_json_delta', 'thinking_delta',
                       'signature_delta', 'partial_json', 'tool_use',
                       'tool_result', 'tool_use_id', 'input_tokens',
                       'output_tokens', 'cache_read_input_tokens',
                       'cache_creation_input_tokens', 'stop_reason',
                       'end_turn', 'max_tokens', 'stop_sequence', 'index',
                       'content_block', 'delta', 'thinking', 'signature',
                       'redacted_thinking', 'event: ', 'data: ', 'system',
                       'tool_choice', 'tools', 'tool_calls', 'function',
                       'arguments', 'image_url', 'stop', 'n',
                       'response_format', 'reasoning_effort'],
    "fuzz_gemini": ['candidates', 'content', 'parts', 'text',
                    'functionCall', 'functionResponse', 'args',
                    'finishReason', 'STOP', 'MAX_TOKENS', 'SAFETY',
                    'RECITATION', 'usageMetadata', 'promptTokenCount',
                    'candidatesTokenCount', 'totalTokenCount',
                    'cachedContentTokenCount', 'thoughtsTokenCount',
                    'promptFeedback', 'blockReason', 'embeddings', 'values',
                    'inlineData', 'mimeType', 'thought', 'status', 'code',
                    'data: ', 'tool_calls', 'tools', 'tool_choice',
                    'response_format', 'json_schema', 'dimensions',
                    'input', 'encoding_format'],
    "fuzz_anthropic_in": ['system', 'messages', 'max_tokens',
                          'stop_sequences', 'tool_use', 'tool_result',
                          'tool_use_id', 'input_schema', 'tool_choice',
                          'any', 'auto', 'none', 'thinking', 'budget_tokens',
                          'image', 'source', 'base64', 'media_type',
                          'cache_control', 'choices', 'delta',
                          'finish_reason', 'tool_calls', 'function',
                          'arguments', 'reasoning_content', 'refusal',
                          'length', 'content_filter', 'usage',
                          'prompt_tokens', 'completion_tokens',
                          'prompt_tokens_details', 'cached_tokens', 'error',
                          'message', 'data: ', '[DONE]'],
}

COMMON = ['model', 'role', 'user', 'assistant', 'content', 'type', 'text',
          'stream', 'id', 'name', 'usage']


def dict_entry(v):
    out = []
    for ch in v.encode():
        c = chr(ch)
        if c in '"\\' or ch < 0x20 or ch >= 0x7f:
            out.append("\\x%02X" % ch)
        else:
            out.append(c)
    return '"%s"' % "".join(out)


def dicts():
    for target, words in FIELDS.items():
        entries = []
        extra = COMMON if target not in ("fuzz_json", "fuzz_sse") else []
        for w in words + extra:
            entries.append(w)
            if target != "fuzz_sse" and w.isidentifier():
                entries += ['"%s"' % w, '"%s":' % w]
        if target != "fuzz_sse":
            entries += JSON_TOKENS
        seen = set()
        lines = ["# libFuzzer dictionary for %s (written by fuzz/seeds.py)"
                 % target]
        for e in entries:
            if e not in seen:
                seen.add(e)
                lines.append(dict_entry(e))
        with open(os.path.join(HERE, target + ".dict"), "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    targets()
    dicts()
