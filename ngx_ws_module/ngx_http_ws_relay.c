
/*
 * Copyright (C) the ngx_ws authors
 *
 * The frame relay: takes the upgraded connection over from the upstream
 * machinery (see docs/design.md, "Taking the upgraded connection over") and
 * moves validated frames in both directions with bounded buffers.
 */


#include "ngx_http_ws_module.h"


#define ngx_http_ws_dir_to(ctx, side)    (&(ctx)->dir[1 - (side)])


static void ngx_http_ws_client_read_event(ngx_event_t *rev);
static void ngx_http_ws_client_handler(ngx_http_request_t *r);
static void ngx_http_ws_upstream_handler(ngx_http_request_t *r,
    ngx_http_upstream_t *u);
static void ngx_http_ws_close_timeout(ngx_event_t *ev);
static void ngx_http_ws_process(ngx_http_ws_ctx_t *ctx);
static void ngx_http_ws_relay(ngx_http_ws_ctx_t *ctx, ngx_uint_t i);
static void ngx_http_ws_scanned(ngx_http_ws_ctx_t *ctx, ngx_uint_t i,
    ngx_int_t rc);
static void ngx_http_ws_side_gone(ngx_http_ws_ctx_t *ctx, ngx_uint_t side,
    ngx_uint_t timedout);
static void ngx_http_ws_inject_close(ngx_http_ws_ctx_t *ctx,
    ngx_uint_t side, ngx_uint_t code);
static void ngx_http_ws_closing(ngx_http_ws_ctx_t *ctx, ngx_uint_t by,
    ngx_uint_t code);
static ngx_int_t ngx_http_ws_done(ngx_http_ws_ctx_t *ctx);
static void ngx_http_ws_finalize(ngx_http_ws_ctx_t *ctx);
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

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_ws_cleanup;
    cln->data = ctx;

    r->keepalive = 0;
    c->log->action = "proxying websocket";

    ctx->upgraded = 1;
    tp = ngx_timeofday();
    ctx->start_sec = tp->sec;
    ctx->start_msec = tp->msec;

    for (i = 0; i < 2; i++) {
        d = &ctx->dir[i];

        ws_parser_init(&d->parser, i == 0, wlcf->validate_utf8,
                       (uint64_t) wlcf->max_frame_size,
                       (uint64_t) wlcf->max_message_size);

        d->src = (i == 0) ? c : pc;
        d->dst = (i == 0) ? pc : c;
    }

    /* client frames that came with the request */

    n = r->header_in->last - r->header_in->pos;

    if (n) {
        d = &ctx->dir[0];

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
        d = &ctx->dir[1];

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

    /* nginx's non-buffered handler, to end the response with at the end */
    ctx->upstream_done = u->read_event_handler;

    u->read_event_handler = ngx_http_ws_upstream_handler;
    u->write_event_handler = ngx_http_ws_upstream_handler;
    r->read_event_handler = ngx_http_ws_client_handler;
    r->write_event_handler = ngx_http_ws_client_handler;

    if (ngx_tcp_nodelay(pc) != NGX_OK) {
        return NGX_ERROR;
    }

    ctx->close_timer.handler = ngx_http_ws_close_timeout;
    ctx->close_timer.data = ctx;
    ctx->close_timer.log = c->log;

    /*
     * On a graceful shutdown nginx calls the read handler of "idle"
     * connections with c->close set: the WebSocket then closes with 1001
     * on both sides instead of being cut.
     */

    ctx->client_read_handler = c->read->handler;
    c->idle = 1;
    c->read->handler = ngx_http_ws_client_read_event;

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


static void
ngx_http_ws_client_read_event(ngx_event_t *rev)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;
    ngx_http_ws_ctx_t   *ctx;

    c = rev->data;
    r = c->data;

    ngx_http_set_log_request(c->log, r);

    ctx = ngx_http_get_module_ctx(r, ngx_http_ws_module);

    if (!c->close) {
        /* nginx's own handler: it calls r->read_event_handler */
        ctx->client_read_handler(rev);
        return;
    }

    c->close = 0;

    if (ctx->shutdown) {
        /* worker_shutdown_timeout expired */
        ngx_http_ws_finalize(ctx);
        ngx_http_run_posted_requests(c);
        return;
    }

    ctx->shutdown = 1;
    c->idle = 0;

    ngx_log_error(NGX_LOG_INFO, c->log, 0, "ws: closing on worker shutdown");

    ngx_http_ws_closing(ctx, NGX_HTTP_WS_BY_PROXY, WS_CLOSE_GOING_AWAY);
    ngx_http_ws_inject_close(ctx, NGX_HTTP_WS_CLIENT, WS_CLOSE_GOING_AWAY);
    ngx_http_ws_inject_close(ctx, NGX_HTTP_WS_UPSTREAM, WS_CLOSE_GOING_AWAY);

    ngx_http_ws_process(ctx);

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_ws_client_handler(ngx_http_request_t *r)
{
    ngx_http_ws_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ws_module);

    ngx_http_ws_process(ctx);
}


static void
ngx_http_ws_upstream_handler(ngx_http_request_t *r, ngx_http_upstream_t *u)
{
    ngx_http_ws_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ws_module);

    ngx_http_ws_process(ctx);
}


static void
ngx_http_ws_close_timeout(ngx_event_t *ev)
{
    ngx_connection_t   *c;
    ngx_http_ws_ctx_t  *ctx;

    ctx = ev->data;
    c = ctx->request->connection;

    ngx_log_error(NGX_LOG_INFO, c->log, 0, "ws: close handshake timed out");

    ngx_http_ws_finalize(ctx);

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_ws_process(ngx_http_ws_ctx_t *ctx)
{
    ngx_int_t                 rc;
    ngx_uint_t                i;
    ngx_event_t              *wev;
    ngx_http_request_t       *r;
    ngx_http_ws_dir_t        *d;
    ngx_http_ws_loc_conf_t   *wlcf;

    r = ctx->request;

    if (ctx->finalized || ctx->processing) {
        return;
    }

    ctx->processing = 1;

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_ws_module);

    /* send timeouts */

    for (i = 0; i < 2; i++) {
        d = &ctx->dir[i];
        wev = d->dst->write;

        if (wev->timedout) {
            wev->timedout = 0;
            ngx_http_ws_side_gone(ctx, 1 - i, 1);
        }

        if (d->src->read->timedout) {
            d->src->read->timedout = 0;
        }
    }

    /* the 101 response header may still wait in r->out */

    if (r->out && !ctx->side[NGX_HTTP_WS_CLIENT].dead) {
        rc = ngx_http_write_filter(r, NULL);

        if (rc == NGX_ERROR) {
            ngx_http_ws_side_gone(ctx, NGX_HTTP_WS_CLIENT, 0);
        }
    }

    /*
     * Each direction runs until it can do nothing more; another round is
     * needed only when one direction changed the other's state (a close
     * frame to inject, a peer gone).
     */

    do {
        ctx->again = 0;

        ngx_http_ws_relay(ctx, 0);
        ngx_http_ws_relay(ctx, 1);

    } while (ctx->again && !ctx->finalized);

    ctx->processing = 0;

    /* events and send timers */

    for (i = 0; i < 2; i++) {
        d = &ctx->dir[i];

        if (!ctx->side[i].dead) {
            if (ngx_handle_read_event(d->src->read, 0) != NGX_OK) {
                ngx_http_ws_side_gone(ctx, i, 0);
                continue;
            }

            if (d->src->read->timer_set) {
                ngx_del_timer(d->src->read);
            }
        }

        if (ctx->side[1 - i].dead) {
            continue;
        }

        wev = d->dst->write;

        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ngx_http_ws_side_gone(ctx, 1 - i, 0);
            continue;
        }

        if (!wev->ready
            && (d->buf.pos < d->buf.fwd
                || d->inject_len > d->inject_sent
                || (i == 1 && r->out)))
        {
            if (!wev->timer_set) {
                ngx_add_timer(wev, wlcf->send_timeout);
            }

        } else if (wev->timer_set) {
            ngx_del_timer(wev);
        }
    }

    if (ngx_http_ws_done(ctx)) {
        ngx_http_ws_finalize(ctx);
    }
}


static void
ngx_http_ws_relay(ngx_http_ws_ctx_t *ctx, ngx_uint_t i)
{
    ssize_t                  n;
    ngx_int_t                rc;
    ngx_uint_t               progress, dst_side;
    ws_buf_t                *b;
    ws_parser_t             *p;
    ngx_connection_t        *src, *dst;
    ngx_http_ws_dir_t       *d;
    ngx_http_ws_loc_conf_t  *wlcf;

    d = &ctx->dir[i];
    b = &d->buf;
    p = &d->parser;
    src = d->src;
    dst = d->dst;
    dst_side = 1 - i;

    if (d->mem && b->scan < b->last && p->state != WS_ST_DISCARD) {
        /* bytes that came with the handshake, or held back */
        rc = ws_scan(p, b);
        ngx_http_ws_scanned(ctx, i, rc);
    }

    do {
        progress = 0;

        /* write what is cleared, then a frame of the proxy's own */

        while (!ctx->side[dst_side].dead && dst->write->ready
               && !(i == 1 && ctx->request->out))
        {
            if (d->mem && b->pos < b->fwd) {
                n = dst->send(dst, b->pos, b->fwd - b->pos);

                if (n > 0) {
                    b->pos += n;
                    d->bytes_out += n;
                    progress = 1;

                    if (b->last == b->end || p->split || p->drop
                        || b->scan < b->last)
                    {
                        /* room may be made, a fragment or a drop follow */
                        rc = ws_scan(p, b);
                        ngx_http_ws_scanned(ctx, i, rc);
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
                    progress = 1;

                    if (d->inject_sent == d->inject_len) {
                        d->inject_frames++;
                        ctx->side[dst_side].close_sent = 1;
                    }

                    continue;
                }

            } else {
                break;
            }

            if (n == NGX_ERROR) {
                ngx_http_ws_side_gone(ctx, dst_side, 0);
            }

            break;
        }

        if (d->close_fwd && b->pos == b->fwd) {
            ctx->side[dst_side].close_sent = 1;
        }

        if (d->mem && ws_buf_empty(b)) {
            ngx_http_ws_free(d);
        }

        /* read, unless the destination has not taken enough yet */

        if (ctx->side[i].dead || !src->read->ready) {
            continue;
        }

        if (d->mem == NULL) {
            wlcf = ngx_http_get_module_loc_conf(ctx->request,
                                                ngx_http_ws_module);

            if (ngx_http_ws_alloc(d, wlcf->buffer_size, src->log) != NGX_OK) {
                ngx_http_ws_side_gone(ctx, i, 0);
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
            ngx_http_ws_side_gone(ctx, i, 0);
            break;
        }

        b->last += n;
        d->bytes_in += n;
        progress = 1;

        rc = ws_scan(p, b);
        ngx_http_ws_scanned(ctx, i, rc);

    } while (progress && !ctx->finalized);
}


static void
ngx_http_ws_scanned(ngx_http_ws_ctx_t *ctx, ngx_uint_t i, ngx_int_t rc)
{
    ngx_uint_t          src_side, dst_side, level;
    ngx_http_ws_dir_t  *d;

    if (rc == WS_SCAN_OK) {
        return;
    }

    ctx->again = 1;

    d = &ctx->dir[i];
    src_side = i;
    dst_side = 1 - i;

    if (rc == WS_SCAN_CLOSE) {

        /* a valid close frame from src */

        ctx->side[src_side].close_recv = 1;

        if (!d->parser.drop) {
            d->close_fwd = 1;
            ctx->side[dst_side].close_queued = 1;
        }

        ngx_http_ws_closing(ctx, src_side == NGX_HTTP_WS_CLIENT
                                 ? NGX_HTTP_WS_BY_CLIENT
                                 : NGX_HTTP_WS_BY_UPSTREAM,
                            d->parser.close_code);
        return;
    }

    if (rc != WS_SCAN_ERROR) {
        return;
    }

    if (ctx->side[src_side].offended || ctx->side[src_side].close_recv) {

        if (d->parser.state == WS_ST_DISCARD) {
            /* a second violation: its close reply cannot be seen */
            ctx->side[src_side].close_recv = 1;
        }

        return;
    }

    ctx->side[src_side].offended = 1;

    if (d->parser.state == WS_ST_DISCARD) {
        /* the stream cannot be followed further: no reply is awaited */
        ctx->side[src_side].close_recv = 1;
    }

    level = (src_side == NGX_HTTP_WS_CLIENT) ? NGX_LOG_INFO : NGX_LOG_ERR;

    ngx_log_error(level, ctx->request->connection->log, 0,
                  "ws: %s sent invalid frame: %s, closing with %ui",
                  ngx_http_ws_side_name[src_side], d->parser.error,
                  (ngx_uint_t) d->parser.error_code);

    /* the offender's close reply is still awaited */

    ngx_http_ws_closing(ctx, NGX_HTTP_WS_BY_PROXY, d->parser.error_code);

    ngx_http_ws_inject_close(ctx, src_side, d->parser.error_code);
    ngx_http_ws_inject_close(ctx, dst_side,
                             src_side == NGX_HTTP_WS_CLIENT
                             ? WS_CLOSE_GOING_AWAY : WS_CLOSE_INTERNAL_ERROR);
}


static void
ngx_http_ws_side_gone(ngx_http_ws_ctx_t *ctx, ngx_uint_t side,
    ngx_uint_t timedout)
{
    ngx_uint_t           other, level;
    ngx_connection_t    *c;
    ngx_http_ws_dir_t   *to;
    ngx_http_ws_side_t  *s;

    s = &ctx->side[side];

    if (s->dead) {
        return;
    }

    s->dead = 1;
    other = 1 - side;
    ctx->again = 1;
    c = ctx->request->connection;
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
        ngx_http_ws_closing(ctx, timedout ? NGX_HTTP_WS_BY_PROXY
                                 : side == NGX_HTTP_WS_CLIENT
                                   ? NGX_HTTP_WS_BY_CLIENT
                                   : NGX_HTTP_WS_BY_UPSTREAM,
                            WS_CLOSE_ABNORMAL);
    }

    if (side == NGX_HTTP_WS_CLIENT) {
        c->error = 1;
    }

    /* nothing more goes to the side that is gone */

    to = ngx_http_ws_dir_to(ctx, side);

    ws_discard_output(&to->parser, &to->buf);

    to->inject_len = 0;
    to->inject_sent = 0;

    /* the other side learns that its peer went away */

    ngx_http_ws_inject_close(ctx, other,
                             side == NGX_HTTP_WS_CLIENT
                             ? WS_CLOSE_GOING_AWAY : WS_CLOSE_INTERNAL_ERROR);
}


static void
ngx_http_ws_inject_close(ngx_http_ws_ctx_t *ctx, ngx_uint_t side,
    ngx_uint_t code)
{
    uint32_t             key;
    ngx_int_t            rc;
    ngx_http_ws_dir_t   *d;
    ngx_http_ws_side_t  *s;

    s = &ctx->side[side];

    if (s->dead || s->close_queued) {
        return;
    }

    s->close_queued = 1;
    ctx->again = 1;

    d = ngx_http_ws_dir_to(ctx, side);

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
        ngx_http_ws_scanned(ctx, 1 - side, rc);
    }

    if (d->parser.mid_frame && ctx->side[1 - side].dead) {

        /*
         * The frame being forwarded can never be completed: a close
         * frame cannot be sent, the connection is closed (1006).
         */

        d->inject_len = 0;
        s->dead = 1;

        if (side == NGX_HTTP_WS_CLIENT) {
            ctx->request->connection->error = 1;
        }
    }
}


static void
ngx_http_ws_closing(ngx_http_ws_ctx_t *ctx, ngx_uint_t by, ngx_uint_t code)
{
    ngx_http_ws_loc_conf_t  *wlcf;

    if (ctx->initiator != NGX_HTTP_WS_BY_NONE) {
        return;
    }

    ctx->initiator = by;
    ctx->close_code = code;

    wlcf = ngx_http_get_module_loc_conf(ctx->request, ngx_http_ws_module);

    ngx_add_timer(&ctx->close_timer, wlcf->close_timeout);
}


static ngx_int_t
ngx_http_ws_done(ngx_http_ws_ctx_t *ctx)
{
    ngx_uint_t           i;
    ngx_http_ws_side_t  *s;

    /* each side is gone, or has sent and been sent a close */

    if (ctx->finalized) {
        return 0;
    }

    for (i = 0; i < 2; i++) {
        s = &ctx->side[i];

        if (!s->dead && !(s->close_recv && s->close_sent)) {
            return 0;
        }
    }

    return 1;
}


static void
ngx_http_ws_finalize(ngx_http_ws_ctx_t *ctx)
{
    ngx_time_t           *tp;
    ngx_connection_t     *c;
    ngx_http_request_t   *r;
    ngx_http_upstream_t  *u;

    if (ctx->finalized) {
        return;
    }

    ctx->finalized = 1;

    r = ctx->request;
    c = r->connection;

    tp = ngx_timeofday();
    ctx->duration = (ngx_msec_int_t) ((tp->sec - ctx->start_sec) * 1000
                                      + (tp->msec - ctx->start_msec));

    if (ctx->close_timer.timer_set) {
        ngx_del_timer(&ctx->close_timer);
    }

    ngx_http_ws_free(&ctx->dir[0]);
    ngx_http_ws_free(&ctx->dir[1]);

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (!ctx->side[NGX_HTTP_WS_CLIENT].dead) {
        /* the client may still send its close reply: do not reset it */
        r->lingering_close = 1;
    }

    c->idle = 0;
    c->read->handler = ctx->client_read_handler;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0, "ws relay done");

    /*
     * The end goes the way of any non-buffered response that is complete:
     * with nothing left to send and u->length == 0, nginx's handler
     * finalizes the upstream request (frees the peer, closes the backend
     * connection) and then the client's request.
     */

    u = r->upstream;
    u->length = 0;
    u->read_event_handler = ctx->upstream_done;

    if (u->peer.connection) {
        u->peer.connection->read->timedout = 0;
    }

    ctx->upstream_done(r, u);
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


static void
ngx_http_ws_cleanup(void *data)
{
    ngx_http_ws_ctx_t  *ctx = data;

    if (ctx->close_timer.timer_set) {
        ngx_del_timer(&ctx->close_timer);
    }

    ngx_http_ws_free(&ctx->dir[0]);
    ngx_http_ws_free(&ctx->dir[1]);
}
