
/*
 * Copyright (C) the ngx_ws authors
 *
 * RFC 6455 frames: a streaming parser that validates every frame and a
 * scanner that decides, in place, which bytes of a direction's buffer may
 * be forwarded.  See docs/design.md, "The relay".
 */


#include <string.h>

#include "ws_core.h"


#define ws_is_control(op)  ((op) & 0x8)

/* ws_header(): the header is not whole yet */
#define WS_HDR_AGAIN       3


static int ws_fail(ws_parser_t *p, ws_buf_t *b, unsigned code,
    const char *error);
static int ws_gate(ws_parser_t *p, ws_buf_t *b);
static int ws_header_parse(ws_parser_t *p, const unsigned char *h,
    size_t have);
static int ws_header(ws_parser_t *p, ws_buf_t *b);
static int ws_frame_end(ws_parser_t *p, ws_buf_t *b);
static void ws_clear(ws_parser_t *p, ws_buf_t *b, unsigned char *to);
static void ws_drop(ws_parser_t *p, ws_buf_t *b);
static int ws_own_pong(ws_parser_t *p, ws_buf_t *b);


/* a frame is behind the scanner: the next one begins at b->scan */

static inline void
ws_next_frame(ws_parser_t *p, ws_buf_t *b)
{
    p->mid_frame = 0;
    p->held = 0;
    p->split = 0;
    p->state = WS_ST_HEADER;
    p->hdr_have = 0;
    p->hdr_len = 0;
    b->hold = b->scan;
}
static void ws_make_room(ws_parser_t *p, ws_buf_t *b);
static void ws_emit_chunk(ws_parser_t *p, ws_buf_t *b, unsigned fin);


int
ws_close_code_valid(unsigned code)
{
    if (code >= 1000 && code <= 1014) {
        return code != 1004 && code != 1005 && code != 1006;
    }

    return code >= 3000 && code <= 4999;
}


static size_t
ws_header_len(uint64_t len, int masked)
{
    size_t  n;

    n = (len < 126) ? 2 : (len < 65536) ? 4 : 10;

    return masked ? n + 4 : n;
}


size_t
ws_frame_header(unsigned char *dst, unsigned fin, unsigned opcode,
    uint64_t len, const unsigned char *mask)
{
    size_t         n;
    unsigned       i;
    unsigned char  m;

    dst[0] = (unsigned char) ((fin ? 0x80 : 0) | (opcode & 0x0f));
    m = mask ? 0x80 : 0;

    if (len < 126) {
        dst[1] = (unsigned char) (m | len);
        n = 2;

    } else if (len < 65536) {
        dst[1] = (unsigned char) (m | 126);
        dst[2] = (unsigned char) (len >> 8);
        dst[3] = (unsigned char) len;
        n = 4;

    } else {
        dst[1] = (unsigned char) (m | 127);

        for (i = 0; i < 8; i++) {
            dst[2 + i] = (unsigned char) (len >> (56 - 8 * i));
        }

        n = 10;
    }

    if (mask) {
        memcpy(dst + n, mask, 4);
        n += 4;
    }

    return n;
}


size_t
ws_close_frame(unsigned char *dst, unsigned code, const unsigned char *mask)
{
    unsigned char  pl[2];

    pl[0] = (unsigned char) (code >> 8);
    pl[1] = (unsigned char) code;

    return ws_control_frame(dst, WS_OP_CLOSE, pl, 2, mask);
}


size_t
ws_control_frame(unsigned char *dst, unsigned opcode,
    const unsigned char *payload, size_t len, const unsigned char *mask)
{
    size_t  n, i;

    n = ws_frame_header(dst, 1, opcode, len, mask);

    for (i = 0; i < len; i++) {
        dst[n + i] = mask ? payload[i] ^ mask[i & 3] : payload[i];
    }

    return n + len;
}


void
ws_parser_init(ws_parser_t *p, int from_client, int validate_utf8,
    uint64_t max_frame, uint64_t max_message)
{
    memset(p, 0, sizeof(ws_parser_t));

    p->from_client = from_client ? 1 : 0;
    p->validate_utf8 = validate_utf8 ? 1 : 0;
    p->max_frame = max_frame;
    p->max_message = max_message;
    p->state = WS_ST_HEADER;
}


void
ws_buf_reset(ws_buf_t *b)
{
    b->pos = b->start;
    b->fwd = b->start;
    b->scan = b->start;
    b->last = b->start;
    b->hold = b->start;
}


int
ws_buf_empty(ws_buf_t *b)
{
    return b->pos == b->last;
}


int
ws_at_boundary(ws_parser_t *p, ws_buf_t *b)
{
    return b->pos == b->fwd && !p->mid_frame;
}


int
ws_can_inject(ws_parser_t *p, ws_buf_t *b)
{
    return b->pos == b->fwd && !p->mid_frame
           && (p->drop || p->state == WS_ST_DISCARD);
}


void
ws_stop(ws_parser_t *p)
{
    p->stop = 1;

    if (p->mid_frame || p->state == WS_ST_DISCARD) {
        return;
    }

    p->stop = 0;
    p->drop = 1;

    if (p->state == WS_ST_PAYLOAD && !ws_is_control(p->opcode)) {
        p->held = 0;
    }
}


void
ws_discard_output(ws_parser_t *p, ws_buf_t *b)
{
    p->mid_frame = 0;
    p->pause = 0;
    ws_stop(p);

    if (b->start == NULL) {
        return;
    }

    b->pos = b->fwd;

    ws_drop(p, b);
}


int
ws_scan(ws_parser_t *p, ws_buf_t *b)
{
    int        rc, text;
    size_t     avail;
    uint64_t   rest;
    uint32_t   st;

    p->gated = 0;

    for ( ;; ) {

        if (p->state == WS_ST_DISCARD) {
            b->last = b->fwd;
            b->scan = b->fwd;
            b->hold = b->fwd;
            return WS_SCAN_OK;
        }

        if (p->stop && !p->mid_frame) {
            /* at a frame boundary of the output: forward nothing more */
            ws_stop(p);
        }

        if (p->drop && p->held && !ws_is_control(p->opcode)) {
            /* a held text frame is not forwarded in drop mode */
            p->held = 0;
        }

        ws_drop(p, b);

        if (p->state == WS_ST_HEADER) {

            if (b->scan == b->last || (p->pause && !p->drop)) {
                /* all parsed, or paused at a frame boundary */
                break;
            }

            if (p->limited && ws_gate(p, b)) {
                /* a message beyond the limit: not begun for now */
                break;
            }

            if (p->hdr_have == 0) {
                b->hold = b->scan;
            }

            rc = ws_header(p, b);

            if (rc == WS_SCAN_ERROR) {
                return ws_fail(p, b, p->error_code, p->error);
            }

            if (rc != WS_SCAN_OK) {
                break;
            }

            /* the header is complete and valid */

            p->state = WS_ST_PAYLOAD;
            p->done = 0;
            p->chunk_off = 0;
            p->split = 0;

            if (!ws_is_control(p->opcode) && !p->failed) {
                if (p->opcode != WS_OP_CONT) {
                    p->msg_opcode = p->opcode;
                    p->msg_len = 0;
                    p->utf8 = WS_UTF8_ACCEPT;
                    p->messages++;
                }

                p->msg_len += p->len;
            }

            text = (p->msg_opcode == WS_OP_TEXT && p->validate_utf8);

            if (ws_is_control(p->opcode)) {
                p->held = 1;

            } else {
                p->held = (text && !p->drop);
            }

            if (!p->held) {
                ws_clear(p, b, b->scan);
                p->mid_frame = (p->len != 0 && !p->drop);
            }
        }

        /* WS_ST_PAYLOAD */

        rest = p->len - p->done;
        avail = (size_t) (b->last - b->scan);

        if ((uint64_t) avail > rest) {
            avail = (size_t) rest;
        }

        if (avail) {

            if (!ws_is_control(p->opcode)
                && p->msg_opcode == WS_OP_TEXT && p->validate_utf8)
            {
                if (p->masked) {
                    st = ws_utf8_validate_masked(p->utf8, b->scan, avail,
                                                 p->mask, p->done);
                } else {
                    st = ws_utf8_validate(p->utf8, b->scan, avail);
                }

                if (st == WS_UTF8_REJECT) {
                    return ws_fail(p, b, WS_CLOSE_INVALID_PAYLOAD,
                                   "invalid UTF-8 in text message");
                }

                p->utf8 = st;
            }

            b->scan += avail;
            p->done += avail;

            if (!p->held) {
                ws_clear(p, b, b->scan);
            }
        }

        if (p->done < p->len) {
            break;
        }

        /* the frame is complete */

        if (p->held && p->split && b->pos != b->hold) {
            /* the previous fragment is still being sent */
            return WS_SCAN_OK;
        }

        rc = ws_frame_end(p, b);

        if (rc == WS_SCAN_ERROR) {
            return ws_fail(p, b, p->error_code, p->error);
        }

        if (p->opcode == WS_OP_PONG && p->pong_wait && ws_own_pong(p, b)) {
            /* the pong of the proxy's ping: taken out, never forwarded */
            p->frames++;
            ws_next_frame(p, b);
            continue;
        }

        if (p->held) {
            if (p->split) {
                ws_emit_chunk(p, b, p->fin);

            } else {
                ws_clear(p, b, b->scan);
            }
        }

        p->frames++;

        if (!(p->opcode & 0x8)) {
            p->data_frames++;
        }

        if (!p->drop) {
            p->forwarded++;
        }

        ws_next_frame(p, b);

        if (rc == WS_SCAN_CLOSE) {
            ws_drop(p, b);
            p->state = WS_ST_DISCARD;
            b->last = b->scan = b->hold = b->fwd;
            return WS_SCAN_CLOSE;
        }
    }

    ws_make_room(p, b);
    ws_drop(p, b);

    return WS_SCAN_OK;
}


static int
ws_fail(ws_parser_t *p, ws_buf_t *b, unsigned code, const char *error)
{
    uint64_t  rest;

    p->error_code = code;
    p->error = error;

    /*
     * Nothing of the offending frame, nor after it, is forwarded.  If the
     * whole offending frame has arrived and it is the first violation, the
     * stream is resynchronised after it: later frames are parsed and
     * dropped, so that the offender's close reply can still be seen.
     * Otherwise, and after an invalid close frame (the offender's close:
     * nothing may follow it, RFC 6455 5.5.1), all further input is
     * discarded.
     */

    if (p->failed) {
        goto discard;
    }

    if (p->state == WS_ST_HEADER) {

        /* the rest of the header, structure only */

        p->lax = 1;

        if (ws_header(p, b) != WS_SCAN_OK) {
            p->lax = 0;
            goto discard;
        }

        p->lax = 0;

        p->done = 0;
    }

    if (p->opcode == WS_OP_CLOSE) {
        /* the offender's close, even an invalid one, ends its stream */
        goto discard;
    }

    rest = p->len - p->done;

    if ((uint64_t) (b->last - b->scan) < rest) {
        goto discard;
    }

    b->scan += rest;

    p->failed = 1;
    p->drop = 1;
    p->stop = 0;
    p->msg_opcode = 0;

    ws_next_frame(p, b);

    /*
     * The skipped frame is dropped at once: the caller may not scan again
     * (a close was queued already), and a full buffer with nothing to send
     * and nothing to parse would never be read into again.
     */

    ws_drop(p, b);

    return WS_SCAN_ERROR;

discard:

    p->state = WS_ST_DISCARD;
    b->last = b->fwd;
    b->scan = b->fwd;
    b->hold = b->fwd;

    return WS_SCAN_ERROR;
}


static int
ws_gate(ws_parser_t *p, ws_buf_t *b)
{
    unsigned  op;

    /*
     * At a frame boundary, before the first byte of a header is taken: a
     * text or binary frame would begin a message (a data frame inside a
     * fragmented message is a violation, found when it is parsed).
     * Frames after a violation or a stop are only dropped: no gate holds
     * up the close frame that may follow them.
     */

    if (p->hdr_have || p->drop || p->messages < p->max_messages
        || p->msg_opcode)
    {
        return 0;
    }

    op = b->scan[0] & 0x0f;

    if (op != WS_OP_TEXT && op != WS_OP_BINARY) {
        return 0;
    }

    p->gated = 1;

    return 1;
}


int
ws_message_pending(const ws_parser_t *p)
{
    unsigned  op;

    if (p->state != WS_ST_HEADER || p->hdr_have == 0 || p->msg_opcode) {
        return 0;
    }

    op = p->hdr[0] & 0x0f;

    return op == WS_OP_TEXT || op == WS_OP_BINARY;
}


uint64_t
ws_messages_ahead(const ws_parser_t *p, const ws_buf_t *b, uint64_t max)
{
    size_t                left, hlen;
    uint64_t              n, len;
    unsigned              op, in_msg, i;
    const unsigned char  *q;

    n = 0;
    in_msg = (p->msg_opcode != 0);
    q = b->scan;

    while (n < max && q < b->last) {

        op = q[0] & 0x0f;

        if ((op == WS_OP_TEXT || op == WS_OP_BINARY) && !in_msg) {
            n++;
            in_msg = !(q[0] & 0x80);

        } else if (op == WS_OP_CONT && (q[0] & 0x80)) {
            in_msg = 0;
        }

        left = (size_t) (b->last - q);

        if (left < 2) {
            break;
        }

        len = q[1] & 0x7f;
        hlen = 2 + ((q[1] & 0x80) ? 4 : 0);

        if (len == 126) {
            hlen += 2;

        } else if (len == 127) {
            hlen += 8;
        }

        if (left < hlen) {
            break;
        }

        if (len >= 126) {
            len = 0;

            for (i = 2; i < ((q[1] & 0x7f) == 126 ? 4u : 10u); i++) {
                len = (len << 8) | q[i];
            }
        }

        if (len > left - hlen) {
            /* the payload goes on beyond what was read */
            break;
        }

        q += hlen + (size_t) len;
    }

    return n ? n : 1;
}


static int
ws_header_error(ws_parser_t *p, unsigned code, const char *error)
{
    p->error_code = code;
    p->error = error;

    return WS_SCAN_ERROR;
}


static int
ws_header_parse(ws_parser_t *p, const unsigned char *h, size_t have)
{
    unsigned  op, fin, masked, len7, hlen, i;
    uint64_t  len, msg;

    /*
     * Checks what the "have" bytes of a header decide (so that a bad first
     * byte is answered at once), and takes the frame's fields once the
     * header is whole.  In lax mode only the structure is read.
     */

    op = h[0] & 0x0f;
    fin = h[0] >> 7;

    if (!p->lax) {

        if (h[0] & 0x70) {
            return ws_header_error(p, WS_CLOSE_PROTOCOL_ERROR,
                                   "reserved bits set");
        }

        if ((op > WS_OP_BINARY && op < WS_OP_CLOSE) || op > WS_OP_PONG) {
            return ws_header_error(p, WS_CLOSE_PROTOCOL_ERROR,
                                   "unknown opcode");
        }

        if (ws_is_control(op)) {
            if (!fin) {
                return ws_header_error(p, WS_CLOSE_PROTOCOL_ERROR,
                                       "fragmented control frame");
            }

        } else if (p->failed) {
            /* in-flight frames of the offender: no sequencing */

        } else if (op == WS_OP_CONT) {
            if (p->msg_opcode == 0) {
                return ws_header_error(p, WS_CLOSE_PROTOCOL_ERROR,
                                       "unexpected continuation frame");
            }

        } else if (p->msg_opcode != 0) {
            return ws_header_error(p, WS_CLOSE_PROTOCOL_ERROR,
                                   "data frame inside fragmented message");
        }
    }

    if (have < 2) {
        return WS_HDR_AGAIN;
    }

    masked = h[1] >> 7;
    len7 = h[1] & 0x7f;

    if (!p->lax) {

        if (p->from_client && !masked) {
            return ws_header_error(p, WS_CLOSE_PROTOCOL_ERROR,
                                   "unmasked frame");
        }

        if (!p->from_client && masked) {
            return ws_header_error(p, WS_CLOSE_PROTOCOL_ERROR,
                                   "masked frame");
        }

        if (ws_is_control(op) && len7 > WS_MAX_CONTROL_PAYLOAD) {
            return ws_header_error(p, WS_CLOSE_PROTOCOL_ERROR,
                                   "control frame too long");
        }
    }

    hlen = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
    p->hdr_len = hlen;

    if (len7 < 126) {
        len = len7;

    } else if (len7 == 126) {
        if (have < 4) {
            return WS_HDR_AGAIN;
        }

        len = (uint64_t) h[2] << 8 | h[3];

    } else {
        if (have < 10) {
            return WS_HDR_AGAIN;
        }

        len = 0;

        for (i = 2; i < 10; i++) {
            len = len << 8 | h[i];
        }
    }

    if (!p->lax) {

        if (len7 == 127 && (h[2] & 0x80)) {
            return ws_header_error(p, WS_CLOSE_PROTOCOL_ERROR,
                                   "invalid payload length");
        }

        if ((len7 == 126 && len < 126) || (len7 == 127 && len < 65536)) {
            return ws_header_error(p, WS_CLOSE_PROTOCOL_ERROR,
                                   "non-minimal payload length");
        }

        /* frames after a violation are only dropped: no size limits */

        if (!p->failed) {

            if (p->max_frame && len > p->max_frame) {
                return ws_header_error(p, WS_CLOSE_TOO_BIG, "frame too big");
            }

            if (!ws_is_control(op) && p->max_message) {
                msg = (op == WS_OP_CONT) ? p->msg_len : 0;

                if (len > p->max_message || msg > p->max_message - len) {
                    return ws_header_error(p, WS_CLOSE_TOO_BIG,
                                           "message too big");
                }
            }
        }
    }

    if (have < hlen) {
        return WS_HDR_AGAIN;
    }

    p->fin = fin;
    p->opcode = op;
    p->masked = masked;
    p->len = len;

    if (masked) {
        memcpy(p->mask, h + hlen - 4, 4);
    }

    return WS_SCAN_OK;
}


static int
ws_header(ws_parser_t *p, ws_buf_t *b)
{
    int     rc;
    size_t  avail;

    avail = (size_t) (b->last - b->scan);

    if (p->hdr_have == 0 && avail) {

        /* most headers are whole in the buffer: parsed where they are */

        rc = ws_header_parse(p, b->scan, avail);

        if (rc == WS_SCAN_OK) {
            b->scan += p->hdr_len;
            p->hdr_have = p->hdr_len;
            return WS_SCAN_OK;
        }

        if (rc == WS_SCAN_ERROR) {
            return rc;
        }
    }

    /* a header split across reads: collected byte by byte */

    for ( ;; ) {

        if (p->hdr_have) {
            rc = ws_header_parse(p, p->hdr, p->hdr_have);

            if (rc != WS_HDR_AGAIN) {
                return rc;
            }
        }

        if (b->scan == b->last) {
            return WS_HDR_AGAIN;
        }

        p->hdr[p->hdr_have++] = *b->scan++;
    }
}


static int
ws_frame_end(ws_parser_t *p, ws_buf_t *b)
{
    unsigned              code, i;
    uint32_t              st;
    unsigned char         pl[WS_MAX_CONTROL_PAYLOAD];
    const unsigned char  *payload;

    if (!ws_is_control(p->opcode)) {

        if (p->fin) {
            if (p->msg_opcode == WS_OP_TEXT && p->validate_utf8
                && p->utf8 != WS_UTF8_ACCEPT)
            {
                p->error_code = WS_CLOSE_INVALID_PAYLOAD;
                p->error = "invalid UTF-8 in text message";
                return WS_SCAN_ERROR;
            }

            p->msg_opcode = 0;
        }

        return WS_SCAN_OK;
    }

    if (p->opcode != WS_OP_CLOSE) {
        return WS_SCAN_OK;
    }

    /* a held control frame is contiguous: [b->scan - len, b->scan) */

    payload = b->scan - p->len;

    for (i = 0; i < p->len; i++) {
        pl[i] = p->masked ? payload[i] ^ p->mask[i & 3] : payload[i];
    }

    if (p->len == 0) {
        p->close_code = WS_CLOSE_NO_STATUS;
        p->close_payload = NULL;
        return WS_SCAN_CLOSE;
    }

    if (p->len == 1) {
        p->error_code = WS_CLOSE_PROTOCOL_ERROR;
        p->error = "invalid close frame payload";
        return WS_SCAN_ERROR;
    }

    code = (unsigned) pl[0] << 8 | pl[1];

    if (!ws_close_code_valid(code)) {
        p->error_code = WS_CLOSE_PROTOCOL_ERROR;
        p->error = "invalid close code";
        return WS_SCAN_ERROR;
    }

    st = ws_utf8_validate(WS_UTF8_ACCEPT, pl + 2, (size_t) p->len - 2);

    if (st != WS_UTF8_ACCEPT) {
        p->error_code = WS_CLOSE_INVALID_PAYLOAD;
        p->error = "invalid UTF-8 in close reason";
        return WS_SCAN_ERROR;
    }

    p->close_code = code;
    p->close_payload = payload;

    return WS_SCAN_CLOSE;
}


size_t
ws_close_reason(const ws_parser_t *p, unsigned char *dst)
{
    size_t  i, n;

    if (p->close_payload == NULL || p->len <= 2) {
        return 0;
    }

    n = (size_t) p->len - 2;

    for (i = 0; i < n; i++) {
        dst[i] = p->masked ? p->close_payload[i + 2] ^ p->mask[(i + 2) & 3]
                           : p->close_payload[i + 2];
    }

    return n;
}


void
ws_expect_pong(ws_parser_t *p, const unsigned char *payload)
{
    memcpy(p->pong, payload, WS_PING_PAYLOAD);
    p->pong_len = WS_PING_PAYLOAD;
    p->pong_wait = 1;
    p->pong_seen = 0;
}


static int
ws_own_pong(ws_parser_t *p, ws_buf_t *b)
{
    size_t                i, n;
    const unsigned char  *payload;

    /* a held control frame is contiguous: [b->hold, b->scan) */

    if (p->len != p->pong_len) {
        return 0;
    }

    payload = b->scan - p->len;

    for (i = 0; i < p->len; i++) {
        if ((p->masked ? payload[i] ^ p->mask[i & 3] : payload[i])
            != p->pong[i])
        {
            return 0;
        }
    }

    p->pong_wait = 0;
    p->pong_seen = 1;

    /*
     * Out of the stream: what follows, not parsed yet, is moved over the
     * frame (a few bytes, once per ping), so that nothing waiting to be
     * sent before it moves.
     */

    n = (size_t) (b->last - b->scan);

    if (!p->drop) {
        memmove(b->hold, b->scan, n);
        b->last = b->hold + n;
        b->scan = b->hold;
    }

    return 1;
}


static void
ws_clear(ws_parser_t *p, ws_buf_t *b, unsigned char *to)
{
    if (!p->drop) {
        b->fwd = to;
    }
}


static void
ws_drop(ws_parser_t *p, ws_buf_t *b)
{
    unsigned char  *to;

    /*
     * In drop mode parsed bytes are thrown away as soon as nothing cleared
     * before them is waiting to be sent; a held control frame stays whole.
     */

    if (!p->drop || b->pos != b->fwd) {
        return;
    }

    if ((p->state == WS_ST_PAYLOAD && p->held)
        || (p->state == WS_ST_HEADER && p->hdr_have))
    {
        to = b->hold;

    } else {
        to = b->scan;
    }

    b->pos = to;
    b->fwd = to;

    if (b->pos == b->last) {
        ws_buf_reset(b);
    }
}


static void
ws_make_room(ws_parser_t *p, ws_buf_t *b)
{
    size_t  n;

    if (b->last != b->end || b->pos != b->hold || b->fwd != b->hold
        || p->state == WS_ST_DISCARD)
    {
        return;
    }

    if (p->state == WS_ST_PAYLOAD && p->held && !ws_is_control(p->opcode)) {

        if (!p->split
            && p->len <= (uint64_t) (b->end - b->start) - p->hdr_len)
        {
            /* the whole frame fits in the buffer: it goes out as it is */
            goto compact;
        }

        if (p->done > p->chunk_off) {
            /* a text frame larger than the buffer: send a fragment */
            ws_emit_chunk(p, b, 0);
            p->forwarded++;
            return;
        }
    }

compact:

    if (b->hold == b->start || b->hold == b->last) {
        return;
    }

    /*
     * A partial header, control frame, or text frame that fits: moved to
     * the start of the buffer once everything before it has been sent.
     */

    n = (size_t) (b->last - b->hold);
    memmove(b->start, b->hold, n);

    b->pos = b->start;
    b->fwd = b->start;
    b->scan = b->start + (b->scan - b->hold);
    b->last = b->start + n;
    b->hold = b->start;
}


static void
ws_emit_chunk(ws_parser_t *p, ws_buf_t *b, unsigned fin)
{
    size_t          n;
    unsigned        i, opcode;
    uint64_t        len;
    unsigned char  *payload, key[4];

    /*
     * Sends [payload, scan) as a frame of its own, with a generated header
     * written just before the payload: over the original header for the
     * first fragment (a shorter length never needs a longer header), in
     * the buffer's headroom or in already sent bytes otherwise.  A client
     * frame keeps its mask key rotated by the payload offset, so the
     * payload bytes go out unchanged.
     */

    payload = p->split ? b->hold : b->hold + p->hdr_len;
    len = (uint64_t) (b->scan - payload);
    opcode = p->split ? WS_OP_CONT : p->opcode;

    for (i = 0; i < 4; i++) {
        key[i] = p->mask[(p->chunk_off + i) & 3];
    }

    n = ws_header_len(len, p->masked);

    b->pos = payload - n;
    (void) ws_frame_header(b->pos, fin, opcode, len, p->masked ? key : NULL);

    b->fwd = b->scan;
    b->hold = b->scan;

    p->split = 1;
    p->chunk_off = p->done;
}
