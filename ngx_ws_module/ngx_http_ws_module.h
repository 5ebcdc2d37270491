
/*
 * Copyright (C) the ngx_ws authors
 */


#ifndef _NGX_HTTP_WS_MODULE_H_INCLUDED_
#define _NGX_HTTP_WS_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ws_core.h"
#include "ws_jwt.h"


extern ngx_module_t  ngx_http_ws_module;


#define NGX_HTTP_WS_CLIENT        0
#define NGX_HTTP_WS_UPSTREAM      1

/* interim (1xx) responses skipped before the backend's answer */
#define NGX_HTTP_WS_MAX_INTERIM   8

#define NGX_HTTP_WS_BY_NONE       0
#define NGX_HTTP_WS_BY_CLIENT     1
#define NGX_HTTP_WS_BY_UPSTREAM   2
#define NGX_HTTP_WS_BY_PROXY      3


typedef struct {
    ngx_str_t                    name;
    ngx_http_complex_value_t     value;
} ngx_http_ws_header_t;


typedef struct ngx_http_ws_jwt_s  ngx_http_ws_jwt_t;
typedef struct ngx_http_ws_stat_s  ngx_http_ws_stat_t;
typedef struct ngx_http_ws_limit_s  ngx_http_ws_limit_t;
typedef struct ngx_http_ws_limits_s  ngx_http_ws_limits_t;


#define NGX_HTTP_WS_LIMIT_THROTTLE  0
#define NGX_HTTP_WS_LIMIT_CLOSE     1

/* $ws_limit_status, the worst of a WebSocket's life */
#define NGX_HTTP_WS_LIMIT_PASSED    0
#define NGX_HTTP_WS_LIMIT_DRY_RUN   1
#define NGX_HTTP_WS_LIMIT_THROTTLED 2
#define NGX_HTTP_WS_LIMIT_CLOSED    3


typedef struct {
    ngx_http_upstream_conf_t     upstream;

    ngx_array_t                 *headers;      /* ngx_http_ws_header_t */
    ngx_hash_t                   skip_headers; /* client headers not sent */

    ngx_array_t                 *ws_lengths;
    ngx_array_t                 *ws_values;

    ngx_str_t                    host;
    ngx_str_t                    uri;
    ngx_str_t                    location;

    ngx_array_t                 *origins;      /* ws_origin; NULL: same */
    ngx_uint_t                   origin_missing;
    ngx_array_t                 *subprotocols; /* NULL: the client's all */
    ngx_flag_t                   subprotocol_required;

    ngx_http_ws_jwt_t           *jwt;          /* ws_auth_jwt; NULL: off */
    ngx_str_t                    jwt_subprotocol; /* subprotocol=PREFIX */
    ws_jwt_keys_t               *jwt_keys;
    ngx_array_t                 *jwt_require;
    time_t                       jwt_leeway;
    ngx_flag_t                   jwt_close_at_exp;

    size_t                       buffer_size;
    off_t                        max_frame_size;
    off_t                        max_message_size;
    ngx_flag_t                   validate_utf8;
    ngx_msec_t                   close_timeout;
    ngx_msec_t                   send_timeout;
    ngx_msec_t                   idle_timeout;  /* 0: off */
    ngx_msec_t                   max_lifetime;  /* 0: off */
    ngx_msec_t                   frame_timeout; /* 0: off */
    ngx_msec_t                   ping_interval; /* 0: off */
    ngx_msec_t                   pong_timeout;
    ngx_flag_t                   ping_upstream;

    ngx_uint_t                   status_zone;  /* ws_status_zone: a group */
    ngx_flag_t                   status;       /* ws_status */

    ngx_http_ws_limit_t         *limit[2];     /* messages, bytes; or NULL */
    ngx_uint_t                   limit_action;
    ngx_uint_t                   limit_log_level;
    ngx_flag_t                   limit_dry_run;

#if (NGX_HTTP_SSL)
    ngx_uint_t                   ssl;
    ngx_uint_t                   ssl_protocols;
    ngx_str_t                    ssl_ciphers;
    ngx_uint_t                   ssl_verify_depth;
    ngx_str_t                    ssl_trusted_certificate;
    ngx_str_t                    ssl_crl;
#endif
} ngx_http_ws_loc_conf_t;


/*
 * room for the proxy's own control frames queued to one side: a close
 * (WS_CLOSE_FRAME_LEN and a reason) is always accepted; pings and pongs with payloads
 * of up to NGX_HTTP_WS_CTL_PAYLOAD bytes while the rest has room
 */
#define NGX_HTTP_WS_CTL_SIZE      40
#define NGX_HTTP_WS_CTL_PAYLOAD   8
/* the longest reason of a close of the proxy's own ("token expired") */
#define NGX_HTTP_WS_CTL_REASON    16


/* one direction of the relay: from side "src" to side "dst" */

typedef struct {
    ws_parser_t                  parser;
    ws_buf_t                     buf;
    u_char                      *mem;
    size_t                       size;

    ngx_connection_t            *src;
    ngx_connection_t            *dst;

    /*
     * the proxy's own control frames to dst, whole frames in order: they
     * go out at a frame boundary of the forwarded output, forwarding
     * paused until they are all written; a close is the last
     */
    u_char                       ctl[NGX_HTTP_WS_CTL_SIZE];
    u_char                       ctl_len;
    u_char                       ctl_sent;
    u_char                       ctl_frames;   /* in ctl */
    unsigned                     ctl_close:1;  /* a close is in ctl */
    unsigned                     close_fwd:1;  /* src's close is forwarded */
    unsigned                     sent:1;       /* dst took bytes this pass */
    unsigned                     limit_read:1; /* ws_limit_* may hold reads */
    unsigned                     limit_bytes:1; /* reads are charged */
    unsigned                     limit_grant:1; /* messages granted ahead */
    uint32_t                     proxy_frames; /* of the proxy's, written */

    off_t                        bytes_in;
    off_t                        bytes_out;
} ngx_http_ws_dir_t;


typedef struct {
    unsigned                     dead:1;        /* no more I/O with it */
    unsigned                     close_recv:1;  /* nothing more to read */
    unsigned                     close_queued:1;
    unsigned                     close_sent:1;  /* a close was written */
    unsigned                     offended:1;    /* sent an invalid frame */

    /* liveness, seen by the tunnel's timer: ws_ping_interval */
    unsigned                     pinging:1;     /* the proxy's ping is out */
    unsigned                     ping_queued:1; /* not written yet */
    unsigned                     in_frame:1;    /* mid-frame at a check */
    uint32_t                     pings;         /* the proxy's, sent */
    ngx_msec_t                   heard;         /* bytes from it last seen */
    ngx_msec_t                   ping_at;       /* the proxy's ping sent */
    ngx_msec_t                   frame_since;   /* in_frame since */
    ngx_msec_int_t               rtt;           /* of the last pong, or -1 */
    off_t                        heard_bytes;   /* bytes_in then */
    uint64_t                     frame_count;   /* its frames then */
} ngx_http_ws_side_t;


typedef struct ngx_http_ws_snap_s  ngx_http_ws_snap_t;


/* nginx's handlers, kept for the end of a tunnel that stays attached */

typedef struct {
    ngx_http_upstream_handler_pt upstream_done;
    ngx_event_handler_pt         request_handler;
    ngx_event_handler_pt         upstream_handler;
} ngx_http_ws_attached_t;


/* what the end of a detached tunnel needs of the request and balancer */

typedef struct {
    ngx_http_ws_snap_t          *snap;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_event_free_peer_pt       peer_free;    /* the balancer's, deferred */
#if (NGX_HTTP_SSL)
    ngx_event_save_peer_session_pt  peer_save_session;
#endif
    ngx_http_upstream_rr_peer_data_t  rrp;
    ngx_uint_t                   tries;
    off_t                        peer_sent;
    ngx_msec_t                   peer_start;
} ngx_http_ws_detached_t;


/*
 * An upgraded WebSocket: both connections, the relay state of both
 * directions, counters and timers.  It is allocated apart from the request
 * pool: once the 101 is sent the request is freed ("detached") and this,
 * with a snapshot of what the access log needs, is all that stays.
 */

typedef struct {
    ngx_http_request_t          *request;      /* NULL once detached */
    ngx_connection_t            *connection;   /* the client's */
    ngx_connection_t            *peer;         /* the backend's */
    ngx_http_ws_loc_conf_t      *conf;

    /* dir[0] client to upstream, dir[1] upstream to client */
    ngx_http_ws_dir_t            dir[2];
    ngx_http_ws_side_t           side[2];
    /*
     * the tunnel's one timer: the close timeout once closing, before that
     * the nearest of ws_max_lifetime and ws_idle_timeout
     */
    ngx_event_t                  timer;
    ngx_msec_t                   started;      /* ngx_current_msec */
    ngx_msec_t                   last_data;    /* a data frame last seen */
    double                       expires;      /* the token's: epoch ms */
    uint32_t                     data_seen;    /* data frames then */

    ngx_http_ws_limits_t        *limits;       /* NULL: no rate limit */

    /* "attached" while request is set, "detached" once it is NULL */
    union {
        ngx_http_ws_attached_t   attached;
        ngx_http_ws_detached_t   detached;
    } u;

    time_t                       start_sec;
    ngx_msec_t                   start_msec;
    ngx_msec_int_t               duration;

    ngx_uint_t                   close_code;
    ngx_uint_t                   initiator;
    ngx_str_t                    close_reason; /* of the close that began */

    ngx_http_ws_stat_t          *stat;         /* its group's counters */
    uint64_t                     counted[6];   /* frames, bytes, messages
                                                  in and out, added there */

    unsigned                     finalized:1;
    unsigned                     processing:1;
    unsigned                     shutdown:1;
    unsigned                     again:1;
    unsigned                     ssl_kicked:1;
    unsigned                     stay:1;       /* the request must stay */
    unsigned                     stat_writing:1;
    unsigned                     token_exp:1;  /* ws_auth_jwt_close_at_exp */
    unsigned                     limit_status:2;
    unsigned                     timeouts:7;   /* NGX_HTTP_WS_TIMEOUT_* */
} ngx_http_ws_tunnel_t;


typedef struct {
    ngx_http_request_t          *request;

    /* handshake */
    u_char                       accept[WS_ACCEPT_LEN];
    ngx_buf_t                   *request_buf;
    ngx_http_status_t            status;
    ngx_http_chunked_t           chunked;
    ngx_uint_t                   interim;
    ngx_str_t                    host;
    ngx_str_t                    uri;

    /* after the upgrade; NULL again once the request is detached */
    ngx_http_ws_tunnel_t        *tunnel;

    ngx_str_t                    protocols;    /* sent, filtered */

    /* the verified token (ws_auth_jwt), its exp + leeway in ms, or 0 */
    ws_jwt_t                    *jwt;
    double                       token_expires;
} ngx_http_ws_ctx_t;


/*
 * The module's context of a request: made by the first phase handler that
 * needs it (ws_auth_jwt in the access phase) or by ws_pass's.
 */

static ngx_inline ngx_http_ws_ctx_t *
ngx_http_ws_get_ctx(ngx_http_request_t *r)
{
    ngx_http_ws_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_ws_module);

    if (ctx == NULL) {
        ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_ws_ctx_t));
        if (ctx == NULL) {
            return NULL;
        }

        ctx->request = r;
        ngx_http_set_ctx(r, ctx, ngx_http_ws_module);
    }

    return ctx;
}


/* the client's offered subprotocols are sent as the module selects them */
#define ngx_http_ws_filters_protocols(wlcf)                                  \
    ((wlcf)->subprotocols || (wlcf)->jwt_subprotocol.len)



/*
 * Why a handshake was refused, $ws_reject_reason ("origin",
 * "subprotocol"): the variable's value is set in r->variables, which an
 * internal redirect (error_page) keeps, unlike the module's context.
 */

extern ngx_int_t  ngx_http_ws_reject_index;

#define ngx_http_ws_set_reject(r, reason)                                    \
    ngx_http_ws_set_reject_value(r, (u_char *) reason, sizeof(reason) - 1)

static ngx_inline void
ngx_http_ws_set_reject_value(ngx_http_request_t *r, u_char *data,
    size_t len)
{
    ngx_http_variable_value_t  *v;

    v = &r->variables[ngx_http_ws_reject_index];

    v->len = len;
    v->data = data;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    v->escape = 0;
}


/*
 * A request in a ws_pass location leaves this mark in the slot of
 * $ws_reject_reason before limit_req and limit_conn run (not a value: the
 * variable is still evaluated when asked for), and the access phase takes
 * it back: a refusal of theirs is told apart from one elsewhere, also
 * after error_page sends it to another location.
 */

extern u_char  ngx_http_ws_pass_mark[];

static ngx_inline void
ngx_http_ws_mark_pass(ngx_http_request_t *r)
{
    ngx_http_variable_value_t  *v;

    v = &r->variables[ngx_http_ws_reject_index];

    if (!v->valid && !v->not_found) {
        v->len = 0;
        v->data = ngx_http_ws_pass_mark;
    }
}


/* a header of a request or response; "name" is in lower case */

static ngx_inline ngx_uint_t
ngx_http_ws_header_is(ngx_table_elt_t *h, const char *name, size_t len)
{
    return h->key.len == len && ngx_strncmp(h->lowcase_key, name, len) == 0;
}


/* handshake check results that are answered with 426 */
#define NGX_HTTP_WS_NOT_UPGRADE   1
#define NGX_HTTP_WS_BAD_VERSION   2


/*
 * ngx_http_ws_status.c: the counters of one group (ws_status_zone) in the
 * slot of one worker, in shared memory.  Only the worker that owns the
 * slot writes to it, with plain increments; the status endpoint sums all
 * slots.  "open" is set in a sum only (docs/design.md, "Metrics").
 */

/* why a handshake was refused: the values of $ws_reject_reason */
#define NGX_HTTP_WS_REFUSED_HANDSHAKE         0
#define NGX_HTTP_WS_REFUSED_ORIGIN            1
#define NGX_HTTP_WS_REFUSED_AUTH              2
#define NGX_HTTP_WS_REFUSED_SUBPROTOCOL       3
#define NGX_HTTP_WS_REFUSED_LIMIT             4
#define NGX_HTTP_WS_REFUSED_UPSTREAM_REFUSED  5
#define NGX_HTTP_WS_REFUSED_UPSTREAM_ERROR    6
#define NGX_HTTP_WS_REFUSED_CLIENT_CLOSED     7
#define NGX_HTTP_WS_REFUSED_N                 8

/* t->timeouts: bits by kind */
#define NGX_HTTP_WS_TIMEOUT_IDLE              0x01
#define NGX_HTTP_WS_TIMEOUT_LIFETIME          0x02
#define NGX_HTTP_WS_TIMEOUT_FRAME             0x04
#define NGX_HTTP_WS_TIMEOUT_SEND              0x08
#define NGX_HTTP_WS_TIMEOUT_CLOSE             0x10
#define NGX_HTTP_WS_TIMEOUT_PONG              0x20
#define NGX_HTTP_WS_TIMEOUT_N                 6

/* close codes 1000 to 1015, then one for all others */
#define NGX_HTTP_WS_CODES                     17
#define NGX_HTTP_WS_RTT_BUCKETS               11
#define NGX_HTTP_WS_DURATION_BUCKETS          13

struct ngx_http_ws_stat_s {
    uint64_t                     open;         /* in a sum only */
    uint64_t                     opened;
    uint64_t                     closed;
    uint64_t                     refused[NGX_HTTP_WS_REFUSED_N];
    uint64_t                     frames[2];    /* in: from the client */
    uint64_t                     bytes[2];
    uint64_t                     messages[2];
    uint64_t                     codes[NGX_HTTP_WS_CODES];
    uint64_t                     initiators[3];
    uint64_t                     pings;
    uint64_t                     pong_timeouts;
    uint64_t                     limited[2];   /* throttled, closed */
    uint64_t                     timeouts[NGX_HTTP_WS_TIMEOUT_N];
    /* histograms: a count per bucket (not cumulative), +Inf last */
    uint64_t                     rtt[NGX_HTTP_WS_RTT_BUCKETS + 1];
    uint64_t                     rtt_sum;      /* milliseconds */
    uint64_t                     duration[NGX_HTTP_WS_DURATION_BUCKETS + 1];
    uint64_t                     duration_sum; /* milliseconds */
};


/* a summed copy of all slots, for the output formats */

typedef struct {
    ngx_uint_t                   ngroups;
    ngx_str_t                   *names;
    ngx_http_ws_stat_t          *groups;
    ngx_uint_t                   slots;        /* of live workers */
    ngx_uint_t                   no_slot;      /* workers not counting */
} ngx_http_ws_status_snap_t;


extern ngx_uint_t  ngx_http_ws_rtt_bounds[];       /* milliseconds */
extern ngx_uint_t  ngx_http_ws_duration_bounds[];  /* seconds */

char *ngx_http_ws_status(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_ws_status_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void *ngx_http_ws_status_create_main_conf(ngx_conf_t *cf);
char *ngx_http_ws_status_merge(ngx_conf_t *cf, ngx_http_ws_loc_conf_t *prev,
    ngx_http_ws_loc_conf_t *conf);
ngx_int_t ngx_http_ws_status_init(ngx_conf_t *cf);
ngx_int_t ngx_http_ws_status_init_process(ngx_cycle_t *cycle);
void ngx_http_ws_status_exit_process(ngx_cycle_t *cycle);
void ngx_http_ws_status_open(ngx_http_ws_tunnel_t *t);
void ngx_http_ws_status_flush(ngx_http_ws_tunnel_t *t);
void ngx_http_ws_status_close(ngx_http_ws_tunnel_t *t);
void ngx_http_ws_status_rtt(ngx_http_ws_tunnel_t *t, ngx_msec_int_t ms);
ngx_int_t ngx_http_ws_status_log_handler(ngx_http_request_t *r);

/* events counted as they happen: a few plain increments */
#define ngx_http_ws_stat_inc(t, field)                                       \
    ((t)->stat ? (void) (t)->stat->field++ : (void) 0)

/* ngx_http_ws_status_display.c: the output formats of a snapshot */
ngx_buf_t *ngx_http_ws_status_json(ngx_http_request_t *r,
    ngx_http_ws_status_snap_t *snap);
ngx_buf_t *ngx_http_ws_status_prometheus(ngx_http_request_t *r,
    ngx_http_ws_status_snap_t *snap);


/* ngx_http_ws_origin.c */
char *ngx_http_ws_origin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_ws_origin_init(ngx_conf_t *cf);

/* ngx_http_ws_jwt.c */
char *ngx_http_ws_auth_jwt(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_ws_auth_jwt_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_ws_auth_jwt_require(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_ws_jwt_merge(ngx_conf_t *cf, ngx_http_ws_loc_conf_t *prev,
    ngx_http_ws_loc_conf_t *conf);
ngx_int_t ngx_http_ws_jwt_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_ws_jwt_init(ngx_conf_t *cf);

/* ngx_http_ws_limit.c */
char *ngx_http_ws_limit_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_ws_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_ws_limit_merge(ngx_conf_t *cf, ngx_http_ws_loc_conf_t *prev,
    ngx_http_ws_loc_conf_t *conf);
ngx_int_t ngx_http_ws_limit_start(ngx_http_request_t *r,
    ngx_http_ws_tunnel_t *t);
void ngx_http_ws_limit_end(ngx_http_ws_tunnel_t *t);
ngx_int_t ngx_http_ws_limit_message(ngx_http_ws_tunnel_t *t, ngx_uint_t i);
void ngx_http_ws_limit_settle(ngx_http_ws_tunnel_t *t, ngx_uint_t i);
ssize_t ngx_http_ws_limit_read(ngx_http_ws_tunnel_t *t, ngx_uint_t i,
    size_t size);
void ngx_http_ws_limit_took(ngx_http_ws_tunnel_t *t, ngx_uint_t i, size_t n);
ngx_msec_int_t ngx_http_ws_limit_next(ngx_http_ws_tunnel_t *t);
ngx_uint_t ngx_http_ws_limit_due(ngx_http_ws_tunnel_t *t);
ngx_uint_t ngx_http_ws_limit_waiting(ngx_http_ws_tunnel_t *t, ngx_uint_t i);

/* ngx_http_ws_upstream.c */
ngx_int_t ngx_http_ws_handler(ngx_http_request_t *r);
char *ngx_http_ws_pass(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_http_ws_set_header(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_ws_init_skip_headers(ngx_conf_t *cf,
    ngx_http_ws_loc_conf_t *conf);
#if (NGX_HTTP_SSL)
char *ngx_http_ws_ssl_name(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
ngx_int_t ngx_http_ws_set_ssl(ngx_conf_t *cf, ngx_http_ws_loc_conf_t *wlcf);
#endif

/* ngx_http_ws_handshake.c */
ngx_int_t ngx_http_ws_check_handshake(ngx_http_request_t *r,
    ngx_table_elt_t **key);
ngx_int_t ngx_http_ws_refuse(ngx_http_request_t *r, ngx_uint_t version);
ngx_int_t ngx_http_ws_check_upgrade(ngx_http_request_t *r,
    ngx_http_ws_ctx_t *ctx);
char *ngx_http_ws_subprotocols(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_ws_select_subprotocols(ngx_http_request_t *r,
    ngx_http_ws_ctx_t *ctx);

/* the 101 response header is not all written yet (hot path: a macro) */
#define ngx_http_ws_head_pending(t)                                          \
    ((t)->request                                                            \
     && ((t)->request->out                                                   \
         || ((t)->connection->buffered & NGX_LOWLEVEL_BUFFERED)))


/*
 * A walk over a list of headers (ngx_list_t of ngx_table_elt_t: a request's
 * or an upstream's), part by part:
 *
 *     for (h = ngx_http_ws_first_header(list, &part);
 *          h;
 *          h = ngx_http_ws_next_header(h, &part))
 */

static ngx_inline ngx_table_elt_t *
ngx_http_ws_header_in(ngx_list_part_t *p, ngx_list_part_t **part)
{
    for ( /* void */ ; p; p = p->next) {
        if (p->nelts) {
            *part = p;
            return p->elts;
        }
    }

    return NULL;
}

#define ngx_http_ws_first_header(list, pp)                                   \
    ngx_http_ws_header_in(&(list)->part, pp)

#define ngx_http_ws_next_header(h, pp)                                       \
    ((h) + 1 < (ngx_table_elt_t *) (*(pp))->elts + (*(pp))->nelts            \
     ? (h) + 1 : ngx_http_ws_header_in((*(pp))->next, pp))


/* ngx_http_ws_tunnel.c */
ngx_int_t ngx_http_ws_tunnel_init(void *data);
ngx_int_t ngx_http_ws_tunnel_filter(void *data, ssize_t bytes);

/* ngx_http_ws_relay.c */
void ngx_http_ws_relay_run(ngx_http_ws_tunnel_t *t);
void ngx_http_ws_relay_close(ngx_http_ws_tunnel_t *t, ngx_uint_t code);
void ngx_http_ws_relay_close_to(ngx_http_ws_tunnel_t *t, ngx_uint_t side,
    ngx_uint_t code, ngx_str_t *reason);
void ngx_http_ws_relay_lost(ngx_http_ws_tunnel_t *t, ngx_uint_t side);
ngx_int_t ngx_http_ws_relay_control(ngx_http_ws_tunnel_t *t, ngx_uint_t side,
    ngx_uint_t opcode, u_char *data, size_t len);
void ngx_http_ws_relay_free(ngx_http_ws_tunnel_t *t);
ngx_int_t ngx_http_ws_relay_preload(ngx_http_ws_dir_t *d, u_char *data,
    size_t n, size_t size, ngx_log_t *log);

/* ngx_http_ws_detach.c */
ngx_int_t ngx_http_ws_detach(ngx_http_ws_tunnel_t *t);
void ngx_http_ws_log_request(ngx_http_ws_tunnel_t *t);
u_char *ngx_http_ws_log_error(ngx_log_t *log, u_char *buf, size_t len);
void ngx_http_ws_close_client(ngx_connection_t *c,
    ngx_http_core_loc_conf_t *clcf);


#endif /* _NGX_HTTP_WS_MODULE_H_INCLUDED_ */
