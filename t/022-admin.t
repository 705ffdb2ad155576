# The admin API on the embedded (shm) store: every call and its bad inputs,
# keys made at run time used at once by every worker, channels taken out
# and put back, per-day usage, and run-time keys, spend and usage that
# survive a restart (state files beside spend.tsv).
#
# Plain Test::More around nginx instances of its own (t/lib/AigwAdminTest.pm).

use strict;
use warnings;
use lib 't/lib';
use Test::More;
use AigwAdminTest;
use Time::HiRes qw(sleep);

if (!-x ($ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx')) {
    plan(skip_all => 'no nginx');
}

my $n = nginx_start('shm');

sub chat {
    my ($key, %o) = @_;
    my $body = '{"model":"' . ($o{model} // 'gpt-4o')
               . '","messages":[{"role":"user","content":"hi"}],'
               . '"max_tokens":10}';
    return call($n, 'POST', '/v1/chat/completions', $body,
                Authorization => "Bearer $key");
}

sub err_code { $_[0]{json} ? $_[0]{json}{error}{code} // '' : '' }


# ------------------------------------------------------------- the token

my $r = call($n, 'GET', '/admin/keys', undef, Authorization => '');
is($r->{status}, 401, 'no admin token: 401');
is(err_code($r), 'invalid_admin_token', 'no admin token: code');
is($r->{headers}{'content-type'}, 'application/json', 'errors are JSON');

$r = call($n, 'GET', '/admin/keys', undef,
          Authorization => 'Bearer admin-secret-token-012345678X');
is($r->{status}, 401, 'wrong admin token: 401');

$r = call($n, 'GET', '/admin/keys', undef, Authorization => 'Basic abc');
is($r->{status}, 401, 'not a bearer token: 401');

$r = call($n, 'GET', '/guarded/keys');
is($r->{status}, 403, 'deny in the admin location comes first');

$r = call($n, 'GET', '/admin/nothing');
is($r->{status}, 404, 'unknown route: 404');
is(err_code($r), 'unknown_url', 'unknown route: code');

$r = call($n, 'PUT', '/admin/keys', '{}');
is($r->{status}, 405, 'PUT /keys: 405');
is($r->{headers}{allow}, 'GET, HEAD, POST', 'PUT /keys: Allow');

$r = call($n, 'GET', '/admin/keys/a%2Fb');
is($r->{status}, 404, 'a name that cannot exist: 404');


# ------------------------------------------------------------- tenants

$r = call($n, 'POST', '/admin/tenants',
          '{"name":"acme","limits":{"rpm":100},"budget":{"usd":5}}');
is($r->{status}, 201, 'create a tenant');
is($r->{json}{id}, 'acme', 'tenant id');
is($r->{json}{source}, 'api', 'tenant source');

$r = call($n, 'POST', '/admin/tenants', '{"name":"acme"}');
is($r->{status}, 409, 'duplicate tenant: 409');
is(err_code($r), 'already_exists', 'duplicate tenant: code');

$r = call($n, 'POST', '/admin/tenants', '{"name":"ft"}');
is($r->{status}, 409, 'a tenant of the keys file: 409');

$r = call($n, 'POST', '/admin/tenants', '{"name":"neg","budget":{"usd":-1}}');
is($r->{status}, 400, 'negative tenant budget: 400');
like($r->{json}{error}{message}, qr/budget\.usd/, 'negative budget: said');

$r = call($n, 'POST', '/admin/tenants', '{"name":"t","limits":{"rpm":"x"}}');
is($r->{status}, 400, 'wrong type: 400');
is(err_code($r), 'invalid_value', 'wrong type: code');

$r = call($n, 'POST', '/admin/tenants', '{"name":"t",');
is($r->{status}, 400, 'malformed JSON: 400');
like($r->{json}{error}{message}, qr/not valid JSON/, 'malformed JSON: said');

$r = call($n, 'POST', '/admin/tenants', '{"name":"t","x":' . ('1' x 70000)
          . '}');
is($r->{status}, 413, 'huge body: 413');
is(err_code($r), 'body_too_large', 'huge body: code');

$r = call($n, 'GET', '/admin/tenants');
is($r->{status}, 200, 'list tenants');
is_deeply([map { $_->{id} } @{ $r->{json}{data} }], ['acme', 'ft'],
          'list tenants: runtime and file, by name');

$r = call($n, 'GET', '/admin/tenants/ft');
ok($r->{json}{read_only}, 'a file tenant is read-only');

$r = call($n, 'PATCH', '/admin/tenants/ft', '{"limits":{"rpm":1}}');
is($r->{status}, 403, 'PATCH a file tenant: 403');
is(err_code($r), 'read_only', 'PATCH a file tenant: code');

$r = call($n, 'PATCH', '/admin/tenants/acme', '{"limits":{"rpm":200}}');
is($r->{status}, 200, 'PATCH a tenant');
is($r->{json}{limits}{rpm}, 200, 'PATCH a tenant: changed');

$r = call($n, 'PATCH', '/admin/tenants/nope', '{"limits":{"rpm":200}}');
is($r->{status}, 404, 'PATCH an unknown tenant: 404');


# ------------------------------------------------------------- keys

$r = call($n, 'POST', '/admin/keys',
          '{"name":"k1","tenant":"acme","budget":{"usd":1}}');
is($r->{status}, 201, 'create a key');
my $k1 = $r->{json}{key} // '';
like($k1, qr/^sk-aigw-[0-9a-f]{48}$/, 'the secret is shown once');
is($r->{json}{hint}, substr($k1, 0, 12) . '...' . substr($k1, -4),
   'and a hint');
ok(!exists $r->{json}{sha256}, 'no hash shown');

$r = call($n, 'POST', '/admin/keys', '{"name":"k1"}');
is($r->{status}, 409, 'duplicate key name: 409');

$r = call($n, 'POST', '/admin/keys', '{"name":"filekey"}');
is($r->{status}, 409, 'a name of the keys file: 409');

$r = call($n, 'POST', '/admin/keys', '{"name":"k9","tenant":"nope"}');
is($r->{status}, 400, 'unknown tenant: 400');
is(err_code($r), 'unknown_tenant', 'unknown tenant: code');

$r = call($n, 'POST', '/admin/keys', '{"name":"k9","budget":{"usd":-5}}');
is($r->{status}, 400, 'negative key budget: 400');

$r = call($n, 'POST', '/admin/keys', '{"name":"k9","key":"sk-mine-123456"}');
is($r->{status}, 400, 'a chosen secret: 400');

$r = call($n, 'POST', '/admin/keys', '{"name":"k9","enabled":"yes"}');
is($r->{status}, 400, 'enabled not a boolean: 400');

$r = call($n, 'POST', '/admin/keys', '[]');
is($r->{status}, 400, 'not an object: 400');

$r = call($n, 'POST', '/admin/keys', '');
is($r->{status}, 400, 'empty body: 400');

$r = call($n, 'GET', '/admin/keys');
is_deeply([map { $_->{id} } @{ $r->{json}{data} }], ['filekey', 'k1'],
          'list keys');
unlike($r->{body}, qr/sk-aigw-[0-9a-f]{20}|sha256/, 'no secret, no hash');

my $state = read_file("$n->{dir}/state/admin.json");
like($state, qr/"name":"k1"/, 'the state file has the key');
unlike($state, qr/\Q$k1\E/, 'but not its secret');

# usable at once, on both workers
for my $i (1 .. 4) {
    $r = chat($k1);
    is($r->{status}, 200, "the new key works ($i)");
}

# a request is settled after its answer went out: wait for the last one
for (1 .. 40) {
    $r = call($n, 'GET', '/admin/keys/k1');
    last if ($r->{json}{usage}{spent_usd} // 0) >= 0.0025 - 1e-9;
    select(undef, undef, undef, 0.05);
}

is($r->{status}, 200, 'show a key');
is($r->{json}{usage}{budget_usd}, 1, 'show: budget');
ok(abs($r->{json}{usage}{spent_usd} - 0.0025) < 1e-9, 'show: spent')
    or diag($r->{body});
ok(abs($r->{json}{usage}{remaining_usd} - 0.9975) < 1e-9, 'show: remaining');

$r = call($n, 'GET', '/admin/keys/nope');
is($r->{status}, 404, 'show an unknown key: 404');
is(err_code($r), 'not_found', 'show an unknown key: code');

$r = call($n, 'GET', '/admin/keys/filekey');
is($r->{status}, 200, 'show a file key');
ok($r->{json}{read_only}, 'a file key is read-only');

for my $m (['PATCH', '/admin/keys/filekey', '{"enabled":false}'],
           ['DELETE', '/admin/keys/filekey', undef],
           ['POST', '/admin/keys/filekey/topup', '{"usd":1}'])
{
    $r = call($n, @$m);
    is($r->{status}, 403, "$m->[0] $m->[1]: 403");
}

# disable: refused at once everywhere (the zone's generation moved)
$r = call($n, 'PATCH', '/admin/keys/k1', '{"enabled":false}');
is($r->{status}, 200, 'disable a key');
is($r->{json}{enabled}, JSON::PP::false, 'disabled');

for my $i (1 .. 4) {
    $r = chat($k1);
    is(err_code($r), 'api_key_disabled', "a disabled key is refused ($i)");
}

$r = call($n, 'PATCH', '/admin/keys/k1', '{"enabled":true,"models":["x-*"]}');
is($r->{status}, 200, 'enable, with a model list');
$r = chat($k1);
is($r->{status}, 403, 'a model not in the list: 403');

$r = call($n, 'PATCH', '/admin/keys/k1', '{"models":null,"expires":1000}');
$r = chat($k1);
is(err_code($r), 'api_key_expired', 'an expiry in the past');

$r = call($n, 'PATCH', '/admin/keys/k1', '{"expires":null}');
$r = chat($k1);
is($r->{status}, 200, 'no expiry');

$r = call($n, 'PATCH', '/admin/keys/k1', '{"name":"k2"}');
is($r->{status}, 400, 'rename: 400');

$r = call($n, 'PATCH', '/admin/keys/k1', '{"sha256":"00"}');
is($r->{status}, 400, 'set the hash: 400');

$r = call($n, 'PATCH', '/admin/keys/k1', '{"limits":{"rpm":-1}}');
is($r->{status}, 400, 'negative limit: 400');

$r = call($n, 'PATCH', '/admin/keys/k1', 'nope');
is($r->{status}, 400, 'PATCH malformed JSON: 400');

$r = call($n, 'PATCH', '/admin/keys/nope', '{"enabled":true}');
is($r->{status}, 404, 'PATCH unknown key: 404');

# budgets and top-ups
$r = call($n, 'PATCH', '/admin/keys/k1', '{"budget":{"usd":0.001}}');
is($r->{status}, 200, 'a small budget');
$r = chat($k1);
is($r->{status}, 403, 'budget spent: 403');
is(err_code($r), 'insufficient_quota', 'budget spent: code');

$r = call($n, 'POST', '/admin/keys/k1/topup', '{"usd":1}');
is($r->{status}, 200, 'top up');
ok(abs($r->{json}{budget}{usd} - 1.001) < 1e-9, 'top up: added');
$r = chat($k1);
is($r->{status}, 200, 'usable after the top-up');

$r = call($n, 'POST', '/admin/keys/k1/topup', '{"usd":-1}');
is($r->{status}, 400, 'negative top-up: 400');
$r = call($n, 'POST', '/admin/keys/k1/topup', '{"usd":"1"}');
is($r->{status}, 400, 'top-up not a number: 400');
$r = call($n, 'POST', '/admin/keys/nope/topup', '{"usd":1}');
is($r->{status}, 404, 'top-up an unknown key: 404');
$r = call($n, 'GET', '/admin/keys/k1/topup');
is($r->{status}, 405, 'GET topup: 405');

$r = call($n, 'POST', '/admin/keys', '{"name":"nobudget"}');
my $nb = $r->{json}{key};
$r = call($n, 'POST', '/admin/keys/nobudget/topup', '{"usd":1}');
is($r->{status}, 400, 'top-up without a budget: 400');

$r = call($n, 'POST', '/admin/tenants/acme/topup', '{"usd":2}');
is($r->{status}, 200, 'top up a tenant');
is($r->{json}{budget}{usd}, 7, 'tenant top-up: added');


# ------------------------------------------------------------- usage

$r = call($n, 'GET', '/admin/usage?key=k1');
is($r->{status}, 200, 'usage of a key');
is(scalar @{ $r->{json}{data} }, 1, 'one row: today, gpt-4o');
is($r->{json}{data}[0]{requests}, 6, 'usage: requests that reached upstream');
is($r->{json}{data}[0]{prompt_tokens}, 300, 'usage: prompt tokens');
is($r->{json}{data}[0]{model}, 'gpt-4o', 'usage: model');
ok(abs($r->{json}{total}{cost_usd} - 0.00375) < 1e-9, 'usage: cost');

$r = call($n, 'GET', '/admin/usage?tenant=acme&model=gpt-4o');
is($r->{json}{data}[0]{tenant}, 'acme', 'usage of a tenant');
is($r->{json}{total}{requests}, 6, 'tenant usage: requests');

$r = call($n, 'GET', '/admin/usage?model=nothing');
is(scalar @{ $r->{json}{data} }, 0, 'usage of another model: none');

my @t = gmtime(time);
my $today = sprintf("%04d-%02d-%02d", $t[5] + 1900, $t[4] + 1, $t[3]);
$r = call($n, 'GET', "/admin/usage?from=$today&to=$today");
is($r->{json}{from}, $today, 'usage: from');
is($r->{json}{total}{requests}, 6, 'usage: one day');

$r = call($n, 'GET', '/admin/usage?from=2024-02-30');
is($r->{status}, 400, 'usage: bad date');
$r = call($n, 'GET', '/admin/usage?from=2024-02-02&to=2024-02-01');
is($r->{status}, 400, 'usage: from after to');
$r = call($n, 'GET', '/admin/usage?from=2020-01-01&to=2024-01-01');
is($r->{status}, 400, 'usage: range too long');
$r = call($n, 'GET', '/admin/usage?key=k1&tenant=acme');
is($r->{status}, 400, 'usage: key and tenant');


# ------------------------------------------------------------- channels

$r = call($n, 'GET', '/admin/channels');
is_deeply([map { $_->{id} } @{ $r->{json}{data} }], ['mock', 'other'],
          'list channels');
is($r->{json}{data}[0]{circuit}, 'closed', 'circuit state');
ok($r->{json}{data}[0]{enabled}, 'enabled');

$r = call($n, 'PATCH', '/admin/channels/other', '{"enabled":false}');
is($r->{status}, 200, 'take a channel out');
ok(!$r->{json}{enabled}, 'taken out');

my $others = 0;
for (1 .. 12) {
    $r = chat($k1, model => 'gpt-4o-mini');
    $others++ if $r->{body} =~ /"id":"o"/;
}
is($others, 0, 'a channel taken out gets no request');

$r = call($n, 'PATCH', '/admin/channels/mock', '{"enabled":false}');
$r = chat($k1, model => 'gpt-4o');
is($r->{status}, 503, 'no channel left: 503');

$r = call($n, 'PATCH', '/admin/channels/mock', '{"enabled":true}');
$r = call($n, 'PATCH', '/admin/channels/other', '{"enabled":true}');
ok($r->{json}{enabled}, 'put back');

for (1 .. 20) {
    $r = chat($k1, model => 'gpt-4o-mini');
    $others++ if $r->{body} =~ /"id":"o"/;
}
ok($others > 0, 'a channel put back gets requests');

$r = call($n, 'PATCH', '/admin/channels/other', '{"enabled":"no"}');
is($r->{status}, 400, 'channel: bad body');
$r = call($n, 'GET', '/admin/channels/nope');
is($r->{status}, 404, 'unknown channel: 404');
$r = call($n, 'DELETE', '/admin/channels/mock');
is($r->{status}, 405, 'DELETE a channel: 405');


# ------------------------------------------------------------- delete

$r = call($n, 'DELETE', '/admin/tenants/acme');
is($r->{status}, 409, 'a tenant with keys cannot go');
is(err_code($r), 'in_use', 'tenant in use: code');

$r = call($n, 'DELETE', '/admin/keys/nobudget');
is($r->{status}, 200, 'delete a key');
ok($r->{json}{deleted}, 'deleted');
$r = chat($nb);
is(err_code($r), 'invalid_api_key', 'a deleted key is refused');
$r = call($n, 'DELETE', '/admin/keys/nobudget');
is($r->{status}, 404, 'delete it again: 404');


# ------------------------------------------------------------- restart

$r = call($n, 'POST', '/admin/keys', '{"name":"k2","tenant":"acme"}');
my $k2 = $r->{json}{key};
$r = chat($k2);
is($r->{status}, 200, 'k2 works');

sleep 1.5;      # usage.tsv and spend.tsv are written every second

nginx_stop($n);
$n = nginx_start('shm', port => $n->{port});

$r = chat($k1);
is($r->{status}, 200, 'after a restart: k1 works');
$r = chat($k2);
is($r->{status}, 200, 'after a restart: k2 works');
$r = chat($nb);
is($r->{status}, 401, 'after a restart: the deleted key stays deleted');

$r = call($n, 'GET', '/admin/keys/k1');
ok(abs($r->{json}{budget}{usd} - 1.001) < 1e-9, 'after a restart: budget');
ok($r->{json}{usage}{spent_usd} > 0.003, 'after a restart: spend kept');

$r = call($n, 'GET', '/admin/usage?key=k2');
ok($r->{json}{total}{requests} >= 1, 'after a restart: usage kept');

like(error_log($n), qr/read 2 run-time keys and 1 tenants/,
     'the state file was read');

$r = call($n, 'DELETE', '/admin/keys/k2');
$r = call($n, 'DELETE', '/admin/keys/k1');
$r = call($n, 'DELETE', '/admin/tenants/acme');
is($r->{status}, 200, 'delete a tenant');

unlike(error_log($n), qr/\[(alert|emerg|crit)\]|signal 11/,
       'no alert in the error log');

done_testing();
