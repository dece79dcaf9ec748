/*
 * Unit tests of the hash trees (secsrv/msglog/merkle.c): leaf and node
 * hashing with their domain separation, roots and inclusion paths for every
 * tree size up to 70 leaves checked against an independent recursive
 * construction, the text form of paths, and refusal of malformed paths.
 */
#include "merkle.h"

#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void sha256(const uint8_t *d, size_t n, uint8_t out[32])
{
    unsigned int len = 32;
    assert_int_equal(EVP_Digest(d, n, out, &len, EVP_sha256(), NULL), 1);
}

static void test_leaf_and_node(void **state)
{
    (void)state;
    uint8_t buf[65], want[32], got[32];
    buf[0] = 0x00;
    memcpy(buf + 1, "abc", 3);
    sha256(buf, 4, want);
    ss_merkle_leaf("abc", 3, got);
    assert_memory_equal(got, want, 32);
    uint8_t l[32], r[32];
    memset(l, 0x11, 32);
    memset(r, 0x22, 32);
    buf[0] = 0x01;
    memcpy(buf + 1, l, 32);
    memcpy(buf + 33, r, 32);
    sha256(buf, 65, want);
    ss_merkle_node(l, r, got);
    assert_memory_equal(got, want, 32);
    /* a leaf never equals a node over the same bytes */
    ss_merkle_leaf(buf + 1, 64, got);
    assert_memory_not_equal(got, want, 32);
}

/* The root of leaves[lo..hi) the obvious way: pair up level by level. */
static void reference_root(uint8_t (*leaves)[32], size_t n, uint8_t root[32])
{
    uint8_t(*lvl)[32] = malloc(n * 32);
    assert_non_null(lvl);
    memcpy(lvl, leaves, n * 32);
    while (n > 1) {
        size_t m = 0;
        for (size_t i = 0; i < n; i += 2)
            if (i + 1 < n)
                ss_merkle_node(lvl[i], lvl[i + 1], lvl[m++]);
            else
                memcpy(lvl[m++], lvl[i], 32);
        n = m;
    }
    memcpy(root, lvl[0], 32);
    free(lvl);
}

static void test_every_size(void **state)
{
    (void)state;
    for (size_t n = 1; n <= 70; n++) {
        uint8_t(*leaves)[32] = malloc(n * 32);
        struct ss_merkle_path *paths = calloc(n, sizeof *paths);
        assert_non_null(leaves);
        assert_non_null(paths);
        for (size_t i = 0; i < n; i++) {
            char text[16];
            int k = snprintf(text, sizeof text, "m%zu", i);
            ss_merkle_leaf(text, (size_t)k, leaves[i]);
        }
        uint8_t root[32], want[32];
        assert_int_equal(ss_merkle_build((const uint8_t(*)[32])leaves, n, root, paths), SS_OK);
        reference_root(leaves, n, want);
        assert_memory_equal(root, want, 32);
        /* the root alone, made in place, is the same */
        uint8_t alone[32];
        assert_int_equal(ss_merkle_build((const uint8_t(*)[32])leaves, n, alone, NULL), SS_OK);
        assert_memory_equal(alone, want, 32);
        for (size_t i = 0; i < n; i++) {
            uint8_t got[32];
            ss_merkle_follow(leaves[i], &paths[i], got);
            assert_memory_equal(got, root, 32);
            /* the text form reads back to the same path */
            char text[SS_MERKLE_PATH_TEXT_MAX];
            ss_merkle_path_format(&paths[i], text);
            struct ss_merkle_path back;
            assert_int_equal(ss_merkle_path_parse(text, strlen(text), &back), SS_OK);
            ss_merkle_follow(leaves[i], &back, got);
            assert_memory_equal(got, root, 32);
            /* another leaf does not lead to the root along this path */
            if (n > 1) {
                ss_merkle_follow(leaves[(i + 1) % n], &paths[i], got);
                assert_memory_not_equal(got, root, 32);
            }
        }
        if (n == 1)
            assert_int_equal(paths[0].n, 0);
        free(leaves);
        free(paths);
    }
}

/* The largest tree: every level fits, and each path leads to the root. */
static void test_largest_tree(void **state)
{
    (void)state;
    size_t n = SS_MERKLE_MAX_LEAVES;
    uint8_t(*leaves)[32] = malloc(n * 32);
    assert_non_null(leaves);
    for (size_t i = 0; i < n; i++) {
        char text[16];
        int k = snprintf(text, sizeof text, "m%zu", i);
        ss_merkle_leaf(text, (size_t)k, leaves[i]);
    }
    struct ss_merkle_tree tree;
    assert_int_equal(ss_merkle_tree_build((const uint8_t(*)[32])leaves, n, &tree), SS_OK);
    assert_int_equal(tree.levels, SS_MERKLE_MAX_DEPTH);
    uint8_t want[32];
    reference_root(leaves, n, want);
    assert_memory_equal(ss_merkle_tree_root(&tree), want, 32);
    static const size_t some[] = {
        0, 1, 2, 12345, SS_MERKLE_MAX_LEAVES - 2, SS_MERKLE_MAX_LEAVES - 1};
    for (size_t k = 0; k < sizeof some / sizeof some[0]; k++) {
        struct ss_merkle_path path;
        ss_merkle_tree_path(&tree, some[k], &path);
        assert_int_equal(path.n, SS_MERKLE_MAX_DEPTH - 1);
        uint8_t got[32];
        ss_merkle_follow(leaves[some[k]], &path, got);
        assert_memory_equal(got, want, 32);
    }
    /* its nodes as a store keeps them load back into the same tree; any other length is
     * refused */
    struct ss_merkle_tree back;
    size_t size = ss_merkle_tree_size(&tree);
    assert_int_equal(size, (2 * n - 1) * 32);
    assert_int_equal(ss_merkle_tree_load(n, tree.nodes, size, &back), SS_OK);
    assert_int_equal(back.levels, tree.levels);
    assert_memory_equal(back.nodes, tree.nodes, size);
    char a[SS_MERKLE_PATH_TEXT_MAX], b[SS_MERKLE_PATH_TEXT_MAX];
    ss_merkle_tree_path_format(&tree, 12345, a);
    ss_merkle_tree_path_format(&back, 12345, b);
    assert_string_equal(a, b);
    ss_merkle_tree_free(&back);
    assert_int_not_equal(ss_merkle_tree_load(n, tree.nodes, size - 32, &back), SS_OK);
    assert_null(back.nodes);
    assert_int_not_equal(ss_merkle_tree_load(n - 1, tree.nodes, size, &back), SS_OK);
    assert_int_not_equal(ss_merkle_tree_load(0, tree.nodes, 0, &back), SS_OK);
    ss_merkle_tree_free(&tree);
    /* one leaf more than a tree may have */
    assert_int_not_equal(ss_merkle_tree_build((const uint8_t(*)[32])leaves, n + 1, &tree), SS_OK);
    free(leaves);
}

static void test_bad_paths(void **state)
{
    (void)state;
    struct ss_merkle_path p;
    char hex[65];
    memset(hex, 'a', 64);
    hex[64] = '\0';
    char text[300];
    snprintf(text, sizeof text, "L %s", hex);
    assert_int_equal(ss_merkle_path_parse(text, strlen(text), &p), SS_OK);
    assert_int_equal(p.n, 1);
    assert_int_equal(p.side[0], 'L');
    assert_int_equal(ss_merkle_path_parse("", 0, &p), SS_OK);
    assert_int_equal(p.n, 0);
    /* each: prefix, separator, suffix around one or two hashes */
    const char *bad[][4] = {{"X", "", "", ""},    {"l ", "", "", ""},  {"L  ", "", "", ""},
                            {"L ", "", "", " "},  {" L ", "", "", ""}, {"L ", "  R ", "", ""},
                            {"L ", ",R ", "", ""}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (strcmp(bad[i][0], "X") == 0)
            snprintf(text, sizeof text, "X");
        else if (bad[i][1][0])
            snprintf(text, sizeof text, "%s%s%s%s", bad[i][0], hex, bad[i][1], hex);
        else
            snprintf(text, sizeof text, "%s%s%s", bad[i][0], hex, bad[i][3]);
        assert_int_equal(ss_merkle_path_parse(text, strlen(text), &p), SS_ERR_PROTOCOL);
    }
    snprintf(text, sizeof text, "L %s", hex);
    text[5] = 'A'; /* upper case */
    assert_int_equal(ss_merkle_path_parse(text, strlen(text), &p), SS_ERR_PROTOCOL);
    text[5] = 'g';
    assert_int_equal(ss_merkle_path_parse(text, strlen(text), &p), SS_ERR_PROTOCOL);
    /* too many steps */
    char longer[SS_MERKLE_PATH_TEXT_MAX + 100] = "";
    size_t o = 0;
    for (int i = 0; i <= SS_MERKLE_MAX_DEPTH; i++)
        o += (size_t)snprintf(longer + o, sizeof longer - o, "%sR %s", i ? " " : "", hex);
    assert_int_equal(ss_merkle_path_parse(longer, o, &p), SS_ERR_PROTOCOL);
    /* no tree without leaves */
    uint8_t root[32];
    uint8_t one[1][32] = {{0}};
    assert_int_not_equal(ss_merkle_build((const uint8_t(*)[32])one, 0, root, NULL), SS_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_leaf_and_node),
        cmocka_unit_test(test_every_size),
        cmocka_unit_test(test_largest_tree),
        cmocka_unit_test(test_bad_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
