
/*
 * Copyright (C) the ngx_ws authors
 *
 * libFuzzer target for the core's JWTs (ws_jwt.c).
 *
 * The first input byte chooses what the rest is:
 *
 *   0: a token, checked against fixed keys (an HS256 secret, an EC P-256
 *      JWK with a kid, an Ed25519 JWK);
 *   1: "header.payload", signed here with the HS256 secret, so that the
 *      claims of signed tokens are reached: exp, nbf, every claim as text
 *      and as a requirement;
 *   2: a key file (the second byte picks the alg= parameter).
 *
 * Checked, with abort() on a failure: a verdict out of range or an
 * internal error; a member text that is not what
 * ws_jwt_member() said it would be; keys counted wrongly.
 *
 * Build and run: "make fuzz".
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#include <openssl/evp.h>
#include <openssl/core_names.h>

#include "ws_jwt.h"


#define FAIL(what)                                                           \
    do { fprintf(stderr, "fuzz_jwt: %s\n", what); abort(); } while (0)


static const char  secret[] = "fuzzing-secret-0123456789abcdef!";

static const char  jwks[] =
    "{\"keys\":["
    "{\"kty\":\"EC\",\"kid\":\"e1\",\"crv\":\"P-256\",\"alg\":\"ES256\","
    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"},"
    "{\"kty\":\"OKP\",\"kid\":\"d1\",\"crv\":\"Ed25519\","
    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}"
    "]}";

static ws_jwt_keys_t  *keys;


static size_t
b64(char *dst, const unsigned char *src, size_t len)
{
    static const char  a[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t    i, n;
    uint32_t  v;

    n = 0;

    for (i = 0; i + 2 < len; i += 3) {
        v = (uint32_t) src[i] << 16 | (uint32_t) src[i + 1] << 8 | src[i + 2];
        dst[n++] = a[v >> 18];
        dst[n++] = a[(v >> 12) & 63];
        dst[n++] = a[(v >> 6) & 63];
        dst[n++] = a[v & 63];
    }

    if (len - i == 1) {
        v = (uint32_t) src[i] << 16;
        dst[n++] = a[v >> 18];
        dst[n++] = a[(v >> 12) & 63];

    } else if (len - i == 2) {
        v = (uint32_t) src[i] << 16 | (uint32_t) src[i + 1] << 8;
        dst[n++] = a[v >> 18];
        dst[n++] = a[(v >> 12) & 63];
        dst[n++] = a[(v >> 6) & 63];
    }

    return n;
}


static void
setup(void)
{
    char  err[256];

    keys = ws_jwt_keys_new();

    if (keys == NULL
        || ws_jwt_keys_add(keys, (const unsigned char *) secret,
                           sizeof(secret) - 1, WS_JWT_HS256, err,
                           sizeof(err)) != 1
        || ws_jwt_keys_add(keys, (const unsigned char *) jwks,
                           sizeof(jwks) - 1, 0, err,
                           sizeof(err)) != 2)
    {
        fprintf(stderr, "fuzz_jwt: setup: %s\n", err);
        abort();
    }
}


static void
members(ws_jwt_t *jwt, const uint8_t *data, size_t size)
{
    long                  n, m;
    size_t                i, start;
    unsigned char         buf[256];
    ws_jwt_str_t          v[2];
    const unsigned char  *str;

    /* every run of letters of the input as a member name */

    start = 0;

    for (i = 0; i <= size; i++) {
        if (i < size && ((data[i] | 0x20) >= 'a' && (data[i] | 0x20) <= 'z'))
        {
            continue;
        }

        if (i > start) {
            n = ws_jwt_member(jwt, 1, data + start, i - start, &str, NULL,
                              0);

            if (n >= 0 && str == NULL && (size_t) n <= sizeof(buf)) {
                m = ws_jwt_member(jwt, 1, data + start, i - start, &str,
                                  buf, sizeof(buf));

                if (m != n || str != NULL) {
                    FAIL("a member's text changed its length");
                }
            }

            (void) ws_jwt_member(jwt, 0, data + start, i - start, &str, buf,
                                 sizeof(buf));

            v[0].data = data + start;
            v[0].len = i - start;
            v[1].data = (const unsigned char *) "1";
            v[1].len = 1;

            if (ws_jwt_claim_match(jwt, data + start, i - start, v, 2) < -1)
            {
                FAIL("a requirement's verdict out of range");
            }
        }

        start = i + 1;
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             rc, alg;
    char            err[256];
    size_t          n, mdlen;
    ws_jwt_t        jwt;
    EVP_MAC        *mac;
    EVP_MAC_CTX    *mc;
    OSSL_PARAM      params[2];
    ws_jwt_keys_t  *ks;
    unsigned char   md[32];
    static char     tok[16384];

    if (keys == NULL) {
        setup();
    }

    if (size < 1) {
        return 0;
    }

    switch (data[0] % 3) {

    case 0:
        rc = ws_jwt_verify(keys, data + 1, size - 1, 1700000000, 0, &jwt);

        if (rc > WS_JWT_ERROR || rc < 0) {
            FAIL("a verdict out of range");
        }

        if (rc == WS_JWT_OK) {
            /* a seed's valid token */
            members(&jwt, data + 1, size - 1);
            ws_jwt_free(&jwt);
        }

        break;

    case 1:
        if (size - 1 > sizeof(tok) - 64) {
            return 0;
        }

        memcpy(tok, data + 1, size - 1);
        n = size - 1;

        mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        mc = EVP_MAC_CTX_new(mac);
        params[0] = OSSL_PARAM_construct_utf8_string("digest", "SHA256", 0);
        params[1] = OSSL_PARAM_construct_end();
        EVP_MAC_init(mc, (const unsigned char *) secret, sizeof(secret) - 1,
                     params);
        EVP_MAC_update(mc, (unsigned char *) tok, n);
        EVP_MAC_final(mc, md, &mdlen, sizeof(md));
        EVP_MAC_CTX_free(mc);
        EVP_MAC_free(mac);

        tok[n++] = '.';
        n += b64(tok + n, md, mdlen);

        rc = ws_jwt_verify(keys, (unsigned char *) tok, n, 1700000000, 5,
                           &jwt);

        if (rc == WS_JWT_ERROR || rc < 0 || rc > WS_JWT_ERROR) {
            FAIL("a verdict out of range, or an internal error");
        }

        if (rc == WS_JWT_OK) {
            if (jwt.header == NULL || jwt.claims == NULL) {
                FAIL("a valid token without header or claims");
            }

            members(&jwt, data + 1, size - 1);
            ws_jwt_free(&jwt);
        }

        break;

    default:
        if (size < 2) {
            return 0;
        }

        alg = data[1] % WS_JWT_NALGS;
        ks = ws_jwt_keys_new();

        if (ks == NULL) {
            return 0;
        }

        rc = ws_jwt_keys_add(ks, data + 2, size - 2, alg, err, sizeof(err));

        if ((rc < 0 && ws_jwt_keys_count(ks) != 0)
            || (rc >= 0 && ws_jwt_keys_count(ks) != (size_t) rc))
        {
            FAIL("keys counted wrongly");
        }

        ws_jwt_keys_free(ks);
    }

    return 0;
}
