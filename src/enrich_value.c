/*
 * enrich_value.c - the compact, versioned encoding of enriched fields stored
 * in the cache, and the merge of enriched fields into a lead.
 *
 * Encoding (version 1), all integers little-endian:
 *
 *     u8 version | u8 count | count x { u8 field | u8 type | payload }
 *
 * payload by type: STR u16 len + bytes; LONG, TS, BOOL i64; DOUBLE the
 * IEEE-754 bits as u64; LIST u16 n + n x (u16 len + bytes). The field byte
 * is the lp_field_id slot; a field whose stored type no longer matches
 * lp_fields[] (the field list changed) is skipped, not misread. Any change
 * to the layout bumps the version; an unknown version decodes as a miss.
 *
 * Threads: pure functions; the caller owns every buffer.
 */
#include "enrich.h"

#include <string.h>

#define VALUE_VERSION 1

static int put_u16(lp_buf *b, uint32_t v)
{
    unsigned char p[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    return lp_buf_append(b, p, 2);
}

static int put_u64(lp_buf *b, uint64_t v)
{
    unsigned char p[8];
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
    return lp_buf_append(b, p, 8);
}

static int put_bytes(lp_buf *b, const char *s, uint32_t len)
{
    if (len > 0xffff)
        len = 0xffff; /* longer than any input field limit */
    return put_u16(b, len) || lp_buf_append(b, s, len);
}

static int put_field(lp_buf *b, const lp_lead *l, int f)
{
    lp_type t = lp_fields[f].type;
    const lp_val *v = &l->v[f];
    unsigned char head[2] = {(unsigned char)f, (unsigned char)t};
    if (lp_buf_append(b, head, 2))
        return -1;
    switch (t) {
    case LP_T_STR:
        return put_bytes(b, v->s, v->len);
    case LP_T_DOUBLE: {
        uint64_t u;
        memcpy(&u, &v->d, 8);
        return put_u64(b, u);
    }
    case LP_T_LIST: {
        uint32_t n = v->len > 0xffff ? 0xffff : v->len;
        if (put_u16(b, n))
            return -1;
        for (uint32_t i = 0; i < n; i++)
            if (put_bytes(b, v->list[i].ptr, v->list[i].len))
                return -1;
        return 0;
    }
    default:
        return put_u64(b, (uint64_t)v->i);
    }
}

lp_err_t lp_enrich_encode(const lp_lead *l, uint64_t mask, lp_buf *out)
{
    uint64_t m = l->present & mask;
    unsigned char head[2] = {VALUE_VERSION, (unsigned char)__builtin_popcountll(m)};
    if (lp_buf_append(out, head, 2))
        return LP_E_NOMEM;
    for (int f = 0; f < LP_F_COUNT; f++)
        if (((m >> f) & 1u) && put_field(out, l, f))
            return LP_E_NOMEM;
    return LP_OK;
}

/* A bounded reader over the encoded bytes. */
typedef struct rd {
    const unsigned char *p, *end;
    bool bad;
} rd;

static uint64_t rd_n(rd *r, int n)
{
    if (r->end - r->p < n) {
        r->bad = true;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += n;
    return v;
}

static lp_str rd_bytes(rd *r, lp_arena *a)
{
    uint32_t len = (uint32_t)rd_n(r, 2);
    if (r->bad || r->end - r->p < (ptrdiff_t)len) {
        r->bad = true;
        return (lp_str){"", 0};
    }
    const char *s = (const char *)r->p;
    r->p += len;
    if (len) {
        s = lp_arena_strndup(a, s, len);
        if (!s) {
            r->bad = true;
            return (lp_str){"", 0};
        }
    }
    return (lp_str){s, len};
}

static void rd_list(rd *r, lp_arena *a, lp_val *v)
{
    uint32_t n = (uint32_t)rd_n(r, 2);
    lp_str *items = n ? lp_arena_alloc(a, n * sizeof(lp_str)) : NULL;
    if (n && !items) {
        r->bad = true;
        return;
    }
    for (uint32_t i = 0; i < n && !r->bad; i++)
        items[i] = rd_bytes(r, a);
    v->list = items;
    v->len = n;
}

/* Reads one field into l; a type mismatch is read past and dropped. */
static void rd_field(rd *r, lp_arena *a, lp_lead *l)
{
    unsigned f = (unsigned)rd_n(r, 1);
    lp_type t = (lp_type)rd_n(r, 1);
    lp_val v = {0};
    if (t == LP_T_STR) {
        lp_str s = rd_bytes(r, a);
        v.s = s.ptr;
        v.len = s.len;
    } else if (t == LP_T_LIST) {
        rd_list(r, a, &v);
    } else if (t == LP_T_DOUBLE) {
        uint64_t u = rd_n(r, 8);
        memcpy(&v.d, &u, 8);
    } else if (t >= LP_T_LONG && t <= LP_T_TS) {
        v.i = (int64_t)rd_n(r, 8);
    } else {
        r->bad = true;
    }
    if (!r->bad && f < LP_F_COUNT && lp_fields[f].type == t) {
        l->v[f] = v;
        l->present |= 1ull << f;
    }
}

lp_err_t lp_enrich_decode(lp_str in, lp_arena *a, lp_lead *out)
{
    lp_lead_clear(out);
    rd r = {(const unsigned char *)in.ptr, (const unsigned char *)in.ptr + in.len, false};
    if (rd_n(&r, 1) != VALUE_VERSION)
        return LP_E_CACHE;
    unsigned n = (unsigned)rd_n(&r, 1);
    for (unsigned i = 0; i < n && !r.bad; i++)
        rd_field(&r, a, out);
    return r.bad || r.p != r.end ? LP_E_CACHE : LP_OK;
}

int lp_enrich_fill(lp_record *r, const lp_lead *found, uint64_t mask, uint8_t src)
{
    uint64_t add = found->present & ~r->lead.present & mask;
    int n = 0;
    for (int f = 0; f < LP_F_COUNT; f++) {
        if (!((add >> f) & 1u))
            continue;
        r->lead.v[f] = found->v[f];
        r->field_src[f] = src;
        n++;
    }
    r->lead.present |= add;
    return n;
}
