# A budget reached in the middle of a stream: the stream is not cut (the
# client gets every event and [DONE]), its real cost is charged when it
# ends, and the key's next request is refused.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use AigwTest;

repeat_each(1);
no_long_string();
log_level('info');
run_tests();

__DATA__

=== TEST 1: the stream that spends past the budget ends whole; the next request gets 403
--- no_default_http: 1
--- http_config
    aigw_keys_file $TEST_NGINX_SERVER_ROOT/html/keys.json;
    aigw_prices_file $TEST_NGINX_SERVER_ROOT/html/prices.json;

    aigw_channel sse {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/sse/v1;
    }

    log_format cost '$aigw_key_name $status $aigw_completion_tokens $aigw_cost';
--- user_files
>>> keys.json
{"keys": [{"name": "streamer", "key": "sk-stream-budget",
           "budget": {"usd": 0.001, "period": "total"}}]}
>>> prices.json
{"models": {"*": {"input": 1.0, "output": 2.0}}}
--- config
    location /v1/ {
        aigw on;
        aigw_model m sse;
        access_log logs/cost.log cost;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }

    location /sse/v1/ {
        default_type text/event-stream;
        echo -n 'data: {"choices":[{"index":0,"delta":{"content":"a"}}],"usage":null}\n\n';
        echo_flush;
        echo_sleep 0.05;
        echo -n 'data: {"choices":[],"usage":{"prompt_tokens":100,"completion_tokens":600,"total_tokens":700}}\n\n';
        echo -n 'data: [DONE]\n\n';
    }
--- more_headers
Authorization: Bearer sk-stream-budget
--- request eval
[
"POST /v1/chat/completions
{\"model\":\"m\",\"stream\":true,\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
"POST /v1/chat/completions
{\"model\":\"m\",\"stream\":true,\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
]
--- error_code eval
[200, 403]
--- response_body eval
[
qq{data: {"choices":[{"index":0,"delta":{"content":"a"}}],"usage":null}\n\ndata: [DONE]\n\n},
qq{{"error":{"message":"The budget of key 'streamer' (0.001000 USD) is spent.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}\n}
]
--- no_error_log
[error]
