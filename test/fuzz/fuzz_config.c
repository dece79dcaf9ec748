/*
 * Fuzzes the daemon's configuration reader (libinih plus secsrv's
 * checks and line look-ups) on arbitrary file contents.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/ss-fuzz-config-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return 0;
    if (write(fd, data, size) != (ssize_t)size) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    struct ss_config *cfg = NULL;
    ss_error err = ss_config_load(path, &cfg);
    if (err == SS_OK && cfg->n_problems != 0)
        abort();
    ss_config_free(cfg);
    unlink(path);
    return 0;
}
