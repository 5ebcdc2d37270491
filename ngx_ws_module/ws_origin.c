
/*
 * Copyright (C) the ngx_ws authors
 *
 * Origins (RFC 6454) and Host values (RFC 9110 7.2): parsed into scheme,
 * host and port, and compared the way ws_origin policies need: exactly,
 * against a wildcard of one or more labels, or against the Host of the
 * request.  Anything that is not a plain serialized origin ("null", a
 * path, user information, an empty label...) is malformed and matches
 * nothing here.
 */


#include <string.h>

#include "ws_core.h"


static unsigned char
ws_origin_lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char) (c | 0x20) : c;
}


static int
ws_origin_caseeq(const unsigned char *a, const unsigned char *b, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (ws_origin_lower(a[i]) != ws_origin_lower(b[i])) {
            return 0;
        }
    }

    return 1;
}


static unsigned
ws_origin_default_port(const unsigned char *scheme, size_t len)
{
    if (len == 4 && ws_origin_caseeq(scheme, (const unsigned char *) "http",
                                     4))
    {
        return 80;
    }

    if (len == 5 && ws_origin_caseeq(scheme, (const unsigned char *) "https",
                                     5))
    {
        return 443;
    }

    if (len == 2 && ws_origin_caseeq(scheme, (const unsigned char *) "ws", 2))
    {
        return 80;
    }

    if (len == 3 && ws_origin_caseeq(scheme, (const unsigned char *) "wss",
                                     3))
    {
        return 443;
    }

    return 0;
}


/*
 * host [":" port] from p to end; host a name of non-empty labels of
 * letters, digits, "-" and "_", or an IPv6 literal in brackets.  Returns 0
 * and fills o->host, o->port (0 when none is written) or -1.
 */

static int
ws_origin_hostport(const unsigned char *p, const unsigned char *end,
    ws_origin_t *o)
{
    unsigned              port;
    const unsigned char  *h, *q;
    size_t                label;

    h = p;

    if (p < end && *p == '[') {

        for (p++; p < end && *p != ']'; p++) {
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')
                  || (*p >= 'A' && *p <= 'F') || *p == ':' || *p == '.'))
            {
                return -1;
            }
        }

        if (p == end || p - h < 3) {
            return -1;
        }

        p++;

    } else {

        label = 0;

        for ( /* void */ ; p < end && *p != ':'; p++) {

            if (*p == '.') {
                if (label == 0) {
                    return -1;
                }

                label = 0;
                continue;
            }

            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                  || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
            {
                return -1;
            }

            if (++label > 63) {
                return -1;
            }
        }

        /* no empty label, no trailing dot */

        if (label == 0 || p - h > 253) {
            return -1;
        }
    }

    o->host = h;
    o->host_len = (size_t) (p - h);
    o->port = 0;

    if (p == end) {
        return 0;
    }

    if (*p != ':') {
        return -1;
    }

    q = ++p;
    port = 0;

    if (p < end && *p == '0') {
        /* no leading zeros: a browser never writes them */
        return -1;
    }

    for ( /* void */ ; p < end; p++) {
        if (*p < '0' || *p > '9' || p - q >= 5) {
            return -1;
        }

        port = port * 10 + (unsigned) (*p - '0');
    }

    if (p == q || port == 0 || port > 65535) {
        return -1;
    }

    o->port = port;

    return 0;
}


int
ws_origin_parse(const unsigned char *s, size_t len, ws_origin_t *o)
{
    const unsigned char  *p, *end;

    /* scheme "://" host [":" port], nothing after it */

    end = s + len;

    for (p = s; p < end; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (p > s && ((*p >= '0' && *p <= '9')
                            || *p == '+' || *p == '-' || *p == '.'))))
        {
            break;
        }
    }

    if (p == s || end - p < 3 || p[0] != ':' || p[1] != '/' || p[2] != '/') {
        return -1;
    }

    o->scheme = s;
    o->scheme_len = (size_t) (p - s);

    if (ws_origin_hostport(p + 3, end, o) != 0) {
        return -1;
    }

    if (o->port == 0) {
        /* the scheme's default: written or not, it is the same origin */
        o->port = ws_origin_default_port(o->scheme, o->scheme_len);
    }

    return 0;
}


int
ws_host_parse(const unsigned char *s, size_t len, ws_origin_t *o)
{
    o->scheme = NULL;
    o->scheme_len = 0;

    return ws_origin_hostport(s, s + len, o);
}


int
ws_origin_equal(const ws_origin_t *a, const ws_origin_t *b)
{
    return a->scheme_len == b->scheme_len
           && ws_origin_caseeq(a->scheme, b->scheme, a->scheme_len)
           && a->host_len == b->host_len
           && ws_origin_caseeq(a->host, b->host, a->host_len)
           && a->port == b->port;
}


int
ws_origin_wildcard(const ws_origin_t *suffix, const ws_origin_t *o)
{
    const unsigned char  *tail;

    /*
     * "suffix" is the pattern without its "*.": the origin's host is one
     * or more labels, a dot, then the suffix (labels are whole: no
     * "evil-example.com" for "*.example.com")
     */

    if (o->host_len < suffix->host_len + 2
        || o->host[0] == '['
        || o->scheme_len != suffix->scheme_len
        || !ws_origin_caseeq(o->scheme, suffix->scheme, o->scheme_len)
        || o->port != suffix->port)
    {
        return 0;
    }

    tail = o->host + o->host_len - suffix->host_len;

    return tail[-1] == '.'
           && ws_origin_caseeq(tail, suffix->host, suffix->host_len);
}


int
ws_origin_same(const ws_origin_t *o, const ws_origin_t *host, int tls)
{
    unsigned  port, dflt;

    /*
     * The origin names the host the request went to, with a scheme of the
     * web (http, https, ws, wss; a secure one when the request came over
     * TLS).  A Host without a port stands for the default port of the
     * origin's scheme (the request may have come through a TLS
     * terminator), a Host with one must name the origin's port.
     */

    dflt = ws_origin_default_port(o->scheme, o->scheme_len);

    if (dflt == 0 || (tls && dflt != 443)) {
        return 0;
    }

    port = host->port ? host->port : dflt;

    return o->port == port
           && o->host_len == host->host_len
           && ws_origin_caseeq(o->host, host->host, o->host_len);
}
