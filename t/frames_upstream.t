# Protocol violations by the backend: the backend gets close 1002 (1009
# for size limits, masked), the client close 1011, the bad frame and what
# follows it are never forwarded.  Also the valid counterparts.

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

for my $case (protocol_cases(0)) {
    $t->violation($l, side => 'upstream', %$case);
}

{
    $t->violation($l, side => 'upstream', name => 'access log',
        path => '/short/x', bad => sframe(OP_TEXT, 'x', rsv => 4),
        reason => 'reserved bits set');
    my $e = $t->access_entry('/short/x');
    ok($e, 'access log line written');
    is($e->{code}, 1002, 'access log: $ws_close_code 1002') if $e;
    is($e->{initiator}, 'proxy', 'access log: $ws_close_initiator proxy')
        if $e;
    is($e->{frames_out}, 1, 'access log: one frame to the client (the close)')
        if $e;
    is($e->{bytes_out}, 4, 'access log: 4 bytes to the client') if $e;
}

{
    my $start = time;
    $t->violation($l, side => 'upstream', name => 'no close replies',
        path => '/short/', bad => cframe(OP_TEXT, 'masked'),
        reason => 'masked frame', no_reply => 1);
    cmp_ok(time - $start, '>=', 0.8,
        'no close replies: waited for ws_close_timeout');
}

# the proxy waits for the offender's close reply as well
{
    my $p = $t->ws_pair($l);
    my ($c, $b) = @$p{qw(client backend)};
    send_all($b, sframe(OP_TEXT, 'x', rsv => 4));
    frame_ok(read_frame($c), "\x88\x02\x03\xf3",
        'offender reply: client got 1011');
    masked_close_ok(read_frame($b), 1002, 'offender reply: backend got 1002');
    send_all($c, cframe(OP_CLOSE, close_payload(1011)));
    my (undef, $st) = read_avail($b, 0.5);
    is($st, 'timeout', 'offender reply: backend connection still open for '
        . 'its close reply');
    send_all($b, sframe(OP_CLOSE, close_payload(1002)));
    expect_eof($b, 'offender reply: backend connection closed after it');
    expect_eof($c, 'offender reply: client connection closed');
}

$t->violation($l, side => 'upstream', name => 'binary frame over 1k',
    path => '/limits/', bad => sframe(OP_BINARY, 'b' x 1025),
    before => [sframe(OP_BINARY, 'a' x 1024)],
    reason => 'frame too big', code => 1009);
$t->violation($l, side => 'upstream', name => 'text frame over 1k',
    path => '/limits/', bad => sframe(OP_TEXT, 't' x 1025),
    before => [sframe(OP_TEXT, 'a' x 1024)],
    reason => 'frame too big', code => 1009);
$t->violation($l, side => 'upstream', name => 'header of a huge frame',
    path => '/limits/', bad => substr(sframe(OP_BINARY, 'x' x 70000), 0, 10),
    reason => 'frame too big', code => 1009);
$t->violation($l, side => 'upstream', name => 'binary message over 2k',
    path => '/limits/',
    before => [sframe(OP_BINARY, 'a' x 1000, fin => 0),
               sframe(OP_CONT, 'b' x 1000, fin => 0)],
    bad => sframe(OP_CONT, 'c' x 100),
    reason => 'message too big', code => 1009);
$t->violation($l, side => 'upstream', name => 'text message over 2k',
    path => '/limits/',
    before => [sframe(OP_TEXT, 'a' x 1024, fin => 0),
               sframe(OP_PONG, 'between'),
               sframe(OP_CONT, 'b' x 1024, fin => 0)],
    bad => sframe(OP_CONT, 'c'),
    reason => 'message too big', code => 1009);

{
    my $p = $t->ws_pair($l, path => '/limits/');
    my $data = join '',
        sframe(OP_BINARY, 'a' x 1024),
        sframe(OP_TEXT, 't' x 1024),
        sframe(OP_BINARY, 'a' x 1024, fin => 0),
        sframe(OP_CONT, 'b' x 1000, fin => 0),
        sframe(OP_PING, 'p' x 125),
        sframe(OP_CONT, 'c' x 24),
        sframe(OP_TEXT, '', fin => 0),
        sframe(OP_CONT, 'd' x 1024, fin => 0),
        sframe(OP_CONT, 'e' x 1024),
        sframe(OP_PONG, ''),
        sframe(OP_PING, '');
    send_all($p->{backend}, $data);
    my ($got) = read_exact($p->{client}, length $data, 5);
    bytes_is($got, $data, 'frames and messages at the size limits pass');
    close_pair($p);
}

for my $code (close_code_cases()) {
    my $p = $t->ws_pair($l);
    my $cl = sframe(OP_CLOSE, close_payload($code, "r\xc3\xa9ason"));
    send_all($p->{backend}, $cl);
    frame_ok(read_frame($p->{client}), $cl, "close $code forwarded");
    my $reply = cframe(OP_CLOSE, close_payload($code));
    send_all($p->{client}, $reply);
    frame_ok(read_frame($p->{backend}), $reply, "close $code reply forwarded");
    expect_eof($p->{client}, "close $code: client connection closed");
    expect_eof($p->{backend}, "close $code: backend connection closed");
}

$t->stop;
done_testing;
