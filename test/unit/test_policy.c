/*
 * Unit tests of policies/: the policy file format (every semantic error
 * with its line), loading sets from files and directories, request path
 * checks and globs, and the decision with its negative cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "policy.h"
#include "registry.h"
#include "ss_error.h"
#include "ss_id.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROVIDER "DE-NORD/MUN/13004000/Einwohnermeldeamt"
#define CONSUMER "DE-NORD/GOV/IM-SH/Meldeauskunft"
#define SERVICE PROVIDER "/meldeauskunft"

static const char registry_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<registry version=\"1\" instance=\"DE-NORD\" serial=\"1\" issued=\"2026-11-23T18:00:00Z\" "
    "expires=\"2026-12-23T18:00:00Z\">\n"
    "  <settings ocspFreshness=\"3600\" timestampingInterval=\"60\" "
    "registryValidity=\"2592000\" refreshInterval=\"300\"/>\n"
    "  <memberClass code=\"GOV\">Landesbehörden</memberClass>\n"
    "  <memberClass code=\"MUN\">Kommunen</memberClass>\n"
    "  <member class=\"GOV\" code=\"IM-SH\" state=\"SH\"><name>Innenministerium SH</name>"
    "<subsystem code=\"Meldeauskunft\"/><subsystem code=\"Statistik\"/></member>\n"
    "  <member class=\"MUN\" code=\"13004000\" state=\"MV\"><name>Landeshauptstadt "
    "Schwerin</name><subsystem code=\"Einwohnermeldeamt\"/></member>\n"
    "  <member class=\"MUN\" code=\"01002000\" state=\"SH\"><name>Landeshauptstadt "
    "Kiel</name><subsystem code=\"Einwohnermeldeamt\"/></member>\n"
    "  <globalGroup code=\"meldebehoerden\" description=\"Meldebehörden\">"
    "<member id=\"MUN/01002000\"/></globalGroup>\n"
    "  <globalGroup code=\"auskunft-sh\" description=\"Auskunftsstellen SH\">"
    "<member id=\"GOV/IM-SH/Meldeauskunft\"/></globalGroup>\n"
    "</registry>\n";

/* ---- helpers ---- */

static time_t at(const char *s)
{
    time_t t = 0;
    assert_true(ss_time_parse(s, &t));
    return t;
}

static struct ss_policy_set *parse_ok(const char *xml)
{
    struct ss_policy_set *set = NULL;
    ss_error err = ss_policy_set_parse_buffer("test.xml", xml, strlen(xml), &set);
    if (err)
        fail_msg("policy did not parse: %s", ss_errmsg());
    assert_non_null(set);
    return set;
}

/* Expects xml to be refused with a message containing expected. */
static void parse_fails(const char *xml, const char *expected)
{
    struct ss_policy_set *set = (struct ss_policy_set *)0x1;
    ss_error err = ss_policy_set_parse_buffer("test.xml", xml, strlen(xml), &set);
    assert_int_not_equal(err, SS_OK);
    assert_null(set);
    if (!strstr(ss_errmsg(), expected))
        fail_msg("expected '%s' in '%s'", expected, ss_errmsg());
}

struct ask {
    const char *client;
    const char *service; /* provider subsystem + "/" + code [+ "/" + version] */
    const char *purpose;
    const char *method;
    const char *path;
    const char *now;
    const struct ss_registry *registry;
};

static void parse_service(const char *s, struct ss_service_id *out)
{
    const char *p = s;
    size_t slashes = 0;
    size_t cut[5] = {0};
    for (size_t i = 0; s[i]; i++)
        if (s[i] == '/' && slashes < 5)
            cut[slashes++] = i;
    assert_true(slashes == 4 || slashes == 5);
    memset(out, 0, sizeof *out);
    assert_int_equal(ss_client_id_parse(p, cut[3], SS_ID_PART_MAX, true, &out->provider), SS_OK);
    size_t end = slashes == 5 ? cut[4] : strlen(s);
    assert_int_equal(
        ss_id_part_decode(s + cut[3] + 1, end - cut[3] - 1, SS_ID_PART_MAX, out->service_code),
        SS_OK);
    if (slashes == 5)
        assert_int_equal(ss_id_part_decode(s + cut[4] + 1, strlen(s) - cut[4] - 1, SS_ID_PART_MAX,
                                           out->service_version),
                         SS_OK);
}

static enum ss_policy_outcome decide(const struct ss_policy_set *set, const struct ask *a,
                                     struct ss_policy_decision *d)
{
    struct ss_client_id client;
    struct ss_service_id service;
    assert_int_equal(
        ss_client_id_parse(a->client, strlen(a->client), SS_ID_PART_MAX, false, &client), SS_OK);
    parse_service(a->service, &service);
    struct ss_policy_request req = {
        .client = &client,
        .service = &service,
        .purpose = a->purpose,
        .method = a->method,
        .path = a->path,
        .now = at(a->now ? a->now : "2026-11-23T12:00:00Z"),
        .registry = a->registry,
    };
    ss_error code = ss_policy_decide(set, &req, d);
    assert_int_equal(code, d->code);
    assert_int_equal(d->allow, code == SS_OK);
    assert_int_equal(d->allow, d->outcome == SS_POLICY_ALLOW);
    return d->outcome;
}

static void expect(const struct ss_policy_set *set, const struct ask *a,
                   enum ss_policy_outcome outcome, long line)
{
    struct ss_policy_decision d;
    enum ss_policy_outcome got = decide(set, a, &d);
    if (got != outcome || d.line != line)
        fail_msg("client %s service %s: expected %s at line %ld, got %s at line %ld (%s)",
                 a->client, a->service, ss_policy_outcome_name(outcome), line,
                 ss_policy_outcome_name(got), d.line, d.reason);
}

static char *make_temp_dir(void)
{
    char *dir = strdup("/tmp/test_policy.XXXXXX");
    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void write_file(const char *dir, const char *name, const char *content)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, strlen(content), f), strlen(content));
    assert_int_equal(fclose(f), 0);
}

static void remove_dir(char *dir)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        assert_int_equal(unlink(path), 0);
    }
    closedir(d);
    assert_int_equal(rmdir(dir), 0);
    free(dir);
}

/* A policy with one rule per case, each on a known line. */
static const char policy_xml[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                                  /* 1 */
    "<accessPolicy provider=\"" PROVIDER "\">\n"                                    /* 2 */
    "  <localGroup code=\"sh\" description=\"Meldebehörden SH\">\n"                 /* 3 */
    "    <member id=\"DE-NORD/MUN/01002000\"/>\n"                                   /* 4 */
    "    <member id=\"DE-NORD/MUN/01003000/Einwohnermeldeamt\"/>\n"                 /* 5 */
    "  </localGroup>\n"                                                             /* 6 */
    "  <rule service=\"meldeauskunft\" methods=\"GET HEAD\" path=\"/persons/*\">\n" /* 7 */
    "    <allow subsystem=\"" CONSUMER "\"/>\n"                                     /* 8 */
    "    <allow localGroup=\"sh\"/>\n"                                              /* 9 */
    "    <purpose required=\"true\"><code>BMG-34</code><code>BMG-34a</code></purpose>\n"
    "  </rule>\n"                                     /* 11 */
    "  <rule service=\"statistik\" version=\"v2\">\n" /* 12 */
    "    <allow member=\"DE-NORD/GOV/StaLa-SH\"/>\n"  /* 13 */
    "    <allow globalGroup=\"meldebehoerden\"/>\n"   /* 14 */
    "  </rule>\n"                                     /* 15 */
    "  <rule service=\"archiv\" path=\"/akten/**\" validFrom=\"2026-01-01T00:00:00Z\"\n"
    "        validUntil=\"2027-01-01T00:00:00Z\">\n"                 /* 17 */
    "    <allow subsystem=\"" CONSUMER "\"/>\n"                      /* 18 */
    "    <purpose required=\"false\"><code>AO-93</code></purpose>\n" /* 19 */
    "  </rule>\n"                                                    /* 20 */
    "  <rule service=\"frei\">\n"                                    /* 21 */
    "    <allow subsystem=\"" CONSUMER "\"/>\n"                      /* 22 */
    "    <purpose/>\n"                                               /* 23 */
    "  </rule>\n"                                                    /* 24 */
    "</accessPolicy>\n";

/* ---- decisions ---- */

static void test_allowed_request(void **state)
{
    (void)state;
    struct ss_policy_set *set = parse_ok(policy_xml);
    struct ss_policy_decision d;
    struct ask a = {CONSUMER, SERVICE, "BMG-34", "GET", "/persons/4711", NULL, NULL};
    assert_int_equal(decide(set, &a, &d), SS_POLICY_ALLOW);
    assert_true(d.allow);
    assert_int_equal(d.code, SS_OK);
    assert_string_equal(d.file, "test.xml");
    assert_int_equal(d.line, 7);
    assert_non_null(strstr(d.reason, CONSUMER));
    a.method = "HEAD";
    a.purpose = "BMG-34a";
    expect(set, &a, SS_POLICY_ALLOW, 7);
    assert_int_equal(ss_policy_set_count_rules(set), 4);
    assert_int_equal(ss_policy_set_count_files(set), 1);
    ss_policy_set_unref(set);
}

static void test_deny_by_default(void **state)
{
    (void)state;
    struct ss_policy_decision d;
    struct ask a = {CONSUMER, SERVICE, "BMG-34", "GET", "/persons/1", NULL, NULL};
    /* No set at all. */
    assert_int_equal(decide(NULL, &a, &d), SS_POLICY_NO_POLICY);
    assert_int_equal(d.code, SS_ERR_ACCESS_DENIED);
    assert_int_equal(d.line, 0);
    /* An empty directory gives an empty set that allows nothing. */
    char *dir = make_temp_dir();
    struct ss_policy_set *set = NULL;
    assert_int_equal(ss_policy_set_load_dir(dir, &set), SS_OK);
    assert_int_equal(ss_policy_set_count_files(set), 0);
    assert_int_equal(ss_policy_set_count_rules(set), 0);
    expect(set, &a, SS_POLICY_NO_POLICY, 0);
    ss_policy_set_unref(set);
    remove_dir(dir);
    /* A policy with no rules allows nothing. */
    set = parse_ok("<accessPolicy provider=\"" PROVIDER "\"/>");
    expect(set, &a, SS_POLICY_NO_RULE, 0);
    ss_policy_set_unref(set);
}

static void test_unknown_provider_and_service(void **state)
{
    (void)state;
    struct ss_policy_set *set = parse_ok(policy_xml);
    struct ask a = {CONSUMER,     "DE-NORD/MUN/13004000/Standesamt/meldeauskunft",
                    "BMG-34",     "GET",
                    "/persons/1", NULL,
                    NULL};
    expect(set, &a, SS_POLICY_NO_POLICY, 0);
    /* The provider member itself is not its subsystem. */
    a.service = "DE-NORD/MUN/13004000/Einwohnermeldeamt2/meldeauskunft";
    expect(set, &a, SS_POLICY_NO_POLICY, 0);
    a.service = PROVIDER "/meldeauskunft2";
    expect(set, &a, SS_POLICY_NO_RULE, 0);
    /* A rule naming a version covers only that version. */
    a.service = PROVIDER "/statistik/v1";
    a.client = "DE-NORD/GOV/StaLa-SH/Statistik";
    expect(set, &a, SS_POLICY_NO_RULE, 0);
    a.service = PROVIDER "/statistik";
    expect(set, &a, SS_POLICY_NO_RULE, 0);
    a.service = PROVIDER "/statistik/v2";
    expect(set, &a, SS_POLICY_ALLOW, 12);
    /* A rule without version covers every version. */
    a.client = CONSUMER;
    a.service = SERVICE "/v7";
    expect(set, &a, SS_POLICY_ALLOW, 7);
    ss_policy_set_unref(set);
}

static void test_wrong_client(void **state)
{
    (void)state;
    struct ss_policy_set *set = parse_ok(policy_xml);
    struct ss_policy_decision d;
    struct ask a = {
        "DE-NORD/GOV/IM-SH/Statistik", SERVICE, "BMG-34", "GET", "/persons/1", NULL, NULL};
    assert_int_equal(decide(set, &a, &d), SS_POLICY_CLIENT_NOT_ALLOWED);
    assert_int_equal(d.code, SS_ERR_ACCESS_DENIED);
    assert_int_equal(d.line, 0);
    assert_string_equal(d.file, "test.xml");
    assert_non_null(strstr(d.reason, "DE-NORD/GOV/IM-SH/Statistik"));
    a.client = "DE-NORD/GOV/IM-MV/Meldeauskunft";
    expect(set, &a, SS_POLICY_CLIENT_NOT_ALLOWED, 0);
    a.client = "DE-SUED/GOV/IM-SH/Meldeauskunft";
    expect(set, &a, SS_POLICY_CLIENT_NOT_ALLOWED, 0);
    ss_policy_set_unref(set);
}

static void test_member_covers_subsystems(void **state)
{
    (void)state;
    struct ss_policy_set *set = parse_ok(policy_xml);
    struct ask a = {"DE-NORD/GOV/StaLa-SH", PROVIDER "/statistik/v2", NULL, NULL, NULL, NULL, NULL};
    expect(set, &a, SS_POLICY_ALLOW, 12);
    a.client = "DE-NORD/GOV/StaLa-SH/Mikrozensus";
    expect(set, &a, SS_POLICY_ALLOW, 12);
    a.client = "DE-NORD/GOV/StaLa-MV/Mikrozensus";
    expect(set, &a, SS_POLICY_CLIENT_NOT_ALLOWED, 0);
    a.client = "DE-NORD/COM/StaLa-SH";
    expect(set, &a, SS_POLICY_CLIENT_NOT_ALLOWED, 0);
    ss_policy_set_unref(set);
}

static void test_subsystem_does_not_cover_member(void **state)
{
    (void)state;
    struct ss_policy_set *set = parse_ok(policy_xml);
    struct ask a = {"DE-NORD/GOV/IM-SH", SERVICE, "BMG-34", "GET", "/persons/1", NULL, NULL};
    expect(set, &a, SS_POLICY_CLIENT_NOT_ALLOWED, 0);
    a.client = "DE-NORD/GOV/IM-SH/Meldeauskunft2";
    expect(set, &a, SS_POLICY_CLIENT_NOT_ALLOWED, 0);
    a.client = CONSUMER;
    expect(set, &a, SS_POLICY_ALLOW, 7);
    ss_policy_set_unref(set);
}

static struct ss_registry *test_registry(void)
{
    struct ss_registry *reg = NULL;
    ss_error err = ss_registry_parse("registry.xml", (const uint8_t *)registry_xml,
                                     strlen(registry_xml), &reg);
    if (err)
        fail_msg("registry did not parse: %s", ss_errmsg());
    return reg;
}

static void test_global_group(void **state)
{
    (void)state;
    struct ss_registry *reg = test_registry();
    struct ss_policy_set *set = parse_ok(policy_xml);
    /* The group lists member MUN/01002000: it covers its subsystems. */
    struct ask a = {"DE-NORD/MUN/01002000/Einwohnermeldeamt",
                    PROVIDER "/statistik/v2",
                    NULL,
                    NULL,
                    NULL,
                    NULL,
                    reg};
    expect(set, &a, SS_POLICY_ALLOW, 12);
    a.client = "DE-NORD/MUN/01002000";
    expect(set, &a, SS_POLICY_ALLOW, 12);
    a.client = "DE-NORD/MUN/01003000/Einwohnermeldeamt";
    expect(set, &a, SS_POLICY_CLIENT_NOT_ALLOWED, 0);
    /* Without a registry no global group matches. */
    a.client = "DE-NORD/MUN/01002000/Einwohnermeldeamt";
    a.registry = NULL;
    expect(set, &a, SS_POLICY_CLIENT_NOT_ALLOWED, 0);
    ss_policy_set_unref(set);

    /* A group listing a subsystem covers only that subsystem. */
    set = parse_ok("<accessPolicy provider=\"" PROVIDER "\">\n"
                   "  <rule service=\"meldeauskunft\"><allow globalGroup=\"auskunft-sh\"/></rule>\n"
                   "</accessPolicy>\n");
    struct ask b = {CONSUMER, SERVICE, NULL, NULL, NULL, NULL, reg};
    expect(set, &b, SS_POLICY_ALLOW, 2);
    b.client = "DE-NORD/GOV/IM-SH";
    expect(set, &b, SS_POLICY_CLIENT_NOT_ALLOWED, 0);
    b.client = "DE-NORD/GOV/IM-SH/Statistik";
    expect(set, &b, SS_POLICY_CLIENT_NOT_ALLOWED, 0);
    ss_policy_set_unref(set);

    /* An unknown group matches nobody. */
    set = parse_ok("<accessPolicy provider=\"" PROVIDER "\">\n"
                   "  <rule service=\"meldeauskunft\"><allow globalGroup=\"nobody\"/></rule>\n"
                   "</accessPolicy>\n");
    b.client = CONSUMER;
    expect(set, &b, SS_POLICY_CLIENT_NOT_ALLOWED, 0);
    ss_policy_set_unref(set);
    ss_registry_unref(reg);
}

static void test_local_group(void **state)
{
    (void)state;
    struct ss_policy_set *set = parse_ok(policy_xml);
    /* Member entry DE-NORD/MUN/01002000 covers its subsystems. */
    struct ask a = {"DE-NORD/MUN/01002000/Einwohnermeldeamt",
                    SERVICE,
                    "BMG-34",
                    "GET",
                    "/persons/1",
                    NULL,
                    NULL};
    expect(set, &a, SS_POLICY_ALLOW, 7);
    /* Subsystem entry covers only itself. */
    a.client = "DE-NORD/MUN/01003000/Einwohnermeldeamt";
    expect(set, &a, SS_POLICY_ALLOW, 7);
    a.client = "DE-NORD/MUN/01003000";
    expect(set, &a, SS_POLICY_CLIENT_NOT_ALLOWED, 0);
    a.client = "DE-NORD/MUN/01003000/Standesamt";
    expect(set, &a, SS_POLICY_CLIENT_NOT_ALLOWED, 0);
    a.client = "DE-NORD/MUN/01004000/Einwohnermeldeamt";
    expect(set, &a, SS_POLICY_CLIENT_NOT_ALLOWED, 0);
    ss_policy_set_unref(set);
}

static void test_purpose(void **state)
{
    (void)state;
    struct ss_policy_set *set = parse_ok(policy_xml);
    struct ss_policy_decision d;
    struct ask a = {CONSUMER, SERVICE, NULL, "GET", "/persons/1", NULL, NULL};
    assert_int_equal(decide(set, &a, &d), SS_POLICY_PURPOSE_MISSING);
    assert_int_equal(d.code, SS_ERR_PURPOSE_MISSING);
    assert_int_equal(d.line, 7);
    assert_non_null(strstr(d.reason, "BMG-34"));
    a.purpose = "AO-93";
    assert_int_equal(decide(set, &a, &d), SS_POLICY_PURPOSE_DENIED);
    assert_int_equal(d.code, SS_ERR_PURPOSE_DENIED);
    assert_int_equal(d.line, 7);
    /* Codes compare exactly. */
    a.purpose = "bmg-34";
    expect(set, &a, SS_POLICY_PURPOSE_DENIED, 7);
    a.purpose = "BMG-3";
    expect(set, &a, SS_POLICY_PURPOSE_DENIED, 7);
    /* A malformed code is refused before any rule is looked at. */
    a.purpose = "BMG 34";
    expect(set, &a, SS_POLICY_PURPOSE_DENIED, 0);
    a.purpose = "";
    expect(set, &a, SS_POLICY_PURPOSE_DENIED, 0);
    /* Purpose checks come last: a wrong client is not told about purposes. */
    a.client = "DE-NORD/GOV/IM-MV/Meldeauskunft";
    a.purpose = NULL;
    expect(set, &a, SS_POLICY_CLIENT_NOT_ALLOWED, 0);

    /* required="false": absent is fine, a listed code is fine, others are not. */
    struct ask b = {CONSUMER, PROVIDER "/archiv", NULL, NULL, "/akten/1", NULL, NULL};
    expect(set, &b, SS_POLICY_ALLOW, 16);
    b.purpose = "AO-93";
    expect(set, &b, SS_POLICY_ALLOW, 16);
    b.purpose = "BMG-34";
    expect(set, &b, SS_POLICY_PURPOSE_DENIED, 16);
    /* <purpose/> with no codes: required, any code. */
    struct ask c = {CONSUMER, PROVIDER "/frei", NULL, NULL, NULL, NULL, NULL};
    expect(set, &c, SS_POLICY_PURPOSE_MISSING, 21);
    c.purpose = "irgendwas:1/2_3.4";
    expect(set, &c, SS_POLICY_ALLOW, 21);
    ss_policy_set_unref(set);
}

static void test_purpose_from_second_rule(void **state)
{
    (void)state;
    struct ss_policy_set *set =
        parse_ok("<accessPolicy provider=\"" PROVIDER "\">\n"
                 "  <rule service=\"meldeauskunft\"><allow subsystem=\"" CONSUMER "\"/>\n"
                 "    <purpose><code>BMG-34</code></purpose></rule>\n"
                 "  <rule service=\"meldeauskunft\"><allow member=\"DE-NORD/GOV/IM-SH\"/>\n"
                 "    <purpose><code>AO-93</code></purpose></rule>\n"
                 "</accessPolicy>\n");
    struct ask a = {CONSUMER, SERVICE, "AO-93", NULL, NULL, NULL, NULL};
    expect(set, &a, SS_POLICY_ALLOW, 4);
    a.purpose = "BMG-34";
    expect(set, &a, SS_POLICY_ALLOW, 2);
    a.purpose = "X";
    expect(set, &a, SS_POLICY_PURPOSE_DENIED, 2);
    a.client = "DE-NORD/GOV/IM-SH/Statistik";
    a.purpose = "BMG-34";
    expect(set, &a, SS_POLICY_PURPOSE_DENIED, 4);
    ss_policy_set_unref(set);
}

static void test_purpose_syntax(void **state)
{
    (void)state;
    char code[80];
    memset(code, 'A', sizeof code);
    code[64] = '\0';
    assert_true(ss_policy_purpose_valid(code));
    code[64] = 'A';
    code[65] = '\0';
    assert_false(ss_policy_purpose_valid(code));
    assert_true(ss_policy_purpose_valid("BMG-34a"));
    assert_true(ss_policy_purpose_valid("urn:de:bmg/34_a.1"));
    assert_false(ss_policy_purpose_valid(""));
    assert_false(ss_policy_purpose_valid(NULL));
    assert_false(ss_policy_purpose_valid("BMG 34"));
    assert_false(ss_policy_purpose_valid("BMG%34"));
    assert_false(ss_policy_purpose_valid("§34"));
}

static void test_method(void **state)
{
    (void)state;
    struct ss_policy_set *set = parse_ok(policy_xml);
    struct ss_policy_decision d;
    struct ask a = {CONSUMER, SERVICE, "BMG-34", "POST", "/persons/1", NULL, NULL};
    assert_int_equal(decide(set, &a, &d), SS_POLICY_METHOD_NOT_ALLOWED);
    assert_int_equal(d.code, SS_ERR_ACCESS_DENIED);
    assert_int_equal(d.line, 7);
    assert_non_null(strstr(d.reason, "POST"));
    a.method = "get";
    expect(set, &a, SS_POLICY_METHOD_NOT_ALLOWED, 7);
    a.method = "GETX";
    expect(set, &a, SS_POLICY_METHOD_NOT_ALLOWED, 7);
    /* A request without a method is not covered by a method-restricted rule. */
    a.method = NULL;
    expect(set, &a, SS_POLICY_METHOD_NOT_ALLOWED, 7);
    /* A rule without methods covers any method. */
    struct ask b = {CONSUMER, PROVIDER "/archiv", NULL, "DELETE", "/akten/1", NULL, NULL};
    expect(set, &b, SS_POLICY_ALLOW, 16);
    ss_policy_set_unref(set);
}

static void test_path_globs(void **state)
{
    (void)state;
    struct ss_policy_set *set = parse_ok(policy_xml);
    struct ss_policy_decision d;
    struct ask a = {CONSUMER, SERVICE, "BMG-34", "GET", "/persons/1", NULL, NULL};
    const char *star_yes[] = {"/persons/1", "/persons/M%C3%BCller", "/persons/a.b",
                              "/persons/1?fields=name"};
    const char *star_no[] = {"/persons",   "/persons/",   "/persons/1/addresses",
                             "/Persons/1", "/persons1/1", "/",
                             "",           "/x/persons/1"};
    for (size_t i = 0; i < sizeof star_yes / sizeof star_yes[0]; i++) {
        a.path = star_yes[i];
        expect(set, &a, SS_POLICY_ALLOW, 7);
    }
    for (size_t i = 0; i < sizeof star_no / sizeof star_no[0]; i++) {
        a.path = star_no[i];
        assert_int_equal(decide(set, &a, &d), SS_POLICY_PATH_NOT_ALLOWED);
        assert_int_equal(d.line, 7);
        /* The reason never repeats the request path (it may hold personal data). */
        if (strlen(star_no[i]) > 9)
            assert_null(strstr(d.reason, star_no[i]));
    }
    a.path = NULL;
    expect(set, &a, SS_POLICY_PATH_NOT_ALLOWED, 7);

    struct ask b = {CONSUMER, PROVIDER "/archiv", NULL, NULL, "/akten", NULL, NULL};
    const char *dstar_yes[] = {"/akten", "/akten/", "/akten/1", "/akten/1/2/3", "/akten/1/"};
    const char *dstar_no[] = {"/", "", "/akte", "/akten2", "/x/akten/1"};
    for (size_t i = 0; i < sizeof dstar_yes / sizeof dstar_yes[0]; i++) {
        b.path = dstar_yes[i];
        expect(set, &b, SS_POLICY_ALLOW, 16);
    }
    for (size_t i = 0; i < sizeof dstar_no / sizeof dstar_no[0]; i++) {
        b.path = dstar_no[i];
        expect(set, &b, SS_POLICY_PATH_NOT_ALLOWED, 16);
    }
    ss_policy_set_unref(set);
}

static void test_path_match(void **state)
{
    (void)state;
    struct {
        const char *pattern, *path;
        bool match;
    } cases[] = {
        {"/", "", true},
        {"/", "/", true},
        {"/", "/a", false},
        {"/**", "", true},
        {"/**", "/a/b/c", true},
        {"/a/**/z", "/a/z", true},
        {"/a/**/z", "/a/b/c/z", true},
        {"/a/**/z", "/a/b/c/y", false},
        {"/a/**/z", "/a/z/z", true},
        {"/a/**/b/**/c", "/a/x/b/y/b/c", true},
        {"/a/**/b/**/c", "/a/x/c/y/c", false},
        {"/files/*.pdf", "/files/bescheid.pdf", true},
        {"/files/*.pdf", "/files/.pdf", true},
        {"/files/*.pdf", "/files/bescheid.pdf/x", false},
        {"/files/*.pdf", "/files/bescheid.txt", false},
        {"/a*b*c", "/abc", true},
        {"/a*b*c", "/aXXbYYc", true},
        {"/a*b*c", "/aXXbYY", false},
        {"/*/x", "/a/x", true},
        {"/*/x", "//x", false},
        {"/*", "/", false},
        {"/v1/", "/v1/", true},
        {"/v1/", "/v1", false},
        {"/exact", "/exact", true},
        {"/exact", "/exact?q=1", true},
        {"/exact", "/exactly", false},
        /* a path parameter is not taken by '*': the backend may drop it */
        {"/persons/*", "/persons/;x", false},
        {"/persons/*", "/persons/4711;v=2", false},
        {"/files/*.pdf", "/files/geheim.docx;.pdf", false},
        {"/files/*", "/files/a;b", false},
        {"/files/*;v=*", "/files/a;v=2", true},
        {"/persons/**", "/persons/;x", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool got = ss_policy_path_match(cases[i].pattern, cases[i].path, strlen(cases[i].path));
        if (got != cases[i].match)
            fail_msg("pattern %s path '%s': expected %d", cases[i].pattern, cases[i].path,
                     cases[i].match);
    }
}

static void test_path_traversal_refused(void **state)
{
    (void)state;
    const char *refused[] = {
        "/persons/../admin",
        "/persons/./1",
        "/..",
        "/.",
        "/a/..",
        "/a/%2e%2e/b",
        "/a/%2E./b",
        "/persons%2fadmin",
        "/persons%2Fadmin",
        "/a%5cb",
        "/a%5Cb",
        "/a\\b",
        "//persons",
        "/persons//1",
        "persons/1",
        "/a/%2",
        "/a/%zz",
        "/a/..;/admin",
        "/a/.;x/b",
        "/a/%252e%252e",
        "/a/%00",
        "/a/\x01",
        "/a/%0a",
        "/a\tb",
        /* overlong UTF-8: "." and "/" in disguise, encoded or sent as they are */
        "/persons/%c0%ae%c0%ae%c0%afadmin",
        "/a/%C0%AE%C0%AE/b",
        "/a/%c1%9c",
        "/a/%e0%80%ae",
        "/a/%f0%80%80%ae",
        "/a/\xc0\xae\xc0\xae/b",
        "/a/%c0\xae",
        "/a/%f8%80%80%80%ae",
        "/a/%fc%80%80%80%80%ae",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        ss_error err = ss_policy_path_check(refused[i], strlen(refused[i]));
        if (err != SS_ERR_PROTOCOL)
            fail_msg("path '%s' was not refused", refused[i]);
        assert_true(strlen(ss_errmsg()) > 0);
    }
    /* An embedded NUL within the given length. */
    assert_int_equal(ss_policy_path_check("/a\0/b", 5), SS_ERR_PROTOCOL);
    assert_non_null(strstr(ss_errmsg(), "NUL"));

    const char *accepted[] = {"",
                              "/",
                              "/persons/1",
                              "/persons/1/",
                              "/a%20b",
                              "/a.b/c..d/...",
                              "/M%C3%BCller",
                              "/%C1lvarez",
                              "/%C2%A9%DF%BF%E0%A0%80%ED%9F%BF%EF%BF%BF%F0%90%80%80%F4%8F%BF%BF",
                              "/%C0",
                              "/%E0%A4%85",
                              "/%F0%9F%98%80",
                              "/M\xc3\xbcller",
                              "/a;v=1/b",
                              "/a?x=../y%2f",
                              "/~user/-_.!$&'()*+,=:@"};
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++)
        if (ss_policy_path_check(accepted[i], strlen(accepted[i])) != SS_OK)
            fail_msg("path '%s' was refused: %s", accepted[i], ss_errmsg());

    /* Too long and too many segments. */
    char *long_path = malloc(SS_POLICY_PATH_MAX + 2);
    assert_non_null(long_path);
    memset(long_path, 'a', SS_POLICY_PATH_MAX + 1);
    long_path[0] = '/';
    assert_int_equal(ss_policy_path_check(long_path, SS_POLICY_PATH_MAX + 1), SS_ERR_PROTOCOL);
    assert_int_equal(ss_policy_path_check(long_path, SS_POLICY_PATH_MAX), SS_OK);
    for (size_t i = 0; i < 2 * (SS_POLICY_SEGMENTS_MAX + 1); i += 2) {
        long_path[i] = '/';
        long_path[i + 1] = 'a';
    }
    assert_int_equal(ss_policy_path_check(long_path, 2 * SS_POLICY_SEGMENTS_MAX), SS_OK);
    assert_int_equal(ss_policy_path_check(long_path, 2 * (SS_POLICY_SEGMENTS_MAX + 1)),
                     SS_ERR_PROTOCOL);
    free(long_path);

    /* decide refuses traversal even where a rule covers every path. */
    struct ss_policy_set *set = parse_ok(policy_xml);
    struct ss_policy_decision d;
    struct ask a = {CONSUMER, PROVIDER "/archiv", NULL, "GET", "/akten/../geheim", NULL, NULL};
    assert_int_equal(decide(set, &a, &d), SS_POLICY_PATH_REFUSED);
    assert_int_equal(d.code, SS_ERR_ACCESS_DENIED);
    assert_int_equal(d.line, 0);
    a.path = "/akten/%2e%2e/geheim";
    expect(set, &a, SS_POLICY_PATH_REFUSED, 0);
    a.path = "/akten//geheim";
    expect(set, &a, SS_POLICY_PATH_REFUSED, 0);
    a.path = "/akten/1";
    expect(set, &a, SS_POLICY_ALLOW, 16);
    ss_policy_set_unref(set);
}

static void test_validity_period(void **state)
{
    (void)state;
    struct ss_policy_set *set = parse_ok(policy_xml);
    struct ss_policy_decision d;
    struct ask a = {CONSUMER,   PROVIDER "/archiv",     NULL, "GET",
                    "/akten/1", "2025-12-31T23:59:59Z", NULL};
    assert_int_equal(decide(set, &a, &d), SS_POLICY_OUTSIDE_VALIDITY);
    assert_int_equal(d.code, SS_ERR_ACCESS_DENIED);
    assert_int_equal(d.line, 16);
    assert_non_null(strstr(d.reason, "2026-01-01T00:00:00Z"));
    a.now = "2026-01-01T00:00:00Z";
    expect(set, &a, SS_POLICY_ALLOW, 16);
    a.now = "2026-12-31T23:59:59Z";
    expect(set, &a, SS_POLICY_ALLOW, 16);
    a.now = "2027-01-01T00:00:00Z";
    expect(set, &a, SS_POLICY_OUTSIDE_VALIDITY, 16);
    a.now = "2030-06-01T00:00:00Z";
    expect(set, &a, SS_POLICY_OUTSIDE_VALIDITY, 16);
    /* Validity is checked after the client: others learn nothing of it. */
    a.client = "DE-NORD/GOV/IM-MV/Meldeauskunft";
    expect(set, &a, SS_POLICY_CLIENT_NOT_ALLOWED, 0);
    ss_policy_set_unref(set);
}

static void test_closest_rule_is_named(void **state)
{
    (void)state;
    struct ss_policy_set *set =
        parse_ok("<accessPolicy provider=\"" PROVIDER "\">\n"
                 "  <rule service=\"meldeauskunft\"><allow subsystem=\"DE-NORD/GOV/X/Y\"/></rule>\n"
                 "  <rule service=\"meldeauskunft\" validUntil=\"2020-01-01T00:00:00Z\">\n"
                 "    <allow subsystem=\"" CONSUMER "\"/></rule>\n"
                 "  <rule service=\"meldeauskunft\" methods=\"GET\">\n"
                 "    <allow subsystem=\"" CONSUMER "\"/></rule>\n"
                 "  <rule service=\"meldeauskunft\" methods=\"POST\" path=\"/x\">\n"
                 "    <allow subsystem=\"" CONSUMER "\"/></rule>\n"
                 "</accessPolicy>\n");
    struct ask a = {CONSUMER, SERVICE, NULL, "PUT", "/y", NULL, NULL};
    expect(set, &a, SS_POLICY_METHOD_NOT_ALLOWED, 5);
    a.method = "POST";
    expect(set, &a, SS_POLICY_PATH_NOT_ALLOWED, 7);
    a.path = "/x";
    expect(set, &a, SS_POLICY_ALLOW, 7);
    a.method = "GET";
    expect(set, &a, SS_POLICY_ALLOW, 5);
    /* Back when the rule on line 3 was valid, it allowed any method. */
    a.now = "2019-01-01T00:00:00Z";
    a.method = "PUT";
    expect(set, &a, SS_POLICY_ALLOW, 3);
    ss_policy_set_unref(set);
}

static void test_incomplete_request(void **state)
{
    (void)state;
    struct ss_policy_set *set = parse_ok(policy_xml);
    struct ss_policy_request req = {0};
    struct ss_policy_decision d;
    assert_int_equal(ss_policy_decide(set, &req, &d), SS_ERR_ACCESS_DENIED);
    assert_false(d.allow);
    assert_int_equal(d.outcome, SS_POLICY_BAD_REQUEST);
    ss_policy_set_unref(set);
}

/* ---- parse errors, each with its line ---- */

#define HEAD "<?xml version=\"1.0\"?>\n<accessPolicy provider=\"" PROVIDER "\">\n"
#define ALLOW "<allow subsystem=\"" CONSUMER "\"/>"

static void test_parse_errors(void **state)
{
    (void)state;
    struct {
        const char *xml;
        const char *expected;
    } cases[] = {
        {"<?xml version=\"1.0\"?>\n\n<accessPolicy provider=\"DE-NORD/MUN/13004000\"/>\n",
         "test.xml:3: provider 'DE-NORD/MUN/13004000' is not a subsystem identifier"},
        {HEAD "<rule service=\"s\">\n<allow localGroup=\"unbekannt\"/></rule></accessPolicy>",
         "test.xml:4: unknown local group 'unbekannt'"},
        {HEAD "<rule service=\"s\">" ALLOW "</rule>\n<localGroup code=\"late\"/></accessPolicy>",
         "test.xml:4: Element 'localGroup': This element is not expected"},
        {HEAD "<localGroup code=\"g\"/>\n<localGroup code=\"g\"/></accessPolicy>",
         "test.xml:4: local group 'g' is already defined at line 3"},
        {HEAD "\n<rule service=\"s\" validFrom=\"2027-01-01T00:00:00Z\" "
              "validUntil=\"2026-01-01T00:00:00Z\">" ALLOW "</rule></accessPolicy>",
         "test.xml:4: validFrom 2027-01-01T00:00:00Z is not before validUntil"},
        {HEAD "<rule service=\"s\" validFrom=\"2026-01-01T00:00:00Z\" "
              "validUntil=\"2026-01-01T00:00:00Z\">" ALLOW "</rule></accessPolicy>",
         "test.xml:3: validFrom 2026-01-01T00:00:00Z is not before validUntil"},
        {HEAD "<rule service=\"s\" path=\"/a/../b\">" ALLOW "</rule></accessPolicy>",
         "test.xml:3: path '/a/../b': path pattern must not contain '.' or '..' segments"},
        {HEAD "<rule service=\"s\" path=\"/a/./b\">" ALLOW "</rule></accessPolicy>",
         "test.xml:3: path '/a/./b': path pattern must not contain '.' or '..' segments"},
        {HEAD "<rule service=\"s\" path=\"/..\">" ALLOW "</rule></accessPolicy>",
         "must not contain '.' or '..' segments"},
        {HEAD "<rule service=\"s\" path=\"/a//b\">" ALLOW "</rule></accessPolicy>",
         "test.xml:3: path '/a//b': path pattern must not contain an empty segment"},
        {HEAD "<rule service=\"s\" path=\"/a/%2e%2e/b\">" ALLOW "</rule></accessPolicy>",
         "test.xml:3: path '/a/%2e%2e/b': path pattern must not contain percent escapes"},
        {HEAD "<rule service=\"s\" path=\"/a\\b\">" ALLOW "</rule></accessPolicy>",
         "test.xml:3: path '/a\\b': path pattern must not contain a backslash"},
        {HEAD "<rule service=\"s\" path=\"persons/*\">" ALLOW "</rule></accessPolicy>",
         "test.xml:3: path 'persons/*': path pattern must start with '/'"},
        {HEAD "<rule service=\"s\" path=\"/a/b**\">" ALLOW "</rule></accessPolicy>",
         "test.xml:3: path '/a/b**': '**' must be a whole path segment"},
        {HEAD "<rule service=\"s\" path=\"/a?x=1\">" ALLOW "</rule></accessPolicy>",
         "must not contain a query"},
        {HEAD "<rule service=\"s\" path=\"/a b\">" ALLOW "</rule></accessPolicy>",
         "printable ASCII"},
        {HEAD "\n\n<rule service=\"s\" methods=\"get\">" ALLOW "</rule></accessPolicy>",
         "test.xml:5: method 'get' is not an upper-case token"},
        {HEAD "<rule service=\"s\" methods=\"GET Post\">" ALLOW "</rule></accessPolicy>",
         "test.xml:3: method 'Post' is not an upper-case token"},
        {HEAD "<rule service=\"s\" methods=\"GET GET\">" ALLOW "</rule></accessPolicy>",
         "test.xml:3: method 'GET' is listed twice"},
        {HEAD "<rule service=\"s\" methods=\"GET PROPFIND\">" ALLOW "</rule></accessPolicy>",
         "test.xml:3: method 'PROPFIND' is never forwarded"},
        {HEAD "<rule service=\"s\" methods=\"  \">" ALLOW "</rule></accessPolicy>",
         "test.xml:3: methods names no method"},
        {HEAD "<rule service=\"s\">\n<allow/></rule></accessPolicy>",
         "test.xml:4: allow must name exactly one of"},
        {HEAD "<rule service=\"s\">\n<allow member=\"DE-NORD/GOV/IM-SH\" "
              "globalGroup=\"g\"/></rule></accessPolicy>",
         "test.xml:4: allow must name exactly one of"},
        {HEAD "<rule service=\"s\"/></accessPolicy>", "test.xml:3: Element 'rule'"},
        {HEAD "<rule service=\"s\">\n<allow member=\"DE-NORD/GOV/IM-SH/Sub\"/></rule>"
              "</accessPolicy>",
         "test.xml:4: Element 'allow'"},
        {HEAD "<rule service=\"s\">" ALLOW "<purpose><code>BMG 34</code></purpose></rule>"
              "</accessPolicy>",
         "test.xml:3: Element 'code'"},
        {HEAD "<rule service=\"s\" extra=\"1\">" ALLOW "</rule></accessPolicy>",
         "test.xml:3: Element 'rule', attribute 'extra'"},
        {HEAD "<rule service=\"s/t\">" ALLOW "</rule></accessPolicy>", "test.xml:3:"},
        {"<?xml version=\"1.0\"?>\n<accessPolicy provider=\"A/B/C/D\" version=\"2\"/>",
         "test.xml:2:"},
        {"<?xml version=\"1.0\"?>\n<policy provider=\"A/B/C/D\"/>", "test.xml:2:"},
        {"<accessPolicy provider=\"A/B/C/D\">\n<rule service=\"s\">", "test.xml:"},
        {"", "test.xml:"},
        {"<?xml version=\"1.0\"?>\n<!DOCTYPE accessPolicy [<!ENTITY x \"y\">]>\n"
         "<accessPolicy provider=\"A/B/C/&x;\"/>",
         "test.xml:"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ss_policy_set *set = (struct ss_policy_set *)0x1;
        ss_error err =
            ss_policy_set_parse_buffer("test.xml", cases[i].xml, strlen(cases[i].xml), &set);
        if (err == SS_OK)
            fail_msg("case %zu parsed: %s", i, cases[i].xml);
        assert_int_equal(err, SS_ERR_POLICY);
        assert_null(set);
        if (!strstr(ss_errmsg(), cases[i].expected))
            fail_msg("case %zu: expected '%s' in '%s'", i, cases[i].expected, ss_errmsg());
    }
}

static void test_parse_error_line_of_multiline_tag(void **state)
{
    (void)state;
    parse_fails(HEAD "  <rule service=\"s\"\n"
                     "        methods=\"GET\"\n"
                     "        path=\"/a/../b\">\n" ALLOW "</rule></accessPolicy>",
                "test.xml:3: path '/a/../b'");
    struct ss_policy_set *set = parse_ok(HEAD "\n  <rule\n service=\"s\"\n"
                                              "   path=\"/a\">\n" ALLOW "</rule></accessPolicy>");
    struct ask a = {CONSUMER, PROVIDER "/s", NULL, NULL, "/a", NULL, NULL};
    expect(set, &a, SS_POLICY_ALLOW, 4);
    ss_policy_set_unref(set);
}

static void test_file_too_large(void **state)
{
    (void)state;
    size_t len = SS_POLICY_FILE_MAX_BYTES + 1;
    char *big = malloc(len + 1);
    assert_non_null(big);
    memset(big, ' ', len);
    memcpy(big, "<accessPolicy provider=\"A/B/C/D\">", 33);
    memcpy(big + len - 15, "</accessPolicy>", 15);
    big[len] = '\0';
    struct ss_policy_set *set = NULL;
    assert_int_equal(ss_policy_set_parse_buffer("big.xml", big, len, &set), SS_ERR_TOO_LARGE);
    assert_null(set);
    /* The same from a file. */
    char *dir = make_temp_dir();
    write_file(dir, "big.xml", big);
    assert_int_equal(ss_policy_set_load_dir(dir, &set), SS_ERR_TOO_LARGE);
    assert_null(set);
    remove_dir(dir);
    free(big);
}

/* ---- sets of files ---- */

static const char other_policy[] = "<accessPolicy provider=\"DE-NORD/MUN/13004000/Standesamt\">\n"
                                   "  <rule service=\"urkunde\">" ALLOW "</rule>\n"
                                   "</accessPolicy>\n";

static void test_duplicate_providers(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    write_file(dir, "b.xml", policy_xml);
    write_file(dir, "a.xml",
               "\n"
               "<accessPolicy provider=\"" PROVIDER "\">\n"
               "  <rule service=\"x\">" ALLOW "</rule>\n"
               "</accessPolicy>\n");
    struct ss_policy_set *set = (struct ss_policy_set *)0x1;
    assert_int_equal(ss_policy_set_load_dir(dir, &set), SS_ERR_POLICY);
    assert_null(set);
    /* Files load in name order, so b.xml is the duplicate of a.xml. */
    assert_non_null(strstr(ss_errmsg(), "/b.xml:2: provider " PROVIDER " already has a policy in"));
    assert_non_null(strstr(ss_errmsg(), "/a.xml:2"));

    char a_path[512], b_path[512];
    snprintf(a_path, sizeof a_path, "%s/a.xml", dir);
    snprintf(b_path, sizeof b_path, "%s/b.xml", dir);
    const char *paths[] = {b_path, a_path};
    assert_int_equal(ss_policy_set_load_files(paths, 2, &set), SS_ERR_POLICY);
    assert_null(set);
    assert_non_null(strstr(ss_errmsg(), "/a.xml:2: provider"));
    /* The same file twice is a duplicate too. */
    const char *twice[] = {a_path, a_path};
    assert_int_equal(ss_policy_set_load_files(twice, 2, &set), SS_ERR_POLICY);
    assert_int_equal(ss_policy_set_load_files(twice, 1, &set), SS_OK);
    assert_int_equal(ss_policy_set_count_rules(set), 1);
    ss_policy_set_unref(set);
    remove_dir(dir);
}

static void test_load_dir(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    write_file(dir, "10-schwerin.xml", policy_xml);
    write_file(dir, "20-standesamt.xml", other_policy);
    write_file(dir, "README.txt", "not a policy");
    write_file(dir, ".hidden.xml", "not a policy either");
    write_file(dir, "policy.xml.bak", "<broken");
    struct ss_policy_set *set = NULL;
    assert_int_equal(ss_policy_set_load_dir(dir, &set), SS_OK);
    assert_int_equal(ss_policy_set_count_files(set), 2);
    assert_int_equal(ss_policy_set_count_rules(set), 5);
    struct ss_policy_decision d;
    struct ask a = {CONSUMER, "DE-NORD/MUN/13004000/Standesamt/urkunde", NULL, NULL, NULL, NULL,
                    NULL};
    assert_int_equal(decide(set, &a, &d), SS_POLICY_ALLOW);
    assert_non_null(strstr(d.file, "/20-standesamt.xml"));
    assert_int_equal(d.line, 2);

    /* One bad file: the whole directory fails, the old set stays usable. */
    write_file(dir, "30-bad.xml",
               HEAD "<rule service=\"s\" path=\"/a/../b\">" ALLOW "</rule></accessPolicy>");
    struct ss_policy_set *next = (struct ss_policy_set *)0x1;
    assert_int_equal(ss_policy_set_load_dir(dir, &next), SS_ERR_POLICY);
    assert_null(next);
    assert_non_null(strstr(ss_errmsg(), "/30-bad.xml:3: path"));
    assert_int_equal(decide(set, &a, &d), SS_POLICY_ALLOW);
    ss_policy_set_unref(set);

    assert_int_equal(ss_policy_set_load_dir("/nonexistent/policies", &set), SS_ERR_NOT_FOUND);
    assert_null(set);
    const char *missing[] = {"/nonexistent/policy.xml"};
    assert_int_equal(ss_policy_set_load_files(missing, 1, &set), SS_ERR_NOT_FOUND);
    assert_null(set);
    remove_dir(dir);
}

struct report_counts {
    int errors;
    int ok;
    size_t rules;
    char last_error[512];
};

static void count_error(void *ctx, const char *file, const char *message)
{
    struct report_counts *c = ctx;
    assert_non_null(file);
    assert_non_null(strstr(message, file));
    c->errors++;
    snprintf(c->last_error, sizeof c->last_error, "%s", message);
}

static void count_ok(void *ctx, const char *file, size_t n_rules)
{
    struct report_counts *c = ctx;
    assert_non_null(file);
    c->ok++;
    c->rules += n_rules;
}

static void test_report_sees_every_error(void **state)
{
    (void)state;
    char *dir = make_temp_dir();
    write_file(dir, "a.xml", policy_xml);
    write_file(dir, "b.xml",
               HEAD "<rule service=\"s\" path=\"/a/../b\" methods=\"x\">\n"
                    "<allow localGroup=\"nope\"/></rule></accessPolicy>");
    write_file(dir, "c.xml", other_policy);
    write_file(dir, "d.xml", policy_xml);
    char paths_buf[4][512];
    const char *paths[4];
    for (int i = 0; i < 4; i++) {
        snprintf(paths_buf[i], sizeof paths_buf[i], "%s/%c.xml", dir, 'a' + i);
        paths[i] = paths_buf[i];
    }
    struct report_counts c = {0};
    struct ss_policy_report report = {count_error, count_ok, &c};
    struct ss_policy_set *set = (struct ss_policy_set *)0x1;
    assert_int_equal(ss_policy_set_load_files_report(paths, 4, &report, &set), SS_ERR_POLICY);
    assert_null(set);
    assert_int_equal(c.errors, 4); /* method, path, local group in b; duplicate d */
    assert_int_equal(c.ok, 2);
    assert_int_equal(c.rules, 5);
    assert_non_null(strstr(c.last_error, "/d.xml:2: provider"));
    /* The first error is what the call returns. */
    assert_non_null(strstr(ss_errmsg(), "/b.xml:3: method 'x'"));

    memset(&c, 0, sizeof c);
    assert_int_equal(ss_policy_set_load_files_report(paths, 1, &report, &set), SS_OK);
    assert_int_equal(c.errors, 0);
    assert_int_equal(c.ok, 1);
    ss_policy_set_unref(set);
    remove_dir(dir);
}

static void test_refcount(void **state)
{
    (void)state;
    ss_policy_set_unref(NULL);
    assert_null(ss_policy_set_ref(NULL));
    struct ss_policy_set *set = parse_ok(policy_xml);
    assert_ptr_equal(ss_policy_set_ref(set), set);
    ss_policy_set_unref(set);
    /* Still alive with one reference. */
    struct ask a = {CONSUMER, SERVICE, "BMG-34", "GET", "/persons/1", NULL, NULL};
    expect(set, &a, SS_POLICY_ALLOW, 7);
    ss_policy_set_unref(set);
    assert_int_equal(ss_policy_set_count_rules(NULL), 0);
}

static void test_example_policy(void **state)
{
    (void)state;
    /* the source tree is known at build time; the environment may point elsewhere */
    const char *src = getenv("SS_SOURCE_DIR");
    if (!src || !*src)
        src = SS_SOURCE_DIR_BUILT;
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/policies/examples", src);
    struct ss_policy_set *set = NULL;
    if (ss_policy_set_load_dir(dir, &set) != SS_OK)
        fail_msg("examples do not load: %s", ss_errmsg());
    struct ss_policy_decision d;
    struct ask a = {"DE-NORD/GOV/MIKWS-SH/Meldeauskunft",
                    SERVICE,
                    "BMG-34",
                    "GET",
                    "/persons/4711",
                    NULL,
                    NULL};
    assert_int_equal(decide(set, &a, &d), SS_POLICY_ALLOW);
    a.purpose = NULL;
    assert_int_equal(decide(set, &a, &d), SS_POLICY_PURPOSE_MISSING);
    a.purpose = "BMG-34";
    a.method = "DELETE";
    assert_int_equal(decide(set, &a, &d), SS_POLICY_METHOD_NOT_ALLOWED);
    a.method = "GET";
    a.client = "DE-NORD/GOV/MIKWS-SH";
    assert_int_equal(decide(set, &a, &d), SS_POLICY_CLIENT_NOT_ALLOWED);
    a.client = "DE-NORD/MUN/01002000/Buergeramt";
    assert_int_equal(decide(set, &a, &d), SS_POLICY_CLIENT_NOT_ALLOWED);
    ss_policy_set_unref(set);
}

static void test_outcome_names(void **state)
{
    (void)state;
    assert_string_equal(ss_policy_outcome_name(SS_POLICY_ALLOW), "allow");
    assert_string_equal(ss_policy_outcome_name(SS_POLICY_CLIENT_NOT_ALLOWED), "client-not-allowed");
    assert_string_equal(ss_policy_outcome_name(SS_POLICY_PURPOSE_MISSING), "purpose-missing");
    assert_string_equal(ss_policy_outcome_name(SS_POLICY_PATH_REFUSED), "path-refused");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allowed_request),
        cmocka_unit_test(test_deny_by_default),
        cmocka_unit_test(test_unknown_provider_and_service),
        cmocka_unit_test(test_wrong_client),
        cmocka_unit_test(test_member_covers_subsystems),
        cmocka_unit_test(test_subsystem_does_not_cover_member),
        cmocka_unit_test(test_global_group),
        cmocka_unit_test(test_local_group),
        cmocka_unit_test(test_purpose),
        cmocka_unit_test(test_purpose_from_second_rule),
        cmocka_unit_test(test_purpose_syntax),
        cmocka_unit_test(test_method),
        cmocka_unit_test(test_path_globs),
        cmocka_unit_test(test_path_match),
        cmocka_unit_test(test_path_traversal_refused),
        cmocka_unit_test(test_validity_period),
        cmocka_unit_test(test_closest_rule_is_named),
        cmocka_unit_test(test_incomplete_request),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_error_line_of_multiline_tag),
        cmocka_unit_test(test_file_too_large),
        cmocka_unit_test(test_duplicate_providers),
        cmocka_unit_test(test_load_dir),
        cmocka_unit_test(test_report_sees_every_error),
        cmocka_unit_test(test_refcount),
        cmocka_unit_test(test_example_policy),
        cmocka_unit_test(test_outcome_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
