#include "ss_grow.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

bool ss_grow(void *items, size_t *cap, size_t need, size_t size, size_t first)
{
    if (need <= *cap)
        return true;
    size_t n = *cap ? *cap : (first ? first : 1);
    while (n < need) {
        if (n > SIZE_MAX / 2)
            return false;
        n *= 2;
    }
    if (size && n > SIZE_MAX / size)
        return false;
    void *old;
    memcpy(&old, items, sizeof old);
    void *more = realloc(old, n * size);
    if (!more)
        return false;
    memcpy(items, &more, sizeof more);
    *cap = n;
    return true;
}
