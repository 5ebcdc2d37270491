
/*
 * Copyright (C) the ngx_ws authors
 *
 * Unit tests of the protocol core without the relay scanner: UTF-8
 * validation (plain and masked), close codes, the handshake key check and
 * accept value (on OpenSSL), HTTP token lists, frame headers and close
 * frames.  The scanner is tested in test_scan.c.
 *
 * Build and run (from the repository root):
 *
 *   cc -std=c99 -Wall -Wextra -Werror -O2 -I ngx_ws_module -I t/unit \
 *       -o test_core t/unit/test_core.c ngx_ws_module/ws_frame.c \
 *       ngx_ws_module/ws_utf8.c ngx_ws_module/ws_handshake.c -lcrypto \
 *       && ./test_core
 *
 * or "make unit", which also builds it with -fsanitize=address,undefined.
 * The last line printed is "N passed, M failed"; the exit status is 1 on
 * any failure.
 */


#include <openssl/evp.h>

#include "unit.h"
#include "ws_core.h"


/* the reference decoder's results (unit.h) */
#define R_ACCEPT      UNIT_UTF8_ACCEPT
#define R_REJECT      UNIT_UTF8_REJECT
#define R_INCOMPLETE  UNIT_UTF8_INCOMPLETE


typedef struct {
    const char  *name;
    const char  *bytes;
    size_t       len;
    int          result;
} utf8_case_t;


#define U(name, s, r)  { name, s, sizeof(s) - 1, r }


static const utf8_case_t  utf8_cases[] = {

    /* 1: some correct UTF-8 text */
    U("empty", "", R_ACCEPT),
    U("ascii", "Hello, world!", R_ACCEPT),
    U("kosme", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", R_ACCEPT),
    U("nul", "\x00", R_ACCEPT),
    U("nul in text", "a\x00" "b", R_ACCEPT),

    /* 2.1: first possible sequence of a certain length */
    U("U+0000", "\x00", R_ACCEPT),
    U("U+0080", "\xc2\x80", R_ACCEPT),
    U("U+0800", "\xe0\xa0\x80", R_ACCEPT),
    U("U+10000", "\xf0\x90\x80\x80", R_ACCEPT),
    U("5-byte first", "\xf8\x88\x80\x80\x80", R_REJECT),
    U("6-byte first", "\xfc\x84\x80\x80\x80\x80", R_REJECT),

    /* 2.2: last possible sequence of a certain length */
    U("U+007F", "\x7f", R_ACCEPT),
    U("U+07FF", "\xdf\xbf", R_ACCEPT),
    U("U+FFFF", "\xef\xbf\xbf", R_ACCEPT),
    U("U+1FFFFF", "\xf7\xbf\xbf\xbf", R_REJECT),
    U("5-byte last", "\xfb\xbf\xbf\xbf\xbf", R_REJECT),
    U("6-byte last", "\xfd\xbf\xbf\xbf\xbf\xbf", R_REJECT),

    /* 2.3: other boundary conditions */
    U("U+D7FF", "\xed\x9f\xbf", R_ACCEPT),
    U("U+E000", "\xee\x80\x80", R_ACCEPT),
    U("U+FFFD", "\xef\xbf\xbd", R_ACCEPT),
    U("U+10FFFF", "\xf4\x8f\xbf\xbf", R_ACCEPT),
    U("U+110000", "\xf4\x90\x80\x80", R_REJECT),

    /* 3.1: unexpected continuation bytes */
    U("lone 80", "\x80", R_REJECT),
    U("lone bf", "\xbf", R_REJECT),
    U("80 bf", "\x80\xbf", R_REJECT),
    U("80 bf 80", "\x80\xbf\x80", R_REJECT),
    U("80 bf 80 bf", "\x80\xbf\x80\xbf", R_REJECT),
    U("a then 80", "a\x80", R_REJECT),
    U("U+0080 then 80", "\xc2\x80\x80", R_REJECT),
    U("U+10000 then 80", "\xf0\x90\x80\x80\x80", R_REJECT),

    /* 3.2: lonely start characters */
    U("c0 space", "\xc0 ", R_REJECT),
    U("c2 space", "\xc2 ", R_REJECT),
    U("df space", "\xdf ", R_REJECT),
    U("e0 space", "\xe0 ", R_REJECT),
    U("ef space", "\xef ", R_REJECT),
    U("f0 space", "\xf0 ", R_REJECT),
    U("f4 space", "\xf4 ", R_REJECT),
    U("f8 space", "\xf8 ", R_REJECT),
    U("fc space", "\xfc ", R_REJECT),
    U("e1 80 space", "\xe1\x80 ", R_REJECT),
    U("f1 80 80 space", "\xf1\x80\x80 ", R_REJECT),

    /* 3.3: sequences with the last continuation byte missing */
    U("c2 at end", "\xc2", R_INCOMPLETE),
    U("df at end", "\xdf", R_INCOMPLETE),
    U("e0 a0 at end", "\xe0\xa0", R_INCOMPLETE),
    U("ef bf at end", "\xef\xbf", R_INCOMPLETE),
    U("e1 at end", "\xe1", R_INCOMPLETE),
    U("f0 90 80 at end", "\xf0\x90\x80", R_INCOMPLETE),
    U("f4 8f bf at end", "\xf4\x8f\xbf", R_INCOMPLETE),
    U("f1 at end", "\xf1", R_INCOMPLETE),
    U("text then f0 90", "abc\xf0\x90", R_INCOMPLETE),
    U("c0 at end", "\xc0", R_REJECT),
    U("e0 80 at end", "\xe0\x80", R_REJECT),
    U("f0 80 80 at end", "\xf0\x80\x80", R_REJECT),
    U("f7 bf bf at end", "\xf7\xbf\xbf", R_REJECT),

    /* 3.4: concatenation of incomplete sequences */
    U("incomplete concatenation",
      "\xc2\xe0\xa0\xf0\x90\x80\xdf\xef\xbf\xf4\x8f\xbf", R_REJECT),

    /* 3.5: impossible bytes */
    U("fe", "\xfe", R_REJECT),
    U("ff", "\xff", R_REJECT),
    U("fe fe ff ff", "\xfe\xfe\xff\xff", R_REJECT),
    U("f5", "\xf5\x80\x80\x80", R_REJECT),
    U("f6", "\xf6\x80\x80\x80", R_REJECT),
    U("f7", "\xf7\x80\x80\x80", R_REJECT),
    U("ff in text", "abc\xff" "def", R_REJECT),

    /* 4.1: overlong ASCII */
    U("overlong / 2", "\xc0\xaf", R_REJECT),
    U("overlong / 3", "\xe0\x80\xaf", R_REJECT),
    U("overlong / 4", "\xf0\x80\x80\xaf", R_REJECT),
    U("overlong / 5", "\xf8\x80\x80\x80\xaf", R_REJECT),
    U("overlong / 6", "\xfc\x80\x80\x80\x80\xaf", R_REJECT),

    /* 4.2: maximum overlong sequences */
    U("overlong max 2", "\xc1\xbf", R_REJECT),
    U("overlong max 3", "\xe0\x9f\xbf", R_REJECT),
    U("overlong max 4", "\xf0\x8f\xbf\xbf", R_REJECT),

    /* 4.3: overlong NUL */
    U("overlong nul 2", "\xc0\x80", R_REJECT),
    U("overlong nul 3", "\xe0\x80\x80", R_REJECT),
    U("overlong nul 4", "\xf0\x80\x80\x80", R_REJECT),

    /* 5.1: single UTF-16 surrogates */
    U("U+D800", "\xed\xa0\x80", R_REJECT),
    U("U+DB7F", "\xed\xad\xbf", R_REJECT),
    U("U+DB80", "\xed\xae\x80", R_REJECT),
    U("U+DBFF", "\xed\xaf\xbf", R_REJECT),
    U("U+DC00", "\xed\xb0\x80", R_REJECT),
    U("U+DF80", "\xed\xbe\x80", R_REJECT),
    U("U+DFFF", "\xed\xbf\xbf", R_REJECT),

    /* 5.2: paired UTF-16 surrogates */
    U("U+D800 U+DC00", "\xed\xa0\x80\xed\xb0\x80", R_REJECT),
    U("U+DBFF U+DFFF", "\xed\xaf\xbf\xed\xbf\xbf", R_REJECT),

    /* 5.3: noncharacters are valid UTF-8 */
    U("U+FFFE", "\xef\xbf\xbe", R_ACCEPT),
    U("U+FDD0", "\xef\xb7\x90", R_ACCEPT),
    U("U+10FFFE", "\xf4\x8f\xbf\xbe", R_ACCEPT),

    /* text with multibyte characters everywhere */
    U("mixed", "a\xc2\xa9" "b\xe2\x82\xac" "c\xf0\x9f\x98\x80" "d\xed\x9f\xbf"
      "\xee\x80\x80\xf4\x8f\xbf\xbf" "end", R_ACCEPT),
};


static int
state_class(uint32_t state)
{
    if (state == WS_UTF8_ACCEPT) {
        return R_ACCEPT;
    }

    if (state == WS_UTF8_REJECT) {
        return R_REJECT;
    }

    return R_INCOMPLETE;
}


static const char *class_name[] = { "accept", "reject", "incomplete" };


static void
mask_bytes(unsigned char *dst, const unsigned char *src, size_t n,
    const unsigned char key[4], uint64_t offset)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        dst[i] = src[i] ^ key[(offset + i) & 3];
    }
}


static const unsigned char  test_keys[][4] = {
    { 0x00, 0x00, 0x00, 0x00 },
    { 0xff, 0xff, 0xff, 0xff },
    { 0x37, 0xfa, 0x21, 0x3d },
    { 0x80, 0x00, 0x7f, 0xc0 },
    { 0x01, 0x02, 0x04, 0x08 },
};

#define NKEYS  (sizeof(test_keys) / sizeof(test_keys[0]))


static void
test_utf8_cases(void)
{
    size_t                i, j, k, n, where;
    uint32_t              st, st2;
    int                   ref, bad;
    unsigned char         m[64];
    uint64_t              off, o;
    const unsigned char  *s;
    const utf8_case_t    *c;

    for (i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++) {
        c = &utf8_cases[i];
        s = (const unsigned char *) c->bytes;
        n = c->len;
        unit_ctx = c->name;

        /* the table agrees with the reference decoder */
        CHECKF(unit_ref_utf8(s, n, &where) == c->result, "reference says %s",
               class_name[unit_ref_utf8(s, n, &where)]);

        st = ws_utf8_validate(WS_UTF8_ACCEPT, s, n);
        CHECKF(state_class(st) == c->result, "got %s (state %u), want %s",
               class_name[state_class(st)], (unsigned) st,
               class_name[c->result]);

        /* REJECT is final */
        if (c->result == R_REJECT) {
            CHECK_EQ(ws_utf8_validate(st, (const unsigned char *) "a", 1),
                     WS_UTF8_REJECT);
            CHECK_EQ(ws_utf8_validate(st, (const unsigned char *) "", 0),
                     WS_UTF8_REJECT);

            /* rejected at the first byte that cannot continue */
            unit_ref_utf8(s, n, &where);
            CHECKF(state_class(ws_utf8_validate(0, s, where)) != R_REJECT,
                   "rejected before byte %lu", (unsigned long) where);
            CHECKF(ws_utf8_validate(0, s, where + 1) == WS_UTF8_REJECT,
                   "not rejected at byte %lu", (unsigned long) where);
        }

        /* byte by byte and split at every position */
        bad = 0;
        st2 = WS_UTF8_ACCEPT;

        for (j = 0; j < n; j++) {
            st2 = ws_utf8_validate(st2, s + j, 1);
        }

        if (st2 != st) {
            bad = 1;
        }

        for (j = 0; j <= n && !bad; j++) {
            st2 = ws_utf8_validate(WS_UTF8_ACCEPT, s, j);
            st2 = ws_utf8_validate(st2, s + j, n - j);
            if (st2 != st) {
                bad = 1;
            }
        }

        CHECKF(!bad, "split feeding gives another state");

        /* masked: every key, offsets 0..3 and a large one */
        bad = 0;

        for (k = 0; k < NKEYS; k++) {
            for (off = 0; off < 6; off++) {
                o = (off < 4) ? off
                    : (off == 4) ? 0x100000003ULL : 0xfffffffffffffffdULL;

                mask_bytes(m, s, n, test_keys[k], o);
                st2 = ws_utf8_validate_masked(WS_UTF8_ACCEPT, m, n,
                                              test_keys[k], o);
                if (st2 != st) {
                    bad = 1;
                }

                /* masked, split at every position */
                for (j = 0; j <= n; j++) {
                    st2 = ws_utf8_validate_masked(WS_UTF8_ACCEPT, m, j,
                                                  test_keys[k], o);
                    st2 = ws_utf8_validate_masked(st2, m + j, n - j,
                                                  test_keys[k], o + j);
                    if (st2 != st) {
                        bad = 1;
                    }
                }
            }
        }

        CHECKF(!bad, "masked validation gives another state");

        ref = c->result;
        (void) ref;
    }

    unit_ctx = "";
}


/* all strings of 1 and 2 bytes, 3 bytes, and 4 bytes with chosen tails */

static void
test_utf8_exhaustive(void)
{
    unsigned       a, b, c, d, nbad, nbadm;
    size_t         where;
    uint32_t       st;
    unsigned char  s[4], m[4];
    static const unsigned char  tails[] = {
        0x00, 0x41, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc2,
        0xe0, 0xed, 0xf0, 0xf4, 0xf5, 0xff
    };

    unit_ctx = "exhaustive";
    nbad = 0;
    nbadm = 0;

    for (a = 0; a < 256; a++) {
        s[0] = (unsigned char) a;
        st = ws_utf8_validate(0, s, 1);
        nbad += state_class(st) != unit_ref_utf8(s, 1, &where);

        for (b = 0; b < 256; b++) {
            s[1] = (unsigned char) b;
            st = ws_utf8_validate(0, s, 2);
            nbad += state_class(st) != unit_ref_utf8(s, 2, &where);

            mask_bytes(m, s, 2, test_keys[2], a & 3);
            nbadm += ws_utf8_validate_masked(0, m, 2, test_keys[2], a & 3)
                     != st;

            for (c = 0; c < 256; c++) {
                s[2] = (unsigned char) c;
                st = ws_utf8_validate(0, s, 3);
                if (state_class(st) != unit_ref_utf8(s, 3, &where)) {
                    nbad++;
                }

                if (a < 0xf0 || a > 0xf4) {
                    continue;
                }

                for (d = 0; d < 256; d++) {
                    s[3] = (unsigned char) d;
                    st = ws_utf8_validate(0, s, 4);
                    if (state_class(st) != unit_ref_utf8(s, 4, &where)) {
                        nbad++;
                    }
                }
            }

            for (c = 0; c < sizeof(tails); c++) {
                for (d = 0; d < sizeof(tails); d++) {
                    s[2] = tails[c];
                    s[3] = tails[d];
                    st = ws_utf8_validate(0, s, 4);
                    nbad += state_class(st) != unit_ref_utf8(s, 4, &where);

                    mask_bytes(m, s, 4, test_keys[3], b & 3);
                    nbadm += ws_utf8_validate_masked(0, m, 4, test_keys[3],
                                                     b & 3) != st;
                }
            }
        }
    }

    CHECKF(nbad == 0, "%u short strings classified differently", nbad);
    CHECKF(nbadm == 0, "%u short strings differ masked", nbadm);

    unit_ctx = "";
}


/*
 * Long inputs (to exercise word-at-a-time fast paths), at every alignment,
 * with one bad byte or sequence at every position; plain and masked.
 */

static void
test_utf8_long(void)
{
    size_t          n, pos, align, k, where, split;
    int             ref, round;
    uint32_t        st, stm, st2;
    unsigned        nbad, nbadm, nbads;
    uint64_t        off;
    unsigned char   text[600], s[600];
    unsigned char   store[640 + 8], mstore[640 + 8];
    unsigned char  *p, *m;
    unsigned char   key[4];
    static const char  *bad_seqs[] = {
        "\xff", "\x80", "\xc0\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
        "\xe0\x80", "\xc2", "\xf0\x90\x80", "\xc2\xc2"
    };

    unit_ctx = "long";
    nbad = 0;
    nbadm = 0;
    nbads = 0;

    for (round = 0; round < 4; round++) {
        n = (round == 0) ? 257 : (round == 1) ? 64 : (round == 2) ? 511 : 100;
        unit_make_text(text, n, round == 3 ? 0 : (round == 1 ? 50 : 90));

        if (round == 0) {
            /* pure ASCII */
            memset(text, 'a', n);
        }

        for (k = 0; k < sizeof(bad_seqs) / sizeof(bad_seqs[0]) + 1; k++) {
            for (pos = 0; pos <= n; pos++) {

                memcpy(s, text, n);

                if (k < sizeof(bad_seqs) / sizeof(bad_seqs[0])) {
                    size_t  bl = strlen(bad_seqs[k]);

                    if (pos + bl > n) {
                        continue;
                    }

                    memcpy(s + pos, bad_seqs[k], bl);

                } else if (pos > 0) {
                    /* the valid text itself, once */
                    break;
                }

                ref = unit_ref_utf8(s, n, &where);

                align = pos & 7;
                p = store + align;
                m = mstore + ((pos >> 3) & 7);
                memcpy(p, s, n);

                st = ws_utf8_validate(0, p, n);

                if (state_class(st) != ref) {
                    if (nbad++ == 0) {
                        fprintf(stderr, "long: round %d seq %lu pos %lu: "
                                "%s, want %s\n", round, (unsigned long) k,
                                (unsigned long) pos,
                                class_name[state_class(st)], class_name[ref]);
                    }
                }

                key[0] = (unsigned char) unit_rand();
                key[1] = (unsigned char) unit_rand();
                key[2] = (unsigned char) unit_rand();
                key[3] = (unsigned char) unit_rand();
                off = unit_rand_range(8);

                mask_bytes(m, s, n, key, off);
                stm = ws_utf8_validate_masked(0, m, n, key, off);

                if (stm != st) {
                    if (nbadm++ == 0) {
                        fprintf(stderr, "long masked: round %d seq %lu "
                                "pos %lu off %lu: state %u, want %u\n",
                                round, (unsigned long) k, (unsigned long) pos,
                                (unsigned long) off, (unsigned) stm,
                                (unsigned) st);
                    }
                }

                /* in two pieces, the first masked, the second plain */
                split = unit_rand_range(n + 1);
                st2 = ws_utf8_validate_masked(0, m, split, key, off);
                st2 = ws_utf8_validate(st2, s + split, n - split);

                if (st2 != st) {
                    if (nbads++ == 0) {
                        fprintf(stderr, "long split: round %d seq %lu "
                                "pos %lu split %lu: state %u, want %u\n",
                                round, (unsigned long) k, (unsigned long) pos,
                                (unsigned long) split, (unsigned) st2,
                                (unsigned) st);
                    }
                }
            }
        }
    }

    CHECKF(nbad == 0, "%u long inputs classified wrongly", nbad);
    CHECKF(nbadm == 0, "%u long inputs differ masked", nbadm);
    CHECKF(nbads == 0, "%u long inputs differ when split", nbads);

    unit_ctx = "";
}


/* valid text split at every position: never REJECT, ACCEPT at the end */

static void
test_utf8_streaming(void)
{
    size_t         n, i, j;
    uint32_t       st;
    unsigned       bad, badm;
    int            round;
    uint64_t       off;
    unsigned char  s[300], m[300];

    unit_ctx = "streaming";
    bad = 0;
    badm = 0;

    for (round = 0; round < 20; round++) {
        n = 1 + unit_rand_range(sizeof(s) - 1);
        unit_make_text(s, n, (unsigned) (round * 5));

        off = unit_rand_range(4);
        mask_bytes(m, s, n, test_keys[round % NKEYS], off);

        for (i = 0; i <= n; i++) {
            st = ws_utf8_validate(0, s, i);
            bad += st == WS_UTF8_REJECT;
            st = ws_utf8_validate(st, s + i, n - i);
            bad += st != WS_UTF8_ACCEPT;

            st = ws_utf8_validate_masked(0, m, i, test_keys[round % NKEYS],
                                         off);
            badm += st == WS_UTF8_REJECT;
            st = ws_utf8_validate_masked(st, m + i, n - i,
                                         test_keys[round % NKEYS], off + i);
            badm += st != WS_UTF8_ACCEPT;
        }

        /* three pieces at every pair of positions (short ones) */
        if (n > 80) {
            continue;
        }

        for (i = 0; i <= n; i++) {
            for (j = i; j <= n; j++) {
                st = ws_utf8_validate(0, s, i);
                bad += st == WS_UTF8_REJECT;
                st = ws_utf8_validate(st, s + i, j - i);
                bad += st == WS_UTF8_REJECT;
                st = ws_utf8_validate(st, s + j, n - j);
                bad += st != WS_UTF8_ACCEPT;
            }
        }
    }

    CHECKF(bad == 0, "%u wrong states", bad);
    CHECKF(badm == 0, "%u wrong states masked", badm);

    unit_ctx = "";
}


static void
test_close_codes(void)
{
    unsigned  code, bad;
    int       want;
    static const unsigned  valid[] = {
        1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013,
        1014, 3000, 3999, 4000, 4999
    };
    static const unsigned  invalid[] = {
        0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000,
        65535
    };

    unit_ctx = "close codes";

    for (code = 0; code < sizeof(valid) / sizeof(valid[0]); code++) {
        CHECKF(ws_close_code_valid(valid[code]), "%u", valid[code]);
    }

    for (code = 0; code < sizeof(invalid) / sizeof(invalid[0]); code++) {
        CHECKF(!ws_close_code_valid(invalid[code]), "%u", invalid[code]);
    }

    bad = 0;

    for (code = 0; code <= 70000; code++) {
        want = (code >= 1000 && code <= 1003)
               || (code >= 1007 && code <= 1014)
               || (code >= 3000 && code <= 4999);

        if (!ws_close_code_valid(code) != !want) {
            if (bad++ == 0) {
                fprintf(stderr, "close code %u: got %d\n", code,
                        ws_close_code_valid(code));
            }
        }
    }

    CHECKF(bad == 0, "%u codes wrong in 0..70000", bad);

    unit_ctx = "";
}


static void
test_key(void)
{
    size_t          i;
    unsigned char   raw[17], enc[32];
    static const char  *bad[] = {
        "",
        "dGhlIHNhbXBsZSBub25jZQ",        /* no padding */
        "dGhlIHNhbXBsZSBub25jZQ=",       /* half the padding */
        "dGhlIHNhbXBsZSBub25jZQ===",     /* too much padding */
        "AAAAAAAAAAAAAAAAAAAA",          /* 15 bytes */
        "AAAAAAAAAAAAAAAAAAAAAAA=",      /* 17 bytes */
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAA",  /* 21 bytes */
        "dGhlIHNhbXBsZSBub25jZQ==dGhl",
        "dGhlIHNhbXBsZSBub25jZ!==",
        "dGhlIHNhbXBsZSBub25jZQ== ",
        " dGhlIHNhbXBsZSBub25jZQ==",
        "dGhlIHNhbXBs ZSBub25jZQ=",
        "dGhlIHNhbXBsZSBub25j\xe9Q==",
        "not a key at all",
        "========================",
        "dGhlIHNhbXBsZSBub25jZQ-_",
        "dGhlIHNhbXBsZSBub25jZR==",      /* not canonical */
    };

    unit_ctx = "key";

    CHECK(ws_key_valid((const unsigned char *) "dGhlIHNhbXBsZSBub25jZQ==",
                       24));
    CHECK(ws_key_valid((const unsigned char *) "x3JJHMbDL1EzLkh9GBhXDw==",
                       24));
    CHECK(ws_key_valid((const unsigned char *) "/////////////////////w==",
                       24));
    CHECK(ws_key_valid((const unsigned char *) "AAAAAAAAAAAAAAAAAAAAAA==",
                       24));

    for (i = 0; i < 16; i++) {
        raw[i] = (unsigned char) unit_rand();
    }

    (void) EVP_EncodeBlock(enc, raw, 16);
    CHECK(ws_key_valid(enc, 24));

    /* only the given length counts */
    CHECK(ws_key_valid((const unsigned char *) "dGhlIHNhbXBsZSBub25jZQ==xx",
                       24));
    CHECK(!ws_key_valid((const unsigned char *) "dGhlIHNhbXBsZSBub25jZQ==",
                        23));

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        CHECKF(!ws_key_valid((const unsigned char *) bad[i], strlen(bad[i])),
               "\"%s\" accepted", bad[i]);
    }

    unit_ctx = "";
}


static void
test_accept(void)
{
    unsigned char  out[WS_ACCEPT_LEN + 4];

    unit_ctx = "accept";

    memset(out, '#', sizeof(out));
    ws_accept_key((const unsigned char *) "dGhlIHNhbXBsZSBub25jZQ==", out);
    CHECK_MEM(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", WS_ACCEPT_LEN);
    CHECK_MEM(out + WS_ACCEPT_LEN, "####", 4);

    ws_accept_key((const unsigned char *) "x3JJHMbDL1EzLkh9GBhXDw==", out);
    CHECK_MEM(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=", WS_ACCEPT_LEN);

    CHECK_EQ(WS_ACCEPT_LEN, 28);

    unit_ctx = "";
}


static void
test_tokens(void)
{
    size_t  i;
    static const struct {
        const char  *list;
        const char  *token;
        int          has;
    }  cases[] = {
        { "Upgrade", "upgrade", 1 },
        { "upgrade", "upgrade", 1 },
        { "UPGRADE", "upgrade", 1 },
        { "uPgRaDe", "Upgrade", 1 },
        { "keep-alive, Upgrade", "upgrade", 1 },
        { "keep-alive,Upgrade", "upgrade", 1 },
        { "Upgrade, keep-alive", "upgrade", 1 },
        { "Upgrade ,keep-alive", "upgrade", 1 },
        { "  upgrade  ", "upgrade", 1 },
        { "\tupgrade\t", "upgrade", 1 },
        { "a, b, c, upgrade, d", "upgrade", 1 },
        { ", ,upgrade", "upgrade", 1 },
        { "upgrade,", "upgrade", 1 },
        { "websocket", "websocket", 1 },
        { "WebSocket", "websocket", 1 },
        { "h2c, websocket", "websocket", 1 },
        { "upgrade2", "upgrade", 0 },
        { "xupgrade", "upgrade", 0 },
        { "upgrad", "upgrade", 0 },
        { "up grade", "upgrade", 0 },
        { "upgrade-x", "upgrade", 0 },
        { "keep-alive", "upgrade", 0 },
        { "keep-alive, upgrade2", "upgrade", 0 },
        { "upgrade2, keep-alive", "upgrade", 0 },
        { "", "upgrade", 0 },
        { ",", "upgrade", 0 },
        { "   ", "upgrade", 0 },
        { "websockets", "websocket", 0 },
        { "web socket", "websocket", 0 },
    };

    unit_ctx = "tokens";

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        CHECKF(ws_list_has_token((const unsigned char *) cases[i].list,
                                 strlen(cases[i].list), cases[i].token)
               == cases[i].has, "\"%s\" has \"%s\": want %d", cases[i].list,
               cases[i].token, cases[i].has);
    }

    /* only the given length counts */
    CHECK(ws_list_has_token((const unsigned char *) "upgradeX", 7,
                            "upgrade"));
    CHECK(!ws_list_has_token((const unsigned char *) "keep-alive, Upgrade",
                             16, "upgrade"));
    CHECK(!ws_list_has_token((const unsigned char *) "upgrade", 0,
                             "upgrade"));

    unit_ctx = "";
}


static void
test_list_next(void)
{
    char                  out[128];
    size_t                n, len;
    const char           *list;
    const unsigned char  *p, *elt;

    unit_ctx = "list elements";

    /* the elements joined with "|": empty ones and whitespace dropped */

    list = " ,chat.v1 ,\t, a b\t,,  superchat,bearer.x=y= , ";
    p = (const unsigned char *) list;
    len = 0;

    while (ws_list_next(&p, (const unsigned char *) list + strlen(list),
                        &elt, &n))
    {
        if (len) {
            out[len++] = '|';
        }

        memcpy(out + len, elt, n);
        len += n;
    }

    out[len] = '\0';

    CHECKF(strcmp(out, "chat.v1|a b|superchat|bearer.x=y=") == 0,
           "got \"%s\"", out);
    CHECK(p == (const unsigned char *) list + strlen(list));

    p = (const unsigned char *) " , ";
    CHECK(!ws_list_next(&p, p + 3, &elt, &n));

    p = (const unsigned char *) "x";
    CHECK(ws_list_next(&p, p + 1, &elt, &n) && n == 1 && elt[0] == 'x');
    CHECK(!ws_list_next(&p, p, &elt, &n));

    unit_ctx = "";
}


static void
test_frame_header(void)
{
    size_t          i, n;
    unsigned char   out[WS_MAX_HEADER + 8], want[WS_MAX_HEADER];
    static const unsigned char  key[4] = { 0x12, 0x34, 0x56, 0x78 };
    static const struct {
        uint64_t       len;
        size_t         n;
        unsigned char  hdr[10];
    }  cases[] = {
        { 0, 2, { 0x81, 0x00 } },
        { 1, 2, { 0x81, 0x01 } },
        { 125, 2, { 0x81, 0x7d } },
        { 126, 4, { 0x81, 0x7e, 0x00, 0x7e } },
        { 127, 4, { 0x81, 0x7e, 0x00, 0x7f } },
        { 65535, 4, { 0x81, 0x7e, 0xff, 0xff } },
        { 65536, 10, { 0x81, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0 } },
        { 4294967296ULL, 10, { 0x81, 0x7f, 0, 0, 0, 1, 0, 0, 0, 0 } },
        { 0x7fffffffffffffffULL, 10,
          { 0x81, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } },
        { 0x0102030405060708ULL, 10,
          { 0x81, 0x7f, 1, 2, 3, 4, 5, 6, 7, 8 } },
    };

    unit_ctx = "frame header";

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memset(out, 0xee, sizeof(out));
        n = ws_frame_header(out, 1, WS_OP_TEXT, cases[i].len, NULL);
        CHECKF(n == cases[i].n, "length %llu: %lu bytes",
               (unsigned long long) cases[i].len, (unsigned long) n);
        CHECK_MEM(out, cases[i].hdr, cases[i].n);
        CHECK(out[cases[i].n] == 0xee);

        memcpy(want, cases[i].hdr, cases[i].n);
        want[1] |= 0x80;
        memcpy(want + cases[i].n, key, 4);

        memset(out, 0xee, sizeof(out));
        n = ws_frame_header(out, 1, WS_OP_TEXT, cases[i].len, key);
        CHECKF(n == cases[i].n + 4, "masked length %llu: %lu bytes",
               (unsigned long long) cases[i].len, (unsigned long) n);
        CHECK_MEM(out, want, cases[i].n + 4);
        CHECK(out[cases[i].n + 4] == 0xee);
    }

    n = ws_frame_header(out, 0, WS_OP_CONT, 3, NULL);
    CHECK(n == 2 && out[0] == 0x00 && out[1] == 0x03);

    n = ws_frame_header(out, 0, WS_OP_BINARY, 300, NULL);
    CHECK(n == 4 && out[0] == 0x02 && out[1] == 0x7e && out[2] == 0x01
          && out[3] == 0x2c);

    n = ws_frame_header(out, 1, WS_OP_PING, 0, key);
    CHECK(n == 6 && out[0] == 0x89 && out[1] == 0x80
          && memcmp(out + 2, key, 4) == 0);

    n = ws_frame_header(out, 1, WS_OP_PONG, 5, NULL);
    CHECK(n == 2 && out[0] == 0x8a && out[1] == 0x05);

    n = ws_frame_header(out, 1, WS_OP_CLOSE, 2, NULL);
    CHECK(n == 2 && out[0] == 0x88 && out[1] == 0x02);

    n = ws_frame_header(out, 0, WS_OP_TEXT, 65536, key);
    CHECK(n == 14 && out[0] == 0x01 && out[1] == 0xff);

    unit_ctx = "";
}


static void
test_close_frame(void)
{
    size_t          n, i;
    unsigned char   out[WS_MAX_CONTROL_FRAME + 8];
    static const unsigned char  key[4] = { 0xa1, 0xb2, 0xc3, 0xd4 };
    static const unsigned  codes[] = { 1000, 1001, 1002, 1007, 1009, 1011,
                                       4999 };

    unit_ctx = "close frame";

    for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        memset(out, 0xee, sizeof(out));
        n = ws_close_frame(out, codes[i], NULL);
        CHECKF(n == 4, "code %u: %lu bytes", codes[i], (unsigned long) n);
        CHECKF(out[0] == 0x88 && out[1] == 0x02
               && out[2] == (codes[i] >> 8) && out[3] == (codes[i] & 0xff),
               "code %u: %02x %02x %02x %02x", codes[i], out[0], out[1],
               out[2], out[3]);
        CHECK(out[4] == 0xee);

        memset(out, 0xee, sizeof(out));
        n = ws_close_frame(out, codes[i], key);
        CHECKF(n == 8, "masked code %u: %lu bytes", codes[i],
               (unsigned long) n);
        CHECKF(out[0] == 0x88 && out[1] == 0x82
               && memcmp(out + 2, key, 4) == 0
               && out[6] == ((codes[i] >> 8) ^ key[0])
               && out[7] == ((codes[i] & 0xff) ^ key[1]),
               "masked code %u", codes[i]);
        CHECK(out[8] == 0xee);
    }

    /* ws_control_frame(): a ping and a pong, masked or not */
    memset(out, 0xee, sizeof(out));
    n = ws_control_frame(out, WS_OP_PING, (const unsigned char *) "abc", 3,
                         NULL);
    CHECK(n == 5 && memcmp(out, "\x89\x03" "abc", 5) == 0
          && out[5] == 0xee);

    memset(out, 0xee, sizeof(out));
    n = ws_control_frame(out, WS_OP_PONG, (const unsigned char *) "abcde", 5,
                         key);
    CHECK(n == 11 && out[0] == 0x8a && out[1] == 0x85
          && memcmp(out + 2, key, 4) == 0
          && out[6] == ('a' ^ key[0]) && out[9] == ('d' ^ key[3])
          && out[10] == ('e' ^ key[0]) && out[11] == 0xee);

    n = ws_control_frame(out, WS_OP_PING, NULL, 0, NULL);
    CHECK(n == 2 && out[0] == 0x89 && out[1] == 0x00);

    unit_ctx = "";
}


int
main(void)
{
    test_utf8_cases();
    test_utf8_exhaustive();
    test_utf8_long();
    test_utf8_streaming();
    test_close_codes();
    test_key();
    test_accept();
    test_tokens();
    test_list_next();
    test_frame_header();
    test_close_frame();

    return unit_done();
}
