/*
 * Fuzz target for the X-Road SOAP reader (secsrv/protocol/soap.c): the input
 * goes to ss_soap_parse() as a request and as a response, without a charset
 * parameter and with one its first byte picks (ISO 8859-1, windows-1252,
 * US-ASCII, UTF-8, UTF-16, a name that is none). Whatever it accepts must
 * hold what the reader promises:
 *
 *   - a request has client, service, id and protocolVersion 4.x, every
 *     identifier part passes ss_id_part_valid, and the body element is
 *     named as the service code;
 *   - every text field is NUL-terminated inside its buffer;
 *   - the offsets lie inside the input, in its own bytes whatever its
 *     character set: the Header's end tag starts with "</", a requestHash
 *     element with "<" and ends with ">" before it;
 *   - with a requestHash put in, the response reads again, carries exactly
 *     that hash, and echoes the same header fields (ss_soap_echoed).
 *
 * A refusal must be SS_ERR_PROTOCOL with a reason (or SS_ERR_NOMEM). And a
 * Fault written by ss_soap_fault() from any bytes reads back as a Fault.
 * No PKI is needed; corpus/soap/ holds the protocol's example messages.
 */
#include "soap.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_soap: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static void check_id(const struct ss_client_id *id, bool subsystem_optional)
{
    const char *parts[] = {id->instance, id->member_class, id->member_code};
    for (size_t i = 0; i < 3; i++)
        if (!ss_id_part_valid(parts[i], strlen(parts[i]), SS_ID_PART_MAX))
            die("an identifier part that is not one was accepted", parts[i]);
    if (id->subsystem[0] && !ss_id_part_valid(id->subsystem, strlen(id->subsystem), SS_ID_PART_MAX))
        die("a subsystem code that is not one was accepted", id->subsystem);
    (void)subsystem_optional;
}

static void check(const uint8_t *data, size_t size, const char *charset, bool response)
{
    struct ss_soap_message m;
    ss_error err = ss_soap_parse(data, size, charset, response, &m);
    if (err) {
        if ((err != SS_ERR_PROTOCOL && err != SS_ERR_NOMEM) || !ss_errmsg()[0])
            die("a refusal with an unexpected code or no reason", ss_errmsg());
        return;
    }
    if (!response) {
        if (!m.has_client || !m.has_service || !m.id[0] || strncmp(m.protocol_version, "4.", 2) != 0)
            die("a request without its required fields was accepted", NULL);
        check_id(&m.client, true);
        check_id(&m.service.provider, true);
        if (strcmp(m.body_name, m.service.service_code) != 0)
            die("a body element not named as the service code was accepted", m.body_name);
    }
    if (m.header_end) {
        if (m.header_end + 2 > size || memcmp(data + m.header_end, "</", 2) != 0)
            die("the Header's end is not where the offset says", NULL);
        if (m.hash_end) {
            if (m.hash_start >= m.hash_end || m.hash_end > m.header_end ||
                data[m.hash_start] != '<' || data[m.hash_end - 1] != '>')
                die("the requestHash is not where the offsets say", NULL);
        }
        if (response) {
            uint8_t *out = NULL;
            size_t out_len = 0;
            char hash[128];
            ss_soap_request_hash(data, size, hash);
            if (ss_soap_with_request_hash(data, size, &m, hash, &out, &out_len) != SS_OK)
                die("a response with a Header did not take a requestHash", ss_errmsg());
            struct ss_soap_message again;
            if (ss_soap_parse(out, out_len, charset, true, &again) != SS_OK)
                die("the response with its requestHash does not read again", ss_errmsg());
            if (strcmp(again.request_hash, hash) != 0)
                die("the response carries another requestHash than the one put in", NULL);
            if (ss_soap_echoed(&m, &again) != SS_OK)
                die("putting the requestHash in changed a header field", ss_errmsg());
            free(out);
        }
    }
}

/* A Fault made of any bytes (split at the first NUL: code, then text) reads as a Fault. */
static void check_fault(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 2);
    if (!copy)
        return;
    memcpy(copy, data, size);
    copy[size] = copy[size + 1] = '\0';
    const char *code = copy, *text = copy + strlen(copy) + 1;
    char *fault = NULL;
    size_t len = 0;
    if (ss_soap_fault(code, text, "detail-id", &fault, &len) != SS_OK)
        die("a fault could not be written", ss_errmsg());
    struct ss_soap_message m;
    if (ss_soap_parse((const uint8_t *)fault, len, NULL, true, &m) != SS_OK || !m.fault)
        die("a fault secsrv wrote does not read as a Fault", ss_errmsg());
    free(fault);
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 20)
        return 0;
    static const char *const charsets[] = {"iso-8859-1", "windows-1252", "US-ASCII",
                                           "utf-8",      "utf-16",       "x-none"};
    const char *charset = size ? charsets[data[0] % 6] : NULL;
    check(data, size, NULL, false);
    check(data, size, NULL, true);
    check(data, size, charset, false);
    check(data, size, charset, true);
    check_fault(data, size);
    return 0;
}
