#!/usr/bin/python3
"""WebSocket backend for the ngx_ws example.

    /usr/bin/python3 examples/echo_server.py PORT

Listens on 127.0.0.1:PORT. Every path echoes each message back to its sender
(text as text, binary as binary), except /chat, where each message is sent
to every client connected to /chat, the sender included.

Uses Debian's python3-websockets (10.x API: websockets.serve, a handler
that takes the connection and the request path).
"""

import asyncio
import signal
import sys

import websockets

chat_clients = set()


async def handler(websocket, path=None):
    if path is None:
        path = websocket.path
    if path.split("?", 1)[0] == "/chat":
        chat_clients.add(websocket)
        try:
            async for message in websocket:
                websockets.broadcast(chat_clients, message)
        finally:
            chat_clients.discard(websocket)
    else:
        async for message in websocket:
            await websocket.send(message)


async def main(port):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))

    async with websockets.serve(
        handler,
        "127.0.0.1",
        port,
        max_size=None,        # the gateway enforces message size limits
        compression=None,     # frames stay inspectable: no permessage-deflate
        ping_interval=None,
    ):
        print(f"echo backend listening on ws://127.0.0.1:{port}", flush=True)
        await stop


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: echo_server.py PORT")
    asyncio.run(main(int(sys.argv[1])))
