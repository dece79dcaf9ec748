#include "ss_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char thread_msg[SS_ERRMSG_MAX];
static _Thread_local char *bound;

/* Where this thread's reason is kept now. */
static char *slot(void)
{
    return bound ? bound : thread_msg;
}

void ss_errmsg_bind(char *buf)
{
    bound = buf;
}

ss_error ss_errf(ss_error code, const char *fmt, ...)
{
    /* format aside first: the arguments may include ss_errmsg() itself */
    char msg[SS_ERRMSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(slot(), msg, sizeof msg);
    return code;
}

const char *ss_errmsg(void)
{
    return slot();
}

void ss_errclear(void)
{
    slot()[0] = '\0';
}

const char *ss_error_name(ss_error code)
{
    switch (code) {
#define N(c)                                                                                       \
    case c:                                                                                        \
        return #c
        N(SS_OK);
        N(SS_ERR_CONFIG);
        N(SS_ERR_IO);
        N(SS_ERR_NOT_FOUND);
        N(SS_ERR_TOO_LARGE);
        N(SS_ERR_NOMEM);
        N(SS_ERR_NETWORK);
        N(SS_ERR_TLS);
        N(SS_ERR_PEER_UNTRUSTED);
        N(SS_ERR_PEER_NOT_REGISTERED);
        N(SS_ERR_CERT_REVOKED);
        N(SS_ERR_SERVICE_TLS);
        N(SS_ERR_PROTOCOL);
        N(SS_ERR_BAD_IDENTIFIER);
        N(SS_ERR_BAD_HEADER);
        N(SS_ERR_UNKNOWN_CLIENT);
        N(SS_ERR_UNKNOWN_SERVICE);
        N(SS_ERR_CLIENT_NOT_HOSTED);
        N(SS_ERR_LIMIT);
        N(SS_ERR_DUPLICATE);
        N(SS_ERR_INVALID_SECURITY_SERVER);
        N(SS_ERR_METHOD);
        N(SS_ERR_POLICY);
        N(SS_ERR_ACCESS_DENIED);
        N(SS_ERR_PURPOSE_MISSING);
        N(SS_ERR_PURPOSE_DENIED);
        N(SS_ERR_OPERATION_DENIED);
        N(SS_ERR_CRYPTO);
        N(SS_ERR_BAD_SIGNATURE);
        N(SS_ERR_BAD_CERTIFICATE);
        N(SS_ERR_MISSING_SIGNATURE);
        N(SS_ERR_STALE_SIGNATURE);
        N(SS_ERR_VALIDATION_INFO);
        N(SS_ERR_SIGNER_REVOKED);
        N(SS_ERR_SIGNING);
        N(SS_ERR_REGISTRY);
        N(SS_ERR_REGISTRY_SCHEMA);
        N(SS_ERR_REGISTRY_EXPIRED);
        N(SS_ERR_REGISTRY_ROLLBACK);
        N(SS_ERR_REGISTRY_UNAVAILABLE);
        N(SS_ERR_UPSTREAM);
        N(SS_ERR_UPSTREAM_TIMEOUT);
        N(SS_ERR_UPSTREAM_INCONSISTENT);
        N(SS_ERR_BUSY);
        N(SS_ERR_LOGGING);
        N(SS_ERR_TIMESTAMPING);
        N(SS_ERR_INTERNAL);
#undef N
    }
    return "SS_ERR_UNKNOWN";
}
