/*
 * Unit tests for enrichment: the value encoding, the provider service
 * against a loopback HTTP server that plays an Apollo-style bulk match and a
 * JSON-per-domain company API (slow answers, 429 with Retry-After, 500s,
 * malformed JSON, partial bulk answers), and the enrich stage's cache path.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cache_dir.h"
#include "enrich.h"
#include "pipeline.h"
#include "stage.h"

/* ---- the fake providers ---------------------------------------------------- */

typedef enum { CO_OK, CO_MISS, CO_500, CO_BAD_JSON, CO_SLOW, CO_429_ONCE } co_mode;

static struct {
    struct MHD_Daemon *d;
    char url[64];
    atomic_int people_requests, company_requests, max_bulk;
    atomic_int mode;
    atomic_int throttled_once;
    int64_t first_ms, last_ms; /* company request times */
} srv;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *body,
                             const char *retry_after)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
    if (retry_after)
        MHD_add_response_header(r, "Retry-After", retry_after);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

/* Apollo-style: "known*" emails match, "partial*" are left out, others are null. */
static enum MHD_Result people(struct MHD_Connection *c, const char *body, size_t len)
{
    atomic_fetch_add(&srv.people_requests, 1);
    json_t *in = json_loadb(body, len, 0, NULL), *details = json_object_get(in, "details");
    json_t *matches = json_array();
    int n = (int)json_array_size(details);
    if (n > atomic_load(&srv.max_bulk))
        atomic_store(&srv.max_bulk, n);
    for (int i = 0; i < n; i++) {
        const char *email = json_string_value(json_object_get(json_array_get(details, i), "email"));
        if (!strncmp(email, "known", 5))
            json_array_append_new(matches, json_pack(
                "{s:s, s:s, s:s, s:[s], s:{s:s, s:s, s:s, s:i, s:f, s:s, s:[s,s]}}", "email", email,
                "title", "VP Sales", "seniority", "vp", "departments", "sales", "organization",
                "name", "Acme", "primary_domain", "acme.com", "industry", "Software",
                "estimated_num_employees", 250, "annual_revenue", 1.5e7, "country", "US",
                "technology_names", "Salesforce", "HubSpot"));
        else if (strncmp(email, "partial", 7))
            json_array_append_new(matches, json_null());
    }
    json_t *out = json_pack("{s:o}", "matches", matches);
    char *s = json_dumps(out, JSON_COMPACT);
    enum MHD_Result r = reply(c, 200, s, NULL);
    free(s);
    json_decref(out);
    json_decref(in);
    return r;
}

static enum MHD_Result company(struct MHD_Connection *c, const char *domain)
{
    int n = atomic_fetch_add(&srv.company_requests, 1);
    int64_t t = now_ms();
    if (n == 0)
        srv.first_ms = t;
    srv.last_ms = t;
    char body[256];
    snprintf(body, sizeof(body),
             "{\"domain\":\"%s\",\"name\":\"Acme\",\"industry\":\"Software\",\"employees\":250,"
             "\"revenue\":15000000,\"country\":\"US\",\"technologies\":[\"Go\",\"C\"]}", domain);
    switch ((co_mode)atomic_load(&srv.mode)) {
    case CO_MISS:
        return reply(c, 404, "{}", NULL);
    case CO_500:
        return reply(c, 500, "oops", NULL);
    case CO_BAD_JSON:
        return reply(c, 200, "{\"domain\": ", NULL);
    case CO_SLOW:
        usleep(600 * 1000);
        return reply(c, 200, body, NULL);
    case CO_429_ONCE:
        if (!atomic_exchange(&srv.throttled_once, 1))
            return reply(c, 429, "{}", "1");
        return reply(c, 200, body, NULL);
    default:
        return strncmp(domain, "unknown", 7) ? reply(c, 200, body, NULL) : reply(c, 404, "{}", NULL);
    }
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *c, const char *url,
                             const char *method, const char *version, const char *data,
                             size_t *size, void **ctx)
{
    (void)cls;
    (void)version;
    if (!strcmp(method, "POST")) {
        lp_buf *b = *ctx;
        if (!b) {
            *ctx = b = calloc(1, sizeof(*b));
            return MHD_YES;
        }
        if (*size) {
            lp_buf_append(b, data, *size);
            *size = 0;
            return MHD_YES;
        }
        return people(c, b->data ? b->data : "", b->len);
    }
    if (!strncmp(url, "/companies/", 11))
        return company(c, url + 11);
    return reply(c, 404, "{}", NULL);
}

static void done(void *cls, struct MHD_Connection *c, void **ctx, enum MHD_RequestTerminationCode tc)
{
    (void)cls;
    (void)c;
    (void)tc;
    if (*ctx) {
        lp_buf_free(*ctx);
        free(*ctx);
    }
}

static int server_up(void **state)
{
    (void)state;
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = 0};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    srv.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                             NULL, NULL, serve, NULL, MHD_OPTION_SOCK_ADDR, &sin,
                             MHD_OPTION_NOTIFY_COMPLETED, done, NULL, MHD_OPTION_END);
    if (!srv.d)
        return -1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(srv.d, MHD_DAEMON_INFO_BIND_PORT);
    snprintf(srv.url, sizeof(srv.url), "http://127.0.0.1:%u", (unsigned)info->port);
    return 0;
}

static int server_down(void **state)
{
    (void)state;
    MHD_stop_daemon(srv.d);
    return 0;
}

static int reset(void **state)
{
    (void)state;
    atomic_store(&srv.people_requests, 0);
    atomic_store(&srv.company_requests, 0);
    atomic_store(&srv.max_bulk, 0);
    atomic_store(&srv.mode, CO_OK);
    atomic_store(&srv.throttled_once, 0);
    return 0;
}

/* ---- helpers ---------------------------------------------------------------- */

static char urls[4][128];

static lp_provider apollo(void)
{
    lp_provider p = *lp_provider_preset("apollo_bulk_match");
    snprintf(urls[0], sizeof(urls[0]), "%s/api/v1/people/bulk_match", srv.url);
    p.name = "apollo";
    p.url = urls[0];
    p.concurrency = 4;
    p.timeout_ms = 5000;
    p.retries = 0;
    p.backoff_ms = 10;
    p.breaker_failures = 5;
    p.breaker_cooldown_ms = 60000;
    return p;
}

static lp_provider companies(const char *name)
{
    lp_provider p = *lp_provider_preset("company_json");
    snprintf(urls[1], sizeof(urls[1]), "%s/companies/{domain}", srv.url);
    p.name = name;
    p.url = urls[1];
    p.concurrency = 4;
    p.timeout_ms = 5000;
    p.retries = 0;
    p.backoff_ms = 10;
    p.breaker_failures = 5;
    p.breaker_cooldown_ms = 60000;
    return p;
}

typedef struct fixture {
    lp_enrich_conf conf;
    lp_provider pv[3];
    const char *names[3];
    lp_cache *cache;
    char *dir;
    lp_enrich_svc *svc;
    lp_park_queue q;
} fixture;

static void fx_start(fixture *fx, size_t n, int64_t deadline_ms)
{
    fx->conf = (lp_enrich_conf){.ttl_person_ms = 86400000, .ttl_company_ms = 86400000,
                                .ttl_negative_ms = 3600000, .deadline_ms = deadline_ms,
                                .linger_ms = 50, .providers = fx->pv, .nproviders = n,
                                .names = fx->names};
    for (size_t i = 0; i < n; i++)
        fx->names[i] = fx->pv[i].name;
    fx->dir = cache_dir_new();
    char err[256];
    assert_int_equal(lp_cache_open(fx->dir, NULL, &fx->cache, err, sizeof(err)), LP_OK);
    assert_int_equal(lp_enrich_svc_new(&fx->conf, fx->cache, &fx->svc), LP_OK);
    lp_park_queue_init(&fx->q);
}

static void fx_stop(fixture *fx)
{
    lp_enrich_svc_free(fx->svc);
    lp_park_queue_destroy(&fx->q);
    lp_cache_close(fx->cache);
    cache_dir_remove(fx->dir);
}

static void submit(fixture *fx, const char *email, const char *domain, int64_t deadline_ms)
{
    lp_record r;
    lp_record_init(&r);
    if (email)
        lp_lead_set_str(&r.lead, LP_F_EMAIL, email, strlen(email));
    if (domain)
        lp_lead_set_str(&r.lead, LP_F_DOMAIN, domain, strlen(domain));
    lp_parked *p = lp_park_detach(&r, NULL, now_ms() + deadline_ms);
    assert_non_null(p);
    lp_enrich_svc_submit(fx->svc, p, &fx->q, lp_lead_str(&p->rec.lead, LP_F_EMAIL),
                         lp_lead_str(&p->rec.lead, LP_F_DOMAIN));
}

/* Takes n answered records (each comes back exactly once). */
static size_t take(fixture *fx, lp_parked **out, size_t n)
{
    size_t got = 0;
    for (int spins = 0; got < n && spins < 200; spins++) {
        lp_parked *list = lp_park_queue_take(&fx->q, 100);
        while (list) {
            lp_parked *next = list->next;
            assert_true(got < n);
            out[got++] = list;
            list = next;
        }
    }
    return got;
}

static void free_all(lp_parked **ps, size_t n)
{
    for (size_t i = 0; i < n; i++)
        lp_parked_free(ps[i]);
}

static lp_str S(const char *s)
{
    return (lp_str){s, (uint32_t)strlen(s)};
}

static const lp_enrich_answer *answer(const lp_parked *p)
{
    return p->rec.park_result;
}

static void assert_field(const lp_lead *l, lp_field_id f, const char *want)
{
    assert_true(lp_lead_has(l, f));
    lp_str s = lp_lead_str(l, f);
    assert_int_equal(s.len, strlen(want));
    assert_memory_equal(s.ptr, want, s.len);
}

/* ---- tests ------------------------------------------------------------------- */

static void value_encoding_round_trips_every_type(void **state)
{
    (void)state;
    lp_lead l;
    lp_lead_clear(&l);
    lp_str tech[2] = {S("Go"), S("C")};
    lp_lead_set_str(&l, LP_F_INDUSTRY, "Software", 8);
    lp_lead_set_long(&l, LP_F_EMPLOYEES, 250);
    lp_lead_set_double(&l, LP_F_REVENUE, 1.5e7);
    l.v[LP_F_TECHNOLOGIES].list = tech;
    l.v[LP_F_TECHNOLOGIES].len = 2;
    l.present |= 1ull << LP_F_TECHNOLOGIES;
    lp_lead_set_str(&l, LP_F_EMAIL, "x@y.com", 7); /* not in the mask: not stored */
    lp_buf b;
    lp_buf_init(&b);
    assert_int_equal(lp_enrich_encode(&l, LP_ENRICH_COMPANY_FIELDS, &b), LP_OK);
    lp_arena a;
    lp_arena_init(&a, 0);
    lp_lead out;
    assert_int_equal(lp_enrich_decode((lp_str){b.data, (uint32_t)b.len}, &a, &out), LP_OK);
    assert_int_equal(out.present, l.present & LP_ENRICH_COMPANY_FIELDS);
    assert_field(&out, LP_F_INDUSTRY, "Software");
    assert_int_equal(out.v[LP_F_EMPLOYEES].i, 250);
    assert_true(out.v[LP_F_REVENUE].d == 1.5e7);
    assert_int_equal(out.v[LP_F_TECHNOLOGIES].len, 2);
    assert_memory_equal(out.v[LP_F_TECHNOLOGIES].list[1].ptr, "C", 1);
    /* truncated or versioned differently: a miss, never a misread */
    assert_int_equal(lp_enrich_decode((lp_str){b.data, (uint32_t)b.len - 1}, &a, &out),
                     LP_E_CACHE);
    b.data[0] = 9;
    assert_int_equal(lp_enrich_decode((lp_str){b.data, (uint32_t)b.len}, &a, &out), LP_E_CACHE);
    lp_buf_free(&b);
    lp_arena_free(&a);
}

/* ---- lp_enrich_merge against decode + fill (the reference) ------------------ */

/* True when fields f of a and b hold the same value (strings and lists by content). */
static bool same_val(lp_field_id f, const lp_val *a, const lp_val *b)
{
    switch (lp_fields[f].type) {
    case LP_T_STR:
        return a->len == b->len && (a->len == 0 || !memcmp(a->s, b->s, a->len));
    case LP_T_LIST:
        if (a->len != b->len)
            return false;
        for (uint32_t i = 0; i < a->len; i++)
            if (a->list[i].len != b->list[i].len ||
                (a->list[i].len && memcmp(a->list[i].ptr, b->list[i].ptr, a->list[i].len)))
                return false;
        return true;
    default:
        return a->i == b->i;
    }
}

/* The reference fill: copies the fields of found selected by mask that r's lead lacks. */
static int ref_fill(lp_record *r, const lp_lead *found, uint64_t mask, uint8_t src)
{
    uint64_t add = found->present & ~r->lead.present & mask;
    int n = 0;
    for (int f = 0; f < LP_F_COUNT; f++) {
        if (!((add >> f) & 1u))
            continue;
        r->lead.v[f] = found->v[f];
        r->field_src[f] = src;
        n++;
    }
    r->lead.present |= add;
    return n;
}

/* Checks that merge fills r exactly as decode + fill does, and returns what it returned. */
static int merge_matches_reference(lp_str value, const lp_record *r0, uint64_t mask)
{
    lp_arena a;
    lp_arena_init(&a, 0);
    lp_record *ref = calloc(1, sizeof(*ref)), *got = calloc(1, sizeof(*got));
    *ref = *r0;
    *got = *r0;
    lp_lead found;
    int nref = lp_enrich_decode(value, &a, &found) == LP_OK
                   ? ref_fill(ref, &found, mask, LP_SRC_CACHE) : -1;
    int n = lp_enrich_merge(value, &a, got, mask, LP_SRC_CACHE);
    assert_int_equal(got->lead.present, ref->lead.present);
    for (int f = 0; f < LP_F_COUNT; f++) {
        assert_int_equal(got->field_src[f], ref->field_src[f]);
        if (lp_lead_has(&ref->lead, (lp_field_id)f))
            assert_true(same_val((lp_field_id)f, &got->lead.v[f], &ref->lead.v[f]));
    }
    /* nothing wanted: merge does not read the value, so -1 becomes 0 */
    if (nref >= 0 || (mask & ~r0->lead.present))
        assert_int_equal(n, nref);
    else
        assert_int_equal(n, 0);
    free(ref);
    free(got);
    lp_arena_free(&a);
    return n;
}

/* A value with every type, non-ASCII and empty strings, lists with empty items. */
static void build_rich_value(lp_buf *b, char *long_str, size_t long_len)
{
    static lp_str tech[4] = {{"Go", 2}, {"", 0}, {"C\xc3\xa9\xe2\x82\xac", 6}, {"x", 1}};
    lp_lead l;
    lp_lead_clear(&l);
    memset(long_str, 'L', long_len);
    lp_lead_set_str(&l, LP_F_FIRST_NAME, "Zo\xc3\xab", 4);
    lp_lead_set_str(&l, LP_F_LAST_NAME, "", 0);
    lp_lead_set_str(&l, LP_F_TITLE, long_str, long_len);
    lp_lead_set_str(&l, LP_F_DOMAIN, "acme.com", 8);
    lp_lead_set_str(&l, LP_F_INDUSTRY, "Software", 8);
    lp_lead_set_long(&l, LP_F_EMPLOYEES, -7);
    lp_lead_set_double(&l, LP_F_REVENUE, 1.5e7);
    l.v[LP_F_TECHNOLOGIES].list = tech;
    l.v[LP_F_TECHNOLOGIES].len = 4;
    l.present |= 1ull << LP_F_TECHNOLOGIES;
    assert_int_equal(lp_enrich_encode(&l, LP_ENRICH_PERSON_FIELDS | LP_ENRICH_COMPANY_FIELDS, b),
                     LP_OK);
}

static void merge_fills_what_decode_and_fill_fill(void **state)
{
    (void)state;
    static char long_str[0xffff];
    lp_buf b;
    lp_buf_init(&b);
    build_rich_value(&b, long_str, sizeof(long_str));
    lp_str v = {b.data, (uint32_t)b.len};
    const uint64_t all = LP_ENRICH_PERSON_FIELDS | LP_ENRICH_COMPANY_FIELDS;
    lp_record *r = calloc(1, sizeof(*r));
    /* an empty lead takes everything; a full one nothing; input always wins */
    assert_int_equal(merge_matches_reference(v, r, all), 8);
    assert_int_equal(merge_matches_reference(v, r, LP_ENRICH_COMPANY_FIELDS), 5);
    assert_int_equal(merge_matches_reference(v, r, 0), 0);
    lp_lead_set_str(&r->lead, LP_F_TITLE, "CEO", 3);
    lp_lead_set_long(&r->lead, LP_F_EMPLOYEES, 12);
    assert_int_equal(merge_matches_reference(v, r, all), 6);
    r->lead.present |= all;
    assert_int_equal(merge_matches_reference(v, r, all), 0);
    /* every truncation is malformed: nothing is filled, whatever the lead lacks */
    lp_record *empty = calloc(1, sizeof(*empty));
    for (uint32_t len = 0; len < b.len; len += len < 64 ? 1 : 997)
        assert_int_equal(merge_matches_reference((lp_str){b.data, len}, empty, all), -1);
    /* trailing bytes and an unknown version are malformed too */
    assert_int_equal(lp_buf_append(&b, "", 1), 0);
    assert_int_equal(merge_matches_reference((lp_str){b.data, (uint32_t)b.len}, empty, all), -1);
    b.data[0] = 9;
    assert_int_equal(merge_matches_reference((lp_str){b.data, (uint32_t)b.len - 1}, empty, all),
                     -1);
    free(empty);
    free(r);
    lp_buf_free(&b);
}

static void merge_skips_unknown_and_retyped_fields_and_takes_the_last_repeat(void **state)
{
    (void)state;
    /* {v1, 5 fields}: industry as a long (retyped: dropped), field 99 (unknown: dropped),
       industry "A", industry "B" (the last wins), employees 3 */
    static const unsigned char raw[] = {
        1, 5,
        LP_F_INDUSTRY, LP_T_LONG, 1, 0, 0, 0, 0, 0, 0, 0,
        99, LP_T_STR, 1, 0, 'z',
        LP_F_INDUSTRY, LP_T_STR, 1, 0, 'A',
        LP_F_INDUSTRY, LP_T_STR, 1, 0, 'B',
        LP_F_EMPLOYEES, LP_T_LONG, 3, 0, 0, 0, 0, 0, 0, 0,
    };
    lp_record *r = calloc(1, sizeof(*r));
    lp_str v = {(const char *)raw, sizeof(raw)};
    assert_int_equal(merge_matches_reference(v, r, LP_ENRICH_COMPANY_FIELDS), 2);
    lp_arena a;
    lp_arena_init(&a, 0);
    assert_int_equal(lp_enrich_merge(v, &a, r, LP_ENRICH_COMPANY_FIELDS, LP_SRC_CACHE), 2);
    assert_field(&r->lead, LP_F_INDUSTRY, "B");
    assert_int_equal(r->lead.v[LP_F_EMPLOYEES].i, 3);
    assert_int_equal(r->field_src[LP_F_INDUSTRY], LP_SRC_CACHE);
    /* an unknown type byte is malformed */
    unsigned char bad[sizeof(raw)];
    memcpy(bad, raw, sizeof(raw));
    bad[3] = 0x7f;
    lp_record *e = calloc(1, sizeof(*e));
    assert_int_equal(merge_matches_reference((lp_str){(const char *)bad, sizeof(bad)}, e,
                                             LP_ENRICH_COMPANY_FIELDS), -1);
    lp_arena_free(&a);
    free(e);
    free(r);
}

static void misses_are_batched_to_the_bulk_size(void **state)
{
    (void)state;
    fixture fx = {.pv = {apollo()}};
    fx_start(&fx, 1, 10000);
    char emails[25][32];
    for (int i = 0; i < 25; i++) {
        snprintf(emails[i], sizeof(emails[i]), "%s%d@acme.com", i % 5 ? "known" : "nobody", i);
        submit(&fx, emails[i], NULL, 10000);
    }
    lp_parked *ps[25];
    assert_int_equal(take(&fx, ps, 25), 25);
    assert_int_equal(atomic_load(&srv.people_requests), 3); /* 10 + 10 + 5 */
    assert_int_equal(atomic_load(&srv.max_bulk), 10);
    int matched = 0;
    for (int i = 0; i < 25; i++) {
        assert_int_equal(ps[i]->rec.park_status, LP_OK);
        const lp_enrich_answer *ans = answer(ps[i]);
        if (!lp_lead_has(&ans->found, LP_F_TITLE))
            continue;
        matched++;
        assert_field(&ans->found, LP_F_TITLE, "VP Sales");
        assert_field(&ans->found, LP_F_DEPARTMENT, "sales");
        assert_field(&ans->found, LP_F_INDUSTRY, "Software");
        assert_int_equal(ans->found.v[LP_F_EMPLOYEES].i, 250);
        assert_int_equal(ans->src[LP_F_TITLE], LP_SRC_PROVIDER + 0);
    }
    assert_int_equal(matched, 20);
    lp_provider_stats st;
    lp_enrich_svc_stats(fx.svc, 0, &st);
    assert_int_equal(st.requests, 3);
    assert_int_equal(st.matches, 20);
    assert_int_equal(st.misses, 5);
    assert_int_equal(st.credits, 20);
    /* a matched person is cached with its company; a miss is negative-cached */
    lp_str v;
    bool neg;
    assert_int_equal(lp_cache_get(fx.cache, "person", S("known1@acme.com"), now_ms(), &v, &neg),
                     LP_OK);
    assert_false(neg);
    assert_int_equal(lp_cache_get(fx.cache, "company", S("acme.com"), now_ms(), &v, &neg), LP_OK);
    assert_int_equal(lp_cache_get(fx.cache, "person", S("nobody0@acme.com"), now_ms(), &v, &neg),
                     LP_OK);
    assert_true(neg);
    free_all(ps, 25);
    fx_stop(&fx);
}

static void concurrent_misses_for_one_key_make_one_request(void **state)
{
    (void)state;
    fixture fx = {.pv = {companies("co")}};
    fx.pv[0].concurrency = 1;
    atomic_store(&srv.mode, CO_SLOW); /* keeps the first request in the air */
    fx_start(&fx, 1, 10000);
    for (int i = 0; i < 20; i++)
        submit(&fx, NULL, "acme.com", 10000);
    lp_parked *ps[20];
    assert_int_equal(take(&fx, ps, 20), 20);
    assert_int_equal(atomic_load(&srv.company_requests), 1);
    for (int i = 0; i < 20; i++) {
        assert_int_equal(ps[i]->rec.park_status, LP_OK);
        assert_field(&answer(ps[i])->found, LP_F_INDUSTRY, "Software");
    }
    free_all(ps, 20);
    fx_stop(&fx);
}

static void requests_never_exceed_the_rate_limit(void **state)
{
    (void)state;
    fixture fx = {.pv = {companies("co")}};
    fx.pv[0].per_minute = 3;
    fx_start(&fx, 1, 400);
    char d[10][32];
    for (int i = 0; i < 10; i++) {
        snprintf(d[i], sizeof(d[i]), "d%d.com", i);
        submit(&fx, NULL, d[i], 400);
    }
    lp_parked *ps[10];
    assert_int_equal(take(&fx, ps, 10), 10); /* every lead back: nothing lost */
    assert_int_equal(atomic_load(&srv.company_requests), 3);
    int degraded = 0;
    for (int i = 0; i < 10; i++)
        degraded += ps[i]->rec.park_status == LP_E_HTTP;
    assert_int_equal(degraded, 7);
    free_all(ps, 10);
    fx_stop(&fx);
}

static void breaker_opens_after_consecutive_failures(void **state)
{
    (void)state;
    fixture fx = {.pv = {companies("co")}};
    fx.pv[0].concurrency = 1;
    fx.pv[0].breaker_failures = 2;
    atomic_store(&srv.mode, CO_500);
    fx_start(&fx, 1, 10000);
    char d[6][32];
    for (int i = 0; i < 6; i++) {
        snprintf(d[i], sizeof(d[i]), "d%d.com", i);
        submit(&fx, NULL, d[i], 10000);
    }
    lp_parked *ps[6];
    assert_int_equal(take(&fx, ps, 6), 6);
    assert_int_equal(atomic_load(&srv.company_requests), 2);
    lp_provider_stats st;
    lp_enrich_svc_stats(fx.svc, 0, &st);
    assert_int_equal(st.breaker_opens, 1);
    for (int i = 0; i < 6; i++)
        assert_int_equal(ps[i]->rec.park_status, LP_E_HTTP);
    /* a failure is not a confident miss: nothing negative-cached */
    lp_str v;
    bool neg;
    assert_int_equal(lp_cache_get(fx.cache, "company", S("d0.com"), now_ms(), &v, &neg), LP_E_EOF);
    free_all(ps, 6);
    fx_stop(&fx);
}

static void waterfall_tries_the_next_provider_on_no_match(void **state)
{
    (void)state;
    fixture fx = {.pv = {companies("first"), companies("second")}};
    snprintf(urls[2], sizeof(urls[2]), "%s/nowhere/{domain}", srv.url); /* 404: no match */
    fx.pv[0].url = urls[2];
    fx_start(&fx, 2, 10000);
    submit(&fx, NULL, "acme.com", 10000);
    submit(&fx, NULL, "unknown.com", 10000);
    lp_parked *ps[2];
    assert_int_equal(take(&fx, ps, 2), 2);
    lp_parked *hit = lp_lead_has(&answer(ps[0])->found, LP_F_INDUSTRY) ? ps[0] : ps[1];
    lp_parked *miss = hit == ps[0] ? ps[1] : ps[0];
    assert_int_equal(answer(hit)->src[LP_F_INDUSTRY], LP_SRC_PROVIDER + 1);
    assert_int_equal(miss->rec.park_status, LP_OK);
    assert_int_equal(answer(miss)->found.present, 0);
    lp_provider_stats st;
    lp_enrich_svc_stats(fx.svc, 0, &st);
    assert_int_equal(st.misses, 2);
    /* every provider missed: negative entry, and the next ask makes no request */
    lp_str v;
    bool neg;
    assert_int_equal(lp_cache_get(fx.cache, "company", S("unknown.com"), now_ms(), &v, &neg),
                     LP_OK);
    assert_true(neg);
    int before = atomic_load(&srv.company_requests);
    submit(&fx, NULL, "unknown.com", 10000);
    lp_parked *again;
    assert_int_equal(take(&fx, &again, 1), 1);
    assert_int_equal(atomic_load(&srv.company_requests), before);
    free_all(ps, 2);
    lp_parked_free(again);
    fx_stop(&fx);
}

static void retry_after_on_429_is_honoured(void **state)
{
    (void)state;
    fixture fx = {.pv = {companies("co")}};
    fx.pv[0].retries = 2;
    atomic_store(&srv.mode, CO_429_ONCE);
    fx_start(&fx, 1, 10000);
    submit(&fx, NULL, "acme.com", 10000);
    lp_parked *p;
    assert_int_equal(take(&fx, &p, 1), 1);
    assert_int_equal(p->rec.park_status, LP_OK);
    assert_field(&answer(p)->found, LP_F_INDUSTRY, "Software");
    assert_int_equal(atomic_load(&srv.company_requests), 2);
    assert_true(srv.last_ms - srv.first_ms >= 1000); /* waited as told, not the 10ms backoff */
    lp_provider_stats st;
    lp_enrich_svc_stats(fx.svc, 0, &st);
    assert_int_equal(st.throttled, 1);
    lp_parked_free(p);
    fx_stop(&fx);
}

static void malformed_json_is_retried_then_degrades(void **state)
{
    (void)state;
    fixture fx = {.pv = {companies("co")}};
    fx.pv[0].retries = 1;
    atomic_store(&srv.mode, CO_BAD_JSON);
    fx_start(&fx, 1, 10000);
    submit(&fx, NULL, "acme.com", 10000);
    lp_parked *p;
    assert_int_equal(take(&fx, &p, 1), 1);
    assert_int_equal(p->rec.park_status, LP_E_HTTP);
    assert_int_equal(answer(p)->found.present, 0);
    assert_int_equal(atomic_load(&srv.company_requests), 2);
    lp_parked_free(p);
    fx_stop(&fx);
}

static void slow_answer_degrades_at_the_deadline_and_still_fills_the_cache(void **state)
{
    (void)state;
    fixture fx = {.pv = {companies("co")}};
    atomic_store(&srv.mode, CO_SLOW);
    fx_start(&fx, 1, 100);
    submit(&fx, NULL, "acme.com", 100);
    lp_parked *p;
    assert_int_equal(take(&fx, &p, 1), 1);
    assert_int_equal(p->rec.park_status, LP_E_HTTP);
    lp_provider_stats st = {0};
    for (int i = 0; i < 100 && st.matches == 0; i++) {
        usleep(20 * 1000);
        lp_enrich_svc_stats(fx.svc, 0, &st);
    }
    lp_str v;
    bool neg;
    assert_int_equal(lp_cache_get(fx.cache, "company", S("acme.com"), now_ms(), &v, &neg), LP_OK);
    lp_parked_free(p);
    fx_stop(&fx);
}

static void partial_bulk_answer_misses_the_absent_keys(void **state)
{
    (void)state;
    fixture fx = {.pv = {apollo()}};
    fx_start(&fx, 1, 10000);
    submit(&fx, "known1@acme.com", NULL, 10000);
    submit(&fx, "partial1@acme.com", NULL, 10000);
    submit(&fx, "known2@acme.com", NULL, 10000);
    lp_parked *ps[3];
    assert_int_equal(take(&fx, ps, 3), 3);
    int with = 0;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ps[i]->rec.park_status, LP_OK);
        lp_str e = lp_lead_str(&ps[i]->rec.lead, LP_F_EMAIL);
        bool known = !memcmp(e.ptr, "known", 5);
        assert_int_equal(lp_lead_has(&answer(ps[i])->found, LP_F_TITLE), known);
        with += known;
    }
    assert_int_equal(with, 2);
    assert_int_equal(atomic_load(&srv.people_requests), 1);
    free_all(ps, 3);
    fx_stop(&fx);
}

static void outage_answers_every_lead_exactly_once(void **state)
{
    (void)state;
    fixture fx = {.pv = {companies("co")}};
    snprintf(urls[3], sizeof(urls[3]), "http://127.0.0.1:1/companies/{domain}");
    fx.pv[0].url = urls[3];
    fx.pv[0].retries = 1;
    fx_start(&fx, 1, 2000);
    char d[50][32];
    for (int i = 0; i < 50; i++) {
        snprintf(d[i], sizeof(d[i]), "d%d.com", i % 30);
        submit(&fx, NULL, d[i], 2000);
    }
    lp_parked *ps[50];
    assert_int_equal(take(&fx, ps, 50), 50);
    for (int i = 0; i < 50; i++)
        assert_int_equal(ps[i]->rec.park_status, LP_E_HTTP);
    assert_null(lp_park_queue_take(&fx.q, 0)); /* and nothing twice */
    free_all(ps, 50);
    fx_stop(&fx);
}

static lp_pipeline *load_yaml(const char *text)
{
    char path[] = "/tmp/lp_enrich_pipelineXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    lp_pipeline *pl = NULL;
    int nerr = 0;
    assert_int_equal(lp_pipeline_load(path, stderr, &pl, &nerr), LP_OK);
    unlink(path);
    return pl;
}

static void stage_fills_only_missing_fields_from_the_cache(void **state)
{
    (void)state;
    char *dir = cache_dir_new();
    char err[256], yaml[512];
    lp_cache *c;
    assert_int_equal(lp_cache_open(dir, NULL, &c, err, sizeof(err)), LP_OK);
    lp_lead l;
    lp_lead_clear(&l);
    lp_lead_set_str(&l, LP_F_INDUSTRY, "Software", 8);
    lp_lead_set_long(&l, LP_F_EMPLOYEES, 250);
    lp_buf b;
    lp_buf_init(&b);
    lp_enrich_encode(&l, LP_ENRICH_COMPANY_FIELDS, &b);
    lp_cache_entry e = {S("acme.com"), {b.data, (uint32_t)b.len}, now_ms(), 0, false};
    assert_int_equal(lp_cache_put(c, "company", &e, 1), LP_OK);
    lp_cache_close(c);
    lp_buf_free(&b);
    snprintf(yaml, sizeof(yaml),
             "pipeline: {name: t}\nenrich:\n  cache: %s\n  providers:\n"
             "    - {name: co, preset: company_json, url: \"http://127.0.0.1:1/{domain}\"}\n",
             dir);
    lp_pipeline *pl = load_yaml(yaml);
    lp_worker *w = lp_worker_new(pl);
    lp_record r;
    lp_record_init(&r);
    lp_lead_set_str(&r.lead, LP_F_DOMAIN, "acme.com", 8);
    lp_lead_set_str(&r.lead, LP_F_INDUSTRY, "Retail", 6); /* the input wins */
    assert_true(lp_pipeline_run_stage(pl, w, &r, LP_STAGE_ENRICH));
    assert_field(&r.lead, LP_F_INDUSTRY, "Retail");
    assert_int_equal(r.field_src[LP_F_INDUSTRY], LP_SRC_INPUT);
    assert_int_equal(r.lead.v[LP_F_EMPLOYEES].i, 250);
    assert_int_equal(r.field_src[LP_F_EMPLOYEES], LP_SRC_CACHE);
    assert_int_equal(r.enrich_status, LP_AUX_CACHED);
    /* a miss parks with a deadline; the answer is applied on resume */
    lp_record m;
    lp_record_init(&m);
    lp_lead_set_str(&m.lead, LP_F_DOMAIN, "other.com", 9);
    lp_lead_set_str(&m.lead, LP_F_EMAIL, "a@other.com", 11);
    int64_t before = now_ms();
    m.next_stage = LP_STAGE_ENRICH;
    assert_int_equal(lp_pipeline_process(pl, w, &m), LP_E_PARK);
    assert_true(m.park_deadline_ms >= before + 2000);
    lp_enrich_answer ans = {0};
    lp_lead_set_str(&ans.found, LP_F_INDUSTRY, "Finance", 7);
    ans.src[LP_F_INDUSTRY] = LP_SRC_PROVIDER;
    m.park_result = &ans;
    assert_true(lp_pipeline_run_stage(pl, w, &m, LP_STAGE_ENRICH));
    assert_null(m.park_result);
    assert_field(&m.lead, LP_F_INDUSTRY, "Finance");
    assert_int_equal(m.field_src[LP_F_INDUSTRY], LP_SRC_PROVIDER);
    assert_string_equal(m.src_names[0], "co");
    assert_int_equal(m.enrich_status, LP_AUX_USED);
    /* a failed answer: degraded, and the lead goes on */
    m.park_status = LP_E_HTTP;
    assert_true(lp_pipeline_run_stage(pl, w, &m, LP_STAGE_ENRICH));
    assert_int_equal(m.enrich_status, LP_AUX_DEGRADED);
    assert_int_equal(m.park_status, LP_OK);
    lp_worker_free(w);
    lp_pipeline_free(pl);
    cache_dir_remove(dir);
}

static void stage_without_section_is_skipped(void **state)
{
    (void)state;
    lp_pipeline *pl = load_yaml("pipeline: {name: t}\n");
    lp_worker *w = lp_worker_new(pl);
    lp_record r;
    lp_record_init(&r);
    lp_lead_set_str(&r.lead, LP_F_DOMAIN, "acme.com", 8);
    assert_true(lp_pipeline_run_stage(pl, w, &r, LP_STAGE_ENRICH));
    assert_int_equal(r.enrich_status, LP_AUX_SKIPPED);
    assert_int_equal(r.lead.present, 1ull << LP_F_DOMAIN);
    lp_worker_free(w);
    lp_pipeline_free(pl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(value_encoding_round_trips_every_type),
        cmocka_unit_test(merge_fills_what_decode_and_fill_fill),
        cmocka_unit_test(merge_skips_unknown_and_retyped_fields_and_takes_the_last_repeat),
        cmocka_unit_test_setup(misses_are_batched_to_the_bulk_size, reset),
        cmocka_unit_test_setup(concurrent_misses_for_one_key_make_one_request, reset),
        cmocka_unit_test_setup(requests_never_exceed_the_rate_limit, reset),
        cmocka_unit_test_setup(breaker_opens_after_consecutive_failures, reset),
        cmocka_unit_test_setup(waterfall_tries_the_next_provider_on_no_match, reset),
        cmocka_unit_test_setup(retry_after_on_429_is_honoured, reset),
        cmocka_unit_test_setup(malformed_json_is_retried_then_degrades, reset),
        cmocka_unit_test_setup(slow_answer_degrades_at_the_deadline_and_still_fills_the_cache,
                               reset),
        cmocka_unit_test_setup(partial_bulk_answer_misses_the_absent_keys, reset),
        cmocka_unit_test_setup(outage_answers_every_lead_exactly_once, reset),
        cmocka_unit_test(stage_fills_only_missing_fields_from_the_cache),
        cmocka_unit_test(stage_without_section_is_skipped),
    };
    return cmocka_run_group_tests(tests, server_up, server_down);
}
