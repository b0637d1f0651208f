/*
 * dedupe.c - the shared dedupe table; see dedupe.h for the contract.
 *
 * Owns: one slab of entries per stripe, each stripe with an open-addressing
 * index (linear probing, backward-shift deletion) from key hash to slab
 * slot, and a doubly linked list of its slots in arming order (newest at
 * the head). The slab is allocated whole by lp_dedupe_new() but filled in
 * slot order, so only the pages of slots in use become resident; the index
 * starts small and doubles as the stripe fills. The check path allocates
 * only to grow an index and for lead ids longer than ID_INLINE.
 *
 * Cache behaviour, which is what a check costs: an entry is exactly one
 * cache line, and an index cell carries the low 32 bits of its key's hash
 * next to the slot number. Probing compares those bits in the index and
 * touches the slab only on a match (a false match is about 1 in 2^32), and
 * backward-shift deletion and growth find each cell's home from the same
 * bits. So a new key costs about one index line and one entry line.
 *
 * Threads: a stripe's fields are touched only under its lock. The stripe
 * is chosen by the top bits of the key hash and the index cell by the low
 * bits, so the two are independent. There is no counter shared between
 * stripes: lp_dedupe_count() sums the stripes' used counts (relaxed atomics,
 * written under the stripe lock), so two threads checking keys of
 * different stripes write no common cache line.
 *
 * Invariants, per stripe: used <= cap; every slot below used is linked in
 * the arming list and indexed exactly once; the index is at most half full.
 */
#include "dedupe.h"

#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#define XXH_INLINE_ALL /* short keys: XXH3 inlined, same values as the library's */
#include <xxhash.h>

#define LP_DEDUPE_STRIPES_MAX 64
#define LP_DEDUPE_NIL UINT32_MAX /* no slot (list ends, empty index cells) */
#define LP_DEDUPE_CAP_MAX (UINT32_MAX / 4)
#define LP_DEDUPE_CELLS_MIN 16u /* a stripe's first index */
#define ID_INLINE 39            /* longest lead id kept inside the entry */
#define ID_HEAP UINT8_MAX       /* id.in.len of an entry whose id is on the heap */

/* One key: 64 bytes, one cache line (the slab is line-aligned). */
typedef struct lp_dedupe_entry {
    uint64_t hash;
    int64_t ts_ms;       /* event time the key was armed */
    uint32_t prev, next; /* arming order: prev is newer, next is older */
    union {              /* the first lead's id */
        struct {
            char bytes[ID_INLINE];
            uint8_t len; /* <= ID_INLINE, or ID_HEAP */
        } in;
        struct {
            char *ptr;
            uint32_t len;
        } heap; /* when in.len == ID_HEAP */
    } id;
} lp_dedupe_entry;

_Static_assert(sizeof(lp_dedupe_entry) == 64, "an entry is one cache line");

/* An index cell: the key's hash bits that place and filter it, and its slot. */
typedef struct lp_dedupe_cell {
    uint32_t tag;  /* (uint32_t)hash: home cell is tag & mask */
    uint32_t slot; /* LP_DEDUPE_NIL when empty */
} lp_dedupe_cell;

/* A stripe: its lock and every field a check reads or writes share one
 * cache line, and no other stripe's fields sit on it. */
typedef struct lp_dedupe_stripe {
    _Alignas(64) atomic_bool locked; /* see stripe_lock() */
    uint32_t mask, cells_max;
    uint32_t cap;
    _Atomic uint32_t used; /* written under lock; read without by lp_dedupe_count() */
    uint32_t newest, oldest;
    lp_dedupe_entry *slab;
    lp_dedupe_cell *index; /* mask + 1 cells */
} lp_dedupe_stripe;

_Static_assert(sizeof(lp_dedupe_stripe) == 64, "a stripe is one cache line");

struct lp_dedupe {
    int64_t window_ms;
    unsigned nstripes;
    unsigned shift; /* hash >> shift picks the stripe */
    lp_dedupe_stripe *stripes;
};

/* ---- locks ------------------------------------------------------------- */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/*
 * A stripe's lock. Critical sections are short (a probe, a few links,
 * rarely an index doubling) and never wait on anything, so a test-and-set
 * lock does: taking it free costs one atomic exchange and giving it back a
 * plain release store, where a mutex costs an atomic on both; and it is one
 * byte, so the stripe's fields fit beside it on one cache line. A waiter
 * spins on a plain load (no bus traffic while the holder works) and yields
 * its CPU now and then, in case the holder was preempted.
 */
static void stripe_lock(lp_dedupe_stripe *st)
{
    unsigned spins = 0;
    while (atomic_exchange_explicit(&st->locked, true, memory_order_acquire))
        while (atomic_load_explicit(&st->locked, memory_order_relaxed))
            if (++spins % 128 == 0)
                sched_yield();
            else
                cpu_relax();
}

static void stripe_unlock(lp_dedupe_stripe *st)
{
    atomic_store_explicit(&st->locked, false, memory_order_release);
}

/* ---- index ------------------------------------------------------------- */

static lp_dedupe_cell *index_alloc(uint32_t cells)
{
    lp_dedupe_cell *index = malloc((size_t)cells * sizeof(*index));
    if (index) /* every slot LP_DEDUPE_NIL; the tags of empty cells are never read */
        memset(index, 0xFF, (size_t)cells * sizeof(*index));
    return index;
}

/* The cell holding hash, or the empty cell where it would go. */
static uint32_t index_find(const lp_dedupe_stripe *st, uint64_t hash)
{
    uint32_t tag = (uint32_t)hash, i = tag & st->mask;
    for (;; i = (i + 1) & st->mask) {
        const lp_dedupe_cell *c = &st->index[i];
        if (c->slot == LP_DEDUPE_NIL || (c->tag == tag && st->slab[c->slot].hash == hash))
            return i;
    }
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
        st->index[i].slot = LP_DEDUPE_NIL;
        do {
            j = (j + 1) & st->mask;
            if (st->index[j].slot == LP_DEDUPE_NIL)
                return;
        } while (index_between(i, st->index[j].tag & st->mask, j));
        st->index[i] = st->index[j];
        i = j;
    }
}

/* Doubles the index, placing every cell again from its tag; false when
 * memory is short (the stripe then keeps its index, still usable). */
static bool index_grow(lp_dedupe_stripe *st)
{
    uint32_t cells = (st->mask + 1) * 2;
    lp_dedupe_cell *index = index_alloc(cells);
    if (!index)
        return false;
    for (uint32_t i = 0; i <= st->mask; i++) {
        lp_dedupe_cell c = st->index[i];
        if (c.slot == LP_DEDUPE_NIL)
            continue;
        uint32_t j = c.tag & (cells - 1);
        while (index[j].slot != LP_DEDUPE_NIL)
            j = (j + 1) & (cells - 1);
        index[j] = c;
    }
    free(st->index);
    st->index = index;
    st->mask = cells - 1;
    return true;
}

/* ---- stripes ----------------------------------------------------------- */

/* Allocates a stripe's slab and first index for cap entries. On failure
 * nothing is left allocated and slab is NULL, which stripe_destroy()
 * skips. */
static bool stripe_init(lp_dedupe_stripe *st, uint32_t cap)
{
    uint32_t cells_max = 4;
    while (cells_max < 2 * (uint64_t)cap)
        cells_max *= 2;
    uint32_t cells = cells_max < LP_DEDUPE_CELLS_MIN ? cells_max : LP_DEDUPE_CELLS_MIN;
    st->slab = aligned_alloc(64, (size_t)cap * sizeof(*st->slab));
    st->index = index_alloc(cells);
    if (!st->slab || !st->index) {
        free(st->slab);
        free(st->index);
        st->slab = NULL;
        return false;
    }
    st->mask = cells - 1;
    st->cells_max = cells_max;
    st->cap = cap;
    atomic_init(&st->locked, false);
    atomic_init(&st->used, 0);
    st->newest = st->oldest = LP_DEDUPE_NIL;
    return true;
}

static void entry_drop_id(lp_dedupe_entry *e)
{
    if (e->id.in.len == ID_HEAP)
        free(e->id.heap.ptr);
    e->id.in.len = 0;
}

static void stripe_destroy(lp_dedupe_stripe *st)
{
    if (!st->slab)
        return;
    uint32_t used = atomic_load_explicit(&st->used, memory_order_relaxed);
    for (uint32_t i = 0; i < used; i++)
        entry_drop_id(&st->slab[i]);
    free(st->slab);
    free(st->index);
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
    if (id.len <= ID_INLINE) {
        memcpy(e->id.in.bytes, id.ptr, id.len);
        e->id.in.len = (uint8_t)id.len;
        return;
    }
    char *p = malloc(id.len);
    if (!p)
        return;
    memcpy(p, id.ptr, id.len);
    e->id.heap.ptr = p;
    e->id.heap.len = id.len;
    e->id.in.len = ID_HEAP;
}

static lp_str entry_id(const lp_dedupe_entry *e)
{
    if (e->id.in.len == ID_HEAP)
        return (lp_str){e->id.heap.ptr, e->id.heap.len};
    return (lp_str){e->id.in.bytes, e->id.in.len};
}

/*
 * A slot for a new key: a never-used one, or the oldest one evicted. Grows
 * the index first when the new key would make it more than half full; if
 * that cannot be done the oldest key is evicted instead, which keeps the
 * bound on the index's load.
 */
static uint32_t stripe_take_slot(lp_dedupe_stripe *st)
{
    uint32_t used = atomic_load_explicit(&st->used, memory_order_relaxed);
    bool room = used < st->cap;
    if (room && 2 * ((uint64_t)used + 1) > (uint64_t)st->mask + 1)
        room = st->mask + 1 < st->cells_max && index_grow(st);
    if (room || st->oldest == LP_DEDUPE_NIL) {
        atomic_store_explicit(&st->used, used + 1, memory_order_relaxed);
        st->slab[used].id.in.len = 0; /* a fresh slot holds no id to free */
        return used;
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
    stripe_lock(st);
    uint32_t cell = index_find(st, hash);
    if (st->index[cell].slot != LP_DEDUPE_NIL) {
        dup = stripe_check_known(d, st, st->index[cell].slot, lead_id, ts_ms, a, first_id);
    } else {
        uint32_t s = stripe_take_slot(st);
        cell = index_find(st, hash); /* growth or eviction may have moved cells */
        st->index[cell] = (lp_dedupe_cell){(uint32_t)hash, s};
        stripe_arm(st, s, hash, lead_id, ts_ms);
    }
    stripe_unlock(st);
    return dup;
}

size_t lp_dedupe_count(const lp_dedupe *d)
{
    size_t n = 0;
    for (unsigned i = 0; i < d->nstripes; i++)
        n += atomic_load_explicit(&d->stripes[i].used, memory_order_relaxed);
    return n;
}
