/*
 * Unit tests for src/aigw_sha256.c (cmocka).
 */

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <string.h>
#include <cmocka.h>

#include "aigw_sha256.h"


static void
check_digest(const u_char *md, const char *hex)
{
    u_char  out[2 * AIGW_SHA256_LEN + 1];

    *aigw_hex_encode(out, md, AIGW_SHA256_LEN) = '\0';
    assert_string_equal((char *) out, hex);
}


static void
test_nist_empty(void **state)
{
    u_char  md[AIGW_SHA256_LEN];

    (void) state;

    aigw_sha256((const u_char *) "", 0, md);
    check_digest(md, "e3b0c44298fc1c149afbf4c8996fb924"
                     "27ae41e4649b934ca495991b7852b855");
}


static void
test_nist_abc(void **state)
{
    u_char  md[AIGW_SHA256_LEN];

    (void) state;

    aigw_sha256((const u_char *) "abc", 3, md);
    check_digest(md, "ba7816bf8f01cfea414140de5dae2223"
                     "b00361a396177a9cb410ff61f20015ad");
}


static void
test_nist_448(void **state)
{
    const char  *s;
    u_char       md[AIGW_SHA256_LEN];

    (void) state;

    s = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    aigw_sha256((const u_char *) s, strlen(s), md);
    check_digest(md, "248d6a61d20638b8e5c026930c3e6039"
                     "a33ce45964ff2167f6ecedd419db06c1");
}


static void
test_nist_million_a(void **state)
{
    int                i;
    u_char             chunk[1000], md[AIGW_SHA256_LEN];
    aigw_sha256_ctx_t  ctx;

    (void) state;

    memset(chunk, 'a', sizeof(chunk));

    aigw_sha256_init(&ctx);
    for (i = 0; i < 1000; i++) {
        aigw_sha256_update(&ctx, chunk, sizeof(chunk));
    }
    aigw_sha256_final(&ctx, md);

    check_digest(md, "cdc76e5c9914fb9281a1c7e284d73e67"
                     "f1809a48a497200e046d39ccc7112cd0");
}


static void
test_split_updates(void **state)
{
    size_t             i, j, len;
    u_char             in[200], one[AIGW_SHA256_LEN], md[AIGW_SHA256_LEN];
    aigw_sha256_ctx_t  ctx;

    (void) state;

    for (i = 0; i < sizeof(in); i++) {
        in[i] = (u_char) (i * 37 + 11);
    }

    /* every length crosses the 55/56/64 padding edges at some point */
    for (len = 0; len <= sizeof(in); len++) {
        aigw_sha256(in, len, one);

        for (i = 0; i <= len; i++) {
            aigw_sha256_init(&ctx);
            aigw_sha256_update(&ctx, in, i);
            aigw_sha256_update(&ctx, in + i, len - i);
            aigw_sha256_final(&ctx, md);
            assert_memory_equal(md, one, AIGW_SHA256_LEN);
        }
    }

    /* byte-at-a-time, with empty updates interleaved */
    aigw_sha256(in, sizeof(in), one);
    aigw_sha256_init(&ctx);
    for (j = 0; j < sizeof(in); j++) {
        aigw_sha256_update(&ctx, in + j, 1);
        aigw_sha256_update(&ctx, in + j, 0);
    }
    aigw_sha256_final(&ctx, md);
    assert_memory_equal(md, one, AIGW_SHA256_LEN);
}


static void
test_hex_round_trip(void **state)
{
    size_t   i;
    u_char   bin[256], back[256], hex[512], *end;

    (void) state;

    for (i = 0; i < sizeof(bin); i++) {
        bin[i] = (u_char) i;
    }

    end = aigw_hex_encode(hex, bin, sizeof(bin));
    assert_ptr_equal(end, hex + sizeof(hex));
    assert_memory_equal(hex, "000102", 6);
    assert_memory_equal(hex + 508, "feff", 4);

    assert_int_equal(aigw_hex_decode(back, hex, sizeof(back)), 0);
    assert_memory_equal(back, bin, sizeof(bin));

    /* uppercase accepted */
    assert_int_equal(aigw_hex_decode(back, (const u_char *) "ABcdEF09", 4),
                     0);
    assert_memory_equal(back, "\xab\xcd\xef\x09", 4);

    end = aigw_hex_encode(hex, bin, 0);
    assert_ptr_equal(end, hex);
    assert_int_equal(aigw_hex_decode(back, hex, 0), 0);
}


static void
test_hex_bad(void **state)
{
    size_t       i;
    u_char       out[4];
    const char  *bad[] = { "0g", "g0", "zz", " 0", "0 ", "-1", "0x", "@0",
                           "G0", "`0", "0/", "0:", "\xff" "0", "0\0" };

    (void) state;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(aigw_hex_decode(out, (const u_char *) bad[i], 1),
                         -1);
    }

    assert_int_equal(aigw_hex_decode(out, (const u_char *) "00112x", 3), -1);
}


int
main(void)
{
    static const struct CMUnitTest  tests[] = {
        cmocka_unit_test(test_nist_empty),
        cmocka_unit_test(test_nist_abc),
        cmocka_unit_test(test_nist_448),
        cmocka_unit_test(test_nist_million_a),
        cmocka_unit_test(test_split_updates),
        cmocka_unit_test(test_hex_round_trip),
        cmocka_unit_test(test_hex_bad),
    };

    int  rc;

    /* the CPU's SHA extensions where it has them, then the C rounds */

    rc = cmocka_run_group_tests_name("sha256 (best)", tests, NULL, NULL);

    aigw_sha256_use_ni = 0;

    rc |= cmocka_run_group_tests_name("sha256 (portable)", tests, NULL,
                                      NULL);

    return rc;
}
