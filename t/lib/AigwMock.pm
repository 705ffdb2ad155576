package AigwMock;

# Mock provider upstreams for the adapter suites: a location that answers
# with a given status, type and body (in pieces, flushed apart) and reports
# what it received in X-Got-* response headers, which the gateway passes
# on to the client: the URI, the credential headers, anthropic-version and
# the exact request body.

use strict;
use warnings;

use Exporter 'import';

our @EXPORT = qw(ngx_quote mock_location setup_gateway created_re);


# A string for nginx.conf: single-quoted, with nginx's escapes.

sub ngx_quote {
    my $s = shift;

    die "a '\$' would be a variable for echo" if $s =~ /\$/;

    $s =~ s/\\/\\\\/g;
    $s =~ s/'/\\'/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;

    return "'$s'";
}


# The exact text of an answer whose "created" times are the gateway's
# clock and whose ids are made from the request id: each CREATED stands for
# a number, each RID for a request id.

sub created_re {
    my $s = shift;

    my $re = join '\d+', map {
                 join '[0-9a-f]{32}', map { quotemeta } split /RID/, $_, -1
             } split /CREATED/, $s, -1;

    return qr/^$re$/s;
}


# mock_location("= /ant/v1/messages", status => 200,
#               type => "application/json", pieces => [...])

sub mock_location {
    my ($where, %o) = @_;

    my $status = $o{status} // 200;
    my $type = $o{type} // "application/json";
    my @pieces = @{ $o{pieces} // [] };
    my $headers = $o{headers} // {};

    my $loc = "    location $where {\n"
            . "        echo_read_request_body;\n"
            . "        echo_status $status;\n"
            . "        default_type " . ngx_quote($type) . ";\n"
            . "        add_header X-Got-Uri \$request_uri always;\n"
            . "        add_header X-Got-Auth \"\$http_authorization\" always;\n"
            . "        add_header X-Got-Keys \"\$http_x_api_key|"
            . "\$http_x_goog_api_key|\$http_api_key\" always;\n"
            . "        add_header X-Got-Version \"\$http_anthropic_version\""
            . " always;\n"
            . "        add_header X-Got-Body \$request_body always;\n";

    for my $h (sort keys %$headers) {
        $loc .= "        add_header $h " . ngx_quote($headers->{$h})
                . " always;\n";
    }

    for my $i (0 .. $#pieces) {

        # nginx.conf tokens are shorter than 4k

        for (my $at = 0; $at < length $pieces[$i]; $at += 1500) {
            $loc .= "        echo -n -- "
                    . ngx_quote(substr($pieces[$i], $at, 1500)) . ";\n";
        }

        if ($i < $#pieces) {
            $loc .= "        echo_flush;\n        echo_sleep 0.02;\n";
        }
    }

    return $loc . "    }\n";
}


# setup_gateway(http_config => ..., location => ..., request => ...,
#               more_headers => ...)
#
# Each block then gets a gateway location "/v1/" with the file's
# "location" directives plus its own "--- gw_config", the file's channels
# (http_config) plus "--- http_extra", its "--- mock eval" locations, and
# an access log of usage that "--- aigw_log eval" (a regex) checks.

our $LOG_FORMAT = <<'_EOC_';
    log_format aigw_t 'model=$aigw_model upstream=$aigw_upstream_model '
                      'channel=$aigw_channel provider=$aigw_provider '
                      'endpoint=$aigw_endpoint stream=$aigw_stream '
                      'prompt=$aigw_prompt_tokens '
                      'completion=$aigw_completion_tokens '
                      'cached=$aigw_cached_tokens '
                      'reasoning=$aigw_reasoning_tokens '
                      'total=$aigw_total_tokens status=$status';
_EOC_

sub setup_gateway {
    my %o = @_;

    Test::Nginx::Socket::add_block_preprocessor(sub {
        my $block = shift;

        $block->set_value("http_config",
                          ($o{log_format} // $LOG_FORMAT)
                          . ($o{http_config} // "")
                          . ($block->http_extra // "")
                          . ($block->http_config // ""));

        $block->set_value("config", <<_EOC_ . ($block->mock // "")
    location /v1/ {
        aigw on;
        @{[ $o{location} // "" ]}
        @{[ $block->gw_config // "" ]}
        include \$TEST_NGINX_AIGW_ROOT/conf-examples/aigw_proxy.conf;
        access_log logs/aigw.log aigw_t;
    }
_EOC_
            . ($block->config // ""));

        if (!defined $block->request && defined $o{request}) {
            $block->set_value("request", $o{request});
        }

        if (!defined $block->more_headers) {
            $block->set_value("more_headers", $o{more_headers}
                              // "Authorization: Bearer sk-test-all\n"
                                 . "Content-Type: application/json\n");
        }

        if (!defined $block->no_error_log && !defined $block->error_log) {
            $block->set_value("no_error_log", "[error]\n[alert]\n");
        }
    });

    Test::Nginx::Socket::add_response_body_check(sub {
        my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
        my $name = $block->name;
        my $pat = $block->aigw_log;
        my $n = $repeated_req_idx + 1;

        return unless defined $pat;

        SKIP: {
            Test::More::skip("$name - aigw_log - skipped: $dry_run", 2)
                if $dry_run;

            my @lines;

            for (1 .. 200) {
                if (open my $in, '<',
                    "$Test::Nginx::Util::LogDir/aigw.log")
                {
                    @lines = <$in>;
                    close $in;
                }

                last if @lines >= $n;
                select(undef, undef, undef, 0.05);
            }

            chomp @lines;

            Test::More::is(scalar @lines, $n,
                           "$name - one log line per request "
                           . "(req $repeated_req_idx)");
            Test::More::like($lines[-1] // "", $pat,
                             "$name - aigw.log line (req $repeated_req_idx)");
        }
    });
}

1;
