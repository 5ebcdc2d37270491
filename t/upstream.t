# The request sent to the backend, the checks of the backend's 101, the
# failures before the upgrade, ws_next_upstream and the balancers.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use WsTest;

my $t = WsTest->new;
my $l = listener();
my $bp = $l->sockport;
my $closed = free_port();

# helper backends for ws_next_upstream and the balancers
my $live = echo_backend(resp_headers => ['X-Backend: live']);
my $echo_a = echo_backend(resp_headers => ['X-Backend: A']);
my $echo_b = echo_backend(resp_headers => ['X-Backend: B']);
my $bad_accept = fixed_backend(record => $t->dir . '/bad-accept.req',
    response => "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        . "Connection: Upgrade\r\nSec-WebSocket-Accept: "
        . ws_accept('AAAAAAAAAAAAAAAAAAAAAA==') . "\r\n\r\n");
my @codes = (500, 502, 503, 504, 403, 404, 429);
my %failing;
for my $code (@codes) {
    $failing{$code} = fixed_backend(record => $t->dir . "/fail-$code.req",
        response => "HTTP/1.1 $code Failing\r\nContent-Length: 4\r\n"
            . "Connection: close\r\n\r\nfail");
}

my $l1 = listener();
my $l2 = listener();

my $http = <<"HTTP";
    upstream lc {
        least_conn;
        server 127.0.0.1:@{[ $l1->sockport ]};
        server 127.0.0.1:@{[ $l2->sockport ]};
    }
    upstream hash {
        hash \$arg_room;
        server 127.0.0.1:$echo_a;
        server 127.0.0.1:$echo_b;
    }
    upstream iphash {
        ip_hash;
        server 127.0.0.1:$echo_a;
        server 127.0.0.1:$echo_b;
    }
    upstream failover {
        server 127.0.0.1:$closed;
        server 127.0.0.1:$live;
    }
    upstream failover_nofail {
        server 127.0.0.1:$closed max_fails=0;
        server 127.0.0.1:$live;
    }
    upstream failover_tries {
        server 127.0.0.1:$closed max_fails=0;
        server 127.0.0.1:$live;
    }
    upstream invalid {
        server 127.0.0.1:$bad_accept max_fails=0;
        server 127.0.0.1:$live;
    }
HTTP
my $server = <<"SERVER";
        ws_set_header X-Server-Level server;

        location / {
            ws_pass http://127.0.0.1:$bp;
        }
        location /set/ {
            ws_pass http://127.0.0.1:$bp;
            ws_set_header X-Custom bar;
            ws_set_header X-Added added;
            ws_set_header Origin "";
            ws_set_header X-Real-IP \$remote_addr;
        }
        location /host/ {
            ws_pass http://127.0.0.1:$bp;
            ws_set_header Host \$host;
        }
        location /timeout/ {
            ws_pass http://127.0.0.1:$bp;
            ws_handshake_timeout 1s;
        }
        location /refused/ {
            ws_pass http://127.0.0.1:$closed;
        }
        location /lc/ {
            ws_pass http://lc;
        }
        location /hash/ {
            ws_pass http://hash;
        }
        location /iphash/ {
            ws_pass http://iphash;
        }
        location /failover/ {
            ws_pass http://failover;
        }
        location /failover-off/ {
            ws_pass http://failover_nofail;
            ws_next_upstream off;
        }
        location /failover-tries1/ {
            ws_pass http://failover_tries;
            ws_next_upstream_tries 1;
        }
        location /failover-tries2/ {
            ws_pass http://failover_tries;
            ws_next_upstream_tries 2;
            ws_next_upstream_timeout 10s;
        }
        location /invalid-default/ {
            ws_pass http://invalid;
        }
        location /invalid-next/ {
            ws_pass http://invalid;
            ws_next_upstream error timeout invalid_header;
        }
SERVER
for my $code (@codes) {
    $http .= <<"HTTP";
    upstream f$code {
        server 127.0.0.1:$failing{$code} max_fails=0;
        server 127.0.0.1:$live;
    }
HTTP
    $server .= <<"SERVER";
        location /next-$code/ {
            ws_pass http://f$code;
            ws_next_upstream error timeout http_$code;
        }
        location /pass-$code/ {
            ws_pass http://f$code;
        }
SERVER
}

$t->run(http => $http, server => $server);

# The client sends a handshake; the in-process backend on $l answers with
# $resp->(parsed request).  Returns (client's response, backend's request,
# client socket, backend socket).
sub answer {
    my ($resp, %o) = @_;
    $t->mark;
    my $c = $t->client_handshake(%o);
    my $b = accept_conn($l, 5) or return;
    my $req = parse_head(read_head($b, 5));
    send_all($b, $resp->($req));
    my $r = read_response($c, 5);
    return ($r, $req, $c, $b);
}

# A handshake through nginx to an echo backend; returns the client's
# parsed response (undef on failure) after an echo round trip and a close.
sub upgrade_echo {
    my ($path, $name) = @_;
    my $c = $t->client_handshake(path => $path);
    my $r = parse_head(read_head($c, 10));
    if (!$r || $r->{status} != 101) {
        close $c;
        return $r;
    }
    send_all($c, cframe(OP_TEXT, "hello $path"));
    my $f = read_frame($c);
    $r->{echo_ok} = !$f->{error} && $f->{raw} eq sframe(OP_TEXT, "hello $path");
    send_all($c, cframe(OP_CLOSE, close_payload(1000)));
    my $g = read_frame($c);
    $r->{close_ok} = !$g->{error} && $g->{raw} eq sframe(OP_CLOSE,
        close_payload(1000));
    $r->{eof} = (read_until_eof($c, 5))[1] eq 'eof';
    close $c;
    return $r;
}

sub accept_101 {
    my ($req, @extra) = @_;
    return response_101(hdr($req, 'sec-websocket-key') // '', @extra);
}

# ---------------------------------------------------------------------------
# the request sent to the backend

{
    my $key = ws_key();
    my ($r, $req, $c, $b) = answer(sub { accept_101($_[0]) },
        path => '/path/x?q=1&r=%20', key => $key,
        connection => 'keep-alive, Upgrade, X-Hop', upgrade => 'WebSocket',
        host => 'example.test',
        headers => [
            'Sec-WebSocket-Protocol: chat, superchat',
            'Sec-WebSocket-Extensions: permessage-deflate; '
                . 'client_max_window_bits',
            'Origin: http://example.test',
            'X-Custom: hello',
            'Cookie: a=b',
            'Keep-Alive: timeout=5',
            'TE: trailers',
            'Trailer: X-T',
            'Proxy-Connection: keep-alive',
            'User-Agent: ws-test',
            'X-Hop: per-connection',
        ]);
    ok($req, 'request reached the backend');
    is($req->{line}, 'GET /path/x?q=1&r=%20 HTTP/1.1', 'request line');
    is(hdr_count($req, 'host'), 1, 'one Host header');
    is(hdr($req, 'host'), "127.0.0.1:$bp", 'Host is the ws_pass host');
    is(hdr_count($req, 'upgrade'), 1, 'one Upgrade header');
    is(hdr($req, 'upgrade'), 'websocket', 'Upgrade: websocket');
    is(hdr_count($req, 'connection'), 1, 'one Connection header');
    is(hdr($req, 'connection'), 'Upgrade', 'Connection: Upgrade');
    is(hdr($req, 'sec-websocket-key'), $key, 'key passed unchanged');
    is(hdr_count($req, 'sec-websocket-key'), 1, 'one key');
    is(hdr($req, 'sec-websocket-version'), '13', 'Sec-WebSocket-Version: 13');
    is(hdr_count($req, 'sec-websocket-version'), 1, 'one version header');
    is(hdr($req, 'sec-websocket-protocol'), 'chat, superchat',
        'subprotocols passed');
    is(hdr($req, 'origin'), 'http://example.test', 'Origin passed');
    is(hdr($req, 'x-custom'), 'hello', 'X-Custom passed');
    is(hdr($req, 'cookie'), 'a=b', 'Cookie passed');
    is(hdr($req, 'user-agent'), 'ws-test', 'User-Agent passed');
    is(hdr($req, 'x-server-level'), 'server',
        'ws_set_header of server level inherited');
    for my $h ('Sec-WebSocket-Extensions', 'Keep-Alive', 'TE', 'Trailer',
        'Proxy-Connection', 'Transfer-Encoding', 'Content-Length', 'X-Hop')
    {
        is(hdr($req, $h), undef, "no $h header");
    }
    is($r && $r->{status}, 101, 'upgraded');
    close_pair({ client => $c, backend => $b });
}

{
    my ($r, $req, $c, $b) = answer(sub { accept_101($_[0]) },
        path => '/set/a', host => 'example.test',
        headers => ['X-Custom: hello', 'Origin: http://example.test']);
    is(hdr($req, 'x-custom'), 'bar', 'ws_set_header overrides a header');
    is(hdr_count($req, 'x-custom'), 1, 'overridden header sent once');
    is(hdr($req, 'x-added'), 'added', 'ws_set_header adds a header');
    is(hdr($req, 'origin'), undef, 'ws_set_header with "" removes a header');
    is(hdr($req, 'x-real-ip'), '127.0.0.1', 'ws_set_header with a variable');
    is(hdr($req, 'upgrade'), 'websocket', 'Upgrade still sent');
    is(hdr($req, 'x-server-level'), undef, 'ws_set_header of server level '
        . 'not inherited by a location with ws_set_header');
    is($r && $r->{status}, 101, 'upgraded with ws_set_header');
    close_pair({ client => $c, backend => $b });
}

{
    my ($r, $req, $c, $b) = answer(sub { accept_101($_[0]) },
        path => '/host/', host => 'example.test');
    is(hdr($req, 'host'), 'example.test', 'ws_set_header Host $host');
    is(hdr_count($req, 'host'), 1, 'one Host header');
    close_pair({ client => $c, backend => $b });
}

# ---------------------------------------------------------------------------
# the backend's 101

{
    my $key = ws_key();
    my $early = cframe(OP_BINARY, 'sent with the handshake');
    my $c = $t->client_handshake(key => $key, after => $early,
        headers => ['Sec-WebSocket-Protocol: chat, superchat']);
    my $b = accept_conn($l, 5);
    my $req = parse_head(read_head($b, 5));
    my $late = sframe(OP_TEXT, 'sent with the 101');
    send_all($b, accept_101($req, 'X-Backend: one',
        'Sec-WebSocket-Protocol: superchat') . $late);
    my $head = read_head($c, 5);
    my $r = parse_head($head);
    is($r->{line}, 'HTTP/1.1 101 Switching Protocols', '101 status line');
    like(hdr($r, 'upgrade') // '', qr/^websocket$/i, 'Upgrade: websocket');
    like(hdr($r, 'connection') // '', qr/^upgrade$/i, 'Connection: upgrade');
    is(hdr($r, 'sec-websocket-accept'), ws_accept($key), 'accept value');
    is(hdr_count($r, 'sec-websocket-accept'), 1, 'one accept header');
    is(hdr($r, 'sec-websocket-protocol'), 'superchat', 'selected subprotocol');
    is(hdr($r, 'x-backend'), 'one', 'other backend headers passed');
    is(hdr($r, 'content-length'), undef, 'no Content-Length in the 101');
    is(hdr($r, 'transfer-encoding'), undef, 'no Transfer-Encoding in the 101');
    frame_ok(read_frame($c), $late,
        'frame sent together with the 101 reaches the client');
    frame_ok(read_frame($b), $early,
        'frame sent together with the handshake reaches the backend');
    close_pair({ client => $c, backend => $b });
}

{
    my ($r, $req, $c, $b) = answer(sub {
        accept_101($_[0], 'X-Big: ' . ('b' x 70000)) });
    is($r && $r->{status}, 502, '101 header larger than ws_buffer_size: 502');
    close $c if $c;
    close $b if $b;
    $t->log_ok('error', qr/upstream sent too big header/,
        'too big header logged');
}

# a 101 with body framing headers: what follows is frames all the same
for my $h ('Content-Length: 5', 'Transfer-Encoding: chunked') {
    my $fr = sframe(OP_TEXT, 'frame after a 101 with ' . $h);
    my ($r, $req, $c, $b) = answer(sub { accept_101($_[0], $h) });
    is($r && $r->{status}, 101, "101 with $h: upgraded");
    is($r && hdr($r, 'content-length'), undef,
        "101 with $h: no Content-Length to the client");
    is($r && hdr($r, 'transfer-encoding'), undef,
        "101 with $h: no Transfer-Encoding to the client");
    send_all($b, $fr);
    frame_ok(read_frame($c), $fr, "101 with $h: frames pass unchanged");
    close_pair({ client => $c, backend => $b });
}

my @bad = (
    [ 'wrong accept', 'ws: upstream sent invalid "Sec-WebSocket-Accept" header',
      sub { "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
          . "Connection: Upgrade\r\nSec-WebSocket-Accept: "
          . ws_accept('AAAAAAAAAAAAAAAAAAAAAA==') . "\r\n\r\n" } ],
    [ 'accept of the key without GUID',
      'ws: upstream sent invalid "Sec-WebSocket-Accept" header',
      sub { "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
          . "Connection: Upgrade\r\nSec-WebSocket-Accept: "
          . hdr($_[0], 'sec-websocket-key') . "\r\n\r\n" } ],
    [ 'no accept', 'ws: upstream sent no "Sec-WebSocket-Accept" header',
      sub { "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
          . "Connection: Upgrade\r\n\r\n" } ],
    [ 'no Upgrade', 'ws: upstream sent 101 without "Upgrade: websocket"',
      sub { "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
          . 'Sec-WebSocket-Accept: '
          . ws_accept(hdr($_[0], 'sec-websocket-key')) . "\r\n\r\n" } ],
    [ 'Upgrade: h2c', 'ws: upstream sent 101 without "Upgrade: websocket"',
      sub { "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n"
          . "Connection: Upgrade\r\nSec-WebSocket-Accept: "
          . ws_accept(hdr($_[0], 'sec-websocket-key')) . "\r\n\r\n" } ],
    [ 'subprotocol not offered',
      'ws: upstream selected subprotocol "x" not offered by the client',
      sub { accept_101($_[0], 'Sec-WebSocket-Protocol: x') },
      headers => ['Sec-WebSocket-Protocol: chat, superchat'] ],
    [ 'subprotocol when none offered',
      'ws: upstream selected subprotocol "chat" not offered by the client',
      sub { accept_101($_[0], 'Sec-WebSocket-Protocol: chat') } ],
    [ 'extension',
      'ws: upstream selected extensions "permessage-deflate" not offered by '
          . 'the client',
      sub { accept_101($_[0], 'Sec-WebSocket-Extensions: permessage-deflate') } ],
    [ 'extension the client asked for',
      'ws: upstream selected extensions "permessage-deflate" not offered by '
          . 'the client',
      sub { accept_101($_[0], 'Sec-WebSocket-Extensions: permessage-deflate') },
      headers => ['Sec-WebSocket-Extensions: permessage-deflate'] ],
);

for my $case (@bad) {
    my ($name, $msg, $resp, %o) = @$case;
    my ($r, $req, $c, $b) = answer(sub {
        $resp->($_[0]) . sframe(OP_TEXT, 'must not pass') }, %o);
    is($r && $r->{status}, 502, "$name: 502");
    unlike($r ? $r->{raw} . $r->{body} : '', qr/must not pass/,
        "$name: no backend frame reaches the client");
    $t->log_ok('error', $msg, "$name: logged");
    close $c if $c;
    close $b if $b;
}

# ---------------------------------------------------------------------------
# failures before the upgrade

{
    $t->mark;
    my $c = $t->client_handshake(path => '/timeout/');
    my $b = accept_conn($l, 5);
    ok($b, 'timeout: backend got the connection');
    read_head($b, 5);
    my $r = read_response($c, 10);
    is($r && $r->{status}, 504, 'no answer within ws_handshake_timeout: 504');
    $t->log_ok('error', qr/upstream timed out \(110: Connection timed out\) while reading response header from upstream/, 'timeout logged');
    close $c;
    close $b if $b;
}

{
    $t->mark;
    my $c = $t->client_handshake(path => '/refused/');
    my $r = read_response($c, 10);
    is($r && $r->{status}, 502, 'connection refused: 502');
    $t->log_ok('error', qr/connect\(\) failed \(111: Connection refused\) while connecting to upstream/, 'connection refused logged');
    close $c;
}

for my $case ([ 'backend closed without an answer', '' ],
    [ 'backend answered garbage', "SSH-2.0-OpenSSH\r\n\r\n" ])
{
    my ($name, $answer) = @$case;
    my $c = $t->client_handshake;
    my $b = accept_conn($l, 5);
    read_head($b, 5) if $b;
    send_all($b, $answer) if $b && length $answer;
    close $b if $b;
    my $r = read_response($c, 10);
    is($r && $r->{status}, 502, "$name: 502");
    close $c;
}

# ---------------------------------------------------------------------------
# ws_next_upstream

{
    my @r = map { upgrade_echo('/failover/') } 1 .. 2;
    is_deeply([map { $_ && $_->{status} } @r], [101, 101],
        'failover from a closed port to a live server');
    ok($r[0] && $r[0]{echo_ok} && $r[0]{close_ok} && $r[0]{eof},
        'failover: echo and close work');
}

{
    my @st = sort { $a <=> $b } map { my $r = upgrade_echo('/failover-off/');
        $r ? $r->{status} : 0 } 1 .. 2;
    is_deeply(\@st, [101, 502], 'ws_next_upstream off: one of two fails');
}

{
    my @st = sort { $a <=> $b } map { my $r = upgrade_echo('/failover-tries1/');
        $r ? $r->{status} : 0 } 1 .. 2;
    is_deeply(\@st, [101, 502], 'ws_next_upstream_tries 1: one of two fails');
    @st = map { my $r = upgrade_echo('/failover-tries2/');
        $r ? $r->{status} : 0 } 1 .. 2;
    is_deeply(\@st, [101, 101], 'ws_next_upstream_tries 2: both work');
}

{
    my @st = sort { $a <=> $b } map { my $r = upgrade_echo('/invalid-default/');
        $r ? $r->{status} : 0 } 1 .. 2;
    is_deeply(\@st, [101, 502],
        'invalid 101 without invalid_header: one of two fails');
    @st = map { my $r = upgrade_echo('/invalid-next/');
        $r ? $r->{status} : 0 } 1 .. 2;
    is_deeply(\@st, [101, 101], 'invalid_header: next server tried');
}

for my $code (@codes) {
    my @r = map { upgrade_echo("/next-$code/") } 1 .. 2;
    is_deeply([map { $_ ? $_->{status} : 0 } @r], [101, 101],
        "ws_next_upstream http_$code: next server tried");
    like(WsTest::read_file($t->dir . "/fail-$code.req") // '', qr/^GET /,
        "http_$code: the failing server was asked");

    my @st;
    my $body;
    for (1 .. 2) {
        my $c = $t->client_handshake(path => "/pass-$code/");
        my $r = read_response($c, 10);
        push @st, $r ? $r->{status} : 0;
        $body = $r->{body} if $r && $r->{status} == $code;
        close $c;
    }
    is_deeply([sort { $a <=> $b } @st], [101, $code],
        "without http_$code the $code is passed to the client");
    is($body, 'fail', "$code: body passed");
}

# ---------------------------------------------------------------------------
# balancers

{
    # least_conn counts upgraded connections as active
    my $pair = sub {
        my $c = $t->client_handshake(path => '/lc/');
        my ($b, $i) = accept_any([$l1, $l2], 5);
        return unless $b;
        my $req = parse_head(read_head($b, 5));
        send_all($b, accept_101($req));
        my $r = parse_head(read_head($c, 5));
        return { client => $c, backend => $b, server => $i,
                 status => $r ? $r->{status} : 0 };
    };
    my $p1 = $pair->();
    my $p2 = $pair->();
    ok($p1 && $p2 && $p1->{status} == 101 && $p2->{status} == 101,
        'least_conn: two upgrades');
    isnt($p1->{server}, $p2->{server},
        'least_conn: the second goes to the other server');
    close_pair($p1);
    my $p3 = $pair->();
    is($p3->{server}, $p1->{server},
        'least_conn: after the first ended, its server is the least busy');
    close_pair($p2);
    close_pair($p3);
}

{
    my %seen;
    for my $room (qw(a a a b b c d e f g)) {
        my $r = upgrade_echo("/hash/?room=$room");
        ok($r && $r->{status} == 101 && $r->{echo_ok},
            "hash: room $room upgraded and echoes");
        push @{ $seen{$room} }, $r ? hdr($r, 'x-backend') // '' : '';
    }
    is(scalar(keys %{ { map { $_ => 1 } @{ $seen{a} } } }), 1,
        'hash: the same key goes to the same server');
    my %servers = map { $_->[0] => 1 } values %seen;
    is(join(',', sort keys %servers), 'A,B', 'hash: both servers used');
}

{
    my %servers;
    for (1 .. 3) {
        my $r = upgrade_echo('/iphash/');
        ok($r && $r->{status} == 101 && $r->{echo_ok}, 'ip_hash: upgraded');
        $servers{ $r ? hdr($r, 'x-backend') // '' : '' } = 1;
    }
    is(scalar keys %servers, 1, 'ip_hash: one client address, one server');
}

$t->stop;
done_testing;
