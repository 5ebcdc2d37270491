
/*
 * Copyright (C) the ngx_ws authors
 *
 * The WebSocket handshake, both halves (RFC 6455 4.1, 4.2): the client's
 * request is checked before anything is sent upstream (400, 426), and the
 * backend's 101 before the connection becomes a tunnel; the subprotocol and
 * extensions the backend chose are checked against the client's offer.
 */


#include "ngx_http_ws_module.h"


static ngx_uint_t ngx_http_ws_not_http11(ngx_http_request_t *r);


static u_char  ngx_http_ws_426_page[] =
"<html>" CRLF
"<head><title>426 Upgrade Required</title></head>" CRLF
"<body>" CRLF
"<center><h1>426 Upgrade Required</h1></center>" CRLF
"<hr><center>nginx</center>" CRLF
"</body>" CRLF
"</html>" CRLF
;


ngx_int_t
ngx_http_ws_check_handshake(ngx_http_request_t *r, ngx_table_elt_t **key)
{
    ngx_str_t         *v;
    ngx_uint_t         keys, upgrade, connection;
    ngx_list_part_t   *part;
    ngx_table_elt_t   *h, *version;
    const char        *err;

    if (r->error_page || r->err_status) {
        /* its status would replace the 101 */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ws: ws_pass cannot serve an error page");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * A WebSocket is an HTTP/1.1 upgrade of a real connection (RFC 6455).
     * An HTTP/2 or HTTP/3 request runs on a stream, not on a socket of its
     * own, and over HTTP/2 a WebSocket needs RFC 8441's extended CONNECT,
     * which nginx does not offer: such a request is never a tunnel.
     */

    if (ngx_http_ws_not_http11(r)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ws: invalid handshake: not an HTTP/1.1 request");
        r->keepalive = 0;
        return NGX_HTTP_BAD_REQUEST;
    }

    /* tokens may come in lists and in repeated header lines */

    *key = NULL;
    version = NULL;
    keys = 0;
    upgrade = 0;
    connection = 0;

    for (h = ngx_http_ws_first_header(&r->headers_in.headers, &part);
         h;
         h = ngx_http_ws_next_header(h, &part))
    {
        if (ngx_http_ws_header_is(h, "upgrade", 7)) {
            upgrade |= ws_list_has_token(h->value.data, h->value.len,
                                         "websocket");

        } else if (ngx_http_ws_header_is(h, "connection", 10)) {
            connection |= ws_list_has_token(h->value.data, h->value.len,
                                            "upgrade");

        } else if (ngx_http_ws_header_is(h, "sec-websocket-key", 17)) {
            *key = h;
            keys++;

        } else if (ngx_http_ws_header_is(h, "sec-websocket-version", 21)
                   && version == NULL)
        {
            version = h;
        }
    }

    if (!upgrade) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ws: request is not a websocket upgrade");
        return NGX_HTTP_WS_NOT_UPGRADE;
    }

    if (r->method != NGX_HTTP_GET) {
        err = "method is not GET";

    } else if (!connection) {
        err = "no \"upgrade\" token in \"Connection\" header";

    } else if (keys == 0) {
        err = "missing \"Sec-WebSocket-Key\" header";

    } else if (keys > 1) {
        err = "duplicate \"Sec-WebSocket-Key\" header";

    } else if (!ws_key_valid((*key)->value.data, (*key)->value.len)) {
        err = "invalid \"Sec-WebSocket-Key\" header";

    } else if (version == NULL) {
        err = "missing \"Sec-WebSocket-Version\" header";

    } else if (r->headers_in.content_length_n > 0
               || r->headers_in.chunked)
    {
        err = "request has a body";

    } else {
        err = NULL;
    }

    if (err) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ws: invalid handshake: %s", err);
        r->keepalive = 0;
        return NGX_HTTP_BAD_REQUEST;
    }

    v = &version->value;

    if (v->len != 2 || v->data[0] != '1' || v->data[1] != '3') {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ws: unsupported websocket version \"%V\"", v);
        return NGX_HTTP_WS_BAD_VERSION;
    }

    return NGX_OK;
}


static ngx_uint_t
ngx_http_ws_not_http11(ngx_http_request_t *r)
{
#if (NGX_HTTP_V2)
    if (r->stream) {
        return 1;
    }
#endif

#if (NGX_HTTP_V3)
    if (r->connection->quic) {
        return 1;
    }
#endif

    return r->http_version < NGX_HTTP_VERSION_11
           || r->http_version >= NGX_HTTP_VERSION_20;
}


ngx_int_t
ngx_http_ws_refuse(ngx_http_request_t *r, ngx_uint_t version)
{
    ngx_int_t         rc;
    ngx_buf_t        *b;
    ngx_chain_t       out;
    ngx_table_elt_t  *h;

    /* 426 Upgrade Required (RFC 9110 15.5.22, RFC 6455 4.2.2) */

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->keepalive = 0;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    if (version) {
        ngx_str_set(&h->key, "Sec-WebSocket-Version");
        ngx_str_set(&h->value, "13");

    } else {
        ngx_str_set(&h->key, "Upgrade");
        ngx_str_set(&h->value, "websocket");
    }

    r->headers_out.status = 426;
    ngx_str_set(&r->headers_out.status_line, "426 Upgrade Required");
    r->headers_out.content_length_n = sizeof(ngx_http_ws_426_page) - 1;
    ngx_str_set(&r->headers_out.content_type, "text/html");
    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = ngx_http_ws_426_page;
    b->last = ngx_http_ws_426_page + sizeof(ngx_http_ws_426_page) - 1;
    b->memory = 1;
    b->last_buf = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_http_ws_check_upgrade(ngx_http_request_t *r, ngx_http_ws_ctx_t *ctx)
{
    size_t                   n;
    ngx_uint_t               accepts, protos, offered;
    const u_char            *pos, *elt;
    ngx_list_part_t         *part;
    ngx_table_elt_t         *h, *upgrade, *connection, *accept, *proto, *ext;
    ngx_http_upstream_t     *u;
    ngx_http_ws_loc_conf_t  *wlcf;

    u = r->upstream;

    /*
     * One walk over the 101's headers (their lowcase_key is set when the
     * upstream module parses the response): the first of each, and how many
     * "Sec-WebSocket-Accept" and "Sec-WebSocket-Protocol" lines came.
     */

    upgrade = NULL;
    connection = NULL;
    accept = NULL;
    proto = NULL;
    ext = NULL;
    accepts = 0;
    protos = 0;

    for (h = ngx_http_ws_first_header(&u->headers_in.headers, &part);
         h;
         h = ngx_http_ws_next_header(h, &part))
    {
        if (h->hash == 0) {
            continue;
        }

        switch (h->key.len) {

        case sizeof("upgrade") - 1:
            if (upgrade == NULL
                && ngx_strncmp(h->lowcase_key, "upgrade", 7) == 0)
            {
                upgrade = h;
            }
            break;

        case sizeof("connection") - 1:
            if (connection == NULL
                && ngx_strncmp(h->lowcase_key, "connection", 10) == 0)
            {
                connection = h;
            }
            break;

        case sizeof("sec-websocket-accept") - 1:
            if (ngx_strncmp(h->lowcase_key, "sec-websocket-accept", 20)
                == 0)
            {
                if (accept == NULL) {
                    accept = h;
                }

                accepts++;
            }
            break;

        case sizeof("sec-websocket-protocol") - 1:
            if (ngx_strncmp(h->lowcase_key, "sec-websocket-protocol", 22)
                == 0)
            {
                if (proto == NULL) {
                    proto = h;
                }

                protos++;
            }
            break;

        case sizeof("sec-websocket-extensions") - 1:
            if (ext == NULL
                && ngx_strncmp(h->lowcase_key, "sec-websocket-extensions",
                               24)
                   == 0)
            {
                ext = h;
            }
            break;
        }
    }

    if (upgrade == NULL
        || !ws_list_has_token(upgrade->value.data, upgrade->value.len,
                              "websocket"))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ws: upstream sent 101 without \"Upgrade: websocket\"");
        return NGX_ERROR;
    }

    if (connection == NULL
        || !ws_list_has_token(connection->value.data, connection->value.len,
                              "upgrade"))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ws: upstream sent 101 without \"Connection: upgrade\"");
        return NGX_ERROR;
    }

    if (accept == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ws: upstream sent no \"Sec-WebSocket-Accept\" header");
        return NGX_ERROR;
    }

    if (accepts != 1 || accept->value.len != WS_ACCEPT_LEN
        || ngx_memcmp(accept->value.data, ctx->accept, WS_ACCEPT_LEN) != 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ws: upstream sent invalid \"Sec-WebSocket-Accept\" "
                      "header");
        return NGX_ERROR;
    }

    if (ext) {
        /* the request offered no extension: frames stay inspectable */

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ws: upstream selected extensions \"%V\" "
                      "not offered by the client", &ext->value);
        return NGX_ERROR;
    }

    if (proto == NULL) {
        return NGX_OK;
    }

    offered = 0;
    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_ws_module);

    if (protos != 1 || proto->value.len == 0
        || ngx_strlchr(proto->value.data,
                       proto->value.data + proto->value.len, ',')
           != NULL)
    {
        /* not one value: nothing was offered like that */

    } else if (ngx_http_ws_filters_protocols(wlcf)) {

        /* one of those sent: the client's offer as the module filtered it */

        pos = ctx->protocols.data;

        while (ws_list_next(&pos, ctx->protocols.data + ctx->protocols.len,
                            &elt, &n))
        {
            if (n == proto->value.len
                && ngx_strncmp(elt, proto->value.data, n) == 0)
            {
                offered = 1;
                break;
            }
        }

    } else {
        for (h = ngx_http_ws_first_header(&r->headers_in.headers, &part);
             h;
             h = ngx_http_ws_next_header(h, &part))
        {
            if (ngx_http_ws_header_is(h, "sec-websocket-protocol", 22)
                && ws_list_has_token(h->value.data, h->value.len,
                                     (const char *) proto->value.data))
            {
                offered = 1;
                break;
            }
        }
    }

    if (!offered) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ws: upstream selected subprotocol \"%V\" "
                      "not offered by the client", &proto->value);
        return NGX_ERROR;
    }

    return NGX_OK;
}


char *
ngx_http_ws_subprotocols(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ws_loc_conf_t *wlcf = conf;

    ngx_str_t   *value, *s;
    ngx_uint_t   i;

    if (wlcf->subprotocols == NGX_CONF_UNSET_PTR) {
        wlcf->subprotocols = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
        if (wlcf->subprotocols == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (value[i].len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "empty subprotocol");
            return NGX_CONF_ERROR;
        }

        /* a token (RFC 6455 4.1, RFC 9110 5.6.2) */

        if (!ws_is_token(value[i].data, value[i].len)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid subprotocol \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        s = ngx_array_push(wlcf->subprotocols);
        if (s == NULL) {
            return NGX_CONF_ERROR;
        }

        *s = value[i];
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_ws_select_subprotocols(ngx_http_request_t *r, ngx_http_ws_ctx_t *ctx)
{
    u_char                  *p;
    size_t                   len, n;
    ngx_str_t               *allowed, *prefix;
    ngx_uint_t               i, offered;
    ngx_list_part_t         *part;
    ngx_table_elt_t         *h;
    const u_char            *pos, *elt;
    ngx_http_ws_loc_conf_t  *wlcf;

    /*
     * With ws_subprotocols, only the listed values of the client's offer
     * are sent to the backend (ctx->protocols, in the client's order), and
     * with ws_auth_jwt's subprotocol=PREFIX never those with the prefix,
     * which hold the token; without either, the client's headers are
     * passed as they are.
     */

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_ws_module);

    if (!ngx_http_ws_filters_protocols(wlcf) && !wlcf->subprotocol_required) {
        return NGX_OK;
    }

    prefix = &wlcf->jwt_subprotocol;

    len = 0;

    for (h = ngx_http_ws_first_header(&r->headers_in.headers, &part);
         h;
         h = ngx_http_ws_next_header(h, &part))
    {
        if (ngx_http_ws_header_is(h, "sec-websocket-protocol", 22)) {
            /* each element of at least a byte, and ", " before it */
            len += 3 * h->value.len;
        }
    }

    offered = 0;
    p = NULL;

    if (len && ngx_http_ws_filters_protocols(wlcf)) {
        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ctx->protocols.data = p;
    }

    for (h = ngx_http_ws_first_header(&r->headers_in.headers, &part);
         h;
         h = ngx_http_ws_next_header(h, &part))
    {
        if (!ngx_http_ws_header_is(h, "sec-websocket-protocol", 22)) {
            continue;
        }

        pos = h->value.data;

        while (ws_list_next(&pos, h->value.data + h->value.len, &elt, &n)) {

            if (prefix->len && n >= prefix->len
                && ngx_strncmp(elt, prefix->data, prefix->len) == 0)
            {
                /* a token: it never reaches the backend */
                continue;
            }

            if (wlcf->subprotocols) {

                /* names are compared as they are (RFC 6455 4.1) */

                allowed = wlcf->subprotocols->elts;

                for (i = 0; i < wlcf->subprotocols->nelts; i++) {
                    if (allowed[i].len == n
                        && ngx_strncmp(allowed[i].data, elt, n) == 0)
                    {
                        break;
                    }
                }

                if (i == wlcf->subprotocols->nelts) {
                    continue;
                }
            }

            if (p == NULL) {
                /* nothing is filtered: one offered is enough */
                offered = 1;
                break;
            }

            if (offered) {
                *p++ = ','; *p++ = ' ';
            }

            p = ngx_cpymem(p, elt, n);
            offered = 1;
        }
    }

    if (p) {
        ctx->protocols.len = p - ctx->protocols.data;
    }

    if (offered || !wlcf->subprotocol_required) {
        return NGX_OK;
    }

    ngx_http_ws_set_reject(r, "subprotocol");

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  wlcf->subprotocols
                  ? "ws: invalid handshake: none of the subprotocols "
                    "allowed offered"
                  : "ws: invalid handshake: no subprotocol offered");

    r->keepalive = 0;

    return NGX_HTTP_BAD_REQUEST;
}
