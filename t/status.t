# Live metrics: ws_status in JSON and in the Prometheus text format, read
# back with exact values after known traffic (WebSockets with messages
# both ways in a named zone, refusals by origin, auth, a bad handshake and
# a backend refusing the upgrade, a pong timeout, a rate-limit close, a
# ping answered); the new access log variables; two workers summed; the
# counters kept over a reload; promtool check metrics; a real Prometheus
# server scraping the endpoint; nginx -t refusals.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);
use WsTest;

package StatusTwoWorkers {
    our @ISA = ('WsTest');

    sub conf_text {
        my $text = WsTest::conf_text(@_);
        $text =~ s/^worker_processes 1;$/worker_processes 2;/m
            or die 'no worker_processes line';
        $text =~ s/^(\s+listen 127\.0\.0\.1:\d+);$/$1 reuseport;/m
            or die 'no listen line';
        return $text;
    }
}

my $t = WsTest->new;
my $dir = $t->dir;
my $echo = echo_backend();
my $l = listener();
my $lp = $l->sockport;
my $refuser = fixed_backend(response =>
    "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\nConnection: close\r\n"
    . "\r\nno");

my $down = free_port();

write_file("$dir/hs.key", 'a secret of the tests, long enough for HS256');

my $http = <<"HTTP";
    log_format vars 'vars uri=\$request_uri reject=\$ws_reject_reason '
                    'origin="\$ws_origin" sub="\$ws_subprotocol" '
                    'min=\$ws_messages_in mout=\$ws_messages_out '
                    'pings=\$ws_pings rtt=\$ws_ping_rtt '
                    'code=\$ws_close_code reason="\$ws_close_reason"';
    access_log $dir/vars.log vars;
    limit_req_zone \$binary_remote_addr zone=one:1m rate=1r/m;
HTTP

my $server = <<"SERVER";
        location /chat/ {
            ws_pass http://127.0.0.1:$echo;
            ws_status_zone chat;
            ws_ping_interval off;
        }
        location /sub/ {
            ws_pass http://127.0.0.1:$lp;
            ws_status_zone chat;
            ws_ping_interval off;
        }
        location /flow/ {
            ws_pass http://127.0.0.1:$echo;
            ws_status_zone flow;
            ws_ping_interval 200ms;
        }
        location /feed/ {
            ws_pass http://127.0.0.1:$echo;
            ws_origin https://good.example;
        }
        location /jwt/ {
            ws_pass http://127.0.0.1:$echo;
            ws_auth_jwt test;
            ws_auth_jwt_key_file $dir/hs.key alg=HS256;
        }
        location /refused/ {
            ws_pass http://127.0.0.1:$refuser;
        }
        location /ping/ {
            ws_pass http://127.0.0.1:$echo;
            ws_status_zone live;
            ws_ping_interval 300ms;
            ws_pong_timeout 400ms;
        }
        location /rl/ {
            ws_pass http://127.0.0.1:$echo;
            ws_status_zone live;
            ws_ping_interval off;
            ws_limit_messages 1r/m;
            ws_limit_action close;
        }
        location /lim/ {
            ws_pass http://127.0.0.1:$echo;
            ws_status_zone live;
            limit_req zone=one;
        }
        location /down/ {
            ws_pass http://127.0.0.1:$down;
            ws_status_zone live;
        }
        location = /status {
            ws_status;
            allow 127.0.0.1;
            deny all;
        }
SERVER

$t->run(http => $http, server => $server);

# ---------------------------------------------------------------------------
# helpers

sub http_get {
    my ($port, $path, @headers) = @_;
    my $c = connect_to($port);
    send_all($c, "GET $path HTTP/1.0\r\nHost: localhost\r\n"
        . join('', map { "$_\r\n" } @headers) . "\r\n");
    my ($data) = read_until_eof($c, 10);
    close $c;
    my ($head, $body) = split /\r\n\r\n/, $data // '', 2;
    return ($head // '', $body // '');
}

sub status_json {
    my ($port) = @_;
    my ($head, $body) = http_get($port // $t->port, '/status');
    return eval { decode_json($body) } || do {
        diag("not JSON: $head\n$body");
        {};
    };
}

# the Prometheus text as { 'name{labels}' => value }
sub status_prom {
    my ($port, $query) = @_;
    my ($head, $body) = http_get($port // $t->port,
        '/status' . ($query // '?format=prometheus'));
    my %m;
    for my $line (split /\n/, $body) {
        next if $line =~ /^#/;
        $m{$1} = $2 if $line =~ /^(\S+) (\S+)$/;
    }
    return (\%m, $head, $body);
}

# waits until $cond->(json) holds; returns the last JSON
sub wait_status {
    my ($cond, $port) = @_;
    my $deadline = time + 10;
    my $j;
    while (1) {
        $j = status_json($port);
        return $j if $cond->($j) || time > $deadline;
        sleep 0.05;
    }
}

sub ws_client {
    my (%o) = @_;
    my $c = $t->client_handshake(%o);
    my $head = read_head($c, 10) // '';
    return ($c, parse_head($head));
}

# ---------------------------------------------------------------------------
# the endpoint before any WebSocket

{
    my $j = status_json();
    is($j->{zones}{default}{connections_opened}, 0, 'empty: nothing opened');
    is($j->{zones}{chat}{connections_open}, 0, 'empty: zone chat is there');
    is($j->{workers}, 1, 'empty: one worker counted');
    my ($m, $head) = status_prom();
    like($head, qr{^Content-Type: text/plain; version=0\.0\.4; charset=utf-8\r?$}m,
        'prometheus content type');
    is($m->{'nginx_ws_connections_open{zone="live"}'}, 0, 'empty: gauge 0');
    my ($h2) = http_get($t->port, '/status');
    like($h2, qr{^Content-Type: application/json\r?$}m, 'json content type');
    my ($h3, $b3) = http_get($t->port, '/status', 'Accept: text/plain');
    like($b3, qr/^# HELP nginx_ws_/, 'Accept: text/plain gets the text');
    my $c = connect_to($t->port);
    send_all($c, "POST /status HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
    my ($d) = read_until_eof($c, 5);
    like($d // '', qr{^HTTP/1\.1 405 }, 'POST: 405');
}

# ---------------------------------------------------------------------------
# known traffic: 3 WebSockets in zone chat, 4 messages each way, closed
# by the client with 1000 "bye"

my ($N, $M) = (3, 4);
for my $n (1 .. $N) {
    my ($c, $res) = ws_client(path => '/chat/', headers => ['Origin: http://localhost']);
    is($res->{status}, 101, "chat $n: upgraded");
    for my $m (1 .. $M) {
        send_all($c, cframe(OP_TEXT, "m-$m"));
        my $f = read_frame($c, 5);
        is($f->{payload}, "m-$m", "chat $n: echo $m");
    }
    if ($n == 1) {
        my $j = wait_status(sub { $_[0]{zones}{chat}{connections_open} == 1 });
        is($j->{zones}{chat}{connections_open}, 1, 'open gauge: 1 while open');
        is($j->{zones}{chat}{frames}{in}, 0,
            'without a timer, frames are counted at the end');
    }
    send_all($c, cframe(OP_CLOSE, pack('n', 1000) . 'bye'));
    my $f = read_frame($c, 5);
    is($f->{opcode}, OP_CLOSE, "chat $n: close reply");
    read_until_eof($c, 5);
    close $c;
}

# a subprotocol selected by the backend, closed by it with a reason that
# the log escapes
{
    my $p = $t->ws_pair($l, path => '/sub/',
        headers => ['Sec-WebSocket-Protocol: chat.v2, chat.v1',
                    'Origin: http://localhost'],
        resp_headers => ['Sec-WebSocket-Protocol: chat.v1']);
    send_all($p->{backend}, sframe(OP_CLOSE, pack('n', 4001) . "say \"no\"\n"));
    my $f = read_frame($p->{client}, 5);
    is($f->{opcode}, OP_CLOSE, 'sub: close from the backend');
    send_all($p->{client}, cframe(OP_CLOSE, $f->{payload}));
    read_frame($p->{backend}, 5);
    read_until_eof($p->{client}, 5);
    close $p->{client};
    close $p->{backend};
}

# with the tunnel's timer on (ws_ping_interval), what flows is counted at
# its checks, while the WebSocket is open, and once only

{
    my ($c, $res) = ws_client(path => '/flow/', headers => ['Origin: http://localhost']);
    for my $m (1 .. 3) {
        send_all($c, cframe(OP_TEXT, "f-$m"));
        is(read_frame($c, 5)->{payload}, "f-$m", "flow: echo $m");
    }
    my $j = wait_status(sub { $_[0]{zones}{flow}{messages}{in} == 3 });
    is($j->{zones}{flow}{connections_open}, 1, 'flow: still open');
    is($j->{zones}{flow}{messages}{in}, 3, 'flow: messages in while open');
    is($j->{zones}{flow}{messages}{out}, 3, 'flow: messages out while open');
    is($j->{zones}{flow}{bytes}{in}, 3 * 9, 'flow: bytes in while open');
    my $f = read_frame($c, 5);
    is($f->{opcode}, OP_PING, 'flow: pinged');
    send_all($c, cframe(OP_PONG, $f->{payload}));
    send_all($c, cframe(OP_TEXT, 'f-4'));
    read_frame($c, 5);
    send_all($c, cframe(OP_CLOSE, pack('n', 1000)));
    read_frame($c, 5);
    read_until_eof($c, 5);
    close $c;
    $j = wait_status(sub { $_[0]{zones}{flow}{connections_closed} == 1 });
    is($j->{zones}{flow}{messages}{in}, 4, 'flow: counted once at the end');
    is($j->{zones}{flow}{frames}{in}, 6, 'flow: frames: 4, a pong, a close');
    is($j->{zones}{flow}{bytes}{in}, 4 * 9 + 14 + 8,
        'flow: bytes: 4 messages, the pong, the close');
}

# refusals: 2 by origin, 1 auth, 1 bad handshake, 1 upstream refusal

my ($K) = (2);
for my $k (1 .. $K) {
    my ($c, $res) = ws_client(path => '/feed/',
        headers => ['Origin: https://evil.example']);
    is($res->{status}, 403, "origin $k: 403");
    close $c;
}
{
    my ($c, $res) = ws_client(path => '/jwt/', headers => ['Origin: http://localhost']);
    is($res->{status}, 401, 'auth: 401');
    close $c;
    ($c, $res) = ws_client(path => '/feed/x', no => ['upgrade']);
    is($res->{status}, 426, 'plain GET: 426');
    close $c;
    ($c, $res) = ws_client(path => '/refused/', headers => ['Origin: http://localhost']);
    is($res->{status}, 403, 'backend refused the upgrade: its 403');
    close $c;
}

# limit_req: the second handshake of the minute gets 503; a backend that
# is down: 502

{
    my ($c, $res) = ws_client(path => '/lim/', headers => ['Origin: http://localhost']);
    is($res->{status}, 101, 'limit_req: the first passes');
    send_all($c, cframe(OP_CLOSE, pack('n', 1000)));
    read_frame($c, 5);
    read_until_eof($c, 5);
    close $c;
    ($c, $res) = ws_client(path => '/lim/', headers => ['Origin: http://localhost']);
    is($res->{status}, 503, 'limit_req: the second gets 503');
    close $c;
    ($c, $res) = ws_client(path => '/down/', headers => ['Origin: http://localhost']);
    is($res->{status}, 502, 'backend down: 502');
    close $c;
}

# a pong timeout: a client that does not answer pings

{
    my ($c, $res) = ws_client(path => '/ping/', headers => ['Origin: http://localhost']);
    is($res->{status}, 101, 'ping: upgraded');
    my $f = read_frame($c, 5);
    is($f->{opcode}, OP_PING, 'ping: the proxy pings');
    my ($rest) = read_until_eof($c, 5);
    close $c;
}

# a ping answered: one round trip in the histogram

{
    my ($c, $res) = ws_client(path => '/ping/', headers => ['Origin: http://localhost']);
    my $f = read_frame($c, 5);
    is($f->{opcode}, OP_PING, 'rtt: the proxy pings');
    send_all($c, cframe(OP_PONG, $f->{payload}));
    sleep 0.1;
    send_all($c, cframe(OP_CLOSE, pack('n', 1000)));
    $f = read_frame($c, 5);
    is($f->{opcode}, OP_CLOSE, 'rtt: close reply');
    read_until_eof($c, 5);
    close $c;
}

# a rate-limit close: 1 message a minute, the second closes with 1008

{
    my ($c, $res) = ws_client(path => '/rl/', headers => ['Origin: http://localhost']);
    send_all($c, cframe(OP_TEXT, 'one') . cframe(OP_TEXT, 'two'));
    # the echo of the first may come, or the close first
    my $f = read_frame($c, 5);
    $f = read_frame($c, 5) if ($f->{opcode} // -1) == OP_TEXT;
    is($f->{opcode}, OP_CLOSE, 'rl: closed');
    is(unpack('n', $f->{payload}), 1008, 'rl: with 1008');
    send_all($c, cframe(OP_CLOSE, pack('n', 1008)));
    read_until_eof($c, 5);
    close $c;
}

# ---------------------------------------------------------------------------
# exact counters, JSON

my $j = wait_status(sub {
    $_[0]{zones}{live}{connections_closed} == 4
        && $_[0]{zones}{chat}{connections_closed} == $N + 1
        && $_[0]{zones}{default}{handshakes_refused}{upstream_refused} == 1
});
my $chat = $j->{zones}{chat};
my $def = $j->{zones}{default};
my $live = $j->{zones}{live};

is($chat->{connections_open}, 0, 'chat: none open');
is($chat->{connections_opened}, $N + 1, 'chat: opened');
is($chat->{handshakes_accepted}, $N + 1, 'chat: accepted');
is($chat->{messages}{in}, $N * $M, 'chat: messages in');
is($chat->{messages}{out}, $N * $M, 'chat: messages out');
is($chat->{frames}{in}, $N * ($M + 1) + 1, 'chat: frames in (closes too)');
is($chat->{frames}{out}, $N * ($M + 1) + 1, 'chat: frames out');
# client frames: 2 + 4 mask + 3 payload; close 2 + 4 + 5; backend's
# close of /sub/ echoed by the client: 2 + 4 + 11
is($chat->{bytes}{in}, $N * ($M * 9 + 11) + 17, 'chat: bytes in');
is($chat->{bytes}{out}, $N * ($M * 5 + 7) + 13, 'chat: bytes out');
is($chat->{closes}{1000}, $N, 'chat: closes 1000');
is($chat->{closes}{other}, 1, 'chat: close 4001 is "other"');
is($chat->{closes_by_initiator}{client}, $N, 'chat: closed by the client');
is($chat->{closes_by_initiator}{upstream}, 1, 'chat: one by the backend');
is($chat->{connection_duration_seconds}{count}, $N + 1,
    'chat: durations counted');
is($chat->{connection_duration_seconds}{buckets}{1}, $N + 1,
    'chat: all under 1 s');
is($chat->{handshakes_refused}{origin}, 0, 'chat: no refusal');

is($def->{handshakes_refused}{origin}, $K, 'default: refused by origin');
is($def->{handshakes_refused}{auth}, 1, 'default: refused by auth');
is($def->{handshakes_refused}{handshake}, 1, 'default: bad handshake');
is($def->{handshakes_refused}{upstream_refused}, 1,
    'default: the backend refused the upgrade');
is($def->{handshakes_refused}{upstream_error}, 0, 'default: no 502');
is($def->{connections_opened}, 0, 'default: nothing opened');

is($live->{connections_opened}, 4, 'live: opened');
is($live->{handshakes_refused}{limit}, 1, 'live: refused by limit_req');
is($live->{handshakes_refused}{upstream_error}, 1, 'live: 502');
is($live->{pings_sent}, 2, 'live: pings sent');
is($live->{pong_timeouts}, 1, 'live: pong timeouts');
is($live->{timeouts}{pong}, 1, 'live: timeouts by kind: pong');
is($live->{timeouts}{idle}, 0, 'live: no idle timeout');
is($live->{closes}{1006}, 1, 'live: 1006 for the one gone');
is($live->{closes}{1008}, 1, 'live: 1008 for the rate limit');
is($live->{closes}{1000}, 2, 'live: 1000');
is($live->{closes_by_initiator}{proxy}, 2, 'live: two by the proxy');
is($live->{closes_by_initiator}{client}, 2, 'live: two by the client');
is($live->{rate_limited}{closed}, 1, 'live: rate-limit close');
is($live->{rate_limited}{throttled}, 0, 'live: none throttled');
is($live->{ping_rtt_seconds}{count}, 1, 'live: one round trip');
is($live->{ping_rtt_seconds}{buckets}{'+Inf'}, 1, 'live: +Inf bucket');

# ---------------------------------------------------------------------------
# the same, Prometheus

my ($m, $head, $body) = status_prom();
is($m->{'nginx_ws_connections_opened_total{zone="chat"}'}, $N + 1,
    'prom: opened');
is($m->{'nginx_ws_messages_total{zone="chat",direction="in"}'}, $N * $M,
    'prom: messages in');
is($m->{'nginx_ws_bytes_total{zone="chat",direction="out"}'},
    $N * ($M * 5 + 7) + 13, 'prom: bytes out');
is($m->{'nginx_ws_handshakes_refused_total{zone="default",reason="origin"}'},
    $K, 'prom: refused by origin');
is($m->{'nginx_ws_handshakes_refused_total{zone="default",reason="auth"}'},
    1, 'prom: refused by auth');
is($m->{'nginx_ws_closes_total{zone="live",code="1008"}'}, 1,
    'prom: 1008');
is($m->{'nginx_ws_closes_by_initiator_total{zone="chat",initiator="client"}'},
    $N, 'prom: by the client');
is($m->{'nginx_ws_pong_timeouts_total{zone="live"}'}, 1,
    'prom: pong timeouts');
is($m->{'nginx_ws_timeouts_total{zone="live",kind="pong"}'}, 1,
    'prom: timeouts{kind=pong}');
is($m->{'nginx_ws_rate_limited_total{zone="live",action="closed"}'}, 1,
    'prom: rate limited');
is($m->{'nginx_ws_ping_rtt_seconds_count{zone="live"}'}, 1, 'prom: rtt count');
is($m->{'nginx_ws_ping_rtt_seconds_bucket{zone="live",le="+Inf"}'}, 1,
    'prom: rtt +Inf');
ok(exists $m->{'nginx_ws_ping_rtt_seconds_bucket{zone="live",le="0.005"}'},
    'prom: rtt bucket 0.005');
is($m->{'nginx_ws_connection_duration_seconds_bucket{zone="chat",le="86400"}'},
    $N + 1, 'prom: duration bucket 86400');
like($body, qr/^# TYPE nginx_ws_connections_open gauge$/m, 'prom: gauge type');
like($body, qr/^# TYPE nginx_ws_ping_rtt_seconds histogram$/m,
    'prom: histogram type');

# promtool

SKIP: {
    skip 'no promtool (Debian package prometheus)', 1
        unless -x '/usr/bin/promtool';
    write_file("$dir/metrics.txt", $body);
    my ($rc, $out) = run_cmd(cmd => ['/bin/sh', '-c',
        "/usr/bin/promtool check metrics < $dir/metrics.txt"]);
    is($rc, 0, 'promtool check metrics') or diag($out);
}

# ---------------------------------------------------------------------------
# the access log variables

{
    my $log = read_file("$dir/vars.log") // '';
    my @v = split /\n/, $log;
    my ($chat1) = grep { m{uri=/chat/ } } @v;
    like($chat1, qr/ min=4 mout=4 /, 'vars: $ws_messages_in/out');
    like($chat1, qr/ reason="bye"$/, 'vars: $ws_close_reason');
    like($chat1, qr/ origin="http:\/\/localhost" /, 'vars: $ws_origin');
    my ($sub) = grep { m{uri=/sub/ } } @v;
    like($sub, qr/ sub="chat\.v1" /, 'vars: $ws_subprotocol');
    like($sub, qr/ code=4001 reason="say \\x22no\\x22\\x0A"$/,
        'vars: $ws_close_reason escaped by the log module');
    my @o = grep { m{uri=/feed/ } } @v;
    is(scalar(grep { / reject=origin / } @o), $K, 'vars: reject=origin');
    ok((grep { m{uri=/feed/x reject=handshake } } @v), 'vars: reject=handshake');
    ok((grep { m{uri=/jwt/ reject=auth } } @v), 'vars: reject=auth');
    ok((grep { m{uri=/refused/ reject=upstream_refused } } @v),
        'vars: reject=upstream_refused');
    ok((grep { m{uri=/lim/ reject=limit } } @v), 'vars: reject=limit');
    ok((grep { m{uri=/down/ reject=upstream_error } } @v),
        'vars: reject=upstream_error');
    my @p = grep { m{uri=/ping/ } } @v;
    like($p[0] // '', qr/ pings=1 rtt=- code=1006 reason=""$/,
        'vars: the pong timeout');
    like($p[1] // '', qr/ pings=1 rtt=\d+ code=1000 /, 'vars: the round trip');
    my ($rl) = grep { m{uri=/rl/ } } @v;
    like($rl // '', qr/ code=1008 reason="rate limit"$/,
        'vars: the proxy\'s own reason');
}

# ---------------------------------------------------------------------------
# a real Prometheus server scraping the endpoint

SKIP: {
    skip 'no prometheus (Debian package prometheus)', 2
        unless -x '/usr/bin/prometheus';
    my $pport = free_port();
    my $sport = $t->port;
    make_path_simple("$dir/prom");
    write_file("$dir/prom/prometheus.yml", <<"YML");
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: ngx_ws
    metrics_path: /status
    params:
      format: [prometheus]
    static_configs:
      - targets: ['127.0.0.1:$sport']
YML
    my $pid = spawn_cmd(cmd => ['/usr/bin/prometheus',
        "--config.file=$dir/prom/prometheus.yml",
        "--storage.tsdb.path=$dir/prom/data",
        "--web.listen-address=127.0.0.1:$pport"],
        log => "$dir/prom/prometheus.log");
    my $value;
    my $deadline = time + 60;
    while (time < $deadline) {
        my ($h, $b) = eval { http_get($pport,
            '/api/v1/query?query=nginx_ws_connections_opened_total') };
        my $r = $b ? eval { decode_json($b) } : undef;
        if ($r && $r->{status} && $r->{status} eq 'success') {
            for my $s (@{ $r->{data}{result} }) {
                $value = $s->{value}[1]
                    if ($s->{metric}{zone} // '') eq 'chat';
            }
            last if defined $value;
        }
        sleep 0.5;
    }
    is($value, $N + 1, 'prometheus scraped nginx_ws_connections_opened_total')
        or diag(read_file("$dir/prom/prometheus.log"));
    kill 'TERM', $pid;
    waitpid($pid, 0);
    pass('prometheus stopped');
}

# ---------------------------------------------------------------------------
# counters kept over a reload

{
    my $before = status_json();
    my $old = $t->worker_pid;
    # the reload adds a zone: a new name after those the zone knows
    write_file("$dir/nginx.conf", $t->conf_text(http => $http,
        port => $t->port, server => $server . <<"NEW"));
        location /new/ {
            ws_pass http://127.0.0.1:$echo;
            ws_status_zone added;
        }
NEW
    kill 'HUP', $t->master_pid;
    my $deadline = time + 10;
    my $new;
    while (time < $deadline) {
        $new = $t->worker_pid;
        last if $new && $new != $old && !kill(0, $old);
        sleep 0.1;
    }
    isnt($new, $old, 'reload: a new worker');
    my $after = status_json();
    is($after->{zones}{chat}{connections_opened},
        $before->{zones}{chat}{connections_opened}, 'reload: opened kept');
    is($after->{zones}{default}{handshakes_refused}{origin}, $K,
        'reload: refusals kept');
    is($after->{workers}, 1, 'reload: the old worker\'s slot folded');
    is($after->{zones}{added}{connections_opened}, 0, 'reload: a zone added');
    my ($cn, $rn) = ws_client(path => '/new/', headers => ['Origin: http://localhost']);
    is($rn->{status}, 101, 'reload: the new location upgrades');
    my $jn = wait_status(sub { $_[0]{zones}{added}{connections_open} == 1 });
    is($jn->{zones}{added}{connections_opened}, 1,
        'reload: counted in the added zone');
    close $cn;
    my ($c, $res) = ws_client(path => '/chat/', headers => ['Origin: http://localhost']);
    my $j2 = wait_status(sub { $_[0]{zones}{chat}{connections_open} == 1 });
    is($j2->{zones}{chat}{connections_opened}, $N + 2,
        'reload: a new WebSocket counted on top');
    close $c;
    $j2 = wait_status(sub { $_[0]{zones}{chat}{connections_open} == 0 });
    is($j2->{zones}{chat}{connections_closed}, $N + 2, 'reload: closed');
}

$t->stop;

# ---------------------------------------------------------------------------
# two workers, summed

{
    my $t2 = StatusTwoWorkers->new;
    $t2->run(server => <<"SERVER");
        location / {
            ws_pass http://127.0.0.1:$lp;
            ws_set_header X-Worker \$pid;
        }
        location = /status {
            ws_status;
        }
SERVER
    my %by;
    for (1 .. 60) {
        my $p = $t2->ws_pair($l, path => '/w');
        my $w = hdr($p->{request}, 'x-worker');
        if ($by{$w}) {
            close $p->{client};
            close $p->{backend};
            next;
        }
        $by{$w} = $p;
        last if keys %by == 2;
    }
    is(scalar keys %by, 2, 'two workers: a WebSocket in each');
    my $deadline = time + 10;
    my $js;
    while (time < $deadline) {
        $js = status_json($t2->port);
        last if ($js->{zones}{default}{connections_open} // 0) == 2;
        sleep 0.05;
    }
    is($js->{workers}, 2, 'two workers: two slots');
    is($js->{zones}{default}{connections_open}, 2,
        'two workers: both open WebSockets');
    my $opened = $js->{zones}{default}{connections_opened};
    for my $p (values %by) {
        send_all($p->{client}, cframe(OP_TEXT, 'x'));
        read_frame($p->{backend}, 5);
        send_all($p->{client}, cframe(OP_CLOSE, pack('n', 1000)));
        my $f = read_frame($p->{backend}, 5);
        send_all($p->{backend}, sframe(OP_CLOSE, pack('n', 1000)));
        read_until_eof($p->{client}, 5);
        close $p->{client};
        close $p->{backend};
    }
    $deadline = time + 10;
    while (time < $deadline) {
        $js = status_json($t2->port);
        last if ($js->{zones}{default}{connections_open} // 1) == 0;
        sleep 0.05;
    }
    is($js->{zones}{default}{connections_open}, 0, 'two workers: none open');
    is($js->{zones}{default}{messages}{in}, 2,
        'two workers: a message of each, summed');
    is($js->{zones}{default}{connections_closed}, $opened,
        'two workers: all closed');
    $t2->stop;
}

# ---------------------------------------------------------------------------
# a worker killed with open WebSockets: its counts stay, and its open
# WebSockets, gone with it, are not open any more

{
    my $t3 = WsTest->new;
    $t3->run(server => <<"SERVER");
        location / {
            ws_pass http://127.0.0.1:$lp;
        }
        location = /status {
            ws_status;
        }
SERVER
    my @p = map { $t3->ws_pair($l, path => "/k$_") } 1 .. 2;
    my $js;
    my $deadline = time + 10;
    while (time < $deadline) {
        $js = status_json($t3->port);
        last if ($js->{zones}{default}{connections_open} // 0) == 2;
        sleep 0.05;
    }
    is($js->{zones}{default}{connections_open}, 2, 'crash: two open');
    my $old = $t3->worker_pid;
    kill 'KILL', $old;
    my $new;
    $deadline = time + 10;
    while (time < $deadline) {
        $new = $t3->worker_pid;
        last if $new && $new != $old;
        sleep 0.05;
    }
    isnt($new, $old, 'crash: the master started another worker');
    $js = status_json($t3->port);
    is($js->{zones}{default}{connections_open}, 0,
        'crash: nothing open any more');
    is($js->{zones}{default}{connections_opened}, 2, 'crash: opened kept');
    is($js->{workers}, 1, 'crash: one worker counted');
    like($t3->error_log, qr/ws_status: counters of process $old, gone, kept/,
        'crash: logged at notice');
    for my $q (@p) {
        close $q->{client};
        close $q->{backend};
    }
    $t3->_kill_nginx;
    $t3->{checked} = 1;
    my @bad = grep { !/worker process $old exited on signal 9/ }
        $t3->bad_log_lines;
    ok(!@bad, 'crash: no other alert') or diag(join "\n", @bad);
}

# ---------------------------------------------------------------------------
# a reload that would bring the zone's names beyond 64 is refused, and the
# running configuration goes on

{
    my $t4 = WsTest->new;
    my $zones = join "\n", map {
        "location /z$_/ { ws_pass http://127.0.0.1:$echo; ws_status_zone z$_; }"
    } 1 .. 63;
    my %c = (server => "$zones\nlocation = /status { ws_status; }");
    $t4->run(%c);
    $t4->mark;
    my $old = $t4->worker_pid;
    # 64 names with default, two of them new: 66 in the zone
    my $zones2 = join "\n", map {
        "location /z$_/ { ws_pass http://127.0.0.1:$echo; ws_status_zone z$_; }"
    } 1 .. 61;
    write_file($t4->dir . '/nginx.conf', $t4->conf_text(port => $t4->port,
        server => "$zones2\nlocation /n/ { ws_status_zone new_one; }"
            . "\nlocation /o/ { ws_status_zone one_more; }"
            . "\nlocation = /status { ws_status; }"));
    kill 'HUP', $t4->master_pid;
    $t4->log_ok('emerg', qr/ws_status: more than 64 zone names since nginx started, "new_one" has no room/,
        '65 names over a reload: emerg');
    sleep 0.3;
    is($t4->worker_pid, $old, '65 names over a reload: the old worker stays');
    my $js = status_json($t4->port);
    is(scalar keys %{ $js->{zones} }, 64, '65 names over a reload: 64 zones');
    ok(!exists $js->{zones}{new_one},
        '65 names over a reload: no name of the refused one stays');
    $t4->_kill_nginx;
    $t4->{checked} = 1;
    my @bad = grep { !/\[emerg\]/ } $t4->bad_log_lines;
    ok(!@bad, '65 names over a reload: no alert') or diag(join "\n", @bad);
}

# ---------------------------------------------------------------------------
# nginx -t

sub conf_fails {
    my ($name, $re, %c) = @_;
    my ($rc, $out) = $t->conf_test(%c);
    isnt($rc, 0, "$name: refused");
    like($out, $re, "$name: message");
}

conf_fails('ws_status in http', qr/"ws_status" directive is not allowed here/,
    http => 'ws_status;');
conf_fails('ws_status in server', qr/"ws_status" directive is not allowed here/,
    server => 'ws_status;');
conf_fails('ws_status twice', qr/"ws_status" directive is duplicate/,
    server => 'location /s { ws_status; ws_status; }');
conf_fails('ws_status with an argument', qr/invalid number of arguments/,
    server => 'location /s { ws_status on; }');
conf_fails('ws_status beside ws_pass', qr/"ws_status" and "ws_pass" in one/,
    server => "location /s { ws_status; ws_pass http://127.0.0.1:$lp; }");
conf_fails('ws_status_zone in http', qr/"ws_status_zone" directive is not allowed here/,
    http => 'ws_status_zone a;');
conf_fails('ws_status_zone twice', qr/"ws_status_zone" directive is duplicate/,
    server => 'location /s { ws_status_zone a; ws_status_zone b; }');
conf_fails('ws_status_zone quote', qr/invalid ws_status_zone name "a"b": letters/,
    server => 'location /s { ws_status_zone "a\"b"; }');
conf_fails('ws_status_zone too long', qr/invalid ws_status_zone name/,
    server => 'location /s { ws_status_zone ' . ('x' x 65) . '; }');
conf_fails('65 zones', qr/too many ws_status_zone names, at most 64/,
    server => join "\n", map { "location /z$_ { ws_status_zone z$_; }" }
        1 .. 64);
{
    my ($rc, $out) = $t->conf_test(server => join("\n",
        map { "location /z$_ { ws_status_zone z$_; }" } 1 .. 63)
        . "\nlocation /s { ws_status; ws_status_zone default; }");
    is($rc, 0, '63 zones and default: accepted') or diag($out);
}

sub make_path_simple { mkdir $_[0] }

done_testing;
