// WebSocket echo server (node ws) for the integration tests.
//
//   node node_echo_server.js PORT
//
// Echoes every message with its type; pings and closes are answered by
// the library.
'use strict';

const WebSocket = require('ws');

const port = Number(process.argv[2]);
const wss = new WebSocket.Server({
    host: '127.0.0.1',
    port: port,
    perMessageDeflate: false,
    maxPayload: 256 * 1024 * 1024,
});

wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => {
        ws.send(data, { binary: isBinary });
    });
    ws.on('error', () => {});
});
