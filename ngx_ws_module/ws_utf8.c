
/*
 * Copyright (C) the ngx_ws authors
 *
 * Streaming UTF-8 validation (RFC 3629): shortest forms only, no
 * surrogates, nothing above U+10FFFF.  The state after a byte is one of:
 */


#include <string.h>

#include "ws_core.h"


#define WS_U8_C1       1    /* one continuation byte 80..BF expected */
#define WS_U8_C2       2    /* two */
#define WS_U8_C3       3    /* three */
#define WS_U8_E0       4    /* A0..BF, then one more */
#define WS_U8_ED       5    /* 80..9F, then one more */
#define WS_U8_F0       6    /* 90..BF, then two more */
#define WS_U8_F4       7    /* 80..8F, then two more */


static uint32_t
ws_utf8_byte(uint32_t state, unsigned c)
{
    switch (state) {

    case WS_UTF8_ACCEPT:
        if (c < 0x80) {
            return WS_UTF8_ACCEPT;
        }

        if (c < 0xc2) {
            return WS_UTF8_REJECT;    /* continuation or overlong C0, C1 */
        }

        if (c < 0xe0) {
            return WS_U8_C1;
        }

        if (c == 0xe0) {
            return WS_U8_E0;
        }

        if (c == 0xed) {
            return WS_U8_ED;
        }

        if (c < 0xf0) {
            return WS_U8_C2;
        }

        if (c == 0xf0) {
            return WS_U8_F0;
        }

        if (c < 0xf4) {
            return WS_U8_C3;
        }

        if (c == 0xf4) {
            return WS_U8_F4;
        }

        return WS_UTF8_REJECT;

    case WS_U8_C1:
    case WS_U8_C2:
    case WS_U8_C3:
        return (c & 0xc0) == 0x80 ? state - 1 : WS_UTF8_REJECT;

    case WS_U8_E0:
        return (c >= 0xa0 && c <= 0xbf) ? WS_U8_C1 : WS_UTF8_REJECT;

    case WS_U8_ED:
        return (c >= 0x80 && c <= 0x9f) ? WS_U8_C1 : WS_UTF8_REJECT;

    case WS_U8_F0:
        return (c >= 0x90 && c <= 0xbf) ? WS_U8_C2 : WS_UTF8_REJECT;

    case WS_U8_F4:
        return (c >= 0x80 && c <= 0x8f) ? WS_U8_C2 : WS_UTF8_REJECT;

    default:
        return WS_UTF8_REJECT;
    }
}


uint32_t
ws_utf8_validate(uint32_t state, const unsigned char *p, size_t len)
{
    uint64_t              w;
    const unsigned char  *end;

    end = p + len;

    while (p < end) {

        if (state == WS_UTF8_ACCEPT) {

            /* ASCII runs, eight bytes at a time */

            while (end - p >= 8) {
                memcpy(&w, p, 8);

                if (w & 0x8080808080808080ULL) {
                    break;
                }

                p += 8;
            }

            if (p == end) {
                break;
            }
        }

        state = ws_utf8_byte(state, *p++);

        if (state == WS_UTF8_REJECT) {
            return WS_UTF8_REJECT;
        }
    }

    return state;
}


uint32_t
ws_utf8_validate_masked(uint32_t state, const unsigned char *p, size_t len,
    const unsigned char key[4], uint64_t offset)
{
    uint64_t              w, m[4];
    unsigned              k, i;
    unsigned char         rot[8];
    const unsigned char  *end;

    /* m[k]: the mask of eight bytes that start at key index k */

    for (k = 0; k < 4; k++) {
        for (i = 0; i < 8; i++) {
            rot[i] = key[(k + i) & 3];
        }

        memcpy(&m[k], rot, 8);
    }

    end = p + len;
    k = (unsigned) (offset & 3);

    while (p < end) {

        if (state == WS_UTF8_ACCEPT) {

            while (end - p >= 8) {
                memcpy(&w, p, 8);

                if ((w ^ m[k]) & 0x8080808080808080ULL) {
                    break;
                }

                p += 8;
            }

            if (p == end) {
                break;
            }
        }

        state = ws_utf8_byte(state, *p++ ^ key[k]);

        if (state == WS_UTF8_REJECT) {
            return WS_UTF8_REJECT;
        }

        k = (k + 1) & 3;
    }

    return state;
}
