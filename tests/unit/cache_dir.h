/*
 * cache_dir.h - a scratch directory for an LMDB cache, shared by
 * test_cache.c and test_enrich.c.
 */
#ifndef LP_TEST_CACHE_DIR_H
#define LP_TEST_CACHE_DIR_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* A new empty directory under /tmp; valid until the next call. */
static char *cache_dir_new(void)
{
    static char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/lp_cacheXXXXXX");
    assert_non_null(mkdtemp(dir));
    return dir;
}

/* Removes a cache directory made by cache_dir_new and the files LMDB put there. */
static void cache_dir_remove(const char *dir)
{
    char p[128];
    snprintf(p, sizeof(p), "%s/data.mdb", dir);
    unlink(p);
    snprintf(p, sizeof(p), "%s/lock.mdb", dir);
    unlink(p);
    rmdir(dir);
}

#endif
