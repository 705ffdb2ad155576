# Pass-through of other calls under a gateway location to one channel.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use AigwTest;

repeat_each(2);
no_long_string();
log_level('info');
run_tests();

__DATA__

=== TEST 1: another call goes to the pass-through channel as it is
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        aigw_passthrough backup;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- more_headers
Authorization: Bearer sk-test-all
--- request
POST /v1/files/file-abc%20x/content?purpose=batch&x=1
{"raw":"not json-checked"
--- response_body_like eval
qr{^POST /backup/files/file-abc%20x/content\?purpose=batch&x=1
host: 127\.0\.0\.1:\d+
authorization: Bearer sk-upstream-backup
x-api-key: 
api-key: 
x-channel: 
content-length: 25
transfer-encoding: 
body: \{"raw":"not json-checked"
$}
--- no_error_log
[error]



=== TEST 2: GET and DELETE pass too; the endpoint variable says so
--- config
    location /v1/ {
        aigw on;
        aigw_passthrough backup;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
        add_header X-Endpoint $aigw_endpoint always;
    }
--- more_headers
x-api-key: sk-test-all
--- request
DELETE /v1/batches/b1
--- response_headers
X-Endpoint: passthrough
--- response_body_like eval
qr{^DELETE /backup/batches/b1\n}



=== TEST 3: a key limited to some models may not pass through
--- config
    location /v1/ {
        aigw on;
        aigw_passthrough backup;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- more_headers
Authorization: Bearer sk-test-limited
--- request
GET /v1/files
--- error_code: 403
--- response_body
{"error":{"message":"This API key may only use the model endpoints; /v1/files is passed through for keys that may use every model.","type":"permission_error","param":null,"code":"passthrough_not_allowed"}}



=== TEST 4: pass-through still needs a key
--- config
    location /v1/ {
        aigw on;
        aigw_passthrough backup;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request
GET /v1/files
--- error_code: 401
--- response_body_like eval
qr{"code":"missing_api_key"}



=== TEST 5: without aigw_passthrough another call is a 404
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- more_headers
Authorization: Bearer sk-test-all
--- request
GET /v1/files
--- error_code: 404
--- response_body
{"error":{"message":"Unknown request URL: GET /v1/files.","type":"invalid_request_error","param":null,"code":"unknown_url"}}



=== TEST 6: model endpoints are still the gateway's own
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock model=gpt-4o-x;
        aigw_passthrough backup;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- more_headers
Authorization: Bearer sk-test-all
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- response_body_like eval
qr{^POST /mock/v1/chat/completions\n(.*\n)*body: \{"model":"gpt-4o-x",}



=== TEST 7: an inactive pass-through channel is a 503
--- config
    location /v1/ {
        aigw on;
        aigw_passthrough nokey;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- more_headers
Authorization: Bearer sk-test-all
--- request
GET /v1/files
--- error_code: 503
--- response_body
{"error":{"message":"The pass-through channel is not available.","type":"api_error","param":null,"code":"no_channel_available"}}



=== TEST 8: config: an unknown pass-through channel
--- config
    location /v1/ {
        aigw on;
        aigw_passthrough nosuch;
    }
--- must_die
--- error_log
unknown channel "nosuch"



=== TEST 9: config: not in a regex location
--- config
    location ~ ^/v1/ {
        aigw on;
        aigw_passthrough backup;
    }
--- must_die
--- error_log
"aigw_passthrough" directive is not allowed in a regex location
