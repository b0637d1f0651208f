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
 * Threads: any number of threads may read; each thread keeps one read
 * snapshot open across its lookups (renewed after a write by this process,
 * and at least every few milliseconds), so a lookup costs no allocation, no
 * shared lock and no reader-table write. Writes are batched into one write
 * transaction per call. When the map is full, it grows and the write is
 * retried, instead of failing; growing releases every thread's snapshot.
 *
 * Freshness: a lookup that starts after this process's lp_cache_put()
 * returned sees what it wrote; another process's writes are seen within a
 * few milliseconds of active use (cache.c explains the trade-off).
 *
 * Lifetime: a value returned by lp_cache_get() is valid until the same
 * thread's next call into the cache; lp_cache_lookup() hands the value to a
 * function instead, without copying it.
 */
#ifndef LP_CACHE_H
#define LP_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "lead.h"

typedef struct lp_cache lp_cache;

#define LP_CACHE_NTABLES 4

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

/* The tables, by index into lp_cache_tables (lp_cache_table_index()). */
enum { LP_CACHE_PERSON, LP_CACHE_COMPANY, LP_CACHE_LLM, LP_CACHE_META };

/* Called with a live entry's value (empty when negative), valid only during the call. */
typedef void (*lp_cache_value_fn)(void *ud, lp_str value, bool negative);

/*
 * lp_cache_get() for the hot path: table is an index (LP_CACHE_PERSON...),
 * and a live entry's value is passed to fn in place, with no copy. fn must
 * not call into the cache. Returns LP_OK when fn was called, LP_E_EOF when
 * there is no live entry.
 * @locality any thread
 */
lp_err_t lp_cache_lookup(lp_cache *c, int table, lp_str key, int64_t now_ms,
                         lp_cache_value_fn fn, void *ud);

/*
 * Writes n entries to table in one write transaction (growing the map when
 * it is full).
 * @locality any thread; writers are serialised by LMDB
 */
lp_err_t lp_cache_put(lp_cache *c, const char *table, const lp_cache_entry *e, size_t n);

/*
 * Beyond the lookup path: the names of the tables, the value header codec,
 * and the operations behind `leadpipe cache stats|get|purge`.
 */
/* "person", "company", "llm", "meta" (counters kept by runs); see the enum above. */
extern const char *const lp_cache_tables[LP_CACHE_NTABLES];

/* Index of a table name in lp_cache_tables, or -1. */
int lp_cache_table_index(const char *table);

/* Decodes a stored value (header + bytes) into e (key untouched); false when malformed. */
bool lp_cache_decode(const void *raw, size_t len, lp_cache_entry *e);

/* True when e has not expired at now_ms (a TTL <= 0 never expires). */
bool lp_cache_entry_live(const lp_cache_entry *e, int64_t now_ms);

typedef struct lp_cache_table_stat {
    uint64_t entries;  /* every stored entry */
    uint64_t live;     /* positive and not expired */
    uint64_t negative; /* negative and not expired */
    uint64_t expired;  /* either kind, past its TTL (purge removes these) */
    uint64_t corrupt;  /* undecodable values (should stay 0) */
    int64_t oldest_ms, newest_ms; /* write times; 0 when empty */
} lp_cache_table_stat;

/*
 * Reads key's entry whether or not it has expired (for `cache get`). The
 * entry is valid until the same thread's next call into the cache.
 */
lp_err_t lp_cache_peek(lp_cache *c, const char *table, lp_str key, lp_cache_entry *e);

/* Counts the entries of table at now_ms. @locality any thread */
lp_err_t lp_cache_stat(lp_cache *c, const char *table, int64_t now_ms, lp_cache_table_stat *st);

/*
 * Calls fn on every entry of table, in key order, inside one read
 * transaction; ok is false for an undecodable value. fn returns false to
 * stop. Entries are valid only during the call.
 */
typedef bool (*lp_cache_visit_fn)(void *ud, const lp_cache_entry *e, bool ok);
lp_err_t lp_cache_foreach(lp_cache *c, const char *table, lp_cache_visit_fn fn, void *ud);

/* Deletes expired entries of table in one write transaction; *removed counts them. */
lp_err_t lp_cache_purge(lp_cache *c, const char *table, int64_t now_ms, size_t *removed);

/* The map size, the bytes in use (last page) and the size of data.mdb. */
lp_err_t lp_cache_info(lp_cache *c, size_t *map_size, size_t *used_bytes, size_t *file_bytes);

/* Adds delta to the counter key of the meta table (hits, misses, credits...). */
lp_err_t lp_cache_meta_add(lp_cache *c, const char *key, int64_t delta, int64_t now_ms);

/* Reads a meta counter; 0 when absent. */
int64_t lp_cache_meta_get(lp_cache *c, const char *key);

#endif
