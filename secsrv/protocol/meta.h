/*
 * meta: the answers of the X-Road metaservices, as pure functions on what
 * the server knows (the registry in force, its service list, its policies)
 * so that they can be tested without a network.
 *
 *   listClients     (pr-meta section 2): the members and subsystems of the
 *                   registry, as the clientList XML element or, for
 *                   Accept: application/json, as JSON; answered by the
 *                   client proxy itself at GET /listClients.
 *   listMethods,    (pr-meta section 3, pr-mrest section 4): the services
 *   allowedMethods  of a provider, all or those the calling client may use;
 *                   SOAP services in SOAP, REST services (with their
 *                   endpoints: the methods and paths of the access policy's
 *                   rules) in JSON. Metaservices are not listed.
 *   getWsdl,        (pr-meta section 4, pr-mrest section 5): a service's
 *   getOpenAPI      description file; a WSDL's endpoint addresses are
 *                   replaced by http://example.org/xroad-endpoint.
 *
 * All of them but listClients travel between the servers like any query
 * (signed, logged, timestamped); the provider's server answers them
 * instead of a register service.
 */
#ifndef SS_META_H
#define SS_META_H

#include "registry.h"
#include "soap.h"
#include "ss_error.h"
#include "ss_id.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_META_HIDDEN_ENDPOINT "http://example.org/xroad-endpoint"

enum ss_meta_kind {
    SS_META_NONE = 0,
    SS_META_LIST_METHODS,
    SS_META_ALLOWED_METHODS,
    SS_META_GET_WSDL,    /* SOAP only */
    SS_META_GET_OPENAPI, /* REST only */
};

/* Which metaservice a service code names, in SOAP or in REST (SS_META_NONE: none). */
enum ss_meta_kind ss_meta_kind(const char *service_code, bool soap);

/* One endpoint of a REST service: a method ("*": any) and a path ("**": any). */
struct ss_meta_endpoint {
    const char *method;
    const char *path;
};

/* One service as listMethods and allowedMethods list it. */
struct ss_meta_service {
    struct ss_service_id id;
    const char *type; /* "REST", "OPENAPI" or "WSDL" */
    struct ss_meta_endpoint *endpoints;
    size_t n_endpoints;
};

/*
 * listClients: every member of the registry in instance (the registry's
 * own when NULL or ""; another gives an empty list), then its subsystems.
 * *out is malloc'd.
 */
ss_error ss_meta_clients(const struct ss_registry *reg, const char *instance, bool json, char **out,
                         size_t *len) SS_MUST_CHECK;

/* listMethods or allowedMethods (element names the response) as a SOAP body's content. */
ss_error ss_meta_methods_xml(const char *element, const struct ss_meta_service *s, size_t n,
                             char **out, size_t *len) SS_MUST_CHECK;
/* ... or as the REST metaservices' JSON ({"service":[...]}). */
ss_error ss_meta_methods_json(const struct ss_meta_service *s, size_t n, char **out,
                              size_t *len) SS_MUST_CHECK;

/*
 * A SOAP answer to request m (its bytes xml[0..len)): the request's bytes
 * up to its Body, so that every header field is echoed as it was, then a
 * Body holding content. *out is malloc'd.
 */
ss_error ss_meta_soap_answer(const uint8_t *xml, size_t len, const struct ss_soap_message *m,
                             const char *content, char **out, size_t *out_len) SS_MUST_CHECK;

/*
 * getWsdl's answer: the SOAP answer (ss_meta_soap_answer with a
 * getWsdlResponse naming the service) as the first part of a
 * multipart/related message, the WSDL as the second. *content_type gets
 * the message's Content-Type (malloc'd).
 */
ss_error ss_meta_wsdl_answer(const uint8_t *xml, size_t len, const struct ss_soap_message *m,
                             const char *wsdl, size_t wsdl_len, char **out, size_t *out_len,
                             char **content_type) SS_MUST_CHECK;

/*
 * A WSDL document with the location of every soap:address, soap12:address
 * and http:address replaced by SS_META_HIDDEN_ENDPOINT (read with libxml2
 * without network, entities or DTD). name is for errors.
 */
ss_error ss_meta_wsdl_hide(const char *name, const uint8_t *wsdl, size_t len, char **out,
                           size_t *out_len) SS_MUST_CHECK;

/*
 * The service version a WSDL document gives the operation named code: the xrd:version of the
 * first wsdl:operation of that name that has one (pr-mess: each operation of a binding names
 * its version), "" when none does. name is for errors (a document that is not well-formed).
 */
ss_error ss_meta_wsdl_version(const char *name, const char *wsdl, size_t len, const char *code,
                              char *version, size_t size) SS_MUST_CHECK;

#endif
