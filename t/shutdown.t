# Graceful shutdown of a worker (reload, quit): every WebSocket gets close
# 1001 on both sides, the worker waits for the replies at most
# ws_close_timeout, and new connections go to the new worker.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use Time::HiRes qw(time sleep);
use WsTest;

my $t = WsTest->new;
my $l = listener();
my $bp = $l->sockport;
my %conf = (server => <<"SERVER");
        location / {
            ws_pass http://127.0.0.1:$bp;
            ws_close_timeout 30s;
        }
        location /short/ {
            ws_pass http://127.0.0.1:$bp;
            ws_close_timeout 1s;
        }
SERVER

$t->run(%conf);

sub gone {
    my ($pid, $timeout) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        return 1 unless -e "/proc/$pid";
        my $st = WsTest::read_file("/proc/$pid/stat") // '';
        return 1 if $st =~ /^\d+ \(.*\) Z /s;
        sleep 0.05;
    }
    return 0;
}

# reload: the old worker closes its WebSockets with 1001
{
    my $old = $t->worker_pid;
    $t->mark;
    my $p = $t->ws_pair($l, path => '/reload');
    my ($c, $b) = @$p{qw(client backend)};
    my $data = cframe(OP_TEXT, 'before the reload');
    send_all($c, $data);
    frame_ok(read_frame($b), $data, 'reload: relay works');

    kill 'HUP', $t->master_pid;
    frame_ok(read_frame($c, 10), "\x88\x02\x03\xe9",
        'reload: client got close 1001');
    masked_close_ok(read_frame($b, 10), 1001,
        'reload: backend got a masked close 1001');
    $t->log_ok('info', 'ws: closing on worker shutdown', 'reload: logged');

    # the proxy has sent its close to the client: no data frame may follow
    send_all($b, sframe(OP_TEXT, 'backend data before its reply'));
    my ($more) = read_avail($c, 0.3);
    bytes_is($more, '', 'reload: no data to the client after the close');
    send_all($c, cframe(OP_CLOSE, close_payload(1001)));
    send_all($b, sframe(OP_CLOSE, close_payload(1001)));
    expect_eof($c, 'reload: client connection closed after the replies');
    expect_eof($b, 'reload: backend connection closed after the replies');
    close $c;
    close $b;
    ok(gone($old, 10), 'reload: the old worker exited');
    my $e = $t->access_entry('/reload');
    ok($e, 'reload: access log line');
    is($e && $e->{code}, 1001, 'reload: access log code 1001');
    is($e && $e->{initiator}, 'proxy', 'reload: access log initiator proxy');

    my $q = eval { $t->ws_pair($l, path => '/after') };
    ok($q, 'reload: a new WebSocket after the reload') or diag($@);
    if ($q) {
        send_all($q->{client}, cframe(OP_BINARY, 'new worker'));
        my $f = read_frame($q->{backend});
        is($f->{payload}, 'new worker', 'reload: the new worker relays');
        close_pair($q);
    }
}

# reload without replies: the old worker waits ws_close_timeout, then closes
{
    my $old = $t->worker_pid;
    my $p = $t->ws_pair($l, path => '/short/');
    my ($c, $b) = @$p{qw(client backend)};
    my $start = time;
    kill 'HUP', $t->master_pid;
    frame_ok(read_frame($c, 10), "\x88\x02\x03\xe9",
        'reload, no replies: client got close 1001');
    masked_close_ok(read_frame($b, 10), 1001,
        'reload, no replies: backend got a masked close 1001');
    expect_eof($c, 'reload, no replies: client connection closed', 10);
    expect_eof($b, 'reload, no replies: backend connection closed', 10);
    cmp_ok(time - $start, '>=', 0.8,
        'reload, no replies: closed after ws_close_timeout');
    close $c;
    close $b;
    ok(gone($old, 10), 'reload, no replies: the old worker exited');
}

# quit
{
    my $p = $t->ws_pair($l, path => '/quit');
    my ($c, $b) = @$p{qw(client backend)};
    kill 'QUIT', $t->master_pid;
    frame_ok(read_frame($c, 10), "\x88\x02\x03\xe9",
        'quit: client got close 1001');
    masked_close_ok(read_frame($b, 10), 1001,
        'quit: backend got a masked close 1001');
    send_all($b, sframe(OP_CLOSE, close_payload(1001)));
    send_all($c, cframe(OP_CLOSE, close_payload(1001)));
    expect_eof($c, 'quit: client connection closed');
    expect_eof($b, 'quit: backend connection closed');
    close $c;
    close $b;
    ok(gone($t->master_pid, 10), 'quit: nginx exited');
}

$t->stop;
done_testing;
