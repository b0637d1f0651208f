/*
 * codec.c - the specialised Avro codec of the lead, and the avro-c generic
 * baseline it is measured and checked against. See codec.h for the contract.
 *
 * The hot path (lp_codec_decode_lead / lp_codec_encode_lead) makes no call
 * into avro-c and allocates nothing per field: the decoder borrows strings
 * from the input and takes at most one arena block per list or map block;
 * the encoder reserves an upper bound once and then writes through a raw
 * pointer. Errors are rare, so their formatting lives in a cold helper.
 *
 * Almost every byte of a lead is a union branch of 0 or 2, a length under
 * 64, or string bytes, so each read tries that one-byte case first and falls
 * back to the general varint only when it fails; both give the same value,
 * which the tests check against a plain reference decoder.
 */
#include "codec.h"

#include <avro.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Decoder state: a cursor over the input, the field being read (for
 * messages), the presence bits found so far, and where to describe a
 * failure. It lives in registers: every step that takes it is inlined, and
 * nothing that is not inlined sees its address. (Were it in memory, each
 * string stored into the lead could alias the cursor, and the compiler would
 * reload it after every field.)
 */
typedef struct lp_dec {
    const uint8_t *p;
    const uint8_t *end;
    lp_arena *a;
    const char *field; /* name of the field being decoded, for messages */
    uint64_t present;  /* lp_lead.present, stored once at the end */
    char *why;
    size_t whylen;
} lp_dec;

/*
 * The per-field steps are expanded once per field from LP_FIELD_LIST with the
 * field's type as a constant; forcing them inline lets the compiler drop the
 * type switch, which otherwise costs an indirect branch per field, and keeps
 * the decoder state in registers.
 */
#define LP_CODEC_INLINE __attribute__((always_inline))

/* Every field but lead_id is a union with null. */
static inline int lp_codec_nullable(int f)
{
    return f != LP_F_LEAD_ID;
}

/* Formats a failure into why (which may be NULL); takes no decoder state. */
__attribute__((cold, format(printf, 3, 4))) static lp_err_t dec_fail(char *why, size_t whylen,
                                                                     const char *fmt, ...)
{
    if (why && whylen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, whylen, fmt, ap);
        va_end(ap);
    }
    return LP_E_AVRO_DECODE;
}

static inline LP_CODEC_INLINE lp_err_t dec_truncated(const lp_dec *d)
{
    return dec_fail(d->why, d->whylen, "truncated in field '%s'", d->field);
}

/*
 * lp_codec_get_long() for a varint longer than a byte (timestamps, long
 * strings), kept out of line. When 8 bytes remain, a varint of up to 8 bytes
 * is read as one word: the first byte without the continuation bit ends it,
 * and three shift-and-merge steps pack its 7-bit groups (into 14 bits per
 * 16, 28 per 32, then 56). Longer varints and the input's last bytes take
 * the byte loop, which gives the same value.
 */
__attribute__((noinline)) static int dec_varint(const uint8_t **p, const uint8_t *end,
                                                int64_t *out)
{
    const uint8_t *q = *p;
    uint64_t x, stops;
    if (end - q < 8)
        return lp_codec_get_long(p, end, out);
    memcpy(&x, q, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    stops = ~x & 0x8080808080808080ull;
    if (!stops)
        return lp_codec_get_long(p, end, out);
    unsigned n = (unsigned)__builtin_ctzll(stops) / 8 + 1; /* bytes in the varint */
    x &= (~0ull >> (64 - 8 * n)) & 0x7f7f7f7f7f7f7f7full;
    x = ((x & 0x7f007f007f007f00ull) >> 1) | (x & 0x007f007f007f007full);
    x = ((x & 0x3fff00003fff0000ull) >> 2) | (x & 0x00003fff00003fffull);
    x = ((x & 0x0fffffff00000000ull) >> 4) | (x & 0x000000000fffffffull);
    *p = q + n;
    *out = lp_codec_unzigzag(x);
    return 0;
}

/* Reads a long; names the field when the varint is cut short or too long. */
static inline LP_CODEC_INLINE lp_err_t dec_long(lp_dec *d, int64_t *out)
{
    if (d->p < d->end && *d->p < 0x80) {
        *out = lp_codec_unzigzag(*d->p++);
        return LP_OK;
    }
    const uint8_t *q = d->p; /* the cursor's address must not escape */
    int rc = dec_varint(&q, d->end, out);
    d->p = q;
    if (rc == -1)
        return dec_truncated(d);
    if (rc == -2)
        return dec_fail(d->why, d->whylen, "overlong varint in field '%s'", d->field);
    return LP_OK;
}

/* Reads a length prefix and checks that many bytes remain. */
static inline LP_CODEC_INLINE lp_err_t dec_len(lp_dec *d, uint32_t *out)
{
    /* The common case, a length under 64: one byte with the sign bit clear. */
    if (d->p < d->end && (*d->p & 0x81) == 0) {
        uint32_t n = *d->p++ >> 1;
        if (n > (size_t)(d->end - d->p))
            return dec_truncated(d);
        *out = n;
        return LP_OK;
    }
    int64_t n = 0;
    lp_err_t err = dec_long(d, &n);
    if (err)
        return err;
    if (n < 0)
        return dec_fail(d->why, d->whylen, "negative length %lld in field '%s'", (long long)n,
                        d->field);
    if ((uint64_t)n > (uint64_t)(d->end - d->p))
        return dec_truncated(d);
    if (n > (int64_t)UINT32_MAX)
        return dec_fail(d->why, d->whylen, "string of %lld bytes in field '%s'", (long long)n,
                        d->field);
    *out = (uint32_t)n;
    return LP_OK;
}

/* Reads a string or bytes value as a pointer into the input. */
static inline LP_CODEC_INLINE lp_err_t dec_str(lp_dec *d, lp_str *s)
{
    uint32_t n = 0;
    lp_err_t err = dec_len(d, &n);
    if (err)
        return err;
    s->ptr = (const char *)d->p;
    s->len = n;
    d->p += n;
    return LP_OK;
}

/* Reads a union branch index; 0 is null, 1 is the value. */
static inline LP_CODEC_INLINE lp_err_t dec_branch(lp_dec *d, int *present)
{
    /* Nearly always one byte: 0 (null) or 2 (zigzag 1, the value). */
    if (d->p < d->end && *d->p == 0) {
        d->p++;
        *present = 0;
        return LP_OK;
    }
    if (d->p < d->end && *d->p == 2) {
        d->p++;
        *present = 1;
        return LP_OK;
    }
    int64_t b = 0;
    lp_err_t err = dec_long(d, &b);
    if (err)
        return err;
    if (b != 0 && b != 1)
        return dec_fail(d->why, d->whylen, "bad union branch %lld in field '%s'", (long long)b,
                        d->field);
    *present = (int)b;
    return LP_OK;
}

static inline LP_CODEC_INLINE lp_err_t dec_double(lp_dec *d, double *out)
{
    if (d->end - d->p < 8)
        return dec_truncated(d);
    uint64_t u;
    memcpy(&u, d->p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    u = __builtin_bswap64(u);
#endif
    memcpy(out, &u, 8);
    d->p += 8;
    return LP_OK;
}

static inline LP_CODEC_INLINE lp_err_t dec_bool(lp_dec *d, int64_t *out)
{
    if (d->p == d->end)
        return dec_truncated(d);
    uint8_t b = *d->p;
    if (b > 1)
        return dec_fail(d->why, d->whylen, "bad boolean %u in field '%s'", b, d->field);
    d->p++;
    *out = b;
    return LP_OK;
}

/*
 * Reads the header of one array or map block: its item count (0 ends the
 * value) and, for negative counts, the block's byte size, which is skipped
 * over. min_item is the fewest bytes one item can take, used to refuse
 * counts the remaining input cannot hold before anything is allocated.
 */
static inline LP_CODEC_INLINE lp_err_t dec_block(lp_dec *d, size_t min_item, uint32_t *count)
{
    int64_t n = 0, size = 0;
    lp_err_t err = dec_long(d, &n);
    if (err)
        return err;
    if (n < 0) {
        if (n == INT64_MIN)
            return dec_fail(d->why, d->whylen, "bad block count in field '%s'", d->field);
        n = -n;
        if ((err = dec_long(d, &size)))
            return err;
        if (size < 0)
            return dec_fail(d->why, d->whylen, "negative block size in field '%s'", d->field);
    }
    if ((uint64_t)n > (uint64_t)(d->end - d->p) / min_item || n > (int64_t)UINT32_MAX)
        return dec_fail(d->why, d->whylen, "truncated in field '%s' (%lld items, %zu bytes left)",
                        d->field, (long long)n, (size_t)(d->end - d->p));
    *count = (uint32_t)n;
    return LP_OK;
}

/*
 * Grows an arena array from have to have + more elements of size sz. A
 * single-block value (the common case) costs one allocation and no copy.
 */
static void *dec_grow(lp_arena *a, const void *old, size_t have, size_t more, size_t sz)
{
    void *p = lp_arena_alloc(a, (have + more) * sz);
    if (p && have)
        memcpy(p, old, have * sz);
    return p;
}

/* Reads an array<string> into an arena list of lp_str. */
static inline LP_CODEC_INLINE lp_err_t dec_list(lp_dec *d, lp_val *v)
{
    lp_str *items = NULL;
    uint32_t total = 0, count = 0;
    lp_err_t err;
    while ((err = dec_block(d, 1, &count)) == LP_OK && count) {
        if (count > UINT32_MAX - total)
            return dec_fail(d->why, d->whylen, "too many items in field '%s'", d->field);
        if (!(items = dec_grow(d->a, items, total, count, sizeof(*items))))
            return LP_E_NOMEM;
        for (uint32_t i = 0; i < count; i++)
            if ((err = dec_str(d, &items[total + i])))
                return err;
        total += count;
    }
    v->list = items;
    v->len = total;
    return err;
}

/* Reads the custom map<string> into the lead's arena array of lp_kv. */
static inline LP_CODEC_INLINE lp_err_t dec_custom(lp_dec *d, lp_lead *l)
{
    lp_kv *kv = NULL;
    uint32_t total = 0, count = 0;
    lp_err_t err;
    d->field = "custom";
    while ((err = dec_block(d, 2, &count)) == LP_OK && count) {
        if (count > UINT32_MAX - total)
            return dec_fail(d->why, d->whylen, "too many items in field 'custom'");
        if (!(kv = dec_grow(d->a, kv, total, count, sizeof(*kv))))
            return LP_E_NOMEM;
        for (uint32_t i = 0; i < count; i++) {
            lp_kv *e = &kv[total + i];
            if ((err = dec_str(d, &e->key)) || (err = dec_str(d, &e->val)))
                return err;
        }
        total += count;
    }
    l->custom = kv;
    l->ncustom = total;
    return err;
}

/*
 * Reads the value of field f, of type t, after its union branch. t is a
 * constant at every call site, so the switch folds away once inlined.
 */
static inline LP_CODEC_INLINE lp_err_t dec_value(lp_dec *d, lp_lead *l, int f, lp_type t)
{
    lp_val *v = &l->v[f];
    lp_str s = {"", 0};
    lp_err_t err;
    switch (t) {
    case LP_T_STR:
        err = dec_str(d, &s);
        v->s = s.ptr;
        v->len = s.len;
        return err;
    case LP_T_LONG:
    case LP_T_TS:
        return dec_long(d, &v->i);
    case LP_T_DOUBLE:
        return dec_double(d, &v->d);
    case LP_T_BOOL:
        return dec_bool(d, &v->i);
    case LP_T_LIST:
        return dec_list(d, v);
    }
    return dec_fail(d->why, d->whylen, "field '%s' has no Avro type", d->field);
}

/* Reads input field f (name, type t), with its union branch when nullable. */
static inline LP_CODEC_INLINE lp_err_t dec_field(lp_dec *d, lp_lead *l, int f, const char *name,
                                                 lp_type t)
{
    int present = 1;
    lp_err_t err;
    d->field = name;
    if (lp_codec_nullable(f) && (err = dec_branch(d, &present)))
        return err;
    if (!present)
        return LP_OK;
    if ((err = dec_value(d, l, f, t)))
        return err;
    d->present |= 1ull << f;
    return LP_OK;
}

/* Reads every field of the lead; the caller stores d->present. */
static inline LP_CODEC_INLINE lp_err_t dec_lead(lp_dec *d, lp_lead *l)
{
    lp_err_t err;
    /* One straight-line step per input field, in LP_FIELD_LIST order. */
#define LP_CODEC_DEC(id, name, type, flags)                                                        \
    if ((LP_FF_INPUT & (flags)) && (err = dec_field(d, l, LP_F_##id, name, type)))                 \
        return err;
    LP_FIELD_LIST(LP_CODEC_DEC)
#undef LP_CODEC_DEC
    if ((err = dec_custom(d, l)))
        return err;
    if (d->p != d->end)
        return dec_fail(d->why, d->whylen, "trailing %zu bytes", (size_t)(d->end - d->p));
    return LP_OK;
}

lp_err_t lp_codec_decode_lead(const char *buf, size_t len, lp_lead *l, lp_arena *a, char *why,
                              size_t whylen)
{
    lp_dec d = {(const uint8_t *)buf, (const uint8_t *)buf + len, a, "", 0, why, whylen};
    lp_lead_clear(l);
    lp_err_t err = dec_lead(&d, l);
    l->present = d.present;
    return err;
}

/*
 * The encoder reads presence from a local copy of l->present: every byte it
 * writes goes through a uint8_t pointer, which may alias anything, so a bit
 * read through l would be reloaded after each write.
 */

/* The most bytes field f (of type t) of l can take when encoded. */
static inline LP_CODEC_INLINE size_t enc_field_bound(const lp_lead *l, uint64_t present, int f,
                                                     lp_type t)
{
    const lp_val *v = &l->v[f];
    size_t n = 1 + LP_CODEC_VARINT_MAX;
    if (!((present >> f) & 1))
        return n;
    if (t == LP_T_STR)
        return n + v->len;
    if (t == LP_T_LIST) {
        n += LP_CODEC_VARINT_MAX;
        for (uint32_t i = 0; i < v->len; i++)
            n += LP_CODEC_VARINT_MAX + v->list[i].len;
    }
    return n;
}

size_t lp_codec_lead_bound(const lp_lead *l)
{
    uint64_t present = l->present;
    size_t n = 2 * LP_CODEC_VARINT_MAX;
#define LP_CODEC_BOUND(id, name, type, flags)                                                      \
    if (LP_FF_INPUT & (flags))                                                                     \
        n += enc_field_bound(l, present, LP_F_##id, type);
    LP_FIELD_LIST(LP_CODEC_BOUND)
#undef LP_CODEC_BOUND
    for (uint32_t i = 0; i < l->ncustom; i++)
        n += 2 * LP_CODEC_VARINT_MAX + l->custom[i].key.len + l->custom[i].val.len;
    return n;
}

static inline uint8_t *enc_double(uint8_t *p, double x)
{
    uint64_t u;
    memcpy(&u, &x, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    u = __builtin_bswap64(u);
#endif
    memcpy(p, &u, 8);
    return p + 8;
}

/* Writes an array<string> as one block. */
static uint8_t *enc_list(uint8_t *p, const lp_val *v)
{
    const lp_str *items = v->list;
    uint32_t n = v->len;
    if (n) {
        p += lp_codec_put_long(p, n);
        for (uint32_t i = 0; i < n; i++)
            p = lp_codec_put_str(p, items[i].ptr, items[i].len);
    }
    *p++ = 0;
    return p;
}

/* Writes the value of present field f, of type t (after its union branch). */
static inline LP_CODEC_INLINE uint8_t *enc_value(uint8_t *p, const lp_lead *l, int f, lp_type t)
{
    const lp_val *v = &l->v[f];
    switch (t) {
    case LP_T_STR:
        return lp_codec_put_str(p, v->s, v->len);
    case LP_T_LONG:
    case LP_T_TS:
        return p + lp_codec_put_long(p, v->i);
    case LP_T_DOUBLE:
        return enc_double(p, v->d);
    case LP_T_BOOL:
        *p = v->i != 0;
        return p + 1;
    case LP_T_LIST:
        return enc_list(p, v);
    }
    return p;
}

/* Writes the custom map as one block. */
static uint8_t *enc_custom(uint8_t *p, const lp_lead *l)
{
    const lp_kv *kv = l->custom;
    uint32_t n = l->ncustom;
    if (n) {
        p += lp_codec_put_long(p, n);
        for (uint32_t i = 0; i < n; i++) {
            p = lp_codec_put_str(p, kv[i].key.ptr, kv[i].key.len);
            p = lp_codec_put_str(p, kv[i].val.ptr, kv[i].val.len);
        }
    }
    *p++ = 0;
    return p;
}

/* Writes input field f (type t), with its union branch when nullable. */
static inline LP_CODEC_INLINE uint8_t *enc_field(uint8_t *p, const lp_lead *l, uint64_t present,
                                                 int f, lp_type t)
{
    int has = (present >> f) & 1;
    if (!lp_codec_nullable(f))
        return has ? enc_value(p, l, f, t) : lp_codec_put_str(p, "", 0);
    if (!has) {
        *p = 0;
        return p + 1;
    }
    *p = 2; /* zigzag(1): the non-null branch */
    return enc_value(p + 1, l, f, t);
}

uint8_t *lp_codec_put_lead(uint8_t *p, const lp_lead *l)
{
    uint64_t present = l->present;
#define LP_CODEC_ENC(id, name, type, flags)                                                        \
    if (LP_FF_INPUT & (flags))                                                                     \
        p = enc_field(p, l, present, LP_F_##id, type);
    LP_FIELD_LIST(LP_CODEC_ENC)
#undef LP_CODEC_ENC
    return enc_custom(p, l);
}

lp_err_t lp_codec_encode_lead(const lp_lead *l, lp_buf *out)
{
    if (lp_buf_reserve(out, lp_codec_lead_bound(l)))
        return LP_E_NOMEM;
    uint8_t *p = lp_codec_put_lead((uint8_t *)out->data + out->len, l);
    out->len = (size_t)((char *)p - out->data);
    return LP_OK;
}

/* Reads a whole file into a malloc'd, NUL-terminated buffer. */
static lp_err_t read_file(const char *path, char **out, size_t *outlen, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    lp_buf b;
    char chunk[4096];
    size_t n;
    lp_buf_init(&b);
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return LP_E_IO;
    }
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        if (lp_buf_append(&b, chunk, n))
            break;
    int bad = ferror(f) || n > 0 || lp_buf_putc(&b, '\0');
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "%s: read failed", path);
        lp_buf_free(&b);
        return LP_E_IO;
    }
    *out = b.data;
    *outlen = b.len - 1;
    return LP_OK;
}

lp_err_t lp_codec_schema_load(const char *path, struct avro_obj_t **out, char *err, size_t errlen)
{
    char *json;
    size_t len;
    lp_err_t rc = read_file(path, &json, &len, err, errlen);
    if (rc)
        return rc;
    avro_schema_t schema;
    if (avro_schema_from_json_length(json, len, &schema)) {
        snprintf(err, errlen, "%s: invalid Avro schema: %s", path, avro_strerror());
        rc = LP_E_CONFIG;
    } else {
        *out = schema;
    }
    free(json);
    return rc;
}

struct lp_codec_generic {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
    avro_reader_t reader;
    avro_writer_t writer;
};

lp_err_t lp_codec_generic_new(const char *schema_path, lp_codec_generic **out, char *err,
                              size_t errlen)
{
    lp_codec_generic *g = calloc(1, sizeof(*g));
    lp_err_t rc = LP_E_NOMEM;
    if (!g)
        return rc;
    if ((rc = lp_codec_schema_load(schema_path, &g->schema, err, errlen)))
        goto out_free;
    rc = LP_E_NOMEM;
    if (!(g->iface = avro_generic_class_from_schema(g->schema)))
        goto out_free;
    if (avro_generic_value_new(g->iface, &g->value)) {
        avro_value_iface_decref(g->iface);
        g->iface = NULL;
        goto out_free;
    }
    g->reader = avro_reader_memory("", 0);
    g->writer = avro_writer_memory("", 0);
    if (!g->reader || !g->writer)
        goto out_free;
    *out = g;
    return LP_OK;
out_free:
    if (rc == LP_E_NOMEM)
        snprintf(err, errlen, "%s: cannot build avro-c generic value: %s", schema_path,
                 avro_strerror());
    lp_codec_generic_free(g);
    return rc;
}

lp_err_t lp_codec_generic_roundtrip(lp_codec_generic *g, const char *buf, size_t len, lp_buf *out)
{
    size_t size;
    avro_reader_memory_set_source(g->reader, buf, (int64_t)len);
    avro_value_reset(&g->value);
    if (avro_value_read(g->reader, &g->value))
        return LP_E_AVRO_DECODE;
    if (avro_value_sizeof(&g->value, &size))
        return LP_E_INTERNAL;
    if (lp_buf_reserve(out, size))
        return LP_E_NOMEM;
    avro_writer_memory_set_dest(g->writer, out->data + out->len, (int64_t)size);
    if (avro_value_write(g->writer, &g->value))
        return LP_E_INTERNAL;
    out->len += size;
    return LP_OK;
}

void lp_codec_generic_free(lp_codec_generic *g)
{
    if (!g)
        return;
    if (g->reader)
        avro_reader_free(g->reader);
    if (g->writer)
        avro_writer_free(g->writer);
    if (g->iface) {
        avro_value_decref(&g->value);
        avro_value_iface_decref(g->iface);
    }
    if (g->schema)
        avro_schema_decref(g->schema);
    free(g);
}
