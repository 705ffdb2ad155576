# Upstream failures become OpenAI-shaped errors, upstream errors pass
# through untouched, every answer has a request id, the channel's key never
# shows, and GET /v1/models lists what a key may use.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use AigwTest;

repeat_each(2);
no_long_string();

$ENV{TEST_NGINX_HTML_DIR} = $Test::Nginx::Util::HtmlDir;

our $HTTP_CONFIG = <<'_EOC_';
    aigw_channel dead {
        endpoint http://127.0.0.1:1/v1;
        key sk-upstream-dead;
    }

    aigw_channel slow {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/slow/v1;
        key sk-upstream-slow;
    }

    aigw_channel fine {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/fine/v1;
        key sk-upstream-fine;
    }

    aigw_channel s429 {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/s429/v1;
        key sk-upstream-429;
    }

    aigw_channel s500 {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/s500/v1;
        key sk-upstream-500;
    }

    aigw_channel s502 {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/s502/v1;
        key sk-upstream-502;
    }
_EOC_

# the gateway location and mocks that never repeat what they received
our $CONFIG = <<'_EOC_';
    location /v1/ {
        aigw on;
        aigw_model gpt-4o fine model=gpt-4o-2024-08-06;
        aigw_model dead-model dead;
        aigw_model rate-limited s429;
        aigw_model broken s500;
        aigw_model bad-gateway s502;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }

    location /v1-timeout/ {
        aigw on;
        aigw_model slow-model slow;
        proxy_pass $aigw_upstream_url;
        proxy_http_version 1.1;
        proxy_set_header Host $aigw_upstream_host;
        proxy_set_header Connection "";
        proxy_buffering off;
        proxy_read_timeout 200ms;
    }

    location /fine/v1/ {
        default_type application/json;
        return 200 '{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}';
    }

    location /slow/v1/ {
        default_type application/json;
        echo_sleep 1;
        echo '{"late":true}';
    }

    location /s429/v1/ {
        default_type application/json;
        add_header Retry-After 20 always;
        return 429 '{"error":{"message":"Rate limit reached for gpt-4o in organization org-x on requests per min (RPM): Limit 3, Used 3, Requested 1.","type":"requests","param":null,"code":"rate_limit_exceeded"}}\n';
    }

    location /s500/v1/ {
        default_type application/json;
        return 500 '{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}\n';
    }

    location /s502/v1/ {
        default_type text/html;
        return 502 '<html><body>upstream of the upstream is gone</body></html>';
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    if ($block->errors) {
        $block->set_value("http_config",
                          $HTTP_CONFIG . ($block->http_config // ""));
        $block->set_value("config", $CONFIG . ($block->config // ""));
    }

    if (!defined $block->more_headers) {
        $block->set_value("more_headers",
                          "Authorization: Bearer sk-test-all\n"
                          . "Content-Type: application/json\n");
    }

    # The channel keys never show in an answer, nor in the error log.  At
    # the debug level nginx itself prints the request it sends upstream (and
    # the mock the headers it got), so these tests log from "info" up.

    if (!defined $block->raw_response_headers_unlike) {
        $block->set_value("raw_response_headers_unlike", qr/sk-upstream/);
    }

    if (!defined $block->response_body_unlike && !defined $block->response_body
        && !defined $block->response_body_like)
    {
        $block->set_value("response_body_unlike", qr/sk-upstream/);
    }

    if ($block->errors) {
        $block->set_value("log_level", "info") unless defined $block->log_level;
        $block->set_value("no_error_log", "sk-upstream\n[alert]\n[crit]\n")
            unless defined $block->no_error_log;
    }
});

run_tests();

__DATA__

=== TEST 1: a successful answer has a request id and no upstream key
--- errors: 1
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- response_body chomp
{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- raw_response_headers_unlike eval
qr/sk-upstream|X-Request-Id.*X-Request-Id/is



=== TEST 2: connection refused: 502 upstream_error
--- errors: 1
--- request
POST /v1/chat/completions
{"model":"dead-model","messages":[{"role":"user","content":"hi"}]}
--- error_code: 502
--- response_headers
Content-Type: application/json
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- raw_response_headers_unlike eval
qr/sk-upstream|X-Request-Id.*X-Request-Id/is
--- response_body
{"error":{"message":"The upstream provider could not be reached or sent an invalid response.","type":"api_error","param":null,"code":"upstream_error"}}
--- error_log
connect() failed (111: Connection refused) while connecting to upstream



=== TEST 3: a stream request whose upstream is unreachable: 502 in JSON
--- errors: 1
--- request
POST /v1/chat/completions
{"model":"dead-model","messages":[{"role":"user","content":"hi"}],"stream":true}
--- error_code: 502
--- response_headers
Content-Type: application/json
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- response_body
{"error":{"message":"The upstream provider could not be reached or sent an invalid response.","type":"api_error","param":null,"code":"upstream_error"}}
--- error_log
connect() failed (111: Connection refused) while connecting to upstream



=== TEST 4: the upstream does not answer in time: 504 upstream_timeout
--- errors: 1
--- request
POST /v1-timeout/chat/completions
{"model":"slow-model","messages":[{"role":"user","content":"hi"}]}
--- error_code: 504
--- response_headers
Content-Type: application/json
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- raw_response_headers_unlike eval
qr/sk-upstream|X-Request-Id.*X-Request-Id/is
--- response_body
{"error":{"message":"The upstream provider did not answer in time.","type":"api_error","param":null,"code":"upstream_timeout"}}
--- error_log
upstream timed out



=== TEST 5: an upstream 429 with its JSON body passes through unchanged
--- errors: 1
--- request
POST /v1/chat/completions
{"model":"rate-limited","messages":[{"role":"user","content":"hi"}]}
--- error_code: 429
--- response_headers
Content-Type: application/json
Retry-After: 20
Content-Length: 193
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- response_body
{"error":{"message":"Rate limit reached for gpt-4o in organization org-x on requests per min (RPM): Limit 3, Used 3, Requested 1.","type":"requests","param":null,"code":"rate_limit_exceeded"}}



=== TEST 6: an upstream 500 with its JSON body passes through unchanged
--- errors: 1
--- request
POST /v1/chat/completions
{"model":"broken","messages":[{"role":"user","content":"hi"}]}
--- error_code: 500
--- response_headers
Content-Type: application/json
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- response_body
{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}



=== TEST 7: an upstream's own 502 answer is its own, not the gateway's
--- errors: 1
--- request
POST /v1/chat/completions
{"model":"bad-gateway","messages":[{"role":"user","content":"hi"}]}
--- error_code: 502
--- response_headers
Content-Type: text/html
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- response_body chomp
<html><body>upstream of the upstream is gone</body></html>



=== TEST 8: a 4xx of the gateway has a request id
--- errors: 1
--- request
POST /v1/chat/completions
{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}
--- error_code: 404
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- raw_response_headers_unlike eval
qr/sk-upstream|X-Request-Id.*X-Request-Id/is
--- response_body
{"error":{"message":"The model 'no-such-model' does not exist or is not served here.","type":"invalid_request_error","param":"model","code":"model_not_found"}}



=== TEST 9: a 401 of the gateway has a request id
--- errors: 1
--- more_headers
Authorization: Bearer sk-upstream-fine
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- error_code: 401
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- response_body
{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}



=== TEST 10: the request id is the one the access log sees
--- errors: 1
--- http_config
    log_format rid 'rid=$aigw_request_id hdr=$sent_http_x_request_id';
--- config
    location /v1-logged/ {
        aigw on;
        aigw_model dead-model dead;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
        access_log logs/access.log rid;
    }
--- request
POST /v1-logged/chat/completions
{"model":"dead-model","messages":[{"role":"user","content":"hi"}]}
--- error_code: 502
--- response_body
{"error":{"message":"The upstream provider could not be reached or sent an invalid response.","type":"api_error","param":null,"code":"upstream_error"}}
--- access_log eval
qr/^rid=([0-9a-f]{32}) hdr=\1$/



=== TEST 11: GET /v1/models lists every exact name for a key without limits
The owner is the first channel of the name (by priority); patterns are not
listed.
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o backup priority=-1;
        aigw_model gpt-4o mock;
        aigw_model gpt-4o-mini backup;
        aigw_model llama-* mock;
        aigw_model org/* backup;
        aigw_model org/model-name backup model=other;
        aigw_model pass/* nokey;
        aigw_model claude-3 nokey;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request
GET /v1/models
--- response_headers
Content-Type: application/json
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- response_body_like eval
qr/^\{"object":"list","data":\[\{"id":"gpt-4o","object":"model","created":(\d{10}),"owned_by":"mock"\},\{"id":"gpt-4o-mini","object":"model","created":\1,"owned_by":"backup"\},\{"id":"org\/model-name","object":"model","created":\1,"owned_by":"backup"\},\{"id":"claude-3","object":"model","created":\1,"owned_by":"nokey"\}\]\}\n\z/



=== TEST 12: GET /v1/models for a key limited to some models
sk-test-limited may use gpt-4o, llama-*, org/model-name and pass/exact-1:
its exact names served by a pattern are listed where the pattern is, the
ones with an exact route once.
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o backup priority=-1;
        aigw_model gpt-4o mock;
        aigw_model gpt-4o-mini backup;
        aigw_model llama-* mock;
        aigw_model org/* backup;
        aigw_model org/model-name backup model=other;
        aigw_model pass/* nokey;
        aigw_model claude-3 nokey;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- more_headers
Authorization: Bearer sk-test-limited
--- request
GET /v1/models
--- response_body_like eval
qr/^\{"object":"list","data":\[\{"id":"gpt-4o","object":"model","created":(\d{10}),"owned_by":"mock"\},\{"id":"org\/model-name","object":"model","created":\1,"owned_by":"backup"\},\{"id":"pass\/exact-1","object":"model","created":\1,"owned_by":"nokey"\}\]\}\n\z/



=== TEST 13: GET /v1/models for a limited key and no matching route: empty list
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o-mini backup;
        aigw_model mistral-* mock;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- more_headers
Authorization: Bearer sk-test-limited
--- request
GET /v1/models
--- response_body
{"object":"list","data":[]}



=== TEST 14: GET /v1/models with aigw_auth off lists every exact name
--- config
    location /v1/ {
        aigw on;
        aigw_auth off;
        aigw_model gpt-4o mock;
        aigw_model llama-* mock;
        aigw_model text-embedding-3-small backup;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- more_headers
--- request
GET /v1/models
--- response_body_like eval
qr/^\{"object":"list","data":\[\{"id":"gpt-4o","object":"model","created":(\d{10}),"owned_by":"mock"\},\{"id":"text-embedding-3-small","object":"model","created":\1,"owned_by":"backup"\}\]\}\n\z/



=== TEST 15: GET /v1/models needs a key when auth is on
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- more_headers
--- request
GET /v1/models
--- error_code: 401
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- response_body
{"error":{"message":"You didn't provide an API key. Send it in the Authorization header as 'Bearer sk-...', or in the x-api-key header.","type":"invalid_request_error","param":null,"code":"missing_api_key"}}



=== TEST 16: POST /v1/models is 405
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request
POST /v1/models
{}
--- error_code: 405
--- response_headers
Allow: GET, HEAD
Content-Type: application/json
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- response_body
{"error":{"message":"Method POST is not allowed for /v1/models; use GET, HEAD.","type":"invalid_request_error","param":null,"code":"method_not_allowed"}}



=== TEST 17: HEAD /v1/models: the headers of GET, no body
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        aigw_model gpt-4o-mini backup;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request
HEAD /v1/models
--- response_headers eval
"Content-Type: application/json\nContent-Length: "
. length('{"object":"list","data":[{"id":"gpt-4o","object":"model","created":1700000000,"owned_by":"mock"},{"id":"gpt-4o-mini","object":"model","created":1700000000,"owned_by":"backup"}]}' . "\n")
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- response_body



=== TEST 18: GET /v1/models when the location does not serve the models endpoint
--- config
    location /v1/ {
        aigw on;
        aigw_endpoints chat embeddings;
        aigw_model gpt-4o mock;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request
GET /v1/models
--- error_code: 404
--- response_body
{"error":{"message":"Unknown request URL: GET /v1/models.","type":"invalid_request_error","param":null,"code":"unknown_url"}}



=== TEST 19: model names that need JSON escaping are escaped in /v1/models
--- no_default_http: 1
--- http_config
    aigw_keys_file $TEST_NGINX_HTML_DIR/keys.json;

    aigw_channel mock {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/v1;
    }
--- user_files eval
[["keys.json" => '{"keys": [{"name": "odd", "key": "sk-test-odd", "models": '
                 . '["we\\"ird", "back\\\\slash", "q/' . ('\\"' x 254) . '"]}]}']]
--- config
    location /v1/ {
        aigw on;
        aigw_model 'we"ird' mock;
        aigw_model 'back\\slash' mock;
        aigw_model 'q/*' mock;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- more_headers
Authorization: Bearer sk-test-odd
--- request
GET /v1/models
--- response_body eval
my $q = '\"' x 254;
qq{{"object":"list","data":[{"id":"we\\"ird","object":"model","created":CREATED,"owned_by":"mock"},{"id":"back\\\\slash","object":"model","created":CREATED,"owned_by":"mock"},{"id":"q/$q","object":"model","created":CREATED,"owned_by":"mock"}]}\n}
--- response_body_filters eval
sub { my $b = shift; $b =~ s/"created":\d{10},/"created":CREATED,/g; $b }
--- no_error_log
[alert]



=== TEST 20: many long names that need escaping, served by a "*" pattern
--- no_default_http: 1
--- http_config
    aigw_keys_file $TEST_NGINX_HTML_DIR/keys.json;

    aigw_channel mock {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/v1;
    }
--- user_files eval
[["keys.json" => '{"keys": [{"name": "odd", "key": "sk-test-odd", "models": ['
                 . CORE::join(",", map { sprintf('"%02d', $_) . ('\\"' x 254) . '"' } 1 .. 12)
                 . ']}]}']]
--- config
    location /v1/ {
        aigw on;
        aigw_model * mock;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- more_headers
Authorization: Bearer sk-test-odd
--- request
GET /v1/models
--- response_body eval
'{"object":"list","data":['
. CORE::join(",", map { sprintf('{"id":"%02d', $_) . ('\\"' x 254) . '","object":"model","created":CREATED,"owned_by":"mock"}' } 1 .. 12)
. "]}\n"
--- response_body_filters eval
sub { my $b = shift; $b =~ s/"created":\d{10},/"created":CREATED,/g; $b }
--- no_error_log
[alert]
