/*
 * strset.h - an immutable set of strings for rule lookups.
 *
 * Built once when a pipeline loads; queried per lead. Membership ignores
 * ASCII case (members are stored folded to lower case). Open addressing over
 * a multiply-fold hash of the folded bytes, so a lookup is one hash and
 * usually one compare.
 *
 * Threads: building is single-threaded; once built, lookups from any number
 * of threads are safe.
 */
#ifndef LP_STRSET_H
#define LP_STRSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lp_strset lp_strset;

lp_strset *lp_strset_new(void);
void lp_strset_free(lp_strset *s);

/* Adds a member (copied). Returns 0, or -1 on allocation failure. */
int lp_strset_add(lp_strset *s, const char *str, size_t len);

/* True when str (len bytes) is a member, ignoring ASCII case. */
bool lp_strset_has(const lp_strset *s, const char *str, size_t len);

/*
 * The hash lp_strset_has() computes for str (len bytes), a function of its
 * bytes folded to ASCII lower case (so "US" and "us" hash alike). The same
 * for every set, so a caller that tests one value against many sets can hash
 * it once. It is only meaningful within one process: never store it.
 */
uint64_t lp_strset_hash(const char *str, size_t len);

/*
 * lp_strset_has() with hash = lp_strset_hash(str, len) computed by the
 * caller. Same result; no hashing, usually one compare.
 */
bool lp_strset_has_hashed(const lp_strset *s, uint64_t hash, const char *str, size_t len);

/*
 * A 64-bit summary of the members: bit (h >> 58) set for each member's
 * lp_strset_hash() h. A value whose bit is clear is not a member, so a
 * caller keeping the summary beside the set rejects most misses without a
 * call. Valid until the next lp_strset_add.
 */
uint64_t lp_strset_filter64(const lp_strset *s);

size_t lp_strset_count(const lp_strset *s);

#endif
