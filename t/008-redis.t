# The Redis counter store (aigw_store redis): the limits of 007 counted in
# Redis, what a Redis that is away or wrong does to requests, and the
# configuration errors of the directive.  Needs TEST_NGINX_REDIS_PORT (a
# private redis-server, as "make test" starts with scripts/with-redis.sh).
#
# Every block gets its own key prefix (PREFIX in configs, {p} in
# "--- redis" checks), so blocks and reruns never see each other's counts.
#
# "--- redis eval": [ ["redis-cli args with {p}", expected or qr//], ... ]
# checked after the last request of the block; the settlement of a request
# is sent after its answer, so each check waits up to 2 s for its value.

use lib 't/lib';
use Test::Nginx::Socket;
use Cwd qw(abs_path);
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

# a "Redis" that takes connections (the kernel does, up to the backlog) and
# never answers: open while the suite runs
our $BLACKHOLE = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                       LocalPort => 0, Proto => 'tcp',
                                       Listen => 16)
    or die "no free port: $!";
$ENV{TEST_NGINX_BLACKHOLE_PORT} = $BLACKHOLE->sockport;

my $data = tempdir("aigw-t8-XXXXXX", TMPDIR => 1, CLEANUP => 1);
$ENV{TEST_NGINX_T8_DATA} = $data;

sub write_file {
    my ($name, $text) = @_;
    open my $out, '>', "$data/$name" or die "$data/$name: $!";
    print $out $text;
    close $out;
}

write_file("keys.json", <<'_EOK_');
{
  "tenants": [
    {"name": "team", "limits": {"rpm": 4}}
  ],
  "keys": [
    {"name": "plain", "key": "sk-redis-plain"},
    {"name": "rpm", "key": "sk-redis-rpm", "limits": {"rpm": 3}},
    {"name": "tpm", "key": "sk-redis-tpm", "limits": {"tpm": 250}},
    {"name": "budget", "key": "sk-redis-budget",
     "budget": {"usd": 0.0005, "period": "total"}},
    {"name": "member", "key": "sk-redis-member", "tenant": "team",
     "limits": {"rpm": 10, "models": {"gpt-4o": {"rpm": 6}}}}
  ]
}
_EOK_

write_file("prices.json", <<'_EOP_');
{"models": {"*": {"input": 1.00, "output": 2.00}}}
_EOP_

our $HTTP_CONFIG = <<'_EOC_';
    aigw_keys_file $TEST_NGINX_T8_DATA/keys.json;
    aigw_prices_file $TEST_NGINX_T8_DATA/prices.json;

    aigw_channel mock {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/v1;
        key sk-upstream;
    }
_EOC_

# The gateway, a location without aigw, and the mock: its usage comes from
# the X-Prompt and X-Completion request headers.
our $CONFIG = <<'_EOC_';
    location /v1/ {
        aigw on;
        aigw_model gpt-4o mock;
        GATEWAY
        include $TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
    }

    location = /plain {
        return 200 "plain\n";
    }

    location = /mock/v1/chat/completions {
        default_type application/json;
        return 200 '{"id":"chatcmpl-r","object":"chat.completion","choices":[],"usage":{"prompt_tokens":$http_x_prompt,"completion_tokens":$http_x_completion}}';
    }
_EOC_

our $BODY = '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],'
            . '"max_tokens":100}';

our $UNAVAILABLE = '{"error":{"message":"The gateway cannot check the limits '
    . 'of this key right now; try again later.","type":"api_error",'
    . '"param":null,"code":"store_unavailable"}}' . "\n";

sub prefix {
    my $block = shift;
    my ($n) = $block->name =~ /TEST (\d+)/;
    return "t8:$$:$n:";
}

sub chat {
    my ($n, $body) = @_;
    return [ ("POST /v1/chat/completions\n" . ($body // $BODY)) x $n ];
}

add_block_preprocessor(sub {
    my $block = shift;
    my $p = prefix($block);

    # Test::Nginx's master/workers settings are global: set them per block
    if (defined $block->workers) {
        master_on();
        workers($block->workers);
    } else {
        master_process_enabled(($ENV{TEST_NGINX_MASTER_PROCESS} // 'off')
                               ne 'off');
        workers(1);
    }

    if (defined $block->store) {
        my $store = $block->store;
        chomp $store;
        $store =~ s/PREFIX/$p/g;

        $block->set_value("http_config", $HTTP_CONFIG
                          . "    aigw_store $store;\n"
                          . ($block->http_config // ""));

        my $config = $CONFIG;
        my $gw = $block->gateway // "";
        chomp $gw;
        $config =~ s/GATEWAY/$gw/;
        $block->set_value("config", $config . ($block->config // ""));

        # keep the block inside one minute: the window would still be exact
        # across a boundary, but the expected headers would not (a block
        # takes seconds under valgrind)
        my $init = 'my $s = time() % 60; sleep(61 - $s) if $s >= '
                   . ($ENV{TEST_NGINX_USE_VALGRIND} ? 40 : 57) . ';';

        # a Redis that works: wait until every worker is connected (nginx
        # under valgrind starts slowly), or the first request fails open
        if ($store =~ /\$TEST_NGINX_REDIS_PORT/ && $store !~ /password=/) {
            $init .= ' main::wait_log(qr/aigw: redis \S+ connected/, '
                     . ($block->workers // 1) . ');';
        }

        $block->set_value("init", $init . ($block->init // ""));
    }
});

sub redis_cli {
    my @args = @_;
    my $cmd = join(" ", "redis-cli", "-p", $port, @args);
    my $out = `$cmd 2>&1`;
    chomp $out;
    return $out;
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

sub requests_of {
    my $block = shift;
    my $r = $block->request // $block->pipelined_requests;
    return ref $r eq 'ARRAY' ? scalar @$r : 1;
}

add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
    my $checks = $block->redis;

    return unless defined $checks;
    return unless $req_idx == requests_of($block) - 1;

    my $name = $block->name;
    my $p = prefix($block);

    for my $c (@$checks) {
        my ($args, $want) = @$c;
        $args =~ s/\{p\}/$p/g;

        SKIP: {
            skip "$name - redis $args - skipped due to $dry_run", 1
                if $dry_run;

            my $got;
            for (1 .. 40) {
                $got = redis_cli($args);
                last if ref $want ? $got =~ $want : $got eq $want;
                sleep 0.05;
            }

            if (ref $want) {
                like($got, $want, "$name - redis $args");
            } else {
                is($got, $want, "$name - redis $args");
            }
        }
    }
});

# error_log and grep_error_log look at the whole log of the block, not at
# what came after the previous request: connections are made at start
check_accum_error_log();
repeat_each(1);
no_long_string();
no_shuffle();

run_tests();

__DATA__

=== TEST 1: rpm through Redis: 3 pass, the 4th is a 429 with Retry-After and x-ratelimit headers
--- store
redis server=127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=PREFIX
--- request eval
main::chat(4)
--- more_headers
Authorization: Bearer sk-redis-rpm
Content-Type: application/json
X-Prompt: 10
X-Completion: 20
--- error_code eval
[200, 200, 200, 429]
--- response_headers_like eval
[
"x-ratelimit-limit-requests: 3
x-ratelimit-remaining-requests: 2
x-ratelimit-reset-requests: [12]m\\d+s
Retry-After: ",
"x-ratelimit-limit-requests: 3
x-ratelimit-remaining-requests: 1
x-ratelimit-reset-requests: [12]m\\d+s
Retry-After: ",
"x-ratelimit-limit-requests: 3
x-ratelimit-remaining-requests: 0
x-ratelimit-reset-requests: [12]m\\d+s
Retry-After: ",
"x-ratelimit-limit-requests: 3
x-ratelimit-remaining-requests: 0
x-ratelimit-reset-requests: [12]m\\d+s
x-ratelimit-limit-tokens: 
Retry-After: ([2-7]\\d|80)
Content-Type: application/json",
]
--- response_body_like eval
[
qr/^\{"id":"chatcmpl-r",.*"usage":\{"prompt_tokens":10,"completion_tokens":20\}\}$/,
qr/^\{"id":"chatcmpl-r",/,
qr/^\{"id":"chatcmpl-r",/,
qr/^\{"error":\{"message":"Rate limit reached for key 'rpm': 3 requests per minute\. Please try again in ([2-7]\d|80)s\.","type":"requests","param":null,"code":"rate_limit_exceeded"\}\}$/,
]
--- redis eval
[
["HGET {p}s:k:rpm rc", 3],
["HGET {p}s:k:rpm tc", 90],
["EXISTS {p}i:k:rpm", 0],
["PTTL {p}s:k:rpm", qr/^1[0-8]\d{4}$/],
]
--- no_error_log
[error]
[warn]



=== TEST 2: the same requests with the shm store: the same answers
--- store
shm
--- request eval
main::chat(4)
--- more_headers
Authorization: Bearer sk-redis-rpm
Content-Type: application/json
X-Prompt: 10
X-Completion: 20
--- error_code eval
[200, 200, 200, 429]
--- response_headers_like eval
[
"x-ratelimit-limit-requests: 3
x-ratelimit-remaining-requests: 2
x-ratelimit-reset-requests: [12]m\\d+s
Retry-After: ",
"x-ratelimit-limit-requests: 3
x-ratelimit-remaining-requests: 1
x-ratelimit-reset-requests: [12]m\\d+s
Retry-After: ",
"x-ratelimit-limit-requests: 3
x-ratelimit-remaining-requests: 0
x-ratelimit-reset-requests: [12]m\\d+s
Retry-After: ",
"x-ratelimit-limit-requests: 3
x-ratelimit-remaining-requests: 0
x-ratelimit-reset-requests: [12]m\\d+s
x-ratelimit-limit-tokens: 
Retry-After: ([2-7]\\d|80)
Content-Type: application/json",
]
--- response_body_like eval
[
qr/^\{"id":"chatcmpl-r",.*"usage":\{"prompt_tokens":10,"completion_tokens":20\}\}$/,
qr/^\{"id":"chatcmpl-r",/,
qr/^\{"id":"chatcmpl-r",/,
qr/^\{"error":\{"message":"Rate limit reached for key 'rpm': 3 requests per minute\. Please try again in ([2-7]\d|80)s\.","type":"requests","param":null,"code":"rate_limit_exceeded"\}\}$/,
]
--- no_error_log
[error]
[warn]



=== TEST 3: tpm: reservations are settled from the answer's usage in Redis
Each request reserves 108 tokens (8 of prompt + max_tokens 100) and uses
30: without the settlements the 3rd would be refused; with them the 6th is
(150 + 108 > 250).  A request over the whole limit is refused first and
counts nothing.
--- store
redis server=127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=PREFIX
--- request eval
[
"POST /v1/chat/completions\n" . '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":300}',
@{ main::chat(6) }
]
--- more_headers
Authorization: Bearer sk-redis-tpm
Content-Type: application/json
X-Prompt: 10
X-Completion: 20
--- error_code eval
[429, 200, 200, 200, 200, 200, 429]
--- response_headers_like eval
[
"x-ratelimit-limit-tokens: 250
x-ratelimit-remaining-tokens: 250
x-ratelimit-limit-requests: 
Retry-After: ",
"x-ratelimit-limit-tokens: 250
x-ratelimit-remaining-tokens: 142
x-ratelimit-reset-tokens: [12]m\\d+s
x-ratelimit-limit-requests: 
Retry-After: ",
"x-ratelimit-remaining-tokens: 112",
"x-ratelimit-remaining-tokens: 82",
"x-ratelimit-remaining-tokens: 52",
"x-ratelimit-remaining-tokens: 22",
"x-ratelimit-limit-tokens: 250
x-ratelimit-remaining-tokens: 100
Retry-After: ([4-9]|[1-5]\\d|6[0-4])",
]
--- response_body_like eval
[
qr/^\{"error":\{"message":"This request needs about 308 tokens, more than the limit of 250 tokens per minute of key 'tpm'\.","type":"tokens","param":null,"code":"rate_limit_exceeded"\}\}$/,
qr/^\{"id":"chatcmpl-r",/,
qr/^\{"id":"chatcmpl-r",/,
qr/^\{"id":"chatcmpl-r",/,
qr/^\{"id":"chatcmpl-r",/,
qr/^\{"id":"chatcmpl-r",/,
qr/^\{"error":\{"message":"Rate limit reached for key 'tpm': 250 tokens per minute\. Please try again in ([4-9]|[1-5]\d|6[0-4])s\.","type":"tokens","param":null,"code":"rate_limit_exceeded"\}\}$/,
]
--- redis eval
[
["HGET {p}s:k:tpm rc", 5],
["HGET {p}s:k:tpm tc", 150],
["EXISTS {p}i:k:tpm", 0],
]
--- no_error_log
[error]
[warn]



=== TEST 4: a budget with a prices file: spend is settled in Redis, then 403 insufficient_quota
Each request reserves 28 micro-USD (8 prompt tokens at $1/M, max_tokens 10
at $2/M) and costs 300 (100 + 100 x 2): 300, 600, then 600 + 28 > 500.
--- store
redis server=127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=PREFIX
--- request eval
main::chat(3, '{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":10}')
--- more_headers
Authorization: Bearer sk-redis-budget
Content-Type: application/json
X-Prompt: 100
X-Completion: 100
--- error_code eval
[200, 200, 403]
--- response_headers_like eval
[
"x-ratelimit-limit-requests: 
x-ratelimit-limit-tokens: ",
"x-ratelimit-limit-requests: ",
"x-ratelimit-limit-requests: 
Retry-After: ",
]
--- response_body_like eval
[
qr/^\{"id":"chatcmpl-r",.*"usage":\{"prompt_tokens":100,"completion_tokens":100\}\}$/,
qr/^\{"id":"chatcmpl-r",/,
qr/^\{"error":\{"message":"The budget of key 'budget' \(0\.000500 USD\) is spent\.","type":"insufficient_quota","param":null,"code":"insufficient_quota"\}\}$/,
]
--- redis eval
[
["HGET {p}s:k:budget sp", 600],
["HGET {p}s:k:budget pd", 0],
["HGET {p}s:k:budget rc", 2],
["PTTL {p}s:k:budget", -1],
]
--- no_error_log
[error]
[warn]



=== TEST 5: key, model and tenant subjects are admitted together: a refusal by one counts in none
The tenant allows 4 requests, the key's limit for gpt-4o 6, the key 10.
The headers are those of the first subject with a limit, the key.
--- store
redis server=127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=PREFIX
--- request eval
main::chat(5)
--- more_headers
Authorization: Bearer sk-redis-member
Content-Type: application/json
X-Prompt: 10
X-Completion: 20
--- error_code eval
[200, 200, 200, 200, 429]
--- response_headers_like eval
[
"x-ratelimit-limit-requests: 10
x-ratelimit-remaining-requests: 9",
"x-ratelimit-remaining-requests: 8",
"x-ratelimit-remaining-requests: 7",
"x-ratelimit-remaining-requests: 6",
"x-ratelimit-limit-requests: 10
x-ratelimit-remaining-requests: 5
Retry-After: \\d+",
]
--- response_body_like eval
[
qr/^\{"id":"chatcmpl-r",/,
qr/^\{"id":"chatcmpl-r",/,
qr/^\{"id":"chatcmpl-r",/,
qr/^\{"id":"chatcmpl-r",/,
qr/^\{"error":\{"message":"Rate limit reached for tenant 'team': 4 requests per minute\. Please try again in \d+s\.","type":"requests","param":null,"code":"rate_limit_exceeded"\}\}$/,
]
--- redis eval
[
["HGET {p}s:k:member rc", 4],
["HGET {p}s:m:member:gpt-4o rc", 4],
["HGET {p}s:t:team rc", 4],
["EXISTS {p}i:t:team", 0],
]
--- no_error_log
[error]
[warn]



=== TEST 6: two workers, one Redis: exactly 3 of 9 requests pass
--- workers: 2
--- store
redis server=127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=PREFIX
--- request eval
main::chat(9)
--- more_headers
Authorization: Bearer sk-redis-rpm
Content-Type: application/json
X-Prompt: 10
X-Completion: 20
--- error_code eval
[200, 200, 200, 429, 429, 429, 429, 429, 429]
--- redis eval
[
["HGET {p}s:k:rpm rc", 3],
["HGET {p}s:k:rpm tc", 90],
]
--- grep_error_log eval
qr/aigw: redis 127\.0\.0\.1:\d+ connected/
--- grep_error_log_out eval
[ (qr/^(aigw: redis 127\.0\.0\.1:\d+ connected\n){2}$/) x 9 ]
--- no_error_log
[error]
[warn]



=== TEST 7: Redis down, failure=open: requests pass on local counters, whose rpm still applies
--- store
redis server=127.0.0.1:$TEST_NGINX_DEAD_PORT prefix=PREFIX failure=open
--- gateway
aigw_limit_rpm 2;
--- request eval
[ @{ main::chat(3) }, "GET /plain" ]
--- more_headers
Authorization: Bearer sk-redis-plain
Content-Type: application/json
X-Prompt: 10
X-Completion: 20
--- timeout: 1
--- error_code eval
[200, 200, 429, 200]
--- response_headers_like eval
[
"x-ratelimit-limit-requests: 2
x-ratelimit-remaining-requests: 1",
"x-ratelimit-remaining-requests: 0",
"x-ratelimit-remaining-requests: 0
Retry-After: \\d+",
"x-ratelimit-limit-requests: ",
]
--- response_body_like eval
[
qr/^\{"id":"chatcmpl-r",/,
qr/^\{"id":"chatcmpl-r",/,
qr/^\{"error":\{"message":"Rate limit reached for key 'plain': 2 requests per minute\. Please try again in \d+s\.","type":"requests","param":null,"code":"rate_limit_exceeded"\}\}$/,
"plain\n",
]
--- error_log eval
[
qr/\[warn\] .*aigw: redis 127\.0\.0\.1:\d+ connect failed: Connection refused, retrying in \d+ ms/,
qr/\[warn\] .*aigw: the redis store is unavailable, admitting with local counters/,
]
--- no_error_log
[error]



=== TEST 8: Redis down, failure=closed: 503 store_unavailable, and other locations answer
--- store
redis server=127.0.0.1:$TEST_NGINX_DEAD_PORT prefix=PREFIX failure=closed
--- request eval
[ @{ main::chat(2) }, "GET /plain" ]
--- more_headers
Authorization: Bearer sk-redis-rpm
Content-Type: application/json
--- timeout: 1
--- error_code eval
[503, 503, 200]
--- response_headers_like eval
[
"Content-Type: application/json
x-ratelimit-limit-requests: 
Retry-After: ",
"Content-Type: application/json",
"Content-Type: text/plain",
]
--- response_body eval
[
$main::UNAVAILABLE,
$main::UNAVAILABLE,
"plain\n",
]
--- no_error_log
[error]
unavailable, admitting



=== TEST 9: a Redis that takes the connection and never answers: no stall, the connection is dropped
The connection never gets ready, so admissions do not wait for it at all.
--- store
redis server=127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT connect_timeout=100ms prefix=PREFIX failure=closed
--- init
main::wait_log(qr/not ready after 100 ms/);
--- request eval
[ @{ main::chat(2) }, "GET /plain" ]
--- more_headers
Authorization: Bearer sk-redis-rpm
Content-Type: application/json
--- timeout: 1
--- error_code eval
[503, 503, 200]
--- response_body eval
[
$main::UNAVAILABLE,
$main::UNAVAILABLE,
"plain\n",
]
--- error_log eval
qr/\[warn\] .*aigw: redis 127\.0\.0\.1:\d+ connect failed: not ready after 100 ms, retrying in \d+ ms/
--- no_error_log
[error]



=== TEST 10: the same Redis with failure=open: requests pass at once
--- store
redis server=127.0.0.1:$TEST_NGINX_BLACKHOLE_PORT connect_timeout=100ms prefix=PREFIX
--- request eval
[ @{ main::chat(2) }, "GET /plain" ]
--- more_headers
Authorization: Bearer sk-redis-rpm
Content-Type: application/json
X-Prompt: 10
X-Completion: 20
--- timeout: 1
--- error_code eval
[200, 200, 200]
--- response_headers_like eval
[
"x-ratelimit-remaining-requests: 2",
"x-ratelimit-remaining-requests: 1",
"x-ratelimit-limit-requests: ",
]
--- response_body_like eval
[
qr/^\{"id":"chatcmpl-r",/,
qr/^\{"id":"chatcmpl-r",/,
qr/^plain$/,
]
--- no_error_log
[error]



=== TEST 11: a password on a Redis without one: "AUTH failed" is logged, the password is not
--- store
redis server=127.0.0.1:$TEST_NGINX_REDIS_PORT password=s3cr3t-t8-pass prefix=PREFIX failure=closed
--- init
main::wait_log(qr/AUTH failed/);
--- request eval
main::chat(1)
--- more_headers
Authorization: Bearer sk-redis-rpm
Content-Type: application/json
--- error_code: 503
--- response_body
{"error":{"message":"The gateway cannot check the limits of this key right now; try again later.","type":"api_error","param":null,"code":"store_unavailable"}}
--- error_log eval
qr/\[warn\] .*aigw: redis 127\.0\.0\.1:\d+ connect failed: AUTH failed: ERR .*, retrying in \d+ ms/
--- no_error_log
s3cr3t-t8-pass
[error]



=== TEST 12: db=N: the counters are in that database
--- store
redis server=127.0.0.1:$TEST_NGINX_REDIS_PORT db=5 prefix=PREFIX
--- request eval
main::chat(2)
--- more_headers
Authorization: Bearer sk-redis-rpm
Content-Type: application/json
X-Prompt: 10
X-Completion: 20
--- error_code eval
[200, 200]
--- redis eval
[
["-n 5 HGET {p}s:k:rpm rc", 2],
["-n 5 HGET {p}s:k:rpm tc", 60],
["EXISTS {p}s:k:rpm", 0],
]
--- no_error_log
[error]
[warn]



=== TEST 13: Redis loses the script (SCRIPT FLUSH): admissions go on with EVAL and the script is loaded again
--- store
redis server=127.0.0.1:$TEST_NGINX_REDIS_PORT prefix=PREFIX failure=closed
--- init
main::redis_cli("SCRIPT FLUSH");
--- request eval
main::chat(4)
--- more_headers
Authorization: Bearer sk-redis-rpm
Content-Type: application/json
X-Prompt: 10
X-Completion: 20
--- error_code eval
[200, 200, 200, 429]
--- redis eval
[
["HGET {p}s:k:rpm rc", 3],
["HGET {p}s:k:rpm tc", 90],
]
--- grep_error_log eval
qr/aigw: redis 127\.0\.0\.1:\d+ lost the script, loading it again/
--- grep_error_log_out eval
[ (qr/^aigw: redis 127\.0\.0\.1:\d+ lost the script, loading it again\n$/) x 4 ]
--- no_error_log
[error]
[warn]



=== TEST 14: config: a host name instead of an IP address
--- store
redis server=localhost:6379
--- request
GET /plain
--- must_die
--- suppress_stderr
--- error_log
aigw_store redis: invalid server "localhost:6379": aigw resolves nothing at request time; give an IP address or a unix socket



=== TEST 15: config: an IPv6 address without brackets
--- store
redis server=::1:6379
--- request
GET /plain
--- must_die
--- suppress_stderr
--- error_log
aigw_store redis: invalid server "::1:6379": write an IPv6 address in brackets, as "[::1]:6379"



=== TEST 16: config: a port out of range
--- store
redis server=127.0.0.1:70000
--- request
GET /plain
--- must_die
--- suppress_stderr
--- error_log
aigw_store redis: invalid server "127.0.0.1:70000"



=== TEST 17: config: a bad failure= value
--- store
redis server=127.0.0.1:6379 failure=maybe
--- request
GET /plain
--- must_die
--- suppress_stderr
--- error_log
aigw_store redis: invalid parameter "failure=..."



=== TEST 18: config: a bad timeout
--- store
redis server=127.0.0.1:6379 timeout=fast
--- request
GET /plain
--- must_die
--- suppress_stderr
--- error_log
aigw_store redis: invalid value "timeout=fast"



=== TEST 19: config: a zero timeout
--- store
redis server=127.0.0.1:6379 timeout=0
--- request
GET /plain
--- must_die
--- suppress_stderr
--- error_log
aigw_store redis: invalid value "timeout=0"



=== TEST 20: config: a mistyped parameter is named without its value (no secret in the log)
--- store
redis server=127.0.0.1:6379 pasword=s3cr3t-t8-typo
--- request
GET /plain
--- must_die
--- suppress_stderr
--- error_log
aigw_store redis: invalid parameter "pasword=..."
--- no_error_log
s3cr3t-t8-typo



=== TEST 21: config: no server
--- store
redis prefix=x:
--- request
GET /plain
--- must_die
--- suppress_stderr
--- error_log
aigw_store redis: "server=" is required



=== TEST 22: config: an unknown store
--- store
memcached server=127.0.0.1:11211
--- request
GET /plain
--- must_die
--- suppress_stderr
--- error_log
unknown store "memcached": use "shm" or "redis"
