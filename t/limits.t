# Message and byte rate limits of open WebSockets: ws_limit_messages and
# ws_limit_bytes per connection, from=client|upstream|both,
# ws_limit_action throttle (spaced, nothing lost, the other direction
# flowing, control frames passing) and close (1008 "rate limit", 1001 to
# the other side, nothing of the message over the limit forwarded), the log
# line once per episode at ws_limit_log_level, ws_limit_dry_run and
# $ws_limit_status; zones: one bucket for every WebSocket with the key, in
# one worker and across two, an empty key not limited, a full zone evicting
# keys no WebSocket uses or letting a new key through, a reconnecting key
# finding its excess, the zone kept over a reload and a changed key
# refused; inheritance and ws_limit_messages off; nginx -t refusals.

# Times are checked generously in the "not too fast" direction (a throttled
# message cannot arrive before its turn, whatever the load) and loosely in
# the other.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use IO::Select;
use List::Util qw(max);
use Time::HiRes qw(time sleep);
use WsTest;

# WsTest's configuration with two workers, each with a socket of its own
# (reuseport), so that connections are spread over both
package LimitTwoWorkers {
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
my $l = listener();
my $lp = $l->sockport;
my $port = free_port();
my $dir = $t->dir;

my $http = <<"HTTP";
    log_format limit 'limit uri=\$request_uri status=\$ws_limit_status '
                     'code=\$ws_close_code initiator=\$ws_close_initiator';
    access_log $dir/limit.log limit;

    ws_limit_zone \$binary_remote_addr zone=addr:1m;
    ws_limit_zone \$http_x_user zone=user:1m;
    ws_limit_zone \$binary_remote_addr zone=kept:1m;
    ws_limit_zone \$http_x_big zone=small:32k;
HTTP

my $server = <<"SERVER";
        location /m/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages 5r/s;
        }
        location /slow/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages 2r/s;
        }
        location /one/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages 1r/s;
        }
        location /burst/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages 2r/s burst=3;
        }
        location /rm/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages 120r/m;
        }
        location /up/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages 2r/s from=upstream;
        }
        location /both/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages from=both 2r/s;
        }
        location /close/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages 5r/s burst=2;
            ws_limit_action close;
        }
        location /warn/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages 5r/s;
            ws_limit_log_level warn;
        }
        location /notice/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages 5r/s;
            ws_limit_log_level notice;
        }
        location /info/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages 5r/s;
            ws_limit_log_level info;
        }
        location /dry/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages 2r/s;
            ws_limit_action close;
            ws_limit_dry_run on;
        }
        location /bytes/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_bytes 32k burst=16k;
        }
        location /bclose/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_bytes 1k burst=2k;
            ws_limit_action close;
        }
        location /addr/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages zone=addr 5r/s;
        }
        location /user/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages 1r/s zone=user;
        }
        location /kept/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages zone=kept 1r/m;
            ws_limit_action close;
        }
        location /small/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages zone=small 1r/m;
            # the throttled messages wait behind the close: not for 5 s
            ws_close_timeout 300ms;
        }
        location /split/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages zone=user 1r/m burst=3;
            ws_limit_action close;
        }
        location /splitc/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages 1r/m burst=3;
            ws_limit_action close;
        }
        location /none/ {
            ws_pass http://127.0.0.1:$lp;
        }
SERVER

my $servers = <<"SERVERS";
    server {
        listen 127.0.0.1:$port;
        server_name inherit.test;

        ws_limit_messages 1r/s;
        ws_limit_action close;

        location /inherited/ {
            ws_pass http://127.0.0.1:$lp;
        }
        location /off/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages off;
        }
        location /own/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages 100r/s burst=10;
        }
    }
SERVERS

my %conf = (port => $port, http => $http, server => $server,
    servers => $servers);
$t->run(%conf);


# ---------------------------------------------------------------------------
# helpers

# Messages "$tag 1".."$tag N" as client (masked) or server frames.
sub cmsgs { my ($tag, $n) = @_; map { cframe(OP_TEXT, "$tag $_") } 1 .. $n }
sub smsgs { my ($tag, $n) = @_; map { sframe(OP_TEXT, "$tag $_") } 1 .. $n }

# Reads $n frames; returns the frames and the time each was whole.
sub timed_frames {
    my ($s, $n, $timeout) = @_;
    my (@f, @at);
    my $deadline = time + ($timeout // 10);
    for (1 .. $n) {
        my $f = read_frame($s, $deadline - time);
        push @f, $f;
        push @at, time;
        last if $f->{error};
    }
    return (\@f, \@at);
}

# Test: the frames are exactly @$exp, in order.
sub frames_are {
    my ($f, $exp, $name) = @_;
    my $got = join '', map { $_->{error} ? '' : $_->{raw} } @$f;
    return bytes_is($got, join('', @$exp), $name);
}

# Test: frame k (from 0) came no sooner than $t0 + k * $gap (less 20 ms of
# clock rounding): the messages were spaced by the limit.
sub spaced_ok {
    my ($at, $t0, $gap, $name, $first) = @_;
    $first //= 0;
    my @early;
    for my $k ($first .. $#$at) {
        my $due = ($k - $first) * $gap;
        push @early, sprintf('%d at %.3f s, due %.3f s', $k + 1,
            $at->[$k] - $t0, $due) if $at->[$k] - $t0 < $due - 0.02;
    }
    ok(!@early, $name) or diag(join "\n", @early);
}

# The line of the limit log (status, code, initiator) of a WebSocket.
sub limit_entry {
    my ($uri, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    while (1) {
        my $log = read_file("$dir/limit.log") // '';
        for my $line (reverse split /\n/, $log) {
            next unless $line =~ s/^limit //;
            my %h = map { /^([a-z_]+)=(.*)$/ ? ($1, $2) : () }
                split / /, $line;
            return \%h if ($h{uri} // '') eq $uri;
        }
        return {} if time >= $deadline;
        sleep 0.05;
    }
}

sub status_is {
    my ($uri, $status, $name) = @_;
    my $e = limit_entry($uri);
    is($e->{status}, $status, "$name: \$ws_limit_status $status");
    return $e;
}

# Reads $n->[1] bytes from each socket $n->[0] of @$want at once; returns
# the data read from each and the time each was complete (-1: EOF first).
sub timed_reads {
    my ($want, $timeout) = @_;
    my @d = ('') x @$want;
    my @at;
    my $deadline = time + ($timeout // 10);
    while (time < $deadline) {
        my @open = grep { !defined $at[$_] } 0 .. $#$want;
        last unless @open;
        my $sel = IO::Select->new(map { $want->[$_][0] } @open);
        for my $s ($sel->can_read(0.05)) {
            my ($k) = grep { $want->[$_][0] == $s } @open;
            my $n = sysread($s, $d[$k], $want->[$k][1] - length $d[$k],
                length $d[$k]);
            next if !defined $n && ($!{EAGAIN} || $!{EINTR});
            if (!$n) {
                $at[$k] = -1;
                next;
            }
            $at[$k] = time if length $d[$k] >= $want->[$k][1];
        }
    }
    return (\@d, \@at);
}

sub gone {
    my ($pid, $timeout) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        return 1 unless -e "/proc/$pid";
        my $st = read_file("/proc/$pid/stat") // '';
        return 1 if $st =~ /^\d+ \(.*\) Z /s;
        sleep 0.05;
    }
    return 0;
}

# The close handshake from the client; both connections then close.
sub end_pair {
    my ($p, $name) = @_;
    my ($c, $b) = @$p{qw(client backend)};
    send_all($c, cframe(OP_CLOSE, close_payload(1000)));
    my $f = read_frame($b, 10);
    ok(!$f->{error} && $f->{opcode} == OP_CLOSE,
        "$name: the client's close reached the backend")
        or diag(hx($f->{raw}));
    send_all($b, sframe(OP_CLOSE, close_payload(1000)));
    frame_ok(read_frame($c, 5), "\x88\x02\x03\xe8",
        "$name: the backend's close reached the client");
    expect_eof($c, "$name: client connection closed");
    expect_eof($b, "$name: backend connection closed");
    close $c;
    close $b;
}

# Count of a message in the error log after the mark.
sub log_count {
    my ($re) = @_;
    my $log = substr $t->error_log, $t->{mark};
    my @n = $log =~ /$re/g;
    return scalar @n;
}

my $MSG = 'ws: limiting messages from client, excess: 1.000 by connection';
my $MSG_UP = 'ws: limiting messages from upstream, excess: 1.000 '
    . 'by connection';

# 1008 "rate limit", unmasked
my $RATE_CLOSE = "\x88\x0c\x03\xf0rate limit";

# Test: ws_limit_action close took the client's message: 1001 to the
# backend instead of it, 1008 "rate limit" to the client; the replies, and
# both connections closed.
sub rate_closed {
    my ($p, $name, $what) = @_;
    my ($c, $b) = @$p{qw(client backend)};
    masked_close_ok(read_frame($b, 5), 1001,
        "$name: the backend gets 1001, not $what");
    frame_ok(read_frame($c, 5), $RATE_CLOSE,
        "$name: the client gets 1008 \"rate limit\" for $what");
    send_all($c, cframe(OP_CLOSE, close_payload(1008)));
    send_all($b, sframe(OP_CLOSE, close_payload(1001)));
    expect_eof($c, "$name: client connection closed");
    expect_eof($b, "$name: backend connection closed");
    close $c;
    close $b;
}


# ---------------------------------------------------------------------------
# throttle: spaced at 1/rate, in order, nothing lost, logged once

{
    my $name = '5r/s';
    $t->mark;
    my $p = $t->ws_pair($l, path => '/m/a');
    my ($c, $b) = @$p{qw(client backend)};
    my @m = cmsgs('m', 5);
    my $t0 = time;
    send_all($c, join '', @m);
    my ($f, $at) = timed_frames($b, 5, 10);
    frames_are($f, \@m, "$name: all 5 messages forwarded, in order, intact");
    spaced_ok($at, $t0, 0.2, "$name: spaced by at least 1/rate");
    cmp_ok($at->[0] - $t0, '<', 0.5, "$name: the first at once");
    cmp_ok($at->[4] - $t0, '>=', 0.78, "$name: 5 messages take 0.8 s");
    cmp_ok($at->[4] - $t0, '<', 4, "$name: and not much longer");
    $t->log_ok('error', $MSG, "$name: logged at error");
    is(log_count(qr/limiting messages/), 1, "$name: logged once");

    # a next episode, after the bucket drained, is logged again
    sleep 1.3;
    my @n = cmsgs('n', 2);
    send_all($c, join '', @n);
    ($f, $at) = timed_frames($b, 2, 5);
    frames_are($f, \@n, "$name: a second episode");
    is(log_count(qr/limiting messages/), 2,
        "$name: a second episode is logged again");

    end_pair($p, $name);
    status_is('/m/a', 'THROTTLED', $name);
}

# under the limit: nothing is touched

{
    my $name = 'under the limit';
    $t->mark;
    my $p = $t->ws_pair($l, path => '/m/under');
    my ($c, $b) = @$p{qw(client backend)};
    my @at;
    for my $i (1 .. 3) {
        my $m = cframe(OP_BINARY, "under $i");
        my $t0 = time;
        send_all($c, $m);
        frame_ok(read_frame($b, 5), $m, "$name: message $i");
        push @at, time - $t0;
        sleep 0.25;
    }
    cmp_ok(max(@at), '<', 0.15,
        "$name: every message passed at once");
    $t->log_not('*', qr/ws: limiting/, "$name: nothing logged");
    end_pair($p, $name);
    status_is('/m/under', 'PASSED', $name);
}

# burst=3 at 2r/s: 4 at once, then one per 0.5 s

{
    my $name = 'burst=3';
    my $p = $t->ws_pair($l, path => '/burst/');
    my ($c, $b) = @$p{qw(client backend)};
    my @m = cmsgs('b', 6);
    my $t0 = time;
    send_all($c, join '', @m);
    my ($f, $at) = timed_frames($b, 6, 10);
    frames_are($f, \@m, "$name: all 6 forwarded in order");
    cmp_ok($at->[3] - $t0, '<', 0.6, "$name: the first 4 at once");
    spaced_ok($at, $t0, 0.5, "$name: then spaced", 3);
    cmp_ok($at->[4] - $t0, '>=', 0.48, "$name: the 5th after 1/rate");
    cmp_ok($at->[5] - $t0, '>=', 0.98, "$name: the 6th after 2/rate");
    end_pair($p, $name);
}

# Nr/m

{
    my $name = '120r/m';
    my $p = $t->ws_pair($l, path => '/rm/');
    my ($c, $b) = @$p{qw(client backend)};
    my @m = cmsgs('r', 3);
    my $t0 = time;
    send_all($c, join '', @m);
    my ($f, $at) = timed_frames($b, 3, 10);
    frames_are($f, \@m, "$name: all forwarded");
    spaced_ok($at, $t0, 0.5, "$name: spaced by 0.5 s");
    cmp_ok($at->[2] - $t0, '<', 5, "$name: and not much more");
    end_pair($p, $name);
}

# the other direction keeps flowing while the client is throttled

{
    my $name = 'other direction';
    my $p = $t->ws_pair($l, path => '/slow/');
    my ($c, $b) = @$p{qw(client backend)};
    my @m = cmsgs('c', 5);
    my $t0 = time;
    send_all($c, join '', @m);
    frame_ok(read_frame($b, 5), $m[0], "$name: the first message at once");
    my @s = smsgs('s', 3);
    send_all($b, join '', @s);
    my ($fs, $ats) = timed_frames($c, 3, 5);
    frames_are($fs, \@s, "$name: the backend's messages reach the client");
    cmp_ok($ats->[2] - $t0, '<', 1.2,
        "$name: at once, while the client waits for 2 s");
    my ($f, $at) = timed_frames($b, 4, 10);
    frames_are($f, [@m[1 .. 4]], "$name: the client's go on");
    cmp_ok($at->[3] - $t0, '>=', 1.98, "$name: at 2r/s");
    cmp_ok($ats->[2], '<', $at->[3] - 0.5,
        "$name: the backend's came before the client's were through");
    end_pair($p, $name);
}

# a fragmented message counts once; control frames are not limited

{
    my $name = 'fragments';
    my $p = $t->ws_pair($l, path => '/one/frag');
    my ($c, $b) = @$p{qw(client backend)};
    my @m = (cframe(OP_TEXT, 'part 1 ', fin => 0),
        cframe(OP_CONT, 'part 2 ', fin => 0),
        cframe(OP_PING, 'ping inside'),
        cframe(OP_CONT, 'part 3', fin => 1),
        cframe(OP_BINARY, 'next'));
    my $t0 = time;
    send_all($c, join '', @m);
    my ($f, $at) = timed_frames($b, 5, 10);
    frames_are($f, \@m, "$name: every frame forwarded, in order");
    cmp_ok($at->[3] - $t0, '<', 0.7,
        "$name: a message of 3 frames and a ping pass at once");
    cmp_ok($at->[4] - $t0, '>=', 0.98, "$name: the next message after 1 s");
    end_pair($p, $name);
}

{
    my $name = 'pings';
    my $p = $t->ws_pair($l, path => '/one/ping');
    my ($c, $b) = @$p{qw(client backend)};
    my @pings = map { cframe(OP_PING, "ping $_") } 1 .. 5;
    my @m = (cframe(OP_TEXT, 'first'), @pings, cframe(OP_TEXT, 'second'));
    my $t0 = time;
    send_all($c, join '', @m);
    my ($f, $at) = timed_frames($b, 6, 5);
    frames_are($f, [@m[0 .. 5]],
        "$name: the client's pings reach the backend, as without limits");
    cmp_ok($at->[5] - $t0, '<', 0.7, "$name: at once");
    my @pongs = map { sframe(OP_PONG, "ping $_") } 1 .. 5;
    send_all($b, join '', @pongs);
    my ($fc, $atc) = timed_frames($c, 5, 5);
    frames_are($fc, \@pongs, "$name: the backend's pongs reach the client");
    cmp_ok($atc->[4] - $t0, '<', 0.8, "$name: at once");
    frame_ok(read_frame($b, 5), $m[6], "$name: the next message");
    cmp_ok(time - $t0, '>=', 0.98, "$name: after 1 s");
    end_pair($p, $name);
}

# a close from the client waits behind its throttled messages; a close from
# the backend lets them through at once

{
    my $name = 'client close behind';
    my $p = $t->ws_pair($l, path => '/one/cclose');
    my ($c, $b) = @$p{qw(client backend)};
    my @m = (cmsgs('x', 2), cframe(OP_CLOSE, close_payload(1000)));
    my $t0 = time;
    send_all($c, join '', @m);
    my ($f, $at) = timed_frames($b, 3, 10);
    frames_are($f, \@m, "$name: the messages, then the close");
    cmp_ok($at->[2] - $t0, '>=', 0.98, "$name: the close after the message");
    send_all($b, sframe(OP_CLOSE, close_payload(1000)));
    frame_ok(read_frame($c, 5), "\x88\x02\x03\xe8", "$name: the reply");
    expect_eof($c, "$name: client connection closed");
    expect_eof($b, "$name: backend connection closed");
}

{
    my $name = 'backend close';
    my $p = $t->ws_pair($l, path => '/one/bclose');
    my ($c, $b) = @$p{qw(client backend)};
    my @m = cmsgs('y', 3);
    send_all($c, join '', @m);
    frame_ok(read_frame($b, 5), $m[0], "$name: the first message");
    my $t0 = time;
    send_all($b, sframe(OP_CLOSE, close_payload(1000)));
    frame_ok(read_frame($c, 5), "\x88\x02\x03\xe8",
        "$name: the close reaches the client");
    my ($f, $at) = timed_frames($b, 2, 5);
    frames_are($f, [@m[1, 2]],
        "$name: the throttled messages follow it, unlimited");
    cmp_ok($at->[1] - $t0, '<', 0.9, "$name: at once");
    my $cr = cframe(OP_CLOSE, close_payload(1000));
    send_all($c, $cr);
    frame_ok(read_frame($b, 5), $cr, "$name: the client's reply");
    expect_eof($c, "$name: client connection closed");
    expect_eof($b, "$name: backend connection closed");
}


# ---------------------------------------------------------------------------
# from=upstream, from=both

{
    my $name = 'from=upstream';
    $t->mark;
    my $p = $t->ws_pair($l, path => '/up/');
    my ($c, $b) = @$p{qw(client backend)};
    my @s = smsgs('u', 3);
    my @m = cmsgs('c', 5);
    my $t0 = time;
    send_all($b, join '', @s);
    send_all($c, join '', @m);
    my ($f, $at) = timed_frames($b, 5, 5);
    frames_are($f, \@m, "$name: the client's messages");
    cmp_ok($at->[4] - $t0, '<', 0.8, "$name: the client is not limited");
    my ($fs, $ats) = timed_frames($c, 3, 10);
    frames_are($fs, \@s, "$name: the backend's messages");
    spaced_ok($ats, $t0, 0.5, "$name: the backend's are spaced");
    $t->log_ok('error', $MSG_UP, "$name: logged");
    $t->log_not('*', qr/ws: limiting messages from client/,
        "$name: nothing about the client");
    end_pair($p, $name);
    status_is('/up/', 'THROTTLED', $name);
}

{
    my $name = 'from=both';
    $t->mark;
    my $p = $t->ws_pair($l, path => '/both/');
    my ($c, $b) = @$p{qw(client backend)};
    my @s = smsgs('u', 3);
    my @m = cmsgs('c', 3);
    my $t0 = time;
    send_all($b, join '', @s);
    send_all($c, join '', @m);
    my ($got) = pump(reads => [[$b, length join '', @m],
        [$c, length join '', @s]], idle => 5);
    my $took = time - $t0;
    bytes_is($got->[0], join('', @m), "$name: the client's messages");
    bytes_is($got->[1], join('', @s), "$name: the backend's messages");
    cmp_ok($took, '>=', 0.98, "$name: both limited");
    cmp_ok($took, '<', 2.4, "$name: each direction with its own bucket");
    $t->log_ok('error', $MSG, "$name: the client's logged");
    $t->log_ok('error', $MSG_UP, "$name: the backend's logged");
    end_pair($p, $name);
}


# ---------------------------------------------------------------------------
# ws_limit_action close

{
    my $name = 'close';
    $t->mark;
    my $p = $t->ws_pair($l, path => '/close/');
    my ($c, $b) = @$p{qw(client backend)};

    # within burst=2: 3 at once, twice, nothing touched
    for my $round (1, 2) {
        my @m = cmsgs("ok$round", 3);
        send_all($c, join '', @m);
        my ($f) = timed_frames($b, 3, 5);
        frames_are($f, \@m, "$name: within the limit, round $round");
        my ($more) = read_avail($c, 0.2);
        bytes_is($more, '', "$name: round $round: nothing to the client");
        sleep 1.1 if $round == 1;
    }
    sleep 1.1;

    my @m = cmsgs('over', 4);
    send_all($c, join '', @m);
    my ($f) = timed_frames($b, 3, 5);
    frames_are($f, [@m[0 .. 2]], "$name: the 3 within the limit forwarded");
    masked_close_ok(read_frame($b, 5), 1001,
        "$name: then the backend gets close 1001, not the 4th message");
    frame_ok(read_frame($c, 5), $RATE_CLOSE,
        "$name: the client gets 1008 \"rate limit\"");
    $t->log_ok('error', $MSG, "$name: logged");

    # the replies
    send_all($c, cframe(OP_CLOSE, close_payload(1008)));
    send_all($b, sframe(OP_CLOSE, close_payload(1001)));
    my ($rest) = read_avail($b, 0.3);
    bytes_is($rest, '', "$name: nothing more reaches the backend");
    expect_eof($c, "$name: client connection closed");
    expect_eof($b, "$name: backend connection closed");
    my $e = status_is('/close/', 'CLOSED', $name);
    is($e->{code}, 1008, "$name: \$ws_close_code 1008");
    is($e->{initiator}, 'proxy', "$name: \$ws_close_initiator proxy");
}


# ---------------------------------------------------------------------------
# ws_limit_log_level, ws_limit_dry_run

for my $level (qw(warn notice info)) {
    my $name = "ws_limit_log_level $level";
    $t->mark;
    my $p = $t->ws_pair($l, path => "/$level/");
    my ($c, $b) = @$p{qw(client backend)};
    my @m = cmsgs($level, 2);
    send_all($c, join '', @m);
    my ($f) = timed_frames($b, 2, 5);
    frames_are($f, \@m, "$name: forwarded");
    $t->log_ok($level, $MSG, "$name: logged at $level");
    is(log_count(qr/limiting messages/), 1, "$name: once");
    end_pair($p, $name);
}

{
    my $name = 'dry run';
    $t->mark;
    my $p = $t->ws_pair($l, path => '/dry/');
    my ($c, $b) = @$p{qw(client backend)};
    my @m = cmsgs('d', 8);
    my $t0 = time;
    send_all($c, join '', @m);
    my ($f, $at) = timed_frames($b, 8, 5);
    frames_are($f, \@m, "$name: all forwarded");
    cmp_ok($at->[7] - $t0, '<', 1.5,
        "$name: at once (the limit would take 3.5 s)");
    my ($more) = read_avail($c, 0.2);
    bytes_is($more, '', "$name: not closed");
    $t->log_ok('error', "$MSG, dry run", "$name: logged, ending \", dry run\"");
    is(log_count(qr/limiting messages/), 1, "$name: once");
    end_pair($p, $name);
    status_is('/dry/', 'DRY_RUN', $name);
}


# ---------------------------------------------------------------------------
# ws_limit_bytes

{
    my $name = 'bytes 32k burst=16k';
    $t->mark;
    my $p = $t->ws_pair($l, path => '/bytes/');
    my ($c, $b) = @$p{qw(client backend)};
    my $m = cframe(OP_BINARY, binary_payload(100 * 1024));
    my $t0 = time;
    my ($got, $done) = pump(writes => [[$c, $m]],
        reads => [[$b, length $m]], idle => 5);
    my $took = time - $t0;
    ok($done, "$name: 100 KB through");
    bytes_is($got->[0], $m, "$name: intact");

    # the burst, a tenth of a second of the rate, then 32k/s
    my $min = (length($m) - 16384 - 3277) / 32768;
    cmp_ok($took, '>=', $min - 0.05, sprintf "$name: took at least %.2f s",
        $min);
    cmp_ok($took, '<', 10, "$name: and not much longer");
    $t->log_ok('error',
        qr/ws: limiting bytes from client, excess: \d+ by connection\b/,
        "$name: logged");
    is(log_count(qr/limiting bytes/), 1, "$name: once");

    # the other direction is not limited
    my $s = sframe(OP_BINARY, binary_payload(200 * 1024, 3));
    $t0 = time;
    ($got) = pump(writes => [[$b, $s]], reads => [[$c, length $s]]);
    bytes_is($got->[0], $s, "$name: the backend's 200 KB");
    cmp_ok(time - $t0, '<', 2, "$name: at once");
    end_pair($p, $name);
    status_is('/bytes/', 'THROTTLED', $name);
}

{
    my $name = 'bytes close';
    $t->mark;
    my $p = $t->ws_pair($l, path => '/bclose/');
    my ($c, $b) = @$p{qw(client backend)};

    # within burst=2k
    my $a = cframe(OP_BINARY, 'a' x 1500);
    send_all($c, $a);
    frame_ok(read_frame($b, 5), $a, "$name: within the burst");
    my ($more) = read_avail($c, 0.3);
    bytes_is($more, '', "$name: nothing to the client");

    # over it: 2 KB more at once
    my @m = map { cframe(OP_BINARY, "$_" x 1000) } 1 .. 2;
    send_all($c, join '', @m);
    my ($got) = pump(reads => [[$b, 1 << 20]], idle => 1,
        until => sub { (parse_frames($_[0]))[0]
            && grep { $_->{opcode} == OP_CLOSE } @{ (parse_frames($_[0]))[0] } });
    my ($f) = parse_frames($got->[0]);
    note(join ' ', map { "op=$_->{opcode} len=$_->{len}" } @$f);
    my $cf = read_frame($c, 5);
    frame_ok($cf, $RATE_CLOSE, "$name: the client gets 1008 \"rate limit\"");
    $t->log_ok('error',
        qr/ws: limiting bytes from client, excess: \d+ by connection\b/,
        "$name: logged");
    send_all($c, cframe(OP_CLOSE, close_payload(1008)));
    send_all($b, sframe(OP_CLOSE, close_payload(1001)));
    expect_eof($c, "$name: client connection closed");
    expect_eof($b, "$name: backend connection closed");
    my $e = status_is('/bclose/', 'CLOSED', $name);
    is($e->{code}, 1008, "$name: \$ws_close_code 1008");
    is($e->{initiator}, 'proxy', "$name: \$ws_close_initiator proxy");
}


# ---------------------------------------------------------------------------
# zones: one bucket for every WebSocket with the same key

{
    my $name = 'zone by address';
    $t->mark;
    my @p = map { $t->ws_pair($l, path => "/addr/$_") } 1, 2;
    my @m = map { [cmsgs("z$_", 3)] } 1, 2;
    my $t0 = time;
    send_all($p[$_]{client}, join '', @{ $m[$_] }) for 0, 1;
    my ($d, $at) = timed_reads([map { [$p[$_]{backend},
        length join '', @{ $m[$_] }] } 0, 1], 10);
    for my $k (0, 1) {
        bytes_is($d->[$k], join('', @{ $m[$k] }),
            "$name: connection @{[$k + 1]}: its messages, in order, intact");
    }
    cmp_ok(max(@$at) - $t0, '>=', 0.98,
        "$name: 2 x 3 messages at 5r/s take 1 s: one bucket for both");
    $t->log_ok('error', qr/ws: limiting messages from client, excess: \d+\.\d{3} by zone "addr"/,
        "$name: logged, naming the zone");
    end_pair($_, $name) for @p;
}

{
    my $name = 'zone by $http_x_user';
    my @k = qw(alice1 alice2 bob none);
    my %h = (alice1 => ['X-User: alice'], alice2 => ['X-User: alice'],
        bob => ['X-User: bob'], none => []);
    my %m = (alice1 => [cmsgs('a1', 2)], alice2 => [cmsgs('a2', 1)],
        bob => [cmsgs('b', 2)], none => [cmsgs('n', 5)]);
    my %p = map { $_ => $t->ws_pair($l, path => "/user/$_",
        headers => $h{$_}) } @k;
    my $t0 = time;
    send_all($p{$_}{client}, join '', @{ $m{$_} }) for @k;
    my ($d, $at) = timed_reads([map { [$p{$_}{backend},
        length join '', @{ $m{$_} }] } @k], 10);
    my %at;
    @at{@k} = map { $_ - $t0 } @$at;
    for my $i (0 .. $#k) {
        bytes_is($d->[$i], join('', @{ $m{ $k[$i] } }),
            "$name: $k[$i]: its messages, in order, intact");
    }
    my $alice = max(@at{qw(alice1 alice2)});
    cmp_ok($alice, '>=', 1.98,
        "$name: alice's 3 messages over two connections take 2 s at 1r/s");
    cmp_ok($at{bob}, '>=', 0.98, "$name: bob's 2 take 1 s");
    cmp_ok($at{bob}, '<', $alice - 0.4,
        "$name: bob has a bucket of his own");
    cmp_ok($at{none}, '<', 0.6,
        "$name: no X-User: the empty key is not limited");
    end_pair($p{$_}, "$name: $_") for @k;
}

# A message whose header is cut by the end of a read (its first byte alone
# here) was let through on a grant of several messages: it is charged as
# it begins, and only the rest of the grant is given back, so that a key's
# connections, one message each, are held to the burst (4 at burst=3), and
# so is one connection.

sub split_send {
    my ($c, $m) = @_;
    send_all($c, substr($m, 0, 1));
    sleep 0.15;
    send_all($c, substr($m, 1));
}

{
    my $name = 'zone, a header cut by the read';
    my @got;
    for my $k (1 .. 7) {
        my $p = $t->ws_pair($l, path => "/split/$k",
            headers => ['X-User: cut']);
        my ($c, $b) = @$p{qw(client backend)};
        my $m = cframe(OP_TEXT, "cut $k");
        split_send($c, $m);
        if ($k <= 4) {
            frames_are([read_frame($b, 5)], [$m],
                "$name: connection $k: its message passes");
            end_pair($p, "$name: connection $k");
        } else {
            rate_closed($p, "$name: connection $k", 'its message');
        }
    }
}

{
    my $name = 'per connection, each header cut by the read';
    my $p = $t->ws_pair($l, path => '/splitc/1');
    my ($c, $b) = @$p{qw(client backend)};
    my @m = cmsgs('cc', 4);
    for my $m (@m) {
        split_send($c, $m);
        frames_are([read_frame($b, 5)], [$m], "$name: $m passes");
    }
    split_send($c, cframe(OP_TEXT, 'cc 5'));
    rate_closed($p, $name, 'the fifth message');
}

# a zone of 32k holds a few keys of 3000 bytes: a key that does not fit is
# let through, logged; a key let go keeps its excess until it drained or
# the zone needs the room

{
    my $name = 'full zone';
    my @keys = map { chr(ord('a') + $_) x 3000 } 0 .. 9;
    $t->mark;
    my @p = map { $t->ws_pair($l, path => "/small/$_",
        headers => ["X-Big: $keys[$_]"]) } 0 .. 9;
    my $full = 0;
    my $deadline = time + 5;
    while (time < $deadline) {
        $full = log_count(qr/\[warn\] \d+#\d+: \*\d+ ws: could not allocate node in limit zone "small"/);
        last if $full;
        sleep 0.05;
    }
    sleep 0.2;
    $full = log_count(qr/\[warn\] \d+#\d+: \*\d+ ws: could not allocate node in limit zone "small"/);
    my $fit = 10 - $full;
    cmp_ok($full, '>=', 1, "$name: keys that do not fit are logged ($full)");
    cmp_ok($fit, '>=', 2, "$name: keys that fit ($fit)");

    # the last one did not fit: not limited
    my ($c, $b) = @{ $p[9] }{qw(client backend)};
    my @m = cmsgs('over', 3);
    my $t0 = time;
    send_all($c, join '', @m);
    my ($f) = timed_frames($b, 3, 5);
    frames_are($f, \@m, "$name: a key that did not fit is let through");
    cmp_ok(time - $t0, '<', 0.6, "$name: at once");

    # the first one fit: 1r/m
    ($c, $b) = @{ $p[0] }{qw(client backend)};
    @m = cmsgs('first', 2);
    send_all($c, join '', @m);
    frame_ok(read_frame($b, 5), $m[0], "$name: a key that fit: its message");
    my ($more) = read_avail($b, 0.5);
    bytes_is($more, '', "$name: and its next waits for a minute");

    # all go; the backend ends each (throttled messages follow its close)
    for my $q (@p) {
        send_all($q->{backend}, sframe(OP_CLOSE, close_payload(1000)));
        read_until_eof($q->{client}, 5);
        close $q->{client};
        close $q->{backend};
    }
    sleep 0.3;

    # the first key reconnects: its excess is there
    $t->mark;
    my $r = $t->ws_pair($l, path => '/small/again',
        headers => ["X-Big: $keys[0]"]);
    my $m = cframe(OP_TEXT, 'again');
    send_all($r->{client}, $m);
    ($more) = read_avail($r->{backend}, 0.5);
    bytes_is($more, '', "$name: a key let go and back finds its excess");
    is(log_count(qr/could not allocate/), 0, "$name: it was still there");

    # new keys take the room of keys let go, drained or not
    my @n = map { $t->ws_pair($l, path => "/small/new$_",
        headers => ['X-Big: ' . chr(ord('A') + $_) x 3000]) } 0 .. $fit - 2;
    my $first = cframe(OP_TEXT, 'new first');
    my $second = cframe(OP_TEXT, 'new second');
    for my $q (@n) {
        send_all($q->{client}, $first . $second);
    }
    my $ok = 0;
    for my $q (@n) {
        my $g = read_frame($q->{backend}, 5);
        my ($x) = read_avail($q->{backend}, 0.2);
        $ok++ if !$g->{error} && $g->{raw} eq $first && $x eq '';
    }
    is($ok, scalar @n, "$name: @{[scalar @n]} new keys fit and are limited");
    is(log_count(qr/could not allocate/), 0,
        "$name: by evicting keys let go");
    for my $q ($r, @n) {
        send_all($q->{backend}, sframe(OP_CLOSE, close_payload(1000)));
        read_until_eof($q->{client}, 5);
        close $q->{client};
        close $q->{backend};
    }
}


# ---------------------------------------------------------------------------
# inheritance: a server's limit applies to its locations; off removes it

{
    my $name = 'inherited';
    my $p = $t->ws_pair($l, path => '/inherited/', host => 'inherit.test');
    my ($c, $b) = @$p{qw(client backend)};
    my @m = cmsgs('i', 2);
    send_all($c, join '', @m);
    frame_ok(read_frame($b, 5), $m[0], "$name: the first message");
    masked_close_ok(read_frame($b, 5), 1001,
        "$name: the second closes (1r/s, close, from the server)");
    frame_ok(read_frame($c, 5), $RATE_CLOSE, "$name: 1008 to the client");
    send_all($c, cframe(OP_CLOSE, close_payload(1008)));
    send_all($b, sframe(OP_CLOSE, close_payload(1001)));
    expect_eof($c, "$name: client connection closed");
    expect_eof($b, "$name: backend connection closed");
}

for my $x (['off', '/off/'], ['own limit', '/own/']) {
    my ($name, $path) = @$x;
    $t->mark;
    my $p = $t->ws_pair($l, path => $path, host => 'inherit.test');
    my ($c, $b) = @$p{qw(client backend)};
    my @m = cmsgs('o', 5);
    my $t0 = time;
    send_all($c, join '', @m);
    my ($f) = timed_frames($b, 5, 5);
    frames_are($f, \@m, "$name: 5 messages");
    cmp_ok(time - $t0, '<', 0.6, "$name: at once");
    $t->log_not('*', qr/ws: limiting/, "$name: nothing logged");
    end_pair($p, $name);
}


# ---------------------------------------------------------------------------
# two workers: a zone is shared by all

{
    my $name = 'two workers';
    my $t2 = LimitTwoWorkers->new;
    $t2->run(http => <<"HTTP", server => <<"SERVER");
    ws_limit_zone \$binary_remote_addr zone=addr:1m;
HTTP
        location / {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages zone=addr 5r/s;
            ws_set_header X-Worker \$pid;
        }
SERVER
    my %by;
    for (1 .. 40) {
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
    my @p = values %by;
    is(scalar @p, 2, "$name: a WebSocket in each worker");
    SKIP: {
        skip "$name: one worker took all", 3 unless @p == 2;
        my @m = map { [cmsgs("w$_", 3)] } 1, 2;
        my $t0 = time;
        send_all($p[$_]{client}, join '', @{ $m[$_] }) for 0, 1;
        my ($d, $at) = timed_reads([map { [$p[$_]{backend},
            length join '', @{ $m[$_] }] } 0, 1], 10);
        for my $k (0, 1) {
            bytes_is($d->[$k], join('', @{ $m[$k] }),
                "$name: worker @{[$k + 1]}: its messages, in order");
        }
        cmp_ok(max(@$at) - $t0, '>=', 0.98,
            "$name: 2 x 3 messages at 5r/s take 1 s: one bucket");
    }
    end_pair($_, $name) for @p;
    $t2->stop;
}


# ---------------------------------------------------------------------------
# a reload keeps the zone; a changed key is refused

{
    my $name = 'reload';
    my $p = $t->ws_pair($l, path => '/kept/1');
    my $m = cframe(OP_TEXT, 'kept 1');
    send_all($p->{client}, $m);
    frame_ok(read_frame($p->{backend}, 5), $m,
        "$name: the message of the minute");
    end_pair($p, $name);

    $t->mark;
    my $old = $t->worker_pid;
    kill 'HUP', $t->master_pid;
    ok(gone($old, 15), "$name: the old worker exited");

    $p = $t->ws_pair($l, path => '/kept/2');
    send_all($p->{client}, cframe(OP_TEXT, 'kept 2'));
    masked_close_ok(read_frame($p->{backend}, 5), 1001,
        "$name: the next message within the minute closes: the zone kept");
    frame_ok(read_frame($p->{client}, 5), $RATE_CLOSE,
        "$name: 1008 \"rate limit\" to the client");
    $t->log_ok('error', qr/ws: limiting messages from client, excess: 0\.9\d\d by zone "kept"/,
        "$name: logged: the excess of the old worker, drained a little");
    send_all($p->{client}, cframe(OP_CLOSE, close_payload(1008)));
    send_all($p->{backend}, sframe(OP_CLOSE, close_payload(1001)));
    expect_eof($p->{client}, "$name: client connection closed");

    # the same zone with another key
    $t->mark;
    my $worker = $t->worker_pid;
    (my $http2 = $http) =~ s/\$binary_remote_addr zone=kept/\$remote_addr zone=kept/
        or die 'no kept zone';
    write_file("$dir/nginx.conf", $t->conf_text(%conf, http => $http2));
    kill 'HUP', $t->master_pid;
    $t->log_ok('emerg', 'ws_limit_zone "kept" uses the "$remote_addr" key '
        . 'while previously it used the "$binary_remote_addr" key',
        "$name: a changed key is refused");
    sleep 0.5;
    is($t->worker_pid, $worker, "$name: the old configuration goes on");
    $p = $t->ws_pair($l, path => '/m/after');
    $m = cframe(OP_TEXT, 'after');
    send_all($p->{client}, $m);
    frame_ok(read_frame($p->{backend}, 5), $m, "$name: and relays");
    end_pair($p, $name);
    write_file("$dir/nginx.conf", $t->conf_text(%conf));
}


# ---------------------------------------------------------------------------
# nginx -t

my @refused = (
    [http => 'ws_limit_zone $binary_remote_addr;',
        'invalid number of arguments in "ws_limit_zone" directive'],
    [http => 'ws_limit_zone $binary_remote_addr zone=:1m;',
        '"ws_limit_zone" must have "zone" parameter'],
    [http => 'ws_limit_zone $binary_remote_addr zone=z;',
        'invalid zone size "zone=z"'],
    [http => 'ws_limit_zone $binary_remote_addr zone=z:1k;',
        'zone "zone=z:1k" is too small'],
    [http => 'ws_limit_zone $binary_remote_addr rate=1r/s;',
        'invalid parameter "rate=1r/s"'],
    [http => "ws_limit_zone \$binary_remote_addr zone=z:1m;\n"
        . 'ws_limit_zone $remote_addr zone=z:1m;', 'duplicate zone "z"'],
    [server => 'ws_limit_zone $binary_remote_addr zone=z:1m;',
        '"ws_limit_zone" directive is not allowed here'],
    [location => 'ws_limit_messages zone=nosuch 5r/s;',
        'unknown limit zone "nosuch"'],
    [location => 'ws_limit_bytes zone=nosuch 64k;',
        'unknown limit zone "nosuch"'],
    [location => 'ws_limit_messages 5r/h;', 'invalid parameter "5r/h"'],
    [location => 'ws_limit_messages 0r/s;', 'invalid parameter "0r/s"'],
    [location => 'ws_limit_messages r/s;', 'invalid parameter "r/s"'],
    [location => 'ws_limit_messages 5r/s 6r/s;', 'invalid parameter "6r/s"'],
    [location => 'ws_limit_messages 5r/s burst=x;',
        'invalid parameter "burst=x"'],
    [location => 'ws_limit_messages 5r/s from=server;',
        'invalid parameter "from=server"'],
    [location => 'ws_limit_messages burst=5;', 'no rate is defined'],
    [location => "ws_limit_messages 5r/s;\nws_limit_messages 6r/s;",
        '"ws_limit_messages" directive is duplicate'],
    [location => 'ws_limit_bytes 0;', 'invalid parameter "0"'],
    [location => 'ws_limit_bytes 64k burst=lots;',
        'invalid parameter "burst=lots"'],
    [location => 'ws_limit_action drop;', 'invalid value "drop"'],
    [location => 'ws_limit_log_level debug;', 'invalid value "debug"'],
    [location => 'ws_limit_dry_run maybe;', 'invalid value "maybe"'],
);

for my $x (@refused) {
    my ($where, $text, $msg) = @$x;
    my %c = (http => '', server => '');
    if ($where eq 'location') {
        $c{server} = "location / {\n ws_pass http://127.0.0.1:$lp;\n"
            . "$text\n}";
    } else {
        $c{$where} = $text;
    }
    my ($rc, $out) = $t->conf_test(%c);
    (my $one = $text) =~ s/\n/ /g;
    isnt($rc, 0, "nginx -t refuses $one");
    like($out, qr/\[emerg\] \Q$msg\E/, "nginx -t: $msg");
}

{
    my ($rc, $out) = $t->conf_test(http => '', server => <<"S",
        location / {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages zone=late 5r/s burst=2 from=both;
            ws_limit_bytes zone=late 1m burst=64k from=upstream;
        }
        location /off/ {
            ws_pass http://127.0.0.1:$lp;
            ws_limit_messages off;
            ws_limit_bytes off;
        }
S
        servers => "ws_limit_zone \$binary_remote_addr zone=late:1m;\n");
    is($rc, 0, 'nginx -t: a zone declared after the location using it, '
        . 'and off') or diag($out);
}

done_testing;
