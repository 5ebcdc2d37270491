
/*
 * Copyright (C) the ngx_ws authors
 *
 * JSON Web Tokens: see ws_jwt.h.  The algorithm of a signature is the
 * key's, never the token's: a token whose "alg" differs from every key's
 * finds no key, so "none" and the RS256-to-HS256 confusion cannot work.
 */


#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "ws_jwt.h"


#define WS_JWT_MAX_KEYS           64
#define WS_JWT_MAX_KID            256
#define WS_JWT_MIN_RSA_BITS       2048
#define WS_JWT_HEADER_CACHE       256


typedef struct {
    int                           alg;
    char                          kid[WS_JWT_MAX_KID + 1];
    size_t                        kid_len;
    unsigned                      has_kid:1;

    EVP_PKEY                     *pkey;        /* not for HS */
    EVP_PKEY_CTX                 *verify;      /* RS, PS, ES: reused */
    EVP_MAC_CTX                  *mac;         /* HS: keyed, reused */
    const EVP_MD                 *md;          /* NULL for EdDSA */
} ws_jwt_key_t;


/*
 * The header of the last token whose signature verified, as it came and
 * parsed: an issuer's tokens share their header ({"alg":"RS256","kid":
 * ...}), so that a handshake usually parses only the claims.  The same
 * bytes parse into the same object, shared by reference counts, read only.
 */

typedef struct {
    size_t                        len;
    unsigned char                 b64[WS_JWT_HEADER_CACHE];
    json_t                       *header;
} ws_jwt_header_cache_t;


static ws_jwt_header_cache_t  ws_jwt_last_header;


struct ws_jwt_keys_s {
    ws_jwt_key_t                  keys[WS_JWT_MAX_KEYS];
    size_t                        n;
};


typedef struct {
    const char                   *name;
    const char                   *digest;      /* NULL: EdDSA */
    size_t                        size;        /* HS: minimum key, ES: r+s */
} ws_jwt_alg_t;


static const ws_jwt_alg_t  ws_jwt_algs[WS_JWT_NALGS] = {
    { NULL, NULL, 0 },
    { "HS256", "SHA256", 32 },
    { "HS384", "SHA384", 48 },
    { "HS512", "SHA512", 64 },
    { "RS256", "SHA256", 0 },
    { "RS384", "SHA384", 0 },
    { "RS512", "SHA512", 0 },
    { "PS256", "SHA256", 0 },
    { "PS384", "SHA384", 0 },
    { "PS512", "SHA512", 0 },
    { "ES256", "SHA256", 64 },
    { "ES384", "SHA384", 96 },
    { "EdDSA", NULL, 64 }
};


static const char  *ws_jwt_reasons[] = {
    "valid",
    "malformed",
    "malformed header",
    "malformed claims",
    "unsupported crit",
    "algorithm not allowed",
    "unknown kid",
    "bad signature",
    "expired",
    "not yet valid",
    "internal error"
};


#define ws_jwt_is_hs(alg)   ((alg) >= WS_JWT_HS256 && (alg) <= WS_JWT_HS512)
#define ws_jwt_is_rsa(alg)  ((alg) >= WS_JWT_RS256 && (alg) <= WS_JWT_PS512)
#define ws_jwt_is_pss(alg)  ((alg) >= WS_JWT_PS256 && (alg) <= WS_JWT_PS512)
#define ws_jwt_is_ec(alg)   ((alg) == WS_JWT_ES256 || (alg) == WS_JWT_ES384)


static int ws_jwt_keys_add_file(ws_jwt_keys_t *ks,
    const unsigned char *data, size_t len, int alg, char *err, size_t errlen);
static int ws_jwt_add_json(ws_jwt_keys_t *ks, json_t *root, int alg,
    char *err, size_t errlen);
static int ws_jwt_add_jwk(ws_jwt_keys_t *ks, json_t *jwk, int alg,
    char *err, size_t errlen);
static int ws_jwt_add_pem(ws_jwt_keys_t *ks, const unsigned char *data,
    size_t len, int alg, char *err, size_t errlen);
static int ws_jwt_add_key(ws_jwt_keys_t *ks, int alg, EVP_PKEY *pkey,
    const unsigned char *secret, size_t secret_len, const char *kid,
    char *err, size_t errlen);
static int ws_jwt_verify_ctx(ws_jwt_key_t *k);
static void ws_jwt_key_free(ws_jwt_key_t *k);
static int ws_jwt_fits(EVP_PKEY *pkey, int alg, char *err, size_t errlen);
static EVP_PKEY *ws_jwt_rsa_key(json_t *jwk, char *err, size_t errlen);
static EVP_PKEY *ws_jwt_ec_key(json_t *jwk, int *alg, char *err,
    size_t errlen);
static EVP_PKEY *ws_jwt_okp_key(json_t *jwk, char *err, size_t errlen);
static unsigned char *ws_jwt_member_b64(json_t *jwk, const char *name,
    size_t *len);
static int ws_jwt_check_sig(const ws_jwt_key_t *k, const unsigned char *in,
    size_t inlen, const unsigned char *sig, size_t siglen);
static json_t *ws_jwt_get_nocase(json_t *obj, const unsigned char *name,
    size_t nlen);
static json_t *ws_jwt_lookup(const ws_jwt_t *jwt, int claims,
    const unsigned char *name, size_t nlen);
static json_t *ws_jwt_json(const unsigned char *b64, size_t len, int *rc);
static size_t ws_jwt_b64_decode(unsigned char *dst, const unsigned char *src,
    size_t len, int *ok);


int
ws_jwt_alg(const unsigned char *name, size_t len)
{
    int  i;

    for (i = 1; i < WS_JWT_NALGS; i++) {
        if (strlen(ws_jwt_algs[i].name) == len
            && memcmp(ws_jwt_algs[i].name, name, len) == 0)
        {
            return i;
        }
    }

    return 0;
}


const char *
ws_jwt_alg_name(int alg)
{
    return (alg > 0 && alg < WS_JWT_NALGS) ? ws_jwt_algs[alg].name : "none";
}


const char *
ws_jwt_reason(int rc)
{
    if (rc < 0 || rc > WS_JWT_ERROR) {
        rc = WS_JWT_ERROR;
    }

    return ws_jwt_reasons[rc];
}


ws_jwt_keys_t *
ws_jwt_keys_new(void)
{
    return calloc(1, sizeof(ws_jwt_keys_t));
}


void
ws_jwt_keys_free(ws_jwt_keys_t *ks)
{
    size_t  i;

    if (ks == NULL) {
        return;
    }

    for (i = 0; i < ks->n; i++) {
        ws_jwt_key_free(&ks->keys[i]);
    }

    OPENSSL_cleanse(ks, sizeof(ws_jwt_keys_t));
    free(ks);
}


size_t
ws_jwt_keys_count(const ws_jwt_keys_t *ks)
{
    return ks->n;
}


int
ws_jwt_keys_add(ws_jwt_keys_t *ks, const unsigned char *data, size_t len,
    int alg, char *err, size_t errlen)
{
    int     rc;
    size_t  n;

    /* all keys of the file or none */

    n = ks->n;

    rc = ws_jwt_keys_add_file(ks, data, len, alg, err, errlen);

    if (rc < 0) {
        while (ks->n > n) {
            ks->n--;
            ws_jwt_key_free(&ks->keys[ks->n]);
        }
    }

    return rc;
}


static int
ws_jwt_keys_add_file(ws_jwt_keys_t *ks, const unsigned char *data, size_t len,
    int alg, char *err, size_t errlen)
{
    int           rc;
    size_t        i;
    json_t       *root;
    json_error_t  jerr;

    for (i = 0; i < len && memchr(" \t\r\n", data[i], 4); i++) {
        /* void */
    }

    if (i < len && data[i] == '{') {
        root = json_loadb((const char *) data, len, JSON_REJECT_DUPLICATES,
                          &jerr);

        if (root && json_is_object(root)) {
            rc = ws_jwt_add_json(ks, root, alg, err, errlen);
            json_decref(root);
            return rc;
        }

        json_decref(root);

        /* an HMAC secret may start with "{" */

        if (!ws_jwt_is_hs(alg)) {
            snprintf(err, errlen, "invalid JSON at line %d: %s", jerr.line,
                     root ? "not an object" : jerr.text);
            return -1;
        }

    } else if (len - i >= 11 && memcmp(data + i, "-----BEGIN ", 11) == 0) {
        return ws_jwt_add_pem(ks, data, len, alg, err, errlen);

    } else if (!ws_jwt_is_hs(alg)) {
        snprintf(err, errlen, "%s",
                 alg ? "not a JWK, JWKS or PEM file"
                     : "not a JWK, JWKS or PEM file; an HMAC secret "
                       "needs alg=HS256, HS384 or HS512");
        return -1;
    }

    /* the file's bytes, as they are, are the HMAC secret */

    return ws_jwt_add_key(ks, alg, NULL, data, len, NULL, err, errlen);
}


static int
ws_jwt_add_json(ws_jwt_keys_t *ks, json_t *root, int alg, char *err,
    size_t errlen)
{
    int      n, rc;
    size_t   i;
    json_t  *keys, *jwk;

    keys = json_object_get(root, "keys");

    if (keys == NULL) {
        /* a single JWK */
        return ws_jwt_add_jwk(ks, root, alg, err, errlen);
    }

    if (!json_is_array(keys)) {
        snprintf(err, errlen, "\"keys\" is not an array");
        return -1;
    }

    n = 0;

    json_array_foreach(keys, i, jwk) {
        rc = ws_jwt_add_jwk(ks, jwk, alg, err, errlen);

        if (rc < 0) {
            return -1;
        }

        n += rc;
    }

    if (n == 0) {
        snprintf(err, errlen, "no signature key in the JWKS");
        return -1;
    }

    return n;
}


static int
ws_jwt_add_jwk(ws_jwt_keys_t *ks, json_t *jwk, int alg, char *err,
    size_t errlen)
{
    int             rc, kalg;
    size_t          len;
    json_t         *v;
    EVP_PKEY       *pkey;
    const char     *kty, *kid, *s;
    unsigned char  *secret;

    if (!json_is_object(jwk)) {
        snprintf(err, errlen, "a JWK is not an object");
        return -1;
    }

    /* keys for encryption are not ours */

    v = json_object_get(jwk, "use");

    if (v && (!json_is_string(v) || strcmp(json_string_value(v), "sig") != 0))
    {
        return 0;
    }

    kty = json_string_value(json_object_get(jwk, "kty"));

    if (kty == NULL) {
        snprintf(err, errlen, "a JWK without \"kty\"");
        return -1;
    }

    v = json_object_get(jwk, "kid");

    if (v && !json_is_string(v)) {
        snprintf(err, errlen, "a JWK whose \"kid\" is not a string");
        return -1;
    }

    kid = json_string_value(v);

    /* the algorithm: the JWK's own, or the file's */

    kalg = alg;
    v = json_object_get(jwk, "alg");

    if (v) {
        s = json_string_value(v);
        kalg = s ? ws_jwt_alg((const unsigned char *) s, strlen(s)) : 0;

        if (kalg == 0) {
            snprintf(err, errlen, "a JWK with an unsupported \"alg\"");
            return -1;
        }

        if (alg && kalg != alg) {
            snprintf(err, errlen, "a JWK with \"alg\" \"%s\", not %s", s,
                     ws_jwt_alg_name(alg));
            return -1;
        }
    }

    pkey = NULL;
    secret = NULL;
    len = 0;

    if (strcmp(kty, "RSA") == 0) {
        pkey = ws_jwt_rsa_key(jwk, err, errlen);

    } else if (strcmp(kty, "EC") == 0) {
        pkey = ws_jwt_ec_key(jwk, &kalg, err, errlen);

    } else if (strcmp(kty, "OKP") == 0) {
        pkey = ws_jwt_okp_key(jwk, err, errlen);

        if (pkey && kalg == 0) {
            kalg = WS_JWT_EDDSA;
        }

    } else if (strcmp(kty, "oct") == 0) {
        secret = ws_jwt_member_b64(jwk, "k", &len);

        if (secret == NULL) {
            snprintf(err, errlen, "an \"oct\" JWK without a valid \"k\"");
        }

    } else {
        snprintf(err, errlen, "a JWK with an unsupported \"kty\"");
        return -1;
    }

    if (pkey == NULL && secret == NULL) {
        return -1;
    }

    if (kalg == 0) {
        snprintf(err, errlen, "a JWK without \"alg\" needs alg=");
        rc = -1;

    } else {
        rc = ws_jwt_add_key(ks, kalg, pkey, secret, len, kid, err, errlen);
    }

    EVP_PKEY_free(pkey);

    if (secret) {
        OPENSSL_cleanse(secret, len);
        free(secret);
    }

    return rc;
}


static int
ws_jwt_add_pem(ws_jwt_keys_t *ks, const unsigned char *data, size_t len,
    int alg, char *err, size_t errlen)
{
    int        rc;
    BIO       *bio;
    X509      *x509;
    EVP_PKEY  *pkey;

    if (alg == 0) {
        snprintf(err, errlen, "a PEM file needs alg=");
        return -1;
    }

    if (ws_jwt_is_hs(alg)) {
        snprintf(err, errlen, "%s needs a secret or an \"oct\" JWK, "
                 "not a PEM file", ws_jwt_alg_name(alg));
        return -1;
    }

    bio = BIO_new_mem_buf(data, (int) len);
    if (bio == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }

    pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);

    if (pkey == NULL) {
        (void) BIO_reset(bio);
        x509 = PEM_read_bio_X509(bio, NULL, NULL, NULL);

        if (x509) {
            pkey = X509_get_pubkey(x509);
            X509_free(x509);
        }
    }

    BIO_free(bio);

    if (pkey == NULL) {
        snprintf(err, errlen, "no PEM public key or certificate");
        return -1;
    }

    rc = ws_jwt_add_key(ks, alg, pkey, NULL, 0, NULL, err, errlen);

    EVP_PKEY_free(pkey);

    return rc;
}


static int
ws_jwt_add_key(ws_jwt_keys_t *ks, int alg, EVP_PKEY *pkey,
    const unsigned char *secret, size_t secret_len, const char *kid,
    char *err, size_t errlen)
{
    EVP_MAC       *mac;
    OSSL_PARAM     params[2];
    ws_jwt_key_t  *k;

    if (ks->n == WS_JWT_MAX_KEYS) {
        snprintf(err, errlen, "more than %d keys", WS_JWT_MAX_KEYS);
        return -1;
    }

    if (kid && strlen(kid) > WS_JWT_MAX_KID) {
        snprintf(err, errlen, "a \"kid\" longer than %d bytes",
                 WS_JWT_MAX_KID);
        return -1;
    }

    if (ws_jwt_is_hs(alg) != (pkey == NULL)) {
        snprintf(err, errlen, "%s does not fit a%s key",
                 ws_jwt_alg_name(alg), pkey ? " public" : " secret");
        return -1;
    }

    if (pkey && ws_jwt_fits(pkey, alg, err, errlen) != 0) {
        return -1;
    }

    if (secret && secret_len < ws_jwt_algs[alg].size) {
        snprintf(err, errlen, "an %s secret of %zu bytes, shorter than "
                 "the hash (%zu bytes)", ws_jwt_alg_name(alg), secret_len,
                 ws_jwt_algs[alg].size);
        return -1;
    }

    k = &ks->keys[ks->n];
    memset(k, 0, sizeof(ws_jwt_key_t));

    k->alg = alg;

    if (kid) {
        k->kid_len = strlen(kid);
        memcpy(k->kid, kid, k->kid_len);
        k->has_kid = 1;
    }

    if (ws_jwt_algs[alg].digest) {
        k->md = EVP_MD_fetch(NULL, ws_jwt_algs[alg].digest, NULL);
        if (k->md == NULL) {
            goto failed;
        }
    }

    if (pkey) {
        if (EVP_PKEY_up_ref(pkey) != 1) {
            goto failed;
        }

        k->pkey = pkey;

        if (k->md && ws_jwt_verify_ctx(k) != 0) {
            goto failed;
        }

    } else {
        mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
        if (mac == NULL) {
            goto failed;
        }

        k->mac = EVP_MAC_CTX_new(mac);
        EVP_MAC_free(mac);

        if (k->mac == NULL) {
            goto failed;
        }

        params[0] = OSSL_PARAM_construct_utf8_string(
                        OSSL_MAC_PARAM_DIGEST,
                        (char *) ws_jwt_algs[alg].digest, 0);
        params[1] = OSSL_PARAM_construct_end();

        if (EVP_MAC_init(k->mac, secret, secret_len, params) != 1) {
            goto failed;
        }
    }

    ks->n++;

    return 1;

failed:

    ws_jwt_key_free(k);

    snprintf(err, errlen, "OpenSSL failed to set up the %s key",
             ws_jwt_alg_name(alg));

    return -1;
}


static int
ws_jwt_verify_ctx(ws_jwt_key_t *k)
{
    EVP_PKEY_CTX  *ctx;

    /*
     * RS, PS and ES keys verify a digest through one context made here,
     * its padding and digest set once: a context per token would cost
     * more than an RSA verification (the way openssl speed verifies)
     */

    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, k->pkey, NULL);
    if (ctx == NULL) {
        return -1;
    }

    if (EVP_PKEY_verify_init(ctx) != 1) {
        goto failed;
    }

    if (ws_jwt_is_pss(k->alg)) {
        if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) != 1
            || EVP_PKEY_CTX_set_signature_md(ctx, k->md) != 1
            || EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, k->md) != 1
            || EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST)
               != 1)
        {
            goto failed;
        }

    } else if (ws_jwt_is_rsa(k->alg)) {
        if (EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) != 1
            || EVP_PKEY_CTX_set_signature_md(ctx, k->md) != 1)
        {
            goto failed;
        }

    } else if (EVP_PKEY_CTX_set_signature_md(ctx, k->md) != 1) {
        goto failed;
    }

    k->verify = ctx;

    return 0;

failed:

    EVP_PKEY_CTX_free(ctx);

    return -1;
}


static void
ws_jwt_key_free(ws_jwt_key_t *k)
{
    EVP_PKEY_CTX_free(k->verify);
    EVP_PKEY_free(k->pkey);
    EVP_MAC_CTX_free(k->mac);
    EVP_MD_free((EVP_MD *) k->md);
    memset(k, 0, sizeof(ws_jwt_key_t));
}


static int
ws_jwt_fits(EVP_PKEY *pkey, int alg, char *err, size_t errlen)
{
    char         group[32];
    size_t       len;
    const char  *want;

    if (ws_jwt_is_rsa(alg)) {
        if (!EVP_PKEY_is_a(pkey, "RSA")) {
            goto mismatch;
        }

        if (EVP_PKEY_get_bits(pkey) < WS_JWT_MIN_RSA_BITS) {
            snprintf(err, errlen, "an RSA key of %d bits, fewer than %d",
                     EVP_PKEY_get_bits(pkey), WS_JWT_MIN_RSA_BITS);
            return -1;
        }

        return 0;
    }

    if (ws_jwt_is_ec(alg)) {
        want = (alg == WS_JWT_ES256) ? "prime256v1" : "secp384r1";

        if (!EVP_PKEY_is_a(pkey, "EC")
            || EVP_PKEY_get_utf8_string_param(pkey,
                                              OSSL_PKEY_PARAM_GROUP_NAME,
                                              group, sizeof(group), &len)
               != 1
            || strcmp(group, want) != 0)
        {
            goto mismatch;
        }

        return 0;
    }

    if (alg == WS_JWT_EDDSA && EVP_PKEY_is_a(pkey, "ED25519")) {
        return 0;
    }

mismatch:

    snprintf(err, errlen, "%s does not fit an %s key", ws_jwt_alg_name(alg),
             EVP_PKEY_get0_type_name(pkey) ? EVP_PKEY_get0_type_name(pkey)
                                           : "other");
    return -1;
}


static EVP_PKEY *
ws_jwt_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY      *pkey;
    OSSL_PARAM    *params;
    EVP_PKEY_CTX  *ctx, *check;

    pkey = NULL;
    params = OSSL_PARAM_BLD_to_param(bld);
    ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);

    if (params && ctx
        && EVP_PKEY_fromdata_init(ctx) == 1
        && EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) == 1)
    {
        /* an EC point must be on its curve */

        check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);

        if (check == NULL || EVP_PKEY_public_check(check) != 1) {
            EVP_PKEY_free(pkey);
            pkey = NULL;
        }

        EVP_PKEY_CTX_free(check);
    }

    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);

    return pkey;
}


static EVP_PKEY *
ws_jwt_rsa_key(json_t *jwk, char *err, size_t errlen)
{
    BIGNUM          *n, *e;
    size_t           nlen, elen;
    EVP_PKEY        *pkey;
    unsigned char   *nb, *eb;
    OSSL_PARAM_BLD  *bld;

    pkey = NULL;
    n = NULL;
    e = NULL;
    bld = NULL;

    nb = ws_jwt_member_b64(jwk, "n", &nlen);
    eb = ws_jwt_member_b64(jwk, "e", &elen);

    if (nb == NULL || eb == NULL || nlen == 0 || elen == 0) {
        snprintf(err, errlen, "an \"RSA\" JWK without a valid \"n\" or \"e\"");
        goto done;
    }

    n = BN_bin2bn(nb, (int) nlen, NULL);
    e = BN_bin2bn(eb, (int) elen, NULL);
    bld = OSSL_PARAM_BLD_new();

    if (n && e && bld
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1
        && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1)
    {
        pkey = ws_jwt_from_params("RSA", bld);
    }

    if (pkey == NULL) {
        snprintf(err, errlen, "an invalid \"RSA\" JWK");
    }

done:

    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    free(nb);
    free(eb);

    return pkey;
}


static EVP_PKEY *
ws_jwt_ec_key(json_t *jwk, int *alg, char *err, size_t errlen)
{
    int              calg;
    size_t           size, xlen, ylen;
    EVP_PKEY        *pkey;
    const char      *crv, *group;
    unsigned char   *x, *y, pub[1 + 2 * 48];
    OSSL_PARAM_BLD  *bld;

    crv = json_string_value(json_object_get(jwk, "crv"));

    if (crv && strcmp(crv, "P-256") == 0) {
        calg = WS_JWT_ES256;
        group = "prime256v1";
        size = 32;

    } else if (crv && strcmp(crv, "P-384") == 0) {
        calg = WS_JWT_ES384;
        group = "secp384r1";
        size = 48;

    } else {
        snprintf(err, errlen, "an \"EC\" JWK whose \"crv\" is not "
                 "P-256 or P-384");
        return NULL;
    }

    if (*alg && *alg != calg) {
        snprintf(err, errlen, "%s does not fit a %s key",
                 ws_jwt_alg_name(*alg), crv);
        return NULL;
    }

    *alg = calg;
    pkey = NULL;
    bld = NULL;

    x = ws_jwt_member_b64(jwk, "x", &xlen);
    y = ws_jwt_member_b64(jwk, "y", &ylen);

    if (x == NULL || y == NULL || xlen != size || ylen != size) {
        snprintf(err, errlen, "an \"EC\" JWK without a valid \"x\" or \"y\"");
        goto done;
    }

    pub[0] = 0x04;
    memcpy(pub + 1, x, size);
    memcpy(pub + 1 + size, y, size);

    bld = OSSL_PARAM_BLD_new();

    if (bld
        && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                           group, 0) == 1
        && OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
                                            pub, 1 + 2 * size) == 1)
    {
        pkey = ws_jwt_from_params("EC", bld);
    }

    if (pkey == NULL) {
        snprintf(err, errlen, "an invalid \"EC\" JWK (not a point of %s)",
                 crv);
    }

done:

    OSSL_PARAM_BLD_free(bld);
    free(x);
    free(y);

    return pkey;
}


static EVP_PKEY *
ws_jwt_okp_key(json_t *jwk, char *err, size_t errlen)
{
    size_t          len;
    EVP_PKEY       *pkey;
    const char     *crv;
    unsigned char  *x;

    crv = json_string_value(json_object_get(jwk, "crv"));

    if (crv == NULL || strcmp(crv, "Ed25519") != 0) {
        snprintf(err, errlen, "an \"OKP\" JWK whose \"crv\" is not Ed25519");
        return NULL;
    }

    x = ws_jwt_member_b64(jwk, "x", &len);

    if (x == NULL || len != 32) {
        snprintf(err, errlen, "an \"OKP\" JWK without a valid \"x\"");
        free(x);
        return NULL;
    }

    pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, x, len);
    free(x);

    if (pkey == NULL) {
        snprintf(err, errlen, "an invalid \"OKP\" JWK");
    }

    return pkey;
}


static unsigned char *
ws_jwt_member_b64(json_t *jwk, const char *name, size_t *len)
{
    int             ok;
    size_t          n;
    const char     *s;
    unsigned char  *p;

    s = json_string_value(json_object_get(jwk, name));

    if (s == NULL) {
        return NULL;
    }

    n = strlen(s);

    p = malloc(n / 4 * 3 + 3);
    if (p == NULL) {
        return NULL;
    }

    *len = ws_jwt_b64_decode(p, (const unsigned char *) s, n, &ok);

    if (!ok) {
        free(p);
        return NULL;
    }

    return p;
}


int
ws_jwt_verify(const ws_jwt_keys_t *ks, const unsigned char *token,
    size_t len, int64_t now, int64_t leeway, ws_jwt_t *jwt)
{
    int                     rc, ok, alg, tried, cached;
    size_t                  i, hlen, plen, slen, kid_len, kid_keys;
    json_t                 *v;
    const char             *s, *kid;
    unsigned char           sig[1024];
    const unsigned char    *dot1, *dot2, *end;
    const ws_jwt_key_t     *k;
    ws_jwt_header_cache_t  *hc;

    memset(jwt, 0, sizeof(ws_jwt_t));

    /* the compact form: header.payload.signature */

    if (len > WS_JWT_MAX_TOKEN) {
        return WS_JWT_MALFORMED;
    }

    end = token + len;
    dot1 = memchr(token, '.', len);
    dot2 = dot1 ? memchr(dot1 + 1, '.', end - dot1 - 1) : NULL;

    if (dot2 == NULL || memchr(dot2 + 1, '.', end - dot2 - 1)) {
        return WS_JWT_MALFORMED;
    }

    hlen = dot1 - token;
    plen = dot2 - dot1 - 1;
    slen = end - dot2 - 1;

    if (hlen == 0 || plen == 0 || slen / 4 * 3 + 3 > sizeof(sig)) {
        return WS_JWT_MALFORMED;
    }

    slen = ws_jwt_b64_decode(sig, dot2 + 1, slen, &ok);

    if (!ok) {
        return WS_JWT_MALFORMED;
    }

    /* the JOSE header */

    hc = &ws_jwt_last_header;
    cached = (hc->header && hc->len == hlen
              && memcmp(hc->b64, token, hlen) == 0);

    if (cached) {
        jwt->header = json_incref(hc->header);

    } else {
        jwt->header = ws_jwt_json(token, hlen, &rc);

        if (jwt->header == NULL) {
            return (rc == WS_JWT_BAD_CLAIMS) ? WS_JWT_BAD_HEADER : rc;
        }
    }

    s = json_string_value(json_object_get(jwt->header, "alg"));

    if (s == NULL) {
        rc = WS_JWT_BAD_HEADER;
        goto failed;
    }

    if (json_object_get(jwt->header, "crit")) {
        rc = WS_JWT_CRIT;
        goto failed;
    }

    alg = ws_jwt_alg((const unsigned char *) s,
                     json_string_length(json_object_get(jwt->header, "alg")));

    v = json_object_get(jwt->header, "kid");
    kid = NULL;
    kid_len = 0;

    if (v) {
        kid = json_string_value(v);

        if (kid == NULL) {
            rc = WS_JWT_BAD_HEADER;
            goto failed;
        }

        kid_len = json_string_length(v);
    }

    /*
     * The keys: with a kid, those with that kid, and if there is none,
     * those without a kid; without one, all.  Of those only the keys of
     * the header's algorithm are tried.
     */

    kid_keys = 0;

    if (kid) {
        for (i = 0; i < ks->n; i++) {
            k = &ks->keys[i];

            if (k->has_kid && k->kid_len == kid_len
                && memcmp(k->kid, kid, kid_len) == 0)
            {
                kid_keys++;
            }
        }
    }

    tried = 0;
    rc = WS_JWT_SIGNATURE;

    for (i = 0; i < ks->n; i++) {
        k = &ks->keys[i];

        if (kid_keys) {
            if (!k->has_kid || k->kid_len != kid_len
                || memcmp(k->kid, kid, kid_len) != 0)
            {
                continue;
            }

        } else if (kid && k->has_kid) {
            continue;
        }

        if (k->alg != alg || alg == 0) {
            continue;
        }

        tried++;

        ok = ws_jwt_check_sig(k, token, hlen + 1 + plen, sig, slen);

        if (ok < 0) {
            rc = WS_JWT_ERROR;
            goto failed;
        }

        if (ok) {
            rc = WS_JWT_OK;
            break;
        }
    }

    if (tried == 0) {
        rc = (kid && kid_keys == 0) ? WS_JWT_KID : WS_JWT_ALG;
    }

    if (rc != WS_JWT_OK) {
        goto failed;
    }

    if (!cached && hlen <= WS_JWT_HEADER_CACHE) {
        json_decref(hc->header);
        hc->header = json_incref(jwt->header);
        hc->len = hlen;
        memcpy(hc->b64, token, hlen);
    }

    /* the claims, of a signed token only */

    jwt->claims = ws_jwt_json(dot1 + 1, plen, &rc);

    if (jwt->claims == NULL) {
        goto failed;
    }

    v = json_object_get(jwt->claims, "exp");

    if (v) {
        if (!json_is_number(v)) {
            rc = WS_JWT_BAD_CLAIMS;
            goto failed;
        }

        jwt->exp = json_number_value(v);
        jwt->has_exp = 1;

        if ((double) now >= jwt->exp + (double) leeway) {
            rc = WS_JWT_EXPIRED;
            goto failed;
        }
    }

    v = json_object_get(jwt->claims, "nbf");

    if (v) {
        if (!json_is_number(v)) {
            rc = WS_JWT_BAD_CLAIMS;
            goto failed;
        }

        if ((double) now + (double) leeway < json_number_value(v)) {
            rc = WS_JWT_NOT_YET;
            goto failed;
        }
    }

    return WS_JWT_OK;

failed:

    ws_jwt_free(jwt);

    return rc;
}


void
ws_jwt_free(ws_jwt_t *jwt)
{
    json_decref(jwt->header);
    json_decref(jwt->claims);

    jwt->header = NULL;
    jwt->claims = NULL;
    jwt->has_exp = 0;
}


static int
ws_jwt_check_sig(const ws_jwt_key_t *k, const unsigned char *in,
    size_t inlen, const unsigned char *sig, size_t siglen)
{
    int             rc;
    size_t          half, n, mdlen;
    unsigned int    mdlen_u;
    BIGNUM         *r, *s;
    ECDSA_SIG      *es;
    EVP_MD_CTX     *ctx;
    unsigned char   md[EVP_MAX_MD_SIZE], der[128], *p;

    /* 1: valid, 0: not, -1: OpenSSL failed */

    if (k->mac) {
        if (EVP_MAC_init(k->mac, NULL, 0, NULL) != 1
            || EVP_MAC_update(k->mac, in, inlen) != 1
            || EVP_MAC_final(k->mac, md, &mdlen, sizeof(md)) != 1)
        {
            return -1;
        }

        return mdlen == siglen && CRYPTO_memcmp(md, sig, siglen) == 0;
    }

    if (ws_jwt_is_ec(k->alg)) {

        /* JWS: r and s as fixed-size big-endian numbers, not DER */

        if (siglen != ws_jwt_algs[k->alg].size) {
            return 0;
        }

        half = siglen / 2;
        es = ECDSA_SIG_new();
        r = BN_bin2bn(sig, (int) half, NULL);
        s = BN_bin2bn(sig + half, (int) half, NULL);

        if (es == NULL || r == NULL || s == NULL
            || ECDSA_SIG_set0(es, r, s) != 1)
        {
            ECDSA_SIG_free(es);
            BN_free(r);
            BN_free(s);
            return -1;
        }

        n = (size_t) i2d_ECDSA_SIG(es, NULL);

        if (n == 0 || n > sizeof(der)) {
            ECDSA_SIG_free(es);
            return -1;
        }

        p = der;
        n = (size_t) i2d_ECDSA_SIG(es, &p);
        ECDSA_SIG_free(es);

        sig = der;
        siglen = n;

    } else if (ws_jwt_is_rsa(k->alg)) {
        if (siglen != (size_t) EVP_PKEY_get_size(k->pkey)) {
            return 0;
        }

    } else if (siglen != ws_jwt_algs[k->alg].size) {
        return 0;
    }

    if (k->verify) {
        if (EVP_Digest(in, inlen, md, &mdlen_u, k->md, NULL) != 1) {
            return -1;
        }

        rc = EVP_PKEY_verify(k->verify, sig, siglen, md, mdlen_u);

        /* a signature that does not verify leaves an error on the queue */

        ERR_clear_error();

        return rc == 1;
    }

    /* EdDSA: one pass over the message, a context per token */

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return -1;
    }

    if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) != 1) {
        EVP_MD_CTX_free(ctx);
        return -1;
    }

    rc = EVP_DigestVerify(ctx, sig, siglen, in, inlen);

    EVP_MD_CTX_free(ctx);

    /* a signature that does not verify leaves an error on the queue */

    ERR_clear_error();

    return rc == 1;
}


static json_t *
ws_jwt_get_nocase(json_t *obj, const unsigned char *name, size_t nlen)
{
    size_t       i;
    json_t      *v, *found;
    const char  *key;

    /* the one member whose name is this in any case; none if several */

    found = NULL;

    json_object_foreach(obj, key, v) {
        if (strlen(key) != nlen) {
            continue;
        }

        for (i = 0; i < nlen; i++) {
            if (tolower((unsigned char) key[i]) != tolower(name[i])) {
                break;
            }
        }

        if (i == nlen) {
            if (found) {
                return NULL;
            }

            found = v;
        }
    }

    return found;
}


static json_t *
ws_jwt_lookup(const ws_jwt_t *jwt, int claims, const unsigned char *name,
    size_t nlen)
{
    json_t  *obj, *v;

    obj = claims ? jwt->claims : jwt->header;

    if (obj == NULL) {
        return NULL;
    }

    v = json_object_getn(obj, (const char *) name, nlen);

    if (v == NULL) {
        /* nginx's variable names are in lower case: "userid" is "userId" */
        v = ws_jwt_get_nocase(obj, name, nlen);
    }

    return v;
}


long
ws_jwt_member_json(const ws_jwt_t *jwt, int claims,
    const unsigned char *name, size_t nlen, unsigned char *buf, size_t size)
{
    json_t  *v;

    v = ws_jwt_lookup(jwt, claims, name, nlen);

    if (v == NULL) {
        return -1;
    }

    return (long) json_dumpb(v, (char *) buf, size,
                             JSON_COMPACT | JSON_ENCODE_ANY);
}


long
ws_jwt_member(const ws_jwt_t *jwt, int claims, const unsigned char *name,
    size_t nlen, const unsigned char **str, unsigned char *buf, size_t size)
{
    json_t  *v;

    *str = NULL;

    v = ws_jwt_lookup(jwt, claims, name, nlen);

    if (v == NULL) {
        return -1;
    }

    if (json_is_string(v)) {
        *str = (const unsigned char *) json_string_value(v);
        return (long) json_string_length(v);
    }

    return (long) json_dumpb(v, (char *) buf, size,
                             JSON_COMPACT | JSON_ENCODE_ANY);
}


static int
ws_jwt_value_is(json_t *v, const ws_jwt_str_t *values, size_t n)
{
    size_t       i, len;
    char         buf[64];
    const char  *s;

    if (json_is_string(v)) {
        s = json_string_value(v);
        len = json_string_length(v);

    } else if (json_is_number(v) || json_is_boolean(v)) {
        len = json_dumpb(v, buf, sizeof(buf), JSON_ENCODE_ANY);

        if (len == 0 || len > sizeof(buf)) {
            return 0;
        }

        s = buf;

    } else {
        return 0;
    }

    for (i = 0; i < n; i++) {
        if (values[i].len == len && memcmp(values[i].data, s, len) == 0) {
            return 1;
        }
    }

    return 0;
}


int
ws_jwt_claim_match(const ws_jwt_t *jwt, const unsigned char *name,
    size_t nlen, const ws_jwt_str_t *values, size_t n)
{
    size_t   i;
    json_t  *v, *e;

    if (jwt->claims == NULL) {
        return -1;
    }

    v = json_object_getn(jwt->claims, (const char *) name, nlen);

    if (v == NULL) {
        return -1;
    }

    if (json_is_array(v)) {
        json_array_foreach(v, i, e) {
            if (ws_jwt_value_is(e, values, n)) {
                return 1;
            }
        }

        return 0;
    }

    return ws_jwt_value_is(v, values, n);
}


static json_t *
ws_jwt_json(const unsigned char *b64, size_t len, int *rc)
{
    int             ok;
    size_t          n;
    json_t         *v;
    json_error_t    err;
    unsigned char  *p, buf[1024];

    /* a base64url part of a token, decoded and parsed: an object */

    if (len / 4 * 3 + 3 <= sizeof(buf)) {
        p = buf;

    } else {
        p = malloc(len / 4 * 3 + 3);
        if (p == NULL) {
            *rc = WS_JWT_ERROR;
            return NULL;
        }
    }

    n = ws_jwt_b64_decode(p, b64, len, &ok);

    if (!ok) {
        if (p != buf) {
            free(p);
        }

        *rc = WS_JWT_MALFORMED;
        return NULL;
    }

    v = json_loadb((const char *) p, n, JSON_REJECT_DUPLICATES, &err);

    if (v == NULL && json_error_code(&err) == json_error_numeric_overflow) {
        /* an integer beyond 64 bits (an exp of 10^20) is still a number */
        v = json_loadb((const char *) p, n,
                       JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, NULL);
    }

    if (p != buf) {
        free(p);
    }

    if (v == NULL || !json_is_object(v)) {
        json_decref(v);
        *rc = WS_JWT_BAD_CLAIMS;
        return NULL;
    }

    *rc = WS_JWT_OK;

    return v;
}


static const unsigned char  ws_jwt_b64url[256] = {
    /* base64url's alphabet (RFC 4648 5): 77 is not in it */
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 62, 77, 77,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 77, 77, 77, 77, 77, 77,
    77,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
    15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 77, 77, 77, 77, 63,
    77, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
    41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
    77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77, 77,
};


static size_t
ws_jwt_b64_decode(unsigned char *dst, const unsigned char *src, size_t len,
    int *ok)
{
    size_t          i;
    uint32_t        v, c0, c1, c2, c3;
    unsigned char  *d;

    /*
     * base64url without padding (RFC 7515 2): its alphabet only, no
     * length of 1 mod 4, and the unused low bits of the last character
     * zero, so that each byte string has one spelling; four characters
     * at a time (77, not in the alphabet, has the bit 0x40 that no sextet
     * has)
     */

    *ok = 0;

    if (len % 4 == 1) {
        return 0;
    }

    d = dst;

    for (i = 0; i + 4 <= len; i += 4) {
        c0 = ws_jwt_b64url[src[i]];
        c1 = ws_jwt_b64url[src[i + 1]];
        c2 = ws_jwt_b64url[src[i + 2]];
        c3 = ws_jwt_b64url[src[i + 3]];

        if ((c0 | c1 | c2 | c3) & 0x40) {
            return 0;
        }

        v = (c0 << 18) | (c1 << 12) | (c2 << 6) | c3;

        *d++ = (unsigned char) (v >> 16);
        *d++ = (unsigned char) (v >> 8);
        *d++ = (unsigned char) v;
    }

    switch (len - i) {

    case 2:
        c0 = ws_jwt_b64url[src[i]];
        c1 = ws_jwt_b64url[src[i + 1]];

        if (((c0 | c1) & 0x40) || (c1 & 0x0f)) {
            return 0;
        }

        *d++ = (unsigned char) ((c0 << 2) | (c1 >> 4));
        break;

    case 3:
        c0 = ws_jwt_b64url[src[i]];
        c1 = ws_jwt_b64url[src[i + 1]];
        c2 = ws_jwt_b64url[src[i + 2]];

        if (((c0 | c1 | c2) & 0x40) || (c2 & 0x03)) {
            return 0;
        }

        *d++ = (unsigned char) ((c0 << 2) | (c1 >> 4));
        *d++ = (unsigned char) ((c1 << 4) | (c2 >> 2));
        break;
    }

    *ok = 1;

    return d - dst;
}
