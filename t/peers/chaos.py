#!/usr/bin/python3
# Chaos peer for t/chaos.t and scripts/chaos.sh: plays both the backends and
# the clients of nginx with ngx_http_ws_module, each connection doing
# something drawn at random from a seed.
#
#   chaos.py --port P [--tls-port Q] --backends P1,P2 [--tls-backends T1,T2]
#            [--cert CRT --key KEY] [--clients N] [--duration D]
#            [--seed S] [--summary FILE] [--wait-nginx SECONDS]
#            [--trace FILE]
#
# Backends listen on the given loopback ports (TLS ones with --cert/--key).
# A client asks for the behaviour of the backend in its URI,
# /LOCATION/BEHAVIOUR/CLIENT-ID (LOCATION is ws, up or tls: nginx's
# locations; BEHAVIOUR "any" makes the backend draw one for each of its
# connections). N clients run at once for D seconds, then the run waits for
# those still open (each is bounded) and prints a JSON summary of outcomes
# per client kind and per backend behaviour.
#
# Unexpected answers are outcomes, not errors: chaos does not assert bytes,
# except that an echo exchange (echo, pipelined and burst clients) through
# an echo backend must get every message back byte-exact; those failures
# are counted in "echo.fail" and listed in "echo_failures". An echo cut by a
# worker shutdown (close 1001 after a correct prefix) counts as
# "echo.interrupted", with its time in "interrupted_at".
#
# The exit status is 0 unless the harness itself failed (an exception in
# its own code, a port it could not bind, nginx not reachable): 1.

import argparse
import asyncio
import base64
import collections
import hashlib
import json
import os
import random
import socket
import ssl
import struct
import sys
import time
import traceback

GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'

OP_CONT, OP_TEXT, OP_BINARY = 0x0, 0x1, 0x2
OP_CLOSE, OP_PING, OP_PONG = 0x8, 0x9, 0xa

MAX_FRAME = 65536           # ws_max_frame_size 64k in the test's nginx
CLIENT_TIMEOUT = 20.0       # a client's whole life
BACKEND_TIMEOUT = 25.0      # a backend connection's whole life
READ_TIMEOUT = 10.0         # one read where an answer is due


class Odd(Exception):
    """An unexpected answer: recorded as an outcome."""


class PeerClose(Exception):
    """A close frame arrived where data was expected."""

    def __init__(self, frame, msgs=None, pongs=None):
        super().__init__('close')
        self.frame = frame
        self.msgs = msgs or []
        self.pongs = pongs or []


NET_ERRORS = (OSError, EOFError, asyncio.TimeoutError, ssl.SSLError,
              asyncio.LimitOverrunError)


def net_outcome(e):
    if isinstance(e, asyncio.IncompleteReadError):
        return 'eof'
    if isinstance(e, (asyncio.TimeoutError, TimeoutError)):
        return 'timeout'
    if isinstance(e, ConnectionResetError):
        return 'reset'
    if isinstance(e, BrokenPipeError):
        return 'epipe'
    if isinstance(e, ssl.SSLError):
        return 'ssl_error'
    if isinstance(e, asyncio.LimitOverrunError):
        return 'head_too_long'
    if isinstance(e, ConnectionRefusedError):
        return 'refused'
    return 'oserror'


# ---------------------------------------------------------------------------
# frames

def mask(data, key):
    n = len(data)
    if not n:
        return b''
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, 'little')
            ^ int.from_bytes(k, 'little')).to_bytes(n, 'little')


def frame(op, payload=b'', fin=True, masked=False, rsv=0, enc=None,
          length=None):
    """A frame; enc forces the length encoding (7, 16, 64), length the
    declared length (the payload may then be shorter: a partial frame)."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    n = len(payload) if length is None else length
    mbit = 0x80 if masked else 0
    if enc is None:
        enc = 7 if n < 126 else 16 if n < 65536 else 64
    if enc == 7:
        h = bytes([b0, mbit | n])
    elif enc == 16:
        h = bytes([b0, mbit | 126]) + struct.pack('>H', n)
    else:
        h = bytes([b0, mbit | 127]) + struct.pack('>Q', n)
    if masked:
        key = os.urandom(4)
        return h + key + mask(payload, key)
    return h + payload


def cframe(op, payload=b'', **kw):
    return frame(op, payload, masked=True, **kw)


def close_payload(code, reason=b''):
    return struct.pack('>H', code) + reason if code is not None else b''


class Frame:
    __slots__ = ('fin', 'rsv', 'op', 'masked', 'payload')

    def __init__(self, fin, rsv, op, masked, payload):
        self.fin, self.rsv, self.op = fin, rsv, op
        self.masked, self.payload = masked, payload

    def code(self):
        if len(self.payload) >= 2:
            return struct.unpack('>H', self.payload[:2])[0]
        return 1005


async def read_frame(reader, timeout=READ_TIMEOUT):
    async def rd():
        b0, b1 = await reader.readexactly(2)
        n = b1 & 0x7f
        if n == 126:
            n = struct.unpack('>H', await reader.readexactly(2))[0]
        elif n == 127:
            n = struct.unpack('>Q', await reader.readexactly(8))[0]
        if n > 1 << 24:
            raise Odd('frame_length_%d' % n)
        key = await reader.readexactly(4) if b1 & 0x80 else None
        p = await reader.readexactly(n) if n else b''
        if key:
            p = mask(p, key)
        return Frame(b0 >> 7, (b0 >> 4) & 7, b0 & 0xf, key is not None, p)
    return await asyncio.wait_for(rd(), timeout)


# valid UTF-8 of exactly n bytes, 1- to 4-byte characters
CHARS = ['a', 'é', '€', '😀', 'Z', 'Ж', ' ', '日', '\U0010ffff', '0']
CHARS_B = [c.encode() for c in CHARS]


def utf8_payload(rng, n):
    out = []
    left = n
    while left > 0:
        c = CHARS_B[rng.randrange(len(CHARS_B))]
        if len(c) > left:
            c = b'x' * left
        out.append(c)
        left -= len(c)
    return b''.join(out)


def rand_size(rng, big=MAX_FRAME):
    return rng.choice([0, 1, 125, 126, 127, 1000, 65535, 65536,
                       rng.randint(0, big), rng.randint(0, 4096)])


def message(rng, max_size=MAX_FRAME):
    """A random message: (opcode, payload, list of frame pieces)."""
    op = OP_TEXT if rng.random() < 0.5 else OP_BINARY
    n = min(rand_size(rng), max_size)
    payload = utf8_payload(rng, n) if op == OP_TEXT else rng.randbytes(n)
    pieces = [payload]
    if n > 1 and rng.random() < 0.3:
        cuts = sorted(rng.sample(range(1, n), min(n - 1, rng.randint(1, 3))))
        pieces = [payload[a:b] for a, b in zip([0] + cuts, cuts + [n])]
    return op, payload, pieces


def message_frames(op, pieces, masked, rng=None, pings=None):
    """Frames of a message, with pings between fragments (their payloads
    are appended to pings)."""
    out = []
    for i, p in enumerate(pieces):
        out.append(frame(op if i == 0 else OP_CONT, p,
                         fin=i == len(pieces) - 1, masked=masked))
        if rng and pings is not None and i < len(pieces) - 1 \
                and rng.random() < 0.3:
            pp = b'ping %d' % rng.randrange(1 << 30)
            pings.append(pp)
            out.append(frame(OP_PING, pp, masked=masked))
    return b''.join(out)


def ws_key():
    return base64.b64encode(os.urandom(16)).decode()


def ws_accept(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()
                            ).decode()


def handshake_request(path, key, proto='HTTP/1.1', extra=''):
    return ('GET %s %s\r\nHost: localhost\r\nUpgrade: websocket\r\n'
            'Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n'
            'Sec-WebSocket-Version: 13\r\n%s\r\n'
            % (path, proto, key, extra)).encode()


def response_101(key):
    return ('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n'
            'Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n'
            % ws_accept(key)).encode()


def parse_head(data):
    lines = data.decode('latin-1').split('\r\n')
    first = lines[0].split(' ', 2)
    hdrs = {}
    for line in lines[1:]:
        if ':' in line:
            k, v = line.split(':', 1)
            hdrs.setdefault(k.strip().lower(), v.strip())
    return first, hdrs


async def read_head(reader, timeout=READ_TIMEOUT):
    data = await asyncio.wait_for(reader.readuntil(b'\r\n\r\n'), timeout)
    return parse_head(data)


def weighted(rng, items):
    total = sum(w for _, w in items)
    x = rng.random() * total
    for name, w in items:
        x -= w
        if x < 0:
            return name
    return items[-1][0]


# ---------------------------------------------------------------------------
# connections

class Conn:
    def __init__(self, reader, writer):
        self.r = reader
        self.w = writer

    def write(self, data):
        self.w.write(data)

    async def send(self, data, timeout=READ_TIMEOUT):
        self.w.write(data)
        await asyncio.wait_for(self.w.drain(), timeout)

    async def frame(self, timeout=READ_TIMEOUT):
        return await read_frame(self.r, timeout)

    async def eof(self, timeout=5.0):
        """Reads until EOF; returns 'eof', 'reset', 'timeout' or 'data'."""
        got = 0
        try:
            end = time.monotonic() + timeout
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    return 'timeout'
                d = await asyncio.wait_for(self.r.read(65536), left)
                if not d:
                    return 'eof' if not got else 'data_then_eof'
                got += len(d)
        except asyncio.TimeoutError:
            return 'timeout'
        except (ConnectionError, ssl.SSLError, OSError):
            return 'reset'

    def reset(self):
        try:
            s = self.w.get_extra_info('socket')
            if s is not None:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack('ii', 1, 0))
        except OSError:
            pass
        self.abort()

    async def close(self):
        try:
            self.w.close()
            await asyncio.wait_for(self.w.wait_closed(), 2)
        except (asyncio.TimeoutError, ConnectionError, ssl.SSLError,
                OSError):
            pass
        self.abort()

    def abort(self):
        try:
            self.w.transport.abort()
        except AttributeError:
            # asyncio's SSL transport once its protocol is gone
            pass

    async def drop(self, rng):
        """Closes at random: FIN or RST."""
        if rng.random() < 0.5:
            self.reset()
        else:
            await self.close()


# ---------------------------------------------------------------------------
# backends

BACKEND_KINDS = [('echo', 3), ('refuse', 1), ('garbage', 1),
                 ('die_handshake', 1), ('die_frame', 1), ('invalid', 2),
                 ('burst', 1), ('slow_reader', 1), ('continue101', 1),
                 ('polite_close', 1), ('stall', 0.5)]
BACKEND_NAMES = [k for k, _ in BACKEND_KINDS]
VALID_101 = {'echo', 'die_frame', 'invalid', 'burst', 'slow_reader',
             'continue101', 'polite_close'}


def backend_invalid_frame(rng):
    """(name, bytes, complete): an invalid frame from a backend."""
    v = rng.choice(['masked', 'opcode', 'rsv', 'utf8', 'close1',
                    'close_code', 'close_utf8', 'oversize', 'cont',
                    'ctrl_frag', 'ctrl_big', 'nonminimal', 'frag_new'])
    if v == 'masked':
        return v, frame(OP_TEXT, b'masked from a backend', masked=True)
    if v == 'opcode':
        return v, frame(rng.choice([3, 4, 7, 0xb, 0xf]), b'op')
    if v == 'rsv':
        return v, frame(OP_BINARY, b'rsv', rsv=rng.choice([1, 2, 4]))
    if v == 'utf8':
        return v, frame(OP_TEXT, b'ok \xc3\x28 bad')
    if v == 'close1':
        return v, frame(OP_CLOSE, b'\x03')
    if v == 'close_code':
        return v, frame(OP_CLOSE, close_payload(rng.choice(
            [0, 999, 1004, 1005, 1006, 1015, 2000, 5000])))
    if v == 'close_utf8':
        return v, frame(OP_CLOSE, close_payload(1000, b'\xff\xfe'))
    if v == 'oversize':
        return v, frame(OP_BINARY, b'\0' * 1000, length=MAX_FRAME + 1)
    if v == 'cont':
        return v, frame(OP_CONT, b'no start')
    if v == 'ctrl_frag':
        return v, frame(OP_PING, b'p', fin=False)
    if v == 'ctrl_big':
        return v, frame(OP_PING, b'p' * 126)
    if v == 'nonminimal':
        return v, frame(OP_TEXT, b'short', enc=16)
    return v, frame(OP_TEXT, b'a', fin=False) + frame(OP_TEXT, b'b')


class Backends:
    def __init__(self, run):
        self.run = run
        self.counts = collections.Counter()
        self.outcomes = collections.defaultdict(collections.Counter)
        self.servers = []
        self.tasks = set()
        self.sent_101 = 0

    async def start(self, ports, tls_ports, cert, key):
        sctx = None
        if tls_ports:
            sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            sctx.load_cert_chain(cert, key)
        for port in ports:
            self.servers.append(await asyncio.start_server(
                lambda r, w, p=port: self.accept(r, w, p), '127.0.0.1', port,
                limit=1 << 20, backlog=256, reuse_address=True))
        for port in tls_ports:
            self.servers.append(await asyncio.start_server(
                lambda r, w, p=port: self.accept(r, w, p), '127.0.0.1', port,
                ssl=sctx, limit=1 << 20, backlog=256, reuse_address=True,
                ssl_handshake_timeout=10))

    def accept(self, reader, writer, port):
        t = asyncio.get_running_loop().create_task(
            self.conn(reader, writer, port))
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    async def stop(self):
        for s in self.servers:
            s.close()
        for t in list(self.tasks):
            t.cancel()
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=5)

    async def conn(self, reader, writer, port):
        c = Conn(reader, writer)
        kind = 'unknown'
        try:
            s = writer.get_extra_info('socket')
            if s is not None:
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                first, hdrs = await read_head(reader, 10)
            except NET_ERRORS as e:
                self.outcomes['no_request'][net_outcome(e)] += 1
                return
            parts = first[1].split('/') if len(first) > 1 else []
            kind = parts[2] if len(parts) > 3 else 'unknown'
            cid = parts[3] if len(parts) > 3 else '?'
            n = self.counts[(cid, port)]
            self.counts[(cid, port)] += 1
            rng = random.Random('%s:backend:%s:%d:%d'
                                % (self.run.seed, cid, port, n))
            if kind == 'any':
                kind = weighted(rng, BACKEND_KINDS)
            if kind not in BACKEND_NAMES:
                self.outcomes['unknown'][first[1][:40]] += 1
                return
            key = hdrs.get('sec-websocket-key', '')
            fn = getattr(self, 'b_' + kind)
            try:
                out = await asyncio.wait_for(fn(c, rng, key), BACKEND_TIMEOUT)
            except PeerClose as e:
                out = 'close_%d' % e.frame.code()
            except Odd as e:
                out = 'odd_' + str(e)
            except NET_ERRORS as e:
                out = net_outcome(e)
            self.outcomes[kind][out] += 1
        except asyncio.CancelledError:
            self.outcomes[kind]['cancelled'] += 1
            raise
        except Exception:
            self.outcomes[kind]['harness_error'] += 1
            self.run.harness_error('backend %s' % kind)
        finally:
            c.abort()

    async def send_101(self, c, key):
        self.sent_101 += 1
        await c.send(response_101(key))

    # the backend side of a close: reply to the peer's close frame and wait
    # for the end of the connection
    async def until_close(self, c, reply=True, echo=False,
                          timeout=READ_TIMEOUT):
        while True:
            f = await c.frame(timeout)
            if f.op == OP_CLOSE:
                if reply:
                    await c.send(frame(OP_CLOSE, f.payload))
                st = await c.eof()
                return 'close_%d_%s' % (f.code(), st)
            if f.op == OP_PING:
                await c.send(frame(OP_PONG, f.payload))
            elif echo and f.op != OP_PONG:
                await c.send(frame(f.op, f.payload, fin=bool(f.fin)))

    async def b_echo(self, c, rng, key):
        await self.send_101(c, key)
        return await self.until_close(c, echo=True, timeout=15)

    async def b_continue101(self, c, rng, key):
        await c.send(b'HTTP/1.1 100 Continue\r\n\r\n')
        if rng.random() < 0.5:
            await asyncio.sleep(rng.uniform(0, 0.2))
        await self.send_101(c, key)
        return await self.until_close(c, echo=True, timeout=15)

    async def b_refuse(self, c, rng, key):
        body = b'forbidden by the chaos backend\n' * rng.randint(1, 50)
        conn = rng.choice(['close', 'keep-alive'])
        await c.send(b'HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n'
                     b'Connection: %s\r\nContent-Length: %d\r\n\r\n'
                     % (conn.encode(), len(body)) + body)
        return 'sent_' + await c.eof(3)

    async def b_garbage(self, c, rng, key):
        v = rng.choice(['random', 'bad_status', 'no_colon', 'bad_accept',
                        'http10_101', 'huge_header', 'binary_101'])
        if v == 'random':
            data = rng.randbytes(rng.randint(1, 300))
        elif v == 'bad_status':
            data = b'HTTP/1.1 abc Nope\r\n\r\n'
        elif v == 'no_colon':
            data = (b'HTTP/1.1 101 Switching Protocols\r\nthis is no header'
                    b'\r\n\r\n')
        elif v == 'bad_accept':
            data = (b'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket'
                    b'\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: '
                    b'AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n')
        elif v == 'http10_101':
            data = response_101(key).replace(b'HTTP/1.1', b'HTTP/1.0', 1)
        elif v == 'huge_header':
            data = (b'HTTP/1.1 101 Switching Protocols\r\nX-Big: '
                    + b'x' * 70000 + b'\r\n\r\n')
        else:
            data = response_101(key)[:-2] + rng.randbytes(64) + b'\r\n\r\n'
        await c.send(data)
        await asyncio.sleep(rng.uniform(0, 0.5))
        await c.drop(rng)
        return v

    async def b_die_handshake(self, c, rng, key):
        v = rng.choice(['silent', 'partial_status', 'partial_headers'])
        if v == 'partial_status':
            await c.send(b'HTTP/1.1 101 Swit')
        elif v == 'partial_headers':
            await c.send(response_101(key)[:-rng.randint(2, 30)])
        await asyncio.sleep(rng.uniform(0, 0.3))
        await c.drop(rng)
        return v

    async def b_die_frame(self, c, rng, key):
        await self.send_101(c, key)
        for _ in range(rng.randint(0, 2)):
            op, _p, pieces = message(rng)
            await c.send(message_frames(op, pieces, False))
        f = frame(OP_BINARY, rng.randbytes(rng.randint(2, 5000)))
        await c.send(f[:rng.randint(1, len(f) - 1)])
        await asyncio.sleep(rng.uniform(0, 0.3))
        await c.drop(rng)
        return 'died'

    async def b_invalid(self, c, rng, key):
        await self.send_101(c, key)
        for _ in range(rng.randint(0, 2)):
            op, _p, pieces = message(rng)
            await c.send(message_frames(op, pieces, False))
        v, data = backend_invalid_frame(rng)
        await c.send(data)
        reply = rng.random() < 0.8
        out = await self.until_close(c, reply=reply)
        return '%s_%s' % (v, out)

    async def b_burst(self, c, rng, key):
        await self.send_101(c, key)
        peer = []

        async def reader():
            while True:
                f = await c.frame(20)
                if f.op == OP_CLOSE:
                    peer.append(f)
                    return
                if f.op == OP_PING:
                    c.write(frame(OP_PONG, f.payload))

        rt = asyncio.get_running_loop().create_task(reader())
        try:
            for _ in range(rng.randint(10, 40)):
                if rt.done():
                    break
                n = rng.choice([MAX_FRAME, rng.randint(16384, MAX_FRAME)])
                c.write(frame(OP_BINARY, rng.randbytes(n)))
                dt = asyncio.ensure_future(c.w.drain())
                await asyncio.wait([dt, rt], timeout=READ_TIMEOUT,
                                   return_when=asyncio.FIRST_COMPLETED)
                if not dt.done():
                    await cancel(dt)
                    if not rt.done():
                        return 'write_stuck'
                else:
                    dt.result()
            if not rt.done():
                await c.send(frame(OP_CLOSE,
                                   close_payload(1000, b'burst done')))
                await asyncio.wait_for(asyncio.shield(rt), READ_TIMEOUT)
                rt.result()
                return 'closed_%d_%s' % (peer[0].code(), await c.eof())
            rt.result()
            await c.send(frame(OP_CLOSE, peer[0].payload))
            return 'peer_closed_%d_%s' % (peer[0].code(), await c.eof())
        finally:
            await cancel(rt)

    async def b_slow_reader(self, c, rng, key):
        await self.send_101(c, key)
        c.w.transport.pause_reading()
        if rng.random() < 0.5:
            await c.send(frame(OP_TEXT, b'I do not read'))
        await asyncio.sleep(rng.uniform(4, 8))
        await c.drop(rng)
        return 'slept'

    async def b_polite_close(self, c, rng, key):
        # sometimes the 101, a message and the close in one write
        together = rng.random() < 0.5
        self.sent_101 += 1
        data = response_101(key)
        if rng.random() < 0.5:
            data += frame(OP_TEXT, b'hello, and goodbye')
        if not together:
            await c.send(data)
            data = b''
        await c.send(data + frame(OP_CLOSE, close_payload(1000, b'done')))
        while True:
            f = await c.frame()
            if f.op == OP_CLOSE:
                return 'closed_%d_%s' % (f.code(), await c.eof())

    async def b_stall(self, c, rng, key):
        await asyncio.sleep(rng.uniform(4, 6))
        await c.drop(rng)
        return 'stalled'


# ---------------------------------------------------------------------------
# clients

CLIENT_KINDS = [('echo', 30), ('drop_handshake', 6), ('drop_frame', 6),
                ('invalid', 10), ('burst', 8), ('slow_reader', 5),
                ('no_read', 5), ('pipelined', 8), ('plain_http', 4),
                ('http10', 3), ('slow_handshake', 3), ('ping_flood', 3),
                ('close_abrupt', 5)]
ECHO_KINDS = {'echo', 'pipelined', 'burst', 'slow_handshake', 'ping_flood'}


def client_invalid_frame(rng):
    """(name, bytes, expected close code) of an invalid client frame."""
    v = rng.choice(['unmasked', 'close1', 'close_code', 'close_utf8',
                    'oversize', 'opcode', 'rsv', 'cont', 'ctrl_frag',
                    'ctrl_big', 'nonminimal', 'utf8', 'frag_new', 'len64'])
    if v == 'unmasked':
        return v, frame(OP_TEXT, b'not masked'), 1002
    if v == 'close1':
        return v, cframe(OP_CLOSE, b'\x03'), 1002
    if v == 'close_code':
        return v, cframe(OP_CLOSE, close_payload(rng.choice(
            [0, 999, 1004, 1005, 1006, 1015, 2999, 5000]))), 1002
    if v == 'close_utf8':
        return v, cframe(OP_CLOSE, close_payload(1000, b'\xc0\xaf')), 1007
    if v == 'oversize':
        return v, cframe(OP_BINARY, b'\0' * rng.randint(0, 3000),
                         length=MAX_FRAME + rng.randint(1, 100000)), 1009
    if v == 'opcode':
        return v, cframe(rng.choice([3, 5, 0xb, 0xe]), b'x'), 1002
    if v == 'rsv':
        return v, cframe(OP_TEXT, b'rsv', rsv=rng.choice([1, 2, 4, 7])), 1002
    if v == 'cont':
        return v, cframe(OP_CONT, b'no start'), 1002
    if v == 'ctrl_frag':
        return v, cframe(OP_PING, b'p', fin=False), 1002
    if v == 'ctrl_big':
        return v, cframe(OP_PONG, b'p' * 200), 1002
    if v == 'nonminimal':
        return v, cframe(OP_BINARY, b'short', enc=rng.choice([16, 64])), 1002
    if v == 'utf8':
        return v, cframe(OP_TEXT, b'valid then \xed\xa0\x80'), 1007
    if v == 'frag_new':
        return v, cframe(OP_BINARY, b'a', fin=False) + cframe(OP_TEXT,
                                                                 b'b'), 1002
    b0 = bytes([0x82, 0xff]) + struct.pack('>Q', 1 << 63) + os.urandom(4)
    return v, b0, 1002


class Client:
    def __init__(self, run, cid, rng):
        self.run = run
        self.cid = cid
        self.rng = rng
        self.kind = weighted(rng, CLIENT_KINDS)
        self.tls = bool(run.tls_port) and rng.random() < 0.3
        locs = [('ws', 4), ('up', 4)]
        if run.has_tls_backends:
            locs.append(('tls', 3))
        self.loc = weighted(rng, locs)
        self.bkind = self.pick_backend()
        self.path = '/%s/%s/%d' % (self.loc, self.bkind, cid)
        self.echo_check = (self.kind in ECHO_KINDS
                           and self.bkind in ('echo', 'continue101'))
        self.echo_result = None
        self.conn = None
        self.saw_101 = False

    def pick_backend(self):
        rng = self.rng
        x = rng.random()
        if self.kind in ECHO_KINDS:
            if x < 0.75:
                return 'echo' if rng.random() < 0.8 else 'continue101'
        elif self.kind in ('slow_reader', 'no_read'):
            if x < 0.5:
                return 'burst'
            if x < 0.75:
                return 'echo'
        return rng.choice(BACKEND_NAMES + ['any'] * 3)

    def describe(self):
        return 'cid=%d kind=%s path=%s tls=%s' % (
            self.cid, self.kind, self.path, int(self.tls))

    async def connect(self, rcvbuf=None, limit=1 << 20):
        loop = asyncio.get_running_loop()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if rcvbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            port = self.run.tls_port if self.tls else self.run.port
            await asyncio.wait_for(loop.sock_connect(sock, ('127.0.0.1',
                                                            port)), 5)
            r, w = await asyncio.wait_for(asyncio.open_connection(
                sock=sock, ssl=self.run.cctx if self.tls else None,
                server_hostname='localhost' if self.tls else None,
                limit=limit), 10)
        except BaseException:
            sock.close()
            raise
        self.conn = Conn(r, w)
        return self.conn

    async def upgrade(self, after=b'', rcvbuf=None, limit=1 << 20,
                      slow=False):
        """Connects and upgrades; returns the status (101 or another).
        slow: the request goes in small pieces with pauses."""
        c = await self.connect(rcvbuf, limit)
        key = ws_key()
        req = handshake_request(self.path, key) + after
        if slow:
            i = 0
            while i < len(req):
                n = self.rng.randint(1, 24)
                await c.send(req[i:i + n])
                i += n
                await asyncio.sleep(self.rng.uniform(0, 0.03))
        else:
            await c.send(req)
        first, hdrs = await read_head(c.r, 15)
        if len(first) < 2 or not first[1].isdigit():
            raise Odd('bad_status_line')
        status = int(first[1])
        if status == 101:
            self.saw_101 = True
            self.run.saw_101 += 1
            if hdrs.get('sec-websocket-accept') != ws_accept(key):
                raise Odd('bad_accept')
        return status

    async def after_refusal(self, status):
        st = await self.conn.eof(5)
        return 'status_%d_%s' % (status, st)

    # reads frames from the proxy until n data messages and m pongs; a
    # close frame raises PeerClose with what came before it
    async def collect(self, n, m, timeout=READ_TIMEOUT):
        c = self.conn
        msgs, pongs = [], []
        cur_op, cur = None, []
        while len(msgs) < n or len(pongs) < m:
            f = await c.frame(timeout)
            if f.masked:
                raise Odd('masked_frame_from_proxy')
            if f.rsv:
                raise Odd('rsv_from_proxy')
            if f.op == OP_CLOSE:
                raise PeerClose(f, msgs, pongs)
            if f.op == OP_PONG:
                pongs.append(f.payload)
                continue
            if f.op == OP_PING:
                continue
            if f.op == OP_CONT:
                if cur_op is None:
                    raise Odd('continuation_without_start')
                cur.append(f.payload)
            elif f.op in (OP_TEXT, OP_BINARY):
                if cur_op is not None:
                    raise Odd('new_message_inside_fragmented')
                cur_op, cur = f.op, [f.payload]
            else:
                raise Odd('opcode_%d_from_proxy' % f.op)
            if f.fin:
                msgs.append((cur_op, b''.join(cur)))
                cur_op, cur = None, []
        return msgs, pongs

    def compare(self, got, exp, what):
        for i, (g, e) in enumerate(zip(got, exp)):
            if g != e:
                self.echo_fail('%s %d: got op %d %d bytes, sent op %d %d '
                               'bytes, first difference at %d'
                               % (what, i, g[0], len(g[1]), e[0], len(e[1]),
                                  first_diff(g[1], e[1])))
                return False
        if len(got) > len(exp):
            self.echo_fail('%s: %d more than sent' % (what,
                                                      len(got) - len(exp)))
            return False
        return True

    def echo_fail(self, why):
        if self.echo_check and self.echo_result is None:
            self.echo_result = 'fail: ' + why

    async def interrupted(self, e, exp_msgs, exp_pongs):
        """A close frame arrived before the echoes were complete."""
        code = e.frame.code()
        ok = (self.compare(e.msgs, exp_msgs, 'message')
              and self.compare([(0, p) for p in e.pongs],
                               [(0, p) for p in exp_pongs], 'pong'))
        await self.conn.send(cframe(OP_CLOSE, e.frame.payload))
        st = await self.conn.eof()
        if code == 1001 and e.frame.payload == b'\x03\xe9' and ok:
            if self.echo_check and self.echo_result is None:
                self.echo_result = 'interrupted'
                self.run.interrupted_at.append(time.time())
        else:
            self.echo_fail('close %d %r after %d of %d messages, then %s'
                           % (code, e.frame.payload[:40], len(e.msgs),
                              len(exp_msgs), st))
        return 'close_%d_%s' % (code, st)

    async def finish_close(self, code=1000, reason=b'bye'):
        """The client's close handshake after an exchange."""
        c = self.conn
        pl = close_payload(code, reason)
        await c.send(cframe(OP_CLOSE, pl))
        while True:
            f = await c.frame()
            if f.op == OP_CLOSE:
                break
            if f.op not in (OP_PING, OP_PONG):
                self.echo_fail('data frame after the echoes')
        st = await c.eof()
        if f.payload == pl and st == 'eof':
            if self.echo_check and self.echo_result is None:
                self.echo_result = 'ok'
            return 'ok'
        if f.code() == 1001 and f.payload == b'\x03\xe9':
            if self.echo_check and self.echo_result is None:
                self.echo_result = 'interrupted'
                self.run.interrupted_at.append(time.time())
            return 'close_1001_%s' % st
        self.echo_fail('close reply %r, then %s' % (f.payload[:40], st))
        return 'close_%d_%s' % (f.code(), st)

    # -- kinds

    async def k_echo(self):
        status = await self.upgrade()
        if status != 101:
            self.echo_fail('status %d' % status)
            return await self.after_refusal(status)
        return await self.echo_body()

    async def k_slow_handshake(self):
        status = await self.upgrade(slow=True)
        if status != 101:
            self.echo_fail('status %d' % status)
            return await self.after_refusal(status)
        return await self.echo_body()

    async def k_ping_flood(self):
        status = await self.upgrade()
        if status != 101:
            self.echo_fail('status %d' % status)
            return await self.after_refusal(status)
        rng = self.rng
        pongs = [b'flood %d %s' % (i, rng.randbytes(rng.randint(0, 100)))
                 for i in range(rng.randint(50, 400))]
        await self.conn.send(b''.join(cframe(OP_PING, p) for p in pongs))
        try:
            got, gp = await self.collect(0, len(pongs))
        except PeerClose as e:
            return await self.interrupted(e, [], pongs)
        if not (self.compare(got, [], 'message')
                and self.compare([(0, x) for x in gp],
                                 [(0, x) for x in pongs], 'pong')):
            return 'mismatch'
        return await self.finish_close()

    async def k_close_abrupt(self):
        """A close frame, then at once a reset, an end of writing, more
        data, or nothing more read."""
        status = await self.upgrade()
        if status != 101:
            return await self.after_refusal(status)
        rng = self.rng
        c = self.conn
        v = rng.choice(['close_rst', 'close_fin', 'close_data', 'close_gone',
                        'fin_only'])
        if rng.random() < 0.5:
            op, _p, pieces = message(rng)
            c.write(message_frames(op, pieces, True))
        if v == 'fin_only':
            if c.w.can_write_eof():
                c.w.write_eof()
            return 'fin_only_' + await c.eof()
        c.write(cframe(OP_CLOSE, close_payload(rng.choice([1000, 1001, 3000,
                                                           4999]))))
        if v == 'close_data':
            c.write(cframe(OP_TEXT, b'after my close') + cframe(OP_PING))
        await asyncio.wait_for(c.w.drain(), READ_TIMEOUT)
        if v == 'close_rst':
            c.reset()
            return v
        if v == 'close_gone':
            await c.close()
            return v
        if v == 'close_fin' and c.w.can_write_eof():
            c.w.write_eof()
        return '%s_%s' % (v, await c.eof())

    async def echo_body(self):
        rng = self.rng
        sent, pongs = [], []
        got, gp = [], []
        together = rng.random() < 0.3
        for i in range(rng.randint(1, 6)):
            op, payload, pieces = message(rng)
            data = b''
            if rng.random() < 0.2:
                pp = b'lone ping %d' % i
                pongs.append(pp)
                data = cframe(OP_PING, pp)
            data += message_frames(op, pieces, True, rng, pongs)
            sent.append((op, payload))
            await self.conn.send(data)
            if together:
                continue
            try:
                g, p = await self.collect(1, 0)
            except PeerClose as e:
                return await self.interrupted(
                    PeerClose(e.frame, got + e.msgs, gp + e.pongs),
                    sent, pongs)
            got += g
            gp += p
            if not self.compare(got, sent, 'message'):
                return 'mismatch'
        try:
            g, p = await self.collect(len(sent) - len(got),
                                      len(pongs) - len(gp))
        except PeerClose as e:
            return await self.interrupted(
                PeerClose(e.frame, got + e.msgs, gp + e.pongs), sent, pongs)
        got += g
        gp += p
        if not (self.compare(got, sent, 'message')
                and self.compare([(0, x) for x in gp],
                                 [(0, x) for x in pongs], 'pong')):
            return 'mismatch'
        return await self.finish_close()

    async def k_pipelined(self):
        rng = self.rng
        sent, pongs = [], []
        data = b''
        for i in range(rng.randint(1, 5)):
            op, payload, pieces = message(rng, 20000)
            data += message_frames(op, pieces, True, rng, pongs)
            sent.append((op, payload))
        status = await self.upgrade(after=data)
        if status != 101:
            self.echo_fail('status %d' % status)
            return await self.after_refusal(status)
        try:
            got, gp = await self.collect(len(sent), len(pongs))
        except PeerClose as e:
            return await self.interrupted(e, sent, pongs)
        if not (self.compare(got, sent, 'message')
                and self.compare([(0, p) for p in gp],
                                 [(0, p) for p in pongs], 'pong')):
            return 'mismatch'
        return await self.finish_close()

    async def k_burst(self):
        status = await self.upgrade()
        if status != 101:
            self.echo_fail('status %d' % status)
            return await self.after_refusal(status)
        rng = self.rng
        sent, pongs = [], []
        chunks = []
        for i in range(rng.randint(10, 60)):
            op, payload, pieces = message(rng)
            chunks.append(message_frames(op, pieces, True, rng, pongs))
            sent.append((op, payload))
        c = self.conn

        async def writer():
            for ch in chunks:
                c.write(ch)
                await asyncio.wait_for(c.w.drain(), 15)

        wt = asyncio.get_running_loop().create_task(writer())
        try:
            got, gp = await self.collect(len(sent), len(pongs), 15)
        except PeerClose as e:
            return await self.interrupted(e, sent, pongs)
        finally:
            await cancel(wt)
        if not (self.compare(got, sent, 'message')
                and self.compare([(0, x) for x in gp],
                                 [(0, x) for x in pongs], 'pong')):
            return 'mismatch'
        return await self.finish_close()

    async def k_drop_handshake(self):
        rng = self.rng
        c = await self.connect()
        req = handshake_request(self.path, ws_key())
        v = rng.choice(['partial', 'full_at_once', 'full_then_wait'])
        if v == 'partial':
            await c.send(req[:rng.randint(1, len(req) - 3)])
            await asyncio.sleep(rng.uniform(0, 0.3))
        elif v == 'full_at_once':
            await c.send(req)
        else:
            await c.send(req)
            await asyncio.sleep(rng.uniform(0, 0.5))
        await c.drop(rng)
        return v

    async def k_drop_frame(self):
        status = await self.upgrade()
        if status != 101:
            return await self.after_refusal(status)
        rng = self.rng
        c = self.conn
        for _ in range(rng.randint(0, 2)):
            op, _p, pieces = message(rng)
            await c.send(message_frames(op, pieces, True))
        f = cframe(OP_BINARY, rng.randbytes(rng.randint(2, 70000)))
        f = f[:rng.randint(1, min(len(f) - 1, MAX_FRAME))]
        await c.send(f)
        await asyncio.sleep(rng.uniform(0, 0.3))
        await c.drop(rng)
        return 'dropped'

    async def k_invalid(self):
        status = await self.upgrade()
        if status != 101:
            return await self.after_refusal(status)
        rng = self.rng
        c = self.conn
        for _ in range(rng.randint(0, 2)):
            op, _p, pieces = message(rng)
            await c.send(message_frames(op, pieces, True))
        v, data, want = client_invalid_frame(rng)
        await c.send(data)
        while True:
            f = await c.frame()
            if f.op == OP_CLOSE:
                break
        code = f.code()
        reply = rng.random() < 0.8
        if reply:
            await c.send(cframe(OP_CLOSE, f.payload))
        st = await c.eof()
        return '%s_%s_%d_%s' % (v, 'ok' if code == want else 'other',
                                code, st)

    async def k_slow_reader(self):
        # a small stream limit: asyncio stops reading the socket when 32 KiB
        # wait in its buffer
        status = await self.upgrade(rcvbuf=8192, limit=16384)
        if status != 101:
            return await self.after_refusal(status)
        rng = self.rng
        c = self.conn
        if self.bkind != 'burst':
            for _ in range(rng.randint(1, 8)):
                c.write(cframe(OP_BINARY, rng.randbytes(rng.randint(
                    16384, MAX_FRAME))))
            try:
                await asyncio.wait_for(c.w.drain(), 5)
            except asyncio.TimeoutError:
                pass
        end = time.monotonic() + rng.uniform(3, 9)
        got = 0
        while time.monotonic() < end:
            n = rng.choice([512, 4096, 16384])
            try:
                d = await asyncio.wait_for(c.r.read(n), max(
                    0.05, end - time.monotonic()))
            except asyncio.TimeoutError:
                break
            if not d:
                return 'eof_after_%s' % ('data' if got else 'nothing')
            got += len(d)
            await asyncio.sleep(rng.uniform(0.005, 0.05))
        await c.drop(rng)
        return 'read_%s' % ('data' if got else 'nothing')

    async def k_no_read(self):
        status = await self.upgrade(rcvbuf=4096)
        if status != 101:
            return await self.after_refusal(status)
        rng = self.rng
        c = self.conn
        c.w.transport.pause_reading()
        if self.bkind != 'burst':
            for _ in range(rng.randint(5, 30)):
                c.write(cframe(OP_BINARY, rng.randbytes(rng.randint(
                    16384, MAX_FRAME))))
        await asyncio.sleep(rng.uniform(3, 7))
        await c.drop(rng)
        return 'held'

    async def k_plain_http(self):
        rng = self.rng
        c = await self.connect()
        v = rng.choice(['get', 'get_keepalive', 'version8', 'post'])
        if v == 'get':
            req = b'GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n' % \
                self.path.encode()
        elif v == 'get_keepalive':
            req = (b'GET %s HTTP/1.1\r\nHost: localhost\r\n'
                   b'Connection: keep-alive\r\n\r\n' % self.path.encode()) * 2
        elif v == 'version8':
            req = handshake_request(self.path, ws_key()).replace(
                b'Version: 13', b'Version: 8')
        else:
            req = handshake_request(self.path, ws_key()).replace(
                b'GET', b'POST', 1)
        await c.send(req)
        first, _h = await read_head(c.r)
        st = await c.eof()
        return '%s_%s_%s' % (v, first[1] if len(first) > 1 else '?', st)

    async def k_http10(self):
        c = await self.connect()
        await c.send(handshake_request(self.path, ws_key(), 'HTTP/1.0'))
        first, _h = await read_head(c.r)
        st = await c.eof()
        return '%s_%s' % (first[1] if len(first) > 1 else '?', st)


async def cancel(task):
    """Cancels a task and waits for it, whatever it raised."""
    if not task.done():
        task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        if asyncio.current_task().cancelling():
            raise
    except Exception:
        pass


def first_diff(a, b):
    n = min(len(a), len(b))
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


# ---------------------------------------------------------------------------
# the run

class Run:
    def __init__(self, args):
        self.args = args
        self.seed = args.seed
        self.port = args.port
        self.tls_port = args.tls_port
        self.has_tls_backends = bool(args.tls_backends)
        self.cctx = ssl.create_default_context()
        self.cctx.check_hostname = False
        self.cctx.verify_mode = ssl.CERT_NONE
        self.next_cid = 0
        self.started = 0
        self.finished = 0
        self.saw_101 = 0
        self.outcomes = collections.defaultdict(collections.Counter)
        self.echo = collections.Counter()
        self.echo_failures = []
        self.interrupted_at = []
        self.harness_errors = 0
        self.harness_samples = []
        self.loop_errors = collections.Counter()
        self.trace = open(args.trace, 'w', buffering=1) if args.trace else None

    def harness_error(self, what):
        self.harness_errors += 1
        if len(self.harness_samples) < 10:
            self.harness_samples.append(what + ': ' + traceback.format_exc())

    def loop_exception(self, loop, ctx):
        e = ctx.get('exception')
        if e is not None and isinstance(e, NET_ERRORS):
            self.loop_errors[type(e).__name__] += 1
            return
        if e is None:
            self.loop_errors[ctx.get('message', '?')[:60]] += 1
            return
        self.harness_errors += 1
        if len(self.harness_samples) < 10:
            self.harness_samples.append('event loop: %s: %r'
                                        % (ctx.get('message'), e))

    async def one_client(self):
        cid = self.next_cid
        self.next_cid += 1
        rng = random.Random('%s:client:%d' % (self.seed, cid))
        cl = Client(self, cid, rng)
        self.started += 1
        t_start = time.time()
        try:
            out = await asyncio.wait_for(getattr(cl, 'k_' + cl.kind)(),
                                         CLIENT_TIMEOUT)
        except PeerClose as e:
            out = 'close_%d' % e.frame.code()
            cl.echo_fail(out)
        except Odd as e:
            out = 'odd_' + str(e)
            cl.echo_fail(out)
        except NET_ERRORS as e:
            out = net_outcome(e)
            cl.echo_fail(out)
        except Exception:
            out = 'harness_error'
            self.harness_error(cl.describe())
        finally:
            if cl.conn:
                cl.conn.abort()
        self.finished += 1
        self.outcomes[cl.kind][out] += 1
        if self.trace:
            self.trace.write(json.dumps({
                'cid': cid, 'kind': cl.kind, 'path': cl.path,
                'tls': int(cl.tls), 'upgraded': int(cl.saw_101),
                'start': round(t_start, 3),
                'end': round(time.time(), 3), 'outcome': out,
                'echo': cl.echo_result if cl.echo_check else None}) + '\n')
        if cl.echo_check:
            res = cl.echo_result or 'fail: ended with ' + out
            if res.startswith('fail'):
                self.echo['fail'] += 1
                if len(self.echo_failures) < 30:
                    self.echo_failures.append(cl.describe() + ': ' + res)
            else:
                self.echo[res] += 1

    async def slot(self, end):
        while time.monotonic() < end:
            await self.one_client()

    async def wait_nginx(self):
        end = time.monotonic() + self.args.wait_nginx
        while time.monotonic() < end:
            try:
                r, w = await asyncio.wait_for(asyncio.open_connection(
                    '127.0.0.1', self.port), 2)
                w.close()
                return True
            except (OSError, asyncio.TimeoutError):
                await asyncio.sleep(0.1)
        return False

    async def main(self):
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self.loop_exception)
        backends = Backends(self)
        a = self.args
        try:
            await backends.start(a.backends, a.tls_backends, a.cert, a.key)
        except OSError as e:
            print('chaos: cannot listen: %s' % e, file=sys.stderr)
            return 1
        if not await self.wait_nginx():
            print('chaos: nginx does not accept on %d' % self.port,
                  file=sys.stderr)
            await backends.stop()
            return 1
        t0 = time.monotonic()
        end = t0 + a.duration
        slots = [loop.create_task(self.slot(end)) for _ in range(a.clients)]
        await asyncio.gather(*slots, return_exceptions=True)
        elapsed = time.monotonic() - t0
        await backends.stop()
        summary = {
            'seed': self.seed,
            'duration': a.duration,
            'clients': a.clients,
            'elapsed': round(elapsed, 2),
            'started': self.started,
            'finished': self.finished,
            'saw_101': self.saw_101,
            'backend_sent_101': backends.sent_101,
            'echo': dict(self.echo),
            'echo_failures': self.echo_failures,
            'interrupted_at': self.interrupted_at,
            'clients_by_kind': {k: dict(v) for k, v in
                                sorted(self.outcomes.items())},
            'backends_by_kind': {k: dict(v) for k, v in
                                 sorted(backends.outcomes.items())},
            'loop_errors': dict(self.loop_errors),
            'harness_errors': self.harness_errors,
            'harness_error_samples': self.harness_samples,
        }
        text = json.dumps(summary, indent=1, sort_keys=True)
        print(text)
        if a.summary:
            with open(a.summary + '.tmp', 'w') as f:
                f.write(text + '\n')
            os.rename(a.summary + '.tmp', a.summary)
        return 1 if self.harness_errors else 0


def ports(s):
    return [int(p) for p in s.split(',') if p] if s else []


def main():
    ap = argparse.ArgumentParser(description='chaos clients and backends '
                                 'for nginx with ngx_http_ws_module')
    ap.add_argument('--port', type=int, required=True,
                    help="nginx's plain port")
    ap.add_argument('--tls-port', type=int, default=0,
                    help="nginx's TLS port (listen ... ssl)")
    ap.add_argument('--backends', type=ports, default=[],
                    help='plain backend ports, comma-separated')
    ap.add_argument('--tls-backends', type=ports, default=[],
                    help='TLS backend ports, comma-separated')
    ap.add_argument('--cert')
    ap.add_argument('--key')
    ap.add_argument('--clients', type=int, default=40)
    ap.add_argument('--duration', type=float, default=25)
    ap.add_argument('--seed', type=int, default=None)
    ap.add_argument('--summary', help='also write the JSON summary here')
    ap.add_argument('--wait-nginx', type=float, default=20)
    ap.add_argument('--trace', help='one JSON line per client: cid, kind, '
                    'path, tls, upgraded, start, end, outcome, echo result')
    args = ap.parse_args()
    if args.seed is None:
        args.seed = int.from_bytes(os.urandom(4), 'big')
    if args.tls_backends and not (args.cert and args.key):
        ap.error('--tls-backends needs --cert and --key')
    print('chaos: seed %d, %d clients, %g s' % (args.seed, args.clients,
                                               args.duration), flush=True)
    try:
        rc = asyncio.run(Run(args).main())
    except Exception:
        traceback.print_exc()
        rc = 1
    sys.exit(rc)


if __name__ == '__main__':
    main()
