# A side that disappears without a close frame: the other side gets a close
# frame from the proxy when its direction is at a frame boundary (1011 to
# the client, 1001 to the backend), or just the end of the connection when
# a frame was partly forwarded.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Socket qw(SOL_SOCKET SO_LINGER);
use Test::More;
use Time::HiRes ();
use WsTest;

my $t = WsTest->new;
my $l = listener();
my $bp = $l->sockport;

$t->run(server => <<"SERVER");
        location / {
            ws_pass http://127.0.0.1:$bp;
            ws_close_timeout 30s;
        }
SERVER

my $CLOSE_1011 = "\x88\x02\x03\xf3";

# The backend sends $sent and closes (reset => with RST); the client must
# get $forwarded exactly, then close 1011, then the end after its reply.
sub upstream_dies {
    my ($name, $sent, $forwarded, %o) = @_;
    $t->mark;
    my $p = $t->ws_pair($l, path => '/u');
    my ($c, $b) = @$p{qw(client backend)};
    send_all($b, $sent);
    if ($o{wait}) {
        my ($got) = read_exact($c, length $forwarded, 5);
        bytes_is($got, $forwarded, "$name: bytes forwarded before the end");
        $forwarded = '';
    } else {
        Time::HiRes::sleep(0.1);
    }
    setsockopt($b, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0)) if $o{reset};
    close $b;
    if ($o{partial}) {
        my ($got, $st) = read_until_eof($c, 5);
        bytes_is($got, '', "$name: nothing after the partial frame");
        is($st, 'eof', "$name: client connection closed without a close "
            . 'frame');
    } else {
        my ($got) = read_exact($c, length($forwarded) + 4, 5);
        bytes_is($got, $forwarded . $CLOSE_1011,
            "$name: client got the complete frames, then close 1011");
        send_all($c, cframe(OP_CLOSE, close_payload(1011)));
        expect_eof($c, "$name: client connection closed after its reply");
    }
    $t->log_ok('error', 'ws: upstream closed connection without close frame',
        "$name: logged") unless $o{reset};
    close $c;
    my $e = $t->access_entry('/u');
    is($e && $e->{code}, 1006, "$name: access log code 1006");
    close $c;
}

my $text = sframe(OP_TEXT, 'complete text');
upstream_dies('backend gone at a frame boundary', $text, $text);
upstream_dies('backend gone right after the upgrade', '', '');
upstream_dies('backend gone inside a frame header', $text . "\x81", $text);
upstream_dies('backend gone inside a 16-bit length', "\x82\x7e\x01", '');
upstream_dies('backend gone inside a 64-bit length',
    $text . "\x82\x7f\x00\x00\x00", $text);
upstream_dies('backend gone inside a held text frame',
    $text . substr(sframe(OP_TEXT, 't' x 100), 0, 50), $text);
upstream_dies('backend gone inside a ping', substr(sframe(OP_PING, 'ping'),
    0, 4), '');
upstream_dies('backend gone between fragments',
    sframe(OP_TEXT, 'frag', fin => 0), sframe(OP_TEXT, 'frag', fin => 0));
upstream_dies('backend reset at a frame boundary', $text, $text,
    reset => 1);

upstream_dies('backend gone inside a binary frame',
    substr(sframe(OP_BINARY, 'b' x 1000), 0, 104),
    substr(sframe(OP_BINARY, 'b' x 1000), 0, 104), wait => 1, partial => 1);

# The client sends $sent and closes; the backend must get $forwarded, then
# a masked close 1001, then the end after its reply.
sub client_dies {
    my ($name, $sent, $forwarded, %o) = @_;
    $t->mark;
    my $p = $t->ws_pair($l, path => '/c');
    my ($c, $b) = @$p{qw(client backend)};
    send_all($c, $sent);
    if ($o{wait}) {
        my ($got) = read_exact($b, length $forwarded, 5);
        bytes_is($got, $forwarded, "$name: bytes forwarded before the end");
        $forwarded = '';
    } else {
        Time::HiRes::sleep(0.1);
    }
    setsockopt($c, SOL_SOCKET, SO_LINGER, pack('ii', 1, 0)) if $o{reset};
    close $c;
    if ($o{partial}) {
        my ($got, $st) = read_until_eof($b, 5);
        bytes_is($got, '', "$name: nothing after the partial frame");
        is($st, 'eof', "$name: backend connection closed without a close "
            . 'frame');
    } else {
        my ($got) = read_exact($b, length $forwarded, 5);
        bytes_is($got, $forwarded, "$name: backend got the complete frames");
        masked_close_ok(read_frame($b), 1001, "$name: then a masked close "
            . '1001');
        send_all($b, sframe(OP_CLOSE, close_payload(1001)));
        expect_eof($b, "$name: backend connection closed after its reply");
    }
    $t->log_ok('info', 'ws: client closed connection without close frame',
        "$name: logged") unless $o{reset};
    my $e = $t->access_entry('/c');
    is($e && $e->{code}, 1006, "$name: access log code 1006");
    close $b;
}

my $ctext = cframe(OP_TEXT, 'complete text');
client_dies('client gone at a frame boundary', $ctext, $ctext);
client_dies('client gone right after the upgrade', '', '');
client_dies('client gone inside a frame header', $ctext . "\x81\xfe\x00",
    $ctext);
client_dies('client gone inside the mask key', "\x81\x85\x01\x02", '');
client_dies('client gone inside a held text frame',
    $ctext . substr(cframe(OP_TEXT, 't' x 100), 0, 60), $ctext);
my $cfrag = cframe(OP_BINARY, 'frag', fin => 0);
client_dies('client gone between fragments', $cfrag, $cfrag);
client_dies('client reset at a frame boundary', $ctext, $ctext, reset => 1);

my $cbin = substr(cframe(OP_BINARY, 'b' x 1000), 0, 108);
client_dies('client gone inside a binary frame', $cbin, $cbin, wait => 1,
    partial => 1);

$t->stop;
done_testing;
