# Regression tests of protocol edge cases: an invalid close frame from
# either side closes both connections promptly (it is the offender's close,
# no other one is awaited); a backend's interim responses (100, 102, 103)
# before its 101 are skipped with their headers; ws_set_header Host never
# leaves the request to the backend without a Host.  Each case checks that
# the worker survived and that the error log has no [alert], [crit] or
# crashed worker.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use WsTest;

my $t = WsTest->new;
my $dir = $t->dir;
my $l = listener();
my $bp = $l->sockport;

# ---------------------------------------------------------------------------
# backends answering with interim responses before their 101, then echoing

sub echo_frames {
    my ($s) = @_;
    while (1) {
        my $f = read_frame($s, 30);
        return if $f->{error};
        if ($f->{opcode} == OP_CLOSE) {
            send_all($s, sframe(OP_CLOSE, $f->{payload}));
            read_until_eof($s, 5);
            return;
        }
        send_all($s, frame(fin => $f->{fin}, opcode => $f->{opcode},
            payload => $f->{payload}));
    }
}

# interim => [responses], split => pause between the writes (else one write)
sub interim_backend {
    my (%o) = @_;
    return serve(handler => sub {
        my ($s) = @_;
        my $head = read_head($s, 30) or return;
        my $key = hdr(parse_head($head), 'sec-websocket-key') // '';
        my @parts = (@{ $o{interim} }, $o{final} // response_101($key));
        if ($o{split}) {
            for my $p (@parts) {
                send_all($s, $p);
                sleep $o{split};
            }
        } else {
            send_all($s, join '', @parts);
        }
        echo_frames($s);
    });
}

my $C100 = "HTTP/1.1 100 Continue\r\n\r\n";
my $C102 = "HTTP/1.1 102 Processing\r\n\r\n";
my $C103 = "HTTP/1.1 103 Early Hints\r\n"
    . "Link: </style.css>; rel=preload; as=style\r\n"
    . "X-Hint: early\r\n\r\n";

my %interim = (
    '100'       => interim_backend(interim => [$C100]),
    '100-split' => interim_backend(interim => [$C100], split => 0.1),
    '102'       => interim_backend(interim => [$C102]),
    '103'       => interim_backend(interim => [$C103]),
    '103-split' => interim_backend(interim => [$C103], split => 0.1),
    'all'       => interim_backend(interim => [$C100, $C103, $C102]),
    'all-split' => interim_backend(interim => [$C100, $C103, $C102],
                                   split => 0.05),
);
my $only100 = fixed_backend(response => $C100);
# at most 8 interim responses are skipped: 8 pass, the 9th is a 502
$interim{'eight'} = interim_backend(interim => [($C100) x 8]);
my $nine = interim_backend(interim => [($C100) x 9]);
# a tunnel is never an error page (its status would replace the 101)
my $trap = listener();
my $trap_port = $trap->sockport;
my $then403 = fixed_backend(response => $C100 . "HTTP/1.1 403 Forbidden\r\n"
    . "Content-Length: 6\r\nConnection: close\r\n\r\nno way");

# ---------------------------------------------------------------------------
# ws_set_header Host "": refused by nginx -t, or the default Host is sent

my %host_refused;
my %host_out;
for my $spelling ('Host', 'host') {
    my ($rc, $out) = $t->conf_test(server => <<"SERVER");
        location / {
            ws_pass http://127.0.0.1:$bp;
            ws_set_header $spelling "";
        }
SERVER
    $host_refused{$spelling} = $rc != 0;
    $host_out{$spelling} = $out;
}

my $server = <<"SERVER";
        location /cl/ {
            ws_pass http://127.0.0.1:$bp;
            ws_close_timeout 10s;
        }

        location /hostvar/ {
            ws_pass http://127.0.0.1:$bp;
            ws_set_header Host \$arg_h;
        }
SERVER
for my $spelling (grep { !$host_refused{$_} } sort keys %host_refused) {
    $server .= <<"SERVER";
        location /hostempty-$spelling/ {
            ws_pass http://127.0.0.1:$bp;
            ws_set_header $spelling "";
        }
SERVER
}
for my $k (sort keys %interim) {
    $server .= <<"SERVER";
        location /interim-$k/ {
            ws_pass http://127.0.0.1:$interim{$k};
        }
SERVER
}
$server .= <<"SERVER";
        location /only100/ {
            ws_pass http://127.0.0.1:$only100;
        }
        location /then403/ {
            ws_pass http://127.0.0.1:$then403;
        }
        location /nine/ {
            ws_pass http://127.0.0.1:$nine;
        }
        location /static/ {
            root $dir/nonexistent;
            error_page 404 /errpage/;
        }
        location /static200/ {
            root $dir/nonexistent;
            error_page 404 =200 /errpage/;
        }
        location /errpage/ {
            ws_pass http://127.0.0.1:$trap_port;
        }
SERVER

$t->run(server => $server);

my $worker = $t->worker_pid;
ok($worker, 'worker process found') or BAIL_OUT('no worker');

my $case_from = 0;

sub case_start {
    $case_from = length $t->error_log;
    $t->mark;
}

sub healthy {
    my ($name) = @_;
    is($t->worker_pid, $worker, "$name: the worker is still alive");
    my @bad = grep { /\[alert\]|\[crit\]|exited on signal/ }
        split /\n/, substr($t->error_log, $case_from);
    ok(!@bad, "$name: no [alert], [crit] or worker crash in the error log")
        or diag(join "\n", @bad[0 .. ($#bad > 10 ? 10 : $#bad)]);
}

# ---------------------------------------------------------------------------
# 4. an invalid close frame closes both connections promptly

# Test: nginx closes both connections (clean EOF, nothing more) within
# $timeout seconds, one deadline for both.
sub both_closed {
    my ($first, $second, $timeout, $name) = @_;
    my $deadline = time + $timeout;
    for my $s ([ @$first ], [ @$second ]) {
        my ($sock, $what) = @$s;
        my $left = $deadline - time;
        $left = 0.1 if $left < 0.1;
        expect_eof($sock, "$name: nginx closes the $what connection promptly",
            $left);
    }
}

sub bad_closes {
    my ($masked) = @_;
    my $f = sub {
        frame(opcode => OP_CLOSE, payload => $_[0], mask => $masked ? 1 : 0)
    };
    my @c = (
        [ '1-byte payload', $f->("\x03"), 'invalid close frame payload',
          1002 ],
        [ '126-byte payload', $f->(close_payload(1000, 'r' x 124)),
          'control frame too long', 1002 ],
        [ 'reason not UTF-8', $f->(close_payload(1000, "\xff\xfe")),
          'invalid UTF-8 in close reason', 1007 ],
    );
    for my $code (0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999) {
        push @c, [ "code $code", $f->(close_payload($code)),
            'invalid close code', 1002 ];
    }
    return @c;
}

my $n = 0;

# from the client: the client gets 1002 (1007), the backend 1001; once the
# backend replied nginx closes both without waiting for another close from
# the client
for my $bc (bad_closes(1)) {
    my ($what, $bad, $reason, $code) = @$bc;
    my $name = "client close with $what";
    my $uri = '/cl/c' . ++$n;
    case_start();
    my $p = $t->ws_pair($l, path => $uri);
    my ($c, $b) = @$p{qw(client backend)};
    my $m = cframe(OP_TEXT, 'before');
    send_all($c, $m);
    frame_ok(read_frame($b), $m, "$name: a frame before it passes");

    send_all($c, $bad);
    masked_close_ok(read_frame($b), 1001, "$name: the backend gets 1001");
    send_all($b, sframe(OP_CLOSE, close_payload(1001)));
    frame_ok(read_frame($c), "\x88\x02" . pack('n', $code),
        "$name: the client gets $code");
    both_closed([ $c, 'client' ], [ $b, 'backend' ], 3, $name);
    close $c;
    close $b;

    my $e = $t->access_entry($uri, 12);
    is($e && $e->{code}, $code, "$name: access log code $code");
    is($e && $e->{initiator}, 'proxy', "$name: access log initiator proxy");
    $t->log_ok('info',
        "ws: client sent invalid frame: $reason, closing with $code",
        "$name: logged");
    $t->log_not('*', 'ws: client closed connection without close frame',
        "$name: not logged as a client gone without a close frame");
    $t->log_not('*', 'ws: close handshake timed out',
        "$name: no close timeout");
    healthy($name);
}

# from the backend: the client gets 1011, the backend 1002 (1007); once the
# client replied nginx closes both without waiting for another close from
# the backend
for my $bc (bad_closes(0)) {
    my ($what, $bad, $reason, $code) = @$bc;
    my $name = "backend close with $what";
    my $uri = '/cl/b' . ++$n;
    case_start();
    my $p = $t->ws_pair($l, path => $uri);
    my ($c, $b) = @$p{qw(client backend)};
    my $m = sframe(OP_TEXT, 'before');
    send_all($b, $m);
    frame_ok(read_frame($c), $m, "$name: a frame before it passes");

    send_all($b, $bad);
    frame_ok(read_frame($c), "\x88\x02\x03\xf3",
        "$name: the client gets 1011");
    masked_close_ok(read_frame($b), $code, "$name: the backend gets $code");
    send_all($c, cframe(OP_CLOSE, close_payload(1011)));
    both_closed([ $b, 'backend' ], [ $c, 'client' ], 3, $name);
    close $c;
    close $b;

    my $e = $t->access_entry($uri, 12);
    is($e && $e->{code}, $code, "$name: access log code $code");
    is($e && $e->{initiator}, 'proxy', "$name: access log initiator proxy");
    $t->log_ok('error',
        "ws: upstream sent invalid frame: $reason, closing with $code",
        "$name: logged");
    $t->log_not('*', 'ws: upstream closed connection without close frame',
        "$name: not logged as a backend gone without a close frame");
    $t->log_not('*', 'ws: close handshake timed out',
        "$name: no close timeout");
    healthy($name);
}

# ---------------------------------------------------------------------------
# 5. interim responses before the backend's 101 are skipped

for my $k (sort keys %interim) {
    my $name = "interim $k";
    my $uri = "/interim-$k/x";
    case_start();
    my $key = ws_key();
    my $c = $t->client_handshake(path => $uri, key => $key);
    my $head = read_head($c, 10);
    my $r = parse_head($head);
    is($r && $r->{status}, 101, "$name: the client gets the 101");
    if (!$r || $r->{status} != 101) {
        diag("got: " . ($head // '(nothing)'));
        close $c;
        healthy($name);
        next;
    }
    is(hdr($r, 'sec-websocket-accept'), ws_accept($key),
        "$name: with the accept value of the client's key");
    is(hdr_count($r, 'link') + hdr_count($r, 'x-hint'), 0,
        "$name: no header of an interim response");
    unlike($head, qr/Continue|Processing|Early Hints/,
        "$name: nothing of an interim response in the 101");

    my $m1 = cframe(OP_TEXT, "hello $k");
    my $m2 = cframe(OP_BINARY, "\x00\x01\x02" x 100);
    send_all($c, $m1 . $m2);
    frame_ok(read_frame($c), sframe(OP_TEXT, "hello $k"),
        "$name: a text frame echoes");
    frame_ok(read_frame($c), sframe(OP_BINARY, "\x00\x01\x02" x 100),
        "$name: a binary frame echoes");
    send_all($c, cframe(OP_CLOSE, close_payload(1000)));
    frame_ok(read_frame($c), sframe(OP_CLOSE, close_payload(1000)),
        "$name: close reply");
    expect_eof($c, "$name: connection closed");
    close $c;
    my $e = $t->access_entry($uri);
    is($e && $e->{status}, 101, "$name: access log status 101");
    is($e && $e->{code}, 1000, "$name: access log close code");
    healthy($name);
}

# a backend that closes after its 100 Continue: 502
{
    my $name = 'interim only';
    case_start();
    my $c = $t->client_handshake(path => '/only100/x');
    my $r = read_response($c, 10);
    is($r && $r->{status}, 502, "$name: the client gets 502");
    unlike($r ? $r->{raw} : '', qr/^HTTP\/1\.1 100/,
        "$name: not the 100");
    close $c;
    ok($t->log_line('error', qr/upstream/, 2),
        "$name: an error is logged");
    healthy($name);
}

# more than 8 interim responses: 502
{
    my $name = 'nine interim responses';
    case_start();
    my $c = $t->client_handshake(path => '/nine/x');
    my $r = read_response($c, 10);
    is($r && $r->{status}, 502, "$name: the client gets 502");
    close $c;
    ok($t->log_line('error',
        qr/ws: upstream sent too many interim responses/, 2),
        "$name: logged");
    healthy($name);
}

# error_page to a ws_pass location: 500, nothing reaches the backend
for my $uri ('/static/x', '/static200/x') {
    my $name = "error_page to ws_pass ($uri)";
    case_start();
    my $c = $t->client_handshake(path => $uri);
    my $r = read_response($c, 10);
    is($r && $r->{status}, 500, "$name: the client gets 500");
    is($r && hdr($r, 'upgrade'), undef, "$name: no Upgrade header");
    close $c;
    ok($t->log_line('error', qr/ws: ws_pass cannot serve an error page/, 2),
        "$name: logged");
    ok(!accept_conn($trap, 0.3), "$name: nothing reached the backend");
    healthy($name);
}

# a 403 after the 100: the 403 is passed as an ordinary response
{
    my $name = 'interim then 403';
    case_start();
    my $c = $t->client_handshake(path => '/then403/x');
    my $r = read_response($c, 10);
    is($r && $r->{status}, 403, "$name: the client gets the 403");
    is($r && $r->{body}, 'no way', "$name: with its body");
    expect_eof($c, "$name: connection closed");
    close $c;
    healthy($name);
}

# ---------------------------------------------------------------------------
# 6. ws_set_header Host keeps a Host

sub host_of {
    my ($path) = @_;
    my $p = $t->ws_pair($l, path => $path, host => 'client.test');
    my $req = $p->{request};
    close_pair($p);
    return (hdr($req, 'host'), hdr_count($req, 'host'));
}

# exactly one of: refused by nginx -t with a message about Host, or
# accepted and the default Host is sent
for my $spelling ('Host', 'host') {
    my $name = "ws_set_header $spelling \"\"";
    case_start();
    if ($host_refused{$spelling}) {
        note("$name: refused by nginx -t");
        like($host_out{$spelling}, qr/\[emerg\] .*\bHost\b/,
            "$name: refused with a message about Host");
        like($host_out{$spelling}, qr/"Host" cannot be empty/,
            "$name: the message says \"Host\" cannot be empty");
    } else {
        note("$name: accepted by nginx -t; checking the default Host");
        my ($h, $cnt) = host_of("/hostempty-$spelling/x");
        is($h, "127.0.0.1:$bp", "$name: the backend gets the default Host");
        is($cnt, 1, "$name: one Host header");
    }
    healthy($name);
}

{
    my $name = 'ws_set_header Host $arg_h';
    case_start();
    my ($h, $cnt) = host_of('/hostvar/x');
    is($h, "127.0.0.1:$bp", "$name: no h: the default Host");
    is($cnt, 1, "$name: no h: one Host header");
    ($h, $cnt) = host_of('/hostvar/x?h=');
    is($h, "127.0.0.1:$bp", "$name: empty h: the default Host");
    is($cnt, 1, "$name: empty h: one Host header");
    ($h, $cnt) = host_of('/hostvar/x?h=backend.test');
    is($h, 'backend.test', "$name: h=backend.test: that Host");
    is($cnt, 1, "$name: h=backend.test: one Host header");
    healthy($name);
}

$t->stop;
done_testing;
