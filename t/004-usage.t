# Usage from non-streamed answers: the body reaches the client untouched
# while its top-level "usage" fills the $aigw_* variables, checked through
# an access log line of every request.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use AigwTest;
use JSON::PP ();

repeat_each(2);
no_long_string();

our $HTTP_CONFIG = <<'_EOC_';
    log_format aigw_t 'model=$aigw_model upstream=$aigw_upstream_model '
                      'channel=$aigw_channel provider=$aigw_provider '
                      'endpoint=$aigw_endpoint stream=$aigw_stream '
                      'prompt=$aigw_prompt_tokens '
                      'completion=$aigw_completion_tokens '
                      'cached=$aigw_cached_tokens '
                      'reasoning=$aigw_reasoning_tokens '
                      'total=$aigw_total_tokens ttft=$aigw_ttft '
                      'rid=$aigw_request_id hdr=$sent_http_x_request_id '
                      'status=$status';

    aigw_channel json {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/json/v1;
        key sk-upstream-json;
    }
_EOC_

our $LOCATION = <<'_EOC_';
    location /v1/ {
        aigw on;
        aigw_model gpt-4o json model=gpt-4o-2024-08-06;
        aigw_model text-embedding-3-small json;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
        access_log logs/aigw.log aigw_t;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    if ($block->usage_mock) {
        $block->set_value("http_config",
                          $HTTP_CONFIG . ($block->http_config // ""));
        $block->set_value("config", $LOCATION . $block->usage_mock);
    }

    if (!defined $block->request) {
        $block->set_value("request", <<'_EOR_');
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
_EOR_
    }

    if (!defined $block->more_headers) {
        $block->set_value("more_headers",
                          "Authorization: Bearer sk-test-all\n"
                          . "Content-Type: application/json\n");
    }
});


# Lines of a log file of the servroot once it has at least $want of them.

sub log_lines {
    my ($file, $want) = @_;
    my @lines;

    for (1 .. 200) {
        if (open my $in, '<', "$Test::Nginx::Util::LogDir/$file") {
            @lines = <$in>;
            close $in;
        }

        last if @lines >= $want;
        select(undef, undef, undef, 0.05);
    }

    chomp @lines;
    return @lines;
}


# "--- aigw_log eval": a regex for the logs/aigw.log line of this request
# (exactly one line per request).
# "--- json_log eval": { field => value or regex } for the logs/json.log
# line of this request, which must be a JSON object with exactly these keys.

add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
    my $name = $block->name;
    my $n = $repeated_req_idx + 1;

    if (defined(my $pat = $block->aigw_log)) {
        SKIP: {
            skip "$name - aigw_log - tests skipped due to $dry_run", 2
                if $dry_run;

            my @lines = log_lines("aigw.log", $n);
            is(scalar @lines, $n, "$name - aigw.log has one line per "
                                  . "request (req $repeated_req_idx)");
            like($lines[-1] // "", $pat,
                 "$name - aigw.log line (req $repeated_req_idx)");
        }
    }

    if (defined(my $want = $block->json_log)) {
        SKIP: {
            skip "$name - json_log - tests skipped due to $dry_run", 1
                if $dry_run;

            my @lines = log_lines("json.log", $n);
            is(scalar @lines, $n, "$name - json.log has one line per "
                                  . "request (req $repeated_req_idx)");

            my $got = eval { JSON::PP->new->decode($lines[-1] // "") };
            ok(ref $got eq 'HASH', "$name - json.log line is a JSON object"
                                   . " (req $repeated_req_idx): $@");
            $got = {} unless ref $got eq 'HASH';

            is(join(",", sort keys %$got), join(",", sort keys %$want),
               "$name - json.log fields (req $repeated_req_idx)");

            for my $k (sort keys %$want) {
                my $v = $got->{$k};
                if (ref $want->{$k} eq 'Regexp') {
                    like($v // "", $want->{$k},
                         "$name - json.log $k (req $repeated_req_idx)");
                } else {
                    is($v, $want->{$k},
                       "$name - json.log $k (req $repeated_req_idx)");
                }
            }
        }
    }
});

run_tests();

__DATA__

=== TEST 1: a chat completion with every usage field: body and Content-Length untouched
The nested "usage" of a choice and the string "usage" are not the answer's
usage; only the top-level member is.
--- usage_mock
    location = /json/v1/chat/completions {
        default_type application/json;
        return 200 '{"id":"chatcmpl-9xYz","object":"chat.completion","created":1727000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?","refusal":null,"metadata":{"usage":{"prompt_tokens":999,"completion_tokens":999,"total_tokens":1998}},"note":"usage"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":3,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":4,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"system_fingerprint":"fp_50cad350e4"}';
    }
--- response_body chomp
{"id":"chatcmpl-9xYz","object":"chat.completion","created":1727000000,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?","refusal":null,"metadata":{"usage":{"prompt_tokens":999,"completion_tokens":999,"total_tokens":1998}},"note":"usage"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":3,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":4,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}},"system_fingerprint":"fp_50cad350e4"}
--- response_headers
Content-Type: application/json
Content-Length: 652
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- aigw_log eval
qr{^model=gpt-4o upstream=gpt-4o-2024-08-06 channel=json provider=openai endpoint=chat stream=0 prompt=19 completion=10 cached=3 reasoning=4 total=29 ttft=\d+ rid=([0-9a-f]{32}) hdr=\1 status=200$}
--- no_error_log
[error]



=== TEST 2: usage split across network reads is still found
The body comes in five reads: inside the "usage" key, between the colon
and the object, inside a number, inside a nested key.
--- usage_mock
    location = /json/v1/chat/completions {
        default_type application/json;
        echo -n '{"id":"chatcmpl-2","object":"chat.completion","created":1727000001,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"us';
        echo_flush;
        echo_sleep 0.05;
        echo -n 'age":';
        echo_flush;
        echo_sleep 0.05;
        echo -n '{"prompt_tokens":1';
        echo_flush;
        echo_sleep 0.05;
        echo -n '23,"completion_tokens":45,"total_tokens":168,"prompt_tokens_details":{"cached_to';
        echo_flush;
        echo_sleep 0.05;
        echo -n 'kens":64},"completion_tokens_details":{"reasoning_tokens":7}}}';
    }
--- response_body chomp
{"id":"chatcmpl-2","object":"chat.completion","created":1727000001,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":123,"completion_tokens":45,"total_tokens":168,"prompt_tokens_details":{"cached_tokens":64},"completion_tokens_details":{"reasoning_tokens":7}}}
--- aigw_log eval
qr{^model=gpt-4o upstream=gpt-4o-2024-08-06 channel=json provider=openai endpoint=chat stream=0 prompt=123 completion=45 cached=64 reasoning=7 total=168 ttft=\d+ rid=([0-9a-f]{32}) hdr=\1 status=200$}
--- no_error_log
[error]



=== TEST 3: a large answer (several reads and buffers) with usage at its end
--- usage_mock
    location = /json/v1/chat/completions {
        default_type application/json;
        echo -n '{"id":"chatcmpl-3","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"';
        echo_duplicate 50000 'abc\\"';
        echo -n '"},"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":4096,"total_tokens":4101}}';
    }
--- response_body eval
'{"id":"chatcmpl-3","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"'
. ('abc\\"' x 50000)
. '"},"finish_reason":"length"}],"usage":{"prompt_tokens":5,"completion_tokens":4096,"total_tokens":4101}}'
--- aigw_log eval
qr{^model=gpt-4o upstream=gpt-4o-2024-08-06 channel=json provider=openai endpoint=chat stream=0 prompt=5 completion=4096 cached=0 reasoning=0 total=4101 ttft=\d+ rid=([0-9a-f]{32}) hdr=\1 status=200$}
--- no_error_log
[error]



=== TEST 4: an answer without usage leaves the token variables unset
--- usage_mock
    location = /json/v1/chat/completions {
        default_type application/json;
        return 200 '{"id":"chatcmpl-4","object":"chat.completion","created":1727000002,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"no usage here"},"finish_reason":"stop"}]}';
    }
--- response_body chomp
{"id":"chatcmpl-4","object":"chat.completion","created":1727000002,"model":"gpt-4o-2024-08-06","choices":[{"index":0,"message":{"role":"assistant","content":"no usage here"},"finish_reason":"stop"}]}
--- response_headers
Content-Length: 199
--- aigw_log eval
qr{^model=gpt-4o upstream=gpt-4o-2024-08-06 channel=json provider=openai endpoint=chat stream=0 prompt=- completion=- cached=- reasoning=- total=- ttft=\d+ rid=([0-9a-f]{32}) hdr=\1 status=200$}
--- no_error_log
[error]



=== TEST 5: "usage": null leaves the token variables unset
--- usage_mock
    location = /json/v1/chat/completions {
        default_type application/json;
        return 200 '{"id":"chatcmpl-5","object":"chat.completion","choices":[],"usage":null}';
    }
--- response_body chomp
{"id":"chatcmpl-5","object":"chat.completion","choices":[],"usage":null}
--- aigw_log eval
qr{^model=gpt-4o upstream=gpt-4o-2024-08-06 channel=json provider=openai endpoint=chat stream=0 prompt=- completion=- cached=- reasoning=- total=- ttft=\d+ rid=([0-9a-f]{32}) hdr=\1 status=200$}
--- no_error_log
[error]



=== TEST 6: usage without total_tokens: the total is the sum
--- usage_mock
    location = /json/v1/chat/completions {
        default_type application/json;
        return 200 '{"usage":{"completion_tokens":7,"prompt_tokens":5},"id":"chatcmpl-6","object":"chat.completion","choices":[]}';
    }
--- response_body chomp
{"usage":{"completion_tokens":7,"prompt_tokens":5},"id":"chatcmpl-6","object":"chat.completion","choices":[]}
--- aigw_log eval
qr{^model=gpt-4o upstream=gpt-4o-2024-08-06 channel=json provider=openai endpoint=chat stream=0 prompt=5 completion=7 cached=0 reasoning=0 total=12 ttft=\d+ rid=([0-9a-f]{32}) hdr=\1 status=200$}
--- no_error_log
[error]



=== TEST 7: embeddings usage
--- usage_mock
    location = /json/v1/embeddings {
        default_type application/json;
        return 200 '{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023064255,-0.009327292,-0.0028842222]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}';
    }
--- request
POST /v1/embeddings
{"model":"text-embedding-3-small","input":"The food was delicious and the waiter..."}
--- response_body chomp
{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.0023064255,-0.009327292,-0.0028842222]}],"model":"text-embedding-3-small","usage":{"prompt_tokens":8,"total_tokens":8}}
--- response_headers
Content-Length: 191
--- aigw_log eval
qr{^model=text-embedding-3-small upstream=text-embedding-3-small channel=json provider=openai endpoint=embeddings stream=0 prompt=8 completion=0 cached=0 reasoning=0 total=8 ttft=\d+ rid=([0-9a-f]{32}) hdr=\1 status=200$}
--- no_error_log
[error]



=== TEST 8: an upstream error answer is passed on and has no usage
--- usage_mock
    location = /json/v1/chat/completions {
        default_type application/json;
        return 400 '{"error":{"message":"bad","type":"invalid_request_error","param":null,"code":null},"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}';
    }
--- error_code: 400
--- response_body chomp
{"error":{"message":"bad","type":"invalid_request_error","param":null,"code":null},"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}
--- aigw_log eval
qr{^model=gpt-4o upstream=gpt-4o-2024-08-06 channel=json provider=openai endpoint=chat stream=0 prompt=- completion=- cached=- reasoning=- total=- ttft=\d+ rid=([0-9a-f]{32}) hdr=\1 status=400$}
--- no_error_log
[error]



=== TEST 9: the JSON log format of conf-examples/aigw_log.conf
--- http_config
    include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_log.conf;

    aigw_channel json {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/json/v1;
        key sk-upstream-json;
    }
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o json model=gpt-4o-2024-08-06;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
        access_log logs/json.log aigw_json;
    }

    location = /json/v1/chat/completions {
        default_type application/json;
        return 200 '{"id":"chatcmpl-9","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok \\"quoted\\""},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":2,"total_tokens":13,"prompt_tokens_details":{"cached_tokens":1},"completion_tokens_details":{"reasoning_tokens":0}}}';
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- response_body chomp
{"id":"chatcmpl-9","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok \"quoted\""},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":2,"total_tokens":13,"prompt_tokens_details":{"cached_tokens":1},"completion_tokens_details":{"reasoning_tokens":0}}}
--- json_log eval
{
    time => qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/,
    request_id => qr/^[0-9a-f]{32}$/,
    status => 200,
    method => "POST",
    uri => "/v1/chat/completions",
    endpoint => "chat",
    key => "all",
    key_id => qr/^k_[0-9a-f]{16}$/,
    tenant => "acme",
    model => "gpt-4o",
    upstream_model => "gpt-4o-2024-08-06",
    channel => "json",
    provider => "openai",
    stream => "0",
    prompt_tokens => "11",
    completion_tokens => "2",
    cached_tokens => "1",
    reasoning_tokens => "0",
    total_tokens => "13",
    cost_usd => "",
    remaining_requests => qr/^59\d$/,
    remaining_tokens => "",
    ttft_ms => qr/^\d+$/,
    error => "",
    upstream_status => "200",
    request_time => qr/^\d+(\.\d+)?$/,
}
--- no_error_log
[error]



=== TEST 10: the JSON log line of a gateway error
--- http_config
    include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_log.conf;
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
        access_log logs/json.log aigw_json;
    }
--- more_headers
Authorization: Bearer sk-test-limited
--- request
POST /v1/chat/completions
{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}
--- error_code: 403
--- response_body
{"error":{"message":"This API key is not allowed to use the model 'gpt-4o-mini'.","type":"permission_error","param":"model","code":"model_not_allowed"}}
--- json_log eval
{
    time => qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$/,
    request_id => qr/^[0-9a-f]{32}$/,
    status => 403,
    method => "POST",
    uri => "/v1/chat/completions",
    endpoint => "chat",
    key => "limited",
    key_id => qr/^k_[0-9a-f]{16}$/,
    tenant => "",
    model => "gpt-4o-mini",
    upstream_model => "",
    channel => "",
    provider => "",
    stream => "0",
    prompt_tokens => "",
    completion_tokens => "",
    cached_tokens => "",
    reasoning_tokens => "",
    total_tokens => "",
    cost_usd => "",
    remaining_requests => "",
    remaining_tokens => "",
    ttft_ms => "",
    error => "model_not_allowed",
    upstream_status => "",
    request_time => qr/^\d+(\.\d+)?$/,
}
--- no_error_log
[error]
