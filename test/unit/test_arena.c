/*
 * Unit tests of the request arena (secsrv/core/arena.c): pieces never
 * overlap and keep their contents while the arena grows;
 * a large piece gets a chunk of its own without wasting the current one;
 * strndup copies by length; freeing empties the arena, which can be used
 * again; a zeroed arena works as an initialised one; absurd sizes are
 * refused, not wrapped.
 */
#include "arena.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

static void test_pieces_kept(void **state)
{
    (void)state;
    struct ss_arena a;
    ss_arena_init(&a, 64);
    char src[64];
    unsigned char *p[200];
    for (size_t i = 0; i < 200; i++) {
        size_t n = 1 + i % 37;
        memset(src, (int)i, n);
        p[i] = (unsigned char *)ss_arena_strndup(&a, src, n);
        assert_non_null(p[i]);
        assert_int_equal(p[i][n], '\0');
    }
    /* every piece still holds what was written into it: none overlaps another */
    for (size_t i = 0; i < 200; i++)
        for (size_t k = 0; k < 1 + i % 37; k++)
            assert_int_equal(p[i][k], (unsigned char)i);
    ss_arena_free(&a);
    assert_null(a.head);
}

static void test_strndup(void **state)
{
    (void)state;
    struct ss_arena a;
    ss_arena_init(&a, 16);
    char *s = ss_arena_strndup(&a, "X-Road-Client: x", 13);
    assert_string_equal(s, "X-Road-Client");
    char *e = ss_arena_strndup(&a, NULL, 0);
    assert_non_null(e);
    assert_string_equal(e, "");
    char *t = ss_arena_strndup(&a, "abc", 3);
    assert_string_equal(s, "X-Road-Client");
    assert_string_equal(t, "abc");
    assert_null(ss_arena_strndup(&a, "x", SIZE_MAX));
    ss_arena_free(&a);
}

static void test_large_piece_own_chunk(void **state)
{
    (void)state;
    struct ss_arena a;
    ss_arena_init(&a, 1024);
    char *small = ss_arena_strndup(&a, "fifteen bytes..", 15);
    assert_non_null(small);
    struct ss_arena_chunk *current = a.head;
    static char text[100000];
    memset(text, 'b', sizeof text);
    char *big = ss_arena_strndup(&a, text, sizeof text - 1);
    assert_non_null(big);
    /* the chunk small came from is still the one pieces are cut from */
    assert_ptr_equal(a.head, current);
    char *next = ss_arena_strndup(&a, "x", 1);
    assert_ptr_equal(next, small + 16);
    assert_int_equal(big[99998], 'b');
    assert_int_equal(big[99999], '\0');
    assert_null(ss_arena_strndup(&a, text, SIZE_MAX / 2 + 1));
    ss_arena_free(&a);
}

static void test_reuse_after_free_and_zeroed(void **state)
{
    (void)state;
    struct ss_arena a;
    memset(&a, 0, sizeof a);
    char *p = ss_arena_strndup(&a, "zeroed", 6);
    assert_string_equal(p, "zeroed");
    ss_arena_free(&a);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 5000; i++)
            assert_non_null(ss_arena_strndup(&a, "0123456789", 10));
        ss_arena_free(&a);
        assert_null(a.head);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pieces_kept),
        cmocka_unit_test(test_strndup),
        cmocka_unit_test(test_large_piece_own_chunk),
        cmocka_unit_test(test_reuse_after_free_and_zeroed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
