# After an internal redirect (error_page, named locations) the request keeps
# its gateway context: no second authentication, rewrite or charge, the
# same request id and variables.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use AigwTest;

repeat_each(2);
no_long_string();
log_level('info');
run_tests();

__DATA__

=== TEST 1: error_page to a named location keeps the variables
--- http_config
    aigw_channel dead {
        endpoint http://127.0.0.1:1/v1;
    }
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o dead model=gpt-4o-up;
        error_page 502 = @fallback;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }

    location @fallback {
        aigw on;
        return 200 "fallback model=$aigw_model up=$aigw_upstream_model channel=$aigw_channel key=$aigw_key_name id=$aigw_request_id\n";
    }
--- more_headers
Authorization: Bearer sk-test-all
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- response_body_like eval
qr{^fallback model=gpt-4o up=gpt-4o-up channel=dead key=all id=([0-9a-f]{32})\n$}
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- error_log
connect() failed



=== TEST 2: a retry in another gateway location goes upstream once more, unchanged
--- http_config
    aigw_channel dead {
        endpoint http://127.0.0.1:1/v1;
    }
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o dead model=gpt-4o-up;
        error_page 502 = @retry;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }

    location @retry {
        aigw on;
        aigw_model gpt-4o mock;
        set $retry http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/v1/chat/completions;
        proxy_pass $retry;
    }
--- more_headers
Authorization: Bearer sk-test-all
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- response_body_like eval
qr{^POST /mock/v1/chat/completions\n(?:.*\n)*body: \{"model":"gpt-4o-up","messages":\[\{"role":"user","content":"hi"\}\]\}\n$}
