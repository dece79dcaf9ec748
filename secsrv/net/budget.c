#include "budget.h"

#include <stdatomic.h>

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
