#include "listing.h"
#include "certfile.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static const char *const states[] = {"SH", "MV"};

static void fingerprint_hex(const uint8_t sha[32], char out[65])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[sha[i] >> 4];
        out[2 * i + 1] = hex[sha[i] & 0x0f];
    }
    out[64] = '\0';
}

static void client_ref(const struct ss_client_id *id, char *buf, size_t size)
{
    if (!ss_client_id_format_local(id, buf, size))
        snprintf(buf, size, "?");
}

/* Fills info for a certificate blob; false (and a placeholder subject) if it does not decode. */
static bool describe(const struct ss_reg_blob *blob, struct ss_cert_info *info)
{
    if (blob->der && ss_certfile_describe(blob->der, blob->len, info) == SS_OK)
        return true;
    memset(info, 0, sizeof *info);
    snprintf(info->subject, sizeof info->subject, "(certificate does not decode)");
    return false;
}

static ss_error finish(FILE *out)
{
    if (fflush(out) != 0 || ferror(out))
        return ss_errf(SS_ERR_IO, "cannot write the listing");
    return SS_OK;
}

/* ---- text ---- */

static void text_cert(FILE *out, const char *indent, const char *label,
                      const struct ss_reg_blob *blob)
{
    struct ss_cert_info info;
    char from[21], until[21];
    if (!describe(blob, &info)) {
        fprintf(out, "%s%-13s%s\n", indent, label, info.subject);
        return;
    }
    ss_time_format(info.not_before, from);
    ss_time_format(info.not_after, until);
    fprintf(out, "%s%-13s%s\n", indent, label, info.subject);
    fprintf(out, "%s%-13s%s .. %s\n", indent, "", from, until);
}

static void text_members(FILE *out, const struct ss_registry *reg)
{
    fprintf(out, "members (%zu)\n", reg->n_members);
    for (size_t s = 0; s < sizeof states / sizeof states[0]; s++) {
        size_t n = 0;
        for (size_t i = 0; i < reg->n_members; i++)
            if (strcmp(reg->members[i].state, states[s]) == 0)
                n++;
        fprintf(out, "  %s (%zu)\n", states[s], n);
        for (size_t i = 0; i < reg->n_members; i++) {
            const struct ss_reg_member *m = &reg->members[i];
            if (strcmp(m->state, states[s]) != 0)
                continue;
            fprintf(out, "    %s/%s  %s\n", m->member_class, m->member_code, m->name);
            for (size_t k = 0; k < m->n_subsystems; k++)
                fprintf(out, "      subsystem %s\n", m->subsystems[k]);
        }
    }
}

static void text_servers(FILE *out, const struct ss_registry *reg)
{
    char ref[SS_ID_STR_MAX], fp[65];
    fprintf(out, "security servers (%zu)\n", reg->n_servers);
    for (size_t i = 0; i < reg->n_servers; i++) {
        const struct ss_reg_server *s = &reg->servers[i];
        client_ref(&s->owner, ref, sizeof ref);
        fprintf(out, "  %s/%s  %s\n", ref, s->code, s->address);
        for (size_t k = 0; k < s->n_auth; k++) {
            fingerprint_hex(s->auth_sha256[k], fp);
            fprintf(out, "    auth SHA-256 %s\n", fp);
        }
        for (size_t k = 0; k < s->n_clients; k++) {
            client_ref(&s->clients[k], ref, sizeof ref);
            fprintf(out, "    client %s\n", ref);
        }
    }
}

static void text_groups(FILE *out, const struct ss_registry *reg)
{
    char ref[SS_ID_STR_MAX];
    fprintf(out, "global groups (%zu)\n", reg->n_groups);
    for (size_t i = 0; i < reg->n_groups; i++) {
        const struct ss_reg_group *g = &reg->groups[i];
        fprintf(out, "  %s  %s\n", g->code, g->description);
        for (size_t k = 0; k < g->n_members; k++) {
            client_ref(&g->members[k], ref, sizeof ref);
            fprintf(out, "    member %s\n", ref);
        }
    }
}

static void text_authorities(FILE *out, const struct ss_registry *reg)
{
    fprintf(out, "certification authorities (%zu)\n", reg->n_cas);
    for (size_t i = 0; i < reg->n_cas; i++) {
        const struct ss_reg_ca *ca = &reg->cas[i];
        fprintf(out, "  \"%s\"\n", ca->name);
        text_cert(out, "    ", "certificate", &ca->cert);
        for (size_t k = 0; k < ca->n_intermediates; k++)
            text_cert(out, "    ", "intermediate", &ca->intermediates[k]);
        for (size_t k = 0; k < ca->n_ocsp; k++) {
            fprintf(out, "    %-13s%s\n", "OCSP", ca->ocsp[k].url);
            text_cert(out, "    ", "OCSP signer", &ca->ocsp[k].cert);
        }
    }
    fprintf(out, "time-stamping authorities (%zu)\n", reg->n_tsas);
    for (size_t i = 0; i < reg->n_tsas; i++) {
        const struct ss_reg_tsa *t = &reg->tsas[i];
        fprintf(out, "  \"%s\"  %s\n", t->name, t->url);
        text_cert(out, "    ", "certificate", &t->cert);
    }
}

ss_error ss_listing_text(FILE *out, const char *name, const struct ss_registry *reg, time_t now)
{
    char issued[21], expires[21];
    ss_time_format(reg->issued, issued);
    ss_time_format(reg->expires, expires);
    fprintf(out, "registry %s\n", name);
    fprintf(out, "  instance  %s\n", reg->instance);
    fprintf(out, "  serial    %llu\n", (unsigned long long)reg->serial);
    fprintf(out, "  issued    %s\n", issued);
    fprintf(out, "  expires   %s%s\n", expires, ss_registry_expired(reg, now) ? "  (expired)" : "");
    fprintf(out, "settings\n");
    fprintf(out, "  ocspFreshness         %ld s\n", reg->settings.ocsp_freshness);
    fprintf(out, "  timestampingInterval  %ld s\n", reg->settings.timestamping_interval);
    fprintf(out, "  registryValidity      %ld s\n", reg->settings.registry_validity);
    fprintf(out, "  refreshInterval       %ld s\n", reg->settings.refresh_interval);
    fprintf(out, "member classes (%zu)\n", reg->n_classes);
    for (size_t i = 0; i < reg->n_classes; i++)
        fprintf(out, "  %s  %s\n", reg->classes[i].code, reg->classes[i].description);
    text_members(out, reg);
    text_servers(out, reg);
    text_groups(out, reg);
    text_authorities(out, reg);
    return finish(out);
}

/* ---- JSON ---- */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if it is not one. */
static size_t utf8_seq(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

static void json_str(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    fputc('"', out);
    while (*p) {
        unsigned char c = *p;
        if (c == '"' || c == '\\') {
            fputc('\\', out);
            fputc(c, out);
            p++;
        } else if (c == '\n') {
            fputs("\\n", out);
            p++;
        } else if (c == '\r') {
            fputs("\\r", out);
            p++;
        } else if (c == '\t') {
            fputs("\\t", out);
            p++;
        } else if (c < 0x20 || c == 0x7f) {
            fprintf(out, "\\u%04x", c);
            p++;
        } else {
            size_t n = utf8_seq(p);
            if (n == 0) {
                fputs("\\ufffd", out);
                p++;
            } else {
                fwrite(p, 1, n, out);
                p += n;
            }
        }
    }
    fputc('"', out);
}

/* Writes "key": "value" with a leading comma unless first. */
static void json_kv(FILE *out, bool first, const char *key, const char *value)
{
    if (!first)
        fputc(',', out);
    json_str(out, key);
    fputc(':', out);
    json_str(out, value);
}

static void json_cert(FILE *out, const struct ss_reg_blob *blob)
{
    struct ss_cert_info info;
    char from[21] = "", until[21] = "", fp[65] = "";
    bool ok = describe(blob, &info);
    if (ok) {
        ss_time_format(info.not_before, from);
        ss_time_format(info.not_after, until);
        if (ss_certfile_sha256_hex(blob->der, blob->len, fp) != SS_OK)
            fp[0] = '\0';
    }
    fputc('{', out);
    json_kv(out, true, "subject", ok ? info.subject : "");
    json_kv(out, false, "notBefore", from);
    json_kv(out, false, "notAfter", until);
    json_kv(out, false, "sha256", fp);
    fputc('}', out);
}

static void json_client_list(FILE *out, const struct ss_client_id *ids, size_t n)
{
    char ref[SS_ID_STR_MAX];
    fputc('[', out);
    for (size_t k = 0; k < n; k++) {
        if (k)
            fputc(',', out);
        client_ref(&ids[k], ref, sizeof ref);
        json_str(out, ref);
    }
    fputc(']', out);
}

static void json_members(FILE *out, const struct ss_registry *reg)
{
    fputs(",\"members\":[", out);
    for (size_t i = 0; i < reg->n_members; i++) {
        const struct ss_reg_member *m = &reg->members[i];
        fputs(i ? ",{" : "{", out);
        json_kv(out, true, "class", m->member_class);
        json_kv(out, false, "code", m->member_code);
        json_kv(out, false, "name", m->name);
        json_kv(out, false, "state", m->state);
        fputs(",\"subsystems\":[", out);
        for (size_t k = 0; k < m->n_subsystems; k++) {
            if (k)
                fputc(',', out);
            json_str(out, m->subsystems[k]);
        }
        fputs("]}", out);
    }
    fputc(']', out);
}

static void json_servers(FILE *out, const struct ss_registry *reg)
{
    char ref[SS_ID_STR_MAX], fp[65];
    fputs(",\"securityServers\":[", out);
    for (size_t i = 0; i < reg->n_servers; i++) {
        const struct ss_reg_server *s = &reg->servers[i];
        client_ref(&s->owner, ref, sizeof ref);
        fingerprint_hex(s->auth_sha256[0], fp);
        fputs(i ? ",{" : "{", out);
        json_kv(out, true, "owner", ref);
        json_kv(out, false, "code", s->code);
        json_kv(out, false, "address", s->address);
        json_kv(out, false, "authSha256", fp);
        fputs(",\"authCertificates\":[", out);
        for (size_t k = 1; k < s->n_auth; k++) {
            fingerprint_hex(s->auth_sha256[k], fp);
            fprintf(out, "%s\"%s\"", k > 1 ? "," : "", fp);
        }
        fputc(']', out);
        fputs(",\"clients\":", out);
        json_client_list(out, s->clients, s->n_clients);
        fputc('}', out);
    }
    fputc(']', out);
}

static void json_groups(FILE *out, const struct ss_registry *reg)
{
    fputs(",\"globalGroups\":[", out);
    for (size_t i = 0; i < reg->n_groups; i++) {
        const struct ss_reg_group *g = &reg->groups[i];
        fputs(i ? ",{" : "{", out);
        json_kv(out, true, "code", g->code);
        json_kv(out, false, "description", g->description);
        fputs(",\"members\":", out);
        json_client_list(out, g->members, g->n_members);
        fputc('}', out);
    }
    fputc(']', out);
}

static void json_authorities(FILE *out, const struct ss_registry *reg)
{
    fputs(",\"certificationAuthorities\":[", out);
    for (size_t i = 0; i < reg->n_cas; i++) {
        const struct ss_reg_ca *ca = &reg->cas[i];
        fputs(i ? ",{" : "{", out);
        json_kv(out, true, "name", ca->name);
        fputs(",\"certificate\":", out);
        json_cert(out, &ca->cert);
        fputs(",\"intermediates\":[", out);
        for (size_t k = 0; k < ca->n_intermediates; k++) {
            if (k)
                fputc(',', out);
            json_cert(out, &ca->intermediates[k]);
        }
        fputs("],\"ocspResponders\":[", out);
        for (size_t k = 0; k < ca->n_ocsp; k++) {
            fputs(k ? ",{" : "{", out);
            json_kv(out, true, "url", ca->ocsp[k].url);
            fputs(",\"certificate\":", out);
            json_cert(out, &ca->ocsp[k].cert);
            fputc('}', out);
        }
        fputs("]}", out);
    }
    fputs("],\"timestampingAuthorities\":[", out);
    for (size_t i = 0; i < reg->n_tsas; i++) {
        const struct ss_reg_tsa *t = &reg->tsas[i];
        fputs(i ? ",{" : "{", out);
        json_kv(out, true, "name", t->name);
        json_kv(out, false, "url", t->url);
        fputs(",\"certificate\":", out);
        json_cert(out, &t->cert);
        fputc('}', out);
    }
    fputc(']', out);
}

ss_error ss_listing_json(FILE *out, const char *name, const struct ss_registry *reg, time_t now)
{
    char issued[21], expires[21];
    ss_time_format(reg->issued, issued);
    ss_time_format(reg->expires, expires);
    fputc('{', out);
    json_kv(out, true, "file", name);
    json_kv(out, false, "instance", reg->instance);
    fprintf(out, ",\"serial\":%llu", (unsigned long long)reg->serial);
    json_kv(out, false, "issued", issued);
    json_kv(out, false, "expires", expires);
    fprintf(out, ",\"expired\":%s", ss_registry_expired(reg, now) ? "true" : "false");
    fprintf(out,
            ",\"settings\":{\"ocspFreshness\":%ld,\"timestampingInterval\":%ld,"
            "\"registryValidity\":%ld,\"refreshInterval\":%ld}",
            reg->settings.ocsp_freshness, reg->settings.timestamping_interval,
            reg->settings.registry_validity, reg->settings.refresh_interval);
    fputs(",\"memberClasses\":[", out);
    for (size_t i = 0; i < reg->n_classes; i++) {
        fputs(i ? ",{" : "{", out);
        json_kv(out, true, "code", reg->classes[i].code);
        json_kv(out, false, "description", reg->classes[i].description);
        fputc('}', out);
    }
    fputc(']', out);
    json_members(out, reg);
    json_servers(out, reg);
    json_groups(out, reg);
    json_authorities(out, reg);
    fputs("}\n", out);
    return finish(out);
}
