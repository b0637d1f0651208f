/*
 * Unit tests for codec.c: the specialised Avro codec of the lead, checked
 * against schemas/lead.avsc, against avro-c's generic encoding, and against
 * every truncation and a stream of corruptions of a valid record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "lead_fixture.h"

static const char *source_dir(void)
{
    const char *d = getenv("LP_SOURCE_DIR");
    return d ? d : LP_SOURCE_DIR;
}

static void schema_path(char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/schemas/%s", source_dir(), name);
}

/* The Avro type lead.avsc must give a field of type t (inside the union). */
static json_t *expected_type(lp_type t)
{
    switch (t) {
    case LP_T_STR:
        return json_string("string");
    case LP_T_LONG:
        return json_string("long");
    case LP_T_DOUBLE:
        return json_string("double");
    case LP_T_BOOL:
        return json_string("boolean");
    case LP_T_TS:
        return json_pack("{s:s, s:s}", "type", "long", "logicalType", "timestamp-millis");
    case LP_T_LIST:
        return json_pack("{s:s, s:s}", "type", "array", "items", "string");
    }
    return json_null();
}

static void check_schema_field(json_t *field, int f)
{
    const char *name = json_string_value(json_object_get(field, "name"));
    json_t *type = json_object_get(field, "type");
    assert_non_null(name);
    assert_string_equal(name, lp_fields[f].name);
    assert_non_null(json_object_get(field, "doc"));
    if (f == LP_F_LEAD_ID) {
        assert_string_equal(json_string_value(type), "string");
        return;
    }
    json_t *want = json_pack("[s, o]", "null", expected_type(lp_fields[f].type));
    if (!json_equal(type, want))
        fail_msg("field '%s' has type %s", name, json_dumps(type, JSON_COMPACT));
    json_decref(want);
    assert_true(json_is_null(json_object_get(field, "default")));
}

static void lead_schema_matches_field_table(void **state)
{
    (void)state;
    char path[1024];
    json_error_t jerr;
    schema_path(path, sizeof(path), "lead.avsc");
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root)
        fail_msg("%s:%d: %s", path, jerr.line, jerr.text);
    assert_string_equal(json_string_value(json_object_get(root, "name")), "Lead");
    assert_string_equal(json_string_value(json_object_get(root, "namespace")), "io.leadpipe");
    json_t *fields = json_object_get(root, "fields");
    assert_int_equal(json_array_size(fields), LP_F_INPUT_COUNT + 1);
    for (int f = 0; f < LP_F_INPUT_COUNT; f++) {
        assert_true(lp_fields[f].flags & LP_FF_INPUT);
        check_schema_field(json_array_get(fields, (size_t)f), f);
    }
    json_t *custom = json_array_get(fields, LP_F_INPUT_COUNT);
    json_t *map = json_pack("{s:s, s:s}", "type", "map", "values", "string");
    assert_string_equal(json_string_value(json_object_get(custom, "name")), "custom");
    assert_true(json_equal(json_object_get(custom, "type"), map));
    assert_int_equal(json_object_size(json_object_get(custom, "default")), 0);
    json_decref(map);
    json_decref(root);
}

static void zigzag_varints_round_trip(void **state)
{
    (void)state;
    const int64_t vals[] = {0, -1, 1, -64, 63, 64, 300, -300, INT64_MIN, INT64_MAX};
    uint8_t b[LP_CODEC_VARINT_MAX];
    assert_int_equal(lp_codec_put_long(b, -1), 1);
    assert_int_equal(b[0], 0x01);
    assert_int_equal(lp_codec_put_long(b, 64), 2);
    assert_memory_equal(b, "\x80\x01", 2);
    assert_int_equal(lp_codec_put_long(b, INT64_MIN), 10);
    for (size_t i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        size_t n = lp_codec_put_long(b, vals[i]);
        const uint8_t *p = b;
        int64_t back = 0;
        assert_int_equal(lp_codec_get_long(&p, b + n, &back), 0);
        assert_true(back == vals[i]);
        assert_ptr_equal(p, b + n);
        p = b;
        if (n > 1)
            assert_int_equal(lp_codec_get_long(&p, b + n - 1, &back), -1);
    }
    const uint8_t overlong[11] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1};
    const uint8_t *p = overlong;
    int64_t v;
    assert_int_equal(lp_codec_get_long(&p, overlong + 11, &v), -2);
}

static void assert_str_field(const lp_lead *got, const lp_lead *want, int f)
{
    if (got->v[f].len != want->v[f].len || memcmp(got->v[f].s, want->v[f].s, want->v[f].len))
        fail_msg("field '%s' differs", lp_fields[f].name);
}

/* Compares the input fields and custom attributes of two leads. */
static void assert_same_lead(const lp_lead *got, const lp_lead *want)
{
    uint64_t input = (1ull << LP_F_INPUT_COUNT) - 1;
    assert_int_equal(got->present, want->present & input);
    for (int f = 0; f < LP_F_INPUT_COUNT; f++) {
        if (!lp_lead_has(want, f))
            continue;
        const lp_val *g = &got->v[f], *w = &want->v[f];
        switch (lp_fields[f].type) {
        case LP_T_STR:
            assert_str_field(got, want, f);
            break;
        case LP_T_DOUBLE:
            assert_true(g->d == w->d);
            break;
        case LP_T_LIST:
            assert_int_equal(g->len, w->len);
            for (uint32_t i = 0; i < w->len; i++) {
                assert_int_equal(g->list[i].len, w->list[i].len);
                assert_memory_equal(g->list[i].ptr, w->list[i].ptr, w->list[i].len);
            }
            break;
        default:
            assert_true(g->i == w->i);
        }
    }
    assert_int_equal(got->ncustom, want->ncustom);
    for (uint32_t i = 0; i < want->ncustom; i++) {
        assert_int_equal(got->custom[i].key.len, want->custom[i].key.len);
        assert_memory_equal(got->custom[i].key.ptr, want->custom[i].key.ptr,
                            want->custom[i].key.len);
        assert_memory_equal(got->custom[i].val.ptr, want->custom[i].val.ptr,
                            want->custom[i].val.len);
    }
}

static void every_field_type_round_trips_zero_copy(void **state)
{
    (void)state;
    lp_lead in, out;
    lp_buf b;
    lp_arena a;
    char why[128] = "";
    lp_buf_init(&b);
    lp_arena_init(&a, 0);
    fx_lead(&in);
    assert_int_equal(lp_codec_encode_lead(&in, &b), LP_OK);
    assert_int_equal(lp_codec_decode_lead(b.data, b.len, &out, &a, why, sizeof(why)), LP_OK);
    assert_string_equal(why, "");
    assert_same_lead(&out, &in);
    assert_false(lp_lead_has(&out, LP_F_CITY));
    assert_false(lp_lead_has(&out, LP_F_FORM_FILLS));
    /* strings point into the input buffer, not copies */
    assert_true(out.v[LP_F_TITLE].s >= b.data && out.v[LP_F_TITLE].s < b.data + b.len);
    assert_true(out.custom[1].val.ptr > b.data && out.custom[1].val.ptr < b.data + b.len);
    /* encoding the decoded lead gives the same bytes */
    lp_buf again;
    lp_buf_init(&again);
    assert_int_equal(lp_codec_encode_lead(&out, &again), LP_OK);
    assert_int_equal(again.len, b.len);
    assert_memory_equal(again.data, b.data, b.len);
    lp_buf_free(&again);
    lp_buf_free(&b);
    lp_arena_free(&a);
}

static void minimal_lead_has_exact_bytes(void **state)
{
    (void)state;
    lp_lead l, out;
    lp_buf b;
    lp_arena a;
    lp_buf_init(&b);
    lp_arena_init(&a, 0);
    lp_lead_clear(&l);
    /* no lead_id: written as the empty string; every union null; empty map */
    assert_int_equal(lp_codec_encode_lead(&l, &b), LP_OK);
    assert_int_equal(b.len, 1 + (LP_F_INPUT_COUNT - 1) + 1);
    for (size_t i = 0; i < b.len; i++)
        assert_int_equal(b.data[i], 0);
    lp_buf_reset(&b);
    fx_set(&l, LP_F_LEAD_ID, "a");
    lp_lead_set_long(&l, LP_F_EMPLOYEES, -2);
    assert_int_equal(lp_codec_encode_lead(&l, &b), LP_OK);
    assert_memory_equal(b.data, "\x02\x61", 2);
    assert_int_equal(b.data[2 + LP_F_EMPLOYEES - 1], 2); /* branch 1 */
    assert_int_equal(b.data[2 + LP_F_EMPLOYEES], 3);     /* zigzag(-2) */
    assert_int_equal(lp_codec_decode_lead(b.data, b.len, &out, &a, NULL, 0), LP_OK);
    assert_int_equal(out.present, (1ull << LP_F_LEAD_ID) | (1ull << LP_F_EMPLOYEES));
    assert_true(out.v[LP_F_EMPLOYEES].i == -2);
    assert_int_equal(out.ncustom, 0);
    lp_buf_free(&b);
    lp_arena_free(&a);
}

/* Round-trips bytes through avro-c's generic value API. */
static void assert_generic_identical(lp_codec_generic *g, const lp_buf *b)
{
    lp_buf gen;
    lp_buf_init(&gen);
    assert_int_equal(lp_codec_generic_roundtrip(g, b->data, b->len, &gen), LP_OK);
    assert_int_equal(gen.len, b->len);
    assert_memory_equal(gen.data, b->data, b->len);
    lp_buf_free(&gen);
}

static void encoding_is_identical_to_avro_c_generic(void **state)
{
    (void)state;
    char path[1024], err[256] = "";
    lp_codec_generic *g = NULL;
    lp_lead l;
    lp_buf b;
    schema_path(path, sizeof(path), "lead.avsc");
    assert_int_equal(lp_codec_generic_new(path, &g, err, sizeof(err)), LP_OK);
    lp_buf_init(&b);
    fx_lead(&l);
    assert_int_equal(lp_codec_encode_lead(&l, &b), LP_OK);
    assert_generic_identical(g, &b);
    lp_buf_reset(&b);
    lp_lead_clear(&l);
    fx_set(&l, LP_F_LEAD_ID, "only-id");
    assert_int_equal(lp_codec_encode_lead(&l, &b), LP_OK);
    assert_generic_identical(g, &b);
    /* the generic path reports a cut record too (an empty one: avro-c leaks
     * the partial string of a record cut inside a string) */
    lp_buf gen;
    lp_buf_init(&gen);
    assert_int_equal(lp_codec_generic_roundtrip(g, "", 0, &gen), LP_E_AVRO_DECODE);
    lp_buf_free(&gen);
    lp_buf_free(&b);
    lp_codec_generic_free(g);
}

static void generic_codec_reports_bad_schema_path(void **state)
{
    (void)state;
    char err[256] = "";
    lp_codec_generic *g = NULL;
    assert_int_equal(lp_codec_generic_new("/nonexistent/lead.avsc", &g, err, sizeof(err)), LP_E_IO);
    assert_non_null(strstr(err, "/nonexistent/lead.avsc"));
    assert_null(g);
}

static void every_truncation_names_a_field(void **state)
{
    (void)state;
    lp_lead in, out;
    lp_buf b;
    lp_arena a;
    char why[128];
    lp_buf_init(&b);
    lp_arena_init(&a, 0);
    fx_lead(&in);
    assert_int_equal(lp_codec_encode_lead(&in, &b), LP_OK);
    for (size_t n = 0; n < b.len; n++) {
        /* a heap copy of exactly n bytes, so ASAN sees any overread */
        char *cut = malloc(n ? n : 1);
        memcpy(cut, b.data, n);
        why[0] = '\0';
        assert_int_equal(lp_codec_decode_lead(cut, n, &out, &a, why, sizeof(why)),
                         LP_E_AVRO_DECODE);
        if (strncmp(why, "truncated in field '", 20) != 0)
            fail_msg("length %zu: %s", n, why);
        free(cut);
        lp_arena_reset(&a);
    }
    /* a cut inside the title names the title */
    const char *t = memmem(b.data, b.len, "VP \"Growth\"", 11);
    assert_non_null(t);
    assert_int_equal(
        lp_codec_decode_lead(b.data, (size_t)(t - b.data) + 3, &out, &a, why, sizeof(why)),
        LP_E_AVRO_DECODE);
    assert_string_equal(why, "truncated in field 'title'");
    lp_buf_free(&b);
    lp_arena_free(&a);
}

/* Decoding bytes fails with exactly the reason want. */
static void expect_reason(const char *bytes, size_t len, const char *want)
{
    lp_lead out;
    lp_arena a;
    char why[128] = "";
    lp_arena_init(&a, 0);
    assert_int_equal(lp_codec_decode_lead(bytes, len, &out, &a, why, sizeof(why)),
                     LP_E_AVRO_DECODE);
    assert_string_equal(why, want);
    lp_arena_free(&a);
}

static void corrupt_records_name_the_field(void **state)
{
    (void)state;
    lp_lead l;
    lp_buf b;
    lp_buf_init(&b);
    lp_lead_clear(&l);
    fx_set(&l, LP_F_LEAD_ID, "a");
    assert_int_equal(lp_codec_encode_lead(&l, &b), LP_OK);
    size_t len = b.len;
    char rec[256];
    assert_true(len + 12 <= sizeof(rec));
    memcpy(rec, b.data, len);

    rec[2 + LP_F_COUNTRY - 1] = 14; /* branch 7 */
    expect_reason(rec, len, "bad union branch 7 in field 'country'");
    memcpy(rec, b.data, len);
    rec[0] = 5; /* length -3 */
    expect_reason(rec, len, "negative length -3 in field 'lead_id'");
    memcpy(rec, b.data, len);
    rec[0] = 0x7e; /* length 63 */
    expect_reason(rec, len, "truncated in field 'lead_id'");
    memcpy(rec, b.data, len);
    memset(rec + len, 0, 12);
    expect_reason(rec, len + 12, "trailing 12 bytes");
    memcpy(rec, b.data, len);
    rec[2 + LP_F_CONSENT - 1] = 2; /* present, then boolean byte 0 ... */
    memmove(rec + 2 + LP_F_CONSENT + 1, rec + 2 + LP_F_CONSENT, len - (2 + LP_F_CONSENT));
    rec[2 + LP_F_CONSENT] = 5;
    expect_reason(rec, len + 1, "bad boolean 5 in field 'consent_marketing'");
    /* an array count far beyond the input is refused before allocating */
    memcpy(rec, b.data, len);
    rec[2 + LP_F_TECHNOLOGIES - 1] = 2;
    memmove(rec + 2 + LP_F_TECHNOLOGIES + 3, rec + 2 + LP_F_TECHNOLOGIES,
            len - (2 + LP_F_TECHNOLOGIES));
    memcpy(rec + 2 + LP_F_TECHNOLOGIES, "\xfe\xff\x7f", 3);
    expect_reason(rec, len + 3, "truncated in field 'technologies' (1048575 items, 12 bytes left)");
    lp_buf_free(&b);
}

static void sized_and_multiple_blocks_decode(void **state)
{
    (void)state;
    /* lead_id "x", technologies as block(-2, 5 bytes) + block(1) + end */
    char rec[128];
    size_t n = 0;
    rec[n++] = 2;
    rec[n++] = 'x';
    for (int f = 1; f < LP_F_INPUT_COUNT; f++) {
        if (f != LP_F_TECHNOLOGIES) {
            rec[n++] = 0;
            continue;
        }
        memcpy(rec + n,
               "\x02\x03\x0a\x04"
               "ab\x02"
               "c\x02\x02"
               "d\x00",
               12);
        n += 12;
    }
    memcpy(rec + n, "\x01\x04\x02k\x02v\x00", 7); /* custom: block(-1, 2 bytes) */
    n += 7;
    lp_lead out;
    lp_arena a;
    char why[128] = "";
    lp_arena_init(&a, 0);
    assert_int_equal(lp_codec_decode_lead(rec, n, &out, &a, why, sizeof(why)), LP_OK);
    assert_int_equal(out.v[LP_F_TECHNOLOGIES].len, 3);
    assert_memory_equal(out.v[LP_F_TECHNOLOGIES].list[0].ptr, "ab", 2);
    assert_memory_equal(out.v[LP_F_TECHNOLOGIES].list[1].ptr, "c", 1);
    assert_memory_equal(out.v[LP_F_TECHNOLOGIES].list[2].ptr, "d", 1);
    assert_int_equal(out.ncustom, 1);
    assert_memory_equal(out.custom[0].key.ptr, "k", 1);
    lp_arena_free(&a);
}

static void random_corruption_never_crashes(void **state)
{
    (void)state;
    lp_lead in, out;
    lp_buf b;
    lp_arena a;
    char why[128];
    uint32_t seed = 12345;
    lp_buf_init(&b);
    lp_arena_init(&a, 0);
    fx_lead(&in);
    assert_int_equal(lp_codec_encode_lead(&in, &b), LP_OK);
    char *rec = malloc(b.len);
    for (int iter = 0; iter < 20000; iter++) {
        memcpy(rec, b.data, b.len);
        for (int k = 0; k < 1 + iter % 4; k++) {
            seed = seed * 1103515245u + 12345u;
            rec[(seed >> 8) % b.len] = (char)(seed >> 24);
        }
        lp_err_t rc = lp_codec_decode_lead(rec, b.len, &out, &a, why, sizeof(why));
        assert_true(rc == LP_OK || rc == LP_E_AVRO_DECODE);
        lp_arena_reset(&a);
    }
    free(rec);
    lp_buf_free(&b);
    lp_arena_free(&a);
}

/* ---- the fast paths against a reference --------------------------------- */

static void small_copies_match_memcpy(void **state)
{
    (void)state;
    for (size_t n = 0; n <= 80; n++) {
        /* heap blocks of exactly n bytes, so ASAN sees any access outside */
        uint8_t *src = malloc(n ? n : 1), *dst = malloc(n ? n : 1);
        for (size_t i = 0; i < n; i++)
            src[i] = (uint8_t)(0xa0 + i);
        memset(dst, 0, n);
        lp_codec_copy(dst, src, n);
        assert_memory_equal(dst, src, n);
        free(src);
        free(dst);
    }
}

/*
 * The reference decoder: lead.avsc read as the Avro specification says, one
 * varint at a time through lp_codec_get_long(), with the field's type looked
 * up at run time. Returns 0 with l filled, or -1 for any malformed input.
 */
typedef struct ref_in {
    const uint8_t *p, *end;
    lp_arena *a;
} ref_in;

static int ref_long(ref_in *in, int64_t *v)
{
    return lp_codec_get_long(&in->p, in->end, v) == 0 ? 0 : -1;
}

static int ref_str(ref_in *in, lp_str *s)
{
    int64_t n;
    if (ref_long(in, &n) || n < 0 || n > in->end - in->p)
        return -1;
    *s = (lp_str){(const char *)in->p, (uint32_t)n};
    in->p += n;
    return 0;
}

/* Reads an array or map of strings (pairs when kv) into an arena array. */
static int ref_items(ref_in *in, int kv, void **out, uint32_t *total)
{
    size_t sz = kv ? sizeof(lp_kv) : sizeof(lp_str);
    int64_t n, size;
    *out = NULL;
    *total = 0;
    while (ref_long(in, &n) == 0) {
        if (n == 0)
            return 0;
        if (n < 0 && (n == INT64_MIN || ref_long(in, &size) || size < 0))
            return -1;
        n = n < 0 ? -n : n;
        if (n > in->end - in->p)
            return -1;
        char *grown = lp_arena_alloc(in->a, (*total + (size_t)n) * sz);
        if (*total)
            memcpy(grown, *out, *total * sz);
        *out = grown;
        for (int64_t i = 0; i < n; i++, (*total)++) {
            lp_str *s = (lp_str *)(grown + *total * sz);
            if (ref_str(in, &s[0]) || (kv && ref_str(in, &s[1])))
                return -1;
        }
    }
    return -1;
}

static int ref_value(ref_in *in, lp_val *v, lp_type t)
{
    lp_str s;
    void *items;
    switch (t) {
    case LP_T_STR:
        if (ref_str(in, &s))
            return -1;
        v->s = s.ptr;
        v->len = s.len;
        return 0;
    case LP_T_LONG:
    case LP_T_TS:
        return ref_long(in, &v->i);
    case LP_T_DOUBLE:
        if (in->end - in->p < 8)
            return -1;
        memcpy(&v->d, in->p, 8);
        in->p += 8;
        return 0;
    case LP_T_BOOL:
        if (in->p == in->end || *in->p > 1)
            return -1;
        v->i = *in->p++;
        return 0;
    case LP_T_LIST:
        if (ref_items(in, 0, &items, &v->len))
            return -1;
        v->list = items;
        return 0;
    }
    return -1;
}

static int ref_decode(const char *buf, size_t len, lp_lead *l, lp_arena *a)
{
    ref_in in = {(const uint8_t *)buf, (const uint8_t *)buf + len, a};
    void *kv;
    lp_lead_clear(l);
    for (int f = 0; f < LP_F_INPUT_COUNT; f++) {
        int64_t branch = 1;
        if (f != LP_F_LEAD_ID && (ref_long(&in, &branch) || (branch != 0 && branch != 1)))
            return -1;
        if (!branch)
            continue;
        if (ref_value(&in, &l->v[f], lp_fields[f].type))
            return -1;
        l->present |= 1ull << f;
    }
    if (ref_items(&in, 1, &kv, &l->ncustom))
        return -1;
    l->custom = kv;
    return in.p == in.end ? 0 : -1;
}

/* The codec and the reference agree on (buf, len): both refuse, or both read the same lead. */
static void assert_agrees_with_reference(const char *buf, size_t len)
{
    lp_lead got, want;
    lp_arena a;
    char why[128];
    lp_arena_init(&a, 0);
    lp_err_t rc = lp_codec_decode_lead(buf, len, &got, &a, why, sizeof(why));
    int ref = ref_decode(buf, len, &want, &a);
    if ((rc == LP_OK) != (ref == 0))
        fail_msg("%zu bytes: codec says %s (%s), reference %d", len, lp_err_str(rc),
                 rc ? why : "", ref);
    if (rc == LP_OK) {
        assert_int_equal(got.present, want.present);
        assert_same_lead(&got, &want);
    }
    lp_arena_free(&a);
}

/* A string of n bytes cycling through ASCII and 2-, 3- and 4-byte UTF-8. */
static char *fx_text(size_t n)
{
    static const char pool[] = "ab\xc3\xa9\xe6\x97\xa5\xf0\x9f\x98\x80z ";
    char *s = malloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        s[i] = pool[i % (sizeof(pool) - 1)];
    return s;
}

/*
 * Encodes l (which has a lead_id: an absent one reads back as "") and checks
 * everything that can be checked of the bytes: avro-c reads and re-encodes
 * them identically, they fit lp_codec_lead_bound(), the codec and the
 * reference decoder read them back to l, and every truncation and a run of
 * corruptions are treated alike by both.
 */
static void check_lead(lp_codec_generic *g, const lp_lead *l)
{
    lp_buf b;
    lp_lead back;
    lp_arena a;
    lp_buf_init(&b);
    lp_arena_init(&a, 0);
    assert_int_equal(lp_codec_encode_lead(l, &b), LP_OK);
    assert_true(b.len <= lp_codec_lead_bound(l));
    assert_generic_identical(g, &b);
    assert_int_equal(lp_codec_decode_lead(b.data, b.len, &back, &a, NULL, 0), LP_OK);
    assert_int_equal(back.present, l->present & ((1ull << LP_F_INPUT_COUNT) - 1));
    assert_same_lead(&back, l);
    for (size_t n = 0; n <= b.len; n++) {
        char *cut = malloc(n ? n : 1);
        memcpy(cut, b.data, n);
        assert_agrees_with_reference(cut, n);
        free(cut);
    }
    uint32_t seed = (uint32_t)b.len;
    char *rec = malloc(b.len);
    for (int iter = 0; iter < 2000; iter++) {
        memcpy(rec, b.data, b.len);
        seed = seed * 1103515245u + 12345u;
        rec[(seed >> 8) % b.len] = (char)(seed >> 24);
        assert_agrees_with_reference(rec, b.len);
    }
    free(rec);
    lp_arena_free(&a);
    lp_buf_free(&b);
}

static void long_strings_large_numbers_and_empty_values(void **state)
{
    (void)state;
    char path[1024], err[256] = "";
    lp_codec_generic *g = NULL;
    schema_path(path, sizeof(path), "lead.avsc");
    assert_int_equal(lp_codec_generic_new(path, &g, err, sizeof(err)), LP_OK);
    /* lengths around the varint boundaries: 63/64 (one to two bytes), 8191/8192 (two to three) */
    static const size_t lens[] = {0, 1, 3, 4, 7, 8, 15, 16, 17, 63, 64, 65, 127, 128, 8191, 8192};
    char *text = fx_text(8192);
    lp_lead l;
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        fx_lead(&l);
        lp_lead_set_str(&l, LP_F_TITLE, text, lens[i]);
        lp_lead_set_str(&l, LP_F_LEAD_ID, text + 1, lens[i] / 2);
        lp_lead_set_str(&l, LP_F_UTM_CAMPAIGN, text, lens[i]); /* the last string field */
        check_lead(g, &l);
    }
    /* every varint width, both signs, in a long, a timestamp and a count */
    for (int k = 0; k < 64; k++) {
        int64_t v = k == 63 ? INT64_MAX : ((int64_t)1 << k) - 1;
        fx_lead(&l);
        lp_lead_set_long(&l, LP_F_EMPLOYEES, v);
        lp_lead_set_long(&l, LP_F_PAGE_VIEWS, -v - 1); /* INT64_MIN at k == 63 */
        lp_lead_set_long(&l, LP_F_RECEIVED_AT, v / 2 + 1);
        lp_lead_set_double(&l, LP_F_REVENUE, -(double)v);
        check_lead(g, &l);
    }
    /* a present empty list, a long list, no custom map and a long one */
    lp_str items[130];
    lp_kv kv[70];
    for (size_t i = 0; i < 130; i++)
        items[i] = (lp_str){text + i, (uint32_t)(i * 3)};
    for (size_t i = 0; i < 70; i++)
        kv[i] = (lp_kv){{text, (uint32_t)i}, {text + i, (uint32_t)(200 - i)}};
    fx_lead(&l);
    l.v[LP_F_TECHNOLOGIES].len = 0;
    l.custom = NULL;
    l.ncustom = 0;
    check_lead(g, &l);
    l.v[LP_F_TECHNOLOGIES].list = items;
    l.v[LP_F_TECHNOLOGIES].len = 130;
    l.custom = kv;
    l.ncustom = 70;
    check_lead(g, &l);
    /* nothing but the id */
    lp_lead_clear(&l);
    fx_set(&l, LP_F_LEAD_ID, "\xe6\x97\xa5");
    check_lead(g, &l);
    free(text);
    lp_codec_generic_free(g);
}

/* Branches, lengths and counts written with more bytes than they need are still Avro. */
static void overlong_varints_decode_like_the_reference(void **state)
{
    (void)state;
    char rec[128];
    size_t n = 0;
    memcpy(rec, "\x82\x00xy", 4); /* lead_id: length 1 in two bytes... */
    rec[0] = (char)0x84; /* ...make it length 2 ("xy") */
    n = 4;
    for (int f = 1; f < LP_F_INPUT_COUNT; f++) {
        if (f == LP_F_SOURCE) {
            memcpy(rec + n, "\x82\x80\x00\x02z", 5); /* branch 1 in 3 bytes, "z" */
            n += 5;
        } else if (f == LP_F_EMPLOYEES) {
            memcpy(rec + n, "\x02\xfe\xff\xff\xff\x0f", 6); /* 2147483647 */
            n += 6;
        } else {
            rec[n++] = 0;
        }
    }
    memcpy(rec + n, "\x82\x00\x02k\x02v\x00", 7); /* custom: count 1 in two bytes */
    n += 7;
    lp_lead out;
    lp_arena a;
    char why[128] = "";
    lp_arena_init(&a, 0);
    assert_int_equal(lp_codec_decode_lead(rec, n, &out, &a, why, sizeof(why)), LP_OK);
    assert_memory_equal(out.v[LP_F_LEAD_ID].s, "xy", 2);
    assert_memory_equal(out.v[LP_F_SOURCE].s, "z", 1);
    assert_true(out.v[LP_F_EMPLOYEES].i == 2147483647);
    assert_int_equal(out.ncustom, 1);
    for (size_t cut = 0; cut <= n; cut++)
        assert_agrees_with_reference(rec, cut);
    lp_arena_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(lead_schema_matches_field_table),
        cmocka_unit_test(zigzag_varints_round_trip),
        cmocka_unit_test(every_field_type_round_trips_zero_copy),
        cmocka_unit_test(minimal_lead_has_exact_bytes),
        cmocka_unit_test(encoding_is_identical_to_avro_c_generic),
        cmocka_unit_test(generic_codec_reports_bad_schema_path),
        cmocka_unit_test(every_truncation_names_a_field),
        cmocka_unit_test(corrupt_records_name_the_field),
        cmocka_unit_test(sized_and_multiple_blocks_decode),
        cmocka_unit_test(random_corruption_never_crashes),
        cmocka_unit_test(small_copies_match_memcpy),
        cmocka_unit_test(long_strings_large_numbers_and_empty_values),
        cmocka_unit_test(overlong_varints_decode_like_the_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
