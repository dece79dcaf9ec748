/*
 * log: the operator log (stderr, one line per event, UTC timestamp and
 * level). It is for operators: never message bodies, keys or personal data.
 * The audit record of exchanges is the message log, not this.
 */
#ifndef SS_LOG_H
#define SS_LOG_H

#include "ss_error.h"

#include <stdbool.h>

enum ss_log_level { SS_LOG_DEBUG, SS_LOG_INFO, SS_LOG_WARN, SS_LOG_ERROR };

/* Sets the lowest level written; name is "debug", "info", "warn" or "error". */
bool ss_log_set_level(const char *name);
void ss_log(enum ss_log_level level, const char *fmt, ...) SS_PRINTF(2, 3);

#define ss_log_debug(...) ss_log(SS_LOG_DEBUG, __VA_ARGS__)
#define ss_log_info(...) ss_log(SS_LOG_INFO, __VA_ARGS__)
#define ss_log_warn(...) ss_log(SS_LOG_WARN, __VA_ARGS__)
#define ss_log_error(...) ss_log(SS_LOG_ERROR, __VA_ARGS__)

#endif
