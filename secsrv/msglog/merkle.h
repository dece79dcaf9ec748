/*
 * merkle: the hash trees of batch signing and batch timestamping. A leaf
 * is SHA-256(0x00 || data), an inner node SHA-256(0x01 || left || right)
 * (the domain separation of RFC 6962); with an odd number of nodes on a
 * level the last one moves up unchanged. An inclusion path lists, from
 * the leaf up, each sibling and its side, as text: "L HEX" or "R HEX"
 * steps separated by single spaces ("" for a tree of one leaf). Anyone
 * can follow a path with `openssl dgst -sha256` (secsrv/msglog/README.md).
 */
#ifndef SS_MERKLE_H
#define SS_MERKLE_H

#include "ss_error.h"

#include <stddef.h>
#include <stdint.h>

#define SS_MERKLE_MAX_LEAVES 65536
#define SS_MERKLE_MAX_DEPTH 17 /* ceil(log2(SS_MERKLE_MAX_LEAVES)) + 1 */
#define SS_MERKLE_PATH_TEXT_MAX (SS_MERKLE_MAX_DEPTH * 67 + 1)

struct ss_merkle_path {
    size_t n;                       /* steps */
    char side[SS_MERKLE_MAX_DEPTH]; /* 'L': sibling on the left, 'R': on the right */
    uint8_t sibling[SS_MERKLE_MAX_DEPTH][32];
};

void ss_merkle_leaf(const void *data, size_t len, uint8_t out[32]);
void ss_merkle_node(const uint8_t left[32], const uint8_t right[32], uint8_t out[32]);

/*
 * The root over leaves[0..n) (leaf hashes); with paths not NULL, the
 * inclusion path of each leaf (paths has n entries). 1 <= n <= MAX.
 */
ss_error ss_merkle_build(const uint8_t (*leaves)[32], size_t n, uint8_t root[32],
                         struct ss_merkle_path *paths) SS_MUST_CHECK SS_NONNULL(1, 3);

/*
 * A tree with every level kept (fewer than 2n nodes): the inclusion path
 * of any leaf is read off it when it is needed, so that a batch of many
 * leaves never holds all its paths (half a kilobyte each) at once.
 */
struct ss_merkle_tree {
    size_t n;      /* leaves */
    size_t levels; /* level 0 holds the leaves, the last one the root */
    size_t start[SS_MERKLE_MAX_DEPTH + 1], width[SS_MERKLE_MAX_DEPTH + 1];
    uint8_t (*nodes)[32];
};

/* The tree over leaves[0..n) (leaf hashes). 1 <= n <= MAX. */
ss_error ss_merkle_tree_build(const uint8_t (*leaves)[32], size_t n,
                              struct ss_merkle_tree *out) SS_MUST_CHECK SS_NONNULL(1, 3);
/*
 * Its nodes as stored (t->nodes, level after level from the leaves up):
 * ss_merkle_tree_size bytes; ss_merkle_tree_load takes them back for a
 * tree of n leaves, refusing any other length. A loaded tree is not
 * checked: a path read off it proves nothing until followed to a root
 * that is trusted.
 */
size_t ss_merkle_tree_size(const struct ss_merkle_tree *t);
ss_error ss_merkle_tree_load(size_t n, const void *nodes, size_t len,
                             struct ss_merkle_tree *out) SS_MUST_CHECK SS_NONNULL(4);
const uint8_t *ss_merkle_tree_root(const struct ss_merkle_tree *t);
/* The inclusion path of leaf i (< t->n). */
void ss_merkle_tree_path(const struct ss_merkle_tree *t, size_t i, struct ss_merkle_path *out);
/* Its text form (ss_merkle_path_format). */
void ss_merkle_tree_path_format(const struct ss_merkle_tree *t, size_t i, char *out);
void ss_merkle_tree_free(struct ss_merkle_tree *t);

/* The root that path leads to from leaf. */
void ss_merkle_follow(const uint8_t leaf[32], const struct ss_merkle_path *path, uint8_t root[32]);

/* Text form of a path (NUL-terminated into out, SS_MERKLE_PATH_TEXT_MAX bytes). */
void ss_merkle_path_format(const struct ss_merkle_path *path, char *out);
/* Parses the text form; nothing else is accepted. */
ss_error ss_merkle_path_parse(const char *text, size_t len,
                              struct ss_merkle_path *out) SS_MUST_CHECK SS_NONNULL(3);

#endif
