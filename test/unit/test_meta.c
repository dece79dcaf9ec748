/*
 * Unit tests of the metaservice answers (secsrv/protocol/meta.c):
 * listClients in XML and JSON from a registry (members with their names,
 * then their subsystems; another instance is empty); the service lists in
 * SOAP and JSON; a SOAP answer that keeps the request's bytes up to its
 * Body, whatever the prefixes, and reads again as an answer that echoes
 * the request; getWsdl's multipart answer, whose SOAP part the multipart
 * reader finds first; and the WSDL's endpoint addresses hidden (SOAP 1.1,
 * SOAP 1.2 and HTTP bindings), a document type declaration refused.
 */
#include "meta.h"
#include "mime.h"
#include "ss_text.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char gov[] = "GOV", mikws[] = "MIKWS-SH", mikws_name[] = "Innenministerium \"SH\" & Co";
static char mun[] = "MUN", sn[] = "13004000", sn_name[] = "Landeshauptstadt Schwerin";
static char ewo[] = "Einwohnermeldeamt", kfz[] = "Kfz-Zulassung";
static char *subsystems[] = {ewo, kfz};

static struct ss_registry *registry(void)
{
    static struct ss_reg_member members[2] = {
        {.member_class = gov, .member_code = mikws, .name = mikws_name},
        {.member_class = mun,
         .member_code = sn,
         .name = sn_name,
         .subsystems = subsystems,
         .n_subsystems = 2},
    };
    static struct ss_registry reg = {.instance = "DE-NORD", .members = members, .n_members = 2};
    return &reg;
}

static void test_list_clients(void **state)
{
    (void)state;
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(ss_meta_clients(registry(), NULL, false, &out, &len), SS_OK);
    assert_int_equal(strlen(out), len);
    assert_non_null(strstr(out, "<xrd:clientList xmlns:xrd=\"http://x-road.eu/xsd/xroad.xsd\""));
    assert_non_null(strstr(
        out,
        "<xrd:member><xrd:id id:objectType=\"MEMBER\"><id:xRoadInstance>DE-NORD</id:xRoadInstance>"
        "<id:memberClass>GOV</id:memberClass><id:memberCode>MIKWS-SH</id:memberCode></xrd:id>"
        "<xrd:name>Innenministerium &quot;SH&quot; &amp; Co</xrd:name></xrd:member>"));
    assert_non_null(strstr(out,
                           "<xrd:id id:objectType=\"SUBSYSTEM\"><id:xRoadInstance>DE-NORD</"
                           "id:xRoadInstance><id:memberClass>MUN</id:memberClass><id:memberCode>"
                           "13004000</id:memberCode><id:subsystemCode>Kfz-Zulassung</"
                           "id:subsystemCode></xrd:id>"));
    free(out);
    assert_int_equal(ss_meta_clients(registry(), "DE-NORD", true, &out, &len), SS_OK);
    assert_string_equal(
        out,
        "{\"member\":[{\"id\":{\"object_type\":\"MEMBER\",\"xroad_instance\":\"DE-NORD\","
        "\"member_class\":\"GOV\",\"member_code\":\"MIKWS-SH\"},\"name\":\"Innenministerium "
        "\\\"SH\\\" & Co\"},{\"id\":{\"object_type\":\"MEMBER\",\"xroad_instance\":\"DE-NORD\","
        "\"member_class\":\"MUN\",\"member_code\":\"13004000\"},\"name\":\"Landeshauptstadt "
        "Schwerin\"},{\"id\":{\"object_type\":\"SUBSYSTEM\",\"xroad_instance\":\"DE-NORD\","
        "\"member_class\":\"MUN\",\"member_code\":\"13004000\",\"subsystem_code\":"
        "\"Einwohnermeldeamt\"},\"name\":\"Landeshauptstadt Schwerin\"},{\"id\":{\"object_type\":"
        "\"SUBSYSTEM\",\"xroad_instance\":\"DE-NORD\",\"member_class\":\"MUN\",\"member_code\":"
        "\"13004000\",\"subsystem_code\":\"Kfz-Zulassung\"},\"name\":\"Landeshauptstadt "
        "Schwerin\"}]}\n");
    free(out);
    assert_int_equal(ss_meta_clients(registry(), "EE", true, &out, &len), SS_OK);
    assert_string_equal(out, "{\"member\":[]}\n");
    free(out);
}

static void test_kinds_and_lists(void **state)
{
    (void)state;
    assert_int_equal(ss_meta_kind("listMethods", true), SS_META_LIST_METHODS);
    assert_int_equal(ss_meta_kind("allowedMethods", false), SS_META_ALLOWED_METHODS);
    assert_int_equal(ss_meta_kind("getWsdl", true), SS_META_GET_WSDL);
    assert_int_equal(ss_meta_kind("getWsdl", false), SS_META_NONE);
    assert_int_equal(ss_meta_kind("getOpenAPI", false), SS_META_GET_OPENAPI);
    assert_int_equal(ss_meta_kind("getOpenAPI", true), SS_META_NONE);
    assert_int_equal(ss_meta_kind("meldeauskunft", false), SS_META_NONE);

    struct ss_meta_endpoint eps[] = {{"GET", "/persons/*"}, {"*", "**"}};
    struct ss_meta_service s[2] = {
        {.id = {.provider = {"DE-NORD", "MUN", "13004000", "Einwohnermeldeamt"},
                .service_code = "meldeauskunft"},
         .type = "OPENAPI",
         .endpoints = eps,
         .n_endpoints = 2},
        {.id = {.provider = {"DE-NORD", "MUN", "13004000", "Einwohnermeldeamt"},
                .service_code = "health",
                .service_version = "v1"},
         .type = "REST"},
    };
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(ss_meta_methods_json(s, 2, &out, &len), SS_OK);
    assert_string_equal(
        out,
        "{\"service\":[{\"object_type\":\"SERVICE\",\"xroad_instance\":\"DE-NORD\","
        "\"member_class\":\"MUN\",\"member_code\":\"13004000\",\"subsystem_code\":"
        "\"Einwohnermeldeamt\",\"service_code\":\"meldeauskunft\",\"service_type\":\"OPENAPI\","
        "\"endpoint_list\":[{\"method\":\"GET\",\"path\":\"/persons/*\"},{\"method\":\"*\","
        "\"path\":\"**\"}]},{\"object_type\":\"SERVICE\",\"xroad_instance\":\"DE-NORD\","
        "\"member_class\":\"MUN\",\"member_code\":\"13004000\",\"subsystem_code\":"
        "\"Einwohnermeldeamt\",\"service_code\":\"health\",\"service_version\":\"v1\","
        "\"service_type\":\"REST\",\"endpoint_list\":[]}]}\n");
    free(out);
    assert_int_equal(ss_meta_methods_xml("listMethodsResponse", s + 1, 1, &out, &len), SS_OK);
    assert_non_null(strstr(out, "<xrd:listMethodsResponse xmlns:xrd="));
    assert_non_null(strstr(out, "<id:serviceCode>health</id:serviceCode><id:serviceVersion>v1<"
                                "/id:serviceVersion></xrd:service></xrd:listMethodsResponse>"));
    free(out);
    assert_int_equal(ss_meta_methods_xml("allowedMethodsResponse", NULL, 0, &out, &len), SS_OK);
    assert_non_null(strstr(out, "\"></xrd:allowedMethodsResponse>"));
    free(out);
}

/* A listMethods request whose Envelope and Body use prefixes of their own, Body declaring its own.
 */
static const char request[] =
    "<?xml version=\"1.0\"?>\n<e:Envelope xmlns:e=\"http://schemas.xmlsoap.org/soap/envelope/\" "
    "xmlns:x=\"http://x-road.eu/xsd/xroad.xsd\" xmlns:i=\"http://x-road.eu/xsd/identifiers\">"
    "<e:Header><x:client i:objectType=\"MEMBER\"><i:xRoadInstance>DE-NORD</i:xRoadInstance>"
    "<i:memberClass>GOV</i:memberClass><i:memberCode>MIKWS-SH</i:memberCode></x:client>"
    "<x:service i:objectType=\"SERVICE\"><i:xRoadInstance>DE-NORD</i:xRoadInstance>"
    "<i:memberClass>MUN</i:memberClass><i:memberCode>13004000</i:memberCode>"
    "<i:subsystemCode>Kfz-Zulassung</i:subsystemCode><i:serviceCode>getWsdl</i:serviceCode>"
    "</x:service><x:id>q-1</x:id><x:protocolVersion>4.0</x:protocolVersion></e:Header>\n"
    "<b:Body xmlns:b=\"http://schemas.xmlsoap.org/soap/envelope/\"><x:getWsdl>"
    "<x:serviceCode>halterauskunft</x:serviceCode><x:serviceVersion>v1</x:serviceVersion>"
    "</x:getWsdl></b:Body></e:Envelope>";

static void test_soap_answer(void **state)
{
    (void)state;
    struct ss_soap_message m, a;
    assert_int_equal(ss_soap_parse((const uint8_t *)request, strlen(request), NULL, false, &m), SS_OK);
    assert_string_equal(m.wsdl_code, "halterauskunft");
    assert_string_equal(m.wsdl_version, "v1");
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(ss_meta_soap_answer((const uint8_t *)request, strlen(request), &m,
                                         "<x:getWsdlResponse xmlns:x=\"urn:x\"/>", &out, &len),
                     SS_OK);
    /* the request's bytes up to its Body, unchanged */
    assert_memory_equal(out, request, m.body_start);
    assert_non_null(strstr(out, "<b:Body xmlns:b=\"http://schemas.xmlsoap.org/soap/envelope/\">"
                                "<x:getWsdlResponse xmlns:x=\"urn:x\"/></b:Body></e:Envelope>\n"));
    assert_int_equal(ss_soap_parse((const uint8_t *)out, len, NULL, true, &a), SS_OK);
    assert_int_equal(ss_soap_echoed(&m, &a), SS_OK);
    free(out);

    const char wsdl[] = "<definitions/>";
    char *type = NULL;
    assert_int_equal(ss_meta_wsdl_answer((const uint8_t *)request, strlen(request), &m, wsdl,
                                         strlen(wsdl), &out, &len, &type),
                     SS_OK);
    struct ss_mime_soap part;
    assert_int_equal(ss_mime_soap_locate(type, (const uint8_t *)out, len, &part), SS_OK);
    assert_int_equal(part.parts, 2);
    assert_int_equal(ss_soap_parse((const uint8_t *)out + part.start, part.len, NULL, true, &a), SS_OK);
    assert_int_equal(ss_soap_echoed(&m, &a), SS_OK);
    assert_non_null(strstr(out, "<xrd:serviceCode>halterauskunft</xrd:serviceCode>"
                                "<xrd:serviceVersion>v1</xrd:serviceVersion>"));
    assert_non_null(strstr(out, "Content-ID: <wsdl>\r\n\r\n<definitions/>\r\n--secsrv-wsdl-"));
    free(out);
    free(type);
}

static void test_wsdl_hide(void **state)
{
    (void)state;
    const char wsdl[] =
        "<?xml version=\"1.0\"?>\n<w:definitions xmlns:w=\"http://schemas.xmlsoap.org/wsdl/\" "
        "xmlns:s=\"http://schemas.xmlsoap.org/wsdl/soap/\" "
        "xmlns:s12=\"http://schemas.xmlsoap.org/wsdl/soap12/\" "
        "xmlns:h=\"http://schemas.xmlsoap.org/wsdl/http/\"><w:service><w:port>"
        "<s:address location=\"http://10.0.0.5:8080/secret\"/></w:port><w:port>"
        "<s12:address location=\"http://10.0.0.5:8081/secret\"/></w:port><w:port>"
        "<h:address location=\"http://10.0.0.5:8082/secret\"/></w:port><w:port>"
        "<other xmlns=\"urn:x\" location=\"kept\"/></w:port></w:service></w:definitions>";
    char *out = NULL;
    size_t len = 0;
    assert_int_equal(ss_meta_wsdl_hide("x.wsdl", (const uint8_t *)wsdl, strlen(wsdl), &out, &len),
                     SS_OK);
    assert_null(strstr(out, "secret"));
    assert_non_null(strstr(out, "location=\"kept\""));
    size_t n = 0;
    for (const char *p = out; (p = strstr(p, SS_META_HIDDEN_ENDPOINT)); p++)
        n++;
    assert_int_equal(n, 3);
    free(out);
    const char doctype[] = "<!DOCTYPE d [<!ENTITY e \"x\">]><d>&e;</d>";
    assert_int_equal(
        ss_meta_wsdl_hide("d.wsdl", (const uint8_t *)doctype, strlen(doctype), &out, &len),
        SS_ERR_UPSTREAM);
    const char broken[] = "<d>";
    assert_int_equal(ss_meta_wsdl_hide("b.wsdl", (const uint8_t *)broken, 3, &out, &len),
                     SS_ERR_UPSTREAM);
}

/* The version a WSDL gives an operation: its xrd:version, the first named so; "" for none. */
static void test_wsdl_version(void **state)
{
    (void)state;
    const char wsdl[] =
        "<w:definitions xmlns:w=\"http://schemas.xmlsoap.org/wsdl/\" "
        "xmlns:x=\"http://x-road.eu/xsd/xroad.xsd\"><w:portType><w:operation name=\"a\"/>"
        "</w:portType><w:binding><w:operation name=\"b\"><x:version> v7 </x:version>"
        "</w:operation><w:operation name=\"a\"><x:version>v1</x:version></w:operation>"
        "<w:operation name=\"c\"/><w:operation name=\"d\"><x:version>v 1</x:version>"
        "</w:operation><w:operation name=\"e\"><version>v3</version></w:operation>"
        "</w:binding></w:definitions>";
    char v[256];
    assert_int_equal(ss_meta_wsdl_version("x.wsdl", wsdl, strlen(wsdl), "a", v, sizeof v), SS_OK);
    assert_string_equal(v, "v1");
    assert_int_equal(ss_meta_wsdl_version("x.wsdl", wsdl, strlen(wsdl), "b", v, sizeof v), SS_OK);
    assert_string_equal(v, "v7");
    assert_int_equal(ss_meta_wsdl_version("x.wsdl", wsdl, strlen(wsdl), "c", v, sizeof v), SS_OK);
    assert_string_equal(v, "");
    assert_int_equal(ss_meta_wsdl_version("x.wsdl", wsdl, strlen(wsdl), "e", v, sizeof v), SS_OK);
    assert_string_equal(v, ""); /* not X-Road's version element */
    assert_int_equal(ss_meta_wsdl_version("x.wsdl", wsdl, strlen(wsdl), "z", v, sizeof v), SS_OK);
    assert_string_equal(v, "");
    assert_int_equal(ss_meta_wsdl_version("x.wsdl", wsdl, strlen(wsdl), "d", v, sizeof v),
                     SS_ERR_CONFIG);
    assert_non_null(strstr(ss_errmsg(), "x.wsdl: the version of operation d"));
    assert_int_equal(ss_meta_wsdl_version("b.wsdl", "<d>", 3, "a", v, sizeof v), SS_ERR_UPSTREAM);
}

/* where valid UTF-8 ends: overlong forms, surrogates, beyond U+10FFFF and cut sequences stop it */
static void test_utf8_end(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t len, end;
    } cases[] = {
        {"", 0, 0},
        {"plain", 5, 5},
        {"L\xc3\xbc"
         "beck \xe2\x80\x93 \xf0\x9f\x98\x80",
         16, 16}, /* ü, en dash, emoji */
        {"L\xf6"
         "beck",
         6, 1},                      /* Latin-1 ö */
        {"a\xc0\xaf", 3, 1},         /* overlong '/' */
        {"a\xe0\x80\xaf", 4, 1},     /* overlong, three bytes */
        {"a\xed\xa0\x80", 4, 1},     /* a surrogate */
        {"a\xf4\x90\x80\x80", 5, 1}, /* beyond U+10FFFF */
        {"ab\xe2\x80", 4, 2},        /* cut at the end */
        {"a\x00"
         "b",
         3, 3}, /* NUL is UTF-8 */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(ss_text_utf8_end(cases[i].s, cases[i].len), cases[i].end);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_utf8_end),        cmocka_unit_test(test_list_clients),
        cmocka_unit_test(test_kinds_and_lists), cmocka_unit_test(test_soap_answer),
        cmocka_unit_test(test_wsdl_hide),       cmocka_unit_test(test_wsdl_version),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
