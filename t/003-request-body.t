# The request body and routing: every bad input and the exact OpenAI-shaped
# error it gets, model routes, endpoints, large, spooled, chunked and split
# bodies, body rules, usage for streams, and configuration errors.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use AigwTest;

our $M = q{"messages":[{"role":"user","content":"hi"}]};

# What the echo mock answers when a channel got exactly $body: a regex for
# --- response_body_like (the rotating key of "mock" is either of two).
sub main::up {
    my ($body, %o) = @_;

    my $ep = $o{endpoint} // 'chat/completions';
    my $ch = $o{channel} // 'mock';
    my ($uri, $host, $auth, $xch);

    if ($ch eq 'mock') {
        ($uri, $host, $auth, $xch) = ("/mock/v1/$ep", 'mock\.example',
                                      'Bearer sk-upstream-(?:one|two)',
                                      'mock');
    } elsif ($ch eq 'backup') {
        ($uri, $host, $auth, $xch) = ("/backup/$ep", '127\.0\.0\.1:\d+',
                                      'Bearer sk-upstream-backup', '');
    } else {
        die "unknown channel $ch";
    }

    my $len = length $body;

    return qr{\APOST \Q$uri\E
host: $host
authorization: $auth
x-api-key: 
api-key: 
x-channel: $xch
content-length: $len
transfer-encoding: 
body: \Q$body\E
\z};
}

our $Location = <<'_EOC_';
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        aigw_model org/* mock;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
_EOC_

add_block_preprocessor(sub {
    my $block = shift;

    $block->set_value("config", $Location) unless defined $block->config;

    if (!defined $block->more_headers && !defined $block->raw_request) {
        $block->set_value("more_headers", "Authorization: Bearer sk-test-all");
    }
});

repeat_each(2);
no_long_string();
run_tests();

__DATA__

=== TEST 1: a valid body is passed on, re-serialized without whitespace between members
--- request eval
qq{POST /v1/chat/completions
{ "model" : "gpt-4o" ,\n "messages" : [ {"role": "user", "content": "hi"} ] , "temperature":0.2 }}
--- response_body_like eval
main::up(q{{"model":"gpt-4o","messages":[ {"role": "user", "content": "hi"} ],"temperature":0.2}})
--- no_error_log
[error]



=== TEST 2: malformed JSON: a trailing comma
--- request
POST /v1/chat/completions
{"model":"gpt-4o",}
--- error_code: 400
--- response_body
{"error":{"message":"We could not parse the JSON body of your request: expected a quoted key at byte 18.","type":"invalid_request_error","param":null,"code":"invalid_json"}}
--- response_headers
Content-Type: application/json
--- no_error_log
[error]



=== TEST 3: malformed JSON: unterminated object
--- request
POST /v1/chat/completions
{"model":"gpt-4o"
--- error_code: 400
--- response_body
{"error":{"message":"We could not parse the JSON body of your request: unexpected end of JSON at byte 17.","type":"invalid_request_error","param":null,"code":"invalid_json"}}



=== TEST 4: malformed JSON: no colon
--- request
POST /v1/chat/completions
{"model" "gpt-4o"}
--- error_code: 400
--- response_body
{"error":{"message":"We could not parse the JSON body of your request: expected ':' after a key at byte 9.","type":"invalid_request_error","param":null,"code":"invalid_json"}}



=== TEST 5: malformed JSON: an unquoted key
--- request
POST /v1/chat/completions
{model:"gpt-4o"}
--- error_code: 400
--- response_body
{"error":{"message":"We could not parse the JSON body of your request: expected a quoted key at byte 1.","type":"invalid_request_error","param":null,"code":"invalid_json"}}



=== TEST 6: malformed JSON: a trailing comma in a nested array
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[1,]}
--- error_code: 400
--- response_body
{"error":{"message":"We could not parse the JSON body of your request: invalid value at byte 32.","type":"invalid_request_error","param":null,"code":"invalid_json"}}



=== TEST 7: malformed JSON: a bad literal
--- request
POST /v1/chat/completions
{"model":"gpt-4o","x":tru}
--- error_code: 400
--- response_body
{"error":{"message":"We could not parse the JSON body of your request: invalid literal at byte 22.","type":"invalid_request_error","param":null,"code":"invalid_json"}}



=== TEST 8: an empty body
--- request
POST /v1/chat/completions
--- error_code: 400
--- response_body
{"error":{"message":"We could not parse the JSON body of your request: the body is empty at byte 0.","type":"invalid_request_error","param":null,"code":"invalid_json"}}



=== TEST 9: a body of whitespace only
--- raw_request eval
"POST /v1/chat/completions HTTP/1.1\r
Host: localhost\r
Connection: close\r
Authorization: Bearer sk-test-all\r
Content-Length: 4\r
\r
 \r\n\t"
--- error_code: 400
--- response_body
{"error":{"message":"We could not parse the JSON body of your request: the body is empty at byte 4.","type":"invalid_request_error","param":null,"code":"invalid_json"}}



=== TEST 10: a JSON array is not an object
--- request
POST /v1/chat/completions
[{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}]
--- error_code: 400
--- response_body
{"error":{"message":"The request body must be a JSON object.","type":"invalid_request_error","param":null,"code":"invalid_json"}}



=== TEST 11: a JSON string is not an object
--- request
POST /v1/chat/completions
"gpt-4o"
--- error_code: 400
--- response_body
{"error":{"message":"The request body must be a JSON object.","type":"invalid_request_error","param":null,"code":"invalid_json"}}



=== TEST 12: a JSON number is not an object
--- request
POST /v1/chat/completions
42
--- error_code: 400
--- response_body
{"error":{"message":"The request body must be a JSON object.","type":"invalid_request_error","param":null,"code":"invalid_json"}}



=== TEST 13: a broken array is a syntax error, not "not an object"
--- request
POST /v1/chat/completions
[1,
--- error_code: 400
--- response_body
{"error":{"message":"We could not parse the JSON body of your request: the body is not valid JSON at byte 0.","type":"invalid_request_error","param":null,"code":"invalid_json"}}



=== TEST 14: trailing garbage
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]} x
--- error_code: 400
--- response_body
{"error":{"message":"We could not parse the JSON body of your request: unexpected data after the JSON object at byte 63.","type":"invalid_request_error","param":null,"code":"invalid_json"}}



=== TEST 15: a second object after the first
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}{}
--- error_code: 400
--- response_body
{"error":{"message":"We could not parse the JSON body of your request: unexpected data after the JSON object at byte 62.","type":"invalid_request_error","param":null,"code":"invalid_json"}}



=== TEST 16: model missing
--- request
POST /v1/chat/completions
{"messages":[{"role":"user","content":"hi"}]}
--- error_code: 400
--- response_body
{"error":{"message":"You must provide a model parameter.","type":"invalid_request_error","param":"model","code":"missing_required_parameter"}}



=== TEST 17: model missing from an empty object
--- request
POST /v1/chat/completions
{}
--- error_code: 400
--- response_body
{"error":{"message":"You must provide a model parameter.","type":"invalid_request_error","param":"model","code":"missing_required_parameter"}}



=== TEST 18: model is a number
--- request
POST /v1/chat/completions
{"model":4,"messages":[{"role":"user","content":"hi"}]}
--- error_code: 400
--- response_body
{"error":{"message":"Invalid type for 'model': expected a string, but got a number.","type":"invalid_request_error","param":"model","code":"invalid_type"}}



=== TEST 19: model is null, an array, a boolean, an object
--- request eval
["POST /v1/chat/completions
{\"model\":null,\"messages\":[]}",
"POST /v1/chat/completions
{\"model\":[\"gpt-4o\"]}",
"POST /v1/chat/completions
{\"model\":false}",
"POST /v1/chat/completions
{\"model\":{}}"]
--- error_code eval
[400, 400, 400, 400]
--- response_body eval
[qq!{"error":{"message":"Invalid type for 'model': expected a string, but got null.","type":"invalid_request_error","param":"model","code":"invalid_type"}}\n!,
qq!{"error":{"message":"Invalid type for 'model': expected a string, but got an array.","type":"invalid_request_error","param":"model","code":"invalid_type"}}\n!,
qq!{"error":{"message":"Invalid type for 'model': expected a string, but got a boolean.","type":"invalid_request_error","param":"model","code":"invalid_type"}}\n!,
qq!{"error":{"message":"Invalid type for 'model': expected a string, but got an object.","type":"invalid_request_error","param":"model","code":"invalid_type"}}\n!]



=== TEST 20: model is empty
--- request
POST /v1/chat/completions
{"model":"","messages":[{"role":"user","content":"hi"}]}
--- error_code: 400
--- response_body
{"error":{"message":"Invalid 'model': it must be 1 to 256 characters long.","type":"invalid_request_error","param":"model","code":"invalid_value"}}



=== TEST 21: model with an escaped CR, LF, NUL, TAB, DEL, space, non-ASCII, lone surrogate
--- request eval
[map { "POST /v1/chat/completions\n{\"model\":\"gpt$_-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}" }
 ('\\r', '\\n', '\\u0000', '\\t', '\\u007f', ' ', "\xc3\xa9", '\\u00e9', '\\ud800')]
--- error_code eval
[(400) x 9]
--- response_body eval
[(qq!{"error":{"message":"Invalid 'model': only printable ASCII characters without spaces are allowed.","type":"invalid_request_error","param":"model","code":"invalid_value"}}\n!) x 9]
--- no_error_log
[error]



=== TEST 22: model with a raw control byte is a JSON syntax error
--- request eval
"POST /v1/chat/completions
{\"model\":\"gpt\x014o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
--- error_code: 400
--- response_body
{"error":{"message":"We could not parse the JSON body of your request: control character in a string at byte 13.","type":"invalid_request_error","param":null,"code":"invalid_json"}}



=== TEST 23: model with a raw newline is a JSON syntax error
--- request eval
"POST /v1/chat/completions
{\"model\":\"gpt\n4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
--- error_code: 400
--- response_body
{"error":{"message":"We could not parse the JSON body of your request: control character in a string at byte 13.","type":"invalid_request_error","param":null,"code":"invalid_json"}}



=== TEST 24: model of 257 characters
--- config
    location /v1/ {
        aigw on;
        aigw_model a* mock;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
"POST /v1/chat/completions
{\"model\":\"" . ("a" x 257) . "\",$main::M}"
--- error_code: 400
--- response_body
{"error":{"message":"Invalid 'model': it must be 1 to 256 characters long.","type":"invalid_request_error","param":"model","code":"invalid_value"}}



=== TEST 25: model of 256 characters is passed on
--- config
    location /v1/ {
        aigw on;
        aigw_model a* mock;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
"POST /v1/chat/completions
{\"model\":\"" . ("a" x 256) . "\",$main::M}"
--- response_body_like eval
main::up("{\"model\":\"" . ("a" x 256) . "\",$main::M}")



=== TEST 26: the length of a model is counted after unescaping
--- config
    location /v1/ {
        aigw on;
        aigw_model a* mock;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
"POST /v1/chat/completions
{\"model\":\"" . ("\\u0061" x 256) . "\",$main::M}"
--- response_body_like eval
main::up("{\"model\":\"" . ("a" x 256) . "\",$main::M}")



=== TEST 27: duplicate key "model"
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"model":"gpt-4o-mini"}
--- error_code: 400
--- response_body
{"error":{"message":"The request body has the key 'model' more than once.","type":"invalid_request_error","param":"model","code":"duplicate_key"}}



=== TEST 28: duplicate key "model", the second one escaped
--- request
POST /v1/chat/completions
{"model":"gpt-4o","mod\u0065l":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}
--- error_code: 400
--- response_body
{"error":{"message":"The request body has the key 'model' more than once.","type":"invalid_request_error","param":"model","code":"duplicate_key"}}



=== TEST 29: duplicate key, both escaped differently
--- request
POST /v1/chat/completions
{"\u0073tream":true,"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"s\u0074ream":false}
--- error_code: 400
--- response_body
{"error":{"message":"The request body has the key 'stream' more than once.","type":"invalid_request_error","param":"stream","code":"duplicate_key"}}



=== TEST 30: an escaped "model" key alone is the model
--- request
POST /v1/chat/completions
{"mod\u0065l":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- response_body_like eval
main::up(q{{"mod\u0065l":"gpt-4o","messages":[{"role":"user","content":"hi"}]}})



=== TEST 31: nested 64 levels deep (the limit) is accepted
--- request eval
"POST /v1/chat/completions
{\"model\":\"gpt-4o\",$main::M,\"x\":" . ("[" x 63) . ("]" x 63) . "}"
--- response_body_like eval
main::up("{\"model\":\"gpt-4o\",$main::M,\"x\":" . ("[" x 63) . ("]" x 63) . "}")



=== TEST 32: nested 65 levels deep is refused
--- request eval
"POST /v1/chat/completions
{\"model\":\"gpt-4o\",$main::M,\"x\":" . ("[" x 64) . ("]" x 64) . "}"
--- error_code: 400
--- response_body
{"error":{"message":"The request body is nested too deeply (the limit is 64 levels).","type":"invalid_request_error","param":null,"code":"invalid_json"}}



=== TEST 33: objects nested 65 levels deep are refused
--- request eval
"POST /v1/chat/completions
{\"model\":\"gpt-4o\",$main::M,\"x\":" . ('{"a":' x 64) . "1" . ("}" x 64) . "}"
--- error_code: 400
--- response_body
{"error":{"message":"The request body is nested too deeply (the limit is 64 levels).","type":"invalid_request_error","param":null,"code":"invalid_json"}}



=== TEST 34: 128 top-level fields (the limit) are accepted
--- request eval
"POST /v1/chat/completions
{\"model\":\"gpt-4o\",$main::M" . CORE::join("", map { ",\"f$_\":$_" } 1 .. 126) . "}"
--- response_body_like eval
main::up("{\"model\":\"gpt-4o\",$main::M" . CORE::join("", map { ",\"f$_\":$_" } 1 .. 126) . "}")



=== TEST 35: 129 top-level fields are refused
--- request eval
"POST /v1/chat/completions
{\"model\":\"gpt-4o\",$main::M" . CORE::join("", map { ",\"f$_\":$_" } 1 .. 127) . "}"
--- error_code: 400
--- response_body
{"error":{"message":"The request body has too many top-level fields (the limit is 128).","type":"invalid_request_error","param":null,"code":"invalid_json"}}



=== TEST 36: messages missing
--- request
POST /v1/chat/completions
{"model":"gpt-4o"}
--- error_code: 400
--- response_body
{"error":{"message":"Missing required parameter: 'messages'.","type":"invalid_request_error","param":"messages","code":"missing_required_parameter"}}



=== TEST 37: messages is not an array
--- request eval
["POST /v1/chat/completions
{\"model\":\"gpt-4o\",\"messages\":\"hi\"}",
"POST /v1/chat/completions
{\"model\":\"gpt-4o\",\"messages\":{\"role\":\"user\"}}",
"POST /v1/chat/completions
{\"model\":\"gpt-4o\",\"messages\":null}"]
--- error_code eval
[400, 400, 400]
--- response_body eval
[qq!{"error":{"message":"Invalid type for 'messages': got a string.","type":"invalid_request_error","param":"messages","code":"invalid_type"}}\n!,
qq!{"error":{"message":"Invalid type for 'messages': got an object.","type":"invalid_request_error","param":"messages","code":"invalid_type"}}\n!,
qq!{"error":{"message":"Invalid type for 'messages': got null.","type":"invalid_request_error","param":"messages","code":"invalid_type"}}\n!]



=== TEST 38: messages is empty
--- request eval
["POST /v1/chat/completions
{\"model\":\"gpt-4o\",\"messages\":[]}",
"POST /v1/chat/completions
{\"model\":\"gpt-4o\",\"messages\":[ \n ]}"]
--- error_code eval
[400, 400]
--- response_body eval
[qq!{"error":{"message":"Invalid 'messages': it must not be empty.","type":"invalid_request_error","param":"messages","code":"invalid_value"}}\n!,
qq!{"error":{"message":"Invalid 'messages': it must not be empty.","type":"invalid_request_error","param":"messages","code":"invalid_value"}}\n!]



=== TEST 39: prompt missing for /v1/completions
--- request
POST /v1/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- error_code: 400
--- response_body
{"error":{"message":"Missing required parameter: 'prompt'.","type":"invalid_request_error","param":"prompt","code":"missing_required_parameter"}}



=== TEST 40: prompt of the wrong type
--- request
POST /v1/completions
{"model":"gpt-4o","prompt":42}
--- error_code: 400
--- response_body
{"error":{"message":"Invalid type for 'prompt': got a number.","type":"invalid_request_error","param":"prompt","code":"invalid_type"}}



=== TEST 41: a completion goes to the channel's /completions
--- request
POST /v1/completions
{"model":"gpt-4o","prompt":["a","b"],"max_tokens":5}
--- response_body_like eval
main::up(q{{"model":"gpt-4o","prompt":["a","b"],"max_tokens":5}}, endpoint => "completions")



=== TEST 42: input missing for /v1/embeddings
--- request
POST /v1/embeddings
{"model":"gpt-4o","prompt":"hi"}
--- error_code: 400
--- response_body
{"error":{"message":"Missing required parameter: 'input'.","type":"invalid_request_error","param":"input","code":"missing_required_parameter"}}



=== TEST 43: input of the wrong type
--- request
POST /v1/embeddings
{"model":"gpt-4o","input":{"text":"hi"}}
--- error_code: 400
--- response_body
{"error":{"message":"Invalid type for 'input': got an object.","type":"invalid_request_error","param":"input","code":"invalid_type"}}



=== TEST 44: an embedding goes to the channel's /embeddings
--- request
POST /v1/embeddings
{"model":"gpt-4o","input":"hi"}
--- response_body_like eval
main::up(q{{"model":"gpt-4o","input":"hi"}}, endpoint => "embeddings")



=== TEST 45: max_tokens "abc", 0, -1, 1.5, 1e3, 100000001, true
--- request eval
[map { "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M,\"max_tokens\":$_}" }
 ('"abc"', '0', '-1', '1.5', '1e3', '100000001', 'true')]
--- error_code eval
[(400) x 7]
--- response_body eval
[(qq!{"error":{"message":"Invalid 'max_tokens': expected a positive integer.","type":"invalid_request_error","param":"max_tokens","code":"invalid_value"}}\n!) x 7]



=== TEST 46: max_completion_tokens 0 and n 0
--- request eval
["POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M,\"max_completion_tokens\":0}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M,\"n\":0}"]
--- error_code eval
[400, 400]
--- response_body eval
[qq!{"error":{"message":"Invalid 'max_completion_tokens': expected a positive integer.","type":"invalid_request_error","param":"max_completion_tokens","code":"invalid_value"}}\n!,
qq!{"error":{"message":"Invalid 'n': expected a positive integer.","type":"invalid_request_error","param":"n","code":"invalid_value"}}\n!]



=== TEST 47: max_tokens 1, 100000000 and null are accepted
--- request eval
[map { "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M,\"max_tokens\":$_}" }
 ('1', '100000000', 'null')]
--- response_body_like eval
[map { main::up("{\"model\":\"gpt-4o\",$main::M,\"max_tokens\":$_}") }
 ('1', '100000000', 'null')]



=== TEST 48: stream "yes" and 1
--- request eval
[map { "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M,\"stream\":$_}" }
 ('"yes"', '1')]
--- error_code eval
[400, 400]
--- response_body eval
[(qq!{"error":{"message":"Invalid type for 'stream': expected a boolean.","type":"invalid_request_error","param":"stream","code":"invalid_type"}}\n!) x 2]



=== TEST 49: org/model-name and org\/model-name reach the channel as "org/model-name"
--- request eval
["POST /v1/chat/completions\n{\"model\":\"org/model-name\",$main::M}",
 "POST /v1/chat/completions\n{\"model\":\"org\\/model-name\",$main::M}",
 "POST /v1/chat/completions\n{\"model\":\"\\u006frg\\u002Fmodel-name\",$main::M}"]
--- response_body_like eval
[(main::up("{\"model\":\"org/model-name\",$main::M}")) x 3]



=== TEST 50: an unknown model
--- request
POST /v1/chat/completions
{"model":"gpt-5","messages":[{"role":"user","content":"hi"}]}
--- error_code: 404
--- response_body
{"error":{"message":"The model 'gpt-5' does not exist or is not served here.","type":"invalid_request_error","param":"model","code":"model_not_found"}}



=== TEST 51: a model that is a prefix of an exact route is unknown
--- request
POST /v1/chat/completions
{"model":"gpt-4","messages":[{"role":"user","content":"hi"}]}
--- error_code: 404
--- response_body
{"error":{"message":"The model 'gpt-4' does not exist or is not served here.","type":"invalid_request_error","param":"model","code":"model_not_found"}}



=== TEST 52: the quote in an unknown model's name is escaped in the error
--- request
POST /v1/chat/completions
{"model":"a\"b\\c","messages":[{"role":"user","content":"hi"}]}
--- error_code: 404
--- response_body
{"error":{"message":"The model 'a\"b\\c' does not exist or is not served here.","type":"invalid_request_error","param":"model","code":"model_not_found"}}



=== TEST 53: a location without routes knows no model
--- config
    location /v1/ {
        aigw on;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- error_code: 404
--- response_body
{"error":{"message":"The model 'gpt-4o' does not exist or is not served here.","type":"invalid_request_error","param":"model","code":"model_not_found"}}



=== TEST 54: a prefix route passes the client's model on
--- config
    location /v1/ {
        aigw on;
        aigw_model llama-* mock;
        add_header X-Model $aigw_model always;
        add_header X-Upstream-Model $aigw_upstream_model always;
        add_header X-Channel $aigw_channel always;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
"POST /v1/chat/completions\n{\"model\":\"llama-3.1-8b\",$main::M}"
--- response_body_like eval
main::up("{\"model\":\"llama-3.1-8b\",$main::M}")
--- response_headers
X-Model: llama-3.1-8b
X-Upstream-Model: llama-3.1-8b
X-Channel: mock



=== TEST 55: an exact route beats a prefix route
--- config
    location /v1/ {
        aigw on;
        aigw_model llama-* mock;
        aigw_model llama-3 backup;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
["POST /v1/chat/completions\n{\"model\":\"llama-3\",$main::M}",
 "POST /v1/chat/completions\n{\"model\":\"llama-3x\",$main::M}"]
--- response_body_like eval
[main::up("{\"model\":\"llama-3\",$main::M}", channel => "backup"),
 main::up("{\"model\":\"llama-3x\",$main::M}")]



=== TEST 56: the longest prefix wins, whatever the order
--- config
    location /v1/ {
        aigw on;
        aigw_model llama-3-* backup;
        aigw_model llama-* mock;
        aigw_model llama-3-70* mock;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
["POST /v1/chat/completions\n{\"model\":\"llama-3-8b\",$main::M}",
 "POST /v1/chat/completions\n{\"model\":\"llama-2-7b\",$main::M}",
 "POST /v1/chat/completions\n{\"model\":\"llama-3-70b\",$main::M}",
 "POST /v1/chat/completions\n{\"model\":\"llama-3-\",$main::M}"]
--- response_body_like eval
[main::up("{\"model\":\"llama-3-8b\",$main::M}", channel => "backup"),
 main::up("{\"model\":\"llama-2-7b\",$main::M}"),
 main::up("{\"model\":\"llama-3-70b\",$main::M}"),
 main::up("{\"model\":\"llama-3-\",$main::M}", channel => "backup")]



=== TEST 57: "*" serves every other model
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        aigw_model * backup;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
["POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M}",
 "POST /v1/chat/completions\n{\"model\":\"anything/else\",$main::M}"]
--- response_body_like eval
[main::up("{\"model\":\"gpt-4o\",$main::M}"),
 main::up("{\"model\":\"anything/else\",$main::M}", channel => "backup")]



=== TEST 58: model= renames the model upstream, for exact and prefix routes
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock model=gpt-4o-2024-08-06;
        aigw_model fast-* backup model=llama-3.1-8b-instant;
        add_header X-Model $aigw_model always;
        add_header X-Upstream-Model $aigw_upstream_model always;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
["POST /v1/chat/completions\n{\"stream\":false,\"model\":\"gpt-4o\",$main::M}",
 "POST /v1/chat/completions\n{\"model\":\"fast-anything\",$main::M}"]
--- response_body_like eval
[main::up("{\"stream\":false,\"model\":\"gpt-4o-2024-08-06\",$main::M}"),
 main::up("{\"model\":\"llama-3.1-8b-instant\",$main::M}", channel => "backup")]
--- response_headers eval
["X-Model: gpt-4o\nX-Upstream-Model: gpt-4o-2024-08-06",
 "X-Model: fast-anything\nX-Upstream-Model: llama-3.1-8b-instant"]



=== TEST 59: the higher priority tier is used, whatever the order
--- config
    location /v1/ {
        aigw on;
        aigw_model m mock priority=1;
        aigw_model m backup priority=5;
        aigw_model m mock priority=-3;
        aigw_model n backup priority=-1;
        aigw_model n mock;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
["POST /v1/chat/completions\n{\"model\":\"m\",$main::M}",
 "POST /v1/chat/completions\n{\"model\":\"m\",$main::M}",
 "POST /v1/chat/completions\n{\"model\":\"n\",$main::M}",
 "POST /v1/chat/completions\n{\"model\":\"n\",$main::M}"]
--- response_body_like eval
[main::up("{\"model\":\"m\",$main::M}", channel => "backup"),
 main::up("{\"model\":\"m\",$main::M}", channel => "backup"),
 main::up("{\"model\":\"n\",$main::M}"),
 main::up("{\"model\":\"n\",$main::M}")]



=== TEST 60: an inactive channel (key_env unset) is skipped for the next tier
--- config
    location /v1/ {
        aigw on;
        aigw_model m nokey priority=10 model=never;
        aigw_model m backup;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
["POST /v1/chat/completions\n{\"model\":\"m\",$main::M}",
 "POST /v1/chat/completions\n{\"model\":\"m\",$main::M}"]
--- response_body_like eval
[(main::up("{\"model\":\"m\",$main::M}", channel => "backup")) x 2]



=== TEST 61: an inactive channel is skipped inside its tier, whatever its weight
--- config
    location /v1/ {
        aigw on;
        aigw_model m nokey weight=1000000;
        aigw_model m backup weight=1;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
[("POST /v1/chat/completions\n{\"model\":\"m\",$main::M}") x 3]
--- response_body_like eval
[(main::up("{\"model\":\"m\",$main::M}", channel => "backup")) x 3]



=== TEST 62: only an inactive channel: 503 no_channel_available
--- config
    location /v1/ {
        aigw on;
        aigw_model m nokey;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
"POST /v1/chat/completions\n{\"model\":\"m\",$main::M}"
--- error_code: 503
--- response_body
{"error":{"message":"No channel is available for the model 'm'.","type":"api_error","param":null,"code":"no_channel_available"}}



=== TEST 63: GET on chat completions: 405 with Allow: POST
--- request
GET /v1/chat/completions
--- error_code: 405
--- response_headers
Allow: POST
Content-Type: application/json
--- response_body
{"error":{"message":"Method GET is not allowed for /v1/chat/completions; use POST.","type":"invalid_request_error","param":null,"code":"method_not_allowed"}}



=== TEST 64: PUT on embeddings: 405 with Allow: POST
--- request
PUT /v1/embeddings
{"model":"gpt-4o","input":"hi"}
--- error_code: 405
--- response_headers
Allow: POST
--- response_body
{"error":{"message":"Method PUT is not allowed for /v1/embeddings; use POST.","type":"invalid_request_error","param":null,"code":"method_not_allowed"}}



=== TEST 65: POST on models: 405 with Allow: GET, HEAD
--- request
POST /v1/models
{}
--- error_code: 405
--- response_headers
Allow: GET, HEAD
--- response_body
{"error":{"message":"Method POST is not allowed for /v1/models; use GET, HEAD.","type":"invalid_request_error","param":null,"code":"method_not_allowed"}}



=== TEST 66: an unknown endpoint
--- request
POST /v1/foo
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}
--- error_code: 404
--- response_body
{"error":{"message":"Unknown request URL: POST /v1/foo.","type":"invalid_request_error","param":null,"code":"unknown_url"}}



=== TEST 67: aigw_endpoints chat: embeddings and models are unknown
--- config
    location /v1/ {
        aigw on;
        aigw_endpoints chat;
        aigw_model gpt-4o mock;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
["POST /v1/embeddings\n{\"model\":\"gpt-4o\",\"input\":\"hi\"}",
 "GET /v1/models",
 "POST /v1/completions\n{\"model\":\"gpt-4o\",\"prompt\":\"hi\"}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M}"]
--- error_code eval
[404, 404, 404, 200]
--- response_body_like eval
[qr{\A\Q{"error":{"message":"Unknown request URL: POST /v1/embeddings.","type":"invalid_request_error","param":null,"code":"unknown_url"}}\E\n\z},
 qr{\A\Q{"error":{"message":"Unknown request URL: GET /v1/models.","type":"invalid_request_error","param":null,"code":"unknown_url"}}\E\n\z},
 qr{\A\Q{"error":{"message":"Unknown request URL: POST /v1/completions.","type":"invalid_request_error","param":null,"code":"unknown_url"}}\E\n\z},
 main::up("{\"model\":\"gpt-4o\",$main::M}")]



=== TEST 68: 413: a Content-Length over client_max_body_size
--- config
    location /v1/ {
        aigw on;
        client_max_body_size 100;
        aigw_model gpt-4o mock;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
"POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M,\"user\":\"" . ("x" x 100) . "\"}"
--- error_code: 413
--- response_headers
Content-Type: application/json
--- response_body
{"error":{"message":"The request body is too large (the limit is 100 bytes).","type":"invalid_request_error","param":null,"code":"request_too_large"}}



=== TEST 69: 413: a chunked body over client_max_body_size
--- config
    location /v1/ {
        aigw on;
        client_max_body_size 100;
        aigw_model gpt-4o mock;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- more_headers
Authorization: Bearer sk-test-all
Transfer-Encoding: chunked
--- request eval
my $body = "{\"model\":\"gpt-4o\",$main::M,\"user\":\"" . ("x" x 100) . "\"}";
"POST /v1/chat/completions\n" . sprintf("%x\r\n%s\r\n0\r\n\r\n", length $body, $body)
--- error_code: 413
--- response_headers
Content-Type: application/json
--- response_body
{"error":{"message":"The request body is too large (the limit is 100 bytes).","type":"invalid_request_error","param":null,"code":"request_too_large"}}



=== TEST 70: a body spooled to a temporary file is read and rewritten
--- config
    location /v1/ {
        aigw on;
        client_body_buffer_size 1k;
        aigw_model gpt-4o mock model=gpt-4o-2024-08-06;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
"POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"" . ("0123456789" x 400) . "\"}]}"
--- response_body_like eval
main::up("{\"model\":\"gpt-4o-2024-08-06\",\"messages\":[{\"role\":\"user\",\"content\":\"" . ("0123456789" x 400) . "\"}]}")
--- error_log
a client request body is buffered to a temporary file
--- no_error_log
[error]



=== TEST 71: client_body_in_file_only on: the body is read from the file and rewritten
--- config
    location /v1/ {
        aigw on;
        client_body_in_file_only on;
        aigw_model gpt-4o mock model=gpt-4o-2024-08-06;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
["POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"" . ("0123456789" x 400) . "\"}]}"]
--- response_body_like eval
[main::up("{\"model\":\"gpt-4o-2024-08-06\",$main::M}"),
 main::up("{\"model\":\"gpt-4o-2024-08-06\",\"messages\":[{\"role\":\"user\",\"content\":\"" . ("0123456789" x 400) . "\"}]}")]
--- no_error_log
[error]



=== TEST 72: a chunked body in several chunks: the upstream gets a Content-Length
--- raw_request eval
"POST /v1/chat/completions HTTP/1.1\r
Host: localhost\r
Connection: close\r
Authorization: Bearer sk-test-all\r
Transfer-Encoding: chunked\r
\r
5\r
{\"mod\r
c\r
el\":\"gpt-4o\"\r
1\r
,\r
2c\r
\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]\r
1\r
}\r
0\r
\r
"
--- response_body_like eval
main::up("{\"model\":\"gpt-4o\",$main::M}")
--- no_error_log
[error]



=== TEST 73: a chunked body sent in packets with delays
--- more_headers
Authorization: Bearer sk-test-all
Transfer-Encoding: chunked
--- request eval
[["POST /v1/chat/completions\n5\r\n{\"mod\r\n",
  {value => "c\r\nel\":\"gpt-4o\"\r\n", delay_before => 0.05},
  {value => "2d\r\n,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]\r\n", delay_before => 0.05},
  {value => "1\r\n}\r\n0\r\n\r\n", delay_before => 0.05}]]
--- response_body_like eval
main::up("{\"model\":\"gpt-4o\",$main::M}")
--- no_error_log
[error]



=== TEST 74: a body split across packets with delays
--- request eval
[["POST /v1/chat/completions\n{\"model\":\"gp",
  {value => "t-4o\",\"messages\":[{\"role\":", delay_before => 0.05},
  {value => "\"user\",\"content\":\"hi\"}]}", delay_before => 0.05}]]
--- response_body_like eval
main::up("{\"model\":\"gpt-4o\",$main::M}")
--- no_error_log
[error]



=== TEST 75: a body split across packets with a small buffer goes to a file
--- config
    location /v1/ {
        aigw on;
        client_body_buffer_size 1k;
        aigw_model gpt-4o mock;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
my $c = "0123456789" x 300;
[["POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"" . substr($c, 0, 500),
  {value => substr($c, 500, 1500), delay_before => 0.05},
  {value => substr($c, 2000) . "\"}]}", delay_before => 0.05}]]
--- response_body_like eval
main::up("{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"" . ("0123456789" x 300) . "\"}]}")



=== TEST 76: aigw_body_set: a new field and an existing one
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        aigw_body_set temperature 0.5;
        aigw_body_set metadata '{"team":"a b","n":[1,2]}';
        aigw_body_set user '"gateway"';
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
["POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M}",
 "POST /v1/chat/completions\n{\"temperature\":1.7,\"model\":\"gpt-4o\",$main::M,\"user\":null}"]
--- response_body_like eval
[main::up(qq!{"model":"gpt-4o",$main::M,"temperature":0.5,"metadata":{"team":"a b","n":[1,2]},"user":"gateway"}!),
 main::up(qq!{"temperature":0.5,"model":"gpt-4o",$main::M,"user":"gateway","metadata":{"team":"a b","n":[1,2]}}!)]



=== TEST 77: aigw_body_set replaces an escaped field name
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        aigw_body_set temperature 0;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
"POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M,\"t\\u0065mperature\":2}"
--- response_body_like eval
main::up(qq!{"model":"gpt-4o",$main::M,"t\\u0065mperature":0}!)



=== TEST 78: aigw_body_default: absent, present, null
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        aigw_body_default max_tokens 256;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
["POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M}",
 "POST /v1/chat/completions\n{\"max_tokens\":100,\"model\":\"gpt-4o\",$main::M}",
 "POST /v1/chat/completions\n{\"max_tokens\":null,\"model\":\"gpt-4o\",$main::M}"]
--- response_body_like eval
[main::up(qq!{"model":"gpt-4o",$main::M,"max_tokens":256}!),
 main::up(qq!{"max_tokens":100,"model":"gpt-4o",$main::M}!),
 main::up(qq!{"max_tokens":256,"model":"gpt-4o",$main::M}!)]



=== TEST 79: aigw_body_cap: above, equal, below, absent, null
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        aigw_body_cap max_tokens 1000;
        aigw_body_cap temperature 1.5;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
["POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M,\"max_tokens\":5000,\"temperature\":2}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M,\"max_tokens\":1000,\"temperature\":1.5}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M,\"max_tokens\":999,\"temperature\":0.2}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M,\"max_tokens\":null,\"temperature\":null}"]
--- response_body_like eval
[main::up(qq!{"model":"gpt-4o",$main::M,"max_tokens":1000,"temperature":1.5}!),
 main::up(qq!{"model":"gpt-4o",$main::M,"max_tokens":1000,"temperature":1.5}!),
 main::up(qq!{"model":"gpt-4o",$main::M,"max_tokens":999,"temperature":0.2}!),
 main::up(qq!{"model":"gpt-4o",$main::M}!),
 main::up(qq!{"model":"gpt-4o",$main::M,"max_tokens":null,"temperature":null}!)]



=== TEST 80: aigw_body_cap on a value that is not a number: 400
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        aigw_body_cap temperature 1.5;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
["POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M,\"temperature\":\"hot\"}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M,\"temperature\":[2]}"]
--- error_code eval
[400, 400]
--- response_body eval
[(qq!{"error":{"message":"Invalid type for 'temperature': expected a number.","type":"invalid_request_error","param":"temperature","code":"invalid_type"}}\n!) x 2]



=== TEST 81: aigw_body_remove: present (first, middle, last) and absent
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        aigw_body_remove user;
        aigw_body_remove logit_bias;
        aigw_body_remove seed;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
["POST /v1/chat/completions\n{\"user\":\"u\",\"model\":\"gpt-4o\",\"logit_bias\":{\"1\":2},$main::M,\"seed\":7}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M}"]
--- response_body_like eval
[main::up(qq!{"model":"gpt-4o",$main::M}!),
 main::up(qq!{"model":"gpt-4o",$main::M}!)]



=== TEST 82: body rules in order: set then remove, remove then default
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        aigw_body_set a 1;
        aigw_body_remove a;
        aigw_body_remove b;
        aigw_body_default b 2;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
"POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"b\":9,$main::M}"
--- response_body_like eval
main::up(qq!{"model":"gpt-4o","b":2,$main::M}!)



=== TEST 83: a stream asks for usage upstream
--- request eval
"POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M,\"stream\":true}"
--- response_body_like eval
main::up(qq!{"model":"gpt-4o",$main::M,"stream":true,"stream_options":{"include_usage":true}}!)



=== TEST 84: the client's stream_options are kept and merged
--- request eval
["POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M,\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"stream_options\":{\"include_usage\":false,\"x\":[1]},$main::M,\"stream\":true}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"stream_options\":{},$main::M,\"stream\":true}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",\"stream_options\":null,$main::M,\"stream\":true}"]
--- response_body_like eval
[main::up(qq!{"model":"gpt-4o",$main::M,"stream":true,"stream_options":{"include_usage":true}}!),
 main::up(qq!{"model":"gpt-4o","stream_options":{"x":[1],"include_usage":true},$main::M,"stream":true}!),
 main::up(qq!{"model":"gpt-4o","stream_options":{"include_usage":true},$main::M,"stream":true}!),
 main::up(qq!{"model":"gpt-4o","stream_options":{"include_usage":true},$main::M,"stream":true}!)]



=== TEST 85: stream_options that is not an object: 400
--- request eval
"POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M,\"stream\":true,\"stream_options\":\"usage\"}"
--- error_code: 400
--- response_body
{"error":{"message":"Invalid type for 'stream_options': expected an object.","type":"invalid_request_error","param":"stream_options","code":"invalid_type"}}



=== TEST 86: no stream, stream false, stream null: the body is left alone
--- request eval
["POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M,\"stream\":false}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M,\"stream\":null,\"stream_options\":\"whatever\"}"]
--- response_body_like eval
[main::up(qq!{"model":"gpt-4o",$main::M,"stream":false}!),
 main::up(qq!{"model":"gpt-4o",$main::M,"stream":null,"stream_options":"whatever"}!)]



=== TEST 87: aigw_include_usage off leaves a stream alone
--- config
    location /v1/ {
        aigw on;
        aigw_include_usage off;
        aigw_model gpt-4o mock;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
["POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M,\"stream\":true}",
 "POST /v1/chat/completions\n{\"model\":\"gpt-4o\",$main::M,\"stream\":true,\"stream_options\":{\"include_usage\":false}}"]
--- response_body_like eval
[main::up(qq!{"model":"gpt-4o",$main::M,"stream":true}!),
 main::up(qq!{"model":"gpt-4o",$main::M,"stream":true,"stream_options":{"include_usage":false}}!)]



=== TEST 88: embeddings never get stream_options
--- request eval
"POST /v1/embeddings\n{\"model\":\"gpt-4o\",\"input\":\"hi\",\"stream\":true}"
--- response_body_like eval
main::up(q!{"model":"gpt-4o","input":"hi","stream":true}!, endpoint => "embeddings")



=== TEST 89: a completion stream asks for usage too
--- request eval
"POST /v1/completions\n{\"model\":\"gpt-4o\",\"prompt\":\"hi\",\"stream\":true}"
--- response_body_like eval
main::up(q!{"model":"gpt-4o","prompt":"hi","stream":true,"stream_options":{"include_usage":true}}!, endpoint => "completions")



=== TEST 90: config: an unknown channel in aigw_model
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o nosuch;
    }
--- request
GET /v1/models
--- must_die
--- suppress_stderr
--- error_log
unknown channel "nosuch" (define it with "aigw_channel nosuch { ... }" before use)



=== TEST 91: config: an endpoint that is not http or https
--- http_config
    aigw_channel bad {
        endpoint ftp://127.0.0.1/v1;
    }
--- request
GET /v1/models
--- must_die
--- suppress_stderr
--- error_log
invalid endpoint "ftp://127.0.0.1/v1": it must start with "http://" or "https://"



=== TEST 92: config: an unsupported provider
--- http_config
    aigw_channel bad {
        provider cohere;
        endpoint http://127.0.0.1/v1;
    }
--- request
GET /v1/models
--- must_die
--- suppress_stderr
--- error_log
unsupported provider "cohere": expected "openai" (and OpenAI-compatible APIs), "azure", "anthropic" or "gemini"



=== TEST 92b: config: azure needs api_version
--- http_config
    aigw_channel az {
        provider azure;
        endpoint http://127.0.0.1/;
    }
--- request
GET /v1/models
--- must_die
--- suppress_stderr
--- error_log
channel "az": provider azure needs "api_version" (e.g. 2024-10-21, or v1 for the /openai/v1 API)



=== TEST 92c: config: api_version is for azure only
--- http_config
    aigw_channel ant {
        provider anthropic;
        endpoint http://127.0.0.1/;
        api_version 2024-10-21;
    }
--- request
GET /v1/models
--- must_die
--- suppress_stderr
--- error_log
channel "ant": "api_version" and "deployment" are for provider azure



=== TEST 92d: config: a deployment that cannot be a path segment
--- http_config
    aigw_channel az {
        provider azure;
        endpoint http://127.0.0.1/;
        api_version v1;
        deployment a/b;
    }
--- request
GET /v1/models
--- must_die
--- suppress_stderr
--- error_log
invalid deployment "a/b": use letters, digits, '.', '_' and '-'



=== TEST 93: config: a duplicate channel
--- http_config
    aigw_channel mock {
        endpoint http://127.0.0.1/v1;
    }
--- request
GET /v1/models
--- must_die
--- suppress_stderr
--- error_log
duplicate channel "mock"



=== TEST 94: config: '*' inside a model pattern
--- config
    location /v1/ {
        aigw on;
        aigw_model a*b mock;
    }
--- request
GET /v1/models
--- must_die
--- suppress_stderr
--- error_log
invalid model name "a*b": '*' is only allowed at the end



=== TEST 95: config: a weight of 0
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock weight=0;
    }
--- request
GET /v1/models
--- must_die
--- suppress_stderr
--- error_log
invalid parameter "weight=0" (expected model=<name>, weight=<1..1000000> or priority=<integer>)



=== TEST 96: config: a weight that is not a number
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock weight=heavy;
    }
--- request
GET /v1/models
--- must_die
--- suppress_stderr
--- error_log
invalid parameter "weight=heavy" (expected model=<name>, weight=<1..1000000> or priority=<integer>)



=== TEST 97: config: aigw_body_cap with a value that is no JSON
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        aigw_body_cap max_tokens lots;
    }
--- request
GET /v1/models
--- must_die
--- suppress_stderr
--- error_log
"lots" is not a JSON value (quote strings: '"text"')



=== TEST 98: config: aigw_body_cap with a JSON value that is not a number
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        aigw_body_cap max_tokens '"100"';
    }
--- request
GET /v1/models
--- must_die
--- suppress_stderr
--- error_log
""100"" is not a number



=== TEST 99: config: aigw_body_set with invalid JSON
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        aigw_body_set metadata '{"a":1';
    }
--- request
GET /v1/models
--- must_die
--- suppress_stderr
--- error_log
"{"a":1" is not a JSON value (quote strings: '"text"')



=== TEST 100: config: a body rule on "model"
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        aigw_body_set model '"x"';
    }
--- request
GET /v1/models
--- must_die
--- suppress_stderr
--- error_log
"model" is set by "aigw_model", not by body rules



=== TEST 101: config: a keys file with an error (relative to the conf directory)
--- no_default_http: 1
--- http_config
    aigw_keys_file ../html/bad-keys.json;
--- user_files
>>> bad-keys.json
{"keys": [{"name": "x"}]}
--- config
    location /v1/ {
        aigw on;
    }
--- request
GET /v1/models
--- must_die
--- suppress_stderr
--- error_log eval
qr{invalid keys file "[^"]*/conf/\.\./html/bad-keys\.json": keys\[0\] \("x"\): one of "key" or "sha256" is required in }



=== TEST 102: config: a keys file with a key that is not printable: the key is not logged
--- no_default_http: 1
--- http_config
    aigw_keys_file $TEST_NGINX_SERVER_ROOT/html/bad-keys.json;
--- user_files
>>> bad-keys.json
{"keys": [{"name": "x", "key": "sk-secret-value\u0001"}]}
--- config
    location /v1/ {
        aigw on;
    }
--- request
GET /v1/models
--- must_die
--- suppress_stderr
--- error_log eval
qr{invalid keys file "[^"]*/html/bad-keys\.json": keys\[0\] \("x"\): "key" must be a string of \d+\.\.\d+ printable ASCII characters without spaces in }
--- no_error_log
sk-secret-value



=== TEST 103: config: a keys file that is not JSON does not echo its content
--- no_default_http: 1
--- http_config
    aigw_keys_file $TEST_NGINX_SERVER_ROOT/html/bad-keys.json;
--- user_files
>>> bad-keys.json
{"keys": [{"name": "x", "key": "sk-secret-unterminated
--- config
    location /v1/ {
        aigw on;
    }
--- request
GET /v1/models
--- must_die
--- suppress_stderr
--- error_log eval
qr{invalid keys file "[^"]*/html/bad-keys\.json": line \d+, column \d+: }
--- no_error_log
sk-secret-unterminated



=== TEST 104: config: a missing keys file
--- no_default_http: 1
--- http_config
    aigw_keys_file $TEST_NGINX_SERVER_ROOT/html/no-such-keys.json;
--- config
    location /v1/ {
        aigw on;
    }
--- request
GET /v1/models
--- must_die
--- suppress_stderr
--- error_log eval
qr{open\(\) "[^"]*/html/no-such-keys\.json" failed}



=== TEST 105: config: priority=-1 is a valid priority
--- config
    location /v1/ {
        aigw on;
        aigw_model m mock priority=-1;
        aigw_model m backup priority=-2;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
"POST /v1/chat/completions\n{\"model\":\"m\",$main::M}"
--- response_body_like eval
main::up("{\"model\":\"m\",$main::M}")



=== TEST 106: config: a priority out of range
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock priority=-1000001;
    }
--- request
GET /v1/models
--- must_die
--- suppress_stderr
--- error_log
invalid parameter "priority=-1000001" (expected model=<name>, weight=<1..1000000> or priority=<integer>)



=== TEST 107: config: a priority that is not a number
--- config
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock priority=-;
    }
--- request
GET /v1/models
--- must_die
--- suppress_stderr
--- error_log
invalid parameter "priority=-" (expected model=<name>, weight=<1..1000000> or priority=<integer>)
