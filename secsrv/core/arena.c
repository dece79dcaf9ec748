#include "arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_MAX ((size_t)64 * 1024)

struct ss_arena_chunk {
    struct ss_arena_chunk *next;
    size_t size, used;
    char data[];
};

void ss_arena_init(struct ss_arena *a, size_t first)
{
    a->head = NULL;
    a->first = a->next = first ? first : 1024;
}

/* A chunk of size bytes whose first used are taken. */
static struct ss_arena_chunk *chunk_new(size_t size, size_t used)
{
    if (size > SIZE_MAX / 2)
        return NULL;
    struct ss_arena_chunk *c = malloc(sizeof *c + size);
    if (c) {
        c->size = size;
        c->used = used;
    }
    return c;
}

char *ss_arena_strndup(struct ss_arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    size_t need = n + 1;
    char *p;
    struct ss_arena_chunk *c = a->head;
    if (c && c->size - c->used >= need) {
        p = c->data + c->used;
        c->used += need;
    } else if (need > a->next / 2) {
        /* a chunk of its own, behind the current one: what is left there stays usable */
        struct ss_arena_chunk *own = chunk_new(need, need);
        if (!own)
            return NULL;
        own->next = c ? c->next : NULL;
        if (c)
            c->next = own;
        else
            a->head = own;
        p = own->data;
    } else {
        struct ss_arena_chunk *fresh = chunk_new(a->next, need);
        if (!fresh)
            return NULL;
        fresh->next = c;
        a->head = fresh;
        a->next = a->next * 2 < CHUNK_MAX ? a->next * 2 : CHUNK_MAX;
        p = fresh->data;
    }
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void ss_arena_free(struct ss_arena *a)
{
    for (struct ss_arena_chunk *c = a->head, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
    a->next = a->first;
}
