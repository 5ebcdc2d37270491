# Interoperability with node's ws as client and as backend, and across
# libraries (node client to python backend, python client to node backend).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use WsTest;

my $t = WsTest->new;
plan skip_all => 'node ws not installed' unless WsTest::have_node_ws();

my @SIZES = (0, 1, 125, 126, 127, 1000, 16383, 16384, 16385, 65535, 65536,
    100000, 1048576, 4194304);

my $node = $t->start_peer(name => 'node-server', env => WsTest::node_env(),
    cmd => ['node', peer_path('node_echo_server.js'), 'PORT']);
my $perl = echo_backend();
my $have_py = WsTest::have_python_websockets();
my $py = $have_py ? $t->start_peer(name => 'py-server',
    cmd => [python_bin(), peer_path("py_echo_server.py"), "PORT"]) : free_port();

$t->run(server => <<"SERVER");
        ws_max_frame_size 0;
        ws_max_message_size 0;

        location /node/ {
            ws_pass http://127.0.0.1:$node;
        }
        location /perl/ {
            ws_pass http://127.0.0.1:$perl;
        }
        location /py/ {
            ws_pass http://127.0.0.1:$py;
        }
SERVER

sub client_run {
    my ($name, @cmd) = @_;
    my ($rc, $out) = run_cmd(cmd => \@cmd, timeout => 120,
        env => WsTest::node_env());
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
client_run('node client, node backend', 'node', peer_path('node_client.js'),
    "ws://127.0.0.1:$port/node/", @SIZES);
my $e = $t->access_entry('/node/');
ok($e, 'access log line');
if ($e) {
    is($e->{code}, 1000, 'access log: close code 1000');
    is($e->{initiator}, 'client', 'access log: initiator client');
}

client_run('node client, perl backend', 'node', peer_path('node_client.js'),
    "ws://127.0.0.1:$port/perl/", @SIZES);

SKIP: {
    skip 'python3 websockets not installed', 1 unless $have_py;
    client_run('node client, python backend', 'node',
        peer_path('node_client.js'), "ws://127.0.0.1:$port/py/", @SIZES);
    client_run('python client, node backend', python_bin(),
        peer_path('py_client.py'), "ws://127.0.0.1:$port/node/", @SIZES);
}

# Perl client against the node backend
{
    my $c = $t->client_handshake(path => '/node/');
    my $r = parse_head(read_head($c, 10));
    is($r && $r->{status}, 101, 'perl client, node backend: upgraded');
    for my $m ([OP_TEXT, text_payload(10000, 1)], [OP_BINARY, "\0\1\2"]) {
        send_all($c, cframe(@$m));
        frame_ok(read_frame($c, 10), sframe(@$m),
            'perl client, node backend: echo ' . length($m->[1]));
    }
    send_all($c, cframe(OP_PING, 'node ping'));
    frame_ok(read_frame($c, 10), sframe(OP_PONG, 'node ping'),
        'perl client, node backend: pong');
    send_all($c, cframe(OP_CLOSE, close_payload(1000, 'bye')));
    frame_ok(read_frame($c, 10), sframe(OP_CLOSE, close_payload(1000, 'bye')),
        'perl client, node backend: close echoed');
    expect_eof($c, 'perl client, node backend: closed');
}

$t->stop;
done_testing;
