/*
 * avrofile.c - the Avro object container file (OCF) reader backend.
 *
 * Datums are decoded by avro-c's file reader into one generic value built
 * from the file's writer schema, reading through fmemopen() over the
 * reader's input buffer. Top-level record fields are mapped by name through
 * the field map (unions take their current branch; null is absent); a
 * map<string> field, or any field named "custom", becomes custom
 * attributes, and unknown fields become custom attributes as JSON text.
 * rec->raw is the datum re-encoded with avro_value_write into the arena.
 *
 * Before reading, the container's block structure is walked once (block
 * counts, sizes and sync markers), because avro-c's reader cannot tell the
 * end of the file from a broken block: the walk gives the exact number of
 * datums, so the reader returns LP_E_EOF after the last one and reports a
 * truncated or corrupt file as LP_E_AVRO_DECODE, never as a short read.
 *
 * Threads: none; the reader's thread. avro-c's generic value and the
 * strings it decodes are reused from datum to datum, so everything a lead
 * keeps is copied into the arena.
 */
#include <avro.h>
#include <stdlib.h>
#include <string.h>

#include "reader_impl.h"

#define AVRO_SYNC_LEN 16

/* How one top-level record field is mapped. */
struct avro_col {
    const char *name; /* owned by the writer schema */
    int field;        /* lp_field_id, or LP_FIELDMAP_CUSTOM */
    int32_t prio;
    bool custom_map;  /* a map or "custom": its entries become custom attributes */
};

struct avrofile_state {
    FILE *fp;
    avro_file_reader_t fr;
    avro_schema_t schema; /* the writer schema; our reference */
    avro_value_iface_t *iface;
    avro_value_t value;
    bool have_value;
    avro_writer_t writer; /* re-encodes datums into the arena */
    struct avro_col *cols;
    size_t ncols;         /* 0 when the top level is not a record */
    int64_t total;        /* datums in the well-formed blocks */
    int64_t nread;
    size_t good_bytes;    /* end of the last well-formed block */
    bool corrupt;         /* the walk stopped at a broken block */
};

/* ------------------------------------------------------------------------
 * Walking the container structure
 */

struct ocf_cur {
    const unsigned char *p;
    const unsigned char *end;
};

/* A zigzag varint long. */
static bool ocf_long(struct ocf_cur *c, int64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (c->p >= c->end)
            return false;
        unsigned char b = *c->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
            return true;
        }
    }
    return false;
}

/* Skips a length-prefixed byte string. */
static bool ocf_skip_bytes(struct ocf_cur *c)
{
    int64_t n;
    if (!ocf_long(c, &n) || n < 0 || n > c->end - c->p)
        return false;
    c->p += n;
    return true;
}

/* Skips the magic and the metadata map; leaves c at the sync marker. */
static bool ocf_skip_header(struct ocf_cur *c)
{
    int64_t count, size;
    if (c->end - c->p < 4 || memcmp(c->p, "Obj\x01", 4) != 0)
        return false;
    c->p += 4;
    for (;;) {
        if (!ocf_long(c, &count))
            return false;
        if (count == 0)
            return c->end - c->p >= AVRO_SYNC_LEN;
        if (count < 0 && !ocf_long(c, &size))
            return false;
        for (int64_t i = 0; i < (count < 0 ? -count : count); i++)
            if (!ocf_skip_bytes(c) || !ocf_skip_bytes(c))
                return false;
    }
}

/* Counts the datums of the well-formed blocks. */
static void ocf_walk(lp_reader *r, struct avrofile_state *s)
{
    struct ocf_cur c = {(const unsigned char *)r->buf, (const unsigned char *)r->buf + r->len};
    if (!ocf_skip_header(&c))
        return;
    const unsigned char *sync = c.p;
    c.p += AVRO_SYNC_LEN;
    while (c.p < c.end) {
        int64_t count, size;
        if (!ocf_long(&c, &count) || !ocf_long(&c, &size) || count < 0 || size < 0 ||
            size > c.end - c.p - AVRO_SYNC_LEN ||
            memcmp(c.p + size, sync, AVRO_SYNC_LEN) != 0) {
            s->corrupt = true;
            return;
        }
        c.p += size + AVRO_SYNC_LEN;
        s->total += count;
        s->good_bytes = (size_t)(c.p - (const unsigned char *)r->buf);
    }
}

/* ------------------------------------------------------------------------
 * Mapping a datum
 */

/* Resolves unions down to their current branch. */
static void avro_resolve(avro_value_t *v)
{
    avro_value_t branch;
    while (avro_value_get_type(v) == AVRO_UNION && avro_value_get_current_branch(v, &branch) == 0)
        *v = branch;
}

/* The text of a string, bytes or enum value; false for other types. */
static bool avro_text(avro_value_t *v, const char **s, size_t *n)
{
    const void *p;
    int idx;
    switch (avro_value_get_type(v)) {
    case AVRO_STRING:
        if (avro_value_get_string(v, s, n) != 0)
            return false;
        *n = *n ? *n - 1 : 0; /* the size counts the NUL */
        return true;
    case AVRO_BYTES:
        if (avro_value_get_bytes(v, &p, n) != 0)
            return false;
        *s = p;
        return true;
    case AVRO_ENUM:
        if (avro_value_get_enum(v, &idx) != 0)
            return false;
        *s = avro_schema_enum_get(avro_value_get_schema(v), idx);
        *n = *s ? strlen(*s) : 0;
        return *s != NULL;
    default:
        return false;
    }
}

/* A value that does not count as present: null or blank text. */
static bool avro_empty(avro_value_t *v)
{
    const char *s;
    size_t n;
    if (avro_value_get_type(v) == AVRO_NULL)
        return true;
    if (!avro_text(v, &s, &n))
        return false;
    lp_parse_trim(&s, &n);
    return n == 0;
}

/* The value as text in the arena: strings as they are, anything else as
 * avro-c's JSON. Checks the size limit and UTF-8. */
static lp_err_t avro_copy_text(lp_reader *r, lp_arena *a, avro_value_t *v, const char **out,
                               size_t *n)
{
    const char *s;
    char *json = NULL;
    if (!avro_text(v, &s, n)) {
        if (avro_value_to_json(v, 1, &json) != 0)
            return LP_E_AVRO_DECODE;
        s = json;
        *n = strlen(json);
    }
    lp_err_t rc = LP_OK;
    if (*n > r->max_field)
        rc = LP_E_FIELD_TOO_LONG;
    else if (lp_parse_utf8(s, *n) != LP_OK)
        rc = LP_E_ENCODING;
    else if (!(*out = lp_arena_strndup(a, s, *n)))
        rc = LP_E_NOMEM;
    free(json);
    return rc;
}

/* An array of strings into a list field. */
static lp_err_t avro_set_list(lp_reader *r, lp_arena *a, lp_lead *l, lp_field_id f,
                              avro_value_t *arr)
{
    size_t n = 0, k = 0;
    avro_value_get_size(arr, &n);
    lp_str *items = lp_arena_alloc(a, (n ? n : 1) * sizeof(*items));
    if (!items)
        return LP_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        avro_value_t it;
        const char *s;
        size_t len;
        if (avro_value_get_by_index(arr, i, &it, NULL) != 0)
            return LP_E_AVRO_DECODE;
        avro_resolve(&it);
        if (avro_value_get_type(&it) != AVRO_STRING)
            return LP_E_FIELD_TYPE;
        lp_err_t rc = avro_copy_text(r, a, &it, &s, &len);
        if (rc != LP_OK)
            return rc;
        lp_parse_trim(&s, &len);
        if (len)
            items[k++] = (lp_str){s, (uint32_t)len};
    }
    if (k) {
        l->v[f].list = items;
        l->v[f].len = (uint32_t)k;
        l->present |= 1ull << f;
    }
    return LP_OK;
}

/* Converts a non-text value into field f. */
static lp_err_t avro_set_typed(lp_reader *r, lp_arena *a, lp_lead *l, lp_field_id f,
                               avro_value_t *v)
{
    int32_t i32;
    int64_t i64;
    float fl;
    double d;
    int b;
    switch (avro_value_get_type(v)) {
    case AVRO_INT32: avro_value_get_int(v, &i32); return lp_fieldmap_set_long(l, a, f, i32);
    case AVRO_INT64: avro_value_get_long(v, &i64); return lp_fieldmap_set_long(l, a, f, i64);
    case AVRO_FLOAT: avro_value_get_float(v, &fl); return lp_fieldmap_set_double(l, a, f, fl);
    case AVRO_DOUBLE: avro_value_get_double(v, &d); return lp_fieldmap_set_double(l, a, f, d);
    case AVRO_BOOLEAN: avro_value_get_boolean(v, &b); return lp_fieldmap_set_bool(l, a, f, b);
    case AVRO_ARRAY:
        return lp_fields[f].type == LP_T_LIST ? avro_set_list(r, a, l, f, v) : LP_E_FIELD_TYPE;
    default: return LP_E_FIELD_TYPE;
    }
}

/* Rejects rec for field col's value v with the code rc. */
static void avro_reject_value(lp_reader *r, lp_arena *a, lp_record *rec, lp_err_t rc,
                              const struct avro_col *col, avro_value_t *v)
{
    const char *msg = NULL, *text;
    char *json = NULL;
    size_t n;
    if (rc == LP_E_FIELD_TYPE)
        msg = lp_arena_sprintf(a, "field \"%s\": expected %s, got Avro %s", col->name,
                               lp_type_name(lp_fields[col->field].type),
                               avro_schema_type_name(avro_value_get_schema(v)));
    else if (rc == LP_E_FIELD_TOO_LONG)
        msg = lp_arena_sprintf(a, "field \"%s\": value is longer than %zu bytes", col->name,
                               r->max_field);
    else if (avro_text(v, &text, &n) || avro_value_to_json(v, 1, &json) == 0)
        msg = lp_fieldmap_errmsg(a, rc, "field", col->name, strlen(col->name),
                                 json ? json : text, json ? strlen(json) : n);
    free(json);
    lp_reader_reject(rec, rc, msg);
}

/* Stores the winning value of a mapped field. */
static lp_err_t avro_set_field(lp_reader *r, lp_arena *a, lp_record *rec,
                               const struct avro_col *col, avro_value_t *v)
{
    lp_field_id f = (lp_field_id)col->field;
    const char *s;
    size_t n;
    lp_err_t rc;
    if (avro_value_get_type(v) == AVRO_STRING || avro_value_get_type(v) == AVRO_ENUM ||
        avro_value_get_type(v) == AVRO_BYTES) {
        rc = avro_copy_text(r, a, v, &s, &n);
        if (rc == LP_OK)
            rc = lp_fieldmap_set_text(&rec->lead, a, f, s, n);
    } else {
        rc = avro_set_typed(r, a, &rec->lead, f, v);
    }
    if (rc != LP_OK && rc != LP_E_NOMEM) {
        avro_reject_value(r, a, rec, rc, col, v);
        rc = LP_OK;
    }
    return rc;
}

/* Adds name = v as a custom attribute (non-empty values only). */
static lp_err_t avro_add_custom(lp_reader *r, lp_arena *a, lp_record *rec, const char *name,
                                avro_value_t *v)
{
    const char *s, *k;
    size_t n;
    if (avro_empty(v))
        return LP_OK;
    lp_err_t rc = avro_copy_text(r, a, v, &s, &n);
    if (rc == LP_E_FIELD_TOO_LONG || rc == LP_E_ENCODING) {
        lp_reader_reject(rec, rc, lp_fieldmap_errmsg(a, rc, "field", name, strlen(name), "", 0));
        return LP_OK;
    }
    if (rc != LP_OK)
        return rc;
    if (!(k = lp_arena_strndup(a, name, strlen(name))))
        return LP_E_NOMEM;
    lp_reader_add_custom(&rec->lead, k, strlen(k), s, n);
    return LP_OK;
}

/* The entries of a map (or of a "custom" record) become custom attributes. */
static lp_err_t avro_add_custom_map(lp_reader *r, lp_arena *a, lp_record *rec, avro_value_t *m)
{
    size_t n = 0;
    avro_value_get_size(m, &n);
    for (size_t i = 0; i < n; i++) {
        avro_value_t v;
        const char *key;
        if (avro_value_get_by_index(m, i, &v, &key) != 0)
            return LP_E_AVRO_DECODE;
        avro_resolve(&v);
        lp_err_t rc = avro_add_custom(r, a, rec, key, &v);
        if (rc != LP_OK)
            return rc;
    }
    return LP_OK;
}

/* Pass 1: each field's current value and the winner of each lead field.
 * Returns the number of custom attribute slots the datum can need. */
static size_t avro_resolve_fields(struct avrofile_state *s, avro_value_t *vals,
                                  lp_fieldpick *pick)
{
    size_t ncustom = 0;
    lp_fieldpick_reset(pick);
    for (size_t i = 0; i < s->ncols; i++) {
        avro_value_get_by_index(&s->value, i, &vals[i], NULL);
        avro_resolve(&vals[i]);
        avro_type_t t = avro_value_get_type(&vals[i]);
        size_t n = 1;
        if (s->cols[i].custom_map && (t == AVRO_MAP || t == AVRO_RECORD))
            avro_value_get_size(&vals[i], &n);
        ncustom += n;
        if (!s->cols[i].custom_map && !avro_empty(&vals[i]))
            lp_fieldpick_offer(pick, s->cols[i].field, s->cols[i].prio, (int32_t)i);
    }
    return ncustom;
}

/* Maps the current datum onto the lead. */
static lp_err_t avro_map_record(lp_reader *r, struct avrofile_state *s, lp_arena *a,
                                lp_record *rec)
{
    lp_fieldpick pick;
    avro_value_t *vals = lp_arena_alloc(a, (s->ncols ? s->ncols : 1) * sizeof(*vals));
    if (!vals)
        return LP_E_NOMEM;
    size_t ncustom = avro_resolve_fields(s, vals, &pick);
    rec->lead.custom = lp_arena_alloc(a, (ncustom ? ncustom : 1) * sizeof(lp_kv));
    if (!rec->lead.custom)
        return LP_E_NOMEM;
    lp_err_t rc = LP_OK;
    for (size_t i = 0; i < s->ncols && rc == LP_OK; i++) {
        const struct avro_col *col = &s->cols[i];
        avro_type_t t = avro_value_get_type(&vals[i]);
        if (col->custom_map && (t == AVRO_MAP || t == AVRO_RECORD))
            rc = avro_add_custom_map(r, a, rec, &vals[i]);
        else if (col->field >= 0 && pick.col[col->field] == (int32_t)i)
            rc = avro_set_field(r, a, rec, col, &vals[i]);
        else
            rc = avro_add_custom(r, a, rec, col->name, &vals[i]);
    }
    return rc;
}

/* rec->raw: the datum's binary encoding, in the arena. */
static lp_err_t avro_encode_raw(struct avrofile_state *s, lp_arena *a, lp_record *rec)
{
    size_t size = 0;
    if (avro_value_sizeof(&s->value, &size) != 0)
        return LP_E_AVRO_DECODE;
    char *buf = lp_arena_alloc(a, size ? size : 1);
    if (!buf)
        return LP_E_NOMEM;
    avro_writer_memory_set_dest(s->writer, buf, (int64_t)size);
    if (avro_value_write(s->writer, &s->value) != 0)
        return LP_E_AVRO_DECODE;
    rec->raw = (lp_str){buf, (uint32_t)size};
    return LP_OK;
}

/* A fatal error of next() at datum n, kept for lp_reader_error. */
static lp_err_t avro_fatal(lp_reader *r, int64_t n, const char *what)
{
    snprintf(r->error, sizeof(r->error), "%s: datum %lld: %s", r->path, (long long)n, what);
    return LP_E_AVRO_DECODE;
}

static lp_err_t avro_next(lp_reader *r, lp_arena *a, lp_record *rec)
{
    struct avrofile_state *s = r->state;
    if (s->nread == s->total)
        return s->corrupt ? avro_fatal(r, s->nread + 1, "truncated or corrupt block") : LP_E_EOF;
    if (avro_file_reader_read_value(s->fr, &s->value) != 0)
        return avro_fatal(r, s->nread + 1, avro_strerror());
    rec->origin.offset = ++s->nread;
    lp_err_t rc = avro_encode_raw(s, a, rec);
    if (rc == LP_E_AVRO_DECODE)
        lp_reader_reject(rec, rc, "datum cannot be re-encoded");
    else if (rc != LP_OK)
        return rc;
    else if (!s->ncols)
        lp_reader_reject(rec, LP_E_FIELD_TYPE,
                         lp_arena_sprintf(a, "top-level Avro value is %s, not a record",
                                          avro_schema_type_name(avro_value_get_schema(&s->value))));
    else if ((rc = avro_map_record(r, s, a, rec)) != LP_OK)
        return rc;
    return lp_reader_finish(r, a, rec);
}

static uint64_t avro_done(const lp_reader *r)
{
    const struct avrofile_state *s = r->state;
    if (!s->total)
        return r->len;
    return (uint64_t)((double)s->good_bytes * (double)s->nread / (double)s->total);
}

static void avro_close(lp_reader *r)
{
    struct avrofile_state *s = r->state;
    if (!s)
        return;
    if (s->have_value)
        avro_value_decref(&s->value);
    if (s->iface)
        avro_value_iface_decref(s->iface);
    if (s->schema)
        avro_schema_decref(s->schema);
    if (s->fr)
        avro_file_reader_close(s->fr);
    if (s->fp)
        fclose(s->fp);
    if (s->writer)
        avro_writer_free(s->writer);
    free(s->cols);
    free(s);
}

static const struct lp_reader_backend avro_backend = {avro_next, avro_done, avro_close};

/* Maps the writer schema's top-level fields through the field map. */
static lp_err_t avro_map_schema(lp_reader *r, struct avrofile_state *s, avro_schema_t schema)
{
    if (!is_avro_record(schema))
        return LP_OK;
    size_t n = avro_schema_record_size(schema);
    s->cols = calloc(n ? n : 1, sizeof(*s->cols));
    if (!s->cols)
        return LP_E_NOMEM;
    s->ncols = n;
    for (size_t i = 0; i < n; i++) {
        struct avro_col *col = &s->cols[i];
        avro_schema_t fs = avro_schema_record_field_get_by_index(schema, (int)i);
        col->name = avro_schema_record_field_name(schema, (int)i);
        col->field = lp_fieldmap_lookup(r->map, col->name, strlen(col->name), &col->prio);
        col->custom_map = strcmp(col->name, "custom") == 0 || is_avro_map(fs) ||
                          (is_avro_union(fs) && avro_schema_union_size(fs) == 2 &&
                           is_avro_map(avro_schema_union_branch(fs, 1)));
    }
    return LP_OK;
}

/* Opens avro-c's reader over the buffer and builds the generic value. */
static lp_err_t avro_open_reader(lp_reader *r, struct avrofile_state *s, char *err,
                                 size_t errlen)
{
    /* "r" mode never writes through the pointer; the cast only drops const. */
    s->fp = fmemopen((void *)r->buf, r->len, "r");
    if (!s->fp || avro_file_reader_fp(s->fp, r->path, 0, &s->fr) != 0) {
        s->fr = NULL;
        snprintf(err, errlen, "%s: not an Avro object container file: %s", r->path,
                 s->fp ? avro_strerror() : "cannot open");
        return LP_E_AVRO_DECODE;
    }
    /* avro-c 1.11 (Debian bookworm) hands out a new reference here */
    avro_schema_t schema = s->schema = avro_file_reader_get_writer_schema(s->fr);
    s->iface = avro_generic_class_from_schema(schema);
    if (!s->iface || avro_generic_value_new(s->iface, &s->value) != 0)
        return LP_E_NOMEM;
    s->have_value = true;
    s->writer = avro_writer_memory(NULL, 0);
    if (!s->writer)
        return LP_E_NOMEM;
    return avro_map_schema(r, s, schema);
}

lp_err_t lp_avrofile_reader_init(lp_reader *r, char *err, size_t errlen)
{
    struct avrofile_state *s = calloc(1, sizeof(*s));
    if (!s)
        return LP_E_NOMEM;
    r->state = s;
    r->be = &avro_backend;
    r->flavour = "avro";
    ocf_walk(r, s);
    if (s->total > 0)
        return avro_open_reader(r, s, err, errlen);
    struct ocf_cur c = {(const unsigned char *)r->buf, (const unsigned char *)r->buf + r->len};
    if (ocf_skip_header(&c))
        return LP_OK; /* no datums: next() says EOF, or that the first block is corrupt */
    snprintf(err, errlen, "%s: not an Avro object container file", r->path);
    return LP_E_AVRO_DECODE;
}
