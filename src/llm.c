/*
 * llm.c - the batched LLM router; see llm.h for the contract.
 *
 * Threads. Callers (workers) only append questions to a pending list under
 * llm->lock and wake the I/O thread with curl_multi_wakeup(). The I/O thread
 * owns the curl multi handle and every request in flight. It loops:
 * answer questions past their deadline, form batches and send them, poll
 * the sockets, and settle finished requests. Router state (pending list,
 * provider windows, budgets, counters) is guarded by llm->lock, which the
 * I/O thread holds except while polling; done() callbacks run under it.
 *
 * Batching. Questions of one use wait until max_leads are ready or the
 * oldest has lingered linger_ms. A batch takes the ready questions with the
 * smallest priority (distance to a threshold) first, one per lead id.
 *
 * Limits. Requests and tokens are counted over a sliding minute of sends
 * rather than a refilling bucket: a bucket lets a burst of 2x the limit
 * straddle two minutes, a window never exceeds it. A send's tokens are
 * estimated (bytes / 4 plus the expected completion) and replaced by the
 * provider's `usage` when the answer comes.
 *
 * Budget. Each send reserves its estimated cost; the answer charges the
 * real cost from `usage`. When the budget left cannot cover every ready
 * question, the batch is cut to what it can cover, closest leads first,
 * and the rest wait; when it cannot cover one lead, they are answered
 * LP_LLM_NOTE_BUDGET. Budgets reset at 00:00 UTC and are not persisted.
 *
 * Invariant: a question is in exactly one place (pending, or a request in
 * flight) until done() is called for it, exactly once.
 */
#include "llm.h"

#include <curl/curl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"

#define MINUTE_MS 60000LL
#define DAY_MS 86400000LL
#define NLAT 32

typedef struct llm_q {
    lp_llm_use use;
    lp_str lead_id, payload; /* malloc'd, one block with the struct */
    double priority;
    int64_t deadline_ms, queued_ms, not_before_ms;
    int attempts;
    int last_provider;
    const char *fail_note; /* why the last attempt failed */
    bool answered;         /* done() called while in flight */
    lp_llm_done_fn done;
    void *ctx;
    struct llm_q *next;
} llm_q;

typedef struct llm_send {
    int64_t t_ms, tokens;
    uint64_t seq;
} llm_send;

typedef struct llm_provider {
    lp_llm_provider_conf c;
    char *auth; /* Authorization header; never logged */
    int inflight;
    llm_send *win; /* sends of the last minute, oldest first */
    size_t nwin, capwin;
    int consecutive_failures;
    int64_t cooldown_until, paused_until;
    double spent_today, reserved;
    int64_t lat[NLAT];
    size_t nlat;
    int64_t wrr; /* smooth weighted round-robin state */
    lp_llm_provider_stats st;
} llm_provider;

typedef struct llm_req {
    int provider;
    lp_llm_use use;
    llm_q **qs;
    lp_str *ids;
    size_t n;
    char *body;
    struct curl_slist *hdrs;
    CURL *easy;
    lp_buf resp;
    int64_t sent_ms, est_tokens;
    double est_cost;
    uint64_t seq;
    long retry_after_s;
    struct llm_req *next;
} llm_req;

struct lp_llm {
    lp_llm_conf c;
    llm_provider p[LP_LLM_MAX_PROVIDERS];
    size_t np;
    pthread_mutex_t lock;
    pthread_t thread;
    bool started, stop;
    CURLM *multi;
    llm_q *pending;
    llm_req *inflight;
    int64_t day;
    double spent_today, reserved;
    uint64_t seq;
    unsigned rng;
    lp_llm_stats st;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- creation ------------------------------------------------------------- */

/* Builds the Authorization header from the provider's key variable, if set. */
static char *auth_header(const char *env)
{
    const char *key = env && *env ? getenv(env) : NULL;
    if (!key || !*key)
        return NULL;
    size_t n = strlen("Authorization: Bearer ") + strlen(key) + 1;
    char *h = malloc(n);
    if (h)
        snprintf(h, n, "Authorization: Bearer %s", key);
    return h;
}

lp_err_t lp_llm_new(const lp_llm_conf *conf, lp_llm **out)
{
    if (conf->nproviders > LP_LLM_MAX_PROVIDERS)
        return LP_E_CONFIG;
    pthread_once(&curl_once, curl_init_once);
    lp_llm *llm = calloc(1, sizeof(*llm));
    if (!llm)
        return LP_E_NOMEM;
    llm->c = *conf;
    llm->np = conf->nproviders;
    for (size_t i = 0; i < llm->np; i++) {
        llm->p[i].c = conf->providers[i];
        llm->p[i].auth = auth_header(conf->providers[i].api_key_env);
    }
    llm->st.nproviders = llm->np;
    llm->rng = 0x9e3779b9u;
    pthread_mutex_init(&llm->lock, NULL);
    *out = llm;
    return LP_OK;
}

const char *lp_llm_provider_name(const lp_llm *llm, int provider)
{
    return provider >= 0 && (size_t)provider < llm->np ? llm->p[provider].c.name : "none";
}

/* ---- answering ------------------------------------------------------------ */

static void answer_note(lp_llm *llm, llm_q *q, const char *note)
{
    lp_llm_answer a = {q->use, LP_E_HTTP, LP_QUAL_NONE, NULL, 0, note, -1};
    llm->st.degraded++;
    if (!strcmp(note, LP_LLM_NOTE_BUDGET))
        llm->st.budget_skipped++;
    q->done(q->ctx, &a);
    q->answered = true;
}

static void answer_verdict(lp_llm *llm, llm_q *q, const lp_llm_verdict *v, int provider)
{
    lp_llm_answer a = {q->use, LP_OK, v->decision, v->text, v->text_len, NULL, provider};
    llm->st.answered++;
    llm->p[provider].st.leads_answered++;
    q->done(q->ctx, &a);
    q->answered = true;
}

typedef enum fail_mode {
    FAIL_EXPIRED, /* questions of any use past their deadline */
    FAIL_READY,   /* ready questions of one use */
    FAIL_ALL,     /* everything (shutdown) */
} fail_mode;

/* Answers with note, and frees, the pending questions that mode selects. */
static void fail_pending(lp_llm *llm, fail_mode mode, lp_llm_use use, int64_t now,
                         const char *note)
{
    llm_q **pp = &llm->pending;
    while (*pp) {
        llm_q *q = *pp;
        bool hit = mode == FAIL_ALL ||
                   (mode == FAIL_EXPIRED && q->deadline_ms <= now) ||
                   (mode == FAIL_READY && q->use == use && q->not_before_ms <= now);
        if (!hit) {
            pp = &q->next;
            continue;
        }
        *pp = q->next;
        answer_note(llm, q, note);
        free(q);
    }
}

/* Questions in flight past their deadline are answered now; freed when their request ends. */
static void expire_inflight(lp_llm *llm, int64_t now)
{
    for (llm_req *rq = llm->inflight; rq; rq = rq->next)
        for (size_t i = 0; i < rq->n; i++)
            if (!rq->qs[i]->answered && rq->qs[i]->deadline_ms <= now)
                answer_note(llm, rq->qs[i], LP_LLM_NOTE_DEADLINE);
}

/* ---- limits and budget ---------------------------------------------------- */

static void roll_day(lp_llm *llm, int64_t now)
{
    int64_t day = now / DAY_MS;
    if (day == llm->day)
        return;
    llm->day = day;
    llm->spent_today = 0;
    for (size_t i = 0; i < llm->np; i++)
        llm->p[i].spent_today = 0;
}

/* Drops sends older than a minute from p's window. */
static void prune_window(llm_provider *p, int64_t now)
{
    size_t k = 0;
    while (k < p->nwin && p->win[k].t_ms <= now - MINUTE_MS)
        k++;
    if (k) {
        memmove(p->win, p->win + k, (p->nwin - k) * sizeof(*p->win));
        p->nwin -= k;
    }
}

static int64_t window_tokens(const llm_provider *p)
{
    int64_t t = 0;
    for (size_t i = 0; i < p->nwin; i++)
        t += p->win[i].tokens;
    return t;
}

static int window_add(llm_provider *p, int64_t now, int64_t tokens, uint64_t seq)
{
    if (p->nwin == p->capwin) {
        size_t cap = p->capwin ? p->capwin * 2 : 64;
        llm_send *w = realloc(p->win, cap * sizeof(*w));
        if (!w)
            return -1;
        p->win = w;
        p->capwin = cap;
    }
    p->win[p->nwin++] = (llm_send){now, tokens, seq};
    return 0;
}

/* Replaces a send's estimated tokens by the provider's count. */
static void window_correct(llm_provider *p, uint64_t seq, int64_t tokens)
{
    for (size_t i = 0; i < p->nwin; i++)
        if (p->win[i].seq == seq)
            p->win[i].tokens = tokens;
}

static double cost_of(const llm_provider *p, int64_t prompt, int64_t completion)
{
    return ((double)prompt * p->c.input_per_mtok + (double)completion * p->c.output_per_mtok) /
           1e6;
}

static bool budget_left(double budget, double spent, double reserved, double cost)
{
    return budget <= 0 || spent + reserved + cost <= budget + 1e-12;
}

/* How a provider stands for a batch right now. */
typedef enum pstate { P_READY, P_LIMITED, P_OVER_BUDGET, P_DOWN } pstate;

static pstate provider_state(lp_llm *llm, llm_provider *p, int64_t now, int64_t tokens,
                             double cost)
{
    if (p->cooldown_until > now)
        return P_DOWN;
    if (p->c.tpm > 0 && tokens > p->c.tpm)
        return P_DOWN; /* a batch this size can never fit its minute */
    if (!budget_left(p->c.per_day_usd, p->spent_today, 0, cost) ||
        !budget_left(llm->c.per_day_usd, llm->spent_today, 0, cost))
        return P_OVER_BUDGET;
    prune_window(p, now);
    if (!budget_left(p->c.per_day_usd, p->spent_today, p->reserved, cost) ||
        !budget_left(llm->c.per_day_usd, llm->spent_today, llm->reserved, cost))
        return P_LIMITED; /* what is in flight may cost less than reserved: wait for it */
    if (p->paused_until > now || (p->c.concurrency > 0 && p->inflight >= p->c.concurrency) ||
        (p->c.rpm > 0 && (int64_t)p->nwin >= p->c.rpm) ||
        (p->c.tpm > 0 && window_tokens(p) + tokens > p->c.tpm))
        return P_LIMITED;
    return P_READY;
}

/* ---- strategies ----------------------------------------------------------- */

static int64_t p50(const llm_provider *p)
{
    int64_t v[NLAT];
    size_t n = p->nlat < NLAT ? p->nlat : NLAT;
    if (!n)
        return 0; /* untried: try it, so that it gets a measure */
    memcpy(v, p->lat, n * sizeof(*v));
    for (size_t i = 1; i < n; i++) /* insertion sort of at most 32 */
        for (size_t j = i; j > 0 && v[j - 1] > v[j]; j--) {
            int64_t t = v[j];
            v[j] = v[j - 1];
            v[j - 1] = t;
        }
    return v[n / 2];
}

/* Sort key of provider i under the strategy; smaller is preferred. */
static double strategy_key(const lp_llm *llm, size_t i, int64_t prompt, int64_t completion)
{
    const llm_provider *p = &llm->p[i];
    switch (llm->c.strategy) {
    case LP_LLM_COST:
        return cost_of(p, prompt, completion);
    case LP_LLM_LATENCY:
        return (double)p50(p);
    case LP_LLM_BALANCED:
        return -(double)p->c.weight;
    case LP_LLM_QUALITY:
    default:
        return (double)i;
    }
}

/*
 * Smooth weighted round-robin (as in nginx) over the providers not cooling
 * down: the next pick is the one whose credit plus weight is largest. The
 * credits change only when a batch is sent (balanced_commit), so looking
 * does not skew the split.
 */
static int balanced_peek(const lp_llm *llm, int64_t now)
{
    int best = -1;
    for (size_t i = 0; i < llm->np; i++) {
        const llm_provider *p = &llm->p[i];
        if (p->cooldown_until > now || p->c.weight <= 0)
            continue;
        if (best < 0 || p->wrr + p->c.weight > llm->p[best].wrr + llm->p[best].c.weight)
            best = (int)i;
    }
    return best;
}

static void balanced_commit(lp_llm *llm, int chosen, int64_t now)
{
    int64_t total = 0;
    for (size_t i = 0; i < llm->np; i++) {
        llm_provider *p = &llm->p[i];
        if (p->cooldown_until > now || p->c.weight <= 0)
            continue;
        p->wrr += p->c.weight;
        total += p->c.weight;
    }
    llm->p[chosen].wrr -= total;
}

/* Fills order[] with the providers, preferred first. */
static void strategy_order(lp_llm *llm, int64_t now, int64_t prompt, int64_t completion,
                           int *order)
{
    double key[LP_LLM_MAX_PROVIDERS];
    for (size_t i = 0; i < llm->np; i++) {
        order[i] = (int)i;
        key[i] = strategy_key(llm, i, prompt, completion);
    }
    if (llm->c.strategy == LP_LLM_BALANCED) {
        int first = balanced_peek(llm, now);
        if (first >= 0)
            key[first] = -INFINITY;
    }
    for (size_t i = 1; i < llm->np; i++) /* stable insertion sort: ties keep file order */
        for (size_t j = i; j > 0 && key[order[j - 1]] > key[order[j]]; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
}

/*
 * Picks the provider for a batch: the first ready one in strategy order
 * (the fallback cascade). Returns -1 with *why set to the best state seen.
 */
static int pick_provider(lp_llm *llm, int64_t now, int64_t prompt, int64_t completion,
                         pstate *why, bool *fallback)
{
    int order[LP_LLM_MAX_PROVIDERS];
    strategy_order(llm, now, prompt, completion, order);
    *why = P_DOWN;
    for (size_t k = 0; k < llm->np; k++) {
        llm_provider *p = &llm->p[order[k]];
        pstate s = provider_state(llm, p, now, prompt + completion,
                                  cost_of(p, prompt, completion));
        if (s == P_READY) {
            *fallback = k > 0;
            return order[k];
        }
        if (s < *why)
            *why = s;
    }
    return -1;
}

/* ---- batching ------------------------------------------------------------- */

static int by_priority(const void *a, const void *b)
{
    const llm_q *x = *(llm_q *const *)a, *y = *(llm_q *const *)b;
    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    return x->queued_ms < y->queued_ms ? -1 : x->queued_ms > y->queued_ms;
}

/* The ready questions of a use, closest to a threshold first. Caller frees. */
static llm_q **ready_list(lp_llm *llm, lp_llm_use use, int64_t now, size_t *n, int64_t *oldest)
{
    size_t cap = 0;
    for (llm_q *q = llm->pending; q; q = q->next)
        cap += q->use == use && q->not_before_ms <= now;
    *n = 0;
    if (!cap)
        return NULL;
    llm_q **v = malloc(cap * sizeof(*v));
    if (!v)
        return NULL;
    *oldest = now;
    for (llm_q *q = llm->pending; q; q = q->next)
        if (q->use == use && q->not_before_ms <= now) {
            v[(*n)++] = q;
            if (q->queued_ms < *oldest)
                *oldest = q->queued_ms;
        }
    qsort(v, *n, sizeof(*v), by_priority);
    return v;
}

static bool id_taken(llm_q **batch, size_t n, const llm_q *q)
{
    for (size_t i = 0; i < n; i++)
        if (batch[i]->lead_id.len == q->lead_id.len &&
            !memcmp(batch[i]->lead_id.ptr, q->lead_id.ptr, q->lead_id.len))
            return true;
    return false;
}

/* Moves up to max ready questions (distinct lead ids) into batch[]. */
static size_t take_batch(llm_q **ready, size_t nready, size_t max, llm_q **batch)
{
    size_t n = 0;
    for (size_t i = 0; i < nready && n < max; i++)
        if (!id_taken(batch, n, ready[i]))
            batch[n++] = ready[i];
    return n;
}

static void unlink_pending(lp_llm *llm, llm_q *q)
{
    for (llm_q **pp = &llm->pending; *pp; pp = &(*pp)->next)
        if (*pp == q) {
            *pp = q->next;
            q->next = NULL;
            return;
        }
}

static int64_t prompt_tokens_est(const lp_llm *llm, lp_llm_use use, llm_q **qs, size_t n)
{
    size_t bytes = strlen(llm->c.prompt[use]) + 200;
    for (size_t i = 0; i < n; i++)
        bytes += qs[i]->payload.len + 1;
    return (int64_t)(bytes + 3) / 4;
}

/* ---- requests ------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t nmemb, void *ud)
{
    llm_req *rq = ud;
    return lp_buf_append(&rq->resp, data, size * nmemb) ? 0 : size * nmemb;
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    llm_req *rq = ud;
    size_t n = size * nmemb;
    if (n > 12 && !strncasecmp(data, "Retry-After:", 12)) {
        char tmp[32];
        size_t k = n - 12 < sizeof(tmp) - 1 ? n - 12 : sizeof(tmp) - 1;
        memcpy(tmp, data + 12, k);
        tmp[k] = '\0';
        char *end;
        long v = strtol(tmp, &end, 10);
        if (end != tmp && v >= 0 && v < 86400)
            rq->retry_after_s = v;
    }
    return n;
}

static void req_free(llm_req *rq)
{
    if (!rq)
        return;
    if (rq->easy)
        curl_easy_cleanup(rq->easy);
    curl_slist_free_all(rq->hdrs);
    free(rq->body);
    free(rq->qs);
    free(rq->ids);
    lp_buf_free(&rq->resp);
    free(rq);
}

static int64_t latest_deadline(llm_q **qs, size_t n)
{
    int64_t d = 0;
    for (size_t i = 0; i < n; i++)
        if (qs[i]->deadline_ms > d)
            d = qs[i]->deadline_ms;
    return d;
}

/* Sets up the curl handle of a request. */
static lp_err_t req_setup(lp_llm *llm, llm_req *rq, int64_t now)
{
    const llm_provider *p = &llm->p[rq->provider];
    rq->easy = curl_easy_init();
    rq->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    if (rq->hdrs && p->auth)
        rq->hdrs = curl_slist_append(rq->hdrs, p->auth);
    if (!rq->easy || !rq->hdrs)
        return LP_E_NOMEM;
    int64_t budget = latest_deadline(rq->qs, rq->n) - now;
    int64_t timeout = llm->c.timeout_ms;
    if (budget < timeout)
        timeout = budget > 1 ? budget : 1;
    curl_easy_setopt(rq->easy, CURLOPT_URL, p->c.url);
    curl_easy_setopt(rq->easy, CURLOPT_HTTPHEADER, rq->hdrs);
    curl_easy_setopt(rq->easy, CURLOPT_POSTFIELDS, rq->body);
    curl_easy_setopt(rq->easy, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(rq->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(rq->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(rq->easy, CURLOPT_WRITEDATA, rq);
    curl_easy_setopt(rq->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(rq->easy, CURLOPT_HEADERDATA, rq);
    curl_easy_setopt(rq->easy, CURLOPT_PRIVATE, rq);
    return curl_multi_add_handle(llm->multi, rq->easy) == CURLM_OK ? LP_OK : LP_E_HTTP;
}

/* Builds a request for batch qs[0..n) on provider pi. NULL when out of memory. */
static llm_req *req_new(lp_llm *llm, int pi, lp_llm_use use, llm_q **qs, size_t n)
{
    llm_req *rq = calloc(1, sizeof(*rq));
    lp_str *payloads = calloc(n, sizeof(*payloads));
    if (!rq || !payloads)
        goto fail;
    rq->provider = pi;
    rq->use = use;
    rq->n = n;
    rq->qs = malloc(n * sizeof(*rq->qs));
    rq->ids = malloc(n * sizeof(*rq->ids));
    if (!rq->qs || !rq->ids)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        rq->qs[i] = qs[i];
        rq->ids[i] = qs[i]->lead_id;
        payloads[i] = qs[i]->payload;
    }
    lp_buf_init(&rq->resp);
    rq->body = lp_llm_request_body(llm->p[pi].c.model, llm->c.prompt[use], payloads, n);
    free(payloads);
    if (!rq->body)
        goto fail_req;
    return rq;
fail:
    free(payloads);
fail_req:
    req_free(rq);
    return NULL;
}

/* Sends qs[0..n) to provider pi; on failure the questions stay pending. */
static bool send_batch(lp_llm *llm, int pi, lp_llm_use use, llm_q **qs, size_t n, int64_t now,
                       bool fallback)
{
    llm_provider *p = &llm->p[pi];
    llm_req *rq = req_new(llm, pi, use, qs, n);
    if (!rq)
        return false;
    int64_t prompt = prompt_tokens_est(llm, use, qs, n);
    int64_t compl = llm->c.completion_tokens[use] * (int64_t)n;
    rq->seq = ++llm->seq;
    rq->sent_ms = now;
    rq->est_tokens = prompt + compl;
    rq->est_cost = cost_of(p, prompt, compl);
    if (req_setup(llm, rq, now) != LP_OK || window_add(p, now, rq->est_tokens, rq->seq)) {
        if (rq->easy)
            curl_multi_remove_handle(llm->multi, rq->easy);
        req_free(rq);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        unlink_pending(llm, qs[i]);
        if (fallback || (qs[i]->last_provider >= 0 && qs[i]->last_provider != pi))
            p->st.fallbacks++;
        qs[i]->last_provider = pi;
    }
    if (llm->c.strategy == LP_LLM_BALANCED)
        balanced_commit(llm, pi, now);
    p->inflight++;
    p->reserved += rq->est_cost;
    llm->reserved += rq->est_cost;
    p->st.requests++;
    if (n > llm->st.max_batch)
        llm->st.max_batch = n;
    rq->next = llm->inflight;
    llm->inflight = rq;
    return true;
}

/*
 * Picks a provider for the first n questions of batch[] (closest to a
 * threshold first). When only the budget stands in the way, the batch
 * shrinks, dropping the farthest leads, until it fits or is empty.
 */
static int fit_batch(lp_llm *llm, lp_llm_use use, llm_q **batch, size_t *n, int64_t now,
                     pstate *why, bool *fallback)
{
    for (;;) {
        int64_t prompt = prompt_tokens_est(llm, use, batch, *n);
        int64_t compl = llm->c.completion_tokens[use] * (int64_t)*n;
        int pi = pick_provider(llm, now, prompt, compl, why, fallback);
        if (pi >= 0 || *why != P_OVER_BUDGET || *n <= 1)
            return pi;
        (*n)--;
    }
}

/*
 * Sends one batch of a use when one is due. Returns false when the use
 * must wait (providers limited, batch not full yet) or has nothing ready.
 */
static bool dispatch_one(lp_llm *llm, lp_llm_use use, int64_t now)
{
    size_t nready;
    int64_t oldest;
    llm_q **ready = ready_list(llm, use, now, &nready, &oldest);
    if (!ready)
        return false;
    size_t max = (size_t)llm->c.max_leads < 256 ? (size_t)llm->c.max_leads : 256;
    bool sent = false;
    if (nready >= max || now - oldest >= llm->c.linger_ms || llm->stop) {
        llm_q *batch[256];
        size_t full = take_batch(ready, nready, max, batch), n = full;
        pstate why;
        bool fallback = false;
        int pi = fit_batch(llm, use, batch, &n, now, &why, &fallback);
        if (pi >= 0) {
            if (n < full)
                llm->st.budget_short += n;
            sent = send_batch(llm, pi, use, batch, n, now, fallback);
        } else if (why == P_DOWN || why == P_OVER_BUDGET) {
            fail_pending(llm, FAIL_READY, use, now,
                         why == P_DOWN ? LP_LLM_NOTE_DOWN : LP_LLM_NOTE_BUDGET);
        }
    }
    free(ready);
    return sent;
}

static void dispatch(lp_llm *llm, int64_t now)
{
    for (int u = 0; u < LP_LLM_NUSES; u++)
        while (dispatch_one(llm, (lp_llm_use)u, now))
            ;
}

/* ---- settling answers ----------------------------------------------------- */

static int64_t backoff_ms(lp_llm *llm, int attempts, long retry_after_s)
{
    if (retry_after_s > 0)
        return (int64_t)retry_after_s * 1000;
    int64_t base = llm->c.backoff_ms << (attempts > 10 ? 10 : attempts - 1);
    int64_t jitter = base > 0 ? (int64_t)(rand_r(&llm->rng) % (unsigned)(base / 2 + 1)) : 0;
    return base + jitter;
}

/* Puts a question back for another attempt, or answers it when out of attempts. */
static void retry_or_fail(lp_llm *llm, llm_q *q, int64_t not_before, const char *note)
{
    q->attempts++;
    q->fail_note = note;
    if (q->attempts >= llm->c.max_attempts) {
        answer_note(llm, q, note);
        free(q);
        return;
    }
    q->not_before_ms = not_before;
    q->next = llm->pending;
    llm->pending = q;
}

static bool is_budget_refusal(long status, const lp_buf *b)
{
    if (status == 402)
        return true;
    if (status < 400 || !b->data)
        return false;
    return memmem(b->data, b->len, "budget", 6) || memmem(b->data, b->len, "insufficient_quota", 18);
}

/* A request that got no usable answer: pause, cool down or count the provider. */
static void settle_failure(lp_llm *llm, llm_req *rq, long status, int64_t now)
{
    llm_provider *p = &llm->p[rq->provider];
    p->st.failures++;
    if (status == 429) {
        int64_t pause = rq->retry_after_s > 0 ? rq->retry_after_s * 1000 : llm->c.backoff_ms;
        p->paused_until = now + pause;
    } else if (is_budget_refusal(status, &rq->resp)) {
        p->cooldown_until = now + llm->c.cooldown_ms;
    } else if (++p->consecutive_failures >= llm->c.fail_threshold) {
        p->cooldown_until = now + llm->c.cooldown_ms;
        p->consecutive_failures = 0;
    }
    for (size_t i = 0; i < rq->n; i++) {
        llm_q *q = rq->qs[i];
        if (q->answered)
            free(q);
        else
            retry_or_fail(llm, q, now + backoff_ms(llm, q->attempts + 1, rq->retry_after_s),
                          LP_LLM_NOTE_DOWN);
    }
}

/* Charges a request's cost: from `usage` when the provider sent it. */
static void charge(lp_llm *llm, llm_req *rq, const lp_llm_parsed *ps)
{
    llm_provider *p = &llm->p[rq->provider];
    int64_t prompt = ps->prompt_tokens, compl = ps->completion_tokens;
    double cost = rq->est_cost;
    if (prompt >= 0 && compl >= 0) {
        cost = cost_of(p, prompt, compl);
        window_correct(p, rq->seq, prompt + compl);
        p->st.prompt_tokens += (uint64_t)prompt;
        p->st.completion_tokens += (uint64_t)compl;
    }
    p->spent_today += cost;
    p->st.cost_usd += cost;
    llm->spent_today += cost;
    llm->st.cost_usd += cost;
}

/* A 200 answer: apply valid verdicts, retry the rest. */
static void settle_answer(lp_llm *llm, llm_req *rq, int64_t now)
{
    llm_provider *p = &llm->p[rq->provider];
    lp_llm_parsed ps;
    char msg[160];
    lp_err_t err = lp_llm_parse_answer(rq->resp.data ? rq->resp.data : "", rq->resp.len, rq->use,
                                       rq->ids, rq->n, llm->c.first_line_max, &ps, msg,
                                       sizeof(msg));
    charge(llm, rq, &ps);
    llm->st.invalid_elements += ps.invalid;
    if (err == LP_OK)
        p->consecutive_failures = 0;
    else
        p->st.failures++;
    for (size_t i = 0; i < rq->n; i++) {
        llm_q *q = rq->qs[i];
        if (q->answered) {
            free(q);
        } else if (err == LP_OK && ps.v[i].found) {
            answer_verdict(llm, q, &ps.v[i], rq->provider);
            free(q);
        } else {
            retry_or_fail(llm, q, now, LP_LLM_NOTE_INVALID);
        }
    }
    lp_llm_parsed_free(&ps);
}

static void settle(lp_llm *llm, llm_req *rq, CURLcode cc, int64_t now)
{
    llm_provider *p = &llm->p[rq->provider];
    long status = 0;
    curl_easy_getinfo(rq->easy, CURLINFO_RESPONSE_CODE, &status);
    p->inflight--;
    p->reserved -= rq->est_cost;
    llm->reserved -= rq->est_cost;
    p->lat[p->nlat++ % NLAT] = now - rq->sent_ms;
    if (cc == CURLE_OK && status == 200)
        settle_answer(llm, rq, now);
    else
        settle_failure(llm, rq, cc == CURLE_OK ? status : 0, now);
}

static void unlink_req(lp_llm *llm, llm_req *rq)
{
    for (llm_req **pp = &llm->inflight; *pp; pp = &(*pp)->next)
        if (*pp == rq) {
            *pp = rq->next;
            return;
        }
}

static void collect_finished(lp_llm *llm, int64_t now)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(llm->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        llm_req *rq = NULL;
        CURLcode cc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&rq);
        curl_multi_remove_handle(llm->multi, m->easy_handle);
        unlink_req(llm, rq);
        settle(llm, rq, cc, now);
        req_free(rq);
    }
}

/* ---- the I/O thread ------------------------------------------------------- */

static void shutdown_all(lp_llm *llm)
{
    fail_pending(llm, FAIL_ALL, LP_LLM_GRAY_ZONE, 0, LP_LLM_NOTE_SHUTDOWN);
    while (llm->inflight) {
        llm_req *rq = llm->inflight;
        llm->inflight = rq->next;
        curl_multi_remove_handle(llm->multi, rq->easy);
        for (size_t i = 0; i < rq->n; i++) {
            if (!rq->qs[i]->answered)
                answer_note(llm, rq->qs[i], LP_LLM_NOTE_SHUTDOWN);
            free(rq->qs[i]);
        }
        req_free(rq);
    }
}

static void *io_main(void *arg)
{
    lp_llm *llm = arg;
    pthread_mutex_lock(&llm->lock);
    while (!llm->stop) {
        int64_t now = now_ms();
        roll_day(llm, now);
        fail_pending(llm, FAIL_EXPIRED, LP_LLM_GRAY_ZONE, now, LP_LLM_NOTE_DEADLINE);
        expire_inflight(llm, now);
        dispatch(llm, now);
        int wait = llm->pending ? 10 : 1000;
        pthread_mutex_unlock(&llm->lock);
        int running;
        curl_multi_poll(llm->multi, NULL, 0, wait, NULL);
        curl_multi_perform(llm->multi, &running);
        pthread_mutex_lock(&llm->lock);
        collect_finished(llm, now_ms());
    }
    shutdown_all(llm);
    pthread_mutex_unlock(&llm->lock);
    return NULL;
}

/* Starts the I/O thread; called with the lock held. */
static lp_err_t start_locked(lp_llm *llm)
{
    if (llm->started)
        return LP_OK;
    llm->multi = curl_multi_init();
    if (!llm->multi)
        return LP_E_NOMEM;
    if (pthread_create(&llm->thread, NULL, io_main, llm)) {
        curl_multi_cleanup(llm->multi);
        llm->multi = NULL;
        return LP_E_INTERNAL;
    }
    llm->started = true;
    return LP_OK;
}

static llm_q *question_copy(const lp_llm_question *in)
{
    llm_q *q = malloc(sizeof(*q) + in->lead_id.len + in->payload.len + 2);
    if (!q)
        return NULL;
    memset(q, 0, sizeof(*q));
    char *s = (char *)(q + 1);
    memcpy(s, in->lead_id.ptr, in->lead_id.len);
    s[in->lead_id.len] = '\0';
    q->lead_id = (lp_str){s, in->lead_id.len};
    s += in->lead_id.len + 1;
    memcpy(s, in->payload.ptr, in->payload.len);
    s[in->payload.len] = '\0';
    q->payload = (lp_str){s, in->payload.len};
    q->use = in->use;
    q->priority = in->priority;
    q->deadline_ms = in->deadline_ms;
    q->last_provider = -1;
    q->done = in->done;
    q->ctx = in->ctx;
    return q;
}

lp_err_t lp_llm_ask(lp_llm *llm, const lp_llm_question *in)
{
    llm_q *q = question_copy(in);
    if (!q)
        return LP_E_NOMEM;
    q->queued_ms = q->not_before_ms = now_ms();
    pthread_mutex_lock(&llm->lock);
    lp_err_t err = start_locked(llm);
    if (err == LP_OK) {
        q->next = llm->pending;
        llm->pending = q;
        llm->st.asked++;
    }
    pthread_mutex_unlock(&llm->lock);
    if (err != LP_OK) {
        free(q);
        return err;
    }
    curl_multi_wakeup(llm->multi);
    return LP_OK;
}

void lp_llm_free(lp_llm *llm)
{
    if (!llm)
        return;
    pthread_mutex_lock(&llm->lock);
    llm->stop = true;
    bool started = llm->started;
    pthread_mutex_unlock(&llm->lock);
    if (started) {
        curl_multi_wakeup(llm->multi);
        pthread_join(llm->thread, NULL);
        curl_multi_cleanup(llm->multi);
    }
    for (size_t i = 0; i < llm->np; i++) {
        free(llm->p[i].auth);
        free(llm->p[i].win);
    }
    pthread_mutex_destroy(&llm->lock);
    free(llm);
}

/* ---- counters and the report ---------------------------------------------- */

void lp_llm_count_cache_hit(lp_llm *llm, int provider)
{
    pthread_mutex_lock(&llm->lock);
    if (provider >= 0 && (size_t)provider < llm->np)
        llm->p[provider].st.cache_hits++;
    pthread_mutex_unlock(&llm->lock);
}

void lp_llm_stats_get(lp_llm *llm, lp_llm_stats *out)
{
    pthread_mutex_lock(&llm->lock);
    *out = llm->st;
    for (size_t i = 0; i < llm->np; i++)
        out->p[i] = llm->p[i].st;
    pthread_mutex_unlock(&llm->lock);
}

static const char *const strategy_names[] = {"cost", "balanced", "latency", "quality"};

void lp_llm_report(FILE *f, lp_llm *llm)
{
    lp_llm_stats s;
    lp_llm_stats_get(llm, &s);
    fprintf(f, "llm: strategy %s; %llu asked, %llu answered, %llu degraded; cost $%.6f",
            strategy_names[llm->c.strategy], (unsigned long long)s.asked,
            (unsigned long long)s.answered, (unsigned long long)s.degraded, s.cost_usd);
    if (llm->c.per_day_usd > 0)
        fprintf(f, " of $%.2f/day", llm->c.per_day_usd);
    fprintf(f, "\n  %-16s %8s %8s %8s %10s %10s %10s %6s %9s\n", "provider", "requests",
            "failures", "leads", "prompt_tok", "compl_tok", "cost_usd", "cached", "fallbacks");
    for (size_t i = 0; i < s.nproviders; i++) {
        const lp_llm_provider_stats *p = &s.p[i];
        fprintf(f, "  %-16s %8llu %8llu %8llu %10llu %10llu %10.6f %6llu %9llu\n",
                llm->p[i].c.name, (unsigned long long)p->requests,
                (unsigned long long)p->failures, (unsigned long long)p->leads_answered,
                (unsigned long long)p->prompt_tokens, (unsigned long long)p->completion_tokens,
                p->cost_usd, (unsigned long long)p->cache_hits, (unsigned long long)p->fallbacks);
    }
    if (s.invalid_elements)
        fprintf(f, "  %llu answer elements rejected by validation\n",
                (unsigned long long)s.invalid_elements);
    if (s.budget_short || s.budget_skipped)
        fprintf(f,
                "  budget short: %llu leads sent closest to a threshold first; %llu leads kept "
                "the rules' decision (budget exhausted)\n",
                (unsigned long long)s.budget_short, (unsigned long long)s.budget_skipped);
}
