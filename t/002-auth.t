# Gateway keys and credentials: where the key is read from, what makes a key
# unusable, model permissions, the key variables, and that no credential of
# the client reaches an upstream and no upstream key reaches the client.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use AigwTest;
use Digest::SHA qw(sha256_hex);

# the non-secret id of a key: "k_" and the first 16 hex digits of its SHA-256
sub main::kid { return "k_" . substr(sha256_hex($_[0]), 0, 16) }

our $Location = <<'_EOC_';
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        aigw_model gpt-4o-mini mock;
        aigw_model llama-* mock;
        aigw_model org/* mock;
        add_header X-Key $aigw_key_name always;
        add_header X-Tenant $aigw_tenant always;
        add_header X-Key-Id $aigw_key_id always;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
_EOC_

# a block without --- config gets the location above (AigwTest then adds
# the mocks)
add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("config", $Location) unless defined $block->config;

    if (!defined $block->request && !defined $block->pipelined_requests
        && !defined $block->raw_request)
    {
        $block->set_value("request", <<'_EOR_');
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
_EOR_
    }
});

repeat_each(2);
no_long_string();
run_tests();

__DATA__

=== TEST 1: key from Authorization: Bearer
--- more_headers
Authorization: Bearer sk-test-all
--- response_body_like eval
qr{^POST /mock/v1/chat/completions
host: mock\.example
authorization: Bearer sk-upstream-(one|two)
x-api-key: 
api-key: 
x-channel: mock
content-length: 62
transfer-encoding: 
body: \{"model":"gpt-4o","messages":\[\{"role":"user","content":"hi"\}\]\}
$}
--- response_headers
X-Key: all
X-Tenant: acme
--- no_error_log
[error]



=== TEST 2: key from x-api-key
--- more_headers
x-api-key: sk-test-all
--- response_body_like eval
qr{^POST /mock/v1/chat/completions
host: mock\.example
authorization: Bearer sk-upstream-(one|two)
x-api-key: 
api-key: 
}
--- response_headers
X-Key: all
--- no_error_log
[error]



=== TEST 3: key from api-key (Azure style)
--- more_headers
api-key: sk-test-all
--- response_body_like eval
qr{^POST /mock/v1/chat/completions
host: mock\.example
authorization: Bearer sk-upstream-(one|two)
x-api-key: 
api-key: 
}
--- response_headers
X-Key: all
--- no_error_log
[error]



=== TEST 4: header names are case-insensitive
--- more_headers
X-API-KEY: sk-test-limited
--- response_headers
X-Key: limited
--- response_body_like: ^POST /mock/v1/chat/completions\n



=== TEST 5: Authorization wins over x-api-key and api-key
--- more_headers
api-key: sk-test-future
x-api-key: sk-test-all
Authorization: Bearer sk-test-limited
--- response_headers
X-Key: limited
--- response_body_like: ^POST /mock/v1/chat/completions\n



=== TEST 6: x-api-key wins over api-key
--- more_headers
api-key: sk-test-limited
x-api-key: sk-test-all
--- response_headers
X-Key: all
--- response_body_like: ^POST /mock/v1/chat/completions\n



=== TEST 7: the first x-api-key header wins
--- more_headers
x-api-key: sk-test-future
x-api-key: sk-test-all
--- response_headers
X-Key: future
--- response_body_like: ^POST /mock/v1/chat/completions\n



=== TEST 8: an unknown Bearer key does not fall back to x-api-key
--- more_headers
Authorization: Bearer sk-nope
x-api-key: sk-test-all
--- error_code: 401
--- response_body
{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}
--- response_headers
X-Key: 
Content-Type: application/json



=== TEST 9: lowercase "bearer" and extra spaces
--- more_headers
Authorization: bearer    sk-test-all
--- response_headers
X-Key: all
--- response_body_like: ^POST /mock/v1/chat/completions\nhost: mock.example\nauthorization: Bearer sk-upstream-(one|two)\n



=== TEST 10: uppercase "BEARER"
--- more_headers
Authorization: BEARER sk-test-all
--- response_headers
X-Key: all
--- response_body_like: ^POST /mock/v1/chat/completions\n



=== TEST 11: Authorization: Basic alone is no API key
--- more_headers
Authorization: Basic dXNlcjpzay10ZXN0LWFsbA==
--- error_code: 401
--- response_body
{"error":{"message":"You didn't provide an API key. Send it in the Authorization header as 'Bearer sk-...', or in the x-api-key header.","type":"invalid_request_error","param":null,"code":"missing_api_key"}}
--- response_headers
X-Key-Id: 



=== TEST 12: Authorization: Basic with x-api-key: the x-api-key is used and both are stripped
--- more_headers
Authorization: Basic dXNlcjpwYXNz
x-api-key: sk-test-all
--- response_body_like eval
qr{^POST /mock/v1/chat/completions
host: mock\.example
authorization: Bearer sk-upstream-(one|two)
x-api-key: 
api-key: 
x-channel: mock
}
--- response_headers
X-Key: all



=== TEST 13: "Bearer" with nothing after it is no key
--- more_headers
Authorization: Bearer
--- error_code: 401
--- response_body
{"error":{"message":"You didn't provide an API key. Send it in the Authorization header as 'Bearer sk-...', or in the x-api-key header.","type":"invalid_request_error","param":null,"code":"missing_api_key"}}



=== TEST 14: "Bearer" with nothing after it falls back to x-api-key
--- more_headers
Authorization: Bearer
x-api-key: sk-test-all
--- response_headers
X-Key: all
--- response_body_like: ^POST /mock/v1/chat/completions\nhost: mock.example\nauthorization: Bearer sk-upstream-(one|two)\nx-api-key: \napi-key: \n



=== TEST 15: no key at all
--- error_code: 401
--- response_body
{"error":{"message":"You didn't provide an API key. Send it in the Authorization header as 'Bearer sk-...', or in the x-api-key header.","type":"invalid_request_error","param":null,"code":"missing_api_key"}}
--- response_headers
Content-Type: application/json
X-Key: 
X-Key-Id: 



=== TEST 16: unknown key
--- log_level: info
--- more_headers
Authorization: Bearer sk-test-unknown
--- error_code: 401
--- response_body
{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}
--- response_headers eval
"X-Key: \nX-Tenant: \nX-Key-Id: " . main::kid("sk-test-unknown")
--- error_log eval
"aigw: unknown API key " . main::kid("sk-test-unknown")
--- no_error_log
sk-test-unknown



=== TEST 17: a key that differs only in case is unknown
--- more_headers
Authorization: Bearer SK-TEST-ALL
--- error_code: 401
--- response_body
{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}



=== TEST 18: disabled key
--- more_headers
Authorization: Bearer sk-test-disabled
--- error_code: 401
--- response_body
{"error":{"message":"This API key is disabled.","type":"invalid_request_error","param":null,"code":"api_key_disabled"}}



=== TEST 19: expired key
--- more_headers
x-api-key: sk-test-expired
--- error_code: 401
--- response_body
{"error":{"message":"This API key has expired.","type":"invalid_request_error","param":null,"code":"api_key_expired"}}



=== TEST 20: a key that expires in the future works
--- more_headers
x-api-key: sk-test-future
--- response_headers
X-Key: future
X-Tenant: 
--- response_body_like: ^POST /mock/v1/chat/completions\n



=== TEST 21: a key stored only as its SHA-256
--- more_headers
Authorization: Bearer sk-test-hashed
--- response_headers eval
"X-Key: hashed\nX-Key-Id: " . main::kid("sk-test-hashed")
--- response_body_like: ^POST /mock/v1/chat/completions\n



=== TEST 22: the SHA-256 of a hashed key is not itself a key
--- more_headers
Authorization: Bearer bd51d0b8c53584a16d3e8103b57cda77d7d7a1ec3f46760f6fcde62c171720ab
--- error_code: 401
--- response_body
{"error":{"message":"Incorrect API key provided.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}



=== TEST 23: a key limited to another address is refused
--- more_headers
Authorization: Bearer sk-test-ip
--- error_code: 403
--- response_body
{"error":{"message":"This API key may not be used from 127.0.0.1.","type":"permission_error","param":null,"code":"ip_not_allowed"}}
--- response_headers
X-Key: iponly



=== TEST 24: a key limited to loopback is accepted
--- more_headers
Authorization: Bearer sk-test-local
--- response_headers
X-Key: local
--- response_body_like: ^POST /mock/v1/chat/completions\n



=== TEST 25: a limited key may use an exact model it lists
--- more_headers
Authorization: Bearer sk-test-limited
--- response_body_like: ^POST /mock/v1/chat/completions\n(?s:.*)\nbody: \{"model":"gpt-4o",



=== TEST 26: a limited key may use a model under its pattern "llama-*"
--- more_headers
Authorization: Bearer sk-test-limited
--- request
POST /v1/chat/completions
{"model":"llama-3.1-70b","messages":[{"role":"user","content":"hi"}]}
--- response_body_like: ^POST /mock/v1/chat/completions\n(?s:.*)\nbody: \{"model":"llama-3.1-70b",



=== TEST 27: a limited key may use "org/model-name"
--- more_headers
Authorization: Bearer sk-test-limited
--- request
POST /v1/chat/completions
{"model":"org/model-name","messages":[{"role":"user","content":"hi"}]}
--- response_body_like: ^POST /mock/v1/chat/completions\n(?s:.*)\nbody: \{"model":"org/model-name",



=== TEST 28: a limited key may not use another model
--- more_headers
Authorization: Bearer sk-test-limited
--- request
POST /v1/chat/completions
{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}
--- error_code: 403
--- response_body
{"error":{"message":"This API key is not allowed to use the model 'gpt-4o-mini'.","type":"permission_error","param":"model","code":"model_not_allowed"}}



=== TEST 29: a limited key may not use a model that only shares a prefix with an exact one
--- more_headers
Authorization: Bearer sk-test-limited
--- request
POST /v1/chat/completions
{"model":"org/model-name-2","messages":[{"role":"user","content":"hi"}]}
--- error_code: 403
--- response_body
{"error":{"message":"This API key is not allowed to use the model 'org/model-name-2'.","type":"permission_error","param":"model","code":"model_not_allowed"}}



=== TEST 30: "llama" does not match the pattern "llama-*"
--- more_headers
Authorization: Bearer sk-test-limited
--- request
POST /v1/embeddings
{"model":"llama","input":"hi"}
--- error_code: 403
--- response_body
{"error":{"message":"This API key is not allowed to use the model 'llama'.","type":"permission_error","param":"model","code":"model_not_allowed"}}



=== TEST 31: a key without a model list may use every model
--- more_headers
Authorization: Bearer sk-test-all
--- request
POST /v1/chat/completions
{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}
--- response_body_like: ^POST /mock/v1/chat/completions\n(?s:.*)\nbody: \{"model":"gpt-4o-mini",



=== TEST 32: aigw_auth off: no key is needed
--- config
    location /v1/ {
        aigw on;
        aigw_auth off;
        aigw_model gpt-4o mock;
        add_header X-Key $aigw_key_name always;
        add_header X-Key-Id $aigw_key_id always;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- response_body_like eval
qr{^POST /mock/v1/chat/completions
host: mock\.example
authorization: Bearer sk-upstream-(one|two)
x-api-key: 
api-key: 
x-channel: mock
}
--- response_headers
X-Key: 
X-Key-Id: 



=== TEST 33: aigw_auth off: a client key is still stripped (and still identified)
--- config
    location /v1/ {
        aigw on;
        aigw_auth off;
        aigw_model gpt-4o mock;
        add_header X-Key $aigw_key_name always;
        add_header X-Key-Id $aigw_key_id always;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- more_headers
Authorization: Bearer sk-client-secret
x-api-key: sk-client-secret-2
api-key: sk-client-secret-3
--- response_body_like eval
qr{^POST /mock/v1/chat/completions
host: mock\.example
authorization: Bearer sk-upstream-(one|two)
x-api-key: 
api-key: 
x-channel: mock
}
--- response_headers eval
"X-Key: \nX-Key-Id: " . main::kid("sk-client-secret")



=== TEST 34: aigw_auth off: an unknown key is no error
--- config
    location /v1/ {
        aigw on;
        aigw_auth off;
        aigw_model gpt-4o mock;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- more_headers
x-api-key: sk-test-disabled
--- response_body_like: ^POST /mock/v1/chat/completions\nhost: mock.example\nauthorization: Bearer sk-upstream-(one|two)\nx-api-key: \napi-key: \n



=== TEST 35: all three client credential headers: none reaches the upstream, and no key is logged
--- log_level: info
--- more_headers
Authorization: Bearer sk-test-all
x-api-key: sk-test-limited
api-key: sk-test-future
--- response_body_like eval
qr{^POST /mock/v1/chat/completions
host: mock\.example
authorization: Bearer sk-upstream-(one|two)
x-api-key: 
api-key: 
x-channel: mock
content-length: 62
transfer-encoding: 
body: \{"model":"gpt-4o","messages":\[\{"role":"user","content":"hi"\}\]\}
$}
--- response_headers
X-Key: all
--- no_error_log
sk-upstream-one
sk-upstream-two
sk-test-all
sk-test-limited
sk-test-future
[error]



=== TEST 36: duplicate credential headers are all stripped
--- more_headers
x-api-key: sk-test-all
x-api-key: sk-test-limited
api-key: sk-test-future
api-key: sk-test-local
--- response_body_like eval
qr{^POST /mock/v1/chat/completions
host: mock\.example
authorization: Bearer sk-upstream-(one|two)
x-api-key: 
api-key: 
x-channel: mock
}



=== TEST 37: credentials among many headers (a header list of several parts)
--- more_headers
X-Pad-1: 1
X-Pad-2: 2
X-Pad-3: 3
X-Pad-4: 4
X-Pad-5: 5
X-Pad-6: 6
X-Pad-7: 7
X-Pad-8: 8
X-Pad-9: 9
X-Pad-10: 10
X-Pad-11: 11
X-Pad-12: 12
X-Pad-13: 13
X-Pad-14: 14
X-Pad-15: 15
X-Pad-16: 16
X-Pad-17: 17
X-Pad-18: 18
X-Pad-19: 19
X-Pad-20: 20
X-Pad-21: 21
X-Pad-22: 22
X-Pad-23: 23
X-Pad-24: 24
X-Pad-25: 25
X-Pad-26: 26
X-Pad-27: 27
X-Pad-28: 28
X-Pad-29: 29
X-Pad-30: 30
x-api-key: sk-test-all
Authorization: Basic dXNlcjpwYXNz
api-key: sk-test-limited
X-Pad-Last: 1
--- response_body_like eval
qr{^POST /mock/v1/chat/completions
host: mock\.example
authorization: Bearer sk-upstream-(one|two)
x-api-key: 
api-key: 
x-channel: mock
content-length: 62
}
--- response_headers
X-Key: all
--- no_error_log
[error]



=== TEST 38: a channel without a key sends no Authorization, and the client's is still stripped
--- config
    location /v1/ {
        aigw on;
        aigw_auth off;
        aigw_model gpt-4o keyless;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- http_config
    aigw_channel keyless {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/v1;
    }
--- more_headers
Authorization: Bearer sk-client-secret
api-key: sk-client-secret-3
--- response_body_like eval
qr{^POST /mock/v1/chat/completions
host: 127\.0\.0\.1:\d+
authorization: 
x-api-key: 
api-key: 
x-channel: 
}



=== TEST 39: the upstream keys are used in turn
--- log_level: info
--- more_headers
Authorization: Bearer sk-test-all
--- pipelined_requests eval
["POST /v1/chat/completions
{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"POST /v1/chat/completions
{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"]
--- response_body_like eval
[qr{\nauthorization: Bearer sk-upstream-one\n}, qr{\nauthorization: Bearer sk-upstream-two\n}]
--- no_error_log
sk-upstream-one
sk-upstream-two



=== TEST 40: no upstream key in the gateway's own error answers, nor in the log
--- log_level: info
--- more_headers
Authorization: Bearer sk-test-all
--- request eval
["POST /v1/chat/completions
{\"model\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"POST /v1/chat/completions
{\"model\":\"gpt-4o\"}",
"GET /v1/chat/completions",
"POST /v1/chat/completions
{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":1}"]
--- error_code eval
[404, 400, 405, 400]
--- response_body eval
[qq!{"error":{"message":"The model 'nope' does not exist or is not served here.","type":"invalid_request_error","param":"model","code":"model_not_found"}}\n!,
qq!{"error":{"message":"Missing required parameter: 'messages'.","type":"invalid_request_error","param":"messages","code":"missing_required_parameter"}}\n!,
qq!{"error":{"message":"Method GET is not allowed for /v1/chat/completions; use POST.","type":"invalid_request_error","param":null,"code":"method_not_allowed"}}\n!,
qq!{"error":{"message":"Invalid type for 'stream': expected a boolean.","type":"invalid_request_error","param":"stream","code":"invalid_type"}}\n!]
--- no_error_log
sk-upstream-one
sk-upstream-two
sk-test-all



=== TEST 41: no upstream key in an upstream error that nginx answers (502)
--- log_level: info
--- http_config
    aigw_channel down {
        endpoint http://127.0.0.1:1/v1;
        key sk-upstream-down;
    }
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o down;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- more_headers
Authorization: Bearer sk-test-all
--- error_code: 502
--- response_body
{"error":{"message":"The upstream provider could not be reached or sent an invalid response.","type":"api_error","param":null,"code":"upstream_error"}}
--- error_log
connect() failed
--- no_error_log
sk-upstream-down
sk-test-all



=== TEST 42: $aigw_key_name, $aigw_tenant and $aigw_key_id
--- more_headers
x-api-key: sk-test-all
--- response_headers eval
"X-Key: all\nX-Tenant: acme\nX-Key-Id: " . main::kid("sk-test-all")
--- response_body_like: ^POST /mock/v1/chat/completions\n



=== TEST 43: $aigw_key_id is "k_" and 16 hex digits, the same for every header
--- more_headers
api-key: sk-test-limited
--- response_headers_like
X-Key-Id: k_[0-9a-f]{16}
X-Key: limited
--- response_body_like: ^POST /mock/v1/chat/completions\n



=== TEST 44: the key variables in the access log
--- http_config
    log_format aigw_keys "key=$aigw_key_name tenant=$aigw_tenant id=$aigw_key_id";
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        access_log logs/access.log aigw_keys;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- more_headers
Authorization: Bearer sk-test-all
--- response_body_like: ^POST /mock/v1/chat/completions\n
--- access_log eval
"key=all tenant=acme id=" . main::kid("sk-test-all")



=== TEST 45: set_aigw_key_id from a Bearer header
--- config
    location = /id {
        set_aigw_key_id $id $http_authorization;
        return 200 "$id\n";
    }
--- more_headers
Authorization: Bearer sk-test-all
--- request
GET /id
--- response_body eval
main::kid("sk-test-all") . "\n"



=== TEST 46: set_aigw_key_id: lowercase bearer and spaces, the same id as $aigw_key_id
--- config
    location = /id {
        set_aigw_key_id $id $http_authorization;
        return 200 "$id\n";
    }
--- more_headers
Authorization: bearer   sk-test-hashed
--- request
GET /id
--- response_body eval
main::kid("sk-test-hashed") . "\n"



=== TEST 47: set_aigw_key_id from a bare key (x-api-key)
--- config
    location = /id {
        set_aigw_key_id $id $http_x_api_key;
        return 200 "$id\n";
    }
--- more_headers
x-api-key: sk-test-limited
--- request
GET /id
--- response_body eval
main::kid("sk-test-limited") . "\n"



=== TEST 48: set_aigw_key_id is empty without the header
--- config
    location = /id {
        set_aigw_key_id $id $http_authorization;
        return 200 "[$id]\n";
    }
--- request
GET /id
--- response_body
[]



=== TEST 49: set_aigw_key_id is empty for "Bearer" with no key
--- config
    location = /id {
        set_aigw_key_id $id $http_x_token;
        return 200 "[$id]\n";
    }
--- more_headers
X-Token: Bearer    
--- request
GET /id
--- response_body
[]
