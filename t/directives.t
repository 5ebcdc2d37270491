# Configuration: every directive with valid values in http, server and
# location; invalid values and misplaced directives are rejected by
# "nginx -t".

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use WsTest;

my $t = WsTest->new;
my $port = free_port();

my $all = <<'ALL';
            ws_buffer_size 32k;
            ws_max_frame_size 2m;
            ws_max_message_size 0;
            ws_validate_utf8 off;
            ws_connect_timeout 5s;
            ws_handshake_timeout 10s;
            ws_send_timeout 30s;
            ws_close_timeout 2s;
            ws_set_header X-Foo bar;
            ws_set_header X-Empty "";
            ws_next_upstream error timeout invalid_header http_500 http_502 http_503 http_504 http_403 http_404 http_429;
            ws_next_upstream_tries 3;
            ws_next_upstream_timeout 10s;
            ws_ssl_verify off;
            ws_ssl_verify_depth 3;
            ws_ssl_server_name on;
            ws_ssl_name example.test;
            ws_ssl_protocols TLSv1.2 TLSv1.3;
            ws_ssl_ciphers HIGH:!aNULL;
            ws_ssl_session_reuse on;
ALL

sub conf_ok {
    my ($name, %c) = @_;
    my ($rc, $out) = $t->conf_test(%c);
    is($rc, 0, "$name: accepted") or diag($out);
}

sub conf_fails {
    my ($name, $re, %c) = @_;
    my ($rc, $out) = $t->conf_test(%c);
    isnt($rc, 0, "$name: rejected");
    like($out, $re, "$name: message") if $re;
}

conf_ok('all directives in a location', server => <<"S");
        location / {
            ws_pass http://127.0.0.1:$port;
$all
        }
S
conf_ok('all directives in server', server => "$all\n"
    . "        location / { ws_pass http://127.0.0.1:$port; }\n");
conf_ok('all directives in http', http => $all, server =>
    "        location / { ws_pass http://127.0.0.1:$port; }\n");

for my $url ("http://127.0.0.1:$port", "ws://127.0.0.1:$port/",
    "https://127.0.0.1:$port/path", "wss://127.0.0.1:$port", "127.0.0.1:$port",
    'http://u', 'http://u/app/', 'http://$arg_b')
{
    conf_ok("ws_pass $url", http => "    upstream u { server 127.0.0.1:$port; }\n",
        server => "        location /a/ { ws_pass $url; }\n");
}

conf_ok('ws_pass in "if" in location', server => <<"S");
        location / {
            if (\$arg_x) {
                ws_pass http://127.0.0.1:$port;
            }
            ws_pass http://127.0.0.1:$port;
        }
S
conf_ok('ws_buffer_size 512', server => "        location / { ws_pass "
    . "http://127.0.0.1:$port; ws_buffer_size 512; }\n");
conf_fails('ws_buffer_size 100', undef, server => "        location / { "
    . "ws_pass http://127.0.0.1:$port; ws_buffer_size 100; }\n");

conf_fails('ws_pass twice', qr/"ws_pass" directive is duplicate/,
    server => "        location / { ws_pass http://127.0.0.1:$port; "
        . "ws_pass http://127.0.0.1:$port; }\n");
conf_fails('ws_pass in http', qr/"ws_pass" directive is not allowed here/,
    http => "    ws_pass http://127.0.0.1:$port;\n");
conf_fails('ws_pass in server', qr/"ws_pass" directive is not allowed here/,
    server => "        ws_pass http://127.0.0.1:$port;\n");
conf_fails('ws_pass without argument', qr/invalid number of arguments/,
    server => "        location / { ws_pass; }\n");
conf_fails('ws_pass ftp://', undef,
    server => "        location / { ws_pass ftp://127.0.0.1:$port; }\n");
conf_fails('ws_next_upstream bogus', qr/invalid value "bogus"/,
    server => "        location / { ws_pass http://127.0.0.1:$port; "
        . "ws_next_upstream error bogus; }\n");
conf_fails('ws_max_frame_size abc', undef,
    server => "        location / { ws_pass http://127.0.0.1:$port; "
        . "ws_max_frame_size abc; }\n");
conf_fails('ws_validate_utf8 maybe', qr/invalid value "maybe"/,
    server => "        location / { ws_pass http://127.0.0.1:$port; "
        . "ws_validate_utf8 maybe; }\n");
conf_fails('ws_close_timeout -1', undef,
    server => "        location / { ws_pass http://127.0.0.1:$port; "
        . "ws_close_timeout -1; }\n");
conf_fails('ws_set_header with one argument', qr/invalid number of arguments/,
    server => "        location / { ws_pass http://127.0.0.1:$port; "
        . "ws_set_header X-Foo; }\n");
conf_fails('ws_ssl_protocols SSLv1', undef,
    server => "        location / { ws_pass wss://127.0.0.1:$port; "
        . "ws_ssl_protocols SSLv1; }\n");
conf_fails('unknown upstream host', qr/host not found in upstream/,
    server => "        location / { ws_pass http://no-such-upstream.invalid; }\n");

done_testing;
