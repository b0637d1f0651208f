/*
 * leadgen.c - deterministic synthetic leads; see leadgen.h for the contract.
 *
 * Three random streams, all xoshiro256** seeded through splitmix64:
 *   - the company stream builds the company pool once, in lp_leadgen_new();
 *   - the main stream decides everything per lead (duplicate or not, defect,
 *     timestamps, engagement, campaign, consent);
 *   - a person stream, reseeded from a 64-bit person seed for every lead,
 *     draws the person (company, name, title, email, phone, LinkedIn). A
 *     duplicate replays an earlier person seed from a ring, so the same
 *     person comes back without the generator keeping any strings.
 * Decisions are drawn in a fixed order and only with integer arithmetic, so
 * the output depends on nothing but the options.
 *
 * Ownership: everything built at creation (company names, domains, websites,
 * technology lists, name slugs, weight tables) lives in g->mem, an arena
 * freed with the generator. Per-lead strings go to the caller's arena.
 *
 * Threads: none; one generator per thread.
 */
#include "leadgen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gendata.h"

#define LG_COMPANIES 4096u /* size of the company pool */
#define LG_RING 8192u      /* persons remembered for duplicates */
#define LG_DAY_MS 86400000LL

/* ---------------------------------------------------------------- random */

typedef struct lg_rng {
    uint64_t s[4];
} lg_rng;

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void rng_seed(lg_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

/* xoshiro256** 1.0 */
static inline uint64_t rng_next(lg_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* A number in [0, n), n < 2^32 (multiply-shift; bias below 2^-32 * n). */
static inline uint32_t below(lg_rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/* True with probability pct/100. */
static inline bool chance(lg_rng *r, uint32_t pct)
{
    return below(r, 100) < pct;
}

/* A number in [lo, hi] leaning towards lo: the long tail of sizes and counts. */
static inline uint32_t skewed(lg_rng *r, uint32_t lo, uint32_t hi)
{
    return lo + below(r, below(r, hi - lo + 1) + 1);
}

/* ----------------------------------------------------------- weight tables */

typedef struct lg_wtab {
    uint32_t n;
    uint32_t total;
    uint32_t *cum; /* cum[i] = sum of weights 0..i */
} lg_wtab;

/* Builds a table from n weights read at stride bytes apart. */
static bool wtab_build(lg_wtab *t, lp_arena *a, const void *first, size_t stride, size_t off,
                       uint32_t n)
{
    t->cum = lp_arena_alloc(a, n * sizeof(uint32_t));
    if (!t->cum)
        return false;
    uint32_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint16_t w;
        memcpy(&w, (const char *)first + i * stride + off, sizeof(w));
        sum += w;
        t->cum[i] = sum;
    }
    t->n = n;
    t->total = sum;
    return sum > 0;
}

/* Draws an index with probability proportional to its weight. */
static uint32_t wtab_pick(const lg_wtab *t, lg_rng *r)
{
    uint32_t x = below(r, t->total), lo = 0, hi = t->n - 1;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (t->cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* ------------------------------------------------------------ generator */

typedef struct lg_names {
    uint32_t n;
    const lp_gendata_name *tab;
    lp_str *slug; /* ASCII form for emails and URLs */
} lg_names;

typedef struct lg_country {
    const lp_gendata_country *def;
    lg_wtab regions;
    lg_wtab cultures;
    uint32_t nphones, nmail, nlegal;
} lg_country;

typedef struct lg_company {
    lp_str name, domain, website, industry, country, region, city;
    const lp_str *tech;
    uint32_t ntech;
    int64_t employees; /* 0: unknown */
    int64_t revenue;   /* USD; 0: unknown */
    uint16_t ctry;     /* index into g->countries */
} lg_company;

typedef struct lg_titles {
    uint32_t n;
    lp_str *v;
} lg_titles;

struct lp_leadgen {
    lg_rng main;
    lg_rng person;
    lp_leadgen_opts opts;
    uint32_t dup_thr, invalid_thr; /* probabilities scaled to 2^32 */
    uint64_t index;
    int64_t clock_ms;
    uint64_t id_key;

    lp_arena mem;
    lg_company *companies;
    lg_country *countries;
    uint32_t ncountries;
    lg_names fnames[32], lnames[32]; /* per culture */
    lg_titles titles[16][LP_GL_COUNT];
    uint32_t ndepts;
    lg_wtab w_country, w_industry, w_tech, w_campaign, w_freemail, w_dept, w_level;
    lp_str *tech_slugs;

    uint64_t ring_seed[LG_RING];
    uint64_t ring_index[LG_RING];
    uint32_t ring_len;

    lp_leadgen_info last;
};

/* The person drawn from a person seed: everything but the email's mutation. */
typedef struct lg_person {
    const lg_company *co;
    lp_str first, last;
    const char *seniority;
    lp_str department, title;
    lp_str fslug, lslug;
    bool free_mail;
} lg_person;

void lp_leadgen_opts_init(lp_leadgen_opts *o)
{
    o->seed = 1;
    o->dup_rate = 0.03;
    o->invalid_rate = 0.02;
    o->base_ms = LP_LEADGEN_BASE_MS_DEFAULT;
}

/* ----------------------------------------------------------- small strings */

static lp_str str_of(const char *s)
{
    return (lp_str){s, (uint32_t)strlen(s)};
}

/* Lower-case ASCII letters and digits of s, into the arena (names, domains). */
static lp_str slugify(lp_arena *a, const char *s)
{
    size_t n = strlen(s), k = 0;
    char *p = lp_arena_alloc(a, n + 1);
    if (!p)
        return (lp_str){"", 0};
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            p[k++] = (char)(c - 'A' + 'a');
        else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
            p[k++] = c;
    }
    p[k] = '\0';
    return (lp_str){p, (uint32_t)k};
}

/* Concatenates up to four strings into the arena, NUL-terminated. */
static lp_str concat(lp_arena *a, lp_str x, lp_str y, lp_str z, lp_str w)
{
    size_t n = (size_t)x.len + y.len + z.len + w.len;
    char *p = lp_arena_alloc(a, n + 1);
    if (!p)
        return (lp_str){"", 0};
    char *q = p;
    memcpy(q, x.ptr, x.len), q += x.len;
    memcpy(q, y.ptr, y.len), q += y.len;
    memcpy(q, z.ptr, z.len), q += z.len;
    memcpy(q, w.ptr, w.len), q += w.len;
    *q = '\0';
    return (lp_str){p, (uint32_t)n};
}

static const lp_str EMPTY = {"", 0};

/* ------------------------------------------------------------ table setup */

static bool setup_names(lp_leadgen *g, lg_names *dst, const lp_gendata_name *tab)
{
    uint32_t n = 0;
    while (tab[n].latin)
        n++;
    dst->n = n;
    dst->tab = tab;
    dst->slug = lp_arena_alloc(&g->mem, n * sizeof(lp_str));
    if (!dst->slug)
        return false;
    for (uint32_t i = 0; i < n; i++)
        dst->slug[i] = tab[i].slug ? str_of(tab[i].slug) : slugify(&g->mem, tab[i].latin);
    return true;
}

/* Splits "a|b|c" into zero-copy slices of the static title string. */
static bool setup_titles(lp_leadgen *g, lg_titles *t, const char *spec)
{
    t->n = 0;
    if (!spec)
        return true;
    uint32_t n = 1;
    for (const char *p = spec; *p; p++)
        n += *p == '|';
    t->v = lp_arena_alloc(&g->mem, n * sizeof(lp_str));
    if (!t->v)
        return false;
    const char *start = spec;
    for (const char *p = spec;; p++) {
        if (*p == '|' || *p == '\0') {
            t->v[t->n++] = (lp_str){start, (uint32_t)(p - start)};
            start = p + 1;
        }
        if (!*p)
            break;
    }
    return true;
}

static bool setup_country(lp_leadgen *g, lg_country *c, const lp_gendata_country *def)
{
    uint32_t nreg = 0, ncul = 0;
    while (def->regions[nreg].name)
        nreg++;
    while (def->cultures[ncul].weight)
        ncul++;
    c->def = def;
    c->nphones = (uint32_t)lp_gendata_count(def->phones);
    c->nmail = (uint32_t)lp_gendata_count(def->mail);
    c->nlegal = (uint32_t)lp_gendata_count(def->legal);
    return wtab_build(&c->regions, &g->mem, def->regions, sizeof(*def->regions),
                      offsetof(lp_gendata_region, weight), nreg) &&
           wtab_build(&c->cultures, &g->mem, def->cultures, sizeof(*def->cultures),
                      offsetof(lp_gendata_mix, weight), ncul);
}

static bool setup_countries(lp_leadgen *g)
{
    uint32_t n = 0;
    while (lp_gendata_countries[n].code)
        n++;
    g->ncountries = n;
    g->countries = lp_arena_alloc(&g->mem, n * sizeof(lg_country));
    if (!g->countries)
        return false;
    for (uint32_t i = 0; i < n; i++)
        if (!setup_country(g, &g->countries[i], &lp_gendata_countries[i]))
            return false;
    return wtab_build(&g->w_country, &g->mem, lp_gendata_countries, sizeof(lp_gendata_country),
                      offsetof(lp_gendata_country, weight), n);
}

static bool setup_people(lp_leadgen *g)
{
    for (uint32_t i = 0; lp_gendata_cultures[i].id; i++) {
        if (i >= 32)
            return false;
        if (!setup_names(g, &g->fnames[i], lp_gendata_cultures[i].first) ||
            !setup_names(g, &g->lnames[i], lp_gendata_cultures[i].last))
            return false;
    }
    uint32_t nd = 0;
    for (; lp_gendata_departments[nd].name; nd++) {
        if (nd >= 16)
            return false;
        for (int lv = 0; lv < LP_GL_COUNT; lv++)
            if (!setup_titles(g, &g->titles[nd][lv], lp_gendata_departments[nd].titles[lv]))
                return false;
    }
    g->ndepts = nd;
    return wtab_build(&g->w_dept, &g->mem, lp_gendata_departments, sizeof(lp_gendata_department),
                      offsetof(lp_gendata_department, weight), nd) &&
           wtab_build(&g->w_level, &g->mem, lp_gendata_seniority_weights, sizeof(uint16_t), 0,
                      LP_GL_COUNT);
}

static uint32_t count_until_null(const void *first, size_t stride)
{
    uint32_t n = 0;
    for (const char *p = first; *(const char *const *)p; p += stride)
        n++;
    return n;
}

static bool setup_misc(lp_leadgen *g)
{
    uint32_t nind = count_until_null(lp_gendata_industries, sizeof(lp_gendata_industry));
    uint32_t ntech = count_until_null(lp_gendata_techs, sizeof(lp_gendata_tech));
    uint32_t ncamp = count_until_null(lp_gendata_campaigns, sizeof(lp_gendata_campaign));
    uint32_t nmail = (uint32_t)lp_gendata_count(lp_gendata_free_mail);
    g->tech_slugs = lp_arena_alloc(&g->mem, ntech * sizeof(lp_str));
    if (!g->tech_slugs)
        return false;
    for (uint32_t i = 0; i < ntech; i++)
        g->tech_slugs[i] = str_of(lp_gendata_techs[i].slug);
    return wtab_build(&g->w_industry, &g->mem, lp_gendata_industries, sizeof(lp_gendata_industry),
                      offsetof(lp_gendata_industry, weight), nind) &&
           wtab_build(&g->w_tech, &g->mem, lp_gendata_techs, sizeof(lp_gendata_tech),
                      offsetof(lp_gendata_tech, weight), ntech) &&
           wtab_build(&g->w_campaign, &g->mem, lp_gendata_campaigns, sizeof(lp_gendata_campaign),
                      offsetof(lp_gendata_campaign, weight), ncamp) &&
           wtab_build(&g->w_freemail, &g->mem, lp_gendata_free_mail_weights, sizeof(uint16_t), 0,
                      nmail);
}

/* ------------------------------------------------------------- companies */

/* Employee count on a long tail: most companies have 1-200 people. */
static int64_t draw_employees(lg_rng *r)
{
    static const struct {
        uint16_t weight;
        uint32_t lo, hi;
    } buckets[] = {
        {300, 1, 10},       {280, 11, 50},       {200, 51, 200},    {90, 201, 500},
        {50, 501, 1000},    {45, 1001, 5000},    {15, 5001, 10000}, {12, 10001, 25000},
        {6, 25001, 100000}, {2, 100001, 300000},
    };
    uint32_t total = 0, x;
    for (size_t i = 0; i < sizeof(buckets) / sizeof(buckets[0]); i++)
        total += buckets[i].weight;
    x = below(r, total);
    for (size_t i = 0;; i++) {
        if (x < buckets[i].weight)
            return skewed(r, buckets[i].lo, buckets[i].hi);
        x -= buckets[i].weight;
    }
}

/* Revenue from size: employees x the industry's revenue per head x 0.5..1.5,
 * rounded to two significant digits. Integer arithmetic only. */
static int64_t draw_revenue(lg_rng *r, int64_t employees, uint32_t per_emp_k)
{
    uint64_t v = (uint64_t)employees * per_emp_k * (50 + below(r, 101)) * 10;
    uint64_t unit = 1;
    while (v / unit >= 100)
        unit *= 10;
    return (int64_t)((v + unit / 2) / unit * unit);
}

/* Picks technologies without repeats; bigger companies run more of them. */
static void draw_techs(lp_leadgen *g, lg_rng *r, lg_company *c)
{
    uint32_t want = c->employees <= 10     ? below(r, 4)
                    : c->employees <= 200  ? 1 + below(r, 6)
                    : c->employees <= 5000 ? 3 + below(r, 7)
                                           : 5 + below(r, 8);
    lp_str *v = lp_arena_alloc(&g->mem, (want ? want : 1) * sizeof(lp_str));
    c->tech = v;
    c->ntech = 0;
    if (!v)
        return;
    for (uint32_t tries = 0; c->ntech < want && tries < 4 * want; tries++) {
        lp_str t = g->tech_slugs[wtab_pick(&g->w_tech, r)];
        bool dup = false;
        for (uint32_t i = 0; i < c->ntech; i++)
            dup |= v[i].ptr == t.ptr;
        if (!dup)
            v[c->ntech++] = t;
    }
}

/* Company name and its domain's core: "Northwind Analytics" / "northwindanalytics". */
static void draw_company_name(lp_leadgen *g, lg_rng *r, const lg_country *ctry,
                              const lp_gendata_industry *ind, lp_str *name, lp_str *core)
{
    const char *noun = ind->nouns[below(r, (uint32_t)lp_gendata_count(ind->nouns))];
    const char *legal = ctry->def->legal[below(r, ctry->nlegal)];
    lp_str word;
    bool with_noun = chance(r, 55);
    if (chance(r, 20)) {
        /* a founder's family name: "Schäfer Logistics GmbH" */
        uint32_t cul = ctry->def->cultures[wtab_pick(&ctry->cultures, r)].culture;
        const lg_names *ln = &g->lnames[cul];
        uint32_t k = below(r, ln->n);
        word = str_of(ln->tab[k].latin);
        with_noun = true;
    } else {
        const char *head = lp_gendata_name_heads[below(r, 64)];
        const char *tail = lp_gendata_name_tails[below(r, 24)];
        word = concat(&g->mem, str_of(head), str_of(tail), EMPTY, EMPTY);
    }
    lp_str sp = with_noun ? LP_STR_LIT(" ") : EMPTY;
    lp_str nn = with_noun ? str_of(noun) : EMPTY;
    *name = concat(&g->mem, word, sp, nn, str_of(legal));
    lp_str base = concat(&g->mem, word, chance(r, 50) ? nn : EMPTY, EMPTY, EMPTY);
    *core = slugify(&g->mem, base.ptr);
}

/* A domain suffix: the national one or .com, and .io/.ai for some software. */
static lp_str draw_tld(lg_rng *r, const lg_country *ctry, const lp_gendata_industry *ind)
{
    bool tech = ind->rev_per_emp_k >= 250 && ind->salesforce[0] == 'T';
    uint32_t x = below(r, 100);
    if (tech && x < 12)
        return LP_STR_LIT(".io");
    if (tech && x < 17)
        return LP_STR_LIT(".ai");
    if (strcmp(ctry->def->tld, ".com") != 0 && x < 70)
        return str_of(ctry->def->tld);
    return LP_STR_LIT(".com");
}

/* Open-addressing set of domain hashes, to keep domains unique in the pool. */
static bool domain_claim(uint64_t *set, uint32_t cap, lp_str d)
{
    uint64_t h = 1469598103934665603ull;
    for (uint32_t i = 0; i < d.len; i++)
        h = (h ^ (uint8_t)d.ptr[i]) * 1099511628211ull;
    h |= 1;
    for (uint32_t i = (uint32_t)h & (cap - 1);; i = (i + 1) & (cap - 1)) {
        if (set[i] == h)
            return false;
        if (!set[i]) {
            set[i] = h;
            return true;
        }
    }
}

static void draw_domain(lp_leadgen *g, lg_rng *r, lg_company *c, lp_str core, lp_str tld,
                        uint64_t *set)
{
    static const char *const prefixes[] = {"", "get", "try", "use", "go", "hello", "join"};
    for (uint32_t attempt = 0;; attempt++) {
        lp_str pre = str_of(prefixes[attempt % 7]);
        char digits[12] = "";
        if (attempt >= 7)
            snprintf(digits, sizeof(digits), "%u", attempt);
        lp_str num = concat(&g->mem, str_of(digits), EMPTY, EMPTY, EMPTY);
        c->domain = concat(&g->mem, pre, core, num, tld);
        if (domain_claim(set, 2 * LG_COMPANIES, c->domain))
            break;
    }
    static const char *const schemes[] = {"https://www.", "https://www.", "https://www.",
                                          "http://www.", "https://"};
    c->website = concat(&g->mem, str_of(schemes[below(r, 5)]), c->domain, EMPTY, EMPTY);
}

static void draw_company(lp_leadgen *g, lg_rng *r, lg_company *c, uint64_t *set)
{
    c->ctry = (uint16_t)wtab_pick(&g->w_country, r);
    const lg_country *ctry = &g->countries[c->ctry];
    const lp_gendata_region *reg = &ctry->def->regions[wtab_pick(&ctry->regions, r)];
    const lp_gendata_industry *ind = &lp_gendata_industries[wtab_pick(&g->w_industry, r)];
    lp_str core;
    c->country = str_of(ctry->def->code);
    c->region = str_of(reg->name);
    c->city = str_of(reg->cities[below(r, (uint32_t)lp_gendata_count(reg->cities))]);
    c->industry = str_of(ind->name);
    c->employees = draw_employees(r);
    c->revenue = draw_revenue(r, c->employees, ind->rev_per_emp_k);
    draw_company_name(g, r, ctry, ind, &c->name, &core);
    draw_domain(g, r, c, core, draw_tld(r, ctry, ind), set);
    draw_techs(g, r, c);
    if (chance(r, 5))
        c->employees = 0;
    if (chance(r, 22))
        c->revenue = 0;
}

static bool setup_companies(lp_leadgen *g)
{
    lg_rng r;
    rng_seed(&r, g->opts.seed ^ 0xC0FFEE5EED5ull);
    g->companies = lp_arena_alloc(&g->mem, LG_COMPANIES * sizeof(lg_company));
    uint64_t *set = calloc(2 * LG_COMPANIES, sizeof(uint64_t));
    if (!g->companies || !set) {
        free(set);
        return false;
    }
    for (uint32_t i = 0; i < LG_COMPANIES; i++)
        draw_company(g, &r, &g->companies[i], set);
    free(set);
    return true;
}

lp_leadgen *lp_leadgen_new(const lp_leadgen_opts *o)
{
    if (!(o->dup_rate >= 0 && o->invalid_rate >= 0 && o->dup_rate + o->invalid_rate <= 1.0))
        return NULL;
    lp_leadgen *g = calloc(1, sizeof(*g));
    if (!g)
        return NULL;
    g->opts = *o;
    lp_arena_init(&g->mem, 256 * 1024);
    /* invalid leads are drawn among non-duplicates, so scale their share */
    double inv = o->dup_rate < 1.0 ? o->invalid_rate / (1.0 - o->dup_rate) : 0.0;
    g->dup_thr = (uint32_t)(o->dup_rate * 4294967295.0);
    g->invalid_thr = (uint32_t)(inv * 4294967295.0);
    g->clock_ms = o->base_ms;
    uint64_t k = o->seed ^ 0x1EAD1D5ull;
    g->id_key = splitmix64(&k);
    rng_seed(&g->main, o->seed);
    if (!setup_countries(g) || !setup_people(g) || !setup_misc(g) || !setup_companies(g)) {
        lp_leadgen_free(g);
        return NULL;
    }
    return g;
}

void lp_leadgen_free(lp_leadgen *g)
{
    if (!g)
        return;
    lp_arena_free(&g->mem);
    free(g);
}

const lp_leadgen_info *lp_leadgen_last(const lp_leadgen *g)
{
    return &g->last;
}

/* --------------------------------------------------------------- persons */

/* Seniority, weighted towards founders and executives in small companies. */
static uint32_t draw_level(lp_leadgen *g, lg_rng *r, int64_t employees)
{
    if (employees > 0 && employees <= 10 && chance(r, 30))
        return chance(r, 60) ? LP_GL_FOUNDER : LP_GL_C_SUITE;
    if (employees > 0 && employees <= 50 && chance(r, 8))
        return chance(r, 40) ? LP_GL_FOUNDER : LP_GL_C_SUITE;
    return wtab_pick(&g->w_level, r);
}

static void draw_role(lp_leadgen *g, lg_rng *r, lg_person *p)
{
    uint32_t lv = draw_level(g, r, p->co->employees);
    uint32_t d = wtab_pick(&g->w_dept, r);
    while (g->titles[d][lv].n == 0) /* founders sit in the C-Suite only */
        d = wtab_pick(&g->w_dept, r);
    const lg_titles *t = &g->titles[d][lv];
    p->seniority = lp_gendata_seniority_names[lv];
    p->department = str_of(lp_gendata_departments[d].name);
    p->title = t->v[below(r, t->n)];
}

/* Regenerates the person behind a person seed. */
static void draw_person(lp_leadgen *g, uint64_t seed, lg_person *p)
{
    lg_rng *r = &g->person;
    rng_seed(r, seed);
    p->co = &g->companies[below(r, LG_COMPANIES)];
    const lg_country *ctry = &g->countries[p->co->ctry];
    const lp_gendata_mix *mix = &ctry->def->cultures[wtab_pick(&ctry->cultures, r)];
    const lg_names *fn = &g->fnames[mix->culture], *ln = &g->lnames[mix->culture];
    uint32_t fi = below(r, fn->n), li = below(r, ln->n);
    bool native = chance(r, mix->native_pct) && fn->tab[fi].native && ln->tab[li].native;
    p->first = str_of(native ? fn->tab[fi].native : fn->tab[fi].latin);
    p->last = str_of(native ? ln->tab[li].native : ln->tab[li].latin);
    p->fslug = fn->slug[fi];
    p->lslug = ln->slug[li];
    draw_role(g, r, p);
    int64_t e = p->co->employees;
    uint32_t free_pct = e == 0      ? 15
                        : e <= 10   ? 35
                        : e <= 50   ? 20
                        : e <= 200  ? 12
                        : e <= 1000 ? 6
                                    : 3;
    p->free_mail = chance(r, free_pct);
}

/* Copies s to q and returns the end of the copy. */
static char *put(char *q, lp_str s)
{
    memcpy(q, s.ptr, s.len);
    return q + s.len;
}

/* Writes the local part of an address in one of the usual patterns:
 * first.last, flast, first, firstl, first_last, f.last, lastf, last.first,
 * first-last. */
static size_t put_local(lg_rng *r, char *q, const lg_person *p)
{
    static const uint8_t weights[] = {45, 15, 12, 5, 5, 8, 3, 2, 5};
    lp_str f = p->fslug, l = p->lslug, fi = {f.ptr, 1}, li = {l.ptr, 1};
    char *start = q;
    uint32_t x = below(r, 100), k = 0;
    while (x >= weights[k])
        x -= weights[k++];
    switch (k) {
    case 0:
        q = put(put(put(q, f), LP_STR_LIT(".")), l);
        break;
    case 1:
        q = put(put(q, fi), l);
        break;
    case 2:
        q = put(q, f);
        break;
    case 3:
        q = put(put(q, f), li);
        break;
    case 4:
        q = put(put(put(q, f), LP_STR_LIT("_")), l);
        break;
    case 5:
        q = put(put(put(q, fi), LP_STR_LIT(".")), l);
        break;
    case 6:
        q = put(put(q, l), fi);
        break;
    case 7:
        q = put(put(put(q, l), LP_STR_LIT(".")), f);
        break;
    default:
        q = put(put(put(q, f), LP_STR_LIT("-")), l);
        break;
    }
    return (size_t)(q - start);
}

static lp_str free_mail_domain(lp_leadgen *g, lg_rng *r, const lg_country *ctry)
{
    if (ctry->nmail && chance(r, 35))
        return str_of(ctry->def->mail[below(r, ctry->nmail)]);
    return str_of(lp_gendata_free_mail[wtab_pick(&g->w_freemail, r)]);
}

/* The person's address, lower case: corporate or at a free-mail provider. */
static lp_str make_email(lp_leadgen *g, const lg_person *p, lp_arena *a)
{
    lg_rng *r = &g->person;
    lp_str dom = p->free_mail ? free_mail_domain(g, r, &g->countries[p->co->ctry]) : p->co->domain;
    char *buf = lp_arena_alloc(a, (size_t)p->fslug.len + p->lslug.len + dom.len + 8);
    if (!buf)
        return EMPTY;
    size_t n = put_local(r, buf, p);
    if (p->free_mail) {
        /* free-mail names are taken: people add a year or a number */
        uint32_t v = chance(r, 40) ? 1960 + below(r, 45) : 100 + below(r, 9900);
        for (uint32_t d = v >= 1000 ? 1000 : 100; d; d /= 10)
            buf[n++] = (char)('0' + v / d % 10);
    }
    buf[n++] = '@';
    memcpy(buf + n, dom.ptr, dom.len);
    return (lp_str){buf, (uint32_t)(n + dom.len)};
}

/* Fills a phone template: N any digit, X a digit 2-9, anything else as is. */
static lp_str make_phone(lg_rng *r, const lg_country *ctry, lp_arena *a)
{
    const char *tpl = ctry->def->phones[below(r, ctry->nphones)];
    size_t n = strlen(tpl);
    char *p = lp_arena_alloc(a, n);
    if (!p)
        return EMPTY;
    for (size_t i = 0; i < n; i++) {
        char c = tpl[i];
        p[i] = c == 'N' ? (char)('0' + below(r, 10)) : c == 'X' ? (char)('2' + below(r, 8)) : c;
    }
    return (lp_str){p, (uint32_t)n};
}

static lp_str make_linkedin(lg_rng *r, const lg_person *p, lp_arena *a)
{
    static const char prefix[] = "https://www.linkedin.com/in/";
    static const char hex[] = "0123456789abcdef";
    size_t n = sizeof(prefix) - 1;
    char *s = lp_arena_alloc(a, n + p->fslug.len + p->lslug.len + 12);
    if (!s)
        return EMPTY;
    memcpy(s, prefix, n);
    memcpy(s + n, p->fslug.ptr, p->fslug.len), n += p->fslug.len;
    s[n++] = '-';
    memcpy(s + n, p->lslug.ptr, p->lslug.len), n += p->lslug.len;
    if (chance(r, 65)) {
        s[n++] = '-';
        uint64_t x = rng_next(r);
        for (int i = 0; i < 8; i++, x >>= 4)
            s[n++] = hex[x & 15];
    }
    return (lp_str){s, (uint32_t)n};
}

/* Sets the person's fields on l: names, role, company, email, phone, URL. */
static void put_person(lp_leadgen *g, const lg_person *p, lp_lead *l, lp_arena *a)
{
    const lg_company *c = p->co;
    lg_rng *r = &g->person;
    lp_lead_set_str(l, LP_F_FIRST_NAME, p->first.ptr, p->first.len);
    lp_lead_set_str(l, LP_F_LAST_NAME, p->last.ptr, p->last.len);
    lp_lead_set_str(l, LP_F_TITLE, p->title.ptr, p->title.len);
    lp_lead_set_str(l, LP_F_SENIORITY, p->seniority, strlen(p->seniority));
    lp_lead_set_str(l, LP_F_DEPARTMENT, p->department.ptr, p->department.len);
    lp_lead_set_str(l, LP_F_COMPANY, c->name.ptr, c->name.len);
    lp_lead_set_str(l, LP_F_DOMAIN, c->domain.ptr, c->domain.len);
    lp_lead_set_str(l, LP_F_INDUSTRY, c->industry.ptr, c->industry.len);
    lp_lead_set_str(l, LP_F_COUNTRY, c->country.ptr, c->country.len);
    lp_lead_set_str(l, LP_F_REGION, c->region.ptr, c->region.len);
    lp_lead_set_str(l, LP_F_CITY, c->city.ptr, c->city.len);
    if (chance(r, 92))
        lp_lead_set_str(l, LP_F_WEBSITE, c->website.ptr, c->website.len);
    if (c->employees)
        lp_lead_set_long(l, LP_F_EMPLOYEES, c->employees);
    if (c->revenue)
        lp_lead_set_double(l, LP_F_REVENUE, (double)c->revenue);
    if (c->ntech) {
        l->v[LP_F_TECHNOLOGIES].list = c->tech;
        l->v[LP_F_TECHNOLOGIES].len = c->ntech;
        l->present |= 1ull << LP_F_TECHNOLOGIES;
    }
    lp_str e = make_email(g, p, a);
    if (e.len)
        lp_lead_set_str(l, LP_F_EMAIL, e.ptr, e.len);
    lp_str ph = chance(r, 75) ? make_phone(r, &g->countries[c->ctry], a) : EMPTY;
    if (ph.len)
        lp_lead_set_str(l, LP_F_PHONE, ph.ptr, ph.len);
    lp_str li = chance(r, 70) ? make_linkedin(r, p, a) : EMPTY;
    if (li.len)
        lp_lead_set_str(l, LP_F_LINKEDIN_URL, li.ptr, li.len);
}

/* ---------------------------------------------------------- lead fields */

/* "ld_" and 16 hex digits of a bijective mix of the index: unique per seed. */
static lp_str make_lead_id(lp_leadgen *g, lp_arena *a)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t k = g->id_key + g->index * 0x9E3779B97F4A7C15ull;
    uint64_t x = splitmix64(&k);
    char *s = lp_arena_alloc(a, 19);
    if (!s)
        return EMPTY;
    memcpy(s, "ld_", 3);
    for (int i = 18; i >= 3; i--, x >>= 4)
        s[i] = hex[x & 15];
    return (lp_str){s, 19};
}

/* A count from a bucket table {weight, lo, hi}, weights summing to 100. */
static int64_t draw_count(lg_rng *r, const uint16_t (*b)[3])
{
    uint32_t x = below(r, 100);
    for (;; b++) {
        if (x < (*b)[0])
            return skewed(r, (*b)[1], (*b)[2]);
        x -= (*b)[0];
    }
}

/* Page views, email opens and clicks, form fills, and the last activity. */
static void put_engagement(lg_rng *r, lp_lead *l, int64_t now_ms)
{
    static const uint16_t views[][3] = {
        {25, 0, 0}, {35, 1, 3}, {25, 4, 10}, {12, 11, 30}, {3, 31, 200}};
    static const uint16_t opens[][3] = {{30, 0, 0}, {35, 1, 3}, {25, 4, 12}, {10, 13, 60}};
    static const uint16_t fills[][3] = {{45, 0, 0}, {38, 1, 1}, {12, 2, 3}, {5, 4, 8}};
    if (chance(r, 5))
        return; /* a purchased list: no engagement data at all */
    int64_t pv = draw_count(r, views), eo = draw_count(r, opens);
    int64_t ec = below(r, below(r, (uint32_t)eo + 1) + 1);
    int64_t ff = draw_count(r, fills);
    lp_lead_set_long(l, LP_F_PAGE_VIEWS, pv);
    lp_lead_set_long(l, LP_F_EMAIL_OPENS, eo);
    lp_lead_set_long(l, LP_F_EMAIL_CLICKS, ec);
    lp_lead_set_long(l, LP_F_FORM_FILLS, ff);
    if (pv + eo + ff > 0) {
        int64_t days = skewed(r, 0, 180);
        lp_lead_set_long(l, LP_F_LAST_ACTIVITY, now_ms - days * LG_DAY_MS - below(r, LG_DAY_MS));
    }
}

static void put_opt_str(lp_lead *l, lp_field_id f, const char *s)
{
    if (s)
        lp_lead_set_str(l, f, s, strlen(s));
}

/* Source, campaign and UTM fields, from one campaign so that they agree. */
static void put_campaign(lp_leadgen *g, lp_lead *l)
{
    lg_rng *r = &g->main;
    if (chance(r, 10)) {
        lp_lead_set_str(l, LP_F_SOURCE, "web-form", 8);
        return;
    }
    const lp_gendata_campaign *c = &lp_gendata_campaigns[wtab_pick(&g->w_campaign, r)];
    put_opt_str(l, LP_F_SOURCE, c->source);
    put_opt_str(l, LP_F_CAMPAIGN, c->name);
    put_opt_str(l, LP_F_UTM_SOURCE, c->utm_source);
    put_opt_str(l, LP_F_UTM_MEDIUM, c->utm_medium);
    put_opt_str(l, LP_F_UTM_CAMPAIGN, c->utm_campaign);
}

/* Consent flags and the two custom attributes. */
static void put_flags(lp_leadgen *g, lp_lead *l, lp_arena *a)
{
    lg_rng *r = &g->main;
    if (chance(r, 90))
        lp_lead_set_long(l, LP_F_CONSENT, chance(r, 72));
    if (chance(r, 85))
        lp_lead_set_long(l, LP_F_OPTED_OUT, chance(r, 3));
    bool prod = chance(r, 55), trial = chance(r, 40);
    uint32_t np = below(r, (uint32_t)lp_gendata_count(lp_gendata_products));
    uint32_t nt = below(r, (uint32_t)lp_gendata_count(lp_gendata_trial_states));
    if (!prod && !trial)
        return;
    lp_kv *kv = lp_arena_alloc(a, 2 * sizeof(lp_kv));
    if (!kv)
        return;
    l->custom = kv;
    if (prod)
        kv[l->ncustom++] =
            (lp_kv){LP_STR_LIT(LP_LEADGEN_CUSTOM_PRODUCT), str_of(lp_gendata_products[np])};
    if (trial)
        kv[l->ncustom++] =
            (lp_kv){LP_STR_LIT(LP_LEADGEN_CUSTOM_TRIAL), str_of(lp_gendata_trial_states[nt])};
}

/* ------------------------------------------------- duplicates and defects */

/* Rewrites a duplicate's address the way people retype it: upper case,
 * capitalised parts, or with a space before or after. */
static void mutate_email(lg_rng *r, lp_lead *l, lp_arena *a)
{
    lp_str e = lp_lead_str(l, LP_F_EMAIL);
    uint32_t kind = below(r, 5);
    bool pad_front = kind == 2 || kind == 4, pad_back = kind == 3 || kind == 4;
    bool all_up = kind == 0 || kind == 4, cap = kind == 1 || kind == 3;
    char *s = lp_arena_alloc(a, (size_t)e.len + 2);
    if (!s || !e.len)
        return;
    size_t n = 0;
    if (pad_front)
        s[n++] = ' ';
    for (uint32_t i = 0; i < e.len; i++) {
        char c = e.ptr[i];
        bool starts = i == 0 || e.ptr[i - 1] == '.' || e.ptr[i - 1] == '@';
        bool up = all_up || (cap && starts);
        s[n++] = up && c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
    }
    if (pad_back)
        s[n++] = ' ';
    lp_lead_set_str(l, LP_F_EMAIL, s, n);
}

static const char *const bad_phones[] = {
    "n/a", "123", "+1 (555) CALL-NOW", "555-01", "0000000000000000000", "tbd"};
static const char *const bad_urls[] = {
    "https://",     "not a url", "linkedin", "www.linkedin", "http:// www.linkedin.com/in/x",
    "htp//linkedin"};

/* Breaks the address: doubled @, no @, no domain, no TLD, a space, "..". */
static void break_email(lg_rng *r, lp_lead *l, lp_arena *a)
{
    lp_str e = lp_lead_str(l, LP_F_EMAIL);
    const char *at = memchr(e.ptr, '@', e.len);
    if (!at)
        return;
    size_t lo = (size_t)(at - e.ptr);
    const char *dot = memchr(at, '.', e.len - lo);
    size_t tld_at = dot ? (size_t)(dot - e.ptr) : e.len;
    char *s = lp_arena_alloc(a, (size_t)e.len + 8);
    if (!s)
        return;
    uint32_t kind = below(r, 6);
    size_t n = 0;
    switch (kind) {
    case 0: /* jane.doe@@acme.com */
    case 5:
        memcpy(s, e.ptr, lo), n = lo, memcpy(s + n, "@@", 2), n += 2;
        memcpy(s + n, at + 1, e.len - lo - 1), n += e.len - lo - 1;
        break;
    case 1: /* jane.doe.acme.com */
        memcpy(s, e.ptr, e.len), n = e.len, s[lo] = '.';
        break;
    case 2: /* jane.doe@ */
        memcpy(s, e.ptr, lo + 1), n = lo + 1;
        break;
    case 3: /* jane.doe@acme */
        memcpy(s, e.ptr, tld_at), n = tld_at;
        break;
    default: /* jane doe@acme.com */
        memcpy(s, "jane doe", 8), n = 8, memcpy(s + n, at, e.len - lo), n += e.len - lo;
        break;
    }
    lp_lead_set_str(l, LP_F_EMAIL, s, n);
}

/* Applies one defect; returns which. */
static lp_leadgen_defect put_defect(lg_rng *r, lp_lead *l, lp_arena *a)
{
    uint32_t x = below(r, 100);
    if (x < 40 && lp_lead_has(l, LP_F_EMAIL)) {
        break_email(r, l, a);
        return LP_LEADGEN_EMAIL_MALFORMED;
    }
    if (x < 65) {
        lp_lead_unset(l, LP_F_EMAIL);
        return LP_LEADGEN_EMAIL_MISSING;
    }
    if (x < 85) {
        const char *p = bad_phones[below(r, 6)];
        lp_lead_set_str(l, LP_F_PHONE, p, strlen(p));
        return LP_LEADGEN_PHONE_BAD;
    }
    const char *u = bad_urls[below(r, 6)];
    lp_lead_set_str(l, chance(r, 70) ? LP_F_LINKEDIN_URL : LP_F_WEBSITE, u, strlen(u));
    return LP_LEADGEN_URL_BAD;
}

static lp_err_t defect_code(lp_leadgen_defect d)
{
    switch (d) {
    case LP_LEADGEN_VALID:
        return LP_OK;
    case LP_LEADGEN_EMAIL_MALFORMED:
        return LP_E_EMAIL_INVALID;
    case LP_LEADGEN_EMAIL_MISSING:
        return LP_E_EMAIL_MISSING;
    case LP_LEADGEN_PHONE_BAD:
        return LP_E_PHONE_INVALID;
    case LP_LEADGEN_URL_BAD:
        return LP_E_URL_INVALID;
    }
    return LP_E_INTERNAL;
}

/* Chooses the person: a new one, or (at dup_rate) one from the ring. */
static uint64_t choose_person(lp_leadgen *g, lp_leadgen_info *info)
{
    uint32_t x = (uint32_t)(rng_next(&g->main) >> 32);
    uint64_t fresh = rng_next(&g->main);
    if (g->ring_len >= 8 && x < g->dup_thr) {
        uint32_t k = below(&g->main, g->ring_len);
        info->duplicate = true;
        info->dup_of = g->ring_index[k];
        return g->ring_seed[k];
    }
    return fresh;
}

static void remember_person(lp_leadgen *g, uint64_t seed)
{
    uint32_t k = g->ring_len < LG_RING ? g->ring_len++ : (uint32_t)(g->index % LG_RING);
    g->ring_seed[k] = seed;
    g->ring_index[k] = g->index;
}

void lp_leadgen_next(lp_leadgen *g, lp_lead *l, lp_arena *a)
{
    lp_leadgen_info *info = &g->last;
    lg_person p;
    memset(info, 0, sizeof(*info));
    info->index = g->index;
    lp_lead_clear(l);
    g->clock_ms += 1000 + below(&g->main, 7001);

    uint64_t seed = choose_person(g, info);
    bool defective = !info->duplicate && (uint32_t)(rng_next(&g->main) >> 32) < g->invalid_thr;
    draw_person(g, seed, &p);
    put_person(g, &p, l, a);
    info->free_mail = p.free_mail;

    lp_str id = make_lead_id(g, a);
    if (id.len)
        lp_lead_set_str(l, LP_F_LEAD_ID, id.ptr, id.len);
    lp_lead_set_long(l, LP_F_RECEIVED_AT, g->clock_ms);
    put_campaign(g, l);
    put_engagement(&g->main, l, g->clock_ms);
    put_flags(g, l, a);

    if (info->duplicate)
        mutate_email(&g->main, l, a);
    else if (defective)
        info->defect = put_defect(&g->main, l, a);
    else
        remember_person(g, seed);
    info->expect = defect_code(info->defect);
    g->index++;
}
