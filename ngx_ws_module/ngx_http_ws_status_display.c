
/*
 * Copyright (C) the ngx_ws authors
 *
 * The output formats of ws_status: one table of metric families walked by
 * the JSON display and by the Prometheus text display (exposition format
 * 0.0.4), both over a snapshot summed by ngx_http_ws_status.c.  Each
 * answer is written with ngx_sprintf() into one buffer whose size is
 * bounded first; zone names are letters, digits, "_", "-", "." and ":"
 * (checked by ws_status_zone), so they need no escaping in either format.
 */


#include "ngx_http_ws_module.h"


#define NGX_HTTP_WS_FAMILY_COUNTER    0
#define NGX_HTTP_WS_FAMILY_GAUGE      1
#define NGX_HTTP_WS_FAMILY_HISTOGRAM  2

/* no line of either format is longer, zone name included */
#define NGX_HTTP_WS_LINE_LEN          320


typedef struct {
    const char                  *name;         /* after "nginx_ws_" */
    const char                  *json;         /* its JSON key */
    const char                  *help;
    ngx_uint_t                   type;
    size_t                       offset;       /* in ngx_http_ws_stat_t */
    ngx_uint_t                   n;            /* values, or buckets */
    const char                  *label;        /* NULL: none */
    ngx_str_t                   *values;       /* the label's values */
    ngx_uint_t                  *bounds;       /* histograms: upper bounds */
    ngx_uint_t                   scale;        /* of a bound: milliseconds */
    size_t                       sum;          /* offset of the sum */
} ngx_http_ws_family_t;


static u_char *ngx_http_ws_status_seconds(u_char *p, uint64_t ms);
static size_t ngx_http_ws_status_size(ngx_http_ws_status_snap_t *snap);


static ngx_str_t  ngx_http_ws_directions[] = {
    ngx_string("in"), ngx_string("out")
};

static ngx_str_t  ngx_http_ws_reasons[] = {
    ngx_string("handshake"), ngx_string("origin"), ngx_string("auth"),
    ngx_string("subprotocol"), ngx_string("limit"),
    ngx_string("upstream_refused"), ngx_string("upstream_error"),
    ngx_string("client_closed")
};

static ngx_str_t  ngx_http_ws_codes[] = {
    ngx_string("1000"), ngx_string("1001"), ngx_string("1002"),
    ngx_string("1003"), ngx_string("1004"), ngx_string("1005"),
    ngx_string("1006"), ngx_string("1007"), ngx_string("1008"),
    ngx_string("1009"), ngx_string("1010"), ngx_string("1011"),
    ngx_string("1012"), ngx_string("1013"), ngx_string("1014"),
    ngx_string("1015"), ngx_string("other")
};

static ngx_str_t  ngx_http_ws_initiators[] = {
    ngx_string("client"), ngx_string("upstream"), ngx_string("proxy")
};

static ngx_str_t  ngx_http_ws_actions[] = {
    ngx_string("throttled"), ngx_string("closed")
};

static ngx_str_t  ngx_http_ws_kinds[] = {
    ngx_string("idle"), ngx_string("lifetime"), ngx_string("frame"),
    ngx_string("send"), ngx_string("close"), ngx_string("pong")
};


#define ngx_http_ws_field(f)  offsetof(ngx_http_ws_stat_t, f)

static ngx_http_ws_family_t  ngx_http_ws_families[] = {

    { "connections_open", "connections_open",
      "WebSockets open now",
      NGX_HTTP_WS_FAMILY_GAUGE, ngx_http_ws_field(open), 1,
      NULL, NULL, NULL, 0, 0 },

    { "connections_opened_total", "connections_opened",
      "WebSockets upgraded",
      NGX_HTTP_WS_FAMILY_COUNTER, ngx_http_ws_field(opened), 1,
      NULL, NULL, NULL, 0, 0 },

    { "connections_closed_total", "connections_closed",
      "WebSockets ended",
      NGX_HTTP_WS_FAMILY_COUNTER, ngx_http_ws_field(closed), 1,
      NULL, NULL, NULL, 0, 0 },

    { "handshakes_accepted_total", "handshakes_accepted",
      "Handshakes answered with 101 by the backend and passed on",
      NGX_HTTP_WS_FAMILY_COUNTER, ngx_http_ws_field(opened), 1,
      NULL, NULL, NULL, 0, 0 },

    { "handshakes_refused_total", "handshakes_refused",
      "Handshakes refused, by reason ($ws_reject_reason)",
      NGX_HTTP_WS_FAMILY_COUNTER, ngx_http_ws_field(refused),
      NGX_HTTP_WS_REFUSED_N, "reason", ngx_http_ws_reasons, NULL, 0, 0 },

    { "frames_total", "frames",
      "Frames from (in) and to (out) the client",
      NGX_HTTP_WS_FAMILY_COUNTER, ngx_http_ws_field(frames), 2,
      "direction", ngx_http_ws_directions, NULL, 0, 0 },

    { "bytes_total", "bytes",
      "Bytes on the wire (frame headers included) from (in) and to (out) "
      "the client",
      NGX_HTTP_WS_FAMILY_COUNTER, ngx_http_ws_field(bytes), 2,
      "direction", ngx_http_ws_directions, NULL, 0, 0 },

    { "messages_total", "messages",
      "Data messages from the client (in) and from the backend (out)",
      NGX_HTTP_WS_FAMILY_COUNTER, ngx_http_ws_field(messages), 2,
      "direction", ngx_http_ws_directions, NULL, 0, 0 },

    { "closes_total", "closes",
      "Ended WebSockets by the close code that began the closing "
      "(1006: none)",
      NGX_HTTP_WS_FAMILY_COUNTER, ngx_http_ws_field(codes),
      NGX_HTTP_WS_CODES, "code", ngx_http_ws_codes, NULL, 0, 0 },

    { "closes_by_initiator_total", "closes_by_initiator",
      "Ended WebSockets by the side that began the closing",
      NGX_HTTP_WS_FAMILY_COUNTER, ngx_http_ws_field(initiators), 3,
      "initiator", ngx_http_ws_initiators, NULL, 0, 0 },

    { "pings_sent_total", "pings_sent",
      "Pings of the proxy sent to clients (ws_ping_interval)",
      NGX_HTTP_WS_FAMILY_COUNTER, ngx_http_ws_field(pings), 1,
      NULL, NULL, NULL, 0, 0 },

    { "pong_timeouts_total", "pong_timeouts",
      "Peers closed for not answering a ping within ws_pong_timeout",
      NGX_HTTP_WS_FAMILY_COUNTER, ngx_http_ws_field(pong_timeouts), 1,
      NULL, NULL, NULL, 0, 0 },

    { "rate_limited_total", "rate_limited",
      "Ended WebSockets that ws_limit_* throttled or closed",
      NGX_HTTP_WS_FAMILY_COUNTER, ngx_http_ws_field(limited), 2,
      "action", ngx_http_ws_actions, NULL, 0, 0 },

    { "timeouts_total", "timeouts",
      "Timeouts by kind",
      NGX_HTTP_WS_FAMILY_COUNTER, ngx_http_ws_field(timeouts),
      NGX_HTTP_WS_TIMEOUT_N, "kind", ngx_http_ws_kinds, NULL, 0, 0 },

    { "ping_rtt_seconds", "ping_rtt_seconds",
      "Round-trip times of the proxy's pings to clients",
      NGX_HTTP_WS_FAMILY_HISTOGRAM, ngx_http_ws_field(rtt),
      NGX_HTTP_WS_RTT_BUCKETS, NULL, NULL, ngx_http_ws_rtt_bounds, 1,
      ngx_http_ws_field(rtt_sum) },

    { "connection_duration_seconds", "connection_duration_seconds",
      "Durations of ended WebSockets",
      NGX_HTTP_WS_FAMILY_HISTOGRAM, ngx_http_ws_field(duration),
      NGX_HTTP_WS_DURATION_BUCKETS, NULL, NULL,
      ngx_http_ws_duration_bounds, 1000, ngx_http_ws_field(duration_sum) },

    { NULL, NULL, NULL, 0, 0, 0, NULL, NULL, NULL, 0, 0 }
};


static const char  *ngx_http_ws_family_types[] = {
    "counter", "gauge", "histogram"
};


ngx_buf_t *
ngx_http_ws_status_json(ngx_http_request_t *r,
    ngx_http_ws_status_snap_t *snap)
{
    u_char                *p;
    uint64_t              *v, n;
    ngx_buf_t             *b;
    ngx_uint_t             g, i;
    ngx_http_ws_family_t  *f;

    b = ngx_create_temp_buf(r->pool, ngx_http_ws_status_size(snap));
    if (b == NULL) {
        return NULL;
    }

    p = b->last;

    p = ngx_sprintf(p, "{\"workers\":%ui,\"workers_not_counted\":%ui,"
                       "\"zones\":{",
                    snap->slots, snap->no_slot);

    for (g = 0; g < snap->ngroups; g++) {

        p = ngx_sprintf(p, "%s\"%V\":{", g ? "," : "", &snap->names[g]);

        for (f = ngx_http_ws_families; f->name; f++) {

            v = (uint64_t *) ((u_char *) &snap->groups[g] + f->offset);

            p = ngx_sprintf(p, "%s\"%s\":", f == ngx_http_ws_families
                                            ? "" : ",", f->json);

            if (f->type == NGX_HTTP_WS_FAMILY_HISTOGRAM) {
                p = ngx_sprintf(p, "{\"buckets\":{");

                for (i = 0, n = 0; i < f->n; i++) {
                    n += v[i];
                    p = ngx_sprintf(p, "%s\"", i ? "," : "");
                    p = ngx_http_ws_status_seconds(p, (uint64_t) f->bounds[i]
                                                      * f->scale);
                    p = ngx_sprintf(p, "\":%uL", n);
                }

                n += v[f->n];

                p = ngx_sprintf(p, ",\"+Inf\":%uL},\"sum\":", n);
                p = ngx_http_ws_status_seconds(p,
                        *(uint64_t *) ((u_char *) &snap->groups[g] + f->sum));
                p = ngx_sprintf(p, ",\"count\":%uL}", n);
                continue;
            }

            if (f->label == NULL) {
                p = ngx_sprintf(p, "%uL", v[0]);
                continue;
            }

            *p++ = '{';

            for (i = 0; i < f->n; i++) {
                p = ngx_sprintf(p, "%s\"%V\":%uL", i ? "," : "",
                                &f->values[i], v[i]);
            }

            *p++ = '}';
        }

        *p++ = '}';
    }

    p = ngx_sprintf(p, "}}" CRLF);

    b->last = p;

    return b;
}


ngx_buf_t *
ngx_http_ws_status_prometheus(ngx_http_request_t *r,
    ngx_http_ws_status_snap_t *snap)
{
    u_char                *p;
    uint64_t              *v, n;
    ngx_buf_t             *b;
    ngx_str_t             *zone;
    ngx_uint_t             g, i;
    ngx_http_ws_family_t  *f;

    b = ngx_create_temp_buf(r->pool, ngx_http_ws_status_size(snap));
    if (b == NULL) {
        return NULL;
    }

    p = b->last;

    for (f = ngx_http_ws_families; f->name; f++) {

        p = ngx_sprintf(p, "# HELP nginx_ws_%s %s\n"
                           "# TYPE nginx_ws_%s %s\n",
                        f->name, f->help, f->name,
                        ngx_http_ws_family_types[f->type]);

        for (g = 0; g < snap->ngroups; g++) {

            zone = &snap->names[g];
            v = (uint64_t *) ((u_char *) &snap->groups[g] + f->offset);

            if (f->type == NGX_HTTP_WS_FAMILY_HISTOGRAM) {

                for (i = 0, n = 0; i < f->n; i++) {
                    n += v[i];
                    p = ngx_sprintf(p, "nginx_ws_%s_bucket{zone=\"%V\","
                                       "le=\"", f->name, zone);
                    p = ngx_http_ws_status_seconds(p, (uint64_t) f->bounds[i]
                                                      * f->scale);
                    p = ngx_sprintf(p, "\"} %uL\n", n);
                }

                n += v[f->n];

                p = ngx_sprintf(p, "nginx_ws_%s_bucket{zone=\"%V\","
                                   "le=\"+Inf\"} %uL\n"
                                   "nginx_ws_%s_sum{zone=\"%V\"} ",
                                f->name, zone, n, f->name, zone);
                p = ngx_http_ws_status_seconds(p,
                        *(uint64_t *) ((u_char *) &snap->groups[g] + f->sum));
                p = ngx_sprintf(p, "\nnginx_ws_%s_count{zone=\"%V\"} %uL\n",
                                f->name, zone, n);
                continue;
            }

            if (f->label == NULL) {
                p = ngx_sprintf(p, "nginx_ws_%s{zone=\"%V\"} %uL\n",
                                f->name, zone, v[0]);
                continue;
            }

            for (i = 0; i < f->n; i++) {
                p = ngx_sprintf(p, "nginx_ws_%s{zone=\"%V\",%s=\"%V\"} %uL\n",
                                f->name, zone, f->label, &f->values[i], v[i]);
            }
        }
    }

    b->last = p;

    return b;
}


static size_t
ngx_http_ws_status_size(ngx_http_ws_status_snap_t *snap)
{
    ngx_uint_t             lines;
    ngx_http_ws_family_t  *f;

    /* a line per value (the +Inf bucket, sum and count), HELP and TYPE */

    lines = 0;

    for (f = ngx_http_ws_families; f->name; f++) {
        lines += 2 + snap->ngroups * (f->n + 3);
    }

    return 2 * NGX_HTTP_WS_LINE_LEN + lines * NGX_HTTP_WS_LINE_LEN;
}


static u_char *
ngx_http_ws_status_seconds(u_char *p, uint64_t ms)
{
    uint64_t  frac;

    /* milliseconds as seconds: "0.005", "2.5", "30" */

    p = ngx_sprintf(p, "%uL", ms / 1000);
    frac = ms % 1000;

    if (frac == 0) {
        return p;
    }

    *p++ = '.';
    *p++ = (u_char) ('0' + frac / 100);

    if (frac % 100) {
        *p++ = (u_char) ('0' + frac / 10 % 10);

        if (frac % 10) {
            *p++ = (u_char) ('0' + frac % 10);
        }
    }

    return p;
}
