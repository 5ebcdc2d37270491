# Payload sizes in both directions: binary frames of every length class
# pass byte-exact; text frames pass exactly when they fit in ws_buffer_size
# and arrive re-fragmented (same payload) when they do not; the default
# limits are 1m.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use WsTest;

my $t = WsTest->new;
my $l = listener();
my $bp = $l->sockport;

$t->run(server => <<"SERVER");
        location / {
            ws_pass http://127.0.0.1:$bp;
            ws_close_timeout 30s;
        }
        location /big/ {
            ws_pass http://127.0.0.1:$bp;
            ws_max_frame_size 0;
            ws_max_message_size 0;
        }
        location /bigbuf/ {
            ws_pass http://127.0.0.1:$bp;
            ws_buffer_size 1m;
            ws_max_frame_size 0;
            ws_max_message_size 0;
        }
SERVER

my @sizes = (0, 1, 125, 126, 127, 8000, 65535, 65536, 3 * 1024 * 1024 + 5);

# Sends $data from $from and reads one whole message at $to.
sub transfer {
    my ($from, $to, $data) = @_;
    my ($got, $done) = pump(writes => [[$from, $data]],
        reads => [[$to, 1 << 30]], until => \&message_complete, idle => 10);
    return $got->[0];
}

# Test: $wire holds exactly one message with $payload, fragmented any way:
# first frame $op, the rest continuations, FIN only on the last, no RSV,
# masked as $masked, minimal length encodings; for masked frames also the
# masked payload bytes equal $wire_payload (the client's bytes unchanged).
sub message_ok {
    my ($wire, $op, $payload, $masked, $name, $wire_payload) = @_;
    my ($frames, $rest) = parse_frames($wire);
    my @err;
    push @err, 'no frames' unless @$frames;
    push @err, length($rest) . ' bytes after the frames' if length $rest;
    for my $i (0 .. $#$frames) {
        my $f = $frames->[$i];
        my $want_op = $i == 0 ? $op : OP_CONT;
        push @err, "frame $i: opcode $f->{opcode}" if $f->{opcode} != $want_op;
        push @err, "frame $i: FIN $f->{fin}"
            if $f->{fin} != ($i == $#$frames ? 1 : 0);
        push @err, "frame $i: RSV" if $f->{rsv};
        push @err, "frame $i: masked $f->{masked}"
            if $f->{masked} != ($masked ? 1 : 0);
        my $hl = 2 + ($f->{len} < 126 ? 0 : $f->{len} < 65536 ? 2 : 8)
            + ($masked ? 4 : 0);
        push @err, "frame $i: header of $f->{hlen} bytes for $f->{len}"
            if $f->{hlen} != $hl;
        last if @err > 5;
    }
    my $all = join '', map { $_->{payload} } @$frames;
    push @err, 'payload differs (' . length($all) . ' bytes, expected '
        . length($payload) . ')' if $all ne $payload;
    if (defined $wire_payload && !@err) {
        my $w = join '', map { $_->{wire_payload} } @$frames;
        push @err, 'masked payload bytes changed' if $w ne $wire_payload;
    }
    ok(!@err, $name . ' (' . scalar(@$frames) . ' frames)')
        or diag(join "\n", @err);
}

for my $dir ('client', 'upstream') {
    my $c2u = $dir eq 'client';
    my $p = $t->ws_pair($l, path => '/big/');
    my ($from, $to) = $c2u ? @$p{qw(client backend)} : @$p{qw(backend client)};
    my $mk = $c2u ? \&cframe : \&sframe;

    for my $n (@sizes) {
        my $fr = $mk->(OP_BINARY, binary_payload($n, $n));
        bytes_is(transfer($from, $to, $fr), $fr,
            "$dir: binary $n bytes byte-exact");
    }
    for my $n (@sizes) {
        my $payload = text_payload($n, $n);
        my $fr = $mk->(OP_TEXT, $payload);
        my $got = transfer($from, $to, $fr);
        if ($n <= 8000) {
            bytes_is($got, $fr, "$dir: text $n bytes byte-exact");
        } else {
            my $hl = $n < 65536 ? 4 : 10;
            $hl += 4 if $c2u;
            message_ok($got, OP_TEXT, $payload, $c2u,
                "$dir: text $n bytes, same payload", substr($fr, $hl));
        }
    }

    # a fragmented message of big fragments keeps its message boundaries
    my @parts = (text_payload(100000, 1), text_payload(20000, 2), '',
        text_payload(70001, 3));
    my $msg = join '', map {
        $mk->($_ == 0 ? OP_TEXT : OP_CONT, $parts[$_],
            fin => $_ == $#parts ? 1 : 0)
    } 0 .. $#parts;
    message_ok(transfer($from, $to, $msg), OP_TEXT, join('', @parts), $c2u,
        "$dir: fragmented big text message, same payload");
    close_pair($p);

    # with a 1m buffer, 64k text frames pass unchanged
    $p = $t->ws_pair($l, path => '/bigbuf/');
    ($from, $to) = $c2u ? @$p{qw(client backend)} : @$p{qw(backend client)};
    for my $n (65535, 65536, 500000) {
        my $fr = $mk->(OP_TEXT, text_payload($n, 7));
        bytes_is(transfer($from, $to, $fr), $fr,
            "$dir: ws_buffer_size 1m: text $n bytes byte-exact");
    }
    close_pair($p);

    # default limits: 1m frames and messages
    $p = $t->ws_pair($l, path => '/');
    ($from, $to) = $c2u ? @$p{qw(client backend)} : @$p{qw(backend client)};
    my $fr = $mk->(OP_BINARY, binary_payload(1048576, 3));
    bytes_is(transfer($from, $to, $fr), $fr,
        "$dir: default limit: binary frame of 1m passes");
    $msg = $mk->(OP_BINARY, binary_payload(524288, 4), fin => 0)
        . $mk->(OP_PING, 'ping')
        . $mk->(OP_CONT, binary_payload(524288, 5));
    bytes_is(transfer($from, $to, $msg), $msg,
        "$dir: default limit: message of 1m in fragments passes");
    close_pair($p);

    $t->violation($l, side => $dir, name => "$dir: default limit: 1m+1 frame",
        bad => substr($mk->(OP_BINARY, binary_payload(1048577, 3)), 0, 100),
        reason => 'frame too big', code => 1009);
    $t->violation($l, side => $dir,
        name => "$dir: default limit: 1m+1 message",
        before => [$mk->(OP_BINARY, binary_payload(524288, 4), fin => 0),
                   $mk->(OP_CONT, binary_payload(524288, 5), fin => 0)],
        bad => $mk->(OP_CONT, 'x'),
        reason => 'message too big', code => 1009);
}

$t->stop;
done_testing;
