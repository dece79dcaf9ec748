/*
 * ss-memscan — counts where a byte string occurs in the memory of a
 * running process, for the test of privilege separation: a process that
 * must not hold a signing key is searched for the key's private scalar.
 *
 *   ss-memscan PID HEX    prints the number of occurrences (reads every
 *                         readable mapping through /proc/PID/mem)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: ss-memscan PID HEX\n");
        return 2;
    }
    size_t n = strlen(argv[2]) / 2;
    unsigned char needle[256];
    if (n == 0 || n > sizeof needle || strlen(argv[2]) % 2) {
        fprintf(stderr, "ss-memscan: HEX must be 1 to 256 bytes\n");
        return 2;
    }
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(argv[2][2 * i]), lo = hexval(argv[2][2 * i + 1]);
        if (hi < 0 || lo < 0) {
            fprintf(stderr, "ss-memscan: not hex\n");
            return 2;
        }
        needle[i] = (unsigned char)(hi << 4 | lo);
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/%s/maps", argv[1]);
    FILE *maps = fopen(path, "r");
    snprintf(path, sizeof path, "/proc/%s/mem", argv[1]);
    int mem = open(path, O_RDONLY);
    if (!maps || mem < 0) {
        fprintf(stderr, "ss-memscan: %s: %s\n", path, strerror(errno));
        return 1;
    }
    char line[512];
    unsigned long hits = 0, regions = 0;
    while (fgets(line, sizeof line, maps)) {
        /* "START-END PERMS ..." */
        char *p = NULL;
        unsigned long start = strtoul(line, &p, 16);
        if (*p != '-')
            continue;
        unsigned long end = strtoul(p + 1, &p, 16);
        if (*p != ' ' || p[1] != 'r' || end <= start)
            continue;
        if (strstr(line, "[vvar]") || strstr(line, "[vsyscall]"))
            continue;
        /* a sanitizer's shadow memory is terabytes of reservation: no heap is that large */
        if (end - start > (1ul << 32))
            continue;
        /* in chunks that overlap by the needle's length, so no occurrence is cut in two */
        static unsigned char buf[(1 << 20) + 256];
        unsigned long at = start;
        bool any = false;
        while (at < end) {
            size_t want = end - at < (1ul << 20) + n - 1 ? end - at : (1ul << 20) + n - 1;
            ssize_t got = pread(mem, buf, want, (off_t)at);
            if (got <= 0)
                break;
            any = true;
            for (ssize_t i = 0; i + (ssize_t)n <= got; i++)
                if (buf[i] == needle[0] && memcmp(buf + i, needle, n) == 0)
                    hits++;
            if ((size_t)got < want || at + (size_t)got >= end)
                break;
            at += (size_t)got - (n - 1);
        }
        regions += any;
    }
    fclose(maps);
    close(mem);
    if (regions == 0) {
        fprintf(stderr, "ss-memscan: no readable memory in process %s\n", argv[1]);
        return 1;
    }
    printf("%lu\n", hits);
    return 0;
}
