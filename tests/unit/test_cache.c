/* Unit tests for cache.c: the LMDB cache (TTL, negative entries, growth, threads). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cache_dir.h"
#include "cache.h"

#define T0 1700000000000LL
#define DAY_MS (24LL * 3600 * 1000)

static lp_str S(const char *s)
{
    return (lp_str){s, (uint32_t)strlen(s)};
}

static lp_cache *open_rw(const char *dir, size_t map)
{
    lp_cache_opts o = {.map_size = map};
    lp_cache *c = NULL;
    char err[256];
    assert_int_equal(lp_cache_open(dir, &o, &c, err, sizeof(err)), LP_OK);
    return c;
}

static void put_one(lp_cache *c, const char *table, const char *k, const char *v, int64_t at,
                    int64_t ttl)
{
    lp_cache_entry e = {S(k), v ? S(v) : S(""), at, ttl, v == NULL};
    assert_int_equal(lp_cache_put(c, table, &e, 1), LP_OK);
}

static void value_reads_back_until_its_ttl_runs_out(void **state)
{
    (void)state;
    char *dir = cache_dir_new();
    lp_cache *c = open_rw(dir, 0);
    put_one(c, "company", "acme.com", "\x01payload", T0, 30 * DAY_MS);
    lp_str v;
    bool neg = true;
    assert_int_equal(lp_cache_get(c, "company", S("acme.com"), T0 + DAY_MS, &v, &neg), LP_OK);
    assert_false(neg);
    assert_int_equal(v.len, 8);
    assert_memory_equal(v.ptr, "\x01payload", 8);
    /* expired: reads as absent */
    assert_int_equal(lp_cache_get(c, "company", S("acme.com"), T0 + 30 * DAY_MS, &v, &neg),
                     LP_E_EOF);
    /* tables are separate */
    assert_int_equal(lp_cache_get(c, "person", S("acme.com"), T0, &v, &neg), LP_E_EOF);
    assert_int_equal(lp_cache_get(c, "nosuch", S("acme.com"), T0, &v, &neg), LP_E_CACHE);
    lp_cache_close(c);
    cache_dir_remove(dir);
}

static void negative_entry_reads_as_known_miss_then_expires(void **state)
{
    (void)state;
    char *dir = cache_dir_new();
    lp_cache *c = open_rw(dir, 0);
    put_one(c, "person", "nobody@acme.com", NULL, T0, DAY_MS);
    lp_str v;
    bool neg = false;
    assert_int_equal(lp_cache_get(c, "person", S("nobody@acme.com"), T0 + 1000, &v, &neg), LP_OK);
    assert_true(neg);
    assert_int_equal(v.len, 0);
    assert_int_equal(lp_cache_get(c, "person", S("nobody@acme.com"), T0 + DAY_MS, &v, &neg),
                     LP_E_EOF);
    lp_cache_close(c);
    cache_dir_remove(dir);
}

static void map_grows_instead_of_failing(void **state)
{
    (void)state;
    char *dir = cache_dir_new();
    lp_cache *c = open_rw(dir, 256 * 1024);
    size_t map0, used, file;
    assert_int_equal(lp_cache_info(c, &map0, &used, &file), LP_OK);
    char key[32], val[200];
    memset(val, 'x', sizeof(val) - 1);
    val[sizeof(val) - 1] = 0;
    lp_cache_entry batch[1000];
    char keys[1000][32];
    for (int round = 0; round < 10; round++) {
        for (int i = 0; i < 1000; i++) {
            snprintf(keys[i], sizeof(keys[i]), "d%05d.example", round * 1000 + i);
            batch[i] = (lp_cache_entry){S(keys[i]), S(val), T0, 0, false};
        }
        assert_int_equal(lp_cache_put(c, "company", batch, 1000), LP_OK);
    }
    size_t map1;
    assert_int_equal(lp_cache_info(c, &map1, &used, &file), LP_OK);
    assert_true(map1 > map0);
    lp_cache_table_stat st;
    assert_int_equal(lp_cache_stat(c, "company", T0, &st), LP_OK);
    assert_int_equal(st.entries, 10000);
    assert_int_equal(st.live, 10000);
    snprintf(key, sizeof(key), "d%05d.example", 9999);
    lp_str v;
    bool neg;
    assert_int_equal(lp_cache_get(c, "company", S(key), T0, &v, &neg), LP_OK);
    assert_int_equal(v.len, strlen(val));
    lp_cache_close(c);
    /* reopened with a small initial map: the bigger map on disk wins */
    c = open_rw(dir, 256 * 1024);
    assert_int_equal(lp_cache_get(c, "company", S(key), T0, &v, &neg), LP_OK);
    lp_cache_close(c);
    cache_dir_remove(dir);
}

static void stat_and_purge_count_live_negative_and_expired(void **state)
{
    (void)state;
    char *dir = cache_dir_new();
    lp_cache *c = open_rw(dir, 0);
    put_one(c, "company", "a.com", "A", T0, 30 * DAY_MS);
    put_one(c, "company", "b.com", "B", T0 - 40 * DAY_MS, 30 * DAY_MS);
    put_one(c, "company", "c.com", NULL, T0, DAY_MS);
    put_one(c, "company", "d.com", NULL, T0 - 2 * DAY_MS, DAY_MS);
    lp_cache_table_stat st;
    assert_int_equal(lp_cache_stat(c, "company", T0, &st), LP_OK);
    assert_int_equal(st.entries, 4);
    assert_int_equal(st.live, 1);
    assert_int_equal(st.negative, 1);
    assert_int_equal(st.expired, 2);
    assert_int_equal(st.oldest_ms, T0 - 40 * DAY_MS);
    assert_int_equal(st.newest_ms, T0);
    size_t removed = 0;
    assert_int_equal(lp_cache_purge(c, "company", T0, &removed), LP_OK);
    assert_int_equal(removed, 2);
    assert_int_equal(lp_cache_stat(c, "company", T0, &st), LP_OK);
    assert_int_equal(st.entries, 2);
    lp_cache_close(c);
    cache_dir_remove(dir);
}

static void meta_counters_accumulate_across_opens(void **state)
{
    (void)state;
    char *dir = cache_dir_new();
    lp_cache *c = open_rw(dir, 0);
    assert_int_equal(lp_cache_meta_get(c, "hits"), 0);
    assert_int_equal(lp_cache_meta_add(c, "hits", 7, T0), LP_OK);
    lp_cache_close(c);
    c = open_rw(dir, 0);
    assert_int_equal(lp_cache_meta_add(c, "hits", 5, T0), LP_OK);
    assert_int_equal(lp_cache_meta_get(c, "hits"), 12);
    lp_cache_close(c);
    cache_dir_remove(dir);
}

static void read_only_open_of_missing_cache_fails_with_path(void **state)
{
    (void)state;
    lp_cache_opts o = {.read_only = true};
    lp_cache *c = NULL;
    char err[256] = "";
    assert_int_equal(lp_cache_open("/tmp/lp_cache_does_not_exist", &o, &c, err, sizeof(err)),
                     LP_E_CACHE);
    assert_non_null(strstr(err, "/tmp/lp_cache_does_not_exist"));
}

typedef struct reader_arg {
    lp_cache *c;
    int found;
} reader_arg;

static void *reader(void *arg)
{
    reader_arg *ra = arg;
    char key[32];
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "k%d", i % 500);
        lp_str v;
        bool neg;
        if (lp_cache_get(ra->c, "company", S(key), T0, &v, &neg) == LP_OK && v.len == 3 &&
            !memcmp(v.ptr, "val", 3))
            ra->found++;
    }
    return NULL;
}

static void concurrent_readers_and_growing_writer(void **state)
{
    (void)state;
    char *dir = cache_dir_new();
    lp_cache *c = open_rw(dir, 128 * 1024);
    char keys[500][16];
    lp_cache_entry e[500];
    for (int i = 0; i < 500; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%d", i);
        e[i] = (lp_cache_entry){S(keys[i]), S("val"), T0, 0, false};
    }
    assert_int_equal(lp_cache_put(c, "company", e, 500), LP_OK);
    pthread_t th[4];
    reader_arg ra[4];
    for (int i = 0; i < 4; i++) {
        ra[i] = (reader_arg){c, 0};
        pthread_create(&th[i], NULL, reader, &ra[i]);
    }
    char big[2048];
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    char bkeys[400][16];
    lp_cache_entry b[400];
    for (int i = 0; i < 400; i++) {
        snprintf(bkeys[i], sizeof(bkeys[i]), "big%d", i);
        b[i] = (lp_cache_entry){S(bkeys[i]), S(big), T0, 0, false};
    }
    assert_int_equal(lp_cache_put(c, "llm", b, 400), LP_OK); /* forces growth */
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(ra[i].found, 2000);
    }
    lp_cache_close(c);
    cache_dir_remove(dir);
}

typedef struct seen {
    int calls;
    bool negative;
    char value[64];
    uint32_t len;
} seen;

static void remember(void *ud, lp_str value, bool negative)
{
    seen *sn = ud;
    sn->calls++;
    sn->negative = negative;
    sn->len = value.len < sizeof(sn->value) ? value.len : (uint32_t)sizeof(sn->value);
    memcpy(sn->value, value.ptr, sn->len);
}

static void lookup_hands_the_value_over_in_place(void **state)
{
    (void)state;
    char *dir = cache_dir_new();
    lp_cache *c = open_rw(dir, 0);
    put_one(c, "company", "acme.com", "\x01payload", T0, DAY_MS);
    put_one(c, "person", "nobody@acme.com", NULL, T0, DAY_MS);
    seen sn = {0};
    assert_int_equal(lp_cache_lookup(c, LP_CACHE_COMPANY, S("acme.com"), T0, remember, &sn),
                     LP_OK);
    assert_int_equal(sn.calls, 1);
    assert_false(sn.negative);
    assert_int_equal(sn.len, 8);
    assert_memory_equal(sn.value, "\x01payload", 8);
    assert_int_equal(lp_cache_lookup(c, LP_CACHE_PERSON, S("nobody@acme.com"), T0, remember, &sn),
                     LP_OK);
    assert_true(sn.negative);
    assert_int_equal(sn.len, 0);
    /* expired, absent, empty or over-long keys, other tables: no call */
    sn.calls = 0;
    assert_int_equal(lp_cache_lookup(c, LP_CACHE_COMPANY, S("acme.com"), T0 + DAY_MS, remember,
                                     &sn), LP_E_EOF);
    assert_int_equal(lp_cache_lookup(c, LP_CACHE_COMPANY, S("nope.com"), T0, remember, &sn),
                     LP_E_EOF);
    assert_int_equal(lp_cache_lookup(c, LP_CACHE_COMPANY, S(""), T0, remember, &sn), LP_E_EOF);
    char long_key[600];
    memset(long_key, 'k', sizeof(long_key) - 1);
    long_key[sizeof(long_key) - 1] = 0;
    assert_int_equal(lp_cache_lookup(c, LP_CACHE_COMPANY, S(long_key), T0, remember, &sn),
                     LP_E_EOF);
    assert_int_equal(lp_cache_lookup(c, LP_CACHE_PERSON, S("acme.com"), T0, remember, &sn),
                     LP_E_EOF);
    assert_int_equal(lp_cache_lookup(c, LP_CACHE_NTABLES, S("acme.com"), T0, remember, &sn),
                     LP_E_CACHE);
    assert_int_equal(lp_cache_lookup(c, -1, S("acme.com"), T0, remember, &sn), LP_E_CACHE);
    assert_int_equal(sn.calls, 0);
    assert_int_equal(lp_cache_table_index("company"), LP_CACHE_COMPANY);
    assert_int_equal(lp_cache_table_index("meta"), LP_CACHE_META);
    lp_cache_close(c);
    cache_dir_remove(dir);
}

static void a_lookup_after_a_put_sees_it(void **state)
{
    (void)state;
    char *dir = cache_dir_new();
    lp_cache *c = open_rw(dir, 0);
    seen sn = {0};
    /* the thread's snapshot is live after this miss; the put must still show */
    assert_int_equal(lp_cache_lookup(c, LP_CACHE_COMPANY, S("new.com"), T0, remember, &sn),
                     LP_E_EOF);
    put_one(c, "company", "new.com", "v1", T0, 0);
    assert_int_equal(lp_cache_lookup(c, LP_CACHE_COMPANY, S("new.com"), T0, remember, &sn),
                     LP_OK);
    assert_memory_equal(sn.value, "v1", 2);
    put_one(c, "company", "new.com", "v2", T0, 0); /* an overwrite too */
    lp_str v;
    bool neg;
    assert_int_equal(lp_cache_get(c, "company", S("new.com"), T0, &v, &neg), LP_OK);
    assert_memory_equal(v.ptr, "v2", 2);
    /* so does a purge */
    put_one(c, "company", "old.com", "v", T0 - 2 * DAY_MS, DAY_MS);
    size_t removed = 0;
    assert_int_equal(lp_cache_get(c, "company", S("old.com"), T0 - DAY_MS - 1, &v, &neg), LP_OK);
    assert_int_equal(lp_cache_purge(c, "company", T0, &removed), LP_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(lp_cache_get(c, "company", S("old.com"), T0 - DAY_MS - 1, &v, &neg),
                     LP_E_EOF);
    lp_cache_close(c);
    cache_dir_remove(dir);
}

/* A thread that looks a key up, then idles (holding its snapshot) until told to look again. */
typedef struct idler {
    lp_cache *c;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int step; /* 1: first lookup done; 2: look again; 3: done */
    int first, second;
    seen sn;
} idler;

static void idler_set(idler *id, int step)
{
    pthread_mutex_lock(&id->mu);
    id->step = step;
    pthread_cond_broadcast(&id->cv);
    pthread_mutex_unlock(&id->mu);
}

static void idler_wait(idler *id, int step)
{
    pthread_mutex_lock(&id->mu);
    while (id->step < step)
        pthread_cond_wait(&id->cv, &id->mu);
    pthread_mutex_unlock(&id->mu);
}

static void *idle_reader(void *arg)
{
    idler *id = arg;
    id->first = lp_cache_lookup(id->c, LP_CACHE_COMPANY, S("k1"), T0, remember, &id->sn);
    idler_set(id, 1);
    idler_wait(id, 2);
    id->second = lp_cache_lookup(id->c, LP_CACHE_LLM, S("big399"), T0, remember, &id->sn);
    idler_set(id, 3);
    return NULL;
}

static void map_grows_while_an_idle_thread_holds_a_snapshot(void **state)
{
    (void)state;
    char *dir = cache_dir_new();
    lp_cache *c = open_rw(dir, 128 * 1024);
    put_one(c, "company", "k1", "val", T0, 0);
    idler id = {.c = c};
    pthread_mutex_init(&id.mu, NULL);
    pthread_cond_init(&id.cv, NULL);
    pthread_t th;
    pthread_create(&th, NULL, idle_reader, &id);
    idler_wait(&id, 1);
    assert_int_equal(id.first, LP_OK);
    size_t map0, map1, used, file;
    assert_int_equal(lp_cache_info(c, &map0, &used, &file), LP_OK);
    /* the reader is parked outside the cache with a live snapshot: growth must not wait for it */
    char big[2048];
    memset(big, 'y', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    char keys[400][16];
    lp_cache_entry b[400];
    for (int i = 0; i < 400; i++) {
        snprintf(keys[i], sizeof(keys[i]), "big%d", i);
        b[i] = (lp_cache_entry){S(keys[i]), S(big), T0, 0, false};
    }
    assert_int_equal(lp_cache_put(c, "llm", b, 400), LP_OK);
    assert_int_equal(lp_cache_info(c, &map1, &used, &file), LP_OK);
    assert_true(map1 > map0);
    idler_set(&id, 2);
    idler_wait(&id, 3);
    pthread_join(th, NULL);
    assert_int_equal(id.second, LP_OK); /* a fresh snapshot on the grown map */
    assert_int_equal(id.sn.len, 64);
    assert_memory_equal(id.sn.value, big, 64);
    pthread_mutex_destroy(&id.mu);
    pthread_cond_destroy(&id.cv);
    lp_cache_close(c);
    cache_dir_remove(dir);
}

/* Two opens of one directory share one environment: closing one leaves the other working. */
static void one_directory_opened_twice_shares_its_environment(void **state)
{
    (void)state;
    char *dir = cache_dir_new();
    lp_cache *a = open_rw(dir, 0), *b = open_rw(dir, 0), *ro = NULL;
    assert_ptr_equal(a, b);
    lp_cache_opts o = {.read_only = true};
    char err[256];
    assert_int_equal(lp_cache_open(dir, &o, &ro, err, sizeof(err)), LP_OK);
    assert_ptr_equal(ro, a);
    lp_cache_entry e = {S("twice.com"), S("v"), T0, 0, false};
    assert_int_equal(lp_cache_put(a, "company", &e, 1), LP_OK);
    lp_cache_close(a);
    lp_cache_close(ro);
    seen sn = {0};
    assert_int_equal(lp_cache_lookup(b, LP_CACHE_COMPANY, S("twice.com"), T0, remember, &sn),
                     LP_OK);
    lp_cache_close(b);

    /* Read-only first: a writer in the same process is refused, clearly. */
    assert_int_equal(lp_cache_open(dir, &o, &ro, err, sizeof(err)), LP_OK);
    lp_cache *w = NULL;
    assert_int_equal(lp_cache_open(dir, NULL, &w, err, sizeof(err)), LP_E_CACHE);
    assert_non_null(strstr(err, "read-only"));
    lp_cache_close(ro);
    cache_dir_remove(dir);
}

static void another_process_writes_show_within_milliseconds(void **state)
{
    (void)state;
    char *dir = cache_dir_new();
    lp_cache *c = open_rw(dir, 0);
    seen sn = {0};
    assert_int_equal(lp_cache_lookup(c, LP_CACHE_COMPANY, S("far.com"), T0, remember, &sn),
                     LP_E_EOF);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* its own environment; _exit leaves the parent's alone */
        lp_cache *c2 = NULL;
        char err[256];
        lp_cache_entry e = {S("far.com"), S("v"), T0, 0, false};
        int ok = lp_cache_open(dir, NULL, &c2, err, sizeof(err)) == LP_OK &&
                 lp_cache_put(c2, "company", &e, 1) == LP_OK;
        lp_cache_close(c2);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    struct timespec pause = {0, 50 * 1000 * 1000}; /* longer than a snapshot lives */
    nanosleep(&pause, NULL);
    assert_int_equal(lp_cache_lookup(c, LP_CACHE_COMPANY, S("far.com"), T0, remember, &sn),
                     LP_OK);
    lp_cache_close(c);
    cache_dir_remove(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(value_reads_back_until_its_ttl_runs_out),
        cmocka_unit_test(negative_entry_reads_as_known_miss_then_expires),
        cmocka_unit_test(map_grows_instead_of_failing),
        cmocka_unit_test(stat_and_purge_count_live_negative_and_expired),
        cmocka_unit_test(meta_counters_accumulate_across_opens),
        cmocka_unit_test(read_only_open_of_missing_cache_fails_with_path),
        cmocka_unit_test(concurrent_readers_and_growing_writer),
        cmocka_unit_test(lookup_hands_the_value_over_in_place),
        cmocka_unit_test(a_lookup_after_a_put_sees_it),
        cmocka_unit_test(map_grows_while_an_idle_thread_holds_a_snapshot),
        cmocka_unit_test(one_directory_opened_twice_shares_its_environment),
        cmocka_unit_test(another_process_writes_show_within_milliseconds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
