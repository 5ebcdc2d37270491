# The client's handshake: refusals (400/426) before anything reaches the
# backend, and the accepted spellings of the upgrade tokens.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use WsTest;

my $t = WsTest->new;
my $l = listener();
my $bp = $l->sockport;

$t->run(server => <<"SERVER");
        location / {
            ws_pass http://127.0.0.1:$bp;
        }
SERVER

my $KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

# Sends a request that must be refused; checks status, log line, that the
# connection is closed after the response and that the backend got no
# connection.  Returns the parsed response.
sub refused {
    my ($name, $status, $msg, %o) = @_;
    $t->mark;
    my $c = $t->client;
    send_all($c, $o{request} // handshake_request(key => $KEY, %o));
    my $r = read_response($c, 5);
    if (!ok($r, "$name: got a response")) {
        close $c;
        return;
    }
    is($r->{status}, $status, "$name: status $status");
    expect_eof($c, "$name: connection closed after the response");
    $t->log_ok('info', $msg, "$name: logged \"$msg\"");
    my $b = accept_conn($l, 0.3);
    ok(!$b, "$name: nothing reached the backend");
    close $b if $b;
    close $c;
    return $r;
}

# not an upgrade at all

my $r = refused('plain GET', 426, 'ws: request is not a websocket upgrade',
    request => "GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n");
is(hdr($r, 'upgrade'), 'websocket', 'plain GET: 426 has "Upgrade: websocket"')
    if $r;

refused('Upgrade: h2c', 426, 'ws: request is not a websocket upgrade',
    upgrade => 'h2c');
refused('no Upgrade header', 426, 'ws: request is not a websocket upgrade',
    no => ['upgrade']);
refused('Upgrade: websocketx', 426, 'ws: request is not a websocket upgrade',
    upgrade => 'websocketx');

# a refused plain request does not serve a pipelined one
{
    $t->mark;
    my $c = $t->client;
    send_all($c, "GET /a HTTP/1.1\r\nHost: localhost\r\n\r\n"
        . "GET /b HTTP/1.1\r\nHost: localhost\r\n\r\n");
    my $r1 = read_response($c, 5);
    is($r1 && $r1->{status}, 426, 'pipelined: first request refused');
    expect_eof($c, 'pipelined: no answer to the second request');
    ok(!accept_conn($l, 0.3), 'pipelined: nothing reached the backend');
    close $c;
}

# 400: malformed handshakes

refused('POST', 400, 'ws: invalid handshake: method is not GET',
    method => 'POST');
refused('HEAD', 400, 'ws: invalid handshake: method is not GET',
    method => 'HEAD');
refused('HTTP/1.0', 400, 'ws: invalid handshake: not an HTTP/1.1 request',
    proto => 'HTTP/1.0');
refused('Connection: keep-alive', 400,
    'ws: invalid handshake: no "upgrade" token in "Connection" header',
    connection => 'keep-alive');
refused('no Connection header', 400,
    'ws: invalid handshake: no "upgrade" token in "Connection" header',
    no => ['connection']);
refused('Connection: upgraded', 400,
    'ws: invalid handshake: no "upgrade" token in "Connection" header',
    connection => 'upgraded, close');
refused('no key', 400,
    'ws: invalid handshake: missing "Sec-WebSocket-Key" header',
    no => ['sec-websocket-key']);
refused('two keys', 400,
    'ws: invalid handshake: duplicate "Sec-WebSocket-Key" header',
    headers => ["Sec-WebSocket-Key: $KEY"]);
refused('two different keys', 400,
    'ws: invalid handshake: duplicate "Sec-WebSocket-Key" header',
    headers => ['Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==']);

for my $key (
    'abc',
    'AAAAAAAAAAAAAAAAAAAA',                 # 15 bytes
    'AAAAAAAAAAAAAAAAAAAAAAA=',             # 17 bytes
    'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',     # 24 bytes
    'AAAAAAAAAAAAAAAAAAAA!!==',             # not base64
    'AAAAAAAAAAAAAAAAAAAAA===',             # bad padding
    'dGhlIHNhbXBsZSBub25jZQ==dGhl',         # trailing garbage
)
{
    refused("key \"$key\"", 400,
        'ws: invalid handshake: invalid "Sec-WebSocket-Key" header',
        key => $key);
}

refused('no version', 400,
    'ws: invalid handshake: missing "Sec-WebSocket-Version" header',
    no => ['sec-websocket-version']);

$r = refused('version 8', 426, 'ws: unsupported websocket version "8"',
    version => 8);
is(hdr($r, 'sec-websocket-version'), '13',
    'version 8: 426 has "Sec-WebSocket-Version: 13"') if $r;
$r = refused('version 14', 426, 'ws: unsupported websocket version "14"',
    version => 14);
is(hdr($r, 'sec-websocket-version'), '13',
    'version 14: 426 has "Sec-WebSocket-Version: 13"') if $r;

refused('Content-Length body', 400,
    'ws: invalid handshake: request has a body',
    headers => ['Content-Length: 5'], body => 'hello');
refused('chunked body', 400, 'ws: invalid handshake: request has a body',
    headers => ['Transfer-Encoding: chunked'],
    body => "5\r\nhello\r\n0\r\n\r\n");

# accepted spellings: tokens are case-insensitive and found in lists

for my $case (
    [ 'Connection: keep-alive, Upgrade', connection => 'keep-alive, Upgrade' ],
    [ 'Connection: Upgrade,keep-alive', connection => 'Upgrade,keep-alive' ],
    [ 'Connection: UPGRADE', connection => 'UPGRADE' ],
    [ 'Upgrade: WebSocket', upgrade => 'WebSocket' ],
    [ 'Upgrade: foo/1, websocket', upgrade => 'foo/1, websocket' ],
    [ 'lower-case names', request => undef ],
    [ 'Content-Length: 0', headers => ['Content-Length: 0'] ],
)
{
    my ($name, %o) = @$case;
    my $key = ws_key();
    if (exists $o{request}) {
        $o{request} = "GET /lc HTTP/1.1\r\nhost: localhost\r\n"
            . "upgrade: websocket\r\nconnection: upgrade\r\n"
            . "sec-websocket-key: $key\r\nsec-websocket-version: 13\r\n\r\n";
    }
    my $p = eval { $t->ws_pair($l, key => $key, %o) };
    ok($p, "$name: upgraded") or do { diag($@); next };
    is(hdr($p->{response}, 'sec-websocket-accept'), ws_accept($key),
        "$name: accept value");
    send_all($p->{client}, cframe(OP_TEXT, 'ping?'));
    my $f = read_frame($p->{backend});
    is($f->{payload}, 'ping?', "$name: frames flow");
    close_pair($p);
}

$t->stop;
done_testing;
