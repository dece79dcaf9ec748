#include "certfile.h"
#include "ss_hex.h"
#include "ss_sha256.h"
#include "ss_xml.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

X509 *ss_certfile_x509(const uint8_t *der, size_t len)
{
    if (len == 0 || len > SS_CERTFILE_MAX_BYTES)
        return NULL;
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (x && p != der + len) {
        X509_free(x);
        x = NULL;
    }
    ERR_clear_error();
    return x;
}

static bool looks_like_pem(const uint8_t *buf, size_t len)
{
    static const char marker[] = "-----BEGIN ";
    size_t mlen = sizeof marker - 1;
    for (size_t i = 0; i + mlen <= len; i++)
        if (memcmp(buf + i, marker, mlen) == 0)
            return true;
    return false;
}

/* Reads the first PEM certificate of buf; unless chain, a second one is an error. */
static ss_error pem_to_x509(const char *path, const uint8_t *buf, size_t len, bool chain,
                            X509 **out)
{
    ss_error result = SS_OK;
    X509 *first = NULL, *second = NULL;
    BIO *bio = BIO_new_mem_buf(buf, (int)len);
    if (!bio)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    first = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (!first) {
        result = ss_errf(SS_ERR_BAD_CERTIFICATE, "%s: no PEM certificate found", path);
        goto out;
    }
    second = chain ? NULL : PEM_read_bio_X509(bio, NULL, NULL, NULL);
    if (second) {
        result =
            ss_errf(SS_ERR_BAD_CERTIFICATE,
                    "%s: holds more than one certificate; give one certificate per file", path);
        goto out;
    }
    *out = first;
    first = NULL;
out:
    ERR_clear_error();
    X509_free(second);
    X509_free(first);
    BIO_free(bio);
    return result;
}

static ss_error read_cert(const char *path, bool chain, uint8_t **der, size_t *len)
{
    ss_error result = SS_OK;
    uint8_t *buf = NULL;
    size_t buf_len = 0;
    X509 *x = NULL;
    unsigned char *enc = NULL;
    *der = NULL;
    *len = 0;

    result = ss_file_read(path, SS_CERTFILE_MAX_BYTES, &buf, &buf_len);
    if (result)
        goto out;
    if (looks_like_pem(buf, buf_len)) {
        result = pem_to_x509(path, buf, buf_len, chain, &x);
        if (result)
            goto out;
    } else {
        x = ss_certfile_x509(buf, buf_len);
        if (!x) {
            result = ss_errf(SS_ERR_BAD_CERTIFICATE, "%s: not a PEM or DER certificate", path);
            goto out;
        }
    }
    int n = i2d_X509(x, &enc);
    if (n <= 0) {
        result = ss_errf(SS_ERR_CRYPTO, "%s: cannot encode certificate", path);
        goto out;
    }
    *der = malloc((size_t)n);
    if (!*der) {
        result = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(*der, enc, (size_t)n);
    *len = (size_t)n;
out:
    ERR_clear_error();
    OPENSSL_free(enc);
    X509_free(x);
    free(buf);
    return result;
}

ss_error ss_certfile_read(const char *path, uint8_t **der, size_t *len)
{
    return read_cert(path, false, der, len);
}

ss_error ss_certfile_read_first(const char *path, uint8_t **der, size_t *len)
{
    return read_cert(path, true, der, len);
}

ss_error ss_certfile_load_first(const char *path, X509 **out)
{
    uint8_t *der = NULL;
    size_t len = 0;
    *out = NULL;
    ss_error err = read_cert(path, true, &der, &len);
    if (err)
        return err;
    *out = ss_certfile_x509(der, len);
    free(der);
    return *out ? SS_OK : ss_errf(SS_ERR_BAD_CERTIFICATE, "%s: certificate does not parse", path);
}

ss_error ss_certfile_sha256_hex(const uint8_t *der, size_t len, char out[65])
{
    uint8_t md[32];
    out[0] = '\0';
    X509 *x = ss_certfile_x509(der, len);
    if (!x)
        return ss_errf(SS_ERR_BAD_CERTIFICATE, "not a DER certificate");
    X509_free(x);
    ss_sha256(der, len, md);
    ss_hex_sha256_format(md, out);
    return SS_OK;
}

ss_error ss_certfile_base64(const uint8_t *der, size_t len, char **out)
{
    *out = NULL;
    if (len == 0 || len > SS_CERTFILE_MAX_BYTES)
        return ss_errf(SS_ERR_BAD_CERTIFICATE, "certificate of %zu bytes is out of range", len);
    size_t cap = (len + 2) / 3 * 4 + 1;
    char *text = malloc(cap);
    if (!text)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    int n = EVP_EncodeBlock((unsigned char *)text, der, (int)len);
    if (n < 0 || (size_t)n >= cap) {
        free(text);
        return ss_errf(SS_ERR_CRYPTO, "base64 encoding failed");
    }
    text[n] = '\0';
    *out = text;
    return SS_OK;
}

static bool asn1_time_to_time_t(const ASN1_TIME *t, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return false;
    *out = timegm(&tm);
    return true;
}

/* Cuts s back so it does not end inside a UTF-8 sequence. */
static void trim_partial_utf8(char *s, size_t n)
{
    size_t i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xc0) == 0x80)
        i--;
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
    if (n - (i - 1) < need)
        s[i - 1] = '\0';
}

/* name in RFC 2253 form (UTF-8 kept) into out, cut at a character's boundary. */
static bool print_name(const X509_NAME *name, char *out, size_t size)
{
    BIO *mem = BIO_new(BIO_s_mem());
    unsigned long flags = (XN_FLAG_RFC2253 & ~(unsigned long)ASN1_STRFLGS_ESC_MSB);
    if (!mem || X509_NAME_print_ex(mem, name, 0, flags) < 0) {
        BIO_free(mem);
        return false;
    }
    int n = BIO_read(mem, out, (int)size - 1);
    if (n < 0)
        n = 0;
    out[n] = '\0';
    if ((size_t)n == size - 1)
        trim_partial_utf8(out, (size_t)n);
    BIO_free(mem);
    return true;
}

ss_error ss_certfile_describe(const uint8_t *der, size_t len, struct ss_cert_info *info)
{
    ss_error result = SS_OK;
    memset(info, 0, sizeof *info);
    X509 *x = ss_certfile_x509(der, len);
    if (!x)
        return ss_errf(SS_ERR_BAD_CERTIFICATE, "not a DER certificate");
    if (!print_name(X509_get_subject_name(x), info->subject, sizeof info->subject) ||
        !print_name(X509_get_issuer_name(x), info->issuer, sizeof info->issuer)) {
        result = ss_errf(SS_ERR_CRYPTO, "cannot print certificate subject or issuer");
        goto out;
    }
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    snprintf(info->serial, sizeof info->serial, "%s", hex ? hex : "?");
    OPENSSL_free(hex);
    BN_free(bn);
    if (!asn1_time_to_time_t(X509_get0_notBefore(x), &info->not_before) ||
        !asn1_time_to_time_t(X509_get0_notAfter(x), &info->not_after)) {
        result = ss_errf(SS_ERR_BAD_CERTIFICATE, "certificate validity does not parse");
        goto out;
    }
out:
    ERR_clear_error();
    X509_free(x);
    return result;
}

BIO *ss_certfile_cms_content(const void *data, size_t len)
{
    if (len > INT_MAX)
        return NULL;
    BIO *mem = BIO_new_mem_buf(data, (int)len);
    BIO *top = mem ? BIO_new(BIO_f_null()) : NULL;
    if (!top) {
        BIO_free(mem);
        return NULL;
    }
    return BIO_push(top, mem);
}
