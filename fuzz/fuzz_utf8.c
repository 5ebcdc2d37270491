
/*
 * Copyright (C) the ngx_ws authors
 *
 * libFuzzer target for the UTF-8 validator: ws_utf8_validate() against a
 * simple reference decoder (RFC 3629), and ws_utf8_validate_masked()
 * against ws_utf8_validate() on the unmasked bytes.
 *
 * Input: 6 setting bytes (mask key, payload offset, split position,
 * alignment), then the text.  Checked, with abort() on a failure:
 *
 *   - the state class (accept, reject, incomplete) is the reference's;
 *   - a rejection happens at the first byte that cannot continue;
 *   - the text split in two gives the same state;
 *   - masked with the key at the offset, at any alignment, the masked
 *     validator gives the same state, whole and split.
 *
 * Build and run (from the repository root):
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined \
 *       -fno-sanitize-recover=all -I ngx_ws_module -o fuzz_utf8 \
 *       fuzz/fuzz_utf8.c ngx_ws_module/ws_frame.c ngx_ws_module/ws_utf8.c \
 *       ngx_ws_module/ws_handshake.c
 *   mkdir -p corpus-run && cp -R fuzz/corpus/utf8/. corpus-run/
 *   ./fuzz_utf8 -max_total_time=300 corpus-run
 *
 * or "make fuzz".
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#include "ws_core.h"


#define SETTINGS  6
#define MAX_TEXT  65536


#define CHECK(expr)                                                          \
    do {                                                                     \
        if (!(expr)) {                                                       \
            fprintf(stderr, "fuzz_utf8: %s\n", #expr);                       \
            abort();                                                         \
        }                                                                    \
    } while (0)


#define R_ACCEPT      0
#define R_REJECT      1
#define R_INCOMPLETE  2


/* the reference: class of s[0..n), *where: the byte a rejection is at */

static int
reference(const unsigned char *s, size_t n, size_t *where)
{
    size_t    i, k, need;
    unsigned  c, lo, hi;

    i = 0;

    while (i < n) {
        c = s[i];

        if (c < 0x80) {
            i++;
            continue;
        }

        lo = 0x80;
        hi = 0xbf;

        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;

        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            lo = (c == 0xe0) ? 0xa0 : 0x80;
            hi = (c == 0xed) ? 0x9f : 0xbf;

        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            lo = (c == 0xf0) ? 0x90 : 0x80;
            hi = (c == 0xf4) ? 0x8f : 0xbf;

        } else {
            *where = i;
            return R_REJECT;
        }

        for (k = 1; k <= need; k++) {
            if (i + k == n) {
                return R_INCOMPLETE;
            }

            if (s[i + k] < lo || s[i + k] > hi) {
                *where = i + k;
                return R_REJECT;
            }

            lo = 0x80;
            hi = 0xbf;
        }

        i += need + 1;
    }

    return R_ACCEPT;
}


static int
state_class(uint32_t st)
{
    return st == WS_UTF8_ACCEPT ? R_ACCEPT
           : st == WS_UTF8_REJECT ? R_REJECT : R_INCOMPLETE;
}


static unsigned char  plain[MAX_TEXT + 16];
static unsigned char  masked[MAX_TEXT + 16];


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             ref;
    size_t          n, i, split, where, align;
    uint32_t        st, st2;
    uint64_t        off;
    unsigned char   key[4];
    unsigned char  *p, *m;

    if (size < SETTINGS) {
        return 0;
    }

    memcpy(key, data, 4);
    off = data[4] & 3;

    if (data[4] & 4) {
        /* a large payload offset: only its low bits may count */
        off += 0xfffffff0ULL;
    }

    align = data[5] & 7;

    data += SETTINGS;
    n = size - SETTINGS;

    if (n > MAX_TEXT) {
        n = MAX_TEXT;
    }

    split = n ? (size_t) ((data[-2] >> 3) * (uint64_t) (n + 1) / 32) : 0;

    if (split > n) {
        split = n;
    }

    /* at some alignment */
    p = plain + align;
    memcpy(p, data, n);

    ref = reference(p, n, &where);
    st = ws_utf8_validate(WS_UTF8_ACCEPT, p, n);

    CHECK(state_class(st) == ref);

    if (ref == R_REJECT) {
        CHECK(ws_utf8_validate(WS_UTF8_ACCEPT, p, where) != WS_UTF8_REJECT);
        CHECK(ws_utf8_validate(WS_UTF8_ACCEPT, p, where + 1)
              == WS_UTF8_REJECT);
        CHECK(ws_utf8_validate(st, p, n) == WS_UTF8_REJECT);
    }

    /* split in two */
    st2 = ws_utf8_validate(WS_UTF8_ACCEPT, p, split);
    st2 = ws_utf8_validate(st2, p + split, n - split);
    CHECK(st2 == st);

    /* masked, at another alignment */
    m = masked + ((align + data[-1]) & 7);

    for (i = 0; i < n; i++) {
        m[i] = p[i] ^ key[(off + i) & 3];
    }

    st2 = ws_utf8_validate_masked(WS_UTF8_ACCEPT, m, n, key, off);
    CHECK(st2 == st);

    st2 = ws_utf8_validate_masked(WS_UTF8_ACCEPT, m, split, key, off);
    st2 = ws_utf8_validate_masked(st2, m + split, n - split, key,
                                  off + split);
    CHECK(st2 == st);

    /* masked first part, plain second part */
    st2 = ws_utf8_validate_masked(WS_UTF8_ACCEPT, m, split, key, off);
    st2 = ws_utf8_validate(st2, p + split, n - split);
    CHECK(st2 == st);

    return 0;
}
