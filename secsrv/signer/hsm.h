/*
 * hsm: member signing keys in a PKCS#11 token, named by a PKCS#11 URI
 * (RFC 7512) where a key file would be named:
 *
 *   pkcs11:token=secsrv;object=mikws-sh-sign;type=private
 *       ?module-path=/usr/lib/softhsm/libsofthsm2.so
 *       &pin-source=file:/etc/secsrv/token.pin
 *
 * (one line). The path attributes select the key; the query attributes
 * module-path (the token's PKCS#11 module) and pin-source (a file holding
 * the user PIN; "file:" may be left out) are RFC 7512's; where the URI has
 * none, [signer] pkcs11_module and pkcs11_pin_file stand in, which keeps
 * the configuration's lines short. The key is used
 * through OpenSSL's pkcs11 engine (Debian's libengine-pkcs11-openssl,
 * libp11): it never leaves the token. The PIN is read, handed to the
 * engine for the login and wiped from memory.
 */
#ifndef SS_HSM_H
#define SS_HSM_H

#include "ss_error.h"

#include <openssl/evp.h>
#include <stdbool.h>

/* True when name is a PKCS#11 URI rather than a file. */
bool ss_hsm_is_uri(const char *name);

/*
 * Logs in to the token and finds the private key; *out holds a key whose
 * operations run in the token. SS_ERR_CRYPTO with a reason naming what
 * failed (the URI, the module, the PIN file, the login, the key).
 */
ss_error ss_hsm_load_key(const char *uri, const char *module, const char *pin_file,
                         EVP_PKEY **out) SS_MUST_CHECK;

#endif
