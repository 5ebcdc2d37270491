#!/usr/bin/python3
# WebSocket client (python3-websockets) for the integration tests.
#
#   py_client.py [--cafile FILE] URL SIZE...
#
# A wss:// URL is verified against FILE (the test's own certificate).
# For every size sends a text and a binary message of that many bytes,
# expects the same message back, then sends a fragmented text message,
# a ping, and closes with 1000 "bye".  Prints one TAP-like line per check
# ("ok - ..." or "not ok - ...") and "done" at the end.

import asyncio
import ssl
import sys

import websockets

CHARS = ['a', '\u00e9', '\u20ac', '\U0001f600', 'Z', '\u0416', ' ', '\u65e5',
         '\U0010ffff', '0']


def text_of(n, seed):
    seq = [CHARS[(seed + i * 7) % len(CHARS)] for i in range(64)]
    block = ''.join(seq)
    blen = len(block.encode())
    s = block * (n // blen)
    rest = n - (n // blen) * blen
    tail = []
    for c in seq:
        cl = len(c.encode())
        if cl > rest:
            break
        tail.append(c)
        rest -= cl
    return s + ''.join(tail) + 'x' * rest


def binary_of(n, seed):
    block = bytes(((i * 131 + seed * 17 + (i >> 8)) & 255)
                  for i in range(4094))
    return (block * (n // len(block) + 1))[:n]


def report(ok, what):
    print('%s - %s' % ('ok' if ok else 'not ok', what), flush=True)


async def run(url, sizes, cafile):
    ctx = None
    if cafile:
        ctx = ssl.create_default_context(cafile=cafile)
    async with websockets.connect(url, max_size=None, ping_interval=None,
                                  max_queue=None, ssl=ctx) as ws:
        report(ws.response_headers.get('Sec-WebSocket-Extensions') is None,
               'no extension negotiated')
        for i, n in enumerate(sizes):
            t = text_of(n, i)
            await ws.send(t)
            got = await asyncio.wait_for(ws.recv(), 60)
            report(isinstance(got, str) and got == t, 'text %d' % n)
            b = binary_of(n, i)
            await ws.send(b)
            got = await asyncio.wait_for(ws.recv(), 60)
            report(isinstance(got, bytes) and got == b, 'binary %d' % n)

        parts = [text_of(1000, 1), text_of(1, 2), text_of(70000, 3), '']
        await ws.send(parts)
        got = await asyncio.wait_for(ws.recv(), 60)
        report(got == ''.join(parts), 'fragmented text')

        parts = [binary_of(10, 1), binary_of(100000, 2)]
        await ws.send(parts)
        got = await asyncio.wait_for(ws.recv(), 60)
        report(got == b''.join(parts), 'fragmented binary')

        waiter = await ws.ping(b'ping-data')
        try:
            await asyncio.wait_for(waiter, 10)
            report(True, 'pong')
        except Exception as e:
            report(False, 'pong: %r' % e)

        await ws.close(1000, 'bye')
        report(ws.close_code == 1000 and ws.close_reason == 'bye',
               'close 1000 bye (got %s %r)' % (ws.close_code,
                                               ws.close_reason))
    print('done', flush=True)


def main():
    args = sys.argv[1:]
    cafile = None
    if args[0] == '--cafile':
        cafile = args[1]
        args = args[2:]
    url = args[0]
    sizes = [int(x) for x in args[1:]]
    asyncio.run(run(url, sizes, cafile))


if __name__ == '__main__':
    main()
