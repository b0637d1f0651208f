/*
 * codec.h - the Avro binary codec of the lead (schemas/lead.avsc).
 *
 * This codec is specialised: it knows lead.avsc because lead.avsc is
 * LP_FIELD_LIST. It walks lp_fields[] (the input prefix) and then the custom
 * map, so a field added to the list needs no codec change, only a schema
 * regeneration that the schema test checks.
 *
 * Wire shape, in field order: lead_id is a plain string; every other input
 * field is a union [null, T] (branch 0 = absent, 1 = present); then custom is
 * map<string>. Lists and maps are written as one block (count, items, 0),
 * which is what avro-c and the Java and Python libraries write; the decoder
 * also accepts several blocks and negative (sized) block counts.
 *
 * Decoding is zero-copy: string pointers point into the input buffer, which
 * must outlive the lead. Only the technologies list and the custom array come
 * from the arena. Every length and varint is bounds-checked, and a failure
 * names the field it happened in.
 *
 * The generic baseline (lp_codec_generic_*) does the same round trip through
 * avro-c's generic value API. The bench measures it against the specialised
 * path, and the tests use it to prove both produce identical bytes.
 *
 * Threads: every function is reentrant. An lp_codec_generic handle belongs
 * to one thread at a time.
 */
#ifndef LP_CODEC_H
#define LP_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "buf.h"
#include "err.h"
#include "lead.h"

struct avro_obj_t;

/* The longest zigzag varint of a 64-bit value, in bytes. */
#define LP_CODEC_VARINT_MAX 10

/* Maps a signed value to Avro's zigzag form (0, -1, 1, -2 -> 0, 1, 2, 3). */
static inline uint64_t lp_codec_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

/* Inverse of lp_codec_zigzag(). */
static inline int64_t lp_codec_unzigzag(uint64_t u)
{
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/*
 * Writes v as a zigzag varint at p, which must have LP_CODEC_VARINT_MAX
 * bytes of room. Returns the number of bytes written.
 */
static inline size_t lp_codec_put_long(uint8_t *p, int64_t v)
{
    uint64_t u = lp_codec_zigzag(v);
    size_t n = 0;
    while (u >= 0x80) {
        p[n++] = (uint8_t)(u | 0x80);
        u >>= 7;
    }
    p[n++] = (uint8_t)u;
    return n;
}

/*
 * Copies n bytes from s to d, which do not overlap. Most strings in a lead
 * are a few dozen bytes, where a call to memcpy costs more than the copy: up
 * to 32 bytes are moved as two overlapping blocks of 16, 8 or 4 bytes (or
 * single bytes), longer runs go to memcpy. The fixed-size memcpy calls
 * compile to plain loads and stores; nothing is read or written outside
 * [s, s + n) and [d, d + n).
 */
static inline void lp_codec_copy(uint8_t *d, const void *s, size_t n)
{
    const uint8_t *q = (const uint8_t *)s;
    if (n > 32) {
        memcpy(d, q, n);
    } else if (n >= 16) {
        memcpy(d, q, 16);
        memcpy(d + n - 16, q + n - 16, 16);
    } else if (n >= 8) {
        memcpy(d, q, 8);
        memcpy(d + n - 8, q + n - 8, 8);
    } else if (n >= 4) {
        memcpy(d, q, 4);
        memcpy(d + n - 4, q + n - 4, 4);
    } else if (n) {
        d[0] = q[0];
        d[n / 2] = q[n / 2];
        d[n - 1] = q[n - 1];
    }
}

/*
 * Writes (s, n) as an Avro string or bytes value (length, then the bytes) at
 * p, which must have LP_CODEC_VARINT_MAX + n bytes of room. Returns the end.
 */
static inline uint8_t *lp_codec_put_str(uint8_t *p, const char *s, size_t n)
{
    p += lp_codec_put_long(p, (int64_t)n);
    lp_codec_copy(p, s, n);
    return p + n;
}

/*
 * Reads a zigzag varint from *p, not reading at or past end. On success
 * stores the value, advances *p and returns 0. Returns -1 when the input ends
 * inside the varint and -2 when it is longer than LP_CODEC_VARINT_MAX bytes.
 */
static inline int lp_codec_get_long(const uint8_t **p, const uint8_t *end, int64_t *out)
{
    const uint8_t *q = *p;
    uint64_t u = 0;
    for (unsigned shift = 0; shift < 7 * LP_CODEC_VARINT_MAX; shift += 7) {
        if (q == end)
            return -1;
        uint8_t b = *q++;
        u |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *p = q;
            *out = lp_codec_unzigzag(u);
            return 0;
        }
    }
    return -2;
}

/*
 * Decodes one Avro-encoded lead (buf, len) into l, which is cleared first.
 * Strings point into buf; the technologies list and custom attributes are
 * allocated from a. The whole buffer must be one record: trailing bytes are
 * an error.
 *
 * Returns LP_OK; LP_E_AVRO_DECODE with a reason in why (e.g. "truncated in
 * field 'title'", "bad union branch 7 in field 'country'", "trailing 12
 * bytes"); or LP_E_NOMEM when the arena cannot grow. why may be NULL.
 */
lp_err_t lp_codec_decode_lead(const char *buf, size_t len, lp_lead *l, lp_arena *a, char *why,
                              size_t whylen);

/*
 * Appends the Avro binary encoding of l to out. Derived fields are not part
 * of lead.avsc and are not written. An absent lead_id (the one non-optional
 * field) is written as the empty string. Returns LP_OK or LP_E_NOMEM.
 */
lp_err_t lp_codec_encode_lead(const lp_lead *l, lp_buf *out);

/*
 * The two halves of lp_codec_encode_lead(), for encoders of records that
 * embed the lead (routed_lead.avsc): lp_codec_lead_bound() is the most bytes
 * the encoding of l can take, and lp_codec_put_lead() writes it at p, which
 * must have that much room, and returns the end.
 */
size_t lp_codec_lead_bound(const lp_lead *l);
uint8_t *lp_codec_put_lead(uint8_t *p, const lp_lead *l);

/*
 * Reads and parses an .avsc file with avro-c. On success *out holds a
 * schema reference the caller releases with avro_schema_decref(). On failure
 * returns LP_E_IO or LP_E_CONFIG with the path and reason in err.
 */
lp_err_t lp_codec_schema_load(const char *path, struct avro_obj_t **out, char *err, size_t errlen);

/* The generic (avro-c value API) baseline codec; opaque. */
typedef struct lp_codec_generic lp_codec_generic;

/*
 * Builds a generic reader/writer for the schema in schema_path (normally
 * schemas/lead.avsc). Returns LP_OK, or an error with the reason in err.
 */
lp_err_t lp_codec_generic_new(const char *schema_path, lp_codec_generic **out, char *err,
                              size_t errlen);

/*
 * Decodes (buf, len) with avro_value_read into a generic value and appends
 * its re-encoding (avro_value_write) to out. Returns LP_OK, LP_E_AVRO_DECODE
 * when avro-c cannot read the bytes, or LP_E_NOMEM.
 */
lp_err_t lp_codec_generic_roundtrip(lp_codec_generic *g, const char *buf, size_t len, lp_buf *out);

/* Frees a generic codec; NULL is allowed. */
void lp_codec_generic_free(lp_codec_generic *g);

#endif
