// A WebSocket relay on Node.js and "ws": for every client it opens a
// WebSocket to the backend and relays messages both ways.
//
//   node node-proxy.js LISTEN_PORT BACKEND_PORT

'use strict';

const { WebSocketServer, WebSocket } = require('ws');

const listenPort = Number(process.argv[2]);
const backendPort = Number(process.argv[3]);

const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: listenPort,
    backlog: 4096,
    perMessageDeflate: false,
    maxPayload: 64 * 1024 * 1024,
});

// a code that may be sent in a close frame, or undefined
function sendable(code) {
    if ((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014)
        || (code >= 3000 && code <= 4999)) {
        return code;
    }
    return undefined;
}

wss.on('connection', (client, req) => {
    const upstream = new WebSocket(
        `ws://127.0.0.1:${backendPort}${req.url}`,
        { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    const queued = [];

    client.on('message', (data, isBinary) => {
        if (upstream.readyState === WebSocket.OPEN) {
            upstream.send(data, { binary: isBinary });
        } else {
            queued.push([data, isBinary]);
        }
    });

    upstream.on('open', () => {
        for (const [data, isBinary] of queued) {
            upstream.send(data, { binary: isBinary });
        }
        queued.length = 0;
    });

    upstream.on('message', (data, isBinary) => {
        client.send(data, { binary: isBinary });
    });

    client.on('close', (code) => {
        if (upstream.readyState === WebSocket.CONNECTING) {
            upstream.terminate();
        } else {
            upstream.close(sendable(code));
        }
    });

    upstream.on('close', (code) => {
        client.close(sendable(code));
    });

    client.on('error', () => upstream.terminate());
    upstream.on('error', () => client.terminate());
});

wss.on('listening', () => {
    console.log('ready');
});
