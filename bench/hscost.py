#!/usr/bin/python3
"""The cost of one handshake in the proxy's worker, independent of the
CPU's load: user-space instructions (callgrind) split by step, and system
calls (strace -c), for stock nginx and ngx_ws, with the configurations of
bench.py (`access_log off`, one worker).

Each handshake is one cycle of `wsbench -m handshake`: connect, upgrade,
one 64 B message, close handshake, wait for the server's FIN.

Instructions: nginx runs under `valgrind --tool=callgrind` (`daemon off;
master_process off;`, collection inside ngx_process_events_and_timers)
twice, with N and 3N cycles; the difference divided by 2N is what one
handshake costs, start-up and exit cancelled out.  The same difference per
function (inclusive) gives the steps.

System calls: `strace -c -f -p WORKER` while N cycles run; the counts
divided by N.

    make -C bench hscost        (BENCH_HS_N cycles, default 1000;
                                 BENCH_HS_CPU: the proxy's CPU, 0;
                                 BENCH_HS_SO: another build of the module)
    BENCH_TARGETS=ngx_ws make -C bench hscost
    BENCH_HS_CHECKS=all BENCH_TARGETS=ngx_ws make -C bench hscost

BENCH_HS_CHECKS (a subset of origin,hs256,rs256,es256, or all) also runs
ngx_ws with the handshake checks of bench.py's checks cell (same
directives, keys, tokens and request headers) and with its "no checks"
(ws_origin any): instructions only, the difference to no checks per
variant and the checks' own steps.

Writes results/raw/hscost.{json,md} and prints the tables.
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench                                              # noqa: E402
from bench import (CFG, RAW, BACKEND_PORT,
                   STOCK_NGINX, NGX_WS_NGINX, Nginx, log, spawn, stop,
                   wait_port, raw_path)                   # noqa: E402

N = bench.env_num('BENCH_HS_N', 1000, int)
# the proxy's CPU (bench.py's CPU 0 unless BENCH_HS_CPU is set): counts do
# not depend on it
bench.PROXY_CPU = os.environ.get('BENCH_HS_CPU', bench.PROXY_CPU)
# another build of the module (to compare revisions), else build/'s
bench.NGX_WS_SO = os.environ.get('BENCH_HS_SO', bench.NGX_WS_SO)
CONNS = 10
HS_CHECKS_PORT = 19452
_sel = os.environ.get('BENCH_HS_CHECKS', '').strip()
if _sel == 'all':
    _sel = ','.join(c[0] for c in bench.CHECKS)
CHECK_NAMES = [c[0] for c in bench.CHECKS
               if c[0] in _sel.split(',') or (_sel and c[0] == 'none')]

# The steps of one handshake: the inclusive instructions of the functions
# listed, less those of the functions in the second list (called from the
# first).  Functions were chosen that do not nest otherwise; Debian's nginx
# has no symbols for its static functions (the event loop, the reading of
# the request line and headers, the upstream's send and receive handlers,
# stock nginx's upgraded relay): they make the row "the rest".
STEPS = {
    'nginx': [
        ('accept', ['ngx_event_accept'], []),
        ('request phases, proxy handler', ['ngx_http_process_request'],
         ['ngx_http_upstream_init']),
        ('upstream init: connect, create_request',
         ['ngx_http_upstream_init'], []),
        ('101 status line', ['ngx_http_parse_status_line'], []),
        ('header lines (request and 101)', ['ngx_http_parse_header_line'],
         []),
        ('finalize: log phase, free, close', ['ngx_http_finalize_request'],
         []),
    ],
    'ngx_ws': [
        ('accept', ['ngx_event_accept'], []),
        ('request phases, ws_pass handler', ['ngx_http_process_request'],
         ['ngx_http_upstream_init', 'ngx_http_ws_check_handshake',
          'ws_accept_key']),
        ('handshake check (headers, key)', ['ngx_http_ws_check_handshake'],
         []),
        ('Sec-WebSocket-Accept (SHA-1, base64)', ['ws_accept_key'], []),
        ('upstream init: connect, create_request',
         ['ngx_http_upstream_init'], []),
        ('101 status line and headers, upgrade check',
         ['ngx_http_ws_process_status_line'],
         ['ngx_http_parse_header_line@ngx_http_ws_process_header']),
        ('header lines (request and 101)', ['ngx_http_parse_header_line'],
         []),
        ('tunnel init (takeover)', ['ngx_http_ws_tunnel_init'], []),
        ('detach: snapshot, free the request', ['ngx_http_ws_detach'], []),
        ('relay: message and close frames', ['ngx_http_ws_relay_run'], []),
        ('log phase (request rebuilt)', ['ngx_http_ws_log_request'], []),
        ('finalize: backend close, tunnel free, client close',
         ['ngx_http_ws_finalize'], ['ngx_http_ws_log_request']),
        ('lingering close', ['ngx_http_ws_lingering_handler'], []),
    ],
}

# ngx_ws with a check: its steps and the check's (phase handlers, called
# from ngx_http_process_request)
JWT_SIG = ['EVP_PKEY_verify', 'EVP_Digest', 'EVP_DigestVerify',
           'EVP_MAC_init', 'EVP_MAC_update', 'EVP_MAC_final']
# i2d_ECDSA_SIG: the calls of ngx_ws only (ECDSA_verify makes one too)
JWT_DER = ['i2d_ECDSA_SIG@ws_jwt_verify', 'i2d_ECDSA_SIG@ws_jwt_check_sig']
JWT_PARTS = JWT_SIG + ['EVP_DigestVerifyInit', 'ws_jwt_json'] + JWT_DER
CHECK_STEPS = [
    ('Origin check (preaccess)', ['ngx_http_ws_origin_handler'], []),
    ('JWT: signature (RS, PS, ES: EVP_Digest, EVP_PKEY_verify; HS: '
     'EVP_MAC_init, _update, _final; EdDSA: EVP_DigestVerify)', JWT_SIG,
     []),
    ('JWT: EVP_DigestVerifyInit (EdDSA: a context per token)',
     ['EVP_DigestVerifyInit'], []),
    ('JWT: ES256 signature to DER (i2d_ECDSA_SIG)', JWT_DER, []),
    ('JWT: header and claims JSON (ws_jwt_json: base64url, json_loadb)',
     ['ws_jwt_json'], []),
    ('JWT: the rest of the access handler', ['ngx_http_ws_jwt_handler'],
     JWT_PARTS),
    ('JWT: the JSON freed (pool cleanup)', ['ngx_http_ws_jwt_cleanup'], []),
]
CHECK_PHASES = ['ngx_http_ws_origin_handler', 'ngx_http_ws_jwt_handler']


def check_steps():
    rows = []
    for label, plus, minus in STEPS['ngx_ws']:
        if plus == ['ngx_http_process_request']:
            minus = minus + CHECK_PHASES
        if plus == ['ngx_http_ws_finalize']:
            minus = minus + ['ngx_http_ws_jwt_cleanup']
        rows.append((label, plus, minus))
    return rows[:2] + CHECK_STEPS + rows[2:]


CHECK_VALS = None


def check_vals():
    global CHECK_VALS
    if CHECK_VALS is None:
        vals, skip = bench.checks_setup(CHECK_NAMES)
        vals['port'] = HS_CHECKS_PORT
        for n, why in skip.items():
            log('%s skipped: %s' % (n, why))
            CHECK_NAMES.remove(n)
        CHECK_VALS = vals
    return CHECK_VALS


def speed_instructions(alg):
    """Instructions of one EVP_PKEY_verify() of `openssl speed -seconds
    1 ALG` under callgrind (its verify loop: a context made once, a
    digest given): inclusive instructions divided by the calls."""
    out = raw_path('hscost.callgrind.speed.%s.out' % alg)
    argv = ['valgrind', '--tool=callgrind', '--callgrind-out-file=' + out,
            'openssl', 'speed', '-seconds', '1', alg]
    with open(raw_path('hscost.callgrind.speed.%s.log' % alg), 'w') as errf:
        p = spawn(argv, cpu=bench.PROXY_CPU, stdout=errf, stderr=errf)
        p.wait()
    txt = subprocess.run(['callgrind_annotate', '--inclusive=yes',
                          '--tree=caller', '--threshold=100', out],
                         stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL).stdout.decode(
                             errors='replace')
    calls = 0
    for line in txt.splitlines():
        m = re.match(r'\s*[\d,]+\s+\([^)]*\)\s+<\s+.*\(([\d,]+)x\)', line)
        if m:
            calls += int(m.group(1).replace(',', ''))
            continue
        m = re.match(r'\s*([\d,]+)\s+\([^)]*\)\s+\*\s+\S*:EVP_PKEY_verify '
                     r'', line)
        if m and calls:
            return int(m.group(1).replace(',', '')) / float(calls)
        if '*' in line:
            calls = 0
    return None


def kind_check(kind):
    """'ngx_ws+hs256' -> 'hs256', else None."""
    return kind.split('+', 1)[1] if '+' in kind else None


def kind_label(kind):
    c = kind_check(kind)
    if c:
        return 'ngx_ws, %s' % bench.CHECKS_LABELS[c]
    return bench.LABELS[kind]


def proxy(kind, tag):
    """The nginx of a kind and the request headers its client sends."""
    check = kind_check(kind)
    if check:
        vals = check_vals()
        directives, headers = [c[2:] for c in bench.CHECKS
                               if c[0] == check][0]
        t = Nginx('hscost-ngx_ws-%s-%s' % (check, tag), HS_CHECKS_PORT,
                  'ngx_ws', NGX_WS_NGINX, [BACKEND_PORT],
                  extra=[x % vals for x in directives])
        return t, [h % vals for h in headers]
    binary = STOCK_NGINX if kind == 'nginx' else NGX_WS_NGINX
    port = 19450 + (0 if kind == 'nginx' else 1)
    return Nginx('hscost-%s-%s' % (kind, tag), port, kind, binary,
                 [BACKEND_PORT]), []


def cycles(port, n, name, headers=()):
    args = ['-m', 'handshake', '-p', str(port), '-c', str(CONNS), '-s',
            '64', '-n', str(n), '-T', '30', '-b', '127.0.0.10+8']
    for h in headers:
        args += ['-H', h]
    return bench.wsbench(args, name, 900)


def callgrind(kind, n, tag):
    t, headers = proxy(kind, tag)
    out = raw_path('hscost.callgrind.%s.%s.out' % (kind, tag))
    argv = (['valgrind', '--tool=callgrind', '--callgrind-out-file=' + out,
             '--toggle-collect=ngx_process_events_and_timers']
            + t.argv('daemon off; master_process off;'))
    errf = open(raw_path('hscost.callgrind.%s.%s.log' % (kind, tag)), 'w')
    p = spawn(argv, cpu=bench.PROXY_CPU, stdout=errf, stderr=errf)
    try:
        if not wait_port(t.port, p, 60):
            return None
        if cycles(t.port, n, 'hscost-cg-%s-%s' % (kind, tag),
                  headers) is None:
            return None
    finally:
        stop(p, wait=60)
    return inclusive(out)


def fname(fn):
    fn = re.sub(r' \([\d,]+x\)', '', fn)
    fn = re.sub(r' \[[^\]]*\]$', '', fn.strip())
    if ':' in fn:
        fn = fn.split(':', 1)[1]
    return re.sub(r'\.(part|constprop|isra)\.\d+', '', fn)


def inclusive(path):
    """Inclusive instructions per function (the largest entry of a name),
    and per call edge as "callee@caller"."""
    txt = subprocess.run(['callgrind_annotate', '--inclusive=yes',
                          '--tree=caller', '--threshold=100', path],
                         stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL).stdout.decode(
                             errors='replace')
    funcs = {}
    callers = []
    for line in txt.splitlines():
        if line.startswith('PROGRAM TOTALS') or 'PROGRAM TOTALS' in line:
            m = re.match(r'\s*([\d,]+)', line)
            if m:
                funcs['TOTAL'] = int(m.group(1).replace(',', ''))
            continue
        m = re.match(r'\s*([\d,]+)\s+\([^)]*\)\s+([<*])\s+(.*)$', line)
        if not m:
            callers = []
            continue
        ir = int(m.group(1).replace(',', ''))
        fn = fname(m.group(3))
        if m.group(2) == '<':
            callers.append((fn, ir))
            continue
        # a function shows up under its file and as ???: keep the larger
        funcs[fn] = max(funcs.get(fn, 0), ir)
        for caller, cir in callers:
            key = fn + '@' + caller
            funcs[key] = max(funcs.get(key, 0), cir)
        callers = []
    return funcs


def steps(kind, per):
    rows = []
    for label, plus, minus in (check_steps() if kind_check(kind)
                               else STEPS[kind]):
        rows.append((label, sum(per.get(f, 0) for f in plus)
                     - sum(per.get(f, 0) for f in minus)))
    rows.append(('the rest: event loop, nginx\'s static handlers',
                 per.get('TOTAL', 0) - sum(v for _, v in rows)))
    return rows


def syscalls(kind, n):
    t, _ = proxy(kind, 'strace')
    if not t.start():
        return None
    try:
        pid = t.workers()[0]
        outf = raw_path('hscost.strace.%s.txt' % kind)
        p = subprocess.Popen(['strace', '-c', '-f', '-o', outf, '-p',
                              str(pid)], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        res = cycles(t.port, n, 'hscost-strace-%s' % kind)
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)
        p.wait(30)
        if res is None:
            return None
    finally:
        t.stop()
    calls = {}
    with open(outf) as f:
        for line in f:
            fl = line.split()
            if len(fl) >= 5 and fl[0][0].isdigit() and fl[-1] != 'total':
                calls[fl[-1]] = int(fl[3])
    return {k: v / float(n) for k, v in calls.items()}


def main():
    os.makedirs(RAW, exist_ok=True)
    os.makedirs(bench.RUN, exist_ok=True)
    kinds = [k for k in ('nginx', 'ngx_ws') if k in CFG['targets']]
    if CHECK_NAMES and 'ngx_ws' in CFG['targets']:
        check_vals()
        kinds += ['ngx_ws+' + c for c in CHECK_NAMES]
    backend = bench.start_backend()
    if backend is None:
        return 1
    data = {}
    try:
        for kind in kinds:
            sc = None
            if not kind_check(kind):
                log('%s: system calls, %d handshakes' % (kind, N))
                sc = syscalls(kind, N)
            log('%s: callgrind, %d and %d handshakes' % (kind, N, 3 * N))
            a = callgrind(kind, N, 'a')
            b = callgrind(kind, 3 * N, 'b')
            if not a or not b:
                log('%s: callgrind run failed' % kind)
                continue
            per = {f: (b.get(f, 0) - a.get(f, 0)) / (2.0 * N)
                   for f in set(a) | set(b)}
            data[kind] = {'instructions': round(per.get('TOTAL', 0)),
                          'steps': [(l, round(v)) for l, v in
                                    steps(kind, per)],
                          'syscalls': sc}
        for check, alg in sorted(bench.CHECKS_SPEED.items()):
            if 'ngx_ws+' + check in data:
                log('openssl speed %s under callgrind' % alg)
                data['ngx_ws+' + check]['speed_verify_instructions'] = \
                    speed_instructions(alg)
    finally:
        stop(backend)
    md = report(data)
    with open(raw_path('hscost.json'), 'w') as f:
        json.dump(data, f, indent=1)
    with open(raw_path('hscost.md'), 'w') as f:
        f.write(md)
    print(md)
    return 0


def report(data):
    lines = []
    base = data.get('ngx_ws+none')
    checked = [k for k in data if kind_check(k)]
    if base and checked:
        lines.append('| ngx_ws with | instructions per handshake | '
                     'more than no checks |')
        lines.append('|---|---|---|')
        for k in checked:
            d = data[k]['instructions']
            lines.append('| %s | %d | %s |' % (
                bench.CHECKS_LABELS[kind_check(k)], d,
                '-' if k == 'ngx_ws+none' else '%+d (%+.1f%%)' % (
                    d - base['instructions'],
                    (d - base['instructions']) * 100.0
                    / base['instructions'])))
        lines.append('')
        for k in checked:
            v = data[k].get('speed_verify_instructions')
            if not v:
                continue
            extra = data[k]['instructions'] - base['instructions']
            lines.append('%s: one verification of `openssl speed %s` '
                         '(callgrind, EVP_PKEY_verify) %d instructions, '
                         '%.0f%% of the %d the check adds (the check: '
                         '%.2fx the verification).' % (
                             bench.CHECKS_LABELS[kind_check(k)],
                             bench.CHECKS_SPEED[kind_check(k)], v,
                             v * 100.0 / extra, extra, extra / v))
            lines.append('')
    for kind, d in data.items():
        lines.append('%s: %d user-space instructions per handshake'
                     % (kind_label(kind), d['instructions']))
        lines.append('')
        lines.append('| step | instructions |')
        lines.append('|---|---|')
        for label, v in d['steps']:
            lines.append('| %s | %d |' % (label, v))
        lines.append('')
    names = sorted(set(n for d in data.values() for n in (d['syscalls']
                                                          or {})))
    if names:
        kinds = [k for k in data if data[k]['syscalls']]
        lines.append('| system calls per handshake | %s |'
                     % ' | '.join(bench.LABELS[k] for k in kinds))
        lines.append('|---|%s' % ('---|' * len(kinds)))
        total = {k: 0.0 for k in kinds}
        for n in names:
            vals = []
            for k in kinds:
                v = (data[k]['syscalls'] or {}).get(n, 0.0)
                total[k] += v
                vals.append('%.2f' % v)
            lines.append('| `%s` | %s |' % (n, ' | '.join(vals)))
        lines.append('| all | %s |' % ' | '.join('%.2f' % total[k]
                                               for k in kinds))
        lines.append('')
    return '\n'.join(lines) + '\n'


if __name__ == '__main__':
    import atexit
    atexit.register(bench.cleanup)
    sys.exit(main())
