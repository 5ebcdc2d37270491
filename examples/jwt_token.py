#!/usr/bin/python3
"""Mint a token for the ngx_ws JWT example (examples/jwt-chat.conf).

    /usr/bin/python3 examples/jwt_token.py SECRET_FILE USER [SECONDS]

Prints an HS256 token signed with the exact bytes of SECRET_FILE, with the
claims sub=USER, aud=chat and exp SECONDS from now (default 3600). Paste it
into the page, or set it as the cookie "session".

A real deployment gets its tokens from an identity provider or from the
application's login; this is for trying the example. Uses Debian's
python3-jwt.
"""

import sys
import time

import jwt


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: jwt_token.py SECRET_FILE USER [SECONDS]")
    with open(sys.argv[1], "rb") as f:
        secret = f.read()
    seconds = int(sys.argv[3]) if len(sys.argv) == 4 else 3600
    claims = {"sub": sys.argv[2], "aud": "chat",
              "exp": int(time.time()) + seconds}
    print(jwt.encode(claims, secret, algorithm="HS256"))


if __name__ == "__main__":
    main()
