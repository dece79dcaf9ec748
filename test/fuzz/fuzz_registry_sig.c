/*
 * Fuzz target for the registry signature check (registry/registry_sig.c):
 * the input goes to ss_registry_verify_signature() as the detached CMS
 * signature over the fixed document of the test PKI's samples
 * (samples/registry_sig/content.txt), once with the registry authority's
 * certificate pinned and once with the rogue look-alike's. Needs
 * SS_TEST_PKI (deploy/pki.sh); without it the target says so and aborts.
 * The committed corpus holds small DER made by hand and signatures of a
 * throwaway PKI (attached, SHA-1, look-alike signers); the signatures that
 * verify come from the PKI's samples/registry_sig/.
 *
 * Invariants: no input is accepted under both pins; an accepted signature
 * is exactly one DER CMS SignedData, detached, with one signer, and is
 * refused over the document with any one byte changed.
 */
#include "registry/registry.h"

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CONTENT_MAX 65536
#define N_ANCHORS 2

static const char *const anchor_files[N_ANCHORS] = {"registry-authority.pem",
                                                    "rogue/registry-authority.pem"};

static struct fixture {
    struct ss_reg_anchor anchor[N_ANCHORS];
    uint8_t content[CONTENT_MAX];
    size_t content_len;
} fx;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_registry_sig: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static void pki_path(char *out, size_t size, const char *pki, const char *rel)
{
    int r = snprintf(out, size, "%s/%s", pki, rel);
    if (r < 0 || (size_t)r >= size)
        die("path too long", rel);
}

static void fixture_init(void)
{
    const char *pki = getenv("SS_TEST_PKI");
    if (!pki || !*pki)
        die("SS_TEST_PKI is not set", "point it at a PKI made by deploy/pki.sh DIR");
    char path[4096];
    for (int i = 0; i < N_ANCHORS; i++) {
        pki_path(path, sizeof path, pki, anchor_files[i]);
        if (ss_reg_anchor_load(path, &fx.anchor[i]) != SS_OK)
            die("cannot load the pinned certificate", ss_errmsg());
    }
    pki_path(path, sizeof path, pki, "samples/registry_sig/content.txt");
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open (re-run deploy/pki.sh to add samples/)", path);
    fx.content_len = fread(fx.content, 1, sizeof fx.content, f);
    if (ferror(f) || !feof(f) || fx.content_len == 0)
        die("cannot read the signed content", path);
    fclose(f);
}

/* An accepted signature: exactly one detached DER SignedData with one signer. */
static void confirm_form(const uint8_t *data, size_t size)
{
    if (size == 0 || size > SS_REGISTRY_SIG_MAX_BYTES)
        die("accepted a signature of out-of-range size", NULL);
    const unsigned char *p = data;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)size);
    if (!cms || p != data + size)
        die("accepted bytes that are not exactly one DER CMS structure", NULL);
    if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed || !CMS_is_detached(cms))
        die("accepted something other than a detached SignedData", NULL);
    if (sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms)) != 1)
        die("accepted a signature without exactly one signer", NULL);
    CMS_ContentInfo_free(cms);
    ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        fixture_init();
        ready = true;
    }
    int accepted = 0;
    for (int i = 0; i < N_ANCHORS; i++) {
        ss_error err =
            ss_registry_verify_signature(fx.content, fx.content_len, data, size, &fx.anchor[i]);
        if (err == SS_ERR_BAD_SIGNATURE || err == SS_ERR_NOMEM) {
            if (!*ss_errmsg())
                die("refused without a reason", NULL);
            continue;
        }
        if (err != SS_OK)
            die("unexpected error code", ss_error_name(err));
        accepted++;
        confirm_form(data, size);
        /* bound to every byte of the document: a few positions, each changed */
        size_t at[] = {0, fx.content_len / 2, fx.content_len - 1};
        for (size_t k = 0; k < sizeof at / sizeof at[0]; k++) {
            fx.content[at[k]] ^= 0x01;
            err =
                ss_registry_verify_signature(fx.content, fx.content_len, data, size, &fx.anchor[i]);
            fx.content[at[k]] ^= 0x01;
            if (err != SS_ERR_BAD_SIGNATURE)
                die("accepted a signature over a changed document", ss_error_name(err));
        }
        /* and to its length */
        if (ss_registry_verify_signature(fx.content, fx.content_len - 1, data, size,
                                         &fx.anchor[i]) != SS_ERR_BAD_SIGNATURE)
            die("accepted a signature over a truncated document", NULL);
    }
    if (accepted > 1)
        die("accepted under two different pinned certificates", NULL);
    return 0;
}
