# The circuit breaker: a channel that keeps failing is opened in shared
# memory (every worker sees it: two workers here), skipped by selection
# (503 channels_unavailable when it is the only one, the lower tier when
# there is one) without touching its upstream, and let through again one
# probe at a time after its cool-down, which an upstream Retry-After
# lengthens.  The state survives a reload.
#
# The mock upstream logs every request it gets to logs/mock.log, which
# GET /hits serves: the exact list of what reached it.  "--- after eval"
# is what to do after the request of that index: sleep (seconds) or "hup"
# (reload nginx and wait for the new workers).

use lib 't/lib';
use Test::Nginx::Socket 'no_plan';
use Cwd qw(abs_path);
use File::Basename qw(dirname);

$ENV{TEST_NGINX_AIGW_ROOT} = dirname(dirname(abs_path(__FILE__)));

master_on();
workers(2);
repeat_each(1);
no_shuffle();
no_long_string();


# valgrind makes every request slow: stretch the cool-downs and waits
our $S = $ENV{TEST_NGINX_USE_VALGRIND} ? 4 : 1;

our $BODY = '{"model":"m","messages":[{"role":"user","content":"hi"}]}';

our $ANSWER = '{"id":"c1","object":"chat.completion","created":1,'
    . '"model":"m","choices":[{"index":0,"message":{"role":"assistant",'
    . '"content":"from CH"},"finish_reason":"stop"}],"usage":{'
    . '"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}';

our $UNAVAILABLE = '{"error":{"message":"Every channel of the model \'m\' '
    . 'is failing; try again later.","type":"api_error","param":null,'
    . '"code":"channels_unavailable"}}';

# through a proxy hop: the gateway runs in whichever worker accepts the
# hop's connection, so both workers serve (and share) the breaker

sub req { return "POST /front/$_[0]/v1/chat/completions\n$BODY" }

sub answer { my $a = $ANSWER; $a =~ s/CH/$_[0]/; return $a }

sub hits {
    my $s = join '', map { "/$_\n" } @_;
    return qr/\A\Q$s\E\z/;
}


sub gateway {
    my ($where, $mock, @models) = @_;

    return "    location /$where/v1/ {\n"
         . "        aigw on;\n"
         . "        aigw_auth off;\n"
         . join('', map { "        aigw_model m $_;\n" } @models)
         . "        include \$TEST_NGINX_AIGW_ROOT/conf-examples/"
         . "aigw_proxy.conf;\n"
         . "        proxy_set_header X-Mock $mock;\n"
         . "        access_log logs/gw.log gw;\n"
         . "    }\n";
}


add_block_preprocessor(sub {
    my $block = shift;

    my $breaker = $block->breaker // "failures=3 cooldown=60s";
    chomp $breaker;

    $block->set_value("http_config", <<_EOC_ . ($block->http_config // ""));
    aigw_breaker $breaker;

    aigw_channel bad {
        endpoint http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/bad;
        key sk-bad;
    }

    aigw_channel good {
        endpoint http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/good;
        key sk-good;
    }

    log_format mock '\$uri \$http_x_mock';
    log_format gw '\$pid \$uri \$status';
_EOC_

    my $ok = main::ngx_quote(main::answer("bad"));
    my $good = main::ngx_quote(main::answer("good"));

    $block->set_value("config", ($block->config // "")
        . main::gateway("fail", "fail", "bad")
        . main::gateway("ok", "ok", "bad")
        . main::gateway("busy", "busy", "bad")
        . main::gateway("two", "fail", "bad priority=10", "good")
        . <<_EOC_);
    location /bad/ {
        access_log logs/mock.log mock;
        default_type application/json;

        if (\$http_x_mock = fail) {
            return 500 '{"error":{"message":"boom","type":"server_error"}}';
        }

        if (\$http_x_mock = busy) {
            add_header Retry-After @{[ 3 * $::S ]} always;
            return 429 '{"error":{"message":"slow down","type":"requests"}}';
        }

        return 200 $ok;
    }

    location /good/ {
        access_log logs/mock.log mock;
        default_type application/json;
        return 200 $good;
    }

    location /front/ {
        access_log off;
        proxy_pass http://127.0.0.1:\$TEST_NGINX_SERVER_PORT/;
    }

    location = /hits {
        access_log off;
        default_type text/plain;
        alias logs/mock.log;
    }

    location = /metrics {
        access_log off;
        aigw_metrics;
    }
_EOC_

    if (!defined $block->more_headers) {
        $block->set_value("more_headers", "Content-Type: application/json");
    }

    if (!defined $block->no_error_log && !defined $block->error_log
        && !defined $block->must_die)
    {
        $block->set_value("no_error_log", "[error]\n[alert]\n[crit]\n");
    }
});


add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;

    # Test::Nginx checks --- error_log after every request of a list:
    # "--- log_has eval [qr//...]" is checked once, after the last one

    my $pats = $block->log_has;
    my $reqs = $block->request;

    if ($pats && ref $reqs eq 'ARRAY' && $req_idx == $#$reqs) {
        SKIP: {
            Test::More::skip($block->name . " - log_has - $dry_run",
                             scalar @$pats) if $dry_run;

            open my $in, '<', $Test::Nginx::Util::ErrLogFile
                or die "cannot read error.log: $!";
            my $log = do { local $/; <$in> };
            close $in;

            for my $pat (@$pats) {
                Test::More::like($log, $pat, $block->name
                                 . " - error.log has $pat");
            }
        }
    }

    # "--- both_workers": the gateway ran in both workers (logs/gw.log)

    if ($block->both_workers && ref $reqs eq 'ARRAY' && $req_idx == $#$reqs) {
        SKIP: {
            Test::More::skip($block->name . " - both workers - "
                             . ($dry_run || "valgrind"), 1)
                if $dry_run || $ENV{TEST_NGINX_USE_VALGRIND};

            my %pids;

            open my $in, '<', "$Test::Nginx::Util::LogDir/gw.log"
                or die "cannot read gw.log: $!";
            while (<$in>) {
                $pids{$1} = 1 if /^(\d+) /;
            }
            close $in;

            Test::More::cmp_ok(scalar keys %pids, '==', 2, $block->name
                               . " - both workers ran the gateway");
        }
    }

    my $after = $block->after or return;
    my $what = $after->{$req_idx};

    return if !defined $what || $dry_run;

    if ($what eq 'hup') {
        open my $in, '<', $Test::Nginx::Util::PidFile
            or die "cannot read the pid file: $!";
        my $pid = <$in>;
        close $in;
        chomp $pid;

        kill 'HUP', $pid or die "cannot HUP $pid: $!";

        # the new workers start at once; the old ones finish
        select(undef, undef, undef, 1.5);
        return;
    }

    select(undef, undef, undef, $what);
});


sub ngx_quote {
    my $s = shift;

    $s =~ s/\\/\\\\/g;
    $s =~ s/'/\\'/g;

    return "'$s'";
}


run_tests();

__DATA__

=== TEST 1: consecutive failures open it: then 503 without touching the upstream
--- request eval
[main::req("fail"), main::req("fail"), main::req("fail"), main::req("ok"),
 main::req("fail"), "GET /hits", "GET /metrics"]
--- error_code eval
[500, 500, 500, 503, 503, 200, 200]
--- response_body_like eval
[qr/boom/, qr/boom/, qr/boom/, qr/^\Q$::UNAVAILABLE\E$/,
 qr/^\Q$::UNAVAILABLE\E$/,
 main::hits(("bad/chat/completions fail") x 3),
 qr/^aigw_channel_circuit_state\{channel="bad"\} 1\naigw_channel_circuit_state\{channel="good"\} 0$/m]
--- log_has eval
[qr/\[warn\] .*aigw: circuit of channel "bad" opened for 60000 ms/]



=== TEST 2: a success resets the consecutive failures
--- request eval
[main::req("fail"), main::req("fail"), main::req("ok"), main::req("fail"),
 main::req("fail"), main::req("ok"), "GET /hits"]
--- error_code eval
[500, 500, 200, 500, 500, 200, 200]
--- response_body_like eval
[qr/boom/, qr/boom/, qr/from bad/, qr/boom/, qr/boom/, qr/from bad/,
 main::hits("bad/chat/completions fail", "bad/chat/completions fail",
            "bad/chat/completions ok", "bad/chat/completions fail",
            "bad/chat/completions fail", "bad/chat/completions ok")]
--- no_error_log
opened for
[error]



=== TEST 3: the top tier open: the lower tier serves, the open one untouched
--- request eval
[main::req("two"), main::req("two"), main::req("two"), main::req("two"),
 main::req("two"), main::req("fail"), "GET /hits"]
--- error_code eval
[500, 500, 500, 200, 200, 503, 200]
--- response_body_like eval
[qr/boom/, qr/boom/, qr/boom/, qr/from good/, qr/from good/,
 qr/channels_unavailable/,
 main::hits(("bad/chat/completions fail") x 3,
            ("good/chat/completions fail") x 2)]



=== TEST 4: after the cool-down one probe goes; its failure reopens, its success closes
--- breaker eval
"failures=2 cooldown=${main::S}s"
--- request eval
[main::req("fail"), main::req("fail"), main::req("fail"),
 main::req("fail"), main::req("ok"), main::req("ok"),
 main::req("ok"), main::req("ok"),
 main::req("fail"), main::req("ok"), main::req("fail"), main::req("ok"),
 "GET /hits"]
--- after eval
{ 2 => 1.3 * $::S, 5 => 1.3 * $::S }
--- error_code eval
[500, 500, 503,
 500, 503, 503,
 200, 200,
 500, 200, 500, 200, 200]
--- response_body_like eval
[qr/boom/, qr/boom/, qr/channels_unavailable/,
 qr/boom/, qr/channels_unavailable/, qr/channels_unavailable/,
 qr/from bad/, qr/from bad/,
 qr/boom/, qr/from bad/, qr/boom/, qr/from bad/,
 main::hits(("bad/chat/completions fail") x 3,
            ("bad/chat/completions ok") x 2,
            "bad/chat/completions fail", "bad/chat/completions ok",
            "bad/chat/completions fail", "bad/chat/completions ok")]
--- log_has eval
[qr/\[notice\] .*aigw: circuit of channel "bad" closed/]
--- both_workers: 1



=== TEST 5: a 429 with Retry-After: 3 keeps it open 3 s, longer than the cool-down
--- breaker eval
"failures=1 cooldown=${main::S}s"
--- request eval
[main::req("busy"), main::req("ok"), main::req("ok"), main::req("ok"),
 main::req("ok"), "GET /hits"]
--- after eval
{ 1 => 1.5 * $::S, 2 => 2 * $::S }
--- error_code eval
[429, 503, 503, 200, 200, 200]
--- response_headers eval
["Retry-After: " . 3 * $::S, "Retry-After:", "Retry-After:", "Retry-After:",
 "Retry-After:", "Retry-After:"]
--- response_body_like eval
[qr/slow down/, qr/channels_unavailable/, qr/channels_unavailable/,
 qr/from bad/, qr/from bad/,
 main::hits("bad/chat/completions busy", "bad/chat/completions ok",
            "bad/chat/completions ok")]
--- log_has eval
[qr/circuit of channel "bad" opened for @{[ 3000 * $::S ]} ms/]



=== TEST 6: the state survives a reload
--- request eval
[main::req("fail"), main::req("fail"), main::req("fail"), main::req("ok"),
 main::req("ok"), main::req("two"), "GET /metrics", "GET /hits"]
--- after eval
{ 3 => 'hup' }
--- error_code eval
[500, 500, 500, 503, 503, 200, 200, 200]
--- response_body_like eval
[qr/boom/, qr/boom/, qr/boom/, qr/channels_unavailable/,
 qr/channels_unavailable/, qr/from good/,
 qr/^aigw_channel_circuit_state\{channel="bad"\} 1$/m,
 main::hits(("bad/chat/completions fail") x 3,
            "good/chat/completions fail")]
--- log_has eval
[qr/\[notice\] .*: reconfiguring/, qr/\[notice\] .*: gracefully shutting down/]



=== TEST 7: aigw_breaker off: every failure reaches the upstream
--- breaker: off
--- request eval
[(main::req("fail")) x 6, "GET /hits", "GET /metrics"]
--- error_code eval
[(500) x 6, 200, 200]
--- response_body_like eval
[(qr/boom/) x 6, main::hits(("bad/chat/completions fail") x 6),
 qr/^aigw_channel_circuit_state\{channel="bad"\} 0$/m]



=== TEST 8: defaults: five consecutive failures
--- breaker:
--- request eval
[(main::req("fail")) x 6, "GET /hits"]
--- error_code eval
[(500) x 5, 503, 200]
--- response_body_like eval
[(qr/boom/) x 5, qr/channels_unavailable/,
 main::hits(("bad/chat/completions fail") x 5)]



=== TEST 9: a failure ratio opens it
--- breaker: failures=0 ratio=50% min_requests=4
--- request eval
[main::req("ok"), main::req("fail"), main::req("ok"), main::req("fail"),
 main::req("ok"), "GET /hits"]
--- error_code eval
[200, 500, 200, 500, 503, 200]
--- response_body_like eval
[qr/from bad/, qr/boom/, qr/from bad/, qr/boom/, qr/channels_unavailable/,
 main::hits("bad/chat/completions ok", "bad/chat/completions fail",
            "bad/chat/completions ok", "bad/chat/completions fail")]



=== TEST 10: config: neither failures nor a ratio
--- breaker: failures=0 ratio=0%
--- request
GET /hits
--- must_die
--- suppress_stderr
--- error_log
"aigw_breaker" directive opens neither on failures nor on a ratio: use "aigw_breaker off"



=== TEST 11: config: an invalid parameter
--- breaker: ratio=150%
--- request
GET /hits
--- must_die
--- suppress_stderr
--- error_log
invalid parameter "ratio=150%" (expected failures=<n>, ratio=<percent>%, min_requests=<n>, window=<time>, cooldown=<time>, probe_timeout=<time>, or "off")



=== TEST 12: config: a time out of range
--- breaker: cooldown=0s
--- request
GET /hits
--- must_die
--- suppress_stderr
--- error_log
invalid time in "cooldown=0s" (from 1ms to 1d)
