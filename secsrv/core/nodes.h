/*
 * nodes: what the nodes of one server must hold alike. Nodes behind one
 * load balancer are one server to their peers and clients, so they must
 * share its identity, keys, trust anchor, policies and settings; a node
 * that differs would sign, decide or log otherwise than the others. Each
 * node states digests of those parts (never the keys themselves) in the
 * shared store; the one that differs from what the nodes hold says so in
 * its health check (so the load balancer keeps it out) and in secsrv -n.
 */
#ifndef SS_NODES_H
#define SS_NODES_H

#include "config.h"
#include "ss_error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_NODES_CONFIG_MAX 512

/*
 * What this node holds, as "PART=DIGEST" items joined by ';' (a digest is
 * the first 16 bytes of SHA-256 in hex; of the subject key only a keyed
 * hash of a fixed text): server (instance, owner, code), tls (the
 * certificate file), signing (each signing member and certificate file),
 * subject, anchor, policies (each policy file's name and content) and
 * settings (the configuration's entries but for what is a node's own: its
 * name, state_dir, user, listen addresses, log store and level, and the
 * paths whose content an item above covers).
 */
ss_error ss_nodes_config(const struct ss_config *cfg, char out[SS_NODES_CONFIG_MAX]) SS_MUST_CHECK;

/* The names of the parts in which a and b differ, as "policies, signing certificates". */
void ss_nodes_diff(const char *a, const char *b, char *out, size_t size);

/* One node as the shared store knows it. */
struct ss_node_seen {
    const char *node;
    const char *config;
    int64_t since_ms; /* since when it holds config */
};

/*
 * Whether self holds what the nodes hold: the configuration the most of
 * self and others hold (on a tie, the one held longest). When it does not,
 * why says from which nodes self differs and in what. others does not
 * include self.
 */
bool ss_nodes_agree(const struct ss_node_seen *self, const struct ss_node_seen *others, size_t n,
                    char *why, size_t size);

/* How lately a node must have said what it holds to count (seconds); a node says it every
 * second or two while it runs. */
#define SS_NODES_FRESH 10

struct ss_store;

/*
 * Compares config (what node holds) with what the other nodes the store saw
 * in the last fresh_s seconds hold (ss_nodes_agree); *agrees and why as
 * there. Fails only when the store cannot be read.
 */
ss_error ss_nodes_check(struct ss_store *store, const char *node, const char *config,
                        unsigned fresh_s, bool *agrees, char *why, size_t size) SS_MUST_CHECK;

#endif
