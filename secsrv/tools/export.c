/* Evidence packages (see export.h). */
#include "export.h"

#include "asic.h"
#include "certfile.h"
#include "evidence.h"
#include "keys.h"
#include "merkle.h"
#include "ss_sha256.h"
#include "ss_text.h"
#include "trust.h"

#include <openssl/pem.h>
#include <regex.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CERTS 256 /* distinct CA, responder and TSA certificates in one package */

/* Certificates for one PEM file of the package, each once. */
struct cert_set {
    uint8_t fp[MAX_CERTS][32];
    size_t n;
    struct ss_text pem;
};

static ss_error pem_of(const uint8_t *der, size_t len, struct ss_text *out)
{
    X509 *x = ss_certfile_x509(der, len);
    BIO *b = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n = 0;
    bool ok = x && b && PEM_write_bio_X509(b, x) == 1 && (n = BIO_get_mem_data(b, &p)) > 0;
    if (ok)
        ss_text_printf(out, "%.*s", (int)n, p);
    BIO_free(b);
    X509_free(x);
    return ok ? SS_OK : ss_errf(SS_ERR_CRYPTO, "a certificate of the registry does not encode");
}

static ss_error cert_add(struct cert_set *set, const uint8_t *der, size_t len)
{
    uint8_t fp[32];
    ss_sha256(der, len, fp);
    for (size_t i = 0; i < set->n; i++)
        if (memcmp(set->fp[i], fp, 32) == 0)
            return SS_OK;
    if (set->n == MAX_CERTS)
        return ss_errf(SS_ERR_TOO_LARGE, "more than %d certificates in one package", MAX_CERTS);
    memcpy(set->fp[set->n++], fp, 32);
    return pem_of(der, len, &set->pem);
}

struct ss_export {
    struct ss_store *store;
    const struct ss_kept_registries *kept;
    const uint8_t *secret;
    uint8_t public_key[32];
    struct ss_asic *asic;
    struct ss_text verify;
    struct cert_set cas, responders, tsas;
    size_t records;
};

ss_error ss_export_new(struct ss_store *s, const struct ss_kept_registries *kept,
                       const uint8_t *secret, const uint8_t public_key[32], struct ss_export **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    struct ss_export *x = *out;
    x->store = s;
    x->kept = kept;
    x->secret = secret;
    if (secret)
        memcpy(x->public_key, public_key, 32);
    ss_error err = ss_asic_new(&x->asic);
    if (err) {
        ss_export_free(x);
        *out = NULL;
    }
    return err;
}

void ss_export_free(struct ss_export *x)
{
    if (!x)
        return;
    ss_asic_free(x->asic);
    free(x->verify.p);
    free(x->cas.pem.p);
    free(x->responders.pem.p);
    free(x->tsas.pem.p);
    free(x);
}

static ss_error add_file(struct ss_export *x, const char *dir, const char *name, const void *data,
                         size_t len)
{
    char path[SS_ASIC_NAME_MAX + 1];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return ss_asic_add(x->asic, path, data, len);
}

/* file's SHA-256 must sit at offset at of where (both in dir): openssl computes, cmp compares. */
static void digest_at(struct ss_export *x, const char *dir, const char *file, const char *where,
                      size_t at)
{
    ss_text_printf(&x->verify, "openssl dgst -sha256 -binary -out %s/%s.sha256 %s/%s\n", dir, file,
                   dir, file);
    ss_text_printf(&x->verify, "cmp -n 32 -i 0:%zu %s/%s.sha256 %s/%s\n", at, dir, file, dir,
                   where);
}

/*
 * The steps of a hash tree from a leaf to the root: dir/tree/0.in is the
 * leaf's input (0x00 || leaf), each dir/tree/K.in the input of the node
 * above (0x01 || left || right), whose hash below sits at byte 1 or 33.
 * src (in dir) is what the leaf's input carries after its first byte.
 * Writes the name of the last input (the root is its SHA-256) to last.
 */
static ss_error tree_steps(struct ss_export *x, const char *dir, const char *tree, const char *src,
                           const uint8_t *leaf, size_t leaf_len, const char *path_text, char *last,
                           size_t last_size)
{
    struct ss_merkle_path path;
    ss_error err = ss_merkle_path_parse(path_text, strlen(path_text), &path);
    if (err)
        return err;
    uint8_t *in = malloc(leaf_len + 1);
    if (!in)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    in[0] = 0x00;
    memcpy(in + 1, leaf, leaf_len);
    char name[64];
    snprintf(name, sizeof name, "%s/0.in", tree);
    err = add_file(x, dir, name, in, leaf_len + 1);
    uint8_t h[32];
    ss_sha256(in, leaf_len + 1, h);
    free(in);
    ss_text_printf(&x->verify, "cmp -i 0:1 %s/%s %s/%s\n", dir, src, dir, name);
    for (size_t k = 0; !err && k < path.n; k++) {
        uint8_t node[65];
        node[0] = 0x01;
        bool left = path.side[k] == 'L'; /* the sibling is on the left: this hash on the right */
        memcpy(node + (left ? 33 : 1), h, 32);
        memcpy(node + (left ? 1 : 33), path.sibling[k], 32);
        char next[64];
        snprintf(next, sizeof next, "%s/%zu.in", tree, k + 1);
        if ((err = add_file(x, dir, next, node, sizeof node)))
            break;
        ss_text_printf(&x->verify, "openssl dgst -sha256 -binary -out %s/%s/%zu.out %s/%s\n", dir,
                       tree, k, dir, name);
        ss_text_printf(&x->verify, "cmp -n 32 -i 0:%d %s/%s/%zu.out %s/%s\n", left ? 33 : 1, dir,
                       tree, k, dir, next);
        ss_sha256(node, sizeof node, h);
        snprintf(name, sizeof name, "%s", next);
    }
    snprintf(last, last_size, "%s", name);
    return err;
}

static ss_error registry_certs(struct ss_export *x, const struct ss_registry *reg)
{
    ss_error err = SS_OK;
    for (size_t i = 0; !err && i < reg->n_cas; i++) {
        const struct ss_reg_ca *ca = &reg->cas[i];
        err = cert_add(&x->cas, ca->cert.der, ca->cert.len);
        for (size_t j = 0; !err && j < ca->n_intermediates; j++)
            err = cert_add(&x->cas, ca->intermediates[j].der, ca->intermediates[j].len);
        for (size_t j = 0; !err && j < ca->n_ocsp; j++)
            err = cert_add(&x->responders, ca->ocsp[j].cert.der, ca->ocsp[j].cert.len);
    }
    for (size_t i = 0; !err && i < reg->n_tsas; i++)
        err = cert_add(&x->tsas, reg->tsas[i].cert.der, reg->tsas[i].cert.len);
    return err;
}

struct token {
    uint8_t *der;
    size_t len;
    int64_t gen_time;
};

static ss_error take_token(void *arg, const struct ss_timestamp *ts)
{
    struct token *t = arg;
    free(t->der);
    t->der = malloc(ts->token_len ? ts->token_len : 1);
    if (!t->der)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    memcpy(t->der, ts->token, ts->token_len);
    t->len = ts->token_len;
    t->gen_time = ts->gen_time;
    return SS_OK;
}

/* The signer's issuer in the registry in force at the record's time, or in one that came
 * within the lag the audit allows (ss_kept_registry's nth). */
static ss_error issuer_of(const struct ss_export *x, const struct ss_record *r,
                          const struct ss_der *signer, struct ss_der *issuer)
{
    ss_error err = SS_ERR_NOT_FOUND;
    const struct ss_trust *t;
    for (size_t nth = 0; err && (t = ss_kept_registry(x->kept, r->logged_ms, nth)); nth++)
        err = ss_trust_issuer(t, signer, issuer);
    return err;
}

/* The signature over the manifest (directly or through its batch tree) and the staple. */
static ss_error signature_checks(struct ss_export *x, const char *dir, const struct ss_record *r)
{
    long at = (long)(r->logged_ms / 1000);
    const char *content = "manifest";
    char last[64];
    ss_error err = SS_OK;
    if (r->sig_path[0] && strcmp(r->sig_path, "-") != 0) {
        if ((err = tree_steps(x, dir, "sig-tree", "manifest", r->manifest, r->manifest_len,
                              r->sig_path, last, sizeof last)))
            return err;
        ss_text_printf(
            &x->verify,
            "openssl dgst -sha256 -r %s/%s | cut -c1-64 | sed 's/^/secsrv-batch-root: /' > "
            "%s/batch-root\n",
            dir, last, dir);
        content = "batch-root";
    }
    /* the signer's certificate as the signature carries it, and its issuer chained to the CAs */
    ss_text_printf(
        &x->verify,
        "openssl cms -verify -binary -inform DER -in %s/signature.p7s -content %s/%s "
        "-CAfile ca-chain.pem -purpose any -attime %ld -signer %s/signer.out -out /dev/null\n",
        dir, dir, content, at, dir);
    ss_text_printf(&x->verify, "cmp %s/signer.pem %s/signer.out\n", dir, dir);
    ss_text_printf(&x->verify,
                   "openssl verify -CAfile ca-chain.pem -purpose any -attime %ld %s/issuer.pem\n",
                   at, dir);
    uint8_t *signer = NULL;
    size_t signer_len = 0;
    struct ss_der issuer;
    struct ss_text pem = {0};
    if ((err = ss_evidence_signer_cert(r->signature, r->signature_len, &signer, &signer_len)) ||
        (err = issuer_of(x, r, &(struct ss_der){signer, signer_len}, &issuer)) ||
        (err = pem_of(signer, signer_len, &pem)) ||
        (err = add_file(x, dir, "signer.pem", pem.p, pem.len))) {
        free(signer);
        free(pem.p);
        return err;
    }
    pem.len = 0;
    if (!(err = pem_of(issuer.data, issuer.len, &pem)))
        err = add_file(x, dir, "issuer.pem", pem.p, pem.len);
    free(pem.p);
    free(signer);
    /* Two commands, so that sh -e stops on openssl's own verdict: in a pipe only grep's counts,
     * and openssl prints the status of a response whose signature it refused too. The status
     * line is "NAME: good", or "good" on a line of its own after the warning openssl gives for
     * a response no longer fresh today (-attime does not move that check; its freshness at the
     * signing time is the audit's) */
    if (!err && r->ocsp) {
        ss_text_printf(
            &x->verify,
            "openssl ocsp -respin %s/ocsp.der -issuer %s/issuer.pem -cert %s/signer.pem "
            "-CAfile ca-chain.pem -VAfile ocsp.pem -no_nonce -attime %ld -out %s/ocsp.out\n",
            dir, dir, dir, at, dir);
        ss_text_printf(&x->verify, "grep -Eq '(^|: )good$' %s/ocsp.out\n", dir);
    }
    return err;
}

ss_error ss_export_record(struct ss_export *x, const struct ss_record *r, int64_t ts_id,
                          const char *ts_path)
{
    char dir[48];
    snprintf(dir, sizeof dir, "records/%lld", (long long)r->id);
    struct ss_trust *t = ss_kept_registry(x->kept, r->logged_ms, 0);
    if (!t)
        return ss_errf(SS_ERR_NOT_FOUND, "record %lld: no members registry is kept for its time",
                       (long long)r->id);
    ss_error err = SS_OK;
    struct ss_trust *later = NULL;
    for (size_t nth = 0; !err && (later = ss_kept_registry(x->kept, r->logged_ms, nth)); nth++)
        err = registry_certs(x, ss_trust_registry(later));
    struct ss_record_encoding rec = {0}, content = {0};
    uint8_t *plain = NULL;
    size_t plain_len = 0;
    struct token token = {0};
    if (err || (err = ss_record_encode(r, false, &rec)) ||
        (r->has_salt && (err = ss_record_encode(r, true, &content))))
        goto out;
    if ((err = add_file(x, dir, "record.bin", rec.data, rec.len)))
        goto out;
    /* where the message's and the manifest's digests sit: version 2 in the content */
    const char *holder = r->has_content ? "content.bin" : "record.bin";
    const struct ss_record_encoding *h = r->has_content ? &content : &rec;
    if (r->has_salt) {
        if ((err = add_file(x, dir, "content.bin", content.data, content.len)))
            goto out;
        digest_at(x, dir, "content.bin", "record.bin", rec.content_at);
    }
    if (r->message) {
        if (r->sealed) {
            if ((err = add_file(x, dir, "message.sealed", r->message, r->message_len)))
                goto out;
            digest_at(x, dir, "message.sealed", holder, h->sealed_at);
            if (x->secret && (err = ss_dpo_open(x->public_key, x->secret, r->message,
                                                r->message_len, &plain, &plain_len)))
                goto out;
        }
        const uint8_t *m = r->sealed ? plain : r->message;
        size_t m_len = r->sealed ? plain_len : r->message_len;
        if (m) {
            if ((err = add_file(x, dir, "message", m, m_len)))
                goto out;
            digest_at(x, dir, "message", holder, h->message_sha256_at);
        }
    }
    if (r->manifest) {
        if ((err = add_file(x, dir, "manifest", r->manifest, r->manifest_len)))
            goto out;
        digest_at(x, dir, "manifest", holder, h->manifest_at);
    }
    if (r->signature) {
        if ((err = add_file(x, dir, "signature.p7s", r->signature, r->signature_len)))
            goto out;
        digest_at(x, dir, "signature.p7s", "record.bin", rec.signature_at);
    }
    if (r->ocsp) {
        if ((err = add_file(x, dir, "ocsp.der", r->ocsp, r->ocsp_len)))
            goto out;
        digest_at(x, dir, "ocsp.der", "record.bin", rec.ocsp_at);
    }
    /* a refusal's signature may be the reason it was refused; a purged record has no manifest */
    if (r->signature && r->manifest && !r->error_type[0] && (err = signature_checks(x, dir, r)))
        goto out;
    if (ts_id) {
        if ((err = ss_store_timestamps(x->store, ts_id, take_token, &token)))
            goto out;
        if (!token.der) {
            err = ss_errf(SS_ERR_NOT_FOUND, "record %lld: timestamp %lld is not in the log",
                          (long long)r->id, (long long)ts_id);
            goto out;
        }
        if ((err = add_file(x, dir, "timestamp.der", token.der, token.len)))
            goto out;
        ss_text_printf(&x->verify,
                       "openssl dgst -sha256 -binary -out %s/record.sha256 %s/record.bin\n", dir,
                       dir);
        char last[64];
        if ((err = tree_steps(x, dir, "ts-tree", "record.sha256", r->hash, 32, ts_path, last,
                              sizeof last)))
            goto out;
        ss_text_printf(&x->verify,
                       "openssl ts -verify -data %s/%s -in %s/timestamp.der -token_in -CAfile "
                       "ca-chain.pem -untrusted tsa.pem -attime %lld\n",
                       dir, last, dir, (long long)token.gen_time);
    }
    x->records++;
out:
    if (err && err != SS_ERR_NOMEM && !strstr(ss_errmsg(), "record "))
        err = ss_errf(err, "record %lld: %s", (long long)r->id, ss_errmsg());
    if (plain)
        ss_dpo_plain_free(plain, plain_len);
    free(token.der);
    ss_record_encoding_free(&rec);
    ss_record_encoding_free(&content);
    return err;
}

ss_error ss_export_finish(struct ss_export *x, uint8_t **out, size_t *len, size_t *records)
{
    *records = x->records;
    if (x->verify.failed || x->cas.pem.failed || x->responders.pem.failed || x->tsas.pem.failed)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    if (!x->records)
        return ss_errf(SS_ERR_NOT_FOUND, "no record to export");
    ss_error err = SS_OK;
    if ((err = ss_asic_add(x->asic, "ca-chain.pem", x->cas.pem.p, x->cas.pem.len)) ||
        (err = ss_asic_add(x->asic, "ocsp.pem", x->responders.pem.p, x->responders.pem.len)) ||
        (err = ss_asic_add(x->asic, "tsa.pem", x->tsas.pem.p, x->tsas.pem.len)) ||
        (err = ss_asic_add(x->asic, "VERIFY.txt", x->verify.p, x->verify.len)))
        return err;
    return ss_asic_finish(x->asic, out, len);
}

/* The lines export writes (tree_steps, digest_at, signature_checks, ss_export_record). */
#define P "records/[0-9]+/[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*"
#define T "[0-9]+"
static const char *const script_lines[] = {
    "^openssl dgst -sha256 -binary -out " P " " P "$",
    "^cmp -n 32 -i 0:" T " " P " " P "$",
    "^cmp -i 0:1 " P " " P "$",
    "^cmp " P " " P "$",
    "^openssl dgst -sha256 -r " P " \\| cut -c1-64 \\| sed 's/\\^/secsrv-batch-root: /' > " P "$",
    "^openssl cms -verify -binary -inform DER -in " P " -content " P
    " -CAfile ca-chain\\.pem -purpose any -attime " T " -signer " P " -out /dev/null$",
    "^openssl verify -CAfile ca-chain\\.pem -purpose any -attime " T " " P "$",
    "^openssl ocsp -respin " P " -issuer " P " -cert " P " -CAfile ca-chain\\.pem -VAfile "
    "ocsp\\.pem -no_nonce -attime " T " -out " P "$",
    "^grep -Eq '\\(\\^\\|: \\)good\\$' " P "$",
    /* what packages written before the two commands above have: harmless to run */
    "^openssl ocsp -respin " P " -issuer " P " -cert " P " -CAfile ca-chain\\.pem -VAfile "
    "ocsp\\.pem -no_nonce -attime " T " 2>/dev/null \\| grep -q ': good\\$'$",
    "^openssl ts -verify -data " P " -in " P " -token_in -CAfile ca-chain\\.pem -untrusted "
    "tsa\\.pem -attime " T "$",
};
#undef P
#undef T

ss_error ss_export_script_check(const char *text, size_t len)
{
    regex_t re[sizeof script_lines / sizeof script_lines[0]];
    size_t n_re = 0;
    ss_error err = SS_OK;
    for (; n_re < sizeof script_lines / sizeof script_lines[0]; n_re++)
        if (regcomp(&re[n_re], script_lines[n_re], REG_EXTENDED | REG_NOSUB) != 0) {
            err = ss_errf(SS_ERR_INTERNAL, "a command pattern does not compile");
            break;
        }
    size_t line_no = 0;
    for (size_t at = 0; !err && at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
        line_no++;
        char line[2048];
        bool ok = n < sizeof line && !memchr(text + at, '\0', n);
        if (ok) {
            memcpy(line, text + at, n);
            line[n] = '\0';
            ok = !strstr(line, "..");
            bool matched = false;
            for (size_t i = 0; ok && !matched && i < n_re; i++)
                matched = regexec(&re[i], line, 0, NULL, 0) == 0;
            ok = ok && matched;
        }
        if (!ok)
            err = ss_errf(SS_ERR_PROTOCOL,
                          "VERIFY.txt line %zu is not one of the commands secsrv-log export "
                          "writes: the package is not to be trusted as it is",
                          line_no);
        at += n + 1;
    }
    if (!err && (len == 0 || text[len - 1] != '\n'))
        err = ss_errf(SS_ERR_PROTOCOL, "VERIFY.txt is empty or does not end its last line");
    for (size_t i = 0; i < n_re; i++)
        regfree(&re[i]);
    return err;
}
