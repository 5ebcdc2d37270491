
/*
 * Copyright (C) the ngx_ws authors
 *
 * A tiny assertion framework for the core unit tests.  Every CHECK() counts
 * as one test; a failed one prints where it failed and the expression.  A
 * test program ends with "return unit_done();", which prints
 * "N passed, M failed" as the last line and returns non-zero on failure.
 */


#ifndef _UNIT_H_INCLUDED_
#define _UNIT_H_INCLUDED_


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <stdint.h>


static unsigned long  unit_passed;
static unsigned long  unit_failed;
static const char    *unit_ctx = "";


#define UNIT_MAX_REPORTS  200


/* CHECK(expr): one test; the macros are statements */
#define CHECK(expr)                                                          \
    unit_check((expr) ? 1 : 0, __FILE__, __LINE__, #expr, NULL)

/* CHECKF(expr, fmt, ...): one test, with a message on failure */
#define CHECKF(expr, ...)                                                    \
    unit_check((expr) ? 1 : 0, __FILE__, __LINE__, #expr, __VA_ARGS__)

/* CHECK_EQ(a, b): integers, each evaluated once */
#define CHECK_EQ(a, b)                                                       \
    unit_check_eq((unsigned long long) (a), (unsigned long long) (b),       \
                  __FILE__, __LINE__, #a " == " #b)

/* CHECK_MEM(a, b, n): n bytes */
#define CHECK_MEM(a, b, n)                                                   \
    CHECKF(memcmp((a), (b), (n)) == 0, "%s", unit_hexdiff((a), (b), (n)))

/* CHECK_STR(a, b): C strings, NULL allowed */
#define CHECK_STR(a, b)                                                      \
    CHECKF(unit_streq((a), (b)), "\"%s\" != \"%s\"", unit_str(a),         \
           unit_str(b))


static const char *
unit_str(const char *s)
{
    return s ? s : "(null)";
}


static int
unit_check(int ok, const char *file, int line, const char *expr,
    const char *fmt, ...)
{
    va_list  args;

    if (ok) {
        unit_passed++;
        return 1;
    }

    unit_failed++;

    if (unit_failed > UNIT_MAX_REPORTS) {
        if (unit_failed == UNIT_MAX_REPORTS + 1) {
            fprintf(stderr, "... further failures not shown\n");
        }
        return 0;
    }

    fprintf(stderr, "FAIL %s:%d: %s [%s]", file, line, expr, unit_ctx);

    if (fmt != NULL) {
        fprintf(stderr, ": ");
        va_start(args, fmt);
        vfprintf(stderr, fmt, args);
        va_end(args);
    }

    fprintf(stderr, "\n");

    return 0;
}


static int
unit_check_eq(unsigned long long a, unsigned long long b, const char *file,
    int line, const char *expr)
{
    return unit_check(a == b, file, line, expr, "%llu != %llu", a, b);
}


static inline int
unit_streq(const char *a, const char *b)
{
    if (a == NULL || b == NULL) {
        return a == b;
    }

    return strcmp(a, b) == 0;
}


static const char *
unit_hexdiff(const void *a, const void *b, size_t n)
{
    static char           buf[256];
    size_t                i, k, j;
    const unsigned char  *pa, *pb;

    pa = a;
    pb = b;

    for (i = 0; i < n && pa[i] == pb[i]; i++) {
        /* void */
    }

    j = (size_t) snprintf(buf, sizeof(buf), "differ at %lu of %lu:",
                          (unsigned long) i, (unsigned long) n);

    for (k = i; k < n && k < i + 16; k++) {
        j += (size_t) snprintf(buf + j, sizeof(buf) - j, " %02x", pa[k]);
    }

    j += (size_t) snprintf(buf + j, sizeof(buf) - j, " vs");

    for (k = i; k < n && k < i + 16; k++) {
        j += (size_t) snprintf(buf + j, sizeof(buf) - j, " %02x", pb[k]);
    }

    return buf;
}


/*
 * An independent UTF-8 decoder (RFC 3629): the result for s[0..n), and in
 * *where the index of the byte at which a rejection happens.
 */

#define UNIT_UTF8_ACCEPT      0
#define UNIT_UTF8_REJECT      1
#define UNIT_UTF8_INCOMPLETE  2


static int
unit_ref_utf8(const unsigned char *s, size_t n, size_t *where)
{
    size_t         i, k, need;
    unsigned char  c, b, lo, hi;

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
            if (c == 0xe0) {
                lo = 0xa0;
            } else if (c == 0xed) {
                hi = 0x9f;
            }

        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            if (c == 0xf0) {
                lo = 0x90;
            } else if (c == 0xf4) {
                hi = 0x8f;
            }

        } else {
            *where = i;
            return UNIT_UTF8_REJECT;
        }

        for (k = 1; k <= need; k++) {
            if (i + k >= n) {
                return UNIT_UTF8_INCOMPLETE;
            }

            b = s[i + k];

            if (k > 1) {
                lo = 0x80;
                hi = 0xbf;
            }

            if (b < lo || b > hi) {
                *where = i + k;
                return UNIT_UTF8_REJECT;
            }
        }

        i += need + 1;
    }

    return UNIT_UTF8_ACCEPT;
}


/* a small deterministic PRNG (xorshift64*) */

static uint64_t  unit_seed = 0x9e3779b97f4a7c15ULL;

static uint64_t
unit_rand(void)
{
    unit_seed ^= unit_seed >> 12;
    unit_seed ^= unit_seed << 25;
    unit_seed ^= unit_seed >> 27;

    return unit_seed * 0x2545f4914f6cdd1dULL;
}


static size_t
unit_rand_range(size_t n)
{
    return n ? (size_t) (unit_rand() % n) : 0;
}


/*
 * Valid UTF-8 text of exactly n bytes: printable ASCII (ascii_percent of
 * the characters) and 2-, 3- and 4-byte characters.
 */

static size_t
unit_make_text(unsigned char *dst, size_t n, unsigned ascii_percent)
{
    size_t    i, k;
    uint32_t  cp;

    i = 0;

    while (i < n) {
        if (unit_rand_range(100) < ascii_percent) {
            dst[i++] = (unsigned char) (0x20 + unit_rand_range(0x5f));
            continue;
        }

        switch (unit_rand_range(3)) {

        case 0:
            cp = 0x80 + (uint32_t) unit_rand_range(0x800 - 0x80);
            k = 2;
            break;

        case 1:
            do {
                cp = 0x800 + (uint32_t) unit_rand_range(0x10000 - 0x800);
            } while (cp >= 0xd800 && cp <= 0xdfff);
            k = 3;
            break;

        default:
            cp = 0x10000 + (uint32_t) unit_rand_range(0x110000 - 0x10000);
            k = 4;
            break;
        }

        if (i + k > n) {
            dst[i++] = 'x';
            continue;
        }

        if (k == 2) {
            dst[i++] = (unsigned char) (0xc0 | (cp >> 6));
            dst[i++] = (unsigned char) (0x80 | (cp & 0x3f));

        } else if (k == 3) {
            dst[i++] = (unsigned char) (0xe0 | (cp >> 12));
            dst[i++] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
            dst[i++] = (unsigned char) (0x80 | (cp & 0x3f));

        } else {
            dst[i++] = (unsigned char) (0xf0 | (cp >> 18));
            dst[i++] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
            dst[i++] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
            dst[i++] = (unsigned char) (0x80 | (cp & 0x3f));
        }
    }

    return n;
}


static int
unit_done(void)
{
    /* every helper counts as used in every test program */
    (void) unit_hexdiff;
    (void) unit_make_text;
    (void) unit_str;
    (void) unit_ref_utf8;

    printf("%lu passed, %lu failed\n", unit_passed, unit_failed);

    return unit_failed ? 1 : 0;
}


#endif /* _UNIT_H_INCLUDED_ */
