package WsTest;

# Test harness for ngx_http_ws_module: runs a private nginx with the module,
# plays the WebSocket client and backend over loopback sockets, builds and
# parses frames byte by byte, and reads nginx's logs.
#
#   my $t = WsTest->new;                       # skip_all without the module
#   my $l = listener();                        # a backend socket in this process
#   $t->run(server => "location / { ws_pass http://127.0.0.1:" . $l->sockport . "; }");
#   my $p = $t->ws_pair($l);                   # client and backend, upgraded
#   send_all($p->{client}, cframe(1, 'hi'));
#   ...
#   $t->stop;                                  # checks error.log for alerts
#
# Sockets are non-blocking; every read and write has a timeout.

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use Digest::SHA qw(sha1);
use Errno qw(EAGAIN EWOULDBLOCK EINTR ECONNRESET EINPROGRESS);
use Exporter qw(import);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use MIME::Base64 qw(encode_base64 decode_base64);
use POSIX qw(WNOHANG _exit setsid);
use Socket qw(IPPROTO_TCP TCP_NODELAY MSG_PEEK SOL_SOCKET SO_RCVBUF SO_SNDBUF);
use Test::More;
use Time::HiRes qw(time sleep);

our @EXPORT = qw(
    listener free_port connect_to accept_conn
    send_all send_slowly read_exact read_avail read_until_eof expect_eof
    read_head parse_head hdr hdr_count read_response
    ws_key ws_accept handshake_request response_101
    frame cframe sframe close_payload mask_bytes parse_frames
    read_frame read_frames frame_ok
    pump hx bytes_is text_payload binary_payload
    spawn spawn_cmd run_cmd wait_port serve echo_backend fixed_backend
    read_file write_file rss_kb python_bin node_env peer_path
    masked_close_ok accept_any close_pair message_complete
    OP_CONT OP_TEXT OP_BINARY OP_CLOSE OP_PING OP_PONG
    GUID
);

use constant {
    OP_CONT   => 0x0,
    OP_TEXT   => 0x1,
    OP_BINARY => 0x2,
    OP_CLOSE  => 0x8,
    OP_PING   => 0x9,
    OP_PONG   => 0xa,
    GUID      => '258EAFA5-E914-47DA-95CA-C5AB0DC85B11',
};

$SIG{PIPE} = 'IGNORE';

my $T_DIR = abs_path(dirname(__FILE__) . '/..');
my @ALL;          # every WsTest object, stopped at END
my @SPAWNED;      # pids of helper processes forked by this test
my $MAIN_PID = $$;


# ---------------------------------------------------------------------------
# nginx instance

# Options: nginx => the binary (default $NGINX_BIN), load => the line that
# loads the module (default: load_module of $NGX_WS_MODULE).
sub new {
    my ($class, %opt) = @_;

    my $module = $ENV{NGX_WS_MODULE};
    if (!defined $module || $module eq '') {
        plan skip_all => 'NGX_WS_MODULE is not set (run "make test-prove" '
            . 'or source build/env.sh)';
    }
    if (!-f $module) {
        plan skip_all => "NGX_WS_MODULE=$module does not exist "
            . '(run "make module")';
    }
    my $nginx = $ENV{NGINX_BIN} || '/usr/sbin/nginx';
    if (!-x $nginx) {
        plan skip_all => "no nginx binary at $nginx";
    }

    make_path("$T_DIR/tmp");
    my $dir = tempdir('ws-XXXXXX', DIR => "$T_DIR/tmp",
        CLEANUP => 0);
    chmod 0755, $dir;

    my $self = bless {
        dir     => $dir,
        module  => abs_path($module),
        nginx   => $nginx,
        pid     => undef,
        port    => undef,
        mark    => 0,
        stopped => 1,
        %opt,
    }, $class;
    push @ALL, $self;
    return $self;
}

sub dir { $_[0]{dir} }
sub port { $_[0]{port} }
sub master_pid { $_[0]{pid} }

sub conf_text {
    my ($self, %c) = @_;
    my $dir = $self->{dir};
    my $port = $c{port} // $self->{port};
    my $user = $> == 0 ? "user root root;\n" : '';
    my $main = $c{main} // '';
    my $http = $c{http} // '';
    my $server = $c{server} // '';
    my $servers = $c{servers} // '';
    my $load = $self->{load} // qq{load_module "$self->{module}";};

    return <<"CONF";
$load
${user}daemon off;
master_process on;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log info;
worker_rlimit_core 512m;
working_directory $dir;
$main
events {
    worker_connections 1024;
}

http {
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;

    log_format ws 'ws uri=\$request_uri status=\$status code=\$ws_close_code '
                  'initiator=\$ws_close_initiator '
                  'frames_in=\$ws_frames_in bytes_in=\$ws_bytes_in '
                  'frames_out=\$ws_frames_out bytes_out=\$ws_bytes_out '
                  'duration=\$ws_duration upstream=\$upstream_addr '
                  'reject=\$ws_reject_reason pings=\$ws_pings '
                  'rtt=\$ws_ping_rtt';
    access_log $dir/access.log ws;

$http

    server {
        listen 127.0.0.1:$port;
        server_name localhost;

$server
    }

$servers
}
CONF
}

# Writes nginx.conf and starts nginx; waits until it accepts connections.
# Arguments: http => text in http{}, server => text in the server{},
# servers => more server{} blocks, main => text at the top level.
sub run {
    my ($self, %c) = @_;
    croak 'nginx is running' unless $self->{stopped};

    my $dir = $self->{dir};
    make_path("$dir/tmp");

    for my $attempt (1 .. 3) {
        $self->{port} = $c{port} // free_port();
        my $conf = $self->conf_text(%c);
        $self->{conf} = \%c;
        write_file("$dir/nginx.conf", $conf);

        my $pid = fork();
        croak "fork: $!" unless defined $pid;
        if ($pid == 0) {
            open STDOUT, '>>', "$dir/stdout.log";
            open STDERR, '>>', "$dir/stderr.log";
            $ENV{LD_PRELOAD} = $ENV{NGX_WS_PRELOAD}
                if defined $ENV{NGX_WS_PRELOAD} && $ENV{NGX_WS_PRELOAD} ne '';
            exec $self->{nginx}, '-p', "$dir/", '-c', "$dir/nginx.conf",
                '-e', "$dir/error.log"
                or _exit(127);
        }
        $self->{pid} = $pid;
        $self->{stopped} = 0;
        $self->{ran} = 1;

        my $deadline = time + 20;
        while (time < $deadline) {
            if (waitpid($pid, WNOHANG) == $pid) {
                $self->{stopped} = 1;
                $self->{pid} = undef;
                last;
            }
            my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                PeerPort => $self->{port}, Proto => 'tcp', Timeout => 1);
            if ($s) {
                close $s;
                $self->{worker} = undef;
                return $self;
            }
            sleep 0.02;
        }

        my $log = $self->error_log;
        if (!defined $c{port} && $self->{stopped}
            && $log =~ /Address already in use/)
        {
            unlink "$dir/error.log";
            next;
        }
        $self->_kill_nginx;
        croak "nginx did not start:\n" . $self->tail_log(20)
            . read_file("$dir/stderr.log");
    }
    croak 'nginx did not start: no free port';
}

# nginx -t with the given configuration; returns (exit code, output).
sub conf_test {
    my ($self, %c) = @_;
    my $dir = $self->{dir};
    make_path("$dir/tmp");
    $c{port} //= free_port();
    write_file("$dir/test.conf", $self->conf_text(%c));
    my ($rc, $out) = run_cmd(cmd => [$self->{nginx}, '-t', '-p', "$dir/",
        '-c', "$dir/test.conf", '-e', "$dir/test-error.log"],
        timeout => 30, preload => 1);
    return ($rc, $out);
}

sub worker_pid {
    my ($self) = @_;
    my $master = $self->{pid} or return;
    my $deadline = time + 5;
    while (time < $deadline) {
        for my $stat (glob '/proc/[0-9]*/stat') {
            open my $fh, '<', $stat or next;
            my $line = <$fh>;
            close $fh;
            next unless defined $line;
            next unless $line =~ /^(\d+) \(.*\) \S+ (\d+) /s;
            next unless $2 == $master;
            my $pid = $1;
            my $cmd = read_file("/proc/$pid/cmdline") // '';
            return $pid if $cmd =~ /worker process/;
        }
        sleep 0.05;
    }
    return;
}

# VmRSS of a process in KiB
sub rss_kb {
    my ($pid) = @_;
    my $status = read_file("/proc/$pid/status") // return;
    return $status =~ /^VmRSS:\s+(\d+)\s+kB/m ? $1 : undef;
}

sub _kill_nginx {
    my ($self) = @_;
    my $pid = $self->{pid} or return 'none';
    my $how = 'quit';
    kill 'QUIT', $pid;
    for my $sig (qw(TERM KILL)) {
        my $deadline = time + ($sig eq 'TERM' ? 5 : 5);
        while (time < $deadline) {
            if (waitpid($pid, WNOHANG) == $pid) {
                $self->{exit_status} = $?;
                $self->{pid} = undef;
                $self->{stopped} = 1;
                return $how;
            }
            sleep 0.02;
        }
        $how = lc $sig;
        kill $sig, $pid;
    }
    waitpid($pid, 0);
    $self->{exit_status} = $?;
    $self->{pid} = undef;
    $self->{stopped} = 1;
    return 'kill';
}

# Stops nginx (QUIT, then TERM and KILL) and checks its error log.
# Adds one test: no sanitizer report, alert, emerg or core dump.
sub stop {
    my ($self, %opt) = @_;
    return if $self->{checked} && !$self->{pid};
    my $how = $self->_kill_nginx;
    $self->{checked} = 1;
    my @bad = $self->bad_log_lines;
    my @cores = grep { -f } glob "$self->{dir}/core*";
    push @bad, "core dump: @cores" if @cores;
    push @bad, "nginx had to be killed with SIG" . uc $how if $how eq 'kill';
    ok(!@bad, 'nginx stopped; error log has no sanitizer report, alert or '
        . 'emerg') or diag(join "\n", @bad[0 .. ($#bad > 30 ? 30 : $#bad)]);
    $self->_cleanup unless @bad || $ENV{NGX_WS_KEEP};
    return;
}

sub bad_log_lines {
    my ($self) = @_;
    my @bad;
    for my $file ('error.log', 'stderr.log') {
        my $log = read_file("$self->{dir}/$file") // next;
        for my $line (split /\n/, $log) {
            push @bad, $line if $line =~ /AddressSanitizer|runtime error:|\[alert\]|\[emerg\]|LeakSanitizer/;
        }
    }
    return @bad;
}

sub _cleanup {
    my ($self) = @_;
    $self->{cleanup_ok} = 1;
}

sub error_log {
    my ($self) = @_;
    return read_file("$self->{dir}/error.log") // '';
}

sub tail_log {
    my ($self, $n) = @_;
    my @l = split /\n/, $self->error_log;
    @l = @l[-$n .. -1] if @l > $n;
    return join("\n", @l) . "\n";
}

# Remembers the error log's current end; log_line() searches after it.
sub mark {
    my ($self) = @_;
    $self->{mark} = length $self->error_log;
    $self->{access_mark} = scalar $self->access_entries;
    return $self->{mark};
}

sub _log_re {
    my ($level, $msg) = @_;
    my $lv = $level eq '*' ? '[a-z]+' : quotemeta $level;
    my $m = ref $msg ? $msg : quotemeta($msg) . '(?=,| while |$)';
    return qr/^\S+ \S+ \[$lv\] \d+#\d+: (?:\*\d+ )?$m/m;
}

# Waits up to $timeout seconds for an error log line at $level ('*': any)
# with the message $msg (exact text, or a regex) after the mark.
# Returns the line or undef.
sub log_line {
    my ($self, $level, $msg, $timeout) = @_;
    $timeout //= 5;
    my $re = _log_re($level, $msg);
    my $deadline = time + $timeout;
    while (1) {
        my $log = substr $self->error_log, $self->{mark};
        if ($log =~ /($re.*)$/m) {
            return $1;
        }
        return if time >= $deadline;
        sleep 0.05;
    }
}

# ok() for a log line
sub log_ok {
    my ($self, $level, $msg, $name) = @_;
    my $line = $self->log_line($level, $msg);
    ok(defined $line, $name // "error log: [$level] $msg")
        or diag("error log after mark:\n"
            . substr($self->error_log, $self->{mark}));
    return $line;
}

# No such line after the mark (checked now, without waiting).
sub log_not {
    my ($self, $level, $msg, $name) = @_;
    my $line = $self->log_line($level, $msg, 0);
    ok(!defined $line, $name // "error log: no [$level] $msg")
        or diag("found: $line");
}

# Access log lines as hashes (key=value fields)
sub access_entries {
    my ($self) = @_;
    my $log = read_file("$self->{dir}/access.log") // '';
    my @e;
    for my $line (split /\n/, $log) {
        next unless $line =~ s/^ws //;
        my %h = map { /^([a-z_]+)=(.*)$/ ? ($1, $2) : () } split / /, $line;
        $h{line} = $line;
        push @e, \%h;
    }
    return @e;
}

# Waits for the next access log entry after the mark whose uri matches;
# returns the hash or undef.
sub access_entry {
    my ($self, $uri, $timeout) = @_;
    $timeout //= 5;
    my $deadline = time + $timeout;
    while (1) {
        my @e = $self->access_entries;
        splice @e, 0, $self->{access_mark} // 0;
        for my $e (@e) {
            return $e if !defined $uri || $e->{uri} eq $uri;
        }
        return if time >= $deadline;
        sleep 0.05;
    }
}

sub client {
    my ($self, %opt) = @_;
    return connect_to($opt{port} // $self->{port});
}

# Connects a client, sends the handshake for $path and returns the client
# socket; the response is not read.
sub client_handshake {
    my ($self, %opt) = @_;
    my $c = $self->client;
    my $req = $opt{request} // handshake_request(%opt);
    send_all($c, $req . ($opt{after} // ''));
    return $c;
}

# A complete upgrade through nginx to a backend listening on $l in this
# process.  Options: path, headers (extra request header lines), key,
# response (the backend's answer as a string, or a sub taking the parsed
# request and returning it), resp_headers (extra 101 header lines),
# after (bytes the client sends together with the handshake),
# backend_after (bytes the backend sends together with its 101).
# Dies unless the client receives a 101.
# Returns { client, backend, request (parsed), response (parsed) }.
sub ws_pair {
    my ($self, $l, %opt) = @_;
    my $key = $opt{key} //= ws_key();
    my $c = $self->client_handshake(%opt);
    my $b = accept_conn($l, 10) or croak 'backend got no connection';
    my $rh = read_head($b, 10) or croak 'backend got no request head';
    my $req = parse_head($rh);
    my $resp = $opt{response};
    $resp = $resp->($req) if ref $resp eq 'CODE';
    $resp //= response_101(hdr($req, 'sec-websocket-key') // '',
        @{ $opt{resp_headers} // [] });
    send_all($b, $resp . ($opt{backend_after} // ''));
    my $head = read_head($c, 10) or croak 'client got no response head';
    my $res = parse_head($head);
    croak "client got no 101: $res->{line}" unless $res->{status} == 101;
    return { client => $c, backend => $b, request => $req, response => $res,
             key => $key };
}

# Test of a protocol violation.  Sets up a pair on listener $l, lets
# 'side' ('client' or 'upstream') send the frames in 'before' (valid, must
# arrive at the other side exactly), then 'bad' (and 'after', which must
# not arrive).  Checks: the other side gets exactly 'before' then the
# proxy's close (1001 to the backend, masked; 1011 to the client), the
# offender gets close 'code', the log line with 'reason', and both
# connections close after both sides replied with close frames (unless
# 'no_reply': then they close after ws_close_timeout).
# Options: name, path, before => [frames], bad, after, reason, code.
sub violation {
    my ($self, $l, %o) = @_;
    my $name = $o{name} // $o{reason};
    my $code = $o{code} // 1002;
    my $from_client = ($o{side} // 'client') eq 'client';
    $self->mark;
    my $p = $self->ws_pair($l, path => $o{path} // '/');
    my ($c, $b) = @$p{qw(client backend)};
    my ($off, $other) = $from_client ? ($c, $b) : ($b, $c);
    my $before = join '', @{ $o{before} // [] };
    my ($got) = pump(writes => [[$off, $before . $o{bad} . ($o{after} // '')]],
        reads => [[$other, length $before]], idle => 5);

    my $ok = 1;
    if (length $before) {
        $ok &= bytes_is($got->[0], $before,
            "$name: the frames before it were forwarded");
    }
    my $f = read_frame($other);
    if ($from_client) {
        $ok &= _masked_close_ok($f, 1001,
            "$name: backend got a masked close 1001");
    } else {
        $ok &= frame_ok($f, "\x88\x02\x03\xf3", "$name: client got close 1011");
    }
    my $g = read_frame($off);
    if ($from_client) {
        $ok &= frame_ok($g, "\x88\x02" . pack('n', $code),
            "$name: client got close $code");
    } else {
        $ok &= _masked_close_ok($g, $code,
            "$name: backend got a masked close $code");
    }
    my $msg = $from_client
        ? "ws: client sent invalid frame: $o{reason}, closing with $code"
        : "ws: upstream sent invalid frame: $o{reason}, closing with $code";
    $ok &= defined $self->log_ok($from_client ? 'info' : 'error', $msg,
        "$name: logged");

    unless ($o{no_reply}) {
        # the offender replies first
        my $cr = cframe(OP_CLOSE, close_payload($from_client ? $code : 1011));
        my $br = sframe(OP_CLOSE, close_payload($from_client ? 1001 : $code));
        if ($from_client) {
            send_all($c, $cr);
            Time::HiRes::sleep(0.02);
            send_all($b, $br);
        } else {
            send_all($b, $br);
            Time::HiRes::sleep(0.02);
            send_all($c, $cr);
        }
    }
    $ok &= expect_eof($c, "$name: client connection closed", 10);
    $ok &= expect_eof($b, "$name: backend connection closed", 10);
    close $c;
    close $b;
    return $ok;
}

# Test: $f is a masked close frame with $code and no reason (FIN set, no
# RSV bits, 2-byte payload).
sub _masked_close_ok {
    my ($f, $code, $name) = @_;
    my $ok = !$f->{error} && $f->{fin} && !$f->{rsv}
        && $f->{opcode} == OP_CLOSE && $f->{masked} && $f->{len} == 2
        && $f->{hlen} == 6 && $f->{payload} eq pack('n', $code);
    ok($ok, $name) or diag('got ' . ($f->{error} // 'frame') . ': '
        . hx($f->{raw}) . ($f->{payload} ? ' payload ' . hx($f->{payload})
        : ''));
    return $ok;
}

sub masked_close_ok { _masked_close_ok(@_) }

# Accepts a connection on any of the listeners; returns (socket, index).
sub accept_any {
    my ($ls, $timeout) = @_;
    my $sel = IO::Select->new(@$ls);
    my @r = $sel->can_read($timeout // 5) or return;
    for my $i (0 .. $#$ls) {
        next unless $ls->[$i] == $r[0];
        my $s = $ls->[$i]->accept or return;
        return (_prepare($s), $i);
    }
    return;
}

# Does the close handshake from the client side and waits for both EOFs
# (no test output); used to end a pair cleanly.
sub close_pair {
    my ($p, $code) = @_;
    my ($c, $b) = @$p{qw(client backend)};
    send_all($c, cframe(OP_CLOSE, close_payload($code // 1000)));
    my $f = read_frame($b, 5);
    send_all($b, sframe(OP_CLOSE, close_payload($code // 1000)));
    read_frame($c, 5);
    read_until_eof($c, 5);
    read_until_eof($b, 5);
    close $c;
    close $b;
}

sub END {
    return unless $$ == $MAIN_PID;
    my $status = $?;
    for my $t (@ALL) {
        $t->_kill_nginx if $t->{pid};
    }
    for my $pid (@SPAWNED) {
        kill 'TERM', -$pid;
        kill 'TERM', $pid;
    }
    for my $pid (@SPAWNED) {
        my $deadline = time + 3;
        while (time < $deadline && waitpid($pid, WNOHANG) == 0) {
            sleep 0.02;
        }
        if (waitpid($pid, WNOHANG) == 0) {
            kill 'KILL', -$pid;
            kill 'KILL', $pid;
            waitpid($pid, 0);
        }
    }
    my $tb = Test::More->builder;
    if ($tb->is_passing && !$ENV{NGX_WS_KEEP}) {
        for my $t (@ALL) {
            remove_tree($t->{dir})
                if ($t->{cleanup_ok} || !$t->{ran}) && !$t->{pid};
        }
    }
    $? = $status;
}


# ---------------------------------------------------------------------------
# backends in helper processes

# A WebSocket echo server in a helper process (one process per connection).
# Echoes data frames as they come (same FIN and opcode, unmasked), answers
# pings with pongs, answers a close with the same close payload.
# Options: record => file (request heads are appended to it),
# resp_headers => [extra 101 header lines].  Returns the port.
sub echo_backend {
    my (%o) = @_;
    return serve(%o, handler => \&_echo_conn);
}

sub _echo_conn {
    my ($s, %o) = @_;
    my $head = read_head($s, 30) or return;
    my $req = parse_head($head);
    _record($o{record}, $head) if $o{record};
    my $key = hdr($req, 'sec-websocket-key') // '';
    send_all($s, response_101($key, @{ $o{resp_headers} // [] }));
    while (1) {
        my $f = read_frame($s, 300);
        return if $f->{error};
        my $op = $f->{opcode};
        if ($op == OP_CLOSE) {
            send_all($s, sframe(OP_CLOSE, $f->{payload}));
            read_until_eof($s, 5);
            return;
        }
        if ($op == OP_PING) {
            send_all($s, sframe(OP_PONG, $f->{payload}), 60);
            next;
        }
        next if $op == OP_PONG;
        send_all($s, frame(fin => $f->{fin}, opcode => $op,
            payload => $f->{payload}), 60);
    }
}

# A server answering every connection with fixed bytes after the request
# head.  Options: response => bytes or sub(parsed request) returning bytes,
# record => file, linger => seconds to keep reading after the answer
# (what arrives is recorded too, after a line "--after--").
sub fixed_backend {
    my (%o) = @_;
    return serve(%o, handler => sub {
        my ($s, %o) = @_;
        my $head = read_head($s, 30) or return;
        _record($o{record}, $head) if $o{record};
        my $r = $o{response};
        $r = $r->(parse_head($head)) if ref $r eq 'CODE';
        send_all($s, $r);
        if ($o{linger}) {
            my ($d) = read_avail($s, $o{linger});
            _record($o{record}, "--after--" . $d . "--end--\n")
                if $o{record};
        }
    });
}

# A server in a helper process: handler => sub ($socket, %o) runs for each
# connection in a process of its own.  Returns the port.
sub serve {
    my (%o) = @_;
    my $l = listener(port => $o{port});
    my $port = $l->sockport;
    spawn(sub {
        $SIG{CHLD} = 'IGNORE';
        while (1) {
            my $s = $l->accept or next;
            my $pid = fork;
            if (!defined $pid) {
                close $s;
                next;
            }
            if ($pid == 0) {
                close $l;
                _prepare($s);
                eval { $o{handler}->($s, %o) };
                close $s;
                _exit(0);
            }
            close $s;
        }
    });
    close $l;
    return $port;
}

sub _record {
    my ($file, $data) = @_;
    open my $fh, '>>:raw', $file or return;
    print {$fh} $data;
    close $fh;
}

# External peers (python3 websockets, node ws): paths and availability.
sub python_bin { '/usr/bin/python3' }

sub have_python_websockets {
    my ($rc) = run_cmd(cmd => [python_bin(), '-c', 'import websockets'],
        timeout => 30);
    return $rc == 0;
}

sub node_env {
    my $np = join ':', grep { defined && $_ ne '' }
        $ENV{NODE_PATH}, '/usr/share/nodejs', '/usr/lib/nodejs';
    return { NODE_PATH => $np };
}

sub have_node_ws {
    my ($rc) = run_cmd(cmd => ['node', '-e', 'require("ws")'],
        env => node_env(), timeout => 30);
    return $rc == 0;
}

sub peer_path {
    my ($name) = @_;
    return "$T_DIR/peers/$name";
}

# Starts an external server on a free port and waits until it listens.
# cmd => [program and arguments]; the string PORT in them is replaced.
sub start_peer {
    my ($self, %o) = @_;
    my $port = free_port();
    my @cmd = map { s/\bPORT\b/$port/gr } @{ $o{cmd} };
    my $log = "$self->{dir}/" . ($o{name} // 'peer') . ".log";
    spawn_cmd(cmd => \@cmd, log => $log, env => $o{env});
    wait_port($port, 20) or croak "peer @cmd did not start:\n"
        . (read_file($log) // '');
    return $port;
}


# ---------------------------------------------------------------------------
# files and processes

sub read_file {
    my ($f) = @_;
    open my $fh, '<:raw', $f or return;
    local $/;
    my $d = <$fh>;
    close $fh;
    return $d // '';
}

sub write_file {
    my ($f, $d) = @_;
    open my $fh, '>:raw', $f or croak "$f: $!";
    print {$fh} $d;
    close $fh or croak "$f: $!";
}

# Forks a helper running $code; it is killed at the end of the test.
sub spawn {
    my ($code) = @_;
    my $pid = fork();
    croak "fork: $!" unless defined $pid;
    if ($pid == 0) {
        setsid();
        $SIG{TERM} = 'DEFAULT';
        eval { $code->() };
        print STDERR "helper $$: $@" if $@;
        _exit($@ ? 1 : 0);
    }
    push @SPAWNED, $pid;
    return $pid;
}

# Starts an external program in the background (killed at the end);
# options: cmd => [...], log => file for stdout and stderr, env => {...}.
sub spawn_cmd {
    my (%o) = @_;
    my $pid = fork();
    croak "fork: $!" unless defined $pid;
    if ($pid == 0) {
        setsid();
        if ($o{log}) {
            open STDOUT, '>>', $o{log};
            open STDERR, '>&', \*STDOUT;
        }
        open STDIN, '<', '/dev/null';
        %ENV = (%ENV, %{ $o{env} // {} });
        exec @{ $o{cmd} }
            or _exit(127);
    }
    push @SPAWNED, $pid;
    return $pid;
}

# Runs a program to its end (at most timeout seconds); returns
# (exit status, output).  The exit status is -1 on timeout.
sub run_cmd {
    my (%o) = @_;
    my $out = File::Temp->new(DIR => "$T_DIR/tmp", TEMPLATE => 'out-XXXXXX');
    my $pid = fork();
    croak "fork: $!" unless defined $pid;
    if ($pid == 0) {
        setsid();
        open STDOUT, '>', $out->filename;
        open STDERR, '>&', \*STDOUT;
        open STDIN, '<', '/dev/null';
        %ENV = (%ENV, %{ $o{env} // {} });
        $ENV{LD_PRELOAD} = $ENV{NGX_WS_PRELOAD}
            if $o{preload} && $ENV{NGX_WS_PRELOAD};
        exec @{ $o{cmd} }
            or _exit(127);
    }
    my $deadline = time + ($o{timeout} // 60);
    my $rc;
    while (1) {
        if (waitpid($pid, WNOHANG) == $pid) {
            $rc = $? >> 8;
            last;
        }
        if (time >= $deadline) {
            kill 'KILL', -$pid;
            kill 'KILL', $pid;
            waitpid($pid, 0);
            $rc = -1;
            last;
        }
        sleep 0.02;
    }
    return ($rc, read_file($out->filename) // '');
}

# Waits until something accepts connections on 127.0.0.1:$port.
sub wait_port {
    my ($port, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    while (time < $deadline) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $port, Proto => 'tcp', Timeout => 1);
        if ($s) {
            close $s;
            return 1;
        }
        sleep 0.05;
    }
    return 0;
}


# ---------------------------------------------------------------------------
# sockets

# A port that is free now and stays free: taken below the kernel's
# ephemeral range, so that no outgoing connection (of this test, or of
# another suite running beside it) gets it as its source port before the
# server that was given it binds it.
my %given_ports;

sub free_port {
    my ($low) = (read_file('/proc/sys/net/ipv4/ip_local_port_range') // '')
        =~ /^\s*(\d+)/;
    $low = 32768 unless $low && $low > 12000;
    for (1 .. 200) {
        my $port = 10000 + int(rand($low - 10000));
        next if $given_ports{$port};
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
            LocalPort => $port, Proto => 'tcp', Listen => 1, ReuseAddr => 1)
            or next;
        close $s;
        $given_ports{$port} = 1;
        return $port;
    }
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
        Proto => 'tcp', Listen => 1, ReuseAddr => 1)
        or croak "bind: $!";
    my $port = $s->sockport;
    close $s;
    return $port;
}

# A listening socket on a free loopback port (port: ->sockport).
sub listener {
    my (%o) = @_;
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
        LocalPort => $o{port} // 0, Proto => 'tcp', Listen => 128,
        ReuseAddr => 1)
        or croak "listen: $!";
    return $s;
}

sub _prepare {
    my ($s) = @_;
    $s->blocking(0);
    setsockopt($s, IPPROTO_TCP, TCP_NODELAY, 1);
    binmode $s;
    return $s;
}

sub connect_to {
    my ($port, %o) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
        Proto => 'tcp', Timeout => 5)
        or croak "connect to 127.0.0.1:$port: $!";
    setsockopt($s, SOL_SOCKET, SO_RCVBUF, $o{rcvbuf}) if $o{rcvbuf};
    return _prepare($s);
}

# Accepts a connection within $timeout seconds; undef if none came.
sub accept_conn {
    my ($l, $timeout) = @_;
    my $sel = IO::Select->new($l);
    return unless $sel->can_read($timeout // 5);
    my $s = $l->accept or return;
    return _prepare($s);
}

sub _wait {
    my ($s, $write, $deadline) = @_;
    my $left = $deadline - time;
    return 0 if $left <= 0;
    my $sel = IO::Select->new($s);
    my @r = $write ? $sel->can_write($left) : $sel->can_read($left);
    return scalar @r;
}

# Writes all of $data; returns the number of bytes written (less on error
# or timeout).
sub send_all {
    my ($s, $data, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    my $off = 0;
    my $len = length $data;
    while ($off < $len) {
        my $n = syswrite($s, $data, $len - $off, $off);
        if (defined $n) {
            $off += $n;
            next;
        }
        next if $! == EINTR;
        return $off unless $! == EAGAIN || $! == EWOULDBLOCK;
        return $off unless _wait($s, 1, $deadline);
    }
    return $off;
}

# Sends $data in pieces of $chunk bytes with a pause between them.
sub send_slowly {
    my ($s, $data, $chunk, $pause) = @_;
    $chunk ||= 1;
    $pause //= 0.002;
    my $sent = 0;
    for (my $i = 0; $i < length $data; $i += $chunk) {
        my $n = send_all($s, substr($data, $i, $chunk));
        $sent += $n;
        return $sent if $n < length substr($data, $i, $chunk);
        sleep $pause if $pause && $i + $chunk < length $data;
    }
    return $sent;
}

# Reads exactly $n bytes.  Returns ($data, $status): status is 'ok',
# 'eof', 'reset' or 'timeout' (then $data is what arrived).
sub read_exact {
    my ($s, $n, $timeout, $deadline) = @_;
    $deadline //= time + ($timeout // 5);
    my $buf = '';
    while (length $buf < $n) {
        my $r = sysread($s, $buf, $n - length $buf, length $buf);
        if (defined $r) {
            return ($buf, 'eof') if $r == 0;
            next;
        }
        next if $! == EINTR;
        return ($buf, 'reset') if $! == ECONNRESET;
        return ($buf, "error: $!") unless $! == EAGAIN || $! == EWOULDBLOCK;
        return ($buf, 'timeout') unless _wait($s, 0, $deadline);
    }
    return ($buf, 'ok');
}

# Reads what arrives within $timeout seconds (at most $max bytes);
# returns ($data, $status) with status 'eof', 'reset' or 'timeout'.
sub read_avail {
    my ($s, $timeout, $max) = @_;
    my $deadline = time + ($timeout // 0.2);
    $max //= 1 << 30;
    my $buf = '';
    while (length $buf < $max) {
        my $r = sysread($s, $buf, 65536, length $buf);
        if (defined $r) {
            return ($buf, 'eof') if $r == 0;
            next;
        }
        next if $! == EINTR;
        return ($buf, 'reset') if $! == ECONNRESET;
        return ($buf, "error: $!") unless $! == EAGAIN || $! == EWOULDBLOCK;
        return ($buf, 'timeout') unless _wait($s, 0, $deadline);
    }
    return ($buf, 'max');
}

# Reads until EOF; returns ($data, $status).
sub read_until_eof {
    my ($s, $timeout) = @_;
    return read_avail($s, $timeout // 5);
}

# Test: nothing more arrives and the connection is closed (clean EOF).
sub expect_eof {
    my ($s, $name, $timeout) = @_;
    my ($d, $st) = read_until_eof($s, $timeout // 5);
    my $ok = ok($st eq 'eof' && $d eq '', $name // 'connection closed');
    diag("got $st after " . length($d) . ' bytes: ' . hx($d)) unless $ok;
    return $ok;
}

# Reads an HTTP head up to and including the empty line, leaving the bytes
# after it in the socket.  Returns undef on EOF or timeout.
sub read_head {
    my ($s, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    my $seen = -1;
    while (1) {
        my $peek = '';
        my $r = recv($s, $peek, 65536, MSG_PEEK);
        if (defined $r && length $peek) {
            my $i = index $peek, "\r\n\r\n";
            if ($i >= 0) {
                my ($head) = read_exact($s, $i + 4, 5);
                return $head;
            }
            if (length $peek == $seen) {
                return if time >= $deadline;
                sleep 0.005;
                next;
            }
            $seen = length $peek;
            next;
        }
        return if defined $r;                        # EOF
        return unless $! == EAGAIN || $! == EWOULDBLOCK || $! == EINTR;
        return unless _wait($s, 0, $deadline);
        # readable with nothing to peek means EOF
        $r = recv($s, $peek, 1, MSG_PEEK);
        return if defined $r && $peek eq '';
    }
}

# Parses a request or response head into
# { line, status | method uri version, headers => [[name, value]...] }.
sub parse_head {
    my ($head) = @_;
    return unless defined $head;
    my @lines = split /\r\n/, $head;
    my $first = shift @lines // '';
    my $h = { line => $first, headers => [], raw => $head };
    if ($first =~ m{^(HTTP/\d\.\d) (\d{3})(?: (.*))?$}) {
        @$h{qw(version status reason)} = ($1, $2, $3 // '');
    } elsif ($first =~ m{^(\S+) (\S+) (HTTP/\d\.\d)$}) {
        @$h{qw(method uri version)} = ($1, $2, $3);
        $h->{status} = 0;
    } else {
        $h->{status} = 0;
    }
    for my $l (@lines) {
        next if $l eq '';
        my ($n, $v) = $l =~ /^([^:]+):[ \t]*(.*?)[ \t]*$/ or next;
        push @{ $h->{headers} }, [$n, $v];
    }
    return $h;
}

# All values of a header joined with ", "; undef when absent.
sub hdr {
    my ($h, $name) = @_;
    my @v = map { $_->[1] } grep { lc $_->[0] eq lc $name } @{ $h->{headers} };
    return @v ? join(', ', @v) : undef;
}

sub hdr_count {
    my ($h, $name) = @_;
    return scalar grep { lc $_->[0] eq lc $name } @{ $h->{headers} };
}

# Reads a whole HTTP response: head, then the body by Content-Length,
# chunked encoding, or up to EOF.  Returns the parsed head with body
# (decoded), raw_body and complete (1 when the body was framed and read
# fully, or ended by EOF).
sub read_response {
    my ($s, $timeout, %o) = @_;
    $timeout //= 10;
    my $head = read_head($s, $timeout) or return;
    my $r = parse_head($head);
    my $deadline = time + $timeout;
    my $st = $r->{status};
    if ($st < 200 || $st == 204 || $st == 304 || $o{head}) {
        $r->{body} = '';
        $r->{complete} = 1;
        return $r;
    }
    my $te = hdr($r, 'transfer-encoding');
    my $cl = hdr($r, 'content-length');
    if (defined $te && $te =~ /chunked/i) {
        my ($raw, $body) = ('', '');
        while (1) {
            my $line = '';
            while ($line !~ /\r\n$/) {
                my ($c, $rs) = read_exact($s, 1, 0, $deadline);
                $line .= $c;
                return { %$r, body => $body, raw_body => $raw . $line,
                         complete => 0 } unless $rs eq 'ok';
            }
            $raw .= $line;
            my ($size) = $line =~ /^([0-9a-fA-F]+)/;
            $size = hex($size // 0);
            if ($size == 0) {
                # trailer up to the empty line
                my $t = '';
                while ($t !~ /(?:^|\r\n)\r\n$/) {
                    my ($c, $rs) = read_exact($s, 1, 0, $deadline);
                    $t .= $c;
                    last unless $rs eq 'ok';
                }
                $raw .= $t;
                return { %$r, body => $body, raw_body => $raw,
                         complete => 1 };
            }
            my ($d, $rs) = read_exact($s, $size + 2, 0, $deadline);
            $raw .= $d;
            $body .= substr $d, 0, $size;
            return { %$r, body => $body, raw_body => $raw, complete => 0 }
                unless $rs eq 'ok';
        }
    }
    if (defined $cl) {
        my ($d, $rs) = read_exact($s, $cl, 0, $deadline);
        return { %$r, body => $d, raw_body => $d, complete => $rs eq 'ok' };
    }
    my ($d, $rs) = read_until_eof($s, $timeout);
    return { %$r, body => $d, raw_body => $d, complete => $rs eq 'eof',
             eof => $rs eq 'eof' };
}


# ---------------------------------------------------------------------------
# handshake

sub ws_key {
    return encode_base64(join('', map { chr int rand 256 } 1 .. 16), '');
}

sub ws_accept {
    my ($key) = @_;
    return encode_base64(sha1($key . GUID), '');
}

# The client's handshake.  Options: path ('/'), key, version (13),
# host ('localhost'), method ('GET'), proto ('HTTP/1.1'),
# upgrade ('websocket'), connection ('Upgrade'), headers (extra lines),
# no => [names of default headers to leave out], body.
sub handshake_request {
    my (%o) = @_;
    my %no = map { lc($_) => 1 } @{ $o{no} // [] };
    my @h;
    push @h, 'Host: ' . ($o{host} // 'localhost') unless $no{host};
    push @h, 'Upgrade: ' . ($o{upgrade} // 'websocket') unless $no{upgrade};
    push @h, 'Connection: ' . ($o{connection} // 'Upgrade')
        unless $no{connection};
    push @h, 'Sec-WebSocket-Key: ' . ($o{key} // ws_key())
        unless $no{'sec-websocket-key'};
    push @h, 'Sec-WebSocket-Version: ' . ($o{version} // 13)
        unless $no{'sec-websocket-version'};
    push @h, @{ $o{headers} // [] };
    return sprintf("%s %s %s\r\n", $o{method} // 'GET', $o{path} // '/',
        $o{proto} // 'HTTP/1.1')
        . join('', map { "$_\r\n" } @h) . "\r\n" . ($o{body} // '');
}

# A backend's 101 for $key, with extra header lines.
sub response_101 {
    my ($key, @extra) = @_;
    return "HTTP/1.1 101 Switching Protocols\r\n"
        . "Upgrade: websocket\r\n"
        . "Connection: Upgrade\r\n"
        . 'Sec-WebSocket-Accept: ' . ws_accept($key) . "\r\n"
        . join('', map { "$_\r\n" } @extra) . "\r\n";
}


# ---------------------------------------------------------------------------
# frames

sub mask_bytes {
    my ($data, $key) = @_;
    return '' if $data eq '';
    my $n = length $data;
    my $k = $key x (int($n / 4) + 1);
    return $data ^ substr($k, 0, $n);
}

# Builds a frame.  Options: fin (1), rsv (0..7), opcode (1), payload (''),
# mask (0: none, 1: random key, or a 4-byte key), len (declared payload
# length, default the real one), enc (length encoding: 7, 16 or 64;
# default the minimal one), raw_len (bytes of the extended length as is).
sub frame {
    my (%o) = @_;
    my $fin = $o{fin} // 1;
    my $rsv = $o{rsv} // 0;
    my $op = $o{opcode} // OP_TEXT;
    my $payload = $o{payload} // '';
    my $len = $o{len} // length $payload;
    my $key = $o{mask} // 0;
    $key = pack('N', int rand 4294967296) if $key && length $key != 4;
    my $mbit = $key ? 0x80 : 0;

    my $h = chr((($fin ? 1 : 0) << 7) | (($rsv & 7) << 4) | ($op & 0xf));
    my $enc = $o{enc} // ($len < 126 ? 7 : $len < 65536 ? 16 : 64);
    if (defined $o{raw_len}) {
        $h .= chr($mbit | (length $o{raw_len} == 2 ? 126 : 127))
            . $o{raw_len};
    } elsif ($enc == 7) {
        $h .= chr($mbit | $len);
    } elsif ($enc == 16) {
        $h .= chr($mbit | 126) . pack('n', $len);
    } else {
        $h .= chr($mbit | 127) . pack('Q>', $len);
    }
    return $h . ($key ? $key . mask_bytes($payload, $key) : $payload);
}

# a client frame (masked with a random key): cframe(opcode, payload, %opt)
sub cframe {
    my ($op, $payload, %o) = @_;
    return frame(opcode => $op, payload => $payload, mask => 1, %o);
}

# a server frame (unmasked)
sub sframe {
    my ($op, $payload, %o) = @_;
    return frame(opcode => $op, payload => $payload, mask => 0, %o);
}

sub close_payload {
    my ($code, $reason) = @_;
    return '' unless defined $code;
    return pack('n', $code) . ($reason // '');
}

# Parses one frame at offset $pos (default 0) of $buf; returns the frame
# hash and the number of bytes it took, or nothing when $buf holds no
# complete frame there.
sub _parse_one {
    my ($buf, $pos) = @_;
    $pos //= 0;
    my $avail = length($buf) - $pos;
    return if $avail < 2;
    my ($b0, $b1) = unpack 'C2', substr $buf, $pos, 2;
    my $f = {
        fin => $b0 >> 7, rsv => ($b0 >> 4) & 7, opcode => $b0 & 0xf,
        masked => $b1 >> 7,
    };
    my $len = $b1 & 0x7f;
    my $off = 2;
    if ($len == 126) {
        return if $avail < 4;
        $len = unpack 'n', substr $buf, $pos + 2, 2;
        $off = 4;
    } elsif ($len == 127) {
        return if $avail < 10;
        $len = unpack 'Q>', substr $buf, $pos + 2, 8;
        $off = 10;
    }
    if ($f->{masked}) {
        return if $avail < $off + 4;
        $f->{key} = substr $buf, $pos + $off, 4;
        $off += 4;
    }
    return if $avail < $off + $len;
    $f->{len} = $len;
    $f->{hlen} = $off;
    my $p = substr $buf, $pos + $off, $len;
    $f->{wire_payload} = $p;
    $f->{payload} = $f->{masked} ? mask_bytes($p, $f->{key}) : $p;
    $f->{raw} = substr $buf, $pos, $off + $len;
    if ($f->{opcode} == OP_CLOSE && $len >= 2) {
        $f->{code} = unpack 'n', $f->{payload};
        $f->{reason} = substr $f->{payload}, 2;
    }
    return ($f, $off + $len);
}

# Splits a byte string into frames; returns (list of frames, rest).
sub parse_frames {
    my ($buf) = @_;
    my @f;
    my $pos = 0;
    while (1) {
        my ($f, $n) = _parse_one($buf, $pos);
        last unless $f;
        push @f, $f;
        $pos += $n;
    }
    return (\@f, substr $buf, $pos);
}

# 1 if $buf holds complete frames up to the end of a data message
# (a data frame with FIN).
sub message_complete {
    my ($buf) = @_;
    my ($f) = parse_frames($buf);
    return scalar grep { $_->{fin} && $_->{opcode} < 8 } @$f;
}

# Reads one frame.  Returns the frame hash ({fin rsv opcode masked key len
# payload (unmasked) raw code reason}); on EOF, reset or timeout before a
# whole frame: { error => status, raw => bytes read }.
sub read_frame {
    my ($s, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    my ($buf, $st) = read_exact($s, 2, 0, $deadline);
    return { error => $st, raw => $buf } unless $st eq 'ok';
    my $b1 = ord substr $buf, 1, 1;
    my $need = ($b1 & 0x7f) == 126 ? 2 : ($b1 & 0x7f) == 127 ? 8 : 0;
    $need += 4 if $b1 & 0x80;
    if ($need) {
        my ($d, $st2) = read_exact($s, $need, 0, $deadline);
        $buf .= $d;
        return { error => $st2, raw => $buf } unless $st2 eq 'ok';
    }
    my $len = $b1 & 0x7f;
    if ($len == 126) {
        $len = unpack 'n', substr $buf, 2, 2;
    } elsif ($len == 127) {
        $len = unpack 'Q>', substr $buf, 2, 8;
    }
    if ($len) {
        return { error => 'too long', raw => $buf } if $len > (1 << 40);
        my ($d, $st2) = read_exact($s, $len, 0, $deadline);
        $buf .= $d;
        return { error => $st2, raw => $buf } unless $st2 eq 'ok';
    }
    my ($f) = _parse_one($buf);
    return $f;
}

# Reads $n frames (stops at the first error); returns a list.
sub read_frames {
    my ($s, $n, $timeout) = @_;
    my @f;
    my $deadline = time + ($timeout // 5);
    for (1 .. $n) {
        my $f = read_frame($s, $deadline - time);
        push @f, $f;
        last if $f->{error};
    }
    return @f;
}

# Test: $f is a frame whose raw bytes are $raw.
sub frame_ok {
    my ($f, $raw, $name) = @_;
    if ($f->{error}) {
        fail($name);
        diag("no frame: $f->{error} after " . length($f->{raw}) . ' bytes: '
            . hx($f->{raw}) . "\nexpected: " . hx($raw));
        return 0;
    }
    return bytes_is($f->{raw}, $raw, $name);
}

# Pumps data between sockets concurrently.  writes => [[sock, data]...],
# reads => [[sock, bytes]...]: reads until that many bytes or EOF, or
# until => sub (data read so far) returns true.
# Stops when everything is done or nothing moved for idle seconds.
# Returns (arrayref of read data, 1 if all was done).
sub pump {
    my (%o) = @_;
    my @w = map { { s => $_->[0], d => $_->[1], off => 0 } }
        @{ $o{writes} // [] };
    my @r = map { { s => $_->[0], n => $_->[1], d => '', eof => 0 } }
        @{ $o{reads} // [] };
    my $idle = $o{idle} // 10;
    my $last = time;
    while (1) {
        my @pw = grep { $_->{off} < length $_->{d} && !$_->{dead} } @w;
        my @pr = grep { length $_->{d} < $_->{n} && !$_->{eof}
            && !$_->{done} } @r;
        last unless @pw || @pr;
        return ([map { $_->{d} } @r], 0) if time - $last > $idle;
        my $rs = IO::Select->new(map { $_->{s} } @pr);
        my $ws = IO::Select->new(map { $_->{s} } @pw);
        my ($cr, $cw) = IO::Select->select($rs, $ws, undef, 0.5);
        my %cr = map { $_ => 1 } @{ $cr // [] };
        my %cw = map { $_ => 1 } @{ $cw // [] };
        for my $x (@pw) {
            next unless $cw{ $x->{s} };
            my $n = syswrite($x->{s}, $x->{d},
                length($x->{d}) - $x->{off} > 262144
                    ? 262144 : length($x->{d}) - $x->{off}, $x->{off});
            if (defined $n) {
                $x->{off} += $n;
                $last = time if $n;
            } elsif ($! != EAGAIN && $! != EWOULDBLOCK && $! != EINTR) {
                $x->{dead} = 1;
            }
        }
        for my $x (@pr) {
            next unless $cr{ $x->{s} };
            my $want = $x->{n} - length $x->{d};
            $want = 262144 if $want > 262144;
            my $n = sysread($x->{s}, $x->{d}, $want, length $x->{d});
            if (defined $n) {
                if ($n == 0) {
                    $x->{eof} = 1;
                } else {
                    $last = time;
                    $x->{done} = 1 if $o{until} && $o{until}->($x->{d});
                }
            } elsif ($! != EAGAIN && $! != EWOULDBLOCK && $! != EINTR) {
                $x->{eof} = 1;
            }
        }
    }
    my $done = !grep({ $_->{off} < length $_->{d} } @w)
        && !grep({ length $_->{d} < $_->{n} && !$_->{done} } @r);
    return ([map { $_->{d} } @r], $done ? 1 : 0);
}


# ---------------------------------------------------------------------------
# data and comparisons

sub hx {
    my ($d, $max) = @_;
    return '(undef)' unless defined $d;
    $max //= 96;
    my $more = length($d) > $max ? ' ... (' . length($d) . ' bytes)' : '';
    return join(' ', unpack('(H2)*', substr $d, 0, $max)) . $more;
}

# Test: byte strings are equal; on failure shows lengths and the first
# difference in hex.
sub bytes_is {
    my ($got, $exp, $name) = @_;
    if (defined $got && defined $exp && $got eq $exp) {
        pass($name);
        return 1;
    }
    fail($name);
    if (!defined $got || !defined $exp) {
        diag('got ' . hx($got) . "\nexpected " . hx($exp));
        return 0;
    }
    my $i = 0;
    my $n = length($got) < length($exp) ? length $got : length $exp;
    if ($n && substr($got, 0, $n) ne substr($exp, 0, $n)) {
        my $step = 4096;
        while ($step >= 1) {
            $i += $step while $i + $step <= $n
                && substr($got, $i, $step) eq substr($exp, $i, $step);
            $step = int($step / 2);
        }
    } else {
        $i = $n;
    }
    my $from = $i > 8 ? $i - 8 : 0;
    diag(sprintf("got %d bytes, expected %d; first difference at %d\n"
        . "got      [%d..]: %s\nexpected [%d..]: %s",
        length $got, length $exp, $i, $from, hx(substr($got, $from), 40),
        $from, hx(substr($exp, $from), 40)));
    return 0;
}

# Valid UTF-8 of exactly $n bytes mixing 1- to 4-byte characters.
sub text_payload {
    my ($n, $seed) = @_;
    my @chars = ("a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80", "Z",
        "\xd0\x96", " ", "\xe6\x97\xa5", "\xf4\x8f\xbf\xbf", "0");
    my @seq = map { $chars[(($seed // 0) + $_ * 7) % @chars] } 0 .. 63;
    my $block = join '', @seq;
    my $s = $block x int($n / length $block);
    my $rest = $n - length $s;
    for my $c (@seq) {
        last if length $c > $rest;
        $s .= $c;
        $rest -= length $c;
    }
    return $s . ('x' x $rest);
}

# Binary data of $n bytes (all byte values, not a short period).
sub binary_payload {
    my ($n, $seed) = @_;
    $seed //= 1;
    my $block = join '', map { chr(($_ * 131 + $seed * 17 + ($_ >> 8)) & 255) }
        0 .. 4093;
    my $s = $block x (int($n / length $block) + 1);
    return substr $s, 0, $n;
}

1;
