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

#include <xxhash.h>

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

/* ---- against a reference model -------------------------------------------
 *
 * The model keeps, per stripe, a plain array of entries in arming order and
 * searches it linearly: the contract of dedupe.h written the slow way. The
 * table is split into stripes by the top bits of the key's XXH3 hash (the
 * largest power of two, up to 64, that leaves each stripe one entry), and
 * evicts the oldest entry of the key's stripe; the model does the same. */

#define MODEL_KEYS 3000

typedef struct model_entry {
    char key[256];
    size_t klen;
    char id[64];
    size_t idlen;
    int64_t ts;
} model_entry;

typedef struct model {
    int64_t window;
    unsigned nstripes, bits;
    size_t *cap, *n;
    model_entry **e; /* per stripe, oldest first */
} model;

static void model_init(model *m, int64_t window, size_t max_keys)
{
    m->window = window;
    m->bits = 0;
    while (m->bits < 6 && ((size_t)2 << m->bits) <= max_keys)
        m->bits++;
    m->nstripes = 1u << m->bits;
    m->cap = calloc(m->nstripes, sizeof(size_t));
    m->n = calloc(m->nstripes, sizeof(size_t));
    m->e = calloc(m->nstripes, sizeof(model_entry *));
    for (unsigned i = 0; i < m->nstripes; i++) {
        m->cap[i] = max_keys / m->nstripes + (i < max_keys % m->nstripes);
        m->e[i] = calloc(m->cap[i], sizeof(model_entry));
    }
}

static void model_free(model *m)
{
    for (unsigned i = 0; i < m->nstripes; i++)
        free(m->e[i]);
    free(m->e);
    free(m->cap);
    free(m->n);
}

static void model_remove(model *m, unsigned s, size_t i)
{
    memmove(&m->e[s][i], &m->e[s][i + 1], (m->n[s] - i - 1) * sizeof(model_entry));
    m->n[s]--;
}

static void model_append(model *m, unsigned s, lp_str key, lp_str id, int64_t ts)
{
    if (m->n[s] == m->cap[s])
        model_remove(m, s, 0); /* the oldest armed */
    model_entry *e = &m->e[s][m->n[s]++];
    memcpy(e->key, key.ptr, key.len);
    e->klen = key.len;
    memcpy(e->id, id.ptr, id.len);
    e->idlen = id.len;
    e->ts = ts;
}

static bool model_in_window(const model *m, int64_t armed, int64_t ts)
{
    return m->window <= 0 || ts <= armed || (uint64_t)ts - (uint64_t)armed <= (uint64_t)m->window;
}

static bool model_check(model *m, lp_str key, lp_str id, int64_t ts, lp_str *first)
{
    uint64_t h = XXH3_64bits(key.ptr, key.len);
    unsigned s = m->bits ? (unsigned)(h >> (64 - m->bits)) : 0;
    for (size_t i = 0; i < m->n[s]; i++) {
        model_entry *e = &m->e[s][i];
        if (e->klen != key.len || memcmp(e->key, key.ptr, key.len))
            continue;
        if (!model_in_window(m, e->ts, ts)) {
            model_remove(m, s, i);
            model_append(m, s, key, id, ts);
            return false;
        }
        if (id.len && id.len == e->idlen && !memcmp(id.ptr, e->id, id.len))
            return false;
        *first = (lp_str){e->id, (uint32_t)e->idlen};
        return true;
    }
    model_append(m, s, key, id, ts);
    return false;
}

static size_t model_count(const model *m)
{
    size_t n = 0;
    for (unsigned i = 0; i < m->nstripes; i++)
        n += m->n[i];
    return n;
}

/* Keys of every length from 0 to 200 bytes, ASCII and not. */
static lp_str model_key(char (*keys)[256], unsigned i)
{
    size_t len = i % 7 == 0 ? 200 : i % 13 == 0 ? 0 : 8 + i % 40;
    for (size_t j = 0; j < len; j++)
        keys[i][j] = (char)(i % 3 == 0 ? 0xC3 + (j % 2) * 0x10 : 'a' + (i * 31 + j * 7) % 26);
    if (len >= 6)
        snprintf(keys[i], 7, "%06u", i); /* distinct, whatever the tail */
    if (len >= 6)
        keys[i][6] = '@';
    return (lp_str){keys[i], (uint32_t)len};
}

/* Lead ids of 0 to 60 bytes: both sides of the inline limit, and empty. */
static lp_str model_id(char *buf, uint64_t *rng)
{
    *rng = *rng * 6364136223846793005ull + 1442695040888963407ull;
    size_t len = (size_t)(*rng >> 33) % 61;
    for (size_t j = 0; j < len; j++)
        buf[j] = (char)('0' + (*rng >> (j % 40)) % 10);
    return (lp_str){buf, (uint32_t)len};
}

static void run_against_model(int64_t window, size_t max_keys, unsigned nkeys, int ops)
{
    static char keys[MODEL_KEYS][256];
    lp_arena a;
    lp_arena_init(&a, 0);
    lp_dedupe *d = lp_dedupe_new(window, max_keys);
    model m;
    model_init(&m, window, max_keys);
    uint64_t rng = 42;
    int64_t ts = 1700000000000;
    char idbuf[64];
    for (int op = 0; op < ops; op++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        unsigned k = (unsigned)(rng >> 40) % nkeys;
        /* mostly forward in time, sometimes back (out-of-order partitions) */
        ts += (int64_t)((rng >> 20) % 97) - ((rng >> 30) % 11 == 0 ? 300 : 0);
        lp_str key = model_key(keys, k);
        lp_str id = op % 5 == 0 ? (lp_str){"redelivered", 11} : model_id(idbuf, &rng);
        lp_str got = {0}, want = {0};
        bool dup = lp_dedupe_check(d, key, id, ts, &a, &got);
        assert_int_equal(dup, model_check(&m, key, id, ts, &want));
        if (dup) {
            assert_int_equal(got.len, want.len);
            assert_memory_equal(got.ptr, want.ptr, want.len);
        }
        assert_int_equal(lp_dedupe_count(d), model_count(&m));
        if (op % 1024 == 0)
            lp_arena_reset(&a);
    }
    lp_dedupe_free(d);
    model_free(&m);
    lp_arena_free(&a);
}

/* Thousands of keys, windows expiring and re-arming, no eviction: the
 * index grows many times on the way. */
static void agrees_with_the_model_while_growing(void **state)
{
    (void)state;
    run_against_model(1000, 100000, MODEL_KEYS, 60000);
    run_against_model(0, 100000, MODEL_KEYS, 20000);
}

/* A table far smaller than its keys: every stripe evicts, in arming order. */
static void agrees_with_the_model_while_evicting(void **state)
{
    (void)state;
    run_against_model(1000, 300, MODEL_KEYS, 60000);
    run_against_model(50, 1, 40, 5000);
    run_against_model(1000, 97, 200, 20000);
}

/* Ids at the inline limit (39 bytes) and just past it come back whole. */
static void ids_at_the_inline_limit(void **state)
{
    (void)state;
    lp_arena a;
    lp_arena_init(&a, 0);
    lp_dedupe *d = lp_dedupe_new(DAY_MS, 100);
    char id[64];
    for (size_t len = 36; len <= 42; len++) {
        char key[16];
        memset(id, 'a' + (int)(len % 26), len);
        id[len - 1] = 'Z'; /* the last byte is kept too */
        snprintf(key, sizeof(key), "k%zu", len);
        lp_str first = {0};
        assert_false(lp_dedupe_check(d, S(key), (lp_str){id, (uint32_t)len}, 0, &a, &first));
        assert_true(lp_dedupe_check(d, S(key), S("other"), 1, &a, &first));
        assert_int_equal(first.len, len);
        assert_memory_equal(first.ptr, id, len);
        /* the same id again is a redelivery, not a duplicate */
        assert_false(lp_dedupe_check(d, S(key), (lp_str){id, (uint32_t)len}, 2, &a, &first));
    }
    lp_dedupe_free(d);
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
        cmocka_unit_test(agrees_with_the_model_while_growing),
        cmocka_unit_test(agrees_with_the_model_while_evicting),
        cmocka_unit_test(ids_at_the_inline_limit),
        cmocka_unit_test(threads_agree_on_exactly_one_first_lead),
        cmocka_unit_test(eviction_under_contention_keeps_the_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
