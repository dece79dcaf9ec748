#include "arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK_MAX ((size_t)64 * 1024)

struct ss_arena_chunk {
    struct ss_arena_chunk *next;
    size_t size, used;
    alignas(max_align_t) unsigned char data[];
};

void ss_arena_init(struct ss_arena *a, size_t first)
{
    a->head = NULL;
    a->first = a->next = first ? first : 1024;
}

static struct ss_arena_chunk *chunk_new(size_t size)
{
    if (size > SIZE_MAX / 2)
        return NULL;
    struct ss_arena_chunk *c = malloc(sizeof *c + size);
    if (c) {
        c->size = size;
        c->used = 0;
    }
    return c;
}

/* n bytes at a multiple of align (a power of two) from a's current chunk or a new one. */
static void *take(struct ss_arena *a, size_t n, size_t align)
{
    if (!a->next) /* zeroed rather than initialised */
        ss_arena_init(a, 0);
    struct ss_arena_chunk *c = a->head;
    if (c) {
        size_t at = (c->used + align - 1) & ~(align - 1);
        if (at <= c->size && c->size - at >= n) {
            c->used = at + n;
            return c->data + at;
        }
    }
    if (n > a->next / 2) {
        /* a chunk of its own, behind the current one: what is left there stays usable */
        struct ss_arena_chunk *own = chunk_new(n);
        if (!own)
            return NULL;
        own->used = n;
        if (c) {
            own->next = c->next;
            c->next = own;
        } else {
            own->next = NULL;
            a->head = own;
        }
        return own->data;
    }
    struct ss_arena_chunk *fresh = chunk_new(a->next);
    if (!fresh)
        return NULL;
    fresh->next = c;
    fresh->used = n;
    a->head = fresh;
    if (a->next < CHUNK_MAX)
        a->next = a->next * 2 < CHUNK_MAX ? a->next * 2 : CHUNK_MAX;
    return fresh->data;
}

void *ss_arena_alloc(struct ss_arena *a, size_t n)
{
    return take(a, n ? n : 1, alignof(max_align_t));
}

char *ss_arena_strndup(struct ss_arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *p = take(a, n + 1, 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = '\0';
    }
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
