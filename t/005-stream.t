# Streams (Server-Sent Events): when the client did not ask for usage, the
# gateway asks for it and removes the usage-only chunk from what the client
# gets; otherwise the stream is passed byte for byte.  Usage is read from
# the stream either way, whatever the splits of the upstream reads.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use AigwTest;

repeat_each(2);
no_long_string();


# The events of a realistic OpenAI chat stream.

my $head = '{"id":"chatcmpl-7","object":"chat.completion.chunk",'
         . '"created":1727000000,"model":"gpt-4o-2024-08-06",'
         . '"system_fingerprint":"fp_50cad350e4",';

our $ROLE = "data: $head"
    . '"choices":[{"index":0,"delta":{"role":"assistant","content":"",'
    . '"refusal":null},"logprobs":null,"finish_reason":null}],'
    . '"usage":null}' . "\n\n";
our $HELLO = "data: $head"
    . '"choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,'
    . '"finish_reason":null}],"usage":null}' . "\n\n";
our $WORLD = "data: $head"
    . '"choices":[{"index":0,"delta":{"content":" world: \"usage\""},'
    . '"logprobs":null,"finish_reason":null}],"usage":null}' . "\n\n";
our $STOP = "data: $head"
    . '"choices":[{"index":0,"delta":{},"logprobs":null,'
    . '"finish_reason":"stop"}],"usage":null}' . "\n\n";
our $USAGE = "data: $head"
    . '"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,'
    . '"total_tokens":11,"prompt_tokens_details":{"cached_tokens":4,'
    . '"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":1,'
    . '"audio_tokens":0,"accepted_prediction_tokens":0,'
    . '"rejected_prediction_tokens":0}}}' . "\n\n";
our $DONE = "data: [DONE]\n\n";

# what the client gets when a stream ends without [DONE]
our $CUT = 'data: {"error":{"message":"The upstream stream ended before it '
    . 'was complete.","type":"api_error","param":null,'
    . '"code":"upstream_error"}}' . "\n\n";

# what the upstream sends, and what a client that did not ask for usage gets
our @EVENTS = ($ROLE, $HELLO, $WORLD, $STOP, $USAGE, $DONE);
our $UPSTREAM = join "", @EVENTS;
our $CLIENT = join "", $ROLE, $HELLO, $WORLD, $STOP, $DONE;

our $LOG_USAGE = qr{^model=gpt-4o upstream=gpt-4o-2024-08-06 channel=sse provider=openai stream=1 prompt=9 completion=2 cached=4 reasoning=1 total=11 ttft=\d+ rid=[0-9a-f]{32} status=200$};
our $LOG_NO_USAGE = qr{^model=gpt-4o upstream=gpt-4o-2024-08-06 channel=sse provider=openai stream=1 prompt=- completion=- cached=- reasoning=- total=- ttft=\d+ rid=[0-9a-f]{32} status=200$};

our $HTTP_CONFIG = <<'_EOC_';
    log_format aigw_t 'model=$aigw_model upstream=$aigw_upstream_model '
                      'channel=$aigw_channel provider=$aigw_provider '
                      'stream=$aigw_stream '
                      'prompt=$aigw_prompt_tokens '
                      'completion=$aigw_completion_tokens '
                      'cached=$aigw_cached_tokens '
                      'reasoning=$aigw_reasoning_tokens '
                      'total=$aigw_total_tokens ttft=$aigw_ttft '
                      'rid=$aigw_request_id status=$status';

    aigw_channel sse {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/sse/v1;
        key sk-upstream-sse;
    }
_EOC_

our $REQUEST = 'POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true}';

our $REQUEST_USAGE = 'POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}';


# A string for nginx.conf: single-quoted, with nginx's escapes.

sub ngx_quote {
    my $s = shift;

    die "a '\$' would be a variable for echo" if $s =~ /\$/;

    $s =~ s/\\/\\\\/g;
    $s =~ s/'/\\'/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;

    return "'$s'";
}


# "--- sse_pieces eval": the upstream's body, one upstream read per piece
# (the mock flushes each and then sleeps).
# "--- sse_type": its Content-Type (text/event-stream).
# "--- sse_config": directives for the gateway location.
# "--- sse_mock": a mock location of its own instead.

add_block_preprocessor(sub {
    my $block = shift;

    return unless defined $block->sse_pieces || defined $block->sse_mock;

    my $mock = $block->sse_mock;

    if (!defined $mock) {
        my $type = $block->sse_type // "text/event-stream";
        my @pieces = @{ $block->sse_pieces };

        $mock = "    location = /sse/v1/chat/completions {\n"
              . "        default_type " . ngx_quote($type) . ";\n";

        for my $i (0 .. $#pieces) {

            # nginx.conf tokens are shorter than 4k: long pieces are several
            # echo directives without a flush between them

            for (my $at = 0; $at < length $pieces[$i]; $at += 1500) {
                $mock .= "        echo -n -- "
                         . ngx_quote(substr($pieces[$i], $at, 1500)) . ";\n";
            }

            if ($i < $#pieces) {
                $mock .= "        echo_flush;\n        echo_sleep 0.05;\n";
            }
        }

        $mock .= "    }\n";
    }

    $block->set_value("http_config",
                      $HTTP_CONFIG . ($block->http_config // ""));

    $block->set_value("config", <<_EOC_ . $mock . ($block->config // ""));
    location /v1/ {
        aigw on;
        aigw_model gpt-4o sse model=gpt-4o-2024-08-06;
        @{[ $block->sse_config // "" ]}
        include \$TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
        access_log logs/aigw.log aigw_t;
    }
_EOC_

    if (!defined $block->request) {
        $block->set_value("request", $REQUEST);
    }

    if (!defined $block->more_headers) {
        $block->set_value("more_headers",
                          "Authorization: Bearer sk-test-all\n"
                          . "Content-Type: application/json\n");
    }

    if (!defined $block->no_error_log) {
        $block->set_value("no_error_log", "[error]\n[alert]\n");
    }
});


# "--- aigw_log eval": a regex for this request's line of logs/aigw.log.

add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
    my $name = $block->name;
    my $pat = $block->aigw_log;
    my $n = $repeated_req_idx + 1;

    return unless defined $pat;

    SKIP: {
        skip "$name - aigw_log - tests skipped due to $dry_run", 2
            if $dry_run;

        my @lines;

        for (1 .. 200) {
            if (open my $in, '<', "$Test::Nginx::Util::LogDir/aigw.log") {
                @lines = <$in>;
                close $in;
            }

            last if @lines >= $n;
            select(undef, undef, undef, 0.05);
        }

        chomp @lines;

        is(scalar @lines, $n,
           "$name - aigw.log has one line per request (req $repeated_req_idx)");
        like($lines[-1] // "", $pat,
             "$name - aigw.log line (req $repeated_req_idx)");
    }
});

run_tests();

__DATA__

=== TEST 1: the client did not ask for usage: the usage chunk is removed
--- sse_pieces eval
[@::EVENTS]
--- response_body eval
$::CLIENT
--- response_headers
Content-Type: text/event-stream
!Content-Length
--- response_headers_like
X-Request-Id: [0-9a-f]{32}
--- aigw_log eval
$::LOG_USAGE



=== TEST 2: the client asked for usage: the stream is passed byte for byte
--- sse_pieces eval
[@::EVENTS]
--- request eval
$::REQUEST_USAGE
--- response_body eval
$::UPSTREAM
--- response_headers
Content-Type: text/event-stream
--- aigw_log eval
$::LOG_USAGE



=== TEST 3: the upstream is asked for usage when the client did not ask
The mock streams back the request it received as an event.
--- sse_mock
    location = /sse/v1/chat/completions {
        default_type text/event-stream;
        echo_read_request_body;
        echo -n 'data: ';
        echo -n $request_body;
        echo -n '\n\n';
        echo_flush;
        echo_sleep 0.05;
        echo -n 'data: [DONE]\n\n';
    }
--- request
POST /v1/chat/completions
{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":false,"x":1}}
--- response_body eval
qq{data: {"model":"gpt-4o-2024-08-06","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"x":1,"include_usage":true}}\n\n$::DONE}
--- aigw_log eval
$::LOG_NO_USAGE



=== TEST 4: no stream_options at all: the upstream is asked for usage
--- sse_mock
    location = /sse/v1/chat/completions {
        default_type text/event-stream;
        echo_read_request_body;
        echo -n 'data: ';
        echo -n $request_body;
        echo -n '\n\ndata: [DONE]\n\n';
    }
--- response_body eval
qq{data: {"model":"gpt-4o-2024-08-06","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}\n\n$::DONE}
--- aigw_log eval
$::LOG_NO_USAGE



=== TEST 5: aigw_include_usage off: the request and the stream are untouched
--- sse_config
aigw_include_usage off;
--- sse_mock eval
"    location = /sse/v1/chat/completions {
        default_type text/event-stream;
        echo_read_request_body;
        echo -n 'data: ';
        echo -n \$request_body;
        echo -n '\\n\\n';
        echo -n -- " . main::ngx_quote($::USAGE) . ";
    }
"
--- response_body eval
qq{data: {"model":"gpt-4o-2024-08-06","messages":[{"role":"user","content":"hi"}],"stream":true}\n\n$::USAGE$::CUT}
--- aigw_log eval
$::LOG_USAGE



=== TEST 6: splits inside "data:", inside the JSON and between the two newlines
--- sse_pieces eval
my $all = $::UPSTREAM;
my @cuts = (2,                                  # "da|ta:"
            length($::ROLE) + 100,              # inside the JSON
            length($::ROLE . $::HELLO) - 1,     # "\n|\n"
            length($::ROLE . $::HELLO . $::WORLD) + 5,
            length($::ROLE . $::HELLO . $::WORLD . $::STOP) - 1);
my ($prev, @p) = (0);
for my $c (@cuts) { push @p, substr($all, $prev, $c - $prev); $prev = $c }
push @p, substr($all, $prev);
\@p
--- response_body eval
$::CLIENT
--- aigw_log eval
$::LOG_USAGE



=== TEST 7: the usage chunk split across three reads, the last with [DONE]
--- sse_pieces eval
my $u = $::USAGE;
[$::ROLE . $::HELLO . $::WORLD . $::STOP . substr($u, 0, 3),
 substr($u, 3, 150),
 substr($u, 153) . $::DONE]
--- response_body eval
$::CLIENT
--- aigw_log eval
$::LOG_USAGE



=== TEST 8: the usage chunk split, its blank line alone in the last read
--- sse_pieces eval
my $u = $::USAGE;
[$::ROLE . $::HELLO . substr($::WORLD, 0, 7),
 substr($::WORLD, 7) . $::STOP . substr($u, 0, length($u) - 1),
 "\n" . $::DONE]
--- response_body eval
$::CLIENT
--- aigw_log eval
$::LOG_USAGE



=== TEST 9: every event in one read
--- sse_pieces eval
[$::UPSTREAM]
--- response_body eval
$::CLIENT
--- aigw_log eval
$::LOG_USAGE



=== TEST 10: CRLF line ends, split between '\r' and '\n'
--- sse_pieces eval
my @e = map { (my $x = $_) =~ s/\n/\r\n/g; $x } @::EVENTS;
my $all = CORE::join("", @e);
my $at = length($e[0]) - 1;                     # "\r\n\r|\n"
my $at2 = length($e[0] . $e[1] . $e[2]) + 20;
my $at3 = length($e[0] . $e[1] . $e[2] . $e[3]) + 7;
my $at4 = length($all) - length($e[5]) - 2;     # usage "\r\n|\r\n"
[substr($all, 0, $at), substr($all, $at, $at2 - $at),
 substr($all, $at2, $at3 - $at2), substr($all, $at3, $at4 - $at3),
 substr($all, $at4)]
--- response_body eval
my @e = map { (my $x = $_) =~ s/\n/\r\n/g; $x } @::EVENTS[0..3], $::DONE;
CORE::join("", @e)
--- aigw_log eval
$::LOG_USAGE



=== TEST 11: CRLF line ends, the client asked for usage: byte for byte
--- request eval
$::REQUEST_USAGE
--- sse_pieces eval
my $all = $::UPSTREAM;
$all =~ s/\n/\r\n/g;
[substr($all, 0, 500), substr($all, 500, 501), substr($all, 1001)]
--- response_body eval
(my $all = $::UPSTREAM) =~ s/\n/\r\n/g;
$all
--- aigw_log eval
$::LOG_USAGE



=== TEST 12: bare CR line ends
--- sse_pieces eval
my @e = map { (my $x = $_) =~ s/\n/\r/g; $x } @::EVENTS;
[CORE::join("", @e[0..2]), $e[3] . substr($e[4], 0, 40), substr($e[4], 40), $e[5]]
--- response_body eval
my @e = map { (my $x = $_) =~ s/\n/\r/g; $x } @::EVENTS[0..3], $::DONE;
CORE::join("", @e)
--- aigw_log eval
$::LOG_USAGE



=== TEST 13: comments, event names, ids, retry and multi-line data pass through
The usage chunk has its JSON on two data lines (joined with "\n").
--- sse_pieces eval
[": keep-alive\n\n",
 "event: message\nid: 1\nretry: 1000\n" . $::ROLE,
 ": ping\n\n" . $::HELLO,
 "data: {\"id\":\"chatcmpl-7\",\"choices\":[],\ndata: \"usage\":"
 . "{\"prompt_tokens\":9,\"completion_tokens\":2,\"total_tokens\":11,"
 . "\"prompt_tokens_details\":{\"cached_tokens\":4},"
 . "\"completion_tokens_details\":{\"reasoning_tokens\":1}}}\n\n",
 $::DONE]
--- response_body eval
": keep-alive\n\nevent: message\nid: 1\nretry: 1000\n" . $::ROLE
. ": ping\n\n" . $::HELLO . $::DONE
--- aigw_log eval
$::LOG_USAGE



=== TEST 14: an event bigger than aigw_max_event_size passes intact
--- sse_config
aigw_max_event_size 1k;
--- sse_pieces eval
my $big = "data: " . '{"id":"chatcmpl-7","choices":[{"index":0,"delta":{"content":"'
          . ("x" x 3000) . '"},"finish_reason":null}],"usage":null}' . "\n\n";
[$::ROLE . substr($big, 0, 500), substr($big, 500, 1500),
 substr($big, 2000) . $::HELLO, $::USAGE . $::DONE]
--- response_body eval
$::ROLE . "data: " . '{"id":"chatcmpl-7","choices":[{"index":0,"delta":{"content":"'
. ("x" x 3000) . '"},"finish_reason":null}],"usage":null}' . "\n\n"
. $::HELLO . $::DONE
--- aigw_log eval
$::LOG_USAGE



=== TEST 15: an oversized event in one read, CRLF, the client asked for usage
--- sse_config
aigw_max_event_size 1k;
--- request eval
$::REQUEST_USAGE
--- sse_pieces eval
my $big = "data: {\"x\":\"" . ("y" x 5000) . "\"}\r\n\r\n";
[$::ROLE . $big . $::USAGE, $::DONE]
--- response_body eval
$::ROLE . "data: {\"x\":\"" . ("y" x 5000) . "\"}\r\n\r\n" . $::USAGE . $::DONE
--- aigw_log eval
$::LOG_USAGE



=== TEST 16: an oversized event split with its CRLF blank line across reads
--- sse_config
aigw_max_event_size 1k;
--- sse_pieces eval
my $big = "data: {\"x\":\"" . ("y" x 2000) . "\"}\r\n\r\n";
[$::ROLE . substr($big, 0, length($big) - 1), "\n" . $::USAGE . $::DONE]
--- response_body eval
$::ROLE . "data: {\"x\":\"" . ("y" x 2000) . "\"}\r\n\r\n" . $::DONE
--- aigw_log eval
$::LOG_USAGE



=== TEST 17: no blank line after the last event: it still gets through
--- sse_pieces eval
[$::ROLE . $::HELLO, $::STOP . $::USAGE . "data: [DONE]"]
--- response_body eval
$::ROLE . $::HELLO . $::STOP . "data: [DONE]"
--- aigw_log eval
$::LOG_USAGE



=== TEST 18: the last event ends in one newline only
--- sse_pieces eval
[$::ROLE . $::HELLO . $::USAGE, "data: [DONE]\n"]
--- response_body eval
$::ROLE . $::HELLO . "data: [DONE]\n"
--- aigw_log eval
$::LOG_USAGE



=== TEST 19: no blank line after the last event, the client asked for usage
--- request eval
$::REQUEST_USAGE
--- sse_pieces eval
[$::ROLE, $::USAGE . "data: [DONE]"]
--- response_body eval
$::ROLE . $::USAGE . "data: [DONE]"
--- aigw_log eval
$::LOG_USAGE



=== TEST 20: an unterminated usage chunk at the end is still removed
--- sse_pieces eval
[$::ROLE . $::HELLO, substr($::USAGE, 0, length($::USAGE) - 2)]
--- response_body eval
$::ROLE . $::HELLO . $::CUT
--- aigw_log eval
$::LOG_USAGE



=== TEST 21: a stream without usage: nothing removed, variables unset
--- sse_pieces eval
[$::ROLE, $::HELLO, $::STOP, $::DONE]
--- response_body eval
$::ROLE . $::HELLO . $::STOP . $::DONE
--- aigw_log eval
$::LOG_NO_USAGE



=== TEST 22: an upstream stream with Content-Length: the client gets no wrong length
--- sse_mock eval
"    location = /sse/v1/chat/completions {
        default_type text/event-stream;
        return 200 " . main::ngx_quote($::UPSTREAM) . ";
    }
"
--- response_body eval
$::CLIENT
--- response_headers
Content-Type: text/event-stream
!Content-Length
--- aigw_log eval
$::LOG_USAGE



=== TEST 23: an upstream stream with Content-Length, the client asked for usage
--- request eval
$::REQUEST_USAGE
--- sse_mock eval
"    location = /sse/v1/chat/completions {
        default_type text/event-stream;
        return 200 " . main::ngx_quote($::UPSTREAM) . ";
    }
"
--- response_body eval
$::UPSTREAM
--- response_headers eval
"Content-Length: " . length($::UPSTREAM)
--- aigw_log eval
$::LOG_USAGE



=== TEST 24: a Content-Type with parameters is a stream too
--- sse_type: text/event-stream; charset=utf-8
--- sse_pieces eval
[$::ROLE . $::USAGE, $::DONE]
--- response_body eval
$::ROLE . $::DONE
--- response_headers
Content-Type: text/event-stream; charset=utf-8
--- aigw_log eval
$::LOG_USAGE



=== TEST 25: an upstream error answer to a stream request is passed on
--- sse_mock
    location = /sse/v1/chat/completions {
        default_type application/json;
        return 429 '{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}';
    }
--- error_code: 429
--- response_body chomp
{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}
--- aigw_log eval
my $re = "$::LOG_NO_USAGE" =~ s/status=200/status=429/r;
qr/$re/



=== TEST 26: usage in a chunk that has choices is kept, and read
Some providers put usage in the last content chunk: it is not the extra
chunk that the gateway asked for.
--- sse_pieces eval
my $last = "data: " . '{"id":"chatcmpl-7","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":1}}}' . "\n\n";
[$::ROLE . $::HELLO, $last . $::DONE]
--- response_body eval
$::ROLE . $::HELLO . "data: " . '{"id":"chatcmpl-7","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":1}}}' . "\n\n" . $::DONE
--- aigw_log eval
$::LOG_USAGE



=== TEST 27: "data:" without a space and usage before choices
--- sse_pieces eval
[$::ROLE, 'data:{"usage":{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":1}},"choices":[],"id":"chatcmpl-7"}' . "\n\n" . $::DONE]
--- response_body eval
$::ROLE . $::DONE
--- aigw_log eval
$::LOG_USAGE
