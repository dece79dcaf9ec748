/*
 * ss_error: the one error enum of secsrv, shared by registry/, policies/ and
 * the daemon. Codes are grouped by category; ss_errf() records a readable
 * reason (per thread) that travels with the code to the operator log or the
 * client's error body. ss_error_name() gives a stable name for each code.
 * registry/ is the bottom layer, so this module lives here.
 */
#ifndef SS_ERROR_H
#define SS_ERROR_H

#include <stddef.h>

#define SS_MUST_CHECK __attribute__((warn_unused_result))
#define SS_NONNULL(...) __attribute__((nonnull(__VA_ARGS__)))
#define SS_PRINTF(a, b) __attribute__((format(printf, a, b)))

typedef enum ss_error {
    SS_OK = 0,
    /* configuration */
    SS_ERR_CONFIG = 100,
    /* input / output */
    SS_ERR_IO = 200,
    SS_ERR_NOT_FOUND,
    SS_ERR_TOO_LARGE,
    SS_ERR_NOMEM,
    SS_ERR_NETWORK,
    /* TLS and peer trust */
    SS_ERR_TLS = 300,
    SS_ERR_PEER_UNTRUSTED,
    SS_ERR_PEER_NOT_REGISTERED,
    SS_ERR_CERT_REVOKED,
    SS_ERR_SERVICE_TLS, /* a register service over https:// failed TLS authentication */
    /* protocol (what a client sent) */
    SS_ERR_PROTOCOL = 400,
    SS_ERR_BAD_IDENTIFIER,
    SS_ERR_BAD_HEADER,
    SS_ERR_UNKNOWN_CLIENT,
    SS_ERR_UNKNOWN_SERVICE,
    SS_ERR_CLIENT_NOT_HOSTED,
    SS_ERR_LIMIT,
    SS_ERR_DUPLICATE,               /* a second request of a client with the same query id */
    SS_ERR_INVALID_SECURITY_SERVER, /* the security server a request names cannot take it */
    SS_ERR_METHOD,                  /* a method no service is called with (answered 501) */
    /* access policy */
    SS_ERR_POLICY = 500,
    SS_ERR_ACCESS_DENIED,
    SS_ERR_PURPOSE_MISSING,
    SS_ERR_PURPOSE_DENIED,
    SS_ERR_OPERATION_DENIED, /* the method or path is not allowed */
    /* crypto */
    SS_ERR_CRYPTO = 600,
    SS_ERR_BAD_SIGNATURE,
    SS_ERR_BAD_CERTIFICATE,
    SS_ERR_MISSING_SIGNATURE, /* a message without the signature it needs */
    SS_ERR_STALE_SIGNATURE,   /* signing time outside the allowed clock skew */
    SS_ERR_VALIDATION_INFO,   /* the stapled OCSP response is missing, stale or not good */
    SS_ERR_SIGNER_REVOKED,    /* the signing certificate is revoked */
    SS_ERR_SIGNING,           /* this server cannot sign now */
    /* registry */
    SS_ERR_REGISTRY = 700,
    SS_ERR_REGISTRY_SCHEMA,
    SS_ERR_REGISTRY_EXPIRED,
    SS_ERR_REGISTRY_ROLLBACK,
    SS_ERR_REGISTRY_UNAVAILABLE,
    /* backend / upstream */
    SS_ERR_UPSTREAM = 800,
    SS_ERR_UPSTREAM_TIMEOUT,
    SS_ERR_BUSY,                  /* the memory for bodies in transit is used up: later, please */
    SS_ERR_UPSTREAM_INCONSISTENT, /* an answer that does not match its request (SOAP headers) */
    /* message log */
    SS_ERR_LOGGING = 850, /* the message log cannot take a record */
    SS_ERR_TIMESTAMPING,  /* no timestamp for longer than the grace period */
    /* internal */
    SS_ERR_INTERNAL = 900,
} ss_error;

/* Records a reason for code (formatted like printf) and returns code. */
ss_error ss_errf(ss_error code, const char *fmt, ...) SS_PRINTF(2, 3);
/* The reason recorded last on this thread ("" if none). */
const char *ss_errmsg(void);
/* Clears the recorded reason. */
void ss_errclear(void);

/* The size of a recorded reason, its NUL included. */
#define SS_ERRMSG_MAX 512
/*
 * Keeps this thread's reason in buf (SS_ERRMSG_MAX bytes) from now on; NULL:
 * in the thread's own again. A fiber scheduler binds each fiber's own, so
 * that a reason survives the fiber's waits (fiber.h).
 */
void ss_errmsg_bind(char *buf);
/* A stable name for code, e.g. "SS_ERR_REGISTRY_EXPIRED". */
const char *ss_error_name(ss_error code);

#endif
