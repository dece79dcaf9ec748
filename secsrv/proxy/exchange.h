/*
 * exchange: the path of one query through a security server.
 *
 * Client proxy (consumer side): authenticate the IS's client, find the
 * provider's server in the registry, forward over mutually authenticated
 * TLS, check the response is bound to the request (request hash), answer.
 * Server proxy (provider side): authenticate the peer server against the
 * registry, check the service is ours, evaluate the access policy, forward
 * to the register service, answer with the X-Road headers.
 *
 * Every exchange on either side passes forward() in exchange.c: it holds
 * the outbound message exactly as sent and the response exactly as
 * received, which is where signing and the message log attach.
 * Errors raised here answer in the X-Road REST form: status, JSON body
 * {"type","message","detail"}, header X-Road-Error; the detail id also
 * appears in the operator log.
 */
#ifndef SS_EXCHANGE_H
#define SS_EXCHANGE_H

#include "http.h"

/* HTTP handlers; cls is the struct ss_daemon. */
void ss_exchange_client_proxy(void *cls, const struct ss_http_request *req,
                              struct ss_http_response *resp);
void ss_exchange_server_proxy(void *cls, const struct ss_http_request *req,
                              struct ss_http_response *resp);
/* Server proxy: the peer must be a registered server before its request body is read. */
ss_error ss_exchange_server_proxy_gate(void *cls, const struct ss_http_request *req);
void ss_exchange_client_proxy_error(void *cls, const struct ss_http_request *req, ss_error err,
                                    struct ss_http_response *resp);
void ss_exchange_server_proxy_error(void *cls, const struct ss_http_request *req, ss_error err,
                                    struct ss_http_response *resp);

/* The status and X-Road error type for err, raised on the client or server proxy. */
unsigned ss_exchange_error_status(ss_error err, bool server_proxy, char *type, size_t size);

#endif
