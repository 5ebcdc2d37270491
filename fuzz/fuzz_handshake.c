
/*
 * Copyright (C) the ngx_ws authors
 *
 * libFuzzer target for the handshake header checks of ws_handshake.c:
 *
 *   - ws_key_valid() against a reference decoder of canonical padded
 *     base64 (the alphabet, "=" only as the last one or two characters,
 *     zero bits that padding drops): 24 characters for 16 bytes; a valid
 *     key decodes to 16 bytes that encode back to it;
 *   - ws_accept_key() of every valid key against SHA-1 and base64 computed
 *     here through EVP_Digest() and EVP_EncodeBlock(), nothing written past
 *     its 28 characters, and the example of RFC 6455 1.3;
 *   - ws_list_has_token() against a reference: the list split at every
 *     comma, each element stripped of spaces and tabs around it, compared
 *     with the token ignoring ASCII case; empty elements allowed.
 *
 * Input: byte 0 chooses the token: bits 0-1 "websocket", "upgrade",
 * "Upgrade", or (3) the last 1 + bits 2-5 bytes of the input (up to a NUL);
 * the other bytes are the key and the list.  Every check
 * also runs on the first 24 bytes, so that keys are found often.
 *
 * Build and run (from the repository root):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -fno-sanitize-recover=all -I ngx_ws_module -o fuzz_handshake \
 *       fuzz/fuzz_handshake.c ngx_ws_module/ws_frame.c \
 *       ngx_ws_module/ws_utf8.c ngx_ws_module/ws_handshake.c -lcrypto
 *   mkdir -p corpus-run && cp -R fuzz/corpus/handshake/. corpus-run/
 *   ./fuzz_handshake -max_total_time=300 corpus-run
 *
 * or "make fuzz".  The seeds are written by fuzz/make_seeds.py.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "ws_core.h"


#define MAX_IN     65536
#define WS_GUID    "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


#define CHECK(expr)                                                          \
    do {                                                                     \
        if (!(expr)) {                                                       \
            fprintf(stderr, "fuzz_handshake: %s\n", #expr);                  \
            abort();                                                         \
        }                                                                    \
    } while (0)


static const char  b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";


/* ---------------------------------------------------------- references */


static int
b64_value(unsigned c)
{
    const char  *p;

    if (c == 0) {
        return -1;
    }

    p = strchr(b64, (int) c);

    return p ? (int) (p - b64) : -1;
}


/* canonical padded base64: the decoded length, or -1 */

static long
ref_decode(const unsigned char *s, size_t n, unsigned char *out)
{
    size_t    i, pad, o;
    int       v;
    uint32_t  acc;
    unsigned  bits;

    if (n % 4) {
        return -1;
    }

    pad = 0;

    while (pad < 2 && pad < n && s[n - 1 - pad] == '=') {
        pad++;
    }

    acc = 0;
    bits = 0;
    o = 0;

    for (i = 0; i < n - pad; i++) {
        v = b64_value(s[i]);

        if (v < 0) {
            return -1;
        }

        acc = (acc << 6) | (uint32_t) v;
        bits += 6;

        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char) (acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }

    /* what is left over must be zero bits: 2 with "==", 4 with "=" */

    if (acc != 0) {
        return -1;
    }

    if (pad && (n - pad) % 4 != 4 - pad) {
        return -1;
    }

    return (long) o;
}


static int
ref_key_valid(const unsigned char *s, size_t n)
{
    unsigned char  buf[24];

    return n == 24 && ref_decode(s, n, buf) == 16;
}


static int
ows(unsigned c)
{
    return c == ' ' || c == '\t';
}


static unsigned
lower(unsigned c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}


static int
ref_has_token(const unsigned char *s, size_t n, const char *token)
{
    size_t  start, j, a, b, t, k;

    t = strlen(token);
    start = 0;

    for (j = 0; j <= n; j++) {
        if (j < n && s[j] != ',') {
            continue;
        }

        /* the element [start, j), stripped */

        a = start;
        b = j;
        start = j + 1;

        while (a < b && ows(s[a])) {
            a++;
        }

        while (b > a && ows(s[b - 1])) {
            b--;
        }

        if (b - a != t) {
            continue;
        }

        for (k = 0; k < t; k++) {
            if (lower(s[a + k]) != lower((unsigned char) token[k])) {
                break;
            }
        }

        if (k == t) {
            return 1;
        }
    }

    return 0;
}


/* ---------------------------------------------------------- checks */


static unsigned char  enc[32];
static unsigned char  dec[32];
static unsigned char  cat[24 + sizeof(WS_GUID)];


static void
sha1(const unsigned char *s, size_t n, unsigned char md[20])
{
    unsigned int  len;

    CHECK(EVP_Digest(s, n, md, &len, EVP_sha1(), NULL) == 1);
    CHECK(len == 20);
}


static void
check_all(const unsigned char *s, size_t n, const char *token)
{
    unsigned char  md[20], acc[WS_ACCEPT_LEN + 1];
    unsigned char  acc2[WS_ACCEPT_LEN + 1];

    /* the key, and the accept value of a valid one */

    CHECK(ws_key_valid(s, n) == ref_key_valid(s, n));

    if (ref_key_valid(s, n)) {
        CHECK(EVP_DecodeBlock(dec, s, 24) == 18);
        CHECK(EVP_EncodeBlock(enc, dec, 16) == 24);
        CHECK(memcmp(enc, s, 24) == 0);

        memcpy(cat, s, n);
        memcpy(cat + n, WS_GUID, sizeof(WS_GUID) - 1);
        sha1(cat, n + sizeof(WS_GUID) - 1, md);
        CHECK(EVP_EncodeBlock(acc2, md, 20) == WS_ACCEPT_LEN);

        memset(acc, 0, sizeof(acc));
        ws_accept_key(s, acc);
        CHECK(memcmp(acc, acc2, WS_ACCEPT_LEN) == 0);
        CHECK(acc[WS_ACCEPT_LEN] == 0);
    }

    /* the token list */

    CHECK(ws_list_has_token(s, n, token) == ref_has_token(s, n, token));
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t                tl;
    char                  token[17];
    unsigned char         acc[WS_ACCEPT_LEN];
    static int            once;
    static const char    *tokens[] = { "websocket", "upgrade", "Upgrade" };

    if (!once) {
        /* RFC 6455 1.3 */
        ws_accept_key((const unsigned char *) "dGhlIHNhbXBsZSBub25jZQ==", acc);
        CHECK(memcmp(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", WS_ACCEPT_LEN)
              == 0);
        CHECK(ws_key_valid((const unsigned char *)
                           "dGhlIHNhbXBsZSBub25jZQ==", 24));
        once = 1;
    }

    if (size < 1 || size > MAX_IN) {
        return 0;
    }

    if ((data[0] & 3) < 3) {
        strcpy(token, tokens[data[0] & 3]);
        data++;
        size--;

    } else {
        tl = 1 + ((data[0] >> 2) & 0x0f);
        data++;
        size--;

        if (tl > size) {
            tl = size;
        }

        memcpy(token, data + size - tl, tl);
        token[tl] = '\0';
        size -= tl;

        if (token[0] == '\0') {
            /* an empty token is never asked for */
            return 0;
        }
    }

    check_all(data, size, token);

    if (size > 24) {
        check_all(data, 24, token);
    }

    return 0;
}
