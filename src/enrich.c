/*
 * enrich.c - the enrichment service: one I/O thread driving every provider
 * through one libcurl multi handle.
 *
 * Flow. lp_enrich_svc_submit() (any worker) appends a waiter to the inbox
 * and wakes the thread (curl_multi_wakeup). The thread turns each key of a
 * waiter into a flight: one per (kind, key), shared by every waiter that
 * needs it (single-flight). A new flight first asks the cache (another
 * flight may have answered it since the worker looked), then joins the
 * queue of the first provider of its kind in the waterfall. A provider's
 * queue is sent when it holds bulk_size flights or its oldest has waited
 * linger_ms, within the limits below. A match ends the flight; "no match"
 * moves it down the waterfall, and the last provider's "no match" is a
 * confident miss, cached as a negative entry. A provider that keeps failing
 * passes its flights on as well, but a flight that only failed is not
 * negative-cached: nothing confident was learnt.
 *
 * Limits, per provider: sliding-window request logs for per-minute, -hour
 * and -day limits (a request is sent only if the window holds fewer than
 * the limit, so no window ever exceeds it); X-RateLimit-Remaining: 0 and
 * Retry-After (429, 503) block the provider until the time they name; a
 * concurrency cap; retries with exponential backoff and full jitter; and a
 * circuit breaker that opens after breaker_failures consecutive failures,
 * and lets one trial request through after breaker_cooldown.
 *
 * Deadlines. Waiters are kept in submit order, which is deadline order (one
 * deadline per pipeline). A waiter past its deadline is answered with what
 * it has and park_status LP_E_HTTP (the lead goes on degraded); its flights
 * go on, so their answers still reach the cache.
 *
 * Threads: the inbox and the counters are shared (inbox under s->lock,
 * counters atomic); everything else belongs to the I/O thread. A parked
 * record belongs to the service from submit until it is pushed, so the
 * thread writes its answer into the record's own arena.
 */
#include "enrich.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "provider.h"

#define FLIGHT_BUCKETS 4096
#define MAX_BULK 256

typedef struct waiter {
    lp_parked *p;     /* NULL once answered (deadline) */
    lp_park_queue *q;
    lp_enrich_answer *ans;
    int refs;         /* flights still to answer */
    bool failed;      /* a flight ended without a confident answer */
    struct waiter *prev, *next; /* s->waiters, submit order */
    char keys[2][256]; /* person, company ("" when not needed) */
} waiter;

typedef struct flight {
    lp_enrich_kind kind;
    char *key;
    size_t stage; /* index of the provider it is queued on or sent to */
    waiter **w;
    size_t nw, capw;
    int64_t queued_ms;
    bool failed; /* some provider failed on it */
    struct flight *hnext, *qnext;
} flight;

typedef struct ratelog {
    int64_t *t; /* ring of the last `limit` request times */
    int64_t limit, period_ms;
    size_t head, n;
} ratelog;

typedef struct request {
    size_t pv;
    flight *fl[MAX_BULK];
    size_t n;
    int attempt;
    int64_t due_ms;
    CURL *easy;
    struct curl_slist *hdrs;
    char *body;
    lp_buf url, resp;
    long retry_after_s;
    long remaining; /* X-RateLimit-Remaining, -1 when absent */
    struct request *next;  /* s->retries */
    struct request *anext; /* s->active: transfers in the multi handle */
} request;

typedef struct pv_stats {
    _Atomic uint64_t requests, keys, matches, misses, failures, throttled, credits, opens;
} pv_stats;

typedef struct pv_state {
    const lp_provider *pv;
    flight *qhead, *qtail;
    size_t qlen;
    int64_t inflight;
    ratelog logs[3];
    int64_t blocked_until;  /* Retry-After / X-RateLimit-Remaining: 0 */
    int64_t failures;       /* consecutive */
    int64_t open_until;     /* breaker: open while now < open_until */
    bool half_open_trial;   /* a trial request is out */
    pv_stats st;
} pv_state;

struct lp_enrich_svc {
    const lp_enrich_conf *conf;
    lp_cache *cache;
    pv_state *pvs;
    CURLM *multi;
    pthread_t thread;
    pthread_mutex_t lock; /* inbox, started, stop */
    waiter *inbox_head, *inbox_tail;
    bool started, stop;
    /* I/O thread only */
    waiter *whead, *wtail;
    flight *table[FLIGHT_BUCKETS];
    request *retries;
    request *active;
    uint64_t rng;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *table_of(lp_enrich_kind k)
{
    return k == LP_ENRICH_PERSON ? "person" : "company";
}

/* ---- rate logs ---------------------------------------------------------- */

static void ratelog_init(ratelog *r, int64_t limit, int64_t period_ms)
{
    r->limit = limit;
    r->period_ms = period_ms;
    r->t = limit > 0 ? calloc((size_t)limit, sizeof(int64_t)) : NULL;
}

/* When the next request may start under this window (now if it may). */
static int64_t ratelog_next(const ratelog *r, int64_t now)
{
    if (!r->t || r->n < (size_t)r->limit)
        return now;
    int64_t oldest = r->t[r->head]; /* the ring is full: head is the oldest */
    return oldest + r->period_ms > now ? oldest + r->period_ms : now;
}

static void ratelog_add(ratelog *r, int64_t now)
{
    if (!r->t)
        return;
    size_t at = (r->head + r->n) % (size_t)r->limit;
    if (r->n == (size_t)r->limit) {
        r->t[r->head] = now;
        r->head = (r->head + 1) % (size_t)r->limit;
        return;
    }
    r->t[at] = now;
    r->n++;
}

/* When provider ps may send next (rate logs, blocks, breaker); now if it may. */
static int64_t pv_next_send(const pv_state *ps, int64_t now)
{
    int64_t t = now;
    for (int i = 0; i < 3; i++) {
        int64_t n = ratelog_next(&ps->logs[i], now);
        t = n > t ? n : t;
    }
    if (ps->blocked_until > t)
        t = ps->blocked_until;
    return t;
}

/* Whether ps may start a request now: closed, or half-open with no trial out. */
static bool pv_may_send(const pv_state *ps, int64_t now)
{
    if (now < ps->open_until)
        return false;
    if (ps->open_until && ps->half_open_trial)
        return false;
    return ps->inflight < ps->pv->concurrency && pv_next_send(ps, now) <= now;
}

/* ---- flights and waiters -------------------------------------------------- */

static size_t bucket_of(lp_enrich_kind k, const char *key)
{
    return (size_t)(XXH3_64bits_withSeed(key, strlen(key), (uint64_t)k) % FLIGHT_BUCKETS);
}

static flight *flight_find(lp_enrich_svc *s, lp_enrich_kind k, const char *key)
{
    for (flight *f = s->table[bucket_of(k, key)]; f; f = f->hnext)
        if (f->kind == k && !strcmp(f->key, key))
            return f;
    return NULL;
}

static void flight_unlink(lp_enrich_svc *s, flight *f)
{
    for (flight **pp = &s->table[bucket_of(f->kind, f->key)]; *pp; pp = &(*pp)->hnext)
        if (*pp == f) {
            *pp = f->hnext;
            break;
        }
}

static void waiter_unlink(lp_enrich_svc *s, waiter *w)
{
    if (w->prev)
        w->prev->next = w->next;
    else if (s->whead == w)
        s->whead = w->next;
    if (w->next)
        w->next->prev = w->prev;
    else if (s->wtail == w)
        s->wtail = w->prev;
    w->prev = w->next = NULL;
}

/* Pushes w's record back (with its answer so far); w stays for its flights. */
static void waiter_answer(lp_enrich_svc *s, waiter *w, lp_err_t status)
{
    if (!w->p)
        return;
    w->p->rec.park_result = w->ans;
    w->p->rec.park_status = status;
    lp_park_queue_push(w->q, w->p);
    w->p = NULL;
    waiter_unlink(s, w);
}

/* A flight is done with w: answers it when it was the last, frees it when unused. */
static void waiter_release(lp_enrich_svc *s, waiter *w)
{
    if (--w->refs > 0)
        return;
    waiter_answer(s, w, w->failed ? LP_E_HTTP : LP_OK);
    free(w);
}

/* Copies found's fields into the waiter's answer, in the parked record's arena. */
static void waiter_merge(waiter *w, const lp_lead *found, uint8_t src)
{
    if (!w->p)
        return;
    lp_arena *a = &w->p->arena;
    lp_lead *dst = &w->ans->found;
    for (int f = 0; f < LP_F_COUNT; f++) {
        if (!lp_lead_has(found, f) || lp_lead_has(dst, f))
            continue;
        lp_val v = found->v[f];
        if (lp_fields[f].type == LP_T_STR) {
            v.s = lp_arena_strndup(a, v.s, v.len);
        } else if (lp_fields[f].type == LP_T_LIST) {
            lp_str *items = lp_arena_alloc(a, v.len * sizeof(lp_str) + 1);
            for (uint32_t i = 0; items && i < v.len; i++)
                items[i] = (lp_str){lp_arena_strndup(a, v.list[i].ptr, v.list[i].len),
                                    v.list[i].len};
            v.list = items;
        }
        dst->v[f] = v;
        dst->present |= 1ull << f;
        w->ans->src[f] = src;
    }
}

/* Ends a flight: merges its answer (found may be NULL) into every waiter. */
static void flight_finish(lp_enrich_svc *s, flight *f, const lp_lead *found, uint8_t src,
                          bool failed)
{
    flight_unlink(s, f);
    for (size_t i = 0; i < f->nw; i++) {
        if (found)
            waiter_merge(f->w[i], found, src);
        if (failed)
            f->w[i]->failed = true;
        waiter_release(s, f->w[i]);
    }
    free(f->w);
    free(f->key);
    free(f);
}

static void pv_enqueue(lp_enrich_svc *s, size_t i, flight *f, int64_t now)
{
    pv_state *ps = &s->pvs[i];
    f->stage = i;
    f->queued_ms = now;
    f->qnext = NULL;
    if (ps->qtail)
        ps->qtail->qnext = f;
    else
        ps->qhead = f;
    ps->qtail = f;
    ps->qlen++;
}

/* Writes a negative entry for a confident miss. */
static void cache_negative(lp_enrich_svc *s, const flight *f, int64_t now)
{
    if (!s->cache)
        return;
    lp_cache_entry e = {{f->key, (uint32_t)strlen(f->key)}, {"", 0}, now,
                        s->conf->ttl_negative_ms, true};
    lp_cache_put(s->cache, table_of(f->kind), &e, 1);
}

/*
 * Moves f to the next provider of its kind from index from on (skipping
 * open breakers); with none left, ends it: a miss if every provider said
 * so, a failure otherwise.
 */
static void flight_advance(lp_enrich_svc *s, flight *f, size_t from, int64_t now)
{
    for (size_t i = from; i < s->conf->nproviders; i++) {
        pv_state *ps = &s->pvs[i];
        if (ps->pv->kind != f->kind)
            continue;
        if (now < ps->open_until) { /* breaker open: try the next one */
            f->failed = true;
            continue;
        }
        pv_enqueue(s, i, f, now);
        return;
    }
    if (!f->failed)
        cache_negative(s, f, now);
    flight_finish(s, f, NULL, 0, f->failed);
}

/* Serves key from the cache if it is there now; true when it did. */
static bool flight_from_cache(lp_enrich_svc *s, waiter *w, lp_enrich_kind k, const char *key,
                              int64_t now)
{
    lp_str v;
    bool neg;
    if (!s->cache || lp_cache_get(s->cache, table_of(k), (lp_str){key, (uint32_t)strlen(key)},
                                  now, &v, &neg) != LP_OK)
        return false;
    lp_arena tmp;
    lp_arena_init(&tmp, 1024);
    lp_lead l;
    if (!neg && lp_enrich_decode(v, &tmp, &l) == LP_OK)
        waiter_merge(w, &l, LP_SRC_CACHE);
    lp_arena_free(&tmp);
    return true;
}

/* Attaches w to the flight for key, creating it when none is in the air. */
static void waiter_join(lp_enrich_svc *s, waiter *w, lp_enrich_kind k, const char *key,
                        int64_t now)
{
    if (flight_from_cache(s, w, k, key, now))
        return;
    flight *f = flight_find(s, k, key);
    if (!f) {
        f = calloc(1, sizeof(*f));
        f->kind = k;
        f->key = strdup(key);
        size_t b = bucket_of(k, key);
        f->hnext = s->table[b];
        s->table[b] = f;
        w->refs++;
        f->w = malloc(4 * sizeof(waiter *));
        f->capw = 4;
        f->w[f->nw++] = w;
        flight_advance(s, f, 0, now);
        return;
    }
    if (f->nw == f->capw) {
        f->capw *= 2;
        f->w = realloc(f->w, f->capw * sizeof(waiter *));
    }
    f->w[f->nw++] = w;
    w->refs++;
}

static void waiter_start(lp_enrich_svc *s, waiter *w, int64_t now)
{
    w->prev = s->wtail;
    w->next = NULL;
    if (s->wtail)
        s->wtail->next = w;
    else
        s->whead = w;
    s->wtail = w;
    w->refs = 1; /* held while joining, so an instant answer does not free it */
    for (int k = 0; k < 2; k++)
        if (w->keys[k][0])
            waiter_join(s, w, (lp_enrich_kind)k, w->keys[k], now);
    waiter_release(s, w);
}

/* ---- requests ------------------------------------------------------------ */

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    request *rq = ud;
    return lp_buf_append(&rq->resp, data, size * n) ? 0 : size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    request *rq = ud;
    size_t len = size * n;
    char line[128];
    if (len >= sizeof(line))
        return len;
    memcpy(line, data, len);
    line[len] = '\0';
    char *end;
    if (!strncasecmp(line, "Retry-After:", 12)) {
        long v = strtol(line + 12, &end, 10);
        rq->retry_after_s = end != line + 12 && v >= 0 ? v : rq->retry_after_s;
    } else if (!strncasecmp(line, "X-RateLimit-Remaining:", 22)) {
        long v = strtol(line + 22, &end, 10);
        rq->remaining = end != line + 22 ? v : rq->remaining;
    }
    return len;
}

/* Builds the easy handle for rq (URL, body, auth) and adds it to the multi handle. */
static lp_err_t request_start(lp_enrich_svc *s, request *rq, int64_t now)
{
    pv_state *ps = &s->pvs[rq->pv];
    const lp_provider *pv = ps->pv;
    const char *keys[MAX_BULK];
    for (size_t i = 0; i < rq->n; i++)
        keys[i] = rq->fl[i]->key;
    lp_buf_reset(&rq->url);
    lp_buf_reset(&rq->resp);
    rq->retry_after_s = -1;
    rq->remaining = -1;
    if (lp_provider_url(pv, keys[0], &rq->url) != LP_OK)
        return LP_E_NOMEM;
    if (!rq->easy) {
        rq->easy = curl_easy_init();
        if (pv->auth_header && *pv->auth_header)
            rq->hdrs = curl_slist_append(rq->hdrs, pv->auth_header);
        if (pv->post) {
            rq->hdrs = curl_slist_append(rq->hdrs, "Content-Type: application/json");
            rq->body = lp_provider_body(pv, keys, rq->n);
        }
        rq->hdrs = curl_slist_append(rq->hdrs, "Accept: application/json");
    }
    CURL *e = rq->easy;
    curl_easy_setopt(e, CURLOPT_URL, rq->url.data);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, rq->hdrs);
    if (rq->body)
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)pv->timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, rq);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, rq);
    curl_easy_setopt(e, CURLOPT_PRIVATE, rq);
    for (int i = 0; i < 3; i++)
        ratelog_add(&ps->logs[i], now);
    ps->inflight++;
    if (ps->open_until)
        ps->half_open_trial = true;
    atomic_fetch_add_explicit(&ps->st.requests, 1, memory_order_relaxed);
    if (rq->attempt == 0)
        atomic_fetch_add_explicit(&ps->st.keys, rq->n, memory_order_relaxed);
    rq->anext = s->active;
    s->active = rq;
    curl_multi_add_handle(s->multi, e);
    return LP_OK;
}

static void request_free(request *rq)
{
    if (rq->easy)
        curl_easy_cleanup(rq->easy);
    curl_slist_free_all(rq->hdrs);
    free(rq->body);
    lp_buf_free(&rq->url);
    lp_buf_free(&rq->resp);
    free(rq);
}

/* Takes up to bulk_size flights off provider i's queue and sends them. */
static void pv_send_batch(lp_enrich_svc *s, size_t i, int64_t now)
{
    pv_state *ps = &s->pvs[i];
    request *rq = calloc(1, sizeof(*rq));
    if (!rq)
        return;
    rq->pv = i;
    lp_buf_init(&rq->url);
    lp_buf_init(&rq->resp);
    size_t bulk = ps->pv->bulk_size < MAX_BULK ? (size_t)ps->pv->bulk_size : MAX_BULK;
    while (rq->n < bulk && ps->qhead) {
        flight *f = ps->qhead;
        ps->qhead = f->qnext;
        ps->qlen--;
        rq->fl[rq->n++] = f;
    }
    if (!ps->qhead)
        ps->qtail = NULL;
    request_start(s, rq, now);
}

/* Sends every batch that is full or has lingered, as limits allow; returns the next due time. */
static int64_t dispatch(lp_enrich_svc *s, int64_t now)
{
    int64_t next = now + 1000;
    for (request **pp = &s->retries; *pp;) {
        request *rq = *pp;
        if (rq->due_ms <= now && pv_may_send(&s->pvs[rq->pv], now)) {
            *pp = rq->next;
            request_start(s, rq, now);
            continue;
        }
        next = rq->due_ms < next ? rq->due_ms : next;
        pp = &rq->next;
    }
    for (size_t i = 0; i < s->conf->nproviders; i++) {
        pv_state *ps = &s->pvs[i];
        while (ps->qhead) {
            int64_t due = ps->qlen >= (size_t)ps->pv->bulk_size || s->stop
                              ? now : ps->qhead->queued_ms + s->conf->linger_ms;
            if (due > now || !pv_may_send(ps, now)) {
                int64_t t = pv_next_send(ps, now);
                t = t > due ? t : due;
                t = ps->open_until > t ? ps->open_until : t;
                next = t > now && t < next ? t : (t <= now ? now + 5 : next);
                break;
            }
            pv_send_batch(s, i, now);
        }
    }
    return next;
}

/* ---- answers ------------------------------------------------------------- */

/* Encodes found into an entry for table kind, in a. */
static lp_cache_entry cache_entry(lp_enrich_svc *s, lp_arena *a, lp_str key, const lp_lead *l,
                                  bool person, int64_t now)
{
    lp_buf b;
    lp_buf_init(&b);
    uint64_t mask = person ? LP_ENRICH_PERSON_FIELDS | LP_ENRICH_COMPANY_FIELDS
                           : LP_ENRICH_COMPANY_FIELDS;
    lp_enrich_encode(l, mask, &b);
    char *v = lp_arena_strndup(a, b.data ? b.data : "", b.len);
    lp_buf_free(&b);
    int64_t ttl = person ? s->conf->ttl_person_ms : s->conf->ttl_company_ms;
    return (lp_cache_entry){key, {v, (uint32_t)b.len}, now, ttl, false};
}

/* Maps each match, caches it (person and company entries), and ends or advances its flight. */
static void request_answered(lp_enrich_svc *s, request *rq, json_t **matches, int64_t now)
{
    pv_state *ps = &s->pvs[rq->pv];
    lp_arena a;
    lp_arena_init(&a, 8192);
    lp_cache_entry person[MAX_BULK], company[MAX_BULK];
    size_t np = 0, nc = 0, found = 0;
    lp_lead leads[MAX_BULK];
    for (size_t i = 0; i < rq->n; i++) {
        lp_lead_clear(&leads[i]);
        if (!matches[i] || lp_provider_map(ps->pv, matches[i], &a, &leads[i]) == 0)
            continue;
        flight *f = rq->fl[i];
        lp_str key = {f->key, (uint32_t)strlen(f->key)};
        bool is_person = f->kind == LP_ENRICH_PERSON;
        (is_person ? person : company)[is_person ? np++ : nc++] =
            cache_entry(s, &a, key, &leads[i], is_person, now);
        lp_str dom = lp_lead_str(&leads[i], LP_F_DOMAIN);
        if (is_person && dom.len && dom.len < 256 &&
            (leads[i].present & LP_ENRICH_COMPANY_FIELDS & ~(1ull << LP_F_DOMAIN)))
            company[nc++] = cache_entry(s, &a, dom, &leads[i], false, now);
        found++;
    }
    if (s->cache && np)
        lp_cache_put(s->cache, "person", person, np);
    if (s->cache && nc)
        lp_cache_put(s->cache, "company", company, nc);
    atomic_fetch_add_explicit(&ps->st.matches, found, memory_order_relaxed);
    atomic_fetch_add_explicit(&ps->st.misses, rq->n - found, memory_order_relaxed);
    atomic_fetch_add_explicit(&ps->st.credits,
                              ps->pv->credits == LP_CREDIT_PER_REQUEST ? 1 : found,
                              memory_order_relaxed);
    for (size_t i = 0; i < rq->n; i++) {
        if (leads[i].present)
            flight_finish(s, rq->fl[i], &leads[i], (uint8_t)(LP_SRC_PROVIDER + rq->pv), false);
        else
            flight_advance(s, rq->fl[i], rq->pv + 1, now);
    }
    lp_arena_free(&a);
}

static void breaker_success(pv_state *ps)
{
    ps->failures = 0;
    ps->open_until = 0;
    ps->half_open_trial = false;
}

/* Opens the breaker: queued flights move down the waterfall. */
static void breaker_open(lp_enrich_svc *s, size_t i, int64_t now)
{
    pv_state *ps = &s->pvs[i];
    ps->open_until = now + ps->pv->breaker_cooldown_ms;
    ps->half_open_trial = false;
    atomic_fetch_add_explicit(&ps->st.opens, 1, memory_order_relaxed);
    flight *f = ps->qhead;
    ps->qhead = ps->qtail = NULL;
    ps->qlen = 0;
    while (f) {
        flight *next = f->qnext;
        f->failed = true;
        flight_advance(s, f, i + 1, now);
        f = next;
    }
}

/* Full jitter: a random delay in [base/2, base) with base = backoff * 2^attempt. */
static int64_t backoff_ms(lp_enrich_svc *s, const lp_provider *pv, int attempt)
{
    int64_t base = pv->backoff_ms << (attempt < 16 ? attempt : 16);
    s->rng = s->rng * 6364136223846793005ull + 1442695040888963407ull;
    return base / 2 + (int64_t)((s->rng >> 33) % (uint64_t)(base / 2 + 1));
}

/* A failed attempt: retry later, or give the flights to the next provider. */
static void request_failed(lp_enrich_svc *s, request *rq, bool counts, int64_t now)
{
    pv_state *ps = &s->pvs[rq->pv];
    atomic_fetch_add_explicit(&ps->st.failures, 1, memory_order_relaxed);
    ps->half_open_trial = false;
    if (counts && ++ps->failures >= ps->pv->breaker_failures)
        breaker_open(s, rq->pv, now);
    if (rq->attempt < ps->pv->retries && now >= ps->open_until) {
        rq->attempt++;
        int64_t wait = rq->retry_after_s >= 0 ? rq->retry_after_s * 1000
                                              : backoff_ms(s, ps->pv, rq->attempt);
        rq->due_ms = now + wait;
        rq->next = s->retries;
        s->retries = rq;
        return;
    }
    for (size_t i = 0; i < rq->n; i++) {
        rq->fl[i]->failed = true;
        flight_advance(s, rq->fl[i], rq->pv + 1, now);
    }
    request_free(rq);
}

/* Handles a finished transfer: status, rate-limit headers, body. */
static void request_done(lp_enrich_svc *s, CURL *e, CURLcode res, int64_t now)
{
    request *rq;
    long code = 0;
    curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&rq);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
    curl_multi_remove_handle(s->multi, e);
    for (request **pp = &s->active; *pp; pp = &(*pp)->anext)
        if (*pp == rq) {
            *pp = rq->anext;
            break;
        }
    pv_state *ps = &s->pvs[rq->pv];
    ps->inflight--;
    if (rq->remaining == 0) {
        int64_t until = now + (rq->retry_after_s >= 0 ? rq->retry_after_s * 1000 : 60000);
        ps->blocked_until = until > ps->blocked_until ? until : ps->blocked_until;
    }
    if (res == CURLE_OK && (code == 429 || code == 503)) {
        atomic_fetch_add_explicit(&ps->st.throttled, 1, memory_order_relaxed);
        if (rq->retry_after_s >= 0)
            ps->blocked_until = now + rq->retry_after_s * 1000;
        request_failed(s, rq, code == 503, now);
        return;
    }
    json_t *root = NULL, *matches[MAX_BULK] = {0};
    const char *keys[MAX_BULK];
    for (size_t i = 0; i < rq->n; i++)
        keys[i] = rq->fl[i]->key;
    bool none = res == CURLE_OK && code == 404 && !ps->pv->post; /* GET: not known */
    bool ok = none || (res == CURLE_OK && code >= 200 && code < 300 &&
                       lp_provider_parse(ps->pv, rq->resp.data, rq->resp.len, keys, rq->n,
                                         &root, matches) == LP_OK);
    if (!ok) {
        json_decref(root);
        request_failed(s, rq, true, now);
        return;
    }
    breaker_success(ps);
    request_answered(s, rq, matches, now);
    json_decref(root);
    request_free(rq);
}

/* ---- the I/O thread --------------------------------------------------------- */

/* Answers waiters past their deadline (the list is in deadline order); returns the next one. */
static int64_t expire(lp_enrich_svc *s, int64_t now)
{
    while (s->whead && s->whead->p->deadline_ms <= now)
        waiter_answer(s, s->whead, LP_E_HTTP);
    return s->whead ? s->whead->p->deadline_ms : now + 1000;
}

static void drain_transfers(lp_enrich_svc *s)
{
    int running, left;
    curl_multi_perform(s->multi, &running);
    CURLMsg *m;
    while ((m = curl_multi_info_read(s->multi, &left)))
        if (m->msg == CURLMSG_DONE)
            request_done(s, m->easy_handle, m->data.result, now_ms());
}

/* One turn: new waiters, transfers, sends, deadlines; then waits for work. */
static void svc_turn(lp_enrich_svc *s, waiter *in)
{
    int64_t now = now_ms();
    while (in) {
        waiter *next = in->next;
        waiter_start(s, in, now);
        in = next;
    }
    drain_transfers(s);
    now = now_ms();
    int64_t next = dispatch(s, now);
    int64_t dl = expire(s, now);
    next = dl < next ? dl : next;
    int timeout = next <= now ? 0 : next - now > 1000 ? 1000 : (int)(next - now);
    curl_multi_poll(s->multi, NULL, 0, timeout, NULL);
}

/* Ends everything still in the air: waiters answered degraded, memory freed. */
static void svc_drain(lp_enrich_svc *s, waiter *in)
{
    while (in) {
        waiter *next = in->next;
        in->p->rec.park_result = in->ans;
        in->p->rec.park_status = LP_E_HTTP;
        lp_park_queue_push(in->q, in->p);
        free(in);
        in = next;
    }
    while (s->whead)
        waiter_answer(s, s->whead, LP_E_HTTP);
    for (request *rq = s->active, *next; rq; rq = next) {
        next = rq->anext;
        curl_multi_remove_handle(s->multi, rq->easy);
        request_free(rq);
    }
    for (request *rq = s->retries, *next; rq; rq = next) {
        next = rq->next;
        request_free(rq);
    }
    for (size_t b = 0; b < FLIGHT_BUCKETS; b++)
        while (s->table[b])
            flight_finish(s, s->table[b], NULL, 0, true);
}

static void *svc_main(void *arg)
{
    lp_enrich_svc *s = arg;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        waiter *in = s->inbox_head;
        s->inbox_head = s->inbox_tail = NULL;
        bool stop = s->stop;
        pthread_mutex_unlock(&s->lock);
        if (stop) {
            svc_drain(s, in);
            return NULL;
        }
        svc_turn(s, in);
    }
}

lp_err_t lp_enrich_svc_new(const lp_enrich_conf *conf, lp_cache *cache, lp_enrich_svc **out)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    lp_enrich_svc *s = calloc(1, sizeof(*s));
    if (!s)
        return LP_E_NOMEM;
    s->conf = conf;
    s->cache = cache;
    s->rng = (uint64_t)now_ms() | 1;
    s->pvs = calloc(conf->nproviders ? conf->nproviders : 1, sizeof(pv_state));
    s->multi = curl_multi_init();
    if (!s->pvs || !s->multi) {
        lp_enrich_svc_free(s);
        return LP_E_NOMEM;
    }
    for (size_t i = 0; i < conf->nproviders; i++) {
        pv_state *ps = &s->pvs[i];
        ps->pv = &conf->providers[i];
        ratelog_init(&ps->logs[0], ps->pv->per_minute, 60000);
        ratelog_init(&ps->logs[1], ps->pv->per_hour, 3600000);
        ratelog_init(&ps->logs[2], ps->pv->per_day, 86400000);
    }
    pthread_mutex_init(&s->lock, NULL);
    *out = s;
    return LP_OK;
}

void lp_enrich_svc_submit(lp_enrich_svc *s, lp_parked *p, lp_park_queue *q, lp_str email,
                          lp_str domain)
{
    waiter *w = calloc(1, sizeof(*w));
    lp_enrich_answer *ans = lp_arena_alloc(&p->arena, sizeof(*ans));
    if (!w || !ans) {
        free(w);
        p->rec.park_status = LP_E_NOMEM;
        lp_park_queue_push(q, p);
        return;
    }
    memset(ans, 0, sizeof(*ans));
    *w = (waiter){.p = p, .q = q, .ans = ans};
    if (email.len < sizeof(w->keys[0]))
        memcpy(w->keys[LP_ENRICH_PERSON], email.ptr, email.len);
    if (domain.len < sizeof(w->keys[1]))
        memcpy(w->keys[LP_ENRICH_COMPANY], domain.ptr, domain.len);
    pthread_mutex_lock(&s->lock);
    if (s->inbox_tail)
        s->inbox_tail->next = w;
    else
        s->inbox_head = w;
    s->inbox_tail = w;
    bool start = !s->started;
    s->started = true;
    if (start && pthread_create(&s->thread, NULL, svc_main, s) != 0)
        s->started = false;
    pthread_mutex_unlock(&s->lock);
    curl_multi_wakeup(s->multi);
}

void lp_enrich_svc_stats(lp_enrich_svc *s, size_t i, lp_provider_stats *out)
{
    pv_stats *st = &s->pvs[i].st;
    *out = (lp_provider_stats){
        .requests = atomic_load(&st->requests), .keys = atomic_load(&st->keys),
        .matches = atomic_load(&st->matches),   .misses = atomic_load(&st->misses),
        .failures = atomic_load(&st->failures), .throttled = atomic_load(&st->throttled),
        .credits = atomic_load(&st->credits),   .breaker_opens = atomic_load(&st->opens),
    };
}

void lp_enrich_svc_free(lp_enrich_svc *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->lock);
    s->stop = true;
    bool join = s->started;
    pthread_mutex_unlock(&s->lock);
    if (s->multi)
        curl_multi_wakeup(s->multi);
    if (join)
        pthread_join(s->thread, NULL);
    for (size_t i = 0; s->pvs && i < s->conf->nproviders; i++)
        for (int k = 0; k < 3; k++)
            free(s->pvs[i].logs[k].t);
    if (s->multi)
        curl_multi_cleanup(s->multi);
    free(s->pvs);
    pthread_mutex_destroy(&s->lock);
    free(s);
}
