/* A record as the network process sends it to the logger (record_ipc.h). */
#include "record_ipc.h"

#include <string.h>

void ss_record_put(struct ss_ipc_buf *b, const struct ss_record *r)
{
    ss_ipc_put_str(b, r->side);
    ss_ipc_put_str(b, r->direction);
    ss_ipc_put_str(b, r->query_id);
    ss_ipc_put_str(b, r->request_id);
    ss_ipc_put_str(b, r->client);
    ss_ipc_put_str(b, r->service);
    ss_ipc_put_str(b, r->purpose);
    ss_ipc_put_bytes(b, r->subject_hash, r->has_subject ? 32 : 0);
    ss_ipc_put_u32(b, r->status);
    ss_ipc_put_str(b, r->error_type);
    ss_ipc_put_u64(b, (uint64_t)r->retain_until);
    ss_ipc_put_bytes(b, r->message_sha256, 32);
    ss_ipc_put_u32(b, r->message != NULL);
    ss_ipc_put_bytes(b, r->message, r->message ? r->message_len : 0);
    ss_ipc_put_bytes(b, r->manifest, r->manifest_len);
    ss_ipc_put_bytes(b, r->signature, r->signature_len);
    ss_ipc_put_str(b, r->sig_path);
    ss_ipc_put_bytes(b, r->ocsp, r->ocsp_len);
}

static bool one_of(const char *s, const char *a, const char *b)
{
    return strcmp(s, a) == 0 || strcmp(s, b) == 0;
}

bool ss_record_get(struct ss_ipc_reader *rd, struct ss_record *r)
{
    memset(r, 0, sizeof *r);
    size_t n = 0;
    ss_ipc_get_str(rd, r->side, sizeof r->side);
    ss_ipc_get_str(rd, r->direction, sizeof r->direction);
    ss_ipc_get_str(rd, r->query_id, sizeof r->query_id);
    ss_ipc_get_str(rd, r->request_id, sizeof r->request_id);
    ss_ipc_get_str(rd, r->client, sizeof r->client);
    ss_ipc_get_str(rd, r->service, sizeof r->service);
    ss_ipc_get_str(rd, r->purpose, sizeof r->purpose);
    const uint8_t *subject = ss_ipc_get_bytes(rd, 32, &n);
    if (subject && n == 32) {
        memcpy(r->subject_hash, subject, 32);
        r->has_subject = true;
    } else if (n != 0) {
        return false;
    }
    r->status = ss_ipc_get_u32(rd);
    ss_ipc_get_str(rd, r->error_type, sizeof r->error_type);
    r->retain_until = (int64_t)ss_ipc_get_u64(rd);
    const uint8_t *digest = ss_ipc_get_bytes(rd, 32, &n);
    if (!digest || n != 32)
        return false;
    memcpy(r->message_sha256, digest, 32);
    uint32_t has_message = ss_ipc_get_u32(rd);
    r->message = ss_ipc_get_bytes(rd, SS_RECORD_MESSAGE_MAX, &r->message_len);
    if (!has_message)
        r->message = NULL;
    r->manifest = ss_ipc_get_bytes(rd, 65536, &r->manifest_len);
    r->signature = ss_ipc_get_bytes(rd, 65536, &r->signature_len);
    ss_ipc_get_str(rd, r->sig_path, sizeof r->sig_path);
    r->ocsp = ss_ipc_get_bytes(rd, 65536, &r->ocsp_len);
    if (!r->manifest_len)
        r->manifest = NULL;
    if (!r->signature_len)
        r->signature = NULL;
    if (!r->ocsp_len)
        r->ocsp = NULL;
    return !rd->failed && one_of(r->side, "client", "server") &&
           one_of(r->direction, "request", "response") && has_message <= 1;
}
