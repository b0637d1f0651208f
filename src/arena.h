/*
 * arena.h - bump allocator for per-batch memory.
 *
 * Every byte a lead needs while it moves through the pipeline (decoded
 * strings, normalised copies, reasons, nurture tasks, encoded output) comes
 * from the arena of the batch it belongs to. The arena is reset, not freed,
 * between batches, so the steady state allocates nothing.
 *
 * Threads: an arena belongs to one thread at a time. Nothing is locked.
 * Lifetime: pointers returned by lp_arena_alloc() stay valid until the next
 * lp_arena_reset() or lp_arena_free().
 */
#ifndef LP_ARENA_H
#define LP_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct lp_arena_chunk lp_arena_chunk;

typedef struct lp_arena {
    lp_arena_chunk *head;   /* chunk being carved, newest first */
    char *cur;              /* next free byte in head */
    char *end;              /* one past the last byte of head */
    size_t chunk_size;      /* default size of a new chunk */
    size_t used;            /* bytes handed out since the last reset */
    size_t peak;            /* high-water mark of used, across resets */
} lp_arena;

/* Initialises an arena whose chunks are chunk_size bytes (0: 64 KiB). */
void lp_arena_init(lp_arena *a, size_t chunk_size);

/* Frees every chunk. The arena may be initialised again. */
void lp_arena_free(lp_arena *a);

/* Forgets every allocation but keeps the first chunk for reuse. */
void lp_arena_reset(lp_arena *a);

/* Slow path of lp_arena_alloc(); returns NULL only when malloc fails. */
void *lp_arena_alloc_slow(lp_arena *a, size_t n);

/* Returns n bytes aligned to 8, or NULL when memory is exhausted. */
static inline void *lp_arena_alloc(lp_arena *a, size_t n)
{
    size_t need = (n + 7u) & ~(size_t)7u;
    if ((size_t)(a->end - a->cur) >= need) {
        void *p = a->cur;
        a->cur += need;
        a->used += need;
        return p;
    }
    return lp_arena_alloc_slow(a, n);
}

/*
 * Gives back the tail of the latest allocation: p, allocated with n bytes,
 * keeps its first keep bytes (keep <= n). When p is not the latest
 * allocation nothing changes; either way p stays valid. For callers that
 * allocate for the worst case, fill, and then know how much they used.
 */
static inline void lp_arena_shrink(lp_arena *a, void *p, size_t n, size_t keep)
{
    size_t had = (n + 7u) & ~(size_t)7u, kept = (keep + 7u) & ~(size_t)7u;
    if ((char *)p + had != a->cur || kept > had)
        return;
    a->cur = (char *)p + kept;
    a->used -= had - kept;
}

/* Copies n bytes into the arena and NUL-terminates the copy. */
char *lp_arena_strndup(lp_arena *a, const char *s, size_t n);

/* printf into the arena; returns NULL on allocation failure. */
char *lp_arena_sprintf(lp_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
