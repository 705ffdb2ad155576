# Azure OpenAI channels: the deployment path with api-version (or the v1
# API), the api-key header, content-filter fields and a first stream chunk
# without choices passed on untouched.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use AigwTest;
use AigwMock;

repeat_each(1);
no_long_string();
no_shuffle();


our $ANSWER = '{"choices":[{"content_filter_results":{"hate":{"filtered":'
    . 'false,"severity":"safe"}},"finish_reason":"stop","index":0,'
    . '"message":{"content":"Hi!","role":"assistant"}}],"created":1727000000,'
    . '"id":"chatcmpl-A1","model":"gpt-4o-2024-08-06","object":'
    . '"chat.completion","prompt_filter_results":[{"prompt_index":0,'
    . '"content_filter_results":{}}],"usage":{"completion_tokens":2,'
    . '"prompt_tokens":9,"total_tokens":11}}';

our $FILTER = 'data: {"choices":[],"created":0,"id":"","model":"",'
    . '"object":"","prompt_filter_results":[{"prompt_index":0,'
    . '"content_filter_results":{}}]}' . "\n\n";
our $HI = 'data: {"choices":[{"delta":{"content":"Hi","role":"assistant"},'
    . '"finish_reason":null,"index":0}],"created":1727000000,'
    . '"id":"chatcmpl-A2","model":"gpt-4o","object":"chat.completion.chunk",'
    . '"usage":null}' . "\n\n";
our $STOP = 'data: {"choices":[{"delta":{},"finish_reason":"stop",'
    . '"index":0}],"created":1727000000,"id":"chatcmpl-A2","model":"gpt-4o",'
    . '"object":"chat.completion.chunk","usage":null}' . "\n\n";
our $USAGE = 'data: {"choices":[],"created":1727000000,"id":"chatcmpl-A2",'
    . '"model":"gpt-4o","object":"chat.completion.chunk","usage":{'
    . '"completion_tokens":1,"prompt_tokens":9,"total_tokens":10}}' . "\n\n";
our $DONE = "data: [DONE]\n\n";

setup_gateway(
    http_config => <<'_EOC_',
    aigw_channel az {
        provider azure;
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/az;
        api_version 2024-10-21;
        key az-key-1;
    }
    aigw_channel azdep {
        provider azure;
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/az;
        api_version 2024-10-21;
        deployment prod-4o;
        key az-key-2;
    }
    aigw_channel azv1 {
        provider azure;
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/az;
        api_version v1;
        key az-key-3;
    }
_EOC_
    location => 'aigw_model gpt-4o az model=gpt4o-deploy;
        aigw_model fixed azdep;
        aigw_model v1model azv1 model=gpt-4o;
        aigw_model "az-*" az;
        aigw_model emb az model=embed-deploy;',
    request => "POST /v1/chat/completions\n"
               . '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}',
);

run_tests();

__DATA__

=== TEST 1: the deployment comes from the upstream model, with api-version
--- mock eval
AigwMock::mock_location("/az/openai/deployments/", pieces => [$::ANSWER])
--- response_headers
X-Got-Uri: /az/openai/deployments/gpt4o-deploy/chat/completions?api-version=2024-10-21
X-Got-Auth:
X-Got-Keys: ||az-key-1
X-Got-Body: {"model":"gpt4o-deploy","messages":[{"role":"user","content":"hi"}]}
--- response_body eval
$::ANSWER
--- aigw_log eval
qr{^model=gpt-4o upstream=gpt4o-deploy channel=az provider=azure endpoint=chat stream=0 prompt=9 completion=2 cached=0 reasoning=0 total=11 status=200$}



=== TEST 2: a channel's fixed deployment
--- request eval
"POST /v1/chat/completions\n" . '{"model":"fixed","messages":[{"role":"user","content":"hi"}]}'
--- mock eval
AigwMock::mock_location("/az/openai/deployments/", pieces => [$::ANSWER])
--- response_headers
X-Got-Uri: /az/openai/deployments/prod-4o/chat/completions?api-version=2024-10-21
X-Got-Keys: ||az-key-2



=== TEST 3: the v1 API: the model stays in the body
--- request eval
"POST /v1/chat/completions\n" . '{"model":"v1model","messages":[{"role":"user","content":"hi"}]}'
--- mock eval
AigwMock::mock_location("/az/openai/v1/", pieces => [$::ANSWER])
--- response_headers
X-Got-Uri: /az/openai/v1/chat/completions
X-Got-Keys: ||az-key-3
X-Got-Body: {"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}



=== TEST 4: embeddings go to the deployment's embeddings path
--- request eval
"POST /v1/embeddings\n" . '{"model":"emb","input":"hello"}'
--- mock eval
AigwMock::mock_location("/az/openai/deployments/",
    pieces => ['{"object":"list","data":[],"model":"x","usage":{"prompt_tokens":1,"total_tokens":1}}'])
--- response_headers
X-Got-Uri: /az/openai/deployments/embed-deploy/embeddings?api-version=2024-10-21



=== TEST 5: a stream whose first chunk has no choices; usage removed again
--- request eval
"POST /v1/chat/completions\n" . '{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"hi"}]}'
--- mock eval
AigwMock::mock_location("/az/openai/deployments/", type => "text/event-stream",
                        pieces => [$::FILTER, $::HI, $::STOP, $::USAGE, $::DONE])
--- response_headers
X-Got-Body: {"model":"gpt4o-deploy","stream":true,"messages":[{"role":"user","content":"hi"}],"stream_options":{"include_usage":true}}
--- response_body eval
$::FILTER . $::HI . $::STOP . $::DONE
--- aigw_log eval
qr{ stream=1 prompt=9 completion=1 cached=0 reasoning=0 total=10 status=200$}



=== TEST 6: a client model that cannot be a deployment name is refused
--- request eval
"POST /v1/chat/completions\n" . '{"model":"az-x/../../openai/files","messages":[{"role":"user","content":"hi"}]}'
--- error_code: 400
--- response_body
{"error":{"message":"The model 'az-x/../../openai/files' cannot name a azure model in a URL: use letters, digits, '.', '_' and '-'.","type":"invalid_request_error","param":"model","code":"invalid_value"}}



=== TEST 7: an Azure error passes through as it is (it is OpenAI's shape)
--- mock eval
AigwMock::mock_location("/az/openai/deployments/", status => 429,
    headers => {"Retry-After" => "5"},
    pieces => ['{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation have exceeded call rate limit."}}'])
--- error_code: 429
--- response_headers
Retry-After: 5
--- response_body chomp
{"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation have exceeded call rate limit."}}
