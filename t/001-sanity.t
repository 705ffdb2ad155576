# The request path for OpenAI-compatible channels: routing, rewriting,
# credentials, and the answer the client gets.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use AigwTest;

repeat_each(2);
no_long_string();
run_tests();

__DATA__

=== TEST 1: chat completion is routed, rewritten and authenticated upstream
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock model=gpt-4o-2024-08-06;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- more_headers
Authorization: Bearer sk-test-all
Content-Type: application/json
--- response_body_like eval
qr{^POST /mock/v1/chat/completions
host: mock\.example
authorization: Bearer sk-upstream-(one|two)
x-api-key: 
api-key: 
x-channel: mock
content-length: 73
transfer-encoding: 
body: \{"model":"gpt-4o-2024-08-06","messages":\[\{"role":"user","content":"hi"\}\]\}
$}
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- no_error_log
[error]



=== TEST 2: a missing key is a 401 in OpenAI's shape
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- error_code: 401
--- response_headers
Content-Type: application/json
--- response_body
{"error":{"message":"You didn't provide an API key. Send it in the Authorization header as 'Bearer sk-...', or in the x-api-key header.","type":"invalid_request_error","param":null,"code":"missing_api_key"}}
