# The URI sent to the backend follows proxy_pass rules: a URI in ws_pass
# replaces the matched location prefix, no URI passes the request's URI;
# schemes, host:port and variables (with an upstream{} name).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use WsTest;

my $t = WsTest->new;
my $l = listener();
my $bp = $l->sockport;

$t->run(http => <<"HTTP", server => <<"SERVER");
    upstream u {
        server 127.0.0.1:$bp;
    }
HTTP
        location /chat/ {
            ws_pass http://u/app/;
        }
        location /raw/ {
            ws_pass http://127.0.0.1:$bp;
        }
        location /ws/ {
            ws_pass ws://127.0.0.1:$bp/x/;
        }
        location /hp/ {
            ws_pass 127.0.0.1:$bp;
        }
        location /var/ {
            set \$backend_name u;
            ws_pass http://\$backend_name;
        }
        location /varip/ {
            set \$b 127.0.0.1:$bp;
            ws_pass http://\$b;
        }
        location = /exact {
            ws_pass http://u/other;
        }
        location /noslash {
            ws_pass http://u/z;
        }
        location /up/ {
            ws_pass http://u;
        }
        location /dyn/ {
            ws_pass http://\$arg_b;
        }
        location /varuri/ {
            set \$backend_name u;
            ws_pass http://\$backend_name/fixed/path;
        }
SERVER

sub uri_ok {
    my ($path, $want) = @_;
    my $c = $t->client_handshake(path => $path);
    my $b = accept_conn($l, 5);
    if (!ok($b, "$path: reached the backend")) {
        my $r = read_response($c, 2);
        diag('client got ' . ($r ? $r->{line} : 'nothing'));
        close $c;
        return;
    }
    my $req = parse_head(read_head($b, 5));
    is($req && $req->{line}, "GET $want HTTP/1.1", "$path -> $want");
    send_all($b, response_101(hdr($req, 'sec-websocket-key') // ''));
    my $r = parse_head(read_head($c, 5));
    is($r && $r->{status}, 101, "$path: upgraded");
    close_pair({ client => $c, backend => $b });
}

uri_ok('/chat/x?y=1', '/app/x?y=1');
uri_ok('/chat/', '/app/');
uri_ok('/chat/a/b/c', '/app/a/b/c');
uri_ok('/chat/a%20b', '/app/a%20b');
uri_ok('/raw/a/b?c=d&e', '/raw/a/b?c=d&e');
uri_ok('/raw/a%2Fb', '/raw/a%2Fb');
uri_ok('/ws/q', '/x/q');
uri_ok('/hp/q?z', '/hp/q?z');
uri_ok('/var/abc?k=v', '/var/abc?k=v');
uri_ok('/varip/abc', '/varip/abc');
uri_ok('/exact', '/other');
uri_ok('/exact?a=1', '/other?a=1');
uri_ok('/noslash/abc', '/z/abc');
uri_ok('/up/room/1?token=x', '/up/room/1?token=x');
uri_ok('/varuri/anything?q=1', '/fixed/path');
uri_ok('/dyn/x?b=u', '/dyn/x?b=u');
uri_ok("/dyn/y?b=127.0.0.1:$bp", "/dyn/y?b=127.0.0.1:$bp");

# a name that is no upstream{} group needs a resolver
{
    $t->mark;
    my $c = $t->client_handshake(path => '/dyn/z?b=nowhere.invalid');
    my $r = read_response($c, 10);
    is($r && $r->{status}, 502, 'unknown host without a resolver: 502');
    $t->log_ok('error', qr/no resolver defined to resolve nowhere\.invalid/,
        'unknown host without a resolver: logged');
    ok(!accept_conn($l, 0.3), 'unknown host: nothing reached the backend');
    close $c;
}

$t->stop;
done_testing;
