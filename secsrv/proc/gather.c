#include "gather.h"

#include <time.h>

uint64_t ss_monotonic_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

uint64_t ss_gather_due(uint64_t last_take_us, uint64_t first_arrived_us, size_t queued, size_t max,
                       uint64_t wait_us, uint64_t now_us)
{
    if (!wait_us || queued >= max || now_us - last_take_us >= 4 * wait_us)
        return 0;
    uint64_t due = first_arrived_us + wait_us;
    return now_us < due ? due : 0;
}

struct timespec ss_deadline_after_us(uint64_t wait_us)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    uint64_t ns = (uint64_t)t.tv_nsec + wait_us * 1000u;
    t.tv_sec += (time_t)(ns / 1000000000u);
    t.tv_nsec = (long)(ns % 1000000000u);
    return t;
}
