
/*
 * Copyright (C) the ngx_ws authors
 *
 * libFuzzer target for the core's origins: ws_origin_parse(),
 * ws_host_parse() and the three comparisons.
 *
 * Input: an origin, then optionally a NUL byte and a Host value.
 * Checked, with abort() on a failure:
 *
 *   - a parsed origin or host lies within the input, its port is at most
 *     65535, its host is not empty;
 *   - a parsed origin is made of nothing but a scheme, "://", a host
 *     without "/", "?", "#", "@" or spaces and a port: the
 *     serialization rebuilt from the parts parses to an equal origin;
 *   - every origin equals itself; ws_origin_same() and
 *     ws_origin_wildcard() agree with a comparison written out here.
 *
 * Build and run: "make fuzz", or as in fuzz_utf8.c with ws_origin.c.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <ctype.h>

#include "ws_core.h"


#define FAIL(what)                                                           \
    do { fprintf(stderr, "fuzz_origin: %s\n", what); abort(); } while (0)


static int
caseeq(const unsigned char *a, const unsigned char *b, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (tolower(a[i]) != tolower(b[i])) {
            return 0;
        }
    }

    return 1;
}


static void
check_parts(const ws_origin_t *o, const uint8_t *data, size_t size)
{
    size_t  i;

    if (o->host < data || o->host + o->host_len > data + size
        || o->host_len == 0 || o->port > 65535)
    {
        FAIL("parts outside the input");
    }

    for (i = 0; i < o->host_len; i++) {
        if (strchr("/?#@ \t\r\n", o->host[i]) || o->host[i] == '\0') {
            FAIL("host with a character of a path or user information");
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             ho, hh, expect, tls;
    unsigned        dflt;
    char            buf[600];
    size_t          olen, n, i;
    const uint8_t  *nul;
    ws_origin_t     o, h, r, sfx;

    nul = memchr(data, '\0', size);
    olen = nul ? (size_t) (nul - data) : size;

    ho = ws_origin_parse(data, olen, &o);
    hh = nul ? ws_host_parse(nul + 1, size - olen - 1, &h) : -1;

    if (ho == 0) {
        check_parts(&o, data, olen);

        if (!ws_origin_equal(&o, &o)) {
            FAIL("an origin that is not equal to itself");
        }

        if (o.scheme != data || o.host != data + o.scheme_len + 3) {
            FAIL("scheme and host are not where they belong");
        }

        n = o.scheme_len + 3 + o.host_len;

        if (n + 7 < sizeof(buf)) {
            memcpy(buf, data, n);
            n += (size_t) snprintf(buf + n, 8, ":%u", o.port ? o.port : 1);

            if (ws_origin_parse((const uint8_t *) buf, n, &r) != 0) {
                FAIL("a rebuilt origin does not parse");
            }

            if (o.port && !ws_origin_equal(&o, &r)) {
                FAIL("a rebuilt origin is another one");
            }
        }

        /* each suffix after a dot of the host as a wildcard */

        for (i = 0; i < o.host_len; i++) {
            if (o.host[i] != '.') {
                continue;
            }

            sfx = o;
            sfx.host = o.host + i + 1;
            sfx.host_len = o.host_len - i - 1;

            if (o.host[0] != '[' && !ws_origin_wildcard(&sfx, &o)) {
                FAIL("a host does not match a wildcard of its own suffix");
            }
        }

        sfx = o;

        if (ws_origin_wildcard(&sfx, &o)) {
            FAIL("a wildcard matches its own suffix");
        }
    }

    if (hh == 0) {
        check_parts(&h, nul + 1, size - olen - 1);

        if (h.scheme != NULL) {
            FAIL("a host value with a scheme");
        }
    }

    if (ho == 0 && hh == 0) {
        dflt = 0;

        if ((o.scheme_len == 4 && caseeq(o.scheme, (const uint8_t *) "http", 4))
            || (o.scheme_len == 2
                && caseeq(o.scheme, (const uint8_t *) "ws", 2)))
        {
            dflt = 80;

        } else if ((o.scheme_len == 5
                    && caseeq(o.scheme, (const uint8_t *) "https", 5))
                   || (o.scheme_len == 3
                       && caseeq(o.scheme, (const uint8_t *) "wss", 3)))
        {
            dflt = 443;
        }

        for (tls = 0; tls < 2; tls++) {
            expect = dflt != 0
                     && (!tls || dflt == 443)
                     && o.host_len == h.host_len
                     && caseeq(o.host, h.host, o.host_len)
                     && o.port == (h.port ? h.port : dflt);

            if (ws_origin_same(&o, &h, tls) != expect) {
                FAIL("ws_origin_same() disagrees");
            }
        }
    }

    return 0;
}
