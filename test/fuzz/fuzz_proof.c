/*
 * Fuzz target for inclusion proofs (secsrv/msglog/merkle.c): the input goes
 * to ss_merkle_path_parse() as the text of an inclusion path, as a log
 * store or a message's X-Secsrv-Signature-Path holds it. Whatever parses:
 *
 *   - has at most SS_MERKLE_MAX_DEPTH steps, each side 'L' or 'R';
 *   - formats back (ss_merkle_path_format) to exactly the input, which is
 *     "" or steps "L|R <64 lower-case hex>" joined by single spaces;
 *   - leads, from a leaf, to the root a tree built by ss_merkle_build over
 *     leaves placed as the path says would have, step by step: following
 *     it equals hashing the same pairs by hand with ss_merkle_node.
 *
 * A refusal must be SS_ERR_PROTOCOL with a reason. No PKI is needed.
 */
#include "merkle.h"
#include "fuzz_text.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_proof: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4 * SS_MERKLE_PATH_TEXT_MAX)
        return 0;
    char *text = fuzz_text(data, size);
    if (!text)
        return 0;
    struct ss_merkle_path path;
    ss_error err = ss_merkle_path_parse(text, size, &path);
    if (err) {
        if (err != SS_ERR_PROTOCOL || !ss_errmsg()[0])
            die("a refusal with an unexpected code or no reason", ss_errmsg());
        free(text);
        return 0;
    }
    if (path.n > SS_MERKLE_MAX_DEPTH)
        die("a path longer than the deepest tree was accepted", text);
    for (size_t i = 0; i < path.n; i++)
        if (path.side[i] != 'L' && path.side[i] != 'R')
            die("a step with another side was accepted", text);
    char again[SS_MERKLE_PATH_TEXT_MAX];
    ss_merkle_path_format(&path, again);
    if (strlen(again) != size || memcmp(again, data, size) != 0)
        die("the path does not format back to its text", text);
    /* following the path is hashing its pairs */
    uint8_t leaf[32], root[32], h[32];
    ss_merkle_leaf("fuzz", 4, leaf);
    ss_merkle_follow(leaf, &path, root);
    memcpy(h, leaf, 32);
    for (size_t i = 0; i < path.n; i++) {
        uint8_t up[32];
        if (path.side[i] == 'L')
            ss_merkle_node(path.sibling[i], h, up);
        else
            ss_merkle_node(h, path.sibling[i], up);
        memcpy(h, up, 32);
    }
    if (memcmp(h, root, 32) != 0)
        die("following the path is not hashing its pairs", text);
    free(text);
    return 0;
}
