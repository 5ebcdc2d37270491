
/*
 * Copyright (C) the ngx_ws authors
 *
 * The WebSocket protocol core: frame parser and relay scanner, UTF-8
 * validator, close codes, handshake key math, origins.  Plain C99, no
 * nginx types, so that it can be unit-tested and fuzzed on its own.
 */


#ifndef _WS_CORE_H_INCLUDED_
#define _WS_CORE_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


#define WS_OP_CONT                0x0
#define WS_OP_TEXT                0x1
#define WS_OP_BINARY              0x2
#define WS_OP_CLOSE               0x8
#define WS_OP_PING                0x9
#define WS_OP_PONG                0xa

#define WS_CLOSE_NORMAL           1000
#define WS_CLOSE_GOING_AWAY       1001
#define WS_CLOSE_PROTOCOL_ERROR   1002
#define WS_CLOSE_NO_STATUS        1005
#define WS_CLOSE_ABNORMAL         1006
#define WS_CLOSE_INVALID_PAYLOAD  1007
#define WS_CLOSE_POLICY           1008
#define WS_CLOSE_TOO_BIG          1009
#define WS_CLOSE_INTERNAL_ERROR   1011

#define WS_MAX_CONTROL_PAYLOAD    125
#define WS_MAX_HEADER             14
/* room before a buffer's data for a generated fragment header */
#define WS_HEADROOM               WS_MAX_HEADER
/* the largest frame the proxy writes itself: a control frame */
#define WS_MAX_CONTROL_FRAME      (WS_MAX_HEADER + WS_MAX_CONTROL_PAYLOAD)
/* a proxy's close frame: masked header and a 2-byte code */
#define WS_CLOSE_FRAME_LEN        8
/* the payload of a proxy's own ping, which its pong echoes */
#define WS_PING_PAYLOAD           8


/* UTF-8 (RFC 3629): a DFA; 0 is "accept", WS_UTF8_REJECT is final */

#define WS_UTF8_ACCEPT            0
#define WS_UTF8_REJECT            12

uint32_t ws_utf8_validate(uint32_t state, const unsigned char *p, size_t len);
/* the same over masked bytes; "offset" is the payload offset of p[0] */
uint32_t ws_utf8_validate_masked(uint32_t state, const unsigned char *p,
    size_t len, const unsigned char key[4], uint64_t offset);


/* close codes */

/* a code that may appear in a close frame on the wire */
int ws_close_code_valid(unsigned code);


/* handshake */

#define WS_KEY_LEN                24
#define WS_ACCEPT_LEN             28

/* 1 if "key" is canonical base64 for exactly 16 bytes */
int ws_key_valid(const unsigned char *key, size_t len);
/* base64(SHA-1(key + GUID)) into out[WS_ACCEPT_LEN]; key: a valid one */
void ws_accept_key(const unsigned char *key, unsigned char *out);
/*
 * the next non-empty element of a comma-separated HTTP list, from *pos to
 * end, whitespace around it trimmed: 1 with [*elt, *elt + *len), 0 at the
 * end; *pos moves past it
 */
int ws_list_next(const unsigned char **pos, const unsigned char *end,
    const unsigned char **elt, size_t *len);
/* 1 if s is a non-empty token (RFC 9110 5.6.2) */
int ws_is_token(const unsigned char *s, size_t len);
/* 1 if the comma-separated HTTP list contains token (case-insensitive) */
int ws_list_has_token(const unsigned char *list, size_t len,
    const char *token);


/* origins (RFC 6454) and Host values */

typedef struct {
    const unsigned char  *scheme;       /* NULL for a Host value */
    size_t                scheme_len;
    const unsigned char  *host;         /* a name, or an IPv6 literal in [] */
    size_t                host_len;
    unsigned              port;         /* 0: none written, no default */
} ws_origin_t;

/*
 * scheme "://" host [":" port]; the port of http/ws (80) and https/wss
 * (443) filled in when not written.  0, or -1 when malformed ("null").
 */
int ws_origin_parse(const unsigned char *s, size_t len, ws_origin_t *o);
/* host [":" port] of a Host header: 0, or -1 when malformed */
int ws_host_parse(const unsigned char *s, size_t len, ws_origin_t *o);
/* the same scheme, host (both case-insensitive) and port */
int ws_origin_equal(const ws_origin_t *a, const ws_origin_t *b);
/* o's host is one or more labels, ".", suffix's host; scheme, port equal */
int ws_origin_wildcard(const ws_origin_t *suffix, const ws_origin_t *o);
/*
 * o names the host and port of the Host value (no port: the default of
 * o's scheme), its scheme http, https, ws or wss (with tls: https or wss)
 */
int ws_origin_same(const ws_origin_t *o, const ws_origin_t *host, int tls);


/* frames */

/* writes a frame header, returns its length (2..14) */
size_t ws_frame_header(unsigned char *dst, unsigned fin, unsigned opcode,
    uint64_t len, const unsigned char *mask);
/* writes a whole close frame (masked if mask != NULL), returns its length */
size_t ws_close_frame(unsigned char *dst, unsigned code,
    const unsigned char *mask);
/*
 * writes a whole control frame (masked if mask != NULL) with a payload of
 * len <= WS_MAX_CONTROL_PAYLOAD bytes, returns its length
 */
size_t ws_control_frame(unsigned char *dst, unsigned opcode,
    const unsigned char *payload, size_t len, const unsigned char *mask);


/*
 * A direction's buffer.  The relay moves bytes through it:
 *
 *   start      pos        fwd        scan       last       end
 *     | sent    | to send  | held     | unparsed | free     |
 *
 * start - WS_HEADROOM must be valid memory: the scanner writes generated
 * fragment headers there.
 */

typedef struct {
    unsigned char   *start;
    unsigned char   *pos;      /* first byte not yet sent */
    unsigned char   *fwd;      /* end of the bytes cleared for sending */
    unsigned char   *scan;     /* first byte not yet parsed */
    unsigned char   *last;     /* end of received bytes */
    unsigned char   *end;
    unsigned char   *hold;     /* start of the held frame (or fragment) */
} ws_buf_t;


typedef enum {
    WS_ST_HEADER = 0,
    WS_ST_PAYLOAD,
    WS_ST_DISCARD
} ws_state_e;


typedef struct {
    /* configuration: set before the first ws_scan() */
    uint64_t         max_frame;       /* 0: no limit */
    uint64_t         max_message;     /* 0: no limit */
    /* the messages that may be begun, raised at any time, if limited */
    uint64_t         max_messages;
    unsigned         from_client:1;   /* frames must be masked */
    unsigned         limited:1;       /* max_messages applies */
    unsigned         validate_utf8:1;

    /* forward nothing after the current frame: set with ws_stop() */
    unsigned         stop:1;
    /* parse, but forward nothing: set by ws_stop() and ws_discard_output() */
    unsigned         drop:1;
    /* begin no new frame: set by ws_pause(), cleared by ws_resume() */
    unsigned         pause:1;
    /* stopped before a message beyond max_messages: see ws_scan() */
    unsigned         gated:1;
    /* a pong of the proxy's own ping is awaited: see ws_expect_pong() */
    unsigned         pong_wait:1;
    /* that pong came and was taken out of the stream */
    unsigned         pong_seen:1;
    unsigned         pong_len:4;

    /* frame being parsed */
    unsigned         state:2;
    unsigned         fin:1;
    unsigned         opcode:4;
    unsigned         masked:1;
    unsigned         held:1;          /* not forwarded until complete */
    unsigned         split:1;         /* being sent as fragments */
    unsigned         mid_frame:1;     /* output ends inside a frame */
    unsigned         failed:1;        /* a violation was seen */
    unsigned         lax:1;           /* header parsed without checks */

    unsigned         hdr_have;
    unsigned         hdr_len;
    unsigned char    hdr[WS_MAX_HEADER];
    unsigned char    mask[4];
    unsigned char    pong[WS_PING_PAYLOAD];
    uint64_t         len;             /* payload length */
    uint64_t         done;            /* payload bytes parsed */
    uint64_t         chunk_off;       /* payload offset of the held chunk */

    /* message */
    unsigned         msg_opcode;      /* 0 outside a fragmented message */
    uint64_t         msg_len;
    uint32_t         utf8;

    /* results */
    unsigned         close_code;      /* of the close frame seen */
    unsigned         error_code;      /* close code to answer a violation */
    uint32_t         data_frames;     /* text, binary and continuation
                                         frames of "frames", modulo 2^32 */
    const char      *error;           /* what the violation was */
    uint64_t         frames;          /* valid frames received */
    uint64_t         messages;        /* data messages begun */
    uint64_t         forwarded;       /* frames forwarded, fragments made
                                         by re-fragmentation included */
    /*
     * the payload of the valid close frame seen, as it came (masked or
     * not), p->len bytes: valid only until the buffer is touched again
     * after ws_scan() returned WS_SCAN_CLOSE; see ws_close_reason()
     */
    const unsigned char  *close_payload;
} ws_parser_t;


#define WS_SCAN_OK       0    /* all parsed that could be; see b->fwd */
#define WS_SCAN_CLOSE    1    /* a valid close frame ended the stream */
#define WS_SCAN_ERROR    2    /* a violation: p->error, p->error_code */


/*
 * Right after ws_scan() returned WS_SCAN_CLOSE, before the buffer is
 * touched: the close frame's reason text (unmasked, valid UTF-8, at most
 * 123 bytes) copied to dst; its length.
 */
size_t ws_close_reason(const ws_parser_t *p, unsigned char *dst);

void ws_parser_init(ws_parser_t *p, int from_client, int validate_utf8,
    uint64_t max_frame, uint64_t max_message);
void ws_buf_reset(ws_buf_t *b);

/*
 * Parses [b->scan, b->last), validating every frame, and moves b->fwd to
 * the end of what may be sent.  Call it again after bytes were received or
 * sent (b->pos moved).  After WS_SCAN_CLOSE the parser discards all further
 * input (b->last is pulled back to b->fwd).  After WS_SCAN_ERROR nothing
 * more is forwarded.  If the whole offending frame had arrived and it was
 * the first violation, parsing goes on after it so that the offender's
 * close reply is seen as WS_SCAN_CLOSE: later frames are dropped, and
 * checked for their structure only (reserved bits, opcode, masking,
 * control frame rules, length encoding, close frames), not for message
 * sequencing, sizes or UTF-8.  Otherwise all further input is discarded
 * (p->state is WS_ST_DISCARD); so it is after an invalid close frame, the
 * offender's close.
 *
 * Per message: p->messages counts the data messages begun (a message is
 * counted when the header of its first frame is whole and valid, so a
 * fragmented one counts once; control frames are not messages).  With
 * p->limited set, the scanner stops before the first byte of a frame
 * that would begin message number max_messages + 1, with p->gated set
 * (control frames and continuations still pass); raising max_messages and
 * calling ws_scan() again lets it go on.  This is where message rate
 * limits decide, before any byte of the message is forwarded.
 */
int ws_scan(ws_parser_t *p, ws_buf_t *b);

/*
 * 1 if the scan ended inside the header of a text or binary frame that
 * begins a message: it passed the gate and is not in p->messages yet (it
 * is when the rest of its header comes; the gate is not met again)
 */
int ws_message_pending(const ws_parser_t *p);

/*
 * At the gate (p->gated): how many messages begin in the bytes read, from
 * b->scan on, up to max (at least 1, the one at the gate); the headers are
 * only glanced at (ws_scan() checks them), a header cut by the end of the
 * read counted if its first byte begins a message.  What a message limit
 * grants, so that it holds no more of a bucket than the read can use.
 */
uint64_t ws_messages_ahead(const ws_parser_t *p, const ws_buf_t *b,
    uint64_t max);

/* 1 if nothing cleared is unsent and the output is at a frame boundary */
int ws_at_boundary(ws_parser_t *p, ws_buf_t *b);

/* 1 if the buffer holds nothing: it may be freed */
int ws_buf_empty(ws_buf_t *b);

/*
 * 1 if a frame of the proxy's own may be written to the destination now:
 * forwarding has stopped (p->stop took effect, or the stream ended) and
 * everything cleared before has been sent.
 */
int ws_can_inject(ws_parser_t *p, ws_buf_t *b);

/*
 * Forward nothing after the current frame: at once if the output is at a
 * frame boundary, else when the frame being forwarded ends (in ws_scan()).
 */
void ws_stop(ws_parser_t *p);

/*
 * the destination is gone: forward nothing more, drop what is pending (a
 * pause ends too: nothing of the proxy's own goes there either)
 */
void ws_discard_output(ws_parser_t *p, ws_buf_t *b);

/*
 * The proxy has a frame of its own (a ping) to write while forwarding goes
 * on: ws_pause() makes the scanner begin no new frame, so the output comes
 * to a frame boundary (ws_at_boundary()) once the frame being forwarded,
 * or the fragment being sent, is out.  The proxy's frame is written there;
 * then ws_resume() and ws_scan() let forwarding go on.  A paused parser
 * still completes the frame it is in and takes its verdict.  In drop mode
 * (after ws_stop() or a violation) a pause holds nothing back: nothing is
 * forwarded, and parsing goes on so that a close frame is seen.
 */
#define ws_pause(p)      ((p)->pause = 1)
#define ws_resume(p)     ((p)->pause = 0)

/*
 * The proxy sent a ping with this payload (WS_PING_PAYLOAD bytes) to the
 * side whose frames p parses: the first pong that echoes it is taken out
 * of the stream by ws_scan() (not forwarded, counted in p->frames) and
 * p->pong_seen is set.  Other pings and pongs pass as they are.  A new
 * call replaces the payload awaited.
 */
void ws_expect_pong(ws_parser_t *p, const unsigned char *payload);


#endif /* _WS_CORE_H_INCLUDED_ */
