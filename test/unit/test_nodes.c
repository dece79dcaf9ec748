/*
 * Unit tests of what the nodes of one server must hold alike
 * (secsrv/core/nodes.c): the digests a node states are the same for two
 * nodes that differ only in what is each node's own (name, state, listen
 * addresses, store, log level), and each part that differs is named; the
 * subject key is never in what a node states; a file that cannot be read
 * is an error naming it; and the judgement: alone, in agreement, the odd
 * one out among several, and a tie decided by who held it first.
 */
#include "config.h"
#include "nodes.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[64];

#define KEY_A "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define KEY_B "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static void put(const char *name, const char *text)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

/* A node's configuration: node name, listen port, log level and one [limits] value vary. */
static struct ss_config *node_conf(const char *node, int port, const char *policies,
                                   const char *subject, const char *max_headers)
{
    char text[4096], p[256];
    snprintf(text, sizeof text,
             "[server]\ninstance = DE-NORD\nowner = MUN/13004000\ncode = ss-mv-schwerin\n"
             "state_dir = %s/state-%s\nnode = %s\n"
             "[tls]\ncertificate = %s/auth.pem\nkey = %s/auth.key\n"
             "[registry]\nurl = https://r.example/registry.xml\nanchor = %s/anchor.pem\n"
             "[client-proxy]\nlisten = 127.0.0.1:%d\n"
             "[server-proxy]\nlisten = 127.0.0.1:%d\n"
             "[policies]\ndir = %s/%s\n"
             "[log]\nstore = postgresql:host=/tmp/%s dbname=secsrv\nlevel = %s\n"
             "subject_key = %s/%s\n"
             "[limits]\nmax_headers = %s\n"
             "[signer]\nkey = MUN/13004000 %s/sign.key %s/sign.pem\n"
             "[health]\nlisten = 127.0.0.1:%d\n",
             dir, node, node, dir, dir, dir, port, port + 1, dir, policies, node,
             port % 2 ? "info" : "debug", dir, subject, max_headers, dir, dir, port + 2);
    snprintf(p, sizeof p, "%s/%s.conf", dir, node);
    put(strrchr(p, '/') + 1, text);
    struct ss_config *cfg = NULL;
    ss_error err = ss_config_load(p, &cfg);
    if (err)
        fail_msg("%s", cfg ? cfg->problems : ss_errmsg());
    return cfg;
}

static void config_of(const char *node, int port, const char *policies, const char *subject,
                      const char *max_headers, char out[SS_NODES_CONFIG_MAX])
{
    struct ss_config *cfg = node_conf(node, port, policies, subject, max_headers);
    if (ss_nodes_config(cfg, out) != SS_OK)
        fail_msg("%s", ss_errmsg());
    ss_config_free(cfg);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ss-nodes-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char p[256];
    snprintf(p, sizeof p, "%s/pol", dir);
    mkdir(p, 0700);
    snprintf(p, sizeof p, "%s/pol2", dir);
    mkdir(p, 0700);
    put("auth.pem", "certificate A\n");
    put("anchor.pem", "anchor A\n");
    put("sign.pem", "signing certificate A\n");
    put("subject.key", KEY_A "\n");
    put("subject2.key", KEY_B "\n");
    put("pol/a.xml", "<policy>one</policy>\n");
    put("pol/b.xml", "<policy>two</policy>\n");
    put("pol2/a.xml", "<policy>one</policy>\n");
    put("pol2/b.xml", "<policy>two, changed</policy>\n");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_node_own_entries_do_not_count(void **state)
{
    (void)state;
    char a[SS_NODES_CONFIG_MAX], b[SS_NODES_CONFIG_MAX], why[200];
    config_of("node-1", 5000, "pol", "subject.key", "64", a);
    config_of("node-2", 6001, "pol", "subject.key", "64", b);
    assert_string_equal(a, b);
    ss_nodes_diff(a, b, why, sizeof why);
    assert_string_equal(why, "");
    /* the items, each a 16-byte digest */
    assert_non_null(strstr(a, "server="));
    assert_non_null(strstr(a, ";policies="));
    assert_non_null(strstr(a, ";settings="));
}

/* Node 2, as given, differs from a in want. */
static void expect_diff(const char *a, const char *policies, const char *subject,
                        const char *max_headers, const char *want)
{
    char b[SS_NODES_CONFIG_MAX], why[200];
    config_of("node-2", 5000, policies, subject, max_headers, b);
    ss_nodes_diff(a, b, why, sizeof why);
    assert_string_equal(why, want);
}

static void test_each_part_named(void **state)
{
    (void)state;
    char a[SS_NODES_CONFIG_MAX], why[200];
    config_of("node-1", 5000, "pol", "subject.key", "64", a);
    expect_diff(a, "pol2", "subject.key", "64", "policies");
    expect_diff(a, "pol", "subject2.key", "64", "subject key");
    expect_diff(a, "pol", "subject.key", "32", "settings");

    put("auth.pem", "certificate B\n");
    put("sign.pem", "signing certificate B\n");
    expect_diff(a, "pol", "subject.key", "64", "TLS certificate, signing certificates");
    put("auth.pem", "certificate A\n");
    put("sign.pem", "signing certificate A\n");

    put("anchor.pem", "anchor B\n");
    expect_diff(a, "pol2", "subject.key", "64", "registry anchor, policies");
    put("anchor.pem", "anchor A\n");

    /* a statement of another shape: said, not ignored */
    ss_nodes_diff(a, "server=00", why, sizeof why);
    assert_non_null(strstr(why, "server identity"));
    assert_non_null(strstr(why, "settings"));
}

/* The same settings in another order of sections and lines: the same statement. */
static void test_order_does_not_count(void **state)
{
    (void)state;
    static const char *const texts[2] = {
        "[server]\ninstance = DE-NORD\nowner = MUN/13004000\ncode = ss-mv-schwerin\n"
        "[limits]\nmax_headers = 64\nmax_url_bytes = 4096\n"
        "[clients]\nclient = MUN/13004000/a\nclient = MUN/13004000/b\n",
        "[clients]\nclient = MUN/13004000/b\nclient = MUN/13004000/a\n"
        "[limits]\nmax_url_bytes = 4096\nmax_headers = 64\n"
        "[server]\ninstance = DE-NORD\ncode = ss-mv-schwerin\nowner = MUN/13004000\n"};
    char out[2][SS_NODES_CONFIG_MAX];
    for (int i = 0; i < 2; i++) {
        char name[32], p[256];
        snprintf(name, sizeof name, "order-%d.conf", i);
        put(name, texts[i]);
        snprintf(p, sizeof p, "%s/%s", dir, name);
        struct ss_config *cfg = NULL;
        ss_error err = ss_config_load(p, &cfg);
        assert_int_equal(err, SS_ERR_CONFIG); /* the required parts are missing: no matter */
        assert_non_null(cfg);
        assert_int_equal(ss_nodes_config(cfg, out[i]), SS_OK);
        ss_config_free(cfg);
    }
    assert_string_equal(out[0], out[1]);
}

static void test_key_never_stated(void **state)
{
    (void)state;
    char a[SS_NODES_CONFIG_MAX];
    config_of("node-1", 5000, "pol", "subject.key", "64", a);
    assert_null(strstr(a, "0011223344556677"));
    assert_null(strstr(a, "00112233"));
}

static void test_unreadable_file_named(void **state)
{
    (void)state;
    struct ss_config *cfg = node_conf("node-1", 5000, "pol", "missing.key", "64");
    char out[SS_NODES_CONFIG_MAX];
    assert_int_not_equal(ss_nodes_config(cfg, out), SS_OK);
    assert_non_null(strstr(ss_errmsg(), "missing.key"));
    ss_config_free(cfg);
    cfg = node_conf("node-1", 5000, "no-such-dir", "subject.key", "64");
    assert_int_not_equal(ss_nodes_config(cfg, out), SS_OK);
    assert_non_null(strstr(ss_errmsg(), "no-such-dir"));
    ss_config_free(cfg);
}

static void test_agree(void **state)
{
    (void)state;
    char why[400];
    struct ss_node_seen self = {"mv3", "server=1;policies=2", 3000};
    /* alone */
    assert_true(ss_nodes_agree(&self, NULL, 0, why, sizeof why));
    assert_string_equal(why, "");
    /* with others that hold the same */
    struct ss_node_seen same[] = {{"mv1", "server=1;policies=2", 1000},
                                  {"mv2", "server=1;policies=2", 2000}};
    assert_true(ss_nodes_agree(&self, same, 2, why, sizeof why));
    /* the odd one out, though it is the oldest */
    struct ss_node_seen others[] = {{"mv1", "server=1;policies=9", 5000},
                                    {"mv2", "server=1;policies=9", 6000}};
    self.since_ms = 1;
    assert_false(ss_nodes_agree(&self, others, 2, why, sizeof why));
    assert_string_equal(why, "differs from nodes mv1, mv2 in: policies");
    /* one of the majority sees the odd one and agrees all the same */
    struct ss_node_seen odd[] = {{"mv2", "server=1;policies=9", 6000},
                                 {"mv3", "server=1;policies=2", 1}};
    assert_true(ss_nodes_agree(&others[0], odd, 2, why, sizeof why));
    /* a tie: what was held first stands */
    struct ss_node_seen older[] = {{"mv1", "server=1;policies=9", 500}};
    self.since_ms = 3000;
    assert_false(ss_nodes_agree(&self, older, 1, why, sizeof why));
    assert_string_equal(why, "differs from node mv1 in: policies");
    struct ss_node_seen newer[] = {{"mv1", "server=1;policies=9", 9000}};
    assert_true(ss_nodes_agree(&self, newer, 1, why, sizeof why));
    /* two against two: the one held first stands, for every node alike */
    struct ss_node_seen three[] = {{"a", "server=1;policies=7", 5},
                                   {"b", "server=1;policies=8", 2},
                                   {"c", "server=1;policies=8", 3}};
    struct ss_node_seen d = {"d", "server=1;policies=7", 4};
    assert_false(ss_nodes_agree(&d, three, 3, why, sizeof why));
    assert_string_equal(why, "differs from nodes b, c in: policies");
    struct ss_node_seen from_b[] = {{"a", "server=1;policies=7", 5},
                                    {"c", "server=1;policies=8", 3},
                                    {"d", "server=1;policies=7", 4}};
    assert_true(ss_nodes_agree(&three[1], from_b, 3, why, sizeof why));
    /* three against one */
    struct ss_node_seen e = {"e", "server=1;policies=7", 9};
    struct ss_node_seen four[] = {{"a", "server=1;policies=7", 5},
                                  {"b", "server=1;policies=8", 2},
                                  {"d", "server=1;policies=7", 4}};
    assert_true(ss_nodes_agree(&e, four, 3, why, sizeof why));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_node_own_entries_do_not_count),
        cmocka_unit_test(test_each_part_named),
        cmocka_unit_test(test_order_does_not_count),
        cmocka_unit_test(test_key_never_stated),
        cmocka_unit_test(test_unreadable_file_named),
        cmocka_unit_test(test_agree),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
