/*
 * wsbench: the load generator of the ngx_ws benchmark.
 *
 * Single-threaded, epoll.  Modes:
 *
 *   echo       C connections each keep P messages of S bytes in flight
 *              for T seconds (after a warmup); every echoed byte is
 *              compared with what was sent; prints messages/s, MB/s and
 *              latency percentiles;
 *   idle       opens N connections (from several source addresses when
 *              asked), prints "established" when all are upgraded and
 *              holds them until SIGTERM, SIGINT or SIGUSR1 (or -d);
 *   handshake  C concurrent loops of: connect, upgrade, one message,
 *              close handshake; prints handshakes/s.
 *
 * Client frames are masked with a new random key each; the payload is a
 * slice of a random pool (printable ASCII for text frames), so that the
 * echo can be checked byte by byte without keeping copies.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "wsb_util.h"


#define WSB_RBUF          (256 * 1024)
#define WSB_HTTP_MAX      4096
#define WSB_POOL_SLACK    65536
#define WSB_EVENTS        1024

#define WSB_MODE_ECHO     0
#define WSB_MODE_IDLE     1
#define WSB_MODE_HS       2

#define WSB_ST_CONNECT    0
#define WSB_ST_UPGRADE    1
#define WSB_ST_OPEN       2
#define WSB_ST_CLOSING    3    /* close frame sent, waiting for the reply */
#define WSB_ST_EOF        4    /* close reply received, waiting for FIN */


typedef struct {
    uint32_t        off;
    uint64_t        sent;
} wsb_msg_t;


typedef struct wsb_conn_s  wsb_conn_t;

struct wsb_conn_s {
    int             fd;
    int             state;
    unsigned        slot;
    unsigned        want_out:1;
    unsigned        in_msg:1;
    unsigned        erred:1;
    unsigned        fin:1;

    unsigned char   opcode;
    unsigned char   hlen;
    unsigned char   need;
    unsigned char   hdr[14];
    uint64_t        left;
    uint64_t        rx_off;

    unsigned char   ctl[125];
    unsigned char   ctl_len;

    uint64_t        deadline;
    uint64_t        started;

    char            accept[WSB_ACCEPT_LEN + 4];
    char           *http;
    size_t          http_len;

    unsigned char  *obuf;
    size_t          opos;
    size_t          olen;
    size_t          ocap;

    wsb_msg_t      *fifo;
    unsigned        fhead;
    unsigned        fcount;
};


static struct {
    int             mode;
    struct in_addr  dst;
    int             port;
    const char     *path;
    unsigned        conns;
    size_t          size;
    unsigned        depth;
    double          duration;
    double          warmup;
    uint64_t        total;
    int             text;
    struct in_addr  src;
    unsigned        nsrc;
    unsigned        inflight_max;
    double          timeout;
    int             verbose;
    char           *headers;      /* -H lines, each ending in CRLF */
    size_t          headers_len;
} cf;


static int             ep;
static volatile int    quit;
static unsigned char  *rbuf;
static unsigned char  *pool;
static uint64_t        rng;
static wsb_conn_t    **conns;

static unsigned        started;       /* connections started (idle) */
static unsigned        inflight;      /* connecting or upgrading */
static unsigned        opened;
static unsigned        live;
static uint64_t        failed;
static uint64_t        dropped;
static uint64_t        errors;
static uint64_t        pings;         /* pings answered */
static uint64_t        sent_total;
static uint64_t        done_total;
static uint64_t        cycles;        /* handshake cycles started (-n) */

static int             kicked;        /* echo traffic started */
static uint64_t        t_begin;       /* all connections open */
static uint64_t        t_from;        /* measuring window */
static uint64_t        t_to;
static uint64_t        window_msgs;
static wsb_hist_t      hist;


static void wsb_conn_close(wsb_conn_t *c, int failure);
static int wsb_flush(wsb_conn_t *c);
static void wsb_fill(wsb_conn_t *c, uint64_t now);


static uint64_t
wsb_rand(void)
{
    /* xorshift64* */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;

    return rng * 0x2545F4914F6CDD1DULL;
}


static void
wsb_signal(int sig)
{
    quit = 1;
}


static void
wsb_error(wsb_conn_t *c, const char *what)
{
    errors++;
    c->erred = 1;

    if (errors <= 10) {
        fprintf(stderr, "wsbench: connection %u: %s\n", c->slot, what);
    }
}


static int
wsb_events(wsb_conn_t *c, int op)
{
    struct epoll_event  ev;

    ev.events = EPOLLIN | (c->want_out ? EPOLLOUT : 0);
    ev.data.ptr = c;

    return epoll_ctl(ep, op, c->fd, &ev);
}


static int
wsb_obuf_reserve(wsb_conn_t *c, size_t len)
{
    size_t          cap;
    unsigned char  *p;

    if (c->opos == c->olen) {
        c->opos = 0;
        c->olen = 0;
    }

    if (c->olen + len <= c->ocap) {
        return 0;
    }

    if (c->opos != 0) {
        memmove(c->obuf, c->obuf + c->opos, c->olen - c->opos);
        c->olen -= c->opos;
        c->opos = 0;

        if (c->olen + len <= c->ocap) {
            return 0;
        }
    }

    cap = c->ocap ? c->ocap : 256;

    while (cap < c->olen + len) {
        cap *= 2;
    }

    p = realloc(c->obuf, cap);
    if (p == NULL) {
        return -1;
    }

    c->obuf = p;
    c->ocap = cap;

    return 0;
}


static int
wsb_connect(wsb_conn_t *c)
{
    int                 fd, one;
    struct sockaddr_in  sin;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd == -1) {
        return -1;
    }

    one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;

    if (cf.nsrc) {
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
                   sizeof(one));

        sin.sin_addr.s_addr = htonl(ntohl(cf.src.s_addr)
                                    + c->slot % cf.nsrc);

        if (bind(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0) {
            close(fd);
            return -1;
        }
    }

    sin.sin_port = htons(cf.port);
    sin.sin_addr = cf.dst;

    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0
        && errno != EINPROGRESS)
    {
        close(fd);
        return -1;
    }

    c->fd = fd;
    c->state = WSB_ST_CONNECT;
    c->want_out = 1;
    c->hlen = 0;
    c->need = 2;
    c->left = 0;
    c->in_msg = 0;
    c->erred = 0;
    c->opos = 0;
    c->olen = 0;
    c->fhead = 0;
    c->fcount = 0;
    c->http_len = 0;
    c->started = wsb_now_ns();
    c->deadline = c->started + (uint64_t) (cf.timeout * 1e9);

    if (wsb_events(c, EPOLL_CTL_ADD) != 0) {
        close(fd);
        return -1;
    }

    inflight++;
    live++;

    return 0;
}


static int
wsb_send_request(wsb_conn_t *c)
{
    int            n;
    char           key[WSB_KEY_LEN + 4];
    uint64_t       r[2];
    unsigned char  raw[16];

    r[0] = wsb_rand();
    r[1] = wsb_rand();
    memcpy(raw, r, 16);

    wsb_base64(raw, 16, key);
    wsb_accept(key, WSB_KEY_LEN, c->accept);

    if (wsb_obuf_reserve(c, 512 + cf.headers_len) != 0) {
        return -1;
    }

    n = snprintf((char *) c->obuf + c->olen, 512 + cf.headers_len,
                 "GET %s HTTP/1.1\r\n"
                 "Host: %s:%d\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Key: %s\r\n"
                 "Sec-WebSocket-Version: 13\r\n"
                 "%.*s\r\n",
                 cf.path, inet_ntoa(cf.dst), cf.port, key,
                 (int) cf.headers_len, cf.headers ? cf.headers : "");

    if (n < 0 || (size_t) n >= 512 + cf.headers_len) {
        wsb_error(c, "request head too large");
        return -1;
    }

    c->olen += n;
    c->state = WSB_ST_UPGRADE;

    return wsb_flush(c);
}


/* appends one masked frame */

static int
wsb_put_frame(wsb_conn_t *c, int opcode, const unsigned char *payload,
    size_t len)
{
    size_t         h;
    uint32_t       m;
    unsigned char  mask[4];

    if (wsb_obuf_reserve(c, len + 14) != 0) {
        return -1;
    }

    m = (uint32_t) wsb_rand();
    memcpy(mask, &m, 4);

    h = wsb_frame_header(c->obuf + c->olen, 1, opcode, len, mask);
    wsb_mask(c->obuf + c->olen + h, payload, len, mask, 0);
    c->olen += h + len;

    return 0;
}


static int
wsb_send_message(wsb_conn_t *c, uint64_t now)
{
    unsigned    i;
    uint32_t    off;

    off = (uint32_t) (wsb_rand() % WSB_POOL_SLACK);

    if (wsb_put_frame(c, cf.text ? WSB_OP_TEXT : WSB_OP_BINARY, pool + off,
                      cf.size)
        != 0)
    {
        return -1;
    }

    i = (c->fhead + c->fcount) % cf.depth;
    c->fifo[i].off = off;
    c->fifo[i].sent = now;
    c->fcount++;
    sent_total++;

    return 0;
}


static int
wsb_send_close(wsb_conn_t *c)
{
    static const unsigned char  code[2] = { 0x03, 0xe8 };    /* 1000 */

    c->state = WSB_ST_CLOSING;

    return wsb_put_frame(c, WSB_OP_CLOSE, code, 2);
}


/* 0: all sent or queued with EPOLLOUT, -1: failed */

static int
wsb_flush(wsb_conn_t *c)
{
    ssize_t  n;

    while (c->opos < c->olen) {
        n = send(c->fd, c->obuf + c->opos, c->olen - c->opos, MSG_NOSIGNAL);

        if (n > 0) {
            c->opos += n;
            continue;
        }

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n == -1 && errno == EAGAIN) {
            if (!c->want_out) {
                c->want_out = 1;
                return wsb_events(c, EPOLL_CTL_MOD);
            }

            return 0;
        }

        return -1;
    }

    if (c->want_out && c->state != WSB_ST_CONNECT) {
        c->want_out = 0;
        return wsb_events(c, EPOLL_CTL_MOD);
    }

    return 0;
}


static void
wsb_fill(wsb_conn_t *c, uint64_t now)
{
    if (c->state != WSB_ST_OPEN || cf.mode == WSB_MODE_IDLE) {
        return;
    }

    if (cf.mode == WSB_MODE_HS) {
        return;
    }

    if (t_begin == 0 || quit) {
        return;
    }

    while (c->fcount < cf.depth
           && (cf.total == 0 || sent_total < cf.total))
    {
        if (wsb_send_message(c, now) != 0) {
            wsb_error(c, "out of memory");
            return;
        }
    }
}


static void
wsb_opened(wsb_conn_t *c, uint64_t now)
{
    inflight--;
    opened++;

    if (cf.mode == WSB_MODE_IDLE) {
        if (opened == cf.conns) {
            printf("established conns=%u failed=%llu elapsed_s=%.3f\n",
                   opened, (unsigned long long) failed,
                   (double) (now - t_begin) / 1e9);
            fflush(stdout);
        }

        return;
    }

    if (cf.mode == WSB_MODE_HS) {
        if (wsb_send_message(c, now) != 0) {
            wsb_error(c, "out of memory");
        }

        return;
    }

    if (opened == cf.conns) {
        /* echo: all connections are up, start the clock and the traffic */
        t_begin = now;
        t_from = now + (uint64_t) (cf.warmup * 1e9);
        t_to = t_from + (uint64_t) (cf.duration * 1e9);

        if (cf.total) {
            t_from = now;
            t_to = (uint64_t) -1;
        }
    }
}


static void
wsb_message_done(wsb_conn_t *c, uint64_t now)
{
    uint64_t  lat;

    lat = now - c->fifo[c->fhead].sent;
    c->fhead = (c->fhead + 1) % cf.depth;
    c->fcount--;

    if (cf.mode == WSB_MODE_ECHO) {
        done_total++;
    }

    if (cf.mode == WSB_MODE_ECHO) {
        if (now >= t_from && now < t_to) {
            window_msgs++;
            wsb_hist_add(&hist, lat);
        }

        if (cf.total && done_total >= cf.total) {
            quit = 1;
        }

        return;
    }

    /* handshake mode: the echo came back, close */

    if (wsb_send_close(c) != 0) {
        wsb_error(c, "out of memory");
    }
}


/* the end of a frame; -1: close the connection */

static int
wsb_frame_end(wsb_conn_t *c, uint64_t now)
{
    char  msg[64];

    if (c->opcode & 0x8) {

        if (c->opcode == WSB_OP_PING) {
            if (wsb_put_frame(c, WSB_OP_PONG, c->ctl, c->ctl_len) != 0) {
                return -1;
            }

            pings++;

            return 0;
        }

        if (c->opcode == WSB_OP_PONG) {
            return 0;
        }

        /* close */

        if (c->state == WSB_ST_CLOSING) {
            c->state = WSB_ST_EOF;
            return 0;
        }

        snprintf(msg, sizeof(msg), "unexpected close frame, code %d",
                 c->ctl_len >= 2 ? c->ctl[0] << 8 | c->ctl[1] : 1005);
        wsb_error(c, msg);

        return -1;
    }

    if (!c->fin) {
        return 0;
    }

    if (c->rx_off != cf.size) {
        snprintf(msg, sizeof(msg), "echoed message has %llu bytes, not %zu",
                 (unsigned long long) c->rx_off, cf.size);
        wsb_error(c, msg);
        return -1;
    }

    c->in_msg = 0;
    wsb_message_done(c, now);

    return 0;
}


static int
wsb_frames(wsb_conn_t *c, const unsigned char *p, size_t len, uint64_t now)
{
    int             i, want;
    size_t          r, n;
    uint64_t        plen;
    unsigned char   b1;
    const char     *err;

    r = 0;

    while (r < len) {

        if (c->left == 0 && c->need != 0) {

            while (c->hlen < c->need && r < len) {
                c->hdr[c->hlen++] = p[r++];

                if (c->hlen == 2) {
                    b1 = c->hdr[1] & 0x7f;
                    c->need = b1 == 126 ? 4 : (b1 == 127 ? 10 : 2);
                }
            }

            if (c->hlen < c->need) {
                break;
            }

            err = NULL;
            b1 = c->hdr[1] & 0x7f;

            if (b1 < 126) {
                plen = b1;

            } else if (b1 == 126) {
                plen = (uint64_t) c->hdr[2] << 8 | c->hdr[3];

            } else {
                plen = 0;

                for (i = 0; i < 8; i++) {
                    plen = plen << 8 | c->hdr[2 + i];
                }
            }

            c->opcode = c->hdr[0] & 0x0f;
            c->fin = (c->hdr[0] & 0x80) != 0;
            c->left = plen;
            c->hlen = 0;
            c->need = plen ? 0 : 2;
            want = cf.text ? WSB_OP_TEXT : WSB_OP_BINARY;

            if (c->hdr[1] & 0x80) {
                err = "masked frame from the server";

            } else if (c->hdr[0] & 0x70) {
                err = "RSV bits set";

            } else if (c->opcode & 0x8) {
                if (!c->fin || plen > 125) {
                    err = "bad control frame";
                }

                c->ctl_len = 0;

            } else if (c->opcode == WSB_OP_CONT) {
                if (!c->in_msg) {
                    err = "continuation outside a message";
                }

            } else if (c->opcode != want) {
                err = "echoed message of another type";

            } else if (c->in_msg) {
                err = "new message inside a fragmented one";

            } else if (c->fcount == 0 || c->state != WSB_ST_OPEN) {
                err = "message that was not sent";

            } else {
                c->in_msg = 1;
                c->rx_off = 0;
            }

            if (err) {
                wsb_error(c, err);
                return -1;
            }

            if (plen == 0 && wsb_frame_end(c, now) != 0) {
                return -1;
            }

            continue;
        }

        n = len - r;
        if (n > c->left) {
            n = c->left;
        }

        if (c->opcode & 0x8) {
            memcpy(c->ctl + c->ctl_len, p + r, n);
            c->ctl_len += n;

        } else {
            if (c->rx_off + n > cf.size) {
                wsb_error(c, "echoed message is longer than sent");
                return -1;
            }

            if (memcmp(p + r, pool + c->fifo[c->fhead].off + c->rx_off, n)
                != 0)
            {
                wsb_error(c, "echoed bytes differ from the sent ones");
                return -1;
            }

            c->rx_off += n;
        }

        r += n;
        c->left -= n;

        if (c->left == 0) {
            c->need = 2;

            if (wsb_frame_end(c, now) != 0) {
                return -1;
            }
        }
    }

    return 0;
}


static int
wsb_upgrade(wsb_conn_t *c, const unsigned char *p, size_t len, uint64_t now)
{
    size_t       room, before, head, vlen;
    const char  *end, *v;

    if (c->http == NULL) {
        c->http = malloc(WSB_HTTP_MAX);
        if (c->http == NULL) {
            return -1;
        }
    }

    before = c->http_len;
    room = WSB_HTTP_MAX - before;
    if (room > len) {
        room = len;
    }

    memcpy(c->http + before, p, room);
    c->http_len += room;

    end = memmem(c->http, c->http_len, "\r\n\r\n", 4);

    if (end == NULL) {
        if (c->http_len == WSB_HTTP_MAX) {
            wsb_error(c, "response head too large");
            return -1;
        }

        return 0;
    }

    head = end + 4 - c->http;

    if (c->http_len < 12 || memcmp(c->http, "HTTP/1.1 101", 12) != 0) {
        wsb_error(c, "no 101 response to the upgrade");

        if (cf.verbose) {
            fprintf(stderr, "%.*s\n", (int) head, c->http);
        }

        return -1;
    }

    v = wsb_find_header(c->http, head, "Sec-WebSocket-Accept", &vlen);

    if (v == NULL || vlen != WSB_ACCEPT_LEN
        || memcmp(v, c->accept, WSB_ACCEPT_LEN) != 0)
    {
        wsb_error(c, "wrong Sec-WebSocket-Accept");
        return -1;
    }

    v = wsb_find_header(c->http, head, "Upgrade", &vlen);

    if (v == NULL || vlen != 9 || strncasecmp(v, "websocket", 9) != 0) {
        wsb_error(c, "no \"Upgrade: websocket\" in the response");
        return -1;
    }

    free(c->http);
    c->http = NULL;
    c->http_len = 0;
    c->state = WSB_ST_OPEN;

    wsb_opened(c, now);

    /* frames that came with the head */
    return wsb_frames(c, p + (head - before), len - (head - before), now);
}


static void
wsb_new_cycle(wsb_conn_t *c)
{
    if (quit) {
        return;
    }

    if (cf.total) {
        /* -n: that many cycles in all, then stop once the last one ends */
        if (cycles == cf.total) {
            if (live == 0) {
                quit = 1;
            }

            return;
        }

        cycles++;
    }

    if (wsb_connect(c) != 0) {
        failed++;
        c->fd = -1;
    }
}


static void
wsb_conn_close(wsb_conn_t *c, int failure)
{
    uint64_t  now;

    if (c->fd == -1) {
        return;
    }

    close(c->fd);
    c->fd = -1;
    live--;

    if (c->state < WSB_ST_OPEN) {
        inflight--;
    }

    free(c->http);
    c->http = NULL;

    if (cf.mode == WSB_MODE_IDLE) {
        if (failure && c->state < WSB_ST_OPEN) {
            failed++;

        } else if (c->state >= WSB_ST_OPEN && !quit) {
            dropped++;
        }

        return;
    }

    if (cf.mode == WSB_MODE_HS) {
        now = wsb_now_ns();

        if (!failure && c->state == WSB_ST_EOF) {
            done_total++;

            if (t_from && now >= t_from && now < t_to) {
                window_msgs++;
                wsb_hist_add(&hist, now - c->started);
            }

        } else {
            failed++;

            if (failed <= 5) {
                fprintf(stderr, "wsbench: handshake cycle failed in state "
                        "%d\n", c->state);
            }
        }

        wsb_new_cycle(c);
        return;
    }

    /* echo: a lost connection is an error */

    if (!quit && !c->erred) {
        wsb_error(c, "connection lost");
    }

    if (live == 0) {
        quit = 1;
    }
}


static void
wsb_on_read(wsb_conn_t *c)
{
    int       loops, rc;
    ssize_t   n;
    uint64_t  now;

    for (loops = 0; loops < 16; loops++) {
        n = recv(c->fd, rbuf, WSB_RBUF, 0);

        if (n == 0) {
            wsb_conn_close(c, c->state != WSB_ST_EOF);
            return;
        }

        if (n == -1) {
            if (errno == EAGAIN) {
                break;
            }

            if (errno == EINTR) {
                continue;
            }

            wsb_conn_close(c, 1);
            return;
        }

        now = wsb_now_ns();

        if (c->state == WSB_ST_UPGRADE) {
            rc = wsb_upgrade(c, rbuf, n, now);

        } else if (c->state >= WSB_ST_OPEN) {
            rc = wsb_frames(c, rbuf, n, now);

        } else {
            rc = -1;
        }

        if (rc != 0) {
            wsb_conn_close(c, 1);
            return;
        }

        if (n < WSB_RBUF) {
            break;
        }
    }

    wsb_fill(c, wsb_now_ns());

    if (wsb_flush(c) != 0) {
        wsb_conn_close(c, 1);
    }
}


static void
wsb_on_write(wsb_conn_t *c)
{
    int        err;
    socklen_t  len;

    if (c->state == WSB_ST_CONNECT) {
        err = 0;
        len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);

        if (err != 0) {
            if (failed < 5) {
                fprintf(stderr, "wsbench: connect: %s\n", strerror(err));
            }

            wsb_conn_close(c, 1);
            return;
        }

        if (wsb_send_request(c) != 0) {
            wsb_conn_close(c, 1);
        }

        return;
    }

    if (wsb_flush(c) != 0) {
        wsb_conn_close(c, 1);
    }
}


static void
wsb_check_timeouts(uint64_t now)
{
    unsigned     i;
    wsb_conn_t  *c;

    for (i = 0; i < cf.conns; i++) {
        c = conns[i];

        if (c == NULL || c->fd == -1) {
            continue;
        }

        if (c->state >= WSB_ST_OPEN && cf.mode != WSB_MODE_HS) {
            continue;
        }

        if (now > c->deadline) {
            wsb_error(c, c->state < WSB_ST_OPEN ? "upgrade timed out"
                                                : "handshake cycle timed out");
            wsb_conn_close(c, 1);
        }
    }
}


/* idle and echo: start connections up to the in-flight limit */

static void
wsb_start_more(void)
{
    wsb_conn_t  *c;

    while (started < cf.conns && inflight < cf.inflight_max && !quit) {
        c = conns[started];
        c->slot = started;
        started++;

        if (wsb_connect(c) != 0) {
            if (failed < 5) {
                fprintf(stderr, "wsbench: connect: %s\n", strerror(errno));
            }

            failed++;
            c->fd = -1;
        }
    }
}


static void
wsb_report(uint64_t now)
{
    double  secs;

    if (cf.mode == WSB_MODE_IDLE) {
        printf("RESULT mode=idle conns=%u established=%u failed=%llu "
               "dropped=%llu errors=%llu pings=%llu\n", cf.conns, opened,
               (unsigned long long) failed, (unsigned long long) dropped,
               (unsigned long long) errors, (unsigned long long) pings);
        return;
    }

    if (cf.total) {
        secs = (double) (now - t_from) / 1e9;

    } else {
        secs = cf.duration;
    }

    if (secs <= 0) {
        secs = 1e-9;
    }

    if (cf.mode == WSB_MODE_HS) {
        printf("RESULT mode=handshake conns=%u size=%zu duration=%.3f "
               "handshakes=%llu hs_per_s=%.1f p50_us=%.1f p99_us=%.1f "
               "p999_us=%.1f failed=%llu errors=%llu total=%llu\n",
               cf.conns, cf.size, secs, (unsigned long long) window_msgs,
               window_msgs / secs, wsb_hist_pct(&hist, 50) / 1e3,
               wsb_hist_pct(&hist, 99) / 1e3,
               wsb_hist_pct(&hist, 99.9) / 1e3,
               (unsigned long long) failed, (unsigned long long) errors,
               (unsigned long long) done_total);
        return;
    }

    printf("RESULT mode=echo conns=%u size=%zu depth=%u duration=%.3f "
           "msgs=%llu msg_per_s=%.1f mb_per_s=%.2f p50_us=%.1f p99_us=%.1f "
           "p999_us=%.1f max_us=%.1f errors=%llu total=%llu\n",
           cf.conns, cf.size, cf.depth, secs,
           (unsigned long long) window_msgs, window_msgs / secs,
           window_msgs * (double) cf.size / secs / 1e6,
           wsb_hist_pct(&hist, 50) / 1e3, wsb_hist_pct(&hist, 99) / 1e3,
           wsb_hist_pct(&hist, 99.9) / 1e3, hist.max / 1e3,
           (unsigned long long) errors, (unsigned long long) done_total);
}


/*
 * more connections than 90% of the ephemeral port range to one server:
 * spread them over source addresses from 127.0.0.2 on
 */

static void
wsb_auto_sources(void)
{
    int    lo, hi;
    FILE  *f;

    f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (f == NULL) {
        return;
    }

    if (fscanf(f, "%d %d", &lo, &hi) != 2 || hi <= lo) {
        fclose(f);
        return;
    }

    fclose(f);

    if (cf.conns <= (unsigned) (hi - lo + 1) * 9 / 10) {
        return;
    }

    inet_pton(AF_INET, "127.0.0.2", &cf.src);
    cf.nsrc = cf.conns / ((unsigned) (hi - lo + 1) * 9 / 10) + 1;

    fprintf(stderr, "wsbench: %u connections from 127.0.0.2+%u\n",
            cf.conns, cf.nsrc);
}


/* -H "Name: value": appended to every upgrade request */

static int
wsb_add_header(const char *line)
{
    char    *p;
    size_t   len;

    len = strlen(line);

    if (len == 0 || strchr(line, ':') == NULL || line[0] == ':'
        || strpbrk(line, "\r\n") != NULL || len > 8192)
    {
        fprintf(stderr, "wsbench: -H wants \"Name: value\" on one line\n");
        return -1;
    }

    p = realloc(cf.headers, cf.headers_len + len + 2);
    if (p == NULL) {
        return -1;
    }

    memcpy(p + cf.headers_len, line, len);
    memcpy(p + cf.headers_len + len, "\r\n", 2);
    cf.headers = p;
    cf.headers_len += len + 2;

    return 0;
}


static void
wsb_usage(void)
{
    fprintf(stderr,
        "usage: wsbench [options]\n"
        "  -m MODE    echo (default), idle or handshake\n"
        "  -a ADDR    server address (127.0.0.1)\n"
        "  -p PORT    server port\n"
        "  -u PATH    request path (/)\n"
        "  -c N       connections (echo, handshake: concurrent loops)\n"
        "  -s BYTES   message size (64)\n"
        "  -P N       messages in flight per connection (1)\n"
        "  -d SECS    measured duration (5); idle: hold time, 0 = until "
        "a signal\n"
        "  -w SECS    warmup before measuring (1)\n"
        "  -n N       echo: send N messages in all, then stop; handshake:\n"
        "             run N cycles in all, then stop\n"
        "  -t         text frames (default binary)\n"
        "  -b ADDRS   source addresses: A, A-B or A+N (default: one, or\n"
        "             127.0.0.2+K when N exceeds the ephemeral ports)\n"
        "  -i N       connection attempts in flight (256)\n"
        "  -T SECS    upgrade timeout per connection (30)\n"
        "  -H LINE    an extra request header, \"Name: value\" "
        "(repeatable)\n"
        "  -v         print unexpected responses\n");
}


int
main(int argc, char **argv)
{
    int                 opt, i, n;
    size_t              poolsize, k;
    uint64_t            now, last_check, hold_until, seed;
    unsigned            u;
    wsb_conn_t         *c;
    struct sigaction    sa;
    struct epoll_event  events[WSB_EVENTS];

    cf.mode = WSB_MODE_ECHO;
    inet_pton(AF_INET, "127.0.0.1", &cf.dst);
    cf.path = "/";
    cf.conns = 1;
    cf.size = 64;
    cf.depth = 1;
    cf.duration = 5;
    cf.warmup = 1;
    cf.inflight_max = 256;
    cf.timeout = 30;

    while ((opt = getopt(argc, argv, "m:a:p:u:c:s:P:d:w:n:tb:i:T:H:vh")) != -1)
    {
        switch (opt) {

        case 'm':
            if (strcmp(optarg, "echo") == 0) {
                cf.mode = WSB_MODE_ECHO;

            } else if (strcmp(optarg, "idle") == 0) {
                cf.mode = WSB_MODE_IDLE;

            } else if (strcmp(optarg, "handshake") == 0) {
                cf.mode = WSB_MODE_HS;

            } else {
                wsb_usage();
                return 2;
            }
            break;

        case 'a':
            if (inet_pton(AF_INET, optarg, &cf.dst) != 1) {
                wsb_usage();
                return 2;
            }
            break;

        case 'p':
            cf.port = atoi(optarg);
            break;

        case 'u':
            cf.path = optarg;
            break;

        case 'c':
            cf.conns = (unsigned) atoi(optarg);
            break;

        case 's':
            cf.size = (size_t) strtoull(optarg, NULL, 10);
            break;

        case 'P':
            cf.depth = (unsigned) atoi(optarg);
            break;

        case 'd':
            cf.duration = atof(optarg);
            break;

        case 'w':
            cf.warmup = atof(optarg);
            break;

        case 'n':
            cf.total = strtoull(optarg, NULL, 10);
            break;

        case 't':
            cf.text = 1;
            break;

        case 'b':
            if (wsb_parse_addr_range(optarg, &cf.src, &cf.nsrc) != 0) {
                wsb_usage();
                return 2;
            }
            break;

        case 'i':
            cf.inflight_max = (unsigned) atoi(optarg);
            break;

        case 'T':
            cf.timeout = atof(optarg);
            break;

        case 'v':
            cf.verbose = 1;
            break;

        case 'H':
            if (wsb_add_header(optarg) != 0) {
                wsb_usage();
                return 2;
            }
            break;

        default:
            wsb_usage();
            return 2;
        }
    }

    if (cf.port <= 0 || cf.port > 65535 || cf.conns == 0 || cf.depth == 0
        || cf.inflight_max == 0 || cf.size > ((size_t) 1 << 31))
    {
        wsb_usage();
        return 2;
    }

    if (cf.mode == WSB_MODE_HS) {
        cf.depth = 1;
    }

    if (cf.nsrc == 0 && (ntohl(cf.dst.s_addr) >> 24) == 127) {
        wsb_auto_sources();
    }

    if (wsb_raise_nofile() == -1) {
        perror("wsbench: setrlimit");
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = wsb_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (getrandom(&seed, sizeof(seed), 0) != sizeof(seed)) {
        seed = wsb_now_ns() ^ ((uint64_t) getpid() << 32);
    }

    rng = seed | 1;

    poolsize = cf.size + WSB_POOL_SLACK;
    pool = malloc(poolsize);
    rbuf = malloc(WSB_RBUF);
    conns = calloc(cf.conns, sizeof(wsb_conn_t *));

    if (pool == NULL || rbuf == NULL || conns == NULL) {
        fprintf(stderr, "wsbench: out of memory\n");
        return 1;
    }

    for (k = 0; k < poolsize; k++) {
        if ((k & 7) == 0) {
            seed = wsb_rand();
        }

        pool[k] = (unsigned char) (seed >> ((k & 7) * 8));

        if (cf.text) {
            pool[k] = 0x20 + pool[k] % 95;
        }
    }

    for (u = 0; u < cf.conns; u++) {
        c = calloc(1, sizeof(wsb_conn_t));
        if (c == NULL) {
            fprintf(stderr, "wsbench: out of memory\n");
            return 1;
        }

        c->fd = -1;
        c->slot = u;

        if (cf.mode != WSB_MODE_IDLE) {
            c->fifo = calloc(cf.depth, sizeof(wsb_msg_t));
            if (c->fifo == NULL) {
                fprintf(stderr, "wsbench: out of memory\n");
                return 1;
            }
        }

        conns[u] = c;
    }

    ep = epoll_create1(0);
    if (ep == -1) {
        perror("wsbench: epoll_create1");
        return 1;
    }

    now = wsb_now_ns();
    last_check = now;
    hold_until = 0;

    if (cf.mode == WSB_MODE_HS) {
        t_begin = now;
        t_from = now + (uint64_t) (cf.warmup * 1e9);
        t_to = t_from + (uint64_t) (cf.duration * 1e9);

        if (cf.total) {
            t_from = now;
            t_to = (uint64_t) -1;
        }

        for (u = 0; u < cf.conns; u++) {
            wsb_new_cycle(conns[u]);
        }

    } else {
        if (cf.mode == WSB_MODE_IDLE) {
            t_begin = now;
        }

        wsb_start_more();
    }

    while (!quit) {
        n = epoll_wait(ep, events, WSB_EVENTS, 100);

        for (i = 0; i < n; i++) {
            c = events[i].data.ptr;

            if (c->fd == -1) {
                continue;
            }

            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                if (c->state == WSB_ST_CONNECT) {
                    wsb_on_write(c);

                } else {
                    wsb_on_read(c);
                }

                if (c->fd == -1) {
                    continue;
                }
            }

            if (events[i].events & EPOLLOUT) {
                wsb_on_write(c);
            }
        }

        if (cf.mode != WSB_MODE_HS) {
            wsb_start_more();
        }

        now = wsb_now_ns();

        if (cf.mode == WSB_MODE_ECHO && t_begin && !kicked) {
            kicked = 1;

            for (u = 0; u < cf.conns; u++) {
                wsb_fill(conns[u], now);

                if (wsb_flush(conns[u]) != 0) {
                    wsb_conn_close(conns[u], 1);
                }
            }
        }

        if (now - last_check > 100000000) {
            last_check = now;
            wsb_check_timeouts(now);
        }

        if (cf.mode == WSB_MODE_IDLE) {
            if (started == cf.conns && inflight == 0 && hold_until == 0) {
                if (opened != cf.conns) {
                    printf("established conns=%u failed=%llu "
                           "elapsed_s=%.3f\n", opened,
                           (unsigned long long) failed,
                           (double) (now - t_begin) / 1e9);
                    fflush(stdout);
                }

                hold_until = cf.duration > 0
                             ? now + (uint64_t) (cf.duration * 1e9)
                             : (uint64_t) -1;
            }

            if (hold_until && now >= hold_until) {
                break;
            }

            continue;
        }

        if (t_to && now >= t_to) {
            break;
        }

        if (cf.mode == WSB_MODE_HS && cf.total && cycles == cf.total
            && live == 0)
        {
            break;
        }

        if (cf.mode == WSB_MODE_ECHO && t_begin == 0 && started == cf.conns
            && inflight == 0 && opened < cf.conns)
        {
            fprintf(stderr, "wsbench: only %u of %u connections opened\n",
                    opened, cf.conns);
            errors++;
            break;
        }
    }

    wsb_report(wsb_now_ns());
    fflush(stdout);

    return errors || (cf.mode != WSB_MODE_HS && failed) ? 1 : 0;
}
