# The close handshake through the proxy, started by either side, at the
# same time by both, without a reply (ws_close_timeout), and the access
# log variables written when the WebSocket ends.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use WsTest;

my $t = WsTest->new;
my $l = listener();
my $bp = $l->sockport;

$t->run(server => <<"SERVER");
        location / {
            ws_pass http://127.0.0.1:$bp;
            ws_close_timeout 30s;
        }
        location /short/ {
            ws_pass http://127.0.0.1:$bp;
            ws_close_timeout 1s;
        }
SERVER

sub entry_ok {
    my ($uri, $want, $name) = @_;
    my $e = $t->access_entry($uri);
    ok($e, "$name: access log line") or return;
    for my $k (sort keys %$want) {
        is($e->{$k}, $want->{$k}, "$name: access log $k");
    }
    like($e->{duration}, qr/^\d+\.\d{3}$/, "$name: duration format");
    return $e;
}

# started by the client
{
    $t->mark;
    my $p = $t->ws_pair($l, path => '/c');
    my ($c, $b) = @$p{qw(client backend)};
    my $in = cframe(OP_TEXT, 'hello') . cframe(OP_BINARY, 'x' x 200);
    my $out = sframe(OP_TEXT, 'hi there');
    send_all($c, $in);
    send_all($b, $out);
    my ($got) = read_exact($b, length $in);
    bytes_is($got, $in, 'client close: data before it');
    ($got) = read_exact($c, length $out);
    bytes_is($got, $out, 'client close: data from the backend');

    my $cl = cframe(OP_CLOSE, close_payload(1000, 'bye'));
    send_all($c, $cl);
    frame_ok(read_frame($b), $cl, 'client close: backend got it exactly');

    my $data = sframe(OP_TEXT, 'still sending before my close');
    my $reply = sframe(OP_CLOSE, close_payload(1000, 'bye too'));
    send_all($b, $data . $reply);
    frame_ok(read_frame($c), $data,
        'client close: backend data before its reply passes');
    frame_ok(read_frame($c), $reply, 'client close: reply passes exactly');
    expect_eof($c, 'client close: client connection closed');
    expect_eof($b, 'client close: backend connection closed');
    close $c;
    close $b;
    entry_ok('/c', {
        code => 1000, initiator => 'client', status => 101,
        frames_in => 3, bytes_in => length($in . $cl),
        frames_out => 3, bytes_out => length($out . $data . $reply),
    }, 'client close');
}

# started by the backend
{
    $t->mark;
    my $p = $t->ws_pair($l, path => '/u');
    my ($c, $b) = @$p{qw(client backend)};
    my $cl = sframe(OP_CLOSE, close_payload(1001, 'going away'));
    send_all($b, sframe(OP_PING, 'p') . $cl);
    frame_ok(read_frame($c), sframe(OP_PING, 'p'), 'backend close: ping');
    frame_ok(read_frame($c), $cl, 'backend close: client got it exactly');
    my $pong = cframe(OP_PONG, 'p');
    my $reply = cframe(OP_CLOSE, close_payload(1001));
    send_all($c, $pong . $reply);
    frame_ok(read_frame($b), $pong, 'backend close: pong passes');
    frame_ok(read_frame($b), $reply, 'backend close: reply passes exactly');
    expect_eof($c, 'backend close: client connection closed');
    expect_eof($b, 'backend close: backend connection closed');
    close $c;
    close $b;
    entry_ok('/u', {
        code => 1001, initiator => 'upstream', status => 101,
        frames_in => 2, bytes_in => length($pong . $reply),
        frames_out => 2, bytes_out => length(sframe(OP_PING, 'p') . $cl),
    }, 'backend close');
}

# frames a side sends after its own close are discarded
for my $dir ('client', 'upstream') {
    my $p = $t->ws_pair($l);
    my ($from, $to) = $dir eq 'client' ? @$p{qw(client backend)}
        : @$p{qw(backend client)};
    my $mk = $dir eq 'client' ? \&cframe : \&sframe;
    my $cl = $mk->(OP_CLOSE, close_payload(1000, 'bye'));
    send_all($from, $cl . $mk->(OP_TEXT, 'after my close')
        . $mk->(OP_PING, 'ping after my close'));
    frame_ok(read_frame($to), $cl, "$dir close: forwarded exactly");
    my ($more) = read_avail($to, 0.3);
    bytes_is($more, '', "$dir close: frames after it are discarded");
    my $reply = ($dir eq 'client' ? \&sframe : \&cframe)->(OP_CLOSE,
        close_payload(1000));
    send_all($to, $reply);
    frame_ok(read_frame($from), $reply, "$dir close: reply forwarded");
    expect_eof($p->{client}, "$dir close: client connection closed");
    expect_eof($p->{backend}, "$dir close: backend connection closed");
}

# both at once
{
    $t->mark;
    my $p = $t->ws_pair($l, path => '/both');
    my ($c, $b) = @$p{qw(client backend)};
    my $cc = cframe(OP_CLOSE, close_payload(1000, 'client'));
    my $bc = sframe(OP_CLOSE, close_payload(4000, 'backend'));
    send_all($c, $cc);
    send_all($b, $bc);
    frame_ok(read_frame($b), $cc, 'simultaneous: backend got the client close');
    frame_ok(read_frame($c), $bc, 'simultaneous: client got the backend close');
    expect_eof($c, 'simultaneous: client connection closed');
    expect_eof($b, 'simultaneous: backend connection closed');
    close $c;
    close $b;
    my $e = $t->access_entry('/both');
    ok($e && ($e->{code} == 1000 && $e->{initiator} eq 'client'
        || $e->{code} == 4000 && $e->{initiator} eq 'upstream'),
        'simultaneous: access log names one of the two')
        or diag($e ? $e->{line} : 'no line');
}

# an empty close frame
{
    $t->mark;
    my $p = $t->ws_pair($l, path => '/empty');
    my ($c, $b) = @$p{qw(client backend)};
    my $cl = cframe(OP_CLOSE, '');
    send_all($c, $cl);
    frame_ok(read_frame($b), $cl, 'empty close passes');
    send_all($b, sframe(OP_CLOSE, ''));
    frame_ok(read_frame($c), "\x88\x00", 'empty close reply passes');
    expect_eof($c, 'empty close: client connection closed');
    expect_eof($b, 'empty close: backend connection closed');
    close $c;
    close $b;
    entry_ok('/empty', { code => 1005, initiator => 'client' },
        'empty close');
}

# no reply within ws_close_timeout
{
    $t->mark;
    my $p = $t->ws_pair($l, path => '/short/c');
    my ($c, $b) = @$p{qw(client backend)};
    my $cl = cframe(OP_CLOSE, close_payload(1000));
    my $start = time;
    send_all($c, $cl);
    frame_ok(read_frame($b), $cl, 'no reply: backend got the close');
    expect_eof($c, 'no reply from the backend: client connection closed', 10);
    cmp_ok(time - $start, '>=', 0.8, 'no reply: waited for ws_close_timeout');
    expect_eof($b, 'no reply from the backend: backend connection closed');
    close $c;
    close $b;
    entry_ok('/short/c', { code => 1000, initiator => 'client' },
        'no reply');
    $t->log_ok('*', 'ws: close handshake timed out', 'no reply: logged');
}

{
    my $p = $t->ws_pair($l, path => '/short/u');
    my ($c, $b) = @$p{qw(client backend)};
    my $cl = sframe(OP_CLOSE, close_payload(1000));
    my $start = time;
    send_all($b, $cl);
    frame_ok(read_frame($c), $cl, 'no reply: client got the close');
    expect_eof($b, 'no reply from the client: backend connection closed', 10);
    cmp_ok(time - $start, '>=', 0.8, 'no reply: waited for ws_close_timeout');
    expect_eof($c, 'no reply from the client: client connection closed');
}

# data keeps flowing towards the side that started the closing until the
# other side closes too (RFC 6455 5.5.1)
{
    my $p = $t->ws_pair($l);
    my ($c, $b) = @$p{qw(client backend)};
    my $cl = cframe(OP_CLOSE, close_payload(1000));
    send_all($c, $cl);
    frame_ok(read_frame($b), $cl, 'half-closed: backend got the close');
    my $big = sframe(OP_BINARY, binary_payload(300000));
    my ($got) = pump(writes => [[$b, $big]], reads => [[$c, length $big]]);
    bytes_is($got->[0], $big, 'half-closed: backend data still reaches the '
        . 'client');
    my $reply = sframe(OP_CLOSE, close_payload(1000));
    send_all($b, $reply);
    frame_ok(read_frame($c), $reply, 'half-closed: reply');
    expect_eof($c, 'half-closed: client connection closed');
    expect_eof($b, 'half-closed: backend connection closed');
}

$t->stop;
done_testing;
