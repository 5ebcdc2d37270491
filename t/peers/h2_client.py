#!/usr/bin/python3
# Raw HTTP/2 client (python3-h2) for t/http2.t: sends a WebSocket handshake
# in an HTTP/2 HEADERS frame, with the connection-specific headers HTTP/2
# forbids, and reports what the server answered.
#
#   h2_client.py [--tls --cafile FILE] [--then PATH]... PORT VARIANT PATH
#
# Connects to 127.0.0.1:PORT with prior knowledge (h2c), or over TLS with
# ALPN h2.  VARIANT:
#   get       GET with upgrade, connection and sec-websocket-* headers,
#             one HEADERS frame with END_STREAM
#   get-open  the same headers without END_STREAM, then a DATA frame
#             holding a masked WebSocket text frame, the stream left open
#   connect   extended CONNECT (RFC 8441): :method CONNECT,
#             :protocol websocket, sec-websocket-version and -key
# Then sends a plain GET for every --then PATH on the same connection.
# Prints one JSON object: alpn, the server's SETTINGS, and for each stream
# its :status, response headers (taken as they come, connection-specific
# ones too), 1xx responses (informational), body, RST_STREAM code and
# whether it ended; GOAWAY, whether the connection was closed (or broken
# by a protocol error), and the h2 events seen.

import argparse
import json
import socket
import ssl
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings

KEY = b'dGhlIHNhbXBsZSBub25jZQ=='
# "hello" in a masked text frame (key 37 fa 21 3d), as in RFC 6455 5.7
WS_FRAME = b'\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--tls', action='store_true')
    ap.add_argument('--cafile')
    ap.add_argument('--then', action='append', default=[])
    ap.add_argument('--timeout', type=float, default=10)
    ap.add_argument('port', type=int)
    ap.add_argument('variant', choices=['get', 'get-open', 'connect'])
    ap.add_argument('path')
    a = ap.parse_args()

    sock = socket.create_connection(('127.0.0.1', a.port), timeout=5)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    alpn = None
    if a.tls:
        ctx = ssl.create_default_context(cafile=a.cafile)
        ctx.set_alpn_protocols(['h2'])
        sock = ctx.wrap_socket(sock, server_hostname='localhost')
        alpn = sock.selected_alpn_protocol()

    cfg = h2.config.H2Configuration(client_side=True,
                                    validate_outbound_headers=False,
                                    normalize_outbound_headers=False,
                                    validate_inbound_headers=False,
                                    header_encoding='utf-8')
    conn = h2.connection.H2Connection(config=cfg)
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())

    scheme = b'https' if a.tls else b'http'
    authority = ('localhost:%d' % a.port).encode()
    path = a.path.encode()

    if a.variant == 'connect':
        headers = [
            (b':method', b'CONNECT'),
            (b':protocol', b'websocket'),
            (b':scheme', scheme),
            (b':path', path),
            (b':authority', authority),
            (b'sec-websocket-version', b'13'),
            (b'sec-websocket-key', KEY),
        ]
    else:
        headers = [
            (b':method', b'GET'),
            (b':scheme', scheme),
            (b':path', path),
            (b':authority', authority),
            (b'upgrade', b'websocket'),
            (b'connection', b'upgrade'),
            (b'sec-websocket-key', KEY),
            (b'sec-websocket-version', b'13'),
        ]

    streams = {}
    order = []

    def new_stream(hdrs, end):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, hdrs, end_stream=end)
        streams[sid] = {'stream_id': sid, 'status': None, 'headers': [],
                        'body': '', 'reset': None, 'ended': False,
                        'informational': []}
        order.append(sid)
        return sid

    first = new_stream(headers, a.variant == 'get')
    if a.variant == 'get-open':
        conn.send_data(first, WS_FRAME, end_stream=False)
    sock.sendall(conn.data_to_send())

    result = {'alpn': alpn, 'settings': {}, 'goaway': None, 'eof': False,
              'events': []}

    def done(sid):
        s = streams[sid]
        return s['ended'] or s['reset'] is not None

    def pump(sid):
        deadline = time.time() + a.timeout
        while not done(sid) and result['goaway'] is None \
                and not result['eof']:
            left = deadline - time.time()
            if left <= 0:
                result['events'].append('timeout')
                return
            sock.settimeout(left)
            try:
                data = sock.recv(65536)
            except socket.timeout:
                result['events'].append('timeout')
                return
            except (ConnectionResetError, ssl.SSLError) as e:
                result['events'].append('error: %s' % e)
                result['eof'] = True
                return
            if not data:
                result['eof'] = True
                return
            try:
                evs = conn.receive_data(data)
            except h2.exceptions.ProtocolError as e:
                result['events'].append('protocol error: %s' % e)
                result['eof'] = True
                return
            for ev in evs:
                handle(ev)
            out = conn.data_to_send()
            if out:
                sock.sendall(out)

    def handle(ev):
        result['events'].append(type(ev).__name__)
        if isinstance(ev, h2.events.RemoteSettingsChanged):
            for k, v in ev.changed_settings.items():
                result['settings'][str(int(k))] = v.new_value
        elif isinstance(ev, h2.events.ResponseReceived):
            s = streams[ev.stream_id]
            for n, v in ev.headers:
                if n == ':status':
                    s['status'] = v
                else:
                    s['headers'].append([n, v])
        elif isinstance(ev, h2.events.InformationalResponseReceived):
            info = {'status': None, 'headers': []}
            for n, v in ev.headers:
                if n == ':status':
                    info['status'] = v
                else:
                    info['headers'].append([n, v])
            streams[ev.stream_id]['informational'].append(info)
        elif isinstance(ev, h2.events.DataReceived):
            s = streams[ev.stream_id]
            s['body'] += ev.data.decode('latin-1')
            conn.acknowledge_received_data(ev.flow_controlled_length,
                                           ev.stream_id)
        elif isinstance(ev, h2.events.StreamEnded):
            streams[ev.stream_id]['ended'] = True
        elif isinstance(ev, h2.events.StreamReset):
            streams[ev.stream_id]['reset'] = int(ev.error_code)
        elif isinstance(ev, h2.events.ConnectionTerminated):
            result['goaway'] = {'error_code': int(ev.error_code),
                                'last_stream_id': ev.last_stream_id}

    pump(first)

    for p in a.then:
        if result['goaway'] is not None or result['eof']:
            break
        sid = new_stream([
            (b':method', b'GET'),
            (b':scheme', scheme),
            (b':path', p.encode()),
            (b':authority', authority),
        ], True)
        sock.sendall(conn.data_to_send())
        pump(sid)

    result['streams'] = [streams[sid] for sid in order]

    try:
        conn.close_connection()
        sock.sendall(conn.data_to_send())
        sock.close()
    except (OSError, h2.exceptions.ProtocolError):
        pass

    print(json.dumps(result, sort_keys=True), flush=True)
    return 0


if __name__ == '__main__':
    sys.exit(main())
