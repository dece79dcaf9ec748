/*
 * ss_grow: room in a growing array, one rule for every buffer and list:
 * capacity doubles (from first elements), so appending n items costs
 * O(n) copies in all.
 */
#ifndef SS_GROW_H
#define SS_GROW_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Makes *items (of *cap elements of size bytes each) hold at least need
 * elements, reallocating when it must. False (nothing changed) when out of
 * memory or the size would overflow.
 */
bool ss_grow(void *items, size_t *cap, size_t need, size_t size, size_t first);

#endif
