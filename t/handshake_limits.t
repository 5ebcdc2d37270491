# nginx's own limits on the handshake of a ws_pass location: limit_req
# (refused handshakes answered by nginx, never reaching the backend, logged
# with $ws_reject_reason "limit"; a refused Origin not counted), and
# client_header_timeout bounding a handshake head that trickles in
# (slowloris).  limit_conn holding its slot
# for the whole WebSocket is in t/safety.t.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use WsTest;

my $t = WsTest->new;
my $rec = $t->dir . '/backend.req';
my $bp = echo_backend(record => $rec);

$t->run(http => <<"HTTP", server => <<"SERVER");
    limit_req_zone \$binary_remote_addr zone=hs:1m rate=1r/m;
    limit_req_zone \$binary_remote_addr zone=hs2:1m rate=1r/m;
    client_header_timeout 1s;
HTTP
        location /req/ {
            ws_pass http://127.0.0.1:$bp;
            limit_req zone=hs burst=2 nodelay;
            limit_req_status 429;
        }
        location /origin/ {
            ws_pass http://127.0.0.1:$bp;
            ws_origin https://app.example.com;
            limit_req zone=hs2;
        }
SERVER

# Status of a handshake; the WebSocket is closed politely when upgraded.
sub handshake {
    my (%o) = @_;
    my $c = $t->client_handshake(%o);
    my $head = read_head($c, 10);
    my $res = $head ? parse_head($head) : undef;
    if ($res && $res->{status} == 101) {
        send_all($c, cframe(OP_CLOSE, close_payload(1000)));
        read_frame($c, 5);
        read_until_eof($c, 5);
    }
    close $c;
    return $res ? $res->{status} : 0;
}

sub backend_requests {
    my $r = read_file($rec) // '';
    my @n = $r =~ /^GET /mg;
    return scalar @n;
}

# limit_req: one handshake and a burst of two, then 429

{
    unlink $rec;
    $t->mark;
    is(handshake(path => "/req/$_"), 101, "limit_req: handshake $_ passes")
        for 1 .. 3;
    is(handshake(path => '/req/4'), 429, 'limit_req: the next one gets 429');
    $t->log_ok('error', qr/limiting requests, excess: 3\.000 by zone "hs"/,
        'limit_req logs the refusal');
    my $e = $t->access_entry('/req/4');
    is($e && $e->{status}, 429, 'access log: 429');
    is($e && $e->{reject}, 'limit', '$ws_reject_reason: limit');
    is(backend_requests(), 3, 'the refused handshake never reached the '
        . 'backend');
}

# a refused Origin is answered first and not counted by limit_req

{
    unlink $rec;
    is(handshake(path => '/origin/a', host => 'localhost',
        headers => ['Origin: https://evil.example']), 403,
        'refused origin: 403');
    is(handshake(path => '/origin/b', host => 'localhost',
        headers => ['Origin: https://app.example.com']), 101,
        'the next allowed handshake is within the rate');
    is(handshake(path => '/origin/c', host => 'localhost',
        headers => ['Origin: https://app.example.com']), 503,
        'then limit_req refuses (503 by default)');
    is(backend_requests(), 1, 'only the allowed one reached the backend');
}

# client_header_timeout: a handshake head that never completes

{
    unlink $rec;
    $t->mark;
    my $c = $t->client;
    my $req = handshake_request(path => '/req/slow');
    send_all($c, substr($req, 0, 40));
    my $start = time;
    my ($d, $st) = read_until_eof($c, 10);
    my $took = time - $start;
    is($st, 'eof', 'slow handshake head: connection closed');
    is($d, '', 'without a response');
    cmp_ok($took, '<', 5, 'within about client_header_timeout');
    close $c;
    my $re = 'client timed out \(\d+: Connection timed out\) '
        . 'while reading client request headers';
    $t->log_ok('info', qr/$re/, 'log line of the timeout');
    ok(!-e $rec, 'the backend never saw it');
}

done_testing;
