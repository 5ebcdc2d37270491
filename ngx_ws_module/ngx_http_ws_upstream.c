
/*
 * Copyright (C) the ngx_ws authors
 *
 * ws_pass on nginx's upstream machinery: the content handler, the request
 * sent to the backend, its answer (the 101 goes to the tunnel, any other
 * status is passed to the client as an ordinary response and the
 * connection is closed), TLS to the backend, and the ws_pass,
 * ws_set_header and ws_ssl_name directives.
 */


#include "ngx_http_ws_module.h"


static ngx_int_t ngx_http_ws_parse_pass(ngx_str_t *url, ngx_url_t *u,
    ngx_uint_t *ssl);
static void ngx_http_ws_host_header(ngx_url_t *u, ngx_str_t *host,
    ngx_pool_t *pool);
static void ngx_http_ws_cleanup_request(void *data);
static ngx_int_t ngx_http_ws_eval(ngx_http_request_t *r,
    ngx_http_ws_ctx_t *ctx, ngx_http_ws_loc_conf_t *wlcf);
static ngx_int_t ngx_http_ws_create_request(ngx_http_request_t *r);
static ngx_uint_t ngx_http_ws_skip_header(ngx_http_ws_loc_conf_t *wlcf,
    ngx_table_elt_t *h, ngx_array_t *conn);
static ngx_int_t ngx_http_ws_reinit_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_ws_process_status_line(ngx_http_request_t *r);
static ngx_int_t ngx_http_ws_process_header(ngx_http_request_t *r);
static ngx_int_t ngx_http_ws_body_filter_init(void *data);
static ngx_int_t ngx_http_ws_chunked_filter(void *data, ssize_t bytes);
static void ngx_http_ws_abort_request(ngx_http_request_t *r);
static void ngx_http_ws_finalize_request(ngx_http_request_t *r,
    ngx_int_t rc);


/* request headers that are hop-by-hop, or that ws_pass writes itself */

static ngx_str_t  ngx_http_ws_skip_headers[] = {
    ngx_string("host"),
    ngx_string("connection"),
    ngx_string("upgrade"),
    ngx_string("keep-alive"),
    ngx_string("proxy-connection"),
    ngx_string("te"),
    ngx_string("trailer"),
    ngx_string("transfer-encoding"),
    ngx_string("content-length"),
    ngx_string("sec-websocket-extensions"),
    ngx_null_string
};


ngx_int_t
ngx_http_ws_handler(ngx_http_request_t *r)
{
    ngx_int_t                rc;
    ngx_table_elt_t         *key;
    ngx_pool_cleanup_t      *cln;
    ngx_http_upstream_t     *u;
    ngx_http_ws_ctx_t       *ctx;
    ngx_http_ws_loc_conf_t  *wlcf;

    if (r != r->main) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ws: ws_pass in a subrequest");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * The access phase let the handshake through: a token refused under
     * "satisfy any", where another rule granted access, is no refusal.
     */

    ngx_http_ws_set_reject(r, "");

    key = NULL;

    rc = ngx_http_ws_check_handshake(r, &key);

    if (rc != NGX_OK && rc != NGX_HTTP_INTERNAL_SERVER_ERROR
        && r->variables[ngx_http_ws_reject_index].len == 0)
    {
        /* not "subprotocol", which the check sets itself */
        ngx_http_ws_set_reject(r, "handshake");
    }

    switch (rc) {

    case NGX_OK:
        break;

    case NGX_HTTP_WS_NOT_UPGRADE:
        return ngx_http_ws_refuse(r, 0);

    case NGX_HTTP_WS_BAD_VERSION:
        return ngx_http_ws_refuse(r, 1);

    default:
        return rc;
    }

    if (ngx_http_upstream_create(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx = ngx_http_ws_get_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ws_accept_key(key->value.data, ctx->accept);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_ws_cleanup_request;
    cln->data = ctx;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_ws_module);

    u = r->upstream;

    if (wlcf->ws_lengths == NULL) {
        ctx->host = wlcf->host;
        ctx->uri = wlcf->uri;

#if (NGX_HTTP_SSL)
        u->ssl = wlcf->ssl;
#endif

    } else if (ngx_http_ws_eval(r, ctx, wlcf) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&u->schema, "ws://");

    u->output.tag = (ngx_buf_tag_t) &ngx_http_ws_module;

    u->conf = &wlcf->upstream;

    u->create_request = ngx_http_ws_create_request;
    u->reinit_request = ngx_http_ws_reinit_request;
    u->process_header = ngx_http_ws_process_status_line;
    u->abort_request = ngx_http_ws_abort_request;
    u->finalize_request = ngx_http_ws_finalize_request;

    u->buffering = 0;

    rc = ngx_http_ws_select_subprotocols(r, ctx);

    if (rc != NGX_OK) {
        return (rc == NGX_ERROR) ? NGX_HTTP_INTERNAL_SERVER_ERROR : rc;
    }

    rc = ngx_http_read_client_request_body(r, ngx_http_upstream_init);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


static ngx_int_t
ngx_http_ws_parse_pass(ngx_str_t *url, ngx_url_t *u, ngx_uint_t *ssl)
{
    size_t  add;

    /* ws://, http:// plain; wss://, https:// TLS; a bare host:port plain */

    add = 0;
    *ssl = 0;
    u->default_port = 80;

    if (url->len > 5 && ngx_strncasecmp(url->data, (u_char *) "ws://", 5)
                        == 0)
    {
        add = 5;

    } else if (url->len > 6
               && ngx_strncasecmp(url->data, (u_char *) "wss://", 6) == 0)
    {
        add = 6;
        *ssl = 1;

    } else if (url->len > 7
               && ngx_strncasecmp(url->data, (u_char *) "http://", 7) == 0)
    {
        add = 7;

    } else if (url->len > 8
               && ngx_strncasecmp(url->data, (u_char *) "https://", 8) == 0)
    {
        add = 8;
        *ssl = 1;
    }

    if (*ssl) {
        u->default_port = 443;
    }

    u->url.len = url->len - add;
    u->url.data = url->data + add;
    u->uri_part = 1;
    u->no_resolve = 1;

    return NGX_OK;
}


static void
ngx_http_ws_host_header(ngx_url_t *u, ngx_str_t *host, ngx_pool_t *pool)
{
    /* "host" or "host:port" as the client would have written it */

    if (u->no_port || u->port == u->default_port) {
        *host = u->host;
        return;
    }

    host->data = ngx_pnalloc(pool, u->host.len + sizeof(":65535") - 1);
    if (host->data == NULL) {
        host->len = 0;
        return;
    }

    host->len = ngx_sprintf(host->data, "%V:%d", &u->host, (int) u->port)
                - host->data;
}


static ngx_int_t
ngx_http_ws_eval(ngx_http_request_t *r, ngx_http_ws_ctx_t *ctx,
    ngx_http_ws_loc_conf_t *wlcf)
{
    u_char               *p;
    ngx_str_t             url;
    ngx_uint_t            ssl;
    ngx_url_t             u;
    ngx_http_upstream_t  *up;

    if (ngx_http_script_run(r, &url, wlcf->ws_lengths->elts, 0,
                            wlcf->ws_values->elts)
        == NULL)
    {
        return NGX_ERROR;
    }

    /*
     * a value from a variable (a token's claim) cannot add a header or
     * end the request line: no spaces or control characters in the URL
     */

    for (p = url.data; p < url.data + url.len; p++) {
        if (*p <= 0x20 || *p == 0x7f) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "ws: the ws_pass URL has a space or a control "
                          "character");
            return NGX_ERROR;
        }
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    (void) ngx_http_ws_parse_pass(&url, &u, &ssl);

    up = r->upstream;

#if (NGX_HTTP_SSL)
    up->ssl = ssl;
#else
    if (ssl) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ws: TLS backends need nginx built with SSL: \"%V\"",
                      &url);
        return NGX_ERROR;
    }
#endif

    if (ngx_parse_url(r->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "%s in upstream \"%V\"", u.err, &u.url);
        }

        return NGX_ERROR;
    }

    ctx->uri = u.uri;
    ngx_http_ws_host_header(&u, &ctx->host, r->pool);

    up->resolved = ngx_pcalloc(r->pool, sizeof(ngx_http_upstream_resolved_t));
    if (up->resolved == NULL) {
        return NGX_ERROR;
    }

    if (u.addrs) {
        up->resolved->sockaddr = u.addrs[0].sockaddr;
        up->resolved->socklen = u.addrs[0].socklen;
        up->resolved->name = u.addrs[0].name;
        up->resolved->naddrs = 1;
    }

    up->resolved->host = u.host;
    up->resolved->port = u.port;
    up->resolved->no_port = u.no_port;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_ws_skip_header(ngx_http_ws_loc_conf_t *wlcf, ngx_table_elt_t *h,
    ngx_array_t *conn)
{
    ngx_uint_t        i;
    ngx_table_elt_t **c;

    /* hop-by-hop headers and those ws_pass writes itself */

    if (ngx_hash_find(&wlcf->skip_headers, h->hash, h->lowcase_key,
                      h->key.len))
    {
        return 1;
    }

    /* headers named in "Connection" are hop-by-hop too (RFC 9110 7.6.1) */

    c = conn->elts;

    for (i = 0; i < conn->nelts; i++) {
        if (ws_list_has_token(c[i]->value.data, c[i]->value.len,
                              (const char *) h->key.data))
        {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_ws_create_request(ngx_http_request_t *r)
{
    u_char                  *p;
    size_t                   len, uri_len, loc_len, escape;
    ngx_buf_t               *b;
    ngx_str_t               *values, host;
    ngx_uint_t               i, unparsed_uri, has_host;
    ngx_array_t              conn;
    ngx_chain_t             *cl;
    ngx_list_part_t         *part;
    ngx_table_elt_t         *h, **c;
    ngx_http_ws_ctx_t       *ctx;
    ngx_http_ws_header_t    *sh;
    ngx_http_ws_loc_conf_t  *wlcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ws_module);
    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_ws_module);

    /* the URI, by proxy_pass rules */

    escape = 0;
    loc_len = 0;
    unparsed_uri = 0;

    if (wlcf->ws_lengths && ctx->uri.len) {
        uri_len = ctx->uri.len;

    } else if (ctx->uri.len == 0 && r->valid_unparsed_uri) {
        unparsed_uri = 1;
        uri_len = r->unparsed_uri.len;

    } else {
        loc_len = (r->valid_location && ctx->uri.len) ? wlcf->location.len
                                                      : 0;

        if (r->quoted_uri || r->internal) {
            escape = 2 * ngx_escape_uri(NULL, r->uri.data + loc_len,
                                        r->uri.len - loc_len, NGX_ESCAPE_URI);
        }

        uri_len = ctx->uri.len + r->uri.len - loc_len + escape
                  + sizeof("?") - 1 + r->args.len;
    }

    if (uri_len == 0) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ws: zero length URI to upstream");
        return NGX_ERROR;
    }

    /* ws_set_header values */

    has_host = 0;
    values = NULL;
    len = 0;

    if (wlcf->headers) {
        values = ngx_palloc(r->pool, wlcf->headers->nelts * sizeof(ngx_str_t));
        if (values == NULL) {
            return NGX_ERROR;
        }

        sh = wlcf->headers->elts;

        for (i = 0; i < wlcf->headers->nelts; i++) {
            if (ngx_http_complex_value(r, &sh[i].value, &values[i])
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            /* a value from a variable (a token's claim) cannot split lines */

            for (p = values[i].data; p < values[i].data + values[i].len; p++)
            {
                if (*p == CR || *p == LF || *p == '\0') {
                    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                                  "ws: header \"%V\" value has a control "
                                  "character", &sh[i].name);
                    return NGX_ERROR;
                }
            }

            /* HTTP/1.1 needs a Host: an empty value sends the default */

            if (values[i].len
                && sh[i].name.len == sizeof("Host") - 1
                && ngx_strncasecmp(sh[i].name.data, (u_char *) "Host", 4)
                   == 0)
            {
                has_host = 1;
            }

            if (values[i].len) {
                len += sh[i].name.len + sizeof(": ") - 1 + values[i].len
                       + sizeof(CRLF) - 1;
            }
        }
    }

    host = ctx->host;

    /* the client's "Connection" headers, whose tokens name hop-by-hop ones */

    if (ngx_array_init(&conn, r->pool, 1, sizeof(ngx_table_elt_t *))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    len += sizeof("GET ") - 1 + uri_len + sizeof(" HTTP/1.1" CRLF) - 1
           + sizeof("Upgrade: websocket" CRLF "Connection: Upgrade" CRLF) - 1
           + sizeof(CRLF) - 1;

    if (!has_host) {
        len += sizeof("Host: ") - 1 + host.len + sizeof(CRLF) - 1;
    }

    if (ctx->protocols.len) {
        /* the client's offer less what ws_subprotocols does not allow */
        len += sizeof("Sec-WebSocket-Protocol: ") - 1 + ctx->protocols.len
               + sizeof(CRLF) - 1;
    }

    for (h = ngx_http_ws_first_header(&r->headers_in.headers, &part);
         h;
         h = ngx_http_ws_next_header(h, &part))
    {
        if (h->key.len == sizeof("Connection") - 1
            && ngx_strncmp(h->lowcase_key, "connection",
                           sizeof("Connection") - 1)
               == 0)
        {
            c = ngx_array_push(&conn);
            if (c == NULL) {
                return NGX_ERROR;
            }

            *c = h;
            continue;
        }

        /*
         * Headers named in "Connection" are not all known yet: their bytes
         * are counted here, and they are skipped when the head is written.
         */

        if (ngx_hash_find(&wlcf->skip_headers, h->hash, h->lowcase_key,
                          h->key.len))
        {
            continue;
        }

        len += h->key.len + sizeof(": ") - 1 + h->value.len
               + sizeof(CRLF) - 1;
    }

    /*
     * The request head is needed only until the upgrade (and for retries
     * on other servers): it lives outside the request pool and is freed
     * at the takeover, see ngx_http_ws_tunnel_init().
     */

    b = ctx->request_buf;

    if (b == NULL) {
        b = ngx_calloc_buf(r->pool);
        if (b == NULL) {
            return NGX_ERROR;
        }

        ctx->request_buf = b;
    }

    if (b->start == NULL || (size_t) (b->end - b->start) < len) {
        ngx_free(b->start);

        b->start = ngx_alloc(len, r->connection->log);
        if (b->start == NULL) {
            return NGX_ERROR;
        }

        b->end = b->start + len;
    }

    b->pos = b->start;
    b->last = b->start;
    b->temporary = 1;

    b->last = ngx_cpymem(b->last, "GET ", sizeof("GET ") - 1);

    if (unparsed_uri) {
        b->last = ngx_copy(b->last, r->unparsed_uri.data,
                           r->unparsed_uri.len);

    } else if (wlcf->ws_lengths && ctx->uri.len) {
        b->last = ngx_copy(b->last, ctx->uri.data, ctx->uri.len);

    } else {
        b->last = ngx_copy(b->last, ctx->uri.data, ctx->uri.len);

        if (escape) {
            b->last = (u_char *) ngx_escape_uri(b->last,
                                                r->uri.data + loc_len,
                                                r->uri.len - loc_len,
                                                NGX_ESCAPE_URI);

        } else {
            b->last = ngx_copy(b->last, r->uri.data + loc_len,
                               r->uri.len - loc_len);
        }

        if (r->args.len) {
            *b->last++ = '?';
            b->last = ngx_copy(b->last, r->args.data, r->args.len);
        }
    }

    b->last = ngx_cpymem(b->last, " HTTP/1.1" CRLF,
                         sizeof(" HTTP/1.1" CRLF) - 1);

    if (!has_host) {
        b->last = ngx_cpymem(b->last, "Host: ", sizeof("Host: ") - 1);
        b->last = ngx_copy(b->last, host.data, host.len);
        *b->last++ = CR; *b->last++ = LF;
    }

    b->last = ngx_cpymem(b->last,
                         "Upgrade: websocket" CRLF "Connection: Upgrade" CRLF,
                         sizeof("Upgrade: websocket" CRLF
                                "Connection: Upgrade" CRLF) - 1);

    if (ctx->protocols.len) {
        b->last = ngx_cpymem(b->last, "Sec-WebSocket-Protocol: ",
                             sizeof("Sec-WebSocket-Protocol: ") - 1);
        b->last = ngx_copy(b->last, ctx->protocols.data, ctx->protocols.len);
        *b->last++ = CR; *b->last++ = LF;
    }

    for (h = ngx_http_ws_first_header(&r->headers_in.headers, &part);
         h;
         h = ngx_http_ws_next_header(h, &part))
    {
        if (ngx_http_ws_skip_header(wlcf, h, &conn)) {
            continue;
        }

        b->last = ngx_copy(b->last, h->key.data, h->key.len);
        *b->last++ = ':'; *b->last++ = ' ';
        b->last = ngx_copy(b->last, h->value.data, h->value.len);
        *b->last++ = CR; *b->last++ = LF;
    }

    if (wlcf->headers) {
        sh = wlcf->headers->elts;

        for (i = 0; i < wlcf->headers->nelts; i++) {
            if (values[i].len == 0) {
                continue;
            }

            b->last = ngx_copy(b->last, sh[i].name.data, sh[i].name.len);
            *b->last++ = ':'; *b->last++ = ' ';
            b->last = ngx_copy(b->last, values[i].data, values[i].len);
            *b->last++ = CR; *b->last++ = LF;
        }
    }

    *b->last++ = CR; *b->last++ = LF;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ws request header:%N\"%*s\"",
                   (size_t) (b->last - b->pos), b->pos);

    b->flush = 1;

    cl = ngx_alloc_chain_link(r->pool);
    if (cl == NULL) {
        return NGX_ERROR;
    }

    cl->buf = b;
    cl->next = NULL;

    r->upstream->request_bufs = cl;

    return NGX_OK;
}


static void
ngx_http_ws_cleanup_request(void *data)
{
    ngx_http_ws_ctx_t  *ctx = data;

    if (ctx->request_buf) {
        ngx_free(ctx->request_buf->start);
        ctx->request_buf->start = NULL;
    }
}


static ngx_int_t
ngx_http_ws_reinit_request(ngx_http_request_t *r)
{
    ngx_http_ws_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ws_module);

    if (ctx == NULL) {
        return NGX_OK;
    }

    ngx_memzero(&ctx->status, sizeof(ngx_http_status_t));
    ngx_memzero(&ctx->chunked, sizeof(ngx_http_chunked_t));

    r->upstream->process_header = ngx_http_ws_process_status_line;
    r->state = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ws_process_status_line(ngx_http_request_t *r)
{
    size_t                len;
    ngx_int_t             rc;
    ngx_http_upstream_t  *u;
    ngx_http_ws_ctx_t    *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ws_module);
    u = r->upstream;

    rc = ngx_http_parse_status_line(r, &u->buffer, &ctx->status);

    if (rc == NGX_AGAIN) {
        return rc;
    }

    if (rc == NGX_ERROR || ctx->status.http_version < NGX_HTTP_VERSION_11) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ws: upstream sent no valid HTTP/1.1 status line");
        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    if (u->state && u->state->status == 0) {
        u->state->status = ctx->status.code;
    }

    u->headers_in.status_n = ctx->status.code;

    len = ctx->status.end - ctx->status.start;

    u->headers_in.status_line.data = ngx_pnalloc(r->pool, len);
    if (u->headers_in.status_line.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(u->headers_in.status_line.data, ctx->status.start, len);
    u->headers_in.status_line.len = len;

    u->process_header = ngx_http_ws_process_header;

    return ngx_http_ws_process_header(r);
}


static ngx_int_t
ngx_http_ws_process_header(ngx_http_request_t *r)
{
    ngx_int_t                       rc;
    ngx_list_t                      headers, trailers;
    ngx_table_elt_t                *h;
    ngx_http_upstream_t            *u;
    ngx_http_ws_ctx_t              *ctx;
    ngx_http_upstream_header_t     *hh;
    ngx_http_upstream_main_conf_t  *umcf;

    umcf = ngx_http_get_module_main_conf(r, ngx_http_upstream_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_ws_module);
    u = r->upstream;

    for ( ;; ) {

        rc = ngx_http_parse_header_line(r, &u->buffer, 1);

        if (rc == NGX_OK) {

            h = ngx_list_push(&u->headers_in.headers);
            if (h == NULL) {
                return NGX_ERROR;
            }

            h->hash = r->header_hash;

            h->key.len = r->header_name_end - r->header_name_start;
            h->value.len = r->header_end - r->header_start;

            h->key.data = ngx_pnalloc(r->pool,
                               h->key.len + 1 + h->value.len + 1 + h->key.len);
            if (h->key.data == NULL) {
                h->hash = 0;
                return NGX_ERROR;
            }

            h->value.data = h->key.data + h->key.len + 1;
            h->lowcase_key = h->key.data + h->key.len + 1 + h->value.len + 1;

            ngx_memcpy(h->key.data, r->header_name_start, h->key.len);
            h->key.data[h->key.len] = '\0';
            ngx_memcpy(h->value.data, r->header_start, h->value.len);
            h->value.data[h->value.len] = '\0';

            if (h->key.len == r->lowcase_index) {
                ngx_memcpy(h->lowcase_key, r->lowcase_header, h->key.len);

            } else {
                ngx_strlow(h->lowcase_key, h->key.data, h->key.len);
            }

#if (nginx_version >= 1023000)
            h->next = NULL;
#endif

            hh = ngx_hash_find(&umcf->headers_in_hash, h->hash,
                               h->lowcase_key, h->key.len);

            if (hh && hh->handler(r, h, hh->offset) != NGX_OK) {
                return NGX_ERROR;
            }

            continue;
        }

        if (rc == NGX_HTTP_PARSE_HEADER_DONE) {
            break;
        }

        if (rc == NGX_AGAIN) {
            return NGX_AGAIN;
        }

        /* rc == NGX_HTTP_PARSE_INVALID_HEADER */

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ws: upstream sent invalid header");

        return NGX_HTTP_UPSTREAM_INVALID_HEADER;
    }

    if (u->headers_in.status_n >= NGX_HTTP_CONTINUE
        && u->headers_in.status_n < NGX_HTTP_OK
        && u->headers_in.status_n != NGX_HTTP_SWITCHING_PROTOCOLS)
    {
        /* an interim response (RFC 9110 15.2): the final one follows */

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "ws: upstream sent interim status %ui, skipped",
                       u->headers_in.status_n);

        if (++ctx->interim > NGX_HTTP_WS_MAX_INTERIM) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "ws: upstream sent too many interim responses");
            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        /* the header lists are emptied and used again */

        headers = u->headers_in.headers;
        trailers = u->headers_in.trailers;

        ngx_memzero(&u->headers_in, sizeof(ngx_http_upstream_headers_in_t));
        u->headers_in.content_length_n = -1;
        u->headers_in.last_modified_time = -1;

        u->headers_in.headers = headers;
        u->headers_in.headers.part.nelts = 0;
        u->headers_in.headers.part.next = NULL;
        u->headers_in.headers.last = &u->headers_in.headers.part;

        u->headers_in.trailers = trailers;
        u->headers_in.trailers.part.nelts = 0;
        u->headers_in.trailers.part.next = NULL;
        u->headers_in.trailers.last = &u->headers_in.trailers.part;

        if (u->state) {
            u->state->status = 0;
        }

        ngx_memzero(&ctx->status, sizeof(ngx_http_status_t));
        u->process_header = ngx_http_ws_process_status_line;

        return ngx_http_ws_process_status_line(r);
    }

    if (u->headers_in.status_n == NGX_HTTP_SWITCHING_PROTOCOLS) {

        if (ngx_http_ws_check_upgrade(r, ctx) != NGX_OK) {
            return NGX_HTTP_UPSTREAM_INVALID_HEADER;
        }

        u->keepalive = 0;
        u->headers_in.content_length_n = -1;
        u->headers_in.chunked = 0;
        u->length = -1;

        u->input_filter_init = ngx_http_ws_tunnel_init;
        u->input_filter = ngx_http_ws_tunnel_filter;
        u->input_filter_ctx = r;

        return NGX_OK;
    }

    /*
     * Any other answer is passed to the client as an ordinary response,
     * and the connection is never turned into a tunnel.
     */

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "ws: upstream refused the upgrade with status %ui",
                  u->headers_in.status_n);

    ngx_http_ws_set_reject(r, "upstream_refused");

    r->keepalive = 0;
    u->keepalive = 0;

    u->input_filter_init = ngx_http_ws_body_filter_init;
    u->input_filter = ngx_http_upstream_non_buffered_filter;
    u->input_filter_ctx = r;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ws_body_filter_init(void *data)
{
    ngx_http_request_t  *r = data;

    ngx_uint_t            status;
    ngx_http_ws_ctx_t    *ctx;
    ngx_http_upstream_t  *u;

    /* the body of a refused upgrade, passed on as it comes */

    u = r->upstream;
    status = u->headers_in.status_n;

    if (status == NGX_HTTP_NO_CONTENT || status == NGX_HTTP_NOT_MODIFIED
        || status < NGX_HTTP_OK)
    {
        u->length = 0;

    } else if (u->headers_in.chunked) {
        ctx = ngx_http_get_module_ctx(r, ngx_http_ws_module);
        ngx_memzero(&ctx->chunked, sizeof(ngx_http_chunked_t));

        u->length = 1;
        u->input_filter = ngx_http_ws_chunked_filter;

    } else {
        u->length = u->headers_in.content_length_n;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ws_chunked_filter(void *data, ssize_t bytes)
{
    ngx_http_request_t  *r = data;

    ngx_int_t             rc;
    ngx_buf_t            *b, *buf;
    ngx_chain_t          *cl, **ll;
    ngx_http_upstream_t  *u;
    ngx_http_ws_ctx_t    *ctx;

    /* a refused upgrade's chunked body, decoded for the output filters */

    ctx = ngx_http_get_module_ctx(r, ngx_http_ws_module);
    u = r->upstream;
    buf = &u->buffer;

    buf->pos = buf->last;
    buf->last += bytes;

    for (cl = u->out_bufs, ll = &u->out_bufs; cl; cl = cl->next) {
        ll = &cl->next;
    }

    for ( ;; ) {

#if (NGX_HTTP_WS_CHUNKED_TRAILERS)
        rc = ngx_http_parse_chunked(r, buf, &ctx->chunked, 0);
#else
        rc = ngx_http_parse_chunked(r, buf, &ctx->chunked);
#endif

        if (rc == NGX_OK) {

            cl = ngx_chain_get_free_buf(r->pool, &u->free_bufs);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            *ll = cl;
            ll = &cl->next;

            b = cl->buf;

            b->flush = 1;
            b->memory = 1;
            b->pos = buf->pos;
            b->tag = u->output.tag;

            if (buf->last - buf->pos >= ctx->chunked.size) {
                buf->pos += (size_t) ctx->chunked.size;
                b->last = buf->pos;
                ctx->chunked.size = 0;

            } else {
                ctx->chunked.size -= buf->last - buf->pos;
                buf->pos = buf->last;
                b->last = buf->last;
            }

            continue;
        }

        if (rc == NGX_DONE) {
            u->length = 0;
            break;
        }

        if (rc == NGX_AGAIN) {
            break;
        }

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ws: upstream sent invalid chunked response");

        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_ws_abort_request(ngx_http_request_t *r)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "abort ws request");
}


static void
ngx_http_ws_finalize_request(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "finalize ws request: %i", rc);

    /*
     * No 101 went to the client, and no other refusal was found: the
     * backend failed (a 502 or 504), or the client left before its answer
     */

    if (rc == NGX_OK || rc == NGX_DONE
        || r->headers_out.status == NGX_HTTP_SWITCHING_PROTOCOLS
        || r->variables[ngx_http_ws_reject_index].len)
    {
        return;
    }

    if (rc == NGX_HTTP_CLIENT_CLOSED_REQUEST) {
        ngx_http_ws_set_reject(r, "client_closed");

    } else {
        ngx_http_ws_set_reject(r, "upstream_error");
    }
}


ngx_int_t
ngx_http_ws_init_skip_headers(ngx_conf_t *cf, ngx_http_ws_loc_conf_t *conf)
{
    size_t                 size;
    ngx_str_t             *s, *name;
    ngx_uint_t             i, n;
    ngx_array_t            keys, names;
    ngx_hash_key_t        *hk;
    ngx_hash_init_t        hash;
    ngx_http_ws_header_t  *sh;

    /*
     * The client's headers that are not passed: hop-by-hop ones, those
     * ws_pass writes itself and those ws_set_header sets, in a hash built
     * once (as ngx_http_grpc_init_headers() does).
     */

    if (ngx_array_init(&names, cf->temp_pool, 16, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (s = ngx_http_ws_skip_headers; s->len; s++) {
        name = ngx_array_push(&names);
        if (name == NULL) {
            return NGX_ERROR;
        }

        *name = *s;
    }

    if (ngx_http_ws_filters_protocols(conf)) {
        /* sent as the module selects them (ctx->protocols) */
        name = ngx_array_push(&names);
        if (name == NULL) {
            return NGX_ERROR;
        }

        ngx_str_set(name, "Sec-WebSocket-Protocol");
    }

    if (conf->headers) {
        sh = conf->headers->elts;

        for (i = 0; i < conf->headers->nelts; i++) {
            name = ngx_array_push(&names);
            if (name == NULL) {
                return NGX_ERROR;
            }

            *name = sh[i].name;
        }
    }

    if (ngx_array_init(&keys, cf->temp_pool, names.nelts,
                       sizeof(ngx_hash_key_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* each name once, and buckets that hold the longest */

    size = 64;
    name = names.elts;

    for (i = 0; i < names.nelts; i++) {

        for (n = 0; n < i; n++) {
            if (name[n].len == name[i].len
                && ngx_strncasecmp(name[n].data, name[i].data, name[i].len)
                   == 0)
            {
                break;
            }
        }

        if (n < i) {
            continue;
        }

        hk = ngx_array_push(&keys);
        if (hk == NULL) {
            return NGX_ERROR;
        }

        hk->key = name[i];
        hk->key_hash = ngx_hash_key_lc(name[i].data, name[i].len);
        hk->value = (void *) 1;

        size = ngx_max(size, sizeof(void *)
                             + ngx_align(name[i].len + 2, sizeof(void *))
                             + sizeof(void *));
    }

    hash.hash = &conf->skip_headers;
    hash.key = ngx_hash_key_lc;
    hash.max_size = 512;
    hash.bucket_size = ngx_align(size, ngx_cacheline_size);
    hash.name = "ws_skip_headers_hash";
    hash.pool = cf->pool;
    hash.temp_pool = NULL;

    return ngx_hash_init(&hash, keys.elts, keys.nelts);
}


char *
ngx_http_ws_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ws_loc_conf_t *wlcf = conf;

    ngx_str_t                  *value, *url;
    ngx_uint_t                  n, ssl;
    ngx_url_t                   u;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_script_compile_t   sc;

    if (wlcf->upstream.upstream || wlcf->ws_lengths) {
        return "is duplicate";
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    clcf->handler = ngx_http_ws_handler;

    if (clcf->name.len && clcf->name.data[clcf->name.len - 1] == '/') {
        clcf->auto_redirect = 1;
    }

    value = cf->args->elts;
    url = &value[1];

    n = ngx_http_script_variables_count(url);

    if (n) {
        ngx_memzero(&sc, sizeof(ngx_http_script_compile_t));

        sc.cf = cf;
        sc.source = url;
        sc.lengths = &wlcf->ws_lengths;
        sc.values = &wlcf->ws_values;
        sc.variables = n;
        sc.complete_lengths = 1;
        sc.complete_values = 1;

        if (ngx_http_script_compile(&sc) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

#if (NGX_HTTP_SSL)
        wlcf->ssl = 1;
#endif

        return NGX_CONF_OK;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    (void) ngx_http_ws_parse_pass(url, &u, &ssl);

#if (NGX_HTTP_SSL)
    wlcf->ssl = ssl;
#else
    if (ssl) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "TLS backends need nginx built with SSL");
        return NGX_CONF_ERROR;
    }
#endif

    wlcf->upstream.upstream = ngx_http_upstream_add(cf, &u, 0);
    if (wlcf->upstream.upstream == NULL) {
        return NGX_CONF_ERROR;
    }

    wlcf->uri = u.uri;
    ngx_http_ws_host_header(&u, &wlcf->host, cf->pool);

    if (wlcf->host.len == 0) {
        return NGX_CONF_ERROR;
    }

    wlcf->location = clcf->name;

    if (u.uri.len
        && (clcf->named
#if (NGX_PCRE)
            || clcf->regex
#endif
            || clcf->noname))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ws_pass\" cannot have URI part in "
                           "location given by regular expression, "
                           "or inside named location, "
                           "or inside \"if\" statement, "
                           "or inside \"limit_except\" block");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


char *
ngx_http_ws_set_header(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ws_loc_conf_t *wlcf = conf;

    ngx_str_t                         *value;
    ngx_http_ws_header_t              *h;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    if (wlcf->headers == NGX_CONF_UNSET_PTR) {
        wlcf->headers = ngx_array_create(cf->pool, 4,
                                         sizeof(ngx_http_ws_header_t));
        if (wlcf->headers == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    h = ngx_array_push(wlcf->headers);
    if (h == NULL) {
        return NGX_CONF_ERROR;
    }

    h->name = value[1];

    if (value[2].len == 0
        && value[1].len == sizeof("Host") - 1
        && ngx_strncasecmp(value[1].data, (u_char *) "Host", 4) == 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"Host\" cannot be empty: a WebSocket handshake "
                           "is an HTTP/1.1 request, which needs one");
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[2];
    ccv.complex_value = &h->value;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


#if (NGX_HTTP_SSL)

char *
ngx_http_ws_ssl_name(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ws_loc_conf_t *wlcf = conf;

    ngx_str_t                         *value;
    ngx_http_compile_complex_value_t   ccv;

    if (wlcf->upstream.ssl_name != NGX_CONF_UNSET_PTR
        && wlcf->upstream.ssl_name != NULL)
    {
        return "is duplicate";
    }

    value = cf->args->elts;

    wlcf->upstream.ssl_name = ngx_palloc(cf->pool,
                                         sizeof(ngx_http_complex_value_t));
    if (wlcf->upstream.ssl_name == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = wlcf->upstream.ssl_name;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_http_ws_set_ssl(ngx_conf_t *cf, ngx_http_ws_loc_conf_t *wlcf)
{
    ngx_pool_cleanup_t  *cln;

    if (wlcf->upstream.ssl) {
        return NGX_OK;
    }

    wlcf->upstream.ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (wlcf->upstream.ssl == NULL) {
        return NGX_ERROR;
    }

    wlcf->upstream.ssl->log = cf->log;

    if (ngx_ssl_create(wlcf->upstream.ssl, wlcf->ssl_protocols, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(wlcf->upstream.ssl);
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = wlcf->upstream.ssl;

    if (ngx_ssl_ciphers(cf, wlcf->upstream.ssl, &wlcf->ssl_ciphers, 0)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (wlcf->upstream.ssl_verify) {
        if (wlcf->ssl_trusted_certificate.len == 0) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "no ws_ssl_trusted_certificate for ws_ssl_verify");
            return NGX_ERROR;
        }

        if (ngx_ssl_trusted_certificate(cf, wlcf->upstream.ssl,
                                        &wlcf->ssl_trusted_certificate,
                                        wlcf->ssl_verify_depth)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (ngx_ssl_crl(cf, wlcf->upstream.ssl, &wlcf->ssl_crl) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (ngx_ssl_client_session_cache(cf, wlcf->upstream.ssl,
                                     wlcf->upstream.ssl_session_reuse)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}

#endif
