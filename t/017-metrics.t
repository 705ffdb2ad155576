# The Prometheus endpoint: known traffic, then the page's exact values;
# several workers summed; counters kept across a reload; bounded label
# sets; label escaping; the text format checked by promtool; methods; the
# zone's configuration errors.
#
# Every block starts its own nginx (the block's name is appended to its
# config), so every block starts from an empty zone.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use AigwTest;
use File::Temp qw(tempdir);
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep);

repeat_each(1);
no_shuffle();
no_long_string();


# ---------------------------------------------------------------- files

our $Tmp = tempdir("aigw-t017-XXXXXX", TMPDIR => 1, CLEANUP => 1);
chmod 0755, $Tmp;
$ENV{TEST_NGINX_AIGW_TMP} = $Tmp;

sub write_file {
    my ($path, $text) = @_;
    open my $out, '>', $path or die "$path: $!";
    print $out $text;
    close $out;
}

write_file("$Tmp/keys.json", <<'_EOK_');
{
  "keys": [
    {"name": "all", "key": "sk-t17-all"},
    {"name": "rpm", "key": "sk-t17-rpm", "limits": {"rpm": 1}}
  ]
}
_EOK_

# m-a: 10 prompt x 1 + 5 completion x 2 = 20 micro-USD a request.
# m-b (priced as up-b): 12 x 2 + 8 cached x 1 + 7 x 10 = 102 micro-USD.
write_file("$Tmp/prices.json", <<'_EOP_');
{"models": {
  "m-a":  {"input": 1, "output": 2},
  "up-b": {"input": 2, "cached_input": 1, "output": 10}
}}
_EOP_


our $ANSWER_A = '{"id":"chatcmpl-a","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"a"},"finish_reason":"stop"}],"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}';

our $ANSWER_B = '{"id":"chatcmpl-b","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"b"},"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":7,"total_tokens":27,"prompt_tokens_details":{"cached_tokens":8},"completion_tokens_details":{"reasoning_tokens":3}}}';


our $HTTP_CONFIG = <<'_EOC_';
    aigw_keys_file $TEST_NGINX_AIGW_TMP/keys.json;
    aigw_prices_file $TEST_NGINX_AIGW_TMP/prices.json;

    aigw_channel alpha {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/alpha/v1;
        key sk-upstream-alpha;
    }

    aigw_channel beta {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/beta/v1;
        key sk-upstream-beta;
    }

    aigw_channel idle {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idle/v1;
        key_env AIGW_TEST_UNSET_ENV_VAR;
    }

    log_format t17pid '$pid';
_EOC_

our $CONFIG = <<'_EOC_';
    location /v1/ {
        aigw on;
        aigw_model m-a alpha;
        aigw_model m-b beta model=up-b;
        aigw_model "x-*" alpha;
        aigw_model 'q"m\\x' alpha;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
        access_log logs/pids.log t17pid;
    }

    location = /metrics {
        aigw_metrics;
    }

    location /alpha/v1/ {
        default_type application/json;
        return 200 '@A@';
    }

    location /beta/v1/ {
        default_type application/json;
        return 200 '@B@';
    }
_EOC_


# ------------------------------------------------------------- requests

sub chat {
    my ($model) = @_;
    return "POST /v1/chat/completions\n"
           . qq({"model":"$model","messages":[{"role":"user","content":"hi"}]});
}

sub key { "Authorization: Bearer sk-t17-$_[0]\nContent-Type: application/json\n" }


# ------------------------------------------------------------- helpers

sub master_pid {
    open my $in, '<', $Test::Nginx::Util::PidFile or die "pid file: $!";
    my $pid = <$in>;
    close $in;
    chomp $pid;
    return $pid;
}

sub error_log_from {
    my ($pos) = @_;
    open my $in, '<', $Test::Nginx::Util::ErrLogFile or return "";
    seek $in, $pos, 0;
    local $/;
    my $s = <$in>;
    close $in;
    return $s // "";
}

# Lines of a log file of the servroot once it has at least $want of them.
sub log_lines {
    my ($file, $want) = @_;
    my @lines;

    for (1 .. 400) {
        @lines = ();
        if (open my $in, '<', "$Test::Nginx::Util::LogDir/$file") {
            @lines = <$in>;
            close $in;
        }

        last if @lines >= $want;
        sleep 0.05;
    }

    chomp @lines;
    return @lines;
}

# "nginx -s reload" and wait for it: two new workers started and both old
# ones gone (their regions given back), so that the following requests meet
# the new cycle only.
sub reload_nginx {
    my ($name) = @_;
    my $pos = -s $Test::Nginx::Util::ErrLogFile;
    my ($log, $started, $exited);

    kill 'HUP', master_pid() or die "kill HUP: $!";

    for (1 .. 1200) {
        $log = error_log_from($pos);
        $started = () = $log =~ /start worker process \d+/g;
        $exited = () = $log =~ /worker process \d+ exited with code 0/g;
        last if $started >= 2 && $exited >= 2;
        sleep 0.05;
    }

    like($log, qr/\[notice\].*reconfiguring/, "$name - nginx reloaded");
    is("$started $exited", "2 2",
       "$name - two new workers, both old workers gone");
}

# SIGKILL the worker that served the last gateway request (it cannot give
# its region back) and wait until the master has started another one.
sub kill_worker {
    my ($name, $served) = @_;
    my @pids = log_lines("pids.log", $served);
    my $pid = $pids[-1];
    my $pos = -s $Test::Nginx::Util::ErrLogFile;
    my $log = "";

    kill 'KILL', $pid or die "kill KILL $pid: $!";

    for (1 .. 1200) {
        $log = error_log_from($pos);
        last if $log =~ /start worker process \d+/;
        sleep 0.05;
    }

    like($log, qr/worker process $pid exited on signal 9/,
         "$name - worker $pid killed");
    like($log, qr/start worker process \d+/, "$name - a new worker started");
}

sub promtool {
    for my $dir (split /:/, $ENV{PATH} // "") {
        return "$dir/promtool" if -x "$dir/promtool";
    }
    return undef;
}


# ------------------------------------------------------ block sections

# --- t17: 1            the common http config and locations above
#                       ("--- config" is added after them)
# --- workers: 2        master process and 2 workers (reuseport)
# --- reload_after      reload nginx after this request (index from 0)
# --- kill_worker_after SIGKILL the worker that served this request
# --- distinct_pids     at least this many workers served the gateway
#                       requests of the block (logs/pids.log)
# --- metrics_lines     lines the last response (the page) must have,
#                       exactly, one per line
# --- metrics_like eval regexes the last response must match
# --- metrics_unlike eval  regexes it must not match
# --- promtool: 1       "promtool check metrics" accepts the last response
# --- whole_error_log eval  regexes the block's error.log must match

our $MasterDefault = $Test::Nginx::Util::MasterProcessEnabled;

add_block_preprocessor(sub {
    my $block = shift;

    if ($block->workers) {
        $Test::Nginx::Util::MasterProcessEnabled = 'on';
        $Test::Nginx::Util::Workers = $block->workers;
        $Test::Nginx::Util::ReusePort = 1;

    } else {
        $Test::Nginx::Util::MasterProcessEnabled = $MasterDefault;
        $Test::Nginx::Util::Workers = 1;
        $Test::Nginx::Util::ReusePort = undef;
    }

    $block->set_value("no_mocks", 1);

    if ($block->t17) {
        (my $conf = $CONFIG) =~ s/\@A\@/$ANSWER_A/;
        $conf =~ s/\@B\@/$ANSWER_B/;

        $block->set_value("no_default_http", 1);
        $block->set_value("http_config",
                          $HTTP_CONFIG . ($block->http_config // ""));
        $block->set_value("config", $conf . ($block->config // ""));
    }

    return if defined $block->must_die;

    # a fresh nginx (and zone) for every block
    $block->set_value("config", ($block->config // "")
                                . "\n    # " . $block->name . "\n");

    $block->set_value("no_error_log", "[error]\n[alert]\n[crit]\n")
        unless defined $block->no_error_log;
});

add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
    my $name = $block->name;
    my $reqs = $block->request;
    my $last = (ref $reqs ? @$reqs : 1) - 1;

    return if $dry_run;

    if (defined $block->reload_after && $block->reload_after == $req_idx) {
        reload_nginx($name);
    }

    if (defined $block->kill_worker_after
        && $block->kill_worker_after == $req_idx)
    {
        kill_worker($name, $req_idx + 1);
    }

    return if $req_idx != $last;

    if (defined(my $lines = $block->metrics_lines)) {
        for my $line (split /\n/, $lines) {
            next if $line eq "";
            like($body, qr/^\Q$line\E$/m, "$name - the page has: $line");
        }
    }

    if (defined(my $pats = $block->metrics_like)) {
        for my $pat (@$pats) {
            like($body, $pat, "$name - the page matches $pat");
        }
    }

    if (defined(my $pats = $block->metrics_unlike)) {
        for my $pat (@$pats) {
            unlike($body, $pat, "$name - the page does not match $pat");
        }
    }

    if (defined(my $pats = $block->whole_error_log)) {
        my $log = error_log_from(0);

        for my $pat (@$pats) {
            like($log, $pat, "$name - error.log matches $pat");
        }
    }

    if (defined(my $n = $block->distinct_pids)) {
        my @lines = log_lines("pids.log", $last);
        my %pids = map { $_ => 1 } @lines;
        cmp_ok(scalar keys %pids, '>=', $n,
               "$name - the gateway requests were served by $n workers");
    }

    if ($block->promtool) {
        my %seen;
        my @dups = grep { $seen{$_}++ == 1 }
                   map { /^([^#\s][^ ]*) / ? $1 : () } split /\n/, $body;
        is("@dups", "", "$name - no series twice on the page");

        SKIP: {
            my $promtool = promtool();

            skip "$name - promtool not found (apt-get install prometheus)", 2
                unless $promtool;

            my $file = "$Tmp/page.txt";
            write_file($file, $body);

            my $out = `$promtool check metrics < $file 2>&1`;
            is($?, 0, "$name - promtool check metrics exits with 0");
            is($out, "", "$name - promtool check metrics has no complaint");
        }
    }
});

run_tests();

__DATA__

=== TEST 1: known traffic: requests, tokens, cost, rejections, histograms, channels
Two answers of m-a and one of m-b; an unknown model (404); an unknown key
(401); the rpm key's second request (429, on alpha, never sent upstream).
--- t17: 1
--- request eval
[main::chat("m-a"), main::chat("m-a"), main::chat("m-b"),
 main::chat("nope"), main::chat("m-a"), main::chat("m-a"),
 main::chat("m-a"), "GET /metrics"]
--- more_headers eval
[main::key("all"), main::key("all"), main::key("all"), main::key("all"),
 main::key("wrong"), main::key("rpm"), main::key("rpm"), ""]
--- error_code eval
[200, 200, 200, 404, 401, 200, 429, 200]
--- response_headers eval
[("") x 7, "Content-Type: text/plain; version=0.0.4; charset=utf-8\nCache-Control: no-store"]
--- metrics_lines
# TYPE aigw_build_info gauge
# TYPE aigw_requests_total counter
aigw_requests_total{model="m-a",channel="alpha",provider="openai",endpoint="chat",status="200"} 3
aigw_requests_total{model="m-a",channel="alpha",provider="openai",endpoint="chat",status="429"} 1
aigw_requests_total{model="m-b",channel="beta",provider="openai",endpoint="chat",status="200"} 1
aigw_requests_total{model="",channel="",provider="",endpoint="chat",status="401"} 1
aigw_requests_total{model="",channel="",provider="",endpoint="chat",status="404"} 1
# TYPE aigw_prompt_tokens_total counter
aigw_prompt_tokens_total{model="m-a",channel="alpha"} 30
aigw_prompt_tokens_total{model="m-b",channel="beta"} 20
aigw_prompt_tokens_total{model="",channel=""} 0
aigw_completion_tokens_total{model="m-a",channel="alpha"} 15
aigw_completion_tokens_total{model="m-b",channel="beta"} 7
aigw_cached_tokens_total{model="m-a",channel="alpha"} 0
aigw_cached_tokens_total{model="m-b",channel="beta"} 8
aigw_reasoning_tokens_total{model="m-a",channel="alpha"} 0
aigw_reasoning_tokens_total{model="m-b",channel="beta"} 3
# TYPE aigw_cost_usd_total counter
aigw_cost_usd_total{model="m-a",channel="alpha"} 0.000060
aigw_cost_usd_total{model="m-b",channel="beta"} 0.000102
aigw_cost_usd_total{model="",channel=""} 0.000000
# TYPE aigw_failovers_total counter
# TYPE aigw_rejections_total counter
aigw_rejections_total{reason="rate_limit_exceeded"} 1
aigw_rejections_total{reason="model_not_found"} 1
aigw_rejections_total{reason="invalid_api_key"} 1
aigw_rejections_total{reason="insufficient_quota"} 0
aigw_rejections_total{reason="store_unavailable"} 0
aigw_rejections_total{reason="other"} 0
# TYPE aigw_upstream_latency_seconds histogram
aigw_upstream_latency_seconds_bucket{channel="alpha",le="+Inf"} 3
aigw_upstream_latency_seconds_count{channel="alpha"} 3
aigw_upstream_latency_seconds_bucket{channel="beta",le="+Inf"} 1
aigw_upstream_latency_seconds_count{channel="beta"} 1
# TYPE aigw_time_to_first_token_seconds histogram
aigw_time_to_first_token_seconds_bucket{channel="alpha",le="+Inf"} 3
aigw_time_to_first_token_seconds_count{channel="alpha"} 3
aigw_time_to_first_token_seconds_count{channel="beta"} 1
# TYPE aigw_gateway_overhead_seconds histogram
aigw_gateway_overhead_seconds_bucket{endpoint="chat",le="+Inf"} 4
aigw_gateway_overhead_seconds_count{endpoint="chat"} 4
# TYPE aigw_channel_up gauge
aigw_channel_up{channel="alpha",provider="openai"} 1
aigw_channel_up{channel="beta",provider="openai"} 1
aigw_channel_up{channel="idle",provider="openai"} 0
# TYPE aigw_channel_circuit_state gauge
aigw_channel_circuit_state{channel="alpha"} 0
aigw_channel_circuit_state{channel="beta"} 0
aigw_channel_circuit_state{channel="idle"} 0
aigw_metrics_dropped_total 0
--- metrics_like eval
[qr/^aigw_build_info\{version="[^"]+",nginx="\d+\.\d+\.\d+"\} 1$/m,
 qr/^# HELP aigw_requests_total \S/m,
 # 12 bounds and +Inf, cumulative
 qr/^(?:aigw_upstream_latency_seconds_bucket\{channel="alpha",le="[^"]+"\} [0-3]\n){12}aigw_upstream_latency_seconds_bucket\{channel="alpha",le="\+Inf"\} 3\naigw_upstream_latency_seconds_sum\{channel="alpha"\} \d+\.\d{3}\n/m,
 qr/^aigw_upstream_latency_seconds_bucket\{channel="alpha",le="5"\} 3$/m,
 qr/^aigw_time_to_first_token_seconds_bucket\{channel="beta",le="5"\} 1$/m,
 qr/^aigw_gateway_overhead_seconds_sum\{endpoint="chat"\} \d+\.\d{3}$/m]
--- metrics_unlike eval
[qr/^aigw_failovers_total\{/m,
 qr/nope/,
 qr/endpoint="(?!chat")/]
--- promtool: 1



=== TEST 2: escaped labels and the models endpoint; promtool
--- t17: 1
--- request eval
[main::chat("m-a"), main::chat("m-b"), main::chat("q\\\"m\\\\x"),
 "GET /v1/models", "GET /metrics"]
--- more_headers eval
[main::key("all"), main::key("all"), main::key("all"), main::key("all"), ""]
--- error_code eval
[200, 200, 200, 200, 200]
--- metrics_lines
aigw_requests_total{model="",channel="",provider="",endpoint="models",status="200"} 1
aigw_requests_total{model="q\"m\\x",channel="alpha",provider="openai",endpoint="chat",status="200"} 1
aigw_prompt_tokens_total{model="q\"m\\x",channel="alpha"} 10
--- promtool: 1



=== TEST 3: two workers: 30 requests over separate connections are all counted
--- t17: 1
--- workers: 2
--- request eval
[(map { main::chat("m-a") } 1 .. 30), "GET /metrics"]
--- more_headers eval
[(map { main::key("all") } 1 .. 30), ""]
--- error_code eval
[(200) x 31]
--- distinct_pids: 2
--- metrics_lines
aigw_requests_total{model="m-a",channel="alpha",provider="openai",endpoint="chat",status="200"} 30
aigw_prompt_tokens_total{model="m-a",channel="alpha"} 300
aigw_completion_tokens_total{model="m-a",channel="alpha"} 150
aigw_cost_usd_total{model="m-a",channel="alpha"} 0.000600
aigw_upstream_latency_seconds_count{channel="alpha"} 30
aigw_time_to_first_token_seconds_count{channel="alpha"} 30
aigw_gateway_overhead_seconds_count{endpoint="chat"} 30
--- promtool: 1



=== TEST 4: a reload keeps the counters: 3 requests, reload, 2 more
The old workers give their regions back as they exit; the new ones count
on in the same zone.
--- t17: 1
--- workers: 2
--- request eval
[(map { main::chat("m-a") } 1 .. 3), main::chat("m-b"), main::chat("m-b"),
 "GET /metrics"]
--- more_headers eval
[(map { main::key("all") } 1 .. 5), ""]
--- reload_after: 2
--- error_code eval
[(200) x 6]
--- metrics_lines
aigw_requests_total{model="m-a",channel="alpha",provider="openai",endpoint="chat",status="200"} 3
aigw_requests_total{model="m-b",channel="beta",provider="openai",endpoint="chat",status="200"} 2
aigw_prompt_tokens_total{model="m-a",channel="alpha"} 30
aigw_prompt_tokens_total{model="m-b",channel="beta"} 40
aigw_cost_usd_total{model="m-b",channel="beta"} 0.000204
aigw_upstream_latency_seconds_count{channel="alpha"} 3
aigw_upstream_latency_seconds_count{channel="beta"} 2
aigw_metrics_dropped_total 0



=== TEST 5: a zone of two regions: after a reload the new workers take the old ones'
The old workers give their regions back when they exit.
--- t17: 1
--- workers: 2
--- http_config
    aigw_metrics_zone 320k;
--- request eval
[(map { main::chat("m-a") } 1 .. 6), (map { main::chat("m-b") } 1 .. 6),
 "GET /metrics"]
--- more_headers eval
[(map { main::key("all") } 1 .. 12), ""]
--- reload_after: 5
--- error_code eval
[(200) x 13]
--- metrics_lines
aigw_requests_total{model="m-a",channel="alpha",provider="openai",endpoint="chat",status="200"} 6
aigw_requests_total{model="m-b",channel="beta",provider="openai",endpoint="chat",status="200"} 6
aigw_metrics_dropped_total 0



=== TEST 6: a zone of two regions: a killed worker's region goes to its successor
The killed worker cannot give its region back: the new one takes it over
once the old pid is gone.  Some of the requests after the kill go to the
new worker.
--- t17: 1
--- workers: 2
--- http_config
    aigw_metrics_zone 320k;
--- request eval
[(map { main::chat("m-a") } 1 .. 4), (map { main::chat("m-b") } 1 .. 16),
 "GET /metrics"]
--- more_headers eval
[(map { main::key("all") } 1 .. 20), ""]
--- kill_worker_after: 3
--- error_code eval
[(200) x 21]
--- distinct_pids: 3
--- whole_error_log eval
[qr/\[warn\] .*: aigw: the metrics zone "aigw_metrics" holds 2 worker regions, 4 are needed for 2 worker processes and a reload: workers without one do not count requests; use "aigw_metrics_zone \d+k;"/]
--- no_error_log
[error]
[crit]
no free region
--- metrics_lines
aigw_requests_total{model="m-a",channel="alpha",provider="openai",endpoint="chat",status="200"} 4
aigw_requests_total{model="m-b",channel="beta",provider="openai",endpoint="chat",status="200"} 16
aigw_metrics_dropped_total 0



=== TEST 7: bounded label sets: past 768 a worker's new models count as "__other__"
770 models of the pattern "x-*", one request each, in one process: 768
label sets of their own (the region's share), the last two under
model="__other__".  Too slow under valgrind (and the zone's memory is not
checked by it): skipped there.
--- t17: 1
--- skip_eval: 1: $ENV{TEST_NGINX_USE_VALGRIND}
--- request eval
[(map { main::chat("x-$_") } 1 .. 770), "GET /metrics"]
--- more_headers eval
[(map { main::key("all") } 1 .. 770), ""]
--- error_code eval
[(200) x 771]
--- timeout: 60
--- metrics_lines
aigw_requests_total{model="x-1",channel="alpha",provider="openai",endpoint="chat",status="200"} 1
aigw_requests_total{model="x-768",channel="alpha",provider="openai",endpoint="chat",status="200"} 1
aigw_requests_total{model="__other__",channel="alpha",provider="openai",endpoint="chat",status="200"} 2
aigw_prompt_tokens_total{model="__other__",channel="alpha"} 20
aigw_upstream_latency_seconds_count{channel="alpha"} 770
aigw_metrics_dropped_total 0
--- metrics_unlike eval
[qr/model="x-769"/, qr/model="x-770"/]
--- promtool: 1



=== TEST 8: methods: POST is 405 with Allow, HEAD has the headers only
--- t17: 1
--- request eval
["POST /metrics\nx", "HEAD /metrics", "GET /metrics"]
--- error_code eval
[405, 200, 200]
--- response_headers eval
["Allow: GET, HEAD",
 "Content-Type: text/plain; version=0.0.4; charset=utf-8",
 "Content-Type: text/plain; version=0.0.4; charset=utf-8"]
--- response_body_like eval
[qr/405 Not Allowed/, qr/^$/, qr/^# HELP aigw_build_info /]



=== TEST 9: "aigw on" inherited from the server does not make the page a gateway request
--- no_default_http: 1
--- config
    location = /stats {
        aigw_metrics;
    }
--- server_config
    aigw on;
--- request
GET /stats
--- error_code: 200
--- response_body_like chomp
^# HELP aigw_build_info



=== TEST 10: aigw_metrics_zone: a size of one's own
--- t17: 1
--- http_config
    aigw_metrics_zone 1m;
--- request eval
[main::chat("m-a"), "GET /metrics"]
--- more_headers eval
[main::key("all"), ""]
--- error_code eval
[200, 200]
--- metrics_lines
aigw_requests_total{model="m-a",channel="alpha",provider="openai",endpoint="chat",status="200"} 1



=== TEST 11: config: aigw_metrics_zone too small
--- no_default_http: 1
--- http_config
    aigw_metrics_zone 64k;
--- config
--- request
GET /
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: zone size "64k" is too small: at least \d+k in \S+\/nginx\.conf:\d+$/m



=== TEST 12: config: aigw_metrics_zone twice
--- no_default_http: 1
--- http_config
    aigw_metrics_zone 1m;
    aigw_metrics_zone 2m;
--- config
--- request
GET /
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: "aigw_metrics_zone" directive is duplicate in \S+\/nginx\.conf:\d+$/m



=== TEST 13: config: aigw_metrics in a location with "aigw on"
--- no_default_http: 1
--- config
    location = /metrics {
        aigw on;
        aigw_metrics;
    }
--- request
GET /
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: "aigw_metrics" directive cannot be used in a location with "aigw on" in \S+\/nginx\.conf:\d+$/m



=== TEST 14: no aigw configuration at all: the page has only the fixed families
--- no_default_http: 1
--- config
    location = /metrics {
        aigw_metrics;
    }
--- request
GET /metrics
--- error_code: 200
--- response_body_like chomp
(?s)^# HELP aigw_build_info .*\naigw_rejections_total\{reason="other"\} 0\n.*aigw_metrics_dropped_total 0\n$
--- promtool: 1
