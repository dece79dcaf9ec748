/*
 * budget: one bound on the memory the network process holds for bodies in
 * transit, summed over every connection and exchange: request bodies as
 * they arrive and answers from peers and backends as they are read. Each
 * buffer takes its size before it grows and gives it back when freed; a
 * request that finds the budget used up is answered 503 (ServerBusy) and
 * nothing of it is kept. Per-body limits stay in [limits] max_body_bytes.
 */
#ifndef SS_BUDGET_H
#define SS_BUDGET_H

#include "ss_error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sets the bound (0: none). */
void ss_budget_init(size_t max_bytes);
/* Takes n bytes of the budget; false (and nothing taken) when they are not there. */
bool ss_budget_take(size_t n);
void ss_budget_give(size_t n);
/* Bytes taken now. */
size_t ss_budget_used(void);

/*
 * Grows the body buffer *buf (capacity *cap, 0 when there is none) to hold
 * need bytes, doubling from 8 KiB but not past max_cap (need <= max_cap),
 * with the growth taken from the budget. SS_OK; SS_ERR_BUSY when the
 * budget is used up, SS_ERR_NOMEM, SS_ERR_TOO_LARGE when need > max_cap;
 * on an error nothing has changed.
 */
ss_error ss_budget_grow(uint8_t **buf, size_t *cap, size_t need, size_t max_cap) SS_MUST_CHECK;
/* Frees a buffer grown so and gives its capacity back. */
void ss_budget_free(uint8_t **buf, size_t *cap);

#endif
