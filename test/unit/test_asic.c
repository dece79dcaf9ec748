/*
 * Unit tests of the evidence package (secsrv/tools/asic.c): what the
 * writer makes reads back entry for entry, with the mimetype first and
 * stored as ASiC-E asks and a manifest listing every file; the writer
 * refuses unsafe and repeated names; the reader refuses, with a reason,
 * every damage and every shape it does not write: a changed byte (CRC),
 * a cut, a comment, a compressed entry, bytes between entries, a name
 * that climbs out, and a package without its mimetype first. A package's
 * VERIFY.txt is accepted only when it holds the commands export writes.
 */
#include "asic.h"
#include "export.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static uint8_t *package(size_t *len)
{
    struct ss_asic *a = NULL;
    assert_int_equal(ss_asic_new(&a), SS_OK);
    assert_int_equal(ss_asic_add(a, "records/1/record.bin", "\0\0\0\x0fsecsrv-record 2", 19),
                     SS_OK);
    assert_int_equal(ss_asic_add(a, "VERIFY.txt", "openssl version\n", 16), SS_OK);
    assert_int_equal(ss_asic_add(a, "empty", "", 0), SS_OK);
    uint8_t *zip = NULL;
    assert_int_equal(ss_asic_finish(a, &zip, len), SS_OK);
    ss_asic_free(a);
    return zip;
}

static void expect_refused(const uint8_t *zip, size_t len, const char *reason)
{
    struct ss_asic_entry *e = NULL;
    size_t n = 0;
    ss_error err = ss_asic_read(zip, len, &e, &n);
    if (err != SS_ERR_PROTOCOL || !strstr(ss_errmsg(), reason))
        fail_msg("expected a refusal (%s), got %d: %s", reason, err, ss_errmsg());
    assert_null(e);
}

static void test_round_trip(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *zip = package(&len);
    /* mimetype first, stored, no extra field: its bytes at a fixed place (ETSI EN 319 162-1) */
    assert_memory_equal(zip, "PK\x03\x04", 4);
    assert_int_equal(zip[8] | zip[9] << 8, 0);   /* stored */
    assert_int_equal(zip[28] | zip[29] << 8, 0); /* no extra field */
    assert_memory_equal(zip + 30, "mimetype" SS_ASIC_MIMETYPE, 8 + strlen(SS_ASIC_MIMETYPE));
    struct ss_asic_entry *e = NULL;
    size_t n = 0;
    assert_int_equal(ss_asic_read(zip, len, &e, &n), SS_OK);
    assert_int_equal(n, 5);
    assert_string_equal(e[0].name, "mimetype");
    assert_string_equal(e[1].name, "records/1/record.bin");
    assert_int_equal(e[1].len, 19);
    assert_memory_equal(e[1].data, "\0\0\0\x0fsecsrv-record 2", 19);
    assert_string_equal(e[3].name, "empty");
    assert_int_equal(e[3].len, 0);
    assert_string_equal(e[4].name, "META-INF/manifest.xml");
    char listed[1024];
    snprintf(listed, sizeof listed, "%.*s", (int)e[4].len, (const char *)e[4].data);
    assert_non_null(strstr(listed, "full-path=\"VERIFY.txt\""));
    assert_non_null(strstr(listed, "full-path=\"records/1/record.bin\""));
    free(e);
    free(zip);
}

static void test_writer_refuses(void **state)
{
    (void)state;
    struct ss_asic *a = NULL;
    assert_int_equal(ss_asic_new(&a), SS_OK);
    const char *bad[] = {"",     "/abs", "a/../b", "..",   "./x",
                         "a//b", "dir/", "sp ace", "a\\b", "c:x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ss_asic_add(a, bad[i], "x", 1), SS_ERR_INTERNAL);
    assert_int_equal(ss_asic_add(a, "x", "1", 1), SS_OK);
    assert_int_equal(ss_asic_add(a, "x", "2", 1), SS_ERR_INTERNAL);
    assert_int_equal(ss_asic_add(a, "mimetype", "2", 1), SS_ERR_INTERNAL);
    ss_asic_free(a);
}

static void test_reader_refuses(void **state)
{
    (void)state;
    size_t len = 0;
    uint8_t *zip = package(&len);
    uint8_t *c = malloc(len + 8);
    assert_non_null(c);
    /* a changed byte of a file's data */
    memcpy(c, zip, len);
    c[30 + 8 + strlen(SS_ASIC_MIMETYPE) + 30 + 20 + 5] ^= 1;
    expect_refused(c, len, "damaged (CRC-32)");
    /* a changed byte of the mimetype (its CRC fixed would still not be the type): the CRC */
    memcpy(c, zip, len);
    c[40] ^= 1;
    expect_refused(c, len, "damaged");
    /* cut short, anywhere */
    for (size_t cut = 0; cut < len; cut += 7)
        expect_refused(zip, cut, "not an ASiC-E package");
    /* a comment after the end record */
    memcpy(c, zip, len);
    c[len - 2] = 3;
    memcpy(c + len, "abc", 3);
    expect_refused(c, len + 3, "comment");
    /* compressed (method 8) in the central directory */
    memcpy(c, zip, len);
    size_t central = (size_t)(c[len - 6] | c[len - 5] << 8 | c[len - 4] << 16);
    c[central + 10] = 8;
    expect_refused(c, len, "compressed");
    /* bytes after the central directory's entries, the end record's sizes adjusted */
    memcpy(c, zip, len - 22);
    memcpy(c + len - 22, "xyz", 3);
    memcpy(c + len - 19, zip + len - 22, 22);
    uint32_t cd_len = (uint32_t)(zip[len - 10] | zip[len - 9] << 8) + 3;
    c[len - 19 + 12] = (uint8_t)cd_len;
    c[len - 19 + 13] = (uint8_t)(cd_len >> 8);
    expect_refused(c, len + 3, "after the central directory's entries");
    /* a name that climbs out, written as the central directory and local header say */
    memcpy(c, zip, len);
    size_t second = central + 46 + 8; /* the second central entry: records/1/record.bin */
    memcpy(c + second + 46, "../1/", 5);
    expect_refused(c, len, "not a safe relative name");
    free(c);
    /* no mimetype first: a package of one other file */
    struct ss_asic *a = NULL;
    assert_int_equal(ss_asic_new(&a), SS_OK);
    uint8_t *z2 = NULL;
    size_t l2 = 0;
    assert_int_equal(ss_asic_finish(a, &z2, &l2), SS_OK);
    ss_asic_free(a);
    memcpy(z2 + 30, "mimetypf", 8); /* local header name */
    expect_refused(z2, l2, "local header");
    free(z2);
    free(zip);
    expect_refused((const uint8_t *)"PK\x05\x06", 4, "too short");
}

static void test_script_check(void **state)
{
    (void)state;
    static const char good[] =
        "openssl dgst -sha256 -binary -out records/7/message.sha256 records/7/message\n"
        "cmp -n 32 -i 0:96 records/7/message.sha256 records/7/content.bin\n"
        "cmp -i 0:1 records/7/manifest records/7/sig-tree/0.in\n"
        "openssl dgst -sha256 -r records/7/sig-tree/2.in | cut -c1-64 | sed "
        "'s/^/secsrv-batch-root: /' > records/7/batch-root\n"
        "openssl cms -verify -binary -inform DER -in records/7/signature.p7s -content "
        "records/7/batch-root -CAfile ca-chain.pem -purpose any -attime 1796093944 -signer "
        "records/7/signer.out -out /dev/null\n"
        "cmp records/7/signer.pem records/7/signer.out\n"
        "openssl verify -CAfile ca-chain.pem -purpose any -attime 1796093944 records/7/issuer.pem\n"
        "openssl ocsp -respin records/7/ocsp.der -issuer records/7/issuer.pem -cert "
        "records/7/signer.pem -CAfile ca-chain.pem -VAfile ocsp.pem -no_nonce -attime 1796093944 "
        "-out records/7/ocsp.out\n"
        "grep -Eq '(^|: )good$' records/7/ocsp.out\n"
        "openssl ocsp -respin records/7/ocsp.der -issuer records/7/issuer.pem -cert "
        "records/7/signer.pem -CAfile ca-chain.pem -VAfile ocsp.pem -no_nonce -attime 1796093944 "
        "2>/dev/null | grep -q ': good$'\n"
        "openssl ts -verify -data records/7/ts-tree/5.in -in records/7/timestamp.der -token_in "
        "-CAfile ca-chain.pem -untrusted tsa.pem -attime 1796093945\n";
    assert_int_equal(ss_export_script_check(good, sizeof good - 1), SS_OK);
    static const char *const bad[] = {
        "rm -rf /\n",
        "openssl dgst -sha256 -binary -out /etc/passwd records/7/message\n",
        "cmp records/7/a records/7/b; rm -rf ~\n",
        "cmp records/7/a records/7/b && curl evil\n",
        "openssl dgst -sha256 -binary -out records/7/$(id) records/7/message\n",
        "cmp records/7/../../x records/7/b\n",
        "openssl dgst -sha256 -r records/7/a | sh\n",
        "cmp records/7/a records/7/b", /* no end of line */
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ss_export_script_check(bad[i], strlen(bad[i])) != SS_ERR_PROTOCOL)
            fail_msg("accepted: %s", bad[i]);
    }
    assert_int_equal(ss_export_script_check("cmp records/1/a records/1/b\nrm x\n", 34),
                     SS_ERR_PROTOCOL);
    assert_non_null(strstr(ss_errmsg(), "line 2"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_writer_refuses),
        cmocka_unit_test(test_reader_refuses),
        cmocka_unit_test(test_script_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
