#include "budget.h"

#include <stdatomic.h>
#include <stdlib.h>

static _Atomic size_t budget_max;
static _Atomic size_t budget_used;

void ss_budget_init(size_t max_bytes)
{
    atomic_store(&budget_max, max_bytes);
}

bool ss_budget_take(size_t n)
{
    size_t max = atomic_load(&budget_max);
    size_t used = atomic_load(&budget_used);
    do {
        if (max && (n > max || used > max - n))
            return false;
    } while (!atomic_compare_exchange_weak(&budget_used, &used, used + n));
    return true;
}

void ss_budget_give(size_t n)
{
    atomic_fetch_sub(&budget_used, n);
}

size_t ss_budget_used(void)
{
    return atomic_load(&budget_used);
}

ss_error ss_budget_grow(uint8_t **buf, size_t *cap, size_t need, size_t max_cap)
{
    if (need <= *cap)
        return SS_OK;
    if (need > max_cap)
        return SS_ERR_TOO_LARGE;
    size_t grown = *cap ? *cap : 8192;
    while (grown < need)
        grown *= 2;
    if (grown > max_cap)
        grown = max_cap;
    if (!ss_budget_take(grown - *cap))
        return SS_ERR_BUSY;
    uint8_t *b = realloc(*buf, grown);
    if (!b) {
        ss_budget_give(grown - *cap);
        return SS_ERR_NOMEM;
    }
    *buf = b;
    *cap = grown;
    return SS_OK;
}

void ss_budget_free(uint8_t **buf, size_t *cap)
{
    free(*buf);
    ss_budget_give(*cap);
    *buf = NULL;
    *cap = 0;
}
