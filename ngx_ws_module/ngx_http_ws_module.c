
/*
 * Copyright (C) the ngx_ws authors
 *
 * ws_pass: the client's WebSocket handshake is checked, the upgrade is
 * requested from a backend through nginx's upstream machinery, and the
 * backend's 101 is verified before the connection becomes a frame relay
 * (ngx_http_ws_relay.c).
 */


#include "ngx_http_ws_module.h"


/* handshake check results that are answered with 426 */
#define NGX_HTTP_WS_NOT_UPGRADE   1
#define NGX_HTTP_WS_BAD_VERSION   2


static ngx_int_t ngx_http_ws_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_http_ws_not_http11(ngx_http_request_t *r);
static ngx_int_t ngx_http_ws_check_handshake(ngx_http_request_t *r,
    ngx_table_elt_t **key);
static ngx_int_t ngx_http_ws_refuse(ngx_http_request_t *r,
    ngx_uint_t version);
static void ngx_http_ws_cleanup_request(void *data);
static ngx_int_t ngx_http_ws_eval(ngx_http_request_t *r,
    ngx_http_ws_ctx_t *ctx, ngx_http_ws_loc_conf_t *wlcf);
static ngx_int_t ngx_http_ws_create_request(ngx_http_request_t *r);
static ngx_uint_t ngx_http_ws_skip_header(ngx_http_ws_loc_conf_t *wlcf,
    ngx_table_elt_t *h, ngx_array_t *conn);
static ngx_int_t ngx_http_ws_init_skip_headers(ngx_conf_t *cf,
    ngx_http_ws_loc_conf_t *conf);
static ngx_int_t ngx_http_ws_reinit_request(ngx_http_request_t *r);
static ngx_int_t ngx_http_ws_process_status_line(ngx_http_request_t *r);
static ngx_int_t ngx_http_ws_process_header(ngx_http_request_t *r);
static ngx_int_t ngx_http_ws_check_upgrade(ngx_http_request_t *r,
    ngx_http_ws_ctx_t *ctx);
static ngx_int_t ngx_http_ws_body_filter_init(void *data);
static ngx_int_t ngx_http_ws_chunked_filter(void *data, ssize_t bytes);
static void ngx_http_ws_abort_request(ngx_http_request_t *r);
static void ngx_http_ws_finalize_request(ngx_http_request_t *r,
    ngx_int_t rc);

static ngx_int_t ngx_http_ws_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static ngx_int_t ngx_http_ws_add_variables(ngx_conf_t *cf);
static void *ngx_http_ws_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ws_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_ws_pass(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ws_set_header(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_ws_buffer_size_check(ngx_conf_t *cf, void *post,
    void *data);
#if (NGX_HTTP_SSL)
static char *ngx_http_ws_ssl_name(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_ws_set_ssl(ngx_conf_t *cf,
    ngx_http_ws_loc_conf_t *wlcf);
#endif


static ngx_conf_bitmask_t  ngx_http_ws_next_upstream_masks[] = {
    { ngx_string("error"), NGX_HTTP_UPSTREAM_FT_ERROR },
    { ngx_string("timeout"), NGX_HTTP_UPSTREAM_FT_TIMEOUT },
    { ngx_string("invalid_header"), NGX_HTTP_UPSTREAM_FT_INVALID_HEADER },
    { ngx_string("http_500"), NGX_HTTP_UPSTREAM_FT_HTTP_500 },
    { ngx_string("http_502"), NGX_HTTP_UPSTREAM_FT_HTTP_502 },
    { ngx_string("http_503"), NGX_HTTP_UPSTREAM_FT_HTTP_503 },
    { ngx_string("http_504"), NGX_HTTP_UPSTREAM_FT_HTTP_504 },
    { ngx_string("http_403"), NGX_HTTP_UPSTREAM_FT_HTTP_403 },
    { ngx_string("http_404"), NGX_HTTP_UPSTREAM_FT_HTTP_404 },
    { ngx_string("http_429"), NGX_HTTP_UPSTREAM_FT_HTTP_429 },
    { ngx_string("off"), NGX_HTTP_UPSTREAM_FT_OFF },
    { ngx_null_string, 0 }
};


#if (NGX_HTTP_SSL)

static ngx_conf_bitmask_t  ngx_http_ws_ssl_protocols[] = {
    { ngx_string("SSLv2"), NGX_SSL_SSLv2 },
    { ngx_string("SSLv3"), NGX_SSL_SSLv3 },
    { ngx_string("TLSv1"), NGX_SSL_TLSv1 },
    { ngx_string("TLSv1.1"), NGX_SSL_TLSv1_1 },
    { ngx_string("TLSv1.2"), NGX_SSL_TLSv1_2 },
    { ngx_string("TLSv1.3"), NGX_SSL_TLSv1_3 },
    { ngx_null_string, 0 }
};

#endif


static ngx_conf_post_t  ngx_http_ws_buffer_size_post =
    { ngx_http_ws_buffer_size_check };


static ngx_command_t  ngx_http_ws_commands[] = {

    { ngx_string("ws_pass"),
      NGX_HTTP_LOC_CONF|NGX_HTTP_LIF_CONF|NGX_CONF_TAKE1,
      ngx_http_ws_pass,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_set_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE2,
      ngx_http_ws_set_header,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_buffer_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, buffer_size),
      &ngx_http_ws_buffer_size_post },

    { ngx_string("ws_max_frame_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_off_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, max_frame_size),
      NULL },

    { ngx_string("ws_max_message_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_off_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, max_message_size),
      NULL },

    { ngx_string("ws_validate_utf8"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, validate_utf8),
      NULL },

    { ngx_string("ws_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, upstream.connect_timeout),
      NULL },

    { ngx_string("ws_handshake_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, upstream.read_timeout),
      NULL },

    { ngx_string("ws_send_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, send_timeout),
      NULL },

    { ngx_string("ws_close_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, close_timeout),
      NULL },

    { ngx_string("ws_next_upstream"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_conf_set_bitmask_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, upstream.next_upstream),
      &ngx_http_ws_next_upstream_masks },

    { ngx_string("ws_next_upstream_tries"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, upstream.next_upstream_tries),
      NULL },

    { ngx_string("ws_next_upstream_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, upstream.next_upstream_timeout),
      NULL },

#if (NGX_HTTP_SSL)

    { ngx_string("ws_ssl_session_reuse"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, upstream.ssl_session_reuse),
      NULL },

    { ngx_string("ws_ssl_protocols"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_conf_set_bitmask_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, ssl_protocols),
      &ngx_http_ws_ssl_protocols },

    { ngx_string("ws_ssl_ciphers"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, ssl_ciphers),
      NULL },

    { ngx_string("ws_ssl_name"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ws_ssl_name,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_ssl_server_name"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, upstream.ssl_server_name),
      NULL },

    { ngx_string("ws_ssl_verify"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, upstream.ssl_verify),
      NULL },

    { ngx_string("ws_ssl_verify_depth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, ssl_verify_depth),
      NULL },

    { ngx_string("ws_ssl_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, ssl_trusted_certificate),
      NULL },

    { ngx_string("ws_ssl_crl"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, ssl_crl),
      NULL },

#endif

      ngx_null_command
};


static ngx_http_module_t  ngx_http_ws_module_ctx = {
    ngx_http_ws_add_variables,             /* preconfiguration */
    NULL,                                  /* postconfiguration */

    NULL,                                  /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_ws_create_loc_conf,           /* create location configuration */
    ngx_http_ws_merge_loc_conf             /* merge location configuration */
};


ngx_module_t  ngx_http_ws_module = {
    NGX_MODULE_V1,
    &ngx_http_ws_module_ctx,               /* module context */
    ngx_http_ws_commands,                  /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    NULL,                                  /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    NULL,                                  /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


#define NGX_HTTP_WS_VAR_CLOSE_CODE       0
#define NGX_HTTP_WS_VAR_INITIATOR        1
#define NGX_HTTP_WS_VAR_FRAMES_IN        2
#define NGX_HTTP_WS_VAR_FRAMES_OUT       3
#define NGX_HTTP_WS_VAR_BYTES_IN         4
#define NGX_HTTP_WS_VAR_BYTES_OUT        5
#define NGX_HTTP_WS_VAR_DURATION         6


static ngx_http_variable_t  ngx_http_ws_vars[] = {

    { ngx_string("ws_close_code"), NULL, ngx_http_ws_variable,
      NGX_HTTP_WS_VAR_CLOSE_CODE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_close_initiator"), NULL, ngx_http_ws_variable,
      NGX_HTTP_WS_VAR_INITIATOR, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_frames_in"), NULL, ngx_http_ws_variable,
      NGX_HTTP_WS_VAR_FRAMES_IN, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_frames_out"), NULL, ngx_http_ws_variable,
      NGX_HTTP_WS_VAR_FRAMES_OUT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_bytes_in"), NULL, ngx_http_ws_variable,
      NGX_HTTP_WS_VAR_BYTES_IN, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_bytes_out"), NULL, ngx_http_ws_variable,
      NGX_HTTP_WS_VAR_BYTES_OUT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_duration"), NULL, ngx_http_ws_variable,
      NGX_HTTP_WS_VAR_DURATION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_str_t  ngx_http_ws_hide_headers[] = {
    ngx_string("Date"),
    ngx_string("Server"),
    ngx_string("Keep-Alive"),
    ngx_string("X-Pad"),
    ngx_string("X-Accel-Expires"),
    ngx_string("X-Accel-Redirect"),
    ngx_string("X-Accel-Limit-Rate"),
    ngx_string("X-Accel-Buffering"),
    ngx_string("X-Accel-Charset"),
    ngx_null_string
};


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


static u_char  ngx_http_ws_426_page[] =
"<html>" CRLF
"<head><title>426 Upgrade Required</title></head>" CRLF
"<body>" CRLF
"<center><h1>426 Upgrade Required</h1></center>" CRLF
"<hr><center>nginx</center>" CRLF
"</body>" CRLF
"</html>" CRLF
;


static ngx_int_t
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
     * A WebSocket is an HTTP/1.1 upgrade of a real connection (RFC 6455).
     * An HTTP/2 or HTTP/3 request runs on a stream, not on a socket of its
     * own, and over HTTP/2 a WebSocket needs RFC 8441's extended CONNECT,
     * which nginx does not offer: such a request is never a tunnel.
     */

    if (r->error_page || r->err_status) {
        /* its status would replace the 101 */
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ws: ws_pass cannot serve an error page");
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_http_ws_not_http11(r)) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ws: invalid handshake: not an HTTP/1.1 request");
        r->keepalive = 0;
        return NGX_HTTP_BAD_REQUEST;
    }

    key = NULL;

    rc = ngx_http_ws_check_handshake(r, &key);

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

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ws_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->request = r;
    ws_accept_key(key->value.data, ctx->accept);

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_http_ws_cleanup_request;
    cln->data = ctx;

    ngx_http_set_ctx(r, ctx, ngx_http_ws_module);

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

    rc = ngx_http_read_client_request_body(r, ngx_http_upstream_init);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
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


static ngx_uint_t
ngx_http_ws_header_is(ngx_table_elt_t *h, const char *name, size_t len)
{
    return h->key.len == len
           && ngx_strncasecmp(h->key.data, (u_char *) name, len) == 0;
}


static ngx_int_t
ngx_http_ws_check_handshake(ngx_http_request_t *r, ngx_table_elt_t **key)
{
    ngx_str_t         *v;
    ngx_uint_t         i, keys, upgrade, connection;
    ngx_list_part_t   *part;
    ngx_table_elt_t   *h, *version;
    const char        *err;

    /* tokens may come in lists and in repeated header lines */

    *key = NULL;
    version = NULL;
    keys = 0;
    upgrade = 0;
    connection = 0;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (ngx_http_ws_header_is(&h[i], "upgrade", 7)) {
            upgrade |= ws_list_has_token(h[i].value.data, h[i].value.len,
                                         "websocket");

        } else if (ngx_http_ws_header_is(&h[i], "connection", 10)) {
            connection |= ws_list_has_token(h[i].value.data,
                                            h[i].value.len, "upgrade");

        } else if (ngx_http_ws_header_is(&h[i], "sec-websocket-key", 17)) {
            *key = &h[i];
            keys++;

        } else if (ngx_http_ws_header_is(&h[i], "sec-websocket-version", 21)
                   && version == NULL)
        {
            version = &h[i];
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


static ngx_int_t
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

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].key.len == sizeof("Connection") - 1
            && ngx_strncmp(h[i].lowcase_key, "connection",
                           sizeof("Connection") - 1)
               == 0)
        {
            c = ngx_array_push(&conn);
            if (c == NULL) {
                return NGX_ERROR;
            }

            *c = &h[i];
        }
    }

    len += sizeof("GET ") - 1 + uri_len + sizeof(" HTTP/1.1" CRLF) - 1
           + sizeof("Upgrade: websocket" CRLF "Connection: Upgrade" CRLF) - 1
           + sizeof(CRLF) - 1;

    if (!has_host) {
        len += sizeof("Host: ") - 1 + host.len + sizeof(CRLF) - 1;
    }

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (ngx_http_ws_skip_header(wlcf, &h[i], &conn)) {
            continue;
        }

        len += h[i].key.len + sizeof(": ") - 1 + h[i].value.len
               + sizeof(CRLF) - 1;
    }

    /*
     * The request head is needed only until the upgrade (and for retries
     * on other servers): it lives outside the request pool and is freed
     * at the takeover, see ngx_http_ws_relay_init().
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

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (ngx_http_ws_skip_header(wlcf, &h[i], &conn)) {
            continue;
        }

        b->last = ngx_copy(b->last, h[i].key.data, h[i].key.len);
        *b->last++ = ':'; *b->last++ = ' ';
        b->last = ngx_copy(b->last, h[i].value.data, h[i].value.len);
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

        u->input_filter_init = ngx_http_ws_relay_init;
        u->input_filter = ngx_http_ws_relay_filter;
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

    r->keepalive = 0;
    u->keepalive = 0;

    u->input_filter_init = ngx_http_ws_body_filter_init;
    u->input_filter = ngx_http_upstream_non_buffered_filter;
    u->input_filter_ctx = r;

    return NGX_OK;
}


static ngx_table_elt_t *
ngx_http_ws_find_header(ngx_list_t *headers, const char *name,
    ngx_uint_t *count)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h, *found;

    len = ngx_strlen(name);
    found = NULL;
    *count = 0;

    part = &headers->part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash == 0 || h[i].key.len != len
            || ngx_strncasecmp(h[i].key.data, (u_char *) name, len) != 0)
        {
            continue;
        }

        if (found == NULL) {
            found = &h[i];
        }

        (*count)++;
    }

    return found;
}


static ngx_int_t
ngx_http_ws_check_upgrade(ngx_http_request_t *r, ngx_http_ws_ctx_t *ctx)
{
    ngx_uint_t            i, n, offered;
    ngx_list_part_t      *part;
    ngx_table_elt_t      *h, *proto, *ext;
    ngx_http_upstream_t  *u;

    u = r->upstream;

    h = ngx_http_ws_find_header(&u->headers_in.headers, "upgrade", &n);

    if (h == NULL
        || !ws_list_has_token(h->value.data, h->value.len, "websocket"))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ws: upstream sent 101 without \"Upgrade: websocket\"");
        return NGX_ERROR;
    }

    h = ngx_http_ws_find_header(&u->headers_in.headers, "connection", &n);

    if (h == NULL
        || !ws_list_has_token(h->value.data, h->value.len, "upgrade"))
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ws: upstream sent 101 without \"Connection: upgrade\"");
        return NGX_ERROR;
    }

    h = ngx_http_ws_find_header(&u->headers_in.headers,
                                "sec-websocket-accept", &n);

    if (h == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ws: upstream sent no \"Sec-WebSocket-Accept\" header");
        return NGX_ERROR;
    }

    if (n != 1 || h->value.len != WS_ACCEPT_LEN
        || ngx_memcmp(h->value.data, ctx->accept, WS_ACCEPT_LEN) != 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ws: upstream sent invalid \"Sec-WebSocket-Accept\" "
                      "header");
        return NGX_ERROR;
    }

    ext = ngx_http_ws_find_header(&u->headers_in.headers,
                                  "sec-websocket-extensions", &n);

    if (ext) {
        /* the request offered no extension: frames stay inspectable */

        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "ws: upstream selected extensions \"%V\" "
                      "not offered by the client", &ext->value);
        return NGX_ERROR;
    }

    proto = ngx_http_ws_find_header(&u->headers_in.headers,
                                    "sec-websocket-protocol", &n);

    if (proto == NULL) {
        return NGX_OK;
    }

    offered = 0;

    if (n == 1 && proto->value.len
        && ngx_strlchr(proto->value.data,
                       proto->value.data + proto->value.len, ',')
           == NULL)
    {
        part = &r->headers_in.headers.part;
        h = part->elts;

        for (i = 0; /* void */ ; i++) {

            if (i >= part->nelts) {
                if (part->next == NULL) {
                    break;
                }

                part = part->next;
                h = part->elts;
                i = 0;
            }

            if (h[i].key.len == sizeof("sec-websocket-protocol") - 1
                && ngx_strncasecmp(h[i].key.data,
                                   (u_char *) "sec-websocket-protocol",
                                   h[i].key.len) == 0
                && ws_list_has_token(h[i].value.data, h[i].value.len,
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
}


static ngx_int_t
ngx_http_ws_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char             *p;
    off_t               n;
    ngx_msec_int_t         ms;
    ngx_http_ws_ctx_t     *ctx;
    ngx_http_ws_tunnel_t  *t;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ws_module);

    if (ctx == NULL || ctx->tunnel == NULL) {
        v->not_found = 1;
        return NGX_OK;
    }

    t = ctx->tunnel;

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    if (data == NGX_HTTP_WS_VAR_INITIATOR) {

        switch (t->initiator) {

        case NGX_HTTP_WS_BY_CLIENT:
            ngx_str_set(v, "client");
            break;

        case NGX_HTTP_WS_BY_UPSTREAM:
            ngx_str_set(v, "upstream");
            break;

        case NGX_HTTP_WS_BY_PROXY:
            ngx_str_set(v, "proxy");
            break;

        default:
            ngx_str_set(v, "-");
        }

        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_OFF_T_LEN + 5);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    switch (data) {

    case NGX_HTTP_WS_VAR_CLOSE_CODE:
        n = t->close_code ? (off_t) t->close_code : WS_CLOSE_ABNORMAL;
        break;

    case NGX_HTTP_WS_VAR_FRAMES_IN:
        n = (off_t) t->dir[0].parser.frames;
        break;

    case NGX_HTTP_WS_VAR_FRAMES_OUT:
        n = (off_t) (t->dir[1].parser.forwarded
                     + t->dir[1].inject_frames);
        break;

    case NGX_HTTP_WS_VAR_BYTES_IN:
        n = t->dir[0].bytes_in;
        break;

    case NGX_HTTP_WS_VAR_BYTES_OUT:
        n = t->dir[1].bytes_out;
        break;

    default: /* NGX_HTTP_WS_VAR_DURATION */

        if (t->finalized) {
            ms = t->duration;

        } else {
            ms = (ngx_msec_int_t) ((ngx_time() - t->start_sec) * 1000
                                   + (ngx_timeofday()->msec
                                      - t->start_msec));
        }

        ms = ngx_max(ms, 0);

        v->len = ngx_sprintf(p, "%T.%03M", (time_t) ms / 1000, ms % 1000)
                 - p;
        return NGX_OK;
    }

    v->len = ngx_sprintf(p, "%O", n) - p;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ws_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_ws_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static void *
ngx_http_ws_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_ws_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_http_ws_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     conf->upstream.bufs.num = 0;
     *     conf->upstream.next_upstream = 0;
     *     conf->ws_lengths = NULL;
     *     conf->ws_values = NULL;
     *     conf->host = { 0, NULL };
     *     conf->uri = { 0, NULL };
     *     conf->location = { 0, NULL };
     *     conf->ssl = 0;
     *     conf->ssl_protocols = 0;
     *     conf->ssl_ciphers = { 0, NULL };
     *     conf->ssl_trusted_certificate = { 0, NULL };
     *     conf->ssl_crl = { 0, NULL };
     */

    conf->upstream.next_upstream_tries = NGX_CONF_UNSET_UINT;
    conf->upstream.connect_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.send_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.read_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.next_upstream_timeout = NGX_CONF_UNSET_MSEC;
    conf->upstream.buffer_size = NGX_CONF_UNSET_SIZE;

    conf->upstream.hide_headers = NGX_CONF_UNSET_PTR;
    conf->upstream.pass_headers = NGX_CONF_UNSET_PTR;

#if (NGX_HTTP_SSL)
    conf->upstream.ssl_name = NGX_CONF_UNSET_PTR;
    conf->upstream.ssl_session_reuse = NGX_CONF_UNSET;
    conf->upstream.ssl_server_name = NGX_CONF_UNSET;
    conf->upstream.ssl_verify = NGX_CONF_UNSET;
    conf->ssl_verify_depth = NGX_CONF_UNSET_UINT;
#endif

    /* the upstream's settings that ws_pass fixes */

    conf->upstream.buffering = 0;
    conf->upstream.request_buffering = 0;
    conf->upstream.ignore_client_abort = 0;
    conf->upstream.intercept_errors = 0;
    conf->upstream.pass_request_headers = 1;
    conf->upstream.pass_request_body = 0;
    conf->upstream.cyclic_temp_file = 0;
    conf->upstream.local = NULL;
    conf->upstream.limit_rate = 0;
    conf->upstream.store = 0;
    conf->upstream.ignore_headers = NGX_HTTP_UPSTREAM_IGN_XA_REDIRECT
                                    |NGX_HTTP_UPSTREAM_IGN_XA_EXPIRES
                                    |NGX_HTTP_UPSTREAM_IGN_XA_LIMIT_RATE
                                    |NGX_HTTP_UPSTREAM_IGN_XA_BUFFERING
                                    |NGX_HTTP_UPSTREAM_IGN_XA_CHARSET
                                    |NGX_HTTP_UPSTREAM_IGN_EXPIRES
                                    |NGX_HTTP_UPSTREAM_IGN_CACHE_CONTROL
                                    |NGX_HTTP_UPSTREAM_IGN_VARY;

    conf->headers = NGX_CONF_UNSET_PTR;

    conf->buffer_size = NGX_CONF_UNSET_SIZE;
    conf->max_frame_size = NGX_CONF_UNSET;
    conf->max_message_size = NGX_CONF_UNSET;
    conf->validate_utf8 = NGX_CONF_UNSET;
    conf->close_timeout = NGX_CONF_UNSET_MSEC;
    conf->send_timeout = NGX_CONF_UNSET_MSEC;

    ngx_str_set(&conf->upstream.module, "ws");

    return conf;
}


static char *
ngx_http_ws_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_ws_loc_conf_t *prev = parent;
    ngx_http_ws_loc_conf_t *conf = child;

    ngx_hash_init_t            hash;
    ngx_http_core_loc_conf_t  *clcf;

    ngx_conf_merge_uint_value(conf->upstream.next_upstream_tries,
                              prev->upstream.next_upstream_tries, 0);

    ngx_conf_merge_msec_value(conf->upstream.connect_timeout,
                              prev->upstream.connect_timeout, 60000);

    ngx_conf_merge_msec_value(conf->upstream.read_timeout,
                              prev->upstream.read_timeout, 60000);

    /* the request is sent within the handshake timeout too */
    conf->upstream.send_timeout = conf->upstream.read_timeout;

    ngx_conf_merge_msec_value(conf->upstream.next_upstream_timeout,
                              prev->upstream.next_upstream_timeout, 0);

    ngx_conf_merge_size_value(conf->buffer_size, prev->buffer_size,
                              64 * 1024);

    /* the backend's 101 and its first frames are read into one buffer */
    conf->upstream.buffer_size = conf->buffer_size;

    ngx_conf_merge_off_value(conf->max_frame_size, prev->max_frame_size,
                             1024 * 1024);

    ngx_conf_merge_off_value(conf->max_message_size, prev->max_message_size,
                             1024 * 1024);

    ngx_conf_merge_value(conf->validate_utf8, prev->validate_utf8, 1);

    ngx_conf_merge_msec_value(conf->close_timeout, prev->close_timeout, 5000);

    ngx_conf_merge_msec_value(conf->send_timeout, prev->send_timeout, 60000);

    ngx_conf_merge_bitmask_value(conf->upstream.next_upstream,
                                 prev->upstream.next_upstream,
                                 (NGX_CONF_BITMASK_SET
                                  |NGX_HTTP_UPSTREAM_FT_ERROR
                                  |NGX_HTTP_UPSTREAM_FT_TIMEOUT));

    if (conf->upstream.next_upstream & NGX_HTTP_UPSTREAM_FT_OFF) {
        conf->upstream.next_upstream = NGX_CONF_BITMASK_SET
                                       |NGX_HTTP_UPSTREAM_FT_OFF;
    }

    ngx_conf_merge_ptr_value(conf->headers, prev->headers, NULL);

    if (conf->headers == prev->headers && prev->skip_headers.buckets) {
        conf->skip_headers = prev->skip_headers;

    } else if (ngx_http_ws_init_skip_headers(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    hash.max_size = 512;
    hash.bucket_size = ngx_align(64, ngx_cacheline_size);
    hash.name = "ws_headers_hash";

    if (ngx_http_upstream_hide_headers_hash(cf, &conf->upstream,
            &prev->upstream, ngx_http_ws_hide_headers, &hash)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

#if (NGX_HTTP_SSL)

    ngx_conf_merge_value(conf->upstream.ssl_session_reuse,
                              prev->upstream.ssl_session_reuse, 1);

    ngx_conf_merge_bitmask_value(conf->ssl_protocols, prev->ssl_protocols,
                                 (NGX_CONF_BITMASK_SET|NGX_SSL_TLSv1_2
                                  |NGX_SSL_TLSv1_3));

    ngx_conf_merge_str_value(conf->ssl_ciphers, prev->ssl_ciphers,
                             "DEFAULT");

    ngx_conf_merge_ptr_value(conf->upstream.ssl_name,
                              prev->upstream.ssl_name, NULL);
    ngx_conf_merge_value(conf->upstream.ssl_server_name,
                              prev->upstream.ssl_server_name, 0);
    ngx_conf_merge_value(conf->upstream.ssl_verify,
                              prev->upstream.ssl_verify, 0);
    ngx_conf_merge_uint_value(conf->ssl_verify_depth,
                              prev->ssl_verify_depth, 1);
    ngx_conf_merge_str_value(conf->ssl_trusted_certificate,
                              prev->ssl_trusted_certificate, "");
    ngx_conf_merge_str_value(conf->ssl_crl, prev->ssl_crl, "");

    if (conf->ssl && ngx_http_ws_set_ssl(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

#endif

    if (conf->upstream.upstream == NULL && conf->ws_lengths == NULL) {
        conf->upstream.upstream = prev->upstream.upstream;
        conf->ws_lengths = prev->ws_lengths;
        conf->ws_values = prev->ws_values;
        conf->host = prev->host;
        conf->uri = prev->uri;
        conf->location = prev->location;
#if (NGX_HTTP_SSL)
        conf->ssl = prev->ssl;
        if (conf->upstream.ssl == NULL) {
            conf->upstream.ssl = prev->upstream.ssl;
        }
#endif
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->lmt_excpt && clcf->handler == NULL
        && (conf->upstream.upstream || conf->ws_lengths))
    {
        clcf->handler = ngx_http_ws_handler;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_ws_init_skip_headers(ngx_conf_t *cf, ngx_http_ws_loc_conf_t *conf)
{
    ngx_str_t             *s;
    ngx_uint_t             i;
    ngx_array_t            keys;
    ngx_hash_key_t        *hk;
    ngx_hash_init_t        hash;
    ngx_http_ws_header_t  *sh;

    /*
     * The client's headers that are not passed: hop-by-hop ones, those
     * ws_pass writes itself and those ws_set_header sets, in a hash built
     * once (as ngx_http_grpc_init_headers() does).
     */

    if (ngx_array_init(&keys, cf->temp_pool, 16, sizeof(ngx_hash_key_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    for (s = ngx_http_ws_skip_headers; s->len; s++) {
        hk = ngx_array_push(&keys);
        if (hk == NULL) {
            return NGX_ERROR;
        }

        hk->key = *s;
        hk->key_hash = ngx_hash_key_lc(s->data, s->len);
        hk->value = (void *) 1;
    }

    if (conf->headers) {
        sh = conf->headers->elts;

        for (i = 0; i < conf->headers->nelts; i++) {
            hk = ngx_array_push(&keys);
            if (hk == NULL) {
                return NGX_ERROR;
            }

            hk->key = sh[i].name;
            hk->key_hash = ngx_hash_key_lc(sh[i].name.data, sh[i].name.len);
            hk->value = (void *) 1;
        }
    }

    hash.hash = &conf->skip_headers;
    hash.key = ngx_hash_key_lc;
    hash.max_size = 512;
    hash.bucket_size = ngx_align(64, ngx_cacheline_size);
    hash.name = "ws_skip_headers_hash";
    hash.pool = cf->pool;
    hash.temp_pool = NULL;

    return ngx_hash_init(&hash, keys.elts, keys.nelts);
}


static char *
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


static char *
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


static char *
ngx_http_ws_buffer_size_check(ngx_conf_t *cf, void *post, void *data)
{
    size_t  *sp = data;

    /* room for the largest control frame and a frame header, with margin */

    if (*sp < 512) {
        return "must be at least 512";
    }

    return NGX_CONF_OK;
}


#if (NGX_HTTP_SSL)

static char *
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


static ngx_int_t
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
