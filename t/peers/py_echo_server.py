#!/usr/bin/python3
# WebSocket echo server (python3-websockets) for the integration tests.
#
#   py_echo_server.py PORT [--cert FILE --key FILE] [--sni-file FILE]
#                          [--min-tls 1.3]
#
# Echoes every message with its type; answers pings and closes as the
# library does.  With --cert it serves TLS; --sni-file records the server
# name each TLS client asked for.

import argparse
import asyncio
import ssl

import websockets


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('port', type=int)
    ap.add_argument('--cert')
    ap.add_argument('--key')
    ap.add_argument('--sni-file')
    ap.add_argument('--min-tls')
    args = ap.parse_args()

    ctx = None
    if args.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        if args.min_tls == '1.3':
            ctx.minimum_version = ssl.TLSVersion.TLSv1_3
        if args.sni_file:
            def sni(sslobj, name, context):
                with open(args.sni_file, 'a') as f:
                    f.write('%s\n' % (name if name is not None else '-'))
            ctx.sni_callback = sni

    async def echo(ws, path=None):
        try:
            async for msg in ws:
                await ws.send(msg)
        except websockets.ConnectionClosed:
            pass

    async def run():
        async with websockets.serve(echo, '127.0.0.1', args.port, ssl=ctx,
                                    max_size=None, compression=None,
                                    ping_interval=None, max_queue=None):
            await asyncio.Future()

    asyncio.run(run())


if __name__ == '__main__':
    main()
