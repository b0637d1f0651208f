/*
 * strset.c - immutable, case-insensitive string sets for rule lookups.
 *
 * Owns: a slot table and one byte pool holding every member folded to ASCII
 * lower case. Slots refer to members by offset into the pool, so growing the
 * pool never invalidates them.
 *
 * Layout: open addressing with linear probing over XXH3_64bits of the folded
 * bytes. The capacity is a power of two and the load factor stays <= 0.5, so
 * a miss ends quickly at an empty slot. Each slot keeps the full 64-bit hash
 * and the member length, so a probe compares bytes only on a true candidate.
 *
 * A 256-bit filter indexed by the top byte of each member's hash answers most
 * misses (the usual outcome of a rule's "in") with one load, before any slot
 * is read.
 *
 * Lookups fold the query into a 256-byte stack buffer and hash it once.
 * Callers that test one value against many sets hash it once with
 * lp_strset_hash() and probe each set with lp_strset_has_hashed().
 * Queries longer than the longest member are rejected before hashing; longer
 * queries that could still match (sets of long members) are folded and hashed
 * in 256-byte chunks through an XXH3 streaming state on the stack, which
 * gives the same hash as the one-shot call. Nothing allocates on lookup.
 *
 * Threads: building (lp_strset_add) is single-threaded. After that the set is
 * never written, so any number of threads may call lp_strset_has at once.
 */
#define XXH_INLINE_ALL /* short keys: XXH3 inlined, same values as the library's */
#include "strset.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define SLOT_EMPTY UINT32_MAX
#define FOLD_BUF 256u
#define INITIAL_CAP 8u

typedef struct strset_slot {
    uint64_t hash;
    uint32_t off; /* offset of the folded member in pool, SLOT_EMPTY if free */
    uint32_t len;
} strset_slot;

struct lp_strset {
    uint64_t filter[4]; /* bit (hash >> 56) set for every member's hash */
    strset_slot *slots;
    size_t cap; /* power of two, or 0 before the first add */
    size_t count;
    char *pool; /* folded members, back to back */
    size_t pool_len;
    size_t pool_cap;
    uint32_t max_len; /* length of the longest member */
};

/* ASCII lower case, branch-free; bytes >= 0x80 are left alone. */
static inline unsigned char fold(unsigned char c)
{
    return (unsigned char)(c | (((unsigned)(c - 'A') < 26u) << 5));
}

/*
 * Eight bytes folded at once: a byte gets 0x20 added when it lies in 'A'..'Z'
 * (bytes >= 0x80 are left alone, as by fold()).
 */
static inline uint64_t fold8(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t low7 = w & ~high;
    uint64_t ge_a = low7 + (0x80 - 'A') * ones; /* high bit: byte >= 'A' */
    uint64_t gt_z = low7 + (0x80 - 'Z' - 1) * ones; /* high bit: byte > 'Z' */
    return w | (((ge_a ^ gt_z) & ~w & high) >> 2);
}

static inline uint64_t load8(const char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

static inline void fold_into(char *dst, const char *src, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w = fold8(load8(src + i));
        memcpy(dst + i, &w, 8);
    }
    for (; i < n; i++)
        dst[i] = (char)fold((unsigned char)src[i]);
}

/* True when the folded member m equals str (len bytes) ignoring ASCII case. */
static bool member_equals(const char *m, const char *str, size_t len)
{
    size_t i = 0;
    for (; i + 8 <= len; i += 8)
        if (load8(m + i) != fold8(load8(str + i)))
            return false;
    for (; i < len; i++)
        if ((unsigned char)m[i] != fold((unsigned char)str[i]))
            return false;
    return true;
}

/* Hashes the folded form of str without a buffer as large as str. */
static uint64_t hash_folded_stream(const char *str, size_t len)
{
    XXH3_state_t st;
    char chunk[FOLD_BUF];

    XXH3_64bits_reset(&st);
    for (size_t done = 0; done < len;) {
        size_t n = len - done < FOLD_BUF ? len - done : FOLD_BUF;
        fold_into(chunk, str + done, n);
        XXH3_64bits_update(&st, chunk, n);
        done += n;
    }
    return XXH3_64bits_digest(&st);
}

/*
 * Finds the slot of the member whose folded bytes are str (already folded
 * when folded is true), or the empty slot where it would go.
 */
static strset_slot *probe(const lp_strset *s, uint64_t h, const char *str, size_t len, bool folded)
{
    size_t mask = s->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        strset_slot *sl = &s->slots[i];
        if (sl->off == SLOT_EMPTY)
            return sl;
        if (sl->hash != h || sl->len != len)
            continue;
        const char *m = s->pool + sl->off;
        if (folded ? memcmp(m, str, len) == 0 : member_equals(m, str, len))
            return sl;
    }
}

/* Doubles the slot table (or creates it) and re-inserts every member. */
static int grow_slots(lp_strset *s)
{
    size_t ncap = s->cap ? s->cap * 2 : INITIAL_CAP;
    strset_slot *old = s->slots;
    size_t ocap = s->cap;

    s->slots = malloc(ncap * sizeof *s->slots);
    if (!s->slots) {
        s->slots = old;
        return -1;
    }
    for (size_t i = 0; i < ncap; i++)
        s->slots[i].off = SLOT_EMPTY;
    s->cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i].off == SLOT_EMPTY)
            continue;
        size_t mask = ncap - 1, j = (size_t)old[i].hash & mask;
        while (s->slots[j].off != SLOT_EMPTY)
            j = (j + 1) & mask;
        s->slots[j] = old[i];
    }
    free(old);
    return 0;
}

/* Makes room for n more pool bytes; returns 0 or -1. */
static int reserve_pool(lp_strset *s, size_t n)
{
    if (s->pool_cap - s->pool_len >= n)
        return 0;
    if (n > (size_t)SLOT_EMPTY - 1 - s->pool_len)
        return -1; /* offsets are 32-bit */
    size_t ncap = s->pool_cap ? s->pool_cap : 256;
    while (ncap - s->pool_len < n)
        ncap *= 2;
    char *p = realloc(s->pool, ncap);
    if (!p)
        return -1;
    s->pool = p;
    s->pool_cap = ncap;
    return 0;
}

/* Creates an empty set; returns NULL when malloc fails. */
lp_strset *lp_strset_new(void)
{
    return calloc(1, sizeof(lp_strset));
}

/* Frees s and every member copy. NULL is ignored. */
void lp_strset_free(lp_strset *s)
{
    if (!s)
        return;
    free(s->slots);
    free(s->pool);
    free(s);
}

/*
 * Adds str (len bytes) to s, stored folded to lower case. Adding a member
 * that is already present (in any case) does nothing. Returns 0, or -1 when
 * memory runs out or the member is too long (>= 4 GiB); s is unchanged then.
 */
int lp_strset_add(lp_strset *s, const char *str, size_t len)
{
    if (len >= SLOT_EMPTY)
        return -1;
    if ((s->count + 1) * 2 > s->cap && grow_slots(s) != 0)
        return -1;
    if (reserve_pool(s, len + 1) != 0)
        return -1;

    char *copy = s->pool + s->pool_len;
    if (len)
        fold_into(copy, str, len);
    uint64_t h = XXH3_64bits(copy, len);
    strset_slot *sl = probe(s, h, copy, len, true);
    if (sl->off != SLOT_EMPTY)
        return 0;
    sl->hash = h;
    s->filter[h >> 62] |= 1ull << ((h >> 56) & 63);
    sl->off = (uint32_t)s->pool_len;
    sl->len = (uint32_t)len;
    s->pool_len += len;
    s->count++;
    if (len > s->max_len)
        s->max_len = (uint32_t)len;
    return 0;
}

/*
 * True when str (len bytes) is a member of s, ignoring ASCII case. One hash,
 * usually one compare, no allocation. Safe from any thread once built.
 */
bool lp_strset_has(const lp_strset *s, const char *str, size_t len)
{
    if (s->count == 0 || len > s->max_len)
        return false;
    if (len > FOLD_BUF)
        return probe(s, hash_folded_stream(str, len), str, len, false)->off != SLOT_EMPTY;

    char buf[FOLD_BUF];
    if (len)
        fold_into(buf, str, len);
    uint64_t h = XXH3_64bits(buf, len);
    if (!((s->filter[h >> 62] >> ((h >> 56) & 63)) & 1))
        return false;
    return probe(s, h, buf, len, true)->off != SLOT_EMPTY;
}

/* XXH3 of the folded bytes of str: the hash every set stores and probes. */
uint64_t lp_strset_hash(const char *str, size_t len)
{
    if (len > FOLD_BUF)
        return hash_folded_stream(str, len);
    char buf[FOLD_BUF];
    if (len)
        fold_into(buf, str, len);
    return XXH3_64bits(buf, len);
}

/*
 * True when str (len bytes), whose lp_strset_hash() is hash, is a member of
 * s. For callers that test one value against many sets. Thread-safe as
 * lp_strset_has.
 */
bool lp_strset_has_hashed(const lp_strset *s, uint64_t hash, const char *str, size_t len)
{
    if (!((s->filter[hash >> 62] >> ((hash >> 56) & 63)) & 1) || len > s->max_len)
        return false;
    return probe(s, hash, str, len, false)->off != SLOT_EMPTY;
}

/* The number of distinct members (case-insensitively distinct). */
size_t lp_strset_count(const lp_strset *s)
{
    return s->count;
}
