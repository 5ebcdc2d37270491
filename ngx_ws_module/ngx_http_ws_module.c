
/*
 * Copyright (C) the ngx_ws authors
 *
 * The module: its directives and configuration, the $ws_* variables.
 * ws_pass and the request to the backend are in ngx_http_ws_upstream.c,
 * the handshake checks in ngx_http_ws_handshake.c, the upgraded connection
 * in ngx_http_ws_tunnel.c and ngx_http_ws_relay.c (docs/design.md, "Source
 * layout").
 */


#include "ngx_http_ws_module.h"


static ngx_int_t ngx_http_ws_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static ngx_int_t ngx_http_ws_reject_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_ws_header_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);

static ngx_int_t ngx_http_ws_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_ws_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_ws_passed_handler(ngx_http_request_t *r);
static void *ngx_http_ws_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_ws_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_ws_buffer_size_check(ngx_conf_t *cf, void *post,
    void *data);
static char *ngx_http_ws_set_msec_off(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);


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


static ngx_conf_enum_t  ngx_http_ws_origin_missing[] = {
    { ngx_string("deny"), 0 },
    { ngx_string("allow"), 1 },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_ws_limit_actions[] = {
    { ngx_string("throttle"), NGX_HTTP_WS_LIMIT_THROTTLE },
    { ngx_string("close"), NGX_HTTP_WS_LIMIT_CLOSE },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_ws_limit_log_levels[] = {
    { ngx_string("info"), NGX_LOG_INFO },
    { ngx_string("notice"), NGX_LOG_NOTICE },
    { ngx_string("warn"), NGX_LOG_WARN },
    { ngx_string("error"), NGX_LOG_ERR },
    { ngx_null_string, 0 }
};


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

    { ngx_string("ws_origin"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_ws_origin,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_origin_missing"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, origin_missing),
      &ngx_http_ws_origin_missing },

    { ngx_string("ws_subprotocols"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_ws_subprotocols,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_subprotocol_required"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, subprotocol_required),
      NULL },

    { ngx_string("ws_auth_jwt"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_ws_auth_jwt,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_auth_jwt_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_ws_auth_jwt_key_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_auth_jwt_require"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_ws_auth_jwt_require,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_auth_jwt_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, jwt_leeway),
      NULL },

    { ngx_string("ws_auth_jwt_close_at_exp"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, jwt_close_at_exp),
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

    { ngx_string("ws_idle_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ws_set_msec_off,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, idle_timeout),
      NULL },

    { ngx_string("ws_max_lifetime"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ws_set_msec_off,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, max_lifetime),
      NULL },

    { ngx_string("ws_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_ws_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_status_zone"),
      NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ws_status_zone,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_limit_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_ws_limit_zone,
      0,
      0,
      NULL },

    { ngx_string("ws_limit_messages"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1234,
      ngx_http_ws_limit,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_limit_bytes"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1234,
      ngx_http_ws_limit,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("ws_limit_action"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, limit_action),
      &ngx_http_ws_limit_actions },

    { ngx_string("ws_limit_log_level"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, limit_log_level),
      &ngx_http_ws_limit_log_levels },

    { ngx_string("ws_limit_dry_run"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, limit_dry_run),
      NULL },

    { ngx_string("ws_frame_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ws_set_msec_off,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, frame_timeout),
      NULL },

    { ngx_string("ws_ping_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_ws_set_msec_off,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, ping_interval),
      NULL },

    { ngx_string("ws_pong_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, pong_timeout),
      NULL },

    { ngx_string("ws_ping_upstream"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_ws_loc_conf_t, ping_upstream),
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
    ngx_http_ws_init,                      /* postconfiguration */

    ngx_http_ws_status_create_main_conf,   /* create main configuration */
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
    ngx_http_ws_status_init_process,       /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_ws_status_exit_process,       /* exit process */
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
#define NGX_HTTP_WS_VAR_PING_RTT         7
#define NGX_HTTP_WS_VAR_PINGS            8
#define NGX_HTTP_WS_VAR_LIMIT_STATUS     9
#define NGX_HTTP_WS_VAR_MESSAGES_IN      10
#define NGX_HTTP_WS_VAR_MESSAGES_OUT     11
#define NGX_HTTP_WS_VAR_CLOSE_REASON     12

/* r->limit_req_status, r->limit_conn_status of a refusal (not dry run) */
#define NGX_HTTP_WS_LIMIT_REQ_REJECTED   3
#define NGX_HTTP_WS_LIMIT_CONN_REJECTED  2


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

    { ngx_string("ws_ping_rtt"), NULL, ngx_http_ws_variable,
      NGX_HTTP_WS_VAR_PING_RTT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_pings"), NULL, ngx_http_ws_variable,
      NGX_HTTP_WS_VAR_PINGS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_limit_status"), NULL, ngx_http_ws_variable,
      NGX_HTTP_WS_VAR_LIMIT_STATUS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_messages_in"), NULL, ngx_http_ws_variable,
      NGX_HTTP_WS_VAR_MESSAGES_IN, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_messages_out"), NULL, ngx_http_ws_variable,
      NGX_HTTP_WS_VAR_MESSAGES_OUT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_close_reason"), NULL, ngx_http_ws_variable,
      NGX_HTTP_WS_VAR_CLOSE_REASON, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_origin"), NULL, ngx_http_ws_header_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_subprotocol"), NULL, ngx_http_ws_header_variable,
      1, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("ws_reject_reason"), NULL, ngx_http_ws_reject_variable,
      0, 0, 0 },

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


static ngx_int_t
ngx_http_ws_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char                *p;
    off_t                  n;
    ngx_time_t            *tp;
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

    if (data == NGX_HTTP_WS_VAR_LIMIT_STATUS) {
        static ngx_str_t  status[] = {
            ngx_string("PASSED"), ngx_string("DRY_RUN"),
            ngx_string("THROTTLED"), ngx_string("CLOSED")
        };

        v->len = status[t->limit_status].len;
        v->data = status[t->limit_status].data;
        return NGX_OK;
    }

    if (data == NGX_HTTP_WS_VAR_CLOSE_REASON) {
        /* the log module escapes it, as it escapes every value */
        v->len = t->close_reason.len;
        v->data = t->close_reason.data;
        return NGX_OK;
    }

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
                     + t->dir[1].proxy_frames);
        break;

    case NGX_HTTP_WS_VAR_BYTES_IN:
        n = t->dir[0].bytes_in;
        break;

    case NGX_HTTP_WS_VAR_BYTES_OUT:
        n = t->dir[1].bytes_out;
        break;

    case NGX_HTTP_WS_VAR_PINGS:
        n = t->side[NGX_HTTP_WS_CLIENT].pings;
        break;

    case NGX_HTTP_WS_VAR_MESSAGES_IN:
        n = (off_t) t->dir[0].parser.messages;
        break;

    case NGX_HTTP_WS_VAR_MESSAGES_OUT:
        n = (off_t) t->dir[1].parser.messages;
        break;

    case NGX_HTTP_WS_VAR_PING_RTT:

        if (t->side[NGX_HTTP_WS_CLIENT].rtt < 0) {
            ngx_str_set(v, "-");
            return NGX_OK;
        }

        n = t->side[NGX_HTTP_WS_CLIENT].rtt;
        break;

    default: /* NGX_HTTP_WS_VAR_DURATION */

        if (t->finalized) {
            ms = t->duration;

        } else {
            tp = ngx_timeofday();
            ms = (ngx_msec_int_t) ((tp->sec - t->start_sec) * 1000
                                   + (tp->msec - t->start_msec));
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
ngx_http_ws_reject_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_uint_t  passed;

    /*
     * The module's refusals set the value themselves
     * (ngx_http_ws_set_reject()), which stays for the log phase; a
     * handshake that limit_req or limit_conn refused in a ws_pass
     * location is found here: v is the variable's slot in r->variables,
     * which may hold the mark of a ws_pass location the request was in
     * before an error_page redirect (ngx_http_ws_mark_pass()).
     */

    passed = (v->data == ngx_http_ws_pass_mark);

    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;
    ngx_str_set(v, "");

    if (passed
        && (r->main->limit_req_status == NGX_HTTP_WS_LIMIT_REQ_REJECTED
            || r->main->limit_conn_status == NGX_HTTP_WS_LIMIT_CONN_REJECTED))
    {
        ngx_str_set(v, "limit");
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_ws_header_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_list_t       *headers;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    /*
     * $ws_origin: the client's Origin; $ws_subprotocol: the subprotocol
     * of the 101 passed to the client.  Both are in the headers that a
     * detached WebSocket's rebuilt request has too.
     */

    v->not_found = 1;

    if (data == 0) {
        headers = &r->headers_in.headers;

    } else if (r->headers_out.status == NGX_HTTP_SWITCHING_PROTOCOLS) {
        headers = &r->headers_out.headers;

    } else {
        return NGX_OK;
    }

    for (h = ngx_http_ws_first_header(headers, &part);
         h;
         h = ngx_http_ws_next_header(h, &part))
    {
        if (h->hash == 0) {
            continue;
        }

        if (data == 0
            ? (h->key.len == 6
               && ngx_strncasecmp(h->key.data, (u_char *) "origin", 6) == 0)
            : (h->key.len == 22
               && ngx_strncasecmp(h->key.data,
                                  (u_char *) "sec-websocket-protocol", 22)
                  == 0))
        {
            v->len = h->value.len;
            v->data = h->value.data;
            v->valid = 1;
            v->no_cacheable = 0;
            v->not_found = 0;
            return NGX_OK;
        }
    }

    return NGX_OK;
}


static char *
ngx_http_ws_set_msec_off(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t   *value;
    ngx_msec_t  *msp;

    /* a time, or "off" (0) */

    msp = (ngx_msec_t *) (p + cmd->offset);
    value = cf->args->elts;

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {

        if (*msp != NGX_CONF_UNSET_MSEC) {
            return "is duplicate";
        }

        *msp = 0;
        return NGX_CONF_OK;
    }

    return ngx_conf_set_msec_slot(cf, cmd, conf);
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

    return ngx_http_ws_jwt_add_variables(cf);
}


ngx_int_t  ngx_http_ws_reject_index;
u_char     ngx_http_ws_pass_mark[1];


static ngx_int_t
ngx_http_ws_init(ngx_conf_t *cf)
{
    ngx_str_t                   name = ngx_string("ws_reject_reason");
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    ngx_http_ws_reject_index = ngx_http_get_variable_index(cf, &name);

    if (ngx_http_ws_reject_index == NGX_ERROR) {
        return NGX_ERROR;
    }

    /* the checks of each feature, in the phases they belong to */

    if (ngx_http_ws_origin_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_ws_jwt_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_ws_status_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* registered last: runs first in the access phase */

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ws_passed_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ws_passed_handler(ngx_http_request_t *r)
{
    ngx_http_variable_value_t  *v;

    /*
     * limit_req and limit_conn, in the preaccess phase, let the request
     * through: the mark of ngx_http_ws_mark_pass() is taken back, so that
     * a refusal of a later phase that error_page sends to a location with
     * limits of its own is not taken for theirs
     */

    v = &r->variables[ngx_http_ws_reject_index];

    if (!v->valid && !v->not_found && v->data == ngx_http_ws_pass_mark) {
        v->data = NULL;
    }

    return NGX_DECLINED;
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
    conf->origins = NGX_CONF_UNSET_PTR;
    conf->subprotocols = NGX_CONF_UNSET_PTR;
    conf->subprotocol_required = NGX_CONF_UNSET;
    conf->origin_missing = NGX_CONF_UNSET_UINT;
    conf->jwt = NGX_CONF_UNSET_PTR;
    conf->jwt_keys = NGX_CONF_UNSET_PTR;
    conf->jwt_require = NGX_CONF_UNSET_PTR;
    conf->jwt_leeway = NGX_CONF_UNSET;
    conf->jwt_close_at_exp = NGX_CONF_UNSET;

    conf->buffer_size = NGX_CONF_UNSET_SIZE;
    conf->max_frame_size = NGX_CONF_UNSET;
    conf->max_message_size = NGX_CONF_UNSET;
    conf->validate_utf8 = NGX_CONF_UNSET;
    conf->close_timeout = NGX_CONF_UNSET_MSEC;
    conf->send_timeout = NGX_CONF_UNSET_MSEC;
    conf->idle_timeout = NGX_CONF_UNSET_MSEC;
    conf->max_lifetime = NGX_CONF_UNSET_MSEC;
    conf->frame_timeout = NGX_CONF_UNSET_MSEC;
    conf->ping_interval = NGX_CONF_UNSET_MSEC;
    conf->pong_timeout = NGX_CONF_UNSET_MSEC;
    conf->ping_upstream = NGX_CONF_UNSET;
    conf->limit[0] = NGX_CONF_UNSET_PTR;
    conf->limit[1] = NGX_CONF_UNSET_PTR;
    conf->limit_action = NGX_CONF_UNSET_UINT;
    conf->limit_log_level = NGX_CONF_UNSET_UINT;
    conf->limit_dry_run = NGX_CONF_UNSET;
    conf->status_zone = NGX_CONF_UNSET_UINT;
    conf->status = NGX_CONF_UNSET;

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
    ngx_conf_merge_msec_value(conf->idle_timeout, prev->idle_timeout, 0);
    ngx_conf_merge_msec_value(conf->max_lifetime, prev->max_lifetime, 0);
    ngx_conf_merge_msec_value(conf->frame_timeout, prev->frame_timeout, 0);

    /*
     * Liveness by default: a healthy idle client (every browser answers
     * pings) is never dropped, one that vanished without a FIN is found
     * within a minute (a ping 20 to 40 s after it was last heard, then 20 s
     * for its pong).
     */
    ngx_conf_merge_msec_value(conf->ping_interval, prev->ping_interval,
                              20000);
    ngx_conf_merge_msec_value(conf->pong_timeout, prev->pong_timeout, 20000);
    ngx_conf_merge_value(conf->ping_upstream, prev->ping_upstream, 0);

    if (conf->pong_timeout == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"ws_pong_timeout\" must be more than 0");
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_bitmask_value(conf->upstream.next_upstream,
                                 prev->upstream.next_upstream,
                                 (NGX_CONF_BITMASK_SET
                                  |NGX_HTTP_UPSTREAM_FT_ERROR
                                  |NGX_HTTP_UPSTREAM_FT_TIMEOUT));

    if (conf->upstream.next_upstream & NGX_HTTP_UPSTREAM_FT_OFF) {
        conf->upstream.next_upstream = NGX_CONF_BITMASK_SET
                                       |NGX_HTTP_UPSTREAM_FT_OFF;
    }

    /* a level's ws_origin list replaces what it inherits */
    ngx_conf_merge_ptr_value(conf->origins, prev->origins, NULL);
    ngx_conf_merge_uint_value(conf->origin_missing, prev->origin_missing, 1);

    /* as ws_origin: a level's list replaces what it inherits */
    ngx_conf_merge_ptr_value(conf->subprotocols, prev->subprotocols, NULL);
    ngx_conf_merge_value(conf->subprotocol_required,
                         prev->subprotocol_required, 0);

    ngx_conf_merge_ptr_value(conf->headers, prev->headers, NULL);

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

    if (ngx_http_ws_jwt_merge(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ws_limit_merge(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_ws_status_merge(cf, prev, conf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (conf->headers == prev->headers
        && !ngx_http_ws_filters_protocols(conf)
           == !ngx_http_ws_filters_protocols(prev)
        && prev->skip_headers.buckets)
    {
        conf->skip_headers = prev->skip_headers;

    } else if (ngx_http_ws_init_skip_headers(cf, conf) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->lmt_excpt && clcf->handler == NULL
        && (conf->upstream.upstream || conf->ws_lengths))
    {
        clcf->handler = ngx_http_ws_handler;
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


#endif
