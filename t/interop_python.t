# Interoperability with python3-websockets as client and as backend:
# messages of many sizes, fragmented messages, ping/pong and close.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use WsTest;

my $t = WsTest->new;
plan skip_all => 'python3 websockets not installed'
    unless WsTest::have_python_websockets();

my @SIZES = (0, 1, 125, 126, 127, 1000, 16383, 16384, 16385, 65535, 65536,
    100000, 1048576, 4194304);

my $py = $t->start_peer(name => 'py-server',
    cmd => [python_bin(), peer_path('py_echo_server.py'), 'PORT']);
my $perl = echo_backend();

$t->run(server => <<"SERVER");
        ws_max_frame_size 0;
        ws_max_message_size 0;

        location /py/ {
            ws_pass http://127.0.0.1:$py;
        }
        location /perl/ {
            ws_pass http://127.0.0.1:$perl;
        }
        location /limited/ {
            ws_pass http://127.0.0.1:$py;
            ws_max_frame_size 1m;
            ws_max_message_size 1m;
        }
SERVER

# Runs a client script and turns its report lines into tests.
sub client_run {
    my ($name, @cmd) = @_;
    my ($rc, $out) = run_cmd(cmd => \@cmd, timeout => 120);
    is($rc, 0, "$name: client exited with 0") or diag($out);
    my $n = 0;
    for my $line (split /\n/, $out) {
        if ($line =~ /^(not )?ok - (.*)$/) {
            ok(!$1, "$name: $2");
            $n++;
        }
    }
    cmp_ok($n, '>=', 2 * @SIZES + 4, "$name: all checks reported");
    like($out, qr/^done$/m, "$name: client finished");
}

my $port = $t->port;
$t->mark;
client_run('python client, python backend', python_bin(),
    peer_path('py_client.py'), "ws://127.0.0.1:$port/py/", @SIZES);
my $e = $t->access_entry('/py/');
ok($e, 'access log line');
if ($e) {
    is($e->{code}, 1000, 'access log: close code 1000');
    is($e->{initiator}, 'client', 'access log: initiator client');
    cmp_ok($e->{frames_in}, '>=', 2 * @SIZES + 5, 'access log: frames in');
    cmp_ok($e->{bytes_in}, '>', 2 * 5 * 1024 * 1024, 'access log: bytes in');
}

client_run('python client, perl backend', python_bin(),
    peer_path('py_client.py'), "ws://127.0.0.1:$port/perl/", @SIZES);

# the library's handshake against the default limits
@SIZES = (0, 1, 1000, 65536, 1048576);
client_run('python client, python backend, 1m limits', python_bin(),
    peer_path('py_client.py'), "ws://127.0.0.1:$port/limited/", @SIZES);

# a frame over the limit: the library sees close 1009
{
    my ($rc, $out) = run_cmd(timeout => 60, cmd => [python_bin(), '-c', <<'PY',
import asyncio, sys
import websockets

async def main():
    async with websockets.connect(sys.argv[1], max_size=None,
                                  ping_interval=None) as ws:
        await ws.send(b'x' * (1048576 + 1))
        try:
            await asyncio.wait_for(ws.recv(), 10)
        except websockets.ConnectionClosed as e:
            print('closed %s' % e.rcvd.code)

asyncio.run(main())
PY
        "ws://127.0.0.1:$port/limited/"]);
    like($out, qr/^closed 1009$/m, 'python client over the limit gets 1009')
        or diag($out);
}

# Perl client against the python backend: exact frames from the library
{
    my $c = $t->client_handshake(path => '/py/');
    my $r = parse_head(read_head($c, 10));
    is($r && $r->{status}, 101, 'perl client, python backend: upgraded');
    is(hdr($r, 'sec-websocket-extensions'), undef, 'no extension');
    for my $m ([OP_TEXT, text_payload(10000, 1)], [OP_BINARY, '']) {
        send_all($c, cframe(@$m));
        frame_ok(read_frame($c, 10), sframe(@$m),
            'perl client, python backend: echo ' . length($m->[1]));
    }
    send_all($c, cframe(OP_TEXT, 'frag', fin => 0) . cframe(OP_PING, 'x')
        . cframe(OP_CONT, 'mented'));
    frame_ok(read_frame($c, 10), sframe(OP_PONG, 'x'),
        'perl client, python backend: pong inside a fragmented message');
    frame_ok(read_frame($c, 10), sframe(OP_TEXT, 'fragmented'),
        'perl client, python backend: message reassembled by the library');
    send_all($c, cframe(OP_CLOSE, close_payload(4321, 'done')));
    frame_ok(read_frame($c, 10), sframe(OP_CLOSE, close_payload(4321, 'done')),
        'perl client, python backend: close echoed');
    expect_eof($c, 'perl client, python backend: closed');
}

$t->stop;
done_testing;
