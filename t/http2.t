# WebSocket handshakes that are not HTTP/1.1 on a connection of their own:
# over HTTP/2 (h2c with prior knowledge, and TLS with ALPN h2), as a GET
# with the HTTP/1.1 upgrade headers or as RFC 8441's extended CONNECT, and
# over HTTP/1.0.  None becomes a tunnel and nothing reaches the backend;
# afterwards the same worker still serves HTTP/1.1 WebSockets and requests.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP qw(decode_json);
use Test::More;
use WsTest;

my $t = WsTest->new;

my ($vrc, $nv) = run_cmd(cmd => [$ENV{NGINX_BIN} || '/usr/sbin/nginx',
    '-V'], timeout => 30);
plan skip_all => 'nginx is built without --with-http_v2_module'
    unless $nv =~ /--with-http_v2_module\b/;
my ($hrc) = run_cmd(cmd => [python_bin(), '-c',
    'import h2.connection, h2.config, h2.events'], timeout => 30);
plan skip_all => 'python3 h2 not installed' unless $hrc == 0;
my ($orc) = run_cmd(cmd => ['openssl', 'version']);
plan skip_all => 'openssl not found' unless $orc == 0;

my $dir = $t->dir;
{
    my ($rc, $out) = run_cmd(cmd => ['openssl', 'req', '-x509', '-newkey',
        'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '2',
        '-addext', 'subjectAltName=DNS:localhost',
        '-keyout', "$dir/server.key", '-out', "$dir/server.crt"],
        timeout => 60);
    is($rc, 0, 'certificate generated') or diag($out);
}

my $KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

# The backend of the locations the refused handshakes go to: a WebSocket
# echo server that notes every connection it accepts, before reading
# anything, in trap.log.
my $trap_log = "$dir/trap.log";
my $trap = serve(handler => sub {
    my ($s) = @_;
    note_conn("connection\n");
    my $head = read_head($s, 30);
    note_conn($head // "(no request head)\n");
    return unless defined $head;
    my $req = parse_head($head);
    send_all($s, response_101(hdr($req, 'sec-websocket-key') // ''));
    while (1) {
        my $f = read_frame($s, 30);
        return if $f->{error};
        if ($f->{opcode} == OP_CLOSE) {
            send_all($s, sframe(OP_CLOSE, $f->{payload}));
            return;
        }
        send_all($s, frame(fin => $f->{fin}, opcode => $f->{opcode},
            payload => $f->{payload}));
    }
});

sub note_conn {
    my ($data) = @_;
    open my $fh, '>>:raw', $trap_log or return;
    print {$fh} $data;
    close $fh;
}

my $echo = echo_backend();
my $h2c = free_port();
my $h2s = free_port();

my $h2_locations = <<"LOC";
        location /ws/ {
            ws_pass http://127.0.0.1:$trap;
        }
        location = /ok {
            return 200 "ok\\n";
        }
LOC

$t->run(server => <<"SERVER", servers => <<"SERVERS");
        location /echo/ {
            ws_pass http://127.0.0.1:$echo;
        }
        location /ws/ {
            ws_pass http://127.0.0.1:$trap;
        }
        location = /ok {
            return 200 "ok\\n";
        }
SERVER
    server {
        listen 127.0.0.1:$h2c http2;
        server_name localhost;
$h2_locations
    }

    server {
        listen 127.0.0.1:$h2s ssl http2;
        server_name localhost;
        ssl_certificate $dir/server.crt;
        ssl_certificate_key $dir/server.key;
$h2_locations
    }
SERVERS

my $worker = $t->worker_pid;
ok($worker, "worker process found");

# Runs h2_client.py; returns the decoded JSON result (undef on failure).
sub h2_run {
    my (%o) = @_;
    my ($rc, $out) = run_cmd(timeout => 60, cmd => [python_bin(),
        peer_path('h2_client.py'),
        ($o{tls} ? ('--tls', '--cafile', "$dir/server.crt") : ()),
        '--then', '/ok', $o{port}, $o{variant}, $o{path}]);
    is($rc, 0, "$o{name}: client exited with 0") or diag($out);
    my ($json) = grep { /^\{/ } reverse split /\n/, $out;
    my $res = eval { decode_json($json // '') };
    ok($res, "$o{name}: client printed its result") or diag($out);
    return $res;
}

sub h2_hdr {
    my ($s, $name) = @_;
    my @v = map { $_->[1] } grep { $_->[0] eq $name } @{ $s->{headers} };
    return @v ? join(', ', @v) : undef;
}

# The HTTP/2 connection itself: ALPN over TLS, no extended CONNECT
# advertised, the follow-up GET /ok on the same connection answered,
# no GOAWAY.
sub h2_conn_ok {
    my ($name, $res, $tls) = @_;
    is($res->{alpn}, $tls ? 'h2' : undef,
        "$name: " . ($tls ? 'ALPN h2' : 'prior knowledge, no ALPN'));
    ok(!$res->{settings}{8},
        "$name: server does not offer SETTINGS_ENABLE_CONNECT_PROTOCOL");
    is(scalar @{ $res->{streams} }, 2, "$name: two streams");
    my $next = $res->{streams}[1] // {};
    is($next->{stream_id}, 3, "$name: follow-up stream 3");
    is($next->{status}, '200', "$name: follow-up GET /ok on the same "
        . 'connection: 200');
    is($next->{body}, "ok\n", "$name: follow-up body");
    ok($next->{ended} && !defined $next->{reset},
        "$name: follow-up stream ended without reset");
    is($res->{goaway}, undef, "$name: no GOAWAY") or diag explain $res;
    ok(!$res->{eof}, "$name: connection still open");
}

# After each case: the worker is the same process, an HTTP/1.1 WebSocket on
# the plain server upgrades and echoes, a keep-alive connection serves
# several requests, and 20 new connections in a row are served.
sub alive_ok {
    my ($name) = @_;
    is($t->worker_pid, $worker, "$name: same worker process");

    my $key = ws_key();
    my $c = $t->client_handshake(path => '/echo/', key => $key);
    my $r = parse_head(read_head($c, 10));
    is($r && $r->{status}, 101, "$name: HTTP/1.1 WebSocket upgraded");
    is($r && hdr($r, 'sec-websocket-accept'), ws_accept($key),
        "$name: HTTP/1.1 WebSocket accept");
    my $m = "alive after $name";
    send_all($c, cframe(OP_TEXT, $m));
    frame_ok(read_frame($c, 10), sframe(OP_TEXT, $m),
        "$name: HTTP/1.1 WebSocket echo");
    send_all($c, cframe(OP_CLOSE, close_payload(1000)));
    frame_ok(read_frame($c, 10), sframe(OP_CLOSE, close_payload(1000)),
        "$name: HTTP/1.1 WebSocket close echoed");
    expect_eof($c, "$name: HTTP/1.1 WebSocket closed");
    close $c;

    my $k = $t->client;
    my $served = 0;
    for (1 .. 5) {
        send_all($k, "GET /ok HTTP/1.1\r\nHost: localhost\r\n\r\n");
        my $rr = read_response($k, 5);
        $served++ if $rr && $rr->{status} == 200 && $rr->{body} eq "ok\n";
    }
    close $k;
    is($served, 5, "$name: 5 requests on one keep-alive connection");

    $served = 0;
    for (1 .. 20) {
        my $n = $t->client;
        send_all($n, "GET /ok HTTP/1.1\r\nHost: localhost\r\n"
            . "Connection: close\r\n\r\n");
        my $rr = read_response($n, 5);
        $served++ if $rr && $rr->{status} == 200 && $rr->{body} eq "ok\n"
            && $rr->{complete};
        close $n;
    }
    is($served, 20, "$name: 20 new HTTP/1.1 connections served");
    is($t->worker_pid, $worker, "$name: still the same worker process");
    $t->log_not('*', qr/.*worker process \d+ exited/,
        "$name: no worker process exited");
}

# The trap backend got no connection.
sub trap_ok {
    my ($name) = @_;
    my $got = WsTest::read_file($trap_log);
    ok(!defined $got, "$name: nothing reached the backend")
        or diag("backend saw:\n$got");
    unlink $trap_log;
}

# A GET handshake over HTTP/2: 400 on the stream, no upgrade.  With the
# stream left open (get-open) nginx resets it after the response.
sub h2_get_case {
    my (%o) = @_;
    my $name = $o{name};
    $t->mark;
    my $res = h2_run(%o, path => '/ws/h2') or return;
    my $s = $res->{streams}[0] // {};
    is($s->{stream_id}, 1, "$name: stream 1");
    is($s->{status}, '400', "$name: :status 400")
        or diag(explain $res->{streams}[0], $res->{events});
    is(scalar @{ $s->{informational} // [] }, 0, "$name: no 1xx response")
        or diag(explain $s->{informational});
    for my $h (qw(upgrade connection sec-websocket-accept)) {
        is(h2_hdr($s, $h), undef, "$name: no $h header");
    }
    is(h2_hdr($s, 'content-type'), 'text/html', "$name: content-type");
    like($s->{body}, qr{<title>400 Bad Request</title>},
        "$name: nginx's 400 page");
    is(h2_hdr($s, 'content-length'), length $s->{body},
        "$name: content-length of the page");
    ok($s->{ended}, "$name: response ended the stream");
    is($s->{reset}, $o{reset}, "$name: " . (defined $o{reset}
        ? 'then RST_STREAM NO_ERROR' : 'no RST_STREAM'));
    h2_conn_ok($name, $res, $o{tls});
    $t->log_ok('info', 'ws: invalid handshake: not an HTTP/1.1 request',
        "$name: logged");
    alive_ok($name);
    trap_ok($name);
}

# Extended CONNECT with :protocol websocket (HEADERS without END_STREAM):
# nginx 1.22 does not know the :protocol pseudo-header and answers 400
# itself, then resets the stream the client left open; the module never
# runs.
sub h2_connect_case {
    my (%o) = @_;
    my $name = $o{name};
    $t->mark;
    my $res = h2_run(%o, variant => 'connect', path => '/ws/h2') or return;
    my $s = $res->{streams}[0] // {};
    is($s->{stream_id}, 1, "$name: stream 1");
    is($s->{status}, '400', "$name: :status 400")
        or diag(explain $res->{streams}[0], $res->{events});
    is(scalar @{ $s->{informational} // [] }, 0, "$name: no 1xx response")
        or diag(explain $s->{informational});
    for my $h (qw(upgrade connection sec-websocket-accept)) {
        is(h2_hdr($s, $h), undef, "$name: no $h header");
    }
    like($s->{body}, qr{<title>400 Bad Request</title>},
        "$name: nginx's 400 page");
    ok($s->{ended}, "$name: response ended the stream");
    # the client keeps its side open, as for a tunnel: nginx closes it
    is($s->{reset}, 0, "$name: then RST_STREAM NO_ERROR");
    h2_conn_ok($name, $res, $o{tls});
    $t->log_ok('info', 'client sent unknown pseudo-header ":protocol"',
        "$name: nginx logged the unknown pseudo-header");
    $t->log_not('*', qr/ws: .*/, "$name: the module logged nothing");
    alive_ok($name);
    trap_ok($name);
}

for my $tls (0, 1) {
    my $via = $tls ? 'h2 over TLS' : 'h2c';
    my $port = $tls ? $h2s : $h2c;
    h2_get_case(name => "$via GET", tls => $tls, port => $port,
        variant => 'get');
    h2_get_case(name => "$via GET, stream open, DATA", tls => $tls,
        port => $port, variant => 'get-open', reset => 0);
    h2_connect_case(name => "$via extended CONNECT", tls => $tls,
        port => $port);
}

# HTTP/1.0 with the upgrade headers
{
    my $name = 'HTTP/1.0';
    $t->mark;
    my $c = $t->client;
    send_all($c, handshake_request(path => '/ws/h10', key => $KEY,
        proto => 'HTTP/1.0'));
    my $r = read_response($c, 5);
    is($r && $r->{status}, 400, "$name: 400");
    is($r && $r->{version}, 'HTTP/1.1', "$name: answered as HTTP/1.1");
    is($r && hdr($r, 'upgrade'), undef, "$name: no Upgrade header");
    is($r && hdr($r, 'sec-websocket-accept'), undef,
        "$name: no Sec-WebSocket-Accept header");
    is($r && hdr($r, 'connection'), 'close', "$name: Connection: close");
    expect_eof($c, "$name: connection closed after the response");
    close $c;
    $t->log_ok('info', 'ws: invalid handshake: not an HTTP/1.1 request',
        "$name: logged");
    alive_ok($name);
    trap_ok($name);
}

$t->stop;

my $log = $t->error_log;
for my $bad ('[crit]', '[alert]', 'exited on signal') {
    my @l = grep { index($_, $bad) >= 0 } split /\n/, $log;
    ok(!@l, "error log has no \"$bad\"")
        or diag(join "\n", @l[0 .. ($#l > 9 ? 9 : $#l)]);
}

done_testing;
