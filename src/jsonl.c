/*
 * jsonl.c - the JSONL reader backend: one JSON object per line.
 *
 * Each line is parsed with jansson (json_loadb), its keys go through the
 * field map like CSV headers, and the values are converted to the fields'
 * types. The parsed tree lives only while its line is mapped, so every
 * string a lead keeps is copied into the batch arena. An object under the
 * key "custom" becomes custom attributes; other unknown keys too (strings
 * as they are, other JSON as compact JSON text).
 *
 * Threads: none; the reader's thread. Invariant: each non-blank line yields
 * one record.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "reader_impl.h"

/* A key's mapping for the line being read. */
struct jsonl_key {
    const char *key;
    json_t *val;
    int field;    /* lp_field_id, LP_FIELDMAP_CUSTOM, or JSONL_CUSTOM_OBJECT */
    int32_t prio;
};

#define JSONL_CUSTOM_OBJECT (-2)

struct jsonl_state {
    int64_t line; /* line number at r->pos */
};

static const char *jsonl_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

/* A value that does not count as present: null or a blank string. */
static bool jsonl_empty(const json_t *v)
{
    if (json_is_null(v))
        return true;
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    lp_parse_trim(&s, &n);
    return n == 0;
}

/* Compact JSON text of v in the arena. */
static lp_err_t jsonl_dump(lp_arena *a, const json_t *v, const char **s, size_t *n)
{
    size_t flags = JSON_COMPACT | JSON_ENCODE_ANY;
    size_t len = json_dumpb(v, NULL, 0, flags);
    char *buf = lp_arena_alloc(a, len ? len : 1);
    if (!buf)
        return LP_E_NOMEM;
    *n = json_dumpb(v, buf, len, flags);
    *s = buf;
    return LP_OK;
}

/* Copies a string value into the arena; rejects it when too long. */
static lp_err_t jsonl_copy_string(lp_reader *r, lp_arena *a, lp_record *rec, const char *key,
                                  const json_t *v, const char **s, size_t *n)
{
    *n = json_string_length(v);
    if (*n > r->max_field) {
        lp_reader_reject(rec, LP_E_FIELD_TOO_LONG,
                         lp_arena_sprintf(a, "key \"%s\": value is %zu bytes, limit is %zu", key,
                                          *n, r->max_field));
        return LP_E_FIELD_TOO_LONG;
    }
    *s = lp_arena_strndup(a, json_string_value(v), *n);
    return *s ? LP_OK : LP_E_NOMEM;
}

/* A JSON array of strings into a list field. */
static lp_err_t jsonl_set_list(lp_lead *l, lp_arena *a, lp_field_id f, const json_t *arr)
{
    size_t n = json_array_size(arr), k = 0;
    lp_str *items = lp_arena_alloc(a, (n ? n : 1) * sizeof(*items));
    if (!items)
        return LP_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *it = json_array_get(arr, i);
        if (!json_is_string(it))
            return LP_E_FIELD_TYPE;
        const char *s = json_string_value(it);
        size_t len = json_string_length(it);
        lp_parse_trim(&s, &len);
        if (len && !(s = lp_arena_strndup(a, s, len)))
            return LP_E_NOMEM;
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

/* Converts a non-string JSON value into field f. */
static lp_err_t jsonl_set_typed(lp_lead *l, lp_arena *a, lp_field_id f, const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_INTEGER: return lp_fieldmap_set_long(l, a, f, json_integer_value(v));
    case JSON_REAL: return lp_fieldmap_set_double(l, a, f, json_real_value(v));
    case JSON_TRUE: return lp_fieldmap_set_bool(l, a, f, true);
    case JSON_FALSE: return lp_fieldmap_set_bool(l, a, f, false);
    case JSON_ARRAY:
        return lp_fields[f].type == LP_T_LIST ? jsonl_set_list(l, a, f, v) : LP_E_FIELD_TYPE;
    default: return LP_E_FIELD_TYPE;
    }
}

/* Rejects rec for key's value v with the code rc. */
static void jsonl_reject_value(lp_arena *a, lp_record *rec, lp_err_t rc, const char *key,
                               lp_field_id f, const json_t *v, const char *text, size_t n)
{
    const char *msg;
    if (rc == LP_E_FIELD_TYPE)
        msg = lp_arena_sprintf(a, "key \"%s\": expected %s, got %s", key,
                               lp_type_name(lp_fields[f].type), jsonl_type_name(v));
    else if (text || jsonl_dump(a, v, &text, &n) == LP_OK)
        msg = lp_fieldmap_errmsg(a, rc, "key", key, strlen(key), text, n);
    else
        msg = NULL;
    lp_reader_reject(rec, rc, msg);
}

/* Stores the winning value of a mapped key. */
static lp_err_t jsonl_set_field(lp_reader *r, lp_arena *a, lp_record *rec,
                                const struct jsonl_key *k)
{
    lp_field_id f = (lp_field_id)k->field;
    const char *s = NULL;
    size_t n = 0;
    lp_err_t rc;
    if (json_is_string(k->val)) {
        rc = jsonl_copy_string(r, a, rec, k->key, k->val, &s, &n);
        if (rc == LP_OK)
            rc = lp_fieldmap_set_text(&rec->lead, a, f, s, n);
        else if (rc == LP_E_FIELD_TOO_LONG)
            return LP_OK;
    } else {
        rc = jsonl_set_typed(&rec->lead, a, f, k->val);
    }
    if (rc != LP_OK && rc != LP_E_NOMEM) {
        jsonl_reject_value(a, rec, rc, k->key, f, k->val, s, n);
        rc = LP_OK;
    }
    return rc;
}

/* Adds key = v as a custom attribute (non-empty values only). */
static lp_err_t jsonl_add_custom(lp_reader *r, lp_arena *a, lp_record *rec, const char *key,
                                 const json_t *v)
{
    const char *s, *k;
    size_t n;
    lp_err_t rc;
    if (jsonl_empty(v))
        return LP_OK;
    if (json_is_string(v))
        rc = jsonl_copy_string(r, a, rec, key, v, &s, &n);
    else
        rc = jsonl_dump(a, v, &s, &n);
    if (rc == LP_E_FIELD_TOO_LONG)
        return LP_OK;
    if (rc != LP_OK || !(k = lp_arena_strndup(a, key, strlen(key))))
        return LP_E_NOMEM;
    lp_reader_add_custom(&rec->lead, k, strlen(k), s, n);
    return LP_OK;
}

/* The members of a "custom" object become custom attributes. */
static lp_err_t jsonl_add_custom_object(lp_reader *r, lp_arena *a, lp_record *rec,
                                        json_t *obj)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        lp_err_t rc = jsonl_add_custom(r, a, rec, key, v);
        if (rc != LP_OK)
            return rc;
    }
    return LP_OK;
}

/* Pass 1: resolves every key and picks the winner of each field. Returns
 * the number of custom attribute slots the line can need. */
static size_t jsonl_resolve(const lp_reader *r, json_t *obj, struct jsonl_key *keys,
                            lp_fieldpick *pick)
{
    const char *key;
    json_t *v;
    size_t i = 0, ncustom = 0;
    lp_fieldpick_reset(pick);
    json_object_foreach(obj, key, v) {
        struct jsonl_key *k = &keys[i];
        k->key = key;
        k->val = v;
        if (strcmp(key, "custom") == 0 && json_is_object(v)) {
            k->field = JSONL_CUSTOM_OBJECT;
            ncustom += json_object_size(v);
        } else {
            k->field = lp_fieldmap_lookup(r->map, key, strlen(key), &k->prio);
            ncustom++;
            if (!jsonl_empty(v))
                lp_fieldpick_offer(pick, k->field, k->prio, (int32_t)i);
        }
        i++;
    }
    return ncustom;
}

/* Maps a JSON object onto the lead. */
static lp_err_t jsonl_map_object(lp_reader *r, lp_arena *a, lp_record *rec, json_t *obj)
{
    size_t nkeys = json_object_size(obj);
    struct jsonl_key *keys = lp_arena_alloc(a, (nkeys ? nkeys : 1) * sizeof(*keys));
    lp_fieldpick pick;
    if (!keys)
        return LP_E_NOMEM;
    size_t ncustom = jsonl_resolve(r, obj, keys, &pick);
    rec->lead.custom = lp_arena_alloc(a, (ncustom ? ncustom : 1) * sizeof(lp_kv));
    if (!rec->lead.custom)
        return LP_E_NOMEM;
    lp_err_t rc = LP_OK;
    for (size_t i = 0; i < nkeys && rc == LP_OK; i++) {
        const struct jsonl_key *k = &keys[i];
        if (k->field == JSONL_CUSTOM_OBJECT)
            rc = jsonl_add_custom_object(r, a, rec, k->val);
        else if (k->field >= 0 && pick.col[k->field] == (int32_t)i)
            rc = jsonl_set_field(r, a, rec, k);
        else
            rc = jsonl_add_custom(r, a, rec, k->key, k->val);
    }
    return rc;
}

/* Parses one line and maps it, or rejects it. */
static lp_err_t jsonl_map_line(lp_reader *r, lp_arena *a, lp_record *rec)
{
    json_error_t e;
    json_t *root = json_loadb(rec->raw.ptr, rec->raw.len, 0, &e);
    lp_err_t rc = LP_OK;
    if (!root) {
        bool utf8 = json_error_code(&e) == json_error_invalid_utf8;
        lp_reader_reject(rec, utf8 ? LP_E_ENCODING : LP_E_JSON_INVALID,
                         lp_arena_sprintf(a, "invalid JSON at column %d: %s", e.column, e.text));
        return LP_OK;
    }
    if (json_is_object(root))
        rc = jsonl_map_object(r, a, rec, root);
    else
        lp_reader_reject(rec, LP_E_JSON_INVALID,
                         lp_arena_sprintf(a, "line is %s, not a JSON object",
                                          jsonl_type_name(root)));
    json_decref(root);
    return rc;
}

static bool jsonl_blank(const char *s, size_t n)
{
    lp_parse_trim(&s, &n);
    return n == 0;
}

static lp_err_t jsonl_next(lp_reader *r, lp_arena *a, lp_record *rec)
{
    struct jsonl_state *s = r->state;
    for (;;) {
        if (r->pos >= r->len)
            return LP_E_EOF;
        const char *start = r->buf + r->pos;
        const char *nl = memchr(start, '\n', r->len - r->pos);
        size_t n = nl ? (size_t)(nl - start) : r->len - r->pos;
        int64_t line = s->line++;
        r->pos += nl ? n + 1 : n;
        if (n && start[n - 1] == '\r')
            n--;
        if (jsonl_blank(start, n))
            continue;
        rec->raw = (lp_str){start, (uint32_t)n};
        rec->origin.offset = line;
        lp_err_t rc = LP_OK;
        if (n > r->max_row)
            lp_reader_reject(rec, LP_E_ROW_TOO_LONG,
                             lp_arena_sprintf(a, "line is longer than %zu bytes", r->max_row));
        else
            rc = jsonl_map_line(r, a, rec);
        return rc != LP_OK ? rc : lp_reader_finish(r, a, rec);
    }
}

static void jsonl_close(lp_reader *r)
{
    free(r->state);
}

static const struct lp_reader_backend jsonl_backend = {jsonl_next, NULL, jsonl_close};

lp_err_t lp_jsonl_reader_init(lp_reader *r, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct jsonl_state *s = calloc(1, sizeof(*s));
    if (!s)
        return LP_E_NOMEM;
    s->line = 1;
    r->state = s;
    r->be = &jsonl_backend;
    r->flavour = "jsonl";
    if (r->len >= 3 && memcmp(r->buf, "\xef\xbb\xbf", 3) == 0)
        r->pos = 3;
    return LP_OK;
}
