/*
 * record_ipc: a message-log record on its way from a network process to
 * the logger. Only what the network process fills travels (not the
 * number, time or hashes, which the logger sets).
 */
#ifndef SS_RECORD_IPC_H
#define SS_RECORD_IPC_H

#include "ipc.h"
#include "record.h"

#include <stdbool.h>

void ss_record_put(struct ss_ipc_buf *b, const struct ss_record *r);
/* Reads them back; the pointers point into the message. False if malformed. */
bool ss_record_get(struct ss_ipc_reader *rd, struct ss_record *r);

#endif
