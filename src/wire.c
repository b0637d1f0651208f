/*
 * wire.c - lead message values on Kafka; see wire.h for the contract.
 *
 * Owns: lead.avsc (parsed by avro-c, and as JSON to build projections), the
 * registry client, and the id cache: an array of pointers to entries, so an
 * entry never moves once published. Entries that decode (FAST, RESOLVED)
 * are immutable and live until lp_wire_free(), so a decoder may use one
 * after dropping the lock. Only UNKNOWN entries (a registry 404) are ever
 * replaced, and they are read only under the lock.
 *
 * The resolved path reads the datum into a generic value of the writer
 * schema and reads fields through a resolved reader that presents it as a
 * projection of lead.avsc: the lead fields the writer has, renamed to the
 * writer's record name. Projecting is how lead fields a writer lacks become
 * absent (their default, null) rather than a resolution error.
 *
 * avro-c's error message (avro_strerror) lives in process-global buffers
 * in Debian's build, which is not compiled thread-safe, and almost every
 * avro-c call on the slow path can write it (even a successful decode, via
 * the trailing-bytes probe). So every avro-c call in this file runs under
 * wire_avro_lock: the resolved path is serialised, the fast path, which
 * never calls avro-c, is not.
 *
 * Known leak, not ours: avro-c 1.11.1 leaks the buffer of a string whose
 * bytes are cut short (read_string returns without freeing it), so each
 * such truncated message on the resolved path loses that string's length.
 */
#include "wire.h"

#include <avro.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"

typedef enum wire_kind {
    WIRE_FAST,     /* writer schema is lead.avsc: specialised codec */
    WIRE_RESOLVED, /* writer schema resolves to lead.avsc: generic path */
    WIRE_REJECT,   /* writer schema cannot be resolved; why says why */
    WIRE_UNKNOWN,  /* registry does not know the id (until retry_at) */
} wire_kind;

typedef struct wire_entry {
    int32_t id;
    wire_kind kind;
    double retry_at;                  /* UNKNOWN: monotonic seconds */
    avro_schema_t writer;             /* RESOLVED */
    avro_schema_t reader;             /* RESOLVED: the projection */
    avro_value_iface_t *writer_iface; /* RESOLVED */
    avro_value_iface_t *resolver;     /* RESOLVED */
    char why[256];                    /* REJECT, UNKNOWN */
} wire_entry;

/* Guards avro-c's global error buffers; see the top of the file. */
static pthread_mutex_t wire_avro_lock = PTHREAD_MUTEX_INITIALIZER;

struct lp_wire {
    lp_wire_format fmt;
    lp_registry *reg;      /* NULL for plain Avro */
    avro_schema_t lead;    /* lead.avsc */
    json_t *lead_json;     /* lead.avsc as JSON, for projections */
    char *lead_text;       /* lead.avsc, compact, for registration */
    pthread_rwlock_t lock; /* guards entries, n, cap and UNKNOWN entries */
    wire_entry **entries;
    size_t n, cap;
};

static double wire_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((format(printf, 3, 4))) static void wire_why(char *why, size_t whylen,
                                                           const char *fmt, ...)
{
    if (!why || !whylen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, whylen, fmt, ap);
    va_end(ap);
}

lp_err_t lp_wire_format_parse(const char *name, lp_wire_format *out)
{
    if (!strcmp(name, "avro"))
        *out = LP_WIRE_AVRO;
    else if (!strcmp(name, "confluent"))
        *out = LP_WIRE_CONFLUENT;
    else
        return LP_E_CONFIG;
    return LP_OK;
}

const char *lp_wire_format_name(lp_wire_format f)
{
    return f == LP_WIRE_CONFLUENT ? "confluent" : "avro";
}

lp_wire_format lp_wire_format_of(const lp_wire *w)
{
    return w->fmt;
}

/* Loads lead.avsc as JSON, compact text and an avro-c schema. */
static lp_err_t wire_load_schema(lp_wire *w, const char *path, char *err, size_t errlen)
{
    char def[4096];
    if (!path) {
        const char *dir = getenv("LEADPIPE_SCHEMA_DIR");
        snprintf(def, sizeof(def), "%s/lead.avsc", dir ? dir : LP_SOURCE_DIR "/schemas");
        path = def;
    }
    json_error_t je;
    if (!(w->lead_json = json_load_file(path, 0, &je))) {
        snprintf(err, errlen, "%s:%d:%d: %s", path, je.line, je.column, je.text);
        return LP_E_IO;
    }
    if (!(w->lead_text = json_dumps(w->lead_json, JSON_COMPACT | JSON_PRESERVE_ORDER)))
        return LP_E_NOMEM;
    lp_err_t rc = LP_OK;
    pthread_mutex_lock(&wire_avro_lock);
    if (avro_schema_from_json_length(w->lead_text, strlen(w->lead_text), &w->lead)) {
        snprintf(err, errlen, "%s: invalid Avro schema: %s", path, avro_strerror());
        rc = LP_E_CONFIG;
    }
    pthread_mutex_unlock(&wire_avro_lock);
    return rc;
}

lp_err_t lp_wire_new(lp_wire_format fmt, const char *registry_url, const lp_registry_opts *ro,
                     const char *schema_path, lp_wire **out, char *err, size_t errlen)
{
    lp_wire *w = calloc(1, sizeof(*w));
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return LP_E_NOMEM;
    }
    w->fmt = fmt;
    pthread_rwlock_init(&w->lock, NULL);
    lp_err_t rc = wire_load_schema(w, schema_path, err, errlen);
    if (rc == LP_OK && fmt == LP_WIRE_CONFLUENT) {
        if (!registry_url || !*registry_url) {
            snprintf(err, errlen, "the confluent wire format needs a schema registry url");
            rc = LP_E_CONFIG;
        } else {
            rc = lp_registry_new(registry_url, ro, &w->reg, err, errlen);
        }
    }
    if (rc != LP_OK) {
        lp_wire_free(w);
        return rc;
    }
    *out = w;
    return LP_OK;
}

static void wire_entry_free(wire_entry *e)
{
    if (!e)
        return;
    if (e->resolver)
        avro_value_iface_decref(e->resolver);
    if (e->writer_iface)
        avro_value_iface_decref(e->writer_iface);
    if (e->reader)
        avro_schema_decref(e->reader);
    if (e->writer)
        avro_schema_decref(e->writer);
    free(e);
}

void lp_wire_free(lp_wire *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++)
        wire_entry_free(w->entries[i]);
    free(w->entries);
    pthread_rwlock_destroy(&w->lock);
    lp_registry_free(w->reg);
    if (w->lead)
        avro_schema_decref(w->lead);
    json_decref(w->lead_json);
    free(w->lead_text);
    free(w);
}

/*
 * Builds the reader schema for a writer record: lead.avsc with only the
 * fields the writer has, under the writer's record name. Returns NULL with
 * a reason in e->why when a required lead field is missing.
 */
static avro_schema_t wire_projection(const lp_wire *w, avro_schema_t writer, wire_entry *e)
{
    json_t *proj = json_deep_copy(w->lead_json);
    json_t *fields = json_array();
    json_t *f;
    size_t i;
    avro_schema_t reader = NULL;
    if (!proj || !fields)
        goto out;
    json_array_foreach(json_object_get(proj, "fields"), i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        if (avro_schema_record_field_get_index(writer, name) >= 0)
            json_array_append(fields, f);
        else if (!json_object_get(f, "default")) {
            snprintf(e->why, sizeof(e->why),
                     "schema id %" PRId32 " has no field '%s', which lead.avsc requires", e->id,
                     name);
            goto out;
        }
    }
    const char *ns = avro_schema_namespace(writer);
    json_object_set_new(proj, "name", json_string(avro_schema_name(writer)));
    json_object_set_new(proj, "namespace", ns ? json_string(ns) : json_null());
    json_object_set(proj, "fields", fields);
    char *text = json_dumps(proj, JSON_COMPACT);
    if (!text || avro_schema_from_json_length(text, strlen(text), &reader)) {
        snprintf(e->why, sizeof(e->why), "schema id %" PRId32 ": %s", e->id, avro_strerror());
        reader = NULL;
    }
    free(text);
out:
    json_decref(fields);
    json_decref(proj);
    return reader;
}

/* Classifies a writer schema and builds its decoder. Sets e->kind. */
static void wire_entry_build(const lp_wire *w, const char *json, wire_entry *e)
{
    e->kind = WIRE_REJECT;
    if (avro_schema_from_json_length(json, strlen(json), &e->writer)) {
        snprintf(e->why, sizeof(e->why), "schema id %" PRId32 " is not a valid Avro schema: %s",
                 e->id, avro_strerror());
        e->writer = NULL;
        return;
    }
    if (avro_schema_equal(e->writer, w->lead)) {
        e->kind = WIRE_FAST;
        return;
    }
    if (!is_avro_record(e->writer)) {
        snprintf(e->why, sizeof(e->why), "schema id %" PRId32 " is a %s, not a record", e->id,
                 avro_schema_type_name(e->writer));
        return;
    }
    if (!(e->reader = wire_projection(w, e->writer, e)))
        return;
    e->writer_iface = avro_generic_class_from_schema(e->writer);
    e->resolver = avro_resolved_reader_new(e->writer, e->reader);
    if (!e->writer_iface || !e->resolver) {
        snprintf(e->why, sizeof(e->why),
                 "schema id %" PRId32 " cannot be resolved to lead.avsc: %s", e->id,
                 avro_strerror());
        return;
    }
    e->kind = WIRE_RESOLVED;
}

/* Finds id; the caller holds the lock. */
static wire_entry *wire_find(const lp_wire *w, int32_t id, size_t *idx)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->entries[i]->id == id) {
            *idx = i;
            return w->entries[i];
        }
    return NULL;
}

/*
 * Checks the cache for id. Returns 1 with *out for a decodable entry, 0
 * with the code in *rc for a cached failure, -1 when the registry must be
 * asked.
 */
static int wire_cached(lp_wire *w, int32_t id, wire_entry **out, lp_err_t *rc, char *why,
                       size_t whylen)
{
    size_t idx;
    int hit = -1;
    pthread_rwlock_rdlock(&w->lock);
    wire_entry *e = wire_find(w, id, &idx);
    if (e && (e->kind == WIRE_FAST || e->kind == WIRE_RESOLVED)) {
        *out = e;
        hit = 1;
    } else if (e && (e->kind == WIRE_REJECT || wire_now() < e->retry_at)) {
        wire_why(why, whylen, "%s", e->why);
        *rc = LP_E_SCHEMA_UNKNOWN;
        hit = 0;
    }
    pthread_rwlock_unlock(&w->lock);
    return hit;
}

/*
 * Publishes e for its id, replacing an expired UNKNOWN entry. When another
 * thread published a decodable entry first, e is freed and that one is
 * returned. Returns NULL when out of memory (e is freed).
 */
static wire_entry *wire_publish(lp_wire *w, wire_entry *e)
{
    size_t idx;
    pthread_rwlock_wrlock(&w->lock);
    wire_entry *old = wire_find(w, e->id, &idx);
    if (old && old->kind != WIRE_UNKNOWN) {
        wire_entry_free(e);
        e = old;
    } else if (old) {
        w->entries[idx] = e;
        wire_entry_free(old);
    } else {
        if (w->n == w->cap) {
            size_t cap = w->cap ? w->cap * 2 : 8;
            wire_entry **p = realloc(w->entries, cap * sizeof(*p));
            if (p) {
                w->entries = p;
                w->cap = cap;
            }
        }
        if (w->n < w->cap)
            w->entries[w->n++] = e;
        else {
            wire_entry_free(e);
            e = NULL;
        }
    }
    pthread_rwlock_unlock(&w->lock);
    return e;
}

/* Asks the registry for id and caches what it says. */
static lp_err_t wire_fetch(lp_wire *w, int32_t id, wire_entry **out, char *why, size_t whylen)
{
    char msg[sizeof(((wire_entry *)0)->why)];
    const char *json = NULL;
    lp_err_t rc = lp_registry_get_schema(w->reg, id, &json, msg, sizeof(msg));
    if (rc != LP_OK && rc != LP_E_SCHEMA_UNKNOWN) {
        wire_why(why, whylen, "%s", msg); /* not the message's fault: not cached */
        return rc;
    }
    wire_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return LP_E_NOMEM;
    e->id = id;
    if (rc == LP_E_SCHEMA_UNKNOWN) {
        e->kind = WIRE_UNKNOWN;
        e->retry_at = wire_now() + LP_WIRE_UNKNOWN_RETRY_S;
        snprintf(e->why, sizeof(e->why), "%s", msg);
    } else {
        pthread_mutex_lock(&wire_avro_lock);
        wire_entry_build(w, json, e);
        pthread_mutex_unlock(&wire_avro_lock);
    }
    wire_kind kind = e->kind;
    if (kind == WIRE_UNKNOWN || kind == WIRE_REJECT)
        wire_why(why, whylen, "%s", e->why);
    if (!(e = wire_publish(w, e)))
        return LP_E_NOMEM;
    *out = e;
    return (e->kind == WIRE_FAST || e->kind == WIRE_RESOLVED) ? LP_OK : LP_E_SCHEMA_UNKNOWN;
}

/* Copies an avro-c string (size counts its NUL) into the arena. */
static lp_err_t wire_get_str(avro_value_t *v, lp_arena *a, lp_str *out)
{
    const char *p;
    size_t size;
    if (avro_value_get_string(v, &p, &size))
        return LP_E_AVRO_DECODE;
    size_t n = size ? size - 1 : 0;
    char *s = lp_arena_strndup(a, p, n);
    if (!s)
        return LP_E_NOMEM;
    *out = (lp_str){s, (uint32_t)n};
    return LP_OK;
}

static lp_err_t wire_get_list(avro_value_t *v, lp_arena *a, lp_lead *l, lp_field_id f)
{
    size_t n;
    if (avro_value_get_size(v, &n))
        return LP_E_AVRO_DECODE;
    lp_str *items = n ? lp_arena_alloc(a, n * sizeof(*items)) : NULL;
    if (n && !items)
        return LP_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        avro_value_t item;
        lp_err_t rc;
        if (avro_value_get_by_index(v, i, &item, NULL))
            return LP_E_AVRO_DECODE;
        if ((rc = wire_get_str(&item, a, &items[i])))
            return rc;
    }
    l->v[f].list = items;
    l->v[f].len = (uint32_t)n;
    l->present |= 1ull << f;
    return LP_OK;
}

/* Stores the (non-null) value v in field f. */
static lp_err_t wire_set_field(avro_value_t *v, lp_arena *a, lp_lead *l, lp_field_id f)
{
    int64_t i64;
    int32_t b;
    double d;
    lp_str s;
    lp_err_t rc;
    switch (lp_fields[f].type) {
    case LP_T_STR:
        if ((rc = wire_get_str(v, a, &s)))
            return rc;
        lp_lead_set_str(l, f, s.ptr, s.len);
        return LP_OK;
    case LP_T_LONG:
    case LP_T_TS:
        if (avro_value_get_long(v, &i64))
            return LP_E_AVRO_DECODE;
        lp_lead_set_long(l, f, i64);
        return LP_OK;
    case LP_T_BOOL:
        if (avro_value_get_boolean(v, &b))
            return LP_E_AVRO_DECODE;
        lp_lead_set_long(l, f, b != 0);
        return LP_OK;
    case LP_T_DOUBLE:
        if (avro_value_get_double(v, &d))
            return LP_E_AVRO_DECODE;
        lp_lead_set_double(l, f, d);
        return LP_OK;
    case LP_T_LIST:
        return wire_get_list(v, a, l, f);
    }
    return LP_E_INTERNAL;
}

/* Reads one lead field from the resolved record, if the projection has it. */
static lp_err_t wire_read_field(avro_value_t *rec, lp_arena *a, lp_lead *l, lp_field_id f)
{
    avro_value_t v, branch;
    if (avro_value_get_by_name(rec, lp_fields[f].name, &v, NULL))
        return LP_OK; /* the writer has no such field: absent */
    if (avro_value_get_type(&v) == AVRO_UNION) {
        if (avro_value_get_current_branch(&v, &branch))
            return LP_E_AVRO_DECODE;
        v = branch;
    }
    if (avro_value_get_type(&v) == AVRO_NULL)
        return LP_OK;
    return wire_set_field(&v, a, l, f);
}

static lp_err_t wire_read_custom(avro_value_t *rec, lp_arena *a, lp_lead *l)
{
    avro_value_t map;
    size_t n;
    if (avro_value_get_by_name(rec, "custom", &map, NULL))
        return LP_OK;
    if (avro_value_get_size(&map, &n))
        return LP_E_AVRO_DECODE;
    if (n == 0)
        return LP_OK;
    if (!(l->custom = lp_arena_alloc(a, n * sizeof(*l->custom))))
        return LP_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        avro_value_t v;
        const char *key;
        lp_err_t rc;
        if (avro_value_get_by_index(&map, i, &v, &key))
            return LP_E_AVRO_DECODE;
        char *k = lp_arena_strndup(a, key, strlen(key));
        if (!k)
            return LP_E_NOMEM;
        l->custom[i].key = (lp_str){k, (uint32_t)strlen(k)};
        if ((rc = wire_get_str(&v, a, &l->custom[i].val)))
            return rc;
        l->ncustom = (uint32_t)(i + 1);
    }
    return LP_OK;
}

/* Fills l from the resolved view of a decoded writer value. */
static lp_err_t wire_read_lead(avro_value_t *rec, lp_arena *a, lp_lead *l, char *why, size_t whylen)
{
    for (int f = 0; f < LP_F_INPUT_COUNT; f++) {
        lp_err_t rc = wire_read_field(rec, a, l, (lp_field_id)f);
        if (rc != LP_OK) {
            wire_why(why, whylen, "field '%s': %s", lp_fields[f].name,
                     rc == LP_E_NOMEM ? "out of memory" : avro_strerror());
            return rc;
        }
    }
    lp_err_t rc = wire_read_custom(rec, a, l);
    if (rc != LP_OK)
        wire_why(why, whylen, "field 'custom': %s",
                 rc == LP_E_NOMEM ? "out of memory" : avro_strerror());
    return rc;
}

/* The generic path: avro-c reads the writer's datum, the resolver maps it. */
static lp_err_t wire_decode_resolved(const wire_entry *e, const char *buf, size_t len, lp_lead *l,
                                     lp_arena *a, char *why, size_t whylen)
{
    avro_value_t wv, rv;
    char extra;
    lp_err_t rc = LP_E_NOMEM;
    avro_reader_t rd = avro_reader_memory(buf, (int64_t)len);
    if (!rd)
        return LP_E_NOMEM;
    if (avro_generic_value_new(e->writer_iface, &wv))
        goto out_reader;
    if (avro_resolved_reader_new_value(e->resolver, &rv))
        goto out_wv;
    avro_resolved_reader_set_source(&rv, &wv);
    if (avro_value_read(rd, &wv)) {
        wire_why(why, whylen, "schema id %" PRId32 ": %s", e->id, avro_strerror());
        rc = LP_E_AVRO_DECODE;
    } else if (avro_read(rd, &extra, 1) == 0) {
        wire_why(why, whylen, "schema id %" PRId32 ": trailing bytes after the record", e->id);
        rc = LP_E_AVRO_DECODE;
    } else {
        rc = wire_read_lead(&rv, a, l, why, whylen);
    }
    avro_value_decref(&rv);
out_wv:
    avro_value_decref(&wv);
out_reader:
    avro_reader_free(rd);
    return rc;
}

/* Confluent framing: checks the header, finds the writer, decodes. */
static lp_err_t wire_decode_confluent(lp_wire *w, const char *buf, size_t len, lp_lead *l,
                                      lp_arena *a, char *why, size_t whylen)
{
    const uint8_t *u = (const uint8_t *)buf;
    if (len < LP_WIRE_CONFLUENT_HEADER) {
        wire_why(why, whylen, "message of %zu bytes is shorter than the 5-byte Confluent header",
                 len);
        return LP_E_AVRO_DECODE;
    }
    if (u[0] != 0) {
        wire_why(why, whylen, "magic byte 0x%02x, expected 0", u[0]);
        return LP_E_AVRO_DECODE;
    }
    int32_t id = (int32_t)((uint32_t)u[1] << 24 | (uint32_t)u[2] << 16 | (uint32_t)u[3] << 8 |
                           (uint32_t)u[4]);
    wire_entry *e = NULL;
    lp_err_t rc = LP_OK;
    int hit = wire_cached(w, id, &e, &rc, why, whylen);
    if (hit == 0)
        return rc;
    if (hit < 0 && (rc = wire_fetch(w, id, &e, why, whylen)) != LP_OK)
        return rc;
    buf += LP_WIRE_CONFLUENT_HEADER;
    len -= LP_WIRE_CONFLUENT_HEADER;
    if (e->kind == WIRE_FAST)
        return lp_codec_decode_lead(buf, len, l, a, why, whylen);
    pthread_mutex_lock(&wire_avro_lock);
    rc = wire_decode_resolved(e, buf, len, l, a, why, whylen);
    pthread_mutex_unlock(&wire_avro_lock);
    return rc;
}

lp_err_t lp_wire_decode(lp_wire *w, const char *buf, size_t len, lp_lead *l, lp_arena *a, char *why,
                        size_t whylen)
{
    lp_lead_clear(l);
    if (w->fmt == LP_WIRE_CONFLUENT)
        return wire_decode_confluent(w, buf, len, l, a, why, whylen);
    lp_err_t rc = lp_codec_decode_lead(buf, len, l, a, why, whylen);
    if (rc == LP_E_AVRO_DECODE && len >= LP_WIRE_CONFLUENT_HEADER && buf[0] == 0 && why) {
        size_t n = strlen(why);
        snprintf(why + n, whylen - n,
                 " (starts like a Confluent-framed message: is the format "
                 "confluent?)");
    }
    return rc;
}

lp_err_t lp_wire_encode_lead(const lp_wire *w, int32_t schema_id, const lp_lead *l, lp_buf *out)
{
    size_t mark = out->len;
    if (w->fmt == LP_WIRE_CONFLUENT) {
        uint32_t id = (uint32_t)schema_id;
        char hdr[LP_WIRE_CONFLUENT_HEADER] = {0, (char)(id >> 24), (char)(id >> 16),
                                              (char)(id >> 8), (char)id};
        if (lp_buf_append(out, hdr, sizeof(hdr)))
            return LP_E_NOMEM;
    }
    lp_err_t rc = lp_codec_encode_lead(l, out);
    if (rc != LP_OK)
        out->len = mark;
    return rc;
}

lp_err_t lp_wire_register_lead(lp_wire *w, const char *subject, int32_t *id, char *err,
                               size_t errlen)
{
    if (!w->reg) {
        snprintf(err, errlen, "no schema registry configured");
        return LP_E_CONFIG;
    }
    return lp_registry_register_schema(w->reg, subject, w->lead_text, id, err, errlen);
}
