#include "signer.h"
#include "clock.h"
#include "hsm.h"
#include "evidence.h"
#include "gather.h"
#include "ipc.h"
#include "log.h"
#include "manifest.h"
#include "merkle.h"
#include "proc.h"
#include "regstore.h"
#include "registry.h"
#include "ss_xml.h"
#include "trust.h"
#include "ss_sha256.h"

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* the largest request: a registry (the signing requests are far smaller) */
#define SIGNER_FRAME_MAX (SS_REGISTRY_MAX_BYTES + SS_REGISTRY_SIG_MAX_BYTES + 64)
/* seconds a request waits for the first OCSP response of its key after start */
#define SIGNER_FIRST_OCSP_WAIT (SS_TRUST_OCSP_TIMEOUT + 2)
/* a response is stapled only while it stays good this long more (at most a quarter of the
 * registry's ocspFreshness): a receiver checks it on arrival, logs it a moment later, and an
 * audit judges it at the logged time */
#define STAPLE_MARGIN 5

struct request {
    ss_link link;
    uint64_t id;
    uint8_t *manifest;
    size_t len;
    uint64_t arrived_us; /* monotonic */
    struct request *next;
};

/*
 * A key and its certificates. The slot that holds it and whoever signs or asks for its OCSP
 * response at the moment each hold a reference, so that a SIGHUP can put another in place
 * meanwhile (refs under signer.mu).
 */
struct key_material {
    unsigned refs;
    EVP_PKEY *key;
    X509 *cert;
    STACK_OF(X509) * chain; /* the certificates after the first in the file */
    struct chain_der {
        uint8_t *data;
        size_t len;
    } * chain_der; /* their encodings, in the same order */
    size_t n_chain;
    uint8_t *cert_der;
    size_t cert_der_len;
};

struct key_slot {
    struct ss_client_id member;
    char member_str[SS_ID_STR_MAX];
    struct key_material *mat; /* under signer.mu; NULL: a token that refused at start */
    /* the files a SIGHUP found, under signer.mu: in force once an OCSP response says their
     * certificate is good (until then mat signs); why not yet, as last logged */
    struct key_material *next;
    char next_status[256];
    time_t next_retry; /* when next's status is asked for again (a back-off: 2 s, 4 s ... 5 min) */
    unsigned next_tries;
    /* the stapled OCSP response, under signer.mu */
    uint8_t *ocsp;
    size_t ocsp_len;
    time_t ocsp_until;    /* good until, under the registry of ocsp_serial */
    uint64_t ocsp_serial; /* the registry ocsp_until was judged under */
    uint64_t ocsp_gen;    /* counts the responses held: a verdict is kept for the one judged */
    time_t ocsp_at;       /* when this server obtained the response in use */
    bool ocsp_tried;      /* a first OCSP exchange has ended (either way) */
    time_t hold_until;    /* requests before that wait for it until then */
    char status[256];     /* why the key cannot sign now, "" when it can */
    /* waiting requests, under signer.mu */
    struct request *head, **tail;
    size_t queued;
    uint64_t last_batch_us; /* monotonic: when its last batch was taken */
};

static struct {
    const struct ss_config *cfg;
    struct ss_reg_anchor anchor;
    pthread_mutex_t mu;
    pthread_cond_t work;  /* requests queued, or stopping */
    pthread_cond_t renew; /* the registry changed: OCSP now */
    struct ss_trust *trust;
    uint8_t registry_sha256[32];
    struct key_slot *keys;
    size_t n_keys;
    bool stopping;
    unsigned long batches, signed_messages, largest_batch;
} signer = {.mu = PTHREAD_MUTEX_INITIALIZER}; /* work and renew: ss_signer_main */

/* ---- keys ---- */

static void material_free(struct key_material *m)
{
    if (!m)
        return;
    EVP_PKEY_free(m->key);
    X509_free(m->cert);
    sk_X509_pop_free(m->chain, X509_free);
    for (size_t i = 0; i < m->n_chain; i++)
        OPENSSL_free(m->chain_der[i].data);
    free(m->chain_der);
    free(m->cert_der);
    free(m);
}

/* Under signer.mu. */
static struct key_material *material_ref(struct key_material *m)
{
    if (m)
        m->refs++;
    return m;
}

/* Under signer.mu. */
static void material_unref(struct key_material *m)
{
    if (m && --m->refs == 0)
        material_free(m);
}

/* The same key and certificate (and so the same OCSP response). */
static bool material_same(const struct key_material *a, const struct key_material *b)
{
    return a->cert_der_len == b->cert_der_len &&
           memcmp(a->cert_der, b->cert_der, a->cert_der_len) == 0 &&
           (a->key == b->key || EVP_PKEY_eq(a->key, b->key) == 1); /* a token's: the same */
}

static void key_cleanup(struct key_slot *k)
{
    material_unref(k->mat);
    material_unref(k->next);
    free(k->ocsp);
    memset(k, 0, sizeof *k);
}

/*
 * Whether key makes signatures that cert's public key verifies: a test
 * signature, since a key in a token may not show its public half.
 */
static bool signs_for(EVP_PKEY *key, X509 *cert)
{
    static const unsigned char probe[] = "secsrv: does this key sign for this certificate?";
    unsigned char sig[1024];
    size_t sig_len = sizeof sig;
    EVP_MD_CTX *s = EVP_MD_CTX_new(), *v = EVP_MD_CTX_new();
    bool ok = s && v && EVP_DigestSignInit(s, NULL, EVP_sha256(), NULL, key) == 1 &&
              EVP_DigestSign(s, sig, &sig_len, probe, sizeof probe) == 1 &&
              EVP_DigestVerifyInit(v, NULL, EVP_sha256(), NULL, X509_get0_pubkey(cert)) == 1 &&
              EVP_DigestVerify(v, sig, sig_len, probe, sizeof probe) == 1;
    EVP_MD_CTX_free(s);
    EVP_MD_CTX_free(v);
    return ok;
}

/*
 * Checks one configured key from its files' contents: the key (PEM; or token_key, already
 * loaded from a token, which this takes over) and the certificate with its chain (PEM). They
 * must match, and the certificate must name the configured member (the profile). Errors name
 * the files.
 */
static ss_error material_parse(const struct ss_config *cfg, const struct ss_signing_key *sk,
                               const uint8_t *key_pem, size_t key_len, EVP_PKEY *token_key,
                               const uint8_t *cert_pem, size_t cert_len,
                               struct key_material **out)
{
    *out = NULL;
    struct key_material *m = calloc(1, sizeof *m);
    if (!m) {
        EVP_PKEY_free(token_key);
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    m->refs = 1;
    ss_error err = SS_OK;
    unsigned char *der = NULL;
    BIO *b = NULL;
    if (token_key) {
        m->key = token_key;
    } else {
        b = key_len <= INT_MAX ? BIO_new_mem_buf(key_pem, (int)key_len) : NULL;
        m->key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
        BIO_free(b);
        b = NULL;
    }
    if (!m->key) {
        err = ss_errf(SS_ERR_CRYPTO, "%s: not a PEM private key (or encrypted)", sk->key_file);
        goto out;
    }
    b = cert_len <= INT_MAX ? BIO_new_mem_buf(cert_pem, (int)cert_len) : NULL;
    m->cert = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    m->chain = sk_X509_new_null();
    if (!m->cert || !m->chain) {
        err = ss_errf(SS_ERR_BAD_CERTIFICATE, "%s: no PEM certificate", sk->cert_file);
        goto out;
    }
    X509 *x;
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        struct chain_der *more = realloc(m->chain_der, (m->n_chain + 1) * sizeof *more);
        unsigned char *enc = NULL;
        int enc_len = more ? i2d_X509(x, &enc) : -1;
        if (more)
            m->chain_der = more;
        if (enc_len <= 0 || !sk_X509_push(m->chain, x)) {
            OPENSSL_free(enc);
            X509_free(x);
            err = ss_errf(SS_ERR_NOMEM, "%s: out of memory", sk->cert_file);
            goto out;
        }
        m->chain_der[m->n_chain++] = (struct chain_der){enc, (size_t)enc_len};
    }
    if (token_key ? !signs_for(m->key, m->cert) : X509_check_private_key(m->cert, m->key) != 1) {
        err = ss_errf(SS_ERR_CRYPTO, "%s does not hold the key of %s", sk->key_file, sk->cert_file);
        goto out;
    }
    int n = i2d_X509(m->cert, &der);
    if (n <= 0 || !(m->cert_der = malloc((size_t)n))) {
        err = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(m->cert_der, der, (size_t)n);
    m->cert_der_len = (size_t)n;
    struct ss_client_id named;
    if ((err = ss_evidence_cert_member(m->cert_der, m->cert_der_len, cfg->instance, &named))) {
        err = ss_errf(err, "%s: %s", sk->cert_file, ss_errmsg());
        goto out;
    }
    if (!ss_client_id_equal(&named, &sk->member)) {
        char got[SS_ID_STR_MAX], want[SS_ID_STR_MAX];
        (void)ss_client_id_format(&named, got, sizeof got);
        (void)ss_client_id_format(&sk->member, want, sizeof want);
        err = ss_errf(SS_ERR_BAD_SIGNATURE, "%s names member %s, not %s", sk->cert_file, got,
                      want);
        goto out;
    }
out:
    ERR_clear_error();
    OPENSSL_free(der);
    BIO_free(b);
    if (err)
        material_free(m);
    else
        *out = m;
    return err;
}

/* Loads and checks one configured key from its files (or its token) into k. */
static ss_error load_key(const struct ss_config *cfg, const struct ss_signing_key *sk,
                         struct key_slot *k)
{
    memset(k, 0, sizeof *k);
    k->member = sk->member;
    (void)ss_client_id_format(&sk->member, k->member_str, sizeof k->member_str);
    k->tail = &k->head;
    uint8_t *pem = NULL, *cert = NULL;
    size_t pem_len = 0, cert_len = 0;
    EVP_PKEY *token_key = NULL;
    ss_error err;
    if (ss_hsm_is_uri(sk->key_file))
        err = ss_hsm_load_key(sk->key_file, cfg->pkcs11_module, cfg->pkcs11_pin_file, &token_key);
    else
        err = ss_file_read(sk->key_file, SS_SIGNING_FILE_MAX, &pem, &pem_len);
    if (!err && !(err = ss_file_read(sk->cert_file, SS_SIGNING_FILE_MAX, &cert, &cert_len))) {
        err = material_parse(cfg, sk, pem, pem_len, token_key, cert, cert_len, &k->mat);
        token_key = NULL; /* taken over */
    }
    EVP_PKEY_free(token_key);
    if (pem) {
        sodium_memzero(pem, pem_len);
        free(pem);
    }
    free(cert);
    if (!err)
        snprintf(k->status, sizeof k->status, "no OCSP response yet");
    return err;
}

void ss_signer_check_keys(struct ss_config *cfg)
{
    for (size_t i = 0; i < cfg->n_keys; i++) {
        struct key_slot k;
        if (load_key(cfg, &cfg->keys[i], &k) != SS_OK)
            ss_config_problem(cfg, cfg->keys[i].line, "signing key: %s", ss_errmsg());
        else
            key_cleanup(&k);
    }
}

/* ---- signing ---- */

/*
 * Signs content with key k. The signature carries the signer's certificate
 * and those of its chain that the registry t does not list (a receiver
 * completes the chain from the registry, so they need not travel with
 * every message).
 */
static ss_error cms_sign(const struct key_material *k, const struct ss_trust *t,
                         const void *content, size_t len, uint8_t **der, size_t *der_len)
{
    ss_error err = SS_OK;
    unsigned char *enc = NULL;
    unsigned flags = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP | CMS_CADES;
    BIO *in = BIO_new_mem_buf(content, (int)len);
    STACK_OF(X509) *carry = sk_X509_new_null();
    for (size_t i = 0; carry && i < k->n_chain; i++)
        if (!t || !ss_trust_lists(t, &(struct ss_der){k->chain_der[i].data, k->chain_der[i].len}))
            if (!sk_X509_push(carry, sk_X509_value(k->chain, (int)i))) {
                sk_X509_free(carry);
                carry = NULL;
            }
    CMS_ContentInfo *cms = in && carry ? CMS_sign(NULL, NULL, carry, NULL, flags) : NULL;
    int n = -1;
    if (!cms || !CMS_add1_signer(cms, k->cert, k->key, EVP_sha256(), flags) ||
        CMS_final(cms, in, NULL, flags) != 1 || (n = i2d_CMS_ContentInfo(cms, &enc)) <= 0) {
        err = ss_errf(SS_ERR_CRYPTO, "signing failed");
        goto out;
    }
    *der = malloc((size_t)n);
    if (!*der) {
        err = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(*der, enc, (size_t)n);
    *der_len = (size_t)n;
out:
    ERR_clear_error();
    OPENSSL_free(enc);
    CMS_ContentInfo_free(cms);
    sk_X509_free(carry); /* shallow: the certificates belong to k */
    BIO_free(in);
    return err;
}

/* Adds r's answer to out (NULL: sends it at once). */
static void answer(struct ss_serve_batch *out, const struct request *r, ss_error err,
                   const char *reason, const uint8_t *cms, size_t cms_len, const char *path,
                   const uint8_t *ocsp, size_t ocsp_len)
{
    struct ss_ipc_buf b = {0};
    ss_ipc_put_u32(&b, (uint32_t)err);
    ss_ipc_put_str(&b, reason);
    ss_ipc_put_bytes(&b, cms, cms_len);
    ss_ipc_put_str(&b, path);
    ss_ipc_put_bytes(&b, ocsp, ocsp_len);
    ss_serve_batch_add(out, r->link, SS_IPC_SIGNED, r->id, &b);
    ss_ipc_buf_cleanup(&b);
}

static void free_requests(struct request *r)
{
    while (r) {
        struct request *next = r->next;
        free(r->manifest);
        free(r);
        r = next;
    }
}

/* Signs the n requests of list with key k: directly for one, as a batch for more. */
static void sign_batch(const struct key_material *k, const struct ss_trust *t, struct request *list,
                       size_t n, const uint8_t *ocsp, size_t ocsp_len)
{
    uint8_t(*leaves)[32] = NULL;
    struct ss_merkle_path *paths = NULL;
    uint8_t *cms = NULL;
    size_t cms_len = 0;
    ss_error err;
    if (n == 1) {
        err = cms_sign(k, t, list->manifest, list->len, &cms, &cms_len);
    } else {
        leaves = malloc(n * sizeof *leaves);
        paths = malloc(n * sizeof *paths);
        if (!leaves || !paths) {
            err = ss_errf(SS_ERR_NOMEM, "out of memory");
        } else {
            size_t i = 0;
            for (struct request *r = list; r; r = r->next)
                ss_merkle_leaf(r->manifest, r->len, leaves[i++]);
            uint8_t root[32];
            char content[SS_EVIDENCE_BATCH_LEN + 1];
            err = ss_merkle_build((const uint8_t(*)[32])leaves, n, root, paths);
            if (!err) {
                ss_evidence_batch_content(root, content);
                err = cms_sign(k, t, content, SS_EVIDENCE_BATCH_LEN, &cms, &cms_len);
            }
        }
    }
    char reason[300] = "";
    if (err)
        snprintf(reason, sizeof reason, "%s", ss_errmsg());
    size_t i = 0;
    struct ss_serve_batch out = {0}; /* the batch's answers in one write per network process */
    for (struct request *r = list; r; r = r->next, i++) {
        char path[SS_MERKLE_PATH_TEXT_MAX] = "";
        if (!err && n > 1)
            ss_merkle_path_format(&paths[i], path);
        answer(&out, r, err, reason, cms, cms_len, path, ocsp, ocsp_len);
    }
    ss_serve_batch_send(&out);
    free(cms);
    free(paths);
    free(leaves);
}

/*
 * Right after start the first OCSP response of a key is on its way: the
 * requests for that key wait for it (at most SIGNER_FIRST_OCSP_WAIT s)
 * rather than fail. Under signer.mu.
 */
static bool held(struct key_slot *k, time_t now)
{
    if (k->ocsp || k->ocsp_tried || signer.stopping)
        return false;
    if (!k->hold_until)
        k->hold_until = now + SIGNER_FIRST_OCSP_WAIT;
    return now < k->hold_until;
}

/* Under load a batch gathers (see gather.h). Under signer.mu. */
static uint64_t gathering(const struct key_slot *k, uint64_t now_us)
{
    if (signer.stopping)
        return 0;
    return ss_gather_due(k->last_batch_us, k->head->arrived_us, k->queued,
                         signer.cfg->sign_batch_max, signer.cfg->sign_batch_wait_us, now_us);
}

/* Whether k's response may be stapled now (see STAPLE_MARGIN). Under signer.mu. */
static bool staple_usable(const struct key_slot *k, time_t now)
{
    long freshness = signer.trust ? ss_trust_registry(signer.trust)->settings.ocsp_freshness : 0;
    long margin = freshness / 4 < STAPLE_MARGIN ? freshness / 4 : STAPLE_MARGIN;
    return k->ocsp && now + margin < k->ocsp_until;
}

/* The serial of the registry in force, 0 before the first. Under signer.mu. */
static uint64_t serial_in_force(void)
{
    return signer.trust ? ss_trust_registry(signer.trust)->serial : 0;
}

/*
 * The response k holds, judged again under the registry now in force:
 * one that lowered ocspFreshness, or no longer lists its responder, makes
 * it worth less or nothing, and receivers judge it by that registry. Not
 * good any more: it is dropped and renewed at once, and requests wait for
 * the renewal as they do at start (held). The signing thread and the
 * renewal thread both judge, each when the verdict held is of an older
 * registry than the one in force; a verdict is kept only while the response it judged is
 * the one held and no verdict under a newer registry came meanwhile. Under
 * signer.mu, which it drops for the check. false: it could not judge (out
 * of memory).
 */
static bool rejudge(struct key_slot *k)
{
    uint64_t serial = serial_in_force(), gen = k->ocsp_gen;
    size_t len = k->ocsp_len;
    uint8_t *der = signer.trust && k->mat ? malloc(len) : NULL;
    if (!der)
        return false;
    memcpy(der, k->ocsp, len);
    struct key_material *mat = material_ref(k->mat); /* a new one taken meanwhile: gen moved */
    struct ss_der leaf = {mat->cert_der, mat->cert_der_len};
    struct ss_trust *t = ss_trust_ref(signer.trust);
    time_t until = 0;
    pthread_mutex_unlock(&signer.mu);
    ss_error err = ss_trust_ocsp_check(t, &leaf, der, len, NULL, 0, &until);
    ss_trust_unref(t);
    pthread_mutex_lock(&signer.mu);
    material_unref(mat);
    free(der);
    if (k->ocsp_gen != gen || k->ocsp_serial >= serial)
        return true; /* renewed, or judged under a newer registry, meanwhile: that stands */
    if (err) {
        snprintf(k->status, sizeof k->status,
                 "its OCSP response is not good under registry serial %llu (%.180s)",
                 (unsigned long long)serial, ss_errmsg());
        ss_log_info("signer: the OCSP response for %s is not good under registry serial %llu "
                    "(%s); renewing it",
                    k->member_str, (unsigned long long)serial, ss_errmsg());
        free(k->ocsp);
        k->ocsp = NULL;
        k->ocsp_len = 0;
        k->ocsp_gen++;
        k->ocsp_tried = false;
        k->hold_until = 0;
        pthread_cond_broadcast(&signer.renew);
    }
    k->ocsp_until = until;
    k->ocsp_serial = serial;
    return true;
}

static void *signing_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&signer.mu);
    for (;;) {
        size_t pending = 0, ready = 0, held_keys = 0;
        uint64_t now_us = ss_monotonic_us(), wake_us = 0;
        time_t now = time(NULL);
        for (size_t i = 0; i < signer.n_keys; i++) {
            struct key_slot *k = &signer.keys[i];
            if (!k->queued)
                continue;
            pending += k->queued;
            uint64_t due;
            if (held(k, now))
                held_keys++;
            else if ((due = gathering(k, now_us)) != 0)
                wake_us = wake_us && wake_us < due ? wake_us : due;
            else
                ready++;
        }
        if (!ready) {
            if (!pending && signer.stopping)
                break;
            if (!pending) {
                pthread_cond_wait(&signer.work, &signer.mu);
                continue;
            }
            /* held keys look again after a second, gathering ones when due */
            uint64_t sleep_us = held_keys ? 1000000u : 0;
            if (wake_us && (!sleep_us || wake_us - now_us < sleep_us))
                sleep_us = wake_us - now_us;
            struct timespec wake = ss_deadline_after_us(sleep_us);
            pthread_cond_timedwait(&signer.work, &signer.mu, &wake);
            continue;
        }
        for (size_t i = 0; i < signer.n_keys; i++) {
            struct key_slot *k = &signer.keys[i];
            if (!k->queued)
                continue;
            /* a response not yet judged under the registry in force is judged here, before it
             * is stapled, rather than when the renewal thread (perhaps waiting for a responder)
             * gets to it: receivers judge it by that registry. Again if it was renewed
             * meanwhile under an older one. */
            while (k->ocsp && k->ocsp_serial < serial_in_force())
                if (!rejudge(k))
                    break;
            if (!k->queued || held(k, time(NULL)) || gathering(k, ss_monotonic_us()))
                continue;
            k->last_batch_us = ss_monotonic_us();
            /* take up to batch_max of the waiting requests */
            struct request *list = k->head, **cut = &k->head;
            size_t n = 0;
            while (*cut && n < signer.cfg->sign_batch_max) {
                cut = &(*cut)->next;
                n++;
            }
            k->head = *cut;
            *cut = NULL;
            if (!k->head)
                k->tail = &k->head;
            k->queued -= n;
            now = time(NULL);
            struct ss_trust *t = ss_trust_ref(signer.trust);
            struct key_material *mat = material_ref(k->mat);
            bool usable = t && mat && k->ocsp_serial >= serial_in_force() && staple_usable(k, now);
            uint8_t *ocsp = NULL;
            size_t ocsp_len = k->ocsp_len;
            if (usable && (ocsp = malloc(ocsp_len)) != NULL)
                memcpy(ocsp, k->ocsp, ocsp_len);
            char reason[2048];
            snprintf(reason, sizeof reason, "the signing key of %.1500s cannot sign now: %.300s",
                     k->member_str, k->status[0] ? k->status : "no fresh OCSP response");
            signer.batches++;
            signer.signed_messages += n;
            if (n > signer.largest_batch)
                signer.largest_batch = n;
            pthread_mutex_unlock(&signer.mu);
            if (ocsp) {
                sign_batch(mat, t, list, n, ocsp, ocsp_len);
            } else {
                struct ss_serve_batch out = {0};
                for (struct request *r = list; r; r = r->next)
                    answer(&out, r, SS_ERR_CRYPTO, reason, NULL, 0, "", NULL, 0);
                ss_serve_batch_send(&out);
            }
            free(ocsp);
            free_requests(list);
            ss_trust_unref(t);
            pthread_mutex_lock(&signer.mu);
            material_unref(mat);
        }
    }
    pthread_mutex_unlock(&signer.mu);
    return NULL;
}

/* ---- OCSP for the signing certificates ---- */

/*
 * When k's response is renewed: when half of the life it had on arrival is gone, well
 * before receivers refuse it. For a response fresh from the responder that is half the
 * registry's ocspFreshness. One whose nextUpdate is near, or handed out pre-produced and half
 * used up, is asked for again at half its own life, not on every pass of the renewal thread
 * for as long as it lives. Under signer.mu.
 */
static bool renewal_due(const struct key_slot *k, time_t now)
{
    if (!k->ocsp || k->ocsp_until <= now)
        return true;
    time_t at = k->ocsp_at && k->ocsp_at <= now ? k->ocsp_at : now;
    return now >= at + (k->ocsp_until - at) / 2;
}

/* An OCSP response fetched for m's certificate. Under signer.mu, which it drops for the
 * exchange; reason: why there is none ("" when there is). */
struct fetched {
    uint8_t *der;
    size_t len;
    time_t until;
    char reason[256];
};

static ss_error fetch_response(struct key_material *m, struct ss_trust *t, struct fetched *f)
{
    struct ss_der leaf = {m->cert_der, m->cert_der_len};
    *f = (struct fetched){0};
    pthread_mutex_unlock(&signer.mu);
    ss_error err = ss_trust_ocsp_fetch(t, &leaf, &f->der, &f->len, &f->until);
    snprintf(f->reason, sizeof f->reason, "%s", err ? ss_errmsg() : "");
    pthread_mutex_lock(&signer.mu);
    return err;
}

/* k holds f's response from now on, judged under registry serial. Under signer.mu. */
static void hold_response(struct key_slot *k, struct fetched *f, uint64_t serial)
{
    free(k->ocsp);
    k->ocsp = f->der;
    k->ocsp_len = f->len;
    k->ocsp_until = f->until;
    k->ocsp_serial = serial;
    k->ocsp_gen++;
    k->ocsp_at = time(NULL);
    k->status[0] = '\0';
    f->der = NULL;
}

/*
 * The files a SIGHUP found for k: their certificate's first OCSP response, and when it is
 * good they replace the key in force (which signs until then). Under signer.mu, which it
 * drops for the exchange.
 */
static void try_next(struct key_slot *k, struct ss_trust *t, uint64_t serial)
{
    struct key_material *next = material_ref(k->next);
    struct fetched f;
    ss_error err = fetch_response(next, t, &f);
    const char *reason = f.reason;
    if (k->next != next) { /* another SIGHUP meanwhile */
        free(f.der);
    } else if (err == SS_ERR_CERT_REVOKED) { /* final: asking again changes nothing */
        ss_log_error("signer: the new signing certificate of %s is not taken, the key in force "
                     "stays: OCSP: %s",
                     k->member_str, reason);
        material_unref(k->next);
        k->next = NULL;
    } else if (err) {
        if (strcmp(reason, k->next_status) != 0)
            ss_log_warn("signer: the new signing certificate of %s is not in force yet, the one "
                        "before signs: OCSP: %s",
                        k->member_str, reason);
        snprintf(k->next_status, sizeof k->next_status, "%s", reason);
        unsigned shift = k->next_tries < 8 ? k->next_tries : 8;
        time_t wait = (time_t)2 << shift;
        k->next_retry = time(NULL) + (wait < 300 ? wait : 300);
        k->next_tries++;
    } else {
        struct key_material *old = k->mat;
        k->mat = next; /* the slot's reference moves */
        k->next = NULL;
        k->next_status[0] = '\0';
        material_unref(old);
        hold_response(k, &f, serial);
        k->ocsp_tried = true;
        char *subject = X509_NAME_oneline(X509_get_subject_name(next->cert), NULL, 0);
        ss_log_info("signer: the new signing certificate of %s is in force (%s)", k->member_str,
                    subject ? subject : "?");
        OPENSSL_free(subject);
        pthread_cond_broadcast(&signer.work);
    }
    material_unref(next);
}

static void *ocsp_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&signer.mu);
    while (!signer.stopping) {
        struct ss_trust *t = ss_trust_ref(signer.trust);
        time_t now = time(NULL);
        uint64_t serial = t ? ss_trust_registry(t)->serial : 0;
        for (size_t i = 0; t && i < signer.n_keys; i++) {
            struct key_slot *k = &signer.keys[i];
            if (k->next && now >= k->next_retry)
                try_next(k, t, serial);
            if (k->mat && k->ocsp && k->ocsp_serial < serial_in_force())
                (void)rejudge(k); /* out of memory: the next pass judges it */
            if (!k->mat || !renewal_due(k, now))
                continue;
            struct key_material *mat = material_ref(k->mat);
            struct fetched f;
            ss_error err = fetch_response(mat, t, &f);
            bool replaced = k->mat != mat; /* by a SIGHUP's, with its own response */
            material_unref(mat);
            if (replaced) {
                free(f.der);
                continue;
            }
            k->ocsp_tried = true;
            pthread_cond_broadcast(&signer.work); /* requests held for it go on */
            if (err) {
                snprintf(k->status, sizeof k->status, "%s", f.reason);
                ss_log_warn("signer: OCSP for the signing certificate of %s: %s", k->member_str,
                            f.reason);
                continue;
            }
            hold_response(k, &f, serial);
        }
        ss_trust_unref(t);
        struct timespec wake = ss_deadline_after_us(2000000u);
        pthread_cond_timedwait(&signer.renew, &signer.mu, &wake);
    }
    pthread_mutex_unlock(&signer.mu);
    return NULL;
}

/* ---- requests ---- */

static void take_registry(struct ss_ipc_msg *m)
{
    struct ss_regstore_handed h;
    if (!ss_regstore_read(m, &h)) {
        ss_log_error("signer: malformed registry message");
        abort();
    }
    pthread_mutex_lock(&signer.mu);
    uint64_t floor = signer.trust ? ss_trust_registry(signer.trust)->serial : 0;
    bool same = signer.trust && memcmp(h.sha256, signer.registry_sha256, 32) == 0;
    pthread_mutex_unlock(&signer.mu);
    if (same)
        return;
    /* verified here again: the network process is not trusted with it */
    struct ss_trust *t = NULL;
    ss_error err = ss_regstore_verify(&h, &signer.anchor, floor, &t);
    if (err) {
        ss_log_warn("signer: registry refused: %s", ss_errmsg());
        return;
    }
    pthread_mutex_lock(&signer.mu);
    struct ss_trust *old = signer.trust;
    signer.trust = t;
    memcpy(signer.registry_sha256, h.sha256, 32);
    pthread_cond_broadcast(&signer.renew);
    pthread_mutex_unlock(&signer.mu);
    ss_trust_unref(old);
    ss_log_info("signer: registry serial %llu in force",
                (unsigned long long)ss_trust_registry(t)->serial);
}

static void take_sign(ss_link link, struct ss_ipc_msg *m)
{
    struct ss_ipc_reader r;
    ss_ipc_reader_init(&r, m);
    char member[SS_ID_STR_MAX];
    ss_ipc_get_str(&r, member, sizeof member);
    size_t len = 0;
    const uint8_t *manifest = ss_ipc_get_bytes(&r, SS_MANIFEST_MAX, &len);
    if (!ss_ipc_reader_done(&r) || len == 0) {
        ss_log_error("signer: malformed signing request");
        abort();
    }
    struct request *req = calloc(1, sizeof *req);
    uint8_t *copy = malloc(len);
    struct ss_client_id id;
    struct key_slot *k = NULL;
    if (ss_client_id_parse(member, strlen(member), SS_ID_PART_MAX, false, &id) == SS_OK)
        for (size_t i = 0; i < signer.n_keys && !k; i++)
            if (ss_client_id_equal(&signer.keys[i].member, &id))
                k = &signer.keys[i];
    if (!req || !copy || !k) {
        struct request tmp = {.link = link, .id = m->id};
        char reason[SS_ID_STR_MAX + 64];
        snprintf(reason, sizeof reason, "%s", k ? "out of memory" : "no signing key for member ");
        if (!k)
            snprintf(reason, sizeof reason, "no signing key for member %.1500s", member);
        answer(NULL, &tmp, k ? SS_ERR_NOMEM : SS_ERR_CONFIG, reason, NULL, 0, "", NULL, 0);
        free(req);
        free(copy);
        return;
    }
    memcpy(copy, manifest, len);
    req->link = link;
    req->id = m->id;
    req->manifest = copy;
    req->len = len;
    req->arrived_us = ss_monotonic_us();
    pthread_mutex_lock(&signer.mu);
    *k->tail = req;
    k->tail = &req->next;
    k->queued++;
    pthread_cond_signal(&signer.work);
    pthread_mutex_unlock(&signer.mu);
}

ss_error ss_signer_status_read(const struct ss_ipc_msg *m, struct ss_signer_status *out)
{
    memset(out, 0, sizeof *out);
    struct ss_ipc_reader r;
    ss_ipc_reader_init(&r, m);
    uint32_t n = ss_ipc_get_u32(&r);
    if (n > 4096 || (n && !(out->keys = calloc(n, sizeof *out->keys))))
        return ss_errf(SS_ERR_PROTOCOL, "a malformed signer status");
    for (uint32_t i = 0; i < n && !r.failed; i++) {
        struct ss_signer_key_status *k = &out->keys[i];
        ss_ipc_get_str(&r, k->member, sizeof k->member);
        k->usable = ss_ipc_get_u32(&r) != 0;
        ss_ipc_get_str(&r, k->why, sizeof k->why);
        k->ocsp_until = ss_ipc_get_u64(&r);
        k->ocsp_at = ss_ipc_get_u64(&r);
        out->n++;
    }
    out->batches = ss_ipc_get_u64(&r);
    out->messages = ss_ipc_get_u64(&r);
    out->largest_batch = ss_ipc_get_u64(&r);
    if (ss_ipc_reader_done(&r))
        return SS_OK;
    ss_signer_status_cleanup(out);
    return ss_errf(SS_ERR_PROTOCOL, "a malformed signer status");
}

void ss_signer_status_cleanup(struct ss_signer_status *s)
{
    free(s->keys);
    memset(s, 0, sizeof *s);
}

static void take_status(ss_link link, const struct ss_ipc_msg *m)
{
    struct ss_ipc_buf b = {0};
    time_t now = time(NULL);
    pthread_mutex_lock(&signer.mu);
    ss_ipc_put_u32(&b, (uint32_t)signer.n_keys);
    for (size_t i = 0; i < signer.n_keys; i++) {
        const struct key_slot *k = &signer.keys[i];
        bool usable = staple_usable(k, now);
        ss_ipc_put_str(&b, k->member_str);
        ss_ipc_put_u32(&b, usable);
        ss_ipc_put_str(&b, usable ? "" : k->status[0] ? k->status : "OCSP response not fresh");
        ss_ipc_put_u64(&b, (uint64_t)k->ocsp_until);
        ss_ipc_put_u64(&b, (uint64_t)k->ocsp_at);
    }
    ss_ipc_put_u64(&b, signer.batches);
    ss_ipc_put_u64(&b, signer.signed_messages);
    ss_ipc_put_u64(&b, signer.largest_batch);
    pthread_mutex_unlock(&signer.mu);
    ss_serve_reply(link, SS_IPC_SIGNER_STATE, m->id, &b);
    ss_ipc_buf_cleanup(&b);
}

/*
 * A signing key's files as the parent read them on SIGHUP (the signer cannot, once its
 * privileges are gone): checked as at start, and put in force once its certificate has a good
 * OCSP response (try_next). Files that do not do leave the key in force, and the log says why.
 */
static void take_signing_key(struct ss_ipc_msg *m)
{
    struct ss_ipc_reader r;
    ss_ipc_reader_init(&r, m);
    uint32_t i = ss_ipc_get_u32(&r);
    char member[SS_ID_STR_MAX];
    ss_ipc_get_str(&r, member, sizeof member);
    size_t key_len = 0, cert_len = 0;
    const uint8_t *key = ss_ipc_get_bytes(&r, SS_SIGNING_FILE_MAX, &key_len);
    const uint8_t *cert = ss_ipc_get_bytes(&r, SS_SIGNING_FILE_MAX, &cert_len);
    if (!ss_ipc_reader_done(&r) || i >= signer.n_keys ||
        strcmp(member, signer.keys[i].member_str) != 0) {
        ss_log_error("signer: malformed signing key message");
        abort();
    }
    const struct ss_signing_key *sk = &signer.cfg->keys[i];
    struct key_slot *k = &signer.keys[i];
    EVP_PKEY *token_key = NULL;
    if (ss_hsm_is_uri(sk->key_file)) {
        /* the key stays the one the token gave at start: a renewed certificate for it */
        pthread_mutex_lock(&signer.mu);
        if (k->mat && EVP_PKEY_up_ref(k->mat->key) == 1)
            token_key = k->mat->key;
        pthread_mutex_unlock(&signer.mu);
        if (!token_key) {
            ss_log_error("SIGHUP: the signing key of %s stays out of force: its token refused "
                         "at start; a restart tries it again",
                         k->member_str);
            return;
        }
    }
    struct key_material *mat = NULL;
    ss_error err = material_parse(signer.cfg, sk, key, key_len, token_key, cert, cert_len, &mat);
    sodium_memzero(m->payload, m->len);
    if (err) {
        ss_log_error("SIGHUP: the signing key of %s in force stays: %s", k->member_str,
                     ss_errmsg());
        return;
    }
    pthread_mutex_lock(&signer.mu);
    bool current = k->mat && material_same(k->mat, mat);
    bool pending = k->next && material_same(k->next, mat);
    if (current || pending) {
        if (current && k->next) /* the files in force put back: the rotation is called off */
            ss_log_info("SIGHUP: the new signing certificate of %s is not taken: the files "
                        "hold the one in force again",
                        k->member_str);
        if (current) {
            material_unref(k->next);
            k->next = NULL;
        }
        material_unref(mat);
        pthread_mutex_unlock(&signer.mu);
        return;
    }
    material_unref(k->next);
    k->next = mat;
    k->next_status[0] = '\0';
    k->next_retry = 0;
    k->next_tries = 0;
    pthread_cond_broadcast(&signer.renew);
    pthread_mutex_unlock(&signer.mu);
    ss_log_info("SIGHUP: a new signing key of %s, in force once an OCSP response says its "
                "certificate is good",
                k->member_str);
}

static void handle(void *cls, ss_link link, struct ss_ipc_msg *m)
{
    (void)cls;
    if (link == SS_SERVE_PARENT) { /* the parent sends links, and the keys' files on SIGHUP */
        if (m->type != SS_IPC_SIGNING_KEY) {
            ss_log_error("signer: IPC message type %u from the parent", m->type);
            abort();
        }
        take_signing_key(m);
        ss_ipc_msg_cleanup(m);
        return;
    }
    switch (m->type) {
    case SS_IPC_SIGN:
        take_sign(link, m);
        break;
    case SS_IPC_REGISTRY:
        take_registry(m);
        break;
    case SS_IPC_SIGNER_STATUS:
        take_status(link, m);
        break;
    default:
        ss_log_error("signer: unexpected IPC message type %u", m->type);
        abort();
    }
    ss_ipc_msg_cleanup(m);
}

int ss_signer_main(const struct ss_config *cfg, int ctl, int link)
{
    ss_proc_child_setup("signer", true);
    signer.cfg = cfg;
    ss_cond_init(&signer.work);
    ss_cond_init(&signer.renew);
    int status = 1;
    pthread_t signing, ocsp;
    bool signing_runs = false, ocsp_runs = false;
    /* everything that needs the files, before the privileges go */
    if (ss_reg_anchor_load(cfg->registry_anchor, &signer.anchor) != SS_OK) {
        ss_log_error("signer: %s", ss_errmsg());
        goto out;
    }
    signer.keys = calloc(cfg->n_keys ? cfg->n_keys : 1, sizeof *signer.keys);
    if (!signer.keys)
        goto out;
    for (size_t i = 0; i < cfg->n_keys; i++) {
        if (load_key(cfg, &cfg->keys[i], &signer.keys[i]) != SS_OK) {
            ss_log_error("signer: %s", ss_errmsg());
            if (!ss_hsm_is_uri(cfg->keys[i].key_file))
                goto out;
            /* a token that refuses (PIN, module, no token): the member cannot sign, and health
             * and the refusals say why, until the signer is restarted */
            struct key_slot *k = &signer.keys[i];
            memset(k, 0, sizeof *k);
            k->member = cfg->keys[i].member;
            (void)ss_client_id_format(&k->member, k->member_str, sizeof k->member_str);
            k->tail = &k->head;
            k->ocsp_tried = true;
            snprintf(k->status, sizeof k->status, "%s", ss_errmsg());
        }
        signer.n_keys++;
    }
    if (ss_proc_drop(cfg->user) != SS_OK) {
        ss_log_error("signer: %s", ss_errmsg());
        goto out;
    }
    /* each one that started is joined before the keys it reads are freed */
    signing_runs = pthread_create(&signing, NULL, signing_main, NULL) == 0;
    ocsp_runs = signing_runs && pthread_create(&ocsp, NULL, ocsp_main, NULL) == 0;
    if (!ocsp_runs) {
        ss_log_error("signer: cannot start its threads");
        goto out;
    }
    ss_log_info("signer: %zu signing keys loaded", signer.n_keys);
    ss_proc_ready(ctl);
    status = ss_serve_run(ctl, link, SIGNER_FRAME_MAX, handle, NULL);
out:
    pthread_mutex_lock(&signer.mu);
    signer.stopping = true;
    pthread_cond_broadcast(&signer.work);
    pthread_cond_broadcast(&signer.renew);
    pthread_mutex_unlock(&signer.mu);
    if (signing_runs)
        pthread_join(signing, NULL);
    if (ocsp_runs)
        pthread_join(ocsp, NULL);
    for (size_t i = 0; i < signer.n_keys; i++) {
        free_requests(signer.keys[i].head);
        key_cleanup(&signer.keys[i]);
    }
    free(signer.keys);
    ss_trust_unref(signer.trust);
    ss_reg_anchor_cleanup(&signer.anchor);
    return status;
}
