/*
 * Shared helpers of the ngx_ws benchmark tools: the WebSocket accept value,
 * clocks, a latency histogram, descriptor limits and address parsing.
 */

#ifndef WSB_UTIL_H
#define WSB_UTIL_H


#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>


#define WSB_GUID          "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WSB_ACCEPT_LEN    28    /* base64 of a 20-byte SHA-1 digest */
#define WSB_KEY_LEN       24    /* base64 of 16 random bytes */

#define WSB_OP_CONT       0x0
#define WSB_OP_TEXT       0x1
#define WSB_OP_BINARY     0x2
#define WSB_OP_CLOSE      0x8
#define WSB_OP_PING       0x9
#define WSB_OP_PONG       0xa

/* histogram: 64 linear sub-buckets per power of two, nanoseconds */
#define WSB_HIST_SUB_BITS 6
#define WSB_HIST_SUB      (1 << WSB_HIST_SUB_BITS)
#define WSB_HIST_BUCKETS  ((64 - WSB_HIST_SUB_BITS + 2) * (WSB_HIST_SUB / 2))


typedef struct {
    uint64_t  counts[WSB_HIST_BUCKETS];
    uint64_t  total;
    uint64_t  max;
} wsb_hist_t;


void wsb_accept(const char *key, size_t len, char *out);
void wsb_base64(const unsigned char *in, size_t len, char *out);

uint64_t wsb_now_ns(void);
double wsb_now_s(void);

void wsb_hist_add(wsb_hist_t *h, uint64_t v);
uint64_t wsb_hist_pct(const wsb_hist_t *h, double pct);

int wsb_raise_nofile(void);
int wsb_nonblock(int fd);

void wsb_mask(unsigned char *dst, const unsigned char *src, size_t len,
    const unsigned char key[4], size_t offset);

size_t wsb_frame_header(unsigned char *p, int fin, int opcode,
    uint64_t len, const unsigned char *mask);

int wsb_parse_addr_range(const char *s, struct in_addr *first,
    unsigned *count);

const char *wsb_find_header(const char *buf, size_t len, const char *name,
    size_t *vlen);


#endif /* WSB_UTIL_H */
