/*
 * Shared helpers of the ngx_ws benchmark tools.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <arpa/inet.h>
#include <sys/resource.h>

#include <openssl/evp.h>

#include "wsb_util.h"


static const char  wsb_b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";


void
wsb_base64(const unsigned char *in, size_t len, char *out)
{
    size_t    i;
    uint32_t  v;

    for (i = 0; i + 2 < len; i += 3) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        *out++ = wsb_b64[v >> 18];
        *out++ = wsb_b64[(v >> 12) & 0x3f];
        *out++ = wsb_b64[(v >> 6) & 0x3f];
        *out++ = wsb_b64[v & 0x3f];
    }

    if (len - i == 1) {
        v = (uint32_t) in[i] << 16;
        *out++ = wsb_b64[v >> 18];
        *out++ = wsb_b64[(v >> 12) & 0x3f];
        *out++ = '=';
        *out++ = '=';

    } else if (len - i == 2) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
        *out++ = wsb_b64[v >> 18];
        *out++ = wsb_b64[(v >> 12) & 0x3f];
        *out++ = wsb_b64[(v >> 6) & 0x3f];
        *out++ = '=';
    }

    *out = '\0';
}


/* out receives WSB_ACCEPT_LEN characters and a terminating zero */

void
wsb_accept(const char *key, size_t len, char *out)
{
    char           buf[128 + sizeof(WSB_GUID)];
    unsigned int   n;
    unsigned char  md[EVP_MAX_MD_SIZE];

    if (len > 128) {
        len = 128;
    }

    memcpy(buf, key, len);
    memcpy(buf + len, WSB_GUID, sizeof(WSB_GUID) - 1);

    n = 0;
    EVP_Digest(buf, len + sizeof(WSB_GUID) - 1, md, &n, EVP_sha1(), NULL);

    wsb_base64(md, n, out);
}


uint64_t
wsb_now_ns(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}


double
wsb_now_s(void)
{
    return (double) wsb_now_ns() / 1e9;
}


void
wsb_hist_add(wsb_hist_t *h, uint64_t v)
{
    int       msb, shift;
    unsigned  idx;

    if (v < WSB_HIST_SUB) {
        idx = (unsigned) v;

    } else {
        msb = 63 - __builtin_clzll(v);
        shift = msb - WSB_HIST_SUB_BITS + 1;
        idx = shift * (WSB_HIST_SUB / 2) + (unsigned) (v >> shift);
    }

    h->counts[idx]++;
    h->total++;

    if (v > h->max) {
        h->max = v;
    }
}


/* the value below which pct percent of the samples fall (bucket middle) */

uint64_t
wsb_hist_pct(const wsb_hist_t *h, double pct)
{
    int       shift;
    unsigned  idx, sub;
    uint64_t  want, seen;

    if (h->total == 0) {
        return 0;
    }

    want = (uint64_t) ((double) h->total * pct / 100.0 + 0.5);
    if (want == 0) {
        want = 1;
    }

    seen = 0;

    for (idx = 0; idx < WSB_HIST_BUCKETS; idx++) {
        seen += h->counts[idx];

        if (seen >= want) {
            break;
        }
    }

    if (idx >= WSB_HIST_BUCKETS) {
        return h->max;
    }

    if (idx < WSB_HIST_SUB) {
        return idx;
    }

    shift = idx / (WSB_HIST_SUB / 2) - 1;
    sub = idx - shift * (WSB_HIST_SUB / 2);

    return ((uint64_t) sub << shift) + ((uint64_t) 1 << shift) / 2;
}


int
wsb_raise_nofile(void)
{
    struct rlimit  rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return -1;
    }

    rl.rlim_cur = rl.rlim_max;

    if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return -1;
    }

    return (int) rl.rlim_cur;
}


int
wsb_nonblock(int fd)
{
    int  flags;

    flags = fcntl(fd, F_GETFL);
    if (flags == -1) {
        return -1;
    }

    return fcntl(fd, F_SETFL, flags | O_NONBLOCK);
}


/*
 * dst = src ^ key, where offset is the position of src[0] in the payload;
 * dst may be src
 */

void
wsb_mask(unsigned char *dst, const unsigned char *src, size_t len,
    const unsigned char key[4], size_t offset)
{
    size_t         i;
    uint64_t       m, v;
    unsigned char  k[8];

    for (i = 0; i < 8; i++) {
        k[i] = key[(offset + i) & 3];
    }

    memcpy(&m, k, 8);

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&v, src + i, 8);
        v ^= m;
        memcpy(dst + i, &v, 8);
    }

    for ( /* void */ ; i < len; i++) {
        dst[i] = src[i] ^ k[i & 7];
    }
}


/* writes at most 14 bytes; mask is NULL for an unmasked frame */

size_t
wsb_frame_header(unsigned char *p, int fin, int opcode, uint64_t len,
    const unsigned char *mask)
{
    int            i;
    size_t         n;
    unsigned char  mbit;

    mbit = mask ? 0x80 : 0;
    p[0] = (unsigned char) ((fin ? 0x80 : 0) | opcode);

    if (len < 126) {
        p[1] = mbit | (unsigned char) len;
        n = 2;

    } else if (len < 65536) {
        p[1] = mbit | 126;
        p[2] = (unsigned char) (len >> 8);
        p[3] = (unsigned char) len;
        n = 4;

    } else {
        p[1] = mbit | 127;

        for (i = 0; i < 8; i++) {
            p[2 + i] = (unsigned char) (len >> (56 - 8 * i));
        }

        n = 10;
    }

    if (mask) {
        memcpy(p + n, mask, 4);
        n += 4;
    }

    return n;
}


/* "A", "A-B" (inclusive) or "A+N" (N addresses from A) */

int
wsb_parse_addr_range(const char *s, struct in_addr *first, unsigned *count)
{
    char            buf[64];
    const char     *sep;
    struct in_addr  last;
    long            n;

    sep = strpbrk(s, "-+");

    if (sep == NULL) {
        *count = 1;
        return inet_pton(AF_INET, s, first) == 1 ? 0 : -1;
    }

    if ((size_t) (sep - s) >= sizeof(buf)) {
        return -1;
    }

    memcpy(buf, s, sep - s);
    buf[sep - s] = '\0';

    if (inet_pton(AF_INET, buf, first) != 1) {
        return -1;
    }

    if (*sep == '+') {
        n = strtol(sep + 1, NULL, 10);

    } else {
        if (inet_pton(AF_INET, sep + 1, &last) != 1) {
            return -1;
        }

        n = (long) ntohl(last.s_addr) - (long) ntohl(first->s_addr) + 1;
    }

    if (n < 1 || n > 65536) {
        return -1;
    }

    *count = (unsigned) n;

    return 0;
}


/*
 * finds "name:" at the start of a header line of an HTTP head (buf holds
 * the whole head); returns the value without surrounding blanks
 */

const char *
wsb_find_header(const char *buf, size_t len, const char *name, size_t *vlen)
{
    size_t       nlen;
    const char  *p, *end, *eol, *v;

    nlen = strlen(name);
    end = buf + len;
    p = buf;

    for ( ;; ) {
        p = memchr(p, '\n', end - p);
        if (p == NULL) {
            return NULL;
        }

        p++;

        if ((size_t) (end - p) <= nlen || p[nlen] != ':'
            || strncasecmp(p, name, nlen) != 0)
        {
            continue;
        }

        v = p + nlen + 1;
        eol = memchr(v, '\n', end - v);
        if (eol == NULL) {
            eol = end;
        }

        while (v < eol && (*v == ' ' || *v == '\t')) {
            v++;
        }

        while (eol > v && (eol[-1] == '\r' || eol[-1] == ' '
                           || eol[-1] == '\t'))
        {
            eol--;
        }

        *vlen = eol - v;

        return v;
    }
}
