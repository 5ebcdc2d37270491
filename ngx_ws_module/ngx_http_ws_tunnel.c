
/*
 * Copyright (C) the ngx_ws authors
 *
 * The tunnel: an upgraded WebSocket.  Taking the connection over from the
 * upstream machinery (docs/design.md, "Taking the upgraded connection
 * over"), the event handlers of both connections, the tunnel's timers,
 * owning both connections once the request is freed ("Detaching from the
 * request"), and the one way out: every end of a WebSocket goes through
 * ngx_http_ws_finalize().  Frames are moved by ngx_http_ws_relay.c.
 */


#include "ngx_http_ws_module.h"


static ngx_event_handler_pt ngx_http_ws_handler_of(ngx_connection_t *c);
static void ngx_http_ws_set_handlers(ngx_connection_t *c,
    ngx_event_handler_pt handler);
static void ngx_http_ws_attached_handler(ngx_event_t *ev);
static void ngx_http_ws_own(ngx_http_ws_tunnel_t *t);
#if (NGX_HTTP_SSL)
static void ngx_http_ws_ssl_save_session(ngx_connection_t *pc);
#endif
static void ngx_http_ws_event_handler(ngx_event_t *ev);
static void ngx_http_ws_run(ngx_http_ws_tunnel_t *t, ngx_event_t *ev);
static void ngx_http_ws_timer_handler(ngx_event_t *ev);

static const char  ngx_http_ws_token_expired[] = "token expired";
static const char  ngx_http_ws_max_lifetime[] = "maximum lifetime reached";
static const char  ngx_http_ws_idle_timeout[] = "idle timeout";
static ngx_str_t   ngx_http_ws_token_reason = ngx_string("token expired");
static ngx_str_t   ngx_http_ws_frame_reason = ngx_string("frame timeout");
static ngx_int_t ngx_http_ws_watch(ngx_http_ws_tunnel_t *t);
static ngx_msec_int_t ngx_http_ws_deadline(ngx_http_ws_tunnel_t *t,
    const char **what);
static void ngx_http_ws_finalize(ngx_http_ws_tunnel_t *t);
static ngx_uint_t ngx_http_ws_client_may_send(ngx_http_ws_tunnel_t *t);
static void ngx_http_ws_tunnel_free(ngx_http_ws_tunnel_t *t);
static void ngx_http_ws_tunnel_cleanup(void *data);


ngx_int_t
ngx_http_ws_tunnel_init(void *data)
{
    ngx_http_request_t  *r = data;

    size_t                   n;
    const char              *what;
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

    cln->handler = ngx_http_ws_tunnel_cleanup;
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

    /* ws_limit_*: the keys of the zones, the message gates */

    if (ngx_http_ws_limit_start(r, t) != NGX_OK) {
        return NGX_ERROR;
    }

    /* client frames that came with the request */

    n = r->header_in->last - r->header_in->pos;

    if (n) {
        d = &t->dir[0];

        if (ngx_http_ws_relay_preload(d, r->header_in->pos, n,
                                      wlcf->buffer_size, c->log)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        r->header_in->pos = r->header_in->last;
    }

    /* backend frames read together with the 101 */

    n = u->buffer.last - u->buffer.pos;

    if (n) {
        d = &t->dir[1];

        if (ngx_http_ws_relay_preload(d, u->buffer.pos, n, wlcf->buffer_size,
                                      c->log)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
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

    t->timer.handler = ngx_http_ws_timer_handler;
    t->timer.data = t;
    t->timer.log = c->log;

    t->started = ngx_current_msec;
    t->last_data = t->started;

    for (i = 0; i < 2; i++) {
        t->side[i].heard = t->started;
        t->side[i].rtt = -1;
    }

    if (ctx->token_expires) {
        /* ws_auth_jwt_close_at_exp: the token's exp, epoch milliseconds */
        t->expires = ctx->token_expires;
        t->token_exp = 1;
    }

    if (t->conf->max_lifetime || t->conf->idle_timeout || t->token_exp
        || t->conf->ping_interval || t->conf->frame_timeout)
    {
        ngx_add_timer(&t->timer, (ngx_msec_t) ngx_http_ws_deadline(t, &what));
    }

    /*
     * From now on the events of both connections come to the relay
     * directly; nginx's handlers are kept for a tunnel that ends attached
     * to its request (nginx's non-buffered handler finalizes it).
     */

    t->u.attached.upstream_done = u->read_event_handler;
    t->u.attached.request_handler = ngx_http_ws_handler_of(c);
    t->u.attached.upstream_handler = ngx_http_ws_handler_of(pc);

    ngx_http_ws_set_handlers(c, ngx_http_ws_attached_handler);
    ngx_http_ws_set_handlers(pc, ngx_http_ws_attached_handler);

    /*
     * On a graceful shutdown nginx calls the read handler of "idle"
     * connections with c->close set: the WebSocket then closes with 1001
     * on both sides instead of being cut.  A 101 that comes after the
     * shutdown began is closed the same way at once: nginx looks for idle
     * connections only when the shutdown begins.
     */

    c->idle = 1;

    if (ngx_exiting) {
        c->close = 1;
    }

    /* counted open from now on, and closed in ngx_http_ws_tunnel_free() */

    ngx_http_ws_status_open(t);

    /* the relay starts from the event loop, after this call chain */

    ngx_post_event(c->read, &ngx_posted_events);

    return NGX_OK;
}


ngx_int_t
ngx_http_ws_tunnel_filter(void *data, ssize_t bytes)
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
ngx_http_ws_set_handlers(ngx_connection_t *c, ngx_event_handler_pt handler)
{
    c->read->handler = handler;
    c->write->handler = handler;

#if (NGX_HTTP_SSL)

    /*
     * ngx_ssl_recv() and ngx_ssl_write(), waiting on the other event
     * (SSL_ERROR_WANT_WRITE on a read, WANT_READ on a write: a KeyUpdate
     * or a renegotiation with the socket full), keep the handler they
     * replaced and put it back later: that one must be ours too.
     */

    if (c->ssl) {
        if (c->ssl->saved_read_handler) {
            c->ssl->saved_read_handler = handler;
        }

        if (c->ssl->saved_write_handler) {
            c->ssl->saved_write_handler = handler;
        }
    }

#endif
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

    /* nginx's upstream code set its own while the 101 went through */
    c->log->action = "proxying websocket";

    ctx = ngx_http_get_module_ctx(r, ngx_http_ws_module);
    t = ctx->tunnel;

    ngx_http_ws_run(t, ev);

    if (t->finalized) {
        ngx_http_ws_finalize(t);
        return;
    }

    /*
     * Once the 101 is out, the request is freed, unless something may
     * still refer to it (t->stay is set then).
     */

    if (!ngx_http_ws_head_pending(t) && ngx_http_ws_detach(t) == NGX_OK) {
        ngx_http_ws_own(t);
        return;
    }

    ngx_http_run_posted_requests(c);
}


static void
ngx_http_ws_own(ngx_http_ws_tunnel_t *t)
{
    ngx_connection_t  *c, *pc;

    /* the request is freed: both connections are the tunnel's */

    c = t->connection;
    pc = t->peer;

    c->data = t;
    pc->data = t;

    ngx_http_ws_set_handlers(c, ngx_http_ws_event_handler);
    ngx_http_ws_set_handlers(pc, ngx_http_ws_event_handler);

#if (NGX_HTTP_SSL)
    if (pc->ssl && pc->ssl->save_session) {
        /* a session ticket may come at any time (RFC 8446 4.6.1) */
        pc->ssl->save_session = t->u.detached.peer_save_session
                                ? ngx_http_ws_ssl_save_session : NULL;
    }
#endif

    c->log->handler = ngx_http_ws_log_error;
}


#if (NGX_HTTP_SSL)

static void
ngx_http_ws_ssl_save_session(ngx_connection_t *pc)
{
    ngx_http_ws_tunnel_t    *t;
    ngx_peer_connection_t    peer;
    ngx_http_ws_detached_t  *dt;

    /*
     * A session ticket from the backend after the detach: saved to the
     * balancer's peer, as ngx_http_upstream_ssl_save_session() does, with
     * the copy of the balancer's state.
     */

    t = pc->data;

    if (t == NULL) {
        return;
    }

    dt = &t->u.detached;

    if (dt->peer_save_session == NULL || dt->peer_free == NULL) {
        return;
    }

    ngx_memzero(&peer, sizeof(ngx_peer_connection_t));
    peer.log = pc->log;
    peer.connection = pc;
    peer.tries = dt->tries;

    dt->peer_save_session(&peer, &dt->rrp);
}

#endif


static void
ngx_http_ws_event_handler(ngx_event_t *ev)
{
    ngx_connection_t      *c;
    ngx_http_ws_tunnel_t  *t;

    /* a detached tunnel: both connections' data is the tunnel */

    c = ev->data;
    t = c->data;

    ngx_http_ws_run(t, ev);

    if (t->finalized) {
        ngx_http_ws_finalize(t);
    }
}


static void
ngx_http_ws_run(ngx_http_ws_tunnel_t *t, ngx_event_t *ev)
{
    ngx_connection_t  *c;

    c = t->connection;

    if (ev != c->read || !c->close) {
        ngx_http_ws_relay_run(t);
        return;
    }

    /*
     * On a graceful shutdown nginx calls the read handler of "idle"
     * connections with c->close set: the WebSocket closes with 1001 on
     * both sides, or ends at once when worker_shutdown_timeout expired.
     */

    c->close = 0;

    if (t->shutdown) {
        t->finalized = 1;
        return;
    }

    t->shutdown = 1;
    c->idle = 0;

    ngx_log_error(NGX_LOG_INFO, c->log, 0, "ws: closing on worker shutdown");

    ngx_http_ws_relay_close(t, WS_CLOSE_GOING_AWAY);
}


static void
ngx_http_ws_timer_handler(ngx_event_t *ev)
{
    const char            *what;
    ngx_msec_int_t         left;
    ngx_connection_t      *c;
    ngx_http_ws_tunnel_t  *t;

    t = ev->data;
    c = t->connection;

    if (t->request) {
        ngx_http_set_log_request(c->log, t->request);
    }

    /* ws_status: the frames, bytes and messages so far */
    ngx_http_ws_status_flush(t);

    if (t->initiator != NGX_HTTP_WS_BY_NONE) {
        ngx_log_error(NGX_LOG_INFO, c->log, 0,
                      "ws: close handshake timed out");

        t->timeouts |= NGX_HTTP_WS_TIMEOUT_CLOSE;

        ngx_http_ws_finalize(t);
        return;
    }

    if (ngx_http_ws_limit_due(t)) {
        /* a throttled direction may go on */

        ngx_http_ws_relay_run(t);

        if (t->finalized) {
            ngx_http_ws_finalize(t);
            return;
        }

        if (t->initiator != NGX_HTTP_WS_BY_NONE) {
            /* closing: the timer is the close timeout now */
            return;
        }
    }

    if (ngx_http_ws_watch(t) != NGX_OK) {
        /* a side is gone, or a frame timed out: closing */

        if (t->finalized) {
            ngx_http_ws_finalize(t);
        }

        return;
    }

    left = ngx_http_ws_deadline(t, &what);

    if (left > 0) {
        ngx_add_timer(ev, (ngx_msec_t) left);
        return;
    }

    ngx_log_error(NGX_LOG_INFO, c->log, 0, "ws: %s, closing", what);

    if (what == ngx_http_ws_idle_timeout) {
        t->timeouts |= NGX_HTTP_WS_TIMEOUT_IDLE;

    } else if (what == ngx_http_ws_max_lifetime) {
        t->timeouts |= NGX_HTTP_WS_TIMEOUT_LIFETIME;
    }

    /* the timer becomes the close timeout */

    if (what == ngx_http_ws_token_expired) {
        /* 1008 to the client, 1001 to the backend */
        ngx_http_ws_relay_close_to(t, NGX_HTTP_WS_CLIENT, WS_CLOSE_POLICY,
                                   &ngx_http_ws_token_reason);

    } else {
        /* 1001 to both sides */
        ngx_http_ws_relay_close(t, WS_CLOSE_GOING_AWAY);
    }

    if (t->finalized) {
        ngx_http_ws_finalize(t);
    }
}


static ngx_int_t
ngx_http_ws_watch(ngx_http_ws_tunnel_t *t)
{
    u_char                   ping[WS_PING_PAYLOAD];
    uint32_t                 r;
    ngx_uint_t               i;
    ngx_msec_t               now;
    ngx_connection_t        *c;
    ngx_http_ws_dir_t       *d;
    ngx_http_ws_side_t      *s;
    ngx_http_ws_loc_conf_t  *conf;

    /*
     * Each side, at the timer: pinged when nothing came from it for
     * ws_ping_interval, lost when nothing came within ws_pong_timeout of
     * the ping (any byte is a sign of life, not only the pong), and closed
     * with 1008 when one frame of it took longer than ws_frame_timeout.
     * The relay does nothing of this per frame: bytes and frames counted
     * anyway are compared here.  NGX_DECLINED: the WebSocket is closing.
     */

    conf = t->conf;
    now = ngx_current_msec;
    c = t->connection;

    for (i = 0; i < 2; i++) {
        s = &t->side[i];
        d = &t->dir[i];    /* from side i */

        if (s->dead || s->close_recv) {
            continue;
        }

        if (d->bytes_in != s->heard_bytes) {
            s->heard_bytes = d->bytes_in;
            s->heard = now;
            s->pinging = 0;
        }

        if (conf->frame_timeout) {
            if (!(d->parser.state == WS_ST_PAYLOAD
                  || (d->parser.state == WS_ST_HEADER
                      && d->parser.hdr_have)))
            {
                s->in_frame = 0;

            } else if (!s->in_frame || s->frame_count != d->parser.frames) {
                s->in_frame = 1;
                s->frame_count = d->parser.frames;
                s->frame_since = now;

            } else if ((ngx_msec_int_t) (now - s->frame_since)
                       >= (ngx_msec_int_t) conf->frame_timeout)
            {
                ngx_log_error(NGX_LOG_INFO, c->log, 0,
                              "ws: frame from %s timed out, closing",
                              i == NGX_HTTP_WS_CLIENT ? "client"
                                                      : "upstream");

                t->timeouts |= NGX_HTTP_WS_TIMEOUT_FRAME;

                ngx_http_ws_relay_close_to(t, i, WS_CLOSE_POLICY,
                                           &ngx_http_ws_frame_reason);
                return NGX_DECLINED;
            }
        }

        if (conf->ping_interval == 0
            || (i == NGX_HTTP_WS_UPSTREAM && !conf->ping_upstream))
        {
            continue;
        }

        if (d->parser.gated || ngx_http_ws_limit_waiting(t, i)) {
            /* throttled: it sends more than it may, it is alive */
            s->heard = now;
            s->pinging = 0;
            continue;
        }

        if (s->pinging) {
            if (s->ping_queued) {
                /*
                 * still waiting for the end of a frame being relayed to
                 * it: the pong timeout counts from when the ping is written
                 */
                continue;
            }

            if ((ngx_msec_int_t) (now - s->ping_at)
                >= (ngx_msec_int_t) conf->pong_timeout)
            {
                /* gone without a FIN: no close handshake with it */
                t->timeouts |= NGX_HTTP_WS_TIMEOUT_PONG;
                ngx_http_ws_stat_inc(t, pong_timeouts);

                ngx_http_ws_relay_lost(t, i);
                return NGX_DECLINED;
            }

            continue;
        }

        if ((ngx_msec_int_t) (now - s->heard)
            < (ngx_msec_int_t) conf->ping_interval)
        {
            continue;
        }

        /* a random payload: the pong that echoes it is the answer */

        r = (uint32_t) ngx_random();
        ngx_memcpy(ping, &r, 4);
        r = (uint32_t) ngx_random();
        ngx_memcpy(ping + 4, &r, 4);

        /* the relay sets ping_at, and clears ping_queued, once written */

        s->ping_queued = 1;
        s->ping_at = now;

        if (ngx_http_ws_relay_control(t, i, WS_OP_PING, ping,
                                      WS_PING_PAYLOAD)
            != NGX_OK)
        {
            /* no room now: the next check tries again */
            s->ping_queued = 0;
            continue;
        }

        ws_expect_pong(&d->parser, ping);

        s->pinging = 1;
        s->pings++;

        if (i == NGX_HTTP_WS_CLIENT) {
            /* nginx_ws_pings_sent_total: to clients, as $ws_pings */
            ngx_http_ws_stat_inc(t, pings);
        }

        if (t->finalized) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static ngx_msec_int_t
ngx_http_ws_deadline(ngx_http_ws_tunnel_t *t, const char **what)
{
    uint32_t                 n;
    double                   rest;
    ngx_uint_t               i;
    ngx_time_t              *tp;
    ngx_msec_t               when;
    ngx_msec_int_t           left, life, idle;
    ngx_http_ws_side_t      *s;
    ngx_http_ws_loc_conf_t  *conf;

    /*
     * The time to the timer's next check: the token's exp, the lifetime's
     * end, or the idle time's.  The relay does nothing per frame for ws_idle_timeout: the
     * data frames counted by the scanner are compared here, at least four
     * times per idle time, so that an idle WebSocket is closed within a
     * quarter of ws_idle_timeout after it.  0 or less: "what" ended.
     */

    conf = t->conf;
    left = NGX_MAX_INT_T_VALUE;

    if (t->token_exp) {
        /* on the wall clock, as exp is: no overflow for any exp */

        tp = ngx_timeofday();
        rest = t->expires - ((double) tp->sec * 1000 + tp->msec);

        if (rest <= 0) {
            *what = ngx_http_ws_token_expired;
            return 0;
        }

        left = (rest < NGX_MAX_INT32_VALUE) ? (ngx_msec_int_t) rest + 1
                                            : NGX_MAX_INT32_VALUE;
    }

    if (conf->max_lifetime) {
        life = (ngx_msec_int_t) (t->started + conf->max_lifetime
                                 - ngx_current_msec);

        if (life <= 0) {
            *what = ngx_http_ws_max_lifetime;
            return life;
        }

        left = ngx_min(left, life);
    }

    for (i = 0; i < 2 && conf->ping_interval; i++) {
        s = &t->side[i];

        if (s->dead || s->close_recv
            || (i == NGX_HTTP_WS_UPSTREAM && !conf->ping_upstream))
        {
            continue;
        }

        if (s->pinging && s->ping_queued) {
            /* the frame in flight to it ends first: checked as usual */
            when = ngx_current_msec + conf->pong_timeout;

        } else {
            when = s->pinging ? s->ping_at + conf->pong_timeout
                              : s->heard + conf->ping_interval;

            /*
             * on a grid of 256 ms: the pings of a worker's idle
             * WebSockets that fall due together go out in one wake
             */
            when = (when | 0xff) + 1;
        }

        left = ngx_min(left, ngx_max((ngx_msec_int_t) (when - ngx_current_msec),
                                     1));
    }

    if (conf->frame_timeout) {
        left = ngx_min(left, (ngx_msec_int_t) conf->frame_timeout / 4 + 1);
    }

    when = (ngx_msec_t) ngx_http_ws_limit_next(t);

    if ((ngx_msec_int_t) when >= 0) {
        left = ngx_min(left, ngx_max((ngx_msec_int_t) when, 1));
    }

    if (conf->idle_timeout) {
        n = t->dir[0].parser.data_frames + t->dir[1].parser.data_frames;

        if (n != t->data_seen) {
            /* data frames passed since the last check */
            t->data_seen = n;
            t->last_data = ngx_current_msec;
        }

        idle = (ngx_msec_int_t) (t->last_data + conf->idle_timeout
                                 - ngx_current_msec);

        if (idle <= 0) {
            *what = ngx_http_ws_idle_timeout;
            return idle;
        }

        idle = ngx_min(idle, (ngx_msec_int_t) conf->idle_timeout / 4 + 1);
        left = ngx_min(left, idle);
    }

    /* a timer of at most 24.8 days: the next check sees what is left */

    return ngx_min(left, NGX_MAX_INT32_VALUE);
}


static void
ngx_http_ws_finalize(ngx_http_ws_tunnel_t *t)
{
    ngx_time_t                *tp;
    ngx_connection_t          *c, *pc;
    ngx_http_request_t        *r;
    ngx_http_upstream_t       *u;
    ngx_peer_connection_t      peer;
    ngx_http_ws_attached_t    *at;
    ngx_http_ws_detached_t    *dt;
    ngx_http_core_loc_conf_t  *clcf;

    /*
     * The one way out of a WebSocket, whatever ended it: the relay is
     * over, then both connections are closed the way
     * ngx_http_upstream_finalize_request() closes them.
     */

    c = t->connection;

    t->finalized = 1;

    tp = ngx_timeofday();
    t->duration = (ngx_msec_int_t) ((tp->sec - t->start_sec) * 1000
                                    + (tp->msec - t->start_msec));

    if (t->timer.timer_set) {
        ngx_del_timer(&t->timer);
    }

    ngx_http_ws_relay_free(t);

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    c->idle = 0;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0, "ws relay done");

    if (t->request) {

        /*
         * Attached: the end goes the way of any non-buffered response
         * that is complete: with nothing left to send and u->length == 0,
         * nginx's handler finalizes the upstream request (frees the peer,
         * closes the backend connection) and then the client's request,
         * which writes the access log line and frees the tunnel
         * (ngx_http_ws_tunnel_cleanup()).
         */

        r = t->request;
        u = r->upstream;
        at = &t->u.attached;

        ngx_http_ws_set_handlers(c, at->request_handler);

        if (u->peer.connection) {
            ngx_http_ws_set_handlers(u->peer.connection, at->upstream_handler);
            u->peer.connection->read->timedout = 0;
        }

        if (!t->side[NGX_HTTP_WS_CLIENT].dead
            && ngx_http_ws_client_may_send(t))
        {
            /* the client may still send its close reply: do not reset it */
            r->lingering_close = 1;
        }

        u->length = 0;
        u->read_event_handler = at->upstream_done;

        at->upstream_done(r, u);

        ngx_http_run_posted_requests(c);
        return;
    }

    /* detached: the backend, as ngx_http_upstream_finalize_request() does */

    pc = t->peer;
    dt = &t->u.detached;

    if (dt->peer_free) {
        ngx_memzero(&peer, sizeof(ngx_peer_connection_t));
        peer.log = c->log;
        peer.connection = pc;
        peer.tries = dt->tries;

        dt->peer_free(&peer, &dt->rrp, 0);
        dt->peer_free = NULL;
    }

    if (pc) {
        dt->peer_sent = pc->sent;

#if (NGX_HTTP_SSL)
        if (pc->ssl) {
            pc->ssl->no_wait_shutdown = 1;
            (void) ngx_ssl_shutdown(pc);
        }
#endif

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                       "close http upstream connection: %d", pc->fd);

        if (pc->pool) {
            ngx_destroy_pool(pc->pool);
        }

        ngx_close_connection(pc);
        t->peer = NULL;
    }

    c->log->action = "logging request";

    ngx_http_ws_log_request(t);

    c->log->action = "closing request";

#if (NGX_STAT_STUB)
    if (t->stat_writing) {
        (void) ngx_atomic_fetch_add(ngx_stat_writing, -1);
        t->stat_writing = 0;
    }
#endif

    clcf = dt->clcf;

    /* the client may still send its close reply: do not reset it */

    if (t->side[NGX_HTTP_WS_CLIENT].dead || c->error
        || (clcf->lingering_close != NGX_HTTP_LINGERING_ALWAYS
            && (clcf->lingering_close != NGX_HTTP_LINGERING_ON
                || !ngx_http_ws_client_may_send(t))))
    {
        clcf = NULL;
    }

    ngx_http_ws_tunnel_free(t);

    ngx_http_ws_close_client(c, clcf);
}


static ngx_uint_t
ngx_http_ws_client_may_send(ngx_http_ws_tunnel_t *t)
{
    /*
     * What ngx_http_finalize_connection() asks of a request before its
     * lingering close (with "lingering_close on"): whether the client may
     * still be sending.  It may until its close frame has been read:
     * nothing follows a close frame (RFC 6455 5.5.1), so after it only
     * bytes already signalled and not read yet are waited for.  A close
     * frame of the proxy's own, after an invalid frame or a timeout, may
     * meet data frames in flight: that close reply is waited for.
     */

    return t->dir[NGX_HTTP_WS_CLIENT].parser.close_code == 0
           || t->connection->read->ready;
}


static void
ngx_http_ws_tunnel_free(ngx_http_ws_tunnel_t *t)
{
    ngx_http_ws_status_close(t);

    if (t->timer.timer_set) {
        ngx_del_timer(&t->timer);
    }

    ngx_http_ws_relay_free(t);
    ngx_http_ws_limit_end(t);

    if (t->request == NULL) {
        ngx_free(t->u.detached.snap);
    }

    ngx_free(t);
}


static void
ngx_http_ws_tunnel_cleanup(void *data)
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
