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

ss_error ss_merkle_build(const uint8_t (*leaves)[32], size_t n, uint8_t root[32],
                         struct ss_merkle_path *paths)
{
    if (n == 0 || n > SS_MERKLE_MAX_LEAVES)
        return ss_errf(SS_ERR_INTERNAL, "a hash tree needs 1 to %d leaves, not %zu",
                       SS_MERKLE_MAX_LEAVES, n);
    uint8_t(*level)[32] = malloc(n * sizeof *level);
    size_t *pos = paths ? malloc(n * sizeof *pos) : NULL; /* each leaf's index on the level */
    if (!level || (paths && !pos)) {
        free(level);
        free(pos);
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    memcpy(level, leaves, n * sizeof *level);
    for (size_t i = 0; paths && i < n; i++) {
        paths[i].n = 0;
        pos[i] = i;
    }
    size_t width = n;
    while (width > 1) {
        for (size_t i = 0; paths && i < n; i++) {
            size_t p = pos[i];
            struct ss_merkle_path *path = &paths[i];
            if ((p ^ 1) < width) { /* a sibling exists; else the node moves up alone */
                path->side[path->n] = (p & 1) ? 'L' : 'R';
                memcpy(path->sibling[path->n], level[p ^ 1], 32);
                path->n++;
            }
            pos[i] = p / 2;
        }
        size_t next = 0;
        for (size_t i = 0; i < width; i += 2, next++) {
            if (i + 1 < width)
                ss_merkle_node(level[i], level[i + 1], level[next]);
            else
                memmove(level[next], level[i], 32);
        }
        width = next;
    }
    memcpy(root, level[0], 32);
    free(level);
    free(pos);
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
