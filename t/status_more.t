# ws_status, more: an old worker killed while draining after a reload
# leaves nothing open and is not counted as a worker (the endpoint folds
# the slots of dead processes, not only a starting worker); with
# ws_ping_upstream the backend's pings and round trips are not counted
# as the clients' (nginx_ws_pings_sent_total, nginx_ws_ping_rtt_seconds,
# as $ws_pings and $ws_ping_rtt); a handshake that limit_req refuses and
# error_page redirects is counted as refused by a limit, one in a location
# without ws_pass (nested in a ws_pass one, or the error page of a "deny")
# is not; 120 workers with 64 zone names each have a slot.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use Time::HiRes qw(time sleep);
use WsTest;

my $t = WsTest->new;
my $l = listener();
my $lp = $l->sockport;

$t->run(http => <<"HTTP", server => <<"SERVER");
    limit_req_zone \$binary_remote_addr zone=busy:1m rate=1r/m;
    limit_req_zone \$binary_remote_addr zone=plain:1m rate=1r/m;
    limit_req_zone \$binary_remote_addr zone=nested:1m rate=1r/m;
    limit_req_zone \$binary_remote_addr zone=errpage:1m rate=1r/m;
HTTP
        location /outer/ {
            ws_pass http://127.0.0.1:$lp;
            location /outer/static/ {
                ws_status_zone nested;
                limit_req zone=nested;
                root /nonexistent;
            }
        }
        location /denied/ {
            ws_pass http://127.0.0.1:$lp;
            deny all;
            error_page 403 /denied-page;
        }
        location = /denied-page {
            ws_status_zone errpage;
            limit_req zone=errpage;
            root /nonexistent;
        }
        location /plain/ {
            ws_status_zone plain;
            limit_req zone=plain;
            # static content (a "return" would answer before limit_req)
            root /nonexistent;
        }
        location /busy/ {
            ws_pass http://127.0.0.1:$lp;
            limit_req zone=busy;
            error_page 503 = /busy-page;
        }
        location = /busy-page {
            ws_status_zone busy;
            return 429;
        }
        location /drain/ {
            ws_pass http://127.0.0.1:$lp;
            ws_status_zone drain;
            ws_ping_interval off;
            ws_close_timeout 60s;
        }
        location /up/ {
            ws_pass http://127.0.0.1:$lp;
            ws_status_zone up;
            ws_ping_interval 500ms;
            ws_ping_upstream on;
        }
        location = /status {
            ws_status;
        }
SERVER

sub status_json {
    my $c = connect_to($t->port);
    send_all($c, "GET /status HTTP/1.0\r\nHost: localhost\r\n\r\n");
    my ($data) = read_until_eof($c, 10);
    close $c;
    my (undef, $body) = split /\r\n\r\n/, $data // '', 2;
    return eval { decode_json($body) } || {};
}

sub workers {
    my @w;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // '';
        close $fh;
        push @w, $1 if $line =~ /^(\d+) \(.*\) \S+ (\d+) /s
            && $2 == $t->master_pid;
    }
    return @w;
}

# ---------------------------------------------------------------------------
# a handshake that limit_req refuses, sent to an error page: still a
# refusal by a limit, counted under the zone of the page's location

{
    my $p = $t->ws_pair($l, path => '/busy/');
    close $p->{client};
    close $p->{backend};
    my $c = $t->client_handshake(path => '/busy/');
    my $res = parse_head(read_head($c, 10) // '');
    close $c;
    is($res->{status}, 429, 'error page: the second handshake gets 429');
    my $deadline = time + 5;
    my $z;
    while (time < $deadline) {
        $z = status_json()->{zones}{busy};
        last if $z && $z->{handshakes_refused}{limit};
        sleep 0.05;
    }
    is($z && $z->{handshakes_refused}{limit}, 1,
        'error page: counted as refused by a limit');
}

# a location without ws_pass: limit_req's refusal of a request that looks
# like a WebSocket handshake is not the module's

{
    my @st;
    for (1, 2) {
        my $c = $t->client_handshake(path => '/plain/');
        push @st, parse_head(read_head($c, 10) // '')->{status};
        close $c;
    }
    is("@st", '404 503', 'no ws_pass: the second gets limit_req\'s 503');
    # the page of /busy/ is counted after this one: both logged by then
    my $c = $t->client_handshake(path => '/busy/');
    read_head($c, 10);
    close $c;
    my $deadline = time + 5;
    my $z;
    while (time < $deadline) {
        $z = status_json()->{zones};
        last if ($z->{busy}{handshakes_refused}{limit} // 0) == 2;
        sleep 0.05;
    }
    is($z->{busy}{handshakes_refused}{limit}, 2,
        'error page: the next one counted too');
    is($z->{plain}{handshakes_refused}{limit} // 0, 0,
        'no ws_pass: not counted as a refused WebSocket handshake');
}

# a location nested in a ws_pass one inherits its upstream, not ws_pass;
# a handshake that "deny" refuses in a ws_pass location, sent to an error
# page that limit_req refuses: neither is refused by a limit in ws_pass

{
    my %st;
    for my $path (qw(/outer/static/a /outer/static/b /denied/a /denied/b)) {
        $t->mark;
        my $c = $t->client_handshake(path => $path);
        $st{$path} = parse_head(read_head($c, 10) // '')->{status};
        close $c;
        my $e = $t->access_entry($path);
        is($e && $e->{reject}, '', "$path: \$ws_reject_reason not limit")
            or diag($e && $e->{line});
    }
    is("@st{qw(/outer/static/a /outer/static/b)}", '404 503',
        'nested location: the second refused by limit_req');
    is("@st{qw(/denied/a /denied/b)}", '404 503',
        'denied: the second error page refused by its limit_req');
    my $z = status_json()->{zones};
    is($z->{nested}{handshakes_refused}{limit} // 0, 0,
        'nested location: not counted as refused by a limit');
    is($z->{errpage}{handshakes_refused}{limit} // 0, 0,
        'denied: not counted as refused by a limit');
}

# ---------------------------------------------------------------------------
# ws_ping_upstream: both sides pinged and answering, the client's counted

{
    my $p = $t->ws_pair($l, path => '/up/');
    my %pings = (client => 0, upstream => 0);
    my $deadline = time + 2.5;
    while (time < $deadline) {
        for my $side ('client', 'upstream') {
            my $s = $side eq 'client' ? $p->{client} : $p->{backend};
            my $f = read_frame($s, 0.05);
            next if !$f || $f->{error} || $f->{opcode} != OP_PING;
            $pings{$side}++;
            send_all($s, $side eq 'client' ? cframe(OP_PONG, $f->{payload})
                                           : sframe(OP_PONG, $f->{payload}));
        }
    }
    # the answered pongs are seen; a ping in flight now is not answered
    my $answered = $pings{client};
    $deadline = time + 0.4;
    while (time < $deadline) {
        my $f = read_frame($p->{client}, 0.05);
        $pings{client}++ if $f && !$f->{error} && $f->{opcode} == OP_PING;
    }
    my $z = status_json()->{zones}{up};
    ok($answered >= 2 && $pings{upstream} >= 2,
        "ping upstream: both sides pinged ($answered, $pings{upstream})");
    is($z->{pings_sent}, $pings{client},
        'ping upstream: pings_sent counts the pings to the client');
    is($z->{ping_rtt_seconds}{count}, $answered,
        'ping upstream: the round trips of the client only');
    close $p->{client};
    close $p->{backend};
    my $deadline2 = time + 5;
    sleep 0.05 while time < $deadline2
        && status_json()->{zones}{up}{connections_open};
}

# ---------------------------------------------------------------------------
# an old worker killed with -9 while it drains after a reload

{
    my $p = $t->ws_pair($l, path => '/drain/');
    my ($old) = workers();
    is(status_json()->{zones}{drain}{connections_open}, 1, 'drain: open');

    kill 'HUP', $t->master_pid;
    my $deadline = time + 10;
    my @w;
    while (time < $deadline) {
        @w = workers();
        last if grep { $_ != $old } @w;
        sleep 0.05;
    }
    ok((grep { $_ != $old } @w), 'drain: a new worker');
    sleep 0.3;
    ok(kill(0, $old), 'drain: the old worker waits for the close reply');

    kill 'KILL', $old;
    $deadline = time + 5;
    sleep 0.05 while time < $deadline && grep { $_ == $old } workers();

    my $j = status_json();
    is($j->{workers}, 1, 'drain: the killed worker is not counted');
    is($j->{zones}{drain}{connections_open}, 0,
        'drain: its WebSocket is not open');
    is($j->{zones}{drain}{connections_opened}, 1, 'drain: its counts kept');
    like($t->error_log, qr/ws_status: counters of process $old, gone, kept/,
        'drain: logged at notice');

    close $p->{client};
    close $p->{backend};

    $t->_kill_nginx;
    $t->{checked} = 1;
    my @bad = grep { !/worker process $old exited on signal 9/ }
        $t->bad_log_lines;
    ok(!@bad, 'drain: no other alert') or diag(join "\n", @bad);
}

# ---------------------------------------------------------------------------
# 120 workers with 64 zone names: the zone has a slot for each

package ManyWorkers {
    our @ISA = ('WsTest');

    sub conf_text {
        my $text = WsTest::conf_text(@_);
        $text =~ s/^worker_processes 1;$/worker_processes 120;/m
            or die 'no worker_processes line';
        return $text;
    }
}

{
    my $m = ManyWorkers->new;
    my $locations = join '', map { <<"LOC" } 1 .. 63;
        location /z$_/ {
            ws_pass http://127.0.0.1:$lp;
            ws_status_zone zone-name-number-$_-of-sixty-three-long-names-x;
        }
LOC
    $m->run(server => $locations . <<"SERVER");
        location = /status {
            ws_status;
        }
SERVER
    my $j = {};
    my $deadline = time + 20;
    while (time < $deadline) {
        my $c = connect_to($m->port);
        send_all($c, "GET /status HTTP/1.0\r\nHost: localhost\r\n\r\n");
        my ($data) = read_until_eof($c, 10);
        close $c;
        my (undef, $body) = split /\r\n\r\n/, $data // '', 2;
        $j = eval { decode_json($body) } || {};
        last if ($j->{workers} // 0) + ($j->{workers_not_counted} // 0)
            >= 120;
        sleep 0.2;
    }
    is(scalar keys %{ $j->{zones} // {} }, 64, 'many workers: 64 zones');
    is($j->{workers}, 120, 'many workers: all 120 counted');
    is($j->{workers_not_counted}, 0, 'many workers: none without a slot');
    $m->log_not('*', qr/no slot left/, 'many workers: no alert');
    $m->stop;
}

done_testing;
