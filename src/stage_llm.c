/*
 * stage_llm.c - a language model's second opinion on gray-zone leads, and
 * the first line of nurture emails, through the batched router (llm.h).
 *
 * Which leads: gray-zone leads (r->gray_zone, not disqualified) when
 * `gray_zone_qualification` is in `uses`, and leads entering nurture when
 * `nurture_first_line` is. Every other lead passes at the cost of two
 * tests. With no `llm:` section the stage does nothing.
 *
 * First pass: each question is looked up in the response cache (LMDB table
 * "llm"), keyed by XXH3-128 of the provider's model, the use's prompt and
 * the lead fields the prompt uses. All answered: the answers are applied
 * (status cached). Otherwise the lead parks; submit() asks the router for
 * what the cache does not know. Second pass: the answers are applied, or
 * the rules' decision stands with r->llm_note saying why.
 *
 * Threads: run() and submit() on any worker; the router's I/O thread calls
 * on_answer(). The compiled state is read-only except the router and the
 * cache handle, which are internally synchronised; the cache is opened on
 * first use, under a mutex.
 *
 * A parked lead's answers live in its own arena, allocated by submit()
 * before the first question is asked, so the I/O thread never allocates in
 * it; a counter that starts at questions + 1 makes sure the lead is pushed
 * back exactly once, after submit() is done with it.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define XXH_STATIC_LINKING_ONLY
#include <jansson.h>
#include <xxhash.h>

#include "cache.h"
#include "llm.h"
#include "stage.h"

#define CACHE_TABLE "llm"
#define CACHE_VERSION 1
#define NOTE_NO_ANSWER "the lead came back without an answer"

typedef struct llm_use_conf {
    bool on;
    const char *prompt;
    uint64_t fields; /* lead fields sent to the model and hashed into the cache key */
} llm_use_conf;

typedef struct llm_shared {
    lp_llm *router;
    pthread_mutex_t lock;
    _Atomic(lp_cache *) cache;
    bool cache_tried; /* guarded by lock */
} llm_shared;

typedef struct llm_state {
    bool enabled;
    llm_use_conf use[LP_LLM_NUSES];
    lp_llm_conf conf;
    lp_llm_provider_conf *providers;
    int64_t deadline_ms, cache_ttl_ms;
    int64_t sql_score, mql_score; /* from the qualify section, for budget priority */
    const char *cache_path;
    llm_shared *sh;
} llm_state;

/* ---- configuration -------------------------------------------------------- */

static const char *const strategy_names[] = {"cost", "balanced", "latency", "quality", NULL};

typedef struct llm_section {
    int strategy;
    struct fy_node *providers, *batch, *budget, *uses, *gray, *first;
    int64_t deadline, timeout, backoff, cooldown, fail_threshold, max_attempts, cache_ttl;
    char *cache;
} llm_section;

static const lp_conf_prop llm_props[] = {
    {"strategy", LP_CONF_ENUM, offsetof(llm_section, strategy), "balanced",
     "How a batch picks its provider: `cost` (cheapest healthy), `balanced` (weighted split), "
     "`latency` (best recent median), `quality` (first listed). All fall back down the list.",
     strategy_names, false},
    {"providers", LP_CONF_NODE, offsetof(llm_section, providers), NULL,
     "OpenAI-compatible providers (see `llm.providers[]`).", NULL, true},
    {"batch", LP_CONF_NODE, offsetof(llm_section, batch), NULL,
     "`{max_leads: 20, linger_ms: 200}`: leads per request, and the longest wait to fill one.",
     NULL, false},
    {"budget", LP_CONF_NODE, offsetof(llm_section, budget), NULL,
     "`{per_day_usd: N}`: total spend per UTC day (0: none). When short, the gray-zone leads "
     "closest to a threshold go first.",
     NULL, false},
    {"uses", LP_CONF_NODE, offsetof(llm_section, uses), "[gray_zone_qualification, nurture_first_line]",
     "What the model is asked: `gray_zone_qualification`, `nurture_first_line`.", NULL, false},
    {"gray_zone", LP_CONF_NODE, offsetof(llm_section, gray), NULL,
     "The gray-zone prompt and fields (see `llm.gray_zone`).", NULL, false},
    {"first_line", LP_CONF_NODE, offsetof(llm_section, first), NULL,
     "The first-line prompt, fields and length cap (see `llm.first_line`).", NULL, false},
    {"deadline", LP_CONF_DURATION, offsetof(llm_section, deadline), "20s",
     "Longest wait for an answer; after it the rules' decision stands (llm: degraded).", NULL,
     false},
    {"timeout", LP_CONF_DURATION, offsetof(llm_section, timeout), "15s", "Per request.", NULL,
     false},
    {"max_attempts", LP_CONF_INT, offsetof(llm_section, max_attempts), "3",
     "Tries per lead across providers (invalid, partial or failed answers).", NULL, false},
    {"backoff", LP_CONF_DURATION, offsetof(llm_section, backoff), "500ms",
     "First retry delay; doubles with jitter. A Retry-After header wins.", NULL, false},
    {"fail_threshold", LP_CONF_INT, offsetof(llm_section, fail_threshold), "3",
     "Consecutive failures before a provider cools down (a 402 or budget refusal: at once).",
     NULL, false},
    {"cooldown", LP_CONF_DURATION, offsetof(llm_section, cooldown), "60s",
     "How long a failing provider rests.", NULL, false},
    {"cache", LP_CONF_STR, offsetof(llm_section, cache), "data/llm.mdb",
     "LMDB directory of the response cache (table `llm`); a re-run costs nothing.", NULL, false},
    {"cache_ttl", LP_CONF_DURATION, offsetof(llm_section, cache_ttl), "30d",
     "How long a cached answer is used.", NULL, false},
    {NULL},
};

typedef struct provider_section {
    char *name, *url, *model, *api_key_env;
    int64_t weight;
    struct fy_node *price, *limits, *budget;
} provider_section;

static const lp_conf_prop provider_props[] = {
    {"name", LP_CONF_STR, offsetof(provider_section, name), NULL, "Shown in the report.", NULL,
     true},
    {"url", LP_CONF_STR, offsetof(provider_section, url), NULL,
     "The `/v1/chat/completions` endpoint.", NULL, true},
    {"model", LP_CONF_STR, offsetof(provider_section, model), NULL, "Model name sent.", NULL,
     true},
    {"api_key_env", LP_CONF_STR, offsetof(provider_section, api_key_env), NULL,
     "Environment variable holding the API key (sent as a Bearer token, never logged).", NULL,
     false},
    {"weight", LP_CONF_INT, offsetof(provider_section, weight), "1",
     "Share of batches under `balanced`.", NULL, false},
    {"price", LP_CONF_NODE, offsetof(provider_section, price), NULL,
     "`{input_per_mtok: USD, output_per_mtok: USD}` per million tokens.", NULL, false},
    {"limits", LP_CONF_NODE, offsetof(provider_section, limits), NULL,
     "`{rpm: N, tpm: N, concurrency: N}` (0: unlimited); counted over any sliding minute.", NULL,
     false},
    {"budget", LP_CONF_NODE, offsetof(provider_section, budget), NULL,
     "`{per_day_usd: N}`: this provider's daily budget (0: none).", NULL, false},
    {NULL},
};

typedef struct num_section {
    double input_per_mtok, output_per_mtok, per_day_usd;
    int64_t rpm, tpm, concurrency, max_leads, linger_ms;
} num_section;

static const lp_conf_prop price_props[] = {
    {"input_per_mtok", LP_CONF_DOUBLE, offsetof(num_section, input_per_mtok), "0",
     "USD per million prompt tokens.", NULL, false},
    {"output_per_mtok", LP_CONF_DOUBLE, offsetof(num_section, output_per_mtok), "0",
     "USD per million completion tokens.", NULL, false},
    {NULL},
};

static const lp_conf_prop limits_props[] = {
    {"rpm", LP_CONF_INT, offsetof(num_section, rpm), "0", "Requests per minute.", NULL, false},
    {"tpm", LP_CONF_INT, offsetof(num_section, tpm), "0", "Tokens per minute.", NULL, false},
    {"concurrency", LP_CONF_INT, offsetof(num_section, concurrency), "0",
     "Requests in flight.", NULL, false},
    {NULL},
};

static const lp_conf_prop budget_props[] = {
    {"per_day_usd", LP_CONF_DOUBLE, offsetof(num_section, per_day_usd), "0",
     "USD per UTC day (0: no limit).", NULL, false},
    {NULL},
};

static const lp_conf_prop batch_props[] = {
    {"max_leads", LP_CONF_INT, offsetof(num_section, max_leads), "20", "Leads per request (1-256).",
     NULL, false},
    {"linger_ms", LP_CONF_INT, offsetof(num_section, linger_ms), "200",
     "Longest wait, in milliseconds, for a batch to fill.", NULL, false},
    {NULL},
};

typedef struct use_section {
    char *prompt, *prompt_file;
    uint64_t fields;
    int64_t max_chars;
} use_section;

static const char gray_prompt[] =
    "You qualify B2B sales leads that scored near a threshold. For each lead in the JSON array "
    "given, answer whether it is SQL (ready for sales), MQL (marketing-qualified) or nurture. "
    "Answer only with a JSON array holding one object per lead: {\"lead_id\": the lead's id, "
    "\"decision\": \"SQL\" | \"MQL\" | \"nurture\", \"reason\": one short sentence}.";

static const char first_prompt[] =
    "You write the first line of a friendly B2B nurture email. For each lead in the JSON array "
    "given, write one personal opening sentence (no greeting, no placeholders, one line). "
    "Answer only with a JSON array holding one object per lead: {\"lead_id\": the lead's id, "
    "\"first_line\": the sentence}.";

static const lp_conf_prop gray_props[] = {
    {"prompt", LP_CONF_STR, offsetof(use_section, prompt), NULL,
     "System prompt (a built-in one asks for `[{lead_id, decision, reason}]`).", NULL, false},
    {"prompt_file", LP_CONF_STR, offsetof(use_section, prompt_file), NULL,
     "Read the prompt from this file instead (relative to the pipeline file).", NULL, false},
    {"fields", LP_CONF_FIELDS, offsetof(use_section, fields),
     "[title, seniority, department, company_name, industry, employee_count, annual_revenue, "
     "country, page_views, email_clicks, form_fills, score.fit, score.engagement, score.total]",
     "Lead fields sent to the model (with lead_id) and hashed into the cache key.", NULL, false},
    {NULL},
};

static const lp_conf_prop first_props[] = {
    {"prompt", LP_CONF_STR, offsetof(use_section, prompt), NULL,
     "System prompt (a built-in one asks for `[{lead_id, first_line}]`).", NULL, false},
    {"prompt_file", LP_CONF_STR, offsetof(use_section, prompt_file), NULL,
     "Read the prompt from this file instead (relative to the pipeline file).", NULL, false},
    {"fields", LP_CONF_FIELDS, offsetof(use_section, fields),
     "[first_name, title, company_name, industry, country, technologies]",
     "Lead fields sent to the model (with lead_id) and hashed into the cache key.", NULL, false},
    {"max_chars", LP_CONF_INT, offsetof(use_section, max_chars), "160",
     "Longest first line, in characters; a longer one is rejected and asked again.", NULL, false},
    {NULL},
};

/* Reads a prompt file named relative to the pipeline file, into mem. */
static const char *read_prompt_file(lp_stage_ctx *ctx, struct fy_node *at, const char *rel)
{
    char path[4096];
    const char *slash = strrchr(ctx->diag->file, '/');
    int dirlen = (rel[0] == '/' || !slash) ? 0 : (int)(slash - ctx->diag->file + 1);
    snprintf(path, sizeof(path), "%.*s%s", dirlen, ctx->diag->file, rel);
    FILE *f = fopen(path, "r");
    char buf[16384];
    size_t n = f ? fread(buf, 1, sizeof(buf), f) : 0;
    if (f)
        fclose(f);
    if (!f || n == 0 || n == sizeof(buf)) {
        lp_diag_node(ctx->diag, at, "cannot read prompt file %s (empty, missing or over 16 KiB)",
                     path);
        return NULL;
    }
    return lp_arena_strndup(ctx->mem, buf, n);
}

static void compile_use(lp_stage_ctx *ctx, llm_state *st, lp_llm_use u, struct fy_node *n)
{
    use_section us;
    lp_conf_apply(ctx->diag, ctx->mem, n, u == LP_LLM_GRAY_ZONE ? gray_props : first_props, &us);
    st->use[u].fields = us.fields;
    st->use[u].prompt = u == LP_LLM_GRAY_ZONE ? gray_prompt : first_prompt;
    if (us.prompt)
        st->use[u].prompt = us.prompt;
    if (us.prompt_file)
        st->use[u].prompt = read_prompt_file(ctx, lp_conf_get(n, "prompt_file"), us.prompt_file);
    if (!st->use[u].prompt)
        st->use[u].prompt = "";
    st->conf.prompt[u] = st->use[u].prompt;
    if (u == LP_LLM_FIRST_LINE) {
        if (us.max_chars < 10 || us.max_chars > 1000)
            lp_diag_node(ctx->diag, lp_conf_get(n, "max_chars"), "max_chars must be 10..1000");
        st->conf.first_line_max = us.max_chars;
    }
}

static void compile_uses(lp_stage_ctx *ctx, llm_state *st, struct fy_node *n)
{
    if (!fy_node_is_sequence(n)) {
        lp_diag_node(ctx->diag, n, "'uses' is a list of gray_zone_qualification, nurture_first_line");
        return;
    }
    void *it = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(n, &it))) {
        size_t len;
        const char *s = lp_conf_scalar(item, &len);
        if (s && len == 23 && !memcmp(s, "gray_zone_qualification", 23))
            st->use[LP_LLM_GRAY_ZONE].on = true;
        else if (s && len == 18 && !memcmp(s, "nurture_first_line", 18))
            st->use[LP_LLM_FIRST_LINE].on = true;
        else
            lp_diag_node(ctx->diag, item,
                         "unknown use '%.*s' (expected gray_zone_qualification or "
                         "nurture_first_line)",
                         s ? (int)len : 0, s ? s : "");
    }
}

static void compile_provider(lp_stage_ctx *ctx, lp_llm_provider_conf *p, struct fy_node *n)
{
    provider_section ps;
    num_section price, limits, budget;
    lp_conf_apply(ctx->diag, ctx->mem, n, provider_props, &ps);
    lp_conf_apply(ctx->diag, ctx->mem, ps.price, price_props, &price);
    lp_conf_apply(ctx->diag, ctx->mem, ps.limits, limits_props, &limits);
    lp_conf_apply(ctx->diag, ctx->mem, ps.budget, budget_props, &budget);
    *p = (lp_llm_provider_conf){ps.name ? ps.name : "",
                                ps.url ? ps.url : "",
                                ps.model ? ps.model : "",
                                ps.api_key_env,
                                ps.weight,
                                price.input_per_mtok,
                                price.output_per_mtok,
                                limits.rpm,
                                limits.tpm,
                                limits.concurrency,
                                budget.per_day_usd};
    if (ps.weight < 0 || price.input_per_mtok < 0 || price.output_per_mtok < 0 || limits.rpm < 0 ||
        limits.tpm < 0 || limits.concurrency < 0 || budget.per_day_usd < 0)
        lp_diag_node(ctx->diag, n, "provider '%s': weights, prices and limits cannot be negative",
                     p->name);
}

static void compile_providers(lp_stage_ctx *ctx, llm_state *st, struct fy_node *n)
{
    int count = n && fy_node_is_sequence(n) ? fy_node_sequence_item_count(n) : 0;
    if (count < 1 || count > LP_LLM_MAX_PROVIDERS) {
        lp_diag_node(ctx->diag, n, "'providers' is a list of 1 to %d providers",
                     LP_LLM_MAX_PROVIDERS);
        return;
    }
    st->providers = lp_arena_alloc(ctx->mem, (size_t)count * sizeof(*st->providers));
    void *it = NULL;
    struct fy_node *item;
    while ((item = fy_node_sequence_iterate(n, &it)))
        compile_provider(ctx, &st->providers[st->conf.nproviders++], item);
    st->conf.providers = st->providers;
}

/* A qualify threshold: the file's value, or the qualify stage's own default. */
static int64_t qualify_threshold(lp_stage_ctx *ctx, const char *key)
{
    int64_t v = 0;
    struct fy_node *n = lp_conf_get(lp_conf_get(ctx->root, "qualify"), key);
    if (n && lp_conf_int(ctx->diag, n, &v))
        return v;
    for (const lp_conf_prop *p = lp_stage_qualify.props; p->key; p++)
        if (!strcmp(p->key, key) && p->def)
            return strtoll(p->def, NULL, 10);
    return 0;
}

static void compile_limits(lp_stage_ctx *ctx, llm_state *st, const llm_section *ls)
{
    num_section batch, budget;
    lp_conf_apply(ctx->diag, ctx->mem, ls->batch, batch_props, &batch);
    lp_conf_apply(ctx->diag, ctx->mem, ls->budget, budget_props, &budget);
    if (batch.max_leads < 1 || batch.max_leads > 256)
        lp_diag_node(ctx->diag, lp_conf_get(ls->batch, "max_leads"), "max_leads must be 1..256");
    if (ls->max_attempts < 1)
        lp_diag_node(ctx->diag, lp_conf_get(ctx->root, "llm"), "max_attempts must be at least 1");
    st->conf.strategy = (lp_llm_strategy)ls->strategy;
    st->conf.max_leads = batch.max_leads;
    st->conf.linger_ms = batch.linger_ms;
    st->conf.per_day_usd = budget.per_day_usd;
    st->conf.max_attempts = ls->max_attempts;
    st->conf.timeout_ms = ls->timeout;
    st->conf.backoff_ms = ls->backoff;
    st->conf.fail_threshold = ls->fail_threshold > 0 ? ls->fail_threshold : 1;
    st->conf.cooldown_ms = ls->cooldown;
    st->conf.completion_tokens[LP_LLM_GRAY_ZONE] = 40;
    st->conf.completion_tokens[LP_LLM_FIRST_LINE] = 50;
}

static void *llm_compile(lp_stage_ctx *ctx, struct fy_node *section)
{
    llm_state *st = lp_arena_alloc(ctx->mem, sizeof(*st));
    memset(st, 0, sizeof(*st));
    if (!section)
        return st; /* no llm section: the stage does nothing */
    llm_section ls;
    lp_conf_apply(ctx->diag, ctx->mem, section, llm_props, &ls);
    compile_providers(ctx, st, ls.providers);
    compile_limits(ctx, st, &ls);
    compile_uses(ctx, st, ls.uses);
    compile_use(ctx, st, LP_LLM_GRAY_ZONE, ls.gray);
    compile_use(ctx, st, LP_LLM_FIRST_LINE, ls.first);
    st->deadline_ms = ls.deadline;
    st->cache_ttl_ms = ls.cache_ttl;
    st->cache_path = ls.cache;
    st->sql_score = qualify_threshold(ctx, "sql_score");
    st->mql_score = qualify_threshold(ctx, "mql_score");
    if (ctx->diag->errors || !st->conf.nproviders)
        return st;
    st->sh = calloc(1, sizeof(*st->sh));
    if (!st->sh || lp_llm_new(&st->conf, &st->sh->router) != LP_OK) {
        lp_diag_node(ctx->diag, section, "cannot create the LLM router");
        free(st->sh);
        st->sh = NULL;
        return st;
    }
    pthread_mutex_init(&st->sh->lock, NULL);
    st->enabled = true;
    return st;
}

/* ---- the response cache --------------------------------------------------- */

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The cache, opened on first use; NULL when it cannot be opened (said once). */
static lp_cache *state_cache(const llm_state *st)
{
    llm_shared *sh = st->sh;
    lp_cache *c = atomic_load_explicit(&sh->cache, memory_order_acquire);
    if (c || !st->cache_path || !*st->cache_path)
        return c;
    pthread_mutex_lock(&sh->lock);
    if (!sh->cache_tried) {
        sh->cache_tried = true;
        char err[256];
        if (lp_cache_open(st->cache_path, NULL, &c, err, sizeof(err)) == LP_OK)
            atomic_store_explicit(&sh->cache, c, memory_order_release);
        else
            fprintf(stderr, "leadpipe: llm: %s; going on without a response cache\n", err);
    }
    pthread_mutex_unlock(&sh->lock);
    return atomic_load_explicit(&sh->cache, memory_order_acquire);
}

/* Feeds one field's value to the hash: id, then its bytes. */
static void hash_field(XXH3_state_t *h, const lp_lead *l, lp_field_id f)
{
    uint8_t id = (uint8_t)f;
    XXH3_128bits_update(h, &id, 1);
    const lp_val *v = &l->v[f];
    switch (lp_fields[f].type) {
    case LP_T_STR:
        XXH3_128bits_update(h, v->s, v->len);
        XXH3_128bits_update(h, "", 1);
        break;
    case LP_T_LIST:
        for (uint32_t i = 0; i < v->len; i++) {
            XXH3_128bits_update(h, v->list[i].ptr, v->list[i].len);
            XXH3_128bits_update(h, "", 1);
        }
        break;
    case LP_T_DOUBLE:
        XXH3_128bits_update(h, &v->d, sizeof(v->d));
        break;
    default:
        XXH3_128bits_update(h, &v->i, sizeof(v->i));
    }
}

/* The cache key of a use's question about l, for one provider's model. */
static XXH128_canonical_t cache_key(const llm_state *st, lp_llm_use u, const lp_lead *l, int pi)
{
    XXH3_state_t h;
    XXH3_128bits_reset(&h);
    const char *model = st->providers[pi].model;
    XXH3_128bits_update(&h, model, strlen(model) + 1);
    XXH3_128bits_update(&h, st->use[u].prompt, strlen(st->use[u].prompt) + 1);
    uint64_t mask = st->use[u].fields | (1ull << LP_F_LEAD_ID);
    for (int f = 0; f < LP_F_COUNT; f++)
        if (((mask >> f) & 1u) && lp_lead_has(l, (lp_field_id)f))
            hash_field(&h, l, (lp_field_id)f);
    XXH128_canonical_t k;
    XXH128_canonicalFromHash(&k, XXH3_128bits_digest(&h));
    return k;
}

/* One use's answer for a lead, wherever it came from. */
typedef struct llm_verdict {
    lp_err_t status;    /* LP_OK: decision / text hold the answer */
    bool cached;
    lp_qualification decision;
    char *text;         /* first line: a buffer of line_cap bytes in the lead's arena */
    size_t text_len, line_cap;
    const char *note;
} llm_verdict;

/* Looks a question up in the cache under each provider's model; fills v on a hit. */
static bool cache_lookup(const llm_state *st, lp_llm_use u, const lp_lead *l, llm_verdict *v,
                         lp_arena *mem)
{
    lp_cache *c = state_cache(st);
    if (!c)
        return false;
    int64_t now = wall_ms();
    for (size_t pi = 0; pi < st->conf.nproviders; pi++) {
        XXH128_canonical_t k = cache_key(st, u, l, (int)pi);
        lp_str val;
        bool neg = false;
        if (lp_cache_get(c, CACHE_TABLE, (lp_str){(const char *)k.digest, 16}, now, &val, &neg) !=
                LP_OK ||
            neg || val.len < 3 || val.ptr[0] != CACHE_VERSION || val.ptr[1] != (char)u)
            continue;
        v->status = LP_OK;
        v->cached = true;
        v->decision = (lp_qualification)val.ptr[2];
        v->text = lp_arena_strndup(mem, val.ptr + 3, val.len - 3);
        v->text_len = v->text ? val.len - 3 : 0;
        lp_llm_count_cache_hit(st->sh->router, (int)pi);
        return true;
    }
    return false;
}

/* Stores a provider's answer (on the router's thread). */
static void cache_store(const llm_state *st, lp_llm_use u, const XXH128_canonical_t *k,
                        const lp_llm_answer *a)
{
    lp_cache *c = state_cache(st);
    char buf[1100];
    if (!c || a->text_len > sizeof(buf) - 3)
        return;
    buf[0] = CACHE_VERSION;
    buf[1] = (char)u;
    buf[2] = (char)a->decision;
    memcpy(buf + 3, a->text, a->text_len);
    lp_cache_entry e = {{(const char *)k->digest, 16}, {buf, (uint32_t)(a->text_len + 3)},
                        wall_ms(), st->cache_ttl_ms, false};
    lp_cache_put(c, CACHE_TABLE, &e, 1);
}

/* ---- questions and answers ------------------------------------------------ */

/* A parked lead's questions and answers; lives in the lead's own arena. */
typedef struct llm_park llm_park;

typedef struct llm_slot {
    llm_park *pk;
    lp_llm_use use;
} llm_slot;

struct llm_park {
    const llm_state *st;
    lp_parked *p;
    lp_park_queue *q;
    atomic_int open; /* questions unanswered, plus one held by submit() */
    bool need[LP_LLM_NUSES];
    llm_verdict v[LP_LLM_NUSES];
    llm_slot slot[LP_LLM_NUSES];
};

/* Which questions a lead calls for; false when none. */
static bool lead_needs(const llm_state *st, const lp_record *r, bool need[LP_LLM_NUSES])
{
    need[LP_LLM_GRAY_ZONE] = st->use[LP_LLM_GRAY_ZONE].on && r->gray_zone &&
                             (r->disposition == LP_DISP_SALES || r->disposition == LP_DISP_NURTURE);
    need[LP_LLM_FIRST_LINE] = st->use[LP_LLM_FIRST_LINE].on && r->disposition == LP_DISP_NURTURE;
    return need[LP_LLM_GRAY_ZONE] || need[LP_LLM_FIRST_LINE];
}


/* Applies the answers to the record, or leaves the rules' decision with a note. */
static void apply(lp_record *r, const bool need[LP_LLM_NUSES], const llm_verdict *v)
{
    bool used = false, failed = false;
    const char *note = NULL;
    for (int u = 0; u < LP_LLM_NUSES; u++) {
        if (!need[u])
            continue;
        if (v[u].status == LP_OK) {
            used |= !v[u].cached;
        } else {
            failed = true;
            note = note ? note : v[u].note ? v[u].note : NOTE_NO_ANSWER;
        }
    }
    if (need[LP_LLM_GRAY_ZONE] && v[LP_LLM_GRAY_ZONE].status == LP_OK) {
        lp_qualification q = v[LP_LLM_GRAY_ZONE].decision;
        lp_record_set_outcome(r, q, q == LP_QUAL_NURTURE ? LP_DISP_NURTURE : LP_DISP_SALES);
    }
    const llm_verdict *fl = &v[LP_LLM_FIRST_LINE];
    if (need[LP_LLM_FIRST_LINE] && fl->status == LP_OK && fl->text &&
        r->disposition == LP_DISP_NURTURE)
        r->llm_first_line = (lp_str){fl->text, (uint32_t)fl->text_len};
    r->llm_status = failed ? LP_AUX_DEGRADED : used ? LP_AUX_USED : LP_AUX_CACHED;
    r->llm_note = note;
}

static lp_step resume(lp_record *r)
{
    llm_park *pk = r->park_result;
    if (pk) {
        apply(r, pk->need, pk->v);
    } else {
        r->llm_status = LP_AUX_DEGRADED;
        r->llm_note = NOTE_NO_ANSWER;
    }
    r->park_result = NULL;
    r->park_status = LP_OK;
    return LP_STEP_NEXT;
}

static lp_step llm_run(const void *state, lp_worker *w, lp_record *r)
{
    const llm_state *st = state;
    bool need[LP_LLM_NUSES];
    if (!st->enabled)
        return LP_STEP_NEXT;
    if (r->park_result || r->park_status != LP_OK)
        return resume(r);
    if (!lead_needs(st, r, need))
        return LP_STEP_NEXT;
    llm_verdict v[LP_LLM_NUSES] = {{0}};
    bool all = true;
    for (int u = 0; u < LP_LLM_NUSES; u++)
        if (need[u] && !cache_lookup(st, (lp_llm_use)u, &r->lead, &v[u], &w->arena))
            all = false;
    if (all) {
        apply(r, need, v);
        return LP_STEP_NEXT;
    }
    r->park_deadline_ms = wall_ms() + st->deadline_ms;
    return LP_STEP_PARK;
}

/* Hands the lead back once its last question is answered. @locality any thread */
static void release(llm_park *pk)
{
    if (atomic_fetch_sub_explicit(&pk->open, 1, memory_order_acq_rel) != 1)
        return;
    pk->p->rec.park_status = LP_OK;
    lp_park_queue_push(pk->q, pk->p);
}

/* The router's answer to one question. @locality the router's I/O thread */
static void on_answer(void *ctx, const lp_llm_answer *a)
{
    llm_slot *s = ctx;
    llm_park *pk = s->pk;
    llm_verdict *v = &pk->v[s->use];
    v->status = a->status;
    v->note = a->note;
    if (a->status == LP_OK) {
        v->decision = a->decision;
        if (v->text && a->text_len < v->line_cap) {
            memcpy(v->text, a->text, a->text_len);
            v->text[a->text_len] = '\0';
            v->text_len = a->text_len;
        }
        XXH128_canonical_t k = cache_key(pk->st, s->use, &pk->p->rec.lead, a->provider);
        cache_store(pk->st, s->use, &k, a);
    }
    release(pk);
}

static json_t *field_json(const lp_lead *l, lp_field_id f)
{
    const lp_val *v = &l->v[f];
    switch (lp_fields[f].type) {
    case LP_T_STR:
        return json_stringn_nocheck(v->s, v->len);
    case LP_T_DOUBLE:
        return json_real(v->d);
    case LP_T_BOOL:
        return json_boolean(v->i);
    case LP_T_LIST: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < v->len; i++)
            json_array_append_new(a, json_stringn_nocheck(v->list[i].ptr, v->list[i].len));
        return a;
    }
    default:
        return json_integer(v->i);
    }
}

/* The lead as the model sees it: lead_id and the use's fields. malloc'd, or NULL. */
static char *lead_payload(const llm_state *st, lp_llm_use u, const lp_lead *l, lp_str id)
{
    json_t *o = json_object();
    json_object_set_new(o, "lead_id", json_stringn_nocheck(id.ptr, id.len));
    for (int f = 0; f < LP_F_COUNT; f++)
        if (((st->use[u].fields >> f) & 1u) && f != LP_F_LEAD_ID && lp_lead_has(l, (lp_field_id)f))
            json_object_set_new(o, lp_fields[f].name, field_json(l, (lp_field_id)f));
    char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return s;
}

/* Distance to the nearest threshold: the budget goes to the smallest first. */
static double priority_of(const llm_state *st, lp_llm_use u, const lp_lead *l)
{
    if (u != LP_LLM_GRAY_ZONE)
        return 1e9;
    int64_t t = lp_lead_has(l, LP_F_SCORE_TOTAL) ? l->v[LP_F_SCORE_TOTAL].i : 0;
    int64_t a = llabs(t - st->sql_score), b = llabs(t - st->mql_score);
    return (double)(a < b ? a : b);
}

/* Asks the router one question; a failure to ask answers it at once. */
static void ask(llm_park *pk, lp_llm_use u)
{
    const llm_state *st = pk->st;
    const lp_lead *l = &pk->p->rec.lead;
    lp_str id = lp_lead_has(l, LP_F_LEAD_ID) ? lp_lead_str(l, LP_F_LEAD_ID) : LP_STR_LIT("lead");
    char *payload = lead_payload(st, u, l, id);
    lp_llm_question q = {u, id, {payload, payload ? (uint32_t)strlen(payload) : 0},
                         priority_of(st, u, l), pk->p->deadline_ms, on_answer, &pk->slot[u]};
    if (!payload || lp_llm_ask(st->sh->router, &q) != LP_OK) {
        pk->v[u].status = LP_E_NOMEM;
        pk->v[u].note = NOTE_NO_ANSWER;
        release(pk);
    }
    free(payload);
}

static void llm_submit(const void *state, lp_parked *p, lp_park_queue *q)
{
    const llm_state *st = state;
    llm_park *pk = st->enabled ? lp_arena_alloc(&p->arena, sizeof(*pk)) : NULL;
    if (!pk) {
        p->rec.park_status = LP_E_NOMEM;
        lp_park_queue_push(q, p);
        return;
    }
    memset(pk, 0, sizeof(*pk));
    *pk = (llm_park){.st = st, .p = p, .q = q};
    bool to_ask[LP_LLM_NUSES] = {false};
    int open = 1;
    lead_needs(st, &p->rec, pk->need);
    for (int u = 0; u < LP_LLM_NUSES; u++) {
        pk->slot[u] = (llm_slot){pk, (lp_llm_use)u};
        if (!pk->need[u] || cache_lookup(st, (lp_llm_use)u, &p->rec.lead, &pk->v[u], &p->arena))
            continue;
        pk->v[u].status = LP_E_HTTP;
        pk->v[u].line_cap = u == LP_LLM_FIRST_LINE ? (size_t)st->conf.first_line_max * 4 + 1 : 0;
        pk->v[u].text = pk->v[u].line_cap ? lp_arena_alloc(&p->arena, pk->v[u].line_cap) : NULL;
        to_ask[u] = true;
        open++;
    }
    atomic_store(&pk->open, open);
    p->rec.park_result = pk;
    for (int u = 0; u < LP_LLM_NUSES; u++)
        if (to_ask[u])
            ask(pk, (lp_llm_use)u);
    release(pk); /* submit's own hold: after it, the lead may be back with its worker */
}

/* ---- report and lifetime -------------------------------------------------- */

static void llm_report(const void *state, FILE *f)
{
    const llm_state *st = state;
    if (st->enabled)
        lp_llm_report(f, st->sh->router);
}

static void llm_free(void *state)
{
    llm_state *st = state;
    if (!st->sh)
        return;
    lp_llm_free(st->sh->router); /* first: its thread may still write to the cache */
    lp_cache_close(atomic_load(&st->sh->cache));
    pthread_mutex_destroy(&st->sh->lock);
    free(st->sh);
    st->sh = NULL;
}

static const lp_conf_section llm_subs[] = {
    {"llm.providers[]", "An OpenAI-compatible chat completions endpoint.", provider_props},
    {"llm.providers[].price", "Prices used for cost accounting and budgets.", price_props},
    {"llm.providers[].limits", "Per-provider limits over any sliding minute.", limits_props},
    {"llm.providers[].budget", "Per-provider daily budget.", budget_props},
    {"llm.batch", "How leads are grouped into requests.", batch_props},
    {"llm.budget", "The total daily budget.", budget_props},
    {"llm.gray_zone", "The gray-zone qualification question.", gray_props},
    {"llm.first_line", "The nurture first-line question.", first_props},
};

const lp_stage_def lp_stage_llm = {
    .id = LP_STAGE_LLM,
    .section = "llm",
    .doc = "Asks a language model, in batches, for a second opinion on gray-zone leads (SQL, MQL "
           "or nurture) and for the first line of nurture emails (the task's "
           "`personalization.first_line`). Answers are validated strictly and cached in LMDB. "
           "The stream never waits on it: past the deadline, with every provider down or the "
           "budget spent, the rules' decision stands and the outcome says why (`llm_note`). "
           "Without this section the stage does nothing.",
    .props = llm_props,
    .subs = llm_subs,
    .nsubs = sizeof(llm_subs) / sizeof(llm_subs[0]),
    .compile = llm_compile,
    .run = llm_run,
    .submit = llm_submit,
    .free = llm_free,
    .report = llm_report,
    .optional = true,
};
