/*
 * Unit tests of the reader that finds the SOAP envelope in an HTTP body
 * (secsrv/protocol/mime.c): text/xml is the whole body; the protocol's
 * attachment (Annex F) and MTOM (Annex G) forms give the first part's
 * content exactly; the Content-Type's parameters read as tokens and
 * quoted strings; every malformed multipart shape, a SOAP part that is
 * not first or not XML, an encoded SOAP part, a charset that does not
 * parse (its value is passed on, for the SOAP parser to judge) and the
 * limits on parts and part headers are refused with a reason.
 */
#include "mime.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define SWA_TYPE                                                                                   \
    "multipart/related; type=\"text/xml\"; start=\"<rootpart>\"; boundary=\"MIME_boundary\""
#define ENVELOPE "<SOAP-ENV:Envelope/>"
#define ROOT                                                                                       \
    "--MIME_boundary\r\nContent-Type: text/xml; charset=UTF-8\r\n"                                 \
    "Content-Transfer-Encoding: 8bit\r\nContent-ID: <rootpart>\r\n\r\n" ENVELOPE
#define ATTACHMENT                                                                                 \
    "\r\n--MIME_boundary\r\nContent-Type: application/octet-stream; name=data.bin\r\n"             \
    "Content-Transfer-Encoding: base64\r\nContent-ID: <data.bin>\r\n\r\n"                          \
    "VGhpcyBpcyBhdHRhY2htZW50Lg0K"
#define CLOSE "\r\n--MIME_boundary--\r\n"
/* the root part with lines ended by a bare LF */
#define LF_ROOT                                                                                    \
    "--MIME_boundary\nContent-Type: text/xml; charset=\"utf-8\"\nContent-ID: "                     \
    "<rootpart>\n\n" ENVELOPE

static ss_error locate(const char *ct, const char *body, struct ss_mime_soap *s)
{
    return ss_mime_soap_locate(ct, (const uint8_t *)body, strlen(body), s);
}

static void expect_envelope(const char *ct, const char *body, size_t parts)
{
    struct ss_mime_soap s;
    assert_int_equal(locate(ct, body, &s), SS_OK);
    assert_int_equal(s.len, strlen(ENVELOPE));
    assert_memory_equal(body + s.start, ENVELOPE, s.len);
    assert_int_equal(s.parts, parts);
    assert_true(s.multipart);
}

static void expect_refused(const char *ct, const char *body, ss_error code, const char *reason)
{
    struct ss_mime_soap s;
    ss_error err = locate(ct, body, &s);
    if (err != code || !strstr(ss_errmsg(), reason))
        fail_msg("expected %d '%s', got %d '%s'", code, reason, err, ss_errmsg());
}

static void test_text_xml(void **state)
{
    (void)state;
    struct ss_mime_soap s;
    assert_int_equal(locate("text/xml; charset=utf-8", ENVELOPE, &s), SS_OK);
    assert_int_equal(s.start, 0);
    assert_int_equal(s.len, strlen(ENVELOPE));
    assert_false(s.multipart);
    assert_int_equal(locate("Text/XML", ENVELOPE, &s), SS_OK);
    assert_int_equal(locate("text/xml;charset=\"UTF-8\"", ENVELOPE, &s), SS_OK);
    /* the charset is passed on as given, for the SOAP parser to judge */
    assert_string_equal(s.charset, "UTF-8");
    assert_int_equal(locate("text/xml", ENVELOPE, &s), SS_OK);
    assert_string_equal(s.charset, "");
    assert_int_equal(locate("text/xml; charset=iso-8859-1", ENVELOPE, &s), SS_OK);
    assert_string_equal(s.charset, "iso-8859-1");
    expect_refused("text/xml; charset=\"a-charset-name-longer-than-31-bytes\"", ENVELOPE,
                   SS_ERR_PROTOCOL, "too long");
    expect_refused("application/json", "{}", SS_ERR_PROTOCOL, "not a SOAP 1.1 message");
    expect_refused(NULL, ENVELOPE, SS_ERR_PROTOCOL, "needs a Content-Type");
    expect_refused("text/xml; charset", ENVELOPE, SS_ERR_PROTOCOL, "parameters do not parse");
    assert_true(ss_mime_is_soap("multipart/related; boundary=x"));
    assert_false(ss_mime_is_soap("application/soap+xml"));
}

static void test_attachments_and_mtom(void **state)
{
    (void)state;
    expect_envelope(SWA_TYPE, ROOT ATTACHMENT CLOSE, 2);
    expect_envelope(SWA_TYPE, "a preamble\r\n" ROOT ATTACHMENT CLOSE "an epilogue", 2);
    expect_envelope("multipart/related; boundary=MIME_boundary", ROOT CLOSE, 1);
    struct ss_mime_soap s;
    const char mtom[] =
        "--MIME_boundary\r\nContent-Type: application/xop+xml; charset=UTF-8; "
        "type=\"text/xml\"\r\nContent-ID: <rootpart>\r\n\r\n" ENVELOPE ATTACHMENT CLOSE;
    assert_int_equal(
        locate("multipart/related; type=\"application/xop+xml\"; start=\"<rootpart>\"; "
               "start-info=\"text/xml\"; boundary=\"MIME_boundary\"",
               mtom, &s),
        SS_OK);
    assert_true(s.mtom);
    assert_memory_equal(mtom + s.start, ENVELOPE, s.len);
    /* lines that all end with a bare LF, as X-Road's own test messages have them: a nested
     * multipart attachment, transport padding, a preamble and an epilogue */
    struct ss_mime_soap lf;
    const char lf_body[] =
        "a preamble\n" LF_ROOT "\n--MIME_boundary \nContent-Type: multipart/mixed; "
        "boundary=inner\n\n--inner\nContent-Type: text/plain\nClient-Header: "
        "FooBar\n\nblaah\n--inner--\n\n--MIME_boundary--\nan epilogue\r\n";
    assert_int_equal(locate(SWA_TYPE, lf_body, &lf), SS_OK);
    assert_true(lf.bare_lf);
    assert_int_equal(lf.parts, 2);
    assert_int_equal(lf.len, strlen(ENVELOPE));
    assert_memory_equal(lf_body + lf.start, ENVELOPE, lf.len);
    assert_int_equal(locate(SWA_TYPE, ROOT ATTACHMENT CLOSE, &lf), SS_OK);
    assert_false(lf.bare_lf);
    /* folded part header fields, as Axis2 writes them (X-Road's xop.answer), and a body that ends
     * with a delimiter lacking its "--" (X-Road's soapfault-mtom.answer) */
    const char folded[] =
        "--MIME_boundary\nContent-Type: application/xop+xml; charset=UTF-8; type=\"text/xml\";\n"
        "content-id:\n   <rootpart>\nX-Note: a\n\tb\n\n" ENVELOPE "\n--MIME_boundary";
    assert_int_equal(locate(SWA_TYPE, folded, &lf), SS_OK);
    assert_true(lf.mtom);
    assert_int_equal(lf.parts, 1);
    assert_memory_equal(folded + lf.start, ENVELOPE, lf.len);
    expect_envelope(SWA_TYPE, ROOT ATTACHMENT "\r\n--MIME_boundary  ", 2);
    /* an attachment with no body (RFC 2046 5.1.1), last or between two others; and with LF */
#define EMPTY_PART "\r\n--MIME_boundary\r\nContent-Type: application/octet-stream\r\n\r\n"
    expect_envelope(SWA_TYPE, ROOT EMPTY_PART "--MIME_boundary--\r\n", 2);
    expect_envelope(
        SWA_TYPE, ROOT EMPTY_PART "--MIME_boundary\r\nContent-Type: text/plain\r\n\r\nx" CLOSE, 3);
    expect_envelope(SWA_TYPE, ROOT ATTACHMENT EMPTY_PART "--MIME_boundary--", 3);
#undef EMPTY_PART
    assert_int_equal(locate(SWA_TYPE,
                            LF_ROOT "\n--MIME_boundary\nContent-Type: a/b\n\n--MIME_boundary--\n",
                            &lf),
                     SS_OK);
    assert_int_equal(lf.parts, 2);
    assert_int_equal(lf.len, strlen(ENVELOPE));
    /* a root part with no body is no SOAP message */
    expect_refused(SWA_TYPE,
                   "--MIME_boundary\r\nContent-Type: text/xml\r\nContent-ID: "
                   "<rootpart>\r\n\r\n--MIME_boundary--\r\n",
                   SS_ERR_PROTOCOL, "the SOAP part has no body");
    /* a delimiter line may end in blanks (transport padding) */
    expect_envelope(SWA_TYPE,
                    "--MIME_boundary  \r\nContent-ID: <rootpart>\r\nContent-Type: "
                    "text/xml\r\n\r\n" ENVELOPE CLOSE,
                    1);
}

static void test_params(void **state)
{
    (void)state;
    char v[64];
    assert_true(ss_mime_param("multipart/related; type=\"text/xml\"; boundary=\"a\\\"b\"",
                              "boundary", v, sizeof v));
    assert_string_equal(v, "a\"b");
    assert_true(ss_mime_param("multipart/related;BOUNDARY=x", "boundary", v, sizeof v));
    assert_string_equal(v, "x");
    assert_false(ss_mime_param("multipart/related; type=text/xml", "boundary", v, sizeof v));
    assert_false(ss_mime_param("multipart/related; a=\"unterminated", "a", v, sizeof v));
    assert_false(ss_mime_param("multipart/related; boundary=", "boundary", v, sizeof v));
    char small[4];
    assert_false(
        ss_mime_param("multipart/related; boundary=toolong", "boundary", small, sizeof small));
    assert_true(ss_mime_media_type(" Multipart/Related ; x=1", v, sizeof v));
    assert_string_equal(v, "multipart/related");
    assert_false(ss_mime_media_type("multipart", v, sizeof v));
}

static void test_malformed(void **state)
{
    (void)state;
    const char *ct = SWA_TYPE;
    expect_refused("multipart/related; type=\"text/xml\"", ROOT CLOSE, SS_ERR_PROTOCOL,
                   "no boundary");
    expect_refused(ct, ROOT ATTACHMENT, SS_ERR_PROTOCOL, "no close delimiter");
    expect_refused(ct, "no delimiter at all", SS_ERR_PROTOCOL, "no delimiter line");
    expect_refused(ct, "--MIME_boundary--\r\n", SS_ERR_PROTOCOL, "no part before");
    expect_refused(ct, "--MIME_boundary \rContent-Type: text/xml\r\n\r\n" ENVELOPE CLOSE,
                   SS_ERR_PROTOCOL, "does not end with CRLF");
    expect_refused(ct, "--MIME_boundary\r\nContent-Type: text/xml\r\n" ENVELOPE CLOSE,
                   SS_ERR_PROTOCOL, "not 'name: value'");
    expect_refused(ct,
                   "--MIME_boundary\r\n folded\r\nContent-Type: text/xml\r\n\r\n" ENVELOPE CLOSE,
                   SS_ERR_PROTOCOL, "folded part header line with no field before it");
    expect_refused(ct, "--MIME_boundary\r\nContent-Type: text/xml\r\n \t\r\n\r\n" ENVELOPE CLOSE,
                   SS_ERR_PROTOCOL, "blanks alone");
    expect_refused(ct, "\xef\xbb\xbf" ROOT CLOSE, SS_ERR_PROTOCOL, "byte order mark");
    /* a kept field folded inside its value, or a Content-ID with blanks after it: parsers that
     * keep the line break or the blanks would take a later part for the one start names */
    expect_refused(
        "multipart/related; start=\"<a  b>\"; boundary=MIME_boundary",
        "--MIME_boundary\r\nContent-Type: text/xml\r\nContent-ID: <a\r\n  b>\r\n\r\n" ENVELOPE
        "\r\n--MIME_boundary\r\nContent-Type: text/xml\r\nContent-ID: <a  b>\r\n\r\nx" CLOSE,
        SS_ERR_PROTOCOL, "folded inside its value");
    expect_refused(
        ct,
        "--MIME_boundary\r\nContent-Type:\r\n text/xml;\r\n charset=utf-8\r\n\r\n" ENVELOPE CLOSE,
        SS_ERR_PROTOCOL, "folded inside its value");
    expect_refused(
        "multipart/related; start=\"<a>\"; boundary=MIME_boundary",
        "--MIME_boundary\r\nContent-Type: text/xml\r\nContent-ID: <a> \r\n\r\n" ENVELOPE
        "\r\n--MIME_boundary\r\nContent-Type: text/xml\r\nContent-ID: <a>\r\n\r\nx" CLOSE,
        SS_ERR_PROTOCOL, "blanks after a part's Content-ID");
    /* another field may fold anywhere */
    expect_envelope(ct,
                    "--MIME_boundary\r\nContent-Type: text/xml\r\nX-Note: a\r\n b\r\n c\r\n"
                    "Content-ID: <rootpart>\r\n\r\n" ENVELOPE CLOSE,
                    1);
    expect_refused(
        ct,
        "--MIME_boundary\r\nContent-Type: text/xml\r\nContent-Type: text/xml\r\n\r\n" ENVELOPE
            CLOSE,
        SS_ERR_PROTOCOL, "twice");
    expect_refused(ct, "--MIME_boundary\r\nContent-Type: text/xml", SS_ERR_PROTOCOL,
                   "header does not end");
    expect_refused("multipart/related; type=\"application/json\"; boundary=MIME_boundary",
                   ROOT CLOSE, SS_ERR_PROTOCOL, "is not a SOAP message");
    const char *long_boundary =
        "multipart/related; boundary=\"0123456789012345678901234567890123456789"
        "0123456789012345678901234567890123456789\"";
    expect_refused(long_boundary, ROOT CLOSE, SS_ERR_PROTOCOL, "70 bytes");
}

/* What other MIME parsers could read otherwise than secsrv does is refused. */
static void test_ambiguous(void **state)
{
    (void)state;
    /* delimiters after CRLF and after a bare LF in one body: in the preamble, between parts */
    expect_refused(SWA_TYPE, "preamble\n" ROOT CLOSE, SS_ERR_PROTOCOL, "after a bare LF in one");
    expect_refused(SWA_TYPE,
                   "preamble\n--MIME_boundary\r\nContent-Type: text/xml\r\n\r\n<x/>\r\n" ROOT CLOSE,
                   SS_ERR_PROTOCOL, "after a bare LF in one");
    expect_refused(SWA_TYPE, ROOT "\n--MIME_boundary\r\n\r\nx" CLOSE, SS_ERR_PROTOCOL,
                   "after a bare LF in one");
    expect_refused(SWA_TYPE, ROOT "\r--MIME_boundary\r\n\r\nx" CLOSE, SS_ERR_PROTOCOL,
                   "after a bare CR");
    /* a body of bare LFs with one delimiter, one line or one part header of CRLF */
    expect_refused(SWA_TYPE, LF_ROOT "\r\n--MIME_boundary--\n", SS_ERR_PROTOCOL,
                   "after a bare LF in one");
    expect_refused(SWA_TYPE, LF_ROOT "\n--MIME_boundary\r\n\nx\n--MIME_boundary--\n",
                   SS_ERR_PROTOCOL, "does not end with a bare LF");
    expect_refused(SWA_TYPE,
                   "--MIME_boundary\nContent-Type: text/xml\r\n\n" ENVELOPE "\n--MIME_boundary--",
                   SS_ERR_PROTOCOL, "header line ends with CRLF");
    expect_refused(SWA_TYPE,
                   "--MIME_boundary\nContent-Type: text/xml\n\r\n" ENVELOPE "\n--MIME_boundary--",
                   SS_ERR_PROTOCOL, "header line ends with CRLF");
    /* the boundary text in the middle of a line is content */
    expect_envelope(SWA_TYPE, ROOT ATTACHMENT " x--MIME_boundary" CLOSE, 2);
    /* parameters twice, or in RFC 2231's form */
    expect_refused("multipart/related; boundary=MIME_boundary; boundary=other", ROOT CLOSE,
                   SS_ERR_PROTOCOL, "parameter twice");
    expect_refused("multipart/related; boundary=MIME_boundary; boundary*=other", ROOT CLOSE,
                   SS_ERR_PROTOCOL, "parameter twice");
    expect_refused("multipart/related; boundary=MIME_boundary; start=\"<a>\"; start=\"<b>\"",
                   ROOT CLOSE, SS_ERR_PROTOCOL, "start parameter");
    expect_refused(
        "multipart/related; boundary=MIME_boundary; type=\"text/xml\"; type=\"text/plain\"",
        ROOT CLOSE, SS_ERR_PROTOCOL, "type parameter");
    char ct[600];
    snprintf(ct, sizeof ct, "multipart/related; boundary=MIME_boundary; start=\"<%0300d>\"", 1);
    expect_refused(ct, ROOT CLOSE, SS_ERR_PROTOCOL, "start parameter is too long");
}

static void test_soap_part(void **state)
{
    (void)state;
    const char *ct =
        "multipart/related; type=\"text/xml\"; start=\"<data.bin>\"; boundary=MIME_boundary";
    expect_refused(ct, ROOT ATTACHMENT CLOSE, SS_ERR_PROTOCOL, "must come first");
    expect_refused(SWA_TYPE,
                   "--MIME_boundary\r\nContent-Type: application/octet-stream\r\n\r\nxx" CLOSE,
                   SS_ERR_PROTOCOL, "must be the SOAP message");
    expect_refused(SWA_TYPE, "--MIME_boundary\r\nContent-ID: <rootpart>\r\n\r\nxx" CLOSE,
                   SS_ERR_PROTOCOL, "no valid Content-Type");
    expect_refused(SWA_TYPE,
                   "--MIME_boundary\r\nContent-Type: text/xml\r\nContent-Transfer-Encoding: "
                   "base64\r\nContent-ID: <rootpart>\r\n\r\nxx" CLOSE,
                   SS_ERR_PROTOCOL, "must be 8bit");
    struct ss_mime_soap s;
    assert_int_equal(locate(SWA_TYPE,
                            "--MIME_boundary\r\nContent-Type: text/xml; charset=utf-16\r\n"
                            "Content-ID: <rootpart>\r\n\r\nxx" CLOSE,
                            &s),
                     SS_OK);
    assert_string_equal(s.charset, "utf-16"); /* for the SOAP parser to refuse */
    /* a charset that does not parse is not skipped */
    expect_refused(SWA_TYPE,
                   "--MIME_boundary\r\nContent-Type: text/xml; charset=iso-8859-1 x\r\n"
                   "Content-ID: <rootpart>\r\n\r\nxx" CLOSE,
                   SS_ERR_PROTOCOL, "parameters do not parse");
}

static void test_limits(void **state)
{
    (void)state;
    size_t cap = 64 * 1024 * 16;
    char *body = malloc(cap);
    assert_non_null(body);
    size_t n = (size_t)snprintf(body, cap, "%s", ROOT);
    for (int i = 0; i < SS_MIME_MAX_PARTS; i++)
        n += (size_t)snprintf(body + n, cap - n, "\r\n--MIME_boundary\r\n\r\nx");
    snprintf(body + n, cap - n, CLOSE);
    expect_refused(SWA_TYPE, body, SS_ERR_LIMIT, "more than 256 parts");
    /* one part fewer passes */
    n = (size_t)snprintf(body, cap, "%s", ROOT);
    for (int i = 1; i < SS_MIME_MAX_PARTS; i++)
        n += (size_t)snprintf(body + n, cap - n, "\r\n--MIME_boundary\r\n\r\nx");
    snprintf(body + n, cap - n, CLOSE);
    expect_envelope(SWA_TYPE, body, SS_MIME_MAX_PARTS);
    n = (size_t)snprintf(body, cap, "--MIME_boundary\r\n");
    for (int i = 0; i <= SS_MIME_MAX_PART_HEADERS; i++)
        n += (size_t)snprintf(body + n, cap - n, "X-Header-%d: v\r\n", i);
    snprintf(body + n, cap - n, "\r\n" ENVELOPE CLOSE);
    expect_refused(SWA_TYPE, body, SS_ERR_LIMIT, "header lines");
    n = (size_t)snprintf(body, cap, "--MIME_boundary\r\nX-Long: ");
    memset(body + n, 'a', 2000);
    snprintf(body + n + 2000, cap - n - 2000, "\r\n\r\n" ENVELOPE CLOSE);
    expect_refused(SWA_TYPE, body, SS_ERR_LIMIT, "longer than 1024");
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_xml),  cmocka_unit_test(test_attachments_and_mtom),
        cmocka_unit_test(test_params),    cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_soap_part), cmocka_unit_test(test_ambiguous),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
