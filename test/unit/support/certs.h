/*
 * What the unit tests share for making certificates.
 */
#ifndef SS_TEST_CERTS_H
#define SS_TEST_CERTS_H

#include <openssl/x509.h>

/* Adds the extension nid with value (openssl's config syntax) to x, issued by issuer (x itself
 * when self-signed); fails the test when it cannot. */
void ss_test_add_ext(X509 *x, X509 *issuer, int nid, const char *value);

#endif
