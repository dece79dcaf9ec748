#include "ss_hex.h"

#include <stddef.h>

int ss_hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool ss_hex_sha256_parse(const char *hex, uint8_t out[32])
{
    size_t k = 0;
    for (const char *p = hex; *p; p++) {
        if (*p == ':')
            continue;
        int d = ss_hex_digit(*p);
        if (d < 0 || k == 64)
            return false;
        if (k % 2 == 0)
            out[k / 2] = (uint8_t)(d << 4);
        else
            out[k / 2] |= (uint8_t)d;
        k++;
    }
    return k == 64;
}

void ss_hex_sha256_format(const uint8_t in[32], char out[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[64] = '\0';
}
