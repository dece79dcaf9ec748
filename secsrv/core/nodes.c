#include "nodes.h"
#include "policy.h"
#include "store.h"
#include "ss_xml.h"
#include "subject.h"

#include <sodium.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NODES_FILE_MAX (16u * 1024 * 1024)
#define NODES_DIGEST_HEX 32 /* 16 bytes */

/* What the items of ss_nodes_config are called in messages. */
static const struct {
    const char *item, *name;
} parts[] = {
    {"server", "server identity"},
    {"tls", "TLS certificate"},
    {"signing", "signing certificates"},
    {"subject", "subject key"},
    {"anchor", "registry anchor"},
    {"policies", "policies"},
    {"settings", "settings"},
};

/* Configuration entries that are a node's own, or whose file content another item covers. */
static bool node_own(const char *section, const char *key)
{
    static const char *const own[][2] = {{"server", "node"},
                                         {"server", "state_dir"},
                                         {"server", "user"},
                                         {"tls", "certificate"},
                                         {"tls", "key"},
                                         {"registry", "anchor"},
                                         {"log", "store"},
                                         {"log", "level"},
                                         {"log", "subject_key"},
                                         {"log", "dpo_public_key"},
                                         {"signer", "key"},
                                         {"signer", "pkcs11_module"},
                                         {"signer", "pkcs11_pin_file"},
                                         {"client-proxy", "listen"},
                                         {"client-proxy", "tls_listen"},
                                         {"client-proxy", "tls_key"},
                                         {"server-proxy", "listen"},
                                         {"policies", "dir"},
                                         {"limits", "http_threads"},
                                         {"limits", "workers"},
                                         {"limits", "worker_threads"}};
    if (strcmp(section, "health") == 0 || strcmp(section, "metrics") == 0)
        return true;
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++)
        if (strcmp(section, own[i][0]) == 0 && strcmp(key, own[i][1]) == 0)
            return true;
    return false;
}

/* Adds a text and its end to a digest, so that "ab","c" and "a","bc" differ. */
static void add_text(crypto_hash_sha256_state *h, const char *s)
{
    crypto_hash_sha256_update(h, (const unsigned char *)(s ? s : ""), strlen(s ? s : "") + 1);
}

/* Adds a file's length and content; a file that cannot be read is an error naming it. */
static ss_error add_file(crypto_hash_sha256_state *h, const char *path)
{
    uint8_t *data = NULL;
    size_t len = 0;
    if (!path || !path[0]) {
        add_text(h, "");
        return SS_OK;
    }
    ss_error err = ss_file_read(path, NODES_FILE_MAX, &data, &len);
    if (err)
        return err;
    char n[24];
    snprintf(n, sizeof n, "%zu", len);
    add_text(h, n);
    crypto_hash_sha256_update(h, data, len);
    free(data);
    return SS_OK;
}

/* Entries by section, key and value. */
static int entry_cmp(const void *a, const void *b)
{
    const struct ss_config_entry *x = *(const struct ss_config_entry *const *)a;
    const struct ss_config_entry *y = *(const struct ss_config_entry *const *)b;
    int c = strcmp(x->section, y->section);
    if (!c)
        c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->value, y->value);
}

/* Appends "item=HEX" (the first 16 bytes of the digest) to out. */
static void put_item(char *out, const char *item, const uint8_t digest[32])
{
    char hex[NODES_DIGEST_HEX + 1];
    sodium_bin2hex(hex, sizeof hex, digest, NODES_DIGEST_HEX / 2);
    size_t used = strlen(out);
    snprintf(out + used, SS_NODES_CONFIG_MAX - used, "%s%s=%s", used ? ";" : "", item, hex);
}

static void put_state(char *out, const char *item, crypto_hash_sha256_state *h)
{
    uint8_t digest[32];
    crypto_hash_sha256_final(h, digest);
    put_item(out, item, digest);
}

ss_error ss_nodes_config(const struct ss_config *cfg, char out[SS_NODES_CONFIG_MAX])
{
    crypto_hash_sha256_state h;
    ss_error err = SS_OK;
    out[0] = '\0';

    char owner[SS_ID_STR_MAX] = "";
    (void)ss_client_id_format(&cfg->owner, owner, sizeof owner);
    crypto_hash_sha256_init(&h);
    add_text(&h, cfg->instance);
    add_text(&h, owner);
    add_text(&h, cfg->server_code);
    put_state(out, "server", &h);

    crypto_hash_sha256_init(&h);
    if ((err = add_file(&h, cfg->auth_cert)))
        return err;
    put_state(out, "tls", &h);

    crypto_hash_sha256_init(&h);
    for (size_t i = 0; i < cfg->n_keys; i++) {
        char member[SS_ID_STR_MAX] = "";
        (void)ss_client_id_format(&cfg->keys[i].member, member, sizeof member);
        add_text(&h, member);
        if ((err = add_file(&h, cfg->keys[i].cert_file)))
            return err;
    }
    put_state(out, "signing", &h);

    /* the key stays here: the item is a hash keyed with it, which tells nothing of it */
    uint8_t key[32], check[32];
    if (cfg->subject_key) {
        if ((err = ss_subject_key_read(cfg->subject_key, key)))
            return err;
        ss_subject_hash(key, "secsrv: the nodes' subject key", check);
        sodium_memzero(key, sizeof key);
    } else {
        memset(check, 0, sizeof check);
    }
    put_item(out, "subject", check);

    crypto_hash_sha256_init(&h);
    if ((err = add_file(&h, cfg->registry_anchor)))
        return err;
    put_state(out, "anchor", &h);

    crypto_hash_sha256_init(&h);
    if (cfg->policy_dir) {
        char **names = NULL;
        size_t n = 0;
        if ((err = ss_policy_dir_list(cfg->policy_dir, &names, &n)))
            return err;
        for (size_t i = 0; i < n && !err; i++) {
            const char *base = strrchr(names[i], '/');
            add_text(&h, base ? base + 1 : names[i]);
            err = add_file(&h, names[i]);
        }
        ss_policy_names_free(names, n);
        if (err)
            return err;
    }
    put_state(out, "policies", &h);

    /* in one order whatever the order of the lines: two nodes with the same settings written
     * in another order hold the same */
    const struct ss_config_entry **sorted = malloc((cfg->n_entries ? cfg->n_entries : 1) *
                                                   sizeof *sorted);
    if (!sorted)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    size_t n_sorted = 0;
    for (size_t i = 0; i < cfg->n_entries; i++)
        if (!node_own(cfg->entries[i].section, cfg->entries[i].key))
            sorted[n_sorted++] = &cfg->entries[i];
    qsort(sorted, n_sorted, sizeof *sorted, entry_cmp);
    crypto_hash_sha256_init(&h);
    for (size_t i = 0; i < n_sorted; i++) {
        add_text(&h, sorted[i]->section);
        add_text(&h, sorted[i]->key);
        add_text(&h, sorted[i]->value);
    }
    free(sorted);
    if (cfg->dpo_public_key && (err = add_file(&h, cfg->dpo_public_key)))
        return err;
    put_state(out, "settings", &h);
    return SS_OK;
}

/* The digest of item in config (NULL when absent), its length in *len. */
static const char *item_value(const char *config, const char *item, size_t *len)
{
    size_t il = strlen(item);
    for (const char *p = config; p && *p;) {
        const char *end = strchr(p, ';');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n > il && strncmp(p, item, il) == 0 && p[il] == '=') {
            *len = n - il - 1;
            return p + il + 1;
        }
        p = end ? end + 1 : NULL;
    }
    *len = 0;
    return NULL;
}

void ss_nodes_diff(const char *a, const char *b, char *out, size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        size_t la, lb;
        const char *va = item_value(a, parts[i].item, &la);
        const char *vb = item_value(b, parts[i].item, &lb);
        if ((!va && !vb) || (va && vb && la == lb && memcmp(va, vb, la) == 0))
            continue;
        if (used < size)
            used +=
                (size_t)snprintf(out + used, size - used, "%s%s", used ? ", " : "", parts[i].name);
    }
    if (!out[0] && strcmp(a, b) != 0)
        snprintf(out, size, "what it states (another version of secsrv?)");
}

bool ss_nodes_agree(const struct ss_node_seen *self, const struct ss_node_seen *others, size_t n,
                    char *why, size_t size)
{
    /* the reference: held by the most nodes (self among them, last); on a tie, the one held
     * longest */
#define NODE(i) ((i) < n ? &others[i] : self)
    const struct ss_node_seen *best = self;
    size_t best_votes = 0;
    int64_t best_since = INT64_MAX;
    for (size_t i = 0; i <= n; i++) {
        size_t votes = 0;
        int64_t since = INT64_MAX;
        for (size_t k = 0; k <= n; k++)
            if (strcmp(NODE(k)->config, NODE(i)->config) == 0) {
                votes++;
                if (NODE(k)->since_ms < since)
                    since = NODE(k)->since_ms;
            }
        if (votes > best_votes || (votes == best_votes && since < best_since)) {
            best = NODE(i);
            best_votes = votes;
            best_since = since;
        }
    }
#undef NODE
    if (strcmp(best->config, self->config) == 0) {
        if (size)
            why[0] = '\0';
        return true;
    }
    char parts_differing[200];
    ss_nodes_diff(self->config, best->config, parts_differing, sizeof parts_differing);
    size_t holders = 0;
    for (size_t k = 0; k < n; k++)
        holders += strcmp(others[k].config, best->config) == 0;
    size_t used = (size_t)snprintf(why, size, "differs from node%s", holders > 1 ? "s" : "");
    size_t named = 0;
    for (size_t k = 0; k < n && used < size; k++)
        if (strcmp(others[k].config, best->config) == 0)
            used += (size_t)snprintf(why + used, size - used, "%s %s", named++ ? "," : "",
                                     others[k].node);
    if (used < size)
        snprintf(why + used, size - used, " in: %s", parts_differing);
    return false;
}

/* What a node check gathers: the other nodes seen lately. */
struct seen_nodes {
    struct ss_node_seen nodes[64];
    char names[64][256];
    char configs[64][SS_NODES_CONFIG_MAX];
    size_t n;
    int64_t self_since;
    const char *self, *self_config;
};

static void collect_node(void *arg, const char *node, const char *config, int64_t since_ms,
                         int64_t age_ms)
{
    (void)age_ms;
    struct seen_nodes *sn = arg;
    if (strcmp(node, sn->self) == 0) {
        /* its row holds what it held since then: that time counts only for the same config
         * (a check of a changed configuration, before a reload, has not held it at all) */
        if (strcmp(config, sn->self_config) == 0)
            sn->self_since = since_ms;
        return;
    }
    if (sn->n == sizeof sn->nodes / sizeof sn->nodes[0])
        return;
    size_t i = sn->n++;
    snprintf(sn->names[i], sizeof sn->names[i], "%s", node);
    snprintf(sn->configs[i], sizeof sn->configs[i], "%s", config);
    sn->nodes[i] = (struct ss_node_seen){sn->names[i], sn->configs[i], since_ms};
}

ss_error ss_nodes_check(struct ss_store *store, const char *node, const char *config,
                        unsigned fresh_s, bool *agrees, char *why, size_t size)
{
    *agrees = true;
    if (size)
        why[0] = '\0';
    struct seen_nodes *sn = calloc(1, sizeof *sn);
    if (!sn)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    sn->self = node;
    sn->self_config = config;
    sn->self_since = INT64_MAX; /* not seen yet: it came last */
    ss_error err = ss_store_nodes(store, fresh_s, collect_node, sn);
    if (!err) {
        struct ss_node_seen self = {node, config, sn->self_since};
        *agrees = ss_nodes_agree(&self, sn->nodes, sn->n, why, size);
    }
    free(sn);
    return err;
}
