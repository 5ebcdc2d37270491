#!/usr/bin/python3
"""Tokens and JWKs for t/jwt.t (python3-jwt, python3-cryptography).

    jwt_mint.py SPEC [+ SPEC ...]     one line for each SPEC: a token, or

    --jwk FILE [-H JSON]              the public JWK of a PEM key, or the
                                      oct JWK of a secret file, with the
                                      members of -H added (null removes)

SPEC options:
    -k FILE         signing key: a PEM private key, or a file whose exact
                    bytes are the HMAC secret (any file: a public key too)
    -a ALG          HS256..HS512, RS*, PS*, ES256, ES384, EdDSA, none
    -H JSON         header members over {"alg": ALG, "typ": "JWT"}
                    (null removes one)
    -c JSON         claims (default {})
    --header-text T the header's exact JSON text (duplicates, bad JSON)
    --claims-text T the payload's exact text
    --der           ECDSA signature in DER instead of r||s
    --salt N        PSS salt length (default: the hash length)

Tokens are made by PyJWT (jwt.encode) unless something it cannot do is
asked (exact texts, DER, another salt, alg none, a header member removed,
an HMAC secret that looks like a key): then by hand with cryptography.
"""

import base64
import hashlib
import hmac
import json
import sys

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import \
    decode_dss_signature

HASHES = {'256': (hashes.SHA256, hashlib.sha256),
          '384': (hashes.SHA384, hashlib.sha384),
          '512': (hashes.SHA512, hashlib.sha512)}


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b'=').decode()


def b64u_int(n, length=None):
    if length is None:
        length = max(1, (n.bit_length() + 7) // 8)
    return b64u(n.to_bytes(length, 'big'))


def load_key(path):
    data = open(path, 'rb').read()
    if data.startswith(b'-----BEGIN'):
        try:
            return data, serialization.load_pem_private_key(data, None)
        except ValueError:
            pass
        try:
            return data, serialization.load_pem_public_key(data)
        except ValueError:
            pass
    return data, None


def sign(alg, data, key, msg, der=False, salt=None):
    if alg == 'none':
        return b''
    bits = alg[2:]
    if alg.startswith('HS'):
        return hmac.new(data, msg, HASHES[bits][1]).digest()
    if alg.startswith('RS'):
        return key.sign(msg, padding.PKCS1v15(), HASHES[bits][0]())
    if alg.startswith('PS'):
        h = HASHES[bits][0]
        return key.sign(msg, padding.PSS(mgf=padding.MGF1(h()),
            salt_length=h.digest_size if salt is None else salt), h())
    if alg.startswith('ES'):
        sig = key.sign(msg, ec.ECDSA(HASHES[bits][0]()))
        if der:
            return sig
        r, s = decode_dss_signature(sig)
        n = 32 if bits == '256' else 48
        return r.to_bytes(n, 'big') + s.to_bytes(n, 'big')
    if alg == 'EdDSA':
        return key.sign(msg)
    raise SystemExit('unknown alg ' + alg)


def token(args):
    o = {'-k': None, '-a': None, '-H': '{}', '-c': '{}',
         '--header-text': None, '--claims-text': None, '--salt': None}
    der = False
    i = 0
    while i < len(args):
        a = args[i]
        if a == '--der':
            der = True
            i += 1
            continue
        if a not in o or i + 1 >= len(args):
            raise SystemExit('bad argument ' + a)
        o[a] = args[i + 1]
        i += 2
    alg = o['-a']
    extra = json.loads(o['-H'])
    claims = json.loads(o['-c'])
    data, key = load_key(o['-k']) if o['-k'] else (b'', None)
    salt = int(o['--salt']) if o['--salt'] is not None else None

    by_hand = (o['--header-text'] is not None or o['--claims-text'] is not None
               or der or salt is not None or alg == 'none'
               or any(v is None for v in extra.values())
               or (alg.startswith('HS') and data.startswith(b'-----')))
    if not by_hand:
        if alg.startswith('HS'):
            k = data
        else:
            k = key
        return jwt.encode(claims, k, algorithm=alg, headers=extra)

    if o['--header-text'] is not None:
        header = o['--header-text'].encode()
    else:
        h = {'alg': alg, 'typ': 'JWT'}
        for n, v in extra.items():
            if v is None:
                h.pop(n, None)
            else:
                h[n] = v
        header = json.dumps(h, separators=(',', ':')).encode()
    if o['--claims-text'] is not None:
        payload = o['--claims-text'].encode()
    else:
        payload = json.dumps(claims, separators=(',', ':')).encode()
    msg = (b64u(header) + '.' + b64u(payload)).encode()
    return msg.decode() + '.' + b64u(sign(alg, data, key, msg, der, salt))


def jwk(path, extra):
    data, key = load_key(path)
    if key is not None and hasattr(key, 'public_key'):
        key = key.public_key()
    if key is None:
        j = {'kty': 'oct', 'k': b64u(data)}
    elif isinstance(key, rsa.RSAPublicKey):
        n = key.public_numbers()
        j = {'kty': 'RSA', 'n': b64u_int(n.n), 'e': b64u_int(n.e)}
    elif isinstance(key, ec.EllipticCurvePublicKey):
        n = key.public_numbers()
        crv, size = {'secp256r1': ('P-256', 32), 'secp384r1': ('P-384', 48),
                     'secp521r1': ('P-521', 66)}[key.curve.name]
        j = {'kty': 'EC', 'crv': crv, 'x': b64u_int(n.x, size),
             'y': b64u_int(n.y, size)}
    elif isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw,
                               serialization.PublicFormat.Raw)
        j = {'kty': 'OKP', 'crv': 'Ed25519', 'x': b64u(raw)}
    else:
        raise SystemExit('no JWK for this key')
    for n, v in extra.items():
        if v is None:
            j.pop(n, None)
        else:
            j[n] = v
    return json.dumps(j, separators=(',', ':'))


def main(argv):
    spec = []
    for a in argv + ['+']:
        if a != '+':
            spec.append(a)
            continue
        if spec and spec[0] == '--jwk':
            extra = json.loads(spec[3]) if len(spec) > 3 and spec[2] == '-H' \
                else {}
            print(jwk(spec[1], extra))
        elif spec:
            print(token(spec))
        spec = []


if __name__ == '__main__':
    main(sys.argv[1:])
