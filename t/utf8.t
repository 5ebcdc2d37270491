# UTF-8 validation of text messages and close reasons, both directions:
# invalid data gets close 1007, valid data (split anywhere across
# fragments) passes exactly; ws_validate_utf8 off lets anything through.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use WsTest;
use WsCases;

my $t = WsTest->new;
my $l = listener();
my $bp = $l->sockport;

$t->run(server => <<"SERVER");
        location / {
            ws_pass http://127.0.0.1:$bp;
            ws_close_timeout 30s;
        }
        location /off/ {
            ws_pass http://127.0.0.1:$bp;
            ws_validate_utf8 off;
        }
SERVER

my @invalid = (
    [ 'lone continuation byte', "abc\x80" ],
    [ 'overlong NUL', "\xc0\x80" ],
    [ 'overlong 2-byte', "\xc1\xbf" ],
    [ 'overlong 3-byte', "a\xe0\x80\xaf" ],
    [ 'overlong 4-byte', "\xf0\x80\x80\xaf" ],
    [ 'overlong U+FFFF', "\xf0\x8f\xbf\xbf" ],
    [ 'surrogate U+D800', "\xed\xa0\x80" ],
    [ 'surrogate U+DFFF', "x\xed\xbf\xbfx" ],
    [ 'above U+10FFFF', "\xf4\x90\x80\x80" ],
    [ 'lead byte F5', "\xf5\x80\x80\x80" ],
    [ 'byte FE', "\xfe" ],
    [ 'byte FF', "ok\xff" ],
    [ 'truncated 3-byte at the end', "a\xe2\x82" ],
    [ 'truncated 2-byte at the end', "\xc3" ],
    [ 'truncated 4-byte at the end', "\xf0\x9f\x98" ],
    [ 'bad continuation', "\xe2\x28\xa1" ],
    [ 'ASCII after a lead byte', "\xc3a" ],
    [ 'invalid after 200 valid bytes', text_payload(200) . "\xff" ],
);

# one text frame with FIN; fragments split across frames
my @frag_invalid = (
    [ 'truncated at the final fragment', ["a\xe2", "\x82"] ],
    [ 'truncated at an empty final fragment', ["a\xe2\x82", ''] ],
    [ 'invalid byte in the second fragment', ["\xe2\x82", "\x28"] ],
    [ 'surrogate across fragments', ['a', "\xed", "\xa0\x80"] ],
    [ 'above U+10FFFF across fragments', ["\xf4", "\x90\x80\x80"] ],
    [ 'overlong across fragments', ["a\xe0", "\x80\x80"] ],
    [ 'invalid in the third fragment', ["\xf0", "\x9f", "\x98\x28"] ],
);

for my $side ('client', 'upstream') {
    my $m = $side eq 'client';
    my $f = sub { mk($m, @_) };

    for my $case (@invalid) {
        my ($name, $bytes) = @$case;
        $t->violation($l, side => $side, name => "$side: $name",
            before => [$f->(OP_TEXT, 'valid first')],
            bad => $f->(OP_TEXT, $bytes), after => $f->(OP_TEXT, 'after'),
            reason => 'invalid UTF-8 in text message', code => 1007);
    }

    $t->violation($l, side => $side, name => "$side: invalid in the first "
        . 'fragment', bad => $f->(OP_TEXT, "\xc0\x80", fin => 0),
        reason => 'invalid UTF-8 in text message', code => 1007);

    for my $case (@frag_invalid) {
        my ($name, $parts) = @$case;
        my @frames = map {
            $f->($_ == 0 ? OP_TEXT : OP_CONT, $parts->[$_],
                fin => $_ == $#$parts ? 1 : 0)
        } 0 .. $#$parts;
        my $bad = pop @frames;
        $t->violation($l, side => $side, name => "$side: $name",
            before => \@frames, bad => $bad,
            reason => 'invalid UTF-8 in text message', code => 1007);
    }

    $t->violation($l, side => $side, name => "$side: close reason",
        bad => $f->(OP_CLOSE, close_payload(1000, "bye\xff")),
        reason => 'invalid UTF-8 in close reason', code => 1007);
    $t->violation($l, side => $side, name => "$side: close reason surrogate",
        bad => $f->(OP_CLOSE, close_payload(1001, "\xed\xa0\x80")),
        reason => 'invalid UTF-8 in close reason', code => 1007);
    $t->violation($l, side => $side, name => "$side: truncated close reason",
        bad => $f->(OP_CLOSE, close_payload(1000, "\xe2\x82")),
        reason => 'invalid UTF-8 in close reason', code => 1007);

    # valid text passes exactly
    my $p = $t->ws_pair($l);
    my ($from, $to) = $m ? @$p{qw(client backend)} : @$p{qw(backend client)};
    my @valid = ("\x7f", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80",
        "\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80",
        "\xf4\x8f\xbf\xbf", "\xef\xbb\xbfBOM", '', text_payload(3000, 5));
    my $data = join '', map { $f->(OP_TEXT, $_) } @valid;
    send_all($from, $data);
    my ($got) = read_exact($to, length $data, 5);
    bytes_is($got, $data, "$side: boundary code points pass");

    # a string split across two fragments at every position, and into
    # 1-byte fragments
    my $s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xf4\x8f\xbf\xbfz";
    $data = '';
    for my $k (0 .. length $s) {
        $data .= $f->(OP_TEXT, substr($s, 0, $k), fin => 0)
            . $f->(OP_CONT, substr($s, $k));
    }
    $data .= $f->(OP_TEXT, substr($s, 0, 1), fin => 0);
    $data .= $f->(OP_CONT, substr($s, $_, 1), fin => 0) for 1 .. length($s) - 2;
    $data .= $f->(OP_CONT, substr($s, -1));
    send_all($from, $data);
    ($got) = read_exact($to, length $data, 5);
    bytes_is($got, $data, "$side: valid UTF-8 split at every byte passes");

    # control frames between the fragments of a character
    $data = $f->(OP_TEXT, "\xe2", fin => 0) . $f->(OP_PING, 'p')
        . $f->(OP_CONT, "\x82", fin => 0) . $f->(OP_PONG, "\xff")
        . $f->(OP_CONT, "\xac");
    send_all($from, $data);
    ($got) = read_exact($to, length $data, 5);
    bytes_is($got, $data, "$side: pings inside a split character pass");

    # binary frames are not checked
    $data = $f->(OP_BINARY, "\xff\xc0\x80\xed\xa0\x80");
    send_all($from, $data);
    ($got) = read_exact($to, length $data, 5);
    bytes_is($got, $data, "$side: binary data is not UTF-8 checked");

    # a valid reason
    my $cl = $f->(OP_CLOSE, close_payload(1000, "\xf0\x9f\x98\x80 bye"));
    send_all($from, $cl);
    frame_ok(read_frame($to), $cl, "$side: close with a UTF-8 reason passes");
    my $reply = mk(!$m, OP_CLOSE, close_payload(1000));
    send_all($to, $reply);
    frame_ok(read_frame($from), $reply, "$side: close reply passes");
    expect_eof($p->{client}, "$side: client closed");
    expect_eof($p->{backend}, "$side: backend closed");
}

# ws_validate_utf8 off
{
    my $p = $t->ws_pair($l, path => '/off/');
    my $up = join '', map { cframe(OP_TEXT, $_->[1]) } @invalid;
    $up .= cframe(OP_TEXT, "\xf4", fin => 0) . cframe(OP_CONT, "\x90\x80");
    my $down = join '', map { sframe(OP_TEXT, $_->[1]) } @invalid;
    $down .= sframe(OP_TEXT, "\xed", fin => 0) . sframe(OP_CONT, "\xa0\x80");
    send_all($p->{client}, $up);
    send_all($p->{backend}, $down);
    my ($got) = read_exact($p->{backend}, length $up, 5);
    bytes_is($got, $up, 'validate off: invalid text from the client passes');
    ($got) = read_exact($p->{client}, length $down, 5);
    bytes_is($got, $down, 'validate off: invalid text from the backend passes');
    close_pair($p);
}

$t->stop;
done_testing;
