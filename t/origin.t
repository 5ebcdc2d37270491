# The Origin policy: ws_origin (exact, wildcard, regex, same, any),
# ws_origin_missing, inheritance, "satisfy any", the 403, its log line and
# $ws_reject_reason, and a refused handshake never reaching the backend.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use WsTest;

my $t = WsTest->new;
my $rec = $t->dir . '/backend.req';
my $bp = echo_backend(record => $rec);
my $pass = "ws_pass http://127.0.0.1:$bp;";

my $dir = $t->dir;
mkdir "$dir/html";
write_file("$dir/html/x.txt", "static\n");
write_file("$dir/html/403.html", "refused\n");

my ($orc, $oout) = run_cmd(cmd => ['openssl', 'req', '-x509', '-newkey',
    'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-subj', '/CN=localhost', '-days', '2',
    '-keyout', "$dir/server.key", '-out', "$dir/server.crt"], timeout => 60);
is($orc, 0, 'certificate generated') or diag($oout);

my $server = <<"SERVER";
        location /same/ {
            $pass

            location /same/static/ {
                alias $dir/html/;
            }
        }
        location /ep/ {
            $pass
            ws_origin https://app.example.com;
            error_page 403 /403.html;
        }
        location = /403.html {
            root $dir/html;
        }
        location /exact/ {
            $pass
            ws_origin https://app.example.com http://127.0.0.1:8080;
            ws_origin http://[::1]:9000;
        }
        location /wild/ {
            $pass
            ws_origin https://*.example.com;
        }
        location /wildport/ {
            $pass
            ws_origin https://*.example.com:8443;
        }
        location /re/ {
            $pass
            ws_origin "~^https://[a-z0-9-]+\\.example\\.org\$";
        }
        location /rei/ {
            $pass
            ws_origin "~*^https://app\\.example\\.net\$";
        }
        location /null/ {
            $pass
            ws_origin "~^null\$";
        }
        location /any/ {
            $pass
            ws_origin any;
        }
        location /missing/ {
            $pass
            ws_origin_missing deny;
        }
        location /satisfy/ {
            $pass
            satisfy any;
            allow 127.0.0.1;
            deny all;
        }
        location /plain/ {
            return 200 "not a WebSocket location\\n";
        }
SERVER

my $inherit_port = free_port();
my $tls_port = free_port();
my $servers = <<"SERVERS";
    server {
        listen 127.0.0.1:$tls_port ssl;
        server_name tls;
        ssl_certificate $dir/server.crt;
        ssl_certificate_key $dir/server.key;

        location / {
            $pass
        }
    }

    server {
        listen 127.0.0.1:$inherit_port;
        server_name inherit;

        ws_origin https://srv.example.com;
        ws_origin_missing deny;

        location /inherited/ {
            $pass
        }
        location /replaced/ {
            $pass
            ws_origin https://loc.example.com;
        }
        location /same/ {
            $pass
            ws_origin same;
            ws_origin_missing allow;
        }
    }
SERVERS

$t->run(server => $server, servers => $servers);

# The status of a handshake to $path with the given Origin header lines
# (a string, an array of them, or undef for none) and Host.
sub status {
    my (%o) = @_;
    my @origins = ref $o{origin} ? @{ $o{origin} }
        : defined $o{origin} ? ($o{origin}) : ();
    my $c = connect_to($o{port} // $t->port);
    send_all($c, handshake_request(path => $o{path},
        host => $o{host} // 'localhost',
        headers => [map { "Origin: $_" } @origins]));
    my $head = read_head($c, 10);
    close $c;
    return $head ? parse_head($head)->{status} : 0;
}

sub allowed {
    my ($name, %o) = @_;
    is(status(%o), 101, "allowed: $name");
}

sub refused {
    my ($name, %o) = @_;
    is(status(%o), 403, "refused: $name");
}

# no ws_origin: "same", Origin naming the Host; a missing Origin is allowed

allowed('same: no Origin (not a browser)', path => '/same/');
allowed('same: the Host', path => '/same/', host => 'example.com',
    origin => 'https://example.com');
allowed('same: http and the Host', path => '/same/', host => 'example.com',
    origin => 'http://example.com');
allowed('same: case', path => '/same/', host => 'Example.COM',
    origin => 'https://EXAMPLE.com');
allowed('same: default port written', path => '/same/',
    host => 'example.com:443', origin => 'https://example.com');
allowed('same: Host and Origin with a port', path => '/same/',
    host => 'example.com:8443', origin => 'https://example.com:8443');
allowed('same: loopback address', path => '/same/',
    host => '127.0.0.1:' . $t->port,
    origin => 'http://127.0.0.1:' . $t->port);
allowed('same: IPv6 literal', path => '/same/', host => '[::1]:8080',
    origin => 'http://[::1]:8080');
refused('same: another host', path => '/same/', host => 'example.com',
    origin => 'https://evil.example');
refused('same: a subdomain', path => '/same/', host => 'example.com',
    origin => 'https://a.example.com');
refused('same: a longer name', path => '/same/', host => 'example.com',
    origin => 'https://example.com.evil.net');
refused('same: another port', path => '/same/', host => 'example.com',
    origin => 'https://example.com:8443');
refused('same: Host with another port', path => '/same/',
    host => 'example.com:8443', origin => 'https://example.com');
refused('same: the default port of the other scheme', path => '/same/',
    host => 'example.com:80', origin => 'https://example.com');
refused('same: Origin null', path => '/same/', host => 'example.com',
    origin => 'null');
refused('same: a scheme that is not http(s) or ws(s)', path => '/same/',
    host => 'example.com:80', origin => 'foo://example.com:80');
refused('same: a port with a leading zero', path => '/same/',
    host => 'example.com:8443', origin => 'https://example.com:08443');
refused('same: malformed origin with a path', path => '/same/',
    host => 'example.com', origin => 'https://example.com/');
refused('same: user information', path => '/same/',
    host => 'example.com', origin => 'https://evil@example.com');
refused('same: two Origin headers', path => '/same/', host => 'example.com',
    origin => ['https://example.com', 'https://example.com']);

# exact origins

allowed('exact', path => '/exact/', origin => 'https://app.example.com');
allowed('exact: case', path => '/exact/',
    origin => 'HTTPS://App.Example.Com');
allowed('exact: default port written', path => '/exact/',
    origin => 'https://app.example.com:443');
allowed('exact: second value', path => '/exact/',
    origin => 'http://127.0.0.1:8080');
allowed('exact: second directive, IPv6', path => '/exact/',
    origin => 'http://[::1]:9000');
allowed('exact: no Origin', path => '/exact/');
refused('exact: scheme', path => '/exact/',
    origin => 'http://app.example.com');
refused('exact: port', path => '/exact/',
    origin => 'https://app.example.com:8443');
refused('exact: other port of the second', path => '/exact/',
    origin => 'http://127.0.0.1:8081');
refused('exact: prefix', path => '/exact/',
    origin => 'https://app.example.com.evil.net');
refused('exact: subdomain', path => '/exact/',
    origin => 'https://x.app.example.com');
refused('exact: the Host is not "same" here', path => '/exact/',
    host => 'example.com', origin => 'https://example.com');

# wildcards: one or more labels

allowed('wildcard: one label', path => '/wild/',
    origin => 'https://a.example.com');
allowed('wildcard: two labels', path => '/wild/',
    origin => 'https://a.b.example.com');
allowed('wildcard: case', path => '/wild/',
    origin => 'https://A.EXAMPLE.com');
refused('wildcard: the bare domain', path => '/wild/',
    origin => 'https://example.com');
refused('wildcard: evil-example.com', path => '/wild/',
    origin => 'https://evil-example.com');
refused('wildcard: evilexample.com', path => '/wild/',
    origin => 'https://evilexample.com');
refused('wildcard: example.com.evil.net', path => '/wild/',
    origin => 'https://example.com.evil.net');
refused('wildcard: a.example.com.evil.net', path => '/wild/',
    origin => 'https://a.example.com.evil.net');
refused('wildcard: scheme', path => '/wild/',
    origin => 'http://a.example.com');
refused('wildcard: port', path => '/wild/',
    origin => 'https://a.example.com:8443');
refused('wildcard: empty label', path => '/wild/',
    origin => 'https://.example.com');
refused('wildcard: null', path => '/wild/', origin => 'null');
allowed('wildcard with a port', path => '/wildport/',
    origin => 'https://a.example.com:8443');
refused('wildcard with a port: default port', path => '/wildport/',
    origin => 'https://a.example.com');

# regular expressions: as written, anchors and case

allowed('regex', path => '/re/', origin => 'https://chat-1.example.org');
refused('regex: anchored at the end', path => '/re/',
    origin => 'https://chat.example.org.evil.net');
refused('regex: case-sensitive', path => '/re/',
    origin => 'https://CHAT.example.org');
refused('regex: two labels', path => '/re/',
    origin => 'https://a.b.example.org');
allowed('regex ~*: case-insensitive', path => '/rei/',
    origin => 'https://APP.EXAMPLE.NET');
refused('regex ~*: anchored', path => '/rei/',
    origin => 'https://app.example.net:8443');
allowed('regex allowing null', path => '/null/', origin => 'null');
refused('regex allowing null: an origin', path => '/null/',
    origin => 'https://example.com');

# any

allowed('any', path => '/any/', origin => 'https://evil.example');
allowed('any: null', path => '/any/', origin => 'null');
allowed('any: malformed', path => '/any/', origin => 'not an origin');
allowed('any: two Origin headers', path => '/any/',
    origin => ['https://a.example', 'https://b.example']);

# ws_origin_missing deny

refused('missing: no Origin', path => '/missing/');
allowed('missing: the same origin', path => '/missing/',
    host => 'example.com', origin => 'https://example.com');

# "satisfy any" with "allow" does not waive the Origin policy

refused('satisfy any: a foreign origin', path => '/satisfy/',
    host => 'example.com', origin => 'https://evil.example');
allowed('satisfy any: the same origin', path => '/satisfy/',
    host => 'example.com', origin => 'https://example.com');

# inheritance: a level's list replaces what it inherits

allowed('inherited list', port => $inherit_port, path => '/inherited/',
    origin => 'https://srv.example.com');
refused('inherited ws_origin_missing deny', port => $inherit_port,
    path => '/inherited/');
refused('replaced list: the server\'s origin', port => $inherit_port,
    path => '/replaced/', origin => 'https://srv.example.com');
allowed('replaced list: its own', port => $inherit_port,
    path => '/replaced/', origin => 'https://loc.example.com');
refused('replaced list: missing still denied', port => $inherit_port,
    path => '/replaced/');
allowed('"same" written out', port => $inherit_port, path => '/same/',
    host => 'example.com', origin => 'https://example.com');
refused('"same" written out: the server\'s origin', port => $inherit_port,
    path => '/same/', host => 'example.com',
    origin => 'https://srv.example.com');
allowed('ws_origin_missing allow overrides', port => $inherit_port,
    path => '/same/');

# over TLS, "same" wants a secure origin: a page of the plain-HTTP site
# (which a network attacker can rewrite) may not open it

sub tls_status {
    my ($origin) = @_;
    my ($rc, $out) = run_cmd(cmd => [python_bin(), '-c', <<'PY', $tls_port,
import socket, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(('127.0.0.1',
    int(sys.argv[1])), timeout=10), server_hostname='localhost')
s.sendall(('GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n'
    'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n'
    'Sec-WebSocket-Version: 13\r\nOrigin: ' + sys.argv[2] + '\r\n\r\n'
    ).encode())
print(s.recv(4096).decode().split('\r\n')[0])
PY
        $origin], timeout => 20);
    return $out =~ m{^HTTP/1\.1 (\d+)} ? $1 : "failed: $out";
}

is(tls_status('https://localhost'), 101, 'TLS, same: https origin');
is(tls_status('wss://localhost'), 101, 'TLS, same: wss origin');
is(tls_status('http://localhost'), 403, 'TLS, same: http origin refused');
is(tls_status('ws://localhost'), 403, 'TLS, same: ws origin refused');

# only ws_pass locations are checked

{
    my $c = connect_to($t->port);
    send_all($c, "GET /same/static/x.txt HTTP/1.1\r\nHost: localhost\r\n"
        . "Origin: https://evil.example\r\nConnection: close\r\n\r\n");
    my $head = read_head($c, 10);
    is($head && parse_head($head)->{status}, 200,
        'a location nested in a ws_pass one, without ws_pass, is not checked');
    close $c;
}

# error_page keeps $ws_reject_reason

{
    $t->mark;
    is(status(path => '/ep/x', origin => 'https://evil.example'), 403,
        'refused with an error_page');
    my $e = $t->access_entry('/ep/x');
    is($e && $e->{reject}, 'origin', '$ws_reject_reason after error_page');
}

{
    my $c = connect_to($t->port);
    send_all($c, "GET /plain/ HTTP/1.1\r\nHost: localhost\r\n"
        . "Origin: https://evil.example\r\nConnection: close\r\n\r\n");
    my $head = read_head($c, 10);
    is($head && parse_head($head)->{status}, 200,
        'a location without ws_pass is not checked');
    close $c;
}

# a refusal: exact answer, log line at info, $ws_reject_reason, no backend

{
    unlink $rec;
    $t->mark;
    my $c = connect_to($t->port);
    send_all($c, handshake_request(path => '/exact/x', host => 'localhost',
        headers => ["Origin: https://evil.example\"\x01"]));
    my $head = read_head($c, 10);
    my $res = $head && parse_head($head);
    is($res && $res->{status}, 403, 'refused origin: 403');
    like($head // '', qr{^HTTP/1\.1 403 Forbidden\r\n}, 'status line');
    close $c;
    $t->log_ok('info', 'ws: origin "https://evil.example\x22\x01" not '
        . 'allowed in location "/exact/"',
        'log line names the escaped origin and the location');
    my $e = $t->access_entry('/exact/x');
    is($e && $e->{status}, 403, 'access log: 403');
    is($e && $e->{reject}, 'origin', 'access log: $ws_reject_reason origin');
    ok(!-e $rec, 'a refused handshake never reaches the backend');

    $t->mark;
    is(status(path => '/missing/m'), 403, 'missing Origin refused');
    $t->log_ok('info', 'ws: no Origin header, refused in location '
        . '"/missing/"', 'log line of a missing Origin');
    $e = $t->access_entry('/missing/m');
    is($e && $e->{reject}, 'origin', 'reject reason of a missing Origin');

    $t->mark;
    is(status(path => '/same/s', host => 'example.com',
        origin => 'https://example.com'), 101, 'accepted');
    $e = $t->access_entry('/same/s');
    is($e && $e->{reject}, '', 'no reject reason when accepted');
    ok(-e $rec, 'an accepted handshake reaches the backend');
}

# configuration errors

for my $bad ('https://*example.com', 'https://*.*.example.com',
    'https://*.com', 'http://*.127.0.0.1', 'https://*.[::1]',
    'https://app.example.com:0443',
    'https://app.example.com/', 'app.example.com', 'https://',
    'https://a.example.com:0', '~', '~*', '~(', 'null')
{
    my ($rc, $out) = $t->conf_test(server => <<"S");
        location / {
            $pass
            ws_origin "$bad";
        }
S
    isnt($rc, 0, "nginx -t refuses ws_origin \"$bad\"");
}

{
    my ($rc, $out) = $t->conf_test(server => <<"S");
        location / {
            $pass
            ws_origin_missing maybe;
        }
S
    isnt($rc, 0, 'nginx -t refuses ws_origin_missing maybe');
}

done_testing;
