#include "gather.h"

uint64_t ss_gather_due(uint64_t last_take_us, uint64_t first_arrived_us, size_t queued, size_t max,
                       uint64_t wait_us, uint64_t now_us)
{
    if (!wait_us || queued >= max || now_us - last_take_us >= 4 * wait_us)
        return 0;
    uint64_t due = first_arrived_us + wait_us;
    return now_us < due ? due : 0;
}
