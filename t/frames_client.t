# Protocol violations by the client: the client gets close 1002 (1009 for
# size limits), the backend close 1001, the bad frame and what follows it
# are never forwarded.  Also the valid counterparts, forwarded exactly.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time);
use WsTest;
use WsCases;

my $t = WsTest->new;
my $l = listener();
my $bp = $l->sockport;

$t->run(server => <<"SERVER");
        location / {
            ws_pass http://127.0.0.1:$bp;
            ws_close_timeout 30s;
        }
        location /limits/ {
            ws_pass http://127.0.0.1:$bp;
            ws_max_frame_size 1k;
            ws_max_message_size 2k;
            ws_close_timeout 30s;
        }
        location /short/ {
            ws_pass http://127.0.0.1:$bp;
            ws_close_timeout 1s;
        }
SERVER

for my $case (protocol_cases(1)) {
    $t->violation($l, side => 'client', %$case);
}

# the access log of a violation
{
    $t->violation($l, side => 'client', name => 'access log',
        path => '/short/x', bad => cframe(OP_TEXT, 'x', rsv => 4),
        reason => 'reserved bits set');
    my $e = $t->access_entry('/short/x');
    ok($e, 'access log line written');
    is($e->{code}, 1002, 'access log: $ws_close_code 1002') if $e;
    is($e->{initiator}, 'proxy', 'access log: $ws_close_initiator proxy')
        if $e;
    is($e->{frames_out}, 1, 'access log: one frame to the client (the close)')
        if $e;
    is($e->{bytes_out}, 4, 'access log: 4 bytes to the client') if $e;
    is($e->{status}, 101, 'access log: status 101') if $e;
}

# no replies to the proxy's close frames: closed after ws_close_timeout
{
    my $start = time;
    $t->violation($l, side => 'client', name => 'no close replies',
        path => '/short/', bad => sframe(OP_TEXT, 'unmasked'),
        reason => 'unmasked frame', no_reply => 1);
    my $took = time - $start;
    cmp_ok($took, '>=', 0.8, 'no close replies: waited for ws_close_timeout');
}

# the proxy waits for the offender's close reply as well
{
    my $p = $t->ws_pair($l);
    my ($c, $b) = @$p{qw(client backend)};
    send_all($c, cframe(OP_TEXT, 'x', rsv => 4));
    masked_close_ok(read_frame($b), 1001, 'offender reply: backend got 1001');
    frame_ok(read_frame($c), "\x88\x02\x03\xea",
        'offender reply: client got 1002');
    send_all($b, sframe(OP_CLOSE, close_payload(1001)));
    my (undef, $st) = read_avail($c, 0.5);
    is($st, 'timeout', 'offender reply: client connection still open for '
        . 'its close reply');
    send_all($c, cframe(OP_CLOSE, close_payload(1002)));
    expect_eof($c, 'offender reply: client connection closed after it');
    expect_eof($b, 'offender reply: backend connection closed');
}

# size limits
$t->violation($l, side => 'client', name => 'binary frame over 1k',
    path => '/limits/', bad => cframe(OP_BINARY, 'b' x 1025),
    before => [cframe(OP_BINARY, 'a' x 1024)],
    reason => 'frame too big', code => 1009);
$t->violation($l, side => 'client', name => 'text frame over 1k',
    path => '/limits/', bad => cframe(OP_TEXT, 't' x 1025),
    before => [cframe(OP_TEXT, 'a' x 1024)],
    reason => 'frame too big', code => 1009);
$t->violation($l, side => 'client', name => 'header of a huge frame',
    path => '/limits/', bad => substr(cframe(OP_BINARY, 'x' x 70000), 0, 14),
    reason => 'frame too big', code => 1009);
$t->violation($l, side => 'client', name => 'continuation over 1k',
    path => '/limits/', before => [cframe(OP_BINARY, 'a', fin => 0)],
    bad => cframe(OP_CONT, 'b' x 1025),
    reason => 'frame too big', code => 1009);
$t->violation($l, side => 'client', name => 'binary message over 2k',
    path => '/limits/',
    before => [cframe(OP_BINARY, 'a' x 1000, fin => 0),
               cframe(OP_CONT, 'b' x 1000, fin => 0)],
    bad => cframe(OP_CONT, 'c' x 100),
    reason => 'message too big', code => 1009);
$t->violation($l, side => 'client', name => 'text message over 2k',
    path => '/limits/',
    before => [cframe(OP_TEXT, 'a' x 1024, fin => 0),
               cframe(OP_PING, 'between'),
               cframe(OP_CONT, 'b' x 1024, fin => 0)],
    bad => cframe(OP_CONT, 'c'),
    reason => 'message too big', code => 1009);

# valid frames at the limits pass exactly
{
    my $p = $t->ws_pair($l, path => '/limits/');
    my $data = join '',
        cframe(OP_BINARY, 'a' x 1024),
        cframe(OP_TEXT, 't' x 1024),
        cframe(OP_BINARY, 'a' x 1024, fin => 0),
        cframe(OP_CONT, 'b' x 1000, fin => 0),
        cframe(OP_PING, 'p' x 125),
        cframe(OP_CONT, 'c' x 24),
        cframe(OP_TEXT, '', fin => 0),
        cframe(OP_CONT, 'd' x 1024, fin => 0),
        cframe(OP_CONT, 'e' x 1024),
        cframe(OP_PONG, ''),
        cframe(OP_PING, '');
    send_all($p->{client}, $data);
    my ($got) = read_exact($p->{backend}, length $data, 5);
    bytes_is($got, $data, 'frames and messages at the size limits pass');
    close_pair($p);
}

# valid close codes are forwarded exactly, both ways
for my $code (close_code_cases()) {
    my $p = $t->ws_pair($l);
    my $cl = cframe(OP_CLOSE, close_payload($code, "r\xc3\xa9ason"));
    send_all($p->{client}, $cl);
    frame_ok(read_frame($p->{backend}), $cl, "close $code forwarded");
    my $reply = sframe(OP_CLOSE, close_payload($code));
    send_all($p->{backend}, $reply);
    frame_ok(read_frame($p->{client}), $reply, "close $code reply forwarded");
    expect_eof($p->{client}, "close $code: client connection closed");
    expect_eof($p->{backend}, "close $code: backend connection closed");
}

$t->stop;
done_testing;
