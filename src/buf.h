/*
 * buf.h - a growable byte buffer for encoded output.
 *
 * Encoders append to an lp_buf that the caller reuses across records, so the
 * steady state allocates nothing. Threads: one owner at a time.
 */
#ifndef LP_BUF_H
#define LP_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct lp_buf {
    char *data;
    size_t len;
    size_t cap;
} lp_buf;

void lp_buf_init(lp_buf *b);
void lp_buf_free(lp_buf *b);

/* Makes room for n more bytes; returns 0, or -1 when malloc fails. */
int lp_buf_reserve_slow(lp_buf *b, size_t n);

static inline int lp_buf_reserve(lp_buf *b, size_t n)
{
    return b->cap - b->len >= n ? 0 : lp_buf_reserve_slow(b, n);
}

static inline int lp_buf_append(lp_buf *b, const void *p, size_t n)
{
    if (lp_buf_reserve(b, n))
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

static inline int lp_buf_putc(lp_buf *b, char c)
{
    if (lp_buf_reserve(b, 1))
        return -1;
    b->data[b->len++] = c;
    return 0;
}

static inline int lp_buf_puts(lp_buf *b, const char *s)
{
    return lp_buf_append(b, s, strlen(s));
}

static inline void lp_buf_reset(lp_buf *b)
{
    b->len = 0;
}

#endif
