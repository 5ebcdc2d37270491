# The tunnel's own deadlines: ws_max_lifetime and ws_idle_timeout close
# with 1001 to both sides, $ws_close_initiator proxy, a log line at info;
# pings and pongs are not activity for ws_idle_timeout, data frames are.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use WsTest;

my $t = WsTest->new;
my $bp = echo_backend();
my $l = listener();
my $lp = $l->sockport;

$t->run(server => <<"SERVER");
        location /life/ {
            ws_pass http://127.0.0.1:$bp;
            ws_max_lifetime 1s;
        }
        location /idle/ {
            ws_pass http://127.0.0.1:$bp;
            ws_idle_timeout 1s;
        }
        location /both/ {
            ws_pass http://127.0.0.1:$lp;
            ws_idle_timeout 5s;
            ws_max_lifetime 1s;
        }
        location /long/ {
            ws_pass http://127.0.0.1:$lp;
            ws_max_lifetime 1h;
            ws_idle_timeout 1h;
        }
        location /off/ {
            ws_pass http://127.0.0.1:$bp;
            ws_idle_timeout off;
            ws_max_lifetime off;
        }
SERVER

sub upgrade {
    my ($path) = @_;
    my $c = $t->client_handshake(path => $path);
    my $head = read_head($c, 10);
    my $res = $head ? parse_head($head) : undef;
    die "no 101 for $path" unless $res && $res->{status} == 101;
    return $c;
}

sub close_code_of {
    my ($f) = @_;
    return undef if $f->{error} || $f->{opcode} != OP_CLOSE;
    return unpack 'n', substr($f->{payload}, 0, 2);
}

# Reads frames until a close frame (or nothing for $timeout seconds);
# returns (close code, seconds it took).
sub wait_close {
    my ($c, $timeout, $ping_every) = @_;
    my $start = time;
    my $next_ping = $start;
    while (time - $start < $timeout) {
        if ($ping_every && time >= $next_ping) {
            send_all($c, cframe(OP_PING, 'p'));
            $next_ping += $ping_every;
        }
        my $f = read_frame($c, $ping_every || $timeout);
        next if $f->{error} && $f->{error} eq 'timeout';
        return (undef, time - $start) if $f->{error};
        return (close_code_of($f), time - $start) if $f->{opcode} == OP_CLOSE;
    }
    return (undef, time - $start);
}

# ws_max_lifetime: closed after 1s even with traffic

{
    $t->mark;
    my $c = upgrade('/life/a');
    send_all($c, cframe(OP_TEXT, 'hello'));
    my $f = read_frame($c, 5);
    is($f->{payload}, 'hello', 'echo before the lifetime ends');
    my ($code, $took) = wait_close($c, 5);
    is($code, 1001, 'lifetime: close 1001 to the client');
    cmp_ok($took, '>', 0.5, 'not before the lifetime');
    cmp_ok($took, '<', 3, 'soon after it');
    send_all($c, cframe(OP_CLOSE, close_payload(1001)));
    expect_eof($c, 'lifetime: closed after the close handshake');
    close $c;
    $t->log_ok('info', 'ws: maximum lifetime reached, closing');
    my $e = $t->access_entry('/life/a');
    is($e && $e->{code}, 1001, 'access log: 1001');
    is($e && $e->{initiator}, 'proxy', 'access log: initiator proxy');
}

# the backend gets 1001 too (masked, as a client's frame)

{
    my $p = $t->ws_pair($l, path => '/both/b');
    my ($c, $b) = @$p{qw(client backend)};
    my $fb = read_frame($b, 5);
    is(close_code_of($fb), 1001, 'lifetime: close 1001 to the backend');
    ok($fb->{masked}, 'masked') if exists $fb->{masked};
    my $fc = read_frame($c, 5);
    is(close_code_of($fc), 1001, 'lifetime: and to the client');
    send_all($b, sframe(OP_CLOSE, close_payload(1001)));
    send_all($c, cframe(OP_CLOSE, close_payload(1001)));
    expect_eof($c, 'client connection closed');
    expect_eof($b, 'backend connection closed');
    close $c;
    close $b;
}

# ws_idle_timeout: pings and pongs are not activity

{
    $t->mark;
    my $c = upgrade('/idle/a');
    my ($code, $took) = wait_close($c, 6, 0.3);
    is($code, 1001, 'idle: closed with 1001 while only pings flow');
    cmp_ok($took, '>', 0.8, 'idle: after about the idle timeout');
    cmp_ok($took, '<', 3, 'idle: not much later');
    send_all($c, cframe(OP_CLOSE, close_payload(1001)));
    expect_eof($c, 'idle: closed after the close handshake');
    close $c;
    $t->log_ok('info', 'ws: idle timeout, closing');
    my $e = $t->access_entry('/idle/a');
    is($e && $e->{initiator}, 'proxy', 'idle: initiator proxy');
}

# data frames keep it open

{
    my $c = upgrade('/idle/b');
    my $start = time;
    my $closed;
    while (time - $start < 2.5) {
        send_all($c, cframe(OP_TEXT, 'tick'));
        my $f = read_frame($c, 5);
        if ($f->{error} || $f->{opcode} != OP_TEXT) {
            $closed = 1;
            last;
        }
        sleep 0.3;
    }
    ok(!$closed, 'idle: data every 0.3s keeps it open for 2.5s');
    my ($code, $took) = wait_close($c, 5);
    is($code, 1001, 'idle: closed once the data stops');
    cmp_ok($took, '<', 3, 'idle: about the idle timeout after');
    close $c;
}

# off: neither

{
    my $c = upgrade('/off/a');
    my ($code) = wait_close($c, 1.5);
    is($code, undef, 'off: no close');
    send_all($c, cframe(OP_CLOSE, close_payload(1000)));
    my $f = read_frame($c, 5);
    is(close_code_of($f), 1000, 'off: close reply');
    close $c;
}

# a reload does not wait for the lifetime or idle timer: the old worker
# closes its WebSockets with 1001 and exits

{
    my $old = $t->worker_pid;
    my $p = $t->ws_pair($l, path => '/long/r');
    my ($c, $b) = @$p{qw(client backend)};
    kill 'HUP', $t->master_pid;
    is(close_code_of(read_frame($c, 10)), 1001, 'reload: client got 1001');
    is(close_code_of(read_frame($b, 10)), 1001, 'reload: backend got 1001');
    send_all($b, sframe(OP_CLOSE, close_payload(1001)));
    send_all($c, cframe(OP_CLOSE, close_payload(1001)));
    expect_eof($c, 'reload: client connection closed');
    expect_eof($b, 'reload: backend connection closed');
    my $deadline = time + 10;
    sleep 0.05 while -e "/proc/$old"
        && (read_file("/proc/$old/stat") // '') !~ /^\d+ \(.*\) Z /s
        && time < $deadline;
    ok(time < $deadline, 'reload: the old worker exited, timers and all');
    close $c;
    close $b;
}

{
    my ($rc) = $t->conf_test(server => <<"S");
        location / {
            ws_pass http://127.0.0.1:$bp;
            ws_idle_timeout forever;
        }
S
    isnt($rc, 0, 'nginx -t refuses ws_idle_timeout forever');
}

done_testing;
