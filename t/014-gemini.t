# The Gemini adapter: OpenAI chat and embeddings requests to a channel whose
# provider is gemini.  The mock reports the exact request it received in
# X-Got-* headers and answers as the Generative Language API does.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use AigwTest;
use AigwMock;

repeat_each(1);
no_long_string();
no_shuffle();


our $ANSWER = '{"candidates":[{"content":{"parts":[{"text":"Hello there."}],'
    . '"role":"model"},"finishReason":"STOP","index":0,"safetyRatings":[]}],'
    . '"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":3,'
    . '"totalTokenCount":15,"cachedContentTokenCount":2,'
    . '"thoughtsTokenCount":4},"modelVersion":"gemini-2.0-flash",'
    . '"responseId":"resp-1"}';

our $CALL_ANSWER = '{"candidates":[{"content":{"parts":[{"functionCall":'
    . '{"name":"get_weather","args":{"location":"Paris"}}}],"role":"model"},'
    . '"finishReason":"STOP","index":0}],"usageMetadata":{'
    . '"promptTokenCount":30,"candidatesTokenCount":6,'
    . '"totalTokenCount":36},"modelVersion":"gemini-2.0-flash"}';

# alt=sse: unnamed events, CRLF line ends, no [DONE]
our @STREAM = (
    "data: " . '{"candidates":[{"content":{"parts":[{"text":"Hel"}],'
    . '"role":"model"},"index":0}],"usageMetadata":{"promptTokenCount":8,'
    . '"totalTokenCount":8},"modelVersion":"gemini-2.0-flash",'
    . '"responseId":"r-9"}' . "\r\n\r\n",
    "data: " . '{"candidates":[{"content":{"parts":[{"text":"lo!"}],'
    . '"role":"model"},"index":0}],"modelVersion":"gemini-2.0-flash",'
    . '"responseId":"r-9"}' . "\r\n\r\n",
    "data: " . '{"candidates":[{"content":{"parts":[{"text":""}],'
    . '"role":"model"},"finishReason":"STOP","index":0}],'
    . '"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":2,'
    . '"totalTokenCount":10},"modelVersion":"gemini-2.0-flash",'
    . '"responseId":"r-9"}' . "\r\n\r\n",
);

our $EMBED_ANSWER = '{"embeddings":[{"values":[0.5,-0.25]},'
    . '{"values":[1,0]}]}';

our $QUOTA = '{"error":{"code":429,"message":"Resource has been exhausted '
    . '(e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}';

our $BADKEY = '{"error":{"code":400,"message":"API key not valid. Please '
    . 'pass a valid API key.","status":"INVALID_ARGUMENT"}}';

our $CHAT = '{"model":"gemini","messages":[{"role":"user","content":"hi"}]}';

setup_gateway(
    http_config => <<'_EOC_',
    aigw_channel gem {
        provider gemini;
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/gem/v1beta;
        key AIza-test;
    }
_EOC_
    location => 'aigw_model gemini gem model=gemini-2.0-flash;
        aigw_model "gem-*" gem;
        aigw_model text-embedding gem model=text-embedding-004;',
    request => "POST /v1/chat/completions\n$CHAT",
);

run_tests();

__DATA__

=== TEST 1: a plain chat: the exact generateContent request and the answer
--- mock eval
AigwMock::mock_location("= /gem/v1beta/models/gemini-2.0-flash:generateContent",
                        pieces => [$::ANSWER])
--- response_headers
X-Got-Uri: /gem/v1beta/models/gemini-2.0-flash:generateContent
X-Got-Auth:
X-Got-Keys: |AIza-test|
X-Got-Version:
X-Got-Body: {"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"maxOutputTokens":4096}}
Content-Type: application/json
--- response_body_like eval
AigwMock::created_re(q~{"id":"resp-1","object":"chat.completion","created":CREATED,"model":"gemini-2.0-flash","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":8,"completion_tokens":7,"total_tokens":15,"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":{"reasoning_tokens":4}}}~)
--- aigw_log eval
qr{^model=gemini upstream=gemini-2.0-flash channel=gem provider=gemini endpoint=chat stream=0 prompt=8 completion=7 cached=2 reasoning=4 total=15 status=200$}



=== TEST 2: system prompt, generation settings, tools, tool calls and results
--- request eval
"POST /v1/chat/completions\n" . '{"model":"gemini","max_tokens":100,"temperature":0.5,"top_p":0.9,"stop":"END","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Weather?"},{"type":"image_url","image_url":{"url":"data:image/jpeg;base64,/9j/4AAQ"}}]},{"role":"assistant","content":null,"tool_calls":[{"id":"call_7","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"call_7","content":"{\"temp\":18}"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"location":{"type":"string"}}}}}],"tool_choice":{"type":"function","function":{"name":"get_weather"}}}'
--- mock eval
AigwMock::mock_location("= /gem/v1beta/models/gemini-2.0-flash:generateContent",
                        pieces => [$::CALL_ANSWER])
--- response_headers
X-Got-Body: {"contents":[{"role":"user","parts":[{"text":"Weather?"},{"inlineData":{"mimeType":"image/jpeg","data":"/9j/4AAQ"}}]},{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"location":"Paris"}},"thoughtSignature":"skip_thought_signature_validator"}]},{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"temp":18}}}]}],"systemInstruction":{"parts":[{"text":"Be brief."}]},"generationConfig":{"temperature":0.5,"topP":0.9,"maxOutputTokens":100,"stopSequences":["END"]},"tools":[{"functionDeclarations":[{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"location":{"type":"string"}}}}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}}}
--- response_body_like eval
AigwMock::created_re(q~{"id":"chatcmpl-RID","object":"chat.completion","created":CREATED,"model":"gemini-2.0-flash","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_0_0","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":30,"completion_tokens":6,"total_tokens":36,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}~)



--- aigw_log eval
qr{ prompt=30 completion=6 cached=0 reasoning=0 total=36 status=200$}



=== TEST 3: a CRLF stream without [DONE] becomes OpenAI chunks and [DONE]
--- request eval
"POST /v1/chat/completions\n" . '{"model":"gemini","stream":true,"messages":[{"role":"user","content":"hi"}]}'
--- mock eval
AigwMock::mock_location("= /gem/v1beta/models/gemini-2.0-flash:streamGenerateContent",
                        type => "text/event-stream", pieces => [@::STREAM])
--- response_headers
X-Got-Uri: /gem/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse
Content-Type: text/event-stream
--- response_body_like eval
AigwMock::created_re(q~data: {"id":"chatcmpl-RID","object":"chat.completion.chunk","created":CREATED,"model":"gemini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-RID","object":"chat.completion.chunk","created":CREATED,"model":"gemini","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-RID","object":"chat.completion.chunk","created":CREATED,"model":"gemini","choices":[{"index":0,"delta":{"content":"lo!"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-RID","object":"chat.completion.chunk","created":CREATED,"model":"gemini","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}

data: [DONE]

~)



--- aigw_log eval
qr{ stream=1 prompt=8 completion=2 cached=0 reasoning=0 total=10 status=200$}



=== TEST 4: the same stream with include_usage, split inside CRLFs
--- request eval
"POST /v1/chat/completions\n" . '{"model":"gemini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}'
--- mock eval
my $s = join "", @::STREAM;
my $i = index($s, "\r\n\r\n") + 1;
AigwMock::mock_location("= /gem/v1beta/models/gemini-2.0-flash:streamGenerateContent",
    type => "text/event-stream",
    pieces => [substr($s, 0, $i), substr($s, $i, 2), substr($s, $i + 2)])
--- response_body_like eval
AigwMock::created_re(q~data: {"id":"chatcmpl-RID","object":"chat.completion.chunk","created":CREATED,"model":"gemini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-RID","object":"chat.completion.chunk","created":CREATED,"model":"gemini","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-RID","object":"chat.completion.chunk","created":CREATED,"model":"gemini","choices":[{"index":0,"delta":{"content":"lo!"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"chatcmpl-RID","object":"chat.completion.chunk","created":CREATED,"model":"gemini","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}],"usage":null}

data: {"id":"chatcmpl-RID","object":"chat.completion.chunk","created":CREATED,"model":"gemini","choices":[],"usage":{"prompt_tokens":8,"completion_tokens":2,"total_tokens":10,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}

data: [DONE]

~)



--- aigw_log eval
qr{ stream=1 prompt=8 completion=2 cached=0 reasoning=0 total=10 status=200$}



=== TEST 5: a stream that stops before a finishReason ends with an error
--- request eval
"POST /v1/chat/completions\n" . '{"model":"gemini","stream":true,"messages":[{"role":"user","content":"hi"}]}'
--- mock eval
AigwMock::mock_location("= /gem/v1beta/models/gemini-2.0-flash:streamGenerateContent",
                        type => "text/event-stream", pieces => [@::STREAM[0, 1]])
--- response_body_like eval
AigwMock::created_re(q~data: {"id":"chatcmpl-RID","object":"chat.completion.chunk","created":CREATED,"model":"gemini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-RID","object":"chat.completion.chunk","created":CREATED,"model":"gemini","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-RID","object":"chat.completion.chunk","created":CREATED,"model":"gemini","choices":[{"index":0,"delta":{"content":"lo!"},"logprobs":null,"finish_reason":null}]}

data: {"error":{"message":"The upstream stream ended before it was complete.","type":"api_error","param":null,"code":"upstream_error"}}

~)



--- error_log
ended before it was complete



=== TEST 6: embeddings through batchEmbedContents, usage estimated
--- request eval
"POST /v1/embeddings\n" . '{"model":"text-embedding","input":["hello world","bye"],"encoding_format":"float"}'
--- mock eval
AigwMock::mock_location("= /gem/v1beta/models/text-embedding-004:batchEmbedContents",
                        pieces => [$::EMBED_ANSWER])
--- response_headers
X-Got-Body: {"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"hello world"}]}},{"model":"models/text-embedding-004","content":{"parts":[{"text":"bye"}]}}]}
--- response_body chomp
{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5,-0.25]},{"object":"embedding","index":1,"embedding":[1,0]}],"model":"text-embedding","usage":{"prompt_tokens":4,"total_tokens":4}}
--- aigw_log eval
qr{^model=text-embedding upstream=text-embedding-004 channel=gem provider=gemini endpoint=embeddings stream=0 prompt=\d+ completion=0 }



=== TEST 7: embeddings as base64 (the OpenAI Node SDK's default)
--- request eval
"POST /v1/embeddings\n" . '{"model":"text-embedding","input":"hello","encoding_format":"base64"}'
--- mock eval
AigwMock::mock_location("= /gem/v1beta/models/text-embedding-004:batchEmbedContents",
                        pieces => ['{"embeddings":[{"values":[0.5,-0.25]}]}'])
--- response_body chomp
{"object":"list","data":[{"object":"embedding","index":0,"embedding":"AAAAPwAAgL4="}],"model":"text-embedding","usage":{"prompt_tokens":2,"total_tokens":2}}



=== TEST 8: a quota error keeps its status and message
--- mock eval
AigwMock::mock_location("= /gem/v1beta/models/gemini-2.0-flash:generateContent",
                        status => 429, headers => {"Retry-After" => "3"},
                        pieces => [$::QUOTA])
--- error_code: 429
--- response_headers
Retry-After: 3
--- response_body chomp
{"error":{"message":"Resource has been exhausted (e.g. check quota).","type":"rate_limit_exceeded","param":null,"code":"rate_limit_exceeded"}}



=== TEST 9: an invalid upstream key
--- mock eval
AigwMock::mock_location("= /gem/v1beta/models/gemini-2.0-flash:generateContent",
                        status => 400, pieces => [$::BADKEY])
--- error_code: 401
--- response_body chomp
{"error":{"message":"API key not valid. Please pass a valid API key.","type":"authentication_error","param":null,"code":"invalid_api_key"}}



=== TEST 10: a model name that would change the URL is refused (prefix route)
--- request eval
"POST /v1/chat/completions\n" . '{"model":"gem-x/../../v1/files?key=1","messages":[{"role":"user","content":"hi"}]}'
--- error_code: 400
--- response_body
{"error":{"message":"The model 'gem-x/../../v1/files?key=1' cannot name a gemini model in a URL: use letters, digits, '.', '_' and '-'.","type":"invalid_request_error","param":"model","code":"invalid_value"}}



=== TEST 11: a clean pass-through name goes into the path
--- request eval
"POST /v1/chat/completions\n" . '{"model":"gem-1.5-pro_latest","messages":[{"role":"user","content":"hi"}]}'
--- mock eval
AigwMock::mock_location("= /gem/v1beta/models/gem-1.5-pro_latest:generateContent",
                        pieces => [$::ANSWER])
--- response_headers
X-Got-Uri: /gem/v1beta/models/gem-1.5-pro_latest:generateContent



=== TEST 12: completions are not offered by Gemini channels
--- request eval
"POST /v1/completions\n" . '{"model":"gemini","prompt":"hi"}'
--- error_code: 400
--- response_body
{"error":{"message":"The model 'gemini' is served by a gemini channel, which does not offer /v1/completions.","type":"invalid_request_error","param":null,"code":"unsupported_endpoint"}}



=== TEST 13: a tool message whose call is unknown
--- request eval
"POST /v1/chat/completions\n" . '{"model":"gemini","messages":[{"role":"user","content":"hi"},{"role":"tool","tool_call_id":"nope","content":"x"}]}'
--- error_code: 400
--- response_body
{"error":{"message":"messages[1].tool_call_id does not match the id of a tool call of an earlier assistant message","type":"invalid_request_error","param":"messages[1].tool_call_id","code":"invalid_value"}}



=== TEST 14: a blocked prompt (no candidates) is a content_filter finish
--- mock eval
AigwMock::mock_location("= /gem/v1beta/models/gemini-2.0-flash:generateContent",
    pieces => ['{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":5,"totalTokenCount":5},"modelVersion":"gemini-2.0-flash"}'])
--- response_body_like eval
AigwMock::created_re(q~{"id":"chatcmpl-RID","object":"chat.completion","created":CREATED,"model":"gemini-2.0-flash","choices":[{"index":0,"message":{"role":"assistant","content":null},"logprobs":null,"finish_reason":"content_filter"}],"usage":{"prompt_tokens":5,"completion_tokens":0,"total_tokens":5,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}~)



=== TEST 15: an error inside the stream
--- request eval
"POST /v1/chat/completions\n" . '{"model":"gemini","stream":true,"messages":[{"role":"user","content":"hi"}]}'
--- mock eval
AigwMock::mock_location("= /gem/v1beta/models/gemini-2.0-flash:streamGenerateContent",
    type => "text/event-stream",
    pieces => [$::STREAM[0], "data: " . '{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}' . "\r\n\r\n"])
--- response_body_like eval
AigwMock::created_re(q~data: {"id":"chatcmpl-RID","object":"chat.completion.chunk","created":CREATED,"model":"gemini","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}

data: {"id":"chatcmpl-RID","object":"chat.completion.chunk","created":CREATED,"model":"gemini","choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}]}

data: {"error":{"message":"The model is overloaded.","type":"api_error","param":null,"code":null}}

~)



