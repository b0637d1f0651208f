/*
 * encode.c - Avro and JSON encoders of the outcome records; see encode.h.
 *
 * JSON is written through a small writer (lp_w) whose failure flag is
 * sticky: helpers append without checking, and the encoder checks once at
 * the end, rolling the buffer back to where it started.
 *
 * Avro, the format of the streaming hot path, is written in two steps: the
 * encoder adds up an upper bound of the record's size, reserves it once, and
 * then writes through a raw cursor with no further checks (see "Avro
 * primitives"). Either way each encoder stays a flat list of fields in
 * schema order, which is how to review it against the .avsc files.
 *
 * Avro field order here must match the schemas/ files exactly; the unit tests
 * decode the output with avro-c and the interoperability test with Python.
 */
#include "encode.h"

#include <assert.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

typedef struct lp_w {
    lp_buf *b;
    size_t start; /* length of b when the encoder began, for rollback */
    int failed;
} lp_w;

static lp_w w_begin(lp_buf *b)
{
    return (lp_w){b, b->len, 0};
}

static lp_err_t w_done(lp_w *w)
{
    if (!w->failed)
        return LP_OK;
    w->b->len = w->start;
    return LP_E_NOMEM;
}

/* Makes room for n more bytes; false once the writer has failed. */
static inline int w_room(lp_w *w, size_t n)
{
    if (w->failed)
        return 0;
    if (lp_buf_reserve(w->b, n))
        w->failed = 1;
    return !w->failed;
}

static inline void w_put(lp_w *w, const void *p, size_t n)
{
    if (n && w_room(w, n)) {
        memcpy(w->b->data + w->b->len, p, n);
        w->b->len += n;
    }
}

static void w_lit(lp_w *w, const char *s)
{
    w_put(w, s, strlen(s));
}

static const char *nz(const char *s)
{
    return s ? s : "";
}

/*
 * s as an lp_str: n is its length when the producer measured it at load
 * (lp_reason, lp_task), 0 when unknown, and then it is measured here.
 */
static lp_str known_len(const char *s, size_t n)
{
    s = nz(s);
    return (lp_str){s, (uint32_t)(n ? n : strlen(s))};
}

/* ---- UTF-8, timestamps, numbers ---------------------------------------- */

/* Length of the valid UTF-8 sequence at p (n bytes left), or 0. */
static size_t utf8_seq(const uint8_t *p, size_t n)
{
    uint8_t c = p[0];
    if (c < 0x80)
        return 1;
    if (c < 0xC2 || c > 0xF4)
        return 0;
    size_t need = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (n < need)
        return 0;
    for (size_t i = 1; i < need; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xF0 && p[1] < 0x90))
        return 0; /* overlong */
    if ((c == 0xED && p[1] >= 0xA0) || (c == 0xF4 && p[1] >= 0x90))
        return 0; /* surrogate, or beyond U+10FFFF */
    return need;
}

int lp_encode_utf8_valid(const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s, *end = p + len;
    while (p < end) {
        size_t n = utf8_seq(p, (size_t)(end - p));
        if (!n)
            return 0;
        p += n;
    }
    return 1;
}

/* Appends one escaped ASCII byte: \", \\ or \u00XX. */
static int json_escape(lp_buf *out, uint8_t c)
{
    static const char hex[] = "0123456789abcdef";
    char e[6] = {'\\', (char)c, 0, 0, 0, 0};
    if (c == '"' || c == '\\')
        return lp_buf_append(out, e, 2);
    e[1] = 'u';
    e[2] = e[3] = '0';
    e[4] = hex[c >> 4];
    e[5] = hex[c & 15];
    return lp_buf_append(out, e, 6);
}

/* Appends the escaped body of a JSON string, without quotes. */
static int json_body(lp_buf *out, const char *s, size_t len)
{
    const uint8_t *p = (const uint8_t *)s, *end = p + len;
    if (lp_buf_reserve(out, len))
        return -1;
    while (p < end) {
        const uint8_t *run = p;
        while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        if (p > run && lp_buf_append(out, run, (size_t)(p - run)))
            return -1;
        if (p == end)
            break;
        if (*p < 0x80) {
            if (json_escape(out, *p++))
                return -1;
            continue;
        }
        size_t n = utf8_seq(p, (size_t)(end - p));
        if (lp_buf_append(out, n ? (const void *)p : "\xEF\xBF\xBD", n ? n : 3))
            return -1;
        p += n ? n : 1;
    }
    return 0;
}

int lp_encode_json_string(lp_buf *out, const char *s, size_t len)
{
    if (lp_buf_putc(out, '"') || json_body(out, s, len))
        return -1;
    return lp_buf_putc(out, '"');
}

/* Days since 1970-01-01 to a civil date (H. Hinnant's algorithm). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

size_t lp_encode_ts_iso(int64_t ms, char *buf)
{
    const int64_t day_ms = 86400000;
    int64_t days = ms / day_ms, rem = ms % day_ms;
    if (rem < 0) {
        rem += day_ms;
        days--;
    }
    int64_t y;
    unsigned mo, d, sec = (unsigned)(rem / 1000);
    civil_from_days(days, &y, &mo, &d);
    int n = snprintf(buf, LP_ENCODE_TS_MAX, "%04" PRId64 "-%02u-%02uT%02u:%02u:%02u.%03uZ", y, mo,
                     d, sec / 3600, sec / 60 % 60, sec % 60, (unsigned)(rem % 1000));
    return n < 0 ? 0 : (size_t)n < LP_ENCODE_TS_MAX ? (size_t)n : LP_ENCODE_TS_MAX - 1;
}

/* Shortest of %.15g, %.16g, %.17g that reads back as x. */
static int fmt_double(double x, char *buf, size_t len)
{
    int n = 0;
    for (int prec = 15; prec <= 17; prec++) {
        n = snprintf(buf, len, "%.*g", prec, x);
        if (strtod(buf, NULL) == x)
            break;
    }
    return n;
}

/* ---- Avro primitives ------------------------------------------------------ */

/*
 * An Avro encoder sums an upper bound of its record first: AV_NUM bytes for
 * every number, length, union branch and block count, plus the bytes of
 * every string. av_begin() reserves that once; the put_* helpers then write
 * through a raw cursor and check nothing. The reservation is the only step
 * that can fail, so a failure leaves the buffer as it was. Strings stored
 * without a length are measured once, before the bound, and written from
 * that measure.
 */
#define AV_NUM LP_CODEC_VARINT_MAX

/* Reserves bound bytes at the end of b; returns the write cursor, or NULL. */
static uint8_t *av_begin(lp_buf *b, size_t bound)
{
    if (lp_buf_reserve(b, bound))
        return NULL;
    return (uint8_t *)b->data + b->len;
}

/* Ends an encoding that av_begin(b, bound) started, at cursor p. */
static lp_err_t av_end(lp_buf *b, const uint8_t *p, size_t bound)
{
    size_t n = (size_t)((const char *)p - (b->data + b->len));
    assert(n <= bound);
    (void)bound;
    b->len += n;
    return LP_OK;
}

static inline uint8_t *put_long(uint8_t *p, int64_t v)
{
    return p + lp_codec_put_long(p, v);
}

static inline uint8_t *put_str(uint8_t *p, lp_str s)
{
    return lp_codec_put_str(p, s.ptr, s.len);
}

/* A ["null", T] union's branch: zigzag 0 for null, zigzag 1 for the value. */
static inline uint8_t *put_branch(uint8_t *p, int present)
{
    *p = present ? 2 : 0;
    return p + 1;
}

/* A ["null","string"] union from a string whose ptr is NULL when absent. */
static inline uint8_t *put_opt_str(uint8_t *p, lp_str s)
{
    p = put_branch(p, s.ptr != NULL);
    return s.ptr ? put_str(p, s) : p;
}

static inline uint8_t *put_opt_long(uint8_t *p, int present, int64_t v)
{
    p = put_branch(p, present);
    return present ? put_long(p, v) : p;
}

/* A NUL-terminated string, measured; NULL reads as "". */
static lp_str cstr(const char *s)
{
    return known_len(s, 0);
}

/* A NUL-terminated string, measured, or {NULL, 0} for NULL (a null union). */
static lp_str opt_cstr(const char *s)
{
    return s ? cstr(s) : (lp_str){NULL, 0};
}

/* A lead slot, or {NULL, 0} when absent. */
static lp_str opt_field(const lp_lead *l, lp_field_id f)
{
    return lp_lead_has(l, f) ? (lp_str){l->v[f].s, l->v[f].len} : (lp_str){NULL, 0};
}

/* ---- JSON primitives ------------------------------------------------------ */

static void js_str(lp_w *w, const char *s, size_t n)
{
    if (!w->failed && lp_encode_json_string(w->b, s, n))
        w->failed = 1;
}

static void js_cstr(lp_w *w, const char *s)
{
    s = nz(s);
    js_str(w, s, strlen(s));
}

static void js_opt_cstr(lp_w *w, const char *s)
{
    if (s)
        js_cstr(w, s);
    else
        w_lit(w, "null");
}

static void js_long(lp_w *w, int64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof(t), "%" PRId64, v);
    w_put(w, t, (size_t)n);
}

static void js_double(lp_w *w, double x)
{
    char t[40];
    if (!isfinite(x)) {
        w_lit(w, "null");
        return;
    }
    w_put(w, t, (size_t)fmt_double(x, t, sizeof(t)));
}

static void js_ts(lp_w *w, int64_t ms)
{
    char t[LP_ENCODE_TS_MAX];
    size_t n = lp_encode_ts_iso(ms, t);
    w_lit(w, "\"");
    w_put(w, t, n);
    w_lit(w, "\"");
}

/* A lead slot as a JSON string, or null when absent. */
static void js_opt_field(lp_w *w, const lp_lead *l, lp_field_id f)
{
    if (lp_lead_has(l, f))
        js_str(w, l->v[f].s, l->v[f].len);
    else
        w_lit(w, "null");
}

/* ---- the lead as JSON ----------------------------------------------------- */

static void js_list(lp_w *w, const lp_val *v)
{
    w_lit(w, "[");
    for (uint32_t i = 0; i < v->len; i++) {
        if (i)
            w_lit(w, ",");
        js_str(w, v->list[i].ptr, v->list[i].len);
    }
    w_lit(w, "]");
}

static void js_value(lp_w *w, const lp_lead *l, int f)
{
    const lp_val *v = &l->v[f];
    switch (lp_fields[f].type) {
    case LP_T_STR:
        js_str(w, v->s, v->len);
        break;
    case LP_T_LONG:
        js_long(w, v->i);
        break;
    case LP_T_DOUBLE:
        js_double(w, v->d);
        break;
    case LP_T_BOOL:
        w_lit(w, v->i ? "true" : "false");
        break;
    case LP_T_TS:
        js_ts(w, v->i);
        break;
    case LP_T_LIST:
        js_list(w, v);
        break;
    }
}

static void js_custom(lp_w *w, const lp_lead *l)
{
    w_lit(w, "{");
    for (uint32_t i = 0; i < l->ncustom; i++) {
        if (i)
            w_lit(w, ",");
        js_str(w, l->custom[i].key.ptr, l->custom[i].key.len);
        w_lit(w, ":");
        js_str(w, l->custom[i].val.ptr, l->custom[i].val.len);
    }
    w_lit(w, "}");
}

static void js_lead(lp_w *w, const lp_lead *l)
{
    const char *sep = "{\"";
    for (int f = 0; f < LP_F_INPUT_COUNT; f++) {
        if (!lp_lead_has(l, f))
            continue;
        w_lit(w, sep);
        w_lit(w, lp_fields[f].name);
        w_lit(w, "\":");
        js_value(w, l, f);
        sep = ",\"";
    }
    if (l->ncustom) {
        w_lit(w, sep);
        w_lit(w, "custom\":");
        js_custom(w, l);
    }
    w_lit(w, sep[0] == '{' ? "{}" : "}");
}

lp_err_t lp_encode_lead_json(const lp_lead *l, lp_buf *out)
{
    lp_w w = w_begin(out);
    js_lead(&w, l);
    return w_done(&w);
}

/* ---- routed leads --------------------------------------------------------- */

static const char *const owner_kinds[] = {"owner", "team", "queue"};

/*
 * Checks that r is a routed outcome the schema can hold and finds its
 * OwnerKind symbol (-1 when r has no owner). The kinds differ in their first
 * letter, so one strcmp settles it.
 */
static lp_err_t routed_check(const lp_record *r, int *kind)
{
    *kind = -1;
    if (r->err != LP_OK || r->disposition < LP_DISP_SALES || r->disposition > LP_DISP_DUPLICATE)
        return LP_E_INTERNAL;
    if (!r->owner)
        return LP_OK;
    const char *k = r->owner_kind ? r->owner_kind : "owner";
    int i = k[0] == 'o' ? 0 : k[0] == 't' ? 1 : k[0] == 'q' ? 2 : -1;
    if (i >= 0 && strcmp(k, owner_kinds[i]) == 0)
        *kind = i;
    return *kind < 0 ? LP_E_INTERNAL : LP_OK;
}

/* Qualification symbol index: SQL, MQL, nurture, disqualified, none. */
static int64_t qual_index(lp_qualification q)
{
    return q >= LP_QUAL_SQL && q <= LP_QUAL_DISQUALIFIED ? (int64_t)q - 1 : 4;
}

/* AuxStatus symbol index; unknown values read as skipped, like their name. */
static int64_t aux_index(uint8_t s)
{
    return s <= LP_AUX_DEGRADED ? s : LP_AUX_SKIPPED;
}

static int64_t score_of(const lp_lead *l, lp_field_id f)
{
    return lp_lead_has(l, f) ? l->v[f].i : 0;
}

static lp_str grade_of(const lp_lead *l)
{
    return lp_lead_str(l, LP_F_GRADE);
}

static uint8_t *put_score(uint8_t *p, const lp_lead *l)
{
    p = put_long(p, (int32_t)score_of(l, LP_F_SCORE_FIT));
    p = put_long(p, (int32_t)score_of(l, LP_F_SCORE_ENGAGEMENT));
    p = put_long(p, (int32_t)score_of(l, LP_F_SCORE_TOTAL));
    return put_str(p, grade_of(l));
}

static lp_str reason_rule(const lp_reason *rs)
{
    return known_len(rs->rule, rs->rule_len);
}

/* The group of a reason, or {NULL, 0} when it has none. */
static lp_str reason_group(const lp_reason *rs)
{
    return rs->group ? known_len(rs->group, rs->group_len) : (lp_str){NULL, 0};
}

/* The bound of the reasons array: count, end, and per reason 4 numbers. */
static size_t reasons_bound(const lp_record *r)
{
    size_t n = 2 * AV_NUM;
    for (uint16_t i = 0; i < r->nreasons; i++)
        n += 4 * AV_NUM + reason_rule(&r->reasons[i]).len + reason_group(&r->reasons[i]).len;
    return n;
}

static uint8_t *put_reasons(uint8_t *p, const lp_record *r)
{
    if (r->nreasons) {
        p = put_long(p, r->nreasons);
        for (uint16_t i = 0; i < r->nreasons; i++) {
            const lp_reason *rs = &r->reasons[i];
            p = put_str(p, reason_rule(rs));
            p = put_opt_str(p, reason_group(rs));
            p = put_long(p, rs->dimension == LP_DIM_ENGAGEMENT);
            p = put_long(p, rs->points);
        }
    }
    *p++ = 0;
    return p;
}

/* ["null", Owner]: the OwnerKind symbol, then the name. */
static uint8_t *put_owner(uint8_t *p, int kind, lp_str owner)
{
    p = put_branch(p, kind >= 0);
    if (kind < 0)
        return p;
    p = put_long(p, kind);
    return put_str(p, owner);
}

/* ---- provenance ------------------------------------------------------------ */

/* The longest source label: "provider:" and a name cut to fit. */
#define SRC_LABEL_MAX 159

_Static_assert(LP_SRC_INPUT == 0, "nonzero_bytes() finds the fields not from input");

/*
 * Bit i set when byte i of the 8 at p is not zero. Adding 0x7f to the low
 * seven bits of a byte carries into its top bit unless they are all zero;
 * the multiplication then gathers the eight top bits into the high byte
 * (the shifted copies land on distinct bits, so nothing carries).
 */
static inline uint64_t nonzero_bytes(const uint8_t *p)
{
    const uint64_t low7 = 0x7f7f7f7f7f7f7f7full;
    uint64_t x;
    memcpy(&x, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    uint64_t top = (((x & low7) + low7) | x) & ~low7;
    return ((top >> 7) * 0x0102040810204080ull) >> 56;
}

/*
 * The fields whose present value did not come from the input, as bits. A
 * lead has about 40 fields and few are enriched, so field_src is read eight
 * bytes at a time.
 */
static uint64_t enriched_fields(const lp_record *r)
{
    uint64_t m = 0;
    int f = 0;
    for (; f + 8 <= LP_F_COUNT; f += 8)
        m |= nonzero_bytes(r->field_src + f) << f;
    for (; f < LP_F_COUNT; f++)
        m |= (uint64_t)(r->field_src[f] != LP_SRC_INPUT) << f;
    return m & r->lead.present;
}

/*
 * The label of enriched field f's source: "cache", or "provider:NAME" built
 * in buf (SRC_LABEL_MAX bytes), NAME cut to fit as it always has been.
 */
static lp_str src_label(const lp_record *r, int f, char *buf)
{
    static const char prefix[] = "provider:";
    const size_t plen = sizeof(prefix) - 1;
    uint8_t src = r->field_src[f];
    if (src == LP_SRC_CACHE)
        return LP_STR_LIT("cache");
    const char *name = r->src_names ? r->src_names[src - LP_SRC_PROVIDER] : "?";
    size_t n = strnlen(name, SRC_LABEL_MAX - plen);
    memcpy(buf, prefix, plen);
    memcpy(buf + plen, name, n);
    return (lp_str){buf, (uint32_t)(plen + n)};
}

/* The bound of the provenance map: count, end, and per entry key and label. */
static size_t provenance_bound(uint64_t enriched)
{
    size_t n = 2 * AV_NUM;
    for (uint64_t m = enriched; m; m &= m - 1)
        n += 2 * AV_NUM + lp_fields[__builtin_ctzll(m)].name_len + SRC_LABEL_MAX;
    return n;
}

/* Avro map<string>: one block of the enriched fields, then the end marker. */
static uint8_t *put_provenance(uint8_t *p, const lp_record *r, uint64_t enriched)
{
    char buf[SRC_LABEL_MAX];
    if (enriched)
        p = put_long(p, __builtin_popcountll(enriched));
    for (uint64_t m = enriched; m; m &= m - 1) {
        int f = __builtin_ctzll(m);
        p = lp_codec_put_str(p, lp_fields[f].name, lp_fields[f].name_len);
        p = put_str(p, src_label(r, f, buf));
    }
    *p++ = 0;
    return p;
}

/* {"industry":"cache","title":"provider:apollo"}: only the enriched fields. */
static void js_provenance(lp_w *w, const lp_record *r)
{
    char buf[SRC_LABEL_MAX];
    const char *sep = "{";
    for (uint64_t m = enriched_fields(r); m; m &= m - 1) {
        int f = __builtin_ctzll(m);
        lp_str label = src_label(r, f, buf);
        w_lit(w, sep);
        js_str(w, lp_fields[f].name, lp_fields[f].name_len);
        w_lit(w, ":");
        js_str(w, label.ptr, label.len);
        sep = ",";
    }
    w_lit(w, *sep == '{' ? "{}" : "}");
}

/* The strings of a routed record kept without a length, measured once. */
typedef struct routed_strs {
    lp_str owner, route_rule, qualify_rule, llm_note; /* ptr NULL when absent */
    lp_str name, version;
} routed_strs;

/*
 * The bound of everything after the lead: 25 numbers, branches and lengths
 * (rounded up to 32), the reasons, the provenance and the strings.
 */
static size_t routed_tail_bound(const lp_record *r, const routed_strs *s, uint64_t enriched)
{
    const lp_lead *l = &r->lead;
    return 32 * AV_NUM + lp_lead_str(l, LP_F_EMAIL_DOMAIN).len + grade_of(l).len +
           reasons_bound(r) + r->duplicate_of.len + s->owner.len + s->route_rule.len +
           s->qualify_rule.len + provenance_bound(enriched) + s->llm_note.len + s->name.len +
           s->version.len;
}

lp_err_t lp_encode_routed_avro(const lp_record *r, const lp_run_info *ri, lp_buf *out)
{
    int kind;
    lp_err_t err = routed_check(r, &kind);
    if (err)
        return err;
    const lp_lead *l = &r->lead;
    routed_strs s = {opt_cstr(r->owner),    opt_cstr(r->route_rule), opt_cstr(r->qualify_rule),
                     opt_cstr(r->llm_note), cstr(ri->pipeline_name), cstr(ri->pipeline_version)};
    uint64_t enriched = enriched_fields(r);
    size_t bound = lp_codec_lead_bound(l) + routed_tail_bound(r, &s, enriched);
    uint8_t *p = av_begin(out, bound);
    if (!p)
        return LP_E_NOMEM;
    p = lp_codec_put_lead(p, l);
    p = put_opt_str(p, opt_field(l, LP_F_EMAIL_DOMAIN));
    p = put_score(p, l);
    p = put_reasons(p, r);
    p = put_long(p, qual_index(r->qualification));
    *p++ = r->gray_zone ? 1 : 0;
    p = put_long(p, (int64_t)r->disposition - 1);
    p = put_opt_str(p, r->duplicate_of.ptr ? r->duplicate_of : (lp_str){NULL, 0});
    p = put_owner(p, kind, s.owner);
    p = put_opt_str(p, s.route_rule);
    p = put_opt_str(p, s.qualify_rule);
    p = put_long(p, aux_index(r->enrich_status));
    p = put_provenance(p, r, enriched);
    p = put_long(p, aux_index(r->llm_status));
    p = put_opt_str(p, s.llm_note);
    p = put_str(p, s.name);
    p = put_str(p, s.version);
    p = put_long(p, r->processed_at_ms);
    return av_end(out, p, bound);
}

static void js_score(lp_w *w, const lp_lead *l)
{
    lp_str g = grade_of(l);
    w_lit(w, "{\"fit\":");
    js_long(w, (int32_t)score_of(l, LP_F_SCORE_FIT));
    w_lit(w, ",\"engagement\":");
    js_long(w, (int32_t)score_of(l, LP_F_SCORE_ENGAGEMENT));
    w_lit(w, ",\"total\":");
    js_long(w, (int32_t)score_of(l, LP_F_SCORE_TOTAL));
    w_lit(w, ",\"grade\":");
    js_str(w, g.ptr, g.len);
    w_lit(w, "}");
}

static void js_reasons(lp_w *w, const lp_record *r)
{
    w_lit(w, "[");
    for (uint16_t i = 0; i < r->nreasons; i++) {
        const lp_reason *rs = &r->reasons[i];
        lp_str rule = known_len(rs->rule, rs->rule_len);
        w_lit(w, i ? ",{\"rule\":" : "{\"rule\":");
        js_str(w, rule.ptr, rule.len);
        w_lit(w, ",\"group\":");
        if (rs->group) {
            lp_str group = known_len(rs->group, rs->group_len);
            js_str(w, group.ptr, group.len);
        } else {
            w_lit(w, "null");
        }
        w_lit(w, rs->dimension == LP_DIM_ENGAGEMENT ? ",\"dimension\":\"engagement\""
                                                    : ",\"dimension\":\"fit\"");
        w_lit(w, ",\"points\":");
        js_long(w, rs->points);
        w_lit(w, "}");
    }
    w_lit(w, "]");
}

static void js_owner(lp_w *w, const lp_record *r, int kind)
{
    if (kind < 0) {
        w_lit(w, "null");
        return;
    }
    w_lit(w, "{\"kind\":\"");
    w_lit(w, owner_kinds[kind]);
    w_lit(w, "\",\"name\":");
    js_cstr(w, r->owner);
    w_lit(w, "}");
}

/* The outcome members after "reasons", from qualification to processed_at. */
static void js_routed_outcome(lp_w *w, const lp_record *r, const lp_run_info *ri, int kind)
{
    w_lit(w, ",\"qualification\":");
    js_cstr(w, lp_qualification_name(r->qualification));
    w_lit(w, r->gray_zone ? ",\"gray_zone\":true" : ",\"gray_zone\":false");
    w_lit(w, ",\"disposition\":");
    js_cstr(w, lp_disposition_name(r->disposition));
    w_lit(w, ",\"duplicate_of\":");
    if (r->duplicate_of.ptr)
        js_str(w, r->duplicate_of.ptr, r->duplicate_of.len);
    else
        w_lit(w, "null");
    w_lit(w, ",\"owner\":");
    js_owner(w, r, kind);
    w_lit(w, ",\"route_rule\":");
    js_opt_cstr(w, r->route_rule);
    w_lit(w, ",\"qualify_rule\":");
    js_opt_cstr(w, r->qualify_rule);
    w_lit(w, ",\"enrichment\":");
    js_cstr(w, lp_aux_status_name(r->enrich_status));
    w_lit(w, ",\"provenance\":");
    js_provenance(w, r);
    w_lit(w, ",\"llm\":");
    js_cstr(w, lp_aux_status_name(r->llm_status));
    w_lit(w, ",\"llm_note\":");
    js_opt_cstr(w, r->llm_note);
    w_lit(w, ",\"pipeline\":{\"name\":");
    js_cstr(w, ri->pipeline_name);
    w_lit(w, ",\"version\":");
    js_cstr(w, ri->pipeline_version);
    w_lit(w, "},\"processed_at\":");
    js_ts(w, r->processed_at_ms);
}

lp_err_t lp_encode_routed_json(const lp_record *r, const lp_run_info *ri, lp_buf *out)
{
    int kind;
    lp_err_t err = routed_check(r, &kind);
    if (err)
        return err;
    lp_w w = w_begin(out);
    w_lit(&w, "{\"lead_id\":");
    js_opt_field(&w, &r->lead, LP_F_LEAD_ID);
    w_lit(&w, ",\"lead\":");
    js_lead(&w, &r->lead);
    w_lit(&w, ",\"email_domain\":");
    js_opt_field(&w, &r->lead, LP_F_EMAIL_DOMAIN);
    w_lit(&w, ",\"score\":");
    js_score(&w, &r->lead);
    w_lit(&w, ",\"reasons\":");
    js_reasons(&w, r);
    js_routed_outcome(&w, r, ri, kind);
    w_lit(&w, "}");
    return w_done(&w);
}

/* ---- nurture tasks -------------------------------------------------------- */

/* The lead fields copied into a task's personalization map, in order. */
static const lp_field_id personal_fields[] = {LP_F_FIRST_NAME, LP_F_LAST_NAME, LP_F_COMPANY,
                                              LP_F_TITLE};
#define LP_NPERSONAL (sizeof(personal_fields) / sizeof(personal_fields[0]))

static uint32_t personal_count(const lp_record *r)
{
    uint32_t n = r->llm_first_line.ptr != NULL;
    for (size_t i = 0; i < LP_NPERSONAL; i++)
        n += lp_lead_has(&r->lead, personal_fields[i]);
    return n;
}

/* The bound of the personalization map: count, end, and every entry. */
static size_t personal_bound(const lp_record *r)
{
    const lp_lead *l = &r->lead;
    size_t n = 2 * AV_NUM + 2 * AV_NUM + sizeof("first_line") + r->llm_first_line.len;
    for (size_t i = 0; i < LP_NPERSONAL; i++) {
        lp_field_id f = personal_fields[i];
        n += 2 * AV_NUM + lp_fields[f].name_len + lp_lead_str(l, f).len;
    }
    return n;
}

/* The map of lead fields, and the LLM's "first_line" when there is one. */
static uint8_t *put_personal(uint8_t *p, const lp_record *r)
{
    const lp_lead *l = &r->lead;
    uint32_t n = personal_count(r);
    if (n) {
        p = put_long(p, n);
        for (size_t i = 0; i < LP_NPERSONAL; i++) {
            lp_field_id f = personal_fields[i];
            if (!lp_lead_has(l, f))
                continue;
            p = lp_codec_put_str(p, lp_fields[f].name, lp_fields[f].name_len);
            p = lp_codec_put_str(p, l->v[f].s, l->v[f].len);
        }
        if (r->llm_first_line.ptr) {
            p = put_str(p, LP_STR_LIT("first_line"));
            p = put_str(p, r->llm_first_line);
        }
    }
    *p++ = 0;
    return p;
}

/* The most digits step_str() writes: a uint16_t step. */
#define STEP_MAX 5

/* The decimal form of a task's step, for its idempotency key (len >= 6). */
static int step_str(const lp_task *t, char *buf, size_t len)
{
    char tmp[8];
    int n = 0;
    unsigned v = t->step;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0 && (size_t)n < len);
    for (int i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

/* lead_id ":" sequence ":" step, as one string (its bound: 2 ids + STEP_MAX + 2). */
static uint8_t *put_task_key(uint8_t *p, lp_str lid, lp_str seq, const lp_task *t)
{
    char step[8];
    int n = step_str(t, step, sizeof(step));
    p = put_long(p, (int64_t)(lid.len + 1 + seq.len + 1 + (size_t)n));
    lp_codec_copy(p, lid.ptr, lid.len);
    p += lid.len;
    *p++ = ':';
    lp_codec_copy(p, seq.ptr, seq.len);
    p += seq.len;
    *p++ = ':';
    lp_codec_copy(p, step, (size_t)n);
    return p + n;
}

lp_err_t lp_encode_task_avro(const lp_record *r, const lp_task *t, const lp_run_info *ri,
                             lp_buf *out)
{
    lp_str lid = lp_lead_str(&r->lead, LP_F_LEAD_ID);
    lp_str seq = known_len(t->sequence, t->sequence_len);
    lp_str tpl = known_len(t->template_id, t->template_len);
    lp_str owner = opt_cstr(r->owner);
    lp_str version = cstr(ri->pipeline_version);
    /* 8 numbers and lengths outside the map, rounded up to 10 */
    size_t bound = 10 * AV_NUM + 2 * lid.len + 2 * seq.len + STEP_MAX + 2 + tpl.len +
                   owner.len + personal_bound(r) + version.len;
    uint8_t *p = av_begin(out, bound);
    if (!p)
        return LP_E_NOMEM;
    p = put_str(p, lid);
    p = put_str(p, seq);
    p = put_long(p, t->step);
    p = put_str(p, tpl);
    p = put_long(p, t->send_at_ms);
    p = put_opt_str(p, owner);
    p = put_personal(p, r);
    p = put_task_key(p, lid, seq, t);
    p = put_str(p, version);
    return av_end(out, p, bound);
}

static void js_personal(lp_w *w, const lp_record *r)
{
    const lp_lead *l = &r->lead;
    const char *sep = "{\"";
    for (size_t i = 0; i < LP_NPERSONAL; i++) {
        lp_field_id f = personal_fields[i];
        if (!lp_lead_has(l, f))
            continue;
        w_lit(w, sep);
        w_lit(w, lp_fields[f].name);
        w_lit(w, "\":");
        js_str(w, l->v[f].s, l->v[f].len);
        sep = ",\"";
    }
    if (r->llm_first_line.ptr) {
        w_lit(w, sep);
        w_lit(w, "first_line\":");
        js_str(w, r->llm_first_line.ptr, r->llm_first_line.len);
        sep = ",\"";
    }
    w_lit(w, sep[0] == '{' ? "{}" : "}");
}

static void js_body(lp_w *w, const char *s, size_t n)
{
    if (!w->failed && json_body(w->b, s, n))
        w->failed = 1;
}

static void js_task_key(lp_w *w, lp_str lid, const lp_task *t)
{
    char step[8];
    int n = step_str(t, step, sizeof(step));
    w_lit(w, "\"");
    js_body(w, lid.ptr, lid.len);
    w_lit(w, ":");
    lp_str seq = known_len(t->sequence, t->sequence_len);
    js_body(w, seq.ptr, seq.len);
    w_lit(w, ":");
    w_put(w, step, (size_t)n);
    w_lit(w, "\"");
}

lp_err_t lp_encode_task_json(const lp_record *r, const lp_task *t, const lp_run_info *ri,
                             lp_buf *out)
{
    lp_w w = w_begin(out);
    lp_str lid = lp_lead_str(&r->lead, LP_F_LEAD_ID);
    w_lit(&w, "{\"lead_id\":");
    js_str(&w, lid.ptr, lid.len);
    lp_str seq = known_len(t->sequence, t->sequence_len);
    lp_str tpl = known_len(t->template_id, t->template_len);
    w_lit(&w, ",\"sequence_id\":");
    js_str(&w, seq.ptr, seq.len);
    w_lit(&w, ",\"step\":");
    js_long(&w, t->step);
    w_lit(&w, ",\"template_id\":");
    js_str(&w, tpl.ptr, tpl.len);
    w_lit(&w, ",\"send_at\":");
    js_ts(&w, t->send_at_ms);
    w_lit(&w, ",\"owner\":");
    js_opt_cstr(&w, r->owner);
    w_lit(&w, ",\"personalization\":");
    js_personal(&w, r);
    w_lit(&w, ",\"idempotency_key\":");
    js_task_key(&w, lid, t);
    w_lit(&w, ",\"pipeline_version\":");
    js_cstr(&w, ri->pipeline_version);
    w_lit(&w, "}");
    return w_done(&w);
}

/* ---- rejected records ----------------------------------------------------- */

static int origin_is_file(const lp_origin *o)
{
    return o->partition < 0;
}

static const char *reject_message(const lp_record *r)
{
    return r->err_msg ? r->err_msg : lp_err_str(r->err);
}

/* Origin: file or topic name, then partition, offset and line as unions. */
static uint8_t *put_origin(uint8_t *p, const lp_origin *o, lp_str name)
{
    int file = origin_is_file(o);
    p = put_str(p, name);
    p = put_opt_long(p, !file, o->partition);
    p = put_opt_long(p, !file, o->offset);
    return put_opt_long(p, file, o->offset);
}

lp_err_t lp_encode_rejected_avro(const lp_record *r, const lp_run_info *ri, lp_buf *out)
{
    if (r->err == LP_OK)
        return LP_E_INTERNAL;
    lp_str lid = opt_field(&r->lead, LP_F_LEAD_ID);
    lp_str name = cstr(r->origin.name), code = cstr(lp_err_name(r->err));
    lp_str msg = cstr(reject_message(r)), stage = cstr(lp_stage_name(r->err_stage));
    lp_str version = cstr(ri->pipeline_version);
    /* 15 numbers, branches and lengths, rounded up to 16 */
    size_t bound = 16 * AV_NUM + r->raw.len + name.len + lid.len + code.len + msg.len +
                   stage.len + version.len;
    uint8_t *p = av_begin(out, bound);
    if (!p)
        return LP_E_NOMEM;
    p = put_str(p, r->raw);
    p = put_origin(p, &r->origin, name);
    p = put_opt_str(p, lid);
    p = put_str(p, code);
    p = put_str(p, msg);
    p = put_str(p, stage);
    p = put_long(p, r->processed_at_ms);
    p = put_str(p, version);
    return av_end(out, p, bound);
}

static void js_origin(lp_w *w, const lp_origin *o)
{
    if (origin_is_file(o)) {
        w_lit(w, "{\"file\":");
        js_cstr(w, o->name);
        w_lit(w, ",\"line\":");
    } else {
        w_lit(w, "{\"topic\":");
        js_cstr(w, o->name);
        w_lit(w, ",\"partition\":");
        js_long(w, o->partition);
        w_lit(w, ",\"offset\":");
    }
    js_long(w, o->offset);
    w_lit(w, "}");
}

/* Standard base64 with padding, as one JSON string. */
static void js_base64(lp_w *w, const uint8_t *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    w_lit(w, "\"");
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        char q[4] = {tab[v >> 18], tab[(v >> 12) & 63], tab[(v >> 6) & 63], tab[v & 63]};
        if (i + 1 >= n)
            q[2] = '=';
        if (i + 2 >= n)
            q[3] = '=';
        w_put(w, q, 4);
    }
    w_lit(w, "\"");
}

static void js_original(lp_w *w, lp_str raw)
{
    if (lp_encode_utf8_valid(raw.ptr, raw.len)) {
        w_lit(w, ",\"original\":");
        js_str(w, raw.ptr, raw.len);
    } else {
        w_lit(w, ",\"original_base64\":");
        js_base64(w, (const uint8_t *)raw.ptr, raw.len);
    }
}

lp_err_t lp_encode_rejected_json(const lp_record *r, const lp_run_info *ri, lp_buf *out)
{
    if (r->err == LP_OK)
        return LP_E_INTERNAL;
    lp_w w = w_begin(out);
    w_lit(&w, "{\"lead_id\":");
    js_opt_field(&w, &r->lead, LP_F_LEAD_ID);
    w_lit(&w, ",\"error_code\":");
    js_cstr(&w, lp_err_name(r->err));
    w_lit(&w, ",\"error_message\":");
    js_cstr(&w, reject_message(r));
    w_lit(&w, ",\"stage\":");
    js_cstr(&w, lp_stage_name(r->err_stage));
    w_lit(&w, ",\"origin\":");
    js_origin(&w, &r->origin);
    js_original(&w, r->raw);
    w_lit(&w, ",\"rejected_at\":");
    js_ts(&w, r->processed_at_ms);
    w_lit(&w, ",\"pipeline_version\":");
    js_cstr(&w, ri->pipeline_version);
    w_lit(&w, "}");
    return w_done(&w);
}
