/*
 * provider.c - enrichment provider declarations: the built-in presets, the
 * request a batch of keys turns into, and the mapping of a JSON answer back
 * onto lead fields.
 *
 * A mapping is a list of {dotted JSON path, lead field}. Paths are resolved
 * inside one match; an array value fills a list field, and its first item
 * fills a string field (Apollo's `departments`). Numbers fill numeric
 * fields and may be given as strings ("1,200" is not a number: skipped).
 *
 * Threads: presets are immutable; the functions here are pure and run on
 * the enrichment I/O thread.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "enrich.h"
#include "provider.h"

static const lp_provider_field apollo_fields[] = {
    {"first_name", LP_F_FIRST_NAME},
    {"last_name", LP_F_LAST_NAME},
    {"title", LP_F_TITLE},
    {"seniority", LP_F_SENIORITY},
    {"departments", LP_F_DEPARTMENT},
    {"linkedin_url", LP_F_LINKEDIN_URL},
    {"organization.name", LP_F_COMPANY},
    {"organization.primary_domain", LP_F_DOMAIN},
    {"organization.industry", LP_F_INDUSTRY},
    {"organization.estimated_num_employees", LP_F_EMPLOYEES},
    {"organization.annual_revenue", LP_F_REVENUE},
    {"organization.country", LP_F_COUNTRY},
    {"organization.state", LP_F_REGION},
    {"organization.city", LP_F_CITY},
    {"organization.technology_names", LP_F_TECHNOLOGIES},
};

static const lp_provider_field company_fields[] = {
    {"domain", LP_F_DOMAIN},
    {"name", LP_F_COMPANY},
    {"industry", LP_F_INDUSTRY},
    {"employees", LP_F_EMPLOYEES},
    {"revenue", LP_F_REVENUE},
    {"country", LP_F_COUNTRY},
    {"region", LP_F_REGION},
    {"city", LP_F_CITY},
    {"technologies", LP_F_TECHNOLOGIES},
};

#define NFIELDS(a) (sizeof(a) / sizeof((a)[0]))

static const lp_provider presets[] = {
    {.name = "apollo_bulk_match",
     .kind = LP_ENRICH_PERSON,
     .url = "https://api.apollo.io/api/v1/people/bulk_match",
     .post = true,
     .bulk_size = 10,
     .request_array = "details",
     .request_key = "email",
     .response_array = "matches",
     .response_key = "email",
     .fields = apollo_fields,
     .nfields = NFIELDS(apollo_fields),
     .credits = LP_CREDIT_PER_MATCH},
    {.name = "company_json",
     .kind = LP_ENRICH_COMPANY,
     .url = "http://127.0.0.1:8090/companies/{domain}",
     .post = false,
     .bulk_size = 1,
     .request_array = "",
     .request_key = "",
     .response_array = "",
     .response_key = "",
     .fields = company_fields,
     .nfields = NFIELDS(company_fields),
     .credits = LP_CREDIT_PER_MATCH},
};

const lp_provider *lp_provider_preset(const char *name)
{
    for (size_t i = 0; i < NFIELDS(presets); i++)
        if (!strcmp(presets[i].name, name))
            return &presets[i];
    return NULL;
}

/* Follows a dotted path from j; NULL when any step is missing. */
static json_t *json_path(json_t *j, const char *path)
{
    char part[128];
    while (j && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof(part))
            return NULL;
        memcpy(part, path, n);
        part[n] = '\0';
        j = json_is_object(j) ? json_object_get(j, part) : NULL;
        path += n + (path[n] == '.');
    }
    return j;
}

static bool map_string(json_t *v, lp_arena *a, lp_lead *l, int f)
{
    char num[64];
    const char *s = NULL;
    size_t n = 0;
    if (json_is_array(v))
        v = json_array_get(v, 0);
    if (json_is_string(v)) {
        s = json_string_value(v);
        n = json_string_length(v);
    } else if (json_is_integer(v)) {
        n = (size_t)snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
        s = num;
    }
    if (!s || n == 0)
        return false;
    char *copy = lp_arena_strndup(a, s, n);
    if (!copy)
        return false;
    lp_lead_set_str(l, f, copy, n);
    return true;
}

static bool map_list(json_t *v, lp_arena *a, lp_lead *l, int f)
{
    if (!json_is_array(v) || json_array_size(v) == 0)
        return false;
    size_t n = json_array_size(v), k = 0;
    lp_str *items = lp_arena_alloc(a, n * sizeof(lp_str));
    for (size_t i = 0; items && i < n; i++) {
        json_t *it = json_array_get(v, i);
        if (!json_is_string(it) || !json_string_length(it))
            continue;
        items[k].ptr = lp_arena_strndup(a, json_string_value(it), json_string_length(it));
        items[k++].len = (uint32_t)json_string_length(it);
    }
    if (!k)
        return false;
    l->v[f].list = items;
    l->v[f].len = (uint32_t)k;
    l->present |= 1ull << f;
    return true;
}

static bool map_number(json_t *v, lp_lead *l, int f)
{
    double d;
    if (json_is_number(v)) {
        d = json_number_value(v);
    } else if (json_is_string(v)) {
        char *end;
        d = strtod(json_string_value(v), &end);
        if (end == json_string_value(v) || *end)
            return false;
    } else {
        return false;
    }
    if (lp_fields[f].type == LP_T_DOUBLE)
        lp_lead_set_double(l, f, d);
    else
        lp_lead_set_long(l, f, (int64_t)d);
    return true;
}

int lp_provider_map(const lp_provider *pv, const void *match, lp_arena *a, lp_lead *l)
{
    int n = 0;
    for (size_t i = 0; i < pv->nfields; i++) {
        json_t *v = json_path((json_t *)match, pv->fields[i].path);
        int f = pv->fields[i].field;
        if (!v || json_is_null(v))
            continue;
        lp_type t = lp_fields[f].type;
        bool ok = t == LP_T_STR    ? map_string(v, a, l, f)
                  : t == LP_T_LIST ? map_list(v, a, l, f)
                                   : map_number(v, l, f);
        n += ok;
    }
    return n;
}

/* Appends the URL template with {email}, {domain} and {key} replaced by key, escaped. */
lp_err_t lp_provider_url(const lp_provider *pv, const char *key, lp_buf *out)
{
    char *esc = curl_easy_escape(NULL, key ? key : "", 0);
    if (!esc)
        return LP_E_NOMEM;
    const char *u = pv->url;
    int rc = 0;
    while (*u && !rc) {
        const char *open = strchr(u, '{');
        const char *close = open ? strchr(open, '}') : NULL;
        if (!close) {
            rc = lp_buf_puts(out, u);
            break;
        }
        rc = lp_buf_append(out, u, (size_t)(open - u));
        size_t n = (size_t)(close - open - 1);
        bool var = (n == 5 && !memcmp(open + 1, "email", 5)) ||
                   (n == 6 && !memcmp(open + 1, "domain", 6)) ||
                   (n == 3 && !memcmp(open + 1, "key", 3));
        if (!rc)
            rc = var ? lp_buf_puts(out, esc) : lp_buf_append(out, open, n + 2);
        u = close + 1;
    }
    curl_free(esc);
    return rc || lp_buf_putc(out, '\0') ? LP_E_NOMEM : LP_OK;
}

char *lp_provider_body(const lp_provider *pv, const char *const *keys, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:s}", pv->request_key, keys[i]));
    json_t *root = json_object();
    json_object_set_new(root, pv->request_array, arr);
    char *body = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return body;
}

/* The key a match carries at response_key, or NULL. */
static const char *match_key(const lp_provider *pv, json_t *m)
{
    if (!pv->response_key || !*pv->response_key)
        return NULL;
    json_t *k = json_path(m, pv->response_key);
    return json_is_string(k) ? json_string_value(k) : NULL;
}

/* Pairs the matches of a bulk answer with keys: by key when present, else by position. */
static void pair_matches(const lp_provider *pv, json_t *arr, const char *const *keys, size_t n,
                         json_t **out)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        json_t *m = json_array_get(arr, i);
        if (!json_is_object(m))
            continue;
        const char *k = match_key(pv, m);
        size_t at = i;
        if (k) {
            for (at = 0; at < n && strcasecmp(keys[at], k); at++)
                ;
        }
        if (at < n && !out[at])
            out[at] = m;
    }
}

lp_err_t lp_provider_parse(const lp_provider *pv, const char *body, size_t len,
                           const char *const *keys, size_t n, json_t **root, json_t **matches)
{
    memset(matches, 0, n * sizeof(*matches));
    *root = json_loadb(body, len, 0, NULL);
    if (!*root)
        return LP_E_JSON_INVALID;
    if (!pv->response_array || !*pv->response_array) {
        if (!json_is_object(*root))
            return LP_E_JSON_INVALID;
        matches[0] = *root;
        return LP_OK;
    }
    json_t *arr = json_path(*root, pv->response_array);
    if (!json_is_array(arr))
        return LP_E_JSON_INVALID;
    pair_matches(pv, arr, keys, n, matches);
    return LP_OK;
}
