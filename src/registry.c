/*
 * registry.c - Schema Registry client; see registry.h for the contract.
 *
 * Owns: the base URL (and a copy without credentials for messages), the
 * id -> schema cache and a request counter. Each request uses its own curl
 * easy handle, so threads share nothing but the cache.
 *
 * Invariant: a cached schema is never modified or freed before
 * lp_registry_free(), which is what lets lp_registry_get_schema() hand out
 * borrowed pointers after dropping the mutex.
 */
#include "registry.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"

#define REG_BODY_MAX (4u << 20) /* a schema larger than this is not a lead schema */
#define REG_SNIPPET 160         /* bytes of a response body quoted in messages */

typedef struct reg_entry {
    int32_t id;
    char *json;
} reg_entry;

struct lp_registry {
    char *url;     /* base, no trailing slash */
    char *display; /* base without user:password@, for messages */
    lp_registry_opts o;
    pthread_mutex_t lock; /* guards entries, n, cap */
    reg_entry *entries;
    size_t n, cap;
    atomic_uint_fast64_t requests;
};

/* One HTTP exchange. */
typedef struct reg_resp {
    long status;
    lp_buf body;
    bool truncated;
} reg_resp;

static pthread_once_t reg_curl_once = PTHREAD_ONCE_INIT;

static void reg_curl_init(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Copies url without a "user:password@" part. */
static char *reg_strip_credentials(const char *url)
{
    const char *host = strstr(url, "://");
    host = host ? host + 3 : url;
    const char *at = strchr(host, '@');
    const char *slash = strchr(host, '/');
    size_t cut = (at && (!slash || at < slash)) ? (size_t)(at + 1 - host) : 0;
    size_t pre = (size_t)(host - url), rest = strlen(host + cut);
    char *s = malloc(pre + rest + 1);
    if (s) {
        memcpy(s, url, pre);
        memcpy(s + pre, host + cut, rest + 1);
    }
    return s;
}

static void reg_defaults(lp_registry_opts *o)
{
    if (o->connect_timeout_ms <= 0)
        o->connect_timeout_ms = 2000;
    if (o->timeout_ms <= 0)
        o->timeout_ms = 5000;
    if (o->attempts <= 0)
        o->attempts = 4;
    if (o->backoff_ms <= 0)
        o->backoff_ms = 100;
}

lp_err_t lp_registry_new(const char *url, const lp_registry_opts *o, lp_registry **out, char *err,
                         size_t errlen)
{
    if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))) {
        snprintf(err, errlen, "schema registry url '%s' is not http:// or https://",
                 url ? url : "");
        return LP_E_CONFIG;
    }
    pthread_once(&reg_curl_once, reg_curl_init);
    lp_registry *r = calloc(1, sizeof(*r));
    if (!r || !(r->url = strdup(url)) || !(r->display = reg_strip_credentials(url))) {
        lp_registry_free(r);
        snprintf(err, errlen, "out of memory");
        return LP_E_NOMEM;
    }
    for (size_t n = strlen(r->url); n > 0 && r->url[n - 1] == '/'; n--)
        r->url[n - 1] = '\0';
    for (size_t n = strlen(r->display); n > 0 && r->display[n - 1] == '/'; n--)
        r->display[n - 1] = '\0';
    if (o)
        r->o = *o;
    reg_defaults(&r->o);
    pthread_mutex_init(&r->lock, NULL);
    *out = r;
    return LP_OK;
}

void lp_registry_free(lp_registry *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->entries[i].json);
    free(r->entries);
    if (r->url && r->display)
        pthread_mutex_destroy(&r->lock);
    free(r->url);
    free(r->display);
    free(r);
}

uint64_t lp_registry_requests(const lp_registry *r)
{
    return atomic_load(&((lp_registry *)r)->requests);
}

static size_t reg_on_body(char *p, size_t size, size_t n, void *ud)
{
    reg_resp *resp = ud;
    size_t len = size * n;
    if (resp->body.len + len > REG_BODY_MAX) {
        resp->truncated = true;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    return lp_buf_append(&resp->body, p, len) ? 0 : len;
}

/* Performs one attempt. Returns the curl code; resp->status is 0 when no answer came. */
static CURLcode reg_perform(lp_registry *r, const char *url, const char *post, reg_resp *resp,
                            char *curl_err)
{
    CURL *c = curl_easy_init();
    if (!c)
        return CURLE_OUT_OF_MEMORY;
    struct curl_slist *hdrs =
        curl_slist_append(NULL, "Accept: application/vnd.schemaregistry.v1+json, application/json");
    if (post)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/vnd.schemaregistry.v1+json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, r->o.connect_timeout_ms);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r->o.timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, reg_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "leadpipe/" LP_VERSION);
    if (post)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, post);
    curl_err[0] = '\0';
    lp_buf_reset(&resp->body);
    resp->status = 0;
    atomic_fetch_add(&r->requests, 1);
    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    return cc;
}

static void reg_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* Writes "<what>: HTTP <status>: <body snippet>" into err. */
static void reg_http_error(const reg_resp *resp, const char *what, char *err, size_t errlen)
{
    int n = (int)(resp->body.len < REG_SNIPPET ? resp->body.len : REG_SNIPPET);
    const char *body = resp->body.data ? resp->body.data : "";
    snprintf(err, errlen, "%s: HTTP %ld: %.*s%s", what, resp->status, n, body,
             resp->body.len > REG_SNIPPET ? "..." : "");
}

/*
 * Sends GET (post NULL) or POST to base url + path, retrying connection
 * errors and 5xx with backoff. On LP_OK resp holds an answer with a status
 * below 500 (the caller judges it); otherwise err says why and whether the
 * registry answered at all.
 */
static lp_err_t reg_request(lp_registry *r, const char *path, const char *post, reg_resp *resp,
                            char *err, size_t errlen)
{
    char url[2048], what[2048], curl_err[CURL_ERROR_SIZE];
    snprintf(url, sizeof(url), "%s%s", r->url, path);
    snprintf(what, sizeof(what), "schema registry %s %s%s", post ? "POST" : "GET", r->display,
             path);
    long backoff = r->o.backoff_ms;
    for (int attempt = 1;; attempt++) {
        CURLcode cc = reg_perform(r, url, post, resp, curl_err);
        if (cc == CURLE_OK && resp->status < 500)
            return LP_OK;
        if (attempt >= r->o.attempts || cc == CURLE_OUT_OF_MEMORY || resp->truncated) {
            if (cc == CURLE_OK)
                reg_http_error(resp, what, err, errlen);
            else
                snprintf(err, errlen, "%s: %s (after %d attempts)", what,
                         resp->truncated ? "response too large"
                                         : (curl_err[0] ? curl_err : curl_easy_strerror(cc)),
                         attempt);
            return cc == CURLE_OUT_OF_MEMORY ? LP_E_NOMEM : LP_E_HTTP;
        }
        reg_sleep_ms(backoff);
        backoff *= 2;
    }
}

/* Finds id in the cache; the caller holds the lock. */
static const char *reg_cache_find(const lp_registry *r, int32_t id)
{
    for (size_t i = 0; i < r->n; i++)
        if (r->entries[i].id == id)
            return r->entries[i].json;
    return NULL;
}

/* Adds (id, json) unless another thread did first; returns the cached text. */
static const char *reg_cache_add(lp_registry *r, int32_t id, char *json)
{
    pthread_mutex_lock(&r->lock);
    const char *have = reg_cache_find(r, id);
    if (!have && r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        reg_entry *e = realloc(r->entries, cap * sizeof(*e));
        if (e) {
            r->entries = e;
            r->cap = cap;
        }
    }
    if (!have && r->n < r->cap) {
        r->entries[r->n++] = (reg_entry){id, json};
        have = json;
        json = NULL;
    }
    pthread_mutex_unlock(&r->lock);
    free(json);
    return have;
}

/* Pulls the "schema" string out of a GET /schemas/ids answer. */
static lp_err_t reg_parse_schema(const reg_resp *resp, const char *what, char **out, char *err,
                                 size_t errlen)
{
    json_error_t je;
    json_t *root = json_loadb(resp->body.data ? resp->body.data : "", resp->body.len, 0, &je);
    const char *s = json_string_value(json_object_get(root, "schema"));
    lp_err_t rc = LP_OK;
    if (!s) {
        reg_http_error(resp, what, err, errlen);
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, " (no \"schema\" string in the answer)");
        rc = LP_E_HTTP;
    } else if (!(*out = strdup(s))) {
        rc = LP_E_NOMEM;
    }
    json_decref(root);
    return rc;
}

lp_err_t lp_registry_get_schema(lp_registry *r, int32_t id, const char **schema_json, char *err,
                                size_t errlen)
{
    pthread_mutex_lock(&r->lock);
    const char *have = reg_cache_find(r, id);
    pthread_mutex_unlock(&r->lock);
    if (have) {
        *schema_json = have;
        return LP_OK;
    }
    char path[64], what[2048];
    snprintf(path, sizeof(path), "/schemas/ids/%" PRId32, id);
    snprintf(what, sizeof(what), "schema registry GET %s%s", r->display, path);
    reg_resp resp = {0};
    lp_buf_init(&resp.body);
    char *json = NULL;
    lp_err_t rc = reg_request(r, path, NULL, &resp, err, errlen);
    if (rc != LP_OK)
        goto out;
    if (resp.status == 404) {
        snprintf(err, errlen, "schema id %" PRId32 " unknown to registry %s", id, r->display);
        rc = LP_E_SCHEMA_UNKNOWN;
    } else if (resp.status != 200) {
        reg_http_error(&resp, what, err, errlen);
        rc = LP_E_HTTP;
    } else if ((rc = reg_parse_schema(&resp, what, &json, err, errlen)) == LP_OK) {
        if (!(*schema_json = reg_cache_add(r, id, json)))
            rc = LP_E_NOMEM;
    }
out:
    lp_buf_free(&resp.body);
    return rc;
}

/* Builds the JSON body {"schema": "<schema_json>"}; NULL when out of memory. */
static char *reg_register_body(const char *schema_json)
{
    json_t *o = json_pack("{s:s}", "schema", schema_json);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

lp_err_t lp_registry_register_schema(lp_registry *r, const char *subject, const char *schema_json,
                                     int32_t *id, char *err, size_t errlen)
{
    char *body = reg_register_body(schema_json);
    char *esc = curl_easy_escape(NULL, subject, 0);
    reg_resp resp = {0};
    lp_buf_init(&resp.body);
    lp_err_t rc = LP_E_NOMEM;
    if (!body || !esc)
        goto out;
    char path[1024], what[2048];
    snprintf(path, sizeof(path), "/subjects/%s/versions", esc);
    snprintf(what, sizeof(what), "schema registry POST %s%s", r->display, path);
    if ((rc = reg_request(r, path, body, &resp, err, errlen)) != LP_OK)
        goto out;
    json_t *root = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
    json_t *jid = json_object_get(root, "id");
    if (resp.status != 200 || !json_is_integer(jid)) {
        reg_http_error(&resp, what, err, errlen);
        rc = LP_E_HTTP;
    } else {
        *id = (int32_t)json_integer_value(jid);
    }
    json_decref(root);
out:
    free(body);
    curl_free(esc);
    lp_buf_free(&resp.body);
    return rc;
}
