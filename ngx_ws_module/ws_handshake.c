
/*
 * Copyright (C) the ngx_ws authors
 *
 * Handshake key math (RFC 6455 4.2.2): the Sec-WebSocket-Key check and
 * Sec-WebSocket-Accept, on OpenSSL's SHA-1 and base64, and HTTP token lists
 * (RFC 9110 5.6.1).
 */


#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ws_core.h"


#define WS_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


int
ws_key_valid(const unsigned char *key, size_t len)
{
    unsigned char  raw[18], enc[WS_KEY_LEN + 1];

    /*
     * 16 bytes in canonical base64: 24 characters, the last two "=", no
     * bits after the end.  A key is valid when encoding what it decodes
     * to gives it back.
     */

    if (len != WS_KEY_LEN) {
        return 0;
    }

    if (EVP_DecodeBlock(raw, key, (int) len) != 18) {
        return 0;
    }

    (void) EVP_EncodeBlock(enc, raw, 16);

    return memcmp(enc, key, WS_KEY_LEN) == 0;
}


/*
 * SHA-1 of OpenSSL 3's EVP interface with the algorithm fetched once and a
 * context kept for reuse: SHA1() fetches the algorithm and allocates a
 * context on every call, twice the cost of the digest itself.  A process
 * runs one handshake at a time (nginx's workers are single-threaded).
 */

static void
ws_sha1(const unsigned char *in, size_t len, unsigned char *md)
{
    static EVP_MD      *sha1;
    static EVP_MD_CTX  *ctx;

    if (ctx == NULL) {
#if (OPENSSL_VERSION_NUMBER >= 0x30000000L)
        sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
#else
        sha1 = (EVP_MD *) EVP_sha1();
#endif
        ctx = (sha1 != NULL) ? EVP_MD_CTX_new() : NULL;
    }

    if (ctx != NULL
        && EVP_DigestInit_ex(ctx, sha1, NULL)
        && EVP_DigestUpdate(ctx, in, len)
        && EVP_DigestFinal_ex(ctx, md, NULL))
    {
        return;
    }

    /* no memory for the context kept: the one-shot call */

    (void) SHA1(in, len, md);
}


void
ws_accept_key(const unsigned char *key, unsigned char *out)
{
    unsigned char  in[WS_KEY_LEN + sizeof(WS_GUID) - 1];
    unsigned char  md[SHA_DIGEST_LENGTH], enc[WS_ACCEPT_LEN + 1];

    memcpy(in, key, WS_KEY_LEN);
    memcpy(in + WS_KEY_LEN, WS_GUID, sizeof(WS_GUID) - 1);

    ws_sha1(in, sizeof(in), md);

    /* EVP_EncodeBlock() writes a NUL after the 28 characters */

    (void) EVP_EncodeBlock(enc, md, SHA_DIGEST_LENGTH);

    memcpy(out, enc, WS_ACCEPT_LEN);
}


static unsigned char
ws_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char) (c | 0x20) : c;
}


int
ws_list_next(const unsigned char **pos, const unsigned char *end,
    const unsigned char **elt, size_t *len)
{
    size_t                n;
    const unsigned char  *p, *s;

    p = *pos;

    while (p < end) {

        while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) {
            p++;
        }

        s = p;

        while (p < end && *p != ',') {
            p++;
        }

        /* [s, p) is one element; trailing whitespace trimmed */

        n = (size_t) (p - s);

        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) {
            n--;
        }

        if (n) {
            *pos = p;
            *elt = s;
            *len = n;
            return 1;
        }
    }

    *pos = end;

    return 0;
}


int
ws_is_token(const unsigned char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (s[i] <= 0x20 || s[i] >= 0x7f
            || strchr("()<>@,;:\\\"/[]?={}", s[i]))
        {
            return 0;
        }
    }

    return len > 0;
}


int
ws_list_has_token(const unsigned char *list, size_t len, const char *token)
{
    size_t                i, n, tlen;
    const unsigned char  *p, *s;

    tlen = strlen(token);
    p = list;

    while (ws_list_next(&p, list + len, &s, &n)) {

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
