# The Redis store across nginx instances, with real parallelism and with
# Redis servers that this script starts, stops, stalls and restarts.
#
# Plain Test::More: every nginx runs from a directory of its own
# ("nginx -p DIR -c conf/nginx.conf -g 'daemon off;'", 2 workers, a free
# port), every redis-server on a free port; all are stopped at the end.
# Needs redis-server and redis-cli; the module comes from
# TEST_NGINX_LOAD_MODULES (scripts/prove.sh) or build/.  T9_KEEP=1 keeps
# the directories (configs, error logs) in /tmp.

use strict;
use warnings;
use Test::More;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use POSIX qw(WNOHANG);
use Time::HiRes qw(time sleep);

my $root = dirname(dirname(abs_path(__FILE__)));
my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my $mods = '/usr/lib/nginx/modules';
my $modules = $ENV{TEST_NGINX_LOAD_MODULES}
    || "$mods/ndk_http_module.so $mods/ngx_http_echo_module.so "
       . "$root/build/ngx_http_aigw_module.so";

for my $bin ('redis-server', 'redis-cli') {
    if (system("command -v $bin > /dev/null 2>&1") != 0) {
        plan(skip_all => "no $bin");
    }
}

if (!-x $nginx) {
    plan(skip_all => "no $nginx");
}

my $top = tempdir("aigw-t9-XXXXXX", TMPDIR => 1, CLEANUP => !$ENV{T9_KEEP});
chmod 0755, $top;                   # the workers run as an unprivileged user

my (@nginx_pids, @redis_pids);

END {
    my $rc = $?;
    kill 'TERM', @nginx_pids, @redis_pids;
    waitpid($_, 0) for @nginx_pids, @redis_pids;
    $? = $rc;
}


# helpers

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        or die "no free port: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

sub wait_for {
    my ($cond, $timeout) = @_;
    my $end = time + $timeout;
    while (time < $end) {
        return 1 if $cond->();
        sleep 0.05;
    }
    return $cond->();
}

sub write_file {
    my ($path, $text) = @_;
    open my $out, '>', $path or die "$path: $!";
    print $out $text;
    close $out;
}

sub read_file {
    my $path = shift;
    open my $in, '<', $path or return "";
    local $/;
    my $text = <$in>;
    close $in;
    return $text;
}

# redis: start on a port (again, after a stop), run commands

my %redis;      # port => { pid, args }

sub redis_start {
    my ($port, @args) = @_;
    my $dir = "$top/redis-$port";
    make_path($dir);

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', "$dir/redis.log";
        open STDERR, '>&', \*STDOUT;
        exec 'redis-server', '--port', $port, '--bind', '127.0.0.1',
             '--save', '', '--appendonly', 'no', '--dir', $dir,
             '--daemonize', 'no', '--loglevel', 'warning', @args;
        exit 127;
    }

    push @redis_pids, $pid;
    $redis{$port} = { pid => $pid, args => \@args };

    my $auth = redis_auth_args($port);
    wait_for(sub { `redis-cli -p $port $auth PING 2>/dev/null` =~ /PONG/ }, 5)
        or die "redis-server on $port did not start: "
               . read_file("$dir/redis.log");
}

sub redis_auth_args {
    my $port = shift;
    my %a = @{ $redis{$port}{args} || [] };
    return $a{'--requirepass'} ? "--no-auth-warning -a $a{'--requirepass'}"
                               : "";
}

sub redis_stop {
    my $port = shift;
    my $pid = $redis{$port}{pid};
    kill 'KILL', $pid;
    waitpid($pid, 0);
    @redis_pids = grep { $_ != $pid } @redis_pids;
}

sub redis {
    my ($port, @cmd) = @_;
    my $auth = redis_auth_args($port);
    my $out = `redis-cli -p $port $auth @cmd 2>&1`;
    chomp $out;
    return $out;
}

# nginx: an instance is { port, dir, pid }

my $data = "$top/data";
make_path($data);

write_file("$data/keys.json", <<'_EOK_');
{
  "keys": [
    {"name": "rpm5", "key": "sk-t9-rpm5", "limits": {"rpm": 5}},
    {"name": "tpm", "key": "sk-t9-tpm", "limits": {"tpm": 1000}},
    {"name": "conc", "key": "sk-t9-conc", "limits": {"concurrency": 3}},
    {"name": "many", "key": "sk-t9-many", "limits": {"rpm": 1000}},
    {"name": "stall", "key": "sk-t9-stall", "limits": {"rpm": 1000}},
    {"name": "batch", "key": "sk-t9-batch",
     "limits": {"rpm": 100, "tpm": 100000, "concurrency": 50}}
  ]
}
_EOK_

sub nginx_start {
    my ($name, $store) = @_;
    my $dir = "$top/$name";
    my $port = free_port();
    make_path("$dir/conf", "$dir/logs");
    chmod 0755, $dir;

    my $load = join "", map { "load_module $_;\n" } split ' ', $modules;

    write_file("$dir/conf/nginx.conf", <<_EOC_);
$load
worker_processes 2;
master_process on;
error_log $dir/logs/error.log info;
pid $dir/logs/nginx.pid;

events {
    worker_connections 256;
}

http {
    access_log off;
    client_body_temp_path $dir/client_body_temp;
    proxy_temp_path $dir/proxy_temp;
    fastcgi_temp_path $dir/fastcgi_temp;
    scgi_temp_path $dir/scgi_temp;
    uwsgi_temp_path $dir/uwsgi_temp;

    aigw_keys_file $data/keys.json;

    aigw_channel mock {
        endpoint http://127.0.0.1:$port/mock/v1;
        key sk-upstream;
    }

    aigw_channel slow {
        endpoint http://127.0.0.1:$port/slow/v1;
        key sk-upstream;
    }

    aigw_channel slower {
        endpoint http://127.0.0.1:$port/slower/v1;
        key sk-upstream;
    }

    aigw_store redis $store;

    server {
        listen 127.0.0.1:$port;

        location /v1/ {
            aigw on;
            aigw_model gpt-4o mock;
            aigw_model gpt-slow slow;
            aigw_model gpt-slower slower;
            include $root/conf-examples/aigw_proxy.conf;
        }

        location = /plain {
            return 200 "plain\\n";
        }

        location = /mock/v1/chat/completions {
            default_type application/json;
            return 200 '{"id":"chatcmpl-m","object":"chat.completion","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":50,"total_tokens":100}}';
        }

        location = /slow/v1/chat/completions {
            default_type application/json;
            echo_sleep 0.5;
            echo '{"id":"chatcmpl-s","object":"chat.completion","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":50,"total_tokens":100}}';
        }

        location = /slower/v1/chat/completions {
            default_type application/json;
            echo_sleep 1.6;
            echo '{"id":"chatcmpl-s","object":"chat.completion","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":50,"total_tokens":100}}';
        }
    }
}
_EOC_

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', "$dir/logs/stderr.log";
        open STDERR, '>&', \*STDOUT;
        exec $nginx, '-p', "$dir/", '-c', 'conf/nginx.conf',
             '-g', 'daemon off;';
        exit 127;
    }

    push @nginx_pids, $pid;

    my $ok = wait_for(sub {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $port, Proto => 'tcp');
        close $s if $s;
        $s ? 1 : 0;
    }, 5);

    die "nginx $name did not start: " . read_file("$dir/logs/stderr.log")
        . read_file("$dir/logs/error.log")
        unless $ok;

    return { name => $name, port => $port, dir => $dir, pid => $pid };
}

sub error_log {
    my $n = shift;
    return read_file("$n->{dir}/logs/error.log");
}

# both workers have their Redis connection ready
sub wait_connected {
    my ($n, $count) = @_;
    return wait_for(sub {
        my @c = error_log($n) =~ /aigw: redis \S+ connected/g;
        @c >= $count;
    }, 5);
}

sub chat_request {
    my ($key, %o) = @_;
    my $body = '{"model":"' . ($o{model} // 'gpt-4o')
               . '","messages":[{"role":"user","content":"hi"}],'
               . '"max_tokens":' . ($o{max_tokens} // 92) . '}';

    return "POST /v1/chat/completions HTTP/1.1\r\n"
           . "Host: localhost\r\nConnection: close\r\n"
           . "Authorization: Bearer $key\r\n"
           . "Content-Type: application/json\r\n"
           . "Content-Length: " . length($body) . "\r\n\r\n" . $body;
}

sub plain_request {
    return "GET /plain HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
}

sub parse_response {
    my $raw = shift;
    my ($head, $body) = split /\r\n\r\n/, $raw, 2;
    $head //= "";
    my ($status) = $head =~ m{^HTTP/1\.\d (\d+)};
    my %h;
    for my $line (split /\r\n/, $head) {
        $h{lc $1} = $2 if $line =~ /^([^:]+):\s*(.*)$/;
    }
    return { status => $status // 0, headers => \%h, body => $body // "" };
}

# requests sent all at once, each on its own connection; answers in order
sub parallel {
    my @reqs = @_;         # [port, raw request]
    my (@socks, %idx, %buf);
    my $t0 = time;

    for my $i (0 .. $#reqs) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                      PeerPort => $reqs[$i][0],
                                      Proto => 'tcp')
            or die "connect: $!";
        $socks[$i] = $s;
        $idx{fileno $s} = $i;
        $buf{$i} = "";
    }

    for my $i (0 .. $#reqs) {
        $socks[$i]->syswrite($reqs[$i][1]);
    }

    my $sel = IO::Select->new(@socks);
    my @elapsed;

    while ($sel->count && time - $t0 < 15) {
        for my $s ($sel->can_read(1)) {
            my $i = $idx{fileno $s};
            my $n = sysread($s, my $chunk, 65536);
            if ($n) {
                $buf{$i} .= $chunk;
            } else {
                $elapsed[$i] = time - $t0;
                $sel->remove($s);
                close $s;
            }
        }
    }

    return map {
        my $r = parse_response($buf{$_});
        $r->{elapsed} = $elapsed[$_] // 99;
        $r;
    } 0 .. $#reqs;
}

sub request {
    my ($n, $raw) = @_;
    my ($r) = parallel([$n->{port}, $raw]);
    return $r;
}

sub statuses {
    return join ",", map { $_->{status} } @_;
}

my $UNAVAILABLE = '{"error":{"message":"The gateway cannot check the limits '
    . 'of this key right now; try again later.","type":"api_error",'
    . '"param":null,"code":"store_unavailable"}}' . "\n";

# stay inside one minute: the counts of a test are then exact
sub same_minute {
    my $s = time % 60;
    sleep(61 - $s) if $s >= 55;
}


# Redis R1, and two instances on it: A fails open, B fails closed; a
# 200 ms admission timeout, and a watchdog too slow to drop a 1.5 s stall

my $r1 = free_port();
redis_start($r1, '--enable-debug-command', 'local');

my $A = nginx_start("a", "server=127.0.0.1:$r1 prefix=t9: timeout=200ms "
                         . "connect_timeout=5s failure=open");
my $B = nginx_start("b", "server=127.0.0.1:$r1 prefix=t9: timeout=200ms "
                         . "connect_timeout=5s failure=closed");

ok(wait_connected($A, 2), "A: both workers connected to Redis");
ok(wait_connected($B, 2), "B: both workers connected to Redis");


subtest "two instances, one Redis: one global limit" => sub {
    same_minute();

    my @r;
    for my $i (0 .. 11) {
        push @r, request($i % 2 ? $B : $A, chat_request("sk-t9-rpm5"));
    }

    is(statuses(@r), "200,200,200,200,200,429,429,429,429,429,429,429",
       "12 requests alternating between A and B: the first 5 pass");
    is(join(",", map { $_->{headers}{'x-ratelimit-remaining-requests'} }
                     @r[0 .. 5]),
       "4,3,2,1,0,0", "remaining requests count across both instances");
    like($r[5]{body}, qr/^\{"error":\{"message":"Rate limit reached for key 'rpm5': 5 requests per minute\. Please try again in \d+s\.","type":"requests","param":null,"code":"rate_limit_exceeded"\}\}\n$/,
         "the refusal's body");
    is(redis($r1, "HGET t9:s:k:rpm5 rc"), "5", "Redis counted 5 requests");
};


subtest "20 parallel requests against tpm: no more than the limit is reserved" => sub {
    same_minute();

    # each reserves 100 tokens (8 of prompt + max_tokens 92) and uses 100
    my @r = parallel(map { [ $_ % 2 ? $B->{port} : $A->{port},
                             chat_request("sk-t9-tpm", model => "gpt-slow") ] }
                     1 .. 20);

    my $ok = grep { $_->{status} == 200 } @r;
    my $refused = grep { $_->{status} == 429 } @r;

    is($ok, 10, "exactly 10 of 20 pass (10 x 100 = the limit of 1000)");
    is($refused, 10, "the other 10 are 429");
    is(scalar(grep { $_->{status} == 200 && $_->{body} =~ /chatcmpl-s/ } @r),
       10, "the admitted got the upstream answer");
    ok((grep { $_->{status} == 429 && $_->{body} =~ /"message":"Rate limit reached for key 'tpm': 1000 tokens per minute\. Please try again in \d+s\.","type":"tokens"/ } @r) == 10,
       "the refusals are about tokens");
    ok((grep { $_->{status} == 429 && $_->{elapsed} < 0.4 } @r) == 10,
       "refusals come at once, not after the upstream's 0.5 s");

    ok(wait_for(sub { redis($r1, "EXISTS t9:i:k:tpm") eq "0" }, 2),
       "all slots released");
    is(redis($r1, "HGET t9:s:k:tpm tc"), "1000", "1000 tokens counted");
    is(redis($r1, "HGET t9:s:k:tpm rc"), "10", "10 requests counted");
};


subtest "16 parallel requests: each gets its own remaining counts" => sub {
    same_minute();

    # admissions that reach a worker together go to Redis in one batch and
    # are admitted at once; each answer must still be its own, as if they
    # had been admitted one by one (100 tokens reserved each)
    my @r = parallel(map { [ $A->{port}, chat_request("sk-t9-batch") ] }
                     1 .. 16);

    is(statuses(@r), join(",", ("200") x 16), "all 16 pass");
    is(join(",", sort { $b <=> $a }
                 map { $_->{headers}{'x-ratelimit-remaining-requests'} // '-' }
                 @r),
       join(",", map { 100 - $_ } 1 .. 16),
       "remaining requests: 99 down to 84, each once");
    is(join(",", sort { $b <=> $a }
                 map { $_->{headers}{'x-ratelimit-remaining-tokens'} // '-' }
                 @r),
       join(",", map { 100000 - 100 * $_ } 1 .. 16),
       "remaining tokens: 99900 down to 98400, each once");

    ok(wait_for(sub { redis($r1, "EXISTS t9:i:k:batch") eq "0" }, 2),
       "the slots are freed");
    is(redis($r1, "HGET t9:s:k:batch rc"), "16", "16 requests counted");
};


subtest "8 parallel requests, concurrency 3 over two instances" => sub {
    my @r = parallel(map { [ $_ % 2 ? $B->{port} : $A->{port},
                             chat_request("sk-t9-conc", model => "gpt-slow") ] }
                     1 .. 8);

    is(scalar(grep { $_->{status} == 200 } @r), 3, "exactly 3 pass");
    is(scalar(grep { $_->{status} == 429 && $_->{body} =~ /Rate limit reached for key 'conc': 3 concurrent requests\. Please try again in 1s\./ } @r),
       5, "5 are refused for concurrency, Retry-After 1 s");
    is(scalar(grep { ($_->{headers}{'retry-after'} // '') eq '1' } @r), 5,
       "Retry-After: 1");

    ok(wait_for(sub { redis($r1, "EXISTS t9:i:k:conc") eq "0" }, 2),
       "the slots are freed when the requests end");

    my @again = parallel(map { [ $A->{port},
                                 chat_request("sk-t9-conc") ] } 1 .. 3);
    is(statuses(@again), "200,200,200", "3 more pass afterwards");
};


subtest "a stalled Redis (DEBUG SLEEP): the 200 ms admission timeout" => sub {
    same_minute();

    is(request($A, chat_request("sk-t9-stall"))->{status}, 200,
       "A: a request before the stall");
    ok(wait_for(sub { redis($r1, "HGET t9:s:k:stall tc") eq "100" }, 2),
       "its reservation settled to 100 tokens");

    my $pid = fork // die;
    if ($pid == 0) {
        exec "redis-cli -p $r1 DEBUG SLEEP 1.5 > $top/debug-sleep.log 2>&1";
        exit 127;
    }

    sleep 0.2;

    my ($a, $b, $pa, $pb) = parallel([$A->{port}, chat_request("sk-t9-stall")],
                                     [$B->{port}, chat_request("sk-t9-stall")],
                                     [$A->{port}, plain_request()],
                                     [$B->{port}, plain_request()]);

    is($a->{status}, 200, "failure=open: admitted");
    like($a->{body}, qr/chatcmpl-m/, "failure=open: the upstream's answer");
    ok($a->{elapsed} < 1, "failure=open: answered in $a->{elapsed} s (< 1 s)");
    is($b->{status}, 503, "failure=closed: 503");
    is($b->{body}, $UNAVAILABLE, "failure=closed: store_unavailable");
    ok($b->{elapsed} < 1, "failure=closed: answered in $b->{elapsed} s (< 1 s)");
    ok($pa->{status} == 200 && $pa->{elapsed} < 1
       && $pb->{status} == 200 && $pb->{elapsed} < 1,
       "plain locations answer meanwhile");

    waitpid($pid, 0);

    # the stalled admissions were granted late: both are given back
    for my $n ($A, $B) {
        ok(wait_for(sub { error_log($n) =~ /aigw: redis \S+ admitted a request that stopped waiting, releasing its reservation/ }, 3),
           "$n->{name}: the late admission is released");
        like(error_log($n), qr/aigw: redis \S+ did not answer an admission in 200 ms/,
             "$n->{name}: the timeout is logged");
    }

    ok(wait_for(sub { redis($r1, "HGET t9:s:k:stall tc") eq "100" }, 2),
       "the late reservations were released: 100 tokens")
        or diag("tc: " . redis($r1, "HGET t9:s:k:stall tc"));
    is(redis($r1, "EXISTS t9:i:k:stall"), "0", "no slot left");

    # the connections stayed up, and count again
    is(request($B, chat_request("sk-t9-stall"))->{status}, 200,
       "B: admitted again after the stall");
    ok(wait_for(sub { redis($r1, "HGET t9:s:k:stall tc") eq "200" }, 2),
       "counted in Redis again");
    unlike(error_log($A) . error_log($B), qr/\[(error|crit|alert|emerg)\]/,
           "no errors logged");
};


subtest "a stall long enough to drop the connection leaves no slot behind" => sub {
    # the watchdog (every 500 ms) drops the connection within 1.2 s of the
    # stall; Redis wakes at 2.5 s.  Request 1 (admitted before the stall,
    # answered at 1.5 s) ends while the connection is down; request 2 is
    # sent during the stall and its admission, granted when Redis wakes,
    # is never answered.
    my $E = nginx_start("e", "server=127.0.0.1:$r1 prefix=t9e: timeout=200ms "
                             . "connect_timeout=500ms failure=open");
    ok(wait_connected($E, 2), "E: connected");

    my $s1 = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                   PeerPort => $E->{port}, Proto => 'tcp')
        or die;
    $s1->syswrite(chat_request("sk-t9-conc", model => "gpt-slower"));
    ok(wait_for(sub { redis($r1, "HGET t9e:i:k:conc n") eq "1" }, 2),
       "request 1 holds a slot");
    like(redis($r1, "HGETALL t9e:i:k:conc"),
         qr/^(n\n1\n[0-9a-f]{16}\n1 \d{13}|[0-9a-f]{16}\n1 \d{13}\nn\n1)$/,
         "the count and the worker's field: its count and expiry time");

    my $pid = fork // die;
    if ($pid == 0) {
        exec "redis-cli -p $r1 DEBUG SLEEP 2.5 > /dev/null 2>&1";
        exit 127;
    }

    sleep 0.1;

    my $r2 = request($E, chat_request("sk-t9-conc"));
    is($r2->{status}, 200, "request 2: admitted on the local counters");

    my $r1res = "";
    while (sysread($s1, my $chunk, 65536)) { $r1res .= $chunk; }
    close $s1;
    like($r1res, qr{^HTTP/1\.1 200 }, "request 1: answered");

    waitpid($pid, 0);

    ok(wait_for(sub { error_log($E) =~ /aigw: redis \S+ lost: no reply in 500 ms/ }, 1),
       "the watchdog dropped the connection");
    ok(wait_for(sub { (() = error_log($E) =~ /aigw: redis \S+ connected/g) >= 3 }, 8),
       "connected again");

    ok(wait_for(sub { redis($r1, "EXISTS t9e:i:k:conc") eq "0" }, 3),
       "no slot is left")
        or diag("slots: " . redis($r1, "HGETALL t9e:i:k:conc"));

    my @r = parallel(map { [$E->{port}, chat_request("sk-t9-conc", model => "gpt-slow")] } 1 .. 3);
    is(statuses(@r), "200,200,200", "the whole concurrency is usable");
    ok(wait_for(sub { redis($r1, "EXISTS t9e:i:k:conc") eq "0" }, 2),
       "their slots are freed");

    # a lost admission alone, with no settlement of the subject to follow:
    # once the link is back, the worker sends its count again
    my $before = () = error_log($E) =~ /aigw: redis \S+ connected/g;

    $pid = fork // die;
    if ($pid == 0) {
        exec "redis-cli -p $r1 DEBUG SLEEP 2.5 > /dev/null 2>&1";
        exit 127;
    }

    sleep 0.1;

    my $r3 = request($E, chat_request("sk-t9-conc"));
    is($r3->{status}, 200, "request 3: admitted on the local counters");

    waitpid($pid, 0);

    ok(wait_for(sub { (() = error_log($E) =~ /aigw: redis \S+ connected/g)
                      > $before }, 8),
       "connected again");
    ok(wait_for(sub { redis($r1, "EXISTS t9e:i:k:conc") eq "0" }, 3),
       "the slot of the lost admission is given back")
        or diag("slots: " . redis($r1, "HGETALL t9e:i:k:conc"));

    unlike(error_log($E), qr/\[(error|crit|alert|emerg)\]/, "no errors logged");
};


subtest "reload: the old workers close their connections, the new ones count" => sub {
    kill 'HUP', $A->{pid};
    ok(wait_connected($A, 4), "A: the new workers connected");
    ok(wait_for(sub { error_log($A) =~ /exited with code 0/
                      && (() = error_log($A) =~ /exited with code 0/g) == 2 }, 5),
       "A: the old workers exited");
    is(request($A, chat_request("sk-t9-many"))->{status}, 200, "A: 200");
    ok(wait_for(sub { redis($r1, "HGET t9:s:k:many rc") eq "1" }, 2),
       "counted in Redis");
    unlike(error_log($A), qr/\[(error|crit|alert|emerg)\]|open socket/,
           "no errors logged");
};


# Redis R2, stopped and started again under C (fails open) and D (closed)

subtest "Redis goes away and comes back" => sub {
    my $r2 = free_port();
    redis_start($r2);

    my $C = nginx_start("c", "server=127.0.0.1:$r2 prefix=t9: failure=open");
    my $D = nginx_start("d", "server=127.0.0.1:$r2 prefix=t9: "
                             . "failure=closed");

    ok(wait_connected($C, 2) && wait_connected($D, 2), "connected");

    is(request($C, chat_request("sk-t9-many"))->{status}, 200, "C: up");
    is(request($D, chat_request("sk-t9-many"))->{status}, 200, "D: up");
    is(redis($r2, "HGET t9:s:k:many rc"), "2", "counted in Redis");

    redis_stop($r2);

    ok(wait_for(sub { error_log($C) =~ /aigw: redis \S+ lost: / }, 3),
       "C: the loss is logged");

    my @down;
    for (1 .. 3) {
        push @down, parallel([$C->{port}, chat_request("sk-t9-many")],
                             [$D->{port}, chat_request("sk-t9-many")],
                             [$D->{port}, plain_request()]);
        sleep 0.2;
    }

    is(join(",", map { $down[$_]{status} } grep { $_ % 3 == 0 } 0 .. 8),
       "200,200,200", "C: requests pass while Redis is down");
    is(join(",", map { $down[$_]{headers}{'x-ratelimit-remaining-requests'} }
                 grep { $_ % 3 == 0 } 0 .. 8),
       "999,998,997", "C: counted on the local counters");
    is(join(",", map { $down[$_]{status} } grep { $_ % 3 == 1 } 0 .. 8),
       "503,503,503", "D: 503 while Redis is down");
    is($down[1]{body}, $UNAVAILABLE, "D: store_unavailable");
    ok(!grep({ $_->{elapsed} >= 1 } @down), "no answer took 1 s or more");
    is(join(",", map { $down[$_]{body} } grep { $_ % 3 == 2 } 0 .. 8),
       join(",", ("plain\n") x 3), "the plain location answers");

    redis_start($r2);
    my $t0 = time;

    # the backoff is at most 5 s (+25%)
    my $back = wait_for(sub {
        request($C, chat_request("sk-t9-many"));
        redis($r2, "HGET t9:s:k:many rc") ne "";
    }, 8);
    ok($back, sprintf("C: counting in Redis again after %.1f s", time - $t0));

    ok(wait_for(sub { request($D, chat_request("sk-t9-many"))->{status} == 200 },
                8), "D: admits again");
    like(error_log($D), qr/aigw: redis \S+ lost: .*reconnecting in \d+ ms/,
         "D: the loss is logged");
    ok(wait_for(sub { (() = error_log($D) =~ /aigw: redis \S+ connected/g)
                      == 4 }, 8),
       "D: both workers connected again");
    unlike(error_log($C) . error_log($D), qr/\[(error|crit|alert|emerg)\]/,
           "no errors logged");
};


# Redis R3 with a password, on TCP and a unix socket

subtest "password, unix socket and db" => sub {
    my $r3 = free_port();
    my $sock = "$top/redis-$r3.sock";
    redis_start($r3, '--requirepass', 'pw-t9-right', '--unixsocket', $sock,
                '--unixsocketperm', '777');

    my $G = nginx_start("g", "server=unix:$sock password=pw-t9-right db=3 "
                             . "prefix=t9: failure=closed");
    my $H = nginx_start("h", "server=127.0.0.1:$r3 password=pw-t9-wrong "
                             . "prefix=t9: failure=closed");

    ok(wait_connected($G, 2), "G: connected with the password");
    is(request($G, chat_request("sk-t9-many"))->{status}, 200, "G: 200");
    is(redis($r3, "-n 3 HGET t9:s:k:many rc"), "1", "counted in db 3");

    ok(wait_for(sub { error_log($H) =~ /AUTH failed/ }, 3),
       "H: AUTH failed is logged");
    like(error_log($H), qr/\[(warn|info)\] .*aigw: redis 127\.0\.0\.1:\d+ connect failed: AUTH failed: WRONGPASS invalid username-password pair or user is disabled\., retrying in \d+ ms/,
         "H: with Redis' reason");
    unlike(error_log($H), qr/pw-t9-wrong/, "H: the password is not logged");
    my $r = request($H, chat_request("sk-t9-many"));
    is($r->{status}, 503, "H: 503");
    is($r->{body}, $UNAVAILABLE, "H: store_unavailable");
};


done_testing();
