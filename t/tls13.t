# TLS 1.3 messages after the handshake on detached WebSockets: a backend
# (t/peers/tls_peer.c, built here) that sends NewSessionTickets long after
# the upgrade (RFC 8446 4.6.1), KeyUpdates from the backend, the client and
# both, and KeyUpdates in the middle of floods while a socket is full.
# Clients are plain (this process) and TLS 1.3 (tls_peer client, through a
# "listen ... ssl" server).  After every case the worker process is the
# same one and the error log has no alert, crit or crash.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use POSIX qw(WNOHANG _exit);
use Test::More;
use Time::HiRes qw(time sleep);
use WsTest;

my $t = WsTest->new;
my $dir = $t->dir;

my ($orc) = run_cmd(cmd => ['openssl', 'version']);
plan skip_all => 'openssl not found' unless $orc == 0;
my ($crc, $cout) = run_cmd(timeout => 120, cmd => ['cc', '-O1', '-g',
    '-Wall', '-o', "$dir/tls_peer", peer_path('tls_peer.c'), '-lssl',
    '-lcrypto']);
plan skip_all => 'cannot build t/peers/tls_peer.c (cc and libssl-dev '
    . 'needed): ' . ((split /\n/, $cout)[0] // "exit code $crc")
    unless $crc == 0 && -x "$dir/tls_peer";
my $bin = "$dir/tls_peer";

my ($grc, $gout) = run_cmd(timeout => 60, cmd => ['openssl', 'req', '-x509',
    '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=localhost', '-days', '2',
    '-addext', 'subjectAltName=DNS:localhost', '-keyout', "$dir/server.key",
    '-out', "$dir/server.crt"]);
is($grc, 0, 'certificate generated') or diag($gout);

# b0 sends no ticket after the handshake: its only tickets are late ones;
# b2 sends the usual two and more on demand
my %log;
my $b0 = $t->start_peer(name => 'b0', cmd => [$bin, 'server', '--tickets',
    0, 'PORT', "$dir/server.crt", "$dir/server.key"]);
my $b2 = $t->start_peer(name => 'b2', cmd => [$bin, 'server', '--tickets',
    2, 'PORT', "$dir/server.crt", "$dir/server.key"]);
$log{b0} = "$dir/b0.log";
$log{b2} = "$dir/b2.log";

my $sp = free_port();
my $sp_small = free_port();
my $locations = <<"LOCATIONS";
        location /b0/ {
            ws_pass wss://127.0.0.1:$b0;
            ws_ssl_session_reuse on;
            ws_ssl_protocols TLSv1.3;
        }

        location /b2/ {
            ws_pass wss://127.0.0.1:$b2;
            ws_ssl_session_reuse on;
            ws_ssl_protocols TLSv1.3;
        }
LOCATIONS

$t->run(servers => <<"SERVERS", server => $locations);
    server {
        listen 127.0.0.1:$sp ssl;
        server_name localhost;
        ssl_certificate $dir/server.crt;
        ssl_certificate_key $dir/server.key;
        ssl_protocols TLSv1.3;

$locations
    }

    server {
        listen 127.0.0.1:$sp_small ssl sndbuf=4k;
        server_name localhost;
        ssl_certificate $dir/server.crt;
        ssl_certificate_key $dir/server.key;
        ssl_protocols TLSv1.3;

$locations
    }
SERVERS

my $worker = $t->worker_pid;
ok($worker, "worker process $worker");

my $PATTERN = join '', map { chr } 0 .. 250;


# ---------------------------------------------------------------------------
# helpers

# lines of a backend's log matching $re
sub peer_count {
    my ($b, $re) = @_;
    my $l = read_file($log{$b}) // '';
    return scalar grep { /$re/ } split /\n/, $l;
}

# waits until the backend's log has at least $n lines matching $re
sub peer_wait {
    my ($b, $re, $n, $timeout) = @_;
    my $deadline = time + ($timeout // 10);
    while (1) {
        my $have = peer_count($b, $re);
        return $have if $have >= $n;
        return $have if time >= $deadline;
        sleep 0.02;
    }
}

# a plain WebSocket through nginx to $path, upgraded (undef otherwise)
sub plain_open {
    my ($path, $name, %o) = @_;
    my $c = connect_to($t->port, %o);
    my $key = ws_key();
    send_all($c, handshake_request(path => $path, key => $key));
    my $r = parse_head(read_head($c, 10));
    my $ok = ok($r && $r->{status} == 101
        && (hdr($r, 'sec-websocket-accept') // '') eq ws_accept($key),
        "$name: upgraded");
    diag('got: ' . ($r ? $r->{line} : 'nothing')) unless $ok;
    return $ok ? $c : undef;
}

sub send_text {
    my ($c, $text) = @_;
    send_all($c, cframe(OP_TEXT, $text));
}

# the next frame is exactly the unmasked text frame $text
sub text_ok {
    my ($c, $text, $name) = @_;
    return frame_ok(read_frame($c, 10), sframe(OP_TEXT, $text), $name);
}

sub echo_ok {
    my ($c, $op, $payload, $name) = @_;
    send_all($c, cframe($op, $payload));
    return frame_ok(read_frame($c, 10), sframe($op, $payload), $name);
}

sub command_ok {
    my ($c, $cmd, $reply, $name) = @_;
    send_text($c, $cmd);
    return text_ok($c, $reply, $name);
}

sub close_ok {
    my ($c, $name) = @_;
    send_all($c, cframe(OP_CLOSE, close_payload(1000, 'bye')));
    if (!frame_ok(read_frame($c, 10),
        sframe(OP_CLOSE, close_payload(1000, 'bye')), "$name: close echoed"))
    {
        close $c;
        return 0;
    }
    my $ok = expect_eof($c, "$name: connection closed");
    close $c;
    return $ok;
}

# Whether the backend connection's TLS session was resumed, from the
# backend's side (SSL_session_reused()).  Every WebSocket after the first
# to a location is resumed: nginx keeps one session per backend of a
# location, and with b0 the only tickets are the late ones, so the session
# of a late ticket was saved.
sub resumed {
    my ($c, $name, $exp) = @_;
    send_text($c, 'resumed?');
    my $f = read_frame($c, 10);
    my $p = $f->{error} ? "no answer: $f->{error}" : $f->{payload};
    if (defined $exp) {
        is($p, "resumed $exp", "$name: backend TLS session "
            . ($exp ? 'resumed' : 'new'));
    } else {
        like($p, qr/^resumed [01]$/, "$name: backend answers resumed?");
    }
    note("$name: backend connection $p");
    return $p;
}

# Runs tls_peer clients at the same time: each is [path, commands...].
# Returns a list of [exit code, output].
my $seq = 0;
our $client_port = $sp;
sub tls_clients {
    my (@runs) = @_;
    my @p;
    for my $r (@runs) {
        my $file = "$dir/client-" . ++$seq . '.out';
        my $pid = fork;
        die "fork: $!" unless defined $pid;
        if ($pid == 0) {
            open STDOUT, '>', $file;
            open STDERR, '>&', \*STDOUT;
            exec $bin, 'client', $client_port, @$r or _exit(127);
        }
        push @p, [$pid, $file];
    }
    my $deadline = time + 90;
    my @res;
    for my $p (@p) {
        my $rc;
        while (1) {
            if (waitpid($p->[0], WNOHANG) == $p->[0]) {
                $rc = $? >> 8;
                last;
            }
            if (time >= $deadline) {
                kill 'KILL', $p->[0];
                waitpid($p->[0], 0);
                $rc = -1;
                last;
            }
            sleep 0.02;
        }
        push @res, [$rc, read_file($p->[1]) // ''];
    }
    return @res;
}

# what a tls_peer client prints for its commands
sub client_lines {
    my (@cmds) = @_;
    my @l = ('connected TLSv1.3', 'upgraded');
    for (@cmds) {
        if (/^(?:echo|expect):(.*)$/s) {
            push @l, "text $1";
        } elsif (/^bin:(\d+)$/) {
            push @l, "binary $1";
        } elsif ($_ eq 'keyupdate') {
            push @l, 'keyupdate';
        } elsif ($_ eq 'ticket') {
            push @l, 'text ticket-sent';
        } elsif ($_ eq 'resumed') {
            push @l, qr/^text resumed [01]$/;
        } elsif (/^flood:(\d+)$/) {
            push @l, 'keyupdate during the flood',
                qr/^flood $1 bytes, [1-9]\d* KeyUpdates$/,
                (map { "text during-flood-$_" } 1 .. 3),
                'flood: ' . (3 + int($1 / 524288)) . ' texts back';
        } elsif ($_ eq 'close') {
            push @l, 'close 1000', 'eof';
        }
    }
    return (@l, 'done');
}

# Runs tls_peer clients at once and checks each one's whole output.
sub tls_ok {
    my ($name, @runs) = @_;
    my @res = tls_clients(@runs);
    for my $i (0 .. $#runs) {
        my ($path, @cmds) = @{ $runs[$i] };
        my ($rc, $out) = @{ $res[$i] };
        my $n = @runs > 1 ? "$name, client " . ($i + 1) : $name;
        my @exp = client_lines(@cmds);
        my @got = split /\n/, $out;
        my $same = @got == @exp;
        for my $j (0 .. $#exp) {
            last unless $same;
            $same = ref $exp[$j] ? $got[$j] =~ $exp[$j] : $got[$j] eq $exp[$j];
        }
        ok($rc == 0 && $same, "$n: every command done")
            or diag("exit code $rc, output:\n$out");
        note("$n: $_") for grep { /resumed/ } @got;
    }
    return map { $_->[1] } @res;
}

# After a case: the same worker, and no alert, crit or crash in the error
# log since the mark.
my $mark = $t->mark;
sub healthy {
    my ($name) = @_;
    my $pid = $t->worker_pid;
    is($pid, $worker, "$name: the worker process is still $worker");
    my @bad = grep {
        /\[(?:alert|crit|emerg)\]|exited on signal|Sanitizer|runtime error:/
    } split /\n/, substr($t->error_log, $mark);
    ok(!@bad, "$name: no alert, crit or crash in the error log")
        or diag(join "\n", @bad);
    my $wr = () = substr($t->error_log, $mark)
        =~ /peer started SSL renegotiation/g;
    note("$name: SSL_read() wanted to write $wr times") if $wr;
    $worker = $pid if $pid;
    $mark = $t->mark;
}

# Reads a backend flood of $total bytes (the pattern) up to "flood-done",
# slowly; returns the number of bytes, or a string telling what went wrong.
sub read_flood {
    my ($c, $total) = @_;
    my $exp = substr $PATTERN x (int($total / 251) + 1), 0, $total;
    my ($got, $since) = ('', 0);
    while (1) {
        my $f = read_frame($c, 20);
        return "error $f->{error} after " . length($got) . ' bytes'
            if $f->{error};
        last if $f->{opcode} == OP_TEXT && $f->{payload} eq 'flood-done';
        return "opcode $f->{opcode} after " . length($got) . ' bytes'
            unless $f->{opcode} == OP_BINARY || $f->{opcode} == OP_CONT;
        $got .= $f->{payload};
        $since += length $f->{payload};
        if ($since >= 262144) {
            $since = 0;
            sleep 0.005;
        }
    }
    return 'wrong bytes' if $got ne substr $exp, 0, length $got;
    return length $got;
}


# ---------------------------------------------------------------------------
# a late NewSessionTicket from the backend

# one plain WebSocket: echo, a ticket alone 200 ms later (detached by then),
# echo, a ticket with data behind it, echo, close; the first failure ends
# it
sub late_ticket_plain {
    my ($b, $name, $resumed) = @_;
    my $c = plain_open("/$b/late", $name) or return;
    my $n = peer_count($b, qr/late ticket sent/);
    echo_ok($c, OP_TEXT, 'before', "$name: echo before")
        && command_ok($c, 'ticket-later 200', 'ticket-later',
            "$name: ticket-later")
        && is(peer_wait($b, qr/late ticket sent/, $n + 1), $n + 1,
            "$name: the backend sent the ticket")
        && sleep(0.1)
        && echo_ok($c, OP_TEXT, 'after the ticket',
            "$name: echo after the ticket")
        && echo_ok($c, OP_BINARY, binary_payload(70000, 3),
            "$name: binary echo after the ticket")
        && command_ok($c, 'ticket 2', 'ticket-sent', "$name: two more tickets")
        && echo_ok($c, OP_TEXT, text_payload(3000, 2), "$name: echo after them")
        && resumed($c, $name, $resumed) eq "resumed $resumed"
        && close_ok($c, $name);
}

for my $b ('b0', 'b2') {
    for my $i (1 .. 3) {
        late_ticket_plain($b, "late ticket $b, plain $i", $i > 1 ? 1 : 0);
    }
}
healthy('late tickets, plain clients in a row');

# at the same time: every WebSocket gets its ticket alone, then traffic
for my $b ('b0', 'b2') {
    my $name = "late tickets $b, plain at once";
    my @c = grep { defined } map { plain_open("/$b/late-$_", "$name $_") }
        1 .. 4;
    my $n = peer_count($b, qr/late ticket sent/);
    for my $i (0 .. $#c) {
        send_text($c[$i], 'ticket-later ' . (200 + 20 * $i));
    }
    my @ok = map { text_ok($c[$_], 'ticket-later',
        "$name " . ($_ + 1) . ': ticket-later') } 0 .. $#c;
    next if grep { !$_ } @ok;
    is(peer_wait($b, qr/late ticket sent/, $n + @c), $n + @c,
        "$name: the backend sent " . scalar(@c) . ' tickets') or next;
    sleep 0.1;
    for my $i (0 .. $#c) {
        echo_ok($c[$i], OP_BINARY, binary_payload(20000 + $i, $i),
            "$name " . ($i + 1) . ': echo after the ticket')
            && close_ok($c[$i], "$name " . ($i + 1));
    }
}
healthy('late tickets, plain clients at once');

# a new WebSocket to the same backend after them
for my $b ('b0', 'b2') {
    my $c = plain_open("/$b/again", "$b again") or next;
    echo_ok($c, OP_TEXT, 'again', "$b again: echo")
        && resumed($c, "$b again", 1)
        && close_ok($c, "$b again");
}
healthy('a new WebSocket after late tickets');

my @late = ('echo:before', 'send:ticket-later 200', 'expect:ticket-later',
    'sleep:500', 'echo:after the ticket', 'bin:70000', 'ticket',
    'echo:after one more', 'resumed', 'close');
for my $b ('b0', 'b2') {
    my $n = peer_count($b, qr/late ticket sent/);
    tls_ok("late ticket $b, TLS client 1", ["/$b/tls-late", @late]);
    my ($out) = tls_ok("late ticket $b, TLS client 2",
        ["/$b/tls-late", @late]);
    like($out, qr/^text resumed 1$/m,
        "late ticket $b, TLS client 2: backend TLS session resumed");
    tls_ok("late ticket $b, TLS clients at once",
        map { ["/$b/tls-late-$_", @late] } 1 .. 3);
    is(peer_count($b, qr/late ticket sent/), $n + 5,
        "late ticket $b, TLS clients: every ticket sent alone");
}
my ($again) = tls_ok("b0 again, TLS client", ['/b0/tls-again', 'echo:again',
    'resumed', 'close']);
like($again, qr/^text resumed 1$/m, 'b0 again, TLS client: backend TLS '
    . 'session resumed');
healthy('late tickets, TLS clients');


# ---------------------------------------------------------------------------
# KeyUpdates from the backend, the client and both

sub keyupdate_plain {
    my ($b, $name) = @_;
    my $c = plain_open("/$b/ku", $name) or return;
    my $n = peer_count($b, qr/late keyupdate sent/);
    echo_ok($c, OP_TEXT, 'before', "$name: echo before")
        && echo_ok($c, OP_BINARY, binary_payload(70000, 5),
            "$name: binary before")
        && command_ok($c, 'keyupdate', 'keyupdate-sent',
            "$name: backend KeyUpdate")
        && echo_ok($c, OP_TEXT, text_payload(5000, 4), "$name: echo after it")
        && echo_ok($c, OP_BINARY, binary_payload(200000, 6),
            "$name: binary after it")
        && command_ok($c, 'keyupdate-later 100', 'keyupdate-later',
            "$name: keyupdate-later")
        && is(peer_wait($b, qr/late keyupdate sent/, $n + 1), $n + 1,
            "$name: the backend sent the KeyUpdate alone")
        && sleep(0.05)
        && command_ok($c, 'keyupdate', 'keyupdate-sent', "$name: one more")
        && echo_ok($c, OP_BINARY, binary_payload(70000, 7),
            "$name: binary after")
        && close_ok($c, $name);
}

keyupdate_plain('b0', "backend KeyUpdate, plain $_") for 1 .. 2;
{
    my $name = 'backend KeyUpdate, plain at once';
    my @c = grep { defined } map { plain_open("/b2/ku-$_", "$name $_") }
        1 .. 4;
    send_text($_, 'keyupdate') for @c;
    my @ok = map { text_ok($c[$_], 'keyupdate-sent',
        "$name " . ($_ + 1) . ': KeyUpdate') } 0 .. $#c;
    for my $i (0 .. $#c) {
        $ok[$i]
            && echo_ok($c[$i], OP_BINARY, binary_payload(100000 + $i, $i),
                "$name " . ($i + 1) . ': binary after it')
            && close_ok($c[$i], "$name " . ($i + 1));
    }
}
healthy('backend KeyUpdates, plain clients');

my @ku_client = ('echo:before', 'bin:70000', 'keyupdate', 'echo:after one',
    'bin:200000', 'keyupdate', 'keyupdate', 'echo:after two', 'bin:70000',
    'close');
my @ku_both = ('echo:before', 'bin:70000', 'keyupdate',
    'send:keyupdate', 'expect:keyupdate-sent', 'echo:after both',
    'bin:200000', 'send:keyupdate-later 50', 'expect:keyupdate-later',
    'keyupdate', 'sleep:200', 'echo:after both again', 'bin:70000',
    'send:keyupdate', 'keyupdate', 'expect:keyupdate-sent', 'echo:crossed',
    'close');
my @ku_backend = ('echo:before', 'send:keyupdate', 'expect:keyupdate-sent',
    'bin:70000', 'echo:after', 'close');
for my $b ('b0', 'b2') {
    tls_ok("backend KeyUpdate $b, TLS client", ["/$b/tku", @ku_backend]);
    tls_ok("client KeyUpdate $b, TLS client $_", ["/$b/tku", @ku_client])
        for 1 .. 2;
    tls_ok("both KeyUpdates $b, TLS client $_", ["/$b/tku", @ku_both])
        for 1 .. 2;
    tls_ok("KeyUpdates $b, TLS clients at once",
        (map { ["/$b/tku-c$_", @ku_client] } 1 .. 2),
        (map { ["/$b/tku-b$_", @ku_both] } 1 .. 2));
}
healthy('KeyUpdates, TLS clients');


# ---------------------------------------------------------------------------
# KeyUpdates in the middle of floods, with a socket full

my $FLOOD = 8 * 1024 * 1024;

# a backend flood toward a plain client that reads nothing for a while,
# then slowly; the client sends texts meanwhile
sub flood_plain {
    my ($b, $name) = @_;
    my $c = plain_open("/$b/flood", $name, rcvbuf => 65536) or return;
    echo_ok($c, OP_TEXT, 'before', "$name: echo before") or return;
    send_text($c, "flood $FLOOD");
    sleep 0.3;
    for my $i (1 .. 3) {
        send_text($c, "during-flood-$i");
        sleep 0.05;
    }
    sleep 0.2;
    is(read_flood($c, $FLOOD), $FLOOD, "$name: $FLOOD bytes of the flood")
        && text_ok($c, 'during-flood-1', "$name: during-flood-1 back")
        && text_ok($c, 'during-flood-2', "$name: during-flood-2 back")
        && text_ok($c, 'during-flood-3', "$name: during-flood-3 back")
        && echo_ok($c, OP_BINARY, binary_payload(70000, 9),
            "$name: echo after")
        && close_ok($c, $name);
}

flood_plain('b0', "flood, plain $_") for 1 .. 2;
{
    my $name = 'flood, plain at once';
    my @c = grep { defined } map { plain_open("/b2/flood-$_", "$name $_",
        rcvbuf => 65536) } 1 .. 3;
    send_text($_, "flood $FLOOD") for @c;
    sleep 0.3;
    send_text($_, 'during-flood') for @c;
    for my $i (0 .. $#c) {
        my $n = "$name " . ($i + 1);
        is(read_flood($c[$i], $FLOOD), $FLOOD, "$n: $FLOOD bytes")
            && text_ok($c[$i], 'during-flood', "$n: during-flood back")
            && close_ok($c[$i], $n);
    }
}
healthy('floods, plain clients');

# TLS clients: the client's KeyUpdate arrives while nginx's socket toward
# it is full, and the backend's KeyUpdate in the middle of the flood
tls_ok("flood b0, TLS client $_", ['/b0/tflood', 'echo:before',
    "flood:$FLOOD", 'bin:70000', 'close']) for 1 .. 2;
tls_ok('flood b2, TLS clients at once', map { ["/b2/tflood-$_",
    'echo:before', "flood:$FLOOD", 'echo:after', 'close'] } 1 .. 3);
{
    # a 4 KiB send buffer toward the client: nginx's answer to the
    # client's KeyUpdate is more likely to find the socket full
    local $client_port = $sp_small;
    tls_ok("flood b0, TLS client $_, small send buffer", ['/b0/tflood-s',
        'echo:before', "flood:$FLOOD", 'bin:70000', 'close']) for 1 .. 2;
}
healthy('floods, TLS clients');

# A plain client floods the backend with 16 MiB (256 frames) while it
# reads nothing for a second ("stall": its KeyUpdate and texts come while
# nginx's socket toward it is full) or reads 200 frames slowly asking for
# KeyUpdates ("slowread": nginx's answers are due while its socket is
# nearly full).  The echo must be byte-exact, the texts in order.
sub slow_backend {
    my ($b, $name, $cmd, $first, $tick, $last) = @_;
    my $c = plain_open("/$b/slow", $name) or return;
    echo_ok($c, OP_TEXT, 'before', "$name: echo before") or return;
    my $total = 16 * 1024 * 1024;
    my $data = binary_payload($total, 11);
    my $out = join '', map { cframe(OP_BINARY, substr $data, $_ * 65536,
        65536) } 0 .. $total / 65536 - 1;
    my ($pos, @texts, $bad) = (0);
    my $echo = '';
    my ($r, $done) = pump(writes => [[$c, cframe(OP_TEXT, $cmd) . $out]],
        reads => [[$c, 1 << 40]], idle => 20, until => sub {
            my ($buf) = @_;
            while (my ($f, $n) = WsTest::_parse_one($buf, $pos)) {
                $pos += $n;
                if ($f->{opcode} == OP_TEXT) {
                    push @texts, $f->{payload};
                } elsif ($f->{opcode} == OP_BINARY
                    || $f->{opcode} == OP_CONT)
                {
                    $echo .= $f->{payload};
                } else {
                    $bad = "opcode $f->{opcode}";
                    return 1;
                }
            }
            return $bad || length $echo >= $total && @texts
                && $texts[-1] eq $last;
        });
    my $ticks = grep { $_ eq $tick } @texts;
    ok($done && !$bad, "$name: flood sent and echoed")
        or diag('bad: ' . ($bad // 'none') . ', ' . length($echo)
            . " bytes echoed, texts: @texts[0 .. ($#texts > 5 ? 5 : $#texts)]"),
        return;
    ok($echo eq $data, "$name: echo byte-exact")
        && is(join(' ', grep { $_ ne $tick } @texts), "$first $last",
            "$name: $first, $last")
        && ok($ticks >= 1, "$name: $tick texts ($ticks)")
        && echo_ok($c, OP_TEXT, 'after', "$name: echo after")
        && close_ok($c, $name);
}

slow_backend('b0', 'stalled backend', 'stall 1000', 'stalling', 'stall-tick',
    'stall-over');
slow_backend('b2', 'slow backend', 'slowread 200', 'slowreading',
    'slow-tick', 'slow-over');
healthy('a stalled and a slow backend');

$t->stop;
done_testing;
