# wss:// and https:// backends (python3-websockets over TLS), with and
# without certificate verification, SNI, and protocol restrictions.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use WsTest;

my $t = WsTest->new;
plan skip_all => 'python3 websockets not installed'
    unless WsTest::have_python_websockets();
my ($orc) = run_cmd(cmd => ['openssl', 'version']);
plan skip_all => 'openssl not found' unless $orc == 0;

my $dir = $t->dir;
for my $name ('server', 'other') {
    my ($rc, $out) = run_cmd(cmd => ['openssl', 'req', '-x509', '-newkey',
        'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '2',
        '-addext', 'subjectAltName=DNS:localhost',
        '-keyout', "$dir/$name.key", '-out', "$dir/$name.crt"], timeout => 60);
    is($rc, 0, "certificate $name generated") or diag($out);
}

my $peer = peer_path('py_echo_server.py');
my $tls = $t->start_peer(name => 'tls', cmd => [python_bin(), $peer, 'PORT',
    '--cert', "$dir/server.crt", '--key', "$dir/server.key",
    '--sni-file', "$dir/sni.log"]);
# verifying locations get a server of their own: TLS sessions are kept per
# backend address and a session made without verification carries its
# verification result
my $tlsv = $t->start_peer(name => 'tlsv', cmd => [python_bin(), $peer,
    'PORT', '--cert', "$dir/server.crt", '--key', "$dir/server.key",
    '--sni-file', "$dir/sni.log"]);
my $tlsw = $t->start_peer(name => 'tlsw', cmd => [python_bin(), $peer,
    'PORT', '--cert', "$dir/server.crt", '--key', "$dir/server.key"]);
my $tls13 = $t->start_peer(name => 'tls13', cmd => [python_bin(), $peer,
    'PORT', '--cert', "$dir/server.crt", '--key', "$dir/server.key",
    '--min-tls', '1.3']);

my $sp = free_port();

$t->run(servers => <<"SERVERS", server => <<"SERVER");
    server {
        listen 127.0.0.1:$sp ssl;
        server_name localhost;
        ssl_certificate $dir/server.crt;
        ssl_certificate_key $dir/server.key;

        location /tls-client/ {
            ws_pass wss://127.0.0.1:$tls;
        }
    }
SERVERS
        location /plain/ {
            ws_pass wss://127.0.0.1:$tls;
        }
        location /https/ {
            ws_pass https://127.0.0.1:$tls;
            ws_ssl_ciphers HIGH:!aNULL;
            ws_ssl_session_reuse off;
        }
        location /verify/ {
            ws_pass wss://127.0.0.1:$tlsv;
            ws_ssl_verify on;
            ws_ssl_trusted_certificate $dir/server.crt;
            ws_ssl_verify_depth 2;
            ws_ssl_name localhost;
            ws_ssl_server_name on;
            ws_ssl_session_reuse on;
        }
        location /wrongname/ {
            ws_pass wss://127.0.0.1:$tlsw;
            ws_ssl_verify on;
            ws_ssl_trusted_certificate $dir/server.crt;
            ws_ssl_name wrong.example;
        }
        location /untrusted/ {
            ws_pass wss://127.0.0.1:$tls;
            ws_ssl_verify on;
            ws_ssl_trusted_certificate $dir/other.crt;
            ws_ssl_name localhost;
        }
        location /tls12/ {
            ws_pass wss://127.0.0.1:$tls13;
            ws_ssl_protocols TLSv1.2;
        }
        location /tls13/ {
            ws_pass wss://127.0.0.1:$tls13;
            ws_ssl_protocols TLSv1.2 TLSv1.3;
        }
        location /plainhttp/ {
            ws_pass http://127.0.0.1:$tls;
        }
SERVER

# Upgrades through $path, then checks echo round trips of a text and a
# binary message and the close handshake.
sub echo_ok {
    my ($path, $name) = @_;
    my $key = ws_key();
    my $c = $t->client_handshake(path => $path, key => $key);
    my $r = parse_head(read_head($c, 10));
    if (!is($r && $r->{status}, 101, "$name: upgraded")) {
        close $c;
        return;
    }
    is(hdr($r, 'sec-websocket-accept'), ws_accept($key), "$name: accept");
    for my $m ([OP_TEXT, text_payload(5000, 1)], [OP_BINARY, binary_payload(70000)],
        [OP_TEXT, ''])
    {
        send_all($c, cframe(@$m));
        frame_ok(read_frame($c, 10), sframe(@$m),
            "$name: echo of " . length($m->[1]) . " bytes");
    }
    send_all($c, cframe(OP_PING, 'tls ping'));
    frame_ok(read_frame($c, 10), sframe(OP_PONG, 'tls ping'), "$name: pong");
    send_all($c, cframe(OP_CLOSE, close_payload(1000, 'bye')));
    frame_ok(read_frame($c, 10), sframe(OP_CLOSE, close_payload(1000, 'bye')),
        "$name: close echoed");
    expect_eof($c, "$name: connection closed");
    close $c;
}

sub fails_ok {
    my ($path, $name) = @_;
    $t->mark;
    my $c = $t->client_handshake(path => $path);
    my $r = read_response($c, 10);
    is($r && $r->{status}, 502, "$name: 502");
    close $c;
}

echo_ok('/plain/', 'wss://');
echo_ok('/https/', 'https://');
my $sni = WsTest::read_file("$dir/sni.log") // '';
unlike($sni, qr/localhost/, 'no SNI without ws_ssl_server_name');

echo_ok('/verify/', 'verified');
echo_ok('/verify/', 'verified again');
$sni = WsTest::read_file("$dir/sni.log") // '';
like($sni, qr/^localhost$/m, 'ws_ssl_server_name on sends ws_ssl_name');

fails_ok('/wrongname/', 'wrong ws_ssl_name');
$t->log_ok('error', qr/upstream SSL certificate does not match "wrong\.example"/,
    'wrong name logged');
fails_ok('/untrusted/', 'untrusted certificate');
$t->log_ok('error', qr/upstream SSL certificate verify error/,
    'verify error logged');
fails_ok('/tls12/', 'TLSv1.2 only against a TLSv1.3 server');
echo_ok('/tls13/', 'TLSv1.3 allowed');
fails_ok('/plainhttp/', 'plain http to a TLS server');

# a TLS client: the WebSocket is detached from its request over TLS, closed
# with TLS shutdown and a lingering close, and logged
{
    $t->mark;
    my ($rc, $out) = run_cmd(timeout => 120, cmd => [python_bin(),
        peer_path('py_client.py'), '--cafile', "$dir/server.crt",
        "wss://localhost:$sp/tls-client/", 10, 70000]);
    is($rc, 0, 'TLS client: exited with 0') or diag($out);
    my @bad = grep { /^not ok/ } split /\n/, $out;
    is("@bad", '', 'TLS client: every check passed');
    like($out, qr/^ok - close 1000 bye/m, 'TLS client: closed with 1000');
    like($out, qr/^done$/m, 'TLS client: finished');
    my $e = $t->access_entry('/tls-client/');
    ok($e, 'TLS client: access log line');
    is($e && $e->{code}, 1000, 'TLS client: logged close code');
    is($e && $e->{initiator}, 'client', 'TLS client: logged initiator');
}

$t->stop;
done_testing;
