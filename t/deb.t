# The Debian package: scripts/build-deb.sh (`make deb`) builds
# libnginx-mod-http-ws, lintian finds nothing in it; apt-get installs it
# into the machine's nginx (a policy-rc.d keeps services from starting),
# its modules-enabled line loads the module from /usr/lib/nginx/modules/
# into /usr/sbin/nginx (nginx -t, then a WebSocket echo through it); a
# remove keeps the disabled link, a purge leaves nothing of the package.
# The machine is left as it was found, also when the test fails midway.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Cwd qw(abs_path);
use Test::More;
use WsTest;

my $PKG = 'libnginx-mod-http-ws';
my $ROOT = abs_path("$FindBin::Bin/..");
my $NGINX = '/usr/sbin/nginx';
my $SO = '/usr/lib/nginx/modules/ngx_http_ws_module.so';
my $AVAILABLE = '/usr/share/nginx/modules-available/mod-http-ws.conf';
my $ENABLED = '/etc/nginx/modules-enabled/50-mod-http-ws.conf';
my $POLICY = '/usr/sbin/policy-rc.d';
my $POLICY_SAVED = "$POLICY.ngx-ws-deb-t";
my $ABI_FILE = '/usr/share/nginx/src/debian/libnginx-mod.abisubstvars';

sub have_cmd {
    my ($cmd) = @_;
    return grep { -x "$_/$cmd" } split /:/, $ENV{PATH} // '';
}

if ($ENV{NGX_WS_PRELOAD}) {
    plan skip_all => 'sanitized pass: the packaged module is not sanitized '
        . '(t/deb.t runs in the plain pass)';
}
if ($> != 0) {
    plan skip_all => 'not root: installing a package needs root';
}
for my $cmd (qw(apt-get dpkg dpkg-query)) {
    plan skip_all => "no $cmd: apt/dpkg unusable" unless have_cmd($cmd);
}
if (!-w '/var/lib/dpkg' || system('dpkg-query -W dpkg >/dev/null 2>&1') != 0)
{
    plan skip_all => 'the dpkg database is not usable';
}

my $t = WsTest->new(nginx => $NGINX, load => "include $ENABLED;");
my $dir = $t->dir;

# dpkg's status of the package: "ii", "rc"... or "" when dpkg knows nothing
sub status {
    my $s = `dpkg-query -W -f='\${db:Status-Abbrev}' $PKG 2>/dev/null`;
    $s =~ s/\s+$//;
    return $s eq 'un' ? '' : $s;
}

sub apt_get {
    my (@args) = @_;
    my ($rc, $out) = run_cmd(cmd => ['apt-get', '-y', '-q',
        '-o', 'DPkg::Lock::Timeout=300', '--no-install-recommends', @args],
        env => { DEBIAN_FRONTEND => 'noninteractive' }, timeout => 400);
    return ($rc, $out);
}

if (status() ne '') {
    fail("$PKG is already known to dpkg (" . status() . '): t/deb.t '
        . "installs and purges it; run 'apt-get purge $PKG' first");
    done_testing;
    exit;
}

# ---------------------------------------------------------------- cleanup

my ($policy_ours, $touched) = (0, 0);

sub cleanup {
    if ($touched && status() ne '') {
        my ($rc, $out) = apt_get('purge', $PKG);
        if ($rc != 0) {
            diag("cleanup: apt-get purge failed:\n$out");
            system("dpkg --purge --force-all $PKG >/dev/null 2>&1");
        }
        for my $l ($ENABLED, "$ENABLED.removed") {
            unlink $l if -l $l;
        }
    }
    if ($policy_ours) {
        unlink $POLICY;
        rename $POLICY_SAVED, $POLICY if -e $POLICY_SAVED || -l $POLICY_SAVED;
        $policy_ours = 0;
    }
}

END {
    my $status = $?;
    cleanup();
    $? = $status;
}

# END cleans up after a signal too
$SIG{$_} = sub { diag("t/deb.t: SIG$_[0], cleaning up"); exit 1 }
    for qw(INT TERM HUP);

# ---------------------------------------------------------------- build

my ($rc, $out) = run_cmd(cmd => ["$ROOT/scripts/build-deb.sh"],
    timeout => 900);
is($rc, 0, 'scripts/build-deb.sh builds the package') or diag($out);

my $version = read_file("$ROOT/VERSION") // '';
$version =~ s/\s+//g;
my ($deb) = glob "$ROOT/build/deb/${PKG}_$version-*.deb";
ok($deb && -f $deb, "build/deb/ holds the package of VERSION $version")
    or BAIL_OUT('no package to test');

my $lintian = read_file("$ROOT/build/deb/lintian.txt");
ok(defined $lintian, 'lintian checked the package');
my @tags = grep { /^[EW]: / } split /\n/, $lintian // '';
is(scalar @tags, 0, 'lintian: no error or warning') or diag(join "\n", @tags);

my $info = `dpkg-deb -f '$deb' Package Version Depends`;
like($info, qr/^Version: \Q$version\E-\d+$/m, 'package version is VERSION-N');

my $abi = (read_file($ABI_FILE) // '') =~ /^nginx:abi=(\S+)$/m ? $1 : '';
isnt($abi, '', "nginx-dev's ABI: $abi");
like($info, qr/^Depends: .*\b\Q$abi\E\b/m, 'depends on the nginx ABI');
like($info, qr/^Depends: .*\blibssl3\b/m, 'depends on libssl3 (shlibs)');
like($info, qr/^Depends: .*\blibjansson4\b/m, 'depends on libjansson4 (shlibs)');
my $provides = `dpkg-query -W -f='\${Provides}' nginx 2>/dev/null`;
like($provides, qr/\b\Q$abi\E\b/, "the installed nginx provides $abi");

# ---------------------------------------------------------------- install

my $had_policy = -e $POLICY || -l $POLICY;
if ($had_policy) {
    rename $POLICY, $POLICY_SAVED or BAIL_OUT("rename $POLICY: $!");
}
$policy_ours = 1;
write_file($POLICY, "#!/bin/sh\n# t/deb.t: no service starts\nexit 101\n");
chmod 0755, $POLICY;

$touched = 1;
($rc, $out) = apt_get('install', $deb);
is($rc, 0, 'apt-get install ./' . ($deb =~ s{.*/}{}r)) or diag($out);
is(status(), 'ii', 'installed');

my @files = grep { length } split /\n/,
    `dpkg-query -L $PKG 2>/dev/null`;
ok((grep { $_ eq $SO } @files), "ships $SO");
ok((grep { $_ eq $AVAILABLE } @files), "ships $AVAILABLE");
ok(-f $SO, 'module installed');
is(read_file($AVAILABLE), "load_module modules/ngx_http_ws_module.so;\n",
    'modules-available line');
ok(-l $ENABLED, "postinst enabled it: $ENABLED");
is(readlink($ENABLED), $AVAILABLE, 'modules-enabled link target');
ok((grep { $_ eq $ENABLED } glob '/etc/nginx/modules-enabled/*.conf'),
    'nginx.conf\'s include /etc/nginx/modules-enabled/*.conf takes it');

# ---------------------------------------------------------------- nginx

# The load_module path "modules/..." is relative to the prefix: Debian's
# prefix /usr/share/nginx has modules -> /usr/lib/nginx/modules, and so has
# the private prefix.
symlink '/usr/lib/nginx/modules', "$dir/modules"
    or BAIL_OUT("symlink $dir/modules: $!");

my $bp = echo_backend();
my $server = <<"S";
        location /echo {
            ws_pass http://127.0.0.1:$bp;
        }
S

($rc, $out) = $t->conf_test(server => $server);
is($rc, 0, "nginx -t with include $ENABLED") or diag($out);
like($out, qr/test is successful/, 'nginx -t: test is successful');

{
    my $bare = WsTest->new(nginx => $NGINX, load => '');
    ($rc, $out) = $bare->conf_test(server => $server);
    isnt($rc, 0, 'nginx -t without the include refuses ws_pass');
    like($out, qr/unknown directive "ws_pass"/, '... as an unknown directive');
}

$t->run(server => $server);

my $worker = $t->worker_pid;
my $maps = $worker ? read_file("/proc/$worker/maps") // '' : '';
like($maps, qr{ \Q$SO\E$}m, "the worker mapped $SO");

my $c = $t->client_handshake(path => '/echo');
my $head = read_head($c, 10);
my $res = $head ? parse_head($head) : { status => 0 };
is($res->{status}, 101, 'handshake through the packaged module: 101');

# a message, which the proxy may pass on in fragments
sub read_message {
    my ($s) = @_;
    my $f = read_frame($s, 10);
    return $f if $f->{error};
    my %m = (opcode => $f->{opcode}, payload => $f->{payload});
    while (!$f->{fin}) {
        $f = read_frame($s, 10);
        return $f if $f->{error};
        $m{payload} .= $f->{payload};
    }
    return \%m;
}

for my $m ('hello from the package', 'x' x 70000) {
    send_all($c, cframe(OP_TEXT, $m));
    my $r = read_message($c);
    ok(!$r->{error} && $r->{opcode} == OP_TEXT && $r->{payload} eq $m,
        'echo of ' . length($m) . ' bytes');
}

send_all($c, cframe(OP_CLOSE, close_payload(1000, 'bye')));
my $f = read_frame($c, 10);
is($f->{opcode}, OP_CLOSE, 'close frame back');
is(substr($f->{payload} // '', 0, 2), pack('n', 1000), 'close code 1000');
close $c;

my $e = $t->access_entry('/echo', 5);
is($e && $e->{code}, 1000, 'access log: code=1000');

$t->stop;

# ---------------------------------------------------------------- remove

($rc, $out) = apt_get('remove', $PKG);
is($rc, 0, "apt-get remove $PKG") or diag($out);
is(status(), 'rc', 'removed, configuration kept');
ok(!-e $SO, 'module gone');
ok(!-e $ENABLED && !-l $ENABLED, 'modules-enabled link gone');
ok(-l "$ENABLED.removed", 'prerm kept the link as .removed (admin choice '
    . 'kept on a reinstall)');

# ---------------------------------------------------------------- purge

($rc, $out) = apt_get('purge', $PKG);
is($rc, 0, "apt-get purge $PKG") or diag($out);
is(status(), '', 'dpkg knows nothing of the package');

my @left = grep { -e $_ || -l $_ } grep { !-d $_ } @files;
push @left, grep { -e } "/usr/share/doc/$PKG";
push @left, grep { -e $_ || -l $_ } $ENABLED, "$ENABLED.removed";
push @left, glob "/var/lib/dpkg/info/$PKG.*";
push @left, glob "/etc/nginx/modules-enabled/*mod-http-ws*";
is(scalar @left, 0, 'no file of the package left') or diag("left: @left");

cleanup();
ok(!-e $POLICY_SAVED && (-e $POLICY || -l $POLICY ? 1 : 0) == ($had_policy ? 1 : 0),
    'policy-rc.d as it was: ' . ($had_policy ? 'restored' : 'none'));

done_testing;
