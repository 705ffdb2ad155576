# Limits and budgets on the embedded (shm) store: requests and tokens per
# minute, per-model and tenant limits, location defaults, concurrency,
# budgets and cost, settlement, several workers, reload and restart, and
# the store's configuration errors.
#
# Every block starts its own nginx (the block's name is appended to its
# config) and uses keys of its own, so no counter leaks from one block to
# the next.  Blocks that count start well inside a minute (see
# minute_guard), so the sliding window's previous minute is empty and every
# count is exact.

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use AigwTest;
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

repeat_each(1);
no_shuffle();
no_long_string();


# ---------------------------------------------------------------- files

our $Tmp = tempdir("aigw-t007-XXXXXX", TMPDIR => 1, CLEANUP => 1);
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
  "tenants": [
    {"name": "tn-rpm", "limits": {"rpm": 3}},
    {"name": "tn-budget", "budget": {"usd": 0.0005}}
  ],
  "keys": [
    {"name": "rpm", "key": "sk-t7-rpm", "limits": {"rpm": 3}},
    {"name": "tpm", "key": "sk-t7-tpm", "limits": {"tpm": 40}},
    {"name": "tpm-big", "key": "sk-t7-tpm-big", "limits": {"tpm": 20}},
    {"name": "tpm-dflt", "key": "sk-t7-tpm-dflt", "limits": {"tpm": 100}},
    {"name": "model", "key": "sk-t7-model",
     "limits": {"models": {"m1": {"rpm": 2}}}},
    {"name": "model-both", "key": "sk-t7-model-both",
     "limits": {"rpm": 10, "models": {"m1": {"rpm": 2}}}},
    {"name": "model-tpm", "key": "sk-t7-model-tpm",
     "limits": {"models": {"m1": {"tpm": 30}}}},
    {"name": "ten-a", "key": "sk-t7-ten-a", "tenant": "tn-rpm"},
    {"name": "ten-b", "key": "sk-t7-ten-b", "tenant": "tn-rpm"},
    {"name": "plain", "key": "sk-t7-plain"},
    {"name": "own", "key": "sk-t7-own", "limits": {"rpm": 3}},
    {"name": "budget", "key": "sk-t7-budget", "budget": {"usd": 0.0005}},
    {"name": "daily", "key": "sk-t7-daily",
     "budget": {"usd": 0.0005, "period": "daily"}},
    {"name": "monthly", "key": "sk-t7-monthly",
     "budget": {"usd": 0.0002, "period": "monthly"}},
    {"name": "tb-a", "key": "sk-t7-tb-a", "tenant": "tn-budget"},
    {"name": "tb-b", "key": "sk-t7-tb-b", "tenant": "tn-budget"},
    {"name": "cost", "key": "sk-t7-cost", "limits": {"rpm": 5, "tpm": 1000}},
    {"name": "fail", "key": "sk-t7-fail",
     "limits": {"tpm": 30, "concurrency": 1}},
    {"name": "conc", "key": "sk-t7-conc", "limits": {"concurrency": 1}},
    {"name": "workers", "key": "sk-t7-workers", "limits": {"rpm": 10}},
    {"name": "reload", "key": "sk-t7-reload", "limits": {"rpm": 4}},
    {"name": "keep-total", "key": "sk-t7-keep-total",
     "budget": {"usd": 0.0005}},
    {"name": "keep-daily", "key": "sk-t7-keep-daily",
     "budget": {"usd": 0.0005, "period": "daily"}}
  ]
}
_EOK_

# USD per million tokens: m1 costs 10 micro-USD a prompt token and 20 a
# completion token.  m3 is priced by its upstream name (up-m3), m4 costs a
# fraction of a micro-USD (rounded up).
write_file("$Tmp/prices.json", <<'_EOP_');
{"models": {
  "m1":    {"input": 10, "output": 20},
  "m2":    {"input": 10, "output": 20},
  "m3":    {"input": 1000, "output": 1000},
  "up-m3": {"input": 10, "cached_input": 5, "output": 35},
  "m4":    {"input": 0.15, "output": 0.15},
  "slow":  {"input": 10, "output": 20},
  "dead":  {"input": 10, "output": 20}
}}
_EOP_


# The answer of the usage mock: 8 prompt and 2 completion tokens, as many
# as the gateway estimates for the prompt of chat() (3 + 4 + 1).

our $USAGE = '{"id":"chatcmpl-7","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],"usage":{"prompt_tokens":8,"completion_tokens":2,"total_tokens":10}}';

our $CACHED = '{"id":"chatcmpl-8","object":"chat.completion","choices":[],"usage":{"prompt_tokens":8,"completion_tokens":2,"total_tokens":10,"prompt_tokens_details":{"cached_tokens":4}}}';

our $UPSTREAM_ERROR = qq({"error":{"message":"The upstream provider could not be reached or sent an invalid response.","type":"api_error","param":null,"code":"upstream_error"}}\n);


# The upstream of the "slow" channel is this test: the concurrency block
# holds a request there while it sends another one.

our $Slow = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 16, ReuseAddr => 1)
    or die "cannot listen: $!";
$ENV{TEST_NGINX_AIGW_SLOW_PORT} = $Slow->sockport;


our $HTTP_CONFIG = <<'_EOC_';
    aigw_keys_file $TEST_NGINX_AIGW_TMP/keys.json;
    aigw_prices_file $TEST_NGINX_AIGW_TMP/prices.json;

    aigw_channel usage {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/usage/v1;
        key sk-upstream-usage;
    }

    aigw_channel cached {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/cached/v1;
        key sk-upstream-cached;
    }

    aigw_channel dead {
        endpoint http://127.0.0.1:1/v1;
        key sk-upstream-dead;
    }

    aigw_channel slow {
        endpoint http://127.0.0.1:$TEST_NGINX_AIGW_SLOW_PORT/v1;
        key sk-upstream-slow;
    }

    log_format t7 'key=$aigw_key_name status=$status cost=$aigw_cost '
                  'rr=$aigw_ratelimit_remaining_requests '
                  'rt=$aigw_ratelimit_remaining_tokens';
    log_format t7pid '$pid';
_EOC_

our $LOCATION = <<'_EOC_';
    location /v1/ {
        aigw on;
        aigw_model m1 usage;
        aigw_model m2 usage;
        aigw_model m3 cached model=up-m3;
        aigw_model m4 usage;
        aigw_model dead dead;
        aigw_model slow slow;
        @LOC@
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
        access_log logs/t7.log t7;
        access_log logs/pids.log t7pid;
    }

    location /usage/v1/ {
        default_type application/json;
        return 200 '@USAGE@';
    }

    location /cached/v1/ {
        default_type application/json;
        return 200 '@CACHED@';
    }
_EOC_


# ------------------------------------------------------------- requests

# A chat request for a model; max_tokens (or other fields) as given.  Its
# prompt is estimated at 8 tokens: 3 (reply primer) + 4 (one message) +
# 1 ("hi").
sub chat {
    my ($model, $extra, $uri) = @_;
    $extra = defined $extra ? ",$extra" : "";
    $uri //= "/v1/chat/completions";
    return "POST $uri\n"
           . qq({"model":"$model","messages":[{"role":"user","content":"hi"}]$extra});
}

sub key { "Authorization: Bearer sk-t7-$_[0]\nContent-Type: application/json\n" }

# The regex of a 429 body; the seconds of "Please try again in Ns." must
# be in $secs (a regex).
sub rate_limited {
    my ($subject, $limit, $type, $secs) = @_;
    return qr/^\Q{"error":{"message":"Rate limit reached for $subject: $limit. Please try again in \E$secs\Q\E/
           . qr/\Qs.","type":"$type","param":null,"code":"rate_limit_exceeded"}}\E\n$/;
}

sub quota {
    my ($subject) = @_;
    return qq({"error":{"message":"The budget of $subject is spent.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}\n);
}

# x-ratelimit-reset-*: the window holds what was counted until the end of
# the next minute, 60..120 seconds from now.
our $RESET = '1m(?:[1-9]|[1-5][0-9])s|2m0s';


# ------------------------------------------------------------- helpers

# Blocks that count must not cross a minute: the sliding window would then
# weigh the previous minute's counts.  Wait for the next minute when fewer
# seconds than a block needs are left of this one.
sub minute_guard {
    my $need = $ENV{TEST_NGINX_USE_VALGRIND} ? 45 : 12;
    my $left = 60 - (time() - 60 * int(time() / 60));

    sleep($left + 0.2) if $left < $need;
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

# "nginx -s reload" and wait for it: two new workers started and both old
# ones gone, so that the following requests meet the new cycle only.
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

# Stop nginx as "nginx -s quit" does, and wait until it is gone.
sub stop_nginx {
    my ($name) = @_;
    my $pid = master_pid();

    kill 'QUIT', $pid or die "kill QUIT: $!";

    for (1 .. 1200) {
        waitpid($pid, WNOHANG);
        last unless kill 0, $pid;
        sleep 0.05;
    }

    ok(!kill(0, $pid), "$name - nginx stopped");
}

sub read_state {
    open my $in, '<', "$Tmp/state/spend.tsv" or return undef;
    local $/;
    my $s = <$in>;
    close $in;
    return join "", sort split /^/m, $s;
}


# The request held at the "slow" upstream.

our ($SlowClient, $SlowUp);

sub read_http {
    my ($sock, $until_eof) = @_;
    my $sel = IO::Select->new($sock);
    my $buf = "";

    while ($sel->can_read(60)) {
        my $n = sysread($sock, $buf, 65536, length $buf);
        last if !$n;

        if (!$until_eof && $buf =~ /\r\n\r\n/) {
            my ($head, $body) = split /\r\n\r\n/, $buf, 2;
            my ($len) = $head =~ /^content-length:\s*(\d+)/mi;
            last if defined $len && length($body) >= $len;
        }
    }

    return $buf;
}

sub slow_begin {
    my ($name, $key, $body) = @_;

    # nginx may still be starting (valgrind)
    for (1 .. 600) {
        $SlowClient = IO::Socket::INET->new(
            PeerAddr => '127.0.0.1',
            PeerPort => $ENV{TEST_NGINX_SERVER_PORT},
        );
        last if $SlowClient;
        sleep 0.1;
    }

    $SlowClient or die "connect: $!";

    print $SlowClient "POST /v1/chat/completions HTTP/1.1\r\n"
                      . "Host: localhost\r\n"
                      . "Authorization: Bearer $key\r\n"
                      . "Content-Type: application/json\r\n"
                      . "Content-Length: " . length($body) . "\r\n"
                      . "Connection: close\r\n\r\n$body";

    # admitted: it reached the upstream, and stays there
    ok(IO::Select->new($Slow)->can_read(60),
       "$name - the first request reaches the upstream");

    $SlowUp = $Slow->accept or die "accept: $!";

    like(read_http($SlowUp),
         qr{^POST /v1/chat/completions HTTP/1\.1\r\n.*\r\n\r\n\{"model":"slow",}s,
         "$name - the upstream got the first request");
}

sub slow_end {
    my ($name) = @_;

    print $SlowUp "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                  . "Content-Length: " . length($USAGE) . "\r\n"
                  . "Connection: close\r\n\r\n$USAGE";
    close $SlowUp;

    my $res = read_http($SlowClient, 1);
    close $SlowClient;

    like($res, qr{^HTTP/1\.1 200 OK\r\n}, "$name - the first request: 200");
    like($res, qr{\r\n\r\n\Q$USAGE\E$}, "$name - the first request: body");
}


# ------------------------------------------------------ block sections

# --- lim: 1          the common http config, and the location above with
#                     the directives of "--- loc" in it ("--- config" is
#                     added after it)
# --- workers: 2      master process and 2 workers (reuseport), else one
#                     process (no master unless TEST_NGINX_MASTER_PROCESS)
# --- t7_log eval     the lines of logs/t7.log after the last request
# --- whole_error_log eval  patterns (regexes or strings) that the block's
#                     error.log must have after the last request
# --- distinct_pids   at least this many workers served the block
# --- reload_after    reload nginx after this request (index from 0)
# --- slow_end_after  answer the held "slow" request after this request
# --- state_running_after  after this request, wait until the state file
#                     is "--- state_running eval" (persist timer)
# --- stop_after_last stop nginx after the last request, then compare the
#                     state file with "--- state_file eval"

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

    if ($block->lim) {
        (my $loc = $LOCATION) =~ s{\@LOC\@}{$block->loc // ""}e;
        $loc =~ s/\@USAGE\@/$USAGE/;
        $loc =~ s/\@CACHED\@/$CACHED/;

        $block->set_value("no_default_http", 1);
        $block->set_value("http_config",
                          $HTTP_CONFIG . ($block->http_config // ""));
        $block->set_value("config", $loc . ($block->config // ""));
    }

    return if defined $block->must_die;

    # a fresh nginx (and zone) for every block
    $block->set_value("config", ($block->config // "")
                                . "\n    # " . $block->name . "\n");

    $block->set_value("init", "main::minute_guard();\n"
                              . ($block->init // ""));

    $block->set_value("no_error_log", "[error]\n[alert]\n[crit]\n")
        unless defined $block->no_error_log;
});

add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
    my $name = $block->name;
    my $reqs = $block->request;
    my $last = (ref $reqs ? @$reqs : 1) - 1;

    return if $dry_run;

    if (defined $block->slow_end_after && $block->slow_end_after == $req_idx) {
        slow_end($name);
    }

    if (defined $block->reload_after && $block->reload_after == $req_idx) {
        reload_nginx($name);
    }

    if (defined $block->state_running_after
        && $block->state_running_after == $req_idx)
    {
        my $want = $block->state_running;
        my $got;

        # worker 0 writes it every "persist" (1s) while nginx runs
        for (1 .. 400) {
            $got = read_state();
            last if defined $got && $got eq $want;
            sleep 0.05;
        }

        is($got, $want, "$name - spend.tsv written while nginx runs");
    }

    return if $req_idx != $last;

    if (defined(my $want = $block->t7_log)) {
        my @lines = log_lines("t7.log", scalar @$want);
        is_deeply(\@lines, $want, "$name - logs/t7.log");
    }

    if (defined(my $pats = $block->whole_error_log)) {
        my $log = error_log_from(0);

        for my $pat (ref $pats eq 'ARRAY' ? @$pats : ($pats)) {
            like($log, ref $pat ? $pat : qr/\Q$pat\E/,
                 "$name - error.log has \"$pat\"");
        }
    }

    if (defined(my $n = $block->distinct_pids)) {
        my @lines = log_lines("pids.log", $last + 1);
        my %pids = map { $_ => 1 } @lines;
        is(scalar @lines, $last + 1, "$name - one pids.log line a request");
        cmp_ok(scalar keys %pids, '>=', $n,
               "$name - served by $n workers");
    }

    if ($block->stop_after_last) {
        stop_nginx($name);
        is(read_state(), $block->state_file, "$name - spend.tsv after the stop");
    }
});

run_tests();

__DATA__

=== TEST 1: rpm of a key: 3 requests pass, then 429 with Retry-After; headers on every answer
--- lim: 1
--- request eval
[main::chat("m1"), main::chat("m1"), main::chat("m1"), main::chat("m1"),
 main::chat("m2")]
--- more_headers eval
main::key("rpm")
--- error_code eval
[200, 200, 200, 429, 429]
--- response_body_like eval
[qr/^\Q$main::USAGE\E$/, qr/^\Q$main::USAGE\E$/, qr/^\Q$main::USAGE\E$/,
 main::rate_limited("key 'rpm'", "3 requests per minute", "requests",
                    '(?:2[1-9]|[3-7][0-9]|80)'),
 main::rate_limited("key 'rpm'", "3 requests per minute", "requests",
                    '(?:2[1-9]|[3-7][0-9]|80)')]
--- response_headers_like eval
[
"x-ratelimit-limit-requests: 3
x-ratelimit-remaining-requests: 2
x-ratelimit-reset-requests: (?:$main::RESET)
x-ratelimit-limit-tokens:
Retry-After:
X-Request-Id: [0-9a-f]{32}",
"x-ratelimit-limit-requests: 3
x-ratelimit-remaining-requests: 1
x-ratelimit-reset-requests: (?:$main::RESET)
Retry-After:",
"x-ratelimit-limit-requests: 3
x-ratelimit-remaining-requests: 0
x-ratelimit-reset-requests: (?:$main::RESET)
Retry-After:",
"x-ratelimit-limit-requests: 3
x-ratelimit-remaining-requests: 0
x-ratelimit-reset-requests: (?:$main::RESET)
x-ratelimit-limit-tokens:
Retry-After: (?:2[1-9]|[3-7][0-9]|80)
Content-Type: application/json
X-Request-Id: [0-9a-f]{32}",
"x-ratelimit-limit-requests: 3
x-ratelimit-remaining-requests: 0
x-ratelimit-reset-requests: (?:$main::RESET)
Retry-After: (?:2[1-9]|[3-7][0-9]|80)"
]
--- t7_log eval
["key=rpm status=200 cost=0.000120 rr=2 rt=-",
 "key=rpm status=200 cost=0.000120 rr=1 rt=-",
 "key=rpm status=200 cost=0.000120 rr=0 rt=-",
 "key=rpm status=429 cost=- rr=0 rt=-",
 "key=rpm status=429 cost=- rr=0 rt=-"]



=== TEST 2: tpm of a key: prompt estimate + max_tokens reserved, settled with the real usage
The reservation is 8 + 20 = 28 tokens; the answer reports 10, so the second
request fits (10 + 28 <= 40) and the third does not (20 + 28 > 40).
--- lim: 1
--- request eval
[main::chat("m1", '"max_tokens":20'), main::chat("m1", '"max_tokens":20'),
 main::chat("m1", '"max_tokens":20')]
--- more_headers eval
main::key("tpm")
--- error_code eval
[200, 200, 429]
--- response_body_like eval
[qr/^\Q$main::USAGE\E$/, qr/^\Q$main::USAGE\E$/,
 main::rate_limited("key 'tpm'", "40 tokens per minute", "tokens",
                    '(?:2[5-9]|[3-7][0-9]|8[0-4])')]
--- response_headers_like eval
[
"x-ratelimit-limit-tokens: 40
x-ratelimit-remaining-tokens: 12
x-ratelimit-reset-tokens: (?:$main::RESET)
x-ratelimit-limit-requests:
Retry-After:",
"x-ratelimit-limit-tokens: 40
x-ratelimit-remaining-tokens: 2
x-ratelimit-reset-tokens: (?:$main::RESET)
Retry-After:",
"x-ratelimit-limit-tokens: 40
x-ratelimit-remaining-tokens: 20
x-ratelimit-reset-tokens: (?:$main::RESET)
x-ratelimit-limit-requests:
Retry-After: (?:2[5-9]|[3-7][0-9]|8[0-4])"
]
--- t7_log eval
["key=tpm status=200 cost=0.000120 rr=- rt=12",
 "key=tpm status=200 cost=0.000120 rr=- rt=2",
 "key=tpm status=429 cost=- rr=- rt=20"]



=== TEST 3: a request larger than the whole tpm: "needs about N tokens", no Retry-After
--- lim: 1
--- request eval
[main::chat("m1", '"max_tokens":100'), main::chat("m1", '"max_tokens":12')]
--- more_headers eval
main::key("tpm-big")
--- error_code eval
[429, 200]
--- response_body eval
[qq({"error":{"message":"This request needs about 108 tokens, more than the limit of 20 tokens per minute of key 'tpm-big'.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}\n),
 $main::USAGE]
--- response_headers_like eval
[
"x-ratelimit-limit-tokens: 20
x-ratelimit-remaining-tokens: 20
x-ratelimit-reset-tokens: (?:$main::RESET)
Retry-After:",
"x-ratelimit-limit-tokens: 20
x-ratelimit-remaining-tokens: 0
Retry-After:"
]



=== TEST 4: the completion reservation: aigw_default_max_tokens, max_completion_tokens, 4096 by default
The first request reserves 8 + 50 (the location's default), the second
8 + 5 (max_completion_tokens wins over max_tokens) after the first settled
at 10; the third location has no default: 8 + 4096 > 100.
--- lim: 1
--- loc
aigw_default_max_tokens 50;
--- config
    location /d/v1/ {
        aigw on;
        aigw_model m1 usage;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
[main::chat("m1"), main::chat("m1", '"max_tokens":90,"max_completion_tokens":5'),
 main::chat("m1", undef, "/d/v1/chat/completions")]
--- more_headers eval
main::key("tpm-dflt")
--- error_code eval
[200, 200, 429]
--- response_body eval
[$main::USAGE, $main::USAGE,
 qq({"error":{"message":"This request needs about 4104 tokens, more than the limit of 100 tokens per minute of key 'tpm-dflt'.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}\n)]
--- response_headers_like eval
["x-ratelimit-remaining-tokens: 42", "x-ratelimit-remaining-tokens: 77",
 "x-ratelimit-remaining-tokens: 80\nRetry-After:"]



=== TEST 5: per-model limits of a key apply to that model only
--- lim: 1
--- request eval
[main::chat("m1"), main::chat("m1"), main::chat("m1"), main::chat("m2"),
 main::chat("m2"), main::chat("m2")]
--- more_headers eval
main::key("model")
--- error_code eval
[200, 200, 429, 200, 200, 200]
--- response_body_like eval
[qr/^\Q$main::USAGE\E$/, qr/^\Q$main::USAGE\E$/,
 main::rate_limited("key 'model' on model 'm1'", "2 requests per minute",
                    "requests", '(?:3[1-9]|[4-8][0-9]|90)'),
 qr/^\Q$main::USAGE\E$/, qr/^\Q$main::USAGE\E$/, qr/^\Q$main::USAGE\E$/]
--- response_headers_like eval
["x-ratelimit-limit-requests: 2\nx-ratelimit-remaining-requests: 1",
 "x-ratelimit-limit-requests: 2\nx-ratelimit-remaining-requests: 0",
 "x-ratelimit-limit-requests: 2\nx-ratelimit-remaining-requests: 0\nRetry-After: (?:3[1-9]|[4-8][0-9]|90)",
 "x-ratelimit-limit-requests:\nx-ratelimit-remaining-requests:",
 "x-ratelimit-limit-requests:\nx-ratelimit-remaining-requests:",
 "x-ratelimit-limit-requests:\nx-ratelimit-remaining-requests:"]



=== TEST 6: a model limit and a key limit: a refusal reserves nothing on the key
The key allows 10 a minute, its model m1 2: the third m1 request is refused
by the model limit and does not count for the key.
--- lim: 1
--- request eval
[main::chat("m1"), main::chat("m1"), main::chat("m1"), main::chat("m2")]
--- more_headers eval
main::key("model-both")
--- error_code eval
[200, 200, 429, 200]
--- response_body_like eval
[qr/^\Q$main::USAGE\E$/, qr/^\Q$main::USAGE\E$/,
 main::rate_limited("key 'model-both' on model 'm1'",
                    "2 requests per minute", "requests",
                    '(?:3[1-9]|[4-8][0-9]|90)'),
 qr/^\Q$main::USAGE\E$/]
--- response_headers_like eval
["x-ratelimit-limit-requests: 10\nx-ratelimit-remaining-requests: 9",
 "x-ratelimit-limit-requests: 10\nx-ratelimit-remaining-requests: 8",
 "x-ratelimit-limit-requests: 10\nx-ratelimit-remaining-requests: 7",
 "x-ratelimit-limit-requests: 10\nx-ratelimit-remaining-requests: 7"]



=== TEST 7: a per-model tpm larger than the request: "needs about" names the model
--- lim: 1
--- request eval
[main::chat("m1", '"max_tokens":30'), main::chat("m2", '"max_tokens":30')]
--- more_headers eval
main::key("model-tpm")
--- error_code eval
[429, 200]
--- response_body eval
[qq({"error":{"message":"This request needs about 38 tokens, more than the limit of 30 tokens per minute of key 'model-tpm' on model 'm1'.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}\n),
 $main::USAGE]
--- response_headers_like eval
["x-ratelimit-limit-tokens: 30\nx-ratelimit-remaining-tokens: 30\nRetry-After:",
 "x-ratelimit-limit-tokens:"]



=== TEST 8: tenant limits are shared by the tenant's keys
--- lim: 1
--- request eval
[main::chat("m1"), main::chat("m1"), main::chat("m1"), main::chat("m1"),
 main::chat("m1")]
--- more_headers eval
[main::key("ten-a"), main::key("ten-b"), main::key("ten-a"),
 main::key("ten-b"), main::key("ten-a")]
--- error_code eval
[200, 200, 200, 429, 429]
--- response_body_like eval
[qr/^\Q$main::USAGE\E$/, qr/^\Q$main::USAGE\E$/, qr/^\Q$main::USAGE\E$/,
 main::rate_limited("tenant 'tn-rpm'", "3 requests per minute", "requests",
                    '(?:2[1-9]|[3-7][0-9]|80)'),
 main::rate_limited("tenant 'tn-rpm'", "3 requests per minute", "requests",
                    '(?:2[1-9]|[3-7][0-9]|80)')]
--- response_headers_like eval
["x-ratelimit-limit-requests: 3\nx-ratelimit-remaining-requests: 2",
 "x-ratelimit-limit-requests: 3\nx-ratelimit-remaining-requests: 1",
 "x-ratelimit-limit-requests: 3\nx-ratelimit-remaining-requests: 0",
 "x-ratelimit-limit-requests: 3\nx-ratelimit-remaining-requests: 0\nRetry-After: (?:2[1-9]|[3-7][0-9]|80)",
 "x-ratelimit-limit-requests: 3\nx-ratelimit-remaining-requests: 0\nRetry-After: (?:2[1-9]|[3-7][0-9]|80)"]



=== TEST 9: location defaults apply to keys without their own value; a key's own value wins
"plain" has no limits: the location's rpm 2 and tpm 1000; "own" has rpm 3
and takes the location's tpm.  Without defaults "plain" has no limits.
--- lim: 1
--- config
    location /lim/v1/ {
        aigw on;
        aigw_model m1 usage;
        aigw_limit_rpm 2;
        aigw_limit_tpm 1000;
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }
--- request eval
[main::chat("m1", '"max_tokens":10', "/lim/v1/chat/completions"),
 main::chat("m1", '"max_tokens":10', "/lim/v1/chat/completions"),
 main::chat("m1", '"max_tokens":10', "/lim/v1/chat/completions"),
 main::chat("m1", '"max_tokens":10', "/lim/v1/chat/completions"),
 main::chat("m1", '"max_tokens":10', "/lim/v1/chat/completions"),
 main::chat("m1", '"max_tokens":10', "/lim/v1/chat/completions"),
 main::chat("m1", '"max_tokens":10', "/lim/v1/chat/completions"),
 main::chat("m1", '"max_tokens":10')]
--- more_headers eval
[main::key("plain"), main::key("plain"), main::key("plain"),
 main::key("own"), main::key("own"), main::key("own"), main::key("own"),
 main::key("plain")]
--- error_code eval
[200, 200, 429, 200, 200, 200, 429, 200]
--- response_body_like eval
[qr/^\Q$main::USAGE\E$/, qr/^\Q$main::USAGE\E$/,
 main::rate_limited("key 'plain'", "2 requests per minute", "requests",
                    '(?:3[1-9]|[4-8][0-9]|90)'),
 qr/^\Q$main::USAGE\E$/, qr/^\Q$main::USAGE\E$/, qr/^\Q$main::USAGE\E$/,
 main::rate_limited("key 'own'", "3 requests per minute", "requests",
                    '(?:2[1-9]|[3-7][0-9]|80)'),
 qr/^\Q$main::USAGE\E$/]
--- response_headers_like eval
["x-ratelimit-limit-requests: 2\nx-ratelimit-remaining-requests: 1\nx-ratelimit-limit-tokens: 1000\nx-ratelimit-remaining-tokens: 982",
 "x-ratelimit-limit-requests: 2\nx-ratelimit-remaining-requests: 0\nx-ratelimit-remaining-tokens: 972",
 "x-ratelimit-limit-requests: 2\nx-ratelimit-remaining-requests: 0\nx-ratelimit-remaining-tokens: 962",
 "x-ratelimit-limit-requests: 3\nx-ratelimit-remaining-requests: 2\nx-ratelimit-limit-tokens: 1000\nx-ratelimit-remaining-tokens: 982",
 "x-ratelimit-limit-requests: 3\nx-ratelimit-remaining-requests: 1",
 "x-ratelimit-limit-requests: 3\nx-ratelimit-remaining-requests: 0",
 "x-ratelimit-limit-requests: 3\nx-ratelimit-remaining-requests: 0",
 "x-ratelimit-limit-requests:\nx-ratelimit-limit-tokens:"]



=== TEST 10: a key's total budget: 403 insufficient_quota once spent
Each answer costs 8 x 10 + 2 x 20 = 120 micro-USD; admission reserves the
estimate (8 x 10 + max_tokens x 20).  After two answers (240): 240 + 280 >
500 is refused, 240 + 100 fits, 360 + 100 fits, 480 + 100 does not.
--- lim: 1
--- request eval
[main::chat("m1", '"max_tokens":10'), main::chat("m1", '"max_tokens":10'),
 main::chat("m1", '"max_tokens":10'), main::chat("m1", '"max_tokens":1'),
 main::chat("m1", '"max_tokens":1'), main::chat("m1", '"max_tokens":1')]
--- more_headers eval
main::key("budget")
--- error_code eval
[200, 200, 403, 200, 200, 403]
--- response_body eval
[$main::USAGE, $main::USAGE, main::quota("key 'budget' (0.000500 USD)"),
 $main::USAGE, $main::USAGE, main::quota("key 'budget' (0.000500 USD)")]
--- response_headers_like eval
["Retry-After:\nx-ratelimit-limit-requests:", "Retry-After:",
 "Retry-After:\nx-ratelimit-limit-requests:\nContent-Type: application/json",
 "Retry-After:", "Retry-After:", "Retry-After:"]
--- t7_log eval
["key=budget status=200 cost=0.000120 rr=- rt=-",
 "key=budget status=200 cost=0.000120 rr=- rt=-",
 "key=budget status=403 cost=- rr=- rt=-",
 "key=budget status=200 cost=0.000120 rr=- rt=-",
 "key=budget status=200 cost=0.000120 rr=- rt=-",
 "key=budget status=403 cost=- rr=- rt=-"]



=== TEST 11: a daily budget says so
--- lim: 1
--- request eval
[main::chat("m1", '"max_tokens":10'), main::chat("m1", '"max_tokens":10'),
 main::chat("m1", '"max_tokens":10')]
--- more_headers eval
main::key("daily")
--- error_code eval
[200, 200, 403]
--- response_body eval
[$main::USAGE, $main::USAGE,
 main::quota("key 'daily' (0.000500 USD a day)")]



=== TEST 12: a monthly budget says so
--- lim: 1
--- request eval
[main::chat("m1", '"max_tokens":2'), main::chat("m1", '"max_tokens":2')]
--- more_headers eval
main::key("monthly")
--- error_code eval
[200, 403]
--- response_body eval
[$main::USAGE, main::quota("key 'monthly' (0.000200 USD a month)")]



=== TEST 13: a tenant budget is spent by all of its keys
--- lim: 1
--- request eval
[main::chat("m1", '"max_tokens":10'), main::chat("m1", '"max_tokens":10'),
 main::chat("m1", '"max_tokens":10'), main::chat("m1", '"max_tokens":10')]
--- more_headers eval
[main::key("tb-a"), main::key("tb-b"), main::key("tb-a"), main::key("tb-b")]
--- error_code eval
[200, 200, 403, 403]
--- response_body eval
[$main::USAGE, $main::USAGE,
 main::quota("tenant 'tn-budget' (0.000500 USD)"),
 main::quota("tenant 'tn-budget' (0.000500 USD)")]



=== TEST 14: $aigw_cost: the upstream model's price, cached input, rounding up; remaining counts in the log
m3 goes upstream as up-m3: (8 - 4) x 10 + 4 x 5 + 2 x 35 = 130 micro-USD
(m3's own price would make it 10000).  m4: 10 x 0.15 = 1.5, rounded up to
2.  A key without limits has a cost and no remaining counts.
--- lim: 1
--- request eval
[main::chat("m1", '"max_tokens":10'), main::chat("m3", '"max_tokens":10'),
 main::chat("m4", '"max_tokens":10'), main::chat("m1", '"max_tokens":10')]
--- more_headers eval
[main::key("cost"), main::key("cost"), main::key("cost"), main::key("plain")]
--- response_body eval
[$main::USAGE, $main::CACHED, $main::USAGE, $main::USAGE]
--- t7_log eval
["key=cost status=200 cost=0.000120 rr=4 rt=982",
 "key=cost status=200 cost=0.000130 rr=3 rt=972",
 "key=cost status=200 cost=0.000002 rr=2 rt=962",
 "key=plain status=200 cost=0.000120 rr=- rt=-"]



=== TEST 15: an upstream that refuses connections (502) releases the reserved tokens and the concurrency slot
tpm 30 and concurrency 1: every request reserves 8 + 10 = 18; a second one
fits only when the first was released.
--- lim: 1
--- request eval
[main::chat("dead", '"max_tokens":10'), main::chat("dead", '"max_tokens":10'),
 main::chat("m1", '"max_tokens":10'), main::chat("m1", '"max_tokens":10')]
--- more_headers eval
main::key("fail")
--- error_code eval
[502, 502, 200, 200]
--- response_body eval
[$main::UPSTREAM_ERROR, $main::UPSTREAM_ERROR, $main::USAGE, $main::USAGE]
--- response_headers_like eval
["x-ratelimit-remaining-tokens: 12", "x-ratelimit-remaining-tokens: 12",
 "x-ratelimit-remaining-tokens: 12", "x-ratelimit-remaining-tokens: 2"]
--- t7_log eval
["key=fail status=502 cost=- rr=- rt=12",
 "key=fail status=502 cost=- rr=- rt=12",
 "key=fail status=200 cost=0.000120 rr=- rt=12",
 "key=fail status=200 cost=0.000120 rr=- rt=2"]
--- whole_error_log eval
[qr/\[error\] .*connect\(\) failed \(111: Connection refused\) while connecting to upstream, client: 127\.0\.0\.1, .*, upstream: "http:\/\/127\.0\.0\.1:1\/v1\/chat\/completions"/]
--- no_error_log
[alert]
[crit]



=== TEST 16: concurrency 1: a second request while the first is in flight gets 429; the slot is freed when it ends
The first request is held at the "slow" upstream (this test) while the
second is sent; then it is answered, and a third request passes.
--- lim: 1
--- init
main::slow_begin("TEST 16", "sk-t7-conc",
                 '{"model":"slow","messages":[{"role":"user","content":"hi"}]}');
--- request eval
[main::chat("m1"), main::chat("m1")]
--- more_headers eval
main::key("conc")
--- slow_end_after: 0
--- error_code eval
[429, 200]
--- response_body eval
[qq({"error":{"message":"Rate limit reached for key 'conc': 1 concurrent requests. Please try again in 1s.","type":"requests","param":null,"code":"rate_limit_exceeded"}}\n),
 $main::USAGE]
--- response_headers_like eval
["Retry-After: 1\nx-ratelimit-limit-requests:\nx-ratelimit-limit-tokens:",
 "Retry-After:"]



=== TEST 17: two workers: rpm 10 and 30 requests over separate connections: exactly 10 pass
--- lim: 1
--- workers: 2
--- request eval
[map { main::chat("m1") } 1 .. 30]
--- more_headers eval
main::key("workers")
--- error_code eval
[(200) x 10, (429) x 20]
--- response_headers_like eval
[(map { "x-ratelimit-remaining-requests: " . (10 - $_) } 1 .. 10),
 (map { "x-ratelimit-remaining-requests: 0\nRetry-After: \\d+" } 1 .. 20)]
--- distinct_pids: 2



=== TEST 18: a reload keeps the counters: rpm 4, 3 requests, reload, 2 more: the last is 429
--- lim: 1
--- workers: 2
--- request eval
[map { main::chat("m1") } 1 .. 5]
--- more_headers eval
main::key("reload")
--- reload_after: 2
--- error_code eval
[200, 200, 200, 200, 429]
--- response_body_like eval
[(map { qr/^\Q$main::USAGE\E$/ } 1 .. 4),
 main::rate_limited("key 'reload'", "4 requests per minute", "requests",
                    '(?:1[6-9]|[2-6][0-9]|7[0-5])')]
--- response_headers_like eval
["x-ratelimit-remaining-requests: 3", "x-ratelimit-remaining-requests: 2",
 "x-ratelimit-remaining-requests: 1", "x-ratelimit-remaining-requests: 0",
 "x-ratelimit-remaining-requests: 0"]



=== TEST 19: spend goes to the state file: every persist=1s, and at exit
Requests cost what they reserve (max_tokens 2: 8 x 10 + 2 x 20 = 120
micro-USD), so the spend does not depend on when each is settled.  The file
is checked after the 7th request (the timer wrote it), then two more
requests change the spend right before nginx is stopped (the exit writes
it).
--- lim: 1
--- workers: 2
--- http_config
    aigw_store shm zone=t7_keep:1m state_path=$TEST_NGINX_AIGW_TMP/state persist=1s;
--- request eval
[(map { main::chat("m1", '"max_tokens":2') } 1 .. 10)]
--- more_headers eval
[(map { main::key("keep-total") } 1 .. 5),
 (map { main::key("keep-daily") } 1 .. 5)]
--- error_code eval
[200, 200, 200, 200, 403, 200, 200, 200, 200, 403]
--- response_body eval
[(map { $main::USAGE } 1 .. 4), main::quota("key 'keep-total' (0.000500 USD)"),
 (map { $main::USAGE } 1 .. 4),
 main::quota("key 'keep-daily' (0.000500 USD a day)")]
--- state_running_after: 6
--- state_running eval
"k:keep-daily\t" . int(time() / 86400) . "\t240\nk:keep-total\t0\t480\n"
--- stop_after_last: 1
--- state_file eval
"k:keep-daily\t" . int(time() / 86400) . "\t480\nk:keep-total\t0\t480\n"



=== TEST 20: a restart keeps the spend: both keys are still refused
--- lim: 1
--- workers: 2
--- http_config
    aigw_store shm zone=t7_keep:1m state_path=$TEST_NGINX_AIGW_TMP/state persist=1s;
--- request eval
[main::chat("m1", '"max_tokens":2'), main::chat("m1", '"max_tokens":2')]
--- more_headers eval
[main::key("keep-total"), main::key("keep-daily")]
--- error_code eval
[403, 403]
--- response_body eval
[main::quota("key 'keep-total' (0.000500 USD)"),
 main::quota("key 'keep-daily' (0.000500 USD a day)")]
--- whole_error_log eval
qr/\[notice\] .*aigw: read the spend of 2 subjects from "\Q$main::Tmp\E\/state\/spend\.tsv"/



=== TEST 21: config: an unknown store
--- no_default_http: 1
--- http_config
    aigw_store memcached;
--- config
--- request
GET /
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: unknown store "memcached": use "shm" or "redis" in \S+\/nginx\.conf:\d+$/m



=== TEST 22: config: zone= without a size
--- no_default_http: 1
--- http_config
    aigw_store shm zone=counters;
--- config
--- request
GET /
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "zone=counters" in \S+\/nginx\.conf:\d+$/m



=== TEST 23: config: zone= with a bad size
--- no_default_http: 1
--- http_config
    aigw_store shm zone=counters:lots;
--- config
--- request
GET /
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "zone=counters:lots" in \S+\/nginx\.conf:\d+$/m



=== TEST 24: config: zone= without a name
--- no_default_http: 1
--- http_config
    aigw_store shm zone=:1m;
--- config
--- request
GET /
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "zone=:1m" in \S+\/nginx\.conf:\d+$/m



=== TEST 25: config: a zone that is too small
--- no_default_http: 1
--- http_config
    aigw_store shm zone=counters:16k;
--- config
--- request
GET /
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: zone "counters" is too small in \S+\/nginx\.conf:\d+$/m



=== TEST 26: config: persist= that is not a time
--- no_default_http: 1
--- http_config
    aigw_store shm persist=often;
--- config
--- request
GET /
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "persist=often" in \S+\/nginx\.conf:\d+$/m



=== TEST 27: config: persist=0
--- no_default_http: 1
--- http_config
    aigw_store shm persist=0;
--- config
--- request
GET /
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "persist=0" in \S+\/nginx\.conf:\d+$/m



=== TEST 28: config: an empty state_path=
--- no_default_http: 1
--- http_config
    aigw_store shm state_path=;
--- config
--- request
GET /
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "state_path=" in \S+\/nginx\.conf:\d+$/m



=== TEST 29: config: an unknown parameter
--- no_default_http: 1
--- http_config
    aigw_store shm size=10m;
--- config
--- request
GET /
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: invalid parameter "size=10m" in \S+\/nginx\.conf:\d+$/m



=== TEST 30: config: a duplicate aigw_store
--- no_default_http: 1
--- http_config
    aigw_store shm zone=one:1m;
    aigw_store shm zone=two:1m;
--- config
--- request
GET /
--- must_die
--- suppress_stderr
--- error_log eval
qr/\[emerg\] \d+#\d+: "aigw_store" directive is duplicate in \S+\/nginx\.conf:\d+$/m



=== TEST 31: config: a prices file with an unknown field names the model and the field
--- no_default_http: 1
--- http_config
    aigw_prices_file $TEST_NGINX_SERVER_ROOT/html/prices.json;
--- user_files
>>> prices.json
{"models": {"m1": {"input": 1, "ouput": 2}}}
--- config
--- request
GET /
--- must_die
--- suppress_stderr
--- error_log eval
qr{\[emerg\] \d+#\d+: invalid prices file "[^"]*/html/prices\.json": models\["m1"\]\.ouput: unknown field in \S+/nginx\.conf:\d+$}m



=== TEST 32: config: a prices file with a price out of range
--- no_default_http: 1
--- http_config
    aigw_prices_file $TEST_NGINX_SERVER_ROOT/html/prices.json;
--- user_files
>>> prices.json
{"models": {"m1": {"input": -1, "output": 2}}}
--- config
--- request
GET /
--- must_die
--- suppress_stderr
--- error_log eval
qr{\[emerg\] \d+#\d+: invalid prices file "[^"]*/html/prices\.json": models\["m1"\]\.input: must be a number from 0 to 1000000 \(USD per million tokens\) in \S+/nginx\.conf:\d+$}m



=== TEST 33: config: a prices file without an output price
--- no_default_http: 1
--- http_config
    aigw_prices_file $TEST_NGINX_SERVER_ROOT/html/prices.json;
--- user_files
>>> prices.json
{"models": {"m1": {"input": 1}}}
--- config
--- request
GET /
--- must_die
--- suppress_stderr
--- error_log eval
qr{\[emerg\] \d+#\d+: invalid prices file "[^"]*/html/prices\.json": models\["m1"\]: missing "output" in \S+/nginx\.conf:\d+$}m
