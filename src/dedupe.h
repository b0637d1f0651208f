/*
 * dedupe.h - the dedupe table: which key was first seen when, and by which
 * lead.
 *
 * One table per process, shared by every worker thread. The dedupe stage
 * passes the lead's normalised email as the key (see lp_normalize_email()),
 * its lead id and its event time. A lead is a duplicate when another lead
 * with the same key was recorded within window_ms of event time before it;
 * its outcome then names that first lead.
 *
 * Event time, not the wall clock, decides the window, so replaying a topic
 * or a file gives the same answers.
 *
 * Memory grows with the keys held and is bounded by max_keys: 64 bytes per
 * key (a 64-bit XXH3 hash of the key, the time it was armed and the first
 * lead id, inline up to 39 bytes; a longer id gets its own heap copy), plus
 * an index of 16 to 32 bytes per key. A full table of the default 1,000,000
 * keys takes about 80 MiB. When the table is full the oldest entry of the
 * key's stripe is evicted, so a duplicate of a lead that old is let through
 * as a first lead: size max_keys for the number of distinct keys a window
 * can hold.
 *
 * Keys are identified by their 64-bit hash alone: two keys that collide
 * (odds about n^2 / 2^65 for n keys) count as one.
 *
 * Threads: lp_dedupe_check() and lp_dedupe_count() may be called from any
 * number of threads at once. The table is split into up to 64 stripes by
 * key hash, each behind its own lock, so threads contend only when their
 * keys share a stripe, and write no common cache line otherwise.
 * lp_dedupe_new() and lp_dedupe_free() must not race with anything else.
 */
#ifndef LP_DEDUPE_H
#define LP_DEDUPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "lead.h"

typedef struct lp_dedupe lp_dedupe;

/*
 * Creates a table that remembers up to max_keys keys for window_ms of event
 * time each (window_ms <= 0: keys never expire, only eviction forgets them).
 * Returns NULL when max_keys is 0 or too large, or memory is short.
 */
lp_dedupe *lp_dedupe_new(int64_t window_ms, size_t max_keys);

/* Frees the table and every id it holds. Accepts NULL. */
void lp_dedupe_free(lp_dedupe *d);

/*
 * Records (key, lead_id, ts_ms). Returns true when an earlier lead with the
 * same key was seen within window_ms before ts_ms; *first_id then holds that
 * earlier lead's id, copied into arena a (an empty string if the arena is
 * exhausted). Returns false for a first lead, and *first_id is untouched.
 *
 * The first lead's id is remembered: a duplicate does not replace it. A key
 * whose window has expired is re-armed with the new lead and its time.
 * A lead that arrives with an event time earlier than the first lead's
 * (out-of-order partitions) is a duplicate of it too.
 *
 * The same lead seen again (equal non-empty lead_id, as after an
 * at-least-once redelivery) is not its own duplicate: it returns false.
 *
 * Threads: any; locks the key's stripe for the duration of the call.
 */
bool lp_dedupe_check(lp_dedupe *d, lp_str key, lp_str lead_id, int64_t ts_ms, lp_arena *a,
                     lp_str *first_id);

/* The number of keys held. Threads: any; a snapshot without locking. */
size_t lp_dedupe_count(const lp_dedupe *d);

#endif
