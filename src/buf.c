/*
 * buf.c - growable byte buffer; see buf.h.
 */
#include "buf.h"

#include <stdlib.h>

void lp_buf_init(lp_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
}

void lp_buf_free(lp_buf *b)
{
    free(b->data);
    lp_buf_init(b);
}

int lp_buf_reserve_slow(lp_buf *b, size_t n)
{
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}
