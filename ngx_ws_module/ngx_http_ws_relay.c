
/*
 * Copyright (C) the ngx_ws authors
 *
 * The frame relay: takes the upgraded connection over from the upstream
 * machinery (see docs/design.md, "Taking the upgraded connection over") and
 * moves validated frames in both directions with bounded buffers.
 */


#include "ngx_http_ws_module.h"


#define ngx_http_ws_dir_to(t, side)    (&(t)->dir[1 - (side)])

/*
 * With edge-triggered events (epoll, kqueue) ngx_handle_read_event() and
 * ngx_handle_write_event() only act on an event that is neither active
 * nor ready: the relay calls them only then, twice per direction and
 * event otherwise.
 */

#define ngx_http_ws_event_idle(ev)                                           \
    (!(ngx_event_flags & NGX_USE_CLEAR_EVENT)                                \
     || (!(ev)->active && !(ev)->ready))


static ngx_event_handler_pt ngx_http_ws_handler_of(ngx_connection_t *c);
static void ngx_http_ws_attached_handler(ngx_event_t *ev);
static void ngx_http_ws_run(ngx_http_ws_tunnel_t *t, ngx_event_t *ev);
static void ngx_http_ws_finish(ngx_http_ws_tunnel_t *t);
static ngx_uint_t ngx_http_ws_head_pending(ngx_http_ws_tunnel_t *t);
static void ngx_http_ws_close_timeout(ngx_event_t *ev);
static void ngx_http_ws_process(ngx_http_ws_tunnel_t *t);
static void ngx_http_ws_relay(ngx_http_ws_tunnel_t *t, ngx_uint_t i);
static void ngx_http_ws_scanned(ngx_http_ws_tunnel_t *t, ngx_uint_t i,
    ngx_int_t rc);
static void ngx_http_ws_side_gone(ngx_http_ws_tunnel_t *t, ngx_uint_t side,
    ngx_uint_t timedout);
static void ngx_http_ws_inject_close(ngx_http_ws_tunnel_t *t,
    ngx_uint_t side, ngx_uint_t code);
static void ngx_http_ws_closing(ngx_http_ws_tunnel_t *t, ngx_uint_t by,
    ngx_uint_t code);
static ngx_int_t ngx_http_ws_done(ngx_http_ws_tunnel_t *t);
static void ngx_http_ws_finalize(ngx_http_ws_tunnel_t *t);
static ngx_int_t ngx_http_ws_alloc(ngx_http_ws_dir_t *d, size_t size,
    ngx_log_t *log);
static void ngx_http_ws_free(ngx_http_ws_dir_t *d);
static void ngx_http_ws_cleanup(void *data);


static const char  *ngx_http_ws_side_name[] = { "client", "upstream" };


/*
 * Payload buffers are taken when bytes arrive and given back as soon as
 * a direction's buffer is empty.  A few are kept per worker so that a busy
 * connection does not call malloc() for every read.
 */

#define NGX_HTTP_WS_CACHED_BUFS  64

typedef struct ngx_http_ws_free_buf_s  ngx_http_ws_free_buf_t;

struct ngx_http_ws_free_buf_s {
    ngx_http_ws_free_buf_t  *next;
    size_t                   size;
};

static ngx_http_ws_free_buf_t  *ngx_http_ws_free_bufs;
static ngx_uint_t               ngx_http_ws_nfree_bufs;


ngx_int_t
ngx_http_ws_relay_init(void *data)
{
    ngx_http_request_t  *r = data;

    size_t                   n;
    ngx_uint_t               i;
    ngx_time_t              *tp;
    ngx_connection_t        *c, *pc;
    ngx_pool_cleanup_t      *cln;
    ngx_http_ws_dir_t       *d;
    ngx_http_upstream_t     *u;
    ngx_http_ws_ctx_t       *ctx;
    ngx_http_ws_tunnel_t    *t;
    ngx_http_ws_loc_conf_t  *wlcf;

    /*
     * Called by the upstream's non-buffered path once the 101 went
     * through the header filters, before any body byte is read or sent.
     */

    ctx = ngx_http_get_module_ctx(r, ngx_http_ws_module);
    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_ws_module);

    u = r->upstream;
    c = r->connection;
    pc = u->peer.connection;

    if (r->headers_out.status != NGX_HTTP_SWITCHING_PROTOCOLS) {
        /* a header filter changed the answer: no tunnel behind it */
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "ws: response status changed to %ui, not upgrading",
                      r->headers_out.status);
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_ws_cleanup;
    cln->data = ctx;

    t = ngx_calloc(sizeof(ngx_http_ws_tunnel_t), c->log);
    if (t == NULL) {
        return NGX_ERROR;
    }

    ctx->tunnel = t;

    t->request = r;
    t->connection = c;
    t->peer = pc;
    t->conf = wlcf;

    r->keepalive = 0;
    c->log->action = "proxying websocket";

    tp = ngx_timeofday();
    t->start_sec = tp->sec;
    t->start_msec = tp->msec;

    for (i = 0; i < 2; i++) {
        d = &t->dir[i];

        ws_parser_init(&d->parser, i == 0, wlcf->validate_utf8,
                       (uint64_t) wlcf->max_frame_size,
                       (uint64_t) wlcf->max_message_size);

        d->src = (i == 0) ? c : pc;
        d->dst = (i == 0) ? pc : c;
    }

    /* client frames that came with the request */

    n = r->header_in->last - r->header_in->pos;

    if (n) {
        d = &t->dir[0];

        if (ngx_http_ws_alloc(d, ngx_max(n, wlcf->buffer_size), c->log)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        d->buf.last = ngx_cpymem(d->buf.last, r->header_in->pos, n);
        d->bytes_in += n;
        r->header_in->pos = r->header_in->last;
    }

    /* backend frames read together with the 101 */

    n = u->buffer.last - u->buffer.pos;

    if (n) {
        d = &t->dir[1];

        if (ngx_http_ws_alloc(d, ngx_max(n, wlcf->buffer_size), c->log)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        d->buf.last = ngx_cpymem(d->buf.last, u->buffer.pos, n);
        d->bytes_in += n;
    }

    /*
     * The rest of the non-buffered path then finds nothing to read into
     * and nothing to write.
     */

    if (u->buffer.start) {
        (void) ngx_pfree(r->pool, u->buffer.start);
    }

    /* the request head sent to the backend is not needed any more */

    if (ctx->request_buf) {
        ngx_free(ctx->request_buf->start);
        ctx->request_buf->start = NULL;
        ctx->request_buf->pos = NULL;
        ctx->request_buf->last = NULL;
        ctx->request_buf->end = NULL;
    }

    u->buffer.start = NULL;
    u->buffer.pos = NULL;
    u->buffer.last = NULL;
    u->buffer.end = NULL;
    u->length = -1;

    if (ngx_tcp_nodelay(pc) != NGX_OK) {
        return NGX_ERROR;
    }

    t->close_timer.handler = ngx_http_ws_close_timeout;
    t->close_timer.data = t;
    t->close_timer.log = c->log;

    /*
     * From now on the events of both connections come to the relay
     * directly; nginx's handlers are kept for a tunnel that ends attached
     * to its request (nginx's non-buffered handler finalizes it).
     */

    t->upstream_done = u->read_event_handler;
    t->request_handler = ngx_http_ws_handler_of(c);
    t->upstream_handler = ngx_http_ws_handler_of(pc);

    ngx_http_ws_set_handlers(c, ngx_http_ws_attached_handler);
    ngx_http_ws_set_handlers(pc, ngx_http_ws_attached_handler);

    /*
     * On a graceful shutdown nginx calls the read handler of "idle"
     * connections with c->close set: the WebSocket then closes with 1001
     * on both sides instead of being cut.
     */

    c->idle = 1;

    /* the relay starts from the event loop, after this call chain */

    ngx_post_event(c->read, &ngx_posted_events);

    return NGX_OK;
}


ngx_int_t
ngx_http_ws_relay_filter(void *data, ssize_t bytes)
{
    ngx_http_request_t  *r = data;

    /* the relay reads the backend itself; nothing may arrive here */

    ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                  "ws: unexpected %z bytes in upstream filter", bytes);

    return NGX_ERROR;
}


static ngx_event_handler_pt
ngx_http_ws_handler_of(ngx_connection_t *c)
{
    /* nginx's handler of the connection, even while SSL swapped one */

#if (NGX_HTTP_SSL)
    if (c->ssl && c->ssl->saved_read_handler) {
        return c->ssl->saved_read_handler;
    }
#endif

    return c->read->handler;
}


static void
ngx_http_ws_attached_handler(ngx_event_t *ev)
{
    ngx_connection_t      *c;
    ngx_http_request_t    *r;
    ngx_http_ws_ctx_t     *ctx;
    ngx_http_ws_tunnel_t  *t;

    /* both connections' data is still the request */

    c = ev->data;
    r = c->data;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    ctx = ngx_http_get_module_ctx(r, ngx_http_ws_module);
    t = ctx->tunnel;

    ngx_http_ws_run(t, ev);

    if (t->finalized) {
        ngx_http_ws_finish(t);
        return;
    }

    /*
     * Once the 101 is out, the request is freed, unless the balancer
     * keeps state in it (t->stay is set then).
     */

    if (!ngx_http_ws_head_pending(t) && ngx_http_ws_detach(t) == NGX_OK) {
        return;
    }

    ngx_http_run_posted_requests(c);
}


void
ngx_http_ws_event_handler(ngx_event_t *ev)
{
    ngx_connection_t      *c;
    ngx_http_ws_tunnel_t  *t;

    /* a detached tunnel: both connections' data is the tunnel */

    c = ev->data;
    t = c->data;

    ngx_http_ws_run(t, ev);

    if (t->finalized) {
        ngx_http_ws_finish(t);
    }
}


static void
ngx_http_ws_run(ngx_http_ws_tunnel_t *t, ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = t->connection;

    if (ev != c->read || !c->close) {
        ngx_http_ws_process(t);
        return;
    }

    c->close = 0;

    if (t->shutdown) {
        /* worker_shutdown_timeout expired */
        ngx_http_ws_finalize(t);
        return;
    }

    t->shutdown = 1;
    c->idle = 0;

    ngx_log_error(NGX_LOG_INFO, c->log, 0, "ws: closing on worker shutdown");

    ngx_http_ws_closing(t, NGX_HTTP_WS_BY_PROXY, WS_CLOSE_GOING_AWAY);
    ngx_http_ws_inject_close(t, NGX_HTTP_WS_CLIENT, WS_CLOSE_GOING_AWAY);
    ngx_http_ws_inject_close(t, NGX_HTTP_WS_UPSTREAM, WS_CLOSE_GOING_AWAY);

    ngx_http_ws_process(t);
}


static void
ngx_http_ws_finish(ngx_http_ws_tunnel_t *t)
{
    ngx_connection_t     *c;
    ngx_http_request_t   *r;
    ngx_http_upstream_t  *u;

    if (t->request == NULL) {
        /* detached: frees the tunnel */
        ngx_http_ws_close(t);
        return;
    }

    r = t->request;
    c = t->connection;
    u = r->upstream;

    ngx_http_ws_set_handlers(c, t->request_handler);

    if (u->peer.connection) {
        ngx_http_ws_set_handlers(u->peer.connection, t->upstream_handler);
        u->peer.connection->read->timedout = 0;
    }

    if (!t->side[NGX_HTTP_WS_CLIENT].dead) {
        /* the client may still send its close reply: do not reset it */
        r->lingering_close = 1;
    }

    /*
     * The end goes the way of any non-buffered response that is complete:
     * with nothing left to send and u->length == 0, nginx's handler
     * finalizes the upstream request (frees the peer, closes the backend
     * connection) and then the client's request, which writes the access
     * log line and frees the tunnel (ngx_http_ws_cleanup()).
     */

    u->length = 0;
    u->read_event_handler = t->upstream_done;

    t->upstream_done(r, u);

    ngx_http_run_posted_requests(c);
}


static ngx_uint_t
ngx_http_ws_head_pending(ngx_http_ws_tunnel_t *t)
{
    /* the 101 response header is not all written yet */

    return t->request
           && (t->request->out
               || (t->connection->buffered & NGX_LOWLEVEL_BUFFERED));
}


static void
ngx_http_ws_close_timeout(ngx_event_t *ev)
{
    ngx_connection_t      *c;
    ngx_http_ws_tunnel_t  *t;

    t = ev->data;
    c = t->connection;

    if (t->request) {
        ngx_http_set_log_request(c->log, t->request);
    }

    ngx_log_error(NGX_LOG_INFO, c->log, 0, "ws: close handshake timed out");

    ngx_http_ws_finalize(t);
    ngx_http_ws_finish(t);
}


static void
ngx_http_ws_process(ngx_http_ws_tunnel_t *t)
{
    ngx_int_t                 rc;
    ngx_uint_t                i, sent;
    ngx_event_t              *wev;
    ngx_http_ws_dir_t        *d;

    if (t->finalized || t->processing) {
        return;
    }

    t->processing = 1;

    /* send timeouts */

    for (i = 0; i < 2; i++) {
        d = &t->dir[i];
        wev = d->dst->write;

        if (wev->timedout) {
            wev->timedout = 0;
            ngx_http_ws_side_gone(t, 1 - i, 1);
        }

        if (d->src->read->timedout) {
            d->src->read->timedout = 0;
        }
    }

    /* the 101 response header may still wait in r->out */

    if (ngx_http_ws_head_pending(t) && !t->side[NGX_HTTP_WS_CLIENT].dead) {
        rc = ngx_http_write_filter(t->request, NULL);

        if (rc == NGX_ERROR) {
            ngx_http_ws_side_gone(t, NGX_HTTP_WS_CLIENT, 0);
        }
    }

    /*
     * Each direction runs until it can do nothing more; another round is
     * needed only when one direction changed the other's state (a close
     * frame to inject, a peer gone).
     */

    do {
        t->again = 0;

        ngx_http_ws_relay(t, 0);
        ngx_http_ws_relay(t, 1);

    } while (t->again && !t->finalized);

    t->processing = 0;

    /* events and send timers */

    for (i = 0; i < 2; i++) {
        d = &t->dir[i];

        sent = d->sent;
        d->sent = 0;

        if (!t->side[i].dead) {
            if (ngx_http_ws_event_idle(d->src->read)
                && ngx_handle_read_event(d->src->read, 0) != NGX_OK)
            {
                ngx_http_ws_side_gone(t, i, 0);
                continue;
            }

            if (d->src->read->timer_set) {
                ngx_del_timer(d->src->read);
            }
        }

        if (t->side[1 - i].dead) {
            continue;
        }

        wev = d->dst->write;

        if (ngx_http_ws_event_idle(wev)
            && ngx_handle_write_event(wev, 0) != NGX_OK)
        {
            ngx_http_ws_side_gone(t, 1 - i, 0);
            continue;
        }

        if (!wev->ready
            && (d->buf.pos < d->buf.fwd
                || d->inject_len > d->inject_sent
                || (i == 1 && ngx_http_ws_head_pending(t))))
        {
            /* ws_send_timeout: the time a write may make no progress */

            if (!wev->timer_set || sent) {
                ngx_add_timer(wev, t->conf->send_timeout);
            }

        } else if (wev->timer_set) {
            ngx_del_timer(wev);
        }
    }

    if (ngx_http_ws_done(t)) {
        ngx_http_ws_finalize(t);
    }
}


static void
ngx_http_ws_relay(ngx_http_ws_tunnel_t *t, ngx_uint_t i)
{
    ssize_t                  n;
    ngx_int_t                rc;
    ngx_uint_t               progress, dst_side;
    ws_buf_t                *b;
    ws_parser_t             *p;
    ngx_connection_t        *src, *dst;
    ngx_http_ws_dir_t       *d;

    d = &t->dir[i];
    dst_side = 1 - i;

    if (d->mem == NULL
        && d->inject_len == d->inject_sent
        && (t->side[i].dead || !d->src->read->ready)
        && !(d->close_fwd && !t->side[dst_side].close_sent))
    {
        /* nothing held, nothing to inject, nothing to read */
        return;
    }

    b = &d->buf;
    p = &d->parser;
    src = d->src;
    dst = d->dst;

    if (d->mem && b->scan < b->last && p->state != WS_ST_DISCARD) {
        /* bytes that came with the handshake, or held back */
        rc = ws_scan(p, b);
        ngx_http_ws_scanned(t, i, rc);
    }

    do {
        progress = 0;

        /* write what is cleared, then a frame of the proxy's own */

        while (!t->side[dst_side].dead && dst->write->ready
               && !(i == 1 && ngx_http_ws_head_pending(t)))
        {
            if (d->mem && b->pos < b->fwd) {
                n = dst->send(dst, b->pos, b->fwd - b->pos);

                if (n > 0) {
                    b->pos += n;
                    d->bytes_out += n;
                    d->sent = 1;
                    progress = 1;

                    if (b->last == b->end || p->split || p->drop
                        || b->scan < b->last)
                    {
                        /* room may be made, a fragment or a drop follow */
                        rc = ws_scan(p, b);
                        ngx_http_ws_scanned(t, i, rc);
                    }

                    continue;
                }

            } else if (d->inject_len > d->inject_sent
                       && ws_can_inject(p, b))
            {
                n = dst->send(dst, d->inject + d->inject_sent,
                              d->inject_len - d->inject_sent);

                if (n > 0) {
                    d->inject_sent += n;
                    d->bytes_out += n;
                    d->sent = 1;
                    progress = 1;

                    if (d->inject_sent == d->inject_len) {
                        d->inject_frames++;
                        t->side[dst_side].close_sent = 1;
                    }

                    continue;
                }

            } else {
                break;
            }

            if (n == NGX_ERROR) {
                ngx_http_ws_side_gone(t, dst_side, 0);
            }

            break;
        }

        if (d->close_fwd && b->pos == b->fwd) {
            t->side[dst_side].close_sent = 1;
        }

        if (d->mem && ws_buf_empty(b)) {
            ngx_http_ws_free(d);
        }

        /* read, unless the destination has not taken enough yet */

        if (t->side[i].dead || !src->read->ready) {
            continue;
        }

        if (d->mem == NULL) {
            if (ngx_http_ws_alloc(d, t->conf->buffer_size, src->log)
                != NGX_OK)
            {
                ngx_http_ws_side_gone(t, i, 0);
                break;
            }
        }

        if (b->last == b->end) {
            continue;
        }

        n = src->recv(src, b->last, b->end - b->last);

        if (n == NGX_AGAIN) {
            if (ws_buf_empty(b)) {
                ngx_http_ws_free(d);
            }

            continue;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_http_ws_side_gone(t, i, 0);
            break;
        }

        b->last += n;
        d->bytes_in += n;
        progress = 1;

        rc = ws_scan(p, b);
        ngx_http_ws_scanned(t, i, rc);

    } while (progress && !t->finalized);
}


static void
ngx_http_ws_scanned(ngx_http_ws_tunnel_t *t, ngx_uint_t i, ngx_int_t rc)
{
    ngx_uint_t          src_side, dst_side, level;
    ngx_http_ws_dir_t  *d;

    if (rc == WS_SCAN_OK) {
        return;
    }

    t->again = 1;

    d = &t->dir[i];
    src_side = i;
    dst_side = 1 - i;

    if (rc == WS_SCAN_CLOSE) {

        /* a valid close frame from src */

        t->side[src_side].close_recv = 1;

        if (!d->parser.drop) {
            d->close_fwd = 1;
            t->side[dst_side].close_queued = 1;
        }

        ngx_http_ws_closing(t, src_side == NGX_HTTP_WS_CLIENT
                                 ? NGX_HTTP_WS_BY_CLIENT
                                 : NGX_HTTP_WS_BY_UPSTREAM,
                            d->parser.close_code);
        return;
    }

    if (rc != WS_SCAN_ERROR) {
        return;
    }

    if (t->side[src_side].offended || t->side[src_side].close_recv) {

        if (d->parser.state == WS_ST_DISCARD) {
            /* a second violation: its close reply cannot be seen */
            t->side[src_side].close_recv = 1;
        }

        return;
    }

    t->side[src_side].offended = 1;

    if (d->parser.state == WS_ST_DISCARD) {
        /* the stream cannot be followed further: no reply is awaited */
        t->side[src_side].close_recv = 1;
    }

    level = (src_side == NGX_HTTP_WS_CLIENT) ? NGX_LOG_INFO : NGX_LOG_ERR;

    ngx_log_error(level, t->connection->log, 0,
                  "ws: %s sent invalid frame: %s, closing with %ui",
                  ngx_http_ws_side_name[src_side], d->parser.error,
                  (ngx_uint_t) d->parser.error_code);

    /* the offender's close reply is still awaited */

    ngx_http_ws_closing(t, NGX_HTTP_WS_BY_PROXY, d->parser.error_code);

    ngx_http_ws_inject_close(t, src_side, d->parser.error_code);
    ngx_http_ws_inject_close(t, dst_side,
                             src_side == NGX_HTTP_WS_CLIENT
                             ? WS_CLOSE_GOING_AWAY : WS_CLOSE_INTERNAL_ERROR);
}


static void
ngx_http_ws_side_gone(ngx_http_ws_tunnel_t *t, ngx_uint_t side,
    ngx_uint_t timedout)
{
    ngx_uint_t           other, level;
    ngx_connection_t    *c;
    ngx_http_ws_dir_t   *to;
    ngx_http_ws_side_t  *s;

    s = &t->side[side];

    if (s->dead) {
        return;
    }

    s->dead = 1;
    other = 1 - side;
    t->again = 1;
    c = t->connection;
    level = (side == NGX_HTTP_WS_CLIENT) ? NGX_LOG_INFO : NGX_LOG_ERR;

    if (timedout) {
        ngx_log_error(level, c->log, NGX_ETIMEDOUT,
                      "ws: timed out sending to %s",
                      ngx_http_ws_side_name[side]);

    } else if (!s->close_recv) {
        ngx_log_error(level, c->log, 0,
                      "ws: %s closed connection without close frame",
                      ngx_http_ws_side_name[side]);
    }

    if (!s->close_recv) {
        s->close_recv = 1;
        ngx_http_ws_closing(t, timedout ? NGX_HTTP_WS_BY_PROXY
                                 : side == NGX_HTTP_WS_CLIENT
                                   ? NGX_HTTP_WS_BY_CLIENT
                                   : NGX_HTTP_WS_BY_UPSTREAM,
                            WS_CLOSE_ABNORMAL);
    }

    if (side == NGX_HTTP_WS_CLIENT) {
        c->error = 1;
    }

    /* nothing more goes to the side that is gone */

    to = ngx_http_ws_dir_to(t, side);

    ws_discard_output(&to->parser, &to->buf);

    to->inject_len = 0;
    to->inject_sent = 0;

    /* the other side learns that its peer went away */

    ngx_http_ws_inject_close(t, other,
                             side == NGX_HTTP_WS_CLIENT
                             ? WS_CLOSE_GOING_AWAY : WS_CLOSE_INTERNAL_ERROR);
}


static void
ngx_http_ws_inject_close(ngx_http_ws_tunnel_t *t, ngx_uint_t side,
    ngx_uint_t code)
{
    uint32_t             key;
    ngx_int_t            rc;
    ngx_http_ws_dir_t   *d;
    ngx_http_ws_side_t  *s;

    s = &t->side[side];

    if (s->dead || s->close_queued) {
        return;
    }

    s->close_queued = 1;
    t->again = 1;

    d = ngx_http_ws_dir_to(t, side);

    if (side == NGX_HTTP_WS_UPSTREAM) {
        /* a client's frame: masked with an unpredictable key */
        key = (uint32_t) ngx_random();
        d->inject_len = ws_close_frame(d->inject, (unsigned) code,
                                       (u_char *) &key);

    } else {
        d->inject_len = ws_close_frame(d->inject, (unsigned) code, NULL);
    }

    d->inject_sent = 0;

    /* forward nothing more to that side after the current frame */

    ws_stop(&d->parser);

    if (d->mem) {
        rc = ws_scan(&d->parser, &d->buf);
        ngx_http_ws_scanned(t, 1 - side, rc);
    }

    if (d->parser.mid_frame && t->side[1 - side].dead) {

        /*
         * The frame being forwarded can never be completed: a close
         * frame cannot be sent, the connection is closed (1006).
         */

        d->inject_len = 0;
        s->dead = 1;

        if (side == NGX_HTTP_WS_CLIENT) {
            t->connection->error = 1;
        }
    }
}


static void
ngx_http_ws_closing(ngx_http_ws_tunnel_t *t, ngx_uint_t by, ngx_uint_t code)
{
    if (t->initiator != NGX_HTTP_WS_BY_NONE) {
        return;
    }

    t->initiator = by;
    t->close_code = code;

    ngx_add_timer(&t->close_timer, t->conf->close_timeout);
}


static ngx_int_t
ngx_http_ws_done(ngx_http_ws_tunnel_t *t)
{
    ngx_uint_t           i;
    ngx_http_ws_side_t  *s;

    /* each side is gone, or has sent and been sent a close */

    if (t->finalized) {
        return 0;
    }

    for (i = 0; i < 2; i++) {
        s = &t->side[i];

        if (!s->dead && !(s->close_recv && s->close_sent)) {
            return 0;
        }
    }

    return 1;
}


static void
ngx_http_ws_finalize(ngx_http_ws_tunnel_t *t)
{
    ngx_time_t        *tp;
    ngx_connection_t  *c;

    /* the relay is over; ngx_http_ws_finish() closes the connections */

    if (t->finalized) {
        return;
    }

    t->finalized = 1;

    c = t->connection;

    tp = ngx_timeofday();
    t->duration = (ngx_msec_int_t) ((tp->sec - t->start_sec) * 1000
                                    + (tp->msec - t->start_msec));

    if (t->close_timer.timer_set) {
        ngx_del_timer(&t->close_timer);
    }

    ngx_http_ws_free(&t->dir[0]);
    ngx_http_ws_free(&t->dir[1]);

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    c->idle = 0;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0, "ws relay done");
}


static ngx_int_t
ngx_http_ws_alloc(ngx_http_ws_dir_t *d, size_t size, ngx_log_t *log)
{
    u_char                  *mem;
    ngx_http_ws_free_buf_t  *fb, **prev;

    mem = NULL;

    for (prev = &ngx_http_ws_free_bufs, fb = ngx_http_ws_free_bufs;
         fb;
         prev = &fb->next, fb = fb->next)
    {
        if (fb->size == size) {
            *prev = fb->next;
            ngx_http_ws_nfree_bufs--;
            mem = (u_char *) fb;
            break;
        }
    }

    if (mem == NULL) {
        mem = ngx_alloc(WS_HEADROOM + size, log);
        if (mem == NULL) {
            return NGX_ERROR;
        }
    }

    d->mem = mem;
    d->size = size;
    d->buf.start = mem + WS_HEADROOM;
    d->buf.end = d->buf.start + size;

    ws_buf_reset(&d->buf);

    return NGX_OK;
}


static void
ngx_http_ws_free(ngx_http_ws_dir_t *d)
{
    ngx_http_ws_free_buf_t  *fb;

    if (d->mem == NULL) {
        return;
    }

    if (ngx_http_ws_nfree_bufs < NGX_HTTP_WS_CACHED_BUFS) {
        fb = (ngx_http_ws_free_buf_t *) d->mem;
        fb->size = d->size;
        fb->next = ngx_http_ws_free_bufs;
        ngx_http_ws_free_bufs = fb;
        ngx_http_ws_nfree_bufs++;

    } else {
        ngx_free(d->mem);
    }

    d->mem = NULL;
    d->buf.start = NULL;
    d->buf.pos = NULL;
    d->buf.fwd = NULL;
    d->buf.scan = NULL;
    d->buf.last = NULL;
    d->buf.end = NULL;
    d->buf.hold = NULL;
}


void
ngx_http_ws_tunnel_free(ngx_http_ws_tunnel_t *t)
{
    if (t->close_timer.timer_set) {
        ngx_del_timer(&t->close_timer);
    }

    ngx_http_ws_free(&t->dir[0]);
    ngx_http_ws_free(&t->dir[1]);

    ngx_free(t);
}


static void
ngx_http_ws_cleanup(void *data)
{
    ngx_http_ws_ctx_t  *ctx = data;

    ngx_http_ws_tunnel_t  *t;

    /* the request ends while the tunnel is attached to it */

    t = ctx->tunnel;

    if (t == NULL) {
        return;
    }

    ctx->tunnel = NULL;

    ngx_http_ws_tunnel_free(t);
}
