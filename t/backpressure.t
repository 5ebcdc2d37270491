# A slow reader makes the proxy stop reading from the writer: a flood does
# not grow the worker's memory, and every byte arrives once the reader
# reads.  ws_send_timeout ends a connection whose reader never reads.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use WsTest;

my $t = WsTest->new;

my $FRAMES = 3200;                      # 200 MiB of binary frames
my $TEXT_FRAMES = 320;                  # 20 MiB of text frames
my $block = binary_payload(65532, 1);
my $tblock = text_payload(65532, 1);
my $progress = $t->dir . '/flood.progress';

sub set_progress {
    my ($what) = @_;
    open my $fh, '>', "$progress.tmp" or return;
    print {$fh} "$what\n";
    close $fh;
    rename "$progress.tmp", $progress;
}

sub get_progress {
    my $p = WsTest::read_file($progress) // '';
    chomp $p;
    return $p;
}

sub write_blocking {
    my ($s, $data) = @_;
    my $off = 0;
    while ($off < length $data) {
        my $n = syswrite($s, $data, length($data) - $off, $off);
        return 0 unless defined $n;
        $off += $n;
    }
    return 1;
}

# the flooding backend: binary frames, or text frames for /text/
my $flood = serve(handler => sub {
    my ($s) = @_;
    my $head = read_head($s, 10) or return;
    my $req = parse_head($head);
    send_all($s, response_101(hdr($req, 'sec-websocket-key') // ''));
    $s->blocking(1);
    my $text = $req->{uri} =~ m{/text/};
    my $n = $text ? $TEXT_FRAMES : $FRAMES;
    set_progress(0);
    for my $i (1 .. $n) {
        my $fr = $text
            ? sframe(OP_TEXT, sprintf('%04d', $i % 10000) . $tblock)
            : sframe(OP_BINARY, pack('N', $i) . $block);
        if (!write_blocking($s, $fr)) {
            set_progress("failed $i");
            return;
        }
        set_progress($i) if $i % 8 == 0 || $i == $n;
    }
    write_blocking($s, sframe(OP_CLOSE, close_payload(1000)));
    set_progress('done');
    read_until_eof($s, 30);
});
my $echo = echo_backend();
my $l = listener();
my $bp = $l->sockport;

$t->run(server => <<"SERVER");
        location / {
            ws_pass http://127.0.0.1:$flood;
        }
        location /echo/ {
            ws_pass http://127.0.0.1:$echo;
        }
        location /in/ {
            ws_pass http://127.0.0.1:$bp;
        }
        location /sendto/ {
            ws_pass http://127.0.0.1:$bp;
            ws_send_timeout 1s;
        }
        location /sendto-up/ {
            ws_pass http://127.0.0.1:$bp;
            ws_send_timeout 1s;
        }
SERVER

my $worker = $t->worker_pid;
ok($worker, 'worker process found') or BAIL_OUT('no worker');

# warm the worker up with a small session
{
    my $c = $t->client_handshake(path => '/echo/');
    my $r = parse_head(read_head($c, 5));
    send_all($c, cframe(OP_BINARY, 'x' x 100000));
    read_frame($c, 5);
    send_all($c, cframe(OP_CLOSE, close_payload(1000)));
    read_frame($c, 5);
    read_until_eof($c, 5);
    close $c;
}

sub max_rss_while_idle {
    my ($secs) = @_;
    my $max = 0;
    my $end = time + $secs;
    while (time < $end) {
        my $r = WsTest::rss_kb($worker) // 0;
        $max = $r if $r > $max;
        sleep 0.1;
    }
    return $max;
}

# backend floods a client that does not read
{
    my $base = WsTest::rss_kb($worker);
    my $c = $t->client_handshake(path => '/');
    my $r = parse_head(read_head($c, 5));
    is($r && $r->{status}, 101, 'flood: upgraded');
    sleep 1.5;
    my $max = max_rss_while_idle(1.5);
    my $p = get_progress();
    like($p, qr/^\d+$/, 'flood: backend still writing');
    cmp_ok($p, '<', $FRAMES, 'flood: backend is held back while the client '
        . 'does not read') if $p =~ /^\d+$/;
    note("flood: backend wrote $p of $FRAMES frames while the client slept");
    cmp_ok($max - $base, '<', 10 * 1024,
        "flood: worker RSS grew by less than 10 MiB ($base kB -> $max kB)");

    my ($bad, $n) = (0, 0);
    my $start = time;
    for my $i (1 .. $FRAMES) {
        my $f = read_frame($c, 30);
        if ($f->{error}) {
            diag("frame $i: $f->{error}");
            $bad++;
            last;
        }
        $n++;
        if ($f->{opcode} != OP_BINARY || !$f->{fin} || $f->{masked}
            || $f->{payload} ne pack('N', $i) . $block)
        {
            diag("frame $i differs") if $bad < 3;
            $bad++;
        }
    }
    is($n, $FRAMES, 'flood: all frames arrived');
    is($bad, 0, 'flood: all frames intact and in order');
    note(sprintf 'flood: read 200 MiB in %.1f s', time - $start);
    frame_ok(read_frame($c, 10), sframe(OP_CLOSE, close_payload(1000)),
        'flood: then the close');
    send_all($c, cframe(OP_CLOSE, close_payload(1000)));
    expect_eof($c, 'flood: connection closed', 10);
    # the backend notes 'done' just after its close frame is written
    my $until = time + 10;
    select(undef, undef, undef, 0.05)
        while get_progress() ne 'done' && time < $until;
    is(get_progress(), 'done', 'flood: backend finished');
    close $c;
}

# the same with text frames larger than the buffer (re-fragmented)
{
    $t->mark;
    my $base = WsTest::rss_kb($worker);
    my $c = $t->client_handshake(path => '/text/');
    my $r = parse_head(read_head($c, 5));
    is($r && $r->{status}, 101, 'text flood: upgraded');
    sleep 1;
    my $max = max_rss_while_idle(1);
    cmp_ok($max - $base, '<', 10 * 1024,
        "text flood: worker RSS grew by less than 10 MiB ($base kB -> $max kB)");
    my ($bad, $msgs, $frames, $bytes) = (0, 0, 0, 0);
    my $msg = '';
    my $first = 1;
    while ($msgs < $TEXT_FRAMES) {
        my $f = read_frame($c, 30);
        if ($f->{error}) {
            diag("message $msgs: $f->{error}");
            $bad++;
            last;
        }
        $frames++;
        $bytes += length $f->{raw};
        if ($f->{opcode} != ($first ? OP_TEXT : OP_CONT) || $f->{masked}) {
            diag("message $msgs: opcode $f->{opcode}") if $bad < 3;
            $bad++;
        }
        $msg .= $f->{payload};
        $first = 0;
        next unless $f->{fin};
        $msgs++;
        $bad++ if $msg ne sprintf('%04d', $msgs % 10000) . $tblock;
        $msg = '';
        $first = 1;
    }
    is($msgs, $TEXT_FRAMES, 'text flood: all messages arrived');
    is($bad, 0, 'text flood: all messages intact');
    note("text flood: $frames frames for $msgs messages");
    cmp_ok($frames, '>', $TEXT_FRAMES, 'text flood: messages re-fragmented');
    frame_ok(read_frame($c, 10), sframe(OP_CLOSE, close_payload(1000)),
        'text flood: then the close');
    send_all($c, cframe(OP_CLOSE, close_payload(1000)));
    expect_eof($c, 'text flood: connection closed', 10);
    close $c;
    my $e = $t->access_entry('/text/');
    is($e && $e->{frames_out}, $frames + 1,
        'text flood: $ws_frames_out counts the frames sent to the client');
    is($e && $e->{bytes_out}, $bytes + 4,
        'text flood: $ws_bytes_out counts the bytes sent to the client');
}

# a client floods a backend that does not read
{
    my $base = WsTest::rss_kb($worker);
    my $p = $t->ws_pair($l, path => '/in/');
    my ($c, $b) = @$p{qw(client backend)};
    my $data = join '', map { cframe(OP_BINARY, pack('N', $_) . $block) }
        1 .. 1024;
    my $sent = send_all($c, $data, 2);
    cmp_ok($sent, '<', length $data,
        'client flood: the client is held back');
    note("client flood: $sent bytes sent before the client was held back");
    my $max = max_rss_while_idle(1);
    cmp_ok($max - $base, '<', 10 * 1024,
        "client flood: worker RSS grew by less than 10 MiB ($base kB -> $max kB)");
    my ($got) = pump(writes => [[$c, substr($data, $sent)]],
        reads => [[$b, length $data]], idle => 20);
    ok($got->[0] eq $data, 'client flood: 64 MiB arrived byte-exact')
        or diag('got ' . length($got->[0]) . ' bytes');
    close_pair($p);
}

# ws_send_timeout: a client that never reads is given up; the backend is
# told with close 1001
{
    $t->mark;
    my $p = $t->ws_pair($l, path => '/sendto/');
    my ($c, $b) = @$p{qw(client backend)};
    my $fr = sframe(OP_BINARY, $block);
    my $start = time;
    my $sent = send_all($b, $fr x 160, 10);
    note("send timeout: the backend wrote $sent bytes");
    masked_close_ok(read_frame($b, 10), 1001,
        'send timeout: backend got a masked close 1001');
    cmp_ok(time - $start, '>=', 0.9, 'send timeout: not before ws_send_timeout');
    send_all($b, sframe(OP_CLOSE, close_payload(1001)));
    expect_eof($b, 'send timeout: backend connection closed');
    my (undef, $st) = read_until_eof($c, 10);
    like($st, qr/^(eof|reset)$/, 'send timeout: client connection closed');
    $t->log_ok('info', qr/ws: timed out sending to client\b/,
        'send timeout: logged');
    close $c;
    close $b;
    my $e = $t->access_entry('/sendto/');
    is($e && $e->{initiator}, 'proxy', 'send timeout: initiator proxy');
    close $c;
    close $b;
}

# ws_send_timeout: a backend that never reads is given up; the client gets
# close 1011
{
    $t->mark;
    my $p = $t->ws_pair($l, path => '/sendto-up/');
    my ($c, $b) = @$p{qw(client backend)};
    my $start = time;
    my $sent = send_all($c, cframe(OP_BINARY, $block) x 160, 10);
    note("send timeout to the backend: the client wrote $sent bytes");
    frame_ok(read_frame($c, 10), "\x88\x02\x03\xf3",
        'send timeout to the backend: client got close 1011');
    cmp_ok(time - $start, '>=', 0.9,
        'send timeout to the backend: not before ws_send_timeout');
    send_all($c, cframe(OP_CLOSE, close_payload(1011)));
    expect_eof($c, 'send timeout to the backend: client connection closed');
    my (undef, $st) = read_until_eof($b, 10);
    like($st, qr/^(eof|reset)$/,
        'send timeout to the backend: backend connection closed');
    $t->log_ok('error', qr/ws: timed out sending to upstream\b/,
        'send timeout to the backend: logged');
    close $c;
    close $b;
    my $e = $t->access_entry('/sendto-up/');
    is($e && $e->{initiator}, 'proxy',
        'send timeout to the backend: initiator proxy');
    close $c;
    close $b;
}

$t->stop;
done_testing;
