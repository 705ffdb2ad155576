# Anthropic-format clients on POST /v1/messages: passed through to an
# Anthropic channel (model renamed, usage read on the way), translated to
# OpenAI (and by the channel's adapter, e.g. Gemini) for the others, with
# the answer, the stream and every error turned back into Anthropic's.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use AigwTest;
use AigwMock;

repeat_each(1);
no_long_string();
no_shuffle();


our $REQ = '{"model":"claude","max_tokens":256,"system":[{"type":"text",'
    . '"text":"Be brief.","cache_control":{"type":"ephemeral"}}],'
    . '"messages":[{"role":"user","content":"Hello"}]}';

our $SREQ = '{"model":"claude","max_tokens":256,"stream":true,'
    . '"messages":[{"role":"user","content":"Hello"}]}';

our $ANT_ANSWER = '{"id":"msg_01","type":"message","role":"assistant",'
    . '"model":"claude-sonnet-4-20250514","content":[{"type":"text",'
    . '"text":"Hi!"}],"stop_reason":"end_turn","stop_sequence":null,'
    . '"usage":{"input_tokens":10,"cache_creation_input_tokens":3,'
    . '"cache_read_input_tokens":5,"output_tokens":2}}';

sub ev { my ($name, $data) = @_; return "event: $name\ndata: $data\n\n" }

our @ANT_STREAM = (
    ev("message_start", '{"type":"message_start","message":{"id":"msg_02",'
       . '"type":"message","role":"assistant","content":[],"model":'
       . '"claude-sonnet-4-20250514","stop_reason":null,"stop_sequence":null,'
       . '"usage":{"input_tokens":11,"output_tokens":1}}}'),
    ev("content_block_start", '{"type":"content_block_start","index":0,'
       . '"content_block":{"type":"text","text":""}}'),
    ev("content_block_delta", '{"type":"content_block_delta","index":0,'
       . '"delta":{"type":"text_delta","text":"Hi"}}'),
    ev("content_block_stop", '{"type":"content_block_stop","index":0}'),
    ev("message_delta", '{"type":"message_delta","delta":{"stop_reason":'
       . '"end_turn","stop_sequence":null},"usage":{"output_tokens":4}}'),
    ev("message_stop", '{"type":"message_stop"}'),
);

our $OAI_ANSWER = '{"id":"chatcmpl-9","object":"chat.completion",'
    . '"created":1727000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,'
    . '"message":{"role":"assistant","content":"Hi there"},"logprobs":null,'
    . '"finish_reason":"stop"}],"usage":{"prompt_tokens":20,'
    . '"completion_tokens":3,"total_tokens":23,"prompt_tokens_details":'
    . '{"cached_tokens":8}}}';

my $h = '{"id":"chatcmpl-9","object":"chat.completion.chunk",'
      . '"created":1727000000,"model":"gpt-4o-2024-08-06",';
our @OAI_STREAM = (
    "data: $h" . '"choices":[{"index":0,"delta":{"role":"assistant",'
    . '"content":""},"finish_reason":null}],"usage":null}' . "\n\n",
    "data: $h" . '"choices":[{"index":0,"delta":{"content":"Hi"},'
    . '"finish_reason":null}],"usage":null}' . "\n\n",
    "data: $h" . '"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,'
    . '"id":"call_1","type":"function","function":{"name":"get_weather",'
    . '"arguments":""}}]},"finish_reason":null}],"usage":null}' . "\n\n",
    "data: $h" . '"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,'
    . '"function":{"arguments":"{\"city\":\"Paris\"}"}}]},'
    . '"finish_reason":null}],"usage":null}' . "\n\n",
    "data: $h" . '"choices":[{"index":0,"delta":{},"finish_reason":'
    . '"tool_calls"}],"usage":null}' . "\n\n",
    "data: $h" . '"choices":[],"usage":{"prompt_tokens":20,'
    . '"completion_tokens":9,"total_tokens":29}}' . "\n\n",
    "data: [DONE]\n\n",
);

our @GEM_STREAM = (
    "data: " . '{"candidates":[{"content":{"parts":[{"text":"Bonjour"}],'
    . '"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":'
    . '{"promptTokenCount":6,"candidatesTokenCount":2,"totalTokenCount":8},'
    . '"modelVersion":"gemini-2.0-flash"}' . "\r\n\r\n",
);

setup_gateway(
    http_config => <<'_EOC_',
    aigw_channel ant {
        provider anthropic;
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ant/v1;
        key sk-ant-test;
    }
    aigw_channel oai {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/oai/v1;
        key sk-oai-test;
    }
    aigw_channel gem {
        provider gemini;
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/gem/v1beta;
        key AIza-test;
    }
_EOC_
    location => 'aigw_model claude ant model=claude-sonnet-4-20250514;
        aigw_model gpt oai model=gpt-4o;
        aigw_model gemini gem model=gemini-2.0-flash;',
    request => "POST /v1/messages\n$REQ",
    more_headers => "x-api-key: sk-test-all\nanthropic-version: 2023-06-01\n"
                    . "Content-Type: application/json\n",
);

run_tests();

__DATA__

=== TEST 1: to an Anthropic channel: passed through, model renamed
--- mock eval
AigwMock::mock_location("= /ant/v1/messages", pieces => [$::ANT_ANSWER])
--- response_headers
X-Got-Uri: /ant/v1/messages
X-Got-Keys: sk-ant-test||
X-Got-Version: 2023-06-01
X-Got-Body: {"model":"claude-sonnet-4-20250514","max_tokens":256,"system":[{"type":"text","text":"Be brief.","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"Hello"}]}
--- response_body eval
$::ANT_ANSWER
--- aigw_log eval
qr{^model=claude upstream=claude-sonnet-4-20250514 channel=ant provider=anthropic endpoint=messages stream=0 prompt=18 completion=2 cached=5 reasoning=0 total=20 status=200$}



=== TEST 2: a stream to an Anthropic channel passes untouched; usage read
--- request eval
"POST /v1/messages\n$::SREQ"
--- mock eval
AigwMock::mock_location("= /ant/v1/messages", type => "text/event-stream",
                        pieces => [@::ANT_STREAM])
--- response_body eval
join "", @::ANT_STREAM
--- aigw_log eval
qr{ endpoint=messages stream=1 prompt=11 completion=4 cached=0 reasoning=0 total=15 status=200$}



=== TEST 3: to an OpenAI channel: translated there and back
--- request eval
"POST /v1/messages\n" . '{"model":"gpt","max_tokens":256,"system":"Be brief.","messages":[{"role":"user","content":"Hello"}]}'
--- mock eval
AigwMock::mock_location("= /oai/v1/chat/completions", pieces => [$::OAI_ANSWER])
--- response_headers
X-Got-Uri: /oai/v1/chat/completions
X-Got-Auth: Bearer sk-oai-test
X-Got-Keys: ||
X-Got-Body: {"model":"gpt-4o","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hello"}],"max_tokens":256}
Content-Type: application/json
--- response_body_like eval
AigwMock::created_re(q~{"id":"msg_RID","type":"message","role":"assistant","model":"gpt","content":[{"type":"text","text":"Hi there"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":12,"output_tokens":3,"cache_read_input_tokens":8,"cache_creation_input_tokens":0}}~)
--- aigw_log eval
qr{^model=gpt upstream=gpt-4o channel=oai provider=openai endpoint=messages stream=0 prompt=20 completion=3 cached=8 reasoning=0 total=23 status=200$}



=== TEST 4: an OpenAI stream becomes Anthropic's named events
--- request eval
"POST /v1/messages\n" . '{"model":"gpt","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"Hello"}]}'
--- mock eval
AigwMock::mock_location("= /oai/v1/chat/completions", type => "text/event-stream",
                        pieces => [@::OAI_STREAM])
--- response_headers
X-Got-Body: {"model":"gpt-4o","messages":[{"role":"user","content":"Hello"}],"max_tokens":256,"stream":true,"stream_options":{"include_usage":true}}
Content-Type: text/event-stream
--- response_body_like eval
AigwMock::created_re(q~event: message_start
data: {"type":"message_start","message":{"id":"msg_RID","type":"message","role":"assistant","model":"gpt","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}

event: ping
data: {"type":"ping"}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: content_block_start
data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"call_1","name":"get_weather","input":{}}}

event: content_block_delta
data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\":\"Paris\"}"}}

event: content_block_stop
data: {"type":"content_block_stop","index":1}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":20,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":9}}

event: message_stop
data: {"type":"message_stop"}

~)
--- aigw_log eval
qr{ endpoint=messages stream=1 prompt=20 completion=9 cached=0 reasoning=0 total=29 status=200$}



=== TEST 5: to a Gemini channel: two translations each way, streamed
--- request eval
"POST /v1/messages\n" . '{"model":"gemini","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"Hello"}]}'
--- mock eval
AigwMock::mock_location("= /gem/v1beta/models/gemini-2.0-flash:streamGenerateContent",
                        type => "text/event-stream", pieces => [@::GEM_STREAM])
--- response_headers
X-Got-Body: {"contents":[{"role":"user","parts":[{"text":"Hello"}]}],"generationConfig":{"maxOutputTokens":64}}
--- response_body_like eval
AigwMock::created_re(q~event: message_start
data: {"type":"message_start","message":{"id":"msg_RID","type":"message","role":"assistant","model":"gemini","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}

event: ping
data: {"type":"ping"}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Bonjour"}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":6,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":2}}

event: message_stop
data: {"type":"message_stop"}

~)
--- aigw_log eval
qr{ provider=gemini endpoint=messages stream=1 prompt=6 completion=2 cached=0 reasoning=0 total=8 status=200$}



=== TEST 6: the gateway's own errors are Anthropic-shaped: no key
--- more_headers
Content-Type: application/json
--- error_code: 401
--- response_body chomp
{"type":"error","error":{"type":"authentication_error","message":"You didn't provide an API key. Send it in the Authorization header as 'Bearer sk-...', or in the x-api-key header."}}



=== TEST 7: an unknown model
--- request eval
"POST /v1/messages\n" . '{"model":"nope","max_tokens":10,"messages":[{"role":"user","content":"x"}]}'
--- error_code: 404
--- response_body chomp
{"type":"error","error":{"type":"not_found_error","message":"The model 'nope' does not exist or is not served here."}}



=== TEST 8: malformed JSON
--- request eval
"POST /v1/messages\n" . '{"model":"claude",'
--- error_code: 400
--- response_body chomp
{"type":"error","error":{"type":"invalid_request_error","message":"We could not parse the JSON body of your request: expected a quoted key at byte 18."}}



=== TEST 9: max_tokens is required by the Messages API
--- request eval
"POST /v1/messages\n" . '{"model":"gpt","messages":[{"role":"user","content":"x"}]}'
--- error_code: 400
--- response_body chomp
{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: field required"}}



=== TEST 10: an upstream OpenAI 429 becomes Anthropic's rate_limit_error
--- request eval
"POST /v1/messages\n" . '{"model":"gpt","max_tokens":10,"messages":[{"role":"user","content":"x"}]}'
--- mock eval
AigwMock::mock_location("= /oai/v1/chat/completions", status => 429,
    headers => {"Retry-After" => "9"},
    pieces => ['{"error":{"message":"Rate limit reached for gpt-4o","type":"requests","param":null,"code":"rate_limit_exceeded"}}'])
--- error_code: 429
--- response_headers
Retry-After: 9
--- response_body chomp
{"type":"error","error":{"type":"rate_limit_error","message":"Rate limit reached for gpt-4o"}}



=== TEST 11: an upstream that is down: nginx's 502, Anthropic-shaped
--- request eval
"POST /v1/messages\n" . '{"model":"gpt-dead","max_tokens":10,"messages":[{"role":"user","content":"x"}]}'
--- http_extra
    aigw_channel dead {
        endpoint http://127.0.0.1:1/v1;
        key k;
    }
--- gw_config
aigw_model gpt-dead dead;
--- error_code: 502
--- response_body chomp
{"type":"error","error":{"type":"api_error","message":"The upstream provider could not be reached or sent an invalid response."}}
--- error_log
connect() failed



=== TEST 12: an OpenAI stream cut short ends with an Anthropic error event
--- request eval
"POST /v1/messages\n" . '{"model":"gpt","max_tokens":256,"stream":true,"messages":[{"role":"user","content":"Hello"}]}'
--- mock eval
AigwMock::mock_location("= /oai/v1/chat/completions", type => "text/event-stream",
                        pieces => [@::OAI_STREAM[0, 1]])
--- response_body_like eval
AigwMock::created_re(q~event: message_start
data: {"type":"message_start","message":{"id":"msg_RID","type":"message","role":"assistant","model":"gpt","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":0,"output_tokens":0}}}

event: ping
data: {"type":"ping"}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}

event: error
data: {"type":"error","error":{"type":"api_error","message":"The upstream stream ended before it was complete."}}

~)
--- error_log
ended before it was complete



=== TEST 13: tool use history and tool results from Claude Code
--- request eval
"POST /v1/messages\n" . '{"model":"gpt","max_tokens":100,"tools":[{"name":"Read","description":"Read a file","input_schema":{"type":"object","properties":{"path":{"type":"string"}}}}],"messages":[{"role":"user","content":[{"type":"text","text":"Open a.txt"}]},{"role":"assistant","content":[{"type":"text","text":"Reading."},{"type":"tool_use","id":"toolu_1","name":"Read","input":{"path":"a.txt"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"hello"},{"type":"text","text":"Summarise."}]}]}'
--- mock eval
AigwMock::mock_location("= /oai/v1/chat/completions", pieces => [$::OAI_ANSWER])
--- response_headers
X-Got-Body: {"model":"gpt-4o","messages":[{"role":"user","content":"Open a.txt"},{"role":"assistant","content":"Reading.","tool_calls":[{"id":"toolu_1","type":"function","function":{"name":"Read","arguments":"{\"path\":\"a.txt\"}"}}]},{"role":"tool","tool_call_id":"toolu_1","content":"hello"},{"role":"user","content":"Summarise."}],"max_tokens":100,"tools":[{"type":"function","function":{"name":"Read","description":"Read a file","parameters":{"type":"object","properties":{"path":{"type":"string"}}}}}]}



=== TEST 14: a key that may not use the model
--- more_headers
x-api-key: sk-test-limited
Content-Type: application/json
--- error_code: 403
--- response_body chomp
{"type":"error","error":{"type":"permission_error","message":"This API key is not allowed to use the model 'claude'."}}



=== TEST 15: count_tokens answers the gateway's estimate
--- request eval
"POST /v1/messages/count_tokens\n" . '{"model":"claude","messages":[{"role":"user","content":"Hello, how are you today?"}]}'
--- response_headers
Content-Type: application/json
--- response_body_like: ^\{"input_tokens":\d+\}$
--- aigw_log eval
qr{^model=- upstream=- channel=- provider=- endpoint=count_tokens stream=- prompt=- .* status=200$}



=== TEST 16: count_tokens with a body that is not JSON
--- request eval
"POST /v1/messages/count_tokens\n" . '{"model":'
--- error_code: 400
--- response_body_like: ^\{"type":"error","error":\{"type":"invalid_request_error","message":"We could not parse the JSON body
