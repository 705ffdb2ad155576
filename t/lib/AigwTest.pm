package AigwTest;

# Common setup of aigw's Test::Nginx suites: the test keys file, two mock
# channels served by the same nginx, and mock upstream locations that echo
# exactly what they received (method, URI, credential headers, body).

use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use Test::Nginx::Socket;

our @EXPORT = ();

my $t = dirname(dirname(abs_path(__FILE__)));

$ENV{TEST_NGINX_AIGW_T} = $t;
$ENV{TEST_NGINX_AIGW_ROOT} = dirname($t);

our $HTTP_CONFIG = <<'_EOC_';
    aigw_keys_file $TEST_NGINX_AIGW_T/keys.json;

    aigw_channel mock {
        provider openai;
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/mock/v1/;
        host mock.example;
        key sk-upstream-one;
        key sk-upstream-two;
        header X-Channel mock;
    }

    aigw_channel backup {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/backup;
        key sk-upstream-backup;
    }

    aigw_channel nokey {
        endpoint http://127.0.0.1:$TEST_NGINX_SERVER_PORT/nokey/v1;
        key_env AIGW_TEST_UNSET_ENV_VAR;
    }
_EOC_

our $MOCKS = <<'_EOC_';
    location ~ ^/(mock|backup|nokey)/ {
        echo_read_request_body;
        echo "$request_method $request_uri";
        echo "host: $http_host";
        echo "authorization: $http_authorization";
        echo "x-api-key: $http_x_api_key";
        echo "api-key: $http_api_key";
        echo "x-channel: $http_x_channel";
        echo "content-length: $http_content_length";
        echo "transfer-encoding: $http_transfer_encoding";
        echo "body: $request_body";
    }
_EOC_

Test::Nginx::Socket::add_block_preprocessor(sub {
    my $block = shift;

    unless (defined $block->no_default_http) {
        $block->set_value("http_config",
                          $HTTP_CONFIG . ($block->http_config // ""));
    }

    unless (defined $block->no_mocks) {
        $block->set_value("config", ($block->config // "") . $MOCKS);
    }
});

1;
