
/*
 * Copyright (C) the ngx_ws authors
 *
 * Detaching an upgraded WebSocket from its HTTP request (docs/design.md,
 * "Memory"): once the 101 is written, the request, its pool and the client's
 * header buffers are freed.  What the access log line needs is kept in a
 * compact snapshot, and the line is written at the end from a request that
 * is rebuilt for it; then the client connection gets nginx's lingering
 * close.  It installs no event handler of the tunnel and calls nothing in
 * ngx_http_ws_tunnel.c or ngx_http_ws_relay.c.
 */


#include "ngx_http_ws_module.h"


extern ngx_module_t  ngx_http_log_module;
#if (NGX_HTTP_REALIP)
extern ngx_module_t  ngx_http_realip_module;
#endif


struct ngx_http_ws_snap_s {
    ngx_http_connection_t       *http_connection;
    void                       **main_conf;
    void                       **srv_conf;
    void                       **loc_conf;

    ngx_str_t                    request_line;
    ngx_str_t                    method_name;
    ngx_str_t                    http_protocol;
    ngx_str_t                    unparsed_uri;
    ngx_str_t                    uri;
    ngx_str_t                    args;
    ngx_str_t                    exten;
    ngx_str_t                    schema;
    ngx_str_t                    server;
    ngx_str_t                    upstream;     /* for error log lines */

    time_t                       start_sec;
    ngx_msec_t                   start_msec;
    ngx_msec_t                   upstream_start;
    off_t                        request_length;
    size_t                       header_size;
    ngx_uint_t                   method;
    ngx_uint_t                   http_version;
    ngx_uint_t                   http_major;
    ngx_uint_t                   http_minor;
    ngx_uint_t                   status;

    ngx_http_upstream_state_t   *states;
    ngx_uint_t                   nstates;

    /* header lists and variables, encoded (see ngx_http_ws_put_list()) */
    u_char                      *headers_in;
    u_char                      *headers_out;
    u_char                      *upstream_headers;
    u_char                      *vars;
    uint32_t                     nheaders_in;
    uint32_t                     nheaders_out;
    uint32_t                     nupstream_headers;
    uint32_t                     nvars;

    /* the client address the request had (the realip module's) */
    struct sockaddr             *sockaddr;
    socklen_t                    socklen;
    ngx_str_t                    addr_text;

    unsigned                     valid_unparsed_uri:1;
    unsigned                     log_off:1;    /* no access log line */
};


/* the client connection's lingering close, once the tunnel is freed */

typedef struct {
    ngx_http_core_loc_conf_t    *clcf;
    time_t                       lingering_time;
} ngx_http_ws_linger_t;


/* the snapshot is written in two passes: sizing (pos == NULL), copying */

typedef struct {
    u_char                      *pos;
    size_t                       size;
} ngx_http_ws_writer_t;


#define NGX_HTTP_WS_VAR_NOT_FOUND  0x80000000


static const char *ngx_http_ws_detach_unsafe(ngx_http_request_t *r,
    ngx_connection_t *c, ngx_connection_t *pc);
static ngx_http_ws_snap_t *ngx_http_ws_snapshot(ngx_http_request_t *r);
static void ngx_http_ws_write_snap(ngx_http_ws_writer_t *w,
    ngx_http_ws_snap_t *snap, ngx_http_request_t *r, ngx_uint_t log_off);
#if (NGX_HTTP_REALIP)
static void ngx_http_ws_realip_vars(ngx_http_request_t *r);
#endif
static u_char *ngx_http_ws_put(ngx_http_ws_writer_t *w, void *data,
    size_t len);
static void ngx_http_ws_put_str(ngx_http_ws_writer_t *w, ngx_str_t *dst,
    ngx_str_t *src);
static uint32_t ngx_http_ws_put_list(ngx_http_ws_writer_t *w, u_char **dst,
    ngx_list_t *list);
static ngx_uint_t ngx_http_ws_in_pool(ngx_pool_t *pool, void *p);
static void ngx_http_ws_free_header_buffers(ngx_connection_t *c,
    ngx_http_connection_t *hc);
static void ngx_http_ws_free_hc_bufs(ngx_connection_t *c, ngx_chain_t *cl);
static ngx_uint_t ngx_http_ws_log_off(void **main_conf, void **loc_conf);
static ngx_http_request_t *ngx_http_ws_log_rebuild(ngx_http_ws_tunnel_t *t);
static ngx_int_t ngx_http_ws_get_list(ngx_http_request_t *r, ngx_list_t *list,
    u_char *p, ngx_uint_t n, ngx_uint_t in);
static u_char *ngx_http_ws_get(u_char *p, void *data, size_t len);
static void ngx_http_ws_set_lingering_close(ngx_connection_t *c);
static void ngx_http_ws_lingering_handler(ngx_event_t *rev);
static u_char *ngx_http_ws_linger_log_error(ngx_log_t *log, u_char *buf,
    size_t len);


ngx_int_t
ngx_http_ws_detach(ngx_http_ws_tunnel_t *t)
{
    ngx_uint_t              deferred;
    const char             *reason;
    ngx_connection_t       *c, *pc;
    ngx_http_log_ctx_t     *lctx;
    ngx_http_request_t     *r;
    ngx_http_ws_ctx_t      *ctx;
    ngx_http_upstream_t    *u;
    ngx_http_connection_t  *hc;
    ngx_http_ws_detached_t  dt;

    if (t->request == NULL || t->stay) {
        return NGX_DECLINED;
    }

    r = t->request;
    c = t->connection;
    pc = t->peer;
    u = r->upstream;

    if (r != r->main || r->count != 1 || r->blocked || r->postponed
        || r->posted_requests || pc == NULL)
    {
        /* a subrequest (mirror) still refers to it: later */
        return NGX_DECLINED;
    }

    reason = ngx_http_ws_detach_unsafe(r, c, pc);

    if (reason) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "ws: stays attached: %s", reason);
        t->stay = 1;
        return NGX_DECLINED;
    }

    /*
     * nginx's round-robin family (round robin, least_conn, hash, ip_hash,
     * random) counts the connection on the peer until it is freed: that
     * call is deferred to the end, with a copy of the balancer's state.
     * Peers made for this request alone (a resolved name) are nobody
     * else's concern and are freed now.  Any other balancer may keep its
     * state in the request: the request then stays.
     */

    deferred = 0;

    if (u->upstream) {

        if (u->peer.free != ngx_http_upstream_free_round_robin_peer
            || u->peer.data == NULL
#if (NGX_HTTP_SSL)
            || (u->peer.save_session
                && u->peer.save_session
                   != ngx_http_upstream_save_round_robin_peer_session)
#endif
            )
        {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                           "ws: balancer keeps the request attached");
            t->stay = 1;
            return NGX_DECLINED;
        }

        deferred = 1;
    }

    ngx_memzero(&dt, sizeof(ngx_http_ws_detached_t));

    dt.snap = ngx_http_ws_snapshot(r);

    if (dt.snap == NULL) {
        t->stay = 1;
        return NGX_DECLINED;
    }

    if (deferred) {
        dt.rrp = *(ngx_http_upstream_rr_peer_data_t *) u->peer.data;
        dt.rrp.tried = NULL;
        dt.peer_free = u->peer.free;
        dt.tries = u->peer.tries;
#if (NGX_HTTP_SSL)
        dt.peer_save_session = u->peer.save_session;
#endif

    } else if (u->peer.free && u->peer.sockaddr) {
        u->peer.free(&u->peer, u->peer.data, 0);
    }

    u->peer.free = NULL;
    u->peer.sockaddr = NULL;

    /* nginx's upstream code must neither finalize nor close anything */

    if (u->cleanup) {
        *u->cleanup = NULL;
        u->cleanup = NULL;
    }

    if (u->resolved && u->resolved->ctx) {
        ngx_resolve_name_done(u->resolved->ctx);
        u->resolved->ctx = NULL;
    }

    u->peer.connection = NULL;

    dt.clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    dt.peer_start = u->start_time;

#if (NGX_STAT_STUB)
    /* stub_status counts the WebSocket as "writing" until it ends */
    t->stat_writing = r->stat_writing;
    r->stat_writing = 0;
#endif

    /* the tunnel takes both connections over */

    ctx = ngx_http_get_module_ctx(r, ngx_http_ws_module);
    ctx->tunnel = NULL;

    /* nginx's handlers give way: the tunnel never goes back to them */

    t->request = NULL;
    t->u.detached = dt;

    hc = r->http_connection;

    /* the request was never logged: its line is written at the end */

    r->logged = 1;
    ngx_http_free_request(r, 0);

    c->destroyed = 0;

    lctx = c->log->data;
    lctx->request = NULL;
    lctx->current_request = NULL;

    ngx_http_ws_free_header_buffers(c, hc);

    c->log->action = "proxying websocket";

    return NGX_OK;
}


static const char *
ngx_http_ws_detach_unsafe(ngx_http_request_t *r, ngx_connection_t *c,
    ngx_connection_t *pc)
{
    void                 *ctx;
    ngx_pool_cleanup_t   *cln;
    ngx_http_cleanup_t   *hcln;
    ngx_http_upstream_t  *u;
#if (NGX_HTTP_REALIP)
    void                 *realip;
#endif

    /*
     * The allow-list of docs/design.md, "What may still point to the
     * request": the WebSocket is detached only when every reference that
     * nginx or another module may hold to the request, its pool or the
     * connections' data is known and handled below or in
     * ngx_http_ws_detach().  Anything else keeps it attached.
     */

#if (NGX_HTTP_V2)
    if (r->stream) {
        return "an HTTP/2 stream";
    }
#endif

#if (NGX_HTTP_V3)
    if (c->quic) {
        return "an HTTP/3 stream";
    }
#endif

    if (c->data != r || pc->data != r) {
        return "a connection's data is not the request";
    }

    u = r->upstream;

    if (u->peer.connection != pc || u->peer.data == NULL) {
        return "the upstream holds no peer";
    }

    /* the request's cleanups (ngx_http_cleanup_add()) run when it is freed */

    for (hcln = r->cleanup; hcln; hcln = hcln->next) {

        if (hcln->handler != NULL && &hcln->handler != u->cleanup) {
            return "a request cleanup of another module";
        }
    }

    /* and so do its pool's */

    ctx = ngx_http_get_module_ctx(r, ngx_http_ws_module);
#if (NGX_HTTP_REALIP)
    realip = ngx_http_get_module_ctx(r, ngx_http_realip_module);
#endif

    for (cln = r->pool->cleanup; cln; cln = cln->next) {

        if (cln->handler == NULL
            || (ctx && cln->data == ctx)
            || cln->handler == ngx_pool_cleanup_file
            || cln->handler == ngx_pool_delete_file)
        {
            continue;
        }

#if (NGX_HTTP_REALIP)
        if (realip && cln->data == realip) {
            /* it puts the connection's address back: kept in the snapshot */
            continue;
        }
#endif

        /* limit_conn's counter, another module's resources */
        return "a request pool cleanup of another module";
    }

    return NULL;
}


static ngx_http_ws_snap_t *
ngx_http_ws_snapshot(ngx_http_request_t *r)
{
    u_char                *p;
    ngx_uint_t             log_off;
    ngx_http_ws_snap_t    *snap;
    ngx_http_ws_writer_t   w;

    /* without an access log line the snapshot serves error log lines only */

    log_off = ngx_http_ws_log_off(r->main_conf, r->loc_conf);

    w.pos = NULL;
    w.size = 0;

    ngx_http_ws_write_snap(&w, NULL, r, log_off);

    p = ngx_alloc(sizeof(ngx_http_ws_snap_t) + w.size, r->connection->log);
    if (p == NULL) {
        return NULL;
    }

    snap = (ngx_http_ws_snap_t *) p;
    ngx_memzero(snap, sizeof(ngx_http_ws_snap_t));

    w.pos = p + sizeof(ngx_http_ws_snap_t);
    w.size = 0;

    ngx_http_ws_write_snap(&w, snap, r, log_off);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "ws: request detached, snapshot of %uz bytes",
                   sizeof(ngx_http_ws_snap_t) + w.size);

    return snap;
}


static void
ngx_http_ws_write_snap(ngx_http_ws_writer_t *w, ngx_http_ws_snap_t *snap,
    ngx_http_request_t *r, ngx_uint_t log_off)
{
    u_char                     *p, *start;
    uint32_t                    n, len;
    ngx_str_t                   name, *peers;
    ngx_uint_t                  i;
    ngx_connection_t           *c;
    ngx_http_upstream_t        *u;
    ngx_http_variable_t        *var;
    ngx_http_ws_snap_t          dummy;
    ngx_http_variable_value_t  *vv;
    ngx_http_upstream_state_t  *state;
    ngx_http_core_main_conf_t  *cmcf;

    c = r->connection;
    u = r->upstream;

    if (snap == NULL) {
        snap = &dummy;
    }

    /* aligned parts first: upstream states and their peer names */

    state = NULL;
    n = 0;

    if (r->upstream_states && r->upstream_states->nelts) {
        state = r->upstream_states->elts;
        n = r->upstream_states->nelts;
    }

    snap->states = (ngx_http_upstream_state_t *)
                   ngx_http_ws_put(w, state, n * sizeof(*state));
    snap->nstates = n;

    peers = (ngx_str_t *) ngx_http_ws_put(w, NULL, n * sizeof(ngx_str_t));

    /*
     * The realip module's address, put back when the request is freed:
     * still aligned here, the strings follow.  Its $realip_remote_addr and
     * $realip_remote_port are taken now, while the module's context holds
     * the connection's own address.
     */

    if (ngx_http_ws_in_pool(r->pool, c->sockaddr)) {
        snap->sockaddr = (struct sockaddr *)
                         ngx_http_ws_put(w, c->sockaddr, c->socklen);
        (void) ngx_http_ws_put(w, NULL,
                               ngx_align(c->socklen, sizeof(void *))
                               - c->socklen);
        snap->socklen = c->socklen;
        snap->addr_text = c->addr_text;

#if (NGX_HTTP_REALIP)
        if (w->pos == NULL && !log_off) {
            ngx_http_ws_realip_vars(r);
        }
#endif
    }

    for (i = 0; i < n; i++) {
        if (state[i].peer == NULL) {
            if (w->pos) {
                snap->states[i].peer = NULL;
            }

            continue;
        }

        if (w->pos) {
            snap->states[i].peer = &peers[i];
            ngx_http_ws_put_str(w, &peers[i], state[i].peer);

        } else {
            ngx_http_ws_put_str(w, &name, state[i].peer);
        }
    }


    snap->http_connection = r->http_connection;
    snap->main_conf = r->main_conf;
    snap->srv_conf = r->srv_conf;
    snap->loc_conf = r->loc_conf;

    ngx_http_ws_put_str(w, &snap->request_line, &r->request_line);
    ngx_http_ws_put_str(w, &snap->method_name, &r->method_name);
    ngx_http_ws_put_str(w, &snap->http_protocol, &r->http_protocol);
    ngx_http_ws_put_str(w, &snap->unparsed_uri, &r->unparsed_uri);
    ngx_http_ws_put_str(w, &snap->uri, &r->uri);
    ngx_http_ws_put_str(w, &snap->args, &r->args);
    ngx_http_ws_put_str(w, &snap->exten, &r->exten);
    ngx_http_ws_put_str(w, &snap->schema, &r->schema);
    ngx_http_ws_put_str(w, &snap->server, &r->headers_in.server);

    /* "upstream: ..." of error log lines, as nginx writes it */

    if (u->peer.name) {
        len = u->schema.len + u->peer.name->len + 1 + u->uri.len;
        start = ngx_http_ws_put(w, NULL, len);

        if (start) {
            p = ngx_cpymem(start, u->schema.data, u->schema.len);
            p = ngx_cpymem(p, u->peer.name->data, u->peer.name->len);

#if (NGX_HAVE_UNIX_DOMAIN)
            if (u->peer.sockaddr && u->peer.sockaddr->sa_family == AF_UNIX) {
                *p++ = ':';
            }
#endif

            if (u->uri.len) {
                p = ngx_cpymem(p, u->uri.data, u->uri.len);
            }

            snap->upstream.data = start;
            snap->upstream.len = p - start;
        }
    }

    snap->start_sec = r->start_sec;
    snap->start_msec = r->start_msec;
    snap->request_length = r->request_length;
    snap->header_size = r->header_size;
    snap->method = r->method;
    snap->http_version = r->http_version;
    snap->http_major = r->http_major;
    snap->http_minor = r->http_minor;
    snap->status = r->headers_out.status;
    snap->valid_unparsed_uri = r->valid_unparsed_uri;
    snap->log_off = log_off;

    if (log_off) {
        /* the header lists and the variables are for the access log */
        return;
    }

    snap->nheaders_in = ngx_http_ws_put_list(w, &snap->headers_in,
                                             &r->headers_in.headers);
    snap->nheaders_out = ngx_http_ws_put_list(w, &snap->headers_out,
                                              &r->headers_out.headers);
    snap->nupstream_headers = ngx_http_ws_put_list(w, &snap->upstream_headers,
                                                   &u->headers_in.headers);

    /*
     * Cacheable variables keep the value they had during the request;
     * the others are evaluated when the line is written.
     */

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);
    var = cmcf->variables.elts;
    vv = r->variables;

    snap->vars = w->pos;
    snap->nvars = 0;

    for (i = 0; i < cmcf->variables.nelts; i++) {

        if ((var[i].flags & NGX_HTTP_VAR_NOCACHEABLE) || vv[i].no_cacheable
            || !(vv[i].valid || vv[i].not_found))
        {
            continue;
        }

        n = (uint32_t) i;
        len = vv[i].not_found ? NGX_HTTP_WS_VAR_NOT_FOUND : vv[i].len;

        (void) ngx_http_ws_put(w, &n, sizeof(uint32_t));
        (void) ngx_http_ws_put(w, &len, sizeof(uint32_t));

        if (!vv[i].not_found) {
            (void) ngx_http_ws_put(w, vv[i].data, vv[i].len);
        }

        snap->nvars++;
    }
}


#if (NGX_HTTP_REALIP)

static void
ngx_http_ws_realip_vars(ngx_http_request_t *r)
{
    ngx_str_t    name;
    ngx_uint_t   key;

    /* evaluated and cached, if indexed: the snapshot keeps their values */

    ngx_str_set(&name, "realip_remote_addr");
    key = ngx_hash_key(name.data, name.len);
    (void) ngx_http_get_variable(r, &name, key);

    ngx_str_set(&name, "realip_remote_port");
    key = ngx_hash_key(name.data, name.len);
    (void) ngx_http_get_variable(r, &name, key);
}

#endif


static u_char *
ngx_http_ws_put(ngx_http_ws_writer_t *w, void *data, size_t len)
{
    u_char  *p;

    if (w->pos == NULL) {
        w->size += len;
        return NULL;
    }

    p = w->pos;

    if (data && len) {
        ngx_memcpy(p, data, len);
    }

    w->pos += len;
    w->size += len;

    return p;
}


static void
ngx_http_ws_put_str(ngx_http_ws_writer_t *w, ngx_str_t *dst, ngx_str_t *src)
{
    u_char  *p;

    /* NUL-terminated, as nginx's request strings often are */

    p = ngx_http_ws_put(w, NULL, src->len + 1);

    if (p == NULL) {
        return;
    }

    if (src->len) {
        ngx_memcpy(p, src->data, src->len);
    }

    p[src->len] = '\0';

    dst->len = src->len;
    dst->data = src->data ? p : NULL;
}


static uint32_t
ngx_http_ws_put_list(ngx_http_ws_writer_t *w, u_char **dst, ngx_list_t *list)
{
    uint32_t          n, len[2];
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    /* each header: key length, value length, key, NUL, value, NUL */

    *dst = w->pos;
    n = 0;

    if (list->nalloc == 0) {
        return 0;
    }

    for (h = ngx_http_ws_first_header(list, &part);
         h;
         h = ngx_http_ws_next_header(h, &part))
    {
        if (h->hash == 0) {
            continue;
        }

        len[0] = (uint32_t) h->key.len;
        len[1] = (uint32_t) h->value.len;

        (void) ngx_http_ws_put(w, len, sizeof(len));

        if (w->pos) {
            if (len[0]) {
                w->pos = ngx_cpymem(w->pos, h->key.data, len[0]);
            }

            *w->pos++ = '\0';

            if (len[1]) {
                w->pos = ngx_cpymem(w->pos, h->value.data, len[1]);
            }

            *w->pos++ = '\0';
        }

        w->size += len[0] + len[1] + 2;
        n++;
    }

    return n;
}


static ngx_uint_t
ngx_http_ws_in_pool(ngx_pool_t *pool, void *p)
{
    ngx_pool_t  *b;

    for (b = pool; b; b = b->d.next) {
        if ((u_char *) p >= (u_char *) b && (u_char *) p < b->d.end) {
            return 1;
        }
    }

    return 0;
}


static void
ngx_http_ws_free_header_buffers(ngx_connection_t *c,
    ngx_http_connection_t *hc)
{
    ngx_buf_t  *b;

    /*
     * As nginx does for a keepalive connection: the header buffers go back
     * to the system.  Bytes the client sent after the request were moved
     * into the relay at the upgrade.
     */

    b = c->buffer;

    if (b && b->start) {
        (void) ngx_pfree(c->pool, b->start);
        b->start = NULL;
        b->pos = NULL;
        b->last = NULL;
        b->end = NULL;
    }

    ngx_http_ws_free_hc_bufs(c, hc->free);
    hc->free = NULL;

    ngx_http_ws_free_hc_bufs(c, hc->busy);
    hc->busy = NULL;
    hc->nbusy = 0;
}


static void
ngx_http_ws_free_hc_bufs(ngx_connection_t *c, ngx_chain_t *cl)
{
    ngx_chain_t  *ln;

    while (cl) {
        ln = cl;
        cl = cl->next;
        (void) ngx_pfree(c->pool, ln->buf->start);
        ngx_free_chain(c->pool, ln);
    }
}




void
ngx_http_ws_log_request(ngx_http_ws_tunnel_t *t)
{
    socklen_t                   socklen;
    ngx_str_t                   addr_text;
    ngx_uint_t                  i, n;
    ngx_connection_t           *c;
    struct sockaddr            *sockaddr;
    ngx_http_cleanup_t         *cln;
    ngx_http_request_t         *r;
    ngx_http_ws_snap_t         *snap;
    ngx_http_handler_pt        *log_handler;
    ngx_http_log_ctx_t         *lctx;
    ngx_http_core_main_conf_t  *cmcf;

    c = t->connection;

    snap = t->u.detached.snap;

    if (snap->log_off) {
        return;
    }

    r = ngx_http_ws_log_rebuild(t);

    if (r == NULL) {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "ws: no memory for the access log line");
        return;
    }

    sockaddr = c->sockaddr;
    socklen = c->socklen;
    addr_text = c->addr_text;

    if (snap->sockaddr) {
        c->sockaddr = snap->sockaddr;
        c->socklen = snap->socklen;
        c->addr_text = snap->addr_text;
    }

    lctx = c->log->data;
    lctx->request = NULL;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    log_handler = cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.elts;
    n = cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.nelts;

    for (i = 0; i < n; i++) {
        log_handler[i](r);
    }

    c->sockaddr = sockaddr;
    c->socklen = socklen;
    c->addr_text = addr_text;

    /* as ngx_http_free_request() does */

    for (cln = r->cleanup; cln; cln = cln->next) {
        if (cln->handler) {
            cln->handler(cln->data);
        }
    }

    ngx_destroy_pool(r->pool);
}


static ngx_uint_t
ngx_http_ws_log_off(void **main_conf, void **loc_conf)
{
    void                       *llcf;
    ngx_uint_t                  i, n;
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    /*
     * Whether the log phase would do nothing, so that the snapshot keeps
     * no headers and variables and the request is not rebuilt at the
     * end: its one handler is ngx_http_log_module's (which
     * always installs it; another module's handler makes two; ws_status's
     * counts refused handshakes only), and the location has "access_log
     * off".  That handler returns at once then, and the first member of
     * the module's location configuration, the array of logs, is NULL:
     * "off" leaves it unset, and the merge gives every location without
     * "off" a log.
     */

    cmcf = main_conf[ngx_http_core_module.ctx_index];

    h = cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.elts;
    n = 0;

    for (i = 0; i < cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.nelts; i++) {
        if (h[i] != ngx_http_ws_status_log_handler) {
            n++;
        }
    }

    if (n != 1) {
        return 0;
    }

    llcf = loc_conf[ngx_http_log_module.ctx_index];

    return *(ngx_array_t **) llcf == NULL;
}


static ngx_http_request_t *
ngx_http_ws_log_rebuild(ngx_http_ws_tunnel_t *t)
{
    u_char                     *p;
    uint32_t                    index, len;
    ngx_uint_t                  i;
    ngx_pool_t                 *pool;
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_http_ws_ctx_t          *ctx;
    ngx_http_ws_snap_t         *snap;
    ngx_http_upstream_t        *u;
    ngx_http_upstream_state_t  *state;
    ngx_http_core_srv_conf_t   *cscf;
    ngx_http_core_main_conf_t  *cmcf;
    ngx_http_variable_value_t  *vv;

    c = t->connection;
    snap = t->u.detached.snap;

    cscf = snap->srv_conf[ngx_http_core_module.ctx_index];
    cmcf = snap->main_conf[ngx_http_core_module.ctx_index];

    pool = ngx_create_pool(cscf->request_pool_size, c->log);
    if (pool == NULL) {
        return NULL;
    }

    r = ngx_pcalloc(pool, sizeof(ngx_http_request_t));
    if (r == NULL) {
        goto failed;
    }

    /* as ngx_http_alloc_request(), without the counters of new requests */

    r->pool = pool;
    r->http_connection = snap->http_connection;
    r->signature = NGX_HTTP_MODULE;
    r->connection = c;

    r->main_conf = snap->main_conf;
    r->srv_conf = snap->srv_conf;
    r->loc_conf = snap->loc_conf;

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    r->header_in = ngx_calloc_buf(pool);
    if (r->header_in == NULL) {
        goto failed;
    }

    r->ctx = ngx_pcalloc(pool, sizeof(void *) * ngx_http_max_module);
    if (r->ctx == NULL) {
        goto failed;
    }

    r->variables = ngx_pcalloc(pool, cmcf->variables.nelts
                                     * sizeof(ngx_http_variable_value_t));
    if (r->variables == NULL) {
        goto failed;
    }

    r->main = r;

    /* a header handler that fails can only drop this reference */
    r->count = 2;
    r->header_sent = 1;
    r->logged = 1;

    r->start_sec = snap->start_sec;
    r->start_msec = snap->start_msec;
    r->method = snap->method;
    r->http_version = snap->http_version;
    r->http_major = snap->http_major;
    r->http_minor = snap->http_minor;
    r->request_length = snap->request_length;
    r->header_size = snap->header_size;
    r->valid_unparsed_uri = snap->valid_unparsed_uri;

    r->request_line = snap->request_line;
    r->method_name = snap->method_name;
    r->http_protocol = snap->http_protocol;
    r->unparsed_uri = snap->unparsed_uri;
    r->uri = snap->uri;
    r->args = snap->args;
    r->exten = snap->exten;
    r->schema = snap->schema;

    r->headers_in.server = snap->server;
    r->headers_in.content_length_n = -1;
    r->headers_in.keep_alive_n = -1;
    r->headers_out.content_length_n = -1;
    r->headers_out.last_modified_time = -1;
    r->headers_out.status = snap->status;

    r->uri_changes = NGX_HTTP_MAX_URI_CHANGES + 1;
    r->subrequests = NGX_HTTP_MAX_SUBREQUESTS + 1;
    r->http_state = NGX_HTTP_PROCESS_REQUEST_STATE;

    if (ngx_list_init(&r->headers_out.trailers, pool, 1,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        goto failed;
    }

    if (ngx_http_ws_get_list(r, &r->headers_in.headers, snap->headers_in,
                             snap->nheaders_in, 1)
        != NGX_OK
        || ngx_http_ws_get_list(r, &r->headers_out.headers, snap->headers_out,
                                snap->nheaders_out, 0)
           != NGX_OK)
    {
        goto failed;
    }

    /* $upstream_http_*: the backend's 101 headers */

    u = ngx_pcalloc(pool, sizeof(ngx_http_upstream_t));
    if (u == NULL) {
        goto failed;
    }

    if (ngx_http_ws_get_list(r, &u->headers_in.headers,
                             snap->upstream_headers,
                             snap->nupstream_headers, 0)
        != NGX_OK
        || ngx_list_init(&u->headers_in.trailers, pool, 1,
                         sizeof(ngx_table_elt_t))
           != NGX_OK)
    {
        goto failed;
    }

    u->headers_in.content_length_n = -1;
    u->headers_in.last_modified_time = -1;
    r->upstream = u;

    /* $upstream_addr, $upstream_response_time... */

    r->upstream_states = ngx_array_create(pool, ngx_max(snap->nstates, 1),
                                          sizeof(ngx_http_upstream_state_t));
    if (r->upstream_states == NULL) {
        goto failed;
    }

    for (i = 0; i < snap->nstates; i++) {
        state = ngx_array_push(r->upstream_states);
        *state = snap->states[i];
    }

    if (snap->nstates) {
        state = &((ngx_http_upstream_state_t *)
                  r->upstream_states->elts)[snap->nstates - 1];

        if (state->response_time == (ngx_msec_t) -1) {
            state->response_time = ngx_current_msec
                                   - t->u.detached.peer_start;
            state->bytes_sent = t->u.detached.peer_sent;
        }
    }

    /* the values cacheable variables had */

    p = snap->vars;
    vv = r->variables;

    for (i = 0; i < snap->nvars; i++) {
        p = ngx_http_ws_get(p, &index, sizeof(uint32_t));
        p = ngx_http_ws_get(p, &len, sizeof(uint32_t));

        if (len == NGX_HTTP_WS_VAR_NOT_FOUND) {
            vv[index].not_found = 1;
            continue;
        }

        vv[index].valid = 1;
        vv[index].len = len;
        vv[index].data = p;
        p += len;
    }

    /* $ws_* */

    ctx = ngx_pcalloc(pool, sizeof(ngx_http_ws_ctx_t));
    if (ctx == NULL) {
        goto failed;
    }

    ctx->request = r;
    ctx->tunnel = t;

    ngx_http_set_ctx(r, ctx, ngx_http_ws_module);

    return r;

failed:

    ngx_destroy_pool(pool);

    return NULL;
}


static ngx_int_t
ngx_http_ws_get_list(ngx_http_request_t *r, ngx_list_t *list, u_char *p,
    ngx_uint_t n, ngx_uint_t in)
{
    uint32_t                    len[2];
    ngx_uint_t                  i;
    ngx_table_elt_t            *h;
    ngx_http_header_t          *hh;
    ngx_http_core_main_conf_t  *cmcf;

    if (ngx_list_init(list, r->pool, ngx_max(n, 1), sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    for (i = 0; i < n; i++) {
        p = ngx_http_ws_get(p, len, sizeof(len));

        h = ngx_list_push(list);
        if (h == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(h, sizeof(ngx_table_elt_t));

        h->key.len = len[0];
        h->key.data = p;
        p += len[0] + 1;

        h->value.len = len[1];
        h->value.data = p;
        p += len[1] + 1;

        h->lowcase_key = ngx_pnalloc(r->pool, h->key.len);
        if (h->lowcase_key == NULL) {
            return NGX_ERROR;
        }

        h->hash = ngx_hash_strlow(h->lowcase_key, h->key.data, h->key.len);

        if (!in) {
            h->hash = 1;
            continue;
        }

        /* the request's header pointers ($http_host, $cookie_*, ...) */

        hh = ngx_hash_find(&cmcf->headers_in_hash, h->hash, h->lowcase_key,
                           h->key.len);

        if (hh == NULL) {
            continue;
        }

        if (hh->offset == offsetof(ngx_http_headers_in_t, host)) {
            /* validated already; r->headers_in.server is set */
            if (r->headers_in.host == NULL) {
                r->headers_in.host = h;
            }

            continue;
        }

        if (hh->handler(r, h, hh->offset) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static u_char *
ngx_http_ws_get(u_char *p, void *data, size_t len)
{
    ngx_memcpy(data, p, len);

    return p + len;
}


static void
ngx_http_ws_set_lingering_close(ngx_connection_t *c)
{
    ngx_event_t           *rev, *wev;
    ngx_http_ws_linger_t  *lg;

    /* as ngx_http_set_lingering_close() does for a request */

    lg = c->data;

#if (NGX_HTTP_SSL)
    if (c->ssl) {
        ngx_int_t  rc;

        c->ssl->shutdown_without_free = 1;

        rc = ngx_ssl_shutdown(c);

        if (rc == NGX_ERROR) {
            ngx_http_close_connection(c);
            return;
        }

        if (rc == NGX_AGAIN) {
            c->ssl->handler = ngx_http_ws_set_lingering_close;
            return;
        }
    }
#endif

    rev = c->read;
    rev->handler = ngx_http_ws_lingering_handler;

    if (rev->timer_set) {
        ngx_del_timer(rev);
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_http_close_connection(c);
        return;
    }

    wev = c->write;
    wev->handler = ngx_http_empty_handler;

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    if (wev->active && (ngx_event_flags & NGX_USE_LEVEL_EVENT)) {
        if (ngx_del_event(wev, NGX_WRITE_EVENT, 0) != NGX_OK) {
            ngx_http_close_connection(c);
            return;
        }
    }

    if (ngx_shutdown_socket(c->fd, NGX_WRITE_SHUTDOWN) == -1) {
        ngx_connection_error(c, ngx_socket_errno,
                             ngx_shutdown_socket_n " failed");
        ngx_http_close_connection(c);
        return;
    }

    c->close = 0;
    ngx_reusable_connection(c, 1);

    ngx_add_timer(rev, lg->clcf->lingering_timeout);

    if (rev->ready) {
        ngx_http_ws_lingering_handler(rev);
    }
}


static void
ngx_http_ws_lingering_handler(ngx_event_t *rev)
{
    ssize_t                n;
    ngx_msec_t             timer;
    ngx_connection_t      *c;
    ngx_http_ws_linger_t  *lg;
    u_char                 buffer[NGX_HTTP_LINGERING_BUFFER_SIZE];

    c = rev->data;
    lg = c->data;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "ws lingering close handler");

    if (rev->timedout || c->close) {
        ngx_http_close_connection(c);
        return;
    }

    timer = (ngx_msec_t) lg->lingering_time - (ngx_msec_t) ngx_time();
    if ((ngx_msec_int_t) timer <= 0) {
        ngx_http_close_connection(c);
        return;
    }

    do {
        n = c->recv(c, buffer, NGX_HTTP_LINGERING_BUFFER_SIZE);

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_http_close_connection(c);
            return;
        }

    } while (rev->ready);

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_http_close_connection(c);
        return;
    }

    timer *= 1000;

    if (timer > lg->clcf->lingering_timeout) {
        timer = lg->clcf->lingering_timeout;
    }

    ngx_add_timer(rev, timer);
}


void
ngx_http_ws_close_client(ngx_connection_t *c, ngx_http_core_loc_conf_t *clcf)
{
    ngx_http_ws_linger_t  *lg;

    /*
     * The client connection after the end of a detached WebSocket: closed
     * at once, or, with clcf, after nginx's lingering close, so that the
     * client's close reply is not lost to a reset.
     */

    c->log->handler = ngx_http_ws_linger_log_error;

    if (clcf == NULL) {
        ngx_http_close_connection(c);
        return;
    }

    lg = ngx_palloc(c->pool, sizeof(ngx_http_ws_linger_t));
    if (lg == NULL) {
        ngx_http_close_connection(c);
        return;
    }

    lg->clcf = clcf;
    lg->lingering_time = ngx_time() + (time_t) (clcf->lingering_time / 1000);

    c->data = lg;

    ngx_http_ws_set_lingering_close(c);
}


static u_char *
ngx_http_ws_linger_log_error(ngx_log_t *log, u_char *buf, size_t len)
{
    u_char              *p;
    ngx_http_log_ctx_t  *lctx;

    if (log->action) {
        p = ngx_snprintf(buf, len, " while %s", log->action);
        len -= p - buf;
        buf = p;
    }

    lctx = log->data;

    return ngx_snprintf(buf, len, ", client: %V, server: %V",
                        &lctx->connection->addr_text,
                        &lctx->connection->listening->addr_text);
}


u_char *
ngx_http_ws_log_error(ngx_log_t *log, u_char *buf, size_t len)
{
    u_char                    *p;
    ngx_connection_t          *c;
    ngx_http_log_ctx_t        *lctx;
    ngx_http_ws_snap_t        *snap;
    ngx_http_ws_tunnel_t      *t;
    ngx_http_core_srv_conf_t  *cscf;

    /* the context nginx gives a request's lines, from the snapshot */

    if (log->action) {
        p = ngx_snprintf(buf, len, " while %s", log->action);
        len -= p - buf;
        buf = p;
    }

    lctx = log->data;
    c = lctx->connection;

    t = c->data;
    /* the log handler of a detached tunnel's connection only */
    snap = t ? t->u.detached.snap : NULL;

    p = ngx_snprintf(buf, len, ", client: %V",
                     (snap && snap->sockaddr) ? &snap->addr_text
                                              : &c->addr_text);
    len -= p - buf;
    buf = p;

    if (snap == NULL) {
        return ngx_snprintf(buf, len, ", server: %V",
                            &c->listening->addr_text);
    }

    cscf = snap->srv_conf[ngx_http_core_module.ctx_index];

    p = ngx_snprintf(buf, len, ", server: %V, request: \"%V\"",
                     &cscf->server_name, &snap->request_line);
    len -= p - buf;
    buf = p;

    if (snap->upstream.len) {
        p = ngx_snprintf(buf, len, ", upstream: \"%V\"", &snap->upstream);
        len -= p - buf;
        buf = p;
    }

    if (snap->server.len) {
        p = ngx_snprintf(buf, len, ", host: \"%V\"", &snap->server);
        buf = p;
    }

    return buf;
}
