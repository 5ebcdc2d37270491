# A real browser: a page served by the same nginx, opened in headless
# Chromium (Debian's chromium, driven over the DevTools protocol by
# peers/browser_driver.js), connects through the module and exchanges
# messages; the same page served by another server block (another origin) is
# refused with 403. The test reads the outcome from the page's DOM.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use JSON::PP;
use Test::More;
use WsTest;

my $CHROMIUM = '/usr/bin/chromium';

my $t = WsTest->new;
plan skip_all => "no $CHROMIUM (Debian package chromium)" unless -x $CHROMIUM;
plan skip_all => 'python3 websockets not installed'
    unless WsTest::have_python_websockets();

my $dir = $t->dir;
mkdir "$dir/html";
write_file("$dir/html/index.html", read_file(peer_path('browser.html')));

my $backend_log = "$dir/backend.log";
my $bp = $t->start_peer(name => 'backend', cmd => [python_bin(),
    "$FindBin::Bin/../examples/jwt_chat_server.py", 'PORT']);
my $pass = "ws_pass http://127.0.0.1:$bp;";

my $port_b = free_port();

my $server = <<"SERVER";
        location = / {
            root $dir/html;
            index index.html;
        }
        location = /index.html {
            root $dir/html;
        }
        location /ws/same {
            $pass
        }
SERVER

my $servers = <<"SERVERS";
    server {
        listen 127.0.0.1:$port_b;
        server_name other;

        location / {
            root $dir/html;
        }
    }
SERVERS

$t->run(server => $server, servers => $servers);
my $port = $t->port;

# Opens $url in headless Chromium (a profile of its own each time) and
# returns (outcomes, state, dom): the JSON lines of #outcome as hashes, the
# text of #state.
my $runs = 0;
sub browse {
    my ($url) = @_;
    $runs++;
    my $home = "$dir/chromium";
    my ($rc, $out) = run_cmd(timeout => 40, env => {
            %{ WsTest::node_env() }, HOME => $home,
            XDG_CONFIG_HOME => "$home/config", XDG_CACHE_HOME => "$home/cache" },
        cmd => ['node', peer_path('browser_driver.js'), $CHROMIUM,
            "$home/profile-$runs", $url, 20000]);
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
    diag("chromium exited with $rc:\n$out") if $rc != 0 || !defined $state;
    return (\@res, $state // '', $out);
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

my $res;
my $state;
my $dom;

# the page of the same origin: allowed, messages go both ways

$t->mark;
($res, $state, $dom) = browse(page_url($port, msgs => ['hello', 'second'],
    cases => ['same|/ws/same|']));
is($state, 'done', 'same origin: the page ran to its end');
is(scalar @$res, 1, 'same origin: one outcome');
my $r = $res->[0] // {};
ok($r->{open}, 'same origin: open');
is_deeply($r->{received}, ['-: hello', '-: second'],
    'same origin: messages echoed by the backend');
is($r->{code}, 1000, 'same origin: closed with 1000');

# another origin: refused

$t->mark;
($res, $state, $dom) = browse(page_url($port_b, msgs => ['hello'],
    cases => ['other|/ws/same|']));
is($state, 'done', 'other origin: the page ran to its end');
$r = $res->[0] // {};
ok(!$r->{open}, 'other origin: not open');
ok($r->{error}, 'other origin: error event');
is($r->{code}, 1006, 'other origin: close code 1006');
$t->log_ok('info', qq{ws: origin "http://127.0.0.1:$port_b" not allowed }
    . 'in location "/ws/same"');

diag(read_file("$dir/backend.log"));

$t->stop;
done_testing;
