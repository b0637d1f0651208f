/*
 * cache.h - the LMDB cache shared by enrichment and the LLM router.
 *
 * One LMDB environment holds named tables: "person" (keyed by normalised
 * email), "company" (keyed by company domain) and "llm" (keyed by a prompt
 * hash). Every value carries its write time and a TTL; an expired entry
 * reads as absent. A negative entry records "the providers had nothing", so
 * a known miss is not asked again until its shorter TTL runs out.
 *
 * Values are opaque bytes to this module; each user keeps its own compact,
 * versioned encoding.
 *
 * Threads: any number of threads may read; each thread reuses one read
 * transaction (reset/renew), so a lookup costs no allocation and no lock.
 * Writes are batched into one write transaction per call. When the map is
 * full, it grows and the write is retried, instead of failing.
 *
 * Lifetime: a value returned by lp_cache_get() is valid until the same
 * thread's next call into the cache.
 */
#ifndef LP_CACHE_H
#define LP_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "lead.h"

typedef struct lp_cache lp_cache;

typedef struct lp_cache_opts {
    size_t map_size;     /* initial map size in bytes (0: 64 MiB); grows when full */
    size_t max_map_size; /* growth limit (0: 64 GiB) */
    bool read_only;      /* for `cache stats` and `cache get` */
} lp_cache_opts;

typedef struct lp_cache_entry {
    lp_str key;
    lp_str value;       /* ignored for a negative entry */
    int64_t written_ms; /* write time */
    int64_t ttl_ms;     /* lifetime from written_ms */
    bool negative;      /* "nothing known": no value */
} lp_cache_entry;

/* Opens (creating if needed) the cache directory at path. */
lp_err_t lp_cache_open(const char *path, const lp_cache_opts *o, lp_cache **out, char *err,
                       size_t errlen);

void lp_cache_close(lp_cache *c);

/*
 * Looks key up in table at time now_ms. Returns LP_OK with the value (or
 * with *negative set for a live negative entry), or LP_E_EOF when there is
 * no live entry.
 * @locality any thread
 */
lp_err_t lp_cache_get(lp_cache *c, const char *table, lp_str key, int64_t now_ms,
                      lp_str *value, bool *negative);

/*
 * Writes n entries to table in one write transaction (growing the map when
 * it is full).
 * @locality any thread; writers are serialised by LMDB
 */
lp_err_t lp_cache_put(lp_cache *c, const char *table, const lp_cache_entry *e, size_t n);

#endif
