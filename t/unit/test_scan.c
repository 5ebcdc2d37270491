
/*
 * Copyright (C) the ngx_ws authors
 *
 * Unit tests of the relay scanner, ws_scan().  A small relay model feeds
 * a stream into a buffer in pieces, as a socket would, calls ws_scan()
 * after every receive and every send, "sends" [pos, fwd) into an output
 * array and resets the buffer when it is empty.  The output is then
 * decoded by an independent decoder and compared with the input: frames
 * come out byte for byte, except text frames that did not fit in the
 * buffer, which come out re-fragmented (RFC 6455 5.4) with the same
 * payload bytes.
 *
 * Build and run (from the repository root):
 *
 *   cc -std=c99 -Wall -Wextra -Werror -O2 -I ngx_ws_module -I t/unit \
 *       -o test_scan t/unit/test_scan.c ngx_ws_module/ws_frame.c \
 *       ngx_ws_module/ws_utf8.c ngx_ws_module/ws_handshake.c && ./test_scan
 *
 * or "make unit", which also builds it with -fsanitize=address,undefined.
 * The last line printed is "N passed, M failed"; the exit status is 1 on
 * any failure.
 */


#include "unit.h"
#include "ws_core.h"


#define RC_NONE  (-1)


/* a growing byte array */

typedef struct {
    unsigned char  *data;
    size_t          len;
    size_t          cap;
} bytes_t;


static void
bytes_put(bytes_t *b, const void *data, size_t n)
{
    size_t  cap;

    if (b->len + n > b->cap) {
        cap = b->cap ? b->cap : 256;

        while (cap < b->len + n) {
            cap *= 2;
        }

        b->data = realloc(b->data, cap);
        if (b->data == NULL) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }

        b->cap = cap;
    }

    if (n) {
        memcpy(b->data + b->len, data, n);
    }

    b->len += n;
}


static void
bytes_free(bytes_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}


/* ---------------------------------------------------------- stream builder */


static int  build_client = 1;    /* frames are masked */


/*
 * Appends one frame.  b0 is the first header byte (FIN, RSV, opcode);
 * lenform: 0 minimal length encoding, 2 or 8 forces 16 or 64 bits;
 * masked: -1 as the direction wants, 0 or 1 forced.
 */

static void
put_frame_ex(bytes_t *s, unsigned b0, int masked, const void *payload,
    size_t len, int lenform, const unsigned char *key)
{
    size_t                i, n;
    unsigned char         h[WS_MAX_HEADER], k[4], c;
    const unsigned char  *pl;

    if (masked < 0) {
        masked = build_client;
    }

    h[0] = (unsigned char) b0;
    n = 2;

    if (lenform == 0) {
        lenform = (len < 126) ? 0 : (len < 65536) ? 2 : 8;
    }

    if (lenform == 0) {
        h[1] = (unsigned char) len;

    } else if (lenform == 2) {
        h[1] = 126;
        h[2] = (unsigned char) (len >> 8);
        h[3] = (unsigned char) len;
        n = 4;

    } else {
        h[1] = 127;

        for (i = 0; i < 8; i++) {
            h[2 + i] = (unsigned char) ((uint64_t) len >> (56 - 8 * i));
        }

        n = 10;
    }

    if (masked) {
        h[1] |= 0x80;

        if (key) {
            memcpy(k, key, 4);

        } else {
            k[0] = (unsigned char) unit_rand();
            k[1] = (unsigned char) unit_rand();
            k[2] = (unsigned char) unit_rand();
            k[3] = (unsigned char) unit_rand();
        }

        memcpy(h + n, k, 4);
        n += 4;
    }

    bytes_put(s, h, n);

    pl = payload;

    for (i = 0; i < len; i++) {
        c = pl ? pl[i] : (unsigned char) ('a' + i % 26);
        if (masked) {
            c ^= k[i & 3];
        }
        bytes_put(s, &c, 1);
    }
}


static void
put_frame(bytes_t *s, unsigned fin, unsigned op, const void *payload,
    size_t len)
{
    put_frame_ex(s, (fin ? 0x80 : 0) | op, -1, payload, len, 0, NULL);
}


static void
put_str(bytes_t *s, unsigned fin, unsigned op, const char *str)
{
    put_frame(s, fin, op, str, strlen(str));
}


static void
put_close(bytes_t *s, unsigned code, const char *reason)
{
    unsigned char  pl[WS_MAX_CONTROL_PAYLOAD];
    size_t         n;

    pl[0] = (unsigned char) (code >> 8);
    pl[1] = (unsigned char) code;
    n = strlen(reason);
    memcpy(pl + 2, reason, n);

    put_frame(s, 1, WS_OP_CLOSE, pl, n + 2);
}


/* ---------------------------------------------------------- frame decoder */


typedef struct {
    size_t         off;        /* of the frame in its stream */
    size_t         hdr_len;
    size_t         size;       /* header and payload */
    unsigned       fin;
    unsigned       rsv;
    unsigned       opcode;
    unsigned       masked;
    int            minimal;    /* length minimally encoded */
    unsigned char  key[4];
    uint64_t       len;
} dframe_t;


/* 1: a complete frame at d[off..n); 0: incomplete */

static int
decode_frame(const unsigned char *d, size_t n, size_t off, dframe_t *f)
{
    size_t    h, i;
    uint64_t  len;

    memset(f, 0, sizeof(dframe_t));
    f->off = off;

    if (n - off < 2) {
        return 0;
    }

    f->fin = d[off] >> 7;
    f->rsv = (d[off] >> 4) & 7;
    f->opcode = d[off] & 0x0f;
    f->masked = d[off + 1] >> 7;

    len = d[off + 1] & 0x7f;
    h = 2;
    f->minimal = 1;

    if (len == 126) {
        if (n - off < 4) {
            return 0;
        }

        len = (uint64_t) d[off + 2] << 8 | d[off + 3];
        h = 4;
        f->minimal = len >= 126;

    } else if (len == 127) {
        if (n - off < 10) {
            return 0;
        }

        len = 0;

        for (i = 0; i < 8; i++) {
            len = len << 8 | d[off + 2 + i];
        }

        h = 10;
        f->minimal = len >= 65536;
    }

    if (f->masked) {
        if (n - off < h + 4) {
            return 0;
        }

        memcpy(f->key, d + off + h, 4);
        h += 4;
    }

    f->hdr_len = h;
    f->len = len;

    if ((uint64_t) (n - off - h) < len) {
        return 0;
    }

    f->size = h + (size_t) len;

    return 1;
}


/* splits a stream into frames; returns the count, *rest: bytes left over */

static size_t
decode_stream(const unsigned char *d, size_t n, dframe_t *frames,
    size_t max, size_t *rest)
{
    size_t  off, count;

    off = 0;
    count = 0;

    while (off < n && count < max && decode_frame(d, n, off, &frames[count]))
    {
        off += frames[count].size;
        count++;
    }

    *rest = n - off;

    return count;
}


/* whole frames in an output stream */

static uint64_t
count_frames(const bytes_t *out)
{
    size_t    off;
    uint64_t  n;
    dframe_t  f;

    off = 0;
    n = 0;

    while (off < out->len && decode_frame(out->data, out->len, off, &f)) {
        off += f.size;
        n++;
    }

    return n;
}


/* ---------------------------------------------------------- relay model */


typedef struct {
    int            from_client;
    int            validate_utf8;
    uint64_t       max_frame;
    uint64_t       max_message;
    size_t         bufsize;

    /* pieces: cut at multiples of "step", or at "cuts", or random */
    size_t         step;
    const size_t  *cuts;
    size_t         ncuts;
    size_t         rand_max;      /* random pieces of 1..rand_max */
    uint64_t       rand_seed;

    /*
     * once this much input was read, the relay calls ws_stop() (it wants
     * to inject a frame) or ws_discard_output() (the destination is gone)
     */
    int            stop_on;
    size_t         stop_at;
    int            drop_on;
    size_t         drop_at;

    /* a check at every step: ws_at_boundary() */
    int            boundary_check;

    /* sends of at most this much (random sizes), as a busy socket; 0: all */
    size_t         send_max;

    /*
     * the relay queues a frame of its own (a ping) whenever this much more
     * input was read: ws_pause(), the ping written where ws_at_boundary()
     * says, ws_resume(); 0: none
     */
    size_t         ping_every;

    /* a message gate: max_messages starts at, and is raised by, this */
    uint64_t       msg_step;

    /* the payload of a ping of the relay's own whose pong is awaited */
    const unsigned char  *pong;
} relay_cfg_t;


typedef struct {
    int            rc;            /* the first result other than OK */
    int            last_rc;       /* the last one */
    unsigned       nrc;           /* how many */
    int            discard;       /* p->state is WS_ST_DISCARD at the end */
    unsigned       final_error_code;
    unsigned       final_close_code;
    const char    *final_error;
    unsigned       error_code;
    unsigned       close_code;
    const char    *error;
    uint64_t       frames;
    uint64_t       forwarded;
    size_t         out_at_rc;     /* output + cleared bytes at rc */
    size_t         in_at_rc;      /* input read at rc */
    size_t         fed;
    int            stuck;
    int            broken;        /* an invariant failed */
    int            not_empty;     /* bytes left unsent at the end */
    int            boundary;      /* ws_at_boundary() at the end */
    int            can_inject;    /* ws_can_inject() at the end */
    int            stopped;       /* ws_stop() or discard was called */
    int            boundary_bad;  /* ws_at_boundary() said 1 mid-frame */
    unsigned       pings;         /* the relay's pings written */
    unsigned       gates;         /* times the message gate held */
    int            pong_seen;
    char           why[256];
    unsigned char  reason[WS_MAX_CONTROL_PAYLOAD];
    size_t         reason_len;    /* ws_close_reason() right after rc */
    bytes_t        out;
} relay_res_t;


static int
relay_invariants(ws_buf_t *b, unsigned char *mem, relay_res_t *r,
    const char *when)
{
    if (!(mem <= b->pos && b->pos <= b->fwd && b->fwd <= b->scan
          && b->scan <= b->last && b->last <= b->end
          && b->start <= b->hold && b->hold <= b->scan))
    {
        if (!r->broken) {
            snprintf(r->why, sizeof(r->why),
                     "%s: pos %ld fwd %ld scan %ld last %ld end %ld hold %ld",
                     when, (long) (b->pos - b->start),
                     (long) (b->fwd - b->start), (long) (b->scan - b->start),
                     (long) (b->last - b->start), (long) (b->end - b->start),
                     (long) (b->hold - b->start));
        }

        r->broken = 1;
        return 0;
    }

    return 1;
}


static size_t
relay_next_cut(relay_cfg_t *cfg, size_t i, size_t n, uint64_t *rs)
{
    size_t    k;
    uint64_t  x;

    if (cfg->step) {
        return (i / cfg->step + 1) * cfg->step;
    }

    if (cfg->cuts) {
        for (k = 0; k < cfg->ncuts; k++) {
            if (cfg->cuts[k] > i) {
                return cfg->cuts[k];
            }
        }

        return n;
    }

    if (cfg->rand_max) {
        x = *rs;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        *rs = x;

        return i + 1 + (size_t) ((x * 0x2545f4914f6cdd1dULL) >> 33)
                       % cfg->rand_max;
    }

    return n;
}


static void
relay_note_rc(ws_parser_t *p, ws_buf_t *b, relay_res_t *r, int rc)
{
    if (rc != WS_SCAN_OK) {
        r->last_rc = rc;
        r->nrc++;
    }

    if (p->state == WS_ST_DISCARD && b->last != b->fwd) {
        r->broken = 1;
        snprintf(r->why, sizeof(r->why), "discarding, but last != fwd");
    }

    if (rc == WS_SCAN_OK || r->rc != RC_NONE) {
        return;
    }

    r->rc = rc;

    if (rc == WS_SCAN_CLOSE) {
        /* as the relay does: before the buffer is touched again */
        r->reason_len = ws_close_reason(p, r->reason);
    }

    r->in_at_rc = r->fed;
    r->error_code = p->error_code;
    r->close_code = p->close_code;
    r->error = p->error;
    r->out_at_rc = r->out.len + (size_t) (b->fwd - b->pos);
}


/*
 * Runs a stream through the scanner as the relay does.  Returns 1 unless
 * the model itself failed (out of memory).
 */

static void
relay_run(relay_cfg_t *cfg, const unsigned char *in, size_t n,
    relay_res_t *r)
{
    int             rc, iter_rc, at_boundary, paused;
    size_t          i, cut, k, free_, limit, iter, sent, next_ping, off;
    uint64_t        rs, begun, msgs;
    unsigned char  *mem, *s_pos, *s_fwd, *s_scan, *s_last;
    ws_buf_t        b;
    ws_parser_t     p;
    dframe_t        f;

    memset(r, 0, sizeof(relay_res_t));
    r->rc = RC_NONE;

    mem = malloc(WS_HEADROOM + cfg->bufsize);
    if (mem == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }

    b.start = mem + WS_HEADROOM;
    b.end = b.start + cfg->bufsize;
    ws_buf_reset(&b);

    ws_parser_init(&p, cfg->from_client, cfg->validate_utf8, cfg->max_frame,
                   cfg->max_message);

    p.max_messages = cfg->msg_step;
    p.limited = (cfg->msg_step != 0);

    if (cfg->pong) {
        ws_expect_pong(&p, cfg->pong);
    }

    i = 0;
    rs = cfg->rand_seed | 1;
    cut = relay_next_cut(cfg, 0, n, &rs);
    limit = 8 * n + 1000;
    paused = 0;
    begun = 0;
    next_ping = cfg->ping_every;

    for (iter = 0; iter < limit; iter++) {

        s_pos = b.pos;
        s_fwd = b.fwd;
        s_scan = b.scan;
        s_last = b.last;
        k = 0;

        /* receive */

        if (cfg->stop_on && i >= cfg->stop_at) {
            ws_stop(&p);
            cfg->stop_on = 0;
            r->stopped = 1;
        }

        if (cfg->drop_on && i >= cfg->drop_at) {
            ws_discard_output(&p, &b);
            cfg->drop_on = 0;
            r->stopped = 1;
        }

        if (i < n && b.last < b.end) {
            while (cut <= i) {
                cut = relay_next_cut(cfg, i, n, &rs);
            }

            k = (cut < n ? cut : n) - i;
            free_ = (size_t) (b.end - b.last);

            if (k > free_) {
                k = free_;
            }

            memcpy(b.last, in + i, k);
            b.last += k;
            i += k;
            r->fed = i;
        }

        rc = ws_scan(&p, &b);
        relay_note_rc(&p, &b, r, rc);

        if (!relay_invariants(&b, mem, r, "after receive")) {
            break;
        }

        /* send */

        if (b.pos < b.fwd) {
            sent = (size_t) (b.fwd - b.pos);

            if (cfg->send_max) {
                sent = 1 + unit_rand_range(cfg->send_max);
                sent = (sent < (size_t) (b.fwd - b.pos))
                       ? sent : (size_t) (b.fwd - b.pos);
            }

            bytes_put(&r->out, b.pos, sent);
            b.pos += sent;
            k += sent;

            iter_rc = ws_scan(&p, &b);
            relay_note_rc(&p, &b, r, iter_rc);

            if (!relay_invariants(&b, mem, r, "after send")) {
                break;
            }
        }

        /*
         * the relay's ping: queued once enough input was read, while no
         * verdict was taken (a close would be queued then); while paused
         * the scanner begins no frame; the ping goes out where
         * ws_at_boundary() says, between two whole frames of the output
         */

        if (cfg->ping_every && !paused && r->rc == RC_NONE && i >= next_ping)
        {
            ws_pause(&p);
            paused = 1;
            begun = p.frames + (p.state == WS_ST_PAYLOAD);
            next_ping = i + cfg->ping_every;
        }

        if (paused && r->rc != RC_NONE) {
            /* a verdict: the close replaces the ping */
            ws_resume(&p);
            paused = 0;
        }

        if (paused && !p.drop && p.frames + (p.state == WS_ST_PAYLOAD) != begun)
        {
            r->broken = 1;
            snprintf(r->why, sizeof(r->why), "a frame was begun while "
                     "paused (input %lu)", (unsigned long) i);
            break;
        }

        if (paused && ws_at_boundary(&p, &b)) {
            off = 0;

            while (off < r->out.len
                   && decode_frame(r->out.data, r->out.len, off, &f))
            {
                off += f.size;
            }

            if (off != r->out.len) {
                r->broken = 1;
                snprintf(r->why, sizeof(r->why), "a ping would go inside "
                         "a frame at output %lu", (unsigned long) off);
                break;
            }

            r->pings++;
            ws_resume(&p);
            paused = 0;
            k++;

            iter_rc = ws_scan(&p, &b);
            relay_note_rc(&p, &b, r, iter_rc);

            if (!relay_invariants(&b, mem, r, "after a ping")) {
                break;
            }
        }

        /*
         * the message gate: held only before a text or binary frame that
         * would begin one message too many; the relay lets it go on
         */

        while (p.gated && !r->broken) {
            msgs = p.messages;

            if (msgs != p.max_messages || b.scan == b.last
                || ((*b.scan & 0x0f) != WS_OP_TEXT
                    && (*b.scan & 0x0f) != WS_OP_BINARY)
                || p.msg_opcode != 0 || p.state != WS_ST_HEADER)
            {
                r->broken = 1;
                snprintf(r->why, sizeof(r->why), "gate held wrongly: "
                         "%llu messages, max %llu",
                         (unsigned long long) msgs,
                         (unsigned long long) p.max_messages);
                break;
            }

            r->gates++;
            p.max_messages += cfg->msg_step;
            k++;

            iter_rc = ws_scan(&p, &b);
            relay_note_rc(&p, &b, r, iter_rc);

            if (!relay_invariants(&b, mem, r, "after the gate")) {
                break;
            }
        }

        if (r->broken) {
            break;
        }

        if (!p.gated && !p.drop && cfg->msg_step
            && p.messages > p.max_messages)
        {
            r->broken = 1;
            snprintf(r->why, sizeof(r->why), "%llu messages begun, max %llu",
                     (unsigned long long) p.messages,
                     (unsigned long long) p.max_messages);
            break;
        }

        /*
         * ws_at_boundary(): when it says 1, the output so far must be
         * whole frames (the relay may inject a frame there)
         */

        if (cfg->boundary_check) {
            at_boundary = ws_at_boundary(&p, &b);

            if (at_boundary && b.pos == b.fwd) {
                size_t  off = 0;

                while (off < r->out.len
                       && decode_frame(r->out.data, r->out.len, off, &f))
                {
                    off += f.size;
                }

                if (off != r->out.len) {
                    r->boundary_bad = 1;
                }
            }
        }

        if (ws_buf_empty(&b)) {
            ws_buf_reset(&b);
        }

        if (k == 0 && s_pos == b.pos && s_fwd == b.fwd && s_scan == b.scan
            && s_last == b.last)
        {
            /* no progress */

            if (i < n) {
                r->stuck = 1;
                snprintf(r->why, sizeof(r->why),
                         "stuck at input %lu: pos %ld fwd %ld scan %ld "
                         "last %ld hold %ld", (unsigned long) i,
                         (long) (b.pos - b.start), (long) (b.fwd - b.start),
                         (long) (b.scan - b.start), (long) (b.last - b.start),
                         (long) (b.hold - b.start));
            }

            break;
        }
    }

    if (iter == limit) {
        r->stuck = 1;
        snprintf(r->why, sizeof(r->why), "no end after %lu steps",
                 (unsigned long) limit);
    }

    if (paused && r->rc == RC_NONE && !r->broken && !r->stuck
        && !p.mid_frame)
    {
        r->stuck = 1;
        snprintf(r->why, sizeof(r->why), "a queued ping never went out");
    }

    if (r->rc == RC_NONE) {
        r->rc = WS_SCAN_OK;
        r->out_at_rc = r->out.len;
    }

    r->fed = i;
    r->frames = p.frames;
    r->pong_seen = p.pong_seen;
    r->forwarded = p.forwarded;
    r->not_empty = (b.pos != b.fwd);
    r->boundary = ws_at_boundary(&p, &b);
    r->can_inject = ws_can_inject(&p, &b);
    r->discard = (p.state == WS_ST_DISCARD);
    r->final_error_code = p.error_code;
    r->final_close_code = p.close_code;
    r->final_error = p.error;

    free(mem);
}


/* ---------------------------------------------------------- comparison */


#define MAX_FRAMES  4096


static dframe_t  in_frames[MAX_FRAMES];
static dframe_t  out_frames[MAX_FRAMES];


/*
 * Compares the output with the first "nin" frames of the input.  Text
 * frames (of text messages) may come out as several fragments; a frame
 * "tail" (the input frame at index nin) may have a prefix of at most
 * tail_max payload bytes in the output as non-final fragments.
 */

static int
compare_output(const unsigned char *in, size_t in_len, size_t nin,
    const unsigned char *out, size_t out_len, int client, int utf8,
    int tail, uint64_t tail_max, char *why, size_t why_len)
{
    size_t          i, j, nfrags, rest, nout, o, ni;
    unsigned        msg_op, op;
    uint64_t        got, k;
    const dframe_t *f, *g;

    ni = decode_stream(in, in_len, in_frames, MAX_FRAMES, &rest);

    if (ni < nin + (tail ? 1 : 0) && !(tail && ni == nin)) {
        snprintf(why, why_len, "test error: input has %lu frames",
                 (unsigned long) ni);
        return 0;
    }

    nout = decode_stream(out, out_len, out_frames, MAX_FRAMES, &rest);

    if (rest) {
        snprintf(why, why_len, "output ends inside a frame (%lu bytes)",
                 (unsigned long) rest);
        return 0;
    }

    msg_op = 0;
    j = 0;

    for (i = 0; i < nin + (tail ? 1 : 0); i++) {
        f = &in_frames[i];
        op = f->opcode;

        if (op == WS_OP_TEXT || op == WS_OP_BINARY) {
            msg_op = op;
        }

        if (j == nout) {
            if (i == nin) {
                /* nothing of the tail frame came out */
                return 1;
            }

            snprintf(why, why_len, "output ends before input frame %lu",
                     (unsigned long) i);
            return 0;
        }

        g = &out_frames[j];

        if (i < nin && g->size == f->size
            && memcmp(out + g->off, in + f->off, f->size) == 0)
        {
            j++;
            goto next;
        }

        /* re-fragmented */

        if (!utf8 || (op != WS_OP_TEXT && op != WS_OP_CONT)
            || msg_op != WS_OP_TEXT)
        {
            snprintf(why, why_len, "input frame %lu (opcode %u, %llu "
                     "bytes) differs in the output", (unsigned long) i, op,
                     (unsigned long long) f->len);
            return 0;
        }

        got = 0;
        nfrags = 0;

        while (got < f->len || (f->len == 0 && nfrags == 0)) {

            if (j == nout) {
                if (i == nin) {
                    break;
                }

                snprintf(why, why_len, "input frame %lu: output ends after "
                         "%llu of %llu bytes", (unsigned long) i,
                         (unsigned long long) got,
                         (unsigned long long) f->len);
                return 0;
            }

            g = &out_frames[j];

            if (g->opcode != (nfrags ? WS_OP_CONT : op) || g->rsv
                || g->masked != (unsigned) client || !g->minimal
                || g->len == 0 || got + g->len > f->len)
            {
                snprintf(why, why_len, "input frame %lu: bad fragment %lu: "
                         "opcode %u rsv %u masked %u minimal %d len %llu",
                         (unsigned long) i, (unsigned long) nfrags,
                         g->opcode, g->rsv, g->masked, g->minimal,
                         (unsigned long long) g->len);
                return 0;
            }

            if (g->fin != (got + g->len == f->len ? f->fin : 0)) {
                snprintf(why, why_len, "input frame %lu: fragment %lu has "
                         "fin %u", (unsigned long) i, (unsigned long) nfrags,
                         g->fin);
                return 0;
            }

            if (client) {
                for (k = 0; k < 4; k++) {
                    if (g->key[k] != f->key[(got + k) & 3]) {
                        snprintf(why, why_len, "input frame %lu: fragment "
                                 "%lu: mask key not rotated by %llu",
                                 (unsigned long) i, (unsigned long) nfrags,
                                 (unsigned long long) got);
                        return 0;
                    }
                }
            }

            /* the payload bytes on the wire are unchanged */

            if (memcmp(out + g->off + g->hdr_len,
                       in + f->off + f->hdr_len + got, (size_t) g->len)
                != 0)
            {
                snprintf(why, why_len, "input frame %lu: fragment %lu: "
                         "payload differs", (unsigned long) i,
                         (unsigned long) nfrags);
                return 0;
            }

            got += g->len;
            nfrags++;
            j++;
        }

        if (i == nin) {
            if (got > tail_max || (got == f->len && f->len)) {
                snprintf(why, why_len, "%llu bytes of the offending frame "
                         "came out (at most %llu may)",
                         (unsigned long long) got,
                         (unsigned long long) tail_max);
                return 0;
            }

            break;
        }

        if (nfrags < 2) {
            snprintf(why, why_len, "input frame %lu: changed but not split",
                     (unsigned long) i);
            return 0;
        }

    next:

        if (f->fin && !(op & 0x8)) {
            msg_op = 0;
        }
    }

    if (j != nout) {
        o = out_frames[j].off;
        snprintf(why, why_len, "%lu more frames in the output, from byte "
                 "%lu", (unsigned long) (nout - j), (unsigned long) o);
        return 0;
    }

    return 1;
}


/* ---------------------------------------------------------- cases */


typedef struct {
    const char    *name;
    int            utf8;          /* validate_utf8 */
    uint64_t       max_frame;
    uint64_t       max_message;

    /* what must happen */
    int            rc;            /* WS_SCAN_OK, _CLOSE or _ERROR */
    unsigned       code;          /* close_code or error_code */
    const char    *error;
    size_t         nframes;       /* frames that come out (and counted) */
    int            tail;          /* frame nframes may partly come out */
    uint64_t       tail_max;
    const char    *reason;        /* of the close, by ws_close_reason() */
} expect_t;


static const size_t  buf_sizes[] = { 256, 333, 1024, 16384 };
#define NBUF_SIZES  (sizeof(buf_sizes) / sizeof(buf_sizes[0]))


static unsigned long  runs;
static unsigned long  total_pings;
static unsigned long  total_gates;


/* one run; returns 1 if all was as expected */

static int
run_one(const expect_t *e, const bytes_t *in, relay_cfg_t *cfg,
    const char *how)
{
    int          ok;
    char         why[300];
    relay_res_t  r;

    relay_run(cfg, in->data, in->len, &r);
    runs++;
    total_pings += r.pings;
    total_gates += r.gates;

    ok = 1;
    why[0] = '\0';

    if (r.broken || r.stuck) {
        snprintf(why, sizeof(why), "%s", r.why);
        ok = 0;

    } else if (r.rc != e->rc) {
        snprintf(why, sizeof(why), "result %d, want %d (error \"%s\" %u)",
                 r.rc, e->rc, unit_str(r.error), r.error_code);
        ok = 0;

    } else if (e->rc == WS_SCAN_ERROR
               && (r.error_code != e->code || !unit_streq(r.error, e->error)))
    {
        snprintf(why, sizeof(why), "error \"%s\" %u, want \"%s\" %u",
                 unit_str(r.error), r.error_code, unit_str(e->error),
                 e->code);
        ok = 0;

    } else if (e->rc == WS_SCAN_CLOSE && r.close_code != e->code) {
        snprintf(why, sizeof(why), "close code %u, want %u", r.close_code,
                 e->code);
        ok = 0;

    } else if (e->rc == WS_SCAN_CLOSE && e->reason
               && (r.reason_len != strlen(e->reason)
                   || memcmp(r.reason, e->reason, r.reason_len) != 0))
    {
        snprintf(why, sizeof(why), "close reason \"%.*s\", want \"%s\"",
                 (int) r.reason_len, (char *) r.reason, e->reason);
        ok = 0;

    } else if (r.out.len != r.out_at_rc) {
        snprintf(why, sizeof(why), "%lu bytes came out after the result",
                 (unsigned long) (r.out.len - r.out_at_rc));
        ok = 0;

    } else if (r.not_empty) {
        snprintf(why, sizeof(why), "cleared bytes left unsent");
        ok = 0;

    } else if (!compare_output(in->data, in->len, e->nframes, r.out.data,
                               r.out.len, cfg->from_client, e->utf8,
                               e->tail, e->tail_max, why, sizeof(why)))
    {
        ok = 0;

    } else if (r.forwarded != count_frames(&r.out)
               || (e->rc == WS_SCAN_ERROR ? r.frames < e->nframes
                                          : r.frames != e->nframes))
    {
        /* forwarded: frames that went out, fragments made included */
        snprintf(why, sizeof(why), "%llu frames counted, %llu forwarded, "
                 "want %lu and %llu", (unsigned long long) r.frames,
                 (unsigned long long) r.forwarded, (unsigned long) e->nframes,
                 (unsigned long long) count_frames(&r.out));
        ok = 0;

    } else if (!r.boundary) {
        snprintf(why, sizeof(why), "not at a boundary at the end");
        ok = 0;

    } else if (r.boundary_bad) {
        snprintf(why, sizeof(why), "ws_at_boundary() said 1 inside a frame");
        ok = 0;

    } else if (r.can_inject != (e->rc != WS_SCAN_OK)) {
        snprintf(why, sizeof(why), "ws_can_inject() is %d at the end",
                 r.can_inject);
        ok = 0;
    }

    if (!ok) {
        fprintf(stderr, "  %s: %s, buffer %lu, %s: %s\n", e->name,
                cfg->from_client ? "client" : "server",
                (unsigned long) cfg->bufsize, how, why);
    }

    bytes_free(&r.out);

    return ok;
}


/*
 * Runs a stream in many ways: every buffer size, whole, byte by byte, cut
 * in two at every position (small streams), random pieces.  One test per
 * buffer size; failures print the first way that failed.
 */

static void
check_stream(const expect_t *e, const bytes_t *in, int from_client)
{
    int          ok;
    char         how[160];
    size_t       bs, pos, step, every, t;
    relay_cfg_t  cfg;
    static const size_t  steps[] = { 0, 1, 2, 3, 7, 100, 1000, 4097 };
    static const size_t  ping_every[] = { 1, 37, 1500 };
    static const uint64_t  msg_steps[] = { 1, 2, 5 };

    for (bs = 0; bs < NBUF_SIZES; bs++) {
        ok = 1;

        memset(&cfg, 0, sizeof(cfg));
        cfg.from_client = from_client;
        cfg.validate_utf8 = e->utf8;
        cfg.max_frame = e->max_frame;
        cfg.max_message = e->max_message;
        cfg.bufsize = buf_sizes[bs];
        cfg.boundary_check = 1;

        for (t = 0; ok && t < sizeof(steps) / sizeof(steps[0]); t++) {
            if (steps[t] == 1 && in->len > 300000) {
                continue;
            }

            cfg.step = steps[t];
            snprintf(how, sizeof(how), "pieces of %lu",
                     (unsigned long) steps[t]);
            ok = run_one(e, in, &cfg, how);
        }

        cfg.step = 0;

        /* cut in two at every position */

        every = (in->len <= 700) ? 1 : (in->len <= 5000) ? 13 : 0;

        for (pos = 1; ok && every && pos < in->len; pos += every) {
            cfg.cuts = &pos;
            cfg.ncuts = 1;
            snprintf(how, sizeof(how), "cut at %lu", (unsigned long) pos);
            ok = run_one(e, in, &cfg, how);
        }

        cfg.cuts = NULL;
        cfg.ncuts = 0;

        /* random pieces */

        for (t = 0; ok && t < 12; t++) {
            step = (t % 3 == 0) ? 5 : (t % 3 == 1) ? 64 : 3000;
            cfg.rand_max = step;
            cfg.rand_seed = unit_rand();
            cfg.send_max = (t & 1) ? 1 + t * 40 : 0;
            snprintf(how, sizeof(how), "random pieces <= %lu seed %llx, "
                     "sends <= %lu", (unsigned long) step,
                     (unsigned long long) cfg.rand_seed,
                     (unsigned long) cfg.send_max);
            ok = run_one(e, in, &cfg, how);
        }

        /*
         * the relay's pings while frames flow, and a message gate raised
         * by 1, 2 or 5 messages at a time: the same output
         */

        for (t = 0; ok && t < 8; t++) {
            cfg.rand_max = (t & 1) ? 5 : 700;
            cfg.rand_seed = unit_rand();
            cfg.send_max = (t & 2) ? 1 + t * 30 : 0;
            cfg.ping_every = (t < 6) ? ping_every[t % 3] : 0;
            cfg.msg_step = (t > 1) ? msg_steps[t % 3] : 0;
            snprintf(how, sizeof(how), "random pieces <= %lu seed %llx, "
                     "sends <= %lu, pings every %lu, gate %llu",
                     (unsigned long) cfg.rand_max,
                     (unsigned long long) cfg.rand_seed,
                     (unsigned long) cfg.send_max,
                     (unsigned long) cfg.ping_every,
                     (unsigned long long) cfg.msg_step);
            ok = run_one(e, in, &cfg, how);
        }

        cfg.rand_max = 0;
        cfg.send_max = 0;
        cfg.ping_every = 0;
        cfg.msg_step = 0;

        CHECKF(ok, "%s: %s, buffer %lu", e->name,
               from_client ? "client" : "server",
               (unsigned long) buf_sizes[bs]);
    }
}


/*
 * A case is a function that builds the stream for a direction and fills
 * in what must happen; it is run for both directions.
 */

typedef void (*case_pt)(bytes_t *s, expect_t *e, int client);


static void
run_case(case_pt build)
{
    int       client;
    bytes_t   s;
    expect_t  e;

    for (client = 1; client >= 0; client--) {
        memset(&s, 0, sizeof(s));
        memset(&e, 0, sizeof(e));
        e.utf8 = 1;
        e.rc = WS_SCAN_OK;

        build_client = client;
        build(&s, &e, client);

        unit_ctx = e.name;
        check_stream(&e, &s, client);

        bytes_free(&s);
    }

    unit_ctx = "";
}


/* ---------------------------------------------------------- valid streams */


/* bytes for binary payloads; txt() gives valid UTF-8 for text ones */
static unsigned char  big[70000 * 2 + 16];
static unsigned char  text_pool[100000];


static const unsigned char *
txt(size_t n)
{
    unit_make_text(text_pool, n, 70);

    return text_pool;
}


static void
case_small_frames(bytes_t *s, expect_t *e, int client)
{
    unsigned char  bin[256];
    size_t         i;

    (void) client;

    for (i = 0; i < 256; i++) {
        bin[i] = (unsigned char) i;
    }

    e->name = "small frames";

    put_str(s, 1, WS_OP_TEXT, "Hello");
    put_frame(s, 1, WS_OP_BINARY, bin, 100);
    put_str(s, 1, WS_OP_TEXT, "");
    put_frame(s, 1, WS_OP_BINARY, NULL, 0);
    put_str(s, 1, WS_OP_PING, "");
    put_str(s, 1, WS_OP_PONG, "");
    put_str(s, 1, WS_OP_PING, "are you there?");
    put_str(s, 1, WS_OP_PONG, "yes");
    put_str(s, 1, WS_OP_TEXT, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5");
    put_str(s, 1, WS_OP_TEXT, "\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf");
    put_frame(s, 1, WS_OP_BINARY, bin + 100, 156);

    e->nframes = 11;
}


static void
case_control_125(bytes_t *s, expect_t *e, int client)
{
    (void) client;

    e->name = "125-byte control frames";

    put_frame(s, 1, WS_OP_PING, big, 125);
    put_str(s, 1, WS_OP_TEXT, "x");
    put_frame(s, 1, WS_OP_PONG, big, 125);
    put_frame(s, 1, WS_OP_BINARY, big, 77);
    put_frame(s, 1, WS_OP_PING, big, 125);
    put_frame(s, 1, WS_OP_PING, big, 124);
    put_frame(s, 1, WS_OP_PONG, big, 125);
    put_frame(s, 1, WS_OP_TEXT, txt(125), 125);
    put_frame(s, 1, WS_OP_PONG, big, 125);

    e->nframes = 9;
}


static void
case_fragmented(bytes_t *s, expect_t *e, int client)
{
    (void) client;

    e->name = "fragmented messages";

    /* "€" (e2 82 ac) cut between fragments, controls in between */
    put_str(s, 0, WS_OP_TEXT, "Hel");
    put_str(s, 1, WS_OP_PING, "p1");
    put_str(s, 0, WS_OP_CONT, "");
    put_str(s, 0, WS_OP_CONT, "lo \xe2");
    put_str(s, 1, WS_OP_PONG, "");
    put_str(s, 0, WS_OP_CONT, "\x82");
    put_str(s, 1, WS_OP_PING, "");
    put_str(s, 1, WS_OP_CONT, "\xac!");

    put_frame(s, 0, WS_OP_BINARY, big, 10);
    put_str(s, 1, WS_OP_PING, "p2");
    put_frame(s, 0, WS_OP_CONT, big, 0);
    put_frame(s, 1, WS_OP_CONT, big, 50);

    put_str(s, 0, WS_OP_TEXT, "");
    put_str(s, 1, WS_OP_CONT, "");

    put_str(s, 1, WS_OP_TEXT, "after");

    e->nframes = 15;
}


static void
case_close_normal(bytes_t *s, expect_t *e, int client)
{
    (void) client;

    e->name = "close with a reason";

    put_str(s, 1, WS_OP_TEXT, "bye");
    put_close(s, 1000, "normal closure \xe2\x82\xac");
    put_str(s, 1, WS_OP_TEXT, "after the close");
    put_str(s, 1, WS_OP_PING, "");

    e->rc = WS_SCAN_CLOSE;
    e->code = 1000;
    e->nframes = 2;
    e->reason = "normal closure \xe2\x82\xac";
}


static void
case_close_empty(bytes_t *s, expect_t *e, int client)
{
    (void) client;

    e->name = "empty close";

    put_str(s, 0, WS_OP_TEXT, "part");
    put_frame(s, 1, WS_OP_CLOSE, NULL, 0);
    put_frame(s, 1, WS_OP_CONT, NULL, 3);
    put_frame(s, 1, 0x3, NULL, 3);    /* ignored after the close */

    e->rc = WS_SCAN_CLOSE;
    e->code = WS_CLOSE_NO_STATUS;
    e->nframes = 2;
    e->reason = "";
}


static void
case_close_codes(bytes_t *s, expect_t *e, int client)
{
    char  reason[124];

    (void) client;

    e->name = "close with a 123-byte reason";

    memset(reason, 'r', 123);
    reason[123] = '\0';

    put_close(s, 4999, reason);

    e->rc = WS_SCAN_CLOSE;
    e->code = 4999;
    e->nframes = 1;
    e->reason = "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr"
                "rrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrrr"
                "r";
}


static void
case_close_3000(bytes_t *s, expect_t *e, int client)
{
    (void) client;

    e->name = "close 3000 without reason";

    put_frame(s, 1, WS_OP_BINARY, big, 300);
    put_close(s, 3000, "");

    e->rc = WS_SCAN_CLOSE;
    e->code = 3000;
    e->nframes = 2;
    e->reason = "";
}


static void
case_big_binary(bytes_t *s, expect_t *e, int client)
{
    (void) client;

    e->name = "binary 125, 126, 65535, 65536";

    put_frame(s, 1, WS_OP_BINARY, big, 125);
    put_frame(s, 1, WS_OP_BINARY, big, 126);
    put_str(s, 1, WS_OP_PING, "between");
    put_frame(s, 1, WS_OP_BINARY, big, 65535);
    put_frame(s, 1, WS_OP_BINARY, big, 65536);
    put_frame(s, 0, WS_OP_BINARY, big, 70000);
    put_str(s, 1, WS_OP_PONG, "between");
    put_frame(s, 1, WS_OP_CONT, big + 3, 66000);

    e->nframes = 8;
}


static void
case_big_text(bytes_t *s, expect_t *e, int client)
{
    (void) client;

    e->name = "text 125, 126, 65535, 65536";

    put_frame(s, 1, WS_OP_TEXT, txt(125), 125);
    put_frame(s, 1, WS_OP_TEXT, txt(126), 126);
    put_frame(s, 1, WS_OP_TEXT, txt(65535), 65535);
    put_str(s, 1, WS_OP_PING, "between");
    put_frame(s, 1, WS_OP_TEXT, txt(65536), 65536);
    put_frame(s, 0, WS_OP_TEXT, txt(70000), 70000);
    put_str(s, 1, WS_OP_PONG, "between");
    put_frame(s, 0, WS_OP_CONT, txt(1000), 1000);
    put_frame(s, 1, WS_OP_CONT, txt(20000), 20000);
    put_frame(s, 1, WS_OP_TEXT, txt(300), 300);

    e->nframes = 10;
}


static void
case_text_over_buffer(bytes_t *s, expect_t *e, int client)
{
    (void) client;

    e->name = "text larger than the buffer";

    put_str(s, 1, WS_OP_TEXT, "small");
    put_frame(s, 1, WS_OP_TEXT, txt(600), 600);
    put_frame(s, 0, WS_OP_TEXT, txt(1500), 1500);
    put_str(s, 1, WS_OP_PING, "p");
    put_frame(s, 0, WS_OP_CONT, big, 0);
    put_frame(s, 1, WS_OP_CONT, txt(2000), 2000);
    put_frame(s, 1, WS_OP_BINARY, big, 700);

    e->nframes = 7;
}


static void
case_text_no_utf8(bytes_t *s, expect_t *e, int client)
{
    (void) client;

    e->name = "invalid text without validation";

    e->utf8 = 0;

    put_str(s, 1, WS_OP_TEXT, "\xff\xfe\xc0\x80");
    put_str(s, 0, WS_OP_TEXT, "\xe2\x82");
    put_str(s, 1, WS_OP_CONT, "x");
    put_frame(s, 1, WS_OP_TEXT, big, 3000);
    put_str(s, 1, WS_OP_TEXT, "\xed\xa0\x80");

    e->nframes = 5;
}


static void
case_limits_ok(bytes_t *s, expect_t *e, int client)
{
    (void) client;

    e->name = "frames and messages at the limits";

    e->max_frame = 500;
    e->max_message = 1000;

    put_frame(s, 1, WS_OP_BINARY, big, 500);
    put_frame(s, 1, WS_OP_TEXT, txt(500), 500);
    put_frame(s, 0, WS_OP_TEXT, txt(500), 500);
    put_frame(s, 1, WS_OP_PING, big, 125);
    put_frame(s, 1, WS_OP_CONT, txt(500), 500);
    put_frame(s, 0, WS_OP_BINARY, big, 300);
    put_frame(s, 0, WS_OP_CONT, big, 300);
    put_frame(s, 0, WS_OP_CONT, big, 0);
    put_frame(s, 1, WS_OP_CONT, big, 400);
    put_close(s, 1001, "going away");

    e->rc = WS_SCAN_CLOSE;
    e->code = 1001;
    e->nframes = 10;
}


static void
case_many_tiny(bytes_t *s, expect_t *e, int client)
{
    size_t  i;

    (void) client;

    e->name = "many tiny frames";

    for (i = 0; i < 300; i++) {
        switch (i % 5) {
        case 0:
            put_str(s, 1, WS_OP_TEXT, "t");
            break;
        case 1:
            put_frame(s, 1, WS_OP_BINARY, big, i % 7);
            break;
        case 2:
            put_str(s, 0, WS_OP_TEXT, "\xc3");
            break;
        case 3:
            put_str(s, 1, WS_OP_CONT, "\xa9");
            break;
        default:
            put_str(s, 1, WS_OP_PING, "");
            break;
        }
    }

    e->nframes = 300;
}


/* an incomplete last frame: what was complete comes out */

static void
case_incomplete_end(bytes_t *s, expect_t *e, int client)
{
    (void) client;

    e->name = "incomplete last frame";

    put_str(s, 1, WS_OP_TEXT, "one");
    put_str(s, 1, WS_OP_TEXT, "two");
    put_str(s, 1, WS_OP_TEXT, "three");
    s->len -= 2;

    e->nframes = 2;
    e->tail = 1;
    e->tail_max = 0;
}


/* ---------------------------------------------------------- violations */


typedef struct {
    const char  *name;
    unsigned     code;
    const char  *error;
    void       (*bad)(bytes_t *s, int client);
    int          utf8;
    uint64_t     max_frame;
    uint64_t     max_message;
    int          prefix;       /* which valid frames go before */
} bad_case_t;


static void bad_rsv1(bytes_t *s, int c) { (void) c;
    put_frame_ex(s, 0xc1, -1, "x", 1, 0, NULL); }
static void bad_rsv2(bytes_t *s, int c) { (void) c;
    put_frame_ex(s, 0xa2, -1, "x", 1, 0, NULL); }
static void bad_rsv3(bytes_t *s, int c) { (void) c;
    put_frame_ex(s, 0x90, -1, "x", 1, 0, NULL); }
static void bad_rsv_ping(bytes_t *s, int c) { (void) c;
    put_frame_ex(s, 0xc9, -1, "", 0, 0, NULL); }
static void bad_op3(bytes_t *s, int c) { (void) c;
    put_frame_ex(s, 0x83, -1, "x", 1, 0, NULL); }
static void bad_op7(bytes_t *s, int c) { (void) c;
    put_frame_ex(s, 0x87, -1, "", 0, 0, NULL); }
static void bad_opb(bytes_t *s, int c) { (void) c;
    put_frame_ex(s, 0x8b, -1, "x", 1, 0, NULL); }
static void bad_opf(bytes_t *s, int c) { (void) c;
    put_frame_ex(s, 0x0f, -1, "x", 1, 0, NULL); }
static void bad_frag_ping(bytes_t *s, int c) { (void) c;
    put_frame_ex(s, 0x09, -1, "x", 1, 0, NULL); }
static void bad_frag_close(bytes_t *s, int c) { (void) c;
    put_frame_ex(s, 0x08, -1, "\x03\xe8", 2, 0, NULL); }
static void bad_frag_pong(bytes_t *s, int c) { (void) c;
    put_frame_ex(s, 0x0a, -1, "", 0, 0, NULL); }
static void bad_cont_first(bytes_t *s, int c) { (void) c;
    put_str(s, 1, WS_OP_CONT, "x"); }
static void bad_cont_after(bytes_t *s, int c) { (void) c;
    put_str(s, 0, WS_OP_TEXT, "a"); put_str(s, 1, WS_OP_CONT, "b");
    put_str(s, 0, WS_OP_CONT, "c"); }
static void bad_text_in_msg(bytes_t *s, int c) { (void) c;
    put_str(s, 0, WS_OP_TEXT, "a"); put_str(s, 1, WS_OP_PING, "");
    put_str(s, 1, WS_OP_TEXT, "b"); }
static void bad_bin_in_msg(bytes_t *s, int c) { (void) c;
    put_str(s, 0, WS_OP_BINARY, "a"); put_str(s, 0, WS_OP_CONT, "b");
    put_str(s, 0, WS_OP_BINARY, "c"); }
static void bad_bin_in_text(bytes_t *s, int c) { (void) c;
    put_str(s, 0, WS_OP_TEXT, "a"); put_str(s, 1, WS_OP_BINARY, "c"); }
static void bad_masking(bytes_t *s, int c) {
    put_frame_ex(s, 0x81, !c, "x", 1, 0, NULL); }
static void bad_masking_ctl(bytes_t *s, int c) {
    put_frame_ex(s, 0x89, !c, "", 0, 0, NULL); }
static void bad_ping_126(bytes_t *s, int c) { (void) c;
    put_frame_ex(s, 0x89, -1, big, 126, 0, NULL); }
static void bad_close_126(bytes_t *s, int c) { (void) c;
    put_frame_ex(s, 0x88, -1, big, 126, 0, NULL); }
static void bad_pong_127(bytes_t *s, int c) { (void) c;
    put_frame_ex(s, 0x8a, -1, big, 65536, 0, NULL); }
static void bad_len16_0(bytes_t *s, int c) { (void) c;
    put_frame_ex(s, 0x82, -1, big, 0, 2, NULL); }
static void bad_len16_125(bytes_t *s, int c) { (void) c;
    put_frame_ex(s, 0x82, -1, big, 125, 2, NULL); }
static void bad_len64_0(bytes_t *s, int c) { (void) c;
    put_frame_ex(s, 0x81, -1, big, 0, 8, NULL); }
static void bad_len64_125(bytes_t *s, int c) { (void) c;
    put_frame_ex(s, 0x82, -1, big, 125, 8, NULL); }
static void bad_len64_65535(bytes_t *s, int c) { (void) c;
    put_frame_ex(s, 0x82, -1, big, 65535, 8, NULL); }

static void
bad_len64_top(bytes_t *s, int c)
{
    unsigned char  h[14] = { 0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 1, 0,
                             1, 2, 3, 4 };

    h[1] |= c ? 0x80 : 0;
    bytes_put(s, h, c ? 14 : 10);
    bytes_put(s, big, 100);
}

static void
bad_len64_max(bytes_t *s, int c)
{
    unsigned char  h[14] = { 0x81, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                             0xff, 0xff, 1, 2, 3, 4 };

    h[1] |= c ? 0x80 : 0;
    bytes_put(s, h, c ? 14 : 10);
}

static void bad_utf8(bytes_t *s, int c) { (void) c;
    put_str(s, 1, WS_OP_TEXT, "abc\xff" "def"); }
static void bad_utf8_surrogate(bytes_t *s, int c) { (void) c;
    put_str(s, 1, WS_OP_TEXT, "\xed\xa0\x80"); }
static void bad_utf8_overlong(bytes_t *s, int c) { (void) c;
    put_str(s, 1, WS_OP_TEXT, "\xc0\xaf"); }
static void bad_utf8_big(bytes_t *s, int c) { (void) c;
    put_str(s, 1, WS_OP_TEXT, "\xf4\x90\x80\x80"); }
static void bad_utf8_truncated(bytes_t *s, int c) { (void) c;
    put_str(s, 1, WS_OP_TEXT, "abc\xe2\x82"); }
static void bad_utf8_truncated_msg(bytes_t *s, int c) { (void) c;
    put_str(s, 0, WS_OP_TEXT, "abc\xf0"); put_str(s, 1, WS_OP_PING, "");
    put_str(s, 0, WS_OP_CONT, "\x90"); put_str(s, 1, WS_OP_CONT, "\x80"); }
static void bad_utf8_across(bytes_t *s, int c) { (void) c;
    put_str(s, 0, WS_OP_TEXT, "abc\xe2\x82"); put_str(s, 1, WS_OP_PONG, "");
    put_str(s, 1, WS_OP_CONT, "A"); }
static void bad_utf8_second(bytes_t *s, int c) { (void) c;
    put_str(s, 0, WS_OP_TEXT, "fine"); put_str(s, 0, WS_OP_CONT, "");
    put_str(s, 1, WS_OP_CONT, "\x80"); }
static void bad_utf8_late(bytes_t *s, int c) { (void) c;
    put_frame(s, 0, WS_OP_TEXT, txt(100), 100);
    put_str(s, 1, WS_OP_PING, "x"); put_str(s, 1, WS_OP_CONT, "zz\xc1\xbf"); }
static void bad_close_1(bytes_t *s, int c) { (void) c;
    put_str(s, 1, WS_OP_CLOSE, "\x03"); }
static void bad_close_0(bytes_t *s, int c) { (void) c;
    put_close(s, 0, ""); }
static void bad_close_999(bytes_t *s, int c) { (void) c;
    put_close(s, 999, ""); }
static void bad_close_1004(bytes_t *s, int c) { (void) c;
    put_close(s, 1004, "x"); }
static void bad_close_1005(bytes_t *s, int c) { (void) c;
    put_close(s, 1005, ""); }
static void bad_close_1006(bytes_t *s, int c) { (void) c;
    put_close(s, 1006, ""); }
static void bad_close_1015(bytes_t *s, int c) { (void) c;
    put_close(s, 1015, ""); }
static void bad_close_1016(bytes_t *s, int c) { (void) c;
    put_close(s, 1016, ""); }
static void bad_close_2999(bytes_t *s, int c) { (void) c;
    put_close(s, 2999, ""); }
static void bad_close_5000(bytes_t *s, int c) { (void) c;
    put_close(s, 5000, ""); }
static void bad_close_65535(bytes_t *s, int c) { (void) c;
    put_close(s, 65535, ""); }
static void bad_close_reason(bytes_t *s, int c) { (void) c;
    put_close(s, 1000, "bad \xff reason"); }
static void bad_close_reason_cut(bytes_t *s, int c) { (void) c;
    put_close(s, 1000, "cut \xe2\x82"); }
static void bad_frame_big(bytes_t *s, int c) { (void) c;
    put_frame(s, 1, WS_OP_BINARY, big, 501); }
static void bad_frame_big_text(bytes_t *s, int c) { (void) c;
    put_frame(s, 1, WS_OP_TEXT, big, 501); }
static void bad_frame_big_cont(bytes_t *s, int c) { (void) c;
    put_frame(s, 0, WS_OP_BINARY, big, 500);
    put_frame(s, 1, WS_OP_CONT, big, 501); }
static void bad_frame_big_ping(bytes_t *s, int c) { (void) c;
    put_frame(s, 1, WS_OP_PING, big, 101); }
static void bad_msg_big(bytes_t *s, int c) { (void) c;
    put_frame(s, 0, WS_OP_BINARY, big, 400); put_str(s, 1, WS_OP_PING, "");
    put_frame(s, 0, WS_OP_CONT, big, 400);
    put_frame(s, 1, WS_OP_CONT, big, 201); }
static void bad_msg_big_text(bytes_t *s, int c) { (void) c;
    put_frame(s, 0, WS_OP_TEXT, txt(500), 500);
    put_frame(s, 0, WS_OP_CONT, txt(500), 500);
    put_frame(s, 1, WS_OP_CONT, big, 1); }
static void bad_msg_big_one(bytes_t *s, int c) { (void) c;
    put_frame(s, 1, WS_OP_BINARY, big, 1001); }
static void bad_msg_huge(bytes_t *s, int c) { (void) c;
    put_frame_ex(s, 0x02, -1, big, 10, 0, NULL);
    put_frame_ex(s, 0x80, -1, NULL, 0, 8, NULL);
    /* a 64-bit length just below the top: the sum would overflow */
    s->data[s->len - (c ? 5 : 1)] = 0xfe;
    s->data[s->len - (c ? 12 : 8)] = 0x7f;
}


/* the valid frames that go before a violation, and how many they are */

static size_t
put_prefix(bytes_t *s, int which)
{
    switch (which) {

    case 1:
        put_str(s, 1, WS_OP_TEXT, "before");
        put_frame(s, 1, WS_OP_BINARY, big, 200);
        put_str(s, 1, WS_OP_PING, "");
        return 3;

    case 2:
        put_frame(s, 1, WS_OP_BINARY, big, 1000);
        return 1;

    default:
        return 0;
    }
}


/* counts the valid frames the violation itself starts with */

static size_t
bad_valid_frames(const bytes_t *s, size_t from)
{
    size_t    count, rest;
    dframe_t  f[16];

    count = decode_stream(s->data + from, s->len - from, f, 16, &rest);

    /* the last frame is the offending one, unless it is incomplete */

    return (count && rest == 0) ? count - 1 : count;
}


static const bad_case_t  bad_cases[] = {
    { "rsv1", 1002, "reserved bits set", bad_rsv1, 1, 0, 0, 0 },
    { "rsv2", 1002, "reserved bits set", bad_rsv2, 1, 0, 0, 1 },
    { "rsv3", 1002, "reserved bits set", bad_rsv3, 1, 0, 0, 2 },
    { "rsv on ping", 1002, "reserved bits set", bad_rsv_ping, 1, 0, 0, 1 },
    { "opcode 3", 1002, "unknown opcode", bad_op3, 1, 0, 0, 0 },
    { "opcode 7", 1002, "unknown opcode", bad_op7, 1, 0, 0, 1 },
    { "opcode b", 1002, "unknown opcode", bad_opb, 1, 0, 0, 1 },
    { "opcode f", 1002, "unknown opcode", bad_opf, 1, 0, 0, 2 },
    { "fragmented ping", 1002, "fragmented control frame", bad_frag_ping,
      1, 0, 0, 1 },
    { "fragmented close", 1002, "fragmented control frame", bad_frag_close,
      1, 0, 0, 0 },
    { "fragmented pong", 1002, "fragmented control frame", bad_frag_pong,
      1, 0, 0, 2 },
    { "continuation first", 1002, "unexpected continuation frame",
      bad_cont_first, 1, 0, 0, 0 },
    { "continuation after message", 1002, "unexpected continuation frame",
      bad_cont_after, 1, 0, 0, 1 },
    { "text inside message", 1002, "data frame inside fragmented message",
      bad_text_in_msg, 1, 0, 0, 1 },
    { "binary inside message", 1002, "data frame inside fragmented message",
      bad_bin_in_msg, 1, 0, 0, 2 },
    { "binary inside text", 1002, "data frame inside fragmented message",
      bad_bin_in_text, 0, 0, 0, 0 },
    { "masking", 1002, NULL, bad_masking, 1, 0, 0, 1 },
    { "masking of a control frame", 1002, NULL, bad_masking_ctl,
      1, 0, 0, 0 },
    { "ping of 126", 1002, "control frame too long", bad_ping_126,
      1, 0, 0, 1 },
    { "close of 126", 1002, "control frame too long", bad_close_126,
      1, 0, 0, 0 },
    { "pong of 65536", 1002, "control frame too long", bad_pong_127,
      1, 0, 0, 2 },
    { "16-bit length 0", 1002, "non-minimal payload length", bad_len16_0,
      1, 0, 0, 0 },
    { "16-bit length 125", 1002, "non-minimal payload length",
      bad_len16_125, 1, 0, 0, 1 },
    { "64-bit length 0", 1002, "non-minimal payload length", bad_len64_0,
      1, 0, 0, 1 },
    { "64-bit length 125", 1002, "non-minimal payload length",
      bad_len64_125, 1, 0, 0, 0 },
    { "64-bit length 65535", 1002, "non-minimal payload length",
      bad_len64_65535, 1, 0, 0, 2 },
    { "64-bit length top bit", 1002, "invalid payload length",
      bad_len64_top, 1, 0, 0, 1 },
    { "64-bit length all ones", 1002, "invalid payload length",
      bad_len64_max, 1, 0, 0, 0 },
    { "invalid UTF-8", 1007, "invalid UTF-8 in text message", bad_utf8,
      1, 0, 0, 1 },
    { "surrogate", 1007, "invalid UTF-8 in text message",
      bad_utf8_surrogate, 1, 0, 0, 0 },
    { "overlong", 1007, "invalid UTF-8 in text message", bad_utf8_overlong,
      1, 0, 0, 2 },
    { "above U+10FFFF", 1007, "invalid UTF-8 in text message", bad_utf8_big,
      1, 0, 0, 1 },
    { "truncated UTF-8", 1007, "invalid UTF-8 in text message",
      bad_utf8_truncated, 1, 0, 0, 1 },
    { "truncated UTF-8 in message", 1007, "invalid UTF-8 in text message",
      bad_utf8_truncated_msg, 1, 0, 0, 0 },
    { "UTF-8 across fragments", 1007, "invalid UTF-8 in text message",
      bad_utf8_across, 1, 0, 0, 1 },
    { "UTF-8 in second fragment", 1007, "invalid UTF-8 in text message",
      bad_utf8_second, 1, 0, 0, 2 },
    { "UTF-8 in a later fragment", 1007, "invalid UTF-8 in text message",
      bad_utf8_late, 1, 0, 0, 1 },
    { "close of 1 byte", 1002, "invalid close frame payload", bad_close_1,
      1, 0, 0, 1 },
    { "close code 0", 1002, "invalid close code", bad_close_0, 1, 0, 0, 0 },
    { "close code 999", 1002, "invalid close code", bad_close_999,
      1, 0, 0, 1 },
    { "close code 1004", 1002, "invalid close code", bad_close_1004,
      1, 0, 0, 2 },
    { "close code 1005", 1002, "invalid close code", bad_close_1005,
      1, 0, 0, 1 },
    { "close code 1006", 1002, "invalid close code", bad_close_1006,
      1, 0, 0, 0 },
    { "close code 1015", 1002, "invalid close code", bad_close_1015,
      1, 0, 0, 1 },
    { "close code 1016", 1002, "invalid close code", bad_close_1016,
      1, 0, 0, 1 },
    { "close code 2999", 1002, "invalid close code", bad_close_2999,
      1, 0, 0, 1 },
    { "close code 5000", 1002, "invalid close code", bad_close_5000,
      1, 0, 0, 1 },
    { "close code 65535", 1002, "invalid close code", bad_close_65535,
      1, 0, 0, 1 },
    { "close reason", 1007, "invalid UTF-8 in close reason",
      bad_close_reason, 1, 0, 0, 1 },
    { "close reason, no text validation", 1007,
      "invalid UTF-8 in close reason", bad_close_reason, 0, 0, 0, 1 },
    { "truncated close reason", 1007, "invalid UTF-8 in close reason",
      bad_close_reason_cut, 1, 0, 0, 0 },
    { "frame too big", 1009, "frame too big", bad_frame_big,
      1, 500, 0, 1 },
    { "text frame too big", 1009, "frame too big", bad_frame_big_text,
      1, 500, 0, 0 },
    { "continuation too big", 1009, "frame too big", bad_frame_big_cont,
      1, 500, 0, 1 },
    { "ping too big", 1009, "frame too big", bad_frame_big_ping,
      1, 100, 0, 0 },
    { "message too big", 1009, "message too big", bad_msg_big,
      1, 0, 1000, 1 },
    { "text message too big", 1009, "message too big", bad_msg_big_text,
      1, 0, 1000, 0 },
    { "one-frame message too big", 1009, "message too big", bad_msg_big_one,
      1, 2000, 1000, 1 },
    { "message length overflow", 1009, "message too big", bad_msg_huge,
      1, 0, 1000, 1 },
};


/*
 * For a text message that fails UTF-8 validation in its last frame: how
 * many payload bytes of that frame were valid, and so may have been sent
 * as fragments when the frame did not fit in the buffer.
 */

static uint64_t
utf8_valid_part(const bytes_t *s, size_t from)
{
    size_t          count, rest, i, where, base;
    uint64_t        k;
    bytes_t         msg;
    unsigned char   c;
    dframe_t        f[16];
    const dframe_t *g;

    count = decode_stream(s->data + from, s->len - from, f, 16, &rest);

    memset(&msg, 0, sizeof(msg));
    base = 0;

    for (i = 0; i < count; i++) {
        g = &f[i];

        if (g->opcode & 0x8) {
            continue;
        }

        if (g->opcode != WS_OP_CONT) {
            msg.len = 0;
        }

        base = msg.len;

        for (k = 0; k < g->len; k++) {
            c = s->data[from + g->off + g->hdr_len + k];
            c ^= g->masked ? g->key[k & 3] : 0;
            bytes_put(&msg, &c, 1);
        }
    }

    if (unit_ref_utf8(msg.data, msg.len, &where) == UNIT_UTF8_REJECT) {
        k = where - base;

    } else {
        k = msg.len - base;
    }

    bytes_free(&msg);

    return k;
}


static const bad_case_t  *cur_bad;


static void
case_bad(bytes_t *s, expect_t *e, int client)
{
    size_t  n, from;

    e->name = cur_bad->name;
    e->utf8 = cur_bad->utf8;
    e->max_frame = cur_bad->max_frame;
    e->max_message = cur_bad->max_message;
    e->rc = WS_SCAN_ERROR;
    e->code = cur_bad->code;
    e->error = cur_bad->error;

    if (e->error == NULL) {
        e->error = client ? "unmasked frame" : "masked frame";
    }

    n = put_prefix(s, cur_bad->prefix);
    from = s->len;

    cur_bad->bad(s, client);
    n += bad_valid_frames(s, from);

    if (e->code == WS_CLOSE_INVALID_PAYLOAD
        && strcmp(e->error, "invalid UTF-8 in text message") == 0)
    {
        e->tail = 1;
        e->tail_max = utf8_valid_part(s, from);
    }

    /* frames after the violation: never forwarded */
    put_str(s, 1, WS_OP_TEXT, "after");
    put_frame(s, 1, WS_OP_BINARY, big, 300);

    e->nframes = n;
}


/* a text frame larger than the buffer with a bad byte far in */

static size_t  late_at;

static void
case_bad_late_in_big_text(bytes_t *s, expect_t *e, int client)
{
    unsigned char  *t;

    (void) client;

    e->name = "invalid UTF-8 late in a big text frame";
    e->rc = WS_SCAN_ERROR;
    e->code = 1007;
    e->error = "invalid UTF-8 in text message";

    t = big + 70000;
    memcpy(t, txt(3000), 3000);
    t[late_at] = 0xff;

    put_str(s, 1, WS_OP_TEXT, "first");
    put_frame(s, 1, WS_OP_TEXT, t, 3000);
    put_str(s, 1, WS_OP_TEXT, "never");

    e->nframes = 1;
    e->tail = 1;
    e->tail_max = late_at;
}


/* ---------------------------------------------------------- after an error */


static void
relay_cfg_init(relay_cfg_t *cfg, int client, size_t bufsize)
{
    memset(cfg, 0, sizeof(relay_cfg_t));
    cfg->from_client = client;
    cfg->validate_utf8 = 1;
    cfg->bufsize = bufsize;
    cfg->boundary_check = 1;
}



/*
 * After a first violation nothing more is forwarded.  If the whole
 * offending frame had arrived, parsing goes on: the offending frame is
 * skipped, later frames are checked without message sequencing, limits or
 * text validation, a close reply is reported as WS_SCAN_CLOSE and a second
 * violation ends parsing.  Otherwise parsing ends at once.
 */

typedef struct {
    const char  *name;
    int          bad;          /* which violation */
    int          then;         /* 0 close, 1 second violation, 2 nothing */
} after_case_t;


static size_t
put_violation(bytes_t *s, int which)
{
    unsigned char  pl[600];

    switch (which) {

    case 0:
        /* RSV at the first byte; the payload looks like bad frames */
        memset(pl, 0xff, 300);
        put_frame_ex(s, 0xc2, -1, pl, 300, 0, NULL);
        return 1;

    case 1:
        /* invalid UTF-8 early in a text frame; the rest looks like frames */
        memset(pl, 0xf0, 500);
        memcpy(pl, "ab\xc0", 3);
        put_frame(s, 1, WS_OP_TEXT, pl, 500);
        return 1;

    case 2:
        /* a close frame with an invalid code: found at the frame's end */
        put_close(s, 1005, "");
        return 1;

    case 3:
        /* too big for max_frame (500) */
        memset(pl, 0x88, 600);
        put_frame(s, 1, WS_OP_BINARY, pl, 600);
        return 1;

    case 4:
        /* a non-minimal length */
        memset(pl, 0x8a, 100);
        put_frame_ex(s, 0x82, -1, pl, 100, 2, NULL);
        return 1;

    default:
        /* unexpected continuation */
        put_str(s, 1, WS_OP_CONT, "\x88\x00");
        return 1;
    }
}


static void
test_after_error(void)
{
    int          client, bad, then, ok, whole;
    char         how[80];
    size_t       nprefix, nafter, bs, t, bad_end;
    bytes_t      s;
    relay_cfg_t  cfg;
    relay_res_t  r;
    unsigned     fails;
    static const size_t  steps[] = { 0, 1, 3, 64 };

    unit_ctx = "after an error";

    for (client = 0; client < 2; client++) {
        build_client = client;

        for (bad = 0; bad < 6; bad++) {
            for (then = 0; then < 3; then++) {
                memset(&s, 0, sizeof(s));

                nprefix = put_prefix(&s, 1);
                put_violation(&s, bad);
                bad_end = s.len;

                /* frames that are fine after a violation */
                put_str(&s, 1, WS_OP_CONT, "no sequencing");
                put_str(&s, 0, WS_OP_TEXT, "\xff not checked");
                put_str(&s, 1, WS_OP_BINARY, "x");
                put_frame(&s, 1, WS_OP_BINARY, big, 700);
                put_str(&s, 1, WS_OP_PING, "");
                nafter = 5;

                if (then == 0) {
                    put_close(&s, 1001, "bye");
                    nafter++;

                } else if (then == 1) {
                    put_frame_ex(&s, 0x89, !client, "", 0, 0, NULL);
                }

                /* after the end: never seen */
                if (then != 2) {
                    put_close(&s, 1000, "");
                }

                fails = 0;

                for (bs = 0; bs < NBUF_SIZES; bs++) {
                    for (t = 0; t < sizeof(steps) / sizeof(steps[0]); t++) {
                        relay_cfg_init(&cfg, client, buf_sizes[bs]);
                        cfg.max_frame = 500;
                        cfg.step = steps[t];
                        relay_run(&cfg, s.data, s.len, &r);

                        /*
                         * had the offending frame all arrived; an invalid
                         * close frame is the offender's close: nothing
                         * after it is parsed
                         */
                        whole = r.in_at_rc >= bad_end && bad != 2;

                        ok = !r.stuck && !r.broken
                             && r.rc == WS_SCAN_ERROR
                             && r.out.len == r.out_at_rc
                             && r.forwarded == nprefix
                             && r.frames == nprefix + (whole ? nafter : 0)
                             && r.can_inject && r.boundary;

                        if (!whole) {
                            ok = ok && r.nrc == 1 && r.discard;

                        } else if (then == 0) {
                            ok = ok && r.nrc == 2
                                 && r.last_rc == WS_SCAN_CLOSE
                                 && r.final_close_code == 1001 && r.discard;

                        } else if (then == 1) {
                            ok = ok && r.nrc == 2
                                 && r.last_rc == WS_SCAN_ERROR
                                 && r.final_error_code == 1002
                                 && unit_streq(r.final_error, client
                                               ? "unmasked frame"
                                               : "masked frame")
                                 && r.final_close_code == 0 && r.discard;

                        } else {
                            ok = ok && r.nrc == 1 && !r.discard;
                        }

                        if (!ok && fails++ == 0) {
                            snprintf(how, sizeof(how), "buffer %lu, pieces "
                                     "of %lu", (unsigned long) buf_sizes[bs],
                                     (unsigned long) steps[t]);
                            fprintf(stderr, "  violation %d then %d (%s, "
                                    "%s): results %u, last %d, frames %llu "
                                    "of %lu, forwarded %llu, close %u, "
                                    "error \"%s\", discard %d %s\n", bad,
                                    then, client ? "client" : "server", how,
                                    r.nrc, r.last_rc,
                                    (unsigned long long) r.frames,
                                    (unsigned long) (nprefix + nafter),
                                    (unsigned long long) r.forwarded,
                                    r.final_close_code,
                                    unit_str(r.final_error), r.discard,
                                    r.why);
                        }

                        bytes_free(&r.out);
                    }
                }

                CHECKF(fails == 0, "%s: violation %d, then %d",
                       client ? "client" : "server", bad, then);

                bytes_free(&s);
            }
        }
    }

    unit_ctx = "";
}


/* ---------------------------------------------------------- stop and drop */


static void
test_pong(void)
{
    int            client;
    size_t         step, bs, nwant;
    bytes_t        s, want;
    relay_cfg_t    cfg;
    relay_res_t    r;
    unsigned       bad;
    static const unsigned char  own[WS_PING_PAYLOAD] = "\x01ngx_ws";
    static const unsigned char  other[WS_PING_PAYLOAD] = "\x02ngx_ws";

    unit_ctx = "pong";

    for (client = 0; client < 2; client++) {
        build_client = client;

        /* text, the awaited pong, text, another pong, the awaited again */
        memset(&s, 0, sizeof(s));
        memset(&want, 0, sizeof(want));

#define KEEP(put)                                                            \
        do { size_t o_ = s.len; put; bytes_put(&want, s.data + o_,          \
                                               s.len - o_); } while (0)

        KEEP(put_str(&s, 1, WS_OP_TEXT, "hello"));
        put_frame(&s, 1, WS_OP_PONG, own, WS_PING_PAYLOAD);
        KEEP(put_frame(&s, 0, WS_OP_TEXT, "fragm", 5));
        KEEP(put_frame(&s, 1, WS_OP_PONG, other, WS_PING_PAYLOAD));
        KEEP(put_frame(&s, 1, WS_OP_PONG, own, WS_PING_PAYLOAD));
        KEEP(put_frame(&s, 1, WS_OP_CONT, "ent", 3));
        KEEP(put_frame(&s, 1, WS_OP_PONG, own, 7));

#undef KEEP
        nwant = want.len;

        bad = 0;

        for (bs = 64; bs <= 1024; bs *= 4) {
            for (step = 1; step < s.len + 1; step++) {
                relay_cfg_init(&cfg, client, bs);
                cfg.step = step;
                cfg.pong = own;
                relay_run(&cfg, s.data, s.len, &r);

                /* only the first echo of the payload is taken out */
                if (r.stuck || r.broken || r.out.len != nwant
                    || memcmp(r.out.data, want.data, nwant) != 0
                    || !r.pong_seen || r.frames != 7 || r.forwarded != 6)
                {
                    if (bad++ == 0) {
                        fprintf(stderr, "pong: buffer %lu, pieces of %lu: "
                                "%lu bytes out, want %lu, frames %lu, "
                                "forwarded %lu %s\n", (unsigned long) bs,
                                (unsigned long) step,
                                (unsigned long) r.out.len,
                                (unsigned long) nwant,
                                (unsigned long) r.frames,
                                (unsigned long) r.forwarded, r.why);
                    }
                }

                bytes_free(&r.out);
            }
        }

        CHECKF(bad == 0, "%u runs wrong (%s)", bad,
               client ? "client" : "upstream");

        /* nothing awaited: every pong passes */
        relay_cfg_init(&cfg, client, 1024);
        cfg.step = 7;
        relay_run(&cfg, s.data, s.len, &r);
        CHECK(r.out.len == s.len && memcmp(r.out.data, s.data, s.len) == 0
              && !r.pong_seen);
        bytes_free(&r.out);

        bytes_free(&s);
        bytes_free(&want);
    }

    build_client = 1;
}


static void
test_stop(void)
{
    int          client;
    size_t       n1, n2, step, at, ncuts;
    size_t       cuts[5000];
    bytes_t      s;
    relay_cfg_t  cfg;
    relay_res_t  r;
    char         why[300];
    unsigned     bad;

    unit_ctx = "stop";

    for (client = 0; client < 2; client++) {
        build_client = client;
        memset(&s, 0, sizeof(s));

        /* stop set inside a streamed binary frame: it is finished */
        put_str(&s, 1, WS_OP_TEXT, "a");
        put_frame(&s, 1, WS_OP_BINARY, big, 5000);
        n1 = s.len;
        put_str(&s, 1, WS_OP_TEXT, "not sent");
        put_frame(&s, 1, WS_OP_BINARY, big, 100);
        put_close(&s, 1000, "");

        bad = 0;

        for (step = 1; step < 2000; step += 97) {
            for (at = 100; at < n1; at += 611) {
                relay_cfg_init(&cfg, client, 1024);

                /* pieces of "step", and one ends where the frame ends */
                for (ncuts = 0; ncuts < 5000 && ncuts * step < n1; ncuts++) {
                    cuts[ncuts] = (ncuts + 1) * step;
                }

                cuts[ncuts > 0 ? ncuts - 1 : 0] = n1;
                cfg.cuts = cuts;
                cfg.ncuts = ncuts ? ncuts : 1;
                cfg.stop_on = 1;
                cfg.stop_at = at;
                relay_run(&cfg, s.data, s.len, &r);

                if (r.stuck || r.broken || r.out.len != n1
                    || memcmp(r.out.data, s.data, n1) != 0 || !r.boundary
                    || !r.can_inject
                    || r.boundary_bad)
                {
                    if (bad++ == 0) {
                        fprintf(stderr, "stop at %lu, pieces of %lu: %lu "
                                "bytes out, want %lu %s\n",
                                (unsigned long) at, (unsigned long) step,
                                (unsigned long) r.out.len,
                                (unsigned long) n1, r.why);
                    }
                }

                /* the close frame is still parsed, not forwarded */
                if (r.rc != WS_SCAN_CLOSE || r.close_code != 1000
                    || r.frames != 5 || r.forwarded != 2)
                {
                    if (bad++ == 0) {
                        fprintf(stderr, "stop at %lu: result %d, close %u, "
                                "frames %llu, forwarded %llu\n",
                                (unsigned long) at, r.rc, r.close_code,
                                (unsigned long long) r.frames,
                                (unsigned long long) r.forwarded);
                    }
                }

                bytes_free(&r.out);
            }
        }

        CHECKF(bad == 0, "%s: stop inside a binary frame",
               client ? "client" : "server");

        /* stop set while a text frame is held: none of it is sent */

        bytes_free(&s);
        put_str(&s, 1, WS_OP_PING, "x");
        n1 = s.len;
        put_frame(&s, 1, WS_OP_TEXT, txt(200), 200);
        n2 = s.len;
        put_str(&s, 1, WS_OP_TEXT, "y");

        relay_cfg_init(&cfg, client, 1024);
        cfg.step = n1 + 50;
        cfg.stop_on = 1;
        cfg.stop_at = n1 + 50;
        relay_run(&cfg, s.data, s.len, &r);

        CHECKF(!r.stuck && !r.broken && r.out.len == n1
               && memcmp(r.out.data, s.data, n1) == 0 && r.boundary
               && r.can_inject && r.rc == WS_SCAN_OK,
               "%s: stop inside a held text frame: %lu bytes out, want %lu",
               client ? "client" : "server", (unsigned long) r.out.len,
               (unsigned long) n1);
        bytes_free(&r.out);

        /* stop at a boundary: nothing more; violations still found */

        bytes_free(&s);
        put_str(&s, 1, WS_OP_TEXT, "x");
        n1 = s.len;
        put_str(&s, 1, WS_OP_TEXT, "y");
        put_frame_ex(&s, 0xc1, -1, "z", 1, 0, NULL);

        relay_cfg_init(&cfg, client, 256);
        cfg.step = n1;
        cfg.stop_on = 1;
        cfg.stop_at = n1;
        relay_run(&cfg, s.data, s.len, &r);

        CHECKF(r.out.len == n1 && r.rc == WS_SCAN_ERROR
               && r.error_code == 1002 && r.boundary && r.can_inject,
               "%s: stop at a boundary: %lu bytes out, result %d",
               client ? "client" : "server", (unsigned long) r.out.len,
               r.rc);
        bytes_free(&r.out);

        /* stop after a fragment of a re-fragmented text frame */

        bytes_free(&s);
        put_frame(&s, 1, WS_OP_TEXT, txt(2000), 2000);
        put_str(&s, 1, WS_OP_TEXT, "after");

        relay_cfg_init(&cfg, client, 256);
        cfg.step = 700;
        cfg.stop_on = 1;
        cfg.stop_at = 700;
        relay_run(&cfg, s.data, s.len, &r);

        CHECKF(!r.stuck && !r.broken && r.rc == WS_SCAN_OK && r.boundary
               && r.can_inject
               && !r.boundary_bad
               && compare_output(s.data, s.len, 0, r.out.data, r.out.len,
                                 client, 1, 1, 700, why, sizeof(why)),
               "%s: stop inside a split text frame: %s",
               client ? "client" : "server", why);
        bytes_free(&r.out);

        bytes_free(&s);
    }

    (void) n2;

    unit_ctx = "";
}


static void
test_drop(void)
{
    int          client;
    size_t       n1, step;
    bytes_t      s;
    relay_cfg_t  cfg;
    relay_res_t  r;
    unsigned     bad;

    unit_ctx = "drop";

    for (client = 0; client < 2; client++) {
        build_client = client;
        memset(&s, 0, sizeof(s));

        /* drop from the start: nothing comes out, the buffer drains */

        put_str(&s, 1, WS_OP_TEXT, "a");
        put_frame(&s, 1, WS_OP_BINARY, big, 5000);
        put_frame(&s, 1, WS_OP_TEXT, txt(3000), 3000);
        put_frame(&s, 1, WS_OP_PING, big, 125);
        put_close(&s, 1001, "bye");
        put_str(&s, 1, WS_OP_TEXT, "b");

        bad = 0;

        for (step = 1; step < 3000; step += 131) {
            relay_cfg_init(&cfg, client, 256);
            cfg.step = step;
            cfg.drop_on = 1;
            cfg.drop_at = 0;
            cfg.boundary_check = 0;
            relay_run(&cfg, s.data, s.len, &r);

            /* dropped frames are counted as received, not forwarded */

            if (r.stuck || r.broken || r.out.len != 0
                || r.rc != WS_SCAN_CLOSE || r.close_code != 1001
                || r.frames != 5 || r.forwarded != 0)
            {
                if (bad++ == 0) {
                    fprintf(stderr, "drop, pieces of %lu: %lu bytes out, "
                            "result %d, close %u, frames %llu, forwarded "
                            "%llu %s\n", (unsigned long) step,
                            (unsigned long) r.out.len, r.rc, r.close_code,
                            (unsigned long long) r.frames,
                            (unsigned long long) r.forwarded, r.why);
                }
            }

            bytes_free(&r.out);
        }

        CHECKF(bad == 0, "%s: drop from the start",
               client ? "client" : "server");

        /* dropped frames are still validated */

        bytes_free(&s);
        put_frame(&s, 1, WS_OP_TEXT, txt(300), 300);
        put_str(&s, 1, WS_OP_TEXT, "\xc0\x80");

        relay_cfg_init(&cfg, client, 256);
        cfg.step = 10;
        cfg.drop_on = 1;
        cfg.drop_at = 0;
        relay_run(&cfg, s.data, s.len, &r);

        CHECKF(r.out.len == 0 && r.rc == WS_SCAN_ERROR
               && r.error_code == 1007 && !r.stuck,
               "%s: violation while dropping: result %d, %u",
               client ? "client" : "server", r.rc, r.error_code);
        bytes_free(&r.out);

        /* drop set at a boundary mid-stream */

        bytes_free(&s);
        put_str(&s, 1, WS_OP_TEXT, "x");
        put_frame(&s, 1, WS_OP_BINARY, big, 100);
        n1 = s.len;
        put_str(&s, 1, WS_OP_TEXT, "y");
        put_frame(&s, 1, WS_OP_BINARY, big, 100);

        relay_cfg_init(&cfg, client, 1024);
        cfg.step = n1;
        cfg.drop_on = 1;
        cfg.drop_at = n1;
        relay_run(&cfg, s.data, s.len, &r);

        CHECKF(r.out.len == n1 && memcmp(r.out.data, s.data, n1) == 0
               && r.rc == WS_SCAN_OK && !r.stuck && r.frames == 4
               && r.forwarded == 2,
               "%s: drop mid-stream: %lu bytes out, want %lu",
               client ? "client" : "server", (unsigned long) r.out.len,
               (unsigned long) n1);
        bytes_free(&r.out);

        bytes_free(&s);
    }

    unit_ctx = "";
}


/* ---------------------------------------------------------- direct calls */


static unsigned char  *dmem;


static void
buf_init(ws_buf_t *b, size_t size)
{
    free(dmem);
    dmem = malloc(WS_HEADROOM + size);
    b->start = dmem + WS_HEADROOM;
    b->end = b->start + size;
    ws_buf_reset(b);
}


static void
buf_recv(ws_buf_t *b, const void *data, size_t n)
{
    memcpy(b->last, data, n);
    b->last += n;
}


static void
test_direct(void)
{
    int          rc;
    size_t       n;
    bytes_t      s;
    ws_buf_t     b;
    ws_parser_t  p;

    unit_ctx = "direct";
    build_client = 0;
    memset(&s, 0, sizeof(s));

    /* ws_parser_init */
    memset(&p, 0xa5, sizeof(p));
    ws_parser_init(&p, 1, 1, 123, 456);
    CHECK(p.from_client == 1 && p.validate_utf8 == 1 && p.max_frame == 123
          && p.max_message == 456 && p.stop == 0 && p.drop == 0
          && p.frames == 0 && p.error == NULL && p.error_code == 0
          && p.close_code == 0 && p.state == WS_ST_HEADER
          && p.msg_opcode == 0 && p.utf8 == WS_UTF8_ACCEPT);

    /* ws_buf_reset, ws_buf_empty, ws_at_boundary on an empty buffer */
    buf_init(&b, 256);
    CHECK(b.pos == b.start && b.fwd == b.start && b.scan == b.start
          && b.last == b.start && b.hold == b.start);
    CHECK(ws_buf_empty(&b));

    ws_parser_init(&p, 0, 1, 0, 0);
    CHECK(ws_at_boundary(&p, &b));
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(b.fwd == b.start);

    /* a streamed binary frame: header, then payload as it comes */
    put_frame(&s, 1, WS_OP_BINARY, big, 100);
    buf_recv(&b, s.data, 1);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(b.fwd == b.start && b.scan == b.start + 1);
    CHECK(ws_at_boundary(&p, &b));
    CHECK(!ws_buf_empty(&b));

    buf_recv(&b, s.data + 1, 11);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(b.fwd == b.start + 12 && b.scan == b.start + 12);
    CHECK(!ws_at_boundary(&p, &b));

    b.pos = b.fwd;                    /* sent */
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(!ws_at_boundary(&p, &b));   /* inside the frame */
    CHECK(ws_buf_empty(&b));
    ws_buf_reset(&b);

    buf_recv(&b, s.data + 12, s.len - 12);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(b.fwd == b.last);
    CHECK(!ws_at_boundary(&p, &b));   /* not sent yet */
    CHECK_EQ(p.frames, 1);
    b.pos = b.fwd;
    CHECK(ws_at_boundary(&p, &b));

    /* a held text frame: nothing cleared until it is complete */
    ws_buf_reset(&b);
    s.len = 0;
    put_str(&s, 1, WS_OP_TEXT, "held until complete");
    buf_recv(&b, s.data, s.len - 1);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(b.fwd == b.start && b.hold == b.start);
    CHECK(ws_at_boundary(&p, &b));
    buf_recv(&b, s.data + s.len - 1, 1);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(b.fwd == b.last);
    CHECK_EQ(p.frames, 2);

    /*
     * an error: nothing more is forwarded, but the stream is still parsed
     * (the offending frame skipped) so that a close reply can be seen
     */
    s.len = 0;
    put_str(&s, 1, WS_OP_TEXT, "ok");
    n = s.len;
    put_frame_ex(&s, 0x81, 1, "x", 1, 0, NULL);   /* masked from server */
    put_str(&s, 1, WS_OP_TEXT, "ok");
    b.pos = b.fwd;
    ws_buf_reset(&b);
    buf_recv(&b, s.data, s.len);
    rc = ws_scan(&p, &b);
    CHECK_EQ(rc, WS_SCAN_ERROR);
    CHECK_STR(p.error, "masked frame");
    CHECK_EQ(p.error_code, 1002);
    CHECK(b.fwd == b.start + n);
    CHECK_EQ(p.frames, 3);
    CHECK_EQ(p.forwarded, 3);

    rc = ws_scan(&p, &b);
    CHECK_EQ(rc, WS_SCAN_OK);
    CHECK(b.fwd == b.start + n);
    b.pos = b.fwd;
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(ws_buf_empty(&b));
    CHECK(ws_at_boundary(&p, &b));
    CHECK(ws_can_inject(&p, &b));
    CHECK_EQ(p.forwarded, 3);

    ws_buf_reset(&b);
    s.len = 0;
    put_close(&s, 1002, "");
    buf_recv(&b, s.data, s.len);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_CLOSE);
    CHECK_EQ(p.close_code, 1002);
    CHECK(b.pos == b.fwd && b.last == b.fwd);
    CHECK_EQ(p.forwarded, 3);
    CHECK_EQ(p.state, WS_ST_DISCARD);

    /* close: close_code, discard after it */
    ws_parser_init(&p, 0, 1, 0, 0);
    ws_buf_reset(&b);
    s.len = 0;
    put_close(&s, 1000, "done");
    n = s.len;
    put_str(&s, 1, WS_OP_TEXT, "after");
    buf_recv(&b, s.data, s.len);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_CLOSE);
    CHECK_EQ(p.close_code, 1000);
    CHECK(b.fwd == b.start + n && b.last == b.fwd);
    CHECK(p.error == NULL);
    buf_recv(&b, s.data + n, s.len - n);
    CHECK(ws_scan(&p, &b) != WS_SCAN_ERROR);
    CHECK(b.last == b.fwd && b.fwd == b.start + n);

    /* ws_stop() inside a streamed frame: takes effect at its end */
    ws_parser_init(&p, 0, 1, 0, 0);
    ws_buf_reset(&b);
    s.len = 0;
    put_frame(&s, 1, WS_OP_BINARY, big, 50);
    n = s.len;
    put_str(&s, 1, WS_OP_TEXT, "after");
    buf_recv(&b, s.data, 20);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    b.pos = b.fwd;
    CHECK(!ws_can_inject(&p, &b));
    ws_stop(&p);
    CHECK(!ws_can_inject(&p, &b));
    CHECK(!ws_at_boundary(&p, &b));
    buf_recv(&b, s.data + 20, s.len - 20);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(b.fwd == b.start + n);
    CHECK(!ws_can_inject(&p, &b));    /* the end of the frame is unsent */
    b.pos = b.fwd;
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(ws_can_inject(&p, &b));
    CHECK(ws_at_boundary(&p, &b));
    CHECK(b.fwd == b.pos && ws_buf_empty(&b));
    CHECK_EQ(p.frames, 2);
    CHECK_EQ(p.forwarded, 1);

    /* ws_stop() at a boundary: at once */
    ws_parser_init(&p, 0, 1, 0, 0);
    ws_buf_reset(&b);
    CHECK(!ws_can_inject(&p, &b));
    ws_stop(&p);
    CHECK(ws_can_inject(&p, &b));
    buf_recv(&b, s.data, s.len);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(b.pos == b.fwd && ws_buf_empty(&b));
    CHECK(ws_can_inject(&p, &b));
    CHECK_EQ(p.frames, 2);
    CHECK_EQ(p.forwarded, 0);

    /* ws_discard_output(): what was cleared and not sent is dropped */
    ws_parser_init(&p, 0, 1, 0, 0);
    ws_buf_reset(&b);
    buf_recv(&b, s.data, 30);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(b.fwd == b.start + 30);
    ws_discard_output(&p, &b);
    CHECK(b.pos == b.fwd);
    CHECK(ws_can_inject(&p, &b));
    buf_recv(&b, s.data + 30, s.len - 30);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(b.pos == b.fwd && ws_buf_empty(&b));
    CHECK_EQ(p.frames, 2);

    /*
     * a first violation in drop mode that fills the buffer to its end:
     * the skipped frame is dropped by the same call, the buffer is empty
     * (the relay, which has queued its close already, does not scan again)
     */
    ws_parser_init(&p, 0, 1, 0, 0);
    ws_buf_reset(&b);
    ws_discard_output(&p, &b);
    s.len = 0;
    put_frame(&s, 1, WS_OP_BINARY, big, 250);
    put_frame_ex(&s, 0x8f, 0, NULL, 0, 0, NULL);  /* unknown opcode */
    CHECK_EQ(s.len, 256);
    buf_recv(&b, s.data, s.len);
    CHECK(b.last == b.end);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_ERROR);
    CHECK_STR(p.error, "unknown opcode");
    CHECK(p.state == WS_ST_HEADER && p.failed);
    CHECK(b.pos == b.fwd && b.scan == b.last);
    CHECK(ws_buf_empty(&b));
    CHECK(ws_can_inject(&p, &b));
    ws_buf_reset(&b);
    s.len = 0;
    put_close(&s, 1002, "");
    buf_recv(&b, s.data, s.len);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_CLOSE);
    CHECK_EQ(p.close_code, 1002);
    CHECK_EQ(p.forwarded, 0);

    /* with no buffer at all */
    ws_parser_init(&p, 0, 1, 0, 0);
    memset(&b, 0, sizeof(b));
    ws_discard_output(&p, &b);
    CHECK(p.drop);

    bytes_free(&s);
    free(dmem);
    dmem = NULL;

    unit_ctx = "";
}


/* ---------------------------------------------------------- random streams */


/*
 * Random valid streams: messages of random type and size, fragmented or
 * not, control frames between fragments; random buffer sizes and pieces.
 */

static void
test_random_streams(void)
{
    int            client, round, frag, nfr, k;
    size_t         len, nframes, bufsize;
    unsigned       op, bad;
    bytes_t        s;
    expect_t       e;
    relay_cfg_t    cfg;
    relay_res_t    r;
    char           why[300];

    unit_ctx = "random streams";
    bad = 0;

    for (round = 0; round < 400; round++) {
        client = round & 1;
        build_client = client;
        memset(&s, 0, sizeof(s));
        nframes = 0;

        while (nframes < 30 && s.len < 40000) {
            switch (unit_rand_range(6)) {

            case 0:
                put_frame(&s, 1, WS_OP_PING + (unsigned) unit_rand_range(2),
                          big, unit_rand_range(126));
                nframes++;
                break;

            default:
                op = unit_rand_range(2) ? WS_OP_TEXT : WS_OP_BINARY;
                frag = unit_rand_range(3) == 0;
                nfr = frag ? 1 + (int) unit_rand_range(4) : 1;

                for (k = 0; k < nfr; k++) {
                    len = unit_rand_range(4) == 0 ? unit_rand_range(5000)
                                                  : unit_rand_range(200);
                    put_frame(&s, k == nfr - 1, k ? WS_OP_CONT : op,
                              op == WS_OP_TEXT ? txt(len)
                                  : big + unit_rand_range(20000), len);
                    nframes++;

                    if (frag && unit_rand_range(2)) {
                        put_frame(&s, 1, WS_OP_PONG, big,
                                  unit_rand_range(126));
                        nframes++;
                    }
                }

                break;
            }
        }

        bufsize = 256 + unit_rand_range(4000);

        relay_cfg_init(&cfg, client, bufsize);
        cfg.rand_max = 1 + unit_rand_range(3000);
        cfg.rand_seed = unit_rand();
        cfg.send_max = (round & 2) ? 1 + unit_rand_range(500) : 0;
        relay_run(&cfg, s.data, s.len, &r);

        memset(&e, 0, sizeof(e));
        e.utf8 = 1;

        if (r.stuck || r.broken || r.rc != WS_SCAN_OK
            || r.frames != nframes || !r.boundary || r.boundary_bad
            || r.can_inject || r.forwarded != count_frames(&r.out)
            || !compare_output(s.data, s.len, nframes, r.out.data, r.out.len,
                               client, 1, 0, 0, why, sizeof(why)))
        {
            if (bad++ == 0) {
                fprintf(stderr, "random stream %d (%s, buffer %lu, %lu "
                        "bytes, pieces <= %lu): result %d \"%s\", frames "
                        "%llu of %lu %s %s\n", round,
                        client ? "client" : "server",
                        (unsigned long) bufsize, (unsigned long) s.len,
                        (unsigned long) cfg.rand_max, r.rc,
                        unit_str(r.error), (unsigned long long) r.frames,
                        (unsigned long) nframes, r.why, why);
            }
        }

        bytes_free(&r.out);
        bytes_free(&s);
    }

    CHECKF(bad == 0, "%u of 400 random streams failed", bad);

    unit_ctx = "";
}


/*
 * ws_pause(): a frame of the proxy's own goes between two frames while
 * forwarding goes on, never inside one
 */

static void
test_data_frames(void)
{
    bytes_t      s;
    ws_buf_t     b;
    ws_parser_t  p;

    /* data frames (text, binary, continuation) apart from control ones */

    unit_ctx = "data frames";
    build_client = 1;
    memset(&s, 0, sizeof(s));

    put_str(&s, 0, WS_OP_TEXT, "frag");
    put_str(&s, 1, WS_OP_PING, "p");
    put_str(&s, 1, WS_OP_CONT, "ment");
    put_str(&s, 1, WS_OP_PONG, "");
    put_str(&s, 1, WS_OP_BINARY, "x");

    buf_init(&b, 4096);
    ws_parser_init(&p, 1, 1, 0, 0);

    buf_recv(&b, s.data, s.len);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK_EQ(p.frames, 5);
    CHECK_EQ(p.data_frames, 3);
    CHECK_EQ(p.messages, 2);

    bytes_free(&s);
    unit_ctx = "";
}


static void
test_pause(void)
{
    size_t       a, t1;
    bytes_t      s;
    ws_buf_t     b;
    ws_parser_t  p;

    unit_ctx = "pause";
    build_client = 1;
    memset(&s, 0, sizeof(s));

    /* A: a streamed binary frame, B: a text frame, C: a ping */
    put_frame(&s, 1, WS_OP_BINARY, big, 1000);
    a = s.len;
    put_str(&s, 1, WS_OP_TEXT, "after the ping");
    put_str(&s, 1, WS_OP_PING, "p");

    buf_init(&b, 4096);
    ws_parser_init(&p, 1, 1, 0, 0);

    buf_recv(&b, s.data, 508);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(b.fwd == b.start + 508);
    b.pos = b.fwd;                           /* sent */

    /* queued inside A: the scanner finishes A and begins nothing more */
    ws_pause(&p);
    CHECK(!ws_at_boundary(&p, &b));
    buf_recv(&b, s.data + 508, s.len - 508);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(b.fwd == b.start + a && b.scan == b.start + a);
    CHECK_EQ(p.frames, 1);
    CHECK(!ws_at_boundary(&p, &b));          /* the rest of A is unsent */
    b.pos = b.fwd;
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(b.scan == b.start + a);
    CHECK(ws_at_boundary(&p, &b));           /* the ping goes here */
    CHECK(!ws_can_inject(&p, &b));           /* forwarding goes on */

    ws_resume(&p);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(b.fwd == b.last);
    CHECK_EQ(p.frames, 3);
    CHECK_EQ(p.forwarded, 3);

    /* queued while a held text frame arrives: the ping goes before it */
    s.len = 0;
    put_str(&s, 1, WS_OP_TEXT, "held until complete");
    t1 = s.len;
    ws_buf_reset(&b);
    buf_recv(&b, s.data, t1 - 3);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    ws_pause(&p);
    CHECK(ws_at_boundary(&p, &b));
    buf_recv(&b, s.data + t1 - 3, 3);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);   /* completed while paused */
    CHECK(b.fwd == b.start + t1);
    CHECK_EQ(p.frames, 4);
    ws_resume(&p);

    /* a paused parser still takes the verdict of the frame it is in */
    s.len = 0;
    put_frame(&s, 1, WS_OP_TEXT, "ab\xff", 3);
    b.pos = b.fwd;
    ws_buf_reset(&b);
    buf_recv(&b, s.data, s.len - 1);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    ws_pause(&p);
    buf_recv(&b, s.data + s.len - 1, 1);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_ERROR);
    CHECK_STR(p.error, "invalid UTF-8 in text message");

    /* ws_discard_output() ends a pause */
    ws_discard_output(&p, &b);
    CHECK(!p.pause);

    bytes_free(&s);
    unit_ctx = "";
}


/* the message gate: p->messages and p->max_messages */

static void
test_gate(void)
{
    size_t       m1, m2, m3;
    bytes_t      s;
    ws_buf_t     b;
    ws_parser_t  p;

    unit_ctx = "gate";
    build_client = 0;
    memset(&s, 0, sizeof(s));

    put_str(&s, 1, WS_OP_TEXT, "one");
    put_str(&s, 1, WS_OP_PING, "control frames pass");
    m1 = s.len;
    put_str(&s, 0, WS_OP_BINARY, "two, ");
    put_str(&s, 1, WS_OP_PONG, "");
    put_str(&s, 0, WS_OP_CONT, "fragmented, ");
    put_str(&s, 1, WS_OP_CONT, "counts once");
    m2 = s.len;
    put_str(&s, 1, WS_OP_TEXT, "three");
    m3 = s.len;
    put_str(&s, 1, WS_OP_TEXT, "four");

    buf_init(&b, 1024);
    ws_parser_init(&p, 0, 1, 0, 0);
    p.max_messages = 1;
    p.limited = 1;

    buf_recv(&b, s.data, s.len);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(p.gated);
    CHECK_EQ(p.messages, 1);
    CHECK(b.fwd == b.start + m1 && b.scan == b.start + m1);
    CHECK_EQ(p.frames, 2);

    /* scanned again without a raise: held still */
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(p.gated && b.scan == b.start + m1);

    p.max_messages = 2;
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(p.gated);
    CHECK_EQ(p.messages, 2);
    CHECK(b.fwd == b.start + m2);
    CHECK_EQ(p.frames, 6);

    p.max_messages = 3;
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(p.gated && b.fwd == b.start + m3);

    /* no gate after a stop: the close reply must still be seen */
    ws_stop(&p);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(!p.gated && b.scan == b.last);
    CHECK_EQ(p.messages, 4);
    CHECK_EQ(p.frames, 8);

    /* no limit: counted, never held */
    s.len = 0;
    put_str(&s, 1, WS_OP_BINARY, "a");
    put_str(&s, 1, WS_OP_TEXT, "b");
    ws_parser_init(&p, 0, 1, 0, 0);
    ws_buf_reset(&b);
    buf_recv(&b, s.data, s.len);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(!p.gated && b.fwd == b.last);
    CHECK_EQ(p.messages, 2);
    CHECK(!ws_message_pending(&p));

    /*
     * a header cut by the end of the read: a text or binary frame that
     * begins a message is pending (it passed the gate, p->messages counts
     * it when the rest comes, the gate is not met again); a control frame
     * or a continuation is not
     */
    s.len = 0;
    put_str(&s, 1, WS_OP_TEXT, "cut");
    m1 = s.len;
    put_str(&s, 0, WS_OP_BINARY, "frag");
    m2 = s.len;
    put_str(&s, 1, WS_OP_PING, "p");
    m3 = s.len;
    put_str(&s, 1, WS_OP_CONT, "end");
    ws_parser_init(&p, 0, 1, 0, 0);
    ws_buf_reset(&b);
    p.limited = 1;
    p.max_messages = 1;

    buf_recv(&b, s.data, 1);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(!p.gated && p.messages == 0 && ws_message_pending(&p));
    p.max_messages = 0;                      /* the grant lapses */
    buf_recv(&b, s.data + 1, m1 - 1);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(!p.gated && p.messages == 1 && !ws_message_pending(&p));
    CHECK(b.fwd == b.start + m1);

    p.max_messages = 2;
    buf_recv(&b, s.data + m1, m2 - m1);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(p.messages == 2 && !ws_message_pending(&p));
    buf_recv(&b, s.data + m2, 1);             /* a ping's first byte */
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(!ws_message_pending(&p));
    buf_recv(&b, s.data + m2 + 1, m3 - m2);   /* the rest, a CONT's first */
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(p.frames == 3 && !ws_message_pending(&p));
    buf_recv(&b, s.data + m3 + 1, s.len - m3 - 1);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(p.frames == 4 && p.messages == 2 && b.fwd == b.last);

    /*
     * the messages that begin in what was read, from the gate on: text
     * and binary frames outside a fragmented message, a cut header whose
     * first byte begins one; not continuations or control frames, and
     * nothing beyond a payload that goes on past the read
     */
    build_client = 1;
    s.len = 0;
    put_str(&s, 1, WS_OP_TEXT, "one");
    put_str(&s, 1, WS_OP_PING, "");
    put_str(&s, 0, WS_OP_BINARY, "two, ");
    put_str(&s, 0, WS_OP_CONT, "fragmented");
    put_str(&s, 1, WS_OP_PONG, "");
    put_str(&s, 1, WS_OP_CONT, "");
    put_frame(&s, 1, WS_OP_BINARY, big, 300);
    m1 = s.len;
    put_str(&s, 1, WS_OP_TEXT, "four");
    m2 = s.len;
    put_frame(&s, 1, WS_OP_BINARY, big, 70000);
    m3 = s.len;
    put_str(&s, 1, WS_OP_TEXT, "beyond");

    ws_parser_init(&p, 1, 1, 0, 0);
    buf_init(&b, 140000);
    p.limited = 1;
    p.max_messages = 0;

    buf_recv(&b, s.data, s.len);
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(p.gated && b.scan == b.start);
    CHECK_EQ(ws_messages_ahead(&p, &b, 64), 6);
    CHECK_EQ(ws_messages_ahead(&p, &b, 2), 2);
    b.last = b.start + m1 + 1;                /* a cut header */
    CHECK_EQ(ws_messages_ahead(&p, &b, 64), 4);
    b.last = b.start + m1;
    CHECK_EQ(ws_messages_ahead(&p, &b, 64), 3);
    b.last = b.start + m2 + 1000;             /* a payload read in part */
    CHECK_EQ(ws_messages_ahead(&p, &b, 64), 5);
    b.last = b.start + m3;
    CHECK_EQ(ws_messages_ahead(&p, &b, 64), 5);
    b.last = b.start + 1;                     /* the gate's first byte */
    CHECK_EQ(ws_messages_ahead(&p, &b, 64), 1);

    b.last = b.start + s.len;
    p.max_messages = 6;
    CHECK_EQ(ws_scan(&p, &b), WS_SCAN_OK);
    CHECK(!p.gated && p.messages == 6 && b.scan == b.last);

    bytes_free(&s);
    unit_ctx = "";
}


int
main(void)
{
    size_t  i;

    /* valid UTF-8 (mostly ASCII) to take payloads from */
    unit_make_text(big, sizeof(big) - 16, 80);

    test_direct();
    test_data_frames();
    test_pause();
    test_gate();

    run_case(case_small_frames);
    run_case(case_control_125);
    run_case(case_fragmented);
    run_case(case_close_normal);
    run_case(case_close_empty);
    run_case(case_close_codes);
    run_case(case_close_3000);
    run_case(case_many_tiny);
    run_case(case_incomplete_end);
    run_case(case_text_over_buffer);
    run_case(case_text_no_utf8);
    run_case(case_limits_ok);
    run_case(case_big_binary);
    run_case(case_big_text);

    for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
        cur_bad = &bad_cases[i];
        run_case(case_bad);
    }

    late_at = 2500;
    run_case(case_bad_late_in_big_text);
    late_at = 300;
    run_case(case_bad_late_in_big_text);

    test_after_error();
    test_stop();
    test_pong();
    test_drop();
    test_random_streams();

    /* the pings and the gate of check_stream() happened */
    unit_ctx = "pings and gate";
    CHECK(total_pings > 1000);
    CHECK(total_gates > 1000);
    unit_ctx = "";

    fprintf(stderr, "%lu relay runs, %lu pings, %lu gates\n", runs,
            total_pings, total_gates);

    return unit_done();
}
