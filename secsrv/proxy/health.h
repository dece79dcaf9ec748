/*
 * health: the health endpoint (its own listen address, [health] listen).
 * GET / answers 200 {"status":"ok",...} only when every signing key can
 * sign (key loaded, fresh OCSP response), the registry in force is valid,
 * the message log is writable and timestamping is within its grace period;
 * otherwise 500 {"status":"failing","reasons":[...]}. The body also gives
 * figures an operator watches (batch sizes of the signer and the logger,
 * records waiting for a timestamp). Other methods get 405.
 *
 * metrics: the Prometheus endpoint ([metrics] listen, loopback only). GET
 * answers the text exposition format (0.0.4): the exchanges and their
 * latencies (metrics.h), the message log's queue, commit groups and commit
 * times, records not yet timestamped, each signing key's OCSP response,
 * the registry in force, and each listener's connections. Every metric is
 * documented in deploy/README.md.
 */
#ifndef SS_HEALTH_H
#define SS_HEALTH_H

#include "http.h"

void ss_health_handler(void *cls, const struct ss_http_request *req, struct ss_http_response *resp);
void ss_metrics_handler(void *cls, const struct ss_http_request *req,
                        struct ss_http_response *resp);
void ss_health_error(void *cls, const struct ss_http_request *req, ss_error err,
                     struct ss_http_response *resp);

#endif
