# The Anthropic adapter: OpenAI chat requests to a channel whose provider is
# anthropic.  The mock provider reports the exact request it received (URI,
# credentials, anthropic-version, body) in X-Got-* headers and answers as
# Anthropic's Messages API does; the client must get OpenAI's shapes.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use AigwTest;
use AigwMock;

repeat_each(1);
no_long_string();
no_shuffle();


# A Messages answer, a stream and errors as Anthropic's reference shows them

our $ANSWER = '{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","type":"message",'
    . '"role":"assistant","model":"claude-sonnet-4-20250514","content":['
    . '{"type":"text","text":"Hello! How can I help?"}],'
    . '"stop_reason":"end_turn","stop_sequence":null,"usage":{'
    . '"input_tokens":12,"cache_creation_input_tokens":0,'
    . '"cache_read_input_tokens":4,"output_tokens":7}}';

our $TOOL_ANSWER = '{"id":"msg_01Aq9w938a90dw8q","type":"message",'
    . '"role":"assistant","model":"claude-sonnet-4-20250514","content":['
    . '{"type":"text","text":"Let me check."},'
    . '{"type":"tool_use","id":"toolu_01A09q90qw90lq917835lq9",'
    . '"name":"get_weather","input":{"location":"Paris, France"}}],'
    . '"stop_reason":"tool_use","stop_sequence":null,'
    . '"usage":{"input_tokens":380,"output_tokens":54}}';

sub ev { my ($name, $data) = @_; return "event: $name\ndata: $data\n\n" }

our @STREAM = (
    ev("message_start", '{"type":"message_start","message":{"id":'
       . '"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","type":"message",'
       . '"role":"assistant","content":[],"model":"claude-sonnet-4-20250514",'
       . '"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,'
       . '"cache_creation_input_tokens":0,"cache_read_input_tokens":0,'
       . '"output_tokens":1}}}'),
    ev("content_block_start", '{"type":"content_block_start","index":0,'
       . '"content_block":{"type":"text","text":""}}'),
    ev("ping", '{"type": "ping"}'),
    ev("content_block_delta", '{"type":"content_block_delta","index":0,'
       . '"delta":{"type":"text_delta","text":"Hello"}}'),
    ev("content_block_delta", '{"type":"content_block_delta","index":0,'
       . '"delta":{"type":"text_delta","text":"!"}}'),
    ev("content_block_stop", '{"type":"content_block_stop","index":0}'),
    ev("content_block_start", '{"type":"content_block_start","index":1,'
       . '"content_block":{"type":"tool_use","id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6",'
       . '"name":"get_weather","input":{}}}'),
    ev("content_block_delta", '{"type":"content_block_delta","index":1,'
       . '"delta":{"type":"input_json_delta","partial_json":"{\"location\": "}}'),
    ev("content_block_delta", '{"type":"content_block_delta","index":1,'
       . '"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}'),
    ev("content_block_stop", '{"type":"content_block_stop","index":1}'),
    ev("message_delta", '{"type":"message_delta","delta":{"stop_reason":'
       . '"tool_use","stop_sequence":null},"usage":{"output_tokens":15}}'),
    ev("message_stop", '{"type":"message_stop"}'),
);

our $STREAM = join "", @STREAM;

our $OVERLOADED = '{"type":"error","error":{"type":"overloaded_error",'
    . '"message":"Overloaded"}}';
our $RATE = '{"type":"error","error":{"type":"rate_limit_error",'
    . '"message":"Number of request tokens has exceeded your per-minute '
    . 'rate limit"}}';

our $CHAT = '{"model":"claude","messages":[{"role":"user","content":"hi"}]}';

setup_gateway(
    http_config => <<'_EOC_',
    aigw_channel ant {
        provider anthropic;
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ant/v1;
        key sk-ant-test;
    }
_EOC_
    location => 'aigw_model claude ant model=claude-sonnet-4-20250514;',
    request => "POST /v1/chat/completions\n$CHAT",
);

run_tests();

__DATA__

=== TEST 1: a plain chat: the exact Messages request, and OpenAI's answer
--- mock eval
AigwMock::mock_location("= /ant/v1/messages", pieces => [$::ANSWER])
--- response_headers
X-Got-Uri: /ant/v1/messages
X-Got-Auth:
X-Got-Keys: sk-ant-test||
X-Got-Version: 2023-06-01
X-Got-Body: {"model":"claude-sonnet-4-20250514","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}
Content-Type: application/json
--- response_body_like: ^\{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","object":"chat.completion","created":\d+,"model":"claude-sonnet-4-20250514","choices":\[\{"index":0,"message":\{"role":"assistant","content":"Hello! How can I help\?"\},"logprobs":null,"finish_reason":"stop"\}\],"usage":\{"prompt_tokens":16,"completion_tokens":7,"total_tokens":23,"prompt_tokens_details":\{"cached_tokens":4\},"completion_tokens_details":\{"reasoning_tokens":0\}\}\}$
--- aigw_log eval
qr{^model=claude upstream=claude-sonnet-4-20250514 channel=ant provider=anthropic endpoint=chat stream=0 prompt=16 completion=7 cached=4 reasoning=0 total=23 status=200$}



=== TEST 2: system prompts, images, stop, tools, tool calls and results
--- request eval
"POST /v1/chat/completions\n" . '{"model":"claude","max_tokens":300,"temperature":0.2,"stop":["END"],"user":"u-42","messages":[{"role":"system","content":"Be brief."},{"role":"developer","content":"Use metric units."},{"role":"user","content":[{"type":"text","text":"Weather here?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]},{"role":"user","content":"Please."},{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}}]},{"role":"tool","tool_call_id":"call_1","content":"18C, sunny"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather of a city","parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}}],"tool_choice":"required"}'
--- mock eval
AigwMock::mock_location("= /ant/v1/messages", pieces => [$::TOOL_ANSWER])
--- response_headers
X-Got-Body: {"model":"claude-sonnet-4-20250514","max_tokens":300,"system":[{"type":"text","text":"Be brief."},{"type":"text","text":"Use metric units."}],"messages":[{"role":"user","content":[{"type":"text","text":"Weather here?"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},{"type":"text","text":"Please."}]},{"role":"assistant","content":[{"type":"tool_use","id":"call_1","name":"get_weather","input":{"location":"Paris"}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"18C, sunny"}]}],"stop_sequences":["END"],"temperature":0.2,"tools":[{"name":"get_weather","description":"Weather of a city","input_schema":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}],"tool_choice":{"type":"any"},"metadata":{"user_id":"u-42"}}
--- response_body_like: ^\{"id":"msg_01Aq9w938a90dw8q","object":"chat.completion","created":\d+,"model":"claude-sonnet-4-20250514","choices":\[\{"index":0,"message":\{"role":"assistant","content":"Let me check.","tool_calls":\[\{"id":"toolu_01A09q90qw90lq917835lq9","type":"function","function":\{"name":"get_weather","arguments":"\{\\"location\\":\\"Paris, France\\"\}"\}\}\]\},"logprobs":null,"finish_reason":"tool_calls"\}\],"usage":\{"prompt_tokens":380,"completion_tokens":54,"total_tokens":434,.*\}$
--- aigw_log eval
qr{ prompt=380 completion=54 cached=0 reasoning=0 total=434 status=200$}



=== TEST 3: a stream becomes OpenAI chunks ending in [DONE], without usage
--- request eval
"POST /v1/chat/completions\n" . '{"model":"claude","stream":true,"messages":[{"role":"user","content":"hi"}]}'
--- mock eval
AigwMock::mock_location("= /ant/v1/messages", type => "text/event-stream",
                        pieces => [@::STREAM])
--- response_headers
Content-Type: text/event-stream
X-Got-Body: {"model":"claude-sonnet-4-20250514","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}],"stream":true}
--- response_body_like eval
AigwMock::created_re(q~data: {"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":CREATED,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}

data: {"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":CREATED,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}

data: {"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":CREATED,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"delta":{"content":"!"},"logprobs":null,"finish_reason":null}]}

data: {"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":CREATED,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":CREATED,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"location\": "}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":CREATED,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}]}

data: {"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":CREATED,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}]}

data: [DONE]

~)
--- aigw_log eval
qr{ stream=1 prompt=25 completion=15 cached=0 reasoning=0 total=40 status=200$}



=== TEST 4: a stream with include_usage, split at odd places
--- request eval
"POST /v1/chat/completions\n" . '{"model":"claude","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}'
--- mock eval
my $s = $::STREAM;
AigwMock::mock_location("= /ant/v1/messages", type => "text/event-stream",
                        pieces => [substr($s, 0, 7), substr($s, 7, 300),
                                   substr($s, 307, 1), substr($s, 308)])
--- response_body_like eval
AigwMock::created_re(q~data: {"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":CREATED,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":CREATED,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":CREATED,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"delta":{"content":"!"},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":CREATED,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"toolu_01T1x1fJ34qAmk2tNTrN7Up6","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":CREATED,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"location\": "}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":CREATED,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}

data: {"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":CREATED,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}

data: {"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":CREATED,"model":"claude-sonnet-4-20250514","choices":[],"usage":{"prompt_tokens":25,"completion_tokens":15,"total_tokens":40,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}

data: [DONE]

~)
--- aigw_log eval
qr{ stream=1 prompt=25 completion=15 cached=0 reasoning=0 total=40 status=200$}



=== TEST 5: 529 overloaded becomes a retryable 503 in OpenAI's shape
--- mock eval
AigwMock::mock_location("= /ant/v1/messages", status => 529,
                        pieces => [$::OVERLOADED])
--- error_code: 503
--- response_headers
Content-Type: application/json
--- response_body chomp
{"error":{"message":"Overloaded","type":"api_error","param":null,"code":"overloaded"}}
=== TEST 6: a 429 keeps its reason and Retry-After
--- mock eval
AigwMock::mock_location("= /ant/v1/messages", status => 429,
                        headers => {"Retry-After" => "17"},
                        pieces => [$::RATE])
--- error_code: 429
--- response_headers
Retry-After: 17
--- response_body chomp
{"error":{"message":"Number of request tokens has exceeded your per-minute rate limit","type":"rate_limit_exceeded","param":null,"code":"rate_limit_exceeded"}}
=== TEST 7: an error body that is not JSON
--- mock eval
AigwMock::mock_location("= /ant/v1/messages", status => 500,
                        type => "text/html", pieces => ["<html>oops</html>"])
--- error_code: 500
--- response_body chomp
{"error":{"message":"upstream error (HTTP 500)","type":"api_error","param":null,"code":null}}
=== TEST 8: a 200 answer that is not a Messages response is a 502
--- mock eval
AigwMock::mock_location("= /ant/v1/messages", pieces => ['{"hello":1}'])
--- error_code: 502
--- response_body chomp
{"error":{"message":"The upstream provider sent an answer that could not be translated.","type":"api_error","param":null,"code":"upstream_error"}}
--- error_log
could not be translated



=== TEST 9: an answer over aigw_max_response_size is a 502
--- gw_config
aigw_max_response_size 64;
--- mock eval
AigwMock::mock_location("= /ant/v1/messages", pieces => [$::ANSWER])
--- error_code: 502
--- response_body chomp
{"error":{"message":"The upstream answer is larger than the gateway can translate (aigw_max_response_size).","type":"api_error","param":null,"code":"upstream_error"}}
--- error_log
larger than aigw_max_response_size 64



=== TEST 10: a stream cut before message_stop ends with an error event
--- request eval
"POST /v1/chat/completions\n" . '{"model":"claude","stream":true,"messages":[{"role":"user","content":"hi"}]}'
--- mock eval
AigwMock::mock_location("= /ant/v1/messages", type => "text/event-stream",
                        pieces => [@::STREAM[0 .. 4]])
--- response_body_like eval
AigwMock::created_re(q~data: {"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":CREATED,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}

data: {"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":CREATED,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}

data: {"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":CREATED,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"delta":{"content":"!"},"logprobs":null,"finish_reason":null}]}

data: {"error":{"message":"The upstream stream ended before it was complete.","type":"api_error","param":null,"code":"upstream_error"}}

~)
--- error_log
ended before it was complete
--- aigw_log eval
qr{ stream=1 prompt=25 completion=1 }



=== TEST 11: an error event in the middle of a stream
--- request eval
"POST /v1/chat/completions\n" . '{"model":"claude","stream":true,"messages":[{"role":"user","content":"hi"}]}'
--- mock eval
AigwMock::mock_location("= /ant/v1/messages", type => "text/event-stream",
    pieces => [@::STREAM[0 .. 3],
               "event: error\ndata: " . $::OVERLOADED . "\n\n"])
--- response_body_like eval
AigwMock::created_re(q~data: {"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":CREATED,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}

data: {"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":CREATED,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}

data: {"error":{"message":"Overloaded","type":"api_error","param":null,"code":"overloaded"}}

~)
=== TEST 12: completions are not offered by Anthropic channels
--- request eval
"POST /v1/completions\n" . '{"model":"claude","prompt":"hi"}'
--- mock eval
AigwMock::mock_location("= /ant/v1/messages", pieces => [$::ANSWER])
--- error_code: 400
--- response_body
{"error":{"message":"The model 'claude' is served by a anthropic channel, which does not offer /v1/completions.","type":"invalid_request_error","param":null,"code":"unsupported_endpoint"}}



=== TEST 13: tool arguments that are not JSON are the client's error
--- request eval
"POST /v1/chat/completions\n" . '{"model":"claude","messages":[{"role":"user","content":"hi"},{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{oops"}}]}]}'
--- mock eval
AigwMock::mock_location("= /ant/v1/messages", pieces => [$::ANSWER])
--- error_code: 400
--- response_body
{"error":{"message":"The arguments of a tool call must be a JSON object, encoded as a string.","type":"invalid_request_error","param":"messages[1].tool_calls[0].function.arguments","code":"invalid_value"}}

=== TEST 14: an image part of an unknown type names its parameter
--- request eval
"POST /v1/chat/completions\n" . '{"model":"claude","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AAAA","format":"wav"}}]}]}'
--- mock eval
AigwMock::mock_location("= /ant/v1/messages", pieces => [$::ANSWER])
--- error_code: 400
--- response_body
{"error":{"message":"Content parts of type 'input_audio' are not supported in this message for this model.","type":"invalid_request_error","param":"messages[0].content[0].type","code":"invalid_value"}}

=== TEST 15: a streamed answer larger than one event is refused cleanly
--- gw_config
aigw_max_event_size 512;
--- request eval
"POST /v1/chat/completions\n" . '{"model":"claude","stream":true,"messages":[{"role":"user","content":"hi"}]}'
--- mock eval
AigwMock::mock_location("= /ant/v1/messages", type => "text/event-stream",
    pieces => [$::STREAM[0], $::STREAM[1],
               'event: content_block_delta' . "\n" . 'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"' . ("x" x 600) . '"}}' . "\n\n",
               @::STREAM[10 .. 11]])
--- response_body_like eval
AigwMock::created_re(q~data: {"id":"msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY","object":"chat.completion.chunk","created":CREATED,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}

data: {"error":{"message":"The upstream provider sent a stream event larger than the gateway can translate.","type":"api_error","param":null,"code":"upstream_error"}}

~)
--- error_log
larger than aigw_max_event_size



=== TEST 16: the channel's own anthropic-version header wins
--- http_extra
    aigw_channel ant2 {
        provider anthropic;
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ant/v1;
        key sk-ant-two;
        header anthropic-version 2024-01-01;
    }
--- gw_config
aigw_model claude2 ant2;
--- request eval
"POST /v1/chat/completions\n" . '{"model":"claude2","messages":[{"role":"user","content":"hi"}]}'
--- mock eval
AigwMock::mock_location("= /ant/v1/messages", pieces => [$::ANSWER])
--- response_headers
X-Got-Version: 2024-01-01
X-Got-Keys: sk-ant-two||



=== TEST 17: the provider refusing the channel's key is a 502, not a 401
--- mock eval
AigwMock::mock_location("= /ant/v1/messages", status => 401,
    pieces => ['{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key sk-ant-te...test"}}'])
--- error_code: 502
--- response_body
{"error":{"message":"The upstream provider refused the gateway's credentials for this model's channel.","type":"api_error","param":null,"code":"upstream_auth_failed"}}
--- error_log
channel "ant" refused its upstream key (401)
