/* The fuzz input as a NUL-terminated string (malloc'd; NULL when out of memory). */
#ifndef SS_FUZZ_TEXT_H
#define SS_FUZZ_TEXT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline char *fuzz_text(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s) {
        memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}

#endif
