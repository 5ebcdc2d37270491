#!/usr/bin/python3
"""Runs the ngx_ws benchmark: the same workloads against the echo backend
directly, stock nginx (proxy_pass), ngx_ws (ws_pass), HAProxy, a Lua relay
on nginx and a Node.js relay; prints one table, writes
results/latest.json and results/latest.svg and updates README.md.

Started by run.sh, which installs what is missing and builds the tools.
Settings are environment variables, described in README.md.
"""

import atexit
import datetime
import http.client
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
BUILD = os.path.join(BENCH, 'build')
RUN = os.path.join(BUILD, 'run')
RESULTS = os.path.join(BENCH, 'results')
RAW = os.path.join(RESULTS, 'raw')
WSBENCH = os.path.join(BUILD, 'wsbench')
WSECHO = os.path.join(BUILD, 'wsecho')

PROXY_CPU = '0'
LOAD_CPU = '1'

BACKEND_PORT = 19000
BIG_BACKEND_PORT = 19200
BIG_PORT = 19300

TARGETS = ['direct', 'nginx', 'ngx_ws', 'haproxy', 'lua', 'node']
LABELS = {
    'direct': 'backend direct',
    'nginx': 'stock nginx',
    'ngx_ws': 'ngx_ws',
    'haproxy': 'HAProxy',
    'lua': 'Lua relay',
    'node': 'Node ws relay',
}
COLORS = {
    'direct': '#9e9e9e',
    'nginx': '#4c72b0',
    'ngx_ws': '#dd8452',
    'haproxy': '#55a868',
    'lua': '#8172b3',
    'node': '#c44e52',
}


def env_num(name, default, cast=float):
    v = os.environ.get(name, '')
    return cast(v) if v.strip() else default


QUICK = os.environ.get('BENCH_QUICK', '') not in ('', '0')

CFG = {
    'quick': QUICK,
    'repeat': env_num('REPEAT', 1 if QUICK else 3, int),
    'duration': env_num('BENCH_DURATION', 1.0 if QUICK else 5.0),
    'warmup': env_num('BENCH_WARMUP', 0.3 if QUICK else 1.0),
    'idle': env_num('BENCH_IDLE', 1000 if QUICK else 9900, int),
    'idle_big': env_num('BENCH_IDLE_BIG', 10000 if QUICK else 100000, int),
    'big_repeat': env_num('BENCH_BIG_REPEAT',
                          env_num('REPEAT', 1 if QUICK else 3, int), int),
    'big_target': os.environ.get('BENCH_BIG_TARGET', 'ngx_ws'),
    'hs_conns': env_num('BENCH_HS_CONNS', 50, int),
    'frame': os.environ.get('BENCH_FRAME', 'binary'),
    'ngx_ws_extra': os.environ.get('BENCH_NGX_WS_EXTRA', ''),
    'ngx_ws_http': os.environ.get('BENCH_NGX_WS_HTTP', ''),
    'instr_msgs': env_num('BENCH_INSTR_MSGS', 2000 if QUICK else 20000, int),
    'targets': [t for t in os.environ.get('BENCH_TARGETS',
                                          ','.join(TARGETS)).split(',')
                if t in TARGETS],
    'skip': [s for s in os.environ.get('BENCH_SKIP', '').split(',') if s],
}

# echo workloads: name, message size, connections, messages in flight each
ECHO = [
    ('64B', 64, 50, env_num('BENCH_DEPTH_64B', 8, int)),
    ('16KiB', 16384, 50, env_num('BENCH_DEPTH_16KIB', 4, int)),
    ('1MiB', 1048576, 4, env_num('BENCH_DEPTH_1MIB', 2, int)),
]

NICE = env_num('BENCH_NICE', -10, int)

children = []


def log(msg):
    sys.stderr.write(msg + '\n')
    sys.stderr.flush()


# ------------------------------------------------------------ processes

def niced(argv):
    """Runs at a higher priority than other work on the machine, when
    allowed to (BENCH_NICE, default -10 for root)."""
    if NICE and (NICE > 0 or os.geteuid() == 0):
        return ['nice', '-n', str(NICE)] + argv
    return argv


def spawn(argv, cpu=None, stdout=None, stderr=None, env=None, cwd=None):
    if cpu is not None:
        argv = ['taskset', '-c', cpu] + argv
    argv = niced(argv)
    p = subprocess.Popen(argv, stdout=stdout, stderr=stderr, env=env,
                         cwd=cwd, start_new_session=True,
                         stdin=subprocess.DEVNULL)
    children.append(p)
    return p


def stop(p, sig=signal.SIGTERM, wait=10.0):
    if p is None:
        return
    end = time.time() + wait
    while p.poll() is None:
        if time.time() >= end:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
            break
        # again and again: a signal that arrives outside epoll_wait() only
        # sets a flag, which a process without timers sees after the next
        # event (a wide window under valgrind)
        try:
            os.killpg(p.pid, sig)
        except ProcessLookupError:
            pass
        try:
            p.wait(0.5)
        except subprocess.TimeoutExpired:
            pass
    # the group may still hold workers of a master that exited
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if p in children:
        children.remove(p)


def cleanup():
    for p in list(children):
        stop(p, wait=3.0)


def on_signal(sig, frame):
    raise SystemExit(128 + sig)


def wait_port(port, proc=None, timeout=20.0):
    end = time.time() + timeout
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            return False
        s = socket.socket()
        try:
            s.settimeout(0.5)
            s.connect(('127.0.0.1', port))
            return True
        except OSError:
            time.sleep(0.05)
        finally:
            s.close()
    return False


def children_of(pid):
    out = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(')') + 2:].split()
        if int(fields[1]) == pid:
            out.append(int(d))
    return sorted(out)


def rss_kib(pid):
    try:
        with open('/proc/%d/status' % pid) as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


CLK_TCK = os.sysconf('SC_CLK_TCK')


def cpu_seconds(pids):
    """User plus system CPU time of the processes (all their threads)."""
    total = 0
    for pid in pids:
        try:
            with open('/proc/%d/stat' % pid) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(')') + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / float(CLK_TCK)


class CpuMeter:
    """CPU used by a proxy's workers while a load runs."""

    def __init__(self, pids):
        self.pids = pids
        self.c0 = cpu_seconds(pids)
        self.t0 = time.time()

    def done(self, res, count):
        if not self.pids or not res or not res.get('total'):
            return
        cpu = cpu_seconds(self.pids) - self.c0
        wall = time.time() - self.t0
        res['proxy_cpu_pct'] = round(cpu / wall * 100.0, 1)
        res[count] = cpu * 1e6 / res['total']


def read_line_until(p, prefix, timeout):
    """Reads p's stdout until a line starting with prefix; returns it."""
    end = time.time() + timeout
    buf = b''
    fd = p.stdout.fileno()
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            if p.poll() is not None:
                return None
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return None
        buf += chunk
        while b'\n' in buf:
            line, buf = buf.split(b'\n', 1)
            line = line.decode(errors='replace')
            if line.startswith(prefix):
                return line
    return None


def parse_kv(line):
    out = {}
    for tok in line.split():
        if '=' in tok:
            k, v = tok.split('=', 1)
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def raw_path(name):
    return os.path.join(RAW, name)


def wsbench(args, name, timeout):
    """Runs wsbench on the load CPU; returns the RESULT fields or None."""
    argv = niced(['taskset', '-c', LOAD_CPU, WSBENCH] + args)
    if CFG['frame'] == 'text':
        argv.append('-t')
    with open(raw_path(name + '.log'), 'w') as logf:
        logf.write(' '.join(argv) + '\n')
        logf.flush()
        try:
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=logf,
                               timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            log('    %s: timed out' % name)
            return None
        out = r.stdout.decode(errors='replace')
        logf.write(out)
    for line in out.splitlines():
        if line.startswith('RESULT'):
            res = parse_kv(line)
            if r.returncode != 0 or res.get('errors', 0):
                log('    %s: failed (exit %d), see %s'
                    % (name, r.returncode, raw_path(name + '.log')))
                return None
            return res
    log('    %s: no result, see %s' % (name, raw_path(name + '.log')))
    return None


# ------------------------------------------------------------ versions

def cmd_out(argv):
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=20)
        return r.stdout.decode(errors='replace').strip()
    except (OSError, subprocess.TimeoutExpired):
        return ''


def nginx_version(binary):
    m = re.search(r'nginx/(\S+)', cmd_out([binary, '-v']))
    return m.group(1) if m else 'unknown'


def dpkg_version(pkg):
    return cmd_out(['dpkg-query', '-W', '-f=${Version}', pkg]) or 'unknown'


def machine_info():
    cpu = 'unknown'
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    return {
        'cpu': cpu,
        'cores': os.cpu_count(),
        'kernel': platform.release(),
        'os': cmd_out(['sh', '-c', '. /etc/os-release; echo $PRETTY_NAME']),
    }


# ------------------------------------------------------------ targets

def ngx_ws_paths():
    """The module and the nginx binary it was built for, from env.sh."""
    env_sh = os.path.join(ROOT, 'build', 'env.sh')
    so = os.path.join(ROOT, 'build', 'ngx_http_ws_module.so')
    binary = None
    if os.path.exists(env_sh):
        out = cmd_out(['bash', '-c', '. "%s" && echo "$NGX_WS_MODULE" '
                       '&& echo "$NGINX_BIN"' % env_sh]).splitlines()
        if len(out) >= 2:
            so = out[0] or so
            binary = out[1] or None
    if not os.path.exists(so):
        return None, None
    if binary is None or not os.path.exists(binary):
        binary = shutil.which('nginx') or '/usr/sbin/nginx'
    return so, binary


NGX_WS_SO, NGX_WS_NGINX = ngx_ws_paths()
NGX_WS_SO_BUILT = NGX_WS_SO


def snapshot_module():
    """Copies the module (and an nginx binary built in the tree) under
    build/run/, so that a rebuild during the run changes nothing."""
    global NGX_WS_SO, NGX_WS_NGINX, STOCK_NGINX
    if NGX_WS_SO is None:
        return
    os.makedirs(RUN, exist_ok=True)
    so = os.path.join(RUN, 'ngx_http_ws_module.so')
    shutil.copy2(NGX_WS_SO, so)
    NGX_WS_SO = so
    if NGX_WS_NGINX.startswith(os.path.join(ROOT, 'build') + os.sep):
        binary = os.path.join(RUN, 'nginx')
        shutil.copy2(NGX_WS_NGINX, binary)
        if STOCK_NGINX == NGX_WS_NGINX:
            STOCK_NGINX = binary
        NGX_WS_NGINX = binary


def module_revision():
    """The commit the module was built from, as far as git tells."""
    rev = cmd_out(['git', '-C', ROOT, 'rev-parse', '--short', 'HEAD'])
    dirty = cmd_out(['git', '-C', ROOT, 'status', '--porcelain', '--',
                     'ngx_ws_module', 'config'])
    return rev + (' with uncommitted changes' if dirty else '')
STOCK_NGINX = NGX_WS_NGINX or shutil.which('nginx') or '/usr/sbin/nginx'
DEBIAN_NGINX = '/usr/sbin/nginx'
LUA_MODULES = ['/usr/lib/nginx/modules/ndk_http_module.so',
               '/usr/lib/nginx/modules/ngx_http_lua_module.so']


def nginx_conf(kind, port, backends, workers=1, reuseport=False,
               connections=21400, extra=None, http_lines=None,
               server_lines=None):
    loads = ''
    if kind == 'ngx_ws':
        loads = 'load_module %s;\n' % NGX_WS_SO
    elif kind == 'lua':
        loads = ''.join('load_module %s;\n' % m for m in LUA_MODULES)

    if kind == 'nginx':
        location = '''
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;'''
    elif kind == 'ngx_ws':
        location = '''
            ws_pass http://backend;'''
        if CFG['ngx_ws_extra']:
            location += '\n            ' + CFG['ngx_ws_extra']
        for line in extra or []:
            location += '\n            ' + line
    else:
        location = '''
            set $ws_backend 127.0.0.1:%d;
            content_by_lua_file %s;''' % (
            backends[0], os.path.join(BENCH, 'proxies', 'lua-relay.lua'))

    http_extra = ''.join('\n    ' + line for line in http_lines or [])
    if kind == 'ngx_ws' and CFG['ngx_ws_http']:
        http_extra += '\n    ' + CFG['ngx_ws_http']
    if kind == 'lua':
        http_extra += '''
    lua_package_path "/usr/share/lua/5.1/?.lua;;";
    lua_socket_log_errors off;'''

    servers = ''.join('        server 127.0.0.1:%d;\n' % b for b in backends)

    return '''%s
worker_processes %d;
worker_rlimit_nofile 20000;
error_log logs/error.log warn;
pid logs/nginx.pid;

events {
    # nginx closes idle connections once fewer than 1/16 of
    # worker_connections are free: above the descriptor limit, this lets a
    # worker use all of its 20000 descriptors
    worker_connections %d;
}

http {
    access_log off;
    client_body_temp_path tmp/body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
%s
    upstream backend {
%s    }

    server {
        listen 127.0.0.1:%d backlog=4096%s;

        location / {%s
        }%s
    }
}
''' % (loads, workers, connections, http_extra, servers, port,
       ' reuseport' if reuseport else '', location,
       ''.join('\n        ' + line for line in server_lines or []))


class Proxy:
    """One running proxy: start(), worker pids, stop()."""

    def __init__(self, name, port):
        self.name = name
        self.port = port
        self.proc = None
        self.note = None

    def available(self):
        return None

    def start(self):
        raise NotImplementedError

    def workers(self):
        return []

    def stop(self):
        stop(self.proc)
        self.proc = None


class Direct(Proxy):
    def start(self):
        return True

    def stop(self):
        pass


class Nginx(Proxy):
    def __init__(self, name, port, kind, binary, backends, workers=1,
                 reuseport=False, prefix_name=None, connections=21400,
                 extra=None, http_lines=None, server_lines=None):
        Proxy.__init__(self, name, port)
        self.extra = extra
        self.http_lines = http_lines
        self.server_lines = server_lines
        self.connections = connections
        self.kind = kind
        self.binary = binary
        self.backends = backends
        self.nworkers = workers
        self.reuseport = reuseport
        self.prefix = os.path.join(RUN, prefix_name or name)

    def available(self):
        if self.kind == 'ngx_ws' and NGX_WS_SO is None:
            return 'module not built (run "make module" at the top)'
        if not os.path.exists(self.binary):
            return 'no nginx binary at %s' % self.binary
        if self.kind == 'lua':
            for m in LUA_MODULES:
                if not os.path.exists(m):
                    return '%s missing' % m
        return None

    def write_conf(self):
        for d in ('conf', 'logs', 'tmp'):
            os.makedirs(os.path.join(self.prefix, d), exist_ok=True)
        conf = os.path.join(self.prefix, 'conf', 'nginx.conf')
        with open(conf, 'w') as f:
            f.write(nginx_conf(self.kind, self.port, self.backends,
                               self.nworkers, self.reuseport,
                               self.connections, self.extra,
                               self.http_lines, self.server_lines))
        return conf

    def argv(self, extra_global):
        conf = self.write_conf()
        return [self.binary, '-p', self.prefix + '/', '-c', conf,
                '-e', os.path.join(self.prefix, 'logs', 'error.log'),
                '-g', extra_global]

    def start(self):
        errf = open(os.path.join(self.prefix, 'stderr.log')
                    if os.path.isdir(self.prefix) else os.devnull, 'w')
        argv = self.argv('daemon off;')
        self.proc = spawn(argv, cpu=PROXY_CPU, stdout=errf, stderr=errf)
        if not wait_port(self.port, self.proc):
            self.note = 'did not start, see %s/logs/error.log' % self.prefix
            self.stop()
            return False
        # all workers up
        end = time.time() + 10
        while len(self.workers()) < self.nworkers and time.time() < end:
            time.sleep(0.05)
        return True

    def workers(self):
        if self.proc is None:
            return []
        kids = children_of(self.proc.pid)
        # taskset execs nginx: the master is self.proc.pid
        return kids


class HAProxy(Proxy):
    def __init__(self, name, port, backend):
        Proxy.__init__(self, name, port)
        self.backend = backend
        self.dir = os.path.join(RUN, name)

    def available(self):
        if not shutil.which('haproxy'):
            return 'haproxy not installed'
        return None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        cfg = os.path.join(self.dir, 'haproxy.cfg')
        with open(cfg, 'w') as f:
            f.write('''global
    maxconn 9990
    nbthread 1

defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 3600s

frontend fe
    bind 127.0.0.1:%d
    default_backend be

backend be
    server s1 127.0.0.1:%d
''' % (self.port, self.backend))
        errf = open(os.path.join(self.dir, 'stderr.log'), 'w')
        self.proc = spawn(['haproxy', '-db', '-f', cfg], cpu=PROXY_CPU,
                          stdout=errf, stderr=errf)
        if not wait_port(self.port, self.proc):
            self.note = 'did not start, see %s/stderr.log' % self.dir
            self.stop()
            return False
        return True

    def workers(self):
        return [self.proc.pid] if self.proc else []


class Node(Proxy):
    def __init__(self, name, port, backend):
        Proxy.__init__(self, name, port)
        self.backend = backend
        self.dir = os.path.join(RUN, name)

    def available(self):
        if not shutil.which('node'):
            return 'node not installed'
        if not os.path.isdir('/usr/share/nodejs/ws'):
            return 'node-ws not installed'
        return None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        env = dict(os.environ, NODE_PATH='/usr/share/nodejs')
        errf = open(os.path.join(self.dir, 'stderr.log'), 'w')
        self.proc = spawn(['node',
                           os.path.join(BENCH, 'proxies', 'node-proxy.js'),
                           str(self.port), str(self.backend)],
                          cpu=PROXY_CPU, stdout=errf, stderr=errf, env=env)
        if not wait_port(self.port, self.proc):
            self.note = 'did not start, see %s/stderr.log' % self.dir
            self.stop()
            return False
        return True

    def workers(self):
        return [self.proc.pid] if self.proc else []


def make_target(name):
    port = 19100 + TARGETS.index(name)
    if name == 'direct':
        return Direct(name, BACKEND_PORT)
    if name == 'nginx':
        return Nginx(name, port, 'nginx', STOCK_NGINX, [BACKEND_PORT])
    if name == 'ngx_ws':
        return Nginx(name, port, 'ngx_ws', NGX_WS_NGINX or STOCK_NGINX,
                     [BACKEND_PORT])
    if name == 'lua':
        return Nginx(name, port, 'lua', DEBIAN_NGINX, [BACKEND_PORT])
    if name == 'haproxy':
        return HAProxy(name, port, BACKEND_PORT)
    if name == 'node':
        return Node(name, port, BACKEND_PORT)
    raise ValueError(name)


# ------------------------------------------------------------ cells

def run_echo(t, wl, rep):
    name, size, conns, depth = wl
    d, w = CFG['duration'], CFG['warmup']
    meter = CpuMeter(t.workers())
    res = wsbench(['-m', 'echo', '-p', str(t.port), '-c', str(conns),
                   '-s', str(size), '-P', str(depth), '-d', str(d),
                   '-w', str(w), '-T', '10'],
                  'echo-%s-%s-r%d' % (name, t.name, rep), d + w + 60)
    meter.done(res, 'cpu_us_per_msg')
    if res is None:
        return None
    return {k: res[k] for k in ('msg_per_s', 'mb_per_s', 'p50_us', 'p99_us',
                                'p999_us', 'proxy_cpu_pct', 'cpu_us_per_msg')
            if k in res}


def run_handshake(t, rep):
    d, w = CFG['duration'], CFG['warmup']
    meter = CpuMeter(t.workers())
    res = wsbench(['-m', 'handshake', '-p', str(t.port),
                   '-c', str(CFG['hs_conns']), '-s', '64', '-d', str(d),
                   '-w', str(w), '-T', '5', '-b', '127.0.0.10+8'],
                  'handshake-%s-r%d' % (t.name, rep), d + w + 60)
    meter.done(res, 'cpu_us_per_hs')
    if res is None:
        return None
    return {k: res[k] for k in ('hs_per_s', 'p99_us', 'failed',
                                'proxy_cpu_pct', 'cpu_us_per_hs')
            if k in res}


# ------------------------------------------------------------ checks

# The handshake cell on ngx_ws with the module's handshake checks: each
# variant is the location's directives and the request headers wsbench adds
# (-H); %(...)s are filled by checks_setup().  "none" turns the Origin
# check off (ws_origin any) and sends no extra header; the JWT variants
# keep the Origin check off too, so that each measures one check.
CHECKS_PORT = 19120
CHECKS = [
    ('none', 'no checks', ['ws_origin any;'], []),
    ('origin', 'Origin', ['ws_origin http://127.0.0.1:%(port)d;'],
     ['Origin: http://127.0.0.1:%(port)d']),
    ('hs256', 'HS256',
     ['ws_origin any;', 'ws_auth_jwt bench;',
      'ws_auth_jwt_key_file %(dir)s/hs256.secret alg=HS256;'],
     ['Authorization: Bearer %(token_hs256)s']),
    ('rs256', 'RS256 (2048-bit)',
     ['ws_origin any;', 'ws_auth_jwt bench;',
      'ws_auth_jwt_key_file %(dir)s/rs256.pub.pem alg=RS256;'],
     ['Authorization: Bearer %(token_rs256)s']),
    ('es256', 'ES256 (P-256)',
     ['ws_origin any;', 'ws_auth_jwt bench;',
      'ws_auth_jwt_key_file %(dir)s/es256.pub.pem alg=ES256;'],
     ['Authorization: Bearer %(token_es256)s']),
]
CHECKS_LABELS = {c[0]: c[1] for c in CHECKS}
JWT_CHECKS = ('hs256', 'rs256', 'es256')
# the most a check may cost, as a share of the handshakes/s of "none"
CHECKS_TARGETS = {'origin': 0.05, 'hs256': 0.05, 'rs256': 0.15,
                  'es256': 0.35}
# the openssl speed algorithm whose verification an algorithm makes
CHECKS_SPEED = {'rs256': 'rsa2048', 'es256': 'ecdsap256'}
CHECKS_DIR = os.path.join(RUN, 'checks')
# idle connections held once per variant, for its RSS per connection
CHECKS_IDLE = env_num('BENCH_CHECKS_IDLE', 2000, int)
# claims of every token: exp far in the future (2100-01-01)
JWT_CLAIMS = {'sub': 'bench', 'iss': 'ngx_ws-bench', 'exp': 4102444800}


def checks_selected():
    sel = os.environ.get('BENCH_CHECKS', '')
    names = [c[0] for c in CHECKS]
    if not sel.strip():
        return names
    want = [s.strip() for s in sel.split(',')]
    if 'none' not in want:
        want.insert(0, 'none')
    return [n for n in names if n in want]


def module_has_jwt():
    try:
        with open(NGX_WS_SO, 'rb') as f:
            return b'ws_auth_jwt' in f.read()
    except (OSError, TypeError):
        return False


def openssl(args):
    r = subprocess.run(['openssl'] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=120)
    if r.returncode != 0:
        raise RuntimeError('openssl %s: %s' % (
            ' '.join(args), r.stderr.decode(errors='replace').strip()))
    return r.stdout


def checks_setup(names):
    """Keys made with openssl (new for every run) and one token per JWT
    variant, signed with PyJWT (Debian's python3-jwt); returns the values
    of the variants' %(...)s and a note for each variant that cannot
    run."""
    os.makedirs(CHECKS_DIR, exist_ok=True)
    vals = {'port': CHECKS_PORT, 'dir': CHECKS_DIR}
    skip = {}
    jwts = [n for n in names if n in JWT_CHECKS]
    if not jwts:
        return vals, skip
    if not module_has_jwt():
        for n in jwts:
            skip[n] = 'the module has no ws_auth_jwt'
        return vals, skip
    try:
        import jwt
    except ImportError:
        for n in jwts:
            skip[n] = 'no PyJWT (python3-jwt) to sign the tokens'
        return vals, skip
    d = CHECKS_DIR
    try:
        # 64 hexadecimal digits: 64 bytes of secret, no newline, and no
        # "{" or "-----BEGIN" that would make the file a JWK or a PEM
        secret = openssl(['rand', '-hex', '32']).strip()
        with open(os.path.join(d, 'hs256.secret'), 'wb') as f:
            f.write(secret)
        openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt',
                 'rsa_keygen_bits:2048', '-out', os.path.join(d, 'rs256.pem')])
        openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt',
                 'ec_paramgen_curve:P-256', '-out',
                 os.path.join(d, 'es256.pem')])
        for k in ('rs256', 'es256'):
            openssl(['pkey', '-in', os.path.join(d, k + '.pem'), '-pubout',
                     '-out', os.path.join(d, k + '.pub.pem')])
        claims = dict(JWT_CLAIMS, iat=int(time.time()))
        keys = {'hs256': secret,
                'rs256': open(os.path.join(d, 'rs256.pem'), 'rb').read(),
                'es256': open(os.path.join(d, 'es256.pem'), 'rb').read()}
        for n in jwts:
            tok = jwt.encode(claims, keys[n], algorithm=n.upper())
            if isinstance(tok, bytes):
                tok = tok.decode()
            vals['token_' + n] = tok
            with open(os.path.join(d, n + '.token'), 'w') as f:
                f.write(tok + '\n')
    except Exception as e:                      # noqa: BLE001
        for n in jwts:
            skip[n] = 'keys or tokens not made: %s' % e
    return vals, skip


def checks_target(name, vals):
    directives, headers = [c[2:] for c in CHECKS if c[0] == name][0]
    t = Nginx('checks-' + name, CHECKS_PORT, 'ngx_ws',
              NGX_WS_NGINX or STOCK_NGINX, [BACKEND_PORT],
              extra=[x % vals for x in directives])
    return t, [h % vals for h in headers]


def run_check(name, vals, rep):
    """The handshake cell against ngx_ws with one variant's checks."""
    t, headers = checks_target(name, vals)
    if not t.start():
        log('    %s' % t.note)
        return None
    try:
        d, w = CFG['duration'], CFG['warmup']
        args = ['-m', 'handshake', '-p', str(t.port),
                '-c', str(CFG['hs_conns']), '-s', '64', '-d', str(d),
                '-w', str(w), '-T', '5', '-b', '127.0.0.10+8']
        for h in headers:
            args += ['-H', h]
        meter = CpuMeter(t.workers())
        res = wsbench(args, 'checks-%s-r%d' % (name, rep), d + w + 60)
        meter.done(res, 'cpu_us_per_hs')
    finally:
        t.stop()
    if res is None:
        return None
    return {k: res[k] for k in ('hs_per_s', 'p99_us', 'failed',
                                'proxy_cpu_pct', 'cpu_us_per_hs')
            if k in res}


def run_check_idle(name, vals):
    """RSS per idle WebSocket of a variant (whether a WebSocket that
    passed the check is still detached from its request): CHECKS_IDLE
    connections held, on a fresh nginx."""
    t, headers = checks_target(name, vals)
    if not t.start():
        log('    %s' % t.note)
        return None
    try:
        r = run_idle(t, 0, CHECKS_IDLE, headers)
    finally:
        t.stop()
    return r['rss_per_conn'] if r else None


def openssl_speed():
    """Verifications per second of openssl speed on the proxy's CPU, for
    the algorithms of CHECKS_SPEED: {name: {'verify_per_s', 'us'}}."""
    secs = 1 if QUICK else 3
    argv = niced(['taskset', '-c', PROXY_CPU, 'openssl', 'speed',
                  '-seconds', str(secs), '-mr'] + sorted(set(
                      CHECKS_SPEED.values())))
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    txt = r.stdout.decode(errors='replace')
    with open(raw_path('checks-openssl-speed.txt'), 'w') as f:
        f.write(' '.join(argv) + '\n' + txt)
    out = {}
    # -mr: +F2:index:bits:sign/s:verify/s (RSA), +F4:... (ECDSA)
    for line in txt.splitlines():
        m = re.match(r'\+F([24]):\d+:(\d+):([\d.]+):([\d.]+)', line)
        if not m:
            continue
        kind = 'rsa%s' % m.group(2) if m.group(1) == '2' else \
            'ecdsap%s' % m.group(2)
        v = float(m.group(4))
        out[kind] = {'verify_per_s': v, 'us': 1e6 / v if v else None}
    out['_cmd'] = 'openssl speed -seconds %d %s' % (
        secs, ' '.join(sorted(set(CHECKS_SPEED.values()))))
    return out


def measure_checks():
    """The checks cell: REPEAT runs of every variant, interleaved (the
    order rotated from one repetition to the next); returns its summary
    or None."""
    if 'checks' in CFG['skip'] or 'ngx_ws' not in CFG['targets']:
        return None
    if NGX_WS_SO is None:
        return {'note': 'module not built'}
    names = checks_selected()
    vals, skip = checks_setup(names)
    for n, why in skip.items():
        log('checks: %s skipped: %s' % (n, why))
    names = [n for n in names if n not in skip]
    runs = {n: [] for n in names}
    load0 = os.getloadavg()[0]
    # one run not counted, so that the first variant does not pay for a
    # cold machine (caches, clock, the kernel's socket slabs)
    log('[checks] warmup: %s' % names[0])
    run_check(names[0], vals, 0)
    for rep in range(1, CFG['repeat'] + 1):
        k = (rep - 1) % len(names)
        for name in names[k:] + names[:k]:
            log('[checks %d/%d] %s' % (rep, CFG['repeat'], name))
            r = run_check(name, vals, rep)
            runs[name].append(r)
            if r:
                log('    handshakes: %.0f/s, proxy CPU %.0f us per '
                    'handshake' % (r['hs_per_s'], r['cpu_us_per_hs']))
            time.sleep(0.5)
    idle = {}
    for name in names if CHECKS_IDLE > 0 else []:
        log('[checks idle] %s, %d connections' % (name, CHECKS_IDLE))
        idle[name] = run_check_idle(name, vals)
        time.sleep(0.5)
    speed = openssl_speed() if any(n in CHECKS_SPEED for n in names) else {}
    out = checks_summary(names, runs, skip, speed, idle)
    out['loadavg'] = [load0, os.getloadavg()[0]]
    return out


def checks_summary(names, runs, skip, speed, idle):
    out = {'variants': names, 'skipped': skip, 'runs': runs,
           'openssl_speed': speed, 'idle_connections': CHECKS_IDLE,
           'cells': {}}
    base = runs.get('none') or []
    for n in names:
        cell = {}
        for field in ('hs_per_s', 'cpu_us_per_hs', 'proxy_cpu_pct'):
            s = summarize([r.get(field) if r else None for r in runs[n]])
            if s:
                cell[field] = s
        s = summarize([idle.get(n)])
        if s:
            cell['rss_per_conn'] = s
        # ratios within each repetition (the runs of one repetition are
        # neighbours in time), for the spread of the ratio
        pairs = [r['hs_per_s'] / b['hs_per_s']
                 for r, b in zip(runs[n], base)
                 if r and b and b.get('hs_per_s')]
        if pairs:
            cell['ratio_runs'] = pairs
        cell['failed'] = sum(1 for r in runs[n] if r is None)
        out['cells'][n] = cell
    none = out['cells'].get('none', {})
    for n in names:
        c = out['cells'][n]
        if 'hs_per_s' in c and 'hs_per_s' in none:
            c['ratio'] = c['hs_per_s']['median'] / none['hs_per_s']['median']
        if 'cpu_us_per_hs' in c and 'cpu_us_per_hs' in none:
            c['extra_cpu_us'] = (c['cpu_us_per_hs']['median']
                                 - none['cpu_us_per_hs']['median'])
            # the rate the proxy's CPU time allows, relative to no checks:
            # what the rate ratio is when the proxy is the bottleneck
            c['cpu_ratio'] = (none['cpu_us_per_hs']['median']
                              / c['cpu_us_per_hs']['median'])
        sp = speed.get(CHECKS_SPEED.get(n, ''), {})
        if sp.get('us') and c.get('extra_cpu_us'):
            c['verify_us'] = sp['us']
            c['verify_share'] = sp['us'] / c['extra_cpu_us']
    complete = (not QUICK and not skip and names == [c[0] for c in CHECKS]
                and all(out['cells'][n]['failed'] == 0 for n in names))
    out['complete'] = complete
    return out


def checks_verdicts(checks):
    out = []
    if not checks or 'cells' not in checks:
        return out
    for n, limit in CHECKS_TARGETS.items():
        desc = '%s costs <= %d%% of the handshakes/s (>= %.2fx no checks)' % (
            'Origin check' if n == 'origin' else CHECKS_LABELS[n],
            round(limit * 100), 1 - limit)
        c = checks['cells'].get(n)
        if not c or c.get('ratio') is None:
            why = checks['skipped'].get(n, 'not measured')
            out.append((desc, '- (%s)' % why, 'SKIP'))
            continue
        # judged by the handshakes/s, checked against the proxy's CPU time
        # per handshake: when the two disagree, the rates were limited by
        # something else than the proxy (the other CPU, other work on the
        # machine) and the verdict is UNSURE
        r = c['ratio']
        ok = r >= 1 - limit
        meas = '%.2fx (%.1f%%)' % (r, (1 - r) * 100)
        verdict = 'PASS' if ok else 'FAIL'
        cr = c.get('cpu_ratio')
        if cr is not None:
            meas += ', by CPU per handshake %.2fx' % cr
            if (cr >= 1 - limit) != ok:
                verdict = 'UNSURE'
        out.append((desc, meas, verdict))
    return out


def checks_markdown(checks, verdicts, date):
    c = CFG
    lines = []
    lines.append('Run of %s%s, ngx_ws built from %s. Median of %d run(s) '
                 'per variant, interleaved, %.0f s measured after %.1f s of '
                 'warmup, %d concurrent loops; ± half the min-max range in '
                 'percent of the median.' % (
                     date, ' (quick mode)' if QUICK else '',
                     module_revision(), c['repeat'], c['duration'],
                     c['warmup'], c['hs_conns']))
    lines.append('')
    lines.append('| checks | handshakes/s | ratio to no checks (runs) | '
                 'proxy CPU per handshake | ratio by CPU | '
                 'extra CPU per handshake | '
                 'proxy CPU load | idle RSS per connection (%d held) |'
                 % checks['idle_connections'])
    lines.append('|---|---|---|---|---|---|---|---|')

    def pm(s, unit):
        if not s:
            return '-'
        txt = fmt_num(s['median'], unit)
        if s['n'] > 1:
            txt += ' ±%.0f%%' % s['spread_pct']
        return txt

    for n in checks['variants']:
        cell = checks['cells'][n]
        ratio = '-'
        if cell.get('ratio') is not None:
            ratio = '%.2fx' % cell['ratio']
            rr = cell.get('ratio_runs') or []
            if len(rr) > 1 and n != 'none':
                ratio += ' (%.2f-%.2f)' % (min(rr), max(rr))
        extra = '-'
        if n != 'none' and cell.get('extra_cpu_us') is not None:
            extra = '%+.1f us' % cell['extra_cpu_us']
        cratio = '-'
        if cell.get('cpu_ratio') is not None:
            cratio = '%.2fx' % cell['cpu_ratio']
        lines.append('| %s | %s | %s | %s | %s | %s | %s | %s |' % (
            CHECKS_LABELS[n], pm(cell.get('hs_per_s'), 'hs'), ratio,
            pm(cell.get('cpu_us_per_hs'), 'us'), cratio, extra,
            pm(cell.get('proxy_cpu_pct'), 'pct'),
            pm(cell.get('rss_per_conn'), 'bytes')))
    for n, why in sorted(checks['skipped'].items()):
        lines.append('| %s | skipped: %s | | | | | | |'
                     % (CHECKS_LABELS[n], why))
    lines.append('')
    la = checks.get('loadavg')
    if la:
        lines.append('Load average %.2f when the cell started, %.2f when it '
                     'ended (the cell itself keeps it near 1.5: more is '
                     'other work on the machine).' % tuple(la))
        lines.append('')
    speed = checks.get('openssl_speed') or {}
    parts = []
    for n in ('rs256', 'es256'):
        cell = checks['cells'].get(n)
        sp = speed.get(CHECKS_SPEED[n])
        if not sp or not sp.get('us'):
            continue
        txt = ('%s: `openssl speed` %.0f verify/s on the proxy\'s CPU, '
               '%.1f us per verification' % (
                   CHECKS_LABELS[n], sp['verify_per_s'], sp['us']))
        if cell and cell.get('extra_cpu_us'):
            txt += (', %.0f%% of the %.1f us of proxy CPU the check adds '
                    'to a handshake' % (cell['verify_share'] * 100,
                                        cell['extra_cpu_us']))
        parts.append(txt)
    if parts:
        lines.append('One signature verification (%s): %s.' % (
            speed.get('_cmd', 'openssl speed'), '; '.join(parts)))
        lines.append('')
    lines.append('| target | measured | result |')
    lines.append('|---|---|---|')
    for desc, meas, verdict in verdicts:
        lines.append('| %s | %s | %s |' % (desc, meas, verdict))
    lines.append('')
    return lines


# ------------------------------------------------------------ limits cell

# The cost of ws_limit_* and of the timers, on ngx_ws only: the 64 B echo
# cell with no limit, a per-connection limit and a shared zone (limits far
# above the load, so that every message is counted and none is held); the
# idle cell with the defaults and with every timer on; and the idle at
# scale cell with pings every 30 s, whose workers' CPU is read while the
# pings go.  (name, label, location directives, http directives)
LIMITS_PORT = 19121
LIMITS = [
    ('none', 'no limit', [], []),
    ('conn', 'per-connection limit',
     ['ws_limit_messages 1000000r/s burst=1000;'], []),
    ('zone', 'shared zone ($binary_remote_addr)',
     ['ws_limit_messages zone=bench 100000000r/s burst=100000;'],
     ['ws_limit_zone $binary_remote_addr zone=bench:10m;']),
]
LIMITS_LABELS = {c[0]: c[1] for c in LIMITS}
# the least messages/s of a variant, as a share of "none"
LIMITS_TARGETS = {'conn': 0.97, 'zone': 0.9}
TIMERS = [
    ('defaults', 'defaults (pings to the client every 20 s)', []),
    ('all', 'every timer on: idle, lifetime, frame, pings both ways, '
     'message and byte limits',
     ['ws_idle_timeout 1h;', 'ws_max_lifetime 24h;', 'ws_frame_timeout 30s;',
      'ws_ping_interval 30s;', 'ws_pong_timeout 30s;', 'ws_ping_upstream on;',
      'ws_limit_messages 100r/s;', 'ws_limit_bytes 1m;']),
]
TIMERS_LABELS = {c[0]: c[1] for c in TIMERS}
TIMERS_TARGET = 3072                 # bytes per idle WebSocket, all on
PINGS_LINES = ['ws_ping_interval 30s;', 'ws_pong_timeout 30s;']
PINGS_TARGET = 5.0                   # % of one CPU, all workers together
PINGS_WINDOW = env_num('BENCH_PINGS_WINDOW', 15 if QUICK else 60)
# the first pings go out 30 s after a connection opened: the window starts
# when they do, and holds two rounds
PINGS_SETTLE = env_num('BENCH_PINGS_SETTLE', 0 if QUICK else 20)


def limits_target(name, lines, http_lines):
    return Nginx('limits-' + name, LIMITS_PORT, 'ngx_ws',
                 NGX_WS_NGINX or STOCK_NGINX, [BACKEND_PORT], extra=lines,
                 http_lines=http_lines)


def limits_run(name, lines, http_lines, fn, rep):
    t = limits_target(name, lines, http_lines)
    if not t.start():
        log('    %s' % t.note)
        return None
    try:
        return fn(t, rep)
    finally:
        t.stop()


def measure_limits():
    """The limits cell: REPEAT interleaved runs of each echo variant (one
    more not counted first), REPEAT of each idle variant, one run of pings
    at scale; returns its summary or None."""
    if 'limits' in CFG['skip'] or 'ngx_ws' not in CFG['targets']:
        return None
    if NGX_WS_SO is None:
        return {'note': 'module not built'}
    wl = ECHO[0]
    names = [c[0] for c in LIMITS]
    runs = {n: [] for n in names}
    idle = {c[0]: [] for c in TIMERS}
    load0 = os.getloadavg()[0]
    for rep in range(0, CFG['repeat'] + 1):
        k = rep % len(names)
        for c in LIMITS[k:] + LIMITS[:k]:
            log('[limits %d/%d] %s' % (rep, CFG['repeat'], c[0])
                if rep else '[limits] warmup: %s' % c[0])
            r = limits_run(c[0], c[2], c[3],
                           lambda t, rp: run_echo(t, wl, rp), rep)
            if r:
                log('    echo 64B: %.0f msg/s, proxy CPU %.2f us per msg'
                    % (r['msg_per_s'], r.get('cpu_us_per_msg', 0)))
            if rep:
                runs[c[0]].append(r)
            time.sleep(0.3)
            if rep == 0:
                break
    for rep in range(1, CFG['repeat'] + 1):
        for c in TIMERS:
            log('[limits idle %d/%d] %s' % (rep, CFG['repeat'], c[0]))
            r = limits_run('idle-' + c[0], c[2], [], run_idle, rep)
            if r:
                log('    %.2f KiB/conn' % (r['rss_per_conn'] / 1024.0))
            idle[c[0]].append(r['rss_per_conn'] if r else None)
            time.sleep(0.5)
    pings = None
    if 'pings' not in CFG['skip']:
        log('[limits pings] %d idle connections, pings every 30 s, CPU over '
            '%.0f s' % (CFG['idle_big'], PINGS_WINDOW))
        pings = run_big(1, extra=PINGS_LINES, window=PINGS_WINDOW,
                        kind='ngx_ws', tag='pings', settle=PINGS_SETTLE)
        if pings:
            log('    workers %.2f%% of one CPU, %d pings answered'
                % (pings['cpu_pct_total'], pings['pings_answered']))
    out = {'variants': names, 'runs': runs, 'idle_runs': idle,
           'pings': pings, 'cells': {}, 'idle': {}}
    base = runs['none']
    for n in names:
        cell = {}
        for field in ('msg_per_s', 'cpu_us_per_msg', 'proxy_cpu_pct',
                      'p99_us'):
            sm = summarize([r.get(field) if r else None for r in runs[n]])
            if sm:
                cell[field] = sm
        pairs = [r['msg_per_s'] / b['msg_per_s'] for r, b in zip(runs[n], base)
                 if r and b and b.get('msg_per_s')]
        if pairs:
            cell['ratio_runs'] = pairs
        cell['failed'] = sum(1 for r in runs[n] if r is None)
        out['cells'][n] = cell
    none = out['cells']['none']
    for n in names:
        cell = out['cells'][n]
        if 'msg_per_s' in cell and 'msg_per_s' in none:
            cell['ratio'] = (cell['msg_per_s']['median']
                             / none['msg_per_s']['median'])
        if 'cpu_us_per_msg' in cell and 'cpu_us_per_msg' in none:
            # the rate the proxy's CPU time allows, relative to no limit
            cell['cpu_ratio'] = (none['cpu_us_per_msg']['median']
                                 / cell['cpu_us_per_msg']['median'])
    for n, vals in idle.items():
        sm = summarize(vals)
        if sm:
            out['idle'][n] = sm
    out['complete'] = (not QUICK and CFG['idle_big'] >= 100000
                       and all(out['cells'][n]['failed'] == 0 for n in names)
                       and len(out['idle']) == len(TIMERS)
                       and pings is not None
                       and pings['established'] == CFG['idle_big'])
    out['loadavg'] = [load0, os.getloadavg()[0]]
    return out


def limits_verdicts(lim):
    out = []
    if not lim or 'cells' not in lim:
        return out
    for n, least in LIMITS_TARGETS.items():
        desc = '64 B messages/s with a %s >= %.2fx no limit' % (
            LIMITS_LABELS[n], least)
        c = lim['cells'].get(n) or {}
        if c.get('ratio') is None:
            out.append((desc, '- (not measured)', 'SKIP'))
            continue
        ok = c['ratio'] >= least
        meas = '%.2fx' % c['ratio']
        verdict = 'PASS' if ok else 'FAIL'
        if c.get('cpu_ratio') is not None:
            meas += ', by CPU per message %.2fx' % c['cpu_ratio']
            if (c['cpu_ratio'] >= least) != ok:
                verdict = 'UNSURE'
        out.append((desc, meas, verdict))
    a = lim['idle'].get('all')
    desc = 'an idle WebSocket with every timer on <= %d bytes' % TIMERS_TARGET
    if a:
        out.append((desc, '%.0f bytes' % a['median'],
                    'PASS' if a['median'] <= TIMERS_TARGET else 'FAIL'))
    else:
        out.append((desc, '- (not measured)', 'SKIP'))
    p = lim.get('pings')
    desc = ('%d idle WebSockets pinged every 30 s: workers < %.0f%% of one '
            'CPU' % (CFG['idle_big'], PINGS_TARGET))
    if p and p.get('cpu_pct_total') is not None:
        out.append((desc, '%.2f%% over %.0f s (%d pings answered)' % (
            p['cpu_pct_total'], p['window_s'], p['pings_answered']),
            'PASS' if p['cpu_pct_total'] < PINGS_TARGET else 'FAIL'))
    else:
        out.append((desc, '- (not measured)', 'SKIP'))
    return out


def limits_markdown(lim, verdicts, date):
    c = CFG
    lines = []
    lines.append('Run of %s%s, ngx_ws built from %s. The 64 B echo cell '
                 '(%d connections, %d in flight), median of %d run(s) per '
                 'variant, interleaved, %.0f s measured after %.1f s of '
                 'warmup; ± half the min-max range in percent of the '
                 'median.' % (date, ' (quick mode)' if QUICK else '',
                              module_revision(), ECHO[0][2], ECHO[0][3],
                              c['repeat'], c['duration'], c['warmup']))
    lines.append('')
    lines.append('| limit | messages/s | ratio to no limit (runs) | '
                 'proxy CPU per message | ratio by CPU | p99 latency |')
    lines.append('|---|---|---|---|---|---|')

    def pm(sm, unit):
        if not sm:
            return '-'
        txt = fmt_num(sm['median'], unit)
        if sm['n'] > 1:
            txt += ' ±%.0f%%' % sm['spread_pct']
        return txt

    for n in lim['variants']:
        cell = lim['cells'][n]
        ratio = '-'
        if cell.get('ratio') is not None:
            ratio = '%.2fx' % cell['ratio']
            rr = cell.get('ratio_runs') or []
            if len(rr) > 1 and n != 'none':
                ratio += ' (%.2f-%.2f)' % (min(rr), max(rr))
        cr = '%.2fx' % cell['cpu_ratio'] if cell.get('cpu_ratio') else '-'
        directives = ' '.join(x for cc in LIMITS if cc[0] == n
                              for x in cc[3] + cc[2])
        lines.append('| %s%s | %s | %s | %s | %s | %s |' % (
            LIMITS_LABELS[n], ': `%s`' % directives if directives else '',
            pm(cell.get('msg_per_s'), 'msg'), ratio,
            pm(cell.get('cpu_us_per_msg'), 'us'), cr,
            pm(cell.get('p99_us'), 'us')))
    lines.append('')
    lines.append('Idle WebSockets (%d held by one worker, %d run(s)), worker '
                 'RSS growth per connection:' % (c['idle'], c['repeat']))
    lines.append('')
    lines.append('| timers | directives | RSS per connection |')
    lines.append('|---|---|---|')
    for n, label, lines_ in TIMERS:
        lines.append('| %s | %s | %s |' % (
            label, ' '.join('`%s`' % x for x in lines_) or '-',
            pm(lim['idle'].get(n), 'bytes')))
    lines.append('')
    p = lim.get('pings')
    if p:
        lines.append(
            'Pings at scale: %d idle WebSockets (%d workers, the idle at '
            'scale cell) with `%s`; over %.0f s, from %.0f s after all '
            'were open, the %d workers used %.2f%% of one CPU together (the '
            'busiest %.2f%%), and the clients answered %d pings over the '
            'whole run. Worker RSS %.0f MiB, %.0f bytes per connection.' % (
                p['connections'], p['workers'], ' '.join(PINGS_LINES),
                p['window_s'], PINGS_SETTLE + 2, p['workers'],
                p['cpu_pct_total'],
                p['cpu_pct_max_worker'], p['pings_answered'],
                p['rss_total_kib'] / 1024.0, p['rss_per_conn']))
        lines.append('')
    la = lim.get('loadavg')
    if la:
        lines.append('Load average %.2f when the cell started, %.2f when it '
                     'ended.' % tuple(la))
        lines.append('')
    lines.append('| target | measured | result |')
    lines.append('|---|---|---|')
    for desc, meas, verdict in verdicts:
        lines.append('| %s | %s | %s |' % (desc, meas, verdict))
    lines.append('')
    return lines


# ------------------------------------------------------------ status cell

# The cost of counting for ws_status (the issue's 0.98x): the 64 B echo
# cell without and with ws_status and ws_status_zone configured, as the
# limits cell runs its variants; then the time of the endpoint's JSON and
# Prometheus answers with STATUS_OPEN WebSockets open on two workers.
STATUS_PORT = 19122
STATUS = [
    ('none', 'no ws_status', [], []),
    ('status', 'ws_status configured', ['ws_status_zone bench;'],
     ['location = /ws-status { ws_status; access_log off; }']),
]
STATUS_LABELS = {c[0]: c[1] for c in STATUS}
STATUS_TARGET = 0.98
STATUS_OPEN = env_num('BENCH_STATUS_OPEN', 1000 if QUICK else 10000, int)
STATUS_GETS = env_num('BENCH_STATUS_GETS', 20, int)
STATUS_MS = 50.0


def module_has(word):
    try:
        with open(NGX_WS_SO, 'rb') as f:
            return word.encode() in f.read()
    except (OSError, TypeError):
        return False


def status_get(port, query, accept=None):
    """One GET of the endpoint on a new connection: (ms, status, body)."""
    headers = {'Accept': accept} if accept else {}
    t0 = time.time()
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=10)
    try:
        conn.request('GET', '/ws-status' + query, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    return (time.time() - t0) * 1000.0, resp.status, body


def status_open_counts(json_body, prom_body):
    """connections_open summed over the zones, from either format."""
    j = None
    try:
        d = json.loads(json_body)
        j = sum(z.get('connections_open', 0)
                for z in (d.get('zones') or {}).values())
    except (ValueError, AttributeError):
        pass
    p = None
    m = re.findall(rb'^nginx_ws_connections_open(?:\{[^}]*\})? (\d+)',
                   prom_body, re.M)
    if m:
        p = sum(int(x) for x in m)
    return j, p


def run_status_answers():
    """STATUS_OPEN WebSockets held on two workers, then STATUS_GETS
    requests of each format, timed from the bench process."""
    c = STATUS[1]
    t = Nginx('status-open', STATUS_PORT, 'ngx_ws',
              NGX_WS_NGINX or STOCK_NGINX, [BACKEND_PORT], workers=2,
              extra=c[2], server_lines=c[3])
    if not t.start():
        log('    %s' % t.note)
        return None
    loads = []
    res = None
    try:
        half = STATUS_OPEN // 2
        for i, src in enumerate(('127.0.0.2+4', '127.0.0.6+4')):
            n = half if i == 0 else STATUS_OPEN - half
            loads.append(idle_hold(t.port, n, src, 'status-load%d' % i))
        est = 0
        for p, _ in loads:
            line = read_line_until(p, 'established', 180)
            if line:
                est += int(parse_kv(line)['conns'])
        time.sleep(1.5)
        times = {'json': [], 'prometheus': []}
        bodies = {}
        for _ in range(STATUS_GETS):
            for fmt, q in (('json', ''), ('prometheus', '?format=prometheus')):
                ms, st, body = status_get(t.port, q)
                if st != 200:
                    log('    status %s: HTTP %d' % (fmt, st))
                    return None
                times[fmt].append(ms)
                bodies[fmt] = body
        jo, po = status_open_counts(bodies['json'], bodies['prometheus'])
        res = {'open': STATUS_OPEN, 'established': est,
               'open_json': jo, 'open_prometheus': po,
               'json_bytes': len(bodies['json']),
               'prometheus_bytes': len(bodies['prometheus'])}
        for fmt, v in times.items():
            v.sort()
            res[fmt + '_ms'] = {'median': v[len(v) // 2], 'max': v[-1],
                                'n': len(v)}
    finally:
        for p, logf in loads:
            idle_finish(p, logf)
        t.stop()
    return res


def measure_status():
    """The status cell: REPEAT interleaved echo runs of each variant (one
    more not counted first), then the endpoint's answer times."""
    if 'status' in CFG['skip'] or 'ngx_ws' not in CFG['targets']:
        return None
    if NGX_WS_SO is None:
        return {'note': 'module not built'}
    if not module_has('ws_status_zone'):
        return {'note': 'the module has no ws_status'}
    wl = ECHO[0]
    names = [c[0] for c in STATUS]
    runs = {n: [] for n in names}
    load0 = os.getloadavg()[0]
    for rep in range(0, CFG['repeat'] + 1):
        k = rep % len(names)
        for c in STATUS[k:] + STATUS[:k]:
            log('[status %d/%d] %s' % (rep, CFG['repeat'], c[0])
                if rep else '[status] warmup: %s' % c[0])
            t = Nginx('status-' + c[0], STATUS_PORT, 'ngx_ws',
                      NGX_WS_NGINX or STOCK_NGINX, [BACKEND_PORT],
                      extra=c[2], server_lines=c[3])
            r = None
            if t.start():
                try:
                    r = run_echo(t, wl, rep)
                finally:
                    t.stop()
            else:
                log('    %s' % t.note)
            if r:
                log('    echo 64B: %.0f msg/s, proxy CPU %.2f us per msg'
                    % (r['msg_per_s'], r.get('cpu_us_per_msg', 0)))
            if rep:
                runs[c[0]].append(r)
            time.sleep(0.3)
            if rep == 0:
                break
    log('[status answers] %d WebSockets open, %d GETs of each format'
        % (STATUS_OPEN, STATUS_GETS))
    answers = run_status_answers()
    if answers:
        log('    JSON %.1f ms, Prometheus %.1f ms (medians); open: %s, %s'
            % (answers['json_ms']['median'],
               answers['prometheus_ms']['median'], answers['open_json'],
               answers['open_prometheus']))
    out = {'variants': names, 'runs': runs, 'answers': answers,
           'cells': {}}
    for n in names:
        cell = {}
        for field in ('msg_per_s', 'cpu_us_per_msg', 'proxy_cpu_pct',
                      'p99_us'):
            sm = summarize([r.get(field) if r else None for r in runs[n]])
            if sm:
                cell[field] = sm
        pairs = [r['msg_per_s'] / b['msg_per_s']
                 for r, b in zip(runs[n], runs['none'])
                 if r and b and b.get('msg_per_s')]
        if pairs:
            cell['ratio_runs'] = pairs
        cell['failed'] = sum(1 for r in runs[n] if r is None)
        out['cells'][n] = cell
    none = out['cells']['none']
    for n in names:
        cell = out['cells'][n]
        if 'msg_per_s' in cell and 'msg_per_s' in none:
            cell['ratio'] = (cell['msg_per_s']['median']
                             / none['msg_per_s']['median'])
        if 'cpu_us_per_msg' in cell and 'cpu_us_per_msg' in none:
            cell['cpu_ratio'] = (none['cpu_us_per_msg']['median']
                                 / cell['cpu_us_per_msg']['median'])
    out['complete'] = (not QUICK and answers is not None
                       and all(out['cells'][n]['failed'] == 0
                               for n in names))
    out['loadavg'] = [load0, os.getloadavg()[0]]
    return out


def status_verdicts(st):
    out = []
    if not st or 'cells' not in st:
        return out
    desc = ('64 B messages/s with ws_status configured >= %.2fx without'
            % STATUS_TARGET)
    c = st['cells'].get('status') or {}
    if c.get('ratio') is None:
        out.append((desc, '- (not measured)', 'SKIP'))
    else:
        ok = c['ratio'] >= STATUS_TARGET
        meas = '%.2fx' % c['ratio']
        verdict = 'PASS' if ok else 'FAIL'
        if c.get('cpu_ratio') is not None:
            meas += ', by CPU per message %.2fx' % c['cpu_ratio']
            if (c['cpu_ratio'] >= STATUS_TARGET) != ok:
                verdict = 'UNSURE'
        out.append((desc, meas, verdict))
    a = st.get('answers')
    desc = ('JSON and Prometheus answers with %d WebSockets open < %.0f ms'
            % (STATUS_OPEN, STATUS_MS))
    if a:
        worst = max(a['json_ms']['max'], a['prometheus_ms']['max'])
        right = (a['open_json'] == a['established']
                 and a['open_prometheus'] == a['established'])
        out.append((desc, 'JSON %.1f ms, Prometheus %.1f ms (medians of %d; '
                    'slowest %.1f ms); open %s and %s of %d' % (
                        a['json_ms']['median'], a['prometheus_ms']['median'],
                        a['json_ms']['n'], worst, a['open_json'],
                        a['open_prometheus'], a['established']),
                    'PASS' if worst < STATUS_MS and right else 'FAIL'))
    else:
        out.append((desc, '- (not measured)', 'SKIP'))
    return out


def status_markdown(st, verdicts, date):
    c = CFG
    lines = []
    lines.append('Run of %s%s, ngx_ws built from %s. The 64 B echo cell '
                 '(%d connections, %d in flight), median of %d run(s) per '
                 'variant, interleaved, %.0f s measured after %.1f s of '
                 'warmup; ± half the min-max range in percent of the '
                 'median.' % (date, ' (quick mode)' if QUICK else '',
                              module_revision(), ECHO[0][2], ECHO[0][3],
                              c['repeat'], c['duration'], c['warmup']))
    lines.append('')
    lines.append('| variant | messages/s | ratio (runs) | proxy CPU per '
                 'message | ratio by CPU | p99 latency |')
    lines.append('|---|---|---|---|---|---|')

    def pm(sm, unit):
        if not sm:
            return '-'
        txt = fmt_num(sm['median'], unit)
        if sm['n'] > 1:
            txt += ' ±%.0f%%' % sm['spread_pct']
        return txt

    for n in st['variants']:
        cell = st['cells'][n]
        ratio = '-'
        if cell.get('ratio') is not None:
            ratio = '%.2fx' % cell['ratio']
            rr = cell.get('ratio_runs') or []
            if len(rr) > 1 and n != 'none':
                ratio += ' (%.2f-%.2f)' % (min(rr), max(rr))
        cr = '%.2fx' % cell['cpu_ratio'] if cell.get('cpu_ratio') else '-'
        lines.append('| %s | %s | %s | %s | %s | %s |' % (
            STATUS_LABELS[n], pm(cell.get('msg_per_s'), 'msg'), ratio,
            pm(cell.get('cpu_us_per_msg'), 'us'), cr,
            pm(cell.get('p99_us'), 'us')))
    lines.append('')
    a = st.get('answers')
    if a:
        lines.append(
            'The endpoint with %d WebSockets open on two workers (%d '
            'established), %d GETs of each format on new connections from '
            'the bench: JSON %.1f ms median, %.1f ms slowest (%d bytes); '
            'Prometheus %.1f ms median, %.1f ms slowest (%d bytes); the '
            'open connections they report: %s and %s.' % (
                a['open'], a['established'], a['json_ms']['n'],
                a['json_ms']['median'], a['json_ms']['max'], a['json_bytes'],
                a['prometheus_ms']['median'], a['prometheus_ms']['max'],
                a['prometheus_bytes'], a['open_json'], a['open_prometheus']))
        lines.append('')
    lines.append('| target | measured | result |')
    lines.append('|---|---|---|')
    for desc, meas, verdict in verdicts:
        lines.append('| %s | %s | %s |' % (desc, meas, verdict))
    lines.append('')
    return lines


def publish_cell(name, title, cell, verdicts, markdown, data, revision):
    """A cell of its own (limits, status): results/NAME.json and its
    section of README.md when it is complete (or BENCH_PUBLISH says so),
    else results/raw/partial-NAME.*; returns its markdown lines."""
    if not cell or 'cells' not in cell:
        return None
    md = markdown(cell, verdicts, data['date'])
    pub = os.environ.get('BENCH_PUBLISH', '1' if cell['complete'] else '0')
    pub = pub not in ('', '0')
    d, stem = (RESULTS, name) if pub else (RAW, 'partial-' + name)
    with open(os.path.join(d, stem + '.json'), 'w') as f:
        json.dump(dict(cell, date=data['date'], machine=data['machine'],
                       revision=revision, settings=data['settings'],
                       targets=[{'target': t, 'measured': m, 'result': v}
                                for t, m, v in verdicts]),
                  f, indent=1, sort_keys=True)
    if pub:
        update_readme_section(name, title, md)
    else:
        with open(os.path.join(RAW, 'partial-%s.md' % name), 'w') as f:
            f.write('\n'.join(md) + '\n')
    return md


def update_readme_section(name, title, md_lines):
    path = os.path.join(BENCH, 'README.md')
    begin, end = '<!-- %s:begin -->' % name, '<!-- %s:end -->' % name
    with open(path) as f:
        text = f.read()
    if begin not in text or end not in text:
        text += '\n## %s\n\n%s\n%s\n' % (title, begin, end)
    a = text.index(begin) + len(begin)
    b = text.index(end)
    text = text[:a] + '\n' + '\n'.join(md_lines) + '\n' + text[b:]
    with open(path, 'w') as f:
        f.write(text)


def idle_hold(port, conns, src, name, timeout=180.0, cpu=LOAD_CPU,
              headers=()):
    """Starts a wsbench that opens and holds conns idle connections."""
    argv = niced(['taskset', '-c', cpu, WSBENCH, '-m', 'idle', '-p',
                  str(port), '-c', str(conns), '-d', '0', '-i', '512',
                  '-T', '60', '-b', src])
    for h in headers:
        argv += ['-H', h]
    logf = open(raw_path(name + '.log'), 'w')
    logf.write(' '.join(argv) + '\n')
    logf.flush()
    p = spawn(argv, stdout=subprocess.PIPE, stderr=logf)
    return p, logf


def idle_finish(p, logf):
    """Stops a holding wsbench; returns its RESULT fields."""
    if p.poll() is None:
        os.kill(p.pid, signal.SIGTERM)
    try:
        out, _ = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        stop(p)
        out = b''
    if p in children:
        children.remove(p)
    out = out.decode(errors='replace')
    logf.write(out)
    logf.close()
    for line in out.splitlines():
        if line.startswith('RESULT'):
            return parse_kv(line)
    return None


def run_idle(t, rep, conns=None, headers=()):
    workers = t.workers()
    if len(workers) != 1:
        return None
    pid = workers[0]
    n = conns or CFG['idle']
    before = rss_kib(pid)
    p, logf = idle_hold(t.port, n, '127.0.0.2+4',
                        'idle-%s-r%d' % (t.name, rep), headers=headers)
    t0 = time.time()
    line = read_line_until(p, 'established', 180)
    elapsed = time.time() - t0
    res = None
    if line:
        est = parse_kv(line)
        time.sleep(1.0)
        after = rss_kib(pid)
        res = {'established': int(est['conns']),
               'establish_s': round(elapsed, 2),
               'rss_before_kib': before, 'rss_after_kib': after}
    fin = idle_finish(p, logf)
    if res is None or fin is None:
        log('    idle %s: failed, see %s' % (t.name,
                                            raw_path('idle-%s-r%d.log'
                                                     % (t.name, rep))))
        return None
    res['dropped'] = int(fin.get('dropped', 0))
    if res['established'] < n or res['dropped']:
        log('    idle %s: %d of %d established, %d dropped'
            % (t.name, res['established'], n, res['dropped']))
        return None
    res['rss_per_conn'] = ((res['rss_after_kib'] - res['rss_before_kib'])
                           * 1024.0 / res['established'])
    return res


def run_big(rep, extra=None, window=0, kind=None, tag='big', settle=0):
    """ngx_ws (or BENCH_BIG_TARGET=nginx) holding idle_big connections with
    several nginx workers, load generators and backend processes.  extra:
    location directives; window: seconds over which the workers' CPU time
    is read, settle seconds after every connection is established (0:
    none)."""
    n = CFG['idle_big']
    nworkers = 16 if n > 50000 else 4
    nload = 8 if n > 50000 else 2
    nback = 8 if n > 50000 else 2
    backends = [BIG_BACKEND_PORT + i for i in range(8)]
    echo = spawn([WSECHO, '-p', '%d+8' % BIG_BACKEND_PORT,
                  '-w', str(nback)], cpu=LOAD_CPU,
                 stdout=subprocess.DEVNULL,
                 stderr=open(raw_path('%s-wsecho-r%d.log' % (tag, rep)),
                             'w'))
    kind = kind or CFG['big_target']
    # two connections per proxied one, room for an uneven spread over the
    # workers and for nginx's 1/16 rule; every slot costs memory at start
    per_worker = (n + nworkers - 1) // nworkers
    slots = min(21400, int(per_worker * 2 * 1.15) + 100)
    t = Nginx('big-' + kind, BIG_PORT, kind,
              NGX_WS_NGINX if kind == 'ngx_ws' else STOCK_NGINX, backends,
              workers=nworkers, reuseport=True, connections=slots,
              extra=extra, prefix_name=tag + '-' + kind)
    res = None
    loads = []
    try:
        if not wait_port(BIG_BACKEND_PORT + 7, echo):
            log('    big: backend did not start')
            return None
        if not t.start():
            log('    big: %s' % t.note)
            return None
        wpids = t.workers()
        before = sum(rss_kib(w) or 0 for w in wpids)
        per = n // nload
        t0 = time.time()
        for i in range(nload):
            cnt = per if i < nload - 1 else n - per * (nload - 1)
            src = '127.0.0.%d+2' % (20 + 2 * i)
            loads.append(idle_hold(BIG_PORT, cnt, src,
                                   '%s-load%d-r%d' % (tag, i, rep)))
        established = 0
        for p, _ in loads:
            line = read_line_until(p, 'established', 240)
            if line:
                established += int(parse_kv(line)['conns'])
        elapsed = time.time() - t0
        time.sleep(2.0)
        after = [rss_kib(w) or 0 for w in wpids]
        res = {'connections': n, 'established': established,
               'establish_s': round(elapsed, 2),
               'workers': len(wpids), 'worker_connections': slots,
               'rss_before_kib': before, 'rss_total_kib': sum(after),
               'rss_max_worker_kib': max(after) if after else 0}
        if window:
            time.sleep(settle)
            c0 = [cpu_seconds([w]) for w in wpids]
            t1 = time.time()
            time.sleep(window)
            wall = time.time() - t1
            used = [cpu_seconds([w]) - c for w, c in zip(wpids, c0)]
            res['window_s'] = round(wall, 1)
            res['cpu_pct_total'] = round(sum(used) / wall * 100.0, 2)
            res['cpu_pct_max_worker'] = round(max(used) / wall * 100.0, 2)
        dropped = 0
        pings = 0
        for p, logf in loads:
            fin = idle_finish(p, logf)
            dropped += int(fin.get('dropped', 0)) if fin else 0
            pings += int(fin.get('pings', 0)) if fin else 0
        loads = []
        res['dropped'] = dropped
        res['pings_answered'] = pings
        res['rss_per_conn'] = ((res['rss_total_kib'] - before) * 1024.0
                               / max(established, 1))
        if established < n:
            log('    big: only %d of %d established' % (established, n))
    finally:
        for p, logf in loads:
            idle_finish(p, logf)
        t.stop()
        stop(echo)
    return res


# ------------------------------------------------------------ instructions

def callgrind_total(path):
    total = None
    with open(path) as f:
        for line in f:
            if line.startswith('totals:') or line.startswith('summary:'):
                total = int(line.split()[1])
    return total


def callgrind_run(kind, msgs, tag):
    port = 19400 + (0 if kind == 'nginx' else 1)
    binary = STOCK_NGINX if kind == 'nginx' else NGX_WS_NGINX
    t = Nginx('cg-' + kind, port, kind, binary, [BACKEND_PORT])
    out = raw_path('callgrind.%s.%s.out' % (kind, tag))
    argv = (['valgrind', '--tool=callgrind', '--callgrind-out-file=' + out,
             '--toggle-collect=ngx_process_events_and_timers']
            + t.argv('daemon off; master_process off;'))
    errf = open(raw_path('callgrind.%s.%s.log' % (kind, tag)), 'w')
    p = spawn(argv, cpu=PROXY_CPU, stdout=errf, stderr=errf)
    try:
        if not wait_port(port, p, 60):
            return None
        res = wsbench(['-m', 'echo', '-p', str(port), '-c', '1', '-s', '64',
                       '-P', '1', '-n', str(msgs), '-w', '0', '-T', '30'],
                      'callgrind-%s-%s' % (kind, tag), 600)
        if res is None:
            return None
    finally:
        stop(p, wait=60)
    if not os.path.exists(out):
        return None
    return callgrind_total(out), out


def perf_works():
    """Whether perf counts instructions here (not on every virtual CPU)."""
    if not shutil.which('perf'):
        return False
    out = cmd_out(['perf', 'stat', '-x,', '-e', 'instructions:u', 'true'])
    for line in out.splitlines():
        f = line.split(',')
        if len(f) > 2 and 'instructions' in f[2]:
            return f[0].strip().isdigit()
    return False


def perf_run(kind, msgs):
    """Instructions of a pinned worker while msgs messages are relayed."""
    binary = STOCK_NGINX if kind == 'nginx' else NGX_WS_NGINX
    t = Nginx('perf-' + kind, 19400, kind, binary, [BACKEND_PORT])
    if not t.start():
        return None
    try:
        pid = t.workers()[0]
        outf = raw_path('perf.%s.txt' % kind)
        p = spawn(['perf', 'stat', '-x,', '-o', outf, '-e',
                   'instructions:u', '-p', str(pid)],
                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        res = wsbench(['-m', 'echo', '-p', str(t.port), '-c', '1', '-s',
                       '64', '-P', '1', '-n', str(msgs), '-w', '0', '-T',
                       '30'], 'perf-%s' % kind, 600)
        stop(p, sig=signal.SIGINT)
        if res is None:
            return None
        with open(outf) as f:
            for line in f:
                fl = line.split(',')
                if len(fl) > 2 and 'instructions' in fl[2]:
                    return int(fl[0]) / float(msgs)
    finally:
        t.stop()
    return None


def measure_instructions():
    """Instructions per relayed 64-byte message (user space): perf when
    the CPU counts instructions, callgrind otherwise."""
    if 'instr' in CFG['skip']:
        return {}, None
    m1 = CFG['instr_msgs']
    m2 = 3 * m1
    out = {}
    profile = None
    if perf_works():
        for kind in ('nginx', 'ngx_ws'):
            if kind == 'ngx_ws' and NGX_WS_SO is None:
                out[kind] = {'note': 'module not built'}
                continue
            if kind not in CFG['targets']:
                continue
            log('instructions (perf): %s' % kind)
            per = perf_run(kind, m2)
            if per is None:
                out[kind] = {'note': 'perf run failed'}
                continue
            out[kind] = {'instructions_per_msg': round(per),
                         'messages': m2, 'tool': 'perf'}
        return out, None
    if not shutil.which('valgrind'):
        return {}, None
    for kind in ('nginx', 'ngx_ws'):
        if kind == 'ngx_ws' and NGX_WS_SO is None:
            out[kind] = {'note': 'module not built'}
            continue
        if kind not in CFG['targets']:
            continue
        log('instructions: %s' % kind)
        a = callgrind_run(kind, m1, 'a')
        b = callgrind_run(kind, m2, 'b')
        if not a or not b or a[0] is None or b[0] is None:
            out[kind] = {'note': 'callgrind run failed'}
            continue
        per = (b[0] - a[0]) / float(m2 - m1)
        out[kind] = {'instructions_per_msg': round(per),
                     'messages': [m1, m2], 'totals': [a[0], b[0]],
                     'tool': 'callgrind'}
        log('    %s: %.0f instructions per message' % (kind, per))
        if kind == 'ngx_ws':
            profile = callgrind_profile(b[1], m2)
    return out, profile


def callgrind_profile(path, msgs):
    """The functions with the most instructions of their own: a list of
    (instructions per message, share, function), entries of one function
    merged."""
    if not shutil.which('callgrind_annotate'):
        return None
    txt = cmd_out(['callgrind_annotate', '--threshold=100', path])
    with open(raw_path('callgrind.ngx_ws.annotate.txt'), 'w') as f:
        f.write(txt)
    total = None
    funcs = {}
    for line in txt.splitlines():
        m = re.match(r'\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(.*)$', line)
        if not m:
            continue
        ir = int(m.group(1).replace(',', ''))
        rest = m.group(2).strip()
        if rest.startswith('PROGRAM TOTALS'):
            total = ir
            continue
        if rest.startswith('<') or ':' not in rest:
            continue
        fn = rest.split(':', 1)[1]
        fn = re.sub(r' \[[^\]]*\]$', '', fn).strip()
        funcs[fn] = funcs.get(fn, 0) + ir
    if not total:
        return None
    top = sorted(funcs.items(), key=lambda kv: -kv[1])[:15]
    return [('%.0f' % (ir / float(msgs)), '%.1f%%' % (ir * 100.0 / total),
             fn) for fn, ir in top]


# ------------------------------------------------------------ statistics

def summarize(values):
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    med = statistics.median(vals)
    spread = ((max(vals) - min(vals)) / 2.0 / med * 100.0) if med else 0.0
    return {'median': med, 'min': min(vals), 'max': max(vals),
            'spread_pct': round(spread, 1), 'n': len(vals),
            'values': vals}


# metric rows: key, label, cell, field, unit, higher is better
ROWS = [
    ('64B_msgs', '64 B echo, msg/s', 'echo-64B', 'msg_per_s', 'msg', True),
    ('64B_p50', '64 B p50 latency', 'echo-64B', 'p50_us', 'us', False),
    ('64B_p99', '64 B p99 latency', 'echo-64B', 'p99_us', 'us', False),
    ('64B_p999', '64 B p99.9 latency', 'echo-64B', 'p999_us', 'us', False),
    ('64B_cpu', '64 B proxy CPU per msg', 'echo-64B', 'cpu_us_per_msg',
     'us', False),
    ('64B_load', '64 B proxy CPU load', 'echo-64B', 'proxy_cpu_pct', 'pct',
     False),
    ('16KiB_mbs', '16 KiB echo, MB/s', 'echo-16KiB', 'mb_per_s', 'mb', True),
    ('16KiB_p99', '16 KiB p99 latency', 'echo-16KiB', 'p99_us', 'us', False),
    ('16KiB_cpu', '16 KiB proxy CPU per msg', 'echo-16KiB', 'cpu_us_per_msg',
     'us', False),
    ('1MiB_mbs', '1 MiB echo, MB/s', 'echo-1MiB', 'mb_per_s', 'mb', True),
    ('1MiB_p99', '1 MiB p99 latency', 'echo-1MiB', 'p99_us', 'us', False),
    ('1MiB_cpu', '1 MiB proxy CPU per msg', 'echo-1MiB', 'cpu_us_per_msg',
     'us', False),
    ('hs', 'handshakes/s', 'handshake', 'hs_per_s', 'hs', True),
    ('hs_cpu', 'proxy CPU per handshake', 'handshake', 'cpu_us_per_hs', 'us',
     False),
    ('idle_rss', 'idle RSS per connection', 'idle', 'rss_per_conn', 'bytes',
     False),
]


def fmt_num(v, unit):
    if v is None:
        return '-'
    if unit == 'us' and v < 10:
        return '%.2f us' % v
    if unit == 'us':
        if v >= 10000:
            return '%.1f ms' % (v / 1000.0)
        if v >= 1000:
            return '%.2f ms' % (v / 1000.0)
        return '%.0f us' % v
    if unit == 'pct':
        return '%.0f%%' % v
    if unit == 'bytes':
        return '%.1f KiB' % (v / 1024.0)
    if unit == 'mb':
        return '%.0f' % v if v >= 100 else '%.1f' % v
    if v >= 1e6:
        return '%.2fM' % (v / 1e6)
    if v >= 1e3:
        return '%.1fk' % (v / 1e3)
    return '%.0f' % v


def metric(summary, target, row):
    key, label, cell, field, unit, hib = row
    s = summary.get(target, {}).get(cell, {}).get(field)
    return s


def ratio(summary, target, row, ref='nginx'):
    a = metric(summary, target, row)
    b = metric(summary, ref, row)
    if not a or not b or not b['median']:
        return None
    return a['median'] / b['median']


def build_table(summary, targets):
    head = '| metric | ' + ' | '.join(LABELS[t] for t in targets) + ' |'
    sep = '|---|' + '---|' * len(targets)
    lines = [head, sep]
    for row in ROWS:
        cells = []
        for t in targets:
            s = metric(summary, t, row)
            if s is None:
                note = summary.get(t, {}).get('_note')
                cells.append('skipped' if note else '-')
                continue
            txt = fmt_num(s['median'], row[4])
            if s['n'] > 1:
                txt += ' ±%.0f%%' % s['spread_pct']
            r = ratio(summary, t, row)
            if r is not None and t != 'nginx':
                txt += ' (%.2fx)' % r
            cells.append(txt)
        lines.append('| %s | %s |' % (row[1], ' | '.join(cells)))
    return lines


def check_targets(summary, big, instr):
    """ngx_ws's acceptance targets: rows of (target, measured, verdict)."""
    out = []
    rows = {r[0]: r for r in ROWS}

    def med(t, key):
        s = metric(summary, t, rows[key])
        return s['median'] if s else None

    def cmp(desc, a, b, factor, op):
        if a is None or b is None:
            out.append((desc, '-', 'SKIP'))
            return
        r = a / b
        ok = r >= factor if op == '>=' else r <= factor
        out.append((desc, '%.2fx' % r, 'PASS' if ok else 'FAIL'))

    cmp('64 B msg/s >= 1.0x stock nginx', med('ngx_ws', '64B_msgs'),
        med('nginx', '64B_msgs'), 1.0, '>=')
    cmp('64 B p99 latency <= 1.1x stock nginx', med('ngx_ws', '64B_p99'),
        med('nginx', '64B_p99'), 1.1, '<=')
    for size in ('16KiB', '1MiB'):
        label = size.replace('KiB', ' KiB').replace('MiB', ' MiB')
        cmp('%s MB/s >= 1.5x stock nginx' % label,
            med('ngx_ws', size + '_mbs'), med('nginx', size + '_mbs'),
            1.5, '>=')
        cmp('%s MB/s >= HAProxy' % label, med('ngx_ws', size + '_mbs'),
            med('haproxy', size + '_mbs'), 1.0, '>=')
    for peer in ('lua', 'node'):
        for key, label in (('64B_msgs', '64 B'), ('16KiB_mbs', '16 KiB'),
                           ('1MiB_mbs', '1 MiB')):
            cmp('%s throughput >= 1.5x %s' % (label, LABELS[peer]),
                med('ngx_ws', key), med(peer, key), 1.5, '>=')
    rss = med('ngx_ws', 'idle_rss')
    if rss is None:
        out.append(('idle RSS per connection <= 9 KiB', '-', 'SKIP'))
    else:
        out.append(('idle RSS per connection <= 9 KiB',
                    '%.1f KiB' % (rss / 1024.0),
                    'PASS' if rss <= 9 * 1024 else 'FAIL'))
    if big and big.get('rss_total_kib'):
        tot = big['rss_total_kib'] * 1024.0
        ok = (tot < 1 << 30 and big['established'] >= 100000
              and not big.get('dropped'))
        verdict = 'PASS' if ok else 'FAIL'
        if big['connections'] < 100000 or CFG['big_target'] != 'ngx_ws':
            verdict = 'SKIP'
        out.append(('%d idle connections in < 1 GiB worker RSS'
                    % big['connections'],
                    '%.0f MiB, %d established' % (tot / 1048576.0,
                                                  big['established']),
                    verdict))
    else:
        out.append(('100k idle connections in < 1 GiB worker RSS', '-',
                    'SKIP'))
    cmp('handshakes/s >= 0.9x stock nginx', med('ngx_ws', 'hs'),
        med('nginx', 'hs'), 0.9, '>=')
    return out


# ------------------------------------------------------------ chart

CHART_ROWS = [
    ('64B_msgs', '64 B msg/s'),
    ('64B_p99', '64 B p99 (inv.)'),
    ('16KiB_mbs', '16 KiB MB/s'),
    ('1MiB_mbs', '1 MiB MB/s'),
    ('hs', 'handshakes/s'),
    ('idle_rss', 'idle RSS/conn (inv.)'),
]


def svg_chart(summary, targets, title):
    rows = {r[0]: r for r in ROWS}
    groups = []
    vmax = 1.0
    for key, label in CHART_ROWS:
        row = rows[key]
        bars = []
        for t in targets:
            r = ratio(summary, t, row)
            if r is not None and not row[5] and r > 0:
                r = 1.0 / r
            bars.append((t, r))
            if r is not None:
                vmax = max(vmax, r)
        groups.append((label, bars))
    cap = 4.0
    top = min(cap, max(1.5, (int(vmax * 2) + 1) / 2.0))

    W, H = 960, 440
    left, right, ptop, bottom = 60, 20, 50, 110
    pw, ph = W - left - right, H - ptop - bottom
    gw = pw / float(len(groups))
    bw = (gw * 0.8) / max(1, len(targets))

    def y(v):
        return ptop + ph - min(v, top) / top * ph

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
           'viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">'
           % (W, H, W, H),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>'
           % (left, esc(title))]
    step = 0.5 if top <= 2 else 1.0
    v = 0.0
    while v <= top + 1e-9:
        out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" '
                   'stroke="#e0e0e0"/>' % (left, W - right, y(v), y(v)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%.1fx</text>'
                   % (left - 6, y(v) + 4, v))
        v += step
    for gi, (label, bars) in enumerate(groups):
        gx = left + gi * gw + gw * 0.1
        for bi, (t, r) in enumerate(bars):
            x = gx + bi * bw
            if r is None:
                out.append('<text x="%.1f" y="%.1f" font-size="9" '
                           'text-anchor="middle" fill="#999">n/a</text>'
                           % (x + bw / 2, y(0) - 3))
                continue
            out.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" '
                       'fill="%s"><title>%s: %.2fx</title></rect>'
                       % (x, y(r), bw - 2, y(0) - y(r), COLORS[t],
                          LABELS[t], r))
            out.append('<text x="%.1f" y="%.1f" font-size="9" '
                       'text-anchor="middle">%.2f</text>'
                       % (x + bw / 2 - 1, y(r) - 3, r))
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>'
                   % (left + gi * gw + gw / 2, ptop + ph + 18, esc(label)))
    out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#333" '
               'stroke-dasharray="4 3"/>' % (left, W - right, y(1), y(1)))
    out.append('<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#333"/>'
               % (left, W - right, y(0), y(0)))
    lx = left
    ly = H - 50
    for t in targets:
        out.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"/>'
                   % (lx, ly, COLORS[t]))
        out.append('<text x="%d" y="%d">%s</text>' % (lx + 16, ly + 10,
                                                      esc(LABELS[t])))
        lx += 22 + 7 * len(LABELS[t])
    out.append('<text x="%d" y="%d" fill="#555">Ratio to stock nginx, '
               'higher is better (latency and memory inverted: nginx / '
               'proxy); bars clipped at %.1fx.</text>' % (left, H - 16, top))
    out.append('</svg>')
    return '\n'.join(out) + '\n'


def esc(s):
    return (s.replace('&', '&amp;').replace('<', '&lt;')
            .replace('>', '&gt;'))


# ------------------------------------------------------------ report

def size_label(name):
    """64B -> 64 B, 16KiB -> 16 KiB."""
    return re.sub(r'(\d)([KM]?i?B)', r'\1 \2', name)


def report_markdown(data, table, verdicts, instr, profile, big):
    m = data['machine']
    v = data['versions']
    c = data['settings']
    lines = []
    lines.append('Run of %s%s on %s (%d cores), %s, kernel %s.' % (
        data['date'], ' (quick mode)' if c['quick'] else '', m['cpu'],
        m['cores'], m['os'], m['kernel']))
    lines.append('')
    if v.get('ngx_ws_revision'):
        lines.append('ngx_ws: `%s` built from %s.' % (
            os.path.relpath(v['ngx_ws_module'], ROOT), v['ngx_ws_revision']))
        lines.append('')
    lines.append('Versions: stock nginx and ngx_ws run `%s` (nginx %s); '
                 'the Lua relay runs Debian\'s nginx %s with '
                 'libnginx-mod-http-lua %s and lua-nginx-websocket %s; '
                 'HAProxy %s; Node.js %s with ws %s.' % (
                     v['nginx_bin'], v['nginx'], v['debian_nginx'],
                     v['lua_module'], v['lua_websocket'], v['haproxy'],
                     v['node'], v['ws']))
    lines.append('')
    lines.append('Each cell: median of %d run(s), ± half the min-max range '
                 'in percent of the median, ratio to stock nginx in '
                 'parentheses. %.0f s measured per run after %.1f s of '
                 'warmup; %s frames. Proxies: one worker on CPU 0; load '
                 'generator and backend on CPU 1.'
                 % (c['repeat'], c['duration'], c['warmup'], c['frame']))
    lines.append('')
    lines.extend(table)
    lines.append('')
    echo = ', '.join('%s messages over %d connections (%d in flight each)'
                     % (size_label(n), cn, dp) for n, sz, cn, dp in ECHO)
    lines.append('Workloads: %s; handshakes: %d concurrent loops of '
                 'connect, upgrade, one 64 B message, close; idle: %d '
                 'connections, RSS from the worker\'s VmRSS before and '
                 'after.' % (echo, c['hs_conns'], c['idle']))
    lines.append('')
    lines.append('![ratio to stock nginx](results/latest.svg)')
    lines.append('')
    lines.append('### Targets (ngx_ws)')
    lines.append('')
    lines.append('| target | measured | result |')
    lines.append('|---|---|---|')
    for desc, meas, verdict in verdicts:
        lines.append('| %s | %s | %s |' % (desc, meas, verdict))
    lines.append('')
    if big:
        lines.append('Idle at scale (%s): %d connections over %d '
                     'workers (worker_connections %d), %d established in '
                     '%.1f s, total worker RSS '
                     '%.0f MiB (median of %d run(s), ±%.0f%%; %.0f MiB '
                     'before), %.2f KiB per connection, largest worker '
                     '%.0f MiB.' % (
                         LABELS[c['big_target']], big['connections'],
                         big['workers'], big['worker_connections'],
                         big['established'],
                         big['establish_s'], big['rss_total_kib'] / 1024.0,
                         len(big['runs']), big['rss_spread_pct'],
                         big['rss_before_kib'] / 1024.0,
                         big['rss_per_conn'] / 1024.0,
                         big['rss_max_worker_kib'] / 1024.0))
        lines.append('')
    if instr:
        parts = []
        for kind in ('nginx', 'ngx_ws'):
            i = instr.get(kind)
            if not i:
                continue
            if 'instructions_per_msg' in i:
                parts.append('%s %d' % (LABELS[kind],
                                        i['instructions_per_msg']))
            else:
                parts.append('%s: %s' % (LABELS[kind], i['note']))
        tools = set(i.get('tool') for i in instr.values() if i.get('tool'))
        lines.append('Instructions per relayed 64 B message (worker, user '
                     'space, %s, one connection with one message in flight, '
                     'so nothing is batched): %s.'
                     % ('/'.join(sorted(tools)) or 'not measured',
                        ', '.join(parts)))
        lines.append('')
    if profile:
        lines.append('<details><summary>ngx_ws worker profile '
                     '(callgrind, instructions of each function itself, '
                     'per message)</summary>')
        lines.append('')
        lines.append('| instructions | share | function |')
        lines.append('|---|---|---|')
        for ir, share, fn in profile:
            lines.append('| %s | %s | `%s` |' % (ir, share, fn))
        lines.append('')
        lines.append('</details>')
        lines.append('')
    notes = data.get('notes') or []
    if notes:
        lines.append('Notes: ' + '; '.join(notes) + '.')
        lines.append('')
    return lines


def update_readme(md_lines):
    path = os.path.join(BENCH, 'README.md')
    begin, end = '<!-- results:begin -->', '<!-- results:end -->'
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        text = '# ngx_ws benchmark\n\n%s\n%s\n' % (begin, end)
    if begin not in text or end not in text:
        text += '\n## Latest results\n\n%s\n%s\n' % (begin, end)
    a = text.index(begin) + len(begin)
    b = text.index(end)
    text = text[:a] + '\n' + '\n'.join(md_lines) + '\n' + text[b:]
    with open(path, 'w') as f:
        f.write(text)


# ------------------------------------------------------------ main

def start_backend():
    """The echo backend on BACKEND_PORT (CPU LOAD_CPU), or None."""
    backend = spawn([WSECHO, '-p', str(BACKEND_PORT)], cpu=LOAD_CPU,
                    stdout=subprocess.DEVNULL,
                    stderr=open(raw_path('wsecho.log'), 'w'))
    if not wait_port(BACKEND_PORT, backend):
        log('the echo backend did not start')
        return None
    return backend


def main():
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    atexit.register(cleanup)

    os.makedirs(RAW, exist_ok=True)
    os.makedirs(RUN, exist_ok=True)
    t_start = time.time()
    snapshot_module()
    revision = module_revision() if NGX_WS_SO else None

    targets = CFG['targets']
    notes = []
    load0 = os.getloadavg()
    if load0[0] > 0.5:
        notes.append('load average %.2f when the run started: other work '
                     'on the machine adds spread' % load0[0])
    log('ngx_ws benchmark: targets %s, repeat %d, %.1f s per cell%s'
        % (','.join(targets), CFG['repeat'], CFG['duration'],
           ', quick mode' if QUICK else ''))

    backend = start_backend()
    if backend is None:
        return 1

    results = {t: {} for t in targets}
    skipped = {}
    for t in targets:
        reason = make_target(t).available()
        if reason:
            skipped[t] = reason
            notes.append('%s skipped: %s' % (LABELS[t], reason))
            log('%s: skipped: %s' % (t, reason))

    # the cells run on every target; the others (checks, big, instr) below
    per_target = [c for c in ('idle', 'echo', 'handshake')
                  if c not in CFG['skip']]
    for rep in range(1, CFG['repeat'] + 1 if per_target else 1):
        for name in targets:
            if name in skipped:
                continue
            t = make_target(name)
            log('[%d/%d] %s' % (rep, CFG['repeat'], name))
            if not t.start():
                log('    %s' % t.note)
                results[name].setdefault('_errors', []).append(t.note)
                continue
            try:
                cells = results[name]
                if name != 'direct' and 'idle' not in CFG['skip']:
                    r = run_idle(t, rep)
                    cells.setdefault('idle', []).append(r)
                    if r:
                        log('    idle: %d conns in %.1f s, %.2f KiB/conn'
                            % (r['established'], r['establish_s'],
                               r['rss_per_conn'] / 1024.0))
                    time.sleep(1.0)
                for wl in ECHO:
                    if 'echo' in CFG['skip']:
                        break
                    r = run_echo(t, wl, rep)
                    cells.setdefault('echo-' + wl[0], []).append(r)
                    if r:
                        log('    echo %s: %.0f msg/s, %.1f MB/s, p99 %.0f us'
                            % (wl[0], r['msg_per_s'], r['mb_per_s'],
                               r['p99_us']))
                    time.sleep(0.3)
                if 'handshake' not in CFG['skip']:
                    r = run_handshake(t, rep)
                    cells.setdefault('handshake', []).append(r)
                    if r:
                        log('    handshakes: %.0f/s' % r['hs_per_s'])
            finally:
                t.stop()
            time.sleep(0.5)

    # summaries
    summary = {}
    for t in targets:
        summary[t] = {}
        if t in skipped:
            summary[t]['_note'] = skipped[t]
            continue
        for cell, runs in results[t].items():
            if cell.startswith('_'):
                continue
            fields = {}
            for r in runs:
                if r:
                    for k in r:
                        fields.setdefault(k, [])
            for k in fields:
                s = summarize([r.get(k) if r else None for r in runs])
                if s:
                    summary[t].setdefault(cell, {})[k] = s
            failed = sum(1 for r in runs if r is None)
            if failed:
                notes.append('%s %s: %d of %d runs failed' % (
                    LABELS[t], cell, failed, len(runs)))

    checks = measure_checks()
    checks_v = checks_verdicts(checks)
    if checks and checks.get('note'):
        notes.append('handshake checks skipped: %s' % checks['note'])

    limits = measure_limits()
    limits_v = limits_verdicts(limits)
    if limits and limits.get('note'):
        notes.append('limits cell skipped: %s' % limits['note'])

    status = measure_status()
    status_v = status_verdicts(status)
    if status and status.get('note'):
        notes.append('status cell skipped: %s' % status['note'])

    big = None
    if 'big' not in CFG['skip'] and 'ngx_ws' in targets:
        if NGX_WS_SO is None and CFG['big_target'] == 'ngx_ws':
            notes.append('%d idle connections on ngx_ws skipped: module not '
                         'built' % CFG['idle_big'])
        else:
            runs = []
            for rep in range(1, CFG['big_repeat'] + 1):
                log('[big %d/%d] %s, %d idle connections'
                    % (rep, CFG['big_repeat'], CFG['big_target'],
                       CFG['idle_big']))
                r = run_big(rep)
                if r:
                    log('    %d established in %.1f s, worker RSS %.0f MiB'
                        % (r['established'], r['establish_s'],
                           r['rss_total_kib'] / 1024.0))
                    runs.append(r)
            if runs:
                runs.sort(key=lambda r: r['rss_total_kib'])
                big = dict(runs[len(runs) // 2])
                big['runs'] = runs
                big['rss_spread_pct'] = summarize(
                    [r['rss_total_kib'] for r in runs])['spread_pct']

    instr, profile = measure_instructions()

    load1 = os.getloadavg()
    if load1[0] > 1.0:
        notes.append('load average %.2f when the run ended (the run itself '
                     'keeps it near 1)' % load1[0])

    versions = {
        'nginx_bin': STOCK_NGINX,
        'nginx': nginx_version(STOCK_NGINX),
        'debian_nginx': nginx_version(DEBIAN_NGINX),
        'lua_module': dpkg_version('libnginx-mod-http-lua'),
        'lua_websocket': dpkg_version('lua-nginx-websocket'),
        'haproxy': (re.search(r'version (\S+)', cmd_out(['haproxy', '-v']))
                    or re.search('(.*)', 'unknown')).group(1),
        'node': cmd_out(['node', '--version']),
        'ws': json.load(open('/usr/share/nodejs/ws/package.json'))['version']
        if os.path.exists('/usr/share/nodejs/ws/package.json') else 'unknown',
        'ngx_ws_module': NGX_WS_SO_BUILT,
        'ngx_ws_revision': revision,
    }

    table = build_table(summary, targets)
    verdicts = check_targets(summary, big, instr)
    data = {
        'date': datetime.datetime.now().strftime('%Y-%m-%d %H:%M'),
        'machine': machine_info(),
        'versions': versions,
        'settings': dict(CFG, echo=[list(w) for w in ECHO]),
        'summary': summary,
        'runs': results,
        'idle_100k': big,
        'instructions': instr,
        'targets': [{'target': d, 'measured': m, 'result': v}
                    for d, m, v in verdicts + checks_v + limits_v
                    + status_v],
        'checks': checks,
        'limits': limits,
        'status': status,
        'notes': notes,
        'elapsed_s': round(time.time() - t_start),
        'loadavg_start': load0,
        'loadavg_end': load1,
    }

    # only a complete run replaces the published results
    complete = (not QUICK and not CFG['skip'] and targets == TARGETS
                and CFG['big_target'] == 'ngx_ws')
    publish = os.environ.get('BENCH_PUBLISH', '1' if complete else '0')
    publish = publish not in ('', '0')
    outdir, stem = (RESULTS, 'latest') if publish else (RAW, 'partial')
    os.makedirs(outdir, exist_ok=True)
    json_path = os.path.join(outdir, stem + '.json')
    svg_path = os.path.join(outdir, stem + '.svg')
    with open(json_path, 'w') as f:
        json.dump(data, f, indent=1, sort_keys=True)
    chart_targets = [t for t in targets if t not in skipped]
    with open(svg_path, 'w') as f:
        f.write(svg_chart(summary, chart_targets,
                          'WebSocket proxies: ratio to stock nginx (%s)'
                          % data['date']))

    md = report_markdown(data, table, verdicts, instr, profile, big)
    if publish:
        update_readme(md)
    else:
        with open(os.path.join(RAW, 'partial.md'), 'w') as f:
            f.write('\n'.join(md) + '\n')

    # the checks cell publishes on its own (make checks) when it is
    # complete: every variant, not quick, no run failed
    checks_md = None
    if checks and 'cells' in checks:
        checks_md = checks_markdown(checks, checks_v, data['date'])
        cpub = os.environ.get('BENCH_PUBLISH',
                              '1' if checks['complete'] else '0')
        cpub = cpub not in ('', '0')
        cdir, cstem = (RESULTS, 'checks') if cpub else (RAW,
                                                         'partial-checks')
        with open(os.path.join(cdir, cstem + '.json'), 'w') as f:
            json.dump(dict(checks, date=data['date'],
                           machine=data['machine'], revision=revision,
                           settings=data['settings'],
                           targets=[{'target': d, 'measured': m,
                                     'result': v}
                                    for d, m, v in checks_v]),
                      f, indent=1, sort_keys=True)
        if cpub:
            update_readme_section('checks', 'Handshake checks: latest results',
                                  checks_md)
        else:
            with open(os.path.join(RAW, 'partial-checks.md'), 'w') as f:
                f.write('\n'.join(checks_md) + '\n')

    # the limits and status cells too (make limits, make status)
    limits_md = publish_cell('limits', 'Limits and timers: latest results',
                             limits, limits_v, limits_markdown, data,
                             revision)
    status_md = publish_cell('status', 'Metrics: latest results', status,
                             status_v, status_markdown, data, revision)

    if per_target or big or instr:
        print()
        print('\n'.join(table))
        print()
        print('| target (ngx_ws) | measured | result |')
        print('|---|---|---|')
        for desc, meas, verdict in verdicts:
            print('| %s | %s | %s |' % (desc, meas, verdict))
    print()
    if big:
        print('idle at scale: %d connections, %d established, total worker '
              'RSS %.0f MiB' % (big['connections'], big['established'],
                                big['rss_total_kib'] / 1024.0))
    for kind, i in (instr or {}).items():
        print('instructions per 64 B message, %s: %s' % (
            LABELS[kind], i.get('instructions_per_msg', i.get('note'))))
    if checks_md:
        print('handshake checks (ngx_ws):')
        print('\n'.join(checks_md))
    if limits_md:
        print('limits and timers (ngx_ws):')
        print('\n'.join(limits_md))
    if status_md:
        print('metrics (ngx_ws):')
        print('\n'.join(status_md))
    for n in notes:
        print('note: ' + n)
    print('results: %s, %s%s (%d s)' % (
        json_path, svg_path,
        '; README.md updated' if publish
        else ' (not a complete run: README.md and results/latest.* kept)',
        data['elapsed_s']))
    return 0


if __name__ == '__main__':
    sys.exit(main())
