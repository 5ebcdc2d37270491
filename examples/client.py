#!/usr/bin/python3
"""Send one message to a WebSocket URL and print the reply.

    /usr/bin/python3 examples/client.py ws://127.0.0.1:8080/echo [MESSAGE]

Exits non-zero when the connection or the exchange fails.
"""

import asyncio
import sys

import websockets


async def main(url, message):
    async with websockets.connect(
        url, compression=None, open_timeout=5, close_timeout=5, max_size=None
    ) as websocket:
        await websocket.send(message)
        reply = await asyncio.wait_for(websocket.recv(), timeout=5)
        print(reply if isinstance(reply, str) else reply.hex())


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: client.py URL [MESSAGE]")
    text = sys.argv[2] if len(sys.argv) == 3 else "hello from ngx_ws"
    try:
        asyncio.run(main(sys.argv[1], text))
    except Exception as e:  # report any failure in one line
        sys.exit(f"client: {sys.argv[1]}: {type(e).__name__}: {e}")
