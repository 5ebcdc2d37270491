# An upgraded WebSocket is detached from its HTTP request once the 101 is
# written (docs/design.md, "Memory"): the access log line is then written
# from a snapshot, with every kind of variable; the balancer still counts
# the connection until it ends (max_conns); error log lines keep the
# request's context; stub_status counts it as writing; subrequests
# (auth_request, mirror) delay it; a balancer that keeps state in the
# request (keepalive) keeps the request attached.

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
my $dir = $t->dir;

my $full = 'full uri=$request_uri request="$request" method=$request_method '
    . 'args="$args" host=$host ua="$http_user_agent" cookie=$cookie_sid '
    . 'status=$status set="$ws_test_set" rid=$request_id '
    . 'sent_upgrade=$sent_http_upgrade up_hdr=$upstream_http_x_backend '
    . 'remote=$remote_addr rt=$request_time upt=$upstream_response_time '
    . 'up=$upstream_addr code=$ws_close_code frames_in=$ws_frames_in';

$t->run(http => <<"HTTP", server => <<"SERVER");
    log_format full '$full';

    upstream limited {
        server 127.0.0.1:$bp max_conns=1;
    }

    upstream pooled {
        server 127.0.0.1:$bp;
        keepalive 4;
    }
HTTP
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Real-IP;

        location /full/ {
            set \$ws_test_set "value of set";
            ws_set_header X-Request-Id \$request_id;
            access_log $dir/full.log full;
            error_log $dir/debug.log debug;
            ws_pass http://127.0.0.1:$bp;
        }

        location /limited/ {
            ws_pass http://limited;
        }

        location /pooled/ {
            error_log $dir/debug.log debug;
            ws_pass http://pooled;
        }

        location /nolog/ {
            access_log off;
            error_log $dir/debug.log debug;
            ws_pass http://127.0.0.1:$bp;
        }

        location = /status {
            stub_status;
        }

        location /sub/ {
            auth_request /auth;
            mirror /mirror;
            error_log $dir/debug.log debug;
            ws_pass http://127.0.0.1:$bp;
        }

        location = /auth {
            internal;
            return 204;
        }

        location = /mirror {
            internal;
            return 204;
        }
SERVER

sub full_entry {
    my ($uri) = @_;
    my $deadline = time + 5;
    while (time < $deadline) {
        for my $line (split /\n/, read_file("$dir/full.log") // '') {
            next unless $line =~ /^full uri=\Q$uri\E /;
            my %h;
            while ($line =~ /(\w+)=("[^"]*"|\S*)/g) {
                my ($k, $v) = ($1, $2);
                $v =~ s/^"(.*)"$/$1/;
                $h{$k} = $v;
            }
            return \%h;
        }
        sleep 0.05;
    }
    return;
}

# waits for a line of the debug log (the locations' error_log)
sub debug_ok {
    my ($re, $name) = @_;
    my $deadline = time + 5;
    while (time < $deadline) {
        return pass($name) if (read_file("$dir/debug.log") // '') =~ $re;
        sleep 0.05;
    }
    fail($name);
    diag('debug log: ' . substr(read_file("$dir/debug.log") // '', -3000));
}

sub close_both {
    my ($p, $name) = @_;
    my ($c, $b) = @$p{qw(client backend)};
    my $cl = cframe(OP_CLOSE, close_payload(1000));
    send_all($c, $cl);
    frame_ok(read_frame($b), $cl, "$name: close reaches the backend");
    my $reply = sframe(OP_CLOSE, close_payload(1000));
    send_all($b, $reply);
    frame_ok(read_frame($c), $reply, "$name: reply reaches the client");
    expect_eof($c, "$name: client connection closed");
    expect_eof($b, "$name: backend connection closed");
    close $c;
    close $b;
}

sub status_page {
    my $s = $t->client;
    send_all($s, "GET /status HTTP/1.0\r\nHost: localhost\r\n\r\n");
    my ($body) = read_until_eof($s, 5);
    close $s;
    return $body // '';
}

# the access log line: every kind of variable, after the request is freed
{
    my $p = $t->ws_pair($l, path => '/full/x?a=1&b=2',
        headers => ['User-Agent: detach-test/1.0', 'X-Real-IP: 127.0.0.9',
                    'Cookie: theme=dark; sid=s3cr3t'],
        resp_headers => ['X-Backend: b7']);
    my ($c, $b) = @$p{qw(client backend)};
    my $rid = hdr($p->{request}, 'x-request-id') // '';
    like($rid, qr/^[0-9a-f]{32}$/, 'full: $request_id sent to the backend');

    my $m = cframe(OP_TEXT, 'hello');
    send_all($c, $m);
    frame_ok(read_frame($b), $m, 'full: a frame passes');
    debug_ok(qr/ws: request detached, snapshot of \d+ bytes/,
        'full: the request is detached');

    sleep 0.3;
    close_both($p, 'full');

    my $e = full_entry('/full/x?a=1&b=2');
    ok($e, 'full: access log line') or BAIL_OUT('no access log line');
    is($e->{request}, 'GET /full/x?a=1&b=2 HTTP/1.1', 'full: $request');
    is($e->{method}, 'GET', 'full: $request_method');
    is($e->{args}, 'a=1&b=2', 'full: $args');
    is($e->{host}, 'localhost', 'full: $host');
    is($e->{ua}, 'detach-test/1.0', 'full: $http_user_agent');
    is($e->{cookie}, 's3cr3t', 'full: $cookie_sid');
    is($e->{status}, 101, 'full: $status');
    is($e->{set}, 'value of set', 'full: a variable of "set"');
    is($e->{rid}, $rid, 'full: $request_id as sent to the backend');
    is($e->{sent_upgrade}, 'websocket', 'full: $sent_http_upgrade');
    is($e->{up_hdr}, 'b7', 'full: $upstream_http_x_backend');
    is($e->{remote}, '127.0.0.9', 'full: $remote_addr of realip');
    cmp_ok($e->{rt}, '>=', 0.3, 'full: $request_time covers the WebSocket');
    cmp_ok($e->{upt}, '>=', 0.3, 'full: $upstream_response_time too');
    is($e->{up}, "127.0.0.1:$bp", 'full: $upstream_addr');
    is($e->{code}, 1000, 'full: $ws_close_code');
    is($e->{frames_in}, 2, 'full: $ws_frames_in');
}

# error log lines of a detached WebSocket keep the request's context
{
    $t->mark;
    my $p = $t->ws_pair($l, path => '/full/e',
        headers => ['X-Real-IP: 127.0.0.10']);
    my ($c, $b) = @$p{qw(client backend)};
    my $m = sframe(OP_BINARY, 'x');
    send_all($b, $m);
    frame_ok(read_frame($c), $m, 'context: a frame passes');
    debug_ok(qr/ws: request detached(?s:.*)ws: request detached/,
        'context: detached');
    close $b;
    frame_ok(read_frame($c), sframe(OP_CLOSE, close_payload(1011)),
        'context: the client gets 1011');
    debug_ok(qr/\[error\] .*ws: upstream closed connection without close (?x)
        frame\ while\ proxying\ websocket,\ client:\ 127\.0\.0\.10,
        \ server:\ localhost,\ request:\ "GET\ \/full\/e\ HTTP\/1\.1",
        \ upstream:\ "ws:\/\/127\.0\.0\.1:$bp",\ host:\ "localhost"$/m,
        'context: client, server, request, upstream and host');
    send_all($c, cframe(OP_CLOSE, close_payload(1011)));
    expect_eof($c, 'context: client connection closed');
    close $c;
}

# the balancer counts the connection until it ends: max_conns=1
{
    $t->mark;
    my $p = $t->ws_pair($l, path => '/limited/1');
    my $m = cframe(OP_TEXT, 'one');
    send_all($p->{client}, $m);
    frame_ok(read_frame($p->{backend}), $m, 'max_conns: first WebSocket');

    my $c2 = $t->client_handshake(path => '/limited/2');
    my $res = read_response($c2, 10);
    is($res->{status}, 502, 'max_conns: a second one gets 502');
    close $c2;
    $t->log_ok('error', qr/no live upstreams/,
        'max_conns: no live upstreams');

    close_both($p, 'max_conns');
    # the end of the first frees its place
    my $deadline = time + 5;
    my $p3;
    while (time < $deadline) {
        my $e = $t->access_entry('/limited/1', 0.1);
        last if $e;
    }
    $p3 = eval { $t->ws_pair($l, path => '/limited/3') };
    ok($p3, 'max_conns: a new one is proxied once the first ended');
    close_both($p3, 'max_conns 3') if $p3;
}

# stub_status counts a detached WebSocket as active and writing
{
    my $p = $t->ws_pair($l, path => '/full/s');
    my $m = cframe(OP_TEXT, 'status');
    send_all($p->{client}, $m);
    frame_ok(read_frame($p->{backend}), $m, 'stub_status: a frame passes');
    my $st = status_page();
    like($st, qr/Active connections: 2 /, 'stub_status: active');
    like($st, qr/Reading: 0 Writing: 2 Waiting: 0/,
        'stub_status: the WebSocket is writing');
    close_both($p, 'stub_status');
    $t->access_entry('/full/s') for 1;
    my $deadline = time + 5;
    while (time < $deadline) {
        $st = status_page();
        last if $st =~ /Active connections: 1 /;
        sleep 0.05;
    }
    like($st, qr/Reading: 0 Writing: 1 Waiting: 0/,
        'stub_status: counted no more after its end');
}

# subrequests (auth_request before, mirror beside the upgrade): the request
# is freed once no subrequest refers to it
{
    my $p = $t->ws_pair($l, path => '/sub/m');
    my ($c, $b) = @$p{qw(client backend)};
    for my $i (1 .. 3) {
        my $m = cframe(OP_BINARY, "sub $i");
        send_all($c, $m);
        frame_ok(read_frame($b), $m, "subrequests: frame $i to the backend");
        my $r = sframe(OP_BINARY, "reply $i");
        send_all($b, $r);
        frame_ok(read_frame($c), $r, "subrequests: frame $i to the client");
    }
    close_both($p, 'subrequests');
    my $e = $t->access_entry('/sub/m');
    ok($e, 'subrequests: access log line');
    is($e && $e->{code}, 1000, 'subrequests: close code');
    is($e && $e->{frames_in}, 4, 'subrequests: frames in');
    is($e && $e->{frames_out}, 4, 'subrequests: frames out');
}

# keepalive keeps its state in the request: the request stays attached
{
    $t->mark;
    my $p = $t->ws_pair($l, path => '/pooled/k');
    my $m = cframe(OP_TEXT, 'pooled');
    send_all($p->{client}, $m);
    frame_ok(read_frame($p->{backend}), $m, 'keepalive: a frame passes');
    debug_ok(qr/ws: balancer keeps the request attached/,
        'keepalive: the request stays');
    close_both($p, 'keepalive');
    my $e = $t->access_entry('/pooled/k');
    ok($e, 'keepalive: access log line');
    is($e->{code}, 1000, 'keepalive: close code') if $e;
    is($e->{frames_in}, 2, 'keepalive: frames in') if $e;
}

# "access_log off": no line is written (the request is not rebuilt for
# the log phase), the next WebSocket's line is, with its own variables
{
    $t->mark;
    my $debug_at = length(read_file("$dir/debug.log") // '');
    my $p = $t->ws_pair($l, path => '/nolog/n');
    my $m = cframe(OP_TEXT, 'quiet');
    send_all($p->{client}, $m);
    frame_ok(read_frame($p->{backend}), $m, 'access_log off: a frame passes');
    # ws_status's log handler (counting refused handshakes) does not make
    # the snapshot keep what a log line needs
    my ($snap) = substr(read_file("$dir/debug.log") // '', $debug_at)
        =~ /ws: request detached, snapshot of (\d+) bytes/;
    cmp_ok($snap // 99999, '<', 700,
        'access_log off: a snapshot for error log lines only');
    sleep 0.2;
    close_both($p, 'access_log off');

    $p = $t->ws_pair($l, path => '/limited/after-nolog');
    close_both($p, 'after access_log off');
    my $e = $t->access_entry('/limited/after-nolog');
    ok($e, 'after access_log off: access log line');
    is($e && $e->{code}, 1000, 'after access_log off: close code');
    is(scalar(grep { $_->{uri} =~ m{^/nolog/} } $t->access_entries), 0,
        'access_log off: no line');
    is($t->bad_log_lines, 0, 'access_log off: no error log line');

    # the snapshot still gives error log lines the request's context
    $p = $t->ws_pair($l, path => '/nolog/e');
    my ($c, $b) = @$p{qw(client backend)};
    $m = sframe(OP_BINARY, 'x');
    send_all($b, $m);
    frame_ok(read_frame($c), $m, 'access_log off: a frame to the client');
    sleep 0.2;
    close $b;
    frame_ok(read_frame($c), sframe(OP_CLOSE, close_payload(1011)),
        'access_log off: the client gets 1011');
    debug_ok(qr/\[error\] .*ws: upstream closed connection without close (?x)
        frame\ while\ proxying\ websocket,\ client:\ 127\.0\.0\.1,
        \ server:\ localhost,\ request:\ "GET\ \/nolog\/e\ HTTP\/1\.1",
        \ upstream:\ "ws:\/\/127\.0\.0\.1:$bp",\ host:\ "localhost"$/m,
        'access_log off: error log context of a detached WebSocket');
    send_all($c, cframe(OP_CLOSE, close_payload(1011)));
    expect_eof($c, 'access_log off: client connection closed');
    close $c;
}

$t->stop;

done_testing();
