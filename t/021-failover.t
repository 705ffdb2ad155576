# Failover: an attempt that fails before any byte reached the client (a
# connect error, a timeout, 429 or 5xx) goes to another channel of the
# model — never the one that just failed, lower priority tiers once the
# top one is exhausted — with the body and headers rebuilt for that
# channel's provider.  The last possible attempt is not intercepted: the
# client gets the real answer (a 429 keeps its reason and Retry-After).

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use AigwTest;
use AigwMock;

repeat_each(1);
no_long_string();
no_shuffle();

our $OK = '{"id":"chatcmpl-1","object":"chat.completion","created":1,'
    . '"model":"m","choices":[{"index":0,"message":{"role":"assistant",'
    . '"content":"from B"},"finish_reason":"stop"}],"usage":{'
    . '"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}';

our $ANT_OK = '{"id":"msg_1","type":"message","role":"assistant",'
    . '"model":"claude-x","content":[{"type":"text","text":"from C"}],'
    . '"stop_reason":"end_turn","stop_sequence":null,"usage":{'
    . '"input_tokens":4,"output_tokens":1}}';

our $RATE = '{"error":{"message":"Rate limit reached for requests",'
    . '"type":"requests","param":null,"code":"rate_limit_exceeded"}}';

our $FAILOVER = do {
    open my $f, '<', "$ENV{TEST_NGINX_AIGW_ROOT}/conf-examples/aigw_failover.conf"
        or die "aigw_failover.conf: $!";
    local $/;
    <$f>;
};

add_block_preprocessor(sub {
    my $block = shift;
    (my $f = $::FAILOVER) =~
        s/(aigw_failover_stage \w+;)/$1\n    access_log logs\/aigw.log aigw_t;/g;
    $block->set_value("config", ($block->config // "") . $f);
});

setup_gateway(
    log_format => <<'_EOC_',
    log_format aigw_t 'model=$aigw_model channel=$aigw_channel '
                      'provider=$aigw_provider '
                      'attempts=$aigw_attempts tried=$aigw_channels_tried '
                      'prompt=$aigw_prompt_tokens '
                      'completion=$aigw_completion_tokens status=$status';
_EOC_
    http_config => <<'_EOC_',
    aigw_channel a {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/a/v1;
        key sk-a;
    }
    aigw_channel b {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/b/v1;
        key sk-b;
    }
    aigw_channel c {
        provider anthropic;
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/c/v1;
        key sk-c;
    }
    aigw_channel down {
        endpoint http://127.0.0.1:1/v1;
        key sk-down;
    }
_EOC_
    location => '',
    request => "POST /v1/chat/completions\n"
               . '{"model":"m","messages":[{"role":"user","content":"hi"}]}',
);


run_tests();

__DATA__

=== TEST 1: a 500 fails over to the lower tier
--- gw_config
aigw_failover_attempts 3;
aigw_model m a priority=10;
aigw_model m b priority=0;
--- mock eval
AigwMock::mock_location("= /a/v1/chat/completions", status => 500,
                        pieces => ['{"error":{"message":"boom"}}'])
. AigwMock::mock_location("= /b/v1/chat/completions", pieces => [$::OK])
--- response_headers
X-Got-Uri: /b/v1/chat/completions
X-Got-Auth: Bearer sk-b
--- response_body eval
$::OK
--- aigw_log eval
qr{^model=m channel=b provider=openai attempts=2 tried=a,b prompt=3 completion=2 status=200$}
--- error_log
channel "a" failed with 500, attempt 1 of model "m"
--- no_error_log
[alert]



=== TEST 2: a connect error fails over
--- gw_config
aigw_failover_attempts 3;
aigw_model m down priority=10;
aigw_model m b priority=0;
--- mock eval
AigwMock::mock_location("= /b/v1/chat/completions", pieces => [$::OK])
--- response_body eval
$::OK
--- aigw_log eval
qr{ channel=b provider=openai attempts=2 tried=down,b }
--- error_log
channel "down" failed with 502



=== TEST 3: when every channel fails, the last answer is the real one
--- gw_config
aigw_failover_attempts 3;
aigw_model m a priority=10;
aigw_model m b priority=0;
--- mock eval
AigwMock::mock_location("= /a/v1/chat/completions", status => 503,
                        pieces => ['{"error":{"message":"overloaded"}}'])
. AigwMock::mock_location("= /b/v1/chat/completions", status => 429,
                          headers => {"Retry-After" => "7"},
                          pieces => [$::RATE])
--- error_code: 429
--- response_headers
Retry-After: 7
X-Got-Auth: Bearer sk-b
--- response_body eval
$::RATE
--- aigw_log eval
qr{ attempts=2 tried=a,b .* status=429$}



=== TEST 4: attempts are bounded; the failed channel is never retried
--- gw_config
aigw_failover_attempts 2;
aigw_model m a priority=10;
aigw_model m down priority=5;
aigw_model m b priority=0;
--- mock eval
AigwMock::mock_location("= /a/v1/chat/completions", status => 500,
                        pieces => ['{"error":{"message":"boom"}}'])
. AigwMock::mock_location("= /b/v1/chat/completions", pieces => [$::OK])
--- error_code: 502
--- response_body
{"error":{"message":"The upstream provider could not be reached or sent an invalid response.","type":"api_error","param":null,"code":"upstream_error"}}
--- aigw_log eval
qr{ channel=down provider=openai attempts=2 tried=a,down }
--- error_log
connect() failed
--- no_error_log
[alert]



=== TEST 5: a client error is not retried
--- gw_config
aigw_failover_attempts 3;
aigw_model m a priority=10;
aigw_model m b priority=0;
--- mock eval
AigwMock::mock_location("= /a/v1/chat/completions", status => 400,
                        pieces => ['{"error":{"message":"bad"}}'])
. AigwMock::mock_location("= /b/v1/chat/completions", pieces => [$::OK])
--- error_code: 400
--- response_body chomp
{"error":{"message":"bad"}}
--- aigw_log eval
qr{ attempts=1 tried=a }



=== TEST 6: the next channel gets a body for its own provider
--- gw_config
aigw_failover_attempts 3;
aigw_model m a priority=10;
aigw_model m c priority=0 model=claude-x;
--- mock eval
AigwMock::mock_location("= /a/v1/chat/completions", status => 502,
                        pieces => ['{"error":{"message":"bad gateway"}}'])
. AigwMock::mock_location("= /c/v1/messages", pieces => [$::ANT_OK])
--- response_headers
X-Got-Uri: /c/v1/messages
X-Got-Auth:
X-Got-Keys: sk-c||
X-Got-Version: 2023-06-01
X-Got-Body: {"model":"claude-x","max_tokens":4096,"messages":[{"role":"user","content":[{"type":"text","text":"hi"}]}]}
--- response_body_like: "content":"from C"
--- aigw_log eval
qr{ channel=c provider=anthropic attempts=2 tried=a,c prompt=4 completion=1 status=200$}



=== TEST 7: and back: Anthropic fails, the OpenAI channel gets OpenAI's body
--- gw_config
aigw_failover_attempts 3;
aigw_model m c priority=10 model=claude-x;
aigw_model m a priority=0;
--- mock eval
AigwMock::mock_location("= /c/v1/messages", status => 529,
    pieces => ['{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'])
. AigwMock::mock_location("= /a/v1/chat/completions", pieces => [$::OK])
--- response_headers
X-Got-Auth: Bearer sk-a
X-Got-Keys: ||
X-Got-Version:
X-Got-Body: {"model":"m","messages":[{"role":"user","content":"hi"}]}
--- response_body eval
$::OK
--- error_log
channel "c" failed with 529



=== TEST 8: a stream that has not started fails over too
--- request eval
"POST /v1/chat/completions\n" . '{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}'
--- gw_config
aigw_failover_attempts 3;
aigw_model m a priority=10;
aigw_model m b priority=0;
--- mock eval
AigwMock::mock_location("= /a/v1/chat/completions", status => 500,
                        pieces => ['{"error":{"message":"boom"}}'])
. AigwMock::mock_location("= /b/v1/chat/completions", type => "text/event-stream",
    pieces => ['data: {"choices":[{"index":0,"delta":{"content":"x"}}]}' . "\n\n",
               "data: [DONE]\n\n"])
--- response_body eval
'data: {"choices":[{"index":0,"delta":{"content":"x"}}]}' . "\n\ndata: [DONE]\n\n"
--- aigw_log eval
qr{ channel=b provider=openai attempts=2 tried=a,b }



=== TEST 9: a stream whose first byte does not come in time fails over
--- request eval
"POST /v1/chat/completions\n" . '{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}'
--- gw_config
aigw_failover_attempts 3;
aigw_stream_first_byte_timeout 300ms;
aigw_model m a priority=10;
aigw_model m b priority=0;
--- mock eval
"    location = /a/v1/chat/completions {\n        echo_read_request_body;\n        echo_sleep 3;\n        echo late;\n    }\n"
. AigwMock::mock_location("= /b/v1/chat/completions", type => "text/event-stream",
    pieces => ["data: [DONE]\n\n"])
--- response_body eval
"data: [DONE]\n\n"
--- aigw_log eval
qr{ channel=b provider=openai attempts=2 tried=a,b }
--- error_log
is cut: first_byte limit
channel "a" failed with 504



=== TEST 10: the reservation is charged once whatever the attempts
--- more_headers
Authorization: Bearer sk-test-all
--- gw_config
aigw_failover_attempts 3;
aigw_limit_rpm 10;
aigw_model m a priority=10;
aigw_model m b priority=0;
--- mock eval
AigwMock::mock_location("= /a/v1/chat/completions", status => 500,
                        pieces => ['{"error":{"message":"boom"}}'])
. AigwMock::mock_location("= /b/v1/chat/completions", pieces => [$::OK])
--- response_headers
x-ratelimit-limit-requests: 10
x-ratelimit-remaining-requests: 9



=== TEST 11: a single-channel route is proxied in place, errors as they are
--- gw_config
aigw_failover_attempts 3;
aigw_model m a;
--- mock eval
AigwMock::mock_location("= /a/v1/chat/completions", status => 503,
                        pieces => ['{"error":{"message":"overloaded"}}'])
--- error_code: 503
--- response_body chomp
{"error":{"message":"overloaded"}}
--- aigw_log eval
qr{ attempts=1 tried=a }



=== TEST 12: a channel whose key is refused fails over
--- gw_config
aigw_failover_attempts 3;
aigw_model m a priority=10;
aigw_model m b priority=0;
--- mock eval
AigwMock::mock_location("= /a/v1/chat/completions", status => 401,
    pieces => ['{"error":{"message":"Incorrect API key provided: sk-a****","type":"invalid_request_error","code":"invalid_api_key"}}'])
. AigwMock::mock_location("= /b/v1/chat/completions", pieces => [$::OK])
--- response_body eval
$::OK
--- error_log
channel "a" failed with 401



=== TEST 13: alone, the refused key is a 502 that does not quote it
--- gw_config
aigw_failover_attempts 3;
aigw_model m a;
--- mock eval
AigwMock::mock_location("= /a/v1/chat/completions", status => 401,
    pieces => ['{"error":{"message":"Incorrect API key provided: sk-a****","type":"invalid_request_error","code":"invalid_api_key"}}'])
--- error_code: 502
--- response_body
{"error":{"message":"The upstream provider refused the gateway's credentials for this model's channel.","type":"api_error","param":null,"code":"upstream_auth_failed"}}
--- error_log
channel "a" refused its upstream key (401)
