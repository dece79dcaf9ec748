/*
 * network: the network process's main: the daemon (both proxies, the
 * health endpoint, the registry, the policies) started on the listening
 * sockets and IPC links the parent made, then the control loop: a new link
 * to a restarted signer or logger, a reload of the policies, and stopping
 * when the parent says so or goes away.
 */
#ifndef SS_NETWORK_H
#define SS_NETWORK_H

#include "config.h"
#include "daemon.h"

/* Runs the network process; takes ownership of cfg. Returns its exit status. */
int ss_network_main(struct ss_config *cfg, int ctl, const struct ss_daemon_links *links);

#endif
