/* Unit tests for dedupe.c: the shared dedupe table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dedupe.h"

#define MINUTE_MS 60000
#define DAY_MS (24LL * 60 * MINUTE_MS)

static lp_str S(const char *s)
{
    return (lp_str){s, (uint32_t)strlen(s)};
}

static void assert_lp_str(lp_str got, const char *want)
{
    assert_int_equal(got.len, strlen(want));
    assert_memory_equal(got.ptr, want, got.len);
}

static void duplicate_within_window_names_the_first_lead(void **state)
{
    (void)state;
    lp_arena a;
    lp_arena_init(&a, 0);
    lp_dedupe *d = lp_dedupe_new(DAY_MS, 1000);
    lp_str first = {0};
    int64_t t0 = 1700000000000;

    assert_false(lp_dedupe_check(d, S("jane@acme.com"), S("lead-1"), t0, &a, &first));
    assert_null(first.ptr); /* untouched for a first lead */
    assert_true(lp_dedupe_check(d, S("jane@acme.com"), S("lead-2"), t0 + MINUTE_MS, &a, &first));
    assert_lp_str(first, "lead-1");
    /* a duplicate does not replace the first lead */
    assert_true(lp_dedupe_check(d, S("jane@acme.com"), S("lead-3"), t0 + DAY_MS, &a, &first));
    assert_lp_str(first, "lead-1");
    /* other keys are independent */
    assert_false(lp_dedupe_check(d, S("john@acme.com"), S("lead-4"), t0, &a, &first));
    assert_int_equal(lp_dedupe_count(d), 2);
    lp_dedupe_free(d);
    lp_arena_free(&a);
}

static void expired_window_rearms_with_the_new_lead(void **state)
{
    (void)state;
    lp_arena a;
    lp_arena_init(&a, 0);
    lp_dedupe *d = lp_dedupe_new(DAY_MS, 1000);
    lp_str first = {0};
    int64_t t0 = 1700000000000;

    assert_false(lp_dedupe_check(d, S("jane@acme.com"), S("lead-1"), t0, &a, &first));
    assert_false(lp_dedupe_check(d, S("jane@acme.com"), S("lead-2"), t0 + DAY_MS + 1, &a, &first));
    assert_true(lp_dedupe_check(d, S("jane@acme.com"), S("lead-3"), t0 + DAY_MS + 2, &a, &first));
    assert_lp_str(first, "lead-2");
    assert_int_equal(lp_dedupe_count(d), 1);
    lp_dedupe_free(d);
    lp_arena_free(&a);
}

static void out_of_order_and_redelivered_leads(void **state)
{
    (void)state;
    lp_arena a;
    lp_arena_init(&a, 0);
    lp_dedupe *d = lp_dedupe_new(DAY_MS, 1000);
    lp_str first = {0};
    int64_t t0 = 1700000000000;

    assert_false(lp_dedupe_check(d, S("jane@acme.com"), S("lead-1"), t0, &a, &first));
    /* an earlier event time, processed later, is still a duplicate */
    assert_true(lp_dedupe_check(d, S("jane@acme.com"), S("lead-0"), t0 - DAY_MS * 3, &a, &first));
    assert_lp_str(first, "lead-1");
    /* the first lead itself, redelivered, is not its own duplicate */
    assert_false(lp_dedupe_check(d, S("jane@acme.com"), S("lead-1"), t0 + 5, &a, &first));
    /* but two leads without ids are duplicates of each other */
    assert_false(lp_dedupe_check(d, S("x@acme.com"), S(""), t0, &a, &first));
    assert_true(lp_dedupe_check(d, S("x@acme.com"), S(""), t0, &a, &first));
    assert_lp_str(first, "");
    lp_dedupe_free(d);
    lp_arena_free(&a);
}

static void zero_window_never_expires(void **state)
{
    (void)state;
    lp_arena a;
    lp_arena_init(&a, 0);
    lp_dedupe *d = lp_dedupe_new(0, 10);
    lp_str first = {0};
    assert_false(lp_dedupe_check(d, S("k"), S("a"), 0, &a, &first));
    assert_true(lp_dedupe_check(d, S("k"), S("b"), INT64_MAX, &a, &first));
    assert_lp_str(first, "a");
    lp_dedupe_free(d);
    lp_arena_free(&a);
}

static void long_lead_ids_are_kept_whole(void **state)
{
    (void)state;
    lp_arena a;
    lp_arena_init(&a, 0);
    lp_dedupe *d = lp_dedupe_new(DAY_MS, 4);
    char id[200];
    memset(id, 'q', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    lp_str first = {0};
    assert_false(lp_dedupe_check(d, S("k"), S(id), 0, &a, &first));
    assert_true(lp_dedupe_check(d, S("k"), S("short"), 1, &a, &first));
    assert_lp_str(first, id);
    /* re-arming and eviction release the long id (checked by ASAN builds) */
    assert_false(lp_dedupe_check(d, S("k"), S("short"), DAY_MS * 2, &a, &first));
    for (int i = 0; i < 20; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        lp_dedupe_check(d, S(key), S(id), 0, &a, &first);
    }
    lp_dedupe_free(d);
    lp_arena_free(&a);
}

static void memory_is_bounded_by_max_keys(void **state)
{
    (void)state;
    lp_arena a;
    lp_arena_init(&a, 0);
    lp_dedupe *d = lp_dedupe_new(DAY_MS, 100);
    lp_str first = {0};
    char key[32], id[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "user%d@acme.com", i);
        snprintf(id, sizeof(id), "lead-%d", i);
        assert_false(lp_dedupe_check(d, S(key), S(id), i, &a, &first));
        assert_true(lp_dedupe_count(d) <= 100);
    }
    assert_int_equal(lp_dedupe_count(d), 100);
    /* the newest key is remembered ... */
    assert_true(lp_dedupe_check(d, S("user999@acme.com"), S("again"), 1000, &a, &first));
    assert_lp_str(first, "lead-999");
    /* ... the oldest was evicted, so its duplicate passes as a first lead */
    assert_false(lp_dedupe_check(d, S("user0@acme.com"), S("again"), 1000, &a, &first));
    assert_int_equal(lp_dedupe_count(d), 100);
    lp_dedupe_free(d);
    lp_arena_free(&a);
}

static void bad_sizes_are_refused(void **state)
{
    (void)state;
    assert_null(lp_dedupe_new(DAY_MS, 0));
    assert_null(lp_dedupe_new(DAY_MS, SIZE_MAX));
    lp_dedupe *d = lp_dedupe_new(DAY_MS, 1);
    assert_non_null(d);
    lp_arena a;
    lp_arena_init(&a, 0);
    lp_str first = {0};
    assert_false(lp_dedupe_check(d, S("a"), S("1"), 0, &a, &first));
    assert_false(lp_dedupe_check(d, S("b"), S("2"), 0, &a, &first));
    assert_int_equal(lp_dedupe_count(d), 1);
    lp_dedupe_free(d);
    lp_dedupe_free(NULL);
    lp_arena_free(&a);
}

/* ---- threads ----------------------------------------------------------- */

#define HAMMER_THREADS 4
#define HAMMER_KEYS 5000

typedef struct hammer {
    lp_dedupe *d;
    int thread;
    atomic_int *firsts; /* per key: how many threads got "first" */
    atomic_int *winner; /* per key: the thread that got "first" */
    int *reported;      /* per thread and key: the thread named as first */
} hammer;

/* Each thread walks every key from its own starting point, so that the
 * threads race on the same keys at the same time. */
static void *hammer_run(void *arg)
{
    hammer *h = arg;
    lp_arena a;
    lp_arena_init(&a, 0);
    char key[32], id[32];
    for (int n = 0; n < HAMMER_KEYS; n++) {
        int k = (n + h->thread * (HAMMER_KEYS / HAMMER_THREADS)) % HAMMER_KEYS;
        snprintf(key, sizeof(key), "user%d@acme.com", k);
        snprintf(id, sizeof(id), "t%d", h->thread);
        lp_str first = {0};
        if (lp_dedupe_check(h->d, S(key), S(id), 1000, &a, &first)) {
            h->reported[h->thread * HAMMER_KEYS + k] = first.ptr[1] - '0';
        } else {
            atomic_fetch_add(&h->firsts[k], 1);
            atomic_store(&h->winner[k], h->thread);
        }
        if (n % 512 == 0)
            lp_arena_reset(&a);
    }
    lp_arena_free(&a);
    return NULL;
}

static void threads_agree_on_exactly_one_first_lead(void **state)
{
    (void)state;
    static atomic_int firsts[HAMMER_KEYS], winner[HAMMER_KEYS];
    static int reported[HAMMER_THREADS * HAMMER_KEYS];
    pthread_t tid[HAMMER_THREADS];
    hammer h[HAMMER_THREADS];
    lp_dedupe *d = lp_dedupe_new(DAY_MS, 2 * HAMMER_KEYS);
    for (int k = 0; k < HAMMER_KEYS; k++) {
        atomic_init(&firsts[k], 0);
        atomic_init(&winner[k], -1);
    }
    memset(reported, 0xFF, sizeof(reported));
    for (int t = 0; t < HAMMER_THREADS; t++) {
        h[t] = (hammer){d, t, firsts, winner, reported};
        assert_int_equal(pthread_create(&tid[t], NULL, hammer_run, &h[t]), 0);
    }
    for (int t = 0; t < HAMMER_THREADS; t++)
        pthread_join(tid[t], NULL);

    int total_firsts = 0;
    for (int k = 0; k < HAMMER_KEYS; k++) {
        assert_int_equal(atomic_load(&firsts[k]), 1);
        total_firsts += atomic_load(&firsts[k]);
        for (int t = 0; t < HAMMER_THREADS; t++)
            if (t != winner[k])
                assert_int_equal(reported[t * HAMMER_KEYS + k], winner[k]);
    }
    assert_int_equal(total_firsts, HAMMER_KEYS);
    assert_int_equal(lp_dedupe_count(d), HAMMER_KEYS);
    lp_dedupe_free(d);
}

/* Threads churning a table far smaller than their keys: eviction under
 * contention keeps the bound (and, in sanitizer builds, the memory safe). */
static void *churn_run(void *arg)
{
    lp_dedupe *d = arg;
    lp_arena a;
    lp_arena_init(&a, 0);
    char key[32];
    lp_str first;
    for (int i = 0; i < 20000; i++) {
        snprintf(key, sizeof(key), "k%d", (i * 7919) % 3000);
        lp_dedupe_check(d, S(key), S("a-lead-id-long-enough-to-leave-the-inline-slot"), i, &a,
                        &first);
        if (i % 512 == 0)
            lp_arena_reset(&a);
    }
    lp_arena_free(&a);
    return NULL;
}

static void eviction_under_contention_keeps_the_bound(void **state)
{
    (void)state;
    pthread_t tid[HAMMER_THREADS];
    lp_dedupe *d = lp_dedupe_new(100, 200);
    for (int t = 0; t < HAMMER_THREADS; t++)
        assert_int_equal(pthread_create(&tid[t], NULL, churn_run, d), 0);
    for (int t = 0; t < HAMMER_THREADS; t++)
        pthread_join(tid[t], NULL);
    assert_int_equal(lp_dedupe_count(d), 200);
    lp_dedupe_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(duplicate_within_window_names_the_first_lead),
        cmocka_unit_test(expired_window_rearms_with_the_new_lead),
        cmocka_unit_test(out_of_order_and_redelivered_leads),
        cmocka_unit_test(zero_window_never_expires),
        cmocka_unit_test(long_lead_ids_are_kept_whole),
        cmocka_unit_test(memory_is_bounded_by_max_keys),
        cmocka_unit_test(bad_sizes_are_refused),
        cmocka_unit_test(threads_agree_on_exactly_one_first_lead),
        cmocka_unit_test(eviction_under_contention_keeps_the_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
