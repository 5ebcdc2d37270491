package WsCases;

# Protocol violations shared by the client-side and backend-side tests.
# Each case: { name, bad (bytes), reason (log text), before ([valid
# frames sent first]), after (valid bytes that must not be forwarded) }.
# $masked: build the frames masked (client side) or not (backend side).

use strict;
use warnings;

use Exporter qw(import);
use WsTest;

our @EXPORT = qw(protocol_cases close_code_cases mk);

sub mk {
    my ($masked, $op, $payload, %o) = @_;
    return frame(opcode => $op, payload => $payload, mask => $masked ? 1 : 0,
        %o);
}

sub protocol_cases {
    my ($masked) = @_;
    my $f = sub { mk($masked, @_) };
    my $after = $f->(OP_TEXT, 'after the bad frame');
    my @c;

    if ($masked) {
        push @c, { name => 'unmasked text frame', reason => 'unmasked frame',
            bad => sframe(OP_TEXT, 'hi'), before => [$f->(OP_TEXT, 'ok')] };
        push @c, { name => 'unmasked close frame', reason => 'unmasked frame',
            bad => sframe(OP_CLOSE, close_payload(1000)) };
        push @c, { name => 'unmasked empty ping', reason => 'unmasked frame',
            bad => sframe(OP_PING, '') };
    } else {
        push @c, { name => 'masked text frame', reason => 'masked frame',
            bad => cframe(OP_TEXT, 'hi'), before => [$f->(OP_TEXT, 'ok')] };
        push @c, { name => 'masked close frame', reason => 'masked frame',
            bad => cframe(OP_CLOSE, close_payload(1000)) };
        push @c, { name => 'masked with a zero key', reason => 'masked frame',
            bad => frame(opcode => OP_BINARY, payload => 'x',
                mask => "\0\0\0\0") };
    }

    for my $rsv (4, 2, 1, 7) {
        push @c, { name => "RSV bits $rsv on text", reason => 'reserved bits set',
            bad => $f->(OP_TEXT, 'hi', rsv => $rsv) };
    }
    push @c, { name => 'RSV1 on ping', reason => 'reserved bits set',
        bad => $f->(OP_PING, 'p', rsv => 4) };
    push @c, { name => 'RSV1 on a continuation',
        reason => 'reserved bits set',
        before => [$f->(OP_BINARY, 'a', fin => 0)],
        bad => $f->(OP_CONT, 'b', rsv => 4) };

    for my $op (3 .. 7, 0xb .. 0xf) {
        push @c, { name => sprintf('opcode 0x%x', $op),
            reason => 'unknown opcode', bad => $f->($op, 'x') };
    }
    push @c, { name => 'opcode 0x3 without FIN', reason => 'unknown opcode',
        bad => $f->(3, 'x', fin => 0) };

    push @c, { name => 'ping of 126 bytes', reason => 'control frame too long',
        bad => $f->(OP_PING, 'p' x 126) };
    push @c, { name => 'pong of 65536 bytes',
        reason => 'control frame too long',
        bad => $f->(OP_PONG, 'p' x 65536) };
    push @c, { name => 'close of 126 bytes',
        reason => 'control frame too long',
        bad => $f->(OP_CLOSE, close_payload(1000, 'r' x 124)) };

    push @c, { name => 'ping without FIN',
        reason => 'fragmented control frame',
        bad => $f->(OP_PING, 'p', fin => 0) };
    push @c, { name => 'close without FIN',
        reason => 'fragmented control frame',
        bad => $f->(OP_CLOSE, close_payload(1000), fin => 0) };

    push @c, { name => 'continuation first',
        reason => 'unexpected continuation frame',
        bad => $f->(OP_CONT, 'x') };
    push @c, { name => 'continuation after a complete message',
        reason => 'unexpected continuation frame',
        before => [$f->(OP_TEXT, 'a')], bad => $f->(OP_CONT, 'b') };
    push @c, { name => 'continuation without FIN first',
        reason => 'unexpected continuation frame',
        bad => $f->(OP_CONT, 'x', fin => 0) };

    push @c, { name => 'text inside a fragmented text',
        reason => 'data frame inside fragmented message',
        before => [$f->(OP_TEXT, 'a', fin => 0)],
        bad => $f->(OP_TEXT, 'b') };
    push @c, { name => 'binary inside a fragmented text',
        reason => 'data frame inside fragmented message',
        before => [$f->(OP_TEXT, 'a', fin => 0), $f->(OP_CONT, 'b', fin => 0)],
        bad => $f->(OP_BINARY, 'c') };
    push @c, { name => 'binary inside a fragmented binary after a ping',
        reason => 'data frame inside fragmented message',
        before => [$f->(OP_BINARY, 'a', fin => 0), $f->(OP_PING, 'p')],
        bad => $f->(OP_BINARY, 'c', fin => 0) };

    push @c, { name => '64-bit length with the top bit set',
        reason => 'invalid payload length',
        bad => frame(opcode => OP_BINARY, mask => $masked ? 1 : 0,
            raw_len => "\x80\0\0\0\0\0\0\x05") };
    push @c, { name => '64-bit length 2^64-1',
        reason => 'invalid payload length',
        bad => frame(opcode => OP_TEXT, mask => $masked ? 1 : 0,
            raw_len => "\xff" x 8) };

    push @c, { name => '16-bit length 5', reason => 'non-minimal payload length',
        bad => $f->(OP_BINARY, 'abcde', enc => 16) };
    push @c, { name => '16-bit length 125',
        reason => 'non-minimal payload length',
        bad => $f->(OP_TEXT, 'a' x 125, enc => 16) };
    push @c, { name => '16-bit length 0', reason => 'non-minimal payload length',
        bad => $f->(OP_BINARY, '', enc => 16) };
    push @c, { name => '64-bit length 5', reason => 'non-minimal payload length',
        bad => $f->(OP_BINARY, 'abcde', enc => 64) };
    push @c, { name => '64-bit length 65535',
        reason => 'non-minimal payload length',
        bad => $f->(OP_BINARY, 'b' x 65535, enc => 64) };

    push @c, { name => 'close with a 1-byte payload',
        reason => 'invalid close frame payload',
        bad => $f->(OP_CLOSE, "\x03") };

    for my $code (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999,
        5000, 65535)
    {
        push @c, { name => "close code $code", reason => 'invalid close code',
            bad => $f->(OP_CLOSE, close_payload($code)) };
    }
    push @c, { name => 'close code 1005 with a reason',
        reason => 'invalid close code',
        bad => $f->(OP_CLOSE, close_payload(1005, 'why')) };

    $_->{after} //= $after for @c;
    return @c;
}

# close codes a peer may send
sub close_code_cases {
    return (1000 .. 1003, 1007 .. 1014, 3000, 3999, 4000, 4999);
}

1;
