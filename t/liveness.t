# Ping/pong liveness and ws_frame_timeout: the proxy pings a side that sent
# nothing for ws_ping_interval, takes its own pong out of the stream
# ($ws_ping_rtt, $ws_pings), closes a side that does not answer within
# ws_pong_timeout without a close handshake (1001 to the other side,
# initiator proxy), lets the peers' own pings and pongs through, and closes
# a frame that trickles in for longer than ws_frame_timeout with 1008.  A
# ping due during a frame in flight waits for its end, and its pong timeout
# starts when it is written; a client that only answers pings is pinged
# every interval; a reload while throttling and pinging closes
# both sides with 1001.  The defaults: a healthy idle client stays, a
# vanished one is closed within a minute.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use WsTest;

my $t = WsTest->new;
my $l = listener();
my $lp = $l->sockport;

$t->run(server => <<"SERVER");
        location /ping/ {
            ws_pass http://127.0.0.1:$lp;
            ws_ping_interval 1s;
            ws_pong_timeout 1s;
        }
        location /up/ {
            ws_pass http://127.0.0.1:$lp;
            ws_ping_interval 1s;
            ws_pong_timeout 1s;
            ws_ping_upstream on;
        }
        location /longpong/ {
            ws_pass http://127.0.0.1:$lp;
            ws_ping_interval 1s;
            ws_pong_timeout 3s;
        }
        location /off/ {
            ws_pass http://127.0.0.1:$lp;
            ws_ping_interval off;
        }
        location /frame/ {
            ws_pass http://127.0.0.1:$lp;
            ws_frame_timeout 1s;
            ws_ping_interval off;
        }
        location /default/ {
            ws_pass http://127.0.0.1:$lp;
        }
        location /throttled/ {
            ws_pass http://127.0.0.1:$lp;
            ws_ping_interval 1s;
            ws_pong_timeout 1s;
            ws_ping_upstream on;
            ws_limit_messages 1r/s;
            ws_close_timeout 2s;
        }
SERVER

sub close_code_of {
    my ($f) = @_;
    return undef if $f->{error} || $f->{opcode} != OP_CLOSE;
    return unpack 'n', substr($f->{payload}, 0, 2);
}

# The next frame that is not a data frame echo; undef on timeout.
sub next_frame {
    my ($s, $timeout) = @_;
    my $f = read_frame($s, $timeout);
    return $f->{error} ? undef : $f;
}

sub end_pair {
    my ($c, $b) = @_;
    send_all($c, cframe(OP_CLOSE, close_payload(1000)));
    my $fb = next_frame($b, 5);
    send_all($b, sframe(OP_CLOSE, close_payload(1000))) if $fb;
    next_frame($c, 5);
    close $c;
    close $b;
}

# an idle client is pinged; its pong is the proxy's and goes nowhere

{
    $t->mark;
    my $p = $t->ws_pair($l, path => '/ping/a');
    my ($c, $b) = @$p{qw(client backend)};
    my $start = time;
    my $f = next_frame($c, 5);
    ok($f && $f->{opcode} == OP_PING, 'idle client: pinged');
    my $took = time - $start;
    cmp_ok($took, '>=', 0.9, 'not before ws_ping_interval');
    cmp_ok($took, '<', 3, 'within twice ws_ping_interval');
    is(length($f->{payload} // ''), 8, 'an 8-byte payload');
    ok(!$f->{masked}, 'unmasked, as a server frame');
    send_all($c, cframe(OP_PONG, $f->{payload}));
    send_all($c, cframe(OP_TEXT, 'after pong'));
    my $fb = next_frame($b, 5);
    is($fb && $fb->{opcode}, OP_TEXT,
        'the pong never reaches the backend: the next frame is the text');
    is($fb && $fb->{payload}, 'after pong', 'the text itself');

    # the next ping carries another payload
    my $f2 = next_frame($c, 5);
    ok($f2 && $f2->{opcode} == OP_PING, 'pinged again');
    isnt($f2 && $f2->{payload}, $f->{payload}, 'with another payload');

    # an old payload's echo is the client's own pong: it passes
    send_all($c, cframe(OP_PONG, $f->{payload}));
    $fb = next_frame($b, 5);
    is($fb && $fb->{opcode}, OP_PONG, 'a stale pong passes to the backend');
    send_all($c, cframe(OP_PONG, $f2->{payload}));
    send_all($c, cframe(OP_TEXT, 'x'));
    $fb = next_frame($b, 5);
    is($fb && $fb->{payload}, 'x', 'the awaited one does not');

    end_pair($c, $b);
    my $e = $t->access_entry('/ping/a');
    ok($e && $e->{pings} >= 2, 'access log: $ws_pings') or diag explain $e;
    like($e && $e->{rtt}, qr/^\d+$/, 'access log: $ws_ping_rtt in ms');
    cmp_ok($e && $e->{rtt} // 9999, '<', 1000, 'a loopback round trip');
}

# a client that only answers pings is heard at its pong: pinged again one
# interval later (not an interval after the pong timeout's check)

{
    my $p = $t->ws_pair($l, path => '/ping/pongs');
    my ($c, $b) = @$p{qw(client backend)};
    my @at;
    for (1 .. 4) {
        my $f = next_frame($c, 5);
        last unless $f && $f->{opcode} == OP_PING;
        push @at, time;
        send_all($c, cframe(OP_PONG, $f->{payload}));
    }
    is(scalar @at, 4, 'ponging client: pinged 4 times');
    my @gaps = map { $at[$_] - $at[$_ - 1] } 1 .. $#at;
    for my $g (@gaps) {
        cmp_ok($g, '>=', 0.95, 'ponging client: not before the interval');
        # 1 s, on the 256 ms grid of the timer
        cmp_ok($g, '<', 1.6, 'ponging client: pinged every interval')
            or diag("gaps @gaps");
    }
    end_pair($c, $b);
}

# the same with a pong timeout longer than the interval: the timer that
# waited for the pong wakes for the next ping (it was pinged every pong
# timeout)

{
    my $p = $t->ws_pair($l, path => '/longpong/');
    my ($c, $b) = @$p{qw(client backend)};
    my @at;
    for (1 .. 4) {
        my $f = next_frame($c, 5);
        last unless $f && $f->{opcode} == OP_PING;
        push @at, time;
        send_all($c, cframe(OP_PONG, $f->{payload}));
    }
    is(scalar @at, 4, 'long pong timeout: pinged 4 times');
    my @gaps = map { $at[$_] - $at[$_ - 1] } 1 .. $#at;
    for my $g (@gaps) {
        cmp_ok($g, '>=', 0.95, 'long pong timeout: not before the interval');
        cmp_ok($g, '<', 1.6, 'long pong timeout: pinged every interval')
            or diag("gaps @gaps");
    }
    end_pair($c, $b);
}

# the peers' own pings and pongs pass untouched, both ways

{
    my $p = $t->ws_pair($l, path => '/off/own');
    my ($c, $b) = @$p{qw(client backend)};
    send_all($c, cframe(OP_PING, 'client ping'));
    my $f = next_frame($b, 5);
    ok($f && $f->{opcode} == OP_PING && $f->{payload} eq 'client ping',
        "the client's ping reaches the backend");
    send_all($b, sframe(OP_PONG, 'client ping'));
    $f = next_frame($c, 5);
    ok($f && $f->{opcode} == OP_PONG && $f->{payload} eq 'client ping',
        "the backend's pong reaches the client");
    send_all($b, sframe(OP_PING, 'backend ping'));
    $f = next_frame($c, 5);
    ok($f && $f->{opcode} == OP_PING, "the backend's ping reaches the client");
    send_all($c, cframe(OP_PONG, 'backend ping'));
    $f = next_frame($b, 5);
    ok($f && $f->{opcode} == OP_PONG, "the client's pong reaches the backend");

    # ws_ping_interval off: no ping of the proxy's
    $f = next_frame($c, 2.5);
    ok(!$f, 'ws_ping_interval off: nothing in 2.5 s');
    end_pair($c, $b);
}

# an active client is not pinged: any byte from it is a sign of life

{
    my $p = $t->ws_pair($l, path => '/ping/active');
    my ($c, $b) = @$p{qw(client backend)};
    my $pinged = 0;
    for (1 .. 10) {
        send_all($c, cframe(OP_TEXT, "m$_"));
        my $fb = next_frame($b, 5);
        send_all($b, sframe(OP_TEXT, $fb->{payload})) if $fb;
        my $f = next_frame($c, 5);
        $pinged++ if $f && $f->{opcode} == OP_PING;
        sleep 0.3;
    }
    is($pinged, 0, 'a client sending every 0.3 s is never pinged');
    end_pair($c, $b);
}

# an answer other than the pong counts too

{
    my $p = $t->ws_pair($l, path => '/ping/other');
    my ($c, $b) = @$p{qw(client backend)};
    my $f = next_frame($c, 5);
    ok($f && $f->{opcode} == OP_PING, 'pinged');
    send_all($c, cframe(OP_TEXT, 'busy'));
    sleep 1.5;
    my $fb = next_frame($b, 5);
    is($fb && $fb->{payload}, 'busy', 'its text went on');
    send_all($b, sframe(OP_TEXT, 'still there'));
    $f = next_frame($c, 5);
    $f = next_frame($c, 5) while $f && $f->{opcode} == OP_PING;
    is($f && $f->{payload}, 'still there',
        'not closed: a data frame instead of the pong is a sign of life');
    end_pair($c, $b);
}

# a client that does not answer is gone: closed without a close handshake

{
    $t->mark;
    my $p = $t->ws_pair($l, path => '/ping/gone');
    my ($c, $b) = @$p{qw(client backend)};
    my $start = time;
    my $f = next_frame($c, 5);
    ok($f && $f->{opcode} == OP_PING, 'pinged');
    my $fb = next_frame($b, 5);
    my $took = time - $start;
    is(close_code_of($fb), 1001, 'no pong: 1001 to the backend');
    cmp_ok($took, '>=', 1.8, 'after ws_pong_timeout');
    cmp_ok($took, '<', 4, 'soon after it');
    send_all($b, sframe(OP_CLOSE, close_payload(1001)));
    my ($rest, $st) = read_until_eof($c, 5);
    is($st, 'eof', 'the client connection is closed');
    is(length($rest // ''), 0, 'without a close frame to the client');
    expect_eof($b, 'the backend connection is closed');
    close $c;
    close $b;
    $t->log_ok('info', 'ws: client did not answer ping, closing');
    my $e = $t->access_entry('/ping/gone');
    is($e && $e->{initiator}, 'proxy', 'access log: initiator proxy');
    is($e && $e->{code}, 1006, 'access log: 1006, the client vanished');
}

# ws_ping_upstream: the backend is pinged too, and a silent one is gone

{
    $t->mark;
    my $p = $t->ws_pair($l, path => '/up/b');
    my ($c, $b) = @$p{qw(client backend)};
    my $fb = next_frame($b, 5);
    ok($fb && $fb->{opcode} == OP_PING, 'the backend is pinged');
    ok($fb && $fb->{masked}, 'masked, as a client frame');
    my $fc = next_frame($c, 5);
    ok($fc && $fc->{opcode} == OP_PING, 'and the client');
    send_all($c, cframe(OP_PONG, $fc->{payload}));

    # the backend never answers
    my $f;
    for (1 .. 5) {
        $f = next_frame($c, 5);
        last unless $f && $f->{opcode} == OP_PING;
        send_all($c, cframe(OP_PONG, $f->{payload}));
    }
    is(close_code_of($f), 1001, 'a silent backend: 1001 to the client');
    send_all($c, cframe(OP_CLOSE, close_payload(1001)));
    expect_eof($c, 'client closed after the close handshake');
    close $c;
    close $b;
    $t->log_ok('info', 'ws: upstream did not answer ping, closing');
}

# ws_frame_timeout: a frame that trickles in is closed with 1008

{
    $t->mark;
    my $p = $t->ws_pair($l, path => '/frame/h');
    my ($c, $b) = @$p{qw(client backend)};
    my $whole = cframe(OP_TEXT, 'complete');
    send_all($c, substr($whole, 0, 3));
    my $start = time;
    my $f = next_frame($c, 5);
    my $took = time - $start;
    is(close_code_of($f), 1008, 'a header stuck halfway: 1008 to the client');
    is($f && substr($f->{payload}, 2), 'frame timeout', 'reason');
    cmp_ok($took, '>=', 0.9, 'not before ws_frame_timeout');
    cmp_ok($took, '<', 3, 'soon after it');
    my $fb = next_frame($b, 5);
    is(close_code_of($fb), 1001, '1001 to the backend');
    send_all($b, sframe(OP_CLOSE, close_payload(1001)));
    send_all($c, substr($whole, 3) . cframe(OP_CLOSE, close_payload(1008)));
    expect_eof($c, 'closed after the close handshake');
    close $c;
    close $b;
    $t->log_ok('info', 'ws: frame from client timed out, closing');
    my $e = $t->access_entry('/frame/h');
    is($e && $e->{initiator}, 'proxy', 'access log: initiator proxy');
    is($e && $e->{code}, 1008, 'access log: 1008');
}

{
    # frames that each arrive within the timeout are fine, however slow
    # the stream
    my $p = $t->ws_pair($l, path => '/frame/slow');
    my ($c, $b) = @$p{qw(client backend)};
    for (1 .. 4) {
        send_all($c, cframe(OP_TEXT, "slow $_"));
        sleep 0.6;
    }
    my @got;
    for (1 .. 4) {
        my $f = next_frame($b, 5);
        push @got, $f->{payload} if $f;
    }
    is_deeply(\@got, [map { "slow $_" } 1 .. 4],
        'whole frames 0.6 s apart pass ws_frame_timeout 1s');

    # a payload that trickles: each byte in time, the frame too slow
    my $whole = cframe(OP_BINARY, 'x' x 20);
    my $closed;
    my $start = time;
    for my $i (0 .. length($whole) - 1) {
        send_all($c, substr($whole, $i, 1));
        my $f = next_frame($c, 0.2);
        if ($f && $f->{opcode} == OP_CLOSE) { $closed = $f; last }
    }
    is(close_code_of($closed), 1008, 'a trickling payload: 1008');
    cmp_ok(time - $start, '<', 3.5, 'within the timeout and its check');
    close $c;
    close $b;
}

# a ping that falls due while a frame is in flight to the client waits for
# the end of that frame, and the pong timeout counts from when it goes out

{
    my $p = $t->ws_pair($l, path => '/ping/inflight');
    my ($c, $b) = @$p{qw(client backend)};
    my $payload = join '', map { chr(($_ * 7) % 256) } 0 .. 99_999;
    my $data = sframe(OP_BINARY, $payload);
    send_all($b, substr($data, 0, 50_000));
    sleep 2.5;
    send_all($b, substr($data, 50_000));
    my $f = read_frame($c, 10);
    ok($f && !$f->{error} && $f->{opcode} == OP_BINARY,
        'in flight: the frame arrives whole')
        or diag join ' ', map { "$_=" . ($_ eq 'payload'
            ? length($f->{$_}) : $f->{$_} // '') } sort keys %{$f || {}};
    ok($f && ($f->{payload} // '') eq $payload,
        'in flight: its payload intact, no ping inside it');
    my $ping = next_frame($c, 5);
    ok($ping && $ping->{opcode} == OP_PING, 'in flight: the ping after it');
    sleep 0.5;
    send_all($c, cframe(OP_PONG, $ping ? $ping->{payload} : ''));
    send_all($c, cframe(OP_TEXT, 'answered'));
    my $fb = next_frame($b, 5);
    is($fb && $fb->{payload}, 'answered',
        'in flight: a pong sent 0.5 s after the ping keeps the client');
    end_pair($c, $b);
}

# a reload while the client is throttled and the backend pinged closes
# both with 1001

{
    $t->mark;
    my $p = $t->ws_pair($l, path => '/throttled/reload');
    my ($c, $b) = @$p{qw(client backend)};
    send_all($c, join '', map { cframe(OP_TEXT, "m$_") } 1 .. 5);
    my $f = next_frame($b, 5);
    is($f && $f->{payload}, 'm1', 'throttled: the first message passes');
    my ($ping, $more) = (undef, 0);
    my $deadline = time + 4;
    while (time < $deadline && !$ping) {
        my $g = next_frame($b, 0.5) or next;
        if ($g->{opcode} == OP_PING) {
            $ping = $g;
        } elsif ($g->{opcode} == OP_TEXT) {
            $more++;
        }
    }
    ok($ping, 'throttled: the silent backend is pinged meanwhile');
    send_all($b, sframe(OP_PONG, $ping->{payload})) if $ping;
    cmp_ok($more, '<=', 4, 'throttled: the rest comes at 1 r/s');
    kill 'HUP', $t->master_pid;

    my ($cc, $bc);
    $deadline = time + 10;
    while (time < $deadline && !$cc) {
        my $g = next_frame($c, 1) or next;
        $cc = $g if $g->{opcode} == OP_CLOSE;
    }
    while (time < $deadline && !$bc) {
        my $g = next_frame($b, 1) or next;
        $bc = $g if $g->{opcode} == OP_CLOSE;
    }
    is(close_code_of($cc), 1001, 'throttled reload: the client gets 1001');
    is(close_code_of($bc), 1001, 'throttled reload: the backend gets 1001');
    send_all($c, cframe(OP_CLOSE, close_payload(1001)));
    send_all($b, sframe(OP_CLOSE, close_payload(1001)));
    close $c;
    close $b;
    my $e = $t->access_entry('/throttled/reload');
    is($e && $e->{code}, 1001, 'throttled reload: access log code 1001');
    is($e && $e->{initiator}, 'proxy', 'throttled reload: initiator proxy');
}

# the defaults: a healthy idle client stays, a vanished one is closed
# within a minute

{
    my $p1 = $t->ws_pair($l, path => '/default/healthy');
    my $p2 = $t->ws_pair($l, path => '/default/vanished');
    my ($c1, $b1) = @$p1{qw(client backend)};
    my ($c2, $b2) = @$p2{qw(client backend)};
    my $start = time;
    my ($pings, $gone_at) = (0, undef);
    while (time - $start < 62) {
        my $f = next_frame($c1, 0.5);
        if ($f && $f->{opcode} == OP_PING) {
            $pings++;
            send_all($c1, cframe(OP_PONG, $f->{payload}));
        }
        if (!defined $gone_at) {
            my $fb = next_frame($b2, 0.5);
            $gone_at = time - $start if $fb && $fb->{opcode} == OP_CLOSE;
        }
        last if defined $gone_at && $pings >= 2;
    }
    ok(defined $gone_at, 'default: a client that never answers is closed');
    cmp_ok($gone_at // 999, '<=', 61, 'within a minute');
    cmp_ok($pings, '>=', 1, 'default: the healthy client was pinged');
    send_all($c1, cframe(OP_TEXT, 'still here'));
    my $fb = next_frame($b1, 5);
    is($fb && $fb->{payload}, 'still here',
        'and is still connected after answering');
    send_all($b2, sframe(OP_CLOSE, close_payload(1001)));
    close $c2;
    close $b2;
    end_pair($c1, $b1);
}

$t->stop;

done_testing;
