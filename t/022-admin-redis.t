# The admin API with the Redis store: keys and tenants made through one
# nginx are used at once by a second one that shares the Redis, a disabled
# or deleted key is refused everywhere after aigw_keys_cache_time, usage and
# spend are shared, the store's refusals (duplicates, conflicts, tenants in
# use), and Redis going away (503 for the admin API and unknown keys; keys
# already known keep working).
#
# Plain Test::More around nginx instances of its own (t/lib/AigwAdminTest.pm).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use AigwAdminTest;
use Time::HiRes qw(sleep time);

for my $bin ('redis-server', 'redis-cli') {
    if (system("command -v $bin > /dev/null 2>&1") != 0) {
        plan(skip_all => "no $bin");
    }
}

my $rport = redis_start();
my $store = "aigw_store redis server=127.0.0.1:$rport prefix=t22: "
            . "timeout=500ms connect_timeout=300ms;";

# a and b share the Redis; b says "aigw_runtime_keys on" (implied by
# aigw_admin, which both have); a makes the keys, b serves them
my $a = nginx_start('a', store => $store,
                    http => 'aigw_keys_cache_time 1s;');
my $b = nginx_start('b', store => $store,
                    http => "aigw_runtime_keys on;\n"
                            . "    aigw_keys_cache_time 1s;");

for my $n ($a, $b) {
    wait_for(sub {
        my @c = error_log($n) =~ /aigw: redis \S+ connected/g;
        @c >= 2;
    }, 5) or diag("$n->{name}: redis not connected");
}

sub chat {
    my ($n, $key) = @_;
    my $body = '{"model":"gpt-4o","messages":[{"role":"user",'
               . '"content":"hi"}],"max_tokens":10}';
    return call($n, 'POST', '/v1/chat/completions', $body,
                Authorization => "Bearer $key");
}

sub err_code { $_[0]{json} ? $_[0]{json}{error}{code} // '' : '' }

# several calls, so that both workers answer
sub all_status {
    my ($n, $key, $count) = @_;
    my %s;
    $s{ chat($n, $key)->{status} }++ for 1 .. ($count // 6);
    return join ",", sort keys %s;
}


my $r = call($a, 'POST', '/admin/tenants',
             '{"name":"acme","limits":{"rpm":100},"budget":{"usd":3}}');
is($r->{status}, 201, 'create a tenant');

$r = call($a, 'POST', '/admin/keys',
          '{"name":"rk1","tenant":"acme","budget":{"usd":2}}');
is($r->{status}, 201, 'create a key');
my $k1 = $r->{json}{key};

like(redis_cmd($rport, 'HGET', 't22:admin:keys', 'rk1'), qr/"tenant":"acme"/,
     'the key is a hash field in Redis');
unlike(redis_cmd($rport, 'HGET', 't22:admin:keys', 'rk1'), qr/\Q$k1\E/,
       'without its secret');
like(redis_cmd($rport, 'GET', 't22:admin:gen'), qr/^\d+$/,
     'a generation');

is(all_status($b, $k1), '200', 'the other instance takes the key at once');
is(all_status($a, $k1), '200', 'and so does this one');

$r = chat($b, 'sk-aigw-' . ('0' x 48));
is(err_code($r), 'invalid_api_key', 'an unknown key: 401');

# a file key needs no store
is(all_status($b, 'sk-file-key-0001', 2), '200', 'a file key works');

# a pass-through call waits for the store the same way
$r = call($a, 'POST', '/admin/keys', '{"name":"pt"}');
my $kpt = $r->{json}{key};
$r = call($b, 'GET', '/v1/files', undef, Authorization => "Bearer $kpt");
is($r->{status}, 200, 'pass-through with a run-time key');
is($r->{body}, qq({"object":"list","data":[]}), 'pass-through: answer');
$r = call($b, 'GET', '/v1/files', undef,
          Authorization => 'Bearer sk-aigw-' . ('2' x 48));
is($r->{status}, 401, 'pass-through with an unknown key: 401');
$r = call($a, 'DELETE', '/admin/keys/pt');

# usage and spend, shared
$r = call($a, 'GET', '/admin/usage?key=rk1');
is($r->{json}{total}{requests}, 12, 'usage counts both instances');
$r = call($a, 'GET', '/admin/usage?tenant=acme');
is($r->{json}{total}{requests}, 12, 'usage of the tenant');

$r = call($a, 'GET', '/admin/keys/rk1');
ok(abs($r->{json}{usage}{spent_usd} - 12 * 0.000625) < 1e-9,
   'spend of both instances') or diag($r->{body});

# disable: refused everywhere within the cache time
$r = call($a, 'PATCH', '/admin/keys/rk1', '{"enabled":false}');
is($r->{status}, 200, 'disable the key');

sleep 1.2;

is(all_status($b, $k1), '401', 'disabled: refused by the other instance');
is(all_status($a, $k1), '401', 'disabled: refused by this one');

$r = call($a, 'PATCH', '/admin/keys/rk1', '{"enabled":true}');
sleep 1.2;
is(all_status($b, $k1), '200', 'enabled again');

# budgets and top-ups in Redis
$r = call($a, 'PATCH', '/admin/keys/rk1', '{"budget":{"usd":0.001}}');
sleep 1.2;
$r = chat($b, $k1);
is(err_code($r), 'insufficient_quota', 'a small budget is spent');
$r = call($a, 'POST', '/admin/keys/rk1/topup', '{"usd":1}');
is($r->{status}, 200, 'top up');
sleep 1.2;
is(all_status($b, $k1, 2), '200', 'usable after the top-up');

# the store's refusals
$r = call($a, 'POST', '/admin/keys', '{"name":"rk1"}');
is($r->{status}, 409, 'duplicate key: 409');
$r = call($a, 'POST', '/admin/tenants', '{"name":"acme"}');
is($r->{status}, 409, 'duplicate tenant: 409');
$r = call($a, 'POST', '/admin/keys', '{"name":"rk2","tenant":"none"}');
is($r->{status}, 400, 'unknown tenant: 400');
$r = call($a, 'PATCH', '/admin/keys/none', '{"enabled":true}');
is($r->{status}, 404, 'PATCH an unknown key: 404');
$r = call($a, 'DELETE', '/admin/tenants/acme');
is($r->{status}, 409, 'tenant in use: 409');
$r = call($a, 'GET', '/admin/keys');
is_deeply([map { $_->{id} } @{ $r->{json}{data} }], ['filekey', 'rk1'],
          'list keys');

# a key of a file tenant
$r = call($a, 'POST', '/admin/keys', '{"name":"rk3","tenant":"ft"}');
is($r->{status}, 201, 'a run-time key of a file tenant');
my $k3 = $r->{json}{key};
is(all_status($b, $k3, 2), '200', 'works');

# delete: refused everywhere within the cache time
$r = call($a, 'DELETE', '/admin/keys/rk3');
is($r->{status}, 200, 'delete a key');
sleep 1.2;
is(all_status($b, $k3), '401', 'deleted: refused by the other instance');
is(redis_cmd($rport, 'HLEN', 't22:admin:keyhash'), '1',
   'its hash is gone from Redis');

# Redis goes away
is(all_status($b, $k1, 4), '200', 'k1 cached');

redis_cmd($rport, 'SHUTDOWN', 'NOSAVE');
sleep 0.5;

$r = call($a, 'GET', '/admin/keys');
is($r->{status}, 503, 'admin API without Redis: 503');
is(err_code($r), 'store_unavailable', 'admin API without Redis: code');

$r = chat($b, 'sk-aigw-' . ('1' x 48));
is($r->{status}, 503, 'an unknown key without Redis: 503');

sleep 1.2;
is(chat($b, $k1)->{status}, 200,
   'a key known before still works without Redis');

for my $n ($a, $b) {
    unlike(error_log($n), qr/signal 11|\[alert\]/,
           "$n->{name}: no crash, no alert");
}

done_testing();
