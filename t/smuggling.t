# A backend that refuses the upgrade: its answer goes to the client as an
# ordinary response, the client connection is closed after it, and the
# bytes the client sent after its handshake never reach the backend.

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

my $smuggled = "GET /admin HTTP/1.1\r\nHost: internal\r\n\r\n";
my $frames = cframe(OP_TEXT, 'frame after the handshake')
    . cframe(OP_BINARY, "\x00\x01\x02");

# The client sends its handshake followed by $after in one write; the
# backend answers $answer (and closes when $close).  Checks the client's
# response, that the client connection is closed after it, and that the
# backend received nothing after the request head.
sub refused_upgrade {
    my ($name, %o) = @_;
    $t->mark;
    my $c = $t->client_handshake(after => $o{after});
    my $b = accept_conn($l, 5);
    ok($b, "$name: backend got the handshake") or return;
    my $head = read_head($b, 5);
    like($head // '', qr{^GET / HTTP/1\.1\r\n}, "$name: request head");
    send_all($b, $o{answer});
    my ($early) = read_avail($b, 0.5);
    if ($o{close}) {
        close $b;
    }
    my $r = read_response($c, 5);
    ok($r, "$name: client got a response") or return;
    is($r->{status}, $o{status}, "$name: status $o{status} passed");
    bytes_is($r->{body}, $o{body}, "$name: body passed");
    isnt(lc(hdr($r, 'upgrade') // ''), 'websocket',
        "$name: no Upgrade header to the client");
    expect_eof($c, "$name: client connection closed after the response");
    if (!$o{close}) {
        my ($late, $st) = read_until_eof($b, 5);
        is($st, 'eof', "$name: nginx closed the backend connection");
        bytes_is($early . $late, '', "$name: nothing after the request head "
            . 'reached the backend');
        close $b;
    } else {
        bytes_is($early, '', "$name: nothing after the request head reached "
            . 'the backend');
    }
    $t->log_ok('info', "ws: upstream refused the upgrade with status "
        . "$o{status}", "$name: logged");
    ok(!accept_conn($l, 0.3), "$name: no second connection to the backend");
    close $c;
}

refused_upgrade('403 with Content-Length', after => $smuggled,
    answer => "HTTP/1.1 403 Forbidden\r\nContent-Length: 10\r\n"
        . "Content-Type: text/plain\r\n\r\nforbidden\n",
    status => 403, body => "forbidden\n");

refused_upgrade('403 then frames', after => $frames,
    answer => "HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno\n",
    status => 403, body => "no\n");

refused_upgrade('200 chunked', after => $smuggled . $frames,
    answer => "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        . "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    status => 200, body => 'hello world');

refused_upgrade('404 close-delimited', after => $smuggled, close => 1,
    answer => "HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n"
        . "not found, and the body ends with the connection",
    status => 404, body => 'not found, and the body ends with the connection');

# an HTTP/1.0 answer is no WebSocket handshake answer: passed as it is
# (then the client connection ends) or refused with 502; the pipelined
# request never reaches the backend
{
    my $c = $t->client_handshake(after => $smuggled);
    my $b = accept_conn($l, 5);
    read_head($b, 5);
    send_all($b, "HTTP/1.0 403 Forbidden\r\n\r\ngo away");
    my ($early) = read_avail($b, 0.5);
    close $b;
    my $r = read_response($c, 5);
    like($r ? $r->{status} : '', qr/^(403|502)$/,
        'HTTP/1.0 403: passed or refused');
    if ($r && $r->{status} == 403) {
        expect_eof($c, 'HTTP/1.0 403: client connection closed after the '
            . 'response');
    }
    bytes_is($early, '', 'HTTP/1.0 403: nothing after the request head '
        . 'reached the backend');
    ok(!accept_conn($l, 0.5), 'HTTP/1.0 403: no second connection to the '
        . 'backend');
    close $c;
}

refused_upgrade('200 with frames after its body', after => $frames,
    answer => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        . sframe(OP_TEXT, 'smuggled frame from the backend'),
    status => 200, body => 'ok');

refused_upgrade('426 from the backend', after => $smuggled,
    answer => "HTTP/1.1 426 Upgrade Required\r\nContent-Length: 4\r\n"
        . "\r\nnope",
    status => 426, body => 'nope');

$t->stop;
done_testing;
