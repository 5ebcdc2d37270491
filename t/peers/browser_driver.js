// Headless Chromium driven over the DevTools protocol (node ws), for
// t/browser.t.
//
//   node browser_driver.js CHROMIUM PROFILE_DIR URL TIMEOUT_MS [UNTIL [RUN]]
//
// Starts CHROMIUM --headless with a fresh profile in PROFILE_DIR and a
// DevTools port chosen by the browser (127.0.0.1 only), opens URL, runs the
// JavaScript RUN in the page once it has loaded (if given), waits in real
// time until the JavaScript expression UNTIL is true (default: the page's
// #state reads "done") or TIMEOUT_MS passed,
// prints the page's DOM (document.documentElement.outerHTML) to stdout and
// closes the browser; what the browser logs for the page (console messages,
// exceptions, failed WebSocket handshakes with their reason) goes to stderr
// as lines "browser: LEVEL TEXT"; its whole process group is killed at the end.
// --dump-dom alone cannot wait for a WebSocket: virtual time does not stop
// for one, so the DOM would be dumped before the exchange.
//
// Exit status: 0 when the page was done, 2 on timeout (the DOM is printed
// anyway), 1 when the browser or the protocol failed.
'use strict';

const { spawn } = require('child_process');
const fs = require('fs');
const path = require('path');
const WebSocket = require('ws');

const [chromium, profile, url, timeoutArg, untilArg, runArg] = process.argv.slice(2);
const until = untilArg || 'document.getElementById("state") !== null'
    + ' && document.getElementById("state").textContent === "done"';
if (!chromium || !profile || !url) {
    process.stderr.write('usage: browser_driver.js CHROMIUM PROFILE_DIR URL TIMEOUT_MS\n');
    process.exit(1);
}
const timeout = Number(timeoutArg || 20000);
const deadline = Date.now() + timeout;

fs.mkdirSync(profile, { recursive: true });
const portFile = path.join(profile, 'DevToolsActivePort');
try { fs.unlinkSync(portFile); } catch (e) { /* none yet */ }

const browser = spawn(chromium, [
    '--headless', '--no-sandbox', '--disable-gpu',
    '--user-data-dir=' + profile,
    '--remote-debugging-address=127.0.0.1', '--remote-debugging-port=0',
    '--no-first-run', '--no-default-browser-check', '--disable-extensions',
    '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-proxy-server', '--password-store=basic',
    '--disable-dev-shm-usage',
    'about:blank',
], { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });

let browserLog = '';
browser.stderr.on('data', (d) => { browserLog += d; });
let exited = false;
browser.on('exit', () => { exited = true; });

function killBrowser() {
    try { process.kill(-browser.pid, 'SIGKILL'); } catch (e) { /* gone */ }
}

async function finish(code, msg) {
    if (msg) {
        process.stderr.write('driver: ' + msg + '\n');
        if (code === 1) {
            process.stderr.write(browserLog.split('\n').slice(-20).join('\n') + '\n');
        }
    }
    killBrowser();
    process.exit(code);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function devtoolsPort() {
    while (Date.now() < deadline) {
        if (exited) {
            throw new Error('chromium exited before it listened');
        }
        try {
            const lines = fs.readFileSync(portFile, 'utf8').split('\n');
            if (lines.length >= 2 && /^\d+$/.test(lines[0])) {
                return Number(lines[0]);
            }
        } catch (e) { /* not yet */ }
        await sleep(50);
    }
    throw new Error('no DevToolsActivePort');
}

async function pageTarget(port) {
    while (Date.now() < deadline) {
        const list = await new Promise((resolve) => {
            require('http').get({ host: '127.0.0.1', port, path: '/json/list' }, (res) => {
                let body = '';
                res.on('data', (d) => { body += d; });
                res.on('end', () => {
                    try { resolve(JSON.parse(body)); } catch (e) { resolve([]); }
                });
            }).on('error', () => resolve([]));
        });
        const page = list.find((x) => x.type === 'page' && x.webSocketDebuggerUrl);
        if (page) {
            return page.webSocketDebuggerUrl;
        }
        await sleep(50);
    }
    throw new Error('no page target');
}

function session(wsUrl) {
    return new Promise((resolve, reject) => {
        const ws = new WebSocket(wsUrl, { perMessageDeflate: false });
        let id = 0;
        const pending = new Map();
        ws.on('message', (data) => {
            const m = JSON.parse(data);
            if (m.method === 'Log.entryAdded') {
                const e = m.params.entry;
                process.stderr.write('browser: ' + e.level + ' ' + e.text + '\n');
            } else if (m.method === 'Runtime.consoleAPICalled') {
                const text = m.params.args.map((a) => (a.value !== undefined
                    ? String(a.value) : a.description || a.type)).join(' ');
                process.stderr.write('browser: console.' + m.params.type + ' ' + text + '\n');
            } else if (m.method === 'Runtime.exceptionThrown') {
                const d = m.params.exceptionDetails;
                process.stderr.write('browser: exception '
                    + (d.exception && d.exception.description || d.text) + '\n');
            }
            if (m.id && pending.has(m.id)) {
                const p = pending.get(m.id);
                pending.delete(m.id);
                if (m.error) {
                    p.reject(new Error(m.error.message));
                } else {
                    p.resolve(m.result);
                }
            }
        });
        ws.on('error', reject);
        ws.on('open', () => resolve({
            send(method, params) {
                return new Promise((res, rej) => {
                    id++;
                    pending.set(id, { resolve: res, reject: rej });
                    ws.send(JSON.stringify({ id, method, params: params || {} }));
                });
            },
            close() { ws.close(); },
        }));
    });
}

async function evaluate(s, expression) {
    const r = await s.send('Runtime.evaluate', { expression, returnByValue: true });
    return r && r.result ? r.result.value : undefined;
}

(async () => {
    const port = await devtoolsPort();
    const s = await session(await pageTarget(port));
    await s.send('Page.enable');
    await s.send('Log.enable');
    await s.send('Runtime.enable');
    await s.send('Page.navigate', { url });
    if (runArg) {
        while (Date.now() < deadline
               && await evaluate(s, 'document.readyState') !== 'complete') {
            await sleep(50);
        }
        await evaluate(s, runArg);
    }
    let done = false;
    while (Date.now() < deadline) {
        if (await evaluate(s, '!!(' + until + ')') === true) {
            done = true;
            break;
        }
        await sleep(50);
    }
    const dom = await evaluate(s, 'document.documentElement.outerHTML');
    process.stdout.write((dom || '') + '\n');
    try {
        await Promise.race([s.send('Browser.close'), sleep(2000)]);
    } catch (e) { /* closing */ }
    s.close();
    for (let i = 0; i < 40 && !exited; i++) {
        await sleep(50);
    }
    await finish(done ? 0 : 2, done ? '' : 'timeout: the page is not done');
})().catch((e) => finish(1, e.message));
