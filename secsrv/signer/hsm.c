/* Member signing keys in a PKCS#11 token, see hsm.h. */
#define OPENSSL_SUPPRESS_DEPRECATED /* the pkcs11 engine: OpenSSL 3's ENGINE API */
#include "hsm.h"

#include "rest.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/engine.h>
#include <openssl/err.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PIN_MAX 256

bool ss_hsm_is_uri(const char *name)
{
    return name && strncmp(name, "pkcs11:", 7) == 0;
}

static const char *openssl_reason(void)
{
    static _Thread_local char buf[256];
    unsigned long e = ERR_peek_last_error();
    if (!e)
        return "no reason given";
    ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    return buf;
}

/*
 * The PIN from pin-source (a file, "file:" optional), into pin (wiped by
 * the caller). Read with read(2) into pin itself: no stdio buffer keeps a
 * copy in freed memory.
 */
static ss_error read_pin(const char *source, char pin[PIN_MAX])
{
    const char *path = strncmp(source, "file:", 5) == 0 ? source + 5 : source;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return ss_errf(SS_ERR_CRYPTO, "the token's PIN file %s: %s", path, strerror(errno));
    size_t len = 0;
    ssize_t n = 0;
    while (len < PIN_MAX &&
           ((n = read(fd, pin + len, PIN_MAX - len)) > 0 || (n < 0 && errno == EINTR)))
        len += n > 0 ? (size_t)n : 0;
    int read_errno = n < 0 ? errno : 0;
    close(fd);
    if (read_errno) {
        sodium_memzero(pin, PIN_MAX);
        return ss_errf(SS_ERR_CRYPTO, "the token's PIN file %s: %s", path, strerror(read_errno));
    }
    while (len > 0 && len <= PIN_MAX && (pin[len - 1] == '\n' || pin[len - 1] == '\r'))
        len--;
    if (len == 0 || len >= PIN_MAX || memchr(pin, 0, len) || memchr(pin, '\n', len)) {
        sodium_memzero(pin, PIN_MAX);
        return ss_errf(SS_ERR_CRYPTO, "the token's PIN file %s does not hold one PIN line", path);
    }
    pin[len] = '\0';
    return SS_OK;
}

static pthread_mutex_t engine_mu = PTHREAD_MUTEX_INITIALIZER;

ss_error ss_hsm_load_key(const char *uri, const char *default_module, const char *default_pin_file,
                         EVP_PKEY **out)
{
    *out = NULL;
    char path[1024], module[1024], source[1024];
    const char *q = strchr(uri, '?');
    size_t path_len = q ? (size_t)(q - uri) : strlen(uri);
    if (!ss_hsm_is_uri(uri) || path_len >= sizeof path)
        return ss_errf(SS_ERR_CRYPTO, "'%.80s' is not a PKCS#11 URI", uri);
    memcpy(path, uri, path_len);
    path[path_len] = '\0';
    size_t qlen = q ? strlen(q) : 0;
    if (!ss_rest_query_param(q ? q : "", qlen, "module-path", module, sizeof module) ||
        !ss_rest_query_param(q ? q : "", qlen, "pin-source", source, sizeof source))
        return ss_errf(SS_ERR_CRYPTO, "%.80s: a query attribute is too long", path);
    if (!module[0] && default_module)
        snprintf(module, sizeof module, "%s", default_module);
    if (!source[0] && default_pin_file)
        snprintf(source, sizeof source, "%s", default_pin_file);
    if (!module[0])
        return ss_errf(SS_ERR_CRYPTO,
                       "%.200s: no PKCS#11 module (module-path, or [signer] pkcs11_module)", path);
    if (!source[0])
        return ss_errf(SS_ERR_CRYPTO,
                       "%.200s: no PIN (pin-source, or [signer] pkcs11_pin_file): the token "
                       "cannot be logged in to",
                       path);
    char pin[PIN_MAX];
    ss_error err = read_pin(source, pin);
    if (err)
        return err;
    pthread_mutex_lock(&engine_mu);
    ENGINE_load_builtin_engines();
    ENGINE *e = ENGINE_by_id("pkcs11");
    if (!e) {
        err = ss_errf(SS_ERR_CRYPTO,
                      "OpenSSL's pkcs11 engine is not installed "
                      "(libengine-pkcs11-openssl): %s",
                      openssl_reason());
    } else if (!ENGINE_ctrl_cmd_string(e, "MODULE_PATH", module, 0) || !ENGINE_init(e)) {
        err = ss_errf(SS_ERR_CRYPTO, "the PKCS#11 module %s does not load: %s", module,
                      openssl_reason());
    } else {
        if (!ENGINE_ctrl_cmd_string(e, "PIN", pin, 0))
            err = ss_errf(SS_ERR_CRYPTO, "the PIN cannot be given to the pkcs11 engine: %s",
                          openssl_reason());
        else if (!(*out = ENGINE_load_private_key(e, path, NULL, NULL)))
            err = ss_errf(SS_ERR_CRYPTO,
                          "%.200s: no private key (a wrong PIN, a token that is not there, or "
                          "no such object): %s",
                          path, openssl_reason());
        /* the engine forgets the PIN (libp11 cleanses its copy): the session stays logged in */
        (void)ENGINE_ctrl_cmd_string(e, "PIN", "", 0);
        ENGINE_finish(e);
    }
    ENGINE_free(e);
    pthread_mutex_unlock(&engine_mu);
    sodium_memzero(pin, sizeof pin);
    return err;
}
