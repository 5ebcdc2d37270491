
/*
 * Copyright (C) the ngx_ws authors
 *
 * libFuzzer target for the relay scanner, ws_scan().
 *
 * The first bytes of the input choose the settings: direction, UTF-8
 * validation, frame and message limits, buffer size (256 and more), how the
 * stream is cut into pieces, whether the relay calls ws_stop() (it wants
 * to inject a close) or ws_discard_output() (the destination is gone) part
 * way, or queues pings of its own while frames flow (ws_pause(), the ping
 * written where ws_at_boundary() says, ws_resume()), and whether a message
 * gate (max_messages) holds the stream until the relay raises it.  The rest is either the wire stream itself or a list of frame
 * records that are turned into a stream (mostly valid frames, masked as the
 * direction wants, so that deep states are reached).  The stream is run
 * through a model of the relay (receive into [last, end), ws_scan(), send
 * [pos, fwd), ws_scan(), reset when empty) and checked against an
 * independent reference validator:
 *
 *   - start - WS_HEADROOM <= pos <= fwd <= scan <= last <= end and
 *     start <= hold <= scan after every call;
 *   - the result (OK, CLOSE with its code, ERROR with its code and reason)
 *     is the reference's, and so is the count of valid frames;
 *   - the output is a valid frame stream: the valid frames of the input, as
 *     they were or (text frames) re-fragmented with the same payload bytes,
 *     and nothing of an invalid frame except validated text bytes;
 *   - the unmasked payloads of the output are the reference's;
 *   - nothing is forwarded after CLOSE or ERROR and the output then ends at
 *     a frame boundary; the model never stops making progress;
 *   - a queued ping goes out, between two whole frames of the output, and
 *     no frame is begun while it waits (in drop mode parsing goes on);
 *   - the gate holds only before a text or binary frame that would begin
 *     a message beyond max_messages, and no more messages are begun.
 *
 * Any failure calls abort().
 *
 * Settings, the first 7 bytes:
 *   0: bit 0 client (masked frames), bit 1 no UTF-8 validation, bit 2 raw
 *      stream (else records, see make_stream()), bit 3 max_frame, bit 4
 *      max_message, bits 5-7 a message gate raised by that many (0: none);
 *   1: buffer size: below 0xe0 256 + 53 * value, else one of sizes[];
 *   2: max_frame = 7 * value + 1;  3: max_message = 29 * value + 1;
 *   4: bits 6-7 pieces: 0 all the free space, 1 fixed (bits 0-5), 2 random
 *      (up to bits 0-5), 3 one byte at a time;
 *   5: bits 6-7: 1 ws_stop(), 2 ws_discard_output(), called when bits 0-5
 *      64ths of the stream were received; 3 a ping queued whenever
 *      1 + bits 0-5 times (1 + stream / 256) more bytes were received;
 *   6: sends: 0 all of [pos, fwd) at once, else random partial sends of up
 *      to 3 * value bytes (a socket that takes only part).
 *
 * So that a long stream costs a few thousand reads and sends, not one per
 * byte, pieces are at least 1/2048 of the stream and partial sends up to
 * at least 1/1024 of it; and records make at most 80 KiB of stream (room
 * for frames with 64-bit lengths).  With FUZZ_FRAME_FULL=1 in the
 * environment pieces and sends are as the settings say, whatever the
 * stream's length, and records make up to 512 KiB (slower).
 *
 * Build and run (from the repository root):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -fno-sanitize-recover=all -I ngx_ws_module -o fuzz_frame \
 *       fuzz/fuzz_frame.c ngx_ws_module/ws_frame.c ngx_ws_module/ws_utf8.c \
 *       ngx_ws_module/ws_handshake.c
 *   mkdir -p corpus-run && cp -R fuzz/corpus/frame/. corpus-run/
 *   ./fuzz_frame -max_total_time=300 corpus-run
 *
 * or "make fuzz".  A crash input is replayed with ./fuzz_frame FILE (also
 * with FUZZ_FRAME_FULL=1 if it was found so); set FUZZ_FRAME_VERBOSE=1 in
 * the environment to see the settings and results.
 * The seeds are written by fuzz/make_seeds.py.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#include "ws_core.h"


#define MAX_STREAM   (512 * 1024)
/* the records' stream, unless FUZZ_FRAME_FULL is set */
#define STREAM       (80 * 1024)
#define MAX_FRAMES   65536
#define SETTINGS     7


static int     verbose = -1;
static int     full = -1;
static size_t  max_stream = STREAM;


static void
fail(const char *what)
{
    fprintf(stderr, "fuzz_frame: %s\n", what);
    abort();
}


#define CHECK(expr)                                                          \
    do {                                                                     \
        if (!(expr)) {                                                       \
            fail(#expr);                                                     \
        }                                                                    \
    } while (0)


/* ---------------------------------------------------------- settings */


typedef struct {
    int        from_client;
    int        validate_utf8;
    uint64_t   max_frame;
    uint64_t   max_message;
    size_t     bufsize;
    int        piece_mode;     /* 0 all free space, 1 fixed, 2 random */
    size_t     piece;
    uint64_t   seed;
    int        action;         /* 0 none, 1 stop, 2 discard, 3 pings */
    size_t     action_at;
    size_t     ping_every;
    uint64_t   gate;           /* max_messages step, 0: none */
    size_t     send_max;       /* 0: send all */
    int        structured;
} settings_t;


/* ---------------------------------------------------------- stream maker */


static unsigned char  stream[MAX_STREAM + 64];
/* fragment headers make the output a little longer than the input */
static unsigned char  outbuf[2 * MAX_STREAM];


static uint64_t
xorshift(uint64_t *s)
{
    uint64_t  x;

    x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;

    return x * 0x2545f4914f6cdd1dULL;
}


/*
 * Byte work over the stream (up to MAX_STREAM bytes from a 4 KiB input) is
 * done a word at a time and without coverage instrumentation: the harness's
 * own loops are not what the fuzzer should explore, and they were most of
 * the time of an execution.
 */

#define HARNESS  __attribute__((noinline, no_sanitize("coverage")))


/* p[k] ^= key[(off + k) & 3] */

static HARNESS void
xor_mask(unsigned char *p, size_t n, const unsigned char *key, uint64_t off)
{
    size_t         k, j;
    uint64_t       w, kw;
    unsigned char  kb[8];

    for (j = 0; j < 8; j++) {
        kb[j] = key[(off + j) & 3];
    }

    memcpy(&kw, kb, 8);

    for (k = 0; k + 8 <= n; k += 8) {
        memcpy(&w, p + k, 8);
        w ^= kw;
        memcpy(p + k, &w, 8);
    }

    for ( /* void */ ; k < n; k++) {
        p[k] ^= kb[k & 7];
    }
}


/* dst[k] = pat[k % pn] for k < n, pn > 0 */

static HARNESS void
fill_pattern(unsigned char *dst, size_t n, const unsigned char *pat,
    size_t pn)
{
    size_t  have, c;

    have = (pn < n) ? pn : n;
    memcpy(dst, pat, have);

    /* "have" stays a multiple of pn until the end */

    while (have < n) {
        c = (have < n - have) ? have : n - have;
        memcpy(dst + have, dst, c);
        have += c;
    }
}


/*
 * How many bytes at p, a payload offset that is a multiple of 4, are ASCII
 * once unmasked, counted 8 at a time: a fast path of the reference's UTF-8
 * check, which decodes the rest one byte at a time.
 */

static HARNESS size_t
ascii_run(const unsigned char *p, size_t n, const unsigned char *key)
{
    size_t    k;
    uint64_t  w, kw;

    if (key) {
        memcpy(&kw, key, 4);
        memcpy((unsigned char *) &kw + 4, key, 4);

    } else {
        kw = 0;
    }

    for (k = 0; k + 8 <= n; k += 8) {
        memcpy(&w, p + k, 8);

        if ((w ^ kw) & 0x8080808080808080ULL) {
            break;
        }
    }

    return k;
}


/*
 * Records: h0 h1 [ext] payload, mostly valid frames.  h0: bit 7 FIN of a
 * data frame, bits 4-6 all set or 110 give an RSV bit, bits 0-3 choose
 * the opcode from op_map (13, 14: unknown opcodes, 15: a ping without
 * FIN).  h1: bits 6-7 11 flip the masking the direction wants, 01 ask for
 * a non-minimal length encoding; bits 0-5 the length: 0..59 as is, 60: 125,
 * 61: 126, 62: next two bytes, 63: next two bytes times 16.  The payload
 * of lengths up to 126 comes from the input (filled up with 'x' at its
 * end); for 62 and 63 a count byte follows the length and that many input
 * bytes are repeated to fill the payload ('x' if none).
 */

static const unsigned char  op_map[16] = {
    1, 2, 0, 0, 9, 10, 8, 1, 2, 0, 0, 1, 2, 3, 11, 9
};


static HARNESS size_t
make_stream(const settings_t *st, const uint8_t *d, size_t n)
{
    int            masked, nonmin;
    size_t         i, o, hl, len, k, code, pat;
    unsigned       op, fin, rsv;
    uint64_t       rs;
    unsigned char  key[4], h0, h1;

    i = 0;
    o = 0;
    pat = 0;
    rs = st->seed | 1;
    memset(key, 0, 4);

    while (i + 2 <= n) {
        h0 = d[i++];
        h1 = d[i++];
        code = h1 & 0x3f;

        if (code < 60) {
            len = code;

        } else if (code == 60) {
            len = 125;

        } else if (code == 61) {
            len = 126;

        } else {
            if (i + 2 > n) {
                break;
            }

            len = (size_t) d[i] << 8 | d[i + 1];
            i += 2;

            if (code == 63) {
                len *= 16;
            }

            pat = (i < n) ? d[i++] : 0;

            if (pat > n - i) {
                pat = n - i;
            }

            if (pat > len) {
                pat = len;
            }
        }

        masked = st->from_client ^ ((h1 & 0xc0) == 0xc0);
        nonmin = (h1 & 0xc0) == 0x40;

        if (o + WS_MAX_HEADER + len > max_stream) {
            break;
        }

        op = op_map[h0 & 0x0f];
        fin = (op & 0x8) ? ((h0 & 0x0f) != 15) : (h0 >> 7);
        rsv = ((h0 & 0x70) == 0x70) ? 0x40 : ((h0 & 0x70) == 0x60) ? 0x10 : 0;

        stream[o] = (unsigned char) ((fin ? 0x80 : 0) | rsv | op);
        hl = 2;

        if (len < 126 && !nonmin) {
            stream[o + 1] = (unsigned char) len;

        } else if (len < 65536 && !(nonmin && len >= 126)) {
            stream[o + 1] = 126;
            stream[o + 2] = (unsigned char) (len >> 8);
            stream[o + 3] = (unsigned char) len;
            hl = 4;

        } else {
            stream[o + 1] = 127;

            for (k = 0; k < 8; k++) {
                stream[o + 2 + k] = (unsigned char) ((uint64_t) len
                                                     >> (56 - 8 * k));
            }

            hl = 10;
        }

        if (masked) {
            stream[o + 1] |= 0x80;
            rs ^= xorshift(&rs);
            key[0] = (unsigned char) rs;
            key[1] = (unsigned char) (rs >> 8);
            key[2] = (unsigned char) (rs >> 16);
            key[3] = (unsigned char) (rs >> 24);

            /* zero keys now and then */
            if ((rs >> 32) % 8 == 0) {
                memset(key, 0, 4);
            }

            memcpy(stream + o + hl, key, 4);
            hl += 4;
        }

        o += hl;

        if (code < 62) {
            k = (n - i < len) ? n - i : len;
            memcpy(stream + o, d + i, k);
            memset(stream + o + k, 'x', len - k);
            i += k;

        } else if (pat) {
            fill_pattern(stream + o, len, d + i, pat);

        } else {
            memset(stream + o, 'x', len);
        }

        if (masked) {
            xor_mask(stream + o, len, key, 0);
        }

        o += len;

        if (code >= 62) {
            i += pat;
        }
    }

    return o;
}


/* ---------------------------------------------------------- reference */


typedef struct {
    unsigned  need;       /* continuation bytes still needed */
    unsigned  lo, hi;     /* range of the next continuation byte */
} ref_u8_t;


/* 1: the byte is fine; 0: invalid */

static int
ref_u8_byte(ref_u8_t *u, unsigned c)
{
    if (u->need) {
        if (c < u->lo || c > u->hi) {
            return 0;
        }

        u->need--;
        u->lo = 0x80;
        u->hi = 0xbf;

        return 1;
    }

    u->lo = 0x80;
    u->hi = 0xbf;

    if (c < 0x80) {
        return 1;
    }

    if (c >= 0xc2 && c <= 0xdf) {
        u->need = 1;
        return 1;
    }

    if (c >= 0xe0 && c <= 0xef) {
        u->need = 2;

        if (c == 0xe0) {
            u->lo = 0xa0;

        } else if (c == 0xed) {
            u->hi = 0x9f;
        }

        return 1;
    }

    if (c >= 0xf0 && c <= 0xf4) {
        u->need = 3;

        if (c == 0xf0) {
            u->lo = 0x90;

        } else if (c == 0xf4) {
            u->hi = 0x8f;
        }

        return 1;
    }

    return 0;
}


typedef struct {
    size_t         off;        /* in the stream */
    size_t         hdr_len;
    unsigned       fin, opcode, masked;
    unsigned char  key[4];
    uint64_t       len;
    int            text;       /* part of a text message */
} rframe_t;


typedef struct {
    int            rc;
    unsigned       code;       /* close code or error code */
    const char    *error;

    size_t         nvalid;     /* complete valid frames before the end */
    rframe_t      *frames;     /* nvalid + 1: the last one is the tail */

    /* the tail: the frame at which the stream ended or failed */
    int            tail;       /* its header is complete and valid */
    uint64_t       tail_avail; /* payload bytes of it that came */
    uint64_t       tail_valid; /* of them, valid UTF-8 (text) */
    int            tail_held;  /* held (text or control) */

    /* after a violation: the outcome of parsing on (see ws_core.h) */
    int            final_rc;   /* ERROR (only the first), CLOSE, ERROR */
    unsigned       final_code;
    const char    *final_error;
    int            discard;    /* parsing ended */
    uint64_t       total;      /* frames counted by the parser */
    size_t         bad_end;    /* end of the offending frame in the stream */
} ref_t;


static rframe_t  rframes[MAX_FRAMES + 1];


static void
ref_fail(ref_t *r, unsigned code, const char *error)
{
    r->rc = WS_SCAN_ERROR;
    r->code = code;
    r->error = error;
}


static int
close_code_valid(unsigned c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014)
           || (c >= 3000 && c <= 4999);
}


/*
 * Validates the stream as RFC 6455 and docs/design.md say, reporting a
 * violation at the first byte that shows it.
 */

static void
reference(const settings_t *st, const unsigned char *s, size_t n, ref_t *r)
{
    int             control, text;
    size_t          off, h, i, have;
    unsigned        b0, b1, op, fin, msg_op, code, len7;
    uint64_t        len, msg_len, k;
    ref_u8_t        u, uc;
    rframe_t       *f;
    unsigned char   c, pl[WS_MAX_CONTROL_PAYLOAD];

    memset(r, 0, sizeof(ref_t));
    r->rc = WS_SCAN_OK;
    r->frames = rframes;

    off = 0;
    msg_op = 0;
    msg_len = 0;
    memset(&u, 0, sizeof(u));

    while (off < n && r->nvalid < MAX_FRAMES) {
        f = &rframes[r->nvalid];
        memset(f, 0, sizeof(rframe_t));
        f->off = off;
        have = n - off;

        b0 = s[off];
        fin = b0 >> 7;
        op = b0 & 0x0f;
        control = (op & 0x8) != 0;

        if (b0 & 0x70) {
            ref_fail(r, 1002, "reserved bits set");
            return;
        }

        if ((op > 2 && op < 8) || op > 0xa) {
            ref_fail(r, 1002, "unknown opcode");
            return;
        }

        if (control && !fin) {
            ref_fail(r, 1002, "fragmented control frame");
            return;
        }

        if (op == 0 && msg_op == 0) {
            ref_fail(r, 1002, "unexpected continuation frame");
            return;
        }

        if ((op == 1 || op == 2) && msg_op != 0) {
            ref_fail(r, 1002, "data frame inside fragmented message");
            return;
        }

        if (have < 2) {
            return;
        }

        b1 = s[off + 1];
        f->masked = b1 >> 7;

        if (st->from_client && !f->masked) {
            ref_fail(r, 1002, "unmasked frame");
            return;
        }

        if (!st->from_client && f->masked) {
            ref_fail(r, 1002, "masked frame");
            return;
        }

        len7 = b1 & 0x7f;

        if (control && len7 > 125) {
            ref_fail(r, 1002, "control frame too long");
            return;
        }

        h = 2;
        len = len7;

        if (len7 == 126) {
            if (have < 4) {
                return;
            }

            len = (uint64_t) s[off + 2] << 8 | s[off + 3];
            h = 4;

            if (len < 126) {
                ref_fail(r, 1002, "non-minimal payload length");
                return;
            }

        } else if (len7 == 127) {
            if (have < 10) {
                return;
            }

            if (s[off + 2] & 0x80) {
                ref_fail(r, 1002, "invalid payload length");
                return;
            }

            len = 0;

            for (i = 0; i < 8; i++) {
                len = len << 8 | s[off + 2 + i];
            }

            h = 10;

            if (len < 65536) {
                ref_fail(r, 1002, "non-minimal payload length");
                return;
            }
        }

        if (st->max_frame && len > st->max_frame) {
            ref_fail(r, 1009, "frame too big");
            return;
        }

        if (!control && st->max_message
            && (len > st->max_message
                || (op == 0 ? msg_len : 0) > st->max_message - len))
        {
            ref_fail(r, 1009, "message too big");
            return;
        }

        if (f->masked) {
            if (have < h + 4) {
                return;
            }

            memcpy(f->key, s + off + h, 4);
            h += 4;
        }

        /* the header is complete and valid */

        f->hdr_len = h;
        f->len = len;
        f->fin = fin;
        f->opcode = op;

        if (!control) {
            if (op != 0) {
                msg_op = op;
                msg_len = 0;
                memset(&u, 0, sizeof(u));
            }

            msg_len += len;
        }

        text = !control && msg_op == 1 && st->validate_utf8;
        f->text = !control && msg_op == 1;

        r->tail = 1;
        r->tail_held = text || control;
        r->tail_avail = ((uint64_t) (have - h) < len) ? have - h : len;
        r->tail_valid = r->tail_avail;

        if (text) {
            for (k = 0; k < r->tail_avail; k++) {
                if (u.need == 0 && (k & 3) == 0) {
                    k += ascii_run(s + off + h + k, r->tail_avail - k,
                                   f->masked ? f->key : NULL);

                    if (k == r->tail_avail) {
                        break;
                    }
                }

                c = s[off + h + k];
                c ^= f->masked ? f->key[k & 3] : 0;

                if (!ref_u8_byte(&u, c)) {
                    r->tail_valid = k;
                    ref_fail(r, 1007, "invalid UTF-8 in text message");
                    return;
                }
            }
        }

        if (r->tail_avail < len) {
            return;
        }

        /* the frame is complete */

        if (!control && fin) {
            if (text && u.need) {
                ref_fail(r, 1007, "invalid UTF-8 in text message");
                return;
            }

            msg_op = 0;
        }

        if (op == WS_OP_CLOSE) {
            for (k = 0; k < len; k++) {
                pl[k] = s[off + h + k] ^ (f->masked ? f->key[k & 3] : 0);
            }

            if (len == 1) {
                ref_fail(r, 1002, "invalid close frame payload");
                return;
            }

            code = WS_CLOSE_NO_STATUS;

            if (len >= 2) {
                code = (unsigned) pl[0] << 8 | pl[1];

                if (!close_code_valid(code)) {
                    ref_fail(r, 1002, "invalid close code");
                    return;
                }

                memset(&uc, 0, sizeof(uc));

                for (k = 2; k < len; k++) {
                    if (!ref_u8_byte(&uc, pl[k])) {
                        break;
                    }
                }

                if (k < len || uc.need) {
                    ref_fail(r, 1007, "invalid UTF-8 in close reason");
                    return;
                }
            }

            r->rc = WS_SCAN_CLOSE;
            r->code = code;
            r->nvalid++;
            r->tail = 0;
            return;
        }

        r->nvalid++;
        r->tail = 0;
        off += h + (size_t) len;
    }
}


/*
 * After a first violation, if the whole offending frame had arrived, the
 * parser goes on: the offending frame is skipped by the length its header
 * gives (and not counted), later frames are checked (structure, masking,
 * control frames, lengths, close frames) but not for message sequencing,
 * limits or UTF-8 of text, and counted; a close frame ends parsing with
 * WS_SCAN_CLOSE, a second violation with WS_SCAN_ERROR.  What is computed
 * here assumes the offending frame had arrived; bad_end says where it ends.
 * An invalid close frame is the offender's close: parsing ends at it.
 */

static void
ref_fail2(ref_t *r, unsigned code, const char *error)
{
    r->final_rc = WS_SCAN_ERROR;
    r->final_code = code;
    r->final_error = error;
    r->discard = 1;
}


static void
reference_after(const settings_t *st, const unsigned char *s, size_t n,
    ref_t *r)
{
    int             skip, control;
    size_t          off, h, i, have;
    unsigned        b0, b1, op, len7, code;
    uint64_t        len, k;
    ref_u8_t        uc;
    unsigned char   pl[WS_MAX_CONTROL_PAYLOAD];

    r->final_rc = r->rc;
    r->final_code = r->code;
    r->final_error = r->error;
    r->total = r->nvalid;
    r->discard = (r->rc == WS_SCAN_CLOSE);
    r->bad_end = (size_t) -1;

    if (r->rc != WS_SCAN_ERROR) {
        return;
    }

    off = r->frames[r->nvalid].off;

    if ((s[off] & 0x0f) == WS_OP_CLOSE) {
        r->discard = 1;
        return;
    }

    for (skip = 1; off < n; skip = 0) {
        have = n - off;
        b0 = s[off];
        op = b0 & 0x0f;
        control = (op & 0x8) != 0;

        if (!skip) {
            if (b0 & 0x70) {
                ref_fail2(r, 1002, "reserved bits set");
                return;
            }

            if ((op > 2 && op < 8) || op > 0xa) {
                ref_fail2(r, 1002, "unknown opcode");
                return;
            }

            if (control && !(b0 & 0x80)) {
                ref_fail2(r, 1002, "fragmented control frame");
                return;
            }
        }

        if (have < 2) {
            return;
        }

        b1 = s[off + 1];
        len7 = b1 & 0x7f;

        if (!skip) {
            if ((b1 >> 7) != (unsigned) st->from_client) {
                ref_fail2(r, 1002, st->from_client ? "unmasked frame"
                                                   : "masked frame");
                return;
            }

            if (control && len7 > 125) {
                ref_fail2(r, 1002, "control frame too long");
                return;
            }
        }

        h = 2;
        len = len7;

        if (len7 == 126) {
            if (have < 4) {
                return;
            }

            len = (uint64_t) s[off + 2] << 8 | s[off + 3];
            h = 4;

            if (!skip && len < 126) {
                ref_fail2(r, 1002, "non-minimal payload length");
                return;
            }

        } else if (len7 == 127) {
            if (have < 10) {
                return;
            }

            len = 0;

            for (i = 0; i < 8; i++) {
                len = len << 8 | s[off + 2 + i];
            }

            h = 10;

            if (!skip && (s[off + 2] & 0x80)) {
                ref_fail2(r, 1002, "invalid payload length");
                return;
            }

            if (!skip && len < 65536) {
                ref_fail2(r, 1002, "non-minimal payload length");
                return;
            }
        }

        h += (b1 >> 7) ? 4 : 0;

        if (have < h || (uint64_t) (have - h) < len) {
            return;
        }

        if (skip) {
            r->bad_end = off + h + (size_t) len;
            off += h + (size_t) len;
            continue;
        }

        if (!skip && op == WS_OP_CLOSE) {
            for (k = 0; k < len; k++) {
                pl[k] = s[off + h + k] ^ ((b1 >> 7) ? s[off + h - 4 + (k & 3)]
                                                    : 0);
            }

            if (len == 1) {
                ref_fail2(r, 1002, "invalid close frame payload");
                return;
            }

            code = WS_CLOSE_NO_STATUS;

            if (len >= 2) {
                code = (unsigned) pl[0] << 8 | pl[1];

                if (!close_code_valid(code)) {
                    ref_fail2(r, 1002, "invalid close code");
                    return;
                }

                memset(&uc, 0, sizeof(uc));

                for (k = 2; k < len; k++) {
                    if (!ref_u8_byte(&uc, pl[k])) {
                        break;
                    }
                }

                if (k < len || uc.need) {
                    ref_fail2(r, 1007, "invalid UTF-8 in close reason");
                    return;
                }
            }

            r->total++;
            r->final_rc = WS_SCAN_CLOSE;
            r->final_code = code;
            r->final_error = r->error;
            r->discard = 1;
            return;
        }

        r->total++;
        off += h + (size_t) len;
    }
}


/* ---------------------------------------------------------- output check */


typedef struct {
    size_t         off;
    size_t         hdr_len;
    size_t         size;
    unsigned       fin, rsv, opcode, masked;
    int            minimal;
    unsigned char  key[4];
    uint64_t       len;
} oframe_t;


static HARNESS int
decode_frame(const unsigned char *d, size_t n, size_t off, oframe_t *f)
{
    size_t    h, i;
    uint64_t  len;

    memset(f, 0, sizeof(oframe_t));
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
        f->minimal = len >= 65536 && len < 0x8000000000000000ULL;
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


/*
 * The output must be the reference's valid frames, each as it was or, for
 * a text frame, as fragments with the same payload bytes; then, of the
 * tail frame, a prefix allowed by how it is forwarded.
 *
 * "loose": 1 the relay called ws_stop() when cut_at input bytes had been
 * read: frames complete by then, and a streamed frame whose header was
 * complete, come out whole, nothing else does (but fragments of a text
 * frame that were validated by then); 2 it called ws_discard_output():
 * the output is any prefix of what was cleared by then, cut anywhere when
 * sends were partial.
 */

static void
check_frames(const settings_t *st, const ref_t *r, const unsigned char *in,
    const unsigned char *out, size_t out_len, int loose, size_t cut_at)
{
    int             streamed, whole;
    size_t          i, j, nfr, ntotal, raw, end, body;
    uint64_t        got, k, limit;
    oframe_t        g;
    const rframe_t *f;

    ntotal = r->nvalid + (r->tail ? 1 : 0);
    j = 0;

    for (i = 0; i < ntotal; i++) {
        f = &r->frames[i];

        streamed = !(f->opcode & 0x8) && !(f->text && st->validate_utf8);
        body = f->off + f->hdr_len;
        end = body + (size_t) f->len;

        /* must this frame come out whole */
        whole = !loose
                || (loose == 1
                    && (end <= cut_at || (streamed && body <= cut_at)));

        if (i == r->nvalid && !r->tail_held) {

            /* a streamed frame: its header and what came of the payload */

            raw = f->hdr_len + (size_t) r->tail_avail;

            CHECK(r->rc == WS_SCAN_OK);
            CHECK(out_len - j <= raw);
            CHECK(!whole || out_len - j == raw);
            CHECK(whole || f->off + (out_len - j) <= cut_at);
            CHECK(memcmp(out + j, in + f->off, out_len - j) == 0);
            return;
        }

        if (j == out_len) {
            CHECK(!whole || i == r->nvalid);
            return;
        }

        if (!decode_frame(out, out_len, j, &g)) {
            if (loose == 2) {
                /*
                 * the destination went away in the middle of a send: the
                 * frame, or a fragment of it, is cut anywhere
                 */
                CHECK(f->off + (out_len - j) <= cut_at);
                CHECK((f->text && st->validate_utf8)
                      || memcmp(out + j, in + f->off, out_len - j) == 0);
                return;
            }

            fail("the output ends inside a frame");
        }

        if (i < r->nvalid && g.size == f->hdr_len + f->len
            && memcmp(out + j, in + f->off, g.size) == 0)
        {
            CHECK(whole || end <= cut_at);
            j += g.size;
            continue;
        }

        /* fragments of a text frame */

        CHECK(f->text && st->validate_utf8);

        limit = (i < r->nvalid) ? f->len : r->tail_valid;

        if (!whole) {
            /* only what was validated before the relay stopped it */
            limit = (cut_at > body) ? cut_at - body : 0;
            limit = (limit < f->len) ? limit : f->len;

            if (i == r->nvalid && limit > r->tail_valid) {
                limit = r->tail_valid;
            }
        }

        got = 0;
        nfr = 0;

        while (got < f->len) {
            if (j == out_len) {
                CHECK(!whole || i == r->nvalid);
                break;
            }

            if (!decode_frame(out, out_len, j, &g)) {
                /* a fragment cut by ws_discard_output() */
                CHECK(loose == 2);
                j = out_len;
                break;
            }

            CHECK(g.opcode == (nfr ? WS_OP_CONT : f->opcode));
            CHECK(g.rsv == 0);
            CHECK(g.masked == (unsigned) st->from_client);
            CHECK(g.minimal);
            CHECK(g.len > 0);
            CHECK(got + g.len <= limit);
            CHECK(g.fin == ((got + g.len == f->len) ? f->fin : 0));

            for (k = 0; g.masked && k < 4; k++) {
                CHECK(g.key[k] == f->key[(got + k) & 3]);
            }

            CHECK(memcmp(out + j + g.hdr_len, in + f->off + f->hdr_len + got,
                         (size_t) g.len) == 0);

            got += g.len;
            nfr++;
            j += g.size;
        }

        if (i == r->nvalid || got < f->len) {
            CHECK(got < f->len || f->len == 0);
            break;
        }

        CHECK(nfr >= 2);
    }

    CHECK(j == out_len);
}


/*
 * Independently of how frames match: the unmasked payloads.  Control
 * frames in order with their payloads, the data bytes in order, and the
 * number of finished messages must be the reference's (the data bytes of
 * the output a prefix of the reference's valid and tail bytes).
 */

static HARNESS uint64_t
fnv(uint64_t h, const unsigned char *p, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }

    return h;
}


static unsigned char  data_ref[MAX_STREAM];
static unsigned char  data_out[MAX_STREAM];


static HARNESS void
check_payloads(const ref_t *r, const unsigned char *in,
    const unsigned char *out, size_t out_len, int loose)
{
    size_t          i, j, nd, od;
    uint64_t        k, hr, ho, avail;
    unsigned        msgs_r, msgs_o;
    unsigned char   c;
    oframe_t        g;
    const rframe_t *f;

    /* the reference: valid frames, then the tail */

    hr = 0xcbf29ce484222325ULL;
    nd = 0;
    msgs_r = 0;

    for (i = 0; i < r->nvalid + (r->tail ? 1 : 0); i++) {
        f = &r->frames[i];
        avail = (i < r->nvalid) ? f->len : r->tail_avail;

        if (f->opcode & 0x8) {
            if (i == r->nvalid) {
                break;
            }

            c = (unsigned char) f->opcode;
            hr = fnv(hr, &c, 1);

            for (k = 0; k < f->len; k++) {
                c = in[f->off + f->hdr_len + k]
                    ^ (f->masked ? f->key[k & 3] : 0);
                hr = fnv(hr, &c, 1);
            }

            continue;
        }

        memcpy(data_ref + nd, in + f->off + f->hdr_len, (size_t) avail);

        if (f->masked) {
            xor_mask(data_ref + nd, (size_t) avail, f->key, 0);
        }

        nd += (size_t) avail;

        if (f->fin && i < r->nvalid) {
            msgs_r++;
        }
    }

    /* the output */

    ho = 0xcbf29ce484222325ULL;
    od = 0;
    msgs_o = 0;
    j = 0;

    while (j < out_len && decode_frame(out, out_len, j, &g)) {
        if (g.opcode & 0x8) {
            c = (unsigned char) g.opcode;
            ho = fnv(ho, &c, 1);

            for (k = 0; k < g.len; k++) {
                c = out[j + g.hdr_len + k] ^ (g.masked ? g.key[k & 3] : 0);
                ho = fnv(ho, &c, 1);
            }

        } else {
            CHECK(g.len <= nd - od);
            memcpy(data_out, out + j + g.hdr_len, (size_t) g.len);

            if (g.masked) {
                xor_mask(data_out, (size_t) g.len, g.key, 0);
            }

            CHECK(memcmp(data_out, data_ref + od, (size_t) g.len) == 0);
            od += (size_t) g.len;

            msgs_o += g.fin;
        }

        j += g.size;
    }

    if (!loose) {
        CHECK(ho == hr);
        CHECK(msgs_o == msgs_r);
    }
}


/* ---------------------------------------------------------- the relay */


typedef struct {
    int            rc;
    unsigned       code;
    const char    *error;
    uint64_t       frames;
    uint64_t       forwarded;
    size_t         out_len;
    size_t         out_at_rc;
    size_t         cut_at;      /* input read at ws_stop() or discard */
    size_t         out_at_cut;
    int            boundary;
    int            can_inject;
    unsigned       pings;
    unsigned       gates;

    int            last_rc;
    unsigned       nrc;
    size_t         in_at_rc;    /* input read at the first verdict */
    int            discard;
    unsigned       final_error_code;
    unsigned       final_close_code;
    const char    *final_error;
} run_t;


static HARNESS void
invariants(ws_buf_t *b, unsigned char *mem)
{
    CHECK(mem <= b->pos);
    CHECK(b->pos <= b->fwd);
    CHECK(b->fwd <= b->scan);
    CHECK(b->scan <= b->last);
    CHECK(b->last <= b->end);
    CHECK(b->start <= b->hold);
    CHECK(b->hold <= b->scan);
}


static HARNESS void
note(ws_parser_t *p, ws_buf_t *b, run_t *run, int rc, size_t in_read)
{
    CHECK(rc == WS_SCAN_OK || rc == WS_SCAN_CLOSE || rc == WS_SCAN_ERROR);

    if (p->state == WS_ST_DISCARD) {
        /* nothing after the end is kept */
        CHECK(b->last == b->fwd);
    }

    if (rc != WS_SCAN_OK) {
        run->last_rc = rc;
        run->nrc++;
        CHECK(run->nrc <= 2);
    }

    if (rc == WS_SCAN_OK || run->rc != WS_SCAN_OK) {
        return;
    }

    run->rc = rc;
    run->in_at_rc = in_read;
    run->code = (rc == WS_SCAN_CLOSE) ? p->close_code : p->error_code;
    run->error = p->error;
    run->out_at_rc = run->out_len + (size_t) (b->fwd - b->pos);
}


static HARNESS void
relay(const settings_t *st, const unsigned char *in, size_t n, run_t *run)
{
    int             rc, paused, gate_off;
    size_t          i, k, cut, limit, iter, piece, sent, send_max, whole,
                    next_ping;
    uint64_t        rs, begun, ahead;
    unsigned char  *mem, *s_pos, *s_fwd, *s_scan, *s_last;
    oframe_t        g;
    ws_buf_t        b;
    ws_parser_t     p;

    memset(run, 0, sizeof(run_t));
    run->rc = WS_SCAN_OK;
    run->cut_at = (size_t) -1;

    mem = malloc(WS_HEADROOM + st->bufsize);
    CHECK(mem != NULL);

    b.start = mem + WS_HEADROOM;
    b.end = b.start + st->bufsize;
    ws_buf_reset(&b);

    ws_parser_init(&p, st->from_client, st->validate_utf8, st->max_frame,
                   st->max_message);
    p.max_messages = st->gate;
    p.limited = (st->gate != 0);

    i = 0;
    cut = 0;
    whole = 0;
    paused = 0;
    gate_off = 0;
    begun = 0;
    next_ping = st->ping_every;
    rs = st->seed | 1;
    limit = 4 * n + 100;

    /*
     * Small pieces and partial sends only for small streams: a few
     * thousand reads and sends at most (unless FUZZ_FRAME_FULL is set).
     */
    piece = st->piece;
    send_max = st->send_max;

    if (!full) {
        if (st->piece_mode && piece < n / 2048) {
            piece = n / 2048;
        }

        if (send_max && send_max < n / 1024) {
            send_max = n / 1024;
        }
    }

    for (iter = 0; iter < limit; iter++) {
        s_pos = b.pos;
        s_fwd = b.fwd;
        s_scan = b.scan;
        s_last = b.last;
        k = 0;

        if (st->action && st->action < 3 && i >= st->action_at
            && run->cut_at == (size_t) -1)
        {
            run->cut_at = i;

            if (st->action == 1) {
                ws_stop(&p);

            } else {
                ws_discard_output(&p, &b);
                invariants(&b, mem);
                run->out_at_cut = run->out_len;
            }
        }

        if (i < n && b.last < b.end) {
            if (cut <= i) {
                switch (st->piece_mode) {

                case 1:
                    cut = i + piece;
                    break;

                case 2:
                    cut = i + 1 + (size_t) (xorshift(&rs) % piece);
                    break;

                default:
                    cut = n;
                }
            }

            k = (cut < n ? cut : n) - i;

            if (k > (size_t) (b.end - b.last)) {
                k = (size_t) (b.end - b.last);
            }

            memcpy(b.last, in + i, k);
            b.last += k;
            i += k;
        }

        rc = ws_scan(&p, &b);
        invariants(&b, mem);
        note(&p, &b, run, rc, i);

        if (b.pos < b.fwd) {
            sent = (size_t) (b.fwd - b.pos);

            if (send_max) {
                sent = 1 + (size_t) (xorshift(&rs) % send_max);
                sent = (sent < (size_t) (b.fwd - b.pos))
                       ? sent : (size_t) (b.fwd - b.pos);
            }

            k += sent;
            CHECK(run->out_len + sent <= sizeof(outbuf));
            memcpy(outbuf + run->out_len, b.pos, sent);
            run->out_len += sent;
            b.pos += sent;

            rc = ws_scan(&p, &b);
            invariants(&b, mem);
            note(&p, &b, run, rc, i);
        }

        /* the relay's ping: queued, then written at a frame boundary */

        if (st->action == 3 && !paused && run->rc == WS_SCAN_OK
            && i >= next_ping)
        {
            ws_pause(&p);
            paused = 1;
            begun = p.frames + (p.state == WS_ST_PAYLOAD);
            next_ping = i + st->ping_every;
        }

        if (paused && run->rc != WS_SCAN_OK) {
            /* a verdict: a close replaces the ping */
            ws_resume(&p);
            paused = 0;
        }

        /* no frame is begun while the ping waits */
        CHECK(!paused || p.drop
              || p.frames + (p.state == WS_ST_PAYLOAD) == begun);

        if (paused && ws_at_boundary(&p, &b)) {
            while (whole < run->out_len
                   && decode_frame(outbuf, run->out_len, whole, &g))
            {
                whole += g.size;
            }

            /* between two whole frames */
            CHECK(whole == run->out_len);

            run->pings++;
            ws_resume(&p);
            paused = 0;
            k++;

            rc = ws_scan(&p, &b);
            invariants(&b, mem);
            note(&p, &b, run, rc, i);
        }

        /*
         * the gate: only before a message beyond max_messages; the model
         * raises it until all that came is parsed, as without a gate
         */

        while (p.gated) {
            CHECK(st->gate != 0);
            CHECK(p.messages == p.max_messages);
            CHECK(p.state == WS_ST_HEADER && p.hdr_have == 0);
            CHECK(p.msg_opcode == 0 && !p.drop);
            CHECK(b.scan < b.last);
            CHECK((*b.scan & 0x0f) == WS_OP_TEXT
                  || (*b.scan & 0x0f) == WS_OP_BINARY);

            /* what a message limit would grant: read only within b */
            ahead = ws_messages_ahead(&p, &b, 64);
            CHECK(ahead >= 1 && ahead <= 64);

            run->gates++;
            p.max_messages += st->gate;
            k++;

            rc = ws_scan(&p, &b);
            invariants(&b, mem);
            note(&p, &b, run, rc, i);
        }

        if (p.drop) {
            /* nothing is forwarded: the gate holds nothing back */
            gate_off = 1;
        }

        CHECK(st->gate == 0 || gate_off || p.messages <= p.max_messages);

        /* where ws_at_boundary() says so, the output is whole frames */

        if (ws_at_boundary(&p, &b) && st->action != 2) {
            while (whole < run->out_len
                   && decode_frame(outbuf, run->out_len, whole, &g))
            {
                whole += g.size;
            }

            CHECK(whole == run->out_len);
        }

        if (ws_buf_empty(&b)) {
            ws_buf_reset(&b);
        }

        if (k == 0 && s_pos == b.pos && s_fwd == b.fwd && s_scan == b.scan
            && s_last == b.last)
        {
            /* no progress: all input must have been taken */
            CHECK(i == n);
            break;
        }
    }

    CHECK(iter < limit);

    /*
     * a queued ping went out, unless a verdict came first or the stream
     * ended inside the frame being forwarded
     */
    CHECK(!paused || run->rc != WS_SCAN_OK || p.mid_frame);

    if (run->rc == WS_SCAN_OK) {
        run->out_at_rc = run->out_len;
    }

    run->frames = p.frames;
    run->forwarded = p.forwarded;
    run->boundary = ws_at_boundary(&p, &b);
    run->can_inject = ws_can_inject(&p, &b);
    run->discard = (p.state == WS_ST_DISCARD);
    run->final_error_code = p.error_code;
    run->final_close_code = p.close_code;
    run->final_error = p.error;

    CHECK(b.pos == b.fwd);

    free(mem);
}


/* ---------------------------------------------------------- the target */


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                   loose;
    size_t                n, j;
    uint64_t              out_frames;
    oframe_t              g;
    settings_t            st;
    ref_t                 r;
    run_t                 run;
    const unsigned char  *in;
    static const size_t   sizes[] = { 256, 257, 300, 512, 1000, 4096, 16384 };

    if (verbose < 0) {
        verbose = getenv("FUZZ_FRAME_VERBOSE") != NULL;
        full = getenv("FUZZ_FRAME_FULL") != NULL;
        max_stream = full ? MAX_STREAM : STREAM;
    }

    if (size < SETTINGS) {
        return 0;
    }

    memset(&st, 0, sizeof(st));

    st.from_client = data[0] & 1;
    st.validate_utf8 = !(data[0] & 2);
    st.structured = !(data[0] & 4);

    if (data[0] & 8) {
        st.max_frame = (uint64_t) data[2] * 7 + 1;
    }

    if (data[0] & 16) {
        st.max_message = (uint64_t) data[3] * 29 + 1;
    }

    st.bufsize = (data[1] < 0xe0) ? 256 + (size_t) data[1] * 53
                                  : sizes[data[1] % 7];
    st.piece_mode = data[4] >> 6;
    st.piece = 1 + (size_t) (data[4] & 0x3f) * 29;
    st.seed = (uint64_t) data[4] * 0x9e3779b97f4a7c15ULL + size;

    if (st.piece_mode == 3) {
        st.piece_mode = 1;
        st.piece = 1;
    }

    st.action = data[5] >> 6;
    st.send_max = (size_t) data[6] * 3;
    st.gate = data[0] >> 5;

    data += SETTINGS;
    size -= SETTINGS;

    if (st.structured) {
        n = make_stream(&st, data, size);
        in = stream;

    } else {
        n = (size < MAX_STREAM) ? size : MAX_STREAM;
        in = data;
    }

    st.action_at = (size_t) ((data[-2] & 0x3f) * (uint64_t) n / 64);
    st.ping_every = 1 + (size_t) (data[-2] & 0x3f) * (1 + n / 256);

    reference(&st, in, n, &r);
    reference_after(&st, in, n, &r);
    relay(&st, in, n, &run);

    if (verbose) {
        fprintf(stderr, "client %d utf8 %d max_frame %llu max_message %llu "
                "buffer %lu pieces %d/%lu action %d at %lu, %lu bytes\n"
                "reference: rc %d code %u \"%s\" valid %lu tail %d "
                "avail %llu valid %llu held %d\n"
                "scanner:   rc %d code %u \"%s\" frames %llu forwarded %llu "
                "out %lu boundary %d pings %u gates %u\n",
                st.from_client, st.validate_utf8,
                (unsigned long long) st.max_frame,
                (unsigned long long) st.max_message,
                (unsigned long) st.bufsize, st.piece_mode,
                (unsigned long) st.piece, st.action,
                (unsigned long) st.action_at, (unsigned long) n,
                r.rc, r.code, r.error ? r.error : "", (unsigned long) r.nvalid,
                r.tail, (unsigned long long) r.tail_avail,
                (unsigned long long) r.tail_valid, r.tail_held,
                run.rc, run.code, run.error ? run.error : "",
                (unsigned long long) run.frames,
                (unsigned long long) run.forwarded,
                (unsigned long) run.out_len,
                run.boundary, run.pings, run.gates);
    }

    /* the verdict is the reference's, whatever the relay did */

    CHECK(run.rc == r.rc);

    if (r.rc != WS_SCAN_OK) {
        CHECK(run.code == r.code);
    }

    if (r.rc == WS_SCAN_ERROR) {
        CHECK(run.error != NULL && strcmp(run.error, r.error) == 0);
    }

    if (r.rc == WS_SCAN_ERROR && run.in_at_rc < r.bad_end) {

        /* the offending frame had not all arrived: parsing ended */

        r.final_rc = r.rc;
        r.final_code = r.code;
        r.final_error = r.error;
        r.total = r.nvalid;
        r.discard = 1;
    }

    /* every valid frame is counted, dropped or not */
    CHECK(run.frames == r.total);

    /* forwarded: the frames that went out, fragments made included */
    out_frames = 0;
    j = 0;

    while (j < run.out_len && decode_frame(outbuf, run.out_len, j, &g)) {
        j += g.size;
        out_frames++;
    }

    CHECK(st.action == 2 ? run.forwarded >= out_frames
                         : run.forwarded == out_frames);

    /* what parsing on after a violation saw */
    CHECK(run.last_rc == r.final_rc);
    CHECK(run.nrc == (unsigned) (r.rc == WS_SCAN_OK ? 0
                                 : (r.final_rc == r.rc && !r.discard) ? 1
                                 : (r.rc == WS_SCAN_CLOSE) ? 1
                                 : (r.discard && run.in_at_rc < r.bad_end)
                                   ? 1 : 2));
    CHECK(run.discard == r.discard);

    if (r.final_rc == WS_SCAN_CLOSE) {
        CHECK(run.final_close_code == r.final_code);
    }

    if (r.final_rc == WS_SCAN_ERROR) {
        CHECK(run.final_error_code == r.final_code);
        CHECK(strcmp(run.final_error, r.final_error) == 0);
    }

    /* nothing after the verdict (less if the rest was discarded) */
    CHECK(run.out_len == run.out_at_rc
          || (st.action == 2 && run.out_len < run.out_at_rc));

    /* the pings are not in outbuf: the output is as without them */
    loose = (st.action == 3) ? 0 : st.action;


    /* the relay may inject a close frame after a verdict or a stop */
    if ((r.rc != WS_SCAN_OK && st.action != 2)
        || (st.action == 1 && run.cut_at != (size_t) -1 && !r.tail))
    {
        CHECK(run.boundary);
        CHECK(run.can_inject);
    }

    /* but not while forwarding goes on */
    if (r.rc == WS_SCAN_OK && (st.action == 0 || st.action == 3)) {
        CHECK(!run.can_inject);
    }

    /* nothing goes out after ws_discard_output() */
    if (st.action == 2 && run.cut_at != (size_t) -1) {
        CHECK(run.out_len == run.out_at_cut);
    }

    check_frames(&st, &r, in, outbuf, run.out_len, loose, run.cut_at);
    check_payloads(&r, in, outbuf, run.out_len, loose);

    return 0;
}
