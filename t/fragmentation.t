# Frames split across TCP segments at every byte, sent a byte at a time,
# many frames in one segment, fragmented messages with control frames
# between the fragments: all forwarded byte-exact, both directions.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(sleep);
use WsTest;

my $t = WsTest->new;
my $l = listener();
my $bp = $l->sockport;

$t->run(server => <<"SERVER");
        location / {
            ws_pass http://127.0.0.1:$bp;
        }
SERVER

for my $dir ('client', 'upstream') {
    my $c2u = $dir eq 'client';
    my $mk = $c2u ? \&cframe : \&sframe;
    my ($p, $from, $to);
    my $fresh = sub {
        close_pair($p) if $p;
        $p = $t->ws_pair($l);
        ($from, $to) = $c2u ? @$p{qw(client backend)} : @$p{qw(backend client)};
    };
    $fresh->();

    # a frame split in two at every position
    for my $case ([ 'text of 200 bytes', $mk->(OP_TEXT, text_payload(200)) ],
        [ 'binary of 40 bytes', $mk->(OP_BINARY, binary_payload(40)) ],
        [ 'ping', $mk->(OP_PING, 'ping payload') ])
    {
        my ($name, $fr) = @$case;
        my $bad = 0;
        for my $k (1 .. length($fr) - 1) {
            send_all($from, substr($fr, 0, $k));
            sleep 0.005;
            send_all($from, substr($fr, $k));
            my ($got) = read_exact($to, length $fr, 5);
            if ($got ne $fr) {
                $bad++;
                diag("split at $k: got " . hx($got)) if $bad < 3;
            }
        }
        is($bad, 0, "$dir: $name split at every position");
    }

    $fresh->();

    # a frame with a 64-bit length split inside its header
    my $big = $mk->(OP_BINARY, binary_payload(70000, 9));
    my $hl = $c2u ? 14 : 10;
    my $bad = 0;
    for my $k (1 .. $hl + 1) {
        my ($got) = pump(writes => [[$from, substr($big, 0, $k)]],
            reads => [[$to, 0]]);
        sleep 0.005;
        ($got) = pump(writes => [[$from, substr($big, $k)]],
            reads => [[$to, length $big]]);
        $bad++ if $got->[0] ne $big;
    }
    is($bad, 0, "$dir: 64-bit length frame split inside its header");

    $fresh->();

    # one byte at a time
    my $slow = $mk->(OP_TEXT, text_payload(300, 2))
        . $mk->(OP_BINARY, binary_payload(130, 3))
        . $mk->(OP_PING, 'p')
        . $mk->(OP_TEXT, "\xe2\x82", fin => 0)
        . $mk->(OP_CONT, "\xac");
    is(send_slowly($from, $slow, 1, 0.001), length $slow,
        "$dir: sent a byte at a time");
    my ($got) = read_exact($to, length $slow, 10);
    bytes_is($got, $slow, "$dir: frames sent a byte at a time pass exactly");

    $fresh->();

    # many frames in one segment
    my $many = '';
    for my $i (1 .. 300) {
        my $k = $i % 6;
        $many .= $k == 0 ? $mk->(OP_TEXT, text_payload($i, $i))
            : $k == 1 ? $mk->(OP_BINARY, binary_payload($i * 3, $i))
            : $k == 2 ? $mk->(OP_PING, "ping $i")
            : $k == 3 ? $mk->(OP_PONG, "pong $i")
            : $k == 4 ? $mk->(OP_TEXT, 'frag', fin => 0)
                . $mk->(OP_CONT, '', fin => 0) . $mk->(OP_CONT, "ment $i")
            : $mk->(OP_BINARY, '');
    }
    ($got) = pump(writes => [[$from, $many]], reads => [[$to, length $many]]);
    bytes_is($got->[0], $many, "$dir: 300 frames in one write pass exactly");

    $fresh->();

    # text frames that fit in the buffer, many of them in one write
    my $texts = join '', map { $mk->(OP_TEXT, text_payload(2000 + $_ * 37, $_)) }
        1 .. 40;
    ($got) = pump(writes => [[$from, $texts]], reads => [[$to, length $texts]]);
    bytes_is($got->[0], $texts, "$dir: 40 text frames of 2-3.5k in one write "
        . 'pass exactly');

    $fresh->();

    # a fragmented message over many small segments, with control frames
    # between the fragments
    my $frag = $mk->(OP_TEXT, text_payload(500, 1), fin => 0)
        . $mk->(OP_PING, 'first ping')
        . $mk->(OP_CONT, text_payload(333, 2), fin => 0)
        . $mk->(OP_PONG, 'a pong')
        . $mk->(OP_PING, '')
        . $mk->(OP_CONT, '', fin => 0)
        . $mk->(OP_CONT, text_payload(1000, 3), fin => 0)
        . $mk->(OP_PONG, 'p' x 125)
        . $mk->(OP_CONT, text_payload(77, 4))
        . $mk->(OP_BINARY, binary_payload(100, 1), fin => 0)
        . $mk->(OP_PING, 'in binary')
        . $mk->(OP_CONT, binary_payload(5000, 2), fin => 0)
        . $mk->(OP_CONT, binary_payload(1, 3));
    is(send_slowly($from, $frag, 7, 0.001), length $frag,
        "$dir: sent in 7-byte pieces");
    ($got) = read_exact($to, length $frag, 10);
    bytes_is($got, $frag,
        "$dir: fragmented messages with pings and pongs pass exactly");

    $fresh->();

    # both directions at once
    my $up = join '', map { cframe(OP_BINARY, binary_payload(5000 + $_, $_)) }
        1 .. 50;
    my $down = join '', map { sframe(OP_TEXT, text_payload(3000 + $_, $_)) }
        1 .. 50;
    ($got) = pump(writes => [[$p->{client}, $up], [$p->{backend}, $down]],
        reads => [[$p->{backend}, length $up], [$p->{client}, length $down]]);
    bytes_is($got->[0], $up, "$dir pair: client to backend while the "
        . 'backend sends');
    bytes_is($got->[1], $down, "$dir pair: backend to client while the "
        . 'client sends');

    close_pair($p);
}

$t->stop;
done_testing;
