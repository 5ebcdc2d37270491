
/*
 * Copyright (C) the ngx_ws authors
 *
 * Message and byte rate limits of open WebSockets (docs/directives.md,
 * ws_limit_*): per connection, or shared by a key in a zone of shared
 * memory as ngx_http_limit_req_module keeps them (a slab, an rbtree keyed
 * by a hash of the key, the zone kept over a reload).  The LRU queue holds
 * only the keys that no open WebSocket uses, in the order they were let
 * go: a key goes when its buckets have drained, or, when the zone is full,
 * before they have.  The relay asks before a message begins (the
 * scanner's gate) and before it reads; throttling is not reading, woken by
 * the tunnel's one timer.  Nothing here calls the other nginx-side files.
 */


#include "ngx_http_ws_module.h"


#define NGX_HTTP_WS_LIMIT_MSGS    0
#define NGX_HTTP_WS_LIMIT_BYTES   1

#define NGX_HTTP_WS_FROM_CLIENT   1
#define NGX_HTTP_WS_FROM_UPSTREAM 2

/* a message costs this much of a bucket; a byte costs 1 */
#define NGX_HTTP_WS_LIMIT_UNIT    1000

/* the messages a gate grants at most, all charged when granted */
#define NGX_HTTP_WS_LIMIT_GRANT   64


struct ngx_http_ws_limit_s {
    ngx_shm_zone_t              *shm_zone;     /* NULL: per connection */
    uint64_t                     rate;         /* units per second */
    uint64_t                     burst;        /* units */
    uint64_t                     cost;         /* of a message, a byte */
    ngx_uint_t                   from;
    ngx_uint_t                   kind;
};


typedef struct {
    u_char                       color;
    u_char                       dummy;
    u_short                      len;
    ngx_queue_t                  queue;        /* when conns is 0 */
    ngx_uint_t                   conns;        /* WebSockets using it */
    ngx_msec_t                   drained;      /* its buckets are empty */
    ngx_msec_t                   last[4];      /* [kind * 2 + direction] */
    uint64_t                     excess[4];
    u_char                       data[1];
} ngx_http_ws_limit_node_t;


typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  queue;
} ngx_http_ws_limit_shctx_t;


typedef struct {
    ngx_http_ws_limit_shctx_t   *sh;
    ngx_slab_pool_t             *shpool;
    ngx_http_complex_value_t     key;
} ngx_http_ws_limit_zone_t;


/* a WebSocket's limits: its own buckets, or its nodes in the zones */

struct ngx_http_ws_limits_s {
    ngx_http_ws_limit_t         *conf[2];      /* [kind] */
    ngx_http_ws_limit_node_t    *node[2];
    ngx_msec_t                   last[4];
    uint64_t                     excess[4];
    ngx_msec_t                   wake[2];      /* [direction] */
    uint64_t                     charged[2];   /* messages, [direction] */
    unsigned                     waiting:2;    /* [direction] bits */
    unsigned                     logged:2;     /* this episode */
};


static ngx_int_t ngx_http_ws_limit_charge(ngx_http_ws_tunnel_t *t,
    ngx_uint_t kind, ngx_uint_t i, uint64_t amount, uint64_t want,
    ngx_msec_t *wait, uint64_t *room);
static void ngx_http_ws_limit_wait(ngx_http_ws_tunnel_t *t, ngx_uint_t i,
    ngx_uint_t kind, ngx_msec_t wait, uint64_t excess);
static ngx_http_ws_limit_node_t *ngx_http_ws_limit_lookup(
    ngx_http_ws_limit_zone_t *ctx, ngx_str_t *key, uint32_t hash,
    ngx_log_t *log, ngx_str_t *name);
static void ngx_http_ws_limit_expire(ngx_http_ws_limit_zone_t *ctx,
    ngx_uint_t force);
static void ngx_http_ws_limit_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_int_t ngx_http_ws_limit_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);


static const char  *ngx_http_ws_limit_sides[] = { "client", "upstream" };
static ngx_str_t    ngx_http_ws_limit_empty = ngx_null_string;


ngx_int_t
ngx_http_ws_limit_start(ngx_http_request_t *r, ngx_http_ws_tunnel_t *t)
{
    uint32_t                   hash;
    ngx_str_t                  key;
    ngx_uint_t                 k, i;
    ngx_http_ws_limit_t       *lc;
    ngx_http_ws_limits_t      *ls;
    ngx_http_ws_limit_zone_t  *ctx;
    ngx_http_ws_loc_conf_t    *wlcf;

    /* at the upgrade: the keys are evaluated, the WebSocket's nodes found */

    wlcf = t->conf;

    if (wlcf->limit[0] == NULL && wlcf->limit[1] == NULL) {
        return NGX_OK;
    }

    ls = ngx_calloc(sizeof(ngx_http_ws_limits_t), r->connection->log);
    if (ls == NULL) {
        return NGX_ERROR;
    }

    t->limits = ls;

    for (k = 0; k < 2; k++) {
        lc = wlcf->limit[k];

        if (lc == NULL) {
            continue;
        }

        ls->conf[k] = lc;

        for (i = 0; i < 2; i++) {
            ls->last[k * 2 + i] = ngx_current_msec;
        }

        if (lc->shm_zone == NULL) {
            continue;
        }

        ctx = lc->shm_zone->data;

        if (ngx_http_complex_value(r, &ctx->key, &key) != NGX_OK) {
            return NGX_ERROR;
        }

        if (key.len == 0) {
            /* no key: not limited by the zone, as limit_req */
            ls->conf[k] = NULL;
            continue;
        }

        if (key.len > 65535) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "ws: the key of limit zone \"%V\" is longer than "
                          "65535 bytes, not limited", &lc->shm_zone->shm.name);
            ls->conf[k] = NULL;
            continue;
        }

        hash = ngx_crc32_short(key.data, key.len);

        ngx_shmtx_lock(&ctx->shpool->mutex);

        ls->node[k] = ngx_http_ws_limit_lookup(ctx, &key, hash,
                                               r->connection->log,
                                               &lc->shm_zone->shm.name);
        if (ls->node[k]) {
            if (ls->node[k]->conns++ == 0) {
                /* in use: out of the queue of keys that may go */
                ngx_queue_remove(&ls->node[k]->queue);
            }
        }

        ngx_shmtx_unlock(&ctx->shpool->mutex);

        if (ls->node[k] == NULL) {
            /* the zone is full: let it through, it was logged */
            ls->conf[k] = NULL;
        }
    }

    /* messages wait at the scanner's gate until they are granted */

    lc = ls->conf[NGX_HTTP_WS_LIMIT_MSGS];

    for (i = 0; lc && i < 2; i++) {
        if (lc->from & (1 << i)) {
            t->dir[i].parser.limited = 1;
            t->dir[i].parser.max_messages = t->dir[i].parser.messages;
            t->dir[i].limit_read = 1;
            ls->charged[i] = t->dir[i].parser.messages;
        }
    }

    /* bytes are charged as they are read */

    lc = ls->conf[NGX_HTTP_WS_LIMIT_BYTES];

    for (i = 0; lc && i < 2; i++) {
        if (lc->from & (1 << i)) {
            t->dir[i].limit_read = 1;
            t->dir[i].limit_bytes = 1;
        }
    }

    return NGX_OK;
}


void
ngx_http_ws_limit_end(ngx_http_ws_tunnel_t *t)
{
    uint64_t                   drained;
    ngx_uint_t                 k, i, b;
    ngx_msec_t                 now, at;
    ngx_msec_int_t             ms;
    ngx_http_ws_limit_t       *lc;
    ngx_http_ws_limits_t      *ls;
    ngx_http_ws_limit_node_t  *ln;
    ngx_http_ws_limit_zone_t  *ctx;

    ls = t->limits;

    if (ls == NULL) {
        return;
    }

    for (k = 0; k < 2; k++) {
        ln = ls->node[k];

        if (ln == NULL) {
            continue;
        }

        lc = ls->conf[k];
        ctx = lc->shm_zone->data;

        ngx_shmtx_lock(&ctx->shpool->mutex);

        /* when the buckets this WebSocket filled will have drained */

        now = ngx_current_msec;

        for (i = 0; i < 2; i++) {
            if (!(lc->from & (1 << i))) {
                continue;
            }

            b = k * 2 + i;

            ms = (ngx_msec_int_t) (now - ln->last[b]);
            ms = ngx_max(ms, 0);

            drained = lc->rate * (uint64_t) ms / 1000;

            if (ln->excess[b] <= drained) {
                continue;
            }

            at = now + (ngx_msec_t) ((ln->excess[b] - drained) * 1000
                                     / lc->rate) + 1;

            if ((ngx_msec_int_t) (at - ln->drained) > 0) {
                ln->drained = at;
            }
        }

        if (--ln->conns == 0) {
            ngx_queue_insert_head(&ctx->sh->queue, &ln->queue);
        }

        ngx_shmtx_unlock(&ctx->shpool->mutex);
    }

    ngx_free(ls);
    t->limits = NULL;
}


ngx_int_t
ngx_http_ws_limit_message(ngx_http_ws_tunnel_t *t, ngx_uint_t i)
{
    uint64_t               owed, want, grant;
    ngx_int_t              rc;
    ngx_msec_t             wait;
    ws_parser_t           *p;
    ngx_http_ws_limits_t  *ls;

    /*
     * The scanner stopped before a message from side i: NGX_OK, it may
     * begin; NGX_AGAIN, not yet (the timer wakes the relay); NGX_DECLINED,
     * ws_limit_action close.
     *
     * As many messages are granted as the bucket holds now and begin in
     * the bytes already read (up to NGX_HTTP_WS_LIMIT_GRANT), and all of
     * them are charged at once, under the zone's lock, as if each had
     * been asked for: connections of one key in other workers find the
     * bucket as full as it is, and not fuller.  When the scan ends, what
     * was granted and not begun is given back
     * (ngx_http_ws_limit_settle()): the gate is met once per read rather
     * than once per message.
     */

    p = &t->dir[i].parser;
    ls = t->limits;

    if (t->initiator != NGX_HTTP_WS_BY_NONE) {
        /* closing: nothing holds up the close handshake */
        p->limited = 0;
        return NGX_OK;
    }

    if (ngx_http_ws_limit_waiting(t, i)) {
        /* asked again before the wait is over (more bytes came) */
        return NGX_AGAIN;
    }

    /* messages begun and not charged (none, as grants are charged) */

    owed = (p->messages > ls->charged[i]) ? p->messages - ls->charged[i]
                                          : 0;

    /* no more than begin in what was read: the bucket is shared */

    want = ws_messages_ahead(p, &t->dir[i].buf, NGX_HTTP_WS_LIMIT_GRANT);

    rc = ngx_http_ws_limit_charge(t, NGX_HTTP_WS_LIMIT_MSGS, i, owed + 1,
                                  want, &wait, &grant);

    ls->charged[i] = p->messages;

    if (rc != NGX_OK) {
        return rc;
    }

    /* none charged: a dry run over the limit lets one through */

    grant = ngx_max(grant, 1);
    grant = ngx_min(grant, NGX_HTTP_WS_LIMIT_GRANT);

    ls->charged[i] += grant;
    p->max_messages = p->messages + grant;
    t->dir[i].limit_grant = (grant > 1);

    return NGX_OK;
}


void
ngx_http_ws_limit_settle(ngx_http_ws_tunnel_t *t, ngx_uint_t i)
{
    uint64_t                   begun, back, *ep;
    ngx_http_ws_limit_t       *lc;
    ngx_http_ws_limits_t      *ls;
    ngx_http_ws_limit_zone_t  *ctx;
    ws_parser_t               *p;

    /*
     * A scan of side i ended with messages of a grant left: the grant
     * lapses, so that it covers what was read at one time only, and what
     * it charged for messages that did not begin is given back.  A
     * message whose header is cut by the end of the read has begun: it
     * passes without the gate when the rest comes.  A bucket that drained
     * in between gives back no more than it holds.
     */

    p = &t->dir[i].parser;
    ls = t->limits;
    lc = ls->conf[NGX_HTTP_WS_LIMIT_MSGS];

    begun = p->messages + ws_message_pending(p);

    if (lc && ls->charged[i] > begun) {
        back = (ls->charged[i] - begun) * lc->cost;

        if (ls->node[NGX_HTTP_WS_LIMIT_MSGS]) {
            ctx = lc->shm_zone->data;
            ep = &ls->node[NGX_HTTP_WS_LIMIT_MSGS]->excess[i];

            ngx_shmtx_lock(&ctx->shpool->mutex);
            *ep = (*ep > back) ? *ep - back : 0;
            ngx_shmtx_unlock(&ctx->shpool->mutex);

        } else {
            ep = &ls->excess[i];
            *ep = (*ep > back) ? *ep - back : 0;
        }

        ls->charged[i] = begun;
    }

    p->max_messages = begun;
    t->dir[i].limit_grant = 0;
}


ssize_t
ngx_http_ws_limit_read(ngx_http_ws_tunnel_t *t, ngx_uint_t i, size_t size)
{
    uint64_t     room;
    ngx_int_t    rc;
    ngx_msec_t   wait;

    /*
     * How much may be read from side i now: 0, nothing (the timer wakes
     * the relay); NGX_ERROR, ws_limit_action close.
     */

    if (t->initiator != NGX_HTTP_WS_BY_NONE) {
        return size;
    }

    if (t->limits->waiting & (1 << i)) {
        return 0;
    }

    if (!t->dir[i].limit_bytes) {
        /* only messages are limited: nothing holds the read */
        return size;
    }

    rc = ngx_http_ws_limit_charge(t, NGX_HTTP_WS_LIMIT_BYTES, i, 0, 0,
                                  &wait, &room);

    if (rc == NGX_DECLINED) {
        return NGX_ERROR;
    }

    if (rc == NGX_AGAIN) {
        return 0;
    }

    return (ssize_t) ngx_min((uint64_t) size, room);
}


void
ngx_http_ws_limit_took(ngx_http_ws_tunnel_t *t, ngx_uint_t i, size_t n)
{
    uint64_t    room;
    ngx_msec_t  wait;

    /* what was read is charged; the next read waits if it was too much */

    (void) ngx_http_ws_limit_charge(t, NGX_HTTP_WS_LIMIT_BYTES, i, n, 0,
                                    &wait, &room);
}


ngx_msec_int_t
ngx_http_ws_limit_next(ngx_http_ws_tunnel_t *t)
{
    ngx_uint_t             i;
    ngx_msec_int_t         left, w;
    ngx_http_ws_limits_t  *ls;

    /* the time to the nearest wake of a throttled direction, or -1 */

    ls = t->limits;
    left = -1;

    for (i = 0; ls && i < 2; i++) {
        if (!(ls->waiting & (1 << i))) {
            continue;
        }

        w = (ngx_msec_int_t) (ls->wake[i] - ngx_current_msec);
        w = ngx_max(w, 0);

        left = (left < 0) ? w : ngx_min(left, w);
    }

    return left;
}


ngx_uint_t
ngx_http_ws_limit_due(ngx_http_ws_tunnel_t *t)
{
    ngx_uint_t             i, due;
    ngx_http_ws_limits_t  *ls;

    /* directions whose wait is over: the relay is to run again */

    ls = t->limits;
    due = 0;

    for (i = 0; ls && i < 2; i++) {
        if ((ls->waiting & (1 << i))
            && (ngx_msec_int_t) (ls->wake[i] - ngx_current_msec) <= 0)
        {
            ls->waiting &= ~(1 << i);
            due = 1;
        }
    }

    return due;
}


ngx_uint_t
ngx_http_ws_limit_waiting(ngx_http_ws_tunnel_t *t, ngx_uint_t i)
{
    return t->limits && (t->limits->waiting & (1 << i));
}


static ngx_int_t
ngx_http_ws_limit_charge(ngx_http_ws_tunnel_t *t, ngx_uint_t kind,
    ngx_uint_t i, uint64_t amount, uint64_t want, ngx_msec_t *wait,
    uint64_t *room)
{
    uint64_t                   drained, excess, *ep;
    ngx_int_t                  rc;
    ngx_msec_t                 now, *lp;
    ngx_msec_int_t             ms;
    ngx_http_ws_limit_t       *lc;
    ngx_http_ws_limits_t      *ls;
    ngx_http_ws_limit_zone_t  *ctx;

    /*
     * A leaky bucket, as limit_req's: the excess drains at the rate, and
     * what comes is let through while the excess is at most the burst.
     * amount 0: only whether something may come, and how much (room).
     * Messages: amount - 1 that came before are charged, and one asked
     * for; if it may come, as many as the bucket lets through one by one,
     * up to want, are charged and their number is in room (0 if none
     * was charged).
     */

    ls = t->limits;
    lc = ls ? ls->conf[kind] : NULL;

    *room = (uint64_t) -1;

    if (lc == NULL || !(lc->from & (1 << i))) {
        return NGX_OK;
    }

    ctx = NULL;

    if (ls->node[kind]) {
        ctx = lc->shm_zone->data;
        ngx_shmtx_lock(&ctx->shpool->mutex);

        ep = &ls->node[kind]->excess[kind * 2 + i];
        lp = &ls->node[kind]->last[kind * 2 + i];

    } else {
        ep = &ls->excess[kind * 2 + i];
        lp = &ls->last[kind * 2 + i];
    }

    now = ngx_current_msec;
    ms = (ngx_msec_int_t) (now - *lp);
    ms = ngx_max(ms, 0);

    drained = lc->rate * (uint64_t) ms / 1000;
    excess = (*ep > drained) ? *ep - drained : 0;

    if (excess == 0 && ms >= 1000) {
        /* within the limit for a second: a next episode is logged */
        ls->logged &= ~(1 << i);
    }

    if (kind == NGX_HTTP_WS_LIMIT_MSGS && amount > 1) {
        /* messages of an earlier grant: they came, this one is asked */
        excess += (amount - 1) * lc->cost;
        amount = 1;
    }

    if (drained || ms > 1000) {
        /* the time is taken only when something drained */
        *lp = now;

    } else if (*ep == 0) {
        *lp = now;
    }

    if (excess > lc->burst) {
        /* over the limit: the wait until it is at the burst again */

        *wait = (ngx_msec_t) ((excess - lc->burst) * 1000 / lc->rate) + 1;
        rc = (t->conf->limit_action == NGX_HTTP_WS_LIMIT_CLOSE) ? NGX_DECLINED
                                                                : NGX_AGAIN;

        if (kind == NGX_HTTP_WS_LIMIT_MSGS) {
            /* a dry run grants one message at a time */
            *room = 0;
        }

    } else if (kind == NGX_HTTP_WS_LIMIT_MSGS) {
        *wait = 0;
        rc = NGX_OK;

        if (amount) {
            /* each lets the next through while the excess is <= burst */
            amount = 1 + (lc->burst - excess) / lc->cost;
            amount = ngx_min(amount, ngx_max(want, 1));
        }

        *room = amount;

    } else {
        *wait = 0;
        *room = lc->burst - excess + lc->rate / 10 + 1;
        rc = NGX_OK;
    }

    if (amount && (rc == NGX_OK || kind == NGX_HTTP_WS_LIMIT_BYTES)) {
        /* bytes read are charged even over the limit: they came */
        excess += amount * lc->cost;
    }

    *ep = excess;

    if (ctx) {
        ngx_shmtx_unlock(&ctx->shpool->mutex);
    }

    if (rc == NGX_OK) {
        return NGX_OK;
    }

    if (t->conf->limit_dry_run) {
        ngx_http_ws_limit_wait(t, i, kind, 0, excess);
        return NGX_OK;
    }

    ngx_http_ws_limit_wait(t, i, kind, *wait, excess);

    return rc;
}


static void
ngx_http_ws_limit_wait(ngx_http_ws_tunnel_t *t, ngx_uint_t i,
    ngx_uint_t kind, ngx_msec_t wait, uint64_t excess)
{
    ngx_uint_t             level;
    ngx_http_ws_limit_t   *lc;
    ngx_http_ws_limits_t  *ls;

    ls = t->limits;
    lc = ls->conf[kind];

    /* one log line per episode */

    if (!(ls->logged & (1 << i))) {
        ls->logged |= 1 << i;

        level = t->conf->limit_log_level;

        if (kind == NGX_HTTP_WS_LIMIT_MSGS) {
            ngx_log_error(level, t->connection->log, 0,
                          "ws: limiting messages from %s, excess: "
                          "%uL.%03uL by %s%V%s%s",
                          ngx_http_ws_limit_sides[i],
                          (excess - lc->burst) / NGX_HTTP_WS_LIMIT_UNIT,
                          (excess - lc->burst) % NGX_HTTP_WS_LIMIT_UNIT,
                          lc->shm_zone ? "zone \"" : "connection",
                          lc->shm_zone ? &lc->shm_zone->shm.name
                                       : &ngx_http_ws_limit_empty,
                          lc->shm_zone ? "\"" : "",
                          t->conf->limit_dry_run ? ", dry run" : "");
        } else {
            ngx_log_error(level, t->connection->log, 0,
                          "ws: limiting bytes from %s, excess: %uL by %s%V%s%s",
                          ngx_http_ws_limit_sides[i], excess - lc->burst,
                          lc->shm_zone ? "zone \"" : "connection",
                          lc->shm_zone ? &lc->shm_zone->shm.name
                                       : &ngx_http_ws_limit_empty,
                          lc->shm_zone ? "\"" : "",
                          t->conf->limit_dry_run ? ", dry run" : "");
        }
    }

    if (t->conf->limit_dry_run) {
        t->limit_status = ngx_max(t->limit_status, NGX_HTTP_WS_LIMIT_DRY_RUN);
        return;
    }

    if (t->conf->limit_action == NGX_HTTP_WS_LIMIT_CLOSE) {
        t->limit_status = NGX_HTTP_WS_LIMIT_CLOSED;
        return;
    }

    t->limit_status = ngx_max(t->limit_status, NGX_HTTP_WS_LIMIT_THROTTLED);

    /* the tunnel's one timer wakes the relay then, unless it is sooner */

    if (!(ls->waiting & (1 << i))
        || (ngx_msec_int_t) (ngx_current_msec + wait - ls->wake[i]) < 0)
    {
        ls->wake[i] = ngx_current_msec + wait;
    }

    ls->waiting |= 1 << i;

    if (!t->timer.timer_set
        || (ngx_msec_int_t) (t->timer.timer.key - ls->wake[i]) > 0)
    {
        ngx_add_timer(&t->timer, wait);
    }
}


/* ngx_http_limit_req_module's zone, for WebSockets */

static ngx_http_ws_limit_node_t *
ngx_http_ws_limit_lookup(ngx_http_ws_limit_zone_t *ctx, ngx_str_t *key,
    uint32_t hash, ngx_log_t *log, ngx_str_t *name)
{
    size_t                     size;
    ngx_int_t                  rc;
    ngx_rbtree_node_t         *node, *sentinel;
    ngx_http_ws_limit_node_t  *ln;

    /* under the zone's lock */

    node = ctx->sh->rbtree.root;
    sentinel = ctx->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (hash < node->key) {
            node = node->left;
            continue;
        }

        if (hash > node->key) {
            node = node->right;
            continue;
        }

        ln = (ngx_http_ws_limit_node_t *) &node->color;

        rc = ngx_memn2cmp(key->data, ln->data, key->len, (size_t) ln->len);

        if (rc == 0) {
            return ln;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    size = offsetof(ngx_rbtree_node_t, color)
           + offsetof(ngx_http_ws_limit_node_t, data)
           + key->len;

    ngx_http_ws_limit_expire(ctx, 0);

    node = ngx_slab_alloc_locked(ctx->shpool, size);

    if (node == NULL) {
        /* full: the keys let go longest ago go, drained or not */

        ngx_http_ws_limit_expire(ctx, 1);

        node = ngx_slab_alloc_locked(ctx->shpool, size);

        if (node == NULL) {
            ngx_log_error(NGX_LOG_WARN, log, 0,
                          "ws: could not allocate node in limit zone \"%V\"",
                          name);
            return NULL;
        }
    }

    node->key = hash;

    ln = (ngx_http_ws_limit_node_t *) &node->color;

    ln->len = (u_short) key->len;
    ln->conns = 0;
    ln->drained = ngx_current_msec;
    ngx_memzero(ln->last, sizeof(ln->last));
    ngx_memzero(ln->excess, sizeof(ln->excess));
    ngx_memcpy(ln->data, key->data, key->len);

    for (size = 0; size < 4; size++) {
        ln->last[size] = ngx_current_msec;
    }

    /* queued as a key let go: the caller takes it out as it counts itself */

    ngx_queue_insert_head(&ctx->sh->queue, &ln->queue);
    ngx_rbtree_insert(&ctx->sh->rbtree, node);

    return ln;
}


static void
ngx_http_ws_limit_expire(ngx_http_ws_limit_zone_t *ctx, ngx_uint_t force)
{
    ngx_uint_t                 n;
    ngx_queue_t               *q;
    ngx_rbtree_node_t         *node;
    ngx_http_ws_limit_node_t  *ln;

    /*
     * Up to 3 of the keys that no open WebSocket uses, those let go
     * longest ago, whose buckets have drained (a client that reconnects
     * finds its excess), or, forced by a full zone, drained or not: O(1),
     * as limit_req frees.
     */

    for (n = 0; n < 3; n++) {

        if (ngx_queue_empty(&ctx->sh->queue)) {
            return;
        }

        q = ngx_queue_last(&ctx->sh->queue);
        ln = ngx_queue_data(q, ngx_http_ws_limit_node_t, queue);

        if (!force
            && (ngx_msec_int_t) (ln->drained - ngx_current_msec) > 0)
        {
            return;
        }

        ngx_queue_remove(q);

        node = (ngx_rbtree_node_t *)
                   ((u_char *) ln - offsetof(ngx_rbtree_node_t, color));

        ngx_rbtree_delete(&ctx->sh->rbtree, node);
        ngx_slab_free_locked(ctx->shpool, node);
    }
}


static void
ngx_http_ws_limit_rbtree_insert_value(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t         **p;
    ngx_http_ws_limit_node_t   *ln, *lnt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else { /* node->key == temp->key */

            ln = (ngx_http_ws_limit_node_t *) &node->color;
            lnt = (ngx_http_ws_limit_node_t *) &temp->color;

            p = (ngx_memn2cmp(ln->data, lnt->data, ln->len, lnt->len) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


static ngx_int_t
ngx_http_ws_limit_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_ws_limit_zone_t  *octx = data;

    size_t                     len;
    ngx_http_ws_limit_zone_t  *ctx;

    ctx = shm_zone->data;

    if (octx) {
        /* a reload: the zone and its buckets stay */

        if (ctx->key.value.len != octx->key.value.len
            || ngx_strncmp(ctx->key.value.data, octx->key.value.data,
                           ctx->key.value.len)
               != 0)
        {
            ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                          "ws_limit_zone \"%V\" uses the \"%V\" key "
                          "while previously it used the \"%V\" key",
                          &shm_zone->shm.name, &ctx->key.value,
                          &octx->key.value);
            return NGX_ERROR;
        }

        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;

        return NGX_OK;
    }

    ctx->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (shm_zone->shm.exists) {
        ctx->sh = ctx->shpool->data;
        return NGX_OK;
    }

    ctx->sh = ngx_slab_alloc(ctx->shpool, sizeof(ngx_http_ws_limit_shctx_t));
    if (ctx->sh == NULL) {
        return NGX_ERROR;
    }

    ctx->shpool->data = ctx->sh;

    ngx_rbtree_init(&ctx->sh->rbtree, &ctx->sh->sentinel,
                    ngx_http_ws_limit_rbtree_insert_value);

    ngx_queue_init(&ctx->sh->queue);

    len = sizeof(" in ws_limit_zone \"\"") + shm_zone->shm.name.len;

    ctx->shpool->log_ctx = ngx_slab_alloc(ctx->shpool, len);
    if (ctx->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(ctx->shpool->log_ctx, " in ws_limit_zone \"%V\"%Z",
                &shm_zone->shm.name);

    ctx->shpool->log_nomem = 0;

    return NGX_OK;
}


char *
ngx_http_ws_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char                            *p;
    ssize_t                            size;
    ngx_str_t                         *value, name, s;
    ngx_uint_t                         i;
    ngx_shm_zone_t                    *shm_zone;
    ngx_http_ws_limit_zone_t          *ctx;
    ngx_http_compile_complex_value_t   ccv;

    value = cf->args->elts;

    ctx = ngx_pcalloc(cf->pool, sizeof(ngx_http_ws_limit_zone_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = &ctx->key;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    size = 0;
    name.len = 0;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            name.data = value[i].data + 5;

            p = (u_char *) ngx_strchr(name.data, ':');

            if (p == NULL) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            name.len = p - name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);

            if (size == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"zone\" parameter",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    shm_zone = ngx_shared_memory_add(cf, &name, size, &ngx_http_ws_module);
    if (shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    shm_zone->init = ngx_http_ws_limit_init_zone;
    shm_zone->data = ctx;

    return NGX_CONF_OK;
}


char *
ngx_http_ws_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ws_loc_conf_t *wlcf = conf;

    u_char               *p;
    ssize_t               size;
    ngx_int_t             n;
    ngx_str_t            *value, s;
    ngx_uint_t            i, kind, scale, got_rate;
    ngx_http_ws_limit_t  *lc;

    kind = (cmd->name.len == sizeof("ws_limit_bytes") - 1)
           ? NGX_HTTP_WS_LIMIT_BYTES : NGX_HTTP_WS_LIMIT_MSGS;

    if (wlcf->limit[kind] != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        wlcf->limit[kind] = NULL;
        return NGX_CONF_OK;
    }

    lc = ngx_pcalloc(cf->pool, sizeof(ngx_http_ws_limit_t));
    if (lc == NULL) {
        return NGX_CONF_ERROR;
    }

    lc->kind = kind;
    lc->from = NGX_HTTP_WS_FROM_CLIENT;
    lc->cost = (kind == NGX_HTTP_WS_LIMIT_MSGS) ? NGX_HTTP_WS_LIMIT_UNIT : 1;
    got_rate = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {
            s.len = value[i].len - 5;
            s.data = value[i].data + 5;

            lc->shm_zone = ngx_shared_memory_add(cf, &s, 0,
                                                 &ngx_http_ws_module);
            if (lc->shm_zone == NULL) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "burst=", 6) == 0) {
            s.len = value[i].len - 6;
            s.data = value[i].data + 6;

            if (kind == NGX_HTTP_WS_LIMIT_MSGS) {
                n = ngx_atoi(s.data, s.len);
                if (n == NGX_ERROR) {
                    goto invalid;
                }

                lc->burst = (uint64_t) n * NGX_HTTP_WS_LIMIT_UNIT;

            } else {
                size = ngx_parse_size(&s);
                if (size == NGX_ERROR) {
                    goto invalid;
                }

                lc->burst = (uint64_t) size;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "from=", 5) == 0) {
            s.len = value[i].len - 5;
            s.data = value[i].data + 5;

            if (s.len == 6 && ngx_strncmp(s.data, "client", 6) == 0) {
                lc->from = NGX_HTTP_WS_FROM_CLIENT;

            } else if (s.len == 8 && ngx_strncmp(s.data, "upstream", 8) == 0)
            {
                lc->from = NGX_HTTP_WS_FROM_UPSTREAM;

            } else if (s.len == 4 && ngx_strncmp(s.data, "both", 4) == 0) {
                lc->from = NGX_HTTP_WS_FROM_CLIENT|NGX_HTTP_WS_FROM_UPSTREAM;

            } else {
                goto invalid;
            }

            continue;
        }

        if (got_rate) {
            goto invalid;
        }

        got_rate = 1;

        if (kind == NGX_HTTP_WS_LIMIT_MSGS) {
            /* Nr/s, Nr/m */

            p = value[i].data + value[i].len - 3;
            scale = 1;

            if (value[i].len < 4) {
                goto invalid;
            }

            if (ngx_strncmp(p, "r/s", 3) == 0) {
                scale = 1;

            } else if (ngx_strncmp(p, "r/m", 3) == 0) {
                scale = 60;

            } else {
                goto invalid;
            }

            n = ngx_atoi(value[i].data, value[i].len - 3);
            if (n <= 0) {
                goto invalid;
            }

            lc->rate = (uint64_t) n * NGX_HTTP_WS_LIMIT_UNIT / scale;

        } else {
            /* a size per second */

            size = ngx_parse_size(&value[i]);
            if (size <= 0) {
                goto invalid;
            }

            lc->rate = (uint64_t) size;
        }

        if (lc->rate == 0) {
            goto invalid;
        }
    }

    if (!got_rate) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "no rate is defined");
        return NGX_CONF_ERROR;
    }

    wlcf->limit[kind] = lc;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);

    return NGX_CONF_ERROR;
}


char *
ngx_http_ws_limit_merge(ngx_conf_t *cf, ngx_http_ws_loc_conf_t *prev,
    ngx_http_ws_loc_conf_t *conf)
{
    ngx_uint_t            k;
    ngx_http_ws_limit_t  *lc;

    for (k = 0; k < 2; k++) {
        ngx_conf_merge_ptr_value(conf->limit[k], prev->limit[k], NULL);

        lc = conf->limit[k];

        if (lc && lc->shm_zone && lc->shm_zone->data == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown limit zone \"%V\"",
                               &lc->shm_zone->shm.name);
            return NGX_CONF_ERROR;
        }
    }

    ngx_conf_merge_uint_value(conf->limit_action, prev->limit_action,
                              NGX_HTTP_WS_LIMIT_THROTTLE);
    ngx_conf_merge_uint_value(conf->limit_log_level, prev->limit_log_level,
                              NGX_LOG_ERR);
    ngx_conf_merge_value(conf->limit_dry_run, prev->limit_dry_run, 0);

    return NGX_CONF_OK;
}
