/*
 * stage_enrich.c - enrichment: fills the fields a lead lacks from the LMDB
 * cache, and parks the lead on the providers when the cache does not know.
 *
 * First pass: the person (by email) and the company (by company_domain,
 * which validate derived from a non-free email when the input had none)
 * are looked up in the cache. A hit fills only fields the lead does not
 * have (input wins) and marks them as coming from the cache; a live negative
 * entry is a known miss. Anything else, with providers declared, parks the
 * lead until the wall clock reaches now + deadline. Second pass (resume):
 * the service's answer is merged the same way, each field marked with the
 * provider that gave it, or the lead goes on degraded.
 *
 * With no `enrich:` section the stage does nothing: one branch per lead.
 *
 * The hit path is what a warm cache costs per lead, so it stays short: the
 * tables are addressed by index, the cache hands each value over in place
 * (inside its read snapshot, no copy), and lp_enrich_merge() copies only the
 * fields the lead lacks, straight into the record.
 *
 * Threads: run() from any worker; the cache and the service are created on
 * first use (so `leadpipe check` opens and starts nothing), under st->lock.
 * Hit and miss counters are per thread (a line each, written by that thread
 * alone, so workers never share a counter's cache line), summed when the
 * run is reported, and added to the cache's meta table when the pipeline is
 * freed, with the credits each provider used.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "enrich.h"
#include "stage.h"

/* One thread's hit and miss counts: written by that thread, read by the report. */
typedef struct enrich_counts {
    _Alignas(64) _Atomic uint64_t hits, misses;
    struct enrich_counts *next; /* st->counts */
} enrich_counts;

typedef struct enrich_state {
    bool enabled;
    lp_enrich_conf conf;
    pthread_mutex_t lock;
    _Atomic(lp_cache *) cache;
    _Atomic(lp_enrich_svc *) svc;
    bool cache_tried;      /* guarded by lock */
    bool have_key;
    pthread_key_t key;     /* the thread's enrich_counts (when have_key) */
    enrich_counts *counts; /* every thread's, guarded by lock */
    enrich_counts spill;   /* shared, atomically: a thread whose own could not be allocated */
} enrich_state;

typedef struct enrich_section {
    char *cache;
    int64_t ttl_person, ttl_company, negative_ttl, deadline, linger;
    struct fy_node *providers;
} enrich_section;

static const lp_conf_prop enrich_props[] = {
    {"cache", LP_CONF_STR, offsetof(enrich_section, cache), "data/enrich.mdb",
     "Directory of the LMDB cache (created when missing; shared with `leadpipe cache`).", NULL,
     false},
    {"ttl_person", LP_CONF_DURATION, offsetof(enrich_section, ttl_person), "30d",
     "Lifetime of a person entry (keyed by normalised email).", NULL, false},
    {"ttl_company", LP_CONF_DURATION, offsetof(enrich_section, ttl_company), "30d",
     "Lifetime of a company entry (keyed by domain).", NULL, false},
    {"negative_ttl", LP_CONF_DURATION, offsetof(enrich_section, negative_ttl), "1d",
     "Lifetime of a negative entry: every provider said it did not know the key.", NULL, false},
    {"deadline", LP_CONF_DURATION, offsetof(enrich_section, deadline), "2s",
     "Longest a lead waits for providers; then it goes on with enrichment `degraded`.", NULL,
     false},
    {"linger", LP_CONF_DURATION, offsetof(enrich_section, linger), "50ms",
     "How long a miss waits for others to fill a bulk request before it is sent anyway.", NULL,
     false},
    {"providers", LP_CONF_NODE, offsetof(enrich_section, providers), NULL,
     "The waterfall: providers tried in order until one has a confident answer (see below). "
     "With none, only the cache is used.",
     NULL, false},
    {NULL},
};

typedef struct provider_section {
    char *name, *preset, *url, *auth_header;
    char *request_array, *request_key, *response_array, *response_key;
    int kind, method, credits;
    int64_t bulk_size, per_minute, per_hour, per_day, concurrency, timeout, retries, backoff;
    int64_t breaker_failures, breaker_cooldown;
    struct fy_node *fields;
} provider_section;

static const char *const kind_names[] = {"preset", "person", "company", NULL};
static const char *const method_names[] = {"preset", "get", "post", NULL};
static const char *const credit_names[] = {"preset", "per_match", "per_request", NULL};

#define P(key, type, member, def, doc, choices)                                                    \
    {key, type, offsetof(provider_section, member), def, doc, choices, false}

static const lp_conf_prop provider_props[] = {
    {"name", LP_CONF_STR, offsetof(provider_section, name), NULL,
     "Provider name, shown in provenance (`provider:NAME`) and credit counts.", NULL, true},
    P("preset", LP_CONF_STR, preset, NULL,
      "Built-in declaration to start from: `apollo_bulk_match` (people by email, POST 10 per "
      "call) or `company_json` (GET {url}/companies/{domain}). Keys below override it.", NULL),
    P("kind", LP_CONF_ENUM, kind, "preset", "What it looks up: `person` (by email) or "
      "`company` (by domain).", kind_names),
    P("url", LP_CONF_STR, url, NULL, "URL template; `{email}`, `{domain}` or `{key}` is "
      "replaced by the escaped key (GET). `${ENV}` works here.", NULL),
    P("method", LP_CONF_ENUM, method, "preset", "`get` (one key per request) or `post` (a JSON "
      "bulk body).", method_names),
    P("auth_header", LP_CONF_STR, auth_header, NULL, "A request header such as "
      "`\"X-Api-Key: ${APOLLO_API_KEY}\"`; the secret comes from the environment.", NULL),
    P("bulk_size", LP_CONF_INT, bulk_size, "0", "Keys per request (POST); 0: the preset's, "
      "else 1.", NULL),
    P("request_array", LP_CONF_STR, request_array, NULL, "POST body: `{\"<array>\": "
      "[{\"<request_key>\": KEY}, ...]}`.", NULL),
    P("request_key", LP_CONF_STR, request_key, NULL, "See `request_array`.", NULL),
    P("response_array", LP_CONF_STR, response_array, NULL, "Dotted path of the array of "
      "matches in the answer; empty: the whole body is the one match.", NULL),
    P("response_key", LP_CONF_STR, response_key, NULL, "Path of the key inside a match, to "
      "pair matches with keys; empty: by position (a null match is a miss).", NULL),
    P("fields", LP_CONF_NODE, fields, NULL, "Response mapping `\"json.path\": lead_field`; "
      "replaces the preset's.", NULL),
    P("per_minute", LP_CONF_INT, per_minute, "0", "Most requests in any sliding minute "
      "(0: no limit).", NULL),
    P("per_hour", LP_CONF_INT, per_hour, "0", "Most requests in any sliding hour.", NULL),
    P("per_day", LP_CONF_INT, per_day, "0", "Most requests in any sliding day.", NULL),
    P("concurrency", LP_CONF_INT, concurrency, "4", "Most requests in flight at once.", NULL),
    P("timeout", LP_CONF_DURATION, timeout, "10s", "Timeout of one request.", NULL),
    P("retries", LP_CONF_INT, retries, "2", "Retries of a failed request, with exponential "
      "backoff and jitter (Retry-After wins on 429 and 503).", NULL),
    P("backoff", LP_CONF_DURATION, backoff, "200ms", "Base delay of the first retry; doubles "
      "each time.", NULL),
    P("breaker_failures", LP_CONF_INT, breaker_failures, "5", "Consecutive failures that open "
      "the circuit breaker (the waterfall then skips this provider).", NULL),
    P("breaker_cooldown", LP_CONF_DURATION, breaker_cooldown, "30s", "How long the breaker "
      "stays open before one trial request is let through.", NULL),
    P("credits", LP_CONF_ENUM, credits, "preset", "How credits are counted: `per_match` or "
      "`per_request`.", credit_names),
    {NULL},
};

static const lp_conf_section enrich_subs[] = {
    {"enrich.providers[]", "One enrichment provider. Limits, retries and the breaker apply "
     "per provider. X-RateLimit-Remaining: 0 and Retry-After also pause it.", provider_props},
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *pick(const char *mine, const char *preset, const char *def)
{
    return mine ? mine : preset ? preset : def;
}

/* Reads a `fields:` mapping of JSON paths to lead fields. */
static void compile_fields(lp_stage_ctx *ctx, lp_provider *pv, struct fy_node *n)
{
    if (!fy_node_is_mapping(n)) {
        lp_diag_node(ctx->diag, n, "'fields' maps JSON paths to lead fields");
        return;
    }
    size_t count = (size_t)fy_node_mapping_item_count(n), k = 0;
    lp_provider_field *fs = lp_arena_alloc(ctx->mem, (count + 1) * sizeof(*fs));
    void *it = NULL;
    struct fy_node_pair *pair;
    while ((pair = fy_node_mapping_iterate(n, &it))) {
        char *path = NULL;
        size_t len;
        struct fy_node *v = fy_node_pair_value(pair);
        const char *name = lp_conf_scalar(v, &len);
        int f = name ? lp_field_lookup(name, len) : -1;
        if (!lp_conf_str(ctx->diag, ctx->mem, fy_node_pair_key(pair), &path))
            continue;
        if (f < 0 || !((LP_ENRICH_PERSON_FIELDS | LP_ENRICH_COMPANY_FIELDS) >> f & 1u)) {
            lp_diag_node(ctx->diag, v, "'%.*s' is not a field enrichment can fill",
                         name ? (int)len : 0, name ? name : "");
            continue;
        }
        fs[k++] = (lp_provider_field){path, f};
    }
    pv->fields = fs;
    pv->nfields = k;
}

/* Fills the declaration-shaped members from the section, then the preset. */
static void merge_decl(lp_provider *pv, const provider_section *ps, const lp_provider *pre)
{
    pv->kind = ps->kind ? (lp_enrich_kind)(ps->kind - 1) : pre ? pre->kind : LP_ENRICH_COMPANY;
    pv->post = ps->method ? ps->method == 2 : pre ? pre->post : false;
    pv->url = pick(ps->url, pre ? pre->url : NULL, NULL);
    pv->request_array = pick(ps->request_array, pre ? pre->request_array : NULL, "details");
    pv->request_key = pick(ps->request_key, pre ? pre->request_key : NULL,
                           pv->kind == LP_ENRICH_PERSON ? "email" : "domain");
    pv->response_array = pick(ps->response_array, pre ? pre->response_array : NULL, "");
    pv->response_key = pick(ps->response_key, pre ? pre->response_key : NULL, "");
    pv->bulk_size = ps->bulk_size > 0 ? ps->bulk_size : pre ? pre->bulk_size : 1;
    pv->credits = ps->credits ? ps->credits - 1 : pre ? pre->credits : LP_CREDIT_PER_MATCH;
    if (pre) {
        pv->fields = pre->fields;
        pv->nfields = pre->nfields;
    }
}

static void compile_provider(lp_stage_ctx *ctx, lp_provider *pv, struct fy_node *n)
{
    provider_section ps;
    if (lp_conf_apply(ctx->diag, ctx->mem, n, provider_props, &ps))
        return;
    const lp_provider *pre = ps.preset ? lp_provider_preset(ps.preset) : NULL;
    if (ps.preset && !pre)
        lp_diag_node(ctx->diag, lp_conf_get(n, "preset"),
                     "unknown preset '%s' (expected apollo_bulk_match or company_json)",
                     ps.preset);
    merge_decl(pv, &ps, pre);
    *pv = (lp_provider){
        .name = ps.name, .kind = pv->kind, .url = pv->url, .post = pv->post,
        .auth_header = ps.auth_header, .bulk_size = pv->bulk_size,
        .request_array = pv->request_array, .request_key = pv->request_key,
        .response_array = pv->response_array, .response_key = pv->response_key,
        .fields = pv->fields, .nfields = pv->nfields, .per_minute = ps.per_minute,
        .per_hour = ps.per_hour, .per_day = ps.per_day, .concurrency = ps.concurrency,
        .timeout_ms = ps.timeout, .retries = ps.retries, .backoff_ms = ps.backoff,
        .breaker_failures = ps.breaker_failures, .breaker_cooldown_ms = ps.breaker_cooldown,
        .credits = pv->credits};
    if (ps.fields)
        compile_fields(ctx, pv, ps.fields);
    if (!pv->url)
        lp_diag_node(ctx->diag, n, "provider '%s' needs a 'url' (or a preset)", ps.name);
    if (!pv->nfields)
        lp_diag_node(ctx->diag, n, "provider '%s' maps no fields (give 'fields' or a preset)",
                     ps.name);
    if (pv->bulk_size > 256 || pv->concurrency < 1 || pv->breaker_failures < 1 ||
        pv->retries < 0 || pv->per_minute < 0 || pv->per_hour < 0 || pv->per_day < 0)
        lp_diag_node(ctx->diag, n, "provider '%s': bulk_size is 1..256, concurrency and "
                     "breaker_failures at least 1, limits and retries not negative", ps.name);
}

static void compile_providers(lp_stage_ctx *ctx, enrich_state *st, struct fy_node *n)
{
    if (!n)
        return;
    if (!fy_node_is_sequence(n)) {
        lp_diag_node(ctx->diag, n, "'providers' is a list of provider declarations");
        return;
    }
    size_t count = (size_t)fy_node_sequence_item_count(n);
    lp_provider *pvs = lp_arena_alloc(ctx->mem, (count + 1) * sizeof(*pvs));
    const char **names = lp_arena_alloc(ctx->mem, (count + 1) * sizeof(*names));
    memset(pvs, 0, (count + 1) * sizeof(*pvs));
    void *it = NULL;
    struct fy_node *item;
    size_t k = 0;
    while ((item = fy_node_sequence_iterate(n, &it))) {
        compile_provider(ctx, &pvs[k], item);
        names[k] = pvs[k].name ? pvs[k].name : "?";
        k++;
    }
    st->conf.providers = pvs;
    st->conf.nproviders = k;
    st->conf.names = names;
}

static void *enrich_compile(lp_stage_ctx *ctx, struct fy_node *section)
{
    enrich_state *st = calloc(1, sizeof(*st));
    if (!st)
        return NULL;
    pthread_mutex_init(&st->lock, NULL);
    enrich_section es;
    lp_conf_apply(ctx->diag, ctx->mem, section, enrich_props, &es);
    st->enabled = section != NULL;
    st->have_key = st->enabled && pthread_key_create(&st->key, NULL) == 0;
    st->conf = (lp_enrich_conf){.cache_path = es.cache, .ttl_person_ms = es.ttl_person,
                                .ttl_company_ms = es.ttl_company,
                                .ttl_negative_ms = es.negative_ttl, .deadline_ms = es.deadline,
                                .linger_ms = es.linger};
    compile_providers(ctx, st, es.providers);
    return st;
}

/* The cache, opened on first use; NULL when it cannot be opened (reported once). */
static lp_cache *state_cache(enrich_state *st)
{
    lp_cache *c = atomic_load_explicit(&st->cache, memory_order_acquire);
    if (c)
        return c;
    pthread_mutex_lock(&st->lock);
    if (!st->cache_tried) {
        st->cache_tried = true;
        char err[512];
        if (lp_cache_open(st->conf.cache_path, NULL, &c, err, sizeof(err)) == LP_OK)
            atomic_store_explicit(&st->cache, c, memory_order_release);
        else
            fprintf(stderr, "leadpipe: enrich: %s; going on without a cache\n", err);
    }
    c = atomic_load_explicit(&st->cache, memory_order_acquire);
    pthread_mutex_unlock(&st->lock);
    return c;
}

static lp_enrich_svc *state_svc(enrich_state *st)
{
    lp_enrich_svc *s = atomic_load_explicit(&st->svc, memory_order_acquire);
    if (s)
        return s;
    lp_cache *c = state_cache(st);
    pthread_mutex_lock(&st->lock);
    s = atomic_load_explicit(&st->svc, memory_order_acquire);
    if (!s && lp_enrich_svc_new(&st->conf, c, &s) == LP_OK)
        atomic_store_explicit(&st->svc, s, memory_order_release);
    pthread_mutex_unlock(&st->lock);
    return s;
}

/* The calling thread's counters; NULL when they cannot be allocated. */
static enrich_counts *thread_counts(enrich_state *st)
{
    if (!st->have_key)
        return NULL;
    enrich_counts *k = pthread_getspecific(st->key);
    if (k)
        return k;
    k = aligned_alloc(64, (sizeof(*k) + 63) / 64 * 64);
    if (!k)
        return NULL;
    memset(k, 0, sizeof(*k));
    pthread_mutex_lock(&st->lock);
    k->next = st->counts;
    st->counts = k;
    pthread_mutex_unlock(&st->lock);
    pthread_setspecific(st->key, k);
    return k;
}

/* Adds one lead's hits and misses to the thread's counters. */
static void count(enrich_state *st, int hits, int misses)
{
    enrich_counts *k = thread_counts(st);
    if (!k) {
        atomic_fetch_add_explicit(&st->spill.hits, (uint64_t)hits, memory_order_relaxed);
        atomic_fetch_add_explicit(&st->spill.misses, (uint64_t)misses, memory_order_relaxed);
        return;
    }
    /* this thread is the only writer: a plain add, no locked instruction */
    uint64_t h = atomic_load_explicit(&k->hits, memory_order_relaxed);
    uint64_t m = atomic_load_explicit(&k->misses, memory_order_relaxed);
    atomic_store_explicit(&k->hits, h + (uint64_t)hits, memory_order_relaxed);
    atomic_store_explicit(&k->misses, m + (uint64_t)misses, memory_order_relaxed);
}

/* Every thread's counts, summed. */
static void total_counts(enrich_state *st, uint64_t *hits, uint64_t *misses)
{
    *hits = atomic_load(&st->spill.hits);
    *misses = atomic_load(&st->spill.misses);
    pthread_mutex_lock(&st->lock);
    for (enrich_counts *k = st->counts; k; k = k->next) {
        *hits += atomic_load_explicit(&k->hits, memory_order_relaxed);
        *misses += atomic_load_explicit(&k->misses, memory_order_relaxed);
    }
    pthread_mutex_unlock(&st->lock);
}

typedef struct fill_ctx {
    lp_arena *arena;
    lp_record *r;
} fill_ctx;

/* A live cache entry, read in place: fills what the lead lacks (input wins). */
static void fill_from_cache(void *ud, lp_str value, bool negative)
{
    fill_ctx *fc = ud;
    if (!negative) /* a malformed value fills nothing and still counts as known */
        lp_enrich_merge(value, fc->arena, fc->r,
                        LP_ENRICH_PERSON_FIELDS | LP_ENRICH_COMPANY_FIELDS, LP_SRC_CACHE);
}

/*
 * Looks key up in table (LP_CACHE_PERSON or LP_CACHE_COMPANY) and fills
 * what the lead lacks. Returns 1 for a hit (positive or negative), 0 for a
 * miss.
 */
static int lookup(lp_cache *c, lp_worker *w, lp_record *r, int table, lp_str key, int64_t now)
{
    if (!c || !key.len)
        return 0;
    fill_ctx fc = {lp_worker_arena(w), r};
    return lp_cache_lookup(c, table, key, now, fill_from_cache, &fc) == LP_OK;
}

/* Applies the service's answer on resume. */
static lp_step resume(lp_record *r)
{
    const lp_enrich_answer *ans = r->park_result;
    bool provider = false;
    if (ans) {
        uint64_t add = ans->found.present & ~r->lead.present;
        for (int f = 0; f < LP_F_COUNT; f++)
            if ((add >> f) & 1u) {
                r->lead.v[f] = ans->found.v[f];
                r->field_src[f] = ans->src[f];
                provider |= ans->src[f] >= LP_SRC_PROVIDER;
            }
        r->lead.present |= add;
    }
    if (r->park_status != LP_OK)
        r->enrich_status = LP_AUX_DEGRADED;
    else
        r->enrich_status = provider || r->enrich_status != LP_AUX_CACHED ? LP_AUX_USED
                                                                          : LP_AUX_CACHED;
    r->park_result = NULL;
    r->park_status = LP_OK;
    return LP_STEP_NEXT;
}

static lp_step enrich_run(const void *state, lp_worker *w, lp_record *r)
{
    enrich_state *st = (enrich_state *)state; /* only its lazy handles and counters change */
    if (!st->enabled)
        return LP_STEP_NEXT;
    if (r->park_result || r->park_status != LP_OK)
        return resume(r);
    r->src_names = st->conf.names;
    lp_str email = lp_lead_str(&r->lead, LP_F_EMAIL);
    if (!email.len && !lp_lead_has(&r->lead, LP_F_DOMAIN))
        return LP_STEP_NEXT;
    lp_cache *c = state_cache(st);
    int64_t now = wall_ms();
    int found = 0, asked = 0;
    if (email.len) {
        asked++;
        found += lookup(c, w, r, LP_CACHE_PERSON, email, now);
    }
    lp_str domain = lp_lead_str(&r->lead, LP_F_DOMAIN); /* the person entry may have set it */
    if (domain.len) {
        asked++;
        found += lookup(c, w, r, LP_CACHE_COMPANY, domain, now);
    }
    count(st, found, asked - found);
    r->enrich_status = found ? LP_AUX_CACHED : LP_AUX_SKIPPED;
    if (found == asked || st->conf.nproviders == 0)
        return LP_STEP_NEXT;
    r->park_deadline_ms = now + st->conf.deadline_ms;
    return LP_STEP_PARK;
}

static void enrich_submit(const void *state, lp_parked *p, lp_park_queue *q)
{
    enrich_state *st = (enrich_state *)state;
    lp_enrich_svc *s = state_svc(st);
    if (!s) {
        p->rec.park_status = LP_E_NOMEM;
        lp_park_queue_push(q, p);
        return;
    }
    lp_enrich_svc_submit(s, p, q, lp_lead_str(&p->rec.lead, LP_F_EMAIL),
                         lp_lead_str(&p->rec.lead, LP_F_DOMAIN));
}

/* Adds this run's counters to the cache's meta table, for `cache stats`. */
static void record_counters(enrich_state *st, lp_cache *c, lp_enrich_svc *s)
{
    int64_t now = wall_ms();
    uint64_t hits, misses;
    total_counts(st, &hits, &misses);
    lp_cache_meta_add(c, "enrich.hits", (int64_t)hits, now);
    lp_cache_meta_add(c, "enrich.misses", (int64_t)misses, now);
    for (size_t i = 0; s && i < st->conf.nproviders; i++) {
        lp_provider_stats ps;
        char key[160];
        lp_enrich_svc_stats(s, i, &ps);
        snprintf(key, sizeof(key), "credits.%s", st->conf.names[i]);
        lp_cache_meta_add(c, key, (int64_t)ps.credits, now);
    }
}

/* The run summary: cache hits and misses, and what each provider was asked. */
static void enrich_report(const void *state, FILE *f)
{
    enrich_state *st = (enrich_state *)state; /* the counters are summed under st->lock */
    if (!st->enabled)
        return;
    uint64_t hits, misses;
    total_counts(st, &hits, &misses);
    fprintf(f, "  enrichment     cache hits %llu, misses %llu\n", (unsigned long long)hits,
            (unsigned long long)misses);
    lp_enrich_svc *s = atomic_load(&st->svc);
    for (size_t i = 0; s && i < st->conf.nproviders; i++) {
        lp_provider_stats ps;
        lp_enrich_svc_stats(s, i, &ps);
        fprintf(f, "  provider %-12s %llu requests for %llu keys: %llu matched, %llu unknown, "
                   "%llu failed, %llu throttled; %llu credits\n",
                st->conf.names[i], (unsigned long long)ps.requests,
                (unsigned long long)ps.keys, (unsigned long long)ps.matches,
                (unsigned long long)ps.misses, (unsigned long long)ps.failures,
                (unsigned long long)ps.throttled, (unsigned long long)ps.credits);
    }
}

static void enrich_free(void *state)
{
    enrich_state *st = state;
    lp_enrich_svc *s = atomic_load(&st->svc);
    lp_cache *c = atomic_load(&st->cache);
    uint64_t hits, misses;
    total_counts(st, &hits, &misses);
    /* counters first: they read the service's statistics */
    if (c && (hits || misses))
        record_counters(st, c, s);
    if (s)
        lp_enrich_svc_free(s); /* answers what is still parked before the cache closes */
    lp_cache_close(c);
    if (st->have_key)
        pthread_key_delete(st->key);
    for (enrich_counts *k = st->counts, *next; k; k = next) {
        next = k->next;
        free(k);
    }
    pthread_mutex_destroy(&st->lock);
    free(st);
}

const lp_stage_def lp_stage_enrich = {
    .id = LP_STAGE_ENRICH,
    .section = "enrich",
    .doc = "Enrichment: fills the fields a lead lacks (the input always wins) from an LMDB "
           "cache keyed by email and company domain, and on a miss from a waterfall of HTTP "
           "providers, batched and rate-limited, without blocking the worker. Each outcome "
           "says where every enriched field came from (`provenance`). Without this section "
           "the stage is skipped.",
    .props = enrich_props,
    .subs = enrich_subs,
    .nsubs = sizeof(enrich_subs) / sizeof(enrich_subs[0]),
    .compile = enrich_compile,
    .run = enrich_run,
    .submit = enrich_submit,
    .report = enrich_report,
    .optional = true,
    .free = enrich_free,
};
