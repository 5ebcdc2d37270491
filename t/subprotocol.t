# Subprotocol policy: ws_subprotocols (only the listed values of the
# client's offer reach the backend, which must choose one of those) and
# ws_subprotocol_required (400, $ws_reject_reason subprotocol).

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/lib";

use Test::More;
use WsTest;

my $t = WsTest->new;
my $l = listener();
my $bp = $l->sockport;
my $pass = "ws_pass http://127.0.0.1:$bp;";

$t->run(server => <<"SERVER");
        ws_subprotocols srv.v1;

        location /sub/ {
            $pass
            ws_subprotocols chat.v1;
            ws_subprotocols chat.v2;
        }
        location /required/ {
            $pass
            ws_subprotocols chat.v1 chat.v2;
            ws_subprotocol_required on;
        }
        location /anyrequired/ {
            $pass
            ws_subprotocols off-list-is-replaced;
            ws_subprotocol_required on;
        }
        location /inherited/ {
            $pass
        }
SERVER

# A handshake with the given Sec-WebSocket-Protocol lines; the backend
# answers with $select (a subprotocol, or undef for none).  Returns the
# client's status, the request the backend got (undef if none) and the
# client's response.
sub offer {
    my ($path, $lines, $select) = @_;
    $t->mark;
    my $c = $t->client_handshake(path => $path,
        headers => [map { "Sec-WebSocket-Protocol: $_" } @$lines]);
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
    my ($st, $req, $res) = offer('/sub/a', ['chat.v2, evil, chat.v1'],
        'chat.v1');
    is($st, 101, 'allowed subprotocol selected');
    is(hdr($req, 'sec-websocket-protocol'), 'chat.v2, chat.v1',
        'only the allowed values sent, in the client\'s order');
    is(hdr_count($req, 'sec-websocket-protocol'), 1, 'in one header');
    is(hdr($res, 'sec-websocket-protocol'), 'chat.v1',
        'the selection reaches the client');
}

{
    my ($st, $req) = offer('/sub/b', ['chat.v1', 'x, chat.v2 ,'], 'chat.v2');
    is($st, 101, 'offer in two headers');
    is(hdr($req, 'sec-websocket-protocol'), 'chat.v1, chat.v2',
        'two headers joined, the others dropped');
}

{
    my ($st, $req) = offer('/sub/c', ['evil, CHAT.V1'], undef);
    is($st, 101, 'nothing allowed offered, not required: upgraded');
    is(hdr($req, 'sec-websocket-protocol'), undef,
        'no Sec-WebSocket-Protocol sent (names are case-sensitive)');
}

{
    my ($st, $req) = offer('/sub/d', [], undef);
    is($st, 101, 'no offer, not required: upgraded');
    is(hdr($req, 'sec-websocket-protocol'), undef, 'no header sent');
}

{
    my ($st, $req) = offer('/sub/e', ['chat.v1, evil'], 'evil');
    is($st, 502, 'backend selecting a value that was not sent to it: 502');
    $t->log_ok('error', 'ws: upstream selected subprotocol "evil" not '
        . 'offered by the client');
}

{
    my ($st, $req) = offer('/sub/f', ['chat.v1'], 'chat.v1, chat.v2');
    is($st, 502, 'backend selecting two: 502');
}

{
    my ($st, $req) = offer('/required/a', ['evil, chat.v2'], 'chat.v2');
    is($st, 101, 'required: an allowed value offered');
    is(hdr($req, 'sec-websocket-protocol'), 'chat.v2', 'required: sent');
}

{
    my ($st, $req, $res) = offer('/required/b', ['evil, chat.v3'], undef);
    is($st, 400, 'required: none of the allowed offered: 400');
    is($req, undef, 'the backend never got the handshake');
    $t->log_ok('info', 'ws: invalid handshake: none of the subprotocols '
        . 'allowed offered');
    my $e = $t->access_entry('/required/b');
    is($e && $e->{reject}, 'subprotocol', '$ws_reject_reason subprotocol');
    is($e && $e->{status}, 400, 'access log: 400');
}

{
    my ($st, $req) = offer('/required/c', [], undef);
    is($st, 400, 'required: no offer at all: 400');
    is($req, undef, 'the backend never got it');
}

{
    my ($st, $req) = offer('/anyrequired/a', ['off-list-is-replaced'],
        'off-list-is-replaced');
    is($st, 101, 'a location\'s list replaces the server\'s');
    my ($st2, $req2) = offer('/anyrequired/b', ['srv.v1'], undef);
    is($st2, 400, 'the server\'s value is not allowed there');
}

{
    my ($st, $req) = offer('/inherited/a', ['srv.v1, chat.v1'], 'srv.v1');
    is($st, 101, 'inherited list');
    is(hdr($req, 'sec-websocket-protocol'), 'srv.v1',
        'inherited list filters');
}

for my $bad ('a,b', 'a b', 'a"b', '', 'chat/1') {
    my ($rc) = $t->conf_test(server => <<"S");
        location / {
            $pass
            ws_subprotocols "$bad";
        }
S
    isnt($rc, 0, "nginx -t refuses ws_subprotocols \"$bad\"");
}

done_testing;
