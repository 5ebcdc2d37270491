
/*
 * A TLS WebSocket peer for t/tls13.t and t/tls_reneg.t, on OpenSSL 3.
 *
 *   tls_peer server [--tickets N] [--tls12 [--ticket-data N] [--rcvbuf N]]
 *                   PORT CERT KEY
 *   tls_peer client [--sni NAME] [--tls12] PORT PATH COMMAND...
 *
 * The server is a backend on 127.0.0.1:PORT, one process per connection,
 * that accepts only TLS 1.3 (only TLS 1.2 with --tls12), answers the
 * WebSocket upgrade and echoes data frames; text messages are also
 * commands:
 *
 *   ticket [K]          K NewSessionTickets now (SSL_new_session_ticket()),
 *                       then the text "ticket-sent"
 *   ticket-later MS     the text "ticket-later", then MS ms later (when the
 *                       client sent nothing in between) a ticket alone
 *   keyupdate           a KeyUpdate asking for one back, then the text
 *                       "keyupdate-sent"
 *   keyupdate-later MS  the text "keyupdate-later", then the KeyUpdate alone
 *   flood N             N bytes in binary frames of 64 KiB (byte i of the
 *                       flood is i % 251) with a KeyUpdate after half of
 *                       them, then the text "flood-done"
 *   stall MS            the text "stalling"; reads nothing for MS ms,
 *                       sends a KeyUpdate after MS/2 ms and then the text
 *                       "stall-tick" every 20 ms, then the text
 *                       "stall-over" and reads again
 *   slowread N          the text "slowreading"; reads N data frames (and
 *                       echoes them) one every 3 ms, each time after the
 *                       text "slow-tick" and, when the last one was
 *                       answered, a KeyUpdate; then the text "slow-over"
 *   resumed?            the text "resumed 1" or "resumed 0": whether the
 *                       TLS session was resumed
 *
 * and with --tls12, renegotiations started by the server (a HelloRequest,
 * SSL_renegotiate()), which the client may answer or refuse; the text
 * after a HelloRequest goes in the same TCP segment:
 *
 *   reneg               a HelloRequest, then the text "reneg-sent"
 *   reneg-hold MS       a HelloRequest, then the text "reneg-hold"; reads
 *                       nothing for MS ms: the client's ClientHello waits
 *   hold PATH           the text "holding"; reads nothing until the file
 *                       PATH.go exists (at most 60 s); when PATH.reneg
 *                       appears meanwhile, a HelloRequest and the text
 *                       "hello-request-sent"; then reads data frames
 *                       without echoing them up to the text "hold-end",
 *                       and answers "held BYTES SHA256" (of their payload)
 *   renegotiations?     the text "renegotiations N": how many completed
 *
 * A request whose line has "reneg-at-upgrade=MS" gets its 101 and a
 * HelloRequest in one TCP segment, and nothing is read for MS ms after
 * them.  --ticket-data N puts N bytes of application data into every
 * session ticket (SSL_SESSION_set1_ticket_appdata()): a client's
 * ClientHello that offers the ticket again, as in a renegotiation, is as
 * long.  --rcvbuf N sets SO_RCVBUF of the listening socket (a small
 * window toward the client).
 *
 * Pings get pongs, a close gets the same close back and the connection
 * ends.  --tickets N sets the TLS 1.3 tickets sent after the handshake
 * (default 0: then the only ones are those asked for).  One line per
 * action goes to stderr: "conn ID: ...", and "conn ID: renegotiation N
 * done" when one completes.
 *
 * The client connects to nginx with TLS 1.3 (TLS 1.2 with --tls12; no
 * verification, SNI "localhost"), upgrades PATH, checks the 101 and runs
 * its commands:
 *
 *   send:TEXT       a text message
 *   expect:TEXT     the next message must be the text TEXT
 *   echo:TEXT       send:TEXT then expect:TEXT
 *   bin:N           N bytes in a binary message, the same must come back
 *   keyupdate       a KeyUpdate asking for one back, sent at once
 *   ticket          send:ticket then expect:ticket-sent
 *   resumed         send:resumed? and print the answer
 *   sleep:MS        sleep
 *   flood:N         asks the backend for a flood of N bytes and reads
 *                   nothing for a while; in that time sends a KeyUpdate and
 *                   the texts "during-flood-1" to "-3"; then reads slowly,
 *                   with a text "during-read-K" after every 512 KiB and a
 *                   KeyUpdate when the last one was answered: N bytes of
 *                   the flood's pattern, "flood-done", and all the texts
 *                   back
 *   close           a close 1000, the close back, the end of the stream
 *   reneg           a renegotiation started by the client (--tls12):
 *                   prints "renegotiation done" or "renegotiation refused:
 *                   REASON" (OpenSSL's reason of the failure)
 *   tcp-eof         the TCP connection is closed by the other side within
 *                   10 s: prints "tcp eof" ("tcp reset" for a reset), and
 *                   what came before it is discarded
 *
 * It prints what it receives ("text hello", "binary 70000", "close 1000",
 * "flood 8388608 bytes", "eof") and exits with 0 when every command
 * succeeded; otherwise it prints "error: ..." and exits with 1.
 */


#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>


#define WS_GUID        "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define FLOOD_FRAME    65536
#define MAX_PAYLOAD    (16 * 1024 * 1024)
#define MAX_HEAD       16384
#define PATTERN        251

#define OP_CONT        0x0
#define OP_TEXT        0x1
#define OP_BINARY      0x2
#define OP_CLOSE       0x8
#define OP_PING        0x9
#define OP_PONG        0xa


typedef struct {
    SSL            *ssl;
    int             fd;
    long            id;
    int             client;
    unsigned char  *buf;
    size_t          size;
    size_t          start;
    size_t          end;
    unsigned        updates_sent;
    unsigned        updates_received;
    unsigned        hellos;
    unsigned        handshakes;
} peer_t;


typedef struct {
    int             fin;
    int             opcode;
    size_t          len;
    unsigned char  *payload;
} frame_t;


typedef struct {
    int             opcode;
    size_t          len;
    unsigned char  *data;
} message_t;


static void say(peer_t *p, const char *fmt, ...);
static void out(const char *fmt, ...);
static void fail(const char *fmt, ...);
static void ssl_errors(const char *what);
static double now_ms(void);
static void sleep_ms(long ms);
static int fill(peer_t *p);
static int need(peer_t *p, size_t n);
static int read_head(peer_t *p, char *head, size_t size);
static int write_all(peer_t *p, const void *data, size_t len);
static int send_frame(peer_t *p, int fin, int opcode, const void *data,
    size_t len);
static int send_text(peer_t *p, const char *text);
static int read_frame(peer_t *p, frame_t *f);
static int read_message(peer_t *p, message_t *m);
static void msg_callback(int write_p, int version, int content_type,
    const void *buf, size_t len, SSL *ssl, void *arg);
static int key_update(peer_t *p);
static int new_tickets(peer_t *p, int n);
static void info_callback(const SSL *ssl, int where, int ret);
static int hello_request(peer_t *p, const char *text);
static int ticket_generate(SSL *ssl, void *arg);
static SSL_TICKET_RETURN ticket_decrypt(SSL *ssl, SSL_SESSION *sess,
    const unsigned char *name, size_t name_len, SSL_TICKET_STATUS status,
    void *arg);
static void pattern(unsigned char *buf, size_t len, size_t offset);
static int header_value(const char *head, const char *name, char *value,
    size_t size);
static void ws_accept(const char *key, char *accept);

static int server_main(int argc, char **argv);
static void server_conn(SSL_CTX *ctx, int fd, long id);
static int server_command(peer_t *p, const char *cmd, double *later,
    int *later_what);
static int server_flood(peer_t *p, size_t total);
static int server_stall(peer_t *p, long ms);
static int server_slowread(peer_t *p, long frames);
static int server_hold(peer_t *p, const char *path);
static int file_exists(const char *path, const char *suffix);

static int client_main(int argc, char **argv);
static int client_command(peer_t *p, const char *cmd);
static int client_expect(peer_t *p, const char *text);
static int client_flood(peer_t *p, size_t total);
static int client_reneg(peer_t *p);
static int client_tcp_eof(peer_t *p);


static const char  *prog = "tls_peer";
static size_t       ticket_data;


int
main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);

    if (argc >= 2 && strcmp(argv[1], "server") == 0) {
        return server_main(argc - 2, argv + 2);
    }

    if (argc >= 2 && strcmp(argv[1], "client") == 0) {
        return client_main(argc - 2, argv + 2);
    }

    fprintf(stderr, "usage: %s server [--tickets N] [--tls12 "
            "[--ticket-data N] [--rcvbuf N]] PORT CERT KEY\n"
            "       %s client [--sni NAME] [--tls12] PORT PATH "
            "COMMAND...\n", prog, prog);

    return 2;
}


/* one line to stderr in a single write(), so that processes do not mix */

static void
say(peer_t *p, const char *fmt, ...)
{
    int      n, m;
    char     line[512];
    va_list  ap;

    n = snprintf(line, sizeof(line), "conn %ld: ", p ? p->id : 0L);

    va_start(ap, fmt);
    m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    va_end(ap);

    if (m < 0) {
        return;
    }

    n += m;

    if (n > (int) sizeof(line) - 2) {
        n = sizeof(line) - 2;
    }

    line[n++] = '\n';

    (void) write(2, line, n);
}


/* a result line of the client on stdout */

static void
out(const char *fmt, ...)
{
    va_list  ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);

    printf("\n");
    fflush(stdout);
}


static void
fail(const char *fmt, ...)
{
    va_list  ap;

    printf("error: ");

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);

    printf("\n");
    fflush(stdout);
}


static void
ssl_errors(const char *what)
{
    unsigned long  e;
    char           buf[256];

    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        fprintf(stderr, "%s: %s\n", what, buf);
    }
}


static double
now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1000000.0;
}


static void
sleep_ms(long ms)
{
    struct timespec  ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;

    while (nanosleep(&ts, &ts) == -1 && errno == EINTR) {
        /* void */
    }
}


/* reads more application data into the buffer: > 0, 0 on EOF, -1 */

static int
fill(peer_t *p)
{
    int            n, err;
    size_t         size;
    unsigned char  *nb;

    if (p->start == p->end) {
        p->start = 0;
        p->end = 0;
    }

    if (p->end == p->size) {
        if (p->start > 0) {
            memmove(p->buf, p->buf + p->start, p->end - p->start);
            p->end -= p->start;
            p->start = 0;

        } else {
            size = p->size ? p->size * 2 : 65536;

            if (size > MAX_PAYLOAD + 65536) {
                say(p, "input buffer overflow");
                return -1;
            }

            nb = realloc(p->buf, size);
            if (nb == NULL) {
                return -1;
            }

            p->buf = nb;
            p->size = size;
        }
    }

    ERR_clear_error();

    n = SSL_read(p->ssl, p->buf + p->end, (int) (p->size - p->end));

    if (n > 0) {
        p->end += n;
        return n;
    }

    err = SSL_get_error(p->ssl, n);

    if (err == SSL_ERROR_ZERO_RETURN) {
        return 0;
    }

    if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
        if (n == 0 || errno == ECONNRESET) {
            return 0;
        }
    }

    say(p, "SSL_read() failed: error %d, errno %d", err, errno);
    ssl_errors("SSL_read");

    return -1;
}


/* at least n bytes in the buffer: 1, 0 on EOF, -1 */

static int
need(peer_t *p, size_t n)
{
    int  rc;

    while (p->end - p->start < n) {
        rc = fill(p);
        if (rc <= 0) {
            return rc;
        }
    }

    return 1;
}


/* an HTTP head up to the empty line, NUL-terminated: its length, or -1 */

static int
read_head(peer_t *p, char *head, size_t size)
{
    size_t          i, len;
    unsigned char  *b;

    for ( ;; ) {
        b = p->buf + p->start;
        len = p->end - p->start;

        for (i = 0; i + 3 < len; i++) {
            if (memcmp(b + i, "\r\n\r\n", 4) == 0) {
                i += 4;

                if (i >= size) {
                    return -1;
                }

                memcpy(head, b, i);
                head[i] = '\0';
                p->start += i;

                return (int) i;
            }
        }

        if (len >= MAX_HEAD) {
            return -1;
        }

        if (fill(p) <= 0) {
            return -1;
        }
    }
}


static int
write_all(peer_t *p, const void *data, size_t len)
{
    int          n;
    const char  *d;

    d = data;

    while (len > 0) {
        ERR_clear_error();

        n = SSL_write(p->ssl, d, len > 1048576 ? 1048576 : (int) len);

        if (n <= 0) {
            say(p, "SSL_write() failed: error %d, errno %d",
                SSL_get_error(p->ssl, n), errno);
            ssl_errors("SSL_write");
            return -1;
        }

        d += n;
        len -= n;
    }

    return 0;
}


/* a frame, masked when the peer is the client */

static int
send_frame(peer_t *p, int fin, int opcode, const void *data, size_t len)
{
    int             rc;
    size_t          i, h;
    unsigned char  *f, key[4];

    f = malloc(len + 14);
    if (f == NULL) {
        return -1;
    }

    f[0] = (unsigned char) ((fin ? 0x80 : 0) | (opcode & 0x0f));
    h = 2;

    if (len < 126) {
        f[1] = (unsigned char) len;

    } else if (len < 65536) {
        f[1] = 126;
        f[2] = (unsigned char) (len >> 8);
        f[3] = (unsigned char) len;
        h = 4;

    } else {
        f[1] = 127;

        for (i = 0; i < 8; i++) {
            f[2 + i] = (unsigned char) ((unsigned long long) len
                                        >> (56 - 8 * i));
        }

        h = 10;
    }

    if (p->client) {
        f[1] |= 0x80;

        if (RAND_bytes(key, 4) != 1) {
            free(f);
            return -1;
        }

        memcpy(f + h, key, 4);
        h += 4;

        for (i = 0; i < len; i++) {
            f[h + i] = ((const unsigned char *) data)[i] ^ key[i & 3];
        }

    } else if (len) {
        memcpy(f + h, data, len);
    }

    rc = write_all(p, f, h + len);

    free(f);

    return rc;
}


static int
send_text(peer_t *p, const char *text)
{
    return send_frame(p, 1, OP_TEXT, text, strlen(text));
}


/* one frame, unmasked; the payload is malloc()ed: 1, 0 on EOF, -1 */

static int
read_frame(peer_t *p, frame_t *f)
{
    int                  rc, masked;
    size_t               i, h;
    unsigned char       *b, key[4];
    unsigned long long   len;

    rc = need(p, 2);
    if (rc <= 0) {
        return rc;
    }

    b = p->buf + p->start;
    f->fin = b[0] >> 7;
    f->opcode = b[0] & 0x0f;
    masked = b[1] >> 7;
    len = b[1] & 0x7f;
    h = 2;

    if (len == 126) {
        h = 4;

    } else if (len == 127) {
        h = 10;
    }

    if (masked) {
        h += 4;
    }

    rc = need(p, h);
    if (rc <= 0) {
        return rc ? rc : -1;
    }

    b = p->buf + p->start;

    if (len == 126) {
        len = ((size_t) b[2] << 8) | b[3];

    } else if (len == 127) {
        len = 0;

        for (i = 0; i < 8; i++) {
            len = (len << 8) | b[2 + i];
        }
    }

    if (len > MAX_PAYLOAD) {
        say(p, "frame of %llu bytes is too long", len);
        return -1;
    }

    if (masked) {
        memcpy(key, b + h - 4, 4);
    }

    rc = need(p, h + len);
    if (rc <= 0) {
        return rc ? rc : -1;
    }

    b = p->buf + p->start;

    f->len = len;
    f->payload = malloc(len + 1);
    if (f->payload == NULL) {
        return -1;
    }

    for (i = 0; i < len; i++) {
        f->payload[i] = masked ? b[h + i] ^ key[i & 3] : b[h + i];
    }

    f->payload[len] = '\0';
    p->start += h + len;

    return 1;
}


/*
 * The client's next message: a data message put together from its frames,
 * or a close; pings are answered on the way.  1, 0 on EOF, -1.
 */

static int
read_message(peer_t *p, message_t *m)
{
    int            rc;
    frame_t        f;
    unsigned char  *nd;

    m->opcode = -1;
    m->len = 0;
    m->data = NULL;

    for ( ;; ) {
        rc = read_frame(p, &f);
        if (rc <= 0) {
            free(m->data);
            m->data = NULL;
            return rc;
        }

        if (f.opcode == OP_PING) {
            rc = send_frame(p, 1, OP_PONG, f.payload, f.len);
            free(f.payload);

            if (rc != 0) {
                return -1;
            }

            continue;
        }

        if (f.opcode == OP_PONG) {
            free(f.payload);
            continue;
        }

        if (f.opcode == OP_CLOSE) {
            free(m->data);
            m->opcode = OP_CLOSE;
            m->len = f.len;
            m->data = f.payload;
            return 1;
        }

        if ((f.opcode == OP_CONT) != (m->opcode != -1)) {
            say(p, "unexpected frame with opcode %d", f.opcode);
            free(f.payload);
            free(m->data);
            m->data = NULL;
            return -1;
        }

        if (m->opcode == -1) {
            m->opcode = f.opcode;
        }

        nd = realloc(m->data, m->len + f.len + 1);
        if (nd == NULL) {
            free(f.payload);
            return -1;
        }

        m->data = nd;
        memcpy(m->data + m->len, f.payload, f.len);
        m->len += f.len;
        m->data[m->len] = '\0';
        free(f.payload);

        if (f.fin) {
            return 1;
        }
    }
}


/* counts the KeyUpdates and ClientHellos received */

static void
msg_callback(int write_p, int version, int content_type, const void *buf,
    size_t len, SSL *ssl, void *arg)
{
    peer_t  *p;

    (void) version;
    (void) ssl;

    p = arg;

    if (write_p || content_type != SSL3_RT_HANDSHAKE || len == 0) {
        return;
    }

    switch (((const unsigned char *) buf)[0]) {

    case SSL3_MT_KEY_UPDATE:
        p->updates_received++;
        break;

    case SSL3_MT_CLIENT_HELLO:
        p->hellos++;
        break;
    }
}


/*
 * A KeyUpdate asking the peer for one too, sent now.
 *
 * A peer that asks again while its last request is still unanswered can
 * trip OpenSSL 3.0: an SSL_read() that finds the second request while the
 * answer to the first waits behind a pending SSL_write() fails with "bad
 * length".  Where that may happen the callers ask again only once
 * updates_received caught up with updates_sent.
 */

static int
key_update(peer_t *p)
{
    p->updates_sent++;

    ERR_clear_error();

    if (SSL_key_update(p->ssl, SSL_KEY_UPDATE_REQUESTED) != 1) {
        say(p, "SSL_key_update() failed");
        ssl_errors("SSL_key_update");
        return -1;
    }

    if (SSL_do_handshake(p->ssl) != 1) {
        say(p, "SSL_do_handshake() after SSL_key_update() failed");
        ssl_errors("SSL_do_handshake");
        return -1;
    }

    return 0;
}


/* n NewSessionTickets, sent now */

static int
new_tickets(peer_t *p, int n)
{
    int  i;

    ERR_clear_error();

    for (i = 0; i < n; i++) {
        if (SSL_new_session_ticket(p->ssl) != 1) {
            say(p, "SSL_new_session_ticket() failed");
            ssl_errors("SSL_new_session_ticket");
            return -1;
        }
    }

    if (SSL_do_handshake(p->ssl) != 1) {
        say(p, "SSL_do_handshake() after SSL_new_session_ticket() failed");
        ssl_errors("SSL_do_handshake");
        return -1;
    }

    return 0;
}


/*
 * Counts the completed handshakes, the first one and renegotiations: those
 * with a ClientHello (sending a HelloRequest completes one too).
 */

static void
info_callback(const SSL *ssl, int where, int ret)
{
    peer_t  *p;

    (void) ret;

    if (!(where & SSL_CB_HANDSHAKE_DONE)) {
        return;
    }

    p = SSL_get_app_data(ssl);

    if (p == NULL || p->hellos == p->handshakes) {
        return;
    }

    p->handshakes = p->hellos;

    if (p->handshakes > 1) {
        say(p, "renegotiation %u done", p->handshakes - 1);
    }
}


/*
 * A HelloRequest, sent now: the client is to start a renegotiation.  The
 * text after it, if any, and what was written while TCP_CORK was on go in
 * the same segment: the client reads them at once.
 */

static int
hello_request(peer_t *p, const char *text)
{
    int  rc, on;

    on = 1;
    setsockopt(p->fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));

    rc = 0;

    ERR_clear_error();

    if (SSL_renegotiate(p->ssl) != 1) {
        say(p, "SSL_renegotiate() failed");
        ssl_errors("SSL_renegotiate");
        rc = -1;

    } else if (SSL_do_handshake(p->ssl) != 1) {
        say(p, "SSL_do_handshake() after SSL_renegotiate() failed");
        ssl_errors("SSL_do_handshake");
        rc = -1;

    } else if (text && send_text(p, text) != 0) {
        rc = -1;
    }

    on = 0;
    setsockopt(p->fd, IPPROTO_TCP, TCP_CORK, &on, sizeof(on));

    return rc;
}


/* --ticket-data: application data that makes every ticket long */

static int
ticket_generate(SSL *ssl, void *arg)
{
    static unsigned char  *data;

    (void) arg;

    if (ticket_data == 0) {
        return 1;
    }

    if (data == NULL) {
        data = malloc(ticket_data);
        if (data == NULL) {
            return 0;
        }

        pattern(data, ticket_data, 0);
    }

    return SSL_SESSION_set1_ticket_appdata(SSL_get0_session(ssl), data,
                                           ticket_data);
}


static SSL_TICKET_RETURN
ticket_decrypt(SSL *ssl, SSL_SESSION *sess, const unsigned char *name,
    size_t name_len, SSL_TICKET_STATUS status, void *arg)
{
    (void) ssl;
    (void) sess;
    (void) name;
    (void) name_len;
    (void) arg;

    /* as without the callback: a new ticket when none was usable */

    switch (status) {

    case SSL_TICKET_SUCCESS:
        return SSL_TICKET_RETURN_USE;

    case SSL_TICKET_SUCCESS_RENEW:
        return SSL_TICKET_RETURN_USE_RENEW;

    case SSL_TICKET_FATAL_ERR_MALLOC:
    case SSL_TICKET_FATAL_ERR_OTHER:
        return SSL_TICKET_RETURN_ABORT;

    default:
        return SSL_TICKET_RETURN_IGNORE_RENEW;
    }
}


/* the flood's bytes: byte i of the flood is i % 251 */

static void
pattern(unsigned char *buf, size_t len, size_t offset)
{
    size_t  i, v;

    v = offset % PATTERN;

    for (i = 0; i < len; i++) {
        buf[i] = (unsigned char) v;

        if (++v == PATTERN) {
            v = 0;
        }
    }
}


/* the value of a header line of an HTTP head (name case-insensitive) */

static int
header_value(const char *head, const char *name, char *value, size_t size)
{
    size_t       n, len;
    const char  *line, *end, *v;

    n = strlen(name);
    line = strstr(head, "\r\n");

    while (line != NULL) {
        line += 2;
        end = strstr(line, "\r\n");

        if (end == NULL || end == line) {
            return -1;
        }

        if ((size_t) (end - line) > n && line[n] == ':'
            && strncasecmp(line, name, n) == 0)
        {
            v = line + n + 1;

            while (v < end && (*v == ' ' || *v == '\t')) {
                v++;
            }

            len = end - v;

            while (len > 0 && (v[len - 1] == ' ' || v[len - 1] == '\t')) {
                len--;
            }

            if (len >= size) {
                return -1;
            }

            memcpy(value, v, len);
            value[len] = '\0';

            return 0;
        }

        line = end;
    }

    return -1;
}


/* base64(SHA1(key + GUID)), 28 characters and a NUL */

static void
ws_accept(const char *key, char *accept)
{
    char           buf[256];
    unsigned int   len;
    unsigned char  md[EVP_MAX_MD_SIZE];

    snprintf(buf, sizeof(buf), "%s%s", key, WS_GUID);

    if (EVP_Digest(buf, strlen(buf), md, &len, EVP_sha1(), NULL) != 1) {
        accept[0] = '\0';
        return;
    }

    EVP_EncodeBlock((unsigned char *) accept, md, (int) len);
}


/* ------------------------------------------------------------------ */
/* server */


static int
server_main(int argc, char **argv)
{
    int                  fd, s, one, tickets, tls12, rcvbuf, version;
    long                 id;
    pid_t                pid;
    SSL_CTX             *ctx;
    struct sockaddr_in   sin;

    tickets = 0;
    tls12 = 0;
    rcvbuf = 0;

    while (argc > 0 && strncmp(argv[0], "--", 2) == 0) {
        if (strcmp(argv[0], "--tls12") == 0) {
            tls12 = 1;
            argc--;
            argv++;
            continue;
        }

        if (argc > 1 && strcmp(argv[0], "--tickets") == 0) {
            tickets = atoi(argv[1]);
            argc -= 2;
            argv += 2;
            continue;
        }

        if (argc > 1 && strcmp(argv[0], "--ticket-data") == 0) {
            ticket_data = (size_t) atol(argv[1]);
            argc -= 2;
            argv += 2;
            continue;
        }

        if (argc > 1 && strcmp(argv[0], "--rcvbuf") == 0) {
            rcvbuf = atoi(argv[1]);
            argc -= 2;
            argv += 2;
            continue;
        }

        fprintf(stderr, "unknown option %s\n", argv[0]);
        return 2;
    }

    if (argc != 3 || (!tls12 && (ticket_data || rcvbuf))) {
        fprintf(stderr, "usage: %s server [--tickets N] [--tls12 "
                "[--ticket-data N] [--rcvbuf N]] PORT CERT KEY\n", prog);
        return 2;
    }

    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL) {
        ssl_errors("SSL_CTX_new");
        return 1;
    }

    version = tls12 ? TLS1_2_VERSION : TLS1_3_VERSION;

    SSL_CTX_set_min_proto_version(ctx, version);
    SSL_CTX_set_max_proto_version(ctx, version);
    SSL_CTX_clear_options(ctx, SSL_OP_NO_TICKET);

    if (tls12) {
        SSL_CTX_set_info_callback(ctx, info_callback);

        if (ticket_data
            && SSL_CTX_set_session_ticket_cb(ctx, ticket_generate,
                                             ticket_decrypt, NULL) != 1)
        {
            ssl_errors("SSL_CTX_set_session_ticket_cb");
            return 1;
        }
    }

    SSL_CTX_set_num_tickets(ctx, tickets);
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *) "tls_peer",
                                   8);

    if (SSL_CTX_use_certificate_chain_file(ctx, argv[1]) != 1
        || SSL_CTX_use_PrivateKey_file(ctx, argv[2], SSL_FILETYPE_PEM) != 1)
    {
        ssl_errors("certificate");
        return 1;
    }

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1) {
        perror("socket");
        return 1;
    }

    one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));

    /* before listen(): accepted sockets inherit it, and the window scale */

    if (rcvbuf > 0
        && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf))
           == -1)
    {
        perror("SO_RCVBUF");
        return 1;
    }

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short) atoi(argv[0]));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (bind(fd, (struct sockaddr *) &sin, sizeof(sin)) == -1
        || listen(fd, 128) == -1)
    {
        perror("bind");
        return 1;
    }

    signal(SIGCHLD, SIG_IGN);

    say(NULL, "listening on 127.0.0.1:%s, TLS 1.%d, %d tickets after the "
        "handshake, %zu bytes of ticket data", argv[0], tls12 ? 2 : 3,
        tickets, ticket_data);

    for (id = 1; /* void */; id++) {
        s = accept(fd, NULL, NULL);
        if (s == -1) {
            if (errno == EINTR || errno == ECONNABORTED) {
                id--;
                continue;
            }

            perror("accept");
            return 1;
        }

        pid = fork();

        if (pid == 0) {
            close(fd);
            server_conn(ctx, s, id);
            _exit(0);
        }

        if (pid == -1) {
            perror("fork");
        }

        close(s);
    }
}


static void
server_conn(SSL_CTX *ctx, int fd, long id)
{
    int        rc, one, later_what;
    long       hold;
    char       head[MAX_HEAD + 1], key[128], accept[64], resp[512];
    char       line[256], *at;
    double     later;
    peer_t     peer, *p;
    frame_t    f;
    struct pollfd  pfd;

    p = &peer;
    memset(p, 0, sizeof(peer_t));
    p->fd = fd;
    p->id = id;

    one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    p->ssl = SSL_new(ctx);
    if (p->ssl == NULL) {
        return;
    }

    SSL_set_fd(p->ssl, fd);
    SSL_set_app_data(p->ssl, p);
    SSL_set_msg_callback(p->ssl, msg_callback);
    SSL_set_msg_callback_arg(p->ssl, p);

    ERR_clear_error();

    if (SSL_accept(p->ssl) != 1) {
        say(p, "handshake failed");
        ssl_errors("SSL_accept");
        return;
    }

    say(p, "handshake %s resumed=%d", SSL_get_version(p->ssl),
        SSL_session_reused(p->ssl));

    if (read_head(p, head, sizeof(head)) < 0) {
        say(p, "no request head");
        return;
    }

    line[0] = '\0';
    sscanf(head, "%255[^\r\n]", line);

    if (header_value(head, "Sec-WebSocket-Key", key, sizeof(key)) != 0) {
        say(p, "no Sec-WebSocket-Key in \"%s\"", line);
        snprintf(resp, sizeof(resp), "HTTP/1.1 400 Bad Request\r\n"
                 "Content-Length: 0\r\nConnection: close\r\n\r\n");
        (void) write_all(p, resp, strlen(resp));
        return;
    }

    ws_accept(key, accept);

    snprintf(resp, sizeof(resp), "HTTP/1.1 101 Switching Protocols\r\n"
             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: %s\r\n\r\n", accept);

    at = strstr(line, "reneg-at-upgrade=");
    hold = at ? atol(at + 17) : 0;

    if (at) {
        /* the 101 and the HelloRequest go in one segment */
        one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_CORK, &one, sizeof(one));
    }

    if (write_all(p, resp, strlen(resp)) != 0) {
        return;
    }

    say(p, "upgraded: %s", line);

    if (at) {
        if (hello_request(p, NULL) != 0) {
            return;
        }

        say(p, "hello request sent with the 101, reading nothing for %ld "
            "ms", hold);

        sleep_ms(hold);
    }

    later = 0;
    later_what = 0;

    for ( ;; ) {

        if (later && p->start == p->end && SSL_pending(p->ssl) == 0) {
            pfd.fd = fd;
            pfd.events = POLLIN;
            pfd.revents = 0;

            rc = (int) (later - now_ms());
            rc = poll(&pfd, 1, rc > 0 ? rc : 0);

            if (rc == 0) {
                if (later_what == 't') {
                    if (new_tickets(p, 1) != 0) {
                        return;
                    }

                    say(p, "late ticket sent");

                } else {
                    if (key_update(p) != 0) {
                        return;
                    }

                    say(p, "late keyupdate sent");
                }

                later = 0;
                continue;
            }
        }

        rc = read_frame(p, &f);

        if (rc == 0) {
            say(p, "eof");
            return;
        }

        if (rc < 0) {
            say(p, "read error");
            return;
        }

        switch (f.opcode) {

        case OP_CLOSE:
            if (f.len >= 2) {
                say(p, "close %d", (f.payload[0] << 8) | f.payload[1]);

            } else {
                say(p, "close without code");
            }

            rc = send_frame(p, 1, OP_CLOSE, f.payload, f.len);
            free(f.payload);

            if (rc == 0) {
                (void) SSL_shutdown(p->ssl);
            }

            say(p, "closed");
            return;

        case OP_PING:
            rc = send_frame(p, 1, OP_PONG, f.payload, f.len);
            break;

        case OP_PONG:
            rc = 0;
            break;

        case OP_TEXT:
            if (f.fin) {
                rc = server_command(p, (char *) f.payload, &later,
                                    &later_what);
                if (rc != 1) {
                    break;
                }
            }

            /* fall through */

        default:
            rc = send_frame(p, f.fin, f.opcode, f.payload, f.len);
            break;
        }

        free(f.payload);

        if (rc != 0) {
            say(p, "write error");
            return;
        }
    }
}


/* 0 when the text was a command and is done, 1 to echo it, -1 */

static int
server_command(peer_t *p, const char *cmd, double *later, int *later_what)
{
    int     n;
    long    ms;
    char    reply[64];
    size_t  total;

    if (strcmp(cmd, "ticket") == 0 || sscanf(cmd, "ticket %d", &n) == 1) {
        if (strcmp(cmd, "ticket") == 0) {
            n = 1;
        }

        if (n < 1 || n > 16 || new_tickets(p, n) != 0) {
            return -1;
        }

        say(p, "%d ticket%s sent", n, n == 1 ? "" : "s");

        return send_text(p, "ticket-sent");
    }

    if (sscanf(cmd, "ticket-later %ld", &ms) == 1
        || sscanf(cmd, "keyupdate-later %ld", &ms) == 1)
    {
        *later = now_ms() + ms;
        *later_what = cmd[0];

        say(p, "%s in %ld ms", cmd[0] == 't' ? "ticket" : "keyupdate", ms);

        return send_text(p, cmd[0] == 't' ? "ticket-later"
                                          : "keyupdate-later");
    }

    if (strcmp(cmd, "keyupdate") == 0) {
        if (key_update(p) != 0) {
            return -1;
        }

        say(p, "keyupdate sent");

        return send_text(p, "keyupdate-sent");
    }

    if (sscanf(cmd, "flood %zu", &total) == 1) {
        return server_flood(p, total);
    }

    if (sscanf(cmd, "stall %ld", &ms) == 1) {
        return server_stall(p, ms);
    }

    if (sscanf(cmd, "slowread %ld", &ms) == 1) {
        return server_slowread(p, ms);
    }

    if (strcmp(cmd, "resumed?") == 0) {
        snprintf(reply, sizeof(reply), "resumed %d",
                 SSL_session_reused(p->ssl));
        say(p, "%s", reply);

        return send_text(p, reply);
    }

    if (strcmp(cmd, "reneg") == 0) {
        if (hello_request(p, "reneg-sent") != 0) {
            return -1;
        }

        say(p, "hello request sent");

        return 0;
    }

    if (sscanf(cmd, "reneg-hold %ld", &ms) == 1) {
        if (hello_request(p, "reneg-hold") != 0) {
            return -1;
        }

        say(p, "hello request sent, reading nothing for %ld ms", ms);

        sleep_ms(ms);

        say(p, "reading again");

        return 0;
    }

    if (strncmp(cmd, "hold ", 5) == 0) {
        return server_hold(p, cmd + 5);
    }

    if (strcmp(cmd, "renegotiations?") == 0) {
        snprintf(reply, sizeof(reply), "renegotiations %u",
                 p->handshakes ? p->handshakes - 1 : 0);
        say(p, "%s", reply);

        return send_text(p, reply);
    }

    return 1;
}


static int
server_flood(peer_t *p, size_t total)
{
    int             updated;
    size_t          sent, n;
    unsigned char  *buf;

    buf = malloc(FLOOD_FRAME);
    if (buf == NULL) {
        return -1;
    }

    say(p, "flood of %zu bytes", total);

    updated = 0;

    for (sent = 0; sent < total; sent += n) {

        if (!updated && sent >= total / 2) {
            if (key_update(p) != 0) {
                free(buf);
                return -1;
            }

            updated = 1;
            say(p, "keyupdate sent after %zu bytes of the flood", sent);
        }

        n = total - sent < FLOOD_FRAME ? total - sent : FLOOD_FRAME;
        pattern(buf, n, sent);

        if (send_frame(p, 1, OP_BINARY, buf, n) != 0) {
            free(buf);
            return -1;
        }
    }

    free(buf);

    say(p, "flood done");

    return send_text(p, "flood-done");
}


static int
server_stall(peer_t *p, long ms)
{
    int     ticks;
    double  end;

    if (send_text(p, "stalling") != 0) {
        return -1;
    }

    say(p, "stalling for %ld ms", ms);

    end = now_ms() + ms;

    sleep_ms(ms / 2);

    if (key_update(p) != 0) {
        return -1;
    }

    say(p, "keyupdate sent while stalled");

    for (ticks = 0; now_ms() < end; ticks++) {
        if (send_text(p, "stall-tick") != 0) {
            return -1;
        }

        sleep_ms(20);
    }

    say(p, "stall over, %d ticks", ticks);

    return send_text(p, "stall-over");
}


/*
 * A slow reader that keeps asking for KeyUpdates: the peer's answer is
 * due while its socket toward us is nearly full.
 */

static int
server_slowread(peer_t *p, long frames)
{
    int      rc, ticks, updates;
    frame_t  f;

    if (send_text(p, "slowreading") != 0) {
        return -1;
    }

    say(p, "reading %ld frames slowly", frames);

    updates = 0;

    for (ticks = 0; ticks < frames; ticks++) {
        sleep_ms(3);

        if (p->updates_received >= p->updates_sent) {
            if (key_update(p) != 0) {
                return -1;
            }

            updates++;
        }

        if (send_text(p, "slow-tick") != 0) {
            return -1;
        }

        rc = read_frame(p, &f);
        if (rc <= 0) {
            return -1;
        }

        if (f.opcode != OP_BINARY && f.opcode != OP_CONT) {
            say(p, "opcode %d while reading slowly", f.opcode);
            free(f.payload);
            return -1;
        }

        rc = send_frame(p, f.fin, f.opcode, f.payload, f.len);
        free(f.payload);

        if (rc != 0) {
            return -1;
        }
    }

    say(p, "slow reading over, %d ticks, %d KeyUpdates", ticks, updates);

    return send_text(p, "slow-over");
}


/*
 * Reads nothing until PATH.go exists, with a HelloRequest when PATH.reneg
 * appears; then takes data frames without an echo up to "hold-end".
 */

static int
server_hold(peer_t *p, const char *path)
{
    int            rc, reneg;
    char           reply[192], hex[2 * EVP_MAX_MD_SIZE + 1];
    double         end;
    size_t         frames, bytes;
    frame_t        f;
    EVP_MD_CTX    *md;
    unsigned int   i, len;
    unsigned char  digest[EVP_MAX_MD_SIZE];

    if (strlen(path) > PATH_MAX - 8) {
        return -1;
    }

    if (send_text(p, "holding") != 0) {
        return -1;
    }

    say(p, "holding until %s.go", path);

    end = now_ms() + 60000;
    reneg = 0;

    while (!file_exists(path, ".go")) {

        if (!reneg && file_exists(path, ".reneg")) {
            if (hello_request(p, "hello-request-sent") != 0) {
                return -1;
            }

            reneg = 1;
            say(p, "hello request sent while holding");
        }

        if (now_ms() > end) {
            say(p, "no %s.go in 60 s", path);
            return -1;
        }

        sleep_ms(5);
    }

    say(p, "hold over, reading");

    md = EVP_MD_CTX_new();
    if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
        EVP_MD_CTX_free(md);
        return -1;
    }

    frames = 0;
    bytes = 0;

    for ( ;; ) {
        rc = read_frame(p, &f);
        if (rc <= 0) {
            EVP_MD_CTX_free(md);
            return -1;
        }

        if (f.opcode == OP_BINARY || f.opcode == OP_CONT) {
            EVP_DigestUpdate(md, f.payload, f.len);
            frames++;
            bytes += f.len;
            free(f.payload);
            continue;
        }

        if (f.opcode == OP_TEXT && strcmp((char *) f.payload, "hold-end") == 0)
        {
            free(f.payload);
            break;
        }

        say(p, "opcode %d while holding", f.opcode);
        free(f.payload);
        EVP_MD_CTX_free(md);

        return -1;
    }

    rc = EVP_DigestFinal_ex(md, digest, &len);
    EVP_MD_CTX_free(md);

    if (rc != 1) {
        return -1;
    }

    for (i = 0; i < len; i++) {
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    }

    snprintf(reply, sizeof(reply), "held %zu %s", bytes, hex);
    say(p, "%s in %zu frames", reply, frames);

    return send_text(p, reply);
}


static int
file_exists(const char *path, const char *suffix)
{
    char         name[PATH_MAX];
    struct stat  st;

    snprintf(name, sizeof(name), "%s%s", path, suffix);

    return stat(name, &st) == 0;
}


/* ------------------------------------------------------------------ */
/* client */


static int
client_main(int argc, char **argv)
{
    int                  fd, one, i, version;
    char                 req[1024], head[MAX_HEAD + 1], key[32];
    char                 accept[64], got[128];
    const char          *sni, *path;
    peer_t               peer, *p;
    SSL_CTX             *ctx;
    unsigned char        raw[16];
    struct sockaddr_in   sin;

    sni = "localhost";
    version = TLS1_3_VERSION;

    while (argc > 0 && strncmp(argv[0], "--", 2) == 0) {
        if (strcmp(argv[0], "--tls12") == 0) {
            version = TLS1_2_VERSION;
            argc--;
            argv++;
            continue;
        }

        if (strcmp(argv[0], "--sni") == 0 && argc > 1) {
            sni = argv[1];
            argc -= 2;
            argv += 2;
            continue;
        }

        fprintf(stderr, "unknown option %s\n", argv[0]);
        return 2;
    }

    if (argc < 2) {
        fprintf(stderr, "usage: %s client [--sni NAME] [--tls12] PORT "
                "PATH COMMAND...\n", prog);
        return 2;
    }

    path = argv[1];

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        ssl_errors("SSL_CTX_new");
        return 1;
    }

    SSL_CTX_set_min_proto_version(ctx, version);
    SSL_CTX_set_max_proto_version(ctx, version);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);

    p = &peer;
    memset(p, 0, sizeof(peer_t));
    p->client = 1;
    p->id = (long) getpid();

    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd == -1) {
        fail("socket: %s", strerror(errno));
        return 1;
    }

    one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short) atoi(argv[0]));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) == -1) {
        fail("connect: %s", strerror(errno));
        return 1;
    }

    p->fd = fd;
    p->ssl = SSL_new(ctx);
    if (p->ssl == NULL) {
        return 1;
    }

    SSL_set_fd(p->ssl, fd);
    SSL_set_tlsext_host_name(p->ssl, sni);
    SSL_set_msg_callback(p->ssl, msg_callback);
    SSL_set_msg_callback_arg(p->ssl, p);

    ERR_clear_error();

    if (SSL_connect(p->ssl) != 1) {
        ssl_errors("SSL_connect");
        fail("TLS handshake failed");
        return 1;
    }

    out("connected %s", SSL_get_version(p->ssl));

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        return 1;
    }

    EVP_EncodeBlock((unsigned char *) key, raw, sizeof(raw));

    snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: localhost\r\n"
             "Upgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
             path, key);

    if (write_all(p, req, strlen(req)) != 0) {
        fail("request not sent");
        return 1;
    }

    if (read_head(p, head, sizeof(head)) < 0) {
        fail("no response head");
        return 1;
    }

    if (strncmp(head, "HTTP/1.1 101 ", 13) != 0) {
        fail("no 101: %.40s", head);
        return 1;
    }

    ws_accept(key, accept);

    if (header_value(head, "Sec-WebSocket-Accept", got, sizeof(got)) != 0
        || strcmp(got, accept) != 0)
    {
        fail("wrong Sec-WebSocket-Accept");
        return 1;
    }

    out("upgraded");

    for (i = 2; i < argc; i++) {
        if (client_command(p, argv[i]) != 0) {
            fail("command \"%s\" failed", argv[i]);
            return 1;
        }
    }

    out("done");

    return 0;
}


static int
client_command(peer_t *p, const char *cmd)
{
    int             rc;
    long            ms;
    size_t          n, i;
    message_t       m;
    unsigned char  *buf;

    if (strncmp(cmd, "send:", 5) == 0) {
        return send_text(p, cmd + 5);
    }

    if (strncmp(cmd, "expect:", 7) == 0) {
        return client_expect(p, cmd + 7);
    }

    if (strncmp(cmd, "echo:", 5) == 0) {
        if (send_text(p, cmd + 5) != 0) {
            return -1;
        }

        return client_expect(p, cmd + 5);
    }

    if (strcmp(cmd, "ticket") == 0) {
        if (send_text(p, "ticket") != 0) {
            return -1;
        }

        return client_expect(p, "ticket-sent");
    }

    if (strcmp(cmd, "keyupdate") == 0) {
        if (key_update(p) != 0) {
            return -1;
        }

        out("keyupdate");

        return 0;
    }

    if (strcmp(cmd, "resumed") == 0) {
        if (send_text(p, "resumed?") != 0) {
            return -1;
        }

        if (read_message(p, &m) != 1) {
            return -1;
        }

        rc = (m.opcode == OP_TEXT && strncmp((char *) m.data, "resumed ", 8)
              == 0) ? 0 : -1;

        if (rc == 0) {
            out("text %s", m.data);
        }

        free(m.data);

        return rc;
    }

    if (sscanf(cmd, "sleep:%ld", &ms) == 1) {
        sleep_ms(ms);
        return 0;
    }

    if (sscanf(cmd, "bin:%zu", &n) == 1) {
        if (n > MAX_PAYLOAD) {
            return -1;
        }

        buf = malloc(n + 1);
        if (buf == NULL) {
            return -1;
        }

        for (i = 0; i < n; i++) {
            buf[i] = (unsigned char) ((i * 131 + (i >> 8)) & 0xff);
        }

        if (send_frame(p, 1, OP_BINARY, buf, n) != 0
            || read_message(p, &m) != 1)
        {
            free(buf);
            return -1;
        }

        rc = (m.opcode == OP_BINARY && m.len == n
              && (n == 0 || memcmp(m.data, buf, n) == 0)) ? 0 : -1;

        if (rc == 0) {
            out("binary %zu", n);

        } else {
            fail("binary echo differs: opcode %d, %zu bytes", m.opcode,
                 m.len);
        }

        free(buf);
        free(m.data);

        return rc;
    }

    if (sscanf(cmd, "flood:%zu", &n) == 1) {
        return client_flood(p, n);
    }

    if (strcmp(cmd, "reneg") == 0) {
        return client_reneg(p);
    }

    if (strcmp(cmd, "tcp-eof") == 0) {
        return client_tcp_eof(p);
    }

    if (strcmp(cmd, "close") == 0) {
        if (send_frame(p, 1, OP_CLOSE, "\x03\xe8" "bye", 5) != 0) {
            return -1;
        }

        if (read_message(p, &m) != 1 || m.opcode != OP_CLOSE || m.len < 2) {
            free(m.data);
            fail("no close frame back");
            return -1;
        }

        out("close %d", (m.data[0] << 8) | m.data[1]);
        free(m.data);

        if (need(p, p->end - p->start + 1) != 0) {
            fail("data after the close frame");
            return -1;
        }

        out("eof");

        return 0;
    }

    fail("unknown command");

    return -1;
}


static int
client_expect(peer_t *p, const char *text)
{
    message_t  m;

    if (read_message(p, &m) != 1) {
        fail("no message (expected \"%s\")", text);
        return -1;
    }

    if (m.opcode == OP_CLOSE) {
        fail("close %d (expected \"%s\")",
             m.len >= 2 ? (m.data[0] << 8) | m.data[1] : 0, text);
        free(m.data);
        return -1;
    }

    if (m.opcode != OP_TEXT || strcmp((char *) m.data, text) != 0) {
        fail("got opcode %d \"%.60s\" (expected \"%s\")", m.opcode,
             m.data ? (char *) m.data : "", text);
        free(m.data);
        return -1;
    }

    out("text %s", m.data);
    free(m.data);

    return 0;
}


static int
client_flood(peer_t *p, size_t total)
{
    int             i, reads, updates;
    char            cmd[64], text[32];
    size_t          got, since;
    message_t       m;
    unsigned char  *exp;

    snprintf(cmd, sizeof(cmd), "flood %zu", total);

    if (send_text(p, cmd) != 0) {
        return -1;
    }

    /* the socket from nginx fills while nothing is read */

    sleep_ms(300);

    if (key_update(p) != 0) {
        return -1;
    }

    out("keyupdate during the flood");
    updates = 1;

    for (i = 1; i <= 3; i++) {
        snprintf(text, sizeof(text), "during-flood-%d", i);

        if (send_text(p, text) != 0) {
            return -1;
        }

        sleep_ms(50);
    }

    sleep_ms(200);

    got = 0;
    since = 0;
    reads = 0;

    for ( ;; ) {
        if (read_message(p, &m) != 1) {
            fail("flood: no message after %zu bytes", got);
            return -1;
        }

        if (m.opcode == OP_TEXT && strcmp((char *) m.data, "flood-done") == 0)
        {
            free(m.data);
            break;
        }

        if (m.opcode != OP_BINARY || got + m.len > total) {
            fail("flood: opcode %d, %zu bytes after %zu", m.opcode, m.len,
                 got);
            free(m.data);
            return -1;
        }

        exp = malloc(m.len + 1);
        if (exp == NULL) {
            free(m.data);
            return -1;
        }

        pattern(exp, m.len, got);

        if (memcmp(exp, m.data, m.len) != 0) {
            fail("flood: wrong bytes in %zu bytes after %zu", m.len, got);
            free(exp);
            free(m.data);
            return -1;
        }

        free(exp);
        free(m.data);

        got += m.len;
        since += m.len;

        /*
         * a slow reader, asking for KeyUpdates while nginx's socket is
         * full, once the last one was answered
         */

        if (since >= 524288) {
            since = 0;
            sleep_ms(5);

            if (p->updates_received >= p->updates_sent) {
                if (key_update(p) != 0) {
                    return -1;
                }

                updates++;
            }

            snprintf(text, sizeof(text), "during-read-%d", ++reads);

            if (send_text(p, text) != 0) {
                return -1;
            }
        }
    }

    if (got != total) {
        fail("flood: %zu bytes, expected %zu", got, total);
        return -1;
    }

    out("flood %zu bytes, %d KeyUpdates", got, updates);

    for (i = 1; i <= 3; i++) {
        snprintf(text, sizeof(text), "during-flood-%d", i);

        if (client_expect(p, text) != 0) {
            return -1;
        }
    }

    for (i = 1; i <= reads; i++) {
        snprintf(text, sizeof(text), "during-read-%d", i);

        if (read_message(p, &m) != 1 || m.opcode != OP_TEXT
            || strcmp((char *) m.data, text) != 0)
        {
            fail("flood: no \"%s\" back", text);
            free(m.data);
            return -1;
        }

        free(m.data);
    }

    out("flood: %d texts back", 3 + reads);

    return 0;
}


/* a renegotiation of our own: done or refused are both an outcome */

static int
client_reneg(peer_t *p)
{
    int            n;
    unsigned long  e;
    const char    *reason;

    ERR_clear_error();

    if (SSL_renegotiate(p->ssl) != 1) {
        fail("SSL_renegotiate() failed");
        ssl_errors("SSL_renegotiate");
        return -1;
    }

    n = SSL_do_handshake(p->ssl);

    if (n == 1) {
        out("renegotiation done");
        return 0;
    }

    e = ERR_peek_error();
    reason = e ? ERR_reason_error_string(e) : NULL;

    if (reason == NULL) {
        fail("renegotiation failed: error %d, errno %d",
             SSL_get_error(p->ssl, n), errno);
        return -1;
    }

    out("renegotiation refused: %s", reason);
    ssl_errors("SSL_do_handshake");

    return 0;
}


/* the peer closes the TCP connection: whatever came before is dropped */

static int
client_tcp_eof(peer_t *p)
{
    int            n;
    double         end;
    unsigned char  buf[4096];
    struct pollfd  pfd;

    end = now_ms() + 10000;

    for ( ;; ) {
        pfd.fd = p->fd;
        pfd.events = POLLIN;
        pfd.revents = 0;

        n = (int) (end - now_ms());

        if (n <= 0 || poll(&pfd, 1, n) == 0) {
            fail("the connection is still open after 10 s");
            return -1;
        }

        n = recv(p->fd, buf, sizeof(buf), 0);

        if (n == 0) {
            out("tcp eof");
            return 0;
        }

        if (n == -1 && errno == ECONNRESET) {
            out("tcp reset");
            return 0;
        }

        if (n == -1 && errno != EINTR && errno != EAGAIN) {
            fail("recv: %s", strerror(errno));
            return -1;
        }
    }
}
