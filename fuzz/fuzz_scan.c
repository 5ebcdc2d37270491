
/*
 * Copyright (C) the ngx_ws authors
 *
 * libFuzzer target for the relay scanner alone, ws_scan(), built for
 * speed: the input is one direction's wire stream, received in chunks and
 * sent on as the relay does; only cheap invariants are checked (fuzz_frame
 * compares the output with a reference decoder, several times slower).
 *
 * Each round of the model is a run of ngx_http_ws_relay() for the
 * direction: ws_scan() if bytes wait to be parsed, a receive of a chunk
 * and ws_scan(), a send and (see the settings) ws_scan().  A first
 * WS_SCAN_ERROR is followed by ws_stop() and ws_scan(), as when the relay
 * queues a close frame to the destination, unless one was queued already
 * (the setting's ws_stop() or ws_discard_output() came first).
 *
 * After every ws_scan():
 *
 *   - start - WS_HEADROOM <= pos <= fwd <= scan <= last <= end and
 *     start <= hold <= scan;
 *   - nothing of a frame being held (a control frame, a text frame being
 *     validated, a header not yet whole) is cleared for sending before it
 *     is complete: fwd <= hold (a text frame sent as fragments: see the
 *     UTF-8 check of the output);
 *   - the verdicts: OK, or at most two (a first ERROR, then CLOSE or
 *     ERROR), none after CLOSE; after the end (WS_ST_DISCARD) nothing
 *     unsent is kept (last == fwd);
 *   - nothing more is cleared once a verdict was given or ws_can_inject()
 *     said so;
 *   - where the relay skips the call after a send, the call changes
 *     nothing (when the settings ask for this check);
 *
 * and at the end: the model made progress until all input was taken
 * (else it "stalled"), all cleared bytes were sent, and a frame of the
 * proxy's own may be injected after a verdict or a ws_stop() (unless the
 * stream ends inside a streamed frame).  The sent bytes are checked to be
 * a frame stream: each header valid for the direction, fragments in
 * sequence, text valid UTF-8 (when validated) in every prefix, nothing
 * after a close frame, as many frames as p->forwarded.
 *
 * Settings, the first 7 bytes:
 *   0: bit 0 client (frames must be masked), bit 1 no UTF-8 validation,
 *      bit 2 max_frame, bit 3 max_message; bits 4-5 the call after a send:
 *      0 and 2 as the relay (only if the buffer is full, a text frame is
 *      being re-fragmented, output is dropped or bytes wait to be parsed),
 *      1 always, 3 as the relay, checking that a skipped call would do
 *      nothing; bits 6-7: 1 ws_stop(), 2 ws_discard_output() (both
 *      followed by ws_scan(), as the relay does) once byte 6 / 256 of the
 *      input was received;
 *   1: buffer size 256 + 3 * value (inputs are at most 1 KiB);
 *   2, 3: reads cycle through three sizes: 1 + byte 2, 1 + 16 * byte 3,
 *      all the free space;
 *   4: sends: 0 all of [pos, fwd) at once, else up to value bytes each;
 *   5: max_frame 3 * value + 1, max_message 17 * value + 1.
 *
 * Reads and partial sends are at least 1/64 of the stream: a long stream
 * costs some hundred calls, not one per byte.  Inputs of more than 1 KiB
 * cost more than they find: fuzz/fuzz_scan.flags says -max_len=1024.
 *
 * Build and run (from the repository root):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -fno-sanitize-recover=all -I ngx_ws_module -o fuzz_scan \
 *       fuzz/fuzz_scan.c ngx_ws_module/ws_frame.c ngx_ws_module/ws_utf8.c \
 *       ngx_ws_module/ws_handshake.c
 *   mkdir -p corpus-run && cp -R fuzz/corpus/scan/. corpus-run/
 *   ./fuzz_scan -max_len=1024 -max_total_time=300 corpus-run
 *
 * or "make fuzz".  The seeds are written by fuzz/make_seeds.py.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#include "ws_core.h"


#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/asan_interface.h>
#endif
#endif

#ifndef ASAN_POISON_MEMORY_REGION
#define ASAN_POISON_MEMORY_REGION(p, n)    ((void) (p), (void) (n))
#define ASAN_UNPOISON_MEMORY_REGION(p, n)  ((void) (p), (void) (n))
#endif


#define SETTINGS  7


#define CHECK(expr)                                                          \
    do {                                                                     \
        if (!(expr)) {                                                       \
            fprintf(stderr, "fuzz_scan: %s\n", #expr);                       \
            abort();                                                         \
        }                                                                    \
    } while (0)


/* the harness's own code is not instrumented for coverage */
#define HARNESS  __attribute__((noinline, no_sanitize("coverage")))


/* ---------------------------------------------------------- output check */


/*
 * A streaming decoder of the sent bytes: structure only, and UTF-8 of text
 * messages when the scanner validates it.
 */

typedef struct {
    int            from_client;
    int            validate_utf8;
    int            closed;          /* a close frame went out */
    unsigned       hdr_have;
    unsigned       hdr_len;
    unsigned char  hdr[WS_MAX_HEADER];
    unsigned       opcode;
    unsigned       fin;
    unsigned       masked;
    unsigned char  key[4];
    uint64_t       len;
    uint64_t       done;
    unsigned       msg_opcode;      /* 0 outside a fragmented message */
    unsigned       need;            /* UTF-8: continuation bytes due */
    unsigned       lo, hi;          /* the range of the next one */
    uint64_t       frames;
} out_t;


static HARNESS unsigned
out_header_len(const unsigned char *h, unsigned have)
{
    unsigned  n, len7;

    if (have < 2) {
        return 2;
    }

    len7 = h[1] & 0x7f;
    n = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);

    return (h[1] & 0x80) ? n + 4 : n;
}


static HARNESS void
out_frame_start(out_t *o)
{
    unsigned        op, len7, i;
    const uint8_t  *h;

    h = o->hdr;
    op = h[0] & 0x0f;
    len7 = h[1] & 0x7f;

    CHECK(!o->closed);
    CHECK((h[0] & 0x70) == 0);
    CHECK(op <= WS_OP_BINARY || (op >= WS_OP_CLOSE && op <= WS_OP_PONG));
    CHECK((unsigned) (h[1] >> 7) == (unsigned) o->from_client);

    o->opcode = op;
    o->fin = h[0] >> 7;
    o->masked = h[1] >> 7;

    if (len7 < 126) {
        o->len = len7;

    } else if (len7 == 126) {
        o->len = (uint64_t) h[2] << 8 | h[3];
        CHECK(o->len >= 126);

    } else {
        o->len = 0;

        for (i = 2; i < 10; i++) {
            o->len = o->len << 8 | h[i];
        }

        CHECK(o->len >= 65536 && !(h[2] & 0x80));
    }

    if (o->masked) {
        memcpy(o->key, h + o->hdr_len - 4, 4);
    }

    if (op & 0x8) {
        CHECK(o->fin && o->len <= WS_MAX_CONTROL_PAYLOAD);

        if (op == WS_OP_CLOSE) {
            CHECK(o->len != 1);
            o->closed = 1;
        }

    } else if (op == WS_OP_CONT) {
        CHECK(o->msg_opcode != 0);

    } else {
        CHECK(o->msg_opcode == 0);
        o->msg_opcode = op;
        o->need = 0;
    }

    o->done = 0;
}


static HARNESS void
out_frame_end(out_t *o)
{
    o->frames++;
    o->hdr_have = 0;

    if ((o->opcode & 0x8) || !o->fin) {
        return;
    }

    if (o->msg_opcode == WS_OP_TEXT && o->validate_utf8) {
        CHECK(o->need == 0);
    }

    o->msg_opcode = 0;
}


/* RFC 3629, as simply as can be, over the payload's unmasked bytes */

static HARNESS void
out_utf8(out_t *o, const unsigned char *p, size_t n)
{
    size_t    i;
    unsigned  c;

    for (i = 0; i < n; i++) {
        c = p[i] ^ (o->masked ? o->key[(o->done + i) & 3] : 0);

        if (o->need) {
            CHECK(c >= o->lo && c <= o->hi);
            o->need--;
            o->lo = 0x80;
            o->hi = 0xbf;
            continue;
        }

        if (c < 0x80) {
            continue;
        }

        o->lo = 0x80;
        o->hi = 0xbf;

        if (c >= 0xc2 && c <= 0xdf) {
            o->need = 1;

        } else if (c >= 0xe0 && c <= 0xef) {
            o->need = 2;
            o->lo = (c == 0xe0) ? 0xa0 : 0x80;
            o->hi = (c == 0xed) ? 0x9f : 0xbf;

        } else {
            CHECK(c >= 0xf0 && c <= 0xf4);
            o->need = 3;
            o->lo = (c == 0xf0) ? 0x90 : 0x80;
            o->hi = (c == 0xf4) ? 0x8f : 0xbf;
        }
    }
}


static HARNESS void
out_feed(out_t *o, const unsigned char *p, size_t n)
{
    size_t    k;
    uint64_t  rest;

    while (n) {

        if (o->hdr_have < 2 || o->hdr_have < o->hdr_len) {
            o->hdr[o->hdr_have++] = *p++;
            n--;
            o->hdr_len = out_header_len(o->hdr, o->hdr_have);

            if (o->hdr_have == o->hdr_len) {
                out_frame_start(o);

                if (o->len == 0) {
                    out_frame_end(o);
                }
            }

            continue;
        }

        rest = o->len - o->done;
        k = ((uint64_t) n < rest) ? n : (size_t) rest;

        if (!(o->opcode & 0x8) && o->msg_opcode == WS_OP_TEXT
            && o->validate_utf8)
        {
            out_utf8(o, p, k);
        }

        p += k;
        n -= k;
        o->done += k;

        if (o->done == o->len) {
            out_frame_end(o);
        }
    }
}


/* ---------------------------------------------------------- the relay */


typedef struct {
    unsigned char  *mem;
    int             verdicts;
    int             first;          /* the first verdict */
    int             stopped;        /* no more may be cleared */
    int             injected;       /* a close to the destination queued */
    size_t          sent;
    size_t          cleared;        /* sent + (fwd - pos) when stopped */
} run_t;


static HARNESS void
check(ws_parser_t *p, ws_buf_t *b, run_t *r, int rc)
{
    size_t  cleared;

    CHECK(r->mem <= b->pos);
    CHECK(b->pos <= b->fwd);
    CHECK(b->fwd <= b->scan);
    CHECK(b->scan <= b->last);
    CHECK(b->last <= b->end);
    CHECK(b->start <= b->hold);
    CHECK(b->hold <= b->scan);

    /* nothing of a frame is cleared while it is held */

    if (p->state == WS_ST_HEADER
        || (p->state == WS_ST_PAYLOAD && p->held && !p->split))
    {
        CHECK(b->fwd <= b->hold);
    }

    if (p->state == WS_ST_DISCARD) {
        CHECK(b->last == b->fwd);
    }

    if (rc != WS_SCAN_OK) {
        CHECK(rc == WS_SCAN_CLOSE || rc == WS_SCAN_ERROR);
        CHECK(r->first != WS_SCAN_CLOSE);

        if (r->verdicts++ == 0) {
            r->first = rc;
        }

        CHECK(r->verdicts <= 2);
    }

    cleared = r->sent + (size_t) (b->fwd - b->pos);

    if (r->stopped) {
        CHECK(cleared <= r->cleared);
        r->cleared = cleared;

    } else if (rc != WS_SCAN_OK || ws_can_inject(p, b)) {
        r->stopped = 1;
        r->cleared = cleared;
    }
}


/*
 * ws_scan() as the relay calls it: after a first violation it queues a
 * close frame to the destination, calling ws_stop() and ws_scan() again
 * (ngx_http_ws_inject_close()), unless one was queued already.
 */

static HARNESS int
scan(ws_parser_t *p, ws_buf_t *b, run_t *r)
{
    int  rc;

    rc = ws_scan(p, b);
    check(p, b, r, rc);

    if (rc == WS_SCAN_ERROR && !r->injected) {
        r->injected = 1;
        ws_stop(p);
        check(p, b, r, ws_scan(p, b));
    }

    return rc;
}


static unsigned char  buffer[WS_HEADROOM + 256 + 3 * 255];


static HARNESS void
scan_input(const uint8_t *data, size_t size)
{
    int             rc, after_send, action, verify;
    size_t          n, i, k, iter, limit, bufsize, chunk[3], nread, send;
    size_t          action_at, sent;
    uint64_t        max_frame, max_message;
    out_t           out;
    run_t           run;
    ws_buf_t        b, sb;
    ws_parser_t     p, sp;
    unsigned char  *s_pos, *s_fwd, *s_scan, *s_last;
    const uint8_t  *in;

    max_frame = (data[0] & 4) ? 3 * (uint64_t) data[5] + 1 : 0;
    max_message = (data[0] & 8) ? 17 * (uint64_t) data[5] + 1 : 0;
    after_send = (data[0] >> 4) & 3;
    verify = (after_send == 3);
    action = (data[0] >> 6) % 3;
    bufsize = 256 + 3 * (size_t) data[1];
    chunk[0] = 1 + (size_t) data[2];
    chunk[1] = 1 + 16 * (size_t) data[3];
    chunk[2] = (size_t) -1;
    send = data[4];

    in = data + SETTINGS;
    n = size - SETTINGS;
    action_at = action ? (size_t) (data[6] * (uint64_t) n / 256) : n + 1;

    /* some 64 reads and sends at most: small ones for small inputs only */

    if (chunk[0] < n / 64) {
        chunk[0] = n / 64;
    }

    if (chunk[1] < n / 64) {
        chunk[1] = n / 64;
    }

    if (send && send < n / 64) {
        send = n / 64;
    }

    ws_parser_init(&p, data[0] & 1, !(data[0] & 2), max_frame, max_message);

    memset(&out, 0, sizeof(out_t));
    out.from_client = p.from_client;
    out.validate_utf8 = p.validate_utf8;

    memset(&run, 0, sizeof(run_t));

    /* the buffer at the end of the array, the bytes before it poisoned */
    b.start = buffer + sizeof(buffer) - bufsize;
    b.end = b.start + bufsize;
    run.mem = b.start - WS_HEADROOM;
    ws_buf_reset(&b);

    ASAN_POISON_MEMORY_REGION(buffer, (size_t) (run.mem - buffer));

    i = 0;
    nread = 0;
    limit = 4 * n + 100;

    for (iter = 0; iter < limit; iter++) {
        s_pos = b.pos;
        s_fwd = b.fwd;
        s_scan = b.scan;
        s_last = b.last;
        k = 0;

        if (b.scan < b.last && p.state != WS_ST_DISCARD) {
            /* bytes held back: the relay parses them when it runs again */
            (void) scan(&p, &b, &run);
        }

        if (i >= action_at) {
            action_at = (size_t) -1;
            run.injected = 1;

            if (action == 1) {
                ws_stop(&p);

            } else {
                ws_discard_output(&p, &b);
                check(&p, &b, &run, WS_SCAN_OK);
            }

            (void) scan(&p, &b, &run);
        }

        /* receive */

        if (i < n && b.last < b.end) {
            k = chunk[nread++ % 3];
            k = (k < n - i) ? k : n - i;
            k = (k < (size_t) (b.end - b.last)) ? k
                                                : (size_t) (b.end - b.last);
            memcpy(b.last, in + i, k);
            b.last += k;
            i += k;

            (void) scan(&p, &b, &run);
        }

        /* send */

        if (b.pos < b.fwd) {
            sent = (size_t) (b.fwd - b.pos);

            if (send && sent > send) {
                sent = send;
            }

            if (action != 2 || action_at != (size_t) -1) {
                out_feed(&out, b.pos, sent);
            }

            b.pos += sent;
            run.sent += sent;
            k += sent;

            if (after_send == 1
                || b.last == b.end || p.split || p.drop || b.scan < b.last)
            {
                (void) scan(&p, &b, &run);

            } else if (verify) {
                /* the relay skips this call: it would do nothing */
                memcpy(&sb, &b, sizeof(ws_buf_t));
                memcpy(&sp, &p, sizeof(ws_parser_t));
                rc = scan(&p, &b, &run);
                CHECK(rc == WS_SCAN_OK);
                CHECK(memcmp(&sb, &b, sizeof(ws_buf_t)) == 0);
                CHECK(memcmp(&sp, &p, sizeof(ws_parser_t)) == 0);
            }
        }

        if (ws_buf_empty(&b)) {
            ws_buf_reset(&b);
        }

        if (k == 0 && s_pos == b.pos && s_fwd == b.fwd && s_scan == b.scan
            && s_last == b.last)
        {
            /* no progress: all input must have been taken */

            if (i < n) {
                fprintf(stderr, "fuzz_scan: stalled: input is left, but "
                        "nothing can be received, sent or parsed\n");
                abort();
            }

            break;
        }
    }

    CHECK(iter < limit);
    CHECK(b.pos == b.fwd);

    if (run.verdicts || (action == 1 && !p.mid_frame)) {
        CHECK(ws_can_inject(&p, &b));
    }

    if (run.verdicts == 0 && action == 0) {
        CHECK(!ws_can_inject(&p, &b));
    }

    if (action != 2) {
        /* forwarded: the frames that went out, fragments made included */
        CHECK(p.forwarded == out.frames);
    }

    ASAN_UNPOISON_MEMORY_REGION(buffer, (size_t) (run.mem - buffer));
}


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= SETTINGS) {
        scan_input(data, size);
    }

    return 0;
}
