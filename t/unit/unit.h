
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

/* CHECK_EQ(a, b): integers */
#define CHECK_EQ(a, b)                                                       \
    CHECKF((unsigned long long) (a) == (unsigned long long) (b),             \
           "%llu != %llu", (unsigned long long) (a),                         \
           (unsigned long long) (b))

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


static int
unit_done(void)
{
    printf("%lu passed, %lu failed\n", unit_passed, unit_failed);

    return unit_failed ? 1 : 0;
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


#endif /* _UNIT_H_INCLUDED_ */
