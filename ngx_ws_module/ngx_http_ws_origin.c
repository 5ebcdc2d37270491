
/*
 * Copyright (C) the ngx_ws authors
 *
 * The Origin policy of a ws_pass location (ws_origin, ws_origin_missing):
 * checked before anything else of the request is looked at by ngx_ws or
 * reaches the backend, against cross-site WebSocket hijacking
 * (docs/security.md).  The origins themselves are parsed and compared by
 * the core (ws_origin.c).
 */


#include "ngx_http_ws_module.h"


#define NGX_HTTP_WS_ORIGIN_EXACT     0
#define NGX_HTTP_WS_ORIGIN_WILDCARD  1
#define NGX_HTTP_WS_ORIGIN_REGEX     2
#define NGX_HTTP_WS_ORIGIN_SAME      3
#define NGX_HTTP_WS_ORIGIN_ANY       4

/* the longest origin written to the error log */
#define NGX_HTTP_WS_ORIGIN_LOG_LEN   256


typedef struct {
    ngx_uint_t                   type;
    ngx_str_t                    value;     /* as configured */
    ws_origin_t                  origin;    /* a wildcard's: its suffix */
#if (NGX_PCRE)
    ngx_regex_t                 *regex;
#endif
} ngx_http_ws_origin_t;


static ngx_uint_t ngx_http_ws_origin_domain(ws_origin_t *o);
static ngx_int_t ngx_http_ws_origin_handler(ngx_http_request_t *r);
static ngx_uint_t ngx_http_ws_origin_allowed(ngx_http_request_t *r,
    ngx_array_t *origins, ngx_str_t *value);
static ngx_int_t ngx_http_ws_origin_refuse(ngx_http_request_t *r,
    ngx_str_t *value, const char *why);


char *
ngx_http_ws_origin(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_ws_loc_conf_t *wlcf = conf;

    u_char                 *p, *star;
    ngx_str_t              *value, s;
    ngx_uint_t              i;
    ngx_http_ws_origin_t   *o;
#if (NGX_PCRE)
    u_char                  errstr[NGX_MAX_CONF_ERRSTR];
    ngx_regex_compile_t     rc;
#endif

    if (wlcf->origins == NGX_CONF_UNSET_PTR) {
        wlcf->origins = ngx_array_create(cf->pool, 2,
                                         sizeof(ngx_http_ws_origin_t));
        if (wlcf->origins == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        o = ngx_array_push(wlcf->origins);
        if (o == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(o, sizeof(ngx_http_ws_origin_t));
        o->value = value[i];

        if (value[i].len == 3 && ngx_strncmp(value[i].data, "any", 3) == 0) {
            o->type = NGX_HTTP_WS_ORIGIN_ANY;
            continue;
        }

        if (value[i].len == 4 && ngx_strncmp(value[i].data, "same", 4) == 0) {
            o->type = NGX_HTTP_WS_ORIGIN_SAME;
            continue;
        }

        if (value[i].data[0] == '~') {
#if (NGX_PCRE)
            ngx_memzero(&rc, sizeof(ngx_regex_compile_t));

            rc.pattern.data = value[i].data + 1;
            rc.pattern.len = value[i].len - 1;

            if (rc.pattern.len && rc.pattern.data[0] == '*') {
                rc.pattern.data++;
                rc.pattern.len--;
                rc.options = NGX_REGEX_CASELESS;
            }

            if (rc.pattern.len == 0) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "empty regular expression in \"%V\"",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            rc.pool = cf->pool;
            rc.err.len = NGX_MAX_CONF_ERRSTR;
            rc.err.data = errstr;

            if (ngx_regex_compile(&rc) != NGX_OK) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V", &rc.err);
                return NGX_CONF_ERROR;
            }

            o->type = NGX_HTTP_WS_ORIGIN_REGEX;
            o->regex = rc.regex;
            continue;
#else
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "using regex \"%V\" requires PCRE library",
                               &value[i]);
            return NGX_CONF_ERROR;
#endif
        }

        s = value[i];
        star = ngx_strlcasestrn(s.data, s.data + s.len, (u_char *) "://*.",
                                5 - 1);

        if (star) {
            /* a wildcard: the suffix after "*." is kept as an origin */

            p = ngx_pnalloc(cf->pool, s.len - 2);
            if (p == NULL) {
                return NGX_CONF_ERROR;
            }

            star += 3;
            s.data = p;
            p = ngx_cpymem(p, value[i].data, star - value[i].data);
            p = ngx_cpymem(p, star + 2,
                           value[i].data + value[i].len - star - 2);
            s.len = p - s.data;

            o->type = NGX_HTTP_WS_ORIGIN_WILDCARD;

        } else {
            o->type = NGX_HTTP_WS_ORIGIN_EXACT;
        }

        if (ws_origin_parse(s.data, s.len, &o->origin) != 0
            || (o->type == NGX_HTTP_WS_ORIGIN_WILDCARD
                && !ngx_http_ws_origin_domain(&o->origin)))
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid origin \"%V\": scheme://host[:port], "
                               "scheme://*.domain[:port], ~regex, "
                               "\"same\" or \"any\" expected", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_uint_t
ngx_http_ws_origin_domain(ws_origin_t *o)
{
    u_char      c;
    size_t      i;
    ngx_uint_t  dots, alpha;

    /*
     * A wildcard's suffix is a domain of two labels or more, not an
     * address ("*.com", "*.127.0.0.1" and "*.[::1]" are refused)
     */

    dots = 0;
    alpha = 0;

    for (i = 0; i < o->host_len; i++) {
        c = o->host[i];

        if (c == '.') {
            dots++;

        } else if (c == '[') {
            return 0;

        } else if (!(c >= '0' && c <= '9')) {
            alpha = 1;
        }
    }

    return dots && alpha;
}


ngx_int_t
ngx_http_ws_origin_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    /*
     * In the preaccess phase, so that "satisfy any" (the access phase's
     * "allow" or "auth_basic" alone) never waives it: an Origin policy
     * is no alternative to authentication.
     */

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_ws_origin_handler;

    return NGX_OK;
}


static ngx_int_t
ngx_http_ws_origin_handler(ngx_http_request_t *r)
{
    ngx_uint_t               n;
    ngx_table_elt_t         *h, *origin;
    ngx_list_part_t         *part;
    ngx_http_ws_loc_conf_t  *wlcf;

    if (r->content_handler != ngx_http_ws_handler) {
        /*
         * not served by ws_pass (a location nested in a ws_pass one
         * inherits its upstream, not its content handler)
         */
        return NGX_DECLINED;
    }

    /* before limit_req and limit_conn, which may refuse it after this */

    ngx_http_ws_mark_pass(r);

    wlcf = ngx_http_get_module_loc_conf(r, ngx_http_ws_module);

    origin = NULL;
    n = 0;

    for (h = ngx_http_ws_first_header(&r->headers_in.headers, &part);
         h;
         h = ngx_http_ws_next_header(h, &part))
    {
        if (h->key.len == sizeof("origin") - 1
            && ngx_strncmp(h->lowcase_key, "origin", 6) == 0)
        {
            origin = h;
            n++;
        }
    }

    if (origin == NULL) {

        if (wlcf->origin_missing) {
            return NGX_DECLINED;
        }

        return ngx_http_ws_origin_refuse(r, NULL, "no Origin header");
    }

    if (n > 1) {
        /* a browser sends one: only "any" lets several through */

        if (ngx_http_ws_origin_allowed(r, wlcf->origins, NULL)) {
            return NGX_DECLINED;
        }

        return ngx_http_ws_origin_refuse(r, &origin->value,
                                         "more than one Origin header");
    }

    if (ngx_http_ws_origin_allowed(r, wlcf->origins, &origin->value)) {
        return NGX_DECLINED;
    }

    return ngx_http_ws_origin_refuse(r, &origin->value, "not allowed");
}


static ngx_uint_t
ngx_http_ws_origin_allowed(ngx_http_request_t *r, ngx_array_t *origins,
    ngx_str_t *value)
{
    ngx_int_t              parsed, hparsed, rc;
    ngx_uint_t             i, n, tls;
    ws_origin_t            o, host;
    ngx_http_ws_origin_t  *rule, same;

    /* value: NULL for several Origin headers, which only "any" allows */

    if (origins) {
        rule = origins->elts;
        n = origins->nelts;

    } else {
        /* no ws_origin in scope: "same" */
        same.type = NGX_HTTP_WS_ORIGIN_SAME;
        rule = &same;
        n = 1;
    }

    parsed = value ? ws_origin_parse(value->data, value->len, &o) : -1;
    hparsed = -2;

#if (NGX_HTTP_SSL)
    tls = (r->connection->ssl != NULL);
#else
    tls = 0;
#endif

    for (i = 0; i < n; i++) {

        switch (rule[i].type) {

        case NGX_HTTP_WS_ORIGIN_ANY:
            return 1;

        case NGX_HTTP_WS_ORIGIN_EXACT:
            if (parsed == 0 && ws_origin_equal(&rule[i].origin, &o)) {
                return 1;
            }
            break;

        case NGX_HTTP_WS_ORIGIN_WILDCARD:
            if (parsed == 0 && ws_origin_wildcard(&rule[i].origin, &o)) {
                return 1;
            }
            break;

#if (NGX_PCRE)
        case NGX_HTTP_WS_ORIGIN_REGEX:
            if (value == NULL) {
                break;
            }

            rc = ngx_regex_exec(rule[i].regex, value, NULL, 0);

            if (rc >= 0) {
                return 1;
            }

            if (rc != NGX_REGEX_NO_MATCHED) {
                ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                              ngx_regex_exec_n " failed: %i on \"%V\"",
                              rc, &rule[i].value);
            }

            break;
#endif

        default: /* NGX_HTTP_WS_ORIGIN_SAME */

            if (parsed != 0) {
                break;
            }

            if (hparsed == -2) {
                hparsed = r->headers_in.host
                          ? ws_host_parse(r->headers_in.host->value.data,
                                          r->headers_in.host->value.len,
                                          &host)
                          : -1;
            }

            if (hparsed == 0 && ws_origin_same(&o, &host, tls)) {
                return 1;
            }
        }
    }

    return 0;
}


static ngx_int_t
ngx_http_ws_origin_refuse(ngx_http_request_t *r, ngx_str_t *value,
    const char *why)
{
    u_char                    *p, c;
    size_t                     i;
    ngx_http_core_loc_conf_t  *clcf;
    u_char                     buf[NGX_HTTP_WS_ORIGIN_LOG_LEN * 4 + 4];
    static u_char              hex[] = "0123456789ABCDEF";

    ngx_http_ws_set_reject(r, "origin");

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (value == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "ws: %s, refused in location \"%V\"",
                      why, &clcf->name);
        return NGX_HTTP_FORBIDDEN;
    }

    /* the client's bytes, escaped as the log module escapes them */

    p = buf;

    for (i = 0; i < value->len && i < NGX_HTTP_WS_ORIGIN_LOG_LEN; i++) {
        c = value->data[i];

        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = 'x';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];

        } else {
            *p++ = c;
        }
    }

    if (i < value->len) {
        p = ngx_cpymem(p, "...", 3);
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "ws: origin \"%*s\" %s in location \"%V\"",
                  (size_t) (p - buf), buf, why, &clcf->name);

    return NGX_HTTP_FORBIDDEN;
}
