
/*
 * Copyright (C) the ngx_ws authors
 *
 * Handshake key math (RFC 6455 4.2.2): SHA-1 (FIPS 180-4), base64
 * (RFC 4648), Sec-WebSocket-Accept, and HTTP token lists (RFC 9110 5.6.1).
 */


#include <string.h>

#include "ws_core.h"


#define WS_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


typedef struct {
    uint32_t        h[5];
    uint64_t        bytes;
    unsigned char   block[64];
    size_t          used;
} ws_sha1_t;


static uint32_t
ws_rol(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32 - n));
}


static void
ws_sha1_block(ws_sha1_t *s, const unsigned char *p)
{
    unsigned  i;
    uint32_t  w[80], a, b, c, d, e, f, k, t;

    for (i = 0; i < 16; i++) {
        w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16
               | (uint32_t) p[4 * i + 2] << 8 | p[4 * i + 3];
    }

    for (i = 16; i < 80; i++) {
        w[i] = ws_rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    }

    a = s->h[0];
    b = s->h[1];
    c = s->h[2];
    d = s->h[3];
    e = s->h[4];

    for (i = 0; i < 80; i++) {

        if (i < 20) {
            f = (b & c) | (~b & d);
            k = 0x5a827999;

        } else if (i < 40) {
            f = b ^ c ^ d;
            k = 0x6ed9eba1;

        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8f1bbcdc;

        } else {
            f = b ^ c ^ d;
            k = 0xca62c1d6;
        }

        t = ws_rol(a, 5) + f + e + k + w[i];
        e = d;
        d = c;
        c = ws_rol(b, 30);
        b = a;
        a = t;
    }

    s->h[0] += a;
    s->h[1] += b;
    s->h[2] += c;
    s->h[3] += d;
    s->h[4] += e;
}


static void
ws_sha1_init(ws_sha1_t *s)
{
    s->h[0] = 0x67452301;
    s->h[1] = 0xefcdab89;
    s->h[2] = 0x98badcfe;
    s->h[3] = 0x10325476;
    s->h[4] = 0xc3d2e1f0;
    s->bytes = 0;
    s->used = 0;
}


static void
ws_sha1_update(ws_sha1_t *s, const unsigned char *p, size_t len)
{
    size_t  n;

    s->bytes += len;

    while (len) {
        n = 64 - s->used;

        if (n > len) {
            n = len;
        }

        memcpy(s->block + s->used, p, n);
        s->used += n;
        p += n;
        len -= n;

        if (s->used == 64) {
            ws_sha1_block(s, s->block);
            s->used = 0;
        }
    }
}


static void
ws_sha1_final(ws_sha1_t *s, unsigned char out[20])
{
    unsigned       i;
    uint64_t       bits;
    unsigned char  pad[72];
    size_t         n;

    bits = s->bytes * 8;

    n = (s->used < 56) ? 56 - s->used : 120 - s->used;

    memset(pad, 0, sizeof(pad));
    pad[0] = 0x80;

    for (i = 0; i < 8; i++) {
        pad[n + i] = (unsigned char) (bits >> (56 - 8 * i));
    }

    ws_sha1_update(s, pad, n + 8);

    for (i = 0; i < 5; i++) {
        out[4 * i] = (unsigned char) (s->h[i] >> 24);
        out[4 * i + 1] = (unsigned char) (s->h[i] >> 16);
        out[4 * i + 2] = (unsigned char) (s->h[i] >> 8);
        out[4 * i + 3] = (unsigned char) s->h[i];
    }
}


void
ws_sha1(const unsigned char *data, size_t len, unsigned char out[20])
{
    ws_sha1_t  s;

    ws_sha1_init(&s);
    ws_sha1_update(&s, data, len);
    ws_sha1_final(&s, out);
}


static const char  ws_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";


size_t
ws_base64_encode(const unsigned char *src, size_t len, unsigned char *dst)
{
    unsigned char  *d;

    d = dst;

    while (len >= 3) {
        *d++ = ws_b64[src[0] >> 2];
        *d++ = ws_b64[((src[0] & 0x03) << 4) | (src[1] >> 4)];
        *d++ = ws_b64[((src[1] & 0x0f) << 2) | (src[2] >> 6)];
        *d++ = ws_b64[src[2] & 0x3f];
        src += 3;
        len -= 3;
    }

    if (len) {
        *d++ = ws_b64[src[0] >> 2];

        if (len == 1) {
            *d++ = ws_b64[(src[0] & 0x03) << 4];
            *d++ = '=';

        } else {
            *d++ = ws_b64[((src[0] & 0x03) << 4) | (src[1] >> 4)];
            *d++ = ws_b64[(src[1] & 0x0f) << 2];
        }

        *d++ = '=';
    }

    return (size_t) (d - dst);
}


static int
ws_b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '+') {
        return 62;
    }

    if (c == '/') {
        return 63;
    }

    return -1;
}


size_t
ws_base64_decode(const unsigned char *src, size_t len, unsigned char *dst)
{
    int             v[4];
    size_t          i, n, pad;
    unsigned char  *d;

    /* canonical padded base64 only, as RFC 6455 keys are */

    if (len % 4) {
        return (size_t) -1;
    }

    pad = 0;

    if (len && src[len - 1] == '=') {
        pad++;

        if (src[len - 2] == '=') {
            pad++;
        }
    }

    d = dst;

    for (i = 0; i < len; i += 4) {

        for (n = 0; n < 4; n++) {

            if (i + n >= len - pad) {
                v[n] = 0;
                continue;
            }

            v[n] = ws_b64_value(src[i + n]);

            if (v[n] < 0) {
                return (size_t) -1;
            }
        }

        *d++ = (unsigned char) (v[0] << 2 | v[1] >> 4);

        if (i + 4 < len || pad < 2) {
            *d++ = (unsigned char) (v[1] << 4 | v[2] >> 2);
        }

        if (i + 4 < len || pad < 1) {
            *d++ = (unsigned char) (v[2] << 6 | v[3]);
        }

        /* the bits that padding drops must be zero */

        if (i + 4 == len
            && ((pad == 2 && (v[1] & 0x0f)) || (pad == 1 && (v[2] & 0x03))))
        {
            return (size_t) -1;
        }
    }

    return (size_t) (d - dst);
}


int
ws_key_valid(const unsigned char *key, size_t len)
{
    unsigned char  buf[18];

    /* 16 bytes encode to 24 characters, the last two "==" */

    if (len != 24) {
        return 0;
    }

    return ws_base64_decode(key, len, buf) == 16;
}


void
ws_accept_key(const unsigned char *key, size_t len, unsigned char *out)
{
    ws_sha1_t      s;
    unsigned char  md[20];

    ws_sha1_init(&s);
    ws_sha1_update(&s, key, len);
    ws_sha1_update(&s, (const unsigned char *) WS_GUID,
                   sizeof(WS_GUID) - 1);
    ws_sha1_final(&s, md);

    (void) ws_base64_encode(md, 20, out);
}


static unsigned char
ws_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char) (c | 0x20) : c;
}


int
ws_list_has_token(const unsigned char *list, size_t len, const char *token)
{
    size_t                i, n, tlen;
    const unsigned char  *p, *end, *s;

    tlen = strlen(token);
    p = list;
    end = list + len;

    while (p < end) {

        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        s = p;

        while (p < end && *p != ',') {
            p++;
        }

        /* [s, p) is one element; trim trailing whitespace */

        n = (size_t) (p - s);

        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
            n--;
        }

        if (n != tlen) {
            continue;
        }

        for (i = 0; i < n; i++) {
            if (ws_lower(s[i]) != ws_lower((unsigned char) token[i])) {
                break;
            }
        }

        if (i == n) {
            return 1;
        }
    }

    return 0;
}
