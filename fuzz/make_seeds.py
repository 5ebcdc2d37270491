#!/usr/bin/env python3
#
# Copyright (C) the ngx_ws authors
#
# Writes the seed corpora of the fuzz targets:
#
#   fuzz/corpus/frame/       for fuzz_frame.c
#   fuzz/corpus/utf8/        for fuzz_utf8.c
#   fuzz/corpus/scan/        for fuzz_scan.c
#   fuzz/corpus/handshake/   for fuzz_handshake.c
#
# Run from anywhere: python3 fuzz/make_seeds.py [NAME...] (all by default).
# The named seeds are rewritten; other files (inputs that fuzzing found and
# that were merged in) are kept: remove a renamed seed's old file by hand.
# The input formats are described at the top of each fuzz_*.c.
#
# To keep what a long run found (with few files):
#
#   ./fuzz_NAME -merge=1 fuzz/corpus/NAME/ RUN-CORPUS/

import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

# fuzz_frame settings, byte 0
CLIENT = 1
NO_UTF8 = 2
RAW = 4
MAX_FRAME = 8
MAX_MESSAGE = 16

# record opcode choices (index into op_map of fuzz_frame.c)
TEXT, BINARY, CONT, PING, PONG, CLOSE = 0, 1, 2, 4, 5, 6
FIN = 0x80


def settings(flags=0, buf=0, max_frame=0, max_message=0, piece=0, action=0,
             send=0):
    """buf: 0..0xdf gives 256 + 53 * buf bytes; piece: byte 4; action:
    byte 5 (bits 6-7: 1 stop, 2 discard; bits 0-5: where, in 64ths); send:
    partial sends of up to 3 * send bytes."""
    return bytes([flags, buf, max_frame, max_message, piece, action, send])


def rec(choice, payload=b'', fin=True, length=None):
    """One record of the structured format.  For a length above 126 the
    payload is a pattern (at most 255 bytes) repeated to that length."""
    h0 = (FIN if fin else 0) | choice
    n = len(payload) if length is None else length
    if n < 60:
        return bytes([h0, n]) + payload
    if n == 125:
        return bytes([h0, 60]) + payload
    if n == 126:
        return bytes([h0, 61]) + payload
    assert len(payload) < 256
    if n < 65536:
        ext = bytes([62]) + struct.pack('>H', n)
    else:
        ext = bytes([63]) + struct.pack('>H', n // 16)
    return bytes([h0]) + ext + bytes([len(payload)]) + payload


def close(code, reason=b''):
    return rec(CLOSE, struct.pack('>H', code) + reason)


def frame(b0, payload, mask=None):
    """A raw frame on the wire."""
    n = len(payload)
    h = bytes([b0])
    m = 0x80 if mask else 0
    if n < 126:
        h += bytes([m | n])
    elif n < 65536:
        h += bytes([m | 126]) + struct.pack('>H', n)
    else:
        h += bytes([m | 127]) + struct.pack('>Q', n)
    if mask:
        h += mask
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
    return h + payload


def frame_seeds():
    s = {}
    simple = (rec(TEXT, b'Hello') + rec(PING, b'x') + rec(BINARY, bytes(10))
              + rec(PONG) + rec(TEXT, b'') + close(1000, b'bye'))
    s['simple-client'] = settings(CLIENT) + simple
    s['simple-server'] = settings(0) + simple
    s['simple-bytewise'] = settings(CLIENT, piece=0xc0) + simple

    euro = '\u20ac'.encode()
    frag = (rec(TEXT, b'Hel', fin=False) + rec(PING, b'p')
            + rec(CONT, b'lo ' + euro[:1], fin=False) + rec(PONG)
            + rec(CONT, euro[1:], fin=False) + rec(CONT, b'!')
            + rec(BINARY, bytes(range(20)), fin=False) + rec(CONT, b'', False)
            + rec(CONT, b'end'))
    s['fragmented-client'] = settings(CLIENT, piece=0x43) + frag
    s['fragmented-server'] = settings(0, buf=1, piece=0x85) + frag
    s['fragmented-partial-sends'] = settings(0, buf=0, send=1) + frag

    # text frames larger than the buffer: re-fragmented
    big = rec(TEXT, b'x' * 40, length=3000) + rec(TEXT, b'', length=126)
    s['big-text-client'] = settings(CLIENT, buf=0) + big
    s['big-text-server'] = settings(0, buf=3, piece=0x8f) + big
    s['big-text-partial-sends'] = settings(CLIENT, buf=0, send=7) + big
    s['big-text-fragments'] = (settings(CLIENT, buf=0, piece=0x4a)
                               + rec(TEXT, b'ab', fin=False, length=1000)
                               + rec(PING)
                               + rec(CONT, 'é'.encode() * 10, length=700))
    # a 64-bit length (records make at most 80 KiB of stream)
    s['big-binary'] = (settings(CLIENT, buf=2)
                       + rec(BINARY, b'', length=65536)
                       + rec(BINARY, b'', length=4000)
                       + rec(PING, b'', length=125))

    s['limits'] = (settings(CLIENT | MAX_FRAME | MAX_MESSAGE, max_frame=20,
                            max_message=10)
                   + rec(BINARY, bytes(50), fin=False)
                   + rec(CONT, bytes(14), fin=False, length=140)
                   + rec(CONT, bytes(50)))
    s['limit-frame'] = (settings(MAX_FRAME, max_frame=2)
                        + rec(TEXT, b'x' * 15) + rec(TEXT, b'x' * 16))

    s['stop'] = (settings(CLIENT, piece=0x41, action=0x40 | 20)
                 + rec(BINARY, bytes(30), length=300) + rec(TEXT, b'after')
                 + close(1001))
    s['drop'] = (settings(0, piece=0x45, action=0x80 | 10)
                 + rec(TEXT, b'a' * 50) + rec(BINARY, bytes(5), length=500)
                 + close(1000, b'x'))

    s['no-utf8'] = (settings(CLIENT | NO_UTF8)
                    + rec(TEXT, b'\xff\xfe') + rec(TEXT, b'x', length=2000))
    s['bad-utf8'] = settings(CLIENT) + rec(TEXT, b'ok') + rec(TEXT, b'\xc0\x80')
    s['bad-utf8-late'] = (settings(0, buf=0)
                          + rec(TEXT, b'a' * 200 + b'\xed\xa0\x80',
                                length=1000))
    s['bad-rsv'] = settings(CLIENT) + rec(TEXT, b'ok') + bytes([0xf0, 1, 0x41])
    s['bad-close'] = settings(0) + close(1005)
    s['bad-close-reason'] = settings(CLIENT) + close(1000, b'\xff')
    s['close-empty'] = settings(CLIENT) + rec(CLOSE) + rec(TEXT, b'after')

    # raw wire streams
    key = b'\x37\xfa\x21\x3d'
    raw = (frame(0x81, b'Hello', key) + frame(0x89, b'', key)
           + frame(0x02, bytes(300), key) + frame(0x80, bytes(700), key)
           + frame(0x88, b'\x03\xe8', key))
    s['raw-client'] = settings(CLIENT | RAW, buf=5, piece=0x9f) + raw
    s['raw-server'] = (settings(RAW, piece=0x7f)
                       + frame(0x81, 'κόσμε'.encode()) + frame(0x8a, b'pong')
                       + frame(0x01, b'a') + frame(0x80, b'b')
                       + frame(0x82, b'\x00' * 126) + frame(0x88, b''))
    s['raw-nonminimal'] = (settings(RAW) + bytes([0x82, 126, 0, 5])
                           + b'hello')
    s['raw-len64'] = (settings(RAW)
                      + bytes([0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 0]))
    return s


def utf8_seeds():
    texts = {
        'ascii': b'Hello, world! ' * 5,
        'kosme': 'κόσμε'.encode(),
        'boundaries': ('\u0080\u07ff\u0800\uffff\U00010000\U0010ffff'
                       '\ud7ff\ue000\ufffd').encode('utf-8', 'surrogatepass'),
        'overlongs': b'\xc0\x80\xe0\x80\x80\xf0\x80\x80\x80\xc1\xbf',
        'surrogate': b'a\xed\xa0\x80b',
        'too-big': b'\xf4\x90\x80\x80',
        'f5-ff': bytes(range(0xf5, 0x100)),
        'continuation': bytes(range(0x80, 0xc0)),
        'truncated': b'abc\xe2\x82',
        'long-mixed': ('x' * 13 + 'é€😀') .encode() * 20,
        'long-then-bad': b'a' * 70 + b'\xff' + b'b' * 30,
    }
    s = {}
    for i, (name, t) in enumerate(sorted(texts.items())):
        setting = bytes([0x37, 0xfa, 0x21, 0x3d, i & 7, (i * 3) & 7])
        s[name] = setting + t
        s[name + '-zero-key'] = bytes([0, 0, 0, 0, 1, 1]) + t
    return s


# fuzz_scan settings, byte 0
S_CLIENT = 1
S_NO_UTF8 = 2
S_MAX_FRAME = 4
S_MAX_MESSAGE = 8
S_SEND_ALWAYS = 0x10    # ws_scan() after every send
S_SEND_VERIFY = 0x30    # check the calls the relay skips
S_STOP = 0x40
S_DISCARD = 0x80


def scan_settings(flags=0, buf=0, chunk_a=0, chunk_b=0, send=0, limits=0,
                  at=0):
    """buf: 256 + 3 * buf bytes; reads cycle 1 + chunk_a, 1 + 16 * chunk_b,
    all the free space; send: 0 all, else up to that many bytes; limits:
    max_frame 3 * limits + 1, max_message 17 * limits + 1; at: ws_stop() or
    ws_discard_output() after at / 256 of the stream."""
    return bytes([flags, buf, chunk_a, chunk_b, send, limits, at])


def scan_seeds():
    key = b'\x12\x34\x56\x78'
    zero = bytes(4)
    s = {}
    s['client'] = (scan_settings(S_CLIENT, chunk_a=2, chunk_b=1)
                   + frame(0x81, b'Hello', key) + frame(0x89, b'p', key)
                   + frame(0x82, bytes(200), zero)
                   + frame(0x88, b'\x03\xe8bye', key))
    s['server-fragments'] = (scan_settings(0, chunk_a=0, send=3)
                             + frame(0x01, 'caf\u00e9 '.encode()[:4])
                             + frame(0x8a, b'')
                             + frame(0x00, 'caf\u00e9 '.encode()[4:])
                             + frame(0x80, b'!') + frame(0x88, b''))
    s['big-text'] = (scan_settings(0, chunk_a=40, chunk_b=3, send=50)
                     + frame(0x81, ('\u20ac' * 250).encode())
                     + frame(0x81, b'x' * 126))
    s['big-text-client'] = (scan_settings(S_CLIENT | S_SEND_VERIFY, buf=2,
                                          chunk_a=99)
                            + frame(0x81, b'y' * 700, key)
                            + frame(0x88, b'', key))
    s['limits'] = (scan_settings(S_MAX_FRAME | S_MAX_MESSAGE, limits=20)
                   + frame(0x02, bytes(40)) + frame(0x00, bytes(60))
                   + frame(0x80, bytes(300)) + frame(0x88, b'\x03\xe8'))
    s['bad-utf8-reply'] = (scan_settings(S_SEND_ALWAYS, chunk_a=5)
                           + frame(0x81, b'ok\xc3') + frame(0x81, b'late')
                           + frame(0x88, b'\x03\xef'))
    s['stop'] = (scan_settings(S_CLIENT | S_NO_UTF8 | S_STOP, chunk_a=30,
                               send=7, at=100)
                 + frame(0x82, bytes(300), key) + frame(0x81, b'\xff', key)
                 + frame(0x88, b'\x03\xe9', key))
    s['discard'] = (scan_settings(S_DISCARD, chunk_a=15, send=9, at=60)
                    + frame(0x81, b'a' * 150) + frame(0x02, bytes(20))
                    + frame(0x80, bytes(10)) + frame(0x88, b''))
    # a close already queued, then an offending frame that fills the buffer
    # to its end: dropped at once, the close reply is still read
    s['stall-after-drop'] = (scan_settings(S_STOP | S_MAX_MESSAGE,
                                           chunk_a=255)
                             + frame(0x82, bytes(252))
                             + frame(0x88, b'\x03\xe8'))
    return s


def handshake_seeds():
    s = {}
    s['rfc-key'] = b'\x00dGhlIHNhbXBsZSBub25jZQ=='
    s['bad-key'] = b'\x00dGhlIHNhbXBsZSBub25jZR=='
    s['base64'] = b'\x02AAECAwQFBgcICQoLDA0ODw==Zm9vYg=='
    s['connection'] = b'\x01keep-alive, Upgrade'
    s['upgrade'] = b'\x00 ,WebSocket\t, h2c,,'
    s['own-token'] = (bytes([3 | (9 << 2)]) + b'a , deflate ;x,\tpermessage'
                      + b'permessage')
    return s


def write(name, seeds):
    d = os.path.join(HERE, 'corpus', name)
    os.makedirs(d, exist_ok=True)
    for k, v in seeds.items():
        with open(os.path.join(d, k), 'wb') as f:
            f.write(v)
    print('%s: %d seeds' % (d, len(seeds)))


if __name__ == '__main__':
    import sys
    makers = {'frame': frame_seeds, 'utf8': utf8_seeds, 'scan': scan_seeds,
              'handshake': handshake_seeds}
    for name in sys.argv[1:] or sorted(makers):
        write(name, makers[name]())
