#include "merkle.h"
#include "ss_hex.h"
#include "ss_sha256.h"

#include <stdlib.h>
#include <string.h>

void ss_merkle_leaf(const void *data, size_t len, uint8_t out[32])
{
    struct ss_sha256 st;
    static const uint8_t tag = 0x00;
    ss_sha256_init(&st);
    ss_sha256_update(&st, &tag, 1);
    ss_sha256_update(&st, data, len);
    ss_sha256_final(&st, out);
}

void ss_merkle_node(const uint8_t left[32], const uint8_t right[32], uint8_t out[32])
{
    uint8_t in[65];
    in[0] = 0x01;
    memcpy(in + 1, left, 32);
    memcpy(in + 33, right, 32);
    ss_sha256(in, sizeof in, out);
}

/* The level above width nodes (here may be below itself); returns its width. */
static size_t reduce(const uint8_t (*below)[32], size_t width, uint8_t (*here)[32])
{
    size_t next = 0;
    for (size_t i = 0; i < width; i += 2, next++) {
        if (i + 1 < width)
            ss_merkle_node(below[i], below[i + 1], here[next]);
        else
            memmove(here[next], below[i], 32); /* the odd one out moves up unchanged */
    }
    return next;
}

static ss_error check_leaves(size_t n)
{
    if (n == 0 || n > SS_MERKLE_MAX_LEAVES)
        return ss_errf(SS_ERR_INTERNAL, "a hash tree needs 1 to %d leaves, not %zu",
                       SS_MERKLE_MAX_LEAVES, n);
    return SS_OK;
}

/* The levels of a tree of n leaves, its nodes allocated (not yet set); *len, when given, must
 * be the nodes' size in bytes, checked before anything is allocated. */
static ss_error layout(size_t n, const size_t *len, struct ss_merkle_tree *out)
{
    memset(out, 0, sizeof *out);
    ss_error err = check_leaves(n);
    if (err)
        return err;
    size_t total = 0;
    for (size_t width = n;; width = (width + 1) / 2) {
        out->start[out->levels] = total;
        out->width[out->levels++] = width;
        total += width;
        if (width == 1)
            break;
    }
    size_t size = total * sizeof *out->nodes;
    if (len && *len != size)
        err =
            ss_errf(SS_ERR_PROTOCOL, "a tree of %zu leaves has %zu bytes, not %zu", n, size, *len);
    else if (!(out->nodes = malloc(size)))
        err = ss_errf(SS_ERR_NOMEM, "out of memory");
    if (err) {
        memset(out, 0, sizeof *out);
        return err;
    }
    out->n = n;
    return SS_OK;
}

ss_error ss_merkle_tree_build(const uint8_t (*leaves)[32], size_t n, struct ss_merkle_tree *out)
{
    ss_error err = layout(n, NULL, out);
    if (err)
        return err;
    memcpy(out->nodes, leaves, n * sizeof *out->nodes);
    for (size_t l = 1; l < out->levels; l++)
        (void)reduce((const uint8_t(*)[32])out->nodes + out->start[l - 1], out->width[l - 1],
                     out->nodes + out->start[l]);
    return SS_OK;
}

size_t ss_merkle_tree_size(const struct ss_merkle_tree *t)
{
    return (t->start[t->levels - 1] + 1) * sizeof *t->nodes;
}

ss_error ss_merkle_tree_load(size_t n, const void *nodes, size_t len, struct ss_merkle_tree *out)
{
    ss_error err = layout(n, &len, out);
    if (err)
        return err;
    memcpy(out->nodes, nodes, len);
    return SS_OK;
}

const uint8_t *ss_merkle_tree_root(const struct ss_merkle_tree *t)
{
    return t->nodes[t->start[t->levels - 1]];
}

void ss_merkle_tree_path(const struct ss_merkle_tree *t, size_t i, struct ss_merkle_path *out)
{
    out->n = 0;
    for (size_t l = 0, p = i; l + 1 < t->levels; l++, p /= 2) {
        if ((p ^ 1) < t->width[l]) { /* a sibling exists; else the node moves up alone */
            out->side[out->n] = (p & 1) ? 'L' : 'R';
            memcpy(out->sibling[out->n], t->nodes[t->start[l] + (p ^ 1)], 32);
            out->n++;
        }
    }
}

void ss_merkle_tree_path_format(const struct ss_merkle_tree *t, size_t i, char *out)
{
    struct ss_merkle_path path;
    ss_merkle_tree_path(t, i, &path);
    ss_merkle_path_format(&path, out);
}

void ss_merkle_tree_free(struct ss_merkle_tree *t)
{
    free(t->nodes);
    memset(t, 0, sizeof *t);
}

ss_error ss_merkle_build(const uint8_t (*leaves)[32], size_t n, uint8_t root[32],
                         struct ss_merkle_path *paths)
{
    ss_error err;
    if (paths) {
        struct ss_merkle_tree t;
        if ((err = ss_merkle_tree_build(leaves, n, &t)))
            return err;
        memcpy(root, ss_merkle_tree_root(&t), 32);
        for (size_t i = 0; i < n; i++)
            ss_merkle_tree_path(&t, i, &paths[i]);
        ss_merkle_tree_free(&t);
        return SS_OK;
    }
    /* the root alone: one level at a time, in place */
    if ((err = check_leaves(n)))
        return err;
    uint8_t(*level)[32] = malloc(n * sizeof *level);
    if (!level)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    memcpy(level, leaves, n * sizeof *level);
    for (size_t width = n; width > 1;)
        width = reduce((const uint8_t(*)[32])level, width, level);
    memcpy(root, level[0], 32);
    free(level);
    return SS_OK;
}

void ss_merkle_follow(const uint8_t leaf[32], const struct ss_merkle_path *path, uint8_t root[32])
{
    uint8_t h[32];
    memcpy(h, leaf, 32);
    for (size_t i = 0; i < path->n && i < SS_MERKLE_MAX_DEPTH; i++) {
        if (path->side[i] == 'L')
            ss_merkle_node(path->sibling[i], h, h);
        else
            ss_merkle_node(h, path->sibling[i], h);
    }
    memcpy(root, h, 32);
}

void ss_merkle_path_format(const struct ss_merkle_path *path, char *out)
{
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < path->n && i < SS_MERKLE_MAX_DEPTH; i++) {
        if (i)
            out[o++] = ' ';
        out[o++] = path->side[i];
        out[o++] = ' ';
        ss_hex_sha256_format(path->sibling[i], out + o);
        o += 64;
    }
    out[o] = '\0';
}

ss_error ss_merkle_path_parse(const char *text, size_t len, struct ss_merkle_path *out)
{
    memset(out, 0, sizeof *out);
    size_t i = 0;
    while (i < len) {
        if (out->n == SS_MERKLE_MAX_DEPTH)
            return ss_errf(SS_ERR_PROTOCOL, "inclusion path longer than %d steps",
                           SS_MERKLE_MAX_DEPTH);
        if (out->n > 0) {
            if (text[i] != ' ')
                return ss_errf(SS_ERR_PROTOCOL, "inclusion path: steps must be separated by "
                                                "one space");
            i++;
        }
        if (len - i < 66 || (text[i] != 'L' && text[i] != 'R') || text[i + 1] != ' ')
            return ss_errf(SS_ERR_PROTOCOL, "inclusion path: a step is 'L HEX' or 'R HEX'");
        char hex[65];
        memcpy(hex, text + i + 2, 64);
        hex[64] = '\0';
        for (size_t k = 0; k < 64; k++)
            if (ss_hex_digit(hex[k]) < 0 || (hex[k] >= 'A' && hex[k] <= 'F'))
                return ss_errf(SS_ERR_PROTOCOL, "inclusion path: a hash is 64 lower-case hex "
                                                "digits");
        out->side[out->n] = text[i];
        if (!ss_hex_sha256_parse(hex, out->sibling[out->n]))
            return ss_errf(SS_ERR_PROTOCOL, "inclusion path: bad hash");
        out->n++;
        i += 66;
    }
    return SS_OK;
}
