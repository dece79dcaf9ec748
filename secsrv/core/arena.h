/*
 * arena: memory that lives exactly as long as one request. Pieces are cut
 * from chunks one after another and never freed one by one; freeing the
 * arena frees them all. A request's many small copies (header names and
 * values) then cost a few mallocs instead of two each, and nothing of a
 * request can outlive it by a forgotten free.
 *
 * The pieces are strings, so they need no alignment. Chunks grow from the
 * first size given, doubling up to 64 kB; a piece larger than half the
 * next chunk gets a chunk of its own, so the space left in the current
 * chunk is not wasted. Pieces never move: a pointer stays valid until
 * ss_arena_free.
 */
#ifndef SS_ARENA_H
#define SS_ARENA_H

#include <stddef.h>

struct ss_arena_chunk;

struct ss_arena {
    struct ss_arena_chunk *head; /* the chunk pieces are cut from; older chunks after it */
    size_t first;                /* size of the first chunk */
    size_t next;                 /* size of the next chunk */
};

/* An empty arena (no memory taken yet) whose first chunk holds first bytes. */
void ss_arena_init(struct ss_arena *a, size_t first);
/* A NUL-terminated copy of the n bytes at s (which need not end in a NUL); NULL when out of
 * memory or n is absurd. */
char *ss_arena_strndup(struct ss_arena *a, const char *s, size_t n);
/* Frees every piece; the arena is empty again, as after ss_arena_init. */
void ss_arena_free(struct ss_arena *a);

#endif
