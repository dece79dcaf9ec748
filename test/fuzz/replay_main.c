/*
 * Replays every file of the corpus directories given on the command line
 * through LLVMFuzzerTestOneInput, so fuzz harnesses run in ordinary test
 * builds (without libFuzzer) and crash the test if a corpus input does.
 *
 * Usage: fuzz_X DIR... [--optional DIR]...
 * A missing DIR is an error; a missing --optional DIR (the test PKI's
 * samples, which only some targets have) is skipped with a note.
 */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? cap * 2 : 4096;
            uint8_t *nbuf = realloc(buf, cap);
            if (!nbuf) {
                free(buf);
                fclose(f);
                return -1;
            }
            buf = nbuf;
        }
        size_t r = fread(buf + len, 1, cap - len, f);
        if (r == 0)
            break;
        len += r;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, len);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    int n = 0;
    for (int i = 1; i < argc; i++) {
        bool optional = strcmp(argv[i], "--optional") == 0;
        if (optional && ++i == argc) {
            fprintf(stderr, "--optional: directory missing\n");
            return 1;
        }
        DIR *d = opendir(argv[i]);
        if (!d && optional && errno == ENOENT) {
            printf("%s: no such directory, skipped\n", argv[i]);
            continue;
        }
        if (!d) {
            fprintf(stderr, "%s: cannot open corpus directory\n", argv[i]);
            return 1;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char path[4096];
            int r = snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            if (r < 0 || (size_t)r >= sizeof path)
                continue;
            if (run_file(path) == 0)
                n++;
        }
        closedir(d);
    }
    printf("replayed %d inputs\n", n);
    return n > 0 ? 0 : 1;
}
