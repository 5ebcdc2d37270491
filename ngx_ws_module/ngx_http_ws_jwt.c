
/*
 * Copyright (C) the ngx_ws authors
 *
 * JWT authentication of handshakes (docs/security.md): ws_auth_jwt and its
 * directives, the access-phase check and the $ws_jwt_claim_* and
 * $ws_jwt_header_* variables.  Tokens themselves are checked by the core
 * (ws_jwt.c); an open WebSocket is closed at the token's exp by the tunnel
 * (ngx_http_ws_tunnel.c), from ctx->token_expires set here.
 */


#include "ngx_http_ws_module.h"


/* the largest key file read */
#define NGX_HTTP_WS_JWT_MAX_FILE  (1024 * 1024)

/* what stands for a token in the request line */
#define NGX_HTTP_WS_JWT_REDACTED  "[token]"


struct ngx_http_ws_jwt_s {
    ngx_str_t                    challenge;    /* Bearer realm="..." */
    ngx_str_t                    invalid;      /* ..., error="invalid_token" */
    ngx_http_complex_value_t    *token;        /* token=; NULL: header */
};


typedef struct {
    ngx_str_t                    claim;
    ngx_array_t                  values;       /* ngx_http_complex_value_t */
} ngx_http_ws_jwt_require_t;


static ngx_int_t ngx_http_ws_jwt_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_ws_jwt_redact_handler(ngx_http_request_t *r);
static ngx_int_t ngx_http_ws_jwt_token(ngx_http_request_t *r,
    ngx_http_ws_loc_conf_t *wlcf, ngx_str_t *token);
static ngx_int_t ngx_http_ws_jwt_redact(ngx_http_request_t *r,
    ngx_str_t *token);
static ngx_int_t ngx_http_ws_jwt_refuse(ngx_http_request_t *r,
    ngx_http_ws_loc_conf_t *wlcf, const char *reason, ngx_str_t *claim);
static ngx_int_t ngx_http_ws_jwt_require(ngx_http_request_t *r,
    ngx_http_ws_loc_conf_t *wlcf, ws_jwt_t *jwt);
static void ngx_http_ws_jwt_cleanup(void *data);
static ngx_int_t ngx_http_ws_jwt_cache(ngx_http_request_t *r);
static void ngx_http_ws_jwt_keys_cleanup(void *data);
static ngx_int_t ngx_http_ws_jwt_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_ws_jwt_vars[] = {

    { ngx_string("ws_jwt_claim_"), NULL, ngx_http_ws_jwt_variable,
      0, NGX_HTTP_VAR_PREFIX, 0 },

    { ngx_string("ws_jwt_header_"), NULL, ngx_http_ws_jwt_variable,
      0, NGX_HTTP_VAR_PREFIX, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_ws_jwt_handler(ngx_http_request_t *r)
{
    int                      rc;
    ws_jwt_t                *jwt;
    ngx_str_t                token;
    ngx_int_t                n;
    ngx_pool_cleanup_t      *cln;
    ngx_http_ws_ctx_t       *ctx;
    ngx_http_ws_loc_conf_t  *wlcf;

    if (r->content_handler != ngx_http_ws_handler) {
        return NGX_DECLINED;
    }

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_ws_module);

    if (wlcf->jwt == NULL) {
        return NGX_DECLINED;
    }

    ctx = ngx_http_ws_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->jwt) {
        /* checked already, the access phase runs again after auth_request */
        return NGX_OK;
    }

    n = ngx_http_ws_jwt_token(r, wlcf, &token);

    if (n == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (n == NGX_DECLINED) {
        return ngx_http_ws_jwt_refuse(r, wlcf, NULL, NULL);
    }

    jwt = ngx_palloc(r->pool, sizeof(ws_jwt_t));
    if (jwt == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * The cleanup frees the token's JSON with the request; its data is the
     * module's context, which the detach allows (the claims the access log
     * needs are in r->variables by then, see ngx_http_ws_jwt_cache()).
     */

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_ws_jwt_cleanup;
    cln->data = ctx;

    rc = ws_jwt_verify(wlcf->jwt_keys, token.data, token.len, ngx_time(),
                       wlcf->jwt_leeway, jwt);

    if (rc == WS_JWT_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ws: the token could not be checked");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc != WS_JWT_OK) {
        return ngx_http_ws_jwt_refuse(r, wlcf, ws_jwt_reason(rc), NULL);
    }

    if (ngx_http_ws_jwt_require(r, wlcf, jwt) != NGX_OK) {
        ws_jwt_free(jwt);

        if (r->headers_out.www_authenticate == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return NGX_HTTP_UNAUTHORIZED;
    }

    ctx->jwt = jwt;

    if (ngx_http_ws_jwt_cache(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (wlcf->jwt_close_at_exp && jwt->has_exp) {
        ctx->token_expires = (jwt->exp + (double) wlcf->jwt_leeway) * 1000;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ws: token of %uz bytes valid", token.len);

    return NGX_OK;
}


static ngx_int_t
ngx_http_ws_jwt_redact_handler(ngx_http_request_t *r)
{
    ngx_str_t                token;
    ngx_http_ws_loc_conf_t  *wlcf;

    /*
     * A token in a query argument is taken out of the request line before
     * anything logs the request: this runs first in the preaccess phase,
     * before the Origin check and limit_req, which may refuse and log it.
     */

    if (r->content_handler != ngx_http_ws_handler || r != r->main) {
        return NGX_DECLINED;
    }

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_ws_module);

    if (wlcf->jwt == NULL || wlcf->jwt->token == NULL) {
        return NGX_DECLINED;
    }

    if (ngx_http_complex_value(r, wlcf->jwt->token, &token) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (token.len && ngx_http_ws_jwt_redact(r, &token) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_http_ws_jwt_token(ngx_http_request_t *r, ngx_http_ws_loc_conf_t *wlcf,
    ngx_str_t *token)
{
    size_t            n;
    u_char           *p, *last;
    ngx_str_t        *prefix;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;
    const u_char     *pos, *elt;

    /* NGX_DECLINED: no token */

    if (wlcf->jwt->token) {
        if (ngx_http_complex_value(r, wlcf->jwt->token, token) != NGX_OK) {
            return NGX_ERROR;
        }

        if (token->len == 0) {
            return NGX_DECLINED;
        }

        return ngx_http_ws_jwt_redact(r, token);
    }

    prefix = &wlcf->jwt_subprotocol;

    if (prefix->len) {

        /* the first offered "PREFIX<token>" */

        for (h = ngx_http_ws_first_header(&r->headers_in.headers, &part);
             h;
             h = ngx_http_ws_next_header(h, &part))
        {
            if (!ngx_http_ws_header_is(h, "sec-websocket-protocol", 22)) {
                continue;
            }

            pos = h->value.data;

            while (ws_list_next(&pos, h->value.data + h->value.len, &elt, &n))
            {
                if (n > prefix->len
                    && ngx_strncmp(elt, prefix->data, prefix->len) == 0)
                {
                    token->data = (u_char *) elt + prefix->len;
                    token->len = n - prefix->len;
                    return NGX_OK;
                }
            }
        }

        return NGX_DECLINED;
    }

    /* Authorization: Bearer <token> (RFC 6750 2.1) */

    h = r->headers_in.authorization;

    if (h == NULL
        || h->value.len < sizeof("Bearer ") - 1
        || ngx_strncasecmp(h->value.data, (u_char *) "Bearer", 6) != 0
        || (h->value.data[6] != ' ' && h->value.data[6] != '\t'))
    {
        return NGX_DECLINED;
    }

    p = h->value.data + 6;
    last = h->value.data + h->value.len;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (last > p && (last[-1] == ' ' || last[-1] == '\t')) {
        last--;
    }

    if (p == last) {
        return NGX_DECLINED;
    }

    token->data = p;
    token->len = last - p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ws_jwt_redact(ngx_http_request_t *r, ngx_str_t *token)
{
    u_char      *p, *q, *f, *last;
    ngx_str_t    line;
    ngx_uint_t   n;

    /*
     * A token in a query argument is in the request line, which nginx
     * writes in the context of every error log line of the request and as
     * $request: the request line is replaced by a copy without it.  The
     * URI sent to the backend ($request_uri, $args) is left as it is.
     */

    line = r->request_line;

    if (token->len < 8 || token->len > WS_JWT_MAX_TOKEN
        || line.len < token->len)
    {
        return NGX_OK;
    }

    /* every copy of it (memmem() is linear) */

    n = 0;
    p = line.data;
    last = line.data + line.len;

    while ((p = memmem(p, last - p, token->data, token->len)) != NULL) {
        n++;
        p += token->len;
    }

    if (n == 0) {
        return NGX_OK;
    }

    q = ngx_pnalloc(r->pool, line.len
                             - n * (token->len
                                    - (sizeof(NGX_HTTP_WS_JWT_REDACTED) - 1)));
    if (q == NULL) {
        return NGX_ERROR;
    }

    r->request_line.data = q;
    p = line.data;

    while ((f = memmem(p, last - p, token->data, token->len)) != NULL) {
        q = ngx_cpymem(q, p, f - p);
        q = ngx_cpymem(q, NGX_HTTP_WS_JWT_REDACTED,
                       sizeof(NGX_HTTP_WS_JWT_REDACTED) - 1);
        p = f + token->len;
    }

    q = ngx_cpymem(q, p, last - p);
    r->request_line.len = q - r->request_line.data;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ws_jwt_refuse(ngx_http_request_t *r, ngx_http_ws_loc_conf_t *wlcf,
    const char *reason, ngx_str_t *claim)
{
    ngx_table_elt_t           *h;
    ngx_http_core_loc_conf_t  *clcf;

    /* the token is never written to the log: only why it was refused */

    ngx_http_ws_set_reject(r, "auth");

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (reason == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ws: no token, refused in location \"%V\"",
                      &clcf->name);

    } else if (claim) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ws: invalid token: claim \"%V\" %s, refused in "
                      "location \"%V\"", claim, reason, &clcf->name);

    } else {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ws: invalid token: %s, refused in location \"%V\"",
                      reason, &clcf->name);
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif
    ngx_str_set(&h->key, "WWW-Authenticate");
    h->value = reason ? wlcf->jwt->invalid : wlcf->jwt->challenge;
    r->headers_out.www_authenticate = h;

    return NGX_HTTP_UNAUTHORIZED;
}


static ngx_int_t
ngx_http_ws_jwt_require(ngx_http_request_t *r, ngx_http_ws_loc_conf_t *wlcf,
    ws_jwt_t *jwt)
{
    int                         rc;
    ngx_str_t                   value;
    ngx_uint_t                  i, j;
    ws_jwt_str_t               *values;
    ngx_http_complex_value_t   *cv;
    ngx_http_ws_jwt_require_t  *req;

    /* NGX_DECLINED: refused, answered; NGX_ERROR: not answered */

    if (wlcf->jwt_require == NULL) {
        return NGX_OK;
    }

    req = wlcf->jwt_require->elts;

    for (i = 0; i < wlcf->jwt_require->nelts; i++) {

        values = ngx_palloc(r->pool,
                            req[i].values.nelts * sizeof(ws_jwt_str_t));
        if (values == NULL) {
            return NGX_ERROR;
        }

        cv = req[i].values.elts;

        for (j = 0; j < req[i].values.nelts; j++) {
            if (ngx_http_complex_value(r, &cv[j], &value) != NGX_OK) {
                return NGX_ERROR;
            }

            values[j].data = value.data;
            values[j].len = value.len;
        }

        rc = ws_jwt_claim_match(jwt, req[i].claim.data, req[i].claim.len,
                                values, req[i].values.nelts);

        if (rc != 1) {
            (void) ngx_http_ws_jwt_refuse(r, wlcf,
                                          rc ? "missing" : "mismatch",
                                          &req[i].claim);
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static void
ngx_http_ws_jwt_cleanup(void *data)
{
    ngx_http_ws_ctx_t  *ctx = data;

    if (ctx->jwt) {
        ws_jwt_free(ctx->jwt);
        ctx->jwt = NULL;
    }
}


static ngx_int_t
ngx_http_ws_jwt_cache(ngx_http_request_t *r)
{
    ngx_uint_t                  i;
    ngx_http_variable_t        *var;
    ngx_http_variable_value_t  *vv;
    ngx_http_core_main_conf_t  *cmcf;

    /*
     * Every $ws_jwt_* that the configuration uses gets its value now, in
     * r->variables: a value taken before the token was checked (by "set"
     * in the rewrite phase) is replaced, and the snapshot of a detached
     * WebSocket keeps these values for the access log, after the token's
     * JSON is freed with the request.
     */

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);
    var = cmcf->variables.elts;
    vv = r->variables;

    for (i = 0; i < cmcf->variables.nelts; i++) {
        if (var[i].get_handler != ngx_http_ws_jwt_variable) {
            continue;
        }

        vv[i].valid = 0;
        vv[i].not_found = 0;

        if (ngx_http_ws_jwt_variable(r, &vv[i], var[i].data) != NGX_OK) {
            return NGX_ERROR;
        }

        if (vv[i].not_found) {
            vv[i].valid = 0;
        }
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_ws_jwt_plain(const u_char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (s[i] < 0x20 || s[i] == 0x7f) {
            return 0;
        }
    }

    return 1;
}


static ngx_int_t
ngx_http_ws_jwt_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    long                len;
    size_t              skip;
    ngx_str_t          *name;
    const u_char       *str;
    ngx_http_ws_ctx_t  *ctx;

    /* data: the variable's name (a prefix variable's), claims or header */

    name = (ngx_str_t *) data;

    if (name->len > sizeof("ws_jwt_claim_") - 1
        && ngx_strncmp(name->data, "ws_jwt_claim_", 13) == 0)
    {
        skip = sizeof("ws_jwt_claim_") - 1;

    } else {
        skip = sizeof("ws_jwt_header_") - 1;
    }

    /* the main request's token: an auth_request subrequest sees it too */

    ctx = ngx_http_get_module_ctx(r->main, ngx_http_ws_module);

    if (ctx == NULL || ctx->jwt == NULL || name->len < skip) {
        v->not_found = 1;
        return NGX_OK;
    }

    len = ws_jwt_member(ctx->jwt, skip == sizeof("ws_jwt_claim_") - 1,
                        name->data + skip, name->len - skip, &str, NULL, 0);

    if (len < 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    if (str && ngx_http_ws_jwt_plain(str, len)) {
        v->data = (u_char *) str;

    } else {
        /*
         * not a string, or a string with control characters, which could
         * split a header line or a request line: its JSON text
         */

        if (str) {
            len = ws_jwt_member_json(ctx->jwt,
                                     skip == sizeof("ws_jwt_claim_") - 1,
                                     name->data + skip, name->len - skip,
                                     NULL, 0);
            if (len <= 0) {
                v->not_found = 1;
                return NGX_OK;
            }

            v->data = ngx_pnalloc(r->pool, len);
            if (v->data == NULL) {
                return NGX_ERROR;
            }

            (void) ws_jwt_member_json(ctx->jwt,
                                      skip == sizeof("ws_jwt_claim_") - 1,
                                      name->data + skip, name->len - skip,
                                      v->data, len);
            goto done;
        }

        v->data = ngx_pnalloc(r->pool, len);
        if (v->data == NULL) {
            return NGX_ERROR;
        }

        (void) ws_jwt_member(ctx->jwt, skip == sizeof("ws_jwt_claim_") - 1,
                             name->data + skip, name->len - skip, &str,
                             v->data, len);
    }

done:

    v->len = len;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


char *
ngx_http_ws_auth_jwt(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ws_loc_conf_t *wlcf = conf;

    u_char                            *p;
    ngx_str_t                         *value, realm;
    ngx_uint_t                         i;
    ngx_http_ws_jwt_t                 *jwt;
    ngx_http_compile_complex_value_t   ccv;

    if (wlcf->jwt != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            return "takes no parameter after \"off\"";
        }

        wlcf->jwt = NULL;
        return NGX_CONF_OK;
    }

    realm = value[1];

    for (i = 0; i < realm.len; i++) {
        if (realm.data[i] < 0x20 || realm.data[i] == 0x7f
            || realm.data[i] == '"' || realm.data[i] == '\\')
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid character in realm \"%V\"", &realm);
            return NGX_CONF_ERROR;
        }
    }

    jwt = ngx_pcalloc(cf->pool, sizeof(ngx_http_ws_jwt_t));
    if (jwt == NULL) {
        return NGX_CONF_ERROR;
    }

    jwt->challenge.len = sizeof("Bearer realm=\"\"") - 1 + realm.len;
    jwt->invalid.len = jwt->challenge.len
                       + sizeof(", error=\"invalid_token\"") - 1;

    p = ngx_pnalloc(cf->pool, jwt->invalid.len);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    jwt->challenge.data = p;
    jwt->invalid.data = p;

    p = ngx_sprintf(p, "Bearer realm=\"%V\", error=\"invalid_token\"", &realm);

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "token=", 6) == 0
            && jwt->token == NULL && wlcf->jwt_subprotocol.len == 0)
        {
            value[i].data += 6;
            value[i].len -= 6;

            if (value[i].len == 0) {
                goto invalid;
            }

            jwt->token = ngx_palloc(cf->pool,
                                    sizeof(ngx_http_complex_value_t));
            if (jwt->token == NULL) {
                return NGX_CONF_ERROR;
            }

            ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

            ccv.cf = cf;
            ccv.value = &value[i];
            ccv.complex_value = jwt->token;

            if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "subprotocol=", 12) == 0
            && jwt->token == NULL && wlcf->jwt_subprotocol.len == 0)
        {
            value[i].data += 12;
            value[i].len -= 12;

            if (!ws_is_token(value[i].data, value[i].len)) {
                goto invalid;
            }

            wlcf->jwt_subprotocol = value[i];
            continue;
        }

        goto invalid;
    }

    wlcf->jwt = jwt;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


char *
ngx_http_ws_auth_jwt_key_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ws_loc_conf_t *wlcf = conf;

    int                  alg, n;
    u_char              *buf;
    char                 err[256];
    ssize_t              size;
    ngx_str_t           *value, name;
    ngx_file_t           file;
    ngx_file_info_t      fi;
    ngx_pool_cleanup_t  *cln;

    value = cf->args->elts;
    alg = 0;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "alg=", 4) != 0
            || (alg = ws_jwt_alg(value[2].data + 4, value[2].len - 4)) == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }
    }

    if (wlcf->jwt_keys == NGX_CONF_UNSET_PTR) {

        /* a level's key files replace those it inherits */

        wlcf->jwt_keys = ws_jwt_keys_new();
        if (wlcf->jwt_keys == NULL) {
            return NGX_CONF_ERROR;
        }

        cln = ngx_pool_cleanup_add(cf->pool, 0);
        if (cln == NULL) {
            ws_jwt_keys_free(wlcf->jwt_keys);
            return NGX_CONF_ERROR;
        }

        cln->handler = ngx_http_ws_jwt_keys_cleanup;
        cln->data = wlcf->jwt_keys;
    }

    name = value[1];

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = name;
    file.log = cf->log;

    file.fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);

    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%s\" failed", name.data);
        return NGX_CONF_ERROR;
    }

    buf = NULL;
    n = -1;

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_fd_info_n " \"%s\" failed", name.data);
        goto done;
    }

    size = ngx_file_size(&fi);

    if (size == 0 || size > NGX_HTTP_WS_JWT_MAX_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%s\" is %s", name.data,
                           size ? "larger than 1m" : "empty");
        goto done;
    }

    buf = ngx_alloc(size, cf->log);
    if (buf == NULL) {
        goto done;
    }

    if (ngx_read_file(&file, buf, size, 0) != size) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_read_file_n " \"%s\" failed", name.data);
        goto done;
    }

    n = ws_jwt_keys_add(wlcf->jwt_keys, buf, size, alg, err, sizeof(err));

    if (n < 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "key file \"%s\": %s", name.data, err);
    }

done:

    if (buf) {
        /* an HMAC secret is not left in freed memory */
        ngx_explicit_memzero(buf, size);
        ngx_free(buf);
    }

    if (ngx_close_file(file.fd) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, cf->log, ngx_errno,
                      ngx_close_file_n " \"%s\" failed", name.data);
    }

    return n < 0 ? NGX_CONF_ERROR : NGX_CONF_OK;
}


char *
ngx_http_ws_auth_jwt_require(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ws_loc_conf_t *wlcf = conf;

    ngx_str_t                         *value;
    ngx_uint_t                         i;
    ngx_http_complex_value_t          *cv;
    ngx_http_ws_jwt_require_t         *req;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    if (wlcf->jwt_require == NGX_CONF_UNSET_PTR) {
        wlcf->jwt_require = ngx_array_create(cf->pool, 2,
                                        sizeof(ngx_http_ws_jwt_require_t));
        if (wlcf->jwt_require == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    req = ngx_array_push(wlcf->jwt_require);
    if (req == NULL) {
        return NGX_CONF_ERROR;
    }

    req->claim = value[1];

    if (ngx_array_init(&req->values, cf->pool, cf->args->nelts - 2,
                       sizeof(ngx_http_complex_value_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    for (i = 2; i < cf->args->nelts; i++) {
        cv = ngx_array_push(&req->values);
        if (cv == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

        ccv.cf = cf;
        ccv.value = &value[i];
        ccv.complex_value = cv;

        if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


char *
ngx_http_ws_jwt_merge(ngx_conf_t *cf, ngx_http_ws_loc_conf_t *prev,
    ngx_http_ws_loc_conf_t *conf)
{
    if (conf->jwt == NGX_CONF_UNSET_PTR) {
        conf->jwt = (prev->jwt == NGX_CONF_UNSET_PTR) ? NULL : prev->jwt;
    }

    /*
     * A token prefix of an outer level is still stripped where ws_auth_jwt
     * is off or takes its token elsewhere: browsers send the same offer to
     * every location, and the token must not reach a backend.
     */

    if (conf->jwt_subprotocol.len == 0) {
        conf->jwt_subprotocol = prev->jwt_subprotocol;
    }

    ngx_conf_merge_ptr_value(conf->jwt_keys, prev->jwt_keys, NULL);
    ngx_conf_merge_ptr_value(conf->jwt_require, prev->jwt_require, NULL);
    ngx_conf_merge_sec_value(conf->jwt_leeway, prev->jwt_leeway, 0);
    ngx_conf_merge_value(conf->jwt_close_at_exp, prev->jwt_close_at_exp, 0);

    if (conf->jwt && (conf->upstream.upstream || conf->ws_lengths)
        && (conf->jwt_keys == NULL || ws_jwt_keys_count(conf->jwt_keys) == 0))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ws_auth_jwt\" needs \"ws_auth_jwt_key_file\"");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static void
ngx_http_ws_jwt_keys_cleanup(void *data)
{
    ws_jwt_keys_free(data);
}


ngx_int_t
ngx_http_ws_jwt_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_ws_jwt_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_ws_jwt_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    /*
     * In the access phase, beside allow/deny, auth_basic and auth_request:
     * "satisfy any" lets any of them grant access, as for auth_basic.
     */

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ws_jwt_handler;

    /*
     * Registered after the Origin check's preaccess handler, so it runs
     * before it (nginx runs a phase's handlers in reverse order).
     */

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ws_jwt_redact_handler;

    return NGX_OK;
}
