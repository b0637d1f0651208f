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
#include <unistd.h>

#include "cache.h"

#define T0 1700000000000LL
#define DAY_MS (24LL * 3600 * 1000)

static lp_str S(const char *s)
{
    return (lp_str){s, (uint32_t)strlen(s)};
}

static char *tmpdir(void)
{
    static char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/lp_cacheXXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

static void rmdir_cache(const char *dir)
{
    char p[128];
    snprintf(p, sizeof(p), "%s/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/lock.mdb", dir);
    unlink(p);
    rmdir(dir);
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
    char *dir = tmpdir();
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
    rmdir_cache(dir);
}

static void negative_entry_reads_as_known_miss_then_expires(void **state)
{
    (void)state;
    char *dir = tmpdir();
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
    rmdir_cache(dir);
}

static void map_grows_instead_of_failing(void **state)
{
    (void)state;
    char *dir = tmpdir();
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
    rmdir_cache(dir);
}

static void stat_and_purge_count_live_negative_and_expired(void **state)
{
    (void)state;
    char *dir = tmpdir();
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
    rmdir_cache(dir);
}

static void meta_counters_accumulate_across_opens(void **state)
{
    (void)state;
    char *dir = tmpdir();
    lp_cache *c = open_rw(dir, 0);
    assert_int_equal(lp_cache_meta_get(c, "hits"), 0);
    assert_int_equal(lp_cache_meta_add(c, "hits", 7, T0), LP_OK);
    lp_cache_close(c);
    c = open_rw(dir, 0);
    assert_int_equal(lp_cache_meta_add(c, "hits", 5, T0), LP_OK);
    assert_int_equal(lp_cache_meta_get(c, "hits"), 12);
    lp_cache_close(c);
    rmdir_cache(dir);
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
    char *dir = tmpdir();
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
    rmdir_cache(dir);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
