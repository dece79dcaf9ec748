#include "ss_id.h"
#include "ss_hex.h"

#include <stdio.h>
#include <string.h>

static bool id_char_ok(unsigned char c)
{
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
        return true;
    return c != '\0' && strchr("'()+,-.=?", c) != NULL;
}

bool ss_id_part_valid(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max || len > SS_ID_PART_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!id_char_ok((unsigned char)s[i]))
            return false;
    return true;
}

ss_error ss_id_part_decode(const char *s, size_t len, size_t max, char *out)
{
    size_t n = 0;
    if (max > SS_ID_PART_MAX)
        max = SS_ID_PART_MAX;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '%') {
            if (len - i < 3)
                return ss_errf(SS_ERR_BAD_IDENTIFIER, "truncated percent escape in identifier");
            int hi = ss_hex_digit(s[i + 1]);
            int lo = ss_hex_digit(s[i + 2]);
            if (hi < 0 || lo < 0)
                return ss_errf(SS_ERR_BAD_IDENTIFIER, "malformed percent escape in identifier");
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        }
        if (!id_char_ok(c))
            return ss_errf(SS_ERR_BAD_IDENTIFIER, "character 0x%02x not allowed in identifier", c);
        if (n >= max)
            return ss_errf(SS_ERR_BAD_IDENTIFIER, "identifier part longer than %zu bytes", max);
        out[n++] = (char)c;
    }
    if (n == 0)
        return ss_errf(SS_ERR_BAD_IDENTIFIER, "empty identifier part");
    out[n] = '\0';
    return SS_OK;
}

/* Splits s[0..len) at '/' into at most nmax parts; returns the count or -1. */
static int split_parts(const char *s, size_t len, const char **part, size_t *plen, int nmax)
{
    int n = 0;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '/') {
            if (n == nmax)
                return -1;
            part[n] = s + start;
            plen[n] = i - start;
            n++;
            start = i + 1;
        }
    }
    return n;
}

/* Splits s into min to 4 parts and decodes each into dst (what: the form, for the reason). */
static ss_error decode_parts(const char *s, size_t len, size_t max, int min, char *const dst[4],
                             const char *what)
{
    const char *part[4];
    size_t plen[4];
    int n = split_parts(s, len, part, plen, 4);
    if (n < min || n > 4)
        return ss_errf(SS_ERR_BAD_IDENTIFIER, "%s", what);
    dst[3][0] = '\0';
    for (int i = 0; i < n; i++) {
        ss_error err = ss_id_part_decode(part[i], plen[i], max, dst[i]);
        if (err)
            return err;
    }
    return SS_OK;
}

ss_error ss_client_id_parse(const char *s, size_t len, size_t max, bool require_subsystem,
                            struct ss_client_id *out)
{
    char *const dst[4] = {out->instance, out->member_class, out->member_code, out->subsystem};
    return decode_parts(s, len, max, require_subsystem ? 4 : 3, dst,
                        require_subsystem
                            ? "client identifier must be INSTANCE/CLASS/MEMBER/SUBSYSTEM"
                            : "client identifier must be INSTANCE/CLASS/MEMBER[/SUBSYSTEM]");
}

ss_error ss_server_id_parse(const char *s, size_t len, size_t max, struct ss_server_id *out)
{
    char *const dst[4] = {out->owner.instance, out->owner.member_class, out->owner.member_code,
                          out->code};
    out->owner.subsystem[0] = '\0';
    return decode_parts(s, len, max, 4, dst,
                        "security server identifier must be INSTANCE/CLASS/MEMBER/SERVERCODE");
}

ss_error ss_client_id_parse_local(const char *s, const char *instance, struct ss_client_id *out)
{
    const char *part[3];
    size_t plen[3];
    size_t len = strlen(s);
    int n = split_parts(s, len, part, plen, 3);
    if (n < 2)
        return ss_errf(SS_ERR_BAD_IDENTIFIER, "'%.64s' is not CLASS/MEMBER[/SUBSYSTEM]", s);
    size_t ilen = strlen(instance);
    if (!ss_id_part_valid(instance, ilen, SS_ID_PART_MAX))
        return ss_errf(SS_ERR_BAD_IDENTIFIER, "bad instance identifier");
    memcpy(out->instance, instance, ilen + 1);
    char *dst[3] = {out->member_class, out->member_code, out->subsystem};
    out->subsystem[0] = '\0';
    for (int i = 0; i < n; i++) {
        if (!ss_id_part_valid(part[i], plen[i], SS_ID_PART_MAX))
            return ss_errf(SS_ERR_BAD_IDENTIFIER, "'%.64s' has an empty or invalid part", s);
        memcpy(dst[i], part[i], plen[i]);
        dst[i][plen[i]] = '\0';
    }
    return SS_OK;
}

static bool fits(int r, size_t size)
{
    return r >= 0 && (size_t)r < size;
}

bool ss_client_id_format(const struct ss_client_id *id, char *buf, size_t size)
{
    int r = snprintf(buf, size, "%s/%s/%s%s%s", id->instance, id->member_class, id->member_code,
                     id->subsystem[0] ? "/" : "", id->subsystem);
    return fits(r, size);
}

bool ss_server_id_format(const struct ss_server_id *id, char *buf, size_t size)
{
    const struct ss_client_id *o = &id->owner;
    int r =
        snprintf(buf, size, "%s/%s/%s/%s", o->instance, o->member_class, o->member_code, id->code);
    return fits(r, size);
}

bool ss_client_id_format_local(const struct ss_client_id *id, char *buf, size_t size)
{
    int r = snprintf(buf, size, "%s/%s%s%s", id->member_class, id->member_code,
                     id->subsystem[0] ? "/" : "", id->subsystem);
    return fits(r, size);
}

bool ss_service_id_format(const struct ss_service_id *id, char *buf, size_t size)
{
    const struct ss_client_id *p = &id->provider;
    int r = snprintf(buf, size, "%s/%s/%s%s%s/%s%s%s", p->instance, p->member_class, p->member_code,
                     p->subsystem[0] ? "/" : "", p->subsystem, id->service_code,
                     id->service_version[0] ? "/" : "", id->service_version);
    return fits(r, size);
}

bool ss_client_id_same_member(const struct ss_client_id *a, const struct ss_client_id *b)
{
    return strcmp(a->instance, b->instance) == 0 && strcmp(a->member_class, b->member_class) == 0 &&
           strcmp(a->member_code, b->member_code) == 0;
}

bool ss_client_id_equal(const struct ss_client_id *a, const struct ss_client_id *b)
{
    return ss_client_id_same_member(a, b) && strcmp(a->subsystem, b->subsystem) == 0;
}

bool ss_visible_ascii(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

bool ss_server_id_equal(const struct ss_server_id *a, const struct ss_server_id *b)
{
    return ss_client_id_same_member(&a->owner, &b->owner) && strcmp(a->code, b->code) == 0;
}
