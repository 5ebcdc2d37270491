
/*
 * Copyright (C) the ngx_ws authors
 *
 * Unit tests of the core's JWTs (ws_jwt.c): the compact form and
 * base64url, keys from secrets, PEM and JWK/JWKS, each algorithm with
 * tokens signed here through OpenSSL, the algorithm fixed by the key, kid
 * selection, exp/nbf/leeway, claims as text and requirements.
 */


#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "ws_jwt.h"
#include "unit.h"


#define NOW  1700000000


static const char  b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


static size_t
b64(char *dst, const unsigned char *src, size_t len)
{
    size_t    i, n;
    uint32_t  v;

    n = 0;

    for (i = 0; i + 2 < len; i += 3) {
        v = (uint32_t) src[i] << 16 | (uint32_t) src[i + 1] << 8 | src[i + 2];
        dst[n++] = b64url[v >> 18];
        dst[n++] = b64url[(v >> 12) & 63];
        dst[n++] = b64url[(v >> 6) & 63];
        dst[n++] = b64url[v & 63];
    }

    if (len - i == 1) {
        v = (uint32_t) src[i] << 16;
        dst[n++] = b64url[v >> 18];
        dst[n++] = b64url[(v >> 12) & 63];

    } else if (len - i == 2) {
        v = (uint32_t) src[i] << 16 | (uint32_t) src[i + 1] << 8;
        dst[n++] = b64url[v >> 18];
        dst[n++] = b64url[(v >> 12) & 63];
        dst[n++] = b64url[(v >> 6) & 63];
    }

    dst[n] = '\0';

    return n;
}


/* "header.payload" of JSON texts */

static size_t
signing_input(char *dst, const char *header, const char *claims)
{
    size_t  n;

    n = b64(dst, (const unsigned char *) header, strlen(header));
    dst[n++] = '.';
    n += b64(dst + n, (const unsigned char *) claims, strlen(claims));

    return n;
}


static const char *
md_of(const char *alg)
{
    return strstr(alg, "256") ? "SHA256" : strstr(alg, "384") ? "SHA384"
                                                             : "SHA512";
}


/* a token signed with key (or secret) by algorithm alg */

static char *
make(const char *alg, EVP_PKEY *key, const unsigned char *secret,
    size_t slen, const char *header, const char *claims)
{
    static char     tok[8192];
    size_t          n, siglen, half;
    unsigned char   sig[1024], *p;
    const BIGNUM   *r, *s;
    ECDSA_SIG      *es;
    EVP_MD_CTX     *ctx;
    EVP_PKEY_CTX   *pctx;
    const EVP_MD   *md;

    n = signing_input(tok, header, claims);
    siglen = sizeof(sig);

    if (alg[0] == 'H') {
        unsigned int  len = 0;
        EVP_MAC      *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        EVP_MAC_CTX  *mc = EVP_MAC_CTX_new(mac);
        OSSL_PARAM    params[2];

        params[0] = OSSL_PARAM_construct_utf8_string("digest",
                                                     (char *) md_of(alg), 0);
        params[1] = OSSL_PARAM_construct_end();

        EVP_MAC_init(mc, secret, slen, params);
        EVP_MAC_update(mc, (unsigned char *) tok, n);
        EVP_MAC_final(mc, sig, &siglen, sizeof(sig));
        EVP_MAC_CTX_free(mc);
        EVP_MAC_free(mac);
        (void) len;

    } else {
        md = strcmp(alg, "EdDSA") == 0 ? NULL
                                       : EVP_get_digestbyname(md_of(alg));
        ctx = EVP_MD_CTX_new();
        EVP_DigestSignInit(ctx, &pctx, md, NULL, key);

        if (alg[0] == 'P') {
            EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
            EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST);
        }

        EVP_DigestSign(ctx, sig, &siglen, (unsigned char *) tok, n);
        EVP_MD_CTX_free(ctx);

        if (alg[0] == 'E' && alg[1] == 'S') {
            /* DER to r || s */
            const unsigned char  *q = sig;

            half = strcmp(alg, "ES256") == 0 ? 32 : 48;
            es = d2i_ECDSA_SIG(NULL, &q, (long) siglen);
            ECDSA_SIG_get0(es, &r, &s);
            p = sig;
            BN_bn2binpad(r, p, (int) half);
            BN_bn2binpad(s, p + half, (int) half);
            ECDSA_SIG_free(es);
            siglen = 2 * half;
        }
    }

    tok[n++] = '.';
    b64(tok + n, sig, siglen);

    return tok;
}


static int
verify(ws_jwt_keys_t *ks, const char *tok, int64_t now, int64_t leeway,
    ws_jwt_t *jwt)
{
    ws_jwt_t  local;

    if (jwt == NULL) {
        jwt = &local;
    }

    int rc = ws_jwt_verify(ks, (const unsigned char *) tok, strlen(tok), now,
                           leeway, jwt);

    if (jwt == &local && rc == WS_JWT_OK) {
        ws_jwt_free(jwt);
    }

    return rc;
}


static int
add(ws_jwt_keys_t *ks, const char *data, int alg)
{
    char  err[256];
    int   rc;

    rc = ws_jwt_keys_add(ks, (const unsigned char *) data, strlen(data), alg,
                         err, sizeof(err));
    if (rc < 0 && getenv("UNIT_VERBOSE")) {
        fprintf(stderr, "keys_add: %s\n", err);
    }

    return rc;
}


static int
add_err(ws_jwt_keys_t *ks, const char *data, int alg, const char *want)
{
    char  err[256];
    int   rc;

    err[0] = '\0';
    rc = ws_jwt_keys_add(ks, (const unsigned char *) data, strlen(data), alg,
                         err, sizeof(err));

    return rc < 0 && strstr(err, want) != NULL;
}


static char *
pem_of(EVP_PKEY *key)
{
    static char  buf[4096];
    BIO         *bio;
    int          n;

    bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(bio, key);
    n = BIO_read(bio, buf, sizeof(buf) - 1);
    buf[n > 0 ? n : 0] = '\0';
    BIO_free(bio);

    return buf;
}


static const char  *secret = "0123456789abcdef0123456789abcdef";
static const char  *hs = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";


static void
test_form(void)
{
    char            buf[512], *t;
    ws_jwt_keys_t  *ks;

    unit_ctx = "form";

    ks = ws_jwt_keys_new();
    CHECK_EQ(add(ks, secret, WS_JWT_HS256), 1);

    t = make("HS256", NULL, (const unsigned char *) secret, 32, hs,
             "{\"sub\":\"a\"}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_OK);

    /* verified twice with the same MAC context */
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_OK);

    /* a flipped signature bit, a missing signature, extra dots */
    snprintf(buf, sizeof(buf), "%s", t);
    buf[strlen(buf) - 2] = buf[strlen(buf) - 2] == 'A' ? 'B' : 'A';
    CHECK_EQ(verify(ks, buf, NOW, 0, NULL), WS_JWT_SIGNATURE);

    snprintf(buf, sizeof(buf), "%s", t);
    *strrchr(buf, '.') = '\0';
    CHECK_EQ(verify(ks, buf, NOW, 0, NULL), WS_JWT_MALFORMED);

    snprintf(buf, sizeof(buf), "%s.", t);
    CHECK_EQ(verify(ks, buf, NOW, 0, NULL), WS_JWT_MALFORMED);

    CHECK_EQ(verify(ks, "", NOW, 0, NULL), WS_JWT_MALFORMED);
    CHECK_EQ(verify(ks, "..", NOW, 0, NULL), WS_JWT_MALFORMED);
    CHECK_EQ(verify(ks, "a.b.c.d", NOW, 0, NULL), WS_JWT_MALFORMED);

    /* padding, the standard alphabet, a length of 1 mod 4 */
    snprintf(buf, sizeof(buf), "%s=", t);
    CHECK_EQ(verify(ks, buf, NOW, 0, NULL), WS_JWT_MALFORMED);

    snprintf(buf, sizeof(buf), "%s", t);
    buf[3] = '+';
    CHECK_EQ(verify(ks, buf, NOW, 0, NULL), WS_JWT_MALFORMED);

    snprintf(buf, sizeof(buf), "%sA", t);
    CHECK_EQ(verify(ks, buf, NOW, 0, NULL), WS_JWT_SIGNATURE);

    snprintf(buf, sizeof(buf), "%sAA", t);
    CHECK_EQ(verify(ks, buf, NOW, 0, NULL), WS_JWT_MALFORMED);

    /* unused low bits that are not zero: one spelling per byte string */
    CHECK_EQ(verify(ks, "eyJhbGciOiJIUzI1NiJ9.e30.AB", NOW, 0, NULL),
             WS_JWT_MALFORMED);

    /* the header: not JSON, not an object, no alg, alg not a string */
    t = make("HS256", NULL, (const unsigned char *) secret, 32, "{\"alg\":",
             "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_BAD_HEADER);
    t = make("HS256", NULL, (const unsigned char *) secret, 32, "[1]", "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_BAD_HEADER);
    t = make("HS256", NULL, (const unsigned char *) secret, 32,
             "{\"typ\":\"JWT\"}", "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_BAD_HEADER);
    t = make("HS256", NULL, (const unsigned char *) secret, 32,
             "{\"alg\":256}", "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_BAD_HEADER);

    /* duplicate members are ambiguous: refused */
    t = make("HS256", NULL, (const unsigned char *) secret, 32,
             "{\"alg\":\"HS256\",\"alg\":\"none\"}", "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_BAD_HEADER);
    t = make("HS256", NULL, (const unsigned char *) secret, 32, hs,
             "{\"sub\":\"a\",\"sub\":\"b\"}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_BAD_CLAIMS);

    /* claims: signed, but not an object or not JSON */
    t = make("HS256", NULL, (const unsigned char *) secret, 32, hs, "[]");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_BAD_CLAIMS);
    t = make("HS256", NULL, (const unsigned char *) secret, 32, hs, "{\"a\"");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_BAD_CLAIMS);

    /* crit: no extension is understood */
    t = make("HS256", NULL, (const unsigned char *) secret, 32,
             "{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}", "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_CRIT);

    ws_jwt_keys_free(ks);
}


static void
test_alg(void)
{
    char            buf[512], *t;
    EVP_PKEY       *rsa;
    ws_jwt_keys_t  *ks;

    unit_ctx = "alg";

    ks = ws_jwt_keys_new();
    CHECK_EQ(add(ks, secret, WS_JWT_HS256), 1);

    /* "none" and another HMAC: no key of that algorithm */
    snprintf(buf, sizeof(buf), "%s", "eyJhbGciOiJub25lIn0.e30.");
    CHECK_EQ(verify(ks, buf, NOW, 0, NULL), WS_JWT_ALG);
    CHECK_EQ(verify(ks, "eyJhbGciOiJub25lIn0.e30.AAAA", NOW, 0, NULL),
             WS_JWT_ALG);
    t = make("HS384", NULL, (const unsigned char *) secret, 32,
             "{\"alg\":\"HS384\"}", "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_ALG);
    t = make("HS256", NULL, (const unsigned char *) secret, 32,
             "{\"alg\":\"hs256\"}", "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_ALG);

    ws_jwt_keys_free(ks);

    /* RS256 to HS256: the public key's PEM as an HMAC secret */

    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    ks = ws_jwt_keys_new();
    CHECK_EQ(add(ks, pem_of(rsa), WS_JWT_RS256), 1);

    snprintf(buf, sizeof(buf), "%s", pem_of(rsa));
    t = make("HS256", NULL, (const unsigned char *) buf, strlen(buf), hs,
             "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_ALG);

    t = make("RS256", rsa, NULL, 0, "{\"alg\":\"RS256\"}", "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_OK);

    /* the PEM of an RSA key read as an HS secret file: refused at load */
    CHECK(add_err(ks, buf, WS_JWT_HS256, "not a PEM file"));

    ws_jwt_keys_free(ks);
    EVP_PKEY_free(rsa);
}


static void
test_algorithms(void)
{
    int             i;
    char           *t, hdr[64], buf[1024];
    EVP_PKEY       *rsa, *p256, *p384, *ed, *rsa1024;
    ws_jwt_keys_t  *ks;

    static const char  *rs[] = { "RS256", "RS384", "RS512",
                                 "PS256", "PS384", "PS512" };
    static const char  *hsn[] = { "HS256", "HS384", "HS512" };
    static const char   long_secret[] =
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    unit_ctx = "algorithms";

    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 1024);

    for (i = 0; i < 3; i++) {
        ks = ws_jwt_keys_new();
        CHECK_EQ(add(ks, long_secret, ws_jwt_alg((const unsigned char *)
                                                 hsn[i], 5)), 1);
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\"}", hsn[i]);
        t = make(hsn[i], NULL, (const unsigned char *) long_secret, 64, hdr,
                 "{}");
        CHECKF(verify(ks, t, NOW, 0, NULL) == WS_JWT_OK, "%s", hsn[i]);
        ws_jwt_keys_free(ks);
    }

    for (i = 0; i < 6; i++) {
        ks = ws_jwt_keys_new();
        CHECK_EQ(add(ks, pem_of(rsa),
                     ws_jwt_alg((const unsigned char *) rs[i], 5)), 1);
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\"}", rs[i]);
        t = make(rs[i], rsa, NULL, 0, hdr, "{}");
        CHECKF(verify(ks, t, NOW, 0, NULL) == WS_JWT_OK, "%s", rs[i]);
        ws_jwt_keys_free(ks);
    }

    /* PS256 against an RS256 key, with the RS256 name: bad signature */
    ks = ws_jwt_keys_new();
    CHECK_EQ(add(ks, pem_of(rsa), WS_JWT_RS256), 1);
    t = make("PS256", rsa, NULL, 0, "{\"alg\":\"RS256\"}", "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_SIGNATURE);
    ws_jwt_keys_free(ks);

    ks = ws_jwt_keys_new();
    CHECK_EQ(add(ks, pem_of(p256), WS_JWT_ES256), 1);
    t = make("ES256", p256, NULL, 0, "{\"alg\":\"ES256\"}", "{\"x\":1}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_OK);

    /* the same signature in DER: refused */
    {
        size_t          n, siglen = sizeof(buf);
        EVP_MD_CTX     *ctx = EVP_MD_CTX_new();
        unsigned char   sig[256];

        n = signing_input(buf, "{\"alg\":\"ES256\"}", "{\"x\":1}");
        EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, p256);
        siglen = sizeof(sig);
        EVP_DigestSign(ctx, sig, &siglen, (unsigned char *) buf, n);
        EVP_MD_CTX_free(ctx);
        buf[n++] = '.';
        b64(buf + n, sig, siglen);
        CHECK_EQ(verify(ks, buf, NOW, 0, NULL), WS_JWT_SIGNATURE);
    }

    /* r || s of the wrong length: one byte short */
    snprintf(buf, sizeof(buf), "%s", t);
    buf[strlen(buf) - 2] = '\0';
    CHECK_EQ(verify(ks, buf, NOW, 0, NULL), WS_JWT_SIGNATURE);
    ws_jwt_keys_free(ks);

    ks = ws_jwt_keys_new();
    CHECK_EQ(add(ks, pem_of(p384), WS_JWT_ES384), 1);
    t = make("ES384", p384, NULL, 0, "{\"alg\":\"ES384\"}", "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_OK);
    ws_jwt_keys_free(ks);

    ks = ws_jwt_keys_new();
    CHECK_EQ(add(ks, pem_of(ed), WS_JWT_EDDSA), 1);
    t = make("EdDSA", ed, NULL, 0, "{\"alg\":\"EdDSA\"}", "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_OK);

    /* keys that do not fit their algorithm, refused at load */
    CHECK(add_err(ks, pem_of(p256), WS_JWT_ES384, "does not fit"));
    CHECK(add_err(ks, pem_of(p384), WS_JWT_ES256, "does not fit"));
    CHECK(add_err(ks, pem_of(ed), WS_JWT_RS256, "does not fit"));
    CHECK(add_err(ks, pem_of(rsa), WS_JWT_EDDSA, "does not fit"));
    CHECK(add_err(ks, pem_of(rsa1024), WS_JWT_RS256, "1024 bits"));
    CHECK(add_err(ks, pem_of(rsa), 0, "needs alg="));
    CHECK(add_err(ks, "0123456789", WS_JWT_HS256, "shorter than"));
    CHECK(add_err(ks, long_secret, 0, "needs alg="));
    CHECK(add_err(ks, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END "
                  "PRIVATE KEY-----\n", WS_JWT_RS256, "no PEM public key"));
    CHECK_EQ(ws_jwt_keys_count(ks), 1);

    /* an HMAC secret that starts with "{" is a secret, not JSON */
    CHECK_EQ(add(ks, "{0123456789abcdef0123456789abcdef", WS_JWT_HS256), 1);

    ws_jwt_keys_free(ks);

    EVP_PKEY_free(rsa);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(ed);
    EVP_PKEY_free(rsa1024);
}


static void
bn_b64(char *dst, const BIGNUM *bn, int len)
{
    unsigned char  bin[512];

    if (len == 0) {
        len = BN_num_bytes(bn);
    }

    BN_bn2binpad(bn, bin, len);
    b64(dst, bin, (size_t) len);
}


static void
test_jwk(void)
{
    char            jwks[4096], n[600], e[16], x[80], y[80], bad[4096], *t;
    size_t          len;
    BIGNUM         *bn, *bx, *by;
    EVP_PKEY       *rsa, *p256, *ed;
    unsigned char   raw[32];
    ws_jwt_keys_t  *ks;

    unit_ctx = "jwk";

    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

    bn = NULL;
    EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_N, &bn);
    bn_b64(n, bn, 0);
    BN_free(bn);
    bn = NULL;
    EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_E, &bn);
    bn_b64(e, bn, 0);
    BN_free(bn);

    bx = NULL;
    by = NULL;
    EVP_PKEY_get_bn_param(p256, OSSL_PKEY_PARAM_EC_PUB_X, &bx);
    EVP_PKEY_get_bn_param(p256, OSSL_PKEY_PARAM_EC_PUB_Y, &by);
    bn_b64(x, bx, 32);
    bn_b64(y, by, 32);
    BN_free(bx);
    BN_free(by);

    len = sizeof(raw);
    EVP_PKEY_get_raw_public_key(ed, raw, &len);

    {
        char  edx[64];

        b64(edx, raw, len);

        snprintf(jwks, sizeof(jwks),
                 "{\"keys\":["
                 "{\"kty\":\"RSA\",\"kid\":\"r1\",\"alg\":\"RS256\","
                 "\"n\":\"%s\",\"e\":\"%s\"},"
                 "{\"kty\":\"EC\",\"kid\":\"e1\",\"crv\":\"P-256\","
                 "\"x\":\"%s\",\"y\":\"%s\"},"
                 "{\"kty\":\"OKP\",\"kid\":\"d1\",\"crv\":\"Ed25519\","
                 "\"x\":\"%s\"},"
                 "{\"kty\":\"oct\",\"kid\":\"h1\",\"alg\":\"HS256\","
                 "\"k\":\"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY\"},"
                 "{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"AQAB\","
                 "\"e\":\"AQAB\"}"
                 "]}", n, e, x, y, edx);
    }

    ks = ws_jwt_keys_new();
    CHECK_EQ(add(ks, jwks, 0), 4);

    t = make("RS256", rsa, NULL, 0, "{\"alg\":\"RS256\",\"kid\":\"r1\"}",
             "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_OK);

    /* another key's kid: tried with that key only */
    t = make("RS256", rsa, NULL, 0, "{\"alg\":\"RS256\",\"kid\":\"e1\"}",
             "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_ALG);

    t = make("RS256", rsa, NULL, 0, "{\"alg\":\"RS256\",\"kid\":\"zz\"}",
             "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_KID);

    t = make("RS256", rsa, NULL, 0, "{\"alg\":\"RS256\",\"kid\":7}", "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_BAD_HEADER);

    /* no kid: the keys of the algorithm */
    t = make("RS256", rsa, NULL, 0, "{\"alg\":\"RS256\"}", "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_OK);

    t = make("ES256", p256, NULL, 0, "{\"alg\":\"ES256\",\"kid\":\"e1\"}",
             "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_OK);

    t = make("EdDSA", ed, NULL, 0, "{\"alg\":\"EdDSA\",\"kid\":\"d1\"}",
             "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_OK);

    t = make("HS256", NULL, (const unsigned char *) secret, 32,
             "{\"alg\":\"HS256\",\"kid\":\"h1\"}", "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_OK);

    /* a kid that no key has, and a kid-less key of the algorithm */
    CHECK_EQ(add(ks, pem_of(rsa), WS_JWT_RS256), 1);
    t = make("RS256", rsa, NULL, 0, "{\"alg\":\"RS256\",\"kid\":\"zz\"}",
             "{}");
    CHECK_EQ(verify(ks, t, NOW, 0, NULL), WS_JWT_OK);

    /* the JWKS's alg against the file's */
    CHECK(add_err(ks, jwks, WS_JWT_ES256, "not ES256"));

    ws_jwt_keys_free(ks);

    ks = ws_jwt_keys_new();

    /* a JWK without alg needs alg=; an alg that does not fit */
    snprintf(bad, sizeof(bad), "{\"kty\":\"RSA\",\"n\":\"%s\",\"e\":\"%s\"}",
             n, e);
    CHECK(add_err(ks, bad, 0, "needs alg="));
    CHECK_EQ(add(ks, bad, WS_JWT_PS256), 1);
    CHECK(add_err(ks, bad, WS_JWT_ES256, "does not fit"));

    snprintf(bad, sizeof(bad), "{\"kty\":\"EC\",\"crv\":\"P-256\","
             "\"x\":\"%s\",\"y\":\"%s\"}", x, x);
    CHECK(add_err(ks, bad, WS_JWT_ES256, "not a point"));

    snprintf(bad, sizeof(bad), "{\"kty\":\"EC\",\"crv\":\"P-521\","
             "\"x\":\"%s\",\"y\":\"%s\"}", x, y);
    CHECK(add_err(ks, bad, WS_JWT_ES256, "crv"));

    CHECK(add_err(ks, "{\"kty\":\"oct\",\"k\":\"c2hvcnQ\"}", WS_JWT_HS256,
                  "shorter than"));
    CHECK(add_err(ks, "{\"kty\":\"oct\",\"k\":\"c2hvcnQ=\"}", WS_JWT_HS256,
                  "valid \"k\""));
    CHECK(add_err(ks, "{\"kty\":\"XYZ\"}", 0, "kty"));
    CHECK(add_err(ks, "{\"keys\":{}}", 0, "not an array"));
    CHECK(add_err(ks, "{\"keys\":[]}", 0, "no signature key"));
    CHECK(add_err(ks, "{\"keys\":[", 0, "invalid JSON"));
    CHECK(add_err(ks, "{\"kty\":\"RSA\",\"alg\":\"none\"}", 0,
                  "unsupported \"alg\""));
    CHECK_EQ(ws_jwt_keys_count(ks), 1);

    ws_jwt_keys_free(ks);

    EVP_PKEY_free(rsa);
    EVP_PKEY_free(p256);
    EVP_PKEY_free(ed);
}


static void
test_claims(void)
{
    char            *t;
    long             n;
    ws_jwt_t         jwt;
    ws_jwt_keys_t   *ks;
    unsigned char    buf[64];
    const unsigned char  *str;
    ws_jwt_str_t     v[2];

    unit_ctx = "claims";

    ks = ws_jwt_keys_new();
    CHECK_EQ(add(ks, secret, WS_JWT_HS256), 1);

#define TOK(claims)                                                          \
    make("HS256", NULL, (const unsigned char *) secret, 32, hs, claims)

    CHECK_EQ(verify(ks, TOK("{\"exp\":1700000000}"), NOW, 0, NULL),
             WS_JWT_EXPIRED);
    CHECK_EQ(verify(ks, TOK("{\"exp\":1700000001}"), NOW, 0, NULL),
             WS_JWT_OK);
    CHECK_EQ(verify(ks, TOK("{\"exp\":1699999990}"), NOW, 10, NULL),
             WS_JWT_EXPIRED);
    CHECK_EQ(verify(ks, TOK("{\"exp\":1699999991}"), NOW, 10, NULL),
             WS_JWT_OK);
    CHECK_EQ(verify(ks, TOK("{\"exp\":1700000000.5}"), NOW, 0, NULL),
             WS_JWT_OK);
    CHECK_EQ(verify(ks, TOK("{\"exp\":\"1800000000\"}"), NOW, 0, NULL),
             WS_JWT_BAD_CLAIMS);
    CHECK_EQ(verify(ks, TOK("{\"nbf\":1700000001}"), NOW, 0, NULL),
             WS_JWT_NOT_YET);
    CHECK_EQ(verify(ks, TOK("{\"nbf\":1700000000}"), NOW, 0, NULL),
             WS_JWT_OK);
    CHECK_EQ(verify(ks, TOK("{\"nbf\":1700000010}"), NOW, 10, NULL),
             WS_JWT_OK);
    CHECK_EQ(verify(ks, TOK("{\"nbf\":null}"), NOW, 0, NULL),
             WS_JWT_BAD_CLAIMS);

    t = TOK("{\"sub\":\"alice\",\"aud\":[\"web\",\"chat\"],\"n\":42,"
            "\"ok\":true,\"o\":{\"a\":[1,2]},\"userId\":\"u1\","
            "\"exp\":1800000000}");
    CHECK_EQ(verify(ks, t, NOW, 0, &jwt), WS_JWT_OK);
    CHECK(jwt.has_exp && jwt.exp == 1800000000.0);

    n = ws_jwt_member(&jwt, 1, (const unsigned char *) "sub", 3, &str, buf,
                      sizeof(buf));
    CHECK(n == 5 && str && memcmp(str, "alice", 5) == 0);

    n = ws_jwt_member(&jwt, 1, (const unsigned char *) "aud", 3, &str, NULL,
                      0);
    CHECK(n == 14 && str == NULL);
    n = ws_jwt_member(&jwt, 1, (const unsigned char *) "aud", 3, &str, buf,
                      sizeof(buf));
    CHECK(n == 14 && memcmp(buf, "[\"web\",\"chat\"]", 14) == 0);

    n = ws_jwt_member(&jwt, 1, (const unsigned char *) "o", 1, &str, buf,
                      sizeof(buf));
    CHECK(n == 11 && memcmp(buf, "{\"a\":[1,2]}", 11) == 0);

    n = ws_jwt_member(&jwt, 1, (const unsigned char *) "n", 1, &str, buf,
                      sizeof(buf));
    CHECK(n == 2 && memcmp(buf, "42", 2) == 0);

    /* nginx lowercases variable names */
    n = ws_jwt_member(&jwt, 1, (const unsigned char *) "userid", 6, &str,
                      buf, sizeof(buf));
    CHECK(n == 2 && str && memcmp(str, "u1", 2) == 0);

    n = ws_jwt_member(&jwt, 0, (const unsigned char *) "alg", 3, &str, buf,
                      sizeof(buf));
    CHECK(n == 5 && str && memcmp(str, "HS256", 5) == 0);

    CHECK_EQ(ws_jwt_member(&jwt, 1, (const unsigned char *) "nope", 4, &str,
                           buf, sizeof(buf)), -1);

    v[0].data = (const unsigned char *) "chat";
    v[0].len = 4;
    v[1].data = (const unsigned char *) "alice";
    v[1].len = 5;

    CHECK_EQ(ws_jwt_claim_match(&jwt, (const unsigned char *) "aud", 3, v, 1),
             1);
    CHECK_EQ(ws_jwt_claim_match(&jwt, (const unsigned char *) "sub", 3, v, 2),
             1);
    CHECK_EQ(ws_jwt_claim_match(&jwt, (const unsigned char *) "sub", 3, v, 1),
             0);
    CHECK_EQ(ws_jwt_claim_match(&jwt, (const unsigned char *) "iss", 3, v, 1),
             -1);

    v[0].data = (const unsigned char *) "42";
    v[0].len = 2;
    CHECK_EQ(ws_jwt_claim_match(&jwt, (const unsigned char *) "n", 1, v, 1),
             1);
    v[0].data = (const unsigned char *) "true";
    v[0].len = 4;
    CHECK_EQ(ws_jwt_claim_match(&jwt, (const unsigned char *) "ok", 2, v, 1),
             1);
    v[0].data = (const unsigned char *) "{\"a\":[1,2]}";
    v[0].len = 11;
    CHECK_EQ(ws_jwt_claim_match(&jwt, (const unsigned char *) "o", 1, v, 1),
             0);

    /* a prefix of the value is not the value */
    v[0].data = (const unsigned char *) "cha";
    v[0].len = 3;
    CHECK_EQ(ws_jwt_claim_match(&jwt, (const unsigned char *) "aud", 3, v, 1),
             0);

    ws_jwt_free(&jwt);
    ws_jwt_keys_free(ks);

#undef TOK
}


/*
 * The verification context of an RS, PS or ES key is made once and reused,
 * and the header of the last verified token is kept parsed: neither may
 * let a token through that a fresh context and a fresh parse would refuse.
 */

static void
test_reuse(void)
{
    int                   i, n;
    char                  t1[2048], bad[2048], *t;
    long                  len;
    EVP_PKEY             *rsa, *p256, *other;
    ws_jwt_t              jwt;
    ws_jwt_keys_t        *ks, *ks2;
    const unsigned char  *str;

    static const char  *names[] = { "RS256", "PS256", "ES256" };

    unit_ctx = "reuse";

    rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048);
    p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

    for (i = 0; i < 3; i++) {
        int         alg = ws_jwt_alg((const unsigned char *) names[i], 5);
        EVP_PKEY   *key = (i < 2) ? rsa : p256;
        char        hdr[64];

        other = (i < 2) ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t) 2048)
                        : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

        ks = ws_jwt_keys_new();
        ks2 = ws_jwt_keys_new();
        CHECK_EQ(add(ks, pem_of(key), alg), 1);
        CHECK_EQ(add(ks2, pem_of(other), alg), 1);

        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\",\"typ\":\"JWT\"}",
                 names[i]);
        snprintf(t1, sizeof(t1), "%s",
                 make(names[i], key, NULL, 0, hdr, "{\"sub\":\"one\"}"));

        /* a good token, a bad signature with its header, the good again */
        CHECKF(verify(ks, t1, NOW, 0, NULL) == WS_JWT_OK, "%s", names[i]);

        snprintf(bad, sizeof(bad), "%s", t1);
        n = (int) strlen(bad);
        bad[n - 3] = (bad[n - 3] == 'A') ? 'B' : 'A';
        CHECKF(verify(ks, bad, NOW, 0, NULL) == WS_JWT_SIGNATURE, "%s",
               names[i]);

        for (n = 0; n < 3; n++) {
            CHECKF(verify(ks, t1, NOW, 0, NULL) == WS_JWT_OK, "%s",
                   names[i]);
        }

        /* the header kept from t1: another key set still refuses it */
        CHECKF(verify(ks2, t1, NOW, 0, NULL) == WS_JWT_SIGNATURE, "%s",
               names[i]);

        /* the same header, other claims: the token's own claims */
        t = make(names[i], key, NULL, 0, hdr, "{\"sub\":\"two\"}");
        CHECKF(verify(ks, t, NOW, 0, &jwt) == WS_JWT_OK, "%s", names[i]);
        len = ws_jwt_member(&jwt, 1, (const unsigned char *) "sub", 3, &str,
                            NULL, 0);
        CHECK(len == 3 && memcmp(str, "two", 3) == 0);
        len = ws_jwt_member(&jwt, 0, (const unsigned char *) "typ", 3, &str,
                            NULL, 0);
        CHECK(len == 3 && memcmp(str, "JWT", 3) == 0);
        ws_jwt_free(&jwt);

        /* a header one byte longer is parsed anew: "crit" is refused */
        snprintf(hdr, sizeof(hdr),
                 "{\"alg\":\"%s\",\"typ\":\"JWT\",\"crit\":[\"x\"]}",
                 names[i]);
        t = make(names[i], key, NULL, 0, hdr, "{\"sub\":\"one\"}");
        CHECKF(verify(ks, t, NOW, 0, NULL) == WS_JWT_CRIT, "%s", names[i]);

        ws_jwt_keys_free(ks);
        ws_jwt_keys_free(ks2);
        EVP_PKEY_free(other);
    }

    EVP_PKEY_free(rsa);
    EVP_PKEY_free(p256);
}


/*
 * base64url through the signature, decoded first: every byte value in
 * the first and the last four characters of signatures of 32, 48 and 64
 * bytes (43, 64 and 86 characters: each length class), and nonzero
 * unused bits in both short ends
 */

static void
test_b64(void)
{
    int             i, c, pos, n, rc, in_alpha;
    char            hdr[64], tok[512], m[512], *t, *sig;
    ws_jwt_keys_t  *ks;

    static const char  *hsn[] = { "HS256", "HS384", "HS512" };
    static const char   long_secret[] =
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    unit_ctx = "b64";

    for (i = 0; i < 3; i++) {
        ks = ws_jwt_keys_new();
        CHECK_EQ(add(ks, long_secret, ws_jwt_alg((const unsigned char *)
                                                 hsn[i], 5)), 1);
        snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\"}", hsn[i]);
        t = make(hsn[i], NULL, (const unsigned char *) long_secret, 64, hdr,
                 "{\"a\":1}");
        snprintf(tok, sizeof(tok), "%s", t);
        CHECKF(verify(ks, tok, NOW, 0, NULL) == WS_JWT_OK, "%s", hsn[i]);

        sig = strrchr(tok, '.') + 1;
        n = (int) strlen(sig);
        CHECK_EQ(n, (int) (i == 0 ? 43 : i == 1 ? 64 : 86));

        for (pos = 0; pos < n; pos++) {
            if (pos == 4) {
                pos = n - 4;
            }

            for (c = 1; c < 256; c++) {
                snprintf(m, sizeof(m), "%s", tok);
                m[sig - tok + pos] = (char) c;

                in_alpha = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                           || (c >= '0' && c <= '9') || c == '-' || c == '_';

                rc = verify(ks, m, NOW, 0, NULL);

                if (c == sig[pos]) {
                    CHECKF(rc == WS_JWT_OK, "%s: byte %d at %d", hsn[i], c,
                           pos);

                } else if (!in_alpha) {
                    CHECKF(rc == WS_JWT_MALFORMED, "%s: byte %d at %d: %d",
                           hsn[i], c, pos, rc);

                } else if (pos == n - 1 && n % 4 != 0) {
                    /* the last character: a signature or unused bits */
                    CHECKF(rc == WS_JWT_SIGNATURE || rc == WS_JWT_MALFORMED,
                           "%s: byte %d at %d", hsn[i], c, pos);

                } else {
                    CHECKF(rc == WS_JWT_SIGNATURE, "%s: byte %d at %d: %d",
                           hsn[i], c, pos, rc);
                }
            }
        }

        ws_jwt_keys_free(ks);
    }

    /* unused bits: "AB" (12 bits, 4 unused), "AAB" (18 bits, 2 unused) */
    ks = ws_jwt_keys_new();
    CHECK_EQ(add(ks, secret, WS_JWT_HS256), 1);
    CHECK_EQ(verify(ks, "eyJhbGciOiJIUzI1NiJ9.e30.AAB", NOW, 0, NULL),
             WS_JWT_MALFORMED);
    CHECK_EQ(verify(ks, "eyJhbGciOiJIUzI1NiJ9.e30.AAE", NOW, 0, NULL),
             WS_JWT_SIGNATURE);
    CHECK_EQ(verify(ks, "eyJhbGciOiJIUzI1NiJ9.e30.AQ", NOW, 0, NULL),
             WS_JWT_SIGNATURE);
    CHECK_EQ(verify(ks, "eyJhbGciOiJIUzI1NiJ9.e30.AR", NOW, 0, NULL),
             WS_JWT_MALFORMED);
    ws_jwt_keys_free(ks);
}


int
main(void)
{
    test_form();
    test_b64();
    test_alg();
    test_algorithms();
    test_reuse();
    test_jwk();
    test_claims();

    return unit_done();
}
