# JWT authentication: ws_auth_jwt with keys from PEM files, a certificate,
# a JWKS, single JWKs and HMAC secrets; every algorithm accepted and every
# refusal (401, WWW-Authenticate, the info line, $ws_reject_reason auth,
# nothing sent to the backend, the token never in the error log); claims,
# leeway, each token source, $ws_jwt_* variables in ws_set_header and the
# access log, satisfy any and auth_request beside it, inheritance, keys
# rotated by a reload, nginx -t refusals and ws_auth_jwt_close_at_exp.
#
# Keys are made by openssl, tokens by peers/jwt_mint.py (python3-jwt, and
# by hand with python3-cryptography for what PyJWT will not make).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Digest::SHA qw(hmac_sha256);
use JSON::PP;
use MIME::Base64 qw(encode_base64url decode_base64url);
use Test::More;
use Time::HiRes qw(time sleep);
use WsTest;

my $t = WsTest->new;
{
    my ($rc) = run_cmd(cmd => [python_bin(), '-c',
        'import jwt, cryptography'], timeout => 30);
    plan skip_all => 'python3-jwt and python3-cryptography are needed'
        unless $rc == 0;
}
my $dir = $t->dir;
my $k = "$dir/keys";
mkdir $k;
my $rec = "$dir/backend.req";
my $bp = echo_backend(record => $rec);
my $pass = "ws_pass http://127.0.0.1:$bp;";
my $l = listener();
my $lpass = 'ws_pass http://127.0.0.1:' . $l->sockport . ';';
my $json = JSON::PP->new->canonical->ascii;


# ---------------------------------------------------------------------------
# keys

sub openssl {
    my ($rc, $out) = run_cmd(cmd => ['openssl', @_], timeout => 60);
    BAIL_OUT("openssl @_: $out") unless $rc == 0;
}

sub pair {
    my ($name, @gen) = @_;
    openssl('genpkey', @gen, '-out', "$k/$name.key");
    openssl('pkey', '-in', "$k/$name.key", '-pubout', '-out', "$k/$name.pub");
}

pair('rsa', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048');
pair('rsa2', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048');
pair('rsa1024', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:1024');
pair('ec256', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256');
pair('ec256b', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256');
pair('ec384', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-384');
pair('ec521', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-521');
pair('ed', '-algorithm', 'ed25519');
pair('ed2', '-algorithm', 'ed25519');
openssl('req', '-x509', '-key', "$k/rsa.key", '-subj', '/CN=jwt',
    '-days', '2', '-out', "$k/rsa.crt");

# HMAC secrets: the file's exact bytes, newline included
openssl('rand', '-hex', '-out', "$k/hs256.key", 16);     # 33 bytes
openssl('rand', '-hex', '-out', "$k/hs384.key", 24);     # 49 bytes
openssl('rand', '-out', "$k/hs512.key", 64);             # 64 binary bytes
openssl('rand', '-hex', '-out', "$k/hs256.short", 15);   # 31 bytes
openssl('rand', '-hex', '-out', "$k/hs384.short", 23);   # 47 bytes
openssl('rand', '-hex', '-out', "$k/hs512.short", 31);   # 63 bytes
for my $f ('oct256', 'oct384', 'oct512', 'oct.short') {
    my $n = { oct256 => 32, oct384 => 48, oct512 => 64,
              'oct.short' => 16 }->{$f};
    openssl('rand', '-out', "$k/$f", $n);
}
for my $f ('hs512.key', 'oct256', 'oct384', 'oct512', 'oct.short') {
    # a secret file starting with "{" would be read as a JWK
    my $d = read_file("$k/$f");
    substr($d, 0, 1) = "\x01" if $d =~ /^[{-]/;
    write_file("$k/$f", $d);
}
{
    my $s = read_file("$k/hs256.key");
    is(length $s, 33, 'HS256 secret: 33 bytes ending in a newline');
    (my $nonl = $s) =~ s/\n\z//;
    write_file("$k/hs256.nonl", $nonl);                  # 32 bytes
    is(length read_file("$k/hs512.key"), 64, 'HS512 secret: 64 bytes');
    write_file("$k/hs384.exact", substr(read_file("$k/hs384.key"), 0, 48));
}

# Runs peers/jwt_mint.py once for a list of [name, arguments...]; returns
# name => token (or JWK) text.
sub mint {
    my @specs = @_;
    my @args;
    for my $s (@specs) {
        push @args, '+' if @args;
        push @args, @{$s}[1 .. $#$s];
    }
    my ($rc, $out) = run_cmd(cmd => [python_bin(), peer_path('jwt_mint.py'),
        @args], timeout => 120);
    BAIL_OUT("jwt_mint.py failed: $out") unless $rc == 0;
    my @lines = split /\n/, $out;
    BAIL_OUT('jwt_mint.py: ' . scalar(@lines) . ' lines for '
        . scalar(@specs) . " specs:\n$out") unless @lines == @specs;
    my %r;
    for my $i (0 .. $#specs) {
        BAIL_OUT("jwt_mint.py: two specs named $specs[$i][0]")
            if exists $r{ $specs[$i][0] };
        $r{ $specs[$i][0] } = $lines[$i];
    }
    return %r;
}

sub K { "$k/$_[0]" }

my %jwk = mint(
    (map { my ($alg) = $_; ["rsa-$alg", '--jwk', K('rsa.pub'), '-H',
        $json->encode({ kid => lc $alg, alg => $alg, use => 'sig' })] }
        qw(RS256 RS384 RS512 PS256 PS384 PS512)),
    ['es256', '--jwk', K('ec256.pub'), '-H', '{"kid":"es256","alg":"ES256"}'],
    ['es384', '--jwk', K('ec384.pub'), '-H', '{"kid":"es384","alg":"ES384"}'],
    ['ed', '--jwk', K('ed.pub'), '-H', '{"kid":"ed","alg":"EdDSA"}'],
    (map { ["oct$_", '--jwk', K("oct$_"), '-H',
        qq({"kid":"hs$_","alg":"HS$_","use":"sig"})] } 256, 384, 512),
    ['enc', '--jwk', K('rsa2.pub'), '-H',
        '{"kid":"enc","alg":"RS256","use":"enc"}'],
    ['one', '--jwk', K('ec256.pub'), '-H', '{"kid":"one","alg":"ES256"}'],
    ['noalg', '--jwk', K('ed.pub'), '-H', '{"kid":"noalg"}'],
    ['rsa-noalg', '--jwk', K('rsa.pub')],
    ['rot1', '--jwk', K('ec256.pub'), '-H', '{"kid":"k1","alg":"ES256"}'],
    ['rot2', '--jwk', K('ec256b.pub'), '-H', '{"kid":"k2","alg":"ES256"}'],
    ['short', '--jwk', K('oct.short'), '-H', '{"kid":"s","alg":"HS256"}'],
    ['ps256-as-rs', '--jwk', K('rsa.pub'), '-H', '{"alg":"RS256"}'],
    ['ed-enc', '--jwk', K('ed.pub'), '-H', '{"alg":"EdDSA","use":"enc"}'],
    ['oct-noalg', '--jwk', K('oct256')],
    ['ec-noalg', '--jwk', K('ec384.pub')],
);

sub jwks { '{"keys":[' . join(',', @jwk{@_}) . ']}' }

write_file(K('all.jwks'), jwks(qw(rsa-RS256 rsa-RS384 rsa-RS512 rsa-PS256
    rsa-PS384 rsa-PS512 es256 es384 ed oct256 oct384 oct512 enc)));
write_file(K('one.jwk'), $jwk{one});
write_file(K('noalg.jwk'), $jwk{noalg});
write_file(K('rsa-noalg.jwks'), jwks('rsa-noalg'));
write_file(K('rot.jwks'), jwks('rot1'));
write_file(K('rot2.jwks'), jwks('rot2'));
write_file(K('rot.pem'), read_file(K('ec256.pub')));
write_file(K('short.jwks'), jwks('short'));
write_file(K('rs.jwk'), $jwk{'ps256-as-rs'});
write_file(K('enc.jwks'), jwks('ed-enc'));
write_file(K('oct-noalg.jwk'), $jwk{'oct-noalg'});
write_file(K('ec-noalg.jwk'), $jwk{'ec-noalg'});


# ---------------------------------------------------------------------------
# tokens

my $now = int time;
my $pad = 'x' x 3800;

my %T = mint(
    # every algorithm, in the JWKS (with kids) and from PEM files
    (map { my ($a) = $_; ["jwks-$a", '-k', K('rsa.key'), '-a', $a,
        '-H', $json->encode({ kid => lc $a }), '-c', qq({"sub":"$a"})] }
        qw(RS256 RS384 RS512 PS256 PS384 PS512)),
    ['jwks-ES256', '-k', K('ec256.key'), '-a', 'ES256', '-H',
        '{"kid":"es256"}'],
    ['jwks-ES384', '-k', K('ec384.key'), '-a', 'ES384', '-H',
        '{"kid":"es384"}'],
    ['jwks-EdDSA', '-k', K('ed.key'), '-a', 'EdDSA', '-H', '{"kid":"ed"}'],
    (map { ["jwks-HS$_", '-k', K("oct$_"), '-a', "HS$_", '-H',
        qq({"kid":"hs$_"})] } 256, 384, 512),
    (map { ["pem-$_", '-k', K('rsa.key'), '-a', $_] }
        qw(RS256 RS384 RS512 PS256 PS384 PS512)),
    ['pem-ES256', '-k', K('ec256.key'), '-a', 'ES256'],
    ['pem-ES384', '-k', K('ec384.key'), '-a', 'ES384'],
    ['pem-EdDSA', '-k', K('ed.key'), '-a', 'EdDSA'],
    (map { ["pem-HS$_", '-k', K("hs$_.key"), '-a', "HS$_"] } 256, 384, 512),

    # kids
    ['jwks-nokid', '-k', K('rsa.key'), '-a', 'RS256'],
    ['jwks-unknown-kid', '-k', K('rsa.key'), '-a', 'RS256', '-H',
        '{"kid":"nope"}'],
    ['jwks-enc', '-k', K('rsa2.key'), '-a', 'RS256', '-H', '{"kid":"enc"}'],
    ['jwks-kid-other-alg', '-k', K('rsa.key'), '-a', 'RS256', '-H',
        '{"kid":"rs384"}'],
    ['pem-any-kid', '-k', K('rsa.key'), '-a', 'RS256', '-H',
        '{"kid":"whatever"}'],
    ['mixed-kid-wrong-key', '-k', K('rsa2.key'), '-a', 'RS256', '-H',
        '{"kid":"rs256"}'],
    ['mixed-other-kid', '-k', K('rsa2.key'), '-a', 'RS256', '-H',
        '{"kid":"zzz"}'],
    ['mixed-nokid', '-k', K('rsa2.key'), '-a', 'RS256'],
    ['cert', '-k', K('rsa.key'), '-a', 'RS256'],
    ['jwk-one', '-k', K('ec256.key'), '-a', 'ES256', '-H', '{"kid":"one"}'],
    ['jwk-noalg', '-k', K('ed.key'), '-a', 'EdDSA', '-H', '{"kid":"noalg"}'],
    ['jwk-noalg-ps', '-k', K('rsa.key'), '-a', 'PS256'],
    ['jwk-noalg-rs', '-k', K('rsa.key'), '-a', 'RS256'],

    # signatures
    ['wrong-rsa', '-k', K('rsa2.key'), '-a', 'RS256'],
    ['wrong-ps', '-k', K('rsa2.key'), '-a', 'PS512'],
    ['wrong-ec', '-k', K('ec256b.key'), '-a', 'ES256'],
    ['wrong-ed', '-k', K('ed2.key'), '-a', 'EdDSA'],
    ['wrong-hs-nonl', '-k', K('hs256.nonl'), '-a', 'HS256'],
    ['wrong-hs384', '-k', K('hs256.key'), '-a', 'HS384'],
    ['ps-salt0', '-k', K('rsa.key'), '-a', 'PS256', '--salt', 0],
    ['es256-der', '-k', K('ec256.key'), '-a', 'ES256', '--der'],
    ['es384-der', '-k', K('ec384.key'), '-a', 'ES384', '--der'],
    ['none', '-a', 'none', '-c', '{"sub":"admin"}'],
    ['hs-with-rsa-pub', '-k', K('rsa.pub'), '-a', 'HS256',
        '-c', '{"sub":"admin"}'],
    ['hs-with-rsa-pub-kid', '-k', K('rsa.pub'), '-a', 'HS256',
        '-H', '{"kid":"rs256"}'],
    ['hs-good', '-k', K('hs256.key'), '-a', 'HS256', '-c',
        '{"sub":"alice"}'],
    ['arg-good', '-k', K('hs256.key'), '-a', 'HS256', '-c',
        '{"sub":"in the query"}'],
    ['arg-bad', '-k', K('hs256.nonl'), '-a', 'HS256', '-c',
        '{"sub":"in the query"}'],
    ['big', '-k', K('hs256.key'), '-a', 'HS256', '-c',
        qq({"sub":"big","pad":"$pad"})],

    # malformed
    ['hdr-not-json', '-k', K('hs256.key'), '-a', 'HS256',
        '--header-text', 'not json'],
    ['hdr-array', '-k', K('hs256.key'), '-a', 'HS256',
        '--header-text', '["HS256"]'],
    ['hdr-no-alg', '-k', K('hs256.key'), '-a', 'HS256',
        '--header-text', '{"typ":"JWT"}'],
    ['hdr-alg-number', '-k', K('hs256.key'), '-a', 'HS256',
        '--header-text', '{"alg":256}'],
    ['hdr-trailing', '-k', K('hs256.key'), '-a', 'HS256',
        '--header-text', '{"alg":"HS256"}x'],
    ['hdr-dup', '-k', K('hs256.key'), '-a', 'HS256',
        '--header-text', '{"alg":"HS256","alg":"HS256"}'],
    ['claims-not-json', '-k', K('hs256.key'), '-a', 'HS256',
        '--claims-text', 'sub=alice'],
    ['claims-is-array', '-k', K('hs256.key'), '-a', 'HS256',
        '--claims-text', '[{"sub":"alice"}]'],
    ['claims-truncated', '-k', K('hs256.key'), '-a', 'HS256',
        '--claims-text', '{"sub":"alice"'],
    ['claims-dup', '-k', K('hs256.key'), '-a', 'HS256',
        '--claims-text', '{"sub":"alice","sub":"admin"}'],
    ['crit', '-k', K('hs256.key'), '-a', 'HS256',
        '-H', '{"crit":["exp"],"exp":1}'],
    ['crit-b64', '-k', K('hs256.key'), '-a', 'HS256',
        '--header-text', '{"alg":"HS256","b64":true,"crit":["b64"]}'],

    # claims
    (map { ["claims-$_->[0]", '-k', K('hs256.key'), '-a', 'HS256',
        '-c', $json->encode($_->[1])] }
        ['chat', { aud => 'chat', iss => 'https://issuer.example' }],
        ['web', { aud => 'web', iss => 'https://issuer.example' }],
        ['array', { aud => ['x', 'web'], iss => 'https://issuer.example' }],
        ['array-none', { aud => ['x', 'y'], iss => 'https://issuer.example' }],
        ['array-empty', { aud => [], iss => 'https://issuer.example' }],
        ['case', { aud => 'Chat', iss => 'https://issuer.example' }],
        ['object', { aud => { chat => 1 }, iss => 'https://issuer.example' }],
        ['no-aud', { iss => 'https://issuer.example' }],
        ['bad-iss', { aud => 'chat', iss => 'https://evil.example' }],
        ['no-iss', { aud => 'chat' }]),
    (map { ["typed-$_->[0]", '-k', K('hs256.key'), '-a', 'HS256',
        '--claims-text', $_->[1]] }
        ['ok', '{"level":42,"admin":true,"sub":"alice"}'],
        ['strings', '{"level":"42","admin":"true","sub":"alice"}'],
        ['level43', '{"level":43,"admin":true,"sub":"alice"}'],
        ['admin-false', '{"level":42,"admin":false,"sub":"alice"}'],
        ['no-level', '{"admin":true,"sub":"alice"}']),

    # variables
    ['vars', '-k', K('hs256.key'), '-a', 'HS256', '-H', '{"kid":"key-1"}',
        '-c', $json->encode({ sub => 'alice', roles => ['admin', 'dev'],
            meta => { k => 1 }, n => 42, neg => -7, admin => JSON::PP::true,
            nothing => undef, name => "Jos\x{e9}" })],
    ['vars-bad', '-k', K('hs256.nonl'), '-a', 'HS256', '-H',
        '{"kid":"key-1"}', '-c', '{"sub":"mallory"}'],
    ['crlf', '-k', K('hs256.key'), '-a', 'HS256', '-c',
        $json->encode({ sub => "alice\r\nX-Injected: 1" })],
    ['lf', '-k', K('hs256.key'), '-a', 'HS256', '-c',
        $json->encode({ sub => "alice\nX-Injected: 1" })],
    ['nul', '-k', K('hs256.key'), '-a', 'HS256', '-c',
        $json->encode({ sub => "ali\x00ce" })],

    # rotation
    ['rotA', '-k', K('ec256.key'), '-a', 'ES256'],
    ['rotB', '-k', K('ec256b.key'), '-a', 'ES256'],
    ['rotjA', '-k', K('ec256.key'), '-a', 'ES256', '-H', '{"kid":"k1"}'],
    ['rotjB', '-k', K('ec256b.key'), '-a', 'ES256', '-H', '{"kid":"k2"}'],
    ['inh-es', '-k', K('ec256.key'), '-a', 'ES256'],
    # selected by a backend that knows it: the backend's value is logged
    ['sub-echo', '-k', K('hs256.key'), '-a', 'HS256', '-c', '{"sub":"e"}'],
);

# ---------------------------------------------------------------------------
# nginx

my $hs = 'ws_auth_jwt_key_file ' . K('hs256.key') . ' alg=HS256;';
my $pem_keys = join "\n", map { "            ws_auth_jwt_key_file $_;" }
    (map { K('rsa.pub') . " alg=$_" } qw(RS256 RS384 RS512 PS256 PS384
        PS512)),
    K('ec256.pub') . ' alg=ES256', K('ec384.pub') . ' alg=ES384',
    K('ed.pub') . ' alg=EdDSA', K('hs256.key') . ' alg=HS256',
    K('hs384.key') . ' alg=HS384', K('hs512.key') . ' alg=HS512';

my $server = <<"SERVER";
        location /all/ {
            $pass
            ws_auth_jwt test;
            ws_auth_jwt_key_file @{[ K('all.jwks') ]};
        }
        location /pem/ {
            $pass
            ws_auth_jwt pem;
$pem_keys
        }
        location /rs/ {
            $pass
            ws_auth_jwt test;
            ws_auth_jwt_key_file @{[ K('rsa.pub') ]} alg=RS256;
        }
        location /cert/ {
            $pass
            ws_auth_jwt test;
            ws_auth_jwt_key_file @{[ K('rsa.crt') ]} alg=RS256;
        }
        location /jwk/ {
            $pass
            ws_auth_jwt test;
            ws_auth_jwt_key_file @{[ K('one.jwk') ]};
        }
        location /jwknoalg/ {
            $pass
            ws_auth_jwt test;
            ws_auth_jwt_key_file @{[ K('noalg.jwk') ]} alg=EdDSA;
            ws_auth_jwt_key_file @{[ K('rsa-noalg.jwks') ]} alg=PS256;
        }
        location /mixed/ {
            $pass
            ws_auth_jwt test;
            ws_auth_jwt_key_file @{[ K('all.jwks') ]};
            ws_auth_jwt_key_file @{[ K('rsa2.pub') ]} alg=RS256;
        }
        location /hs/ {
            $pass
            ws_auth_jwt "hs realm";
            $hs
        }
        location /leeway/ {
            $pass
            ws_auth_jwt test;
            $hs
            ws_auth_jwt_leeway 60s;
        }
        location /claims/ {
            $pass
            ws_auth_jwt test;
            $hs
            ws_auth_jwt_require aud chat web;
            ws_auth_jwt_require iss https://issuer.example;
        }
        location /req/ {
            $pass
            ws_auth_jwt test;
            $hs
            ws_auth_jwt_require aud chat;

            location /req/inner/ {
                $pass
                ws_auth_jwt_require iss https://issuer.example;
            }
        }
        location /typed/ {
            $pass
            ws_auth_jwt test;
            $hs
            ws_auth_jwt_require level 42;
            ws_auth_jwt_require admin true;
            ws_auth_jwt_require sub \$arg_user;
        }
        location /arg/ {
            $pass
            ws_auth_jwt test token=\$arg_token;
            $hs
        }
        location /cookie/ {
            $pass
            ws_auth_jwt test token=\$cookie_session;
            $hs
        }
        location /sub/ {
            $lpass
            ws_auth_jwt test subprotocol=bearer.;
            $hs
        }
        location /subx/ {
            $lpass
            ws_auth_jwt test subprotocol=bearer.;
            $hs

            location /subx/off/ {
                $lpass
                ws_auth_jwt off;
            }
            location /subx/hdr/ {
                $lpass
                ws_auth_jwt test;
            }
        }
        location /argo/ {
            $pass
            ws_origin https://app.example.com;
            ws_auth_jwt test token=\$arg_token;
            $hs
        }
        location /det/ {
            $pass
            ws_auth_jwt test;
            $hs
            ws_set_header X-User \$ws_jwt_claim_sub;
            error_log $dir/debug.log debug;
        }
        location /subreq/ {
            $pass
            ws_auth_jwt test subprotocol=bearer.;
            $hs
            ws_subprotocols chat;
            ws_subprotocol_required on;
        }
        location /vars/ {
            $pass
            ws_auth_jwt test;
            $hs
            ws_set_header X-User \$ws_jwt_claim_sub;
            ws_set_header X-Roles \$ws_jwt_claim_roles;
            ws_set_header X-Meta \$ws_jwt_claim_meta;
            ws_set_header X-Num \$ws_jwt_claim_n;
            ws_set_header X-Neg \$ws_jwt_claim_neg;
            ws_set_header X-Admin \$ws_jwt_claim_admin;
            ws_set_header X-Null \$ws_jwt_claim_nothing;
            ws_set_header X-Name \$ws_jwt_claim_name;
            ws_set_header X-Missing \$ws_jwt_claim_missing;
            ws_set_header X-Kid \$ws_jwt_header_kid;
            ws_set_header X-Alg \$ws_jwt_header_alg;
            access_log $dir/access.log ws;
            access_log $dir/jwt.log jwt;
        }
        location /hdr/ {
            $pass
            ws_set_header X-Uri \$uri;
        }
        location /satisfy/ {
            $pass
            ws_auth_jwt test;
            $hs
            ws_set_header X-User \$ws_jwt_claim_sub;
            satisfy any;
            allow 127.0.0.1;
            deny all;
        }
        location /satisfy-deny/ {
            $pass
            ws_auth_jwt test;
            $hs
            satisfy any;
            deny all;
        }
        location /authreq/ {
            $pass
            ws_auth_jwt test;
            $hs
            auth_request /_auth;
        }
        location = /_auth {
            internal;
            if (\$http_x_allow = yes) {
                return 204;
            }
            return 401;
        }
        location /ep/ {
            $pass
            ws_auth_jwt test;
            $hs
            error_page 401 /401.html;
        }
        location = /401.html {
            root $dir/html;
        }
        location /origin/ {
            $pass
            ws_auth_jwt test;
            $hs
            ws_origin https://app.example.com;
        }
        location /rot/ {
            $pass
            ws_auth_jwt test;
            ws_auth_jwt_key_file @{[ K('rot.pem') ]} alg=ES256;
        }
        location /rotj/ {
            $pass
            ws_auth_jwt test;
            ws_auth_jwt_key_file @{[ K('rot.jwks') ]};
        }
        location /exp/ {
            $lpass
            ws_auth_jwt test;
            $hs
            ws_auth_jwt_close_at_exp on;
        }
        location /expl/ {
            $lpass
            ws_auth_jwt test;
            $hs
            ws_auth_jwt_close_at_exp on;
            ws_auth_jwt_leeway 2s;
        }
        location /noexp/ {
            $lpass
            ws_auth_jwt test;
            $hs
        }
SERVER

mkdir "$dir/html";
write_file("$dir/html/401.html", "log in first\n");

my $srv_port = free_port();
my $servers = <<"SERVERS";
    server {
        listen 127.0.0.1:$srv_port;
        server_name inherit;

        ws_auth_jwt srv;
        $hs

        location /inh/ {
            $pass
        }
        location /repl/ {
            $pass
            ws_auth_jwt_key_file @{[ K('ec256.pub') ]} alg=ES256;
        }
        location /off/ {
            $pass
            ws_auth_jwt off;
        }
        location /plain/ {
            return 200 "not a WebSocket location\\n";
        }
    }
SERVERS

my $http = <<"HTTP";
    log_format jwt 'jwt uri=\$request_uri status=\$status '
                   'sub=\$ws_jwt_claim_sub kid=\$ws_jwt_header_kid '
                   'roles=\$ws_jwt_claim_roles';
HTTP

$t->run(server => $server, servers => $servers, http => $http);


my @used;      # every token sent, none of which may be in the error log
my @in_uri;    # tokens sent in the request line ($arg_token)


# ---------------------------------------------------------------------------
# helpers

my $n = 0;

sub uniq {
    my ($loc) = @_;
    $n++;
    return "${loc}c$n";
}

# A handshake to $path (token => sent as "Authorization: Bearer", headers
# => more lines, port); returns (socket, parsed response head or undef).
sub handshake {
    my ($path, %o) = @_;
    my @h = @{ $o{headers} // [] };
    unshift @h, "Authorization: Bearer $o{token}" if defined $o{token};
    push @used, $o{token} if defined $o{token};
    my $c = connect_to($o{port} // $t->port);
    send_all($c, handshake_request(path => $path, headers => \@h));
    my $head = read_head($c, 10);
    return ($c, $head ? parse_head($head) : undef);
}

sub backend_requests {
    my $d = read_file($rec) // '';
    return map { parse_head("$_\r\n\r\n") } split /\r\n\r\n/, $d;
}

# The request head the echo backend got for $path, or undef.
sub backend_request {
    my ($path) = @_;
    for my $r (backend_requests()) {
        return $r if ($r->{uri} // '') eq $path;
    }
    return undef;
}

sub never_reached {
    my ($path, $name) = @_;
    ok(!backend_request($path), "$name: the backend never got it");
}

sub end_ws {
    my ($c) = @_;
    send_all($c, cframe(OP_CLOSE, close_payload(1000)));
    read_frame($c, 5);
    close $c;
}

# Test: a handshake is upgraded, reaches the backend and a message
# round-trips; returns the request the backend got.
# Options: those of handshake(), path, loc (a uniq path under it).
sub accepted {
    my ($name, $loc, %o) = @_;
    my $path = $o{path} // uniq($loc);
    my $mark = length $t->error_log;
    my ($c, $res) = handshake($path, %o);
    my $st = $res ? $res->{status} : 0;
    if (!is($st, 101, "accepted: $name")) {
        diag($res ? $res->{line} : 'no response');
        diag('error log: ' . substr($t->error_log, $mark));
        close $c;
        return;
    }
    is(hdr($res, 'www-authenticate'), undef, "$name: no challenge in the 101");
    my $msg = "message $n";
    send_all($c, cframe(OP_TEXT, $msg));
    my $f = read_frame($c, 5);
    ok(!$f->{error} && $f->{opcode} == OP_TEXT && $f->{payload} eq $msg,
        "$name: a message round-trips") or diag(hx($f->{raw}));
    end_ws($c);
    my $req = backend_request($path);
    ok($req, "$name: the backend got the handshake");
    return $req;
}

# Test: a handshake is refused with 401.  $reason: undef for "no token",
# the text of an invalid token's reason, or a regex.  Options: those of
# handshake(), path, realm ('test'), loc_name (the location in the log
# line, default $loc).
sub refused {
    my ($name, $loc, $reason, %o) = @_;
    my $path = $o{path} // uniq($loc);
    $t->mark;
    my ($c, $res) = handshake($path, %o);
    close $c;
    my $st = $res ? $res->{status} : 0;
    is($st, 401, "refused: $name: 401") or diag($res ? $res->{raw} : '');
    like($res ? $res->{line} : '', qr{^HTTP/1\.1 401 Unauthorized$},
        "$name: status line") if $o{status_line};
    my $realm = $o{realm} // 'test';
    is($res && hdr($res, 'www-authenticate'), defined $reason
        ? qq{Bearer realm="$realm", error="invalid_token"}
        : qq{Bearer realm="$realm"}, "$name: WWW-Authenticate");
    my $where = 'refused in location "' . ($o{loc_name} // $loc) . '"';
    my $msg = !defined $reason ? "ws: no token, $where"
        : ref $reason ? qr/ws: invalid token: (?:$reason), \Q$where\E(?=,|$)/
        : "ws: invalid token: $reason, $where";
    $t->log_ok('info', $msg, "$name: logged");
    my $e = $t->access_entry($path);
    ok($e && $e->{status} eq '401' && $e->{reject} eq 'auth',
        "$name: access log 401, reject=auth")
        or diag($e ? $e->{line} : 'no access log line');
    never_reached($path, $name);
}

sub b64u { encode_base64url($_[0]) }

# Waits for a line matching $re in $file; returns the file's text.
sub wait_like {
    my ($file, $re, $timeout) = @_;
    my $deadline = time + ($timeout // 5);
    while (1) {
        my $d = read_file($file) // '';
        return $d if $d =~ $re || time >= $deadline;
        sleep 0.05;
    }
}

# The close handshake after the proxy's close frames to both sides.
sub reply_closes {
    my ($c, $b, $code, $name) = @_;
    send_all($c, cframe(OP_CLOSE, close_payload($code)));
    send_all($b, sframe(OP_CLOSE, close_payload(1001)));
    expect_eof($c, "$name: client connection closed");
    expect_eof($b, "$name: backend connection closed");
    close $c;
    close $b;
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


# ---------------------------------------------------------------------------
# every algorithm

for my $a (qw(HS256 HS384 HS512 RS256 RS384 RS512 PS256 PS384 PS512 ES256
    ES384 EdDSA))
{
    accepted("$a, JWKS with kids", '/all/', token => $T{"jwks-$a"});
    accepted("$a, PEM file or secret", '/pem/', token => $T{"pem-$a"});
}

accepted('a certificate', '/cert/', token => $T{cert});
accepted('a single JWK', '/jwk/', token => $T{'jwk-one'});
accepted('a JWK without alg, alg=EdDSA', '/jwknoalg/',
    token => $T{'jwk-noalg'});
accepted('a JWKS without alg, alg=PS256', '/jwknoalg/',
    token => $T{'jwk-noalg-ps'});
refused('a JWKS without alg, alg=PS256: RS256 with the same key',
    '/jwknoalg/', 'algorithm not allowed', token => $T{'jwk-noalg-rs'});
accepted('a 5 KB token', '/hs/', token => $T{big});
cmp_ok(length $T{big}, '>=', 5000, 'the big token has 5 KB');

{
    my $req = accepted('the whole handshake', '/pem/',
        token => $T{'pem-ES256'});
    is($req && hdr($req, 'authorization'), "Bearer $T{'pem-ES256'}",
        'the Authorization header is passed to the backend');
}


# ---------------------------------------------------------------------------
# kids

accepted('JWKS: a token without kid is checked against all keys', '/all/',
    token => $T{'jwks-nokid'});
refused('JWKS: unknown kid', '/all/', 'unknown kid',
    token => $T{'jwks-unknown-kid'});
refused('JWKS: a key with "use":"enc" is skipped', '/all/', 'unknown kid',
    token => $T{'jwks-enc'});
refused('JWKS: the kid of a key of another algorithm', '/all/',
    qr/algorithm not allowed|unknown kid/,
    token => $T{'jwks-kid-other-alg'});
accepted('kid-less keys: a token with a kid', '/pem/',
    token => $T{'pem-any-kid'});
refused('mixed: the kid\'s key, not the kid-less one', '/mixed/',
    'bad signature', token => $T{'mixed-kid-wrong-key'});
accepted('mixed: an unknown kid falls back to the kid-less key', '/mixed/',
    token => $T{'mixed-other-kid'});
accepted('mixed: no kid, the kid-less key', '/mixed/',
    token => $T{'mixed-nokid'});
accepted('mixed: with its kid, a key of the JWKS', '/mixed/',
    token => $T{'jwks-RS256'});


# ---------------------------------------------------------------------------
# signatures and algorithms

refused('RS256 signed by another key', '/pem/', 'bad signature',
    token => $T{'wrong-rsa'}, realm => 'pem', status_line => 1);
refused('PS512 signed by another key', '/pem/', 'bad signature',
    token => $T{'wrong-ps'}, realm => 'pem');
refused('ES256 signed by another key', '/pem/', 'bad signature',
    token => $T{'wrong-ec'}, realm => 'pem');
refused('EdDSA signed by another key', '/pem/', 'bad signature',
    token => $T{'wrong-ed'}, realm => 'pem');
refused('HS256 with the secret less its newline', '/pem/', 'bad signature',
    token => $T{'wrong-hs-nonl'}, realm => 'pem');
refused('HS384 signed with the HS256 secret', '/pem/', 'bad signature',
    token => $T{'wrong-hs384'}, realm => 'pem');
refused('PS256 with salt length 0', '/pem/', 'bad signature',
    token => $T{'ps-salt0'}, realm => 'pem');
refused('ES256 signature in DER', '/pem/', 'bad signature',
    token => $T{'es256-der'}, realm => 'pem');
refused('ES384 signature in DER', '/pem/', 'bad signature',
    token => $T{'es384-der'}, realm => 'pem');
{
    my ($h, $p, $s) = split /\./, $T{'hs-good'};
    refused('claims changed under the signature', '/pem/', 'bad signature',
        token => join('.', $h, b64u('{"sub":"admin"}'), $s), realm => 'pem');
    my $sig = decode_base64url($s);
    substr($sig, 0, 1) ^= "\x01";
    refused('a signature with one bit changed', '/pem/', 'bad signature',
        token => join('.', $h, $p, b64u($sig)), realm => 'pem');
    refused('no signature', '/pem/', 'bad signature',
        token => "$h.$p.", realm => 'pem');
}
refused('alg none', '/pem/', 'algorithm not allowed', token => $T{none},
    realm => 'pem');
refused('alg none, JWKS', '/all/', 'algorithm not allowed',
    token => $T{none});
refused('HS256 signed with the RSA public key, RS256 key only', '/rs/',
    'algorithm not allowed', token => $T{'hs-with-rsa-pub'});
refused('HS256 signed with the RSA public key, beside an HS256 secret',
    '/pem/', 'bad signature', token => $T{'hs-with-rsa-pub'},
    realm => 'pem');
refused('HS256 signed with the RSA public key, RSA key\'s kid', '/all/',
    qr/algorithm not allowed|unknown kid/,
    token => $T{'hs-with-rsa-pub-kid'});
refused('ES256 token, RS256 key only', '/rs/', 'algorithm not allowed',
    token => $T{'pem-ES256'});
{
    my (undef, $p, $s) = split /\./, $T{'pem-RS256'};
    refused('alg an unknown name', '/rs/', 'algorithm not allowed',
        token => join('.', b64u('{"alg":"RS999"}'), $p, $s));
    refused('alg in lower case', '/rs/', 'algorithm not allowed',
        token => join('.', b64u('{"alg":"rs256"}'), $p, $s));
}


# ---------------------------------------------------------------------------
# malformed tokens

{
    # signed with the HS256 secret over the parts as they are: the only
    # fault is their encoding
    my $secret = read_file(K('hs256.key'));
    my $signed = sub {
        my ($h, $p) = @_;
        return "$h.$p." . b64u(hmac_sha256("$h.$p", $secret));
    };
    my ($h, $p, $s) = split /\./, $T{'hs-good'};
    for my $c (['one part', 'abcdef'],
        ['two parts', "$h.$p"],
        ['four parts', "$h.$p.$s.$s"],
        ['a "*" in the header', $signed->("*$h", $p)],
        ['a "+" in the payload', $signed->($h, "+$p")],
        ['a "/" in the signature', "$h.$p.$s/"],
        ['base64 padding in the payload', $signed->($h, "$p=")],
        ['an impossible base64 length', $signed->($h . 'A', $p)],
        ['a space in the signature', "$h.$p. $s"])
    {
        refused("malformed: $c->[0]", '/hs/', 'malformed', token => $c->[1],
            realm => 'hs realm');
    }
}
for my $c (['header not JSON', 'hdr-not-json'],
    ['header an array', 'hdr-array'], ['header without alg', 'hdr-no-alg'],
    ['alg a number', 'hdr-alg-number'],
    ['header with bytes after the JSON', 'hdr-trailing'],
    ['header with a duplicate member', 'hdr-dup'])
{
    refused($c->[0], '/hs/', 'malformed header', token => $T{ $c->[1] },
        realm => 'hs realm');
}
for my $c (['claims not JSON', 'claims-not-json'],
    ['claims an array', 'claims-is-array'],
    ['claims truncated', 'claims-truncated'],
    ['claims with a duplicate member', 'claims-dup'])
{
    refused($c->[0], '/hs/', 'malformed claims', token => $T{ $c->[1] },
        realm => 'hs realm');
}
refused('crit', '/hs/', 'unsupported crit', token => $T{crit},
    realm => 'hs realm');
refused('crit b64', '/hs/', 'unsupported crit', token => $T{'crit-b64'},
    realm => 'hs realm');


# ---------------------------------------------------------------------------
# exp, nbf, leeway

{
    $now = int time;
    my %tt = mint(map { ["time-$_->[0]", '-k', K('hs256.key'), '-a', 'HS256',
        '--claims-text', $_->[1]] }
        ['exp-future', '{"exp":' . ($now + 300) . '}'],
        ['exp-now', '{"exp":' . $now . '}'],
        ['exp-past', '{"exp":' . ($now - 10) . '}'],
        ['exp-real', '{"exp":' . ($now + 300) . '.5}'],
        ['exp-string', '{"exp":"' . ($now + 300) . '"}'],
        ['exp-text', '{"exp":"tomorrow"}'],
        ['exp-null', '{"exp":null}'],
        ['nbf-future', '{"nbf":' . ($now + 300) . '}'],
        ['nbf-now', '{"nbf":' . $now . '}'],
        ['nbf-past', '{"nbf":' . ($now - 10) . ',"exp":' . ($now + 300)
            . '}'],
        ['nbf-string', '{"nbf":"' . ($now - 10) . '"}'],
        ['lee-exp-30', '{"exp":' . ($now - 30) . '}'],
        ['lee-exp-90', '{"exp":' . ($now - 90) . '}'],
        ['lee-nbf-30', '{"nbf":' . ($now + 30) . '}'],
        ['lee-nbf-90', '{"nbf":' . ($now + 90) . '}'],
        ['exp-huge', '{"exp":1e300}'],
        ['exp-bigint', '{"exp":100000000000000000000}'],
        ['exp-int64', '{"exp":9223372036854775807}'],
        ['exp-neg', '{"exp":-1e300}'],
        ['nbf-bigneg', '{"nbf":-100000000000000000000}'],
        ['nbf-huge', '{"nbf":1e300}']);

    accepted('exp in the future', '/hs/', token => $tt{'time-exp-future'});
    accepted('exp a fraction', '/hs/', token => $tt{'time-exp-real'});
    refused('exp now (now >= exp)', '/hs/', 'expired',
        token => $tt{'time-exp-now'}, realm => 'hs realm');
    refused('exp past', '/hs/', 'expired', token => $tt{'time-exp-past'},
        realm => 'hs realm');
    refused('exp a string of digits', '/hs/', 'malformed claims',
        token => $tt{'time-exp-string'}, realm => 'hs realm');
    refused('exp a word', '/hs/', 'malformed claims',
        token => $tt{'time-exp-text'}, realm => 'hs realm');
    refused('exp null', '/hs/', 'malformed claims',
        token => $tt{'time-exp-null'}, realm => 'hs realm');
    refused('nbf in the future', '/hs/', 'not yet valid',
        token => $tt{'time-nbf-future'}, realm => 'hs realm');
    accepted('nbf now', '/hs/', token => $tt{'time-nbf-now'});
    accepted('nbf past', '/hs/', token => $tt{'time-nbf-past'});
    refused('nbf a string', '/hs/', 'malformed claims',
        token => $tt{'time-nbf-string'}, realm => 'hs realm');
    refused('no leeway: exp 30 s ago', '/hs/', 'expired',
        token => $tt{'time-lee-exp-30'}, realm => 'hs realm');
    refused('no leeway: nbf in 30 s', '/hs/', 'not yet valid',
        token => $tt{'time-lee-nbf-30'}, realm => 'hs realm');
    accepted('leeway 60s: exp 30 s ago', '/leeway/',
        token => $tt{'time-lee-exp-30'});
    refused('leeway 60s: exp 90 s ago', '/leeway/', 'expired',
        token => $tt{'time-lee-exp-90'});
    accepted('leeway 60s: nbf in 30 s', '/leeway/',
        token => $tt{'time-lee-nbf-30'});

    # NumericDate is any JSON number
    accepted('exp 1e300', '/hs/', token => $tt{'time-exp-huge'});
    accepted('exp an integer of 21 digits', '/hs/',
        token => $tt{'time-exp-bigint'});
    accepted('leeway 60s: exp the largest int64', '/leeway/',
        token => $tt{'time-exp-int64'});
    refused('exp -1e300', '/hs/', 'expired', token => $tt{'time-exp-neg'},
        realm => 'hs realm');
    accepted('nbf a negative integer of 21 digits', '/hs/',
        token => $tt{'time-nbf-bigneg'});
    refused('nbf 1e300', '/hs/', 'not yet valid',
        token => $tt{'time-nbf-huge'}, realm => 'hs realm');
    refused('leeway 60s: nbf in 90 s', '/leeway/', 'not yet valid',
        token => $tt{'time-lee-nbf-90'});
}


# ---------------------------------------------------------------------------
# ws_auth_jwt_require

accepted('aud: the first value', '/claims/', token => $T{'claims-chat'});
accepted('aud: the second value', '/claims/', token => $T{'claims-web'});
accepted('aud: an array holding one', '/claims/',
    token => $T{'claims-array'});
refused('aud: an array holding none', '/claims/', 'claim "aud" mismatch',
    token => $T{'claims-array-none'});
refused('aud: an empty array', '/claims/', 'claim "aud" mismatch',
    token => $T{'claims-array-empty'});
refused('aud: case', '/claims/', 'claim "aud" mismatch',
    token => $T{'claims-case'});
refused('aud: an object', '/claims/', 'claim "aud" mismatch',
    token => $T{'claims-object'});
refused('aud: missing', '/claims/', 'claim "aud" missing',
    token => $T{'claims-no-aud'});
refused('iss: another', '/claims/', 'claim "iss" mismatch',
    token => $T{'claims-bad-iss'});
refused('iss: missing', '/claims/', 'claim "iss" missing',
    token => $T{'claims-no-iss'});
accepted('requirements of the outer location', '/req/',
    token => $T{'claims-no-iss'});
accepted('an inner location\'s list replaces the outer one', '/req/inner/',
    token => $T{'claims-no-aud'});
refused('the inner location\'s own requirement', '/req/inner/',
    'claim "iss" missing', token => $T{'claims-no-iss'});
accepted('a number and a boolean as JSON text, a variable', '/typed/',
    path => uniq('/typed/') . '?user=alice', token => $T{'typed-ok'});
accepted('strings equal to the values', '/typed/',
    path => uniq('/typed/') . '?user=alice', token => $T{'typed-strings'});
refused('a number not equal', '/typed/', 'claim "level" mismatch',
    path => uniq('/typed/') . '?user=alice', token => $T{'typed-level43'});
refused('false for true', '/typed/', 'claim "admin" mismatch',
    path => uniq('/typed/') . '?user=alice', token => $T{'typed-admin-false'});
refused('a value from a variable', '/typed/', 'claim "sub" mismatch',
    path => uniq('/typed/') . '?user=bob', token => $T{'typed-ok'});
refused('a required claim missing', '/typed/', 'claim "level" missing',
    path => uniq('/typed/') . '?user=alice', token => $T{'typed-no-level'});


# ---------------------------------------------------------------------------
# token sources

my $good = $T{'hs-good'};

accepted('Authorization: bearer, lower case', '/hs/',
    headers => ["authorization: bearer $good"]);
accepted('Authorization: BEARER and three spaces', '/hs/',
    headers => ["Authorization: BEARER   $good"]);
push @used, $good;
refused('no Authorization', '/hs/', undef, realm => 'hs realm');
refused('Authorization: Basic', '/hs/', undef, realm => 'hs realm',
    headers => ['Authorization: Basic dXNlcjpwYXNz']);
refused('Authorization: Bearer without a space', '/hs/', undef,
    realm => 'hs realm', headers => ["Authorization: Bearer$good"]);
refused('Authorization: Token', '/hs/', undef, realm => 'hs realm',
    headers => ["Authorization: Token $good"]);

{
    my $p = uniq('/arg/') . "?token=$T{'arg-good'}";
    push @in_uri, $T{'arg-good'};
    accepted('token=$arg_token', '/arg/', path => $p);
    refused('token=$arg_token: no argument', '/arg/', undef);
    refused('token=$arg_token: empty', '/arg/', undef,
        path => uniq('/arg/') . '?token=');
    refused('token=$arg_token: Authorization is not read', '/arg/', undef,
        token => $good);
    my $bad = $T{'arg-bad'};
    push @in_uri, $bad;
    my $base = uniq('/arg/');
    refused('token=$arg_token: bad signature', '/arg/', 'bad signature',
        path => "$base?a=b&token=$bad&c=d");
    like($t->log_line('info', 'ws: invalid token: bad signature, refused in '
        . 'location "/arg/"', 1) // '',
        qr{, request: "GET \Q$base\E\?a=b&token=\[token\]&c=d HTTP/1\.1",},
        'token=$arg_token: [token] in the request line of the error log');
}

accepted('token=$cookie_session', '/cookie/',
    headers => ["Cookie: theme=dark; session=$good; x=y"]);
refused('token=$cookie_session: no cookie', '/cookie/', undef,
    headers => ['Cookie: theme=dark']);
refused('token=$cookie_session: bad token', '/cookie/', 'bad signature',
    headers => ["Cookie: session=$T{'wrong-hs-nonl'}"]);

# subprotocol=bearer.: a backend in this process answering with $select
sub offer {
    my ($path, $lines, $select, $extra) = @_;
    $t->mark;
    my $c = $t->client_handshake(path => $path,
        headers => [(map { "Sec-WebSocket-Protocol: $_" } @$lines),
            @{ $extra // [] }]);
    my $b = accept_conn($l, 1);
    my $req;
    if ($b) {
        $req = parse_head(read_head($b, 5));
        send_all($b, response_101(hdr($req, 'sec-websocket-key') // '',
            defined $select ? ("Sec-WebSocket-Protocol: $select") : ()));
    }
    my $head = read_head($c, 5);
    my $res = $head ? parse_head($head) : undef;
    if ($res && $res->{status} == 101) {
        close_pair({ client => $c, backend => $b });
    } else {
        close $c;
        close $b if $b;
    }
    return ($res ? $res->{status} : 0, $req, $res);
}

{
    push @used, $good;
    my ($st, $req, $res) = offer('/sub/a', ["chat, bearer.$good"], 'chat');
    is($st, 101, 'subprotocol=bearer.: accepted');
    is(hdr($req, 'sec-websocket-protocol'), 'chat',
        'subprotocol=bearer.: the bearer entry never reaches the backend');
    is(hdr($res, 'sec-websocket-protocol'), 'chat',
        'subprotocol=bearer.: the other value passes');
    unlike($req ? $req->{raw} : '', qr/\Q$good\E/,
        'subprotocol=bearer.: the token is nowhere in the backend request');

    ($st, $req, $res) = offer('/sub/b', ["bearer.$good"], undef);
    is($st, 101, 'subprotocol=bearer.: alone');
    is(hdr($req, 'sec-websocket-protocol'), undef,
        'subprotocol=bearer.: alone, no Sec-WebSocket-Protocol sent');
    is(hdr($res, 'sec-websocket-protocol'), undef,
        'subprotocol=bearer.: not echoed to the client');

    my $echo = $T{'sub-echo'};
    ($st, $req, $res) = offer('/sub/c', ["bearer.$echo"], "bearer.$echo");
    is($st, 502, 'subprotocol=bearer.: a backend selecting it: 502');
    is(hdr($res, 'sec-websocket-protocol'), undef,
        'subprotocol=bearer.: never echoed');

    ($st, $req) = offer('/sub/d', ["bearer.$good", 'chat, bearer.other'],
        'chat');
    is($st, 101, 'subprotocol=bearer.: in two headers');
    is(hdr($req, 'sec-websocket-protocol'), 'chat',
        'subprotocol=bearer.: every entry with the prefix removed');

    ($st, $req) = offer('/sub/e', ["bearer., bearer.$good, v2"], 'v2');
    is($st, 101, 'subprotocol=bearer.: "bearer." alone holds no token');
    is(hdr($req, 'sec-websocket-protocol'), 'v2',
        'subprotocol=bearer.: "bearer." removed too');

    my $bad = $T{'wrong-hs-nonl'};
    push @used, $bad;
    ($st, $req, $res) = offer('/sub/f', ["bearer.$bad, bearer.$good"],
        undef);
    is($st, 401, 'subprotocol=bearer.: the first entry is the token');
    is($req, undef, 'subprotocol=bearer.: refused, the backend never got it');
    is(hdr($res, 'www-authenticate'),
        'Bearer realm="test", error="invalid_token"',
        'subprotocol=bearer.: WWW-Authenticate');
    $t->log_ok('info', 'ws: invalid token: bad signature, refused in '
        . 'location "/sub/"', 'subprotocol=bearer.: logged');
    my $e = $t->access_entry('/sub/f');
    is($e && $e->{reject}, 'auth', 'subprotocol=bearer.: reject=auth');

    ($st, $req, $res) = offer('/sub/g', ['chat'], 'chat');
    is($st, 401, 'subprotocol=bearer.: none offered: 401');
    is(hdr($res, 'www-authenticate'), 'Bearer realm="test"',
        'subprotocol=bearer.: no token');
    $t->log_ok('info', 'ws: no token, refused in location "/sub/"',
        'subprotocol=bearer.: no token logged');

    $t->mark;
    my $c = $t->client_handshake(path => '/sub/h',
        headers => ["Authorization: Bearer $good"]);
    my $b = accept_conn($l, 1);
    my $head = read_head($c, 5);
    is($head && parse_head($head)->{status}, 401,
        'subprotocol=bearer.: Authorization is not read');
    ok(!$b, 'subprotocol=bearer.: and the backend got nothing');
    close $c;
    close $b if $b;
}

{
    my $req = accepted('ws_subprotocol_required: the token and an allowed '
        . 'value', '/subreq/', headers => ["Sec-WebSocket-Protocol: bearer."
        . "$good, evil, chat"]);
    is($req && hdr($req, 'sec-websocket-protocol'), 'chat',
        'ws_subprotocols filters the other entries');
    my $path = uniq('/subreq/');
    $t->mark;
    my ($c, $res) = handshake($path,
        headers => ["Sec-WebSocket-Protocol: bearer.$good"]);
    close $c;
    is($res && $res->{status}, 400,
        'ws_subprotocol_required: the token alone is not a subprotocol: 400');
    my $e = $t->access_entry($path);
    is($e && $e->{reject}, 'subprotocol', 'reject=subprotocol');
    never_reached($path, 'ws_subprotocol_required');
}


# ---------------------------------------------------------------------------
# variables

{
    my $req = accepted('variables', '/vars/', token => $T{vars});
    my $h = sub { $req ? hdr($req, $_[0]) : undef };
    is($h->('x-user'), 'alice', '$ws_jwt_claim_sub: a string');
    is($h->('x-roles'), '["admin","dev"]', 'an array as compact JSON');
    is($h->('x-meta'), '{"k":1}', 'an object as compact JSON');
    is($h->('x-num'), '42', 'a number');
    is($h->('x-neg'), '-7', 'a negative number');
    is($h->('x-admin'), 'true', 'true');
    is($h->('x-null'), 'null', 'null');
    is($h->('x-name'), "Jos\xc3\xa9", 'an escaped character as UTF-8');
    is($h->('x-missing'), undef, 'a claim that is not there: empty');
    is($h->('x-kid'), 'key-1', '$ws_jwt_header_kid');
    is($h->('x-alg'), 'HS256', '$ws_jwt_header_alg');

    my $re = qr{^jwt uri=/vars/c\d+ status=101 sub=alice kid=key-1 roles=\[\\x22admin\\x22,\\x22dev\\x22\]$}m;
    like(wait_like("$dir/jwt.log", $re), $re,
        'variables in the access log line of a detached WebSocket');

    refused('variables, bad signature', '/vars/', 'bad signature',
        token => $T{'vars-bad'});
    $re = qr{^jwt uri=/vars/c$n status=401 sub=-? kid=-? roles=-?$}m;
    my $jl = wait_like("$dir/jwt.log", $re);
    like($jl, $re, 'no variables without a verified token');
    unlike($jl, qr/mallory/, 'not the refused token\'s claims');

    # a claim with control characters is its JSON text: one header line
    for my $c (['CR LF', 'crlf', '"alice\\r\\nX-Injected: 1"'],
        ['LF', 'lf', '"alice\\nX-Injected: 1"'])
    {
        my $req = accepted("a claim with $c->[1]", '/vars/',
            token => $T{ $c->[1] });
        is($req && hdr($req, 'x-user'), $c->[2],
            "a claim with $c->[0]: sent as its JSON text, on one line");
    }
    # NUL is not allowed in JSON strings by the parser: the token is refused
    refused('a claim with NUL', '/vars/', 'malformed claims',
        token => $T{nul});
    # the same check for any variable: $uri is decoded
    $req = accepted('a header from $uri', '/hdr/',
        path => '/hdr/a%20b');
    is($req && hdr($req, 'x-uri'), '/hdr/a b', 'X-Uri sent');
    for my $c (['CR LF', '%0d%0aX-Injected:%201'], ['LF', '%0aX-Injected:1'],
        ['CR', '%0dX-Injected:1'])
    {
        my $path = uniq('/hdr/') . $c->[1];
        $t->mark;
        my ($s, $res) = handshake($path);
        close $s;
        is($res && $res->{status}, 500, "\$uri with $c->[0] in a header: 500");
        $t->log_ok('*', 'ws: header "X-Uri" value has a control character',
            "\$uri with $c->[0]: logged");
        never_reached($path, "\$uri with $c->[0]");
    }
    unlike(read_file($rec) // '', qr/^X-Injected/mi,
        'no injected header reached the backend');
}


# ---------------------------------------------------------------------------
# satisfy any, auth_request, the Origin check before it

{
    my $req = accepted('satisfy any, allow: no token', '/satisfy/');
    is($req && hdr($req, 'x-user'), undef,
        'satisfy any, no token: no claims');
    $req = accepted('satisfy any, allow: an invalid token', '/satisfy/',
        token => $T{'vars-bad'});
    is($req && hdr($req, 'x-user'), undef,
        'satisfy any, invalid token: no claims of it');
    refused('satisfy any, deny all: no token', '/satisfy-deny/', undef);
    refused('satisfy any, deny all: a bad token', '/satisfy-deny/',
        'bad signature', token => $T{'wrong-hs-nonl'});
    accepted('satisfy any, deny all: a valid token', '/satisfy-deny/',
        token => $good);

    accepted('auth_request 204 and a valid token', '/authreq/',
        token => $good, headers => ['X-Allow: yes']);
    my $path = uniq('/authreq/');
    my ($c, $res) = handshake($path, token => $good);
    close $c;
    is($res && $res->{status}, 401, 'auth_request 401, a valid token: 401');
    is($res && hdr($res, 'www-authenticate'), undef,
        'auth_request 401: no Bearer challenge');
    never_reached($path, 'auth_request 401');
    refused('auth_request 204, no token', '/authreq/', undef,
        headers => ['X-Allow: yes']);

    $path = uniq('/ep/');
    $t->mark;
    ($c, $res) = handshake($path);
    close $c;
    is($res && $res->{status}, 401, 'error_page 401: 401');
    is($res && hdr($res, 'www-authenticate'), 'Bearer realm="test"',
        'error_page 401: the challenge kept');
    my $e = $t->access_entry($path);
    is($e && $e->{reject}, 'auth', 'error_page 401: $ws_reject_reason kept');
    never_reached($path, 'error_page 401');

    $path = uniq('/origin/');
    $t->mark;
    ($c, $res) = handshake($path, headers => ['Origin: https://evil.example']);
    close $c;
    is($res && $res->{status}, 403, 'a foreign Origin and no token: 403');
    $e = $t->access_entry($path);
    is($e && $e->{reject}, 'origin', 'the Origin check comes first');
    $t->log_not('info', qr/ws: no token/, 'no token line for it');
    never_reached($path, 'foreign Origin');
    refused('the allowed Origin, no token', '/origin/', undef,
        headers => ['Origin: https://app.example.com']);
    accepted('the allowed Origin and a token', '/origin/', token => $good,
        headers => ['Origin: https://app.example.com']);
}


# ---------------------------------------------------------------------------
# inheritance; only ws_pass requests are checked

accepted('inherited from the server', '/inh/', port => $srv_port,
    token => $good);
refused('inherited: realm of the server', '/inh/', undef, port => $srv_port,
    realm => 'srv');
refused('a location\'s key list replaces the server\'s', '/repl/',
    'algorithm not allowed', port => $srv_port, realm => 'srv',
    token => $good);
accepted('the location\'s own key', '/repl/', port => $srv_port,
    token => $T{'inh-es'});
accepted('ws_auth_jwt off', '/off/', port => $srv_port);
{
    my $c = connect_to($srv_port);
    send_all($c, "GET /plain/ HTTP/1.1\r\nHost: inherit\r\n"
        . "Connection: close\r\n\r\n");
    my $head = read_head($c, 10);
    is($head && parse_head($head)->{status}, 200,
        'a location without ws_pass is not checked');
    close $c;
}


# ---------------------------------------------------------------------------
# keys rotated by a reload

{
    accepted('rotation, before: the old key', '/rot/', token => $T{rotA});
    refused('rotation, before: the new key', '/rot/', 'bad signature',
        token => $T{rotB});
    accepted('rotation, before: the old JWKS key', '/rotj/',
        token => $T{rotjA});
    refused('rotation, before: the new JWKS key', '/rotj/', 'unknown kid',
        token => $T{rotjB});

    write_file(K('rot.pem'), read_file(K('ec256b.pub')));
    write_file(K('rot.jwks'), read_file(K('rot2.jwks')));
    my $old = $t->worker_pid;
    kill 'HUP', $t->master_pid;
    ok(gone($old, 15), 'reload: the old worker exited');
    my $new = $t->worker_pid;
    ok($new && $new != $old, 'reload: a new worker');

    refused('rotation, after: the old key', '/rot/', 'bad signature',
        token => $T{rotA});
    accepted('rotation, after: the new key', '/rot/', token => $T{rotB});
    refused('rotation, after: the old JWKS key', '/rotj/', 'unknown kid',
        token => $T{rotjA});
    accepted('rotation, after: the new JWKS key', '/rotj/',
        token => $T{rotjB});
}


# ---------------------------------------------------------------------------
# ws_auth_jwt_close_at_exp

{
    $now = int time;
    my $expA = $now + 3;
    my $expB = $now + 2;
    my %te = mint(
        ['a', '-k', K('hs256.key'), '-a', 'HS256', '-c',
            qq({"sub":"a","exp":$expA})],
        ['b', '-k', K('hs256.key'), '-a', 'HS256', '-c',
            qq({"sub":"b","exp":$expB})],
        ['c', '-k', K('hs256.key'), '-a', 'HS256', '-c',
            qq({"sub":"c","exp":$expB})],
        ['d', '-k', K('hs256.key'), '-a', 'HS256', '-c', '{"sub":"d"}'],
        ['e', '-k', K('hs256.key'), '-a', 'HS256', '-c',
            '{"sub":"e","exp":1e300}'],
    );
    push @used, values %te;
    $t->mark;
    my %p;
    for my $x (['a', '/exp/a'], ['b', '/expl/b'], ['c', '/noexp/c'],
        ['d', '/exp/d'], ['e', '/exp/e'])
    {
        $p{ $x->[0] } = eval { $t->ws_pair($l, path => $x->[1],
            headers => ["Authorization: Bearer $te{ $x->[0] }"]) };
        ok($p{ $x->[0] }, "close_at_exp: $x->[1] upgraded") or diag($@);
    }
    SKIP: {
        skip 'close_at_exp: no WebSockets', 17 unless 5 == grep { $_ }
            values %p;
        my ($c, $b) = @{ $p{a} }{qw(client backend)};
        my $data = cframe(OP_TEXT, 'before exp');
        send_all($c, $data);
        frame_ok(read_frame($b, 5), $data, 'close_at_exp: relayed before exp');

        my $f = read_frame($c, 6);
        my $at = time;
        frame_ok($f, "\x88\x0f\x03\xf0token expired",
            'close_at_exp: the client gets 1008 "token expired"');
        cmp_ok($at, '>=', $expA - 0.05, 'close_at_exp: not before exp');
        cmp_ok($at, '<', $expA + 1.5, 'close_at_exp: soon after exp');
        masked_close_ok(read_frame($b, 5), 1001,
            'close_at_exp: the backend gets 1001');
        $t->log_ok('info', 'ws: token expired, closing');
        reply_closes($c, $b, 1008, 'close_at_exp');
        my $e = $t->access_entry('/exp/a');
        is($e && $e->{initiator}, 'proxy', 'close_at_exp: initiator proxy');

        ($c, $b) = @{ $p{b} }{qw(client backend)};
        $f = read_frame($c, 6);
        $at = time;
        frame_ok($f, "\x88\x0f\x03\xf0token expired",
            'close_at_exp, leeway 2s: 1008 to the client');
        cmp_ok($at, '>=', $expB + 2 - 0.05,
            'close_at_exp, leeway 2s: at exp + leeway');
        masked_close_ok(read_frame($b, 5), 1001,
            'close_at_exp, leeway 2s: 1001 to the backend');
        reply_closes($c, $b, 1008, 'close_at_exp, leeway 2s');

        for my $x (['c', 'close_at_exp off: open after exp'],
            ['d', 'close_at_exp, a token without exp: open'],
            ['e', 'close_at_exp, exp 1e300: open'])
        {
            ($c, $b) = @{ $p{ $x->[0] } }{qw(client backend)};
            $data = cframe(OP_BINARY, "still $x->[0]");
            send_all($c, $data);
            frame_ok(read_frame($b, 5), $data, $x->[1]);
            close_pair($p{ $x->[0] });
        }
    }
}


# ---------------------------------------------------------------------------
# nginx -t

# nginx -t fails with the emerg line "[emerg] $msg in .../test.conf:N"
sub conf_refused {
    my ($name, $conf, $msg) = @_;
    my ($rc, $out) = $t->conf_test(server => <<"S");
        location / {
            $pass
            ws_auth_jwt test;
            $conf
        }
S
    isnt($rc, 0, "nginx -t refuses $name");
    like($out, qr/^nginx: \[emerg\] \Q$msg\E in \S+test\.conf:\d+$/m,
        "$name: emerg");
}

sub conf_accepted {
    my ($name, $conf) = @_;
    my ($rc, $out) = $t->conf_test(server => <<"S");
        location / {
            $pass
            ws_auth_jwt test;
            $conf
        }
S
    is($rc, 0, "nginx -t accepts $name") or diag($out);
}

sub key_file {
    my ($file, $alg) = @_;
    return 'ws_auth_jwt_key_file ' . K($file) . (defined $alg ? " alg=$alg"
        : '') . ';';
}

sub key_err {
    my ($file, $err) = @_;
    return 'key file "' . K($file) . "\": $err";
}

conf_accepted('an HS256 secret of 32 bytes', key_file('hs256.nonl', 'HS256'));
conf_accepted('an HS384 secret of 48 bytes',
    key_file('hs384.exact', 'HS384'));
conf_accepted('an RS256 key of 2048 bits', key_file('rsa.pub', 'RS256'));
conf_accepted('a JWK with alg and the same alg=',
    key_file('one.jwk', 'ES256'));
conf_accepted('every directive',
    'ws_auth_jwt_leeway 5s; ws_auth_jwt_close_at_exp off; '
    . key_file('ed.pub', 'EdDSA')
    . ' ws_auth_jwt_require aud a b c; ws_auth_jwt_require sub $arg_u;');

for my $c (['hs256.short', 'HS256', 31, 32], ['hs384.short', 'HS384', 47, 48],
    ['hs512.short', 'HS512', 63, 64], ['hs256.key', 'HS512', 33, 64])
{
    my ($f, $alg, $len, $need) = @$c;
    conf_refused("an $alg secret of $len bytes", key_file($f, $alg),
        key_err($f, "an $alg secret of $len bytes, shorter than the hash "
            . "($need bytes)"));
}
conf_refused('an oct JWK of 16 bytes', key_file('short.jwks'),
    key_err('short.jwks', 'an HS256 secret of 16 bytes, shorter than the '
        . 'hash (32 bytes)'));
conf_refused('an RSA key of 1024 bits', key_file('rsa1024.pub', 'RS256'),
    key_err('rsa1024.pub', 'an RSA key of 1024 bits, fewer than 2048'));
for my $c (['rsa.pub', 'ES256', 'RSA'], ['rsa.pub', 'EdDSA', 'RSA'],
    ['ec256.pub', 'ES384', 'EC'], ['ec384.pub', 'ES256', 'EC'],
    ['ec256.pub', 'RS256', 'EC'], ['ec256.pub', 'PS256', 'EC'],
    ['ec256.pub', 'EdDSA', 'EC'], ['ec521.pub', 'ES256', 'EC'],
    ['ed.pub', 'ES256', 'ED25519'], ['ed.pub', 'PS256', 'ED25519'],
    ['rsa.crt', 'ES256', 'RSA'])
{
    my ($f, $alg, $kind) = @$c;
    conf_refused("$alg for $f", key_file($f, $alg),
        key_err($f, "$alg does not fit an $kind key"));
}
conf_refused('HS256 for a PEM file', key_file('rsa.pub', 'HS256'),
    key_err('rsa.pub', 'HS256 needs a secret or an "oct" JWK, not a PEM '
        . 'file'));
for my $c (['hs256.key', 'RS256'], ['hs512.key', 'ES256'],
    ['hs384.key', 'EdDSA'])
{
    conf_refused("$c->[1] for a secret", key_file(@$c),
        key_err($c->[0], 'not a JWK, JWKS or PEM file'));
}
conf_refused('a PEM without alg=', key_file('rsa.pub'),
    key_err('rsa.pub', 'a PEM file needs alg='));
conf_refused('a certificate without alg=', key_file('rsa.crt'),
    key_err('rsa.crt', 'a PEM file needs alg='));
conf_refused('a secret without alg=', key_file('hs256.key'),
    key_err('hs256.key', 'not a JWK, JWKS or PEM file; an HMAC secret '
        . 'needs alg=HS256, HS384 or HS512'));
conf_refused('an RSA JWK without alg and without alg=',
    key_file('rsa-noalg.jwks'),
    key_err('rsa-noalg.jwks', 'a JWK without "alg" needs alg='));
conf_refused('an oct JWK without alg and without alg=',
    key_file('oct-noalg.jwk'),
    key_err('oct-noalg.jwk', 'a JWK without "alg" needs alg='));
# the curve of an EC or OKP JWK names its one algorithm
for my $f ('ec-noalg.jwk', 'noalg.jwk') {
    my ($rc, $out) = $t->conf_test(server => "location /x/ { $pass "
        . 'ws_auth_jwt r; ' . key_file($f) . ' }');
    is($rc, 0, "$f: the curve fixes the algorithm without alg=")
        or diag($out);
}
conf_refused('a JWK whose alg contradicts alg=', key_file('rs.jwk', 'PS256'),
    key_err('rs.jwk', 'a JWK with "alg" "RS256", not PS256'));
conf_refused('a JWKS with no usable key', key_file('enc.jwks'),
    key_err('enc.jwks', 'no signature key in the JWKS'));
conf_refused('a missing key file', key_file('nonexistent.pem', 'RS256'),
    'open() "' . K('nonexistent.pem') . '" failed (2: No such file or '
    . 'directory)');
conf_refused('alg=none', key_file('hs256.key', 'none'),
    'invalid parameter "alg=none"');
conf_refused('alg=FOO', key_file('hs256.key', 'FOO'),
    'invalid parameter "alg=FOO"');
conf_refused('ws_auth_jwt without a key file', '',
    '"ws_auth_jwt" needs "ws_auth_jwt_key_file"');


# ---------------------------------------------------------------------------
# the token never in the error log

{
    my $log = $t->error_log;
    my %uri = map { $_ => 1 } @in_uri;
    my %seen;
    my @tok = grep { length > 20 && !$seen{$_}++ } @used;
    my @in_log = grep { !$uri{$_} && index($log, $_) >= 0 } @tok;
    ok(!@in_log, 'no token sent in a header is in the error log')
        or diag("in the log:\n" . join "\n", @in_log);
    my @sigs = grep { length > 20 && !$uri{$_} && index($log, $_) >= 0 }
        map { (split /\./)[2] // '' } @tok;
    ok(!@sigs, 'no signature of a token is in the error log')
        or diag("in the log:\n" . join "\n", @sigs);
    # nginx writes the request line in the context of every error log line
    # of a request: the module replaces the token there with [token]
    my @uri_in_log = grep { index($log, $_) >= 0 } keys %uri;
    ok(!@uri_in_log, 'no token sent in the request line ($arg_token) is '
        . 'in the error log') or diag("in the log:\n" . join "\n",
        map { my $x = $_; grep { index($_, $x) >= 0 } split /\n/, $log }
        @uri_in_log);
}

# a token prefix of an outer level is stripped where ws_auth_jwt is off
# or reads the header: the browser offers it to every location

{
    push @used, $good;
    my ($st, $req) = offer('/subx/off/a', ["chat, bearer.$good"], 'chat');
    is($st, 101, 'ws_auth_jwt off inside subprotocol=: accepted');
    is(hdr($req, 'sec-websocket-protocol'), 'chat',
        'ws_auth_jwt off: the outer prefix is still stripped');
    ($st, $req) = offer('/subx/hdr/a', ["chat, bearer.$good"], 'chat',
        ["Authorization: Bearer $good"]);
    is($st, 101, 'a header token inside subprotocol=: accepted');
    is(hdr($req, 'sec-websocket-protocol'), 'chat',
        'header mode: the outer prefix is still stripped');
}

# a token in the query is out of the request line before the Origin check
# logs a refusal, every copy of it

{
    my $tok = $T{'arg-good'};
    my $base = uniq('/argo/');
    $t->mark;
    my $c = connect_to($t->port);
    send_all($c, handshake_request(path => "$base?token=$tok&x=1&token=$tok",
        headers => ['Origin: https://evil.example']));
    my $head = read_head($c, 10);
    close $c;
    my $res = $head ? parse_head($head) : undef;
    is($res && $res->{status}, 403, 'a foreign origin with a query token: 403');
    like($t->log_line('info', qr/ws: origin "https:\/\/evil\.example" not /, 3)
        // '', qr{request: "GET \Q$base\E\?token=\[token\]&x=1&token=\[token\] },
        'the Origin refusal logs the request line without either copy');
    unlike($t->error_log, qr/\Q$tok\E/, 'the token is nowhere in the error log');
}

# a WebSocket with a verified token is detached from its request, and its
# claims are still in the access log line

{
    my $req = accepted('detached with a token', '/det/', token => $good);
    is($req && hdr($req, 'x-user'), 'alice', 'X-User from the claim');
    my $deadline = time + 5;
    my $dl = '';
    while (time < $deadline) {
        $dl = read_file("$dir/debug.log") // '';
        last if $dl =~ /ws: request detached/;
        sleep 0.05;
    }
    like($dl, qr/ws: request detached, snapshot of \d+ bytes/,
        'the request is freed after the upgrade');
    unlike($dl, qr/ws: stays attached/, 'nothing keeps it attached');
}

$t->stop;

done_testing;
