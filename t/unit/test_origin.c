
/*
 * Copyright (C) the ngx_ws authors
 *
 * Unit tests of the core's origins: parsing, exact, wildcard and "same"
 * matching, with the look-alikes that an Origin policy must refuse.
 */


#include "ws_core.h"
#include "unit.h"


static int
parse(const char *s, ws_origin_t *o)
{
    return ws_origin_parse((const unsigned char *) s, strlen(s), o);
}


static int
host(const char *s, ws_origin_t *o)
{
    return ws_host_parse((const unsigned char *) s, strlen(s), o);
}


static int
equal(const char *a, const char *b)
{
    ws_origin_t  x, y;

    return parse(a, &x) == 0 && parse(b, &y) == 0 && ws_origin_equal(&x, &y);
}


static int
wildcard(const char *pattern, const char *origin)
{
    char         buf[256];
    const char  *star;
    ws_origin_t  p, o;

    /* pattern: a scheme, then the host "*.suffix", maybe a port */

    star = strstr(pattern, "*.");

    snprintf(buf, sizeof(buf), "%.*s%s", (int) (star - pattern), pattern,
             star + 2);

    return parse(buf, &p) == 0 && parse(origin, &o) == 0
           && ws_origin_wildcard(&p, &o);
}


static int
same_tls(const char *origin, const char *h, int tls)
{
    ws_origin_t  o, hv;

    return parse(origin, &o) == 0 && host(h, &hv) == 0
           && ws_origin_same(&o, &hv, tls);
}


static int
same(const char *origin, const char *h)
{
    return same_tls(origin, h, 0);
}


static void
test_parse(void)
{
    int          i;
    char         name[300];
    ws_origin_t  o;

    unit_ctx = "parse";

    CHECK_EQ(parse("https://app.example.com", &o), 0);
    CHECK_EQ(o.scheme_len, 5);
    CHECK_EQ(o.host_len, 15);
    CHECK(memcmp(o.host, "app.example.com", 15) == 0);
    CHECK_EQ(o.port, 443);

    CHECK_EQ(parse("http://example.com", &o), 0);
    CHECK_EQ(o.port, 80);
    CHECK_EQ(parse("HTTP://Example.COM:8080", &o), 0);
    CHECK_EQ(o.port, 8080);
    CHECK_EQ(parse("http://[::1]:8080", &o), 0);
    CHECK_EQ(o.host_len, 5);
    CHECK_EQ(o.port, 8080);
    CHECK_EQ(parse("http://127.0.0.1", &o), 0);
    CHECK_EQ(parse("chrome-extension://abcdef", &o), 0);
    CHECK_EQ(o.port, 0);
    CHECK_EQ(parse("http://a:65535", &o), 0);
    CHECK_EQ(o.port, 65535);

    /* malformed: none of these is a serialized origin */

    CHECK_EQ(parse("null", &o), -1);
    CHECK_EQ(parse("", &o), -1);
    CHECK_EQ(parse("https://", &o), -1);
    CHECK_EQ(parse("https:/example.com", &o), -1);
    CHECK_EQ(parse("://example.com", &o), -1);
    CHECK_EQ(parse("1http://example.com", &o), -1);
    CHECK_EQ(parse("https://example.com/", &o), -1);
    CHECK_EQ(parse("https://example.com/path", &o), -1);
    CHECK_EQ(parse("https://example.com?q", &o), -1);
    CHECK_EQ(parse("https://example.com#f", &o), -1);
    CHECK_EQ(parse("https://user@example.com", &o), -1);
    CHECK_EQ(parse("https://example.com.", &o), -1);
    CHECK_EQ(parse("https://.example.com", &o), -1);
    CHECK_EQ(parse("https://example..com", &o), -1);
    CHECK_EQ(parse("https://exa mple.com", &o), -1);
    CHECK_EQ(parse("https://example.com:", &o), -1);
    CHECK_EQ(parse("https://example.com:0", &o), -1);
    CHECK_EQ(parse("https://example.com:65536", &o), -1);
    CHECK_EQ(parse("https://example.com:123456", &o), -1);
    CHECK_EQ(parse("https://example.com:44a", &o), -1);
    CHECK_EQ(parse("https://example.com:-1", &o), -1);
    CHECK_EQ(parse("https://example.com:0443", &o), -1);
    CHECK_EQ(parse("http://localhost:00080", &o), -1);
    CHECK_EQ(parse("https://example.com:443:443", &o), -1);
    CHECK_EQ(parse("https://[::1", &o), -1);
    CHECK_EQ(parse("https://[]", &o), -1);
    CHECK_EQ(parse("https://[::1]x", &o), -1);
    CHECK_EQ(parse("https://[::g]", &o), -1);
    CHECK_EQ(parse("https://*.example.com", &o), -1);
    CHECK_EQ(parse("https://example.com\r\n", &o), -1);
    CHECK_EQ(ws_origin_parse((const unsigned char *) "http://a\0b", 10, &o),
             -1);

    /* labels of at most 63 bytes, names of at most 253 */

    memcpy(name, "http://", 7);
    memset(name + 7, 'a', 63);
    memcpy(name + 70, ".com", 5);
    CHECK_EQ(parse(name, &o), 0);

    memset(name + 7, 'a', 64);
    memcpy(name + 71, ".com", 5);
    CHECK_EQ(parse(name, &o), -1);

    for (i = 0; i < 4; i++) {
        memset(name + 7 + i * 64, 'a', 63);
        name[7 + i * 64 + 63] = '.';
    }

    /* 4 labels of 63 and 3 dots: 255 bytes, then 253 and 251 */

    name[7 + 255] = '\0';
    CHECK_EQ(parse(name, &o), -1);
    name[7 + 253] = '\0';
    CHECK_EQ(parse(name, &o), 0);
    name[7 + 251] = '\0';
    CHECK_EQ(parse(name, &o), 0);

    unit_ctx = "host";

    CHECK_EQ(host("example.com", &o), 0);
    CHECK_EQ(o.port, 0);
    CHECK(o.scheme == NULL);
    CHECK_EQ(host("example.com:8443", &o), 0);
    CHECK_EQ(o.port, 8443);
    CHECK_EQ(host("[::1]:80", &o), 0);
    CHECK_EQ(host("", &o), -1);
    CHECK_EQ(host("example.com:", &o), -1);
    CHECK_EQ(host("a/b", &o), -1);
}


static void
test_equal(void)
{
    unit_ctx = "exact";

    CHECK(equal("https://app.example.com", "https://app.example.com"));
    CHECK(equal("https://app.example.com", "HTTPS://APP.EXAMPLE.COM"));
    CHECK(equal("https://app.example.com", "https://app.example.com:443"));
    CHECK(equal("http://app.example.com:80", "http://app.example.com"));
    CHECK(equal("http://[::1]:8080", "http://[::1]:8080"));

    CHECK(!equal("https://app.example.com", "http://app.example.com"));
    CHECK(!equal("https://app.example.com", "https://app.example.com:8443"));
    CHECK(!equal("http://app.example.com", "http://app.example.com:443"));
    CHECK(!equal("https://app.example.com", "https://app.example.co"));
    CHECK(!equal("https://app.example.com", "https://xapp.example.com"));
    CHECK(!equal("https://app.example.com",
                 "https://app.example.com.evil.net"));
    CHECK(!equal("https://app.example.com", "wss://app.example.com"));
    CHECK(!equal("https://app.example.com", "null"));
}


static void
test_wildcard(void)
{
    unit_ctx = "wildcard";

    CHECK(wildcard("https://*.example.com", "https://a.example.com"));
    CHECK(wildcard("https://*.example.com", "https://a.b.example.com"));
    CHECK(wildcard("https://*.example.com", "HTTPS://A.EXAMPLE.COM"));
    CHECK(wildcard("https://*.example.com", "https://a.example.com:443"));
    CHECK(wildcard("https://*.example.com:8443",
                   "https://a.example.com:8443"));

    CHECK(!wildcard("https://*.example.com", "https://example.com"));
    CHECK(!wildcard("https://*.example.com", "https://evil-example.com"));
    CHECK(!wildcard("https://*.example.com", "https://evilexample.com"));
    CHECK(!wildcard("https://*.example.com",
                    "https://example.com.evil.net"));
    CHECK(!wildcard("https://*.example.com",
                    "https://a.example.com.evil.net"));
    CHECK(!wildcard("https://*.example.com", "https://.example.com"));
    CHECK(!wildcard("https://*.example.com", "http://a.example.com"));
    CHECK(!wildcard("https://*.example.com", "https://a.example.com:8443"));
    CHECK(!wildcard("https://*.example.com:8443", "https://a.example.com"));
    CHECK(!wildcard("https://*.example.com", "null"));
    CHECK(!wildcard("https://*.example.com", "https://a.example.com/"));
}


static void
test_same(void)
{
    unit_ctx = "same";

    CHECK(same("https://example.com", "example.com"));
    CHECK(same("http://example.com", "example.com"));
    CHECK(same("https://example.com", "EXAMPLE.com"));
    CHECK(same("https://example.com", "example.com:443"));
    CHECK(same("https://example.com:8443", "example.com:8443"));
    CHECK(same("http://127.0.0.1:8080", "127.0.0.1:8080"));
    CHECK(same("http://[::1]:8080", "[::1]:8080"));

    CHECK(!same("https://example.com:8443", "example.com"));
    CHECK(!same("https://example.com", "example.com:8443"));
    CHECK(!same("https://example.com", "example.com:80"));
    CHECK(!same("https://evil.com", "example.com"));
    CHECK(!same("https://a.example.com", "example.com"));
    CHECK(!same("https://example.com.evil.net", "example.com"));
    CHECK(!same("chrome-extension://example.com", "example.com"));
    CHECK(!same("null", "example.com"));
    CHECK(!same("foo://example.com:80", "example.com:80"));

    /* a request over TLS: only from a secure origin */

    CHECK(same_tls("https://example.com", "example.com", 1));
    CHECK(same_tls("wss://example.com:8443", "example.com:8443", 1));
    CHECK(!same_tls("http://example.com", "example.com", 1));
    CHECK(!same_tls("http://example.com:8443", "example.com:8443", 1));
    CHECK(!same_tls("ws://example.com", "example.com", 1));
}


int
main(void)
{
    test_parse();
    test_equal();
    test_wildcard();
    test_same();

    return unit_done();
}
