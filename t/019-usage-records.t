# Usage records (aigw_usage_stream): one XADD per gateway request to a
# Redis stream, read back here over a plain RESP socket (binary-safe, so a
# CR, LF or quote in a value is seen as stored).  Needs
# TEST_NGINX_REDIS_PORT (a private redis-server, as "make test" starts with
# scripts/with-redis.sh).
#
# Every block writes its own stream (STREAM in configs), so blocks and
# reruns never see each other's records.
#
# "--- records eval": [ { field => expected string or qr//, ... }, ... ]
# the records the block's requests leave in the stream, in order, checked
# after the last request (records are written after the answer: each check
# waits for them).  Every record must have exactly the 20 fields of
# @FIELDS, in that order; request_id, time, latency_ms and ttft_ms are
# always compared with the access log line of the same request (the
# access log and the record are written in the same log phase, so they
# agree to the millisecond).  "--- stream_len": the XLEN expected.

use lib 't/lib';
use Test::Nginx::Socket;
use AigwMock qw(ngx_quote);
use Cwd qw(abs_path);
use Digest::SHA qw(sha256_hex);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Time::HiRes qw(time sleep);

my $port = $ENV{TEST_NGINX_REDIS_PORT};

if (!$port || system("redis-cli -p $port PING > /dev/null 2>&1") != 0) {
    plan(skip_all => "no redis-server: set TEST_NGINX_REDIS_PORT "
                     . "(make test runs scripts/with-redis.sh)");
} else {
    plan("no_plan");
}

my $t = dirname(abs_path(__FILE__));
$ENV{TEST_NGINX_AIGW_ROOT} = dirname($t);

# a port where nothing listens: bound, then closed
{
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1)
        or die "no free port: $!";
    $ENV{TEST_NGINX_DEAD_PORT} = $s->sockport;
    close $s;
}

my $data = tempdir("aigw-t19-XXXXXX", TMPDIR => 1, CLEANUP => 1);
$ENV{TEST_NGINX_T19_DATA} = $data;

sub write_file {
    my ($name, $text) = @_;
    open my $out, '>', "$data/$name" or die "$data/$name: $!";
    print $out $text;
    close $out;
}

write_file("keys.json", <<'_EOK_');
{
  "tenants": [
    {"name": "acme"}
  ],
  "keys": [
    {"name": "billing", "key": "sk-t19-billing", "tenant": "acme"},
    {"name": "rpm", "key": "sk-t19-rpm", "limits": {"rpm": 1}}
  ]
}
_EOK_

# 16 of 19 prompt tokens at $2/M, 3 cached at $1/M, 10 output at $10/M:
# 32 + 3 + 100 = 135 micro-USD
write_file("prices.json", <<'_EOP_');
{"models": {"*": {"input": 2.00, "cached_input": 1.00, "output": 10.00}}}
_EOP_

our @FIELDS = qw(time request_id key key_id tenant model upstream_model
                 channel provider endpoint stream prompt_tokens
                 completion_tokens cached_tokens reasoning_tokens
                 cost_micro_usd status latency_ms ttft_ms attempts);

our $ANSWER = '{"id":"chatcmpl-u","object":"chat.completion",'
    . '"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},'
    . '"finish_reason":"stop"}],"usage":{"prompt_tokens":19,'
    . '"completion_tokens":10,"total_tokens":29,"prompt_tokens_details":'
    . '{"cached_tokens":3},"completion_tokens_details":'
    . '{"reasoning_tokens":4}}}';

my $head = '{"id":"chatcmpl-s","object":"chat.completion.chunk",'
         . '"model":"gpt-4o-2024-08-06",';
our @EVENTS = (
    "data: $head" . '"choices":[{"index":0,"delta":{"content":"Hel"},'
        . '"finish_reason":null}]}' . "\n\n",
    "data: $head" . '"choices":[{"index":0,"delta":{},'
        . '"finish_reason":"stop"}]}' . "\n\n"
    . "data: $head" . '"choices":[],"usage":{"prompt_tokens":9,'
        . '"completion_tokens":2,"total_tokens":11,"prompt_tokens_details":'
        . '{"cached_tokens":4},"completion_tokens_details":'
        . '{"reasoning_tokens":1}}}' . "\n\n"
    . "data: [DONE]\n\n",
);

our $HTTP_CONFIG = <<'_EOC_';
    aigw_keys_file $TEST_NGINX_T19_DATA/keys.json;
    aigw_prices_file $TEST_NGINX_T19_DATA/prices.json;

    log_format t19 '$aigw_request_id $msec $request_time $aigw_ttft $status';

    aigw_channel mock {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/v1;
        key sk-upstream;
    }

    aigw_channel sse {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/sse/v1;
        key sk-upstream-sse;
    }

    aigw_channel broken {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/broken/v1;
        key sk-upstream-broken;
    }
_EOC_

our $CONFIG = <<"_EOC_";
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock model=gpt-4o-2024-08-06;
        aigw_model gpt-4o-stream sse model=gpt-4o-2024-08-06;
        aigw_model "llama-*" mock;
        aigw_model gpt-4o-fo broken priority=10;
        aigw_model gpt-4o-fo mock model=gpt-4o-2024-08-06 priority=0;
        GATEWAY
        access_log logs/t19.log t19;
        include \$TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }

    location = /plain {
        return 200 "plain\\n";
    }

    location = /mock/v1/chat/completions {
        default_type application/json;
        return 200 @{[ ngx_quote($ANSWER) ]};
    }

    location = /broken/v1/chat/completions {
        default_type application/json;
        return 500 '{"error":{"message":"boom"}}';
    }

    location = /sse/v1/chat/completions {
        default_type text/event-stream;
        echo -n -- @{[ ngx_quote($EVENTS[0]) ]};
        echo_flush;
        echo_sleep 0.05;
        echo -n -- @{[ ngx_quote($EVENTS[1]) ]};
    }
_EOC_

our $FAILOVER = do {
    open my $f, '<', "$ENV{TEST_NGINX_AIGW_ROOT}/conf-examples/aigw_failover.conf"
        or die "aigw_failover.conf: $!";
    local $/;
    <$f>;
};

our $BODY = '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}';

sub stream_key {
    my $block = shift;
    my ($n) = $block->name =~ /TEST (\d+)/;
    return "t19:$$:$n:usage";
}

sub chat {
    my ($n, $body) = @_;
    return [ ("POST /v1/chat/completions\n" . ($body // $BODY)) x $n ];
}

sub key_id {
    return "k_" . substr(sha256_hex(shift), 0, 16);
}

add_block_preprocessor(sub {
    my $block = shift;
    my $stream = stream_key($block);

    my $usage = $block->usage // "key=STREAM";
    chomp $usage;
    $usage =~ s/STREAM/$stream/g;

    # a long connect_timeout: nginx under valgrind on a busy machine may
    # take more than the default second to set its connection up
    my $store = $block->store
                // "redis server=127.0.0.1:\$TEST_NGINX_REDIS_PORT "
                   . "prefix=t19:$$: connect_timeout=10s";
    chomp $store;

    $block->set_value("http_config", $HTTP_CONFIG
                      . ($store eq "none" ? "" : "    aigw_store $store;\n")
                      . "    aigw_usage_stream $usage;\n"
                      . ($block->http_config // ""));

    my $config = $CONFIG;
    my $gw = $block->gateway // "";
    chomp $gw;
    $config =~ s/GATEWAY/$gw/;

    # failover's named locations log the requests that end in them
    if (defined $block->failover) {
        (my $f = $FAILOVER) =~ s/(aigw_failover_stage \w+;)/$1\n    access_log logs\/t19.log t19;/g;
        $config .= $f;
    }

    $block->set_value("config", $config . ($block->config // ""));

    # the Redis connections that must be up before the first request
    # (nginx under valgrind starts slowly), or the first record is dropped
    my $links = $block->links
                // (($store =~ /TEST_NGINX_REDIS_PORT/ ? 1 : 0)
                    + ($usage =~ /server=\S*TEST_NGINX_REDIS_PORT/ ? 1 : 0));

    if (defined $block->stream_is_string) {
        $block->set_value("init", "main::redis('SET', '$stream', 'x');"
                                  . ($block->init // ""));
    }

    if ($links && !defined $block->must_die) {
        $block->set_value("init", "main::wait_log(qr/aigw: redis \\S+ "
                                  . "connected/, $links);"
                                  . ($block->init // ""));
    }
});


# A RESP client: binary-safe, unlike redis-cli's output.

sub read_n {
    my ($s, $n) = @_;
    my $buf = '';

    while (length $buf < $n) {
        my $got = sysread($s, $buf, $n - length $buf, length $buf);
        die "redis: $!" unless $got;
    }

    return $buf;
}

sub read_line {
    my $s = shift;
    my $line = '';

    while ($line !~ /\r\n$/) {
        $line .= read_n($s, 1);
    }

    return substr($line, 0, -2);
}

sub read_reply {
    my $s = shift;
    my $line = read_line($s);
    my ($type, $v) = (substr($line, 0, 1), substr($line, 1));

    return $v if $type eq '+';
    return { err => $v } if $type eq '-';
    return $v + 0 if $type eq ':';

    if ($type eq '$') {
        return undef if $v < 0;
        return substr(read_n($s, $v + 2), 0, $v);
    }

    if ($type eq '*') {
        return undef if $v < 0;
        return [ map { read_reply($s) } 1 .. $v ];
    }

    die "redis: unexpected reply \"$line\"";
}

sub redis {
    my @args = @_;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                  Proto => 'tcp', Timeout => 5)
        or die "redis: $!";

    syswrite($s, join("", "*" . @args . "\r\n",
                      map { "\$" . length($_) . "\r\n$_\r\n" } @args));

    my $r = read_reply($s);
    close $s;
    return $r;
}

# [ { id => ..., names => [...], f => { ... } }, ... ]
sub records {
    my ($stream, $db) = @_;
    my $r;

    if ($db) {
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                      Proto => 'tcp', Timeout => 5)
            or die "redis: $!";
        for my $cmd (["SELECT", $db], ["XRANGE", $stream, "-", "+"]) {
            syswrite($s, join("", "*" . @$cmd . "\r\n",
                              map { "\$" . length($_) . "\r\n$_\r\n" }
                              @$cmd));
            $r = read_reply($s);
        }
        close $s;

    } else {
        $r = redis("XRANGE", $stream, "-", "+");
    }

    return [] unless ref $r eq 'ARRAY';

    my @out;

    for my $e (@$r) {
        my ($id, $kv) = @$e;
        my %f = @$kv;
        my @names = map { $kv->[2 * $_] } 0 .. @$kv / 2 - 1;
        push @out, { id => $id, names => \@names, f => \%f };
    }

    return \@out;
}

# waits (up to 10 s) for $count lines matching $re in the error log
sub wait_log {
    my ($re, $count) = @_;
    my $n = 0;

    for (1 .. 200) {
        if (open my $in, '<', $Test::Nginx::Util::ErrLogFile) {
            $n = grep { $_ =~ $re } <$in>;
            close $in;
        }

        return if $n >= ($count // 1);
        sleep 0.05;
    }

    warn "wait_log: $n of " . ($count // 1) . " lines match $re\n";
}

# the access log of the gateway location: request id => [ms, rt_ms, ttft],
# and the request ids in order
sub access_log {
    my (%lines, @order);
    my $file = dirname($Test::Nginx::Util::ErrLogFile) . "/t19.log";

    open my $in, '<', $file or return {};

    while (<$in>) {
        my ($rid, $msec, $rt, $ttft, $status) = split / /;
        my ($s, $ms) = split /\./, $msec;
        my ($rs, $rms) = split /\./, $rt;
        $lines{$rid} = [ $s * 1000 + $ms, $rs * 1000 + $rms, $ttft ];
        push @order, $rid;
    }

    close $in;
    return (\%lines, \@order);
}

sub requests_of {
    my $block = shift;
    my $r = $block->request // $block->pipelined_requests;
    return ref $r eq 'ARRAY' ? scalar @$r : 1;
}

sub show {
    my $v = shift;
    $v =~ s/\r/\\r/g;
    $v =~ s/\n/\\n/g;
    return $v;
}

add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
    my $want = $block->records;
    my $len = $block->stream_len;
    my $once = $block->once_log;

    return unless $req_idx == requests_of($block) - 1;

    # a line written after an answer: looked for after the next request
    if (defined $once) {
        my ($any, $exact) = @$once;
        my @lines;

        if (open my $in, '<', $Test::Nginx::Util::ErrLogFile) {
            @lines = grep { $_ =~ $any } <$in>;
            close $in;
        }

        SKIP: {
            skip "$block->{name} - once_log - skipped due to $dry_run", 2
                if $dry_run;

            is(scalar @lines, 1, $block->name . " - logged once: $any");
            like($lines[0] // "", $exact, $block->name . " - the line");
        }
    }

    if (defined $block->unpause) {
        redis("CLIENT", "UNPAUSE");
    }

    return unless defined $want || defined $len;

    my $name = $block->name;
    my $stream = stream_key($block);
    my $db = $block->db;
    my $n = defined $len ? $len : scalar @$want;

    SKIP: {
        skip "$name - records - skipped due to $dry_run", 1 if $dry_run;

        my $recs;

        for (1 .. 100) {
            $recs = records($stream, $db);
            last if @$recs >= $n;
            sleep 0.05;
        }

        # and no more come
        sleep 0.1;
        $recs = records($stream, $db);

        is(scalar @$recs, $n, "$name - stream length");

        return unless defined $want;

        my ($log, $order) = access_log();

        if (defined $block->tail_of_log) {
            my @last = @$order[-@$want .. -1];
            is(join(" ", map { $_->{f}{request_id} // "" } @$recs),
               join(" ", @last),
               "$name - the records are those of the last requests");
        }

        for my $i (0 .. $#$want) {
            my $r = $recs->[$i] // { names => [], f => {} };
            my $f = $r->{f};
            my $w = $want->[$i];

            is(join(" ", @{ $r->{names} }), join(" ", @FIELDS),
               "$name - record $i: the fields, in order");

            # what the access log says of the same request
            my $line = $log->{ $f->{request_id} // "" };
            ok($line, "$name - record $i: its request is in the access log");

            if ($line) {
                my ($now, $rt, $ttft) = @$line;
                is($f->{time}, $now - $rt, "$name - record $i: time");
                is($f->{latency_ms}, $rt, "$name - record $i: latency_ms");
                is($f->{ttft_ms}, $ttft eq "-" ? -1 : $ttft,
                   "$name - record $i: ttft_ms");
            }

            my ($id_ms) = ($r->{id} // "") =~ /^(\d+)-/;
            ok(defined $id_ms && $id_ms >= $f->{time},
               "$name - record $i: added after the request started");

            for my $k (sort keys %$w) {
                my $got = $f->{$k};

                if (ref $w->{$k}) {
                    like($got, $w->{$k}, "$name - record $i: $k");
                } else {
                    is(defined $got ? show($got) : undef, show($w->{$k}),
                       "$name - record $i: $k");
                }
            }
        }
    }
});

# error_log (and once_log) look at the whole log of the block, not at
# what came after the previous request: connections are made at start
check_accum_error_log();
repeat_each(1);
no_long_string();
no_shuffle();

run_tests();

__DATA__

=== TEST 1: a chat answer with usage: every field of its record
--- request eval
main::chat(1)
--- more_headers
Authorization: Bearer sk-t19-billing
Content-Type: application/json
--- error_code: 200
--- records eval
[{
    request_id => qr/^[0-9a-f]{32}$/,
    key => "billing",
    key_id => main::key_id("sk-t19-billing"),
    tenant => "acme",
    model => "gpt-4o",
    upstream_model => "gpt-4o-2024-08-06",
    channel => "mock",
    provider => "openai",
    endpoint => "chat",
    stream => 0,
    prompt_tokens => 19,
    completion_tokens => 10,
    cached_tokens => 3,
    reasoning_tokens => 4,
    cost_micro_usd => 135,
    status => 200,
    ttft_ms => qr/^\d+$/,
    attempts => 1,
}]
--- no_error_log
[error]
[warn]



=== TEST 2: a stream: stream 1, the usage of its last chunk, its time to first token
--- request eval
main::chat(1, '{"model":"gpt-4o-stream","messages":[{"role":"user","content":"hi"}],"stream":true}')
--- more_headers
Authorization: Bearer sk-t19-billing
Content-Type: application/json
--- error_code: 200
--- records eval
[{
    key => "billing",
    tenant => "acme",
    model => "gpt-4o-stream",
    upstream_model => "gpt-4o-2024-08-06",
    channel => "sse",
    provider => "openai",
    endpoint => "chat",
    stream => 1,
    prompt_tokens => 9,
    completion_tokens => 2,
    cached_tokens => 4,
    reasoning_tokens => 1,
    # 5 x 2 + 4 x 1 + 2 x 10
    cost_micro_usd => 34,
    status => 200,
    ttft_ms => qr/^\d+$/,
    latency_ms => qr/^\d+$/,
    attempts => 1,
}]
--- no_error_log
[error]
[warn]



=== TEST 3: refusals are recorded: 401 for an unknown key (with its key id) and for no key
--- request eval
[ @{ main::chat(1) }, "POST /v1/chat/completions\n$main::BODY" ]
--- more_headers eval
[ "Authorization: Bearer sk-t19-unknown\nContent-Type: application/json",
  "Content-Type: application/json" ]
--- error_code eval
[401, 401]
--- records eval
[ map { {
    key => "",
    key_id => $_,
    tenant => "",
    model => "",
    upstream_model => "",
    channel => "",
    provider => "",
    endpoint => "chat",
    stream => 0,
    prompt_tokens => 0,
    completion_tokens => 0,
    cached_tokens => 0,
    reasoning_tokens => 0,
    cost_micro_usd => 0,
    status => 401,
    ttft_ms => -1,
    attempts => 0,
} } (main::key_id("sk-t19-unknown"), "") ]
--- no_error_log
[error]
[warn]



=== TEST 4: a 429 of the rate limit is recorded after the answer it follows
--- request eval
main::chat(2)
--- more_headers
Authorization: Bearer sk-t19-rpm
Content-Type: application/json
--- error_code eval
[200, 429]
--- records eval
[{
    key => "rpm",
    key_id => main::key_id("sk-t19-rpm"),
    tenant => "",
    model => "gpt-4o",
    status => 200,
    prompt_tokens => 19,
    cost_micro_usd => 135,
    attempts => 1,
}, {
    key => "rpm",
    key_id => main::key_id("sk-t19-rpm"),
    tenant => "",
    model => "gpt-4o",
    upstream_model => "gpt-4o-2024-08-06",
    channel => "mock",
    provider => "openai",
    endpoint => "chat",
    stream => 0,
    prompt_tokens => 0,
    completion_tokens => 0,
    cached_tokens => 0,
    reasoning_tokens => 0,
    cost_micro_usd => 0,
    status => 429,
    ttft_ms => -1,
    attempts => 1,
}]
--- no_error_log
[error]
[warn]



=== TEST 5: what is not a gateway request leaves no record; /v1/models does
--- request eval
[ "GET /plain", "GET /v1/nowhere", "GET /v1/models", @{ main::chat(1) } ]
--- more_headers
Authorization: Bearer sk-t19-billing
Content-Type: application/json
--- error_code eval
[200, 404, 200, 200]
--- records eval
[{
    key => "billing",
    tenant => "acme",
    model => "",
    channel => "",
    endpoint => "models",
    stream => 0,
    prompt_tokens => 0,
    status => 200,
    ttft_ms => -1,
    attempts => 0,
}, {
    model => "gpt-4o",
    endpoint => "chat",
    status => 200,
}]
--- no_error_log
[error]
[warn]



=== TEST 6: maxlen=5 trim=exact: after 12 requests the stream holds the last 5
Written "005": Redis would refuse leading zeros, the gateway sends "5".
--- usage
key=STREAM maxlen=005 trim=exact
--- request eval
main::chat(12)
--- more_headers
Authorization: Bearer sk-t19-billing
Content-Type: application/json
--- error_code eval
[ (200) x 12 ]
--- records eval
[ ({ key => "billing", status => 200, prompt_tokens => 19 }) x 5 ]
--- tail_of_log
--- no_error_log
[error]
[warn]



=== TEST 7: maxlen=5 approximate (MAXLEN ~): Redis trims whole nodes of 100 entries, so 12 stay
--- usage
key=STREAM maxlen=5
--- request eval
main::chat(12)
--- more_headers
Authorization: Bearer sk-t19-billing
Content-Type: application/json
--- error_code eval
[ (200) x 12 ]
--- stream_len: 12
--- no_error_log
[error]
[warn]



=== TEST 8: a model name with quotes, '*', '$' and '\' (RESP and shell syntax) is stored verbatim
Model names are printable ASCII without spaces; this one passes through the
"llama-*" route as the client named it.
--- request eval
main::chat(1, '{"model":"llama-\"*3\"$4\'\\\\PING*","messages":[{"role":"user","content":"hi"}]}')
--- more_headers
Authorization: Bearer sk-t19-billing
Content-Type: application/json
--- error_code: 200
--- records eval
[{
    key => "billing",
    model => "llama-\"*3\"\$4'\\PING*",
    upstream_model => "llama-\"*3\"\$4'\\PING*",
    channel => "mock",
    status => 200,
    prompt_tokens => 19,
}]
--- no_error_log
[error]
[warn]



=== TEST 9: failover: one record for the request, with the channel that answered and 2 attempts
--- failover
--- gateway
aigw_failover_attempts 2;
--- request eval
main::chat(1, '{"model":"gpt-4o-fo","messages":[{"role":"user","content":"hi"}]}')
--- more_headers
Authorization: Bearer sk-t19-billing
Content-Type: application/json
--- error_code: 200
--- records eval
[{
    key => "billing",
    model => "gpt-4o-fo",
    upstream_model => "gpt-4o-2024-08-06",
    channel => "mock",
    provider => "openai",
    status => 200,
    prompt_tokens => 19,
    cost_micro_usd => 135,
    attempts => 2,
}]
--- no_error_log
[error]



=== TEST 10: the embedded store and a connection of the stream's own, to db 3
--- store
shm
--- usage
key=STREAM server=127.0.0.1:$TEST_NGINX_REDIS_PORT db=3 connect_timeout=10s
--- db: 3
--- request eval
main::chat(2)
--- more_headers
Authorization: Bearer sk-t19-billing
Content-Type: application/json
--- error_code eval
[200, 200]
--- records eval
[ ({ key => "billing", status => 200, prompt_tokens => 19 }) x 2 ]
--- no_error_log
[error]
[warn]



=== TEST 11: the stream's own Redis is down: requests answer at once, drops are logged once per 10 s
--- store
shm
--- usage
key=STREAM server=127.0.0.1:$TEST_NGINX_DEAD_PORT
--- request eval
[ @{ main::chat(4) }, "GET /plain" ]
--- more_headers
Authorization: Bearer sk-t19-billing
Content-Type: application/json
--- timeout: 1
--- error_code eval
[200, 200, 200, 200, 200]
--- once_log eval
[ qr/\[warn\] .*aigw: usage stream "[^"]+": redis [\d.:]+ [^,]+, \d+ usage records dropped \(\d+ by this worker\)/,
  qr/\[warn\] .*aigw: usage stream "t19:\d+:\d+:usage": redis 127\.0\.0\.1:\d+ is not connected, 1 usage records dropped \(1 by this worker\)/ ]
--- no_error_log
[error]



=== TEST 12: the store's Redis is down (failure=open): the same
--- store
redis server=127.0.0.1:$TEST_NGINX_DEAD_PORT failure=open
--- request eval
[ @{ main::chat(3) }, "GET /plain" ]
--- more_headers
Authorization: Bearer sk-t19-billing
Content-Type: application/json
--- timeout: 1
--- error_code eval
[200, 200, 200, 200]
--- once_log eval
[ qr/\[warn\] .*aigw: usage stream "[^"]+": redis [\d.:]+ [^,]+, \d+ usage records dropped \(\d+ by this worker\)/,
  qr/\[warn\] .*aigw: usage stream "t19:\d+:\d+:usage": redis 127\.0\.0\.1:\d+ is not connected, 1 usage records dropped \(1 by this worker\)/ ]
--- no_error_log
[error]



=== TEST 13: a Redis that stops answering: queue=2 records wait, the next are dropped, the 2 arrive later
CLIENT PAUSE WRITE holds the XADDs (and what follows them on the
connection) until CLIENT UNPAUSE after the last request; the connection's
watchdog waits connect_timeout, 30 s, before it gives up on a silent Redis.
--- store
shm
--- usage
key=STREAM queue=2 server=127.0.0.1:$TEST_NGINX_REDIS_PORT connect_timeout=30s
--- init
main::redis("CLIENT", "PAUSE", 30000, "WRITE");
--- unpause
--- request eval
[ @{ main::chat(5) }, "GET /plain" ]
--- more_headers
Authorization: Bearer sk-t19-billing
Content-Type: application/json
--- timeout: 1
--- error_code eval
[200, 200, 200, 200, 200, 200]
--- stream_len: 2
--- once_log eval
[ qr/\[warn\] .*aigw: usage stream "[^"]+": redis [\d.:]+ [^,]+, \d+ usage records dropped \(\d+ by this worker\)/,
  qr/\[warn\] .*aigw: usage stream "t19:\d+:\d+:usage": redis 127\.0\.0\.1:\d+ has too many records unanswered, 1 usage records dropped \(1 by this worker\)/ ]
--- no_error_log
[error]



=== TEST 14: the stream's key holds a string: XADD fails, said once a minute, requests do not care
--- stream_is_string
--- request eval
[ @{ main::chat(3) }, "GET /plain" ]
--- more_headers
Authorization: Bearer sk-t19-billing
Content-Type: application/json
--- error_code eval
[200, 200, 200, 200]
--- once_log eval
[ qr/\[error\] .*aigw: redis [\d.:]+: a usage record: WRONGTYPE[^,]*\(\d+ failed since the last report\)/,
  qr/\[error\] .*aigw: redis 127\.0\.0\.1:\d+: a usage record: WRONGTYPE Operation against a key holding the wrong kind of value \(1 failed since the last report\)/ ]



=== TEST 15: config: no Redis for the stream
--- store
shm
--- request
GET /plain
--- must_die
--- suppress_stderr
--- error_log
aigw_usage_stream needs a Redis: configure "aigw_store redis server=...", or give "server=" to aigw_usage_stream in



=== TEST 16: config: no key
--- usage
maxlen=10
--- request
GET /plain
--- must_die
--- suppress_stderr
--- error_log
aigw_usage_stream: "key=" is required



=== TEST 17: config: a mistyped parameter is named without its value
--- usage
key=STREAM server=127.0.0.1:1 pasword=s3cr3t-t19-typo
--- request
GET /plain
--- must_die
--- suppress_stderr
--- error_log
aigw_usage_stream: invalid parameter "pasword=..."
--- no_error_log
s3cr3t-t19-typo



=== TEST 18: config: maxlen=0
--- usage
key=STREAM maxlen=0
--- request
GET /plain
--- must_die
--- suppress_stderr
--- error_log
aigw_usage_stream: invalid value "maxlen=0"



=== TEST 19: config: a host name as the stream's server
--- store
shm
--- usage
key=STREAM server=localhost:6379
--- request
GET /plain
--- must_die
--- suppress_stderr
--- error_log
aigw_usage_stream: invalid server "localhost:6379": aigw resolves nothing at request time; give an IP address or a unix socket



=== TEST 20: config: db= without server=
--- usage
key=STREAM db=2
--- request
GET /plain
--- must_die
--- suppress_stderr
--- error_log
aigw_usage_stream: "password=", "db=" and "connect_timeout=" need "server="
