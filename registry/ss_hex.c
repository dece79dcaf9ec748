#include "ss_hex.h"

#include <stddef.h>

/* 0-15 for a hex digit, 0xff for anything else (each hash of a log audit goes through here) */
static const uint8_t digit_value[256] = {
    ['0'] = 0,  ['1'] = 1,  ['2'] = 2,  ['3'] = 3,  ['4'] = 4,  ['5'] = 5,  ['6'] = 6,  ['7'] = 7,
    ['8'] = 8,  ['9'] = 9,  ['a'] = 10, ['b'] = 11, ['c'] = 12, ['d'] = 13, ['e'] = 14, ['f'] = 15,
    ['A'] = 10, ['B'] = 11, ['C'] = 12, ['D'] = 13, ['E'] = 14, ['F'] = 15,
};

int ss_hex_digit(char c)
{
    unsigned char u = (unsigned char)c;
    if (digit_value[u] == 0 && u != '0')
        return -1;
    return digit_value[u];
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

long ss_hex_percent_decode(const char *src, size_t n, bool plus_space, char *dst, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = src[i];
        if (c == '%') {
            int hi = n - i >= 3 ? ss_hex_digit(src[i + 1]) : -1;
            int lo = hi >= 0 ? ss_hex_digit(src[i + 2]) : -1;
            if (lo < 0)
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_space) {
            c = ' ';
        }
        if (o + 1 >= size)
            return -1;
        dst[o++] = c;
    }
    if (size == 0)
        return -1;
    dst[o] = '\0';
    return (long)o;
}
