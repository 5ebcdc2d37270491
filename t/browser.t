# A real browser: a page served by the same nginx (peers/browser.html),
# opened in headless Chromium (Debian's chromium, driven over the DevTools
# protocol by peers/browser_driver.js), connects through the module with a
# JWT in a cookie (ws_auth_jwt token=$cookie_session) and in a subprotocol
# (subprotocol=bearer.), exchanges messages with the example backend
# (examples/jwt_chat_server.py, which answers as the user nginx puts in
# X-User) and writes the outcome into the page; the test reads it from the
# DOM. Missing, forged and wrong-audience tokens get 401 (1006 in the
# browser); the same page served by another server block (another origin)
# is refused with 403 before its valid tokens are looked at; close_at_exp
# closes with 1008 "token expired". The backend never sees the bearer entry.
# Then examples/jwt-chat.conf runs as examples/run.sh would start it and its
# page (examples/jwt-chat.html) chats in the browser.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep);
use WsTest;

my $CHROMIUM = '/usr/bin/chromium';

my $t = WsTest->new;
plan skip_all => "no $CHROMIUM (Debian package chromium)" unless -x $CHROMIUM;
plan skip_all => 'python3 websockets not installed'
    unless WsTest::have_python_websockets();
plan skip_all => 'python3-jwt not installed'
    unless (run_cmd(cmd => [python_bin(), '-c', 'import jwt'],
        timeout => 30))[0] == 0;

my $dir = $t->dir;
mkdir "$dir/html";
write_file("$dir/html/index.html", read_file(peer_path('browser.html')));

# The HMAC secret: 48 bytes, the last a newline (the file's exact bytes are
# the secret), and another one for tokens that must fail.
write_file("$dir/secret", join('', map { chr(33 + ($_ * 37) % 90) } 1 .. 47) . "\n");
write_file("$dir/other-secret", 'x' x 48);

# A token signed with $key (HS256) for the claims, exp relative to now.
sub mint {
    my ($key, %claims) = @_;
    $claims{exp} = time() + $claims{exp} if defined $claims{exp};
    my ($rc, $out) = run_cmd(timeout => 30, cmd => [python_bin(), '-c',
        'import json, sys, jwt; '
        . 'key = open(sys.argv[1], "rb").read(); '
        . 'print(jwt.encode(json.loads(sys.argv[2]), key, algorithm="HS256"))',
        $key, JSON::PP->new->canonical->encode(\%claims)]);
    chomp $out;
    $rc == 0 && $out =~ /^[\w-]+\.[\w-]+\.[\w-]+$/ or BAIL_OUT("mint: $out");
    return $out;
}

my $alice = mint("$dir/secret", sub => 'alice', aud => 'chat', exp => 600);
my $bob = mint("$dir/secret", sub => 'bob', aud => 'chat', exp => 600);
my $forged = mint("$dir/other-secret", sub => 'mallory', aud => 'chat',
    exp => 600);
my $other_aud = mint("$dir/secret", sub => 'carol', aud => 'admin',
    exp => 600);

my $bp = $t->start_peer(name => 'backend', cmd => [python_bin(),
    "$FindBin::Bin/../examples/jwt_chat_server.py", 'PORT']);
my $backend_log = "$dir/backend.log";
my $pass = "ws_pass http://127.0.0.1:$bp;";

my $port_b = free_port();

# Server A (the harness's server, $t->port) serves the page and the
# WebSockets: /ws/cookie takes the token from the cookie "session" and
# checks the Origin against the Host (same, the default); /ws/proto takes it
# from the subprotocol "bearer.TOKEN" and names the allowed origin. A second
# access log says whether a session cookie or a bearer offer came, and for
# whom, without the token.
my $http = <<"HTTP";
    map \$cookie_session \$has_session {
        ""      no;
        default yes;
    }
    map \$http_sec_websocket_protocol \$has_bearer {
        "~(^|[ ,])bearer\\."  yes;
        default              no;
    }
    log_format browser 'browser uri=\$uri status=\$status origin=\$http_origin '
                       'session=\$has_session bearer=\$has_bearer '
                       'user=\$ws_jwt_claim_sub reject=\$ws_reject_reason '
                       'code=\$ws_close_code';
HTTP

my $server = <<"SERVER";
        access_log $dir/access.log ws;
        access_log $dir/browser.log browser;

        ws_auth_jwt_key_file $dir/secret alg=HS256;
        ws_auth_jwt_require aud chat;

        location = /index.html {
            root $dir/html;
        }
        location /ws/plain {
            $pass
        }
        location /ws/cookie {
            $pass
            ws_auth_jwt chat token=\$cookie_session;
            ws_set_header X-User \$ws_jwt_claim_sub;
        }
        location /ws/proto {
            $pass
            ws_origin http://127.0.0.1:PORT_A;
            ws_auth_jwt chat subprotocol=bearer.;
            ws_set_header X-User \$ws_jwt_claim_sub;
        }
        location /ws/expiring {
            $pass
            ws_auth_jwt chat subprotocol=bearer.;
            ws_auth_jwt_close_at_exp on;
            ws_set_header X-User \$ws_jwt_claim_sub;
        }
SERVER

# Server B: the same page from another origin.
my $servers = <<"SERVERS";
    server {
        listen 127.0.0.1:$port_b;
        server_name other;

        location = /index.html {
            root $dir/html;
        }
    }
SERVERS

my $port = free_port();
$server =~ s/PORT_A/$port/g;
$t->run(port => $port, http => $http, server => $server, servers => $servers);

# Opens $url in headless Chromium (a profile of its own each time) and
# returns (outcomes, state, dom, log): the JSON lines of #outcome as hashes,
# the text of #state, the DOM, and what the browser logged for the page
# (lines "LEVEL TEXT": console, exceptions, failed WebSocket handshakes). Options (see peers/browser_driver.js): until => a
# JavaScript expression to wait for instead of #state "done", run => a
# script run once the page has loaded.
my $runs = 0;
sub browse {
    my ($url, %o) = @_;
    $runs++;
    my $home = "$dir/chromium";
    my ($rc, $out) = run_cmd(timeout => 40, env => {
            %{ WsTest::node_env() }, HOME => $home,
            XDG_CONFIG_HOME => "$home/config", XDG_CACHE_HOME => "$home/cache" },
        cmd => ['node', peer_path('browser_driver.js'), $CHROMIUM,
            "$home/profile-$runs", $url, 20000,
            grep { defined } $o{until}, $o{run}]);
    reap_browser("$home/profile-$runs");
    my ($pre) = $out =~ m{<pre id="outcome">(.*?)</pre>}s;
    my ($state) = $out =~ m{<div id="state">(.*?)</div>}s;
    my @res;
    for my $line (split /\n/, $pre // '') {
        $line =~ s/&quot;/"/g;
        $line =~ s/&lt;/</g;
        $line =~ s/&gt;/>/g;
        $line =~ s/&amp;/&/g;
        push @res, eval { decode_json($line) } // { bad => $line };
    }
    diag("chromium exited with $rc:\n$out")
        if $rc != 0 || (!defined $state && !$o{until});
    my @log = $out =~ /^browser: (.*)$/mg;
    return (\@res, $state // '', $out, \@log);
}

# Kills what is left of the browser started with the profile $profile
# (the driver kills its process group; this is for a driver that was killed
# itself): processes whose command line names that profile.
sub reap_browser {
    my ($profile) = @_;
    my $arg = "--user-data-dir=$profile";
    for my $proc (glob '/proc/[0-9]*') {
        my $cmd = read_file("$proc/cmdline") // next;
        next unless grep { $_ eq $arg } split /\0/, $cmd;
        my ($pid) = $proc =~ m{(\d+)$};
        kill 'KILL', $pid;
    }
}

sub q_escape {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

sub page_url {
    my ($page_port, %o) = @_;
    my @q = ("ws=" . q_escape("ws://127.0.0.1:$port"));
    push @q, 'cookie=' . q_escape($o{cookie}) if defined $o{cookie};
    push @q, map { 'msg=' . q_escape($_) } @{ $o{msgs} // [] };
    push @q, map { 'case=' . q_escape($_) } @{ $o{cases} };
    return "http://127.0.0.1:$page_port/index.html?" . join '&', @q;
}

# The backend's JSON lines (events) after the mark $bmark.
my $bmark = 0;
sub backend_events {
    my $log = read_file($backend_log) // '';
    my @e;
    for my $line (split /\n/, substr($log, $bmark)) {
        my $e = eval { decode_json($line) } or next;
        push @e, $e;
    }
    return @e;
}
sub backend_mark { $bmark = length(read_file($backend_log) // '') }

# The lines of browser.log as hashes, in order.
sub browser_log {
    my @e;
    for my $line (split /\n/, read_file("$dir/browser.log") // '') {
        next unless $line =~ s/^browser //;
        push @e, { map { /^([a-z_]+)=(.*)$/ ? ($1, $2) : () } split / /, $line };
    }
    return @e;
}

# How many failed handshakes to $path the browser logged with the status
# $code: Chromium says "Unexpected response code: 403", and for a 401 with
# its WWW-Authenticate challenge (Bearer, a scheme it has no credentials
# for) "HTTP Authentication failed; no valid credentials available".
sub refusals {
    my ($blog, $path, $code) = @_;
    my $why = $code == 401
        ? qr/HTTP Authentication failed; no valid credentials available/
        : qr/Unexpected response code: $code\b/;
    return scalar grep {
        m{^error WebSocket connection to 'ws://127\.0\.0\.1:$port$path' failed: }
            && /$why/
    } @$blog;
}

sub by_case {
    my ($res) = @_;
    return { map { ($_->{case} // '?') => $_ } @$res };
}

my ($res, $state, $dom, $c, $blog);

# The page of the same origin: a cookie token and a subprotocol token, each
# authenticates its user; the backend sees the user in X-User and never the
# bearer entry; the browser gets the subprotocol chat. A page must offer a
# subprotocol of the backend beside the bearer entry: offered alone, the
# entry is removed, the backend chooses none, and the browser fails a
# handshake that answers no subprotocol to its offer.

$t->mark;
backend_mark();
($res, $state, $dom, $blog) = browse(page_url($port, cookie => $alice,
    msgs => ['hello', 'second'],
    cases => ['plain|/ws/plain|', 'cookie|/ws/cookie|',
        "proto|/ws/proto|chat bearer.$bob", "alone|/ws/proto|bearer.$bob"]));
is($state, 'done', 'same origin: the page ran to its end') or diag($dom);
$c = by_case($res);
is(scalar @$res, 4, 'same origin: four outcomes');

ok($c->{plain}{open}, 'no auth: open');
is_deeply($c->{plain}{received}, ['-: hello', '-: second'],
    'no auth: messages back, no user');
is($c->{plain}{code}, 1000, 'no auth: closed with 1000');

ok($c->{cookie}{open}, 'cookie token: open');
ok(!$c->{cookie}{error}, 'cookie token: no error event');
is_deeply($c->{cookie}{received}, ['alice: hello', 'alice: second'],
    'cookie token: the backend answers as alice');
is($c->{cookie}{protocol}, '', 'cookie token: no subprotocol');
is($c->{cookie}{code}, 1000, 'cookie token: closed with 1000');

ok($c->{proto}{open}, 'subprotocol token: open');
ok(!$c->{proto}{error}, 'subprotocol token: no error event');
is($c->{proto}{protocol}, 'chat',
    'subprotocol token: the browser got the subprotocol chat');
is_deeply($c->{proto}{received}, ['bob: hello', 'bob: second'],
    'subprotocol token: the backend answers as bob');
is($c->{proto}{code}, 1000, 'subprotocol token: closed with 1000');

ok(!$c->{alone}{open} && $c->{alone}{error}
    && ($c->{alone}{code} // 0) == 1006,
    'bearer entry alone: the browser fails the handshake (1006)');
ok((grep { m{^error WebSocket connection to 'ws://127\.0\.0\.1:$port/ws/proto' }
        && /Sent non-empty 'Sec-WebSocket-Protocol' header but no response/ }
        @$blog),
    'bearer entry alone: the browser says why') or diag(explain($blog));

my @ev = backend_events();
my @open = grep { $_->{event} eq 'open' } @ev;
is_deeply([map { "$_->{path} $_->{user}" } @open],
    ['/ws/plain -', '/ws/cookie alice', '/ws/proto bob', '/ws/proto bob'],
    'backend: four WebSockets (the last one refused by the browser), users '
    . 'from X-User');
my ($po, $pa) = grep { $_->{path} eq '/ws/proto' } @open;
is($po && $po->{offered}, 'chat',
    'backend: the subprotocol offer holds chat, no bearer entry');
is($po && $po->{subprotocol}, 'chat', 'backend: chose chat');
is($pa && $pa->{offered}, '', 'backend: the bearer entry alone, no offer');
is_deeply([map { "$_->{path} $_->{user} $_->{text}" }
        grep { $_->{event} eq 'message' } @ev],
    ['/ws/plain - hello', '/ws/plain - second',
     '/ws/cookie alice hello', '/ws/cookie alice second',
     '/ws/proto bob hello', '/ws/proto bob second'],
    'backend: the messages of the page, in order');

# no token and bad tokens: 401, the browser sees 1006; the backend sees
# nothing, the token is not in the error log

$t->mark;
backend_mark();
($res, $state, $dom, $blog) = browse(page_url($port, msgs => ['hello'],
    cases => ['nocookie|/ws/cookie|', 'noproto|/ws/proto|chat',
        "forged|/ws/proto|chat bearer.$forged",
        "aud|/ws/proto|chat bearer.$other_aud"]));
is($state, 'done', 'refused tokens: the page ran to its end') or diag($dom);
$c = by_case($res);
for my $name (qw(nocookie noproto forged aud)) {
    my $r = $c->{$name} // {};
    ok(!$r->{open} && $r->{error} && ($r->{code} // 0) == 1006,
        "$name: refused, error event, 1006 in the browser")
        or diag(explain($r));
}
is(refusals($blog, '/ws/cookie', 401), 1, 'refused tokens: the browser saw '
    . 'one 401 from /ws/cookie') or diag(explain($blog));
is(refusals($blog, '/ws/proto', 401), 3, 'refused tokens: the browser saw '
    . 'three 401 from /ws/proto') or diag(explain($blog));
$t->log_ok('info', 'ws: no token, refused in location "/ws/cookie"');
$t->log_ok('info', 'ws: no token, refused in location "/ws/proto"');
$t->log_ok('info', 'ws: invalid token: bad signature, refused in location '
    . '"/ws/proto"');
$t->log_ok('info', 'ws: invalid token: claim "aud" mismatch, refused in '
    . 'location "/ws/proto"');
is(scalar(grep { $_->{event} eq 'open' } backend_events()), 0,
    'refused tokens: nothing reached the backend');
my $log = substr $t->error_log, $t->{mark};
for my $tok ($forged, $other_aud) {
    my ($sig) = $tok =~ /\.([^.]+)$/;
    ok(index($log, $sig) < 0, 'refused tokens: no token in the error log');
}

# The same page from server B, another origin, with a valid cookie (sent:
# the cookie is for the host, whatever the port) and a valid subprotocol
# token: refused by the Origin check before the token is looked at.

$t->mark;
backend_mark();
($res, $state, $dom, $blog) = browse(page_url($port_b, cookie => $alice,
    msgs => ['hello'],
    cases => ['cookie|/ws/cookie|', "proto|/ws/proto|chat bearer.$bob"]));
is($state, 'done', 'other origin: the page ran to its end') or diag($dom);
$c = by_case($res);
for my $name (qw(cookie proto)) {
    my $r = $c->{$name} // {};
    ok(!$r->{open}, "other origin, $name token: not open");
    ok($r->{error}, "other origin, $name token: error event");
    is($r->{code}, 1006, "other origin, $name token: close code 1006");
}
is(refusals($blog, $_, 403), 1, "other origin: the browser saw a 403 from $_")
    or diag(explain($blog)) for '/ws/cookie', '/ws/proto';
$t->log_ok('info', qq{ws: origin "http://127.0.0.1:$port_b" not allowed }
    . 'in location "/ws/cookie"');
$t->log_ok('info', qq{ws: origin "http://127.0.0.1:$port_b" not allowed }
    . 'in location "/ws/proto"');
$t->log_not('info', qr/ws: (no|invalid) token/,
    'other origin: no token check');
is(scalar(grep { $_->{event} eq 'open' } backend_events()), 0,
    'other origin: nothing reached the backend');

# ws_auth_jwt_close_at_exp: a token expiring in 5 s (time for the browser to
# start); the browser gets 1008 "token expired", the backend 1001.

$t->mark;
backend_mark();
my $short = mint("$dir/secret", sub => 'dave', aud => 'chat', exp => 5);
($res, $state, $dom) = browse(page_url($port, msgs => ['hello'],
    cases => ["expiring|/ws/expiring|chat bearer.$short|hold"]));
is($state, 'done', 'close at exp: the page ran to its end') or diag($dom);
$c = by_case($res)->{expiring} // {};
ok($c->{open}, 'close at exp: open');
is_deeply($c->{received}, ['dave: hello'], 'close at exp: message back');
is($c->{code}, 1008, 'close at exp: close code 1008 in the browser');
is($c->{reason}, 'token expired', 'close at exp: reason in the browser');
ok($c->{clean}, 'close at exp: a clean close');
$t->log_ok('info', 'ws: token expired, closing');
my ($bc) = grep { $_->{event} eq 'close' } backend_events();
is($bc && $bc->{code}, 1001, 'close at exp: 1001 to the backend');

# what the access log of server A says, token-free

my @bl = browser_log();
my %seen = map { ("$_->{uri} $_->{status} $_->{origin} $_->{session} "
    . "$_->{bearer} $_->{user} $_->{reject}") => 1 } @bl;
for my $want (
    "/ws/cookie 101 http://127.0.0.1:$port yes no alice ",
    "/ws/proto 101 http://127.0.0.1:$port yes yes bob ",
    "/ws/cookie 401 http://127.0.0.1:$port no no - auth",
    "/ws/proto 401 http://127.0.0.1:$port no yes - auth",
    "/ws/cookie 403 http://127.0.0.1:$port_b yes no - origin",
    "/ws/proto 403 http://127.0.0.1:$port_b yes yes - origin",
    "/ws/expiring 101 http://127.0.0.1:$port no yes dave ")
{
    ok($seen{$want}, "access log: $want") or diag(explain(\@bl));
}
my $bltext = read_file("$dir/browser.log") // '';
ok(index($bltext, (split /\./, $alice)[2]) < 0,
    'access log: no token');

$t->stop;

# The example: examples/jwt-chat.conf started as examples/run.sh starts it
# (this module, other ports), its backend and its page in the browser, with
# a token in the URL's fragment, over the subprotocol and over the cookie.

my $ex = "$dir/example";
mkdir $_ for $ex, "$ex/logs", "$ex/temp", "$ex/html";
my $examples = "$FindBin::Bin/../examples";
write_file("$ex/html/jwt-chat.html", read_file("$examples/jwt-chat.html"));
write_file("$ex/jwt-secret", read_file("$dir/secret"));
my $ex_bp = $t->start_peer(name => 'example-backend',
    cmd => [python_bin(), "$examples/jwt_chat_server.py", 'PORT']);
my $ex_port = free_port();
my $conf = read_file("$examples/jwt-chat.conf");
$conf =~ s/^load_module .*;/load_module "$t->{module}";/m;
$conf =~ s/^worker_processes .*;/worker_processes 1;/m;
$conf =~ s/127\.0\.0\.1:8080/127.0.0.1:$ex_port/g;
$conf =~ s/127\.0\.0\.1:9001/127.0.0.1:$ex_bp/g;
write_file("$ex/nginx.conf", $conf);
my @ex_nginx = ($t->{nginx}, '-p', "$ex/", '-c', "$ex/nginx.conf");
my ($trc, $tout) = run_cmd(cmd => [@ex_nginx, '-t'], timeout => 30,
    preload => 1);
is($trc, 0, 'example: nginx -t accepts examples/jwt-chat.conf')
    or diag($tout);
my $ex_pid = spawn_cmd(cmd => [@ex_nginx, '-g', 'daemon off;'],
    log => "$ex/stderr.log", env => $ENV{NGX_WS_PRELOAD}
        ? { LD_PRELOAD => $ENV{NGX_WS_PRELOAD} } : {});
ok(wait_port($ex_port, 20), 'example: nginx listens')
    or diag(read_file("$ex/logs/error.log") // '');

my $erin = mint("$dir/secret", sub => 'erin', aud => 'chat', exp => 600);
my $page_js = 'document.getElementById("connect").click();'
    . ' var iv = setInterval(function () {'
    . ' if (!document.getElementById("message").disabled) {'
    . ' clearInterval(iv);'
    . ' document.getElementById("message").value = "hi from MODE";'
    . ' document.getElementById("send").requestSubmit(); } }, 20);';
for my $mode (qw(subprotocol cookie)) {
    my $run = $page_js =~ s/MODE/$mode/r;
    $run = qq{document.querySelector("input[value=cookie]").checked = true; $run}
        if $mode eq 'cookie';
    (undef, undef, $dom) = browse("http://127.0.0.1:$ex_port/#token=$erin",
        run => $run, until => 'document.getElementById("log").textContent'
            . ".indexOf('erin: hi from $mode') >= 0");
    my ($shown) = $dom =~ m{<div id="log">(.*?)</div></div>}s;
    $shown = join ' | ', ($shown // '') =~ m{<div>(.*?)(?:</div>|$)}g;
    is($shown, "connecting ($mode) | open, subprotocol \""
        . ($mode eq 'cookie' ? '' : 'chat') . "\" | erin: hi from $mode",
        "example page, $mode token: the chat works");
}

kill 'QUIT', $ex_pid;
my $deadline = time + 10;
sleep 0.05 while time < $deadline && waitpid($ex_pid, POSIX::WNOHANG()) == 0;
my $ex_access = read_file("$ex/logs/access.log") // '';
like($ex_access, qr{"GET /chat HTTP/1.1" 101 user=erin origin="http://127\.0\.0\.1:$ex_port" protocols="chat, bearer\.\[token\]"},
    'example: access log line of the subprotocol WebSocket');
like($ex_access, qr{"GET /chat-cookie HTTP/1.1" 101 user=erin },
    'example: access log line of the cookie WebSocket');
my $erin_sig = (split /\./, $erin)[2];
ok(index($ex_access . (read_file("$ex/logs/error.log") // ''), $erin_sig) < 0,
    'example: the token is in no log');
ok(waitpid($ex_pid, POSIX::WNOHANG()) != 0 || !kill(0, $ex_pid),
    'example: nginx quit');
unlike((read_file("$ex/logs/error.log") // '')
        . (read_file("$ex/stderr.log") // ''),
    qr/\[(alert|emerg|crit)\]|AddressSanitizer|runtime error/,
    'example: no alert in the error log, no sanitizer report');

done_testing;
