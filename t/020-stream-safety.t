# Stream safety: a stream that goes idle, runs too long, grows too large,
# breaks, or never starts is cut by the gateway, and the client gets an
# error event in its own format before the end, never a silent, truncated
# success.  Usage seen so far is accounted.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use AigwTest;
use AigwMock;

repeat_each(1);
no_long_string();
no_shuffle();

my $h = '{"id":"chatcmpl-7","object":"chat.completion.chunk",'
      . '"created":1727000000,"model":"gpt-4o",';

our $ROLE = "data: $h" . '"choices":[{"index":0,"delta":{"role":"assistant",'
    . '"content":""},"finish_reason":null}],"usage":null}' . "\n\n";
our $TOKEN = "data: $h" . '"choices":[{"index":0,"delta":{"content":"tok"},'
    . '"finish_reason":null}],"usage":null}' . "\n\n";
our $DONE = "data: [DONE]\n\n";

sub cut {
    my $msg = shift;
    return 'data: {"error":{"message":"' . $msg . '","type":"api_error",'
           . '"param":null,"code":"upstream_error"}}' . "\n\n";
}

our $IDLE = cut("The upstream stream was idle for too long and was cut by "
                . "the gateway (aigw_stream_idle_timeout).");
our $DURATION = cut("The stream reached its maximum duration and was cut "
                    . "by the gateway (aigw_stream_max_duration).");
our $SIZE = cut("The stream reached its maximum size and was cut by the "
                . "gateway (aigw_stream_max_size).");
our $BROKEN = cut("The upstream connection broke before the stream was "
                  . "complete.");

# a mock that sends its pieces with a pause between them
sub slow {
    my ($pause, @pieces) = @_;
    my $loc = "    location = /sse/v1/chat/completions {\n"
            . "        echo_read_request_body;\n"
            . "        default_type text/event-stream;\n";
    for my $i (0 .. $#pieces) {
        $loc .= "        echo_sleep $pause;\n" if $i > 0 || $pause < 0;
        $loc .= "        echo -n -- " . AigwMock::ngx_quote($pieces[$i])
                . ";\n        echo_flush;\n";
    }
    return $loc . "    }\n";
}

setup_gateway(
    http_config => <<'_EOC_',
    aigw_channel sse {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/sse/v1;
        key sk-upstream-sse;
    }
    aigw_channel ant {
        provider anthropic;
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/ant/v1;
        key sk-ant;
    }
    aigw_channel raw {
        endpoint http://127.0.0.1:12346/v1;
        key sk-raw;
    }
_EOC_
    location => 'aigw_model gpt-4o sse;
        aigw_model claude ant;
        aigw_model raw raw;',
    request => "POST /v1/chat/completions\n"
               . '{"model":"gpt-4o","stream":true,"stream_options":'
               . '{"include_usage":true},"messages":[{"role":"user",'
               . '"content":"hi"}]}',
);

run_tests();

__DATA__

=== TEST 1: an idle stream is cut with an error event
--- gw_config
aigw_stream_idle_timeout 300ms;
--- mock eval
main::slow(2, $::ROLE, $::TOKEN, $::DONE)
--- response_body eval
$::ROLE . $::IDLE
--- error_log
is cut: idle limit
--- no_error_log
[alert]



=== TEST 2: a stream that runs too long is cut at its maximum duration
--- gw_config
aigw_stream_idle_timeout 2s;
aigw_stream_max_duration 700ms;
--- mock eval
main::slow(0.3, $::ROLE, ($::TOKEN) x 8, $::DONE)
--- response_body_like eval
qr/^\Q$::ROLE\E(\Q$::TOKEN\E){1,3}\Q$::DURATION\E$/
--- error_log
is cut: duration limit
--- no_error_log
[alert]



=== TEST 3: a stream that grows too large is cut
--- gw_config
aigw_stream_max_size 400;
--- mock eval
main::slow(0.1, $::ROLE, ($::TOKEN) x 6, $::DONE)
--- response_body_like eval
qr/^\Q$::ROLE\E(\Q$::TOKEN\E){1,3}\Q$::SIZE\E$/
--- error_log
is cut: size limit
--- no_error_log
[alert]



=== TEST 4: a stream that never starts: the first-byte timeout is a 504
--- gw_config
aigw_stream_first_byte_timeout 300ms;
--- mock eval
main::slow(-1, $::ROLE, $::DONE) =~ s/echo_sleep -1/echo_sleep 3/r
--- error_code: 504
--- response_body
{"error":{"message":"The upstream provider did not answer in time.","type":"api_error","param":null,"code":"upstream_timeout"}}
--- error_log
is cut: first_byte limit
--- no_error_log
[alert]



=== TEST 5: a connection that breaks mid-stream ends with an error event
--- request eval
"POST /v1/chat/completions\n" . '{"model":"raw","stream":true,"messages":[{"role":"user","content":"hi"}]}'
--- tcp_listen: 12346
--- tcp_reply eval
"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 5000\r\n\r\n" . $::ROLE
--- response_body eval
$::ROLE . $::BROKEN
--- error_log
upstream prematurely closed connection
--- no_error_log
[alert]



=== TEST 6: a translated (Anthropic) stream that goes idle
--- gw_config
aigw_stream_idle_timeout 300ms;
--- request eval
"POST /v1/chat/completions\n" . '{"model":"claude","stream":true,"messages":[{"role":"user","content":"hi"}]}'
--- mock eval
main::slow(2, "event: message_start\ndata: " . '{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"claude-x","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":5,"output_tokens":1}}}' . "\n\n", "event: message_stop\ndata: {}\n\n") =~ s{/sse/v1/chat/completions}{/ant/v1/messages}r
--- response_body_like eval
qr/^data: \{"id":"msg_1","object":"chat.completion.chunk".*"delta":\{"role":"assistant","content":""\}.*\n\n\Q$::IDLE\E$/s
--- aigw_log eval
qr{ stream=1 prompt=5 completion=1 }
--- error_log
is cut: idle limit
--- no_error_log
[alert]



=== TEST 7: an Anthropic client gets Anthropic's error event
--- gw_config
aigw_stream_idle_timeout 300ms;
--- request eval
"POST /v1/messages\n" . '{"model":"gpt-4o","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hi"}]}'
--- more_headers
x-api-key: sk-test-all
--- mock eval
main::slow(2, $::ROLE, $::DONE)
--- response_body_like eval
qr/^event: message_start\n.*\nevent: error\ndata: \{"type":"error","error":\{"type":"api_error","message":"The upstream stream was idle for too long and was cut by the gateway \(aigw_stream_idle_timeout\)."\}\}\n\n$/s
--- error_log
is cut: idle limit
--- no_error_log
[alert]



=== TEST 8: a complete stream is untouched by the guards
--- gw_config
aigw_stream_idle_timeout 1s;
aigw_stream_max_duration 5s;
--- mock eval
main::slow(0.05, $::ROLE, $::TOKEN, $::DONE)
--- response_body eval
$::ROLE . $::TOKEN . $::DONE
--- no_error_log
[error]
[warn]
