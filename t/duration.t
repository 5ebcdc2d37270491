# $ws_duration is the WebSocket's lifetime, however it ended: after a close
# timeout, attached to its request (limit_conn keeps it) or detached, it is
# the time up to the timeout, not the lingering close after it.  And
# ws_set_header accepts long and repeated names without hash warnings.

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

my $long = 'X-' . ('Long-Header-Name' x 4);

$t->run(http => "    limit_conn_zone \$binary_remote_addr zone=perip:1m;\n",
    server => <<"SERVER");
        lingering_timeout 3s;
        location /att/ {
            limit_conn perip 10;
            ws_pass http://127.0.0.1:$bp;
            ws_close_timeout 1s;
        }
        location /det/ {
            ws_pass http://127.0.0.1:$bp;
            ws_close_timeout 1s;
        }
        location /names/ {
            ws_pass http://127.0.0.1:$bp;
            ws_set_header $long yes;
            ws_set_header Transfer-Encoding "";
            ws_set_header X-Twice one;
            ws_set_header x-twice two;
        }
SERVER

for my $path ('/att/x', '/det/x') {
    $t->mark;
    my $p = $t->ws_pair($l, path => $path);
    my ($c, $b) = @$p{qw(client backend)};
    my $cl = sframe(OP_CLOSE, close_payload(1000));
    send_all($b, $cl);
    frame_ok(read_frame($c), $cl, "$path: the client gets the close");
    expect_eof($b, "$path: backend connection closed after the timeout", 10);

    # the client neither replies nor closes
    my $e = $t->access_entry($path, 10);
    ok($e, "$path: access log line") or next;
    like($e->{duration}, qr/^1\.\d{3}$/,
        "$path: duration is up to the close timeout");
    is($e->{code}, 1000, "$path: close code");
    close $c;
    close $b;
}

# long and repeated ws_set_header names: no hash warning, all sent
{
    unlike($t->error_log, qr/ws_skip_headers_hash/,
        'no hash warning for long or repeated ws_set_header names');
    my $c = $t->client_handshake(path => '/names/x',
        headers => ["$long: from-client", 'X-Twice: from-client']);
    my $b = accept_conn($l, 5);
    my $req = $b && parse_head(read_head($b, 5) // '');
    is($req && hdr($req, lc $long), 'yes', 'the long name is set');
    is($req && hdr_count($req, 'x-twice'), 2, 'both X-Twice values sent');
    is($req && hdr_count($req, 'transfer-encoding'), 0,
        'no Transfer-Encoding');
    close $c;
    close $b if $b;
}

$t->stop;
done_testing;
