/*
 * dedupe.c - the shared dedupe table; see dedupe.h for the contract.
 *
 * Owns: one slab of entries per stripe, each stripe with an open-addressing
 * index (linear probing, backward-shift deletion) from key hash to slab
 * slot, and a doubly linked list of its slots in arming order (newest at
 * the head). All of a stripe's memory is allocated by lp_dedupe_new(); the
 * check path allocates only for lead ids longer than LP_DEDUPE_ID_INLINE.
 *
 * Threads: a stripe's fields are touched only under its mutex. The stripe
 * is chosen by the top bits of the key hash and the index slot by the low
 * bits, so the two are independent. count is atomic so that
 * lp_dedupe_count() needs no lock.
 *
 * Invariants, per stripe: used <= cap; every slot below used is linked in
 * the arming list and indexed exactly once; the index is at most half full.
 */
#include "dedupe.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define LP_DEDUPE_ID_INLINE 40
#define LP_DEDUPE_STRIPES_MAX 64
#define LP_DEDUPE_NIL UINT32_MAX /* no slot (list ends, empty index cells) */
#define LP_DEDUPE_CAP_MAX (UINT32_MAX / 4)

typedef struct lp_dedupe_entry {
    uint64_t hash;
    int64_t ts_ms;       /* event time the key was armed */
    uint32_t prev, next; /* arming order: prev is newer, next is older */
    uint32_t id_len;
    union {
        char inline_id[LP_DEDUPE_ID_INLINE]; /* id_len <= LP_DEDUPE_ID_INLINE */
        char *heap_id;                       /* id_len > LP_DEDUPE_ID_INLINE */
    };
} lp_dedupe_entry;

typedef struct lp_dedupe_stripe {
    _Alignas(64) pthread_mutex_t lock;
    lp_dedupe_entry *slab;
    uint32_t *index; /* mask + 1 cells of slab slots, LP_DEDUPE_NIL when empty */
    uint32_t mask;
    uint32_t cap, used;
    uint32_t newest, oldest;
} lp_dedupe_stripe;

struct lp_dedupe {
    int64_t window_ms;
    unsigned nstripes;
    unsigned shift; /* hash >> shift picks the stripe */
    lp_dedupe_stripe *stripes;
    _Atomic size_t count;
};

/* ---- stripes ----------------------------------------------------------- */

/* Allocates a stripe's slab, index and lock for cap entries. On failure
 * nothing is left allocated and slab is NULL, which stripe_destroy() skips. */
static bool stripe_init(lp_dedupe_stripe *st, uint32_t cap)
{
    uint32_t cells = 4;
    while (cells < 2 * (uint64_t)cap)
        cells *= 2;
    st->slab = calloc(cap, sizeof(*st->slab));
    st->index = malloc((size_t)cells * sizeof(*st->index));
    if (!st->slab || !st->index || pthread_mutex_init(&st->lock, NULL) != 0) {
        free(st->slab);
        free(st->index);
        st->slab = NULL;
        return false;
    }
    memset(st->index, 0xFF, (size_t)cells * sizeof(*st->index));
    st->mask = cells - 1;
    st->cap = cap;
    st->newest = st->oldest = LP_DEDUPE_NIL;
    return true;
}

static void entry_drop_id(lp_dedupe_entry *e)
{
    if (e->id_len > LP_DEDUPE_ID_INLINE)
        free(e->heap_id);
    e->id_len = 0;
}

static void stripe_destroy(lp_dedupe_stripe *st)
{
    if (!st->slab)
        return;
    for (uint32_t i = 0; i < st->used; i++)
        entry_drop_id(&st->slab[i]);
    free(st->slab);
    free(st->index);
    pthread_mutex_destroy(&st->lock);
}

/* The index cell holding hash, or the empty cell where it would go. */
static uint32_t index_find(const lp_dedupe_stripe *st, uint64_t hash)
{
    uint32_t i = (uint32_t)hash & st->mask;
    while (st->index[i] != LP_DEDUPE_NIL && st->slab[st->index[i]].hash != hash)
        i = (i + 1) & st->mask;
    return i;
}

/* True when cell home lies cyclically in (from, to]. */
static bool index_between(uint32_t from, uint32_t home, uint32_t to)
{
    return from <= to ? (home > from && home <= to) : (home > from || home <= to);
}

/* Empties cell i and shifts later cells of the probe run back into it. */
static void index_delete(lp_dedupe_stripe *st, uint32_t i)
{
    uint32_t j = i;
    for (;;) {
        st->index[i] = LP_DEDUPE_NIL;
        do {
            j = (j + 1) & st->mask;
            if (st->index[j] == LP_DEDUPE_NIL)
                return;
        } while (index_between(i, (uint32_t)st->slab[st->index[j]].hash & st->mask, j));
        st->index[i] = st->index[j];
        i = j;
    }
}

static void list_unlink(lp_dedupe_stripe *st, uint32_t s)
{
    lp_dedupe_entry *e = &st->slab[s];
    if (e->prev != LP_DEDUPE_NIL)
        st->slab[e->prev].next = e->next;
    else
        st->newest = e->next;
    if (e->next != LP_DEDUPE_NIL)
        st->slab[e->next].prev = e->prev;
    else
        st->oldest = e->prev;
}

static void list_push_newest(lp_dedupe_stripe *st, uint32_t s)
{
    lp_dedupe_entry *e = &st->slab[s];
    e->prev = LP_DEDUPE_NIL;
    e->next = st->newest;
    if (st->newest != LP_DEDUPE_NIL)
        st->slab[st->newest].prev = s;
    else
        st->oldest = s;
    st->newest = s;
}

/* ---- entries ----------------------------------------------------------- */

/* Stores id as the entry's first lead; an id whose copy cannot be
 * allocated is stored empty. */
static void entry_set_id(lp_dedupe_entry *e, lp_str id)
{
    entry_drop_id(e);
    if (id.len <= LP_DEDUPE_ID_INLINE) {
        memcpy(e->inline_id, id.ptr, id.len);
        e->id_len = id.len;
        return;
    }
    char *p = malloc(id.len);
    if (!p)
        return;
    memcpy(p, id.ptr, id.len);
    e->heap_id = p;
    e->id_len = id.len;
}

static lp_str entry_id(const lp_dedupe_entry *e)
{
    const char *p = e->id_len > LP_DEDUPE_ID_INLINE ? e->heap_id : e->inline_id;
    return (lp_str){p, e->id_len};
}

/* A slot for a new key: a never-used one, or the oldest one evicted. */
static uint32_t stripe_take_slot(lp_dedupe *d, lp_dedupe_stripe *st)
{
    if (st->used < st->cap) {
        atomic_fetch_add_explicit(&d->count, 1, memory_order_relaxed);
        return st->used++;
    }
    uint32_t s = st->oldest;
    index_delete(st, index_find(st, st->slab[s].hash));
    list_unlink(st, s);
    return s;
}

/* Arms slot s for (hash, id, ts) as the newest entry of its stripe. */
static void stripe_arm(lp_dedupe_stripe *st, uint32_t s, uint64_t hash, lp_str id, int64_t ts)
{
    lp_dedupe_entry *e = &st->slab[s];
    e->hash = hash;
    e->ts_ms = ts;
    entry_set_id(e, id);
    list_push_newest(st, s);
}

/* True when ts falls within the window that opened at armed. */
static bool dedupe_in_window(const lp_dedupe *d, int64_t armed, int64_t ts)
{
    if (d->window_ms <= 0 || ts <= armed)
        return true;
    return (uint64_t)ts - (uint64_t)armed <= (uint64_t)d->window_ms;
}

/* ---- public ------------------------------------------------------------ */

/* Splits max_keys over the largest power of two of stripes, up to 64,
 * that gives each stripe at least one entry. */
static bool dedupe_init_stripes(lp_dedupe *d, size_t max_keys)
{
    unsigned bits = 0;
    while (bits < 6 && ((size_t)2 << bits) <= max_keys)
        bits++;
    d->nstripes = 1u << bits;
    d->shift = 64 - bits;
    size_t bytes = d->nstripes * sizeof(lp_dedupe_stripe);
    d->stripes = aligned_alloc(_Alignof(lp_dedupe_stripe), bytes);
    if (!d->stripes)
        return false;
    memset(d->stripes, 0, bytes);
    for (unsigned i = 0; i < d->nstripes; i++) {
        size_t cap = max_keys / d->nstripes + (i < max_keys % d->nstripes);
        if (!stripe_init(&d->stripes[i], (uint32_t)cap))
            return false;
    }
    return true;
}

lp_dedupe *lp_dedupe_new(int64_t window_ms, size_t max_keys)
{
    if (max_keys == 0 || max_keys / LP_DEDUPE_STRIPES_MAX >= LP_DEDUPE_CAP_MAX)
        return NULL;
    lp_dedupe *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->window_ms = window_ms;
    atomic_init(&d->count, 0);
    if (!dedupe_init_stripes(d, max_keys)) {
        lp_dedupe_free(d);
        return NULL;
    }
    return d;
}

void lp_dedupe_free(lp_dedupe *d)
{
    if (!d)
        return;
    if (d->stripes)
        for (unsigned i = 0; i < d->nstripes; i++)
            stripe_destroy(&d->stripes[i]);
    free(d->stripes);
    free(d);
}

/* Answers for a key already in the table, under the stripe lock. */
static bool stripe_check_known(const lp_dedupe *d, lp_dedupe_stripe *st, uint32_t s, lp_str lead_id,
                               int64_t ts, lp_arena *a, lp_str *first_id)
{
    lp_dedupe_entry *e = &st->slab[s];
    if (!dedupe_in_window(d, e->ts_ms, ts)) {
        list_unlink(st, s);
        stripe_arm(st, s, e->hash, lead_id, ts);
        return false;
    }
    lp_str first = entry_id(e);
    if (lead_id.len && lead_id.len == first.len && memcmp(lead_id.ptr, first.ptr, first.len) == 0)
        return false;
    char *copy = lp_arena_strndup(a, first.ptr, first.len);
    *first_id = copy ? (lp_str){copy, first.len} : (lp_str){"", 0};
    return true;
}

bool lp_dedupe_check(lp_dedupe *d, lp_str key, lp_str lead_id, int64_t ts_ms, lp_arena *a,
                     lp_str *first_id)
{
    uint64_t hash = XXH3_64bits(key.ptr, key.len);
    lp_dedupe_stripe *st = &d->stripes[d->nstripes > 1 ? hash >> d->shift : 0];
    bool dup = false;
    pthread_mutex_lock(&st->lock);
    uint32_t cell = index_find(st, hash);
    if (st->index[cell] != LP_DEDUPE_NIL) {
        dup = stripe_check_known(d, st, st->index[cell], lead_id, ts_ms, a, first_id);
    } else {
        uint32_t s = stripe_take_slot(d, st);
        cell = index_find(st, hash); /* eviction may have moved cells */
        st->index[cell] = s;
        stripe_arm(st, s, hash, lead_id, ts_ms);
    }
    pthread_mutex_unlock(&st->lock);
    return dup;
}

size_t lp_dedupe_count(const lp_dedupe *d)
{
    return atomic_load_explicit(&d->count, memory_order_relaxed);
}
