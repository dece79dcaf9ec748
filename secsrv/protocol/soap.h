/*
 * soap: the X-Road message protocol 4.0 (SOAP 1.1) as an information system
 * speaks it, read from the raw bytes and never re-serialised.
 *
 * ss_soap_parse() reads an envelope with libxml2 hardened: no network, no
 * entity substitution, any document type declaration refused before its
 * declarations are read (so no entity can expand and no external entity is
 * fetched), at most SS_SOAP_MAX_DEPTH levels and SS_SOAP_MAX_ATTRIBUTES
 * attributes on an element, in UTF-8 or a character set that keeps ASCII's
 * bytes (US-ASCII, ISO 8859, windows-125x). It checks the envelope's shape
 * (Envelope, an optional Header, one Body, then only elements of other
 * namespaces), takes the X-Road
 * header fields (namespace http://x-road.eu/xsd/xroad.xsd: client, service,
 * id, userId, issue, protocolVersion, requestHash; representedParty in
 * http://x-road.eu/xsd/representation.xsd) with their identifiers
 * (http://x-road.eu/xsd/identifiers, objectType MEMBER or SUBSYSTEM for the
 * client, SERVICE for the service, the parts in the schema's order, each
 * checked against the identifier rules) and secsrv's own header fields
 * (namespace SS_SOAP_NS_SECSRV: purpose, subject), each at most once, and
 * the body's first element; other X-Road header fields (centralService
 * aside, which is refused) are not acted on and pass as they are. Then it
 * validates the document against the
 * schemas of schemas/ (soap-envelope.xsd, xroad.xsd, identifiers.xsd,
 * representation.xsd, secsrv-soap.xsd). A request must carry client, service, id and
 * protocolVersion 4.0, and its body element must be named as the service
 * code. It records where the Header ends and where a requestHash element
 * lies, as byte offsets into the input, so that the provider's server can
 * put its own requestHash in by splicing bytes.
 */
#ifndef SS_SOAP_H
#define SS_SOAP_H

#include "ss_error.h"
#include "ss_id.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_SOAP_NS_ENV "http://schemas.xmlsoap.org/soap/envelope/"
#define SS_SOAP_NS_XROAD "http://x-road.eu/xsd/xroad.xsd"
#define SS_SOAP_NS_ID "http://x-road.eu/xsd/identifiers"
#define SS_SOAP_NS_REPR "http://x-road.eu/xsd/representation.xsd"
#define SS_SOAP_NS_SECSRV "urn:secsrv:soap:1"
#define SS_SOAP_HASH_ALGORITHM "http://www.w3.org/2001/04/xmlenc#sha512"
#define SS_SOAP_MAX_DEPTH 128
#define SS_SOAP_MAX_ATTRIBUTES 64
#define SS_SOAP_FIELD_MAX 255 /* bytes of id, a party code */

struct ss_soap_message {
    bool has_client, has_service;
    struct ss_client_id client;
    struct ss_service_id service;
    char id[SS_SOAP_FIELD_MAX + 1];
    uint8_t user_id_sha256[32]; /* of userId's and issue's text, which may be any string */
    uint8_t issue_sha256[32];
    char protocol_version[16];
    bool has_security_server; /* the targeting extension (PR-TARGETSS) */
    struct ss_server_id security_server;
    bool has_represented_party;
    char party_class[SS_SOAP_FIELD_MAX + 1], party_code[SS_SOAP_FIELD_MAX + 1];
    char purpose[65];
    char subject[257];
    bool has_user_id, has_issue, has_purpose, has_subject;
    /* the body's first element */
    char body_ns[256];
    char body_name[256];
    bool fault; /* the body is a SOAP Fault */
    /* a getWsdl request's serviceCode and serviceVersion ("" if none) */
    char wsdl_code[SS_SOAP_FIELD_MAX + 1], wsdl_version[SS_SOAP_FIELD_MAX + 1];
    char fault_code[256], fault_string[1024];
    /* byte offsets into the input: where "</...Header>" starts (0: no Header) and the
     * requestHash element's [start, end) (0, 0: none) */
    size_t header_end, hash_start, hash_end;
    /* where the Envelope's and the Body's start tags begin */
    size_t env_start, body_start;
    char request_hash[128];
};

/*
 * Parses an envelope of len bytes. charset: the charset parameter of its
 * Content-Type (NULL or "": none given; then the XML declaration's encoding,
 * else UTF-8). response: the rules of a response (the body may be anything or
 * a Fault; the header fields are what the request's were, checked by
 * ss_soap_echoed). Offsets are bytes of the input, whatever its charset. SS_ERR_PROTOCOL with a reason that names
 * what was wrong.
 */
ss_error ss_soap_parse(const uint8_t *xml, size_t len, const char *charset, bool response,
                       struct ss_soap_message *out) SS_MUST_CHECK SS_NONNULL(1, 5);

/*
 * Compiles the schemas of schemas/ built into the program (once; later
 * calls return the first outcome). ss_soap_parse calls it; the daemon
 * calls it at start so that a broken build fails there.
 */
ss_error ss_soap_schema_init(void) SS_MUST_CHECK;

/* The response carries the request's X-Road header fields with the same values. */
ss_error ss_soap_echoed(const struct ss_soap_message *request,
                        const struct ss_soap_message *response) SS_MUST_CHECK;

/* Base64 of SHA-512 over the request's bytes (the requestHash value). */
void ss_soap_request_hash(const uint8_t *request, size_t len, char out[128]);

/*
 * The response with its requestHash: any requestHash it had is cut out and
 * one with hash (algorithm SS_SOAP_HASH_ALGORITHM) put at the end of its
 * Header. *out is malloc'd. SS_ERR_PROTOCOL when the response has no Header.
 */
ss_error ss_soap_with_request_hash(const uint8_t *xml, size_t len, const struct ss_soap_message *m,
                                   const char *hash, uint8_t **out, size_t *out_len) SS_MUST_CHECK;

/* A SOAP 1.1 Fault in the X-Road form (faultcode, faultstring, detail with the id); malloc'd. */
ss_error ss_soap_fault(const char *code, const char *message, const char *detail_id, char **out,
                       size_t *out_len) SS_MUST_CHECK;

#endif
