/*
 * ss-evidence — makes and serves secsrv message evidence for the
 * integration tests, from the documented formats alone (manifest,
 * envelope, batch document: secsrv/msglog/README.md), written here a
 * second time on purpose so that the tests do not check secsrv against
 * itself. It signs with OpenSSL's CMS API and lets a test get each part
 * wrong on purpose.
 *
 *   ss-evidence request [options]   prints the four evidence header fields
 *                                   for a request, one "Name: value" per line
 *   ss-evidence serve [options]     an HTTPS server in the place of a provider's
 *                                   security server: it answers every request
 *                                   with a signed answer bound to it (or not:
 *                                   a path with "/fault-NAME" in it chooses a
 *                                   fault, else --fault does)
 *   ss-evidence ocsp [options]      writes an OCSP response about --cert,
 *                                   signed by --responder-cert/--responder-key,
 *                                   --age SECONDS old, --status good|revoked,
 *                                   to --out (a stale one, for the tests)
 *
 * Options for both: --key FILE --cert FILE (PEM; the rest of the file is
 * the chain) --ocsp FILE (DER response to staple) --time-offset SECONDS
 * (manifest time and signing time) --batch (sign as the first of two
 * messages of a batch) --fault NAME. For request: --method --target
 * --client --service --query-id --request-id [--purpose] [--subject-hash
 * HEX] [--header "Name: value"]... [--body FILE]. Faults of request:
 * body (sign another body), header (sign another value of the first
 * header), signature (flip a byte of the signature), path (a wrong
 * sibling in the inclusion path), no-ess (no signing-certificate-v2).
 * For serve: --tls-cert --tls-key (the registered server's) --port-file;
 * faults: binding (the request's manifest digest is wrong), body (the
 * body changes after signing), unsigned (no evidence), status (the
 * manifest names another status).
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#define MAX_FIELDS 64
#define MAX_TEXT 16384

struct field {
    char name[256];
    char value[4096];
};

struct options {
    const char *key, *cert, *ocsp, *fault;
    long time_offset;
    bool batch;
    /* request */
    const char *method, *target, *client, *service, *query_id, *request_id, *purpose, *subject_hash,
        *body_file;
    struct field fields[MAX_FIELDS];
    size_t n_fields;
    /* serve */
    const char *tls_cert, *tls_key, *port_file;
    /* ocsp */
    const char *issuer, *responder_cert, *responder_key, *status, *out;
    long age;
};

static struct options opt;
static const char *default_fault; /* serve: the fault when the path names none */
static EVP_PKEY *key;
static X509 *cert;
static STACK_OF(X509) * chain;
static unsigned char *ocsp_der;
static size_t ocsp_len;

static void die(const char *what)
{
    fprintf(stderr, "ss-evidence: %s\n", what);
    unsigned long e = ERR_get_error();
    if (e)
        fprintf(stderr, "ss-evidence: %s\n", ERR_error_string(e, NULL));
    exit(1);
}

static unsigned char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path);
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(f);
    if (!buf)
        die("out of memory");
    *len = n;
    return buf;
}

static void sha256(const void *p, size_t n, unsigned char out[32])
{
    unsigned int len = 32;
    if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1)
        die("sha256");
}

static void hex(const unsigned char *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", p[i]);
}

static char *base64(const unsigned char *p, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (!out)
        die("out of memory");
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

/* ---- digests, as the envelope documents them ---- */

static bool hop_by_hop(const char *name)
{
    static const char *const skip[] = {"Connection",
                                       "Keep-Alive",
                                       "Proxy-Authenticate",
                                       "Proxy-Authorization",
                                       "Proxy-Connection",
                                       "TE",
                                       "Trailer",
                                       "Transfer-Encoding",
                                       "Upgrade",
                                       "Host",
                                       "User-Agent",
                                       "Server",
                                       "Content-Length",
                                       "Expect",
                                       "Date",
                                       "X-Secsrv-Manifest",
                                       "X-Secsrv-Signature",
                                       "X-Secsrv-Signature-Path",
                                       "X-Secsrv-Ocsp"};
    for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
        if (strcasecmp(name, skip[i]) == 0)
            return true;
    return false;
}

static int by_name(const void *a, const void *b)
{
    const struct field *const *x = a, *const *y = b;
    int c = strcasecmp((*x)->name, (*y)->name);
    return c ? c : (*x < *y ? -1 : 1); /* stable */
}

static void fields_digest(const struct field *f, size_t n, unsigned char out[32])
{
    const struct field *order[MAX_FIELDS];
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (!hop_by_hop(f[i].name))
            order[k++] = &f[i];
    qsort(order, k, sizeof order[0], by_name);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int len = 32;
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    for (size_t i = 0; i < k; i++) {
        char lower[256];
        size_t j = 0;
        for (; order[i]->name[j] && j < sizeof lower - 1; j++) {
            char c = order[i]->name[j];
            lower[j] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
        }
        EVP_DigestUpdate(md, lower, j);
        EVP_DigestUpdate(md, ": ", 2);
        EVP_DigestUpdate(md, order[i]->value, strlen(order[i]->value));
        EVP_DigestUpdate(md, "\r\n", 2);
    }
    EVP_DigestFinal_ex(md, out, &len);
    EVP_MD_CTX_free(md);
}

static void put_hash(char *m, size_t size, const char *key_name, const unsigned char h[32])
{
    char text[65];
    hex(h, 32, text);
    size_t used = strlen(m);
    snprintf(m + used, size - used, "%s: %s\n", key_name, text);
}

static void put(char *m, size_t size, const char *key_name, const char *value)
{
    size_t used = strlen(m);
    snprintf(m + used, size - used, "%s: %s\n", key_name, value);
}

static void when(long offset, char out[32])
{
    time_t t = time(NULL) + offset;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* ---- signing ---- */

static unsigned char *cms_sign(const void *content, size_t len, size_t *der_len)
{
    unsigned flags = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
    if (!opt.fault || strcmp(opt.fault, "no-ess") != 0)
        flags |= CMS_CADES;
    BIO *in = BIO_new_mem_buf(content, (int)len);
    CMS_ContentInfo *cms = CMS_sign(NULL, NULL, chain, NULL, flags);
    CMS_SignerInfo *si = cms ? CMS_add1_signer(cms, cert, key, EVP_sha256(), flags) : NULL;
    if (!si)
        die("cannot add the signer");
    ASN1_TIME *t = ASN1_TIME_adj(NULL, time(NULL), 0, opt.time_offset);
    if (!t || !CMS_signed_add1_attr_by_NID(si, NID_pkcs9_signingTime, t->type, t, -1))
        die("cannot set the signing time");
    ASN1_TIME_free(t);
    if (CMS_final(cms, in, NULL, flags) != 1)
        die("signing failed");
    unsigned char *der = NULL;
    int n = i2d_CMS_ContentInfo(cms, &der);
    if (n <= 0)
        die("cannot encode");
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    if (opt.fault && strcmp(opt.fault, "signature") == 0)
        der[n - 5] ^= 1; /* inside the signature value, at the end */
    *der_len = (size_t)n;
    return der;
}

/* H(0x00 || data) and H(0x01 || l || r), as the hash trees document them. */
static void leaf(const void *data, size_t len, unsigned char out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int n = 32;
    const unsigned char tag = 0;
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, &tag, 1);
    EVP_DigestUpdate(md, data, len);
    EVP_DigestFinal_ex(md, out, &n);
    EVP_MD_CTX_free(md);
}

static void node(const unsigned char l[32], const unsigned char r[32], unsigned char out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int n = 32;
    const unsigned char tag = 1;
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, &tag, 1);
    EVP_DigestUpdate(md, l, 32);
    EVP_DigestUpdate(md, r, 32);
    EVP_DigestFinal_ex(md, out, &n);
    EVP_MD_CTX_free(md);
}

/* The four evidence fields for manifest, as "Name: value" lines into out. */
static void evidence(const char *manifest, char *out, size_t size)
{
    unsigned char *cms;
    size_t cms_len;
    char path[160] = "-";
    if (opt.batch) {
        /* this message is leaf 0 of a batch of two; the other is another manifest */
        unsigned char l0[32], l1[32], root[32];
        const char other[] = "secsrv-manifest: 1\nkind: request\n(another message)\n";
        leaf(manifest, strlen(manifest), l0);
        leaf(other, sizeof other - 1, l1);
        node(l0, l1, root);
        char doc[128], h[65];
        hex(root, 32, h);
        snprintf(doc, sizeof doc, "secsrv-batch-root: %s\n", h);
        cms = cms_sign(doc, strlen(doc), &cms_len);
        if (opt.fault && strcmp(opt.fault, "path") == 0)
            l1[0] ^= 1;
        hex(l1, 32, h);
        snprintf(path, sizeof path, "R %s", h);
    } else {
        cms = cms_sign(manifest, strlen(manifest), &cms_len);
    }
    char *m64 = base64((const unsigned char *)manifest, strlen(manifest));
    char *s64 = base64(cms, cms_len);
    char *o64 = base64(ocsp_der, ocsp_len);
    /* an empty field is written "Name;" (curl's way to send one) */
    snprintf(out, size,
             "X-Secsrv-Manifest: %s\nX-Secsrv-Signature: %s\nX-Secsrv-Signature-Path: %s\n"
             "X-Secsrv-Ocsp%s%s\n",
             m64, s64, path, o64[0] ? ": " : ";", o64);
    free(m64);
    free(s64);
    free(o64);
    OPENSSL_free(cms);
}

static void load_signer(void)
{
    if (!opt.key || !opt.cert || !opt.ocsp)
        die("--key, --cert and --ocsp are required");
    FILE *f = fopen(opt.key, "r");
    key = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    f = fopen(opt.cert, "r");
    cert = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    chain = sk_X509_new_null();
    X509 *x;
    while (f && (x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
        sk_X509_push(chain, x);
    if (f)
        fclose(f);
    ERR_clear_error();
    if (!key || !cert)
        die("cannot read the key or the certificate");
    ocsp_der = read_file(opt.ocsp, &ocsp_len);
}

/* ---- request ---- */

static int request(void)
{
    if (!opt.method || !opt.target || !opt.client || !opt.service || !opt.query_id ||
        !opt.request_id)
        die("request needs --method --target --client --service --query-id --request-id");
    load_signer();
    size_t body_len = 0;
    unsigned char *body = opt.body_file ? read_file(opt.body_file, &body_len) : NULL;
    unsigned char line[32], headers[32], digest[32];
    char first_line[8192];
    snprintf(first_line, sizeof first_line, "%s %s", opt.method, opt.target);
    sha256(first_line, strlen(first_line), line);
    struct field signed_fields[MAX_FIELDS];
    memcpy(signed_fields, opt.fields, sizeof signed_fields);
    if (opt.fault && strcmp(opt.fault, "header") == 0 && opt.n_fields)
        snprintf(signed_fields[0].value, sizeof signed_fields[0].value, "%s",
                 "a value that was not sent");
    fields_digest(signed_fields, opt.n_fields, headers);
    if (opt.fault && strcmp(opt.fault, "body") == 0) {
        static const char other[] = "a body that was not sent";
        sha256(other, sizeof other - 1, digest);
    } else {
        sha256(body ? body : (const unsigned char *)"", body_len, digest);
    }
    char manifest[MAX_TEXT] = "", t[32];
    when(opt.time_offset, t);
    put(manifest, sizeof manifest, "secsrv-manifest", "1");
    put(manifest, sizeof manifest, "kind", "request");
    put(manifest, sizeof manifest, "time", t);
    put(manifest, sizeof manifest, "query-id", opt.query_id);
    put(manifest, sizeof manifest, "request-id", opt.request_id);
    put(manifest, sizeof manifest, "client", opt.client);
    put(manifest, sizeof manifest, "service", opt.service);
    put(manifest, sizeof manifest, "purpose", opt.purpose ? opt.purpose : "-");
    put(manifest, sizeof manifest, "subject-hash", opt.subject_hash ? opt.subject_hash : "-");
    put_hash(manifest, sizeof manifest, "request-line-sha256", line);
    put_hash(manifest, sizeof manifest, "headers-sha256", headers);
    put_hash(manifest, sizeof manifest, "body-sha256", digest);
    static char out[65536];
    evidence(manifest, out, sizeof out);
    fputs(out, stdout);
    free(body);
    return 0;
}

/* ---- serve ---- */

struct pending {
    char *target;
    struct field fields[MAX_FIELDS];
    size_t n_fields;
    EVP_MD_CTX *body;
    size_t body_len;
};

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    struct pending *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->target = strdup(uri);
    p->body = EVP_MD_CTX_new();
    EVP_DigestInit_ex(p->body, EVP_sha512(), NULL);
    return p;
}

static enum MHD_Result collect(void *cls, enum MHD_ValueKind kind, const char *k, const char *v)
{
    (void)kind;
    struct pending *p = cls;
    if (p->n_fields < MAX_FIELDS) {
        snprintf(p->fields[p->n_fields].name, sizeof p->fields[0].name, "%s", k);
        snprintf(p->fields[p->n_fields].value, sizeof p->fields[0].value, "%s", v ? v : "");
        p->n_fields++;
    }
    return MHD_YES;
}

static const char *field(const struct pending *p, const char *name)
{
    const char *v = NULL;
    for (size_t i = 0; i < p->n_fields; i++)
        if (strcasecmp(p->fields[i].name, name) == 0)
            v = p->fields[i].value;
    return v;
}

/*
 * The X-Road request hash: base64(SHA-512(SHA-512(headers) || SHA-512(body))),
 * or base64(SHA-512(headers)) without a body; headers the request line and
 * the end-to-end fields as received, names in lower case.
 */
static void request_hash(const char *method, struct pending *p, char out[100])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char hh[64], hb[64], fin[64];
    unsigned int n = 64;
    EVP_DigestInit_ex(md, EVP_sha512(), NULL);
    EVP_DigestUpdate(md, method, strlen(method));
    EVP_DigestUpdate(md, " ", 1);
    EVP_DigestUpdate(md, p->target, strlen(p->target));
    EVP_DigestUpdate(md, "\r\n", 2);
    for (size_t i = 0; i < p->n_fields; i++) {
        const char *name = p->fields[i].name;
        if (hop_by_hop(name) && strcasecmp(name, "Date") != 0)
            continue;
        for (const char *c = name; *c; c++) {
            char l = (*c >= 'A' && *c <= 'Z') ? (char)(*c - 'A' + 'a') : *c;
            EVP_DigestUpdate(md, &l, 1);
        }
        EVP_DigestUpdate(md, ": ", 2);
        EVP_DigestUpdate(md, p->fields[i].value, strlen(p->fields[i].value));
        EVP_DigestUpdate(md, "\r\n", 2);
    }
    EVP_DigestFinal_ex(md, hh, &n);
    const unsigned char *result = hh;
    if (p->body_len) {
        EVP_DigestFinal_ex(p->body, hb, &n);
        EVP_DigestInit_ex(md, EVP_sha512(), NULL);
        EVP_DigestUpdate(md, hh, 64);
        EVP_DigestUpdate(md, hb, 64);
        EVP_DigestFinal_ex(md, fin, &n);
        result = fin;
    }
    EVP_MD_CTX_free(md);
    EVP_EncodeBlock((unsigned char *)out, result, 64);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)cls;
    (void)url;
    (void)version;
    struct pending *p = *con_cls;
    if (!p)
        return MHD_NO;
    if (*upload_size) {
        EVP_DigestUpdate(p->body, upload, *upload_size);
        p->body_len += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    if (p->n_fields == 0)
        MHD_get_connection_values(c, MHD_HEADER_KIND, collect, p);
    /* the fault of this request: from its path, else the one given at start */
    static char fault[32];
    const char *f = strstr(p->target, "/fault-");
    if (f) {
        size_t n = strcspn(f + 7, "/?");
        snprintf(fault, sizeof fault, "%.*s", (int)(n < sizeof fault ? n : sizeof fault - 1),
                 f + 7);
        opt.fault = fault;
    } else {
        opt.fault = default_fault;
    }
    char hash[100];
    request_hash(method, p, hash);
    /* the request's manifest, as it came */
    const char *m64 = field(p, "X-Secsrv-Manifest");
    unsigned char manifest_digest[32] = {0};
    if (m64) {
        size_t n = strlen(m64);
        unsigned char *m = malloc(n + 1);
        int len = m ? EVP_DecodeBlock(m, (const unsigned char *)m64, (int)n) : -1;
        while (len > 0 && n > 0 && m64[n - 1] == '=') {
            len--;
            n--;
        }
        if (len > 0)
            sha256(m, (size_t)len, manifest_digest);
        free(m);
    }
    if (opt.fault && strcmp(opt.fault, "binding") == 0)
        manifest_digest[0] ^= 1;
    static const char body[] = "{\"id\":\"P-1001\",\"source\":\"ss-evidence\"}";
    const char *client = field(p, "X-Road-Client"), *qid = field(p, "X-Road-Id"),
               *rid = field(p, "X-Road-Request-Id");
    char service[1024];
    snprintf(service, sizeof service, "%s", p->target + (strncmp(p->target, "/r1/", 4) ? 0 : 4));
    /* INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE: the first five parts of the path */
    char *s = service;
    for (int parts = 0; *s; s++)
        if (*s == '/' && ++parts == 5)
            break;
    *s = '\0';
    struct field out[8];
    size_t n_out = 0;
#define OUT(n, v)                                                                                  \
    do {                                                                                           \
        snprintf(out[n_out].name, sizeof out[0].name, "%s", n);                                    \
        snprintf(out[n_out].value, sizeof out[0].value, "%s", v);                                  \
        n_out++;                                                                                   \
    } while (0)
    OUT("Content-Type", "application/json");
    OUT("X-Road-Id", qid ? qid : "-");
    OUT("X-Road-Client", client ? client : "-");
    OUT("X-Road-Service", service);
    OUT("X-Road-Request-Id", rid ? rid : "-");
    OUT("X-Road-Request-Hash", hash);
#undef OUT
    static char evidence_fields[65536];
    evidence_fields[0] = '\0';
    if (!opt.fault || strcmp(opt.fault, "unsigned") != 0) {
        unsigned char line[32], headers[32], digest[32];
        unsigned status = opt.fault && strcmp(opt.fault, "status") == 0 ? 201 : 200;
        char st[8], t[32];
        snprintf(st, sizeof st, "%03u", status);
        sha256(st, 3, line);
        fields_digest(out, n_out, headers);
        sha256(body, sizeof body - 1, digest);
        char manifest[MAX_TEXT] = "";
        when(opt.time_offset, t);
        put(manifest, sizeof manifest, "secsrv-manifest", "1");
        put(manifest, sizeof manifest, "kind", "response");
        put(manifest, sizeof manifest, "time", t);
        put(manifest, sizeof manifest, "query-id", qid ? qid : "-");
        put(manifest, sizeof manifest, "request-id", rid ? rid : "-");
        put(manifest, sizeof manifest, "client", client ? client : "-");
        put(manifest, sizeof manifest, "service", service);
        const char *purpose = field(p, "X-Secsrv-Purpose");
        put(manifest, sizeof manifest, "purpose", purpose ? purpose : "-");
        put(manifest, sizeof manifest, "subject-hash", "-");
        snprintf(st, sizeof st, "%u", status);
        put(manifest, sizeof manifest, "status", st);
        put_hash(manifest, sizeof manifest, "request-manifest-sha256", manifest_digest);
        put_hash(manifest, sizeof manifest, "status-line-sha256", line);
        put_hash(manifest, sizeof manifest, "headers-sha256", headers);
        put_hash(manifest, sizeof manifest, "body-sha256", digest);
        evidence(manifest, evidence_fields, sizeof evidence_fields);
    }
    const char *sent = opt.fault && strcmp(opt.fault, "body") == 0
                           ? "{\"id\":\"P-9999\",\"source\":\"ss-evidence\"}"
                           : body;
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(sent), (void *)(uintptr_t)sent,
                                                             MHD_RESPMEM_MUST_COPY);
    for (size_t i = 0; i < n_out; i++)
        MHD_add_response_header(r, out[i].name, out[i].value);
    for (char *l = evidence_fields; *l;) {
        char *nl = strchr(l, '\n');
        char *colon = strchr(l, ':');
        if (!nl || !colon)
            break;
        *nl = '\0';
        *colon = '\0';
        MHD_add_response_header(r, l, colon + 2);
        l = nl + 1;
    }
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    fprintf(stderr, "ss-evidence: %s %s answered (fault %s)\n", method, p->target,
            opt.fault ? opt.fault : "none");
    return ret;
}

static void on_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)c;
    (void)code;
    struct pending *p = *con_cls;
    if (p) {
        EVP_MD_CTX_free(p->body);
        free(p->target);
        free(p);
    }
    *con_cls = NULL;
}

static int serve(void)
{
    if (!opt.tls_cert || !opt.tls_key || !opt.port_file)
        die("serve needs --tls-cert --tls-key --port-file");
    load_signer();
    default_fault = opt.fault;
    size_t n;
    char *tls_cert = (char *)read_file(opt.tls_cert, &n);
    tls_cert = realloc(tls_cert, n + 1);
    tls_cert[n] = '\0';
    char *tls_key = (char *)read_file(opt.tls_key, &n);
    tls_key = realloc(tls_key, n + 1);
    tls_key[n] = '\0';
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_TLS | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        on_request, NULL, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_HTTPS_MEM_CERT, tls_cert,
        MHD_OPTION_HTTPS_MEM_KEY, tls_key, MHD_OPTION_URI_LOG_CALLBACK, on_uri, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, on_done, NULL, MHD_OPTION_END);
    if (!d)
        die("cannot serve");
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", opt.port_file);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%u\n", info ? info->port : 0) < 0 || fclose(f) != 0 ||
        rename(tmp, opt.port_file) != 0)
        die("cannot write the port file");
    fprintf(stderr, "ss-evidence: serving on 127.0.0.1:%u\n", info ? info->port : 0);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    free(tls_cert);
    free(tls_key);
    return 0;
}

/* ---- ocsp ---- */

static X509 *read_cert(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (!x)
        die(path);
    return x;
}

static int ocsp(void)
{
    if (!opt.cert || !opt.issuer || !opt.responder_cert || !opt.responder_key || !opt.out)
        die("ocsp needs --cert --issuer --responder-cert --responder-key --out");
    X509 *subject = read_cert(opt.cert), *issuer = read_cert(opt.issuer),
         *rcert = read_cert(opt.responder_cert);
    FILE *f = fopen(opt.responder_key, "r");
    EVP_PKEY *rkey = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (!rkey)
        die(opt.responder_key);
    OCSP_CERTID *id = OCSP_cert_to_id(NULL, subject, issuer);
    OCSP_BASICRESP *basic = OCSP_BASICRESP_new();
    ASN1_TIME *this_update = ASN1_TIME_adj(NULL, time(NULL), 0, -opt.age);
    bool revoked = opt.status && strcmp(opt.status, "revoked") == 0;
    if (!id || !basic || !this_update ||
        !OCSP_basic_add1_status(basic, id,
                                revoked ? V_OCSP_CERTSTATUS_REVOKED : V_OCSP_CERTSTATUS_GOOD,
                                revoked ? OCSP_REVOKED_STATUS_KEYCOMPROMISE : 0,
                                revoked ? this_update : NULL, this_update, NULL) ||
        !OCSP_basic_sign(basic, rcert, rkey, EVP_sha256(), NULL, 0))
        die("cannot make the OCSP response");
    OCSP_RESPONSE *resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic);
    unsigned char *der = NULL;
    int n = resp ? i2d_OCSP_RESPONSE(resp, &der) : -1;
    FILE *o = fopen(opt.out, "wb");
    if (n <= 0 || !o || fwrite(der, 1, (size_t)n, o) != (size_t)n || fclose(o) != 0)
        die("cannot write the OCSP response");
    OPENSSL_free(der);
    OCSP_RESPONSE_free(resp);
    ASN1_TIME_free(this_update);
    OCSP_BASICRESP_free(basic);
    OCSP_CERTID_free(id);
    EVP_PKEY_free(rkey);
    X509_free(rcert);
    X509_free(issuer);
    X509_free(subject);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        die("usage: ss-evidence request|serve [options] (see the source's opening comment)");
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--batch") == 0) {
            opt.batch = true;
            continue;
        }
        if (i + 1 >= argc)
            die("an option needs a value");
        const char *v = argv[++i];
        if (strcmp(a, "--key") == 0)
            opt.key = v;
        else if (strcmp(a, "--cert") == 0)
            opt.cert = v;
        else if (strcmp(a, "--ocsp") == 0)
            opt.ocsp = v;
        else if (strcmp(a, "--fault") == 0)
            opt.fault = v;
        else if (strcmp(a, "--time-offset") == 0)
            opt.time_offset = strtol(v, NULL, 10);
        else if (strcmp(a, "--method") == 0)
            opt.method = v;
        else if (strcmp(a, "--target") == 0)
            opt.target = v;
        else if (strcmp(a, "--client") == 0)
            opt.client = v;
        else if (strcmp(a, "--service") == 0)
            opt.service = v;
        else if (strcmp(a, "--query-id") == 0)
            opt.query_id = v;
        else if (strcmp(a, "--request-id") == 0)
            opt.request_id = v;
        else if (strcmp(a, "--purpose") == 0)
            opt.purpose = v;
        else if (strcmp(a, "--subject-hash") == 0)
            opt.subject_hash = v;
        else if (strcmp(a, "--body") == 0)
            opt.body_file = v;
        else if (strcmp(a, "--tls-cert") == 0)
            opt.tls_cert = v;
        else if (strcmp(a, "--tls-key") == 0)
            opt.tls_key = v;
        else if (strcmp(a, "--port-file") == 0)
            opt.port_file = v;
        else if (strcmp(a, "--issuer") == 0)
            opt.issuer = v;
        else if (strcmp(a, "--responder-cert") == 0)
            opt.responder_cert = v;
        else if (strcmp(a, "--responder-key") == 0)
            opt.responder_key = v;
        else if (strcmp(a, "--status") == 0)
            opt.status = v;
        else if (strcmp(a, "--out") == 0)
            opt.out = v;
        else if (strcmp(a, "--age") == 0)
            opt.age = strtol(v, NULL, 10);
        else if (strcmp(a, "--header") == 0) {
            const char *colon = strchr(v, ':');
            if (!colon || opt.n_fields == MAX_FIELDS)
                die("--header needs 'Name: value'");
            struct field *f = &opt.fields[opt.n_fields++];
            snprintf(f->name, sizeof f->name, "%.*s", (int)(colon - v), v);
            const char *val = colon + 1;
            while (*val == ' ')
                val++;
            snprintf(f->value, sizeof f->value, "%s", val);
        } else
            die("unknown option");
    }
    if (strcmp(argv[1], "request") == 0)
        return request();
    if (strcmp(argv[1], "serve") == 0)
        return serve();
    if (strcmp(argv[1], "ocsp") == 0)
        return ocsp();
    die("the mode is request, serve or ocsp");
    return 1;
}
