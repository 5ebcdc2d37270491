#!/usr/bin/python3
"""WebSocket backend for the ngx_ws JWT example (examples/jwt-chat.conf).

    /usr/bin/python3 examples/jwt_chat_server.py PORT

Listens on 127.0.0.1:PORT, behind nginx only: it trusts the X-User header,
which nginx sets from the verified token (ws_set_header X-User
$ws_jwt_claim_sub) and which no client can forge through the gateway
(ws_set_header replaces what the client sent). Without it the user is "-".

Every message is sent to every client connected to the same path, the
sender included, as "USER: MESSAGE". The subprotocol "chat" is chosen when
the client offers it (the gateway has removed any "bearer." entry by then).

Each connection, message and close is printed to stdout as one JSON line
(t/browser.t reads them):

    {"event": "open", "path": "/chat", "user": "alice",
     "offered": "chat", "subprotocol": "chat"}
    {"event": "message", "path": "/chat", "user": "alice", "text": "hi"}
    {"event": "close", "path": "/chat", "user": "alice", "code": 1000}

Uses Debian's python3-websockets (10.x API).
"""

import asyncio
import json
import signal
import sys

import websockets

rooms = {}


def log(**event):
    print(json.dumps(event, sort_keys=True), flush=True)


async def handler(websocket, path=None):
    if path is None:
        path = websocket.path
    room = path.split("?", 1)[0]
    headers = websocket.request_headers
    user = headers.get("X-User") or "-"
    log(event="open", path=room, user=user,
        offered=", ".join(headers.get_all("Sec-WebSocket-Protocol")),
        subprotocol=websocket.subprotocol,
        authorization="Authorization" in headers)
    members = rooms.setdefault(room, set())
    members.add(websocket)
    try:
        async for message in websocket:
            if isinstance(message, bytes):
                message = message.decode("utf-8", "replace")
            log(event="message", path=room, user=user, text=message)
            websockets.broadcast(members, f"{user}: {message}")
    except websockets.ConnectionClosed:
        pass
    finally:
        members.discard(websocket)
        if not members:
            rooms.pop(room, None)
        log(event="close", path=room, user=user, code=websocket.close_code)


async def main(port):
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: stop.done() or stop.set_result(None))

    async with websockets.serve(
        handler,
        "127.0.0.1",
        port,
        subprotocols=["chat"],
        max_size=None,        # the gateway enforces message size limits
        compression=None,
        ping_interval=None,
    ):
        print(f"jwt chat backend listening on ws://127.0.0.1:{port}",
              file=sys.stderr, flush=True)
        await stop


if __name__ == "__main__":
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        sys.exit("usage: jwt_chat_server.py PORT")
    asyncio.run(main(int(sys.argv[1])))
