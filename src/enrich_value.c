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

/*
 * Decoding is two passes over the bytes. scan() checks the whole value and
 * notes where the wanted fields are, copying nothing; copy() then copies
 * only those fields' strings into the arena. The cache stage wants only the
 * fields a lead lacks, and a malformed value must fill nothing, so nothing
 * is copied before the value is known to be whole.
 */

/*
 * The wanted fields of a value, uncopied: a STR's v.s points at its bytes;
 * a LIST's v.s points at its first item's u16 length, with v.len items.
 */
typedef struct raw_fields {
    uint64_t have;
    lp_val v[LP_F_COUNT];
} raw_fields;

static uint32_t le16(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint64_t le64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Steps *p over a u16-prefixed byte string ending by end; false when it overruns. */
static bool skip_bytes(const unsigned char **p, const unsigned char *end, uint32_t *len)
{
    if (end - *p < 2)
        return false;
    *len = le16(*p);
    if (end - *p - 2 < (ptrdiff_t)*len)
        return false;
    *p += 2 + *len;
    return true;
}

/* Steps *p over one field's payload of type t into v; false when malformed. */
static bool scan_payload(const unsigned char **p, const unsigned char *end, lp_type t, lp_val *v)
{
    uint32_t len;
    switch (t) {
    case LP_T_STR:
        v->s = (const char *)*p + 2;
        return skip_bytes(p, end, &v->len);
    case LP_T_LIST:
        if (end - *p < 2)
            return false;
        v->len = le16(*p);
        *p += 2;
        v->s = (const char *)*p;
        for (uint32_t i = 0; i < v->len; i++)
            if (!skip_bytes(p, end, &len))
                return false;
        return true;
    case LP_T_LONG:
    case LP_T_DOUBLE: /* the IEEE-754 bits: the same 8 bytes in the union */
    case LP_T_BOOL:
    case LP_T_TS:
        if (end - *p < 8)
            return false;
        v->i = (int64_t)le64(*p);
        *p += 8;
        return true;
    }
    return false;
}

/*
 * Checks the whole value, noting the fields of want it holds; false when
 * malformed. A field whose stored type no longer matches lp_fields[] is
 * stepped over and dropped; when a field repeats, the last one wins.
 */
static bool scan(lp_str in, uint64_t want, raw_fields *out)
{
    const unsigned char *p = (const unsigned char *)in.ptr, *end = p + in.len;
    out->have = 0;
    if (in.len < 2 || p[0] != VALUE_VERSION)
        return false;
    unsigned n = p[1];
    p += 2;
    for (unsigned i = 0; i < n; i++) {
        if (end - p < 2)
            return false;
        unsigned f = p[0];
        lp_type t = (lp_type)p[1];
        lp_val v = {0};
        p += 2;
        if (!scan_payload(&p, end, t, &v))
            return false;
        if (f < LP_F_COUNT && ((want >> f) & 1u) && lp_fields[f].type == t) {
            out->v[f] = v;
            out->have |= 1ull << f;
        }
    }
    return p == end;
}

static bool copy_str(lp_arena *a, const char **s, uint32_t len)
{
    if (len == 0) {
        *s = "";
        return true;
    }
    *s = lp_arena_strndup(a, *s, len);
    return *s != NULL;
}

/* Turns a scanned list (validated by scan()) into items copied into a. */
static bool copy_list(lp_arena *a, lp_val *v)
{
    const unsigned char *p = (const unsigned char *)v->s;
    lp_str *items = v->len ? lp_arena_alloc(a, v->len * sizeof(lp_str)) : NULL;
    if (v->len && !items)
        return false;
    for (uint32_t i = 0; i < v->len; i++) {
        uint32_t len = le16(p);
        items[i] = (lp_str){(const char *)p + 2, len};
        p += 2 + len;
        if (!copy_str(a, &items[i].ptr, len))
            return false;
    }
    v->list = items;
    return true;
}

/* Copies the strings and lists of rf's fields into a; false when out of memory. */
static bool copy(raw_fields *rf, lp_arena *a)
{
    for (uint64_t m = rf->have; m; m &= m - 1) {
        int f = __builtin_ctzll(m);
        lp_type t = lp_fields[f].type;
        if (t == LP_T_STR && !copy_str(a, &rf->v[f].s, rf->v[f].len))
            return false;
        if (t == LP_T_LIST && !copy_list(a, &rf->v[f]))
            return false;
    }
    return true;
}

lp_err_t lp_enrich_decode(lp_str in, lp_arena *a, lp_lead *out)
{
    lp_lead_clear(out);
    raw_fields rf;
    if (!scan(in, ~0ull, &rf) || !copy(&rf, a))
        return LP_E_CACHE;
    for (uint64_t m = rf.have; m; m &= m - 1) {
        int f = __builtin_ctzll(m);
        out->v[f] = rf.v[f];
    }
    out->present = rf.have;
    return LP_OK;
}

int lp_enrich_merge(lp_str in, lp_arena *a, lp_record *r, uint64_t mask, uint8_t src)
{
    uint64_t want = mask & ~r->lead.present;
    if (!want)
        return 0; /* the lead has them all: the value need not even be read */
    /* the walk below is a chain of dependent loads: fetch every line at once */
    for (uint32_t off = 64; off < in.len; off += 64)
        __builtin_prefetch(in.ptr + off);
    raw_fields rf;
    if (!scan(in, want, &rf) || !copy(&rf, a))
        return -1;
    for (uint64_t m = rf.have; m; m &= m - 1) {
        int f = __builtin_ctzll(m);
        r->lead.v[f] = rf.v[f];
        r->field_src[f] = src;
    }
    r->lead.present |= rf.have;
    return __builtin_popcountll(rf.have);
}
