# Regression tests for WebSockets detached from their request: limit_conn
# counts a WebSocket until it ends; ws_send_timeout is re-armed whenever a
# write to a slow reader makes progress and cuts a reader that stops; the
# realip module's variables ($remote_addr, $realip_remote_addr,
# $remote_port, $realip_remote_port) in the access log line of a detached
# WebSocket, with IPv4 and IPv6 addresses at varying offsets of the
# snapshot.  Each case checks that the worker survived and that the error
# log has no [alert], [crit] or crashed worker.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use IO::Handle;
use Socket qw(PF_INET SOCK_STREAM IPPROTO_TCP SOL_SOCKET SO_RCVBUF
    TCP_NODELAY pack_sockaddr_in inet_aton);
use Test::More;
use Time::HiRes qw(time sleep);
use Errno qw(EAGAIN EWOULDBLOCK EINTR);
use WsTest;

my $t = WsTest->new;
my $dir = $t->dir;
my $echo = echo_backend();
my $l = listener();
my $bp = $l->sockport;
my $slow_port = free_port();
my $loc_port = free_port();

$t->run(http => <<"HTTP", server => <<"SERVER", servers => <<"SERVERS");
    limit_conn_zone \$binary_remote_addr zone=perip:1m;

    log_format rip 'rip uri=\$request_uri status=\$status '
                   'ra=\$remote_addr rra=\$realip_remote_addr '
                   'rp=\$remote_port rrp=\$realip_remote_port';
HTTP
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Real-IP;

        location /ws {
            limit_conn perip 1;
            ws_pass http://127.0.0.1:$echo;
        }

        location /ws429 {
            limit_conn perip 1;
            limit_conn_status 429;
            ws_pass http://127.0.0.1:$echo;
        }

        location /rip {
            access_log $dir/rip.log rip;
            access_log $dir/access.log ws;
            ws_pass http://127.0.0.1:$echo;
        }

        location = /plain {
            access_log $dir/rip.log rip;
            return 204;
        }
SERVER
    server {
        listen 127.0.0.1:$slow_port sndbuf=8k;
        server_name slow;

        location /slow/ {
            ws_send_timeout 2s;
            ws_pass http://127.0.0.1:$bp;
        }
    }

    server {
        listen 127.0.0.1:$loc_port;
        server_name realip-location;

        location /rip {
            set_real_ip_from 127.0.0.1;
            real_ip_header X-Real-IP;
            access_log $dir/rip.log rip;
            access_log $dir/access.log ws;
            ws_pass http://127.0.0.1:$echo;
        }
    }
SERVERS

my $worker = $t->worker_pid;
ok($worker, 'worker process found') or BAIL_OUT('no worker');

my $case_from = 0;

sub case_start {
    $case_from = length $t->error_log;
    $t->mark;
}

# the worker is the one found at the start, and the error log of the case
# has no alert, crit or crashed worker
sub healthy {
    my ($name) = @_;
    is($t->worker_pid, $worker, "$name: the worker is still alive");
    my @bad = grep { /\[alert\]|\[crit\]|exited on signal/ }
        split /\n/, substr($t->error_log, $case_from);
    ok(!@bad, "$name: no [alert], [crit] or worker crash in the error log")
        or diag(join "\n", @bad[0 .. ($#bad > 10 ? 10 : $#bad)]);
}

# a handshake to an echo location; returns (socket, parsed response)
sub ws_open {
    my ($path, %o) = @_;
    my $c = $t->client_handshake(path => $path, %o);
    my $r = read_response($c, 10);
    return ($c, $r);
}

# a text frame round trip through the echo backend
sub echo_ok {
    my ($c, $text, $name) = @_;
    send_all($c, cframe(OP_TEXT, $text));
    return frame_ok(read_frame($c, 5), sframe(OP_TEXT, $text), $name);
}

# the close handshake started by the client, answered by the echo backend
sub ws_close {
    my ($c, $name) = @_;
    send_all($c, cframe(OP_CLOSE, close_payload(1000)));
    frame_ok(read_frame($c, 5), sframe(OP_CLOSE, close_payload(1000)),
        "$name: close reply");
    expect_eof($c, "$name: connection closed");
    close $c;
}

# ---------------------------------------------------------------------------
# 1. limit_conn counts a WebSocket until it ends

for my $v ([ '/ws', 503 ], [ '/ws429', 429 ]) {
    my ($loc, $status) = @$v;
    my $name = "limit_conn $status";
    case_start();

    my ($c, $r) = ws_open("$loc/1");
    is($r && $r->{status}, 101, "$name: the first WebSocket is upgraded");
    echo_ok($c, 'first', "$name: the first echoes");
    sleep 0.3;

    for my $i (2 .. 5) {
        my ($c2, $r2) = ws_open("$loc/$i");
        is($r2 && $r2->{status}, $status,
            "$name: handshake $i while the first is open gets $status");
        close $c2;
    }
    $t->log_ok('error', qr/limiting connections by zone "perip"/,
        "$name: limit_conn logged the refusal");
    echo_ok($c, 'still here', "$name: the first still echoes");

    ws_close($c, "$name: first");
    ok($t->access_entry("$loc/1"), "$name: access log line of the first");

    # its end frees its place (the count is released at the end)
    my ($c3, $r3);
    my $deadline = time + 3;
    while (1) {
        ($c3, $r3) = ws_open("$loc/again");
        last if ($r3 && $r3->{status} == 101) || time >= $deadline;
        close $c3;
        sleep 0.1;
    }
    is($r3 && $r3->{status}, 101,
        "$name: a new WebSocket is upgraded once the first ended");
    if ($r3 && $r3->{status} == 101) {
        echo_ok($c3, 'again', "$name: and echoes");
        ws_close($c3, "$name: again");
    }
    healthy($name);
}

# ---------------------------------------------------------------------------
# 2. ws_send_timeout is re-armed on progress

# a client with a small receive buffer, set before connecting
sub small_client {
    my ($port) = @_;
    socket(my $s, PF_INET, SOCK_STREAM, IPPROTO_TCP) or die "socket: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, 8192) or die "SO_RCVBUF: $!";
    connect($s, pack_sockaddr_in($port, inet_aton('127.0.0.1')))
        or die "connect: $!";
    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
    binmode $s;
    $s->blocking(0);
    return $s;
}

# an upgrade through the sndbuf=8k server to the backend on $l
sub slow_pair {
    my ($path) = @_;
    my $c = small_client($slow_port);
    send_all($c, handshake_request(path => $path));
    my $b = accept_conn($l, 10) or return;
    my $req = parse_head(read_head($b, 10)) or return;
    send_all($b, response_101(hdr($req, 'sec-websocket-key') // ''));
    my $res = parse_head(read_head($c, 10));
    return unless $res && $res->{status} == 101;
    return ($c, $b);
}

my $flood = join '', map { sframe(OP_BINARY, pack('N', $_)
    . binary_payload(14996, $_)) } 1 .. 40;            # 600 KB

# a client reading 6 KB every 100 ms for about 10 s gets every byte
{
    my $name = 'send timeout, steady reader';
    case_start();
    my ($c, $b) = slow_pair('/slow/steady');
    ok($c, "$name: upgraded") or BAIL_OUT('no upgrade on the sndbuf server');

    my $data = $flood . sframe(OP_CLOSE, close_payload(1000));
    my ($off, $got, $eof) = (0, '', '');
    my $start = time;
    # bounded: 300 rounds of 100 ms
    for (1 .. 300) {
        while ($off < length $data) {
            my $n = syswrite($b, $data, length($data) - $off, $off);
            last unless defined $n && $n > 0;
            $off += $n;
        }
        my $n = sysread($c, $got, 6144, length $got);
        if (defined $n && $n == 0) {
            $eof = 'eof';
            last;
        }
        if (!defined $n && $! != EAGAIN && $! != EWOULDBLOCK && $! != EINTR) {
            $eof = "$!";
            last;
        }
        last if length $got >= length $data;
        sleep 0.1;
    }
    my $took = time - $start;
    note(sprintf "$name: read %d bytes in %.1f s", length $got, $took);
    is($eof, '', "$name: the connection was not cut");
    cmp_ok($took, '>', 4, "$name: the reading took longer than "
        . 'ws_send_timeout') if $eof eq '';
    bytes_is($got, $data, "$name: every byte arrived, then the close");

    send_all($c, cframe(OP_CLOSE, close_payload(1000)));
    my $f = read_frame($b, 5);
    ok(!$f->{error} && $f->{opcode} == OP_CLOSE && $f->{masked}
        && $f->{payload} eq close_payload(1000),
        "$name: the close reply reaches the backend");
    expect_eof($c, "$name: client connection closed");
    expect_eof($b, "$name: backend connection closed");
    close $c;
    close $b;
    $t->log_not('*', qr/timed out sending to client/,
        "$name: no send timeout logged");
    my $e = $t->access_entry('/slow/steady');
    is($e && $e->{code}, 1000, "$name: access log close code 1000");
    is($e && $e->{initiator}, 'upstream', "$name: closed by the backend");
    healthy($name);
}

# a client that stops reading is cut after ws_send_timeout
{
    my $name = 'send timeout, stalled reader';
    case_start();
    my ($c, $b) = slow_pair('/slow/stalled');
    ok($c, "$name: upgraded");

    my $sent = send_all($b, $flood, 4);
    note("$name: the backend wrote $sent bytes");
    masked_close_ok(read_frame($b, 10), 1001,
        "$name: the backend gets close 1001");
    send_all($b, sframe(OP_CLOSE, close_payload(1001)));
    expect_eof($b, "$name: backend connection closed");
    my ($d, $st) = read_until_eof($c, 10);
    like($st, qr/^(eof|reset)$/, "$name: client connection closed");
    cmp_ok(length $d, '<', length $flood,
        "$name: the client did not get everything");
    close $c;
    close $b;
    $t->log_ok('info', qr/ws: timed out sending to client\b/,
        "$name: ws: timed out sending to client");
    my $e = $t->access_entry('/slow/stalled');
    is($e && $e->{initiator}, 'proxy', "$name: closed by the proxy");
    healthy($name);
}

# ---------------------------------------------------------------------------
# 3. realip variables in the access log line of a detached WebSocket

sub rip_entry {
    my ($uri) = @_;
    my $deadline = time + 5;
    while (1) {
        for my $line (split /\n/, read_file("$dir/rip.log") // '') {
            next unless $line =~ /^rip uri=\Q$uri\E /;
            my %h = $line =~ /(\w+)=(\S*)/g;
            $h{line} = $line;
            return \%h;
        }
        return if time >= $deadline;
        sleep 0.05;
    }
}

# a plain request with the same header gives the shape of $remote_port:
# to a "return 204" location (realip of the server level), and without an
# Upgrade header to the WebSocket locations (a 426)
my %plain;
sub plain_ok {
    my ($port, $path, $ip, $status, $name) = @_;
    my $s = connect_to($port);
    my $cport = $s->sockport;
    send_all($s, "GET $path HTTP/1.1\r\nHost: localhost\r\n"
        . "X-Real-IP: $ip\r\nConnection: close\r\n\r\n");
    my $r = read_response($s, 5);
    is($r && $r->{status}, $status, "$name: $status");
    close $s;
    my $e = rip_entry($path);
    ok($e, "$name: log line") or return;
    is($e->{ra}, $ip, "$name: remote_addr from X-Real-IP");
    is($e->{rra}, '127.0.0.1', "$name: realip_remote_addr is the peer");
    is($e->{rrp}, $cport, "$name: realip_remote_port is the peer's");
    # $remote_port is either the peer's port or what realip set (none)
    my $shape = $e->{rp} eq $cport ? 'peer' : $e->{rp};
    note("$name: remote_port shows "
        . ($shape eq 'peer' ? 'the peer port' : "'$e->{rp}'"));
    return $shape;
}

for my $ip ('192.0.2.7', '2001:db8::1') {
    my $v = $ip =~ /:/ ? 'v6' : 'v4';
    $plain{$ip} = plain_ok($t->port, "/plain?$v", $ip, 204, "plain $ip");
    my $s2 = plain_ok($t->port, "/rip?plain-$v", $ip, 426,
        "plain $ip to the WebSocket location");
    is($s2, $plain{$ip}, "plain $ip: the same remote_port in both");
    my $s3 = plain_ok($loc_port, "/rip?plain-loc-$v", $ip, 426,
        "plain $ip, realip in the location");
    is($s3, $plain{$ip}, "plain $ip: the same remote_port with realip in "
        . 'the location');
}

for my $srv ([ 'realip', $t->port ], [ 'realip in location', $loc_port ]) {
    my ($name, $port) = @$srv;
    case_start();
    my $n = 0;
    for my $ip ('192.0.2.7', '2001:db8::1') {
        # request lines and headers of every length modulo 8
        for my $path ('/rip', '/rip?a', '/rip?ab', '/rip?abc', '/ripx',
            '/ripxy?1', '/rip?abcde', '/rip?abcdef', '/rip?abcdefg')
        {
            $n++;
            my $uri = "$path" . ($path =~ /\?/ ? '&' : '?') . "n=$n-$port";
            my $c = connect_to($port);
            send_all($c, handshake_request(path => $uri,
                headers => ["X-Real-IP: $ip", 'X-Pad: ' . ('p' x ($n % 8))]));
            my $cport = $c->sockport;
            my $r = read_response($c, 10);
            is($r && $r->{status}, 101, "$name $uri ($ip): upgraded")
                or next;
            echo_ok($c, "live $n", "$name $uri: echo");
            sleep($n == 1 ? 0.3 : 0.05);
            echo_ok($c, "still $n", "$name $uri: echo after detach");
            ws_close($c, "$name $uri");
            my $e = rip_entry($uri);
            ok($e, "$name $uri: log line") or next;
            is($e->{status}, 101, "$name $uri: status");
            is($e->{ra}, $ip, "$name $uri: remote_addr is $ip");
            is($e->{rra}, '127.0.0.1',
                "$name $uri: realip_remote_addr is the TCP peer");
            is($e->{rrp}, $cport,
                "$name $uri: realip_remote_port is the client's port");
            my $want = ($plain{$ip} // '') eq 'peer' ? $cport : $plain{$ip};
            is($e->{rp}, $want,
                "$name $uri: remote_port as for a plain request");
        }
    }
    healthy($name);
}

$t->stop;
done_testing;
