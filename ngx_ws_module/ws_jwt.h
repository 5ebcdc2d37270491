
/*
 * Copyright (C) the ngx_ws authors
 *
 * JSON Web Tokens (RFC 7519) in the compact JWS form (RFC 7515): keys from
 * JWK/JWKS (RFC 7517), PEM files and HMAC secrets; the signature checked
 * through OpenSSL's EVP interface with the algorithm that the key fixes;
 * exp and nbf; claim requirements.  Plain C, no nginx types: JSON is
 * jansson's, crypto OpenSSL's.  The interface holds no type of either.
 */


#ifndef _WS_JWT_H_INCLUDED_
#define _WS_JWT_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/* algorithms (RFC 7518 3.1, RFC 8037); 0 is none of them */

enum {
    WS_JWT_HS256 = 1,
    WS_JWT_HS384,
    WS_JWT_HS512,
    WS_JWT_RS256,
    WS_JWT_RS384,
    WS_JWT_RS512,
    WS_JWT_PS256,
    WS_JWT_PS384,
    WS_JWT_PS512,
    WS_JWT_ES256,
    WS_JWT_ES384,
    WS_JWT_EDDSA,
    WS_JWT_NALGS
};


/* results of ws_jwt_verify(); ws_jwt_reason() names them */

enum {
    WS_JWT_OK = 0,
    WS_JWT_MALFORMED,        /* not three base64url parts */
    WS_JWT_BAD_HEADER,       /* not a JSON object with a string "alg" */
    WS_JWT_BAD_CLAIMS,       /* not a JSON object; exp, nbf not numbers */
    WS_JWT_CRIT,             /* a "crit" header: no extension known */
    WS_JWT_ALG,              /* no key for the header's algorithm */
    WS_JWT_KID,              /* no key with the kid, no key without one */
    WS_JWT_SIGNATURE,
    WS_JWT_EXPIRED,
    WS_JWT_NOT_YET,
    WS_JWT_ERROR             /* out of memory, an OpenSSL failure */
};


/* the longest token looked at */
#define WS_JWT_MAX_TOKEN          65536


typedef struct ws_jwt_keys_s  ws_jwt_keys_t;


typedef struct {
    const unsigned char          *data;
    size_t                        len;
} ws_jwt_str_t;


/* a verified token; header and claims are jansson objects */

typedef struct {
    void                         *header;
    void                         *claims;
    double                        exp;
    unsigned                      has_exp:1;
} ws_jwt_t;


/* the algorithm named (exact, case-sensitive), or 0 */
int ws_jwt_alg(const unsigned char *name, size_t len);
const char *ws_jwt_alg_name(int alg);

ws_jwt_keys_t *ws_jwt_keys_new(void);
void ws_jwt_keys_free(ws_jwt_keys_t *ks);
size_t ws_jwt_keys_count(const ws_jwt_keys_t *ks);

/*
 * Adds the keys of one file's bytes: a JWKS or a JWK (it starts with "{"),
 * a PEM public key or certificate, or, with an HS algorithm, the HMAC
 * secret itself.  alg: the file's algorithm, or 0 (then every JWK must
 * name its own).  Returns the number of keys added, or -1 with a message
 * in err.
 */
int ws_jwt_keys_add(ws_jwt_keys_t *ks, const unsigned char *data,
    size_t len, int alg, char *err, size_t errlen);

/*
 * Checks a token: its form, its signature against ks, exp and nbf against
 * now (seconds since the epoch) with leeway seconds.  On WS_JWT_OK jwt
 * holds the token's header and claims until ws_jwt_free().
 */
int ws_jwt_verify(const ws_jwt_keys_t *ks, const unsigned char *token,
    size_t len, int64_t now, int64_t leeway, ws_jwt_t *jwt);
const char *ws_jwt_reason(int rc);
void ws_jwt_free(ws_jwt_t *jwt);

/*
 * The text of the member "name" of the header (claims == 0) or of the
 * claims: a string as it is (*str points into jwt), anything else as
 * compact JSON written into buf if it has room.  Returns the length of the
 * text (more than size: buf was too small, nothing written), or -1 if
 * there is no such member.
 */
long ws_jwt_member(const ws_jwt_t *jwt, int claims, const unsigned char *name,
    size_t nlen, const unsigned char **str, unsigned char *buf, size_t size);

/* the same as compact JSON always, a string too ("a\r\n" quoted, escaped) */
long ws_jwt_member_json(const ws_jwt_t *jwt, int claims,
    const unsigned char *name, size_t nlen, unsigned char *buf, size_t size);

/*
 * A requirement: the claim is a string equal to one of the values, a
 * number or boolean whose JSON text is one, or an array holding one.
 * 1: met, 0: not met, -1: no such claim.
 */
int ws_jwt_claim_match(const ws_jwt_t *jwt, const unsigned char *name,
    size_t nlen, const ws_jwt_str_t *values, size_t n);


#endif /* _WS_JWT_H_INCLUDED_ */
