// WebSocket client (node ws) for the integration tests.
//
//   node node_client.js URL SIZE...
//
// For every size sends a text and a binary message of that many bytes,
// expects the same message back, then a fragmented text message, a ping,
// and closes with 1000 "bye".  Prints "ok - ..." or "not ok - ..." per
// check and "done" at the end.
'use strict';

const WebSocket = require('ws');

const CHARS = ['a', '\u00e9', '\u20ac', '\u{1f600}', 'Z', '\u0416', ' ',
    '\u65e5', '\u{10ffff}', '0'];

function textOf(n, seed) {
    const seq = [];
    for (let i = 0; i < 64; i++) {
        seq.push(CHARS[(seed + i * 7) % CHARS.length]);
    }
    const block = seq.join('');
    const blen = Buffer.byteLength(block);
    let s = block.repeat(Math.floor(n / blen));
    let rest = n - Math.floor(n / blen) * blen;
    for (const c of seq) {
        const cl = Buffer.byteLength(c);
        if (cl > rest) {
            break;
        }
        s += c;
        rest -= cl;
    }
    return s + 'x'.repeat(rest);
}

function binaryOf(n, seed) {
    const block = Buffer.alloc(4094);
    for (let i = 0; i < 4094; i++) {
        block[i] = (i * 131 + seed * 17 + (i >> 8)) & 255;
    }
    const b = Buffer.alloc(n);
    for (let off = 0; off < n; off += block.length) {
        block.copy(b, off, 0, Math.min(block.length, n - off));
    }
    return b;
}

function report(ok, what) {
    console.log((ok ? 'ok' : 'not ok') + ' - ' + what);
}

const url = process.argv[2];
const sizes = process.argv.slice(3).map(Number);
const ws = new WebSocket(url, { maxPayload: 256 * 1024 * 1024 });
const queue = [];
let waiting = null;

ws.on('message', (data, isBinary) => {
    const m = { data: data, isBinary: isBinary };
    if (waiting) {
        const w = waiting;
        waiting = null;
        w(m);
    } else {
        queue.push(m);
    }
});

function recv() {
    if (queue.length) {
        return Promise.resolve(queue.shift());
    }
    return new Promise((resolve) => { waiting = resolve; });
}

ws.on('error', (e) => {
    report(false, 'error: ' + e.message);
    process.exit(1);
});

ws.on('open', async () => {
    report(ws.extensions === '', 'no extension negotiated');
    for (let i = 0; i < sizes.length; i++) {
        const n = sizes[i];
        const t = textOf(n, i);
        ws.send(t);
        let m = await recv();
        report(!m.isBinary && m.data.toString('utf8') === t, 'text ' + n);
        const b = binaryOf(n, i);
        ws.send(b);
        m = await recv();
        report(m.isBinary && Buffer.compare(m.data, b) === 0, 'binary ' + n);
    }

    const parts = [textOf(1000, 1), textOf(1, 2), textOf(70000, 3), ''];
    for (let i = 0; i < parts.length; i++) {
        ws.send(parts[i], { binary: false, fin: i === parts.length - 1 });
    }
    let m = await recv();
    report(!m.isBinary && m.data.toString('utf8') === parts.join(''),
        'fragmented text');

    const bparts = [binaryOf(10, 1), binaryOf(100000, 2)];
    ws.send(bparts[0], { binary: true, fin: false });
    ws.send(bparts[1], { binary: true, fin: true });
    m = await recv();
    report(m.isBinary && Buffer.compare(m.data, Buffer.concat(bparts)) === 0,
        'fragmented binary');

    const pong = new Promise((resolve) => {
        ws.once('pong', (data) => resolve(data));
    });
    ws.ping(Buffer.from('ping-data'));
    const timer = new Promise((resolve) => setTimeout(() => resolve(null),
        10000));
    const p = await Promise.race([pong, timer]);
    report(p !== null && p.toString() === 'ping-data', 'pong');

    ws.on('close', (code, reason) => {
        report(code === 1000 && reason.toString() === 'bye',
            'close 1000 bye (got ' + code + ' ' + reason.toString() + ')');
        console.log('done');
        process.exit(0);
    });
    ws.close(1000, 'bye');
});
