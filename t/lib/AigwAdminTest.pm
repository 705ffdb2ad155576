# Helpers of the admin API suites (t/022-admin*.t): nginx instances that a
# suite starts, stops and restarts itself (each from a directory of its
# own, 2 workers, a free port), a redis-server, and plain HTTP calls.
#
# The module comes from TEST_NGINX_LOAD_MODULES (scripts/prove.sh) or
# build/; AIGW_KEEP=1 keeps the directories in /tmp.

package AigwAdminTest;

use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP;
use Time::HiRes qw(time sleep);
use Exporter 'import';

our @EXPORT = qw(free_port wait_for write_file read_file nginx_start
                 nginx_stop redis_start redis_cmd call admin_token top
                 error_log root);

my $root = dirname(dirname(dirname(abs_path(__FILE__))));
my $nginx = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
my $mods = '/usr/lib/nginx/modules';
my $modules = $ENV{TEST_NGINX_LOAD_MODULES}
    || "$mods/ndk_http_module.so $mods/ngx_http_echo_module.so "
       . "$root/build/ngx_http_aigw_module.so";

my $top = tempdir("aigw-t22-XXXXXX", TMPDIR => 1,
                  CLEANUP => !$ENV{AIGW_KEEP});
chmod 0755, $top;

my (@pids);

END {
    my $rc = $?;
    kill 'TERM', @pids;
    waitpid($_, 0) for @pids;
    $? = $rc;
}

sub root { $root }
sub top { $top }

our $TOKEN = 'admin-secret-token-0123456789';

sub admin_token { $TOKEN }

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

sub redis_start {
    my $port = free_port();
    my $dir = "$top/redis-$port";
    make_path($dir);

    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>>', "$dir/redis.log";
        open STDERR, '>&', \*STDOUT;
        exec 'redis-server', '--port', $port, '--bind', '127.0.0.1',
             '--save', '', '--appendonly', 'no', '--dir', $dir,
             '--daemonize', 'no', '--loglevel', 'warning';
        exit 127;
    }

    push @pids, $pid;

    wait_for(sub { `redis-cli -p $port PING 2>/dev/null` =~ /PONG/ }, 5)
        or die "redis-server on $port did not start";

    return $port;
}

sub redis_cmd {
    my ($port, @cmd) = @_;
    my $out = `redis-cli -p $port @cmd 2>&1`;
    chomp $out;
    return $out;
}

# name, { http => extra http{} lines, store => "aigw_store ...;",
#         keys => keys file text, port => reuse a port }
sub nginx_start {
    my ($name, %o) = @_;
    my $dir = "$top/$name";
    my $port = $o{port} || free_port();
    make_path("$dir/conf", "$dir/logs", "$dir/state");
    chmod 0755, $dir;
    chmod 0777, "$dir/state";

    my $load = join "", map { "load_module $_;\n" } split ' ', $modules;
    my $hash = `printf %s '$TOKEN' | sha256sum`;
    $hash =~ s/\s.*//s;

    write_file("$dir/conf/keys.json", $o{keys} // <<'_EOK_');
{
  "tenants": [{"name": "ft", "limits": {"rpm": 1000}}],
  "keys": [{"name": "filekey", "key": "sk-file-key-0001", "tenant": "ft"}]
}
_EOK_

    write_file("$dir/conf/prices.json",
               '{"models": {"gpt-4o": {"input": 2.5, "output": 10}}}');

    my $store = $o{store}
                // "aigw_store shm state_path=$dir/state persist=1s;";
    my $http = $o{http} // "";

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

    aigw_keys_file $dir/conf/keys.json;
    aigw_prices_file $dir/conf/prices.json;
    $store
    $http

    aigw_channel mock {
        endpoint http://127.0.0.1:$port/mock/v1;
        key sk-upstream;
    }

    aigw_channel other {
        endpoint http://127.0.0.1:$port/other/v1;
        key sk-upstream;
    }

    server {
        listen 127.0.0.1:$port;

        location /v1/ {
            aigw on;
            aigw_model gpt-4o mock;
            aigw_model gpt-4o-mini mock;
            aigw_model gpt-4o-mini other;
            aigw_passthrough mock;
            include $root/conf-examples/aigw_proxy.conf;
        }

        location /admin/ {
            aigw_admin;
            aigw_admin_token $hash;
        }

        location /guarded/ {
            allow 192.0.2.1;
            deny all;
            aigw_admin;
            aigw_admin_token $hash;
        }

        location = /mock/v1/chat/completions {
            default_type application/json;
            return 200 '{"id":"c","object":"chat.completion","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":50,"total_tokens":100}}';
        }

        location = /mock/v1/files {
            default_type application/json;
            return 200 '{"object":"list","data":[]}';
        }

        location = /other/v1/chat/completions {
            default_type application/json;
            return 200 '{"id":"o","object":"chat.completion","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}';
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

    push @pids, $pid;

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

sub nginx_stop {
    my $n = shift;
    kill 'QUIT', $n->{pid};
    waitpid($n->{pid}, 0);
    @pids = grep { $_ != $n->{pid} } @pids;
}

sub error_log {
    my $n = shift;
    return read_file("$n->{dir}/logs/error.log");
}

# call($n, METHOD, path, body, headers...): {status, headers, body, json}
sub call {
    my ($n, $method, $path, $body, %h) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $n->{port}, Proto => 'tcp')
        or die "connect: $!";

    $h{Authorization} //= "Bearer $TOKEN";
    delete $h{Authorization} if $h{Authorization} eq '';

    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\n"
              . "Connection: close\r\n";
    $req .= "$_: $h{$_}\r\n" for sort keys %h;

    if (defined $body) {
        $req .= "Content-Type: application/json\r\n"
                . "Content-Length: " . length($body) . "\r\n";
    }

    $req .= "\r\n" . ($body // "");
    $s->syswrite($req);

    my $raw = "";
    while (1) {
        my $n = $s->sysread(my $buf, 65536);
        last unless $n;
        $raw .= $buf;
    }
    close $s;

    my ($head, $rest) = split /\r\n\r\n/, $raw, 2;
    $head //= "";
    my ($status) = $head =~ m{^HTTP/1\.\d (\d+)};
    my %rh;
    for my $line (split /\r\n/, $head) {
        $rh{lc $1} = $2 if $line =~ /^([^:]+):\s*(.*)$/;
    }

    my $json = eval { decode_json($rest // "") };

    return { status => $status // 0, headers => \%rh, body => $rest // "",
             json => $json };
}

1;
