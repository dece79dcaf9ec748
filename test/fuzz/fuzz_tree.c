/*
 * Fuzz target for the stored trees of timestamp batches
 * (secsrv/msglog/merkle.c): a log keeps each batch's tree as its nodes,
 * level after level, and a record's inclusion path is read off it. The
 * input's first two bytes give the leaves (little-endian, plus one), the
 * rest is the nodes as a store would hand them back. Then:
 *
 *   - ss_merkle_tree_load() accepts exactly the length this target counts
 *     on its own (each level ceil(width / 2) wide, 32 bytes a node), and
 *     refuses any other with SS_ERR_PROTOCOL;
 *   - a loaded tree's paths (of up to 8 leaves, the first and last among
 *     them) take, on each level, the sibling this target finds by hand at
 *     its place in the input, with the side the leaf's place says, and
 *     their text parses back to the same steps.
 *
 * No PKI is needed.
 */
#include "merkle.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
    fprintf(stderr, "fuzz_tree: %s\n", what);
    abort();
}

/* What the path of leaf i must be, from the nodes as given. */
static void expected_path(const uint8_t *nodes, size_t n, size_t i, struct ss_merkle_path *out)
{
    out->n = 0;
    size_t start = 0;
    for (size_t width = n, p = i; width > 1; start += width, width = (width + 1) / 2, p /= 2) {
        if ((p ^ 1) < width) {
            out->side[out->n] = (p & 1) ? 'L' : 'R';
            memcpy(out->sibling[out->n], nodes + (start + (p ^ 1)) * 32, 32);
            out->n++;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t n = (size_t)(data[0] | data[1] << 8) + 1;
    const uint8_t *nodes = data + 2;
    size_t len = size - 2;
    size_t total = 0;
    for (size_t width = n;; width = (width + 1) / 2) {
        total += width;
        if (width == 1)
            break;
    }
    struct ss_merkle_tree t;
    ss_error err = ss_merkle_tree_load(n, nodes, len, &t);
    if (len != total * 32) {
        if (err != SS_ERR_PROTOCOL || t.nodes)
            die("a tree of another length was not refused as malformed");
        return 0;
    }
    if (err)
        die("a tree of the right length was refused");
    if (t.n != n || ss_merkle_tree_size(&t) != len)
        die("the loaded tree has another size");
    size_t some = n < 8 ? n : 8;
    for (size_t k = 0; k < some; k++) {
        size_t i = some > 1 ? k * (n - 1) / (some - 1) : 0;
        struct ss_merkle_path got, want, back;
        ss_merkle_tree_path(&t, i, &got);
        expected_path(nodes, n, i, &want);
        if (got.n != want.n || memcmp(got.side, want.side, want.n) != 0 ||
            memcmp(got.sibling, want.sibling, want.n * 32) != 0)
            die("a path does not take the siblings at their places");
        char text[SS_MERKLE_PATH_TEXT_MAX];
        ss_merkle_tree_path_format(&t, i, text);
        if (ss_merkle_path_parse(text, strlen(text), &back) != SS_OK || back.n != got.n ||
            memcmp(back.sibling, got.sibling, got.n * 32) != 0)
            die("a path's text does not parse back to it");
    }
    ss_merkle_tree_free(&t);
    return 0;
}
