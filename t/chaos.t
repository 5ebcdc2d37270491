# Chaos: for a bounded time, many clients and backends at once (plain and
# TLS on both sides) doing unusual things drawn at random from a seed
# (t/peers/chaos.py), through nginx with two workers and two reloads during
# the run.  Afterwards every connection is accounted for: stub_status is
# back to its baseline, every worker is alive, no descriptor leaked, every
# WebSocket a client saw upgraded wrote its access log line, and each echo
# exchange through an echo backend got its messages back byte-exact.
#
#   CHAOS_SEED=N      replay a run (the seed is printed at the start)
#   CHAOS_DURATION=S  seconds of chaos (default 25)
#   CHAOS_CLIENTS=N   concurrent clients (default 40)
#   CHAOS_RELOADS=N   reloads during the run (default 2)
#
# scripts/chaos.sh runs it for long against the sanitizer build.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP qw(decode_json);
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(time sleep);
use WsTest;

# WsTest's configuration with two workers
package ChaosTest {
    our @ISA = ('WsTest');

    sub conf_text {
        my $text = WsTest::conf_text(@_);
        $text =~ s/^worker_processes 1;$/worker_processes 2;/m
            or die 'no worker_processes line';
        return $text;
    }
}

my $t = ChaosTest->new;
my ($orc) = run_cmd(cmd => ['openssl', 'version']);
plan skip_all => 'openssl not found' unless $orc == 0;

my $seed = $ENV{CHAOS_SEED} // int(rand(2**31));
my $duration = $ENV{CHAOS_DURATION} // 25;
my $clients = $ENV{CHAOS_CLIENTS} // 40;
my $reloads = $ENV{CHAOS_RELOADS} // 2;
diag("chaos seed $seed ($clients clients, ${duration} s, $reloads reloads); "
    . "replay with CHAOS_SEED=$seed");
srand($seed);

my $dir = $t->dir;
diag("chaos dir $dir");
my ($rc, $out) = run_cmd(cmd => ['openssl', 'req', '-x509', '-newkey', 'ec',
    '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-subj', '/CN=localhost', '-days', '2',
    '-addext', 'subjectAltName=DNS:localhost',
    '-keyout', "$dir/chaos.key", '-out', "$dir/chaos.crt"], timeout => 60);
is($rc, 0, 'self-signed certificate made') or diag($out);

my @plain = map { free_port() } 1 .. 3;
my @tls = map { free_port() } 1 .. 2;
my $dead = free_port();        # nothing listens there
my $tls_port = free_port();

my $plain_servers = join '',
    map { "        server 127.0.0.1:$_ max_fails=0;\n" } @plain;
my $tls_servers = join '',
    map { "        server 127.0.0.1:$_ max_fails=0;\n" } @tls;

my $locations = <<"LOC";
        location /ws/ {
            ws_pass http://127.0.0.1:$plain[0];
        }
        location /up/ {
            ws_pass http://chaos_plain;
        }
        location /tls/ {
            ws_pass wss://chaos_tls;
        }
        location = /status {
            stub_status;
        }
LOC

$t->run(http => <<"HTTP", server => $locations, servers => <<"SERVERS");
    ws_close_timeout 2s;
    ws_send_timeout 3s;
    ws_max_frame_size 64k;
    ws_connect_timeout 2s;
    ws_handshake_timeout 3s;
    ws_next_upstream error timeout invalid_header;

    upstream chaos_plain {
        server 127.0.0.1:$dead;
$plain_servers    }

    upstream chaos_tls {
$tls_servers    }
HTTP
    server {
        listen 127.0.0.1:$tls_port ssl;
        server_name localhost;
        ssl_certificate $dir/chaos.crt;
        ssl_certificate_key $dir/chaos.key;

$locations
    }
SERVERS

# the worker processes of the master: pid => title
sub workers {
    my $master = $t->master_pid or return {};
    my %w;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my $line = read_file($stat) // next;
        next unless $line =~ /^(\d+) \(.*\) \S+ (\d+) /s;
        my ($pid, $ppid) = ($1, $2);
        next unless $ppid == $master;
        my $cmd = read_file("/proc/$pid/cmdline") // '';
        next unless $cmd =~ /worker process/;
        $cmd =~ s/\0+$//;
        $cmd =~ s/\0/ /g;
        $w{$pid} = $cmd;
    }
    return \%w;
}

sub fds {
    my ($pid) = @_;
    opendir my $d, "/proc/$pid/fd" or return;
    my $n = grep { !/^\./ } readdir $d;
    closedir $d;
    return $n;
}

sub status {
    my $c = eval { $t->client } or return;
    send_all($c, "GET /status HTTP/1.1\r\nHost: localhost\r\n"
        . "Connection: close\r\n\r\n");
    my ($d) = read_until_eof($c, 5);
    close $c;
    return $d =~ /Active connections: (\d+)/ ? $1 : undef;
}

# two workers, idle
my $w0;
my $deadline = time + 10;
while (time < $deadline) {
    $w0 = workers();
    last if keys %$w0 == 2;
    sleep 0.05;
}
is(scalar keys %$w0, 2, 'two workers');
my %fd0 = map { $_ => fds($_) } keys %$w0;
my ($fd_base) = sort { $b <=> $a } grep { defined } values %fd0;
is(status(), 1, 'stub_status: 1 active connection before the chaos');

# the chaos, with reloads at random moments (one in each of $reloads equal
# slots of the run)
my $sum = "$dir/chaos.json";
my $pid = spawn_cmd(log => "$dir/chaos.log", cmd => [python_bin(),
    peer_path('chaos.py'), '--port', $t->port, '--tls-port', $tls_port,
    '--backends', join(',', @plain), '--tls-backends', join(',', @tls),
    '--cert', "$dir/chaos.crt", '--key', "$dir/chaos.key",
    '--clients', $clients, '--duration', $duration, '--seed', $seed,
    '--summary', $sum, '--trace', "$dir/chaos-trace.jsonl"]);
my $t0 = time;
my $slot = $reloads ? ($duration - 4) / $reloads : 0;
my @reload_at = map { 2 + $_ * $slot + rand(0.8 * $slot) } 0 .. $reloads - 1;
my @hup;
my $exit;
while (1) {
    if (waitpid($pid, WNOHANG) == $pid) {
        $exit = $? >> 8;
        last;
    }
    if (@reload_at && time - $t0 >= $reload_at[0]) {
        shift @reload_at;
        kill 'HUP', $t->master_pid;
        push @hup, time;
        note(sprintf 'reload at %.1f s', time - $t0);
    }
    last if time - $t0 > $duration + 40;
    sleep 0.05;
}
is(scalar @hup, $reloads, "$reloads reloads during the run");
is($exit, 0, 'chaos.py ended without harness errors')
    or diag(read_file("$dir/chaos.log"));

my $s = eval { decode_json(read_file($sum) // '') } // {};
note(read_file($sum) // 'no summary');
cmp_ok($s->{started} // 0, '>', 0, 'clients ran');
is($s->{finished}, $s->{started}, 'every client ended (none hung)');
is($s->{echo}{fail} // 0, 0, 'echo clients through echo backends got '
    . 'byte-exact echoes') or diag(join "\n", @{ $s->{echo_failures} // [] });
cmp_ok($s->{echo}{ok} // 0, '>', 0, 'some echo exchanges completed');
my @late = grep { my $at = $_; !grep { $at >= $_ && $at <= $_ + 6 } @hup }
    @{ $s->{interrupted_at} // [] };
is(scalar @late, 0, 'echoes cut by close 1001 were all cut by a reload')
    or diag("cut at @late, reloads at @hup");
diag(sprintf 'chaos: %d clients in %s s, %d upgraded, echo %s',
    $s->{started} // 0, $s->{elapsed} // '?', $s->{saw_101} // 0,
    join(' ', map { "$_=$s->{echo}{$_}" } sort keys %{ $s->{echo} // {} }));

# every connection accounted for
my $active;
$deadline = time + 15;
while (time < $deadline) {
    $active = status();
    last if defined $active && $active == 1;
    sleep 0.2;
}
is($active, 1, 'stub_status: back to 1 active connection');

my $w1;
$deadline = time + 10;
while (time < $deadline) {
    $w1 = workers();
    last if keys %$w1 == 2 && !grep { /shutting down/ } values %$w1;
    sleep 0.1;
}
is(scalar keys %$w1, 2, 'two workers after the reloads, none shutting down')
    or diag(join "\n", map { "$_ $w1->{$_}" } sort keys %$w1);
my %fd1 = map { $_ => fds($_) } keys %$w1;
diag('fds of the workers: before ' . join(', ', map { "$_=$fd0{$_}" }
    sort keys %fd0) . '; after ' . join(', ', map { "$_=$fd1{$_}" }
    sort keys %fd1));
for my $w (sort keys %fd1) {
    cmp_ok($fd1{$w} // 999, '<=', $fd_base + 5,
        "worker $w: $fd1{$w} fds, at most 5 more than $fd_base at the start");
}

# the URIs are unique (/LOCATION/BEHAVIOUR/CLIENT-ID)
my @e = grep { $_->{status} eq '101' } $t->access_entries;
my %logged = map { $_->{uri} => 1 } @e;
my @trace = map { decode_json($_) } grep { /^\{/ }
    split /\n/, read_file("$dir/chaos-trace.jsonl") // '';
my @up = grep { $_->{upgraded} } @trace;
my @unlogged = grep { !$logged{ $_->{path} } } @up;
is(scalar @unlogged, 0, 'every WebSocket a client saw upgraded ('
    . scalar(@up) . ') wrote its access log line')
    or diag(join "\n", map { "no access log line: $_->{path} ($_->{kind}, "
        . "tls=$_->{tls}, $_->{outcome}, from $_->{start} to $_->{end})" }
        @unlogged[0 .. ($#unlogged > 9 ? 9 : $#unlogged)]);
cmp_ok(scalar @e, '<=', $s->{backend_sent_101} // 0,
    'no more 101 lines than backends sent 101s');

my $log = $t->error_log;
my @signal = $log =~ /^(.*exited on signal.*)$/mg;
is(scalar @signal, 0, 'no worker exited on a signal') or diag("@signal");
my @alert = $log =~ /^(.*\[alert\].*)$/mg;
is(scalar @alert, 0, 'no [alert] in the error log')
    or diag(join "\n", @alert[0 .. ($#alert > 20 ? 20 : $#alert)]);
my @crit = $log =~ /^(.*\[crit\].*)$/mg;
is(scalar @crit, 0, 'no [crit] in the error log')
    or diag(join "\n", @crit[0 .. ($#crit > 20 ? 20 : $#crit)]);

$t->stop;

# Found by the chaos (a handshake in flight across a reload), kept as a
# fixed case: the backend's 101 arrives after the worker began its graceful
# shutdown.  The WebSocket is then closed as every other one on shutdown:
# close 1001 to both sides, its access log line written, both connections
# closed, no socket left open when the worker exits.
{
    my $u = WsTest->new;
    my $l = listener();
    $u->run(http => "    ws_close_timeout 2s;\n", server => '        '
        . 'location / { ws_pass http://127.0.0.1:' . $l->sockport . '; }');
    my $key = ws_key();
    my $c = $u->client_handshake(path => '/late-101', key => $key);
    my $b = accept_conn($l, 10);
    my $req = $b && parse_head(read_head($b, 10) // '');
    kill 'HUP', $u->master_pid;
    $u->log_line('notice', 'gracefully shutting down', 10);
    send_all($b, response_101(hdr($req, 'sec-websocket-key') // ''))
        if $b;
    my $r = parse_head(read_head($c, 10) // '');
    is($r && $r->{status}, 101, 'late 101: passed to the client');
    frame_ok(read_frame($c, 5), "\x88\x02\x03\xe9",
        'late 101: the client gets close 1001');
    masked_close_ok(read_frame($b, 5), 1001,
        'late 101: the backend gets a masked close 1001');
    send_all($c, cframe(OP_CLOSE, close_payload(1001)));
    send_all($b, sframe(OP_CLOSE, close_payload(1001))) if $b;
    expect_eof($c, 'late 101: client connection closed');
    expect_eof($b, 'late 101: backend connection closed') if $b;
    my $e = $u->access_entry('/late-101', 5);
    ok($e && $e->{status} eq '101' && $e->{code} eq '1001'
        && $e->{initiator} eq 'proxy',
        'late 101: access log line, code 1001, initiator proxy')
        or diag('access log: ' . ($e ? $e->{line} : 'none'));
    $u->stop;
}

done_testing;
