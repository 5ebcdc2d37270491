# TLS 1.2 renegotiations on detached WebSockets.  The backend
# (t/peers/tls_peer.c --tls12, built here) sends HelloRequests; nginx, the
# TLS client of the backend connection (OpenSSL 3), answers them, and the
# cases put it where ngx_ssl_write() and ngx_ssl_recv() swap a
# connection's handler and restore the saved one later:
#
#   SSL_write() wants to read: the ClientHello is out, the backend does not
#     answer yet and a client's frame is to be written ("SSL_write: want
#     read", c->ssl->saved_read_handler, then "SSL read handler");
#   the same at the upgrade, before the detach: the saved handler is the
#     attached one and the detach replaces it;
#   SSL_read() wants to write: the backend sends a HelloRequest while
#     nginx's socket toward it is nearly full and the ClientHello is 60 KB
#     (a session ticket that long, --ticket-data), so the ClientHello is
#     written in part ("SSL_read: want write",
#     c->ssl->saved_write_handler, then "SSL write handler"); a client's
#     frame that comes meanwhile is to be written after the ClientHello
#     (OpenSSL 3.0 fails a shorter SSL_write() while a handshake record
#     waits: "bad length");
#   a HelloRequest while a write waits: OpenSSL defers the renegotiation
#     until nothing waits to be written, then the next SSL_write() starts
#     it.
#
# nginx 1.22 logs these at debug level (the locations have a debug log;
# nginx must be built --with-debug), no longer "peer started SSL
# renegotiation".  A client asking nginx for a renegotiation is refused:
# OpenSSL answers with a no_renegotiation warning and the client (OpenSSL)
# gives up with a fatal alert; the backend then gets a close 1001.
# Payloads must come through byte-exact; after every case the worker
# process is the same one and the error log has no alert, crit or crash.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(sha256_hex);
use Errno qw(EAGAIN EWOULDBLOCK EINTR);
use IO::Select;
use Test::More;
use Time::HiRes qw(time sleep);
use WsTest;

my $t = WsTest->new;
my $dir = $t->dir;

my ($orc) = run_cmd(cmd => ['openssl', 'version']);
plan skip_all => 'openssl not found' unless $orc == 0;
my ($vrc, $vout) = run_cmd(cmd => [$ENV{NGINX_BIN} || '/usr/sbin/nginx',
    '-V']);
plan skip_all => 'nginx is not built --with-debug: its SSL lines of want '
    . 'read and want write are debug lines'
    unless $vout =~ /--with-debug\b/;
my ($crc, $cout) = run_cmd(timeout => 120, cmd => ['cc', '-O1', '-g',
    '-Wall', '-o', "$dir/tls_peer", peer_path('tls_peer.c'), '-lssl',
    '-lcrypto']);
plan skip_all => 'cannot build t/peers/tls_peer.c (cc and libssl-dev '
    . 'needed): ' . ((split /\n/, $cout)[0] // "exit code $crc")
    unless $crc == 0 && -x "$dir/tls_peer";
my $bin = "$dir/tls_peer";
my ($src) = run_cmd(cmd => ['ss', '-V']);
my $have_ss = $src == 0;

my ($grc, $gout) = run_cmd(timeout => 60, cmd => ['openssl', 'req', '-x509',
    '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '2',
    '-addext', 'subjectAltName=DNS:localhost', '-keyout', "$dir/server.key",
    '-out', "$dir/server.crt"]);
is($grc, 0, 'certificate generated') or diag($gout);

# r1: TLS 1.2, short tickets; r2: 60000 bytes of data in every ticket and a
# 4 KiB receive buffer (nginx's segments toward it are small, and its
# socket fills while r2 reads nothing)
my %log;
my $r1 = $t->start_peer(name => 'r1', cmd => [$bin, 'server', '--tls12',
    'PORT', "$dir/server.crt", "$dir/server.key"]);
my $r2 = $t->start_peer(name => 'r2', cmd => [$bin, 'server', '--tls12',
    '--ticket-data', 60000, '--rcvbuf', 4096, 'PORT', "$dir/server.crt",
    "$dir/server.key"]);
$log{r1} = "$dir/r1.log";
$log{r2} = "$dir/r2.log";

my $sp = free_port();
my $locations = <<"LOCATIONS";
        location /r1/ {
            ws_pass wss://127.0.0.1:$r1;
            ws_ssl_protocols TLSv1.2;
            ws_ssl_session_reuse on;
            error_log $dir/error.log info;
            error_log $dir/debug.log debug;
        }

        location /r2/ {
            ws_pass wss://127.0.0.1:$r2;
            ws_ssl_protocols TLSv1.2;
            ws_ssl_session_reuse on;
            error_log $dir/error.log info;
            error_log $dir/debug.log debug;
        }
LOCATIONS

$t->run(servers => <<"SERVERS", server => $locations);
    server {
        listen 127.0.0.1:$sp ssl;
        server_name localhost;
        ssl_certificate $dir/server.crt;
        ssl_certificate_key $dir/server.key;
        ssl_protocols TLSv1.2;

$locations
    }
SERVERS

my $worker = $t->worker_pid;
ok($worker, "worker process $worker");

# what nginx logs when it swaps a connection's handler, and when the
# swapped-in one runs
my $WANT_READ = qr/\bSSL_write: want read$/;
my $READ_HANDLER = qr/\bSSL read handler$/;
my $WANT_WRITE = qr/\bSSL_read: want write$/;
my $WRITE_HANDLER = qr/\bSSL write handler$/;
my $DETACHED = qr/\bws: request detached\b/;


# ---------------------------------------------------------------------------
# helpers

# lines of a backend's log matching $re
sub peer_count {
    my ($b, $re) = @_;
    my $l = read_file($log{$b}) // '';
    return scalar grep { /$re/ } split /\n/, $l;
}

# the lines of the backend connection that upgraded $path, without their
# "conn ID: "
sub peer_conn {
    my ($b, $path) = @_;
    my @l = split /\n/, read_file($log{$b}) // '';
    my ($id) = map { /^conn (\d+): upgraded: GET \Q$path\E / ? $1 : () } @l;
    return unless defined $id;
    return map { /^conn $id: (.*)$/ ? $1 : () } @l;
}

# waits until the backend's log has at least $n lines matching $re
sub peer_wait {
    my ($b, $re, $n, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    while (1) {
        my $have = peer_count($b, $re);
        return $have if $have >= $n;
        return $have if time >= $deadline;
        sleep 0.02;
    }
}

# the debug log after the mark of the current case
my $dmark = 0;
sub dmark { $dmark = length(read_file("$dir/debug.log") // '') }
sub dlog { substr read_file("$dir/debug.log") // '', $dmark }

# lines of the debug log after the mark matching $re
sub dlines {
    my ($re) = @_;
    return grep { /$re/ } split /\n/, dlog();
}

# waits until the debug log after the mark has a line matching $re
sub dwait {
    my ($re, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    while (1) {
        my $n = () = dlines($re);
        return $n if $n || time >= $deadline;
        sleep 0.02;
    }
}

# index of the first line after the mark matching $re (-1: none)
sub dfirst {
    my ($re) = @_;
    my @l = split /\n/, dlog();
    for my $i (0 .. $#l) {
        return $i if $l[$i] =~ $re;
    }
    return -1;
}

# a plain WebSocket through nginx to $path, upgraded (undef otherwise);
# $more is sent with the request
sub plain_open {
    my ($path, $name, $more) = @_;
    my $c = connect_to($t->port);
    my $key = ws_key();
    send_all($c, handshake_request(path => $path, key => $key)
        . ($more // ''));
    my $r = parse_head(read_head($c, 10));
    my $ok = ok($r && $r->{status} == 101
        && (hdr($r, 'sec-websocket-accept') // '') eq ws_accept($key),
        "$name: upgraded");
    diag('got: ' . ($r ? $r->{line} : 'nothing')) unless $ok;
    return $ok ? $c : undef;
}

sub send_text {
    my ($c, $text) = @_;
    send_all($c, cframe(OP_TEXT, $text));
}

# the next frame is exactly the unmasked text frame $text
sub text_ok {
    my ($c, $text, $name, $timeout) = @_;
    return frame_ok(read_frame($c, $timeout // 10), sframe(OP_TEXT, $text),
        $name);
}

sub echo_ok {
    my ($c, $op, $payload, $name) = @_;
    send_all($c, cframe($op, $payload));
    return frame_ok(read_frame($c, 10), sframe($op, $payload), $name);
}

sub command_ok {
    my ($c, $cmd, $reply, $name) = @_;
    send_text($c, $cmd);
    return text_ok($c, $reply, $name);
}

sub close_ok {
    my ($c, $name) = @_;
    send_all($c, cframe(OP_CLOSE, close_payload(1000, 'bye')));
    if (!frame_ok(read_frame($c, 10),
        sframe(OP_CLOSE, close_payload(1000, 'bye')), "$name: close echoed"))
    {
        close $c;
        return 0;
    }
    my $ok = expect_eof($c, "$name: connection closed");
    close $c;
    return $ok;
}

# echoes in both directions after a renegotiation, the count of them, and
# the close
sub after_ok {
    my ($c, $name, $renegs) = @_;
    return echo_ok($c, OP_TEXT, text_payload(3000, 5), "$name: text echo")
        && echo_ok($c, OP_BINARY, binary_payload(70000, 6),
            "$name: binary echo")
        && command_ok($c, 'renegotiations?', "renegotiations $renegs",
            "$name: $renegs renegotiation" . ($renegs == 1 ? '' : 's')
            . ' completed')
        && close_ok($c, $name);
}

# nginx's connection toward the backend on $port, from ss(8): its queued
# memory (skmem w), send buffer (tb), and the bytes written to it (queued
# and acknowledged); empty unless there is exactly one
sub upstream_socket {
    my ($port) = @_;
    open my $fh, '-|', 'ss', '-tmniH', 'state', 'established',
        "( dport = :$port )"
        or return;
    my $o = do { local $/; <$fh> } // '';
    close $fh;
    my @m = $o =~ /skmem:\(([^)]*)\)/g;
    return unless @m == 1;
    my %h = map { /^([a-z]+)(\d+)$/ ? ($1, $2) : () } split /,/, $m[0];
    my ($sendq) = $o =~ /^\s*\d+\s+(\d+)\s/;
    my ($acked) = $o =~ /\bbytes_acked:(\d+)/;
    my ($mss) = $o =~ /\bmss:(\d+)/;
    return unless defined $h{w} && defined $h{tb} && defined $sendq;
    return { w => $h{w}, tb => $h{tb}, written => $sendq + ($acked // 0),
        mss => $mss // 0 };
}

# Fills nginx's socket toward the backend on $port, which reads nothing,
# with binary frames until its queued memory is less than $room below the
# send buffer, and no write of nginx's waits (every frame is written whole
# before the next is sent).  Returns the payload sent, or undef.
sub fill_upstream {
    my ($c, $port, $room, $name) = @_;
    my ($data, $seq) = ('', 0);
    my $s = upstream_socket($port);
    if (!$s) {
        fail("$name: nginx's socket toward the backend seen by ss");
        return;
    }
    while ($s->{w} < $s->{tb} - $room) {
        my $left = $s->{tb} - $room - $s->{w};
        my $size = $left > 600000 ? 65536 : $left > 150000 ? 32768 : 8192;
        my $p = binary_payload($size, ++$seq);
        send_all($c, cframe(OP_BINARY, $p));
        $data .= $p;

        # until nginx wrote it all
        my $deadline = time + 10;
        my $n;
        while (1) {
            $n = upstream_socket($port);
            last if $n && $n->{written} >= $s->{written} + $size;
            if (time >= $deadline) {
                fail("$name: nginx writes frame $seq to the backend");
                return;
            }
            sleep 0.002;
        }
        $s = $n;
        if ($seq > 2000) {
            fail("$name: the socket filled in 2000 frames");
            return;
        }
    }
    note(sprintf '%s: %d bytes in %d frames, queued %d of %d, mss %d',
        $name, length $data, $seq, $s->{w}, $s->{tb}, $s->{mss});
    return $data;
}

# After a case: the same worker, and no alert, crit or crash in the error
# log since the mark.
my $mark = $t->mark;
sub healthy {
    my ($name) = @_;
    my $pid = $t->worker_pid;
    is($pid, $worker, "$name: the worker process is still $worker");
    my @bad = grep {
        /\[(?:alert|crit|emerg)\]|exited on signal|Sanitizer|runtime error:/
    } split /\n/, substr($t->error_log, $mark);
    ok(!@bad, "$name: no alert, crit or crash in the error log")
        or diag(join "\n", @bad);
    my %n = map { $_->[0] => scalar(() = dlines($_->[1])) } (
        ['SSL_write: want read', $WANT_READ],
        ['SSL read handler', $READ_HANDLER],
        ['SSL_read: want write', $WANT_WRITE],
        ['SSL write handler', $WRITE_HANDLER]);
    note("$name: " . join ', ', map { "$_: $n{$_}" } sort keys %n);
    $worker = $pid if $pid;
    $mark = $t->mark;
    dmark();
}


# ---------------------------------------------------------------------------
# renegotiations with nothing waiting: nginx answers every HelloRequest

dmark();
{
    my $name = 'three renegotiations';
    my $c = plain_open('/r1/idle', $name);
    if ($c) {
        my $ok = echo_ok($c, OP_TEXT, 'before', "$name: echo before");
        for my $i (1 .. 3) {
            $ok &&= command_ok($c, 'reneg', 'reneg-sent',
                "$name: HelloRequest $i")
                && echo_ok($c, OP_TEXT, "after $i", "$name: echo after $i")
                && echo_ok($c, OP_BINARY, binary_payload(70000, $i),
                    "$name: binary echo after $i");
        }
        $ok && after_ok($c, $name, 3);
    }
}
healthy('three renegotiations');


# ---------------------------------------------------------------------------
# SSL_write() wants to read: the backend reads nothing for 500 ms after its
# HelloRequest, nginx's ClientHello is out, and the client's frames are to
# be written meanwhile

{
    my $name = 'SSL_write() during the renegotiation';
    my $c = plain_open('/r1/hold', $name);
    my $n = peer_count('r1', qr/renegotiation 1 done/);
    if ($c && echo_ok($c, OP_TEXT, 'before', "$name: echo before")
        && command_ok($c, 'reneg-hold 500', 'reneg-hold',
            "$name: HelloRequest"))
    {
        my $big = binary_payload(70000, 9);
        send_all($c, cframe(OP_TEXT, 'during the hold')
            . cframe(OP_BINARY, $big));
        text_ok($c, 'during the hold', "$name: text sent meanwhile echoed")
            && frame_ok(read_frame($c, 10), sframe(OP_BINARY, $big),
                "$name: binary sent meanwhile echoed");
        is(peer_wait('r1', qr/renegotiation 1 done/, $n + 1), $n + 1,
            "$name: the backend completed the renegotiation");
        my $wr = () = dlines($WANT_READ);
        ok($wr >= 1, "$name: SSL_write() wanted to read ($wr times)");
        my ($first, $handler) = (dfirst($WANT_READ), dfirst($READ_HANDLER));
        ok($first >= 0 && $handler > $first,
            "$name: then nginx's SSL read handler ran");
        after_ok($c, $name, 1);
    }
}
healthy('SSL_write() during the renegotiation');

# the same, and the client leaves meanwhile: the close 1001 for the
# backend waits for the end of the renegotiation
{
    my $name = 'a client leaving during the renegotiation';
    my $c = plain_open('/r1/leave', $name);
    my $n = peer_count('r1', qr/close 1001/);
    if ($c && echo_ok($c, OP_TEXT, 'before', "$name: echo before")
        && command_ok($c, 'reneg-hold 500', 'reneg-hold',
            "$name: HelloRequest"))
    {
        close $c;
        is(peer_wait('r1', qr/close 1001/, $n + 1), $n + 1,
            "$name: the backend got a close 1001");
        my @l = peer_conn('r1', '/r1/leave');
        is(join('|', map { $_ // '' } @l[-4 .. -1]),
            'reading again|renegotiation 1 done|'
            . 'close 1001|closed', "$name: after the renegotiation")
            or diag(join "\n", @l);
        my $wr = () = dlines($WANT_READ);
        ok($wr >= 1, "$name: SSL_write() of the close wanted to read "
            . "($wr times)");
        my $e = $t->access_entry('/r1/leave');
        is($e && "$e->{code} $e->{initiator}", '1006 client',
            "$name: access log: the client went away (1006)");
    }
}
healthy('a client leaving during the renegotiation');


# ---------------------------------------------------------------------------
# at the upgrade: the backend's 101 and its HelloRequest come in one
# segment, and a text frame came with the client's request.  nginx answers
# the HelloRequest while reading the 101; the relay's first SSL_write(),
# of that frame, wants to read while the request is still attached:
# c->ssl->saved_read_handler is then the attached handler, which the
# detach replaces (ngx_http_ws_set_handlers()).

{
    my $name = 'renegotiation at the upgrade';
    my $n = peer_count('r1', qr/renegotiation 1 done/);
    my $c = plain_open('/r1/up?reneg-at-upgrade=500', $name,
        cframe(OP_TEXT, 'with the request'));
    if ($c) {
        text_ok($c, 'with the request', "$name: the frame sent with the "
            . 'request echoed');
        is(peer_wait('r1', qr/renegotiation 1 done/, $n + 1), $n + 1,
            "$name: the backend completed the renegotiation");
        my ($first, $detached) = (dfirst($WANT_READ), dfirst($DETACHED));
        ok($first >= 0 && $detached > $first,
            "$name: SSL_write() wanted to read before the detach")
            or diag("want read at line $first, detached at $detached");
        after_ok($c, $name, 1);
    }
}
healthy('renegotiation at the upgrade');


# ---------------------------------------------------------------------------
# SSL_read() wants to write: r2 reads nothing; nginx's socket toward it is
# filled to 40 KB below its send buffer (no write waiting); then r2 sends a
# HelloRequest and nginx's 60 KB ClientHello, written from SSL_read(), fits
# in part only.  When r2 reads again the ClientHello goes out from nginx's
# SSL write handler, the renegotiation completes and r2 gets every byte.

my $case = 0;
sub hold_and_fill {
    my ($c, $name) = @_;
    my $flag = "$dir/hold-" . ++$case;
    command_ok($c, "hold $flag", 'holding', "$name: backend holding")
        or return;
    my $data = fill_upstream($c, $r2, 40000, $name) // return;
    write_file("$flag.reneg", '');

    # the text came with the HelloRequest: OpenSSL returns it first and
    # starts the renegotiation at the next SSL_read()
    text_ok($c, 'hello-request-sent', "$name: the text after the "
        . 'HelloRequest') or return;
    my $ww = dwait($WANT_WRITE, 10);
    ok($ww >= 1, "$name: SSL_read() wanted to write");
    my $s = upstream_socket($r2);
    note(sprintf "$name: after the ClientHello queued %d of %d",
        $s->{w}, $s->{tb}) if $s;
    return ($data, $flag) if $ww;
    return;
}

SKIP: {
    skip 'no ss (iproute2): the socket toward the backend is not seen', 13
        unless $have_ss;

    my $name = 'SSL_read() writing a ClientHello';
    my $c = plain_open('/r2/full', $name) or last;
    my $n = peer_count('r2', qr/renegotiation 1 done/);
    echo_ok($c, OP_TEXT, 'before', "$name: echo before") or last;
    my ($data, $flag) = hold_and_fill($c, $name) or last;
    write_file("$flag.go", '');
    is(peer_wait('r2', qr/renegotiation 1 done/, $n + 1, 20), $n + 1,
        "$name: the backend completed the renegotiation");
    my ($first, $handler) = (dfirst($WANT_WRITE), dfirst($WRITE_HANDLER));
    ok($first >= 0 && $handler > $first,
        "$name: then nginx's SSL write handler ran");
    command_ok($c, 'hold-end', 'held ' . length($data) . ' '
        . sha256_hex($data), "$name: the backend got every byte");
    after_ok($c, $name, 1);
}
healthy('SSL_read() writing a ClientHello');

# the same, and a client's frame comes while the ClientHello waits: it is
# to be written after it.  OpenSSL 3.0 fails an SSL_write() shorter than a
# handshake record that waits ("bad length"): the frame may be written only
# once SSL_read() has written the ClientHello.
SKIP: {
    skip 'no ss (iproute2): the socket toward the backend is not seen', 12
        unless $have_ss;

    my $name = 'a frame while SSL_read() writes a ClientHello';
    my $c = plain_open('/r2/frame', $name) or last;
    my $n = peer_count('r2', qr/renegotiation 1 done/);
    echo_ok($c, OP_TEXT, 'before', "$name: echo before") or last;
    my ($data, $flag) = hold_and_fill($c, $name) or last;
    my $more = binary_payload(100, 77);
    send_all($c, cframe(OP_BINARY, $more));
    $data .= $more;
    sleep 0.1;
    write_file("$flag.go", '');

    # nothing more from the client until the backend is done, or a close
    # comes
    my $deadline = time + 20;
    my $done;
    while (time < $deadline) {
        $done = peer_count('r2', qr/renegotiation 1 done/) > $n;
        last if $done || IO::Select->new($c)->can_read(0.02);
    }
    ok($done, "$name: the backend completed the renegotiation");
    command_ok($c, 'hold-end', 'held ' . length($data) . ' '
        . sha256_hex($data), "$name: the backend got every byte")
        && after_ok($c, $name, 1);
}
healthy('a frame while SSL_read() writes a ClientHello');


# ---------------------------------------------------------------------------
# a HelloRequest while nginx's write waits: the client floods 16 MiB
# toward r1, which reads nothing; its HelloRequest comes while a record of
# nginx's waits to be written, and OpenSSL defers the renegotiation (no
# ClientHello yet, SSL_read() wants nothing).  When r1 reads again, the
# SSL_write() after the one that finished the waiting record starts it and
# wants to read.

{
    my $name = 'HelloRequest in a flood';
    my $c = plain_open('/r1/flood', $name);
    my $n = peer_count('r1', qr/renegotiation 1 done/);
    my $flag = "$dir/hold-" . ++$case;
    if ($c && command_ok($c, "hold $flag", 'holding',
        "$name: backend holding"))
    {
        my $total = 16 * 1024 * 1024;
        my $data = binary_payload($total, 3);
        my $out = join '', map { cframe(OP_BINARY, substr $data,
            $_ * 65536, 65536) } 0 .. $total / 65536 - 1;

        # until the client's socket is full too: nginx holds data that it
        # could not write
        my ($off, $idle) = (0, 0);
        while ($off < length $out && $idle < 20) {
            my $n = syswrite($c, $out, 65536, $off);
            if (defined $n) {
                $off += $n;
                $idle = 0;
                next;
            }
            last unless $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
            $idle++;
            sleep 0.01;
        }
        ok($off < length $out, "$name: nginx stopped reading the client "
            . "after $off bytes");
        write_file("$flag.reneg", '');
        text_ok($c, 'hello-request-sent', "$name: the text after the "
            . 'HelloRequest');
        my ($wr, $ww) = map { scalar(() = dlines($_)) }
            ($WANT_READ, $WANT_WRITE);
        ok($wr == 0 && $ww == 0, "$name: the renegotiation is deferred")
            or diag("SSL_write: want read $wr, SSL_read: want write $ww");
        write_file("$flag.go", '');
        my ($r, $done) = pump(reads => [[$c, 1 << 20]], idle => 20,
            writes => [[$c, substr($out, $off)
                . cframe(OP_TEXT, 'hold-end')]],
            until => sub { message_complete($_[0]) });
        my ($f) = WsTest::_parse_one($r->[0] // '');
        is($f && $f->{payload}, 'held ' . $total . ' ' . sha256_hex($data),
            "$name: the backend got every byte");
        is(peer_count('r1', qr/renegotiation 1 done/), $n + 1,
            "$name: the backend completed the renegotiation");
        $wr = () = dlines($WANT_READ);
        ok($wr >= 1, "$name: then SSL_write() wanted to read ($wr times)");
        after_ok($c, $name, 1);
    }
}
healthy('HelloRequest in a flood');


# ---------------------------------------------------------------------------
# a TLS 1.2 client asks nginx for a renegotiation (tls_peer client)

{
    my $name = 'client renegotiation';
    my $n = peer_count('r1', qr/close 1001/);
    my ($rc, $out) = run_cmd(timeout => 60, cmd => [$bin, 'client',
        '--tls12', $sp, '/r1/client', 'echo:before', 'bin:70000', 'reneg',
        'tcp-eof']);
    my @got = grep { !/^SSL_do_handshake: / } split /\n/, $out;
    is(join("\n", @got), join("\n", 'connected TLSv1.2', 'upgraded',
        'text before', 'binary 70000',
        'renegotiation refused: no renegotiation', 'tcp eof', 'done'),
        "$name: refused, then the connection is closed")
        or diag($out);
    is($rc, 0, "$name: client exit code");
    my $alert = quotemeta('SSL routines::sslv3 alert handshake failure:'
        . 'SSL alert number 40) while proxying websocket');
    $t->log_ok('info', qr/SSL_read\(\) failed \(SSL: \S+:$alert/,
        "$name: nginx got the client's fatal alert");
    $t->log_ok('info', 'ws: client closed connection without close frame',
        "$name: the client is gone");
    is(peer_wait('r1', qr/close 1001/, $n + 1), $n + 1,
        "$name: the backend got a close 1001");
    my $e = $t->access_entry('/r1/client');
    is($e && "$e->{code} $e->{initiator}", '1006 client',
        "$name: access log: the client went away (1006)");
}
healthy('client renegotiation');

$t->stop;
done_testing;
