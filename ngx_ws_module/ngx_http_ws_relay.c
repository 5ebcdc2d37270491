
/*
 * Copyright (C) the ngx_ws authors
 *
 * The frame relay: moves validated frames in both directions with bounded
 * buffers, answers bad frames, and writes the proxy's own control frames
 * (close, ping, pong) at frame boundaries while forwarding goes on
 * (docs/design.md, "The relay").  The tunnel
 * (ngx_http_ws_tunnel.c) calls it; it calls nothing there.
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


/*
 * Whether a direction has anything to do: bytes held, frames of the
 * proxy's own to write, bytes to read, or a forwarded close to account
 * for (hot path: tested before the call).
 */

#define ngx_http_ws_dir_busy(t, i)                                           \
    ((t)->dir[i].mem                                                         \
     || (t)->dir[i].ctl_len                                                  \
     || (!(t)->side[i].dead && (t)->dir[i].src->read->ready)                 \
     || ((t)->dir[i].close_fwd && !(t)->side[1 - (i)].close_sent))

/*
 * most scans end inside the stream with nothing to act on (a grant of
 * ws_limit_messages left over is settled)
 */
#define ngx_http_ws_after_scan(t, i, p, rc)                                  \
    if ((rc) != WS_SCAN_OK || (p)->pong_seen || (p)->gated                   \
        || (t)->dir[i].limit_grant)                                          \
    {                                                                        \
        ngx_http_ws_scanned(t, i, rc);                                       \
    }


static void ngx_http_ws_relay_dir(ngx_http_ws_tunnel_t *t, ngx_uint_t i);
static void ngx_http_ws_keep_reason(ngx_http_ws_tunnel_t *t,
    ws_parser_t *p);
static void ngx_http_ws_scanned(ngx_http_ws_tunnel_t *t, ngx_uint_t i,
    ngx_int_t rc);
static void ngx_http_ws_side_gone(ngx_http_ws_tunnel_t *t, ngx_uint_t side,
    ngx_uint_t timedout);
static void ngx_http_ws_inject_close(ngx_http_ws_tunnel_t *t,
    ngx_uint_t side, ngx_uint_t code, ngx_str_t *reason);
static ngx_int_t ngx_http_ws_ctl_add(ngx_http_ws_tunnel_t *t,
    ngx_uint_t side, ngx_uint_t opcode, u_char *data, size_t len);
static void ngx_http_ws_ctl_written(ngx_http_ws_tunnel_t *t, ngx_uint_t i);
static void ngx_http_ws_ctl_clear(ngx_http_ws_dir_t *d);
static void ngx_http_ws_closing(ngx_http_ws_tunnel_t *t, ngx_uint_t by,
    ngx_uint_t code);
static ngx_int_t ngx_http_ws_done(ngx_http_ws_tunnel_t *t);
static void ngx_http_ws_limit_close(ngx_http_ws_tunnel_t *t,
    ngx_uint_t side);
static ngx_int_t ngx_http_ws_alloc(ngx_http_ws_dir_t *d, size_t size,
    ngx_log_t *log);
static void ngx_http_ws_free(ngx_http_ws_dir_t *d);
static ngx_uint_t ngx_http_ws_ssl_read_writes(ngx_http_ws_tunnel_t *t,
    ngx_connection_t *c);


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


void
ngx_http_ws_relay_run(ngx_http_ws_tunnel_t *t)
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

    t->ssl_kicked = 0;

    do {
        t->again = 0;

        for (i = 0; i < 2; i++) {
            if (ngx_http_ws_dir_busy(t, i)) {
                ngx_http_ws_relay_dir(t, i);
            }
        }

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
                || d->ctl_len
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
        /* the tunnel ends it, through its one way out */
        t->finalized = 1;
    }
}


static void
ngx_http_ws_relay_dir(ngx_http_ws_tunnel_t *t, ngx_uint_t i)
{
    size_t                   size;
    ssize_t                  n;
    ngx_int_t                rc;
    ngx_uint_t               progress, dst_side;
    ws_buf_t                *b;
    ws_parser_t             *p;
    ngx_connection_t        *src, *dst;
    ngx_http_ws_dir_t       *d;

    d = &t->dir[i];
    dst_side = 1 - i;

    b = &d->buf;
    p = &d->parser;
    src = d->src;
    dst = d->dst;

    if (d->mem && b->scan < b->last && p->state != WS_ST_DISCARD) {
        /* bytes that came with the handshake, or held back */
        rc = ws_scan(p, b);
        ngx_http_ws_after_scan(t, i, p, rc);
    }

    /*
     * Writes go on until the destination or the output stops, so that
     * only a read can give a further round something to do.
     */

    do {
        progress = 0;

        /*
         * write the proxy's own frames once the output is at a frame
         * boundary (and nothing else until they are all out), else what
         * is cleared
         */

        while (!t->side[dst_side].dead && dst->write->ready
               && !(i == 1 && ngx_http_ws_head_pending(t))
               && !(dst->ssl && ngx_http_ws_ssl_read_writes(t, dst)))
        {
            if (d->ctl_len
                && (d->ctl_sent
                    || (d->ctl_close ? ws_can_inject(p, b)
                                     : ws_at_boundary(p, b))))
            {
                n = dst->send(dst, d->ctl + d->ctl_sent,
                              d->ctl_len - d->ctl_sent);

                if (n > 0) {
                    d->ctl_sent += n;
                    d->bytes_out += n;
                    d->sent = 1;

                    if (d->ctl_sent == d->ctl_len) {
                        ngx_http_ws_ctl_written(t, i);
                    }

                    continue;
                }

            } else if (d->mem && b->pos < b->fwd) {
                n = dst->send(dst, b->pos, b->fwd - b->pos);

                if (n > 0) {
                    b->pos += n;
                    d->bytes_out += n;
                    d->sent = 1;

                    if (b->last == b->end || p->split || p->drop
                        || b->scan < b->last)
                    {
                        /* room may be made, a fragment or a drop follow */
                        rc = ws_scan(p, b);
                        ngx_http_ws_after_scan(t, i, p, rc);
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

        size = b->end - b->last;

        if (d->limit_read) {
            /* ws_limit_*: whether and how much may be read now */

            n = ngx_http_ws_limit_read(t, i, size);

            if (n == 0) {
                /* throttled: the tunnel's timer runs the relay again */
                continue;
            }

            if (n == NGX_ERROR) {
                ngx_http_ws_limit_close(t, i);
                break;
            }

            size = (size_t) n;
        }

        n = src->recv(src, b->last, size);

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

        if (d->limit_bytes) {
            ngx_http_ws_limit_took(t, i, n);
        }

        rc = ws_scan(p, b);
        ngx_http_ws_after_scan(t, i, p, rc);

    } while (progress && !t->finalized);
}


static void
ngx_http_ws_scanned(ngx_http_ws_tunnel_t *t, ngx_uint_t i, ngx_int_t rc)
{
    ngx_uint_t          src_side, dst_side, level;
    ngx_http_ws_dir_t  *d;

    d = &t->dir[i];

again:

    if (d->parser.pong_seen) {
        /*
         * the pong of the proxy's ping, taken out of the stream: the side
         * is heard now, and its next ping is due an interval from now
         */
        d->parser.pong_seen = 0;
        t->side[i].rtt = (ngx_msec_int_t) (ngx_current_msec
                                           - t->side[i].ping_at);
        t->side[i].heard = ngx_current_msec;
        t->side[i].heard_bytes = d->bytes_in;
        t->side[i].pinging = 0;

        /*
         * the timer waits for the pong timeout: it wakes for the next
         * ping instead, which ngx_http_ws_deadline() puts on its grid
         * (not while closing: the timer is the close timeout then)
         */

        if (t->initiator == NGX_HTTP_WS_BY_NONE && !t->finalized
            && (!t->timer.timer_set
                || (ngx_msec_int_t) (t->timer.timer.key - ngx_current_msec
                                     - t->conf->ping_interval) > 0))
        {
            ngx_add_timer(&t->timer, t->conf->ping_interval);
        }

        if (i == NGX_HTTP_WS_CLIENT) {
            /* the clients' round trips, as $ws_ping_rtt */
            ngx_http_ws_status_rtt(t, t->side[i].rtt);
        }
    }

    if (d->parser.gated) {
        /* a message waits at ws_limit_messages's gate */

        switch (ngx_http_ws_limit_message(t, i)) {

        case NGX_OK:
            /*
             * granted: the scan goes on at once, so that the messages of
             * one read go out together (each bounded by the gate, which
             * the next message meets again)
             */
            d->parser.gated = 0;

            if (rc == WS_SCAN_OK) {
                rc = ws_scan(&d->parser, &d->buf);
                goto again;
            }

            t->again = 1;
            break;

        case NGX_DECLINED:
            ngx_http_ws_limit_close(t, i);
            return;

        default: /* NGX_AGAIN */
            break;
        }

    } else if (d->limit_grant) {
        /* the rest of a grant lapses, and what it charged is given back */
        ngx_http_ws_limit_settle(t, i);
    }

    if (rc == WS_SCAN_OK) {
        return;
    }

    t->again = 1;

    src_side = i;
    dst_side = 1 - i;

    if (rc == WS_SCAN_CLOSE) {

        /* a valid close frame from src */

        t->side[src_side].close_recv = 1;

        if (t->initiator == NGX_HTTP_WS_BY_NONE) {
            /* $ws_close_reason: the text of the close that begins */
            ngx_http_ws_keep_reason(t, &d->parser);
        }

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

    ngx_http_ws_inject_close(t, src_side, d->parser.error_code, NULL);
    ngx_http_ws_inject_close(t, dst_side,
                             src_side == NGX_HTTP_WS_CLIENT
                             ? WS_CLOSE_GOING_AWAY : WS_CLOSE_INTERNAL_ERROR,
                             NULL);
}


static void
ngx_http_ws_limit_close(ngx_http_ws_tunnel_t *t, ngx_uint_t side)
{
    static ngx_str_t  reason = ngx_string("rate limit");

    /*
     * ws_limit_action close: nothing more from the sender is forwarded
     * (the message over the limit waits at the gate, it never goes), 1008
     * to it, 1001 to the other side
     */

    ws_stop(&t->dir[side].parser);

    if (t->initiator == NGX_HTTP_WS_BY_NONE) {
        t->close_reason = reason;
    }

    ngx_http_ws_closing(t, NGX_HTTP_WS_BY_PROXY, WS_CLOSE_POLICY);
    ngx_http_ws_inject_close(t, side, WS_CLOSE_POLICY, &reason);
    ngx_http_ws_inject_close(t, 1 - side, WS_CLOSE_GOING_AWAY, NULL);

    t->again = 1;
}


static void
ngx_http_ws_keep_reason(ngx_http_ws_tunnel_t *t, ws_parser_t *p)
{
    u_char  *reason;

    /*
     * Copied from the buffer at once, in the client connection's pool:
     * once per WebSocket, at most 123 bytes.  Without memory the line
     * goes without it.
     */

    if (p->close_payload == NULL || p->len <= 2) {
        return;
    }

    reason = ngx_pnalloc(t->connection->pool, (size_t) p->len - 2);
    if (reason == NULL) {
        return;
    }

    t->close_reason.len = ws_close_reason(p, reason);
    t->close_reason.data = reason;
}


void
ngx_http_ws_relay_lost(ngx_http_ws_tunnel_t *t, ngx_uint_t side)
{
    ngx_http_ws_dir_t   *to;
    ngx_http_ws_side_t  *s;

    /*
     * A side that did not answer the proxy's ping is gone (no FIN came):
     * no close handshake with it, 1001 to the other side.
     */

    ngx_log_error(NGX_LOG_INFO, t->connection->log, 0,
                  "ws: %s did not answer ping, closing",
                  ngx_http_ws_side_name[side]);

    ngx_http_ws_closing(t, NGX_HTTP_WS_BY_PROXY, WS_CLOSE_ABNORMAL);

    s = &t->side[side];
    s->dead = 1;
    s->close_recv = 1;
    t->again = 1;

    if (side == NGX_HTTP_WS_CLIENT) {
        t->connection->error = 1;
    }

    to = ngx_http_ws_dir_to(t, side);

    ws_discard_output(&to->parser, &to->buf);
    ngx_http_ws_ctl_clear(to);

    ngx_http_ws_inject_close(t, 1 - side, WS_CLOSE_GOING_AWAY, NULL);

    ngx_http_ws_relay_run(t);
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
        t->timeouts |= NGX_HTTP_WS_TIMEOUT_SEND;

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
    ngx_http_ws_ctl_clear(to);

    /* the other side learns that its peer went away */

    ngx_http_ws_inject_close(t, other,
                             side == NGX_HTTP_WS_CLIENT
                             ? WS_CLOSE_GOING_AWAY : WS_CLOSE_INTERNAL_ERROR,
                             NULL);
}


static void
ngx_http_ws_inject_close(ngx_http_ws_tunnel_t *t, ngx_uint_t side,
    ngx_uint_t code, ngx_str_t *reason)
{
    size_t               len;
    u_char               pl[2 + NGX_HTTP_WS_CTL_REASON];
    ngx_int_t            rc;
    ngx_http_ws_dir_t   *d;
    ngx_http_ws_side_t  *s;

    s = &t->side[side];

    if (s->dead || s->close_queued) {
        return;
    }

    s->close_queued = 1;

    pl[0] = (u_char) (code >> 8);
    pl[1] = (u_char) code;
    len = 2;

    if (reason) {
        len += ngx_min(reason->len, NGX_HTTP_WS_CTL_REASON);
        ngx_memcpy(pl + 2, reason->data, len - 2);
    }

    (void) ngx_http_ws_ctl_add(t, side, WS_OP_CLOSE, pl, len);

    d = ngx_http_ws_dir_to(t, side);
    d->ctl_close = 1;

    /* forward nothing more to that side after the current frame */

    ws_stop(&d->parser);

    if (d->mem) {
        rc = ws_scan(&d->parser, &d->buf);
        ngx_http_ws_after_scan(t, 1 - side, &d->parser, rc);
    }

    if (d->parser.mid_frame && t->side[1 - side].dead) {

        /*
         * The frame being forwarded can never be completed: a close
         * frame cannot be sent, the connection is closed (1006).
         */

        ngx_http_ws_ctl_clear(d);
        s->dead = 1;

        if (side == NGX_HTTP_WS_CLIENT) {
            t->connection->error = 1;
        }
    }
}


ngx_int_t
ngx_http_ws_relay_control(ngx_http_ws_tunnel_t *t, ngx_uint_t side,
    ngx_uint_t opcode, u_char *data, size_t len)
{
    ngx_http_ws_side_t  *s;

    /*
     * A ping or a pong of the proxy's own to one side, written between two
     * frames while forwarding goes on.  NGX_DECLINED: that side is gone or
     * closing, or the queue has no room (a frame is still being written).
     */

    s = &t->side[side];

    if (s->dead || s->close_queued || t->finalized
        || (opcode != WS_OP_PING && opcode != WS_OP_PONG)
        || len > NGX_HTTP_WS_CTL_PAYLOAD)
    {
        return NGX_DECLINED;
    }

    if (ngx_http_ws_ctl_add(t, side, opcode, data, len) != NGX_OK) {
        return NGX_DECLINED;
    }

    ngx_http_ws_relay_run(t);

    return NGX_OK;
}


static ngx_int_t
ngx_http_ws_ctl_add(ngx_http_ws_tunnel_t *t, ngx_uint_t side,
    ngx_uint_t opcode, u_char *data, size_t len)
{
    size_t              room, n;
    uint32_t            key;
    ngx_http_ws_dir_t  *d;

    d = ngx_http_ws_dir_to(t, side);

    /* a close always has room; a frame after it never does */

    room = NGX_HTTP_WS_CTL_SIZE - d->ctl_len;

    if (opcode != WS_OP_CLOSE) {
        room = (room > WS_CLOSE_FRAME_LEN + NGX_HTTP_WS_CTL_REASON)
               ? room - WS_CLOSE_FRAME_LEN - NGX_HTTP_WS_CTL_REASON : 0;
    }

    if (d->ctl_close || 2 + 4 + len > room) {
        return NGX_DECLINED;
    }

    if (side == NGX_HTTP_WS_UPSTREAM) {
        /* a client's frame: masked with an unpredictable key */
        key = (uint32_t) ngx_random();
        n = ws_control_frame(d->ctl + d->ctl_len, (unsigned) opcode, data,
                             len, (u_char *) &key);

    } else {
        n = ws_control_frame(d->ctl + d->ctl_len, (unsigned) opcode, data,
                             len, NULL);
    }

    d->ctl_len += n;
    d->ctl_frames++;
    t->again = 1;

    /* the output stops at the next frame boundary, where these go */

    ws_pause(&d->parser);

    return NGX_OK;
}


static void
ngx_http_ws_ctl_written(ngx_http_ws_tunnel_t *t, ngx_uint_t i)
{
    ngx_int_t           rc;
    ngx_http_ws_dir_t  *d;

    d = &t->dir[i];

    d->proxy_frames += d->ctl_frames;

    if (t->side[1 - i].ping_queued) {
        /* the proxy's ping is out: its pong timeout and round trip start */
        t->side[1 - i].ping_queued = 0;
        t->side[1 - i].ping_at = ngx_current_msec;
    }

    if (d->ctl_close) {
        t->side[1 - i].close_sent = 1;
    }

    ngx_http_ws_ctl_clear(d);

    /* forwarding goes on */

    ws_resume(&d->parser);

    if (d->mem && d->buf.scan < d->buf.last) {
        rc = ws_scan(&d->parser, &d->buf);
        ngx_http_ws_scanned(t, i, rc);
    }
}


static void
ngx_http_ws_ctl_clear(ngx_http_ws_dir_t *d)
{
    d->ctl_len = 0;
    d->ctl_sent = 0;
    d->ctl_frames = 0;
}


static void
ngx_http_ws_closing(ngx_http_ws_tunnel_t *t, ngx_uint_t by, ngx_uint_t code)
{
    if (t->initiator != NGX_HTTP_WS_BY_NONE) {
        return;
    }

    t->initiator = by;
    t->close_code = code;

    ngx_add_timer(&t->timer, t->conf->close_timeout);
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
ngx_http_ws_relay_close(ngx_http_ws_tunnel_t *t, ngx_uint_t code)
{
    /* the proxy closes the WebSocket: a close frame to each side */

    ngx_http_ws_closing(t, NGX_HTTP_WS_BY_PROXY, code);
    ngx_http_ws_inject_close(t, NGX_HTTP_WS_CLIENT, code, NULL);
    ngx_http_ws_inject_close(t, NGX_HTTP_WS_UPSTREAM, code, NULL);

    ngx_http_ws_relay_run(t);
}


void
ngx_http_ws_relay_close_to(ngx_http_ws_tunnel_t *t, ngx_uint_t side,
    ngx_uint_t code, ngx_str_t *reason)
{
    /*
     * The proxy closes the WebSocket because of one side (a policy): code
     * and reason to it, 1001 to the other
     */

    if (t->initiator == NGX_HTTP_WS_BY_NONE && reason) {
        t->close_reason = *reason;
    }

    ngx_http_ws_closing(t, NGX_HTTP_WS_BY_PROXY, code);
    ngx_http_ws_inject_close(t, side, code, reason);
    ngx_http_ws_inject_close(t, 1 - side, WS_CLOSE_GOING_AWAY, NULL);

    ngx_http_ws_relay_run(t);
}


void
ngx_http_ws_relay_free(ngx_http_ws_tunnel_t *t)
{
    ngx_http_ws_free(&t->dir[0]);
    ngx_http_ws_free(&t->dir[1]);
}


static ngx_uint_t
ngx_http_ws_ssl_read_writes(ngx_http_ws_tunnel_t *t, ngx_connection_t *c)
{
#if (NGX_HTTP_SSL)

    /*
     * SSL_read() on this connection has a handshake record of its own to
     * write first (a renegotiation's ClientHello that met a full socket):
     * no SSL_write() may come before it is out (OpenSSL refuses it with
     * "bad length").  The other direction reads the connection once more
     * in this pass, which writes the record as far as the socket takes.
     */

    if (c->ssl->saved_write_handler == NULL
        || !SSL_want_write(c->ssl->connection))
    {
        return 0;
    }

    if (!t->ssl_kicked) {
        t->ssl_kicked = 1;
        t->again = 1;
        c->read->ready = 1;
    }

    return 1;

#else

    return 0;

#endif
}


ngx_int_t
ngx_http_ws_relay_preload(ngx_http_ws_dir_t *d, u_char *data, size_t n,
    size_t size, ngx_log_t *log)
{
    /* bytes that came with the handshake, before the relay runs */

    if (ngx_http_ws_alloc(d, ngx_max(n, size), log) != NGX_OK) {
        return NGX_ERROR;
    }

    d->buf.last = ngx_cpymem(d->buf.last, data, n);
    d->bytes_in += n;

    return NGX_OK;
}
