/*
 * conf.c - declarative configuration tables over libfyaml; see conf.h.
 */
#include "conf.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "lead.h"

/*
 * Finds where a node starts in the file: a scalar's own token, else the
 * first key or item inside a collection. Lines and columns are 1-based.
 */
static bool node_mark(struct fy_node *n, int *line, int *col, bool *quoted);

/* An empty collection has no token of its own: use the key that names it. */
static bool parent_key_mark(struct fy_node *n, int *line, int *col, bool *quoted)
{
    struct fy_node *parent = fy_node_get_parent(n);
    if (!parent || !fy_node_is_mapping(parent))
        return false;
    void *it = NULL;
    struct fy_node_pair *p;
    while ((p = fy_node_mapping_iterate(parent, &it)))
        if (fy_node_pair_value(p) == n)
            return node_mark(fy_node_pair_key(p), line, col, quoted);
    return false;
}

static bool node_mark(struct fy_node *n, int *line, int *col, bool *quoted)
{
    *quoted = false;
    struct fy_node *start = n;
    while (n) {
        if (fy_node_is_scalar(n) || fy_node_is_alias(n)) {
            struct fy_token *t = fy_node_get_scalar_token(n);
            const struct fy_mark *m = t ? fy_token_start_mark(t) : NULL;
            if (!m)
                return false;
            *line = m->line + 1;
            *col = m->column + 1;
            return true;
        }
        void *it = NULL;
        if (fy_node_is_mapping(n)) {
            struct fy_node_pair *p = fy_node_mapping_iterate(n, &it);
            n = p ? fy_node_pair_key(p) : NULL;
        } else {
            n = fy_node_sequence_iterate(n, &it);
        }
    }
    return start && parent_key_mark(start, line, col, quoted);
}

static void diag_vreport(lp_diag *d, struct fy_node *n, size_t offset, bool use_offset,
                         const char *fmt, va_list ap)
{
    int line = 1, col = 1;
    bool quoted = false;
    if (n && node_mark(n, &line, &col, &quoted) && use_offset) {
        /* Map a byte offset in a scalar's text back to the file; exact for
         * single-line scalars, the common case for rules. */
        size_t len = 0;
        const char *s = fy_node_get_scalar(n, &len);
        size_t last_nl = 0;
        int extra_lines = 0;
        for (size_t i = 0; s && i < offset && i < len; i++)
            if (s[i] == '\n') {
                extra_lines++;
                last_nl = i + 1;
            }
        if (extra_lines == 0) {
            col += (int)offset;
        } else {
            line += extra_lines + 1;
            col = (int)(offset - last_nl) + 1;
        }
    }
    fprintf(d->out, "%s:%d:%d: ", d->file, line, col);
    vfprintf(d->out, fmt, ap);
    fputc('\n', d->out);
    d->errors++;
}

void lp_diag_node(lp_diag *d, struct fy_node *n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vreport(d, n, 0, false, fmt, ap);
    va_end(ap);
}

void lp_diag_node_offset(lp_diag *d, struct fy_node *n, size_t offset, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vreport(d, n, offset, true, fmt, ap);
    va_end(ap);
}

const char *lp_conf_scalar(struct fy_node *n, size_t *len)
{
    if (!n || !fy_node_is_scalar(n))
        return NULL;
    return fy_node_get_scalar(n, len);
}

struct fy_node *lp_conf_get(struct fy_node *map, const char *key)
{
    if (!map || !fy_node_is_mapping(map))
        return NULL;
    return fy_node_mapping_lookup_by_string(map, key, FY_NT);
}

/* Copies s into the arena, replacing each ${NAME} with getenv(NAME). */
static char *expand_env(lp_diag *d, lp_arena *mem, struct fy_node *n, const char *s, size_t len)
{
    size_t cap = len + 1;
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] != '$' || s[i + 1] != '{')
            continue;
        const char *end = memchr(s + i, '}', len - i);
        if (!end)
            break;
        char name[128];
        size_t nlen = (size_t)(end - (s + i + 2));
        if (nlen == 0 || nlen >= sizeof(name)) {
            lp_diag_node(d, n, "invalid environment reference in '%.*s'", (int)len, s);
            return NULL;
        }
        memcpy(name, s + i + 2, nlen);
        name[nlen] = '\0';
        const char *v = getenv(name);
        if (!v) {
            lp_diag_node(d, n, "environment variable %s is not set", name);
            return NULL;
        }
        cap += strlen(v);
    }
    char *out = lp_arena_alloc(mem, cap);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        const char *end = (s[i] == '$' && i + 1 < len && s[i + 1] == '{')
                              ? memchr(s + i, '}', len - i) : NULL;
        if (!end) {
            out[o++] = s[i];
            continue;
        }
        char name[128];
        size_t nlen = (size_t)(end - (s + i + 2));
        memcpy(name, s + i + 2, nlen);
        name[nlen] = '\0';
        const char *v = getenv(name);
        size_t vlen = strlen(v);
        memcpy(out + o, v, vlen);
        o += vlen;
        i = (size_t)(end - s);
    }
    out[o] = '\0';
    return out;
}

bool lp_conf_str(lp_diag *d, lp_arena *mem, struct fy_node *n, char **out)
{
    size_t len;
    const char *s = lp_conf_scalar(n, &len);
    if (!s) {
        lp_diag_node(d, n, "expected a string");
        return false;
    }
    char *v = expand_env(d, mem, n, s, len);
    if (!v)
        return false;
    *out = v;
    return true;
}

/* Copies a scalar into buf as a C string; false when it does not fit. */
static bool scalar_cstr(struct fy_node *n, char *buf, size_t size)
{
    size_t len;
    const char *s = lp_conf_scalar(n, &len);
    if (!s || len >= size)
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return true;
}

bool lp_conf_int(lp_diag *d, struct fy_node *n, int64_t *out)
{
    char buf[64], *end;
    if (!scalar_cstr(n, buf, sizeof(buf))) {
        lp_diag_node(d, n, "expected an integer");
        return false;
    }
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (errno || end == buf || *end) {
        lp_diag_node(d, n, "'%s' is not an integer", buf);
        return false;
    }
    *out = v;
    return true;
}

bool lp_conf_double(lp_diag *d, struct fy_node *n, double *out)
{
    char buf[64], *end;
    if (!scalar_cstr(n, buf, sizeof(buf))) {
        lp_diag_node(d, n, "expected a number");
        return false;
    }
    errno = 0;
    double v = strtod(buf, &end);
    if (errno || end == buf || *end || !isfinite(v)) {
        lp_diag_node(d, n, "'%s' is not a number", buf);
        return false;
    }
    *out = v;
    return true;
}

bool lp_conf_parse_duration(const char *s, size_t len, int64_t *out_ms)
{
    char buf[32], *end;
    if (len == 0 || len >= sizeof(buf))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    errno = 0;
    double v = strtod(buf, &end);
    if (errno || end == buf || v < 0 || !isfinite(v))
        return false;
    static const struct { const char *unit; double ms; } units[] = {
        {"ms", 1}, {"s", 1e3}, {"m", 60e3}, {"h", 3600e3}, {"d", 86400e3}, {"w", 604800e3},
    };
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (!strcmp(end, units[i].unit)) {
            *out_ms = (int64_t)llround(v * units[i].ms);
            return true;
        }
    return false;
}

bool lp_conf_duration(lp_diag *d, struct fy_node *n, int64_t *out_ms)
{
    size_t len;
    const char *s = lp_conf_scalar(n, &len);
    if (!s || !lp_conf_parse_duration(s, len, out_ms)) {
        lp_diag_node(d, n, "'%.*s' is not a duration (use e.g. 500ms, 30s, 15m, 12h, 30d)",
                     s ? (int)len : 0, s ? s : "");
        return false;
    }
    return true;
}

static bool conf_bool(lp_diag *d, struct fy_node *n, bool *out)
{
    char buf[8];
    if (scalar_cstr(n, buf, sizeof(buf))) {
        if (!strcmp(buf, "true") || !strcmp(buf, "yes") || !strcmp(buf, "on")) {
            *out = true;
            return true;
        }
        if (!strcmp(buf, "false") || !strcmp(buf, "no") || !strcmp(buf, "off")) {
            *out = false;
            return true;
        }
    }
    lp_diag_node(d, n, "expected true or false");
    return false;
}

static bool conf_enum(lp_diag *d, struct fy_node *n, const char *const *choices, int *out)
{
    size_t len;
    const char *s = lp_conf_scalar(n, &len);
    for (int i = 0; s && choices[i]; i++)
        if (strlen(choices[i]) == len && !memcmp(choices[i], s, len)) {
            *out = i;
            return true;
        }
    char list[256] = "";
    size_t o = 0;
    for (int i = 0; choices[i] && o < sizeof(list) - 1; i++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", i ? ", " : "", choices[i]);
    lp_diag_node(d, n, "'%.*s' is not one of: %s", s ? (int)len : 0, s ? s : "", list);
    return false;
}

static bool conf_fields(lp_diag *d, struct fy_node *n, uint64_t *out)
{
    if (!fy_node_is_sequence(n)) {
        lp_diag_node(d, n, "expected a list of field names");
        return false;
    }
    uint64_t mask = 0;
    bool ok = true;
    void *it = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(n, &it))) {
        size_t len;
        const char *s = lp_conf_scalar(item, &len);
        int f = s ? lp_field_lookup(s, len) : -1;
        if (f < 0) {
            lp_diag_node(d, item, "unknown field '%.*s'", s ? (int)len : 0, s ? s : "");
            ok = false;
            continue;
        }
        mask |= 1ull << f;
    }
    *out = mask;
    return ok;
}

/* Stores the value of node n for property p into dst; reports errors. */
static bool prop_set(lp_diag *d, lp_arena *mem, const lp_conf_prop *p, struct fy_node *n, void *dst)
{
    char *field = (char *)dst + p->offset;
    switch (p->type) {
    case LP_CONF_STR: return lp_conf_str(d, mem, n, (char **)field);
    case LP_CONF_INT: return lp_conf_int(d, n, (int64_t *)field);
    case LP_CONF_DOUBLE: return lp_conf_double(d, n, (double *)field);
    case LP_CONF_BOOL: return conf_bool(d, n, (bool *)field);
    case LP_CONF_DURATION: return lp_conf_duration(d, n, (int64_t *)field);
    case LP_CONF_ENUM: return conf_enum(d, n, p->choices, (int *)field);
    case LP_CONF_FIELDS: return conf_fields(d, n, (uint64_t *)field);
    case LP_CONF_NODE:
    case LP_CONF_EXPR: *(struct fy_node **)field = n; return true;
    }
    return false;
}

/* Parses a default (YAML text) with the same code paths as file values. */
static void prop_default(lp_diag *d, lp_arena *mem, const lp_conf_prop *p, void *dst)
{
    char *field = (char *)dst + p->offset;
    if (!p->def) {
        /* no default: the zero value of the type (NULL, 0, false) */
        switch (p->type) {
        case LP_CONF_STR: *(char **)field = NULL; break;
        case LP_CONF_NODE:
        case LP_CONF_EXPR: *(struct fy_node **)field = NULL; break;
        case LP_CONF_INT:
        case LP_CONF_DURATION: *(int64_t *)field = 0; break;
        case LP_CONF_DOUBLE: *(double *)field = 0; break;
        case LP_CONF_BOOL: *(bool *)field = false; break;
        case LP_CONF_ENUM: *(int *)field = 0; break;
        case LP_CONF_FIELDS: *(uint64_t *)field = 0; break;
        }
        return;
    }
    struct fy_document *doc = fy_document_build_from_string(NULL, p->def, FY_NT);
    if (!doc) {
        lp_diag_node(d, NULL, "internal: bad default for '%s'", p->key);
        return;
    }
    prop_set(d, mem, p, fy_document_root(doc), dst);
    /* strings were copied into the arena, so the document can go */
    fy_document_destroy(doc);
}

static void unknown_key(lp_diag *d, struct fy_node *key, const lp_conf_prop *props)
{
    char list[512] = "";
    size_t o = 0;
    for (const lp_conf_prop *p = props; p->key && o < sizeof(list) - 1; p++)
        o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s", p == props ? "" : ", ", p->key);
    size_t len;
    const char *s = lp_conf_scalar(key, &len);
    lp_diag_node(d, key, "unknown key '%.*s' (expected one of: %s)", s ? (int)len : 0, s ? s : "",
                 list);
}

int lp_conf_apply(lp_diag *d, lp_arena *mem, struct fy_node *map, const lp_conf_prop *props,
                  void *dst)
{
    int before = d->errors;
    for (const lp_conf_prop *p = props; p->key; p++)
        prop_default(d, mem, p, dst);
    if (!map)
        goto check_required;
    if (!fy_node_is_mapping(map)) {
        lp_diag_node(d, map, "expected a mapping of keys to values");
        return d->errors - before;
    }
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(map, &it))) {
        struct fy_node *key = fy_node_pair_key(pair);
        size_t len;
        const char *k = lp_conf_scalar(key, &len);
        const lp_conf_prop *p = props;
        while (p->key && !(k && strlen(p->key) == len && !memcmp(p->key, k, len)))
            p++;
        if (!p->key) {
            unknown_key(d, key, props);
            continue;
        }
        prop_set(d, mem, p, fy_node_pair_value(pair), dst);
    }
check_required:
    for (const lp_conf_prop *p = props; p->key; p++)
        if (p->required && !lp_conf_get(map, p->key))
            lp_diag_node(d, map, "missing required key '%s'", p->key);
    return d->errors - before;
}

static const char *type_doc(lp_conf_type t)
{
    switch (t) {
    case LP_CONF_STR: return "string";
    case LP_CONF_INT: return "integer";
    case LP_CONF_DOUBLE: return "number";
    case LP_CONF_BOOL: return "boolean";
    case LP_CONF_DURATION: return "duration";
    case LP_CONF_ENUM: return "enum";
    case LP_CONF_FIELDS: return "list of fields";
    case LP_CONF_NODE: return "structure";
    case LP_CONF_EXPR: return "rule expression";
    }
    return "";
}

void lp_conf_doc(FILE *f, const lp_conf_section *sections, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const lp_conf_section *s = &sections[i];
        fprintf(f, "%s `%s`\n\n%s\n\n", strchr(s->name, '.') ? "###" : "##", s->name, s->doc);
        fprintf(f, "| key | type | default | description |\n|---|---|---|---|\n");
        for (const lp_conf_prop *p = s->props; p->key; p++) {
            fprintf(f, "| `%s` | %s", p->key, type_doc(p->type));
            if (p->choices) {
                fprintf(f, ": ");
                for (int c = 0; p->choices[c]; c++)
                    fprintf(f, "%s`%s`", c ? ", " : "", p->choices[c]);
            }
            fprintf(f, " | %s | %s |\n",
                    p->required ? "required" : p->def ? p->def : "none", p->doc);
        }
        fprintf(f, "\n");
    }
}
