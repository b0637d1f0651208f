/*
 * arena.c - bump allocator; see arena.h for the contract.
 *
 * Chunks form a singly linked list, newest first. A reset frees every chunk
 * but the oldest (the one at the tail, normally the default size), so a
 * batch that once needed a huge chunk does not pin it forever.
 */
#include "arena.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lp_arena_chunk {
    lp_arena_chunk *next;
    size_t size;
    _Alignas(16) char data[];
};

void lp_arena_init(lp_arena *a, size_t chunk_size)
{
    memset(a, 0, sizeof(*a));
    a->chunk_size = chunk_size ? chunk_size : 64 * 1024;
}

void lp_arena_free(lp_arena *a)
{
    lp_arena_chunk *c = a->head;
    while (c) {
        lp_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->cur = a->end = NULL;
    a->used = 0;
}

void lp_arena_reset(lp_arena *a)
{
    lp_arena_chunk *c = a->head;
    if (a->used > a->peak)
        a->peak = a->used;
    if (!c)
        return;
    while (c->next) {
        lp_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = c;
    a->cur = c->data;
    a->end = c->data + c->size;
    a->used = 0;
}

void *lp_arena_alloc_slow(lp_arena *a, size_t n)
{
    size_t need = (n + 7u) & ~(size_t)7u;
    size_t size = need > a->chunk_size ? need : a->chunk_size;
    lp_arena_chunk *c = malloc(sizeof(*c) + size);
    if (!c)
        return NULL;
    c->size = size;
    c->next = a->head;
    a->head = c;
    a->cur = c->data + need;
    a->end = c->data + size;
    a->used += need;
    if (a->used > a->peak)
        a->peak = a->used;
    return c->data;
}

char *lp_arena_strndup(lp_arena *a, const char *s, size_t n)
{
    char *p = lp_arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *lp_arena_sprintf(lp_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    char *p = lp_arena_alloc(a, (size_t)n + 1);
    if (!p)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}
