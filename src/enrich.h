/*
 * enrich.h - enrichment: providers, their service, and the cached value
 * encoding.
 *
 * A provider is an HTTP API that knows about people (by email) or companies
 * (by domain). It is declared in the pipeline's `enrich:` section: a URL
 * template, an auth header, how keys go into a request (one per GET, or
 * bulk in a JSON array) and how a response maps back to lead fields (dotted
 * JSON paths). Two presets ship built in: `apollo_bulk_match` and
 * `company_json`.
 *
 * The service (enrich.c) owns one I/O thread, started on the first submit,
 * that drives every provider through one libcurl multi handle. Parked
 * records come in through lp_enrich_svc_submit(); their misses are
 * single-flighted by key, batched to each provider's bulk size or a short
 * linger, sent under rate limits, a concurrency cap, retries and a circuit
 * breaker, and tried down the waterfall of providers of the right kind.
 * Every answer, and every confident miss, is written to the cache. The
 * record goes back through its park queue by its deadline at the latest.
 */
#ifndef LP_ENRICH_H
#define LP_ENRICH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "buf.h"
#include "cache.h"
#include "err.h"
#include "park.h"
#include "record.h"

typedef enum lp_enrich_kind {
    LP_ENRICH_PERSON = 0,  /* keyed by normalised email; table "person" */
    LP_ENRICH_COMPANY = 1, /* keyed by company domain; table "company" */
} lp_enrich_kind;

/* Fields each kind of cache entry keeps (the TTL field groups). */
#define LP_ENRICH_PERSON_FIELDS                                                                   \
    ((1ull << LP_F_FIRST_NAME) | (1ull << LP_F_LAST_NAME) | (1ull << LP_F_TITLE) |                \
     (1ull << LP_F_SENIORITY) | (1ull << LP_F_DEPARTMENT) | (1ull << LP_F_PHONE) |                \
     (1ull << LP_F_LINKEDIN_URL) | (1ull << LP_F_DOMAIN))
#define LP_ENRICH_COMPANY_FIELDS                                                                  \
    ((1ull << LP_F_COMPANY) | (1ull << LP_F_DOMAIN) | (1ull << LP_F_WEBSITE) |                    \
     (1ull << LP_F_INDUSTRY) | (1ull << LP_F_EMPLOYEES) | (1ull << LP_F_REVENUE) |                \
     (1ull << LP_F_COUNTRY) | (1ull << LP_F_REGION) | (1ull << LP_F_CITY) |                       \
     (1ull << LP_F_TECHNOLOGIES))

typedef enum lp_enrich_credit {
    LP_CREDIT_PER_MATCH = 0,   /* one credit per record the provider matched */
    LP_CREDIT_PER_REQUEST = 1, /* one credit per HTTP request */
} lp_enrich_credit;

/* One response mapping: a dotted JSON path inside a match -> a lead field. */
typedef struct lp_provider_field {
    const char *path;
    int field; /* lp_field_id */
} lp_provider_field;

/* A compiled provider declaration; owned by the pipeline. */
typedef struct lp_provider {
    const char *name;
    lp_enrich_kind kind;
    const char *url;         /* template: {email}, {domain} or {key} are URL-escaped keys */
    bool post;               /* POST a JSON body (bulk), else GET one key per request */
    const char *auth_header; /* "Name: value" or NULL */
    int64_t bulk_size;
    const char *request_array;  /* POST: {"<array>":[{"<key>":K},...]} */
    const char *request_key;
    const char *response_array; /* where matches are ("": the body is the match) */
    const char *response_key;   /* path of the key inside a match ("": positional) */
    const lp_provider_field *fields;
    size_t nfields;
    int64_t per_minute, per_hour, per_day; /* 0: unlimited */
    int64_t concurrency;
    int64_t timeout_ms;
    int64_t retries;
    int64_t backoff_ms;
    int64_t breaker_failures;
    int64_t breaker_cooldown_ms;
    int credits; /* lp_enrich_credit */
} lp_provider;

/* The `enrich:` section, compiled. */
typedef struct lp_enrich_conf {
    const char *cache_path;
    int64_t ttl_person_ms, ttl_company_ms, ttl_negative_ms;
    int64_t deadline_ms;
    int64_t linger_ms;
    const lp_provider *providers; /* waterfall order */
    size_t nproviders;
    const char *const *names; /* provider names by index, for provenance */
} lp_enrich_conf;

/* What the service hands back in p->rec.park_result (in the parked arena). */
typedef struct lp_enrich_answer {
    lp_lead found;              /* fields the providers (or the cache) know */
    uint8_t src[LP_F_COUNT];    /* LP_SRC_CACHE or LP_SRC_PROVIDER + index, per found field */
} lp_enrich_answer;

/* Per-provider counters, for summaries and tests. */
typedef struct lp_provider_stats {
    uint64_t requests;     /* HTTP requests sent, retries included */
    uint64_t keys;         /* keys asked for */
    uint64_t matches;      /* keys answered with data */
    uint64_t misses;       /* keys the provider confidently did not know */
    uint64_t failures;     /* failed requests (after which a retry may follow) */
    uint64_t throttled;    /* 429/503 answers */
    uint64_t credits;      /* credits used */
    uint64_t breaker_opens;
    int64_t max_per_minute; /* the most requests started in any sliding minute */
} lp_provider_stats;

/* The providers' names for presets; NULL when unknown. */
const lp_provider *lp_provider_preset(const char *name);

/*
 * Encodes the fields of l selected by mask into out (appending).
 * @locality any thread
 */
lp_err_t lp_enrich_encode(const lp_lead *l, uint64_t mask, lp_buf *out);

/*
 * Decodes an encoded value into out; strings and lists are copied into a,
 * so out outlives in. Returns LP_E_CACHE when the bytes are malformed or of an
 * unknown version.
 */
lp_err_t lp_enrich_decode(lp_str in, lp_arena *a, lp_lead *out);

/*
 * lp_enrich_decode() then a copy of the fields r lacks, in one step and
 * without the intermediate lead: of the fields selected by mask that r's lead lacks,
 * those the value holds are copied into a and set on r with src as their
 * provenance; the others are only stepped over. A malformed value fills
 * nothing and returns -1; else returns how many were filled.
 * @locality any thread
 */
int lp_enrich_merge(lp_str in, lp_arena *a, lp_record *r, uint64_t mask, uint8_t src);

/*
 * Maps one JSON match (a jansson json_t *) onto l with the provider's field
 * mapping, copying strings into a. Returns the number of fields set.
 */
int lp_provider_map(const lp_provider *pv, const void *match, lp_arena *a, lp_lead *l);

typedef struct lp_enrich_svc lp_enrich_svc;

/* Creates a service (no thread yet). cache may be NULL (nothing written). */
lp_err_t lp_enrich_svc_new(const lp_enrich_conf *conf, lp_cache *cache, lp_enrich_svc **out);

/*
 * Hands a parked record to the service: email (person) and domain
 * (company) are its keys, either may be empty. Starts the I/O thread on the
 * first call. The record comes back through q once answered, or at
 * p->deadline_ms with park_status LP_E_HTTP (degraded).
 * @locality any thread
 */
void lp_enrich_svc_submit(lp_enrich_svc *s, lp_parked *p, lp_park_queue *q, lp_str email,
                          lp_str domain);

/* Copies provider i's counters. @locality any thread */
void lp_enrich_svc_stats(lp_enrich_svc *s, size_t i, lp_provider_stats *out);

/* Stops the thread, answering every waiting record (degraded), and frees s. */
void lp_enrich_svc_free(lp_enrich_svc *s);

#endif
