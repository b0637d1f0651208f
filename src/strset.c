/*
 * strset.c - immutable, case-insensitive string sets for rule lookups.
 *
 * Owns: a slot table and one byte pool holding every member folded to ASCII
 * lower case. Slots refer to members by offset into the pool, so growing the
 * pool never invalidates them.
 *
 * Layout: open addressing with linear probing over the set hash of the
 * folded bytes (lp_strset_hash). The capacity is a power of two and the load
 * factor stays <= 0.5, so a miss ends quickly at an empty slot. Each slot
 * keeps the full 64-bit hash and the member length, so a probe compares
 * bytes only on a true candidate.
 *
 * A 256-bit filter indexed by the top byte of each member's hash answers most
 * misses (the usual outcome of a rule's "in") with one load, before any slot
 * is read.
 *
 * The hash is a multiply-fold hash in the manner of wyhash: the value is
 * read eight bytes at a time and each word is folded to lower case in a
 * register, so no folded copy is made and any length is hashed the same
 * way. Values of up to 16 bytes (countries, domains, job-title words: most
 * values a rule tests) take two loads and two 64x64->128-bit multiplies.
 * The hash never leaves the process (sets are built and probed with the same
 * function), so it need not be stable across versions or machines. Callers
 * that test one value against many sets hash it once with lp_strset_hash()
 * and probe each set with lp_strset_has_hashed(). Queries longer than the
 * longest member are rejected before hashing. Nothing allocates on lookup.
 *
 * Threads: building (lp_strset_add) is single-threaded. After that the set is
 * never written, so any number of threads may call lp_strset_has at once.
 */
#include "strset.h"

#include <stdlib.h>
#include <string.h>

#define SLOT_EMPTY UINT32_MAX
#define INITIAL_CAP 8u

typedef struct strset_slot {
    uint64_t hash;
    uint32_t off; /* offset of the folded member in pool, SLOT_EMPTY if free */
    uint32_t len;
} strset_slot;

struct lp_strset {
    uint64_t filter[4]; /* bit (hash >> 56) set for every member's hash */
    uint64_t filter64;  /* bit (hash >> 58): lp_strset_filter64 */
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

/* The multipliers of wyhash (public domain): odd, with balanced bits. */
#define K0 0xa0761d6478bd642full
#define K1 0xe7037ed1a0b428dbull
#define K2 0x8ebc6af09c88c6e3ull

/* The 128-bit product of a and b, folded to 64 bits: the hash's mixing step. */
static inline uint64_t mix(uint64_t a, uint64_t b)
{
#ifdef __SIZEOF_INT128__
    unsigned __int128 r = (unsigned __int128)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
#else
    /* no 128-bit product: two 64-bit ones, shifted so that high bits reach low ones */
    uint64_t x = a * K0 ^ (b >> 29), y = b * K1 ^ (a >> 31);
    x ^= y * K2;
    return x ^ (x >> 32);
#endif
}

static inline uint64_t load4(const char *p)
{
    uint32_t w;
    memcpy(&w, p, 4);
    return w;
}

/*
 * The first and last bytes of a value of 1..16 bytes (str, len), folded,
 * in two words: two overlapping loads of 8 or 4 bytes, or the first, middle
 * and last byte when len < 4. Equal folded values give equal words.
 */
static inline void short_words(const char *str, size_t len, uint64_t *a, uint64_t *b)
{
    if (len >= 8) {
        *a = load8(str);
        *b = load8(str + len - 8);
    } else if (len >= 4) {
        *a = load4(str);
        *b = load4(str + len - 4);
    } else {
        const unsigned char *u = (const unsigned char *)str;
        *a = ((uint64_t)u[0] << 16) | ((uint64_t)u[len >> 1] << 8) | u[len - 1];
        *b = 0;
    }
    *a = fold8(*a);
    *b = fold8(*b);
}

/* The last step of the hash: the final 16 bytes (a, b), the state and the length. */
static inline uint64_t hash_finish(uint64_t a, uint64_t b, uint64_t seed, size_t len)
{
    return mix(mix(a ^ K1, b ^ seed) ^ K2 ^ len, seed ^ K1);
}

/* The hash of a value of more than 16 bytes: 16-byte steps, then its last 16 bytes. */
static __attribute__((noinline)) uint64_t hash_long(const char *str, size_t len)
{
    uint64_t seed = K0;
    for (size_t i = 0; len - i > 16; i += 16)
        seed = mix(fold8(load8(str + i)) ^ K1, fold8(load8(str + i + 8)) ^ seed);
    return hash_finish(fold8(load8(str + len - 16)), fold8(load8(str + len - 8)), seed, len);
}

/*
 * The set hash of str (len bytes) folded to lower case. A value of up to 16
 * bytes is two words and two mixes; longer ones are mixed in 16-byte steps
 * first (kept out of line, so the short path saves no registers). Every
 * byte reaches every bit of the result.
 */
uint64_t lp_strset_hash(const char *str, size_t len)
{
    if (len > 16)
        return hash_long(str, len);
    uint64_t a = 0, b = 0;
    if (len > 0)
        short_words(str, len, &a, &b);
    return hash_finish(a, b, K0, len);
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
    uint64_t h = lp_strset_hash(copy, len);
    strset_slot *sl = probe(s, h, copy, len, true);
    if (sl->off != SLOT_EMPTY)
        return 0;
    sl->hash = h;
    s->filter[h >> 62] |= 1ull << ((h >> 56) & 63);
    s->filter64 |= 1ull << (h >> 58);
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
    return lp_strset_has_hashed(s, lp_strset_hash(str, len), str, len);
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

/* Bit (h >> 58) of every member's hash h (see strset.h). */
uint64_t lp_strset_filter64(const lp_strset *s)
{
    return s->filter64;
}

/* The number of distinct members (case-insensitively distinct). */
size_t lp_strset_count(const lp_strset *s)
{
    return s->count;
}
