/*
 * wsecho: a WebSocket echo backend for the ngx_ws benchmark.
 *
 * Single-threaded epoll loop per process; "-w N" runs N processes that
 * share the listening ports with SO_REUSEPORT.  Completes the RFC 6455
 * handshake and echoes every frame with the same opcode and FIN bit,
 * unmasked (a ping is answered with a pong, a close with a close, after
 * which the connection is closed).  Frames stream through: no frame is
 * held whole, and an idle connection holds no buffer.
 */

#define _GNU_SOURCE

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include "wsb_util.h"


#define WSE_BUF           (256 * 1024)
#define WSE_HTTP_MAX      8192
#define WSE_MAX_PORTS     64
#define WSE_MAX_WORKERS   64
#define WSE_EVENTS        512


typedef struct {
    int             fd;
    unsigned        upgraded:1;
    unsigned        reading:1;
    unsigned        close_after:1;
    unsigned        masked:1;
    unsigned        fin:1;

    unsigned char   opcode;
    unsigned char   hlen;
    unsigned char   need;
    unsigned char   hdr[14];
    unsigned char   mask[4];
    uint64_t        left;
    uint64_t        off;

    char           *http;
    size_t          http_len;

    unsigned char  *pend;
    size_t          pend_pos;
    size_t          pend_len;
} wse_conn_t;


static int             ep;
static volatile int    quit;
static unsigned char  *inbuf;
static unsigned char  *outbuf;
static long            nconns;
static int             emfile_logged;

static int             nports;
static int             ports[WSE_MAX_PORTS];
static struct in_addr  addr;


static void
wse_signal(int sig)
{
    quit = 1;
}


static void
wse_close(wse_conn_t *c)
{
    close(c->fd);
    free(c->http);
    free(c->pend);
    free(c);
    nconns--;
}


static int
wse_set_events(wse_conn_t *c, uint32_t events)
{
    struct epoll_event  ev;

    ev.events = events;
    ev.data.ptr = c;

    return epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
}


/* sends out[0..len); keeps what the socket did not take; -1: close */

static int
wse_send(wse_conn_t *c, const unsigned char *out, size_t len)
{
    ssize_t  n;
    size_t   sent;

    sent = 0;

    while (sent < len) {
        n = send(c->fd, out + sent, len - sent, MSG_NOSIGNAL);

        if (n > 0) {
            sent += n;
            continue;
        }

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n == -1 && errno == EAGAIN) {
            break;
        }

        return -1;
    }

    if (sent == len) {
        return c->close_after ? -1 : 0;
    }

    c->pend_len = len - sent;
    c->pend_pos = 0;
    c->pend = malloc(c->pend_len);
    if (c->pend == NULL) {
        return -1;
    }

    memcpy(c->pend, out + sent, c->pend_len);
    c->reading = 0;

    return wse_set_events(c, EPOLLOUT);
}


/*
 * turns client frames in[0..len) into server frames in outbuf;
 * returns the number of output bytes
 */

static size_t
wse_frames(wse_conn_t *c, const unsigned char *in, size_t len)
{
    int            i, opcode;
    size_t         r, w, n;
    uint64_t       plen;
    unsigned char  b1;

    r = 0;
    w = 0;

    while (r < len) {

        if (c->left == 0 && c->need != 0) {
            /* collecting a frame header */

            while (c->hlen < c->need && r < len) {
                c->hdr[c->hlen++] = in[r++];

                if (c->hlen == 2) {
                    b1 = c->hdr[1];
                    c->masked = (b1 & 0x80) != 0;
                    c->need = 2 + (c->masked ? 4 : 0);

                    if ((b1 & 0x7f) == 126) {
                        c->need += 2;

                    } else if ((b1 & 0x7f) == 127) {
                        c->need += 8;
                    }
                }
            }

            if (c->hlen < c->need) {
                break;
            }

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

            if (c->masked) {
                memcpy(c->mask, c->hdr + c->need - 4, 4);

            } else {
                memset(c->mask, 0, 4);
            }

            c->fin = (c->hdr[0] & 0x80) != 0;
            c->opcode = c->hdr[0] & 0x0f;
            c->left = plen;
            c->off = 0;
            c->hlen = 0;
            c->need = 2;

            opcode = c->opcode == WSB_OP_PING ? WSB_OP_PONG : c->opcode;
            w += wsb_frame_header(outbuf + w, c->fin, opcode, plen, NULL);

            if (c->opcode == WSB_OP_CLOSE) {
                c->close_after = 1;
            }

            if (plen != 0) {
                /* the payload follows in the next pass */
                c->need = 0;
                continue;
            }

            if (c->close_after) {
                return w;
            }

            continue;
        }

        /* payload */

        n = len - r;
        if (n > c->left) {
            n = c->left;
        }

        wsb_mask(outbuf + w, in + r, n, c->mask, c->off);

        r += n;
        w += n;
        c->off += n;
        c->left -= n;

        if (c->left == 0) {
            c->need = 2;

            if (c->close_after) {
                return w;
            }
        }
    }

    return w;
}


static int
wse_handshake(wse_conn_t *c, size_t *used)
{
    int          n;
    char         resp[256], accept[WSB_ACCEPT_LEN + 4];
    size_t       klen;
    const char  *head_end, *key;

    head_end = memmem(c->http, c->http_len, "\r\n\r\n", 4);

    if (head_end == NULL) {
        if (c->http_len >= WSE_HTTP_MAX) {
            return -1;
        }

        *used = 0;
        return 0;
    }

    key = wsb_find_header(c->http, head_end + 2 - c->http,
                          "Sec-WebSocket-Key", &klen);

    if (key == NULL || klen == 0 || klen > 64) {
        n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 400 Bad Request\r\n"
                     "Content-Length: 0\r\nConnection: close\r\n\r\n");
        c->close_after = 1;

    } else {
        wsb_accept(key, klen, accept);

        n = snprintf(resp, sizeof(resp),
                     "HTTP/1.1 101 Switching Protocols\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Accept: %s\r\n\r\n", accept);
    }

    *used = head_end + 4 - c->http;
    c->upgraded = 1;
    c->need = 2;

    return wse_send(c, (unsigned char *) resp, n);
}


static void
wse_read(wse_conn_t *c)
{
    int      loops;
    size_t   used, out, before;
    ssize_t  n;

    for (loops = 0; loops < 8 && c->reading; loops++) {

        n = recv(c->fd, inbuf, WSE_BUF, 0);

        if (n == 0) {
            wse_close(c);
            return;
        }

        if (n == -1) {
            if (errno == EAGAIN || errno == EINTR) {
                return;
            }

            wse_close(c);
            return;
        }

        used = 0;

        if (!c->upgraded) {
            if (c->http == NULL) {
                c->http = malloc(WSE_HTTP_MAX);
                if (c->http == NULL) {
                    wse_close(c);
                    return;
                }
            }

            before = c->http_len;
            used = WSE_HTTP_MAX - before;
            if (used > (size_t) n) {
                used = n;
            }

            memcpy(c->http + before, inbuf, used);
            c->http_len += used;

            if (wse_handshake(c, &used) != 0) {
                wse_close(c);
                return;
            }

            if (!c->upgraded) {
                continue;
            }

            /* "used" is the length of the head: frames may follow it */
            used -= before;
            free(c->http);
            c->http = NULL;

            if (c->close_after) {
                if (c->pend == NULL) {
                    wse_close(c);
                }

                return;
            }
        }

        out = wse_frames(c, inbuf + used, n - used);

        if (out == 0) {
            continue;
        }

        if (c->pend != NULL) {
            /* handshake response still queued: append */
            c->pend = realloc(c->pend, c->pend_len + out);
            if (c->pend == NULL) {
                wse_close(c);
                return;
            }

            memcpy(c->pend + c->pend_len, outbuf, out);
            c->pend_len += out;
            continue;
        }

        if (wse_send(c, outbuf, out) != 0) {
            wse_close(c);
            return;
        }
    }
}


static void
wse_write(wse_conn_t *c)
{
    ssize_t  n;

    while (c->pend_pos < c->pend_len) {
        n = send(c->fd, c->pend + c->pend_pos, c->pend_len - c->pend_pos,
                 MSG_NOSIGNAL);

        if (n > 0) {
            c->pend_pos += n;
            continue;
        }

        if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }

        wse_close(c);
        return;
    }

    free(c->pend);
    c->pend = NULL;

    if (c->close_after) {
        wse_close(c);
        return;
    }

    c->reading = 1;

    if (wse_set_events(c, EPOLLIN) != 0) {
        wse_close(c);
    }
}


static void
wse_accept(int lfd)
{
    int                 fd, one;
    wse_conn_t         *c;
    struct epoll_event  ev;

    for ( ;; ) {
        fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);

        if (fd == -1) {
            if (errno == EMFILE || errno == ENFILE) {
                if (!emfile_logged) {
                    fprintf(stderr, "wsecho: out of descriptors at %ld "
                            "connections\n", nconns);
                    emfile_logged = 1;
                }
            }

            return;
        }

        one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

        c = calloc(1, sizeof(wse_conn_t));
        if (c == NULL) {
            close(fd);
            return;
        }

        c->fd = fd;
        c->reading = 1;

        ev.events = EPOLLIN;
        ev.data.ptr = c;

        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
            close(fd);
            free(c);
            return;
        }

        nconns++;
    }
}


static int
wse_listen(int port)
{
    int                 fd, one;
    struct sockaddr_in  sin;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd == -1) {
        return -1;
    }

    one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons(port);
    sin.sin_addr = addr;

    if (bind(fd, (struct sockaddr *) &sin, sizeof(sin)) != 0
        || listen(fd, 65535) != 0)
    {
        fprintf(stderr, "wsecho: listen on port %d: %s\n", port,
                strerror(errno));
        close(fd);
        return -1;
    }

    return fd;
}


static int
wse_run(int ready_fd)
{
    int                 i, n, lfds[WSE_MAX_PORTS];
    wse_conn_t         *c;
    struct epoll_event  ev, events[WSE_EVENTS];

    inbuf = malloc(WSE_BUF);
    outbuf = malloc(WSE_BUF + 64);
    ep = epoll_create1(0);

    if (inbuf == NULL || outbuf == NULL || ep == -1) {
        return 1;
    }

    for (i = 0; i < nports; i++) {
        lfds[i] = wse_listen(ports[i]);
        if (lfds[i] == -1) {
            return 1;
        }

        ev.events = EPOLLIN;
        ev.data.ptr = &lfds[i];

        if (epoll_ctl(ep, EPOLL_CTL_ADD, lfds[i], &ev) != 0) {
            return 1;
        }
    }

    if (ready_fd != -1) {
        n = write(ready_fd, "r", 1);
        close(ready_fd);
    }

    while (!quit) {
        n = epoll_wait(ep, events, WSE_EVENTS, 1000);

        for (i = 0; i < n; i++) {
            if (events[i].data.ptr >= (void *) &lfds[0]
                && events[i].data.ptr < (void *) &lfds[nports])
            {
                wse_accept(*(int *) events[i].data.ptr);
                continue;
            }

            c = events[i].data.ptr;

            if (c->reading) {
                wse_read(c);

            } else {
                wse_write(c);
            }
        }
    }

    return 0;
}


static int
wse_parse_ports(char *s)
{
    int    first, count, i;
    char  *tok, *plus;

    for (tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
        first = atoi(tok);
        count = 1;

        plus = strchr(tok, '+');
        if (plus) {
            count = atoi(plus + 1);
        }

        for (i = 0; i < count; i++) {
            if (nports == WSE_MAX_PORTS || first + i <= 0
                || first + i > 65535)
            {
                return -1;
            }

            ports[nports++] = first + i;
        }
    }

    return nports ? 0 : -1;
}


static void
wse_usage(void)
{
    fprintf(stderr,
            "usage: wsecho -p PORT[,PORT|+N]... [-a ADDR] [-w WORKERS]\n"
            "  -p  ports to listen on (\"9000+4\" is 9000..9003)\n"
            "  -a  address to listen on (127.0.0.1)\n"
            "  -w  number of processes sharing the ports (1)\n"
            "prints \"ready\" once every process listens; stops on "
            "SIGTERM or SIGINT\n");
}


int
main(int argc, char **argv)
{
    int               opt, workers, i, pfd[2], status, rc;
    char              ch;
    pid_t             pids[WSE_MAX_WORKERS];
    struct sigaction  sa;

    workers = 1;
    inet_pton(AF_INET, "127.0.0.1", &addr);

    while ((opt = getopt(argc, argv, "p:a:w:h")) != -1) {
        switch (opt) {

        case 'p':
            if (wse_parse_ports(optarg) != 0) {
                wse_usage();
                return 2;
            }
            break;

        case 'a':
            if (inet_pton(AF_INET, optarg, &addr) != 1) {
                wse_usage();
                return 2;
            }
            break;

        case 'w':
            workers = atoi(optarg);
            break;

        default:
            wse_usage();
            return 2;
        }
    }

    if (nports == 0 || workers < 1 || workers > WSE_MAX_WORKERS) {
        wse_usage();
        return 2;
    }

    if (wsb_raise_nofile() == -1) {
        perror("wsecho: setrlimit");
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = wse_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (pipe(pfd) != 0) {
        perror("wsecho: pipe");
        return 1;
    }

    if (workers == 1) {
        close(pfd[0]);
        close(pfd[1]);
        printf("ready\n");
        fflush(stdout);
        return wse_run(-1);
    }

    for (i = 0; i < workers; i++) {
        pids[i] = fork();

        if (pids[i] == 0) {
            close(pfd[0]);
            return wse_run(pfd[1]);
        }

        if (pids[i] == -1) {
            perror("wsecho: fork");
            workers = i;
            quit = 1;
            break;
        }
    }

    close(pfd[1]);

    for (i = 0; i < workers && !quit; i++) {
        if (read(pfd[0], &ch, 1) != 1) {
            break;
        }
    }

    if (i == workers) {
        printf("ready\n");
        fflush(stdout);
    }

    while (!quit) {
        if (waitpid(-1, &status, 0) > 0) {
            /* a worker died: stop the others */
            quit = 1;
        }
    }

    rc = 0;

    for (i = 0; i < workers; i++) {
        kill(pids[i], SIGTERM);
    }

    for (i = 0; i < workers; i++) {
        if (waitpid(pids[i], &status, 0) > 0 && status != 0) {
            rc = 1;
        }
    }

    return rc;
}
